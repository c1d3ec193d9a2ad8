//! What Entra ID and Microsoft Graph answered, as plain data: the token request's outcome,
//! the sign-in log's record, the named locations and What If's answers, and why Graph could not
//! answer. The token probe and the Graph client fill these in; the verdict judges them. Nothing
//! here does I/O.

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use ipnet::IpNet;
use serde::Serialize;

use super::connection::{ConnectObservation, Cut, TlsObservation};

/// A token request through a login host (its credentials and token never kept), joined to
/// what Entra's sign-in log says about its `client-request-id`.
#[derive(Debug, Clone, Serialize)]
pub struct EntraObservation {
    pub token: TokenObservation,
    pub log: SignInLog,
}

/// What shows that a Conditional Access policy refuses the probe app outside the trusted
/// locations. Without it a token issued through a login host proves only that a token was
/// issued: with no such policy, Entra issues one wherever the request comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum CaPolicyProof {
    /// A vantage outside the trusted locations (`expect_anchored = false`) of the same run was
    /// refused a token (AADSTS53003).
    Control {
        /// The vantage that was refused.
        vantage: String,
        /// The login host the refused request went through.
        host: String,
        /// The policies Entra named (`capolids`).
        policy_ids: Vec<String>,
    },
}

impl std::fmt::Display for CaPolicyProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaPolicyProof::Control {
                vantage,
                host,
                policy_ids,
            } => {
                write!(
                    f,
                    "vantage `{vantage}`, outside them, was refused through {host} (AADSTS53003"
                )?;
                if !policy_ids.is_empty() {
                    write!(f, ", policy {}", policy_ids.join(", "))?;
                }
                f.write_str(")")
            }
        }
    }
}

/// Whether, and how, the run read the sign-in back from Entra's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "log", rename_all = "snake_case")]
pub enum SignInLog {
    /// Not looked up: Entra did not answer the token request as a sign-in (or the lookup has
    /// not happened yet).
    NotAsked,
    /// The lookup's result.
    Looked { lookup: SignInLookup },
    /// The run was cut short before the log was read.
    Cut { by: Cut },
}

impl EntraObservation {
    /// Whether Entra answered with a sign-in worth looking up: a token issued or blocked.
    pub fn signed_in(&self) -> bool {
        matches!(
            self.token.outcome,
            TokenOutcome::Issued | TokenOutcome::Blocked { .. }
        )
    }
}

/// What Graph said about the tenant's IP named locations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum NamedLocationsObservation {
    /// Not read yet (the runner reads them after the probes).
    NotAsked,
    /// The IP named locations, and where each anchor lies among them.
    Read {
        locations: Vec<NamedLocation>,
        anchors: Vec<AnchorInLocations>,
    },
    /// Graph could not answer.
    Failed {
        #[serde(serialize_with = "graph_error")]
        error: GraphError,
    },
    /// The run was cut short before they were read.
    Cut { by: Cut },
}

/// One anchor IP or CIDR, and the named locations that hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnchorInLocations {
    pub anchor: ipnet::IpNet,
    pub coverage: AnchorCoverage,
}

fn graph_error<S: serde::Serializer>(e: &GraphError, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&e.to_string())
}

/// What Conditional Access's What If says about a sign-in of the probe app from each anchor
/// IP and from a non-anchor (control) IP: the evidence that anchoring changes its decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum WhatIfObservation {
    /// Not asked yet (the runner asks after the probes, once the control's IP is known).
    NotAsked,
    /// No IP outside the anchor set to compare with: the control observers revealed none (those
    /// they revealed, if any, lie inside the anchor set) and `[entra] what_if_control_ip` is
    /// not set.
    NoControlIp {
        /// The control observers of the scenario.
        observers: Vec<String>,
        /// Addresses they revealed inside the anchor set.
        inside_anchor_set: Vec<IpAddr>,
    },
    /// What If refused the documented request (the app id as subject), and the older request
    /// shapes need the object id of the probe app's service principal, which neither Graph
    /// nor the run's sign-ins named (`error`: why Graph did not). `sipa-check complete` asks
    /// again once the sign-ins it finds carry `servicePrincipalId`.
    NoSubject {
        client_id: String,
        #[serde(serialize_with = "graph_error")]
        error: GraphError,
        /// What If's refusal of the documented request, and what was asked, for `complete`
        /// to ask again; none when Graph could not be used at all.
        #[serde(flatten, skip_serializing_if = "Option::is_none")]
        refused: Option<Box<DocumentedRefused>>,
    },
    /// What If was asked for every address.
    Evaluated {
        /// The `servicePrincipalId` of the answered requests: the app id for the documented
        /// request, the object id for the older shapes.
        service_principal_id: String,
        subject_from: SubjectSource,
        resource_app_id: String,
        anchors: Vec<WhatIfSide>,
        controls: Vec<WhatIfSide>,
    },
    /// The run was cut short before What If was asked.
    Cut { by: Cut },
}

/// A What If request as sent: the endpoint and the body's shape, in the order tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum WhatIfRequest {
    /// `POST /v1.0/identity/conditionalAccess/evaluate`, the documented shape
    /// (`signInIdentity` `#microsoft.graph.servicePrincipalSignIn` with the app id).
    #[serde(rename = "v1.0 documented")]
    DocumentedV1,
    /// The same on `/beta`.
    #[serde(rename = "beta documented")]
    DocumentedBeta,
    /// `/beta`, `signInIdentity` `#microsoft.graph.servicePrincipalSubject` with the
    /// service principal's object id (seen in public scripts).
    #[serde(rename = "beta servicePrincipalSubject")]
    SubjectShapeBeta,
    /// `/beta`, the older `conditionalAccessWhatIfSubject` shape with the object id.
    #[serde(rename = "beta conditionalAccessWhatIfSubject")]
    OlderShapeBeta,
}

impl WhatIfRequest {
    /// Whether the request is the documented one, whose subject is the app id.
    pub fn documented(self) -> bool {
        matches!(
            self,
            WhatIfRequest::DocumentedV1 | WhatIfRequest::DocumentedBeta
        )
    }
}

impl std::fmt::Display for WhatIfRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WhatIfRequest::DocumentedV1 => "v1.0 documented",
            WhatIfRequest::DocumentedBeta => "beta documented",
            WhatIfRequest::SubjectShapeBeta => "beta servicePrincipalSubject",
            WhatIfRequest::OlderShapeBeta => "beta conditionalAccessWhatIfSubject",
        })
    }
}

/// What If refused the documented request: each refusal, named by its request, and the
/// question that was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocumentedRefused {
    pub refusals: Vec<String>,
    pub question: WhatIfQuestion,
}

/// What What If is asked: a sign-in to `resource_app_id` from each anchor and each control IP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct WhatIfQuestion {
    pub resource_app_id: String,
    pub anchors: Vec<WhatIfTarget>,
    pub controls: Vec<WhatIfTarget>,
}

/// One address What If evaluates, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct WhatIfTarget {
    pub ip: IpAddr,
    pub source: WhatIfSource,
}

/// Where What If's subject, the probe app's service principal, was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectSource {
    /// `AZURE_CLIENT_ID`, the app id: the documented request's subject.
    ClientId,
    /// `[entra] what_if_service_principal_id`.
    Scenario,
    /// `GET /v1.0/servicePrincipals(appId='…')`.
    Graph,
    /// The `servicePrincipalId` of this run's sign-ins in Entra's log.
    SignInLog,
}

/// One evaluated sign-in: from which IP, why that IP, and what Conditional Access answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WhatIfSide {
    pub ip: IpAddr,
    pub source: WhatIfSource,
    pub answer: WhatIfAnswer,
}

/// Where an evaluated IP comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum WhatIfSource {
    /// An anchor of the anchor set (a range is represented by one address of it).
    Anchor { anchor: ipnet::IpNet },
    /// The egress IP a control observer revealed in this run.
    Control { observer: String },
    /// `[entra] what_if_control_ip`, as no control observer revealed an IP.
    Configured,
}

/// What Graph answered for one sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum WhatIfAnswer {
    /// Every policy, and whether it applies, with the request that was answered.
    Policies {
        asked: WhatIfRequest,
        policies: Vec<WhatIfPolicy>,
    },
    /// No usable answer.
    Failed {
        #[serde(serialize_with = "graph_error")]
        error: GraphError,
    },
}

/// What one token request saw.
#[derive(Debug, Clone, Serialize)]
pub struct TokenObservation {
    /// The login host asked.
    pub host: String,
    /// The token endpoint.
    pub url: String,
    /// The `client-request-id` sent (header and form field): the sign-in's `correlationId`.
    pub correlation_id: String,
    /// When the request was sent.
    #[serde(serialize_with = "rfc3339")]
    pub sent_at: SystemTime,
    /// Where the request went: the address reached, or the proxy.
    pub via: String,
    /// The connect phase.
    pub connect: ConnectObservation,
    /// The TLS phase, when a connection was made.
    pub tls: Option<TlsObservation>,
    /// The `x-ms-request-id` answered: the sign-in's `id`, for the fallback lookup.
    pub request_id: Option<String>,
    /// What Entra decided.
    pub outcome: TokenOutcome,
    /// The token Entra issued, in memory only (never serialized, never shown): Graph is read
    /// with it, as it was asked for through the path under test, which Conditional Access
    /// trusts, where a token asked for on Graph's own route may be refused.
    #[serde(skip)]
    pub issued: Option<IssuedToken>,
    /// From the start of the connect phase to the end of the answer.
    #[serde(with = "crate::observation::ms", rename = "elapsed_ms")]
    pub elapsed: Duration,
}

/// An access token Entra issued (for Microsoft Graph) and until when it may be used. Its
/// `Debug` shows no token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: crate::scenario::model::Secret,
    /// Five minutes before it expires, as a client stops using a token.
    pub usable_until: Instant,
}

impl IssuedToken {
    /// The token of a 200 answer's JSON (`access_token`, `expires_in` in seconds, as a number
    /// or a string; an hour when absent), or `None` when it holds none.
    pub fn from_answer(json: &serde_json::Value) -> Option<IssuedToken> {
        let token = json
            .get("access_token")
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())?;
        let lifetime = match json.get("expires_in") {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .unwrap_or(3599);
        Some(IssuedToken {
            token: crate::scenario::model::Secret::new(token),
            usable_until: Instant::now() + Duration::from_secs(lifetime.saturating_sub(300)),
        })
    }
}

/// What the token endpoint answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum TokenOutcome {
    /// A token was issued (and dropped at once): Conditional Access let the app through.
    Issued,
    /// AADSTS53003: Conditional Access blocked the token, naming its policies (`capolids`).
    Blocked { policy_ids: Vec<String> },
    /// Another AADSTS error: the credentials or the tenant are wrong.
    Rejected {
        /// The first of `error_codes`, if any.
        code: Option<u64>,
        /// What the code means, when it is one the harness knows.
        known: Option<Rejection>,
        /// The meaning in words: the known one, else the answer's `error_description`.
        meaning: String,
    },
    /// The answer is not Entra's JSON (a proxy's page, an HTML error).
    NotJson {
        status: u16,
        content_type: Option<String>,
        excerpt: String,
    },
    /// No request could be sent: no connection, or a TLS chain that is not trusted.
    NotSent { why: String },
    /// The exchange failed or its answer had an unexpected shape.
    Failed { causes: Vec<String> },
    /// No complete answer within the probe's timeout.
    Timeout {
        #[serde(with = "crate::observation::ms", rename = "after_ms")]
        after: Duration,
    },
}

/// AADSTS codes with a fix the report can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    /// 7000215.
    InvalidClientSecret,
    /// 7000222.
    ExpiredClientSecret,
    /// 700016.
    AppNotFoundInTenant,
    /// 90002.
    TenantNotFound,
    /// 700027.
    BadClientAssertionSignature,
}

impl Rejection {
    /// The rejection an AADSTS code stands for, if the harness knows it.
    pub fn from_code(code: u64) -> Option<Rejection> {
        match code {
            7000215 => Some(Rejection::InvalidClientSecret),
            7000222 => Some(Rejection::ExpiredClientSecret),
            700016 => Some(Rejection::AppNotFoundInTenant),
            90002 => Some(Rejection::TenantNotFound),
            700027 => Some(Rejection::BadClientAssertionSignature),
            _ => None,
        }
    }

    /// What it means, and what to fix.
    pub fn meaning(self) -> &'static str {
        match self {
            Rejection::InvalidClientSecret => {
                "invalid client secret: AZURE_CLIENT_SECRET is not a secret of this app"
            }
            Rejection::ExpiredClientSecret => {
                "the client secret has expired: make a new one for the app"
            }
            Rejection::AppNotFoundInTenant => {
                "the app (AZURE_CLIENT_ID) is not found in the tenant: wrong client id or tenant, \
                 or no admin consent"
            }
            Rejection::TenantNotFound => "the tenant (AZURE_TENANT_ID) is not found",
            Rejection::BadClientAssertionSignature => {
                "the client assertion's signature is not valid: the certificate is not uploaded \
                 to the app, or the key does not match it"
            }
        }
    }
}

fn rfc3339<S: serde::Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&show_time(*time))
}

/// A time as reports show it: RFC 3339, UTC.
pub fn show_time(time: SystemTime) -> String {
    time::OffsetDateTime::from(time)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
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
    /// More pages than the client reads (`entra::graph::MAX_PAGES`).
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
