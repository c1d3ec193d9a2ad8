//! `[entra] mode = "ca"`: the token answer through each login host is the verdict, at once,
//! with no Graph: the lab's `ca-blocks` fault is the workload-identity Conditional Access policy
//! that blocks the probe app outside the trusted location. Loopback only.

use std::sync::Arc;

use sipa_check::cmd::lab::{from_both_places, lab_entra, lab_overrides};
use sipa_check::entra::ClientAuth;
use sipa_check::guide::GuideStep;
use sipa_check::lab::{Fault, GraphTraffic, LAB_CA_POLICY_ID, Lab, LabConfig};
use sipa_check::observation::CaPolicyProof;
use sipa_check::outcome::{Outcome, Proof, ScenarioRun, Stage, Status};
use sipa_check::runner::{self, Quiet, RunSettings};
use sipa_check::scenario::model::{EntraMode, Secret};

/// `scenarios/lab-entra.toml` in `mode` against a lab with `faults`, with the lab's app (or
/// a wrong secret); and how many requests the lab's Graph answered.
async fn run_in(mode: EntraMode, faults: &[Fault], secret: Option<&str>) -> (ScenarioRun, u64) {
    let (mut runs, graph) = run_from(mode, faults, secret, Places::Office).await;
    (runs.remove(0), graph.requests)
}

/// Where the lab scenario runs from.
#[derive(Clone, Copy, PartialEq)]
enum Places {
    /// The one vantage of `scenarios/lab-entra.toml` (anchored).
    Office,
    /// The guest network alone (not anchored, `expect_anchored = false`).
    Guest,
    /// The trusted office and the guest network at once.
    Both,
}

/// As [`run_in`], from `places`, one run each, judged together; and the lab Graph's traffic.
async fn run_from(
    mode: EntraMode,
    faults: &[Fault],
    secret: Option<&str>,
    places: Places,
) -> (Vec<ScenarioRun>, GraphTraffic) {
    let lab = Lab::start(LabConfig {
        faults: faults.to_vec(),
        ..LabConfig::default()
    })
    .await
    .expect("the lab starts");
    let (mut s, mut access) = lab_entra(&lab);
    s.entra.as_mut().expect("[entra]").mode = mode;
    if places != Places::Office {
        from_both_places(&mut s);
    }
    if places == Places::Guest {
        s.vantage = s.more_vantages.pop().expect("the guest network");
        s.more_vantages.clear();
        assert!(!s.vantage.expect_anchored);
    }
    if let Some(secret) = secret {
        let mut credentials = (*access.credentials).clone();
        credentials.auth = ClientAuth::Secret(Secret::new(secret));
        access.credentials = Arc::new(credentials);
    }
    let (overrides, connect_to) = lab_overrides(&lab, faults, false);
    s.apply(&overrides).expect("lab overrides apply");
    let vantages = s.per_vantage();
    let mut runs = Vec::new();
    for v in &vantages {
        let settings = RunSettings {
            connect_to: connect_to.clone(),
            interrupt: runner::never(),
            progress: &Quiet,
            entra: Some(access.clone()),
        };
        let prepared = runner::prepare(v, connect_to.clone()).expect("the set-up");
        runs.push((v, settings, prepared));
    }
    let runs: Vec<ScenarioRun> = runner::run_vantages(runs)
        .await
        .into_iter()
        .map(|r| r.expect("the run starts"))
        .collect();
    let graph = lab.graph_traffic();
    lab.shutdown().await;
    (runs, graph)
}

fn sign_ins(run: &ScenarioRun) -> Vec<&Outcome> {
    run.checks
        .iter()
        .filter(|o| o.stage == Stage::Entra && o.name.contains("entra sign-in"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_mode_from_both_places_with_the_policy_passes_proven_by_the_guests_refusal() {
    let (runs, graph) = run_from(EntraMode::Ca, &[Fault::CaBlocks], None, Places::Both).await;
    let [office, guest] = &runs[..] else {
        panic!("two runs: {runs:#?}")
    };
    assert_eq!(office.vantage.name, "office");
    assert_eq!(guest.tally.overall(), Status::Pass, "{:#?}", guest.checks);
    assert_eq!(office.tally.overall(), Status::Pass, "{:#?}", office.checks);
    assert_eq!(sign_ins(office).len(), 3);
    for o in sign_ins(office) {
        assert_eq!(o.status, Status::Pass, "{}: {}", o.name, o.reason);
        assert!(
            o.reason.contains("vantage `guest`") && o.reason.contains(LAB_CA_POLICY_ID),
            "the pass names what showed the policy biting: {}",
            o.reason
        );
    }
    for o in sign_ins(guest) {
        assert_eq!(o.status, Status::Pass, "{}: {}", o.name, o.reason);
        assert!(o.reason.contains("blocked"), "{}", o.reason);
    }
    assert!(
        office
            .checks
            .iter()
            .all(|o| !o.name.contains("named locations")),
        "no Graph check in ca mode"
    );
    assert_eq!(graph.requests, 0, "ca mode reads no Graph");
    assert!(office.pending_sign_ins.is_empty());
    let proof = office.entra.as_ref().and_then(|e| e.ca_policy.as_ref());
    assert!(
        matches!(proof, Some(CaPolicyProof::Control { vantage, .. }) if vantage == "guest"),
        "the report keeps what proved the policy: {proof:?}"
    );
    for e in &office.evidence {
        let want = if e.port == 443 {
            Proof::EntraCa
        } else {
            Proof::PathOnly
        };
        assert_eq!(e.proof, want, "{}:{}", e.host, e.port);
    }
}

/// From one place nothing shows that a policy refuses untrusted locations: an issued token
/// is then no evidence, the checks are errors (exit 3), the evidence says so, and nothing
/// claims that Conditional Access saw a trusted location.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_mode_from_one_place_is_never_a_pass_the_policy_unverified() {
    let (run, _) = run_in(EntraMode::Ca, &[Fault::CaBlocks], None).await;
    assert_eq!(run.tally.overall(), Status::Error, "{:#?}", run.checks);
    for o in sign_ins(&run) {
        assert_eq!(o.status, Status::Error, "{}: {}", o.name, o.reason);
        assert!(o.reason.contains("policy unverified"), "{}", o.reason);
        assert!(!o.reason.contains("saw a trusted"), "{}", o.reason);
        assert_eq!(
            o.diagnosis.as_ref().map(|d| d.guide_step),
            Some(GuideStep::CaPolicy)
        );
    }
    assert!(run.entra.as_ref().is_some_and(|e| e.ca_policy.is_none()));
    for e in run.evidence.iter().filter(|e| e.port == 443) {
        assert_eq!(e.proof, Proof::EntraCaUnverified, "{}", e.host);
    }
}

/// The case reported: `mode = "ca"`, no Conditional Access policy behind it (the lab issues
/// every token), and login.windows.net missing from the segment. From one place it is
/// undecided, from both places the guest's issued token fails: never a pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_mode_without_a_policy_and_a_host_unanchored_is_never_a_pass() {
    let (run, _) = run_in(EntraMode::Ca, &[Fault::OneDomainUnanchored], None).await;
    assert_eq!(run.tally.overall(), Status::Error, "{:#?}", run.checks);
    assert!(
        sign_ins(&run).iter().all(|o| o.status == Status::Error),
        "{:#?}",
        sign_ins(&run)
    );
    let (runs, _) = run_from(
        EntraMode::Ca,
        &[Fault::OneDomainUnanchored],
        None,
        Places::Both,
    )
    .await;
    let [office, guest] = &runs[..] else {
        panic!("two runs")
    };
    assert_eq!(guest.tally.overall(), Status::Fail, "{:#?}", guest.checks);
    assert!(
        sign_ins(guest).iter().all(
            |o| o.status == Status::Fail && o.reason.contains("no policy blocks the probe app")
        ),
        "{:#?}",
        sign_ins(guest)
    );
    assert!(
        sign_ins(office).iter().all(|o| o.status == Status::Error),
        "{:#?}",
        sign_ins(office)
    );
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

/// The README's policy targets the probe app and blocks it outside the trusted locations, on
/// Graph's token endpoint too (the lab's does, under `ca-blocks`): Graph is read with the token
/// issued through the anchored path, never asked for on Graph's own route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_mode_with_the_policy_passes_proven_by_the_log() {
    let (runs, graph) = run_from(EntraMode::Both, &[Fault::CaBlocks], None, Places::Both).await;
    for run in &runs {
        assert_eq!(run.tally.overall(), Status::Pass, "{:#?}", run.checks);
    }
    assert!(
        graph.sign_in_queries > 0,
        "both mode reads the log: {graph:?}"
    );
    assert_eq!(
        graph.token_requests, 0,
        "Graph is read with the token issued through the path under test: {graph:?}"
    );
    assert!(
        runs[0]
            .evidence
            .iter()
            .filter(|e| e.port == 443)
            .all(|e| e.proof == Proof::EntraLog)
    );
    // From one place too: its own token opens Graph.
    let (run, _) = run_in(EntraMode::Both, &[Fault::CaBlocks], None).await;
    assert_eq!(run.tally.overall(), Status::Pass, "{:#?}", run.checks);
}

/// With no token issued through any path under test (every request from outside the trusted
/// locations), Graph's own route is refused by the same policy: every Graph check says that
/// first, and none asks for a permission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_token_refused_by_conditional_access_is_named_as_such() {
    let (runs, graph) = run_from(EntraMode::Both, &[Fault::CaBlocks], None, Places::Guest).await;
    assert!(graph.token_requests > 0, "{graph:?}");
    let run = &runs[0];
    let graph_checks: Vec<&Outcome> = run
        .checks
        .iter()
        .filter(|o| o.name.starts_with("graph."))
        .collect();
    assert!(!graph_checks.is_empty(), "{:#?}", run.checks);
    for o in graph_checks {
        assert_eq!(o.status, Status::Error, "{}: {}", o.name, o.reason);
        let d = o.diagnosis.as_ref().expect("a diagnosis");
        assert!(
            d.likely_cause
                .starts_with("Conditional Access refused the probe app's Graph token")
                && d.likely_cause.contains(LAB_CA_POLICY_ID),
            "{}: {}",
            o.name,
            d.likely_cause
        );
        assert_eq!(d.guide_step, GuideStep::GraphRoute);
    }
    for o in &run.checks {
        if let Some(d) = &o.diagnosis {
            assert!(
                !d.likely_cause.contains("Read.All"),
                "no permission is blamed: {}: {}",
                o.name,
                d.likely_cause
            );
        }
    }
}

/// A wrong secret: Entra refuses the Graph token too, and the headline says so instead of
/// asking for Policy.Read.All or Application.Read.All.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_token_refused_for_its_secret_is_named_as_such() {
    let (runs, _) = run_from(
        EntraMode::Log,
        &[],
        Some("not-the-lab-secret"),
        Places::Office,
    )
    .await;
    let run = &runs[0];
    assert_eq!(run.tally.overall(), Status::Error, "{:#?}", run.checks);
    let named = run
        .checks
        .iter()
        .find(|o| o.name.ends_with("entra named locations"))
        .expect("the named locations check");
    let d = named.diagnosis.as_ref().expect("a diagnosis");
    assert!(
        d.likely_cause
            .starts_with("Entra refused the probe app's Graph token")
            && d.likely_cause.contains("invalid client secret"),
        "{}",
        d.likely_cause
    );
    assert_eq!(d.guide_step, GuideStep::EntraApp);
    for o in &run.checks {
        if let Some(d) = &o.diagnosis {
            assert!(
                !d.likely_cause.contains("Read.All"),
                "{}: {}",
                o.name,
                d.likely_cause
            );
        }
    }
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

/// Graph's 403 to the sign-in lookup: its URL (hundreds of characters of `$filter`) is printed
/// once, shortened, under the one problem it explains, and the headline names the read.
#[test]
fn graph_403_prints_its_url_once_shortened() {
    let out = sipa(&["lab", "--fault", "graph-403"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert_eq!(
        text.matches("auditLogs/signIns").count(),
        1,
        "the lookup's URL once: {text}"
    );
    assert!(!text.contains("$filter"), "shortened: {text}");
    assert!(
        text.contains("Graph refused to let the probe app read the sign-in log"),
        "{text}"
    );
    assert!(text.lines().all(|l| l.chars().count() < 400), "{text}");
}
