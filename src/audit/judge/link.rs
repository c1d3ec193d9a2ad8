//! One link of the guide's chain, judged: the check a link gives, the object it names, what the
//! guide requires, and what the ZPA and ZIA halves share (policy rules evaluated as ZPA does,
//! a host's coverage by a segment's domains, the chain the ZPA side leaves for the ZIA side).

use serde::{Deserialize, Serialize};

use crate::audit::model::*;
use crate::cause::Cause;
use crate::guide::GuideStep;
use crate::outcome::Status;
use crate::scenario::model::AnchorSet;

/// The client type "ZIA Service Edge": what SIPA traffic presents to ZPA.
pub const CLIENT_TYPE_SIPA: &str = "zpn_client_type_ip_anchoring";
/// "ZIA Inspection": a different client type, mistaken for the SIPA one.
pub const CLIENT_TYPE_ZIA_INSPECTION: &str = "zpn_client_type_zia_inspection";
/// "Client Connector".
pub const CLIENT_TYPE_ZAPP: &str = "zpn_client_type_zapp";

/// The object a check is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// What kind of object, such as `ZPA application segment`.
    pub kind: String,
    pub name: String,
    pub id: String,
}

/// One link of the chain, judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCheck {
    /// Stable name, such as `segment O365 SIPA: TCP port 80`.
    pub name: String,
    pub status: Status,
    /// The object judged; none when the object the guide requires does not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Subject>,
    /// What the guide requires.
    pub required: String,
    /// What the tenant has.
    pub found: String,
    /// Where in the admin portal to fix it.
    pub fix: String,
    /// Why the link is not as the guide requires, as a value with a stable id (what reports
    /// group by); absent in audits written before causes were recorded.
    #[serde(default)]
    pub cause: Cause,
    /// The cause's guide step, kept beside it for readers of older audits.
    pub guide_step: GuideStep,
    /// Why the harness could not decide (for errors), outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// What the guide (and the scenario) require of the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirements {
    /// The login hosts that must be anchored.
    pub login_hosts: Vec<String>,
    /// The TCP ports that must be anchored.
    pub ports: Vec<u16>,
    /// The App Connector IPs the scenario expects; empty when it leaves them to ZPA.
    pub anchors: AnchorSet,
}

impl Requirements {
    /// What a scenario requires: its login hosts, its ports and its expected anchors.
    pub fn of_scenario(s: &crate::scenario::model::Scenario) -> Requirements {
        Requirements {
            login_hosts: s
                .login
                .hosts
                .iter()
                .map(|h| h.as_str().to_string())
                .collect(),
            ports: s.login.ports.iter().map(|p| p.get()).collect(),
            anchors: s.anchors.clone(),
        }
    }
}

impl Default for Requirements {
    /// The guide's: the bundled Office 365 scenario's three login hosts on 80 and 443, no
    /// expected anchors.
    fn default() -> Self {
        Requirements::of_scenario(&crate::scenario::bundled_office365())
    }
}

pub(super) const FIX_SEGMENT: &str = "ZPA Admin Portal > Resources > Application Segments";
pub(super) const FIX_SEGMENT_GROUP: &str = "ZPA Admin Portal > Resources > Segment Groups";
pub(super) const FIX_SERVER_GROUP: &str = "ZPA Admin Portal > Resources > Server Groups";
pub(super) const FIX_CONNECTORS: &str =
    "ZPA Admin Portal > Infrastructure > App Connectors (and App Connector Groups)";
pub(super) const FIX_FORWARDING: &str = "ZPA Admin Portal > Policies > Client Forwarding Policy";
pub(super) const FIX_ACCESS: &str = "ZPA Admin Portal > Policies > Access Policy";
pub(super) const FIX_GATEWAY: &str = "ZIA Admin Portal > Administration > ZPA Gateway";
pub(super) const FIX_ZIA_RULE: &str = "ZIA Admin Portal > Policy > Forwarding Control";
pub(super) const FIX_ACTIVATION: &str =
    "ZIA Admin Portal > Activation: activate the pending changes";

pub(super) fn subject(kind: &str, name: &str, id: &str) -> Option<Subject> {
    Some(Subject {
        kind: kind.to_string(),
        name: name.to_string(),
        id: id.to_string(),
    })
}

pub(super) fn seg_subject(s: &Segment) -> Option<Subject> {
    subject("ZPA application segment", &s.name, &s.id)
}

pub(super) fn check(
    name: String,
    pass: bool,
    object: Option<Subject>,
    required: impl Into<String>,
    found: impl Into<String>,
    fix: impl Into<String>,
    cause: Cause,
) -> AuditCheck {
    AuditCheck {
        name,
        status: if pass { Status::Pass } else { Status::Fail },
        object,
        required: required.into(),
        found: found.into(),
        fix: fix.into(),
        cause,
        guide_step: cause.guide_step(),
        causes: Vec::new(),
        warnings: Vec::new(),
    }
}

pub(super) fn unreadable(u: &Unreadable) -> AuditCheck {
    AuditCheck {
        name: format!("read {}", u.what),
        status: Status::Error,
        object: None,
        required: format!("{} readable through the API (or a snapshot)", u.what),
        found: u
            .causes
            .first()
            .cloned()
            .unwrap_or_else(|| "unreadable".into()),
        fix: "the API credentials and route (see the causes); nothing about the tenant is decided"
            .into(),
        cause: Cause::AdminApiUnreadable,
        guide_step: Cause::AdminApiUnreadable.guide_step(),
        causes: u.causes.clone(),
        warnings: Vec::new(),
    }
}

/// Makes `c` an error when the answer lacked `field`: a default is never a pass (nor a
/// failure the tenant does not have).
pub(super) fn unless_missing(
    mut c: AuditCheck,
    missing: &[String],
    field: &str,
    what: &str,
) -> AuditCheck {
    if missing.iter().any(|m| m == field) {
        c.status = Status::Error;
        c.found = format!("the API answer of {what} lacks `{field}`");
        c.causes
            .push(format!("`{field}` absent from the answer of {what}"));
    }
    c
}

/// How a segment's domain list covers a login host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    Exact,
    /// Only through this wildcard entry.
    Wildcard(String),
    None,
}

/// Whether `domains` (as entered in a segment) covers `host`: exactly, or by a `*.suffix` entry
/// (ZPA also treats `.suffix` as a wildcard).
pub fn coverage(domains: &[String], host: &str) -> Coverage {
    let host = host.to_ascii_lowercase();
    if domains
        .iter()
        .any(|d| d.trim_end_matches('.').eq_ignore_ascii_case(&host))
    {
        return Coverage::Exact;
    }
    for d in domains {
        let d = d.trim_end_matches('.').to_ascii_lowercase();
        let suffix = d.strip_prefix('*').unwrap_or(&d);
        if suffix.starts_with('.') && host.ends_with(suffix) && host.len() > suffix.len() {
            return Coverage::Wildcard(d.clone());
        }
    }
    Coverage::None
}

/// How specifically a coverage names a host: an exact entry beats any wildcard, a longer
/// wildcard beats a shorter one (ZPA's most specific match).
pub fn specificity(c: &Coverage) -> usize {
    match c {
        Coverage::Exact => usize::MAX,
        Coverage::Wildcard(w) => w.trim_start_matches('*').len(),
        Coverage::None => 0,
    }
}

/// A request as ZPA's policy engine sees it.
#[derive(Debug, Clone, Copy)]
pub struct PolicyRequest<'a> {
    pub app_id: &'a str,
    pub app_group_id: Option<&'a str>,
    pub client_type: &'a str,
}

pub(super) fn operand_matches(o: &Operand, r: &PolicyRequest<'_>) -> bool {
    match &o.object_type {
        ObjectType::App => o.rhs == r.app_id,
        ObjectType::AppGroup => Some(o.rhs.as_str()) == r.app_group_id,
        ObjectType::ClientType => o.rhs == r.client_type,
        ObjectType::Other(_) => false,
    }
}

pub(super) fn condition_matches(c: &Condition, r: &PolicyRequest<'_>) -> bool {
    let hit = if c.operands.is_empty() {
        true
    } else {
        match c.operator {
            Operator::Or => c.operands.iter().any(|o| operand_matches(o, r)),
            Operator::And => c.operands.iter().all(|o| operand_matches(o, r)),
        }
    };
    hit != c.negated
}

/// Whether `rule` matches the request (disabled or not).
pub fn rule_matches(rule: &PolicyRule, r: &PolicyRequest<'_>) -> bool {
    if rule.conditions.is_empty() {
        return true;
    }
    match rule.operator {
        Operator::And => rule.conditions.iter().all(|c| condition_matches(c, r)),
        Operator::Or => rule.conditions.iter().any(|c| condition_matches(c, r)),
    }
}

/// The rules in the order ZPA evaluates them.
pub(super) fn ordered(rules: &[PolicyRule]) -> Vec<&PolicyRule> {
    let mut v: Vec<&PolicyRule> = rules.iter().collect();
    // The default rule is always last, whatever its order says.
    v.sort_by_key(|r| (r.default_rule, r.order));
    v
}

/// The first enabled rule matching the request, as ZPA picks it.
pub fn first_match<'r>(rules: &'r [PolicyRule], r: &PolicyRequest<'_>) -> Option<&'r PolicyRule> {
    ordered(rules)
        .into_iter()
        .find(|rule| !rule.disabled && rule_matches(rule, r))
}

/// An enabled rule matching the request whose answer lacked `ruleOrder`: the first match cannot
/// be told from the answer.
pub(super) fn unordered_match<'r>(
    rules: &'r [PolicyRule],
    r: &PolicyRequest<'_>,
) -> Option<&'r PolicyRule> {
    rules.iter().find(|rule| {
        !rule.disabled && rule.missing.iter().any(|m| m == "ruleOrder") && rule_matches(rule, r)
    })
}

pub(super) fn unordered_check(
    name: String,
    kind: &str,
    rule: &PolicyRule,
    required: &str,
    fix: &str,
    step: Cause,
) -> AuditCheck {
    AuditCheck {
        status: Status::Error,
        causes: vec![format!(
            "`ruleOrder` absent from the answer of rule `{}` (id {})",
            rule.name, rule.id
        )],
        ..check(
            name,
            false,
            rule_subject(kind, rule),
            required,
            format!(
                "rule `{}` (id {}) matches but the API answer gives no rule order: the first match cannot be decided",
                rule.name, rule.id
            ),
            format!("{fix} > {}", rule.name),
            step,
        )
    }
}

/// The client types a rule positively requires (its non-negated CLIENT_TYPE operands).
pub(super) fn client_types(rule: &PolicyRule) -> Vec<&str> {
    rule.conditions
        .iter()
        .filter(|c| !c.negated)
        .flat_map(|c| &c.operands)
        .filter(|o| o.object_type == ObjectType::ClientType)
        .map(|o| o.rhs.as_str())
        .collect()
}

/// Whether a rule names the segment (APP) or its group (APP_GROUP) positively.
pub(super) fn names_segment(rule: &PolicyRule, seg: &Segment) -> bool {
    rule.conditions
        .iter()
        .filter(|c| !c.negated)
        .flat_map(|c| &c.operands)
        .any(|o| match o.object_type {
            ObjectType::App => o.rhs == seg.id,
            ObjectType::AppGroup => Some(&o.rhs) == seg.segment_group_id.as_ref(),
            _ => false,
        })
}

pub(super) fn rule_words(rule: &PolicyRule) -> String {
    let mut s = format!(
        "rule `{}` (id {}, order {}): {}",
        rule.name,
        rule.id,
        rule.order,
        rule.action.describe()
    );
    if rule.default_rule {
        s.push_str(", the default rule");
    }
    let types = client_types(rule);
    if !types.is_empty() {
        s.push_str(&format!(", client types {}", types.join(", ")));
    }
    s
}

pub(super) fn rule_subject(kind: &str, rule: &PolicyRule) -> Option<Subject> {
    subject(kind, &rule.name, &rule.id)
}

/// What the ZPA side leaves for the ZIA side: the segments and server groups of the chain.
#[derive(Debug, Clone, Default)]
pub(super) struct Chain {
    pub(super) segments: Vec<Segment>,
    pub(super) server_groups: Vec<ObjRef>,
}

/// The connectors behind the chain's server groups: the anchor set ZPA itself describes.
pub fn chain_connectors<'z>(zpa: &'z ZpaConfig, req: &Requirements) -> Vec<&'z Connector> {
    let mut out: Vec<&Connector> = Vec::new();
    for s in zpa.segments.iter().filter(|s| {
        s.enabled
            && s.ip_anchored
            && req
                .login_hosts
                .iter()
                .any(|h| coverage(&s.domains, h) != Coverage::None)
    }) {
        for sg in &s.server_groups {
            if let Some(g) = zpa.server_groups.iter().find(|g| g.id == sg.id) {
                for cg in &g.connector_groups {
                    for c in zpa.connectors.iter().filter(|c| c.group_id == cg.id) {
                        if !out.iter().any(|k| k.id == c.id) {
                            out.push(c);
                        }
                    }
                }
            }
        }
    }
    out
}
