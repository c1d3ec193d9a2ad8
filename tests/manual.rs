//! The manual as a user meets it: one man page per command with its options, EXIT STATUS and
//! examples, SEE ALSO naming only pages that exist, and completions that offer the fixed
//! values (fault names, families, --require, --color) instead of file names.

use std::path::Path;
use std::process::Command;

mod common;
use common::cli::{run, sipa, text};

/// Every page `man --dir` writes, by name, with its text.
fn written_pages(dir: &Path) -> Vec<(String, String)> {
    let out = sipa().arg("man").arg("--dir").arg(dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut pages: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    pages.sort();
    pages
}

#[test]
fn each_command_has_a_man_page_with_its_options_exit_status_and_examples() {
    let dir = tempfile::tempdir().unwrap();
    let pages = written_pages(dir.path());
    let cmd = sipa_check::manual::command();
    let mut commands = vec![(String::from("sipa-check"), cmd.clone())];
    for sub in cmd.get_subcommands() {
        commands.push((format!("sipa-check-{}", sub.get_name()), sub.clone()));
        for subsub in sub.get_subcommands() {
            commands.push((
                format!("sipa-check-{}-{}", sub.get_name(), subsub.get_name()),
                subsub.clone(),
            ));
        }
    }
    assert!(commands.len() >= 13, "{commands:?}");
    for (name, command) in &commands {
        let file = format!("{name}.1");
        let (_, page) = pages
            .iter()
            .find(|(n, _)| *n == file)
            .unwrap_or_else(|| panic!("no page {file} among {pages:?}"));
        assert!(
            page.contains(".SH \"EXIT STATUS\""),
            "{file}: no EXIT STATUS"
        );
        assert!(page.contains(".SH EXAMPLES"), "{file}: no EXAMPLES");
        assert!(page.contains(".SH \"SEE ALSO\""), "{file}: no SEE ALSO");
        for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(long) = arg.get_long() {
                let shown = format!("\\-\\-{}", long.replace('-', "\\-"));
                assert!(page.contains(&shown), "{file} lacks --{long}");
            }
        }
    }
    // Exit codes as the verdict gives them, on a verdict command's page.
    let run_page = &pages
        .iter()
        .find(|(n, _)| n == "sipa-check-run.1")
        .unwrap()
        .1;
    for code in ["\\fB0\\fR", "\\fB1\\fR", "\\fB2\\fR", "\\fB3\\fR"] {
        assert!(
            run_page.contains(code),
            "sipa-check-run.1 lacks exit code {code}"
        );
    }
    // The values of an option are listed: the lab's page names its faults.
    let lab_page = &pages
        .iter()
        .find(|(n, _)| n == "sipa-check-lab.1")
        .unwrap()
        .1;
    assert!(lab_page.contains("one\\-domain\\-unanchored"));
    assert!(lab_page.contains("audit\\-anchor\\-off"));
}

#[test]
fn see_also_names_only_pages_that_exist() {
    let dir = tempfile::tempdir().unwrap();
    let pages = written_pages(dir.path());
    let names: Vec<&str> = pages
        .iter()
        .map(|(n, _)| n.trim_end_matches(".1"))
        .collect();
    let reference = regex::Regex::new(r"\\fB([a-z\\-]+)\\fR\(1\)").unwrap();
    for (file, page) in &pages {
        let see_also = &page[page.find(".SH \"SEE ALSO\"").unwrap()..];
        let see_also = &see_also[..see_also[1..]
            .find("\n.SH")
            .map_or(see_also.len(), |i| i + 1)];
        let named: Vec<String> = reference
            .captures_iter(see_also)
            .map(|c| c[1].replace("\\-", "-"))
            .collect();
        assert!(!named.is_empty(), "{file}: SEE ALSO names nothing");
        for name in named {
            assert!(
                names.contains(&name.as_str()),
                "{file} refers to {name}(1), which is not written"
            );
        }
    }
    // The top page refers to every other page, and it is what `man` alone prints.
    let top = &pages.iter().find(|(n, _)| n == "sipa-check.1").unwrap().1;
    for name in names.iter().filter(|n| **n != "sipa-check") {
        assert!(
            top.contains(&format!("\\fB{}\\fR(1)", name.replace('-', "\\-"))),
            "sipa-check.1 does not refer to {name}(1)"
        );
    }
    assert_eq!(text(&run(&["man"]).stdout), *top);
}

/// What bash completes after `words` (the last one being completed), called as bash calls a
/// completion function (command, current word, previous word), in a directory holding one
/// file, so a completion that offers files shows it.
fn bash_completes(words: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("sipa-check.bash");
    std::fs::write(&script, run(&["completions", "bash"]).stdout).unwrap();
    std::fs::write(dir.path().join("a-file-in-the-directory"), "").unwrap();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source ./sipa-check.bash; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; f=$(complete -p sipa-check | sed -E 's/.*-F ([^ ]+).*/\\1/'); \"$f\" sipa-check \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        quoted.join(" "),
        words.len() - 1
    );
    let out = Command::new("bash")
        .args(["-c", &program])
        .current_dir(dir.path())
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn bash_completes_fault_names_not_files() {
    let offered = bash_completes(&["sipa-check", "lab", "--fault", ""]);
    assert!(
        offered.iter().any(|w| w == "one-domain-unanchored"),
        "{offered:?}"
    );
    assert!(
        offered.iter().any(|w| w == "audit-anchor-off"),
        "{offered:?}"
    );
    assert!(!offered.iter().any(|w| w.contains("a-file")), "{offered:?}");
    let offered = bash_completes(&["sipa-check", "lab", "--fault", "one-"]);
    assert_eq!(offered, ["one-domain-unanchored"]);
}

#[test]
fn bash_completes_families_require_and_color_values() {
    for (words, expected) in [
        (
            &["sipa-check", "run", "--family", ""][..],
            &["4", "6", "both"][..],
        ),
        (
            &["sipa-check", "run", "--require", ""],
            &["path", "per-host"],
        ),
        (
            &["sipa-check", "run", "--color", ""],
            &["auto", "always", "never"],
        ),
        (
            &["sipa-check", "lab", "--entra-mode", ""],
            &["log", "ca", "both"],
        ),
    ] {
        let mut offered = bash_completes(words);
        offered.sort();
        let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(offered, expected, "{words:?}");
    }
}

#[test]
fn values_keep_their_precise_errors() {
    let out = run(&["run", "--family", "7"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is not an IP family"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["lab", "--fault", "no-such-fault"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown fault"),
        "{}",
        text(&out.stderr)
    );
}
