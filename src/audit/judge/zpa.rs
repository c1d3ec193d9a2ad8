//! The ZPA half of the audit: segments, groups, connectors, the forwarding and access
//! policies, each judged link by link along the SIPA chain.

use super::link::*;
use crate::audit::model::*;
use crate::cause::Cause;
use crate::guide::GuideStep;
use crate::outcome::Status;

pub(super) fn judge_zpa(
    zpa: &ZpaConfig,
    req: &Requirements,
    checks: &mut Vec<AuditCheck>,
) -> Chain {
    let claims = |s: &Segment| {
        req.login_hosts
            .iter()
            .any(|h| coverage(&s.domains, h) != Coverage::None)
    };
    let candidates: Vec<&Segment> = zpa.segments.iter().filter(|s| claims(s)).collect();
    if candidates.is_empty() {
        checks.push(check(
            "application segment for the login hosts".into(),
            false,
            None,
            format!(
                "an application segment listing {} with Source IP Anchor on",
                req.login_hosts.join(", ")
            ),
            format!(
                "no application segment lists any login host ({} segments read)",
                zpa.segments.len()
            ),
            FIX_SEGMENT,
            Cause::SegmentLacksHost,
        ));
        return Chain::default();
    }
    let anchored: Vec<&Segment> = candidates
        .iter()
        .copied()
        .filter(|s| s.enabled && s.ip_anchored)
        .collect();
    let chain: Vec<&Segment> = if !anchored.is_empty() {
        anchored.clone()
    } else {
        let enabled: Vec<&Segment> = candidates.iter().copied().filter(|s| s.enabled).collect();
        if enabled.is_empty() {
            candidates.clone()
        } else {
            enabled
        }
    };

    // The segment's own settings.
    for s in &chain {
        let n = &s.name;
        let what = format!("segment {n} (id {})", s.id);
        checks.push(unless_missing(
            check(
                format!("segment {n}: enabled"),
                s.enabled,
                seg_subject(s),
                "the segment enabled",
                if s.enabled { "enabled" } else { "disabled" },
                format!("{FIX_SEGMENT} > {n}: Status Enabled"),
                Cause::SegmentNotAnchored,
            ),
            &s.missing,
            "enabled",
            &what,
        ));
        checks.push(unless_missing(
            check(
                format!("segment {n}: Source IP Anchor"),
                s.ip_anchored,
                seg_subject(s),
                "Source IP Anchor on (ipAnchored true)",
                format!("ipAnchored {}", s.ip_anchored),
                format!("{FIX_SEGMENT} > {n}: Source IP Anchor"),
                Cause::SegmentNotAnchored,
            ),
            &s.missing,
            "ipAnchored",
            &what,
        ));
        let bypass = s.bypass_type.as_deref();
        let mut c = check(
            format!("segment {n}: Use Client Forwarding Policy"),
            bypass != Some("ALWAYS") && bypass != Some("ON_NET"),
            seg_subject(s),
            "Bypass: Use Client Forwarding Policy (bypassType NEVER)",
            match bypass {
                Some(b) => format!("bypassType {b}"),
                None => "no bypassType in the answer".into(),
            },
            format!("{FIX_SEGMENT} > {n}: Bypass"),
            Cause::SegmentNotAnchored,
        );
        if bypass.is_none() {
            c.warnings
                .push("the API answer did not say the segment's bypass type".into());
        }
        checks.push(unless_missing(c, &s.missing, "bypassType", &what));
        checks.push(check(
            format!("segment {n}: no double encryption"),
            !s.double_encrypt,
            seg_subject(s),
            "Double Encryption off (not supported with Source IP Anchor)",
            format!("doubleEncrypt {}", s.double_encrypt),
            format!("{FIX_SEGMENT} > {n}: Double Encryption"),
            Cause::SegmentNotAnchored,
        ));
        let ranges: Vec<String> = s.tcp_ports.iter().map(ToString::to_string).collect();
        for port in &req.ports {
            checks.push(unless_missing(
                check(
                    format!("segment {n}: TCP port {port}"),
                    s.tcp_ports.iter().any(|r| r.contains(*port)),
                    seg_subject(s),
                    format!("TCP port ranges covering {port}"),
                    if ranges.is_empty() {
                        "no TCP port range".to_string()
                    } else {
                        format!("TCP port ranges {}", ranges.join(", "))
                    },
                    format!("{FIX_SEGMENT} > {n}: TCP Port Ranges"),
                    Cause::SegmentLacksPort,
                ),
                &s.missing,
                "tcpPortRange",
                &what,
            ));
        }
    }

    // Every login host in an enabled, anchored segment, and no unanchored segment taking it:
    // ZPA sends a name to the segment with its most specific entry (an exact name before any
    // wildcard, a longer wildcard before a shorter one).
    let enabled: Vec<&Segment> = zpa.segments.iter().filter(|s| s.enabled).collect();
    let mut rivals: Vec<String> = Vec::new();
    // Segments listing a login host whose answer lacked `enabled` or `ipAnchored`: which
    // segment takes the host cannot be told.
    let undecided: Vec<String> = candidates
        .iter()
        .filter(|s| {
            s.missing
                .iter()
                .any(|m| m == "enabled" || m == "ipAnchored")
        })
        .map(|s| {
            format!(
                "the API answer of segment {} (id {}) lacks {}",
                s.name,
                s.id,
                s.missing
                    .iter()
                    .filter(|m| *m == "enabled" || *m == "ipAnchored")
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )
        })
        .collect();
    let undecidable = |mut c: AuditCheck| {
        if !undecided.is_empty() {
            c.status = Status::Error;
            c.causes.extend(undecided.iter().cloned());
        }
        c
    };
    for host in &req.login_hosts {
        let covering: Vec<(&Segment, Coverage)> = enabled
            .iter()
            .map(|s| (*s, coverage(&s.domains, host)))
            .filter(|(_, c)| *c != Coverage::None)
            .collect();
        let best = covering.iter().map(|(_, c)| specificity(c)).max();
        let winners: Vec<&(&Segment, Coverage)> = covering
            .iter()
            .filter(|(_, c)| Some(specificity(c)) == best)
            .collect();
        let first = chain[0];
        let unanchored: Vec<&&(&Segment, Coverage)> =
            winners.iter().filter(|(s, _)| !s.ip_anchored).collect();
        // The chain's own segments are judged above (Source IP Anchor); a rival is another.
        for (s, c) in unanchored
            .iter()
            .filter(|(s, _)| !chain.iter().any(|k| k.id == s.id))
        {
            rivals.push(format!(
                "{} (id {}) takes {host}{}",
                s.name,
                s.id,
                match c {
                    Coverage::Wildcard(w) => format!(" through {w}"),
                    _ => String::new(),
                }
            ));
        }
        let anchored_winner = winners.iter().find(|(s, _)| s.ip_anchored);
        let (pass, object, found, warning) = match (anchored_winner, unanchored.first()) {
            (Some((s, _)), Some((r, _))) => (
                false,
                *r,
                format!(
                    "both segment {} (anchored) and segment {} (id {}, not anchored) list {host} as specifically: which one ZPA picks is not the guide's",
                    s.name, r.name, r.id
                ),
                None,
            ),
            (None, Some((r, c))) => (
                false,
                *r,
                format!(
                    "ZPA sends it to segment {} (id {}){}, which is not anchored",
                    r.name,
                    r.id,
                    match c {
                        Coverage::Wildcard(w) => format!(" through its wildcard {w}"),
                        _ => String::new(),
                    }
                ),
                None,
            ),
            (Some((s, Coverage::Wildcard(w))), None) => (
                true,
                *s,
                format!("covered only by the wildcard {w} of segment {}", s.name),
                Some(format!(
                    "{host} is anchored only through the wildcard {w}, which anchors every other name under it too ({})",
                    GuideStep::TooBroad.text()
                )),
            ),
            (Some((s, _)), None) => (true, *s, format!("listed in segment {}", s.name), None),
            (None, None) => (
                false,
                first,
                format!(
                    "not in any enabled, anchored segment; segment {} lists {}",
                    first.name,
                    if first.domains.is_empty() {
                        "nothing".to_string()
                    } else {
                        first.domains.join(", ")
                    }
                ),
                None,
            ),
        };
        let mut c = check(
            format!("login host {host}: in the anchored segment"),
            pass,
            seg_subject(object),
            format!("{host} in the Applications of an enabled segment with Source IP Anchor"),
            found,
            format!("{FIX_SEGMENT} > {}: Applications", object.name),
            Cause::SegmentLacksHost,
        );
        c.warnings.extend(warning);
        checks.push(undecidable(c));
    }

    // No other enabled segment takes a login host without anchoring it.
    rivals.dedup();
    checks.push(undecidable(check(
        "segments: no unanchored segment claims a login host".into(),
        rivals.is_empty(),
        None,
        "no other enabled segment listing a login host without Source IP Anchor at least as specifically as the anchored one (it would take the traffic unanchored)",
        if rivals.is_empty() {
            "none".to_string()
        } else {
            rivals.join("; ")
        },
        FIX_SEGMENT,
        Cause::OverAnchored,
    )));

    let mut server_groups: Vec<ObjRef> = Vec::new();
    for s in &chain {
        // Segment group.
        let sg = s
            .segment_group_id
            .as_ref()
            .and_then(|id| zpa.segment_groups.iter().find(|g| &g.id == id));
        checks.push(match sg {
            Some(g) => check(
                format!("segment {}: segment group {} enabled", s.name, g.name),
                g.enabled,
                subject("ZPA segment group", &g.name, &g.id),
                "the segment's segment group enabled",
                if g.enabled { "enabled" } else { "disabled" },
                format!("{FIX_SEGMENT_GROUP} > {}", g.name),
                Cause::ServerGroupChain,
            ),
            None => check(
                format!("segment {}: segment group", s.name),
                false,
                seg_subject(s),
                "the segment in an existing segment group",
                match &s.segment_group_id {
                    Some(id) => format!("segment group {id}, which the API does not list"),
                    None => "no segment group".into(),
                },
                format!("{FIX_SEGMENT} > {}: Segment Group", s.name),
                Cause::ServerGroupChain,
            ),
        });
        if s.server_groups.is_empty() {
            checks.push(check(
                format!("segment {}: server group", s.name),
                false,
                seg_subject(s),
                "a server group tied to the App Connector group",
                "no server group",
                format!("{FIX_SEGMENT} > {}: Server Groups", s.name),
                Cause::ServerGroupChain,
            ));
        }
        for r in &s.server_groups {
            if !server_groups.iter().any(|k| k.id == r.id) {
                server_groups.push(r.clone());
            }
        }
    }

    // Server groups, connector groups, connectors.
    for r in &server_groups {
        let Some(g) = zpa.server_groups.iter().find(|g| g.id == r.id) else {
            checks.push(check(
                format!("server group {}: exists", r.name),
                false,
                subject("ZPA server group", &r.name, &r.id),
                "the segment's server group readable",
                "the API does not list it",
                FIX_SERVER_GROUP,
                Cause::ServerGroupChain,
            ));
            continue;
        };
        let groups: Vec<String> = g
            .connector_groups
            .iter()
            .map(|c| format!("{} (id {})", c.name, c.id))
            .collect();
        checks.push(check(
            format!("server group {}: enabled, tied to connector groups", g.name),
            g.enabled && !g.connector_groups.is_empty(),
            subject("ZPA server group", &g.name, &g.id),
            "the server group enabled and associated with the App Connector group",
            format!(
                "{}, connector groups: {}",
                if g.enabled { "enabled" } else { "disabled" },
                if groups.is_empty() {
                    "none".to_string()
                } else {
                    groups.join(", ")
                }
            ),
            format!("{FIX_SERVER_GROUP} > {}: App Connector Groups", g.name),
            Cause::ServerGroupChain,
        ));
        let mut connectors: Vec<&Connector> = Vec::new();
        for cg in &g.connector_groups {
            if let Some(group) = zpa.connector_groups.iter().find(|k| k.id == cg.id) {
                checks.push(check(
                    format!("connector group {}: enabled", group.name),
                    group.enabled,
                    subject("ZPA App Connector group", &group.name, &group.id),
                    "the App Connector group enabled",
                    if group.enabled { "enabled" } else { "disabled" },
                    format!("{FIX_CONNECTORS} > {}", group.name),
                    Cause::ConnectorsUnhealthy,
                ));
            }
            connectors.extend(zpa.connectors.iter().filter(|c| c.group_id == cg.id));
        }
        let up: Vec<&&Connector> = connectors.iter().filter(|c| c.is_up()).collect();
        let listed: Vec<String> = connectors
            .iter()
            .map(|c| {
                format!(
                    "{} (id {}, public IP {}, {}{})",
                    c.name,
                    c.id,
                    c.public_ip.as_deref().unwrap_or("unknown"),
                    c.control_channel,
                    if c.enabled { "" } else { ", disabled" }
                )
            })
            .collect();
        let mut c = check(
            format!("server group {}: App Connectors connected", g.name),
            !up.is_empty() && up.len() == connectors.len(),
            subject("ZPA server group", &g.name, &g.id),
            "every App Connector of its connector groups enabled and ZPN_STATUS_AUTHENTICATED",
            if listed.is_empty() {
                "no App Connector".to_string()
            } else {
                listed.join("; ")
            },
            FIX_CONNECTORS,
            Cause::ConnectorsUnhealthy,
        );
        if !up.is_empty() && up.len() < connectors.len() {
            // Anchoring still works through the others: a warning, not a failure.
            c.status = Status::Pass;
            c.warnings.push(format!(
                "{} of {} App Connectors are not connected: anchored traffic has less capacity",
                connectors.len() - up.len(),
                connectors.len()
            ));
        }
        if req.anchors.is_empty() {
            // Said, so that a pass is not read as "the connectors are the right ones".
            c.warnings.push(
                "no expected anchors (--expect-ip, or the scenario's [anchor] expect): the App Connectors' public IPs were not compared".to_string(),
            );
        }
        checks.push(c);
        if !req.anchors.is_empty() {
            let ips: Vec<(String, bool)> = up
                .iter()
                .filter_map(|c| c.public_ip.clone())
                .map(|ip| {
                    let ok = ip
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|a| req.anchors.contains(a));
                    (ip, ok)
                })
                .collect();
            let expected: Vec<String> = req.anchors.0.iter().map(ToString::to_string).collect();
            let mut c = check(
                format!("server group {}: App Connector IPs expected", g.name),
                ips.iter().any(|(_, ok)| *ok),
                subject("ZPA server group", &g.name, &g.id),
                format!(
                    "connected App Connectors whose public IPs are the expected anchors {}",
                    expected.join(", ")
                ),
                if ips.is_empty() {
                    "no connected App Connector with a public IP".to_string()
                } else {
                    format!(
                        "public IPs {}",
                        ips.iter()
                            .map(|(ip, _)| ip.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
                format!("{FIX_SERVER_GROUP} > {}: App Connector Groups", g.name),
                Cause::ServerGroupChain,
            );
            let strays: Vec<&str> = ips
                .iter()
                .filter(|(_, ok)| !ok)
                .map(|(ip, _)| ip.as_str())
                .collect();
            if c.status == Status::Pass && !strays.is_empty() {
                c.warnings.push(format!(
                    "App Connectors with public IPs outside the expected set: {}",
                    strays.join(", ")
                ));
            }
            checks.push(c);
        }
    }

    // Client forwarding and access policies, per segment.
    for s in &chain {
        let request = PolicyRequest {
            app_id: &s.id,
            app_group_id: s.segment_group_id.as_deref(),
            client_type: CLIENT_TYPE_SIPA,
        };
        checks.push(forwarding_check(zpa, s, &request));
        checks.push(access_check(zpa, s, &request));
    }

    Chain {
        segments: chain.into_iter().cloned().collect(),
        server_groups,
    }
}

pub(super) fn forwarding_check(
    zpa: &ZpaConfig,
    s: &Segment,
    request: &PolicyRequest<'_>,
) -> AuditCheck {
    let name = format!("segment {}: client forwarding policy", s.name);
    let required = "the first enabled client forwarding rule matching the segment for ZIA Service Edge: Only Forward Allowed Applications (INTERCEPT_ACCESSIBLE), or the generic shape (BYPASS for Client Connector, INTERCEPT for ZIA Service Edge)";
    if let Some(rule) = unordered_match(&zpa.forwarding_rules, request) {
        return unordered_check(
            name,
            "ZPA client forwarding rule",
            rule,
            required,
            FIX_FORWARDING,
            Cause::ClientForwardingPolicy,
        );
    }
    let Some(rule) = first_match(&zpa.forwarding_rules, request) else {
        return check(
            name,
            false,
            seg_subject(s),
            required,
            "no enabled rule matches the segment",
            FIX_FORWARDING,
            Cause::ClientForwardingPolicy,
        );
    };
    let fix = format!("{FIX_FORWARDING} > {}: Rule Action", rule.name);
    let found = format!("first match: {}", rule_words(rule));
    let object = rule_subject("ZPA client forwarding rule", rule);
    match rule.action {
        RuleAction::InterceptAccessible => check(
            name,
            true,
            object,
            required,
            found,
            fix,
            Cause::ClientForwardingPolicy,
        ),
        RuleAction::Intercept
            if !rule.default_rule
                && names_segment(rule, s)
                && client_types(rule) == [CLIENT_TYPE_SIPA] =>
        {
            // The generic domain-based shape: Client Connector traffic must then be bypassed.
            let zapp = PolicyRequest {
                client_type: CLIENT_TYPE_ZAPP,
                ..*request
            };
            let mut c = check(
                name,
                true,
                object,
                required,
                format!("{found} (the generic SIPA shape)"),
                fix,
                Cause::ClientForwardingPolicy,
            );
            match first_match(&zpa.forwarding_rules, &zapp) {
                Some(r) if r.action == RuleAction::Bypass => {}
                other => c.warnings.push(format!(
                    "the generic SIPA shape bypasses Client Connector traffic for the segment; its first match is {}",
                    other.map_or_else(|| "no rule".to_string(), rule_words)
                )),
            }
            c
        }
        _ => check(
            name,
            false,
            object,
            required,
            found,
            fix,
            Cause::ClientForwardingPolicy,
        ),
    }
}

pub(super) fn access_check(
    zpa: &ZpaConfig,
    s: &Segment,
    request: &PolicyRequest<'_>,
) -> AuditCheck {
    let name = format!("segment {}: access policy", s.name);
    let required = "the first enabled access rule matching the segment for client type ZIA Service Edge (zpn_client_type_ip_anchoring): ALLOW";
    if let Some(rule) = unordered_match(&zpa.access_rules, request) {
        return unordered_check(
            name,
            "ZPA access rule",
            rule,
            required,
            FIX_ACCESS,
            Cause::AccessDenied,
        );
    }
    // Rules that name the segment for ZIA Inspection, the client type mistaken for ZIA Service Edge.
    let mistaken: Vec<String> = ordered(&zpa.access_rules)
        .into_iter()
        .filter(|r| {
            !r.disabled
                && names_segment(r, s)
                && client_types(r).contains(&CLIENT_TYPE_ZIA_INSPECTION)
                && !client_types(r).contains(&CLIENT_TYPE_SIPA)
        })
        .map(|r| {
            format!(
                "rule `{}` (id {}) is for ZIA Inspection (zpn_client_type_zia_inspection), not ZIA Service Edge",
                r.name, r.id
            )
        })
        .collect();
    match first_match(&zpa.access_rules, request) {
        Some(rule) if rule.action == RuleAction::Allow => {
            let mut c = check(
                name,
                true,
                rule_subject("ZPA access rule", rule),
                required,
                format!("first match: {}", rule_words(rule)),
                format!("{FIX_ACCESS} > {}", rule.name),
                Cause::AccessDenied,
            );
            let types = client_types(rule);
            if types.is_empty() {
                c.warnings.push(format!(
                    "rule `{}` allows every client type; the guide allows only ZIA Service Edge",
                    rule.name
                ));
            } else if types.iter().any(|t| *t != CLIENT_TYPE_SIPA) {
                c.warnings.push(format!(
                    "rule `{}` also allows {}; the guide allows only ZIA Service Edge",
                    rule.name,
                    types
                        .iter()
                        .filter(|t| **t != CLIENT_TYPE_SIPA)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if !rule.connector_groups.is_empty() {
                c.warnings.push(format!(
                    "rule `{}` pins App Connector groups {}: only their connectors anchor",
                    rule.name,
                    rule.connector_groups
                        .iter()
                        .map(|g| g.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            c
        }
        other => {
            let mut found = match other {
                Some(rule) => format!("first match: {}", rule_words(rule)),
                None => "no enabled rule matches: ZPA denies by default".to_string(),
            };
            if !mistaken.is_empty() {
                found.push_str("; ");
                found.push_str(&mistaken.join("; "));
            }
            let (object, fix) = match other {
                Some(rule) => (
                    rule_subject("ZPA access rule", rule),
                    format!("{FIX_ACCESS} > {}", rule.name),
                ),
                None => (
                    seg_subject(s),
                    format!(
                        "{FIX_ACCESS}: add a rule allowing {} for ZIA Service Edge",
                        s.name
                    ),
                ),
            };
            check(
                name,
                false,
                object,
                required,
                found,
                fix,
                Cause::AccessDenied,
            )
        }
    }
}
