//! Renderers of a [`RunReport`](crate::outcome::RunReport): terminal text, the versioned JSON
//! document, JUnit XML and the fleet's HTML page (with `merge`, which brings saved reports
//! together). Each writes to any `impl Write`; [`write_to`] picks a file or stdout.

pub mod audit;
pub mod fleet;
pub mod html;
pub mod human;
pub mod json;
pub mod junit;
pub mod merge;
pub mod read;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::observation::Observation;
pub use crate::observation::show_duration;
use crate::outcome::{Diagnosis, Outcome, Route, Status};

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The destination (a file, or `-` for standard output) refused the bytes.
    // The I/O error is part of the message, not a `source`, so a cause-chain walker does not
    // print it twice.
    #[error("cannot write {}: {error}", display_path(.path))]
    Write { path: PathBuf, error: io::Error },
    /// Writing to the caller's writer failed (no path known at this level).
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The XML writer failed for a reason other than I/O.
    #[error("cannot produce JUnit XML")]
    Xml(#[source] junit_report::Error),
}

/// How a destination path is named in messages: `-` is standard output.
fn display_path(path: &Path) -> String {
    if is_stdout(path) {
        "standard output".to_string()
    } else {
        path.display().to_string()
    }
}

fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Runs the renderer `f` against `path`, or standard output when `path` is `-`.
///
/// The file is created (or truncated); parent directories are not created. Every failure,
/// whether opening, rendering or flushing, names the destination:
/// `cannot write PATH: <io error>`.
pub fn write_to(
    path: &Path,
    f: impl FnOnce(&mut dyn Write) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    let named = |error: io::Error| ReportError::Write {
        path: path.to_path_buf(),
        error,
    };
    let attach = |err: ReportError| match err {
        ReportError::Io(error) => named(error),
        ReportError::Xml(error) => named(io::Error::other(error)),
        other @ ReportError::Write { .. } => other,
    };
    if is_stdout(path) {
        let stdout = io::stdout();
        let mut out = stdout.lock();
        f(&mut out).map_err(attach)?;
        out.flush().map_err(named)
    } else {
        let file = File::create(path).map_err(named)?;
        let mut out = BufWriter::new(file);
        f(&mut out).map_err(attach)?;
        // No `sync_all`: it fails on pipes and character devices such as `/dev/stderr`.
        out.flush().map_err(named)
    }
}

/// The evidence of one check, as `(key, value)` rows shared by the terminal "Problems" blocks
/// and the JUnit `system-out`. Multi-valued keys (causes, warnings) repeat; empty
/// `expected`/`observed` say so rather than vanish, so every failure shows both. The route is
/// not a row, as the check's name ends with it, except Graph's own route, which a run-wide
/// Graph check's name does not show.
pub(crate) fn evidence(o: &Outcome) -> Vec<(&'static str, String)> {
    let or_none = |s: &str| {
        if s.trim().is_empty() {
            "(not recorded)".to_string()
        } else {
            s.to_string()
        }
    };
    let mut rows = vec![
        ("reason", o.reason.clone()),
        ("stage", o.stage.to_string()),
        ("target", o.target.clone()),
    ];
    if o.route == Some(Route::Graph) {
        rows.push((
            "route",
            format!(
                "{}: system DNS, no proxy, apart from the path under test",
                Route::Graph
            ),
        ));
    }
    // An egress check is only as good as its observer: name it, with what it asked.
    match &o.observation {
        Observation::Egress(e) => rows.push(("observer", format!("{} ({})", e.observer, e.url))),
        // Read back from a report (`report show`), the same row from the recorded fields.
        Observation::Recorded(v) if v.get("kind").and_then(|k| k.as_str()) == Some("egress") => {
            let field = |k: &str| v.get(k).and_then(|s| s.as_str());
            if let (Some(observer), Some(url)) = (field("observer"), field("url")) {
                rows.push(("observer", format!("{observer} ({url})")));
            }
        }
        _ => {}
    }
    rows.push(("expected", or_none(&o.expected)));
    rows.push(("observed", or_none(&o.observed)));
    rows.extend(o.causes.iter().map(|c| ("cause", c.clone())));
    if let Some(d) = &o.diagnosis {
        rows.push(("diagnosis", d.likely_cause.clone()));
        rows.push(("cause id", d.cause.id().to_owned()));
        rows.push(step_row(d.guide_step));
    }
    rows.extend(o.warnings.iter().map(|w| ("warning", w.clone())));
    if let Some(b) = &o.blocked_by {
        rows.push(("blocked by", b.clone()));
    }
    rows
}

/// Evidence per login host as rows for people: `login.windows.net (ipv4)` and `80 echo · 443
/// path only`, one row per host and route, in the order first seen.
pub fn evidence_rows(evidence: &[crate::outcome::HostEvidence]) -> Vec<(String, String)> {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    for e in evidence {
        let who = format!("{} ({})", e.host, e.route);
        let port = format!("{} {}", e.port, e.proof);
        match rows.iter_mut().find(|(w, _)| *w == who) {
            Some((_, ports)) => ports.push(port),
            None => rows.push((who, vec![port])),
        }
    }
    rows.into_iter()
        .map(|(who, ports)| (who, ports.join(" · ")))
        .collect()
}

/// A measured time as reports show it: as [`show_duration`], or `--ms` when timings are masked
/// (golden files).
pub(crate) fn show_timing(d: Duration, masked: bool) -> String {
    if masked {
        "--ms".to_string()
    } else {
        show_duration(d)
    }
}

/// The word for a whole run: a harness that could not decide never says PASS.
pub(crate) fn overall_word(status: Status) -> &'static str {
    match status {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Error | Status::Skip => "INCONCLUSIVE",
    }
}

/// What problems are grouped by, in every renderer: the cause as a value; a report read back
/// from before causes were recorded groups by its sentence and guide step.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CauseKey {
    Cause(crate::cause::Cause),
    Unrecorded(String, String),
}

impl CauseKey {
    pub fn of(d: &Diagnosis) -> CauseKey {
        match d.cause {
            crate::cause::Cause::Unrecorded => {
                CauseKey::Unrecorded(d.likely_cause.clone(), d.guide_step.to_string())
            }
            cause => CauseKey::Cause(cause),
        }
    }
}

/// The headline of a group of diagnoses of one cause: their sentence when they share it, else
/// what the cause says of them all.
pub(crate) fn cause_headline<'a>(diagnoses: impl IntoIterator<Item = &'a Diagnosis>) -> String {
    let diagnoses: Vec<&Diagnosis> = diagnoses.into_iter().collect();
    match (
        diagnoses.first(),
        sentences(diagnoses.iter().copied()).len(),
    ) {
        (None, _) => String::new(),
        (Some(d), 1) => d.likely_cause.clone(),
        (Some(d), _) => d.cause.title().to_owned(),
    }
}

/// The distinct sentences of some diagnoses, in their order.
pub(crate) fn sentences<'a>(diagnoses: impl IntoIterator<Item = &'a Diagnosis>) -> Vec<&'a str> {
    let mut said: Vec<&str> = Vec::new();
    for d in diagnoses {
        if !said.contains(&d.likely_cause.as_str()) {
            said.push(&d.likely_cause);
        }
    }
    said
}

/// The guide step row of a diagnosis: `guide step` for the tenant's configuration, `to do` for
/// a tenant change the guide has no step for (blocking QUIC), `look at` for the vantage, the
/// scenario or the probe app (no guide step names them).
pub(crate) fn step_row(step: crate::guide::GuideStep) -> (&'static str, String) {
    if !step.is_tenant() {
        ("look at", step.advice().to_owned())
    } else if step.in_guide() {
        ("guide step", step.to_string())
    } else {
        ("to do", step.advice().to_owned())
    }
}

/// One line of text safe for a terminal, in every renderer: line breaks and tabs become
/// spaces, other control characters (an escape sequence in a proxy's block page, an API's
/// object name, a hostile report) are shown escaped, never sent to the terminal.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_step_outside_the_guide_is_never_called_a_guide_step() {
        use crate::guide::GuideStep;
        let (label, text) = step_row(GuideStep::BlockQuic);
        assert_eq!(label, "to do");
        assert!(
            text.starts_with("the guide anchors TCP 80 and 443 only"),
            "{text}"
        );
        assert_eq!(step_row(GuideStep::SegmentPorts).0, "guide step");
        assert_eq!(step_row(GuideStep::Dns).0, "look at");
        for step in GuideStep::ALL {
            let (_, text) = step_row(step);
            assert!(!text.starts_with("not a guide step"), "{step:?}: {text}");
            assert!(!text.starts_with("outside the guide"), "{step:?}: {text}");
        }
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(show_timing(Duration::ZERO, false), "0ms");
        assert_eq!(show_timing(Duration::from_micros(300), false), "<1ms");
        assert_eq!(show_timing(Duration::from_millis(12), false), "12ms");
        assert_eq!(show_timing(Duration::from_millis(1234), false), "1.2s");
        assert_eq!(show_timing(Duration::from_millis(1234), true), "--ms");
    }

    #[test]
    fn unwritable_path_is_named() {
        let path = Path::new("/nonexistent-dir/sub/report.json");
        let err = write_to(path, |out| Ok(out.write_all(b"x")?)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("cannot write /nonexistent-dir/sub/report.json: "),
            "{text}"
        );
    }

    #[test]
    fn renderer_errors_name_the_path() {
        let dir = std::env::temp_dir().join(format!("sipa-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.txt");
        let err = write_to(&path, |_| Err(io::Error::other("disk on fire").into())).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cannot write {}: disk on fire", path.display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
