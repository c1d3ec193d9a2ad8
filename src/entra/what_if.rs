//! Conditional Access What If in a run: which addresses to evaluate (each anchor, and the
//! control's observed egress IP or the configured one), the probe app as the subject (its app
//! id, as Microsoft documents the `servicePrincipalSignIn` subject; its service principal's
//! object id only for the older request shapes), and Graph asked for each, at most two at
//! once. The verdict compares the answers; this module only gathers them.

use std::net::IpAddr;

use ipnet::IpNet;

use super::graph::{GraphClient, GraphError, WhatIfSubject};
use crate::observation::{
    DocumentedRefused, Observation, SubjectSource, WhatIfAnswer, WhatIfObservation, WhatIfQuestion,
    WhatIfSide, WhatIfSource, WhatIfTarget,
};
use crate::scenario::model::{AnchorSet, EntraSpec, ObserverRole};

/// The address What If evaluates for an anchor: the anchor itself when it is one address;
/// for a range, its first address after the network address (`198.51.100.1` for
/// `198.51.100.0/29`), or the network address of a /31, /32, /127 or /128.
pub fn representative(anchor: &IpNet) -> IpAddr {
    let network = anchor.network();
    if anchor.max_prefix_len() - anchor.prefix_len() < 2 {
        return network;
    }
    match network {
        IpAddr::V4(v4) => IpAddr::from(u32::from(v4).wrapping_add(1).to_be_bytes()),
        IpAddr::V6(v6) => IpAddr::from(u128::from(v6).wrapping_add(1).to_be_bytes()),
    }
}

/// The non-anchor addresses to compare with: every distinct egress IP the control observers
/// revealed outside the anchor set, in plan order; when there is none, `configured`; else why
/// there is none.
pub fn control_ips(
    observations: &[Observation],
    anchors: &AnchorSet,
    configured: Option<IpAddr>,
) -> Result<Vec<(IpAddr, WhatIfSource)>, WhatIfObservation> {
    let mut found: Vec<(IpAddr, WhatIfSource)> = Vec::new();
    let mut observers: Vec<String> = Vec::new();
    let mut inside: Vec<IpAddr> = Vec::new();
    for obs in observations {
        let Observation::Egress(e) = obs else {
            continue;
        };
        if e.role != ObserverRole::Control {
            continue;
        }
        if !observers.contains(&e.observer) {
            observers.push(e.observer.clone());
        }
        for ip in e.ips() {
            if anchors.contains(ip) {
                if !inside.contains(&ip) {
                    inside.push(ip);
                }
            } else if !found.iter().any(|(seen, _)| *seen == ip) {
                found.push((
                    ip,
                    WhatIfSource::Control {
                        observer: e.observer.clone(),
                    },
                ));
            }
        }
    }
    if !found.is_empty() {
        return Ok(found);
    }
    match configured {
        Some(ip) => Ok(vec![(ip, WhatIfSource::Configured)]),
        None => Err(WhatIfObservation::NoControlIp {
            observers,
            inside_anchor_set: inside,
        }),
    }
}

/// What the run asks What If: a sign-in to the scenario's resource from each anchor (a range
/// at its [`representative`] address) and each control IP; or why there is no control IP.
pub fn question(
    spec: &EntraSpec,
    anchors: &AnchorSet,
    observations: &[Observation],
) -> Result<WhatIfQuestion, WhatIfObservation> {
    let controls = control_ips(observations, anchors, spec.what_if_control_ip)?;
    Ok(WhatIfQuestion {
        resource_app_id: spec.resource_app_id().to_owned(),
        anchors: anchors
            .0
            .iter()
            .map(|a| WhatIfTarget {
                ip: representative(a),
                source: WhatIfSource::Anchor { anchor: *a },
            })
            .collect(),
        controls: controls
            .into_iter()
            .map(|(ip, source)| WhatIfTarget { ip, source })
            .collect(),
    })
}

/// Asks What If for a sign-in of the probe app from each anchor and each control IP, with
/// the documented subject (the app id `client_id`) first. Should What If refuse it, the older
/// shapes need the service principal's object id: the scenario's
/// `what_if_service_principal_id`, else the one Graph names for `client_id`, else the
/// `servicePrincipalId` of the run's own sign-ins in Entra's log (`logged`, awaited only
/// then).
pub async fn ask(
    client: &GraphClient,
    spec: &EntraSpec,
    client_id: &str,
    anchors: &AnchorSet,
    observations: &[Observation],
    logged: impl std::future::Future<Output = Option<String>>,
) -> WhatIfObservation {
    let question = match question(spec, anchors, observations) {
        Ok(question) => question,
        Err(missing) => return missing,
    };
    let known = spec
        .what_if_service_principal_id
        .clone()
        .map(|id| (id, SubjectSource::Scenario));
    let find = async {
        match client.service_principal_id(client_id).await {
            Ok(id) => Ok((id, SubjectSource::Graph)),
            Err(error) => match logged.await {
                Some(id) => Ok((id, SubjectSource::SignInLog)),
                None => Err(error),
            },
        }
    };
    ask_question(client, &question, client_id, known, find).await
}

/// Asks `question` for the app `client_id`: the documented request for every address; when
/// What If refuses it and no object id is `known`, `find` names the service principal's
/// object id for the older shapes and every address is asked again with it. Without one,
/// [`WhatIfObservation::NoSubject`] keeps the question for a later `complete`.
pub async fn ask_question(
    client: &GraphClient,
    question: &WhatIfQuestion,
    client_id: &str,
    known: Option<(String, SubjectSource)>,
    find: impl std::future::Future<Output = Result<(String, SubjectSource), GraphError>>,
) -> WhatIfObservation {
    let mut subject = WhatIfSubject {
        app_id: client_id.to_owned(),
        object_id: known.as_ref().map(|(id, _)| id.clone()),
        resource_app_id: question.resource_app_id.clone(),
    };
    let mut object_from = known.map(|(_, from)| from);
    let mut ips: Vec<IpAddr> = Vec::new();
    for target in question.anchors.iter().chain(&question.controls) {
        if !ips.contains(&target.ip) {
            ips.push(target.ip);
        }
    }
    let mut answers = client.what_if_each(&subject, &ips).await;
    let refused = answers.iter().find_map(|(_, answer)| match answer {
        Err(GraphError::WhatIfUnavailable { refusals }) => Some(refusals.clone()),
        _ => None,
    });
    if let (Some(refusals), None) = (refused, &subject.object_id) {
        match find.await {
            Ok((id, from)) => {
                subject.object_id = Some(id);
                object_from = Some(from);
                answers = client.what_if_each(&subject, &ips).await;
            }
            Err(error) => {
                return WhatIfObservation::NoSubject {
                    client_id: client_id.to_owned(),
                    error,
                    refused: Some(Box::new(DocumentedRefused {
                        refusals,
                        question: question.clone(),
                    })),
                };
            }
        }
    }
    let side = |target: &WhatIfTarget| {
        let answer = match answers.iter().find(|(asked, _)| *asked == target.ip) {
            Some((_, Ok((asked, policies)))) => WhatIfAnswer::Policies {
                asked: *asked,
                policies: policies.clone(),
            },
            Some((_, Err(error))) => WhatIfAnswer::Failed {
                error: error.clone(),
            },
            None => WhatIfAnswer::Failed {
                error: GraphError::Setup(format!("{} was not evaluated", target.ip)),
            },
        };
        WhatIfSide {
            ip: target.ip,
            source: target.source.clone(),
            answer,
        }
    };
    let answered_by = answers.iter().find_map(|(_, answer)| match answer {
        Ok((asked, _)) => Some(*asked),
        Err(_) => None,
    });
    let (service_principal_id, subject_from) = match (answered_by, &subject.object_id, object_from)
    {
        (Some(asked), Some(object_id), Some(from)) if !asked.documented() => {
            (object_id.clone(), from)
        }
        _ => (subject.app_id.clone(), SubjectSource::ClientId),
    };
    WhatIfObservation::Evaluated {
        service_principal_id,
        subject_from,
        resource_app_id: subject.resource_app_id.clone(),
        anchors: question.anchors.iter().map(side).collect(),
        controls: question.controls.iter().map(side).collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::observation::{EgressObservation, EgressSample, SampleOutcome};

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn a_range_is_represented_by_its_first_host() {
        assert_eq!(representative(&net("203.0.113.10/32")), ip("203.0.113.10"));
        assert_eq!(representative(&net("198.51.100.0/29")), ip("198.51.100.1"));
        assert_eq!(representative(&net("198.51.100.4/31")), ip("198.51.100.4"));
        assert_eq!(representative(&net("2001:db8::/64")), ip("2001:db8::1"));
        assert_eq!(representative(&net("2001:db8::5/128")), ip("2001:db8::5"));
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn egress(observer: &str, role: ObserverRole, ips: &[&str]) -> Observation {
        Observation::Egress(EgressObservation {
            observer: observer.into(),
            role,
            url: format!("https://{observer}/ip"),
            via: "127.0.0.1:443".into(),
            samples: ips
                .iter()
                .map(|s| EgressSample {
                    outcome: SampleOutcome::Ip { ip: ip(s) },
                    elapsed: Duration::from_millis(1),
                })
                .chain([EgressSample {
                    outcome: SampleOutcome::Timeout,
                    elapsed: Duration::from_secs(1),
                }])
                .collect(),
        })
    }

    #[test]
    fn the_control_ips_are_the_distinct_ones_outside_the_anchor_set() {
        let anchors = AnchorSet(vec![net("127.0.0.2/32")]);
        let observations = [
            egress("canary", ObserverRole::Anchored, &["127.0.0.2"]),
            egress(
                "control-80",
                ObserverRole::Control,
                &["127.0.0.3", "127.0.0.3"],
            ),
            egress(
                "control-443",
                ObserverRole::Control,
                &["127.0.0.3", "127.0.0.5"],
            ),
        ];
        let found = control_ips(&observations, &anchors, Some(ip("127.0.0.9"))).unwrap();
        assert_eq!(
            found,
            vec![
                (
                    ip("127.0.0.3"),
                    WhatIfSource::Control {
                        observer: "control-80".into()
                    }
                ),
                (
                    ip("127.0.0.5"),
                    WhatIfSource::Control {
                        observer: "control-443".into()
                    }
                ),
            ]
        );
    }

    #[test]
    fn the_question_holds_each_anchor_and_control_with_the_resource() {
        let mut spec = crate::scenario::bundled_lab_entra()
            .entra
            .expect("the lab scenario has [entra]");
        spec.what_if_resource_app_id = Some("00000002-0000-0ff1-ce00-000000000000".into());
        let anchors = AnchorSet(vec![net("127.0.0.2/32"), net("198.51.100.0/29")]);
        let observations = [egress("control", ObserverRole::Control, &["127.0.0.3"])];
        let q = question(&spec, &anchors, &observations).unwrap();
        assert_eq!(q.resource_app_id, "00000002-0000-0ff1-ce00-000000000000");
        let ips: Vec<IpAddr> = q.anchors.iter().map(|t| t.ip).collect();
        assert_eq!(ips, [ip("127.0.0.2"), ip("198.51.100.1")]);
        assert_eq!(
            q.anchors[1].source,
            WhatIfSource::Anchor {
                anchor: net("198.51.100.0/29")
            }
        );
        assert_eq!(q.controls.len(), 1);
        assert_eq!(q.controls[0].ip, ip("127.0.0.3"));
        // It reads back as written, for `complete`.
        let json = serde_json::to_string(&q).unwrap();
        let back: WhatIfQuestion = serde_json::from_str(&json).unwrap();
        assert_eq!(back, q);
        spec.what_if_control_ip = None;
        assert!(matches!(
            question(&spec, &anchors, &[]),
            Err(WhatIfObservation::NoControlIp { .. })
        ));
    }

    #[test]
    fn without_a_control_ip_the_configured_one_or_what_is_missing() {
        let anchors = AnchorSet(vec![net("127.0.0.2/32")]);
        // Over-anchored: the control came out of the anchor.
        let observations = [egress("control", ObserverRole::Control, &["127.0.0.2"])];
        assert_eq!(
            control_ips(&observations, &anchors, Some(ip("198.51.100.7"))).unwrap(),
            vec![(ip("198.51.100.7"), WhatIfSource::Configured)]
        );
        assert_eq!(
            control_ips(&observations, &anchors, None).unwrap_err(),
            WhatIfObservation::NoControlIp {
                observers: vec!["control".into()],
                inside_anchor_set: vec![ip("127.0.0.2")],
            }
        );
        assert_eq!(
            control_ips(&[], &anchors, None).unwrap_err(),
            WhatIfObservation::NoControlIp {
                observers: vec![],
                inside_anchor_set: vec![],
            }
        );
    }
}
