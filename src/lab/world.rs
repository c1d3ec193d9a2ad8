//! The lab world's names and addresses (the login hosts, the canary and control, the anchor,
//! edge and vantage addresses), and the records its servers share (sign-ins, traffic, the
//! lab's errors): what every lab server imports, so none imports the lab's `mod.rs`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::fault::Fault;

/// The Office 365 login hosts that SIPA must anchor.
pub const LOGIN_HOSTS: [&str; 3] = [
    "login.microsoftonline.com",
    "login.windows.net",
    "login.microsoft.com",
];
/// An IP echo site the lab's application segment anchors, like the login hosts.
pub const CANARY_HOST: &str = "canary.sipa-lab.test";
/// An IP echo site that must not be anchored.
pub const CONTROL_HOST: &str = "control.sipa-lab.test";
/// The lab's PAC file server (on the origin's plain HTTP listener).
pub const PAC_HOST: &str = "pac.sipa-lab.test";
/// Every name the lab's DNS knows and its servers answer for.
pub const LAB_HOSTS: [&str; 5] = [
    LOGIN_HOSTS[0],
    LOGIN_HOSTS[1],
    LOGIN_HOSTS[2],
    CANARY_HOST,
    CONTROL_HOST,
];

/// The lab's own domain. Every one-label name under it (`host-042.sipa-lab.test`) resolves, is
/// covered by the lab certificate's wildcard and is served, so scale runs can use many hosts.
pub const LAB_DOMAIN: &str = "sipa-lab.test";
/// `scale-NNN.sipa-lab.test` names stand for extra login hosts: they answer like the login front
/// ends and the application segment anchors them on 80 and 443. Faults that name a login host
/// (DNS, IPv6 bypass, SSL inspection) keep to the three real ones.
pub const SCALE_HOST_PREFIX: &str = "scale-";

/// Whether the lab's DNS, certificate and servers know `host` (lower case, no trailing dot).
pub(crate) fn is_lab_host(host: &str) -> bool {
    LAB_HOSTS.contains(&host)
        || host
            .strip_suffix(LAB_DOMAIN)
            .and_then(|rest| rest.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.'))
}

/// Whether `host` behaves as a login front end and belongs in the application segment.
pub(crate) fn is_login_like(host: &str) -> bool {
    LOGIN_HOSTS.contains(&host) || (host.starts_with(SCALE_HOST_PREFIX) && is_lab_host(host))
}

/// Where every lab name resolves, and where the origin servers listen.
pub const ORIGIN_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
/// The App Connector's "public" IP: anchored traffic leaves from here.
pub const ANCHOR_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// The ZIA edge's "public" IP: unanchored traffic leaves from here.
pub const EDGE_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
/// The connector of the wrong connector group (`wrong-connector`).
pub const WRONG_CONNECTOR_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);
/// The trusted office: a client bound to this source is at a location the ZIA forwarding
/// rule's trust criteria list, so its login traffic is anchored.
pub const OFFICE_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 10);
/// The guest network: a client bound to this source is at a location outside the trust
/// criteria, so its login traffic leaves from the ZIA edge. Any other source is treated as
/// before the lab had places: trusted.
pub const GUEST_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 20);

/// How a lab is set up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabConfig {
    /// Misconfigurations to reproduce; they combine.
    pub faults: Vec<Fault>,
    /// Added to every connection set-up and every answer, to emulate a WAN.
    pub latency: Duration,
}

/// The in-memory sign-in log the lab's token endpoint writes to and its Graph reads.
pub(crate) type SignInLog = Arc<Mutex<Vec<SignIn>>>;

/// One token request seen by a login host, as Entra's sign-in log would record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    /// The `x-ms-request-id` the login host answered with.
    pub id: String,
    /// The client's `client-request-id` (header or form field), or one the host made up.
    pub correlation_id: String,
    /// The address Conditional Access would evaluate: the TCP peer the login host saw.
    pub ip_address: IpAddr,
    /// The login host that was asked.
    pub host: String,
    /// The tenant segment of the token endpoint's path.
    pub tenant: String,
    /// The `client_id` form field, if any.
    pub client_id: Option<String>,
    /// When the request arrived.
    pub time: SystemTime,
    /// The AADSTS code the request was answered with; 0 when a token was issued.
    pub error_code: u32,
    /// What the lab's Conditional Access emulation decided.
    pub conditional_access: CaStatus,
}

/// `conditionalAccessStatus` of a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaStatus {
    /// No policy was evaluated (the emulation is off, or the client was not authenticated).
    NotApplied,
    /// The policy was evaluated and did not block.
    Success,
    /// The policy blocked the sign-in (AADSTS53003).
    Failure,
}

/// What the origin servers have seen so far: evidence of how the harness used connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OriginTraffic {
    /// Connections that reached HTTP at the origin (after the TLS handshake on 443).
    pub connections: u64,
    /// HTTP requests answered.
    pub requests: u64,
    /// Requests that came on a connection that had already carried one (a pooled client).
    pub requests_on_reused_connections: u64,
    /// `GET /echo/ip` answers.
    pub echo_answers: u64,
}

/// Why the lab could not start.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A listener could not be bound or inspected.
    #[error("cannot bind the {listener} listener on {addr}")]
    Bind {
        /// Which lab listener.
        listener: &'static str,
        /// The address it tried.
        addr: SocketAddr,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// Under `blackhole-connect`, the accept queue of a listener never filled up.
    #[error("cannot fill the accept queue of the blackholed {listener} listener on {addr}")]
    Blackhole {
        /// Which lab listener.
        listener: &'static str,
        /// Its address.
        addr: SocketAddr,
    },
    /// A certificate could not be made.
    #[error("cannot make the {what} certificate")]
    Certificate {
        /// Which certificate.
        what: &'static str,
        /// What rcgen said.
        #[source]
        source: rcgen::Error,
    },
    /// A TLS configuration was refused by rustls.
    #[error("cannot build the TLS configuration of the {what}")]
    Tls {
        /// Which configuration.
        what: &'static str,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
    /// The lab CA could not be written for the harness to read.
    #[error("cannot write the lab CA to {path}")]
    CaFile {
        /// The file or directory that failed.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}
