//! `[entra] mode = "ca"`: the token answer through each login host is the verdict, at once,
//! with no Graph: the lab's `ca-blocks` fault is the workload-identity Conditional Access policy
//! that blocks the probe app outside the trusted location. Loopback only.

use std::sync::Arc;

use sipa_check::command::{lab_entra, lab_overrides};
use sipa_check::entra::ClientAuth;
use sipa_check::guide::GuideStep;
use sipa_check::lab::{Fault, LAB_CA_POLICY_ID, Lab, LabConfig};
use sipa_check::outcome::{Outcome, Proof, ScenarioRun, Stage, Status};
use sipa_check::runner::{self, Quiet, RunSettings};
use sipa_check::scenario::model::{EntraMode, Secret};

/// `scenarios/lab-entra.toml` in `mode` against a lab with `faults`, with the lab's app (or
/// a wrong secret); and how many requests the lab's Graph answered.
async fn run_in(mode: EntraMode, faults: &[Fault], secret: Option<&str>) -> (ScenarioRun, u64) {
    let lab = Lab::start(LabConfig {
        faults: faults.to_vec(),
        ..LabConfig::default()
    })
    .await
    .expect("the lab starts");
    let (mut s, mut access) = lab_entra(&lab);
    s.entra.as_mut().expect("[entra]").mode = mode;
    if let Some(secret) = secret {
        let mut credentials = (*access.credentials).clone();
        credentials.auth = ClientAuth::Secret(Secret::new(secret));
        access.credentials = Arc::new(credentials);
    }
    let (overrides, connect_to) = lab_overrides(&lab, faults, false);
    s.apply(&overrides).expect("lab overrides apply");
    let settings = RunSettings {
        connect_to,
        interrupt: runner::never(),
        progress: &Quiet,
        entra: Some(access),
    };
    let run = runner::run_scenario(&s, settings)
        .await
        .expect("the run starts");
    let graph = lab.graph_traffic().requests;
    lab.shutdown().await;
    (run, graph)
}

fn sign_ins(run: &ScenarioRun) -> Vec<&Outcome> {
    run.checks
        .iter()
        .filter(|o| o.stage == Stage::Entra && o.name.contains("entra sign-in"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_mode_on_the_clean_lab_with_its_policy_passes_on_the_token_answers_alone() {
    let (run, graph) = run_in(EntraMode::Ca, &[Fault::CaBlocks], None).await;
    assert_eq!(run.tally.overall(), Status::Pass, "{:#?}", run.checks);
    assert_eq!(sign_ins(&run).len(), 3);
    for o in sign_ins(&run) {
        assert_eq!(o.status, Status::Pass, "{}: {}", o.name, o.reason);
        assert!(
            o.reason
                .contains("Conditional Access saw a trusted location")
        );
    }
    assert!(
        run.checks
            .iter()
            .all(|o| !o.name.contains("named locations")),
        "no Graph check in ca mode"
    );
    assert_eq!(graph, 0, "ca mode reads no Graph");
    assert!(run.pending_sign_ins.is_empty());
    for e in &run.evidence {
        let want = if e.port == 443 {
            Proof::EntraCa
        } else {
            Proof::PathOnly
        };
        assert_eq!(e.proof, want, "{}:{}", e.host, e.port);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_mode_with_one_domain_unanchored_fails_naming_the_host_and_the_policy() {
    let (run, _) = run_in(
        EntraMode::Ca,
        &[Fault::CaBlocks, Fault::OneDomainUnanchored],
        None,
    )
    .await;
    assert_eq!(run.tally.overall(), Status::Fail);
    let failed: Vec<&Outcome> = run
        .checks
        .iter()
        .filter(|o| o.status == Status::Fail)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    let o = failed[0];
    assert_eq!(o.name, "login.windows.net:443 entra sign-in (ipv4)");
    assert!(o.reason.contains("login.windows.net"), "{}", o.reason);
    assert!(o.reason.contains(LAB_CA_POLICY_ID), "{}", o.reason);
    assert!(o.reason.contains("AADSTS53003"), "{}", o.reason);
    let d = o.diagnosis.as_ref().expect("a diagnosis");
    assert_eq!(d.guide_step, GuideStep::SegmentDomains);
    assert!(d.likely_cause.contains("lacks login.windows.net"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_mode_with_a_wrong_secret_is_an_error_naming_what_7000215_means() {
    let (run, _) = run_in(
        EntraMode::Ca,
        &[Fault::CaBlocks],
        Some("not-the-lab-secret"),
    )
    .await;
    assert_eq!(run.tally.overall(), Status::Error);
    for o in sign_ins(&run) {
        assert_eq!(o.status, Status::Error, "{}", o.name);
        assert!(o.reason.contains("invalid client secret"), "{}", o.reason);
        assert!(o.observed.contains("AADSTS7000215"), "{}", o.observed);
        assert_eq!(
            o.diagnosis.as_ref().map(|d| d.guide_step),
            Some(GuideStep::EntraApp)
        );
    }
    assert!(
        run.evidence.iter().all(|e| e.proof == Proof::PathOnly),
        "an error proves nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_mode_with_the_policy_passes_proven_by_the_log() {
    let (run, graph) = run_in(EntraMode::Both, &[Fault::CaBlocks], None).await;
    assert_eq!(run.tally.overall(), Status::Pass, "{:#?}", run.checks);
    assert!(graph > 0, "both mode reads the log");
    assert!(
        run.evidence
            .iter()
            .filter(|e| e.port == 443)
            .all(|e| e.proof == Proof::EntraLog)
    );
}

fn sipa(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sipa-check"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("AZURE_CLIENT_SECRET")
        .stdin(std::process::Stdio::null())
        .args(args)
        .output()
        .expect("sipa-check runs")
}

#[test]
fn lab_entra_mode_ca_from_the_command_line() {
    let clean = sipa(&[
        "lab",
        "--entra-mode",
        "ca",
        "--fault",
        "ca-blocks",
        "--json",
        "-",
    ]);
    let json = String::from_utf8_lossy(&clean.stdout);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert!(json.contains("\"entra-ca\""), "{json}");
    let broken = sipa(&[
        "lab",
        "--entra-mode",
        "ca",
        "--fault",
        "ca-blocks",
        "--fault",
        "one-domain-unanchored",
    ]);
    let text = String::from_utf8_lossy(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL  login.windows.net:443 entra sign-in (ipv4)"),
        "{text}"
    );
    assert!(text.contains(LAB_CA_POLICY_ID), "{text}");
    let bad = sipa(&["lab", "--entra-mode", "policy"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a mode"));
}
