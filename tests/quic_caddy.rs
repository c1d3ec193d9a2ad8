//! QUIC against a real HTTP/3 server: Debian's caddy (`/usr/bin/caddy`, package `caddy`) on
//! loopback with the lab's certificates, one free port for TCP and UDP. With `protocols h1 h2
//! h3` the harness records caddy's `Alt-Svc` and completes the QUIC handshake: the QUIC check
//! fails `quic-open`. With `protocols h1 h2` UDP is closed: QUIC blocked, the check passes.
//! Fails loudly when caddy is missing (CI installs it). Loopback only.

mod common;

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cli::{sipa, text};
use sipa_check::lab::{Lab, LabConfig};

const CADDY: &str = "/usr/bin/caddy";

/// A caddy process, killed and reaped when dropped.
struct Caddy(Child);

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free on 127.0.0.1 for both TCP and UDP.
fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("a TCP port");
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both TCP and UDP on 127.0.0.1");
}

/// Starts caddy on `port` of 127.0.0.1 with the lab's certificate, speaking `protocols`, its
/// home and state under `dir`; returns once it accepts TCP.
fn start_caddy(lab: &Lab, dir: &Path, port: u16, protocols: &str) -> Caddy {
    assert!(
        Path::new(CADDY).exists(),
        "{CADDY} is missing: install Debian's caddy package (CI does)"
    );
    let (chain, key) = lab.origin_identity_pem();
    let cert = dir.join("cert.pem");
    let key_file = dir.join("key.pem");
    std::fs::write(&cert, chain).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let caddyfile = dir.join("Caddyfile");
    std::fs::write(
        &caddyfile,
        format!(
            r#"{{
	admin off
	skip_install_trust
	auto_https disable_redirects
	storage file_system {storage}
	servers {{
		protocols {protocols}
	}}
}}

https://login.microsoftonline.com:{port} {{
	bind 127.0.0.1
	tls {cert} {key}
	header Content-Type application/json
	respond /common/.well-known/openid-configuration `{{"issuer":"https://sts.windows.net/lab/","token_endpoint":"https://login.microsoftonline.com/common/oauth2/token"}}` 200
	respond 404
}}
"#,
            storage = dir.join("storage").display(),
            cert = cert.display(),
            key = key_file.display(),
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("caddy.log")).unwrap();
    let child = Command::new(CADDY)
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&caddyfile)
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("{CADDY} does not start: {e}"));
    let mut caddy = Caddy(child);
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = caddy.0.try_wait() {
            panic!(
                "caddy exited ({status}): {}",
                std::fs::read_to_string(dir.join("caddy.log")).unwrap_or_default()
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "caddy did not listen on {port}: {}",
            std::fs::read_to_string(dir.join("caddy.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The HTTP/3 listener opens beside the TCP one; give it a moment.
    std::thread::sleep(Duration::from_millis(300));
    caddy
}

/// `sipa-check run` of one login host on 443 (IPv4), through the lab's DNS, with 443 mapped to
/// caddy's port for TCP and UDP alike; returns the QUIC check's JSON and caddy's log.
fn run_against_caddy(protocols: &str) -> (serde_json::Value, serde_json::Value) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let lab = rt
        .block_on(Lab::start(LabConfig::default()))
        .expect("the lab starts");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _caddy = start_caddy(&lab, dir.path(), port, protocols);
    let scenario = dir.path().join("caddy.toml");
    std::fs::write(
        &scenario,
        "name = \"caddy\"\n[login]\nhosts = [\"login.microsoftonline.com\"]\nports = [443]\n[limits]\nfamily = \"4\"\ntimeout = \"3s\"\n",
    )
    .unwrap();
    let json: PathBuf = dir.path().join("r.json");
    let out = sipa()
        .arg("run")
        .arg(&scenario)
        .args(["--dns", &lab.dns_addr().to_string()])
        .args([
            "--connect-to",
            &format!("login.microsoftonline.com:443:127.0.0.1:{port}"),
        ])
        .arg("--ca-file")
        .arg(lab.ca_file())
        .args(["--expect-ip", "127.0.0.2", "--json"])
        .arg(&json)
        .output()
        .expect("sipa-check runs");
    let doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&json)
            .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr))),
    )
    .unwrap();
    let checks = doc["runs"][0]["checks"].as_array().unwrap().clone();
    let find = |stage: &str| {
        checks
            .iter()
            .find(|c| c["stage"] == stage)
            .cloned()
            .unwrap_or_else(|| panic!("no {stage} check: {}", text(&out.stdout)))
    };
    (find("quic"), find("http"))
}

#[test]
fn caddy_serving_http3_on_udp_443_fails_quic_open() {
    let (quic, http) = run_against_caddy("h1 h2 h3");
    // caddy offers HTTP/3 on its TCP answer, and the harness recorded it.
    let alt_svc = http["observation"]["outcome"]["alt_svc"]
        .as_str()
        .unwrap_or_else(|| panic!("no Alt-Svc recorded: {http:#}"));
    assert!(alt_svc.contains("h3="), "{alt_svc}");
    let seen = &quic["observation"];
    assert_eq!(seen["offered"][0]["source"], "alt-svc", "{quic:#}");
    assert_eq!(seen["offered"][0]["h3"], true, "{quic:#}");
    assert_eq!(seen["outcome"]["result"], "completed", "{quic:#}");
    assert_eq!(seen["outcome"]["alpn"], "h3", "{quic:#}");
    assert_eq!(
        seen["outcome"]["certificate"]["result"], "trusted",
        "{quic:#}"
    );
    assert_eq!(quic["status"], "fail", "{quic:#}");
    assert_eq!(quic["diagnosis"]["cause"], "quic-open", "{quic:#}");
}

#[test]
fn caddy_without_http3_leaves_quic_blocked_and_the_check_passes() {
    let (quic, http) = run_against_caddy("h1 h2");
    assert_eq!(http["status"], "pass", "{http:#}");
    assert!(
        http["observation"]["outcome"]["alt_svc"].is_null(),
        "no HTTP/3 offered: {http:#}"
    );
    let seen = &quic["observation"];
    assert_eq!(seen["outcome"]["result"], "blocked", "{quic:#}");
    assert_eq!(seen["outcome"]["by"], "refused", "{quic:#}");
    assert_eq!(quic["status"], "pass", "{quic:#}");
    assert!(
        quic["reason"]
            .as_str()
            .unwrap()
            .contains("browsers fall back to TCP"),
        "{quic:#}"
    );
}
