//! The terminal report: per scenario run a header, the checks grouped by host, a "Problems"
//! section with the evidence of every failure and error, and a summary line.

use std::io::{self, Write};

use anstyle::{AnsiColor, Effects, Style};

use super::{evidence, overall_word, show_timing};
use crate::outcome::{Outcome, RunReport, ScenarioRun, Status, Tally};

/// How to render: the caller decides about colour (this module never probes the terminal).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HumanStyle {
    /// Emit ANSI styles. When false, no escape sequence is ever written, not even one received
    /// from the network (control characters in the model are shown escaped either way).
    pub color: bool,
    /// Replace every duration with `--ms` and the start time with a placeholder, so output
    /// can be compared with golden files.
    pub mask_timings: bool,
}

/// Target width of the output in columns.
const WIDTH: usize = 100;
/// The check-name column never grows past this; longer names push their reason right.
const NAME_MAX: usize = 40;
/// Two spaces and a right-aligned duration of up to six columns.
const TIME_SLOT: usize = 8;
/// Where a check line's name column starts: indent, status label, gap.
const NAME_COL: usize = 2 + 5 + 2;
/// Keys of the evidence rows are padded to this width.
const KEY_WIDTH: usize = 10;
/// Where an evidence value starts: indent, key, space.
const VALUE_COL: usize = 2 + KEY_WIDTH + 1;
/// Shown instead of the start time when timings are masked.
const MASKED_START: &str = "YYYY-MM-DDTHH:MM:SSZ";

/// Writes the human-readable report of every run in `report`.
pub fn write(report: &RunReport, mut out: impl Write, style: HumanStyle) -> io::Result<()> {
    let painter = Painter { color: style.color };
    for (i, run) in report.runs.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        write_run(&mut out, run, style, &painter)?;
    }
    if report.runs.len() != 1 {
        if report.runs.is_empty() {
            writeln!(out, "no scenario was run")?;
        } else {
            writeln!(out)?;
        }
        let elapsed = report.runs.iter().map(|r| r.elapsed).sum();
        let scope = format!(" (all {} runs)", report.runs.len());
        let line = summary(
            &report.tally,
            report.overall,
            &scope,
            elapsed,
            style,
            &painter,
        );
        writeln!(out, "{line}")?;
    }
    out.flush()
}

/// Writes only the verdict: each run's summary line (and why it was cut short), then the overall
/// line when there are several runs. What `-q` prints.
pub fn write_verdict(report: &RunReport, mut out: impl Write, style: HumanStyle) -> io::Result<()> {
    let painter = Painter { color: style.color };
    for run in &report.runs {
        let line = summary(
            &run.tally,
            run.tally.overall(),
            "",
            run.elapsed,
            style,
            &painter,
        );
        writeln!(out, "{line}")?;
        if let Some(why) = &run.cut_short {
            let text = format!("run cut short: {}", clean(why));
            writeln!(out, "{}", painter.paint(&text, status_style(Status::Error)))?;
        }
    }
    if report.runs.len() != 1 {
        let elapsed = report.runs.iter().map(|r| r.elapsed).sum();
        let scope = format!(" (all {} runs)", report.runs.len());
        let line = summary(
            &report.tally,
            report.overall,
            &scope,
            elapsed,
            style,
            &painter,
        );
        writeln!(out, "{line}")?;
    }
    out.flush()
}

/// Writes every check's evidence, passes and skips included, in the "Problems" blocks' shape,
/// under an "Evidence" heading per run. What `-v` adds after the report.
pub fn write_evidence(
    report: &RunReport,
    mut out: impl Write,
    style: HumanStyle,
) -> io::Result<()> {
    let painter = Painter { color: style.color };
    for run in &report.runs {
        writeln!(out)?;
        let heading = format!("Evidence ({})", clean(&run.scenario));
        writeln!(out, "{}", painter.paint(&heading, Style::new().bold()))?;
        for o in display_order(run) {
            writeln!(out)?;
            write_problem(&mut out, o, style, &painter)?;
        }
    }
    out.flush()
}

fn write_run(
    out: &mut impl Write,
    run: &ScenarioRun,
    style: HumanStyle,
    painter: &Painter,
) -> io::Result<()> {
    let v = &run.vantage;
    let started = if style.mask_timings {
        MASKED_START.to_string()
    } else {
        clean(&v.started_at)
    };
    let header = fields(&[
        format!("sipa-check {}", clean(&v.sipa_check_version)),
        format!("scenario {}", clean(&run.scenario)),
        format!("vantage {} ({})", clean(&v.name), clean(&v.hostname)),
        started,
    ]);
    writeln!(out, "{}", painter.paint(&header, Style::new().bold()))?;
    let resolvers = if v.resolvers.is_empty() {
        "system".to_string()
    } else {
        clean(&v.resolvers.join(", "))
    };
    let facts = fields(&[
        format!("anchor set: {{{}}}", clean(&run.anchors.join(", "))),
        format!(
            "expects anchoring: {}",
            if v.expect_anchored { "yes" } else { "no" }
        ),
        format!("resolvers: {resolvers}"),
        format!(
            "proxy: {}",
            v.proxy.as_deref().map_or("none".to_string(), clean)
        ),
    ]);
    writeln!(out, "{facts}")?;
    for problem in &v.trust_store_problems {
        let prefix = painter.paint("warning:", status_style(Status::Error));
        writeln!(out, "{prefix} OS trust store: {}", clean(problem))?;
    }

    let ordered = display_order(run);
    let name_width = ordered
        .iter()
        .map(|o| width(&clean(short_name(o))))
        .max()
        .unwrap_or(0)
        .min(NAME_MAX);
    let mut host: Option<&str> = None;
    for o in &ordered {
        if host != Some(o.host.as_str()) {
            host = Some(o.host.as_str());
            writeln!(out)?;
            let heading = if o.host.is_empty() {
                "(checks without a host)".to_string()
            } else {
                clean(&o.host)
            };
            writeln!(out, "{}", painter.paint(&heading, Style::new().bold()))?;
        }
        write_check_line(out, o, name_width, style, painter)?;
    }
    if ordered.is_empty() {
        writeln!(out)?;
        writeln!(out, "no checks were run")?;
    }

    let problems: Vec<&&Outcome> = ordered
        .iter()
        .filter(|o| matches!(o.status, Status::Fail | Status::Error))
        .collect();
    if !problems.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", painter.paint("Problems", Style::new().bold()))?;
        for o in problems {
            writeln!(out)?;
            write_problem(out, o, style, painter)?;
        }
    }

    writeln!(out)?;
    let line = summary(
        &run.tally,
        run.tally.overall(),
        "",
        run.elapsed,
        style,
        painter,
    );
    writeln!(out, "{line}")?;
    if let Some(why) = &run.cut_short {
        let text = format!("run cut short: {}", clean(why));
        writeln!(out, "{}", painter.paint(&text, status_style(Status::Error)))?;
    }
    Ok(())
}

/// Fields joined by ` · `, starting a new line (indented) where the next would pass the width.
fn fields(items: &[String]) -> String {
    let mut text = String::new();
    let mut column = 0;
    for item in items {
        if column + 3 + width(item) > WIDTH && column > 0 {
            text.push_str("\n  ");
            column = 2;
        } else if column > 0 {
            text.push_str(" · ");
            column += 3;
        }
        text.push_str(item);
        column += width(item);
    }
    text
}

/// Checks grouped by host (hosts in order of first appearance), each group sorted by port,
/// stage and route; the sort is stable, so ties keep the plan's order.
fn display_order(run: &ScenarioRun) -> Vec<&Outcome> {
    let mut hosts: Vec<&str> = Vec::new();
    for o in &run.checks {
        if !hosts.contains(&o.host.as_str()) {
            hosts.push(&o.host);
        }
    }
    let mut ordered = Vec::with_capacity(run.checks.len());
    for host in hosts {
        let mut group: Vec<&Outcome> = run.checks.iter().filter(|o| o.host == host).collect();
        group.sort_by_key(|o| (o.port, o.stage, o.route));
        ordered.extend(group);
    }
    ordered
}

/// The check's name without its host, which the group heading already shows:
/// `login.windows.net:80 egress anchored (ipv4)` becomes `:80 egress anchored (ipv4)`.
fn short_name(o: &Outcome) -> &str {
    match o.name.strip_prefix(o.host.as_str()) {
        Some(rest) if !o.host.is_empty() && (rest.starts_with(':') || rest.starts_with(' ')) => {
            rest.trim_start()
        }
        _ => &o.name,
    }
}

fn write_check_line(
    out: &mut impl Write,
    o: &Outcome,
    name_width: usize,
    style: HumanStyle,
    painter: &Painter,
) -> io::Result<()> {
    let label = painter.paint(&format!("{:<5}", o.status.label()), status_style(o.status));
    let name = clean(short_name(o));
    let reason_col = NAME_COL + width(&name).max(name_width) + 2;
    let avail = WIDTH.saturating_sub(reason_col + TIME_SLOT).max(30);
    let lines = wrap(&clean(&o.reason), avail);
    let time = show_timing(o.elapsed, style.mask_timings);

    let first = lines.first().map(String::as_str).unwrap_or("");
    let (left, used) = if first.is_empty() {
        (format!("  {label}  {name}"), NAME_COL + width(&name))
    } else {
        let left = format!("  {label}  {name:<name_width$}  {first}");
        (left, reason_col + width(first))
    };
    let pad = (WIDTH - TIME_SLOT).saturating_sub(used);
    writeln!(out, "{left}{:pad$}  {time:>6}", "")?;
    for line in lines.iter().skip(1) {
        writeln!(out, "{:reason_col$}{line}", "")?;
    }

    for warning in &o.warnings {
        let prefix = painter.paint("warning:", status_style(Status::Error));
        let indent = NAME_COL + "warning: ".len();
        let lines = wrap(&clean(warning), WIDTH.saturating_sub(indent).max(30));
        for (i, line) in lines.iter().enumerate() {
            if i == 0 {
                writeln!(out, "{:NAME_COL$}{prefix} {line}", "")?;
            } else {
                writeln!(out, "{:indent$}{line}", "")?;
            }
        }
    }
    Ok(())
}

/// One problem block: the full name, then every piece of evidence on its own line.
fn write_problem(
    out: &mut impl Write,
    o: &Outcome,
    style: HumanStyle,
    painter: &Painter,
) -> io::Result<()> {
    let label = painter.paint(o.status.label(), status_style(o.status));
    writeln!(out, "{label} {}", clean(&o.name))?;
    let mut rows = evidence(o);
    rows.push(("time", show_timing(o.elapsed, style.mask_timings)));
    let mut previous_key = "";
    for (key, value) in rows {
        // Repeated keys (the cause chain, several warnings) are named once.
        let shown_key = if key == previous_key { "" } else { key };
        previous_key = key;
        let mut first = true;
        for raw_line in value.lines() {
            for line in wrap(&clean(raw_line), WIDTH - VALUE_COL) {
                if first {
                    writeln!(out, "  {shown_key:<KEY_WIDTH$} {line}")?;
                    first = false;
                } else {
                    writeln!(out, "{:VALUE_COL$}{line}", "")?;
                }
            }
        }
        if first {
            writeln!(out, "  {}", shown_key.trim_end())?;
        }
    }
    Ok(())
}

/// `FAIL: 40 checks, 36 passed, 3 failed, 1 error, 0 skipped, 2 warnings (1.2s)`.
fn summary(
    tally: &Tally,
    overall: Status,
    scope: &str,
    elapsed: std::time::Duration,
    style: HumanStyle,
    painter: &Painter,
) -> String {
    let word = painter.paint(overall_word(overall), status_style(overall));
    format!(
        "{word}{scope}: {}, {} passed, {} failed, {}, {} skipped, {} ({})",
        count(tally.total, "check"),
        tally.passed,
        tally.failed,
        count(tally.errors, "error"),
        tally.skipped,
        count(tally.warnings, "warning"),
        show_timing(elapsed, style.mask_timings),
    )
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn status_style(status: Status) -> Style {
    match status {
        Status::Pass => AnsiColor::Green.on_default(),
        Status::Fail => AnsiColor::Red.on_default().effects(Effects::BOLD),
        Status::Error => AnsiColor::Yellow.on_default().effects(Effects::BOLD),
        Status::Skip => Style::new().dimmed(),
    }
}

/// Applies styles only when colour was asked for.
struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, text: &str, style: Style) -> String {
        if self.color {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }
}

/// One line of text safe for a terminal: line breaks and tabs become spaces, other control
/// characters (an escape sequence in a proxy's block page, say) are shown escaped.
fn clean(s: &str) -> String {
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

/// Columns taken by `s` (one per character: the model's text is Latin, digits and symbols).
fn width(s: &str) -> usize {
    s.chars().count()
}

/// Greedy word wrap at `max` columns; a word longer than `max` gets a line of its own.
/// Always returns at least one (possibly empty) line.
fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !line.is_empty() && width(&line) + 1 + width(word) > max {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_word_boundaries() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
        assert_eq!(wrap("", 5), vec![""]);
        assert_eq!(wrap("averylongword x", 4), vec!["averylongword", "x"]);
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(clean("a\x1b[31mb\nc"), "a\\u{1b}[31mb c");
    }
}
