//! The tenant as the audit sees it: the ZPA and ZIA objects of the SIPA chain, typed, with ids
//! kept as strings (ZPA ids exceed 2^53). Built from raw API answers by [`super::parse`]; judged
//! by [`super::judge`]. Nothing here does I/O.

use serde::Serialize;

/// A reference to another object: its id and, when the answer carried it, its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjRef {
    pub id: String,
    pub name: String,
}

/// A TCP port range of a segment, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PortRange {
    pub from: u16,
    pub to: u16,
}

impl PortRange {
    pub fn contains(self, port: u16) -> bool {
        self.from <= port && port <= self.to
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.from == self.to {
            write!(f, "{}", self.from)
        } else {
            write!(f, "{}-{}", self.from, self.to)
        }
    }
}

/// A ZPA application segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    /// "Source IP Anchor".
    pub ip_anchored: bool,
    /// The "Applications" list, as entered (wildcards included).
    pub domains: Vec<String>,
    pub tcp_ports: Vec<PortRange>,
    pub segment_group_id: Option<String>,
    pub server_groups: Vec<ObjRef>,
    /// `NEVER` is "Use Client Forwarding Policy"; `None` when the answer did not say.
    pub bypass_type: Option<String>,
    pub double_encrypt: bool,
    /// Fields the judge needs that the API answer lacked (such as `ipAnchored`): the checks
    /// resting on them are errors, never a pass on a default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

/// A ZPA segment group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentGroup {
    pub id: String,
    pub name: String,
    pub enabled: bool,
}

/// A ZPA server group and the App Connector groups it is tied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerGroup {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub connector_groups: Vec<ObjRef>,
}

/// A ZPA App Connector group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectorGroup {
    pub id: String,
    pub name: String,
    pub enabled: bool,
}

/// The control channel of an App Connector (`controlChannelStatus`, "Runtime Status").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ChannelStatus {
    /// `ZPN_STATUS_AUTHENTICATED`: connected and enrolled.
    Authenticated,
    /// `ZPN_STATUS_DISCONNECTED`.
    Disconnected,
    /// Anything else the API says (`UNKNOWN`, `FAILED`, ...), or nothing.
    Other(String),
}

impl std::fmt::Display for ChannelStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChannelStatus::Authenticated => f.write_str("ZPN_STATUS_AUTHENTICATED"),
            ChannelStatus::Disconnected => f.write_str("ZPN_STATUS_DISCONNECTED"),
            ChannelStatus::Other(s) if s.is_empty() => f.write_str("no status"),
            ChannelStatus::Other(s) => f.write_str(s),
        }
    }
}

/// A ZPA App Connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Connector {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub group_id: String,
    pub public_ip: Option<String>,
    pub private_ip: Option<String>,
    pub control_channel: ChannelStatus,
}

impl Connector {
    /// Enabled and connected: it can carry anchored traffic.
    pub fn is_up(&self) -> bool {
        self.enabled && self.control_channel == ChannelStatus::Authenticated
    }
}

/// What a ZPA policy rule does when it matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum RuleAction {
    Allow,
    Deny,
    RequireApproval,
    /// "Bypass ZPA".
    Bypass,
    /// "Forward to ZPA".
    Intercept,
    /// "Only Forward Allowed Applications".
    InterceptAccessible,
    Other(String),
}

impl RuleAction {
    pub fn parse(s: &str) -> RuleAction {
        match s {
            "ALLOW" => RuleAction::Allow,
            "DENY" => RuleAction::Deny,
            "REQUIRE_APPROVAL" => RuleAction::RequireApproval,
            "BYPASS" => RuleAction::Bypass,
            "INTERCEPT" => RuleAction::Intercept,
            "INTERCEPT_ACCESSIBLE" => RuleAction::InterceptAccessible,
            other => RuleAction::Other(other.to_string()),
        }
    }

    /// The API's word and the portal's label.
    pub fn describe(&self) -> String {
        match self {
            RuleAction::Allow => "ALLOW".into(),
            RuleAction::Deny => "DENY".into(),
            RuleAction::RequireApproval => "REQUIRE_APPROVAL".into(),
            RuleAction::Bypass => "BYPASS (Bypass ZPA)".into(),
            RuleAction::Intercept => "INTERCEPT (Forward to ZPA)".into(),
            RuleAction::InterceptAccessible => {
                "INTERCEPT_ACCESSIBLE (Only Forward Allowed Applications)".into()
            }
            RuleAction::Other(s) => s.clone(),
        }
    }
}

/// How a rule's conditions, or a condition's operands, combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Operator {
    And,
    Or,
}

/// What an operand compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ObjectType {
    /// An application segment, by id.
    App,
    /// A segment group, by id.
    AppGroup,
    /// A client type key such as `zpn_client_type_ip_anchoring`.
    ClientType,
    /// Anything else (IDP, SAML, SCIM, POSTURE, ...): user and device attributes that traffic
    /// from a ZIA Service Edge does not carry.
    Other(String),
}

/// One operand of a condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operand {
    pub object_type: ObjectType,
    pub rhs: String,
}

/// One condition of a rule: its operands combined by `operator`, inverted when `negated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    pub operator: Operator,
    pub negated: bool,
    pub operands: Vec<Operand>,
}

/// A ZPA policy rule (access or client forwarding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyRule {
    pub id: String,
    pub name: String,
    pub order: i64,
    pub disabled: bool,
    pub action: RuleAction,
    pub operator: Operator,
    pub conditions: Vec<Condition>,
    pub default_rule: bool,
    /// Connector groups an access rule pins (none: any).
    pub connector_groups: Vec<ObjRef>,
    /// Fields the judge needs that the API answer lacked (`ruleOrder`): a first match that
    /// depends on them cannot be decided.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

/// A reference from ZIA to a ZPA object: `externalId` is the ZPA id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExternalRef {
    pub name: String,
    pub external_id: Option<String>,
}

/// A ZIA ZPA gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZiaGateway {
    pub id: String,
    pub name: String,
    pub server_group: Option<ExternalRef>,
    pub app_segments: Vec<ExternalRef>,
    /// `ZPA` or `ECZPA`; often absent.
    pub kind: Option<GatewayKind>,
    /// Predefined by Zscaler (`Auto ZPA Gateway`, `Auto Extranet ZPA Gateway`).
    pub predefined: bool,
}

/// A trust criterion of a ZIA forwarding rule (General tab) and what it holds; empty is any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustCriterion {
    pub field: String,
    pub names: Vec<String>,
}

/// A ZIA forwarding rule's `forwardMethod`: what the guide needs (`ZPA`) as a value, any other
/// method kept as ZIA names it. Serialized as ZIA's own word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardMethod {
    /// `ZPA`: through a ZPA gateway, as SIPA needs.
    Zpa,
    /// `DIRECT`, `PROXYCHAIN`, ..., or none (empty).
    Other(String),
}

impl ForwardMethod {
    /// ZIA's word for it (`ZPA`, `DIRECT`, ...).
    pub fn parse(word: &str) -> ForwardMethod {
        match word {
            "ZPA" => ForwardMethod::Zpa,
            other => ForwardMethod::Other(other.to_owned()),
        }
    }

    /// ZIA's word for it.
    pub fn as_str(&self) -> &str {
        match self {
            ForwardMethod::Zpa => "ZPA",
            ForwardMethod::Other(word) => word,
        }
    }
}

impl std::fmt::Display for ForwardMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ForwardMethod {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Words of the ZIA API that the judge needs one value of, any other kept as the API's word:
/// the enum, its one value and that value's word. Serialized as the API's own word.
macro_rules! api_word {
    ($(#[$doc:meta])* $name:ident, $(#[$vdoc:meta])* $value:ident = $word:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $(#[$vdoc])*
            $value,
            /// Any other word, kept as the API's.
            Other(String),
        }

        impl $name {
            /// The value for the API's word.
            pub fn parse(word: &str) -> $name {
                match word {
                    $word => $name::$value,
                    other => $name::Other(other.to_owned()),
                }
            }

            /// The API's word for it.
            pub fn as_str(&self) -> &str {
                match self {
                    $name::$value => $word,
                    $name::Other(word) => word,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

api_word!(
    /// A ZIA ZPA gateway's `type`: `ZPA` (a gateway to ZPA, as SIPA needs) or another kind
    /// (`ECZPA`, for Cloud Connector).
    GatewayKind,
    /// `ZPA`.
    Zpa = "ZPA"
);

api_word!(
    /// A ZIA forwarding-control rule's `type`: `FORWARDING` (what the guide's rule is) or
    /// another type.
    RuleType,
    /// `FORWARDING`.
    Forwarding = "FORWARDING"
);

/// A ZIA forwarding rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZiaForwardingRule {
    pub id: String,
    pub name: String,
    pub order: i64,
    pub enabled: bool,
    /// `FORWARDING`, or another rule type.
    pub rule_type: RuleType,
    /// How the rule forwards: to ZPA, or another way.
    pub method: ForwardMethod,
    pub gateway: Option<ObjRef>,
    pub app_segments: Vec<ExternalRef>,
    /// Only the criteria that hold something.
    pub trust: Vec<TrustCriterion>,
    /// The destination criteria that hold something (addresses, categories, countries, IP
    /// groups, network services and applications); none: every destination.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<TrustCriterion>,
    /// Predefined by Zscaler (negative order, or one of the known names).
    pub predefined: bool,
    /// Fields the judge needs that the API answer lacked (`state`, `order`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

/// ZIA's activation status (`GET /status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Activation {
    Active,
    Pending,
    InProgress,
    Other(String),
    /// The answer had no `status`: whether changes are pending cannot be told.
    Unknown,
}

/// The ZPA side of the tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ZpaConfig {
    pub segments: Vec<Segment>,
    pub segment_groups: Vec<SegmentGroup>,
    pub server_groups: Vec<ServerGroup>,
    pub connector_groups: Vec<ConnectorGroup>,
    pub connectors: Vec<Connector>,
    pub access_rules: Vec<PolicyRule>,
    pub forwarding_rules: Vec<PolicyRule>,
}

/// The ZIA side of the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZiaConfig {
    pub gateways: Vec<ZiaGateway>,
    pub forwarding_rules: Vec<ZiaForwardingRule>,
    pub activation: Activation,
}

/// Why one side of the tenant could not be read: its checks are inconclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    /// What could not be read, such as `ZPA application segments`.
    pub what: String,
    /// The cause chain, outermost first.
    pub causes: Vec<String>,
}

/// Everything the audit judges. Either side may be unreadable; its checks are then errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tenant {
    pub zpa: Result<ZpaConfig, Unreadable>,
    pub zia: Result<ZiaConfig, Unreadable>,
}

#[cfg(test)]
mod forward_method_tests {
    use super::{ForwardMethod, GatewayKind, RuleType};

    #[test]
    fn gateway_kinds_and_rule_types_are_values_and_other_words_are_kept() {
        assert_eq!(GatewayKind::parse("ZPA"), GatewayKind::Zpa);
        assert_eq!(
            GatewayKind::parse("ECZPA"),
            GatewayKind::Other("ECZPA".into())
        );
        assert_eq!(RuleType::parse("FORWARDING"), RuleType::Forwarding);
        assert_eq!(
            RuleType::parse("forwarding"),
            RuleType::Other("forwarding".into())
        );
        for word in ["ZPA", "ECZPA", ""] {
            let k = GatewayKind::parse(word);
            assert_eq!(k.to_string(), word);
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{word}\""));
        }
        for word in ["FORWARDING", "DNS", ""] {
            let t = RuleType::parse(word);
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{word}\""));
        }
    }

    #[test]
    fn zpa_is_a_value_and_other_methods_keep_their_word() {
        assert_eq!(ForwardMethod::parse("ZPA"), ForwardMethod::Zpa);
        assert_eq!(
            ForwardMethod::parse("DIRECT"),
            ForwardMethod::Other("DIRECT".into())
        );
        // ZIA's words are upper case: anything else is another method, never ZPA by accident.
        assert_ne!(ForwardMethod::parse("zpa"), ForwardMethod::Zpa);
        for word in ["ZPA", "DIRECT", ""] {
            let m = ForwardMethod::parse(word);
            assert_eq!(m.to_string(), word);
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{word}\""));
        }
    }
}
