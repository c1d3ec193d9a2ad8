//! The JSON Schemas under schemas/ say what sipa-check really reads and writes, checked by an
//! independent validator (check-jsonschema, which `.ci/run` installs): every shipped scenario
//! (TOML and JSON) and a file with every key validate against `scenario.schema.json`; real JSON
//! reports (a pass, a failing fault, an Entra run, a pending Entra run, a run cut by its deadline,
//! several vantages, a merged fleet) validate against `report.schema.json`; and one broken
//! fixture per schema rule is refused, each at the key it breaks. Every broken scenario fixture
//! is refused by `sipa-check validate` too (exit 2): the schema refuses nothing sipa-check
//! accepts, and the every-key file shows it accepts what sipa-check accepts.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "common/schema.rs"]
mod schema;

const SCENARIO_SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/scenario.schema.json");
const REPORT_SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/report.schema.json");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schema");

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("sipa-check-schemas-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// Files under `dir` (recursively) whose names end with one of `extensions`, sorted.
fn files(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn sipa_check(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sipa-check"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("sipa-check runs")
}

#[test]
fn both_schemas_are_valid_draft_2020_12_schemas() {
    for schema_file in [SCENARIO_SCHEMA, REPORT_SCHEMA] {
        let text = std::fs::read_to_string(schema_file).expect("the schema");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("the schema is JSON");
        assert_eq!(
            doc["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{schema_file}"
        );
        let out = schema::run(&["--check-metaschema", schema_file]);
        assert!(
            out.status.success(),
            "{schema_file}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// check-jsonschema reads TOML itself (Python's tomllib), so each file is validated as written.
#[test]
fn every_shipped_scenario_validates_against_the_scenario_schema() {
    let shipped = files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"),
        &["toml", "json"],
    );
    assert!(
        shipped.len() >= 10
            && shipped.iter().any(|p| p.ends_with("office365.toml"))
            && shipped
                .iter()
                .any(|p| p.extension().is_some_and(|e| e == "json")),
        "{shipped:?}"
    );
    // The template `sipa-check init` writes, and a file with every key of the model.
    let dir = temp_dir("init");
    let init = sipa_check(&dir, &["init", "sipa-check.toml"]);
    assert!(init.status.success(), "{init:?}");
    let every_key = Path::new(FIXTURES).join("every-key.toml");
    let mut all = shipped.clone();
    all.extend([dir.join("sipa-check.toml"), every_key.clone()]);
    let valid = schema::validate_all(Path::new(SCENARIO_SCHEMA), &all);
    let validate = sipa_check(&dir, &["validate", every_key.to_str().unwrap()]);
    assert_eq!(
        validate.status.code(),
        Some(0),
        "sipa-check accepts every-key.toml: {}",
        String::from_utf8_lossy(&validate.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(words) = valid {
        panic!("{words}");
    }
}

/// The fields of `struct name` in Rust source: its `pub NAME:` lines.
fn struct_fields(source: &str, name: &str) -> Vec<String> {
    let start = source
        .find(&format!("pub(crate) struct {name} {{"))
        .unwrap_or_else(|| panic!("raw.rs has no struct {name}"));
    let body = &source[start..start + source[start..].find("\n}").expect("the struct's end")];
    let mut fields: Vec<String> = body
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub "))
        .filter_map(|l| l.split_once(':').map(|(field, _)| field.to_string()))
        .collect();
    fields.sort();
    fields
}

/// The schema's properties are exactly the keys the scenario model reads (the fields of the
/// raw structs, which refuse any other key), table by table; every-key.toml uses them all.
#[test]
fn the_scenario_schema_names_every_key_of_the_model() {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(SCENARIO_SCHEMA).unwrap()).unwrap();
    let raw = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/scenario/raw.rs"))
        .expect("the scenario model's raw structs");
    let every_key: toml::Table = toml::from_str(
        &std::fs::read_to_string(Path::new(FIXTURES).join("every-key.toml")).unwrap(),
    )
    .expect("every-key.toml is TOML");
    let properties = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    };
    let mut top: Vec<String> = every_key.keys().cloned().collect();
    top.sort();
    assert_eq!(
        properties(&schema),
        struct_fields(&raw, "RawScenario"),
        "top level"
    );
    assert_eq!(
        top,
        struct_fields(&raw, "RawScenario"),
        "every-key.toml, top level"
    );
    let defs = &schema["$defs"];
    for (table, raw_struct, in_schema) in [
        ("login", "RawLogin", &schema["properties"]["login"]),
        ("anchor", "RawAnchor", &schema["properties"]["anchor"]),
        ("limits", "RawLimits", &schema["properties"]["limits"]),
        ("entra", "RawEntra", &schema["properties"]["entra"]),
        ("observer", "RawObserver", &defs["observer"]),
        ("vantage", "RawVantage", &defs["vantage"]),
    ] {
        let model = struct_fields(&raw, raw_struct);
        assert!(!model.is_empty(), "{raw_struct}");
        assert_eq!(
            properties(in_schema),
            model,
            "[{table}] against {raw_struct}"
        );
        assert_eq!(in_schema["additionalProperties"], false, "[{table}]");
        let mut used: Vec<String> = match &every_key[table] {
            toml::Value::Table(t) => t.keys().cloned().collect(),
            toml::Value::Array(entries) => entries
                .iter()
                .flat_map(|e| e.as_table().expect("a table").keys().cloned())
                .collect(),
            other => panic!("{table}: {other:?}"),
        };
        used.sort();
        used.dedup();
        assert_eq!(used, model, "every-key.toml [{table}]");
    }
}

/// One broken scenario per rule: refused by the schema at the key it breaks (the fixture's
/// `# schema:` line), and by `sipa-check validate` with exit 2.
#[test]
fn every_broken_scenario_fixture_is_refused_by_the_schema_and_by_sipa_check() {
    let fixtures = files(&Path::new(FIXTURES).join("scenario"), &["toml"]);
    assert!(fixtures.len() >= 30, "{fixtures:?}");
    let dir = temp_dir("broken-scenarios");
    let words = match schema::validate_all(Path::new(SCENARIO_SCHEMA), &fixtures) {
        Ok(()) => panic!("the schema accepts every broken fixture"),
        Err(words) => words,
    };
    let mut failures = Vec::new();
    for fixture in &fixtures {
        let text = std::fs::read_to_string(fixture).unwrap();
        let at = text
            .lines()
            .find_map(|l| l.strip_prefix("# schema: "))
            .unwrap_or_else(|| panic!("{}: no `# schema:` line", fixture.display()));
        if !words.contains(&format!("{}::{at}: ", fixture.display())) {
            failures.push(format!(
                "{}: not refused at {at} by the schema",
                fixture.display()
            ));
        }
        let validate = sipa_check(&dir, &["validate", fixture.to_str().unwrap()]);
        if validate.status.code() != Some(2) {
            failures.push(format!(
                "{}: sipa-check validate exited {:?}",
                fixture.display(),
                validate.status.code()
            ));
        }
    }
    if !failures.is_empty() {
        failures.push(words);
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The reports of real runs: the lab passing, a failing fault, through the explicit proxy with
/// SSL inspection, an Entra run, an Entra run whose sign-ins never reach the log (pending), a
/// run cut by its deadline, two vantages at once, and those merged into a fleet report.
#[test]
fn real_reports_validate_against_the_report_schema() {
    let dir = temp_dir("reports");
    let runs: [(&str, &[&str], i32, &str); 7] = [
        ("pass.json", &[], 0, "pass"),
        (
            "fail.json",
            &["--fault", "one-domain-unanchored"],
            1,
            "fail",
        ),
        (
            "proxy.json",
            &["--via-proxy", "--fault", "tls-intercept"],
            1,
            "fail",
        ),
        ("entra.json", &["--entra"], 0, "pass"),
        (
            "pending.json",
            &["--entra", "--fault", "sign-in-never-ingested"],
            3,
            "error",
        ),
        (
            "cut.json",
            &[
                "--fault",
                "blackhole-tls",
                "--timeout",
                "2s",
                "--deadline",
                "2s",
            ],
            3,
            "error",
        ),
        ("places.json", &["--places"], 0, "pass"),
    ];
    let mut reports = Vec::new();
    for (file, flags, code, overall) in runs {
        let mut args = vec!["lab", "-q", "--json", file];
        args.extend_from_slice(flags);
        let out = sipa_check(&dir, &args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "lab {flags:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
        assert_eq!(doc["overall"], overall, "{file}");
        reports.push(dir.join(file));
    }
    // What the optional fields are there for really appears in these reports.
    let text = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    assert!(text("pending.json").contains("\"pending_sign_ins\""));
    assert!(text("cut.json").contains("\"cut_short\""));
    assert!(text("entra.json").contains("\"entra\": {"));
    assert!(text("fail.json").contains("\"diagnosis\""));
    assert!(text("places.json").contains("\"bind\""));
    let merged = sipa_check(
        &dir,
        &[
            "report",
            "merge",
            "-q",
            "pass.json",
            "places.json",
            "--json",
            "fleet.json",
        ],
    );
    assert!(merged.status.success(), "{merged:?}");
    assert!(text("fleet.json").contains("\"merged_from\""));
    reports.push(dir.join("fleet.json"));

    reports.push(Path::new(FIXTURES).join("report-valid.json"));
    let valid = schema::validate_all(Path::new(REPORT_SCHEMA), &reports);
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(words) = valid {
        panic!("{words}");
    }
}

/// One broken report per rule (each a copy of report-valid.json with one thing wrong), refused
/// at the key it breaks, as report-expected.json lists them.
#[test]
fn every_broken_report_fixture_is_refused_by_the_schema() {
    let expected: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(Path::new(FIXTURES).join("report-expected.json")).unwrap(),
    )
    .unwrap();
    let fixtures = files(&Path::new(FIXTURES).join("report"), &["json"]);
    assert_eq!(fixtures.len(), expected.len(), "{fixtures:?}");
    assert!(
        expected.contains_key("missing-format-version") && expected.contains_key("bad-overall")
    );
    let words = match schema::validate_all(Path::new(REPORT_SCHEMA), &fixtures) {
        Ok(()) => panic!("the schema accepts every broken report"),
        Err(words) => words,
    };
    let mut failures = Vec::new();
    for fixture in &fixtures {
        let name = fixture.file_stem().unwrap().to_str().unwrap();
        let at = expected[name]["schema"]
            .as_str()
            .expect("where it is refused");
        if !words.contains(&format!("{}::{at}: ", fixture.display())) {
            failures.push(format!("{name}: not refused at {at}"));
        }
    }
    assert!(failures.is_empty(), "{}\n{words}", failures.join("\n"));
}

/// The report schema names every cause id the verdict can give, and no other.
#[test]
fn the_report_schema_lists_every_cause_id() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/report.schema.json"),
        )
        .expect("the report schema"),
    )
    .expect("JSON");
    let listed: Vec<&str> =
        schema["$defs"]["check"]["properties"]["diagnosis"]["properties"]["cause"]["enum"]
            .as_array()
            .expect("an enum of cause ids")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
    let ids: Vec<&str> = sipa_check::cause::Cause::ALL
        .iter()
        .map(|c| c.id())
        .collect();
    assert_eq!(listed, ids);
}
