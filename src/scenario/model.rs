//! The validated scenario: what the runner is allowed to see. Built only by `validate`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::Serialize;
use url::Url;

/// A TCP port, 1..=65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Port(u16);

impl Port {
    /// Plain HTTP, where the login hosts redirect to https.
    pub const HTTP: Port = Port(80);
    /// HTTPS, the login hosts' port.
    pub const HTTPS: Port = Port(443);

    /// A port in 1-65535; `None` for 0, which no connection can reach.
    pub const fn new(number: u16) -> Option<Port> {
        if number == 0 {
            None
        } else {
            Some(Port(number))
        }
    }

    /// The port's number.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// Whether this port speaks TLS: 443, the login hosts' HTTPS port.
    pub fn is_tls(self) -> bool {
        self.0 == 443
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A login host name such as `login.microsoftonline.com`, lower-case, without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct LoginHost(String);

impl LoginHost {
    /// A name already checked by the scenario's validation (`values::parse_login_host`).
    pub(crate) fn checked(name: String) -> LoginHost {
        LoginHost(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LoginHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The login traffic that must be anchored: hosts × ports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoginSpec {
    pub hosts: Vec<LoginHost>,
    pub ports: Vec<Port>,
    /// Path of the OpenID configuration document fetched on 443.
    pub openid_path: String,
}

/// The App Connector public IPs (or CIDRs) that anchored traffic must leave from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AnchorSet(pub Vec<IpNet>);

impl AnchorSet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each entry as shown to people: an address alone, a network as a CIDR.
    pub fn entries(&self) -> Vec<String> {
        self.0.iter().map(show_net).collect()
    }
}

impl fmt::Display for AnchorSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}", self.entries().join(", "))
    }
}

/// A single address prints as an address, a real network as a CIDR.
fn show_net(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// Whether an echo observer's traffic must be anchored or must not be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObserverRole {
    /// A canary inside the SIPA segment: must show an anchor IP.
    Anchored,
    /// Non-login traffic: must show an IP outside the anchor set.
    Control,
}

impl fmt::Display for ObserverRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObserverRole::Anchored => "anchored",
            ObserverRole::Control => "control",
        })
    }
}

/// How to read the caller's IP out of an echo answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Extract {
    /// The whole body, trimmed, is the address.
    Text,
    /// A JSON pointer (RFC 6901) to a string holding the address.
    JsonPointer(String),
    /// A response header holding the address.
    Header(String),
    /// A regex whose first capture group (the whole match when it has no group) is the address.
    Regex(#[serde(serialize_with = "serialize_regex")] regex::Regex),
}

fn serialize_regex<S: serde::Serializer>(re: &regex::Regex, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(re.as_str())
}

impl PartialEq for Extract {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Extract::Text, Extract::Text) => true,
            (Extract::JsonPointer(a), Extract::JsonPointer(b)) => a == b,
            (Extract::Header(a), Extract::Header(b)) => a.eq_ignore_ascii_case(b),
            (Extract::Regex(a), Extract::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

/// A URL whose answer reveals the caller's IP.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EchoObserver {
    pub name: String,
    pub role: ObserverRole,
    pub url: Url,
    pub extract: Extract,
    /// Samples, each on a fresh connection.
    pub samples: u32,
    /// The port the URL reaches, explicit or the scheme's default.
    pub port: Port,
    /// `http3 = true`: the echo answers over HTTP/3 (QUIC on UDP) too, and is asked that way
    /// once a QUIC handshake to a login host completed, to tell anchored QUIC from open QUIC.
    pub http3: bool,
}

impl EchoObserver {
    /// Host name (or literal address) of the URL.
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// The port the URL reaches, explicit or the scheme's default.
    pub fn port(&self) -> Port {
        self.port
    }
}

/// An explicit proxy. The password, if any, never appears in any output.
#[derive(Clone, PartialEq)]
pub struct ProxySpec {
    /// Without credentials.
    pub url: Url,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

impl ProxySpec {
    /// The URL as safe to show: credentials are never part of it.
    pub fn display_url(&self) -> String {
        match &self.username {
            Some(user) => {
                let mut shown = self.url.clone();
                let _ = shown.set_username(user);
                if self.password.is_some() {
                    let _ = shown.set_password(Some("REDACTED"));
                }
                shown.to_string()
            }
            None => self.url.to_string(),
        }
    }
}

impl fmt::Debug for ProxySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_url())
    }
}

impl Serialize for ProxySpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.display_url())
    }
}

/// A secret value: `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The only way to read the value: at the point where it is sent.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

/// Where the checks run from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vantage {
    pub name: String,
    /// Resolvers; empty means the system configuration.
    pub dns: Vec<SocketAddr>,
    pub proxy: Option<ProxySpec>,
    /// Extra trust anchors (PEM files), such as the Zscaler root for SSL inspection.
    pub ca_files: Vec<PathBuf>,
    /// Whether login traffic is expected anchored from here (false outside trusted locations).
    pub expect_anchored: bool,
    /// Where its probes leave from on this machine; the system's choice when `None`.
    pub bind: Option<LocalBind>,
    /// The browser's proxy decision this vantage follows (`pac`, `--pac`, `--system-proxy`),
    /// instead of one explicit proxy for everything.
    pub decision: Option<DecisionSpec>,
}

/// Where a vantage's browser takes its proxy decision from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", content = "at", rename_all = "snake_case")]
pub enum DecisionSpec {
    /// A PAC file, fetched over http(s) through the vantage's path or read from a file.
    Pac(PacLocation),
    /// The environment's `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` (`--system-proxy`).
    SystemProxy,
}

/// Where a PAC file is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum PacLocation {
    /// `http://…` or `https://…`.
    Url(Url),
    /// A local file (a path, or a `file://` URL).
    File(PathBuf),
}

impl fmt::Display for PacLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacLocation::Url(u) => write!(f, "{u}"),
            PacLocation::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Where a vantage's probes leave from on this machine: every socket of its DNS queries,
/// connections and echo samples is bound so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalBind {
    /// `bind = "127.0.0.10"`: a local address of this machine.
    Address(std::net::IpAddr),
    /// `interface = "eth1"`: a network interface (SO_BINDTODEVICE, Linux only).
    Interface(String),
}

impl fmt::Display for LocalBind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalBind::Address(ip) => write!(f, "address {ip}"),
            LocalBind::Interface(name) => write!(f, "interface {name}"),
        }
    }
}

/// What a run asks of each login host's evidence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Require {
    /// A canary on the shared path is enough; hosts proven by nothing else are said to be
    /// "path only".
    #[default]
    Path,
    /// Each login host must be proven on its TLS port by its own evidence (an echo on the host,
    /// Entra's sign-in log or Conditional Access): a path-only host is inconclusive.
    PerHost,
}

impl fmt::Display for Require {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Require::Path => "path",
            Require::PerHost => "per-host",
        })
    }
}

/// Which IP families to probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FamilySelection {
    V4,
    V6,
    Both,
}

impl FamilySelection {
    pub fn families(self) -> &'static [Family] {
        match self {
            FamilySelection::V4 => &[Family::V4],
            FamilySelection::V6 => &[Family::V6],
            FamilySelection::Both => &[Family::V4, Family::V6],
        }
    }
}

/// One IP family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Family {
    #[serde(rename = "ipv4")]
    V4,
    #[serde(rename = "ipv6")]
    V6,
}

impl Family {
    /// The DNS record type that holds this family's addresses: `A` or `AAAA`.
    pub fn record_type(self) -> &'static str {
        match self {
            Family::V4 => "A",
            Family::V6 => "AAAA",
        }
    }

    pub fn matches(self, ip: IpAddr) -> bool {
        matches!(
            (self, ip),
            (Family::V4, IpAddr::V4(_)) | (Family::V6, IpAddr::V6(_))
        )
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        })
    }
}

/// Time and effort limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limits {
    /// Per probe.
    #[serde(with = "duration_ms")]
    pub timeout: Duration,
    /// Whole run.
    #[serde(with = "duration_ms")]
    pub deadline: Duration,
    /// Default samples per echo observer.
    pub samples: u32,
    pub family: FamilySelection,
    /// Probes in flight at once.
    pub concurrency: usize,
    /// What each login host's evidence must be.
    pub require: Require,
}

impl Limits {
    /// Probes in flight at once unless the scenario says otherwise: a connection each (an echo
    /// check holds one per sample), so a run keeps at most this many probe sockets open, under
    /// the usual limit of 1,024 descriptors, however large the plan. It is enough for the
    /// 606 checks of 100 hosts to start in one wave; `fit_descriptors` lowers it where the
    /// limit is lower.
    pub const DEFAULT_CONCURRENCY: usize = 512;
    /// Descriptors a run keeps for itself besides its probe sockets: the resolver's sockets, the
    /// runtime's, the standard streams, the trust store and the report files.
    pub const RESERVED_DESCRIPTORS: u64 = 64;

    /// Lowers `concurrency` so that the probes in flight, `descriptors_per_probe` each, and the
    /// reserve fit within `open_files` descriptors: a socket the system refuses would end a check
    /// on "too many open files" instead of on the network. Says what it did, if anything.
    pub fn fit_descriptors(
        &mut self,
        open_files: u64,
        descriptors_per_probe: u64,
    ) -> Option<String> {
        let room =
            open_files.saturating_sub(Limits::RESERVED_DESCRIPTORS) / descriptors_per_probe.max(1);
        let fits = usize::try_from(room).unwrap_or(usize::MAX).max(1);
        if self.concurrency <= fits {
            return None;
        }
        let note = format!(
            "concurrency {} lowered to {fits}: this process may open only {open_files} files (ulimit -n)",
            self.concurrency
        );
        self.concurrency = fits;
        Some(note)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(5),
            deadline: Duration::from_secs(60),
            samples: 3,
            family: FamilySelection::Both,
            concurrency: Limits::DEFAULT_CONCURRENCY,
            require: Require::Path,
        }
    }
}

mod duration_ms {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}

/// A scenario after parsing and validation: everything the plan needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    /// The file it came from (or `<bundled>`).
    pub source: PathBuf,
    pub login: LoginSpec,
    pub anchors: AnchorSet,
    pub observers: Vec<EchoObserver>,
    /// The vantage this scenario runs from: the first one declared.
    pub vantage: Vantage,
    /// The other `[[vantage]]` entries, in file order: a run checks each of them too, as a
    /// scenario of its own (see [`Scenario::per_vantage`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub more_vantages: Vec<Vantage>,
    pub limits: Limits,
    /// `[entra]`: each login host proven by Entra's sign-in log, when present.
    pub entra: Option<EntraSpec>,
}

/// `[entra]`: a token request through each login host, then Entra's sign-in log read back
/// through Graph (on its own route) for the IP Entra saw. The app's credentials come from the
/// environment, never from the scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntraSpec {
    /// How long to wait for the sign-ins to reach the log (0: look once).
    #[serde(with = "duration_ms", rename = "wait_ms")]
    pub wait: Duration,
    /// Graph's base URL, for a lab or a proxying setup; the cloud's Graph host when `None`.
    pub graph_url: Option<url::Url>,
    /// The cloud's authority host; the credentials' (public cloud unless the environment says
    /// otherwise) when `None`.
    pub authority_host: Option<String>,
    /// What proves each login host: the sign-in log, Conditional Access's answer, or both.
    pub mode: EntraMode,
    /// `what_if`: ask Conditional Access's What If whether the anchor IPs change its decision;
    /// `None`: asked whenever the run reads Graph anyway (modes `log` and `both`).
    pub what_if: Option<bool>,
    /// `what_if_control_ip`: the non-anchor IP What If compares with when the run's control
    /// observers revealed none.
    pub what_if_control_ip: Option<std::net::IpAddr>,
    /// `what_if_service_principal_id`: the probe app's service principal (object id), for the
    /// older What If request shapes only (the documented one takes the app id); looked up in
    /// Graph by the app's client id when `None` and needed.
    pub what_if_service_principal_id: Option<String>,
    /// `what_if_resource_app_id`: the resource the evaluated sign-in asks for; Microsoft
    /// Graph (the token probe's resource) when `None`.
    pub what_if_resource_app_id: Option<String>,
}

/// `[entra] mode`: what an entra sign-in check is judged on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntraMode {
    /// Entra's sign-in log names the IP it saw (Graph, AuditLog.Read.All; 5-30 min to ingest).
    #[default]
    Log,
    /// The token answer itself, at once: a Conditional Access policy for workload identities
    /// blocks the probe app outside trusted named locations, so a token issued means Entra saw
    /// a trusted IP and AADSTS53003 means it did not. No Graph.
    Ca,
    /// The token answer decides at once, and the sign-in log, when it has the sign-in, must
    /// agree and names the IP.
    Both,
}

impl EntraMode {
    /// Whether the run reads Graph (the sign-in log and the named locations).
    pub fn reads_graph(self) -> bool {
        self != EntraMode::Ca
    }
}

impl EntraSpec {
    /// How long the sign-in log is waited for unless the scenario says otherwise: Entra can
    /// take 5-30 minutes to ingest a service principal's sign-in.
    pub const DEFAULT_WAIT: Duration = Duration::from_secs(20 * 60);

    /// Microsoft Graph's application id, the same in every cloud: the resource of the token
    /// probe's requests, and so of the sign-in What If evaluates.
    pub const GRAPH_APP_ID: &'static str = "00000003-0000-0000-c000-000000000000";

    /// Whether the run asks Conditional Access's What If: as `what_if` says, else whenever it
    /// reads Graph anyway (`log`, `both`); in `ca` mode only when asked for, as that mode
    /// otherwise never contacts Graph.
    pub fn asks_what_if(&self) -> bool {
        self.what_if.unwrap_or_else(|| self.mode.reads_graph())
    }

    /// Whether the run contacts Graph at all.
    pub fn contacts_graph(&self) -> bool {
        self.mode.reads_graph() || self.asks_what_if()
    }

    /// The resource application What If evaluates the sign-in for.
    pub fn resource_app_id(&self) -> &str {
        self.what_if_resource_app_id
            .as_deref()
            .unwrap_or(EntraSpec::GRAPH_APP_ID)
    }

    /// The Graph host the run reads: `graph_url`'s, the authority's cloud's, or the public one.
    pub fn graph_host(&self) -> String {
        if let Some(host) = self.graph_url.as_ref().and_then(|u| u.host_str()) {
            return host.to_owned();
        }
        self.authority_host
            .as_deref()
            .and_then(|a| super::cloud::Cloud::from_authority(a, None).ok())
            .unwrap_or_default()
            .graph_host
    }
}
