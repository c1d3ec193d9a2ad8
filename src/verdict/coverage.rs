//! The coverage rules: what a run must have decided before it may pass. A rule counts only
//! egress checks that were decided (pass or fail): a skipped or errored check proves nothing,
//! and neither does a family with nothing to verify.

use crate::cause::Cause;
use std::collections::BTreeMap;
use std::time::Duration;

use super::expectation::{Expectation, diagnosis};
use crate::observation::{NotRun, Observation};
use crate::outcome::{Diagnosis, Outcome, Stage, Status};
use crate::plan::{Check, CheckKind, Plan};
use crate::scenario::model::{ObserverRole, Port};

/// One coverage rule: what the run must decide, and the egress checks that can decide it.
#[derive(Debug, Clone)]
pub struct Rule<'a> {
    /// The coverage outcome's name: `port 80 egress anchored (coverage)`.
    pub name: String,
    target: String,
    /// What must have been decided, as the reason's subject: `port 80: no anchored egress check`.
    subject: String,
    /// What the scenario lacks when it has no observer for the rule at all (`no control
    /// observer`); `None` where having none is no gap (a login host shown as path only).
    pub unobserved: Option<String>,
    /// What then goes unverified.
    unverified: String,
    /// What satisfies it: `an anchored echo observer on port 80`.
    pub wants: String,
    /// The checks any one of which, decided, satisfies it.
    pub checks: Vec<&'a Check>,
}

/// The coverage rules of a plan: an anchored observer decided on each login port, an egress
/// check decided on each login host that has observers, and a control decided. The dry run
/// lists them; [`coverage`] judges them.
pub fn rules<'a>(plan: &'a Plan, login_ports: &[Port]) -> Vec<Rule<'a>> {
    let egress = |keep: &dyn Fn(&Check, ObserverRole) -> bool| -> Vec<&'a Check> {
        plan.checks
            .iter()
            .filter(|c| matches!(&c.kind, CheckKind::Egress(o) if keep(c, o.role)))
            .collect()
    };
    let mut rules = Vec::new();
    for &port in login_ports {
        rules.push(Rule {
            name: format!("port {port} egress anchored (coverage)"),
            target: format!("port {port}"),
            subject: format!("port {port}: no anchored egress check"),
            unobserved: Some(format!("no anchored observer on port {port}")),
            unverified: format!("anchoring of login traffic on {port} is not verified"),
            wants: format!("an anchored echo observer on port {port}"),
            checks: egress(&|c, role| role == ObserverRole::Anchored && c.port == Some(port)),
        });
    }
    // Login hosts with an observer of their own: each must be decided, or its per-host evidence
    // silently falls back to the shared path.
    let mut by_host: BTreeMap<&str, Vec<&Check>> = BTreeMap::new();
    for c in egress(&|c, _| c.login_host) {
        by_host.entry(c.host.as_str()).or_default().push(c);
    }
    for (host, checks) in by_host {
        rules.push(Rule {
            name: format!("{host} egress (coverage)"),
            target: host.to_string(),
            subject: format!("{host}: no egress check on it"),
            unobserved: None,
            unverified: format!("anchoring of {host} is not verified"),
            wants: format!("an egress check of an observer on {host}"),
            checks,
        });
    }
    rules.push(Rule {
        name: "non-login egress not anchored (coverage)".into(),
        target: "non-login traffic".into(),
        subject: "no control egress check".into(),
        unobserved: Some("no control observer".into()),
        unverified: "that non-login traffic is not anchored is not verified".into(),
        wants: "a control echo observer".into(),
        checks: egress(&|_, role| role == ObserverRole::Control),
    });
    rules
}

/// An error outcome for every rule that no decided egress check satisfies: without them a run
/// could pass while proving nothing.
///
/// Runs after the per-check judging (knock-on skips included) and the diagnosis, so an
/// undecided rule can point at what kept its checks from deciding.
pub(super) fn coverage(plan: &Plan, outcomes: &[Outcome], exp: &Expectation) -> Vec<Outcome> {
    // A proxy decision that could not be made plans no connection for its target: that, not
    // a missing observer, is why a rule has no check.
    let undecided: Vec<&Outcome> = plan
        .checks
        .iter()
        .filter(|c| matches!(c.kind, CheckKind::ProxyDecision { .. }))
        .map(|c| &outcomes[c.id])
        .filter(|o| o.status == Status::Error)
        .collect();
    let no_decision = undecided
        .iter()
        .find_map(|o| useful(&o.diagnosis))
        .map(|d| (d, undecided.iter().map(|o| o.name.clone()).collect()));
    rules(plan, &exp.login_ports)
        .into_iter()
        .filter_map(|rule| judge_rule(rule, outcomes, no_decision.as_ref()))
        .collect()
}

fn decided(o: &Outcome) -> bool {
    matches!(o.status, Status::Pass | Status::Fail)
}

/// The rule's outcome, if it is not satisfied.
fn judge_rule(
    rule: Rule,
    outcomes: &[Outcome],
    no_decision: Option<&(Diagnosis, Vec<String>)>,
) -> Option<Outcome> {
    let undecided = |reason: String, expected: String, diagnosis, observation| Outcome {
        name: rule.name.clone(),
        stage: Stage::Egress,
        target: rule.target.clone(),
        host: rule.target.clone(),
        port: None,
        route: None,
        status: Status::Error,
        observed: reason.clone(),
        reason,
        expected,
        causes: Vec::new(),
        diagnosis,
        warnings: Vec::new(),
        blocked_by: None,
        elapsed: Duration::ZERO,
        observation,
    };
    if rule.checks.is_empty() {
        // A login host without observers is covered by the shared path, shown per host elsewhere.
        let unobserved = rule.unobserved.as_deref()?;
        if let Some((d, checks)) = no_decision {
            return Some(undecided(
                format!("no proxy decision, no connection: {}", rule.unverified),
                rule.wants.clone(),
                Some(d.clone()),
                Observation::NotRun(NotRun::Undecided {
                    checks: checks.clone(),
                }),
            ));
        }
        return Some(undecided(
            format!("{unobserved}: {}", rule.unverified),
            rule.wants.clone(),
            diagnosis(
                Cause::MissingObserver,
                "the scenario has no observer for this, so it cannot be verified",
            ),
            Observation::NotRun(NotRun::NoObserver),
        ));
    }
    let seen: Vec<&Outcome> = rule.checks.iter().map(|c| &outcomes[c.id]).collect();
    if seen.iter().any(|o| decided(o)) {
        return None;
    }
    let mut reason = format!("{} was decided ({})", rule.subject, tally(&seen));
    if seen.iter().all(|o| nothing_to_verify(o)) {
        reason.push_str(": nothing to verify is not proof");
    }
    let observed: Vec<String> = seen
        .iter()
        .map(|o| format!("{}: {} {}", o.name, o.status.label(), o.reason))
        .collect();
    let mut o = undecided(
        reason,
        format!("{}, decided", rule.wants),
        blocker_diagnosis(&rule, outcomes),
        Observation::NotRun(NotRun::Undecided {
            checks: seen.iter().map(|o| o.name.clone()).collect(),
        }),
    );
    o.observed = observed.join("; ");
    Some(o)
}

fn nothing_to_verify(o: &Outcome) -> bool {
    matches!(
        o.observation,
        Observation::NotRun(NotRun::NothingToVerify { .. })
    )
}

/// `3 skipped: not run: x did not pass; 1 errored: no answer within 3.0s`: counts per status,
/// each with its distinct reasons (the first two, then how many more).
fn tally(seen: &[&Outcome]) -> String {
    let mut parts = Vec::new();
    for (status, word) in [(Status::Skip, "skipped"), (Status::Error, "errored")] {
        let of: Vec<&&Outcome> = seen.iter().filter(|o| o.status == status).collect();
        if of.is_empty() {
            continue;
        }
        let mut reasons: Vec<&str> = Vec::new();
        for o in &of {
            if !reasons.contains(&o.reason.as_str()) {
                reasons.push(&o.reason);
            }
        }
        let more = reasons.len().saturating_sub(2);
        let mut text = format!(
            "{} {word}: {}",
            of.len(),
            reasons[..reasons.len().min(2)].join("; ")
        );
        if more > 0 {
            text.push_str(&format!("; and {more} more"));
        }
        parts.push(text);
    }
    parts.join("; ")
}

/// A diagnosis that can explain an undecided rule: not "add an observer", as there are some
/// (an observer that answered something unusable does explain it).
fn useful(d: &Option<Diagnosis>) -> Option<Diagnosis> {
    d.clone()
        .filter(|d| !matches!(d.cause, Cause::MissingObserver | Cause::Unrecorded))
}

/// What kept the rule's checks from deciding, in plan order: an errored check's own diagnosis,
/// or the diagnosis of the check a skipped one waited on; else the generic one. Never "add an
/// observer": the observers are there.
fn blocker_diagnosis(rule: &Rule, outcomes: &[Outcome]) -> Option<Diagnosis> {
    for check in &rule.checks {
        let o = &outcomes[check.id];
        if let Some(d) = useful(&o.diagnosis) {
            return Some(d);
        }
        // Skipped behind an earlier stage of its own path, or on a check it depended on.
        let before = check
            .after
            .iter()
            .map(|&a| &outcomes[a])
            .chain(match &o.observation {
                Observation::NotRun(NotRun::Blocked { check, .. }) => outcomes.get(*check),
                _ => None,
            });
        for b in before {
            if let Some(d) = useful(&b.diagnosis) {
                return Some(d);
            }
        }
    }
    diagnosis(
        Cause::VantagePath,
        format!(
            "{} ran to an answer: whatever stopped them (this vantage's path to ZIA, or the run's deadline) leaves anchoring there unproven",
            match rule.checks.len() {
                1 => "its one egress check never".to_string(),
                n => format!("none of its {n} egress checks"),
            }
        ),
    )
}
