//! The problems of a run, grouped by cause: each block's headline, its guide step or what to
//! look at, its cause id, and its checks with their evidence; and the causes across vantages.

use std::collections::BTreeMap;
use std::io::{self, Write};

use anstyle::Style;

use super::layout::*;
use crate::observation::{NotRun, Observation};
use crate::outcome::{Outcome, RunReport, ScenarioRun, Status};
use crate::report::{clean, evidence, show_timing};

/// Each likely cause once, with the vantages whose checks it explains, and the vantages
/// where nothing failed: which places a misconfiguration hits, at a glance.
pub(super) fn write_causes_by_vantage(
    out: &mut impl Write,
    report: &RunReport,
    layout: Layout,
    painter: &Painter,
) -> io::Result<()> {
    /// A cause (or a reason without one), its headline and its step row.
    type Cause = (
        Option<crate::report::CauseKey>,
        String,
        Option<(&'static str, String)>,
    );
    // Each cause with its worst status and the runs it hit, in first-seen order.
    let mut causes: Vec<(Cause, Status, Vec<String>)> = Vec::new();
    let mut clean_runs: Vec<String> = Vec::new();
    for run in &report.runs {
        let here = format!("{} @ {}", clean(&run.scenario), clean(&run.vantage.name));
        let blocks = problem_blocks(run);
        if blocks.is_empty() {
            clean_runs.push(here);
            continue;
        }
        for block in &blocks {
            let first = block.checks[0];
            let key: Cause = match &first.diagnosis {
                Some(d) => {
                    let (label, step) = crate::report::step_row(d.guide_step);
                    let diagnoses = block.checks.iter().filter_map(|o| o.diagnosis.as_ref());
                    (
                        Some(crate::report::CauseKey::of(d)),
                        clean(&crate::report::cause_headline(diagnoses)),
                        Some((label, clean(&step))),
                    )
                }
                None => (None, clean(&first.reason), None),
            };
            let same = |k: &Cause| match (&k.0, &key.0) {
                (Some(a), Some(b)) => a == b,
                (None, None) => k.1 == key.1,
                _ => false,
            };
            match causes.iter_mut().find(|(k, _, _)| same(k)) {
                Some((k, status, hit)) => {
                    // Vantages that say it of different hosts share the cause's own words.
                    if let (Some(crate::report::CauseKey::Cause(cause)), true) =
                        (&k.0, k.1 != key.1)
                    {
                        k.1 = cause.title().to_owned();
                    }
                    *status = (*status).max(block.status);
                    if !hit.contains(&here) {
                        hit.push(here.clone());
                    }
                }
                None => causes.push((key, block.status, vec![here.clone()])),
            }
        }
    }
    if causes.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "{}",
        painter.paint("Problems by cause, across vantages", Style::new().bold())
    )?;
    for ((key, cause, step), status, hit) in &causes {
        writeln!(out)?;
        let label = painter.paint(&format!("{:<5}", status.label()), status_style(*status));
        for (i, line) in layout.wrap(cause, 7).iter().enumerate() {
            if i == 0 {
                writeln!(out, "{label}  {line}")?;
            } else {
                writeln!(out, "{:7}{line}", "")?;
            }
        }
        let mut rows = Vec::new();
        if let Some((label, step)) = step {
            rows.push((*label, step.clone()));
        }
        if let Some(crate::report::CauseKey::Cause(cause)) = key {
            rows.push(("cause id", cause.id().to_owned()));
        }
        rows.push(("hit", hit.join(", ")));
        write_rows(out, 7, &rows, layout)?;
    }
    if !clean_runs.is_empty() {
        writeln!(out)?;
        let text = format!("no problem from: {}", clean_runs.join(", "));
        for line in layout.wrap(&text, 0) {
            writeln!(out, "{line}")?;
        }
    }
    writeln!(out)
}

/// One likely cause with the checks it explains.
pub(super) struct Block<'a> {
    /// The worst status among the explained checks.
    status: Status,
    /// The checks that failed or errored for this cause, in display order.
    checks: Vec<&'a Outcome>,
    /// Checks not judged because of those (knock-ons), in display order.
    not_judged: Vec<&'a Outcome>,
}

impl Block<'_> {
    pub(super) fn contains(&self, o: &Outcome) -> bool {
        self.checks
            .iter()
            .chain(&self.not_judged)
            .any(|c| std::ptr::eq(*c, o))
    }
}

/// Failures and errors grouped by diagnosis (likely cause and guide step), blocks in order of
/// their first check; a check without a diagnosis is a block of its own. A skipped check
/// goes with the block of the check that kept it from being judged (followed to the first
/// check that did not skip); a skip with no such check stays in the list.
pub(super) fn problem_blocks(run: &ScenarioRun) -> Vec<Block<'_>> {
    let ordered = display_order(run);
    let mut blocks: Vec<Block> = Vec::new();
    let mut keys: BTreeMap<crate::report::CauseKey, usize> = BTreeMap::new();
    let mut of_check: BTreeMap<&str, usize> = BTreeMap::new();
    for o in ordered
        .iter()
        .filter(|o| matches!(o.status, Status::Fail | Status::Error))
    {
        let at = match &o.diagnosis {
            Some(d) => *keys
                .entry(crate::report::CauseKey::of(d))
                .or_insert_with(|| {
                    blocks.push(Block {
                        status: o.status,
                        checks: Vec::new(),
                        not_judged: Vec::new(),
                    });
                    blocks.len() - 1
                }),
            None => {
                blocks.push(Block {
                    status: o.status,
                    checks: Vec::new(),
                    not_judged: Vec::new(),
                });
                blocks.len() - 1
            }
        };
        blocks[at].status = blocks[at].status.max(o.status);
        blocks[at].checks.push(o);
        of_check.insert(o.name.as_str(), at);
    }
    let by_name: BTreeMap<&str, &Outcome> =
        run.checks.iter().map(|o| (o.name.as_str(), o)).collect();
    for o in ordered.iter().filter(|o| o.status == Status::Skip) {
        let mut blocker = o.blocked_by.as_deref();
        // Bounded: a chain of skips is never longer than the run's checks.
        for _ in 0..run.checks.len() {
            match blocker.and_then(|b| by_name.get(b)) {
                Some(b) if b.status == Status::Skip => blocker = b.blocked_by.as_deref(),
                _ => break,
            }
        }
        if let Some(&at) = blocker.and_then(|b| of_check.get(b)) {
            blocks[at].not_judged.push(o);
        }
    }
    blocks
}

/// One problem block: the status and likely cause, the guide step, then each check with its
/// own evidence, then how many checks were not judged because of them.
pub(super) fn write_block(
    out: &mut impl Write,
    block: &Block,
    style: HumanStyle,
    layout: Layout,
    painter: &Painter,
) -> io::Result<()> {
    let label = painter.paint(
        &format!("{:<5}", block.status.label()),
        status_style(block.status),
    );
    let first = block.checks[0];
    let (cause, rows) = match &first.diagnosis {
        Some(d) => {
            let (label, step) = crate::report::step_row(d.guide_step);
            let headline = crate::report::cause_headline(
                block.checks.iter().filter_map(|o| o.diagnosis.as_ref()),
            );
            (
                clean(&headline),
                vec![(label, clean(&step)), ("cause id", d.cause.id().to_owned())],
            )
        }
        None => (clean(&first.reason), Vec::new()),
    };
    for (i, line) in layout.wrap(&cause, 7).iter().enumerate() {
        if i == 0 {
            writeln!(out, "{label}  {line}")?;
        } else {
            writeln!(out, "{:7}{line}", "")?;
        }
    }
    // Checks of one cause that say it of different things: each thing once, under the cause.
    let said = crate::report::sentences(block.checks.iter().filter_map(|o| o.diagnosis.as_ref()));
    if said.len() > 1 {
        for sentence in said {
            for (i, line) in layout.wrap(&clean(sentence), 9).iter().enumerate() {
                let bullet = if i == 0 { "- " } else { "  " };
                writeln!(out, "{:7}{bullet}{line}", "")?;
            }
        }
    }
    write_rows(out, 7, &rows, layout)?;
    let is_coverage = |o: &&&Outcome| {
        matches!(
            o.observation,
            Observation::NotRun(NotRun::Undecided { .. } | NotRun::NoObserver)
        )
    };
    // One cause's evidence reads the same from check to check: without -v the first few show
    // it, the rest are named on a line each.
    let mut shown = 0;
    let mut named_only = 0;
    for o in block
        .checks
        .iter()
        .filter(|o| style.verbose || !is_coverage(o))
    {
        if style.verbose || shown < BLOCK_EVIDENCE {
            write_entry(out, o, style, layout, painter, true)?;
            shown += 1;
        } else {
            write_entry(out, o, style, layout, painter, false)?;
            named_only += 1;
        }
    }
    if named_only > 0 {
        let text = format!(
            "the evidence of the last {}: -v, the JSON and the JUnit reports",
            count(named_only, "check")
        );
        for line in layout.wrap(&text, 8) {
            writeln!(out, "{:8}{line}", "")?;
        }
    }
    // Coverage rules left undecided by these checks: consequences, named on one line.
    let undecided: Vec<String> = block
        .checks
        .iter()
        .filter(|o| !style.verbose && is_coverage(o))
        .map(|o| clean(&o.target))
        .collect();
    if !undecided.is_empty() {
        let label = painter.paint(
            &format!("{:<5}", Status::Error.label()),
            status_style(Status::Error),
        );
        let text = format!("coverage undecided: {}", undecided.join(", "));
        for (i, line) in layout.wrap(&text, 8).iter().enumerate() {
            if i == 0 {
                writeln!(out, "  {label} {line}")?;
            } else {
                writeln!(out, "{:8}{line}", "")?;
            }
        }
    }
    if block.not_judged.is_empty() {
        return Ok(());
    }
    let n = block.not_judged.len();
    if style.verbose {
        writeln!(out, "  not judged because of these ({n}):")?;
        for o in &block.not_judged {
            let label = painter.paint(o.status.label(), status_style(o.status));
            for (i, line) in layout.wrap(&clean(&o.name), 8).iter().enumerate() {
                if i == 0 {
                    writeln!(out, "    {label}  {line}")?;
                } else {
                    writeln!(out, "{:10}{line}", "")?;
                }
            }
        }
    } else {
        let text = format!(
            "{} not judged because of these (-v, the JSON and the JUnit reports list them)",
            count(n, "more check")
        );
        for line in layout.wrap(&text, 2) {
            writeln!(out, "  {line}")?;
        }
    }
    // Their warnings are counted in the summary, so they are shown.
    for o in &block.not_judged {
        for w in &o.warnings {
            write_warning(out, 2, &format!("{}: {w}", o.name), layout, painter)?;
        }
    }
    Ok(())
}

/// One check in a problem block: its status, name and time, then its own evidence (what was
/// expected and observed; with -v everything).
pub(super) fn write_entry(
    out: &mut impl Write,
    o: &Outcome,
    style: HumanStyle,
    layout: Layout,
    painter: &Painter,
    with_evidence: bool,
) -> io::Result<()> {
    let label = painter.paint(&format!("{:<5}", o.status.label()), status_style(o.status));
    let name = clean(&o.name);
    let time = show_timing(o.elapsed, style.mask_timings);
    let used = 2 + 5 + 1 + width(&name);
    // The time sits at the right edge when it fits there, else it gets a row of its own.
    let time_fits = !style.verbose && used + TIME_SLOT <= layout.align;
    if time_fits {
        let pad = (layout.align - TIME_SLOT).saturating_sub(used);
        writeln!(out, "  {label} {name}{:pad$}  {time:>6}", "")?;
    } else {
        for (i, line) in layout.wrap(&name, 8).iter().enumerate() {
            if i == 0 {
                writeln!(out, "  {label} {line}")?;
            } else {
                writeln!(out, "{:8}{line}", "")?;
            }
        }
    }
    let mut rows: Vec<(&'static str, String)> = if !with_evidence {
        Vec::new()
    } else if style.verbose {
        evidence(o)
            .into_iter()
            .filter(|(k, _)| !matches!(*k, "diagnosis" | "guide step"))
            .collect()
    } else {
        evidence(o)
            .into_iter()
            .filter(|(k, _)| matches!(*k, "observer" | "expected" | "observed" | "warning"))
            .collect()
    };
    if !time_fits {
        rows.push(("time", time));
    }
    write_rows(out, 8, &rows, layout)
}
