//! The browser's proxy decision for a run: the PAC file fetched through the vantage's path
//! (its resolver, `--connect-to`, trust anchors and bind) or read from a file, evaluated once
//! per target before planning, with `dnsResolve` answered by the vantage's resolver.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use super::{ProbeCtx, http, tcp, tls};
use crate::pac::{
    DecisionSource, Engine, EngineLimits, HostEnv, PacError, ProxyDecisions, browser_url,
};
use crate::scenario::model::{DecisionSpec, Family, LocalBind, PacLocation, Port, Scenario};

/// The most of a PAC file the run reads.
const MAX_PAC: usize = 4 << 20;

/// Every URL the run's browser would ask for: each login host on each login port, and each
/// observer's (`host`, `port`, URL).
pub fn targets(scenario: &Scenario) -> Vec<(String, u16, String)> {
    let mut out = Vec::new();
    for host in &scenario.login.hosts {
        for &port in &scenario.login.ports {
            out.push((
                host.as_str().to_string(),
                port.get(),
                browser_url(host.as_str(), port),
            ));
        }
    }
    for observer in &scenario.observers {
        let url = &observer.url;
        // Chrome hands a PAC script https URLs without their path.
        let asked = if url.scheme() == "https" {
            browser_url(observer.host(), observer.port())
        } else {
            url.to_string()
        };
        out.push((observer.host().to_string(), observer.port().get(), asked));
    }
    out
}

/// The decisions the vantage's browser takes, when it follows a PAC file or the system proxy;
/// `None` when the vantage has one explicit proxy (or none) for everything.
pub async fn decide(scenario: &Scenario, ctx: &Arc<ProbeCtx>) -> Option<ProxyDecisions> {
    let spec = scenario.vantage.decision.as_ref()?;
    let targets = targets(scenario);
    Some(match spec {
        DecisionSpec::SystemProxy => {
            crate::pac::system::decide_all(&|name| std::env::var(name).ok(), &targets)
        }
        DecisionSpec::Pac(location) => {
            let source = DecisionSource::Pac {
                location: location.to_string(),
            };
            let keys: Vec<(String, u16)> =
                targets.iter().map(|(h, p, _)| (h.clone(), *p)).collect();
            let script = match fetch(location, ctx).await {
                Ok(script) => script,
                Err(e) => return Some(ProxyDecisions::all_failed(source, &keys, e)),
            };
            let env = host_env(scenario, ctx, location);
            let (blocking_source, blocking_keys) = (source.clone(), keys.clone());
            let evaluated = tokio::task::spawn_blocking(move || {
                match Engine::compile(&script, env, EngineLimits::default()) {
                    Ok(engine) => {
                        crate::pac::decide_all(&engine, &script, blocking_source, &targets)
                    }
                    Err(e) => ProxyDecisions::all_failed(blocking_source, &blocking_keys, e),
                }
            })
            .await;
            match evaluated {
                Ok(decisions) => decisions,
                Err(e) => ProxyDecisions::all_failed(
                    source,
                    &keys,
                    PacError::Engine {
                        why: format!("the evaluation stopped: {e}"),
                    },
                ),
            }
        }
    })
}

/// What the PAC functions see: names resolved by the vantage's resolver (both families, on
/// the runtime, from the blocking evaluation), and the vantage's own address.
fn host_env(scenario: &Scenario, ctx: &Arc<ProbeCtx>, location: &PacLocation) -> HostEnv {
    let runtime = tokio::runtime::Handle::current();
    let resolving = ctx.clone();
    let resolve = Arc::new(move |name: &str| -> Vec<IpAddr> {
        let name = name.trim_matches(['[', ']']);
        if let Ok(ip) = name.parse::<IpAddr>() {
            return vec![ip];
        }
        runtime.block_on(async {
            let mut all = resolving.dns.addresses(name, Family::V4).await;
            all.extend(resolving.dns.addresses(name, Family::V6).await);
            all
        })
    });
    HostEnv {
        resolve,
        my_addresses: my_addresses(scenario, location),
    }
}

/// The vantage's own address, as `myIpAddress` answers it: its bind address, else the local
/// address a UDP socket "connected" toward its first resolver (or the PAC server) gets (no
/// packet is sent).
fn my_addresses(scenario: &Scenario, location: &PacLocation) -> Vec<IpAddr> {
    if let Some(LocalBind::Address(ip)) = &scenario.vantage.bind {
        return vec![*ip];
    }
    let toward = scenario
        .vantage
        .dns
        .first()
        .copied()
        .or_else(|| match location {
            PacLocation::Url(url) => url
                .host_str()
                .and_then(|h| h.trim_matches(['[', ']']).parse::<IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, url.port_or_known_default().unwrap_or(80))),
            PacLocation::File(_) => None,
        });
    let Some(toward) = toward else {
        return Vec::new();
    };
    let local: SocketAddr = if toward.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    std::net::UdpSocket::bind(local)
        .and_then(|s| s.connect(toward).and_then(|()| s.local_addr()))
        .map(|a| vec![a.ip()])
        .unwrap_or_default()
}

/// The PAC file's text: read from a file, or fetched over http(s) through the vantage's path
/// (its resolver and `--connect-to`, its bind, its trust anchors), directly as browsers fetch it.
pub async fn fetch(location: &PacLocation, ctx: &ProbeCtx) -> Result<String, PacError> {
    let unavailable = |why: String| PacError::Unavailable {
        source_name: location.to_string(),
        why,
    };
    match location {
        PacLocation::File(path) => {
            let bytes = tokio::fs::read(path)
                .await
                .map_err(|e| unavailable(e.to_string()))?;
            if bytes.len() > MAX_PAC {
                return Err(unavailable(format!("larger than {} MiB", MAX_PAC >> 20)));
            }
            String::from_utf8(bytes).map_err(|_| unavailable("not UTF-8 text".into()))
        }
        PacLocation::Url(url) => {
            match tokio::time::timeout(ctx.timeout, fetch_url(url, ctx)).await {
                Ok(result) => result.map_err(unavailable),
                Err(_) => Err(unavailable(format!(
                    "no answer within {}",
                    crate::observation::show_duration(ctx.timeout)
                ))),
            }
        }
    }
}

async fn fetch_url(url: &url::Url, ctx: &ProbeCtx) -> Result<String, String> {
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err("the URL has no host".into()),
    };
    let https = url.scheme() == "https";
    let port = url
        .port_or_known_default()
        .and_then(Port::new)
        .ok_or("the URL has no port")?;
    let started = Instant::now();
    let mut last = String::from("no address to connect to");
    for family in [Family::V4, Family::V6] {
        let resolved = if crate::address::literal_ip(&host).is_some() {
            Vec::new()
        } else {
            ctx.dns.addresses(&host, family).await
        };
        let Ok(addrs) = ctx.targets(&host, port, family, &resolved).await else {
            continue;
        };
        for addr in addrs {
            let stream = match tcp::open(addr, ctx).await {
                Ok(stream) => stream,
                Err(outcome) => {
                    last = format!("{addr}: {outcome:?}");
                    continue;
                }
            };
            let answer = if https {
                let name = tls::server_name(&host)?;
                let connector = tokio_rustls::TlsConnector::from(Arc::new(ctx.trust.http_config()));
                let tls = connector
                    .connect(name, stream)
                    .await
                    .map_err(|e| format!("the TLS handshake with {addr}: {e}"))?;
                http::get(tls, url, None, MAX_PAC).await
            } else {
                http::get(stream, url, None, MAX_PAC).await
            };
            let answer = answer.map_err(|causes| causes.join(": "))?;
            if answer.status != 200 {
                return Err(format!("{addr} answered HTTP {}", answer.status));
            }
            if answer.truncated {
                return Err(format!("larger than {} MiB", MAX_PAC >> 20));
            }
            let _ = started;
            return String::from_utf8(answer.body).map_err(|_| "not UTF-8 text".to_string());
        }
    }
    Err(last)
}
