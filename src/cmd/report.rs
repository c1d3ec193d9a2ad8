//! `sipa-check report merge|show`: the fleet view over saved JSON reports, and a saved report
//! printed again.
//!
//! `merge` reads and checks every input before it writes anything: a bad input is exit 2
//! naming the file and what is wrong. Each report file is rendered in memory, written to a
//! temporary file beside its destination, and only renamed into place once every one of them
//! was written: a destination is either the old file or the whole new report, never half of
//! one. Standard output (`--json -` or `--html -`) comes last, and the terminal summary then
//! goes to standard error.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::{CommandResult, Detail, Env, Exit, invalid};
use crate::cli::{MergeArgs, ReportCommand, ShowArgs};
use crate::outcome::RunReport;
use crate::report::fleet::{FleetView, SummaryStyle, write_summary};
use crate::report::human::{self, HumanStyle};
use crate::report::merge::{MergeInput, merge as merge_reports, read_all};
use crate::report::read::read_report;
use crate::report::{self, ReportError};

/// `sipa-check report ...`.
pub fn report(
    command: &ReportCommand,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> CommandResult {
    match command {
        ReportCommand::Merge(args) => merge(args, env, out, err),
        ReportCommand::Show(args) => show(args, env, out, err),
    }
}

fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// An input's text, with the name errors call it by.
fn read_input(path: &Path) -> Result<MergeInput, String> {
    let (name, text) = if is_stdin(path) {
        let mut text = String::new();
        let read = io::stdin().read_to_string(&mut text).map(|_| text);
        ("standard input".to_string(), read)
    } else {
        let name = path.display().to_string();
        (name, std::fs::read_to_string(path))
    };
    match text {
        Ok(text) => Ok(MergeInput { name, text }),
        Err(e) => Err(format!("cannot read {name}: {e}")),
    }
}

/// What a report file renders to, and where it goes.
struct Output {
    flag: &'static str,
    path: PathBuf,
    bytes: Vec<u8>,
}

/// `sipa-check report merge`.
pub fn merge(
    args: &MergeArgs,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> CommandResult {
    if args.inputs.iter().filter(|p| is_stdin(p)).count() > 1 {
        return invalid(
            "standard input (`-`) can be read once: give the other reports as files".to_string(),
        );
    }
    let destinations: Vec<(&'static str, &PathBuf)> = [
        ("--json", args.reports.json.as_ref()),
        ("--junit", args.reports.junit.as_ref()),
        ("--html", args.html.as_ref()),
    ]
    .into_iter()
    .filter_map(|(flag, p)| p.map(|p| (flag, p)))
    .collect();
    for (i, (flag, path)) in destinations.iter().enumerate() {
        if let Some((other, _)) = destinations[..i]
            .iter()
            .find(|(_, p)| same_destination(p, path))
        {
            let what = if is_stdin(path) {
                "standard output".to_string()
            } else {
                path.display().to_string()
            };
            return invalid(format!(
                "{other} and {flag} both name {what}: give each report its own"
            ));
        }
    }

    let mut inputs = Vec::new();
    for path in &args.inputs {
        match read_input(path) {
            Ok(input) => inputs.push(input),
            Err(e) => return invalid(e),
        }
    }
    let reports = match read_all(&inputs) {
        Ok(r) => r,
        Err(e) => return invalid(crate::observation::cause_chain(&e).join(": ")),
    };
    drop(inputs);
    let merged = merge_reports(reports);
    for d in &merged.duplicates {
        let _ = writeln!(err, "warning: {d}");
    }
    let report = merged.report;

    let mut outputs = Vec::new();
    for (flag, path) in destinations {
        let mut bytes = Vec::new();
        let rendered: Result<(), ReportError> = match flag {
            "--json" => report::json::write(&report, &mut bytes).map_err(Into::into),
            "--junit" => report::junit::write(&report, &mut bytes),
            _ => report::html::write(&report, &mut bytes).map_err(Into::into),
        };
        if let Err(e) = rendered {
            return invalid(format!(
                "{flag}: cannot render the report: {}",
                crate::observation::cause_chain(&e).join(": ")
            ));
        }
        outputs.push(Output {
            flag,
            path: path.clone(),
            bytes,
        });
    }
    if let Err(e) = write_files_atomically(&outputs) {
        return invalid(e);
    }

    let to_stdout = outputs.iter().any(|o| is_stdin(&o.path));
    let human_to: &mut dyn Write = if to_stdout { &mut *err } else { &mut *out };
    let shown = print_summary(&report, env, human_to);
    if let Err(e) = shown
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        let _ = writeln!(err, "error: cannot write the summary: {e}");
    }
    for o in outputs.iter().filter(|o| is_stdin(&o.path)) {
        if let Err(e) = out.write_all(&o.bytes).and_then(|()| out.flush())
            && e.kind() != io::ErrorKind::BrokenPipe
        {
            let _ = writeln!(err, "error: {}: cannot write standard output: {e}", o.flag);
        }
    }
    Ok(Exit::of(report.overall))
}

fn print_summary(report: &RunReport, env: &Env, out: &mut dyn Write) -> io::Result<()> {
    if env.detail == Detail::Evidence {
        human::write(report, &mut *out, human_style(env))?;
        writeln!(out)?;
    }
    let view = FleetView::of(report);
    write_summary(
        &view,
        out,
        SummaryStyle {
            color: env.color,
            quiet: env.detail == Detail::Verdict,
            verbose: env.detail == Detail::Evidence,
        },
    )
}

/// Two destinations that are one: both standard output, or the same file.
fn same_destination(a: &Path, b: &Path) -> bool {
    if is_stdin(a) || is_stdin(b) {
        return is_stdin(a) && is_stdin(b);
    }
    if a == b {
        return true;
    }
    // Different spellings of one file (`./x.json` and `x.json`), which may not exist yet.
    match (resolved(a), resolved(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// `path` with its directory resolved (symbolic links, `.` and `..`), or none when that
/// directory does not exist.
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = std::fs::canonicalize(path) {
        return Some(p);
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Some(std::fs::canonicalize(dir).ok()?.join(path.file_name()?))
}

/// Writes every file output to a temporary file beside it, then renames them all into place;
/// on any failure the temporary files are removed and no destination is touched.
fn write_files_atomically(outputs: &[Output]) -> Result<(), String> {
    let mut staged: Vec<(PathBuf, &Path)> = Vec::new();
    let cleanup = |staged: &[(PathBuf, &Path)]| {
        for (tmp, _) in staged {
            let _ = std::fs::remove_file(tmp);
        }
    };
    for o in outputs.iter().filter(|o| !is_stdin(&o.path)) {
        match stage(&o.path, &o.bytes) {
            Ok(tmp) => staged.push((tmp, &o.path)),
            Err(e) => {
                cleanup(&staged);
                return Err(format!(
                    "{}: cannot write {}: {e} (no report was written)",
                    o.flag,
                    o.path.display()
                ));
            }
        }
    }
    for (i, (tmp, path)) in staged.iter().enumerate() {
        if let Err(e) = std::fs::rename(tmp, path) {
            cleanup(&staged[i..]);
            return Err(format!("cannot write {}: {e}", path.display()));
        }
    }
    Ok(())
}

/// Writes `bytes` to a new temporary file in `path`'s directory and returns its path.
fn stage(path: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    if path.is_dir() {
        return Err(io::Error::other("it is a directory"));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".to_string());
    for attempt in 0..100u32 {
        let tmp = dir.join(format!(
            ".{name}.{}.{attempt}.sipa-check.tmp",
            std::process::id()
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp);
        let mut file = match file {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        return Ok(tmp);
    }
    Err(io::Error::other("no free temporary file name beside it"))
}

fn human_style(env: &Env) -> HumanStyle {
    HumanStyle {
        color: env.color,
        width: env.columns,
        verbose: env.detail == Detail::Evidence,
        ..HumanStyle::default()
    }
}

/// `sipa-check report show`: the saved report as `run` printed it, and its verdict's exit
/// code. The verdict is counted again from the saved checks: a hand-edited `"overall"` cannot
/// turn a failed run into a pass.
pub fn show(args: &ShowArgs, env: &Env, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let input = match read_input(&args.report) {
        Ok(i) => i,
        Err(e) => {
            return invalid(e);
        }
    };
    let saved = match read_report(&input.text, &input.name) {
        Ok(r) => r,
        Err(e) => {
            return invalid(crate::observation::cause_chain(&e).join(": "));
        }
    };
    let saved_overall = saved.overall;
    let mut report = RunReport::new(saved.runs);
    report.tool_version = saved.tool_version;
    if report.overall != saved_overall {
        let _ = writeln!(
            err,
            "warning: {}: the saved verdict is {} but its checks say {}: the checks decide",
            input.name,
            saved_overall.label(),
            report.overall.label()
        );
    }
    let style = human_style(env);
    let shown = match env.detail {
        Detail::Verdict => human::write_verdict(&report, &mut *out, style),
        Detail::Report => human::write(&report, &mut *out, style),
        Detail::Evidence => human::write(&report, &mut *out, style)
            .and_then(|()| human::write_evidence(&report, &mut *out, style)),
    };
    if let Err(e) = shown
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        let _ = writeln!(err, "error: cannot write the report: {e}");
    }
    Ok(Exit::of(report.overall))
}
