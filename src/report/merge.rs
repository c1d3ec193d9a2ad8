//! `sipa-check report merge`: many saved JSON reports (one per branch, per field check, per
//! vantage) become one [`RunReport`], the fleet's, with every run of every input, the tally and
//! the overall verdict counted again from the checks.
//!
//! Every input is read and checked before anything is merged: a file that is not JSON, not a
//! sipa-check report or of another `format_version` is an error naming the file and what is
//! wrong, and nothing is written. Each merged run keeps the file it came from
//! ([`ScenarioRun::merged_from`]).
//!
//! The same run met twice (same scenario, vantage and start time: a file given twice, or a
//! merged report merged again with one of its inputs) is kept twice, as given, with a warning:
//! dropping one would hide that the inputs overlap, and two runs that differ only in their
//! checks cannot be told apart by these keys anyway.

use std::collections::BTreeMap;

use super::read::{ReadError, read_report};
use crate::outcome::{RunReport, ScenarioRun};

/// One input as read: the name it is shown by (its path, or `standard input`) and its text.
#[derive(Debug, Clone)]
pub struct MergeInput {
    pub name: String,
    pub text: String,
}

/// The fleet's report, and what the merge noticed on the way.
#[derive(Debug, Clone)]
pub struct Merged {
    pub report: RunReport,
    /// Runs met more than once, said once each.
    pub duplicates: Vec<Duplicate>,
}

/// A run (scenario, vantage, start time) that more than one input holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub scenario: String,
    pub vantage: String,
    pub started_at: String,
    /// The inputs that hold it, once per time it appears.
    pub inputs: Vec<String>,
}

impl std::fmt::Display for Duplicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the run of `{}` at vantage `{}` started at {} appears {} times ({}): each is kept",
            self.scenario,
            self.vantage,
            self.started_at,
            self.inputs.len(),
            self.inputs.join(", ")
        )
    }
}

/// Reads every input as a report; the first bad one is the error, and nothing is merged.
pub fn read_all(inputs: &[MergeInput]) -> Result<Vec<(String, RunReport)>, ReadError> {
    inputs
        .iter()
        .map(|input| read_report(&input.text, &input.name).map(|r| (input.name.clone(), r)))
        .collect()
}

/// Merges the reports, in the order given; each run not already from a merge records the input
/// it came from.
pub fn merge(reports: Vec<(String, RunReport)>) -> Merged {
    let mut runs: Vec<ScenarioRun> = Vec::new();
    for (name, report) in reports {
        for mut run in report.runs {
            if run.merged_from.is_none() {
                run.merged_from = Some(name.clone());
            }
            runs.push(run);
        }
    }
    let mut seen: BTreeMap<(&str, &str, &str), Vec<String>> = BTreeMap::new();
    let mut order = Vec::new();
    for run in &runs {
        let key = (
            run.scenario.as_str(),
            run.vantage.name.as_str(),
            run.vantage.started_at.as_str(),
        );
        let from = run.merged_from.clone().unwrap_or_default();
        let entry = seen.entry(key).or_default();
        if entry.is_empty() {
            order.push(key);
        }
        entry.push(from);
    }
    let duplicates = order
        .into_iter()
        .filter_map(|key| {
            let inputs = &seen[&key];
            (inputs.len() > 1).then(|| Duplicate {
                scenario: key.0.to_string(),
                vantage: key.1.to_string(),
                started_at: key.2.to_string(),
                inputs: inputs.clone(),
            })
        })
        .collect();
    Merged {
        report: RunReport::new(runs),
        duplicates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Status;

    fn report(vantage: &str, started_at: &str, overall: &str) -> String {
        format!(
            r#"{{"format_version": 1, "tool": "sipa-check", "tool_version": "0.1.0",
              "runs": [{{"scenario": "lab", "source": "lab.toml", "anchors": ["127.0.0.2"],
                "vantage": {{"name": "{vantage}", "hostname": "h", "os": "linux", "sipa_check_version": "0.1.0",
                  "resolvers": [], "local_addresses": [], "expect_anchored": true, "started_at": "{started_at}"}},
                "elapsed_ms": 10.0,
                "tally": {{"total": 0, "passed": 0, "failed": 0, "errors": 0, "skipped": 0, "warnings": 0}},
                "checks": [{{"name": "c", "stage": "egress", "target": "t:80", "host": "t", "port": 80,
                  "status": "{overall}", "reason": "r", "expected": "e", "observed": "o",
                  "elapsed_ms": 1.0, "observation": {{"kind": "egress"}}}}],
                "evidence": []}}],
              "tally": {{"total": 0, "passed": 0, "failed": 0, "errors": 0, "skipped": 0, "warnings": 0}},
              "overall": "pass"}}"#
        )
    }

    fn input(name: &str, text: String) -> MergeInput {
        MergeInput {
            name: name.to_string(),
            text,
        }
    }

    #[test]
    fn recounts_the_fleet_and_keeps_each_runs_file() {
        let inputs = [
            input("a.json", report("hq", "2026-01-01T00:00:00Z", "pass")),
            input("b.json", report("guest", "2026-01-01T00:00:00Z", "fail")),
        ];
        let merged = merge(read_all(&inputs).unwrap());
        let r = &merged.report;
        assert_eq!(r.runs.len(), 2);
        assert_eq!(r.tally.total, 2);
        assert_eq!(r.tally.failed, 1);
        // The saved "overall": "pass" of b.json is not believed: its check failed.
        assert_eq!(r.overall, Status::Fail);
        assert_eq!(r.runs[0].merged_from.as_deref(), Some("a.json"));
        assert_eq!(r.runs[1].merged_from.as_deref(), Some("b.json"));
        assert!(merged.duplicates.is_empty());
    }

    #[test]
    fn a_run_met_twice_is_kept_twice_and_named() {
        let text = report("hq", "2026-01-01T00:00:00Z", "pass");
        let inputs = [input("a.json", text.clone()), input("a.json", text)];
        let merged = merge(read_all(&inputs).unwrap());
        assert_eq!(merged.report.runs.len(), 2);
        assert_eq!(merged.duplicates.len(), 1);
        assert_eq!(
            merged.duplicates[0].to_string(),
            "the run of `lab` at vantage `hq` started at 2026-01-01T00:00:00Z appears 2 times \
             (a.json, a.json): each is kept"
        );
    }

    #[test]
    fn a_merged_report_keeps_the_first_file() {
        let inputs = [input("a.json", report("hq", "t", "pass"))];
        let once = merge(read_all(&inputs).unwrap()).report;
        let again = merge(vec![("fleet.json".to_string(), once)]).report;
        assert_eq!(again.runs[0].merged_from.as_deref(), Some("a.json"));
    }

    #[test]
    fn the_first_bad_input_is_named() {
        let inputs = [
            input("good.json", report("hq", "t", "pass")),
            input("bad.json", "{\"tool\": \"other\"}".to_string()),
        ];
        let err = read_all(&inputs).unwrap_err().to_string();
        assert!(
            err.starts_with("bad.json: not a sipa-check report"),
            "{err}"
        );
    }
}
