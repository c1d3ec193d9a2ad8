//! The cause matrix: every lab fault, and the faults on the vantage's own side that a field
//! technician meets most (a proxy that is not there, a resolver that never answers, a run cut by
//! its deadline, SIGINT or SIGTERM), each with the cause ids its problems are put down to, its
//! exit code, its number of problem blocks in the terminal report (one per cause), and a report
//! that fits a screen (at most 60 lines at 100 columns). Asserts on
//! cause ids (`diagnosis.cause` in the JSON), never on prose; a cause on the vantage's side never
//! names a tenant step. Loopback only.

mod common;

use std::collections::BTreeSet;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use common::cli::{sipa, text};
use sipa_check::cause::Cause;
use sipa_check::lab::{Fault, Lab};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sipa-check-causes-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// What one run came to: its exit code, the cause ids of its failures and errors, its problem
/// blocks and its lines at 100 columns.
#[derive(Debug)]
struct Seen {
    exit: Option<i32>,
    causes: BTreeSet<String>,
    blocks: usize,
    lines: usize,
    text: String,
}

fn seen(out: &Output, json: &Path) -> Seen {
    let stdout = text(&out.stdout);
    let doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(json).unwrap_or_else(|e| panic!("{e}: {stdout}{}", text(&out.stderr))),
    )
    .expect("the JSON report");
    let mut causes = BTreeSet::new();
    for run in doc["runs"].as_array().expect("runs") {
        for check in run["checks"].as_array().expect("checks") {
            let failed = matches!(check["status"].as_str(), Some("fail" | "error"));
            if let (true, Some(id)) = (failed, check["diagnosis"]["cause"].as_str()) {
                causes.insert(id.to_owned());
            }
        }
    }
    let problems = stdout.split("\nProblems").nth(1).unwrap_or_default();
    let blocks = problems
        .lines()
        .filter(|l| l.starts_with("ERROR  ") || l.starts_with("FAIL   "))
        .count();
    Seen {
        exit: out.status.code(),
        causes,
        blocks,
        lines: stdout.lines().count(),
        text: stdout,
    }
}

fn lab_with(args: &[&str], name: &str) -> Seen {
    let dir = scratch(name);
    let json = dir.join("r.json");
    let out = sipa()
        .env("COLUMNS", "100")
        .arg("lab")
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("sipa-check runs");
    let s = seen(&out, &json);
    let _ = std::fs::remove_dir_all(&dir);
    s
}

#[track_caller]
fn expect(s: &Seen, what: &str, exit: i32, causes: &[Cause], blocks: usize) {
    let want: BTreeSet<String> = causes.iter().map(|c| c.id().to_owned()).collect();
    assert_eq!(s.causes, want, "{what}: causes\n{}", s.text);
    assert_eq!(s.exit, Some(exit), "{what}: exit\n{}", s.text);
    assert_eq!(s.blocks, blocks, "{what}: problem blocks\n{}", s.text);
    eprintln!("{what}: exit {exit}, {} lines at 100 columns", s.lines);
    assert!(
        s.lines <= 60,
        "{what}: the report fits a screen (60 lines at 100 columns)\n{}",
        s.text
    );
}

/// Every lab fault: the cause ids, the exit code and one block per cause.
#[test]
fn every_lab_fault_names_its_cause() {
    use Cause::*;
    let rows: &[(&str, i32, &[Cause], usize)] = &[
        ("one-domain-unanchored", 1, &[SegmentLacksHost], 1),
        ("port80-unanchored", 1, &[SegmentLacksPort], 1),
        ("nothing-anchored", 1, &[NothingAnchored], 1),
        ("wrong-connector", 1, &[WrongConnectors], 1),
        ("over-anchored", 1, &[OverAnchored], 1),
        ("connectors-down", 1, &[AnchoredPathDown], 1),
        ("access-denied", 1, &[AccessDenied, AnchoredPathDown], 2),
        ("proxy-auth-required", 1, &[ProxyAuth], 1),
        ("dns-nxdomain", 1, &[DnsFailed], 1),
        ("dns-servfail", 1, &[DnsFailed], 1),
        ("blackhole-connect", 3, &[VantagePath], 1),
        ("blackhole-tls", 3, &[VantagePath], 1),
        ("tls-intercept", 1, &[TlsInterception], 1),
        ("echo-garbage", 3, &[ObserverUnusable], 1),
        ("intermittent", 1, &[IntermittentAnchoring], 1),
        ("ipv6-bypass", 1, &[Ipv6Bypass], 1),
        ("sign-in-never-ingested", 3, &[SignInPending], 1),
        ("graph-403", 3, &[GraphPermissions], 1),
        ("graph-429-storm", 3, &[GraphThrottled], 1),
        (
            "named-location-missing-connector",
            1,
            &[AnchorNotTrusted, AnchoringBuysNoTrust],
            2,
        ),
        ("what-if-no-difference", 1, &[AnchoringBuysNoTrust], 1),
        ("what-if-unavailable", 3, &[WhatIfUnavailable], 1),
        ("ca-blocks", 0, &[], 0),
        ("https-hint-bypass", 1, &[HttpsHintOffPath], 1),
        ("quic-open", 1, &[QuicOpen], 1),
        ("quic-open-unanchored", 1, &[QuicUnanchored], 1),
        ("pac-bypasses-login", 1, &[PacDirect], 1),
    ];
    for (fault, exit, causes, blocks) in rows {
        let s = lab_with(&["--fault", fault], fault);
        expect(&s, fault, *exit, causes, *blocks);
    }
}

/// The places faults: a vantage that should not be anchored and is, and an office the
/// forwarding rule forgot (both runs of the scenario at once).
#[test]
fn the_place_faults_name_their_cause() {
    let s = lab_with(&["--fault", "trust-criteria-too-broad"], "places-broad");
    assert_eq!(s.exit, Some(1), "{}", s.text);
    assert_eq!(
        s.causes,
        BTreeSet::from([Cause::AnchoredOutsideTrust.id().to_owned()]),
        "{}",
        s.text
    );
    let s = lab_with(&["--fault", "office-location-missing"], "places-office");
    assert_eq!(s.exit, Some(1), "{}", s.text);
    assert_eq!(
        s.causes,
        BTreeSet::from([Cause::NothingAnchored.id().to_owned()]),
        "{}",
        s.text
    );
}

/// A run against a lab with `flags` (the lab's own flags, changed by `edit`), to its end or
/// until `signal` is sent after `after`.
fn run_against(
    flags: Vec<String>,
    extra: &[&str],
    signal: Option<(&str, Duration)>,
    name: &str,
) -> Seen {
    let dir = scratch(name);
    let json = dir.join("r.json");
    let child = sipa()
        .env("COLUMNS", "100")
        .args(["run", "scenarios/lab.toml"])
        .args(&flags)
        .args(extra)
        .arg("--json")
        .arg(&json)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sipa-check runs");
    if let Some((name, after)) = signal {
        std::thread::sleep(after);
        let sent = std::process::Command::new("kill")
            .args([&format!("-{name}"), &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
    }
    let out = child.wait_with_output().expect("the run ends");
    let s = seen(&out, &json);
    let _ = std::fs::remove_dir_all(&dir);
    s
}

fn with_flag(mut flags: Vec<String>, flag: &str, value: String) -> Vec<String> {
    let at = flags.iter().position(|f| f == flag).expect("the flag");
    flags[at + 1] = value;
    flags
}

/// The vantage's own faults, on real sockets: each names the vantage (or the cut), never a
/// tenant step, and leaves anchoring undecided (exit 3).
#[test]
fn vantage_side_faults_name_the_vantage_never_the_tenant() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let lab: Lab = runtime.block_on(async { common::start_lab(&[], false).await.0 });
    let slow: Lab =
        runtime.block_on(async { common::start_lab(&[Fault::BlackholeTls], false).await.0 });

    // A proxy that is not there: a port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let flags = with_flag(
        lab.proxy_run_flags(),
        "--proxy",
        format!("http://127.0.0.1:{closed_port}"),
    );
    let s = run_against(flags, &[], None, "proxy-closed");
    expect(&s, "proxy port closed", 3, &[Cause::VantagePath], 1);

    // A resolver that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let flags = with_flag(
        lab.run_flags(),
        "--dns",
        silent.local_addr().unwrap().to_string(),
    );
    let s = run_against(flags, &["--timeout", "1s"], None, "dns-silent");
    assert_eq!(s.exit, Some(3), "{}", s.text);
    assert!(
        s.causes.contains(Cause::DnsFailed.id()),
        "a dead resolver is the DNS's cause: {:?}\n{}",
        s.causes,
        s.text
    );

    // The deadline, Ctrl-C and SIGTERM, each over a path that never completes a handshake.
    let s = run_against(
        slow.run_flags(),
        &["--timeout", "2s", "--deadline", "2s"],
        None,
        "deadline",
    );
    expect(&s, "deadline", 3, &[Cause::RunCut], 1);
    for (signal, name) in [("INT", "sigint"), ("TERM", "sigterm")] {
        let s = run_against(
            slow.run_flags(),
            &["--timeout", "30s", "--deadline", "60s"],
            Some((signal, Duration::from_millis(1500))),
            name,
        );
        expect(&s, name, 3, &[Cause::RunCut], 1);
    }
    for ids in [Cause::VantagePath, Cause::RunCut, Cause::DnsFailed] {
        assert!(!ids.guide_step().is_tenant(), "{ids}");
    }
    runtime.block_on(async {
        lab.shutdown().await;
        slow.shutdown().await;
    });
}

/// A proxy on loopback that answers every request, CONNECT or not, with `status` and closes.
fn refusing_proxy(status: &'static str) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let answer =
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                let _ = stream.write_all(answer.as_bytes());
            });
        }
    });
    addr
}

/// A proxy that refuses every tunnel, the control's too, is the vantage's proxy refusing this
/// vantage, never the access policy; the access policy's own 403 (login hosts only, the
/// control fine) stays the access policy's (the `access-denied` row above).
#[test]
fn a_proxy_refusing_every_tunnel_names_the_proxy_never_the_access_policy() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let lab: Lab = runtime.block_on(async { common::start_lab(&[], false).await.0 });
    for (status, name) in [
        ("403 Forbidden", "proxy-403"),
        ("502 Bad Gateway", "proxy-502"),
    ] {
        let proxy = refusing_proxy(status);
        let flags = with_flag(lab.proxy_run_flags(), "--proxy", format!("http://{proxy}"));
        let s = run_against(flags, &[], None, name);
        expect(&s, name, 3, &[Cause::ProxyRefused], 1);
    }
    assert!(!Cause::ProxyRefused.guide_step().is_tenant());
    runtime.block_on(lab.shutdown());
}

/// A relay to `to` that serves the first `serve` connections, then closes its listener: a
/// proxy that stops in the middle of a run.
fn proxy_stopping_after(serve: usize, to: std::net::SocketAddr) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for _ in 0..serve {
            let Ok((client, _)) = listener.accept() else {
                return;
            };
            let Ok(upstream) = std::net::TcpStream::connect(to) else {
                continue;
            };
            for (mut from, mut into) in [
                (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                (upstream, client),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut into);
                    let _ = into.shutdown(std::net::Shutdown::Write);
                });
            }
        }
        drop(listener);
    });
    addr
}

/// A proxy that stops mid-run: the checks it served pass or fail on what the lab answered, and
/// every one it refused is put down to the vantage's path, never to a tenant step.
#[test]
fn a_proxy_that_stops_mid_run_names_the_vantage_never_the_tenant() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let lab: Lab = runtime.block_on(async { common::start_lab(&[], false).await.0 });
    let lab_proxy = lab.proxy_addr();
    for serve in [2, 8] {
        let proxy = proxy_stopping_after(serve, lab_proxy);
        let flags = with_flag(lab.proxy_run_flags(), "--proxy", format!("http://{proxy}"));
        let name = format!("proxy-stops-after-{serve}");
        let s = run_against(flags, &[], None, &name);
        expect(&s, &name, 3, &[Cause::VantagePath], 1);
    }
    runtime.block_on(lab.shutdown());
}

/// docs/causes.md explains every cause id the verdict can give, each once.
#[test]
fn every_cause_id_is_documented() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/causes.md"))
        .expect("docs/causes.md");
    for cause in Cause::ALL {
        let heading = format!("## `{}`", cause.id());
        assert_eq!(doc.matches(&heading).count(), 1, "{heading}");
    }
    assert_eq!(doc.matches("\n## ").count(), Cause::ALL.len());
}
