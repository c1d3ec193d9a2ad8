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
    guide_step: GuideStep,
) -> AuditCheck {
    AuditCheck {
        name,
        status: if pass { Status::Pass } else { Status::Fail },
        object,
        required: required.into(),
        found: found.into(),
        fix: fix.into(),
        guide_step,
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
        guide_step: GuideStep::AdminApi,
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
    step: GuideStep,
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
    let chain = zpa.map(|zpa| judge_zpa(zpa, req, &mut checks));
    match &tenant.zia {
        Ok(zia) => judge_zia(zia, chain.as_ref(), &mut checks),
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

fn judge_zpa(zpa: &ZpaConfig, req: &Requirements, checks: &mut Vec<AuditCheck>) -> Chain {
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
            GuideStep::SegmentDomains,
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
                GuideStep::SegmentAnchor,
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
                GuideStep::SegmentAnchor,
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
            GuideStep::SegmentAnchor,
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
            GuideStep::SegmentAnchor,
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
                    GuideStep::SegmentPorts,
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
            GuideStep::SegmentDomains,
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
        GuideStep::TooBroad,
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
                GuideStep::ServerGroup,
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
                GuideStep::ServerGroup,
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
                GuideStep::ServerGroup,
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
                GuideStep::ServerGroup,
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
            GuideStep::ServerGroup,
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
                    GuideStep::AppConnectors,
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
            GuideStep::AppConnectors,
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
                GuideStep::ServerGroup,
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

fn forwarding_check(zpa: &ZpaConfig, s: &Segment, request: &PolicyRequest<'_>) -> AuditCheck {
    let name = format!("segment {}: client forwarding policy", s.name);
    let required = "the first enabled client forwarding rule matching the segment for ZIA Service Edge: Only Forward Allowed Applications (INTERCEPT_ACCESSIBLE), or the generic shape (BYPASS for Client Connector, INTERCEPT for ZIA Service Edge)";
    if let Some(rule) = unordered_match(&zpa.forwarding_rules, request) {
        return unordered_check(
            name,
            "ZPA client forwarding rule",
            rule,
            required,
            FIX_FORWARDING,
            GuideStep::ClientForwarding,
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
            GuideStep::ClientForwarding,
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
            GuideStep::ClientForwarding,
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
                GuideStep::ClientForwarding,
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
            GuideStep::ClientForwarding,
        ),
    }
}

fn access_check(zpa: &ZpaConfig, s: &Segment, request: &PolicyRequest<'_>) -> AuditCheck {
    let name = format!("segment {}: access policy", s.name);
    let required = "the first enabled access rule matching the segment for client type ZIA Service Edge (zpn_client_type_ip_anchoring): ALLOW";
    if let Some(rule) = unordered_match(&zpa.access_rules, request) {
        return unordered_check(
            name,
            "ZPA access rule",
            rule,
            required,
            FIX_ACCESS,
            GuideStep::AccessPolicy,
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
                GuideStep::AccessPolicy,
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
                GuideStep::AccessPolicy,
            )
        }
    }
}

fn judge_zia(zia: &ZiaConfig, chain: Option<&Chain>, checks: &mut Vec<AuditCheck>) {
    let first_zia = checks.len();
    let user_gateways: Vec<&ZiaGateway> = zia
        .gateways
        .iter()
        .filter(|g| !g.predefined && g.kind.as_deref().is_none_or(|k| k == "ZPA"))
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
                    GuideStep::ZpaGateway,
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
                    GuideStep::ZpaGateway,
                )
            }
        };
        checks.push(c);

        // Forwarding rules, in order, predefined ones aside.
        let mut rules: Vec<&ZiaForwardingRule> = zia
            .forwarding_rules
            .iter()
            .filter(|r| !r.predefined && r.rule_type == "FORWARDING")
            .collect();
        rules.sort_by_key(|r| r.order);
        let gateway_ids: Vec<&str> = good.iter().map(|g| g.id.as_str()).collect();
        for s in &chain.segments {
            let for_segment: Vec<&&ZiaForwardingRule> = rules
                .iter()
                .filter(|r| {
                    r.method == "ZPA"
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
                        GuideStep::ForwardingRule,
                    );
                    // ZIA applies the first matching forwarding rule: an enabled rule above it
                    // that forwards elsewhere with no destination criterion takes the login
                    // traffic first (every source when it has no trust criterion either).
                    let above: Vec<&&ZiaForwardingRule> = rules
                        .iter()
                        .filter(|k| {
                            k.enabled
                                && k.order < r.order
                                && k.method != "ZPA"
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
                        GuideStep::ForwardingRule,
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
                GuideStep::ZiaActivation,
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
            GuideStep::ZiaActivation,
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
            GuideStep::ZiaActivation,
        )
    });
}

fn trust_words(r: &ZiaForwardingRule) -> String {
    if r.trust.is_empty() {
        return "any (no location, user or group criterion)".into();
    }
    r.trust
        .iter()
        .map(|t| format!("{} {}", t.field, t.names.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
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
