//! `sipa-check complete`: a saved JSON report's pending sign-ins looked up in Entra's log.

use std::io::{self, Write};

use super::{
    CommandResult, Env, Exit, Interrupt, ReportFiles, invalid, is_stdout, with_causes,
    write_reports,
};
use crate::cli::CompleteArgs;
use crate::runner::EntraAccess;

/// `sipa-check complete`: reads a JSON report back, looks its pending sign-ins up in Entra's
/// log (with the probe app from the environment, on the Graph the run used), and writes the
/// completed reports; exits as a run with that verdict would. A report with nothing pending is
/// written unchanged. A file that is not a report of this format is exit 2, as is a pending
/// report without the probe app's credentials.
pub async fn complete(
    args: &CompleteArgs,
    env: &Env,
    interrupt: Interrupt,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> CommandResult {
    let shown = args.report.display().to_string();
    let text = if is_stdout(&args.report) {
        let mut text = String::new();
        io::Read::read_to_string(&mut io::stdin(), &mut text).map(|_| text)
    } else {
        std::fs::read_to_string(&args.report)
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            return invalid(format!("cannot read {shown}: {e}"));
        }
    };
    let report = match crate::report::read::read_report(&text, &shown) {
        Ok(r) => r,
        Err(e) => {
            return invalid(with_causes(&e));
        }
    };
    let files = match ReportFiles::open(&args.reports) {
        Ok(f) => f,
        Err(e) => {
            return invalid(e);
        }
    };
    let pending = crate::complete::pending_count(&report);
    if pending == 0 {
        let _ = writeln!(
            err,
            "note: {shown}: no sign-in is pending: the report is complete as it is"
        );
        write_reports(&report, files, env, out, err, Some(&text));
        return Ok(Exit::of(report.overall));
    }
    let credentials = match &env.entra_credentials {
        Ok(c) => c.clone(),
        Err(e) => {
            return invalid(format!(
                "{shown}: {pending} sign-in(s) to look up need the probe app's credentials: {}",
                with_causes(&**e)
            ));
        }
    };
    let mut access = EntraAccess::new(credentials);
    for file in &args.ca_file {
        match std::fs::read_to_string(file) {
            Ok(pem) => access.graph_roots_pem.push(pem),
            Err(e) => {
                return invalid(format!("--ca-file {}: {e}", file.display()));
            }
        }
    }
    let wait = args.entra_wait.unwrap_or_default();
    let completing = crate::complete::complete(report.clone(), &access, wait);
    let (report, unchanged) = tokio::select! {
        done = completing => (done, None),
        by = interrupt => {
            let _ = writeln!(
                err,
                "{}: the report was not completed and is written as it was",
                crate::verdict::describe_cut(&by)
            );
            (report, Some(text.as_str()))
        }
    };
    write_reports(&report, files, env, out, err, unchanged);
    if unchanged.is_some() {
        return Ok(Exit::Inconclusive);
    }
    Ok(Exit::of(report.overall))
}
