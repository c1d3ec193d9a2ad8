//! Evidence per login host: how each host's anchoring was proven on each port and route. Real
//! login hosts echo nothing, so a canary proves only the path they share (forwarding rule,
//! gateway, connectors), not that a given host is in the segment: such a host is "path only",
//! said in every report, and an error when the run requires per-host proof.

use crate::cause::Cause;
use std::time::Duration;

use super::expectation::{Expectation, diagnosis};
use crate::observation::{NotRun, Observation};
use crate::outcome::{HostEvidence, Outcome, Proof, Stage, Status};
use crate::plan::{Check, CheckKind, Plan, Probe};
use crate::scenario::model::{ObserverRole, Require};

/// The evidence each login host will get, from the plan alone: `echo` where an anchored observer
/// is on the host itself, on that port and route; `path only` elsewhere.
pub fn planned(plan: &Plan) -> Vec<HostEvidence> {
    let proof = match plan.entra_mode {
        Some(crate::scenario::model::EntraMode::Ca) => Proof::EntraCa,
        _ => Proof::EntraLog,
    };
    evidence(plan, |_| true, |_| Some(proof))
}

/// The evidence each login host got: `echo` only where such an observer's check was decided
/// (passed or failed); an echo that never answered proves nothing.
/// A token issued whose Conditional Access policy the run did not see bite is shown as
/// `entra-ca (policy unverified)` although its check is undecided.
pub fn proven(plan: &Plan, outcomes: &[Outcome], exp: &Expectation) -> Vec<HostEvidence> {
    let decided = |check: &Check| {
        outcomes
            .get(check.id)
            .is_some_and(|o| matches!(o.status, Status::Pass | Status::Fail))
    };
    evidence(plan, decided, |check| {
        let Observation::Entra(e) = &outcomes.get(check.id)?.observation else {
            return None;
        };
        if decided(check) || super::entra::unverified(e, exp) {
            Some(super::entra::proof(e, exp))
        } else {
            None
        }
    })
}

/// Every login host × port × route the plan connects to, with the echo checks `counts`.
/// Entra's evidence, where `entra` gives it for the host's entra check, comes first: it is
/// what Conditional Access itself saw.
fn evidence(
    plan: &Plan,
    counts: impl Fn(&Check) -> bool,
    entra: impl Fn(&Check) -> Option<Proof>,
) -> Vec<HostEvidence> {
    plan.probes
        .iter()
        .filter(|probe| matches!(probe, Probe::LoginPath { .. }))
        .map(|probe| &plan.checks[probe.lead()])
        .filter_map(|path| {
            let port = path.port?;
            let echoed = plan.checks.iter().any(|c| {
                matches!(&c.kind, CheckKind::Egress(o) if o.role == ObserverRole::Anchored)
                    && c.host.eq_ignore_ascii_case(&path.host)
                    && c.port == Some(port)
                    && c.route == path.route
                    && counts(c)
            });
            let logged = plan
                .checks
                .iter()
                .filter(|c| {
                    c.kind == CheckKind::EntraSignIn
                        && c.host.eq_ignore_ascii_case(&path.host)
                        && c.port == Some(port)
                        && c.route == path.route
                })
                .find_map(&entra);
            let proof = match (logged, echoed) {
                (Some(proof), _) => proof,
                (None, true) => Proof::Echo,
                (None, false) => Proof::PathOnly,
            };
            Some(HostEvidence {
                host: path.host.clone(),
                port: port.get(),
                route: path.route,
                proof,
            })
        })
        .collect()
}

/// With `require = "per-host"`, an error for each login host proven only by the path on a TLS
/// port (port 80 carries only the redirect to https, which Entra never sees).
pub(super) fn required(plan: &Plan, outcomes: &[Outcome], exp: &Expectation) -> Vec<Outcome> {
    if exp.require != Require::PerHost {
        return Vec::new();
    }
    per_host_errors(&proven(plan, outcomes, exp))
}

/// The error for each login host that `evidence` proves only by the path on a TLS port, as a
/// run with `require = "per-host"` adds them.
pub fn per_host_errors(evidence: &[HostEvidence]) -> Vec<Outcome> {
    evidence
        .iter()
        .filter(|e| !e.proof.is_per_host())
        .filter(|e| crate::scenario::model::Port::new(e.port).is_some_and(|p| p.is_tls()))
        .map(|e| {
            let reason = match e.proof {
                Proof::EntraCaUnverified => format!(
                    "Entra issued a token through {}, but no Conditional Access policy was shown to refuse the probe app outside the trusted locations, and the run requires per-host proof",
                    e.host
                ),
                _ => format!(
                    "only the shared path is proven for {}: no echo on the host and no Entra evidence, and the run requires per-host proof",
                    e.host
                ),
            };
            Outcome {
                name: format!("{}:{} per-host evidence ({})", e.host, e.port, e.route),
                stage: Stage::Egress,
                target: format!("{}:{}", e.host, e.port),
                host: e.host.clone(),
                port: Some(e.port),
                route: Some(e.route),
                status: Status::Error,
                observed: e.proof.to_string(),
                expected: format!(
                    "an anchored echo on {} port {}, or Entra's sign-in log for it",
                    e.host, e.port
                ),
                reason,
                causes: Vec::new(),
                diagnosis: diagnosis(Cause::PerHostEvidence, "the scenario proves the shared path, not each login host"),
                warnings: Vec::new(),
                blocked_by: None,
                elapsed: Duration::ZERO,
                observation: Observation::NotRun(NotRun::NoObserver),
            }
        })
        .collect()
}
