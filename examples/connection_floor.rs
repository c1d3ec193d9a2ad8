//! The floor under `serve`'s CPU cost: `cargo run --release --example connection_floor`.
//!
//! One run of the bundled lab scenario opens 36 fresh connections: on port 80 three echo samples
//! for each of the five echo hosts plus the login path's request to each of the three login
//! hosts (18 plain), on 443 three echo samples per echo host (15 TLS handshakes, resumed) plus
//! the login path's handshake to each login host (3, full, chain checked); and it asks DNS five
//! times. This example does exactly that work and nothing else: blocking sockets on one thread,
//! no async runtime, no HTTP library, no resolver, each request written with the client's TLS
//! Finished in one write. It measures that thread's CPU time (user and system, which on loopback
//! includes the lab's side of every segment the client sends) and prints it per run, per kind
//! of connection, and as the share of one core that 100 scenarios every 30 s would cost, beside
//! `serve`'s target of 2 %. The lab runs in this process on threads of its own. Only loopback is
//! contacted. Not a test: it prints figures.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use sipa_check::lab::{Lab, LabConfig};

const LOGIN_HOSTS: [&str; 3] = [
    "login.microsoftonline.com",
    "login.windows.net",
    "login.microsoft.com",
];
const ECHO_HOSTS: [&str; 5] = [
    "login.microsoftonline.com",
    "login.windows.net",
    "login.microsoft.com",
    "canary.sipa-lab.test",
    "control.sipa-lab.test",
];
const SAMPLES: usize = 3;
const RUNS: u32 = 400;
/// 100 scenarios every 30 s: runs per second.
const RUNS_PER_SECOND: f64 = 100.0 / 30.0;

/// CPU time of the calling thread, in microseconds.
fn thread_cpu_us() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e6 + ts.tv_nsec as f64 / 1e3
}

fn request(host: &str) -> String {
    format!(
        "GET /echo/ip HTTP/1.1\r\nhost: {host}\r\nuser-agent: sipa-check\r\naccept: */*\r\n\r\n"
    )
}

/// Reads one HTTP/1.1 answer with a Content-Length body; returns its status.
fn read_answer(stream: &mut impl Read) -> anyhow::Result<u16> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            bail!("closed before the answer was whole");
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut head = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(len) = head.parse(&buf)? {
            let body = head
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .context("no content-length")?;
            let body: usize = std::str::from_utf8(body.value)?.trim().parse()?;
            if buf.len() >= len + body {
                return head.code.context("no status");
            }
        }
    }
}

fn plain(addr: SocketAddr, host: &str) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.write_all(request(host).as_bytes())?;
    read_answer(&mut stream)?;
    Ok(())
}

fn tls(addr: SocketAddr, host: &str, config: &Arc<ClientConfig>) -> anyhow::Result<()> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let name = ServerName::try_from(host.to_owned())?;
    let mut conn = ClientConnection::new(config.clone(), name)?;
    // Written before the handshake ends: it leaves with the Finished.
    conn.writer().write_all(request(host).as_bytes())?;
    let mut tls = StreamOwned::new(conn, stream);
    tls.flush()?;
    read_answer(&mut tls)?;
    Ok(())
}

/// One A query for `host`, by hand: the header, the name, type A, class IN.
fn dns(server: SocketAddr, host: &str, id: u16) -> anyhow::Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut query = Vec::with_capacity(64);
    query.extend_from_slice(&id.to_be_bytes());
    query.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in host.split('.') {
        query.push(u8::try_from(label.len())?);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    socket.send_to(&query, server)?;
    let mut answer = [0u8; 512];
    let (n, _) = socket.recv_from(&mut answer)?;
    if n < 12 || answer[..2] != id.to_be_bytes() {
        bail!("a DNS answer that does not match the query");
    }
    Ok(())
}

#[derive(Default)]
struct Cost {
    plain: f64,
    resumed: f64,
    full: f64,
    dns: f64,
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let lab = runtime.block_on(Lab::start(LabConfig::default()))?;
    let (http, https, dns_addr) = (
        lab.transparent_http_addr(),
        lab.transparent_https_addr(),
        lab.dns_addr(),
    );
    let mut roots = RootCertStore::empty();
    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(lab.ca_pem().as_bytes()) {
        roots.add(cert?)?;
    }
    // The probes' own provider: their cipher order, so the lab picks what it picks for serve.
    let provider = Arc::new(sipa_check::probe::tls::client_provider());
    let echo = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    let mut login = echo.clone();
    login.resumption = rustls::client::Resumption::disabled();
    let (echo, login) = (Arc::new(echo), Arc::new(login));

    let client = std::thread::spawn(move || -> anyhow::Result<Cost> {
        let mut cost = Cost::default();
        for run in 0..=RUNS {
            // The first run fills the session cache and is not counted.
            let counted = run > 0;
            let timed = |slot: &mut f64, work: &mut dyn FnMut() -> anyhow::Result<()>| {
                let before = thread_cpu_us();
                let result = work();
                if counted {
                    *slot += thread_cpu_us() - before;
                }
                result
            };
            for (i, host) in ECHO_HOSTS.iter().enumerate() {
                timed(&mut cost.dns, &mut || dns(dns_addr, host, i as u16))?;
            }
            for host in ECHO_HOSTS {
                for _ in 0..SAMPLES {
                    timed(&mut cost.plain, &mut || plain(http, host))?;
                    timed(&mut cost.resumed, &mut || tls(https, host, &echo))?;
                }
            }
            for host in LOGIN_HOSTS {
                timed(&mut cost.plain, &mut || plain(http, host))?;
                timed(&mut cost.full, &mut || tls(https, host, &login))?;
            }
        }
        Ok(cost)
    });
    let cost = client
        .join()
        .map_err(|_| anyhow::anyhow!("the client thread panicked"))??;
    runtime.block_on(lab.shutdown());

    let runs = f64::from(RUNS);
    let per_run = (cost.plain + cost.resumed + cost.full + cost.dns) / runs;
    println!(
        "connection floor: {RUNS} runs of the lab scenario's connections, one thread, blocking sockets"
    );
    let kinds = [
        (
            "plain HTTP sample",
            cost.plain,
            ECHO_HOSTS.len() * SAMPLES + LOGIN_HOSTS.len(),
        ),
        (
            "resumed TLS sample",
            cost.resumed,
            ECHO_HOSTS.len() * SAMPLES,
        ),
        ("full TLS, chain checked", cost.full, LOGIN_HOSTS.len()),
        ("DNS query", cost.dns, ECHO_HOSTS.len()),
    ];
    for (kind, total, count) in kinds {
        println!(
            "  {kind:<24} {:>6.0} us each x {count:>2} = {:>5.2} ms a run",
            total / runs / count as f64,
            total / runs / 1e3
        );
    }
    let share = per_run / 1e6 * RUNS_PER_SECOND * 100.0;
    println!(
        "  a run: {:.2} ms; 100 scenarios every 30 s: {share:.2} % of one core (serve's target: under 2 %)",
        per_run / 1e3
    );
    Ok(())
}
