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
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;

use super::{Cloud, EntraCredentials, Secret};
pub use crate::observation::WhatIfRequest;
use crate::observation::cause_chain;

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

/// Why Graph could not answer a question. No variant holds a token or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// The settings cannot be used (a bad URL or trust anchor).
    #[error("Graph client set-up: {0}")]
    Setup(String),
    /// No connection, or the exchange failed.
    #[error("{doing} {short}: {}", causes.join(": "), short = short_url(url))]
    Transport {
        doing: String,
        url: String,
        causes: Vec<String>,
    },
    /// No answer within the per-request timeout.
    #[error("no answer from {short} within {after:?}", short = short_url(url))]
    Timeout { url: String, after: Duration },
    /// The app-only token for Graph was refused.
    #[error("no Graph token from {short}: {meaning}", short = short_url(url))]
    Token {
        url: String,
        /// Why, as a fact the verdict decides on.
        refusal: TokenRefusal,
        meaning: String,
    },
    /// 401: the token is not accepted.
    #[error(
        "Graph answered 401 to {short}: the app's token is not accepted ({code})",
        short = short_url(url)
    )]
    Unauthorized { url: String, code: String },
    /// 403: the app lacks the permissions, or the tenant lacks the licence.
    #[error(
        "Graph answered 403 to {short} ({code}): the app lacks the application permission \
         this read needs (with admin consent), or the tenant the licence",
        short = short_url(url)
    )]
    Forbidden { url: String, code: String },
    /// 429 until the wait ran out.
    #[error(
        "Graph throttled {short} (429) {answers} time(s); gave up after {waited:?} of waiting \
         as Retry-After asked",
        short = short_url(url)
    )]
    Throttled {
        url: String,
        answers: u32,
        waited: Duration,
    },
    /// Another unexpected status.
    #[error("Graph answered {status} to {short}: {message}", short = short_url(url))]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    /// An HTML page where JSON was expected.
    #[error(
        "Graph answered {short} with an HTML page ({status}), not JSON: a proxy or captive \
         portal in the way? {excerpt}",
        short = short_url(url)
    )]
    Html {
        url: String,
        status: u16,
        excerpt: String,
    },
    /// JSON that ends too early.
    #[error(
        "the answer of {short} is truncated JSON: it ends after {bytes} bytes ({detail})",
        short = short_url(url)
    )]
    TruncatedJson {
        url: String,
        bytes: usize,
        detail: String,
    },
    /// Not JSON, or JSON of another shape.
    #[error("the answer of {short} is not the expected JSON: {detail}", short = short_url(url))]
    BadJson { url: String, detail: String },
    /// A sign-in record without `ipAddress`.
    #[error("sign-in record {id} (correlation id {correlation_id}) has no ipAddress")]
    MissingIpAddress { id: String, correlation_id: String },
    /// A sign-in record whose `ipAddress` is not an address.
    #[error("sign-in record {id} has an ipAddress that is not an IP address: {given:?}")]
    BadIpAddress { id: String, given: String },
    /// `@odata.nextLink` points back at a page already read.
    #[error(
        "page loop: @odata.nextLink of {short} points back at a page already read",
        short = short_url(url)
    )]
    PageLoop { url: String },
    /// More pages than [`MAX_PAGES`].
    #[error("more than {pages} pages from {short}: stopped", short = short_url(url))]
    TooManyPages { url: String, pages: usize },
    /// `@odata.nextLink` leads away from Graph: the token is not sent there.
    #[error("@odata.nextLink {next} leads away from {base}: not followed")]
    ForeignNextLink { base: String, next: String },
    /// What If refused every request it was sent (400 or 404), each refusal named by the
    /// request ([`WhatIfRequest`]) and Graph's message.
    #[error(
        "Conditional Access What If is unavailable: every request was refused: {}",
        refusals.join("; ")
    )]
    WhatIfUnavailable { refusals: Vec<String> },
}

impl GraphError {
    /// The error without its URL, for a line under a diagnosis that names it once.
    pub fn brief(&self) -> String {
        match self {
            GraphError::Unauthorized { code, .. } => format!("Graph answered 401 ({code})"),
            GraphError::Forbidden { code, .. } => format!("Graph answered 403 ({code})"),
            GraphError::Token { meaning, .. } => format!("no Graph token: {meaning}"),
            other => other.to_string(),
        }
    }
}

/// Why Entra issued no Graph token, as the verdict decides on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Conditional Access blocked it (AADSTS53003): Graph's own route is not a trusted
    /// location, and no token was issued through the path under test.
    ConditionalAccess { policy_ids: Vec<String> },
    /// Entra refused the app's credentials or tenant (another AADSTS code).
    Credentials { code: Option<u64> },
    /// No answer of Entra's: a page of another kind, a broken exchange, a form not built.
    Other,
}

/// A URL as an error shows it: without its query (a sign-in lookup's `$filter` runs to
/// hundreds of characters), which is marked `?…`.
pub fn short_url(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_owned(),
    }
}

/// A sign-in whose record the lookup waits for: its correlation id and, for the fallback, the
/// `x-ms-request-id` the login host answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    pub correlation_id: String,
    pub request_id: Option<String>,
}

/// What the sign-in log says about one correlation id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum SignInLookup {
    /// The record, with the IP Conditional Access evaluated.
    Found(SignInRecord),
    /// Not in the log after `waited`: inconclusive, never a pass.
    NotYetIngested {
        #[serde(with = "crate::observation::ms", rename = "waited_ms")]
        waited: Duration,
    },
    /// The log could not be read: why.
    Failed {
        #[serde(serialize_with = "display")]
        error: GraphError,
    },
}

impl SignInLookup {
    /// The report's words for a lookup that found nothing yet.
    pub fn not_ingested_message(waited: Duration) -> String {
        format!(
            "not in the sign-in log after {}: ingestion can take 5-30 min",
            humantime::format_duration(Duration::from_secs(waited.as_secs()))
        )
    }
}

fn display<S: serde::Serializer>(error: &GraphError, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&error.to_string())
}

/// The fields of a sign-in record the harness judges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SignInRecord {
    /// The IP Entra saw and Conditional Access evaluated.
    pub ip_address: IpAddr,
    /// `createdDateTime`, as Graph wrote it.
    pub created: String,
    pub correlation_id: String,
    pub id: String,
    /// `status.errorCode`: 0 for success, 53003 for a Conditional Access block, …
    pub status_code: i64,
    /// `conditionalAccessStatus`: success, failure, notApplied.
    pub conditional_access_status: String,
    pub applied_policies: Vec<AppliedPolicy>,
    pub network_location_details: Vec<NetworkLocationDetail>,
    /// `servicePrincipalId`: the object id of the app's service principal that signed in
    /// (the older What If shapes' subject when Graph will not name it otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_principal_id: Option<String>,
}

/// One `appliedConditionalAccessPolicies` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AppliedPolicy {
    pub id: String,
    pub display_name: String,
    pub result: String,
}

/// One `networkLocationDetails` entry: which named location matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct NetworkLocationDetail {
    pub network_type: String,
    pub network_names: Vec<String>,
}

/// An IP named location of Conditional Access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedLocation {
    pub id: String,
    pub display_name: String,
    pub is_trusted: bool,
    pub ranges: Vec<IpNet>,
}

/// Whether one anchor IP/CIDR lies in a trusted IP named location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum AnchorCoverage {
    /// Inside this trusted location's ranges.
    Trusted { location: String },
    /// Only inside locations that are not marked trusted.
    OnlyUntrusted { locations: Vec<String> },
    /// In no IP named location at all.
    NotCovered,
}

/// What Conditional Access would do with one policy for a sign-in from one IP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WhatIfPolicy {
    pub id: String,
    pub display_name: String,
    /// `enabled`, `enabledForReportingButNotEnforced` (report-only) or `disabled`; empty when
    /// Graph left it out.
    pub state: String,
    /// Whether the policy applies to the sign-in.
    pub applies: bool,
    /// Why it does not (`location`, `users`, …; `notSet` when it applies), as Graph said: a
    /// flags enum, several members joined by commas.
    pub analysis_reasons: String,
}

impl WhatIfPolicy {
    /// The members of `analysisReasons`, without `notSet`.
    pub fn reasons(&self) -> Vec<&str> {
        self.analysis_reasons
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty() && *r != "notSet")
            .collect()
    }

    /// Whether the location condition is among the reasons it does not apply.
    pub fn not_applied_for_location(&self) -> bool {
        !self.applies && self.reasons().contains(&"location")
    }

    /// Whether Conditional Access enforces it (`enabled`, or a state Graph did not give):
    /// report-only and disabled policies change no sign-in.
    pub fn enforced(&self) -> bool {
        !matches!(
            self.state.as_str(),
            "enabledForReportingButNotEnforced" | "disabled"
        )
    }
}

/// The sign-in What If evaluates: the probe app's service principal, asking for a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatIfSubject {
    /// The probe app's `appId` (client id): `servicePrincipalId` of the documented
    /// `servicePrincipalSignIn` subject, as Microsoft documents it.
    pub app_id: String,
    /// The object id of the app's service principal, for the older request shapes only; they
    /// are not tried without it.
    pub object_id: Option<String>,
    /// The resource the sign-in asks for (`includeApplications`).
    pub resource_app_id: String,
}

/// Every anchor checked against the named locations: pure, so the verdict can be tested.
pub fn check_anchors(
    anchors: &[IpNet],
    locations: &[NamedLocation],
) -> Vec<(IpNet, AnchorCoverage)> {
    anchors
        .iter()
        .map(|anchor| {
            let holding: Vec<&NamedLocation> = locations
                .iter()
                .filter(|l| l.ranges.iter().any(|range| contains(range, anchor)))
                .collect();
            let coverage = match holding.iter().find(|l| l.is_trusted) {
                Some(trusted) => AnchorCoverage::Trusted {
                    location: trusted.display_name.clone(),
                },
                None if holding.is_empty() => AnchorCoverage::NotCovered,
                None => AnchorCoverage::OnlyUntrusted {
                    locations: holding.iter().map(|l| l.display_name.clone()).collect(),
                },
            };
            (*anchor, coverage)
        })
        .collect()
}

/// Whether `range` holds every address of `anchor`.
fn contains(range: &IpNet, anchor: &IpNet) -> bool {
    range.contains(&anchor.network()) && range.contains(&anchor.broadcast())
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

    /// Looks every pending sign-in up, polling until all are found or `wait` has passed
    /// (`Duration::ZERO`: one round). One request per round covers every pending correlation
    /// id; those still missing are then asked for by `x-ms-request-id`. Rounds are spaced from
    /// the first poll interval, doubling, up to one every 30 s. Returns one result per pending
    /// sign-in, in the order given.
    pub async fn find_sign_ins(
        &self,
        pending: &[PendingSignIn],
        wait: Duration,
    ) -> Vec<(String, SignInLookup)> {
        let started = Instant::now();
        let deadline = started + wait;
        let mut found: HashMap<String, SignInLookup> = HashMap::new();
        let mut interval = self.inner.settings.first_poll_interval;
        loop {
            let missing: Vec<&PendingSignIn> = pending
                .iter()
                .filter(|p| !found.contains_key(&p.correlation_id))
                .collect();
            if missing.is_empty() {
                break;
            }
            if let Err(error) = self.round(&missing, &mut found, deadline).await {
                for p in &missing {
                    found.insert(
                        p.correlation_id.clone(),
                        SignInLookup::Failed {
                            error: error.clone(),
                        },
                    );
                }
                break;
            }
            let now = Instant::now();
            if now >= deadline
                || pending
                    .iter()
                    .all(|p| found.contains_key(&p.correlation_id))
            {
                break;
            }
            tokio::time::sleep(interval.min(deadline - now)).await;
            interval = (interval * 2).min(MAX_POLL_INTERVAL);
        }
        let waited = started.elapsed();
        pending
            .iter()
            .map(|p| {
                let result = found
                    .remove(&p.correlation_id)
                    .unwrap_or(SignInLookup::NotYetIngested { waited });
                (p.correlation_id.clone(), result)
            })
            .collect()
    }

    /// One poll round: by correlation id, then by request id for those not found.
    async fn round(
        &self,
        missing: &[&PendingSignIn],
        found: &mut HashMap<String, SignInLookup>,
        deadline: Instant,
    ) -> Result<(), GraphError> {
        let terms: Vec<String> = missing
            .iter()
            .map(|p| format!("correlationId eq '{}'", odata_quote(&p.correlation_id)))
            .collect();
        let records = self.sign_ins(&terms, deadline).await?;
        for p in missing {
            if let Some(raw) = records
                .iter()
                .find(|r| r.correlation_id.as_deref() == Some(&p.correlation_id))
            {
                found.insert(p.correlation_id.clone(), record(raw)?);
            }
        }
        let by_id: Vec<(&PendingSignIn, &str)> = missing
            .iter()
            .filter(|p| !found.contains_key(&p.correlation_id))
            .filter_map(|p| p.request_id.as_deref().map(|id| (*p, id)))
            .collect();
        if by_id.is_empty() {
            return Ok(());
        }
        let terms: Vec<String> = by_id
            .iter()
            .map(|(_, id)| format!("id eq '{}'", odata_quote(id)))
            .collect();
        let records = self.sign_ins(&terms, deadline).await?;
        for (p, id) in by_id {
            if let Some(raw) = records.iter().find(|r| r.id.as_deref() == Some(id)) {
                found.insert(p.correlation_id.clone(), record(raw)?);
            }
        }
        Ok(())
    }

    /// Every service-principal sign-in matching any of `terms`, all pages.
    async fn sign_ins(
        &self,
        terms: &[String],
        deadline: Instant,
    ) -> Result<Vec<RawSignIn>, GraphError> {
        let filter = format!(
            "({}) and signInEventTypes/any(t: t eq 'servicePrincipal')",
            terms.join(" or ")
        );
        let mut url = self.url("beta/auditLogs/signIns")?;
        url.set_query(Some(&format!(
            "$filter={}&$top=1000",
            encode_query_value(&filter)
        )));
        self.pages(url, deadline).await
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

    /// The tenant's IP named locations (other kinds are left out).
    pub async fn named_locations(&self) -> Result<Vec<NamedLocation>, GraphError> {
        #[derive(Deserialize)]
        struct RawRange {
            #[serde(rename = "cidrAddress")]
            cidr_address: Option<String>,
        }
        #[derive(Deserialize)]
        struct RawLocation {
            #[serde(rename = "@odata.type", default)]
            kind: String,
            #[serde(default)]
            id: String,
            #[serde(rename = "displayName", default)]
            display_name: String,
            #[serde(rename = "isTrusted", default)]
            is_trusted: bool,
            #[serde(rename = "ipRanges", default)]
            ip_ranges: Vec<RawRange>,
        }
        let url = self.url("v1.0/identity/conditionalAccess/namedLocations")?;
        let deadline = Instant::now() + self.inner.settings.timeout;
        let raw: Vec<RawLocation> = self.pages(url.clone(), deadline).await?;
        raw.into_iter()
            .filter(|l| l.kind == "#microsoft.graph.ipNamedLocation")
            .map(|l| {
                let ranges = l
                    .ip_ranges
                    .iter()
                    .filter_map(|r| r.cidr_address.as_deref())
                    .map(|cidr| {
                        cidr.parse::<IpNet>().map_err(|e| GraphError::BadJson {
                            url: url.to_string(),
                            detail: format!(
                                "named location {} has a range {cidr:?} that is not a CIDR: {e}",
                                l.display_name
                            ),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(NamedLocation {
                    id: l.id,
                    display_name: l.display_name,
                    is_trusted: l.is_trusted,
                    ranges,
                })
            })
            .collect()
    }

    /// The object id of the service principal of the app `client_id` in this tenant
    /// (`GET /v1.0/servicePrincipals(appId='…')`): the subject of the older What If shapes.
    pub async fn service_principal_id(&self, client_id: &str) -> Result<String, GraphError> {
        #[derive(Deserialize)]
        struct RawServicePrincipal {
            id: Option<String>,
        }
        let mut url = self.url(&format!(
            "v1.0/servicePrincipals(appId='{}')",
            odata_quote(client_id)
        ))?;
        url.set_query(Some("$select=id,appId,displayName"));
        let deadline = Instant::now() + self.inner.settings.timeout;
        let answer = self.get_json(&url, deadline).await?;
        let raw: RawServicePrincipal =
            serde_json::from_value(answer).map_err(|e| GraphError::BadJson {
                url: url.to_string(),
                detail: e.to_string(),
            })?;
        raw.id
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| GraphError::BadJson {
                url: url.to_string(),
                detail: "the service principal has no `id`".into(),
            })
    }

    /// What If for a sign-in of `subject` from `ip`, as Microsoft documents it first:
    /// `POST /v1.0/identity/conditionalAccess/evaluate` with a `servicePrincipalSignIn`
    /// subject whose `servicePrincipalId` is the app id; then the same on `/beta`; then, only
    /// with the service principal's object id, the `servicePrincipalSubject` and the older
    /// `conditionalAccessWhatIfSubject` shapes on `/beta`. A 400 or 404 moves on to the next;
    /// a refusal of all of them is [`GraphError::WhatIfUnavailable`]. Returns the request that
    /// was answered and its policies. Every policy of the answer must say whether it applies:
    /// an answer without `value`, or a policy without `id` or `policyApplies`, is
    /// [`GraphError::BadJson`].
    pub async fn what_if(
        &self,
        subject: &WhatIfSubject,
        ip: IpAddr,
    ) -> Result<(WhatIfRequest, Vec<WhatIfPolicy>), GraphError> {
        let v1 = self.url("v1.0/identity/conditionalAccess/evaluate")?;
        let beta = self.url("beta/identity/conditionalAccess/evaluate")?;
        let deadline = Instant::now() + self.inner.settings.timeout;
        let sign_in = |identity_type: &str, id: &str| {
            serde_json::json!({
                "signInIdentity": {"@odata.type": identity_type, "servicePrincipalId": id},
                "signInContext": {"@odata.type": "#microsoft.graph.applicationContext",
                    "includeApplications": [subject.resource_app_id]},
                "signInConditions": {"ipAddress": ip.to_string()},
                "appliedPoliciesOnly": false,
            })
        };
        let documented = sign_in("#microsoft.graph.servicePrincipalSignIn", &subject.app_id);
        let mut requests = vec![
            (WhatIfRequest::DocumentedV1, &v1, documented.clone()),
            (WhatIfRequest::DocumentedBeta, &beta, documented),
        ];
        if let Some(object_id) = &subject.object_id {
            requests.push((
                WhatIfRequest::SubjectShapeBeta,
                &beta,
                sign_in("#microsoft.graph.servicePrincipalSubject", object_id),
            ));
            requests.push((
                WhatIfRequest::OlderShapeBeta,
                &beta,
                serde_json::json!({
                    "conditionalAccessWhatIfSubject": {"@odata.type": "#microsoft.graph.servicePrincipalSubject",
                        "servicePrincipalId": object_id},
                    "conditionalAccessContext": {"@odata.type": "#microsoft.graph.whatIfApplicationContext",
                        "includeApplications": [subject.resource_app_id]},
                    "conditionalAccessWhatIfConditions": {"ipAddress": ip.to_string()},
                    "appliedPoliciesOnly": false,
                }),
            ));
        }
        let mut refusals: Vec<String> = Vec::new();
        for (request, url, body) in requests {
            match self.post_json(url, &body, deadline).await {
                Err(GraphError::Status {
                    status: status @ (400 | 404),
                    message,
                    ..
                }) => refusals.push(format!("{request}: {status} {message}")),
                answer => {
                    let (mut raw, next) = what_if_results(url, answer?)?;
                    if let Some(next) = next {
                        raw.extend(self.pages::<RawWhatIfPolicy>(next, deadline).await?);
                    }
                    let policies = raw
                        .into_iter()
                        .enumerate()
                        .map(|(i, p)| what_if_policy(url, i, p))
                        .collect::<Result<Vec<_>, _>>()?;
                    return Ok((request, policies));
                }
            }
        }
        Err(GraphError::WhatIfUnavailable { refusals })
    }

    /// What If for every IP, at most [`MAX_CONNECTIONS`] requests at once (the connection
    /// limit holds anyway; this keeps the rest from queueing on it): the policies per IP, in
    /// the order given.
    pub async fn what_if_each(
        &self,
        subject: &WhatIfSubject,
        ips: &[IpAddr],
    ) -> Vec<(
        IpAddr,
        Result<(WhatIfRequest, Vec<WhatIfPolicy>), GraphError>,
    )> {
        use futures::stream::StreamExt;
        futures::stream::iter(ips.iter().copied())
            .map(|ip| async move { (ip, self.what_if(subject, ip).await) })
            .buffered(MAX_CONNECTIONS)
            .collect()
            .await
    }

    fn url(&self, path: &str) -> Result<url::Url, GraphError> {
        self.inner
            .graph_base
            .join(path)
            .map_err(|e| GraphError::Setup(format!("{path}: {e}")))
    }

    /// A Graph token, cached until five minutes before it expires.
    async fn token(&self) -> Result<Secret, GraphError> {
        let mut cached = self.inner.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let url = self.inner.token_url.clone();
        let credentials = &self.inner.settings.credentials;
        let form = credentials
            .token_form(
                url.as_str(),
                &credentials.cloud.graph_scope(),
                &uuid::Uuid::new_v4().to_string(),
            )
            .map_err(|e| GraphError::Token {
                url: url.to_string(),
                refusal: TokenRefusal::Other,
                meaning: cause_chain(&e).join(": "),
            })?;
        let answer = self
            .send(
                hyper::Method::POST,
                &url,
                None,
                Some((
                    "application/x-www-form-urlencoded",
                    form.expose().to_owned(),
                )),
            )
            .await?;
        let json: serde_json::Value =
            serde_json::from_slice(&answer.body).unwrap_or(serde_json::Value::Null);
        let issued =
            crate::probe::token::IssuedToken::from_answer(&json).filter(|_| answer.status == 200);
        let Some(issued) = issued else {
            let outcome = crate::probe::token::judge(
                answer.status,
                answer.content_type.clone(),
                &answer.body,
                answer.truncated,
            );
            let refusal = match &outcome {
                crate::probe::token::TokenOutcome::Blocked { policy_ids } => {
                    TokenRefusal::ConditionalAccess {
                        policy_ids: policy_ids.clone(),
                    }
                }
                crate::probe::token::TokenOutcome::Rejected { code, .. } => {
                    TokenRefusal::Credentials { code: *code }
                }
                _ => TokenRefusal::Other,
            };
            return Err(GraphError::Token {
                url: url.to_string(),
                refusal,
                meaning: token_meaning(&outcome, answer.status),
            });
        };
        *cached = Some((issued.token.clone(), issued.usable_until));
        Ok(issued.token)
    }

    /// Reads Graph with `issued` (until it is no longer usable) instead of asking the token
    /// endpoint on Graph's own route: a token asked for through the path under test, which
    /// Conditional Access trusts where it may refuse Graph's own route.
    pub async fn use_token(&self, issued: crate::probe::token::IssuedToken) {
        *self.inner.token.lock().await = Some((issued.token, issued.usable_until));
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
                .and_then(|s| s.trim().trim_end_matches('s').parse::<u64>().ok())
                .map(Duration::from_secs),
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

/// The words for a refused Graph token.
fn token_meaning(outcome: &crate::probe::token::TokenOutcome, status: u16) -> String {
    use crate::probe::token::TokenOutcome;
    match outcome {
        TokenOutcome::Rejected { meaning, .. } => meaning.clone(),
        TokenOutcome::Blocked { policy_ids } => format!(
            "Conditional Access blocked the Graph token (policies {})",
            policy_ids.join(", ")
        ),
        TokenOutcome::NotJson { excerpt, .. } => {
            format!("a {status} answer that is not JSON: {excerpt}")
        }
        TokenOutcome::Failed { causes } => causes.join(": "),
        other => format!("{other:?}"),
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
    crate::probe::http::excerpt_within(body, EXCERPT)
}

/// One `whatIfAnalysisResult` as read: everything optional, judged by [`what_if_policy`].
#[derive(Debug, Deserialize)]
struct RawWhatIfPolicy {
    id: Option<String>,
    #[serde(rename = "displayName", default)]
    display_name: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(rename = "policyApplies")]
    policy_applies: Option<bool>,
    #[serde(rename = "analysisReasons", default)]
    analysis_reasons: Option<serde_json::Value>,
}

/// What If's answer: its policies and the next page, if Graph gave one (on this origin); no
/// `value` is an error.
fn what_if_results(
    url: &url::Url,
    answer: serde_json::Value,
) -> Result<(Vec<RawWhatIfPolicy>, Option<url::Url>), GraphError> {
    #[derive(Deserialize)]
    struct Results {
        value: Option<Vec<RawWhatIfPolicy>>,
        #[serde(rename = "@odata.nextLink")]
        next_link: Option<String>,
    }
    let bad = |detail: String| GraphError::BadJson {
        url: url.to_string(),
        detail,
    };
    let results: Results = serde_json::from_value(answer).map_err(|e| bad(e.to_string()))?;
    let Some(value) = results.value else {
        return Err(bad(
            "no `value`: What If answers a collection of whatIfAnalysisResult".into(),
        ));
    };
    let next = match results.next_link {
        None => None,
        Some(next) => {
            let next = url::Url::parse(&next)
                .map_err(|e| bad(format!("@odata.nextLink is not a URL: {e}")))?;
            if next.origin() != url.origin() {
                return Err(GraphError::ForeignNextLink {
                    base: url.to_string(),
                    next: next.to_string(),
                });
            }
            Some(next)
        }
    };
    Ok((value, next))
}

/// The `index`th policy of What If's answer, or what it lacks: every policy must have an `id`
/// and say whether it applies.
fn what_if_policy(
    url: &url::Url,
    index: usize,
    p: RawWhatIfPolicy,
) -> Result<WhatIfPolicy, GraphError> {
    let bad = |detail: String| GraphError::BadJson {
        url: url.to_string(),
        detail,
    };
    let id =
        p.id.filter(|id| !id.is_empty())
            .ok_or_else(|| bad(format!("policy {} of `value` has no `id`", index + 1)))?;
    let applies = p
        .policy_applies
        .ok_or_else(|| bad(format!("policy {id} has no boolean `policyApplies`")))?;
    let analysis_reasons = match p.analysis_reasons {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s,
        // A flags enum may come as a list of its members.
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                bad(format!(
                    "policy {id} has `analysisReasons` that are not text"
                ))
            })?
            .join(","),
        Some(other) => {
            return Err(bad(format!(
                "policy {id} has `analysisReasons` {other} that are not text"
            )));
        }
    };
    Ok(WhatIfPolicy {
        display_name: p.display_name.unwrap_or_else(|| id.clone()),
        id,
        state: p.state.unwrap_or_default(),
        applies,
        analysis_reasons,
    })
}

/// A beta `signIn` as read: everything optional, judged by [`record`].
#[derive(Debug, Deserialize)]
struct RawSignIn {
    id: Option<String>,
    #[serde(rename = "createdDateTime")]
    created: Option<String>,
    #[serde(rename = "correlationId")]
    correlation_id: Option<String>,
    #[serde(rename = "ipAddress")]
    ip_address: Option<String>,
    #[serde(rename = "servicePrincipalId", default)]
    service_principal_id: Option<String>,
    status: Option<RawStatus>,
    #[serde(rename = "conditionalAccessStatus")]
    conditional_access_status: Option<String>,
    #[serde(rename = "appliedConditionalAccessPolicies", default)]
    applied: Vec<RawApplied>,
    #[serde(rename = "networkLocationDetails", default)]
    network: Vec<RawNetwork>,
}

#[derive(Debug, Deserialize)]
struct RawStatus {
    #[serde(rename = "errorCode")]
    error_code: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct RawApplied {
    id: Option<String>,
    #[serde(rename = "displayName")]
    display_name: Option<String>,
    result: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawNetwork {
    #[serde(rename = "networkType")]
    network_type: Option<String>,
    #[serde(rename = "networkNames", default)]
    network_names: Vec<String>,
}

/// A record the harness can judge, or why not.
fn record(raw: &RawSignIn) -> Result<SignInLookup, GraphError> {
    let id = raw.id.clone().unwrap_or_default();
    let correlation_id = raw.correlation_id.clone().unwrap_or_default();
    let Some(given) = raw.ip_address.as_deref().filter(|ip| !ip.is_empty()) else {
        return Err(GraphError::MissingIpAddress { id, correlation_id });
    };
    let ip_address = given
        .parse::<IpAddr>()
        .map_err(|_| GraphError::BadIpAddress {
            id: id.clone(),
            given: given.to_owned(),
        })?;
    Ok(SignInLookup::Found(SignInRecord {
        ip_address,
        created: raw.created.clone().unwrap_or_default(),
        correlation_id,
        id,
        status_code: raw.status.as_ref().and_then(|s| s.error_code).unwrap_or(0),
        conditional_access_status: raw.conditional_access_status.clone().unwrap_or_default(),
        applied_policies: raw
            .applied
            .iter()
            .map(|p| AppliedPolicy {
                id: p.id.clone().unwrap_or_default(),
                display_name: p.display_name.clone().unwrap_or_default(),
                result: p.result.clone().unwrap_or_default(),
            })
            .collect(),
        network_location_details: raw
            .network
            .iter()
            .map(|n| NetworkLocationDetail {
                network_type: n.network_type.clone().unwrap_or_default(),
                network_names: n.network_names.clone(),
            })
            .collect(),
        service_principal_id: raw
            .service_principal_id
            .clone()
            .filter(|id| !id.trim().is_empty()),
    }))
}

#[cfg(test)]
mod tests {
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
