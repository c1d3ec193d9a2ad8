//! QUIC on UDP 443: a blocked handshake passes (browsers fall back to TCP, which is anchored);
//! one that completes fails, unless an HTTP/3 echo shows QUIC leaving from an App Connector.
//! Outside the trusted locations (`expect_anchored = false`) QUIC is informational: login
//! traffic is not anchored there on TCP either, so an open UDP 443 changes nothing.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::{Expectation, diagnosis};
use crate::cause::Cause;
use crate::observation::{
    Http3Echo, QuicBlock, QuicCertificate, QuicNotTried, QuicObservation, QuicOutcome,
    SampleOutcome,
};
use crate::outcome::{Outcome, Status};
use crate::scenario::model::ObserverRole;

/// What a QUIC check expects.
pub(super) const QUIC_EXPECTED: &str = "QUIC on UDP 443 blocked (browsers then fall back to TCP), or an HTTP/3 echo (`http3 = true`) showing an App Connector IP";

/// Judges one QUIC check; `o` comes with its name, target and observation filled in.
pub(super) fn judge_quic(mut o: Outcome, q: &QuicObservation, exp: &Expectation) -> Outcome {
    let host = &q.host;
    o.expected = QUIC_EXPECTED.into();
    o.observed = observed(q);
    match &q.outcome {
        QuicOutcome::Blocked { by } => {
            o.status = Status::Pass;
            o.reason = format!(
                "QUIC blocked ({}): browsers fall back to TCP",
                block_words(*by)
            );
        }
        QuicOutcome::NotTried(QuicNotTried::NoQuicSupport { why }) => {
            o.status = Status::Skip;
            o.reason = if offered(q) {
                format!(
                    "HTTP/3 is offered by {host} but QUIC was not tried (no QUIC support on this vantage: {why})"
                )
            } else {
                format!("QUIC not tried (no QUIC support on this vantage: {why})")
            };
        }
        QuicOutcome::Failed { causes } => {
            // Something answered on UDP 443: it is not blocked, but no browser's HTTP/3 got
            // through either. The harness cannot tell which a browser would see.
            o.status = Status::Error;
            o.reason = format!(
                "UDP 443 of {host} answered but the QUIC handshake failed ({}): whether a browser's HTTP/3 gets through is undecided",
                causes.join("; ")
            );
            o.causes = causes.clone();
            if exp.expect_anchored {
                o.diagnosis = diagnosis(
                    Cause::QuicOpen,
                    format!("UDP 443 of {host} answers QUIC: block it so that browsers use TCP"),
                );
            }
        }
        QuicOutcome::Completed { .. } if !exp.expect_anchored => {
            o.status = Status::Pass;
            o.reason = format!(
                "informational: QUIC reaches {host} on UDP 443 from this vantage, which is outside the trusted locations (its login traffic is not anchored on TCP either)"
            );
        }
        QuicOutcome::Completed { .. } => completed(&mut o, q, exp),
    }
    o
}

/// A handshake that got through, from a vantage that expects anchoring.
fn completed(o: &mut Outcome, q: &QuicObservation, exp: &Expectation) {
    let host = &q.host;
    let anchored: Vec<&Http3Echo> = q
        .echoes
        .iter()
        .filter(|e| e.role == ObserverRole::Anchored)
        .collect();
    let ips: Vec<IpAddr> = anchored
        .iter()
        .filter_map(|e| match e.outcome {
            SampleOutcome::Ip { ip } => Some(ip),
            _ => None,
        })
        .collect();
    let outside: BTreeSet<IpAddr> = ips
        .iter()
        .copied()
        .filter(|ip| !exp.anchors.contains(*ip))
        .collect();
    if !outside.is_empty() {
        let shown: Vec<String> = outside.iter().map(ToString::to_string).collect();
        o.status = Status::Fail;
        o.reason = format!(
            "QUIC reaches {host} on UDP 443 and the HTTP/3 echo saw {}, outside the anchor set {}",
            shown.join(" and "),
            exp.anchors
        );
        o.diagnosis = diagnosis(
            Cause::QuicUnanchored,
            format!(
                "HTTP/3 leaves from {} instead of an App Connector: browsers' QUIC to {host} is not anchored",
                shown.join(" and ")
            ),
        );
    } else if !ips.is_empty() {
        o.status = Status::Pass;
        o.reason = format!(
            "QUIC reaches {host} on UDP 443 and is anchored too: the HTTP/3 echo saw {}",
            super::judge::tally_ips(&ips)
        );
    } else {
        o.status = Status::Fail;
        o.reason = format!(
            "the QUIC handshake with {host} on UDP 443 completed and no HTTP/3 echo shows it anchored: browsers' HTTP/3 goes around the TCP-only anchoring"
        );
        o.diagnosis = diagnosis(
            Cause::QuicOpen,
            format!(
                "UDP 443 to {host} is open: block QUIC so that browsers fall back to TCP, which is anchored"
            ),
        );
    }
}

fn offered(q: &QuicObservation) -> bool {
    q.offered.iter().any(|o| o.offers_h3())
}

fn block_words(by: QuicBlock) -> &'static str {
    match by {
        QuicBlock::NoAnswer => "no answer",
        QuicBlock::Refused => "ICMP port unreachable",
        QuicBlock::Unreachable => "unreachable",
    }
}

/// What was seen: the handshake, where HTTP/3 was offered, and the echoes.
fn observed(q: &QuicObservation) -> String {
    let mut parts = vec![match &q.outcome {
        QuicOutcome::Blocked { by } => {
            format!("no QUIC handshake with {}: {}", q.via, block_words(*by))
        }
        QuicOutcome::Failed { causes } => {
            format!(
                "QUIC handshake with {} failed: {}",
                q.via,
                causes.join("; ")
            )
        }
        QuicOutcome::Completed { alpn, certificate } => format!(
            "QUIC handshake with {} completed (ALPN {}, {})",
            q.via,
            alpn.as_deref().unwrap_or("none"),
            match certificate {
                QuicCertificate::Trusted => "certificate trusted for the host".to_string(),
                QuicCertificate::Untrusted { why } => format!("certificate not trusted: {why}"),
            }
        ),
        QuicOutcome::NotTried(QuicNotTried::NoQuicSupport { why }) => {
            format!("not tried: {why}")
        }
    }];
    parts.push(if q.offered.is_empty() {
        "HTTP/3 offer: none seen".to_string()
    } else {
        let offers: Vec<String> = q
            .offered
            .iter()
            .map(|o| match o {
                crate::observation::Http3Offer::AltSvc { header, h3 } => format!(
                    "Alt-Svc `{header}` ({})",
                    if *h3 { "offers h3" } else { "no h3" }
                ),
            })
            .collect();
        format!("HTTP/3 offer: {}", offers.join(", "))
    });
    for e in &q.echoes {
        let said = super::judge::sample_problem(&e.outcome);
        parts.push(format!("HTTP/3 echo {} ({}): {said}", e.observer, e.url));
    }
    parts.join("; ")
}
