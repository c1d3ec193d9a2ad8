//! Pure verdict logic: observations + expectations → outcomes with reasons and diagnoses.
//! No I/O here: everything is unit-tested on canned observations.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use crate::observation::{
    ChainTrust, ConnectOutcome, Cut, DnsObservation, DnsOutcome, EgressObservation, HttpAnswer,
    HttpObservation, HttpOutcome, NoFamilyPath, NotRun, Observation, SampleOutcome, TlsObservation,
    TlsOutcome,
};
use crate::outcome::Route;
use crate::outcome::{Diagnosis, Outcome, Stage, Status};
use crate::plan::{Check, CheckKind, HttpExpect, Plan};
use crate::report::show_duration;
use crate::scenario::model::{AnchorSet, Family, ObserverRole, Port};

/// What the run expects, beside each check's own kind.
#[derive(Debug, Clone)]
pub struct Expectation {
    pub anchors: AnchorSet,
    /// Login traffic must be anchored from this vantage (false outside trusted locations).
    pub expect_anchored: bool,
    /// An explicit proxy resolves names, so local DNS only informs.
    pub proxied: bool,
    pub login_ports: Vec<Port>,
}

/// The guide steps a diagnosis can point at (zscaler-sipa-office365-guide.txt).
pub mod guide {
    pub const SEGMENT_DOMAINS: &str = "ZPA application segment, Applications: list login.microsoftonline.com, login.windows.net and login.microsoft.com";
    pub const SEGMENT_PORTS: &str = "ZPA application segment, TCP Port Ranges: add 80 and 443";
    pub const FORWARDING_RULE: &str = "ZIA forwarding rule: Forwarding Method ZPA, trust criteria, Application Segment and ZPA gateway (and rule order); ZIA ZPA gateway with the segment's server group";
    pub const SERVER_GROUP: &str = "ZPA segment group and server group: the server group must be associated with the App Connector group whose public IPs are expected";
    pub const ACCESS_POLICY: &str = "ZPA access policy: allow the segment for client type ZIA Service Edge only; App Connectors up and enrolled";
    pub const TOO_BROAD: &str = "ZPA application segment (only the three login hosts) and the ZIA forwarding rule's destinations";
    pub const TRUST_CRITERIA: &str = "ZIA forwarding rule, General tab: trust criteria (locations, users) must not match this vantage";
    pub const IPV6: &str = "outside the guide: IPv6 traffic to the login hosts must also reach ZIA (tunnel it or disable IPv6 for these hosts)";
    pub const SSL_INSPECTION: &str =
        "ZIA SSL inspection: exempt the login hosts, or pass the inspecting root with --ca-file";
    pub const DNS: &str =
        "not a guide step: this vantage's DNS (resolvers, split-horizon zones, DNS filtering)";
    pub const PROXY_AUTH: &str = "not a guide step: this vantage's proxy credentials (user in the proxy URL, password in SIPA_CHECK_PROXY_PASSWORD)";
    pub const PATH_TO_ZIA: &str = "not a guide step: this vantage's path to ZIA (tunnel, PAC file or proxy settings, firewall)";
    pub const OBSERVERS: &str = "scenario: add [[observer]] entries (an anchored canary in the SIPA segment on each login port, and a control)";
}

fn diagnosis(likely_cause: impl Into<String>, guide_step: &str) -> Option<Diagnosis> {
    Some(Diagnosis {
        likely_cause: likely_cause.into(),
        guide_step: guide_step.to_string(),
    })
}

/// Judges every check of the plan, adds the coverage checks, then diagnoses across them.
pub fn judge(plan: &Plan, observations: &[Observation], exp: &Expectation) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = plan
        .checks
        .iter()
        .zip(observations)
        .map(|(check, obs)| judge_check(check, obs, exp))
        .collect();
    for check in &plan.checks {
        let blocked = check
            .after
            .iter()
            .find(|&&a| outcomes[a].status != Status::Pass);
        if let Some(&a) = blocked
            && outcomes[check.id].status != Status::Pass
        {
            let reason = format!("not judged: {} did not pass", outcomes[a].name);
            let o = &mut outcomes[check.id];
            o.status = Status::Skip;
            o.reason = reason;
        }
    }
    outcomes.extend(coverage(plan, exp));
    diagnose(plan, &mut outcomes, exp);
    outcomes
}

/// A blank outcome for a check, filled in by the judging functions.
fn outcome(check: &Check, obs: &Observation, status: Status, reason: String) -> Outcome {
    Outcome {
        name: check.name.clone(),
        stage: check.stage,
        target: check.target(),
        host: check.host.clone(),
        port: check.port.map(|p| p.0),
        route: check.route.to_string(),
        status,
        reason,
        expected: String::new(),
        observed: String::new(),
        causes: Vec::new(),
        diagnosis: None,
        warnings: Vec::new(),
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
        Observation::NotRun(NotRun::Timeout { after }) => *after,
        Observation::NotRun(_) => Duration::ZERO,
    }
}

/// One check on its own. The runner uses this to decide whether dependants may run.
pub fn judge_check(check: &Check, obs: &Observation, exp: &Expectation) -> Outcome {
    match (obs, &check.kind) {
        (Observation::NotRun(not_run), _) => judge_not_run(check, obs, not_run),
        (Observation::Resolve(dns), _) => judge_resolve(check, obs, dns, exp),
        (Observation::Connect(c), _) => judge_connect(check, obs, &c.attempts),
        (Observation::Tls(tls), _) => judge_tls(check, obs, tls),
        (Observation::Http(http), CheckKind::Http(expect)) => judge_http(check, obs, http, expect),
        (Observation::Egress(egress), _) => judge_egress(check, obs, egress, exp),
        (Observation::Http(_), _) => outcome(
            check,
            obs,
            Status::Error,
            "internal: HTTP observation for a non-HTTP check".into(),
        ),
    }
}

fn judge_not_run(check: &Check, obs: &Observation, not_run: &NotRun) -> Outcome {
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
        NotRun::Blocked { on } => (Status::Skip, format!("not run: {on} did not pass")),
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
    let mut o = outcome(check, obs, status, reason.clone());
    o.expected = expected_for(check);
    o.observed = reason;
    o
}

/// What stopped a run, as people read it.
pub fn describe_cut(cut: &Cut) -> String {
    match cut {
        Cut::Deadline { deadline } => {
            format!("the run's deadline of {} passed", show_duration(*deadline))
        }
        Cut::Interrupted => "interrupted".into(),
        Cut::Terminated => "terminated (SIGTERM)".into(),
    }
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
    }
}

fn record_type(check: &Check) -> &'static str {
    match check.family() {
        Some(Family::V6) => "AAAA",
        _ => "A",
    }
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
    let (status, reason, observed) = match &dns.outcome {
        DnsOutcome::Answers { answers } => {
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
        DnsOutcome::NoRecords if check.family() == Some(Family::V6) => (
            Status::Skip,
            "no AAAA records: nothing to probe over IPv6".into(),
            "no AAAA records".into(),
        ),
        DnsOutcome::NoRecords => (
            Status::Fail,
            format!("{} has no {rtype} records", dns.host),
            format!("NOERROR, no {rtype} records"),
        ),
        DnsOutcome::NxDomain => (
            Status::Fail,
            format!("{} does not exist (NXDOMAIN)", dns.host),
            "NXDOMAIN".into(),
        ),
        DnsOutcome::ErrorCode { code } => (
            Status::Fail,
            format!("the resolver answered {code}"),
            code.clone(),
        ),
        DnsOutcome::Timeout => (
            Status::Error,
            format!("no DNS answer from {resolvers}"),
            "timeout".into(),
        ),
        DnsOutcome::Failed { causes } => (
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
        (Status::Pass, shown(&attempts[0]))
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
            ..
        } => {
            let issuer = chain.last().map(|c| c.issuer.clone()).unwrap_or_default();
            let leaf = chain.first().map(|c| c.subject.clone()).unwrap_or_default();
            let observed = format!("{version}, {leaf}, issued by {issuer}");
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
            let (status, reason) = match blocked(answer) {
                Some(why) => (Status::Fail, why),
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

/// A proxy or gateway block, each with its own reason.
fn blocked(answer: &HttpAnswer) -> Option<String> {
    match answer.status {
        407 => Some("the proxy demands authentication (407)".into()),
        403 if answer.block_page => Some("blocked: 403 block page".into()),
        403 => Some("forbidden (403)".into()),
        451 => Some("blocked for legal reasons (451)".into()),
        200 if answer.block_page && answer.issuer.is_none() => {
            Some("a proxy block page instead of the login front end".into())
        }
        _ => None,
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

/// Counts of addresses, in first-seen order: `127.0.0.2 ×2, 127.0.0.3 ×1`.
fn tally_ips(ips: &[IpAddr]) -> String {
    let mut order: Vec<IpAddr> = Vec::new();
    let mut counts: BTreeMap<IpAddr, usize> = BTreeMap::new();
    for ip in ips {
        if !counts.contains_key(ip) {
            order.push(*ip);
        }
        *counts.entry(*ip).or_default() += 1;
    }
    order
        .iter()
        .map(|ip| format!("{ip} ×{}", counts[ip]))
        .collect::<Vec<_>>()
        .join(", ")
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
            format!(
                "{target}: {} of {total} samples gave no usable address",
                bad.len()
            ),
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
            SampleOutcome::Failed { causes } => Some(causes.join(": ")),
            _ => None,
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    o
}

fn sample_problem(sample: &SampleOutcome) -> String {
    match sample {
        SampleOutcome::Ip { ip } => ip.to_string(),
        SampleOutcome::Unreadable { why, excerpt } if excerpt.is_empty() => why.clone(),
        SampleOutcome::Unreadable { why, excerpt } => format!("{why} (answer: {excerpt})"),
        SampleOutcome::Status { status, .. } => format!("the echo answered {status}"),
        SampleOutcome::Failed { causes } => causes.first().cloned().unwrap_or_default(),
        SampleOutcome::Timeout => "no answer in time".into(),
    }
}

/// Checks that exist because evidence is missing: no anchored observer on a login port, or no
/// control. Without them a run could pass while proving nothing.
fn coverage(plan: &Plan, exp: &Expectation) -> Vec<Outcome> {
    let mut out = Vec::new();
    let egress: Vec<&Check> = plan
        .checks
        .iter()
        .filter(|c| matches!(c.kind, CheckKind::Egress(_)))
        .collect();
    let role_on = |role: ObserverRole, port: Option<Port>| {
        egress.iter().any(|c| match &c.kind {
            CheckKind::Egress(o) => o.role == role && port.is_none_or(|p| o.port() == p),
            _ => false,
        })
    };
    let mut missing = |name: String, target: String, reason: String, expected: String| {
        out.push(Outcome {
            name,
            stage: Stage::Egress,
            target: target.clone(),
            host: target,
            port: None,
            route: String::new(),
            status: Status::Error,
            reason: reason.clone(),
            expected,
            observed: reason,
            causes: Vec::new(),
            diagnosis: diagnosis(
                "the scenario has no observer for this, so it cannot be verified",
                guide::OBSERVERS,
            ),
            warnings: Vec::new(),
            elapsed: Duration::ZERO,
            observation: Observation::NotRun(NotRun::NoObserver),
        });
    };
    for &port in &exp.login_ports {
        if !role_on(ObserverRole::Anchored, Some(port)) {
            missing(
                format!("port {port} egress anchored (coverage)"),
                format!("port {port}"),
                format!(
                    "no anchored observer on port {port}: anchoring of login traffic on {port} is not verified"
                ),
                format!("an anchored echo observer on port {port}"),
            );
        }
    }
    if !role_on(ObserverRole::Control, None) {
        missing(
            "non-login egress not anchored (coverage)".into(),
            "non-login traffic".into(),
            "no control observer: that non-login traffic is not anchored is not verified".into(),
            "a control echo observer".into(),
        );
    }
    out
}

/// How one anchored egress check turned out, for the cross-check diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchoring {
    Anchored,
    NotAnchored,
    Partly,
    Unknown,
}

fn anchoring(o: &Outcome, exp: &Expectation) -> Anchoring {
    let Observation::Egress(e) = &o.observation else {
        return Anchoring::Unknown;
    };
    let ips = e.ips();
    let inside = ips.iter().filter(|ip| exp.anchors.contains(**ip)).count();
    match (inside, ips.len()) {
        (_, 0) => Anchoring::Unknown,
        (0, _) => Anchoring::NotAnchored,
        (i, n) if i == n => Anchoring::Anchored,
        _ => Anchoring::Partly,
    }
}

/// Adds the diagnosis row that fits each failure, looking across all outcomes.
fn diagnose(plan: &Plan, outcomes: &mut [Outcome], exp: &Expectation) {
    let checks = &plan.checks;
    let anchored_idx: Vec<usize> = (0..checks.len())
        .filter(|&i| matches!(&checks[i].kind, CheckKind::Egress(o) if o.role == ObserverRole::Anchored))
        .collect();
    let state: BTreeMap<usize, Anchoring> = anchored_idx
        .iter()
        .map(|&i| (i, anchoring(&outcomes[i], exp)))
        .collect();
    // What the ZIA edge looks like: control observers' addresses outside the anchor set.
    let edge: BTreeSet<IpAddr> = checks
        .iter()
        .zip(outcomes.iter())
        .filter(|(c, _)| matches!(&c.kind, CheckKind::Egress(o) if o.role == ObserverRole::Control))
        .filter_map(|(_, o)| match &o.observation {
            Observation::Egress(e) => Some(e.ips()),
            _ => None,
        })
        .flatten()
        .filter(|ip| !exp.anchors.contains(*ip))
        .collect();
    let control_reachable = !edge.is_empty();

    for i in 0..outcomes.len().min(checks.len()) {
        if !matches!(outcomes[i].status, Status::Fail | Status::Error)
            || outcomes[i].diagnosis.is_some()
        {
            continue;
        }
        let check = &checks[i];
        let found = match &check.kind {
            CheckKind::Egress(observer) => {
                if observer.role == ObserverRole::Control {
                    egress_control_diagnosis(&outcomes[i])
                } else if !exp.expect_anchored {
                    diagnosis(
                        "login traffic is anchored from a vantage outside the trusted locations",
                        guide::TRUST_CRITERIA,
                    )
                } else {
                    anchored_diagnosis(i, checks, outcomes, &state, &edge)
                }
            }
            CheckKind::Resolve => diagnosis(
                format!("{} does not resolve from this vantage", check.host),
                guide::DNS,
            ),
            CheckKind::Tls => tls_diagnosis(&outcomes[i], control_reachable),
            CheckKind::Connect | CheckKind::Http(_) => {
                path_diagnosis(&outcomes[i], check, control_reachable)
            }
        };
        outcomes[i].diagnosis = found;
    }
}

fn egress_control_diagnosis(o: &Outcome) -> Option<Diagnosis> {
    match o.status {
        Status::Fail => diagnosis(
            format!(
                "non-login traffic to {} is anchored too: the segment or the forwarding rule is too broad",
                o.target
            ),
            guide::TOO_BROAD,
        ),
        _ => diagnosis(
            format!("the control observer {} gave no usable answer", o.target),
            guide::OBSERVERS,
        ),
    }
}

fn anchored_diagnosis(
    i: usize,
    checks: &[Check],
    outcomes: &[Outcome],
    state: &BTreeMap<usize, Anchoring>,
    edge: &BTreeSet<IpAddr>,
) -> Option<Diagnosis> {
    let check = &checks[i];
    let me = state.get(&i).copied().unwrap_or(Anchoring::Unknown);
    let host = check.host.as_str();
    let port = check.port.unwrap_or(Port(0));
    match me {
        Anchoring::Unknown => {
            return unknown_egress_diagnosis(i, checks, outcomes, !edge.is_empty());
        }
        Anchoring::Partly => {
            return diagnosis(
                format!(
                    "anchoring of {} is intermittent: some connections leave from outside the anchor set (a second matching forwarding rule, or App Connectors failing over)",
                    check.target()
                ),
                guide::FORWARDING_RULE,
            );
        }
        Anchoring::Anchored => return None,
        Anchoring::NotAnchored => {}
    }
    // IPv6 leaves unanchored while IPv4 to the same place is anchored.
    if check.route == Route::Direct(Family::V6) {
        let v4_ok = state.iter().any(|(j, s)| {
            checks[*j].route == Route::Direct(Family::V4)
                && checks[*j].host == check.host
                && checks[*j].port == check.port
                && *s == Anchoring::Anchored
        });
        if v4_ok {
            return diagnosis(
                format!(
                    "IPv6 to {} bypasses the tunnel while IPv4 is anchored",
                    check.target()
                ),
                guide::IPV6,
            );
        }
    }
    // Left from somewhere that is neither the anchor set nor the ZIA edge: anchored, but through
    // other connectors.
    if let Observation::Egress(e) = &outcomes[i].observation {
        let ips = e.ips();
        if !edge.is_empty() && ips.iter().all(|ip| !edge.contains(ip)) {
            return diagnosis(
                format!(
                    "{} is anchored, but from {} outside the expected App Connector IPs: the server group is probably associated with another connector group",
                    check.target(),
                    tally_ips(&ips)
                ),
                guide::SERVER_GROUP,
            );
        }
    }
    let same_route = |j: &usize| checks[*j].route == check.route;
    let peers: Vec<(usize, Anchoring)> = state
        .iter()
        .filter(|(j, _)| same_route(j))
        .map(|(j, s)| (*j, *s))
        .collect();
    let known: Vec<&(usize, Anchoring)> = peers
        .iter()
        .filter(|(_, s)| *s != Anchoring::Unknown)
        .collect();
    let all_not = known.iter().all(|(_, s)| *s == Anchoring::NotAnchored);
    let every_peer_known = known.len() == peers.len();
    if all_not && every_peer_known && known.len() > 1 {
        return diagnosis(
            "nothing is anchored: the ZIA forwarding rule (method ZPA, trust criteria, order) or the ZPA gateway does not send login traffic to ZPA",
            guide::FORWARDING_RULE,
        );
    }
    let on_port: Vec<&(usize, Anchoring)> = known
        .iter()
        .copied()
        .filter(|(j, _)| checks[*j].port == Some(port))
        .collect();
    let other_ports_ok = known
        .iter()
        .any(|(j, s)| checks[*j].port != Some(port) && *s == Anchoring::Anchored);
    let port_all_not = on_port.iter().all(|(_, s)| *s == Anchoring::NotAnchored);
    let on_host: Vec<&(usize, Anchoring)> = known
        .iter()
        .copied()
        .filter(|(j, _)| checks[*j].host == host)
        .collect();
    let host_all_not = on_host.iter().all(|(_, s)| *s == Anchoring::NotAnchored);
    let other_hosts_ok = known
        .iter()
        .any(|(j, s)| checks[*j].host != host && *s == Anchoring::Anchored);
    let hosts_on_port: BTreeSet<&str> = on_port
        .iter()
        .map(|(j, _)| checks[*j].host.as_str())
        .collect();
    if port_all_not && other_ports_ok && hosts_on_port.len() > 1 {
        return diagnosis(
            format!(
                "port {port} is not anchored while other ports are: the application segment's TCP port ranges probably lack {port}"
            ),
            guide::SEGMENT_PORTS,
        );
    }
    // Every port of this host left unanchored, and no other host is seen unanchored.
    let only_this_host = on_host.len() > 1
        && !known
            .iter()
            .any(|(j, s)| checks[*j].host != host && *s == Anchoring::NotAnchored);
    if host_all_not && (other_hosts_ok || only_this_host) {
        return diagnosis(
            format!("the application segment probably lacks {host}"),
            guide::SEGMENT_DOMAINS,
        );
    }
    diagnosis(
        format!(
            "{} is not anchored: the application segment probably lacks {host} or port {port}",
            check.target()
        ),
        guide::SEGMENT_DOMAINS,
    )
}

/// An anchored echo gave no address. If the login path to the same place failed, that failure
/// explains it; if its connections fail while the control gets through, the anchored path is
/// broken; if it answered something else, the observer is at fault.
fn unknown_egress_diagnosis(
    i: usize,
    checks: &[Check],
    outcomes: &[Outcome],
    control_reachable: bool,
) -> Option<Diagnosis> {
    let check = &checks[i];
    let path_failure = checks.iter().zip(outcomes).find(|(c, o)| {
        c.host == check.host
            && c.port == check.port
            && c.route == check.route
            && !matches!(c.kind, CheckKind::Egress(_))
            && matches!(o.status, Status::Fail | Status::Error)
            && o.diagnosis.is_some()
    });
    if let Some((_, o)) = path_failure {
        return o.diagnosis.clone();
    }
    let Observation::Egress(e) = &outcomes[i].observation else {
        return None;
    };
    let all = |f: fn(&SampleOutcome) -> bool| e.samples.iter().all(|s| f(&s.outcome));
    if all(|o| matches!(o, SampleOutcome::Timeout)) {
        return diagnosis(
            format!(
                "{} gave no answer in time: a blackhole on the anchored path (App Connectors unreachable) or a very slow path",
                check.target()
            ),
            guide::ACCESS_POLICY,
        );
    }
    if all(|o| matches!(o, SampleOutcome::Status { status: 407, .. })) {
        return diagnosis("the proxy demands authentication", guide::PROXY_AUTH);
    }
    let refused = |o: &SampleOutcome| {
        matches!(
            o,
            SampleOutcome::Failed { .. }
                | SampleOutcome::Timeout
                | SampleOutcome::Status { status: 403, .. }
        )
    };
    if all(refused) && control_reachable {
        return diagnosis(
            format!(
                "anchored connections to {} fail while non-login traffic gets through: the access policy (client type ZIA Service Edge) or the App Connectors",
                check.target()
            ),
            guide::ACCESS_POLICY,
        );
    }
    if all(refused) {
        return diagnosis(
            format!(
                "connections to {} fail, and non-login traffic does not get through either: this vantage's path to ZIA",
                check.target()
            ),
            guide::PATH_TO_ZIA,
        );
    }
    diagnosis(
        format!(
            "the echo at {} gave no usable address: it is down, blocked, or answers something that is not one IP address",
            check.target()
        ),
        guide::OBSERVERS,
    )
}

fn tls_diagnosis(o: &Outcome, control_reachable: bool) -> Option<Diagnosis> {
    match &o.observation {
        Observation::Tls(TlsObservation {
            outcome:
                TlsOutcome::Established {
                    trust: ChainTrust::Untrusted { .. },
                    ..
                },
            ..
        }) => diagnosis(
            "TLS is intercepted by a CA this vantage does not trust: SSL inspection without the matching trust anchor",
            guide::SSL_INSPECTION,
        ),
        _ => unreachable_diagnosis(o, control_reachable),
    }
}

fn path_diagnosis(o: &Outcome, check: &Check, control_reachable: bool) -> Option<Diagnosis> {
    if o.reason.contains("407") {
        return diagnosis("the proxy demands authentication", guide::PROXY_AUTH);
    }
    if o.reason.contains("403") || o.reason.contains("block page") {
        return diagnosis(
            format!(
                "access to {} is denied on the anchored path: the access policy probably does not allow client type ZIA Service Edge",
                check.target()
            ),
            guide::ACCESS_POLICY,
        );
    }
    unreachable_diagnosis(o, control_reachable)
}

fn unreachable_diagnosis(o: &Outcome, control_reachable: bool) -> Option<Diagnosis> {
    if o.status == Status::Error {
        return diagnosis(
            format!(
                "{} gave no answer in time: a blackhole on the anchored path (App Connectors unreachable) or a very slow path",
                o.target
            ),
            guide::ACCESS_POLICY,
        );
    }
    let when = if control_reachable {
        " while non-login traffic gets through"
    } else {
        ""
    };
    diagnosis(
        format!(
            "{} is refused or reset{when}: the access policy (client type ZIA Service Edge) or the App Connectors are down",
            o.target
        ),
        guide::ACCESS_POLICY,
    )
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, SocketAddr};
    use std::path::PathBuf;

    use super::*;
    use crate::observation::*;
    use crate::outcome::Tally;
    use crate::scenario::model::*;

    const ANCHOR: &str = "127.0.0.2";
    const EDGE: &str = "127.0.0.3";
    const HOSTS: [&str; 3] = [
        "login.microsoftonline.com",
        "login.windows.net",
        "login.microsoft.com",
    ];

    fn observer(name: &str, role: ObserverRole, url: &str) -> EchoObserver {
        EchoObserver {
            name: name.into(),
            role,
            url: url.parse().unwrap(),
            extract: Extract::Text,
            samples: 3,
        }
    }

    fn scenario(with_observers: bool) -> Scenario {
        let mut observers = Vec::new();
        if with_observers {
            for host in HOSTS {
                observers.push(observer(
                    &format!("{host}-80"),
                    ObserverRole::Anchored,
                    &format!("http://{host}/echo/ip"),
                ));
                observers.push(observer(
                    &format!("{host}-443"),
                    ObserverRole::Anchored,
                    &format!("https://{host}/echo/ip"),
                ));
            }
            observers.push(observer(
                "control-80",
                ObserverRole::Control,
                "http://control.sipa-lab.test/echo/ip",
            ));
            observers.push(observer(
                "control-443",
                ObserverRole::Control,
                "https://control.sipa-lab.test/echo/ip",
            ));
        }
        Scenario {
            name: "unit".into(),
            description: None,
            source: PathBuf::from("unit.toml"),
            login: LoginSpec {
                hosts: HOSTS.iter().map(|h| LoginHost(h.to_string())).collect(),
                ports: vec![Port(80), Port(443)],
                openid_path: "/common/.well-known/openid-configuration".into(),
            },
            anchors: AnchorSet(vec![ipnet::IpNet::from(ANCHOR.parse::<IpAddr>().unwrap())]),
            observers,
            vantage: Vantage {
                name: "unit".into(),
                dns: vec![],
                proxy: None,
                ca_files: vec![],
                expect_anchored: true,
            },
            limits: Limits {
                family: FamilySelection::V4,
                ..Limits::default()
            },
        }
    }

    fn expectation(s: &Scenario) -> Expectation {
        Expectation {
            anchors: s.anchors.clone(),
            expect_anchored: s.vantage.expect_anchored,
            proxied: s.vantage.proxy.is_some(),
            login_ports: s.login.ports.clone(),
        }
    }

    fn addr() -> SocketAddr {
        "127.0.0.1:443".parse().unwrap()
    }

    /// A healthy observation for every check, with egress IPs chosen by `egress`.
    fn observe(plan: &Plan, egress: impl Fn(&Check, usize) -> SampleOutcome) -> Vec<Observation> {
        plan.checks
            .iter()
            .map(|c| match &c.kind {
                CheckKind::Resolve => Observation::Resolve(DnsObservation {
                    host: c.host.clone(),
                    record_type: "A",
                    resolvers: vec!["127.0.0.1:53".into()],
                    outcome: DnsOutcome::Answers {
                        answers: vec![DnsAnswer {
                            addr: "127.0.0.1".parse().unwrap(),
                            ttl: 300,
                            class: AddressClass::Loopback,
                        }],
                    },
                    elapsed: Duration::from_millis(1),
                }),
                CheckKind::Connect => Observation::Connect(ConnectObservation {
                    attempts: vec![ConnectAttempt {
                        addr: addr(),
                        tunnel: None,
                        outcome: ConnectOutcome::Connected {
                            local: "127.0.0.1:50000".parse().unwrap(),
                        },
                        elapsed: Duration::from_millis(1),
                    }],
                }),
                CheckKind::Tls => Observation::Tls(TlsObservation {
                    addr: addr(),
                    server_name: c.host.clone(),
                    outcome: TlsOutcome::Established {
                        version: "TLSv1_3".into(),
                        cipher: "x".into(),
                        chain: vec![CertSummary {
                            subject: format!("CN={}", c.host),
                            issuer: "CN=lab CA".into(),
                            not_after: String::new(),
                        }],
                        trust: ChainTrust::DeclaredAnchor,
                    },
                    elapsed: Duration::from_millis(2),
                }),
                CheckKind::Http(HttpExpect::RedirectToHttps) => http(301, Some("https://x/"), None),
                CheckKind::Http(HttpExpect::OpenIdConfiguration { .. }) => {
                    http(200, None, Some("https://sts.windows.net/t/"))
                }
                CheckKind::Egress(o) => Observation::Egress(EgressObservation {
                    observer: o.name.clone(),
                    role: o.role,
                    url: o.url.to_string(),
                    via: "127.0.0.1:80".into(),
                    samples: (0..3)
                        .map(|i| EgressSample {
                            outcome: egress(c, i),
                            elapsed: Duration::from_millis(3),
                        })
                        .collect(),
                }),
            })
            .collect()
    }

    fn http(status: u16, location: Option<&str>, issuer: Option<&str>) -> Observation {
        Observation::Http(HttpObservation {
            url: "https://login.windows.net/".into(),
            via: "127.0.0.1:443".into(),
            outcome: HttpOutcome::Answered(HttpAnswer {
                status,
                location: location.map(Into::into),
                content_type: None,
                entra_headers: vec![("x-ms-request-id".into(), "1".into())],
                issuer: issuer.map(Into::into),
                body_problem: None,
                block_page: false,
                body_excerpt: String::new(),
            }),
            elapsed: Duration::from_millis(2),
        })
    }

    fn ip(s: &str) -> SampleOutcome {
        SampleOutcome::Ip {
            ip: s.parse::<IpAddr>().unwrap(),
        }
    }

    /// The SIPA world as configured: login and canary anchored, control not.
    fn healthy(c: &Check, _: usize) -> SampleOutcome {
        match &c.kind {
            CheckKind::Egress(o) if o.role == ObserverRole::Anchored => ip(ANCHOR),
            _ => ip(EDGE),
        }
    }

    fn judge_with(s: &Scenario, egress: impl Fn(&Check, usize) -> SampleOutcome) -> Vec<Outcome> {
        let plan = Plan::build(s, &[]);
        let obs = observe(&plan, egress);
        judge(&plan, &obs, &expectation(s))
    }

    fn failing(outcomes: &[Outcome]) -> Vec<&Outcome> {
        outcomes
            .iter()
            .filter(|o| o.status == Status::Fail)
            .collect()
    }

    #[test]
    fn a_healthy_world_passes_every_check() {
        let outcomes = judge_with(&scenario(true), healthy);
        let not_passed: Vec<_> = outcomes
            .iter()
            .filter(|o| o.status != Status::Pass)
            .map(|o| &o.name)
            .collect();
        assert!(not_passed.is_empty(), "{not_passed:?}");
        assert_eq!(Tally::of(&outcomes).overall(), Status::Pass);
        assert!(
            outcomes
                .iter()
                .any(|o| o.name == "login.windows.net:80 egress anchored (ipv4)")
        );
    }

    #[test]
    fn one_unanchored_domain_names_that_domain() {
        let outcomes = judge_with(&scenario(true), |c, i| {
            if c.host == "login.windows.net" {
                ip(EDGE)
            } else {
                healthy(c, i)
            }
        });
        let failed = failing(&outcomes);
        assert_eq!(failed.len(), 2, "{failed:#?}");
        for f in failed {
            assert_eq!(f.host, "login.windows.net");
            assert_eq!(f.stage, Stage::Egress);
            assert!(
                f.reason
                    .contains("left from 127.0.0.3, outside the anchor set"),
                "{}",
                f.reason
            );
            let d = f.diagnosis.as_ref().unwrap();
            assert_eq!(
                d.likely_cause,
                "the application segment probably lacks login.windows.net"
            );
            assert_eq!(d.guide_step, guide::SEGMENT_DOMAINS);
        }
    }

    #[test]
    fn an_unanchored_port_names_the_port_ranges() {
        let outcomes = judge_with(&scenario(true), |c, i| {
            if c.port == Some(Port(80)) {
                ip(EDGE)
            } else {
                healthy(c, i)
            }
        });
        let failed = failing(&outcomes);
        assert_eq!(failed.len(), 3);
        for f in failed {
            assert_eq!(f.port, Some(80));
            assert_eq!(
                f.diagnosis.as_ref().unwrap().guide_step,
                guide::SEGMENT_PORTS
            );
        }
    }

    #[test]
    fn nothing_anchored_points_at_the_forwarding_rule() {
        let outcomes = judge_with(&scenario(true), |_, _| ip(EDGE));
        let failed = failing(&outcomes);
        assert_eq!(failed.len(), 6);
        assert!(
            failed
                .iter()
                .all(|f| f.diagnosis.as_ref().unwrap().guide_step == guide::FORWARDING_RULE)
        );
    }

    #[test]
    fn a_wrong_connector_points_at_the_server_group() {
        let outcomes = judge_with(&scenario(true), |c, i| match healthy(c, i) {
            SampleOutcome::Ip { ip: a } if a.to_string() == ANCHOR => ip("127.0.0.4"),
            other => other,
        });
        let failed = failing(&outcomes);
        assert_eq!(failed.len(), 6);
        assert!(
            failed
                .iter()
                .all(|f| f.diagnosis.as_ref().unwrap().guide_step == guide::SERVER_GROUP)
        );
    }

    #[test]
    fn over_anchoring_fails_the_controls() {
        let outcomes = judge_with(&scenario(true), |_, _| ip(ANCHOR));
        let failed = failing(&outcomes);
        assert_eq!(failed.len(), 2);
        for f in failed {
            assert!(f.name.contains("control.sipa-lab.test"));
            assert!(f.reason.contains("inside the anchor set"), "{}", f.reason);
            assert_eq!(f.diagnosis.as_ref().unwrap().guide_step, guide::TOO_BROAD);
        }
    }

    #[test]
    fn intermittent_anchoring_fails_and_says_so() {
        let outcomes = judge_with(&scenario(true), |c, i| {
            if i == 2 { ip(EDGE) } else { healthy(c, i) }
        });
        let failed = failing(&outcomes);
        assert_eq!(failed.len(), 6);
        assert!(failed.iter().all(|f| {
            f.diagnosis
                .as_ref()
                .unwrap()
                .likely_cause
                .contains("intermittent")
        }));
        assert!(
            failed[0].reason.contains("1 of 3 samples"),
            "{}",
            failed[0].reason
        );
    }

    #[test]
    fn an_unreadable_echo_is_an_error_never_a_pass() {
        let garbage = |c: &Check, i: usize| match &c.kind {
            CheckKind::Egress(o) if o.role == ObserverRole::Anchored && i == 1 => {
                SampleOutcome::Unreadable {
                    why: "`not` is not an IP address".into(),
                    excerpt: "not an ip".into(),
                }
            }
            _ => healthy(c, i),
        };
        let outcomes = judge_with(&scenario(true), garbage);
        assert!(failing(&outcomes).is_empty());
        let errors: Vec<_> = outcomes
            .iter()
            .filter(|o| o.status == Status::Error)
            .collect();
        assert_eq!(errors.len(), 6);
        assert_eq!(Tally::of(&outcomes).overall(), Status::Error);
    }

    #[test]
    fn without_observers_the_run_is_inconclusive() {
        let outcomes = judge_with(&scenario(false), healthy);
        let errors: Vec<_> = outcomes
            .iter()
            .filter(|o| o.status == Status::Error)
            .map(|o| o.name.as_str())
            .collect();
        assert_eq!(
            errors,
            [
                "port 80 egress anchored (coverage)",
                "port 443 egress anchored (coverage)",
                "non-login egress not anchored (coverage)"
            ]
        );
        assert_eq!(Tally::of(&outcomes).overall(), Status::Error);
    }

    #[test]
    fn outside_trusted_locations_anchoring_is_the_failure() {
        let mut s = scenario(true);
        s.vantage.expect_anchored = false;
        let outcomes = judge_with(&s, healthy);
        let failed = failing(&outcomes);
        assert_eq!(failed.len(), 6);
        assert!(
            failed
                .iter()
                .all(|f| f.diagnosis.as_ref().unwrap().guide_step == guide::TRUST_CRITERIA)
        );
        let passing = judge_with(&s, |_, _| ip(EDGE));
        assert!(failing(&passing).is_empty());
    }

    #[test]
    fn http_blocks_have_their_own_reasons() {
        let s = scenario(true);
        let plan = Plan::build(&s, &[]);
        let exp = expectation(&s);
        let check = plan
            .checks
            .iter()
            .find(|c| {
                matches!(
                    c.kind,
                    CheckKind::Http(HttpExpect::OpenIdConfiguration { .. })
                )
            })
            .unwrap();
        let denied = judge_check(check, &http(403, None, None), &exp);
        assert_eq!(denied.status, Status::Fail);
        assert_eq!(denied.reason, "forbidden (403)");
        let auth = judge_check(check, &http(407, None, None), &exp);
        assert_eq!(auth.reason, "the proxy demands authentication (407)");
        let redirect = plan
            .checks
            .iter()
            .find(|c| c.kind == CheckKind::Http(HttpExpect::RedirectToHttps))
            .unwrap();
        let plain = judge_check(redirect, &http(200, None, None), &exp);
        assert_eq!(plain.reason, "expected a redirect to https://, got 200");
        let to_http = judge_check(redirect, &http(302, Some("http://x/"), None), &exp);
        assert_eq!(to_http.status, Status::Fail);
    }

    #[test]
    fn an_untrusted_chain_fails_with_the_inspection_diagnosis() {
        let s = scenario(true);
        let plan = Plan::build(&s, &[]);
        let mut obs = observe(&plan, healthy);
        let i = plan
            .checks
            .iter()
            .position(|c| c.kind == CheckKind::Tls)
            .unwrap();
        if let Observation::Tls(t) = &mut obs[i] {
            t.outcome = TlsOutcome::Established {
                version: "TLSv1_3".into(),
                cipher: "x".into(),
                chain: vec![CertSummary {
                    subject: "CN=login".into(),
                    issuer: "CN=Unknown Interception CA".into(),
                    not_after: String::new(),
                }],
                trust: ChainTrust::Untrusted {
                    error: "invalid peer certificate: UnknownIssuer".into(),
                },
            };
        }
        let outcomes = judge(&plan, &obs, &expectation(&s));
        assert_eq!(outcomes[i].status, Status::Fail);
        assert!(outcomes[i].reason.contains("Unknown Interception CA"));
        assert_eq!(
            outcomes[i].diagnosis.as_ref().unwrap().guide_step,
            guide::SSL_INSPECTION
        );
    }

    #[test]
    fn local_dns_failure_through_a_proxy_is_only_a_warning() {
        let s = scenario(true);
        let plan = Plan::build(&s, &[]);
        let mut exp = expectation(&s);
        exp.proxied = true;
        let check = plan
            .checks
            .iter()
            .find(|c| c.kind == CheckKind::Resolve)
            .unwrap();
        let nx = Observation::Resolve(DnsObservation {
            host: check.host.clone(),
            record_type: "A",
            resolvers: vec![],
            outcome: DnsOutcome::NxDomain,
            elapsed: Duration::ZERO,
        });
        let o = judge_check(check, &nx, &exp);
        assert_eq!(o.status, Status::Skip);
        assert_eq!(o.warnings.len(), 1);
        exp.proxied = false;
        assert_eq!(judge_check(check, &nx, &exp).status, Status::Fail);
    }

    #[test]
    fn timeouts_are_errors_and_blocked_checks_skip() {
        let s = scenario(true);
        let plan = Plan::build(&s, &[]);
        let exp = expectation(&s);
        let check = &plan.checks[1];
        let t = judge_check(
            check,
            &Observation::NotRun(NotRun::Timeout {
                after: Duration::from_secs(5),
            }),
            &exp,
        );
        assert_eq!(
            (t.status, t.reason.as_str()),
            (Status::Error, "no answer within 5.0s")
        );
        let b = judge_check(
            check,
            &Observation::NotRun(NotRun::Blocked { on: "x".into() }),
            &exp,
        );
        assert_eq!(b.status, Status::Skip);
    }
}
