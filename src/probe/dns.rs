//! DNS: every hickory-resolver call of the harness lives here.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};

use super::ProbeCtx;
use super::bind::{self, BoundRuntime};
use crate::observation::{
    AddressClass, DnsAnswer, DnsObservation, DnsOutcome, Observation, cause_chain,
};
use crate::scenario::model::Family;
use crate::scenario::model::LocalBind;

/// What to resolve.
#[derive(Debug, Clone)]
pub struct Spec {
    pub host: String,
    pub family: Family,
}

/// The run's resolver: the `--dns` servers, or the system configuration.
pub struct DnsClient {
    resolver: Resolver<BoundRuntime>,
    servers: Vec<String>,
}

/// The resolver could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DnsSetupError {
    /// The system's configuration (/etc/resolv.conf) cannot be read.
    #[error("cannot read the system's DNS configuration")]
    SystemConfig {
        #[source]
        source: NetError,
    },
    #[error("cannot set up the DNS resolver")]
    Build {
        #[source]
        source: NetError,
    },
}

impl DnsClient {
    /// Builds the resolver once per run. `servers` empty means the system configuration.
    pub fn new(servers: &[SocketAddr], timeout: Duration) -> Result<DnsClient, DnsSetupError> {
        DnsClient::bound(servers, timeout, None)
    }

    /// As [`DnsClient::new`], its queries leaving from the vantage's `bind` address or
    /// interface, if it has one.
    pub fn bound(
        servers: &[SocketAddr],
        timeout: Duration,
        local: Option<&LocalBind>,
    ) -> Result<DnsClient, DnsSetupError> {
        let (config, mut opts) = if servers.is_empty() {
            let (system, opts) = hickory_resolver::system_conf::read_system_conf()
                .map_err(|source| DnsSetupError::SystemConfig { source })?;
            let mut config = ResolverConfig::from_parts(None, vec![], vec![]);
            for ns in system.name_servers() {
                let mut ns = ns.clone();
                for conn in &mut ns.connections {
                    conn.bind_addr = bind::dns_source(ns.ip, local).or(conn.bind_addr);
                }
                config.add_name_server(ns);
            }
            (config, opts)
        } else {
            let mut config = ResolverConfig::from_parts(None, vec![], vec![]);
            for server in servers {
                let mut ns = NameServerConfig::udp_and_tcp(server.ip());
                for conn in &mut ns.connections {
                    conn.port = server.port();
                    conn.bind_addr = bind::dns_source(server.ip(), local);
                }
                config.add_name_server(ns);
            }
            (config, ResolverOpts::default())
        };
        let shown: Vec<String> = if servers.is_empty() {
            let mut seen: Vec<String> = Vec::new();
            for ns in config.name_servers() {
                let port = ns.connections.first().map_or(53, |c| c.port);
                let addr = SocketAddr::new(ns.ip, port).to_string();
                if !seen.contains(&addr) {
                    seen.push(addr);
                }
            }
            seen
        } else {
            servers.iter().map(|s| s.to_string()).collect()
        };
        // Each question is asked afresh: the TTLs we report must be the servers' own.
        opts.cache_size = 0;
        opts.attempts = 1;
        opts.timeout = timeout.mul_f32(0.8).max(Duration::from_millis(100));
        opts.ndots = 0;
        let resolver = Resolver::builder_with_config(config, BoundRuntime::new(local))
            .with_options(opts)
            .build()
            .map_err(|source| DnsSetupError::Build { source })?;
        Ok(DnsClient {
            resolver,
            servers: shown,
        })
    }

    pub fn servers(&self) -> &[String] {
        &self.servers
    }

    /// One lookup of `host` for `family`, classified.
    pub async fn lookup(&self, host: &str, family: Family) -> DnsOutcome {
        let record_type = record_type(family);
        // A trailing dot keeps search domains out of it: we ask for exactly this name.
        let fqdn = format!("{}.", host.trim_end_matches('.'));
        match self.resolver.lookup(fqdn.as_str(), record_type).await {
            Ok(lookup) => {
                let answers: Vec<DnsAnswer> = lookup
                    .answers()
                    .iter()
                    .filter_map(|record| {
                        let addr = match &record.data {
                            RData::A(a) => IpAddr::V4(a.0),
                            RData::AAAA(a) => IpAddr::V6(a.0),
                            _ => return None,
                        };
                        Some(DnsAnswer {
                            addr,
                            ttl: record.ttl,
                            class: AddressClass::of(addr),
                        })
                    })
                    .collect();
                if answers.is_empty() {
                    DnsOutcome::NoRecords
                } else {
                    DnsOutcome::Answers { answers }
                }
            }
            Err(err) => classify(&err),
        }
    }

    /// Just the addresses, for `--connect-to` targets given by name.
    pub async fn addresses(&self, host: &str, family: Family) -> Vec<IpAddr> {
        match self.lookup(host, family).await {
            DnsOutcome::Answers { answers } => answers.into_iter().map(|a| a.addr).collect(),
            _ => Vec::new(),
        }
    }
}

fn record_type(family: Family) -> RecordType {
    match family {
        Family::V4 => RecordType::A,
        Family::V6 => RecordType::AAAA,
    }
}

fn classify(err: &NetError) -> DnsOutcome {
    match err {
        NetError::Dns(DnsError::NoRecordsFound(none)) => match none.response_code {
            ResponseCode::NXDomain => DnsOutcome::NxDomain,
            ResponseCode::NoError => DnsOutcome::NoRecords,
            code => DnsOutcome::ErrorCode {
                code: code.to_string(),
            },
        },
        NetError::Dns(DnsError::ResponseCode(code)) => DnsOutcome::ErrorCode {
            code: code.to_string(),
        },
        NetError::Timeout => DnsOutcome::Timeout,
        other => DnsOutcome::Failed {
            causes: cause_chain(other),
        },
    }
}

pub async fn run(spec: &Spec, ctx: &ProbeCtx) -> Observation {
    let started = Instant::now();
    let outcome = ctx.dns.lookup(&spec.host, spec.family).await;
    Observation::Resolve(DnsObservation {
        host: spec.host.clone(),
        record_type: spec.family.record_type(),
        resolvers: ctx.dns.servers().to_vec(),
        outcome,
        elapsed: started.elapsed(),
    })
}
