//! QUIC on UDP 443: a browser's HTTP/3 attempt. A QUIC handshake (ALPN `h3`, quinn on rustls
//! with ring, the vantage's anchors and bind) to each address the login path's TCP probe would
//! connect to, under the probe's timeout; beside it, a connected UDP socket listens for the ICMP
//! port unreachable that quinn's unconnected socket never sees, so a closed port reads as
//! refused rather than as no answer. When the handshake completes, the scenario's `http3 = true`
//! echo observers are asked over HTTP/3 (h3 on quinn) which address they saw.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Buf as _;

use super::ctx::ProbeCtx;
use crate::observation::{
    Http3Echo, QUIC_ANSWER_WAIT, QuicBlock, QuicCertificate, QuicNotTried, QuicObservation,
    QuicOutcome, SampleOutcome,
};
use crate::scenario::model::{EchoObserver, Family, LocalBind};

/// One QUIC probe: a login host, on the UDP addresses its family's TCP probe would use.
#[derive(Debug, Clone)]
pub struct Spec {
    pub host: String,
    pub family: Family,
    pub addrs: Vec<SocketAddr>,
    /// The `http3 = true` echo observers to ask once the handshake completed.
    pub echoes: Vec<EchoObserver>,
}

/// Runs the handshake, then the echoes, all within the probe's timeout.
pub async fn run(spec: &Spec, ctx: &ProbeCtx) -> QuicObservation {
    let started = Instant::now();
    let deadline = started + ctx.timeout;
    let via = spec
        .addrs
        .first()
        .map(ToString::to_string)
        .unwrap_or_default();
    let mut seen = QuicObservation {
        host: spec.host.clone(),
        via,
        outcome: QuicOutcome::Blocked {
            by: QuicBlock::NoAnswer,
        },
        offered: Vec::new(),
        echoes: Vec::new(),
        handshake: Duration::ZERO,
        elapsed: Duration::ZERO,
    };
    let endpoint = match endpoint(spec.family, ctx.bind.as_ref()) {
        Ok(endpoint) => endpoint,
        Err(why) => {
            seen.outcome = QuicOutcome::NotTried(QuicNotTried::NoQuicSupport { why });
            seen.elapsed = started.elapsed();
            return seen;
        }
    };
    // A browser gives QUIC a head start, then races TCP: an address still silent after
    // QUIC_ANSWER_WAIT has lost that race, so the run does not sit out its whole timeout where
    // UDP 443 is dropped without a word (the usual firewall rule). Every address is tried at
    // once, and the most open answer of any address is what the check reports (a handshake that
    // an address answered outweighs another address's silence).
    let wait = deadline
        .saturating_duration_since(Instant::now())
        .min(QUIC_ANSWER_WAIT);
    let tries = spec.addrs.iter().map(|&addr| {
        let endpoint = &endpoint;
        async move {
            let (outcome, connection) = handshake(endpoint, &spec.host, addr, ctx, wait).await;
            (outcome, connection, addr)
        }
    });
    let mut best: Option<(QuicOutcome, Option<quinn::Connection>, SocketAddr)> = None;
    for (outcome, connection, addr) in futures::future::join_all(tries).await {
        if best
            .as_ref()
            .is_none_or(|(kept, _, _)| openness(&outcome) > openness(kept))
        {
            if let Some((_, Some(beaten), _)) = best.replace((outcome, connection, addr)) {
                beaten.close(0u32.into(), b"done");
            }
        } else if let Some(connection) = connection {
            connection.close(0u32.into(), b"done");
        }
    }
    seen.handshake = started.elapsed();
    let Some((outcome, connection, addr)) = best else {
        // Never a pass: nothing was tried.
        seen.outcome = failed("no address to send QUIC to".into());
        seen.elapsed = started.elapsed();
        return seen;
    };
    seen.via = addr.to_string();
    seen.outcome = outcome;
    if let Some(connection) = connection {
        connection.close(0u32.into(), b"done");
        if !spec.echoes.is_empty() {
            let asked = spec
                .echoes
                .iter()
                .map(|o| echo(&endpoint, o, spec.family, ctx, deadline));
            seen.echoes = futures::future::join_all(asked).await;
        }
    }
    endpoint.close(0u32.into(), b"done");
    seen.elapsed = started.elapsed();
    seen
}

/// How far an outcome shows UDP 443 open: a completed handshake, then one the server answered,
/// then a refusal or an unreachable network, then silence.
fn openness(outcome: &QuicOutcome) -> u8 {
    match outcome {
        QuicOutcome::Completed { .. } => 4,
        QuicOutcome::Failed { .. } => 3,
        QuicOutcome::Blocked {
            by: QuicBlock::Refused | QuicBlock::Unreachable,
        } => 1,
        QuicOutcome::Blocked {
            by: QuicBlock::NoAnswer,
        }
        | QuicOutcome::NotTried(_) => 0,
    }
}

/// A client endpoint for `family`, bound as the vantage says.
fn endpoint(family: Family, bind: Option<&LocalBind>) -> Result<quinn::Endpoint, String> {
    let socket = udp_socket(family, bind)?;
    quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        None,
        socket,
        Arc::new(quinn::TokioRuntime),
    )
    .map_err(|e| format!("cannot open a QUIC endpoint: {e}"))
}

/// A UDP socket of `family`, bound where the vantage's sockets leave from (an address, or an
/// interface on Linux), as its TCP sockets are.
fn udp_socket(family: Family, bind: Option<&LocalBind>) -> Result<std::net::UdpSocket, String> {
    let any = match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let local = match bind {
        None | Some(LocalBind::Interface(_)) => SocketAddr::new(any, 0),
        Some(LocalBind::Address(ip)) if family.matches(*ip) => SocketAddr::new(*ip, 0),
        Some(LocalBind::Address(ip)) => {
            return Err(format!(
                "the vantage binds to {ip}, which has no {family} route"
            ));
        }
    };
    let socket = std::net::UdpSocket::bind(local)
        .map_err(|e| format!("cannot open a UDP socket on {local}: {e}"))?;
    if let Some(LocalBind::Interface(name)) = bind {
        bind_device_udp(socket, name)
    } else {
        Ok(socket)
    }
}

#[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
fn bind_device_udp(socket: std::net::UdpSocket, name: &str) -> Result<std::net::UdpSocket, String> {
    let socket = socket2::Socket::from(socket);
    socket
        .bind_device(Some(name.as_bytes()))
        .map_err(|e| format!("cannot bind a UDP socket to interface {name}: {e}"))?;
    Ok(socket.into())
}

#[cfg(not(any(target_os = "android", target_os = "fuchsia", target_os = "linux")))]
fn bind_device_udp(_: std::net::UdpSocket, name: &str) -> Result<std::net::UdpSocket, String> {
    Err(format!(
        "cannot bind to interface {name}: SO_BINDTODEVICE is Linux only"
    ))
}

/// One handshake to `addr`, raced against the ICMP answer a closed port gives.
async fn handshake(
    endpoint: &quinn::Endpoint,
    host: &str,
    addr: SocketAddr,
    ctx: &ProbeCtx,
    within: Duration,
) -> (QuicOutcome, Option<quinn::Connection>) {
    let (config, problem) = match ctx.trust.quic_probe_config() {
        Ok(made) => made,
        Err(e) => return (failed(format!("cannot set up QUIC's TLS: {e}")), None),
    };
    let client = match client_config(config) {
        Ok(client) => client,
        Err(why) => return (failed(why), None),
    };
    let connecting = match endpoint.connect_with(client, addr, host) {
        Ok(connecting) => connecting,
        Err(e) => return (failed(format!("cannot start a QUIC handshake: {e}")), None),
    };
    let bind = ctx.bind.as_ref();
    let raced = async {
        tokio::select! {
            done = connecting => Ok(done),
            by = refusal(addr, bind) => Err(by),
        }
    };
    match tokio::time::timeout(within, raced).await {
        Err(_) => (
            QuicOutcome::Blocked {
                by: QuicBlock::NoAnswer,
            },
            None,
        ),
        Ok(Err(by)) => (QuicOutcome::Blocked { by }, None),
        Ok(Ok(Err(e))) => (connection_failed(&e), None),
        Ok(Ok(Ok(connection))) => {
            let alpn = connection
                .handshake_data()
                .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
                .and_then(|d| d.protocol)
                .map(|p| String::from_utf8_lossy(&p).into_owned());
            let why = problem.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let certificate = match why {
                None => QuicCertificate::Trusted,
                Some(why) => QuicCertificate::Untrusted { why },
            };
            (
                QuicOutcome::Completed { alpn, certificate },
                Some(connection),
            )
        }
    }
}

/// quinn's client configuration on a rustls one.
fn client_config(config: rustls::ClientConfig) -> Result<quinn::ClientConfig, String> {
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(config)
        .map_err(|e| format!("cannot set up QUIC's TLS: {e}"))?;
    Ok(quinn::ClientConfig::new(Arc::new(crypto)))
}

fn failed(cause: String) -> QuicOutcome {
    QuicOutcome::Failed {
        causes: vec![cause],
    }
}

/// What a handshake that failed says: an unreachable network is a block, anything the server
/// said is a failure of its own.
fn connection_failed(e: &quinn::ConnectionError) -> QuicOutcome {
    match e {
        quinn::ConnectionError::TimedOut => QuicOutcome::Blocked {
            by: QuicBlock::NoAnswer,
        },
        other => failed(other.to_string()),
    }
}

/// Resolves when the network says, by ICMP, that `addr` takes no UDP: a connected socket (which
/// quinn's is not) reads the error back. Never resolves otherwise.
async fn refusal(addr: SocketAddr, bind: Option<&LocalBind>) -> QuicBlock {
    let family = if addr.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    };
    let Some(socket) = udp_socket(family, bind)
        .ok()
        .and_then(|s| s.set_nonblocking(true).ok().map(|()| s))
        .and_then(|s| tokio::net::UdpSocket::from_std(s).ok())
    else {
        return std::future::pending().await;
    };
    if socket.connect(addr).await.is_err() {
        return std::future::pending().await;
    }
    // A QUIC long header of a reserved version, padded as an Initial is: a QUIC server answers
    // it with a version negotiation (read and ignored here); a closed port with ICMP.
    let mut datagram = vec![0u8; 1200];
    datagram[..5].copy_from_slice(&[0xc0, 0x1a, 0x2a, 0x3a, 0x4a]);
    let mut buf = [0u8; 1500];
    for pause in [250, 500, 1000, 2000, 4000] {
        if let Err(e) = socket.send(&datagram).await
            && let Some(by) = block_of(&e)
        {
            return by;
        }
        match tokio::time::timeout(Duration::from_millis(pause), socket.recv(&mut buf)).await {
            Ok(Err(e)) => {
                if let Some(by) = block_of(&e) {
                    return by;
                }
            }
            // A datagram back: something listens (the handshake says what).
            Ok(Ok(_)) => return std::future::pending().await,
            Err(_) => {}
        }
    }
    std::future::pending().await
}

fn block_of(e: &std::io::Error) -> Option<QuicBlock> {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => Some(QuicBlock::Refused),
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => Some(QuicBlock::Unreachable),
        _ => None,
    }
}

/// Asks one echo observer over HTTP/3, from `family`, by what is left of the probe's time.
async fn echo(
    endpoint: &quinn::Endpoint,
    observer: &EchoObserver,
    family: Family,
    ctx: &ProbeCtx,
    deadline: Instant,
) -> Http3Echo {
    let mut via = String::new();
    let left = deadline.saturating_duration_since(Instant::now());
    let asked = tokio::time::timeout(left, ask(endpoint, observer, family, ctx, &mut via)).await;
    Http3Echo {
        observer: observer.name.clone(),
        role: observer.role,
        url: observer.url.to_string(),
        via,
        outcome: asked.unwrap_or(SampleOutcome::Timeout),
    }
}

async fn ask(
    endpoint: &quinn::Endpoint,
    observer: &EchoObserver,
    family: Family,
    ctx: &ProbeCtx,
    via: &mut String,
) -> SampleOutcome {
    let fail = |cause: String| SampleOutcome::Failed {
        causes: vec![cause],
    };
    let host = observer.host().to_string();
    let port = observer.port();
    let resolved = match crate::address::literal_ip(&host) {
        Some(_) => Vec::new(),
        None => ctx.dns.addresses(&host, family).await,
    };
    let addrs = match ctx.targets(&host, port, family, &resolved).await {
        Ok(addrs) => addrs,
        Err(_) => return fail(format!("{host} has no {family} address")),
    };
    let Some(&addr) = addrs.first() else {
        return fail(format!("{host} has no {family} address"));
    };
    *via = addr.to_string();
    let name = host.trim_start_matches('[').trim_end_matches(']');
    let client = match ctx
        .trust
        .quic_echo_config()
        .map_err(|e| format!("cannot set up QUIC's TLS: {e}"))
        .and_then(client_config)
    {
        Ok(client) => client,
        Err(why) => return fail(why),
    };
    let connection = match endpoint.connect_with(client, addr, name) {
        Ok(connecting) => match connecting.await {
            Ok(connection) => connection,
            Err(e) => return fail(format!("QUIC handshake with {addr}: {e}")),
        },
        Err(e) => return fail(format!("cannot start a QUIC handshake with {addr}: {e}")),
    };
    let answer = get(connection.clone(), &observer.url).await;
    connection.close(0u32.into(), b"done");
    match answer {
        Err(cause) => fail(cause),
        Ok((200, headers, body)) => super::egress::read_ip(&observer.extract, &headers, &body),
        Ok((status, _, body)) => SampleOutcome::Status {
            status,
            excerpt: crate::scenario::shorten(&String::from_utf8_lossy(&body)),
        },
    }
}

/// One HTTP/3 GET: the status, the headers and at most [`super::egress::MAX_ECHO`] of the body.
async fn get(
    connection: quinn::Connection,
    url: &url::Url,
) -> Result<(u16, hyper::HeaderMap, Vec<u8>), String> {
    let (mut driver, mut send) = h3::client::new(h3_quinn::Connection::new(connection))
        .await
        .map_err(|e| format!("HTTP/3 set-up: {e}"))?;
    let driving = super::ctx::AbortOnDrop(tokio::spawn(async move {
        let _ = futures::future::poll_fn(|cx| driver.poll_close(cx)).await;
    }));
    let request = hyper::Request::get(url.as_str())
        .body(())
        .map_err(|e| format!("HTTP/3 request for {url}: {e}"))?;
    let mut stream = send
        .send_request(request)
        .await
        .map_err(|e| format!("HTTP/3 request: {e}"))?;
    stream
        .finish()
        .await
        .map_err(|e| format!("HTTP/3 request: {e}"))?;
    let response = stream
        .recv_response()
        .await
        .map_err(|e| format!("HTTP/3 answer: {e}"))?;
    let mut body = Vec::new();
    while let Some(mut chunk) = stream
        .recv_data()
        .await
        .map_err(|e| format!("HTTP/3 body: {e}"))?
    {
        while chunk.has_remaining() && body.len() < super::egress::MAX_ECHO {
            let part = chunk.chunk();
            let take = part.len().min(super::egress::MAX_ECHO - body.len());
            body.extend_from_slice(&part[..take]);
            chunk.advance(take);
        }
        if body.len() >= super::egress::MAX_ECHO {
            break;
        }
    }
    drop(driving);
    Ok((response.status().as_u16(), response.headers().clone(), body))
}

/// Writes into each QUIC observation where its host offered HTTP/3: the `Alt-Svc` header of the
/// login path's answer on TCP 443 for the same host and route, and the host's DNS HTTPS record.
pub fn link_offers(plan: &crate::plan::Plan, observations: &mut [crate::observation::Observation]) {
    use crate::observation::{Http3Offer, HttpOutcome, Observation};
    use crate::plan::{CheckKind, HttpExpect};
    for (i, check) in plan.checks.iter().enumerate() {
        if !matches!(check.kind, CheckKind::Quic { .. }) {
            continue;
        }
        let offers: Vec<Http3Offer> = plan
            .checks
            .iter()
            .filter(|c| {
                matches!(
                    c.kind,
                    CheckKind::Http(HttpExpect::OpenIdConfiguration { .. })
                ) && c.host == check.host
                    && c.route == check.route
                    && c.port == check.port
            })
            .filter_map(|c| match observations.get(c.id) {
                Some(Observation::Http(h)) => match &h.outcome {
                    HttpOutcome::Answered(a) => a.alt_svc.as_deref().map(Http3Offer::alt_svc),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        let mut offers = offers;
        offers.extend(
            crate::observation::HttpsRecordObservation::of_host(observations.iter(), &check.host)
                .and_then(Http3Offer::https_record),
        );
        if let Some(Observation::Quic(q)) = observations.get_mut(i) {
            q.offered = offers;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answered_handshake_outweighs_another_address_silence() {
        let silent = QuicOutcome::Blocked {
            by: QuicBlock::NoAnswer,
        };
        let refused = QuicOutcome::Blocked {
            by: QuicBlock::Refused,
        };
        let answered = failed("peer refused ALPN h3".into());
        let completed = QuicOutcome::Completed {
            alpn: Some("h3".into()),
            certificate: QuicCertificate::Trusted,
        };
        assert!(openness(&completed) > openness(&answered));
        assert!(openness(&answered) > openness(&refused));
        assert!(openness(&refused) > openness(&silent));
    }

    #[test]
    fn udp_sockets_leave_from_where_the_vantage_binds() {
        let office: IpAddr = "127.0.0.10".parse().unwrap();
        let s = udp_socket(Family::V4, Some(&LocalBind::Address(office))).unwrap();
        assert_eq!(s.local_addr().unwrap().ip(), office);
        let e = udp_socket(Family::V6, Some(&LocalBind::Address(office))).unwrap_err();
        assert!(
            e.contains("no IPv6 route") || e.contains("no ipv6 route"),
            "{e}"
        );
        // An interface bind: loopback's works; one that does not exist is said, so the check
        // reads "not tried", never "blocked".
        let lo = udp_socket(Family::V4, Some(&LocalBind::Interface("lo".into())));
        assert!(lo.is_ok(), "{lo:?}");
        let e =
            udp_socket(Family::V4, Some(&LocalBind::Interface("nosuchif0".into()))).unwrap_err();
        assert!(e.contains("interface nosuchif0"), "{e}");
    }
}
