//! Pure verdict logic: observations + expectations → outcomes with reasons and diagnoses.
//! No I/O here: everything is unit-tested on canned observations.
//!
//! [`judge`] runs in three passes: each check on its own ([`judge_check`], in `judge.rs`), the
//! cross-check diagnosis (`diagnose.rs`), then the coverage rules (`coverage.rs`).

mod coverage;
mod diagnose;
mod judge;

use crate::guide::GuideStep;
use crate::observation::Observation;
use crate::outcome::{Diagnosis, Outcome, Status};
use crate::plan::Plan;
use crate::scenario::model::{AnchorSet, Port};

pub use judge::{describe_cut, judge_check};

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

fn diagnosis(likely_cause: impl Into<String>, guide_step: GuideStep) -> Option<Diagnosis> {
    Some(Diagnosis {
        likely_cause: likely_cause.into(),
        guide_step,
    })
}

/// Judges every check of the plan, skips those whose earlier stage did not pass, diagnoses
/// across them, then adds an error for each coverage rule that no decided check satisfies.
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
    diagnose::diagnose(plan, &mut outcomes, exp);
    let uncovered = coverage::coverage(plan, &outcomes, exp);
    outcomes.extend(uncovered);
    outcomes
}

#[cfg(test)]
mod tests;
