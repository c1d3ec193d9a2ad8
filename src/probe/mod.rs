//! The probes, one module per kind: resolve (`dns`), the login path (`login_path`: connect,
//! TLS and HTTP on one connection) and egress (`echo` samples). Each has a `Spec` and an
//! `async fn run(spec, ctx)` that records what happened, network trouble included, as plain
//! data; [`run`] dispatches a planned probe to its module.

pub mod bind;
pub mod dns;
pub mod egress;
pub mod flight;
pub mod http;
pub mod login_path;
pub mod pac;
pub mod proxy;
pub mod tcp;
pub mod tls;
pub mod token;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::address::{ConnectTo, literal_ip};
use crate::observation::{
    EntraObservation, NamedLocationsObservation, NoFamilyPath, NotRun, Observation, SignInLog,
};
use crate::outcome::Route;
use crate::plan::{CheckKind, Plan, Probe};
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

/// Runs one planned probe, given the addresses its resolve found (when it waited for one);
/// returns one observation per check it observes, in [`Probe::checks`] order.
pub async fn run(
    plan: &Plan,
    probe: &Probe,
    ctx: &ProbeCtx,
    resolved: &[IpAddr],
) -> Vec<Observation> {
    let lead = &plan.checks[probe.lead()];
    let family = lead.family().unwrap_or(Family::V4);
    let not_run = |why: NotRun| vec![Observation::NotRun(why); probe.checks().len()];
    let Some(port) = lead.port else {
        let spec = dns::Spec {
            host: lead.host.clone(),
            family,
        };
        return match probe {
            Probe::Resolve { .. } => vec![dns::run(&spec, ctx).await],
            // Read from Graph by the runner once the probes are done.
            Probe::NamedLocations { .. } => vec![Observation::NamedLocations(Box::new(
                NamedLocationsObservation::NotAsked,
            ))],
            Probe::WhatIf { .. } => vec![Observation::WhatIf(Box::new(
                crate::observation::WhatIfObservation::NotAsked,
            ))],
            _ => not_run(NotRun::Panicked {
                message: format!("{} was planned without a port", lead.name),
            }),
        };
    };
    let path = || async {
        match lead.route {
            Route::Proxy => Ok(Path::Proxy(plan.proxy_chain(
                &lead.host,
                port,
                ctx.proxy.as_ref(),
            ))),
            Route::Direct(family) => ctx
                .targets(&lead.host, port, family, resolved)
                .await
                .map(Path::Direct),
            Route::Graph => Err(NotRun::Panicked {
                message: format!("{} was planned on Graph's route with a port", lead.name),
            }),
            Route::Decision => Err(NotRun::Panicked {
                message: format!("{} was planned to connect for a decision", lead.name),
            }),
        }
    };
    match (*probe, &lead.kind) {
        (Probe::Decision { .. }, _) => vec![decision_observation(plan, &lead.host, port)],
        (Probe::Resolve { .. } | Probe::NamedLocations { .. } | Probe::WhatIf { .. }, _) => {
            not_run(NotRun::Panicked {
                message: format!("{} was planned with a port", lead.name),
            })
        }
        (Probe::LoginPath { connect, tls, http }, _) => {
            let path = match path().await {
                Ok(path) => path,
                Err(why) => return not_run(why),
            };
            let CheckKind::Http(expect) = &plan.checks[http].kind else {
                return not_run(NotRun::Panicked {
                    message: "a login path planned without its HTTP check".into(),
                });
            };
            let spec = login_path::Spec {
                host: lead.host.clone(),
                port,
                path,
                expect: expect.clone(),
            };
            let seen = login_path::run(&spec, ctx).await;
            let blocked = |on: usize| {
                Observation::NotRun(NotRun::Blocked {
                    check: on,
                    on: plan.checks[on].name.clone(),
                })
            };
            let mut out = vec![Observation::Connect(seen.connect)];
            if tls.is_some() {
                out.push(seen.tls.map_or_else(|| blocked(connect), Observation::Tls));
            }
            out.push(
                seen.http
                    .map_or_else(|| blocked(tls.unwrap_or(connect)), Observation::Http),
            );
            out
        }
        (Probe::Egress { .. }, CheckKind::Egress(observer)) => match path().await {
            Ok(path) => {
                let spec = egress::Spec {
                    observer: observer.clone(),
                    path,
                };
                vec![egress::run(&spec, ctx).await]
            }
            Err(why) => not_run(why),
        },
        (Probe::Token { .. }, _) => {
            let Some(credentials) = &ctx.entra else {
                return not_run(NotRun::Panicked {
                    message: "a token probe planned without the Entra app's credentials".into(),
                });
            };
            let path = match path().await {
                Ok(path) => path,
                Err(why) => return not_run(why),
            };
            let spec = token::Spec {
                host: lead.host.clone(),
                path,
                credentials: credentials.clone(),
            };
            let token = token::run(&spec, ctx).await;
            vec![Observation::Entra(Box::new(EntraObservation {
                token,
                log: SignInLog::NotAsked,
            }))]
        }
        (Probe::Egress { .. }, _) => not_run(NotRun::Panicked {
            message: "an egress probe planned on a check that is not an egress check".into(),
        }),
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

/// The decision the plan follows for `host:port`, as the decision check's observation.
fn decision_observation(plan: &Plan, host: &str, port: Port) -> Observation {
    use crate::observation::{DecisionObservation, DecisionOutcome};
    let Some(decisions) = &plan.decisions else {
        return Observation::NotRun(NotRun::Panicked {
            message: "a proxy decision check planned without decisions".into(),
        });
    };
    let outcome = match decisions.for_target(host, port.get()) {
        Some(Ok(decision)) => DecisionOutcome::Decided {
            decision: decision.clone(),
        },
        Some(Err(error)) => DecisionOutcome::Failed {
            message: error.to_string(),
            error: error.clone(),
        },
        None => {
            return Observation::NotRun(NotRun::Panicked {
                message: format!("no proxy decision was made for {host}:{port}"),
            });
        }
    };
    let mut login_proxies: Vec<String> = Vec::new();
    for check in plan
        .checks
        .iter()
        .filter(|c| c.login_host && matches!(c.kind, CheckKind::ProxyDecision { role: None }))
    {
        let first = match decisions.for_target(&check.host, check.port.map_or(0, Port::get)) {
            Some(Ok(d)) => match d.way() {
                crate::pac::Way::Proxies(list) => list.first().map(ToString::to_string),
                crate::pac::Way::Direct => Some("DIRECT".to_string()),
                crate::pac::Way::Unprobeable(d) => Some(d.to_string()),
            },
            _ => None,
        };
        if let Some(first) = first
            && !login_proxies.contains(&first)
        {
            login_proxies.push(first);
        }
    }
    Observation::ProxyDecision(Box::new(DecisionObservation {
        source: decisions.source.clone(),
        outcome,
        login_proxies,
    }))
}
