//! Evidence per login host against the embedded lab: the lab must never be kinder than a real
//! tenant. Without echoes on the login hosts (real ones echo nothing), a canary proves the
//! shared path only, every report says "path only", and `--require per-host` makes it an error.

mod common;

use sipa_check::lab::Fault;
use sipa_check::outcome::{Proof, ScenarioRun, Status};
use sipa_check::scenario::{self, Overrides, Require};

/// Runs `scenarios/lab-canary-only.toml` against a lab with `faults`, as `sipa-check lab` points
/// its own scenario at it.
async fn canary_only(faults: &[Fault], require: Require) -> ScenarioRun {
    let (lab, _, connect_to) = common::start_lab(faults, false).await;
    let mut s = scenario::load(std::path::Path::new("scenarios/lab-canary-only.toml"))
        .expect("the canary-only scenario loads");
    let (overrides, _) = sipa_check::cmd::lab::lab_overrides(&lab, faults, false);
    s.apply(&overrides).expect("lab overrides apply");
    s.apply(&Overrides {
        require: Some(require),
        ..Overrides::default()
    })
    .expect("--require applies");
    let run = common::run_quietly(&s, connect_to).await;
    lab.shutdown().await;
    run
}

fn proofs(run: &ScenarioRun) -> Vec<(String, u16, Proof)> {
    run.evidence
        .iter()
        .map(|e| (e.host.clone(), e.port, e.proof))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoes_on_the_login_hosts_prove_each_host() {
    let run = common::run_lab(&[], false, Overrides::default()).await;
    assert_eq!(run.tally.overall(), Status::Pass);
    assert_eq!(run.evidence.len(), 6, "{:?}", proofs(&run));
    assert!(
        run.evidence.iter().all(|e| e.proof == Proof::Echo),
        "{:?}",
        proofs(&run)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_only_run_passes_and_says_each_host_is_path_only() {
    let run = canary_only(&[], Require::Path).await;
    assert_eq!(
        run.tally.overall(),
        Status::Pass,
        "{:#?}",
        run.checks
            .iter()
            .filter(|o| o.status != Status::Pass)
            .collect::<Vec<_>>()
    );
    assert_eq!(run.evidence.len(), 6);
    assert!(
        run.evidence.iter().all(|e| e.proof == Proof::PathOnly),
        "{:?}",
        proofs(&run)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_missing_from_the_segment_is_invisible_to_a_canary_and_said_to_be_unproven() {
    // The segment lacks login.windows.net: a real tenant's canary cannot see that, and neither
    // may the lab's. The run passes on the path, and says login.windows.net is path only.
    let run = canary_only(&[Fault::OneDomainUnanchored], Require::Path).await;
    assert_eq!(run.tally.overall(), Status::Pass);
    assert!(
        run.evidence
            .iter()
            .filter(|e| e.host == "login.windows.net")
            .all(|e| e.proof == Proof::PathOnly),
        "{:?}",
        proofs(&run)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requiring_per_host_proof_makes_path_only_hosts_inconclusive() {
    let run = canary_only(&[], Require::PerHost).await;
    assert_eq!(run.tally.overall(), Status::Error);
    let unproven: Vec<_> = run
        .checks
        .iter()
        .filter(|o| o.name.contains("per-host evidence"))
        .collect();
    // Each login host on 443; port 80 carries only the redirect, which Entra never sees.
    let names: Vec<&str> = unproven.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "login.microsoftonline.com:443 per-host evidence (ipv4)",
            "login.windows.net:443 per-host evidence (ipv4)",
            "login.microsoft.com:443 per-host evidence (ipv4)",
        ]
    );
    for o in unproven {
        assert_eq!(o.status, Status::Error);
        assert_eq!(o.observed, "path only");
        let d = o.diagnosis.as_ref().expect("a diagnosis");
        assert_eq!(d.guide_step, sipa_check::guide::GuideStep::PerHostEvidence);
    }
    // The same scenario with echoes on the hosts satisfies the requirement.
    let run = common::run_lab(
        &[],
        false,
        Overrides {
            require: Some(Require::PerHost),
            ..Overrides::default()
        },
    )
    .await;
    assert_eq!(run.tally.overall(), Status::Pass);
}

#[test]
fn require_takes_path_or_per_host_on_the_command_line() {
    let sipa = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sipa-check"))
            .args(args)
            .output()
            .expect("sipa-check runs")
    };
    let base = ["run", "scenarios/lab-canary-only.toml", "--dry-run"];
    for ok in ["path", "per-host"] {
        let out = sipa(&[&base[..], &["--require", ok]].concat());
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = sipa(&[&base[..], &["--require", "every-host"]].concat());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("`every-host` is not a requirement: use \"path\" or \"per-host\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
