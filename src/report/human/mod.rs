//! The terminal report: per scenario run a header, the checks that passed grouped by host, a
//! "Problems" section with one block per likely cause (the cause and its guide step once, then
//! the checks it explains with their evidence, and how many checks it kept from being judged),
//! and a summary line whose counts match what is shown.

use std::collections::BTreeMap;
use std::io::{self, Write};

use anstyle::Style;

mod blocks;
mod layout;

use super::{clean, show_timing};
use blocks::{problem_blocks, write_block, write_causes_by_vantage, write_entry};
pub use layout::HumanStyle;
use layout::*;

use crate::outcome::{HostEvidence, Outcome, Proof, RunReport, ScenarioRun, Status, Tally};

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
        .chain(v.quic.as_deref().map(|q| format!("quic: {}", clean(q))))
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
