//! `sipa-check complete`: a run that did not wait for Entra's sign-in log (wait 0) ends
//! "pending" (exit 3) with its pending sign-ins in the JSON report; once the lab's log has
//! them, completing that report judges those checks as the run would have. Loopback only.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use sipa_check::cmd::Exit;
use sipa_check::cmd::lab::lab_entra;
use sipa_check::complete::{ReadError, complete, pending_count, read_report};
use sipa_check::guide::GuideStep;
use sipa_check::lab::{
    EntraLabConfig, Fault, LAB_SERVICE_PRINCIPAL_ID, Lab, LabConfig, WhatIfShape,
};
use sipa_check::outcome::{Proof, RunReport, Status};
use sipa_check::report;
use sipa_check::scenario::Overrides;

const DELAY: Duration = Duration::from_secs(3);

/// A lab whose log shows each sign-in `DELAY` after it, and the JSON report of a run with
/// `--entra-wait 0` against it, with when the run started.
async fn pending_run(faults: &[Fault]) -> (Lab, String, Instant) {
    pending_run_with(faults, EntraLabConfig::default()).await
}

/// [`pending_run`] against a lab whose Entra side is `entra` (its ingestion delay `DELAY`).
async fn pending_run_with(faults: &[Fault], entra: EntraLabConfig) -> (Lab, String, Instant) {
    let lab = Lab::start_with(
        LabConfig {
            faults: faults.to_vec(),
            ..LabConfig::default()
        },
        EntraLabConfig {
            ingestion_delay: DELAY,
            ..entra
        },
    )
    .await
    .expect("the lab starts");
    let started = Instant::now();
    let extra = Overrides {
        entra_wait: Some(Duration::ZERO),
        ..Overrides::default()
    };
    let run = common::run_entra_on(&lab, faults, false, extra).await;
    let report = RunReport::new(vec![run]);
    let mut json = Vec::new();
    report::json::write(&report, &mut json).unwrap();
    (lab, String::from_utf8(json).unwrap(), started)
}

fn junit_is_valid(report: &RunReport) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junit.xml");
    let mut xml = Vec::new();
    report::junit::write(report, &mut xml).unwrap();
    std::fs::write(&path, &xml).unwrap();
    let xsd = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/junit-10.xsd");
    let out = Command::new("xmllint")
        .args(["--noout", "--schema", xsd])
        .arg(&path)
        .output()
        .expect("xmllint is installed (Debian package libxml2-utils)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn until_ingested(started: Instant) {
    let ready = started + DELAY + Duration::from_millis(500);
    tokio::time::sleep(ready.saturating_duration_since(Instant::now())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_run_exits_3_and_completes_to_a_pass_once_ingested() {
    let (lab, json, started) = pending_run(&[]).await;
    let report = read_report(&json, "report.json").expect("the run's own report reads back");
    assert_eq!(report.overall, Status::Error);
    assert_eq!(Exit::of(report.overall), Exit::Inconclusive);
    let run = &report.runs[0];
    assert_eq!(run.pending_sign_ins.len(), 3, "{json}");
    assert_eq!(pending_count(&report), 3);
    for p in &run.pending_sign_ins {
        assert!(p.check.ends_with("entra sign-in (ipv4)"), "{}", p.check);
        assert_eq!(p.port, 443);
        assert!(!p.correlation_id.is_empty());
        assert!(p.request_id.is_some(), "the x-ms-request-id");
        assert!(p.sent_at.ends_with('Z'), "{}", p.sent_at);
        assert!(!p.via.is_empty());
    }
    let entra = run.entra.as_ref().expect("the Graph the run used");
    assert_eq!(entra.graph_url, lab.graph_url().to_string());
    assert!(json.contains("\"pending_sign_ins\""));
    // The human report says it is pending, and how to finish it.
    let mut human = Vec::new();
    report::human::write(&report, &mut human, Default::default()).unwrap();
    let human = String::from_utf8(human).unwrap();
    assert!(
        human.contains("pending: 3 sign-ins not yet in Entra's sign-in log"),
        "{human}"
    );
    assert!(human.contains("sipa-check complete REPORT.json"), "{human}");

    // Before the log has them: still pending, still an error, never a pass.
    let (_, access) = lab_entra(&lab);
    let early = complete(report.clone(), &access, Duration::ZERO).await;
    assert_eq!(early.overall, Status::Error);
    assert_eq!(pending_count(&early), 3);

    until_ingested(started).await;
    let done = complete(report, &access, Duration::ZERO).await;
    lab.shutdown().await;
    assert_eq!(done.overall, Status::Pass, "{:#?}", done.runs[0].checks);
    assert_eq!(pending_count(&done), 0);
    let run = &done.runs[0];
    for o in run
        .checks
        .iter()
        .filter(|o| o.name.contains("entra sign-in"))
    {
        assert_eq!(o.status, Status::Pass, "{}: {}", o.name, o.reason);
        assert!(o.reason.contains("Entra logged 127.0.0.2"), "{}", o.reason);
        assert!(o.observed.contains("ipAddress 127.0.0.2"), "{}", o.observed);
    }
    for e in &run.evidence {
        let want = if e.port == 443 {
            Proof::EntraLog
        } else {
            Proof::PathOnly
        };
        assert_eq!(e.proof, want, "{}:{}", e.host, e.port);
    }
    assert_eq!(done.tally.passed, done.tally.total - done.tally.skipped);
    junit_is_valid(&done);
    // The completed report reads back, with nothing pending and the found record in its log.
    let mut again = Vec::new();
    report::json::write(&done, &mut again).unwrap();
    let again = String::from_utf8(again).unwrap();
    assert!(again.contains("\"found\""), "{again}");
    let reread = read_report(&again, "done.json").expect("the completed report reads back");
    assert_eq!(pending_count(&reread), 0);
    assert_eq!(reread.overall, Status::Pass);
}

/// Where What If answers only the older request shape, it needs the service principal's
/// object id; with Graph naming none and the sign-ins not yet in the log, the run's What If
/// errs for want of it. `complete` asks again once the sign-ins it finds carry
/// `servicePrincipalId`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_asks_what_if_again_once_the_sign_ins_name_the_service_principal() {
    const WHAT_IF: &str = "graph.sipa-lab.test entra conditional access what-if";
    let (lab, json, started) = pending_run_with(
        &[],
        EntraLabConfig {
            what_if: WhatIfShape::Older,
            service_principals: false,
            ..EntraLabConfig::default()
        },
    )
    .await;
    let report = read_report(&json, "report.json").expect("the run's own report reads back");
    let what_if = |report: &RunReport| {
        report.runs[0]
            .checks
            .iter()
            .find(|o| o.name == WHAT_IF)
            .cloned()
            .expect("a What If check")
    };
    let o = what_if(&report);
    assert_eq!(o.status, Status::Error, "{}", o.reason);
    assert!(
        o.reason
            .starts_with("What If refused the documented request for the probe app"),
        "{}",
        o.reason
    );
    assert!(o.reason.contains("sipa-check complete"), "{}", o.reason);
    let recorded = serde_json::to_value(&o.observation).unwrap();
    assert_eq!(recorded["result"], "no_subject", "{recorded}");
    assert_eq!(recorded["question"]["anchors"][0]["ip"], "127.0.0.2");
    assert_eq!(recorded["question"]["controls"][0]["ip"], "127.0.0.3");

    let (_, access) = lab_entra(&lab);
    until_ingested(started).await;
    let done = complete(report, &access, Duration::ZERO).await;
    lab.shutdown().await;
    let o = what_if(&done);
    assert_eq!(o.status, Status::Pass, "{}", o.reason);
    let json = serde_json::to_value(&o.observation).unwrap();
    assert_eq!(json["result"], "evaluated", "{json}");
    assert_eq!(json["subject_from"], "sign_in_log");
    assert_eq!(json["service_principal_id"], LAB_SERVICE_PRINCIPAL_ID);
    assert_eq!(
        json["anchors"][0]["answer"]["asked"],
        "beta conditionalAccessWhatIfSubject"
    );
    assert_eq!(done.overall, Status::Pass, "{:#?}", done.runs[0].checks);
    // The completed report reads back with the new What If.
    let mut again = Vec::new();
    report::json::write(&done, &mut again).unwrap();
    let reread = read_report(&String::from_utf8(again).unwrap(), "done.json").unwrap();
    assert_eq!(what_if(&reread).status, Status::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completing_with_one_domain_unanchored_fails_naming_the_host() {
    let (lab, json, started) = pending_run(&[Fault::OneDomainUnanchored]).await;
    let report = read_report(&json, "report.json").unwrap();
    assert_eq!(
        report.overall,
        Status::Error,
        "the canary alone cannot see it"
    );
    until_ingested(started).await;
    let (_, access) = lab_entra(&lab);
    let done = complete(report, &access, Duration::ZERO).await;
    lab.shutdown().await;
    assert_eq!(done.overall, Status::Fail);
    let failed: Vec<&str> = done.runs[0]
        .checks
        .iter()
        .filter(|o| o.status == Status::Fail)
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(failed, ["login.windows.net:443 entra sign-in (ipv4)"]);
    let o = done.runs[0]
        .checks
        .iter()
        .find(|o| o.status == Status::Fail)
        .unwrap();
    assert!(o.reason.contains("127.0.0.3"), "{}", o.reason);
    let d = o.diagnosis.as_ref().expect("a diagnosis");
    assert_eq!(d.guide_step, GuideStep::SegmentDomains);
    assert!(d.likely_cause.contains("lacks login.windows.net"));
    assert_eq!(Exit::of(done.overall), Exit::Failed);
    junit_is_valid(&done);
}

fn sipa(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sipa-check"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_CLIENT_CERTIFICATE_PATH")
        .stdin(Stdio::null())
        .args(args)
        .output()
        .expect("sipa-check runs")
}

#[test]
fn bad_inputs_are_exit_2_with_a_precise_message() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("notjson.json", "<testsuites/>", "notjson.json: not JSON"),
        (
            "other.json",
            "{\"tool\": \"other\", \"format_version\": 1}",
            "other.json: not a sipa-check report",
        ),
        (
            "v9.json",
            "{\"tool\": \"sipa-check\", \"format_version\": 9, \"runs\": []}",
            "v9.json: format_version 9: this sipa-check",
        ),
    ];
    for (name, text, message) in cases {
        std::fs::write(dir.path().join(name), text).unwrap();
        let out = sipa(&["complete", name, "--json", "out.json"], dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(message), "{name}: {stderr}");
        assert!(
            !dir.path().join("out.json").exists(),
            "{name}: nothing written"
        );
    }
    let out = sipa(&["complete", "missing.json"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read missing.json"));
    // The library says the same, typed.
    assert!(matches!(
        read_report("{\"tool\": \"sipa-check\", \"format_version\": \"1\"}", "x"),
        Err(ReadError::FormatVersion { .. })
    ));
}

#[test]
fn a_report_with_nothing_pending_is_written_unchanged_with_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let run = sipa(&["lab", "--entra", "--json", "run.json"], dir.path());
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let out = sipa(
        &[
            "complete",
            "run.json",
            "--json",
            "done.json",
            "--junit",
            "done.xml",
        ],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("no sign-in is pending"), "{stderr}");
    assert_eq!(
        std::fs::read(dir.path().join("run.json")).unwrap(),
        std::fs::read(dir.path().join("done.json")).unwrap()
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("PASS"));
    let broken = sipa(
        &[
            "lab",
            "--entra",
            "--fault",
            "one-domain-unanchored",
            "--json",
            "broken.json",
        ],
        dir.path(),
    );
    assert_eq!(broken.status.code(), Some(1));
    let out = sipa(&["complete", "broken.json"], dir.path());
    assert_eq!(out.status.code(), Some(1), "exit as its verdict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_report_without_credentials_is_exit_2() {
    let (lab, json, _) = pending_run(&[]).await;
    lab.shutdown().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pending.json"), &json).unwrap();
    let path = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        sipa(&["complete", "pending.json", "--json", "out.json"], &path)
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("3 sign-in(s) to look up need the probe app's credentials"),
        "{stderr}"
    );
    assert!(stderr.contains("AZURE_TENANT_ID"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_from_the_command_line_keeps_a_sign_in_graph_cannot_find_pending_and_the_secret_hidden()
 {
    const PLANTED: &str = "Pl4nted-complete-S3cret-7Qx";
    let (lab, json, _) = pending_run(&[]).await;
    let port = lab.graph_addr().port();
    // Graph and its token endpoint on 127.0.0.1, whose name the lab's certificate does not
    // carry: no DNS, nothing off loopback, and Graph cannot answer.
    let json = json.replace(
        &lab.graph_url().to_string(),
        &format!("https://127.0.0.1:{port}/"),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pending.json"), &json).unwrap();
    std::fs::copy(lab.ca_file(), dir.path().join("lab-ca.pem")).unwrap();
    let path = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_sipa-check"))
            .current_dir(&path)
            .env("NO_COLOR", "1")
            .env("AZURE_TENANT_ID", "sipa-lab.onmicrosoft.com")
            .env("AZURE_CLIENT_ID", sipa_check::lab::LAB_CLIENT_ID)
            .env("AZURE_CLIENT_SECRET", PLANTED)
            .env("AZURE_AUTHORITY_HOST", format!("127.0.0.1:{port}"))
            .env("SIPA_CHECK_GRAPH_HOST", format!("127.0.0.1:{port}"))
            .env_remove("AZURE_CLIENT_CERTIFICATE_PATH")
            .stdin(Stdio::null())
            .args([
                "complete",
                "pending.json",
                "--ca-file",
                "lab-ca.pem",
                "--json",
                "out.json",
                "--junit",
                "out.xml",
            ])
            .output()
            .expect("sipa-check runs")
    })
    .await
    .unwrap();
    lab.shutdown().await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("pending: 3 sign-ins"), "{stdout}");
    let written = std::fs::read_to_string(dir.path().join("out.json")).unwrap();
    let report = read_report(&written, "out.json").unwrap();
    assert_eq!(pending_count(&report), 3, "still pending, never a pass");
    assert_eq!(report.overall, Status::Error);
    junit_is_valid(&report);
    for (what, text) in [
        ("stdout", stdout.into_owned()),
        ("stderr", String::from_utf8_lossy(&out.stderr).into_owned()),
        ("JSON", written),
        (
            "JUnit",
            std::fs::read_to_string(dir.path().join("out.xml")).unwrap(),
        ),
    ] {
        assert!(!text.contains(PLANTED), "{what} shows the secret:\n{text}");
    }
}
