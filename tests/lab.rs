//! The harness against the embedded lab: passing, and failing with the right reason for each fault.

mod common;

use sipa_check::guide::GuideStep;
use sipa_check::lab::Fault;
use sipa_check::outcome::{Outcome, Route, ScenarioRun, Stage, Status};
use sipa_check::scenario::model::Family;

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
    // + 2 echo resolves; + a QUIC check per login host (UDP 443 is closed in the healthy lab:
    // blocked, a pass).
    assert_eq!(run.checks.len(), 3 * 2 + 3 * 2 * 2 + 3 + 10 + 2 + 3);
    let quic: Vec<&Outcome> = run
        .checks
        .iter()
        .filter(|o| o.stage == Stage::Quic)
        .collect();
    assert_eq!(quic.len(), 3);
    for o in quic {
        assert_eq!(o.status, Status::Pass, "{}: {}", o.name, o.reason);
        assert!(o.reason.contains("QUIC blocked"), "{}", o.reason);
    }
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
    assert!(run.checks.iter().all(|o| o.route == Some(Route::Proxy)
        || o.stage == Stage::Resolve
        || o.stage == Stage::Quic));
    assert!(run.vantage.proxy.is_some());
    // QUIC is tried straight from the vantage whatever its proxy (a browser the PAC file sends
    // DIRECT, or an app that ignores the proxy, goes that way): blocked in the healthy lab.
    let quic = quic_checks(&run);
    assert_eq!(quic.len(), 3);
    for (o, _) in quic {
        assert_eq!(o.route, Some(Route::Direct(Family::V4)), "{}", o.name);
        assert!(o.reason.contains("QUIC blocked"), "{}", o.reason);
    }
    assert_eq!(run.vantage.quic, None);
}

/// UDP 443 open beside an explicit proxy that anchors TCP: still a fail `quic-open` (Zscaler's
/// advice is to block QUIC), saying that browsers using the proxy do not take that way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_quic_beside_the_explicit_proxy_fails_and_says_who_goes_that_way() {
    let run = run_lab(&[Fault::QuicOpen], true).await;
    assert_eq!(run.tally.overall(), Status::Fail);
    let quic = quic_checks(&run);
    assert_eq!(quic.len(), 3);
    for (o, seen) in &quic {
        assert_eq!(o.status, Status::Fail, "{}: {}", o.name, o.reason);
        let d = o.diagnosis.as_ref().expect("a diagnosis");
        assert_eq!(d.cause, sipa_check::cause::Cause::QuicOpen);
        assert_eq!(seen["outcome"]["result"], "completed", "{seen}");
        assert!(
            o.warnings
                .iter()
                .any(|w| w.contains("send no QUIC") && w.contains("DIRECT")),
            "{:?}",
            o.warnings
        );
    }
    // The TCP path through the proxy is anchored as before: only the QUIC checks fail.
    assert!(
        run.checks
            .iter()
            .filter(|o| o.status != Status::Pass)
            .all(|o| o.stage == Stage::Quic)
    );
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

/// The QUIC checks of a lab run, each with its JSON observation.
fn quic_checks(run: &ScenarioRun) -> Vec<(&Outcome, serde_json::Value)> {
    run.checks
        .iter()
        .filter(|o| o.stage == Stage::Quic)
        .map(|o| (o, serde_json::to_value(&o.observation).expect("JSON")))
        .collect()
}

/// UDP 443 open beside the anchored TCP path (`quic-open`): every login host's QUIC handshake
/// completes, Alt-Svc offers h3, and no HTTP/3 echo proves QUIC anchored: fail `quic-open`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_quic_fails_naming_the_rule_that_blocks_it() {
    let run = run_lab(&[Fault::QuicOpen], false).await;
    assert_eq!(run.tally.overall(), Status::Fail);
    let quic = quic_checks(&run);
    assert_eq!(quic.len(), 3);
    for (o, seen) in &quic {
        assert_eq!(o.status, Status::Fail, "{}: {}", o.name, o.reason);
        let d = o.diagnosis.as_ref().expect("a diagnosis");
        assert_eq!(d.cause, sipa_check::cause::Cause::QuicOpen);
        assert_eq!(d.guide_step, GuideStep::BlockQuic);
        assert_eq!(seen["outcome"]["result"], "completed", "{seen}");
        assert_eq!(seen["outcome"]["alpn"], "h3", "{seen}");
        assert_eq!(
            seen["outcome"]["certificate"]["result"], "trusted",
            "{seen}"
        );
        assert_eq!(seen["offered"][0]["source"], "alt-svc", "{seen}");
        assert_eq!(seen["offered"][0]["h3"], true, "{seen}");
        // The lab's DNS HTTPS record offers h3 too while its QUIC listener is on.
        assert_eq!(seen["offered"][1]["source"], "https-record", "{seen}");
        assert_eq!(
            seen["offered"][1]["alpn"],
            serde_json::json!(["h3", "h2"]),
            "{seen}"
        );
        assert_eq!(seen["offered"][1]["h3"], true, "{seen}");
        assert!(
            o.observed
                .contains("DNS HTTPS record alpn h3,h2 (offers h3)"),
            "{}",
            o.observed
        );
        assert_eq!(seen["echoes"][0]["outcome"]["status"], 404, "{seen}");
    }
    // Only the QUIC checks fail: the TCP path is anchored as before.
    assert!(
        run.checks
            .iter()
            .filter(|o| o.status != Status::Pass)
            .all(|o| o.stage == Stage::Quic)
    );
}

/// UDP 443 open and the HTTP/3 canary answers with the client's own address: fail
/// `quic-unanchored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_leaving_outside_the_anchors_fails_quic_unanchored() {
    let run = run_lab(&[Fault::QuicOpenUnanchored], false).await;
    assert_eq!(run.tally.overall(), Status::Fail);
    for (o, seen) in quic_checks(&run) {
        assert_eq!(o.status, Status::Fail, "{}: {}", o.name, o.reason);
        let d = o.diagnosis.as_ref().expect("a diagnosis");
        assert_eq!(d.cause, sipa_check::cause::Cause::QuicUnanchored);
        assert_eq!(seen["echoes"][0]["outcome"]["ip"], "127.0.0.1", "{seen}");
    }
}

/// UDP 443 open, and the HTTP/3 canary shows the App Connector: QUIC is anchored too, a pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_anchored_through_the_http3_canary_passes() {
    let (lab, s, connect_to) = common::start_lab(&[Fault::QuicOpen], false).await;
    assert!(lab.set_quic_egress(sipa_check::lab::QuicEgress::Anchored));
    let run = common::run_quietly(&s, connect_to).await;
    lab.shutdown().await;
    assert_all_pass(&run);
    let quic = quic_checks(&run);
    assert_eq!(quic.len(), 3);
    for (o, seen) in quic {
        assert!(o.reason.contains("anchored too"), "{}", o.reason);
        assert_eq!(seen["outcome"]["result"], "completed", "{seen}");
        assert_eq!(seen["echoes"][0]["outcome"]["ip"], "127.0.0.2", "{seen}");
    }
}

/// The QUIC probes run beside the TCP probes, not after them: with UDP 443 dropped without a
/// word (no ICMP: only waiting says "blocked") and a slow WAN on the TCP path, the run lasts
/// about the longer of the two, well under their sum. And silence is waited out for
/// `QUIC_ANSWER_WAIT` (2 s: a browser has long raced to TCP by then), not the probe's timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_probes_run_beside_the_tcp_probes() {
    use std::time::{Duration, Instant};
    let latency = Duration::from_millis(400);
    let timeout = Duration::from_secs(5);
    let wait = sipa_check::observation::QUIC_ANSWER_WAIT;
    let lab = sipa_check::lab::Lab::start(sipa_check::lab::LabConfig {
        faults: Vec::new(),
        latency,
    })
    .await
    .expect("the lab starts");
    // A firewall that drops UDP 443 silently: a socket on the HTTPS door's port that never
    // answers, so the kernel sends no ICMP either.
    let _silent =
        std::net::UdpSocket::bind(("127.0.0.1", lab.transparent_https_addr().port())).unwrap();
    let mut s = sipa_check::scenario::bundled_lab();
    let (overrides, connect_to) = sipa_check::cmd::lab::lab_overrides(&lab, &[], false);
    s.apply(&overrides).unwrap();
    s.apply(&sipa_check::scenario::Overrides {
        timeout: Some(timeout),
        ..Default::default()
    })
    .unwrap();
    let started = Instant::now();
    let run = common::run_quietly(&s, connect_to).await;
    let took = started.elapsed();
    lab.shutdown().await;
    assert_all_pass(&run);
    let slowest_tcp = run
        .checks
        .iter()
        .filter(|o| o.stage != Stage::Quic)
        .map(|o| o.elapsed)
        .max()
        .unwrap();
    for (o, seen) in quic_checks(&run) {
        assert_eq!(seen["outcome"]["by"], "no_answer", "{}: {seen}", o.name);
        assert!(o.elapsed >= wait, "{}: {:?}", o.name, o.elapsed);
        assert!(o.elapsed < timeout, "{}: waited {:?}", o.name, o.elapsed);
    }
    // The TCP path alone waits through resolve, TLS and HTTP delays (4 × 400 ms); after it, the
    // QUIC wait would add 2 s more.
    assert!(slowest_tcp >= latency * 3, "{slowest_tcp:?}");
    assert!(
        took < slowest_tcp + wait - Duration::from_millis(500),
        "the run took {took:?}: QUIC ({wait:?}) ran after the TCP probes ({slowest_tcp:?})"
    );
}
