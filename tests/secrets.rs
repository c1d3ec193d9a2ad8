//! The proxy password (from SIPA_CHECK_PROXY_PASSWORD only) goes to the proxy and nowhere else:
//! not into the terminal report (with or without colour), the JSON, the JUnit XML, standard
//! output or error, nor the `Debug` of any type that holds it. A password on the command line
//! is refused without being repeated. Everything runs against the embedded lab on loopback.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use sipa_check::cmd::lab::lab_overrides;
use sipa_check::lab::{Lab, LabConfig};
use sipa_check::outcome::{RunReport, Status};
use sipa_check::report::{self, human::HumanStyle};
mod common;

use sipa_check::scenario::{self, PROXY_PASSWORD_ENV, ProxySpec, Secret};

/// Distinctive enough that any occurrence is a leak.
const SECRET: &str = "Zq9-s3cr3t-pr0xy-Pw";
const USER: &str = "svc-sipa";

/// Every form in which the secret could leak: as is, and as the Basic credentials.
fn forms() -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        SECRET.to_string(),
        b64.encode(format!("{USER}:{SECRET}")),
        b64.encode(SECRET),
    ]
}

#[track_caller]
fn assert_no_secret(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for form in forms() {
        assert!(
            !text.contains(&form),
            "{what} shows the secret ({form}):\n{text}"
        );
    }
}

/// A relay in front of the lab's proxy that records the head of every request it carries, so
/// the test can see that the password does reach the proxy (and so was really in play).
async fn recording_relay(upstream: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
                    match client.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).into_owned());
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                if server.write_all(&head).await.is_err() {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    (addr, heads)
}

fn proxy_authorization_sent(heads: &Mutex<Vec<String>>) -> usize {
    heads
        .lock()
        .unwrap()
        .iter()
        .filter(|h| carries_credentials(h))
        .count()
}

fn carries_credentials(head: &str) -> bool {
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{SECRET}"));
    let wanted = format!(
        "proxy-authorization: basic {}",
        credentials.to_ascii_lowercase()
    );
    head.to_ascii_lowercase().contains(&wanted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_password_is_in_no_report_and_no_debug() {
    let lab = Lab::start(LabConfig::default())
        .await
        .expect("the lab starts");
    let (relay, heads) = recording_relay(lab.proxy_addr()).await;
    let mut s = scenario::bundled_lab();
    let (mut overrides, connect_to) = lab_overrides(&lab, &[], true);
    overrides.proxy = Some(ProxySpec {
        username: Some(USER.into()),
        password: Some(Secret::new(SECRET)),
        ..scenario::parse_proxy(&format!("http://{relay}")).expect("a proxy URL")
    });
    assert_no_secret(
        "Debug of the overrides",
        format!("{overrides:?}").as_bytes(),
    );
    s.apply(&overrides).expect("lab overrides apply");
    let proxy = s.vantage.proxy.clone().expect("a proxy");
    assert_eq!(proxy.password.as_ref().map(Secret::expose), Some(SECRET));
    for (what, debug) in [
        ("Debug of the secret", format!("{:?}", proxy.password)),
        ("Display of the secret", format!("{}", Secret::new(SECRET))),
        ("Debug of the proxy", format!("{proxy:?}")),
        ("Debug of the proxy, pretty", format!("{proxy:#?}")),
        ("display URL of the proxy", proxy.display_url()),
        ("Debug of the vantage", format!("{:?}", s.vantage)),
        ("Debug of the scenario", format!("{s:#?}")),
        (
            "serialized scenario",
            serde_json::to_string(&s).expect("serializes"),
        ),
    ] {
        assert_no_secret(what, debug.as_bytes());
    }

    let run = common::run_quietly(&s, connect_to).await;
    lab.shutdown().await;
    let failures: Vec<String> = run
        .checks
        .iter()
        .filter(|o| o.status != Status::Pass)
        .map(|o| format!("{}: {}", o.name, o.reason))
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
    // It went to the proxy, on the CONNECTs of the probes and of reqwest, and on plain requests.
    assert!(
        proxy_authorization_sent(&heads) > 0,
        "the proxy never saw the credentials: {:#?}",
        heads.lock().unwrap()
    );
    // Every head did carry them: the CONNECTs, and the plain requests of both the login checks
    // (sent on the connect check's connection) and the echo samples.
    let heads = heads.lock().unwrap().clone();
    for start in ["CONNECT ", "GET http://login.", "GET http://canary."] {
        let matching: Vec<&String> = heads.iter().filter(|h| h.starts_with(start)).collect();
        assert!(!matching.is_empty(), "no {start:?} head in {heads:#?}");
        for head in matching {
            assert!(carries_credentials(head), "without credentials: {head}");
        }
    }

    let report = RunReport::new(vec![run]);
    assert_no_secret("Debug of the run report", format!("{report:?}").as_bytes());
    for (color, verbose) in [(false, false), (true, true)] {
        let mut out = Vec::new();
        let style = HumanStyle {
            color,
            verbose,
            ..HumanStyle::default()
        };
        report::human::write(&report, &mut out, style).expect("human report");
        assert_no_secret("the terminal report", &out);
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains(&format!("{USER}:REDACTED@")), "{text}");
    }
    let mut json = Vec::new();
    report::json::write(&report, &mut json).expect("JSON report");
    assert_no_secret("the JSON report", &json);
    let mut xml = Vec::new();
    report::junit::write(&report, &mut xml).expect("JUnit report");
    assert_no_secret("the JUnit report", &xml);
}

fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sipa-check"));
    cmd.env(PROXY_PASSWORD_ENV, SECRET).env_remove("NO_COLOR");
    cmd
}

/// Runs the binary off the runtime's threads, so the in-process lab keeps serving.
async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("the binary runs"))
        .await
        .expect("the binary's task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_a_password_from_the_environment_shows_it_nowhere() {
    let lab = Lab::start(LabConfig::default())
        .await
        .expect("the lab starts");
    let (relay, heads) = recording_relay(lab.proxy_addr()).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let json = dir.path().join("report.json");
    let junit = dir.path().join("report.xml");
    let mut cmd = binary();
    cmd.arg("run")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/lab.toml"))
        .args(["--dns", &lab.dns_addr().to_string()])
        .args(["--proxy", &format!("http://{USER}@{relay}")])
        .arg("--ca-file")
        .arg(lab.ca_file())
        .args(["--expect-ip", &lab.anchor_ip().to_string()])
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&junit);
    let out = output(cmd).await;
    lab.shutdown().await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        proxy_authorization_sent(&heads) > 0,
        "the password was not used"
    );
    assert_outputs_clean(&out, &json, &junit);
    assert!(stdout.contains(&format!("{USER}:REDACTED@")), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_via_proxy_with_the_password_set_shows_it_nowhere() {
    // `lab` runs without proxy credentials (its proxy wants none), whatever the environment
    // says; the password must not surface here either.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let json = dir.path().join("report.json");
    let junit = dir.path().join("report.xml");
    let mut cmd = binary();
    cmd.args(["lab", "--via-proxy", "--json"])
        .arg(&json)
        .arg("--junit")
        .arg(&junit);
    let out = output(cmd).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_outputs_clean(&out, &json, &junit);
}

#[test]
fn a_password_on_the_command_line_is_refused_and_not_repeated() {
    for url in [
        format!("http://u:{SECRET}@127.0.0.1:1"),
        // Not a valid URL as written (the '/' ends the authority): still never shown.
        format!("http://u:{SECRET}/x@127.0.0.1:1"),
        format!("http:u:{SECRET}@127.0.0.1:1"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sipa-check"))
            .args(["run", "--dry-run", "--proxy", &url])
            .output()
            .expect("the binary runs");
        assert_eq!(out.status.code(), Some(2), "{url}");
        assert!(out.stdout.is_empty(), "{url}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--proxy"), "{stderr}");
        assert_no_secret("the error for --proxy", &out.stderr);
    }
}

#[test]
fn a_password_in_a_scenario_is_refused_and_not_repeated() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (i, url) in [
        format!("http://u:{SECRET}@127.0.0.1:1"),
        format!("http://u:{SECRET}#x@127.0.0.1:1"),
    ]
    .iter()
    .enumerate()
    {
        let path = dir.path().join(format!("s{i}.toml"));
        let text = format!(
            "name = \"s\"\n[login]\nhosts = [\"login.windows.net\"]\n[vantage]\nproxy = \"{url}\"\n"
        );
        std::fs::write(&path, text).expect("scenario written");
        for sub in ["validate", "run"] {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_sipa-check"));
            cmd.arg(sub).arg(&path);
            if sub == "run" {
                cmd.arg("--dry-run");
            }
            let out = cmd.output().expect("the binary runs");
            assert_eq!(out.status.code(), Some(2), "{sub} {url}");
            assert_no_secret("stdout", &out.stdout);
            assert_no_secret("stderr", &out.stderr);
        }
    }
}

/// Neither the binary's terminal output nor the report files it wrote hold the secret.
fn assert_outputs_clean(out: &Output, json: &Path, junit: &Path) {
    assert_no_secret("standard output", &out.stdout);
    assert_no_secret("standard error", &out.stderr);
    assert_no_secret("the JSON file", &std::fs::read(json).expect("JSON written"));
    assert_no_secret(
        "the JUnit file",
        &std::fs::read(junit).expect("JUnit written"),
    );
}
