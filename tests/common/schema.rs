//! Shared by the tests that validate documents against JSON Schemas with an independent
//! validator: the Python `check-jsonschema` tool, which `.ci/run` installs (pinned) with pip.
// Each test crate uses its own part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The version `.ci/run` installs.
pub const CHECK_JSONSCHEMA_VERSION: &str = "0.39.0";

/// `check-jsonschema`: from the PATH, else from the virtual environment `.ci/run` makes; the
/// test fails, saying how to install it, when it is in neither.
pub fn check_jsonschema() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("check-jsonschema"))
            .find(|exe| exe.is_file())
    });
    let ci_venv = std::env::var_os("HOME").map(|home| {
        Path::new(&home)
            .join(".cache/sipa-check-ci")
            .join(format!("check-jsonschema-{CHECK_JSONSCHEMA_VERSION}"))
            .join("bin/check-jsonschema")
    });
    on_path
        .or(ci_venv.filter(|exe| exe.is_file()))
        .unwrap_or_else(|| {
            panic!(
                "check-jsonschema is missing: `pip install check-jsonschema=={CHECK_JSONSCHEMA_VERSION}` \
                 (in a virtual environment); .ci/run installs it"
            )
        })
}

/// Runs `check-jsonschema` with `args`. The tests give it local schema files or schemas built
/// into the tool, so it needs no network.
pub fn run(args: &[&str]) -> Output {
    Command::new(check_jsonschema())
        .args(args)
        .output()
        .expect("check-jsonschema runs")
}

/// Validates `document` against the local schema file `schema`: Ok, or the validator's words.
pub fn validate(schema: &Path, document: &Path) -> Result<(), String> {
    validate_all(schema, &[document.to_path_buf()])
}

/// Validates every one of `documents` against `schema` in one run of the validator (each run
/// starts Python): Ok when all are valid, else the validator's words, which name each invalid
/// file as `FILE::$.json.path: why`.
pub fn validate_all(schema: &Path, documents: &[PathBuf]) -> Result<(), String> {
    let mut args = vec!["--schemafile", schema.to_str().expect("a UTF-8 path")];
    args.extend(documents.iter().map(|d| d.to_str().expect("a UTF-8 path")));
    let out = run(&args);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
