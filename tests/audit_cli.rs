//! `sipa-check audit` from the command line: snapshots built from Zscaler's recorded answers
//! (predefined gateways and rules included), the lab's fake APIs with credentials from the
//! environment, reports (JSON, JUnit validated by xmllint), exit codes, and no secret anywhere.

use std::path::PathBuf;
use std::process::{Command, Output};

mod common;
use common::cli::{sipa_without_zscaler_credentials, text, xmllint};

use sipa_check::lab::admin_api::{
    AdminApi, ApiBehaviour, AuditFault, LAB_ONEAPI_CLIENT_SECRET, LAB_ZIA_API_KEY,
    LAB_ZIA_PASSWORD, LAB_ZPA_CLIENT_SECRET,
};

fn sipa() -> Command {
    sipa_without_zscaler_credentials()
}

fn fixture(name: &str) -> String {
    format!("tests/fixtures/audit/{name}")
}

async fn output(mut c: Command) -> Output {
    tokio::task::spawn_blocking(move || c.output().expect("sipa-check runs"))
        .await
        .unwrap()
}

#[test]
fn recorded_snapshots_judged_with_exit_codes_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    for (name, code) in [
        ("recorded-good", 0),
        ("recorded-generic-shape", 0),
        ("recorded-only-predefined", 1),
    ] {
        let json = dir.path().join(format!("{name}.json"));
        let junit = dir.path().join(format!("{name}.xml"));
        let out = sipa()
            .args(["audit", "--from-snapshot", &fixture(name), "--json"])
            .arg(&json)
            .arg("--junit")
            .arg(&junit)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{name}: {}",
            text(&out.stdout)
        );
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(report["tool"], "sipa-check");
        assert_eq!(report["kind"], "audit");
        assert_eq!(report["format_version"], 1);
        assert_eq!(report["connectors"][0]["name"], "ac-fra-1");
        let xml = std::fs::read_to_string(&junit).unwrap();
        assert_eq!(xml.matches("<testsuite ").count(), 1, "{xml}");
        assert!(xml.contains(" name=\"audit\" "), "{xml}");
        xmllint(&junit);
        let stdout = text(&out.stdout);
        if code == 1 {
            // Grouped by cause, naming the object the guide step and the fix.
            assert!(
                stdout.contains("FAIL ZIA ZPA gateway: server group"),
                "{stdout}"
            );
            assert!(
                stdout.contains("ZIA ZPA gateway: select the server group"),
                "{stdout}"
            );
            assert!(
                stdout.contains("no ZPA gateway besides the predefined ones"),
                "{stdout}"
            );
            assert!(xml.contains("<failure"), "{xml}");
            // The cause, as the run report's: its id in the terminal, JSON and JUnit alike.
            assert!(
                stdout.contains("cause id   zpa-gateway-missing"),
                "{stdout}"
            );
            assert!(xml.contains("[cause zpa-gateway-missing]"), "{xml}");
            let failed: Vec<&serde_json::Value> = report["checks"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["status"] == "fail")
                .collect();
            assert!(failed.iter().any(|c| c["cause"] == "zpa-gateway-missing"));
            for c in failed {
                let id = c["cause"].as_str().expect("a cause id");
                assert!(
                    stdout.contains(&format!("cause id   {id}")),
                    "{id}: {stdout}"
                );
            }
        } else {
            // The predefined Auto ZPA Gateway and rules were read and ignored.
            assert!(stdout.contains("audit PASS"), "{stdout}");
            assert!(
                std::fs::read_to_string(format!("{}/zia-zpaGateways.page-1.json", fixture(name)))
                    .unwrap()
                    .contains("Auto ZPA Gateway")
            );
        }
    }
}

#[test]
fn an_empty_or_missing_snapshot_is_an_invalid_invocation() {
    let dir = tempfile::tempdir().unwrap();
    let out = sipa()
        .args(["audit", "--from-snapshot"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("holds no API answer"),
        "{}",
        text(&out.stderr)
    );
    // A snapshot with only ZPA answers: the ZIA side is inconclusive, never a pass.
    let zpa_only = dir.path().join("zpa-only");
    std::fs::create_dir(&zpa_only).unwrap();
    for f in std::fs::read_dir(fixture("recorded-good")).unwrap() {
        let f = f.unwrap();
        if f.file_name().to_string_lossy().starts_with("zpa-") {
            std::fs::copy(f.path(), zpa_only.join(f.file_name())).unwrap();
        }
    }
    let out = sipa()
        .args(["audit", "-q", "--from-snapshot"])
        .arg(&zpa_only)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
}

fn planted(files: &[PathBuf], outputs: &[&str]) {
    let secrets = [
        LAB_ZPA_CLIENT_SECRET,
        LAB_ZIA_PASSWORD,
        LAB_ZIA_API_KEY,
        LAB_ONEAPI_CLIENT_SECRET,
    ];
    let mut texts: Vec<(String, String)> = outputs
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("output {i}"), t.to_string()))
        .collect();
    for f in files {
        texts.push((f.display().to_string(), std::fs::read_to_string(f).unwrap()));
    }
    for (what, t) in &texts {
        for s in secrets {
            assert!(!t.contains(s), "{what} shows a secret");
        }
        assert!(!t.contains("JSESSIONID"), "{what} shows a session");
        assert!(!t.contains("access_token"), "{what} shows a token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_audit_with_legacy_credentials_writes_a_snapshot_without_secrets_and_never_writes() {
    let api = AdminApi::start(&[], &[AuditFault::HostMissing], ApiBehaviour::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap");
    let json = dir.path().join("audit.json");
    let junit = dir.path().join("audit.xml");
    let mut c = sipa();
    c.arg("audit")
        .args(api.audit_flags())
        .args(["--expect-ip", "127.0.0.2", "--snapshot"])
        .arg(&snap)
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .arg("-v");
    for (k, v) in AdminApi::legacy_env() {
        c.env(k, v);
    }
    let out = output(c).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("FAIL login host login.windows.net: in the anchored segment"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ZPA application segment `O365 SIPA` (id 216196257331404639)"),
        "{stdout}"
    );
    xmllint(&junit);
    let mut files = vec![json.clone(), junit.clone()];
    for f in std::fs::read_dir(&snap).unwrap() {
        files.push(f.unwrap().path());
    }
    assert!(files.len() >= 12, "{files:?}");
    planted(&files, &[&stdout, &stderr]);
    for r in api.requests() {
        assert!(
            r.method == "GET"
                || (r.method == "POST"
                    && ["/signin", "/api/v1/authenticatedSession"].contains(&r.path.as_str()))
                // Ending the ZIA session, the only DELETE.
                || (r.method == "DELETE" && r.path == "/api/v1/authenticatedSession"),
            "{r:?}"
        );
    }
    assert_eq!(api.open_zia_sessions(), 0);
    // The snapshot audits the same, offline.
    drop(api);
    let mut c = sipa();
    c.args(["audit", "--expect-ip", "127.0.0.2", "--from-snapshot"])
        .arg(&snap)
        .args(["--json", "-"]);
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(1));
    let offline: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let live: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(offline["checks"], live["checks"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_audit_with_oneapi_credentials_passes() {
    let api = AdminApi::start(&[], &[], ApiBehaviour::default())
        .await
        .unwrap();
    let mut c = sipa();
    c.arg("audit").args(api.audit_flags());
    for (k, v) in AdminApi::oneapi_env() {
        c.env(k, v);
    }
    let out = output(c).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    planted(&[], &[&stdout, &stderr]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_refusing_or_uncredentialled_apis_are_inconclusive() {
    // Nothing listens there: inconclusive.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut c = sipa();
    c.args([
        "audit",
        "-q",
        "--zpa-url",
        &format!("https://127.0.0.1:{port}"),
        "--zia-url",
        &format!("https://127.0.0.1:{port}/api/v1"),
        "--timeout",
        "5s",
    ]);
    for (k, v) in AdminApi::legacy_env() {
        c.env(k, v);
    }
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    // A 403 on every read: inconclusive.
    let api = AdminApi::start(
        &[],
        &[],
        ApiBehaviour {
            refuse_with: Some(403),
            ..ApiBehaviour::default()
        },
    )
    .await
    .unwrap();
    let mut c = sipa();
    c.arg("audit").args(api.audit_flags());
    for (k, v) in AdminApi::legacy_env() {
        c.env(k, v);
    }
    let out = output(c).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("HTTP 403"), "{stdout}");
    // No credentials at all: inconclusive, and says which variables.
    let mut c = sipa();
    c.arg("audit").args(api.audit_flags());
    let out = output(c).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("ZPA_CLIENT_ID"), "{stdout}");
    // Incomplete credentials: nothing runs (2), the message names the variable, not a value.
    let mut c = sipa();
    c.arg("audit")
        .args(api.audit_flags())
        .env("ZIA_USERNAME", "admin@sipa-lab.test")
        .env("ZIA_PASSWORD", LAB_ZIA_PASSWORD);
    let out = output(c).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("ZIA_USERNAME is set but ZIA_API_KEY is not"),
        "{stderr}"
    );
    planted(&[], &[&stderr, &text(&out.stdout)]);
}

#[test]
fn lab_audit_runs_both_layers_and_lists_the_audit_faults() {
    let out = sipa()
        .args(["lab", "--list-faults", "--audit"])
        .output()
        .unwrap();
    let listed = text(&out.stdout);
    for f in AuditFault::ALL {
        assert!(listed.contains(f.name()), "{listed}");
    }
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("audit.xml");
    let out = sipa()
        .args(["lab", "--fault", "audit-port80-missing", "--audit-junit"])
        .arg(&junit)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    // The network shows it (port 80 not anchored) and so does the configuration.
    assert!(stdout.contains("egress"), "{stdout}");
    assert!(
        stdout.contains("FAIL segment O365 SIPA: TCP port 80"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ZPA application segment, TCP Port Ranges: add 80 and 443"),
        "{stdout}"
    );
    xmllint(&junit);
    // The clean lab passes both layers.
    let out = sipa().args(["lab", "--audit", "-q"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("audit PASS"));
}

/// Runs the gate on a plan in `terraform show -json`'s shape over the recorded tenant, whose
/// segment app03 lists 80 and 443 in both forms.
fn gate(plan: &str) -> (Option<i32>, serde_json::Value, String) {
    let out = sipa()
        .args([
            "audit",
            "--from-snapshot",
            &fixture("recorded-good"),
            "--terraform-plan",
            &fixture(plan),
            "--json",
            "-",
        ])
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{plan}: {e}: {}", text(&out.stderr)));
    (out.status.code(), report, text(&out.stderr))
}

fn not_passed(report: &serde_json::Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] != "pass")
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["found"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_plan_is_judged_on_the_port_form_it_changes_not_the_prior_value_the_other_carries() {
    // (plan, the port check that must fail, the form the plan changes)
    for (plan, port, form) in [
        // `tcp_port_range` drops 80; `tcp_port_ranges` still lists it (its prior value).
        ("plan-tcp-port-range-drops-80.json", 80, "`tcp_port_range`"),
        // The mirror: `tcp_port_ranges` drops 80; the blocks still list it.
        (
            "plan-tcp-port-ranges-drops-80.json",
            80,
            "`tcp_port_ranges`",
        ),
        // `tcp_port_range` drops 443 (and adds 8443); the flat list still lists 443.
        (
            "plan-tcp-port-range-drops-443.json",
            443,
            "`tcp_port_range`",
        ),
    ] {
        let (code, report, stderr) = gate(plan);
        assert_eq!(code, Some(1), "{plan}: {stderr}");
        let failed = not_passed(&report);
        assert_eq!(failed.len(), 1, "{plan}: {failed:#?}");
        let (name, found) = &failed[0];
        // Names the port, the segment and the resource (and the form) that drops it.
        assert_eq!(name, &format!("segment app03: TCP port {port}"), "{plan}");
        assert!(
            found.contains("as planned by zpa_application_segment.o365") && found.contains(form),
            "{plan}: {found}"
        );
        assert!(!found.contains(&format!(" {port},")), "{plan}: {found}");
        assert_eq!(
            report["planned_changes"][0],
            "zpa_application_segment.o365: update"
        );
    }
    // Changing the form without dropping 80 or 443 passes: the gate is not against change.
    let (code, report, stderr) = gate("plan-tcp-port-range-adds-8080.json");
    assert_eq!(code, Some(0), "{stderr}: {:#?}", not_passed(&report));
}

#[test]
fn a_plan_dropping_a_login_domain_fails_naming_the_host_and_the_resource() {
    let (code, report, stderr) = gate("plan-domain-names-drop-login-windows-net.json");
    assert_eq!(code, Some(1), "{stderr}");
    let failed = not_passed(&report);
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(
        failed[0].0,
        "login host login.windows.net: in the anchored segment"
    );
    assert!(
        failed[0]
            .1
            .contains("as planned by zpa_application_segment.o365 (`domain_names`)"),
        "{}",
        failed[0].1
    );
}

#[test]
fn a_terraform_plan_dropping_a_login_host_or_port_80_fails_before_apply() {
    let run = |plan: &str| {
        sipa()
            .args([
                "audit",
                "--from-snapshot",
                &fixture("recorded-good"),
                "--terraform-plan",
                &fixture(plan),
                "--json",
                "-",
            ])
            .output()
            .unwrap()
    };
    let out = run("plan-drop-login-windows-net-and-80.json");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        [
            "segment app03: TCP port 80",
            "login host login.windows.net: in the anchored segment"
        ]
    );
    assert_eq!(
        report["planned_changes"][0],
        "zpa_application_segment.o365: update"
    );
    // A harmless change passes, judged on the same merged state.
    let out = run("plan-description-only.json");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Not a plan: nothing is judged (2).
    let out = sipa()
        .args([
            "audit",
            "--from-snapshot",
            &fixture("recorded-good"),
            "--terraform-plan",
            &fixture("recorded-good/zia-status.json"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not `terraform show -json` output"));
}
