//! The browser's proxy decision for a target: a login host sent DIRECT while the vantage
//! expects anchoring fails; a decision that could not be made is an error, never a pass.

use super::expectation::{Expectation, diagnosis};
use crate::cause::Cause;
use crate::observation::{DecisionObservation, DecisionOutcome};
use crate::outcome::{Outcome, Status};
use crate::pac::{Decision, DecisionSource, Way};
use crate::plan::{Check, CheckKind};
use crate::scenario::model::ObserverRole;

/// What a decision check expects.
pub(super) fn expected(check: &Check) -> String {
    match &check.kind {
        CheckKind::ProxyDecision { role: Some(_) } if !check.login_host => {
            "a proxy decision for the observer's URL (recorded)".into()
        }
        _ => "a proxy decision that sends the login host to ZIA (PROXY host:port)".into(),
    }
}

/// Judges one decision; `o` is the check's blank outcome.
pub(super) fn judge(
    mut o: Outcome,
    check: &Check,
    seen: &DecisionObservation,
    exp: &Expectation,
) -> Outcome {
    o.expected = expected(check);
    let role = match &check.kind {
        CheckKind::ProxyDecision { role } => *role,
        _ => None,
    };
    let decision = match &seen.outcome {
        DecisionOutcome::Failed { error, message } => {
            o.status = Status::Error;
            o.reason = message.clone();
            o.observed = format!("no decision from {}", seen.source);
            let cause = if error.is_unavailable() {
                Cause::PacUnavailable
            } else {
                Cause::PacInvalid
            };
            o.diagnosis = diagnosis(cause, message.clone());
            return o;
        }
        DecisionOutcome::Decided { decision } => decision,
    };
    o.observed = shown(decision, &seen.source);
    let login = check.login_host;
    match decision.way() {
        Way::Direct if login && exp.expect_anchored => {
            o.status = Status::Fail;
            let sentence = match &seen.source {
                DecisionSource::Pac { .. } => format!(
                    "the PAC file sends {} DIRECT: it never reaches ZIA",
                    check.host
                ),
                DecisionSource::Environment => format!(
                    "the environment's proxy settings send {} DIRECT (NO_PROXY, or no proxy for its scheme): it never reaches ZIA",
                    check.host
                ),
            };
            o.reason = match &decision.line {
                Some(line) => format!("{sentence} (line {}: {})", line.line, line.text),
                None => sentence.clone(),
            };
            o.diagnosis = diagnosis(Cause::PacDirect, sentence);
        }
        Way::Direct => {
            o.status = Status::Pass;
            o.reason = answer_at(decision);
        }
        Way::Proxies(list) => {
            o.status = Status::Pass;
            let names: Vec<String> = list.iter().map(ToString::to_string).collect();
            o.reason = answer_at(decision);
            if role == Some(ObserverRole::Control)
                && !login
                && !seen.login_proxies.is_empty()
                && !seen.login_proxies.contains(&names[0])
            {
                o.warnings.push(format!(
                    "the control goes through {} while the login hosts go through {}: its egress IP says nothing about their proxy's",
                    names[0],
                    seen.login_proxies.join(", ")
                ));
            }
        }
        Way::Unprobeable(first) => {
            o.status = Status::Error;
            let sentence = format!(
                "{} sends {} first through {first}, a route sipa-check cannot probe (only DIRECT and HTTP proxies)",
                seen.source,
                check.target()
            );
            o.reason = sentence.clone();
            o.diagnosis = diagnosis(Cause::PacUnprobeable, sentence);
        }
    }
    if role == Some(ObserverRole::Control)
        && !login
        && matches!(decision.way(), Way::Direct)
        && seen.login_proxies.iter().any(|p| p != "DIRECT")
    {
        o.warnings.push(format!(
            "the control goes DIRECT while the login hosts go through {}: its egress IP says nothing about their proxy's",
            seen.login_proxies.join(", ")
        ));
    }
    o
}

/// The answer, with the PAC line that gave it when known: `PROXY a:1; DIRECT (line 6)`.
fn answer_at(decision: &Decision) -> String {
    match &decision.line {
        Some(line) => format!("{} (line {})", decision.answer, line.line),
        None => decision.answer.clone(),
    }
}

/// `PROXY a:1; DIRECT (the PAC file x, line 12: return "…";)`.
fn shown(decision: &Decision, source: &DecisionSource) -> String {
    let line = match (&decision.line, source) {
        (Some(line), _) => format!(", line {}: {}", line.line, line.text),
        (None, DecisionSource::Pac { .. }) => ", the line that decided it is not known".into(),
        (None, DecisionSource::Environment) => String::new(),
    };
    format!("{} for {} ({source}{line})", decision.answer, decision.url)
}
