//! Each check on its own: its observation against what its kind expects.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use super::expectation::{Expectation, chain, describe_cut};
use super::sample::{sample_problem, tally_ips};
use crate::observation::show_duration;
use crate::observation::{
    AnswerSource, ChainTrust, ConnectOutcome, DnsObservation, DnsOutcome, EgressObservation,
    HttpAnswer, HttpObservation, HttpOutcome, NoFamilyPath, NotRun, Observation, SampleOutcome,
    TlsObservation, TlsOutcome,
};
use crate::outcome::{Outcome, Status};
use crate::plan::{Check, CheckKind, HttpExpect};
use crate::scenario::model::{Family, ObserverRole};

/// A blank outcome for a check, filled in by the judging functions.
pub(super) fn outcome(check: &Check, obs: &Observation, status: Status, reason: String) -> Outcome {
    Outcome {
        name: check.name.clone(),
        stage: check.stage,
        target: check.target(),
        host: check.host.clone(),
        port: check.port.map(crate::scenario::model::Port::get),
        route: Some(check.route),
        status,
        reason,
        expected: String::new(),
        observed: String::new(),
        causes: Vec::new(),
        diagnosis: None,
        warnings: Vec::new(),
        blocked_by: None,
        elapsed: elapsed(obs),
        observation: obs.clone(),
    }
}

fn elapsed(obs: &Observation) -> Duration {
    match obs {
        Observation::Resolve(o) => o.elapsed,
        Observation::Connect(o) => o
            .attempts
            .iter()
            .map(|a| a.elapsed)
            .max()
            .unwrap_or_default(),
        Observation::Tls(o) => o.elapsed,
        Observation::Http(o) => o.elapsed,
        Observation::Egress(o) => o
            .samples
            .iter()
            .map(|s| s.elapsed)
            .max()
            .unwrap_or_default(),
        Observation::Entra(e) => e.token.elapsed,
        Observation::HttpsRecord(r) => r.elapsed,
        Observation::Quic(q) => q.elapsed,
        Observation::NamedLocations(_)
        | Observation::WhatIf(_)
        | Observation::Recorded(_)
        | Observation::ProxyDecision(_) => Duration::ZERO,
        Observation::NotRun(NotRun::Timeout { after }) => *after,
        Observation::NotRun(_) => Duration::ZERO,
    }
}

/// One check on its own. The runner uses this to decide whether dependants may run.
pub fn judge_check(check: &Check, obs: &Observation, exp: &Expectation) -> Outcome {
    match (obs, &check.kind) {
        (Observation::NotRun(not_run), _) => judge_not_run(check, obs, not_run, exp),
        (Observation::Resolve(dns), _) => judge_resolve(check, obs, dns, exp),
        (Observation::Connect(c), _) => judge_connect(check, obs, &c.attempts),
        (Observation::Tls(tls), _) => judge_tls(check, obs, tls),
        (Observation::Http(http), CheckKind::Http(expect)) => judge_http(check, obs, http, expect),
        (Observation::Egress(egress), _) => judge_egress(check, obs, egress, exp),
        (Observation::NamedLocations(n), _) => super::entra::judge_named_locations(
            outcome(check, obs, Status::Error, String::new()),
            n,
            exp,
        ),
        (Observation::WhatIf(w), _) => {
            super::what_if::judge_what_if(outcome(check, obs, Status::Error, String::new()), w, exp)
        }
        (Observation::Entra(e), _) => {
            super::entra::judge(outcome(check, obs, Status::Error, String::new()), e, exp)
        }
        // Judged alone, without the A/AAAA answers its hints are compared with: the run judges
        // it with them (`verdict::judge`).
        (Observation::HttpsRecord(rec), _) => super::https_record::judge_https_record(
            outcome(check, obs, Status::Error, String::new()),
            rec,
            &super::https_record::Verified::unknown(),
            exp,
        ),
        (Observation::Quic(q), _) => {
            super::quic::judge_quic(outcome(check, obs, Status::Error, String::new()), q, exp)
        }
        (Observation::ProxyDecision(d), _) => super::decision::judge(
            outcome(check, obs, Status::Error, String::new()),
            check,
            d,
            exp,
        ),
        (Observation::Http(_), _) => outcome(
            check,
            obs,
            Status::Error,
            "internal: HTTP observation for a non-HTTP check".into(),
        ),
        (Observation::Recorded(_), _) => outcome(
            check,
            obs,
            Status::Error,
            "internal: a recorded observation is not judged again as a live one".into(),
        ),
    }
}

fn judge_not_run(check: &Check, obs: &Observation, not_run: &NotRun, exp: &Expectation) -> Outcome {
    let (status, reason) = match not_run {
        NotRun::Timeout { after } => (
            Status::Error,
            format!("no answer within {}", show_duration(*after)),
        ),
        NotRun::Cut { by, ran } => (
            Status::Error,
            format!(
                "not finished after {}: {}",
                show_duration(*ran),
                describe_cut(by)
            ),
        ),
        NotRun::Blocked { on, .. } => (Status::Skip, format!("not run: {on} did not pass")),
        NotRun::Undecided { checks } => (
            Status::Error,
            format!("not decided by any of: {}", checks.join(", ")),
        ),
        NotRun::NothingToVerify { family, why } => (
            Status::Skip,
            match why {
                NoFamilyPath::NoRecords => {
                    format!("nothing to verify: {} has no {family} address", check.host)
                }
                NoFamilyPath::NoRoute => {
                    format!("nothing to verify: this vantage has no {family} route")
                }
            },
        ),
        NotRun::NoAddress { host, family } => (
            Status::Error,
            format!("{host} has no {family} address to connect to"),
        ),
        NotRun::Panicked { message } => (
            Status::Error,
            format!("the probe crashed (a bug in sipa-check): {message}"),
        ),
        NotRun::NoObserver => (
            Status::Error,
            "no observer in the scenario can decide this".to_string(),
        ),
    };
    // What was seen, without repeating the reason: a check that never finished saw nothing,
    // and says for how long it looked.
    let observed = match not_run {
        NotRun::Cut { ran, .. } => format!("no answer after {} of probing", show_duration(*ran)),
        NotRun::Timeout { after } => format!("no answer after {}", show_duration(*after)),
        _ => "nothing: the probe did not run".to_string(),
    };
    let mut o = outcome(check, obs, status, reason);
    if let NotRun::Cut { ran, .. } = not_run {
        o.elapsed = *ran;
    }
    o.expected = match &check.kind {
        // The anchor set is what an egress check is judged against, run or not.
        CheckKind::Egress(_) => format!("{} {}", expected_for(check), exp.anchors),
        _ => expected_for(check),
    };
    o.observed = observed;
    o
}

fn expected_for(check: &Check) -> String {
    match &check.kind {
        CheckKind::Resolve => format!("{} records", record_type(check)),
        CheckKind::Connect => "a TCP connection".into(),
        CheckKind::Tls => "a TLS handshake with a trusted chain".into(),
        CheckKind::Http(HttpExpect::RedirectToHttps) => "a redirect to https://".into(),
        CheckKind::Http(HttpExpect::OpenIdConfiguration { .. }) => {
            "200 with an OpenID configuration (JSON with `issuer`)".into()
        }
        CheckKind::Egress(o) => match o.role {
            ObserverRole::Anchored => "an egress IP in the anchor set".into(),
            ObserverRole::Control => "an egress IP outside the anchor set".into(),
        },
        CheckKind::EntraNamedLocations => {
            "every anchor IP in a trusted IP named location of Conditional Access".into()
        }
        CheckKind::EntraWhatIf => super::what_if::WHAT_IF_EXPECTED.into(),
        CheckKind::EntraSignIn => {
            "a token request whose sign-in Entra's log names with its IP".into()
        }
        CheckKind::HttpsRecord => "the HTTPS record (type 65), or none".into(),
        CheckKind::Quic { .. } => super::quic::QUIC_EXPECTED.into(),
        CheckKind::ProxyDecision { .. } => super::decision::expected(check),
    }
}

fn record_type(check: &Check) -> &'static str {
    check.family().unwrap_or(Family::V4).record_type()
}

fn judge_resolve(
    check: &Check,
    obs: &Observation,
    dns: &DnsObservation,
    exp: &Expectation,
) -> Outcome {
    let rtype = dns.record_type;
    let resolvers = if dns.resolvers.is_empty() {
        "the system resolvers".to_string()
    } else {
        dns.resolvers.join(", ")
    };
    let hosts_file = match &dns.source {
        AnswerSource::HostsFile { path } => Some(path.as_str()),
        AnswerSource::NamedServers { .. } | AnswerSource::SystemServers { .. } => None,
    };
    let (status, reason, observed) = match (&dns.outcome, hosts_file) {
        // A hosts-file entry has no TTL of its own: where it came from is what matters.
        (DnsOutcome::Answers { answers }, Some(path)) => {
            let shown: Vec<String> = answers
                .iter()
                .map(|a| format!("{} ({})", a.addr, a.class))
                .collect();
            (
                Status::Pass,
                format!("{rtype} {} from the hosts file {path}", shown.join(", ")),
                format!("{} from the hosts file {path}", shown.join(", ")),
            )
        }
        (DnsOutcome::Answers { answers }, None) => {
            let shown: Vec<String> = answers
                .iter()
                .map(|a| format!("{} ({}, ttl {})", a.addr, a.class, a.ttl))
                .collect();
            (
                Status::Pass,
                format!("{rtype} {}", shown.join(", ")),
                shown.join(", "),
            )
        }
        (DnsOutcome::NoRecords, _) if check.family() == Some(Family::V6) => (
            Status::Skip,
            "no AAAA records: nothing to probe over IPv6".into(),
            "no AAAA records".into(),
        ),
        (DnsOutcome::NoRecords, _) => (
            Status::Fail,
            format!("{} has no {rtype} records", dns.host),
            format!("NOERROR, no {rtype} records"),
        ),
        (DnsOutcome::NxDomain, _) => (
            Status::Fail,
            format!("{} does not exist (NXDOMAIN)", dns.host),
            "NXDOMAIN".into(),
        ),
        (DnsOutcome::ErrorCode { code }, _) => (
            Status::Fail,
            format!("the resolver answered {code}"),
            code.clone(),
        ),
        (DnsOutcome::Timeout, _) => (
            Status::Error,
            format!("no DNS answer from {resolvers}"),
            "timeout".into(),
        ),
        (DnsOutcome::Failed { causes }, _) => (
            Status::Error,
            format!("DNS lookup failed: {}", causes.join(": ")),
            causes.join(": "),
        ),
    };
    let mut o = outcome(check, obs, status, reason);
    o.expected = format!("{rtype} records from {resolvers}");
    o.observed = observed;
    if let DnsOutcome::Failed { causes } = &dns.outcome {
        o.causes = causes.clone();
    }
    if let Some(path) = hosts_file {
        o.warnings.push(format!(
            "{} was answered by the hosts file {path}, not by DNS: traffic to it goes where that entry says, whatever DNS and the segment say",
            dns.host
        ));
    }
    if let DnsOutcome::Answers { answers } = &dns.outcome {
        for a in answers {
            use crate::observation::AddressClass::*;
            match a.class {
                ZpaPool => o.warnings.push(format!(
                    "{} is in the ZPA IP pool: Client Connector's ZPA captures {}, so this traffic may not reach ZIA",
                    a.addr, dns.host
                )),
                Bogon => o.warnings.push(format!("{} is a bogon address: the answer cannot be a real front end", a.addr)),
                _ => {}
            }
        }
    }
    if exp.proxied && matches!(o.status, Status::Fail | Status::Error) {
        o.warnings.push(format!(
            "local resolution failed ({}); the proxy resolves names itself",
            o.observed
        ));
        o.reason = "local resolution failed; through the proxy this does not decide".into();
        o.status = Status::Skip;
    }
    o
}

fn judge_connect(
    check: &Check,
    obs: &Observation,
    attempts: &[crate::observation::ConnectAttempt],
) -> Outcome {
    let shown = |a: &crate::observation::ConnectAttempt| -> String {
        let what = match &a.outcome {
            ConnectOutcome::Connected { local } => format!("connected from {local}"),
            other => connect_failure(other),
        };
        match &a.tunnel {
            Some(t) => format!("{} (CONNECT {t}): {what}", a.addr),
            None => format!("{}: {what}", a.addr),
        }
    };
    let ok = attempts
        .iter()
        .filter(|a| matches!(a.outcome, ConnectOutcome::Connected { .. }))
        .count();
    let observed: Vec<String> = attempts.iter().map(shown).collect();
    let (status, reason) = if attempts.is_empty() {
        (Status::Error, "no address was tried".to_string())
    } else if attempts.len() == 1 && ok == 1 {
        // Where it connected from is in `observed`; the reason does not repeat it.
        (Status::Pass, format!("connected to {}", attempts[0].addr))
    } else if ok > 0 && check.route == crate::plan::Route::Proxy {
        // Proxies tried in order (a PAC file's fail-over): the last one carried it.
        let carried = attempts
            .iter()
            .find(|a| matches!(a.outcome, ConnectOutcome::Connected { .. }))
            .map_or_else(String::new, |a| a.addr.to_string());
        (
            Status::Pass,
            match attempts.len() - ok {
                1 => format!("carried by {carried}, after 1 proxy failed"),
                n => format!("carried by {carried}, after {n} proxies failed"),
            },
        )
    } else if ok > 0 {
        (
            Status::Pass,
            format!("{ok} of {} addresses connected", attempts.len()),
        )
    } else {
        let first = &attempts[0].outcome;
        let status = match first {
            ConnectOutcome::Timeout => Status::Error,
            ConnectOutcome::Unreachable { .. } if check.family() == Some(Family::V6) => {
                Status::Skip
            }
            ConnectOutcome::Failed { .. } => Status::Error,
            _ => Status::Fail,
        };
        (status, connect_failure(first))
    };
    let mut o = outcome(check, obs, status, reason);
    o.expected = expected_for(check);
    o.observed = observed.join("; ");
    if ok > 0 && ok < attempts.len() {
        o.warnings.push(format!(
            "{} of {} addresses did not connect",
            attempts.len() - ok,
            attempts.len()
        ));
    }
    if o.status == Status::Skip {
        o.warnings
            .push("no IPv6 route from this vantage: IPv6 cannot bypass the tunnel here".into());
    }
    if ok == 0
        && let Some(a) = attempts.first()
    {
        o.causes = match &a.outcome {
            ConnectOutcome::Unreachable { causes } | ConnectOutcome::Failed { causes } => {
                causes.clone()
            }
            _ => Vec::new(),
        };
    }
    o
}

fn connect_failure(outcome: &ConnectOutcome) -> String {
    match outcome {
        ConnectOutcome::Connected { .. } => "connected".into(),
        ConnectOutcome::Refused => "connection refused".into(),
        ConnectOutcome::Reset => "connection reset".into(),
        ConnectOutcome::Timeout => "no answer to the connection attempt (timeout)".into(),
        ConnectOutcome::Unreachable { causes } => format!("unreachable: {}", causes.join(": ")),
        ConnectOutcome::ProxyRefused { status, reason } => {
            format!("the proxy refused the tunnel: {status} {reason}")
        }
        ConnectOutcome::Failed { causes } => causes.join(": "),
    }
}

fn judge_tls(check: &Check, obs: &Observation, tls: &TlsObservation) -> Outcome {
    let (status, reason, observed, causes) = match &tls.outcome {
        TlsOutcome::Established {
            version,
            chain,
            trust,
            matched_name,
            ..
        } => {
            let issuer = chain.last().map(|c| c.issuer.clone()).unwrap_or_default();
            let leaf = chain.first().map(|c| c.subject.clone()).unwrap_or_default();
            let name = match matched_name {
                Some(san) => format!("SAN {san} matched"),
                None => format!("no SAN names {}", tls.server_name),
            };
            let observed = format!("{version}, {leaf} ({name}), issued by {issuer}");
            match trust {
                ChainTrust::PublicRoot => (
                    Status::Pass,
                    "chain ends at a public root".to_string(),
                    observed,
                    vec![],
                ),
                ChainTrust::DeclaredAnchor => (
                    Status::Pass,
                    "chain ends at a declared trust anchor (--ca-file)".to_string(),
                    observed,
                    vec![],
                ),
                ChainTrust::OsStoreOnly => (
                    Status::Pass,
                    "chain ends at a root only this machine trusts".to_string(),
                    observed,
                    vec![],
                ),
                ChainTrust::Untrusted { error } => (
                    Status::Fail,
                    format!("chain from an unexpected CA ({issuer})"),
                    observed,
                    vec![error.clone()],
                ),
            }
        }
        TlsOutcome::Failed { causes } => (
            Status::Fail,
            format!("TLS handshake failed: {}", causes.join(": ")),
            causes.join(": "),
            causes.clone(),
        ),
        TlsOutcome::Timeout { after } => {
            let why = format!("no TLS handshake within {}", show_duration(*after));
            (Status::Error, why.clone(), why, vec![])
        }
        TlsOutcome::NoTransport { outcome } => {
            let status = match outcome {
                ConnectOutcome::Timeout | ConnectOutcome::Failed { .. } => Status::Error,
                _ => Status::Fail,
            };
            let why = connect_failure(outcome);
            (status, format!("no transport for TLS: {why}"), why, vec![])
        }
    };
    let mut o = outcome(check, obs, status, reason);
    o.expected = format!(
        "a TLS handshake for {} with a trusted chain",
        tls.server_name
    );
    o.observed = format!("{}: {observed}", tls.addr);
    o.causes = causes;
    if let TlsOutcome::Established {
        trust: ChainTrust::OsStoreOnly,
        chain,
        ..
    } = &tls.outcome
    {
        let issuer = chain.last().map(|c| c.issuer.as_str()).unwrap_or("?");
        o.warnings.push(format!(
            "TLS to {} is intercepted: the chain ends at {issuer}, trusted only by this machine's store",
            tls.server_name
        ));
    }
    o
}

fn judge_http(
    check: &Check,
    obs: &Observation,
    http: &HttpObservation,
    expect: &HttpExpect,
) -> Outcome {
    let mut warnings = Vec::new();
    let (status, reason, observed, causes) = match &http.outcome {
        HttpOutcome::Failed { causes } => (
            Status::Fail,
            format!("no HTTP answer: {}", causes.join(": ")),
            causes.join(": "),
            causes.clone(),
        ),
        HttpOutcome::Timeout { after } => {
            let why = format!("no complete answer within {}", show_duration(*after));
            (Status::Error, why.clone(), why, vec![])
        }
        HttpOutcome::Answered(answer) => {
            let observed = show_answer(answer);
            let (status, reason) = match Block::of_answer(answer) {
                Some(block) => (Status::Fail, block.reason()),
                None => match expect {
                    HttpExpect::RedirectToHttps => {
                        let to_https = answer
                            .location
                            .as_deref()
                            .is_some_and(|l| l.to_ascii_lowercase().starts_with("https://"));
                        if (300..400).contains(&answer.status) && to_https {
                            (Status::Pass, format!("{} redirect to https", answer.status))
                        } else if (300..400).contains(&answer.status) {
                            (
                                Status::Fail,
                                format!("{} redirect, but not to https://", answer.status),
                            )
                        } else {
                            (
                                Status::Fail,
                                format!("expected a redirect to https://, got {}", answer.status),
                            )
                        }
                    }
                    HttpExpect::OpenIdConfiguration { .. } => {
                        match (&answer.issuer, &answer.body_problem) {
                            (Some(issuer), _) if answer.status == 200 => {
                                if answer.entra_headers.is_empty() {
                                    warnings.push("no x-ms-request-id header: the answer may not come from Entra's front end".to_string());
                                }
                                (
                                    Status::Pass,
                                    format!("OpenID configuration, issuer {issuer}"),
                                )
                            }
                            (_, Some(problem)) if answer.status == 200 => (
                                Status::Fail,
                                format!("200, but not an OpenID configuration: {problem}"),
                            ),
                            _ => (
                                Status::Fail,
                                format!(
                                    "expected 200 with the OpenID configuration, got {}",
                                    answer.status
                                ),
                            ),
                        }
                    }
                },
            };
            (status, reason, observed, vec![])
        }
    };
    let mut o = outcome(check, obs, status, reason);
    o.expected = expected_for(check);
    o.observed = format!(
        "{} via {}: {observed}",
        http.url,
        if http.via.is_empty() { "?" } else { &http.via }
    );
    o.causes = causes;
    o.warnings = warnings;
    o
}

/// How a proxy or gateway turned a request away: the fact behind both the check's reason and
/// its diagnosis, so that neither is read back from the other's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Block {
    /// 407: the proxy wants credentials.
    ProxyAuth,
    /// 403 without a block page.
    Denied { status: u16 },
    /// A proxy's block or error page, with the status it came with.
    Page { status: u16 },
    /// 451.
    Legal,
}

impl Block {
    /// The block an HTTP answer is, if it is one.
    pub(super) fn of_answer(answer: &HttpAnswer) -> Option<Block> {
        match answer.status {
            407 => Some(Block::ProxyAuth),
            403 if answer.block_page => Some(Block::Page { status: 403 }),
            403 => Some(Block::Denied { status: 403 }),
            451 => Some(Block::Legal),
            200 if answer.block_page && answer.issuer.is_none() => {
                Some(Block::Page { status: 200 })
            }
            _ => None,
        }
    }

    /// The block a status alone is: a proxy's answer to CONNECT, or an echo's answer.
    pub(super) fn of_status(status: u16) -> Option<Block> {
        match status {
            407 => Some(Block::ProxyAuth),
            403 => Some(Block::Denied { status }),
            451 => Some(Block::Legal),
            _ => None,
        }
    }

    /// One line for the check's reason.
    fn reason(self) -> String {
        match self {
            Block::ProxyAuth => "the proxy demands authentication (407)".into(),
            Block::Denied { status } => format!("forbidden ({status})"),
            Block::Page { status: 200 } => {
                "a proxy block page instead of the login front end".into()
            }
            Block::Page { status } => format!("blocked: {status} block page"),
            Block::Legal => "blocked for legal reasons (451)".into(),
        }
    }
}

fn show_answer(answer: &HttpAnswer) -> String {
    let mut s = answer.status.to_string();
    if let Some(location) = &answer.location {
        s.push_str(&format!(" → {location}"));
    }
    if let Some(issuer) = &answer.issuer {
        s.push_str(&format!(", issuer {issuer}"));
    }
    if let Some(problem) = &answer.body_problem {
        s.push_str(&format!(", {problem}"));
    }
    if answer.issuer.is_none() && !answer.body_excerpt.is_empty() && answer.location.is_none() {
        s.push_str(&format!(", body: {}", answer.body_excerpt));
    }
    s
}

fn judge_egress(
    check: &Check,
    obs: &Observation,
    egress: &EgressObservation,
    exp: &Expectation,
) -> Outcome {
    let ips = egress.ips();
    let total = egress.samples.len();
    let must_be_in = egress.role == ObserverRole::Anchored && exp.expect_anchored;
    let wrong: Vec<IpAddr> = ips
        .iter()
        .copied()
        .filter(|ip| exp.anchors.contains(*ip) != must_be_in)
        .collect();
    let bad: Vec<&SampleOutcome> = egress
        .samples
        .iter()
        .map(|s| &s.outcome)
        .filter(|o| !matches!(o, SampleOutcome::Ip { .. }))
        .collect();
    let target = check.target();
    let relation = if must_be_in { "in" } else { "outside" };
    let expected = format!("an egress IP {relation} the anchor set {}", exp.anchors);
    let mut observed = tally_ips(&ips);
    if !bad.is_empty() {
        let problems: BTreeSet<String> = bad.iter().map(|o| sample_problem(o)).collect();
        let problems: Vec<String> = problems.into_iter().collect();
        let text = format!(
            "{} of {total} samples unreadable: {}",
            bad.len(),
            problems.join("; ")
        );
        observed = if observed.is_empty() {
            text
        } else {
            format!("{observed}; {text}")
        };
    }
    let (status, reason) = if !wrong.is_empty() {
        let shown: BTreeSet<String> = wrong.iter().map(|ip| ip.to_string()).collect();
        let shown: Vec<String> = shown.into_iter().collect();
        let side = if must_be_in { "outside" } else { "inside" };
        (
            Status::Fail,
            format!(
                "{target} left from {}, {side} the anchor set ({} of {total} samples)",
                shown.join(" and "),
                wrong.len()
            ),
        )
    } else if !bad.is_empty() {
        (
            Status::Error,
            // The counts and the problems are in `observed`.
            "the echo gave no usable address".to_string(),
        )
    } else if ips.is_empty() {
        (Status::Error, format!("{target}: no samples"))
    } else {
        (
            Status::Pass,
            format!("left from {} ({relation} the anchor set)", tally_ips(&ips)),
        )
    };
    let mut o = outcome(check, obs, status, reason);
    o.expected = expected;
    o.observed = format!(
        "{observed} (via {})",
        if egress.via.is_empty() {
            "?"
        } else {
            &egress.via
        }
    );
    o.causes = bad
        .iter()
        .filter_map(|b| match b {
            SampleOutcome::Failed { causes } => Some(chain(causes)),
            SampleOutcome::ProxyRefused { status, reason } => {
                Some(format!("the proxy refused the tunnel: {status} {reason}"))
            }
            _ => None,
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    o
}
