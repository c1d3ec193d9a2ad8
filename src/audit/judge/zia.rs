//! The ZIA half of the audit: the ZPA gateway and the forwarding rule that sends the login
//! hosts to it, judged against the ZPA chain.

use super::link::*;
use crate::audit::model::*;
use crate::cause::Cause;
use crate::outcome::Status;

pub(super) fn judge_zia(zia: &ZiaConfig, chain: Option<&Chain>, checks: &mut Vec<AuditCheck>) {
    let first_zia = checks.len();
    let user_gateways: Vec<&ZiaGateway> = zia
        .gateways
        .iter()
        .filter(|g| !g.predefined && g.kind.as_ref().is_none_or(|k| *k == GatewayKind::Zpa))
        .collect();
    if let Some(chain) = chain.filter(|c| !c.segments.is_empty()) {
        let on_server_group = |g: &&&ZiaGateway| {
            g.server_group.as_ref().is_some_and(|sg| {
                chain
                    .server_groups
                    .iter()
                    .any(|r| Some(&r.id) == sg.external_id.as_ref())
            })
        };
        let good: Vec<&ZiaGateway> = user_gateways
            .iter()
            .filter(on_server_group)
            .copied()
            .collect();
        let sgs: Vec<String> = chain
            .server_groups
            .iter()
            .map(|r| format!("{} (id {})", r.name, r.id))
            .collect();
        let required = format!(
            "a ZIA ZPA gateway whose server group is the segment's: {}",
            sgs.join(", ")
        );
        let c = match good.first() {
            Some(g) => {
                let mut c = check(
                    format!("ZIA ZPA gateway {}: server group", g.name),
                    true,
                    subject("ZIA ZPA gateway", &g.name, &g.id),
                    required,
                    format!(
                        "server group {}",
                        g.server_group
                            .as_ref()
                            .map(|s| format!(
                                "{} (id {})",
                                s.name,
                                s.external_id.as_deref().unwrap_or("?")
                            ))
                            .unwrap_or_default()
                    ),
                    format!("{FIX_GATEWAY} > {}", g.name),
                    Cause::ZpaGatewayMissing,
                );
                for s in &chain.segments {
                    if !g
                        .app_segments
                        .iter()
                        .any(|a| a.external_id.as_deref() == Some(s.id.as_str()))
                    {
                        c.warnings.push(format!(
                            "the gateway's application segments do not list {} (id {})",
                            s.name, s.id
                        ));
                    }
                }
                c
            }
            None => {
                let others: Vec<String> = user_gateways
                    .iter()
                    .map(|g| {
                        format!(
                            "gateway {} (id {}) on server group {}",
                            g.name,
                            g.id,
                            g.server_group
                                .as_ref()
                                .map(|s| format!(
                                    "{} (id {})",
                                    s.name,
                                    s.external_id.as_deref().unwrap_or("none")
                                ))
                                .unwrap_or_else(|| "none".into())
                        )
                    })
                    .collect();
                let wrong = user_gateways.first();
                check(
                    "ZIA ZPA gateway: server group".into(),
                    false,
                    wrong.and_then(|g| subject("ZIA ZPA gateway", &g.name, &g.id)),
                    required,
                    if others.is_empty() {
                        "no ZPA gateway besides the predefined ones".to_string()
                    } else {
                        others.join("; ")
                    },
                    match wrong {
                        Some(g) => format!("{FIX_GATEWAY} > {}: Server Group", g.name),
                        None => FIX_GATEWAY.to_string(),
                    },
                    Cause::ZpaGatewayMissing,
                )
            }
        };
        checks.push(c);

        // Forwarding rules, in order, predefined ones aside.
        let mut rules: Vec<&ZiaForwardingRule> = zia
            .forwarding_rules
            .iter()
            .filter(|r| !r.predefined && r.rule_type == RuleType::Forwarding)
            .collect();
        rules.sort_by_key(|r| r.order);
        let gateway_ids: Vec<&str> = good.iter().map(|g| g.id.as_str()).collect();
        for s in &chain.segments {
            let for_segment: Vec<&&ZiaForwardingRule> = rules
                .iter()
                .filter(|r| {
                    r.method == ForwardMethod::Zpa
                        && r.app_segments
                            .iter()
                            .any(|a| a.external_id.as_deref() == Some(s.id.as_str()))
                })
                .collect();
            let working = for_segment.iter().find(|r| {
                r.enabled
                    && r.gateway
                        .as_ref()
                        .is_some_and(|g| gateway_ids.contains(&g.id.as_str()))
            });
            let required = format!(
                "an enabled ZIA forwarding rule, method ZPA, destination segment {} (id {}), forwarding to the gateway on its server group",
                s.name, s.id
            );
            let name = format!("segment {}: ZIA forwarding rule", s.name);
            let c = match working {
                Some(r) => {
                    let mut c = check(
                        name,
                        true,
                        subject("ZIA forwarding rule", &r.name, &r.id),
                        required,
                        format!(
                            "rule {} (order {}), gateway {}; trust criteria: {}",
                            r.name,
                            r.order,
                            r.gateway.as_ref().map(|g| g.name.as_str()).unwrap_or(""),
                            trust_words(r)
                        ),
                        format!("{FIX_ZIA_RULE} > {}", r.name),
                        Cause::NothingAnchored,
                    );
                    // ZIA applies the first matching forwarding rule: an enabled rule above it
                    // that forwards elsewhere with no destination criterion takes the login
                    // traffic first (every source when it has no trust criterion either).
                    let above: Vec<&&ZiaForwardingRule> = rules
                        .iter()
                        .filter(|k| {
                            k.enabled
                                && k.order < r.order
                                && k.method != ForwardMethod::Zpa
                                && k.destinations.is_empty()
                        })
                        .collect();
                    if let Some(k) = above.iter().find(|k| k.trust.is_empty()) {
                        c.status = Status::Fail;
                        c.object = subject("ZIA forwarding rule", &k.name, &k.id);
                        c.found = format!(
                            "rule {} (id {}, order {}, method {}) above {} has no destination or trust criterion: it takes all traffic, the login hosts included, first",
                            k.name, k.id, k.order, k.method, r.name
                        );
                        c.fix = format!(
                            "{FIX_ZIA_RULE}: move {} above {} or narrow its criteria",
                            r.name, k.name
                        );
                    }
                    for k in above.iter().filter(|k| !k.trust.is_empty()) {
                        c.warnings.push(format!(
                            "rule {} (order {}, method {}) above {} has no destination criterion: traffic matching its {} goes {} instead",
                            k.name,
                            k.order,
                            k.method,
                            r.name,
                            trust_words(k),
                            k.method
                        ));
                    }
                    c
                }
                None => {
                    let found = if for_segment.is_empty() {
                        "no ZIA forwarding rule with method ZPA names the segment".to_string()
                    } else {
                        for_segment
                            .iter()
                            .map(|r| {
                                let mut w = format!("rule {} (id {}, order {})", r.name, r.id, r.order);
                                if !r.enabled {
                                    w.push_str(" is DISABLED");
                                } else {
                                    w.push_str(&format!(
                                        " forwards to gateway {}, which is not on the segment's server group",
                                        r.gateway.as_ref().map(|g| g.name.as_str()).unwrap_or("none")
                                    ));
                                }
                                w
                            })
                            .collect::<Vec<_>>()
                            .join("; ")
                    };
                    let first = for_segment.first();
                    check(
                        name,
                        false,
                        first.and_then(|r| subject("ZIA forwarding rule", &r.name, &r.id)),
                        required,
                        found,
                        match first {
                            Some(r) => format!("{FIX_ZIA_RULE} > {}", r.name),
                            None => FIX_ZIA_RULE.to_string(),
                        },
                        Cause::NothingAnchored,
                    )
                }
            };
            // A rule that would carry the segment but whose answer lacked `state`: whether it
            // is enabled cannot be told.
            let stateless = for_segment.iter().find(|r| {
                r.missing.iter().any(|m| m == "state")
                    && r.gateway
                        .as_ref()
                        .is_some_and(|g| gateway_ids.contains(&g.id.as_str()))
            });
            let c = match stateless {
                Some(r) if c.status == Status::Fail => AuditCheck {
                    status: Status::Error,
                    object: subject("ZIA forwarding rule", &r.name, &r.id),
                    found: format!(
                        "rule {} (id {}) forwards the segment to its gateway, but the API answer gives no state: enabled or not cannot be told",
                        r.name, r.id
                    ),
                    causes: vec![format!(
                        "`state` absent from the answer of ZIA forwarding rule {} (id {})",
                        r.name, r.id
                    )],
                    ..c
                },
                _ => c,
            };
            checks.push(c);
        }
    }

    if zia.activation == Activation::Unknown {
        checks.push(AuditCheck {
            status: Status::Error,
            causes: vec!["the answer of GET /status has no `status`".into()],
            ..check(
                "ZIA activation".into(),
                false,
                None,
                "no pending changes (status ACTIVE)",
                "no status in the answer: whether changes are pending cannot be told",
                FIX_ACTIVATION,
                Cause::ZiaChangesPending,
            )
        });
        return;
    }
    // Saved but not activated (or being activated, or a status the audit does not know): what
    // was read may not be what ZIA applies, so no ZIA link can pass on it.
    let unsettled = match &zia.activation {
        // Judged above.
        Activation::Unknown | Activation::Active => None,
        Activation::Pending => Some((
            "PENDING".to_string(),
            "ZIA has saved changes that are not activated: the audited ZIA configuration may not be live",
        )),
        Activation::InProgress => Some((
            "INPROGRESS".to_string(),
            "ZIA is activating changes: the audited ZIA configuration may not be live yet",
        )),
        Activation::Other(s) => Some((
            format!("`{s}`"),
            "ZIA's activation status is not one the audit knows: whether the audited ZIA configuration is live cannot be told",
        )),
    };
    let Some((word, reason)) = unsettled else {
        checks.push(check(
            "ZIA activation".into(),
            true,
            None,
            "no pending changes (status ACTIVE)",
            "status ACTIVE",
            FIX_ACTIVATION,
            Cause::ZiaChangesPending,
        ));
        return;
    };
    // The ZIA links that would have passed are undecided; a failing one fails whatever is
    // activated (the saved configuration is wrong either way).
    for c in checks[first_zia..]
        .iter_mut()
        .filter(|c| c.status == Status::Pass)
    {
        c.status = Status::Error;
        c.found = format!(
            "{} as saved, but ZIA's activation status is {word}: what ZIA applies may differ",
            c.found
        );
        c.causes.insert(
            0,
            format!("ZIA activation status {word}: {reason}; {FIX_ACTIVATION}, then audit again"),
        );
    }
    checks.push(AuditCheck {
        status: Status::Error,
        causes: vec![format!("GET /status answered {word}: {reason}")],
        ..check(
            "ZIA activation".into(),
            false,
            None,
            "no pending changes (status ACTIVE)",
            format!("status {word}: {reason}"),
            FIX_ACTIVATION,
            Cause::ZiaChangesPending,
        )
    });
}

pub(super) fn trust_words(r: &ZiaForwardingRule) -> String {
    if r.trust.is_empty() {
        return "any (no location, user or group criterion)".into();
    }
    r.trust
        .iter()
        .map(|t| format!("{} {}", t.field, t.names.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}
