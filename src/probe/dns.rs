//! DNS: every hickory-resolver call of the harness lives here.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::{Query, ResponseCode};
use hickory_resolver::proto::rr::rdata::svcb::SvcParamValue;
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use hickory_resolver::{Hosts, Resolver};

use super::bind::{self, BoundRuntime};
use crate::observation::{
    AddressClass, AnswerSource, DnsAnswer, DnsObservation, DnsOutcome, HttpsQueryFailure,
    Observation, ServiceRecord, cause_chain,
};
use crate::scenario::model::Family;
use crate::scenario::model::LocalBind;

/// What to resolve.
#[derive(Debug, Clone)]
pub struct Spec {
    pub host: String,
    pub family: Family,
}

/// The hosts file the system resolver reads before DNS.
#[cfg(unix)]
pub const SYSTEM_HOSTS_FILE: &str = "/etc/hosts";
/// The hosts file the system resolver reads before DNS.
#[cfg(windows)]
pub const SYSTEM_HOSTS_FILE: &str = r"C:\Windows\System32\drivers\etc\hosts";
/// The hosts file the system resolver reads before DNS (none on this system).
#[cfg(not(any(unix, windows)))]
pub const SYSTEM_HOSTS_FILE: &str = "";

/// The run's resolver: the `--dns` servers, or the system configuration.
pub struct DnsClient {
    resolver: Resolver<BoundRuntime>,
    servers: Vec<String>,
    /// Without named servers, the hosts file, read before DNS as the system resolver does
    /// (its path and entries); with named servers, none: only they are asked.
    hosts: Option<(String, Hosts)>,
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
        // hickory would read the hosts file itself and answer from it without saying so. With
        // named servers only they are asked; without, the hosts file is read here, before DNS as
        // the system resolver does, so that an answer from it is recorded as such.
        opts.use_hosts_file = ResolveHosts::Never;
        let hosts = servers
            .is_empty()
            .then(|| (SYSTEM_HOSTS_FILE.to_owned(), read_hosts(SYSTEM_HOSTS_FILE)));
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
            hosts,
        })
    }

    pub fn servers(&self) -> &[String] {
        &self.servers
    }

    /// One lookup of `host` for `family`, classified, with where its answer came from.
    pub async fn lookup(&self, host: &str, family: Family) -> (DnsOutcome, AnswerSource) {
        let record_type = record_type(family);
        // A trailing dot keeps search domains out of it: we ask for exactly this name.
        let fqdn = format!("{}.", host.trim_end_matches('.'));
        if let Some((path, hosts)) = &self.hosts {
            let entry = Name::from_ascii(&fqdn)
                .ok()
                .and_then(|name| hosts.lookup_static_host(&Query::query(name, record_type)));
            if let Some(lookup) = entry {
                let source = AnswerSource::HostsFile { path: path.clone() };
                return (answers_of(lookup.answers()), source);
            }
        }
        let source = if self.hosts.is_some() {
            AnswerSource::SystemServers {
                servers: self.servers.clone(),
            }
        } else {
            AnswerSource::NamedServers {
                servers: self.servers.clone(),
            }
        };
        let outcome = match self.resolver.lookup(fqdn.as_str(), record_type).await {
            Ok(lookup) => answers_of(lookup.answers()),
            Err(err) => classify(&err),
        };
        (outcome, source)
    }

    /// The HTTPS records (type 65) of `name`, asked of the servers (a hosts file has none).
    pub async fn lookup_https(&self, name: &str) -> HttpsAnswer {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.resolver.lookup(fqdn.as_str(), RecordType::HTTPS).await {
            Ok(lookup) => https_answer_of(lookup.answers()),
            Err(err) => classify_https(&err),
        }
    }

    /// Just the addresses, for `--connect-to` targets given by name.
    pub async fn addresses(&self, host: &str, family: Family) -> Vec<IpAddr> {
        match self.lookup(host, family).await.0 {
            DnsOutcome::Answers { answers } => answers.into_iter().map(|a| a.addr).collect(),
            _ => Vec::new(),
        }
    }
}

/// The hosts file at `path`; a file that cannot be read has no entries, as for the system
/// resolver.
fn read_hosts(path: &str) -> Hosts {
    let mut hosts = Hosts::default();
    if let Ok(file) = std::fs::File::open(path) {
        // A line it cannot read is skipped by hickory; an I/O error midway keeps what was read.
        let _ = hosts.read_hosts_conf(file);
    }
    hosts
}

/// The A and AAAA records of an answer, classified; none is `NoRecords`.
fn answers_of(records: &[Record]) -> DnsOutcome {
    let answers: Vec<DnsAnswer> = records
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

/// What an HTTPS record query answered, before any alias is followed.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpsAnswer {
    /// ServiceMode records, by priority.
    Service(Vec<ServiceRecord>),
    /// An AliasMode record (priority 0): the records are at `target` (`.`: none exist). An
    /// RRset with one ignores its ServiceMode records (RFC 9460, 2.4.1).
    Alias {
        target: String,
    },
    /// NOERROR without an HTTPS record.
    NoRecord,
    NxDomain,
    Failed(HttpsQueryFailure),
}

/// The HTTPS records of an answer (CNAMEs and other types left out), typed.
fn https_answer_of(records: &[Record]) -> HttpsAnswer {
    let mut services = Vec::new();
    for record in records {
        let RData::HTTPS(https) = &record.data else {
            continue;
        };
        let svcb = &https.0;
        if svcb.svc_priority == 0 {
            return HttpsAnswer::Alias {
                target: svcb.target_name.to_string(),
            };
        }
        let mut service = ServiceRecord {
            priority: svcb.svc_priority,
            target: svcb.target_name.to_string(),
            alpn: Vec::new(),
            no_default_alpn: false,
            port: None,
            ipv4hint: Vec::new(),
            ipv6hint: Vec::new(),
            ech_config_bytes: None,
            ttl: record.ttl,
        };
        for (_, value) in &svcb.svc_params {
            match value {
                SvcParamValue::Alpn(alpn) => service.alpn.extend(alpn.0.iter().cloned()),
                SvcParamValue::NoDefaultAlpn => service.no_default_alpn = true,
                SvcParamValue::Port(port) => service.port = Some(*port),
                SvcParamValue::Ipv4Hint(hint) => {
                    service.ipv4hint.extend(hint.0.iter().map(|a| a.0))
                }
                SvcParamValue::Ipv6Hint(hint) => {
                    service.ipv6hint.extend(hint.0.iter().map(|a| a.0))
                }
                // Only its length is kept: the configuration is not ours to print.
                SvcParamValue::EchConfigList(list) => service.ech_config_bytes = Some(list.0.len()),
                _ => {}
            }
        }
        services.push(service);
    }
    if services.is_empty() {
        return HttpsAnswer::NoRecord;
    }
    services.sort_by_key(|s| s.priority);
    HttpsAnswer::Service(services)
}

fn classify_https(err: &NetError) -> HttpsAnswer {
    let code = |code: ResponseCode| match code {
        ResponseCode::NXDomain => HttpsAnswer::NxDomain,
        ResponseCode::NoError => HttpsAnswer::NoRecord,
        ResponseCode::ServFail => HttpsAnswer::Failed(HttpsQueryFailure::ServFail),
        ResponseCode::Refused => HttpsAnswer::Failed(HttpsQueryFailure::Refused),
        other => HttpsAnswer::Failed(HttpsQueryFailure::Code {
            code: other.to_string(),
        }),
    };
    match err {
        NetError::Dns(DnsError::NoRecordsFound(none)) => code(none.response_code),
        NetError::Dns(DnsError::ResponseCode(c)) => code(*c),
        NetError::Timeout => HttpsAnswer::Failed(HttpsQueryFailure::Timeout),
        // The answer could not be decoded: a malformed or oversized record.
        NetError::Proto(_) => HttpsAnswer::Failed(HttpsQueryFailure::Malformed {
            causes: cause_chain(err),
        }),
        other => HttpsAnswer::Failed(HttpsQueryFailure::Other {
            causes: cause_chain(other),
        }),
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

/// The resolve probe: `spec`'s name through the run's resolver.
pub async fn run(spec: &Spec, dns: &DnsClient) -> Observation {
    let started = Instant::now();
    let (outcome, source) = dns.lookup(&spec.host, spec.family).await;
    Observation::Resolve(DnsObservation {
        host: spec.host.clone(),
        record_type: spec.family.record_type(),
        resolvers: dns.servers().to_vec(),
        source,
        outcome,
        elapsed: started.elapsed(),
    })
}
