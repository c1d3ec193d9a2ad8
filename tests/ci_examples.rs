//! The pipelines in ci/ work as written: each example's install step installs this build from a
//! release archive in a local directory, then every `sipa-check ...` command line of the three
//! examples runs that installed binary, through `sh` as a CI runner would, in a checkout holding
//! the user's own scenario (`sipa-check.toml`, here the lab scenario), against the embedded lab on
//! loopback (the lab's `run` flags are appended to `run` lines: DNS, routes, CA, anchor). Each
//! must exit 0 and leave the reports it names, valid. The examples must also keep what the issue
//! asked of them: the scenario created with `sipa-check init`, exit 3 told apart from 1, and no
//! Rust on the runner: each installs the release archive once per version, its checksum verified
//! (the install step also runs against a corrupted archive, which it must refuse). The GitHub and
//! GitLab files validate against those systems' schemas (check-jsonschema).
//! Each example's run step, run as its CI system runs it, warns of a pass on path-only
//! evidence, and only then.

use std::path::{Path, PathBuf};
use std::process::Command;

use sipa_check::lab::{Lab, LabConfig};

#[path = "common/schema.rs"]
mod schema;

const EXAMPLES: [&str; 3] = [
    "ci/github-actions.yml",
    "ci/gitlab-ci.yml",
    "ci/Jenkinsfile",
];
/// The user's scenario, as the examples name it.
const USER_SCENARIO: &str = "sipa-check.toml";
/// The runner name every CI variable stands for; a space proves the examples quote it.
const RUNNER: &str = "ci example runner";

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `sipa-check ...` command lines of an example: lines that start with `sipa-check `
/// once indentation and a YAML list marker are set aside; comments are not commands.
fn command_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with("//"))
        .map(|l| l.strip_prefix("- ").unwrap_or(l))
        .filter(|l| l.starts_with("sipa-check "))
        .map(str::to_owned)
        .collect()
}

/// The value after `flag` in a command line (the examples' report paths have no spaces).
fn flag_value<'a>(line: &'a str, flag: &str) -> Option<&'a str> {
    let mut words = line.split_whitespace();
    words.find(|w| *w == flag)?;
    words.next()
}

fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

fn checkout(name: &str) -> PathBuf {
    checkout_of(name, "scenarios/lab.toml")
}

/// A checkout whose `sipa-check.toml` is the shipped scenario `scenario`.
fn checkout_of(name: &str, scenario: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sipa-check-ci-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("checkout dir");
    std::fs::write(dir.join(USER_SCENARIO), read(scenario)).expect("user scenario");
    dir
}

/// The words every example's path-only warning carries (GitHub in a `::warning` annotation,
/// GitLab and Jenkins on an echoed `WARNING:` line).
const PATH_ONLY_WARNING: &str = "sipa-check passed on path-only evidence";

/// The shell script of each example's run step, as its CI system runs it, with the shell that
/// runs it: GitHub's `bash -e` step script, GitLab's `script:` list (one `bash -e` script; a
/// failing line ends the job), Jenkins's `sh(returnStatus: true, script: ...)` (`sh -e`).
fn run_step_scripts() -> Vec<(&'static str, &'static str, String)> {
    let github = read("ci/github-actions.yml");
    let start = github
        .find("          set +e\n")
        .expect("the GitHub run step's script");
    let end = github[start..].find("        env:").expect("end of script") + start;
    let github_script: String = github[start..end]
        .lines()
        .map(|l| l.strip_prefix("          ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");

    let gitlab = read("ci/gitlab-ci.yml");
    let start = gitlab.find("\n  script:\n").expect("the GitLab script") + "\n  script:\n".len();
    let end = gitlab[start..]
        .find("\n  allow_failure:")
        .expect("end of script")
        + start;
    let mut gitlab_script = String::new();
    for line in gitlab[start..end].lines() {
        if let Some(item) = line.strip_prefix("    - ") {
            // A `|` item is a block whose lines follow, indented by six.
            if item != "|" {
                gitlab_script.push_str(item);
                gitlab_script.push('\n');
            }
        } else if let Some(block_line) = line.strip_prefix("      ") {
            gitlab_script.push_str(block_line);
            gitlab_script.push('\n');
        } else {
            panic!("unexpected line in the GitLab script: {line:?}");
        }
    }

    let jenkins = read("ci/Jenkinsfile");
    let start = jenkins
        .find("sh(returnStatus: true, script: '''\n")
        .expect("the Jenkins run script")
        + "sh(returnStatus: true, script: '''\n".len();
    let end = jenkins[start..].find("'''").expect("end of script") + start;
    let jenkins_script = jenkins[start..end].to_string();

    vec![
        ("ci/github-actions.yml", "bash", github_script),
        ("ci/gitlab-ci.yml", "bash", gitlab_script),
        ("ci/Jenkinsfile", "sh", jenkins_script),
    ]
}

/// `script` with `extra` appended to each `sipa-check run` line.
fn with_run_flags(script: &str, extra: &str) -> String {
    script
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("sipa-check run ") {
                format!("{l} {extra}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs one example's run-step script in `dir` with `bin_dir` first on the PATH.
fn run_step(shell: &str, script: &str, dir: &Path, bin_dir: &Path) -> std::process::Output {
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new(shell)
        .arg("-e")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env("GITHUB_OUTPUT", dir.join("github-output"))
        .env("RUNNER_NAME", RUNNER)
        .env("CI_RUNNER_DESCRIPTION", RUNNER)
        .env("NODE_NAME", RUNNER)
        .env_remove("SIPA_CHECK_PROXY_PASSWORD")
        .output()
        .expect("the shell runs")
}

fn xmllint(path: &Path) {
    let xsd = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/junit-10.xsd");
    let out = Command::new("xmllint")
        .args(["--noout", "--schema", xsd])
        .arg(path)
        .output()
        .expect("xmllint is installed (Debian package libxml2-utils)");
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_example_has_its_sipa_check_commands() {
    for example in EXAMPLES {
        let lines = command_lines(&read(example));
        let runs: Vec<_> = lines
            .iter()
            .filter(|l| l.starts_with("sipa-check run "))
            .collect();
        assert_eq!(runs.len(), 1, "{example}: {lines:?}");
        let run = runs[0];
        assert!(
            run.contains(&format!("run {USER_SCENARIO} ")),
            "{example}: {run}"
        );
        assert!(flag_value(run, "--junit").is_some(), "{example}: {run}");
        assert!(flag_value(run, "--json").is_some(), "{example}: {run}");
        assert!(
            lines.contains(&format!("sipa-check validate {USER_SCENARIO}")),
            "{example} validates the scenario before running it: {lines:?}"
        );
    }
}

#[test]
fn every_example_starts_from_init_tells_3_from_1_and_installs_once() {
    let init = format!("sipa-check init {USER_SCENARIO}");
    for example in EXAMPLES {
        let text = read(example);
        assert!(
            text.contains(&init),
            "{example} says how to create the scenario"
        );
        // A stock runner has no Rust: the examples install the release, never build it.
        assert!(!text.contains("cargo"), "{example} needs no Rust toolchain");
        assert_eq!(
            install_script(example).matches("sha256sum -c").count(),
            1,
            "{example} verifies the archive's checksum"
        );
    }
    let gitlab = read("ci/gitlab-ci.yml");
    assert!(
        gitlab.contains("allow_failure:\n    exit_codes: [3]"),
        "{gitlab}"
    );
    assert!(
        gitlab.contains("\n  image: debian:bookworm-slim\n"),
        "{gitlab}"
    );
    assert!(gitlab.contains("    SIPA_CHECK_VERSION: \"0.2.0\"\n"));
    assert!(gitlab.contains("  cache:\n    key: \"sipa-check-$SIPA_CHECK_VERSION\"\n"));
    assert!(gitlab.contains("    SIPA_CHECK_HOME: \"$CI_PROJECT_DIR/.sipa-check\"\n"));
    assert!(gitlab.contains("    paths:\n      - .sipa-check/\n"));
    // Each puts on the PATH the directory its install step unpacks into.
    assert!(gitlab.contains("    - export PATH=\"$SIPA_CHECK_HOME/$SIPA_CHECK_VERSION:$PATH\"\n"));

    let github = read("ci/github-actions.yml");
    assert!(
        github.contains("\npermissions:\n  checks: write\n  contents: read\n"),
        "action-junit-report needs checks: write"
    );
    assert!(github.contains("  SIPA_CHECK_VERSION: \"0.2.0\"\n"));
    assert!(github.contains("echo \"$SIPA_CHECK_HOME/$SIPA_CHECK_VERSION\" >> \"$GITHUB_PATH\"\n"));
    assert!(github.contains("3) echo \"::warning"));
    assert!(github.contains("*) exit \"$code\" ;;"));
    // Every action is pinned to a commit, its version said beside it.
    let uses: Vec<&str> = github
        .lines()
        .filter_map(|l| l.trim().trim_start_matches("- ").strip_prefix("uses: "))
        .collect();
    assert_eq!(uses.len(), 3, "{uses:?}");
    for action in uses {
        let (_, pin) = action.split_once('@').expect("a pinned action");
        let (sha, comment) = pin.split_once(" # v").expect("the version beside the pin");
        assert!(
            sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()) && !comment.is_empty(),
            "{action}"
        );
    }

    let jenkins = read("ci/Jenkinsfile");
    assert!(jenkins.contains("    SIPA_CHECK_VERSION = '0.2.0'\n"));
    assert!(jenkins.contains(
        "withEnv([\"SIPA_CHECK_HOME=${home}\", \"PATH+SIPA_CHECK=${home}/${env.SIPA_CHECK_VERSION}\"])"
    ));
    assert!(jenkins.contains("sh(returnStatus: true"));
    assert!(jenkins.contains("if (code == 3) {\n              unstable("));
    assert!(jenkins.contains("} else if (code != 0) {\n              error("));
    // The proxy credential is looked up only when one is named: a Jenkins without it still runs.
    assert!(jenkins.contains(
        "if (env.SIPA_CHECK_PROXY_CREDENTIALS_ID?.trim()) {\n              withCredentials("
    ));
    assert_eq!(jenkins.matches("withCredentials(").count(), 1);
    assert!(jenkins.contains("} else {\n              code = gate()\n"));
}

/// What a shell exit-code branch of the GitHub example does with each code: run the step's
/// script with `sipa-check` replaced by a stub that exits with that code.
#[test]
fn the_github_step_passes_3_with_a_warning_and_fails_on_1_and_2() {
    let text = read("ci/github-actions.yml");
    let start = text
        .find("          set +e\n")
        .expect("the run step's script");
    let end = text[start..].find("        env:").expect("end of script") + start;
    let script: String = text[start..end]
        .lines()
        .map(|l| l.strip_prefix("          ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    for (code, expected, warned) in [(0, 0, false), (1, 1, false), (2, 2, false), (3, 0, true)] {
        let dir = checkout(&format!("github-step-{code}"));
        let stub = dir.join("bin");
        std::fs::create_dir_all(&stub).unwrap();
        let exe = stub.join("sipa-check");
        std::fs::write(&exe, format!("#!/bin/sh\nexit {code}\n")).unwrap();
        let mut perms = std::fs::metadata(&exe).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&exe, perms).unwrap();
        let output = dir.join("github-output");
        let path = format!(
            "{}:{}",
            stub.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new("bash")
            .arg("-e")
            .arg("-c")
            .arg(&script)
            .current_dir(&dir)
            .env("PATH", path)
            .env("GITHUB_OUTPUT", &output)
            .env("RUNNER_NAME", RUNNER)
            .output()
            .expect("bash runs");
        assert_eq!(out.status.code(), Some(expected), "sipa-check exit {code}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout.contains("::warning"), warned, "{stdout}");
        assert_eq!(
            std::fs::read_to_string(&output).unwrap(),
            format!("exit-code={code}\n")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_examples_command_lines_pass_against_the_lab() {
    // This build, released as the release workflow packs it; each example's own install step
    // installs it, and its command lines run the installed binary, not cargo's.
    let release_root = checkout("release");
    let releases = release_root.join("releases");
    local_release(&releases, Some(Path::new(env!("CARGO_BIN_EXE_sipa-check"))));
    let mut installed = Vec::new();
    for example in EXAMPLES {
        let name = Path::new(example)
            .file_name()
            .and_then(|n| n.to_str())
            .expect("file name");
        let dir = checkout(name);
        let home = dir.join(".sipa-check");
        let out = install(&install_script(example), &releases, &home);
        assert!(
            out.status.success(),
            "{example}: the install step: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        installed.push((dir, home.join(VERSION)));
    }
    let _ = std::fs::remove_dir_all(&release_root);

    let lab = Lab::start(LabConfig::default())
        .await
        .expect("the lab starts");
    let lab_flags: Vec<String> = lab.run_flags().iter().map(|f| shell_quote(f)).collect();
    let mut failures = Vec::new();
    for (example, (dir, bin_dir)) in EXAMPLES.into_iter().zip(installed) {
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        for line in command_lines(&read(example)) {
            let script = if line.starts_with("sipa-check run ") {
                format!("{line} {}", lab_flags.join(" "))
            } else {
                line.clone()
            };
            let mut command = Command::new("sh");
            command
                .arg("-c")
                .arg(&script)
                .current_dir(&dir)
                .env("PATH", &path)
                .env("NO_COLOR", "1")
                .env("RUNNER_NAME", RUNNER)
                .env("CI_RUNNER_DESCRIPTION", RUNNER)
                .env("NODE_NAME", RUNNER)
                .env_remove("SIPA_CHECK_PROXY_PASSWORD");
            let out = tokio::task::spawn_blocking(move || command.output())
                .await
                .expect("the command's thread")
                .expect("sh runs");
            if out.status.code() != Some(0) {
                failures.push(format!(
                    "{example}: `{line}` exited {:?}\n{}{}",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
                continue;
            }
            if let Some(junit) = flag_value(&line, "--junit") {
                xmllint(&dir.join(junit));
            }
            if let Some(json) = flag_value(&line, "--json") {
                let text = std::fs::read_to_string(dir.join(json))
                    .unwrap_or_else(|e| panic!("{example}: {json}: {e}"));
                let doc: serde_json::Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{example}: {json}: {e}"));
                assert_eq!(doc["overall"], "pass", "{example}: {json}");
                assert_eq!(
                    doc["runs"][0]["vantage"]["name"], RUNNER,
                    "{example}: {json}"
                );
                assert_eq!(doc["runs"][0]["scenario"], "lab", "{example}: {json}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    lab.shutdown().await;
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The path-only warning is about passes: with a stub `sipa-check` that leaves a JSON report
/// whose evidence is path only and exits with each code, each example's run step warns of
/// path-only evidence on exit 0 only, and keeps its verdict for every code.
#[test]
fn every_run_step_warns_of_path_only_evidence_on_a_pass_only() {
    let path_only_report = r#"{
  "runs": [
    {
      "evidence": [
        {
          "host": "login.windows.net",
          "port": 443,
          "route": "ipv4",
          "proof": "path-only"
        }
      ]
    }
  ],
  "overall": "pass"
}
"#;
    for (example, shell, script) in run_step_scripts() {
        for code in [0, 1, 2, 3] {
            let name = format!(
                "path-only-stub-{}-{code}",
                example.trim_start_matches("ci/").replace('.', "-")
            );
            let dir = checkout(&name);
            let stub = dir.join("bin");
            std::fs::create_dir_all(&stub).unwrap();
            let exe = stub.join("sipa-check");
            std::fs::write(
                &exe,
                format!(
                    "#!/bin/sh\ncase \"$1\" in run) cat > sipa-check.json <<'EOF'\n{path_only_report}EOF\n exit {code} ;; esac\nexit 0\n"
                ),
            )
            .unwrap();
            let mut perms = std::fs::metadata(&exe).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
            std::fs::set_permissions(&exe, perms).unwrap();
            let out = run_step(shell, &script, &dir, &stub);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                stdout.contains(PATH_ONLY_WARNING),
                code == 0,
                "{example}, sipa-check exit {code}: {stdout}"
            );
            // Each example keeps its verdict: GitHub passes 0 and 3, the others pass on 0 only
            // (GitLab allows 3 by exit code, Jenkins turns 3 into unstable).
            let expected = match (example, code) {
                ("ci/github-actions.yml", 3) => 0,
                (_, c) => c,
            };
            assert_eq!(
                out.status.code(),
                Some(expected),
                "{example}, sipa-check exit {code}: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// Against the lab with the real binary: each example's run step passes with no warning when
/// every login host is proven by an echo on it (`scenarios/lab.toml`), and passes with the
/// path-only warning when a canary is all the evidence (`scenarios/lab-canary-only.toml`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_run_step_warns_when_the_lab_passes_on_a_canary_only() {
    let lab = Lab::start(LabConfig::default())
        .await
        .expect("the lab starts");
    let lab_flags: Vec<String> = lab.run_flags().iter().map(|f| shell_quote(f)).collect();
    let lab_flags = lab_flags.join(" ");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_sipa-check"))
        .parent()
        .expect("the binary's directory")
        .to_path_buf();
    let mut failures = Vec::new();
    for (example, shell, script) in run_step_scripts() {
        let script = with_run_flags(&script, &lab_flags);
        for (scenario, warned) in [
            ("scenarios/lab.toml", false),
            ("scenarios/lab-canary-only.toml", true),
        ] {
            let name = format!(
                "lab-step-{}-{}",
                example.trim_start_matches("ci/").replace('.', "-"),
                warned
            );
            let dir = checkout_of(&name, scenario);
            let (shell, script, run_dir, bins) = (
                shell.to_string(),
                script.clone(),
                dir.clone(),
                bin_dir.clone(),
            );
            let out =
                tokio::task::spawn_blocking(move || run_step(&shell, &script, &run_dir, &bins))
                    .await
                    .expect("the step's thread");
            let stdout = String::from_utf8_lossy(&out.stdout);
            if out.status.code() != Some(0) || stdout.contains(PATH_ONLY_WARNING) != warned {
                failures.push(format!(
                    "{example} with {scenario}: exit {:?}, path-only warning expected {warned}\n{stdout}{}",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    lab.shutdown().await;
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

const INSTALL_BEGIN: &str = "# --- install sipa-check: begin ---";
const INSTALL_END: &str = "# --- install sipa-check: end ---";
/// The release the examples install, as the release workflow names it.
const VERSION: &str = "0.2.0";
const TARGET: &str = "x86_64-unknown-linux-gnu";

/// An example's install step: the shell lines between its begin and end markers, dedented.
fn install_script(example: &str) -> String {
    let text = read(example);
    let begin = text
        .lines()
        .position(|l| l.trim() == INSTALL_BEGIN)
        .unwrap_or_else(|| panic!("{example}: no `{INSTALL_BEGIN}` line"));
    let lines: Vec<&str> = text.lines().collect();
    let indent = lines[begin].len() - lines[begin].trim_start().len();
    let end = lines[begin..]
        .iter()
        .position(|l| l.trim() == INSTALL_END)
        .unwrap_or_else(|| panic!("{example}: no `{INSTALL_END}` line"))
        + begin;
    lines[begin..=end]
        .iter()
        .map(|l| l.get(indent..).unwrap_or(l.trim_start()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(path, perms).unwrap();
}

fn sh_ok(script: &str, dir: &Path) {
    let out = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A release laid out as the release workflow publishes it, under `root`:
/// `vVERSION/sipa-check-VERSION-TARGET.tar.gz` (the `sipa-check` binary at the top level: `binary`,
/// or a stub that prints its version; with man/ and completions/), an aarch64 archive beside it,
/// and `vVERSION/SHA256SUMS` listing both. Returns the archive's path.
fn local_release(root: &Path, binary: Option<&Path>) -> PathBuf {
    let release = root.join(format!("v{VERSION}"));
    let staging = root.join("staging");
    std::fs::create_dir_all(staging.join("man")).unwrap();
    std::fs::create_dir_all(staging.join("completions")).unwrap();
    std::fs::create_dir_all(&release).unwrap();
    match binary {
        Some(binary) => {
            std::fs::copy(binary, staging.join("sipa-check")).expect("the binary is copied");
        }
        None => executable(
            &staging.join("sipa-check"),
            &format!("#!/bin/sh\necho \"sipa-check {VERSION} (release stub)\"\n"),
        ),
    }
    std::fs::write(staging.join("man/sipa-check.1"), ".TH SIPA-CHECK 1\n").unwrap();
    std::fs::write(staging.join("completions/sipa-check.bash"), "complete\n").unwrap();
    let archive = format!("sipa-check-{VERSION}-{TARGET}.tar.gz");
    let other = format!("sipa-check-{VERSION}-aarch64-unknown-linux-gnu.tar.gz");
    sh_ok(
        &format!(
            "tar -czf '{}' -C '{}' sipa-check man completions",
            release.join(&archive).display(),
            staging.display()
        ),
        root,
    );
    std::fs::remove_dir_all(&staging).unwrap();
    std::fs::write(release.join(&other), "another target's archive\n").unwrap();
    sh_ok(
        &format!("sha256sum '{other}' '{archive}' > SHA256SUMS"),
        &release,
    );
    release.join(archive)
}

/// Runs an install step with the release at `releases` (a `file://` URL: no network) and the
/// install directory `home`.
fn install(script: &str, releases: &Path, home: &Path) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(home.parent().expect("a parent"))
        .env("SIPA_CHECK_VERSION", VERSION)
        .env("SIPA_CHECK_TARGET", TARGET)
        .env(
            "SIPA_CHECK_RELEASES",
            format!("file://{}", releases.display()),
        )
        .env("SIPA_CHECK_HOME", home)
        .output()
        .expect("sh runs")
}

/// Each example's install step, run as written against a release in a local directory: it
/// installs a good archive and runs from the cache once the release is gone; it refuses a
/// corrupted archive, one that SHA256SUMS does not list, and a corrupted archive left in the
/// cache (dropped, so the next run downloads it again), installing nothing.
#[test]
fn every_install_step_verifies_the_archive_against_sha256sums() {
    for example in EXAMPLES {
        let script = install_script(example);
        let name = Path::new(example).file_name().unwrap().to_str().unwrap();
        let root = checkout(&format!("install-{name}"));
        let releases = root.join("releases");
        let archive = local_release(&releases, None);
        let installed = |home: &Path| home.join(VERSION).join("sipa-check");
        let refused = |out: &std::process::Output, home: &Path, what: &str| {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_ne!(out.status.code(), Some(0), "{example}, {what}: {stderr}");
            assert!(
                stderr.contains("does not match SHA256SUMS: refused, not installed"),
                "{example}, {what}: {stderr}"
            );
            assert!(!installed(home).exists(), "{example}, {what}: installed");
            assert!(
                !home
                    .join(VERSION)
                    .join(archive.file_name().unwrap())
                    .exists(),
                "{example}, {what}: the bad archive stays in the cache"
            );
        };

        // A good archive: installed, with its man pages and completions, and it runs.
        let home = root.join("good");
        let out = install(&script, &releases, &home);
        assert!(
            out.status.success(),
            "{example}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let version = Command::new(installed(&home))
            .arg("--version")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&version.stdout),
            format!("sipa-check {VERSION} (release stub)\n")
        );
        assert!(home.join(VERSION).join("man/sipa-check.1").is_file());
        assert!(
            home.join(VERSION)
                .join("completions/sipa-check.bash")
                .is_file()
        );
        // Later runs install from the cache: the release is not asked again.
        let out = install(&script, &root.join("no-such-release"), &home);
        assert!(
            out.status.success(),
            "{example} from the cache: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        // A corrupted archive (one byte changed after SHA256SUMS was written).
        let good = std::fs::read(&archive).unwrap();
        let mut bad = good.clone();
        let middle = bad.len() / 2;
        bad[middle] ^= 0x55;
        std::fs::write(&archive, &bad).unwrap();
        let home = root.join("corrupted");
        refused(
            &install(&script, &releases, &home),
            &home,
            "a corrupted archive",
        );

        // A corrupted archive left in the cache is refused and dropped; the next run downloads it.
        std::fs::write(&archive, &good).unwrap();
        let home = root.join("poisoned-cache");
        std::fs::create_dir_all(home.join(VERSION)).unwrap();
        std::fs::write(home.join(VERSION).join(archive.file_name().unwrap()), &bad).unwrap();
        std::fs::copy(
            archive.with_file_name("SHA256SUMS"),
            home.join(VERSION).join("SHA256SUMS"),
        )
        .unwrap();
        refused(
            &install(&script, &releases, &home),
            &home,
            "a corrupted cache",
        );
        let out = install(&script, &releases, &home);
        assert!(
            out.status.success(),
            "{example}: the download after a bad cache"
        );
        assert!(installed(&home).is_file());

        // An archive SHA256SUMS does not list.
        let sums = archive.with_file_name("SHA256SUMS");
        let listed = std::fs::read_to_string(&sums).unwrap();
        let unlisted: String = listed
            .lines()
            .filter(|l| !l.contains(TARGET))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_ne!(listed, unlisted);
        std::fs::write(&sums, unlisted).unwrap();
        let home = root.join("unlisted");
        refused(
            &install(&script, &releases, &home),
            &home,
            "an unlisted archive",
        );

        let _ = std::fs::remove_dir_all(&root);
    }
}

/// The GitHub workflow and the GitLab pipeline validate against the schemas GitHub's and
/// GitLab's own editors use (SchemaStore's, built into check-jsonschema: no network), and the
/// validator does refuse a broken copy of each.
#[test]
fn the_github_and_gitlab_examples_validate_against_their_ci_schemas() {
    let dir = checkout("schemas");
    for (example, builtin, from, to) in [
        (
            "ci/github-actions.yml",
            "vendor.github-workflows",
            "    runs-on: ",
            "    runs_on: ",
        ),
        (
            "ci/gitlab-ci.yml",
            "vendor.gitlab-ci",
            "    exit_codes: [3]",
            "    exit_codes: three",
        ),
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(example);
        let out = schema::run(&["--builtin-schema", builtin, path.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{example} against {builtin}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = read(example);
        assert!(text.contains(from), "{example}: {from}");
        let broken = dir.join(Path::new(example).file_name().unwrap());
        std::fs::write(&broken, text.replacen(from, to, 1)).unwrap();
        let out = schema::run(&["--builtin-schema", builtin, broken.to_str().unwrap()]);
        assert!(
            !out.status.success(),
            "{builtin} accepted a broken {example}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
