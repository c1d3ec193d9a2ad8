//! What a login host's DNS HTTPS record (RFC 9460, type 65) said: the paths a browser may take
//! to it beside the A/AAAA answers (its ALPN protocols, address hints, port, ECH).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use serde::Serialize;

use super::ms;

/// The HTTPS record query of one login host, through the vantage's resolver.
#[derive(Debug, Clone, Serialize)]
pub struct HttpsRecordObservation {
    pub host: String,
    /// The resolvers asked.
    pub resolvers: Vec<String>,
    /// The target of the host's AliasMode record, which was followed (once) for the records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    pub outcome: HttpsRecordOutcome,
    #[serde(with = "ms", rename = "elapsed_ms")]
    pub elapsed: Duration,
}

impl HttpsRecordObservation {
    /// The ServiceMode records published, if any were read.
    pub fn records(&self) -> &[ServiceRecord] {
        match &self.outcome {
            HttpsRecordOutcome::Records { records } => records,
            _ => &[],
        }
    }

    /// Whether a record offers HTTP/3 (`h3` in its alpn): a browser may then try QUIC on UDP
    /// (its `port`, 443 by default) before TCP.
    pub fn offers_h3(&self) -> bool {
        self.records().iter().any(ServiceRecord::offers_h3)
    }
}

/// What the HTTPS record query ended in.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum HttpsRecordOutcome {
    /// The ServiceMode records, in the order of their priority.
    Records { records: Vec<ServiceRecord> },
    /// No HTTPS record: NOERROR without one (NODATA), or an AliasMode record to "." (the
    /// service says it has none).
    NoRecord,
    /// The name does not exist (NXDOMAIN): no record either.
    NxDomain,
    /// The followed alias led to another AliasMode record, which is not followed further.
    AliasChain { target: String },
    /// The query failed: browsers then connect with the A/AAAA answers alone.
    Failed { failure: HttpsQueryFailure },
}

/// How an HTTPS record query failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "failure", rename_all = "snake_case")]
pub enum HttpsQueryFailure {
    /// SERVFAIL.
    ServFail,
    /// REFUSED.
    Refused,
    /// Another error code.
    Code { code: String },
    /// No answer in time.
    Timeout,
    /// An answer that could not be read as DNS (a malformed or oversized record, a truncated
    /// message): browsers reject such a record set.
    Malformed { causes: Vec<String> },
    /// Anything else (no connection to the resolver, ...).
    Other { causes: Vec<String> },
}

impl std::fmt::Display for HttpsQueryFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpsQueryFailure::ServFail => f.write_str("SERVFAIL"),
            HttpsQueryFailure::Refused => f.write_str("REFUSED"),
            HttpsQueryFailure::Code { code } => f.write_str(code),
            HttpsQueryFailure::Timeout => f.write_str("no answer in time"),
            HttpsQueryFailure::Malformed { causes } => {
                write!(f, "an unreadable answer ({})", causes.join(": "))
            }
            HttpsQueryFailure::Other { causes } => f.write_str(&causes.join(": ")),
        }
    }
}

/// One ServiceMode HTTPS record (priority ≥ 1), as far as the path of a browser depends on it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceRecord {
    pub priority: u16,
    /// The TargetName: `.` stands for the owner name itself.
    pub target: String,
    /// The ALPN protocol ids offered (`h2`, `h3`, ...).
    pub alpn: Vec<String>,
    /// `no-default-alpn`: the default `http/1.1` is not offered.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_default_alpn: bool,
    /// The port to connect to, when not the default 443.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    pub ipv4hint: Vec<Ipv4Addr>,
    pub ipv6hint: Vec<Ipv6Addr>,
    /// The length of the ECH configuration list, when the record offers ECH (its bytes are
    /// never kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ech_config_bytes: Option<usize>,
    pub ttl: u32,
}

impl ServiceRecord {
    /// Whether this record offers HTTP/3.
    pub fn offers_h3(&self) -> bool {
        self.alpn.iter().any(|a| a == "h3")
    }

    /// Whether its target is the owner name itself (`.`, or the name written out).
    pub fn targets_owner(&self, host: &str) -> bool {
        let target = self.target.trim_end_matches('.');
        target.is_empty() || target.eq_ignore_ascii_case(host.trim_end_matches('.'))
    }

    /// Both families' hints, IPv4 first.
    pub fn hints(&self) -> Vec<IpAddr> {
        self.ipv4hint
            .iter()
            .map(|&a| IpAddr::V4(a))
            .chain(self.ipv6hint.iter().map(|&a| IpAddr::V6(a)))
            .collect()
    }

    /// The record as a zone file writes it, without the ECH bytes:
    /// `1 . alpn=h2,h3 ipv4hint=127.0.0.1 ech=(64 bytes)`.
    pub fn show(&self) -> String {
        let mut s = format!("{} {}", self.priority, self.target);
        if !self.alpn.is_empty() {
            s.push_str(&format!(" alpn={}", self.alpn.join(",")));
        }
        if self.no_default_alpn {
            s.push_str(" no-default-alpn");
        }
        if let Some(port) = self.port {
            s.push_str(&format!(" port={port}"));
        }
        let list = |ips: Vec<String>| ips.join(",");
        if !self.ipv4hint.is_empty() {
            let ips = self.ipv4hint.iter().map(ToString::to_string).collect();
            s.push_str(&format!(" ipv4hint={}", list(ips)));
        }
        if !self.ipv6hint.is_empty() {
            let ips = self.ipv6hint.iter().map(ToString::to_string).collect();
            s.push_str(&format!(" ipv6hint={}", list(ips)));
        }
        if let Some(bytes) = self.ech_config_bytes {
            s.push_str(&format!(" ech=({bytes} bytes)"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(alpn: &[&str]) -> ServiceRecord {
        ServiceRecord {
            priority: 1,
            target: ".".into(),
            alpn: alpn.iter().map(|s| s.to_string()).collect(),
            no_default_alpn: false,
            port: None,
            ipv4hint: vec![Ipv4Addr::new(127, 0, 0, 1)],
            ipv6hint: vec![],
            ech_config_bytes: Some(64),
            ttl: 300,
        }
    }

    #[test]
    fn a_record_shows_as_a_zone_file_writes_it_without_the_ech_bytes() {
        assert_eq!(
            record(&["h2", "h3"]).show(),
            "1 . alpn=h2,h3 ipv4hint=127.0.0.1 ech=(64 bytes)"
        );
    }

    #[test]
    fn h3_is_offered_only_by_an_h3_alpn() {
        let obs = |records: Vec<ServiceRecord>| HttpsRecordObservation {
            host: "login.microsoftonline.com".into(),
            resolvers: vec![],
            alias: None,
            outcome: HttpsRecordOutcome::Records { records },
            elapsed: Duration::ZERO,
        };
        assert!(obs(vec![record(&["h2", "h3"])]).offers_h3());
        assert!(!obs(vec![record(&["h2", "h3-29"])]).offers_h3());
        assert!(!obs(vec![]).offers_h3());
        let seen = [
            super::super::Observation::NotRun(super::super::NotRun::NoObserver),
            super::super::Observation::HttpsRecord(obs(vec![record(&["h3"])])),
        ];
        let found = HttpsRecordObservation::of_host(&seen, "LOGIN.microsoftonline.com");
        assert!(found.is_some_and(HttpsRecordObservation::offers_h3));
        assert!(HttpsRecordObservation::of_host(&seen, "login.windows.net").is_none());
    }

    #[test]
    fn the_target_dot_is_the_owner() {
        let mut r = record(&["h2"]);
        assert!(r.targets_owner("login.windows.net"));
        r.target = "login.windows.net.".into();
        assert!(r.targets_owner("login.windows.net"));
        r.target = "svc.example.net.".into();
        assert!(!r.targets_owner("login.windows.net"));
    }
}
