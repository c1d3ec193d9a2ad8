//! `--connect-to` moves a connection, never the request: observers whose URLs name a port (or an
//! address) of their own still reach the lab, and the server still sees the authority written in
//! the scenario, as with curl's --connect-to.

mod common;

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use sipa_check::address::ConnectTo;
use sipa_check::cmd::lab::lab_overrides;
use sipa_check::lab::{Lab, LabConfig};
use sipa_check::outcome::{ScenarioRun, Stage, Status};
use sipa_check::scenario::{self, Format};

fn rule(from_host: Option<&str>, from_port: u16, to_host: Option<&str>, to_port: u16) -> ConnectTo {
    ConnectTo {
        from_host: from_host.map(str::to_string),
        from_port: Some(from_port),
        to_host: to_host.map(str::to_string),
        to_port: Some(to_port),
    }
}

/// `[[observer]]` tables, from (name, role, url).
fn observers(list: &[(&str, &str, &str)]) -> String {
    list.iter()
        .map(|(name, role, url)| {
            format!("[[observer]]\nname = \"{name}\"\nrole = \"{role}\"\nurl = \"{url}\"\n")
        })
        .collect()
}

/// Runs a scenario of `login.windows.net` on `ports` and these observers against a fresh lab,
/// with the rules `extra` makes from the lab before the lab's own.
async fn run_moved(
    ports: &str,
    observers: &str,
    extra: impl FnOnce(&Lab) -> Vec<ConnectTo>,
) -> ScenarioRun {
    let lab = Lab::start(LabConfig::default())
        .await
        .expect("the lab starts");
    let text = format!(
        "name = \"moved\"\n[login]\nhosts = [\"login.windows.net\"]\nports = {ports}\n\
         {observers}\n[limits]\nfamily = \"4\"\nsamples = 2\n"
    );
    let mut s = scenario::load_str(&text, std::path::Path::new("moved.toml"), Format::Toml)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let (overrides, lab_rules) = lab_overrides(&lab, &[], false);
    s.apply(&overrides).expect("lab overrides apply");
    let mut connect_to = extra(&lab);
    connect_to.extend(lab_rules);
    let run = common::run_quietly(&s, connect_to).await;
    lab.shutdown().await;
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_ports_are_moved_through_the_gateway() {
    // Nothing listens on 8080 or 8443 here: only the moved connections can reach an echo, and
    // the gateway routes by the Host header (plain HTTP) or the SNI: only the names kept there
    // lead to the echo origin.
    let mut gateway = Vec::new();
    let observers = observers(&[
        (
            "canary-80",
            "anchored",
            "http://canary.sipa-lab.test:8080/echo/ip",
        ),
        (
            "canary-443",
            "anchored",
            "https://canary.sipa-lab.test:8443/echo/ip",
        ),
        (
            "control-80",
            "control",
            "http://control.sipa-lab.test:8080/echo/ip",
        ),
    ]);
    let run = run_moved("[80, 443]", &observers, |lab| {
        gateway = vec![lab.transparent_http_addr(), lab.transparent_https_addr()];
        vec![
            rule(None, 8080, None, gateway[0].port()),
            rule(None, 8443, None, gateway[1].port()),
        ]
    })
    .await;
    let egress: Vec<_> = run
        .checks
        .iter()
        .filter(|o| o.stage == Stage::Egress && !o.name.contains("coverage"))
        .collect();
    assert_eq!(egress.len(), 3, "{:#?}", run.checks);
    for o in &egress {
        assert_eq!(
            o.status,
            Status::Pass,
            "{}: {} / {}",
            o.name,
            o.reason,
            o.observed
        );
    }
    let json = serde_json::to_value(&run).expect("the run serializes");
    let vias: Vec<String> = json["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["stage"] == "egress")
        .filter_map(|c| c["observation"]["via"].as_str().map(str::to_string))
        .collect();
    for addr in gateway {
        assert!(vias.contains(&addr.to_string()), "{vias:?}");
    }
}

/// An echo on 127.0.0.1 that answers `127.0.0.3` and keeps each request's Host header.
async fn recording_echo() -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    let hosts = Arc::new(Mutex::new(Vec::new()));
    let seen = hosts.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let host = head
                    .lines()
                    .find_map(|l| l.strip_prefix("host: ").or(l.strip_prefix("Host: ")))
                    .unwrap_or("<none>")
                    .to_string();
                seen.lock().unwrap().push(host);
                let answer =
                    "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\n127.0.0.3";
                let _ = tcp.write_all(answer.as_bytes()).await;
            });
        }
    });
    (addr, hosts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_request_keeps_the_host_header_of_its_url() {
    let (echo, hosts) = recording_echo().await;
    // Nothing listens on 127.0.0.7:9, and echo.example.test has no address: only the moved
    // connections reach the echo.
    let observers = observers(&[
        ("canary", "anchored", "http://canary.sipa-lab.test/echo/ip"),
        ("control", "control", "http://127.0.0.7:9/ip"),
        (
            "control-named",
            "control",
            "http://echo.example.test:8080/ip",
        ),
    ]);
    let run = run_moved("[80]", &observers, |_| {
        vec![
            rule(Some("127.0.0.7"), 9, Some("127.0.0.1"), echo.port()),
            rule(
                Some("echo.example.test"),
                8080,
                Some("127.0.0.1"),
                echo.port(),
            ),
        ]
    })
    .await;
    for target in ["127.0.0.7:9", "echo.example.test:8080"] {
        let control = run
            .checks
            .iter()
            .find(|o| o.stage == Stage::Egress && o.target == target)
            .expect("the control's check");
        assert_eq!(
            control.status,
            Status::Pass,
            "{} / {}",
            control.reason,
            control.observed
        );
    }
    let mut hosts = hosts.lock().unwrap().clone();
    hosts.sort();
    assert_eq!(
        hosts,
        [
            "127.0.0.7:9",
            "127.0.0.7:9",
            "echo.example.test:8080",
            "echo.example.test:8080"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_address_moved_elsewhere_is_refused_with_the_reason() {
    let observers = observers(&[
        ("canary", "anchored", "https://127.0.0.5:8443/echo/ip"),
        ("control", "control", "http://control.sipa-lab.test/echo/ip"),
    ]);
    let run = run_moved("[80]", &observers, |lab| {
        let https = lab.transparent_https_addr().port();
        vec![rule(Some("127.0.0.5"), 8443, Some("127.0.0.1"), https)]
    })
    .await;
    let canary = run
        .checks
        .iter()
        .find(|o| o.name.contains("127.0.0.5"))
        .expect("the canary's check");
    assert_eq!(canary.status, Status::Error, "{}", canary.reason);
    assert!(
        canary
            .observed
            .contains("--connect-to cannot move https://127.0.0.5:8443/echo/ip to another address"),
        "{}",
        canary.observed
    );
}
