//! The pre-change gate: a Terraform plan (`terraform show -json`) of the zscaler/zpa and
//! zscaler/zia providers, its planned state merged over the live or snapshot tenant for the
//! objects it does not touch, so the audit judges the configuration as it will be after apply.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::judge::AuditCheck;
use super::model::*;
use crate::guide::GuideStep;
use crate::outcome::Status;

/// Why a plan cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read the plan {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the plan {} is not JSON", .path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the plan {} is not `terraform show -json` output: it has no resource_changes", .path.display())]
    Shape { path: PathBuf },
}

/// What the plan changed in the tenant, one line per resource, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub changes: Vec<String>,
    /// The application segments the plan creates or updates, so that a check on one names
    /// the resource that changes it.
    pub segments: Vec<PlannedSegment>,
}

/// An application segment as the plan leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedSegment {
    /// The segment's id in the tenant (or `(known after apply: ADDRESS)`).
    pub id: String,
    /// The resource's address, such as `zpa_application_segment.o365`.
    pub address: String,
    /// The forms of the TCP ranges the plan changes (the ones the provider sends).
    pub port_forms: Vec<PortForm>,
    /// Whether the plan changes `domain_names`.
    pub domains_changed: bool,
}

impl Applied {
    /// Names the planned resource in each segment port or domain check that does not pass, so
    /// a failing gate says which resource (and which form of its ports) breaks the link.
    pub fn attribute(&self, checks: &mut [AuditCheck]) {
        for c in checks.iter_mut().filter(|c| c.status != Status::Pass) {
            let Some(id) = c.object.as_ref().map(|o| o.id.as_str()) else {
                continue;
            };
            let Some(seg) = self.segments.iter().find(|s| s.id == id) else {
                continue;
            };
            let what = match c.guide_step {
                GuideStep::SegmentPorts if !seg.port_forms.is_empty() => seg
                    .port_forms
                    .iter()
                    .map(|f| format!("`{}`", f.attribute()))
                    .collect::<Vec<_>>()
                    .join(" and "),
                GuideStep::SegmentDomains if seg.domains_changed => "`domain_names`".to_string(),
                _ => continue,
            };
            c.found = format!("{}, as planned by {} ({what})", c.found, seg.address);
        }
    }
}

/// Reads `terraform show -json` output.
pub fn read(path: &Path) -> Result<Value, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let v: Value = serde_json::from_str(&text).map_err(|source| PlanError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    if !v.get("resource_changes").is_some_and(Value::is_array) {
        return Err(PlanError::Shape {
            path: path.to_path_buf(),
        });
    }
    Ok(v)
}

fn s(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(x) => Some(x.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn b(v: &Value, key: &str) -> Option<bool> {
    match v.get(key)? {
        Value::Bool(x) => Some(*x),
        Value::String(x) => Some(x == "true"),
        _ => None,
    }
}

fn arr<'v>(v: &'v Value, key: &str) -> &'v [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items
            .iter()
            .filter_map(|i| match i {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// `block { id = [..] }` lists: every id.
fn block_ids(v: &Value, key: &str) -> Vec<String> {
    arr(v, key)
        .iter()
        .flat_map(|blk| blk.get("id").map(strings).unwrap_or_default())
        .collect()
}

/// The two forms of a segment's TCP ranges in the zpa provider's schema, both Optional and
/// Computed: a plan changes the one the configuration sets and carries the other's prior value,
/// and the provider sends only the changed form, which ZPA then applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortForm {
    /// `tcp_port_range { from = .., to = .. }` blocks.
    Blocks,
    /// The flat `tcp_port_ranges = ["from", "to", ...]` list.
    Flat,
}

impl PortForm {
    const BOTH: [PortForm; 2] = [PortForm::Blocks, PortForm::Flat];

    /// The attribute's name in the provider's schema.
    pub fn attribute(self) -> &'static str {
        match self {
            PortForm::Blocks => "tcp_port_range",
            PortForm::Flat => "tcp_port_ranges",
        }
    }

    /// The ranges in this form, sorted; `None` when the attribute is absent or null (not
    /// known, or not set).
    fn ranges(self, v: &Value) -> Option<Vec<PortRange>> {
        let p = |x: &str| x.trim().parse::<u16>().ok();
        let value = v.get(self.attribute()).filter(|x| !x.is_null())?;
        let mut out = Vec::new();
        match self {
            PortForm::Blocks => {
                for r in value.as_array().map(Vec::as_slice).unwrap_or(&[]) {
                    if let Some(from) = s(r, "from").as_deref().and_then(p) {
                        let to = s(r, "to").as_deref().and_then(p).unwrap_or(from);
                        out.push(PortRange { from, to });
                    }
                }
            }
            PortForm::Flat => {
                let flat: Vec<Option<u16>> = strings(value).iter().map(|x| p(x)).collect();
                for pair in flat.chunks(2) {
                    if let [Some(from), Some(to)] = pair {
                        out.push(PortRange {
                            from: *from,
                            to: *to,
                        });
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        Some(out)
    }

    /// Whether `after_unknown` marks this form (or part of it) as known only after apply.
    fn unknown(self, after_unknown: &Value) -> bool {
        fn any_true(v: &Value) -> bool {
            match v {
                Value::Bool(b) => *b,
                Value::Array(items) => items.iter().any(any_true),
                Value::Object(m) => m.values().any(any_true),
                _ => false,
            }
        }
        after_unknown.get(self.attribute()).is_some_and(any_true)
    }
}

/// What a plan does to a segment's TCP ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PlannedPorts {
    /// Neither form changes: the provider sends no ports, the tenant keeps its own.
    Unchanged,
    /// The ranges after apply, from the forms the plan changes (both: only what both cover).
    Set {
        ranges: Vec<PortRange>,
        forms: Vec<PortForm>,
    },
    /// No known form changes but one is known only after apply: the ports cannot be told.
    Unknown,
}

/// The ports a segment has after apply, judged on the form the plan changes, never on a prior
/// value the other form carries.
fn planned_ports(before: &Value, after: &Value, after_unknown: &Value) -> PlannedPorts {
    let changed: Vec<(PortForm, Vec<PortRange>)> = PortForm::BOTH
        .into_iter()
        .filter_map(|f| {
            let now = f.ranges(after)?;
            (now != f.ranges(before).unwrap_or_default()).then_some((f, now))
        })
        .collect();
    match changed.as_slice() {
        [] if PortForm::BOTH.iter().any(|f| f.unknown(after_unknown)) => PlannedPorts::Unknown,
        [] => PlannedPorts::Unchanged,
        [(form, ranges)] => PlannedPorts::Set {
            ranges: ranges.clone(),
            forms: vec![*form],
        },
        [(f1, a), (f2, b), ..] => {
            // Both changed and both are sent: a port counts only if both cover it, so a
            // removal in either form fails.
            let mut ranges: Vec<PortRange> = a
                .iter()
                .flat_map(|x| {
                    b.iter().filter_map(move |y| {
                        let (from, to) = (x.from.max(y.from), x.to.min(y.to));
                        (from <= to).then_some(PortRange { from, to })
                    })
                })
                .collect();
            ranges.sort();
            ranges.dedup();
            PlannedPorts::Set {
                ranges,
                forms: vec![*f1, *f2],
            }
        }
    }
}

fn conditions(after: &Value) -> Vec<Condition> {
    arr(after, "conditions")
        .iter()
        .map(|c| Condition {
            operator: match s(c, "operator").as_deref() {
                Some("AND") => Operator::And,
                _ => Operator::Or,
            },
            negated: b(c, "negated").unwrap_or(false),
            operands: arr(c, "operands")
                .iter()
                .flat_map(|o| {
                    let t = match s(o, "object_type").as_deref() {
                        Some("APP") => ObjectType::App,
                        Some("APP_GROUP") => ObjectType::AppGroup,
                        Some("CLIENT_TYPE") => ObjectType::ClientType,
                        other => ObjectType::Other(other.unwrap_or_default().to_string()),
                    };
                    let mut values: Vec<String> = o.get("values").map(strings).unwrap_or_default();
                    values.extend(s(o, "rhs"));
                    values.extend(arr(o, "entry_values").iter().filter_map(|e| s(e, "rhs")));
                    values
                        .into_iter()
                        .map(move |rhs| Operand {
                            object_type: t.clone(),
                            rhs,
                        })
                        .collect::<Vec<_>>()
                })
                .collect(),
        })
        .collect()
}

fn ext_refs(v: &Value, key: &str) -> Vec<ExternalRef> {
    arr(v, key)
        .iter()
        .map(|r| ExternalRef {
            name: s(r, "name").unwrap_or_default(),
            external_id: s(r, "external_id").filter(|x| !x.is_empty()),
        })
        .collect()
}

/// The resource's id in the tenant: from the state before, else after; else its name.
fn key(before: &Value, after: &Value) -> (Option<String>, Option<String>) {
    let id = s(before, "id").or_else(|| s(after, "id"));
    let name = s(after, "name").or_else(|| s(before, "name"));
    (id, name)
}

fn find<T>(
    items: &mut [T],
    id: &Option<String>,
    name: &Option<String>,
    get: impl Fn(&T) -> (&str, &str),
) -> Option<usize> {
    items.iter().position(|x| {
        let (xid, xname) = get(x);
        id.as_deref().is_some_and(|i| i == xid) || (id.is_none() && name.as_deref() == Some(xname))
    })
}

/// Merges the plan's resource changes over `tenant`.
pub fn apply(tenant: &mut Tenant, plan: &Value) -> Applied {
    let mut applied = Applied::default();
    let mut planned_segments = Vec::new();
    for rc in arr(plan, "resource_changes") {
        let Some(kind) = s(rc, "type") else { continue };
        let address = s(rc, "address").unwrap_or_else(|| kind.clone());
        let change = rc.get("change").cloned().unwrap_or(Value::Null);
        let actions = change.get("actions").map(strings).unwrap_or_default();
        if actions.iter().all(|a| a == "no-op" || a == "read") {
            continue;
        }
        let before = change.get("before").cloned().unwrap_or(Value::Null);
        let after = change.get("after").cloned().unwrap_or(Value::Null);
        let after_unknown = change.get("after_unknown").cloned().unwrap_or(Value::Null);
        let delete =
            actions.iter().any(|a| a == "delete") && !actions.iter().any(|a| a == "create");
        let (id, name) = key(&before, &after);
        let new_id = || {
            id.clone()
                .unwrap_or_else(|| format!("(known after apply: {address})"))
        };
        let touched = match kind.as_str() {
            "zpa_application_segment" => tenant.zpa.as_mut().ok().map(|zpa| {
                let at = find(&mut zpa.segments, &id, &name, |x| (&x.id, &x.name));
                if delete {
                    if let Some(i) = at {
                        zpa.segments.remove(i);
                    }
                    return;
                }
                let mut seg = at.map(|i| zpa.segments[i].clone()).unwrap_or(Segment {
                    id: new_id(),
                    name: name.clone().unwrap_or_default(),
                    enabled: true,
                    ip_anchored: false,
                    domains: vec![],
                    tcp_ports: vec![],
                    segment_group_id: None,
                    server_groups: vec![],
                    bypass_type: None,
                    double_encrypt: false,
                    missing: vec![],
                });
                if let Some(n) = s(&after, "name") {
                    seg.name = n;
                }
                if let Some(e) = b(&after, "enabled") {
                    seg.enabled = e;
                    seg.missing.retain(|f| f != "enabled");
                }
                if let Some(a) = b(&after, "ip_anchored") {
                    seg.ip_anchored = a;
                    seg.missing.retain(|f| f != "ipAnchored");
                }
                let mut planned = PlannedSegment {
                    id: seg.id.clone(),
                    address: address.clone(),
                    port_forms: Vec::new(),
                    domains_changed: false,
                };
                if let Some(d) = after.get("domain_names").filter(|d| !d.is_null()) {
                    let d = strings(d);
                    planned.domains_changed =
                        before.get("domain_names").map(strings).unwrap_or_default() != d;
                    seg.domains = d;
                }
                match planned_ports(&before, &after, &after_unknown) {
                    PlannedPorts::Unchanged => {}
                    PlannedPorts::Set { ranges, forms } => {
                        seg.tcp_ports = ranges;
                        seg.missing.retain(|f| f != "tcpPortRange");
                        planned.port_forms = forms;
                    }
                    PlannedPorts::Unknown => {
                        seg.tcp_ports = Vec::new();
                        seg.missing.push("tcpPortRange".into());
                    }
                }
                planned_segments.push(planned);
                if let Some(g) = s(&after, "segment_group_id") {
                    seg.segment_group_id = Some(g);
                }
                if after.get("server_groups").is_some() {
                    seg.server_groups = block_ids(&after, "server_groups")
                        .into_iter()
                        .map(|id| ObjRef {
                            id,
                            name: String::new(),
                        })
                        .collect();
                }
                if let Some(t) = s(&after, "bypass_type") {
                    seg.bypass_type = Some(t);
                    seg.missing.retain(|f| f != "bypassType");
                }
                if let Some(d) = b(&after, "double_encrypt") {
                    seg.double_encrypt = d;
                }
                match at {
                    Some(i) => zpa.segments[i] = seg,
                    None => zpa.segments.push(seg),
                }
            }),
            "zpa_server_group" => tenant.zpa.as_mut().ok().map(|zpa| {
                let at = find(&mut zpa.server_groups, &id, &name, |x| (&x.id, &x.name));
                if delete {
                    if let Some(i) = at {
                        zpa.server_groups.remove(i);
                    }
                    return;
                }
                let mut g = at
                    .map(|i| zpa.server_groups[i].clone())
                    .unwrap_or(ServerGroup {
                        id: new_id(),
                        name: name.clone().unwrap_or_default(),
                        enabled: true,
                        connector_groups: vec![],
                    });
                if let Some(e) = b(&after, "enabled") {
                    g.enabled = e;
                }
                if after.get("app_connector_groups").is_some() {
                    g.connector_groups = block_ids(&after, "app_connector_groups")
                        .into_iter()
                        .map(|id| ObjRef {
                            id,
                            name: String::new(),
                        })
                        .collect();
                }
                match at {
                    Some(i) => zpa.server_groups[i] = g,
                    None => zpa.server_groups.push(g),
                }
            }),
            "zpa_app_connector_group" => tenant.zpa.as_mut().ok().map(|zpa| {
                let at = find(&mut zpa.connector_groups, &id, &name, |x| (&x.id, &x.name));
                if delete {
                    if let Some(i) = at {
                        zpa.connector_groups.remove(i);
                    }
                    return;
                }
                let mut g = at
                    .map(|i| zpa.connector_groups[i].clone())
                    .unwrap_or(ConnectorGroup {
                        id: new_id(),
                        name: name.clone().unwrap_or_default(),
                        enabled: true,
                    });
                if let Some(e) = b(&after, "enabled") {
                    g.enabled = e;
                }
                match at {
                    Some(i) => zpa.connector_groups[i] = g,
                    None => zpa.connector_groups.push(g),
                }
            }),
            "zpa_policy_access_rule"
            | "zpa_policy_access_rule_v2"
            | "zpa_policy_forwarding_rule"
            | "zpa_policy_forwarding_rule_v2" => tenant.zpa.as_mut().ok().map(|zpa| {
                let rules = if kind.starts_with("zpa_policy_access") {
                    &mut zpa.access_rules
                } else {
                    &mut zpa.forwarding_rules
                };
                let at = find(rules, &id, &name, |x| (&x.id, &x.name));
                if delete {
                    if let Some(i) = at {
                        rules.remove(i);
                    }
                    return;
                }
                let last = rules
                    .iter()
                    .filter(|r| !r.default_rule && !r.missing.iter().any(|m| m == "ruleOrder"))
                    .map(|r| r.order)
                    .max()
                    .unwrap_or(0);
                let mut r = at.map(|i| rules[i].clone()).unwrap_or(PolicyRule {
                    id: new_id(),
                    name: name.clone().unwrap_or_default(),
                    // A new rule goes last unless the plan orders it.
                    order: last.saturating_add(1),
                    disabled: false,
                    action: RuleAction::Other(String::new()),
                    operator: Operator::And,
                    conditions: vec![],
                    default_rule: false,
                    connector_groups: vec![],
                    missing: vec![],
                });
                if let Some(a) = s(&after, "action") {
                    r.action = RuleAction::parse(&a);
                }
                if let Some(o) = s(&after, "rule_order").and_then(|o| o.parse().ok()) {
                    r.order = o;
                    r.missing.retain(|f| f != "ruleOrder");
                }
                if after.get("conditions").is_some() {
                    r.conditions = conditions(&after);
                }
                if let Some(op) = s(&after, "operator") {
                    r.operator = if op == "OR" {
                        Operator::Or
                    } else {
                        Operator::And
                    };
                }
                match at {
                    Some(i) => rules[i] = r,
                    None => rules.push(r),
                }
            }),
            "zia_forwarding_control_zpa_gateway" => tenant.zia.as_mut().ok().map(|zia| {
                let at = find(&mut zia.gateways, &id, &name, |x| (&x.id, &x.name));
                if delete {
                    if let Some(i) = at {
                        zia.gateways.remove(i);
                    }
                    return;
                }
                let mut g = at.map(|i| zia.gateways[i].clone()).unwrap_or(ZiaGateway {
                    id: new_id(),
                    name: name.clone().unwrap_or_default(),
                    server_group: None,
                    app_segments: vec![],
                    kind: None,
                    predefined: false,
                });
                if let Some(t) = s(&after, "type") {
                    g.kind = Some(GatewayKind::parse(&t));
                }
                if after.get("zpa_server_group").is_some() {
                    g.server_group = ext_refs(&after, "zpa_server_group").into_iter().next();
                }
                if after.get("zpa_app_segments").is_some() {
                    g.app_segments = ext_refs(&after, "zpa_app_segments");
                }
                match at {
                    Some(i) => zia.gateways[i] = g,
                    None => zia.gateways.push(g),
                }
            }),
            "zia_forwarding_control_rule" => tenant.zia.as_mut().ok().map(|zia| {
                let at = find(&mut zia.forwarding_rules, &id, &name, |x| (&x.id, &x.name));
                if delete {
                    if let Some(i) = at {
                        zia.forwarding_rules.remove(i);
                    }
                    return;
                }
                let mut r =
                    at.map(|i| zia.forwarding_rules[i].clone())
                        .unwrap_or(ZiaForwardingRule {
                            id: new_id(),
                            name: name.clone().unwrap_or_default(),
                            order: i64::MAX,
                            enabled: true,
                            rule_type: RuleType::Forwarding,
                            method: ForwardMethod::Other(String::new()),
                            gateway: None,
                            app_segments: vec![],
                            trust: vec![],
                            destinations: vec![],
                            predefined: false,
                            missing: vec![],
                        });
                if let Some(o) = s(&after, "order").and_then(|o| o.parse().ok()) {
                    r.order = o;
                    r.missing.retain(|f| f != "order");
                }
                if let Some(st) = s(&after, "state") {
                    r.enabled = st != "DISABLED";
                    r.missing.retain(|f| f != "state");
                }
                if let Some(t) = s(&after, "type") {
                    r.rule_type = RuleType::parse(&t);
                }
                if let Some(m) = s(&after, "forward_method") {
                    r.method = ForwardMethod::parse(&m);
                }
                if let Some(g) = arr(&after, "zpa_gateway").first() {
                    r.gateway = Some(ObjRef {
                        id: s(g, "id").unwrap_or_default(),
                        name: s(g, "name").unwrap_or_default(),
                    });
                }
                if after.get("zpa_app_segments").is_some() {
                    r.app_segments = ext_refs(&after, "zpa_app_segments");
                }
                match at {
                    Some(i) => zia.forwarding_rules[i] = r,
                    None => zia.forwarding_rules.push(r),
                }
            }),
            _ => None,
        };
        if touched.is_some() {
            applied
                .changes
                .push(format!("{address}: {}", actions.join(", ")));
        }
    }
    applied.segments = planned_segments;
    applied
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_update_replaces_the_planned_attributes_and_keeps_the_rest() {
        let mut t = Tenant {
            zpa: Ok(ZpaConfig {
                segments: vec![Segment {
                    id: "216196257331372698".into(),
                    name: "app03".into(),
                    enabled: true,
                    ip_anchored: true,
                    domains: vec!["login.windows.net".into()],
                    tcp_ports: vec![PortRange { from: 80, to: 80 }],
                    segment_group_id: Some("1".into()),
                    server_groups: vec![],
                    bypass_type: Some("NEVER".into()),
                    double_encrypt: false,
                    missing: vec![],
                }],
                ..ZpaConfig::default()
            }),
            zia: Err(Unreadable {
                what: "ZIA".into(),
                causes: vec![],
            }),
        };
        let plan = json!({"resource_changes": [
            {"address": "zpa_application_segment.o365", "type": "zpa_application_segment",
             "change": {"actions": ["update"], "before": {"id": "216196257331372698", "name": "app03"},
                        "after": {"id": "216196257331372698", "name": "app03", "domain_names": ["login.microsoftonline.com"],
                                  "tcp_port_range": [{"from": "443", "to": "443"}]}}},
            {"address": "zpa_server_group.x", "type": "zpa_server_group",
             "change": {"actions": ["no-op"], "before": {}, "after": {"enabled": false}}}]});
        let applied = apply(&mut t, &plan);
        assert_eq!(applied.changes, ["zpa_application_segment.o365: update"]);
        let seg = &t.zpa.as_ref().unwrap().segments[0];
        assert_eq!(seg.domains, ["login.microsoftonline.com"]);
        assert_eq!(seg.tcp_ports, [PortRange { from: 443, to: 443 }]);
        assert!(seg.ip_anchored);
        assert_eq!(seg.segment_group_id.as_deref(), Some("1"));
    }

    fn both_forms(blocks: &[(u16, u16)], flat: &[u16]) -> Value {
        json!({
            "tcp_port_range": blocks.iter().map(|(f, t)| json!({"from": f.to_string(), "to": t.to_string()})).collect::<Vec<_>>(),
            "tcp_port_ranges": flat.iter().map(u16::to_string).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn the_form_the_plan_changes_decides_the_ports() {
        let before = both_forms(&[(80, 80), (443, 443)], &[80, 80, 443, 443]);
        let none = json!({});
        // The blocks change; the flat list carries its prior value, which is not sent.
        let after = both_forms(&[(443, 443)], &[80, 80, 443, 443]);
        assert_eq!(
            planned_ports(&before, &after, &none),
            PlannedPorts::Set {
                ranges: vec![PortRange { from: 443, to: 443 }],
                forms: vec![PortForm::Blocks]
            }
        );
        // The mirror.
        let after = both_forms(&[(80, 80), (443, 443)], &[443, 443]);
        assert_eq!(
            planned_ports(&before, &after, &none),
            PlannedPorts::Set {
                ranges: vec![PortRange { from: 443, to: 443 }],
                forms: vec![PortForm::Flat]
            }
        );
        // Reordered, not changed: the tenant keeps its own ports.
        let after = both_forms(&[(443, 443), (80, 80)], &[443, 443, 80, 80]);
        assert_eq!(
            planned_ports(&before, &after, &none),
            PlannedPorts::Unchanged
        );
        // Both change: a port counts only where both forms cover it.
        let after = both_forms(&[(1, 500)], &[80, 80, 8443, 8443]);
        assert_eq!(
            planned_ports(&before, &after, &none),
            PlannedPorts::Set {
                ranges: vec![PortRange { from: 80, to: 80 }],
                forms: vec![PortForm::Blocks, PortForm::Flat]
            }
        );
        // A create: the configured form is known, the other only after apply.
        let after =
            json!({"tcp_port_range": [{"from": "80", "to": "80"}, {"from": "443", "to": "443"}]});
        assert_eq!(
            planned_ports(&Value::Null, &after, &json!({"tcp_port_ranges": true})),
            PlannedPorts::Set {
                ranges: vec![
                    PortRange { from: 80, to: 80 },
                    PortRange { from: 443, to: 443 }
                ],
                forms: vec![PortForm::Blocks]
            }
        );
        // The configured form known only after apply: the ports cannot be told.
        let after = json!({"tcp_port_ranges": ["80", "80", "443", "443"]});
        let before = json!({"tcp_port_ranges": ["80", "80", "443", "443"], "tcp_port_range": []});
        assert_eq!(
            planned_ports(&before, &after, &json!({"tcp_port_range": true})),
            PlannedPorts::Unknown
        );
    }

    #[test]
    fn ports_known_only_after_apply_make_the_port_checks_errors() {
        let mut t = Tenant {
            zpa: Ok(ZpaConfig {
                segments: vec![Segment {
                    id: "1".into(),
                    name: "o365".into(),
                    enabled: true,
                    ip_anchored: true,
                    domains: vec!["login.windows.net".into()],
                    tcp_ports: vec![
                        PortRange { from: 80, to: 80 },
                        PortRange { from: 443, to: 443 },
                    ],
                    segment_group_id: None,
                    server_groups: vec![],
                    bypass_type: Some("NEVER".into()),
                    double_encrypt: false,
                    missing: vec![],
                }],
                ..ZpaConfig::default()
            }),
            zia: Err(Unreadable {
                what: "ZIA".into(),
                causes: vec![],
            }),
        };
        let plan = json!({"resource_changes": [
            {"address": "zpa_application_segment.o365", "type": "zpa_application_segment",
             "change": {"actions": ["update"],
                        "before": {"id": "1", "name": "o365", "tcp_port_range": [{"from": "80", "to": "80"}]},
                        "after": {"id": "1", "name": "o365"},
                        "after_unknown": {"tcp_port_range": true}}}]});
        apply(&mut t, &plan);
        let req = super::super::judge::Requirements {
            login_hosts: vec!["login.windows.net".into()],
            ..Default::default()
        };
        let checks = super::super::judge::judge(&t, &req);
        for port in [80, 443] {
            let c = checks
                .iter()
                .find(|c| c.name == format!("segment o365: TCP port {port}"))
                .unwrap();
            assert_eq!(c.status, Status::Error, "{c:#?}");
        }
    }
}
