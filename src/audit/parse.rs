//! Raw API answers to the typed tenant. Lenient as the APIs are: fields are often missing,
//! numbers arrive as strings (ZPA) or integers (ZIA), ids are kept as strings, never floats.

use serde_json::Value;

use super::documents::{Documents, Endpoint, Paging, Product};
use super::model::*;

/// The ZIA gateways Zscaler predefines, which the audit ignores.
pub const PREDEFINED_GATEWAYS: [&str; 2] = ["Auto ZPA Gateway", "Auto Extranet ZPA Gateway"];
/// The ZIA forwarding rules Zscaler predefines (their order is negative too).
pub const PREDEFINED_RULES: [&str; 4] = [
    "ZIA Inspected ZPA Apps",
    "ZPA Pool For Stray Traffic",
    "Fallback mode of ZPA Forwarding",
    "Extranet Traffic to ZPA",
];
/// The trust criteria of a ZIA forwarding rule's General tab.
const TRUST_FIELDS: [&str; 10] = [
    "locations",
    "locationGroups",
    "users",
    "groups",
    "departments",
    "deviceGroups",
    "ecGroups",
    "srcIps",
    "srcIpGroups",
    "srcIpv6Groups",
];

/// The destination criteria of a ZIA forwarding rule (GO `ForwardingRules`).
const DESTINATION_FIELDS: [&str; 11] = [
    "destAddresses",
    "destIpCategories",
    "resCategories",
    "destCountries",
    "destIpGroups",
    "destIpv6Groups",
    "nwServices",
    "nwServiceGroups",
    "nwApplications",
    "nwApplicationGroups",
    "appServiceGroups",
];

/// The criteria of `fields` that hold something, with their entries' names.
fn criteria(v: &Value, fields: &[&str]) -> Vec<TrustCriterion> {
    fields
        .iter()
        .filter_map(|field| {
            let names: Vec<String> = array(v, field)
                .iter()
                .map(|r| match r {
                    Value::String(s) => s.clone(),
                    other => {
                        let n = name(other);
                        if n.is_empty() { id(other) } else { n }
                    }
                })
                .collect();
            (!names.is_empty()).then(|| TrustCriterion {
                field: (*field).to_string(),
                names,
            })
        })
        .collect()
}

/// The tenant the documents describe. A side with a missing or malformed answer is
/// [`Unreadable`], with the reason.
pub fn tenant(docs: &Documents) -> Tenant {
    Tenant {
        zpa: zpa(docs),
        zia: zia(docs),
    }
}

/// The items of every page of `endpoint`.
fn items(docs: &Documents, endpoint: Endpoint) -> Result<Vec<&Value>, Unreadable> {
    let pages = docs.pages(endpoint).ok_or_else(|| Unreadable {
        what: endpoint.describe().to_string(),
        causes: vec![format!(
            "no answer of {} ({}) was read",
            endpoint.path(),
            endpoint.file_name(1)
        )],
    })?;
    let bad = |what: &str| Unreadable {
        what: endpoint.describe().to_string(),
        causes: vec![format!("the answer of {} is {what}", endpoint.path())],
    };
    let mut out = Vec::new();
    for page in pages {
        match endpoint.paging() {
            Paging::Zpa => match page {
                Value::Object(map) => match map.get("list") {
                    None | Some(Value::Null) => {}
                    Some(Value::Array(list)) => out.extend(list.iter()),
                    Some(_) => return Err(bad("an envelope whose `list` is not an array")),
                },
                // Some ZPA endpoints answer a bare array, one page (Zscaler's SDK accepts it).
                Value::Array(list) => out.extend(list.iter()),
                _ => return Err(bad("not a ZPA list envelope ({totalPages, list})")),
            },
            Paging::Zia => match page {
                Value::Array(list) => out.extend(list.iter()),
                _ => return Err(bad("not a JSON array")),
            },
            Paging::None => out.push(page),
        }
    }
    Ok(out)
}

/// A string or a number, as a string.
fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn name(v: &Value) -> String {
    text(v, "name").unwrap_or_default()
}

fn id(v: &Value) -> String {
    text(v, "id").unwrap_or_default()
}

/// A bool, or `"true"`, `"1"`.
fn flag(v: &Value, key: &str) -> Option<bool> {
    match v.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => Some(matches!(s.as_str(), "true" | "1")),
        Value::Number(n) => Some(n.as_i64().is_some_and(|n| n != 0)),
        _ => None,
    }
}

/// The keys of `keys` that `v` lacks (or holds as null).
fn absent(v: &Value, keys: &[&str]) -> Vec<String> {
    keys.iter()
        .filter(|k| {
            v.get(**k)
                .is_none_or(|x| x.is_null() || x.as_str().is_some_and(|s| s.trim().is_empty()))
        })
        .map(|k| (*k).to_string())
        .collect()
}

fn array<'v>(v: &'v Value, key: &str) -> &'v [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn refs(v: &Value, key: &str) -> Vec<ObjRef> {
    array(v, key)
        .iter()
        .map(|r| ObjRef {
            id: id(r),
            name: name(r),
        })
        .collect()
}

fn external(v: &Value) -> ExternalRef {
    ExternalRef {
        name: name(v),
        external_id: text(v, "externalId").filter(|s| !s.is_empty()),
    }
}

fn port(s: &str) -> Option<u16> {
    s.trim().parse().ok()
}

/// Both forms of a segment's TCP ranges: `tcpPortRange` objects and `tcpPortRanges` pairs.
fn tcp_ports(v: &Value) -> Vec<PortRange> {
    let mut ranges = Vec::new();
    for r in array(v, "tcpPortRange") {
        let from = text(r, "from").as_deref().and_then(port);
        let to = text(r, "to").as_deref().and_then(port).or(from);
        if let (Some(from), Some(to)) = (from, to) {
            ranges.push(PortRange { from, to });
        }
    }
    let flat: Vec<Option<u16>> = array(v, "tcpPortRanges")
        .iter()
        .map(|p| match p {
            Value::String(s) => port(s),
            Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            _ => None,
        })
        .collect();
    for pair in flat.chunks(2) {
        if let [Some(from), Some(to)] = pair {
            let r = PortRange {
                from: *from,
                to: *to,
            };
            if !ranges.contains(&r) {
                ranges.push(r);
            }
        }
    }
    ranges
}

fn operator(v: &Value) -> Operator {
    match text(v, "operator").as_deref() {
        Some("OR") => Operator::Or,
        _ => Operator::And,
    }
}

/// One operand as GET answers it (`objectType`, `lhs`, `rhs`), or in the v2 shape some answers
/// carry (`values: [..]`, `entryValues: [{lhs, rhs}]`): one operand per value.
fn operands(o: &Value) -> Vec<Operand> {
    let object_type = match text(o, "objectType").as_deref() {
        Some("APP") => ObjectType::App,
        Some("APP_GROUP") => ObjectType::AppGroup,
        Some("CLIENT_TYPE") => ObjectType::ClientType,
        other => ObjectType::Other(other.unwrap_or_default().to_string()),
    };
    let mut rhs: Vec<String> = text(o, "rhs").into_iter().collect();
    rhs.extend(array(o, "values").iter().filter_map(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }));
    rhs.extend(
        array(o, "entryValues")
            .iter()
            .filter_map(|e| text(e, "rhs")),
    );
    if rhs.is_empty() {
        // An operand with no value matches nothing; kept so a rule's shape stays visible.
        rhs.push(String::new());
    }
    rhs.into_iter()
        .map(|rhs| Operand {
            object_type: object_type.clone(),
            rhs,
        })
        .collect()
}

fn rule(v: &Value) -> PolicyRule {
    let conditions = array(v, "conditions")
        .iter()
        .map(|c| Condition {
            operator: match text(c, "operator").as_deref() {
                Some("AND") => Operator::And,
                _ => Operator::Or,
            },
            negated: flag(c, "negated").unwrap_or(false),
            operands: array(c, "operands").iter().flat_map(operands).collect(),
        })
        .collect();
    let order: Option<i64> = text(v, "ruleOrder").and_then(|s| s.trim().parse().ok());
    let default_rule = flag(v, "defaultRule").unwrap_or(false);
    PolicyRule {
        id: id(v),
        name: name(v),
        order: order.unwrap_or(i64::MAX),
        // The default rule is last whatever its order says; any other needs one.
        missing: if order.is_none() && !default_rule {
            vec!["ruleOrder".into()]
        } else {
            Vec::new()
        },
        disabled: flag(v, "disabled").unwrap_or(false),
        action: RuleAction::parse(&text(v, "action").unwrap_or_default()),
        operator: operator(v),
        conditions,
        default_rule,
        connector_groups: refs(v, "appConnectorGroups"),
    }
}

fn zpa(docs: &Documents) -> Result<ZpaConfig, Unreadable> {
    if !docs.has(Product::Zpa) {
        return Err(Unreadable {
            what: "ZPA configuration".into(),
            causes: vec!["no ZPA answer was read".into()],
        });
    }
    let segments = items(docs, Endpoint::ZpaSegments)?
        .into_iter()
        .map(|v| Segment {
            id: id(v),
            name: name(v),
            enabled: flag(v, "enabled").unwrap_or(false),
            ip_anchored: flag(v, "ipAnchored").unwrap_or(false),
            domains: array(v, "domainNames")
                .iter()
                .filter_map(|d| d.as_str().map(str::to_string))
                .collect(),
            tcp_ports: tcp_ports(v),
            segment_group_id: text(v, "segmentGroupId").filter(|s| !s.is_empty()),
            server_groups: refs(v, "serverGroups"),
            bypass_type: text(v, "bypassType").filter(|s| !s.is_empty()),
            // `doubleEncrypt` absent is its default, off; the others decide a pass.
            double_encrypt: flag(v, "doubleEncrypt").unwrap_or(false),
            missing: absent(v, &["enabled", "ipAnchored", "bypassType"]),
        })
        .collect();
    let segment_groups = items(docs, Endpoint::ZpaSegmentGroups)?
        .into_iter()
        .map(|v| SegmentGroup {
            id: id(v),
            name: name(v),
            enabled: flag(v, "enabled").unwrap_or(false),
        })
        .collect();
    let server_groups = items(docs, Endpoint::ZpaServerGroups)?
        .into_iter()
        .map(|v| ServerGroup {
            id: id(v),
            name: name(v),
            enabled: flag(v, "enabled").unwrap_or(false),
            connector_groups: refs(v, "appConnectorGroups"),
        })
        .collect();
    let groups = items(docs, Endpoint::ZpaConnectorGroups)?;
    let connector_groups = groups
        .iter()
        .map(|v| ConnectorGroup {
            id: id(v),
            name: name(v),
            enabled: flag(v, "enabled").unwrap_or(false),
        })
        .collect();
    let mut connectors: Vec<Connector> = Vec::new();
    let connector = |v: &Value, group: Option<&str>| Connector {
        id: id(v),
        name: name(v),
        enabled: flag(v, "enabled").unwrap_or(false),
        group_id: text(v, "appConnectorGroupId")
            .or_else(|| group.map(str::to_string))
            .unwrap_or_default(),
        public_ip: text(v, "publicIp").filter(|s| !s.is_empty()),
        private_ip: text(v, "privateIp").filter(|s| !s.is_empty()),
        control_channel: match text(v, "controlChannelStatus")
            .or_else(|| {
                v.get("assistantVersion")
                    .and_then(|a| text(a, "ctrlChannelStatus"))
            })
            .as_deref()
        {
            Some("ZPN_STATUS_AUTHENTICATED") => ChannelStatus::Authenticated,
            Some("ZPN_STATUS_DISCONNECTED") => ChannelStatus::Disconnected,
            other => ChannelStatus::Other(other.unwrap_or_default().to_string()),
        },
    };
    for v in items(docs, Endpoint::ZpaConnectors)? {
        connectors.push(connector(v, None));
    }
    // Connector groups embed their connectors too; those the list lacked are kept.
    for g in &groups {
        let gid = id(g);
        for c in array(g, "connectors") {
            let c = connector(c, Some(&gid));
            if !connectors.iter().any(|k| k.id == c.id) {
                connectors.push(c);
            }
        }
    }
    let access_rules = items(docs, Endpoint::ZpaAccessRules)?
        .into_iter()
        .map(rule)
        .collect();
    let forwarding_rules = items(docs, Endpoint::ZpaForwardingRules)?
        .into_iter()
        .map(rule)
        .collect();
    Ok(ZpaConfig {
        segments,
        segment_groups,
        server_groups,
        connector_groups,
        connectors,
        access_rules,
        forwarding_rules,
    })
}

fn zia(docs: &Documents) -> Result<ZiaConfig, Unreadable> {
    if !docs.has(Product::Zia) {
        return Err(Unreadable {
            what: "ZIA configuration".into(),
            causes: vec!["no ZIA answer was read".into()],
        });
    }
    let gateways = items(docs, Endpoint::ZiaGateways)?
        .into_iter()
        .map(|v| {
            let n = name(v);
            ZiaGateway {
                id: id(v),
                predefined: flag(v, "readOnly").unwrap_or(false)
                    || PREDEFINED_GATEWAYS.contains(&n.as_str()),
                name: n,
                server_group: v.get("zpaServerGroup").map(external),
                app_segments: array(v, "zpaAppSegments").iter().map(external).collect(),
                kind: text(v, "type").map(|t| GatewayKind::parse(&t)),
            }
        })
        .collect();
    let forwarding_rules = items(docs, Endpoint::ZiaForwardingRules)?
        .into_iter()
        .map(|v| {
            let n = name(v);
            let parsed: Option<i64> = text(v, "order").and_then(|s| s.trim().parse().ok());
            let order = parsed.unwrap_or(i64::MAX);
            let mut missing = absent(v, &["state"]);
            if parsed.is_none() {
                missing.push("order".into());
            }
            ZiaForwardingRule {
                id: id(v),
                predefined: order < 0 || PREDEFINED_RULES.contains(&n.as_str()),
                name: n,
                order,
                enabled: text(v, "state").as_deref() == Some("ENABLED"),
                missing,
                rule_type: text(v, "type").map_or(RuleType::Forwarding, |t| RuleType::parse(&t)),
                method: ForwardMethod::parse(&text(v, "forwardMethod").unwrap_or_default()),
                gateway: v.get("zpaGateway").map(|g| ObjRef {
                    id: id(g),
                    name: name(g),
                }),
                app_segments: array(v, "zpaAppSegments").iter().map(external).collect(),
                trust: criteria(v, &TRUST_FIELDS),
                destinations: criteria(v, &DESTINATION_FIELDS),
            }
        })
        .collect();
    let status = items(docs, Endpoint::ZiaStatus)?;
    let activation = match status.first().and_then(|v| text(v, "status")).as_deref() {
        Some("ACTIVE") => Activation::Active,
        Some("PENDING") => Activation::Pending,
        Some("INPROGRESS") => Activation::InProgress,
        None | Some("") => Activation::Unknown,
        Some(other) => Activation::Other(other.to_string()),
    };
    Ok(ZiaConfig {
        gateways,
        forwarding_rules,
        activation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recorded_segment_parses_with_string_ids_and_both_port_forms() {
        let mut docs = Documents::default();
        docs.insert(
            Endpoint::ZpaSegments,
            1,
            json!({"totalPages":"1","totalCount":"1","list":[{"id":"216196257331404639","domainNames":["a.example"],
              "name":"seg","serverGroups":[{"id":"216196257331404638","name":"sg"}],"enabled":true,
              "tcpPortRanges":["9001","9001","80","80"],"tcpPortRange":[{"from":"9001","to":"9001"}],
              "ipAnchored":false,"bypassType":"NEVER","segmentGroupId":"216196257331404637"}]}),
        );
        for e in [
            Endpoint::ZpaSegmentGroups,
            Endpoint::ZpaServerGroups,
            Endpoint::ZpaConnectorGroups,
            Endpoint::ZpaConnectors,
            Endpoint::ZpaAccessRules,
            Endpoint::ZpaForwardingRules,
        ] {
            docs.insert(e, 1, json!({"totalPages":"0","totalCount":"0"}));
        }
        let zpa = tenant(&docs).zpa.unwrap();
        let s = &zpa.segments[0];
        assert_eq!(s.id, "216196257331404639");
        assert_eq!(s.server_groups[0].id, "216196257331404638");
        assert_eq!(
            s.tcp_ports,
            vec![
                PortRange {
                    from: 9001,
                    to: 9001
                },
                PortRange { from: 80, to: 80 }
            ]
        );
    }

    #[test]
    fn a_missing_endpoint_makes_its_side_unreadable() {
        let mut docs = Documents::default();
        docs.insert(Endpoint::ZpaSegments, 1, json!({"list": []}));
        let t = tenant(&docs);
        let err = t.zpa.unwrap_err();
        assert_eq!(err.what, "ZPA segment groups");
        assert_eq!(t.zia.unwrap_err().what, "ZIA configuration");
    }

    #[test]
    fn a_zia_page_that_is_not_an_array_is_unreadable() {
        let mut docs = Documents::default();
        docs.insert(Endpoint::ZiaGateways, 1, json!({"code": "oops"}));
        docs.insert(Endpoint::ZiaForwardingRules, 1, json!([]));
        docs.insert(Endpoint::ZiaStatus, 1, json!({"status": "ACTIVE"}));
        assert!(tenant(&docs).zia.unwrap_err().causes[0].contains("not a JSON array"));
    }

    fn zpa_docs(segments: Value, access: Value) -> Documents {
        let mut docs = Documents::default();
        docs.insert(Endpoint::ZpaSegments, 1, segments);
        docs.insert(Endpoint::ZpaAccessRules, 1, access);
        for e in [
            Endpoint::ZpaSegmentGroups,
            Endpoint::ZpaServerGroups,
            Endpoint::ZpaConnectorGroups,
            Endpoint::ZpaConnectors,
            Endpoint::ZpaForwardingRules,
        ] {
            // An empty page as ZPA answers it: counts, no `list`.
            docs.insert(e, 1, json!({"totalPages": "0", "totalCount": "0"}));
        }
        docs
    }

    #[test]
    fn fields_the_judge_needs_are_named_when_absent_and_defaults_never_stand_in() {
        let docs = zpa_docs(
            json!({"totalPages": 1, "list": [
                {"id": "216196257331404639", "name": "bare", "domainNames": ["login.windows.net"]},
                {"id": "216196257331404640", "name": "full", "enabled": "true", "ipAnchored": "1",
                 "bypassType": "NEVER", "unknownFutureField": {"x": 1}}
            ]}),
            // A bare array is one page (Zscaler's SDK accepts it).
            json!([
                {"id": "1", "name": "no order", "action": "ALLOW", "disabled": "0"},
                {"id": "2", "name": "Default_Rule", "action": "DENY", "defaultRule": true},
                {"id": "3", "name": "ordered", "ruleOrder": " 7 ", "action": "ALLOW",
                 "conditions": [{"operator": "OR", "negated": "false", "operands": [
                    {"objectType": "APP", "values": ["216196257331404639", 216196257331404640_u64]},
                    {"objectType": "CLIENT_TYPE", "entryValues": [{"lhs": "id", "rhs": "zpn_client_type_ip_anchoring"}]}
                 ]}]}
            ]),
        );
        let zpa = tenant(&docs).zpa.unwrap();
        assert_eq!(
            zpa.segments[0].missing,
            ["enabled", "ipAnchored", "bypassType"]
        );
        assert!(!zpa.segments[0].ip_anchored);
        assert!(zpa.segments[1].missing.is_empty());
        assert!(zpa.segments[1].enabled && zpa.segments[1].ip_anchored);
        let rules = &zpa.access_rules;
        assert_eq!(rules[0].missing, ["ruleOrder"]);
        assert!(
            rules[1].missing.is_empty(),
            "the default rule needs no order"
        );
        assert_eq!(rules[2].order, 7);
        let ops: Vec<(&ObjectType, &str)> = rules[2].conditions[0]
            .operands
            .iter()
            .map(|o| (&o.object_type, o.rhs.as_str()))
            .collect();
        assert_eq!(
            ops,
            [
                (&ObjectType::App, "216196257331404639"),
                (&ObjectType::App, "216196257331404640"),
                (&ObjectType::ClientType, "zpn_client_type_ip_anchoring"),
            ]
        );
    }

    #[test]
    fn zia_numbers_beyond_2_53_stay_exact_and_absent_state_or_status_are_named() {
        let mut docs = Documents::default();
        docs.insert(
            Endpoint::ZiaGateways,
            1,
            serde_json::from_str(
                r#"[{"id": 9007199254740993, "name": "gw", "zpaTenantId": 216196257331281920,
                     "zpaServerGroup": {"id": 0, "name": "sg", "externalId": 216196257331370169}}]"#,
            )
            .unwrap(),
        );
        docs.insert(
            Endpoint::ZiaForwardingRules,
            1,
            json!([{"id": 1, "name": "no state", "order": "3", "forwardMethod": "ZPA"},
                   {"id": 2, "name": "no order", "state": "ENABLED"}]),
        );
        docs.insert(Endpoint::ZiaStatus, 1, json!({"code": "x"}));
        let zia = tenant(&docs).zia.unwrap();
        assert_eq!(zia.gateways[0].id, "9007199254740993");
        assert_eq!(
            zia.gateways[0]
                .server_group
                .as_ref()
                .unwrap()
                .external_id
                .as_deref(),
            Some("216196257331370169")
        );
        assert_eq!(zia.forwarding_rules[0].missing, ["state"]);
        assert!(!zia.forwarding_rules[0].enabled);
        assert_eq!(zia.forwarding_rules[0].order, 3);
        assert_eq!(zia.forwarding_rules[1].missing, ["order"]);
        assert!(zia.forwarding_rules[1].enabled);
        assert_eq!(zia.activation, Activation::Unknown);
    }
}
