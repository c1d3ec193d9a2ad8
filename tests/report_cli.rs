//! The report flags and the terminal report through the real binary.

use std::process::{Command, Output, Stdio};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sipa-check"))
        .args(args)
        .env_remove("SIPA_CHECK_PROXY_PASSWORD")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

/// JUnit goes to a file: `-` would mix XML with the human report on stdout, so it is refused
/// before anything runs (exit 2), with a message saying what to give instead.
#[test]
fn junit_to_stdout_is_refused_with_exit_2() {
    for args in [
        &["lab", "--junit", "-"][..],
        &["run", "--dry-run", "--junit", "-"][..],
    ] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("JUnit XML is written to a file, not to standard output"),
            "{stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?} ran something");
    }
}

/// Piped, the report is not hard-wrapped: each check stays on one line.
#[test]
fn piped_output_is_not_wrapped() {
    let out = run(&["lab", "--fault", "tls-intercept"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let observed: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("observed "))
        .collect();
    assert!(!observed.is_empty(), "{stdout}");
    for line in observed {
        // The whole observation on one line, however long.
        assert!(line.contains("issued by"), "{line}");
        assert!(line.contains("O=sipa-check lab"), "{line}");
    }
    assert!(stdout.lines().count() < 60, "{stdout}");
}

/// On a terminal without COLUMNS in the environment (shells do not export it), the report wraps
/// to the terminal's own width. `script` (util-linux) gives the binary a terminal of 72 columns.
#[test]
fn on_a_terminal_the_report_wraps_to_its_width() {
    let binary = env!("CARGO_BIN_EXE_sipa-check");
    let out = Command::new("script")
        .args([
            "-qec",
            &format!(
                "stty rows 40 cols 72; {binary} lab --fault one-domain-unanchored 2>/dev/null"
            ),
            "/dev/null",
        ])
        .env_remove("COLUMNS")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    let widest = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(widest <= 72, "a line of {widest} columns:\n{text}");
    assert!(
        text.contains("the application segment probably lacks login.windows.net"),
        "{text}"
    );
}
