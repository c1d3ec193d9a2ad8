//! The saved-report reader: a JSON report read back into the typed result model
//! ([`RunReport`]) with each check's observation kept as recorded JSON
//! ([`Observation::Recorded`]): the report is the record, and only the parts a sign-in verdict
//! needs (the token outcome, the log) are read as types. `complete` and `report` (merge) read
//! with it.

use serde::Deserialize;

use crate::observation::Observation;
use crate::observation::entra::{SignInRecord, TokenOutcome};
use crate::outcome::{RunReport, ScenarioRun};
use crate::scenario::model::{AnchorSet, Require};
use crate::verdict::Expectation;

/// Why a file cannot be completed: nothing was looked up.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: not JSON: {source}")]
    NotJson {
        path: String,
        source: serde_json::Error,
    },
    #[error(
        "{path}: not a sipa-check report (no \"tool\": \"sipa-check\" with a \"format_version\")"
    )]
    NotAReport { path: String },
    #[error(
        "{path}: format_version {found}: this sipa-check ({}) reads format_version {}",
        env!("CARGO_PKG_VERSION"),
        RunReport::FORMAT_VERSION
    )]
    FormatVersion { path: String, found: String },
    #[error("{path}: a sipa-check report, but not one this version wrote: {source}")]
    Shape {
        path: String,
        source: serde_json::Error,
    },
    #[error("{path}: check `{check}` has no {what}")]
    Inconsistent {
        path: String,
        check: String,
        what: &'static str,
    },
    #[error("{path}: the run of {scenario} has pending sign-ins but no Graph URL (\"entra\")")]
    NoGraph { path: String, scenario: String },
    #[error("{path}: the report's {what} `{value}` cannot be used: {why}")]
    BadValue {
        path: String,
        what: &'static str,
        value: String,
        why: String,
    },
}

/// Reads a JSON report back; `path` names it in errors.
pub fn read_report(text: &str, path: &str) -> Result<RunReport, ReadError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|source| ReadError::NotJson {
            path: path.to_owned(),
            source,
        })?;
    let is_ours = value.get("tool").and_then(|t| t.as_str()) == Some("sipa-check");
    let Some(version) = value.get("format_version").filter(|_| is_ours) else {
        return Err(ReadError::NotAReport {
            path: path.to_owned(),
        });
    };
    if version.as_u64() != Some(u64::from(RunReport::FORMAT_VERSION)) {
        return Err(ReadError::FormatVersion {
            path: path.to_owned(),
            found: version.to_string(),
        });
    }
    let report: RunReport = serde_json::from_value(value).map_err(|source| ReadError::Shape {
        path: path.to_owned(),
        source,
    })?;
    for run in &report.runs {
        for p in &run.pending_sign_ins {
            let check = run.checks.iter().find(|o| o.name == p.check);
            if check
                .and_then(|o| recorded_sign_in(&o.observation))
                .is_none()
            {
                return Err(ReadError::Inconsistent {
                    path: path.to_owned(),
                    check: p.check.clone(),
                    what: "recorded entra sign-in observation",
                });
            }
        }
        if !run.pending_sign_ins.is_empty() {
            let Some(entra) = &run.entra else {
                return Err(ReadError::NoGraph {
                    path: path.to_owned(),
                    scenario: run.scenario.clone(),
                });
            };
            url::Url::parse(&entra.graph_url).map_err(|e| ReadError::BadValue {
                path: path.to_owned(),
                what: "Graph URL",
                value: entra.graph_url.clone(),
                why: e.to_string(),
            })?;
            recorded_expectation(run).map_err(|(value, why)| ReadError::BadValue {
                path: path.to_owned(),
                what: "anchor",
                value,
                why,
            })?;
        }
    }
    Ok(report)
}

/// The parts of a recorded entra sign-in observation a verdict needs.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum RecordedObservation {
    Entra(Box<RecordedSignIn>),
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct RecordedSignIn {
    token: RecordedToken,
    log: RecordedLog,
}

#[derive(Deserialize)]
struct RecordedToken {
    outcome: TokenOutcome,
}

/// The log as recorded: only a found record is read as a type (a Graph error is kept as its
/// text in the report, and is never judged again from it).
#[derive(Deserialize)]
#[serde(tag = "log", rename_all = "snake_case")]
enum RecordedLog {
    Looked {
        lookup: RecordedLookup,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
enum RecordedLookup {
    Found(SignInRecord),
    #[serde(other)]
    Other,
}

/// A recorded entra sign-in observation's token outcome, and its found record, if any.
pub fn recorded_sign_in(obs: &Observation) -> Option<(TokenOutcome, Option<SignInRecord>)> {
    let Observation::Recorded(value) = obs else {
        return None;
    };
    match RecordedObservation::deserialize(value).ok()? {
        RecordedObservation::Entra(e) => Some((
            e.token.outcome,
            match e.log {
                RecordedLog::Looked {
                    lookup: RecordedLookup::Found(r),
                } => Some(r),
                _ => None,
            },
        )),
        RecordedObservation::Other => None,
    }
}

/// What the run expected, as far as a sign-in verdict needs it.
pub fn recorded_expectation(run: &ScenarioRun) -> Result<Expectation, (String, String)> {
    let anchors = run
        .anchors
        .iter()
        .map(|a| crate::scenario::parse_anchor(a).map_err(|why| (a.clone(), why)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Expectation {
        anchors: AnchorSet(anchors),
        expect_anchored: run.vantage.expect_anchored,
        proxied: run.vantage.proxy.is_some(),
        login_ports: Vec::new(),
        require: Require::default(),
        entra_mode: run.entra.as_ref().map(|e| e.mode).unwrap_or_default(),
        ca_policy: run.entra.as_ref().and_then(|e| e.ca_policy.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_a_report_is_named_as_such() {
        let err = read_report("{\"tool\": \"other\"}", "x.json").unwrap_err();
        assert!(matches!(err, ReadError::NotAReport { .. }), "{err}");
        let err = read_report("not json", "x.json").unwrap_err();
        assert!(matches!(err, ReadError::NotJson { .. }), "{err}");
        let err = read_report(
            "{\"tool\": \"sipa-check\", \"format_version\": 999}",
            "x.json",
        )
        .unwrap_err();
        assert!(matches!(err, ReadError::FormatVersion { .. }), "{err}");
    }
}
