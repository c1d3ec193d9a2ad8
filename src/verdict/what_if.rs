//! The Conditional Access What If check: does a sign-in from an anchor IP get a different
//! decision than one from the control's egress IP? Pure: the answers Graph gave, compared.
//! A pass needs, for every anchor against every control IP, a policy that applies on one side
//! and not on the other, with `location` among the reasons on the side it does not apply.

use crate::cause::Cause;
use std::net::IpAddr;

use super::expectation::{Expectation, diagnosis};
use crate::observation::entra::{GraphError, WhatIfPolicy};
use crate::observation::{WhatIfAnswer, WhatIfObservation, WhatIfSide, WhatIfSource};
use crate::outcome::{Diagnosis, Outcome, Status};

/// What the check expects, before the anchor set is known.
pub(super) const WHAT_IF_EXPECTED: &str = "Conditional Access decides differently for a sign-in from an anchor IP than from the control's egress IP";

/// Judges the What If comparison; `o` is the blank outcome to fill.
pub(super) fn judge_what_if(mut o: Outcome, w: &WhatIfObservation, exp: &Expectation) -> Outcome {
    o.expected = format!(
        "What If: Conditional Access decides differently for the probe app's sign-in from each anchor of {} than from the control's egress IP, by a policy's location condition",
        exp.anchors
    );
    o.status = Status::Error;
    match w {
        WhatIfObservation::NotAsked => {
            o.reason = "Conditional Access What If was not asked".into();
            o.observed = "not asked".into();
            o.diagnosis = diagnosis(Cause::GraphNotRead, "the run ended before Graph was read");
        }
        WhatIfObservation::Cut { by } => {
            o.reason = format!(
                "Conditional Access What If was not asked: the run was {}",
                super::expectation::describe_cut(by)
            );
            o.observed = "not asked".into();
            o.diagnosis = diagnosis(Cause::GraphNotRead, "the run ended before Graph was read");
        }
        WhatIfObservation::NoControlIp {
            observers,
            inside_anchor_set,
        } => {
            o.reason = if observers.is_empty() {
                "no IP outside the anchor set to compare with: the scenario has no control observer and [entra] what_if_control_ip is not set".to_string()
            } else if inside_anchor_set.is_empty() {
                format!(
                    "no IP outside the anchor set to compare with: the control observer{} {} revealed no egress IP and [entra] what_if_control_ip is not set",
                    plural(observers.len()),
                    observers.join(", ")
                )
            } else {
                format!(
                    "no IP outside the anchor set to compare with: the control observer{} {} egressed only from the anchor set ({}) and [entra] what_if_control_ip is not set",
                    plural(observers.len()),
                    observers.join(", "),
                    show_ips(inside_anchor_set)
                )
            };
            o.observed = "What If not asked: no control IP".into();
            o.diagnosis = diagnosis(
                Cause::MissingObserver,
                "What If needs a non-anchored egress IP: add a control observer, or set [entra] what_if_control_ip to the ZIA egress IP",
            );
        }
        WhatIfObservation::NoSubject {
            client_id,
            error,
            refused,
            ..
        } => {
            if let Some(refused) = refused {
                o.reason = format!(
                    "What If refused the documented request for the probe app {client_id} ({}), and the older request shapes need its service principal's object id, which neither Graph ({error}) nor the run's sign-ins named: `sipa-check complete` asks again once the sign-ins are in the log",
                    refused.refusals.join("; ")
                );
                o.observed =
                    "What If refused the documented request; no service principal object id for the older ones"
                        .into();
            } else {
                o.reason = format!(
                    "the probe app {client_id} has no service principal Graph would name: {error}"
                );
                o.observed = "What If not asked: no service principal".into();
            }
            o.diagnosis = match error {
                GraphError::Status { status: 404, .. } => diagnosis(
                    Cause::NoServicePrincipal,
                    format!(
                        "the probe app {client_id} has no service principal in this tenant: consent to it (Enterprise applications), or set [entra] what_if_service_principal_id"
                    ),
                ),
                _ => subject_or_graph_diagnosis(error),
            };
        }
        WhatIfObservation::Evaluated {
            anchors, controls, ..
        } => compare(&mut o, anchors, controls),
    }
    o
}

/// How one anchor and one control compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PairVerdict {
    /// An enforced policy's location condition tells them apart.
    Trusted,
    /// Only a report-only (or disabled) policy's location condition does.
    ReportOnly,
    /// They differ, but no policy names `location` as the reason.
    OtherReason,
    /// Conditional Access decides the same.
    Same,
}

/// One policy that applies on one side only.
struct Difference<'a> {
    policy: &'a WhatIfPolicy,
    /// Applies from the anchor (and not from the control).
    from_anchor: bool,
    /// The reasons on the side where it does not apply.
    reasons: Vec<&'a str>,
    location: bool,
    enforced: bool,
}

/// The policies that apply on one side only; a policy listed on one side alone counts as not
/// applying (for no stated reason) on the other.
fn differences<'a>(anchor: &'a [WhatIfPolicy], control: &'a [WhatIfPolicy]) -> Vec<Difference<'a>> {
    let mut ids: Vec<&str> = anchor.iter().map(|p| p.id.as_str()).collect();
    for p in control {
        if !ids.contains(&p.id.as_str()) {
            ids.push(&p.id);
        }
    }
    ids.into_iter()
        .filter_map(|id| {
            let a = anchor.iter().find(|p| p.id == id);
            let c = control.iter().find(|p| p.id == id);
            let (applies_a, applies_c) =
                (a.is_some_and(|p| p.applies), c.is_some_and(|p| p.applies));
            if applies_a == applies_c {
                return None;
            }
            let (applying, other) = if applies_a { (a?, c) } else { (c?, a) };
            let reasons = other.map(|p| p.reasons()).unwrap_or_default();
            Some(Difference {
                policy: applying,
                from_anchor: applies_a,
                location: other.is_some_and(WhatIfPolicy::not_applied_for_location),
                reasons,
                enforced: applying.enforced(),
            })
        })
        .collect()
}

fn pair_verdict(diffs: &[Difference<'_>]) -> PairVerdict {
    if diffs.iter().any(|d| d.location && d.enforced) {
        PairVerdict::Trusted
    } else if diffs.iter().any(|d| d.location) {
        PairVerdict::ReportOnly
    } else if diffs.is_empty() {
        PairVerdict::Same
    } else {
        PairVerdict::OtherReason
    }
}

fn compare(o: &mut Outcome, anchors: &[WhatIfSide], controls: &[WhatIfSide]) {
    let mut observed: Vec<String> = anchors.iter().chain(controls).map(describe_side).collect();
    let failed: Vec<(&WhatIfSide, &GraphError)> = anchors
        .iter()
        .chain(controls)
        .filter_map(|s| match &s.answer {
            WhatIfAnswer::Failed { error } => Some((s, error)),
            WhatIfAnswer::Policies { .. } => None,
        })
        .collect();
    if let Some((side, error)) = failed.first() {
        o.observed = observed.join("\n");
        let others = match failed.len() - 1 {
            0 => String::new(),
            n => format!(" (and {n} more evaluation{} failed)", plural(n)),
        };
        o.reason = format!(
            "What If for a sign-in from {} ({}) failed: {error}{others}",
            side.ip,
            describe_source(&side.source)
        );
        o.diagnosis = what_if_diagnosis(error);
        return;
    }
    if anchors.is_empty() || controls.is_empty() {
        o.observed = observed.join("\n");
        o.reason = "What If has nothing to compare: no anchor or no control IP".into();
        o.diagnosis = diagnosis(
            Cause::MissingObserver,
            "the scenario needs anchors and a control",
        );
        return;
    }
    let policies = |s: &'_ WhatIfSide| -> Vec<WhatIfPolicy> {
        match &s.answer {
            WhatIfAnswer::Policies { policies, .. } => policies.clone(),
            WhatIfAnswer::Failed { .. } => Vec::new(),
        }
    };
    let mut verdicts: Vec<(PairVerdict, IpAddr, IpAddr, String)> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    for a in anchors {
        let from_anchor = policies(a);
        for c in controls {
            let from_control = policies(c);
            let diffs = differences(&from_anchor, &from_control);
            let verdict = pair_verdict(&diffs);
            observed.extend(
                diffs
                    .iter()
                    .map(|d| format!("difference: {}", describe_difference(d, a.ip, c.ip))),
            );
            let shown = diffs
                .iter()
                .filter(|d| d.location)
                .map(|d| describe_difference(d, a.ip, c.ip))
                .collect::<Vec<_>>()
                .join("; ");
            if verdict == PairVerdict::ReportOnly {
                warnings.push(format!(
                    "only report-only policies tell the anchor {} from the control's {} apart: Conditional Access evaluates them but does not enforce them yet",
                    a.ip, c.ip
                ));
            }
            verdicts.push((verdict, a.ip, c.ip, shown));
        }
    }
    o.observed = observed.join("\n");
    let worst = verdicts
        .iter()
        .map(|(v, ..)| *v)
        .max()
        .unwrap_or(PairVerdict::Same);
    let pairs = |wanted: PairVerdict| -> Vec<&(PairVerdict, IpAddr, IpAddr, String)> {
        verdicts.iter().filter(|(v, ..)| *v == wanted).collect()
    };
    match worst {
        PairVerdict::Trusted | PairVerdict::ReportOnly => {
            o.status = Status::Pass;
            o.reason = format!(
                "Conditional Access decides differently from the anchor by location: {}",
                verdicts
                    .iter()
                    .map(|(.., shown)| shown.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            o.warnings.extend(warnings);
        }
        PairVerdict::OtherReason => {
            let same = pairs(PairVerdict::OtherReason);
            o.reason = format!(
                "Conditional Access decides differently for {}, but no policy names the location as the reason: the harness cannot tell whether anchoring is the cause",
                same.iter()
                    .map(|(_, a, c, _)| format!("the anchor {a} and the control {c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            o.diagnosis = diagnosis(
                Cause::WhatIfOtherDifference,
                "read the difference: a policy that should trust the App Connector IP must use the trusted named location in its location condition",
            );
        }
        PairVerdict::Same => {
            let same = pairs(PairVerdict::Same);
            let anchor_ips = distinct(same.iter().map(|(_, a, ..)| *a));
            let control_ips = distinct(same.iter().map(|(_, _, c, _)| *c));
            o.status = Status::Fail;
            o.reason = format!(
                "anchoring buys no trust: Conditional Access decides the same for the App Connector IP {} as for the ZIA egress {}",
                show_ips(&anchor_ips),
                show_ips(&control_ips)
            );
            o.diagnosis = diagnosis(
                Cause::AnchoringBuysNoTrust,
                format!(
                    "anchoring buys no trust: no Conditional Access policy's location condition trusts the App Connector IP {}: put it in an IP named location marked trusted, and use that location in the policy (exclude trusted locations from the block or MFA policy)",
                    show_ips(&anchor_ips)
                ),
            );
        }
    }
}

/// `"name" applies from the control's 127.0.0.3, not from the anchor 127.0.0.2 (location)`.
fn describe_difference(d: &Difference<'_>, anchor: IpAddr, control: IpAddr) -> String {
    let reasons = if d.reasons.is_empty() {
        "no reason given".to_string()
    } else {
        d.reasons.join(", ")
    };
    if d.from_anchor {
        format!(
            "{} applies from the anchor {anchor}, not from the control's {control} ({reasons})",
            quoted(d.policy)
        )
    } else {
        format!(
            "{} applies from the control's {control}, not from the anchor {anchor} ({reasons})",
            quoted(d.policy)
        )
    }
}

/// One side as the report shows it: which policies apply, and why the others do not.
fn describe_side(s: &WhatIfSide) -> String {
    let who = match &s.source {
        WhatIfSource::Anchor { .. } => "anchor",
        WhatIfSource::Control { .. } | WhatIfSource::Configured => "control",
    };
    let head = format!("from {who} {} ({})", s.ip, describe_source(&s.source));
    match &s.answer {
        WhatIfAnswer::Failed { error } => format!("{head}: What If failed: {error}"),
        WhatIfAnswer::Policies { policies, .. } if policies.is_empty() => {
            format!("{head}: no Conditional Access policy listed")
        }
        WhatIfAnswer::Policies { policies, .. } => {
            let applies: Vec<String> = policies.iter().filter(|p| p.applies).map(quoted).collect();
            let not: Vec<String> = policies
                .iter()
                .filter(|p| !p.applies)
                .map(|p| {
                    let reasons = p.reasons();
                    if reasons.is_empty() {
                        quoted(p)
                    } else {
                        format!("{} ({})", quoted(p), reasons.join(", "))
                    }
                })
                .collect();
            let list = |v: &[String]| {
                if v.is_empty() {
                    "none".to_string()
                } else {
                    v.join(", ")
                }
            };
            format!(
                "{head}: applies {}; does not apply {}",
                list(&applies),
                list(&not)
            )
        }
    }
}

fn describe_source(source: &WhatIfSource) -> String {
    match source {
        WhatIfSource::Anchor { anchor } => {
            if anchor.prefix_len() == anchor.max_prefix_len() {
                "anchor set".into()
            } else {
                format!("for the anchor range {anchor}")
            }
        }
        WhatIfSource::Control { observer } => format!("observed by {observer}"),
        WhatIfSource::Configured => "[entra] what_if_control_ip".into(),
    }
}

/// `"name"`, with `[report-only]` or `[disabled]` when not enforced.
fn quoted(p: &WhatIfPolicy) -> String {
    if p.enforced() {
        format!("{:?}", p.display_name)
    } else if p.state == "disabled" {
        format!("{:?} [disabled]", p.display_name)
    } else {
        format!("{:?} [report-only]", p.display_name)
    }
}

fn what_if_diagnosis(error: &GraphError) -> Option<Diagnosis> {
    match error {
        GraphError::WhatIfUnavailable { .. } => diagnosis(
            Cause::WhatIfUnavailable,
            "Graph's What If (identity/conditionalAccess/evaluate, v1.0 then beta) refused every request shape: it changed or is not offered here; [entra] what_if = false leaves the check out",
        ),
        GraphError::Unauthorized { .. }
        | GraphError::Forbidden { .. }
        | GraphError::Token { .. } => {
            super::entra::graph_access(error, "What If", "Policy.Read.All")
        }
        GraphError::Throttled { .. } => diagnosis(
            Cause::GraphThrottled,
            "Graph throttled What If (429) until the wait ran out",
        ),
        GraphError::Html { .. } | GraphError::TruncatedJson { .. } | GraphError::BadJson { .. } => {
            diagnosis(
                Cause::GraphUnreadable,
                "Graph's What If answer is not the documented whatIfAnalysisResult collection (a proxy in the way, or the API changed)",
            )
        }
        _ => diagnosis(
            Cause::GraphUnreadable,
            "Conditional Access What If could not be asked through Graph",
        ),
    }
}

fn subject_or_graph_diagnosis(error: &GraphError) -> Option<Diagnosis> {
    match error {
        GraphError::Token { .. } => super::entra::graph_access(error, "What If", "Policy.Read.All"),
        GraphError::Unauthorized { .. } | GraphError::Forbidden { .. } => {
            super::entra::graph_access(
                error,
                "its service principal's object id for the older What If requests (the documented one was refused)",
                "Application.Read.All or Directory.Read.All, or set [entra] what_if_service_principal_id; What If itself needs Policy.Read.All",
            )
        }
        other => what_if_diagnosis(other),
    }
}

fn distinct(ips: impl Iterator<Item = IpAddr>) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for ip in ips {
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

fn show_ips(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" and ")
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guide::GuideStep;
    use crate::observation::Observation;
    use crate::plan::{CheckKind, Plan};

    const ANCHOR: &str = "127.0.0.2";
    const CONTROL: &str = "127.0.0.3";

    fn plan(entra: &str) -> Plan {
        let text = format!(
            "name = \"e\"\n[login]\nhosts = [\"login.windows.net\"]\n[anchor]\nexpect = [\"127.0.0.2\"]\n[limits]\nfamily = \"4\"\n[entra]\n{entra}"
        );
        let s = crate::scenario::load_str(
            &text,
            std::path::Path::new("e.toml"),
            crate::scenario::Format::Toml,
        )
        .unwrap();
        Plan::build(&s, &[])
    }

    fn exp() -> Expectation {
        Expectation::lab(true, false)
    }

    fn judge(w: WhatIfObservation) -> Outcome {
        let plan = plan("");
        let check = plan
            .checks
            .iter()
            .find(|c| c.kind == CheckKind::EntraWhatIf)
            .expect("a what-if check in log mode");
        assert_eq!(
            check.name,
            "graph.microsoft.com entra conditional access what-if"
        );
        crate::verdict::judge_check(check, &Observation::WhatIf(Box::new(w)), &exp())
    }

    fn policy(id: &str, applies: bool, reasons: &str) -> WhatIfPolicy {
        WhatIfPolicy {
            id: id.into(),
            display_name: format!("policy {id}"),
            state: "enabled".into(),
            applies,
            analysis_reasons: reasons.into(),
        }
    }

    fn side(ip: &str, source: WhatIfSource, policies: Vec<WhatIfPolicy>) -> WhatIfSide {
        WhatIfSide {
            ip: ip.parse().unwrap(),
            source,
            answer: WhatIfAnswer::Policies {
                asked: crate::observation::WhatIfRequest::DocumentedV1,
                policies,
            },
        }
    }

    fn anchor(policies: Vec<WhatIfPolicy>) -> WhatIfSide {
        side(
            ANCHOR,
            WhatIfSource::Anchor {
                anchor: "127.0.0.2/32".parse().unwrap(),
            },
            policies,
        )
    }

    fn control(policies: Vec<WhatIfPolicy>) -> WhatIfSide {
        side(
            CONTROL,
            WhatIfSource::Control {
                observer: "control".into(),
            },
            policies,
        )
    }

    fn evaluated(anchors: Vec<WhatIfSide>, controls: Vec<WhatIfSide>) -> WhatIfObservation {
        WhatIfObservation::Evaluated {
            service_principal_id: "app".into(),
            subject_from: crate::observation::SubjectSource::ClientId,
            resource_app_id: "00000003-0000-0000-c000-000000000000".into(),
            anchors,
            controls,
        }
    }

    #[test]
    fn a_policy_that_stops_applying_at_the_anchor_for_its_location_passes() {
        let o = judge(evaluated(
            vec![anchor(vec![
                policy("block", false, "location"),
                policy("mfa", false, "users"),
            ])],
            vec![control(vec![
                policy("block", true, "notSet"),
                policy("mfa", false, "users"),
            ])],
        ));
        assert_eq!(o.status, Status::Pass, "{}", o.reason);
        assert!(
            o.reason.contains(
                "\"policy block\" applies from the control's 127.0.0.3, not from the anchor 127.0.0.2 (location)"
            ),
            "{}",
            o.reason
        );
        assert!(o.warnings.is_empty(), "{:?}", o.warnings);
        assert!(
            o.observed.contains("difference: \"policy block\""),
            "{}",
            o.observed
        );
        assert!(
            o.observed
                .contains("from control 127.0.0.3 (observed by control): applies \"policy block\""),
            "{}",
            o.observed
        );
    }

    #[test]
    fn a_policy_that_starts_applying_at_the_anchor_passes_too() {
        let o = judge(evaluated(
            vec![anchor(vec![policy("session", true, "notSet")])],
            vec![control(vec![policy("session", false, "location")])],
        ));
        assert_eq!(o.status, Status::Pass, "{}", o.reason);
        assert!(
            o.reason
                .contains("applies from the anchor 127.0.0.2, not from the control's 127.0.0.3")
        );
    }

    #[test]
    fn no_difference_fails_anchoring_buys_no_trust() {
        let same = || {
            vec![
                policy("block", true, "notSet"),
                policy("mfa", false, "users"),
            ]
        };
        let o = judge(evaluated(vec![anchor(same())], vec![control(same())]));
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.reason,
            "anchoring buys no trust: Conditional Access decides the same for the App Connector IP 127.0.0.2 as for the ZIA egress 127.0.0.3"
        );
        let d = o.diagnosis.unwrap();
        assert_eq!(d.guide_step, GuideStep::TrustedLocation);
        assert!(d.likely_cause.contains("trusted"), "{}", d.likely_cause);
        // No policy at all is no difference either.
        let o = judge(evaluated(vec![anchor(vec![])], vec![control(vec![])]));
        assert_eq!(o.status, Status::Fail);
        assert!(o.observed.contains("no Conditional Access policy listed"));
    }

    #[test]
    fn one_anchor_that_changes_nothing_fails_by_name() {
        let second = side(
            "127.0.0.4",
            WhatIfSource::Anchor {
                anchor: "127.0.0.4/32".parse().unwrap(),
            },
            vec![policy("block", true, "notSet")],
        );
        let o = judge(evaluated(
            vec![anchor(vec![policy("block", false, "location")]), second],
            vec![control(vec![policy("block", true, "notSet")])],
        ));
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.reason.contains("App Connector IP 127.0.0.4 as"),
            "{}",
            o.reason
        );
    }

    #[test]
    fn a_difference_only_in_report_only_policies_passes_with_a_warning() {
        let report_only = |applies, reasons| WhatIfPolicy {
            state: "enabledForReportingButNotEnforced".into(),
            ..policy("block", applies, reasons)
        };
        let o = judge(evaluated(
            vec![anchor(vec![report_only(false, "location")])],
            vec![control(vec![report_only(true, "notSet")])],
        ));
        assert_eq!(o.status, Status::Pass, "{}", o.reason);
        assert_eq!(o.warnings.len(), 1);
        assert!(o.warnings[0].contains("report-only"), "{:?}", o.warnings);
        assert!(o.reason.contains("[report-only]"), "{}", o.reason);
    }

    #[test]
    fn a_difference_for_another_reason_is_an_error() {
        let o = judge(evaluated(
            vec![anchor(vec![policy("x", false, "notEnoughInformation")])],
            vec![control(vec![policy("x", true, "notSet")])],
        ));
        assert_eq!(o.status, Status::Error, "{}", o.reason);
        assert!(
            o.reason.contains("no policy names the location"),
            "{}",
            o.reason
        );
    }

    #[test]
    fn what_if_unavailable_is_an_error_never_a_pass() {
        let unavailable = WhatIfAnswer::Failed {
            error: GraphError::WhatIfUnavailable {
                refusals: vec![
                    "v1.0 documented: 400 BadRequest".into(),
                    "beta documented: 400 BadRequest".into(),
                ],
            },
        };
        let mut a = anchor(vec![]);
        a.answer = unavailable.clone();
        let mut c = control(vec![]);
        c.answer = unavailable;
        let o = judge(evaluated(vec![a], vec![c]));
        assert_eq!(o.status, Status::Error);
        assert!(o.reason.contains("What If is unavailable"), "{}", o.reason);
        assert!(
            o.reason.contains("and 1 more evaluation failed"),
            "{}",
            o.reason
        );
        assert_eq!(o.diagnosis.unwrap().guide_step, GuideStep::GraphRoute);
    }

    #[test]
    fn a_partial_failure_is_an_error_even_with_a_difference_elsewhere() {
        let mut failed = control(vec![]);
        failed.ip = "127.0.0.5".parse().unwrap();
        failed.answer = WhatIfAnswer::Failed {
            error: GraphError::Forbidden {
                url: "https://graph/beta/identity/conditionalAccess/evaluate".into(),
                code: "Authorization_RequestDenied".into(),
            },
        };
        let o = judge(evaluated(
            vec![anchor(vec![policy("block", false, "location")])],
            vec![control(vec![policy("block", true, "notSet")]), failed],
        ));
        assert_eq!(o.status, Status::Error);
        assert!(o.reason.contains("127.0.0.5"), "{}", o.reason);
        let d = o.diagnosis.unwrap();
        assert_eq!(d.guide_step, GuideStep::EntraApp);
        assert!(
            d.likely_cause.contains("Policy.Read.All"),
            "{}",
            d.likely_cause
        );
    }

    #[test]
    fn without_a_control_ip_or_a_subject_it_is_an_error_saying_what_is_missing() {
        let o = judge(WhatIfObservation::NoControlIp {
            observers: vec!["control".into()],
            inside_anchor_set: vec!["127.0.0.2".parse().unwrap()],
        });
        assert_eq!(o.status, Status::Error);
        assert!(
            o.reason
                .contains("egressed only from the anchor set (127.0.0.2)")
        );
        assert!(o.reason.contains("what_if_control_ip"), "{}", o.reason);
        assert_eq!(o.diagnosis.unwrap().guide_step, GuideStep::Observers);
        let o = judge(WhatIfObservation::NoSubject {
            client_id: "app".into(),
            error: GraphError::Status {
                url: "https://graph/v1.0/servicePrincipals(appId='app')".into(),
                status: 404,
                message: "Request_ResourceNotFound".into(),
            },
            refused: Some(Box::new(crate::observation::DocumentedRefused {
                refusals: vec!["v1.0 documented: 400 BadRequest".into()],
                question: crate::observation::WhatIfQuestion {
                    resource_app_id: "r".into(),
                    anchors: vec![],
                    controls: vec![],
                },
            })),
        });
        assert_eq!(o.status, Status::Error);
        assert!(
            o.reason.starts_with(
                "What If refused the documented request for the probe app app (v1.0 documented: 400 BadRequest)"
            ),
            "{}",
            o.reason
        );
        assert!(o.reason.contains("sipa-check complete"), "{}", o.reason);
        assert!(
            o.diagnosis
                .unwrap()
                .likely_cause
                .contains("what_if_service_principal_id")
        );
        for w in [
            WhatIfObservation::NotAsked,
            WhatIfObservation::Cut {
                by: crate::observation::Cut::Interrupted,
            },
        ] {
            assert_eq!(judge(w).status, Status::Error);
        }
    }

    #[test]
    fn what_if_is_planned_where_graph_is_read_or_where_asked() {
        let has = |entra: &str| {
            plan(entra)
                .checks
                .iter()
                .any(|c| c.kind == CheckKind::EntraWhatIf)
        };
        assert!(has(""));
        assert!(has("mode = \"both\"\n"));
        assert!(
            !has("mode = \"ca\"\n"),
            "ca mode never contacts Graph unless asked"
        );
        assert!(has("mode = \"ca\"\nwhat_if = true\n"));
        assert!(!has("what_if = false\n"));
    }
}
