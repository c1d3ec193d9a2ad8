//! TCP connect: every resolved address of the family, or the proxy (with a CONNECT tunnel on
//! TLS ports); the login path's first phase.

use std::net::SocketAddr;
use std::time::Instant;

use futures::future::join_all;
use tokio::net::TcpStream;

use super::ctx::{Path, ProbeCtx};
use super::proxy;
use crate::observation::{ConnectAttempt, ConnectObservation, ConnectOutcome};
use crate::scenario::model::{Port, ProxySpec};

#[derive(Debug, Clone)]
pub struct Spec {
    pub host: String,
    pub port: Port,
    pub path: Path,
}

/// A connection that later phases go on: the address it reached, and the stream.
pub type Transport = (SocketAddr, TcpStream);
/// Why there is no connection to go on: where the first attempt went, and how it ended.
pub type NoTransport = (SocketAddr, ConnectOutcome);

/// The login path's connect phase: a connection to every address of the family at once (or to
/// the proxy, its tunnel open on a TLS port), each attempt recorded; keeps the first that took
/// one, in the resolver's order, for the later phases. The others are closed.
pub async fn connect(
    spec: &Spec,
    ctx: &ProbeCtx,
) -> (ConnectObservation, Result<Transport, NoTransport>) {
    let tried: Vec<(ConnectAttempt, Option<TcpStream>)> = match &spec.path {
        Path::Direct(addrs) => join_all(addrs.iter().map(|&addr| attempt(addr, ctx))).await,
        Path::Proxy(chain) => {
            let port = spec.port;
            through_proxies(&spec.host, port.get(), port.is_tls(), chain, ctx).await
        }
    };
    let mut kept: Option<Transport> = None;
    let mut attempts = Vec::with_capacity(tried.len());
    for (attempt, stream) in tried {
        if kept.is_none()
            && let Some(stream) = stream
        {
            kept = Some((attempt.addr, stream));
        }
        attempts.push(attempt);
    }
    let transport = kept.ok_or_else(|| match attempts.first() {
        Some(first) => (first.addr, first.outcome.clone()),
        None => (
            SocketAddr::from(([0, 0, 0, 0], 0)),
            ConnectOutcome::Failed {
                causes: vec!["no address to connect to".into()],
            },
        ),
    });
    (ConnectObservation { attempts }, transport)
}

/// Opens a TCP connection, bounded by the probe timeout. Small writes go out at once (no
/// Nagle): the request that follows a TLS handshake must not wait for the ACK of its last
/// flight, a delayed ACK away on a real network.
pub async fn open(addr: SocketAddr, ctx: &ProbeCtx) -> Result<TcpStream, ConnectOutcome> {
    let connecting = super::bind::connect(addr, ctx.bind.as_ref());
    match tokio::time::timeout(ctx.timeout, connecting).await {
        Ok(Ok(stream)) => {
            // Only a delay is at stake if this fails, never what the check observes.
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(e)) => Err(proxy::io_outcome(&e, &format!("connecting to {addr}"))),
        Err(_) => Err(ConnectOutcome::Timeout),
    }
}

async fn attempt(addr: SocketAddr, ctx: &ProbeCtx) -> (ConnectAttempt, Option<TcpStream>) {
    let started = Instant::now();
    let (outcome, stream) = match open(addr, ctx).await {
        Ok(stream) => keep(stream),
        Err(outcome) => (outcome, None),
    };
    let attempt = ConnectAttempt {
        addr,
        tunnel: None,
        outcome,
        elapsed: started.elapsed(),
    };
    (attempt, stream)
}

/// The outcome of a connection that was made, and the stream if it can be used.
fn keep(stream: TcpStream) -> (ConnectOutcome, Option<TcpStream>) {
    match connected(&stream) {
        ok @ ConnectOutcome::Connected { .. } => (ok, Some(stream)),
        failed => (failed, None),
    }
}

fn connected(stream: &TcpStream) -> ConnectOutcome {
    match stream.local_addr() {
        Ok(local) => ConnectOutcome::Connected { local },
        Err(e) => proxy::io_outcome(&e, "reading the local address"),
    }
}

/// Tries the proxies in order, as a browser fails over through a PAC answer's list: the next
/// one when a proxy cannot be reached or gives no answer to CONNECT; an answer (a refusal,
/// 407) ends the list, as it does in browsers. One attempt per proxy tried; the last one
/// carries the connection, if any did.
pub async fn through_proxies(
    host: &str,
    port: u16,
    tunnel: bool,
    chain: &[ProxySpec],
    ctx: &ProbeCtx,
) -> Vec<(ConnectAttempt, Option<TcpStream>)> {
    let mut tried = Vec::with_capacity(chain.len().max(1));
    if chain.is_empty() {
        tried.push(through_proxy(host, port, tunnel, None, ctx).await);
    }
    for proxy in chain {
        let (attempt, stream) = through_proxy(host, port, tunnel, Some(proxy), ctx).await;
        let answered = matches!(attempt.outcome, ConnectOutcome::ProxyRefused { .. });
        let carried = stream.is_some();
        tried.push((attempt, stream));
        if carried || answered {
            break;
        }
    }
    tried
}

/// The connection [`through_proxies`] got, or the last attempt when none carried one.
pub async fn through_chain(
    host: &str,
    port: u16,
    tunnel: bool,
    chain: &[ProxySpec],
    ctx: &ProbeCtx,
) -> (ConnectAttempt, Option<TcpStream>) {
    through_proxies(host, port, tunnel, chain, ctx)
        .await
        .pop()
        .expect("at least one attempt")
}

/// Reaches the proxy; with `tunnel` (TLS to `host:port`) also asks it for the tunnel, as the
/// browser would.
pub async fn through_proxy(
    host: &str,
    port: u16,
    tunnel: bool,
    proxy: Option<&ProxySpec>,
    ctx: &ProbeCtx,
) -> (ConnectAttempt, Option<TcpStream>) {
    let started = Instant::now();
    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
    let tunnel = tunnel.then(|| format!("{host}:{port}"));
    let (addr, outcome, stream) = match proxy {
        None => (
            unspecified,
            ConnectOutcome::Failed {
                causes: vec!["proxy route planned without a proxy".into()],
            },
            None,
        ),
        Some(proxy_spec) => match proxy::address(proxy_spec).await {
            Err(outcome) => (unspecified, outcome, None),
            Ok(addr) => {
                let (outcome, stream) = match open(addr, ctx).await {
                    Err(outcome) => (outcome, None),
                    Ok(mut stream) if tunnel.is_some() => {
                        let asked = tokio::time::timeout(
                            ctx.timeout.saturating_sub(started.elapsed()),
                            proxy::tunnel(&mut stream, proxy_spec, host, port),
                        )
                        .await;
                        match asked {
                            Ok(Ok(())) => keep(stream),
                            Ok(Err(outcome)) => (outcome, None),
                            Err(_) => (ConnectOutcome::Timeout, None),
                        }
                    }
                    Ok(stream) => keep(stream),
                };
                (addr, outcome, stream)
            }
        },
    };
    let attempt = ConnectAttempt {
        addr,
        tunnel,
        outcome,
        elapsed: started.elapsed(),
    };
    (attempt, stream)
}
