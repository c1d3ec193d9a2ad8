//! The pure judge: the tenant model and what the guide requires, in; one check per link of the
//! guide's chain, out. Each check names the object (name and id), what the guide requires, what
//! the tenant has, the portal path to fix it and the guide step. No I/O.
//!
//! Policy rules are evaluated as ZPA does: ascending rule order, disabled rules skipped,
//! operands of a condition combined by its operator (OR by default), a negated condition
//! inverted, conditions combined by the rule's operator (AND by default). Traffic from a ZIA
//! Service Edge carries an application, its segment group and its client type, nothing else, so
//! an operand on any other attribute (IdP, SAML, posture...) does not match it.

use serde::{Deserialize, Serialize};

use super::model::*;

mod zia;
mod zpa;

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

const FIX_SEGMENT: &str = "ZPA Admin Portal > Resources > Application Segments";
const FIX_SEGMENT_GROUP: &str = "ZPA Admin Portal > Resources > Segment Groups";
const FIX_SERVER_GROUP: &str = "ZPA Admin Portal > Resources > Server Groups";
const FIX_CONNECTORS: &str =
    "ZPA Admin Portal > Infrastructure > App Connectors (and App Connector Groups)";
const FIX_FORWARDING: &str = "ZPA Admin Portal > Policies > Client Forwarding Policy";
const FIX_ACCESS: &str = "ZPA Admin Portal > Policies > Access Policy";
const FIX_GATEWAY: &str = "ZIA Admin Portal > Administration > ZPA Gateway";
const FIX_ZIA_RULE: &str = "ZIA Admin Portal > Policy > Forwarding Control";
const FIX_ACTIVATION: &str = "ZIA Admin Portal > Activation: activate the pending changes";

fn subject(kind: &str, name: &str, id: &str) -> Option<Subject> {
    Some(Subject {
        kind: kind.to_string(),
        name: name.to_string(),
        id: id.to_string(),
    })
}

fn seg_subject(s: &Segment) -> Option<Subject> {
    subject("ZPA application segment", &s.name, &s.id)
}

fn check(
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

fn unreadable(u: &Unreadable) -> AuditCheck {
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
fn unless_missing(mut c: AuditCheck, missing: &[String], field: &str, what: &str) -> AuditCheck {
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

fn operand_matches(o: &Operand, r: &PolicyRequest<'_>) -> bool {
    match &o.object_type {
        ObjectType::App => o.rhs == r.app_id,
        ObjectType::AppGroup => Some(o.rhs.as_str()) == r.app_group_id,
        ObjectType::ClientType => o.rhs == r.client_type,
        ObjectType::Other(_) => false,
    }
}

fn condition_matches(c: &Condition, r: &PolicyRequest<'_>) -> bool {
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
fn ordered(rules: &[PolicyRule]) -> Vec<&PolicyRule> {
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
fn unordered_match<'r>(rules: &'r [PolicyRule], r: &PolicyRequest<'_>) -> Option<&'r PolicyRule> {
    rules.iter().find(|rule| {
        !rule.disabled && rule.missing.iter().any(|m| m == "ruleOrder") && rule_matches(rule, r)
    })
}

fn unordered_check(
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
fn client_types(rule: &PolicyRule) -> Vec<&str> {
    rule.conditions
        .iter()
        .filter(|c| !c.negated)
        .flat_map(|c| &c.operands)
        .filter(|o| o.object_type == ObjectType::ClientType)
        .map(|o| o.rhs.as_str())
        .collect()
}

/// Whether a rule names the segment (APP) or its group (APP_GROUP) positively.
fn names_segment(rule: &PolicyRule, seg: &Segment) -> bool {
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

fn rule_words(rule: &PolicyRule) -> String {
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

fn rule_subject(kind: &str, rule: &PolicyRule) -> Option<Subject> {
    subject(kind, &rule.name, &rule.id)
}

/// Judges the tenant against the requirements: every link of the chain, in the guide's order.
pub fn judge(tenant: &Tenant, req: &Requirements) -> Vec<AuditCheck> {
    let mut checks = Vec::new();
    let zpa = match &tenant.zpa {
        Ok(zpa) => Some(zpa),
        Err(u) => {
            checks.push(unreadable(u));
            None
        }
    };
    let chain = zpa.map(|zpa| zpa::judge_zpa(zpa, req, &mut checks));
    match &tenant.zia {
        Ok(zia) => zia::judge_zia(zia, chain.as_ref(), &mut checks),
        Err(u) => checks.push(unreadable(u)),
    }
    checks
}

/// What the ZPA side leaves for the ZIA side: the segments and server groups of the chain.
#[derive(Debug, Clone, Default)]
struct Chain {
    segments: Vec<Segment>,
    server_groups: Vec<ObjRef>,
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

#[cfg(test)]
mod tests;
