//! Conditional Access What If in a run: which addresses to evaluate (each anchor, and the
//! control's observed egress IP or the configured one), the probe app's service principal as
//! the subject, and Graph asked for each, at most two at once. The verdict compares the
//! answers; this module only gathers them.

use std::net::IpAddr;

use ipnet::IpNet;

use super::{GraphClient, WhatIfSubject};
use crate::observation::{
    Observation, SubjectSource, WhatIfAnswer, WhatIfObservation, WhatIfSide, WhatIfSource,
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

/// Asks What If for a sign-in of the probe app from each anchor and each control IP. The
/// subject is the scenario's service principal id, else the one Graph names for `client_id`,
/// else the `servicePrincipalId` of the run's own sign-ins in Entra's log (`logged`, awaited
/// only then).
pub async fn ask(
    client: &GraphClient,
    spec: &EntraSpec,
    client_id: &str,
    anchors: &AnchorSet,
    observations: &[Observation],
    logged: impl std::future::Future<Output = Option<String>>,
) -> WhatIfObservation {
    let controls = match control_ips(observations, anchors, spec.what_if_control_ip) {
        Ok(controls) => controls,
        Err(missing) => return missing,
    };
    let (service_principal_id, subject_from) = match &spec.what_if_service_principal_id {
        Some(id) => (id.clone(), SubjectSource::Scenario),
        None => match client.service_principal_id(client_id).await {
            Ok(id) => (id, SubjectSource::Graph),
            Err(error) => match logged.await {
                Some(id) => (id, SubjectSource::SignInLog),
                None => {
                    return WhatIfObservation::NoSubject {
                        client_id: client_id.to_owned(),
                        error,
                    };
                }
            },
        },
    };
    let subject = WhatIfSubject {
        service_principal_id,
        resource_app_id: spec.resource_app_id().to_owned(),
    };
    let anchor_ips: Vec<(IpAddr, WhatIfSource)> = anchors
        .0
        .iter()
        .map(|a| (representative(a), WhatIfSource::Anchor { anchor: *a }))
        .collect();
    let mut ips: Vec<IpAddr> = Vec::new();
    for (ip, _) in anchor_ips.iter().chain(&controls) {
        if !ips.contains(ip) {
            ips.push(*ip);
        }
    }
    let answers = client.what_if_each(&subject, &ips).await;
    let side = |(ip, source): (IpAddr, WhatIfSource)| {
        let answer = match answers.iter().find(|(asked, _)| *asked == ip) {
            Some((_, Ok(policies))) => WhatIfAnswer::Policies {
                policies: policies.clone(),
            },
            Some((_, Err(error))) => WhatIfAnswer::Failed {
                error: error.clone(),
            },
            None => WhatIfAnswer::Failed {
                error: super::GraphError::Setup(format!("{ip} was not evaluated")),
            },
        };
        WhatIfSide { ip, source, answer }
    };
    WhatIfObservation::Evaluated {
        service_principal_id: subject.service_principal_id.clone(),
        subject_from,
        resource_app_id: subject.resource_app_id.clone(),
        anchors: anchor_ips.into_iter().map(side).collect(),
        controls: controls.into_iter().map(side).collect(),
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
