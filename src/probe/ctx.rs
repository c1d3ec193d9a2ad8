//! What every probe of a run shares: the resolver, the trust anchors, the `--connect-to` rules,
//! the proxy, the timeout and where sockets leave from; and how a probe reaches its target.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::dns::DnsClient;
use super::trust::TrustStore;
use crate::address::{ConnectTo, literal_ip};
use crate::observation::{NoFamilyPath, NotRun};
use crate::scenario::model::{Family, Port, ProxySpec};

/// Everything the probes share during one run.
pub struct ProbeCtx {
    pub dns: DnsClient,
    pub trust: Arc<TrustStore>,
    pub connect_to: Vec<ConnectTo>,
    pub proxy: Option<ProxySpec>,
    /// Per probe (and per echo sample).
    pub timeout: Duration,
    /// The Entra probe app, for token probes (`[entra]` scenarios only).
    pub entra: Option<Arc<crate::entra::EntraCredentials>>,
    /// Where the vantage's sockets leave from (`bind` or `interface`); the system's choice
    /// when `None`.
    pub bind: Option<crate::scenario::model::LocalBind>,
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
        // A vantage bound to an address of the other family has no route for this one.
        if let Some(crate::scenario::model::LocalBind::Address(ip)) = &self.bind
            && !family.matches(*ip)
        {
            return Err(NotRun::NothingToVerify {
                family,
                why: NoFamilyPath::NoRoute,
            });
        }
        let rule = self.connect_to_for(host, port);
        let to_port = rule.map_or(port.get(), |r| r.to_port.unwrap_or(port.get()));
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

/// A spawned task, aborted when this is dropped (the run's deadline, an interrupt, or the
/// check's own timeout), so that no probe outlives its run.
pub struct AbortOnDrop<T>(pub tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How a probe reaches its target: a list of addresses, or the proxies to try in order (the
/// explicit proxy, or the ones the browser's proxy decision names: fail-over as a browser's).
#[derive(Debug, Clone)]
pub enum Path {
    Direct(Vec<SocketAddr>),
    Proxy(Vec<ProxySpec>),
}
