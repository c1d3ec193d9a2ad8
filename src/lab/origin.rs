//! The origin servers behind the gateway: Microsoft's login front ends (redirect on 80, OpenID
//! configuration and token endpoint on 443, Entra-like headers) and the IP echo sites (canary,
//! control and any other name under `sipa-lab.test`), all on one plain and one TLS listener
//! routed by Host header and SNI.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::conn::{HANDSHAKE_TIMEOUT, spawn_accept_loop, wan_delay};
use super::graph::{AssertionCheck, LAB_CA_POLICY_ID, LAB_CLIENT_SECRET, check_assertion};
use super::world::{
    ANCHOR_IP, CaStatus, OriginTraffic, SignIn, SignInLog, is_lab_host, is_login_like,
};

/// The path where every lab site reveals the caller's address, as an IP echo site would.
pub const ECHO_PATH: &str = "/echo/ip";
/// Largest token request body the login servers read.
const MAX_FORM_BODY: usize = 64 * 1024;
/// The front-end build Entra reports in `x-ms-ests-server`.
const ESTS_SERVER: &str = "2.1.0 - LAB ProdSlices";
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// What every origin connection shares.
pub(crate) struct OriginState {
    pub(crate) echo_garbage: bool,
    pub(crate) latency: Duration,
    pub(crate) sign_ins: SignInLog,
    pub(crate) traffic: Arc<TrafficCounters>,
    /// The workload-identity Conditional Access emulation (`ca-blocks`): a valid client
    /// outside the trusted location (the anchor set) is refused a token with AADSTS53003.
    pub(crate) conditional_access: bool,
    /// The policy has no location condition (`what-if-no-difference`): enforced, it blocks
    /// the probe app from every address, the anchor's too.
    pub(crate) ca_ignores_location: bool,
    /// Certificates (DER) registered for the lab app, for client assertions.
    pub(crate) client_certificates: Vec<Vec<u8>>,
    /// The tenant's issued tokens: a token the login servers issue opens the lab's Graph too.
    pub(crate) tokens: super::graph::IssuedTokens,
    /// The login hosts offer HTTP/3 (`Alt-Svc: h3=":443"`) on their TLS answers: the lab's
    /// QUIC listener is on (`quic-open`, `quic-open-unanchored`).
    pub(crate) offers_h3: bool,
    /// The PAC file served at [`PAC_PATH`] on [`super::world::PAC_HOST`], once the proxy is bound.
    pub(crate) pac: std::sync::OnceLock<String>,
}

/// Where the lab's PAC file is served, on [`super::world::PAC_HOST`].
pub const PAC_PATH: &str = "/proxy.pac";

/// What the origin servers have seen, counted as it happens.
#[derive(Debug, Default)]
pub(crate) struct TrafficCounters {
    connections: AtomicU64,
    requests: AtomicU64,
    reused: AtomicU64,
    echoes: AtomicU64,
}

impl TrafficCounters {
    pub(crate) fn snapshot(&self) -> OriginTraffic {
        OriginTraffic {
            connections: self.connections.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            requests_on_reused_connections: self.reused.load(Ordering::Relaxed),
            echo_answers: self.echoes.load(Ordering::Relaxed),
        }
    }
}

/// How a caller reached the origin.
#[derive(Clone)]
enum Transport {
    Plain,
    /// TLS, with the server name the client asked for, if any.
    Tls {
        server_name: Option<String>,
    },
}

/// What the origin knows about one connection.
#[derive(Clone)]
struct Caller {
    ip: IpAddr,
    transport: Transport,
}

impl Caller {
    fn secure(&self) -> bool {
        matches!(self.transport, Transport::Tls { .. })
    }
}

/// Serves plain HTTP on `listener`.
pub(crate) fn spawn_plain(state: Arc<OriginState>, listener: TcpListener) -> JoinHandle<()> {
    let latency = state.latency;
    spawn_accept_loop(listener, latency, move |stream, peer| {
        let state = state.clone();
        async move {
            let caller = Caller {
                ip: peer.ip(),
                transport: Transport::Plain,
            };
            serve_http(state, caller, stream).await;
        }
    })
}

/// Serves HTTPS on `listener` with `tls` (the lab leaf certificate).
pub(crate) fn spawn_tls(
    state: Arc<OriginState>,
    tls: TlsAcceptor,
    listener: TcpListener,
) -> JoinHandle<()> {
    let latency = state.latency;
    spawn_accept_loop(
        listener,
        latency,
        move |stream: TcpStream, peer: SocketAddr| {
            let state = state.clone();
            let tls = tls.clone();
            async move {
                let Ok(Ok(stream)) =
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await
                else {
                    return;
                };
                let server_name = stream.get_ref().1.server_name().map(str::to_owned);
                let caller = Caller {
                    ip: peer.ip(),
                    transport: Transport::Tls { server_name },
                };
                serve_http(state, caller, stream).await;
            }
        },
    )
}

async fn serve_http<S>(state: Arc<OriginState>, caller: Caller, stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    state.traffic.connections.fetch_add(1, Ordering::Relaxed);
    let served_here = Arc::new(AtomicU64::new(0));
    let service = service_fn(move |request| {
        let state = state.clone();
        let caller = caller.clone();
        let served_here = served_here.clone();
        async move {
            state.traffic.requests.fetch_add(1, Ordering::Relaxed);
            if served_here.fetch_add(1, Ordering::Relaxed) > 0 {
                state.traffic.reused.fetch_add(1, Ordering::Relaxed);
            }
            let response = answer(&state, &caller, request).await;
            wan_delay(state.latency).await;
            Ok::<_, Infallible>(response)
        }
    });
    // The header timeout also bounds how long an idle keep-alive connection is kept.
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// `Host: Login.Windows.Net:443.` → `login.windows.net`.
pub(crate) fn normalize_host(authority: &str) -> String {
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        // An IPv6 literal: keep it as written, brackets included, so it never matches a name.
        match bracketed.split_once(']') {
            Some((inner, _)) => format!("[{inner}]"),
            None => authority.to_owned(),
        }
    } else {
        authority
            .rsplit_once(':')
            .map_or(authority, |(host, _port)| host)
            .to_owned()
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

type Answer = Response<Full<Bytes>>;

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Answer {
    respond(status, "text/plain; charset=utf-8", body)
}

fn json(status: StatusCode, body: &serde_json::Value) -> Answer {
    respond(status, "application/json; charset=utf-8", body.to_string())
}

async fn answer(state: &OriginState, caller: &Caller, request: Request<Incoming>) -> Answer {
    let host_header = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(normalize_host);
    let sni = match &caller.transport {
        Transport::Tls {
            server_name: Some(server_name),
        } => Some(normalize_host(server_name)),
        _ => None,
    };
    let host = match (host_header, sni) {
        (Some(host), Some(sni)) if host != sni => {
            return text(
                StatusCode::MISDIRECTED_REQUEST,
                format!("Host {host} does not match the TLS server name {sni}\n"),
            );
        }
        (Some(host), _) | (None, Some(host)) => host,
        (None, None) => return text(StatusCode::BAD_REQUEST, "missing Host header\n"),
    };
    if !is_lab_host(&host) {
        return text(StatusCode::NOT_FOUND, format!("no site {host} here\n"));
    }

    let path = request.uri().path().to_owned();
    let readable = request.method() == Method::GET || request.method() == Method::HEAD;
    if host == super::world::PAC_HOST && path == PAC_PATH && readable {
        return match state.pac.get() {
            Some(pac) => respond(
                StatusCode::OK,
                "application/x-ns-proxy-autoconfig",
                pac.clone(),
            ),
            None => text(StatusCode::SERVICE_UNAVAILABLE, "no PAC file yet\n"),
        };
    }
    if path == ECHO_PATH && readable {
        state.traffic.echoes.fetch_add(1, Ordering::Relaxed);
        let body = if state.echo_garbage {
            "not an ip".to_owned()
        } else {
            caller.ip.to_string()
        };
        return with_login_headers(&host, caller, text(StatusCode::OK, body), None);
    }

    if !is_login_like(&host) {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    if !caller.secure() {
        let target = request
            .uri()
            .path_and_query()
            .map_or("/", |path_and_query| path_and_query.as_str());
        let mut response = text(StatusCode::MOVED_PERMANENTLY, "");
        let location = HeaderValue::from_str(&format!("https://{host}{target}"));
        if let Ok(location) = location {
            response.headers_mut().insert(header::LOCATION, location);
        }
        return response;
    }

    let request_id = uuid::Uuid::new_v4().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let response = match (request.method(), segments.as_slice()) {
        (&Method::GET | &Method::HEAD, [tenant, ".well-known", "openid-configuration"]) => {
            json(StatusCode::OK, &openid_configuration(&host, tenant, false))
        }
        (&Method::GET | &Method::HEAD, [tenant, "v2.0", ".well-known", "openid-configuration"]) => {
            json(StatusCode::OK, &openid_configuration(&host, tenant, true))
        }
        (&Method::POST, [tenant, "oauth2", "token"] | [tenant, "oauth2", "v2.0", "token"]) => {
            let tenant = (*tenant).to_owned();
            return token_request(state, caller, &host, &tenant, request_id, request).await;
        }
        _ => json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({
                "error": "not_found",
                "error_description": format!("AADSTS90000: no endpoint {path} on {host}."),
                "trace_id": request_id,
            }),
        ),
    };
    let mut response = with_login_headers(&host, caller, response, Some(&request_id));
    if state.offers_h3 && caller.secure() {
        // As Microsoft's front ends do: HTTP/3 on UDP 443 is offered to whoever asks on TCP.
        response.headers_mut().insert(
            header::ALT_SVC,
            HeaderValue::from_static("h3=\":443\"; ma=86400"),
        );
    }
    response
}

/// Adds Entra's front-end headers to an answer from a login host over TLS.
fn with_login_headers(
    host: &str,
    caller: &Caller,
    mut response: Answer,
    request_id: Option<&str>,
) -> Answer {
    if !caller.secure() || !is_login_like(host) {
        return response;
    }
    let request_id = request_id.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("x-ms-request-id", value);
    }
    headers.insert("x-ms-ests-server", HeaderValue::from_static(ESTS_SERVER));
    headers.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    response
}

pub(crate) fn openid_configuration(host: &str, tenant: &str, v2: bool) -> serde_json::Value {
    let base = if v2 {
        format!("https://{host}/{tenant}/oauth2/v2.0")
    } else {
        format!("https://{host}/{tenant}/oauth2")
    };
    let issuer = if v2 {
        format!("https://{host}/{{tenantid}}/v2.0")
    } else {
        "https://sts.windows.net/{tenantid}/".to_owned()
    };
    serde_json::json!({
        "token_endpoint": format!("{base}/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("https://{host}/{tenant}/discovery/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid"],
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/authorize"),
        "device_authorization_endpoint": format!("{base}/devicecode"),
        "end_session_endpoint": format!("{base}/logout"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "tenant_region_scope": null,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
    })
}

/// The token endpoint, in Entra's shapes: the lab secret, or a valid client assertion signed
/// by a registered certificate's RSA key (RS256 or PS256), gets a token; any other secret
/// AADSTS7000215, an assertion signed with another algorithm (ES256) AADSTS5002738 as Entra
/// answers it, any other assertion AADSTS700027; under
/// `ca-blocks` a valid client from outside the anchor set gets AADSTS53003 naming the policy.
/// Every request is recorded as a sign-in with the address the login host saw, as Entra logs
/// failed sign-ins too.
async fn token_request(
    state: &OriginState,
    caller: &Caller,
    host: &str,
    tenant: &str,
    request_id: String,
    request: Request<Incoming>,
) -> Answer {
    let header_correlation = request
        .headers()
        .get("client-request-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = match Limited::new(request.into_body(), MAX_FORM_BODY)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let response = json(
                StatusCode::PAYLOAD_TOO_LARGE,
                &serde_json::json!({"error": "invalid_request", "trace_id": request_id}),
            );
            return with_login_headers(host, caller, response, Some(&request_id));
        }
    };
    let mut form_correlation = None;
    let mut client_id = None;
    let mut secret_ok = false;
    let mut assertion = None;
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "client-request-id" => form_correlation = Some(value.into_owned()),
            "client_id" => client_id = Some(value.into_owned()),
            "client_secret" => secret_ok = value == LAB_CLIENT_SECRET,
            "client_assertion" => assertion = Some(value.into_owned()),
            _ => {}
        }
    }
    // Entra makes up a correlation id when the client sends none.
    let correlation_id = header_correlation
        .or(form_correlation)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let endpoint = format!("https://{host}/{tenant}/oauth2/v2.0/token");
    let assertion_check = assertion.as_deref().map(|jwt| {
        check_assertion(
            jwt,
            client_id.as_deref(),
            &endpoint,
            &state.client_certificates,
        )
    });
    let assertion_ok = assertion_check == Some(AssertionCheck::Valid);
    let blocked = state.conditional_access
        && (state.ca_ignores_location || caller.ip != IpAddr::V4(ANCHOR_IP));
    let (error_code, conditional_access) = match (secret_ok || assertion_ok, assertion.is_some()) {
        (true, _) if blocked => (53003, CaStatus::Failure),
        (true, _) => (
            0,
            if state.conditional_access {
                CaStatus::Success
            } else {
                CaStatus::NotApplied
            },
        ),
        (false, true) => match &assertion_check {
            Some(AssertionCheck::UnsupportedAlgorithm(_)) => (5002738, CaStatus::NotApplied),
            _ => (700027, CaStatus::NotApplied),
        },
        (false, false) => (7000215, CaStatus::NotApplied),
    };
    let now = SystemTime::now();
    let sign_in = SignIn {
        id: request_id.clone(),
        correlation_id: correlation_id.clone(),
        ip_address: caller.ip,
        host: host.to_owned(),
        tenant: tenant.to_owned(),
        client_id: client_id.clone(),
        time: now,
        error_code,
        conditional_access,
    };
    state
        .sign_ins
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(sign_in);

    let timestamp = time::OffsetDateTime::from(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let app = client_id.as_deref().unwrap_or("unknown");
    let (status, body) = if error_code == 0 {
        let token = format!("lab-token-{}", uuid::Uuid::new_v4().simple());
        state
            .tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(token.clone());
        (
            StatusCode::OK,
            serde_json::json!({
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": token,
            }),
        )
    } else {
        let (error, status, text) = match error_code {
            53003 => (
                "invalid_grant",
                StatusCode::BAD_REQUEST,
                "Access has been blocked by Conditional Access policies. The access policy does \
                 not allow token issuance."
                    .to_owned(),
            ),
            700027 => (
                "invalid_client",
                StatusCode::UNAUTHORIZED,
                "Client assertion contains an invalid signature.".to_owned(),
            ),
            5002738 => (
                "invalid_request",
                StatusCode::BAD_REQUEST,
                match &assertion_check {
                    Some(AssertionCheck::UnsupportedAlgorithm(alg)) => {
                        format!(
                            "Invalid JWT token. '{alg}' is not a supported signature algorithm."
                        )
                    }
                    _ => "Invalid JWT token.".to_owned(),
                },
            ),
            _ => (
                "invalid_client",
                StatusCode::UNAUTHORIZED,
                format!("Invalid client secret provided for app '{app}'."),
            ),
        };
        let mut body = serde_json::json!({
            "error": error,
            "error_description": format!(
                "AADSTS{error_code}: {text} Trace ID: {request_id} Correlation ID: \
                 {correlation_id} Timestamp: {timestamp}"
            ),
            "error_codes": [error_code],
            "timestamp": timestamp,
            "trace_id": request_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://{host}/error?code={error_code}"),
        });
        if error_code == 53003 {
            body["suberror"] = serde_json::json!("message_only");
            body["claims"] = serde_json::json!(
                serde_json::json!({"access_token": {"capolids": {"essential": true,
                    "values": [LAB_CA_POLICY_ID]}}})
                .to_string()
            );
        }
        (status, body)
    };
    let mut response = with_login_headers(host, caller, json(status, &body), Some(&request_id));
    if let Ok(value) = HeaderValue::from_str(&correlation_id) {
        response.headers_mut().insert("client-request-id", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_normalized() {
        assert_eq!(normalize_host("Login.Windows.Net:443"), "login.windows.net");
        assert_eq!(normalize_host("login.windows.net."), "login.windows.net");
        assert_eq!(normalize_host("[::1]:80"), "[::1]");
        assert_eq!(
            normalize_host("canary.sipa-lab.test"),
            "canary.sipa-lab.test"
        );
    }

    #[test]
    fn openid_configuration_names_the_host() {
        let config = openid_configuration("login.microsoft.com", "common", false);
        assert_eq!(config["issuer"], "https://sts.windows.net/{tenantid}/");
        assert_eq!(
            config["token_endpoint"],
            "https://login.microsoft.com/common/oauth2/token"
        );
    }
}
