//! `run --anchors-from-zpa`: the anchor set read from ZPA (the lab's fake API, or a snapshot)
//! instead of typed, recorded in the report with the connectors' names, and the joined
//! diagnosis naming what an egress IP outside the set is.

use std::process::{Command, Output, Stdio};

use sipa_check::lab::admin_api::{AdminApi, ApiBehaviour};
use sipa_check::lab::{Fault, Lab, LabConfig};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The lab's `run` flags without its typed anchor.
fn flags(lab: &Lab) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = lab.run_flags().into_iter();
    while let Some(f) = it.next() {
        if f == "--expect-ip" {
            it.next();
        } else {
            out.push(f);
        }
    }
    out
}

async fn run(lab: &Lab, api: Option<&AdminApi>, extra: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sipa-check"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .args(["run", "scenarios/lab.toml"])
        .args(flags(lab))
        .args(extra)
        .args(["--json", "-"]);
    for (k, _) in AdminApi::legacy_env() {
        c.env_remove(k);
    }
    if let Some(api) = api {
        c.args([
            "--anchors-from-zpa",
            "--zpa-url",
            api.zpa_url().as_str(),
            "--ca-file",
        ])
        .arg(api.ca_file());
        for (k, v) in AdminApi::legacy_env() {
            c.env(k, v);
        }
    }
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

fn warnings(report: &serde_json::Value) -> Vec<String> {
    report["runs"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["warnings"].as_array().cloned().unwrap_or_default())
        .filter_map(|w| w.as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anchors_come_from_zpa_and_a_stray_egress_is_named() {
    let api = AdminApi::start(&[], &[], ApiBehaviour::default())
        .await
        .unwrap();

    // A healthy lab: the anchor set is ZPA's connector, recorded with its name.
    let lab = Lab::start(LabConfig::default()).await.unwrap();
    let out = run(&lab, Some(&api), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let run0 = &report["runs"][0];
    assert_eq!(run0["anchors"], serde_json::json!(["127.0.0.2"]), "{run0}");
    assert_eq!(run0["anchor_connectors"][0]["name"], "ac-sipa-1");
    assert_eq!(run0["anchor_connectors"][0]["group"], "SIPA connectors");
    lab.shutdown().await;

    // Egress from the branch group's connector: named as such.
    let lab = Lab::start(LabConfig {
        faults: vec![Fault::WrongConnector],
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let out = run(&lab, Some(&api), &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let w = warnings(&report);
    assert!(
        w.iter().any(|w| w.contains(
            "egress IP 127.0.0.4 is App Connector ac-branch-1 (id 216196257331404801) of connector group Branch connectors"
        )),
        "{w:#?}"
    );
    lab.shutdown().await;

    // Egress from no connector at all.
    let lab = Lab::start(LabConfig {
        faults: vec![Fault::NothingAnchored],
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let out = run(&lab, Some(&api), &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let w = warnings(&report);
    assert!(
        w.iter()
            .any(|w| w.contains("egress IP 127.0.0.3 belongs to no App Connector")),
        "{w:#?}"
    );
    lab.shutdown().await;
    // Only reads reached ZPA.
    assert!(
        api.requests()
            .iter()
            .all(|r| r.method == "GET" || r.path == "/signin")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anchors_from_a_snapshot_or_an_unreadable_zpa() {
    let lab = Lab::start(LabConfig::default()).await.unwrap();
    // The recorded snapshot's SIPA server group has two connectors, 127.0.0.2 and 127.0.0.5.
    let out = run(
        &lab,
        None,
        &["--anchors-from-zpa=tests/fixtures/audit/recorded-good"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["runs"][0]["anchors"],
        serde_json::json!(["127.0.0.2", "127.0.0.5"])
    );
    // ZPA refusing: no anchors, no run, inconclusive.
    let api = AdminApi::start(
        &[],
        &[],
        ApiBehaviour {
            refuse_with: Some(403),
            ..ApiBehaviour::default()
        },
    )
    .await
    .unwrap();
    let out = run(&lab, Some(&api), &[]).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("HTTP 403"),
        "{}",
        text(&out.stderr)
    );
    lab.shutdown().await;
}
