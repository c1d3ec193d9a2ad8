//! The command line's contract as pipelines and people lean on it (issue 9): exit codes that
//! keep their promise, reports written on SIGTERM, `init`, completions and the man page,
//! `--color`, `-q`/`-v`, curl's flag names, and a `--dry-run` that agrees with `run`.
//! Everything it reaches is on loopback: the embedded lab, or sockets the test binds itself.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cli::{Tripwire, run, sipa, text, xmllint};
use sipa_check::lab::Fault;

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("sipa-check-contract-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn signal(child: &Child, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

// ---- item 1: exit codes keep their promise ----

#[test]
fn a_bad_report_path_is_exit_2_before_any_probe() {
    for flag in ["--json", "--junit"] {
        let wire = Tripwire::new();
        let out = sipa()
            .args(["run", "scenarios/lab.toml"])
            .args(wire.flags())
            .args([flag, "/nonexistent-dir/report.out"])
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag}: {err}");
        assert!(
            err.contains("cannot write /nonexistent-dir/report.out"),
            "{flag}: {err}"
        );
        assert_eq!(text(&out.stdout), "", "{flag}: a report was printed");
        assert!(
            !wire.tripped(),
            "{flag}: a probe ran before the path was checked"
        );
    }
}

#[test]
fn a_directory_as_report_path_is_exit_2() {
    let dir = scratch("dir-report");
    let wire = Tripwire::new();
    let out = sipa()
        .args(["run", "scenarios/lab.toml"])
        .args(wire.flags())
        .arg("--junit")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("cannot write {}", dir.display())),
        "{}",
        text(&out.stderr)
    );
    assert!(!wire.tripped());
}

#[test]
fn the_lab_checks_report_paths_before_it_starts() {
    let out = run(&["lab", "--json", "/nonexistent-dir/r.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stdout),
        "",
        "the lab ran before the path was checked"
    );
}

#[test]
fn json_and_junit_may_not_share_a_file_or_stdout() {
    let dir = scratch("same-file");
    let path = dir.join("r.out");
    let out = sipa()
        .args(["run", "scenarios/lab.toml", "--dry-run", "--json"])
        .arg(&path)
        .arg("--junit")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--json and --junit both name"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&[
        "run",
        "scenarios/lab.toml",
        "--dry-run",
        "--json",
        "-",
        "--junit",
        "-",
    ]);
    // JUnit never goes to standard output: refused as the flag is read.
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("JUnit XML is written to a file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn dry_run_checks_report_paths_and_leaves_no_file_behind() {
    let out = run(&[
        "run",
        "scenarios/lab.toml",
        "--dry-run",
        "--junit",
        "/nonexistent-dir/r.xml",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("cannot write /nonexistent-dir/r.xml"));

    let dir = scratch("dry-run-paths");
    let (fresh, existing) = (dir.join("new.json"), dir.join("old.xml"));
    std::fs::write(&existing, "keep me").unwrap();
    let out = sipa()
        .args(["run", "scenarios/lab.toml", "--dry-run", "--json"])
        .arg(&fresh)
        .arg("--junit")
        .arg(&existing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!fresh.exists(), "a dry run left a report file behind");
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");
}

#[test]
fn a_closed_stdout_keeps_the_verdicts_code_and_the_report_files() {
    let dir = scratch("closed-stdout");
    let (json, junit) = (dir.join("r.json"), dir.join("r.xml"));
    let mut child = sipa()
        .args(["lab", "--fault", "one-domain-unanchored", "--json"])
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `| true`: the reader goes away before the first byte.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err, "", "a closed stdout is not an error");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(doc["overall"], "fail");
    xmllint(&junit);
}

#[test]
fn head_1_sees_the_first_line_and_the_run_keeps_its_code() {
    // `sipa-check lab | head -1`, through a real shell pipeline; PIPESTATUS gives our code.
    let bin = env!("CARGO_BIN_EXE_sipa-check");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{bin}' lab --fault over-anchored | head -1; echo \"exit=${{PIPESTATUS[0]}}\""
        ))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("sipa-check "), "{stdout}");
    assert!(stdout.ends_with("exit=1\n"), "{stdout}");
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn help_lists_the_exit_codes() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for line in [
        "Exit codes:",
        "  0  every check passed",
        "  1  a check failed",
        "  2  invalid command line or scenario: nothing was run",
        "  3  no failure, but some checks were inconclusive",
    ] {
        assert!(help.contains(line), "{line}\n{help}");
    }
}

#[test]
fn a_bad_second_scenario_is_refused_before_the_first_runs() {
    // The bundled Office 365 template has no anchors: `run` must refuse before any probe.
    let wire = Tripwire::new();
    let out = sipa()
        .args(["run", "scenarios/lab.toml", "scenarios/office365.toml"])
        .args(wire.flags())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("no expected App Connector IPs"));
    assert!(
        !wire.tripped(),
        "the first scenario ran before the second was refused"
    );
}

// ---- item 2: SIGTERM through `run`, and `lab --serve` ----

#[test]
fn sigterm_ends_a_run_against_the_lab_with_every_report() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let lab = runtime.block_on(async { common::start_lab(&[Fault::BlackholeTls], false).await.0 });
    let dir = scratch("sigterm");
    let (json, junit) = (dir.join("r.json"), dir.join("r.xml"));
    let child = sipa()
        .args(["run", "scenarios/lab.toml"])
        .args(lab.run_flags())
        .args(["--timeout", "30s", "--deadline", "60s", "--json"])
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    signal(&child, "TERM");
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?} after SIGTERM",
        started.elapsed()
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("run cut short: terminated (SIGTERM)"),
        "{stdout}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(doc["runs"][0]["cut_short"], "terminated (SIGTERM)");
    assert_eq!(doc["overall"], "error");
    xmllint(&junit);
    runtime.block_on(lab.shutdown());
}

/// Starts `lab --serve` and reads its banner up to the last line.
fn serve(args: &[&str]) -> (Child, Vec<String>) {
    let mut child = sipa()
        .args(["lab", "--serve"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!("lab --serve ended early: {lines:?} {err}");
        }
        let done = line.contains("stops the lab");
        lines.push(line.trim_end().to_string());
        if done {
            break;
        }
    }
    (child, lines)
}

#[test]
fn lab_serve_prints_absolute_paths_and_faults_and_cleans_up_on_sigterm() {
    let (child, lines) = serve(&["--fault", "port80-unanchored"]);
    let banner = lines.join("\n");
    assert!(lines[0].contains("(faults: port80-unanchored)"), "{banner}");
    let commands: Vec<&String> = lines
        .iter()
        .filter(|l| l.trim_start().starts_with("sipa-check run "))
        .collect();
    // Transparent, through the proxy, and from the lab's two places.
    assert_eq!(commands.len(), 3, "{banner}");
    let mut files = Vec::new();
    for c in &commands {
        let words: Vec<&str> = c.split_whitespace().collect();
        let scenario = Path::new(words[2]);
        assert!(scenario.is_absolute(), "{banner}");
        assert!(scenario.is_file(), "{banner}");
        let ca = words
            .iter()
            .position(|w| *w == "--ca-file")
            .map(|i| Path::new(words[i + 1]))
            .unwrap();
        assert!(ca.is_absolute() && ca.is_file(), "{banner}");
        files.push(scenario.to_path_buf());
        files.push(ca.to_path_buf());
    }
    // The printed command works from anywhere, as printed.
    let words: Vec<&str> = commands[0].split_whitespace().skip(1).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_sipa-check"))
        .args(&words)
        .current_dir(std::env::temp_dir())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains(":80 egress anchored"));
    // So does the places command: both vantages, each from its address (port 80 unanchored
    // fails the office, which expects anchoring; the guest expects none and passes).
    assert!(commands[2].contains("lab-places.toml"), "{banner}");
    let words: Vec<&str> = commands[2].split_whitespace().skip(1).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_sipa-check"))
        .args(&words)
        .args(["--json", "-"])
        .current_dir(std::env::temp_dir())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        runs[0]["vantage"]["local_addresses"],
        serde_json::json!(["127.0.0.10"])
    );
    assert_eq!(
        runs[0]["tally"]["failed"].as_u64().map(|n| n > 0),
        Some(true)
    );
    assert_eq!(
        runs[1]["vantage"]["local_addresses"],
        serde_json::json!(["127.0.0.20"])
    );
    assert_eq!(runs[1]["tally"]["failed"], 0);

    signal(&child, "TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for f in &files {
        assert!(!f.exists(), "{} is left behind", f.display());
        assert!(
            !f.parent().unwrap().exists(),
            "{} is left behind",
            f.display()
        );
    }
}

#[test]
fn lab_serve_refuses_the_flags_it_would_ignore() {
    for flag in [
        vec!["--junit", "r.xml"],
        vec!["--json", "-"],
        vec!["--timeout", "5s"],
        vec!["--deadline", "5s"],
        vec!["--via-proxy"],
    ] {
        let mut args = vec!["lab", "--serve"];
        args.extend(&flag);
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{flag:?}");
        assert!(
            text(&out.stderr).contains("cannot be used with"),
            "{flag:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), "", "{flag:?}: the lab started");
    }
}

#[test]
fn lab_applies_runs_rule_that_the_deadline_is_at_least_the_timeout() {
    for args in [
        vec!["lab", "--timeout", "5s", "--deadline", "1s"],
        vec!["lab", "--timeout", "30s"],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains("is shorter than the per-probe timeout"),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), "");
    }
}

// ---- item 9: init, completions, man, --color, -q, -v, curl's names ----

#[test]
fn init_writes_the_office365_template_and_never_overwrites_silently() {
    let dir = scratch("init");
    let bin = env!("CARGO_BIN_EXE_sipa-check");
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/office365.toml"
    ))
    .unwrap();
    let init = |args: &[&str]| {
        Command::new(bin)
            .arg("init")
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    let out = init(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let written = dir.join("sipa-check.toml");
    assert_eq!(std::fs::read_to_string(&written).unwrap(), template);
    assert!(text(&out.stdout).contains("sipa-check run sipa-check.toml"));
    // The template validates as written.
    let out = Command::new(bin)
        .args(["validate", "sipa-check.toml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    std::fs::write(&written, "mine").unwrap();
    let out = init(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("sipa-check.toml already exists: pass --force"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&written).unwrap(), "mine");
    let out = init(&["--force"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&written).unwrap(), template);

    let out = init(&["branch.toml"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(dir.join("branch.toml")).unwrap(),
        template
    );
    let out = init(&["-"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), template);
    let out = init(&["."]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("error: . is a directory: name a file"),
        "{}",
        text(&out.stderr)
    );
    let out = init(&["/nonexistent-dir/x.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot write /nonexistent-dir/x.toml"));
}

/// `init x.json` writes JSON, the template's values (JSON holds no comments), which `validate`
/// reads as the same scenario as the TOML; a name `run` could not read is refused with exit 2
/// and nothing written (it used to get TOML text whatever its name).
#[test]
fn init_writes_json_to_a_json_file_and_refuses_names_run_cannot_read() {
    let dir = scratch("init-formats");
    let bin = env!("CARGO_BIN_EXE_sipa-check");
    let sipa = |args: &[&str]| {
        Command::new(bin)
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    let out = sipa(&["init", "branch.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("sipa-check run branch.json"),
        "{}",
        text(&out.stdout)
    );
    let written = std::fs::read_to_string(dir.join("branch.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&written)
        .unwrap_or_else(|e| panic!("init wrote no JSON ({e}):\n{written}"));
    // The same values as the documented template, read here with the toml crate.
    let template: toml::Table = toml::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/office365.toml"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(json, serde_json::to_value(&template).unwrap());
    assert_eq!(json["login"]["hosts"][1], "login.windows.net");
    // `validate` reads it as the same scenario as the TOML template.
    sipa(&["init", "branch.toml"]);
    let json_says = sipa(&["validate", "branch.json"]);
    let toml_says = sipa(&["validate", "branch.toml"]);
    assert_eq!(
        json_says.status.code(),
        Some(0),
        "{}",
        text(&json_says.stderr)
    );
    assert_eq!(
        text(&json_says.stdout).replace("branch.json", "FILE"),
        text(&toml_says.stdout).replace("branch.toml", "FILE")
    );

    for refused in ["branch.yaml", "branch", "branch.toml.bak"] {
        let out = sipa(&["init", refused]);
        assert_eq!(out.status.code(), Some(2), "{refused}");
        assert!(
            text(&out.stderr).contains(&format!(
                "error: {refused}: a scenario file's name ends in .toml (the documented template) or .json"
            )),
            "{refused}: {}",
            text(&out.stderr)
        );
        assert!(!dir.join(refused).exists(), "{refused} was written");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn completions_and_man_page_are_generated() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = text(&out.stdout);
        assert!(script.contains("sipa-check"), "{shell}");
        assert!(script.contains("expect-ip"), "{shell}: {script}");
    }
    let out = run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));

    let out = run(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    let page = text(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH sipa-check"),
        "{page}"
    );
    // The exit codes are the page's EXIT STATUS section (they were an untitled EXTRA one).
    assert!(page.contains(".SH \"EXIT STATUS\""), "{page}");
    for meaning in [
        "every check passed",
        "a check failed",
        "invalid command line",
        "inconclusive",
    ] {
        assert!(page.contains(meaning), "{meaning}: {page}");
    }
    assert!(page.contains("completions"), "{page}");
}

#[test]
fn color_is_chosen_by_the_flag_and_no_color_holds_for_auto() {
    let ansi = |args: &[&str], no_color: bool| {
        let mut c = sipa();
        if !no_color {
            c.env_remove("NO_COLOR");
        }
        let out = c.args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        text(&out.stdout).contains('\x1b')
    };
    assert!(ansi(&["lab", "--color", "always"], true));
    assert!(ansi(&["--color=always", "lab"], false));
    assert!(!ansi(&["lab", "--color", "never"], false));
    // auto into a pipe: none, NO_COLOR or not.
    assert!(!ansi(&["lab", "--color", "auto"], false));
    assert!(!ansi(&["lab"], true));
    let bad = run(&["lab", "--color", "sometimes"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn quiet_prints_only_the_verdict_line() {
    let dir = scratch("quiet");
    let json = dir.join("r.json");
    let out = sipa()
        .args(["lab", "-q", "--fault", "one-domain-unanchored", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("FAIL: "), "{stdout}");
    // The report files stay whole.
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(doc["runs"][0]["checks"].as_array().unwrap().len(), 36);

    let out = run(&["lab", "-q", "-v"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn verbose_shows_every_checks_evidence_passes_included() {
    let plain = run(&["lab"]);
    let out = run(&["lab", "-v"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with(&text(&plain.stdout)[..40]));
    assert!(stdout.contains("\nEvidence (lab)\n"), "{stdout}");
    assert!(
        stdout.contains("PASS  login.windows.net:443 tls (ipv4)\n        reason"),
        "{stdout}"
    );
    let blocks = stdout.matches("\n        observed ").count();
    assert!(blocks >= 30, "{blocks} evidence blocks:\n{stdout}");
    assert!(!text(&plain.stdout).contains("Evidence"));
}

#[test]
fn curls_flag_names_are_accepted() {
    let plan = |args: &[&str]| {
        let mut all = vec!["run", "scenarios/lab.toml", "--dry-run"];
        all.extend(args);
        run(&all)
    };
    let out = plan(&["-6"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("resolve (ipv6)") && !stdout.contains("(ipv4)"),
        "{stdout}"
    );
    let out = plan(&["-4"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("resolve (ipv4)") && !stdout.contains("(ipv6)"),
        "{stdout}"
    );
    for clash in [vec!["-4", "-6"], vec!["-4", "--family", "both"]] {
        let out = plan(&clash);
        assert_eq!(out.status.code(), Some(2), "{clash:?}");
    }
    // --cacert is --ca-file: the dry run reads it as the run would.
    let out = plan(&["--cacert", "/nonexistent-dir/zscaler-root.pem"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("/nonexistent-dir/zscaler-root.pem"),
        "{}",
        text(&out.stderr)
    );
}

// ---- item 10: --dry-run agrees with run ----

#[test]
fn dry_run_refuses_what_run_refuses_with_the_same_code() {
    for args in [
        vec!["run"],
        vec![
            "run",
            "scenarios/lab.toml",
            "--ca-file",
            "/nonexistent-dir/ca.pem",
        ],
        vec!["run", "scenarios/lab.toml", "scenarios/office365.toml"],
    ] {
        let wire = Tripwire::new();
        let real = sipa().args(&args).args(wire.flags()).output().unwrap();
        let mut dry_args = args.clone();
        dry_args.push("--dry-run");
        let dry = run(&dry_args);
        assert_eq!(real.status.code(), Some(2), "{args:?}");
        assert_eq!(dry.status.code(), real.status.code(), "{args:?}");
        assert_eq!(text(&dry.stderr), text(&real.stderr), "{args:?}");
        assert_eq!(text(&dry.stdout), "", "{args:?}");
        assert!(!wire.tripped());
    }
}

#[test]
fn dry_run_shows_observers_resolvers_proxy_evidence_and_coverage() {
    let out = run(&[
        "run",
        "--dry-run",
        "--expect-ip",
        "127.0.0.2",
        "--dns",
        "127.0.0.1:5353",
        "--proxy",
        "http://127.0.0.1:3128",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for needle in [
        "  resolvers 127.0.0.1:5353\n",
        "  proxy http://127.0.0.1:3128/\n",
        "    login.windows.net (proxy)          80 path only · 443 path only\n",
        "  observers: none\n",
        "  coverage checks the verdict adds:\n",
        "    port 443 egress anchored (coverage): INCONCLUSIVE at best: no anchored observer on port 443\n",
        "    non-login egress not anchored (coverage): INCONCLUSIVE at best: no control observer\n",
    ] {
        assert!(stdout.contains(needle), "{needle}\n{stdout}");
    }

    let out = run(&["run", "scenarios/lab.toml", "--dry-run", "--samples", "2"]);
    let stdout = text(&out.stdout);
    for needle in [
        "  resolvers system\n",
        "  proxy none\n",
        "    control.sipa-lab.test-443 (control) https://control.sipa-lab.test/echo/ip port 443, 2 samples\n",
        "    login.windows.net (ipv4)          80 echo · 443 echo\n",
        "    port 80 egress anchored (coverage): needs one of 4 egress checks decided\n",
        "    non-login egress not anchored (coverage): needs one of 2 egress checks decided\n",
    ] {
        assert!(stdout.contains(needle), "{needle}\n{stdout}");
    }

    // A scenario that can only be inconclusive says so before anything runs.
    let out = run(&[
        "run",
        "scenarios/examples/outside-trusted-location.toml",
        "--dry-run",
    ]);
    let stdout = text(&out.stdout);
    let has_port80 = stdout.contains("port 80 egress anchored (coverage): needs");
    let has_control = stdout.contains("non-login egress not anchored (coverage): needs");
    assert!(
        (has_port80
            || stdout.contains(
                "port 80 egress anchored (coverage): INCONCLUSIVE at best: no anchored observer on port 80"
            ))
            && (has_control
                || stdout.contains(
                    "non-login egress not anchored (coverage): INCONCLUSIVE at best: no control observer"
                )),
        "{stdout}"
    );
}

// ---- item 11: --dns ambiguity, a proxy user without a password ----

#[test]
fn an_ambiguous_ipv6_dns_server_is_refused() {
    let out = run(&["run", "scenarios/lab.toml", "--dry-run", "--dns", "::1:53"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`::1:53` is ambiguous: write `[::1]:53`"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&[
        "run",
        "scenarios/lab.toml",
        "--dry-run",
        "--dns",
        "[::1]:53",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("  resolvers [::1]:53\n"));
}

#[test]
fn a_proxy_user_without_a_password_is_warned_about() {
    let args = [
        "run",
        "scenarios/lab.toml",
        "--dry-run",
        "--proxy",
        "http://jdoe@127.0.0.1:3128",
    ];
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "warning: scenarios/lab.toml: the proxy user `jdoe` has no password: set SIPA_CHECK_PROXY_PASSWORD"
        ),
        "{err}"
    );
    let out = sipa()
        .args(args)
        .env("SIPA_CHECK_PROXY_PASSWORD", "hunter2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stderr), "");
    assert!(!text(&out.stdout).contains("hunter2"));
}

/// Reads `reader` up to and including the first line that contains `mark`.
fn read_until(reader: &mut impl BufRead, mark: &str) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("ended before {mark:?}: {lines:?}");
        }
        let done = line.contains(mark);
        lines.push(line.trim_end().to_string());
        if done {
            return lines;
        }
    }
}

#[test]
fn lab_serve_switches_faults_typed_on_its_input_and_writes_a_serve_config_that_checks() {
    use std::io::Write as _;
    let mut child = sipa()
        .args(["lab", "--serve"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let lines = read_until(&mut reader, "stops the lab");
    let banner = lines.join("\n");
    let serve_config = lines
        .iter()
        .find_map(|l| l.trim_start().strip_prefix("sipa-check serve "))
        .unwrap_or_else(|| panic!("no serve command: {banner}"))
        .to_string();
    let check = run(&["serve", "--check", &serve_config]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    let config = std::fs::read_to_string(&serve_config).unwrap();
    assert!(config.contains("name = \"lab-places\""), "{config}");
    let command: Vec<String> = lines
        .iter()
        .find(|l| l.trim_start().starts_with("sipa-check run "))
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(str::to_string)
        .collect();
    let run_lab = || {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        run(&args)
    };
    assert_eq!(run_lab().status.code(), Some(0), "the clean lab must pass");

    writeln!(input, "one-domain-unanchored").unwrap();
    read_until(&mut reader, "lab: faults now one-domain-unanchored");
    let broken = run_lab();
    assert_eq!(broken.status.code(), Some(1), "{}", text(&broken.stdout));
    assert!(
        text(&broken.stdout).contains("the application segment probably lacks login.windows.net"),
        "{}",
        text(&broken.stdout)
    );

    // A fault the running lab cannot switch is refused, and changes nothing.
    writeln!(input, "dns-nxdomain").unwrap();
    writeln!(input, "heal").unwrap();
    read_until(&mut reader, "lab: healed");
    assert_eq!(run_lab().status.code(), Some(0), "the healed lab must pass");

    signal(&child, "TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains("the fault dns-nxdomain cannot be switched on a running lab"),
        "{err}"
    );
}
