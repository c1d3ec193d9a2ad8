//! The cross-check diagnosis: which guide step most likely explains each failure.

use crate::cause::Cause;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::expectation::{Expectation, diagnosis};
use super::judge::Block;
use crate::observation::{
    AnswerSource, ChainTrust, ConnectOutcome, HttpObservation, HttpOutcome, NotRun, Observation,
    SampleOutcome, TlsObservation, TlsOutcome,
};
use crate::outcome::{Diagnosis, Outcome, Route, Status};
use crate::plan::{Check, CheckKind, Plan};
use crate::scenario::model::{Family, ObserverRole};

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
pub(super) fn diagnose(plan: &Plan, outcomes: &mut [Outcome], exp: &Expectation) {
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
        let pinned = if pinned_path(check, exp) {
            hosts_file_answer(plan, outcomes, check)
        } else {
            None
        };
        let found = match &outcomes[i].observation {
            // Checks that never ran say why themselves; only a timeout or a cut speaks of the path.
            Observation::NotRun(NotRun::NoAddress { host, family }) => diagnosis(Cause::ConnectTo, format!(
                    "--connect-to sends {} to {host}, which has no {family} address from this vantage",
                    check.target()
                )),
            Observation::NotRun(NotRun::NoObserver) => diagnosis(Cause::MissingObserver, "the scenario has no observer for this, so it cannot be verified"),
            // A crash of the harness is a bug: no guide step explains it.
            Observation::NotRun(NotRun::Panicked { .. }) => None,
            // A hosts-file entry for the host explains its path before the segment does.
            _ if pinned.is_some() => pinned.and_then(|(path, addrs)| {
                diagnosis(Cause::HostsFile, format!(
                        "{} was answered by the hosts file {path} ({addrs}), not by DNS: that entry, not the segment, decides where this traffic goes",
                        check.host
                    ))
            }),
            _ => match &check.kind {
                CheckKind::Egress(observer) => {
                    if observer.role == ObserverRole::Control {
                        egress_control_diagnosis(&outcomes[i])
                    } else if !exp.expect_anchored {
                        diagnosis(Cause::AnchoredOutsideTrust, "login traffic is anchored from a vantage outside the trusted locations")
                    } else {
                        anchored_diagnosis(i, checks, outcomes, &state, &edge)
                    }
                }
                CheckKind::Resolve => diagnosis(Cause::DnsFailed, format!("{} does not resolve from this vantage", check.host)),
                CheckKind::Tls => tls_diagnosis(&outcomes[i], control_reachable),
                CheckKind::EntraNamedLocations => diagnosis(Cause::GraphUnreadable, "Conditional Access's named locations could not be read"),
                CheckKind::EntraWhatIf => diagnosis(Cause::GraphUnreadable, "Conditional Access's What If could not be asked"),
                // A judged record carries its own diagnosis; only a query that never finished
                // comes here.
                CheckKind::HttpsRecord => diagnosis(Cause::DnsFailed, format!("the HTTPS record query of {} did not finish", check.host)),
                // A QUIC check says its own cause; one that never ran is the harness's.
                CheckKind::Quic { .. } => None,
                // A decision check diagnoses itself when it is judged; one that never ran
                // leaves the run without a decision.
                CheckKind::ProxyDecision { .. } => diagnosis(Cause::PacInvalid, "no proxy decision was made for this target"),
                CheckKind::Connect | CheckKind::Http(_) | CheckKind::EntraSignIn => {
                    path_diagnosis(&outcomes[i], control_reachable)
                }
            },
        };
        outcomes[i].diagnosis = found;
    }
    vantage_first(checks, outcomes, exp);
}

/// The rules that come before every per-check one (DESIGN.md, the diagnosis table): a run
/// that was cut explains each check it left undecided, never a tenant step; and when the
/// control observers cannot reach anything either, the login checks' failed connections say
/// nothing about the tenant: the cause is this vantage's own path (its proxy, ZIA, a route),
/// and anchoring is undecided (error, not failure). Only what the network answered (an egress
/// IP, a status, a chain, a token answer) points at the tenant's configuration.
fn vantage_first(checks: &[Check], outcomes: &mut [Outcome], exp: &Expectation) {
    let cut = outcomes.iter().find_map(|o| match &o.observation {
        Observation::NotRun(NotRun::Cut { by, .. }) => Some(*by),
        _ => None,
    });
    if let Some(by) = cut {
        for o in outcomes.iter_mut().filter(|o| o.status == Status::Error) {
            o.diagnosis = diagnosis(
                Cause::RunCut,
                format!(
                    "the run was cut before these checks ended ({})",
                    super::expectation::describe_cut(&by)
                ),
            );
        }
        return;
    }
    // The ports on which every control observer reached nothing, and whether a login check on
    // such a port failed the same way: then the vantage's own path is the cause, for both.
    // A control counts when any of its samples reached nothing: a path that drops the
    // control's connections at all (a proxy that stopped mid-run) cannot vouch for the tenant.
    let mut controls: BTreeMap<Option<crate::scenario::model::Port>, bool> = BTreeMap::new();
    for (check, o) in checks.iter().zip(outcomes.iter()) {
        if matches!(&check.kind, CheckKind::Egress(e) if e.role == ObserverRole::Control) {
            *controls.entry(check.port).or_insert(true) &=
                no_connection(&o.observation) || some_samples_reached_nothing(&o.observation);
        }
    }
    let dead = |check: &Check| controls.get(&check.port).copied().unwrap_or(false);
    let failed_alike = |check: &Check, o: &Outcome| {
        let on_the_path = matches!(
            &check.kind,
            CheckKind::Connect
                | CheckKind::Tls
                | CheckKind::Http(_)
                | CheckKind::EntraSignIn
                | CheckKind::Egress(_)
        );
        on_the_path
            && dead(check)
            && matches!(o.status, Status::Fail | Status::Error)
            && (no_connection(&o.observation)
                || (o.status == Status::Error && some_samples_reached_nothing(&o.observation)))
    };
    // A login check, or an anchored echo, that failed as the control did.
    let login_alike = checks.iter().zip(outcomes.iter()).any(|(c, o)| {
        let control = matches!(&c.kind, CheckKind::Egress(e) if e.role == ObserverRole::Control);
        !control && (c.login_host || matches!(c.kind, CheckKind::Egress(_))) && failed_alike(c, o)
    });
    proxy_refuses_all(checks, outcomes);
    if !login_alike {
        return;
    }
    let path = if exp.proxied {
        "this vantage cannot reach its proxy: the control observers fail the same way as the login checks, so nothing about the tenant was observed (proxy down, wrong address or port, or a firewall)"
    } else {
        "this vantage cannot reach ZIA: the control observers fail the same way as the login checks, so nothing about the tenant was observed (tunnel down, no route, or a firewall)"
    };
    for (check, o) in checks.iter().zip(outcomes.iter_mut()) {
        if failed_alike(check, o) {
            o.status = Status::Error;
            o.diagnosis = diagnosis(Cause::VantagePath, path);
        }
    }
}

/// The rule for a proxy that turns every tunnel away: when every control observer on a port
/// was refused by the proxy (a 403, a 502: any answer but 407, which is the proxy's demand for
/// credentials) and a login check on that port was refused with the same status, the access
/// policy cannot be the reason (it applies to anchored traffic only, and the control is not
/// anchored): the proxy refuses this vantage. Those checks are errors, the cause the proxy's.
fn proxy_refuses_all(checks: &[Check], outcomes: &mut [Outcome]) {
    let mut controls: BTreeMap<Option<crate::scenario::model::Port>, Option<BTreeSet<u16>>> =
        BTreeMap::new();
    for (check, o) in checks.iter().zip(outcomes.iter()) {
        if matches!(&check.kind, CheckKind::Egress(e) if e.role == ObserverRole::Control) {
            let seen = controls.entry(check.port).or_insert(Some(BTreeSet::new()));
            match (proxy_refusal(check, &o.observation), seen.as_mut()) {
                (Some(status), Some(statuses)) => {
                    statuses.insert(status);
                }
                _ => *seen = None,
            }
        }
    }
    let alike = |check: &Check, o: &Outcome| {
        matches!(o.status, Status::Fail | Status::Error)
            && proxy_refusal(check, &o.observation).is_some_and(|status| {
                controls
                    .get(&check.port)
                    .and_then(Option::as_ref)
                    .is_some_and(|statuses| statuses.contains(&status))
            })
    };
    let login_alike = checks
        .iter()
        .zip(outcomes.iter())
        .any(|(c, o)| c.login_host && !matches!(c.kind, CheckKind::Egress(_)) && alike(c, o));
    if !login_alike {
        return;
    }
    for (check, o) in checks.iter().zip(outcomes.iter_mut()) {
        if let Some(status) = proxy_refusal(check, &o.observation).filter(|_| alike(check, o)) {
            o.status = Status::Error;
            o.diagnosis = diagnosis(
                Cause::ProxyRefused,
                format!(
                    "the proxy answers {status} to the control observers as to the login hosts: it refuses this vantage, so nothing about the tenant was observed (the proxy's own policy, an address it does not serve, or a proxy in front of ZIA)"
                ),
            );
        }
    }
}

/// The status with which the explicit proxy turned a check away (any but 407): its answer to
/// the CONNECT, or, for a plain-http request it forwarded, its error answer.
fn proxy_refusal(check: &Check, obs: &Observation) -> Option<u16> {
    let tunnel = |c: &ConnectOutcome| match c {
        ConnectOutcome::ProxyRefused { status, .. } if *status != 407 => Some(*status),
        _ => None,
    };
    let forwarded = |status: u16| {
        (check.route == Route::Proxy && status >= 400 && status != 407).then_some(status)
    };
    let one = |statuses: Vec<Option<u16>>| {
        let first = *statuses.first()?;
        statuses.iter().all(|s| *s == first).then_some(first)?
    };
    match obs {
        Observation::Connect(c) => one(c.attempts.iter().map(|a| tunnel(&a.outcome)).collect()),
        Observation::Tls(TlsObservation {
            outcome: TlsOutcome::NoTransport { outcome },
            ..
        }) => tunnel(outcome),
        Observation::Http(HttpObservation {
            outcome: HttpOutcome::Answered(answer),
            ..
        }) => forwarded(answer.status),
        Observation::Egress(e) => one(e
            .samples
            .iter()
            .map(|s| match &s.outcome {
                SampleOutcome::ProxyRefused { status, .. } if *status != 407 => Some(*status),
                SampleOutcome::Status { status, .. } => forwarded(*status),
                _ => None,
            })
            .collect()),
        _ => None,
    }
}

/// Whether an echo's samples that gave no address all reached nothing (and at least one did):
/// the others gave an address each.
fn some_samples_reached_nothing(obs: &Observation) -> bool {
    let Observation::Egress(e) = obs else {
        return false;
    };
    let nothing =
        |o: &SampleOutcome| matches!(o, SampleOutcome::Failed { .. } | SampleOutcome::Timeout);
    e.samples.iter().any(|s| nothing(&s.outcome))
        && e.samples
            .iter()
            .all(|s| nothing(&s.outcome) || matches!(s.outcome, SampleOutcome::Ip { .. }))
}

/// Whether an observation is of connections that reached nothing: refused, reset, unreachable,
/// timed out, or a TLS handshake or request that got no answer; never an answer of any kind
/// (a status, a block page, a proxy's refusal of the tunnel, a chain, an address).
fn no_connection(obs: &Observation) -> bool {
    let dead = |c: &ConnectOutcome| {
        matches!(
            c,
            ConnectOutcome::Refused
                | ConnectOutcome::Reset
                | ConnectOutcome::Timeout
                | ConnectOutcome::Unreachable { .. }
                | ConnectOutcome::Failed { .. }
        )
    };
    match obs {
        Observation::NotRun(NotRun::Timeout { .. }) => true,
        Observation::Connect(c) => {
            !c.attempts.is_empty() && c.attempts.iter().all(|a| dead(&a.outcome))
        }
        Observation::Tls(t) => match &t.outcome {
            TlsOutcome::NoTransport { outcome } => dead(outcome),
            TlsOutcome::Timeout { .. } => true,
            _ => false,
        },
        // A request with no answer at all (reset, closed, timed out): as an echo sample's.
        Observation::Http(h) => matches!(
            h.outcome,
            HttpOutcome::Failed { .. } | HttpOutcome::Timeout { .. }
        ),
        Observation::Egress(e) => {
            !e.samples.is_empty()
                && e.samples.iter().all(|s| {
                    matches!(
                        s.outcome,
                        SampleOutcome::Failed { .. } | SampleOutcome::Timeout
                    )
                })
        }
        Observation::Entra(e) => {
            matches!(
                e.token.outcome,
                crate::observation::entra::TokenOutcome::Timeout { .. }
            ) || (matches!(
                e.token.outcome,
                crate::observation::entra::TokenOutcome::NotSent { .. }
            ) && e.token.tls.as_ref().is_none_or(|t| {
                matches!(
                    &t.outcome,
                    TlsOutcome::NoTransport { outcome } if dead(outcome)
                ) || matches!(t.outcome, TlsOutcome::Timeout { .. })
            }))
        }
        _ => false,
    }
}

/// Whether `check` follows its host's own resolve: a direct connection, its TLS and HTTP, or an
/// echo expected to be anchored. (Through a proxy the proxy resolves.)
fn pinned_path(check: &Check, exp: &Expectation) -> bool {
    let follows = match &check.kind {
        CheckKind::Connect | CheckKind::Tls | CheckKind::Http(_) => true,
        CheckKind::Egress(o) => o.role == ObserverRole::Anchored && exp.expect_anchored,
        _ => false,
    };
    follows && matches!(check.route, Route::Direct(_))
}

/// The hosts file that answered the resolve `check` followed, and the addresses it gave, if a
/// hosts file answered it.
fn hosts_file_answer<'a>(
    plan: &Plan,
    outcomes: &'a [Outcome],
    check: &Check,
) -> Option<(&'a str, String)> {
    plan.checks
        .iter()
        .zip(outcomes)
        .filter(|(c, _)| c.kind == CheckKind::Resolve && c.host == check.host)
        .filter(|(c, _)| c.route == check.route)
        .find_map(|(_, o)| match &o.observation {
            Observation::Resolve(dns) => match &dns.source {
                AnswerSource::HostsFile { path } => Some((
                    path.as_str(),
                    dns.addresses()
                        .iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                )),
                AnswerSource::NamedServers { .. } | AnswerSource::SystemServers { .. } => None,
            },
            _ => None,
        })
}

/// A control that failed is over-anchoring; one that gave no address is explained by what its
/// connections met (a 407, timeouts, refusals), and only an answer that is not an address
/// points at the observer itself: the scenario has a control, so never "add a control".
fn egress_control_diagnosis(o: &Outcome) -> Option<Diagnosis> {
    if o.status == Status::Fail {
        return diagnosis(
            Cause::OverAnchored,
            "non-login traffic is anchored too: the segment or the forwarding rule is too broad",
        );
    }
    let slow = || {
        diagnosis(
            Cause::VantagePath,
            "the control observer gave no answer in time: this vantage's path to ZIA is broken or very slow",
        )
    };
    let e = match &o.observation {
        Observation::Egress(e) if !e.samples.is_empty() => e,
        Observation::NotRun(NotRun::Timeout { .. }) => return slow(),
        Observation::NotRun(NotRun::Cut { by, ran }) => {
            return diagnosis(
                Cause::VantagePath,
                format!(
                    "the control observer {} had not answered after {} when the run was {}: a slow path to ZIA, or a deadline too short for it",
                    o.target,
                    crate::observation::show_duration(*ran),
                    super::expectation::describe_cut(by)
                ),
            );
        }
        _ => {
            return diagnosis(
                Cause::ObserverUnusable,
                format!("the control observer {} gave no usable answer", o.target),
            );
        }
    };
    let all = |f: fn(&SampleOutcome) -> bool| e.samples.iter().all(|s| f(&s.outcome));
    if all(|s| {
        matches!(
            s,
            SampleOutcome::Status { status: 407, .. }
                | SampleOutcome::ProxyRefused { status: 407, .. }
        )
    }) {
        return diagnosis(Cause::ProxyAuth, "the proxy demands authentication");
    }
    if all(|s| matches!(s, SampleOutcome::Timeout)) {
        return slow();
    }
    if all(|s| {
        matches!(
            s,
            SampleOutcome::Failed { .. }
                | SampleOutcome::Timeout
                | SampleOutcome::ProxyRefused { .. }
        )
    }) {
        return diagnosis(
            Cause::VantagePath,
            "connections to the control observer fail: this vantage's path to ZIA",
        );
    }
    diagnosis(
        Cause::ObserverUnusable,
        "an echo observer gave no usable address: it is down, blocked, or answers something that is not one IP address",
    )
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
    // Egress checks always have a port; without one there is no port to compare.
    let Some(port) = check.port else {
        return unknown_egress_diagnosis(i, checks, outcomes, !edge.is_empty());
    };
    match me {
        Anchoring::Unknown => {
            return unknown_egress_diagnosis(i, checks, outcomes, !edge.is_empty());
        }
        Anchoring::Partly => {
            return diagnosis(
                Cause::IntermittentAnchoring,
                "anchoring is intermittent: some connections leave from outside the anchor set (a second matching forwarding rule, or App Connectors failing over)",
            );
        }
        // Every address the echo gave was an anchor, yet the check errored: some samples gave
        // none, and those say why.
        Anchoring::Anchored => return failed_samples_diagnosis(&outcomes[i], !edge.is_empty()),
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
                Cause::Ipv6Bypass,
                "IPv6 bypasses the tunnel while IPv4 is anchored",
            );
        }
    }
    // Left from somewhere that is neither the anchor set nor the ZIA edge: anchored, but through
    // other connectors.
    if let Observation::Egress(e) = &outcomes[i].observation {
        let ips = e.ips();
        if !edge.is_empty() && ips.iter().all(|ip| !edge.contains(ip)) {
            return diagnosis(
                Cause::WrongConnectors,
                format!(
                    "anchored, but from {} outside the expected App Connector IPs: the server group is probably associated with another connector group",
                    ips.iter()
                        .map(|ip| ip.to_string())
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
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
            Cause::NothingAnchored,
            "nothing is anchored: the ZIA forwarding rule (method ZPA, trust criteria, order) or the ZPA gateway does not send login traffic to ZPA",
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
            Cause::SegmentLacksPort,
            format!(
                "port {port} is not anchored while other ports are: the application segment's TCP port ranges probably lack {port}"
            ),
        );
    }
    // Every port of this host left unanchored, and no other host is seen unanchored.
    let only_this_host = on_host.len() > 1
        && !known
            .iter()
            .any(|(j, s)| checks[*j].host != host && *s == Anchoring::NotAnchored);
    if host_all_not && (other_hosts_ok || only_this_host) {
        return diagnosis(
            Cause::SegmentLacksHost,
            format!("the application segment probably lacks {host}"),
        );
    }
    diagnosis(
        Cause::SegmentLacksHostOrPort,
        format!(
            "{} is not anchored: the application segment probably lacks {host} or port {port}",
            check.target()
        ),
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
            Cause::AnchoredPathDown,
            "connections get no answer in time: a blackhole on the anchored path (App Connectors unreachable) or a very slow path",
        );
    }
    if all(|o| {
        matches!(
            o,
            SampleOutcome::Status { status: 407, .. }
                | SampleOutcome::ProxyRefused { status: 407, .. }
        )
    }) {
        return diagnosis(Cause::ProxyAuth, "the proxy demands authentication");
    }
    let refused = |o: &SampleOutcome| {
        matches!(
            o,
            SampleOutcome::Failed { .. }
                | SampleOutcome::Timeout
                | SampleOutcome::ProxyRefused { .. }
                | SampleOutcome::Status { status: 403, .. }
        )
    };
    if all(refused) && control_reachable {
        return diagnosis(
            Cause::AnchoredPathDown,
            "anchored connections fail while non-login traffic gets through: the access policy (client type ZIA Service Edge) or the App Connectors",
        );
    }
    if all(refused) {
        return diagnosis(
            Cause::VantagePath,
            "connections fail, and non-login traffic does not get through either: this vantage's path to ZIA",
        );
    }
    diagnosis(
        Cause::ObserverUnusable,
        "an echo observer gave no usable address: it is down, blocked, or answers something that is not one IP address",
    )
}

/// An anchored echo whose samples left from the anchors where they got through, while others
/// got no address: the failed samples name the cause (none when nothing failed).
fn failed_samples_diagnosis(o: &Outcome, control_reachable: bool) -> Option<Diagnosis> {
    let Observation::Egress(e) = &o.observation else {
        return None;
    };
    let failed: Vec<&SampleOutcome> = e
        .samples
        .iter()
        .map(|s| &s.outcome)
        .filter(|s| !matches!(s, SampleOutcome::Ip { .. }))
        .collect();
    if failed.is_empty() {
        return None;
    }
    let unreadable = |s: &&SampleOutcome| {
        matches!(s, SampleOutcome::Unreadable { .. })
            || matches!(s, SampleOutcome::Status { status, .. } if ![403, 407].contains(status))
    };
    if failed.iter().all(unreadable) {
        return diagnosis(
            Cause::ObserverUnusable,
            "the echo observer answered some samples with no usable address while the others left from the App Connectors: it is flaky, or answers something that is not one IP address",
        );
    }
    if failed.iter().all(|s| {
        matches!(
            s,
            SampleOutcome::Status { status: 407, .. }
                | SampleOutcome::ProxyRefused { status: 407, .. }
        )
    }) {
        return diagnosis(
            Cause::ProxyAuth,
            "the proxy demands authentication for some connections",
        );
    }
    if control_reachable {
        diagnosis(
            Cause::AnchoredPathDown,
            "some anchored connections fail while the others leave from the App Connectors and non-login traffic gets through: an App Connector of the group down or unreachable, or the access policy for some of them",
        )
    } else {
        diagnosis(
            Cause::VantagePath,
            "some connections fail, and non-login traffic does not get through either: this vantage's path to ZIA",
        )
    }
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
            Cause::TlsInterception,
            "TLS is intercepted by a CA this vantage does not trust: SSL inspection without the matching trust anchor",
        ),
        _ => match path_refusal(&o.observation) {
            Some(_) => path_diagnosis(o, control_reachable),
            None => unreachable_diagnosis(o, control_reachable),
        },
    }
}

fn path_diagnosis(o: &Outcome, control_reachable: bool) -> Option<Diagnosis> {
    match path_refusal(&o.observation) {
        Some(Refusal::Block(block)) => block_diagnosis(block),
        Some(Refusal::Tunnel { status, reason }) => diagnosis(
            Cause::AccessDenied,
            format!(
                "the proxy refused the tunnel ({status} {reason}): the access policy (client type ZIA Service Edge) or the App Connectors behind it"
            ),
        ),
        None => unreachable_diagnosis(o, control_reachable),
    }
}

/// How a proxy or gateway turned a path check away, read from its observation.
enum Refusal<'a> {
    /// A block with a status of its own meaning (407, 403, block page, 451).
    Block(Block),
    /// The proxy refused the CONNECT for another reason.
    Tunnel { status: u16, reason: &'a str },
}

fn path_refusal(obs: &Observation) -> Option<Refusal<'_>> {
    match obs {
        Observation::Http(HttpObservation {
            outcome: HttpOutcome::Answered(answer),
            ..
        }) => Block::of_answer(answer).map(Refusal::Block),
        // As the connect check's verdict: decided by the first attempt when none connected.
        Observation::Connect(c)
            if !c
                .attempts
                .iter()
                .any(|a| matches!(a.outcome, ConnectOutcome::Connected { .. })) =>
        {
            c.attempts.first().and_then(|a| tunnel_refusal(&a.outcome))
        }
        Observation::Tls(TlsObservation {
            outcome: TlsOutcome::NoTransport { outcome },
            ..
        }) => tunnel_refusal(outcome),
        _ => None,
    }
}

/// A proxy's refusal of a CONNECT, if that is how the connection ended.
fn tunnel_refusal(outcome: &ConnectOutcome) -> Option<Refusal<'_>> {
    match outcome {
        ConnectOutcome::ProxyRefused { status, reason } => Some(Block::of_status(*status).map_or(
            Refusal::Tunnel {
                status: *status,
                reason,
            },
            Refusal::Block,
        )),
        _ => None,
    }
}

fn block_diagnosis(block: Block) -> Option<Diagnosis> {
    match block {
        Block::ProxyAuth => diagnosis(Cause::ProxyAuth, "the proxy demands authentication"),
        Block::Denied { .. } | Block::Page { .. } | Block::Legal => diagnosis(
            Cause::AccessDenied,
            "access is denied on the anchored path: the access policy probably does not allow client type ZIA Service Edge",
        ),
    }
}

fn unreachable_diagnosis(o: &Outcome, control_reachable: bool) -> Option<Diagnosis> {
    if o.status == Status::Error {
        return diagnosis(
            Cause::AnchoredPathDown,
            "connections get no answer in time: a blackhole on the anchored path (App Connectors unreachable) or a very slow path",
        );
    }
    let when = if control_reachable {
        " while non-login traffic gets through"
    } else {
        ""
    };
    diagnosis(
        Cause::AnchoredPathDown,
        format!(
            "connections are refused or reset{when}: the access policy (client type ZIA Service Edge) or the App Connectors are down"
        ),
    )
}
