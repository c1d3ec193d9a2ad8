//! The configuration guide's steps a diagnosis can point at (zscaler-sipa-office365-guide.txt), each with its
//! text in one place.

use serde::{Deserialize, Serialize};

/// A step of the configuration guide (or, where the guide has none, the thing outside it) that
/// most likely explains a failure. Reports show it as [`GuideStep::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GuideStep {
    /// The application segment's list of login domains.
    SegmentDomains,
    /// The application segment's TCP port ranges.
    SegmentPorts,
    /// The ZIA forwarding rule (method ZPA, trust criteria, order) and the ZPA gateway.
    ForwardingRule,
    /// Server group ↔ App Connector group association.
    ServerGroup,
    /// The ZPA access policy's client type, and the App Connectors' health.
    AccessPolicy,
    /// A segment or forwarding rule that matches more than the login hosts.
    TooBroad,
    /// The forwarding rule's trust criteria match a vantage they should not.
    TrustCriteria,
    /// IPv6 going around the tunnel.
    Ipv6,
    /// SSL inspection without the matching trust anchor.
    SslInspection,
    /// A scenario whose login hosts are proven only by the shared path.
    PerHostEvidence,
    /// This vantage's DNS.
    Dns,
    /// This vantage's proxy credentials.
    ProxyAuth,
    /// This vantage's path to ZIA.
    PathToZia,
    /// The scenario's observers.
    Observers,
    /// An echo observer that answers, but not the caller's IP alone.
    EchoObserver,
    /// This run's `--connect-to` rules.
    ConnectTo,
    /// Conditional Access named locations: the App Connector IPs as a trusted IP location.
    TrustedLocation,
    /// The Entra probe app: its credentials and its Graph application permissions.
    EntraApp,
    /// Entra's sign-in log ingestion, and how long the run waits for it.
    SignInLog,
    /// The Conditional Access policy that makes a token answer evidence: it must refuse the
    /// probe app outside the trusted locations, and the run must see it do so.
    CaPolicy,
    /// This vantage's route to Microsoft Graph.
    GraphRoute,
    /// The application segment's Source IP Anchor option, bypass type and double encryption.
    SegmentAnchor,
    /// The App Connectors of the segment's server group: enabled and connected.
    AppConnectors,
    /// The ZPA client forwarding policy for the segment.
    ClientForwarding,
    /// The ZIA ZPA gateway and its server group.
    ZpaGateway,
    /// ZIA's pending changes, saved but not activated.
    ZiaActivation,
    /// The audit's own access to the ZPA and ZIA APIs.
    AdminApi,
    /// The run itself was cut (its deadline, Ctrl-C or SIGTERM) before these checks ended.
    RunCut,
    /// QUIC (UDP 443) to the login hosts, which the guide's TCP-only anchoring does not carry.
    BlockQuic,
    /// The PAC file (ZIA hosted PAC or the browser's own) that decides where login traffic goes.
    PacFile,
    /// The PAC file or proxy settings the run was given: reachable, and readable as a decision.
    PacSource,
}

impl GuideStep {
    /// Every step, for tests and documentation.
    pub const ALL: [GuideStep; 31] = [
        GuideStep::SegmentDomains,
        GuideStep::SegmentPorts,
        GuideStep::ForwardingRule,
        GuideStep::ServerGroup,
        GuideStep::AccessPolicy,
        GuideStep::TooBroad,
        GuideStep::TrustCriteria,
        GuideStep::Ipv6,
        GuideStep::SslInspection,
        GuideStep::Dns,
        GuideStep::ProxyAuth,
        GuideStep::PathToZia,
        GuideStep::Observers,
        GuideStep::EchoObserver,
        GuideStep::PerHostEvidence,
        GuideStep::ConnectTo,
        GuideStep::TrustedLocation,
        GuideStep::EntraApp,
        GuideStep::SignInLog,
        GuideStep::CaPolicy,
        GuideStep::GraphRoute,
        GuideStep::SegmentAnchor,
        GuideStep::AppConnectors,
        GuideStep::ClientForwarding,
        GuideStep::ZpaGateway,
        GuideStep::ZiaActivation,
        GuideStep::AdminApi,
        GuideStep::RunCut,
        GuideStep::BlockQuic,
        GuideStep::PacFile,
        GuideStep::PacSource,
    ];

    /// What the admin reads: the guide's step, in its words.
    pub fn text(self) -> &'static str {
        match self {
            GuideStep::SegmentDomains => {
                "ZPA application segment, Applications: list login.microsoftonline.com, login.windows.net and login.microsoft.com"
            }
            GuideStep::SegmentPorts => "ZPA application segment, TCP Port Ranges: add 80 and 443",
            GuideStep::ForwardingRule => {
                "ZIA forwarding rule: Forwarding Method ZPA, trust criteria, Application Segment and ZPA gateway (and rule order); ZIA ZPA gateway with the segment's server group"
            }
            GuideStep::ServerGroup => {
                "ZPA segment group and server group: the server group must be associated with the App Connector group whose public IPs are expected"
            }
            GuideStep::AccessPolicy => {
                "ZPA access policy: allow the segment for client type ZIA Service Edge only; App Connectors up and enrolled"
            }
            GuideStep::TooBroad => {
                "ZPA application segment (only the three login hosts) and the ZIA forwarding rule's destinations"
            }
            GuideStep::TrustCriteria => {
                "ZIA forwarding rule, General tab: trust criteria (locations, users) must not match this vantage"
            }
            GuideStep::Ipv6 => {
                "outside the guide: IPv6 traffic to the login hosts must also reach ZIA (tunnel it or disable IPv6 for these hosts)"
            }
            GuideStep::SslInspection => {
                "ZIA SSL inspection: exempt the login hosts, or pass the inspecting root with --ca-file"
            }
            GuideStep::Dns => {
                "not a guide step: this vantage's DNS (resolvers, split-horizon zones, DNS filtering)"
            }
            GuideStep::ProxyAuth => {
                "not a guide step: this vantage's proxy credentials (user in the proxy URL, password in SIPA_CHECK_PROXY_PASSWORD)"
            }
            GuideStep::PathToZia => {
                "not a guide step: this vantage's path to ZIA (tunnel, PAC file or proxy settings, firewall)"
            }
            GuideStep::Observers => {
                "scenario: add [[observer]] entries (an anchored canary in the SIPA segment on each login port, and a control)"
            }
            GuideStep::EchoObserver => {
                "not a guide step: the echo observer itself: that its URL answers with the caller's IP alone, or that its `extract` (json, header, regex) finds it in what it answers"
            }
            GuideStep::PerHostEvidence => {
                "scenario: prove each login host itself: an echo observer on the host (in a test segment), or Entra's sign-in log ([entra])"
            }
            GuideStep::TrustedLocation => {
                "Entra ID Conditional Access, Named locations: the App Connectors' public IPs in an IP location marked trusted, used by the policy's location condition"
            }
            GuideStep::EntraApp => {
                "not a guide step: the Entra probe app (AZURE_TENANT_ID, AZURE_CLIENT_ID, its secret or certificate; Graph application permissions AuditLog.Read.All and Directory.Read.All with admin consent; an Entra ID P1/P2 tenant)"
            }
            GuideStep::SignInLog => {
                "not a guide step: Entra's sign-in log ingestion (5-30 min for service principals): run again later, or raise [entra] wait / --entra-wait"
            }
            GuideStep::CaPolicy => {
                "not a guide step: Entra set-up for mode ca: an enabled Conditional Access policy for workload identities that blocks the probe app outside the trusted named locations, shown to bite by a vantage with expect_anchored = false that Entra refuses (AADSTS53003)"
            }
            GuideStep::GraphRoute => {
                "not a guide step: this vantage's route to Microsoft Graph ([entra] graph_url, DNS, firewall, Graph throttling)"
            }
            GuideStep::ConnectTo => {
                "not a guide step: this run's --connect-to rules (each target must be an address, or a name that resolves from this vantage)"
            }
            GuideStep::SegmentAnchor => {
                "ZPA application segment: enable Source IP Anchor, keep Use Client Forwarding Policy and no double encryption"
            }
            GuideStep::AppConnectors => {
                "ZPA App Connectors: enrolled, enabled and connected in the connector group of the segment's server group"
            }
            GuideStep::ClientForwarding => {
                "ZPA client forwarding policy: Rule Action Only Forward Allowed Applications for the Office 365 application segment"
            }
            GuideStep::ZpaGateway => {
                "ZIA ZPA gateway: select the server group created for the Office 365 application segment"
            }
            GuideStep::ZiaActivation => {
                "not a guide step: activate ZIA's saved changes (Activation), or the audited configuration is not live"
            }
            GuideStep::RunCut => {
                "not a guide step: the run was cut (its deadline, Ctrl-C or SIGTERM) before these checks ended: raise --deadline ([limits] deadline), or let the run finish"
            }
            GuideStep::BlockQuic => {
                "outside the guide: the guide anchors TCP 80 and 443 only: block QUIC (UDP 443) to the login hosts (a ZIA Firewall Filtering rule, or the network firewall) so that browsers fall back to TCP, or anchor UDP 443 too"
            }
            GuideStep::PacFile => {
                "outside the guide: the PAC file (ZIA hosted PAC, or the one the browsers are given) must send login.microsoftonline.com, login.windows.net and login.microsoft.com to ZIA (PROXY), not DIRECT: exempt them from any Microsoft 365 bypass list"
            }
            GuideStep::PacSource => {
                "not a guide step: the PAC file or proxy settings this run follows (--pac, [vantage] pac, --system-proxy): reachable from the vantage, valid JavaScript with FindProxyForURL answering DIRECT or PROXY host:port"
            }
            GuideStep::AdminApi => {
                "not a guide step: the audit's API access (credentials in the environment, the cloud, the route to the ZPA and ZIA APIs)"
            }
        }
    }
}

impl GuideStep {
    /// What to look at, without the "not a guide step: " that [`GuideStep::text`] puts before
    /// the steps of the vantage, the scenario, the harness and the probe app.
    pub fn advice(self) -> &'static str {
        let text = self.text();
        text.strip_prefix("not a guide step: ")
            .or_else(|| text.strip_prefix("outside the guide: "))
            .unwrap_or(text)
    }

    /// Whether the vendor's guide has this step. Three tenant steps lie outside it: the guide
    /// speaks of IPv4, TCP and an explicit proxy only, so carrying IPv6, blocking QUIC and the
    /// PAC file's exemptions are advice of ours.
    pub fn in_guide(self) -> bool {
        !matches!(
            self,
            GuideStep::Ipv6 | GuideStep::BlockQuic | GuideStep::PacFile
        )
    }

    /// Whether this is a step of the tenant's configuration (ZPA, ZIA, Entra's trusted
    /// locations, the network around them), as opposed to the vantage's own set-up, the
    /// scenario, the harness or the probe app.
    pub fn is_tenant(self) -> bool {
        match self {
            GuideStep::SegmentDomains
            | GuideStep::SegmentPorts
            | GuideStep::ForwardingRule
            | GuideStep::ServerGroup
            | GuideStep::AccessPolicy
            | GuideStep::TooBroad
            | GuideStep::TrustCriteria
            | GuideStep::Ipv6
            | GuideStep::SslInspection
            | GuideStep::TrustedLocation
            | GuideStep::SegmentAnchor
            | GuideStep::AppConnectors
            | GuideStep::ClientForwarding
            | GuideStep::ZpaGateway
            | GuideStep::BlockQuic
            | GuideStep::PacFile => true,
            GuideStep::PerHostEvidence
            | GuideStep::Dns
            | GuideStep::ProxyAuth
            | GuideStep::PathToZia
            | GuideStep::Observers
            | GuideStep::EchoObserver
            | GuideStep::ConnectTo
            | GuideStep::EntraApp
            | GuideStep::SignInLog
            | GuideStep::CaPolicy
            | GuideStep::GraphRoute
            | GuideStep::ZiaActivation
            | GuideStep::AdminApi
            | GuideStep::RunCut
            | GuideStep::PacSource => false,
        }
    }
}

impl std::fmt::Display for GuideStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text())
    }
}

/// Reports carry the step's text, as they did when it was a string.
impl Serialize for GuideStep {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.text())
    }
}

/// Reads back the text a report carries.
impl<'de> Deserialize<'de> for GuideStep {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<GuideStep, D::Error> {
        let text = String::deserialize(d)?;
        GuideStep::ALL
            .into_iter()
            .find(|g| g.text() == text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown guide step `{text}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_has_its_own_text() {
        let texts: std::collections::BTreeSet<&str> =
            GuideStep::ALL.iter().map(|s| s.text()).collect();
        assert_eq!(texts.len(), GuideStep::ALL.len());
        assert_eq!(
            serde_json::to_value(GuideStep::SegmentPorts).unwrap(),
            serde_json::json!("ZPA application segment, TCP Port Ranges: add 80 and 443")
        );
        assert_eq!(
            GuideStep::Dns.to_string(),
            "not a guide step: this vantage's DNS (resolvers, split-horizon zones, DNS filtering)"
        );
    }
}
