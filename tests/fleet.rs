//! `sipa-check report merge` and `report show` from the command line, on real reports of the
//! embedded lab: the merged JSON, JUnit (validated by xmllint) and HTML; the exit codes; bad
//! inputs named, with nothing written; a hostile report that cannot inject into the page.

mod fleet_support;

use std::path::Path;
use std::process::Command;

use fleet_support::{bin, fleet, lab_report, report, text};
use serde_json::Value;

fn json_of(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn merge_makes_one_report_of_every_run_with_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fleet(d);
    let out = report(
        d,
        &[
            "merge",
            "hq.json",
            "guest.json",
            "branch.json",
            "--json",
            "fleet.json",
            "--junit",
            "fleet.xml",
            "--html",
            "fleet.html",
        ],
    );
    // guest fails, so the fleet fails.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let merged = json_of(&d.join("fleet.json"));
    assert_eq!(merged["format_version"], 1);
    assert_eq!(merged["tool"], "sipa-check");
    assert_eq!(merged["overall"], "fail");
    let runs = merged["runs"].as_array().unwrap();
    let vantages: Vec<&str> = runs
        .iter()
        .map(|r| r["vantage"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(vantages, ["hq", "guest", "branch"]);
    let from: Vec<&str> = runs
        .iter()
        .map(|r| r["merged_from"].as_str().unwrap())
        .collect();
    assert_eq!(from, ["hq.json", "guest.json", "branch.json"]);
    // The fleet's tally is the sum of its runs', counted again from the checks.
    let sum = |key: &str| -> u64 { runs.iter().map(|r| r["tally"][key].as_u64().unwrap()).sum() };
    for key in ["total", "passed", "failed", "errors", "skipped", "warnings"] {
        assert_eq!(merged["tally"][key].as_u64().unwrap(), sum(key), "{key}");
    }
    assert!(merged["tally"]["failed"].as_u64().unwrap() >= 2);
    assert!(merged["tally"]["errors"].as_u64().unwrap() >= 1);

    // The terminal summary: a line per run with its verdict, the causes, the fleet's line.
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("Fleet: 3 runs from 3 files at 3 vantages\n"),
        "{stdout}"
    );
    assert!(stdout.contains("  PASS         hq "), "{stdout}");
    assert!(stdout.contains("  FAIL         guest "), "{stdout}");
    assert!(stdout.contains("  INCONCLUSIVE branch "), "{stdout}");
    assert!(
        stdout.contains("FAIL the application segment probably lacks login.windows.net"),
        "{stdout}"
    );
    assert!(stdout.contains("1 run (2 checks): guest"), "{stdout}");
    assert!(stdout.contains("\nFAIL (fleet of 3 runs): "), "{stdout}");

    // JUnit: one suite per (scenario, vantage), valid against the schema.
    let xml = std::fs::read_to_string(d.join("fleet.xml")).unwrap();
    assert_eq!(xml.matches("<testsuite ").count(), 3);
    for v in ["lab @ hq", "lab @ guest", "lab @ branch"] {
        assert!(xml.contains(&format!("name=\"{v}\"")), "{v}");
    }
    assert_valid_junit(&d.join("fleet.xml"));

    // HTML: the matrix has a row per run, the causes name the vantage they hit.
    let html = std::fs::read_to_string(d.join("fleet.html")).unwrap();
    assert_eq!(
        html.matches("<tr data-run=\"guest\" data-s=\"fail\">")
            .count(),
        2
    );
    assert_eq!(
        html.matches("<tr data-run=\"hq\" data-s=\"pass\">").count(),
        2
    );
    assert_eq!(
        html.matches("<tr data-run=\"branch\" data-s=\"error\">")
            .count(),
        2
    );
    assert!(html.contains("the application segment probably lacks login.windows.net"));
    assert!(html.contains("Hit 1 of 3 runs: guest"));
    // Two failed egress checks at guest, as the matrix shows them.
    assert!(html.matches("<td class=\"c s-fail\"").count() >= 2);
    assert!(html.contains("<td class=\"e p-echo\">✓ echo</td>"));
    assert!(html.contains("class=\"ph-egress bad\""));
    // No temporary file is left beside the reports.
    assert!(
        listing(d).iter().all(|n| !n.ends_with(".tmp")),
        "{:?}",
        listing(d)
    );
}

fn assert_valid_junit(path: &Path) {
    let output = Command::new("xmllint")
        .args([
            "--noout",
            "--schema",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/junit-10.xsd"),
        ])
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run xmllint ({e}): install libxml2-utils; the check cannot be skipped")
        });
    assert!(
        output.status.success(),
        "xmllint rejects the merged JUnit:\n{}",
        text(&output.stderr)
    );
}

#[test]
fn a_passing_fleet_exits_0_and_an_inconclusive_one_3() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    lab_report(d, &[], "hq");
    lab_report(d, &[], "branch");
    lab_report(d, &["echo-garbage"], "guest");
    let out = report(d, &["merge", "hq.json", "branch.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\nPASS (fleet of 2 runs): 72 checks, 72 passed"));
    let out = report(d, &["merge", "hq.json", "guest.json", "-q"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    // -q: only the fleet's line.
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with("INCONCLUSIVE (fleet of 2 runs): "),
        "{stdout}"
    );
}

#[test]
fn json_to_stdout_is_the_whole_stdout_and_the_summary_goes_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    lab_report(d, &[], "hq");
    lab_report(d, &["one-domain-unanchored"], "guest");
    let out = report(d, &["merge", "hq.json", "guest.json", "--json", "-"]);
    assert_eq!(out.status.code(), Some(1));
    let merged: Value = serde_json::from_slice(&out.stdout).expect("stdout is the JSON alone");
    assert_eq!(merged["runs"].as_array().unwrap().len(), 2);
    assert!(text(&out.stderr).contains("Fleet: 2 runs"));
    // Two reports cannot share standard output.
    let out = report(d, &["merge", "hq.json", "--json", "-", "--html", "-"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: --json and --html both name standard output: give each report its own\n"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn one_input_may_come_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hq = lab_report(d, &[], "hq");
    lab_report(d, &[], "branch");
    let out = bin()
        .current_dir(d)
        .args([
            "report",
            "merge",
            "-",
            "branch.json",
            "--json",
            "fleet.json",
        ])
        .stdin(std::fs::File::open(&hq).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let merged = json_of(&d.join("fleet.json"));
    assert_eq!(merged["runs"][0]["merged_from"], "standard input");
    let out = report(d, &["merge", "-", "-"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("standard input (`-`) can be read once"));
}

#[test]
fn a_run_given_twice_is_kept_twice_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    lab_report(d, &[], "hq");
    let out = report(d, &["merge", "hq.json", "hq.json", "--json", "fleet.json"]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("warning: the run of `lab` at vantage `hq` started at ")
            && stderr.contains(" appears 2 times (hq.json, hq.json): each is kept\n"),
        "{stderr}"
    );
    assert_eq!(
        json_of(&d.join("fleet.json"))["runs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // The matrix tells the two rows apart.
    let out = report(d, &["merge", "hq.json", "hq.json"]);
    assert!(text(&out.stdout).contains("  PASS hq #2 "));
}

/// Each bad input: exit 2, one line naming the file and what is wrong, and nothing written:
/// an existing output keeps its bytes and no new file appears.
#[test]
fn bad_inputs_are_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hq = lab_report(d, &[], "hq");
    let mut other_version = json_of(&hq);
    other_version["format_version"] = 2.into();
    let mut other_tool = json_of(&hq);
    other_tool["tool"] = "another-tool".into();
    let mut missing = json_of(&hq);
    missing["runs"][0].as_object_mut().unwrap().remove("checks");
    let cases: Vec<(&str, String, String)> = vec![
        (
            "notjson.json",
            "this is not json".to_string(),
            "error: notjson.json: not JSON: expected ident at line 1 column 2\n".to_string(),
        ),
        (
            "tool.json",
            other_tool.to_string(),
            "error: tool.json: not a sipa-check report (no \"tool\": \"sipa-check\" with a \
             \"format_version\")\n"
                .to_string(),
        ),
        (
            "version.json",
            other_version.to_string(),
            format!(
                "error: version.json: format_version 2: this sipa-check ({}) reads format_version 1\n",
                env!("CARGO_PKG_VERSION")
            ),
        ),
        (
            "missing.json",
            missing.to_string(),
            "error: missing.json: a sipa-check report, but not one this version wrote: missing \
             field `checks`"
                .to_string(),
        ),
    ];
    std::fs::write(d.join("fleet.json"), "previous fleet report").unwrap();
    for (name, content, expected) in &cases {
        std::fs::write(d.join(name), content).unwrap();
        let before = listing(d);
        let out = report(
            d,
            &[
                "merge",
                "hq.json",
                name,
                "--json",
                "fleet.json",
                "--html",
                "fleet.html",
                "--junit",
                "fleet.xml",
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = text(&out.stderr);
        assert!(stderr.starts_with(expected.as_str()), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}");
        assert_eq!(listing(d), before, "{name}: a file appeared");
        assert_eq!(
            std::fs::read_to_string(d.join("fleet.json")).unwrap(),
            "previous fleet report"
        );
    }
    let out = report(
        d,
        &["merge", "hq.json", "absent.json", "--json", "fleet.json"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: cannot read absent.json: No such file or directory (os error 2)\n"
    );
    // `report show` reads the same way.
    let out = report(d, &["show", "version.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("error: version.json: format_version 2"));
}

#[test]
fn an_unwritable_output_writes_no_report_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    lab_report(d, &[], "hq");
    let out = report(
        d,
        &[
            "merge",
            "hq.json",
            "--json",
            "fleet.json",
            "--html",
            "missing-dir/fleet.html",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: --html: cannot write missing-dir/fleet.html: No such file or directory (os \
         error 2) (no report was written)\n"
    );
    assert!(!d.join("fleet.json").exists());
    assert_eq!(listing(d), ["hq.json"]);
    let out = report(
        d,
        &["merge", "hq.json", "--json", "x.json", "--html", "./x.json"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--json and --html both name ./x.json"));
}

#[test]
fn show_prints_the_saved_run_as_run_did_and_exits_with_its_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let saved = d.join("guest.json");
    let run = bin()
        .args(["lab", "--fault", "one-domain-unanchored", "--json"])
        .arg(&saved)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let shown = report(d, &["show", "guest.json"]);
    assert_eq!(shown.status.code(), Some(1), "{}", text(&shown.stderr));
    // Line for line as the run printed it, but for the durations, which the JSON keeps to a
    // tenth of a millisecond: 0.96 ms prints "<1ms" in the run and "1ms" read back, and the
    // column is right-aligned, so a duration takes the spaces before it along.
    let untimed = |s: &str| -> Vec<String> {
        let time = regex::Regex::new(r" *(<1ms|\d+(\.\d+)?m?s)").unwrap();
        s.lines()
            .map(|l| time.replace_all(l, " T").trim_end().to_string())
            .collect()
    };
    assert_eq!(untimed(&text(&shown.stdout)), untimed(&text(&run.stdout)));

    let quiet = report(d, &["show", "guest.json", "-q"]);
    assert_eq!(quiet.status.code(), Some(1));
    assert_eq!(text(&quiet.stdout).lines().count(), 1);
    assert!(text(&quiet.stdout).starts_with("FAIL: 36 checks, 34 passed, 2 failed"));
    let colour = report(d, &["show", "guest.json", "--color", "always"]);
    assert!(text(&colour.stdout).contains("\x1b["));
    let verbose = report(d, &["show", "guest.json", "-v"]);
    assert!(text(&verbose.stdout).contains("Evidence (lab)"));

    // A saved "overall" that says pass over failed checks is not believed.
    let mut lying = json_of(&saved);
    lying["overall"] = "pass".into();
    std::fs::write(d.join("lying.json"), lying.to_string()).unwrap();
    let shown = report(d, &["show", "lying.json", "-q"]);
    assert_eq!(shown.status.code(), Some(1));
    assert_eq!(
        text(&shown.stderr),
        "warning: lying.json: the saved verdict is PASS but its checks say FAIL: the checks decide\n"
    );
}

/// A report with markup in every name it controls: the page shows it as text, and no element
/// of it reaches the page.
#[test]
fn a_hostile_report_cannot_inject_into_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let guest = lab_report(d, &["one-domain-unanchored"], "guest");
    let evil = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>\"'&";
    let mut r = json_of(&guest);
    r["runs"][0]["vantage"]["name"] = evil.into();
    r["runs"][0]["scenario"] = format!("s{evil}").into();
    for check in r["runs"][0]["checks"].as_array_mut().unwrap() {
        check["name"] = format!("{}{evil}", check["name"].as_str().unwrap()).into();
        check["reason"] = evil.into();
        check["host"] = evil.into();
    }
    std::fs::write(d.join("evil.json"), r.to_string()).unwrap();
    let out = report(d, &["merge", "evil.json", "--html", "fleet.html"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(d.join("fleet.html")).unwrap();
    assert!(!html.contains("<script>document"), "unescaped script");
    assert!(!html.contains("<img"), "unescaped img");
    assert!(!html.contains("onerror=alert(1)>"), "unescaped attribute");
    assert!(html.contains("&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;"));
    // Exactly one script element: the page's own.
    assert_eq!(html.matches("<script").count(), 1);
    // The terminal gets the text, without escape sequences of its own.
    assert!(text(&out.stdout).contains(evil));
}
