//! QUIC on UDP 443: a blocked handshake passes (browsers fall back to TCP, which is anchored);
//! one that completes fails, unless an HTTP/3 echo shows QUIC leaving from an App Connector.
//! Outside the trusted locations (`expect_anchored = false`) QUIC is informational: login
//! traffic is not anchored there on TCP either, so an open UDP 443 changes nothing.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::expectation::{Expectation, diagnosis};
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
        QuicOutcome::Failed { .. } | QuicOutcome::Completed { .. } if !exp.expect_anchored => {
            o.status = Status::Pass;
            o.reason = format!(
                "informational: UDP 443 of {host} answers QUIC from this vantage, which is outside the trusted locations (its login traffic is not anchored on TCP either)"
            );
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
            o.diagnosis = diagnosis(
                Cause::QuicOpen,
                format!("UDP 443 of {host} answers QUIC: block it so that browsers use TCP"),
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
            super::sample::tally_ips(&ips)
        );
    } else {
        o.status = Status::Fail;
        o.reason = format!(
            "the QUIC handshake with {host} on UDP 443 completed and no HTTP/3 echo shows it anchored: browsers' HTTP/3 goes around the TCP-only anchoring"
        );
        if exp.proxied {
            // A browser that uses the proxy sends no QUIC; what it shows is the way around it.
            o.warnings.push(format!(
                "browsers that use this vantage's proxy send no QUIC, but one the PAC file sends DIRECT, a TCP-only tunnel (Z-Tunnel 1.0) or an app that ignores the proxy reaches {host} over HTTP/3 this way"
            ));
        }
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

fn block_words(by: QuicBlock) -> String {
    match by {
        QuicBlock::NoAnswer => format!(
            "no answer within {} s",
            crate::observation::QUIC_ANSWER_WAIT.as_secs()
        ),
        QuicBlock::Refused => "ICMP port unreachable".into(),
        QuicBlock::Unreachable => "unreachable".into(),
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
                crate::observation::Http3Offer::HttpsRecord { alpn, h3 } => format!(
                    "DNS HTTPS record alpn {} ({})",
                    alpn.join(","),
                    if *h3 { "offers h3" } else { "no h3" }
                ),
            })
            .collect();
        format!("HTTP/3 offer: {}", offers.join(", "))
    });
    for e in &q.echoes {
        let said = super::sample::sample_problem(&e.outcome);
        parts.push(format!("HTTP/3 echo {} ({}): {said}", e.observer, e.url));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::observation::{Http3Offer, Observation};
    use crate::plan::{CheckKind, Plan, Route};
    use crate::scenario::model::Family;

    const SCENARIO: &str = r#"
name = "quic"
[login]
hosts = ["login.windows.net"]
[anchor]
expect = ["127.0.0.2"]
[[observer]]
name = "canary"
role = "anchored"
url = "https://canary.example/ip"
http3 = true
"#;

    fn plan(text: &str) -> Plan {
        let s = crate::scenario::load_str(
            text,
            std::path::Path::new("quic.toml"),
            crate::scenario::Format::Toml,
        )
        .unwrap();
        Plan::build(&s, &[])
    }

    fn exp(expect_anchored: bool) -> Expectation {
        Expectation::lab(expect_anchored, false)
    }

    fn echo(ip: &str) -> Http3Echo {
        Http3Echo {
            observer: "canary".into(),
            role: ObserverRole::Anchored,
            url: "https://canary.example/ip".into(),
            via: "127.0.0.1:443".into(),
            outcome: SampleOutcome::Ip {
                ip: ip.parse().unwrap(),
            },
        }
    }

    fn completed() -> QuicOutcome {
        QuicOutcome::Completed {
            alpn: Some("h3".into()),
            certificate: QuicCertificate::Trusted,
        }
    }

    /// The QUIC check of login.windows.net (ipv4) judged on this outcome and these echoes.
    fn judge(outcome: QuicOutcome, echoes: Vec<Http3Echo>, expect_anchored: bool) -> Outcome {
        let plan = plan(SCENARIO);
        let check = plan
            .checks
            .iter()
            .find(|c| matches!(c.kind, CheckKind::Quic { .. }))
            .unwrap();
        let seen = Observation::Quic(Box::new(QuicObservation {
            host: "login.windows.net".into(),
            via: "127.0.0.1:443".into(),
            outcome,
            offered: vec![Http3Offer::alt_svc("h3=\":443\"; ma=86400")],
            echoes,
            handshake: Duration::from_millis(3),
            elapsed: Duration::from_millis(4),
        }));
        crate::verdict::judge_check(check, &seen, &exp(expect_anchored))
    }

    fn cause(o: &Outcome) -> Option<Cause> {
        o.diagnosis.as_ref().map(|d| d.cause)
    }

    #[test]
    fn quic_is_planned_per_login_host_and_family_whatever_the_proxy() {
        let direct = plan(&SCENARIO.replace("[anchor]", "[limits]\nfamily = \"both\"\n[anchor]"));
        let quic: Vec<_> = direct
            .checks
            .iter()
            .filter(|c| matches!(c.kind, CheckKind::Quic { .. }))
            .collect();
        assert_eq!(quic.len(), 2);
        assert_eq!(quic[0].route, Route::Direct(Family::V4));
        assert_eq!(quic[1].route, Route::Direct(Family::V6));
        assert_eq!(quic[0].name, "login.windows.net:443 quic udp (ipv4)");
        assert_eq!(quic[0].stage, crate::plan::Stage::Quic);
        match &quic[0].kind {
            CheckKind::Quic { echoes } => {
                assert_eq!(echoes.len(), 1);
                assert!(echoes[0].http3);
            }
            _ => unreachable!(),
        }
        // Each waits only for its host's resolve, as the TCP login path does: they run side by
        // side.
        let resolve = quic[0].waits_for.expect("waits for the resolve");
        assert_eq!(direct.checks[resolve].kind, CheckKind::Resolve);
        // Through an explicit proxy too, straight from the vantage: a browser the PAC file
        // sends DIRECT, or an app that ignores the proxy, goes that way.
        let proxied_text = format!("{SCENARIO}[vantage]\nproxy = \"http://127.0.0.1:3128\"\n");
        let s = crate::scenario::load_str(
            &proxied_text,
            std::path::Path::new("quic.toml"),
            crate::scenario::Format::Toml,
        )
        .unwrap();
        let proxied = Plan::build(&s, &[]);
        let quic: Vec<_> = proxied
            .checks
            .iter()
            .filter(|c| matches!(c.kind, CheckKind::Quic { .. }))
            .collect();
        let routes: Vec<Route> = quic.iter().map(|c| c.route).collect();
        assert_eq!(
            routes,
            [Route::Direct(Family::V4), Route::Direct(Family::V6)]
        );
        assert_eq!(proxied.quic_not_checked(&s), None);
        assert_eq!(direct.quic_not_checked(&s), None);
        // Without 443 among the login ports there is nothing to check, and the run says so.
        let http_only = crate::scenario::load_str(
            &SCENARIO.replace("[anchor]", "ports = [80]\n[anchor]"),
            std::path::Path::new("quic.toml"),
            crate::scenario::Format::Toml,
        )
        .unwrap();
        let plan80 = Plan::build(&http_only, &[]);
        assert!(
            !plan80
                .checks
                .iter()
                .any(|c| matches!(c.kind, CheckKind::Quic { .. }))
        );
        assert_eq!(
            plan80.quic_not_checked(&http_only).as_deref(),
            Some("not checked: the login ports lack 443")
        );
    }

    #[test]
    fn blocked_quic_passes_whatever_blocked_it() {
        for by in [
            QuicBlock::NoAnswer,
            QuicBlock::Refused,
            QuicBlock::Unreachable,
        ] {
            let o = judge(QuicOutcome::Blocked { by }, Vec::new(), true);
            assert_eq!(o.status, Status::Pass, "{by:?}: {}", o.reason);
            assert!(
                o.reason.contains("browsers fall back to TCP"),
                "{}",
                o.reason
            );
            assert_eq!(cause(&o), None);
        }
    }

    #[test]
    fn a_completed_handshake_without_an_http3_echo_fails_quic_open() {
        let o = judge(completed(), Vec::new(), true);
        assert_eq!(o.status, Status::Fail, "{}", o.reason);
        assert_eq!(cause(&o), Some(Cause::QuicOpen));
        let step = o.diagnosis.as_ref().unwrap().guide_step;
        assert_eq!(step, crate::guide::GuideStep::BlockQuic);
        assert!(step.is_tenant(), "not a vantage-side cause");
        assert!(step.text().contains("UDP 443"));
        // The offer is shown beside the handshake.
        assert!(o.observed.contains("Alt-Svc"), "{}", o.observed);
        assert!(o.observed.contains("offers h3"), "{}", o.observed);
        // An echo that gave no address proves nothing either.
        let unusable = Http3Echo {
            outcome: SampleOutcome::Status {
                status: 404,
                excerpt: String::new(),
            },
            ..echo("127.0.0.2")
        };
        let o = judge(completed(), vec![unusable], true);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(cause(&o), Some(Cause::QuicOpen));
    }

    #[test]
    fn an_http3_echo_decides_whether_open_quic_is_anchored() {
        let o = judge(completed(), vec![echo("127.0.0.2")], true);
        assert_eq!(o.status, Status::Pass, "{}", o.reason);
        assert!(o.reason.contains("anchored too"), "{}", o.reason);
        let o = judge(completed(), vec![echo("127.0.0.3")], true);
        assert_eq!(o.status, Status::Fail, "{}", o.reason);
        assert_eq!(cause(&o), Some(Cause::QuicUnanchored));
        assert!(o.reason.contains("127.0.0.3"), "{}", o.reason);
        // One echo outside the anchors is enough to fail.
        let o = judge(
            completed(),
            vec![echo("127.0.0.2"), echo("127.0.0.9")],
            true,
        );
        assert_eq!(cause(&o), Some(Cause::QuicUnanchored));
        // A control observer's answer over HTTP/3 proves nothing about anchoring.
        let control = Http3Echo {
            role: ObserverRole::Control,
            ..echo("127.0.0.2")
        };
        let o = judge(completed(), vec![control], true);
        assert_eq!(cause(&o), Some(Cause::QuicOpen));
    }

    #[test]
    fn outside_the_trusted_locations_quic_is_informational() {
        let failed = QuicOutcome::Failed {
            causes: vec!["peer sent no ALPN".into()],
        };
        for outcome in [completed(), failed] {
            let o = judge(outcome, Vec::new(), false);
            assert_eq!(o.status, Status::Pass, "{}", o.reason);
            assert!(o.reason.starts_with("informational"), "{}", o.reason);
            assert_eq!(cause(&o), None);
        }
    }

    #[test]
    fn offered_but_not_tried_is_said() {
        let why = "the vantage binds to interface eth1".to_string();
        let o = judge(
            QuicOutcome::NotTried(QuicNotTried::NoQuicSupport { why }),
            Vec::new(),
            true,
        );
        assert_eq!(o.status, Status::Skip);
        assert!(o.reason.contains("HTTP/3 is offered"), "{}", o.reason);
        assert!(o.reason.contains("not tried"), "{}", o.reason);
    }

    #[test]
    fn a_failed_handshake_is_undecided_never_a_pass() {
        let o = judge(
            QuicOutcome::Failed {
                causes: vec!["peer sent no ALPN".into()],
            },
            Vec::new(),
            true,
        );
        assert_eq!(o.status, Status::Error, "{}", o.reason);
        assert_eq!(cause(&o), Some(Cause::QuicOpen));
    }
}
