//! `sipa-check audit`: read (API or snapshot), keep a snapshot if asked, judge, report, and the
//! exit code (0 passed, 1 a link is wrong, 2 nothing could be read, 3 inconclusive).

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use time::format_description::well_known::Rfc3339;

use super::anchors::{AnchorsError, ZpaAnchors};
use super::client::{ApiRoute, ApiSettings, ProxyEnv};
use super::credentials::{AuditCredentials, BaseUrls, Products};
use super::judge::Requirements;
use super::report::{self, AuditReport};
use super::{Reading, Source};
use crate::cli::{AuditArgs, ReportFlags, RunArgs};
use crate::command::{Detail, Env, Exit};
use crate::scenario::model::AnchorSet;

/// What the audit requires, from the scenario (or the guide's defaults) and `--expect-ip`.
pub fn requirements(args: &AuditArgs, err: &mut dyn Write) -> Result<Requirements, Exit> {
    let mut req = Requirements::default();
    if let Some(path) = &args.scenario {
        match crate::scenario::load(path) {
            Ok(s) => req = Requirements::of_scenario(&s),
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

/// Where the configuration comes from, credentials read through `var`, the APIs reached as
/// the flags and the environment's proxy (`env`) say.
pub fn source(
    args: &AuditArgs,
    env: &Env,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Source, String> {
    if let Some(dir) = &args.from_snapshot {
        return Ok(Source::Snapshot(dir.clone()));
    }
    let urls = BaseUrls {
        zpa: args.zpa_url.clone(),
        zia: args.zia_url.clone(),
        oneapi: args.oneapi_url.clone(),
        oneapi_token: args.oneapi_token_url.clone(),
    };
    let credentials = AuditCredentials::from_env(var, &urls)
        .and_then(|c| c.check_urls(&urls).map(|()| c))
        .map_err(|e| format!("credentials: {e}"))?;
    let route = ApiRoute::new(
        args.proxy.as_deref(),
        env.proxy_password.as_ref(),
        &env.api_proxy,
        &args.dns,
        &args.connect_to,
    )?;
    let mut settings = ApiSettings {
        ca_files: args.ca_file.clone(),
        route: Box::new(route),
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

/// `run --anchors-from-zpa[=SNAPSHOT]`: reads the anchor set from ZPA (ZPA credentials alone,
/// through `var`; the same base URL flags as `audit`), finding the segments by the run's own
/// scenarios' login hosts. Returns the run's arguments with the anchors as `--expect-ip`, and
/// the connectors; or the exit code, having said why on `err` (2: unusable scenario, flags or
/// credentials; 3: ZPA could not be read or lists no connector, so the run could not judge
/// anchoring).
pub async fn anchors_for_run(
    args: &RunArgs,
    snapshot: Option<&Path>,
    var: impl Fn(&str) -> Option<String>,
    proxy: &ProxyEnv,
    err: &mut dyn Write,
) -> Result<(RunArgs, ZpaAnchors), Exit> {
    // The login hosts (and ports) of the scenarios the run will check: a US Government
    // scenario's segment lists login.microsoftonline.us, not the commercial hosts.
    let mut scenarios = Vec::new();
    if args.scenarios.is_empty() {
        scenarios.push(crate::scenario::bundled_office365());
    }
    for path in &args.scenarios {
        match crate::scenario::load(path) {
            Ok(s) => scenarios.push(s),
            Err(errors) => {
                let _ = writeln!(err, "{errors}");
                return Err(Exit::Invalid);
            }
        }
    }
    let mut req = Requirements {
        login_hosts: Vec::new(),
        ports: Vec::new(),
        anchors: AnchorSet::default(),
    };
    for s in &scenarios {
        let of = Requirements::of_scenario(s);
        for h in of.login_hosts {
            if !req.login_hosts.contains(&h) {
                req.login_hosts.push(h);
            }
        }
        for p in of.ports {
            if !req.ports.contains(&p) {
                req.ports.push(p);
            }
        }
    }
    let fail = |err: &mut dyn Write, exit: Exit, message: String| {
        let _ = writeln!(err, "error: --anchors-from-zpa: {message}");
        Err(exit)
    };
    let source = match snapshot {
        Some(dir) => Source::Snapshot(dir.to_path_buf()),
        None => {
            let urls = BaseUrls {
                zpa: args.zpa_url.clone(),
                zia: None,
                oneapi: args.oneapi_url.clone(),
                oneapi_token: args.oneapi_token_url.clone(),
            };
            let credentials = match AuditCredentials::from_env_for(var, &urls, Products::ZpaOnly)
                .and_then(|c| c.check_urls(&urls).map(|()| c))
            {
                Ok(c) => c,
                Err(e) => return fail(err, Exit::Invalid, format!("credentials: {e}")),
            };
            if credentials.zpa.is_none() {
                return fail(
                    err,
                    Exit::Invalid,
                    "no ZPA credentials in the environment (ZPA_CLIENT_ID, ZPA_CLIENT_SECRET, ZPA_CUSTOMER_ID; or ZSCALER_CLIENT_ID with ZPA_CUSTOMER_ID)".into(),
                );
            }
            // The environment's proxy, as `audit` uses it; the run's own --proxy, --dns and
            // --connect-to are the vantage's path to the login hosts, not to the API.
            let route = match ApiRoute::new(None, None, proxy, &[], &[]) {
                Ok(r) => r,
                Err(e) => return fail(err, Exit::Invalid, e),
            };
            Source::Api {
                credentials: Box::new(credentials),
                settings: ApiSettings {
                    ca_files: args.flags.ca_file.clone(),
                    route: Box::new(route),
                    ..ApiSettings::default()
                },
            }
        }
    };
    match super::anchors::resolve(&source, &req).await {
        Ok(zpa) => {
            let mut args = args.clone();
            args.flags.expect_ip = zpa.nets();
            Ok((args, zpa))
        }
        Err(e) => {
            let exit = match e {
                AnchorsError::Read(super::AuditError::Snapshot(_)) => Exit::Invalid,
                _ => Exit::Inconclusive,
            };
            fail(err, exit, crate::observation::cause_chain(&e).join(": "))
        }
    }
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
    let source = match source(args, env, var) {
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
    for w in &reading.warnings {
        let _ = writeln!(err, "warning: {w}");
    }
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
