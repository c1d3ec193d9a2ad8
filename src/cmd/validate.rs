//! `sipa-check validate`: each scenario checked and summed up, without touching the network.

use std::io::Write;
use std::path::Path;

use super::{CommandError, CommandResult, Exit};
use crate::cli::ValidateArgs;
use crate::plan::Plan;
use crate::report;
use crate::scenario::{self, model::Scenario};

/// `sipa-check validate`: checks each scenario (`-` is standard input) and prints its errors,
/// or `ok` with its counts when a run of it can pass. A valid scenario that can only be
/// inconclusive (no anchors, a login port without an anchored observer, no control) prints
/// `valid, but cannot pass as written` and a warning per shortfall on `err`; it still exits 0, as it is valid.
pub fn validate(args: &ValidateArgs, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
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
    // Each scenario's errors were written with their positions as they were found.
    if ok {
        Ok(Exit::Passed)
    } else {
        Err(CommandError::Shown)
    }
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
pub(super) fn write_what_if_line(s: &Scenario, indent: &str, out: &mut dyn Write) {
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
pub(super) fn write_evidence_rows(
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
