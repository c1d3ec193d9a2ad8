//! The binary as a user meets it: exit codes, reports on disk and stdout, bad input, the
//! deadline and Ctrl-C. Everything it reaches is the embedded lab on loopback.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::cli::{run, sipa, text, xmllint};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sipa-check-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// `--version` names the release and the commit it was built from: this checkout's HEAD when
/// built from git, "unknown" only when nothing records it.
#[test]
fn version_is_printed_with_the_commit() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    let line = text(&out.stdout).trim().to_owned();
    assert_eq!(env!("CARGO_PKG_VERSION"), "0.2.0");
    let commit = line
        .strip_prefix("sipa-check 0.2.0 (commit ")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not `sipa-check 0.2.0 (commit ...)`: {line}"));
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| text(&o.stdout).trim().to_owned());
    match head {
        Some(head) => assert_eq!(commit, head, "{line}"),
        None => assert!(
            commit == "unknown"
                || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
            "{line}"
        ),
    }
}

#[test]
fn the_lab_passes_with_exit_0_and_writes_valid_reports() {
    let dir = scratch("pass");
    let (json, junit) = (dir.join("r.json"), dir.join("r.xml"));
    let out = sipa()
        .args(["lab", "--json"])
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("PASS: 36 checks, 36 passed")),
        "{stdout}"
    );
    assert!(!stdout.contains('\x1b'), "colour without a terminal");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["overall"], "pass");
    assert_eq!(doc["runs"][0]["checks"].as_array().unwrap().len(), 36);
    xmllint(&junit);
}

#[test]
fn a_fault_fails_with_exit_1_and_names_the_cause() {
    let out = run(&["lab", "--fault", "one-domain-unanchored"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL  login.windows.net:443 egress anchored (ipv4)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the application segment probably lacks login.windows.net"),
        "{stdout}"
    );
    assert!(stdout.contains("observed   127.0.0.3 ×3"), "{stdout}");
}

#[test]
fn json_on_stdout_moves_the_human_report_to_stderr() {
    let out = run(&["lab", "--fault", "over-anchored", "--json", "-"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is only JSON");
    assert_eq!(doc["overall"], "fail");
    assert!(
        text(&out.stderr).contains("FAIL  control.sipa-lab.test:80 egress not anchored (ipv4)")
    );
}

#[test]
fn faults_are_listed_and_unknown_ones_rejected() {
    let out = run(&["lab", "--list-faults"]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).lines().count(),
        sipa_check::lab::Fault::ALL.len()
    );
    let bad = run(&["lab", "--fault", "no-such-fault"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = text(&bad.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no-such-fault") && err.contains("one-domain-unanchored"),
        "{err}"
    );
}

#[test]
fn validate_prints_file_line_col_errors_and_exits_2() {
    let fixture = "tests/fixtures/invalid/unknown-key.toml";
    let out = run(&["validate", fixture]);
    assert_eq!(out.status.code(), Some(2));
    let expected = std::fs::read_to_string("tests/fixtures/invalid/unknown-key.expected").unwrap();
    assert_eq!(text(&out.stderr), expected);
    let ok = run(&["validate", "scenarios/office365.toml", "scenarios/lab.toml"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
}

#[test]
fn bad_flags_and_files_get_one_clear_line_and_exit_2() {
    for (args, needle) in [
        (vec!["run", "--family", "5"], "--family"),
        (vec!["run", "--expect-ip", "300.1.1.1"], "300.1.1.1"),
        (
            vec!["run", "--connect-to", "a:80:b"],
            "HOST1:PORT1:HOST2:PORT2",
        ),
        (vec!["run", "--timeout", "soon"], "soon"),
        (
            vec!["run", "--proxy", "http://u:hunter2@127.0.0.1:1"],
            "SIPA_CHECK_PROXY_PASSWORD",
        ),
        (vec!["run", "no/such/scenario.toml"], "cannot read scenario"),
        (
            vec!["run", "--timeout", "5s", "--deadline", "1s"],
            "deadline",
        ),
        // The lab scenario's own timeout is 3s: a 1s deadline is refused as the flag's would be.
        (
            vec!["run", "scenarios/lab.toml", "--deadline", "1s"],
            "the run deadline `1s` is shorter than the scenario's per-probe timeout `3s` (limits.timeout)",
        ),
        (
            vec!["lab", "--deadline", "1s"],
            "the run deadline `1s` is shorter than the scenario's per-probe timeout `3s` (limits.timeout)",
        ),
    ] {
        let out = run(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(
            !err.contains("hunter2"),
            "{args:?} leaked the password: {err}"
        );
    }
}

#[test]
fn running_without_anchor_ips_is_an_invalid_scenario() {
    let out = run(&["run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no expected App Connector IPs"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn dry_run_prints_the_plan_and_touches_no_network() {
    // The DNS server and the connect-to target do not exist: a dry run must not care.
    let out = run(&[
        "run",
        "scenarios/lab.toml",
        "--dry-run",
        "--dns",
        "127.0.0.1:9",
        "--connect-to",
        ":443::9",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("scenario lab"), "{stdout}");
    assert!(
        stdout.contains("login.windows.net:443 tls (ipv4)"),
        "{stdout}"
    );
    assert!(stdout.contains("connect-to :443::9"), "{stdout}");
    // TLS and HTTP go on the connect check's connection; echo samples have their own.
    for (check, port) in [
        ("tls", 443),
        ("http openid-configuration", 443),
        ("http redirect", 80),
    ] {
        let line = format!(
            "login.windows.net:{port} {check} (ipv4)  (after login.windows.net resolve (ipv4); \
             on the connection of login.windows.net:{port} connect (ipv4))"
        );
        assert!(stdout.contains(&line), "{line}\n{stdout}");
    }
    assert!(
        !stdout
            .lines()
            .any(|l| l.contains("egress") && l.contains("on the connection")),
        "{stdout}"
    );
}

#[test]
fn concurrency_fits_a_low_descriptor_limit() {
    use std::os::unix::process::CommandExt;
    let mut cmd = sipa();
    cmd.args(["run", "scenarios/lab.toml", "--dry-run"]);
    // A hard limit of 256 files: the soft one cannot be raised past it.
    // SAFETY: setrlimit is async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 256,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let out = cmd.output().expect("sipa-check runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // 256 files, 64 kept back: 192 probe sockets at once.
    assert!(
        text(&out.stderr).contains(
            "scenarios/lab.toml: concurrency 512 lowered to 192: this process may open only 256 files (ulimit -n)"
        ),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("concurrency 192\n"),
        "{}",
        text(&out.stdout)
    );
    // Where the limit leaves room, nothing changes and nothing is said.
    let out = run(&["run", "scenarios/lab.toml", "--dry-run"]);
    assert_eq!(text(&out.stderr), "");
    assert!(text(&out.stdout).contains("concurrency 512\n"));
}

#[test]
fn unwritable_report_paths_are_reported() {
    let out = run(&["lab", "--junit", "/nonexistent-dir/report.xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot write /nonexistent-dir/report.xml"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_blackholed_run_ends_at_the_deadline_with_every_report() {
    let dir = scratch("deadline");
    let (json, junit) = (dir.join("r.json"), dir.join("r.xml"));
    let started = Instant::now();
    let out = sipa()
        // The deadline may not be shorter than the timeout, so the cut comes from the lab's
        // latency: each connect starts 500 ms late (the DNS answer) and would time out at 2.5 s.
        .args([
            "lab",
            "--fault",
            "blackhole-connect",
            "--latency",
            "500ms",
            "--timeout",
            "2s",
            "--deadline",
            "2s",
            "--json",
        ])
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    let took = started.elapsed();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    // The deadline, plus the lab's own start-up (it fills the blackholed accept queues).
    assert!(
        took < Duration::from_secs(2) + Duration::from_secs(2),
        "took {took:?}"
    );
    assert!(
        stdout.contains("run cut short: the run's deadline of 2.0s passed"),
        "{stdout}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let run = &doc["runs"][0];
    assert!(
        run["elapsed_ms"].as_f64().unwrap() < 2600.0,
        "{}",
        run["elapsed_ms"]
    );
    let unreached: Vec<&serde_json::Value> = run["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["reason"]
                .as_str()
                .unwrap_or("")
                .starts_with("not finished")
        })
        .collect();
    assert!(!unreached.is_empty());
    assert!(unreached.iter().all(|c| c["status"] == "error"));
    xmllint(&junit);
}

#[test]
fn ctrl_c_ends_the_run_like_the_deadline() {
    let dir = scratch("interrupt");
    let json = dir.join("r.json");
    let child = sipa()
        .args([
            "lab",
            "--fault",
            "blackhole-tls",
            "--timeout",
            "30s",
            "--deadline",
            "60s",
            "--json",
        ])
        .arg(&json)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?} after Ctrl-C",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(doc["runs"][0]["cut_short"], "interrupted");
    assert_eq!(doc["overall"], "error");
}

#[test]
fn an_entra_scenario_without_credentials_runs_nothing_and_names_the_variables() {
    let dir = scratch("entra-no-credentials");
    let file = dir.join("entra.toml");
    std::fs::write(
        &file,
        "name = \"e\"\n[login]\nhosts = [\"login.microsoftonline.com\"]\n[anchor]\nexpect = [\"127.0.0.2\"]\n[entra]\nwait = \"0s\"\n",
    )
    .unwrap();
    let json = dir.join("run.json");
    let out = sipa()
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_CLIENT_CERTIFICATE_PATH")
        .args(["run", "--dry-run"])
        .arg(&file)
        .output()
        .expect("sipa-check runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    for name in [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PATH",
    ] {
        assert!(stderr.contains(name), "{name} not named: {stderr}");
    }
    assert!(text(&out.stdout).is_empty(), "a plan was printed");
    assert!(!json.exists());
}

/// The dry run lists the QUIC checks with the rest, through an explicit proxy too, and marks
/// the observers asked over HTTP/3.
#[test]
fn the_dry_run_shows_quic_checks_with_or_without_a_proxy() {
    // Through an explicit proxy too: QUIC is tried straight from the vantage.
    for way in [["--dns", "127.0.0.1:9"], ["--proxy", "http://127.0.0.1:9"]] {
        let mut args = vec![
            "run",
            "scenarios/lab.toml",
            "--dry-run",
            "--expect-ip",
            "127.0.0.2",
        ];
        args.extend(way);
        let out = run(&args);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
        assert!(
            stdout.contains(
                "login.windows.net:443 quic udp (ipv4)  (after login.windows.net resolve (ipv4))"
            ),
            "{way:?}: {stdout}"
        );
        assert!(
            stdout.contains("port 443, 3 samples, over HTTP/3 too"),
            "{way:?}: {stdout}"
        );
        assert!(!stdout.contains("  quic: not checked"), "{way:?}: {stdout}");
    }
}
