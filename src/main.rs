//! The thin binary: parse the command line, read the environment, call the library, exit.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use futures::FutureExt;
use sipa_check::cli::{Cli, ColorChoice, Command};
use sipa_check::cmd::{self, ClosedPipeOk, Detail, Env, Exit};
use sipa_check::entra::EntraCredentials;
use sipa_check::observation::Cut;
use sipa_check::scenario::model::Secret;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A run keeps up to `concurrency` sockets open (512 by default); some systems start with a
    // soft limit as low as 256 descriptors. Raising the soft limit toward the hard one is
    // harmless; where it stays low, the run lowers its concurrency to fit.
    // Unix only: Windows has no descriptor rlimit for sockets (its C runtime's stdio limit is
    // another thing), so there the limit is unknown and the run keeps its concurrency.
    #[cfg(unix)]
    let open_files = rlimit::increase_nofile_limit(4096).ok();
    #[cfg(not(unix))]
    let open_files = None;
    let env = Env {
        color: match cli.output.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        },
        detail: if cli.output.quiet {
            Detail::Verdict
        } else if cli.output.verbose {
            Detail::Evidence
        } else {
            Detail::Report
        },
        progress: std::io::stderr().is_terminal(),
        proxy_password: std::env::var(sipa_check::scenario::PROXY_PASSWORD_ENV)
            .ok()
            .filter(|p| !p.is_empty())
            .map(Secret::new),
        open_files,
        // On a terminal, wrap to its width (COLUMNS when set, else the terminal's own size;
        // 100 when neither is known); piped output is never hard-wrapped.
        columns: std::io::stdout().is_terminal().then(|| {
            std::env::var("COLUMNS")
                .ok()
                .and_then(|c| c.trim().parse::<usize>().ok())
                .filter(|&c| c > 0)
                .or_else(|| {
                    terminal_size::terminal_size_of(std::io::stdout())
                        .map(|(terminal_size::Width(w), _)| usize::from(w))
                })
                .unwrap_or(100)
        }),
        entra_credentials: EntraCredentials::from_env(|k| std::env::var(k).ok())
            .map(Arc::new)
            .map_err(Arc::new),
        zpa_anchors: None,
        // As curl reads them: the upper-case name first, then the lower-case one.
        api_proxy: sipa_check::audit::client::ProxyEnv {
            https_proxy: ["HTTPS_PROXY", "https_proxy"]
                .iter()
                .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
                .map(Secret::new),
            no_proxy: ["NO_PROXY", "no_proxy"]
                .iter()
                .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty())),
        },
    };
    // A closed stdout (`| head -1`) only stops the writing: the run goes on and exits with its
    // verdict's code.
    let mut out = ClosedPipeOk::new(std::io::stdout().lock());
    let mut err = std::io::stderr();
    let synchronous = match &cli.command {
        Command::Validate(args) => Some(cmd::validate::validate(args, &mut out, &mut err)),
        Command::Init(args) => Some(cmd::init::init(args, &mut out)),
        Command::Completions(args) => Some(cmd::init::completions(args, &mut out)),
        Command::Man(args) => Some(cmd::init::man(args, &mut out)),
        Command::Report(args) => Some(cmd::report::report(args, &env, &mut out, &mut err)),
        Command::Run(_)
        | Command::Lab(_)
        | Command::Complete(_)
        | Command::Audit(_)
        | Command::Serve(_) => None,
    };
    if let Some(result) = synchronous {
        return cmd::finish(result, &mut err).into();
    }
    // `serve` runs its probes on one thread: they wait on the network nearly all the time, and
    // one thread spares the wake-ups between two (a tenth of the exporter's CPU). A scrape's
    // rendering goes beside it, on the blocking pool.
    let mut builder = match cli.command {
        Command::Serve(_) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let e = cmd::CommandError::Invalid(format!("cannot start the async runtime: {e}"));
            return cmd::finish(Err(e), &mut err).into();
        }
    };
    runtime.block_on(async {
        let interrupt = async {
            // SIGTERM is what CI cancellation and `timeout` send: it ends a run as Ctrl-C does,
            // with every report written.
            // Unix only: Windows has no SIGTERM; there a stop comes as Ctrl-C (or Ctrl-Break,
            // which tokio's ctrl_c does not see) and a killed process writes no reports.
            #[cfg(unix)]
            let terminated = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut term) => {
                        term.recv().await;
                    }
                    Err(_) => futures::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let terminated = futures::future::pending::<()>();
            let interrupted = async {
                if tokio::signal::ctrl_c().await.is_err() {
                    futures::future::pending::<()>().await;
                }
            };
            tokio::select! {
                () = interrupted => Cut::Interrupted,
                () = terminated => Cut::Terminated,
            }
        }
        .boxed()
        .shared();
        let result = match &cli.command {
            Command::Run(args) => match &args.anchors_from_zpa {
                None => cmd::run::run(args, &env, interrupt, &mut out, &mut err).await,
                Some(snapshot) => {
                    cmd::audit::run_with_zpa_anchors(
                        args,
                        snapshot.as_deref(),
                        |k| std::env::var(k).ok(),
                        &env,
                        interrupt,
                        &mut out,
                        &mut err,
                    )
                    .await
                }
            },
            Command::Lab(args) => cmd::lab::lab(args, &env, interrupt, &mut out, &mut err).await,
            Command::Complete(args) => {
                cmd::complete::complete(args, &env, interrupt, &mut out, &mut err).await
            }
            Command::Audit(args) => {
                cmd::audit::audit(args, &env, |k| std::env::var(k).ok(), &mut out, &mut err).await
            }
            Command::Serve(args) => {
                cmd::serve::serve_metrics(args, &env, interrupt, &mut out, &mut err).await
            }
            Command::Validate(_)
            | Command::Init(_)
            | Command::Completions(_)
            | Command::Man(_)
            | Command::Report(_) => Ok(Exit::Invalid),
        };
        cmd::finish(result, &mut err).into()
    })
}
