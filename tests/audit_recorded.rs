//! The audit against recorded API answers in Zscaler's shapes, served by a plain loopback file
//! server that only maps a request's path and query to a recorded file (and signs in as the
//! real APIs do). Nothing from the lab: this proves the audit finds and judges the SIPA chain
//! on answers it has never been tuned to, paged, with predefined gateways and rules, ids
//! beyond 2^53, numbers as strings; and the OneAPI private-key path, the fake token endpoint
//! verifying the client assertion's RS256 signature.

use std::collections::{BTreeMap, HashSet};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject as _;
use serde_json::{Value, json};

mod common;
use common::cli::sipa_without_zscaler_credentials;
use sipa_check::audit::client::ApiSettings;
use sipa_check::audit::credentials::{AuditCredentials, BaseUrls, ONEAPI_AUDIENCE};
use sipa_check::audit::documents::Endpoint;
use sipa_check::audit::judge::Requirements;
use sipa_check::audit::{Source, read, report};
use sipa_check::outcome::Status;

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/audit/recorded-api"
);
const ZPA_ID: &str = "rec-zpa-client";
const ZPA_SECRET: &str = "rec-zpa-secret-7f3a9c21e5";
const ZIA_USER: &str = "audit@rec.example";
const ZIA_PASSWORD: &str = "rec-zia-password-41bd0e";
const ZIA_KEY: &str = "AbCdEfGhIjKl0123";
const ONE_ID: &str = "rec-oneapi-client";

/// One route of `routes.json`.
#[derive(Debug, Clone)]
struct Route {
    path: String,
    query: BTreeMap<String, String>,
    file: String,
}

/// A request the server saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    status: u16,
}

#[derive(Default)]
struct State {
    routes: Vec<Route>,
    customer: String,
    tokens: HashSet<String>,
    cookies: HashSet<String>,
    seen: Vec<Seen>,
    /// Client assertions whose signature and claims verified.
    assertions_verified: usize,
    /// Everything handed out or received that is secret, to look for in outputs.
    secrets: Vec<String>,
}

type Shared = Arc<Mutex<State>>;

/// The public key (PKCS#1 DER) the token endpoint trusts.
fn public_key() -> Vec<u8> {
    std::fs::read(Path::new(DIR).join("oneapi-test-key.pub.der")).unwrap()
}

fn private_key_pem() -> String {
    std::fs::read_to_string(Path::new(DIR).join("oneapi-test-key.pem")).unwrap()
}

/// Verifies an RS256 client assertion as a token endpoint does: signature by the registered
/// key, `iss` = `sub` = the client id, `aud` the OneAPI audience, not expired.
fn verify_assertion(jwt: &str, key: &[u8], client_id: &str) -> Result<(), String> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, s] = parts.as_slice() else {
        return Err("not three parts".into());
    };
    let header: Value = serde_json::from_slice(&b64.decode(h).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    if header["alg"] != "RS256" {
        return Err(format!("alg {}", header["alg"]));
    }
    let sig = b64.decode(s).map_err(|e| e.to_string())?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, key)
        .verify(format!("{h}.{c}").as_bytes(), &sig)
        .map_err(|_| "bad signature".to_string())?;
    let claims: Value = serde_json::from_slice(&b64.decode(c).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if claims["iss"] != client_id || claims["sub"] != client_id {
        return Err("iss/sub".into());
    }
    if claims["aud"] != ONEAPI_AUDIENCE {
        return Err("aud".into());
    }
    if claims["exp"].as_u64().is_none_or(|e| e <= now) {
        return Err("exp".into());
    }
    Ok(())
}

/// The legacy ZIA obfuscation, written here from Zscaler's SDK, independently of the crate's.
fn obfuscate(key: &str, ts: &str) -> String {
    let k: Vec<char> = key.chars().collect();
    let high = &ts[ts.len() - 6..];
    let low = format!("{:06}", high.parse::<u32>().unwrap() >> 1);
    let mut out = String::new();
    for c in high.chars() {
        out.push(k[c.to_digit(10).unwrap() as usize]);
    }
    for c in low.chars() {
        out.push(k[c.to_digit(10).unwrap() as usize + 2]);
    }
    out
}

fn answer(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

fn json_answer(status: StatusCode, v: Value) -> Response<Full<Bytes>> {
    answer(status, v.to_string().into_bytes())
}

async fn handle(state: Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let headers = req.headers().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let resp = route(&state, &method, &path, &query, &headers, &body);
    state.lock().unwrap().seen.push(Seen {
        method: method.to_string(),
        path,
        query,
        status: resp.status().as_u16(),
    });
    resp
}

fn route(
    state: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &hyper::HeaderMap,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let mut st = state.lock().unwrap();
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let fresh = || uuid::Uuid::new_v4().simple().to_string();
    match (method, path) {
        (&Method::POST, "/signin") => {
            if form.get("client_id").map(String::as_str) == Some(ZPA_ID)
                && form.get("client_secret").map(String::as_str) == Some(ZPA_SECRET)
            {
                let t = fresh();
                st.tokens.insert(t.clone());
                st.secrets.push(t.clone());
                // Legacy ZPA: expires_in as a string.
                json_answer(
                    StatusCode::OK,
                    json!({"token_type": "Bearer", "access_token": t, "expires_in": "3600"}),
                )
            } else {
                json_answer(StatusCode::UNAUTHORIZED, json!({"id": "authn.failed"}))
            }
        }
        (&Method::POST, "/api/v1/authenticatedSession") => {
            let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let ts = v["timestamp"].as_str().unwrap_or("0").to_string();
            let ok = v["username"] == ZIA_USER
                && v["password"] == ZIA_PASSWORD
                && ts.len() >= 6
                && v["apiKey"] == obfuscate(ZIA_KEY, &ts);
            if !ok {
                return json_answer(
                    StatusCode::UNAUTHORIZED,
                    json!({"code": "AUTHENTICATION_FAILED"}),
                );
            }
            let c = fresh();
            st.cookies.insert(c.clone());
            st.secrets.push(c.clone());
            let mut r = json_answer(
                StatusCode::OK,
                json!({"authType": "ADMIN_LOGIN", "obfuscateApiKey": false, "passwordExpiryTime": 0, "passwordExpiryDays": 0}),
            );
            r.headers_mut().insert(
                header::SET_COOKIE,
                header::HeaderValue::from_str(&format!("JSESSIONID={c}; Path=/; Secure; HttpOnly"))
                    .unwrap(),
            );
            r
        }
        // Logout, as the SDKs end a legacy ZIA session: the cookie's session is gone.
        (&Method::DELETE, "/api/v1/authenticatedSession") => {
            let cookie = headers
                .get(header::COOKIE)
                .and_then(|v| v.to_str().ok())
                .and_then(|c| {
                    c.split(';')
                        .find_map(|kv| kv.trim().strip_prefix("JSESSIONID="))
                })
                .map(str::to_string);
            if cookie.is_some_and(|c| st.cookies.remove(&c)) {
                json_answer(StatusCode::OK, json!({}))
            } else {
                json_answer(
                    StatusCode::UNAUTHORIZED,
                    json!({"code": "NOT_AUTHENTICATED"}),
                )
            }
        }
        (&Method::POST, "/oauth2/v1/token") => {
            let assertion = form.get("client_assertion").cloned().unwrap_or_default();
            let ok = form.get("grant_type").map(String::as_str) == Some("client_credentials")
                && form.get("client_id").map(String::as_str) == Some(ONE_ID)
                && form.get("audience").map(String::as_str) == Some(ONEAPI_AUDIENCE)
                && form.get("client_assertion_type").map(String::as_str)
                    == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                && !form.contains_key("client_secret")
                && verify_assertion(&assertion, &public_key(), ONE_ID).is_ok();
            if !ok {
                return json_answer(StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}));
            }
            st.assertions_verified += 1;
            st.secrets.push(assertion);
            let t = fresh();
            st.tokens.insert(t.clone());
            st.secrets.push(t.clone());
            // OneAPI: expires_in as a number.
            json_answer(
                StatusCode::OK,
                json!({"access_token": t, "token_type": "Bearer", "expires_in": 83999}),
            )
        }
        (&Method::GET, _) => {
            // OneAPI paths are the legacy ones behind /zpa or /zia.
            let legacy_zia = path.starts_with("/api/v1/");
            let plain = path
                .strip_prefix("/zpa")
                .filter(|p| p.starts_with("/mgmtconfig/"))
                .or_else(|| {
                    path.strip_prefix("/zia")
                        .filter(|p| p.starts_with("/api/v1/"))
                })
                .unwrap_or(path);
            let authorized = if legacy_zia {
                headers
                    .get_all(header::COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(';'))
                    .filter_map(|kv| kv.trim().strip_prefix("JSESSIONID="))
                    .any(|c| st.cookies.contains(c))
            } else {
                headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .is_some_and(|t| st.tokens.contains(t))
            };
            if !authorized {
                return json_answer(StatusCode::UNAUTHORIZED, json!({"id": "authn.required"}));
            }
            let q: BTreeMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            let customer = st.customer.clone();
            let hit = st
                .routes
                .iter()
                .find(|r| r.path.replace("{cid}", &customer) == plain && r.query == q);
            match hit {
                Some(r) => answer(
                    StatusCode::OK,
                    std::fs::read(Path::new(DIR).join(&r.file)).unwrap(),
                ),
                None => json_answer(StatusCode::NOT_FOUND, json!({"id": "resource.not.found"})),
            }
        }
        _ => json_answer(StatusCode::METHOD_NOT_ALLOWED, json!({"id": "not.allowed"})),
    }
}

/// The file server on 127.0.0.1, with the routes `keep` lets through.
struct RecordedServer {
    state: Shared,
    base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RecordedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RecordedServer {
    async fn start(keep: impl Fn(&Route) -> bool) -> RecordedServer {
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(Path::new(DIR).join("routes.json")).unwrap())
                .unwrap();
        let customer = manifest["customer_id"].as_str().unwrap().to_string();
        let routes: Vec<Route> = manifest["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| Route {
                path: r["path"].as_str().unwrap().replace(&customer, "{cid}"),
                query: r["query"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect(),
                file: r["file"].as_str().unwrap().to_string(),
            })
            .filter(|r| keep(r))
            .collect();
        let state: Shared = Arc::new(Mutex::new(State {
            routes,
            customer,
            ..State::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let st = st.clone();
                        async move { Ok::<_, Infallible>(handle(st, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        RecordedServer { state, base, task }
    }

    fn url(&self, path: &str) -> url::Url {
        url::Url::parse(&format!("{}{path}", self.base)).unwrap()
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    fn customer(&self) -> String {
        self.state.lock().unwrap().customer.clone()
    }

    /// ZIA sessions signed in and not ended.
    fn open_cookies(&self) -> usize {
        self.state.lock().unwrap().cookies.len()
    }
}

fn legacy_env(customer: &str) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<&str, String> = [
        ("ZPA_CLIENT_ID", ZPA_ID.to_string()),
        ("ZPA_CLIENT_SECRET", ZPA_SECRET.to_string()),
        ("ZPA_CUSTOMER_ID", customer.to_string()),
        ("ZIA_USERNAME", ZIA_USER.to_string()),
        ("ZIA_PASSWORD", ZIA_PASSWORD.to_string()),
        ("ZIA_API_KEY", ZIA_KEY.to_string()),
    ]
    .into_iter()
    .collect();
    move |k| map.get(k).cloned()
}

fn small_pages() -> ApiSettings {
    ApiSettings {
        zpa_page_size: 2,
        zia_page_size: 2,
        timeout: Duration::from_secs(60),
        ..ApiSettings::default()
    }
}

async fn legacy_source(server: &RecordedServer, settings: ApiSettings) -> Source {
    let urls = BaseUrls {
        zpa: Some(server.url("/")),
        zia: Some(server.url("/api/v1")),
        oneapi: None,
        oneapi_token: None,
    };
    let credentials = AuditCredentials::from_env(legacy_env(&server.customer()), &urls).unwrap();
    Source::Api {
        credentials: Box::new(credentials),
        settings,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_answers_over_legacy_sign_in_find_and_judge_the_sipa_chain() {
    let server = RecordedServer::start(|_| true).await;
    let source = legacy_source(&server, small_pages()).await;
    let reading = read(&source).await.unwrap();
    let req = Requirements::default();
    let audit = report(
        &reading,
        &req,
        "2026-11-30T00:00:00Z".into(),
        Instant::now(),
    );

    // Every request was answered from a recording: nothing asked that Zscaler does not serve.
    let seen = server.seen();
    let misses: Vec<&Seen> = seen.iter().filter(|s| s.status != 200).collect();
    assert!(misses.is_empty(), "{misses:#?}");
    // Read-only: the two sign-ins and the ZIA sign-out at the end are the only requests
    // besides GET, and no ZIA session is left open.
    let others: Vec<(&str, &str)> = seen
        .iter()
        .filter(|s| s.method != "GET")
        .map(|s| (s.method.as_str(), s.path.as_str()))
        .collect();
    assert_eq!(
        others,
        [
            ("POST", "/signin"),
            ("POST", "/api/v1/authenticatedSession"),
            ("DELETE", "/api/v1/authenticatedSession")
        ]
    );
    assert_eq!(server.open_cookies(), 0);
    // ZPA paged with lower-case `pagesize` over both pages; ZIA with `pageSize`.
    assert!(
        seen.iter()
            .any(|s| s.path.ends_with("/application") && s.query == "page=2&pagesize=2")
    );
    assert!(
        seen.iter()
            .any(|s| s.path.ends_with("/connector") && s.query == "page=2&pagesize=2")
    );
    assert!(
        seen.iter()
            .any(|s| s.path == "/api/v1/zpaGateways" && s.query == "page=2&pageSize=2")
    );
    // forwardingRules ignores paging: page 2 repeats page 1, which ends the loop (no page 3,
    // no rule twice).
    let fr: Vec<&str> = seen
        .iter()
        .filter(|s| s.path == "/api/v1/forwardingRules")
        .map(|s| s.query.as_str())
        .collect();
    assert_eq!(fr, ["page=1&pageSize=2", "page=2&pageSize=2"]);
    assert_eq!(
        reading
            .documents
            .pages(Endpoint::ZiaForwardingRules)
            .unwrap()
            .len(),
        1
    );

    // Every object of every page is in the tenant; ids beyond 2^53 kept exactly.
    let zpa = reading.tenant.zpa.as_ref().unwrap();
    assert_eq!(zpa.segments.len(), 4);
    assert_eq!(zpa.connectors.len(), 3);
    assert!(zpa.segments.iter().any(|s| s.id == "216196257331405101"));
    let zia = reading.tenant.zia.as_ref().unwrap();
    assert_eq!(zia.gateways.len(), 3);
    assert_eq!(zia.gateways.iter().filter(|g| g.predefined).count(), 2);
    assert_eq!(zia.forwarding_rules.len(), 4);
    assert_eq!(
        zia.forwarding_rules.iter().filter(|r| r.predefined).count(),
        3
    );

    // The chain is found and judged right: every check passes.
    let failing: Vec<_> = audit
        .checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .collect();
    assert!(failing.is_empty(), "{failing:#?}");
    assert_eq!(audit.overall, Status::Pass);
    let names: Vec<&str> = audit.checks.iter().map(|c| c.name.as_str()).collect();
    for n in [
        "segment app03: Source IP Anchor",
        "login host login.windows.net: in the anchored segment",
        "segments: no unanchored segment claims a login host",
        "server group Example100: App Connectors connected",
        "segment app03: client forwarding policy",
        "segment app03: access policy",
        "ZIA ZPA gateway ZPAGW02: server group",
        "segment app03: ZIA forwarding rule",
        "ZIA activation",
    ] {
        assert!(names.contains(&n), "no check {n}: {names:#?}");
    }
    // The IP-based shape's DENY (every client type but ZIA Service Edge) sits above the ALLOW
    // and does not catch SIPA traffic: the ALLOW is the first match.
    let access = audit
        .checks
        .iter()
        .find(|c| c.name == "segment app03: access policy")
        .unwrap();
    assert_eq!(access.object.as_ref().unwrap().id, "216196257331404620");
    // The ZIA rule judged is the user's, not a predefined one.
    let rule = audit
        .checks
        .iter()
        .find(|c| c.name == "segment app03: ZIA forwarding rule")
        .unwrap();
    assert_eq!(rule.object.as_ref().unwrap().name, "SIPA O365");
    assert!(rule.found.contains("locations"), "{}", rule.found);
    // The anchors are the SIPA group's connectors, not the other group's.
    let mut ips: Vec<(&str, Option<&str>)> = audit
        .connectors
        .iter()
        .map(|c| (c.name.as_str(), c.public_ip.as_deref()))
        .collect();
    ips.sort();
    assert_eq!(
        ips,
        [
            ("ac-fra-1", Some("127.0.0.2")),
            ("ac-fra-2", Some("127.0.0.5"))
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_page_that_cannot_be_read_is_an_error_never_a_pass() {
    // The second page of connectors is not served: the ZPA side is unreadable, and nothing
    // that needs it passes.
    let server = RecordedServer::start(|r| {
        !(r.path.ends_with("/connector") && r.query.get("page").map(String::as_str) == Some("2"))
    })
    .await;
    let source = legacy_source(&server, small_pages()).await;
    let reading = read(&source).await.unwrap();
    let audit = report(
        &reading,
        &Requirements::default(),
        "2026-11-30T00:00:00Z".into(),
        Instant::now(),
    );
    assert_eq!(audit.overall, Status::Error);
    let err = audit
        .checks
        .iter()
        .find(|c| c.status == Status::Error)
        .unwrap();
    assert_eq!(err.name, "read ZPA App Connectors");
    assert!(err.causes.join(" ").contains("404"), "{:?}", err.causes);
    assert!(
        !audit
            .checks
            .iter()
            .any(|c| c.status == Status::Pass && c.name.starts_with("segment app03")),
        "{:#?}",
        audit.checks
    );
    assert!(audit.connectors.is_empty());
}

#[test]
fn the_token_endpoint_refuses_an_assertion_not_signed_by_the_registered_key() {
    // The verifier is real: a valid assertion made here passes, the same with a changed claim
    // or signed by another key does not.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let sign = |claims: &Value, pem: &str| {
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).unwrap();
        let der = der.secret_pkcs8_der().to_vec();
        let key = ring::signature::RsaKeyPair::from_pkcs8(&der).unwrap();
        let input = format!(
            "{}.{}",
            b64.encode(json!({"alg": "RS256", "typ": "JWT"}).to_string()),
            b64.encode(claims.to_string())
        );
        let mut sig = vec![0; key.public().modulus_len()];
        key.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .unwrap();
        format!("{input}.{}", b64.encode(sig))
    };
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 300;
    let claims = json!({"iss": ONE_ID, "sub": ONE_ID, "aud": ONEAPI_AUDIENCE, "exp": exp});
    let good = sign(&claims, &private_key_pem());
    assert_eq!(verify_assertion(&good, &public_key(), ONE_ID), Ok(()));
    // A claim changed after signing.
    let parts: Vec<&str> = good.split('.').collect();
    let forged_claims =
        json!({"iss": "intruder", "sub": "intruder", "aud": ONEAPI_AUDIENCE, "exp": exp});
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(forged_claims.to_string()),
        parts[2]
    );
    assert!(verify_assertion(&forged, &public_key(), "intruder").is_err());
    // Another key.
    let other = std::fs::read_to_string(Path::new(DIR).join("other-test-key.pem")).unwrap();
    let bad = sign(&claims, &other);
    assert!(verify_assertion(&bad, &public_key(), ONE_ID).is_err());
    // Wrong audience, expired.
    let wrong_aud = sign(
        &json!({"iss": ONE_ID, "sub": ONE_ID, "aud": "https://elsewhere", "exp": exp}),
        &private_key_pem(),
    );
    assert!(verify_assertion(&wrong_aud, &public_key(), ONE_ID).is_err());
    let expired = sign(
        &json!({"iss": ONE_ID, "sub": ONE_ID, "aud": ONEAPI_AUDIENCE, "exp": 1}),
        &private_key_pem(),
    );
    assert!(verify_assertion(&expired, &public_key(), ONE_ID).is_err());
}

fn sipa() -> Command {
    sipa_without_zscaler_credentials()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oneapi_with_a_private_key_from_the_command_line_and_the_key_never_shows() {
    let server = RecordedServer::start(|_| true).await;
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("audit.json");
    let junit = dir.path().join("audit.xml");
    let snap = dir.path().join("snap");
    let pem = private_key_pem();
    let mut cmd = sipa();
    cmd.args(["audit", "--oneapi-url"])
        .arg(server.url("/").as_str())
        .arg("--oneapi-token-url")
        .arg(server.url("/oauth2/v1/token").as_str())
        .args(["--timeout", "60s", "--json"])
        .arg(&json_path)
        .arg("--junit")
        .arg(&junit)
        .arg("--snapshot")
        .arg(&snap)
        .env("ZSCALER_CLIENT_ID", ONE_ID)
        .env("ZSCALER_PRIVATE_KEY", &pem)
        .env("ZPA_CUSTOMER_ID", server.customer());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");

    let (verified, secrets) = {
        let st = server.state.lock().unwrap();
        (st.assertions_verified, st.secrets.clone())
    };
    // One token for both products, got with a verified assertion.
    assert_eq!(verified, 1);
    let seen = server.seen();
    assert!(seen.iter().all(|s| s.status == 200), "{seen:#?}");
    assert!(
        seen.iter()
            .any(|s| s.path.starts_with("/zpa/mgmtconfig/v1/admin/customers/"))
    );
    assert!(
        seen.iter()
            .any(|s| s.path == "/zia/api/v1/zpaGateways" && s.query == "page=1&pageSize=1000")
    );
    assert!(
        seen.iter()
            .any(|s| s.path.ends_with("/application") && s.query == "page=2&pagesize=500")
    );

    let report: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(report["overall"], "pass");

    // The key (any line of its body), the assertion and the tokens appear nowhere.
    let mut outputs = vec![
        ("stdout".to_string(), stdout),
        ("stderr".to_string(), stderr),
        (
            "json".to_string(),
            std::fs::read_to_string(&json_path).unwrap(),
        ),
        (
            "junit".to_string(),
            std::fs::read_to_string(&junit).unwrap(),
        ),
    ];
    for f in files_under(&snap) {
        outputs.push((
            f.display().to_string(),
            std::fs::read_to_string(&f).unwrap(),
        ));
    }
    assert!(outputs.len() > 10, "the snapshot holds every answer");
    let key_lines: Vec<&str> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 20)
        .collect();
    assert!(key_lines.len() > 10);
    for (name, text) in &outputs {
        assert!(!text.contains("PRIVATE KEY"), "{name}");
        for l in &key_lines {
            assert!(!text.contains(l), "a line of the private key in {name}");
        }
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "a token or assertion in {name}");
        }
    }
}
