//! `sipa-check serve`: the Prometheus exporter, its configuration checked before it listens.

use std::io::Write;

use super::{CommandError, CommandResult, Env, Exit, Interrupt, invalid, with_causes};
use crate::cli::ServeArgs;
use crate::runner::EntraAccess;

/// `sipa-check serve CONFIG`: checks the configuration and every scenario in it (exit 2 with
/// each problem, before anything listens), then serves the exporter until Ctrl-C or SIGTERM,
/// and exits 0.
pub async fn serve_metrics(
    args: &ServeArgs,
    env: &Env,
    interrupt: Interrupt,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> CommandResult {
    let mut config = match crate::serve::config::load(&args.config) {
        Ok(c) => c,
        Err(errors) => {
            let _ = writeln!(err, "{errors}");
            return Err(CommandError::Shown);
        }
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let serve_env = crate::serve::ServeEnv {
        proxy_password: env.proxy_password.clone(),
        entra: env
            .entra_credentials
            .as_ref()
            .ok()
            .map(|c| EntraAccess::new(c.clone())),
    };
    let prepared = match crate::serve::prepare(&config, &serve_env) {
        Ok(p) => p,
        Err(problems) => {
            for p in problems {
                let _ = writeln!(err, "error: {}: {p}", args.config.display());
            }
            return Err(CommandError::Shown);
        }
    };
    for p in &prepared {
        if p.scenario.limits.deadline >= p.config.interval {
            let _ = writeln!(
                err,
                "note: scenario `{}`: its deadline {} is not shorter than its interval {}: a run still going when the next is due makes that one skipped (sipa_check_runs_skipped_total)",
                p.config.name,
                crate::report::show_duration(p.scenario.limits.deadline),
                crate::report::show_duration(p.config.interval)
            );
        }
    }
    if args.check {
        for p in &prepared {
            let _ = writeln!(
                out,
                "{}: every {} (jitter {}), {} ({}), vantage {}",
                p.config.name,
                crate::report::show_duration(p.config.interval),
                crate::report::show_duration(p.config.jitter),
                p.scenario.name,
                p.config.file.display(),
                p.scenario.vantage.name
            );
        }
        return Ok(Exit::Passed);
    }
    let listener = match crate::serve::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => {
            return invalid(with_causes(&e));
        }
    };
    let shown = listener.local_addr().unwrap_or(config.listen);
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let names: Vec<String> = prepared.iter().map(|p| p.config.name.clone()).collect();
    let exporter = crate::serve::Exporter::new(prepared, interrupt, events_tx);
    let _ = writeln!(
        err,
        "sipa-check serve: listening on http://{shown}/metrics ({} scenario(s): {}); Ctrl-C or SIGTERM stops it",
        names.len(),
        names.join(", ")
    );
    if !shown.ip().is_loopback() {
        let _ = writeln!(
            err,
            "note: {shown} is reachable from other machines: the metrics show your anchoring set-up"
        );
    }
    let serving = crate::serve::serve(exporter, listener);
    tokio::pin!(serving);
    loop {
        tokio::select! {
            () = &mut serving => break,
            Some(line) = events.recv() => {
                let _ = writeln!(err, "{line}");
            }
        }
    }
    while let Ok(line) = events.try_recv() {
        let _ = writeln!(err, "{line}");
    }
    let _ = writeln!(err, "sipa-check serve: stopped");
    Ok(Exit::Passed)
}
