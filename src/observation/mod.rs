//! What the probes saw: plain data, recorded whatever happened on the network.

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use crate::scenario::model::{Family, ObserverRole};

pub mod connection;
pub mod entra;
pub mod https_record;
pub(crate) mod ms;
pub mod quic;
mod sample;

pub use connection::{
    CertSummary, ChainTrust, ConnectAttempt, ConnectObservation, ConnectOutcome, Cut,
    TlsObservation, TlsOutcome,
};

pub use quic::{
    Http3Echo, Http3Offer, QUIC_ANSWER_WAIT, QuicBlock, QuicCertificate, QuicNotTried,
    QuicObservation, QuicOutcome,
};

pub use entra::{
    AnchorInLocations, CaPolicyProof, DocumentedRefused, EntraObservation,
    NamedLocationsObservation, SignInLog, SubjectSource, WhatIfAnswer, WhatIfObservation,
    WhatIfQuestion, WhatIfRequest, WhatIfSide, WhatIfSource, WhatIfTarget,
};

pub use https_record::{
    HttpsQueryFailure, HttpsRecordObservation, HttpsRecordOutcome, ServiceRecord,
};
pub use sample::SampleOutcome;

/// The browser's proxy decision for one target, as the run made it before planning.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionObservation {
    /// The PAC file, or the environment.
    pub source: crate::pac::DecisionSource,
    #[serde(flatten)]
    pub outcome: DecisionOutcome,
    /// The proxies the login hosts' decisions go through first (one each, deduplicated): an
    /// observer's decision is compared with them.
    pub login_proxies: Vec<String>,
}

/// A decision, or why none could be made.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DecisionOutcome {
    Decided {
        decision: crate::pac::Decision,
    },
    Failed {
        error: crate::pac::PacError,
        message: String,
    },
}

/// One probe's record. Network trouble is data here, never an `Err`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Observation {
    Resolve(DnsObservation),
    Connect(ConnectObservation),
    Tls(TlsObservation),
    Http(HttpObservation),
    Egress(EgressObservation),
    /// A token request through a login host, and what Entra's sign-in log says about it.
    Entra(Box<EntraObservation>),
    /// Conditional Access's IP named locations, read from Graph, against the anchor set.
    NamedLocations(Box<NamedLocationsObservation>),
    /// Conditional Access's What If for sign-ins from the anchors and from the control's IP.
    WhatIf(Box<WhatIfObservation>),
    /// The probe did not finish or did not start.
    NotRun(NotRun),
    /// A login host's DNS HTTPS record (type 65).
    HttpsRecord(HttpsRecordObservation),
    /// A QUIC handshake on UDP 443 and the HTTP/3 echoes after it.
    Quic(Box<QuicObservation>),
    /// The browser's proxy decision for the target's URL (made before planning).
    ProxyDecision(Box<DecisionObservation>),
    /// An observation read back from a JSON report (`sipa-check complete`), kept exactly as
    /// it was written: the report is the record, and only the checks being completed are
    /// judged again, on the typed parts they need.
    #[serde(untagged)]
    Recorded(serde_json::Value),
}

/// Why a probe has no observation of its own. Only [`NotRun::NothingToVerify`] means there is
/// nothing to check here; every other reason leaves the check undecided or not judged, and no
/// check that did not run ever counts as proof.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum NotRun {
    /// The per-probe timeout fired.
    Timeout {
        #[serde(with = "ms", rename = "after_ms")]
        after: Duration,
    },
    /// The whole-run deadline or an interrupt stopped it, after it had run this long.
    Cut {
        by: Cut,
        #[serde(with = "ms", rename = "ran_ms")]
        ran: Duration,
    },
    /// A check it depends on did not pass: that check's verdict decides. `check` is its index
    /// in the plan, `on` its name.
    Blocked { check: usize, on: String },
    /// A coverage rule none of whose checks was decided (named here): nothing proves it.
    Undecided { checks: Vec<String> },
    /// This family has nothing to verify from this vantage (no records of it for the host, or
    /// no route for it): traffic of that family cannot go around the tunnel here.
    NothingToVerify { family: Family, why: NoFamilyPath },
    /// There was no address to connect to where one was expected, such as a `--connect-to`
    /// target that does not resolve.
    NoAddress { host: String, family: Family },
    /// The probe itself crashed: a bug in the harness, reported as this check's error.
    Panicked { message: String },
    /// The scenario has no observer that could decide this.
    NoObserver,
}

/// Why a family has nothing to verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoFamilyPath {
    /// DNS has no record of this family for the host.
    NoRecords,
    /// This vantage has no route for this family.
    NoRoute,
}

/// How an address is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressClass {
    Public,
    /// 100.64.0.0/10: the range ZPA hands out as synthetic IPs.
    ZpaPool,
    Private,
    Loopback,
    Bogon,
}

impl AddressClass {
    pub fn of(ip: IpAddr) -> AddressClass {
        match ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                if v4.is_loopback() {
                    AddressClass::Loopback
                } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
                    AddressClass::ZpaPool
                } else if v4.is_private() {
                    AddressClass::Private
                } else if v4.is_unspecified()
                    || v4.is_link_local()
                    || v4.is_broadcast()
                    || v4.is_documentation()
                    || v4.is_multicast()
                    || o[0] == 0
                    || o[0] >= 240
                    || (o[0] == 198 && (o[1] & 0xfe) == 18)
                    || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                {
                    AddressClass::Bogon
                } else {
                    AddressClass::Public
                }
            }
            IpAddr::V6(v6) => {
                let seg = v6.segments();
                if let Some(v4) = v6.to_ipv4_mapped() {
                    return AddressClass::of(IpAddr::V4(v4));
                }
                if v6.is_loopback() {
                    AddressClass::Loopback
                } else if (seg[0] & 0xfe00) == 0xfc00 {
                    AddressClass::Private
                } else if v6.is_unspecified()
                    || v6.is_multicast()
                    || (seg[0] & 0xffc0) == 0xfe80
                    || (seg[0] == 0x2001 && seg[1] == 0x0db8)
                    || (seg[0] & 0xe000) != 0x2000
                {
                    AddressClass::Bogon
                } else {
                    AddressClass::Public
                }
            }
        }
    }
}

impl std::fmt::Display for AddressClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AddressClass::Public => "public",
            AddressClass::ZpaPool => "ZPA IP pool",
            AddressClass::Private => "private",
            AddressClass::Loopback => "loopback",
            AddressClass::Bogon => "bogon",
        })
    }
}

/// One address record.
#[derive(Debug, Clone, Serialize)]
pub struct DnsAnswer {
    pub addr: IpAddr,
    pub ttl: u32,
    pub class: AddressClass,
}

/// What a DNS lookup ended in.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum DnsOutcome {
    Answers {
        answers: Vec<DnsAnswer>,
    },
    /// The name exists but has no record of this type.
    NoRecords,
    NxDomain,
    /// SERVFAIL, REFUSED and other error codes.
    ErrorCode {
        code: String,
    },
    Timeout,
    Failed {
        causes: Vec<String>,
    },
}

/// Where a resolve's answer (or its absence) came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum AnswerSource {
    /// The servers the vantage names (`--dns`, `vantage.dns`): nothing else is asked, the hosts
    /// file included.
    NamedServers { servers: Vec<String> },
    /// The system's DNS servers (no servers named), asked because the hosts file has no entry.
    SystemServers { servers: Vec<String> },
    /// A static entry of the hosts file, which the system resolver reads before DNS (no
    /// servers named): DNS was not asked.
    HostsFile { path: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct DnsObservation {
    pub host: String,
    pub record_type: &'static str,
    /// The resolvers asked (`system` when the system configuration was used).
    pub resolvers: Vec<String>,
    /// Where the answer came from: the named servers, the system's, or the hosts file.
    pub source: AnswerSource,
    pub outcome: DnsOutcome,
    #[serde(with = "ms", rename = "elapsed_ms")]
    pub elapsed: Duration,
}

impl DnsObservation {
    pub fn addresses(&self) -> Vec<IpAddr> {
        match &self.outcome {
            DnsOutcome::Answers { answers } => answers.iter().map(|a| a.addr).collect(),
            _ => Vec::new(),
        }
    }
}

/// An HTTP answer, as far as the checks need it.
#[derive(Debug, Clone, Serialize)]
pub struct HttpAnswer {
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Entra front-end headers (`x-ms-request-id`, `x-ms-ests-server`).
    pub entra_headers: Vec<(String, String)>,
    /// `issuer` of an OpenID configuration document, when the body was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Why the body is not an OpenID configuration (when it was expected to be).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_problem: Option<String>,
    /// The body looks like a proxy's block or error page.
    pub block_page: bool,
    /// The start of the body, for the evidence.
    pub body_excerpt: String,
    /// The `Alt-Svc` header: where the host offers HTTP/3 (QUIC on UDP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alt_svc: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum HttpOutcome {
    Answered(HttpAnswer),
    Failed {
        causes: Vec<String>,
    },
    /// No complete answer within the probe's timeout.
    Timeout {
        #[serde(with = "ms", rename = "after_ms")]
        after: Duration,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct HttpObservation {
    pub url: String,
    /// The address the request was pinned to, or the proxy's URL.
    pub via: String,
    pub outcome: HttpOutcome,
    #[serde(with = "ms", rename = "elapsed_ms")]
    pub elapsed: Duration,
}

/// The login path on one connection: each phase with its own result and timing. A phase the
/// one before it did not let start is `None`.
#[derive(Debug, Clone, Serialize)]
pub struct LoginPathObservation {
    pub connect: ConnectObservation,
    /// On a TLS port: the handshake on the connect phase's connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsObservation>,
    /// The request, on that connection (on a TLS port only once the chain is trusted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpObservation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EgressSample {
    pub outcome: SampleOutcome,
    #[serde(with = "ms", rename = "elapsed_ms")]
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct EgressObservation {
    pub observer: String,
    pub role: ObserverRole,
    pub url: String,
    pub via: String,
    pub samples: Vec<EgressSample>,
}

impl EgressObservation {
    /// The addresses the samples revealed, in order.
    pub fn ips(&self) -> Vec<IpAddr> {
        self.samples
            .iter()
            .filter_map(|s| match s.outcome {
                SampleOutcome::Ip { ip } => Some(ip),
                _ => None,
            })
            .collect()
    }
}

/// The whole cause chain of an error, outermost first (`Display` of reqwest drops the causes).
pub fn cause_chain(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        // Wrappers often repeat their source's text, whole or at their end: each message is
        // kept once, and a cause its wrapper already shows is not shown again.
        if !out.iter().any(|seen| seen.contains(text.as_str())) {
            out.push(text);
        }
        next = e.source();
    }
    out
}

/// A duration as people read it: `<1ms`, `12ms`, `1.2s`.
pub fn show_duration(d: Duration) -> String {
    if d.is_zero() {
        "0ms".to_string()
    } else if d < Duration::from_millis(1) {
        "<1ms".to_string()
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// How much of a body the evidence keeps.
pub const EXCERPT: usize = 200;

/// The start of a body as printable text, for the evidence.
pub fn excerpt(body: &[u8]) -> String {
    excerpt_within(body, EXCERPT)
}

/// As [`excerpt`], keeping at most `max` bytes of the body.
pub fn excerpt_within(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(max)]);
    let mut shown: String = text
        .chars()
        .map(|c| if c.is_control() && c != ' ' { ' ' } else { c })
        .collect();
    if body.len() > max {
        shown.push('…');
    }
    shown.trim().to_string()
}

/// A `Retry-After` value: seconds (`13`) or a duration (`13s`, `1m30s`, `500ms`, as Go servers
/// write it). The one parser of the header, for the ZPA/ZIA clients and the Graph client alike.
pub fn retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    humantime::parse_duration(v).ok()
}

/// Finding a host's record among a run's observations is the run's business, so it lives beside
/// [`Observation`] rather than in the record's own module.
impl HttpsRecordObservation {
    /// The HTTPS record observation of `host` among a run's observations, if it was read.
    pub fn of_host<'a>(
        observations: impl IntoIterator<Item = &'a Observation>,
        host: &str,
    ) -> Option<&'a HttpsRecordObservation> {
        observations.into_iter().find_map(|o| match o {
            Observation::HttpsRecord(r) if r.host.eq_ignore_ascii_case(host) => Some(r),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_both_forms() {
        assert_eq!(retry_after("13s"), Some(Duration::from_secs(13)));
        assert_eq!(retry_after("13"), Some(Duration::from_secs(13)));
        assert_eq!(retry_after("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(retry_after("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn classifies_addresses() {
        let class = |s: &str| AddressClass::of(s.parse().unwrap());
        assert_eq!(class("20.190.128.1"), AddressClass::Public);
        assert_eq!(class("100.64.3.4"), AddressClass::ZpaPool);
        assert_eq!(class("100.128.0.1"), AddressClass::Public);
        assert_eq!(class("10.1.2.3"), AddressClass::Private);
        assert_eq!(class("127.0.0.2"), AddressClass::Loopback);
        assert_eq!(class("0.1.2.3"), AddressClass::Bogon);
        assert_eq!(class("192.0.2.1"), AddressClass::Bogon);
        assert_eq!(class("::1"), AddressClass::Loopback);
        assert_eq!(class("fd00::1"), AddressClass::Private);
        assert_eq!(class("2603:1026::1"), AddressClass::Public);
        assert_eq!(class("2001:db8::1"), AddressClass::Bogon);
        assert_eq!(class("::ffff:10.0.0.1"), AddressClass::Private);
    }

    #[test]
    fn cause_chain_keeps_every_distinct_cause() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("request failed")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let err = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        ));
        assert_eq!(cause_chain(&err), vec!["request failed", "refused"]);
    }

    #[test]
    fn cause_chain_drops_a_cause_its_wrapper_already_shows() {
        /// A wrapper that repeats its source at its end, as `#[error("…: {source}")]` does.
        #[derive(Debug)]
        struct Read(std::io::Error);
        impl std::fmt::Display for Read {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "cannot read CA file zscaler-root.pem: {}", self.0)
            }
        }
        impl std::error::Error for Read {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let err = Read(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such file",
        ));
        assert_eq!(
            cause_chain(&err),
            vec!["cannot read CA file zscaler-root.pem: no such file"]
        );
    }
}
