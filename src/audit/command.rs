//! `sipa-check audit`: read (API or snapshot), keep a snapshot if asked, judge, report, and the
//! exit code (0 passed, 1 a link is wrong, 2 nothing could be read, 3 inconclusive).

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use time::format_description::well_known::Rfc3339;

use super::client::ApiSettings;
use super::credentials::{AuditCredentials, BaseUrls};
use super::judge::Requirements;
use super::report::{self, AuditReport};
use super::{Reading, Source};
use crate::cli::{AuditArgs, ReportFlags};
use crate::command::{Detail, Env, Exit};
use crate::scenario::model::AnchorSet;

/// What the audit requires, from the scenario (or the guide's defaults) and `--expect-ip`.
pub fn requirements(args: &AuditArgs, err: &mut dyn Write) -> Result<Requirements, Exit> {
    let mut req = Requirements::default();
    if let Some(path) = &args.scenario {
        match crate::scenario::load(path) {
            Ok(s) => {
                req.login_hosts = s
                    .login
                    .hosts
                    .iter()
                    .map(|h| h.as_str().to_string())
                    .collect();
                req.ports = s.login.ports.iter().map(|p| p.get()).collect();
                req.anchors = s.anchors.clone();
            }
            Err(errors) => {
                let _ = writeln!(err, "{errors}");
                return Err(Exit::Invalid);
            }
        }
    }
    if !args.expect_ip.is_empty() {
        req.anchors = AnchorSet(args.expect_ip.clone());
    }
    Ok(req)
}

/// Where the configuration comes from, credentials read through `var`.
pub fn source(args: &AuditArgs, var: impl Fn(&str) -> Option<String>) -> Result<Source, String> {
    if let Some(dir) = &args.from_snapshot {
        return Ok(Source::Snapshot(dir.clone()));
    }
    let urls = BaseUrls {
        zpa: args.zpa_url.clone(),
        zia: args.zia_url.clone(),
        oneapi: args.oneapi_url.clone(),
        oneapi_token: args.oneapi_token_url.clone(),
    };
    let credentials =
        AuditCredentials::from_env(var, &urls).map_err(|e| format!("credentials: {e}"))?;
    let mut settings = ApiSettings {
        ca_files: args.ca_file.clone(),
        ..ApiSettings::default()
    };
    if let Some(t) = args.timeout {
        settings.timeout = t;
    }
    Ok(Source::Api {
        credentials: Box::new(credentials),
        settings,
    })
}

/// `sipa-check audit`.
pub async fn audit(
    args: &AuditArgs,
    env: &Env,
    var: impl Fn(&str) -> Option<String>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let req = match requirements(args, err) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let source = match source(args, var) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return Exit::Invalid;
        }
    };
    let plan = match &args.terraform_plan {
        Some(path) => match super::plan::read(path) {
            Ok(p) => Some((path, p)),
            Err(e) => {
                let _ = writeln!(
                    err,
                    "error: {}",
                    crate::observation::cause_chain(&e).join(": ")
                );
                return Exit::Invalid;
            }
        },
        None => None,
    };
    let started = Instant::now();
    let started_at = now_rfc3339();
    let mut reading = match super::read(&source).await {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(
                err,
                "error: {}",
                crate::observation::cause_chain(&e).join(": ")
            );
            return Exit::Invalid;
        }
    };
    let mut applied = None;
    if let Some((path, plan)) = &plan {
        applied = Some(super::plan::apply(&mut reading.tenant, plan));
        reading.source = format!("{} + Terraform plan {}", reading.source, path.display());
    }
    let mut report = super::report(&reading, &req, started_at, started);
    if let Some(applied) = applied {
        applied.attribute(&mut report.checks);
        report.planned_changes = applied.changes;
    }
    finish(
        &reading,
        &report,
        args.snapshot.as_deref(),
        &args.reports,
        env,
        out,
        err,
    )
}

/// The current time, RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// Writes the snapshot and the reports; the exit code.
pub fn finish(
    reading: &Reading,
    report: &AuditReport,
    snapshot: Option<&Path>,
    reports: &ReportFlags,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let mut exit = Exit::of(report.overall);
    if let Some(dir) = snapshot {
        match reading.documents.write_snapshot(dir) {
            Ok(()) => {
                let _ = writeln!(err, "snapshot written to {}", dir.display());
            }
            Err(e) => {
                let _ = writeln!(
                    err,
                    "error: {}",
                    crate::observation::cause_chain(&e).join(": ")
                );
                exit = worse(exit, Exit::Inconclusive);
            }
        }
    }
    let json_to_stdout = reports
        .json
        .as_deref()
        .is_some_and(|p| p.as_os_str() == "-");
    if let Some(path) = &reports.json
        && let Err(e) = crate::report::write_to(path, |w| report::write_json(report, w))
    {
        let _ = writeln!(err, "error: {e}");
        exit = worse(exit, Exit::Inconclusive);
    }
    if let Some(path) = &reports.junit
        && let Err(e) = crate::report::write_to(path, |w| report::write_junit(report, w))
    {
        let _ = writeln!(err, "error: {e}");
        exit = worse(exit, Exit::Inconclusive);
    }
    let human: &mut dyn Write = if json_to_stdout { err } else { out };
    let _ = report::write_human(
        report,
        env.detail == Detail::Evidence,
        env.detail == Detail::Verdict,
        human,
    );
    exit
}

/// A report that could not be written never turns a pass into a pass.
fn worse(a: Exit, b: Exit) -> Exit {
    match (a, b) {
        (Exit::Failed, _) | (_, Exit::Failed) => Exit::Failed,
        (Exit::Passed, x) => x,
        (x, _) => x,
    }
}
