//! A login host's DNS HTTPS record against the path the run verified: the record is shown
//! (alpn, hints, port, ECH); where the vantage expects anchoring and connects directly, a hint
//! outside the A/AAAA answers, or a port other than 443, is a path a browser may take around
//! the anchored one.
//!
//! No record is a pass ("none published"). A query that failed (SERVFAIL, REFUSED, a timeout,
//! an unreadable answer) is a skip with its reason, never a pass: browsers ignore a failed HTTPS
//! query and connect with the A/AAAA answers, which the run's own checks verify, so the failure
//! opens no path of its own, but nothing about the record was learnt either.

use std::net::IpAddr;

use super::expectation::{Expectation, diagnosis};
use crate::cause::Cause;
use crate::observation::{
    DnsOutcome, HttpsQueryFailure, HttpsRecordObservation, HttpsRecordOutcome, Observation,
};
use crate::outcome::{Outcome, Route, Status};
use crate::plan::{CheckKind, Plan};
use crate::scenario::model::Family;

/// What one family's A or AAAA lookup of the host gave the run.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum FamilyAnswer {
    /// The run does not probe this family.
    NotProbed,
    /// The addresses the run's checks connected to (DNS's or the hosts file's answer).
    Addresses(Vec<IpAddr>),
    /// The name has no address of this family (NODATA or NXDOMAIN): none was verified.
    NoAddress,
    /// The lookup did not decide (timeout, SERVFAIL, not run).
    Undecided,
}

/// Both families' answers for one host.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Verified {
    pub v4: FamilyAnswer,
    pub v6: FamilyAnswer,
}

impl Verified {
    /// Nothing known of either family: a record judged on its own.
    pub(super) fn unknown() -> Verified {
        Verified {
            v4: FamilyAnswer::Undecided,
            v6: FamilyAnswer::Undecided,
        }
    }

    fn of(&self, family: Family) -> &FamilyAnswer {
        match family {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        }
    }
}

/// The A and AAAA answers the plan's resolve checks of `host` observed.
pub(super) fn verified(plan: &Plan, observations: &[Observation], host: &str) -> Verified {
    let family = |family: Family| {
        let Some(check) = plan.checks.iter().find(|c| {
            c.kind == CheckKind::Resolve && c.host == host && c.route == Route::Direct(family)
        }) else {
            return FamilyAnswer::NotProbed;
        };
        match observations.get(check.id) {
            Some(Observation::Resolve(dns)) => match &dns.outcome {
                DnsOutcome::Answers { .. } => FamilyAnswer::Addresses(dns.addresses()),
                DnsOutcome::NoRecords | DnsOutcome::NxDomain => FamilyAnswer::NoAddress,
                _ => FamilyAnswer::Undecided,
            },
            _ => FamilyAnswer::Undecided,
        }
    };
    Verified {
        v4: family(Family::V4),
        v6: family(Family::V6),
    }
}

/// Judges the HTTPS record of `check`'s host; `o` is the check's blank outcome.
pub(super) fn judge_https_record(
    mut o: Outcome,
    rec: &HttpsRecordObservation,
    verified: &Verified,
    exp: &Expectation,
) -> Outcome {
    // Only a direct connection from a vantage that expects anchoring can be led around the
    // anchored path by a hint: an explicit proxy resolves names itself, and a vantage outside
    // the trusted locations expects no anchoring to go around.
    let judged = exp.expect_anchored && !exp.proxied;
    let host = rec.host.as_str();
    let via = rec
        .alias
        .as_ref()
        .map(|a| format!("via its alias {a}: "))
        .unwrap_or_default();
    o.expected = if judged {
        "no HTTPS record, or one whose address hints are among the A/AAAA answers verified and whose port is 443".into()
    } else if exp.proxied {
        "the HTTPS record, shown (the proxy resolves names itself)".into()
    } else {
        "the HTTPS record, shown (this vantage expects no anchoring)".into()
    };
    let records = match &rec.outcome {
        HttpsRecordOutcome::NoRecord | HttpsRecordOutcome::NxDomain => {
            let what = if rec.outcome == HttpsRecordOutcome::NxDomain {
                "NXDOMAIN"
            } else {
                "NOERROR, no HTTPS record"
            };
            o.status = Status::Pass;
            o.reason = format!("none published{}", paren(&via));
            o.observed = format!("{via}{what}");
            return o;
        }
        HttpsRecordOutcome::AliasChain { target } => {
            o.status = Status::Skip;
            o.reason =
                format!("not read: {via}another alias, to {target}, which is not followed further");
            o.observed = format!("{via}AliasMode record to {target}");
            return o;
        }
        HttpsRecordOutcome::Failed { failure } => {
            o.status = Status::Skip;
            o.reason = format!(
                "the HTTPS record could not be read ({failure}): browsers then connect with the A/AAAA answers"
            );
            o.observed = format!("{via}{failure}");
            if let HttpsQueryFailure::Malformed { causes } | HttpsQueryFailure::Other { causes } =
                failure
            {
                o.causes = causes.clone();
            }
            return o;
        }
        HttpsRecordOutcome::Records { records } => records,
    };
    let shown: Vec<String> = records.iter().map(|r| r.show()).collect();
    o.observed = format!("{via}HTTPS {}", shown.join("; "));
    if let Some(alias) = &rec.alias {
        // RFC 9460, 2.4.2: the alias's target is the name a browser then connects to.
        o.warnings.push(format!(
            "{host}'s HTTPS record is an alias to {alias}: a browser that follows it connects to that name's addresses, which this run did not resolve"
        ));
    }

    // Each path the record opens that the run did not verify, with its cause.
    let mut off: Vec<(Cause, String)> = Vec::new();
    let mut undecided: Vec<String> = Vec::new();
    for r in records {
        for ip in r.hints() {
            let (family, key, rtype, word) = match ip {
                IpAddr::V4(_) => (Family::V4, "ipv4hint", "A", "IPv4"),
                IpAddr::V6(_) => (Family::V6, "ipv6hint", "AAAA", "IPv6"),
            };
            match verified.of(family) {
                FamilyAnswer::Addresses(addrs) if addrs.contains(&ip) => {}
                FamilyAnswer::Addresses(addrs) => {
                    let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                    off.push((
                        Cause::HttpsHintOffPath,
                        format!(
                            "the HTTPS record's {key} {ip} is not among the addresses verified ({rtype} {}): a browser may connect there around the anchored path",
                            list.join(", ")
                        ),
                    ));
                }
                FamilyAnswer::NoAddress => off.push((
                    Cause::HttpsHintOffPath,
                    format!(
                        "the HTTPS record's {key} {ip} is not among the addresses verified ({host} has no {rtype} record): a browser may connect there around the anchored path"
                    ),
                )),
                FamilyAnswer::NotProbed => o.warnings.push(format!(
                    "the HTTPS record's {key} {ip} is not verified: this run does not probe {word}"
                )),
                FamilyAnswer::Undecided => undecided.push(format!(
                    "the {key} {ip} cannot be compared with the {rtype} answer, which the run did not get"
                )),
            }
        }
        if let Some(port) = r.port.filter(|&p| p != 443) {
            off.push((
                Cause::HttpsPortOffPath,
                format!(
                    "the HTTPS record sends browsers to port {port}, which the run did not verify: a browser may connect there around the anchored path"
                ),
            ));
        }
        if !r.targets_owner(host) {
            o.warnings.push(format!(
                "the HTTPS record's target is {}: a browser that uses it connects to that name's addresses, which this run did not resolve",
                r.target
            ));
        }
        if let Some(bytes) = r.ech_config_bytes {
            o.warnings.push(format!(
                "the HTTPS record offers ECH ({bytes} bytes of configuration): a browser that uses it hides {host} in an encrypted ClientHello, so ZIA's SSL inspection and forwarding rules see only the outer public name"
            ));
        }
    }
    // The same hint or port in several records is one finding.
    let mut seen = std::collections::BTreeSet::new();
    off.retain(|(_, what)| seen.insert(what.clone()));
    o.warnings.retain(|w| seen.insert(w.clone()));
    if !judged {
        o.status = Status::Pass;
        o.reason = format!(
            "{}{}",
            o.observed,
            if off.is_empty() { "" } else { " (shown only)" }
        );
        let why = if exp.proxied {
            "shown only: through the proxy, which resolves names itself"
        } else {
            "shown only: this vantage expects no anchoring"
        };
        for (_, what) in off {
            o.warnings.push(format!("{what} ({why})"));
        }
        return o;
    }
    if let Some((cause, _)) = off.first() {
        let cause = *cause;
        let said: Vec<String> = off.into_iter().map(|(_, what)| what).collect();
        o.status = Status::Fail;
        o.reason = said.join("; ");
        // The specifics head the problem block; the guide step says where to look.
        o.diagnosis = diagnosis(cause, format!("{host}: {}", o.reason));
    } else if !undecided.is_empty() {
        o.status = Status::Error;
        o.reason = undecided.join("; ");
        o.diagnosis = diagnosis(
            Cause::DnsFailed,
            format!(
                "{host}'s A/AAAA lookup did not answer, so its HTTPS record's hints cannot be checked"
            ),
        );
    } else {
        o.status = Status::Pass;
        o.reason = o.observed.clone();
    }
    o
}

fn paren(via: &str) -> String {
    let via = via.trim_end_matches(": ");
    if via.is_empty() {
        String::new()
    } else {
        format!(" ({via})")
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    use super::*;
    use crate::observation::{
        AddressClass, AnswerSource, DnsAnswer, DnsObservation, NotRun, ServiceRecord,
    };
    use crate::plan::Check;

    const HOST: &str = "login.microsoftonline.com";

    fn exp(expect_anchored: bool, proxied: bool) -> Expectation {
        Expectation::lab(expect_anchored, proxied)
    }

    fn check() -> Check {
        Check {
            id: 0,
            name: format!("{HOST} https record"),
            stage: crate::plan::Stage::Resolve,
            host: HOST.into(),
            port: None,
            route: Route::Direct(Family::V4),
            kind: CheckKind::HttpsRecord,
            waits_for: None,
            after: None,
            probe: 0,
            login_host: true,
        }
    }

    fn record(v4: &[[u8; 4]], port: Option<u16>) -> ServiceRecord {
        ServiceRecord {
            priority: 1,
            target: ".".into(),
            alpn: vec!["h3".into(), "h2".into()],
            no_default_alpn: false,
            port,
            ipv4hint: v4.iter().map(|&o| Ipv4Addr::from(o)).collect(),
            ipv6hint: vec![],
            ech_config_bytes: None,
            ttl: 300,
        }
    }

    fn observed(outcome: HttpsRecordOutcome) -> HttpsRecordObservation {
        HttpsRecordObservation {
            host: HOST.into(),
            resolvers: vec!["127.0.0.1:53".into()],
            alias: None,
            outcome,
            elapsed: Duration::from_millis(1),
        }
    }

    fn judged(rec: HttpsRecordObservation, verified: &Verified, exp: &Expectation) -> Outcome {
        let c = check();
        let obs = Observation::HttpsRecord(rec.clone());
        let blank = super::super::judge::outcome(&c, &obs, Status::Error, String::new());
        judge_https_record(blank, &rec, verified, exp)
    }

    fn v4_answer(addrs: &[[u8; 4]]) -> Verified {
        Verified {
            v4: FamilyAnswer::Addresses(
                addrs
                    .iter()
                    .map(|&o| IpAddr::from(Ipv4Addr::from(o)))
                    .collect(),
            ),
            v6: FamilyAnswer::NotProbed,
        }
    }

    fn records(records: Vec<ServiceRecord>) -> HttpsRecordObservation {
        observed(HttpsRecordOutcome::Records { records })
    }

    #[test]
    fn a_hint_among_the_a_answers_passes_and_the_record_is_shown() {
        let o = judged(
            records(vec![record(&[[127, 0, 0, 1]], None)]),
            &v4_answer(&[[127, 0, 0, 1]]),
            &exp(true, false),
        );
        assert_eq!(o.status, Status::Pass, "{}", o.reason);
        assert_eq!(o.reason, "HTTPS 1 . alpn=h3,h2 ipv4hint=127.0.0.1");
        assert!(o.diagnosis.is_none());
        assert!(o.warnings.is_empty());
    }

    #[test]
    fn a_hint_outside_the_a_answers_fails_direct_with_its_own_cause() {
        let o = judged(
            records(vec![record(&[[127, 0, 0, 1], [127, 0, 0, 99]], None)]),
            &v4_answer(&[[127, 0, 0, 1]]),
            &exp(true, false),
        );
        assert_eq!(o.status, Status::Fail);
        let d = o.diagnosis.as_ref().expect("a diagnosis");
        assert_eq!(d.cause, Cause::HttpsHintOffPath);
        assert_eq!(d.guide_step, crate::guide::GuideStep::Dns);
        assert!(
            o.reason.starts_with(
                "the HTTPS record's ipv4hint 127.0.0.99 is not among the addresses verified (A 127.0.0.1)"
            ),
            "{}",
            o.reason
        );
        assert!(!o.reason.contains("127.0.0.1 is not"), "{}", o.reason);
    }

    #[test]
    fn through_the_proxy_or_outside_the_trusted_locations_an_off_path_hint_is_shown_only() {
        for e in [exp(true, true), exp(false, false)] {
            let o = judged(
                records(vec![record(&[[127, 0, 0, 99]], Some(8443))]),
                &v4_answer(&[[127, 0, 0, 1]]),
                &e,
            );
            assert_eq!(o.status, Status::Pass, "{}", o.reason);
            assert!(o.diagnosis.is_none());
            assert!(o.reason.ends_with("(shown only)"), "{}", o.reason);
            assert_eq!(o.warnings.len(), 2, "{:?}", o.warnings);
            assert!(o.warnings[0].contains("ipv4hint 127.0.0.99"));
            assert!(o.warnings[1].contains("port 8443"));
        }
    }

    #[test]
    fn the_same_hint_in_two_records_is_one_finding() {
        let mut second = record(&[[127, 0, 0, 99]], None);
        second.priority = 2;
        let o = judged(
            records(vec![record(&[[127, 0, 0, 99]], None), second]),
            &v4_answer(&[[127, 0, 0, 1]]),
            &exp(true, false),
        );
        assert_eq!(o.status, Status::Fail);
        assert_eq!(o.reason.matches("127.0.0.99").count(), 1, "{}", o.reason);
    }

    #[test]
    fn a_port_other_than_443_fails_direct_with_its_own_cause() {
        let o = judged(
            records(vec![record(&[[127, 0, 0, 1]], Some(8443))]),
            &v4_answer(&[[127, 0, 0, 1]]),
            &exp(true, false),
        );
        assert_eq!(o.status, Status::Fail);
        assert_eq!(o.diagnosis.unwrap().cause, Cause::HttpsPortOffPath);
        let same = judged(
            records(vec![record(&[[127, 0, 0, 1]], Some(443))]),
            &v4_answer(&[[127, 0, 0, 1]]),
            &exp(true, false),
        );
        assert_eq!(same.status, Status::Pass);
    }

    #[test]
    fn an_ipv6_hint_without_any_aaaa_record_is_a_path_not_verified() {
        let mut r = record(&[], None);
        r.ipv6hint = vec![Ipv6Addr::LOCALHOST];
        let verified = Verified {
            v4: FamilyAnswer::Addresses(vec!["127.0.0.1".parse().unwrap()]),
            v6: FamilyAnswer::NoAddress,
        };
        let o = judged(records(vec![r.clone()]), &verified, &exp(true, false));
        assert_eq!(o.status, Status::Fail);
        assert!(o.reason.contains("ipv6hint ::1"), "{}", o.reason);
        assert!(o.reason.contains("has no AAAA record"), "{}", o.reason);
        // A run that does not probe IPv6 says so, and does not fail for it.
        let o = judged(
            records(vec![r]),
            &v4_answer(&[[127, 0, 0, 1]]),
            &exp(true, false),
        );
        assert_eq!(o.status, Status::Pass);
        assert!(
            o.warnings[0].contains("does not probe IPv6"),
            "{:?}",
            o.warnings
        );
    }

    #[test]
    fn hints_that_cannot_be_compared_are_an_error_never_a_pass() {
        let o = judged(
            records(vec![record(&[[127, 0, 0, 1]], None)]),
            &Verified::unknown(),
            &exp(true, false),
        );
        assert_eq!(o.status, Status::Error);
        assert_eq!(o.diagnosis.unwrap().cause, Cause::DnsFailed);
    }

    #[test]
    fn no_record_is_a_pass_and_a_failed_query_a_skip() {
        for outcome in [HttpsRecordOutcome::NoRecord, HttpsRecordOutcome::NxDomain] {
            let o = judged(observed(outcome), &Verified::unknown(), &exp(true, false));
            assert_eq!(o.status, Status::Pass);
            assert_eq!(o.reason, "none published");
        }
        for failure in [
            HttpsQueryFailure::ServFail,
            HttpsQueryFailure::Timeout,
            HttpsQueryFailure::Refused,
            HttpsQueryFailure::Malformed {
                causes: vec!["bad SVCB".into()],
            },
        ] {
            let o = judged(
                observed(HttpsRecordOutcome::Failed {
                    failure: failure.clone(),
                }),
                &v4_answer(&[[127, 0, 0, 1]]),
                &exp(true, false),
            );
            assert_eq!(o.status, Status::Skip, "{failure:?}");
            assert!(o.reason.contains("could not be read"), "{}", o.reason);
            assert!(o.diagnosis.is_none());
        }
        let o = judged(
            observed(HttpsRecordOutcome::AliasChain {
                target: "b.example.".into(),
            }),
            &Verified::unknown(),
            &exp(true, false),
        );
        assert_eq!(o.status, Status::Skip);
    }

    #[test]
    fn ech_and_a_foreign_target_are_warned_about_and_the_ech_bytes_never_shown() {
        let mut r = record(&[[127, 0, 0, 1]], None);
        r.ech_config_bytes = Some(71);
        r.target = "svc.example.net.".into();
        let mut rec = records(vec![r]);
        rec.alias = Some("alias.example.net.".into());
        let o = judged(rec, &v4_answer(&[[127, 0, 0, 1]]), &exp(true, false));
        assert_eq!(o.status, Status::Pass);
        assert!(
            o.observed
                .starts_with("via its alias alias.example.net.: HTTPS 1 svc.example.net.")
        );
        assert!(o.observed.contains("ech=(71 bytes)"));
        assert!(
            o.warnings
                .iter()
                .any(|w| w.contains("offers ECH") && w.contains("SSL inspection"))
        );
        assert!(
            o.warnings
                .iter()
                .any(|w| w.contains("target is svc.example.net."))
        );
        assert!(
            o.warnings
                .iter()
                .any(|w| w.contains("is an alias to alias.example.net."))
        );
    }

    #[test]
    fn the_run_compares_with_each_familys_own_resolve() {
        let text = "name = \"h\"\n[login]\nhosts = [\"login.microsoftonline.com\"]\nports = [443]\n[anchor]\nexpect = [\"127.0.0.2\"]\n[limits]\nfamily = \"both\"\n";
        let s = crate::scenario::load_str(
            text,
            std::path::Path::new("h.toml"),
            crate::scenario::Format::Toml,
        )
        .unwrap();
        let plan = Plan::build(&s, &[]);
        let answered = |c: &Check, outcome: DnsOutcome| {
            Observation::Resolve(DnsObservation {
                host: c.host.clone(),
                record_type: "A",
                resolvers: vec![],
                source: AnswerSource::NamedServers { servers: vec![] },
                outcome,
                elapsed: Duration::ZERO,
            })
        };
        let observations: Vec<Observation> = plan
            .checks
            .iter()
            .map(|c| match (&c.kind, c.route) {
                (CheckKind::Resolve, Route::Direct(Family::V4)) => answered(
                    c,
                    DnsOutcome::Answers {
                        answers: vec![DnsAnswer {
                            addr: "127.0.0.1".parse().unwrap(),
                            ttl: 300,
                            class: AddressClass::Loopback,
                        }],
                    },
                ),
                (CheckKind::Resolve, _) => answered(c, DnsOutcome::NoRecords),
                _ => Observation::NotRun(NotRun::NoObserver),
            })
            .collect();
        let https: Vec<&Check> = plan
            .checks
            .iter()
            .filter(|c| c.kind == CheckKind::HttpsRecord)
            .collect();
        assert_eq!(https.len(), 1, "one HTTPS record check per login host");
        assert_eq!(https[0].name, "login.microsoftonline.com https record");
        assert_eq!(https[0].stage, crate::plan::Stage::Resolve);
        assert_eq!(
            verified(&plan, &observations, HOST),
            Verified {
                v4: FamilyAnswer::Addresses(vec!["127.0.0.1".parse().unwrap()]),
                v6: FamilyAnswer::NoAddress,
            }
        );
        assert_eq!(
            verified(&plan, &observations, "other.example").v4,
            FamilyAnswer::NotProbed
        );
    }
}
