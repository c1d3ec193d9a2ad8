//! `sipa-check complete`: finishes a JSON report whose run ended before Entra's sign-in log
//! showed its sign-ins (a CI job that does not wait 20 minutes). It reads the report back,
//! looks the pending sign-ins up in one Graph round per poll, judges those checks again as the
//! run would have, and recounts the tally, the overall verdict and the evidence. A What If
//! that errored for want of the service principal's object id is asked again once the
//! sign-ins found carry `servicePrincipalId`.
//!
//! The report is read back by [`crate::report::read`].

use std::sync::Arc;
use std::time::Duration;

use crate::entra::{Cloud, GraphClient, GraphError, GraphSettings, SignInLookup};
use crate::observation::{Observation, SignInLog, SubjectSource, WhatIfQuestion};
use crate::outcome::{PendingSignIn, RunReport, ScenarioRun, Stage, Status};
pub use crate::report::read::{ReadError, read_report};
use crate::report::read::{recorded_expectation as expectation, recorded_sign_in};
use crate::runner::EntraAccess;
use crate::verdict;
use serde::Deserialize;

/// How many sign-ins a report still waits for.
pub fn pending_count(report: &RunReport) -> usize {
    report.runs.iter().map(|r| r.pending_sign_ins.len()).sum()
}

/// The pending sign-ins of a report, for the terminal.
pub fn pending_sign_ins(report: &RunReport) -> impl Iterator<Item = &PendingSignIn> {
    report.runs.iter().flat_map(|r| r.pending_sign_ins.iter())
}

/// Looks up every pending sign-in of `report` (one Graph round per poll for each run's), up
/// to `wait`, judges those checks again, and recounts the report. A sign-in still missing
/// stays pending, its check an error.
pub async fn complete(report: RunReport, access: &EntraAccess, wait: Duration) -> RunReport {
    let mut runs = report.runs;
    for run in &mut runs {
        if run.pending_sign_ins.is_empty() {
            continue;
        }
        let client = graph_settings(run, access).and_then(GraphClient::new);
        let found = look_up(run, &client, wait).await;
        complete_run(run, &found);
        if let Ok(client) = &client {
            ask_what_if_again(run, client, &found).await;
        }
    }
    RunReport::new(runs)
}

/// The parts of a recorded What If observation that `complete` asks again from.
#[derive(Deserialize)]
struct RecordedWhatIf {
    kind: String,
    result: String,
    client_id: Option<String>,
    question: Option<WhatIfQuestion>,
}

/// Asks What If again for a run whose What If errored for want of the service principal's
/// object id ([`crate::observation::WhatIfObservation::NoSubject`] with its question), once a
/// sign-in found now (or by the run) carries `servicePrincipalId`; judges that check again.
async fn ask_what_if_again(
    run: &mut ScenarioRun,
    client: &GraphClient,
    found: &std::collections::HashMap<String, SignInLookup>,
) {
    let Ok(exp) = expectation(run) else {
        return;
    };
    let recorded_ids = run
        .checks
        .iter()
        .filter_map(|o| recorded_sign_in(&o.observation))
        .filter_map(|(_, record)| record?.service_principal_id);
    let Some(object_id) = found
        .values()
        .filter_map(|lookup| match lookup {
            SignInLookup::Found(record) => record.service_principal_id.clone(),
            _ => None,
        })
        .chain(recorded_ids)
        .find(|id| !id.trim().is_empty())
    else {
        return;
    };
    for outcome in run.checks.iter_mut().filter(|o| o.stage == Stage::Entra) {
        let Observation::Recorded(value) = &outcome.observation else {
            continue;
        };
        let Ok(RecordedWhatIf {
            kind,
            result,
            client_id: Some(client_id),
            question: Some(question),
        }) = RecordedWhatIf::deserialize(value)
        else {
            continue;
        };
        if kind != "what_if" || result != "no_subject" {
            continue;
        }
        let asked = crate::entra::what_if::ask_question(
            client,
            &question,
            &client_id,
            Some((object_id.clone(), SubjectSource::SignInLog)),
            std::future::ready(Err(GraphError::Setup(
                "the object id is known: nothing to look up".into(),
            ))),
        )
        .await;
        let mut judged = verdict::rejudge_what_if(outcome, &asked, &exp);
        let observation = Observation::WhatIf(Box::new(asked));
        judged.observation =
            Observation::Recorded(serde_json::to_value(&observation).unwrap_or_default());
        *outcome = judged;
    }
}

/// One Graph lookup for the run's pending sign-ins, on the Graph the run used.
async fn look_up(
    run: &ScenarioRun,
    client: &Result<GraphClient, GraphError>,
    wait: Duration,
) -> std::collections::HashMap<String, SignInLookup> {
    let lookups: Vec<crate::entra::PendingSignIn> = run
        .pending_sign_ins
        .iter()
        .map(PendingSignIn::lookup)
        .collect();
    let failed = |error: crate::entra::GraphError| {
        lookups
            .iter()
            .map(|p| {
                (
                    p.correlation_id.clone(),
                    SignInLookup::Failed {
                        error: error.clone(),
                    },
                )
            })
            .collect()
    };
    match client {
        Ok(client) => client
            .find_sign_ins(&lookups, wait)
            .await
            .into_iter()
            .collect(),
        Err(error) => failed(error.clone()),
    }
}

/// Graph as the run reached it: its recorded URL and cloud, with the app from `access`.
fn graph_settings(
    run: &ScenarioRun,
    access: &EntraAccess,
) -> Result<GraphSettings, crate::entra::GraphError> {
    let setup = |e: String| crate::entra::GraphError::Setup(e);
    let entra = run
        .entra
        .as_ref()
        .ok_or_else(|| setup("the report names no Graph URL".into()))?;
    let mut credentials = (*access.credentials).clone();
    let graph_base = url::Url::parse(&entra.graph_url)
        .map_err(|e| setup(format!("Graph URL {}: {e}", entra.graph_url)))?;
    if let Some(authority) = &entra.authority_host {
        credentials.cloud = Cloud::from_authority(authority, graph_base.host_str())
            .map_err(|e| setup(e.to_string()))?;
    }
    let mut graph = GraphSettings::new(Arc::new(credentials));
    graph.graph_base = Some(graph_base);
    graph.token_url = access.graph_token_url.clone();
    graph.resolve = access.graph_resolve.clone();
    graph.extra_roots_pem = access.graph_roots_pem.clone();
    if let Some(first) = access.first_poll_interval {
        graph.first_poll_interval = first;
    }
    Ok(graph)
}

/// Judges the run's sign-in checks again with `found`, and updates its pending list and
/// evidence. The other checks stand as recorded: no other verdict depends on the log.
fn complete_run(run: &mut ScenarioRun, found: &std::collections::HashMap<String, SignInLookup>) {
    let Ok(exp) = expectation(run) else {
        return;
    };
    let old_evidence = run.evidence.clone();
    let pending = std::mem::take(&mut run.pending_sign_ins);
    let mut sign_ins: Vec<(usize, String, bool)> = Vec::new();
    for (i, outcome) in run.checks.iter_mut().enumerate() {
        if outcome.stage != Stage::Entra {
            continue;
        }
        let Some((token, record)) = recorded_sign_in(&outcome.observation) else {
            continue;
        };
        let waiting = pending.iter().find(|p| p.check == outcome.name);
        // A sign-in found by the run is judged again on its record (the same verdict): the
        // cross-check below must see every decided sign-in.
        let log = match (waiting, record) {
            (Some(p), _) => match found.get(&p.correlation_id) {
                Some(lookup) => SignInLog::Looked {
                    lookup: lookup.clone(),
                },
                None => continue,
            },
            (None, Some(record)) => SignInLog::Looked {
                lookup: SignInLookup::Found(record),
            },
            (None, None) => continue,
        };
        let mut judged = verdict::rejudge_sign_in(outcome, &token, &log, &exp);
        let mut recorded = match &outcome.observation {
            Observation::Recorded(v) => v.clone(),
            _ => continue,
        };
        if waiting.is_some() {
            recorded["log"] = serde_json::to_value(&log).unwrap_or_default();
        }
        judged.observation = Observation::Recorded(recorded);
        *outcome = judged;
        sign_ins.push((i, outcome.host.clone(), verdict::logged_outside(&log, &exp)));
        if let Some(p) = waiting {
            let still = !matches!(
                log,
                SignInLog::Looked {
                    lookup: SignInLookup::Found(_)
                }
            );
            if still {
                run.pending_sign_ins.push(p.clone());
            }
            if matches!(outcome.status, Status::Pass | Status::Fail)
                && let Some(route) = outcome.route
                && let Some(e) = run.evidence.iter_mut().find(|e| {
                    e.host.eq_ignore_ascii_case(&p.host)
                        && Some(e.port) == outcome.port
                        && e.route == route
                })
            {
                e.proof = verdict::sign_in_proof(&token, &log, &exp);
            }
        }
    }
    let refs: Vec<(usize, &str, bool)> = sign_ins
        .iter()
        .map(|(i, h, o)| (*i, h.as_str(), *o))
        .collect();
    verdict::cross_check_sign_ins(&mut run.checks, &refs, &exp);
    // A host that per-host evidence required and that Entra has now proven is no longer an
    // error: drop the errors the old evidence made and the new one does not.
    let now: Vec<String> = verdict::per_host_errors(&run.evidence)
        .into_iter()
        .map(|o| o.name)
        .collect();
    let gone: Vec<String> = verdict::per_host_errors(&old_evidence)
        .into_iter()
        .map(|o| o.name)
        .filter(|n| !now.contains(n))
        .collect();
    run.checks
        .retain(|o| !(o.stage == Stage::Egress && gone.contains(&o.name)));
}
