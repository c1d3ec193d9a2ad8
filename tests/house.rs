//! The house's rules, read from the code (DESIGN.md "Layout"): data flows one way, and the
//! rooms below never import the rooms above. Each rule reads the real `use crate::…` lines of
//! every file under `src/` (test modules left out), so a new import that breaks one fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// A file's text before its test module (a `tests.rs` file is all test code).
fn non_test_text(path: &Path) -> String {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("\n#[cfg(test)]") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

/// The top-level module a file belongs to: `src/verdict/entra.rs` is `verdict`, `src/plan.rs`
/// is `plan`.
fn room(src: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The rooms each `use crate::` statement names (`use crate::{a, b::c}` names `a` and `b`).
fn used_rooms(text: &str) -> BTreeSet<String> {
    let mut rooms = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("use crate::") {
        let after = &rest[at + "use crate::".len()..];
        let end = after.find(';').unwrap_or(after.len());
        let statement = &after[..end];
        if let Some(group) = statement.strip_prefix('{') {
            // Top-level names of a group: split on commas at brace depth zero.
            let mut depth = 0;
            let mut start = 0;
            let group = group.trim_end_matches('}');
            let mut parts = Vec::new();
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        parts.push(&group[start..i]);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            parts.push(&group[start..]);
            for p in parts {
                let name: String = p
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    rooms.insert(name);
                }
            }
        } else {
            let name: String = statement
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            rooms.insert(name);
        }
        rest = &after[end..];
    }
    rooms
}

/// Room -> the rooms it imports, from every file's non-test `use crate::` lines.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let from = room(&src, &f);
        let to = used_rooms(&non_test_text(&f));
        let entry = graph.entry(from.clone()).or_default();
        entry.extend(to.into_iter().filter(|t| *t != from));
    }
    graph
}

fn assert_imports_none(from: &str, forbidden: &[&str]) {
    let graph = import_graph();
    let imports = graph.get(from).cloned().unwrap_or_default();
    let broken: Vec<&&str> = forbidden.iter().filter(|f| imports.contains(**f)).collect();
    assert!(
        broken.is_empty(),
        "{from} imports {broken:?} (all its imports: {imports:?})"
    );
}

#[test]
fn used_rooms_reads_single_and_grouped_imports() {
    let rooms = used_rooms("use crate::a::B;\nuse crate::{c::{D, E}, f};\nuse std::x;");
    assert_eq!(
        rooms.into_iter().collect::<Vec<_>>(),
        vec!["a".to_string(), "c".to_string(), "f".to_string()]
    );
}

#[test]
fn audit_imports_none_of_the_command_layer_the_cli_or_the_lab() {
    assert_imports_none("audit", &["cmd", "command", "cli", "lab"]);
}

#[test]
fn verdict_imports_none_of_report_probe_entra_or_runner() {
    assert_imports_none("verdict", &["report", "probe", "entra", "runner"]);
}

#[test]
fn observation_imports_neither_probe_nor_entra() {
    assert_imports_none("observation", &["probe", "entra"]);
}

#[test]
fn scenario_does_not_import_entra() {
    assert_imports_none("scenario", &["entra"]);
}

/// A loop of rooms importing each other, if any: a path that comes back to where it started.
fn find_loop(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn find_loop_finds_a_loop_and_only_a_loop() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
        }
        g
    };
    assert_eq!(
        find_loop(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])),
        None
    );
    assert_eq!(
        find_loop(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

#[test]
fn no_rooms_import_each_other_in_a_loop() {
    let graph = import_graph();
    assert_eq!(find_loop(&graph), None, "import graph: {graph:#?}");
}
#[test]
fn lab_does_not_import_audit() {
    // A fake checks with its own code (STYLE.md 21).
    assert_imports_none("lab", &["audit"]);
}

/// Files still over the limit, each with why: the test fails when one of them is split (so
/// the exception goes) or when any other file grows past the limit.
const OVER_THE_LIMIT_FOR_NOW: &[&str] = &[];

#[test]
fn no_file_is_over_900_lines_before_its_test_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut over = Vec::new();
    for f in files {
        let lines = non_test_text(&f).lines().count();
        let shown = f.strip_prefix(root).unwrap().display().to_string();
        if lines > 900 {
            over.push(shown);
        }
    }
    over.sort();
    assert_eq!(
        over, OVER_THE_LIMIT_FOR_NOW,
        "files over 900 lines before their tests"
    );
}

/// One saved-report reader (DESIGN.md "Layout"): `report/read.rs` reads a JSON report back,
/// and every reader of saved reports (`complete`, `report merge`) uses it; the report room
/// imports nothing of `complete` to do so.
#[test]
fn the_saved_report_reader_lives_in_report_read() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut defined = Vec::new();
    for f in &files {
        let text = non_test_text(f);
        let shown = f.strip_prefix(&src).unwrap().display().to_string();
        for name in ["fn read_report(", "fn recorded_sign_in(", "enum ReadError"] {
            if text.contains(name) {
                defined.push(format!("{shown}: {name}"));
            }
        }
        if shown.starts_with("report") {
            assert!(
                !used_rooms(&text).contains("complete"),
                "{shown} imports complete"
            );
        }
    }
    defined.sort();
    assert_eq!(
        defined,
        [
            "report/read.rs: enum ReadError",
            "report/read.rs: fn read_report(",
            "report/read.rs: fn recorded_sign_in(",
        ]
    );
}

/// The files under `src/` whose non-test code contains `needle`, as `dir/file.rs`.
fn files_using(needle: &str) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found: Vec<String> = files
        .iter()
        .filter(|f| non_test_text(f).contains(needle))
        .map(|f| f.strip_prefix(&src).unwrap().display().to_string())
        .collect();
    found.sort();
    found
}

/// Two HTTP client stacks, each where docs/development.md says and why: reqwest for the admin
/// APIs and the Pushgateway, hyper driven directly for the probes and Graph. A file that starts
/// using either without the notes saying so fails here.
#[test]
fn http_client_stacks_are_where_the_development_notes_say() {
    let notes =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/development.md"))
            .unwrap();
    let section = notes
        .split("## HTTP stacks")
        .nth(1)
        .expect("docs/development.md has an HTTP stacks section");
    let (hyper_part, reqwest_part) = section
        .split_once("- **reqwest**")
        .expect("a reqwest entry after the hyper one");
    for file in files_using("reqwest::") {
        assert!(
            reqwest_part.contains(&format!("`{file}`")),
            "{file} uses reqwest"
        );
    }
    for file in files_using("hyper::client::conn") {
        let dir = file.rsplit_once('/').map_or("", |(dir, _)| dir);
        assert!(
            hyper_part.contains(&format!("`{file}`")) || hyper_part.contains(&format!("`{dir}/`")),
            "{file} drives hyper's client"
        );
    }
}

/// One body excerpt, one `Retry-After` parser, one JWT signer, one BOM-aware position helper.
#[test]
fn each_shared_helper_is_defined_once() {
    for (definition, home) in [
        ("pub fn excerpt_within(", "observation/mod.rs"),
        ("pub fn retry_after(", "observation/mod.rs"),
        ("pub fn sign_rs256(", "entra/credentials.rs"),
        ("const BOM: char", "scenario/position.rs"),
    ] {
        assert_eq!(files_using(definition), [home], "{definition}");
    }
    for copy in ["fn retry_after(", "fn sign_rs256(", "fn excerpt_within("] {
        assert_eq!(files_using(copy).len(), 1, "{copy}: a second copy");
    }
}
