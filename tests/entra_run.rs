//! Entra's sign-in log as evidence in a whole run: `scenarios/lab-entra.toml` against the
//! embedded lab, with the lab's probe app, as `sipa-check lab --entra` runs it. Loopback only.

use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

use sipa_check::guide::GuideStep;
use sipa_check::lab::{EntraLabConfig, Fault, LAB_CLIENT_SECRET, Lab, LabConfig};
use sipa_check::outcome::{Outcome, Proof, ScenarioRun, Stage, Status};
use sipa_check::scenario::{Overrides, Require};

/// The sign-in checks (the named locations check is the other one of the entra stage).
fn entra_checks(run: &ScenarioRun) -> Vec<&Outcome> {
    run.checks
        .iter()
        .filter(|o| o.stage == Stage::Entra && o.name.contains("entra sign-in"))
        .collect()
}

fn check<'a>(run: &'a ScenarioRun, name: &str) -> &'a Outcome {
    run.checks
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no check {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clean_lab_passes_with_every_login_host_proven_by_the_sign_in_log() {
    let run = common::run_lab_entra(&[], false, Overrides::default()).await;
    assert_eq!(run.tally.overall(), Status::Pass, "{:#?}", run.checks);
    let entra = entra_checks(&run);
    assert_eq!(entra.len(), 3);
    for o in &entra {
        assert_eq!(o.status, Status::Pass, "{}: {}", o.name, o.reason);
        assert!(o.reason.contains("Entra logged 127.0.0.2"), "{}", o.reason);
    }
    assert_eq!(
        entra[1].name, "login.windows.net:443 entra sign-in (ipv4)",
        "the check's stable name"
    );
    let named = check(&run, "graph.sipa-lab.test entra named locations");
    assert_eq!(named.status, Status::Pass, "{}", named.reason);
    assert_eq!(run.evidence.len(), 6);
    for e in &run.evidence {
        let want = if e.port == 443 {
            Proof::EntraLog
        } else {
            Proof::PathOnly
        };
        assert_eq!(e.proof, want, "{}:{}", e.host, e.port);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_unanchored_domain_fails_by_name_where_a_canary_alone_cannot_see_it() {
    let run =
        common::run_lab_entra(&[Fault::OneDomainUnanchored], false, Overrides::default()).await;
    assert_eq!(run.tally.overall(), Status::Fail);
    let o = check(&run, "login.windows.net:443 entra sign-in (ipv4)");
    assert_eq!(o.status, Status::Fail, "{}", o.reason);
    assert!(o.reason.contains("127.0.0.3"), "{}", o.reason);
    assert!(o.reason.contains("{127.0.0.2}"), "{}", o.reason);
    assert!(o.observed.contains("ipAddress 127.0.0.3"), "{}", o.observed);
    let d = o.diagnosis.as_ref().expect("a diagnosis");
    assert_eq!(d.guide_step, GuideStep::SegmentDomains);
    assert!(d.likely_cause.contains("lacks login.windows.net"));
    // Only that host fails: the others are anchored.
    let failed: Vec<&str> = run
        .checks
        .iter()
        .filter(|o| o.status == Status::Fail)
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(failed, ["login.windows.net:443 entra sign-in (ipv4)"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_not_yet_ingested_with_no_wait_is_an_error_never_a_pass() {
    let lab = Lab::start_with(
        LabConfig::default(),
        EntraLabConfig {
            ingestion_delay: Duration::from_secs(60),
            ..EntraLabConfig::default()
        },
    )
    .await
    .expect("the lab starts");
    let extra = Overrides {
        entra_wait: Some(Duration::ZERO),
        ..Overrides::default()
    };
    let run = common::run_entra_on(&lab, &[], false, extra).await;
    lab.shutdown().await;
    assert_eq!(run.tally.overall(), Status::Error);
    for o in entra_checks(&run) {
        assert_eq!(o.status, Status::Error, "{}", o.name);
        assert!(
            o.reason.contains("not in the sign-in log after 0s"),
            "{}",
            o.reason
        );
        let d = o.diagnosis.as_ref().expect("a diagnosis");
        assert_eq!(d.guide_step, GuideStep::SignInLog);
        assert!(d.likely_cause.contains("pending"), "{}", d.likely_cause);
    }
    // Nothing the log did not show counts as evidence.
    assert!(run.evidence.iter().all(|e| e.proof == Proof::PathOnly));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_403_is_an_error_naming_the_permissions() {
    let run = common::run_lab(&[Fault::GraphForbidden], false, Overrides::default()).await;
    assert_eq!(run.tally.overall(), Status::Error);
    for o in entra_checks(&run) {
        assert_eq!(o.status, Status::Error, "{}", o.name);
        assert!(o.reason.contains("403"), "{}", o.reason);
        let d = o.diagnosis.as_ref().expect("a diagnosis");
        assert!(
            d.likely_cause.contains("AuditLog.Read.All"),
            "{}",
            d.likely_cause
        );
        assert_eq!(d.guide_step, GuideStep::EntraApp);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_blocks_alone_is_a_working_policy() {
    // Every login host anchored: Conditional Access lets each token through, and the log shows
    // the anchor. That is the tenant working as intended.
    let run = common::run_lab(&[Fault::CaBlocks], false, Overrides::default()).await;
    assert_eq!(run.tally.overall(), Status::Pass, "{:#?}", run.checks);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_token_fails_naming_the_policy() {
    let run = common::run_lab(
        &[Fault::CaBlocks, Fault::OneDomainUnanchored],
        false,
        Overrides::default(),
    )
    .await;
    let o = check(&run, "login.windows.net:443 entra sign-in (ipv4)");
    assert_eq!(o.status, Status::Fail);
    assert!(o.observed.contains("AADSTS53003"), "{}", o.observed);
    assert!(
        o.observed.contains(sipa_check::lab::LAB_CA_POLICY_ID),
        "{}",
        o.observed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_evidence_satisfies_the_per_host_requirement_and_goes_through_the_proxy() {
    let extra = Overrides {
        require: Some(Require::PerHost),
        ..Overrides::default()
    };
    let run = common::run_lab_entra(&[], true, extra).await;
    assert_eq!(run.tally.overall(), Status::Pass, "{:#?}", run.checks);
    assert!(
        run.checks
            .iter()
            .all(|o| !o.name.contains("per-host evidence")),
        "a per-host evidence error despite Entra's log"
    );
    assert!(
        entra_checks(&run)
            .iter()
            .all(|o| o.name.ends_with("entra sign-in (proxy)"))
    );
}

fn sipa(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sipa-check"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("AZURE_CLIENT_SECRET")
        .stdin(Stdio::null())
        .args(args)
        .output()
        .expect("sipa-check runs")
}

#[test]
fn lab_entra_from_the_command_line() {
    let clean = sipa(&["lab", "--entra", "--json", "-"]);
    let json = String::from_utf8_lossy(&clean.stdout);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert!(json.contains("\"entra-log\""), "{json}");
    // The lab app's secret and any token stay out of the report.
    assert!(!json.contains(LAB_CLIENT_SECRET));
    assert!(!json.contains("access_token"));
    let broken = sipa(&["lab", "--entra", "--fault", "one-domain-unanchored"]);
    let text = String::from_utf8_lossy(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL  login.windows.net:443 entra sign-in (ipv4)"),
        "{text}"
    );
    // An Entra fault alone makes `lab` use Entra.
    let never = sipa(&["lab", "--fault", "sign-in-never-ingested"]);
    assert_eq!(never.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&never.stdout).contains("entra sign-in"));
}

/// Runs the binary off the runtime's threads, so the in-process lab keeps serving.
async fn output(mut cmd: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("the binary runs"))
        .await
        .expect("the binary's task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_entra_credentials_from_the_environment_shows_the_secret_nowhere() {
    const PLANTED: &str = "Pl4nted-entra-S3cret-9Zq";
    let lab = Lab::start(LabConfig::default())
        .await
        .expect("the lab starts");
    let dir = tempfile::tempdir().expect("a temporary directory");
    // The lab scenario without its Graph URL: Graph and its token endpoint are then the
    // cloud's, which the environment below puts on loopback, so nothing leaves 127.0.0.0/8.
    let scenario = dir.path().join("entra.toml");
    let text: String = sipa_check::scenario::LAB_ENTRA_TOML
        .lines()
        .filter(|l| !l.starts_with("graph_url"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&scenario, text).unwrap();
    let json = dir.path().join("report.json");
    let junit = dir.path().join("report.xml");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sipa-check"));
    cmd.env("AZURE_TENANT_ID", "contoso.onmicrosoft.com")
        .env("AZURE_CLIENT_ID", sipa_check::lab::LAB_CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", PLANTED)
        .env("AZURE_AUTHORITY_HOST", "127.0.0.1")
        .env(
            "SIPA_CHECK_GRAPH_HOST",
            format!("127.0.0.1:{}", lab.graph_addr().port()),
        )
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .arg("run")
        .arg(&scenario)
        .args(lab.run_flags())
        .args(["-v", "--entra-wait", "0s", "--json"])
        .arg(&json)
        .arg("--junit")
        .arg(&junit);
    let out = output(cmd).await;
    lab.shutdown().await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The lab refuses the planted secret: every sign-in check is an error, never a pass.
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("entra sign-in"), "{stdout}");
    assert!(stdout.contains("invalid client secret"), "{stdout}");
    for (what, bytes) in [
        ("stdout", out.stdout.clone()),
        ("stderr", out.stderr.clone()),
        ("JSON", std::fs::read(&json).unwrap()),
        ("JUnit", std::fs::read(&junit).unwrap()),
    ] {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(PLANTED), "{what} shows the secret:\n{text}");
    }
}
