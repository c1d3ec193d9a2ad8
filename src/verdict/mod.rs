//! Pure verdict logic: observations + expectations → outcomes with reasons and diagnoses.
//! No I/O here: everything is unit-tested on canned observations.
//!
//! [`judge`] runs in three passes: each check on its own ([`judge_check`], in `judge.rs`), the
//! cross-check diagnosis (`diagnose.rs`), then the coverage rules (`coverage.rs`).

mod coverage;
mod decision;
mod expectation;
pub use coverage::{Rule as CoverageRule, rules as coverage_rules};
mod diagnose;
mod evidence;
pub use evidence::{planned as planned_evidence, proven as proven_evidence};
mod entra;
mod https_record;
mod judge;
mod quic;
mod sample;
mod what_if;

use crate::observation::{Observation, SampleOutcome};
use crate::outcome::{Outcome, Route, Status};
use crate::plan::{Check, CheckKind, Plan};

pub use expectation::{Expectation, describe_cut};
pub use judge::judge_check;

/// Judges an entra sign-in check read back from a report again, as the run would have judged
/// it: on its recorded token outcome and the sign-in log as `log` now says. Returns the
/// outcome with its verdict fields replaced; the caller records the new log in its
/// observation.
pub fn rejudge_sign_in(
    recorded: &Outcome,
    token: &crate::observation::entra::TokenOutcome,
    log: &crate::observation::SignInLog,
    exp: &Expectation,
) -> Outcome {
    entra::judge_sign_in(cleared(recorded), token, log, exp)
}

/// A recorded outcome with its verdict fields emptied, to be judged again.
fn cleared(recorded: &Outcome) -> Outcome {
    Outcome {
        status: Status::Error,
        reason: String::new(),
        expected: String::new(),
        observed: String::new(),
        causes: Vec::new(),
        diagnosis: None,
        blocked_by: None,
        ..recorded.clone()
    }
}

/// Judges the What If check read back from a report again, on `w` as `complete` asked it
/// now. Returns the outcome with its verdict fields replaced; the caller records `w` in its
/// observation.
pub fn rejudge_what_if(
    recorded: &Outcome,
    w: &crate::observation::WhatIfObservation,
    exp: &Expectation,
) -> Outcome {
    let blank = Outcome {
        warnings: Vec::new(),
        ..cleared(recorded)
    };
    what_if::judge_what_if(blank, w, exp)
}

/// How a decided sign-in check proves its host, from its log.
pub fn sign_in_proof(
    token: &crate::observation::entra::TokenOutcome,
    log: &crate::observation::SignInLog,
    exp: &Expectation,
) -> crate::outcome::Proof {
    entra::sign_in_proof(token, log, exp)
}

/// Whether the log named an IP outside the anchor set.
pub fn logged_outside(log: &crate::observation::SignInLog, exp: &Expectation) -> bool {
    entra::logged_outside(log, exp)
}

/// The run's cross-check over its sign-in checks, given as (outcome index, host, logged
/// outside the anchor set): with every decided one outside, no login host is anchored.
pub fn cross_check_sign_ins(
    outcomes: &mut [Outcome],
    sign_ins: &[(usize, &str, bool)],
    exp: &Expectation,
) {
    if exp.expect_anchored {
        entra::cross_check_sign_ins(outcomes, sign_ins);
    }
}

pub use entra::ca_control;
pub use evidence::per_host_errors;

/// Judges every check of the plan, skips those whose earlier stage did not pass, diagnoses
/// across them, then adds an error for each coverage rule that no decided check satisfies.
pub fn judge(plan: &Plan, observations: &[Observation], exp: &Expectation) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = plan
        .checks
        .iter()
        .zip(observations)
        .map(|(check, obs)| match obs {
            // The record's hints are judged against the A/AAAA answers of the same run.
            Observation::HttpsRecord(rec) => https_record::judge_https_record(
                judge::outcome(check, obs, Status::Error, String::new()),
                rec,
                &https_record::verified(plan, observations, &check.host),
                exp,
            ),
            _ => judge_check(check, obs, exp),
        })
        .collect();
    for check in &plan.checks {
        let blocked = check
            .after
            .iter()
            .find(|&&a| outcomes[a].status != Status::Pass);
        if let Some(&a) = blocked
            && outcomes[check.id].status != Status::Pass
        {
            let blocker = outcomes[a].name.clone();
            let o = &mut outcomes[check.id];
            o.status = Status::Skip;
            o.reason = format!("not judged: {blocker} did not pass");
            o.blocked_by = Some(blocker);
        }
    }
    diagnose::diagnose(plan, &mut outcomes, exp);
    entra::cross_check(plan, &mut outcomes, exp);
    knock_on_egress(plan, &mut outcomes);
    for o in &mut outcomes {
        o.causes = distinct_links(std::mem::take(&mut o.causes));
    }
    let uncovered = coverage::coverage(plan, &outcomes, exp);
    let unproven = evidence::required(plan, &outcomes, exp);
    outcomes.extend(uncovered);
    outcomes.extend(unproven);
    outcomes
}

/// An echo that gave no address at all, where the login path to the same host, port and route
/// failed, or through a proxy that demands authentication, only repeats that failure: it is
/// skipped as its knock-on, keeping its observation and taking the blocker's diagnosis (which
/// coverage then borrows). Only an errored check is skipped: one that saw an address is judged
/// on it, and the blocker is a failure, so the run fails either way: never a false pass.
fn knock_on_egress(plan: &Plan, outcomes: &mut [Outcome]) {
    let is_path = |c: &Check| {
        matches!(
            c.kind,
            CheckKind::Connect | CheckKind::Tls | CheckKind::Http(_)
        )
    };
    for check in &plan.checks {
        if !matches!(check.kind, CheckKind::Egress(_)) || outcomes[check.id].status != Status::Error
        {
            continue;
        }
        let Observation::Egress(e) = &outcomes[check.id].observation else {
            continue;
        };
        if e.samples.is_empty()
            || e.samples
                .iter()
                .any(|s| matches!(s.outcome, SampleOutcome::Ip { .. }))
        {
            continue;
        }
        let failed = |c: &&Check| is_path(c) && outcomes[c.id].status == Status::Fail;
        let same_path = plan
            .checks
            .iter()
            .filter(failed)
            .find(|c| c.host == check.host && c.port == check.port && c.route == check.route);
        // Through the proxy, a refused tunnel or a 407 to every sample is the proxy's demand.
        let refused_by_proxy = check.route == Route::Proxy
            && e.samples.iter().all(|s| {
                matches!(
                    s.outcome,
                    SampleOutcome::Status { status: 407, .. }
                        | SampleOutcome::Failed { .. }
                        | SampleOutcome::ProxyRefused { .. }
                )
            });
        let proxy_auth = || {
            plan.checks.iter().filter(failed).find(|c| {
                c.route == Route::Proxy
                    && outcomes[c.id]
                        .diagnosis
                        .as_ref()
                        .is_some_and(|d| d.cause == crate::cause::Cause::ProxyAuth)
            })
        };
        let blocker = same_path.or_else(|| refused_by_proxy.then(proxy_auth).flatten());
        if let Some(b) = blocker {
            let name = outcomes[b.id].name.clone();
            let found = outcomes[b.id].diagnosis.clone();
            let o = &mut outcomes[check.id];
            o.status = Status::Skip;
            o.reason = format!("not judged: {name} failed");
            o.blocked_by = Some(name);
            if found.is_some() {
                o.diagnosis = found;
            }
        }
    }
}

/// A cause chain without the links that an earlier link already says (HTTP and TLS stacks
/// wrap the same error several times).
fn distinct_links(causes: Vec<String>) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    for c in causes {
        if !c.trim().is_empty() && !kept.iter().any(|k| k.contains(c.trim())) {
            kept.push(c);
        }
    }
    kept
}

#[cfg(test)]
mod tests;
