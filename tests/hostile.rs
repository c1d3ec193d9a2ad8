//! Hostile peers: servers that lie about Content-Length, close mid-answer, trickle, flood,
//! send invalid UTF-8, two addresses or escape sequences, endless headers or bodies, redirect to
//! themselves, answer TLS with garbage, or act as a broken proxy. Each must end in a check that
//! is not a PASS and says precisely what the peer did — never a panic. Every server is written
//! here and listens on 127.0.0.1; DNS is a local server that answers NXDOMAIN to everything.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use sipa_check::address::ConnectTo;
use sipa_check::outcome::{Outcome, RunReport, ScenarioRun, Stage, Status};
use sipa_check::report::human::{self, HumanStyle};
use sipa_check::runner::{self, Quiet, RunSettings};
use sipa_check::scenario::{self, Format};

const LOGIN: &str = "login.hostile.test";
/// What a well-behaved echo would say here: the anchor, so that a misread would be a PASS.
const ANCHOR: &str = "127.0.0.2";
/// The probe timeout of these runs, as the reports show it.
const TIMEOUT: &str = "1.0s";

// ---- servers ----

/// What a hostile server does once it has read the request head.
#[derive(Clone)]
enum Hostile {
    /// Write these bytes, then close.
    Say(Vec<u8>),
    /// Write the first bytes at once, then the others one at a time, one per `every`, then
    /// close (or stop when the client has gone).
    Trickle(Vec<u8>, Vec<u8>, Duration),
    /// A 200 with a chunked body that does not end (until the client goes, or 64 MiB).
    Endless,
    /// Write these bytes without reading anything first — for a TLS client, instead of a
    /// ServerHello — then close.
    Blurt(Vec<u8>),
    /// Say nothing and hold the connection for 10 s.
    Silent,
}

trait AsyncStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncStream for T {}
type Stream = Box<dyn AsyncStream>;

/// Reads up to the end of a request head (or 16 KiB, or EOF); says whether a whole head came.
async fn read_head(stream: &mut Stream) -> bool {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while head.len() < 16 * 1024 {
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            return true;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    false
}

impl Hostile {
    async fn play(self, mut stream: Stream, requests: Arc<AtomicUsize>) {
        if let Hostile::Blurt(bytes) = &self {
            let _ = stream.write_all(bytes).await;
            let _ = stream.shutdown().await;
            return;
        }
        if let Hostile::Silent = self {
            tokio::time::sleep(Duration::from_secs(10)).await;
            return;
        }
        if read_head(&mut stream).await {
            requests.fetch_add(1, Ordering::SeqCst);
        }
        match self {
            Hostile::Say(bytes) => {
                let _ = stream.write_all(&bytes).await;
                let _ = stream.flush().await;
            }
            Hostile::Trickle(at_once, bytes, every) => {
                if stream.write_all(&at_once).await.is_err() {
                    return;
                }
                for b in bytes {
                    if stream.write_all(&[b]).await.is_err() || stream.flush().await.is_err() {
                        return;
                    }
                    tokio::time::sleep(every).await;
                }
            }
            Hostile::Endless => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\
                            Transfer-Encoding: chunked\r\n\r\n";
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("4000\r\n{}\r\n", "9".repeat(0x4000));
                for _ in 0..4096 {
                    if stream.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                }
            }
            Hostile::Blurt(_) | Hostile::Silent => {}
        }
        let _ = stream.shutdown().await;
    }
}

/// A hostile server on 127.0.0.1, the number of connections it took and of the request heads
/// it read.
struct Server {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

/// Serves `hostile`, over TLS with `tls`; the tasks end with the test's runtime.
async fn serve(hostile: Hostile, tls: Option<tokio_rustls::TlsAcceptor>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let (counter, heads) = (connections.clone(), requests.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let hostile = hostile.clone();
            let tls = tls.clone();
            let heads = heads.clone();
            tokio::spawn(async move {
                let stream: Stream = match tls {
                    None => Box::new(tcp),
                    Some(acceptor) => match acceptor.accept(tcp).await {
                        Ok(tls) => Box::new(tls),
                        Err(_) => return,
                    },
                };
                hostile.play(stream, heads).await;
            });
        }
    });
    Server {
        addr,
        connections,
        requests,
    }
}

/// A DNS server that answers NXDOMAIN to everything, so that no lookup leaves loopback.
async fn nxdomain_dns() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = socket.local_addr().expect("local address");
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
            // The header, then the question: labels up to the root label, type and class.
            let mut end = 12;
            while end < n && buf[end] != 0 {
                end += buf[end] as usize + 1;
            }
            end += 5;
            if n < 12 || end > n {
                continue;
            }
            let mut reply = buf[..end].to_vec();
            reply[2] |= 0x80; // a response
            reply[3] = 0x80 | 3; // recursion available, NXDOMAIN
            reply[6..12].fill(0); // no answer, authority or additional records
            let _ = socket.send_to(&reply, peer).await;
        }
    });
    addr
}

/// A CA, a TLS acceptor for `login.hostile.test` and 127.0.0.1, and the CA as a PEM file.
struct Pki {
    acceptor: tokio_rustls::TlsAcceptor,
    ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec![LOGIN.to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &Issuer::from_params(&ca_params, &ca_key))
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone(), ca.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("hostile-ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    Pki {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        ca_file,
        _dir: dir,
    }
}

// ---- running the harness against them ----

/// Where the hostile peer sits.
#[derive(Clone, Copy, PartialEq)]
enum Place {
    /// The login host on port 80 and an `http://` echo observer.
    Plain,
    /// The login host on port 443 and an `https://` echo observer (TLS unless the peer blurts).
    Tls,
    /// As `Tls`, but the harness is not told of the server's CA: its chain is untrusted.
    TlsUntrusted,
    /// The explicit proxy, for the login host on 443 and an `https://` echo observer.
    Proxy,
}

struct Hostility {
    run: ScenarioRun,
    server: Server,
}

/// Runs a small scenario whose login host and one echo observer (two samples) reach `hostile`
/// at `place`, with a 1 s probe timeout, and checks what every run must satisfy.
async fn run_against(hostile: Hostile, place: Place) -> Hostility {
    let pki = (place != Place::Plain).then(pki);
    // A peer that blurts or stays silent speaks no TLS, even on the TLS port.
    let tls = match (&hostile, place) {
        (Hostile::Blurt(_) | Hostile::Silent, _) | (_, Place::Proxy) => None,
        _ => pki.as_ref().map(|p| p.acceptor.clone()),
    };
    let server = serve(hostile, tls).await;
    let dns = nxdomain_dns().await;
    let port = server.addr.port();
    let (login_port, echo, proxy) = match place {
        Place::Plain => (80, format!("http://127.0.0.1:{port}/ip"), String::new()),
        Place::Tls | Place::TlsUntrusted => {
            (443, format!("https://127.0.0.1:{port}/ip"), String::new())
        }
        Place::Proxy => (
            443,
            "https://echo.hostile.test/ip".to_string(),
            format!("proxy = \"http://127.0.0.1:{port}\""),
        ),
    };
    let ca_files = match &pki {
        Some(_) if place == Place::TlsUntrusted => String::new(),
        Some(p) => format!("ca_files = [{:?}]", p.ca_file.display().to_string()),
        None => String::new(),
    };
    let text = format!(
        r#"
name = "hostile"
[login]
hosts = ["{LOGIN}"]
ports = [{login_port}]
[anchor]
expect = ["{ANCHOR}"]
[[observer]]
name = "echo"
role = "anchored"
url = "{echo}"
samples = 2
[vantage]
dns = ["{dns}"]
{proxy}
{ca_files}
[limits]
timeout = "1s"
deadline = "20s"
family = "4"
"#
    );
    let s = scenario::load_str(&text, std::path::Path::new("hostile.toml"), Format::Toml)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let connect_to = match place {
        Place::Proxy => Vec::new(),
        _ => vec![ConnectTo {
            from_host: Some(LOGIN.into()),
            from_port: Some(login_port),
            to_host: Some("127.0.0.1".into()),
            to_port: Some(port),
        }],
    };
    let settings = RunSettings {
        connect_to,
        interrupt: runner::never(),
        progress: &Quiet,
        entra: None,
    };
    let started = Instant::now();
    let run = runner::run_scenario(&s, settings)
        .await
        .expect("the run starts");
    // Every probe is bounded by the 1 s timeout: nothing hostile holds the run.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the run took {:?}",
        started.elapsed()
    );
    assert!(run.cut_short.is_none(), "{:?}", run.cut_short);
    assert_reports_render(&run);
    Hostility { run, server }
}

/// Every report renders; the terminal report and the JUnit XML carry no control character
/// that came from the peer.
fn assert_reports_render(run: &ScenarioRun) {
    let report = RunReport::new(vec![run.clone()]);
    for (color, verbose) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut text = Vec::new();
        let style = HumanStyle {
            color,
            verbose,
            ..HumanStyle::default()
        };
        human::write(&report, &mut text, style).expect("human report");
        let text = String::from_utf8(text).expect("the human report is UTF-8");
        assert!(!text.contains('\u{7}'), "a BEL reached the terminal report");
        assert!(
            !text.contains("\u{1b}]"),
            "an OSC sequence reached the terminal report"
        );
        assert!(
            !text.contains("\u{1b}[2J"),
            "a screen clear reached the terminal report"
        );
        if !color {
            assert!(
                !text.contains('\u{1b}'),
                "an escape reached the terminal report"
            );
        }
    }
    let mut json = Vec::new();
    sipa_check::report::json::write(&report, &mut json).expect("JSON report");
    serde_json::from_slice::<serde_json::Value>(&json).expect("the JSON report parses");
    let mut xml = Vec::new();
    sipa_check::report::junit::write(&report, &mut xml).expect("JUnit report");
    let xml = String::from_utf8(xml).expect("JUnit is UTF-8");
    assert!(
        !xml.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')),
        "a control character in the JUnit XML"
    );
}

impl Hostility {
    fn check(&self, stage: Stage) -> &Outcome {
        self.run
            .checks
            .iter()
            .find(|o| o.stage == stage && !o.name.contains("coverage"))
            .unwrap_or_else(|| {
                let names: Vec<&str> = self.run.checks.iter().map(|o| o.name.as_str()).collect();
                panic!("no {stage} check in {names:#?}")
            })
    }

    fn egress(&self) -> &Outcome {
        self.check(Stage::Egress)
    }

    fn http(&self) -> &Outcome {
        self.check(Stage::Http)
    }
}

/// All the words of an outcome a reader sees.
fn text(o: &Outcome) -> String {
    format!("{} | {} | {}", o.reason, o.observed, o.causes.join(" | "))
}

/// `o` has `status` (never a pass) and says `needle`.
#[track_caller]
fn assert_says(o: &Outcome, status: Status, needle: &str) {
    assert_ne!(status, Status::Pass);
    assert_eq!(o.status, status, "{}: {}", o.name, text(o));
    assert!(
        text(o).contains(needle),
        "{}: expected {needle:?} in: {}",
        o.name,
        text(o)
    );
}

/// The echo check is inconclusive and its evidence names the problem.
#[track_caller]
fn assert_echo_says(h: &Hostility, needle: &str) {
    let o = h.egress();
    assert_says(o, Status::Error, needle);
    // The reason says what is wrong; the counts are in what was observed.
    assert_eq!(o.reason, "the echo gave no usable address");
    assert!(
        o.observed.contains("2 of 2 samples unreadable"),
        "{}",
        o.observed
    );
}

/// An answer with a correct Content-Length.
fn ok(body: &[u8]) -> Vec<u8> {
    answer("200 OK", &format!("Content-Length: {}", body.len()), body)
}

fn answer(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes =
        format!("HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n{headers}\r\n\r\n").into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Deterministic noise with every byte value (and so no valid UTF-8, HTTP or TLS).
fn garbage(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect()
}

// ---- lying about the length, closing early ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcing_more_than_it_sends_then_closing() {
    let h = run_against(
        Hostile::Say(answer("200 OK", "Content-Length: 100", ANCHOR.as_bytes())),
        Place::Plain,
    )
    .await;
    let cut = "the peer closed the connection before the end of the body";
    assert_echo_says(&h, cut);
    assert_says(h.http(), Status::Fail, cut);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcing_less_than_it_sends() {
    // HTTP frames the body by Content-Length: only "127.0" is the answer, the rest is never
    // read as part of it — so no address, rather than the anchor that follows.
    let h = run_against(
        Hostile::Say(answer("200 OK", "Content-Length: 5", ANCHOR.as_bytes())),
        Place::Plain,
    )
    .await;
    assert_echo_says(&h, "`127.0` is not an IP address");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_in_the_middle_of_the_head() {
    let h = run_against(
        Hostile::Say(b"HTTP/1.1 200 OK\r\nContent-Le".to_vec()),
        Place::Plain,
    )
    .await;
    let cut = "the peer closed the connection before a complete answer";
    assert_echo_says(&h, cut);
    assert_says(h.http(), Status::Fail, cut);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_in_the_middle_of_a_chunked_body() {
    let h = run_against(
        Hostile::Say(answer(
            "200 OK",
            "Transfer-Encoding: chunked",
            b"9\r\n127.0",
        )),
        Place::Plain,
    )
    .await;
    assert_echo_says(
        &h,
        "the peer closed the connection before the end of the body",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_without_a_word() {
    let h = run_against(Hostile::Say(Vec::new()), Place::Plain).await;
    assert_echo_says(
        &h,
        "the peer closed the connection before a complete answer",
    );
}

// ---- slow peers ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_one_byte_a_second() {
    // On 443 the request rides on the TLS check's connection: the same bound holds there.
    for place in [Place::Plain, Place::Tls] {
        let h = run_against(
            Hostile::Trickle(Vec::new(), ok(ANCHOR.as_bytes()), Duration::from_secs(1)),
            place,
        )
        .await;
        assert_echo_says(&h, "no answer in time");
        assert_says(
            h.http(),
            Status::Error,
            &format!("no complete answer within {TIMEOUT}"),
        );
        for o in [h.egress(), h.http()] {
            assert!(
                o.elapsed < Duration::from_secs(3),
                "{}: {:?}",
                o.name,
                o.elapsed
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_the_body_past_the_timeout() {
    // The head arrives at once, then a byte every 300 ms: the timeout covers the body too.
    let head = answer("200 OK", "Content-Length: 9", b"");
    let h = run_against(
        Hostile::Trickle(head, ANCHOR.into(), Duration::from_millis(300)),
        Place::Plain,
    )
    .await;
    assert_echo_says(&h, "no answer in time");
}

// ---- floods and garbage ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_of_garbage_instead_of_http() {
    for place in [Place::Plain, Place::Tls] {
        let h = run_against(Hostile::Say(garbage(1 << 20)), place).await;
        let not_http = "the answer is not HTTP/1.x";
        assert_echo_says(&h, not_http);
        assert_says(h.http(), Status::Fail, not_http);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_of_garbage_as_the_body() {
    let h = run_against(Hostile::Say(ok(&garbage(1 << 20))), Place::Plain).await;
    assert_echo_says(&h, "the answer is larger than 65536 bytes");
    // The login host's answer is read up to its own cap, then judged: not a redirect.
    assert_says(
        h.http(),
        Status::Fail,
        "expected a redirect to https://, got 200",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_body_is_cut_at_the_cap() {
    let h = run_against(Hostile::Endless, Place::Plain).await;
    assert_echo_says(&h, "the answer is larger than 65536 bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_headers() {
    let headers: Vec<String> = (0..1000).map(|i| format!("X-Filler-{i}: {i}")).collect();
    let h = run_against(
        Hostile::Say(answer(
            "200 OK",
            &format!("{}\r\nContent-Length: 9", headers.join("\r\n")),
            ANCHOR.as_bytes(),
        )),
        Place::Plain,
    )
    .await;
    let too_large = "the answer's head is too large";
    assert_echo_says(&h, too_large);
    assert_says(h.http(), Status::Fail, too_large);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_headers_after_the_handshake() {
    let headers: Vec<String> = (0..1000).map(|i| format!("X-Filler-{i}: {i}")).collect();
    let document = br#"{"issuer":"https://sts.windows.net/x/"}"#;
    let h = run_against(
        Hostile::Say(answer(
            "200 OK",
            &format!(
                "{}\r\nContent-Length: {}",
                headers.join("\r\n"),
                document.len()
            ),
            document,
        )),
        Place::Tls,
    )
    .await;
    assert_eq!(h.check(Stage::Tls).status, Status::Pass);
    assert_says(h.http(), Status::Fail, "the answer's head is too large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_header() {
    let huge = format!("X-Huge: {}\r\nContent-Length: 9", "a".repeat(1 << 20));
    let h = run_against(
        Hostile::Say(answer("200 OK", &huge, ANCHOR.as_bytes())),
        Place::Plain,
    )
    .await;
    assert_echo_says(&h, "the answer's head is too large");
}

// ---- answers that are not exactly one address ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8() {
    let h = run_against(Hostile::Say(ok(b"\xff\xfe127.0.0.2")), Place::Plain).await;
    assert_echo_says(&h, "the answer is not UTF-8");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_addresses() {
    let h = run_against(Hostile::Say(ok(b"127.0.0.2 127.0.0.3")), Place::Plain).await;
    assert_echo_says(&h, "the answer holds 2 words, not exactly one IP address");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_sequences_never_reach_the_terminal() {
    // `assert_reports_render` checks that no BEL, OSC or clear-screen reaches the report.
    let h = run_against(
        Hostile::Say(ok(b"\x1b]0;pwned\x07\x1b[2J127.0.0.2")),
        Place::Plain,
    )
    .await;
    assert_echo_says(&h, "is not an IP address");
}

// ---- redirects ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_loops_are_not_followed() {
    // Every request is sent back to itself: a client that followed would loop (or stop after
    // its own limit) and the server would see far more than one request per probe.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let to_itself = answer(
        "302 Found",
        &format!("Location: http://127.0.0.1:{port}/ip\r\nContent-Length: 0"),
        b"",
    );
    let h = run_against(Hostile::Say(to_itself), Place::Plain).await;
    assert_echo_says(&h, "the echo answered 302");
    assert_says(h.http(), Status::Fail, "302 redirect, but not to https://");
    // Two echo samples and the login host's connect check, whose connection the HTTP check
    // goes on: one connection each, one request each, and not one more — nothing was followed.
    assert_eq!(h.server.connections.load(Ordering::SeqCst), 2 + 1);
    assert_eq!(h.server.requests.load(Ordering::SeqCst), 2 + 1);
}

// ---- TLS ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_instead_of_a_server_hello() {
    let h = run_against(Hostile::Blurt(garbage(4096)), Place::Tls).await;
    assert_says(
        h.check(Stage::Tls),
        Status::Fail,
        "TLS handshake failed: received corrupt message",
    );
    assert_echo_says(&h, "the TLS handshake failed: received corrupt message");
    assert_ne!(h.http().status, Status::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_on_the_tls_port() {
    let h = run_against(
        Hostile::Blurt(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()),
        Place::Tls,
    )
    .await;
    assert_says(h.check(Stage::Tls), Status::Fail, "TLS handshake failed");
    assert_echo_says(&h, "the TLS handshake failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_peer_that_hangs_up_at_once() {
    let h = run_against(Hostile::Blurt(Vec::new()), Place::Tls).await;
    assert_ne!(h.check(Stage::Tls).status, Status::Pass);
    assert_echo_says(
        &h,
        "the peer closed the connection while it was being set up",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_peer_that_never_answers() {
    let h = run_against(Hostile::Silent, Place::Tls).await;
    assert_says(
        h.check(Stage::Tls),
        Status::Error,
        &format!("no TLS handshake within {TIMEOUT}"),
    );
    assert_echo_says(&h, "no answer in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openid_document_over_the_cap() {
    let h = run_against(Hostile::Say(ok(&garbage(2 << 20))), Place::Tls).await;
    assert_says(
        h.http(),
        Status::Fail,
        "the document is larger than 1048576 bytes",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openid_document_cut_short() {
    let h = run_against(
        Hostile::Say(answer(
            "200 OK",
            "Content-Length: 100",
            br#"{"issuer":"https://sts.windows.net/x/"}"#,
        )),
        Place::Tls,
    )
    .await;
    assert_says(
        h.http(),
        Status::Fail,
        "the peer closed the connection before the end of the body",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_is_sent_over_an_untrusted_chain() {
    let document = br#"{"issuer":"https://sts.windows.net/x/"}"#;
    let h = run_against(Hostile::Say(ok(document)), Place::TlsUntrusted).await;
    assert_says(
        h.check(Stage::Tls),
        Status::Fail,
        "chain from an unexpected CA",
    );
    assert_says(h.http(), Status::Skip, "did not pass");
    assert_echo_says(&h, "the TLS handshake failed");
    // The connect check's connection (which the TLS check goes on) and the two samples' were
    // made, the handshakes too, but no request followed any of them.
    assert_eq!(h.server.connections.load(Ordering::SeqCst), 1 + 2);
    assert_eq!(h.server.requests.load(Ordering::SeqCst), 0);
}

// ---- a hostile explicit proxy ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_that_floods_its_connect_answer() {
    let mut flood = b"HTTP/1.1 200 Connection established\r\n".to_vec();
    flood.extend(std::iter::repeat_n(b'a', 1 << 20));
    let h = run_against(Hostile::Say(flood), Place::Proxy).await;
    assert_says(
        h.check(Stage::Connect),
        Status::Error,
        "the proxy's answer to CONNECT exceeds 16384 bytes",
    );
    // The echo's samples open their tunnels with the same code, capped the same way.
    assert_echo_says(&h, "the proxy's answer to CONNECT exceeds 16384 bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_that_closes_before_answering() {
    let h = run_against(Hostile::Say(Vec::new()), Place::Proxy).await;
    assert_says(
        h.check(Stage::Connect),
        Status::Error,
        "the proxy closed the connection before answering CONNECT",
    );
    assert_echo_says(
        &h,
        "the proxy closed the connection before answering CONNECT",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_that_answers_connect_with_garbage() {
    let mut bytes = garbage(300);
    bytes.extend_from_slice(b"\r\n\r\n");
    let h = run_against(Hostile::Say(bytes), Place::Proxy).await;
    assert_says(
        h.check(Stage::Connect),
        Status::Error,
        "the proxy's answer to CONNECT is not HTTP",
    );
    assert_echo_says(&h, "the proxy's answer to CONNECT is not HTTP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_that_trickles_its_connect_answer() {
    let h = run_against(
        Hostile::Trickle(
            Vec::new(),
            b"HTTP/1.1 200 Connection established\r\n\r\n".to_vec(),
            Duration::from_secs(1),
        ),
        Place::Proxy,
    )
    .await;
    assert_ne!(h.check(Stage::Connect).status, Status::Pass);
    assert_echo_says(&h, "no answer in time");
}
