//! Answers whose source is known. With `--dns` only the named server is asked: a hosts-file
//! entry for a login host must not win (hickory reads /etc/hosts by default, and the failure it
//! caused was blamed on the segment). Without `--dns` the system resolver's order holds, the
//! hosts file first, and an answer from it says so in the JSON (`source`) and on the terminal.
//!
//! The hosts file is the real one the binary reads, /etc/hosts, replaced for one process only:
//! each run is started in a mount namespace of its own (`unshare -m`) where a temporary file is
//! bind-mounted over /etc/hosts (and, without `--dns`, over /etc/resolv.conf, so that a name the
//! file lacks goes to 127.0.0.1 and nowhere else). Nothing outside that process sees the change.
//! This needs root and util-linux's `unshare` (CI runs as root); without them the tests fail
//! and say so. A path made injectable for the tests would test the injection, not the file the
//! resolver really reads.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use sipa_check::lab::{Lab, LabConfig};

const LOGIN_HOST: &str = "login.windows.net";

/// Whether this process may make a mount namespace and bind-mount in it.
fn require_mount_namespace() {
    let probe = Command::new("unshare")
        .args(["-m", "sh", "-c", "mount --bind /dev/null /dev/null"])
        .stdin(Stdio::null())
        .output();
    let ok = matches!(&probe, Ok(out) if out.status.success());
    assert!(
        ok,
        "these tests replace /etc/hosts for one process in a mount namespace: they need root and \
         `unshare` (Debian package util-linux): {probe:?}"
    );
}

/// Runs `sipa-check ARGS` with `hosts` over /etc/hosts (and `resolv` over /etc/resolv.conf).
fn run_with_files(hosts: &Path, resolv: Option<&Path>, args: &[String]) -> Output {
    let script = "hosts=$1; resolv=$2; shift 2; \
                  mount --bind \"$hosts\" /etc/hosts || exit 97; \
                  if [ -n \"$resolv\" ]; then mount --bind \"$resolv\" /etc/resolv.conf || exit 98; fi; \
                  exec \"$@\"";
    Command::new("unshare")
        .args(["-m", "sh", "-c", script, "sh"])
        .arg(hosts)
        .arg(resolv.map(|p| p.as_os_str().to_owned()).unwrap_or_default())
        .arg(env!("CARGO_BIN_EXE_sipa-check"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("unshare runs")
}

fn lab_scenario() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/lab.toml").to_owned()
}

/// The resolve check of `host` (IPv4) in a JSON report.
fn resolve_check<'a>(report: &'a serde_json::Value, host: &str) -> &'a serde_json::Value {
    let name = format!("{host} resolve (ipv4)");
    report["runs"][0]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name.as_str())
        .unwrap_or_else(|| panic!("no check {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_dns_a_hosts_file_entry_does_not_win() {
    require_mount_namespace();
    let lab = Lab::start(LabConfig::default())
        .await
        .expect("the lab starts");
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    // A stale entry pointing the login host somewhere else on loopback.
    std::fs::write(
        &hosts,
        format!("127.0.0.1 localhost\n127.0.0.77 {LOGIN_HOST}\n"),
    )
    .unwrap();
    let json = dir.path().join("run.json");
    let mut args = vec!["run".to_owned(), lab_scenario()];
    args.extend(lab.run_flags());
    args.extend(["--json".to_owned(), json.display().to_string()]);
    let out = tokio::task::spawn_blocking(move || run_with_files(&hosts, None, &args))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let check = resolve_check(&report, LOGIN_HOST);
    let observation = &check["observation"];
    assert_eq!(
        observation["outcome"]["answers"][0]["addr"], "127.0.0.1",
        "the lab DNS's answer, not the hosts file's 127.0.0.77: {check}"
    );
    assert_eq!(observation["source"]["kind"], "named-servers", "{check}");
    assert_eq!(
        observation["source"]["servers"][0],
        lab.dns_addr().to_string(),
        "{check}"
    );
    assert!(!stdout.contains("127.0.0.77"), "{stdout}");
    assert!(!stdout.contains("hosts file"), "{stdout}");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_dns_an_answer_from_the_hosts_file_says_so() {
    require_mount_namespace();
    let lab = Lab::start(LabConfig::default())
        .await
        .expect("the lab starts");
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    // Every name of the lab scenario, as the lab's DNS would answer it. A name it lacked would
    // go to the system's servers, here 127.0.0.1:53, where nothing answers.
    std::fs::write(
        &hosts,
        "127.0.0.1 localhost\n\
         127.0.0.1 login.microsoftonline.com login.windows.net login.microsoft.com\n\
         127.0.0.1 canary.sipa-lab.test control.sipa-lab.test\n",
    )
    .unwrap();
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(
        &resolv,
        "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
    )
    .unwrap();
    let json = dir.path().join("run.json");
    // The lab's flags without its DNS server: the system's configuration is used.
    let mut args = vec!["run".to_owned(), lab_scenario()];
    let mut flags = lab.run_flags().into_iter();
    while let Some(flag) = flags.next() {
        if flag == "--dns" {
            flags.next();
        } else {
            args.push(flag);
        }
    }
    args.extend(["--json".to_owned(), json.display().to_string()]);
    let out = tokio::task::spawn_blocking(move || run_with_files(&hosts, Some(&resolv), &args))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap_or_else(|e| {
            panic!(
                "no JSON report ({e}): {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        }))
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for host in [LOGIN_HOST, "canary.sipa-lab.test", "control.sipa-lab.test"] {
        let check = resolve_check(&report, host);
        assert_eq!(check["status"], "pass", "{check}");
        assert_eq!(
            check["observation"]["source"],
            serde_json::json!({"kind": "hosts-file", "path": "/etc/hosts"}),
            "{check}"
        );
    }
    // The terminal report shows where the answer came from, and warns.
    assert!(
        stdout.contains("A 127.0.0.1 (loopback) from the hosts file /etc/hosts"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{LOGIN_HOST} was answered by the hosts file /etc/hosts, not by DNS"
        )),
        "{stdout}"
    );
    lab.shutdown().await;
}
