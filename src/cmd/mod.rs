//! The command layer: one file per subcommand, composing the library's rooms (scenario, plan,
//! runner, verdict, reports, audit, lab) for the binary. Each subcommand returns its verdict's
//! [`Exit`] or a [`CommandError`]; [`finish`] says the error once and maps it to its exit code.
//! Report-file writing and the few helpers the subcommands share live here.

pub mod audit;
pub mod complete;
pub mod init;
pub mod lab;
pub mod report;
pub mod run;
pub mod serve;
pub mod validate;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use futures::future::{BoxFuture, Shared};

use crate::cli::ReportFlags;
use crate::entra::{CredentialsError, EntraCredentials};
use crate::observation::Cut;
use crate::outcome::{RunReport, Status};
use crate::report::human::HumanStyle;
use crate::scenario::model::Secret;

/// Why a subcommand stopped before its verdict: always exit 2 (nothing ran, or what ran cannot
/// be judged: a bad command line, scenario, file or environment).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// One problem, said once by [`finish`] as `error: <message>`.
    #[error("{0}")]
    Invalid(String),
    /// Every problem was already written to stderr in its own form (a scenario's errors with
    /// their positions, one line per problem of a configuration): nothing more to say.
    #[error("invalid input (see above)")]
    Shown,
    /// What the command needed first could not be read (ZPA's connectors for
    /// `--anchors-from-zpa`): nothing was judged, exit 3.
    #[error("{0}")]
    Inconclusive(String),
}

impl CommandError {
    /// The exit code this error maps to.
    pub fn exit(&self) -> Exit {
        match self {
            CommandError::Invalid(_) | CommandError::Shown => Exit::Invalid,
            CommandError::Inconclusive(_) => Exit::Inconclusive,
        }
    }
}

/// What a subcommand returns: its verdict's exit code, or why it could not reach one.
pub type CommandResult = Result<Exit, CommandError>;

/// Says a command's error once on `err` and maps the result to the process's exit status.
pub fn finish(result: CommandResult, err: &mut dyn Write) -> Exit {
    match result {
        Ok(exit) => exit,
        Err(e) => {
            if let CommandError::Invalid(message) | CommandError::Inconclusive(message) = &e {
                let _ = writeln!(err, "error: {message}");
            }
            e.exit()
        }
    }
}

/// `Err(CommandError::Invalid(..))` from anything that displays.
fn invalid<T>(message: impl std::fmt::Display) -> Result<T, CommandError> {
    Err(CommandError::Invalid(message.to_string()))
}

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
#[derive(Clone)]
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
        Detail::Verdict => crate::report::human::write_verdict(report, &mut *human_to, style),
        Detail::Report => crate::report::human::write(report, &mut *human_to, style),
        Detail::Evidence => crate::report::human::write(report, &mut *human_to, style)
            .and_then(|()| crate::report::human::write_evidence(report, &mut *human_to, style)),
    };
    if let Err(e) = shown
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        let _ = writeln!(err, "error: cannot write the report: {e}");
    }
    // A report written back unchanged (`complete` with nothing pending) keeps its very bytes.
    let render_json = |w: &mut dyn Write| -> Result<(), crate::report::ReportError> {
        match verbatim_json {
            Some(text) => w.write_all(text.as_bytes()).map_err(Into::into),
            None => crate::report::json::write(report, w).map_err(Into::into),
        }
    };
    let render_junit = |w: &mut dyn Write| crate::report::junit::write(report, w);
    for (dest, render) in [
        (
            files.json,
            &render_json as &dyn Fn(&mut dyn Write) -> Result<(), crate::report::ReportError>,
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
            Err((_, crate::report::ReportError::Io(e)))
                if e.kind() == io::ErrorKind::BrokenPipe => {}
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
    render: &dyn Fn(&mut dyn Write) -> Result<(), crate::report::ReportError>,
) -> Result<(), crate::report::ReportError> {
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

/// `path` made absolute against the working directory (without resolving links).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_error_is_said_once_and_maps_to_its_exit_code() {
        let mut err = Vec::new();
        let exit = finish(invalid("--proxy: no host"), &mut err);
        assert_eq!(exit, Exit::Invalid);
        assert_eq!(String::from_utf8(err).unwrap(), "error: --proxy: no host\n");

        let mut err = Vec::new();
        let exit = finish(Err(CommandError::Inconclusive("zpa down".into())), &mut err);
        assert_eq!(exit, Exit::Inconclusive);
        assert_eq!(String::from_utf8(err).unwrap(), "error: zpa down\n");
    }

    #[test]
    fn problems_already_shown_are_not_said_again_and_a_verdict_passes_through() {
        let mut err = Vec::new();
        assert_eq!(finish(Err(CommandError::Shown), &mut err), Exit::Invalid);
        assert!(err.is_empty());
        assert_eq!(finish(Ok(Exit::Failed), &mut err), Exit::Failed);
        assert!(err.is_empty());
    }

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
