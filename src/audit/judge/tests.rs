//! The judge on canned tenants: the good chain passes, each fault shape fails at its link.

use super::*;
use crate::guide::GuideStep;
use crate::outcome::Status;
use crate::scenario::model::AnchorSet;

const SEG: &str = "216196257331404639";
const SEG_GROUP: &str = "216196257331404637";
const SERVER_GROUP: &str = "216196257331404638";
const CONNECTOR_GROUP: &str = "216196257331404636";

fn r(id: &str, name: &str) -> ObjRef {
    ObjRef {
        id: id.into(),
        name: name.into(),
    }
}

fn operand(t: ObjectType, rhs: &str) -> Operand {
    Operand {
        object_type: t,
        rhs: rhs.into(),
    }
}

fn cond(negated: bool, operands: Vec<Operand>) -> Condition {
    Condition {
        operator: Operator::Or,
        negated,
        operands,
    }
}

fn rule(id: &str, order: i64, action: RuleAction, conditions: Vec<Condition>) -> PolicyRule {
    PolicyRule {
        id: id.into(),
        name: format!("rule-{id}"),
        order,
        disabled: false,
        action,
        operator: Operator::And,
        conditions,
        default_rule: false,
        connector_groups: vec![],
        missing: vec![],
    }
}

fn app() -> Condition {
    cond(false, vec![operand(ObjectType::App, SEG)])
}

fn client(t: &str) -> Condition {
    cond(false, vec![operand(ObjectType::ClientType, t)])
}

fn good() -> Tenant {
    let segment = Segment {
        id: SEG.into(),
        name: "O365 SIPA".into(),
        enabled: true,
        ip_anchored: true,
        domains: crate::scenario::cloud::Cloud::public().login_hosts(),
        tcp_ports: vec![
            PortRange { from: 80, to: 80 },
            PortRange { from: 443, to: 443 },
        ],
        segment_group_id: Some(SEG_GROUP.into()),
        server_groups: vec![r(SERVER_GROUP, "SIPA servers")],
        bypass_type: Some("NEVER".into()),
        double_encrypt: false,
        missing: vec![],
    };
    let mut default_fwd = rule("9", 99, RuleAction::Intercept, vec![]);
    default_fwd.default_rule = true;
    Tenant {
        zpa: Ok(ZpaConfig {
            segments: vec![segment],
            segment_groups: vec![SegmentGroup {
                id: SEG_GROUP.into(),
                name: "O365".into(),
                enabled: true,
            }],
            server_groups: vec![ServerGroup {
                id: SERVER_GROUP.into(),
                name: "SIPA servers".into(),
                enabled: true,
                connector_groups: vec![r(CONNECTOR_GROUP, "SIPA connectors")],
            }],
            connector_groups: vec![ConnectorGroup {
                id: CONNECTOR_GROUP.into(),
                name: "SIPA connectors".into(),
                enabled: true,
            }],
            connectors: vec![Connector {
                id: "216196257331404700".into(),
                name: "ac-1".into(),
                enabled: true,
                group_id: CONNECTOR_GROUP.into(),
                public_ip: Some("127.0.0.2".into()),
                private_ip: Some("10.0.0.5".into()),
                control_channel: ChannelStatus::Authenticated,
            }],
            access_rules: vec![rule(
                "1",
                1,
                RuleAction::Allow,
                vec![app(), client(CLIENT_TYPE_SIPA)],
            )],
            forwarding_rules: vec![
                rule("2", 1, RuleAction::InterceptAccessible, vec![app()]),
                default_fwd,
            ],
        }),
        zia: Ok(ZiaConfig {
            gateways: vec![
                ZiaGateway {
                    id: "2387145".into(),
                    name: "Auto ZPA Gateway".into(),
                    server_group: Some(ExternalRef {
                        name: "Auto Server Group".into(),
                        external_id: None,
                    }),
                    app_segments: vec![],
                    kind: None,
                    predefined: true,
                },
                ZiaGateway {
                    id: "9727909".into(),
                    name: "SIPA gateway".into(),
                    server_group: Some(ExternalRef {
                        name: "SIPA servers".into(),
                        external_id: Some(SERVER_GROUP.into()),
                    }),
                    app_segments: vec![ExternalRef {
                        name: "O365 SIPA".into(),
                        external_id: Some(SEG.into()),
                    }],
                    kind: Some(GatewayKind::Zpa),
                    predefined: false,
                },
            ],
            forwarding_rules: vec![ZiaForwardingRule {
                id: "77".into(),
                name: "SIPA O365".into(),
                order: 1,
                enabled: true,
                rule_type: RuleType::Forwarding,
                method: ForwardMethod::Zpa,
                gateway: Some(r("9727909", "SIPA gateway")),
                app_segments: vec![ExternalRef {
                    name: "O365 SIPA".into(),
                    external_id: Some(SEG.into()),
                }],
                trust: vec![TrustCriterion {
                    field: "locations".into(),
                    names: vec!["HQ".into()],
                }],
                destinations: vec![],
                predefined: false,
                missing: vec![],
            }],
            activation: Activation::Active,
        }),
    }
}

fn zpa(t: &mut Tenant) -> &mut ZpaConfig {
    t.zpa.as_mut().unwrap()
}

fn zia(t: &mut Tenant) -> &mut ZiaConfig {
    t.zia.as_mut().unwrap()
}

fn req() -> Requirements {
    Requirements {
        anchors: AnchorSet(vec!["127.0.0.2/32".parse().unwrap()]),
        ..Requirements::default()
    }
}

/// The failed checks' names and steps.
fn failures(t: &Tenant) -> Vec<(String, GuideStep)> {
    judge(t, &req())
        .into_iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| (c.name, c.guide_step))
        .collect()
}

fn the_failure(t: &Tenant) -> AuditCheck {
    let failed: Vec<AuditCheck> = judge(t, &req())
        .into_iter()
        .filter(|c| c.status != Status::Pass)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    failed.into_iter().next().unwrap()
}

#[test]
fn the_guides_chain_passes_every_link_without_warnings() {
    let checks = judge(&good(), &req());
    assert!(checks.len() >= 17, "{checks:#?}");
    for c in &checks {
        assert_eq!(c.status, Status::Pass, "{c:#?}");
        assert!(c.warnings.is_empty(), "{c:#?}");
        assert!(!c.fix.is_empty());
    }
    let fwd = checks
        .iter()
        .find(|c| c.name == "segment O365 SIPA: ZIA forwarding rule")
        .unwrap();
    assert!(fwd.found.contains("locations HQ"), "{}", fwd.found);
}

#[test]
fn anchor_off_fails_the_segment_and_every_host() {
    let mut t = good();
    zpa(&mut t).segments[0].ip_anchored = false;
    let f = failures(&t);
    assert!(f.contains(&(
        "segment O365 SIPA: Source IP Anchor".into(),
        GuideStep::SegmentAnchor
    )));
    assert!(f.contains(&(
        "login host login.windows.net: in the anchored segment".into(),
        GuideStep::SegmentDomains
    )));
}

#[test]
fn a_missing_host_names_the_host_the_segment_and_its_domains() {
    let mut t = good();
    zpa(&mut t).segments[0]
        .domains
        .retain(|d| d != "login.windows.net");
    let c = the_failure(&t);
    assert_eq!(
        c.name,
        "login host login.windows.net: in the anchored segment"
    );
    assert_eq!(c.guide_step, GuideStep::SegmentDomains);
    assert_eq!(c.object.as_ref().unwrap().id, SEG);
    assert!(c.found.contains("login.microsoftonline.com"), "{}", c.found);
    assert!(c.fix.contains("O365 SIPA: Applications"));
}

#[test]
fn port_80_missing_in_either_form() {
    let mut t = good();
    zpa(&mut t).segments[0].tcp_ports = vec![PortRange { from: 443, to: 443 }];
    let c = the_failure(&t);
    assert_eq!(c.name, "segment O365 SIPA: TCP port 80");
    assert_eq!(c.guide_step, GuideStep::SegmentPorts);
    // A range covering both passes.
    zpa(&mut t).segments[0].tcp_ports = vec![PortRange { from: 1, to: 1000 }];
    assert!(failures(&t).is_empty());
}

#[test]
fn wildcards_count_and_are_reported() {
    let mut t = good();
    zpa(&mut t).segments[0].domains = vec![
        "*.microsoftonline.com".into(),
        ".windows.net".into(),
        "login.microsoft.com".into(),
    ];
    let checks = judge(&t, &req());
    assert!(checks.iter().all(|c| c.status == Status::Pass));
    let host = checks
        .iter()
        .find(|c| c.name == "login host login.microsoftonline.com: in the anchored segment")
        .unwrap();
    assert!(host.found.contains("wildcard *.microsoftonline.com"));
    assert_eq!(host.warnings.len(), 1);
    assert_eq!(
        coverage(&["*.microsoftonline.com".into()], "microsoftonline.com"),
        Coverage::None
    );
}

#[test]
fn an_unanchored_rival_segment_fails() {
    let mut t = good();
    let mut rival = zpa(&mut t).segments[0].clone();
    rival.id = "5".into();
    rival.name = "All Microsoft".into();
    rival.ip_anchored = false;
    rival.domains = vec!["login.microsoft.com".into()];
    zpa(&mut t).segments.push(rival);
    // Both list the host exactly: which one ZPA picks is not the guide's, so the host fails
    // and so does the rival check, both naming the rival.
    let failed: Vec<AuditCheck> = judge(&t, &req())
        .into_iter()
        .filter(|c| c.status != Status::Pass)
        .collect();
    assert_eq!(failed.len(), 2, "{failed:#?}");
    let host = &failed[0];
    assert_eq!(
        host.name,
        "login host login.microsoft.com: in the anchored segment"
    );
    assert_eq!(host.status, Status::Fail);
    assert_eq!(host.object.as_ref().unwrap().name, "All Microsoft");
    let c = &failed[1];
    assert_eq!(c.guide_step, GuideStep::TooBroad);
    assert!(c.found.contains("All Microsoft"));
}

#[test]
fn bypass_and_double_encryption_fail() {
    let mut t = good();
    zpa(&mut t).segments[0].bypass_type = Some("ALWAYS".into());
    zpa(&mut t).segments[0].double_encrypt = true;
    let f = failures(&t);
    assert_eq!(f.len(), 2, "{f:?}");
}

#[test]
fn forwarding_action_intercept_fails() {
    let mut t = good();
    zpa(&mut t).forwarding_rules[0].action = RuleAction::Intercept;
    let c = the_failure(&t);
    assert_eq!(c.guide_step, GuideStep::ClientForwarding);
    assert!(
        c.found.contains("INTERCEPT (Forward to ZPA)"),
        "{}",
        c.found
    );
    assert_eq!(c.object.unwrap().id, "2");
}

#[test]
fn the_generic_forwarding_shape_passes() {
    let mut t = good();
    zpa(&mut t).forwarding_rules = vec![
        rule(
            "3",
            1,
            RuleAction::Bypass,
            vec![
                cond(false, vec![operand(ObjectType::AppGroup, SEG_GROUP)]),
                client(CLIENT_TYPE_ZAPP),
            ],
        ),
        rule(
            "4",
            2,
            RuleAction::Intercept,
            vec![
                cond(false, vec![operand(ObjectType::AppGroup, SEG_GROUP)]),
                client(CLIENT_TYPE_SIPA),
            ],
        ),
    ];
    let checks = judge(&t, &req());
    let c = checks
        .iter()
        .find(|c| c.name == "segment O365 SIPA: client forwarding policy")
        .unwrap();
    assert_eq!(c.status, Status::Pass, "{c:#?}");
    assert!(c.warnings.is_empty());
    // Without the Client Connector bypass, a warning.
    zpa(&mut t).forwarding_rules.remove(0);
    let checks = judge(&t, &req());
    let c = checks
        .iter()
        .find(|c| c.name == "segment O365 SIPA: client forwarding policy")
        .unwrap();
    assert_eq!(c.status, Status::Pass);
    assert_eq!(c.warnings.len(), 1);
}

#[test]
fn rule_order_and_disabled_rules_as_zpa_evaluates_them() {
    let mut t = good();
    // An earlier BYPASS for the segment wins...
    zpa(&mut t)
        .forwarding_rules
        .push(rule("5", 0, RuleAction::Bypass, vec![app()]));
    assert_eq!(the_failure(&t).object.unwrap().id, "5");
    // ...unless it is disabled.
    zpa(&mut t).forwarding_rules.last_mut().unwrap().disabled = true;
    assert!(failures(&t).is_empty());
    // The default rule comes last whatever its order.
    zpa(&mut t).forwarding_rules[1].order = -1;
    assert!(failures(&t).is_empty());
    // Only the default rule left: INTERCEPT for everything, a failure.
    zpa(&mut t).forwarding_rules.remove(0);
    let c = the_failure(&t);
    assert!(c.found.contains("the default rule"), "{}", c.found);
}

#[test]
fn negated_conditions_are_inverted() {
    let mut t = good();
    // The IP-based shape: DENY every client type but ZIA Service Edge, then ALLOW it.
    zpa(&mut t).access_rules = vec![
        rule(
            "6",
            1,
            RuleAction::Deny,
            vec![
                app(),
                cond(
                    true,
                    vec![operand(ObjectType::ClientType, CLIENT_TYPE_SIPA)],
                ),
            ],
        ),
        rule(
            "7",
            2,
            RuleAction::Allow,
            vec![app(), client(CLIENT_TYPE_SIPA)],
        ),
    ];
    assert!(failures(&t).is_empty());
    // Negating the other way denies ZIA Service Edge.
    zpa(&mut t).access_rules[0].conditions[1].negated = false;
    let c = the_failure(&t);
    assert_eq!(c.object.unwrap().id, "6");
}

#[test]
fn access_for_zia_inspection_is_not_zia_service_edge() {
    let mut t = good();
    zpa(&mut t).access_rules[0].conditions[1] = client(CLIENT_TYPE_ZIA_INSPECTION);
    let c = the_failure(&t);
    assert_eq!(c.guide_step, GuideStep::AccessPolicy);
    assert!(c.found.contains("ZIA Inspection"), "{}", c.found);
    assert!(c.found.contains("ZPA denies by default"), "{}", c.found);
}

#[test]
fn an_access_rule_on_other_attributes_does_not_match_zia_service_edge() {
    let mut t = good();
    zpa(&mut t).access_rules[0].conditions.push(cond(
        false,
        vec![operand(ObjectType::Other("SAML".into()), "x")],
    ));
    assert_eq!(the_failure(&t).guide_step, GuideStep::AccessPolicy);
}

#[test]
fn server_group_on_the_wrong_connector_group() {
    let mut t = good();
    let z = zpa(&mut t);
    z.connector_groups.push(ConnectorGroup {
        id: "8".into(),
        name: "Other connectors".into(),
        enabled: true,
    });
    z.connectors.push(Connector {
        id: "81".into(),
        name: "ac-other".into(),
        enabled: true,
        group_id: "8".into(),
        public_ip: Some("127.0.0.4".into()),
        private_ip: None,
        control_channel: ChannelStatus::Authenticated,
    });
    z.server_groups[0].connector_groups = vec![r("8", "Other connectors")];
    let c = the_failure(&t);
    assert_eq!(
        c.name,
        "server group SIPA servers: App Connector IPs expected"
    );
    assert_eq!(c.guide_step, GuideStep::ServerGroup);
    assert!(c.found.contains("127.0.0.4"));
}

#[test]
fn a_disconnected_connector_fails_and_one_of_two_warns() {
    let mut t = good();
    zpa(&mut t).connectors[0].control_channel = ChannelStatus::Disconnected;
    let f = failures(&t);
    assert!(f.contains(&(
        "server group SIPA servers: App Connectors connected".into(),
        GuideStep::AppConnectors
    )));
    let mut second = zpa(&mut t).connectors[0].clone();
    second.id = "2".into();
    second.control_channel = ChannelStatus::Authenticated;
    zpa(&mut t).connectors.push(second);
    let checks = judge(&t, &req());
    assert!(checks.iter().all(|c| c.status == Status::Pass));
    assert_eq!(checks.iter().map(|c| c.warnings.len()).sum::<usize>(), 1);
}

#[test]
fn zia_gateway_on_another_server_group() {
    let mut t = good();
    zia(&mut t).gateways[1].server_group = Some(ExternalRef {
        name: "Other".into(),
        external_id: Some("216196257331370169".into()),
    });
    let f = failures(&t);
    assert!(f.contains(&(
        "ZIA ZPA gateway: server group".into(),
        GuideStep::ZpaGateway
    )));
    // And the forwarding rule then forwards to a gateway that is not the segment's.
    assert!(f.contains(&(
        "segment O365 SIPA: ZIA forwarding rule".into(),
        GuideStep::ForwardingRule
    )));
}

#[test]
fn predefined_gateways_and_rules_are_ignored() {
    let mut t = good();
    // Only predefined ones: the chain has no gateway and no rule.
    zia(&mut t).gateways.remove(1);
    zia(&mut t).forwarding_rules = vec![ZiaForwardingRule {
        id: "752922".into(),
        name: "ZIA Inspected ZPA Apps".into(),
        order: -4,
        enabled: true,
        rule_type: RuleType::Forwarding,
        method: ForwardMethod::Zpa,
        gateway: Some(r("2387145", "Auto ZPA Gateway")),
        app_segments: vec![ExternalRef {
            name: "O365 SIPA".into(),
            external_id: Some(SEG.into()),
        }],
        trust: vec![],
        destinations: vec![],
        predefined: true,
        missing: vec![],
    }];
    let f = failures(&t);
    assert_eq!(f.len(), 2, "{f:?}");
}

#[test]
fn a_disabled_forwarding_rule_fails_by_name() {
    let mut t = good();
    zia(&mut t).forwarding_rules[0].enabled = false;
    let c = the_failure(&t);
    assert!(
        c.found.contains("SIPA O365 (id 77, order 1) is DISABLED"),
        "{}",
        c.found
    );
    assert_eq!(c.guide_step, GuideStep::ForwardingRule);
}

#[test]
fn pending_activation_makes_the_zia_links_inconclusive_not_a_pass() {
    let mut t = good();
    zia(&mut t).activation = Activation::Pending;
    let checks = judge(&t, &req());
    let c = named(&checks, "ZIA activation");
    assert_eq!(c.status, Status::Error, "{c:#?}");
    assert_eq!(c.guide_step, GuideStep::ZiaActivation);
    assert!(c.found.contains("PENDING"), "{}", c.found);
    assert!(c.found.contains("not activated"), "{}", c.found);
    assert_eq!(c.fix, FIX_ACTIVATION);
    assert!(c.fix.contains("activate"));
    // Every ZIA link that would have passed is undecided, naming the activation; the ZPA side
    // stands as read.
    let zia_links = [
        "ZIA ZPA gateway SIPA gateway: server group",
        "segment O365 SIPA: ZIA forwarding rule",
    ];
    for name in zia_links {
        let c = named(&checks, name);
        assert_eq!(c.status, Status::Error, "{c:#?}");
        assert!(
            c.causes
                .iter()
                .any(|k| k.contains("PENDING") && k.contains("activate")),
            "{c:#?}"
        );
    }
    let errors: Vec<&str> = checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(errors.len(), zia_links.len() + 1, "{errors:?}");
    // Nothing failed, so the run is inconclusive (exit 3), not a pass.
    assert!(checks.iter().all(|c| c.status != Status::Fail));
}

#[test]
fn a_failing_zia_link_still_fails_while_changes_are_pending() {
    let mut t = good();
    zia(&mut t).activation = Activation::Pending;
    zia(&mut t).forwarding_rules[0].enabled = false;
    let checks = judge(&t, &req());
    assert_eq!(
        named(&checks, "segment O365 SIPA: ZIA forwarding rule").status,
        Status::Fail
    );
}

#[test]
fn an_activation_in_progress_or_unknown_is_not_a_pass_either() {
    for a in [
        Activation::InProgress,
        Activation::Other("SOMETHING".into()),
    ] {
        let mut t = good();
        zia(&mut t).activation = a.clone();
        let checks = judge(&t, &req());
        assert_eq!(
            named(&checks, "ZIA activation").status,
            Status::Error,
            "{a:?}"
        );
    }
}

#[test]
fn an_unreadable_side_is_an_error_never_a_pass() {
    let mut t = good();
    t.zia = Err(Unreadable {
        what: "ZIA ZPA gateways".into(),
        causes: vec!["HTTP 403".into()],
    });
    let checks = judge(&t, &req());
    let e: Vec<&AuditCheck> = checks
        .iter()
        .filter(|c| c.status == Status::Error)
        .collect();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].guide_step, GuideStep::AdminApi);
    assert!(
        !checks
            .iter()
            .any(|c| c.status != Status::Error && c.name.contains("ZIA"))
    );
}

#[test]
fn no_segment_at_all_fails_once() {
    let mut t = good();
    zpa(&mut t).segments.clear();
    let f = failures(&t);
    assert_eq!(
        f,
        vec![(
            "application segment for the login hosts".into(),
            GuideStep::SegmentDomains
        )]
    );
}

// --- False passes: candidates, specificity, rule order, missing data. ---

/// The checks that are not a pass, by name and status.
fn not_passed(t: &Tenant) -> Vec<(String, Status)> {
    judge(t, &req())
        .into_iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| (c.name, c.status))
        .collect()
}

fn named<'c>(checks: &'c [AuditCheck], name: &str) -> &'c AuditCheck {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name}: {checks:#?}"))
}

#[test]
fn two_candidate_sipa_segments_are_both_judged() {
    let mut t = good();
    // A second anchored segment listing login.windows.net, without port 80.
    let mut second = zpa(&mut t).segments[0].clone();
    second.id = "216196257331404999".into();
    second.name = "O365 SIPA bis".into();
    second.domains = vec!["login.windows.net".into()];
    second.tcp_ports = vec![PortRange { from: 443, to: 443 }];
    zpa(&mut t).segments.push(second);
    let checks = judge(&t, &req());
    assert_eq!(
        named(&checks, "segment O365 SIPA: TCP port 80").status,
        Status::Pass
    );
    let c = named(&checks, "segment O365 SIPA bis: TCP port 80");
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.object.as_ref().unwrap().id, "216196257331404999");
    // Its policies are judged too: no rule names it, so the forwarding and access rules of the
    // first segment do not carry it.
    assert_eq!(
        named(&checks, "segment O365 SIPA bis: client forwarding policy").status,
        Status::Fail
    );
    assert_eq!(
        named(&checks, "segment O365 SIPA bis: access policy").status,
        Status::Fail
    );
    assert_eq!(
        named(&checks, "segment O365 SIPA: access policy").status,
        Status::Pass
    );
}

#[test]
fn login_hosts_spread_over_an_anchored_and_an_unanchored_segment() {
    let mut t = good();
    zpa(&mut t).segments[0].domains = vec![
        "login.microsoftonline.com".into(),
        "login.microsoft.com".into(),
    ];
    let mut other = zpa(&mut t).segments[0].clone();
    other.id = "216196257331405000".into();
    other.name = "Windows legacy".into();
    other.ip_anchored = false;
    other.domains = vec!["login.windows.net".into()];
    zpa(&mut t).segments.push(other);
    let checks = judge(&t, &req());
    let host = named(
        &checks,
        "login host login.windows.net: in the anchored segment",
    );
    assert_eq!(host.status, Status::Fail);
    assert_eq!(host.object.as_ref().unwrap().name, "Windows legacy");
    assert!(host.found.contains("not anchored"), "{}", host.found);
    let rival = named(
        &checks,
        "segments: no unanchored segment claims a login host",
    );
    assert_eq!(rival.status, Status::Fail);
    assert!(
        rival
            .found
            .contains("Windows legacy (id 216196257331405000) takes login.windows.net")
    );
    for h in ["login.microsoftonline.com", "login.microsoft.com"] {
        assert_eq!(
            named(&checks, &format!("login host {h}: in the anchored segment")).status,
            Status::Pass
        );
    }
}

#[test]
fn an_exact_anchored_entry_beats_an_unanchored_wildcard() {
    let mut t = good();
    let mut broad = zpa(&mut t).segments[0].clone();
    broad.id = "216196257331405001".into();
    broad.name = "All Microsoft".into();
    broad.ip_anchored = false;
    broad.domains = vec!["*.microsoftonline.com".into(), "*.windows.net".into()];
    zpa(&mut t).segments.push(broad);
    // ZPA picks the most specific entry: the anchored segment's exact names.
    assert!(not_passed(&t).is_empty(), "{:#?}", not_passed(&t));
}

#[test]
fn an_unanchored_exact_entry_beats_an_anchored_wildcard() {
    let mut t = good();
    zpa(&mut t).segments[0].domains = vec![
        "*.microsoftonline.com".into(),
        "login.windows.net".into(),
        "login.microsoft.com".into(),
    ];
    let mut exact = zpa(&mut t).segments[0].clone();
    exact.id = "216196257331405002".into();
    exact.name = "Entra exact".into();
    exact.ip_anchored = false;
    exact.domains = vec!["login.microsoftonline.com".into()];
    zpa(&mut t).segments.push(exact);
    let checks = judge(&t, &req());
    let host = named(
        &checks,
        "login host login.microsoftonline.com: in the anchored segment",
    );
    assert_eq!(host.status, Status::Fail);
    assert_eq!(host.object.as_ref().unwrap().name, "Entra exact");
    // Without the exact rival the wildcard carries it, reported as a warning.
    zpa(&mut t).segments.pop();
    let checks = judge(&t, &req());
    let host = named(
        &checks,
        "login host login.microsoftonline.com: in the anchored segment",
    );
    assert_eq!(host.status, Status::Pass);
    assert!(host.warnings[0].contains("*.microsoftonline.com"));
}

#[test]
fn a_longer_unanchored_wildcard_beats_a_shorter_anchored_one() {
    let mut t = good();
    zpa(&mut t).segments[0].domains = vec![
        "*.com".into(),
        "login.windows.net".into(),
        "login.microsoft.com".into(),
    ];
    let mut narrower = zpa(&mut t).segments[0].clone();
    narrower.id = "216196257331405003".into();
    narrower.name = "Microsoft online".into();
    narrower.ip_anchored = false;
    narrower.domains = vec!["*.microsoftonline.com".into()];
    zpa(&mut t).segments.push(narrower);
    let checks = judge(&t, &req());
    let host = named(
        &checks,
        "login host login.microsoftonline.com: in the anchored segment",
    );
    assert_eq!(host.status, Status::Fail);
    assert!(
        host.found.contains("*.microsoftonline.com"),
        "{}",
        host.found
    );
}

#[test]
fn a_deny_above_the_allow_fails_and_names_the_deny() {
    let mut t = good();
    zpa(&mut t)
        .access_rules
        .insert(0, rule("40", 0, RuleAction::Deny, vec![app()]));
    let c = the_failure(&t);
    assert_eq!(c.name, "segment O365 SIPA: access policy");
    assert_eq!(c.object.as_ref().unwrap().id, "40");
    assert!(c.found.contains("DENY"), "{}", c.found);
    // Below the ALLOW it never decides.
    zpa(&mut t).access_rules[0].order = 5;
    assert!(not_passed(&t).is_empty());
    // A DENY for every client type but ZIA Service Edge (the IP-based SIPA shape) above the
    // ALLOW does not catch SIPA traffic.
    zpa(&mut t).access_rules[0].order = 0;
    zpa(&mut t).access_rules[0].conditions = vec![
        app(),
        cond(
            true,
            vec![operand(ObjectType::ClientType, CLIENT_TYPE_SIPA)],
        ),
    ];
    assert!(not_passed(&t).is_empty(), "{:#?}", not_passed(&t));
}

#[test]
fn a_rule_with_an_or_of_conditions() {
    let mut t = good();
    // DENY if (APP other) OR (client type ZIA Inspection): SIPA traffic is neither.
    let mut deny = rule(
        "41",
        0,
        RuleAction::Deny,
        vec![
            cond(false, vec![operand(ObjectType::App, "1")]),
            client(CLIENT_TYPE_ZIA_INSPECTION),
        ],
    );
    deny.operator = Operator::Or;
    zpa(&mut t).access_rules.insert(0, deny);
    assert!(not_passed(&t).is_empty(), "{:#?}", not_passed(&t));
    // DENY if (APP other) OR (the segment's group): the segment is caught.
    zpa(&mut t).access_rules[0].conditions[1] =
        cond(false, vec![operand(ObjectType::AppGroup, SEG_GROUP)]);
    let c = the_failure(&t);
    assert_eq!(c.object.as_ref().unwrap().id, "41");
    // Operands ORed inside one condition: Client Connector or ZIA Service Edge allowed, a pass
    // with the extra client type reported.
    let mut t = good();
    zpa(&mut t).access_rules[0].conditions = vec![
        app(),
        cond(
            false,
            vec![
                operand(ObjectType::ClientType, CLIENT_TYPE_ZAPP),
                operand(ObjectType::ClientType, CLIENT_TYPE_SIPA),
            ],
        ),
    ];
    let checks = judge(&t, &req());
    let c = named(&checks, "segment O365 SIPA: access policy");
    assert_eq!(c.status, Status::Pass);
    assert!(c.warnings[0].contains(CLIENT_TYPE_ZAPP), "{:?}", c.warnings);
    // The same operands ANDed in one condition never match one request.
    zpa(&mut t).access_rules[0].conditions[1].operator = Operator::And;
    assert_eq!(
        named(&judge(&t, &req()), "segment O365 SIPA: access policy").status,
        Status::Fail
    );
}

#[test]
fn a_segment_answer_lacking_anchor_or_enabled_is_an_error_not_a_verdict() {
    for field in ["ipAnchored", "enabled", "bypassType"] {
        let mut t = good();
        let s = &mut zpa(&mut t).segments[0];
        s.missing = vec![field.into()];
        match field {
            "ipAnchored" => s.ip_anchored = false,
            "enabled" => s.enabled = false,
            _ => s.bypass_type = None,
        }
        let checks = judge(&t, &req());
        // Nothing fails on a default, nothing passes that rests on the field.
        assert!(
            checks.iter().all(|c| c.status != Status::Fail),
            "{field}: {checks:#?}"
        );
        let errors: Vec<&AuditCheck> = checks
            .iter()
            .filter(|c| c.status == Status::Error)
            .collect();
        assert!(
            errors
                .iter()
                .any(|c| c.found.contains(&format!("lacks `{field}`"))),
            "{field}: {errors:#?}"
        );
        if field != "bypassType" {
            // Which segment takes each login host rests on it too.
            for h in crate::scenario::cloud::Cloud::public().login_hosts() {
                assert_eq!(
                    named(&checks, &format!("login host {h}: in the anchored segment")).status,
                    Status::Error,
                    "{field}"
                );
            }
        } else {
            assert_eq!(errors.len(), 1, "{errors:#?}");
        }
    }
}

#[test]
fn a_matching_rule_without_order_is_an_error() {
    let mut t = good();
    let deny = {
        let mut r = rule("42", i64::MAX, RuleAction::Deny, vec![app()]);
        r.missing = vec!["ruleOrder".into()];
        r
    };
    zpa(&mut t).access_rules.push(deny.clone());
    let c = named(&judge(&t, &req()), "segment O365 SIPA: access policy").clone();
    assert_eq!(c.status, Status::Error);
    assert!(c.found.contains("no rule order"), "{}", c.found);
    // A rule without order that does not match the request decides nothing.
    zpa(&mut t).access_rules.last_mut().unwrap().conditions =
        vec![cond(false, vec![operand(ObjectType::App, "1")])];
    assert!(not_passed(&t).is_empty());
    // Nor does a disabled one.
    let mut t = good();
    let mut fwd = deny;
    fwd.disabled = true;
    zpa(&mut t).forwarding_rules.push(fwd);
    assert!(not_passed(&t).is_empty());
}

#[test]
fn a_zia_rule_without_state_and_an_activation_without_status_are_errors() {
    let mut t = good();
    let r = &mut zia(&mut t).forwarding_rules[0];
    r.enabled = false;
    r.missing = vec!["state".into()];
    zia(&mut t).activation = Activation::Unknown;
    let got = not_passed(&t);
    assert_eq!(
        got,
        vec![
            (
                "segment O365 SIPA: ZIA forwarding rule".to_string(),
                Status::Error
            ),
            ("ZIA activation".to_string(), Status::Error),
        ]
    );
}

#[test]
fn a_zia_catch_all_rule_above_the_sipa_rule_takes_the_traffic_first() {
    let mut t = good();
    let sipa = zia(&mut t).forwarding_rules[0].clone();
    let mut direct = sipa.clone();
    direct.id = "78".into();
    direct.name = "Direct everything".into();
    direct.order = 0;
    direct.method = ForwardMethod::parse("DIRECT");
    direct.gateway = None;
    direct.app_segments = vec![];
    direct.trust = vec![];
    zia(&mut t).forwarding_rules.push(direct);
    let c = the_failure(&t);
    assert_eq!(c.name, "segment O365 SIPA: ZIA forwarding rule");
    assert_eq!(c.object.as_ref().unwrap().name, "Direct everything");
    // Below the SIPA rule, disabled, or limited to some destinations: it does not decide.
    for change in 0..3 {
        let mut u = t.clone();
        let r = zia(&mut u).forwarding_rules.last_mut().unwrap();
        match change {
            0 => r.order = 2,
            1 => r.enabled = false,
            _ => {
                r.destinations = vec![TrustCriterion {
                    field: "destIpCategories".into(),
                    names: vec!["OTHER".into()],
                }]
            }
        }
        assert!(not_passed(&u).is_empty(), "{change}: {:#?}", not_passed(&u));
    }
    // Limited to some sources: a warning naming them.
    zia(&mut t).forwarding_rules.last_mut().unwrap().trust = vec![TrustCriterion {
        field: "locations".into(),
        names: vec!["Branch".into()],
    }];
    let checks = judge(&t, &req());
    let c = named(&checks, "segment O365 SIPA: ZIA forwarding rule");
    assert_eq!(c.status, Status::Pass);
    assert!(c.warnings[0].contains("Direct everything") && c.warnings[0].contains("Branch"));
}

#[test]
fn without_expected_anchors_the_connector_ips_are_said_not_compared() {
    let checks = judge(&good(), &Requirements::default());
    let c = named(
        &checks,
        "server group SIPA servers: App Connectors connected",
    );
    assert_eq!(c.status, Status::Pass);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("public IPs were not compared")),
        "{c:#?}"
    );
    assert!(
        !checks
            .iter()
            .any(|c| c.name.ends_with("App Connector IPs expected"))
    );
    // With expected anchors they are compared, and nothing is said.
    let checks = judge(&good(), &req());
    let c = named(
        &checks,
        "server group SIPA servers: App Connectors connected",
    );
    assert!(c.warnings.is_empty(), "{c:#?}");
    assert_eq!(
        named(
            &checks,
            "server group SIPA servers: App Connector IPs expected"
        )
        .status,
        Status::Pass
    );
}

#[test]
fn the_default_requirements_are_the_guides_hosts_and_ports() {
    let r = Requirements::default();
    assert_eq!(
        r.login_hosts,
        [
            "login.microsoftonline.com",
            "login.windows.net",
            "login.microsoft.com"
        ]
    );
    assert_eq!(r.ports, [80, 443]);
    assert!(r.anchors.is_empty());
}
