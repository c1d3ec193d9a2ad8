//! The subcommands, as library functions: they take validated arguments and the few facts
//! `main` reads from the environment, and return the exit status.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use futures::future::{BoxFuture, FutureExt, Shared};

use crate::address::ConnectTo;
use crate::cli::{LabArgs, ReportFlags, RunArgs, ScenarioFlags, ValidateArgs};
use crate::lab::{Fault, Lab, LabConfig};
use crate::observation::Cut;
use crate::outcome::{RunReport, Status};
use crate::plan::{Plan, Probe};
use crate::report::{self, human::HumanStyle};
use crate::runner::{self, Progress, Quiet, RunSettings};
use crate::scenario::model::{Scenario, Secret};
use crate::scenario::{self, Overrides};

/// The process's exit status, as DESIGN.md names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every check passed.
    Passed = 0,
    /// A check failed: the network answered and anchoring (or the path) is wrong.
    Failed = 1,
    /// Invalid command line or scenario.
    Invalid = 2,
    /// No failure, but some checks were inconclusive.
    Inconclusive = 3,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

impl Exit {
    pub fn of(status: Status) -> Exit {
        match status {
            Status::Pass => Exit::Passed,
            Status::Fail => Exit::Failed,
            Status::Error | Status::Skip => Exit::Inconclusive,
        }
    }
}

/// What `main` found in the environment.
pub struct Env {
    /// Colour on the human report (a terminal, and NO_COLOR unset).
    pub color: bool,
    /// Live progress on stderr (stderr is a terminal).
    pub progress: bool,
    /// SIPA_CHECK_PROXY_PASSWORD.
    pub proxy_password: Option<Secret>,
    /// How many files this process may open (the soft RLIMIT_NOFILE), where it is known.
    pub open_files: Option<u64>,
    /// The terminal's width when stdout is a terminal; `None` (piped) never wraps.
    pub columns: Option<usize>,
}

/// An interrupt (Ctrl-C or SIGTERM) that several runs can wait on; it says which.
pub type Interrupt = Shared<BoxFuture<'static, Cut>>;

/// `sipa-check validate`: every error of every file, `FILE:LINE:COL: message`.
pub fn validate(args: &ValidateArgs, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let mut ok = true;
    for path in &args.scenarios {
        match scenario::load(path) {
            Ok(s) => {
                let _ = writeln!(
                    out,
                    "{}: ok ({} login hosts, {} ports, {} observers)",
                    path.display(),
                    s.login.hosts.len(),
                    s.login.ports.len(),
                    s.observers.len()
                );
            }
            Err(errors) => {
                ok = false;
                let _ = writeln!(err, "{errors}");
            }
        }
    }
    if ok { Exit::Passed } else { Exit::Invalid }
}

/// Loads the named scenarios (or the bundled Office 365 one) and applies the flags.
fn scenarios(
    paths: &[PathBuf],
    flags: &ScenarioFlags,
    env: &Env,
    err: &mut dyn Write,
) -> Result<Vec<Scenario>, Exit> {
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
        return Err(Exit::Invalid);
    }
    let overrides = match overrides(flags, env) {
        Ok(o) => o,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return Err(Exit::Invalid);
        }
    };
    for s in &mut loaded {
        if let Err(e) = s.apply(&overrides) {
            let _ = writeln!(err, "error: {}: {e}", s.source.display());
            return Err(Exit::Invalid);
        }
        if let Some(proxy) = &mut s.vantage.proxy
            && proxy.password.is_none()
        {
            proxy.password = env.proxy_password.clone();
        }
    }
    Ok(loaded)
}

fn overrides(flags: &ScenarioFlags, env: &Env) -> Result<Overrides, String> {
    let mut proxy = match &flags.proxy {
        Some(url) => Some(scenario::parse_proxy(url).map_err(|e| format!("--proxy: {e}"))?),
        None => None,
    };
    if let Some(p) = &mut proxy {
        p.password = env.proxy_password.clone();
    }
    Ok(Overrides {
        expect_ips: flags.expect_ip.clone(),
        vantage: flags.vantage.clone(),
        dns: flags.dns.clone(),
        proxy,
        ca_files: flags.ca_file.clone(),
        family: flags.family,
        samples: flags.samples,
        timeout: flags.timeout,
        deadline: flags.deadline,
    })
}

/// `sipa-check run`.
pub async fn run(
    args: &RunArgs,
    env: &Env,
    interrupt: Interrupt,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let mut loaded = match scenarios(&args.scenarios, &args.flags, env, err) {
        Ok(s) => s,
        Err(exit) => return exit,
    };
    for s in &mut loaded {
        fit_descriptors(s, env, 1, err);
    }
    if args.dry_run {
        for s in &loaded {
            print_plan(s, &args.flags.connect_to, out);
        }
        return Exit::Passed;
    }
    run_loaded(
        &loaded,
        &args.flags.connect_to,
        &args.reports,
        env,
        interrupt,
        out,
        err,
    )
    .await
}

/// Lowers the scenario's concurrency to what the descriptor limit allows, and says so.
fn fit_descriptors(s: &mut Scenario, env: &Env, descriptors_per_probe: u64, err: &mut dyn Write) {
    let Some(open_files) = env.open_files else {
        return;
    };
    if let Some(note) = s.limits.fit_descriptors(open_files, descriptors_per_probe) {
        let _ = writeln!(err, "note: {}: {note}", s.source.display());
    }
}

/// Runs loaded scenarios one after another, then writes every report.
async fn run_loaded(
    loaded: &[Scenario],
    connect_to: &[ConnectTo],
    reports: &ReportFlags,
    env: &Env,
    interrupt: Interrupt,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let live = crate::progress::Live::new();
    let progress: &dyn Progress = if env.progress { &live } else { &Quiet };
    let mut runs = Vec::new();
    for s in loaded {
        let settings = RunSettings {
            connect_to: connect_to.to_vec(),
            interrupt: interrupt.clone().boxed(),
            progress,
        };
        match runner::run_scenario(s, settings).await {
            Ok(run) => runs.push(run),
            Err(e) => {
                let _ = writeln!(err, "error: {}", with_causes(&e));
                return Exit::Invalid;
            }
        }
    }
    live.finish();
    let report = RunReport::new(runs);
    if let Err(exit) = write_reports(&report, reports, env, out, err) {
        return exit;
    }
    Exit::of(report.overall)
}

/// The human report on stdout (stderr when the JSON takes stdout), then JSON and JUnit files.
fn write_reports(
    report: &RunReport,
    flags: &ReportFlags,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Exit> {
    let style = HumanStyle {
        color: env.color,
        width: env.columns,
        ..HumanStyle::default()
    };
    let json_to_stdout = flags.json.as_deref() == Some(Path::new("-"));
    let human_to: &mut dyn Write = if json_to_stdout { &mut *err } else { &mut *out };
    if let Err(e) = report::human::write(report, &mut *human_to, style) {
        let _ = writeln!(err, "error: cannot write the report: {e}");
        return Err(Exit::Invalid);
    }
    let mut failed = false;
    if let Some(path) = &flags.json {
        let written = if json_to_stdout {
            report::json::write(report, &mut *out).map_err(report::ReportError::from)
        } else {
            report::write_to(path, |w| report::json::write(report, w).map_err(Into::into))
        };
        if let Err(e) = written {
            let _ = writeln!(err, "error: {e}");
            failed = true;
        }
    }
    if let Some(path) = &flags.junit
        && let Err(e) = report::write_to(path, |w| report::junit::write(report, w))
    {
        let _ = writeln!(err, "error: {e}");
        failed = true;
    }
    if failed { Err(Exit::Invalid) } else { Ok(()) }
}

/// `--dry-run`: the expanded plan, one check a line, with what each waits for.
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
        "  timeout {}, deadline {}, concurrency {}",
        crate::report::show_duration(s.limits.timeout),
        crate::report::show_duration(s.limits.deadline),
        s.limits.concurrency
    );
    if let Some(p) = &s.vantage.proxy {
        let _ = writeln!(out, "  proxy {}", p.display_url());
    }
    for rule in connect_to {
        let _ = writeln!(out, "  connect-to {rule}");
    }
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
}

/// `sipa-check lab`: the embedded lab, with the bundled lab scenario run against it.
pub async fn lab(
    args: &LabArgs,
    env: &Env,
    interrupt: Interrupt,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    if args.list_faults {
        for fault in Fault::ALL {
            let _ = writeln!(out, "{:<24} {}", fault.name(), fault.description());
        }
        return Exit::Passed;
    }
    let mut faults = Vec::new();
    for name in &args.faults {
        match name.parse::<Fault>() {
            Ok(f) => faults.push(f),
            Err(e) => {
                let _ = writeln!(err, "error: --fault {name}: {e}");
                return Exit::Invalid;
            }
        }
    }
    let config_faults = faults.clone();
    let config = LabConfig {
        faults,
        latency: args.latency.unwrap_or_default(),
    };
    let lab = match Lab::start(config).await {
        Ok(lab) => lab,
        Err(e) => {
            let _ = writeln!(err, "error: cannot start the lab: {}", with_causes(&e));
            return Exit::Invalid;
        }
    };
    if args.serve {
        return serve(&lab, interrupt, out).await;
    }
    let mut s = scenario::bundled_lab();
    let (mut overrides, connect_to) = lab_overrides(&lab, &config_faults, args.via_proxy);
    overrides.timeout = args.timeout;
    overrides.deadline = args.deadline;
    if let Err(e) = s.apply(&overrides) {
        let _ = writeln!(err, "error: {e}");
        return Exit::Invalid;
    }
    // The lab serves each probe's connection in this same process: its gateway and origin hold
    // three more descriptors for every one the probe opens.
    fit_descriptors(&mut s, env, 4, err);
    let exit = run_loaded(&[s], &connect_to, &args.reports, env, interrupt, out, err).await;
    lab.shutdown().await;
    exit
}

/// The overrides and `--connect-to` rules that point the bundled lab scenario at `lab`. Faults
/// that only show through the proxy, or only over IPv6, choose that path.
pub fn lab_overrides(lab: &Lab, faults: &[Fault], via_proxy: bool) -> (Overrides, Vec<ConnectTo>) {
    let via_proxy = via_proxy || faults.iter().any(|f| f.needs_proxy());
    let mut overrides = Overrides {
        expect_ips: vec![ipnet::IpNet::from(lab.anchor_ip())],
        dns: vec![lab.dns_addr()],
        ca_files: vec![lab.ca_file().to_path_buf()],
        family: faults
            .iter()
            .any(|f| f.needs_ipv6())
            .then_some(crate::scenario::model::FamilySelection::Both),
        ..Overrides::default()
    };
    let mut connect_to = Vec::new();
    if via_proxy {
        overrides.proxy = scenario::parse_proxy(&format!("http://{}", lab.proxy_addr())).ok();
    } else {
        for (port, addr) in [
            (80, lab.transparent_http_addr()),
            (443, lab.transparent_https_addr()),
        ] {
            connect_to.push(ConnectTo {
                from_host: None,
                from_port: Some(port),
                to_host: None,
                to_port: Some(addr.port()),
            });
        }
    }
    (overrides, connect_to)
}

async fn serve(lab: &Lab, interrupt: Interrupt, out: &mut dyn Write) -> Exit {
    let _ = writeln!(
        out,
        "sipa-check lab is up on loopback. In another shell, run for example:\n"
    );
    let _ = writeln!(
        out,
        "  sipa-check run scenarios/lab.toml {}\n",
        shell_words(&lab.run_flags())
    );
    let _ = writeln!(out, "or through its explicit proxy:\n");
    let _ = writeln!(
        out,
        "  sipa-check run scenarios/lab.toml {}\n",
        shell_words(&lab.proxy_run_flags())
    );
    let _ = writeln!(
        out,
        "Anchored traffic leaves from {}, the rest from {}. Ctrl-C stops the lab.",
        lab.anchor_ip(),
        lab.edge_ip()
    );
    let _ = out.flush();
    let _ = interrupt.await;
    Exit::Passed
}

/// An error with its whole cause chain, as one line: `outer: inner: innermost`.
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    crate::observation::cause_chain(e).join(": ")
}

fn shell_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            if w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:=@[]".contains(c))
            {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
