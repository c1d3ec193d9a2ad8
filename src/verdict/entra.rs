//! Entra sign-in checks: the token request through a login host, judged on the IP Entra's
//! sign-in log names for it (and on Conditional Access blocking it). Never a pass unless the
//! log itself named an IP on the right side of the anchor set.

use super::judge::chain;
use super::{Expectation, diagnosis};
use crate::entra::{GraphError, SignInLookup, SignInRecord};
use crate::guide::GuideStep;
use crate::observation::{EntraObservation, SignInLog};
use crate::outcome::{Diagnosis, Outcome, Proof, Status};
use crate::probe::token::TokenOutcome;
use crate::report::show_duration;

/// Judges one entra sign-in check; `o` is the blank outcome to fill.
pub(super) fn judge(mut o: Outcome, e: &EntraObservation, exp: &Expectation) -> Outcome {
    let host = o.host.clone();
    let must_be_in = exp.expect_anchored;
    let relation = if must_be_in { "in" } else { "outside" };
    o.expected = format!(
        "Entra's sign-in log names an IP {relation} the anchor set {} for a token request through {host}",
        exp.anchors
    );
    let token = describe_token(&e.token.outcome);
    let transport = |o: &mut Outcome, reason: String| {
        o.status = Status::Error;
        o.reason = reason;
        o.diagnosis = diagnosis(
            format!(
                "the token request through {host} got no answer from Entra: this vantage's path to the login host"
            ),
            GuideStep::PathToZia,
        );
    };
    match &e.token.outcome {
        TokenOutcome::NotSent { why } => {
            o.observed = format!("no token request sent: {why}");
            transport(&mut o, format!("no token request through {host}: {why}"));
            return o;
        }
        TokenOutcome::Timeout { after } => {
            o.observed = format!("no answer after {}", show_duration(*after));
            transport(
                &mut o,
                format!(
                    "the token endpoint of {host} gave no answer within {}",
                    show_duration(*after)
                ),
            );
            return o;
        }
        TokenOutcome::Failed { causes } => {
            o.observed = format!("the token request failed: {}", chain(causes));
            o.causes = vec![chain(causes)];
            transport(&mut o, format!("the token request through {host} failed"));
            return o;
        }
        TokenOutcome::NotJson { status, .. } => {
            o.observed = token.clone();
            transport(
                &mut o,
                format!(
                    "the token endpoint of {host} answered {status} with something that is not Entra's JSON"
                ),
            );
            return o;
        }
        TokenOutcome::Rejected { meaning, .. } => {
            o.observed = token.clone();
            o.status = Status::Error;
            o.reason = format!("Entra refused the probe app's token request: {meaning}");
            o.diagnosis = diagnosis(
                "the Entra probe app's credentials are not accepted",
                GuideStep::EntraApp,
            );
            return o;
        }
        TokenOutcome::Issued | TokenOutcome::Blocked { .. } => {}
    }
    let blocked = match &e.token.outcome {
        TokenOutcome::Blocked { policy_ids } => Some(policy_ids),
        _ => None,
    };
    let record = match &e.log {
        SignInLog::Looked {
            lookup: SignInLookup::Found(record),
        } => Some(record),
        _ => None,
    };
    let log_text = match &e.log {
        SignInLog::NotAsked => "sign-in log not read".to_string(),
        SignInLog::Cut { by } => format!("sign-in log not read: {}", super::describe_cut(by)),
        SignInLog::Looked { lookup } => match lookup {
            SignInLookup::Found(r) => describe_record(r),
            SignInLookup::NotYetIngested { waited } => {
                format!("not in the sign-in log after {}", show_duration(*waited))
            }
            SignInLookup::Failed { error } => format!("sign-in log unreadable: {error}"),
        },
    };
    o.observed = format!("{token}; {log_text}");
    match record {
        Some(r) => {
            let inside = exp.anchors.contains(r.ip_address);
            match (must_be_in, inside, blocked) {
                (true, true, None) | (false, false, _) => {
                    o.status = Status::Pass;
                    o.reason = format!(
                        "Entra logged {} for {host} ({relation} the anchor set)",
                        r.ip_address
                    );
                }
                (true, true, Some(policies)) => {
                    o.status = Status::Fail;
                    o.reason = format!(
                        "Entra saw the anchor IP {} for {host}, yet Conditional Access blocked the token ({})",
                        r.ip_address,
                        show_policies(policies)
                    );
                    o.diagnosis = diagnosis(
                        format!(
                            "the App Connector IP {} is probably not in a trusted named location",
                            r.ip_address
                        ),
                        GuideStep::TrustedLocation,
                    );
                }
                (true, false, _) => {
                    o.status = Status::Fail;
                    o.reason = format!(
                        "Entra logged {} for {host}, outside the anchor set {}",
                        r.ip_address, exp.anchors
                    );
                    o.diagnosis = unanchored(&host);
                }
                (false, true, _) => {
                    o.status = Status::Fail;
                    o.reason = format!(
                        "Entra logged the anchor IP {} for {host} from a vantage outside the trusted locations",
                        r.ip_address
                    );
                    o.diagnosis = diagnosis(
                        "login traffic is anchored from a vantage outside the trusted locations",
                        GuideStep::TrustCriteria,
                    );
                }
            }
        }
        // Conditional Access said "not a trusted location" by itself: from a vantage that must
        // be anchored, that is a failure whatever the log says.
        None if must_be_in && blocked.is_some() => {
            o.status = Status::Fail;
            o.reason = format!(
                "Conditional Access blocked the token through {host} ({}): Entra did not see a trusted IP",
                show_policies(blocked.map(Vec::as_slice).unwrap_or_default())
            );
            o.diagnosis = diagnosis(
                format!(
                    "the application segment probably lacks {host}, or the App Connector IPs are not a trusted named location"
                ),
                GuideStep::SegmentDomains,
            );
        }
        None => {
            o.status = Status::Error;
            let (reason, found) = match &e.log {
                SignInLog::Looked {
                    lookup: SignInLookup::NotYetIngested { waited },
                } => (
                    SignInLookup::not_ingested_message(*waited),
                    diagnosis(
                        "the sign-in is not in Entra's log yet (pending): ingestion can take 5-30 min",
                        GuideStep::SignInLog,
                    ),
                ),
                SignInLog::Looked {
                    lookup: SignInLookup::Failed { error },
                } => (format!("Graph: {error}"), graph_diagnosis(error)),
                SignInLog::Cut { by } => (
                    format!(
                        "the sign-in log was not read: the run was {}",
                        super::describe_cut(by)
                    ),
                    diagnosis(
                        "the run ended before Entra's sign-in log was read",
                        GuideStep::SignInLog,
                    ),
                ),
                SignInLog::NotAsked | SignInLog::Looked { .. } => (
                    "the sign-in log was not read".to_string(),
                    diagnosis(
                        "the run ended before Entra's sign-in log was read",
                        GuideStep::SignInLog,
                    ),
                ),
            };
            o.reason = reason;
            o.diagnosis = found;
        }
    }
    o
}

/// The diagnosis for a host whose sign-in came from outside the anchor set.
pub(super) fn unanchored(host: &str) -> Option<Diagnosis> {
    diagnosis(
        format!("the application segment probably lacks {host}"),
        GuideStep::SegmentDomains,
    )
}

fn graph_diagnosis(error: &GraphError) -> Option<Diagnosis> {
    match error {
        GraphError::Unauthorized { .. }
        | GraphError::Forbidden { .. }
        | GraphError::Token { .. } => diagnosis(
            "the probe app cannot read the sign-in log: grant it AuditLog.Read.All and Directory.Read.All (application) with admin consent",
            GuideStep::EntraApp,
        ),
        GraphError::Throttled { .. } => diagnosis(
            "Graph throttled the sign-in log reads (429) until the wait ran out",
            GuideStep::GraphRoute,
        ),
        _ => diagnosis(
            "the sign-in log could not be read from Graph",
            GuideStep::GraphRoute,
        ),
    }
}

fn describe_token(outcome: &TokenOutcome) -> String {
    match outcome {
        TokenOutcome::Issued => "token issued".into(),
        TokenOutcome::Blocked { policy_ids } => format!(
            "token blocked by Conditional Access (AADSTS53003, {})",
            show_policies(policy_ids)
        ),
        TokenOutcome::Rejected { code, meaning, .. } => match code {
            Some(code) => format!("token refused (AADSTS{code}): {meaning}"),
            None => format!("token refused: {meaning}"),
        },
        TokenOutcome::NotJson {
            status,
            content_type,
            excerpt,
        } => format!(
            "{status} {} (not JSON): {excerpt}",
            content_type.as_deref().unwrap_or("without a content type")
        ),
        TokenOutcome::NotSent { why } => format!("not sent: {why}"),
        TokenOutcome::Failed { causes } => format!("failed: {}", chain(causes)),
        TokenOutcome::Timeout { after } => format!("no answer after {}", show_duration(*after)),
    }
}

fn show_policies(ids: &[String]) -> String {
    if ids.is_empty() {
        "no policy named".into()
    } else {
        format!("policy {}", ids.join(", "))
    }
}

fn describe_record(r: &SignInRecord) -> String {
    format!(
        "sign-in log: ipAddress {} (record {}, correlation id {}, status {}, conditional access {})",
        r.ip_address, r.id, r.correlation_id, r.status_code, r.conditional_access_status
    )
}

/// How a decided entra check proved its host: the log's IP, or Conditional Access alone.
pub(super) fn proof(e: &EntraObservation) -> Proof {
    match &e.log {
        SignInLog::Looked {
            lookup: SignInLookup::Found(_),
        } => Proof::EntraLog,
        _ => Proof::EntraCa,
    }
}

/// With every decided entra check failing on an IP outside the anchor set, no login host is
/// anchored: the forwarding rule or the gateway, not one segment domain.
pub(super) fn cross_check(plan: &crate::plan::Plan, outcomes: &mut [Outcome], exp: &Expectation) {
    if !exp.expect_anchored {
        return;
    }
    let entra: Vec<usize> = plan
        .checks
        .iter()
        .filter(|c| c.kind == crate::plan::CheckKind::EntraSignIn)
        .map(|c| c.id)
        .collect();
    let outside = |o: &Outcome| match &o.observation {
        crate::observation::Observation::Entra(e) => match &e.log {
            SignInLog::Looked {
                lookup: SignInLookup::Found(r),
            } => !exp.anchors.contains(r.ip_address),
            _ => false,
        },
        _ => false,
    };
    let decided: Vec<usize> = entra
        .iter()
        .copied()
        .filter(|&i| matches!(outcomes[i].status, Status::Pass | Status::Fail))
        .collect();
    let hosts: std::collections::BTreeSet<&str> = decided
        .iter()
        .map(|&i| plan.checks[i].host.as_str())
        .collect();
    if hosts.len() > 1 && decided.iter().all(|&i| outside(&outcomes[i])) {
        for &i in &decided {
            outcomes[i].diagnosis = diagnosis(
                "no login host is anchored: the ZIA forwarding rule (method ZPA, trust criteria, order) or the ZPA gateway",
                GuideStep::ForwardingRule,
            );
        }
    }
}
