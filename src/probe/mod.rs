//! The probes, one module per kind: resolve (`dns`), the login path (`login_path`: connect,
//! TLS and HTTP on one connection), egress (`echo` samples) and the login hosts' DNS HTTPS
//! records (`https_record`). Each has a `Spec` and an
//! `async fn run(spec, ctx)` that records what happened, network trouble included, as plain
//! data; [`run`] dispatches a planned probe to its module.

pub mod bind;
mod ctx;
pub mod dns;
pub mod egress;
pub mod flight;
pub mod http;
pub mod https_record;
pub mod login_path;
pub mod pac;
pub mod proxy;
pub mod quic;
pub mod tcp;
pub mod tls;
pub mod token;
pub mod trust;

use std::net::IpAddr;

use crate::observation::{
    EntraObservation, NamedLocationsObservation, NotRun, Observation, SignInLog,
};
use crate::outcome::Route;
use crate::plan::{CheckKind, Plan, Probe};
use crate::scenario::model::{Family, Port};

pub use ctx::{AbortOnDrop, Path, ProbeCtx};
pub use dns::DnsClient;
pub use tls::TrustStore;

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
            Probe::Resolve { .. } => vec![dns::run(&spec, &ctx.dns).await],
            // Read from Graph by the runner once the probes are done.
            Probe::NamedLocations { .. } => vec![Observation::NamedLocations(Box::new(
                NamedLocationsObservation::NotAsked,
            ))],
            Probe::WhatIf { .. } => vec![Observation::WhatIf(Box::new(
                crate::observation::WhatIfObservation::NotAsked,
            ))],
            Probe::HttpsRecord { .. } => {
                let spec = https_record::Spec {
                    host: lead.host.clone(),
                };
                vec![https_record::run(&spec, ctx).await]
            }
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
        (
            Probe::Resolve { .. }
            | Probe::NamedLocations { .. }
            | Probe::WhatIf { .. }
            | Probe::HttpsRecord { .. },
            _,
        ) => not_run(NotRun::Panicked {
            message: format!("{} was planned with a port", lead.name),
        }),
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
        (Probe::Quic { .. }, CheckKind::Quic { echoes }) => {
            // QUIC goes where the TCP probe of the same host and family goes: `--connect-to`
            // for port 443 applies to UDP 443 too.
            let addrs = match path().await {
                Ok(Path::Direct(addrs)) => addrs,
                Ok(Path::Proxy(_)) => {
                    return not_run(NotRun::Panicked {
                        message: format!("{} was planned through the proxy", lead.name),
                    });
                }
                Err(why) => return not_run(why),
            };
            let spec = quic::Spec {
                host: lead.host.clone(),
                family,
                addrs,
                echoes: echoes.clone(),
            };
            vec![Observation::Quic(Box::new(quic::run(&spec, ctx).await))]
        }
        (Probe::Quic { .. }, _) => not_run(NotRun::Panicked {
            message: "a QUIC probe planned on a check that is not a QUIC check".into(),
        }),
        (Probe::Egress { .. }, _) => not_run(NotRun::Panicked {
            message: "an egress probe planned on a check that is not an egress check".into(),
        }),
    }
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
