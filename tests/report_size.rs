//! One cause, one block: the terminal report of a lab fault that strikes every login host fits
//! a screen, while the JSON and JUnit reports still carry every check's whole evidence.

mod common;

use std::time::Duration;

use sipa_check::lab::Fault;
use sipa_check::outcome::{RunReport, Status};
use sipa_check::report::{human, human::HumanStyle, json, junit};
use sipa_check::scenario::Overrides;

async fn lab_report(fault: Fault) -> RunReport {
    let extra = Overrides {
        timeout: Some(Duration::from_millis(1500)),
        ..Overrides::default()
    };
    RunReport::new(vec![common::run_lab(&[fault], false, extra).await])
}

fn human_at(report: &RunReport, width: Option<usize>) -> String {
    let mut buf = Vec::new();
    let style = HumanStyle {
        width,
        ..HumanStyle::default()
    };
    human::write(report, &mut buf, style).unwrap();
    String::from_utf8(buf).unwrap()
}

async fn fits_a_screen_and_loses_nothing(fault: Fault, cause: &str) {
    let report = lab_report(fault).await;
    assert_eq!(report.overall, Status::Fail, "{}", fault.name());
    let text = human_at(&report, Some(100));
    let lines = text.lines().count();
    assert!(
        lines < 60,
        "{}: {lines} lines on a 100-column terminal:\n{text}",
        fault.name()
    );
    for line in text.lines() {
        assert!(line.chars().count() <= 100, "too wide: {line:?}");
    }
    assert_eq!(
        text.matches(cause).count(),
        1,
        "one block names the cause:\n{text}"
    );
    // Piped: no line is broken, so no more lines than on the terminal.
    assert!(human_at(&report, None).lines().count() <= lines);

    // JSON: every check, each with its own evidence.
    let mut buf = Vec::new();
    json::write(&report, &mut buf).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&buf).unwrap();
    let checks = doc["runs"][0]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), report.runs[0].checks.len());
    assert_eq!(checks.len(), report.tally.total);
    for c in checks {
        for field in [
            "name", "stage", "target", "status", "reason", "expected", "observed",
        ] {
            assert!(
                c[field].as_str().is_some_and(|v| !v.is_empty()),
                "{}: {field} missing in {c}",
                c["name"]
            );
        }
        assert!(c["observation"].is_object(), "{c}");
        if c["status"] != "pass" {
            assert!(c.get("diagnosis").is_some() || c["status"] == "skip", "{c}");
        }
    }
    // JUnit: one case per check, every failure and error with its evidence in the body.
    let mut buf = Vec::new();
    junit::write(&report, &mut buf).unwrap();
    let xml = String::from_utf8(buf).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), checks.len());
    for o in &report.runs[0].checks {
        assert!(xml.contains(&format!("name=\"{}\"", o.name)), "{}", o.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_interception_fits_a_screen() {
    fits_a_screen_and_loses_nothing(Fault::TlsIntercept, "TLS is intercepted by a CA").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_demanding_authentication_fits_a_screen() {
    fits_a_screen_and_loses_nothing(Fault::ProxyAuthRequired, "the proxy demands authentication")
        .await;
}

/// A cause that strikes every login host reads once: diagnoses name no target, the block's
/// entries do. The lab's blackhole takes every connection, the control's too: the vantage's
/// path is the cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackhole_on_every_host_is_one_block() {
    let report = lab_report(Fault::BlackholeConnect).await;
    let text = human_at(&report, None);
    let headers: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("ERROR  ") || l.starts_with("FAIL   "))
        .collect();
    assert_eq!(
        headers
            .iter()
            .filter(|l| l.contains("this vantage cannot reach ZIA"))
            .count(),
        1,
        "{text}"
    );
    for host in [
        "login.microsoftonline.com",
        "login.windows.net",
        "login.microsoft.com",
    ] {
        assert!(
            text.contains(&format!("ERROR {host}:443 connect (ipv4)")),
            "{text}"
        );
    }
}
