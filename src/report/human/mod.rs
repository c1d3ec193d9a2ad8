//! The terminal report: per scenario run a header, the checks that passed grouped by host, a
//! "Problems" section with one block per likely cause (the cause and its guide step once, then
//! the checks it explains with their evidence, and how many checks it kept from being judged),
//! and a summary line whose counts match what is shown.

use std::collections::BTreeMap;
use std::io::{self, Write};

use anstyle::{AnsiColor, Effects, Style};

mod blocks;

use super::{evidence, overall_word, show_timing};
use blocks::{problem_blocks, write_block, write_causes_by_vantage, write_entry};

use crate::outcome::{HostEvidence, Outcome, Proof, RunReport, ScenarioRun, Status, Tally};

/// How to render: the caller decides about colour and width (this module never probes the
/// terminal).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HumanStyle {
    /// Emit ANSI styles. When false, no escape sequence is ever written, not even one received
    /// from the network (control characters in the model are shown escaped either way).
    pub color: bool,
    /// Replace every duration with `--ms` and the start time with a placeholder, so output
    /// can be compared with golden files.
    pub mask_timings: bool,
    /// Wrap long lines at this many columns (a terminal's width); `None` never wraps, so piped
    /// output keeps each line whole for grep and log viewers.
    pub width: Option<usize>,
    /// Every check in the list, and every piece of evidence of each problem (causes, reasons,
    /// the checks not judged), as `-v` asks.
    pub verbose: bool,
}

/// Columns the layout aligns to (the time column) when no width wraps the output.
const LAYOUT_WIDTH: usize = 100;
/// Never wrap narrower than this, however narrow the terminal says it is.
const MIN_WIDTH: usize = 40;
/// The check-name column never grows past this; longer names push their reason right.
const NAME_MAX: usize = 40;
/// Two spaces and a right-aligned duration of up to six columns.
const TIME_SLOT: usize = 8;
/// Where a check line's name column starts: indent, status label, gap.
const NAME_COL: usize = 2 + 5 + 2;
/// Keys of the evidence rows are padded to this width.
const KEY_WIDTH: usize = 10;
/// Where a problem entry's evidence starts: entry indent, key, space.
const ENTRY_VALUE_COL: usize = 8 + KEY_WIDTH + 1;
/// How many checks of one problem block show their evidence without -v.
const BLOCK_EVIDENCE: usize = 4;
/// Shown instead of the start time when timings are masked.
const MASKED_START: &str = "YYYY-MM-DDTHH:MM:SSZ";

/// Where lines break.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// The width the time column aligns to.
    align: usize,
    /// The width lines wrap at; `None` never wraps.
    wrap: Option<usize>,
}

impl Layout {
    fn of(style: HumanStyle) -> Layout {
        match style.width {
            Some(w) => {
                let w = w.max(MIN_WIDTH);
                Layout {
                    align: w,
                    wrap: Some(w),
                }
            }
            None => Layout {
                align: LAYOUT_WIDTH,
                wrap: None,
            },
        }
    }

    /// Wraps `text` into lines of at most what is left after `indent` columns.
    fn wrap(&self, text: &str, indent: usize) -> Vec<String> {
        match self.wrap {
            Some(w) => wrap(text, w.saturating_sub(indent).max(20)),
            None => vec![
                text.split(' ')
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
                    .join(" "),
            ],
        }
    }
}

/// Writes the human-readable report of every run in `report`.
pub fn write(report: &RunReport, mut out: impl Write, style: HumanStyle) -> io::Result<()> {
    let painter = Painter { color: style.color };
    let layout = Layout::of(style);
    for (i, run) in report.runs.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        write_run(&mut out, run, style, layout, &painter)?;
    }
    if report.runs.len() != 1 {
        if report.runs.is_empty() {
            writeln!(out, "no scenario was run")?;
        } else {
            writeln!(out)?;
        }
        if several_vantages(report) {
            write_causes_by_vantage(&mut out, report, layout, &painter)?;
        }
        writeln!(out, "{}", overall_line(report, style, layout, &painter))?;
    }
    out.flush()
}

/// Whether some scenario ran from more than one vantage.
fn several_vantages(report: &RunReport) -> bool {
    report.runs.iter().enumerate().any(|(i, a)| {
        report.runs[..i]
            .iter()
            .any(|b| b.scenario == a.scenario && b.source == a.source)
    })
}

/// The summary line of several runs together.
fn overall_line(
    report: &RunReport,
    style: HumanStyle,
    layout: Layout,
    painter: &Painter,
) -> String {
    let elapsed = report.runs.iter().map(|r| r.elapsed).sum();
    summary(
        &report.tally,
        report.overall,
        &format!(" (all {} runs)", report.runs.len()),
        &path_only_note(&report.tally, &all_evidence(report)),
        &show_timing(elapsed, style.mask_timings),
        layout,
        painter,
    )
}

/// Writes only the verdict: each run's summary line (and why it was cut short), then the overall
/// line when there are several runs. What `-q` prints.
pub fn write_verdict(report: &RunReport, mut out: impl Write, style: HumanStyle) -> io::Result<()> {
    let painter = Painter { color: style.color };
    let layout = Layout::of(style);
    for run in &report.runs {
        write_run_summary(&mut out, run, style, layout, &painter)?;
        write_pending(&mut out, run, &painter)?;
    }
    if report.runs.len() != 1 {
        writeln!(out, "{}", overall_line(report, style, layout, &painter))?;
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
    let layout = Layout::of(style);
    for run in &report.runs {
        writeln!(out)?;
        let heading = format!("Evidence ({})", clean(&run.scenario));
        writeln!(out, "{}", painter.paint(&heading, Style::new().bold()))?;
        for o in display_order(run) {
            writeln!(out)?;
            write_entry(&mut out, o, style, layout, &painter, true)?;
        }
    }
    out.flush()
}

fn write_run(
    out: &mut impl Write,
    run: &ScenarioRun,
    style: HumanStyle,
    layout: Layout,
    painter: &Painter,
) -> io::Result<()> {
    let v = &run.vantage;
    let started = if style.mask_timings {
        MASKED_START.to_string()
    } else {
        clean(&v.started_at)
    };
    let header = fields(
        &[
            format!("sipa-check {}", clean(&v.sipa_check_version)),
            format!("scenario {}", clean(&run.scenario)),
            format!("vantage {} ({})", clean(&v.name), clean(&v.hostname)),
            started,
        ],
        layout,
    );
    writeln!(out, "{}", painter.paint(&header, Style::new().bold()))?;
    let resolvers = if v.resolvers.is_empty() {
        "system".to_string()
    } else {
        clean(&v.resolvers.join(", "))
    };
    let facts = fields(
        &[
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
        ]
        .into_iter()
        .chain(v.bind.as_deref().map(|b| format!("bind: {}", clean(b))))
        .chain(
            v.proxy_decision
                .as_deref()
                .map(|d| format!("proxy decision: {}", clean(d))),
        )
        .collect::<Vec<_>>(),
        layout,
    );
    writeln!(out, "{facts}")?;
    for problem in &v.trust_store_problems {
        write_warning(
            out,
            0,
            &format!("OS trust store: {problem}"),
            layout,
            painter,
        )?;
    }
    for warning in &v.warnings {
        write_warning(out, 0, warning, layout, painter)?;
    }
    write_decisions(out, run, painter)?;

    let ordered = display_order(run);
    let blocks = problem_blocks(run);
    // Without -v, a check that belongs to a problem block is shown there, not twice.
    let listed: Vec<&Outcome> = ordered
        .iter()
        .copied()
        .filter(|o| style.verbose || !blocks.iter().any(|b| b.contains(o)))
        .collect();
    let name_width = listed
        .iter()
        .map(|o| width(&clean(short_name(o))))
        .max()
        .unwrap_or(0)
        .min(NAME_MAX);
    // In a run with problems a host whose every check passed, warning-free, is one line: the
    // problems come first on a screen, and -v lists every check.
    let mut compact: BTreeMap<&str, usize> = BTreeMap::new();
    if !style.verbose && !blocks.is_empty() {
        for o in listed.iter().filter(|o| !o.host.is_empty()) {
            *compact.entry(o.host.as_str()).or_default() += 1;
        }
        for o in &listed {
            if o.status != Status::Pass || !o.warnings.is_empty() {
                compact.remove(o.host.as_str());
            }
        }
    }
    let pad = compact.keys().map(|h| width(&clean(h))).max().unwrap_or(0);
    let mut host: Option<&str> = None;
    let mut after_compact = false;
    for o in &listed {
        if let Some(&n) = compact.get(o.host.as_str()) {
            if host == Some(o.host.as_str()) {
                continue;
            }
            host = Some(o.host.as_str());
            if !after_compact {
                writeln!(out)?;
            }
            after_compact = true;
            let name = clean(&o.host);
            let gap = " ".repeat(pad.saturating_sub(width(&name)) + 2);
            let host_name = painter.paint(&name, Style::new().bold());
            let passed = painter.paint(&format!("{n} passed"), status_style(Status::Pass));
            writeln!(out, "{host_name}{gap}{passed}")?;
            continue;
        }
        if host != Some(o.host.as_str()) {
            host = Some(o.host.as_str());
            after_compact = false;
            writeln!(out)?;
            let heading = if o.host.is_empty() {
                "(checks without a host)".to_string()
            } else {
                clean(&o.host)
            };
            writeln!(out, "{}", painter.paint(&heading, Style::new().bold()))?;
        }
        // With -v a problem's warnings are shown in its block; once is enough.
        let in_block = blocks.iter().any(|b| b.contains(o));
        write_check_line(out, o, name_width, !in_block, style, layout, painter)?;
    }
    if ordered.is_empty() {
        writeln!(out)?;
        writeln!(out, "no checks were run")?;
    } else if listed.is_empty() {
        writeln!(out)?;
        writeln!(out, "no check passed")?;
    }

    write_path_only(out, run, layout, painter)?;

    if !blocks.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", painter.paint("Problems", Style::new().bold()))?;
        for block in &blocks {
            writeln!(out)?;
            write_block(out, block, style, layout, painter)?;
        }
    }

    writeln!(out)?;
    write_run_summary(out, run, style, layout, painter)?;
    write_pending(out, run, painter)?;
    Ok(())
}

/// A run's summary line, and why it was cut short when it was.
/// One decision check as the per-host line shows it: its port, its answer, its status.
type ShownDecision = (Option<u16>, String, Status);

/// The browser's proxy decision, one line per host: `login.windows.net  :80, :443 DIRECT`.
fn write_decisions(out: &mut dyn Write, run: &ScenarioRun, painter: &Painter) -> io::Result<()> {
    let mut by_host: Vec<(&str, Vec<ShownDecision>)> = Vec::new();
    for o in run
        .checks
        .iter()
        .filter(|o| o.stage == crate::outcome::Stage::Pac)
    {
        let answer = match &o.observation {
            crate::observation::Observation::ProxyDecision(d) => match &d.outcome {
                crate::observation::DecisionOutcome::Decided { decision } => match &decision.line {
                    Some(line) => format!("{} (line {})", decision.answer, line.line),
                    None => decision.answer.clone(),
                },
                crate::observation::DecisionOutcome::Failed { .. } => "no decision".into(),
            },
            _ => o.reason.clone(),
        };
        match by_host.iter_mut().find(|(h, _)| *h == o.host) {
            Some((_, list)) => list.push((o.port, answer, o.status)),
            None => by_host.push((&o.host, vec![(o.port, answer, o.status)])),
        }
    }
    if by_host.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        painter.paint("proxy decisions", Style::new().bold())
    )?;
    let pad = by_host
        .iter()
        .map(|(h, _)| width(&clean(h)))
        .max()
        .unwrap_or(0);
    for (host, list) in by_host {
        let mut parts: Vec<(Vec<String>, &str, Status)> = Vec::new();
        for (port, answer, status) in &list {
            let port = port.map_or_else(String::new, |p| format!(":{p}"));
            match parts.iter_mut().find(|(_, a, _)| a == answer) {
                Some((ports, _, _)) => ports.push(port),
                None => parts.push((vec![port], answer, *status)),
            }
        }
        let shown: Vec<String> = parts
            .iter()
            .map(|(ports, answer, status)| {
                let text = format!("{} {}", ports.join(", "), clean(answer));
                if *status == Status::Pass {
                    text
                } else {
                    painter.paint(&text, status_style(*status))
                }
            })
            .collect();
        let name = clean(host);
        let gap = " ".repeat(pad.saturating_sub(width(&name)) + 2);
        writeln!(out, "  {name}{gap}{}", shown.join(" · "))?;
    }
    Ok(())
}

fn write_run_summary(
    out: &mut impl Write,
    run: &ScenarioRun,
    style: HumanStyle,
    layout: Layout,
    painter: &Painter,
) -> io::Result<()> {
    let line = summary(
        &run.tally,
        run.tally.overall(),
        "",
        &path_only_note(&run.tally, &run.evidence),
        &show_timing(run.elapsed, style.mask_timings),
        layout,
        painter,
    );
    writeln!(out, "{line}")?;
    if let Some(why) = &run.cut_short {
        let text = format!("run cut short: {}", clean(why));
        writeln!(out, "{}", painter.paint(&text, status_style(Status::Error)))?;
    }
    Ok(())
}

/// The sign-ins Entra's log did not show yet, and how to finish the report once it does.
fn write_pending(out: &mut impl Write, run: &ScenarioRun, painter: &Painter) -> io::Result<()> {
    let n = run.pending_sign_ins.len();
    if n == 0 {
        return Ok(());
    }
    let text = format!(
        "pending: {n} sign-in{} not yet in Entra's sign-in log ({}); finish the report later with `sipa-check complete REPORT.json` on this run's --json report",
        if n == 1 { "" } else { "s" },
        run.pending_sign_ins
            .iter()
            .map(|p| clean(&p.check))
            .collect::<Vec<_>>()
            .join(", ")
    );
    writeln!(out, "{}", painter.paint(&text, status_style(Status::Error)))
}

/// Where a login host is proven only by the shared path, a section per host and route with each
/// port's evidence, and what would prove it; nothing when every host has its own evidence, or
/// when the run failed (its problems matter first; the summary line still counts them).
fn write_path_only(
    out: &mut impl Write,
    run: &ScenarioRun,
    layout: Layout,
    painter: &Painter,
) -> io::Result<()> {
    // With a failure the problems come first; the summary line still counts the unproven.
    if run.tally.failed > 0 || run.evidence.iter().all(|e| e.proof.is_per_host()) {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        painter.paint("Evidence per login host", Style::new().bold())
    )?;
    let rows = super::evidence_rows(&run.evidence);
    let pad = rows
        .iter()
        .map(|(w, _)| width(&clean(w)))
        .max()
        .unwrap_or(0);
    for (who, ports) in rows {
        writeln!(out, "  {:<pad$}  {ports}", clean(&who))?;
    }
    let note = "path only: a canary proves the shared path (forwarding rule, gateway, connectors), \
                not that this host is in the segment; an echo on the host or Entra's sign-in log \
                proves it, and --require per-host makes path only an error";
    let mut notes = Vec::new();
    if run.evidence.iter().any(|e| e.proof == Proof::PathOnly) {
        notes.push(note);
    }
    if run
        .evidence
        .iter()
        .any(|e| e.proof == Proof::EntraCaUnverified)
    {
        notes.push(
            "entra-ca (policy unverified): Entra issued the token, but nothing in the run showed \
             Conditional Access refusing the probe app outside the trusted locations (a vantage \
             with expect_anchored = false must be refused): without such a policy every token is \
             issued",
        );
    }
    for line in notes.into_iter().flat_map(|n| layout.wrap(n, 2)) {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}

/// The evidence of every run, for the overall line.
fn all_evidence(report: &RunReport) -> Vec<HostEvidence> {
    report
        .runs
        .iter()
        .flat_map(|r| r.evidence.iter().cloned())
        .collect()
}

/// `, 6 of 6 login host ports path only` when some are, for the summary line of a run without
/// failures (in a failed run the problems speak first, and its JSON keeps the evidence).
fn path_only_note(tally: &Tally, evidence: &[HostEvidence]) -> String {
    if tally.failed > 0 {
        return String::new();
    }
    let path_only = evidence
        .iter()
        .filter(|e| e.proof == Proof::PathOnly)
        .count();
    let unverified = evidence
        .iter()
        .filter(|e| e.proof == Proof::EntraCaUnverified)
        .count();
    let mut note = String::new();
    if path_only > 0 {
        note += &format!(
            ", {path_only} of {} login host ports path only",
            evidence.len()
        );
    }
    if unverified > 0 {
        note += &format!(
            ", {unverified} of {} with the Conditional Access policy unverified",
            evidence.len()
        );
    }
    note
}

/// Fields joined by ` · `, starting a new line (indented) where the next would pass the width.
fn fields(items: &[String], layout: Layout) -> String {
    let max = layout.wrap.unwrap_or(usize::MAX);
    let mut text = String::new();
    let mut column = 0;
    for item in items {
        if column + 3 + width(item) > max && column > 0 {
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

/// Evidence rows, `key value`, at `indent`; a repeated key is named once; long values wrap
/// under the value column.
fn write_rows(
    out: &mut impl Write,
    indent: usize,
    rows: &[(&str, String)],
    layout: Layout,
) -> io::Result<()> {
    let value_col = indent + KEY_WIDTH + 1;
    debug_assert!(indent != 8 || value_col == ENTRY_VALUE_COL);
    let mut previous_key = "";
    for (key, value) in rows {
        let shown_key = if *key == previous_key { "" } else { key };
        previous_key = key;
        let mut first = true;
        for raw_line in value.lines() {
            for line in layout.wrap(&clean(raw_line), value_col) {
                if first {
                    writeln!(out, "{:indent$}{shown_key:<KEY_WIDTH$} {line}", "")?;
                    first = false;
                } else {
                    writeln!(out, "{:value_col$}{line}", "")?;
                }
            }
        }
        if first {
            writeln!(out, "{:indent$}{}", "", shown_key.trim_end())?;
        }
    }
    Ok(())
}

fn write_warning(
    out: &mut impl Write,
    indent: usize,
    text: &str,
    layout: Layout,
    painter: &Painter,
) -> io::Result<()> {
    let prefix = painter.paint("warning:", status_style(Status::Error));
    let value_col = indent + "warning: ".len();
    for (i, line) in layout.wrap(&clean(text), value_col).iter().enumerate() {
        if i == 0 {
            writeln!(out, "{:indent$}{prefix} {line}", "")?;
        } else {
            writeln!(out, "{:value_col$}{line}", "")?;
        }
    }
    Ok(())
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
    with_warnings: bool,
    style: HumanStyle,
    layout: Layout,
    painter: &Painter,
) -> io::Result<()> {
    let label = painter.paint(&format!("{:<5}", o.status.label()), status_style(o.status));
    let name = clean(short_name(o));
    let reason_col = NAME_COL + width(&name).max(name_width) + 2;
    let lines = match layout.wrap {
        Some(w) => wrap(
            &clean(&o.reason),
            w.saturating_sub(reason_col + TIME_SLOT).max(10),
        ),
        None => layout.wrap(&clean(&o.reason), 0),
    };
    let time = show_timing(o.elapsed, style.mask_timings);

    let first = lines.first().map(String::as_str).unwrap_or("");
    let (left, used) = if first.is_empty() {
        (format!("  {label}  {name}"), NAME_COL + width(&name))
    } else {
        let left = format!("  {label}  {name:<name_width$}  {first}");
        (left, reason_col + width(first))
    };
    let pad = (layout.align - TIME_SLOT).saturating_sub(used);
    writeln!(out, "{left}{:pad$}  {time:>6}", "")?;
    for line in lines.iter().skip(1) {
        writeln!(out, "{:reason_col$}{line}", "")?;
    }
    if with_warnings {
        for warning in &o.warnings {
            write_warning(out, NAME_COL, warning, layout, painter)?;
        }
    }
    Ok(())
}

/// `FAIL: 40 checks, 36 passed, 3 failed, 1 error, 0 skipped, 2 warnings (1.2s)`.
fn summary(
    tally: &Tally,
    overall: Status,
    scope: &str,
    note: &str,
    time: &str,
    layout: Layout,
    painter: &Painter,
) -> String {
    let word = overall_word(overall);
    let plain = format!(
        "{word}{scope}: {}, {} passed, {} failed, {}, {} skipped, {}{note} ({time})",
        count(tally.total, "check"),
        tally.passed,
        tally.failed,
        count(tally.errors, "error"),
        tally.skipped,
        count(tally.warnings, "warning"),
    );
    let text = layout.wrap(&plain, 2).join("\n  ");
    // Only the verdict word is painted.
    format!(
        "{}{}",
        painter.paint(word, status_style(overall)),
        &text[word.len()..]
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

use super::clean;

/// Columns taken by `s` (one per character: the model's text is Latin, digits and symbols).
fn width(s: &str) -> usize {
    s.chars().count()
}

/// Greedy word wrap at `max` columns; a word longer than `max` is cut into pieces of `max`
/// (a terminal would fold it anyway, at the wrong indentation). Always returns at least one
/// (possibly empty) line.
fn wrap(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let chars: Vec<char> = word.chars().collect();
        for piece in chars.chunks(max) {
            let piece: String = piece.iter().collect();
            if !line.is_empty() && width(&line) + 1 + width(&piece) > max {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&piece);
        }
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
        assert_eq!(
            wrap("averylongword x", 4),
            vec!["aver", "ylon", "gwor", "d x"]
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(clean("a\x1b[31mb\nc"), "a\\u{1b}[31mb c");
    }
}
