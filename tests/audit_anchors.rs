//! `run --anchors-from-zpa`: the anchor set read from ZPA (the lab's fake API, or a snapshot)
//! instead of typed, recorded in the report with the connectors' names, and the joined
//! diagnosis naming what an egress IP outside the set is.

use std::process::{Command, Output, Stdio};

use sipa_check::lab::admin_api::{AdminApi, ApiBehaviour, AuditFault};
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

/// `run` with `args` after the lab's flags, every Zscaler variable of the caller's environment
/// removed and `env` set instead.
async fn run_with(lab: &Lab, scenario: &str, args: &[String], env: &[(&str, String)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sipa-check"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .args(["run", scenario])
        .args(flags(lab))
        .args(args)
        .args(["--json", "-"]);
    for (k, _) in std::env::vars() {
        if k.starts_with("ZPA_") || k.starts_with("ZIA_") || k.starts_with("ZSCALER_") {
            c.env_remove(k);
        }
    }
    for (k, v) in env {
        c.env(k, v);
    }
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

fn api_flags(api: &AdminApi, urls: &[&str]) -> Vec<String> {
    let mut out = vec!["--anchors-from-zpa".to_string()];
    for u in urls {
        out.push(format!("--{u}"));
        out.push(match *u {
            "zpa-url" => api.zpa_url().to_string(),
            "oneapi-url" => api.oneapi_url().to_string(),
            "oneapi-token-url" => api.oneapi_token_url().to_string(),
            other => panic!("{other}"),
        });
    }
    out.push("--ca-file".into());
    out.push(api.ca_file().display().to_string());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_us_government_scenario_finds_its_own_login_hosts_in_zpa() {
    // The snapshot's SIPA segment lists login.microsoftonline.us only: the commercial hosts
    // are in no segment, so looking for them finds no connector.
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("usgov.toml");
    std::fs::write(
        &scenario,
        r#"name = "usgov"
[login]
hosts = ["login.microsoftonline.us"]
ports = [443]
[vantage]
name = "lab"
[limits]
timeout = "1s"
deadline = "10s"
family = "4"
"#,
    )
    .unwrap();
    let lab = Lab::start(LabConfig::default()).await.unwrap();
    let out = run_with(
        &lab,
        scenario.to_str().unwrap(),
        &["--anchors-from-zpa=tests/fixtures/audit/recorded-usgov".into()],
        &[],
    )
    .await;
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("--anchors-from-zpa"), "{stderr}");
    // The lab serves no .us host, so the run itself does not pass; what matters is that it
    // ran with ZPA's anchors.
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let run0 = &report["runs"][0];
    assert_eq!(
        run0["anchors"],
        serde_json::json!(["127.0.0.2", "127.0.0.5"]),
        "{run0}"
    );
    assert_eq!(run0["anchor_connectors"][0]["name"], "ac-fra-1");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zpa_credentials_alone_do_and_zia_variables_do_not_concern_the_anchors() {
    let api = AdminApi::start(&[], &[], ApiBehaviour::default())
        .await
        .unwrap();
    let lab = Lab::start(LabConfig::default()).await.unwrap();
    // ZIA variables unusable for `audit` (no ZIA_CLOUD and no --zia-url, an API key too
    // short): the anchors need ZPA's only.
    let mut env = AdminApi::legacy_env();
    env.retain(|(k, _)| *k != "ZIA_CLOUD");
    for (k, v) in &mut env {
        if *k == "ZIA_API_KEY" {
            *v = "short".into();
        }
    }
    assert!(env.iter().any(|(k, _)| *k == "ZIA_USERNAME"));
    let out = run_with(
        &lab,
        "scenarios/lab.toml",
        &api_flags(&api, &["zpa-url"]),
        &env,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["runs"][0]["anchors"],
        serde_json::json!(["127.0.0.2"])
    );
    // Nothing asked of ZIA.
    assert!(
        api.requests()
            .iter()
            .all(|r| !r.path.starts_with("/api/v1")),
        "{:#?}",
        api.requests()
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oneapi_credentials_take_the_oneapi_url_flags_and_a_legacy_url_is_refused() {
    let api = AdminApi::start(&[], &[], ApiBehaviour::default())
        .await
        .unwrap();
    let lab = Lab::start(LabConfig::default()).await.unwrap();
    let env = AdminApi::oneapi_env();
    let out = run_with(
        &lab,
        "scenarios/lab.toml",
        &api_flags(&api, &["oneapi-url", "oneapi-token-url"]),
        &env,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["runs"][0]["anchors"],
        serde_json::json!(["127.0.0.2"])
    );
    let requests = api.requests();
    assert!(requests.iter().any(|r| r.path == "/oauth2/v1/token"));
    assert!(
        requests
            .iter()
            .any(|r| r.path.starts_with("/zpa/mgmtconfig/"))
    );
    // `--zpa-url` with OneAPI credentials would be ignored: refused, naming what to give.
    let before = api.requests().len();
    let out = run_with(
        &lab,
        "scenarios/lab.toml",
        &api_flags(&api, &["zpa-url"]),
        &env,
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--zpa-url does not apply to OneAPI credentials")
            && stderr.contains("--oneapi-url"),
        "{stderr}"
    );
    assert!(!stderr.contains(sipa_check::lab::admin_api::LAB_ONEAPI_CLIENT_SECRET));
    assert_eq!(api.requests().len(), before);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anchor_connector_zpa_reports_disconnected_is_a_warning_naming_it() {
    let api = AdminApi::start(
        &[],
        &[AuditFault::ConnectorDisconnected],
        ApiBehaviour::default(),
    )
    .await
    .unwrap();
    // The network still anchors (the lab's network fault is not on): the run passes, and says
    // what ZPA reports.
    let lab = Lab::start(LabConfig::default()).await.unwrap();
    let out = run(&lab, Some(&api), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let vantage_warnings: Vec<&str> = report["runs"][0]["vantage"]["warnings"]
        .as_array()
        .map(|w| w.iter().filter_map(|w| w.as_str()).collect())
        .unwrap_or_default();
    assert!(
        vantage_warnings.iter().any(|w| w.contains("App Connector ac-sipa-1")
            && w.contains("ZPN_STATUS_DISCONNECTED")),
        "{vantage_warnings:#?}"
    );
    assert!(report["tally"]["warnings"].as_u64().unwrap() >= 1);
    lab.shutdown().await;
}
