//! The fleet view of a merged report: one row per run (a scenario at a vantage), the checks
//! and login host ports as columns, and the problems grouped by cause with the vantages they
//! hit. The HTML page ([`super::html`]) and the terminal summary ([`write_summary`]) both read
//! it, so they always tell the same story.

use std::collections::HashMap;
use std::io::{self, Write};

use anstyle::{AnsiColor, Effects, Style};

use super::overall_word;
use crate::guide::GuideStep;
use crate::outcome::{Outcome, RunReport, ScenarioRun, Status, Tally};

/// How a cell of the matrix reads: a check's status, with a passing check that carries a
/// warning shown as a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cell {
    Pass,
    Warn,
    Skip,
    Error,
    Fail,
    /// The run has no such check (another scenario, another family).
    Absent,
}

impl Cell {
    pub fn of(o: &Outcome) -> Cell {
        match o.status {
            Status::Pass if !o.warnings.is_empty() => Cell::Warn,
            Status::Pass => Cell::Pass,
            Status::Skip => Cell::Skip,
            Status::Error => Cell::Error,
            Status::Fail => Cell::Fail,
        }
    }

    /// The symbol shown with the colour, so the matrix reads without colour too.
    pub fn symbol(self) -> &'static str {
        match self {
            Cell::Pass => "✓",
            Cell::Warn => "!",
            Cell::Skip => "–",
            Cell::Error => "?",
            Cell::Fail => "✗",
            Cell::Absent => "·",
        }
    }

    /// The word for people (legends, tooltips).
    pub fn word(self) -> &'static str {
        match self {
            Cell::Pass => "pass",
            Cell::Warn => "warning",
            Cell::Skip => "skip",
            Cell::Error => "error",
            Cell::Fail => "fail",
            Cell::Absent => "not run",
        }
    }

    /// The CSS class of its colour.
    pub fn class(self) -> &'static str {
        match self {
            Cell::Pass => "s-pass",
            Cell::Warn => "s-warn",
            Cell::Skip => "s-skip",
            Cell::Error => "s-error",
            Cell::Fail => "s-fail",
            Cell::Absent => "s-none",
        }
    }

    pub fn of_status(status: Status) -> Cell {
        match status {
            Status::Pass => Cell::Pass,
            Status::Skip => Cell::Skip,
            Status::Error => Cell::Error,
            Status::Fail => Cell::Fail,
        }
    }
}

/// What a group of problems has in common.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Cause {
    /// A diagnosis: its cause (by value; by its sentence in a report from before causes were
    /// recorded) and guide step. `headline` is its sentence where every check shares it, else
    /// what the cause says of them all.
    Diagnosed {
        key: super::CauseKey,
        headline: String,
        step: GuideStep,
    },
    /// A failure or error without a diagnosis, grouped by its reason word for word.
    Undiagnosed { reason: String },
    /// A warning, on a check or on the vantage itself.
    Warning { text: String },
}

/// One cause with every run it hit and the checks that show it.
#[derive(Debug, Clone)]
pub struct CauseGroup<'a> {
    pub cause: Cause,
    /// The worst of its checks (a warning group is [`Cell::Warn`]).
    pub worst: Cell,
    /// The rows (indexes into [`FleetView::rows`]) it hit, in row order, each once.
    pub rows: Vec<usize>,
    /// `(row, check)`; the check is none for a warning about the vantage itself.
    pub checks: Vec<(usize, Option<&'a Outcome>)>,
}

/// One run as a row of the fleet view.
#[derive(Debug, Clone)]
pub struct Row<'a> {
    pub run: &'a ScenarioRun,
    /// The vantage's name, with the scenario when the fleet holds several scenarios, and a
    /// `#2` when the same label repeats.
    pub label: String,
    pub overall: Status,
}

/// The merged report seen as a fleet.
#[derive(Debug, Clone)]
pub struct FleetView<'a> {
    pub report: &'a RunReport,
    pub rows: Vec<Row<'a>>,
    /// Every check name, in the order first seen.
    pub checks: Vec<&'a str>,
    /// Every login host port and route with evidence, `host:port (route)`, in the order first
    /// seen.
    pub evidence_columns: Vec<String>,
    /// Problems and warnings by cause: failures first, then errors, then warnings; within
    /// each, the cause that hit the most runs first.
    pub causes: Vec<CauseGroup<'a>>,
    /// How many input files the runs came from.
    pub files: usize,
}

impl<'a> FleetView<'a> {
    pub fn of(report: &'a RunReport) -> FleetView<'a> {
        let scenarios: std::collections::HashSet<&str> =
            report.runs.iter().map(|r| r.scenario.as_str()).collect();
        let mut label_count: HashMap<String, usize> = HashMap::new();
        let rows: Vec<Row> = report
            .runs
            .iter()
            .map(|run| {
                let base = if scenarios.len() > 1 {
                    format!("{} @ {}", run.scenario, run.vantage.name)
                } else {
                    run.vantage.name.clone()
                };
                let n = label_count.entry(base.clone()).or_default();
                *n += 1;
                let label = if *n == 1 {
                    base
                } else {
                    format!("{base} #{n}")
                };
                Row {
                    run,
                    label,
                    overall: Tally::of_run(run).overall(),
                }
            })
            .collect();

        let mut checks: Vec<&str> = Vec::new();
        let mut seen_checks: std::collections::HashSet<&str> = Default::default();
        let mut evidence_columns: Vec<String> = Vec::new();
        let mut seen_evidence: std::collections::HashSet<String> = Default::default();
        for run in &report.runs {
            for o in &run.checks {
                if seen_checks.insert(o.name.as_str()) {
                    checks.push(o.name.as_str());
                }
            }
            for e in &run.evidence {
                let column = e.target();
                if seen_evidence.insert(column.clone()) {
                    evidence_columns.push(column);
                }
            }
        }

        let mut causes: Vec<CauseGroup> = Vec::new();
        let mut index: HashMap<Cause, usize> = HashMap::new();
        let mut add = |cause: Cause, worst: Cell, row: usize, check: Option<&'a Outcome>| {
            let at = *index.entry(cause.clone()).or_insert_with(|| {
                causes.push(CauseGroup {
                    cause,
                    worst,
                    rows: Vec::new(),
                    checks: Vec::new(),
                });
                causes.len() - 1
            });
            let group = &mut causes[at];
            group.worst = group.worst.max(worst);
            if group.rows.last() != Some(&row) {
                group.rows.push(row);
            }
            group.checks.push((row, check));
        };
        for (i, run) in report.runs.iter().enumerate() {
            for text in run
                .vantage
                .trust_store_problems
                .iter()
                .chain(&run.vantage.warnings)
            {
                add(Cause::Warning { text: text.clone() }, Cell::Warn, i, None);
            }
            for o in &run.checks {
                match (o.status, &o.diagnosis) {
                    (Status::Fail | Status::Error, Some(d)) => add(
                        Cause::Diagnosed {
                            key: super::CauseKey::of(d),
                            headline: match d.cause {
                                crate::cause::Cause::Unrecorded => d.likely_cause.clone(),
                                cause => cause.title().to_owned(),
                            },
                            step: d.guide_step,
                        },
                        Cell::of(o),
                        i,
                        Some(o),
                    ),
                    (Status::Fail | Status::Error, None) => add(
                        Cause::Undiagnosed {
                            reason: o.reason.clone(),
                        },
                        Cell::of(o),
                        i,
                        Some(o),
                    ),
                    (Status::Pass | Status::Skip, _) => {}
                }
                for w in &o.warnings {
                    add(Cause::Warning { text: w.clone() }, Cell::Warn, i, Some(o));
                }
            }
        }
        // A cause said of one thing only heads its group in those words.
        for group in &mut causes {
            if let Cause::Diagnosed { headline, .. } = &mut group.cause {
                let diagnoses = group
                    .checks
                    .iter()
                    .filter_map(|(_, o)| o.and_then(|o| o.diagnosis.as_ref()));
                *headline = super::cause_headline(diagnoses);
            }
        }
        // Worst first; then the widest; ties keep the order first met (the sort is stable).
        causes.sort_by(|a, b| {
            b.worst
                .cmp(&a.worst)
                .then_with(|| b.rows.len().cmp(&a.rows.len()))
        });

        let files = report
            .runs
            .iter()
            .filter_map(|r| r.merged_from.as_deref())
            .collect::<std::collections::HashSet<_>>()
            .len();
        FleetView {
            report,
            rows,
            checks,
            evidence_columns,
            causes,
            files,
        }
    }

    /// The distinct vantage names.
    pub fn vantages(&self) -> usize {
        self.report
            .runs
            .iter()
            .map(|r| r.vantage.name.as_str())
            .collect::<std::collections::HashSet<_>>()
            .len()
    }

    /// The rows' labels, `a, b, c`, at most `max` of them and then `and N more`.
    pub fn labels(&self, rows: &[usize], max: usize) -> String {
        let mut text = rows
            .iter()
            .take(max)
            .map(|&r| self.rows[r].label.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        if rows.len() > max {
            text.push_str(&format!(" and {} more", rows.len() - max));
        }
        text
    }
}

impl Cause {
    /// The heading of its group.
    pub fn headline(&self) -> &str {
        match self {
            Cause::Diagnosed { headline, .. } => headline,
            Cause::Undiagnosed { reason } => reason,
            Cause::Warning { text } => text,
        }
    }

    pub fn guide_step(&self) -> Option<GuideStep> {
        match self {
            Cause::Diagnosed { step, .. } => Some(*step),
            Cause::Undiagnosed { .. } | Cause::Warning { .. } => None,
        }
    }
}

/// How much the terminal summary says (`-q`, default, `-v`), as for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummaryStyle {
    pub color: bool,
    /// Only the overall line.
    pub quiet: bool,
    /// Every cause's runs, not only the first few.
    pub verbose: bool,
}

/// The fleet on the terminal: a line per run, the causes with the vantages they hit, and the
/// overall line.
pub fn write_summary(view: &FleetView, mut out: impl Write, style: SummaryStyle) -> io::Result<()> {
    let paint = |text: &str, cell: Cell| -> String {
        if !style.color {
            return text.to_string();
        }
        let s = match cell {
            Cell::Pass => AnsiColor::Green.on_default(),
            Cell::Fail => AnsiColor::Red.on_default().effects(Effects::BOLD),
            Cell::Error | Cell::Warn => AnsiColor::Yellow.on_default().effects(Effects::BOLD),
            Cell::Skip | Cell::Absent => Style::new().dimmed(),
        };
        format!("{}{text}{}", s.render(), s.render_reset())
    };
    let report = view.report;
    if !style.quiet {
        writeln!(
            out,
            "Fleet: {} from {} at {}",
            count(view.rows.len(), "run"),
            count(view.files, "file"),
            count(view.vantages(), "vantage")
        )?;
        let width = view
            .rows
            .iter()
            .map(|r| clean(&r.label).chars().count())
            .max()
            .unwrap_or(0);
        let word_width = view
            .rows
            .iter()
            .map(|r| overall_word(r.overall).len())
            .max()
            .unwrap_or(0);
        for row in &view.rows {
            let word = overall_word(row.overall);
            let t = &row.run.tally;
            let mut line = format!(
                "  {}{} {:<width$}  {}, {} passed, {} failed, {}, {} skipped",
                paint(word, Cell::of_status(row.overall)),
                " ".repeat(word_width - word.len()),
                clean(&row.label),
                count(t.total, "check"),
                t.passed,
                t.failed,
                count(t.errors, "error"),
                t.skipped,
            );
            if let Some(from) = &row.run.merged_from {
                line.push_str(&format!("  ({})", clean(from)));
            }
            writeln!(out, "{line}")?;
        }
        if !view.causes.is_empty() {
            writeln!(out)?;
            writeln!(out, "Causes:")?;
        }
        for group in &view.causes {
            let word = match group.worst {
                Cell::Warn => "WARNING",
                other => other.word(),
            }
            .to_uppercase();
            writeln!(
                out,
                "  {} {}",
                paint(&word, group.worst),
                clean(group.cause.headline())
            )?;
            if let Some(step) = group.cause.guide_step() {
                let (label, text) = super::step_row(step);
                writeln!(out, "{:4}{label}: {}", "", clean(&text))?;
            }
            if let Cause::Diagnosed {
                key: super::CauseKey::Cause(cause),
                ..
            } = &group.cause
            {
                writeln!(out, "{:4}cause id: {}", "", cause.id())?;
            }
            let max = if style.verbose { usize::MAX } else { 8 };
            writeln!(
                out,
                "{:4}{} {}: {}",
                "",
                count(group.rows.len(), "run"),
                if group.checks.iter().any(|(_, c)| c.is_some()) {
                    format!("({})", count(group.checks.len(), "check"))
                } else {
                    String::new()
                },
                clean(&view.labels(&group.rows, max))
            )?;
        }
        writeln!(out)?;
    }
    let t = &report.tally;
    let word = overall_word(report.overall);
    writeln!(
        out,
        "{} (fleet of {}): {}, {} passed, {} failed, {}, {} skipped, {}",
        paint(word, Cell::of_status(report.overall)),
        count(view.rows.len(), "run"),
        count(t.total, "check"),
        t.passed,
        t.failed,
        count(t.errors, "error"),
        t.skipped,
        count(t.warnings, "warning"),
    )?;
    out.flush()
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

use super::clean;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(clean("a\x1b[31mb\nc"), "a\\u{1b}[31mb c");
    }

    /// A check as a report holds it.
    fn check(
        name: &str,
        status: &str,
        cause: Option<&str>,
        warnings: &[&str],
    ) -> serde_json::Value {
        let mut c = serde_json::json!({
            "name": name, "stage": "egress", "target": "login.windows.net:443",
            "host": "login.windows.net", "port": 443, "route": "ipv4", "status": status,
            "reason": format!("{name} is {status}"), "expected": "e", "observed": "o",
            "warnings": warnings, "elapsed_ms": 2.5, "observation": {"kind": "egress"}
        });
        if let Some(cause) = cause {
            c["diagnosis"] = serde_json::json!({
                "likely_cause": cause,
                "guide_step": GuideStep::SegmentDomains.text(),
            });
        }
        c
    }

    fn run(scenario: &str, vantage: &str, checks: Vec<serde_json::Value>) -> serde_json::Value {
        serde_json::json!({
            "scenario": scenario, "source": "s.toml", "anchors": [],
            "vantage": {"name": vantage, "hostname": "h", "os": "linux",
                "sipa_check_version": "0.1.0", "resolvers": [], "local_addresses": [],
                "expect_anchored": true, "started_at": "2026-01-01T00:00:00Z"},
            "elapsed_ms": 10.0,
            "tally": {"total": 0, "passed": 0, "failed": 0, "errors": 0, "skipped": 0, "warnings": 0},
            "checks": checks, "evidence": []
        })
    }

    fn fleet() -> RunReport {
        let lacks = Some("the segment lacks login.windows.net");
        let runs = vec![
            run(
                "o365",
                "paris",
                vec![
                    check("a", "fail", lacks, &[]),
                    check("b", "pass", None, &[]),
                ],
            ),
            run(
                "o365",
                "lyon",
                vec![
                    check("a", "fail", lacks, &[]),
                    check("b", "pass", None, &["slow"]),
                ],
            ),
            run("guest", "lyon", vec![check("c", "error", None, &[])]),
        ];
        let runs = serde_json::from_value(serde_json::Value::Array(runs)).unwrap();
        RunReport::new(runs)
    }

    #[test]
    fn causes_gather_the_runs_they_hit_worst_first() {
        let report = fleet();
        let view = FleetView::of(&report);
        // Several scenarios: rows say which.
        let labels: Vec<&str> = view.rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["o365 @ paris", "o365 @ lyon", "guest @ lyon"]);
        assert_eq!(view.checks, ["a", "b", "c"]);
        assert_eq!(view.vantages(), 2);
        let heads: Vec<(&str, Cell, &[usize])> = view
            .causes
            .iter()
            .map(|g| (g.cause.headline(), g.worst, g.rows.as_slice()))
            .collect();
        assert_eq!(
            heads,
            [
                (
                    "the segment lacks login.windows.net",
                    Cell::Fail,
                    &[0, 1][..]
                ),
                ("c is error", Cell::Error, &[2][..]),
                ("slow", Cell::Warn, &[1][..]),
            ]
        );
        assert_eq!(
            view.causes[0].cause.guide_step(),
            Some(GuideStep::SegmentDomains)
        );
        assert_eq!(
            view.labels(&view.causes[0].rows, 1),
            "o365 @ paris and 1 more"
        );
        // A passing check with a warning is a warning cell.
        assert_eq!(Cell::of(&report.runs[1].checks[1]), Cell::Warn);
    }

    #[test]
    fn the_summary_names_each_run_and_cause() {
        let report = fleet();
        let mut out = Vec::new();
        let style = SummaryStyle {
            color: false,
            quiet: false,
            verbose: false,
        };
        write_summary(&FleetView::of(&report), &mut out, style).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "Fleet: 3 runs from 0 files at 2 vantages\n\
             \x20 FAIL         o365 @ paris  2 checks, 1 passed, 1 failed, 0 errors, 0 skipped\n\
             \x20 FAIL         o365 @ lyon   2 checks, 1 passed, 1 failed, 0 errors, 0 skipped\n\
             \x20 INCONCLUSIVE guest @ lyon  1 check, 0 passed, 0 failed, 1 error, 0 skipped\n\
             \n\
             Causes:\n\
             \x20 FAIL the segment lacks login.windows.net\n\
             \x20   guide step: ZPA application segment, Applications: list login.microsoftonline.com, login.windows.net and login.microsoft.com\n\
             \x20   2 runs (2 checks): o365 @ paris, o365 @ lyon\n\
             \x20 ERROR c is error\n\
             \x20   1 run (1 check): guest @ lyon\n\
             \x20 WARNING slow\n\
             \x20   1 run (1 check): o365 @ lyon\n\
             \n\
             FAIL (fleet of 3 runs): 5 checks, 2 passed, 2 failed, 1 error, 0 skipped, 1 warning\n"
        );
    }

    #[test]
    fn cells_order_from_best_to_worst() {
        assert!(Cell::Pass < Cell::Warn && Cell::Warn < Cell::Error && Cell::Error < Cell::Fail);
    }
}
