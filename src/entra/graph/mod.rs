//! The Graph client: what Entra saw and what Conditional Access would decide, read over a
//! route of its own (system DNS, direct TLS; never the path under test). App-only token for
//! Graph, then the sign-in log (one request per poll round for every pending correlation id,
//! `@odata.nextLink` followed with a loop guard, the `x-ms-request-id` fallback), the named
//! locations, and What If. Never more than two connections to Graph at once; 429 answers are
//! retried after their `Retry-After`. Every failure is a [`GraphError`] naming its cause.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use ipnet::IpNet;
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;

mod locations;
mod sign_ins;
mod token;
mod what_if;

use super::credentials::{EntraCredentials, Secret};
pub use crate::observation::WhatIfRequest;
use crate::observation::cause_chain;
pub use crate::observation::entra::{
    AnchorCoverage, AppliedPolicy, GraphError, NamedLocation, NetworkLocationDetail, PendingSignIn,
    SignInLookup, SignInRecord, TokenRefusal, WhatIfPolicy, WhatIfSubject, check_anchors,
    short_url,
};
use crate::scenario::cloud::Cloud;

/// Never more than this many connections to Graph at once.
pub const MAX_CONNECTIONS: usize = 2;
/// The longest pause between two poll rounds.
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(30);
/// The most pages one listing follows before it gives up.
pub const MAX_PAGES: usize = 50;
/// The most the client reads of one answer.
pub const MAX_ANSWER: usize = 16 * 1024 * 1024;
/// How long to wait after a 429 that gives no `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);
const USER_AGENT: &str = concat!("sipa-check/", env!("CARGO_PKG_VERSION"));
/// How much of an unexpected answer an error keeps.
const EXCERPT: usize = 160;

/// How the Graph client reaches Graph and the token endpoint.
#[derive(Debug, Clone)]
pub struct GraphSettings {
    /// The app whose Graph permissions are used.
    pub credentials: Arc<EntraCredentials>,
    /// Graph's base URL; `https://{cloud's graph host}/` when `None`.
    pub graph_base: Option<url::Url>,
    /// The token endpoint for the Graph token; the cloud authority's v2 endpoint when `None`.
    pub token_url: Option<url::Url>,
    /// Host names pinned to addresses instead of system DNS (for tests and split DNS).
    pub resolve: Vec<(String, SocketAddr)>,
    /// Extra trust anchors (PEM text), such as an SSL-inspection root; public roots always.
    pub extra_roots_pem: Vec<String>,
    /// Per request.
    pub timeout: Duration,
    /// The first pause between poll rounds; it doubles up to [`MAX_POLL_INTERVAL`].
    pub first_poll_interval: Duration,
}

impl GraphSettings {
    /// Defaults for `credentials`: the cloud's hosts, system DNS, public roots, 30 s per
    /// request, first poll pause 15 s.
    pub fn new(credentials: Arc<EntraCredentials>) -> GraphSettings {
        GraphSettings {
            credentials,
            graph_base: None,
            token_url: None,
            resolve: Vec::new(),
            extra_roots_pem: Vec::new(),
            timeout: Duration::from_secs(30),
            first_poll_interval: Duration::from_secs(15),
        }
    }
}

/// The Graph client. Clones share its connections, its token and its connection limit.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("graph_base", &self.inner.graph_base.as_str())
            .field("token_url", &self.inner.token_url.as_str())
            .finish_non_exhaustive()
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

struct Inner {
    settings: GraphSettings,
    graph_base: url::Url,
    token_url: url::Url,
    tls: TlsConnector,
    permits: Semaphore,
    /// Idle connections by origin (`host:port`).
    idle: Mutex<HashMap<String, Vec<Sender>>>,
    token: tokio::sync::Mutex<Option<(Secret, Instant)>>,
}

/// One answer, read whole (up to [`MAX_ANSWER`]).
struct Answer {
    status: u16,
    content_type: Option<String>,
    retry_after: Option<Duration>,
    body: Bytes,
    truncated: bool,
}

impl GraphClient {
    /// A client for `settings`; nothing is sent yet.
    pub fn new(settings: GraphSettings) -> Result<GraphClient, GraphError> {
        let cloud: &Cloud = &settings.credentials.cloud;
        let graph_base = match &settings.graph_base {
            Some(base) => base.clone(),
            None => url::Url::parse(&format!("https://{}/", cloud.graph_host))
                .map_err(|e| GraphError::Setup(format!("Graph host {}: {e}", cloud.graph_host)))?,
        };
        let token_url = match &settings.token_url {
            Some(url) => url.clone(),
            None => url::Url::parse(&Cloud::token_endpoint(
                &cloud.authority_host,
                &settings.credentials.tenant_id,
            ))
            .map_err(|e| GraphError::Setup(format!("token endpoint: {e}")))?,
        };
        for url in [&graph_base, &token_url] {
            if url.scheme() != "https" {
                return Err(GraphError::Setup(format!("{url} is not https")));
            }
        }
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for pem in &settings.extra_roots_pem {
            for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| GraphError::Setup(format!("trust anchor: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| GraphError::Setup(format!("trust anchor: {e}")))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| GraphError::Setup(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(GraphClient {
            inner: Arc::new(Inner {
                settings,
                graph_base,
                token_url,
                tls: TlsConnector::from(Arc::new(config)),
                permits: Semaphore::new(MAX_CONNECTIONS),
                idle: Mutex::new(HashMap::new()),
                token: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// The `value` of every page from `url` on, following `@odata.nextLink`.
    async fn pages<T: for<'de> Deserialize<'de>>(
        &self,
        first: url::Url,
        deadline: Instant,
    ) -> Result<Vec<T>, GraphError> {
        #[derive(Deserialize)]
        struct Page<T> {
            #[serde(default = "Vec::new")]
            value: Vec<T>,
            #[serde(rename = "@odata.nextLink")]
            next_link: Option<String>,
        }
        let mut seen: HashSet<String> = HashSet::new();
        let mut out = Vec::new();
        let mut url = first;
        for _ in 0..MAX_PAGES {
            seen.insert(url.to_string());
            let answer = self.get_json(&url, deadline).await?;
            let page: Page<T> =
                serde_json::from_value(answer).map_err(|e| GraphError::BadJson {
                    url: url.to_string(),
                    detail: e.to_string(),
                })?;
            out.extend(page.value);
            let Some(next) = page.next_link else {
                return Ok(out);
            };
            let next = url::Url::parse(&next).map_err(|e| GraphError::BadJson {
                url: url.to_string(),
                detail: format!("@odata.nextLink is not a URL: {e}"),
            })?;
            if next.origin() != self.inner.graph_base.origin() {
                return Err(GraphError::ForeignNextLink {
                    base: self.inner.graph_base.to_string(),
                    next: next.to_string(),
                });
            }
            if seen.contains(next.as_str()) {
                return Err(GraphError::PageLoop {
                    url: url.to_string(),
                });
            }
            url = next;
        }
        Err(GraphError::TooManyPages {
            url: url.to_string(),
            pages: MAX_PAGES,
        })
    }

    fn url(&self, path: &str) -> Result<url::Url, GraphError> {
        self.inner
            .graph_base
            .join(path)
            .map_err(|e| GraphError::Setup(format!("{path}: {e}")))
    }

    async fn get_json(
        &self,
        url: &url::Url,
        deadline: Instant,
    ) -> Result<serde_json::Value, GraphError> {
        self.call(hyper::Method::GET, url, None, deadline).await
    }

    async fn post_json(
        &self,
        url: &url::Url,
        body: &serde_json::Value,
        deadline: Instant,
    ) -> Result<serde_json::Value, GraphError> {
        self.call(
            hyper::Method::POST,
            url,
            Some(("application/json", body.to_string())),
            deadline,
        )
        .await
    }

    /// A Graph request with the token, retried after each 429 as `Retry-After` asks while
    /// `deadline` allows; the answer's JSON, or why there is none.
    async fn call(
        &self,
        method: hyper::Method,
        url: &url::Url,
        body: Option<(&'static str, String)>,
        deadline: Instant,
    ) -> Result<serde_json::Value, GraphError> {
        let mut throttled = 0u32;
        let mut waited = Duration::ZERO;
        loop {
            let token = self.token().await?;
            let answer = self
                .send(method.clone(), url, Some(&token), body.clone())
                .await?;
            if answer.status == 429 {
                throttled += 1;
                let pause = answer.retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
                if Instant::now() + pause > deadline {
                    return Err(GraphError::Throttled {
                        url: url.to_string(),
                        answers: throttled,
                        waited,
                    });
                }
                tokio::time::sleep(pause).await;
                waited += pause;
                continue;
            }
            return json_of(url, answer);
        }
    }

    /// One exchange on a pooled connection, under the connection limit and the timeout.
    async fn send(
        &self,
        method: hyper::Method,
        url: &url::Url,
        token: Option<&Secret>,
        body: Option<(&'static str, String)>,
    ) -> Result<Answer, GraphError> {
        let timeout = self.inner.settings.timeout;
        match tokio::time::timeout(timeout, self.send_now(method, url, token, body)).await {
            Ok(answer) => answer,
            Err(_) => Err(GraphError::Timeout {
                url: url.to_string(),
                after: timeout,
            }),
        }
    }

    async fn send_now(
        &self,
        method: hyper::Method,
        url: &url::Url,
        token: Option<&Secret>,
        body: Option<(&'static str, String)>,
    ) -> Result<Answer, GraphError> {
        let transport = |doing: &str, causes: Vec<String>| GraphError::Transport {
            doing: doing.to_owned(),
            url: url.to_string(),
            causes,
        };
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|e| transport("waiting for a connection to", vec![e.to_string()]))?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        let origin = format!("{host}:{port}");
        let mut sender = loop {
            match self.idle_sender(&origin) {
                // A connection whose last answer was read whole turns ready once hyper has
                // seen the end of it; one the peer closed fails here and is let go.
                Some(mut sender) => {
                    if sender.ready().await.is_ok() {
                        break sender;
                    }
                }
                None => {
                    break self
                        .open(&host, port)
                        .await
                        .map_err(|(doing, causes)| transport(&doing, causes))?;
                }
            }
        };
        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(target)
            .header(hyper::header::HOST, authority(url))
            .header(hyper::header::USER_AGENT, USER_AGENT)
            .header(hyper::header::ACCEPT, "application/json");
        if let Some(token) = token {
            let mut value =
                hyper::header::HeaderValue::try_from(format!("Bearer {}", token.expose()))
                    .map_err(|_| {
                        transport("sending", vec!["the token is not a header value".into()])
                    })?;
            value.set_sensitive(true);
            request = request.header(hyper::header::AUTHORIZATION, value);
        }
        let payload = match body {
            Some((content_type, text)) => {
                request = request.header(hyper::header::CONTENT_TYPE, content_type);
                Bytes::from(text)
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(payload))
            .map_err(|e| transport("building a request for", vec![e.to_string()]))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| transport("sending a request to", cause_chain(&e)))?;
        let (head, mut incoming) = response.into_parts();
        let mut bytes = Vec::new();
        let mut truncated = false;
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|e| transport("reading the answer of", cause_chain(&e)))?;
            if let Ok(chunk) = frame.into_data() {
                let room = MAX_ANSWER.saturating_sub(bytes.len());
                bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if chunk.len() > room {
                    truncated = true;
                    break;
                }
            }
        }
        if !truncated {
            // Read whole: the connection can carry the next request.
            self.inner
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(origin)
                .or_default()
                .push(sender);
        }
        let header = |name: hyper::header::HeaderName| {
            head.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Answer {
            status: head.status.as_u16(),
            content_type: header(hyper::header::CONTENT_TYPE),
            retry_after: header(hyper::header::RETRY_AFTER)
                .as_deref()
                .and_then(crate::observation::retry_after),
            body: Bytes::from(bytes),
            truncated,
        })
    }

    /// An idle connection to `origin` that is not closed. Taken with a permit held, so that
    /// connections open (requests in flight + idle ones) never exceed the limit: a new one is
    /// opened only when no idle one is left.
    fn idle_sender(&self, origin: &str) -> Option<Sender> {
        let mut idle = self.inner.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(origin)?;
        while let Some(sender) = list.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    /// A new connection: the pinned or system-resolved address, TLS, HTTP/1.1.
    async fn open(&self, host: &str, port: u16) -> Result<Sender, (String, Vec<String>)> {
        let pinned = self
            .inner
            .settings
            .resolve
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(host))
            .map(|(_, addr)| *addr);
        let addrs: Vec<SocketAddr> = match pinned {
            Some(addr) => vec![addr],
            None => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| (format!("resolving {host} for"), cause_chain(&e)))?
                .collect(),
        };
        let mut last = Vec::new();
        for addr in addrs {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(tcp) => {
                    let _ = tcp.set_nodelay(true);
                    let name = ServerName::try_from(host.to_owned())
                        .map_err(|e| ("naming".to_owned(), vec![e.to_string()]))?;
                    let tls = self
                        .inner
                        .tls
                        .connect(name, tcp)
                        .await
                        .map_err(|e| (format!("TLS with {addr} for"), cause_chain(&e)))?;
                    let (sender, connection) =
                        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                            .await
                            .map_err(|e| ("starting HTTP for".to_owned(), cause_chain(&e)))?;
                    // Ends when the sender is dropped or the peer closes.
                    tokio::spawn(async move {
                        let _ = connection.await;
                    });
                    return Ok(sender);
                }
                Err(e) => last = cause_chain(&e),
            }
        }
        Err((format!("connecting to {host}:{port} for"), last))
    }
}

/// `Host` for `url`: its host, and its port when not the default.
fn authority(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// A `$filter` value percent-encoded for a query string (spaces as `%20`, never `+`).
fn encode_query_value(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A string literal inside an OData filter: quotes doubled.
fn odata_quote(value: &str) -> String {
    value.replace('\'', "''")
}

/// The JSON of a 2xx answer, or the precise reason there is none.
fn json_of(url: &url::Url, answer: Answer) -> Result<serde_json::Value, GraphError> {
    let url_text = url.to_string();
    let graph_code = || {
        serde_json::from_slice::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|j| {
                let code = j.pointer("/error/code")?.as_str()?.to_owned();
                let message = j
                    .pointer("/error/message")
                    .and_then(|m| m.as_str())
                    .unwrap_or_default();
                Some((code, message.to_owned()))
            })
            .unwrap_or_else(|| (format!("HTTP {}", answer.status), excerpt(&answer.body)))
    };
    match answer.status {
        200..=299 => {}
        401 => {
            return Err(GraphError::Unauthorized {
                url: url_text,
                code: graph_code().0,
            });
        }
        403 => {
            return Err(GraphError::Forbidden {
                url: url_text,
                code: graph_code().0,
            });
        }
        status => {
            let (code, message) = graph_code();
            return Err(GraphError::Status {
                url: url_text,
                status,
                message: format!("{code}: {message}"),
            });
        }
    }
    let html = answer
        .content_type
        .as_deref()
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("text/html"))
        || answer.body.trim_ascii_start().starts_with(b"<");
    if html {
        return Err(GraphError::Html {
            url: url_text,
            status: answer.status,
            excerpt: excerpt(&answer.body),
        });
    }
    if answer.truncated {
        return Err(GraphError::TruncatedJson {
            url: url_text,
            bytes: answer.body.len(),
            detail: format!("longer than the {MAX_ANSWER} bytes the client reads"),
        });
    }
    serde_json::from_slice(&answer.body).map_err(|e| {
        if e.is_eof() {
            GraphError::TruncatedJson {
                url: url_text,
                bytes: answer.body.len(),
                detail: e.to_string(),
            }
        } else {
            GraphError::BadJson {
                url: url_text,
                detail: e.to_string(),
            }
        }
    })
}

/// What the evidence keeps of an answer's body.
fn excerpt(body: &[u8]) -> String {
    crate::observation::excerpt_within(body, EXCERPT)
}

#[cfg(test)]
mod tests {
    use super::sign_ins::*;
    use super::what_if::*;
    use super::*;

    fn location(name: &str, trusted: bool, ranges: &[&str]) -> NamedLocation {
        NamedLocation {
            id: name.into(),
            display_name: name.into(),
            is_trusted: trusted,
            ranges: ranges.iter().map(|r| r.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn every_anchor_is_checked_against_trusted_locations() {
        let locations = [
            location("Connectors", true, &["203.0.113.0/28"]),
            location("Guest", false, &["198.51.100.0/24"]),
        ];
        let anchors: Vec<IpNet> = [
            "203.0.113.5/32",
            "203.0.113.0/27",
            "198.51.100.7/32",
            "192.0.2.1/32",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        let result = check_anchors(&anchors, &locations);
        assert_eq!(
            result.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>(),
            vec![
                AnchorCoverage::Trusted {
                    location: "Connectors".into()
                },
                // A /27 is wider than the trusted /28: not every address is trusted.
                AnchorCoverage::NotCovered,
                AnchorCoverage::OnlyUntrusted {
                    locations: vec!["Guest".into()]
                },
                AnchorCoverage::NotCovered,
            ]
        );
    }

    #[test]
    fn filters_are_encoded_with_percent_twenty() {
        assert_eq!(
            encode_query_value("(id eq 'a+b')"),
            "%28id%20eq%20%27a%2Bb%27%29"
        );
        assert_eq!(odata_quote("o'brien"), "o''brien");
    }

    fn answer(status: u16, content_type: &str, body: &str) -> Answer {
        Answer {
            status,
            content_type: Some(content_type.into()),
            retry_after: None,
            body: Bytes::from(body.to_owned()),
            truncated: false,
        }
    }

    #[test]
    fn bad_answers_are_named_precisely() {
        let url = url::Url::parse("https://graph.microsoft.com/beta/auditLogs/signIns").unwrap();
        assert!(matches!(
            json_of(&url, answer(200, "text/html", "<html></html>")),
            Err(GraphError::Html { status: 200, .. })
        ));
        assert!(matches!(
            json_of(
                &url,
                answer(200, "application/json", "{\"value\": [{\"id\"")
            ),
            Err(GraphError::TruncatedJson { bytes: 16, .. })
        ));
        assert!(matches!(
            json_of(&url, answer(200, "application/json", "{\"value\": nope}")),
            Err(GraphError::BadJson { .. })
        ));
        let forbidden = json_of(
            &url,
            answer(
                403,
                "application/json",
                r#"{"error":{"code":"Authorization_RequestDenied"}}"#,
            ),
        )
        .unwrap_err();
        // The permissions are named by the verdict, per read; the error names the answer.
        let text = forbidden.to_string();
        assert!(
            text.contains("403") && text.contains("Authorization_RequestDenied"),
            "{text}"
        );
        assert_eq!(
            forbidden.brief(),
            "Graph answered 403 (Authorization_RequestDenied)"
        );
    }

    #[test]
    fn urls_are_shown_without_their_query() {
        assert_eq!(
            short_url("https://graph.microsoft.com/beta/auditLogs/signIns?$filter=x%20eq%20y"),
            "https://graph.microsoft.com/beta/auditLogs/signIns?…"
        );
        assert_eq!(short_url("https://g/v1.0/x"), "https://g/v1.0/x");
        let error = GraphError::Forbidden {
            url: format!(
                "https://g/beta/auditLogs/signIns?$filter={}",
                "a".repeat(480)
            ),
            code: "Authorization_RequestDenied".into(),
        };
        assert!(!error.to_string().contains("aaaa"), "{error}");
    }

    #[test]
    fn a_record_without_ip_address_is_an_error() {
        let raw: RawSignIn = serde_json::from_str(r#"{"id":"r-1","correlationId":"c-1"}"#).unwrap();
        assert_eq!(
            record(&raw),
            Err(GraphError::MissingIpAddress {
                id: "r-1".into(),
                correlation_id: "c-1".into()
            })
        );
        let raw: RawSignIn =
            serde_json::from_str(r#"{"id":"r-1","correlationId":"c-1","ipAddress":"x"}"#).unwrap();
        assert!(matches!(record(&raw), Err(GraphError::BadIpAddress { .. })));
    }

    #[test]
    fn what_if_answers_of_the_wrong_shape_are_named() {
        let url =
            url::Url::parse("https://graph.microsoft.com/beta/identity/conditionalAccess/evaluate")
                .unwrap();
        let policies = |answer: serde_json::Value| {
            what_if_results(&url, answer).and_then(|(raw, _)| {
                raw.into_iter()
                    .enumerate()
                    .map(|(i, p)| what_if_policy(&url, i, p))
                    .collect::<Result<Vec<_>, _>>()
            })
        };
        let error = policies(serde_json::json!({"error": "nope"})).unwrap_err();
        assert!(error.to_string().contains("no `value`"), "{error}");
        let error = policies(serde_json::json!({"value": [{"id": "p1"}]})).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("p1 has no boolean `policyApplies`"),
            "{error}"
        );
        let error = policies(serde_json::json!({"value": [{"policyApplies": true}]})).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("policy 1 of `value` has no `id`")
        );
        let error = policies(serde_json::json!({"value": {"id": "p1"}})).unwrap_err();
        assert!(matches!(error, GraphError::BadJson { .. }), "{error:?}");
        let error = policies(serde_json::json!({"value": [],
            "@odata.nextLink": "https://elsewhere.example/next"}))
        .unwrap_err();
        assert!(
            matches!(error, GraphError::ForeignNextLink { .. }),
            "{error:?}"
        );
        // The documented shape, and reasons as a flags string or a list.
        let found = policies(serde_json::json!({"value": [
            {"id": "p1", "displayName": "Block outside", "state": "enabled",
             "policyApplies": false, "analysisReasons": "location,users"},
            {"id": "p2", "policyApplies": true, "analysisReasons": "notSet",
             "state": "enabledForReportingButNotEnforced"},
            {"id": "p3", "policyApplies": false, "analysisReasons": ["location"]},
        ]}))
        .unwrap();
        assert_eq!(found[0].reasons(), vec!["location", "users"]);
        assert!(found[0].not_applied_for_location() && found[0].enforced());
        assert!(found[1].reasons().is_empty() && !found[1].enforced());
        assert_eq!(found[1].display_name, "p2");
        assert!(found[2].not_applied_for_location());
    }

    #[test]
    fn not_ingested_says_how_long_and_why() {
        let text = SignInLookup::not_ingested_message(Duration::from_secs(1200));
        assert!(
            text.starts_with("not in the sign-in log after 20m"),
            "{text}"
        );
        assert!(text.ends_with("ingestion can take 5-30 min"), "{text}");
    }
}
