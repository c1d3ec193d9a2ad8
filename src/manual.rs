//! The manual: one man page per command (sipa-check(1), sipa-check-run(1), ...), each with its
//! options and their values, its exit status and examples, and the shell completion scripts.
//! clap_mangen renders what the command line defines; the sections it cannot know (EXIT
//! STATUS, EXAMPLES, SEE ALSO) are written here.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::cli::Cli;

/// The command line as the manual documents it: every subcommand built with its display name
/// (`sipa-check-run`), and the fault names listed, which `--help` leaves to --list-faults.
pub fn command() -> clap::Command {
    let mut cmd = Cli::command()
        .disable_help_subcommand(true)
        .mut_subcommand("lab", |lab| {
            lab.mut_arg("faults", |a| a.hide_possible_values(false))
        });
    cmd.build();
    cmd
}

/// One man page: its name (`sipa-check-run`) and its roff text.
#[derive(Debug, Clone)]
pub struct Page {
    /// The page's name, as `man` takes it: `sipa-check`, `sipa-check-run`, `sipa-check-report-merge`.
    pub name: String,
    /// The page in roff.
    pub roff: Vec<u8>,
}

/// Every page: the top one first, then one per subcommand, depth first.
pub fn pages() -> Vec<Page> {
    let top = command();
    let mut names = Vec::new();
    collect_names(&top, &mut names);
    let mut pages = Vec::new();
    render_all(&top, &names, &mut pages);
    pages
}

/// Writes every page to `dir` as NAME.1, returning the paths written.
pub fn write_pages(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    pages()
        .into_iter()
        .map(|page| {
            let path = dir.join(format!("{}.1", page.name));
            std::fs::write(&path, &page.roff)?;
            Ok(path)
        })
        .collect()
}

/// The completion script for `shell`, offering fault names, families, `--require`, `--color`
/// and the other fixed values instead of file names.
pub fn completion(shell: clap_complete::Shell, out: &mut dyn Write) {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "sipa-check", &mut script);
    if shell == clap_complete::Shell::Bash {
        // clap_complete's bash script spells a hyphenated program's states two ways: the loop
        // over the words reaches `sipa__check__subcmd__run`, the case arms read
        // `sipa__subcmd__check__subcmd__run`, so nothing after a subcommand ever completed
        // (clap-rs/clap#6421, open). The arms are spelt as the loop spells them.
        let fixed = String::from_utf8_lossy(&script).replace("sipa__subcmd__check", "sipa__check");
        script = fixed.into_bytes();
    }
    let _ = out.write_all(&script);
}

fn page_name(cmd: &clap::Command) -> String {
    cmd.get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_owned()
}

fn collect_names(cmd: &clap::Command, names: &mut Vec<String>) {
    names.push(page_name(cmd));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect_names(sub, names);
    }
}

fn render_all(cmd: &clap::Command, all: &[String], pages: &mut Vec<Page>) {
    pages.push(Page {
        name: page_name(cmd),
        roff: render(cmd, all),
    });
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        render_all(sub, all, pages);
    }
}

fn render(cmd: &clap::Command, all: &[String]) -> Vec<u8> {
    let name = page_name(cmd);
    let man = clap_mangen::Man::new(cmd.clone()).date(crate::cli::RELEASE_DATE);
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = man.render_title(&mut out);
    let _ = man.render_name_section(&mut out);
    let _ = man.render_synopsis_section(&mut out);
    let _ = man.render_description_section(&mut out);
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        let _ = man.render_options_section(&mut out);
    }
    if cmd.has_subcommands() {
        let _ = man.render_subcommands_section(&mut out);
    }
    exit_status(&name, &mut out);
    examples(&name, &mut out);
    see_also(&name, all, &mut out);
    let _ = man.render_version_section(&mut out);
    out
}

/// Text for roff: backslashes and hyphens escaped, no line starting with a control character.
fn roff_text(s: &str) -> String {
    let escaped = s.replace('\\', "\\\\").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// What each exit code means for the command named `page`.
fn exit_codes(page: &str) -> &'static [(u8, &'static str)] {
    const VERDICT: &[(u8, &str)] = &[
        (0, "every check passed"),
        (
            1,
            "a check failed: the network answered and anchoring (or the path) is wrong",
        ),
        (2, "invalid command line or scenario: nothing was run"),
        (
            3,
            "no failure, but some checks were inconclusive (timeouts, missing observers, deadline, Ctrl-C or SIGTERM)",
        ),
    ];
    match page {
        "sipa-check-validate" => &[
            (0, "every scenario file is valid"),
            (
                2,
                "a file is invalid or unreadable; each error is printed as FILE:LINE:COL: message",
            ),
        ],
        "sipa-check-init" => &[
            (0, "the template was written"),
            (2, "the file exists (without --force) or cannot be written"),
        ],
        "sipa-check-serve" => &[
            (
                0,
                "stopped by Ctrl-C or SIGTERM, or with --check: the configuration is valid",
            ),
            (
                2,
                "invalid configuration or scenario, or the listen address cannot be bound",
            ),
        ],
        "sipa-check-completions" | "sipa-check-man" => &[
            (0, "written"),
            (2, "invalid command line, or the output cannot be written"),
        ],
        _ => VERDICT,
    }
}

fn exit_status(page: &str, out: &mut Vec<u8>) {
    let _ = writeln!(out, ".SH \"EXIT STATUS\"");
    for (code, meaning) in exit_codes(page) {
        let _ = writeln!(out, ".TP\n\\fB{code}\\fR\n{}", roff_text(meaning));
    }
}

/// Examples for the command named `page`: (what it does, the command).
fn example_list(page: &str) -> &'static [(&'static str, &'static str)] {
    match page {
        "sipa-check" => &[
            (
                "Try it on the embedded lab, no network needed:",
                "sipa-check lab",
            ),
            (
                "Write the Office 365 template, check it, run it:",
                "sipa-check init && sipa-check validate sipa-check.toml && sipa-check run sipa-check.toml",
            ),
        ],
        "sipa-check-run" => &[
            (
                "Run a scenario and keep the reports for CI:",
                "sipa-check run office365.toml --junit sipa-check.xml --json sipa-check.json",
            ),
            (
                "Expect one App Connector IP, IPv4 only, through an explicit proxy:",
                "sipa-check run office365.toml --expect-ip 203.0.113.7 -4 --proxy http://proxy.example:8080",
            ),
            (
                "Show the plan and touch no network:",
                "sipa-check run office365.toml --dry-run",
            ),
        ],
        "sipa-check-validate" => &[(
            "Check two scenario files:",
            "sipa-check validate a.toml b.toml",
        )],
        "sipa-check-lab" => &[
            ("Run the lab scenario (must pass):", "sipa-check lab"),
            (
                "Inject a fault and see the failure it causes:",
                "sipa-check lab --fault one-domain-unanchored",
            ),
            ("List the faults:", "sipa-check lab --list-faults"),
            (
                "Keep the lab up and print the flags that reach it:",
                "sipa-check lab --serve",
            ),
        ],
        "sipa-check-complete" => &[(
            "Finish a report whose Entra sign-ins were pending, waiting up to 20 minutes:",
            "sipa-check complete report.json --entra-wait 20m --json completed.json",
        )],
        "sipa-check-report" | "sipa-check-report-merge" => &[(
            "Merge the reports of a fleet into JSON, JUnit and HTML:",
            "sipa-check report merge site-*.json --json fleet.json --junit fleet.xml --html fleet.html",
        )],
        "sipa-check-report-show" => &[(
            "Print a saved report again:",
            "sipa-check report show report.json",
        )],
        "sipa-check-audit" => &[
            (
                "Audit the live configuration (credentials from the environment) and keep a snapshot:",
                "sipa-check audit office365.toml --snapshot audit-snapshot",
            ),
            (
                "Audit a snapshot with no network:",
                "sipa-check audit office365.toml --from-snapshot audit-snapshot",
            ),
        ],
        "sipa-check-init" => &[(
            "Write the template to a file of your choice:",
            "sipa-check init office365.toml",
        )],
        "sipa-check-serve" => &[
            (
                "Check a configuration, then serve it:",
                "sipa-check serve --check /etc/sipa-check/serve.toml",
            ),
            (
                "Serve on another address:",
                "sipa-check serve serve.toml --listen 127.0.0.1:9853",
            ),
        ],
        "sipa-check-completions" => &[(
            "Install the bash completion for your user:",
            "sipa-check completions bash > ~/.local/share/bash-completion/completions/sipa-check",
        )],
        "sipa-check-man" => &[(
            "Write every page to a directory:",
            "sipa-check man --dir man/",
        )],
        _ => &[],
    }
}

fn examples(page: &str, out: &mut Vec<u8>) {
    let list = example_list(page);
    if list.is_empty() {
        return;
    }
    let _ = writeln!(out, ".SH EXAMPLES");
    for (what, command) in list {
        let _ = writeln!(
            out,
            ".PP\n{}\n.PP\n.RS 4\n.nf\n{}\n.fi\n.RE",
            roff_text(what),
            roff_text(command)
        );
    }
}

/// The top page lists every other page; a subcommand's page the top one, its parent's and its
/// own subcommands'. Only pages that exist are named.
fn see_also(page: &str, all: &[String], out: &mut Vec<u8>) {
    let related: Vec<&String> = all
        .iter()
        .filter(|other| {
            *other != page
                && (page == "sipa-check"
                    || *other == "sipa-check"
                    || other.starts_with(&format!("{page}-"))
                    || page.starts_with(&format!("{other}-")))
        })
        .collect();
    let _ = writeln!(out, ".SH \"SEE ALSO\"");
    let refs: Vec<String> = related
        .iter()
        .map(|name| format!("\\fB{}\\fR(1)", roff_text(name)))
        .collect();
    let _ = writeln!(out, "{}", refs.join(",\n"));
}
