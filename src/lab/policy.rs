//! The gateway's forwarding policy: which (host, port) pairs the SIPA application segment
//! covers, and which source address a connection leaves from, as the faults bend it.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::fault::Fault;
use super::world::{
    ANCHOR_IP, CANARY_HOST, EDGE_IP, GUEST_IP, OFFICE_IP, WRONG_CONNECTOR_IP, is_lab_host,
    is_login_like,
};

/// Where a client sits, as ZIA knows a location: by the traffic's source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// The trusted office (127.0.0.10): the forwarding rule's trust criteria list it.
    Office,
    /// The guest network (127.0.0.20): not in the trust criteria, its traffic stays on ZIA.
    Guest,
    /// Any other source: the lab's single place before it had places, trusted.
    Elsewhere,
}

impl Place {
    pub(crate) fn of(source: IpAddr) -> Place {
        match source {
            IpAddr::V4(ip) if ip == OFFICE_IP => Place::Office,
            IpAddr::V4(ip) if ip == GUEST_IP => Place::Guest,
            _ => Place::Elsewhere,
        }
    }
}

/// The ports SIPA anchors for the login hosts.
pub(crate) const ANCHORED_PORTS: [u16; 2] = [80, 443];

/// What the gateway does with one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forwarding {
    /// Not a lab host, or a port the lab does not serve: the gateway cannot forward it.
    Unroutable,
    /// Leaves from the ZIA edge, unanchored.
    Edge,
    /// Leaves through an App Connector whose public IP is `connector`.
    Anchored { connector: IpAddr },
    /// Anchored, but the connectors are down: the connection is reset.
    ConnectorsDown,
    /// Anchored, but the access policy refuses it: a 403 block page.
    AccessDenied,
}

impl Forwarding {
    /// The source address the upstream connection is bound to, if it is forwarded at all.
    pub(crate) fn source(self) -> Option<IpAddr> {
        match self {
            Forwarding::Edge => Some(IpAddr::V4(EDGE_IP)),
            Forwarding::Anchored { connector } => Some(connector),
            Forwarding::Unroutable | Forwarding::ConnectorsDown | Forwarding::AccessDenied => None,
        }
    }
}

/// The ZIA forwarding rule plus the ZPA application segment, as configured (or misconfigured).
/// Its faults can change while the lab runs ([`ForwardingPolicy::switch`]), as an admin's edit
/// would change the real policy.
#[derive(Debug)]
pub(crate) struct ForwardingPolicy {
    faults: std::sync::RwLock<BTreeSet<Fault>>,
    /// Counts anchored connections per host and port for the `intermittent` fault, so its
    /// pattern is reproducible whatever other targets' connections interleave: any three
    /// connections in a row to one target see exactly one leave from the edge.
    anchored_so_far: std::sync::Mutex<std::collections::BTreeMap<(String, u16), u64>>,
}

impl ForwardingPolicy {
    pub(crate) fn new(faults: &BTreeSet<Fault>) -> Self {
        ForwardingPolicy {
            faults: std::sync::RwLock::new(faults.clone()),
            anchored_so_far: std::sync::Mutex::new(std::collections::BTreeMap::new()),
        }
    }

    fn has(&self, fault: Fault) -> bool {
        self.faults
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(&fault)
    }

    /// Makes `faults` the policy's faults from the next connection on: those of
    /// [`Fault::SWITCHABLE`] in `faults` are on, the others off.
    pub(crate) fn switch(&self, faults: &BTreeSet<Fault>) {
        let mut now = self
            .faults
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        now.retain(|f| !Fault::SWITCHABLE.contains(f));
        now.extend(faults.iter().filter(|f| Fault::SWITCHABLE.contains(f)));
    }

    /// Whether the application segment covers `host` on `port`.
    fn segment_covers(&self, host: &str, port: u16) -> bool {
        if self.has(Fault::NothingAnchored) {
            return false;
        }
        if self.has(Fault::OverAnchored) {
            return true;
        }
        if port == 80 && self.has(Fault::Port80Unanchored) {
            return false;
        }
        if host == "login.windows.net" && self.has(Fault::OneDomainUnanchored) {
            return false;
        }
        is_login_like(host) || host == CANARY_HOST
    }

    /// Whether the ZIA forwarding rule's trust criteria match a client at `place`: only then
    /// does the rule send its login traffic to ZPA.
    fn trust_criteria_match(&self, place: Place) -> bool {
        match place {
            Place::Office => !self.has(Fault::OfficeLocationMissing),
            Place::Guest => self.has(Fault::TrustCriteriaTooBroad),
            Place::Elsewhere => true,
        }
    }

    /// Decides one connection to `host` (lower case, no trailing dot) on `port` from a client
    /// at a place the lab does not model (the trust criteria match it).
    #[cfg(test)]
    pub(crate) fn decide(&self, host: &str, port: u16) -> Forwarding {
        self.decide_at(Place::Elsewhere, host, port)
    }

    /// Decides one connection from `source` to `host` (lower case, no trailing dot) on `port`.
    pub(crate) fn decide_from(&self, source: IpAddr, host: &str, port: u16) -> Forwarding {
        self.decide_at(Place::of(source), host, port)
    }

    fn decide_at(&self, place: Place, host: &str, port: u16) -> Forwarding {
        if !is_lab_host(host) || !ANCHORED_PORTS.contains(&port) {
            return Forwarding::Unroutable;
        }
        if !self.trust_criteria_match(place) || !self.segment_covers(host, port) {
            return Forwarding::Edge;
        }
        if self.has(Fault::ConnectorsDown) {
            return Forwarding::ConnectorsDown;
        }
        if self.has(Fault::AccessDenied) {
            return Forwarding::AccessDenied;
        }
        let nth = {
            let mut counts = self
                .anchored_so_far
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let count = counts.entry((host.to_string(), port)).or_default();
            *count += 1;
            *count - 1
        };
        if self.has(Fault::Intermittent) && nth % 3 == 2 {
            return Forwarding::Edge;
        }
        let connector = if self.has(Fault::WrongConnector) {
            WRONG_CONNECTOR_IP
        } else {
            ANCHOR_IP
        };
        Forwarding::Anchored {
            connector: IpAddr::V4(connector),
        }
    }
}

/// The address the origin sees for anchored traffic when nothing is wrong.
#[cfg(test)]
const ANCHORED: Forwarding = Forwarding::Anchored {
    connector: IpAddr::V4(ANCHOR_IP),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::{CONTROL_HOST, LOGIN_HOSTS};

    fn policy(faults: &[Fault]) -> ForwardingPolicy {
        ForwardingPolicy::new(&faults.iter().copied().collect())
    }

    #[test]
    fn healthy_segment_anchors_login_hosts_and_canary_on_both_ports() {
        let policy = policy(&[]);
        for host in LOGIN_HOSTS.iter().chain([&CANARY_HOST]) {
            for port in ANCHORED_PORTS {
                assert_eq!(policy.decide(host, port), ANCHORED, "{host}:{port}");
            }
        }
        assert_eq!(policy.decide(CONTROL_HOST, 443), Forwarding::Edge);
        assert_eq!(policy.decide("example.com", 443), Forwarding::Unroutable);
        assert_eq!(
            policy.decide("login.microsoft.com", 8443),
            Forwarding::Unroutable
        );
    }

    #[test]
    fn faults_bend_the_policy() {
        let one = policy(&[Fault::OneDomainUnanchored]);
        assert_eq!(one.decide("login.windows.net", 443), Forwarding::Edge);
        assert_eq!(one.decide("login.microsoft.com", 443), ANCHORED);

        let port80 = policy(&[Fault::Port80Unanchored]);
        assert_eq!(port80.decide("login.microsoft.com", 80), Forwarding::Edge);
        assert_eq!(port80.decide("login.microsoft.com", 443), ANCHORED);

        let nothing = policy(&[Fault::NothingAnchored]);
        assert_eq!(nothing.decide(CANARY_HOST, 443), Forwarding::Edge);

        let wrong = policy(&[Fault::WrongConnector]);
        assert_eq!(
            wrong.decide(CANARY_HOST, 80).source(),
            Some(IpAddr::V4(WRONG_CONNECTOR_IP))
        );

        let over = policy(&[Fault::OverAnchored]);
        assert_eq!(over.decide(CONTROL_HOST, 80), ANCHORED);

        let down = policy(&[Fault::ConnectorsDown]);
        assert_eq!(down.decide(CANARY_HOST, 443), Forwarding::ConnectorsDown);
        assert_eq!(down.decide(CONTROL_HOST, 443), Forwarding::Edge);

        let denied = policy(&[Fault::AccessDenied]);
        assert_eq!(denied.decide(CANARY_HOST, 443), Forwarding::AccessDenied);
    }

    #[test]
    fn the_trust_criteria_decide_by_place() {
        let office = IpAddr::V4(OFFICE_IP);
        let guest = IpAddr::V4(GUEST_IP);
        let other = IpAddr::V4(crate::lab::ORIGIN_IP);
        let healthy = policy(&[]);
        for host in LOGIN_HOSTS.iter().chain([&CANARY_HOST]) {
            assert_eq!(healthy.decide_from(office, host, 443), ANCHORED, "{host}");
            assert_eq!(
                healthy.decide_from(guest, host, 443),
                Forwarding::Edge,
                "{host}"
            );
            assert_eq!(healthy.decide_from(other, host, 80), ANCHORED, "{host}");
        }
        assert_eq!(
            healthy.decide_from(guest, "example.com", 443),
            Forwarding::Unroutable
        );

        let broad = policy(&[Fault::TrustCriteriaTooBroad]);
        assert_eq!(broad.decide_from(guest, LOGIN_HOSTS[0], 443), ANCHORED);
        assert_eq!(broad.decide_from(office, LOGIN_HOSTS[0], 443), ANCHORED);
        assert_eq!(
            broad.decide_from(guest, CONTROL_HOST, 443),
            Forwarding::Edge
        );

        let missing = policy(&[Fault::OfficeLocationMissing]);
        assert_eq!(
            missing.decide_from(office, LOGIN_HOSTS[1], 80),
            Forwarding::Edge
        );
        assert_eq!(
            missing.decide_from(guest, LOGIN_HOSTS[1], 80),
            Forwarding::Edge
        );
        assert_eq!(missing.decide_from(other, LOGIN_HOSTS[1], 80), ANCHORED);
    }

    #[test]
    fn intermittent_sends_every_third_anchored_connection_to_the_edge() {
        let policy = policy(&[Fault::Intermittent]);
        let seen: Vec<_> = (0..6)
            .map(|_| policy.decide(CANARY_HOST, 443).source())
            .collect();
        let anchor = Some(IpAddr::V4(ANCHOR_IP));
        let edge = Some(IpAddr::V4(EDGE_IP));
        assert_eq!(seen, vec![anchor, anchor, edge, anchor, anchor, edge]);
    }

    #[test]
    fn intermittent_counts_each_target_on_its_own() {
        // Connections to other targets in between never line up one target's three samples
        // on the edge (which would read as a segment that lacks the host, not intermittence).
        let policy = policy(&[Fault::Intermittent]);
        let edge = Some(IpAddr::V4(EDGE_IP));
        let mut canary = Vec::new();
        for _ in 0..3 {
            canary.push(policy.decide(CANARY_HOST, 443).source());
            policy.decide(CANARY_HOST, 80);
            policy.decide(LOGIN_HOSTS[0], 443);
        }
        assert_eq!(
            canary.iter().filter(|s| **s == edge).count(),
            1,
            "{canary:?}"
        );
    }

    #[test]
    fn switched_faults_take_effect_and_heal() {
        let policy = policy(&[Fault::DnsNxdomain]);
        assert_eq!(policy.decide("login.windows.net", 443), ANCHORED);
        policy.switch(&[Fault::OneDomainUnanchored].into_iter().collect());
        assert_eq!(policy.decide("login.windows.net", 443), Forwarding::Edge);
        assert_eq!(policy.decide("login.microsoft.com", 443), ANCHORED);
        policy.switch(&BTreeSet::new());
        assert_eq!(policy.decide("login.windows.net", 443), ANCHORED);
        // Faults of the listeners are not the policy's to switch: they stay as started.
        assert!(policy.has(Fault::DnsNxdomain));
    }
}
