//! The PAC evaluator against an independent one: Debian's python3-pacparser (SpiderMonkey),
//! over the corpus in tests/fixtures/pac/ (a Zscaler-style hosted PAC, a Microsoft 365 bypass
//! PAC, fail-over chains, IPv6 isInNetEx / dnsResolveEx, shExpMatch patterns, plain host
//! names) and generated mutations of each (swapped domains, changed netmasks and prefixes, case
//! changes, changed directives, a bypass removed, a syntax error), each asked for many URLs:
//! both engines give the same answer for every one (or both refuse the script), except for the
//! differences listed in `known_differences`, each explained and asserted on its own.
//!
//! Deterministic, and loopback only: the corpus resolves only address literals and
//! `localhost` (which pacparser reads from /etc/hosts); the test fails if our evaluator is
//! ever asked to resolve any other name, so neither engine reaches a resolver. It fails loudly
//! when python3-pacparser is missing (Debian package python3-pacparser; /usr/bin/python3, not
//! a pyenv one).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use sipa_check::pac::{Engine, EngineLimits, HostEnv};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pac");
const PYTHON: &str = "/usr/bin/python3";
const MY_IP: &str = "127.0.0.9";

/// Evaluates each case's script with pacparser, Microsoft extensions on, myIpAddress pinned;
/// prints one JSON list of answers per case (`"ERROR: …"` for a refusal).
const DRIVER: &str = r#"
import json, sys
import pacparser
cases = json.load(sys.stdin)
out = []
for case in cases:
    answers = []
    try:
        pacparser.cleanup()
    except Exception:
        pass
    pacparser.enable_microsoft_extensions()
    pacparser.init()
    pacparser.setmyip(case["myip"])
    try:
        pacparser.parse_pac_string(case["script"])
        parsed = True
    except Exception as e:
        parsed = False
        answers = ["ERROR: " + str(e)] * len(case["urls"])
    if parsed:
        for url, host in case["urls"]:
            try:
                answers.append(pacparser.find_proxy(url, host))
            except Exception as e:
                answers.append("ERROR: " + str(e))
    out.append(answers)
json.dump(out, sys.stdout)
"#;

/// Hosts the URLs are made of: login hosts and look-alikes, Microsoft 365 endpoints, plain and
/// corporate names, private, loopback and public address literals of both families.
const HOSTS: &[&str] = &[
    "login.windows.net",
    "LOGIN.Windows.NET",
    "login.microsoftonline.com",
    "a.login.microsoftonline.com",
    "login.microsoft.com",
    "login.microsoftxnline.com",
    "login.example.net",
    "www.microsoft.com",
    "x.y.microsoft.com",
    "outlook.office.com",
    "mail.outlook.office365.com",
    "eur.protection.outlook.com",
    "contoso.sharepoint.com",
    "teams.microsoft.com",
    "portal.office.com",
    "canary.sipa-lab.test",
    "intranet",
    "www",
    "www.corp.example",
    "intranet.corp.example",
    "corp.example",
    "printer.local",
    "download.windowsupdate.com",
    "10.1.2.3",
    "10.0.5.6",
    "10.200.1.1",
    "127.0.0.1",
    "127.1.2.3",
    "192.168.1.10",
    "172.16.0.1",
    "172.32.0.1",
    "203.0.113.7",
    "2001:db8::1",
    "2001:db8:abcd::5",
    "2001:db9::1",
    "fe80::1",
    "::1",
    "localhost",
];

fn urls() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for host in HOSTS {
        let shown = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        for url in [
            format!("https://{shown}/"),
            format!("http://{shown}/"),
            format!("http://{shown}:8080/x"),
            format!("ftp://{shown}/file"),
            format!("https://{shown}/common/.well-known/openid-configuration"),
        ] {
            out.push((url, host.to_string()));
        }
    }
    out
}

/// The mutations of a script: (name, mutated script).
fn mutations(script: &str) -> Vec<(String, String)> {
    let swaps: &[(&str, &str, &str)] = &[
        (
            "swapped-domains",
            "login.windows.net",
            "login.microsoft.com",
        ),
        ("swapped-suffix", ".corp.example", ".microsoft.com"),
        ("netmask-wider", "255.255.0.0", "255.0.0.0"),
        ("netmask-narrower", "255.0.0.0", "255.255.255.0"),
        ("prefix-wider", "/32", "/16"),
        ("prefix-narrower", "/8", "/24"),
        ("prefix-v6", "/48", "/64"),
        ("case-upper-host", "login.windows.net", "LOGIN.Windows.NET"),
        (
            "case-upper-pattern",
            "*.outlook.office.com",
            "*.OUTLOOK.office.com",
        ),
        ("case-no-lowercase", "host.toLowerCase()", "host"),
        (
            "direct-to-proxy",
            "return \"DIRECT\"",
            "return \"PROXY 127.0.0.1:7777\"",
        ),
        ("proxy-to-direct", "PROXY 127.0.0.1:3128", "DIRECT"),
        ("no-plain-bypass", "isPlainHostName(host)", "false"),
        ("glob-question", "login.*", "login.?????*"),
    ];
    let mut out = vec![("original".to_string(), script.to_string())];
    for (name, from, to) in swaps {
        if script.contains(from) {
            out.push((name.to_string(), script.replace(from, to)));
            // The other way too, where it makes a difference.
            if script.contains(to) && !to.contains(from) && !from.contains(to) {
                out.push((format!("{name}-back"), script.replace(to, from)));
            }
        }
    }
    // A syntax error: the script's last brace removed.
    if let Some(at) = script.rfind('}') {
        let mut broken = script.to_string();
        broken.remove(at);
        out.push(("syntax-error".into(), broken));
    }
    out
}

/// Our evaluator, with the offline resolver recording every name it is asked.
fn ours(
    script: &str,
    cases: &[(String, String)],
    asked: &Arc<Mutex<BTreeSet<String>>>,
) -> Vec<String> {
    let base = HostEnv::offline(vec![MY_IP.parse().unwrap()]);
    let seen = asked.clone();
    let resolve = base.resolve.clone();
    let env = HostEnv {
        resolve: Arc::new(move |name: &str| {
            seen.lock().unwrap().insert(name.to_string());
            resolve(name)
        }),
        my_addresses: base.my_addresses,
    };
    match Engine::compile(script, env, EngineLimits::default()) {
        Err(e) => vec![format!("ERROR: {e}"); cases.len()],
        Ok(engine) => cases
            .iter()
            .map(|(url, host)| match engine.find_proxy(url, host) {
                Ok(answer) => answer,
                Err(e) => format!("ERROR: {e}"),
            })
            .collect(),
    }
}

/// pacparser's answers for each script, all in one Python process.
fn theirs(scripts: &[String], cases: &[(String, String)]) -> Vec<Vec<String>> {
    assert!(
        Path::new(PYTHON).exists(),
        "{PYTHON} is missing: install the Debian package python3-pacparser"
    );
    let probe = Command::new(PYTHON)
        .args(["-c", "import pacparser"])
        .output()
        .expect("python3 runs");
    assert!(
        probe.status.success(),
        "python3-pacparser is missing (apt-get install python3-pacparser): {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let input: Vec<serde_json::Value> = scripts
        .iter()
        .map(|s| serde_json::json!({ "script": s, "myip": MY_IP, "urls": cases }))
        .collect();
    let mut child = Command::new(PYTHON)
        .args(["-c", DRIVER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let body = serde_json::to_vec(&input).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(&body).unwrap();
    });
    let out = child.wait_with_output().expect("the driver ends");
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "the pacparser driver failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the driver's JSON")
}

fn is_literal_or_localhost(name: &str) -> bool {
    name.parse::<IpAddr>().is_ok() || name == "localhost"
}

#[test]
fn the_evaluator_answers_as_pacparser_over_the_corpus_and_its_mutations() {
    let cases = urls();
    let mut entries: Vec<_> = std::fs::read_dir(CORPUS)
        .expect("the PAC corpus")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pac"))
        .collect();
    entries.sort();
    assert!(entries.len() >= 6, "{entries:?}");
    let mut named: Vec<(String, String)> = Vec::new();
    for path in &entries {
        let script = std::fs::read_to_string(path).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for (mutation, text) in mutations(&script) {
            named.push((format!("{file} [{mutation}]"), text));
        }
    }
    let scripts: Vec<String> = named.iter().map(|(_, s)| s.clone()).collect();
    let reference = theirs(&scripts, &cases);
    assert_eq!(reference.len(), named.len());
    let asked = Arc::new(Mutex::new(BTreeSet::new()));
    let mut compared = 0;
    let mut refused_by_both = 0;
    let mut differences = Vec::new();
    let mut answers_seen = BTreeSet::new();
    let mut wholly_refused = Vec::new();
    for ((name, script), theirs) in named.iter().zip(&reference) {
        let ours = ours(script, &cases, &asked);
        if ours.iter().all(|a| a.starts_with("ERROR: ")) {
            wholly_refused.push(name.clone());
        }
        for ((url, host), (a, b)) in cases.iter().zip(ours.iter().zip(theirs)) {
            compared += 1;
            let both_refused = a.starts_with("ERROR: ") && b.starts_with("ERROR: ");
            if both_refused {
                refused_by_both += 1;
            } else if a != b {
                differences.push(format!(
                    "{name}: {url} ({host}): ours {a:?}, pacparser {b:?}"
                ));
            } else {
                answers_seen.insert(a.clone());
            }
        }
    }
    let asked = asked.lock().unwrap();
    let strays: Vec<&String> = asked
        .iter()
        .filter(|n| !is_literal_or_localhost(n))
        .collect();
    assert!(
        strays.is_empty(),
        "the corpus resolved names other than literals: {strays:?}"
    );
    assert!(
        differences.is_empty(),
        "{} of {compared} answers differ:\n{}",
        differences.len(),
        differences[..differences.len().min(40)].join("\n")
    );
    eprintln!(
        "{} scripts ({} files and their mutations) × {} URLs: {compared} answers equal ({refused_by_both} refused by both), {} distinct answers",
        named.len(),
        entries.len(),
        cases.len(),
        answers_seen.len()
    );
    // The corpus exercises real decisions, not one answer everywhere.
    assert!(answers_seen.len() >= 20, "{answers_seen:?}");
    eprintln!("refused for every URL: {wholly_refused:?}");
    assert!(
        wholly_refused.iter().all(|n| n.ends_with("[syntax-error]")),
        "only the syntax-error mutations are refused outright: {wholly_refused:?}"
    );
    assert!(
        refused_by_both >= cases.len() * entries.len(),
        "every syntax-error mutation refused by both"
    );
}

/// The known, justified differences: each asserted on both sides, so that a change in either
/// engine shows here.
#[test]
fn known_differences() {
    let cases = vec![(
        "https://login.windows.net/".to_string(),
        "login.windows.net".to_string(),
    )];
    let asked = Arc::new(Mutex::new(BTreeSet::new()));
    let table: &[(&str, &str, &str, &str)] = &[
        (
            // Microsoft's sortIpAddressList (IPv6 before IPv4, each ascending): pacparser
            // does not define it.
            "function FindProxyForURL(u, h) { return sortIpAddressList('10.0.0.2;::1;10.0.0.1'); }",
            "::1;10.0.0.1;10.0.0.2",
            "ERROR",
            "pacparser lacks sortIpAddressList",
        ),
        (
            // Microsoft's getClientVersion ("1.0" in WinHTTP): pacparser does not define it.
            "function FindProxyForURL(u, h) { return getClientVersion(); }",
            "1.0",
            "ERROR",
            "pacparser lacks getClientVersion",
        ),
        (
            // isInNetEx on a name: Microsoft's takes an address; pacparser's compares the name
            // as if it were an IPv6 address (NaN fields) and calls it inside ::/0; ours says no.
            "function FindProxyForURL(u, h) { return isInNetEx('corp', '::/0') ? 'PROXY a:1' : 'DIRECT'; }",
            "DIRECT",
            "PROXY a:1",
            "isInNetEx on a name that is not an address",
        ),
    ];
    let scripts: Vec<String> = table.iter().map(|(s, ..)| s.to_string()).collect();
    let reference = theirs(&scripts, &cases);
    for ((script, our_answer, their_answer, why), theirs) in table.iter().zip(reference) {
        let ours = ours(script, &cases, &asked);
        assert_eq!(ours[0], *our_answer, "{why}: ours");
        if *their_answer == "ERROR" {
            assert!(
                theirs[0].starts_with("ERROR: "),
                "{why}: pacparser gave {:?}",
                theirs[0]
            );
        } else {
            assert_eq!(theirs[0], *their_answer, "{why}: pacparser");
        }
    }
}
