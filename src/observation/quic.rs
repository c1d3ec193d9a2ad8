//! What a QUIC probe saw on UDP 443: whether HTTP/3 was offered, whether the handshake got
//! through, and what the HTTP/3 echoes answered after it.

use std::time::Duration;

use serde::Serialize;

use super::ms;
use super::sample::SampleOutcome;

/// How long a QUIC handshake waits for any answer before UDP 443 counts as silent. A browser
/// that tries QUIC starts TCP beside it within a few hundred milliseconds and uses whichever
/// connection is ready first, so a QUIC answer slower than this has lost to TCP; waiting the
/// probe's whole timeout would only make every run where UDP 443 is dropped (the usual
/// firewall rule) last that timeout.
pub const QUIC_ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Why a QUIC handshake did not get through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QuicBlock {
    /// No answer within [`QUIC_ANSWER_WAIT`] (or the probe's timeout, if shorter): UDP dropped
    /// on the way, or nothing listening that says so.
    NoAnswer,
    /// The host answered ICMP port unreachable: UDP 443 is closed there.
    Refused,
    /// The network answered ICMP host or network unreachable (or the system has no route).
    Unreachable,
}

/// Whether the server's certificate, received in the QUIC handshake, is one a browser accepts
/// for the host: a chain to one of the vantage's anchors that names the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum QuicCertificate {
    Trusted,
    Untrusted { why: String },
}

/// Why no QUIC handshake was tried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum QuicNotTried {
    /// The vantage cannot send QUIC as a browser there would (a UDP socket it cannot open or
    /// bind as the vantage says).
    NoQuicSupport { why: String },
}

/// What a QUIC handshake on UDP 443 ended in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum QuicOutcome {
    /// QUIC did not get through: browsers fall back to TCP.
    Blocked {
        by: QuicBlock,
    },
    /// The server answered, but the QUIC or TLS handshake failed (the causes as said).
    Failed {
        causes: Vec<String>,
    },
    /// The handshake completed: a browser's HTTP/3 reaches the host on UDP.
    Completed {
        /// The ALPN the server chose (`h3`).
        alpn: Option<String>,
        certificate: QuicCertificate,
    },
    NotTried(QuicNotTried),
}

/// Where a login host said that it speaks HTTP/3. A DNS HTTPS/SVCB record's `alpn` is the
/// other source a browser reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum Http3Offer {
    /// The `Alt-Svc` header of the login path's answer on TCP 443.
    AltSvc {
        /// The header as the host sent it.
        header: String,
        /// It names `h3` (or a draft `h3-NN`).
        h3: bool,
    },
    /// The host's DNS HTTPS record (type 65): the ALPN ids its ServiceMode records list.
    HttpsRecord {
        /// Every ALPN id of its records, once each, in the order they came.
        alpn: Vec<String>,
        /// One of them is `h3`.
        h3: bool,
    },
}

impl Http3Offer {
    /// The offer an `Alt-Svc` header makes.
    pub fn alt_svc(header: &str) -> Http3Offer {
        let h3 = header.split(',').any(|entry| {
            let protocol = entry.trim().split('=').next().unwrap_or_default().trim();
            protocol == "h3" || protocol.starts_with("h3-")
        });
        Http3Offer::AltSvc {
            header: header.to_string(),
            h3,
        }
    }

    /// The offer a host's DNS HTTPS record makes, if it published ServiceMode records.
    pub fn https_record(
        record: &super::https_record::HttpsRecordObservation,
    ) -> Option<Http3Offer> {
        let records = record.records();
        if records.is_empty() {
            return None;
        }
        let mut alpn: Vec<String> = Vec::new();
        for id in records.iter().flat_map(|r| r.alpn.iter()) {
            if !alpn.contains(id) {
                alpn.push(id.clone());
            }
        }
        Some(Http3Offer::HttpsRecord {
            h3: record.offers_h3(),
            alpn,
        })
    }

    /// Whether this source offers HTTP/3.
    pub fn offers_h3(&self) -> bool {
        match self {
            Http3Offer::AltSvc { h3, .. } | Http3Offer::HttpsRecord { h3, .. } => *h3,
        }
    }
}

/// One echo observer asked over HTTP/3 after the handshake completed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Http3Echo {
    pub observer: String,
    pub role: crate::scenario::model::ObserverRole,
    pub url: String,
    /// The UDP address asked.
    pub via: String,
    pub outcome: SampleOutcome,
}

/// A QUIC probe of one login host from one family.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuicObservation {
    pub host: String,
    /// The UDP address the handshake went to (`--connect-to` honoured, as for TCP).
    pub via: String,
    pub outcome: QuicOutcome,
    /// Where the host offered HTTP/3 (filled in from the login path's answer on TCP 443).
    pub offered: Vec<Http3Offer>,
    /// The `http3 = true` echo observers, asked over HTTP/3 once the handshake completed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub echoes: Vec<Http3Echo>,
    /// The handshake's own time (the echoes after it not included).
    #[serde(with = "ms", rename = "handshake_ms")]
    pub handshake: Duration,
    #[serde(with = "ms", rename = "elapsed_ms")]
    pub elapsed: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alt_svc_offers_h3_only_when_it_names_it() {
        assert!(Http3Offer::alt_svc("h3=\":443\"; ma=86400").offers_h3());
        assert!(Http3Offer::alt_svc("h2=\":443\", h3-29=\":443\"").offers_h3());
        assert!(!Http3Offer::alt_svc("h2=\":443\"; ma=60").offers_h3());
        assert!(!Http3Offer::alt_svc("clear").offers_h3());
    }
}
