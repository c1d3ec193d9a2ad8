//! The lab's QUIC listener: HTTP/3 (quinn + h3, the lab's certificates) on UDP, on the same
//! port number as the transparent HTTPS door, so that `--connect-to :443::PORT` sends a probe's
//! UDP 443 there too. Off by default (UDP 443 blocked: the port is closed and the kernel answers
//! ICMP port unreachable); on under `quic-open` and `quic-open-unanchored`, where QUIC goes
//! around the TCP-only anchoring. It answers the login hosts' OpenID configuration and, on any
//! lab host, the echo path with the address the anchoring policy gives QUIC.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use bytes::Bytes;
use hyper::{Method, Response, StatusCode};
use tokio::task::JoinHandle;

use super::origin::{ECHO_PATH, normalize_host, openid_configuration};
use super::world::{ANCHOR_IP, LabError, is_lab_host, is_login_like};

/// Where HTTP/3 traffic leaves from, as the lab's echo over HTTP/3 shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum QuicEgress {
    /// The echo path is not served over HTTP/3 (404): nothing proves where QUIC leaves from
    /// (`quic-open`).
    Unproven = 0,
    /// The client's own address: QUIC goes straight out, around ZIA (`quic-open-unanchored`).
    Direct = 1,
    /// The App Connector's address: UDP 443 is anchored too.
    Anchored = 2,
}

/// What the listener's connections share.
#[derive(Debug, Default)]
pub(crate) struct QuicState {
    egress: AtomicU8,
}

impl QuicState {
    pub(crate) fn new(egress: QuicEgress) -> QuicState {
        QuicState {
            egress: AtomicU8::new(egress as u8),
        }
    }

    pub(crate) fn set(&self, egress: QuicEgress) {
        self.egress.store(egress as u8, Ordering::Relaxed);
    }

    fn egress(&self) -> QuicEgress {
        match self.egress.load(Ordering::Relaxed) {
            1 => QuicEgress::Direct,
            2 => QuicEgress::Anchored,
            _ => QuicEgress::Unproven,
        }
    }
}

/// A QUIC endpoint on UDP `addr` presenting `tls`.
pub(crate) fn bind(
    addr: SocketAddr,
    tls: rustls::ServerConfig,
) -> Result<quinn::Endpoint, LabError> {
    let failed = |source| LabError::Bind {
        listener: "QUIC (UDP)",
        addr,
        source,
    };
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| failed(std::io::Error::other(e)))?;
    let config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    quinn::Endpoint::server(config, addr).map_err(failed)
}

/// Serves HTTP/3 on `endpoint` until it is closed or the task aborted.
pub(crate) fn spawn(endpoint: quinn::Endpoint, state: Arc<QuicState>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Some(incoming) = endpoint.accept().await {
            connections.spawn(serve(incoming, state.clone()));
            // Reap finished connections so the set does not grow with the lab's uptime.
            while connections.try_join_next().is_some() {}
        }
    })
}

async fn serve(incoming: quinn::Incoming, state: Arc<QuicState>) {
    let Ok(connection) = incoming.await else {
        return;
    };
    let peer = connection.remote_address().ip();
    let sni = connection
        .handshake_data()
        .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|d| d.server_name)
        .map(|s| normalize_host(&s));
    let Ok(mut h3) =
        h3::server::Connection::<_, Bytes>::new(h3_quinn::Connection::new(connection)).await
    else {
        return;
    };
    let mut requests = tokio::task::JoinSet::new();
    while let Ok(Some(resolver)) = h3.accept().await {
        let (state, sni) = (state.clone(), sni.clone());
        requests.spawn(async move {
            let Ok((request, mut stream)) = resolver.resolve_request().await else {
                return;
            };
            let (status, content_type, body) = answer(&state, peer, sni.as_deref(), &request);
            let response = Response::builder()
                .status(status)
                .header("content-type", content_type)
                .body(())
                .unwrap_or_default();
            if stream.send_response(response).await.is_ok() {
                let _ = stream.send_data(Bytes::from(body)).await;
            }
            let _ = stream.finish().await;
        });
    }
    while requests.join_next().await.is_some() {}
}

/// The answer to one HTTP/3 request.
fn answer(
    state: &QuicState,
    peer: IpAddr,
    sni: Option<&str>,
    request: &hyper::Request<()>,
) -> (StatusCode, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    let host = request
        .uri()
        .authority()
        .map(|a| normalize_host(a.as_str()))
        .or_else(|| sni.map(str::to_owned))
        .unwrap_or_default();
    if !is_lab_host(&host) {
        return (
            StatusCode::NOT_FOUND,
            TEXT,
            format!("no site {host} here\n"),
        );
    }
    if request.method() != Method::GET {
        return (StatusCode::METHOD_NOT_ALLOWED, TEXT, String::new());
    }
    let path = request.uri().path();
    if path == ECHO_PATH {
        return match state.egress() {
            QuicEgress::Unproven => (
                StatusCode::NOT_FOUND,
                TEXT,
                "no echo over HTTP/3 here\n".into(),
            ),
            QuicEgress::Direct => (StatusCode::OK, TEXT, peer.to_string()),
            QuicEgress::Anchored => (StatusCode::OK, TEXT, ANCHOR_IP.to_string()),
        };
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        [tenant, ".well-known", "openid-configuration"] if is_login_like(&host) => (
            StatusCode::OK,
            "application/json; charset=utf-8",
            openid_configuration(&host, tenant, false).to_string(),
        ),
        _ => (StatusCode::NOT_FOUND, TEXT, "not found\n".into()),
    }
}
