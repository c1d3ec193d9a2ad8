//! The docs a newcomer navigates: a README under 250 lines that starts with the two commands
//! (the lab, the tests); every relative link of the README and docs/ leading to a file that
//! exists and, where it names one, a heading that exists; every command they show taken by the
//! command line as written, and every lab command among them run, ending as its comment says.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim_start_matches('#')
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == ' ' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn pages() -> Vec<PathBuf> {
    let mut pages = vec![Path::new(ROOT).join("README.md")];
    for entry in std::fs::read_dir(Path::new(ROOT).join("docs")).expect("docs/") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    pages
}

#[test]
fn the_readme_is_short_and_starts_with_the_two_commands() {
    let readme = read(&Path::new(ROOT).join("README.md"));
    let lines = readme.lines().count();
    assert!(lines < 250, "README.md has {lines} lines");
    let head: String = readme.lines().take(15).collect::<Vec<_>>().join("\n");
    assert!(head.contains("cargo run --release -- lab"), "{head}");
    assert!(head.contains("cargo test --locked"), "{head}");
}

#[test]
fn every_link_of_the_readme_and_docs_leads_somewhere() {
    let pages = pages();
    let mut broken = Vec::new();
    for page in &pages {
        let text = read(page);
        let mut rest = text.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let Some(end) = rest.find(')') else { break };
            let link = &rest[..end];
            rest = &rest[end..];
            if link.starts_with("http") || link.starts_with("mailto:") || link.contains(' ') {
                continue;
            }
            let (file, fragment) = link.split_once('#').unwrap_or((link, ""));
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            if !target.exists() {
                broken.push(format!("{}: {link} (no such file)", page.display()));
                continue;
            }
            if !fragment.is_empty() && target.extension().is_some_and(|e| e == "md") {
                let headings: BTreeSet<String> = read(&target)
                    .lines()
                    .filter(|l| l.starts_with('#'))
                    .map(anchor)
                    .collect();
                if !headings.contains(fragment) {
                    broken.push(format!("{}: {link} (no such heading)", page.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// A command line shown in a shell block of the README or docs/, with the exit code its
/// comment promises (`# … exit 1 …`), if any.
struct Shown {
    page: String,
    line: String,
    args: Vec<String>,
    exit: Option<i32>,
}

/// Every `sipa-check …` (or `cargo run --release -- …`) command in the shell blocks: lines
/// joined at a trailing backslash, split at `&&` and `;`, without comments or redirections;
/// synopses (`[…]`, `…`, `|`) are not commands.
fn shown_commands() -> Vec<Shown> {
    let mut found = Vec::new();
    for page in pages() {
        let text = read(&page);
        let mut in_shell = false;
        let mut pending = String::new();
        for raw in text.lines() {
            if raw.starts_with("```") {
                in_shell = !in_shell && matches!(raw.trim(), "```sh" | "```bash" | "```console");
                continue;
            }
            if !in_shell {
                continue;
            }
            if let Some(head) = raw.trim_end().strip_suffix('\\') {
                pending.push_str(head);
                pending.push(' ');
                continue;
            }
            let whole = format!("{pending}{raw}");
            pending.clear();
            let (command, comment) = match whole.find(" #") {
                Some(at) => (&whole[..at], &whole[at..]),
                None => (whole.as_str(), ""),
            };
            let exit = comment
                .split("exit ")
                .nth(1)
                .and_then(|rest| rest.chars().next())
                .and_then(|c| c.to_digit(10))
                .map(|d| d as i32);
            for part in command.split("&&").flat_map(|p| p.split(';')) {
                let part = part.split('>').next().unwrap_or_default().trim();
                let rest = part
                    .strip_prefix("sipa-check ")
                    .or_else(|| part.strip_prefix("cargo run --release -- "));
                let Some(rest) = rest else { continue };
                if rest.contains('[') || rest.contains("...") || rest.contains('|') {
                    continue;
                }
                let mut args = vec!["sipa-check".to_owned()];
                args.extend(
                    rest.split_whitespace()
                        .map(|w| w.trim_matches('"').to_owned()),
                );
                found.push(Shown {
                    page: page.display().to_string(),
                    line: part.to_owned(),
                    args,
                    exit,
                });
            }
        }
    }
    found
}

/// Every command the docs show is one the command line takes: each flag, value and
/// subcommand exists, as written.
#[test]
fn every_command_shown_in_the_docs_parses() {
    use clap::Parser;
    let shown = shown_commands();
    assert!(shown.len() > 30, "found only {} commands", shown.len());
    let refused: Vec<String> = shown
        .iter()
        .filter_map(|s| {
            sipa_check::cli::Cli::try_parse_from(&s.args)
                .err()
                .map(|e| format!("{}: `{}`: {}", s.page, s.line, e.kind()))
        })
        .collect();
    assert!(refused.is_empty(), "{}", refused.join("\n"));
}

/// The lab commands the docs show run here as shown (on loopback), and end with the exit
/// code their comment promises.
#[test]
fn every_lab_command_shown_in_the_docs_runs_as_promised() {
    let dir = std::env::temp_dir().join(format!("sipa-check-docs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut wrong = Vec::new();
    let mut ran = 0;
    for s in shown_commands() {
        let lab = s.args.get(1).is_some_and(|a| a == "lab");
        if !lab || s.args.iter().any(|a| a == "--serve") {
            continue;
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sipa-check"))
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .args(&s.args[1..])
            .output()
            .expect("sipa-check runs");
        ran += 1;
        let code = out.status.code();
        let expected = s.exit.unwrap_or(0);
        if code != Some(expected) {
            wrong.push(format!(
                "{}: `{}` exited {code:?}, the docs say {expected}\n{}",
                s.page,
                s.line,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ran >= 5, "ran only {ran} lab commands");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
