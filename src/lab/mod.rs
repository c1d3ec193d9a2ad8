//! The embedded lab: a faithful, in-process model of the SIPA world on loopback (DNS, a ZIA-like
//! gateway with its forwarding policy, Microsoft's login front ends, IP echo sites), with named
//! faults that each reproduce a real misconfiguration. Used by `sipa-check lab` and by tests.
//!
//! Everything binds to 127.0.0.0/8 (and `[::1]` for the IPv6 bypass) on ephemeral ports, so
//! many labs can run side by side; nothing ever talks to any other address.

pub mod admin_api;
mod conn;
mod dns;
mod fault;
mod gateway;
mod graph;
mod origin;
mod pki;
mod policy;
mod quic;
mod world;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject as _;
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};

pub use fault::{Fault, UnknownFault};
pub use graph::{
    EntraLabConfig, GRAPH_HOST, GraphQuirk, GraphTraffic, LAB_CA_POLICY_ID, LAB_CA_POLICY_NAME,
    LAB_CLIENT_ID, LAB_CLIENT_SECRET, LAB_MFA_POLICY_ID, LAB_NAMED_LOCATION_ID,
    LAB_NAMED_LOCATION_NAME, LAB_SERVICE_PRINCIPAL_ID, STALE_CONNECTOR_RANGE,
    STORM_RETRY_AFTER_SECS, WhatIfShape,
};
pub use origin::ECHO_PATH;
pub use pki::{INTERCEPTION_CA_NAME, LAB_CA_NAME};
pub use quic::QuicEgress;
pub use world::*;

use gateway::{Door, Entry, GatewayState, Interception};
use origin::OriginState;
use policy::ForwardingPolicy;

/// The lab's PAC file: the login hosts, the canary and the control through the explicit
/// proxy (as the lab's proxy runs do), everything else DIRECT; with `bypass_login` (fault
/// `pac-bypasses-login`), login.windows.net DIRECT, as a Microsoft 365 bypass list would.
pub fn lab_pac(proxy: SocketAddr, bypass_login: bool) -> String {
    let bypass = if bypass_login {
        "    // Microsoft 365 \"Optimize\" bypass list: straight out, not through the proxy.\n    if (dnsDomainIs(host, \"login.windows.net\"))\n        return \"DIRECT\";\n"
    } else {
        ""
    };
    format!(
        "// The sipa-check lab's PAC file.\nfunction FindProxyForURL(url, host) {{\n    host = host.toLowerCase();\n{bypass}    if (dnsDomainIs(host, \"login.microsoftonline.com\") || dnsDomainIs(host, \"login.windows.net\") ||\n        dnsDomainIs(host, \"login.microsoft.com\") || dnsDomainIs(host, \".{LAB_DOMAIN}\"))\n        return \"PROXY {proxy}; DIRECT\";\n    return \"DIRECT\";\n}}\n"
    )
}

/// A running lab. Its tasks run on the caller's tokio runtime; dropping the lab (or
/// [`Lab::shutdown`]) stops them all and removes the CA file.
#[derive(Debug)]
pub struct Lab {
    dns_addr: SocketAddr,
    proxy_addr: SocketAddr,
    transparent_http_addr: SocketAddr,
    transparent_https_addr: SocketAddr,
    ca_pem: String,
    /// The origin servers' certificate chain and key (PEM), for real servers in tests.
    origin_pem: OriginPem,
    ca_dir: PathBuf,
    ca_file: PathBuf,
    graph_addr: SocketAddr,
    pac_url: url::Url,
    pac_https_url: url::Url,
    sign_ins: SignInLog,
    traffic: Arc<origin::TrafficCounters>,
    graph_traffic: Arc<graph::GraphCounters>,
    /// The gateway's forwarding policy, whose faults can be switched while the lab runs.
    policy: Arc<ForwardingPolicy>,
    /// The QUIC listener on UDP beside the transparent HTTPS door, when a fault opens UDP 443.
    quic: Option<(quinn::Endpoint, Arc<quic::QuicState>)>,
    tasks: Vec<JoinHandle<()>>,
}

/// The origin's chain and key in PEM; its `Debug` never shows the key.
struct OriginPem(String, String);

impl std::fmt::Debug for OriginPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OriginPem(REDACTED)")
    }
}

/// A fault that a running lab cannot switch: it shapes listeners, DNS or certificates made at
/// start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the fault {} cannot be switched on a running lab: only the forwarding policy's can ({}); start a lab with it instead",
    .0.name(),
    Fault::SWITCHABLE.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
)]
pub struct NotSwitchable(pub Fault);

impl Lab {
    /// Starts DNS, origin servers and gateway with `config`'s faults.
    pub async fn start(config: LabConfig) -> Result<Lab, LabError> {
        Lab::start_with(config, EntraLabConfig::default()).await
    }

    /// As [`Lab::start`], with the Entra side (sign-in ingestion, Graph quirks) set by `entra`.
    pub async fn start_with(config: LabConfig, entra: EntraLabConfig) -> Result<Lab, LabError> {
        let faults: BTreeSet<Fault> = config.faults.iter().copied().collect();
        let has = |fault| faults.contains(&fault);
        let latency = config.latency;
        let loopback_any = SocketAddr::new(IpAddr::V4(ORIGIN_IP), 0);

        // Certificates first: they are what can fail for reasons other than the network.
        let lab_ca = pki::Authority::generate(LAB_CA_NAME)?;
        let wildcard = format!("*.{LAB_DOMAIN}");
        let mut leaf_names = LAB_HOSTS.to_vec();
        leaf_names.push(&wildcard);
        let leaf = lab_ca.issue_server("lab origin", &leaf_names)?;
        let origin_tls = pki::server_config("lab origin", &leaf)?;
        let graph_leaf = lab_ca.issue_server("lab Graph", &[GRAPH_HOST])?;
        let graph_tls = pki::server_config("lab Graph", &graph_leaf)?;
        let interception = if has(Fault::TlsIntercept) {
            let rogue_ca = pki::Authority::generate(INTERCEPTION_CA_NAME)?;
            let rogue_leaf = rogue_ca.issue_server("interception", &LOGIN_HOSTS)?;
            Some(Interception {
                acceptor: TlsAcceptor::from(pki::server_config("interception", &rogue_leaf)?),
                origin: TlsConnector::from(pki::client_config(
                    "gateway's origin client",
                    lab_ca.der(),
                )?),
            })
        } else {
            None
        };
        let (ca_dir, ca_file) = write_ca_file(lab_ca.pem())?;
        // From here on, a failure must still remove the CA directory.
        let mut lab = Lab {
            dns_addr: loopback_any,
            proxy_addr: loopback_any,
            transparent_http_addr: loopback_any,
            transparent_https_addr: loopback_any,
            ca_pem: lab_ca.pem().to_owned(),
            origin_pem: OriginPem(leaf.chain_pem.clone(), leaf.key_pem.clone()),
            ca_dir,
            ca_file,
            graph_addr: loopback_any,
            pac_url: url::Url::parse(&format!("http://{PAC_HOST}/")).expect("a URL"),
            pac_https_url: url::Url::parse(&format!("https://{PAC_HOST}/")).expect("a URL"),
            sign_ins: Arc::new(Mutex::new(Vec::new())),
            traffic: Arc::default(),
            graph_traffic: Arc::default(),
            policy: Arc::new(ForwardingPolicy::new(&faults)),
            quic: None,
            tasks: Vec::new(),
        };

        // Origin servers; the QUIC listener, when a fault opens UDP 443.
        let quic_egress = if has(Fault::QuicOpenUnanchored) {
            Some(QuicEgress::Direct)
        } else if has(Fault::QuicOpen) {
            Some(QuicEgress::Unproven)
        } else {
            None
        };
        let origin_plain = conn::bind("origin HTTP", loopback_any).await?;
        let origin_plain_addr = conn::local_addr("origin HTTP", &origin_plain)?;
        let origin_https = conn::bind("origin HTTPS", loopback_any).await?;
        let origin_https_addr = conn::local_addr("origin HTTPS", &origin_https)?;
        let tokens = graph::IssuedTokens::default();
        let origin_state = Arc::new(OriginState {
            tokens: tokens.clone(),
            echo_garbage: has(Fault::EchoGarbage),
            latency,
            sign_ins: lab.sign_ins.clone(),
            traffic: lab.traffic.clone(),
            conditional_access: has(Fault::CaBlocks),
            ca_ignores_location: has(Fault::WhatIfNoDifference),
            offers_h3: quic_egress.is_some(),
            client_certificates: entra
                .client_certificates
                .iter()
                .flat_map(|pem| {
                    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
                        .filter_map(Result::ok)
                        .map(|der| der.to_vec())
                })
                .collect(),
            pac: std::sync::OnceLock::new(),
        });
        lab.pac_url = url::Url::parse(&format!(
            "http://{PAC_HOST}:{}{}",
            origin_plain_addr.port(),
            origin::PAC_PATH
        ))
        .expect("a URL");
        lab.pac_https_url = url::Url::parse(&format!(
            "https://{PAC_HOST}:{}{}",
            origin_https_addr.port(),
            origin::PAC_PATH
        ))
        .expect("a URL");
        let origin_acceptor = TlsAcceptor::from(origin_tls);

        // Gateway doors; under `ipv6-bypass` the transparent ports are also origin ports on ::1.
        let blackhole = has(Fault::BlackholeConnect);
        let (http_door, https_door) = if has(Fault::Ipv6Bypass) {
            let (http_door, http_addr, http_twin) =
                gateway::bind_ipv6_twin(Entry::TransparentHttp, blackhole).await?;
            let (https_door, https_addr, https_twin) =
                gateway::bind_ipv6_twin(Entry::TransparentHttps, blackhole).await?;
            lab.tasks
                .push(origin::spawn_plain(origin_state.clone(), http_twin));
            lab.tasks.push(origin::spawn_tls(
                origin_state.clone(),
                origin_acceptor.clone(),
                https_twin,
            ));
            ((http_door, http_addr), (https_door, https_addr))
        } else {
            (
                Door::bind(Entry::TransparentHttp, blackhole).await?,
                Door::bind(Entry::TransparentHttps, blackhole).await?,
            )
        };
        let proxy_door = Door::bind(Entry::Proxy, blackhole).await?;
        lab.transparent_http_addr = http_door.1;
        lab.transparent_https_addr = https_door.1;
        if let Some(egress) = quic_egress {
            // UDP on the HTTPS door's port number: `--connect-to :443::PORT` takes QUIC there.
            let udp = SocketAddr::new(IpAddr::V4(ORIGIN_IP), https_door.1.port());
            let endpoint = quic::bind(udp, pki::h3_server_config("lab QUIC", &leaf)?)?;
            let state = Arc::new(quic::QuicState::new(egress));
            lab.tasks.push(quic::spawn(endpoint.clone(), state.clone()));
            lab.quic = Some((endpoint, state));
        }
        lab.proxy_addr = proxy_door.1;
        let _ = origin_state
            .pac
            .set(lab_pac(lab.proxy_addr, has(Fault::PacBypassesLogin)));

        // The Graph-like API, on a listener of its own: the client reaches it by its own route.
        let graph_listener = conn::bind("Graph", loopback_any).await?;
        lab.graph_addr = conn::local_addr("Graph", &graph_listener)?;
        let mut entra = entra;
        if has(Fault::WhatIfUnavailable) {
            entra.what_if = WhatIfShape::Neither;
        }
        let graph_state = Arc::new(graph::GraphState {
            config: entra,
            sign_ins: lab.sign_ins.clone(),
            counters: lab.graph_traffic.clone(),
            latency,
            never_ingested: has(Fault::SignInNeverIngested),
            forbidden: has(Fault::GraphForbidden),
            throttled: has(Fault::GraphThrottled),
            location_missing_connector: has(Fault::NamedLocationMissingConnector),
            ca_enforced: has(Fault::CaBlocks),
            ca_ignores_location: has(Fault::WhatIfNoDifference),
            tokens,
        });
        lab.tasks.push(graph::spawn(
            graph_state,
            TlsAcceptor::from(graph_tls),
            graph_listener,
        ));

        let (dns_udp, dns_tcp) = dns::bind().await?;
        lab.dns_addr = dns_udp.local_addr().map_err(|source| LabError::Bind {
            listener: "DNS (UDP)",
            addr: loopback_any,
            source,
        })?;

        // Everything is bound: start serving.
        lab.tasks
            .push(origin::spawn_plain(origin_state.clone(), origin_plain));
        lab.tasks.push(origin::spawn_tls(
            origin_state,
            origin_acceptor,
            origin_https,
        ));
        let gateway_state = Arc::new(GatewayState {
            policy: lab.policy.clone(),
            origin_plain: origin_plain_addr,
            origin_tls: origin_https_addr,
            latency,
            slow_path: has(Fault::SlowPath),
            proxy_auth_required: has(Fault::ProxyAuthRequired),
            blackhole_tls: has(Fault::BlackholeTls),
            interception,
        });
        for (entry, door) in [
            (Entry::TransparentHttp, http_door.0),
            (Entry::TransparentHttps, https_door.0),
            (Entry::Proxy, proxy_door.0),
        ] {
            lab.tasks
                .push(gateway::spawn(gateway_state.clone(), entry, door));
        }
        lab.tasks.push(dns::spawn(
            dns::LabZone::new(&faults, latency),
            dns_udp,
            dns_tcp,
        ));
        Ok(lab)
    }

    /// The DNS server, UDP and TCP.
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns_addr
    }

    /// The gateway's explicit HTTP proxy.
    pub fn proxy_addr(&self) -> SocketAddr {
        self.proxy_addr
    }

    /// The gateway's transparent listener standing for port 80 of every host.
    pub fn transparent_http_addr(&self) -> SocketAddr {
        self.transparent_http_addr
    }

    /// The gateway's transparent listener standing for port 443 of every host.
    pub fn transparent_https_addr(&self) -> SocketAddr {
        self.transparent_https_addr
    }

    /// The lab Graph's listener: `https://graph.sipa-lab.test` (lab CA) on this address.
    pub fn graph_addr(&self) -> SocketAddr {
        self.graph_addr
    }

    /// The lab Graph's base URL, to be reached at [`Lab::graph_addr`].
    pub fn graph_url(&self) -> url::Url {
        url::Url::parse(&format!("https://{GRAPH_HOST}:{}/", self.graph_addr.port()))
            .expect("the lab Graph's URL is valid")
    }

    /// What the lab Graph has seen so far.
    pub fn graph_traffic(&self) -> GraphTraffic {
        self.graph_traffic.snapshot()
    }

    /// The lab CA certificate (PEM) that signs the origin servers' certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The certificate chain (leaf for every lab name, then the lab CA) and its private key, in
    /// PEM: what the lab's origin servers present, for a real server (caddy) to present the same
    /// in tests. A lab key, made at start, never a secret of anyone's.
    pub fn origin_identity_pem(&self) -> (&str, &str) {
        (&self.origin_pem.0, &self.origin_pem.1)
    }

    /// A file holding [`Lab::ca_pem`], removed when the lab stops.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The App Connector's address: what anchored traffic must egress from.
    pub fn anchor_ip(&self) -> IpAddr {
        IpAddr::V4(ANCHOR_IP)
    }

    /// The ZIA edge's address: what unanchored traffic egresses from.
    pub fn edge_ip(&self) -> IpAddr {
        IpAddr::V4(EDGE_IP)
    }

    fn common_flags(&self, route: Vec<String>) -> Vec<String> {
        let mut flags = vec!["--dns".to_owned(), self.dns_addr.to_string()];
        flags.extend(route);
        flags.extend([
            "--ca-file".to_owned(),
            self.ca_file.display().to_string(),
            "--expect-ip".to_owned(),
            ANCHOR_IP.to_string(),
        ]);
        flags
    }

    /// The `sipa-check run` flags that reach this lab transparently: ports 80 and 443 of any
    /// host are mapped (curl's `--connect-to HOST1:PORT1:HOST2:PORT2`, empty hosts meaning
    /// "any" and "keep the resolved address") to the gateway's transparent listeners.
    pub fn run_flags(&self) -> Vec<String> {
        self.common_flags(vec![
            "--connect-to".to_owned(),
            format!(":80::{}", self.transparent_http_addr.port()),
            "--connect-to".to_owned(),
            format!(":443::{}", self.transparent_https_addr.port()),
        ])
    }

    /// The lab's PAC file: `http://pac.sipa-lab.test:PORT/proxy.pac` (the name resolves by the
    /// lab's DNS).
    pub fn pac_url(&self) -> url::Url {
        self.pac_url.clone()
    }

    /// The same PAC file over https, with a certificate from the lab's CA (`--ca-file`).
    pub fn pac_https_url(&self) -> url::Url {
        self.pac_https_url.clone()
    }

    /// The `sipa-check run` flags that follow this lab's PAC file (DIRECT goes to the
    /// transparent gateway, as [`Lab::run_flags`]).
    pub fn pac_run_flags(&self) -> Vec<String> {
        let mut flags = self.run_flags();
        flags.extend(["--pac".to_owned(), self.pac_url.to_string()]);
        flags
    }

    /// The `sipa-check run` flags that reach this lab through its explicit proxy.
    pub fn proxy_run_flags(&self) -> Vec<String> {
        self.common_flags(vec![
            "--proxy".to_owned(),
            format!("http://{}", self.proxy_addr),
        ])
    }

    /// The sign-ins recorded by the login hosts' token endpoints so far, oldest first.
    pub fn sign_ins(&self) -> Vec<SignIn> {
        self.sign_ins
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// What the origin servers have seen so far.
    pub fn origin_traffic(&self) -> OriginTraffic {
        self.traffic.snapshot()
    }

    /// Switches the forwarding policy's faults while the lab runs, as an admin's change to ZIA
    /// or ZPA would: from the next connection on, exactly the given faults of
    /// [`Fault::SWITCHABLE`] are on (an empty list heals the policy). Any other fault is
    /// refused, and nothing changes.
    pub fn switch_faults(&self, faults: &[Fault]) -> Result<(), NotSwitchable> {
        if let Some(f) = faults.iter().find(|f| !Fault::SWITCHABLE.contains(f)) {
            return Err(NotSwitchable(*f));
        }
        self.policy.switch(&faults.iter().copied().collect());
        Ok(())
    }

    /// Where HTTP/3 leaves from, as the QUIC listener's echo shows it from now on. Only a lab
    /// started with `quic-open` or `quic-open-unanchored` has the listener: without it UDP 443
    /// is closed and this returns `false`. [`QuicEgress::Anchored`] stands for a site whose
    /// UDP 443 is anchored too (the HTTP/3 canary shows the App Connector).
    pub fn set_quic_egress(&self, egress: QuicEgress) -> bool {
        match &self.quic {
            Some((_, state)) => {
                state.set(egress);
                true
            }
            None => false,
        }
    }

    /// Stops every lab task and waits until they are gone, so their ports are free again.
    pub async fn shutdown(mut self) {
        if let Some((endpoint, _)) = &self.quic {
            endpoint.close(0u32.into(), b"lab stopped");
        }
        let tasks = std::mem::take(&mut self.tasks);
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some((endpoint, _)) = &self.quic {
            endpoint.close(0u32.into(), b"lab stopped");
        }
        for task in &self.tasks {
            task.abort();
        }
        // Best effort: a leftover CA in the temp dir is harmless.
        let _ = std::fs::remove_dir_all(&self.ca_dir);
    }
}

/// Writes the CA to a fresh directory of its own under the system temp dir.
fn write_ca_file(pem: &str) -> Result<(PathBuf, PathBuf), LabError> {
    let dir = std::env::temp_dir().join(format!(
        "sipa-check-lab-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir(&dir).map_err(|source| LabError::CaFile {
        path: dir.clone(),
        source,
    })?;
    let file = dir.join("lab-ca.pem");
    if let Err(source) = std::fs::write(&file, pem) {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(LabError::CaFile { path: file, source });
    }
    Ok((dir, file))
}

#[cfg(test)]
mod tests;
