//! Coverage counts what was decided, never what was planned: runs against the embedded lab in
//! which some observers never decide must end in error (or fail), never pass.

mod common;

use sipa_check::address::ConnectTo;
use sipa_check::guide::GuideStep;
use sipa_check::lab::Fault;
use sipa_check::outcome::{Outcome, ScenarioRun, Stage, Status};

/// `--connect-to HOST:PORT:nowhere.invalid:` (HOST empty for any host).
fn nowhere(from_host: Option<&str>, port: u16) -> ConnectTo {
    ConnectTo {
        from_host: from_host.map(str::to_string),
        from_port: Some(port),
        to_host: Some("nowhere.invalid".into()),
        to_port: None,
    }
}

/// `sipa-check lab` with `rules` given before the lab's own (the first match wins).
async fn run_with(faults: &[Fault], rules: Vec<ConnectTo>) -> ScenarioRun {
    let (lab, s, lab_rules) = common::start_lab(faults, false).await;
    let mut connect_to = rules;
    connect_to.extend(lab_rules);
    let run = common::run_quietly(&s, connect_to).await;
    lab.shutdown().await;
    run
}

fn named<'a>(run: &'a ScenarioRun, name: &str) -> &'a Outcome {
    run.checks
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| {
            let all: Vec<String> = run
                .checks
                .iter()
                .map(|o| format!("{} {:?}: {}", o.name, o.status, o.reason))
                .collect();
            panic!("no check {name:?} among {all:#?}")
        })
}

fn coverage_names(run: &ScenarioRun) -> Vec<&str> {
    let mut names: Vec<&str> = run
        .checks
        .iter()
        .filter(|o| o.name.ends_with("(coverage)"))
        .map(|o| o.name.as_str())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_80_sent_nowhere_is_an_error_not_a_pass() {
    let run = run_with(&[], vec![nowhere(None, 80)]).await;
    assert_eq!(run.tally.overall(), Status::Error, "{:#?}", run.tally);
    assert_eq!(run.tally.failed, 0);
    // Every port-80 egress check was never decided.
    for o in run
        .checks
        .iter()
        .filter(|o| o.stage == Stage::Egress && o.port == Some(80))
    {
        assert!(
            !matches!(o.status, Status::Pass | Status::Fail),
            "{} {:?}: {}",
            o.name,
            o.status,
            o.reason
        );
    }
    let port80 = named(&run, "port 80 egress anchored (coverage)");
    assert_eq!(port80.status, Status::Error);
    assert_eq!(port80.stage, Stage::Egress);
    assert!(
        port80
            .reason
            .starts_with("port 80: no anchored egress check was decided (4 errored: "),
        "{}",
        port80.reason
    );
    assert!(
        port80
            .reason
            .contains("nowhere.invalid has no ipv4 address to connect to"),
        "{}",
        port80.reason
    );
    let d = port80.diagnosis.as_ref().expect("a diagnosis");
    assert_eq!(d.guide_step, GuideStep::ConnectTo, "{}", d.likely_cause);
    // Port 80 is the only rule left undecided (port 443 decided every login host), bar the
    // control on 80, which the 443 control still decides.
    assert_eq!(coverage_names(&run), ["port 80 egress anchored (coverage)"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_that_was_never_probed_is_an_error() {
    let run = run_with(
        &[],
        vec![
            nowhere(Some("control.sipa-lab.test"), 80),
            nowhere(Some("control.sipa-lab.test"), 443),
        ],
    )
    .await;
    assert_eq!(run.tally.overall(), Status::Error);
    let control = named(&run, "non-login egress not anchored (coverage)");
    assert_eq!(control.status, Status::Error);
    assert_eq!(
        control.reason,
        "no control egress check was decided \
         (2 errored: nowhere.invalid has no ipv4 address to connect to)"
    );
    let d = control.diagnosis.as_ref().expect("a diagnosis");
    assert_eq!(d.guide_step, GuideStep::ConnectTo, "{}", d.likely_cause);
    assert_eq!(
        coverage_names(&run),
        ["non-login egress not anchored (coverage)"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_host_whose_echo_never_ran_is_not_covered() {
    // login.windows.net does not resolve: its own echo checks are skipped, while the other login
    // hosts and the canary decide both ports.
    let run = run_with(&[Fault::DnsNxdomain], vec![]).await;
    assert_eq!(run.tally.overall(), Status::Fail);
    for port in [80, 443] {
        let echo = named(
            &run,
            &format!("login.windows.net:{port} egress anchored (ipv4)"),
        );
        assert_eq!(echo.status, Status::Skip, "{}", echo.reason);
    }
    let host = named(&run, "login.windows.net egress (coverage)");
    assert_eq!(host.status, Status::Error);
    assert_eq!(host.stage, Stage::Egress);
    assert_eq!(
        host.reason,
        "login.windows.net: no egress check on it was decided \
         (2 skipped: not run: login.windows.net resolve (ipv4) did not pass)"
    );
    let d = host.diagnosis.as_ref().expect("a diagnosis");
    assert_eq!(d.guide_step, GuideStep::Dns);
    assert_eq!(
        d.likely_cause,
        "login.windows.net does not resolve from this vantage"
    );
    assert_eq!(
        coverage_names(&run),
        ["login.windows.net egress (coverage)"]
    );
}
