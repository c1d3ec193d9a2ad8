//! `sipa-check audit` reaches the APIs the way the company's traffic does: through the proxy of
//! `HTTPS_PROXY` (bypassed for `NO_PROXY`) or `--proxy`, asking `--dns` for names, following
//! `--connect-to`; proven by a real CONNECT proxy and a DNS responder written here, on loopback,
//! that count what reached them. No proxy password appears in any output.

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

mod common;
use common::cli::{sipa_without_zscaler_credentials, text};

use sipa_check::lab::admin_api::{
    AdminApi, ApiBehaviour, LAB_ZIA_API_KEY, LAB_ZIA_PASSWORD, LAB_ZPA_CLIENT_SECRET,
};

const PROXY_USER: &str = "svc sipa";
const PROXY_PASSWORD: &str = "pr0xy p@ss:w/rd";

/// One CONNECT the proxy saw: the target and the `Proxy-Authorization` it carried.
#[derive(Debug, Clone)]
struct Tunnel {
    target: String,
    authorization: Option<String>,
}

/// An explicit HTTP proxy on loopback: CONNECT only, to 127.0.0.1 only, Basic credentials
/// required, every tunnel recorded.
struct ConnectProxy {
    addr: SocketAddr,
    tunnels: Arc<Mutex<Vec<Tunnel>>>,
}

impl ConnectProxy {
    async fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tunnels: Arc<Mutex<Vec<Tunnel>>> = Arc::default();
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{PROXY_USER}:{PROXY_PASSWORD}"))
        );
        let seen = tunnels.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let seen = seen.clone();
                let expected = expected.clone();
                tokio::spawn(async move {
                    let _ = tunnel(client, &seen, &expected).await;
                });
            }
        });
        ConnectProxy { addr, tunnels }
    }

    fn tunnels(&self) -> Vec<Tunnel> {
        self.tunnels.lock().unwrap().clone()
    }
}

async fn tunnel(
    mut client: TcpStream,
    seen: &Mutex<Vec<Tunnel>>,
    expected: &str,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        if client.read(&mut byte).await? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let request = lines.next().unwrap_or_default().to_string();
    let authorization = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.trim().to_string())
    });
    let mut parts = request.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    seen.lock().unwrap().push(Tunnel {
        target: target.to_string(),
        authorization: authorization.clone(),
    });
    if method != "CONNECT" {
        client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            .await?;
        return Ok(());
    }
    if authorization.as_deref() != Some(expected) {
        client
            .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
            .await?;
        return Ok(());
    }
    // Loopback only: this proxy never reaches anything else.
    let Some(port) = target.strip_prefix("127.0.0.1:") else {
        client
            .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    let mut upstream = TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap_or(0))).await?;
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// A DNS responder on loopback: `api.sipa-lab.test` A is 127.0.0.1, every other question has
/// no answer; each question asked is recorded.
struct DnsResponder {
    addr: SocketAddr,
    questions: Arc<Mutex<Vec<String>>>,
}

impl DnsResponder {
    async fn start() -> DnsResponder {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let questions: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = questions.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                if let Some((answer, name)) = answer(&buf[..n]) {
                    seen.lock().unwrap().push(name);
                    let _ = socket.send_to(&answer, from).await;
                }
            }
        });
        DnsResponder { addr, questions }
    }

    fn questions(&self) -> Vec<String> {
        self.questions.lock().unwrap().clone()
    }
}

/// The answer to one query, and the name asked with its type.
fn answer(query: &[u8]) -> Option<(Vec<u8>, String)> {
    let mut labels = Vec::new();
    let mut i = 12;
    loop {
        let len = *query.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*query.get(i)?, *query.get(i + 1)?]);
    let question_end = i + 4;
    let name = labels.join(".");
    let hit = name == "api.sipa-lab.test" && qtype == 1;
    let mut out = Vec::new();
    out.extend_from_slice(query.get(..2)?);
    out.extend_from_slice(&[0x81, 0x80, 0, 1, 0, u8::from(hit), 0, 0, 0, 0]);
    out.extend_from_slice(query.get(12..question_end)?);
    if hit {
        out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
    }
    Some((out, format!("{name} {qtype}")))
}

fn audit(api: &AdminApi) -> Command {
    let mut c = sipa_without_zscaler_credentials();
    for k in ["HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"] {
        c.env_remove(k);
    }
    c.args(["audit", "--json", "-"]);
    for (k, v) in AdminApi::legacy_env() {
        c.env(k, v);
    }
    let _ = api;
    c
}

async fn output(mut c: Command) -> Output {
    tokio::task::spawn_blocking(move || c.output().expect("sipa-check runs"))
        .await
        .unwrap()
}

/// The JSON report on stdout, the human one on stderr, and no secret in either.
fn checked(out: &Output) -> (serde_json::Value, String) {
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    for secret in [
        PROXY_PASSWORD,
        "pr0xy%20p%40ss",
        LAB_ZPA_CLIENT_SECRET,
        LAB_ZIA_PASSWORD,
        LAB_ZIA_API_KEY,
    ] {
        assert!(!stdout.contains(secret), "{secret} in stdout");
        assert!(!stderr.contains(secret), "{secret} in stderr");
    }
    let report = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (report, stderr)
}

fn env_proxy(proxy: &ConnectProxy) -> String {
    format!("http://svc%20sipa:pr0xy%20p%40ss%3Aw%2Frd@{}", proxy.addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_proxy_carries_every_api_request_and_no_proxy_goes_direct() {
    let api = AdminApi::start(&[], &[], ApiBehaviour::default())
        .await
        .unwrap();
    let proxy = ConnectProxy::start().await;
    let api_target = api.zpa_url().authority().to_string();

    let mut c = audit(&api);
    c.args(api.audit_flags())
        .env("HTTPS_PROXY", env_proxy(&proxy));
    let out = output(c).await;
    let (report, stderr) = checked(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // Every connection to the APIs went through the proxy, with its credentials.
    let tunnels = proxy.tunnels();
    assert!(!tunnels.is_empty(), "the proxy saw nothing: {stderr}");
    for t in &tunnels {
        assert_eq!(t.target, api_target, "{tunnels:#?}");
        assert!(t.authorization.is_some(), "{tunnels:#?}");
    }
    let requests = api.requests();
    assert!(requests.len() > tunnels.len(), "{requests:#?}");
    // The report says how the APIs were reached, the password redacted.
    let source = report["source"].as_str().unwrap_or_default();
    assert!(
        source.contains(&format!(
            "through proxy http://svc%20sipa:REDACTED@{}",
            proxy.addr
        )),
        "{source}"
    );
    // The legacy ZIA session is ended when the audit is done.
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.method == "DELETE" && r.path == "/api/v1/authenticatedSession")
            .count(),
        1,
        "{requests:#?}"
    );
    assert_eq!(api.open_zia_sessions(), 0);

    // NO_PROXY: straight to the API, the proxy sees nothing more.
    let before = proxy.tunnels().len();
    let mut c = audit(&api);
    c.args(api.audit_flags())
        .env("HTTPS_PROXY", env_proxy(&proxy))
        .env("NO_PROXY", "localhost,127.0.0.1");
    let out = output(c).await;
    let (_, stderr) = checked(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(proxy.tunnels().len(), before);

    // A proxy that is not there: no answer, no silent direct path, inconclusive.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = closed.local_addr().unwrap();
    drop(closed);
    let mut c = audit(&api);
    c.args(api.audit_flags())
        .args(["--timeout", "5s"])
        .env("HTTPS_PROXY", format!("http://{gone}"));
    let out = output(c).await;
    let (_, stderr) = checked(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_flag_takes_its_password_from_the_environment_and_wins_over_https_proxy() {
    let api = AdminApi::start(&[], &[], ApiBehaviour::default())
        .await
        .unwrap();
    let proxy = ConnectProxy::start().await;
    let other = ConnectProxy::start().await;
    let mut c = audit(&api);
    c.args(api.audit_flags())
        .args(["--proxy", &format!("http://svc%20sipa@{}", proxy.addr)])
        .env("SIPA_CHECK_PROXY_PASSWORD", PROXY_PASSWORD)
        .env("HTTPS_PROXY", env_proxy(&other));
    let out = output(c).await;
    let (_, stderr) = checked(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!proxy.tunnels().is_empty());
    assert!(other.tunnels().is_empty(), "{:#?}", other.tunnels());

    // The wrong password: the proxy refuses (407), the audit is inconclusive and says nothing
    // of the password.
    let mut c = audit(&api);
    c.args(api.audit_flags())
        .args(["--proxy", &format!("http://svc%20sipa@{}", proxy.addr)])
        .env("SIPA_CHECK_PROXY_PASSWORD", "not-the-password-5c1e");
    let out = output(c).await;
    let (_, stderr) = checked(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains("not-the-password-5c1e"), "{stderr}");
    assert!(!text(&out.stdout).contains("not-the-password-5c1e"));

    // A password in --proxy is refused (exit 2), without repeating it.
    let mut c = audit(&api);
    c.args(api.audit_flags()).args([
        "--proxy",
        &format!("http://svc:hunter2secret@{}", proxy.addr),
    ]);
    let out = output(c).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("SIPA_CHECK_PROXY_PASSWORD"), "{stderr}");
    assert!(!stderr.contains("hunter2secret"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_and_connect_to_reach_the_api_by_its_name() {
    let api = AdminApi::start(&[], &[], ApiBehaviour::default())
        .await
        .unwrap();
    let port = api.zpa_url().port().unwrap();
    let dns = DnsResponder::start().await;
    let ca = api.ca_file().display().to_string();

    // The API by name, the name asked of --dns only.
    let mut c = audit(&api);
    c.args([
        "--zpa-url",
        &format!("https://api.sipa-lab.test:{port}"),
        "--zia-url",
        &format!("https://api.sipa-lab.test:{port}/api/v1"),
        "--ca-file",
        &ca,
        "--dns",
        &dns.addr.to_string(),
    ]);
    let out = output(c).await;
    let (_, stderr) = checked(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        dns.questions().iter().any(|q| q == "api.sipa-lab.test 1"),
        "{:#?}",
        dns.questions()
    );

    // The API's usual port (no port in the URL) sent elsewhere by --connect-to.
    let mut c = audit(&api);
    c.args([
        "--zpa-url",
        "https://api.sipa-lab.test",
        "--zia-url",
        "https://api.sipa-lab.test/api/v1",
        "--ca-file",
        &ca,
        "--connect-to",
        &format!("api.sipa-lab.test:443:127.0.0.1:{port}"),
    ]);
    let out = output(c).await;
    let (_, stderr) = checked(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(api.requests().len() > 10);

    // A rule that would move a port the URL names itself cannot be kept: refused, not ignored.
    let mut c = audit(&api);
    c.args([
        "--zpa-url",
        &format!("https://127.0.0.1:{port}"),
        "--zia-url",
        &format!("https://127.0.0.1:{port}/api/v1"),
        "--ca-file",
        &ca,
        "--connect-to",
        &format!("127.0.0.1:{port}:127.0.0.1:1"),
    ]);
    let out = output(c).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("would change the port of"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anchors_from_zpa_reach_zpa_through_https_proxy_too() {
    use sipa_check::lab::{Lab, LabConfig};
    let api = AdminApi::start(&[], &[], ApiBehaviour::default())
        .await
        .unwrap();
    let proxy = ConnectProxy::start().await;
    let lab = Lab::start(LabConfig::default()).await.unwrap();
    let mut flags = Vec::new();
    let mut it = lab.run_flags().into_iter();
    while let Some(f) = it.next() {
        if f == "--expect-ip" {
            it.next();
        } else {
            flags.push(f);
        }
    }
    let mut c = sipa_without_zscaler_credentials();
    for k in ["HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"] {
        c.env_remove(k);
    }
    c.args(["run", "scenarios/lab.toml"])
        .args(flags)
        .args(["--anchors-from-zpa", "--zpa-url", api.zpa_url().as_str()])
        .arg("--ca-file")
        .arg(api.ca_file())
        .args(["--json", "-"])
        .env("HTTPS_PROXY", env_proxy(&proxy));
    for (k, v) in AdminApi::legacy_env() {
        c.env(k, v);
    }
    let out = output(c).await;
    let (report, stderr) = checked(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        report["runs"][0]["anchors"],
        serde_json::json!(["127.0.0.2"])
    );
    let tunnels = proxy.tunnels();
    assert!(!tunnels.is_empty(), "{stderr}");
    assert!(
        tunnels
            .iter()
            .all(|t| t.target == api.zpa_url().authority()),
        "{tunnels:#?}"
    );
    lab.shutdown().await;
}
