//! TCP connect: every resolved address of the family, or the proxy (with a CONNECT tunnel on TLS ports).

use std::net::SocketAddr;
use std::time::Instant;

use futures::future::join_all;
use tokio::net::TcpStream;

use super::{Path, ProbeCtx, proxy};
use crate::observation::{ConnectAttempt, ConnectObservation, ConnectOutcome, Observation};
use crate::plan::is_tls_port;
use crate::scenario::model::Port;

#[derive(Debug, Clone)]
pub struct Spec {
    pub host: String,
    pub port: Port,
    pub path: Path,
}

pub async fn run(spec: &Spec, ctx: &ProbeCtx) -> Observation {
    let attempts = match &spec.path {
        Path::Direct(addrs) => join_all(addrs.iter().map(|&addr| attempt(addr, ctx))).await,
        Path::Proxy => vec![through_proxy(spec, ctx).await],
    };
    Observation::Connect(ConnectObservation { attempts })
}

/// Opens a TCP connection, bounded by the probe timeout. Small writes go out at once (no
/// Nagle): the request that follows a TLS handshake must not wait for the ACK of its last
/// flight, a delayed ACK away on a real network.
pub async fn open(addr: SocketAddr, ctx: &ProbeCtx) -> Result<TcpStream, ConnectOutcome> {
    match tokio::time::timeout(ctx.timeout, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => {
            // Only a delay is at stake if this fails, never what the check observes.
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(e)) => Err(proxy::io_outcome(&e, &format!("connecting to {addr}"))),
        Err(_) => Err(ConnectOutcome::Timeout),
    }
}

async fn attempt(addr: SocketAddr, ctx: &ProbeCtx) -> ConnectAttempt {
    let started = Instant::now();
    let outcome = match open(addr, ctx).await {
        Ok(stream) => connected(&stream),
        Err(outcome) => outcome,
    };
    ConnectAttempt {
        addr,
        tunnel: None,
        outcome,
        elapsed: started.elapsed(),
    }
}

fn connected(stream: &TcpStream) -> ConnectOutcome {
    match stream.local_addr() {
        Ok(local) => ConnectOutcome::Connected { local },
        Err(e) => proxy::io_outcome(&e, "reading the local address"),
    }
}

/// Reaches the proxy; on a TLS port also asks it for the tunnel, as the browser would.
async fn through_proxy(spec: &Spec, ctx: &ProbeCtx) -> ConnectAttempt {
    let started = Instant::now();
    let Some(proxy_spec) = &ctx.proxy else {
        return ConnectAttempt {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            tunnel: None,
            outcome: ConnectOutcome::Failed {
                causes: vec!["proxy route planned without a proxy".into()],
            },
            elapsed: started.elapsed(),
        };
    };
    let tunnel = is_tls_port(spec.port).then(|| format!("{}:{}", spec.host, spec.port));
    let (addr, outcome) = match proxy::address(proxy_spec).await {
        Err(outcome) => (SocketAddr::from(([0, 0, 0, 0], 0)), outcome),
        Ok(addr) => {
            let outcome = match open(addr, ctx).await {
                Err(outcome) => outcome,
                Ok(mut stream) if tunnel.is_some() => {
                    let asked = tokio::time::timeout(
                        ctx.timeout.saturating_sub(started.elapsed()),
                        proxy::tunnel(&mut stream, proxy_spec, &spec.host, spec.port.0),
                    )
                    .await;
                    match asked {
                        Ok(Ok(())) => connected(&stream),
                        Ok(Err(outcome)) => outcome,
                        Err(_) => ConnectOutcome::Timeout,
                    }
                }
                Ok(stream) => connected(&stream),
            };
            (addr, outcome)
        }
    };
    ConnectAttempt {
        addr,
        tunnel,
        outcome,
        elapsed: started.elapsed(),
    }
}
