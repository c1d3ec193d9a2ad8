//! `sipa-check run --push URL` against a real Pushgateway (Debian's prometheus-pushgateway):
//! the run's metrics arrive under job and vantage; a refusing or unreachable Pushgateway leaves
//! the run's verdict, exit code and report files as they were, says why on stderr, and never
//! shows the URL's password. `promtool` checks and unit-tests the alerting rules.

#[path = "common/serve.rs"]
mod serve_common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serve_common::*;
use sipa_check::lab::{Fault, Lab, LabConfig};

const PASSWORD: &str = "pw-s3cret-never-shown";

fn start_pushgateway(dir: &Path) -> (ChildGuard, SocketAddr) {
    let bin = require("/usr/bin/prometheus-pushgateway", "prometheus-pushgateway");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = Command::new(bin)
        .arg(format!("--web.listen-address={addr}"))
        .arg(format!(
            "--persistence.file={}",
            dir.join("pushgateway.db").display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the Pushgateway starts");
    let guard = ChildGuard(child);
    wait_for(
        "the Pushgateway to be ready",
        Duration::from_secs(60),
        || {
            http(addr, "GET", "/-/ready")
                .ok()
                .filter(|a| a.status == 200)
        },
    );
    (guard, addr)
}

/// `sipa-check run scenarios/lab.toml` against `lab`, with `extra` arguments.
fn run_against(lab: &Lab, extra: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sipa-check"))
        .arg("run")
        .arg(lab_scenario())
        .args(lab.run_flags())
        .args(extra)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("sipa-check runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_run_reaches_a_real_pushgateway_under_job_and_vantage() {
    let dir = tempfile::tempdir().unwrap();
    let (_gateway, gw) = start_pushgateway(dir.path());
    let lab = Lab::start(LabConfig::default()).await.unwrap();
    let url = format!("http://tech:{PASSWORD}@{gw}");
    let json = dir.path().join("run.json");
    let out = run_against(
        &lab,
        &[
            "--push".into(),
            url.clone(),
            "--json".into(),
            json.display().to_string(),
        ],
    );
    let first = out;
    let err = stderr(&first);
    assert_eq!(first.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "pushed the metrics of vantage `lab` (1 scenario run(s)) to http://{gw}/metrics/job/sipa-check/vantage/lab"
        )),
        "{err}"
    );
    let exposed = get(gw, "/metrics").body;
    let pushed = [
        ("job", "sipa-check"),
        ("vantage", "lab"),
        ("scenario", "lab"),
    ];
    assert_eq!(
        sample(&exposed, "sipa_check_run_success", &pushed),
        Some(1.0),
        "{exposed}"
    );
    assert_eq!(
        sample(
            &exposed,
            "sipa_check_check_status",
            &[
                ("job", "sipa-check"),
                ("vantage", "lab"),
                ("check", "login.windows.net:443 egress anchored (ipv4)"),
                ("status", "pass"),
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &exposed,
            "sipa_check_egress_ip_info",
            &[("job", "sipa-check"), ("ip", "127.0.0.2")]
        ),
        Some(1.0),
        "the info metric arrives as the text format's gauge"
    );
    assert!(
        sample(
            &exposed,
            "push_time_seconds",
            &[("job", "sipa-check"), ("vantage", "lab")]
        )
        .is_some_and(|t| t > 0.0)
    );
    // The Pushgateway's own API lists the group by its grouping keys.
    let api: serde_json::Value = serde_json::from_str(&get(gw, "/api/v1/metrics").body).unwrap();
    let groups = api["data"].as_array().unwrap();
    assert!(
        groups
            .iter()
            .any(|g| g["labels"]["job"] == "sipa-check" && g["labels"]["vantage"] == "lab"),
        "{api}"
    );

    // A broken path pushed again replaces the group: the failure is what Prometheus will see.
    lab.shutdown().await;
    let broken = Lab::start(LabConfig {
        faults: vec![Fault::OneDomainUnanchored],
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let out = run_against(&broken, &["--push".into(), url]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let exposed = get(gw, "/metrics").body;
    assert_eq!(
        sample(&exposed, "sipa_check_run_success", &pushed),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &exposed,
            "sipa_check_run_status",
            &[
                ("job", "sipa-check"),
                ("vantage", "lab"),
                ("status", "fail")
            ]
        ),
        Some(1.0)
    );
    for o in [&first, &out] {
        let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(o));
        assert!(!all.contains(PASSWORD), "the password was shown: {all}");
    }
    broken.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_or_unreachable_pushgateway_changes_nothing_but_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let (_gateway, gw) = start_pushgateway(dir.path());
    // Another job already has `sipa_check_run_success` as a counter: the real Pushgateway
    // refuses a push that would make it a gauge (inconsistent metrics).
    let first = http_with_body(
        gw,
        "PUT",
        "/metrics/job/other",
        "# TYPE sipa_check_run_success counter\nsipa_check_run_success 1\n",
    )
    .unwrap();
    assert!(first.status / 100 == 2, "{first:?}");
    let lab = Lab::start(LabConfig::default()).await.unwrap();

    let plain = dir.path().join("plain.json");
    let reference = run_against(&lab, &["--json".into(), plain.display().to_string()]);
    assert_eq!(reference.status.code(), Some(0));

    let closed = free_port();
    for (url, says) in [
        (
            format!("http://tech:{PASSWORD}@{gw}/"),
            format!(
                "error: push to http://{gw}/metrics/job/sipa-check/vantage/lab: the Pushgateway answered 400: "
            ),
        ),
        (
            format!("http://tech:{PASSWORD}@127.0.0.1:{closed}"),
            format!(
                "error: push to http://127.0.0.1:{closed}/metrics/job/sipa-check/vantage/lab: "
            ),
        ),
    ] {
        let json = dir.path().join("run.json");
        let junit = dir.path().join("run.xml");
        let out = run_against(
            &lab,
            &[
                "--push".into(),
                url,
                "--json".into(),
                json.display().to_string(),
                "--junit".into(),
                junit.display().to_string(),
            ],
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "the verdict's code: {err}");
        assert!(err.contains(&says), "{err}");
        assert!(
            err.contains("(the run's verdict and reports are unaffected)"),
            "{err}"
        );
        assert!(!err.contains(PASSWORD), "the password was shown: {err}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains(PASSWORD));
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let without: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&plain).unwrap()).unwrap();
        assert_eq!(report["overall"], "pass");
        assert_eq!(report["tally"], without["tally"]);
        assert!(
            std::fs::read_to_string(&junit)
                .unwrap()
                .contains("<testsuite")
        );
        assert!(!std::fs::read_to_string(&json).unwrap().contains(PASSWORD));
    }
    // The refused push left the Pushgateway as it was.
    let exposed = get(gw, "/metrics").body;
    assert_eq!(
        sample(&exposed, "sipa_check_run_success", &[("job", "other")]),
        Some(1.0)
    );
    assert!(
        !exposed
            .lines()
            .any(|l| l.starts_with("sipa_check_") && l.contains("vantage=\"lab\"")),
        "{exposed}"
    );
    // The Pushgateway itself noted the refused push.
    assert!(
        sample(
            &exposed,
            "push_failure_time_seconds",
            &[("job", "sipa-check"), ("vantage", "lab")]
        )
        .is_some_and(|t| t > 0.0),
        "{exposed}"
    );
    lab.shutdown().await;
}

/// The monitoring guide documents how long a push may take: a Pushgateway that accepts the connection and
/// never answers costs the run that long (`push::PUSH_TIMEOUT`), no more, and is one line on
/// stderr; the verdict and the exit code stay the run's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_pushgateway_costs_the_documented_push_timeout() {
    let timeout = sipa_check::push::PUSH_TIMEOUT;
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/guide-monitoring.md"
    ))
    .unwrap()
    .split_whitespace()
    .collect::<Vec<_>>()
    .join(" ");
    let documented = format!("gives up after {} s", timeout.as_secs());
    assert!(
        readme.contains(&documented),
        "the monitoring guide does not say the push {documented}"
    );

    // Accepts every connection and holds it without a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            held.push(stream);
        }
    });
    let lab = Lab::start(LabConfig::default()).await.unwrap();
    let started = std::time::Instant::now();
    let out = run_against(&lab, &["--push".into(), format!("http://{silent_addr}")]);
    let took = started.elapsed();
    let err = stderr(&out);
    eprintln!("a run pushing to a silent Pushgateway took {took:?}");
    assert_eq!(out.status.code(), Some(0), "the verdict's code: {err}");
    assert!(
        err.contains(&format!(
            "error: push to http://{silent_addr}/metrics/job/sipa-check/vantage/lab: "
        )),
        "{err}"
    );
    assert!(
        took >= timeout,
        "gave up after {took:?}, before {timeout:?}"
    );
    // The run itself takes well under a second on the lab; the rest is a loaded machine.
    assert!(
        took < timeout + Duration::from_secs(5),
        "took {took:?}: the push outlived its {timeout:?}"
    );
    lab.shutdown().await;
}

#[test]
fn a_bad_push_url_is_exit_2_before_anything_runs() {
    for (url, says) in [
        (
            "ftp://127.0.0.1:9091",
            "error: --push: the scheme must be http or https, not `ftp`\n",
        ),
        (
            "http://127.0.0.1:9091/?job=x",
            "error: --push: the URL must not have a query or a fragment\n",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sipa-check"))
            .arg("run")
            .arg(lab_scenario())
            .args(["--dns", "127.0.0.1:9", "--push", url])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(stderr(&out), says);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_sipa-check"))
        .arg("run")
        .arg(lab_scenario())
        .args(["--push", &format!("http://u:{PASSWORD}@[::1"), "--dry-run"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!stderr(&out).contains(PASSWORD), "{}", stderr(&out));
}

#[test]
fn promtool_checks_and_unit_tests_the_alerting_rules() {
    let promtool = require("/usr/bin/promtool", "prometheus");
    let monitoring = Path::new(env!("CARGO_MANIFEST_DIR")).join("monitoring");
    for args in [
        vec!["check", "rules", "sipa-check-rules.yml"],
        vec!["test", "rules", "sipa-check-rules.test.yml"],
        vec!["check", "config", "prometheus.yml"],
        vec!["check", "config", "prometheus-lab.yml"],
    ] {
        let out = Command::new(&promtool)
            .args(&args)
            .current_dir(&monitoring)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The rules are tested, not just parsed: a broken expectation makes promtool fail.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        monitoring.join("sipa-check-rules.yml"),
        dir.path().join("sipa-check-rules.yml"),
    )
    .unwrap();
    let tests = std::fs::read_to_string(monitoring.join("sipa-check-rules.test.yml")).unwrap();
    std::fs::write(
        dir.path().join("broken.test.yml"),
        tests.replacen("severity: critical", "severity: page", 1),
    )
    .unwrap();
    let out = Command::new(&promtool)
        .args(["test", "rules", "broken.test.yml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "promtool passed a wrong expectation");
}
