//! The subcommands, as library functions: they take validated arguments and the few facts
//! `main` reads from the environment, and return the exit status.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt, Shared};

use crate::address::ConnectTo;
use crate::cli::{
    CompleteArgs, CompletionsArgs, InitArgs, LabArgs, ManArgs, ReportFlags, RunArgs, ScenarioFlags,
    ServeArgs, ValidateArgs,
};
use crate::entra::{CredentialsError, EntraCredentials};
use crate::lab::{Fault, Lab, LabConfig};
use crate::observation::Cut;
use crate::outcome::{RunReport, Status};
use crate::plan::{Plan, Probe};
use crate::report::{self, human::HumanStyle};
use crate::runner::{self, EntraAccess, Progress, Quiet, RunSettings};
use crate::scenario::model::{EntraMode, Scenario, Secret};
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

/// How much the terminal report says (`-q`, default, `-v`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Detail {
    /// Only the verdict line.
    Verdict,
    /// The report: every check on a line, evidence for failures and errors.
    #[default]
    Report,
    /// The report, then every check's evidence, passes included.
    Evidence,
}

/// What `main` found in the environment.
pub struct Env {
    /// Colour on the human report (`--color`, or for `auto` a terminal and NO_COLOR unset).
    pub color: bool,
    /// `-q` / `-v`.
    pub detail: Detail,
    /// Live progress on stderr (stderr is a terminal).
    pub progress: bool,
    /// SIPA_CHECK_PROXY_PASSWORD.
    pub proxy_password: Option<Secret>,
    /// How many files this process may open (the soft RLIMIT_NOFILE), where it is known.
    pub open_files: Option<u64>,
    /// The terminal's width when stdout is a terminal; `None` (piped) never wraps.
    pub columns: Option<usize>,
    /// The Entra probe app's credentials (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET
    /// or AZURE_CLIENT_CERTIFICATE_PATH), or why there are none: needed by `[entra]` only.
    pub entra_credentials: Result<Arc<EntraCredentials>, Arc<CredentialsError>>,
    /// With `run --anchors-from-zpa`: the App Connectors ZPA describes.
    pub zpa_anchors: Option<Arc<crate::audit::anchors::ZpaAnchors>>,
    /// HTTPS_PROXY and NO_PROXY, for the audit's API clients (and `--anchors-from-zpa`).
    pub api_proxy: crate::audit::client::ProxyEnv,
}

/// An interrupt (Ctrl-C or SIGTERM) that several runs can wait on; it says which.
pub type Interrupt = Shared<BoxFuture<'static, Cut>>;

/// `sipa-check validate`: checks each scenario (`-` is standard input) and prints its errors,
/// or `ok` with its counts when a run of it can pass. A valid scenario that can only be
/// inconclusive (no anchors, a login port without an anchored observer, no control) prints
/// `valid, but cannot pass as written` and a warning per shortfall on `err`; it still exits 0, as it is valid.
pub fn validate(args: &ValidateArgs, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let mut ok = true;
    for path in &args.scenarios {
        let (name, loaded) = if path.as_os_str() == scenario::STDIN_ARG {
            let loaded = scenario::load_reader(&mut std::io::stdin().lock());
            (Path::new(scenario::STDIN_NAME), loaded)
        } else {
            (path.as_path(), scenario::load(path))
        };
        match loaded {
            Ok(s) => {
                let shortfalls = s.shortfalls();
                let summary = s.summary();
                let evidence = crate::verdict::planned_evidence(&Plan::build(&s, &[]));
                if shortfalls.is_empty() {
                    let _ = writeln!(out, "{}: ok ({summary})", name.display());
                    write_evidence_rows(&evidence, "  ", out);
                    write_vantage_rows(&s, "  ", out);
                    write_what_if_line(&s, "  ", out);
                } else {
                    let _ = writeln!(
                        out,
                        "{}: valid, but cannot pass as written ({summary})",
                        name.display()
                    );
                    write_evidence_rows(&evidence, "  ", out);
                    write_vantage_rows(&s, "  ", out);
                    write_what_if_line(&s, "  ", out);
                    for shortfall in shortfalls {
                        let _ = writeln!(err, "{}: warning: {shortfall}", name.display());
                    }
                }
            }
            Err(errors) => {
                ok = false;
                let _ = writeln!(err, "{errors}");
            }
        }
    }
    if ok { Exit::Passed } else { Exit::Invalid }
}

/// The vantages of a scenario that declares several, a line each with what it expects and
/// where its traffic leaves from. A single vantage is said by the summary already.
fn write_vantage_rows(s: &Scenario, indent: &str, out: &mut dyn Write) {
    if s.more_vantages.is_empty() {
        return;
    }
    let pad = s
        .vantages()
        .map(|v| v.name.chars().count())
        .max()
        .unwrap_or(0);
    for v in s.vantages() {
        let _ = writeln!(out, "{indent}vantage {:<pad$}  {}", v.name, vantage_line(v));
    }
}

/// What a vantage expects, and where its traffic leaves from.
fn vantage_line(v: &crate::scenario::Vantage) -> String {
    let expects = if v.expect_anchored {
        "login traffic anchored"
    } else {
        "login traffic NOT anchored"
    };
    match &v.bind {
        Some(bind) => format!("expects {expects}, from {bind}"),
        None => format!("expects {expects}"),
    }
}

/// Whether the run asks Conditional Access's What If, and what it compares.
fn write_what_if_line(s: &Scenario, indent: &str, out: &mut dyn Write) {
    if let Some(entra) = s.entra.as_ref().filter(|e| e.asks_what_if()) {
        let control = match entra.what_if_control_ip {
            Some(ip) => format!("the control's egress IP (else {ip})"),
            None => "the control's egress IP".to_string(),
        };
        let _ = writeln!(
            out,
            "{indent}conditional access what-if ({}): each anchor of {} against {control}",
            entra.graph_host(),
            s.anchors
        );
    }
}

/// The evidence each login host will get, a line per host and route.
fn write_evidence_rows(
    evidence: &[crate::outcome::HostEvidence],
    indent: &str,
    out: &mut dyn Write,
) {
    let rows = report::evidence_rows(evidence);
    let pad = rows
        .iter()
        .map(|(w, _)| w.chars().count())
        .max()
        .unwrap_or(0);
    for (who, ports) in rows {
        let _ = writeln!(out, "{indent}{who:<pad$}  {ports}");
    }
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
        if s.entra.is_some()
            && let Err(e) = &env.entra_credentials
        {
            let _ = writeln!(
                err,
                "error: {}: [entra] needs the probe app's credentials from the environment: {e} \
                 (set {}, {} and {} or {})",
                s.source.display(),
                crate::entra::AZURE_TENANT_ID,
                crate::entra::AZURE_CLIENT_ID,
                crate::entra::AZURE_CLIENT_SECRET,
                crate::entra::AZURE_CLIENT_CERTIFICATE_PATH,
            );
            return Err(Exit::Invalid);
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
    Ok(Overrides {
        expect_ips: flags.expect_ip.clone(),
        vantage: flags.vantage.clone(),
        dns: flags.dns.clone(),
        proxy,
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
) -> Exit {
    let loaded = match scenarios(&args.scenarios, &args.flags, env, err) {
        Ok(s) => s,
        Err(exit) => return exit,
    };
    let push = match args.push.as_deref().map(crate::push::PushTarget::parse) {
        None => None,
        Some(Ok(target)) => Some(target),
        Some(Err(e)) => {
            let _ = writeln!(err, "error: {e}");
            return Exit::Invalid;
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
            let _ = writeln!(err, "error: {e}");
            return Exit::Invalid;
        }
        if let Err(exit) = prepare_all(&loaded, &args.flags.connect_to, err) {
            return exit;
        }
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
        return Exit::Passed;
    }
    let files = match ReportFiles::open(&args.reports) {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return Exit::Invalid;
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
    err: &mut dyn Write,
) -> Result<Vec<runner::Prepared>, Exit> {
    let mut prepared = Vec::new();
    for s in loaded {
        match runner::prepare(s, connect_to.to_vec()) {
            Ok(p) => prepared.push(p),
            Err(e) => {
                let _ = writeln!(err, "error: {}", with_causes(&e));
                return Err(Exit::Invalid);
            }
        }
    }
    Ok(prepared)
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

/// Runs loaded scenarios one after another, the vantages of each at once (one run per
/// vantage, each under the scenario's deadline), then writes every report.
#[allow(clippy::too_many_arguments)]
async fn run_loaded(
    groups: &[Vec<Scenario>],
    connect_to: &[ConnectTo],
    entra: Option<EntraAccess>,
    files: ReportFiles,
    env: &Env,
    interrupt: Interrupt,
    out: &mut dyn Write,
    err: &mut dyn Write,
    push: Option<(&crate::push::PushTarget, &[PathBuf])>,
) -> Exit {
    let live = crate::progress::Live::new();
    let progress: &dyn Progress = if env.progress { &live } else { &Quiet };
    // Every scenario's and vantage's set-up (a bind address of this machine included) is made
    // before any probe, and the runs use it: a bad one makes exit 2 before anything ran.
    let mut prepared = match prepare_all(groups.iter().flatten(), connect_to, err) {
        Ok(p) => p.into_iter(),
        Err(exit) => return exit,
    };
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
                    let _ = writeln!(err, "error: {}", with_causes(&e));
                    return Exit::Invalid;
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
    Exit::of(report.overall)
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

/// A report's destination, opened before any probe runs.
enum Destination {
    Stdout,
    File { path: PathBuf, file: File },
}

/// The `--json` and `--junit` destinations, opened (and so proven writable) before anything
/// runs: a bad path is a command-line error, and costs no probe.
pub struct ReportFiles {
    json: Option<Destination>,
    junit: Option<Destination>,
}

impl ReportFiles {
    /// Opens every report path for writing, creating missing files; an existing file is only
    /// truncated when its report is written.
    pub fn open(flags: &ReportFlags) -> Result<ReportFiles, String> {
        let open = |path: &Option<PathBuf>| -> Result<Option<Destination>, String> {
            match path {
                None => Ok(None),
                Some(p) if is_stdout(p) => Ok(Some(Destination::Stdout)),
                Some(p) => open_for_report(p).map(|file| {
                    Some(Destination::File {
                        path: p.clone(),
                        file,
                    })
                }),
            }
        };
        let files = ReportFiles {
            json: open(&flags.json)?,
            junit: open(&flags.junit)?,
        };
        if let (
            Some(Destination::File { file: a, path, .. }),
            Some(Destination::File { file: b, .. }),
        ) = (&files.json, &files.junit)
            && same_file(a, b)
        {
            return Err(format!(
                "--json and --junit both name {}: give each report a file of its own",
                path.display()
            ));
        }
        Ok(files)
    }

    /// As [`ReportFiles::open`], for `--dry-run`: proves every path writable, and leaves no file
    /// behind that was not there before.
    pub fn check(flags: &ReportFlags) -> Result<(), String> {
        let existed: Vec<PathBuf> = [&flags.json, &flags.junit]
            .into_iter()
            .flatten()
            .filter(|p| !is_stdout(p) && p.exists())
            .cloned()
            .collect();
        let files = Self::open(flags)?;
        for dest in [files.json, files.junit].into_iter().flatten() {
            if let Destination::File { path, file } = dest {
                drop(file);
                if !existed.contains(&path) {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        Ok(())
    }

    /// Whether a report takes standard output (`--json -`; JUnit never does), moving the
    /// terminal report to stderr.
    fn to_stdout(&self) -> bool {
        matches!(self.json, Some(Destination::Stdout))
    }
}

fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

fn open_for_report(path: &Path) -> Result<File, String> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    match file.metadata() {
        Ok(m) if m.is_dir() => Err(format!(
            "cannot write {}: it is a directory",
            path.display()
        )),
        _ => Ok(file),
    }
}

#[cfg(unix)]
fn same_file(a: &File, b: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (a.metadata(), b.metadata()) {
        (Ok(a), Ok(b)) => a.is_file() && a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

// Not on Unix (Windows): no device and inode to compare, so --json and --junit naming one file
// by two different paths is not refused; the second report then overwrites the first.
#[cfg(not(unix))]
fn same_file(_: &File, _: &File) -> bool {
    false
}

/// The human report on stdout (stderr when a report takes stdout), then the JSON and JUnit
/// reports. A failed write is said on stderr but never changes the verdict's exit code: the
/// checks ran, and a closed stdout (`| head -1`) is no error at all.
fn write_reports(
    report: &RunReport,
    files: ReportFiles,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
    verbatim_json: Option<&str>,
) {
    let style = HumanStyle {
        color: env.color,
        width: env.columns,
        verbose: env.detail == Detail::Evidence,
        ..HumanStyle::default()
    };
    let human_to: &mut dyn Write = if files.to_stdout() {
        &mut *err
    } else {
        &mut *out
    };
    let shown = match env.detail {
        Detail::Verdict => report::human::write_verdict(report, &mut *human_to, style),
        Detail::Report => report::human::write(report, &mut *human_to, style),
        Detail::Evidence => report::human::write(report, &mut *human_to, style)
            .and_then(|()| report::human::write_evidence(report, &mut *human_to, style)),
    };
    if let Err(e) = shown
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        let _ = writeln!(err, "error: cannot write the report: {e}");
    }
    // A report written back unchanged (`complete` with nothing pending) keeps its very bytes.
    let render_json = |w: &mut dyn Write| -> Result<(), report::ReportError> {
        match verbatim_json {
            Some(text) => w.write_all(text.as_bytes()).map_err(Into::into),
            None => report::json::write(report, w).map_err(Into::into),
        }
    };
    let render_junit = |w: &mut dyn Write| report::junit::write(report, w);
    for (dest, render) in [
        (
            files.json,
            &render_json as &dyn Fn(&mut dyn Write) -> Result<(), report::ReportError>,
        ),
        (files.junit, &render_junit),
    ] {
        let written = match dest {
            None => continue,
            Some(Destination::Stdout) => render(&mut *out)
                .and_then(|()| out.flush().map_err(Into::into))
                .map_err(|e| ("standard output".to_string(), e)),
            Some(Destination::File { path, file }) => {
                write_file(file, render).map_err(|e| (path.display().to_string(), e))
            }
        };
        match written {
            Err((_, report::ReportError::Io(e))) if e.kind() == io::ErrorKind::BrokenPipe => {}
            Err((path, e)) => {
                let _ = writeln!(err, "error: cannot write {path}: {}", with_causes(&e));
            }
            Ok(()) => {}
        }
    }
}

/// Truncates the pre-opened file (a regular one: `/dev/stderr` cannot be) and renders into it.
fn write_file(
    file: File,
    render: &dyn Fn(&mut dyn Write) -> Result<(), report::ReportError>,
) -> Result<(), report::ReportError> {
    if file.metadata().is_ok_and(|m| m.is_file()) {
        file.set_len(0)?;
    }
    let mut w = BufWriter::new(file);
    render(&mut w)?;
    w.flush()?;
    Ok(())
}

/// A writer for standard output that treats a closed pipe (`| head -1`, `| true`) as "stop
/// writing": later writes are dropped, and the run ends with its verdict's code, silently, as
/// ripgrep does. Rust ignores SIGPIPE, so a closed pipe shows up as `BrokenPipe`.
pub struct ClosedPipeOk<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> ClosedPipeOk<W> {
    pub fn new(inner: W) -> Self {
        ClosedPipeOk {
            inner,
            closed: false,
        }
    }
}

impl<W: Write> Write for ClosedPipeOk<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        match self.inner.write(buf) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(buf.len())
            }
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        match self.inner.flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
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
            let _ = writeln!(
                out,
                "    {} ({}) {} port {}, {} {samples}",
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
        if args.audit {
            crate::audit::lab::list_faults(out);
        }
        return Exit::Passed;
    }
    let mut faults = Vec::new();
    for name in &args.faults {
        match name.parse::<Fault>() {
            Ok(f) => faults.push(f),
            Err(e) if !name.starts_with("audit-") => {
                let _ = writeln!(err, "error: --fault {name}: {e}");
                return Exit::Invalid;
            }
            Err(_) => {}
        }
    }
    // Audit faults (and --audit) start the lab's fake ZPA and ZIA APIs beside its network.
    let (audit_network, audit_faults) = match crate::audit::lab::split_faults(&args.faults) {
        Ok(split) => split,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return Exit::Invalid;
        }
    };
    faults = audit_network;
    let admin_api = if args.audit
        || !audit_faults.is_empty()
        || args.audit_json.is_some()
        || args.audit_junit.is_some()
    {
        if args.serve {
            let _ = writeln!(err, "error: audit faults need a run: they cannot be served");
            return Exit::Invalid;
        }
        match crate::lab::admin_api::AdminApi::start(&faults, &audit_faults, Default::default())
            .await
        {
            Ok(api) => Some(api),
            Err(e) => {
                let _ = writeln!(
                    err,
                    "error: cannot start the lab's admin APIs: {}",
                    with_causes(&e)
                );
                return Exit::Invalid;
            }
        }
    } else {
        None
    };
    // Report paths are proven writable before the lab starts: a bad path runs nothing.
    let files = if args.serve {
        None
    } else {
        match ReportFiles::open(&args.reports) {
            Ok(f) => Some(f),
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                return Exit::Invalid;
            }
        }
    };
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
    let Some(files) = files else {
        let exit = serve(&lab, &config_faults, interrupt, out, err).await;
        // Stops the lab and removes its temporary directory, on Ctrl-C and SIGTERM alike.
        lab.shutdown().await;
        return exit;
    };
    let use_entra =
        args.entra || args.entra_mode.is_some() || config_faults.iter().any(|f| f.needs_entra());
    let use_places = args.places || config_faults.iter().any(|f| f.needs_places());
    if use_entra && use_places {
        let _ = writeln!(
            err,
            "error: the lab checks its places (--places, or a place fault) or Entra (--entra, or an Entra fault), not both in one run"
        );
        lab.shutdown().await;
        return Exit::Invalid;
    }
    let (mut s, entra) = if use_places {
        (scenario::bundled_lab_places(), None)
    } else if use_entra {
        let (mut s, access) = lab_entra(&lab);
        if let (Some(mode), Some(spec)) = (args.entra_mode, s.entra.as_mut()) {
            spec.mode = mode;
        }
        if s.entra.as_ref().is_some_and(|e| e.mode != EntraMode::Log) {
            from_both_places(&mut s);
        }
        (s, Some(access))
    } else {
        (scenario::bundled_lab(), None)
    };
    let (mut overrides, connect_to) = lab_overrides(&lab, &config_faults, args.via_proxy);
    overrides.timeout = args.timeout;
    overrides.deadline = args.deadline;
    if let Err(e) = s.apply(&overrides) {
        let _ = writeln!(err, "error: {e}");
        return Exit::Invalid;
    }
    // The lab serves each probe's connection in this same process: its gateway and origin hold
    // three more descriptors for every one the probe opens (for each vantage running at once).
    let sharing = 4 * (1 + s.more_vantages.len() as u64);
    fit_descriptors(&mut s, env, sharing, err);
    let mut exit = run_loaded(
        &[s.per_vantage()],
        &connect_to,
        entra,
        files,
        env,
        interrupt,
        out,
        err,
        None,
    )
    .await;
    lab.shutdown().await;
    if let Some(api) = admin_api {
        let reports = crate::cli::ReportFlags {
            json: args.audit_json.clone(),
            junit: args.audit_junit.clone(),
        };
        let audited = crate::audit::lab::audit_lab(&api, &reports, env, out, err).await;
        exit = crate::audit::lab::combine(exit, audited);
    }
    exit
}

/// `sipa-check complete`: reads a JSON report back, looks its pending sign-ins up in Entra's
/// log (with the probe app from the environment, on the Graph the run used), and writes the
/// completed reports; exits as a run with that verdict would. A report with nothing pending is
/// written unchanged. A file that is not a report of this format is exit 2, as is a pending
/// report without the probe app's credentials.
pub async fn complete(
    args: &CompleteArgs,
    env: &Env,
    interrupt: Interrupt,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let shown = args.report.display().to_string();
    let text = if is_stdout(&args.report) {
        let mut text = String::new();
        io::Read::read_to_string(&mut io::stdin(), &mut text).map(|_| text)
    } else {
        std::fs::read_to_string(&args.report)
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "error: cannot read {shown}: {e}");
            return Exit::Invalid;
        }
    };
    let report = match crate::complete::read_report(&text, &shown) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "error: {}", with_causes(&e));
            return Exit::Invalid;
        }
    };
    let files = match ReportFiles::open(&args.reports) {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return Exit::Invalid;
        }
    };
    let pending = crate::complete::pending_count(&report);
    if pending == 0 {
        let _ = writeln!(
            err,
            "note: {shown}: no sign-in is pending: the report is complete as it is"
        );
        write_reports(&report, files, env, out, err, Some(&text));
        return Exit::of(report.overall);
    }
    let credentials = match &env.entra_credentials {
        Ok(c) => c.clone(),
        Err(e) => {
            let _ = writeln!(
                err,
                "error: {shown}: {pending} sign-in(s) to look up need the probe app's credentials: {}",
                with_causes(&**e)
            );
            return Exit::Invalid;
        }
    };
    let mut access = EntraAccess::new(credentials);
    for file in &args.ca_file {
        match std::fs::read_to_string(file) {
            Ok(pem) => access.graph_roots_pem.push(pem),
            Err(e) => {
                let _ = writeln!(err, "error: --ca-file {}: {e}", file.display());
                return Exit::Invalid;
            }
        }
    }
    let wait = args.entra_wait.unwrap_or_default();
    let completing = crate::complete::complete(report.clone(), &access, wait);
    let (report, unchanged) = tokio::select! {
        done = completing => (done, None),
        by = interrupt => {
            let _ = writeln!(
                err,
                "{}: the report was not completed and is written as it was",
                crate::verdict::describe_cut(&by)
            );
            (report, Some(text.as_str()))
        }
    };
    write_reports(&report, files, env, out, err, unchanged);
    if unchanged.is_some() {
        return Exit::Inconclusive;
    }
    Exit::of(report.overall)
}

/// The tenant the lab's probe app signs in to.
pub const LAB_TENANT: &str = "sipa-lab.onmicrosoft.com";

/// The bundled lab scenario with `[entra]` pointed at `lab`'s Graph, and the lab's probe app
/// with Graph's route to the lab (its token endpoint, address and CA): no real environment.
pub fn lab_entra(lab: &Lab) -> (Scenario, EntraAccess) {
    let mut s = scenario::bundled_lab_entra();
    if let Some(entra) = &mut s.entra {
        entra.graph_url = Some(lab.graph_url());
    }
    let credentials = EntraCredentials {
        tenant_id: LAB_TENANT.to_owned(),
        client_id: crate::lab::LAB_CLIENT_ID.to_owned(),
        auth: crate::entra::ClientAuth::Secret(Secret::new(crate::lab::LAB_CLIENT_SECRET)),
        cloud: crate::entra::Cloud::public(),
    };
    let access = EntraAccess {
        credentials: Arc::new(credentials),
        graph_token_url: lab
            .graph_url()
            .join(&format!("{LAB_TENANT}/oauth2/v2.0/token"))
            .ok(),
        graph_resolve: vec![(crate::lab::GRAPH_HOST.to_owned(), lab.graph_addr())],
        graph_roots_pem: vec![lab.ca_pem().to_owned()],
        first_poll_interval: Some(std::time::Duration::from_millis(200)),
    };
    (s, access)
}

/// Runs `s` from the lab's two places, the trusted office and the guest network, as
/// Conditional Access mode needs: the guest's refused token is what shows the policy biting,
/// without which the office's issued tokens prove nothing.
pub fn from_both_places(s: &mut Scenario) {
    let places = scenario::bundled_lab_places();
    s.vantage = places.vantage;
    s.more_vantages = places.more_vantages;
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

async fn serve(
    lab: &Lab,
    faults: &[Fault],
    interrupt: Interrupt,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    // The lab scenario goes beside the lab CA, so the printed command works from any directory
    // and with only the binary; both go when the lab stops.
    let dir = lab.ca_file().parent().unwrap_or(Path::new("."));
    let scenario_file = absolute(&dir.join("lab.toml"));
    if let Err(e) = std::fs::write(&scenario_file, scenario::LAB_TOML) {
        let _ = writeln!(
            err,
            "error: cannot write the lab scenario to {}: {e}",
            scenario_file.display()
        );
        return Exit::Invalid;
    }
    let absolute_flags = |flags: Vec<String>| -> Vec<String> {
        let ca = lab.ca_file().display().to_string();
        let ca_abs = absolute(lab.ca_file()).display().to_string();
        flags
            .into_iter()
            .map(|f| if f == ca { ca_abs.clone() } else { f })
            .collect()
    };
    let scenario_arg = shell_words(&[scenario_file.display().to_string()]);
    let faults = if faults.is_empty() {
        "none".to_string()
    } else {
        faults
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        out,
        "sipa-check lab is up on loopback (faults: {faults}). In another shell, run for example:\n"
    );
    let _ = writeln!(
        out,
        "  sipa-check run {scenario_arg} {}\n",
        shell_words(&absolute_flags(lab.run_flags()))
    );
    let _ = writeln!(out, "or through its explicit proxy:\n");
    let _ = writeln!(
        out,
        "  sipa-check run {scenario_arg} {}\n",
        shell_words(&absolute_flags(lab.proxy_run_flags()))
    );
    let places_file = absolute(&dir.join("lab-places.toml"));
    if let Err(e) = std::fs::write(&places_file, scenario::LAB_PLACES_TOML) {
        let _ = writeln!(
            err,
            "error: cannot write the places scenario to {}: {e}",
            places_file.display()
        );
        return Exit::Invalid;
    }
    let _ = writeln!(
        out,
        "or from the lab's two places at once, the trusted office ({}, anchored) and the guest \
         network ({}, not anchored), each vantage bound to its address:\n",
        crate::lab::OFFICE_IP,
        crate::lab::GUEST_IP
    );
    let _ = writeln!(
        out,
        "  sipa-check run {} {}\n",
        shell_words(&[places_file.display().to_string()]),
        shell_words(&absolute_flags(lab.run_flags()))
    );
    let serve_file = absolute(&dir.join("serve.toml"));
    if let Err(e) = std::fs::write(&serve_file, lab_serve_config(lab)) {
        let _ = writeln!(
            err,
            "error: cannot write the serve configuration to {}: {e}",
            serve_file.display()
        );
        return Exit::Invalid;
    }
    let _ = writeln!(
        out,
        "or keep checking both for Prometheus (http://127.0.0.1:9853/metrics; see \
         monitoring/prometheus.yml):\n\n  sipa-check serve {}\n",
        shell_words(&[serve_file.display().to_string()])
    );
    let switchable: Vec<&str> = Fault::SWITCHABLE.iter().map(|f| f.name()).collect();
    let _ = writeln!(
        out,
        "To break the running lab as an admin's change would, type fault names and Enter \
         ({}), or `heal` to switch them off.",
        switchable.join(", ")
    );
    let _ = writeln!(
        out,
        "Anchored traffic leaves from {}, the rest from {}. Ctrl-C (or SIGTERM) stops the lab \
         and removes {}.",
        lab.anchor_ip(),
        lab.edge_ip(),
        absolute(dir).display()
    );
    let _ = out.flush();
    let mut commands = stdin_lines();
    let mut interrupt = std::pin::pin!(interrupt);
    let mut reading = true;
    loop {
        tokio::select! {
            _ = &mut interrupt => break,
            line = commands.recv(), if reading => match line {
                Some(line) => switch_lab_faults(lab, &line, out, err),
                // Standard input closed (or never open): only a signal stops the lab now.
                None => reading = false,
            },
        }
    }
    Exit::Passed
}

/// The lines of standard input, read on a thread of their own: a blocking read never holds up
/// the runtime's shutdown, and the thread ends with the process.
fn stdin_lines() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let _ = std::thread::Builder::new()
        .name("lab-stdin".into())
        .spawn(move || {
            for line in io::stdin().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    rx
}

/// One typed line of `lab --serve`: fault names to switch on (the others off), or `heal`.
fn switch_lab_faults(lab: &Lab, line: &str, out: &mut dyn Write, err: &mut dyn Write) {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.is_empty() {
        return;
    }
    let faults = if words == ["heal"] {
        Vec::new()
    } else {
        let mut faults = Vec::new();
        for word in words {
            match word.parse::<Fault>() {
                Ok(f) => faults.push(f),
                Err(e) => {
                    let _ = writeln!(err, "error: {word}: {e}");
                    return;
                }
            }
        }
        faults
    };
    match lab.switch_faults(&faults) {
        Ok(()) if faults.is_empty() => {
            let _ = writeln!(out, "lab: healed (no switchable fault on)");
        }
        Ok(()) => {
            let names: Vec<&str> = faults.iter().map(|f| f.name()).collect();
            let _ = writeln!(out, "lab: faults now {}", names.join(", "));
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
        }
    }
    let _ = out.flush();
}

/// A `sipa-check serve` configuration for this lab: the lab scenario and the places scenario,
/// written beside them, with the flags that reach the lab.
fn lab_serve_config(lab: &Lab) -> String {
    let quoted = |v: &str| format!("{v:?}");
    let flags = lab.run_flags();
    let connect_to: Vec<String> = flags
        .windows(2)
        .filter(|w| w[0] == "--connect-to")
        .map(|w| quoted(&w[1]))
        .collect();
    let ca = quoted(&absolute(lab.ca_file()).display().to_string());
    let dns = quoted(&lab.dns_addr().to_string());
    let anchor = quoted(&lab.anchor_ip().to_string());
    let mut config = String::from(
        "# Written by `sipa-check lab --serve`: the running lab, checked for Prometheus.\n\
         listen = \"127.0.0.1:9853\"\n",
    );
    for (name, file) in [("lab", "lab.toml"), ("lab-places", "lab-places.toml")] {
        config.push_str(&format!(
            "\n[[scenario]]\nname = \"{name}\"\nfile = \"{file}\"\ninterval = \"15s\"\ntimeout = \"3s\"\ndeadline = \"10s\"\n\
             dns = [{dns}]\nconnect_to = [{}]\nca_files = [{ca}]\nexpect_ip = [{anchor}]\n",
            connect_to.join(", ")
        ));
    }
    config
}

/// `path` made absolute against the working directory (without resolving links).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The bundled Office 365 scenario, as `sipa-check init` writes it.
pub const INIT_TEMPLATE: &str = scenario::OFFICE365_TOML;

/// `sipa-check init [FILE]`: the documented Office 365 template, to fill in and run.
pub fn init(args: &InitArgs, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    if is_stdout(&args.file) {
        return match out
            .write_all(INIT_TEMPLATE.as_bytes())
            .and_then(|()| out.flush())
        {
            Ok(()) => Exit::Passed,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Exit::Passed,
            Err(e) => {
                let _ = writeln!(err, "error: cannot write standard output: {e}");
                Exit::Invalid
            }
        };
    }
    let path = &args.file;
    if path.is_dir() {
        let _ = writeln!(
            err,
            "error: {} is a directory: name a file, such as {}",
            path.display(),
            path.join("sipa-check.toml").display()
        );
        return Exit::Invalid;
    }
    // Only a file `run` can read: the documented TOML, or its values as JSON (no comments).
    let text = match scenario::Format::from_path(path) {
        Some(scenario::Format::Toml) => INIT_TEMPLATE.to_owned(),
        Some(scenario::Format::Json) => match scenario::office365_json() {
            Ok(json) => json,
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                return Exit::Invalid;
            }
        },
        None => {
            let _ = writeln!(
                err,
                "error: {}: a scenario file's name ends in .toml (the documented template) or .json (its values, without the comments JSON cannot hold); nothing was written",
                path.display()
            );
            return Exit::Invalid;
        }
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if args.force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let written = options
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    match written {
        Ok(()) => {
            let shown = shell_words(&[path.display().to_string()]);
            let (fill_in, comments) = match scenario::Format::from_path(path) {
                Some(scenario::Format::Json) => (
                    "anchor.expect and your observers (\"observer\")",
                    "\n(JSON holds no comments: `sipa-check init -` prints the documented template)",
                ),
                _ => ("[anchor] expect and your observers' URLs", ""),
            };
            let _ = writeln!(
                out,
                "wrote {}: fill in {fill_in}, then:\n\n  \
                 sipa-check validate {shown}\n  sipa-check run {shown}{comments}",
                path.display()
            );
            Exit::Passed
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let _ = writeln!(
                err,
                "error: {} already exists: pass --force to overwrite it, or name another file",
                path.display()
            );
            Exit::Invalid
        }
        Err(e) => {
            let _ = writeln!(err, "error: cannot write {}: {e}", path.display());
            Exit::Invalid
        }
    }
}

/// `sipa-check completions SHELL`: the completion script on `out`.
pub fn completions(args: &CompletionsArgs, out: &mut dyn Write) -> Exit {
    crate::manual::completion(args.shell, out);
    let _ = out.flush();
    Exit::Passed
}

/// `sipa-check man`: the top man page (roff) on `out`, or with `--dir` every page written there.
pub fn man(args: &ManArgs, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    if let Some(dir) = &args.dir {
        return match crate::manual::write_pages(dir) {
            Ok(_) => Exit::Passed,
            Err(e) => {
                let _ = writeln!(
                    err,
                    "error: cannot write the man pages to {}: {e}",
                    dir.display()
                );
                Exit::Invalid
            }
        };
    }
    let top = crate::manual::pages().swap_remove(0);
    match out.write_all(&top.roff).and_then(|()| out.flush()) {
        Ok(()) => Exit::Passed,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Exit::Passed,
        Err(e) => {
            let _ = writeln!(err, "error: cannot write the man page: {e}");
            Exit::Invalid
        }
    }
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

/// `sipa-check serve CONFIG`: checks the configuration and every scenario in it (exit 2 with
/// each problem, before anything listens), then serves the exporter until Ctrl-C or SIGTERM,
/// and exits 0.
pub async fn serve_metrics(
    args: &ServeArgs,
    env: &Env,
    interrupt: Interrupt,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let mut config = match crate::serve::config::load(&args.config) {
        Ok(c) => c,
        Err(errors) => {
            let _ = writeln!(err, "{errors}");
            return Exit::Invalid;
        }
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let serve_env = crate::serve::ServeEnv {
        proxy_password: env.proxy_password.clone(),
        entra: env
            .entra_credentials
            .as_ref()
            .ok()
            .map(|c| EntraAccess::new(c.clone())),
    };
    let prepared = match crate::serve::prepare(&config, &serve_env) {
        Ok(p) => p,
        Err(problems) => {
            for p in problems {
                let _ = writeln!(err, "error: {}: {p}", args.config.display());
            }
            return Exit::Invalid;
        }
    };
    for p in &prepared {
        if p.scenario.limits.deadline >= p.config.interval {
            let _ = writeln!(
                err,
                "note: scenario `{}`: its deadline {} is not shorter than its interval {}: a run still going when the next is due makes that one skipped (sipa_check_runs_skipped_total)",
                p.config.name,
                crate::report::show_duration(p.scenario.limits.deadline),
                crate::report::show_duration(p.config.interval)
            );
        }
    }
    if args.check {
        for p in &prepared {
            let _ = writeln!(
                out,
                "{}: every {} (jitter {}), {} ({}), vantage {}",
                p.config.name,
                crate::report::show_duration(p.config.interval),
                crate::report::show_duration(p.config.jitter),
                p.scenario.name,
                p.config.file.display(),
                p.scenario.vantage.name
            );
        }
        return Exit::Passed;
    }
    let listener = match crate::serve::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(err, "error: {}", with_causes(&e));
            return Exit::Invalid;
        }
    };
    let shown = listener.local_addr().unwrap_or(config.listen);
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let names: Vec<String> = prepared.iter().map(|p| p.config.name.clone()).collect();
    let exporter = crate::serve::Exporter::new(prepared, interrupt, events_tx);
    let _ = writeln!(
        err,
        "sipa-check serve: listening on http://{shown}/metrics ({} scenario(s): {}); Ctrl-C or SIGTERM stops it",
        names.len(),
        names.join(", ")
    );
    if !shown.ip().is_loopback() {
        let _ = writeln!(
            err,
            "note: {shown} is reachable from other machines: the metrics show your anchoring set-up"
        );
    }
    let serving = crate::serve::serve(exporter, listener);
    tokio::pin!(serving);
    loop {
        tokio::select! {
            () = &mut serving => break,
            Some(line) = events.recv() => {
                let _ = writeln!(err, "{line}");
            }
        }
    }
    while let Ok(line) = events.try_recv() {
        let _ = writeln!(err, "{line}");
    }
    let _ = writeln!(err, "sipa-check serve: stopped");
    Exit::Passed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes `room` bytes, then fails with `kind`.
    struct Failing {
        room: usize,
        kind: io::ErrorKind,
        written: Vec<u8>,
    }

    impl Write for Failing {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from(self.kind));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_stops_the_writing_without_an_error() {
        let mut out = ClosedPipeOk::new(Failing {
            room: 3,
            kind: io::ErrorKind::BrokenPipe,
            written: Vec::new(),
        });
        out.write_all(b"abcdef").unwrap();
        writeln!(out, "more").unwrap();
        out.flush().unwrap();
        assert_eq!(out.inner.written, b"abc");
    }

    #[test]
    fn other_write_errors_still_surface() {
        let mut out = ClosedPipeOk::new(Failing {
            room: 0,
            kind: io::ErrorKind::StorageFull,
            written: Vec::new(),
        });
        let e = out.write_all(b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
    }
}
