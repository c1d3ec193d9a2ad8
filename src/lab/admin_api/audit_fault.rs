//! The lab tenant's configuration faults, as the admin APIs show them.

use std::fmt;
use std::str::FromStr;

use crate::lab::Fault;

/// A configuration fault of the lab tenant, seen only through the admin APIs. Those with a
/// network side also break the lab's network the same way (see [`AuditFault::network`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuditFault {
    AnchorOff,
    HostMissing,
    Port80Missing,
    WildcardOnly,
    ForwardingIntercept,
    AccessZiaInspection,
    WrongConnectorGroup,
    ConnectorDisconnected,
    GatewayOtherServerGroup,
    ForwardingRuleDisabled,
    ActivationPending,
}

impl AuditFault {
    pub const ALL: [AuditFault; 11] = [
        AuditFault::AnchorOff,
        AuditFault::HostMissing,
        AuditFault::Port80Missing,
        AuditFault::WildcardOnly,
        AuditFault::ForwardingIntercept,
        AuditFault::AccessZiaInspection,
        AuditFault::WrongConnectorGroup,
        AuditFault::ConnectorDisconnected,
        AuditFault::GatewayOtherServerGroup,
        AuditFault::ForwardingRuleDisabled,
        AuditFault::ActivationPending,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AuditFault::AnchorOff => "audit-anchor-off",
            AuditFault::HostMissing => "audit-host-missing",
            AuditFault::Port80Missing => "audit-port80-missing",
            AuditFault::WildcardOnly => "audit-wildcard-only",
            AuditFault::ForwardingIntercept => "audit-forwarding-intercept",
            AuditFault::AccessZiaInspection => "audit-access-zia-inspection",
            AuditFault::WrongConnectorGroup => "audit-wrong-connector-group",
            AuditFault::ConnectorDisconnected => "audit-connector-disconnected",
            AuditFault::GatewayOtherServerGroup => "audit-gateway-other-server-group",
            AuditFault::ForwardingRuleDisabled => "audit-forwarding-rule-disabled",
            AuditFault::ActivationPending => "audit-activation-pending",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            AuditFault::AnchorOff => {
                "the segment's Source IP Anchor is off (network: nothing anchored)"
            }
            AuditFault::HostMissing => {
                "the segment lacks login.windows.net (network: as one-domain-unanchored)"
            }
            AuditFault::Port80Missing => {
                "the segment's TCP ranges lack 80 (network: as port80-unanchored)"
            }
            AuditFault::WildcardOnly => {
                "the segment lists *.microsoftonline.com, *.windows.net, *.microsoft.com only (a warning)"
            }
            AuditFault::ForwardingIntercept => {
                "the client forwarding rule is Forward to ZPA (INTERCEPT), not Only Forward Allowed Applications"
            }
            AuditFault::AccessZiaInspection => {
                "the access rule allows client type ZIA Inspection, not ZIA Service Edge (network: as access-denied)"
            }
            AuditFault::WrongConnectorGroup => {
                "the server group is on the branch connector group (network: as wrong-connector)"
            }
            AuditFault::ConnectorDisconnected => {
                "the SIPA App Connector is ZPN_STATUS_DISCONNECTED (network: as connectors-down)"
            }
            AuditFault::GatewayOtherServerGroup => {
                "the ZIA ZPA gateway uses another server group (network: nothing anchored)"
            }
            AuditFault::ForwardingRuleDisabled => {
                "the ZIA forwarding rule is DISABLED (network: nothing anchored)"
            }
            AuditFault::ActivationPending => {
                "ZIA has changes saved but not activated (the ZIA links inconclusive)"
            }
        }
    }

    /// The network fault the same misconfiguration causes, if the lab's network shows it.
    pub fn network(self) -> Option<Fault> {
        match self {
            AuditFault::AnchorOff
            | AuditFault::GatewayOtherServerGroup
            | AuditFault::ForwardingRuleDisabled => Some(Fault::NothingAnchored),
            AuditFault::HostMissing => Some(Fault::OneDomainUnanchored),
            AuditFault::Port80Missing => Some(Fault::Port80Unanchored),
            AuditFault::AccessZiaInspection => Some(Fault::AccessDenied),
            AuditFault::WrongConnectorGroup => Some(Fault::WrongConnector),
            AuditFault::ConnectorDisconnected => Some(Fault::ConnectorsDown),
            AuditFault::WildcardOnly
            | AuditFault::ForwardingIntercept
            | AuditFault::ActivationPending => None,
        }
    }

    /// The configuration a network fault implies, so the same fault breaks both layers.
    pub fn of_network(fault: Fault) -> Option<AuditFault> {
        Some(match fault {
            Fault::OneDomainUnanchored => AuditFault::HostMissing,
            Fault::Port80Unanchored => AuditFault::Port80Missing,
            Fault::NothingAnchored => AuditFault::ForwardingRuleDisabled,
            Fault::WrongConnector => AuditFault::WrongConnectorGroup,
            Fault::ConnectorsDown => AuditFault::ConnectorDisconnected,
            Fault::AccessDenied => AuditFault::AccessZiaInspection,
            _ => return None,
        })
    }
}

impl fmt::Display for AuditFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AuditFault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuditFault::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown audit fault `{s}`"))
    }
}
