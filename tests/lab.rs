//! The harness against the embedded lab: passing, and failing with the right reason for each fault.

mod common;

use sipa_check::guide::GuideStep;
use sipa_check::lab::Fault;
use sipa_check::outcome::{Outcome, Route, ScenarioRun, Stage, Status};

async fn run_lab(faults: &[Fault], via_proxy: bool) -> ScenarioRun {
    common::run_lab(faults, via_proxy, Default::default()).await
}

fn with_status(run: &ScenarioRun, status: Status) -> Vec<&Outcome> {
    run.checks.iter().filter(|o| o.status == status).collect()
}

fn names(outcomes: &[&Outcome]) -> Vec<String> {
    let mut n: Vec<String> = outcomes.iter().map(|o| o.name.clone()).collect();
    n.sort();
    n
}

fn assert_all_pass(run: &ScenarioRun) {
    let not_passed: Vec<String> = run
        .checks
        .iter()
        .filter(|o| o.status != Status::Pass)
        .map(|o| format!("{} {:?}: {} / {}", o.name, o.status, o.reason, o.observed))
        .collect();
    assert!(not_passed.is_empty(), "{not_passed:#?}");
    assert_eq!(run.tally.overall(), Status::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_healthy_lab_passes_through_the_transparent_gateway() {
    let run = run_lab(&[], false).await;
    assert_all_pass(&run);
    // 3 hosts: resolve and https record; × 2 ports: connect + http, + tls on 443; 10 observers;
    // + 2 echo resolves.
    assert_eq!(run.checks.len(), 3 * 2 + 3 * 2 * 2 + 3 + 10 + 2);
    assert!(
        run.checks
            .iter()
            .any(|o| o.name == "login.windows.net:443 egress anchored (ipv4)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_healthy_lab_passes_through_the_explicit_proxy() {
    let run = run_lab(&[], true).await;
    assert_all_pass(&run);
    assert!(
        run.checks
            .iter()
            .all(|o| o.route == Some(Route::Proxy) || o.stage == Stage::Resolve)
    );
    assert!(run.vantage.proxy.is_some());
}

/// Every failing check is an anchored egress check of `hosts` × `ports`, with `step` as its guide step.
fn assert_anchoring_failures(run: &ScenarioRun, expected: &[&str], step: GuideStep, cause: &str) {
    let failed = with_status(run, Status::Fail);
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(names(&failed), want);
    for f in &failed {
        assert_eq!(f.stage, Stage::Egress);
        let d = f
            .diagnosis
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no diagnosis", f.name));
        assert_eq!(d.guide_step, step, "{}", f.name);
        assert!(
            d.likely_cause.contains(cause),
            "{}: {}",
            f.name,
            d.likely_cause
        );
        assert!(!f.expected.is_empty() && !f.observed.is_empty());
    }
    assert!(
        with_status(run, Status::Error).is_empty(),
        "{:#?}",
        names(&with_status(run, Status::Error))
    );
    assert_eq!(run.tally.overall(), Status::Fail);
}

const ANCHORED: [&str; 8] = [
    "login.microsoftonline.com:80 egress anchored (ipv4)",
    "login.microsoftonline.com:443 egress anchored (ipv4)",
    "login.windows.net:80 egress anchored (ipv4)",
    "login.windows.net:443 egress anchored (ipv4)",
    "login.microsoft.com:80 egress anchored (ipv4)",
    "login.microsoft.com:443 egress anchored (ipv4)",
    "canary.sipa-lab.test:80 egress anchored (ipv4)",
    "canary.sipa-lab.test:443 egress anchored (ipv4)",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_domain_unanchored_names_the_domain() {
    let run = run_lab(&[Fault::OneDomainUnanchored], false).await;
    assert_anchoring_failures(
        &run,
        &ANCHORED[2..4],
        GuideStep::SegmentDomains,
        "the application segment probably lacks login.windows.net",
    );
    let f = with_status(&run, Status::Fail)[0];
    assert!(
        f.reason
            .contains("left from 127.0.0.3, outside the anchor set"),
        "{}",
        f.reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port80_unanchored_names_the_port_ranges() {
    let port80: Vec<&str> = ANCHORED
        .iter()
        .copied()
        .filter(|n| n.contains(":80 "))
        .collect();
    let run = run_lab(&[Fault::Port80Unanchored], false).await;
    assert_anchoring_failures(
        &run,
        &port80,
        GuideStep::SegmentPorts,
        "TCP port ranges probably lack 80",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_anchored_names_the_forwarding_rule() {
    let run = run_lab(&[Fault::NothingAnchored], false).await;
    assert_anchoring_failures(
        &run,
        &ANCHORED,
        GuideStep::ForwardingRule,
        "nothing is anchored",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_connector_names_the_server_group() {
    let run = run_lab(&[Fault::WrongConnector], false).await;
    assert_anchoring_failures(
        &run,
        &ANCHORED,
        GuideStep::ServerGroup,
        "outside the expected App Connector IPs",
    );
    assert!(
        with_status(&run, Status::Fail)[0]
            .observed
            .contains("127.0.0.4")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_anchoring_fails_the_controls() {
    let run = run_lab(&[Fault::OverAnchored], false).await;
    let failed = with_status(&run, Status::Fail);
    assert_eq!(
        names(&failed),
        [
            "control.sipa-lab.test:443 egress not anchored (ipv4)",
            "control.sipa-lab.test:80 egress not anchored (ipv4)"
        ]
    );
    for f in failed {
        assert_eq!(
            f.diagnosis.as_ref().unwrap().guide_step,
            GuideStep::TooBroad
        );
        assert!(
            f.reason.contains("127.0.0.2, inside the anchor set"),
            "{}",
            f.reason
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_through_the_proxy_fail_the_same_way() {
    let run = run_lab(&[Fault::OneDomainUnanchored], true).await;
    let failed = with_status(&run, Status::Fail);
    assert_eq!(
        names(&failed),
        [
            "login.windows.net:443 egress anchored (proxy)",
            "login.windows.net:80 egress anchored (proxy)"
        ]
    );
}
