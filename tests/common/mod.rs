//! Shared by the integration tests: the bundled lab scenario run against an embedded lab.
// Each test crate uses its own part of this module.
#![allow(dead_code)]

pub mod cli;

use sipa_check::address::ConnectTo;
use sipa_check::cmd::lab::{lab_entra, lab_overrides};
use sipa_check::lab::{Fault, Lab, LabConfig};
use sipa_check::outcome::ScenarioRun;
use sipa_check::runner::{self, Quiet, RunSettings};
use sipa_check::scenario::{self, Overrides, Scenario};

/// Starts a lab with `faults`, runs `scenarios/lab.toml` against it as `sipa-check lab` does
/// (through the explicit proxy when asked, with `extra` flags on top), and stops the lab.
/// Faults in Entra (`Fault::needs_entra`) run `scenarios/lab-entra.toml` with the lab's app, as
/// `sipa-check lab` does.
pub async fn run_lab(faults: &[Fault], via_proxy: bool, extra: Overrides) -> ScenarioRun {
    if faults.iter().any(|f| f.needs_entra()) {
        return run_lab_entra(faults, via_proxy, extra).await;
    }
    let (lab, mut s, connect_to) = start_lab(faults, via_proxy).await;
    s.apply(&extra).expect("the extra flags apply");
    let run = run_quietly(&s, connect_to).await;
    lab.shutdown().await;
    run
}

/// `sipa-check lab --entra`: `scenarios/lab-entra.toml` against a lab with `faults`, each
/// login host also proven by the lab's sign-in log.
pub async fn run_lab_entra(faults: &[Fault], via_proxy: bool, extra: Overrides) -> ScenarioRun {
    let lab = Lab::start(LabConfig {
        faults: faults.to_vec(),
        ..LabConfig::default()
    })
    .await
    .expect("the lab starts");
    let run = run_entra_on(&lab, faults, via_proxy, extra).await;
    lab.shutdown().await;
    run
}

/// `scenarios/lab-entra.toml` against a running `lab`, as `sipa-check lab --entra` runs it.
pub async fn run_entra_on(
    lab: &Lab,
    faults: &[Fault],
    via_proxy: bool,
    extra: Overrides,
) -> ScenarioRun {
    let (mut s, access) = lab_entra(lab);
    let (overrides, connect_to) = lab_overrides(lab, faults, via_proxy);
    s.apply(&overrides).expect("lab overrides apply");
    s.apply(&extra).expect("the extra flags apply");
    let settings = RunSettings {
        connect_to,
        interrupt: runner::never(),
        progress: &Quiet,
        entra: Some(access),
    };
    runner::run_scenario(&s, settings)
        .await
        .expect("the run starts")
}

/// Starts a lab with `faults`, and points `scenarios/lab.toml` at it as `sipa-check lab` does
/// (through the explicit proxy when asked).
pub async fn start_lab(faults: &[Fault], via_proxy: bool) -> (Lab, Scenario, Vec<ConnectTo>) {
    let lab = Lab::start(LabConfig {
        faults: faults.to_vec(),
        ..LabConfig::default()
    })
    .await
    .expect("the lab starts");
    let mut s = scenario::bundled_lab();
    let (overrides, connect_to) = lab_overrides(&lab, faults, via_proxy);
    s.apply(&overrides).expect("lab overrides apply");
    (lab, s, connect_to)
}

/// Runs a scenario with no progress display and no interrupt.
pub async fn run_quietly(s: &Scenario, connect_to: Vec<ConnectTo>) -> ScenarioRun {
    let settings = RunSettings {
        connect_to,
        interrupt: runner::never(),
        progress: &Quiet,
        entra: None,
    };
    runner::run_scenario(s, settings)
        .await
        .expect("the run starts")
}

/// `sipa-check lab --places`: `scenarios/lab-places.toml` against a lab with `faults`, its
/// vantages (the office and the guest network, each bound to its place's address) run at
/// once; one run per vantage, in declaration order.
pub async fn run_lab_places(faults: &[Fault], extra: Overrides) -> Vec<ScenarioRun> {
    let lab = Lab::start(LabConfig {
        faults: faults.to_vec(),
        ..LabConfig::default()
    })
    .await
    .expect("the lab starts");
    let mut s = scenario::bundled_lab_places();
    let (overrides, connect_to) = lab_overrides(&lab, faults, false);
    s.apply(&overrides).expect("lab overrides apply");
    s.apply(&extra).expect("the extra flags apply");
    let vantages = s.per_vantage();
    let runs =
        futures::future::join_all(vantages.iter().map(|v| run_quietly(v, connect_to.clone())))
            .await;
    lab.shutdown().await;
    runs
}
