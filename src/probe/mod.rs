//! The probes. Each kind has one module and one shape: `async fn run(spec, ctx) -> Observation`.

pub mod dns;
pub mod egress;
pub mod http;
pub mod proxy;
pub mod tcp;
pub mod tls;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::observation::{NoFamilyPath, NotRun, Observation};
use crate::outcome::Route;
use crate::plan::{Check, CheckKind};
use crate::scenario::model::{Family, Port, ProxySpec};

pub use dns::DnsClient;
pub use tls::TrustStore;

/// Everything the probes share during one run.
pub struct ProbeCtx {
    pub dns: DnsClient,
    pub trust: Arc<TrustStore>,
    pub connect_to: Vec<ConnectTo>,
    pub proxy: Option<ProxySpec>,
    /// Per probe (and per echo sample).
    pub timeout: Duration,
}

impl ProbeCtx {
    /// The `--connect-to` rule for this host and port, if any.
    pub fn connect_to_for(&self, host: &str, port: Port) -> Option<&ConnectTo> {
        self.connect_to.iter().find(|c| c.matches(host, port))
    }

    /// Where to connect for `host:port` over `family`, given what DNS answered.
    pub async fn targets(
        &self,
        host: &str,
        port: Port,
        family: Family,
        resolved: &[IpAddr],
    ) -> Result<Vec<SocketAddr>, NotRun> {
        let rule = self.connect_to_for(host, port);
        let to_port = rule.map_or(port.0, |r| r.to_port.unwrap_or(port.0));
        let addrs: Vec<IpAddr> = match rule.and_then(|r| r.to_host.as_deref()) {
            Some(to_host) => match to_host.parse::<IpAddr>() {
                Ok(ip) => vec![ip],
                Err(_) => self.dns.addresses(to_host, family).await,
            },
            None => match literal_ip(host) {
                Some(ip) => vec![ip],
                None => resolved.to_vec(),
            },
        };
        let addrs: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|ip| family.matches(*ip))
            .map(|ip| SocketAddr::new(ip, to_port))
            .collect();
        if addrs.is_empty() {
            Err(match rule.and_then(|r| r.to_host.as_deref()) {
                // The user named where to connect: that it has no address is an error.
                Some(to_host) => NotRun::NoAddress {
                    host: to_host.to_string(),
                    family,
                },
                None => NotRun::NothingToVerify {
                    family,
                    why: NoFamilyPath::NoRecords,
                },
            })
        } else {
            Ok(addrs)
        }
    }
}

/// The address a host names literally (`127.0.0.1`, `::1`, or `[::1]` as a URL writes it).
pub fn literal_ip(host: &str) -> Option<IpAddr> {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()
}

/// Runs one check's probe, given the observations of the checks it depends on.
pub async fn run(check: &Check, ctx: &ProbeCtx, deps: &[Arc<Observation>]) -> Observation {
    match prepare(check, ctx, deps).await {
        Ok(Prepared::Resolve(spec)) => dns::run(&spec, ctx).await,
        Ok(Prepared::Connect(spec)) => tcp::run(&spec, ctx).await,
        Ok(Prepared::Tls(spec)) => {
            let connection = tcp::Spec::to(&spec.host, spec.port, &spec.path);
            alone(Prepared::Tls(spec), connection, check, ctx).await
        }
        Ok(Prepared::Http(spec)) => {
            let connection = tcp::Spec::to(&spec.host, spec.port, &spec.path);
            alone(Prepared::Http(spec), connection, check, ctx).await
        }
        Ok(Prepared::Egress(spec)) => egress::run(&spec, ctx).await,
        Err(not_run) => Observation::NotRun(not_run),
    }
}

/// A TLS or HTTP check run without the connect check it is planned on: it opens that
/// connection itself, and an HTTP check on a TLS port completes the handshake first.
async fn alone(on: Prepared, connection: tcp::Spec, check: &Check, ctx: &ProbeCtx) -> Observation {
    let started = std::time::Instant::now();
    let opened_by = format!("the connection of {}", check.name);
    let handshake_of = format!("the TLS handshake of {}", check.name);
    let mut on = vec![(Ok(on), check.name.as_str())];
    if matches!(on[0].0, Ok(Prepared::Http(_))) && crate::plan::is_tls_port(connection.port) {
        let tls = tls::Spec {
            host: connection.host.clone(),
            port: connection.port,
            path: connection.path.clone(),
        };
        on.insert(0, (Ok(Prepared::Tls(tls)), handshake_of.as_str()));
    }
    let (_, transport) = tcp::run_keeping(&connection, ctx).await;
    let seen = on_connection(&on, &opened_by, transport, ctx, started).await;
    let none = Observation::NotRun(NotRun::Blocked { on: opened_by });
    seen.into_iter().next_back().unwrap_or(none)
}

/// Runs a check's probe together with the checks sent on its connection (`Check::conn_of`);
/// returns the lead's observation first, then the riders' in order. The connect check keeps a
/// connection; TLS then HTTPS, or plain HTTP, go on it.
pub async fn run_job(
    lead: &Check,
    riders: &[Check],
    ctx: &ProbeCtx,
    deps: &[Arc<Observation>],
) -> Vec<Observation> {
    if riders.is_empty() {
        return vec![run(lead, ctx, deps).await];
    }
    let started = std::time::Instant::now();
    let connect = match prepare(lead, ctx, deps).await {
        Ok(Prepared::Connect(connect)) => connect,
        // Only a connect check keeps a connection: anything else runs each check on its own.
        _ => {
            let all = std::iter::once(lead).chain(riders);
            return futures::future::join_all(all.map(|check| run(check, ctx, deps))).await;
        }
    };
    let mut on = Vec::with_capacity(riders.len());
    for rider in riders {
        on.push((prepare(rider, ctx, deps).await, rider.name.as_str()));
    }
    let (connected, transport) = tcp::run_keeping(&connect, ctx).await;
    let mut observations = vec![connected];
    observations.extend(on_connection(&on, &lead.name, transport, ctx, started).await);
    observations
}

/// The checks that go on a kept connection, in order, each with its name: a TLS handshake and
/// then, if its chain is trusted, the HTTPS request; or the plain HTTP request. A check that
/// cannot run is blocked on the one before it (on `opened_by`, the connection's, for the first).
async fn on_connection(
    on: &[(Result<Prepared, NotRun>, &str)],
    opened_by: &str,
    transport: Result<tcp::Transport, tcp::NoTransport>,
    ctx: &ProbeCtx,
    started: std::time::Instant,
) -> Vec<Observation> {
    let blocked = |on: &str| Observation::NotRun(NotRun::Blocked { on: on.to_string() });
    match on {
        [(Ok(Prepared::Tls(tls)), _)] => {
            vec![tls::run_on(tls, transport, None, ctx, started).await.0]
        }
        [
            (Ok(Prepared::Tls(tls)), handshake_name),
            (Ok(Prepared::Http(http)), _),
        ] => {
            let (handshake, answer) = tls::run_on(tls, transport, Some(http), ctx, started).await;
            vec![handshake, answer.unwrap_or_else(|| blocked(handshake_name))]
        }
        [(Ok(Prepared::Http(http)), _)] => vec![match transport {
            Ok((addr, stream)) => http::run_on(http, stream, addr, ctx, started).await,
            Err(_) => blocked(opened_by),
        }],
        // Nothing else is planned on a connection; should it be, it would not run.
        _ => on.iter().map(|_| blocked(opened_by)).collect(),
    }
}

/// A spawned task, aborted when this is dropped (the run's deadline, an interrupt, or the
/// check's own timeout), so that no probe outlives its run.
pub struct AbortOnDrop<T>(pub tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

enum Prepared {
    Resolve(dns::Spec),
    Connect(tcp::Spec),
    Tls(tls::Spec),
    Http(http::Spec),
    Egress(egress::Spec),
}

/// How a probe reaches its target: a list of addresses, or the proxy.
#[derive(Debug, Clone)]
pub enum Path {
    Direct(Vec<SocketAddr>),
    Proxy,
}

/// Turns a planned check and its dependencies' observations into a probe spec.
async fn prepare(
    check: &Check,
    ctx: &ProbeCtx,
    deps: &[Arc<Observation>],
) -> Result<Prepared, NotRun> {
    let host = check.host.clone();
    let port = check.port.unwrap_or(Port(0));
    let resolved: Vec<IpAddr> = deps
        .iter()
        .find_map(|d| match d.as_ref() {
            Observation::Resolve(r) => Some(r.addresses()),
            _ => None,
        })
        .unwrap_or_default();
    let path = || async {
        match check.route {
            Route::Proxy => Ok(Path::Proxy),
            Route::Direct(family) => ctx
                .targets(&check.host, port, family, &resolved)
                .await
                .map(Path::Direct),
        }
    };
    Ok(match &check.kind {
        CheckKind::Resolve => Prepared::Resolve(dns::Spec {
            host,
            family: check.family().unwrap_or(Family::V4),
        }),
        CheckKind::Connect => Prepared::Connect(tcp::Spec {
            host,
            port,
            path: path().await?,
        }),
        CheckKind::Tls => Prepared::Tls(tls::Spec {
            host,
            port,
            path: path().await?,
        }),
        CheckKind::Http(expect) => Prepared::Http(http::Spec {
            host,
            port,
            path: path().await?,
            expect: expect.clone(),
        }),
        CheckKind::Egress(observer) => Prepared::Egress(egress::Spec {
            observer: observer.clone(),
            path: path().await?,
        }),
    })
}

/// A curl-style `--connect-to HOST1:PORT1:HOST2:PORT2` rule. Empty parts match any host or
/// port (left) and keep the original (right).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    pub from_host: Option<String>,
    pub from_port: Option<u16>,
    pub to_host: Option<String>,
    pub to_port: Option<u16>,
}

impl ConnectTo {
    pub fn matches(&self, host: &str, port: Port) -> bool {
        self.from_host
            .as_deref()
            .is_none_or(|h| h.eq_ignore_ascii_case(host))
            && self.from_port.is_none_or(|p| p == port.0)
    }
}

impl fmt::Display for ConnectTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = |h: &Option<String>| match h {
            Some(h) if h.contains(':') => format!("[{h}]"),
            Some(h) => h.clone(),
            None => String::new(),
        };
        let port = |p: &Option<u16>| p.map(|p| p.to_string()).unwrap_or_default();
        write!(
            f,
            "{}:{}:{}:{}",
            host(&self.from_host),
            port(&self.from_port),
            host(&self.to_host),
            port(&self.to_port)
        )
    }
}

impl FromStr for ConnectTo {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts = split_connect_to(s).ok_or_else(|| {
            format!("`{s}` is not HOST1:PORT1:HOST2:PORT2 (IPv6 addresses in brackets, empty parts allowed)")
        })?;
        let host = |h: &str| -> Option<String> {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            (!h.is_empty()).then(|| h.to_ascii_lowercase())
        };
        let port = |p: &str, which: &str| -> Result<Option<u16>, String> {
            if p.is_empty() {
                return Ok(None);
            }
            match p.parse::<u16>() {
                Ok(n) if n > 0 => Ok(Some(n)),
                _ => Err(format!("`{s}`: {which} `{p}` is not a port in 1-65535")),
            }
        };
        Ok(ConnectTo {
            from_host: host(parts[0]),
            from_port: port(parts[1], "PORT1")?,
            to_host: host(parts[2]),
            to_port: port(parts[3], "PORT2")?,
        })
    }
}

/// Splits on ':' outside brackets into exactly four parts.
fn split_connect_to(s: &str) -> Option<[&str; 4]> {
    let mut parts = Vec::with_capacity(4);
    let mut start = 0;
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_connect_to_like_curl() {
        let c: ConnectTo = ":80::41080".parse().unwrap();
        assert_eq!(c.from_host, None);
        assert_eq!(c.from_port, Some(80));
        assert_eq!(c.to_host, None);
        assert_eq!(c.to_port, Some(41080));
        assert!(c.matches("login.windows.net", Port(80)));
        assert!(!c.matches("login.windows.net", Port(443)));

        let c: ConnectTo = "login.windows.net:443:[::1]:8443".parse().unwrap();
        assert_eq!(c.to_host.as_deref(), Some("::1"));
        assert!(c.matches("LOGIN.windows.net", Port(443)));
        assert!(!c.matches("login.microsoft.com", Port(443)));
        assert_eq!(c.to_string(), "login.windows.net:443:[::1]:8443");
    }

    #[test]
    fn literal_addresses_with_or_without_brackets() {
        assert_eq!(literal_ip("127.0.0.1"), Some(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(literal_ip("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(literal_ip("::1"), Some("::1".parse().unwrap()));
        assert_eq!(literal_ip("login.windows.net"), None);
        assert_eq!(literal_ip("[login.windows.net]"), None);
    }

    #[test]
    fn rejects_malformed_connect_to() {
        assert!("a:80:b".parse::<ConnectTo>().is_err());
        assert!(
            "a:80:b:0"
                .parse::<ConnectTo>()
                .unwrap_err()
                .contains("PORT2 `0`")
        );
        assert!(
            "a:x:b:1"
                .parse::<ConnectTo>()
                .unwrap_err()
                .contains("PORT1 `x`")
        );
        assert!("a:1:b:2:3".parse::<ConnectTo>().is_err());
    }
}
