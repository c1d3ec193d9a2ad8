//! The coverage rules: what a run must have decided before it may pass.

use std::time::Duration;

use super::guide::GuideStep;
use super::{Expectation, diagnosis};
use crate::observation::{NotRun, Observation};
use crate::outcome::{Outcome, Stage, Status};
use crate::plan::{Check, CheckKind, Plan};
use crate::scenario::model::{ObserverRole, Port};

/// Checks that exist because evidence is missing: no anchored observer on a login port, or no
/// control. Without them a run could pass while proving nothing.
pub(super) fn coverage(plan: &Plan, exp: &Expectation) -> Vec<Outcome> {
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
            route: None,
            status: Status::Error,
            reason: reason.clone(),
            expected,
            observed: reason,
            causes: Vec::new(),
            diagnosis: diagnosis(
                "the scenario has no observer for this, so it cannot be verified",
                GuideStep::Observers,
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
