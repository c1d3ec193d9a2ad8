//! A Graph-like API over the lab's sign-ins, on a listener of its own (`graph.sipa-lab.test`,
//! lab CA certificate): the token endpoint for app-only Graph tokens, `/beta/auditLogs/signIns`
//! with the `$filter` shapes the harness sends and `@odata.nextLink` paging after an ingestion
//! delay, the Conditional Access named locations, and What If (`/v1.0` and `/beta`, the app id
//! as the documented subject). Faults and quirks make it
//! answer as a misconfigured tenant or a misbehaving service would.

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::conn::{HANDSHAKE_TIMEOUT, spawn_accept_loop, wan_delay};
use super::world::{ANCHOR_IP, CaStatus, SignIn, SignInLog};

/// The lab Graph's TLS name (covered by the lab CA's certificate for it).
pub const GRAPH_HOST: &str = "graph.sipa-lab.test";
/// The lab app's client id: the one the lab's sign-ins and Graph tokens are for.
pub const LAB_CLIENT_ID: &str = "5a1b0c4e-1ab0-4c1e-9a7e-000000005a1b";
/// The client secret the lab's token endpoints accept; anything else is AADSTS7000215.
pub const LAB_CLIENT_SECRET: &str = "lab-secret";
/// The id of the lab's workload-identity Conditional Access policy.
pub const LAB_CA_POLICY_ID: &str = "c0a1b2c3-0000-4000-8000-00000000ca01";
/// Its display name.
pub const LAB_CA_POLICY_NAME: &str = "SIPA probe: block outside trusted locations";
/// The object id of the lab app's service principal: the subject of the older What If shape
/// only (the documented one takes the app id, [`LAB_CLIENT_ID`]).
pub const LAB_SERVICE_PRINCIPAL_ID: &str = "5a1b0c4e-5e9e-4c1e-9a7e-00000000005b";
/// The id of the lab tenant's second policy, for users only: it never applies to the probe.
pub const LAB_MFA_POLICY_ID: &str = "c0a1b2c3-0000-4000-8000-00000000ca02";
/// The id of the lab's trusted IP named location.
pub const LAB_NAMED_LOCATION_ID: &str = "10c4710c-0000-4000-8000-0000000010c1";
/// Its display name.
pub const LAB_NAMED_LOCATION_NAME: &str = "SIPA App Connectors";
/// The range the named location holds under `named-location-missing-connector`: not the
/// connector's address.
pub const STALE_CONNECTOR_RANGE: &str = "127.0.0.9/32";
/// What the lab Graph sends as `Retry-After` (seconds) under `graph-429-storm`.
pub const STORM_RETRY_AFTER_SECS: u64 = 1;
const MAX_BODY: usize = 64 * 1024;

/// How the lab's Entra side behaves, beyond the faults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraLabConfig {
    /// How long a sign-in takes to show in `/auditLogs/signIns`.
    pub ingestion_delay: Duration,
    /// The most records per page, whatever `$top` asks.
    pub page_size: usize,
    /// A misbehaviour of the service, for the client's error paths.
    pub quirk: Option<GraphQuirk>,
    /// Which What If request shape the service understands.
    pub what_if: WhatIfShape,
    /// Whether `servicePrincipals(appId='…')` names the lab app's service principal; `false`:
    /// 404 for every app, so the harness must take it from the sign-in log.
    pub service_principals: bool,
    /// Certificates (PEM) registered for the lab app: a client assertion signed by one of
    /// their keys, for the token endpoint it is sent to, is as good as the lab secret.
    pub client_certificates: Vec<String>,
}

impl Default for EntraLabConfig {
    fn default() -> Self {
        EntraLabConfig {
            ingestion_delay: Duration::ZERO,
            page_size: 100,
            quirk: None,
            what_if: WhatIfShape::Documented,
            service_principals: true,
            client_certificates: Vec::new(),
        }
    }
}

/// A way the sign-in log API misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphQuirk {
    /// `200` with an HTML page (a captive portal or a proxy's answer).
    Html,
    /// `200` JSON cut off half way.
    TruncatedJson,
    /// Records without `ipAddress`.
    MissingIpAddress,
    /// Every `@odata.nextLink` points back at the first page.
    PageLoop,
}

/// The What If requests the lab answers; any other gets a 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhatIfShape {
    /// As Microsoft documents it, on `/v1.0` and `/beta`: `signInIdentity`
    /// (`#microsoft.graph.servicePrincipalSignIn` whose `servicePrincipalId` is the app id),
    /// `signInContext`, `signInConditions`. The service principal's object id as
    /// `servicePrincipalId` is refused with a 400, as Graph refuses it.
    Documented,
    /// The documented shape on `/beta` only: `/v1.0` answers 400 "Resource not found for the
    /// segment", as a cloud without the v1.0 API does.
    DocumentedBetaOnly,
    /// Only the older `conditionalAccessWhatIfSubject` / `conditionalAccessContext` /
    /// `conditionalAccessWhatIfConditions` shape on `/beta`, with the service principal's
    /// object id (`#microsoft.graph.servicePrincipalSubject`).
    Older,
    /// None: What If is unavailable.
    Neither,
}

/// What the lab Graph has seen: evidence of how the client used it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GraphTraffic {
    /// Connections accepted (after TLS).
    pub connections: u64,
    /// The most connections open at the same time.
    pub max_concurrent_connections: u64,
    /// Requests answered, token requests included.
    pub requests: u64,
    /// `/auditLogs/signIns` requests.
    pub sign_in_queries: u64,
    /// Answers that were `429`.
    pub throttled: u64,
    /// Requests to Graph's own token endpoint (Graph's route, not a path under test).
    pub token_requests: u64,
}

#[derive(Debug, Default)]
pub(crate) struct GraphCounters {
    connections: AtomicU64,
    open: AtomicU64,
    max_open: AtomicU64,
    requests: AtomicU64,
    sign_in_queries: AtomicU64,
    throttled: AtomicU64,
    token_requests: AtomicU64,
}

impl GraphCounters {
    pub(crate) fn snapshot(&self) -> GraphTraffic {
        GraphTraffic {
            connections: self.connections.load(Ordering::SeqCst),
            max_concurrent_connections: self.max_open.load(Ordering::SeqCst),
            requests: self.requests.load(Ordering::SeqCst),
            sign_in_queries: self.sign_in_queries.load(Ordering::SeqCst),
            token_requests: self.token_requests.load(Ordering::SeqCst),
            throttled: self.throttled.load(Ordering::SeqCst),
        }
    }
}

/// Counts a connection as open until dropped.
struct OpenConnection(Arc<GraphCounters>);

impl OpenConnection {
    fn new(counters: Arc<GraphCounters>) -> Self {
        counters.connections.fetch_add(1, Ordering::SeqCst);
        let open = counters.open.fetch_add(1, Ordering::SeqCst) + 1;
        counters.max_open.fetch_max(open, Ordering::SeqCst);
        OpenConnection(counters)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What every Graph connection shares.
pub(crate) struct GraphState {
    pub(crate) config: EntraLabConfig,
    pub(crate) sign_ins: SignInLog,
    pub(crate) counters: Arc<GraphCounters>,
    pub(crate) latency: Duration,
    pub(crate) never_ingested: bool,
    pub(crate) forbidden: bool,
    pub(crate) throttled: bool,
    pub(crate) location_missing_connector: bool,
    /// The workload-identity policy is enforced (`ca-blocks`); report-only otherwise, as the
    /// lab's login servers then issue tokens from anywhere.
    pub(crate) ca_enforced: bool,
    /// The policy has no location condition (`what-if-no-difference`).
    pub(crate) ca_ignores_location: bool,
    /// Graph tokens handed out, by this token endpoint or the login servers': only these
    /// open the API.
    pub(crate) tokens: IssuedTokens,
}

/// The lab tenant's issued Graph tokens, shared by the login servers and Graph's own token
/// endpoint, as Entra's tokens are good for Graph wherever they were asked for.
pub(crate) type IssuedTokens = Arc<Mutex<HashSet<String>>>;

/// Serves the lab Graph over TLS on `listener`.
pub(crate) fn spawn(
    state: Arc<GraphState>,
    tls: TlsAcceptor,
    listener: TcpListener,
) -> JoinHandle<()> {
    let latency = state.latency;
    spawn_accept_loop(listener, latency, move |stream, peer| {
        let state = state.clone();
        let tls = tls.clone();
        async move {
            let _open = OpenConnection::new(state.counters.clone());
            let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await
            else {
                return;
            };
            let service = service_fn(move |request| {
                let state = state.clone();
                async move {
                    state.counters.requests.fetch_add(1, Ordering::SeqCst);
                    let response = answer(&state, peer.ip(), request).await;
                    wan_delay(state.latency).await;
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    })
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

fn json(status: StatusCode, body: &serde_json::Value) -> Answer {
    respond(status, "application/json; charset=utf-8", body.to_string())
}

fn graph_error(status: StatusCode, code: &str, message: &str) -> Answer {
    json(
        status,
        &serde_json::json!({"error": {"code": code, "message": message,
            "innerError": {"request-id": uuid::Uuid::new_v4().to_string()}}}),
    )
}

async fn answer(state: &GraphState, caller: IpAddr, request: Request<Incoming>) -> Answer {
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if request.method() == Method::POST
        && matches!(segments.as_slice(), [_, "oauth2", "v2.0", "token"])
    {
        return token(state, caller, request).await;
    }
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let known = bearer.is_some_and(|token| {
        state
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&token)
    });
    if !known {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty or invalid.",
        );
    }
    if state.forbidden {
        return graph_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        );
    }
    if state.throttled {
        state.counters.throttled.fetch_add(1, Ordering::SeqCst);
        let mut response = graph_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests.",
        );
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(STORM_RETRY_AFTER_SECS),
        );
        return response;
    }
    let authority = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(GRAPH_HOST)
        .to_owned();
    let query: Vec<(String, String)> = request
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    match (request.method(), segments.as_slice()) {
        (&Method::GET, ["beta", "auditLogs", "signIns"]) => {
            state
                .counters
                .sign_in_queries
                .fetch_add(1, Ordering::SeqCst);
            sign_ins(state, &authority, &query)
        }
        (&Method::GET, ["v1.0", sp]) if sp.starts_with("servicePrincipals(") => {
            service_principal(sp, state.config.service_principals)
        }
        (&Method::GET, ["v1.0", "identity", "conditionalAccess", "namedLocations"]) => {
            json(StatusCode::OK, &named_locations(state))
        }
        (
            &Method::POST,
            [
                version @ ("v1.0" | "beta"),
                "identity",
                "conditionalAccess",
                "evaluate",
            ],
        ) => {
            let v1 = *version == "v1.0";
            let body = read_body(request).await;
            what_if(state, v1, &body)
        }
        _ => graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("Resource not found for the segment '{path}'."),
        ),
    }
}

async fn read_body(request: Request<Incoming>) -> Bytes {
    Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default()
}

/// App-only Graph tokens for the lab client and its secret. Under `ca-blocks` the probe app's
/// workload-identity policy holds here as on the login servers: a caller outside the trusted
/// location (the anchor) is refused with AADSTS53003, as Entra refuses a token request that
/// reaches it on a route that is not anchored.
async fn token(state: &GraphState, caller: IpAddr, request: Request<Incoming>) -> Answer {
    state.counters.token_requests.fetch_add(1, Ordering::SeqCst);
    let body = read_body(request).await;
    let secret_ok = url::form_urlencoded::parse(&body)
        .any(|(key, value)| key == "client_secret" && value == LAB_CLIENT_SECRET);
    if !secret_ok {
        return json(
            StatusCode::UNAUTHORIZED,
            &serde_json::json!({"error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.",
                "error_codes": [7000215]}),
        );
    }
    if state.ca_enforced && (state.ca_ignores_location || caller != IpAddr::V4(ANCHOR_IP)) {
        return json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"error": "invalid_grant",
                "error_description": "AADSTS53003: Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
                "error_codes": [53003],
                "claims": serde_json::json!({"access_token": {"capolids": {"essential": true,
                    "values": [LAB_CA_POLICY_ID]}}}).to_string()}),
        );
    }
    let token = format!("lab-graph-token-{}", uuid::Uuid::new_v4().simple());
    state
        .tokens
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(token.clone());
    json(
        StatusCode::OK,
        &serde_json::json!({"token_type": "Bearer", "expires_in": 3599,
            "ext_expires_in": 3599, "access_token": token}),
    )
}

/// The correlation ids and ids a `$filter` asks for: `correlationId eq '…'` and `id eq '…'`
/// terms joined by `or`, as the harness writes them.
pub(crate) fn filter_terms(filter: &str) -> (Vec<String>, Vec<String>) {
    let mut correlation_ids = Vec::new();
    let mut ids = Vec::new();
    let mut rest = filter;
    while let Some(at) = rest.find(" eq '") {
        let field_start = rest[..at].rfind(['(', ' ']).map_or(0, |i| i + 1);
        let field = &rest[field_start..at];
        let value_start = at + " eq '".len();
        let Some(len) = rest[value_start..].find('\'') else {
            break;
        };
        let value = rest[value_start..value_start + len].to_owned();
        match field {
            "correlationId" => correlation_ids.push(value),
            "id" => ids.push(value),
            _ => {}
        }
        rest = &rest[value_start + len + 1..];
    }
    (correlation_ids, ids)
}

fn in_anchor_set(ip: IpAddr) -> bool {
    ip == IpAddr::V4(ANCHOR_IP)
}

fn sign_ins(state: &GraphState, authority: &str, query: &[(String, String)]) -> Answer {
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (correlation_ids, ids) = filter_terms(get("$filter").unwrap_or(""));
    // As Graph caps `$top`, the lab caps it at its page size.
    let top = get("$top")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(state.config.page_size)
        .min(state.config.page_size)
        .max(1);
    let skip = get("$skiptoken")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0);
    let now = SystemTime::now();
    let mut matching: Vec<SignIn> = if state.never_ingested {
        Vec::new()
    } else {
        state
            .sign_ins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|s| {
                s.time + state.config.ingestion_delay <= now
                    && (correlation_ids.contains(&s.correlation_id) || ids.contains(&s.id))
            })
            .cloned()
            .collect()
    };
    matching.reverse(); // newest first
    let page: Vec<serde_json::Value> = matching
        .iter()
        .skip(skip)
        .take(top)
        .map(|s| record(state, s))
        .collect();
    let mut body = serde_json::json!({
        "@odata.context": "https://graph.microsoft.com/beta/$metadata#auditLogs/signIns",
        "value": page,
    });
    let next = match state.config.quirk {
        Some(GraphQuirk::PageLoop) => Some(0),
        _ => (skip + top < matching.len()).then_some(skip + top),
    };
    if let Some(next) = next {
        let mut link = url::Url::parse(&format!("https://{authority}/beta/auditLogs/signIns"))
            .unwrap_or_else(|_| url::Url::parse("https://graph.sipa-lab.test/").expect("a URL"));
        {
            let mut pairs = link.query_pairs_mut();
            for (k, v) in query.iter().filter(|(k, _)| k != "$skiptoken") {
                pairs.append_pair(k, v);
            }
            pairs.append_pair("$skiptoken", &next.to_string());
        }
        body["@odata.nextLink"] = serde_json::Value::String(link.to_string());
    }
    match state.config.quirk {
        Some(GraphQuirk::Html) => respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            "<!DOCTYPE html><html><body><h1>Sign in to continue</h1></body></html>",
        ),
        Some(GraphQuirk::TruncatedJson) => {
            let text = body.to_string();
            respond(
                StatusCode::OK,
                "application/json; charset=utf-8",
                text[..text.len() / 2].to_owned(),
            )
        }
        _ => json(StatusCode::OK, &body),
    }
}

/// One sign-in in the beta `signIn` resource's shape.
fn record(state: &GraphState, s: &SignIn) -> serde_json::Value {
    let created = time::OffsetDateTime::from(s.time)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let trusted = in_anchor_set(s.ip_address) && !state.location_missing_connector;
    let applied: Vec<serde_json::Value> = match s.conditional_access {
        CaStatus::NotApplied => Vec::new(),
        status => vec![serde_json::json!({
            "id": LAB_CA_POLICY_ID,
            "displayName": LAB_CA_POLICY_NAME,
            "result": match status {
                CaStatus::Failure => "failure",
                _ => "notApplied",
            },
        })],
    };
    let mut record = serde_json::json!({
        "id": s.id,
        "createdDateTime": created,
        "appId": s.client_id,
        "servicePrincipalId": if s.client_id.as_deref() == Some(LAB_CLIENT_ID) {
            Some(LAB_SERVICE_PRINCIPAL_ID)
        } else {
            None
        },
        "correlationId": s.correlation_id,
        "ipAddress": s.ip_address.to_string(),
        "signInEventTypes": ["servicePrincipal"],
        "resourceDisplayName": "Microsoft Graph",
        "status": {
            "errorCode": s.error_code,
            "failureReason": if s.error_code == 0 { "Other." } else { "Access denied." },
        },
        "conditionalAccessStatus": match s.conditional_access {
            CaStatus::NotApplied => "notApplied",
            CaStatus::Success => "success",
            CaStatus::Failure => "failure",
        },
        "appliedConditionalAccessPolicies": applied,
        "networkLocationDetails": if trusted {
            serde_json::json!([{"networkType": "trustedNamedLocation",
                "networkNames": [LAB_NAMED_LOCATION_NAME]}])
        } else {
            serde_json::json!([])
        },
    });
    if state.config.quirk == Some(GraphQuirk::MissingIpAddress)
        && let Some(object) = record.as_object_mut()
    {
        object.remove("ipAddress");
    }
    record
}

/// The trusted ranges of the lab's named location.
fn trusted_ranges(state: &GraphState) -> Vec<String> {
    if state.location_missing_connector {
        vec![STALE_CONNECTOR_RANGE.to_owned()]
    } else {
        vec![format!("{ANCHOR_IP}/32")]
    }
}

fn named_locations(state: &GraphState) -> serde_json::Value {
    let ranges: Vec<serde_json::Value> = trusted_ranges(state)
        .into_iter()
        .map(|cidr| {
            serde_json::json!({"@odata.type": "#microsoft.graph.iPv4CidrRange",
                "cidrAddress": cidr})
        })
        .collect();
    serde_json::json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#identity/conditionalAccess/namedLocations",
        "value": [
            {"@odata.type": "#microsoft.graph.ipNamedLocation", "id": LAB_NAMED_LOCATION_ID,
             "displayName": LAB_NAMED_LOCATION_NAME, "isTrusted": true, "ipRanges": ranges},
            {"@odata.type": "#microsoft.graph.ipNamedLocation",
             "id": "10c4710c-0000-4000-8000-0000000010c2", "displayName": "Guest Wi-Fi",
             "isTrusted": false, "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange",
             "cidrAddress": "127.0.0.3/32"}]},
            {"@odata.type": "#microsoft.graph.countryNamedLocation",
             "id": "10c4710c-0000-4000-8000-0000000010c3", "displayName": "Home country",
             "countriesAndRegions": ["FR"], "includeUnknownCountriesAndRegions": false},
        ],
    })
}

/// `servicePrincipals(appId='…')`: the lab app's service principal (when `known`), else 404.
fn service_principal(segment: &str, known: bool) -> Answer {
    let decoded: String = url::form_urlencoded::parse(segment.as_bytes())
        .map(|(k, v)| {
            if v.is_empty() {
                k.into_owned()
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    let app_id = decoded
        .strip_prefix("servicePrincipals(appId='")
        .and_then(|rest| rest.strip_suffix("')"));
    match app_id {
        Some(LAB_CLIENT_ID) if known => json(
            StatusCode::OK,
            &serde_json::json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals(id,appId,displayName)/$entity",
                "id": LAB_SERVICE_PRINCIPAL_ID, "appId": LAB_CLIENT_ID,
                "displayName": "sipa-check probe (lab)",
            }),
        ),
        _ => graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{decoded}' does not exist or one of its queried reference-property objects are not present."
            ),
        ),
    }
}

/// What If as the lab tenant would answer it, consistent with the login servers' emulation:
/// the workload-identity policy blocks outside the trusted named location (the anchor), so
/// it does not apply from there (`location`); it is enforced under `ca-blocks` and report-only
/// otherwise; under `what-if-no-difference` it has no location condition and applies from
/// everywhere. A users-only MFA policy never applies to the probe (`users`). A request of
/// another shape than [`WhatIfShape`] allows, on another version, or for another subject than
/// the lab app gets a 400 (the exact text of Graph's refusals is not recorded anywhere this
/// lab could copy; the status and error shape are Graph's).
fn what_if(state: &GraphState, v1: bool, body: &[u8]) -> Answer {
    let parsed: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let shape = state.config.what_if;
    if v1 && matches!(shape, WhatIfShape::DocumentedBetaOnly | WhatIfShape::Older) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Resource not found for the segment 'evaluate'.",
        );
    }
    let (identity, identity_type, context, conditions, subject) = match shape {
        WhatIfShape::Documented | WhatIfShape::DocumentedBetaOnly => (
            "signInIdentity",
            "#microsoft.graph.servicePrincipalSignIn",
            "signInContext",
            "signInConditions",
            LAB_CLIENT_ID,
        ),
        WhatIfShape::Older => (
            "conditionalAccessWhatIfSubject",
            "#microsoft.graph.servicePrincipalSubject",
            "conditionalAccessContext",
            "conditionalAccessWhatIfConditions",
            LAB_SERVICE_PRINCIPAL_ID,
        ),
        WhatIfShape::Neither => ("", "", "", "", ""),
    };
    let identity_value = parsed.get(identity);
    let shape_ok = identity_value.is_some_and(|i| i["@odata.type"].as_str() == Some(identity_type));
    let given = identity_value
        .and_then(|i| i["servicePrincipalId"].as_str())
        .unwrap_or_default();
    if shape_ok && given != subject {
        // Graph reads `servicePrincipalId` of the documented subject as an app id: the
        // object id (or any other id) names no app of the tenant.
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!(
                "Invalid servicePrincipalId '{given}': no service principal with this appId in the tenant."
            ),
        );
    }
    let applications_ok = parsed
        .get(context)
        .and_then(|c| c.get("includeApplications"))
        .and_then(|a| a.as_array())
        .is_some_and(|a| !a.is_empty());
    let ip = parsed
        .get(conditions)
        .and_then(|c| c.get("ipAddress"))
        .and_then(|ip| ip.as_str())
        .and_then(|ip| ip.parse::<IpAddr>().ok());
    let (true, true, Some(ip)) = (shape_ok, applications_ok, ip) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Invalid request body: the evaluation request is not recognised.",
        );
    };
    let trusted = !state.ca_ignores_location
        && trusted_ranges(state).iter().any(|cidr| {
            cidr.parse::<ipnet::IpNet>()
                .is_ok_and(|net| net.contains(&ip))
        });
    let locations = if state.ca_ignores_location {
        serde_json::Value::Null
    } else {
        serde_json::json!({"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]})
    };
    let probe_policy = serde_json::json!({
        "id": LAB_CA_POLICY_ID, "displayName": LAB_CA_POLICY_NAME,
        "state": if state.ca_enforced { "enabled" } else { "enabledForReportingButNotEnforced" },
        "conditions": {"locations": locations,
            "clientApplications": {"includeServicePrincipals": ["ServicePrincipalsInMyTenant"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
        "policyApplies": !trusted,
        "analysisReasons": if trusted { "location" } else { "notSet" },
    });
    let mfa_policy = serde_json::json!({
        "id": LAB_MFA_POLICY_ID, "displayName": "Require MFA for all users", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "locations": null},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
        "policyApplies": false,
        "analysisReasons": "users",
    });
    json(
        StatusCode::OK,
        &serde_json::json!({
            "@odata.context": format!("https://graph.microsoft.com/{}/$metadata#Collection(microsoft.graph.whatIfAnalysisResult)", if v1 { "v1.0" } else { "beta" }),
            "value": [probe_policy, mfa_policy],
        }),
    )
}

/// What the lab's token endpoints make of a client assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AssertionCheck {
    /// Signed by a registered certificate's key, for this client and endpoint, valid now.
    Valid,
    /// Signed with an algorithm Entra does not take for client assertions (anything but
    /// RS256 and PS256, such as ES256): AADSTS5002738.
    UnsupportedAlgorithm(String),
    /// Anything else: no registered certificate named, a bad signature, other claims.
    Invalid,
}

/// Checks `assertion` as Entra does, with the lab's own code: `alg` RS256 or PS256 (Entra
/// takes RSA assertions only), the certificate named by its `x5t#S256` or `x5t` header among
/// `certificates` (DER), its key verifying the signature, `aud` the `endpoint`, `iss` = `sub`
/// = `client_id`, and valid now.
pub(crate) fn check_assertion(
    assertion: &str,
    client_id: Option<&str>,
    endpoint: &str,
    certificates: &[Vec<u8>],
) -> AssertionCheck {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return AssertionCheck::Invalid;
    };
    let decode = |part: &str| -> Option<serde_json::Value> {
        serde_json::from_slice(&b64.decode(part).ok()?).ok()
    };
    let (Some(head), Some(body), Ok(signature)) =
        (decode(header), decode(claims), b64.decode(signature))
    else {
        return AssertionCheck::Invalid;
    };
    let algorithm: &dyn ring::signature::VerificationAlgorithm = match head["alg"].as_str() {
        Some("RS256") => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        Some("PS256") => &ring::signature::RSA_PSS_2048_8192_SHA256,
        Some(other) => return AssertionCheck::UnsupportedAlgorithm(other.to_owned()),
        None => return AssertionCheck::Invalid,
    };
    let named = |der: &Vec<u8>| {
        let sha256 = ring::digest::digest(&ring::digest::SHA256, der);
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
        head["x5t#S256"].as_str() == Some(b64.encode(sha256.as_ref()).as_str())
            || head["x5t"].as_str() == Some(b64.encode(sha1.as_ref()).as_str())
    };
    let Some(certificate) = certificates.iter().find(|der| named(der)) else {
        return AssertionCheck::Invalid;
    };
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(certificate) else {
        return AssertionCheck::Invalid;
    };
    let public = parsed
        .tbs_certificate
        .subject_pki
        .subject_public_key
        .data
        .as_ref();
    let signed = format!("{header}.{claims}");
    if ring::signature::UnparsedPublicKey::new(algorithm, public)
        .verify(signed.as_bytes(), &signature)
        .is_err()
    {
        return AssertionCheck::Invalid;
    }
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims_ok = body["aud"].as_str() == Some(endpoint)
        && body["iss"].as_str().is_some()
        && body["iss"].as_str() == client_id
        && body["sub"].as_str() == client_id
        && body["nbf"].as_u64().is_some_and(|nbf| nbf <= now + 60)
        && body["exp"].as_u64().is_some_and(|exp| exp > now);
    if claims_ok {
        AssertionCheck::Valid
    } else {
        AssertionCheck::Invalid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_name_their_correlation_ids_and_ids() {
        let (correlation, ids) = filter_terms(
            "(correlationId eq 'a-1' or correlationId eq 'b-2') and signInEventTypes/any(t: t eq 'servicePrincipal')",
        );
        assert_eq!(correlation, vec!["a-1", "b-2"]);
        assert!(ids.is_empty());
        let (correlation, ids) = filter_terms("(id eq 'x' or id eq 'y')");
        assert!(correlation.is_empty());
        assert_eq!(ids, vec!["x", "y"]);
        let (correlation, ids) = filter_terms("correlationId eq 'unterminated");
        assert!(correlation.is_empty() && ids.is_empty());
    }
}
