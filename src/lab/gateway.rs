//! The ZIA-like gateway: a transparent plain listener ("port 80", reads the Host header), a
//! transparent TLS listener ("port 443", reads the SNI without terminating TLS) and an explicit
//! HTTP/1.1 proxy (CONNECT and absolute-form requests). Each connection is decided by the
//! forwarding policy and leaves for the origin from the App Connector or the ZIA edge address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, copy_bidirectional};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::conn::{
    HANDSHAKE_TIMEOUT, Replay, connect_from, local_addr, reset, spawn_accept_loop, wan_delay,
};
use super::origin::normalize_host;
use super::policy::{Forwarding, ForwardingPolicy};
use super::world::{LOGIN_HOSTS, LabError};

/// Largest request head or ClientHello the gateway buffers before it gives up on a client.
const MAX_HEAD: usize = 64 * 1024;
/// Extra delay of the anchored path under the `slow-path` fault: beyond the bundled lab
/// scenario's 3 s probe timeout, so a path this slow cannot pass.
const SLOW_PATH_DELAY: Duration = Duration::from_secs(4);
/// How long the lab waits for one of its own connects to a blackholed listener before it takes
/// the accept queue for full.
const BLACKHOLE_PROBE: Duration = Duration::from_millis(250);

/// SSL inspection under the `tls-intercept` fault: the client is shown a certificate from the
/// unknown interception CA; the gateway talks TLS to the origin itself.
pub(crate) struct Interception {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) origin: TlsConnector,
}

/// What every gateway connection shares.
pub(crate) struct GatewayState {
    pub(crate) policy: Arc<ForwardingPolicy>,
    pub(crate) origin_plain: SocketAddr,
    pub(crate) origin_tls: SocketAddr,
    pub(crate) latency: Duration,
    pub(crate) slow_path: bool,
    pub(crate) proxy_auth_required: bool,
    pub(crate) blackhole_tls: bool,
    pub(crate) interception: Option<Interception>,
}

/// Which of the gateway's three front doors a connection came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    TransparentHttp,
    TransparentHttps,
    Proxy,
}

impl Entry {
    pub(crate) fn listener_name(self) -> &'static str {
        match self {
            Entry::TransparentHttp => "gateway transparent HTTP",
            Entry::TransparentHttps => "gateway transparent HTTPS",
            Entry::Proxy => "gateway explicit proxy",
        }
    }
}

/// A bound gateway listener: a live one, or, under `blackhole-connect`, one whose accept
/// queue the lab has filled so that new SYNs go unanswered.
pub(crate) enum Door {
    Live(TcpListener),
    Blackhole {
        listener: TcpListener,
        queued: Vec<TcpStream>,
    },
}

impl Door {
    /// Binds a door on an ephemeral loopback port.
    pub(crate) async fn bind(
        entry: Entry,
        blackhole: bool,
    ) -> Result<(Door, SocketAddr), LabError> {
        let any_port = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        if !blackhole {
            let listener = super::conn::bind(entry.listener_name(), any_port).await?;
            let addr = local_addr(entry.listener_name(), &listener)?;
            return Ok((Door::Live(listener), addr));
        }
        let failed = |addr, source| LabError::Bind {
            listener: entry.listener_name(),
            addr,
            source,
        };
        let socket = TcpSocket::new_v4().map_err(|source| failed(any_port, source))?;
        socket
            .bind(any_port)
            .map_err(|source| failed(any_port, source))?;
        // Linux queues backlog + 1 connections: with 0 a single queued connection fills it.
        let listener = socket
            .listen(0)
            .map_err(|source| failed(any_port, source))?;
        let addr = local_addr(entry.listener_name(), &listener)?;
        // Fill the queue with connections of the lab's own until one of them hangs. The first
        // always fits, so a first one that hangs only means a slow machine: try again.
        let mut queued = Vec::new();
        for _ in 0..10 {
            match tokio::time::timeout(BLACKHOLE_PROBE, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => queued.push(stream),
                Ok(Err(source)) => return Err(failed(addr, source)),
                Err(_) if !queued.is_empty() => {
                    return Ok((Door::Blackhole { listener, queued }, addr));
                }
                Err(_) => {}
            }
        }
        Err(LabError::Blackhole {
            listener: entry.listener_name(),
            addr,
        })
    }
}

/// Starts serving `door` as `entry`.
pub(crate) fn spawn(state: Arc<GatewayState>, entry: Entry, door: Door) -> JoinHandle<()> {
    match door {
        Door::Blackhole { listener, queued } => tokio::spawn(async move {
            // Never accept; hold the listener and the connections that fill its queue.
            let _held = (listener, queued);
            std::future::pending::<()>().await;
        }),
        Door::Live(listener) => {
            let latency = state.latency;
            spawn_accept_loop(listener, latency, move |client, peer| {
                let state = state.clone();
                // ZIA knows the location by the traffic's source: so does the lab.
                let from = peer.ip();
                async move {
                    match entry {
                        Entry::TransparentHttp => transparent_http(&state, client, from).await,
                        Entry::TransparentHttps => transparent_https(&state, client, from).await,
                        Entry::Proxy => proxy(&state, client, from).await,
                    }
                }
            })
        }
    }
}

/// Binds the origin's IPv6 twin of a transparent door: `[::1]` on the same port, so a client
/// that keeps the resolved `::1` but maps the port to the gateway reaches the origin directly.
pub(crate) async fn bind_ipv6_twin(
    entry: Entry,
    blackhole: bool,
) -> Result<(Door, SocketAddr, TcpListener), LabError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (door, addr) = Door::bind(entry, blackhole).await?;
        let twin_addr = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port());
        match TcpListener::bind(twin_addr).await {
            Ok(twin) => return Ok((door, addr, twin)),
            // Someone holds that port on ::1: try another port pair.
            Err(_) if attempts < 8 => continue,
            Err(source) => {
                return Err(LabError::Bind {
                    listener: "origin IPv6 bypass",
                    addr: twin_addr,
                    source,
                });
            }
        }
    }
}

impl GatewayState {
    /// Opens the upstream connection for a forwarded connection to `port`, from the source
    /// address the policy chose. `None` if the policy does not forward it or the origin fails.
    async fn connect_upstream(&self, forwarding: Forwarding, port: u16) -> Option<TcpStream> {
        let source = forwarding.source()?;
        if self.slow_path && matches!(forwarding, Forwarding::Anchored { .. }) {
            tokio::time::sleep(SLOW_PATH_DELAY).await;
        }
        let target = if port == 443 {
            self.origin_tls
        } else {
            self.origin_plain
        };
        connect_from(source, target).await.ok()
    }
}

/// A parsed HTTP/1.x request head and everything read so far (the head may be followed by
/// the start of a body).
struct RequestHead {
    raw: Vec<u8>,
    head_len: usize,
    method: String,
    target: String,
    minor_version: u8,
    headers: Vec<(String, Vec<u8>)>,
}

impl RequestHead {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }
}

/// Reads one request head, or `None` if the client closes, stalls, sends garbage or too much.
async fn read_head(client: &mut TcpStream) -> Option<RequestHead> {
    let read = async {
        let mut raw = Vec::with_capacity(1024);
        let mut chunk = [0u8; 4096];
        loop {
            let n = client.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            raw.extend_from_slice(&chunk[..n]);
            let mut headers = [httparse::EMPTY_HEADER; 96];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(&raw) {
                Ok(httparse::Status::Complete(head_len)) => {
                    let head = RequestHead {
                        head_len,
                        method: request.method?.to_owned(),
                        target: request.path?.to_owned(),
                        minor_version: request.version?,
                        headers: request
                            .headers
                            .iter()
                            .map(|h| (h.name.to_owned(), h.value.to_vec()))
                            .collect(),
                        raw,
                    };
                    return Some(head);
                }
                Ok(httparse::Status::Partial) if raw.len() < MAX_HEAD => continue,
                _ => return None,
            }
        }
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, read).await.ok()?
}

/// Reads the ClientHello, keeping a copy of every byte so it can be replayed upstream.
/// Returns the bytes and the SNI (`None` inside if the client sent no server name).
async fn read_client_hello(client: &mut TcpStream) -> Option<(Vec<u8>, Option<String>)> {
    let read = async {
        let mut acceptor = rustls::server::Acceptor::default();
        let mut saved = Vec::with_capacity(1024);
        let mut chunk = [0u8; 4096];
        loop {
            let n = client.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            saved.extend_from_slice(&chunk[..n]);
            if saved.len() > MAX_HEAD {
                return None;
            }
            let mut unfed = &chunk[..n];
            while !unfed.is_empty() {
                match acceptor.read_tls(&mut unfed) {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
            match acceptor.accept() {
                Ok(None) => continue,
                Ok(Some(accepted)) => {
                    let sni = accepted.client_hello().server_name().map(normalize_host);
                    return Some((saved, sni));
                }
                Err(_) => return None,
            }
        }
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, read).await.ok()?
}

/// Copies both ways until either side is done; errors only end the connection.
async fn splice<A, B>(mut client: A, mut upstream: B)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let _ = copy_bidirectional(&mut client, &mut upstream).await;
}

/// Writes a complete HTTP answer of the gateway itself and closes the connection.
async fn answer_and_close(
    client: &mut TcpStream,
    latency: Duration,
    status: &str,
    extra_headers: &str,
    body: &str,
) {
    wan_delay(latency).await;
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    );
    let _ = client.write_all(answer.as_bytes()).await;
    let _ = client.shutdown().await;
}

fn block_page(host: &str) -> String {
    format!(
        "<html><head><title>Website blocked</title></head><body><h1>Access denied</h1>\
         <p>Your organization's access policy does not allow {host} through the ZPA gateway \
         (sipa-check lab).</p></body></html>\n"
    )
}

fn bad_gateway_page(reason: &str) -> String {
    format!(
        "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1>\
         <p>{reason}</p></body></html>\n"
    )
}

/// "Port 80": the Host header decides.
async fn transparent_http(state: &GatewayState, mut client: TcpStream, from: IpAddr) {
    let Some(head) = read_head(&mut client).await else {
        return;
    };
    let Some(host) = head.header("host").map(normalize_host) else {
        return;
    };
    let forwarding = state.policy.decide_from(from, &host, 80);
    match forwarding {
        Forwarding::Unroutable => {}
        Forwarding::ConnectorsDown => reset(client),
        Forwarding::AccessDenied => {
            let page = block_page(&host);
            answer_and_close(&mut client, state.latency, "403 Forbidden", "", &page).await;
        }
        Forwarding::Edge | Forwarding::Anchored { .. } => {
            let Some(mut upstream) = state.connect_upstream(forwarding, 80).await else {
                return;
            };
            if upstream.write_all(&head.raw).await.is_ok() {
                splice(client, upstream).await;
            }
        }
    }
}

/// "Port 443": the SNI decides; TLS is not terminated (except under `tls-intercept`).
async fn transparent_https(state: &GatewayState, mut client: TcpStream, from: IpAddr) {
    if state.blackhole_tls {
        // Accept, then never answer: drain until the client gives up.
        let mut sink = [0u8; 4096];
        while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {}
        return;
    }
    let Some((hello, Some(host))) = read_client_hello(&mut client).await else {
        return;
    };
    let forwarding = state.policy.decide_from(from, &host, 443);
    match forwarding {
        Forwarding::Unroutable | Forwarding::AccessDenied => {}
        Forwarding::ConnectorsDown => reset(client),
        Forwarding::Edge | Forwarding::Anchored { .. } => {
            if let Some(interception) = intercepting(state, &host) {
                let client = Replay::new(hello, client);
                intercept(state, interception, client, &host, forwarding).await;
                return;
            }
            let Some(mut upstream) = state.connect_upstream(forwarding, 443).await else {
                return;
            };
            if upstream.write_all(&hello).await.is_ok() {
                splice(client, upstream).await;
            }
        }
    }
}

fn intercepting<'a>(state: &'a GatewayState, host: &str) -> Option<&'a Interception> {
    state
        .interception
        .as_ref()
        .filter(|_| LOGIN_HOSTS.contains(&host))
}

/// Terminates the client's TLS with the interception certificate and opens a TLS connection of
/// the gateway's own to the origin.
async fn intercept<S>(
    state: &GatewayState,
    interception: &Interception,
    client: S,
    host: &str,
    forwarding: Forwarding,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let accepted =
        tokio::time::timeout(HANDSHAKE_TIMEOUT, interception.acceptor.accept(client)).await;
    let Ok(Ok(client)) = accepted else {
        return;
    };
    let Ok(server_name) = ServerName::try_from(host.to_owned()) else {
        return;
    };
    let Some(upstream) = state.connect_upstream(forwarding, 443).await else {
        return;
    };
    let connected = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        interception.origin.connect(server_name, upstream),
    )
    .await;
    if let Ok(Ok(upstream)) = connected {
        splice(client, upstream).await;
    }
}

/// What an explicit proxy request asks for.
enum ProxyTarget {
    /// `CONNECT host:port`.
    Tunnel { host: String, port: u16 },
    /// `GET http://host[:port]/path`, with the request line rewritten to origin form.
    Forward {
        host: String,
        port: u16,
        origin_form: String,
    },
}

fn proxy_target(head: &RequestHead) -> Option<ProxyTarget> {
    if head.method.eq_ignore_ascii_case("CONNECT") {
        let (host, port) = head.target.rsplit_once(':')?;
        let port = port.parse().ok()?;
        return Some(ProxyTarget::Tunnel {
            host: normalize_host(host),
            port,
        });
    }
    let url = url::Url::parse(&head.target).ok()?;
    if url.scheme() != "http" {
        return None;
    }
    let host = normalize_host(url.host_str()?);
    let port = url.port_or_known_default()?;
    let mut origin_form = url.path().to_owned();
    if let Some(query) = url.query() {
        origin_form.push('?');
        origin_form.push_str(query);
    }
    Some(ProxyTarget::Forward {
        host,
        port,
        origin_form,
    })
}

/// Rebuilds a proxied request in origin form. The proxy's own headers go, and the connection
/// is closed after one answer so that every request on it is decided by the policy.
fn rewrite_for_origin(head: &RequestHead, origin_form: &str) -> Vec<u8> {
    const HOP_BY_HOP: [&str; 4] = [
        "proxy-connection",
        "proxy-authorization",
        "connection",
        "keep-alive",
    ];
    let mut out = format!(
        "{} {} HTTP/1.{}\r\n",
        head.method, origin_form, head.minor_version
    )
    .into_bytes();
    for (name, value) in &head.headers {
        if HOP_BY_HOP.iter().any(|hop| name.eq_ignore_ascii_case(hop)) {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(&head.raw[head.head_len..]);
    out
}

/// The explicit proxy.
async fn proxy(state: &GatewayState, mut client: TcpStream, from: IpAddr) {
    let Some(head) = read_head(&mut client).await else {
        return;
    };
    let latency = state.latency;
    if state.proxy_auth_required {
        let page = "<html><body><h1>Proxy authentication required</h1></body></html>\n";
        let challenge = "Proxy-Authenticate: Basic realm=\"lab\"\r\n";
        answer_and_close(
            &mut client,
            latency,
            "407 Proxy Authentication Required",
            challenge,
            page,
        )
        .await;
        return;
    }
    let Some(target) = proxy_target(&head) else {
        let page = "<html><body><h1>Bad Request</h1><p>not a proxy request</p></body></html>\n";
        answer_and_close(&mut client, latency, "400 Bad Request", "", page).await;
        return;
    };
    let (host, port) = match &target {
        ProxyTarget::Tunnel { host, port } | ProxyTarget::Forward { host, port, .. } => {
            (host.clone(), *port)
        }
    };
    let forwarding = state.policy.decide_from(from, &host, port);
    match forwarding {
        Forwarding::Unroutable => {
            let page = bad_gateway_page(&format!("no route to port {port} of that host"));
            answer_and_close(&mut client, latency, "502 Bad Gateway", "", &page).await;
        }
        Forwarding::ConnectorsDown => reset(client),
        Forwarding::AccessDenied => {
            let page = block_page(&host);
            answer_and_close(&mut client, latency, "403 Forbidden", "", &page).await;
        }
        Forwarding::Edge | Forwarding::Anchored { .. } => match target {
            ProxyTarget::Tunnel { .. } => {
                tunnel(state, client, &head, &host, port, forwarding).await;
            }
            ProxyTarget::Forward { origin_form, .. } => {
                let Some(mut upstream) = state.connect_upstream(forwarding, port).await else {
                    let page = bad_gateway_page("the origin did not answer");
                    answer_and_close(&mut client, latency, "502 Bad Gateway", "", &page).await;
                    return;
                };
                let request = rewrite_for_origin(&head, &origin_form);
                if upstream.write_all(&request).await.is_ok() {
                    splice(client, upstream).await;
                }
            }
        },
    }
}

/// Answers a CONNECT that the policy forwards, then splices (or intercepts TLS).
async fn tunnel(
    state: &GatewayState,
    mut client: TcpStream,
    head: &RequestHead,
    host: &str,
    port: u16,
    forwarding: Forwarding,
) {
    let latency = state.latency;
    // Bytes the client sent after the CONNECT head without waiting for the 200.
    let early = head.raw[head.head_len..].to_vec();
    let established = "HTTP/1.1 200 Connection established\r\n\r\n";
    if let Some(interception) = intercepting(state, host).filter(|_| port == 443) {
        wan_delay(latency).await;
        if client.write_all(established.as_bytes()).await.is_ok() {
            let client = Replay::new(early, client);
            intercept(state, interception, client, host, forwarding).await;
        }
        return;
    }
    let Some(mut upstream) = state.connect_upstream(forwarding, port).await else {
        let page = bad_gateway_page("the origin did not answer");
        answer_and_close(&mut client, latency, "502 Bad Gateway", "", &page).await;
        return;
    };
    wan_delay(latency).await;
    if client.write_all(established.as_bytes()).await.is_err() {
        return;
    }
    if upstream.write_all(&early).await.is_ok() {
        splice(client, upstream).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> RequestHead {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut request = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(head_len)) = request.parse(raw.as_bytes()) else {
            panic!("test head does not parse");
        };
        RequestHead {
            raw: raw.as_bytes().to_vec(),
            head_len,
            method: request.method.unwrap().to_owned(),
            target: request.path.unwrap().to_owned(),
            minor_version: request.version.unwrap(),
            headers: request
                .headers
                .iter()
                .map(|h| (h.name.to_owned(), h.value.to_vec()))
                .collect(),
        }
    }

    #[test]
    fn absolute_form_is_rewritten_to_origin_form() {
        let head = head(
            "GET http://Login.Windows.Net/echo/ip?x=1 HTTP/1.1\r\nHost: login.windows.net\r\n\
             Proxy-Connection: keep-alive\r\nAccept: */*\r\n\r\nBODY",
        );
        let Some(ProxyTarget::Forward {
            host,
            port,
            origin_form,
        }) = proxy_target(&head)
        else {
            panic!("not a forward target");
        };
        assert_eq!((host.as_str(), port), ("login.windows.net", 80));
        let rewritten = String::from_utf8(rewrite_for_origin(&head, &origin_form)).unwrap();
        assert_eq!(
            rewritten,
            "GET /echo/ip?x=1 HTTP/1.1\r\nHost: login.windows.net\r\nAccept: */*\r\n\
             Connection: close\r\n\r\nBODY"
        );
    }

    #[test]
    fn connect_targets_parse() {
        let head = head("CONNECT canary.sipa-lab.test:443 HTTP/1.1\r\n\r\n");
        assert!(matches!(
            proxy_target(&head),
            Some(ProxyTarget::Tunnel { host, port: 443 }) if host == "canary.sipa-lab.test"
        ));
        let head = self::head("CONNECT [::1]:443 HTTP/1.1\r\n\r\n");
        assert!(matches!(
            proxy_target(&head),
            Some(ProxyTarget::Tunnel { host, .. }) if host == "[::1]"
        ));
        let origin_form = self::head("GET /echo/ip HTTP/1.1\r\n\r\n");
        assert!(proxy_target(&origin_form).is_none());
    }
}
