//! Conditional Access What If in a whole run: `scenarios/lab-entra.toml` against the embedded
//! lab, whose What If follows its Conditional Access emulation (trusted location = the anchor).
//! Anchoring must change Conditional Access's decision; when it changes nothing the check
//! fails, and when What If cannot be asked it is an error, never a pass. Loopback only.

use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

use sipa_check::guide::GuideStep;
use sipa_check::lab::{
    EntraLabConfig, Fault, LAB_CA_POLICY_ID, LAB_CLIENT_ID, LAB_CLIENT_SECRET,
    LAB_SERVICE_PRINCIPAL_ID, Lab, LabConfig, WhatIfShape,
};
use sipa_check::outcome::{Outcome, Route, RunReport, ScenarioRun, Stage, Status};
use sipa_check::scenario::model::{EntraMode, ObserverRole};
use sipa_check::scenario::{Overrides, Scenario};

const WHAT_IF: &str = "graph.sipa-lab.test entra conditional access what-if";

fn what_if(run: &ScenarioRun) -> &Outcome {
    run.checks
        .iter()
        .find(|o| o.name == WHAT_IF)
        .unwrap_or_else(|| {
            let names: Vec<&str> = run.checks.iter().map(|o| o.name.as_str()).collect();
            panic!("no check {WHAT_IF} among {names:#?}")
        })
}

/// The check's observation as the JSON report has it.
fn observation(o: &Outcome) -> serde_json::Value {
    serde_json::to_value(&o.observation).expect("the observation serializes")
}

/// `scenarios/lab-entra.toml`, changed by `edit`, against a lab with `faults`.
async fn run_edited(faults: &[Fault], edit: impl FnOnce(&mut Scenario)) -> (ScenarioRun, Lab) {
    let lab = Lab::start(LabConfig {
        faults: faults.to_vec(),
        ..LabConfig::default()
    })
    .await
    .expect("the lab starts");
    let (mut s, access) = sipa_check::cmd::lab::lab_entra(&lab);
    let (overrides, connect_to) = sipa_check::cmd::lab::lab_overrides(&lab, faults, false);
    s.apply(&overrides).expect("lab overrides apply");
    edit(&mut s);
    let settings = sipa_check::runner::RunSettings {
        connect_to,
        interrupt: sipa_check::runner::never(),
        progress: &sipa_check::runner::Quiet,
        entra: Some(access),
    };
    let run = sipa_check::runner::run_scenario(&s, settings)
        .await
        .expect("the run starts");
    (run, lab)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clean_lab_passes_as_anchoring_changes_conditional_access() {
    let run = common::run_lab_entra(&[], false, Overrides::default()).await;
    assert_eq!(run.tally.overall(), Status::Pass, "{:#?}", run.checks);
    let o = what_if(&run);
    assert_eq!(o.status, Status::Pass, "{}", o.reason);
    assert_eq!(o.stage, Stage::Entra);
    assert!(
        o.reason.contains(
            "\"SIPA probe: block outside trusted locations\" [report-only] applies from the control's 127.0.0.3, not from the anchor 127.0.0.2 (location)"
        ),
        "{}",
        o.reason
    );
    // Without `ca-blocks` the lab's policy is report-only (its login servers issue tokens
    // from anywhere): a pass, with a warning that nothing is enforced yet.
    assert_eq!(o.warnings.len(), 1, "{:?}", o.warnings);
    assert!(o.warnings[0].contains("report-only"), "{:?}", o.warnings);
    // The difference, and both sides, are in the evidence and the JSON.
    assert!(o.observed.contains("difference: "), "{}", o.observed);
    assert!(
        o.observed.contains("\"Require MFA for all users\" (users)"),
        "{}",
        o.observed
    );
    let json = observation(o);
    assert_eq!(json["kind"], "what_if");
    assert_eq!(json["result"], "evaluated");
    // The subject is the app id, as Microsoft documents servicePrincipalSignIn, asked on
    // v1.0 first: the lab refuses the object id there, as Graph does.
    assert_eq!(json["service_principal_id"], LAB_CLIENT_ID);
    assert_eq!(json["subject_from"], "client_id");
    assert_eq!(json["anchors"][0]["answer"]["asked"], "v1.0 documented");
    assert_eq!(json["controls"][0]["answer"]["asked"], "v1.0 documented");
    assert_eq!(
        json["resource_app_id"],
        "00000003-0000-0000-c000-000000000000"
    );
    assert_eq!(json["anchors"][0]["ip"], "127.0.0.2");
    assert_eq!(json["anchors"][0]["source"]["source"], "anchor");
    assert_eq!(json["anchors"][0]["source"]["anchor"], "127.0.0.2/32");
    assert_eq!(json["controls"][0]["ip"], "127.0.0.3");
    assert_eq!(json["controls"][0]["source"]["source"], "control");
    let policy = &json["anchors"][0]["answer"]["policies"][0];
    assert_eq!(policy["id"], LAB_CA_POLICY_ID);
    assert_eq!(policy["applies"], false);
    assert_eq!(policy["analysis_reasons"], "location");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_only_the_older_shape_answers_the_object_id_comes_from_graph_or_the_sign_in_log() {
    for (service_principals, from) in [(true, "graph"), (false, "sign_in_log")] {
        let lab = Lab::start_with(
            LabConfig::default(),
            EntraLabConfig {
                what_if: WhatIfShape::Older,
                service_principals,
                ..EntraLabConfig::default()
            },
        )
        .await
        .expect("the lab starts");
        let run = common::run_entra_on(&lab, &[], false, Overrides::default()).await;
        lab.shutdown().await;
        let o = what_if(&run);
        assert_eq!(o.status, Status::Pass, "{}", o.reason);
        let json = observation(o);
        assert_eq!(json["service_principal_id"], LAB_SERVICE_PRINCIPAL_ID);
        assert_eq!(json["subject_from"], from);
        assert_eq!(
            json["anchors"][0]["answer"]["asked"],
            "beta conditionalAccessWhatIfSubject"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_request_needs_no_service_principal_lookup() {
    // Graph names no service principal (no Application.Read.All): the documented request
    // takes the app id, so What If still answers, and nothing is looked up.
    let lab = Lab::start_with(
        LabConfig::default(),
        EntraLabConfig {
            service_principals: false,
            ..EntraLabConfig::default()
        },
    )
    .await
    .expect("the lab starts");
    let run = common::run_entra_on(&lab, &[], false, Overrides::default()).await;
    lab.shutdown().await;
    let o = what_if(&run);
    assert_eq!(o.status, Status::Pass, "{}", o.reason);
    let json = observation(o);
    assert_eq!(json["service_principal_id"], LAB_CLIENT_ID);
    assert_eq!(json["subject_from"], "client_id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enforced_policy_passes_without_a_warning() {
    let run = common::run_lab_entra(&[Fault::CaBlocks], false, Overrides::default()).await;
    assert_eq!(run.tally.overall(), Status::Pass, "{:#?}", run.checks);
    let o = what_if(&run);
    assert_eq!(o.status, Status::Pass, "{}", o.reason);
    assert!(o.warnings.is_empty(), "{:?}", o.warnings);
    assert!(!o.reason.contains("report-only"), "{}", o.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_that_ignores_location_fails_anchoring_buys_no_trust() {
    let run =
        common::run_lab_entra(&[Fault::WhatIfNoDifference], false, Overrides::default()).await;
    assert_eq!(run.tally.overall(), Status::Fail, "{:#?}", run.checks);
    let o = what_if(&run);
    assert_eq!(o.status, Status::Fail, "{}", o.reason);
    assert_eq!(
        o.reason,
        "anchoring buys no trust: Conditional Access decides the same for the App Connector IP 127.0.0.2 as for the ZIA egress 127.0.0.3"
    );
    let d = o.diagnosis.as_ref().expect("a diagnosis");
    assert_eq!(d.guide_step, GuideStep::TrustedLocation);
    assert!(
        d.likely_cause.contains("location condition"),
        "{}",
        d.likely_cause
    );
    // Both sides are shown: the policy applies from each.
    assert!(
        o.observed.contains(
            "from anchor 127.0.0.2 (anchor set): applies \"SIPA probe: block outside trusted locations\""
        ),
        "{}",
        o.observed
    );
    // Only the What If check fails: the path and the sign-ins are fine.
    let failed: Vec<&str> = run
        .checks
        .iter()
        .filter(|o| o.status != Status::Pass)
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(failed, [WHAT_IF]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_403_makes_what_if_an_error_naming_the_permissions() {
    // The documented request needs no service principal lookup: What If itself answers 403,
    // and the error names what What If needs (Policy.Read.All), not Application.Read.All.
    let run = common::run_lab_entra(&[Fault::GraphForbidden], false, Overrides::default()).await;
    let o = what_if(&run);
    assert_eq!(o.status, Status::Error, "{}", o.reason);
    assert!(
        o.reason.starts_with("What If for a sign-in from 127.0.0.2"),
        "{}",
        o.reason
    );
    assert!(o.reason.contains("403"), "{}", o.reason);
    let d = o.diagnosis.as_ref().unwrap();
    assert_eq!(d.guide_step, GuideStep::EntraApp);
    assert!(
        d.likely_cause.contains("Policy.Read.All"),
        "{}",
        d.likely_cause
    );
    assert!(
        !d.likely_cause.contains("Application.Read.All"),
        "{}",
        d.likely_cause
    );
    // The same with the service principal given in the scenario.
    let (run, lab) = run_edited(&[Fault::GraphForbidden], |s| {
        s.entra.as_mut().unwrap().what_if_service_principal_id =
            Some(LAB_SERVICE_PRINCIPAL_ID.to_owned());
    })
    .await;
    lab.shutdown().await;
    let o = what_if(&run);
    assert_eq!(o.status, Status::Error, "{}", o.reason);
    assert!(
        o.reason.starts_with("What If for a sign-in from 127.0.0.2"),
        "{}",
        o.reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_control_ip_it_is_an_error_unless_one_is_configured() {
    let no_controls = |s: &mut Scenario| s.observers.retain(|o| o.role != ObserverRole::Control);
    let (run, lab) = run_edited(&[], no_controls).await;
    lab.shutdown().await;
    let o = what_if(&run);
    assert_eq!(o.status, Status::Error, "{}", o.reason);
    assert!(o.reason.contains("what_if_control_ip"), "{}", o.reason);
    assert_ne!(run.tally.overall(), Status::Pass);
    let (run, lab) = run_edited(&[], |s| {
        no_controls(s);
        s.entra.as_mut().unwrap().what_if_control_ip = Some(IpAddr::from([127, 0, 0, 3]));
    })
    .await;
    lab.shutdown().await;
    let o = what_if(&run);
    assert_eq!(o.status, Status::Pass, "{}", o.reason);
    assert_eq!(
        observation(o)["controls"][0]["source"]["source"],
        "configured"
    );
    assert!(
        o.observed
            .contains("from control 127.0.0.3 ([entra] what_if_control_ip)"),
        "{}",
        o.observed
    );
}

/// One vantage in `ca` mode: nothing shows the policy biting, so each issued token is an
/// error (policy unverified) and every other check passes.
fn only_the_unverified_policy_is_undecided(run: &ScenarioRun) {
    assert_eq!(run.tally.overall(), Status::Error, "{:#?}", run.checks);
    for o in run.checks.iter().filter(|o| o.status != Status::Pass) {
        assert!(
            o.status == Status::Error
                && o.name.contains("entra sign-in")
                && o.reason.contains("policy unverified"),
            "{}: {:?} {}",
            o.name,
            o.status,
            o.reason
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_mode_asks_what_if_only_when_told() {
    let ca = |s: &mut Scenario| s.entra.as_mut().unwrap().mode = EntraMode::Ca;
    let (run, lab) = run_edited(&[Fault::CaBlocks], ca).await;
    let traffic = lab.graph_traffic();
    lab.shutdown().await;
    only_the_unverified_policy_is_undecided(&run);
    assert!(run.checks.iter().all(|o| o.name != WHAT_IF));
    assert_eq!(
        traffic.requests, 0,
        "ca mode never contacts Graph: {traffic:?}"
    );
    let (run, lab) = run_edited(&[Fault::CaBlocks], |s| {
        ca(s);
        s.entra.as_mut().unwrap().what_if = Some(true);
    })
    .await;
    let traffic = lab.graph_traffic();
    lab.shutdown().await;
    only_the_unverified_policy_is_undecided(&run);
    assert_eq!(what_if(&run).status, Status::Pass);
    assert!(traffic.requests > 0, "{traffic:?}");
    assert_eq!(
        traffic.sign_in_queries, 0,
        "ca mode reads no sign-in log, even with What If: {traffic:?}"
    );
    assert!(
        run.checks
            .iter()
            .all(|o| !o.name.contains("named locations"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_run_opens_at_most_two_connections_to_graph() {
    // A slow Graph, and nine anchors to evaluate beside the control, the sign-in log and the
    // named locations: everything the run asks Graph shares two connections.
    let lab = Lab::start(LabConfig {
        latency: Duration::from_millis(100),
        ..LabConfig::default()
    })
    .await
    .expect("the lab starts");
    let extra = Overrides {
        expect_ips: [2u8, 4, 5, 6, 7, 8, 9, 10, 11]
            .into_iter()
            .map(|n| ipnet::IpNet::from(IpAddr::from([127, 0, 0, n])))
            .collect(),
        timeout: Some(Duration::from_secs(5)),
        deadline: Some(Duration::from_secs(60)),
        ..Overrides::default()
    };
    let run = common::run_entra_on(&lab, &[], false, extra).await;
    let traffic = lab.graph_traffic();
    lab.shutdown().await;
    let o = what_if(&run);
    let json = observation(o);
    assert_eq!(json["anchors"].as_array().map(Vec::len), Some(9), "{json}");
    assert_eq!(json["controls"].as_array().map(Vec::len), Some(1), "{json}");
    // Only 127.0.0.2 is in the lab's trusted location: the others buy nothing.
    assert_eq!(o.status, Status::Fail, "{}", o.reason);
    assert!(
        o.reason
            .contains("the App Connector IP 127.0.0.4 and 127.0.0.5"),
        "{}",
        o.reason
    );
    assert!(!o.reason.contains("127.0.0.2 "), "{}", o.reason);
    // Ten evaluations, the sign-in log, the named locations; no token from Graph's own route:
    // the one issued through the path under test reads Graph.
    assert!(traffic.requests >= 12, "{traffic:?}");
    assert_eq!(traffic.token_requests, 0, "{traffic:?}");
    assert!(
        traffic.max_concurrent_connections <= 2,
        "never more than two connections to Graph: {traffic:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_checks_are_labelled_with_graphs_own_route_not_the_proxy() {
    // Through the explicit proxy, the path under test is `proxy`; Graph is reached on its
    // own route (system DNS, no proxy), and every report says so.
    let run = common::run_lab_entra(&[], true, Overrides::default()).await;
    assert_eq!(run.tally.overall(), Status::Pass, "{:#?}", run.checks);
    let graph_checks: Vec<&Outcome> = run
        .checks
        .iter()
        .filter(|o| o.host == "graph.sipa-lab.test")
        .collect();
    assert_eq!(graph_checks.len(), 2, "named locations and What If");
    for o in &graph_checks {
        assert_eq!(o.route, Some(Route::Graph), "{}", o.name);
    }
    assert!(
        run.checks
            .iter()
            .any(|o| o.name.ends_with("entra sign-in (proxy)")),
        "the token requests still take the proxy"
    );
    let report = RunReport::new(vec![run]);
    let mut json = Vec::new();
    sipa_check::report::json::write(&report, &mut json).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    for check in json["runs"][0]["checks"].as_array().unwrap() {
        if check["host"] == "graph.sipa-lab.test" {
            assert_eq!(check["route"], "graph", "{}", check["name"]);
        }
    }
    let mut xml = Vec::new();
    sipa_check::report::junit::write(&report, &mut xml).unwrap();
    let xml = String::from_utf8(xml).unwrap();
    let case = &xml[xml.find(&format!("<testcase name=\"{WHAT_IF}\"")).unwrap()..];
    let case = &case[..case.find("</testcase>").unwrap()];
    assert!(
        case.contains("route       graph route: system DNS, no proxy"),
        "{case}"
    );
    assert!(!case.contains("(proxy)"), "{case}");
    let mut html = Vec::new();
    sipa_check::report::html::write(&report, &mut html).unwrap();
    let html = String::from_utf8(html).unwrap();
    assert!(
        html.contains("graph.sipa-lab.test (graph route)"),
        "an HTML lane"
    );
    assert!(!html.contains("graph.sipa-lab.test (proxy)"));
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
fn what_if_faults_from_the_command_line_never_pass_and_show_no_secret() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let junit = dir.path().join("report.xml");
    let junit = junit.to_str().unwrap();
    let unavailable = sipa(&[
        "lab",
        "--fault",
        "what-if-unavailable",
        "--json",
        "-",
        "--junit",
        junit,
    ]);
    let json = String::from_utf8_lossy(&unavailable.stdout);
    assert_eq!(unavailable.status.code(), Some(3), "{json}");
    assert!(
        json.contains("Conditional Access What If is unavailable"),
        "{json}"
    );
    let xml = std::fs::read_to_string(junit).unwrap();
    assert!(
        xml.contains(&format!("<testcase name=\"{WHAT_IF}\"")),
        "{xml}"
    );
    assert!(xml.contains("What If is unavailable"), "{xml}");
    let none = sipa(&["lab", "--fault", "what-if-no-difference"]);
    let text = String::from_utf8_lossy(&none.stdout);
    assert_eq!(none.status.code(), Some(1), "{text}");
    assert!(text.contains(&format!("FAIL  {WHAT_IF}")), "{text}");
    assert!(text.contains("anchoring buys no trust"), "{text}");
    // The lab app's secret and Graph's tokens stay out of every output.
    for (what, bytes) in [
        ("JSON", unavailable.stdout.as_slice()),
        ("stderr", unavailable.stderr.as_slice()),
        ("JUnit", xml.as_bytes()),
        ("text", none.stdout.as_slice()),
    ] {
        let text = String::from_utf8_lossy(bytes);
        for secret in [LAB_CLIENT_SECRET, "lab-graph-token-", "Bearer "] {
            assert!(!text.contains(secret), "{what} shows {secret:?}:\n{text}");
        }
    }
}

#[test]
fn validate_and_dry_run_show_the_what_if_comparison() {
    let line = "conditional access what-if (graph.sipa-lab.test): each anchor of {127.0.0.2} against the control's egress IP";
    let validated = sipa(&["validate", "scenarios/lab-entra.toml"]);
    let text = String::from_utf8_lossy(&validated.stdout);
    assert_eq!(validated.status.code(), Some(0), "{text}");
    assert!(text.contains(&format!("\n  {line}\n")), "{text}");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let write = |name: &str, extra: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!("{}{extra}", sipa_check::scenario::LAB_ENTRA_TOML),
        )
        .unwrap();
        path.to_str().unwrap().to_owned()
    };
    let ca = write("ca.toml", "mode = \"ca\"\n");
    let text = String::from_utf8_lossy(&sipa(&["validate", &ca]).stdout).into_owned();
    assert!(!text.contains("what-if"), "ca mode asks no What If: {text}");
    let asked = write(
        "asked.toml",
        "mode = \"ca\"\nwhat_if = true\nwhat_if_control_ip = \"127.0.0.3\"\n",
    );
    let text = String::from_utf8_lossy(&sipa(&["validate", &asked]).stdout).into_owned();
    assert!(
        text.contains("against the control's egress IP (else 127.0.0.3)"),
        "{text}"
    );
    let planned = Command::new(env!("CARGO_BIN_EXE_sipa-check"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env("AZURE_TENANT_ID", "contoso.onmicrosoft.com")
        .env("AZURE_CLIENT_ID", sipa_check::lab::LAB_CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", "not-used-by-a-dry-run")
        .stdin(Stdio::null())
        .args(["run", "--dry-run", "scenarios/lab-entra.toml"])
        .output()
        .expect("sipa-check runs");
    let text = String::from_utf8_lossy(&planned.stdout);
    assert_eq!(planned.status.code(), Some(0), "{text}");
    assert!(text.contains(line), "{text}");
    assert!(text.contains(&format!("  {WHAT_IF}\n")), "{text}");
    assert!(!text.contains("not-used-by-a-dry-run"), "{text}");
}
