//! One invalid scenario per validation rule, each with the exact lines `validate` must print.
//!
//! Fixtures live in tests/fixtures/invalid/NAME.{toml,json}, their expected output in
//! NAME.expected; paths are relative to the package root (the working directory of tests).

use std::path::{Path, PathBuf};

use sipa_check::scenario;

const DIR: &str = "tests/fixtures/invalid";

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(DIR)
        .unwrap_or_else(|e| panic!("{DIR}: {e}"))
        .map(|entry| Path::new(DIR).join(entry.expect("directory entry").file_name()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("toml" | "json")
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_invalid_fixture_fails_with_its_expected_lines() {
    let files = fixtures();
    assert!(
        files.len() >= 60,
        "only {} fixtures found in {DIR}",
        files.len()
    );
    let mut mismatches = Vec::new();
    for file in &files {
        let expected_path = file.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        let actual = match scenario::load(file) {
            Ok(_) => format!("{}: unexpectedly valid", file.display()),
            Err(errors) => errors.to_string(),
        };
        if actual != expected.trim_end_matches('\n') {
            mismatches.push(format!(
                "{}\n  expected:\n{}\n  actual:\n{}",
                file.display(),
                expected.trim_end(),
                actual
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} fixture(s) differ:\n\n{}",
        mismatches.len(),
        mismatches.join("\n\n")
    );
}

#[test]
fn every_expected_file_has_a_fixture() {
    let fixtures = fixtures();
    for entry in std::fs::read_dir(DIR).expect("fixture directory") {
        let path = Path::new(DIR).join(entry.expect("directory entry").file_name());
        if path.extension().and_then(|e| e.to_str()) == Some("expected") {
            let stems: Vec<_> = fixtures
                .iter()
                .filter(|f| f.file_stem() == path.file_stem())
                .collect();
            assert_eq!(
                stems.len(),
                1,
                "{} needs exactly one NAME.toml or NAME.json",
                path.display()
            );
        }
    }
}

#[test]
fn a_missing_file_is_one_error_without_a_position() {
    let path = Path::new(DIR).join("does-not-exist.toml");
    let errors = scenario::load(&path).expect_err("missing file");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors.0[0].at, None);
    assert_eq!(
        errors.to_string(),
        "tests/fixtures/invalid/does-not-exist.toml: cannot read scenario: no such file (check the path, or create one from the template with `sipa-check init FILE`)"
    );
}

#[test]
fn a_directory_is_one_error_without_a_position() {
    let errors = scenario::load(Path::new("scenarios/examples/")).expect_err("a directory");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors.0[0].at, None);
    assert_eq!(
        errors.to_string(),
        "scenarios/examples/: is a directory: name the scenario files in it, e.g. scenarios/examples/*.toml"
    );
}

#[test]
fn an_unknown_extension_is_refused_before_reading() {
    let errors = scenario::load(Path::new("Cargo.lock")).expect_err("not a scenario");
    assert_eq!(
        errors.to_string(),
        "Cargo.lock: unknown scenario format: name the file *.toml or *.json"
    );
}

#[test]
fn standard_input_is_read_as_toml_or_json() {
    let toml = std::fs::read("scenarios/lab.toml").expect("lab.toml");
    let from_toml = scenario::load_reader(&mut toml.as_slice()).expect("TOML from stdin");
    assert_eq!(from_toml.name, "lab");
    assert_eq!(from_toml.source, Path::new("<stdin>"));
    let json = std::fs::read("scenarios/examples/branch-explicit-proxy.json").expect("json");
    let from_json = scenario::load_reader(&mut json.as_slice()).expect("JSON from stdin");
    assert_eq!(from_json.name, "branch-lyon");
    let errors = scenario::load_reader(
        &mut "name = 1\n[login]\nhosts = [\"login.windows.net\"]\n".as_bytes(),
    )
    .expect_err("bad");
    assert_eq!(
        errors.to_string(),
        "<stdin>:1:8: name: expected a string, found the integer `1`"
    );
}
