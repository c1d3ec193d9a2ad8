//! Entra sign-in checks: the token request through a login host, judged on the IP Entra's
//! sign-in log names for it (and on Conditional Access blocking it). Never a pass unless the
//! log itself named an IP on the right side of the anchor set.

use super::expectation::chain;
use super::expectation::{Expectation, diagnosis};
use crate::cause::Cause;
use crate::observation::entra::{
    AnchorCoverage, GraphError, SignInLookup, SignInRecord, TokenOutcome, TokenRefusal, short_url,
};
use crate::observation::show_duration;
use crate::observation::{EntraObservation, NamedLocationsObservation, SignInLog};
use crate::outcome::{Diagnosis, Outcome, Proof, Status};
use crate::scenario::model::EntraMode;

/// Judges one entra sign-in check; `o` is the blank outcome to fill.
pub(super) fn judge(o: Outcome, e: &EntraObservation, exp: &Expectation) -> Outcome {
    judge_sign_in(o, &e.token.outcome, &e.log, exp)
}

/// Judges a sign-in on what Entra answered the token request and what its log says: the
/// whole decision, for a run and for `sipa-check complete` alike.
pub(super) fn judge_sign_in(
    mut o: Outcome,
    token_outcome: &TokenOutcome,
    log: &SignInLog,
    exp: &Expectation,
) -> Outcome {
    let host = o.host.clone();
    let must_be_in = exp.expect_anchored;
    let relation = if must_be_in { "in" } else { "outside" };
    o.expected = format!(
        "Entra's sign-in log names an IP {relation} the anchor set {} for a token request through {host}",
        exp.anchors
    );
    let token = describe_token(token_outcome);
    let transport = |o: &mut Outcome, reason: String| {
        o.status = Status::Error;
        o.reason = reason;
        o.diagnosis = diagnosis(
            Cause::TokenUnanswered,
            format!(
                "the token request through {host} got no answer from Entra: this vantage's path to the login host"
            ),
        );
    };
    match token_outcome {
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
                Cause::EntraCredentials,
                "the Entra probe app's credentials are not accepted",
            );
            return o;
        }
        TokenOutcome::Issued | TokenOutcome::Blocked { .. } => {}
    }
    let blocked = match token_outcome {
        TokenOutcome::Blocked { policy_ids } => Some(policy_ids),
        _ => None,
    };
    let record = match log {
        SignInLog::Looked {
            lookup: SignInLookup::Found(record),
        } => Some(record),
        _ => None,
    };
    let log_text = match log {
        SignInLog::NotAsked => "sign-in log not read".to_string(),
        SignInLog::Cut { by } => format!(
            "sign-in log not read: {}",
            super::expectation::describe_cut(by)
        ),
        SignInLog::Looked { lookup } => match lookup {
            SignInLookup::Found(r) => describe_record(r),
            SignInLookup::NotYetIngested { waited } => {
                format!("not in the sign-in log after {}", show_duration(*waited))
            }
            SignInLookup::Failed { error } => format!("sign-in log unreadable: {}", error.brief()),
        },
    };
    match (exp.entra_mode, record) {
        (EntraMode::Ca, _) => {
            o.observed = format!("{token}; sign-in log not read (mode ca)");
            return judge_ca(o, token_outcome, exp);
        }
        // The log has not shown the sign-in (yet): Conditional Access's answer decides.
        (EntraMode::Both, None) => {
            o.observed = format!("{token}; {log_text}");
            return judge_ca(o, token_outcome, exp);
        }
        (EntraMode::Log | EntraMode::Both, _) => {}
    }
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
                        Cause::AnchorNotTrusted,
                        format!(
                            "the App Connector IP {} is probably not in a trusted named location",
                            r.ip_address
                        ),
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
                        Cause::AnchoredOutsideTrust,
                        "login traffic is anchored from a vantage outside the trusted locations",
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
                Cause::CaBlockedLoginHost,
                format!(
                    "the application segment probably lacks {host}, or the App Connector IPs are not a trusted named location"
                ),
            );
        }
        None => {
            o.status = Status::Error;
            let (reason, found) = match log {
                SignInLog::Looked {
                    lookup: SignInLookup::NotYetIngested { waited },
                } => (
                    SignInLookup::not_ingested_message(*waited),
                    diagnosis(
                        Cause::SignInPending,
                        "the sign-in is not in Entra's log yet (pending): ingestion can take 5-30 min; finish the report later with `sipa-check complete REPORT.json`",
                    ),
                ),
                SignInLog::Looked {
                    lookup: SignInLookup::Failed { error },
                } => (format!("Graph: {error}"), graph_diagnosis(error)),
                SignInLog::Cut { by } => (
                    format!(
                        "the sign-in log was not read: the run was {}",
                        super::expectation::describe_cut(by)
                    ),
                    diagnosis(
                        Cause::GraphNotRead,
                        "the run ended before Entra's sign-in log was read",
                    ),
                ),
                SignInLog::NotAsked | SignInLog::Looked { .. } => (
                    "the sign-in log was not read".to_string(),
                    diagnosis(
                        Cause::GraphNotRead,
                        "the run ended before Entra's sign-in log was read",
                    ),
                ),
            };
            o.reason = reason;
            o.diagnosis = found;
        }
    }
    o
}

/// Judges a sign-in on Conditional Access's answer alone (`mode = "ca"`, or `both` before the
/// log shows it): the probe app's workload-identity policy blocks it outside trusted named
/// locations, so a token issued means Entra saw a trusted IP, and AADSTS53003 that it did not.
/// A token issued proves that only where the run showed the policy biting
/// ([`Expectation::ca_policy`]): without such a policy every token is issued, so the check is
/// then an error, never a pass. `token_outcome` is issued or blocked; `o.observed` is set.
fn judge_ca(mut o: Outcome, token_outcome: &TokenOutcome, exp: &Expectation) -> Outcome {
    let host = o.host.clone();
    o.expected = if exp.expect_anchored {
        format!(
            "Entra issues the probe app a token through {host}, with a Conditional Access policy shown to refuse it outside the trusted named locations"
        )
    } else {
        format!(
            "Conditional Access blocks the probe app's token through {host}: this vantage is outside the trusted locations"
        )
    };
    match (token_outcome, exp.expect_anchored) {
        (TokenOutcome::Issued, true) => match &exp.ca_policy {
            Some(policy) => {
                o.status = Status::Pass;
                o.reason = format!(
                    "Entra issued the token through {host}, and Conditional Access refuses the probe app outside the trusted locations ({policy}): Entra saw a trusted IP"
                );
            }
            None => {
                o.status = Status::Error;
                o.reason = format!(
                    "Entra issued the token through {host}; policy unverified: nothing in this run shows a Conditional Access policy refusing the probe app outside the trusted locations, and without one every token is issued"
                );
                o.diagnosis = diagnosis(
                    Cause::CaPolicyUnverified,
                    "nothing in the run showed Conditional Access refusing the probe app outside the trusted locations (a vantage with expect_anchored = false must be refused), so a token issued proves nothing",
                );
            }
        },
        (TokenOutcome::Blocked { policy_ids }, true) => {
            o.status = Status::Fail;
            o.reason = format!(
                "Conditional Access blocked the token through {host} (AADSTS53003, {}): Entra did not see a trusted IP, so {host} is not anchored or the anchor IP is not in a trusted named location",
                show_policies(policy_ids)
            );
            o.diagnosis = diagnosis(
                Cause::CaBlockedLoginHost,
                format!(
                    "the application segment probably lacks {host}, or the App Connector IPs are not a trusted named location"
                ),
            );
        }
        (TokenOutcome::Blocked { policy_ids }, false) => {
            o.status = Status::Pass;
            o.reason = format!(
                "Conditional Access blocked the token through {host} outside the trusted locations, as it should ({})",
                show_policies(policy_ids)
            );
        }
        (TokenOutcome::Issued, false) => {
            o.status = Status::Fail;
            o.reason = format!(
                "Entra issued a token through {host} from a vantage outside the trusted locations: it saw a trusted IP, or no policy blocks the probe app"
            );
            o.diagnosis = diagnosis(
                Cause::IssuedOutsideTrust,
                "login traffic is anchored from a vantage outside the trusted locations, or the probe app has no Conditional Access policy",
            );
        }
        _ => {
            o.status = Status::Error;
            o.reason = format!("internal: no Conditional Access answer for {host}");
        }
    }
    o
}

/// Judges the anchor set against Conditional Access's IP named locations: each anchor must lie
/// in a location marked trusted, or CA's location condition gains nothing from anchoring.
pub(super) fn judge_named_locations(
    mut o: Outcome,
    n: &NamedLocationsObservation,
    exp: &Expectation,
) -> Outcome {
    o.expected = format!(
        "every anchor of {} in an IP named location marked trusted",
        exp.anchors
    );
    match n {
        NamedLocationsObservation::Read { locations, anchors } => {
            let trusted: Vec<&str> = locations
                .iter()
                .filter(|l| l.is_trusted)
                .map(|l| l.display_name.as_str())
                .collect();
            let shown = |c: &AnchorCoverage| match c {
                AnchorCoverage::Trusted { location } => format!("in trusted {location:?}"),
                AnchorCoverage::OnlyUntrusted { locations } => {
                    format!("only in untrusted {}", locations.join(", "))
                }
                AnchorCoverage::NotCovered => "in no IP named location".into(),
            };
            o.observed = anchors
                .iter()
                .map(|a| format!("{} {}", show_net(&a.anchor), shown(&a.coverage)))
                .collect::<Vec<_>>()
                .join("; ");
            if o.observed.is_empty() {
                o.observed = "no anchors to look up".into();
            }
            let missing: Vec<String> = anchors
                .iter()
                .filter(|a| !matches!(a.coverage, AnchorCoverage::Trusted { .. }))
                .map(|a| show_net(&a.anchor))
                .collect();
            if anchors.is_empty() {
                o.status = Status::Error;
                o.reason = "no anchors to look up in the named locations".into();
                o.diagnosis = diagnosis(Cause::MissingObserver, "the scenario has no anchor set");
            } else if missing.is_empty() {
                o.status = Status::Pass;
                o.reason = format!(
                    "every anchor is in a trusted named location ({})",
                    trusted.join(", ")
                );
            } else {
                o.status = Status::Fail;
                let trusted_text = if trusted.is_empty() {
                    "no IP named location is marked trusted".to_string()
                } else {
                    format!("trusted: {}", trusted.join(", "))
                };
                o.reason = format!(
                    "the App Connector IP {} is not in a trusted named location ({trusted_text})",
                    missing.join(" and ")
                );
                o.diagnosis = diagnosis(
                    Cause::AnchorNotTrusted,
                    format!(
                        "the trusted named location lacks the App Connector IP {}: Conditional Access does not trust anchored sign-ins",
                        missing.join(" and ")
                    ),
                );
            }
        }
        NamedLocationsObservation::Failed { error } => {
            o.status = Status::Error;
            o.reason = format!("Graph: {error}");
            o.observed = "named locations unreadable".into();
            o.diagnosis = graph_access(error, "the named locations", "Policy.Read.All")
                .or_else(|| graph_diagnosis(error));
        }
        NamedLocationsObservation::Cut { by } => {
            o.status = Status::Error;
            o.reason = format!(
                "the named locations were not read: the run was {}",
                super::expectation::describe_cut(by)
            );
            o.observed = "not read".into();
            o.diagnosis = diagnosis(Cause::GraphNotRead, "the run ended before Graph was read");
        }
        NamedLocationsObservation::NotAsked => {
            o.status = Status::Error;
            o.reason = "the named locations were not read".into();
            o.observed = "not read".into();
            o.diagnosis = diagnosis(Cause::GraphNotRead, "the run ended before Graph was read");
        }
    }
    o
}

/// `127.0.0.2` for a single address, `198.51.100.0/24` for a range.
fn show_net(net: &ipnet::IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// The diagnosis for a host whose sign-in came from outside the anchor set.
pub(super) fn unanchored(host: &str) -> Option<Diagnosis> {
    diagnosis(
        Cause::SegmentLacksHost,
        format!("the application segment probably lacks {host}"),
    )
}

fn graph_diagnosis(error: &GraphError) -> Option<Diagnosis> {
    graph_access(
        error,
        "the sign-in log",
        "AuditLog.Read.All and Directory.Read.All (sign-in logs also need Entra ID P1/P2)",
    )
    .or_else(|| match error {
        GraphError::Throttled { .. } => diagnosis(
            Cause::GraphThrottled,
            "Graph throttled the sign-in log reads (429) until the wait ran out",
        ),
        _ => diagnosis(
            Cause::GraphUnreadable,
            "the sign-in log could not be read from Graph",
        ),
    })
}

/// The diagnosis when Graph would not let the probe app read `read`: a refused Graph token
/// says why it was refused (Conditional Access on Graph's own route, or the app's
/// credentials) before any permission is named, for every Graph check alike; a 401 or 403
/// names the `permissions` the read needs, and its URL once, shortened. `None` for other
/// errors.
pub(super) fn graph_access(error: &GraphError, read: &str, permissions: &str) -> Option<Diagnosis> {
    match error {
        GraphError::Token {
            refusal: TokenRefusal::ConditionalAccess { policy_ids },
            ..
        } => diagnosis(
            Cause::GraphTokenBlocked,
            format!(
                "Conditional Access refused the probe app's Graph token on Graph's own route (AADSTS53003, {}), and no token was issued through a path under test to read Graph with",
                show_policies(policy_ids)
            ),
        ),
        GraphError::Token {
            refusal: TokenRefusal::Credentials { .. },
            meaning,
            ..
        } => diagnosis(
            Cause::EntraCredentials,
            format!("Entra refused the probe app's Graph token: {meaning}"),
        ),
        GraphError::Token { meaning, .. } => diagnosis(
            Cause::GraphUnreadable,
            format!("no Graph token for the probe app: {meaning}"),
        ),
        GraphError::Unauthorized { code, .. } => diagnosis(
            Cause::GraphPermissions,
            format!(
                "Graph does not accept the probe app's token to read {read} ({code}): check the tenant, and grant it {permissions} (application) with admin consent"
            ),
        ),
        GraphError::Forbidden { url, code } => diagnosis(
            Cause::GraphPermissions,
            format!(
                "Graph refused to let the probe app read {read} ({code}, {}): grant it {permissions} (application) with admin consent",
                short_url(url)
            ),
        ),
        _ => None,
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

/// How an entra check proved its host: the log's IP, or Conditional Access's answer, which
/// proves the host only with its policy shown to bite.
pub(super) fn proof(e: &EntraObservation, exp: &Expectation) -> Proof {
    sign_in_proof(&e.token.outcome, &e.log, exp)
}

/// [`proof`] on the token answer and the log.
pub(super) fn sign_in_proof(token: &TokenOutcome, log: &SignInLog, exp: &Expectation) -> Proof {
    let logged = matches!(
        log,
        SignInLog::Looked {
            lookup: SignInLookup::Found(_)
        }
    );
    let unverified = exp.entra_mode != EntraMode::Log
        && exp.expect_anchored
        && exp.ca_policy.is_none()
        && matches!(token, TokenOutcome::Issued);
    if logged {
        Proof::EntraLog
    } else if unverified {
        Proof::EntraCaUnverified
    } else {
        Proof::EntraCa
    }
}

/// Whether the check's evidence counts although the check is undecided: a token issued
/// whose policy is unverified is shown as such, not hidden as path only.
pub(super) fn unverified(e: &EntraObservation, exp: &Expectation) -> bool {
    proof(e, exp) == Proof::EntraCaUnverified
}

/// The proof that a Conditional Access policy bites, from a vantage outside the trusted
/// locations whose token request through a login host Entra refused (AADSTS53003).
pub fn ca_control(
    vantage: &str,
    observations: &[crate::observation::Observation],
    exp: &Expectation,
) -> Option<crate::observation::CaPolicyProof> {
    if exp.expect_anchored {
        return None;
    }
    observations.iter().find_map(|o| match o {
        crate::observation::Observation::Entra(e) => match &e.token.outcome {
            TokenOutcome::Blocked { policy_ids } => {
                Some(crate::observation::CaPolicyProof::Control {
                    vantage: vantage.to_owned(),
                    host: e.token.host.clone(),
                    policy_ids: policy_ids.clone(),
                })
            }
            _ => None,
        },
        _ => None,
    })
}

/// With every decided entra check failing on an IP outside the anchor set, no login host is
/// anchored: the forwarding rule or the gateway, not one segment domain.
pub(super) fn cross_check(plan: &crate::plan::Plan, outcomes: &mut [Outcome], exp: &Expectation) {
    if !exp.expect_anchored {
        return;
    }
    let sign_ins: Vec<(usize, &str, bool)> = plan
        .checks
        .iter()
        .filter(|c| c.kind == crate::plan::CheckKind::EntraSignIn)
        .map(|c| {
            let outside = match &outcomes[c.id].observation {
                crate::observation::Observation::Entra(e) => logged_outside(&e.log, exp),
                _ => false,
            };
            (c.id, c.host.as_str(), outside)
        })
        .collect();
    cross_check_sign_ins(outcomes, &sign_ins);
}

/// Whether the log named an IP outside the anchor set.
pub(super) fn logged_outside(log: &SignInLog, exp: &Expectation) -> bool {
    match log {
        SignInLog::Looked {
            lookup: SignInLookup::Found(r),
        } => !exp.anchors.contains(r.ip_address),
        _ => false,
    }
}

/// [`cross_check`] over the sign-in checks given as (outcome index, host, logged outside the
/// anchor set), for a run or a completed report; only for a vantage that must be anchored.
pub(super) fn cross_check_sign_ins(outcomes: &mut [Outcome], sign_ins: &[(usize, &str, bool)]) {
    let decided: Vec<&(usize, &str, bool)> = sign_ins
        .iter()
        .filter(|(i, _, _)| matches!(outcomes[*i].status, Status::Pass | Status::Fail))
        .collect();
    let hosts: std::collections::BTreeSet<&str> = decided.iter().map(|(_, h, _)| *h).collect();
    if hosts.len() > 1 && decided.iter().all(|(_, _, outside)| *outside) {
        for (i, _, _) in decided {
            outcomes[*i].diagnosis = diagnosis(
                Cause::NothingAnchored,
                "no login host is anchored: the ZIA forwarding rule (method ZPA, trust criteria, order) or the ZPA gateway",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::guide::GuideStep;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::observation::entra::TokenObservation;
    use crate::observation::entra::{GraphError, SignInRecord};
    use crate::observation::{CaPolicyProof, ConnectObservation, Observation};
    use crate::plan::{CheckKind, Plan};
    use crate::scenario::model::{EntraMode, Port};

    const HOSTS: [&str; 3] = [
        "login.microsoftonline.com",
        "login.windows.net",
        "login.microsoft.com",
    ];

    fn plan() -> Plan {
        let text = "name = \"e\"\n[login]\nhosts = [\"login.microsoftonline.com\", \"login.windows.net\", \"login.microsoft.com\"]\n[anchor]\nexpect = [\"127.0.0.2\"]\n[limits]\nfamily = \"4\"\n[entra]\n";
        let s = crate::scenario::load_str(
            text,
            std::path::Path::new("e.toml"),
            crate::scenario::Format::Toml,
        )
        .unwrap();
        Plan::build(&s, &[])
    }

    fn exp(expect_anchored: bool) -> Expectation {
        Expectation::lab(expect_anchored, false)
    }

    fn seen(host: &str, outcome: TokenOutcome, log: SignInLog) -> EntraObservation {
        EntraObservation {
            token: TokenObservation {
                host: host.into(),
                url: format!("https://{host}/t/oauth2/v2.0/token"),
                correlation_id: "c0ffee00-0000-4000-8000-000000000001".into(),
                sent_at: SystemTime::UNIX_EPOCH,
                via: "127.0.0.1:443".into(),
                connect: ConnectObservation { attempts: vec![] },
                tls: None,
                request_id: None,
                outcome,
                issued: None,
                elapsed: Duration::from_millis(5),
            },
            log,
        }
    }

    fn found(ip: &str) -> SignInLog {
        SignInLog::Looked {
            lookup: SignInLookup::Found(SignInRecord {
                ip_address: ip.parse().unwrap(),
                created: "2026-01-01T00:00:00Z".into(),
                correlation_id: "c0ffee00-0000-4000-8000-000000000001".into(),
                id: "r1".into(),
                status_code: 0,
                conditional_access_status: "notApplied".into(),
                applied_policies: vec![],
                network_location_details: vec![],
                service_principal_id: None,
            }),
        }
    }

    /// Judges one login host's entra check on `e`, alone.
    fn judge_one(e: EntraObservation, expect_anchored: bool) -> Outcome {
        let plan = plan();
        let check = plan
            .checks
            .iter()
            .find(|c| c.kind == CheckKind::EntraSignIn && c.host == e.token.host)
            .unwrap();
        crate::verdict::judge_check(
            check,
            &Observation::Entra(Box::new(e)),
            &exp(expect_anchored),
        )
    }

    #[test]
    fn the_plan_has_one_entra_check_per_host_on_443_after_its_tls() {
        let plan = plan();
        let entra: Vec<_> = plan
            .checks
            .iter()
            .filter(|c| c.kind == CheckKind::EntraSignIn)
            .collect();
        assert_eq!(entra.len(), 3);
        assert_eq!(entra[1].name, "login.windows.net:443 entra sign-in (ipv4)");
        for c in entra {
            assert_eq!(c.stage, crate::outcome::Stage::Entra);
            assert_eq!(c.port, Some(Port::HTTPS));
            let after = c.after.expect("judged after the TLS check");
            assert_eq!(plan.checks[after].kind, CheckKind::Tls);
            assert_eq!(plan.checks[after].host, c.host);
            assert!(c.waits_for.is_some(), "waits for the host's resolve");
        }
    }

    #[test]
    fn the_anchor_ip_in_the_log_passes() {
        let o = judge_one(
            seen(HOSTS[0], TokenOutcome::Issued, found("127.0.0.2")),
            true,
        );
        assert_eq!(o.status, Status::Pass, "{}", o.reason);
        assert_eq!(
            proof(
                &seen(HOSTS[0], TokenOutcome::Issued, found("127.0.0.2")),
                &exp(true)
            ),
            Proof::EntraLog
        );
    }

    #[test]
    fn another_ip_in_the_log_fails_naming_host_set_and_ip() {
        let o = judge_one(
            seen(HOSTS[1], TokenOutcome::Issued, found("127.0.0.3")),
            true,
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o.reason.contains("login.windows.net"), "{}", o.reason);
        assert!(o.reason.contains("127.0.0.3"), "{}", o.reason);
        assert!(o.reason.contains("{127.0.0.2}"), "{}", o.reason);
        let d = o.diagnosis.unwrap();
        assert_eq!(d.guide_step, GuideStep::SegmentDomains);
        assert!(d.likely_cause.contains("lacks login.windows.net"));
    }

    #[test]
    fn outside_the_trusted_locations_the_opposite_holds() {
        let o = judge_one(
            seen(HOSTS[0], TokenOutcome::Issued, found("127.0.0.3")),
            false,
        );
        assert_eq!(o.status, Status::Pass, "{}", o.reason);
        let o = judge_one(
            seen(HOSTS[0], TokenOutcome::Issued, found("127.0.0.2")),
            false,
        );
        assert_eq!(o.status, Status::Fail);
        assert_eq!(o.diagnosis.unwrap().guide_step, GuideStep::TrustCriteria);
        // A block is what Conditional Access should do there.
        let blocked = TokenOutcome::Blocked {
            policy_ids: vec!["p1".into()],
        };
        let o = judge_one(seen(HOSTS[0], blocked, found("127.0.0.3")), false);
        assert_eq!(o.status, Status::Pass, "{}", o.reason);
    }

    fn judge_in(e: EntraObservation, expect_anchored: bool, mode: EntraMode) -> Outcome {
        judge_with(e, expect_anchored, mode, None)
    }

    /// A vantage outside the trusted locations that Entra refused: the policy shown to bite.
    fn control() -> CaPolicyProof {
        CaPolicyProof::Control {
            vantage: "outside".into(),
            host: HOSTS[0].into(),
            policy_ids: vec!["pol-1".into()],
        }
    }

    fn judge_with(
        e: EntraObservation,
        expect_anchored: bool,
        mode: EntraMode,
        ca_policy: Option<CaPolicyProof>,
    ) -> Outcome {
        let plan = plan();
        let check = plan
            .checks
            .iter()
            .find(|c| c.kind == CheckKind::EntraSignIn && c.host == e.token.host)
            .unwrap();
        let exp = Expectation {
            entra_mode: mode,
            ca_policy,
            ..exp(expect_anchored)
        };
        crate::verdict::judge_check(check, &Observation::Entra(Box::new(e)), &exp)
    }

    fn blocked() -> TokenOutcome {
        TokenOutcome::Blocked {
            policy_ids: vec!["pol-1".into()],
        }
    }

    #[test]
    fn ca_mode_plans_entra_ca_evidence_and_no_graph_check() {
        let text = "name = \"e\"\n[login]\nhosts = [\"login.windows.net\"]\n[anchor]\nexpect = [\"127.0.0.2\"]\n[limits]\nfamily = \"4\"\n[entra]\nmode = \"ca\"\n";
        let s = crate::scenario::load_str(
            text,
            std::path::Path::new("e.toml"),
            crate::scenario::Format::Toml,
        )
        .unwrap();
        let plan = Plan::build(&s, &[]);
        assert!(
            plan.checks
                .iter()
                .all(|c| c.kind != CheckKind::EntraNamedLocations)
        );
        let planned = crate::verdict::planned_evidence(&plan);
        let on_443: Vec<Proof> = planned
            .iter()
            .filter(|e| e.port == 443)
            .map(|e| e.proof)
            .collect();
        assert_eq!(on_443, [Proof::EntraCa]);
    }

    #[test]
    fn ca_mode_a_token_issued_with_the_policy_shown_to_bite_passes_proven_by_ca() {
        let e = seen(HOSTS[1], TokenOutcome::Issued, SignInLog::NotAsked);
        let with_policy = Expectation {
            entra_mode: EntraMode::Ca,
            ca_policy: Some(control()),
            ..exp(true)
        };
        assert_eq!(proof(&e, &with_policy), Proof::EntraCa);
        let o = judge_with(e, true, EntraMode::Ca, Some(control()));
        assert_eq!(o.status, Status::Pass, "{}", o.reason);
        assert!(
            o.reason.contains("vantage `outside`") && o.reason.contains("AADSTS53003"),
            "the pass names what showed the policy: {}",
            o.reason
        );
        assert!(o.observed.contains("mode ca"), "{}", o.observed);
    }

    /// Without a policy every token is issued: a token alone proves nothing about the IP
    /// Entra saw, so it is an error (exit 3), never a pass, and never claims a trusted location.
    #[test]
    fn ca_mode_a_token_issued_with_the_policy_unverified_is_an_error_never_a_pass() {
        let e = seen(HOSTS[1], TokenOutcome::Issued, SignInLog::NotAsked);
        let unverified = Expectation {
            entra_mode: EntraMode::Ca,
            ..exp(true)
        };
        assert_eq!(proof(&e, &unverified), Proof::EntraCaUnverified);
        assert!(super::unverified(&e, &unverified));
        let o = judge_in(e, true, EntraMode::Ca);
        assert_eq!(o.status, Status::Error, "{}", o.reason);
        assert!(
            o.reason.contains("token through login.windows.net"),
            "{}",
            o.reason
        );
        assert!(o.reason.contains("policy unverified"), "{}", o.reason);
        assert!(
            !o.reason.contains("trusted location") || o.reason.contains("outside the trusted"),
            "no claim that Entra saw a trusted location: {}",
            o.reason
        );
        let d = o.diagnosis.expect("a diagnosis");
        assert_eq!(d.guide_step, GuideStep::CaPolicy);
        // Both mode, log not read yet: the same.
        let e = seen(HOSTS[1], TokenOutcome::Issued, SignInLog::NotAsked);
        let o = judge_in(e, true, EntraMode::Both);
        assert_eq!(o.status, Status::Error, "{}", o.reason);
    }

    #[test]
    fn a_refused_token_outside_the_trusted_locations_is_the_control_and_inside_it_is_not() {
        let refused = Observation::Entra(Box::new(seen(HOSTS[0], blocked(), SignInLog::NotAsked)));
        let issued = Observation::Entra(Box::new(seen(
            HOSTS[0],
            TokenOutcome::Issued,
            SignInLog::NotAsked,
        )));
        assert_eq!(
            ca_control("outside", std::slice::from_ref(&refused), &exp(false)),
            Some(control())
        );
        assert_eq!(
            ca_control("office", std::slice::from_ref(&refused), &exp(true)),
            None
        );
        assert_eq!(
            ca_control("outside", std::slice::from_ref(&issued), &exp(false)),
            None
        );
    }

    #[test]
    fn ca_mode_a_blocked_token_fails_naming_the_host_and_the_policy() {
        let o = judge_in(
            seen(HOSTS[1], blocked(), SignInLog::NotAsked),
            true,
            EntraMode::Ca,
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o.reason.contains("login.windows.net"), "{}", o.reason);
        assert!(o.reason.contains("policy pol-1"), "{}", o.reason);
        assert!(o.reason.contains("not in a trusted named location"));
        assert_eq!(o.diagnosis.unwrap().guide_step, GuideStep::SegmentDomains);
    }

    #[test]
    fn ca_mode_outside_the_trusted_locations_a_block_is_the_pass() {
        let o = judge_in(
            seen(HOSTS[0], blocked(), SignInLog::NotAsked),
            false,
            EntraMode::Ca,
        );
        assert_eq!(o.status, Status::Pass, "{}", o.reason);
        let o = judge_in(
            seen(HOSTS[0], TokenOutcome::Issued, SignInLog::NotAsked),
            false,
            EntraMode::Ca,
        );
        assert_eq!(o.status, Status::Fail, "{}", o.reason);
        assert_eq!(o.diagnosis.unwrap().guide_step, GuideStep::TrustCriteria);
    }

    #[test]
    fn ca_mode_another_aadsts_code_is_an_error_with_its_meaning() {
        let rejected = TokenOutcome::Rejected {
            code: Some(7000215),
            known: crate::observation::entra::Rejection::from_code(7000215),
            meaning: crate::observation::entra::Rejection::InvalidClientSecret
                .meaning()
                .into(),
        };
        let o = judge_in(
            seen(HOSTS[0], rejected, SignInLog::NotAsked),
            true,
            EntraMode::Ca,
        );
        assert_eq!(o.status, Status::Error);
        assert!(o.reason.contains("invalid client secret"), "{}", o.reason);
        assert_eq!(o.diagnosis.unwrap().guide_step, GuideStep::EntraApp);
    }

    #[test]
    fn both_mode_ca_decides_while_the_log_is_pending_and_the_log_must_agree() {
        let pending = SignInLog::Looked {
            lookup: SignInLookup::NotYetIngested {
                waited: Duration::ZERO,
            },
        };
        // Decided by the token answer only with the policy shown to bite.
        let o = judge_with(
            seen(HOSTS[0], TokenOutcome::Issued, pending.clone()),
            true,
            EntraMode::Both,
            Some(control()),
        );
        assert_eq!(o.status, Status::Pass, "{}", o.reason);
        assert!(
            o.observed.contains("not in the sign-in log"),
            "{}",
            o.observed
        );
        let o = judge_in(
            seen(HOSTS[0], TokenOutcome::Issued, pending),
            true,
            EntraMode::Both,
        );
        assert_eq!(o.status, Status::Error, "{}", o.reason);
        // A record outside the anchor set fails, whatever the token answer.
        let o = judge_in(
            seen(HOSTS[0], TokenOutcome::Issued, found("127.0.0.3")),
            true,
            EntraMode::Both,
        );
        assert_eq!(o.status, Status::Fail, "{}", o.reason);
        // In log mode the pending log stays an error.
        let pending = SignInLog::Looked {
            lookup: SignInLookup::NotYetIngested {
                waited: Duration::ZERO,
            },
        };
        let o = judge_in(
            seen(HOSTS[0], TokenOutcome::Issued, pending),
            true,
            EntraMode::Log,
        );
        assert_eq!(o.status, Status::Error);
    }

    #[test]
    fn not_ingested_is_an_error_never_a_pass() {
        let log = SignInLog::Looked {
            lookup: SignInLookup::NotYetIngested {
                waited: Duration::from_secs(20 * 60),
            },
        };
        let o = judge_one(seen(HOSTS[0], TokenOutcome::Issued, log), true);
        assert_eq!(o.status, Status::Error);
        assert_eq!(
            o.reason,
            "not in the sign-in log after 20m: ingestion can take 5-30 min"
        );
        assert_eq!(o.diagnosis.unwrap().guide_step, GuideStep::SignInLog);
    }

    #[test]
    fn graph_errors_are_errors_naming_the_fix() {
        let log = |error| SignInLog::Looked {
            lookup: SignInLookup::Failed { error },
        };
        let forbidden = GraphError::Forbidden {
            url: "https://graph/x".into(),
            code: "Authorization_RequestDenied".into(),
        };
        let o = judge_one(seen(HOSTS[0], TokenOutcome::Issued, log(forbidden)), true);
        assert_eq!(o.status, Status::Error);
        assert!(o.reason.contains("403"), "{}", o.reason);
        let d = o.diagnosis.unwrap();
        assert!(
            d.likely_cause.contains("AuditLog.Read.All"),
            "{}",
            d.likely_cause
        );
        assert_eq!(d.guide_step, GuideStep::EntraApp);
        // A refused Graph token names why, before any permission.
        let refused = |refusal| GraphError::Token {
            url: "https://login/t/oauth2/v2.0/token".into(),
            refusal,
            meaning: "invalid client secret".into(),
        };
        let o = judge_one(
            seen(
                HOSTS[0],
                TokenOutcome::Issued,
                log(refused(TokenRefusal::Credentials {
                    code: Some(7000215),
                })),
            ),
            true,
        );
        let d = o.diagnosis.unwrap();
        assert!(
            d.likely_cause
                .contains("refused the probe app's Graph token")
                && !d.likely_cause.contains("Read.All"),
            "{}",
            d.likely_cause
        );
        assert_eq!(d.guide_step, GuideStep::EntraApp);
        let o = judge_one(
            seen(
                HOSTS[0],
                TokenOutcome::Issued,
                log(refused(TokenRefusal::ConditionalAccess {
                    policy_ids: vec!["pol-1".into()],
                })),
            ),
            true,
        );
        let d = o.diagnosis.unwrap();
        assert!(
            d.likely_cause.starts_with("Conditional Access refused")
                && d.likely_cause.contains("pol-1"),
            "{}",
            d.likely_cause
        );
        assert_eq!(d.guide_step, GuideStep::GraphRoute);
        let unauthorized = GraphError::Unauthorized {
            url: "https://graph/x".into(),
            code: "InvalidAuthenticationToken".into(),
        };
        let o = judge_one(
            seen(HOSTS[0], TokenOutcome::Issued, log(unauthorized)),
            true,
        );
        assert_eq!(o.status, Status::Error);
        assert!(
            o.diagnosis
                .unwrap()
                .likely_cause
                .contains("AuditLog.Read.All")
        );
        let throttled = GraphError::Throttled {
            url: "https://graph/x".into(),
            answers: 4,
            waited: Duration::from_secs(3),
        };
        let o = judge_one(seen(HOSTS[0], TokenOutcome::Issued, log(throttled)), true);
        assert_eq!(o.status, Status::Error);
        assert!(o.reason.contains("throttled"), "{}", o.reason);
    }

    #[test]
    fn token_trouble_is_an_error_and_is_never_looked_up() {
        for outcome in [
            TokenOutcome::NotSent {
                why: "the chain is not trusted".into(),
            },
            TokenOutcome::Timeout {
                after: Duration::from_secs(3),
            },
            TokenOutcome::Failed {
                causes: vec!["connection reset".into()],
            },
            TokenOutcome::NotJson {
                status: 403,
                content_type: Some("text/html".into()),
                excerpt: "blocked".into(),
            },
            TokenOutcome::Rejected {
                code: Some(7000215),
                known: None,
                meaning: "invalid client secret".into(),
            },
        ] {
            let e = seen(HOSTS[0], outcome.clone(), SignInLog::NotAsked);
            assert!(!e.signed_in(), "{outcome:?} is looked up");
            let o = judge_one(e, true);
            assert_eq!(o.status, Status::Error, "{outcome:?}");
            assert!(o.diagnosis.is_some(), "{outcome:?}");
        }
    }

    #[test]
    fn a_conditional_access_block_fails_from_an_anchored_vantage() {
        let blocked = || TokenOutcome::Blocked {
            policy_ids: vec!["c0a1".into()],
        };
        // Even when the log has nothing yet: the block itself says "not a trusted IP".
        let pending = SignInLog::Looked {
            lookup: SignInLookup::NotYetIngested {
                waited: Duration::ZERO,
            },
        };
        let o = judge_one(seen(HOSTS[2], blocked(), pending), true);
        assert_eq!(o.status, Status::Fail);
        assert!(o.reason.contains("c0a1"), "{}", o.reason);
        assert_eq!(
            proof(&seen(HOSTS[2], blocked(), SignInLog::NotAsked), &exp(true)),
            Proof::EntraCa
        );
        // The anchor IP logged, and still blocked: the named location.
        let o = judge_one(seen(HOSTS[2], blocked(), found("127.0.0.2")), true);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(o.diagnosis.unwrap().guide_step, GuideStep::TrustedLocation);
    }

    #[test]
    fn a_run_cut_before_the_log_was_read_is_an_error() {
        let log = SignInLog::Cut {
            by: crate::observation::Cut::Interrupted,
        };
        let o = judge_one(seen(HOSTS[0], TokenOutcome::Issued, log), true);
        assert_eq!(o.status, Status::Error);
    }

    #[test]
    fn every_host_outside_the_anchor_set_points_at_the_forwarding_rule() {
        let plan = plan();
        let observations: Vec<Observation> = plan
            .checks
            .iter()
            .map(|c| match c.kind {
                CheckKind::EntraSignIn => Observation::Entra(Box::new(seen(
                    &c.host,
                    TokenOutcome::Issued,
                    found("127.0.0.3"),
                ))),
                _ => Observation::NotRun(crate::observation::NotRun::NoObserver),
            })
            .collect();
        // Judged alone, so the path checks before them do not skip them.
        let mut outcomes: Vec<Outcome> = plan
            .checks
            .iter()
            .zip(&observations)
            .map(|(c, obs)| crate::verdict::judge_check(c, obs, &exp(true)))
            .collect();
        cross_check(&plan, &mut outcomes, &exp(true));
        for (c, o) in plan.checks.iter().zip(&outcomes) {
            if c.kind == CheckKind::EntraSignIn {
                assert_eq!(o.status, Status::Fail);
                assert_eq!(
                    o.diagnosis.as_ref().unwrap().guide_step,
                    GuideStep::ForwardingRule
                );
            }
        }
    }

    fn named(anchors: Vec<(&str, AnchorCoverage)>) -> NamedLocationsObservation {
        NamedLocationsObservation::Read {
            locations: vec![crate::observation::entra::NamedLocation {
                id: "l1".into(),
                display_name: "SIPA App Connectors".into(),
                is_trusted: true,
                ranges: vec!["127.0.0.9/32".parse().unwrap()],
            }],
            anchors: anchors
                .into_iter()
                .map(|(a, coverage)| crate::observation::AnchorInLocations {
                    anchor: a.parse().unwrap(),
                    coverage,
                })
                .collect(),
        }
    }

    fn judge_named(n: NamedLocationsObservation) -> Outcome {
        let plan = plan();
        let check = plan
            .checks
            .iter()
            .find(|c| c.kind == CheckKind::EntraNamedLocations)
            .unwrap();
        assert_eq!(check.name, "graph.microsoft.com entra named locations");
        crate::verdict::judge_check(check, &Observation::NamedLocations(Box::new(n)), &exp(true))
    }

    #[test]
    fn anchors_in_a_trusted_named_location_pass_and_others_fail_naming_it() {
        let o = judge_named(named(vec![(
            "127.0.0.2/32",
            AnchorCoverage::Trusted {
                location: "SIPA App Connectors".into(),
            },
        )]));
        assert_eq!(o.status, Status::Pass, "{}", o.reason);
        let o = judge_named(named(vec![("127.0.0.2/32", AnchorCoverage::NotCovered)]));
        assert_eq!(o.status, Status::Fail);
        assert!(o.reason.contains("127.0.0.2 "), "{}", o.reason);
        assert!(o.reason.contains("SIPA App Connectors"), "{}", o.reason);
        let d = o.diagnosis.unwrap();
        assert_eq!(d.guide_step, GuideStep::TrustedLocation);
        assert!(d.likely_cause.contains("named location"));
        let o = judge_named(named(vec![(
            "127.0.0.2/32",
            AnchorCoverage::OnlyUntrusted {
                locations: vec!["Branches".into()],
            },
        )]));
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.observed.contains("only in untrusted Branches"),
            "{}",
            o.observed
        );
    }

    #[test]
    fn unreadable_named_locations_are_errors() {
        let o = judge_named(NamedLocationsObservation::Failed {
            error: GraphError::Forbidden {
                url: "https://graph/x".into(),
                code: "Authorization_RequestDenied".into(),
            },
        });
        assert_eq!(o.status, Status::Error);
        assert!(
            o.diagnosis
                .unwrap()
                .likely_cause
                .contains("Policy.Read.All")
        );
        for n in [
            NamedLocationsObservation::NotAsked,
            NamedLocationsObservation::Cut {
                by: crate::observation::Cut::Terminated,
            },
        ] {
            assert_eq!(judge_named(n).status, Status::Error);
        }
    }
}
