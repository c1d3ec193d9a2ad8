//! Shared by the fleet tests: real reports from `sipa-check lab --json`, renamed to the
//! vantage each test needs, and the binary run on them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sipa-check"));
    c.env("NO_COLOR", "1").env_remove("COLUMNS");
    c
}

/// Runs `sipa-check lab` with `faults` and writes its JSON report to `dir/<vantage>.json`, the
/// run's vantage renamed to `vantage` (as a branch's own run would be named).
pub fn lab_report(dir: &Path, faults: &[&str], vantage: &str) -> PathBuf {
    let raw = dir.join(format!("{vantage}.raw.json"));
    let mut c = bin();
    c.arg("lab").arg("--json").arg(&raw);
    for f in faults {
        c.args(["--fault", f]);
    }
    let out = c.output().expect("sipa-check lab runs");
    assert!(
        matches!(out.status.code(), Some(0 | 1 | 3)),
        "lab {faults:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&raw).unwrap()).unwrap();
    for run in report["runs"].as_array_mut().unwrap() {
        run["vantage"]["name"] = serde_json::Value::String(vantage.to_string());
    }
    let path = dir.join(format!("{vantage}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    std::fs::remove_file(&raw).unwrap();
    path
}

/// `sipa-check report ARGS...` in `dir`.
pub fn report(dir: &Path, args: &[&str]) -> Output {
    bin()
        .current_dir(dir)
        .arg("report")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("sipa-check report runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fleet of three real lab runs: `hq` passes, `guest` fails (one domain unanchored), `branch`
/// is inconclusive (the echo site answers garbage).
pub fn fleet(dir: &Path) -> [PathBuf; 3] {
    [
        lab_report(dir, &[], "hq"),
        lab_report(dir, &["one-domain-unanchored"], "guest"),
        lab_report(dir, &["echo-garbage"], "branch"),
    ]
}
