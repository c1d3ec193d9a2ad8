//! The install paths' files: what the packaged crate holds, the Debian package's assets and
//! service unit, and the release workflow (valid for GitHub, building every platform's archive
//! with its sum, man pages and completions). The package itself is built and installed by
//! packaging/check-deb.sh (as root, from .ci/run).

use std::path::Path;
use std::process::Command;

mod common;
use common::cli::text;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_packaged_crate_holds_what_install_builds_and_no_tests() {
    let out = Command::new(env!("CARGO"))
        .args([
            "package",
            "--list",
            "--locked",
            "--offline",
            "--allow-dirty",
        ])
        .current_dir(ROOT)
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let files: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "build.rs",
        "src/main.rs",
        "src/lib.rs",
        "src/manual.rs",
        "scenarios/office365.toml",
        "scenarios/lab.toml",
        "scenarios/lab-places.toml",
        "scenarios/lab-entra.toml",
        "README.md",
        "CHANGELOG.md",
        "LICENSE",
        "packaging/systemd/sipa-check.service",
        "packaging/serve.toml",
    ] {
        assert!(
            files.iter().any(|f| f == needed),
            "{needed} not packaged: {files:?}"
        );
    }
    for f in &files {
        assert!(
            ![
                "tests/",
                "examples/",
                "ci/",
                ".ci/",
                ".github/",
                "target/",
                "scenarios/bench/"
            ]
            .iter()
            .any(|dir| f.starts_with(dir)),
            "{f} is packaged"
        );
    }
    // Every file the binary embeds (a scenario, the PAC functions' JavaScript) is packaged:
    // each `include_str!`/`include_bytes!` path, read from its source file's folder.
    let mut embedded = 0;
    for source in files
        .iter()
        // `tests.rs` files are test modules (`#[cfg(test)] mod tests;`).
        .filter(|f| f.starts_with("src/") && f.ends_with(".rs") && !f.ends_with("/tests.rs"))
    {
        let whole = read(source);
        // What the tests embed (fixtures) is not the binary's.
        let code = whole.split("#[cfg(test)]").next().unwrap_or_default();
        for macro_call in ["include_str!(\"", "include_bytes!(\""] {
            for (i, _) in code.match_indices(macro_call) {
                let rest = &code[i + macro_call.len()..];
                let written = &rest[..rest.find('"').unwrap()];
                let mut parts: Vec<&str> = source.split('/').collect();
                parts.pop();
                for part in written.split('/') {
                    match part {
                        ".." => {
                            parts.pop();
                        }
                        "." => {}
                        p => parts.push(p),
                    }
                }
                let path = parts.join("/");
                embedded += 1;
                assert!(
                    files.contains(&path),
                    "{source} embeds {written} ({path}), not packaged"
                );
            }
        }
    }
    assert!(embedded >= 5, "found only {embedded} embedded files");
    let manifest: toml::Table = read("Cargo.toml").parse().unwrap();
    let package = manifest["package"].as_table().unwrap();
    for key in [
        "description",
        "license",
        "readme",
        "keywords",
        "categories",
        "rust-version",
    ] {
        assert!(package.contains_key(key), "Cargo.toml lacks package.{key}");
    }
    assert_eq!(package["version"].as_str(), Some("0.2.0"));
}

#[test]
fn the_debian_package_ships_the_standard_places_and_a_hardened_service() {
    let manifest: toml::Table = read("Cargo.toml").parse().unwrap();
    let deb = manifest["package"]["metadata"]["deb"]
        .as_table()
        .expect("[package.metadata.deb]");
    let assets: Vec<(String, String)> = deb["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let a = a.as_array().unwrap();
            (
                a[0].as_str().unwrap().to_owned(),
                a[1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for dest in [
        "usr/bin/",
        "usr/share/man/man1/",
        "usr/share/bash-completion/completions/sipa-check",
        "usr/share/zsh/vendor-completions/_sipa-check",
        "usr/share/fish/vendor_completions.d/sipa-check.fish",
        "usr/share/sipa-check/office365.toml",
        "usr/share/sipa-check/monitoring/",
        "etc/sipa-check/serve.toml",
    ] {
        assert!(
            assets.iter().any(|(_, d)| d == dest),
            "no asset installed at {dest}"
        );
    }
    // The sources outside target/ exist; those in target/assets are what packaging/assets.sh
    // writes.
    let script = read("packaging/assets.sh");
    for (source, _) in &assets {
        if let Some(generated) = source.strip_prefix("target/assets/") {
            let file = generated.rsplit('/').next().unwrap();
            assert!(
                file == "*.1" || script.contains(&format!("/{file}\"")),
                "packaging/assets.sh does not write {source}"
            );
        } else if !source.starts_with("target/release/") {
            let dir = Path::new(ROOT).join(source.trim_end_matches('*'));
            assert!(dir.exists(), "asset {source} does not exist");
        }
    }
    assert_eq!(
        deb["conf-files"].as_array().unwrap()[0].as_str(),
        Some("/etc/sipa-check/serve.toml")
    );
    let unit = read("packaging/systemd/sipa-check.service");
    for line in [
        "ExecStart=/usr/bin/sipa-check serve /etc/sipa-check/serve.toml",
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "Restart=on-failure",
        "ConfigurationDirectory=sipa-check",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit lacks {line}");
    }
    // The shipped configuration names the shipped template, and serve --check accepts it.
    let config = read("packaging/serve.toml");
    assert!(config.contains("file = \"/usr/share/sipa-check/office365.toml\""));
    let dir = tempfile::tempdir().unwrap();
    let shipped = config.replace(
        "/usr/share/sipa-check/office365.toml",
        &Path::new(ROOT)
            .join("scenarios/office365.toml")
            .display()
            .to_string(),
    );
    std::fs::write(dir.path().join("serve.toml"), shipped).unwrap();
    let out = common::cli::sipa()
        .args(["serve", "--check"])
        .arg(dir.path().join("serve.toml"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn the_release_workflow_builds_every_platform_and_is_valid_for_github() {
    let workflow = read(".github/workflows/release.yml");
    for target in [
        "x86_64-unknown-linux-gnu",
        "aarch64-unknown-linux-gnu",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
        "x86_64-pc-windows-msvc",
    ] {
        assert!(
            workflow.contains(&format!("target: {target}")),
            "no {target} build"
        );
    }
    for part in [
        "assets/man",
        "assets/completions",
        "sha256sum",
        "SHA256SUMS",
        "tags: [\"v*\"]",
    ] {
        assert!(workflow.contains(part), "release.yml lacks {part}");
    }
    // The YAML parses, and GitHub's workflow schema (vendored in check-jsonschema, no network)
    // accepts it; .ci/run installs the pinned check-jsonschema.
    let out = Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.github-workflows"])
        .arg(Path::new(ROOT).join(".github/workflows/release.yml"))
        .output()
        .expect("check-jsonschema is installed (pip install check-jsonschema==0.39.0)");
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // A broken workflow is refused: the check can fail.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("release.yml");
    std::fs::write(
        &broken,
        workflow.replace("runs-on: ${{ matrix.os }}", "runs_on: ${{ matrix.os }}"),
    )
    .unwrap();
    let out = Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.github-workflows"])
        .arg(&broken)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a job without runs-on passed the schema"
    );
}
