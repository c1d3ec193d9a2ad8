//! `sipa-check run` (and `--dry-run`): scenarios loaded and overridden by the flags, run per
//! vantage, reported and optionally pushed.

use std::io::Write;
use std::path::PathBuf;

use futures::future::FutureExt;

use super::validate::{write_evidence_rows, write_what_if_line};
use super::{
    CommandError, CommandResult, Env, Exit, Interrupt, ReportFiles, invalid, with_causes,
    write_reports,
};
use crate::address::ConnectTo;
use crate::cli::{RunArgs, ScenarioFlags};
use crate::outcome::RunReport;
use crate::plan::{Plan, Probe};
use crate::runner::{self, EntraAccess, Progress, Quiet, RunSettings};
use crate::scenario::model::Scenario;
use crate::scenario::{self, Overrides};

/// Loads the named scenarios (or the bundled Office 365 one) and applies the flags.
fn scenarios(
    paths: &[PathBuf],
    flags: &ScenarioFlags,
    env: &Env,
    err: &mut dyn Write,
) -> Result<Vec<Scenario>, CommandError> {
    let mut loaded = Vec::new();
    let mut failed = false;
    if paths.is_empty() {
        loaded.push(scenario::bundled_office365());
    }
    for path in paths {
        match scenario::load(path) {
            Ok(s) => loaded.push(s),
            Err(errors) => {
                failed = true;
                let _ = writeln!(err, "{errors}");
            }
        }
    }
    if failed {
        return Err(CommandError::Shown);
    }
    let overrides = overrides(flags, env).map_err(CommandError::Invalid)?;
    for s in &mut loaded {
        if let Err(e) = s.apply(&overrides) {
            return invalid(format!("{}: {e}", s.source.display()));
        }
        if s.entra.is_some()
            && let Err(e) = &env.entra_credentials
        {
            return invalid(format!(
                "{}: [entra] needs the probe app's credentials from the environment: {e} \
                 (set {}, {} and {} or {})",
                s.source.display(),
                crate::entra::AZURE_TENANT_ID,
                crate::entra::AZURE_CLIENT_ID,
                crate::entra::AZURE_CLIENT_SECRET,
                crate::entra::AZURE_CLIENT_CERTIFICATE_PATH
            ));
        }
        for vantage in std::iter::once(&mut s.vantage).chain(&mut s.more_vantages) {
            if let Some(proxy) = &mut vantage.proxy
                && proxy.password.is_none()
            {
                proxy.password = env.proxy_password.clone();
            }
        }
    }
    Ok(loaded)
}

/// Each scenario as one scenario per vantage it checks, in order: the runs of one group go
/// together, under one deadline.
fn per_vantage(loaded: &[Scenario]) -> Vec<Vec<Scenario>> {
    loaded.iter().map(Scenario::per_vantage).collect()
}

fn overrides(flags: &ScenarioFlags, env: &Env) -> Result<Overrides, String> {
    let mut proxy = match &flags.proxy {
        Some(url) => Some(scenario::parse_proxy(url).map_err(|e| format!("--proxy: {e}"))?),
        None => None,
    };
    if let Some(p) = &mut proxy {
        p.password = env.proxy_password.clone();
    }
    let decision = match (&flags.pac, flags.system_proxy) {
        (Some(pac), _) => Some(scenario::DecisionSpec::Pac(
            scenario::parse_pac_location(pac).map_err(|e| format!("--pac: {e}"))?,
        )),
        (None, true) => Some(scenario::DecisionSpec::SystemProxy),
        (None, false) => None,
    };
    Ok(Overrides {
        expect_ips: flags.expect_ip.clone(),
        vantage: flags.vantage.clone(),
        dns: flags.dns.clone(),
        proxy,
        decision,
        ca_files: flags.ca_file.clone(),
        family: flags.family(),
        require: flags.require,
        samples: flags.samples,
        timeout: flags.timeout,
        deadline: flags.deadline,
        entra_wait: flags.entra_wait,
    })
}

/// `sipa-check run`.
pub async fn run(
    args: &RunArgs,
    env: &Env,
    interrupt: Interrupt,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> CommandResult {
    let loaded = scenarios(&args.scenarios, &args.flags, env, err)?;
    let push = match args.push.as_deref().map(crate::push::PushTarget::parse) {
        None => None,
        Some(Ok(target)) => Some(target),
        Some(Err(e)) => {
            return invalid(e);
        }
    };
    let mut groups = per_vantage(&loaded);
    for group in &mut groups {
        // A group's vantages run at once: each gets its share of the descriptors.
        let sharing = group.len() as u64;
        for s in group.iter_mut() {
            fit_descriptors(s, env, sharing, err);
        }
    }
    let loaded: Vec<Scenario> = groups.iter().flatten().cloned().collect();
    if args.dry_run {
        // Everything `run` would refuse, refused the same way, without touching the network.
        if let Err(e) = ReportFiles::check(&args.reports) {
            return invalid(e);
        }
        prepare_all(&loaded, &args.flags.connect_to)?;
        for (i, s) in loaded.iter().enumerate() {
            if i > 0 {
                let _ = writeln!(out);
            }
            // A run shows these in its report; a dry run has none.
            for warning in s.vantage_warnings() {
                let _ = writeln!(err, "warning: {}: {warning}", s.source.display());
            }
            print_plan(s, &args.flags.connect_to, out);
        }
        return Ok(Exit::Passed);
    }
    let files = match ReportFiles::open(&args.reports) {
        Ok(f) => f,
        Err(e) => {
            return invalid(e);
        }
    };
    let entra = env
        .entra_credentials
        .as_ref()
        .ok()
        .map(|c| EntraAccess::new(c.clone()));
    run_loaded(
        &groups,
        &args.flags.connect_to,
        entra,
        files,
        env,
        interrupt,
        out,
        err,
        push.as_ref().map(|p| (p, args.flags.ca_file.as_slice())),
    )
    .await
}

/// Sets up each scenario as its run would (anchors, resolvers, trust anchors), without a probe.
fn prepare_all<'a>(
    loaded: impl IntoIterator<Item = &'a Scenario>,
    connect_to: &[ConnectTo],
) -> Result<Vec<runner::Prepared>, CommandError> {
    let mut prepared = Vec::new();
    for s in loaded {
        match runner::prepare(s, connect_to.to_vec()) {
            Ok(p) => prepared.push(p),
            Err(e) => {
                return invalid(with_causes(&e));
            }
        }
    }
    Ok(prepared)
}

/// Lowers the scenario's concurrency to what the descriptor limit allows, and says so.
pub(super) fn fit_descriptors(
    s: &mut Scenario,
    env: &Env,
    descriptors_per_probe: u64,
    err: &mut dyn Write,
) {
    let Some(open_files) = env.open_files else {
        return;
    };
    if let Some(note) = s.limits.fit_descriptors(open_files, descriptors_per_probe) {
        let _ = writeln!(err, "note: {}: {note}", s.source.display());
    }
}

/// Runs loaded scenarios one after another, the vantages of each at once (one run per
/// vantage, each under the scenario's deadline), then writes every report.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run_loaded(
    groups: &[Vec<Scenario>],
    connect_to: &[ConnectTo],
    entra: Option<EntraAccess>,
    files: ReportFiles,
    env: &Env,
    interrupt: Interrupt,
    out: &mut dyn Write,
    err: &mut dyn Write,
    push: Option<(&crate::push::PushTarget, &[PathBuf])>,
) -> CommandResult {
    let live = crate::progress::Live::new();
    let progress: &dyn Progress = if env.progress { &live } else { &Quiet };
    // Every scenario's and vantage's set-up (a bind address of this machine included) is made
    // before any probe, and the runs use it: a bad one makes exit 2 before anything ran.
    let mut prepared = prepare_all(groups.iter().flatten(), connect_to)?.into_iter();
    let mut runs = Vec::new();
    for group in groups {
        let running = group.iter().zip(prepared.by_ref()).map(|(s, set_up)| {
            let settings = RunSettings {
                connect_to: connect_to.to_vec(),
                interrupt: interrupt.clone().boxed(),
                progress,
                entra: entra.clone(),
            };
            (s, settings, set_up)
        });
        for done in runner::run_vantages(running.collect()).await {
            match done {
                Ok(run) => runs.push(run),
                Err(e) => {
                    return invalid(with_causes(&e));
                }
            }
        }
    }
    live.finish();
    let mut report = RunReport::new(runs);
    if let Some(zpa) = &env.zpa_anchors {
        report = zpa.join(report);
    }
    write_reports(&report, files, env, out, err, None);
    if let Some((target, ca_files)) = push {
        push_report(&report, target, ca_files, err).await;
    }
    Ok(Exit::of(report.overall))
}

/// `--push`: the report's metrics to the Pushgateway, after every report is written. A failed
/// push is said on stderr and changes neither the verdict nor its exit code.
async fn push_report(
    report: &RunReport,
    target: &crate::push::PushTarget,
    ca_files: &[PathBuf],
    err: &mut dyn Write,
) {
    let trust = match crate::probe::TrustStore::load(ca_files) {
        Ok(t) => Some(t.http_config()),
        Err(e) => {
            let _ = writeln!(
                err,
                "error: push: cannot set up TLS for the Pushgateway: {}",
                with_causes(&e)
            );
            return;
        }
    };
    for result in crate::push::push(report, target, trust).await {
        match result {
            Ok(pushed) => {
                let _ = writeln!(
                    err,
                    "pushed the metrics of vantage `{}` ({} scenario run(s)) to {}",
                    pushed.vantage, pushed.scenarios, pushed.url
                );
            }
            Err(e) => {
                let _ = writeln!(
                    err,
                    "error: {e} (the run's verdict and reports are unaffected)"
                );
            }
        }
    }
}

/// `--dry-run`: the expanded plan, one check a line, with what each waits for; then the
/// coverage checks the verdict adds, and the evidence each login host will get.
fn print_plan(s: &Scenario, connect_to: &[ConnectTo], out: &mut dyn Write) {
    let plan = Plan::build(s, connect_to);
    let _ = writeln!(
        out,
        "scenario {} ({}), vantage {}: {} checks",
        s.name,
        s.source.display(),
        s.vantage.name,
        plan.checks.len()
    );
    let _ = writeln!(out, "  anchor set {}", s.anchors);
    let _ = writeln!(
        out,
        "  expects anchoring: {}",
        if s.vantage.expect_anchored {
            "yes"
        } else {
            "no"
        }
    );
    let _ = writeln!(
        out,
        "  timeout {}, deadline {}, concurrency {}",
        crate::report::show_duration(s.limits.timeout),
        crate::report::show_duration(s.limits.deadline),
        s.limits.concurrency
    );
    let resolvers = if s.vantage.dns.is_empty() {
        "system".to_string()
    } else {
        s.vantage
            .dns
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "  resolvers {resolvers}");
    match &s.vantage.decision {
        Some(crate::scenario::DecisionSpec::Pac(at)) => {
            let _ = writeln!(
                out,
                "  proxy decision: the PAC file {at} (fetched and evaluated when the run starts; each login host, port and observer goes the way it says)"
            );
        }
        Some(crate::scenario::DecisionSpec::SystemProxy) => {
            let _ = writeln!(
                out,
                "  proxy decision: the environment's HTTPS_PROXY / HTTP_PROXY / NO_PROXY (read when the run starts)"
            );
        }
        None => {}
    }
    match &s.vantage.proxy {
        Some(p) => {
            let _ = writeln!(out, "  proxy {}", p.display_url());
        }
        None => {
            let _ = writeln!(out, "  proxy none");
        }
    }
    for ca in &s.vantage.ca_files {
        let _ = writeln!(out, "  ca-file {}", ca.display());
    }
    if let Some(bind) = &s.vantage.bind {
        let _ = writeln!(out, "  bind {bind}");
    }
    for rule in connect_to {
        let _ = writeln!(out, "  connect-to {rule}");
    }
    if s.observers.is_empty() {
        let _ = writeln!(out, "  observers: none");
    } else {
        let _ = writeln!(out, "  observers:");
        for o in &s.observers {
            let samples = if o.samples == 1 { "sample" } else { "samples" };
            let http3 = if o.http3 {
                ", over HTTP/3 too once QUIC gets through"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "    {} ({}) {} port {}, {} {samples}{http3}",
                o.name, o.role, o.url, o.port, o.samples
            );
        }
    }
    let _ = writeln!(
        out,
        "  evidence per login host (path only: a canary proves the shared path, not the host):"
    );
    write_evidence_rows(&crate::verdict::planned_evidence(&plan), "    ", out);
    write_what_if_line(s, "  ", out);
    if let Some(why) = plan.quic_not_checked(s) {
        let _ = writeln!(out, "  quic: {why}");
    }
    let _ = writeln!(out, "  checks:");
    for c in &plan.checks {
        let mut notes: Vec<String> = Vec::new();
        if let Some(resolve) = c.waits_for {
            notes.push(format!("after {}", plan.checks[resolve].name));
        }
        if let Probe::LoginPath { connect, .. } = plan.probe_of(c.id)
            && *connect != c.id
        {
            notes.push(format!(
                "on the connection of {}",
                plan.checks[*connect].name
            ));
        }
        if notes.is_empty() {
            let _ = writeln!(out, "  {:>3}  {}", c.id + 1, c.name);
        } else {
            let _ = writeln!(out, "  {:>3}  {}  ({})", c.id + 1, c.name, notes.join("; "));
        }
    }
    let _ = writeln!(out, "  coverage checks the verdict adds:");
    for line in coverage_lines(s, &plan) {
        let _ = writeln!(out, "    {line}");
    }
}

/// The verdict's coverage rules, as planned: each with the checks that can satisfy it, or why
/// the run can then only be inconclusive.
fn coverage_lines(s: &Scenario, plan: &Plan) -> Vec<String> {
    crate::verdict::coverage_rules(plan, &s.login.ports)
        .into_iter()
        .map(|rule| match (rule.checks.len(), &rule.unobserved) {
            (0, Some(missing)) => format!("{}: INCONCLUSIVE at best: {missing}", rule.name),
            (0, None) => format!("{}: nothing to decide", rule.name),
            (n, _) => format!(
                "{}: needs one of {n} egress {} decided",
                rule.name,
                if n == 1 { "check" } else { "checks" }
            ),
        })
        .collect()
}
