//! Fake ZPA and ZIA admin APIs on loopback, in the documented shapes, for `sipa-check audit`
//! against the lab: legacy ZPA (`POST /signin`, bearer), legacy ZIA (`POST
//! /api/v1/authenticatedSession` with the obfuscated API key, `JSESSIONID` cookie), OneAPI
//! (`POST /oauth2/v1/token`, one bearer for `/zpa/…` and `/zia/api/v1/…`). ZPA pages with
//! `page`/`pagesize` and string counts, ZIA with `page`/`pageSize` and bare arrays; throttling
//! answers 429 with `Retry-After` in ZPA's `13s` form; `DELETE /api/v1/authenticatedSession` ends
//! a ZIA session. Every request is recorded, so a test can prove the audit never wrote and left
//! no session open.

mod tenant;
mod zia_key;

use std::collections::{BTreeSet, HashSet};
use std::convert::Infallible;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

mod audit_fault;

pub use audit_fault::AuditFault;
pub use tenant::{
    ACCESS_RULE_ID, CONNECTOR_GROUP_ID, CUSTOMER_ID, FORWARDING_RULE_ID, GATEWAY_ID, LabTenant,
    SEGMENT_ID, SEGMENT_NAME, SERVER_GROUP_ID, SERVER_GROUP_NAME, ZIA_RULE_ID,
};

use super::conn::{HANDSHAKE_TIMEOUT, spawn_accept_loop};
use super::{Fault, LabError, ORIGIN_IP, pki};

/// The lab's legacy ZPA client id and secret.
pub const LAB_ZPA_CLIENT_ID: &str = "lab-zpa-client";
pub const LAB_ZPA_CLIENT_SECRET: &str = "lab-zpa-secret-0b7c";
/// The lab's legacy ZIA admin and API key (at least 12 characters, as Zscaler's).
pub const LAB_ZIA_USERNAME: &str = "admin@sipa-lab.test";
pub const LAB_ZIA_PASSWORD: &str = "lab-zia-password-4d1e";
pub const LAB_ZIA_API_KEY: &str = "q1w2e3r4t5y6u7i8o9p0";
/// The lab's OneAPI client.
pub const LAB_ONEAPI_CLIENT_ID: &str = "lab-oneapi-client";
pub const LAB_ONEAPI_CLIENT_SECRET: &str = "lab-oneapi-secret-77a3";
const MAX_BODY: usize = 64 * 1024;

/// How the fake APIs misbehave, beyond the tenant's faults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiBehaviour {
    /// Answer this many GETs with 429 and `Retry-After: 1s` first.
    pub throttle_first: u32,
    /// Forget every session after this many authorized GETs, once (a 401 follows).
    pub expire_sessions_after: Option<u32>,
    /// Answer every GET with this status.
    pub refuse_with: Option<u16>,
    /// Answer every GET with a body that is not JSON.
    pub bad_json: bool,
    /// The largest page the APIs serve.
    pub max_page_size: Option<usize>,
    /// Answer the ZIA sign-out (`DELETE /api/v1/authenticatedSession`) with 500, the session
    /// left open.
    pub refuse_sign_out: bool,
}

/// What the fake APIs saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    pub query: String,
}

struct ApiState {
    tenant: LabTenant,
    behaviour: ApiBehaviour,
    requests: Mutex<Vec<ApiRequest>>,
    sessions: Mutex<HashSet<String>>,
    /// The legacy ZIA sessions (`JSESSIONID`s) ever opened; open while still in `sessions`.
    zia_sessions: Mutex<HashSet<String>>,
    gets: Mutex<u32>,
    expired: Mutex<bool>,
}

/// The running fake admin APIs.
#[derive(Debug)]
pub struct AdminApi {
    addr: SocketAddr,
    ca_dir: PathBuf,
    ca_file: PathBuf,
    state: Arc<ApiStateHandle>,
    task: JoinHandle<()>,
}

struct ApiStateHandle(ApiState);

impl fmt::Debug for ApiStateHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiState")
    }
}

impl AdminApi {
    /// Starts the fake APIs on 127.0.0.1 (an ephemeral port), over TLS with a CA of their own.
    pub async fn start(
        faults: &[Fault],
        audit_faults: &[AuditFault],
        behaviour: ApiBehaviour,
    ) -> Result<AdminApi, LabError> {
        let faults: BTreeSet<Fault> = faults.iter().copied().collect();
        let audit: BTreeSet<AuditFault> = audit_faults.iter().copied().collect();
        let ca = pki::Authority::generate("sipa-check lab admin API CA")?;
        let leaf = ca.issue_server("lab admin API", &["127.0.0.1", "api.sipa-lab.test"])?;
        let tls = pki::server_config("lab admin API", &leaf)?;
        let ca_dir = std::env::temp_dir().join(format!(
            "sipa-check-admin-api-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let ca_file = ca_dir.join("admin-api-ca.pem");
        std::fs::create_dir(&ca_dir)
            .and_then(|()| std::fs::write(&ca_file, ca.pem()))
            .map_err(|source| LabError::CaFile {
                path: ca_file.clone(),
                source,
            })?;
        let listener =
            super::conn::bind("admin API", SocketAddr::new(IpAddr::V4(ORIGIN_IP), 0)).await?;
        let addr = super::conn::local_addr("admin API", &listener)?;
        let state = Arc::new(ApiStateHandle(ApiState {
            tenant: LabTenant::new(&faults, &audit),
            behaviour,
            requests: Mutex::default(),
            sessions: Mutex::default(),
            zia_sessions: Mutex::default(),
            gets: Mutex::new(0),
            expired: Mutex::new(false),
        }));
        let acceptor = TlsAcceptor::from(tls);
        let served = state.clone();
        let task = spawn_accept_loop(listener, std::time::Duration::ZERO, move |stream, _| {
            let state = served.clone();
            let acceptor = acceptor.clone();
            async move {
                let Ok(Ok(stream)) =
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                else {
                    return;
                };
                let service = service_fn(move |request| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(answer(&state.0, request).await) }
                });
                let _ = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HANDSHAKE_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            }
        });
        Ok(AdminApi {
            addr,
            ca_dir,
            ca_file,
            state,
            task,
        })
    }

    fn base(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Legacy ZPA's base URL.
    pub fn zpa_url(&self) -> url::Url {
        url::Url::parse(&self.base()).expect("a loopback URL")
    }

    /// Legacy ZIA's base URL (`…/api/v1`).
    pub fn zia_url(&self) -> url::Url {
        url::Url::parse(&format!("{}/api/v1", self.base())).expect("a loopback URL")
    }

    /// OneAPI's gateway.
    pub fn oneapi_url(&self) -> url::Url {
        self.zpa_url()
    }

    /// OneAPI's token endpoint.
    pub fn oneapi_token_url(&self) -> url::Url {
        url::Url::parse(&format!("{}/oauth2/v1/token", self.base())).expect("a loopback URL")
    }

    /// The CA (PEM file) of the APIs' certificate.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The legacy credentials of the lab tenant, as the environment would hold them.
    pub fn legacy_env() -> Vec<(&'static str, String)> {
        // The variable names as Zscaler's SDKs read them (the lab names them itself).
        vec![
            ("ZPA_CLIENT_ID", LAB_ZPA_CLIENT_ID.into()),
            ("ZPA_CLIENT_SECRET", LAB_ZPA_CLIENT_SECRET.into()),
            ("ZPA_CUSTOMER_ID", CUSTOMER_ID.into()),
            ("ZIA_USERNAME", LAB_ZIA_USERNAME.into()),
            ("ZIA_PASSWORD", LAB_ZIA_PASSWORD.into()),
            ("ZIA_API_KEY", LAB_ZIA_API_KEY.into()),
            ("ZIA_CLOUD", "zscalerlab".into()),
        ]
    }

    /// The OneAPI credentials of the lab tenant.
    pub fn oneapi_env() -> Vec<(&'static str, String)> {
        vec![
            ("ZSCALER_CLIENT_ID", LAB_ONEAPI_CLIENT_ID.into()),
            ("ZSCALER_CLIENT_SECRET", LAB_ONEAPI_CLIENT_SECRET.into()),
            ("ZSCALER_VANITY_DOMAIN", "sipalab".into()),
            ("ZPA_CUSTOMER_ID", CUSTOMER_ID.into()),
        ]
    }

    /// Every request seen so far.
    pub fn requests(&self) -> Vec<ApiRequest> {
        self.state
            .0
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many legacy ZIA sessions are still open: signed in, neither ended (`DELETE
    /// /api/v1/authenticatedSession`) nor expired.
    pub fn open_zia_sessions(&self) -> usize {
        let sessions = self
            .state
            .0
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        self.state
            .0
            .zia_sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|s| sessions.contains(*s))
            .count()
    }

    /// The `audit` flags that reach these APIs (legacy and OneAPI base URLs, the CA).
    pub fn audit_flags(&self) -> Vec<String> {
        vec![
            "--zpa-url".into(),
            self.zpa_url().to_string(),
            "--zia-url".into(),
            self.zia_url().to_string(),
            "--oneapi-url".into(),
            self.oneapi_url().to_string(),
            "--oneapi-token-url".into(),
            self.oneapi_token_url().to_string(),
            "--ca-file".into(),
            self.ca_file.display().to_string(),
        ]
    }
}

impl Drop for AdminApi {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_dir_all(&self.ca_dir);
    }
}

type Answer = Response<Full<Bytes>>;

fn json_answer(status: StatusCode, body: &Value) -> Answer {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn new_session(state: &ApiState) -> String {
    let s = uuid::Uuid::new_v4().simple().to_string();
    state
        .sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(s.clone());
    s
}

async fn body_of(request: Request<Incoming>) -> Option<Bytes> {
    Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
        .ok()
        .map(|b| b.to_bytes())
}

fn form_of(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

async fn answer(state: &ApiState, request: Request<Incoming>) -> Answer {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    state
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(ApiRequest {
            method: request.method().to_string(),
            path: path.clone(),
            query: query.clone(),
        });
    let unauthorized = || {
        json_answer(
            StatusCode::UNAUTHORIZED,
            &json!({"id": "authn.required", "reason": "unauthorized"}),
        )
    };
    match (request.method().clone(), path.as_str()) {
        (Method::POST, "/signin") => {
            let form = form_of(&body_of(request).await.unwrap_or_default());
            if field(&form, "client_id") == Some(LAB_ZPA_CLIENT_ID)
                && field(&form, "client_secret") == Some(LAB_ZPA_CLIENT_SECRET)
            {
                json_answer(
                    StatusCode::OK,
                    &json!({"token_type": "Bearer", "access_token": new_session(state), "expires_in": "3600"}),
                )
            } else {
                unauthorized()
            }
        }
        (Method::POST, "/oauth2/v1/token") => {
            let form = form_of(&body_of(request).await.unwrap_or_default());
            if field(&form, "grant_type") == Some("client_credentials")
                && field(&form, "client_id") == Some(LAB_ONEAPI_CLIENT_ID)
                && field(&form, "client_secret") == Some(LAB_ONEAPI_CLIENT_SECRET)
                // OneAPI's documented audience (vendor-apis.md §1.1).
                && field(&form, "audience") == Some("https://api.zscaler.com")
            {
                json_answer(
                    StatusCode::OK,
                    &json!({"access_token": new_session(state), "token_type": "Bearer", "expires_in": 83999}),
                )
            } else {
                json_answer(
                    StatusCode::UNAUTHORIZED,
                    &json!({"error": "invalid_client"}),
                )
            }
        }
        (Method::POST, "/api/v1/authenticatedSession") => {
            let body: Value = serde_json::from_slice(&body_of(request).await.unwrap_or_default())
                .unwrap_or(Value::Null);
            let key_ok = match (
                body.get("timestamp").and_then(Value::as_str),
                body.get("apiKey").and_then(Value::as_str),
            ) {
                (Some(timestamp), Some(presented)) => {
                    zia_key::accepts(LAB_ZIA_API_KEY, timestamp, presented)
                }
                _ => false,
            };
            if key_ok
                && body.get("username").and_then(Value::as_str) == Some(LAB_ZIA_USERNAME)
                && body.get("password").and_then(Value::as_str) == Some(LAB_ZIA_PASSWORD)
            {
                let session = new_session(state);
                state
                    .zia_sessions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(session.clone());
                let mut r = json_answer(
                    StatusCode::OK,
                    &json!({"authType": "ADMIN_LOGIN", "obfuscateApiKey": true, "passwordExpiryTime": 0, "passwordExpiryDays": 0}),
                );
                if let Ok(v) = HeaderValue::from_str(&format!(
                    "JSESSIONID={session}; Path=/; Secure; HttpOnly"
                )) {
                    r.headers_mut().insert(header::SET_COOKIE, v);
                }
                r
            } else {
                unauthorized()
            }
        }
        // Ends the session of the cookie sent (the SDKs' logout); an unknown one is 401.
        (Method::DELETE, "/api/v1/authenticatedSession") if state.behaviour.refuse_sign_out => {
            json_answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"id": "internal.error"}),
            )
        }
        (Method::DELETE, "/api/v1/authenticatedSession") => {
            let ended = jsessionid(request.headers()).is_some_and(|c| {
                state
                    .sessions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(c)
            });
            if ended {
                json_answer(StatusCode::OK, &json!({"status": "SUCCESS"}))
            } else {
                unauthorized()
            }
        }
        (Method::GET, _) => get(state, &request, &path, &query),
        _ => json_answer(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"id": "method.not.allowed"}),
        ),
    }
}

/// The `JSESSIONID` cookie of a request, if any.
fn jsessionid(headers: &hyper::HeaderMap) -> Option<&str> {
    headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| {
            c.split(';')
                .find_map(|kv| kv.trim().strip_prefix("JSESSIONID="))
        })
}

fn get(state: &ApiState, request: &Request<Incoming>, path: &str, query: &str) -> Answer {
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let cookie = jsessionid(headers);
    // Which API: legacy ZPA, legacy ZIA, or OneAPI with its product prefix.
    let (product, rest) = if let Some(r) = path.strip_prefix("/zpa/mgmtconfig/v1/admin/customers/")
    {
        ("zpa", r)
    } else if let Some(r) = path.strip_prefix("/mgmtconfig/v1/admin/customers/") {
        ("zpa", r)
    } else if let Some(r) = path.strip_prefix("/zia/api/v1") {
        ("zia", r)
    } else if let Some(r) = path.strip_prefix("/api/v1") {
        ("zia", r)
    } else {
        return json_answer(StatusCode::NOT_FOUND, &json!({"id": "resource.not.found"}));
    };
    let credential = if product == "zia" && !path.starts_with("/zia/") {
        cookie
    } else {
        bearer
    };
    let known = credential.is_some_and(|c| {
        state
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(c)
    });
    if !known {
        return json_answer(
            StatusCode::UNAUTHORIZED,
            &json!({"id": "authn.required", "reason": "session expired or invalid"}),
        );
    }
    let n = {
        let mut gets = state.gets.lock().unwrap_or_else(|p| p.into_inner());
        *gets += 1;
        *gets
    };
    let b = &state.behaviour;
    if n <= b.throttle_first {
        let mut r = json_answer(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"id": "rate.limit.exceeded", "reason": "Rate Limit (20/10SEC) exceeded"}),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1s"));
        return r;
    }
    if let Some(after) = b.expire_sessions_after {
        let mut expired = state.expired.lock().unwrap_or_else(|p| p.into_inner());
        if n > after + b.throttle_first && !*expired {
            *expired = true;
            state
                .sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clear();
            return json_answer(
                StatusCode::UNAUTHORIZED,
                &json!({"id": "authn.required", "reason": "session expired"}),
            );
        }
    }
    if let Some(status) = b.refuse_with {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
        return json_answer(
            status,
            &json!({"id": "refused", "reason": "refused by the lab"}),
        );
    }
    if b.bad_json {
        let mut r = Response::new(Full::new(Bytes::from_static(b"<html>maintenance</html>")));
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        return r;
    }
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let page: usize = param("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let cap = b.max_page_size.unwrap_or(usize::MAX);
    let t = &state.tenant;
    if product == "zpa" {
        let Some(below) = rest
            .strip_prefix(CUSTOMER_ID)
            .filter(|r| r.is_empty() || r.starts_with('/'))
        else {
            return json_answer(StatusCode::FORBIDDEN, &json!({"id": "customer.not.found"}));
        };
        let Some(list) = t.zpa_list(below) else {
            return json_answer(StatusCode::NOT_FOUND, &json!({"id": "resource.not.found"}));
        };
        let size: usize = param("pagesize")
            .and_then(|p| p.parse().ok())
            .unwrap_or(20)
            .clamp(1, 500)
            .min(cap);
        let total_pages = list.len().div_ceil(size);
        let items: Vec<Value> = list
            .iter()
            .skip((page - 1) * size)
            .take(size)
            .cloned()
            .collect();
        let mut envelope =
            json!({"totalPages": total_pages.to_string(), "totalCount": list.len().to_string()});
        // An empty page leaves `list` out, as ZPA does.
        if !items.is_empty() {
            envelope["list"] = Value::Array(items);
        }
        json_answer(StatusCode::OK, &envelope)
    } else {
        if rest == "/status" {
            return json_answer(StatusCode::OK, &t.zia_status);
        }
        let Some(list) = t.zia_list(rest) else {
            return json_answer(
                StatusCode::NOT_FOUND,
                &json!({"code": "RESOURCE_NOT_FOUND"}),
            );
        };
        let size: usize = param("pageSize")
            .and_then(|p| p.parse().ok())
            .unwrap_or(100)
            .max(1)
            .min(cap);
        let items: Vec<Value> = list
            .iter()
            .skip((page - 1) * size)
            .take(size)
            .cloned()
            .collect();
        json_answer(StatusCode::OK, &Value::Array(items))
    }
}
