//! Named faults: each one is a real SIPA misconfiguration that the lab reproduces in its gateway,
//! DNS or origin behaviour, so the harness has to detect it from the network alone.

use std::fmt;
use std::str::FromStr;

/// A misconfiguration the lab can reproduce. Faults combine: a lab takes a list of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// The application segment lacks login.windows.net.
    OneDomainUnanchored,
    /// The segment's TCP port ranges lack port 80.
    Port80Unanchored,
    /// The ZIA forwarding rule or the ZPA gateway is broken: nothing is anchored.
    NothingAnchored,
    /// The server group is associated with the wrong connector group.
    WrongConnector,
    /// The segment or the forwarding rule is too broad: everything is anchored.
    OverAnchored,
    /// The forwarding rule's trust criteria also match the guest network's location: login
    /// traffic from the guest network (127.0.0.20) is anchored.
    TrustCriteriaTooBroad,
    /// The forwarding rule's trust criteria lack the office's location: login traffic from the
    /// office (127.0.0.10) leaves from the ZIA edge.
    OfficeLocationMissing,
    /// The App Connectors are down: anchored connections are reset.
    ConnectorsDown,
    /// The access policy refuses the ZIA Service Edge client type: anchored requests get a 403.
    AccessDenied,
    /// The explicit proxy demands authentication the harness does not have.
    ProxyAuthRequired,
    /// DNS answers NXDOMAIN for login.windows.net.
    DnsNxdomain,
    /// DNS answers SERVFAIL for login.windows.net.
    DnsServfail,
    /// The gateway never answers a TCP handshake.
    BlackholeConnect,
    /// The gateway accepts TLS connections and never answers.
    BlackholeTls,
    /// SSL inspection by a CA the harness does not trust.
    TlsIntercept,
    /// The IP echo site answers something that is not an IP address.
    EchoGarbage,
    /// One in three anchored connections leaves from the ZIA edge.
    Intermittent,
    /// IPv6 reaches the login hosts directly, around the tunnel.
    Ipv6Bypass,
    /// The anchored path adds 4 s before connecting upstream, beyond the lab scenario's 3 s
    /// probe timeout.
    SlowPath,
    /// Entra never writes the probe's sign-ins to the log (ingestion stalled, or a tenant
    /// without Entra ID P1/P2 whose API shows none).
    SignInNeverIngested,
    /// The Graph app lacks AuditLog.Read.All / Directory.Read.All (or admin consent).
    GraphForbidden,
    /// Graph throttles every request with 429 and `Retry-After`.
    GraphThrottled,
    /// The trusted IP named location lacks the App Connector's address.
    NamedLocationMissingConnector,
    /// A workload-identity Conditional Access policy blocks the probe app outside trusted
    /// locations: an unanchored token request gets AADSTS53003.
    CaBlocks,
    /// The workload-identity Conditional Access policy has no location condition: What If
    /// decides the same for the App Connector IP as for the ZIA egress.
    WhatIfNoDifference,
    /// Graph's What If answers 400 to every request (v1.0 and beta, every shape).
    WhatIfUnavailable,
    /// login.microsoftonline.com's DNS HTTPS record hints at an address around the gateway.
    HttpsHintBypass,
    /// UDP 443 reaches the login hosts (no firewall rule blocks QUIC) and nothing shows HTTP/3
    /// anchored: the lab's QUIC listener is on, its echo path is not served over HTTP/3.
    QuicOpen,
    /// UDP 443 reaches the login hosts and HTTP/3 leaves from the client's own address: the
    /// HTTP/3 canary (`http3 = true`) shows a non-anchor IP.
    QuicOpenUnanchored,
    /// The lab's PAC file sends login.windows.net DIRECT (a Microsoft 365 bypass list that
    /// caught a login host): it never reaches ZIA.
    PacBypassesLogin,
}

impl Fault {
    /// Every fault, in the order `--list-faults` shows them.
    pub const ALL: [Fault; 30] = [
        Fault::OneDomainUnanchored,
        Fault::Port80Unanchored,
        Fault::NothingAnchored,
        Fault::WrongConnector,
        Fault::OverAnchored,
        Fault::TrustCriteriaTooBroad,
        Fault::OfficeLocationMissing,
        Fault::ConnectorsDown,
        Fault::AccessDenied,
        Fault::ProxyAuthRequired,
        Fault::DnsNxdomain,
        Fault::DnsServfail,
        Fault::BlackholeConnect,
        Fault::BlackholeTls,
        Fault::TlsIntercept,
        Fault::EchoGarbage,
        Fault::Intermittent,
        Fault::Ipv6Bypass,
        Fault::SlowPath,
        Fault::SignInNeverIngested,
        Fault::GraphForbidden,
        Fault::GraphThrottled,
        Fault::NamedLocationMissingConnector,
        Fault::CaBlocks,
        Fault::WhatIfNoDifference,
        Fault::WhatIfUnavailable,
        Fault::HttpsHintBypass,
        Fault::QuicOpen,
        Fault::QuicOpenUnanchored,
        Fault::PacBypassesLogin,
    ];

    /// The faults of the forwarding policy, which a running lab can switch on and off
    /// ([`crate::lab::Lab::switch_faults`]); the others shape the lab's listeners at start.
    pub const SWITCHABLE: [Fault; 10] = [
        Fault::OneDomainUnanchored,
        Fault::Port80Unanchored,
        Fault::NothingAnchored,
        Fault::WrongConnector,
        Fault::OverAnchored,
        Fault::TrustCriteriaTooBroad,
        Fault::OfficeLocationMissing,
        Fault::ConnectorsDown,
        Fault::AccessDenied,
        Fault::Intermittent,
    ];

    /// The kebab-case name used on the command line (`--fault NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Fault::OneDomainUnanchored => "one-domain-unanchored",
            Fault::Port80Unanchored => "port80-unanchored",
            Fault::NothingAnchored => "nothing-anchored",
            Fault::WrongConnector => "wrong-connector",
            Fault::OverAnchored => "over-anchored",
            Fault::TrustCriteriaTooBroad => "trust-criteria-too-broad",
            Fault::OfficeLocationMissing => "office-location-missing",
            Fault::ConnectorsDown => "connectors-down",
            Fault::AccessDenied => "access-denied",
            Fault::ProxyAuthRequired => "proxy-auth-required",
            Fault::DnsNxdomain => "dns-nxdomain",
            Fault::DnsServfail => "dns-servfail",
            Fault::BlackholeConnect => "blackhole-connect",
            Fault::BlackholeTls => "blackhole-tls",
            Fault::TlsIntercept => "tls-intercept",
            Fault::EchoGarbage => "echo-garbage",
            Fault::Intermittent => "intermittent",
            Fault::Ipv6Bypass => "ipv6-bypass",
            Fault::SlowPath => "slow-path",
            Fault::SignInNeverIngested => "sign-in-never-ingested",
            Fault::GraphForbidden => "graph-403",
            Fault::GraphThrottled => "graph-429-storm",
            Fault::NamedLocationMissingConnector => "named-location-missing-connector",
            Fault::CaBlocks => "ca-blocks",
            Fault::WhatIfNoDifference => "what-if-no-difference",
            Fault::WhatIfUnavailable => "what-if-unavailable",
            Fault::HttpsHintBypass => "https-hint-bypass",
            Fault::QuicOpen => "quic-open",
            Fault::QuicOpenUnanchored => "quic-open-unanchored",
            Fault::PacBypassesLogin => "pac-bypasses-login",
        }
    }

    /// One line: the real misconfiguration modelled, and what the harness should report.
    pub fn description(self) -> &'static str {
        match self {
            Fault::OneDomainUnanchored => {
                "application segment lacks login.windows.net: that host egresses from the ZIA edge \
                 (127.0.0.3); expect a fail naming the segment's domains"
            }
            Fault::Port80Unanchored => {
                "segment TCP port ranges lack 80: every login host on port 80 egresses from the ZIA \
                 edge; expect a fail naming the segment's port ranges"
            }
            Fault::NothingAnchored => {
                "ZIA forwarding rule or ZPA gateway broken: nothing is anchored; expect a fail \
                 naming the forwarding rule"
            }
            Fault::WrongConnector => {
                "server group tied to the wrong connector group: anchored traffic egresses from \
                 127.0.0.4; expect a fail naming the server group association"
            }
            Fault::OverAnchored => {
                "segment or forwarding rule too broad: the control host is anchored too; expect a \
                 fail on the control observer"
            }
            Fault::TrustCriteriaTooBroad => {
                "forwarding rule's trust criteria also match the guest network (127.0.0.20): its \
                 login traffic is anchored; runs the places scenario, expect a fail on the guest \
                 vantage only, naming the trust criteria"
            }
            Fault::OfficeLocationMissing => {
                "forwarding rule's trust criteria lack the office location (127.0.0.10): its login \
                 traffic egresses from the ZIA edge; runs the places scenario, expect a fail on the \
                 office vantage only, naming the forwarding rule"
            }
            Fault::ConnectorsDown => {
                "App Connectors down: anchored connections are reset; expect a fail (connect or \
                 http stage) naming the connectors or the access policy"
            }
            Fault::AccessDenied => {
                "access policy lacks the ZIA Service Edge client type: anchored requests get a 403 \
                 block page; expect a fail naming the access policy"
            }
            Fault::ProxyAuthRequired => {
                "explicit proxy demands authentication: every request gets a 407; expect a fail \
                 with the proxy's 407 as the reason"
            }
            Fault::DnsNxdomain => {
                "DNS answers NXDOMAIN for login.windows.net; expect a fail at the resolve stage"
            }
            Fault::DnsServfail => {
                "DNS answers SERVFAIL for login.windows.net; expect a fail at the resolve stage"
            }
            Fault::BlackholeConnect => {
                "gateway never completes a TCP handshake; expect connect timeouts reported as \
                 errors, never a pass"
            }
            Fault::BlackholeTls => {
                "gateway accepts TLS connections and never answers; expect TLS handshake timeouts \
                 reported as errors"
            }
            Fault::TlsIntercept => {
                "SSL inspection of the login hosts by the unknown \"Lab Interception CA\"; expect a \
                 fail at the tls stage naming SSL inspection"
            }
            Fault::EchoGarbage => {
                "the IP echo site answers \"not an ip\"; expect an error: the egress IP is unknown"
            }
            Fault::Intermittent => {
                "one in three anchored connections to each host and port egresses from the ZIA \
                 edge; expect a fail when several samples are taken"
            }
            Fault::Ipv6Bypass => {
                "DNS gives the login hosts AAAA ::1 and IPv6 reaches them directly; expect a fail \
                 for the IPv6 family only"
            }
            Fault::SlowPath => {
                "the anchored path adds 4 s before connecting (beyond the lab's 3 s probe \
                 timeout); expect timeouts on the anchored checks, reported as errors"
            }
            Fault::SignInNeverIngested => {
                "the sign-in log never shows the probe's sign-ins; expect an error (not yet \
                 ingested, inconclusive), never a pass"
            }
            Fault::GraphForbidden => {
                "the Graph app lacks AuditLog.Read.All and Directory.Read.All with admin consent: \
                 Graph answers 403; expect an error naming the permissions"
            }
            Fault::GraphThrottled => {
                "Graph answers every request 429 with Retry-After; expect retries that honour it, \
                 then an error when the wait runs out"
            }
            Fault::NamedLocationMissingConnector => {
                "the trusted IP named location lacks the App Connector IP 127.0.0.2; expect a fail \
                 naming the named location"
            }
            Fault::CaBlocks => {
                "a workload-identity Conditional Access policy blocks the probe app outside trusted \
                 locations: an unanchored token request gets AADSTS53003 with the policy id"
            }
            Fault::WhatIfNoDifference => {
                "the Conditional Access policy ignores location: What If decides the same for the \
                 App Connector IP as for the ZIA egress; expect a fail: anchoring buys no trust"
            }
            Fault::WhatIfUnavailable => {
                "Graph's What If answers 400 to every request (v1.0 and beta, every shape); \
                 expect an error naming What If as unavailable, never a pass"
            }
            Fault::HttpsHintBypass => {
                "login.microsoftonline.com's DNS HTTPS record gives ipv4hint 127.0.0.99, not its A \
                 answer: a browser may connect there around the gateway; expect a fail of its \
                 https record check (direct runs; through the proxy it is only shown)"
            }
            Fault::QuicOpen => {
                "no firewall rule blocks QUIC: UDP 443 reaches the login hosts (HTTP/3 offered by \
                 Alt-Svc) and no HTTP/3 echo proves it anchored; expect a fail on the quic checks \
                 naming the rule that blocks UDP 443"
            }
            Fault::QuicOpenUnanchored => {
                "UDP 443 reaches the login hosts and HTTP/3 leaves from the client's own address: \
                 the HTTP/3 canary shows a non-anchor IP; expect a fail: QUIC is not anchored"
            }
            Fault::PacBypassesLogin => {
                "the lab's PAC file sends login.windows.net DIRECT (a Microsoft 365 bypass list);                  runs through the PAC file, expect a fail for that host only, naming the PAC file"
            }
        }
    }
}

impl Fault {
    /// The fault shows only through the explicit proxy, so `sipa-check lab` goes through it.
    pub fn needs_proxy(self) -> bool {
        matches!(self, Fault::ProxyAuthRequired)
    }

    /// The fault is in Entra (its sign-in log, Graph, Conditional Access), so `sipa-check lab`
    /// proves the login hosts by Entra's sign-in log.
    pub fn needs_entra(self) -> bool {
        matches!(
            self,
            Fault::SignInNeverIngested
                | Fault::GraphForbidden
                | Fault::GraphThrottled
                | Fault::NamedLocationMissingConnector
                | Fault::CaBlocks
                | Fault::WhatIfNoDifference
                | Fault::WhatIfUnavailable
        )
    }

    /// The fault is in which places the forwarding rule trusts, so `sipa-check lab` checks
    /// from the office and the guest network (the places scenario).
    pub fn needs_places(self) -> bool {
        matches!(
            self,
            Fault::TrustCriteriaTooBroad | Fault::OfficeLocationMissing
        )
    }

    /// The fault is in the PAC file, so `sipa-check lab` follows the lab's PAC file.
    pub fn needs_pac(self) -> bool {
        matches!(self, Fault::PacBypassesLogin)
    }

    /// The fault shows only over IPv6, so `sipa-check lab` probes both families.
    pub fn needs_ipv6(self) -> bool {
        matches!(self, Fault::Ipv6Bypass)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A fault name that is not one of [`Fault::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault `{given}`; valid faults: {}", valid_fault_names())]
pub struct UnknownFault {
    /// The name that was given.
    pub given: String,
}

fn valid_fault_names() -> String {
    Fault::ALL
        .iter()
        .map(|fault| fault.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for Fault {
    type Err = UnknownFault;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fault::ALL
            .into_iter()
            .find(|fault| fault.name() == s)
            .ok_or_else(|| UnknownFault {
                given: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for fault in Fault::ALL {
            assert_eq!(fault.name().parse::<Fault>(), Ok(fault));
            assert!(!fault.description().is_empty());
            assert!(!fault.description().contains('\n'));
        }
    }

    #[test]
    fn unknown_name_lists_valid_ones() {
        let err = "port-80".parse::<Fault>().unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("unknown fault `port-80`; valid faults: one-domain-unanchored,")
        );
        assert!(message.ends_with("slow-path, sign-in-never-ingested, graph-403, graph-429-storm, named-location-missing-connector, ca-blocks, what-if-no-difference, what-if-unavailable, https-hint-bypass, quic-open, quic-open-unanchored, pac-bypasses-login"));
    }
}
