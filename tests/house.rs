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

// ---- Files: no two files import each other in a loop ----

/// A file's module path: `src/probe/egress.rs` is `probe::egress`, `src/probe/mod.rs` is
/// `probe`, `src/lib.rs` the crate root.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut path: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if path
        .last()
        .is_some_and(|l| l == "mod" || l == "lib" || l == "main")
    {
        path.pop();
    }
    path
}

/// The file of a module path, if that module has one.
fn module_file(src: &Path, path: &[String]) -> Option<PathBuf> {
    if path.is_empty() {
        return Some(src.join("lib.rs"));
    }
    let base = path.iter().fold(src.to_path_buf(), |p, s| p.join(s));
    [base.with_extension("rs"), base.join("mod.rs")]
        .into_iter()
        .find(|f| f.is_file())
}

/// `a::{b, c::{d, e}}` as whole paths: `a::b`, `a::c::d`, `a::c::e`.
fn expand_use(prefix: &[String], tree: &str) -> Vec<Vec<String>> {
    let tree = tree.trim();
    if let Some(open) = tree.find('{')
        && tree.ends_with('}')
    {
        let head: Vec<String> = tree[..open]
            .split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let prefix: Vec<String> = prefix.iter().cloned().chain(head).collect();
        let inner = &tree[open + 1..tree.len() - 1];
        let (mut depth, mut start, mut out) = (0, 0, Vec::new());
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.extend(expand_use(&prefix, &inner[start..i]));
                    start = i + 1;
                }
                _ => {}
            }
        }
        if !inner[start..].trim().is_empty() {
            out.extend(expand_use(&prefix, &inner[start..]));
        }
        return out;
    }
    let name = tree.split(" as ").next().unwrap_or_default();
    let segments = name
        .split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from);
    vec![prefix.iter().cloned().chain(segments).collect()]
}

/// The child modules a file declares (`mod x;`, `pub mod x;`, `pub(crate) mod x;`).
fn child_modules(code: &str) -> BTreeSet<String> {
    code.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l
                .strip_prefix("pub(crate) ")
                .or(l.strip_prefix("pub "))
                .unwrap_or(l);
            Some(
                l.strip_prefix("mod ")?
                    .strip_suffix(';')?
                    .trim()
                    .to_string(),
            )
        })
        .collect()
}

/// The paths a file's code names: its `use` trees, and every path written inline that starts
/// at `crate`, `super`, `self` or one of its own child modules (`child::f()`).
fn named_paths(text: &str) -> Vec<Vec<String>> {
    // Line comments say nothing of imports (a `//` inside a string only shortens what is read).
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let children = child_modules(&code);
    let mut paths = Vec::new();
    // The use trees, taken out of the code so the inline scan below does not read them again.
    let mut inline = String::with_capacity(code.len());
    let mut rest = code.as_str();
    while let Some(at) = rest.find("use ") {
        let before = code.len() - rest.len() + at;
        let prev = before.checked_sub(1).map(|i| code.as_bytes()[i]);
        let boundary = prev.is_none_or(|b| !b.is_ascii_alphanumeric() && b != b'_');
        let after = &rest[at + 4..];
        let end = after.find(';').unwrap_or(after.len());
        if boundary {
            inline.push_str(&rest[..at]);
            paths.extend(expand_use(&[], &after[..end]));
        } else {
            inline.push_str(&rest[..at + 4 + end]);
        }
        rest = &after[end..];
    }
    inline.push_str(rest);
    let code = inline;
    let bytes = code.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if word(bytes[i]) && (i == 0 || (!word(bytes[i - 1]) && bytes[i - 1] != b':')) {
            let start = i;
            while i < bytes.len()
                && (word(bytes[i]) || (bytes[i] == b':' && bytes.get(i + 1) == Some(&b':')))
            {
                i += if bytes[i] == b':' { 2 } else { 1 };
            }
            let path: Vec<String> = code[start..i]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            let first = path.first().map(String::as_str).unwrap_or_default();
            if path.len() > 1
                && (matches!(first, "crate" | "super" | "self") || children.contains(first))
            {
                paths.push(path);
            }
        } else {
            i += 1;
        }
    }
    paths
}

/// File -> the files it imports (the deepest module file each named path reaches).
fn file_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let shown = |f: &Path| f.strip_prefix(&src).unwrap().display().to_string();
    let mut graph = BTreeMap::new();
    for f in &files {
        let me = module_path(&src, f);
        let text = non_test_text(f);
        let children = child_modules(&text);
        let mut to = BTreeSet::new();
        for path in named_paths(&text) {
            let mut full = match path[0].as_str() {
                "crate" => Vec::new(),
                "self" => me.clone(),
                "super" => me.clone(),
                first if children.contains(first) => me.clone(),
                _ => continue,
            };
            let mut rest = &path[..];
            match path[0].as_str() {
                "crate" | "self" => rest = &path[1..],
                "super" => {
                    while rest.first().is_some_and(|s| s == "super") {
                        full.pop();
                        rest = &rest[1..];
                    }
                }
                _ => {}
            }
            full.extend(rest.iter().cloned());
            let target = (0..=full.len())
                .rev()
                .find_map(|k| module_file(&src, &full[..k]));
            if let Some(target) = target
                && target != *f
            {
                to.insert(shown(&target));
            }
        }
        graph.insert(shown(f), to);
    }
    graph
}

/// The files that stand in an import loop, each loop (a strongly connected set) as one sorted
/// list.
fn file_loops(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(n) = todo.pop() {
            for next in graph.get(&n).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|k| (k, reach(k))).collect();
    let mut loops: Vec<Vec<String>> = Vec::new();
    for (a, from_a) in &reaches {
        if loops.iter().any(|l| l.contains(a)) || !from_a.contains(*a) {
            continue;
        }
        let mut members: Vec<String> = from_a
            .iter()
            .filter(|b| reaches.get(b).is_some_and(|r| r.contains(*a)))
            .cloned()
            .collect();
        members.sort();
        loops.push(members);
    }
    loops.sort();
    loops
}

#[test]
fn the_file_graph_reads_use_trees_inline_paths_and_child_modules() {
    let paths = named_paths(
        "mod child;\nuse super::{a::B, c};\nuse crate::x::{y::{Z, W}};\nfn f() { child::g(); crate::q::r(); other::s(); }\n// crate::in_a_comment::x\n",
    );
    let shown: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        shown,
        [
            "super::a::B",
            "super::c",
            "crate::x::y::Z",
            "crate::x::y::W",
            "child::g",
            "crate::q::r"
        ]
    );
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    assert!(file_loops(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])).is_empty());
    assert_eq!(
        file_loops(&graph(&[("m", "c"), ("c", "m"), ("x", "m")])),
        [vec!["c".to_string(), "m".to_string()]]
    );
}

#[test]
fn no_two_files_import_each_other_in_a_loop() {
    let graph = file_graph();
    let loops = file_loops(&graph);
    let shown: Vec<Vec<&str>> = loops
        .iter()
        .map(|l| l.iter().map(String::as_str).collect())
        .collect();
    // None left: where a parent and its children shared items, they moved into a child file
    // both import (`observation/ms.rs`, `serve/exporter.rs`, `lab/world.rs`, `probe/ctx.rs`,
    // `probe/trust.rs`, `verdict/expectation.rs`, `verdict/sample.rs` and the like).
    let left: Vec<Vec<&str>> = Vec::new();
    let detail: Vec<String> = loops
        .iter()
        .flatten()
        .map(|f| {
            let inside: Vec<&String> = graph[f]
                .iter()
                .filter(|t| loops.iter().any(|l| l.contains(f) && l.contains(t)))
                .collect();
            format!("{f} -> {inside:?}")
        })
        .collect();
    assert_eq!(
        shown,
        left,
        "files that import each other in a loop (each loop's files):\n{}",
        detail.join("\n")
    );
}
