//! `sipa-check audit`: read (API or snapshot), keep a snapshot if asked, judge, report, and the
//! exit code (0 passed, 1 a link is wrong, 2 nothing could be read, 3 inconclusive); `run
//! --anchors-from-zpa`'s anchors; and `lab --audit`, the lab's fake ZPA and ZIA APIs audited
//! beside its network, so one fault breaks both layers and one command shows both.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use time::format_description::well_known::Rfc3339;

use super::{CommandError, CommandResult, Detail, Env, Exit, Interrupt, invalid};
use crate::audit::anchors::{AnchorsError, ZpaAnchors};
use crate::audit::client::{ApiRoute, ApiSettings, ProxyEnv};
use crate::audit::credentials::{AuditCredentials, BaseUrls, Products};
use crate::audit::judge::Requirements;
use crate::audit::report::AuditReport;
use crate::audit::{AuditError, Reading, Source};
use crate::cli::{AuditArgs, ReportFlags, RunArgs};
use crate::lab::admin_api::{AdminApi, AuditFault};
use crate::lab::{ANCHOR_IP, Fault};
use crate::report::audit as report;
use crate::scenario::model::AnchorSet;

/// What the audit requires, from the scenario (or the guide's defaults) and `--expect-ip`.
pub fn requirements(args: &AuditArgs, err: &mut dyn Write) -> Result<Requirements, CommandError> {
    let mut req = Requirements::default();
    if let Some(path) = &args.scenario {
        match crate::scenario::load(path) {
            Ok(s) => req = Requirements::of_scenario(&s),
            Err(errors) => {
                let _ = writeln!(err, "{errors}");
                return Err(CommandError::Shown);
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
) -> Result<(RunArgs, ZpaAnchors), CommandError> {
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
                return Err(CommandError::Shown);
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
    let invalid = |message: String| {
        Err(CommandError::Invalid(format!(
            "--anchors-from-zpa: {message}"
        )))
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
                Err(e) => return invalid(format!("credentials: {e}")),
            };
            if credentials.zpa.is_none() {
                return invalid(
                    "no ZPA credentials in the environment (ZPA_CLIENT_ID, ZPA_CLIENT_SECRET, ZPA_CUSTOMER_ID; or ZSCALER_CLIENT_ID with ZPA_CUSTOMER_ID)".into(),
                );
            }
            // The environment's proxy, as `audit` uses it; the run's own --proxy, --dns and
            // --connect-to are the vantage's path to the login hosts, not to the API.
            let route = match ApiRoute::new(None, None, proxy, &[], &[]) {
                Ok(r) => r,
                Err(e) => return invalid(e),
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
    match crate::audit::anchors::resolve(&source, &req).await {
        Ok(zpa) => {
            let mut args = args.clone();
            args.flags.expect_ip = zpa.nets();
            Ok((args, zpa))
        }
        Err(e) => {
            let message = format!(
                "--anchors-from-zpa: {}",
                crate::observation::cause_chain(&e).join(": ")
            );
            match e {
                AnchorsError::Read(AuditError::Snapshot(_)) => Err(CommandError::Invalid(message)),
                _ => Err(CommandError::Inconclusive(message)),
            }
        }
    }
}

/// `sipa-check run --anchors-from-zpa`: the anchor set read from ZPA first, then the run
/// with it.
pub async fn run_with_zpa_anchors(
    args: &RunArgs,
    snapshot: Option<&Path>,
    var: impl Fn(&str) -> Option<String>,
    env: &Env,
    interrupt: Interrupt,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> CommandResult {
    let (args, zpa) = anchors_for_run(args, snapshot, var, &env.api_proxy, err).await?;
    let env = Env {
        zpa_anchors: Some(std::sync::Arc::new(zpa)),
        ..env.clone()
    };
    super::run::run(&args, &env, interrupt, out, err).await
}

/// `sipa-check audit`.
pub async fn audit(
    args: &AuditArgs,
    env: &Env,
    var: impl Fn(&str) -> Option<String>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> CommandResult {
    let req = requirements(args, err)?;
    let source = match source(args, env, var) {
        Ok(s) => s,
        Err(e) => {
            return invalid(e);
        }
    };
    let plan = match &args.terraform_plan {
        Some(path) => match crate::audit::plan::read(path) {
            Ok(p) => Some((path, p)),
            Err(e) => {
                return invalid(crate::observation::cause_chain(&e).join(": "));
            }
        },
        None => None,
    };
    let started = Instant::now();
    let started_at = now_rfc3339();
    let mut reading = match crate::audit::read(&source).await {
        Ok(r) => r,
        Err(e) => {
            return invalid(crate::observation::cause_chain(&e).join(": "));
        }
    };
    let mut applied = None;
    if let Some((path, plan)) = &plan {
        applied = Some(crate::audit::plan::apply(&mut reading.tenant, plan));
        reading.source = format!("{} + Terraform plan {}", reading.source, path.display());
    }
    let mut report = crate::audit::report(&reading, &req, started_at, started);
    if let Some(applied) = applied {
        applied.attribute(&mut report.checks);
        report.planned_changes = applied.changes;
    }
    Ok(finish(
        &reading,
        &report,
        args.snapshot.as_deref(),
        &args.reports,
        env,
        out,
        err,
    ))
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

/// `--fault` names: the network faults (an audit fault adds the network fault it causes), and
/// the audit faults.
pub fn split_faults(names: &[String]) -> Result<(Vec<Fault>, Vec<AuditFault>), String> {
    let mut faults = Vec::new();
    let mut audit = Vec::new();
    for name in names {
        if let Ok(f) = name.parse::<Fault>() {
            if !faults.contains(&f) {
                faults.push(f);
            }
        } else if let Ok(a) = name.parse::<AuditFault>() {
            audit.push(a);
            if let Some(f) = a.network()
                && !faults.contains(&f)
            {
                faults.push(f);
            }
        } else {
            return Err(format!("--fault {name}: unknown fault (see --list-faults)"));
        }
    }
    Ok((faults, audit))
}

/// Lists the audit faults after the network ones.
pub fn list_faults(out: &mut dyn Write) {
    for f in AuditFault::ALL {
        let _ = writeln!(out, "{:<24} {}", f.name(), f.description());
    }
}

/// Combines the network run's exit with the audit's: a failure anywhere fails.
pub fn combine(a: Exit, b: Exit) -> Exit {
    use Exit::*;
    match (a, b) {
        (Invalid, _) | (_, Invalid) => Invalid,
        (Failed, _) | (_, Failed) => Failed,
        (Inconclusive, _) | (_, Inconclusive) => Inconclusive,
        _ => Passed,
    }
}

/// Audits the lab's tenant through its fake APIs (legacy credentials), as a user would.
pub async fn audit_lab(
    api: &AdminApi,
    reports: &ReportFlags,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> CommandResult {
    let vars = AdminApi::legacy_env();
    let urls = BaseUrls {
        zpa: Some(api.zpa_url()),
        zia: Some(api.zia_url()),
        oneapi: None,
        oneapi_token: None,
    };
    let credentials = match AuditCredentials::from_env(
        |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()),
        &urls,
    ) {
        Ok(c) => c,
        Err(e) => return invalid(format!("lab credentials: {e}")),
    };
    let source = Source::Api {
        credentials: Box::new(credentials),
        settings: ApiSettings {
            ca_files: vec![api.ca_file().to_path_buf()],
            ..ApiSettings::default()
        },
    };
    let req = Requirements {
        anchors: AnchorSet(vec![ipnet::IpNet::from(std::net::IpAddr::V4(ANCHOR_IP))]),
        ..Requirements::default()
    };
    let started = Instant::now();
    let started_at = now_rfc3339();
    let reading = match crate::audit::read(&source).await {
        Ok(r) => r,
        Err(e) => return invalid(crate::observation::cause_chain(&e).join(": ")),
    };
    let report = crate::audit::report(&reading, &req, started_at, started);
    let _ = writeln!(out);
    Ok(finish(&reading, &report, None, reports, env, out, err))
}
