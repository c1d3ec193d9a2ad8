//! Property tests of the scenario loader: any text, in either format, gives a scenario or
//! positioned errors — never a panic — and what it accepts is something the runner can use.
//! Inputs: arbitrary text, real scenario files with random edits, and documents generated from
//! the scenario model (the same document written as TOML and as JSON must mean the same).
//!
//! The default case count keeps `cargo test` fast; a campaign sets more:
//! `PROPTEST_CASES=200000 cargo test --release --test fuzz_scenario`.

use std::path::Path;

use proptest::prelude::*;
use serde_json::{Value, json};
use sipa_check::plan::Plan;
use sipa_check::scenario::{self, Format, Scenario, ScenarioErrors};

/// `PROPTEST_CASES` when set, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The password planted in proxy and observer URLs: it must never be echoed in an error.
const PLANTED: &str = "Pw7zq";

fn source(format: Format) -> &'static Path {
    match format {
        Format::Toml => Path::new("fuzz.toml"),
        Format::Json => Path::new("fuzz.json"),
    }
}

/// Whether `shown` holds the planted password where a URL's userinfo would have it: after a
/// ':' and before an '@'. (Edits may also leave it as a user name or a port: not a password.)
fn shows_planted_password(shown: &str) -> bool {
    shown
        .match_indices(&format!(":{PLANTED}"))
        .any(|(at, _)| shown[at..].contains('@'))
}

/// Loads `text` and checks what every load must satisfy, whatever the input.
fn load(text: &str, format: Format) -> Result<Result<Scenario, ScenarioErrors>, TestCaseError> {
    let result = scenario::load_str(text, source(format), format);
    match &result {
        Err(errors) => {
            prop_assert!(!errors.is_empty(), "an error result without errors");
            let lines: Vec<&str> = text.split('\n').collect();
            let mut last = (0, 0);
            for e in errors.iter() {
                prop_assert!(!e.message.trim().is_empty(), "an empty message");
                let Some(at) = e.at else {
                    return Err(TestCaseError::fail(format!(
                        "an error in the text without a position: {e}"
                    )));
                };
                prop_assert!(at.line >= 1 && at.col >= 1, "{e}");
                let line = lines.get(at.line as usize - 1);
                prop_assert!(line.is_some(), "line past the end: {e}");
                let width = line.map_or(0, |l| l.chars().count()) as u32;
                prop_assert!(at.col <= width + 1, "column past the line's end: {e}");
                prop_assert!(
                    (at.line, at.col) >= last,
                    "errors out of file order: {errors}"
                );
                last = (at.line, at.col);
                prop_assert!(
                    !shows_planted_password(&e.message),
                    "an error repeats the planted password: {e}"
                );
            }
            let _ = errors.to_string();
        }
        Ok(s) => check_valid(s)?,
    }
    Ok(result)
}

/// What validation promises the runner about an accepted scenario.
fn check_valid(s: &Scenario) -> Result<(), TestCaseError> {
    prop_assert!(!s.name.is_empty());
    prop_assert!(!s.login.hosts.is_empty());
    prop_assert!(!s.login.ports.is_empty() && s.login.ports.iter().all(|p| p.get() != 0));
    prop_assert!(s.login.openid_path.starts_with('/'));
    prop_assert!(s.limits.timeout > std::time::Duration::ZERO);
    prop_assert!(s.limits.timeout <= s.limits.deadline);
    prop_assert!((1..=1024).contains(&s.limits.concurrency));
    for o in &s.observers {
        prop_assert!(matches!(o.url.scheme(), "http" | "https"), "{}", o.url);
        prop_assert!(o.url.host_str().is_some_and(|h| !h.is_empty()));
        prop_assert!(o.url.password().is_none());
        prop_assert!((1..=100).contains(&o.samples));
    }
    // The planted password may stay in free text (a description, say), never in a URL.
    if let Some(proxy) = &s.vantage.proxy {
        prop_assert!(proxy.password.is_none(), "a password from the file");
        let debug = format!("{proxy:?}");
        prop_assert!(!shows_planted_password(&debug), "{debug}");
    }
    for o in &s.observers {
        prop_assert!(!shows_planted_password(o.url.as_str()), "{}", o.url);
    }
    // Everything downstream of validation takes it without a panic.
    let plan = Plan::build(s, &[]);
    prop_assert!(!plan.checks.is_empty());
    serde_json::to_string(s).expect("a scenario serializes");
    let _ = format!("{s:?}");
    Ok(())
}

// ---- real files as seeds, edited at random ----

const SEEDS: &[(&str, Format)] = &[
    (scenario::OFFICE365_TOML, Format::Toml),
    (scenario::LAB_TOML, Format::Toml),
    (
        include_str!("../scenarios/examples/branch-explicit-proxy.toml"),
        Format::Toml,
    ),
    (
        include_str!("../scenarios/examples/branch-explicit-proxy.json"),
        Format::Json,
    ),
    (
        include_str!("../scenarios/examples/outside-trusted-location.toml"),
        Format::Toml,
    ),
    (
        include_str!("../scenarios/examples/public-echo-services.toml"),
        Format::Toml,
    ),
    (
        include_str!("fixtures/invalid/many-errors.toml"),
        Format::Toml,
    ),
    (
        include_str!("fixtures/invalid/many-errors-json.json"),
        Format::Json,
    ),
    (
        include_str!("fixtures/invalid/unicode-columns.toml"),
        Format::Toml,
    ),
    (
        include_str!("fixtures/invalid/proxy-password.toml"),
        Format::Toml,
    ),
];

/// Tokens that tend to matter to a TOML or JSON reader, or to validation.
const TOKENS: &[&str] = &[
    "\"",
    "'",
    "'''",
    "\"\"\"",
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    ",",
    "=",
    ":",
    "\n",
    "\r\n",
    "\r",
    "#",
    "\\",
    "\\u0000",
    "\\uD800",
    "\0",
    "\t",
    " ",
    "é",
    "漢",
    "\u{feff}",
    "\u{2028}",
    "🦀",
    "-",
    "+",
    ".",
    "1e309",
    "-0",
    "0x10",
    "99999999999999999999999999999999999999999",
    "1_000",
    "nan",
    "inf",
    "true",
    "null",
    "[[observer]]",
    "[login]",
    "[vantage]",
    "[limits]",
    "[anchor]",
    "hosts",
    "ports",
    "expect",
    "extract",
    "samples",
    "timeout",
    "deadline",
    "family",
    "concurrency",
    "proxy",
    "dns",
    "ca_files",
    "url",
    "role",
    "name",
    "openid_path",
    "expect_anchored",
    "{ json = \"/ip\" }",
    "{ regex = \"(\" }",
    "{ header = \"\" }",
    "\"0s\"",
    "\"1h\"",
    "\"2562047788015216h\"",
    "\"5 s\"",
    "\"1.5s\"",
    "\"-1s\"",
    "\"both\"",
    "\"http://u:Pw7zq@proxy:1\"",
    "\"http://u:Pw7zq/x@proxy:1\"",
    "\"https://u:Pw7zq@echo/ip\"",
    "\"http://[::1]:0/ip\"",
    "\"203.0.113.7/24\"",
    "\"::/0\"",
    "\"[::1]:53\"",
    "65536",
    "-1",
    "0",
];

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, &'static str),
    Delete(usize, usize),
    Duplicate(usize, usize),
    Byte(usize, char),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), prop::sample::select(TOKENS)).prop_map(|(at, t)| Edit::Insert(at, t)),
        3 => (any::<usize>(), 1usize..40).prop_map(|(at, n)| Edit::Delete(at, n)),
        1 => (any::<usize>(), 1usize..80).prop_map(|(at, n)| Edit::Duplicate(at, n)),
        2 => (any::<usize>(), any::<char>()).prop_map(|(at, c)| Edit::Byte(at, c)),
    ]
}

/// The char boundary at or before `at % (len + 1)`.
fn boundary(text: &str, at: usize) -> usize {
    let mut i = at % (text.len() + 1);
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut t = text.to_string();
    for e in edits {
        match *e {
            Edit::Insert(at, token) => {
                let i = boundary(&t, at);
                t.insert_str(i, token);
            }
            Edit::Delete(at, n) => {
                let i = boundary(&t, at);
                let j = boundary(&t, i + n.min(t.len() - i));
                t.replace_range(i..j.max(i), "");
            }
            Edit::Duplicate(at, n) => {
                let i = boundary(&t, at);
                let j = boundary(&t, i + n.min(t.len() - i)).max(i);
                let copy = t[i..j].to_string();
                t.insert_str(j, &copy);
            }
            Edit::Byte(at, c) => {
                let i = boundary(&t, at);
                match t[i..].chars().next() {
                    Some(old) => t.replace_range(i..i + old.len_utf8(), c.encode_utf8(&mut [0; 4])),
                    None => t.push(c),
                }
            }
        }
    }
    t
}

// ---- documents generated from the model ----

fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("")),
        "[ -~]{0,12}".prop_map(Value::String),
        any::<i64>().prop_map(|n| json!(n)),
        prop::sample::select(vec![
            0i64, 1, -1, 80, 443, 65535, 65536, 100, 101, 1024, 1025
        ])
        .prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        any::<bool>().prop_map(|b| json!(b)),
        Just(json!([])),
        Just(json!({})),
    ]
}

/// A value that is often right for `key`, sometimes wrong in a realistic way, sometimes anything.
fn value_for(key: &'static str) -> BoxedStrategy<Value> {
    let pool: Vec<Value> = match key {
        "name" | "description" => vec![
            json!("contoso"),
            json!(" "),
            json!("é漢🦀"),
            json!("a\u{7}b"),
        ],
        "hosts" => vec![
            json!(["login.microsoftonline.com", "login.windows.net"]),
            json!(["LOGIN.Windows.NET."]),
            json!(["login.windows.net", "login.windows.net"]),
            json!(["127.0.0.1"]),
            json!(["a..b"]),
            json!(["https://login.windows.net/"]),
            json!([]),
        ],
        "ports" => vec![
            json!([80, 443]),
            json!([443]),
            json!([0]),
            json!([80, 80]),
            json!([65536]),
            json!(["80"]),
        ],
        "openid_path" => vec![
            json!("/common/.well-known/openid-configuration"),
            json!("x"),
            json!("/"),
        ],
        "expect" => vec![
            json!(["203.0.113.7", "198.51.100.0/29"]),
            json!(["198.51.100.1/29"]),
            json!(["::/0"]),
            json!(["1.2.3.4/33"]),
            json!(["example.com"]),
            json!([]),
        ],
        "role" => vec![json!("anchored"), json!("control"), json!("Anchored")],
        "url" => vec![
            json!("http://canary.example.com/ip"),
            json!("https://127.0.0.1:8443/ip"),
            json!("https://[::1]/ip"),
            json!("https://u:Pw7zq@canary.example.com/ip"),
            json!("https:u:Pw7zq@canary.example.com/ip"),
            json!("https://u:Pw7zq#x@canary.example.com/ip"),
            json!("ftp://x/ip"),
            json!("https:///ip"),
            json!("canary.example.com/ip"),
        ],
        "extract" => vec![
            json!("text"),
            json!({"json": "/ip"}),
            json!({"json": "ip"}),
            json!({"header": "X-Client-IP"}),
            json!({"header": "bad name"}),
            json!({"regex": r"ip=(\S+)"}),
            json!({"regex": "("}),
            json!({"regex": "a{1000}{1000}"}),
            json!({"json": "/a", "regex": "b"}),
            json!("json"),
        ],
        "samples" => vec![json!(1), json!(3), json!(0), json!(101), json!(-5)],
        "dns" => vec![
            json!(["127.0.0.1:5353", "::1"]),
            json!(["[::1]:0"]),
            json!(["dns.example.com"]),
        ],
        "proxy" => vec![
            json!("http://proxy.example.com:3128"),
            json!("http://jdoe@proxy.example.com:8080"),
            json!("http://jdoe:Pw7zq@proxy.example.com:8080"),
            json!("http://jdoe:Pw7zq/x@proxy.example.com:8080"),
            json!("http://jdoe:Pw7zq@"),
            json!("jdoe:Pw7zq@proxy.example.com:8080"),
            json!("http:jdoe:Pw7zq@proxy.example.com"),
            json!("https://proxy.example.com"),
            json!("socks5://proxy.example.com"),
            json!("proxy.example.com:8080"),
        ],
        "ca_files" => vec![json!(["zscaler-root.pem"]), json!([""])],
        "expect_anchored" => vec![json!(true), json!(false), json!("yes")],
        "timeout" | "deadline" => vec![
            json!("5s"),
            json!("800ms"),
            json!("2m"),
            json!("0s"),
            json!("1h"),
            json!("11m"),
            json!("5"),
            json!(5),
            json!("-1s"),
            json!("1e3s"),
            json!("99999999999999999999h"),
        ],
        "family" => vec![
            json!("4"),
            json!("6"),
            json!("both"),
            json!(4),
            json!(6),
            json!(5),
            json!("ipv4"),
        ],
        "concurrency" => vec![json!(1), json!(64), json!(0), json!(1025)],
        _ => vec![json!("?")],
    };
    prop_oneof![
        5 => prop::sample::select(pool),
        1 => any_value(),
    ]
    .boxed()
}

/// A table with some of `keys` (and now and then an unknown one).
fn table(keys: &'static [&'static str]) -> BoxedStrategy<Value> {
    let entries: Vec<BoxedStrategy<Option<(&'static str, Value)>>> = keys
        .iter()
        .map(|&k| prop::option::weighted(0.7, value_for(k).prop_map(move |v| (k, v))).boxed())
        .collect();
    (entries, prop::option::weighted(0.05, any_value()))
        .prop_map(|(entries, unknown)| {
            let mut map = serde_json::Map::new();
            for (k, v) in entries.into_iter().flatten() {
                map.insert(k.to_string(), v);
            }
            if let Some(v) = unknown {
                map.insert("unknown_key".into(), v);
            }
            Value::Object(map)
        })
        .boxed()
}

fn document() -> impl Strategy<Value = Value> {
    let top = (
        prop::option::weighted(0.9, value_for("name")),
        prop::option::weighted(0.2, value_for("description")),
        prop::option::weighted(0.9, table(&["hosts", "ports", "openid_path"])),
        prop::option::weighted(0.6, table(&["expect"])),
        prop::option::weighted(
            0.6,
            prop::collection::vec(table(&["name", "role", "url", "extract", "samples"]), 0..4),
        ),
        prop::option::weighted(
            0.5,
            table(&["name", "dns", "proxy", "ca_files", "expect_anchored"]),
        ),
        prop::option::weighted(
            0.5,
            table(&["timeout", "deadline", "samples", "family", "concurrency"]),
        ),
    );
    top.prop_map(
        |(name, description, login, anchor, observer, vantage, limits)| {
            let mut map = serde_json::Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    map.insert(k.to_string(), v);
                }
            };
            put("name", name);
            put("description", description);
            put("login", login);
            put("anchor", anchor);
            put("observer", observer.map(Value::Array));
            put("vantage", vantage);
            put("limits", limits);
            Value::Object(map)
        },
    )
}

/// The same scenario, wherever it came from: `source` aside.
fn same(a: &Scenario, b: &Scenario) -> bool {
    let mut b = b.clone();
    b.source = a.source.clone();
    *a == b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_in_either_format(text in any::<String>(), json in any::<bool>()) {
        let format = if json { Format::Json } else { Format::Toml };
        let _ = load(&text, format)?;
    }

    #[test]
    fn edited_real_files(
        seed in prop::sample::select(SEEDS),
        edits in prop::collection::vec(edit(), 1..8),
        swap_format in prop::bool::weighted(0.1),
    ) {
        let (text, format) = seed;
        let format = match (format, swap_format) {
            (f, false) => f,
            (Format::Toml, true) => Format::Json,
            (Format::Json, true) => Format::Toml,
        };
        let edited = apply(text, &edits);
        let first = load(&edited, format)?;
        // Loading is a pure function of the text.
        let again = scenario::load_str(&edited, source(format), format);
        match (&first, &again) {
            (Ok(a), Ok(b)) => prop_assert!(same(a, b)),
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            _ => prop_assert!(false, "two loads of the same text disagree"),
        }
    }

    #[test]
    fn generated_documents_mean_the_same_in_toml_and_json(doc in document()) {
        let json_text = serde_json::to_string_pretty(&doc).expect("JSON text");
        let from_json = load(&json_text, Format::Json)?;
        // Some values (an empty table inside an array, say) have no TOML form: JSON alone then.
        if let Ok(toml_text) = toml::to_string(&doc) {
            let from_toml = load(&toml_text, Format::Toml)?;
            match (&from_toml, &from_json) {
                (Ok(a), Ok(b)) => prop_assert!(same(a, b), "{toml_text}\n{json_text}"),
                // Both refuse it. The messages may differ: keys come in another order, and a
                // value of the wrong type stops the reading at the first one met.
                (Err(_), Err(_)) => {}
                (a, b) => prop_assert!(
                    false,
                    "TOML and JSON disagree:\n{toml_text}\n=> {a:?}\n{json_text}\n=> {b:?}"
                ),
            }
        }
    }
}
