//! The explicit proxy: reaching it, and opening CONNECT tunnels through it.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::observation::{ConnectOutcome, cause_chain};
use crate::scenario::model::ProxySpec;

/// The most the harness reads of a proxy's answer to CONNECT.
const MAX_HEAD: usize = 16 * 1024;

/// The proxy's socket address (its name resolved by the system resolver, as browsers do).
pub async fn address(proxy: &ProxySpec) -> Result<SocketAddr, ConnectOutcome> {
    let host = proxy
        .url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = proxy.url.port_or_known_default().unwrap_or(8080);
    match tokio::net::lookup_host((host, port)).await {
        Ok(mut addrs) => addrs.next().ok_or_else(|| ConnectOutcome::Failed {
            causes: vec![format!("proxy host {host} has no address")],
        }),
        Err(e) => Err(ConnectOutcome::Failed {
            causes: vec![format!("cannot resolve proxy host {host}"), e.to_string()],
        }),
    }
}

/// Asks the proxy for a tunnel to `host:port` over `stream`. Any answer but 2xx is recorded.
pub async fn tunnel(
    stream: &mut TcpStream,
    proxy: &ProxySpec,
    host: &str,
    port: u16,
) -> Result<(), ConnectOutcome> {
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = basic_auth(proxy) {
        request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    request.push_str("\r\n");
    if let Err(e) = stream.write_all(request.as_bytes()).await {
        return Err(io_outcome(&e, "sending CONNECT to the proxy"));
    }
    // Read byte-wise up to the end of the head, so nothing of the tunnel is consumed.
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            return Err(ConnectOutcome::Failed {
                causes: vec![format!(
                    "the proxy's answer to CONNECT exceeds {MAX_HEAD} bytes"
                )],
            });
        }
        match stream.read(&mut byte).await {
            Ok(0) => {
                return Err(ConnectOutcome::Failed {
                    causes: vec!["the proxy closed the connection before answering CONNECT".into()],
                });
            }
            Ok(_) => head.push(byte[0]),
            Err(e) => return Err(io_outcome(&e, "reading the proxy's answer to CONNECT")),
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {
            let status = response.code.unwrap_or(0);
            if (200..300).contains(&status) {
                Ok(())
            } else {
                Err(ConnectOutcome::ProxyRefused {
                    status,
                    reason: response.reason.unwrap_or_default().to_string(),
                })
            }
        }
        Ok(httparse::Status::Partial) | Err(_) => Err(ConnectOutcome::Failed {
            causes: vec![format!(
                "the proxy's answer to CONNECT is not HTTP: {}",
                String::from_utf8_lossy(&head[..head.len().min(80)]).escape_debug()
            )],
        }),
    }
}

/// The proxy of `chain` that `addr` (where a connection went) is: the one whose literal
/// address and port it is, else the only one, else the first (a name resolved elsewhere).
pub fn carrying(chain: &[ProxySpec], addr: SocketAddr) -> Option<&ProxySpec> {
    chain
        .iter()
        .find(|p| {
            let host = p
                .url
                .host_str()
                .unwrap_or_default()
                .trim_start_matches('[')
                .trim_end_matches(']');
            host.parse::<std::net::IpAddr>().ok() == Some(addr.ip())
                && p.url.port_or_known_default() == Some(addr.port())
        })
        .or_else(|| chain.first())
}

/// `Basic …` for the proxy's credentials, if it has any.
pub fn basic_auth(proxy: &ProxySpec) -> Option<String> {
    let user = proxy.username.as_deref()?;
    let pass = proxy.password.as_ref().map(|p| p.expose()).unwrap_or("");
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    Some(format!("Basic {token}"))
}

/// Classifies a socket error into the connect outcome it stands for.
pub fn io_outcome(err: &std::io::Error, doing: &str) -> ConnectOutcome {
    use std::io::ErrorKind::*;
    match err.kind() {
        ConnectionRefused => ConnectOutcome::Refused,
        ConnectionReset | ConnectionAborted => ConnectOutcome::Reset,
        TimedOut => ConnectOutcome::Timeout,
        NetworkUnreachable | HostUnreachable | AddrNotAvailable => ConnectOutcome::Unreachable {
            causes: cause_chain(err),
        },
        _ => {
            let mut causes = vec![doing.to_string()];
            causes.extend(cause_chain(err));
            ConnectOutcome::Failed { causes }
        }
    }
}
