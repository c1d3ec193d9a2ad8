//! Causes as data: every non-passing outcome is put down to one [`Cause`], with a stable
//! kebab-case id (for automation: JSON, JUnit, metrics and the fleet view carry it), a title
//! and the guide step it points at, all written here and nowhere else. Reports group problems
//! by this value, never by their sentences; docs/causes.md explains each id.

use serde::{Deserialize, Serialize};

use crate::guide::GuideStep;

/// Why a check did not pass, as a value. The sentence a check carries beside it says the
/// specifics (which host, which port, which IP); the cause is what they have in common.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// The application segment lacks a login host.
    SegmentLacksHost,
    /// The application segment's TCP port ranges lack a login port.
    SegmentLacksPort,
    /// A login host is not anchored on a port: the segment lacks the host or the port.
    SegmentLacksHostOrPort,
    /// No login traffic is anchored: the forwarding rule or the ZPA gateway.
    NothingAnchored,
    /// Some connections leave from outside the anchor set, some from inside.
    IntermittentAnchoring,
    /// Anchored, but from App Connectors outside the expected set.
    WrongConnectors,
    /// The anchored path answers with a denial (403, a block page, a refused tunnel).
    AccessDenied,
    /// Anchored connections are refused, reset or blackholed while other traffic gets through.
    AnchoredPathDown,
    /// Non-login traffic is anchored too.
    OverAnchored,
    /// Login traffic is anchored from a vantage outside the trusted locations.
    AnchoredOutsideTrust,
    /// A token was issued to a vantage outside the trusted locations.
    IssuedOutsideTrust,
    /// IPv6 goes around the tunnel while IPv4 is anchored.
    Ipv6Bypass,
    /// TLS intercepted by a CA the vantage does not trust.
    TlsInterception,
    /// A name does not resolve from the vantage.
    DnsFailed,
    /// The hosts file, not DNS, answered for a login host.
    HostsFile,
    /// The proxy demands authentication.
    ProxyAuth,
    /// The vantage cannot reach its proxy or ZIA: the control fails as the login checks do.
    VantagePath,
    /// The run was cut (deadline, Ctrl-C, SIGTERM) before the check ended.
    RunCut,
    /// A `--connect-to` target has no address of the family.
    ConnectTo,
    /// The scenario lacks what would decide this (an observer, anchors, a control).
    MissingObserver,
    /// An echo observer answered, but not with one usable IP address (or not at all).
    ObserverUnusable,
    /// The scenario proves the shared path, not each login host.
    PerHostEvidence,
    /// Conditional Access blocked a token through a login host from an anchored vantage.
    CaBlockedLoginHost,
    /// An anchor IP is not in a trusted named location.
    AnchorNotTrusted,
    /// Conditional Access decides the same for the anchors as for the control.
    AnchoringBuysNoTrust,
    /// What If tells anchors and control apart for another reason than the location.
    WhatIfOtherDifference,
    /// Nothing in the run showed Conditional Access refusing the probe app outside the trusted
    /// locations.
    CaPolicyUnverified,
    /// Entra refused the probe app's credentials.
    EntraCredentials,
    /// The probe app has no service principal in the tenant.
    NoServicePrincipal,
    /// Graph refused the probe app a read (401, 403): permissions or licence.
    GraphPermissions,
    /// Conditional Access refused the probe app's Graph token on Graph's own route.
    GraphTokenBlocked,
    /// Graph could not be read (no token, no answer, an unexpected answer).
    GraphUnreadable,
    /// Graph throttled the reads until the wait ran out.
    GraphThrottled,
    /// Graph's What If is not offered, or refused every request shape.
    WhatIfUnavailable,
    /// The token request through a login host got no answer from Entra.
    TokenUnanswered,
    /// The sign-in is not in Entra's log yet.
    SignInPending,
    /// The run ended before Graph was read.
    GraphNotRead,
    /// Read back from a report written before causes were recorded.
    #[default]
    Unrecorded,
    /// A login host's DNS HTTPS record hints at an address the run did not verify.
    HttpsHintOffPath,
    /// A login host's DNS HTTPS record sends browsers to a port other than 443.
    HttpsPortOffPath,
    /// QUIC (UDP 443) reaches a login host and nothing shows it anchored: browsers' HTTP/3
    /// goes around the TCP-only anchoring.
    QuicOpen,
    /// QUIC reaches a login host and an HTTP/3 echo shows it leaving from outside the anchors.
    QuicUnanchored,
    /// The explicit proxy turns the control away as it turns the login hosts away.
    ProxyRefused,
    /// The application segment is not set for Source IP Anchoring (audit).
    SegmentNotAnchored,
    /// The segment's server group does not lead to App Connectors (audit).
    ServerGroupChain,
    /// App Connectors behind the segment are disabled or disconnected (audit).
    ConnectorsUnhealthy,
    /// The ZPA client forwarding policy does not forward the segment (audit).
    ClientForwardingPolicy,
    /// No ZIA ZPA gateway leads to the segment's server group (audit).
    ZpaGatewayMissing,
    /// ZIA has changes saved but not activated (audit).
    ZiaChangesPending,
    /// The ZPA or ZIA admin API could not be read (audit).
    AdminApiUnreadable,
    /// The browser's proxy decision (PAC file, system proxy) sends a login host DIRECT.
    PacDirect,
    /// The PAC file (or a proxy variable) cannot be read as a decision: syntax, no
    /// FindProxyForURL, a non-string answer, an unknown directive, a loop, too much memory.
    PacInvalid,
    /// The PAC file could not be fetched or read.
    PacUnavailable,
    /// The decision sends a login host first through a route sipa-check cannot probe
    /// (SOCKS, an HTTPS proxy).
    PacUnprobeable,
}

impl Cause {
    /// Every cause, for tests and documentation.
    pub const ALL: [Cause; 54] = [
        Cause::SegmentLacksHost,
        Cause::SegmentLacksPort,
        Cause::SegmentLacksHostOrPort,
        Cause::NothingAnchored,
        Cause::IntermittentAnchoring,
        Cause::WrongConnectors,
        Cause::AccessDenied,
        Cause::AnchoredPathDown,
        Cause::OverAnchored,
        Cause::AnchoredOutsideTrust,
        Cause::IssuedOutsideTrust,
        Cause::Ipv6Bypass,
        Cause::TlsInterception,
        Cause::DnsFailed,
        Cause::HostsFile,
        Cause::ProxyAuth,
        Cause::VantagePath,
        Cause::RunCut,
        Cause::ConnectTo,
        Cause::MissingObserver,
        Cause::ObserverUnusable,
        Cause::PerHostEvidence,
        Cause::CaBlockedLoginHost,
        Cause::AnchorNotTrusted,
        Cause::AnchoringBuysNoTrust,
        Cause::WhatIfOtherDifference,
        Cause::CaPolicyUnverified,
        Cause::EntraCredentials,
        Cause::NoServicePrincipal,
        Cause::GraphPermissions,
        Cause::GraphTokenBlocked,
        Cause::GraphUnreadable,
        Cause::GraphThrottled,
        Cause::WhatIfUnavailable,
        Cause::TokenUnanswered,
        Cause::SignInPending,
        Cause::GraphNotRead,
        Cause::Unrecorded,
        Cause::HttpsHintOffPath,
        Cause::HttpsPortOffPath,
        Cause::QuicOpen,
        Cause::QuicUnanchored,
        Cause::ProxyRefused,
        Cause::SegmentNotAnchored,
        Cause::ServerGroupChain,
        Cause::ConnectorsUnhealthy,
        Cause::ClientForwardingPolicy,
        Cause::ZpaGatewayMissing,
        Cause::ZiaChangesPending,
        Cause::AdminApiUnreadable,
        Cause::PacDirect,
        Cause::PacInvalid,
        Cause::PacUnavailable,
        Cause::PacUnprobeable,
    ];

    /// The stable id, as JSON and JUnit carry it: `segment-lacks-host`.
    pub fn id(self) -> &'static str {
        match self {
            Cause::SegmentLacksHost => "segment-lacks-host",
            Cause::SegmentLacksPort => "segment-lacks-port",
            Cause::SegmentLacksHostOrPort => "segment-lacks-host-or-port",
            Cause::NothingAnchored => "nothing-anchored",
            Cause::IntermittentAnchoring => "intermittent-anchoring",
            Cause::WrongConnectors => "wrong-connectors",
            Cause::AccessDenied => "access-denied",
            Cause::AnchoredPathDown => "anchored-path-down",
            Cause::OverAnchored => "over-anchored",
            Cause::AnchoredOutsideTrust => "anchored-outside-trust",
            Cause::IssuedOutsideTrust => "issued-outside-trust",
            Cause::Ipv6Bypass => "ipv6-bypass",
            Cause::TlsInterception => "tls-interception",
            Cause::DnsFailed => "dns-failed",
            Cause::HostsFile => "hosts-file",
            Cause::ProxyAuth => "proxy-auth",
            Cause::VantagePath => "vantage-path",
            Cause::RunCut => "run-cut",
            Cause::ConnectTo => "connect-to",
            Cause::MissingObserver => "missing-observer",
            Cause::ObserverUnusable => "observer-unusable",
            Cause::PerHostEvidence => "per-host-evidence",
            Cause::CaBlockedLoginHost => "ca-blocked-login-host",
            Cause::AnchorNotTrusted => "anchor-not-trusted",
            Cause::AnchoringBuysNoTrust => "anchoring-buys-no-trust",
            Cause::WhatIfOtherDifference => "what-if-other-difference",
            Cause::CaPolicyUnverified => "ca-policy-unverified",
            Cause::EntraCredentials => "entra-credentials",
            Cause::NoServicePrincipal => "no-service-principal",
            Cause::GraphPermissions => "graph-permissions",
            Cause::GraphTokenBlocked => "graph-token-blocked",
            Cause::GraphUnreadable => "graph-unreadable",
            Cause::GraphThrottled => "graph-throttled",
            Cause::WhatIfUnavailable => "what-if-unavailable",
            Cause::TokenUnanswered => "token-unanswered",
            Cause::SignInPending => "sign-in-pending",
            Cause::GraphNotRead => "graph-not-read",
            Cause::Unrecorded => "unrecorded",
            Cause::HttpsHintOffPath => "https-hint-off-path",
            Cause::HttpsPortOffPath => "https-port-off-path",
            Cause::QuicOpen => "quic-open",
            Cause::QuicUnanchored => "quic-unanchored",
            Cause::ProxyRefused => "proxy-refused",
            Cause::SegmentNotAnchored => "segment-not-anchored",
            Cause::ServerGroupChain => "server-group-chain",
            Cause::ConnectorsUnhealthy => "connectors-unhealthy",
            Cause::ClientForwardingPolicy => "client-forwarding-policy",
            Cause::ZpaGatewayMissing => "zpa-gateway-missing",
            Cause::ZiaChangesPending => "zia-changes-pending",
            Cause::AdminApiUnreadable => "admin-api-unreadable",
            Cause::PacDirect => "pac-direct",
            Cause::PacInvalid => "pac-invalid",
            Cause::PacUnavailable => "pac-unavailable",
            Cause::PacUnprobeable => "pac-unprobeable",
        }
    }

    /// What the checks of this cause have in common, as a problem block's headline when their
    /// own sentences differ.
    pub fn title(self) -> &'static str {
        match self {
            Cause::SegmentLacksHost => "the application segment lacks login hosts",
            Cause::SegmentLacksPort => {
                "the application segment's TCP port ranges lack a login port"
            }
            Cause::SegmentLacksHostOrPort => {
                "login hosts are not anchored on some ports: the application segment lacks the host or the port"
            }
            Cause::NothingAnchored => {
                "nothing is anchored: the ZIA forwarding rule or the ZPA gateway does not send login traffic to ZPA"
            }
            Cause::IntermittentAnchoring => "anchoring is intermittent",
            Cause::WrongConnectors => "anchored from App Connectors outside the expected set",
            Cause::AccessDenied => "access is denied on the anchored path",
            Cause::AnchoredPathDown => {
                "anchored connections fail: the access policy (client type ZIA Service Edge) or the App Connectors"
            }
            Cause::OverAnchored => "non-login traffic is anchored too",
            Cause::AnchoredOutsideTrust => {
                "login traffic is anchored from a vantage outside the trusted locations"
            }
            Cause::IssuedOutsideTrust => {
                "Entra issued tokens to a vantage outside the trusted locations"
            }
            Cause::Ipv6Bypass => "IPv6 bypasses the tunnel while IPv4 is anchored",
            Cause::TlsInterception => "TLS is intercepted by a CA this vantage does not trust",
            Cause::DnsFailed => "names do not resolve from this vantage",
            Cause::HostsFile => "the hosts file, not DNS, answers for login hosts",
            Cause::ProxyAuth => "the proxy demands authentication",
            Cause::VantagePath => {
                "this vantage cannot reach its proxy or ZIA: nothing about the tenant was observed"
            }
            Cause::RunCut => "the run was cut before these checks ended",
            Cause::ConnectTo => "--connect-to sends checks to a target without an address",
            Cause::MissingObserver => "the scenario has nothing that could decide this",
            Cause::ObserverUnusable => "echo observers gave no usable address",
            Cause::PerHostEvidence => "the scenario proves the shared path, not each login host",
            Cause::CaBlockedLoginHost => {
                "Conditional Access blocked tokens through login hosts from an anchored vantage"
            }
            Cause::AnchorNotTrusted => "App Connector IPs are not in a trusted named location",
            Cause::AnchoringBuysNoTrust => "anchoring buys no trust in Conditional Access",
            Cause::WhatIfOtherDifference => {
                "What If tells anchors and control apart for another reason than the location"
            }
            Cause::CaPolicyUnverified => {
                "nothing in the run showed Conditional Access refusing the probe app outside the trusted locations"
            }
            Cause::EntraCredentials => "Entra refused the probe app's credentials",
            Cause::NoServicePrincipal => "the probe app has no service principal in the tenant",
            Cause::GraphPermissions => "Graph refused the probe app a read: permissions",
            Cause::GraphTokenBlocked => {
                "Conditional Access refused the probe app's Graph token on Graph's own route"
            }
            Cause::GraphUnreadable => "Graph could not be read",
            Cause::GraphThrottled => "Graph throttled the reads",
            Cause::WhatIfUnavailable => "Conditional Access What If is unavailable",
            Cause::TokenUnanswered => "token requests got no answer from Entra",
            Cause::SignInPending => "sign-ins are not in Entra's log yet",
            Cause::GraphNotRead => "the run ended before Graph was read",
            Cause::Unrecorded => "a cause not recorded by the report's writer",
            Cause::HttpsHintOffPath => {
                "a login host's DNS HTTPS record hints at addresses the run did not verify: a browser may connect there around the anchored path"
            }
            Cause::HttpsPortOffPath => {
                "a login host's DNS HTTPS record sends browsers to a port other than 443, which the run did not verify"
            }
            Cause::QuicOpen => {
                "QUIC on UDP 443 reaches login hosts and nothing shows it anchored: browsers' HTTP/3 goes around the TCP-only anchoring"
            }
            Cause::QuicUnanchored => {
                "QUIC on UDP 443 to login hosts leaves from outside the anchor set"
            }
            Cause::ProxyRefused => {
                "the proxy refuses the control as it refuses the login hosts: nothing about the tenant was observed"
            }
            Cause::SegmentNotAnchored => {
                "the application segment is not set for Source IP Anchoring"
            }
            Cause::ServerGroupChain => "the segment's server group does not lead to App Connectors",
            Cause::ConnectorsUnhealthy => {
                "App Connectors behind the segment are disabled or disconnected"
            }
            Cause::ClientForwardingPolicy => {
                "the ZPA client forwarding policy does not forward the Office 365 segment"
            }
            Cause::ZpaGatewayMissing => "no ZIA ZPA gateway leads to the segment's server group",
            Cause::ZiaChangesPending => "ZIA has saved changes that are not activated",
            Cause::AdminApiUnreadable => "the ZPA or ZIA admin API could not be read",
            Cause::PacDirect => {
                "the browser's proxy decision sends login hosts DIRECT: they never reach ZIA"
            }
            Cause::PacInvalid => "the PAC file gives no usable decision",
            Cause::PacUnavailable => "the PAC file could not be fetched or read",
            Cause::PacUnprobeable => {
                "the proxy decision names a route sipa-check cannot probe (SOCKS, HTTPS proxy)"
            }
        }
    }

    /// The guide step (or the vantage's, the harness's or Entra's set-up) to look at.
    pub fn guide_step(self) -> GuideStep {
        match self {
            Cause::SegmentLacksHost | Cause::SegmentLacksHostOrPort | Cause::CaBlockedLoginHost => {
                GuideStep::SegmentDomains
            }
            Cause::SegmentLacksPort => GuideStep::SegmentPorts,
            Cause::NothingAnchored | Cause::IntermittentAnchoring => GuideStep::ForwardingRule,
            Cause::WrongConnectors => GuideStep::ServerGroup,
            Cause::AccessDenied | Cause::AnchoredPathDown => GuideStep::AccessPolicy,
            Cause::OverAnchored => GuideStep::TooBroad,
            Cause::AnchoredOutsideTrust | Cause::IssuedOutsideTrust => GuideStep::TrustCriteria,
            Cause::Ipv6Bypass => GuideStep::Ipv6,
            Cause::TlsInterception => GuideStep::SslInspection,
            Cause::DnsFailed | Cause::HostsFile => GuideStep::Dns,
            Cause::ProxyAuth => GuideStep::ProxyAuth,
            Cause::VantagePath | Cause::TokenUnanswered | Cause::ProxyRefused => {
                GuideStep::PathToZia
            }
            Cause::RunCut => GuideStep::RunCut,
            Cause::ConnectTo => GuideStep::ConnectTo,
            Cause::MissingObserver | Cause::Unrecorded => GuideStep::Observers,
            Cause::ObserverUnusable => GuideStep::EchoObserver,
            Cause::PerHostEvidence => GuideStep::PerHostEvidence,
            Cause::AnchorNotTrusted
            | Cause::AnchoringBuysNoTrust
            | Cause::WhatIfOtherDifference => GuideStep::TrustedLocation,
            Cause::CaPolicyUnverified => GuideStep::CaPolicy,
            Cause::EntraCredentials | Cause::NoServicePrincipal | Cause::GraphPermissions => {
                GuideStep::EntraApp
            }
            Cause::GraphTokenBlocked
            | Cause::GraphUnreadable
            | Cause::GraphThrottled
            | Cause::WhatIfUnavailable => GuideStep::GraphRoute,
            Cause::SignInPending | Cause::GraphNotRead => GuideStep::SignInLog,
            Cause::HttpsHintOffPath => GuideStep::Dns,
            Cause::HttpsPortOffPath => GuideStep::SegmentPorts,
            Cause::QuicOpen | Cause::QuicUnanchored => GuideStep::BlockQuic,
            Cause::SegmentNotAnchored => GuideStep::SegmentAnchor,
            Cause::ServerGroupChain => GuideStep::ServerGroup,
            Cause::ConnectorsUnhealthy => GuideStep::AppConnectors,
            Cause::ClientForwardingPolicy => GuideStep::ClientForwarding,
            Cause::ZpaGatewayMissing => GuideStep::ZpaGateway,
            Cause::ZiaChangesPending => GuideStep::ZiaActivation,
            Cause::AdminApiUnreadable => GuideStep::AdminApi,
            Cause::PacDirect => GuideStep::PacFile,
            Cause::PacInvalid | Cause::PacUnavailable | Cause::PacUnprobeable => {
                GuideStep::PacSource
            }
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_round_trip_through_json() {
        let mut seen = std::collections::BTreeSet::new();
        for cause in Cause::ALL {
            let id = cause.id();
            assert!(seen.insert(id), "{id} twice");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{id}"
            );
            let json = serde_json::to_string(&cause).unwrap();
            assert_eq!(json, format!("\"{id}\""));
            assert_eq!(serde_json::from_str::<Cause>(&json).unwrap(), cause);
            assert!(!cause.title().is_empty());
        }
    }

    #[test]
    fn a_cause_on_the_vantages_side_never_names_a_tenant_step() {
        for cause in [
            Cause::VantagePath,
            Cause::ProxyRefused,
            Cause::RunCut,
            Cause::DnsFailed,
            Cause::ProxyAuth,
            Cause::ConnectTo,
            Cause::TokenUnanswered,
        ] {
            assert!(!cause.guide_step().is_tenant(), "{cause}");
        }
        for cause in [
            Cause::SegmentLacksHost,
            Cause::AccessDenied,
            Cause::OverAnchored,
        ] {
            assert!(cause.guide_step().is_tenant(), "{cause}");
        }
    }
}
