//! The terminal's layout toolkit: the width and colour a report is written with, word wrap,
//! rows of evidence, check lines and the summary's counts, shared by the run's sections and its
//! problem blocks.

use std::io::{self, Write};

use anstyle::{AnsiColor, Effects, Style};

use crate::outcome::{Outcome, ScenarioRun, Status, Tally};
use crate::report::{clean, overall_word, show_timing};

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
pub(super) const LAYOUT_WIDTH: usize = 100;
/// Never wrap narrower than this, however narrow the terminal says it is.
pub(super) const MIN_WIDTH: usize = 40;
/// The check-name column never grows past this; longer names push their reason right.
pub(super) const NAME_MAX: usize = 40;
/// Two spaces and a right-aligned duration of up to six columns.
pub(super) const TIME_SLOT: usize = 8;
/// Where a check line's name column starts: indent, status label, gap.
pub(super) const NAME_COL: usize = 2 + 5 + 2;
/// Keys of the evidence rows are padded to this width.
pub(super) const KEY_WIDTH: usize = 10;
/// Where a problem entry's evidence starts: entry indent, key, space.
pub(super) const ENTRY_VALUE_COL: usize = 8 + KEY_WIDTH + 1;
/// How many checks of one problem block show their evidence without -v.
pub(super) const BLOCK_EVIDENCE: usize = 4;
/// Shown instead of the start time when timings are masked.
pub(super) const MASKED_START: &str = "YYYY-MM-DDTHH:MM:SSZ";

/// Where lines break.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    /// The width the time column aligns to.
    pub(super) align: usize,
    /// The width lines wrap at; `None` never wraps.
    pub(super) wrap: Option<usize>,
}

impl Layout {
    pub(super) fn of(style: HumanStyle) -> Layout {
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
    pub(super) fn wrap(&self, text: &str, indent: usize) -> Vec<String> {
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

/// Fields joined by ` · `, starting a new line (indented) where the next would pass the width.
pub(super) fn fields(items: &[String], layout: Layout) -> String {
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
pub(super) fn write_rows(
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

pub(super) fn write_warning(
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
pub(super) fn display_order(run: &ScenarioRun) -> Vec<&Outcome> {
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
pub(super) fn short_name(o: &Outcome) -> &str {
    match o.name.strip_prefix(o.host.as_str()) {
        Some(rest) if !o.host.is_empty() && (rest.starts_with(':') || rest.starts_with(' ')) => {
            rest.trim_start()
        }
        _ => &o.name,
    }
}

pub(super) fn write_check_line(
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
pub(super) fn summary(
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

pub(super) fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

pub(super) fn status_style(status: Status) -> Style {
    match status {
        Status::Pass => AnsiColor::Green.on_default(),
        Status::Fail => AnsiColor::Red.on_default().effects(Effects::BOLD),
        Status::Error => AnsiColor::Yellow.on_default().effects(Effects::BOLD),
        Status::Skip => Style::new().dimmed(),
    }
}

/// Applies styles only when colour was asked for.
pub(super) struct Painter {
    pub(super) color: bool,
}

impl Painter {
    pub(super) fn paint(&self, text: &str, style: Style) -> String {
        if self.color {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }
}

/// Columns taken by `s` (one per character: the model's text is Latin, digits and symbols).
pub(super) fn width(s: &str) -> usize {
    s.chars().count()
}

/// Greedy word wrap at `max` columns; a word longer than `max` is cut into pieces of `max`
/// (a terminal would fold it anyway, at the wrong indentation). Always returns at least one
/// (possibly empty) line.
pub(super) fn wrap(text: &str, max: usize) -> Vec<String> {
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
