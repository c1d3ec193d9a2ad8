//! The browser's proxy decision against the lab, end to end through the binary: a PAC file
//! served over HTTP that sends a login host DIRECT fails with `pac-direct` for that host only;
//! a dead first proxy fails over to the second, which carries the run to a pass; bad PAC
//! input is an error (exit 3) with its cause id, never a pass; the environment's proxy
//! variables give the same kind of decision. Loopback only.

mod common;
#[path = "common/schema.rs"]
mod schema;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::cli::{sipa, text};
use sipa_check::lab::{Fault, Lab};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sipa-check-pac-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The run's exit, its JSON report and its terminal report.
struct Ran {
    exit: Option<i32>,
    doc: serde_json::Value,
    text: String,
}

impl Ran {
    fn checks(&self) -> Vec<&serde_json::Value> {
        self.doc["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .flat_map(|r| r["checks"].as_array().expect("checks"))
            .collect()
    }

    /// The cause ids of the failures and errors.
    fn causes(&self) -> BTreeSet<String> {
        self.checks()
            .into_iter()
            .filter(|c| matches!(c["status"].as_str(), Some("fail" | "error")))
            .filter_map(|c| c["diagnosis"]["cause"].as_str().map(str::to_owned))
            .collect()
    }

    fn check(&self, name: &str) -> &serde_json::Value {
        self.checks()
            .into_iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no check {name}\n{}", self.text))
    }
}

fn ran(out: &Output, json: &Path) -> Ran {
    let stdout = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let doc = match std::fs::read(json) {
        Ok(bytes) => serde_json::from_slice(&bytes).expect("the JSON report"),
        Err(_) => serde_json::Value::Null,
    };
    Ran {
        exit: out.status.code(),
        doc,
        text: stdout,
    }
}

/// `sipa-check run scenarios/lab.toml FLAGS EXTRA --json …` with `env` set.
fn run(flags: &[String], extra: &[&str], env: &[(&str, &str)], name: &str) -> Ran {
    let dir = scratch(name);
    let json = dir.join("r.json");
    let mut cmd = sipa();
    for var in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .args(["run", "scenarios/lab.toml"])
        .args(flags)
        .args(extra)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("sipa-check runs");
    let r = ran(&out, &json);
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// A PAC file with `body` as FindProxyForURL's, in a scratch directory.
fn pac_file(name: &str, script: &str) -> PathBuf {
    let dir = scratch(&format!("file-{name}"));
    let path = dir.join("proxy.pac");
    std::fs::write(&path, script).unwrap();
    path
}

fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}

fn lab(runtime: &tokio::runtime::Runtime, faults: &[Fault]) -> Lab {
    runtime.block_on(async { common::start_lab(faults, false).await.0 })
}

#[test]
fn a_served_pac_file_that_sends_a_login_host_direct_fails_for_that_host_only() {
    let dir = scratch("served");
    let json = dir.join("r.json");
    let out = sipa()
        .args(["lab", "--fault", "pac-bypasses-login", "--json"])
        .arg(&json)
        .output()
        .expect("sipa-check runs");
    let r = ran(&out, &json);
    assert_eq!(r.exit, Some(1), "{}", r.text);
    assert_eq!(
        r.causes(),
        BTreeSet::from(["pac-direct".to_owned()]),
        "{}",
        r.text
    );
    let failed: BTreeSet<&str> = r
        .checks()
        .into_iter()
        .filter(|c| c["status"] != "pass")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        BTreeSet::from([
            "login.windows.net:80 proxy decision",
            "login.windows.net:443 proxy decision"
        ]),
        "{}",
        r.text
    );
    // The report with its decisions is valid against the report schema.
    schema::validate(
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schemas/report.schema.json"
        )),
        &json,
    )
    .unwrap_or_else(|e| panic!("the report schema refuses a PAC run's report: {e}"));
    let decision = r.check("login.windows.net:443 proxy decision");
    assert_eq!(decision["stage"], "pac");
    assert_eq!(decision["route"], "decision");
    assert_eq!(decision["observation"]["kind"], "proxy_decision");
    assert_eq!(decision["observation"]["decision"]["answer"], "DIRECT");
    assert_eq!(
        decision["observation"]["decision"]["url"],
        "https://login.windows.net/"
    );
    assert!(
        r.text
            .contains("the PAC file sends login.windows.net DIRECT: it never reaches ZIA"),
        "{}",
        r.text
    );
    // The terminal report shows each host's decision on one line.
    let line = r
        .text
        .lines()
        .find(|l| l.trim_start().starts_with("login.windows.net ") && l.contains(":80, :443"))
        .unwrap_or_else(|| panic!("no decision line for login.windows.net\n{}", r.text));
    // Two lines of the lab's PAC file return "DIRECT"; the one that decided is named (the
    // bypass list's, under its `dnsDomainIs(host, "login.windows.net")`).
    assert!(
        line.trim_end().ends_with(":80, :443 DIRECT (line 6)"),
        "{line}"
    );
    assert_eq!(decision["observation"]["decision"]["line"]["line"], 6);
    assert_eq!(
        decision["observation"]["decision"]["line"]["text"],
        "return \"DIRECT\";"
    );
    // The other login hosts go through the lab's proxy, as the PAC file says.
    let other = r.check("login.microsoft.com:443 proxy decision");
    assert_eq!(other["status"], "pass");
    assert!(
        other["observation"]["decision"]["answer"]
            .as_str()
            .unwrap()
            .starts_with("PROXY 127.0.0.1:"),
        "{other}"
    );
    assert_eq!(
        r.check("login.microsoft.com:443 connect (proxy)")["status"],
        "pass"
    );
    // Without the fault the same PAC file passes.
    let out = sipa()
        .args(["lab", "--pac", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let r = ran(&out, &json);
    assert_eq!(r.exit, Some(0), "{}", r.text);
    assert!(
        r.text
            .contains("proxy decision: the PAC file http://pac.sipa-lab.test:"),
        "{}",
        r.text
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_dead_first_proxy_fails_over_to_the_second_which_carries_the_run() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let lab = lab(&runtime, &[]);
    let dead = dead_port();
    let live = lab.proxy_addr();
    let pac = pac_file(
        "failover",
        &format!(
            "function FindProxyForURL(url, host) {{\n    if (isPlainHostName(host)) return \"DIRECT\";\n    return \"PROXY 127.0.0.1:{dead}; PROXY {live}; DIRECT\";\n}}\n"
        ),
    );
    let r = run(
        &lab.run_flags(),
        &["--pac", pac.to_str().unwrap()],
        &[],
        "failover",
    );
    assert_eq!(r.exit, Some(0), "{}", r.text);
    let decision = r.check("login.windows.net:443 proxy decision");
    assert_eq!(decision["status"], "pass", "{decision}");
    assert_eq!(
        decision["reason"],
        format!("PROXY 127.0.0.1:{dead}; PROXY {live}; DIRECT (line 3)")
    );
    let connect = r.check("login.windows.net:443 connect (proxy)");
    assert_eq!(connect["status"], "pass", "{connect}");
    let attempts = connect["observation"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{connect}");
    assert_eq!(attempts[0]["addr"], format!("127.0.0.1:{dead}"));
    assert_eq!(attempts[0]["outcome"]["result"], "refused", "{connect}");
    assert_eq!(attempts[1]["addr"], live.to_string());
    assert!(
        connect["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("carried by {live}")),
        "{connect}"
    );
    // The egress went through the second proxy too: anchored.
    assert_eq!(
        r.check("login.windows.net:443 egress anchored (proxy)")["status"],
        "pass"
    );
    runtime.block_on(lab.shutdown());
}

#[test]
fn dns_resolve_and_my_ip_address_answer_from_the_vantage() {
    // The lab's DNS answers every lab and login name with 127.0.0.1, which no public resolver
    // does: a PAC file that sends only names resolving into 127.0.0.0/8, from a vantage whose
    // address is on loopback, to the proxy passes only if dnsResolve asked the vantage's
    // resolver (--dns) and myIpAddress is the vantage's own address.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let lab = lab(&runtime, &[]);
    let proxy = lab.proxy_addr();
    let pac = pac_file(
        "resolve",
        &format!(
            "function FindProxyForURL(url, host) {{\n\
             \x20   if (!isInNet(myIpAddress(), \"127.0.0.0\", \"255.0.0.0\")) return \"DIRECT\";\n\
             \x20   if (isResolvable(host) && isInNet(host, \"127.0.0.0\", \"255.0.0.0\") &&\n\
             \x20       isInNetEx(dnsResolveEx(host), \"127.0.0.0/8\"))\n\
             \x20       return \"PROXY {proxy}\";\n\
             \x20   return \"DIRECT\";\n}}\n"
        ),
    );
    let r = run(
        &lab.run_flags(),
        &["--pac", pac.to_str().unwrap()],
        &[],
        "resolve",
    );
    assert_eq!(r.exit, Some(0), "{}", r.text);
    assert_eq!(
        r.check("login.microsoftonline.com:443 proxy decision")["reason"],
        format!("PROXY {proxy} (line 5)")
    );
    runtime.block_on(lab.shutdown());
}

#[test]
fn a_control_sent_another_way_than_the_login_hosts_is_reported() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let lab = lab(&runtime, &[]);
    let proxy = lab.proxy_addr();
    let pac = pac_file(
        "control",
        &format!(
            "function FindProxyForURL(url, host) {{\n\
             \x20   if (host == \"control.sipa-lab.test\") return \"DIRECT\";\n\
             \x20   return \"PROXY {proxy}\";\n}}\n"
        ),
    );
    let r = run(
        &lab.run_flags(),
        &["--pac", pac.to_str().unwrap()],
        &[],
        "control",
    );
    // Not a failure: the control still shows an egress outside the anchor set.
    assert_eq!(r.exit, Some(0), "{}", r.text);
    let control = r.check("control.sipa-lab.test:443 proxy decision");
    assert_eq!(control["status"], "pass");
    let warnings = control["warnings"].to_string();
    assert!(
        warnings.contains("the control goes DIRECT while the login hosts go through"),
        "{control}"
    );
    assert!(r.text.contains("the control goes DIRECT"), "{}", r.text);
    // The login hosts' decisions carry no such warning.
    assert!(r.check("login.windows.net:443 proxy decision")["warnings"].is_null());
    runtime.block_on(lab.shutdown());
}

#[test]
fn bad_pac_input_is_an_error_with_its_cause_never_a_pass() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let lab = lab(&runtime, &[]);
    let proxy = lab.proxy_addr();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "syntax",
            "function FindProxyForURL(url, host) {\n  return \"DIRECT\"\n  if (\n}\n".into(),
            "pac-invalid",
        ),
        ("no-function", "function Find(url, host) { return 'DIRECT'; }".into(), "pac-invalid"),
        ("loop", "function FindProxyForURL(url, host) { while (true) {} }".into(), "pac-invalid"),
        (
            "allocation",
            "function FindProxyForURL(url, host) { var a = []; for (;;) a.push(new Array(1e5).fill(a.length)); }".into(),
            "pac-invalid",
        ),
        ("non-string", "function FindProxyForURL(url, host) { return 3128; }".into(), "pac-invalid"),
        (
            "unknown-directive",
            format!("function FindProxyForURL(url, host) {{ return 'PROXIE {proxy}'; }}"),
            "pac-invalid",
        ),
        (
            "socks",
            format!("function FindProxyForURL(url, host) {{ return 'SOCKS5 {proxy}; PROXY {proxy}'; }}"),
            "pac-unprobeable",
        ),
    ];
    for (name, script, cause) in cases {
        let pac = pac_file(name, &script);
        let started = std::time::Instant::now();
        let r = run(
            &lab.run_flags(),
            &["--pac", pac.to_str().unwrap()],
            &[],
            name,
        );
        assert_eq!(r.exit, Some(3), "{name}: {}", r.text);
        assert_eq!(
            r.causes(),
            BTreeSet::from([cause.to_owned()]),
            "{name}: {}",
            r.text
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{name}: bounded, took {:?}",
            started.elapsed()
        );
        let decision = r.check("login.windows.net:443 proxy decision");
        assert_eq!(decision["status"], "error", "{name}");
        if name == "syntax" {
            assert_eq!(
                decision["observation"]["error"]["problem"], "syntax",
                "{decision}"
            );
            assert!(
                decision["observation"]["error"]["line"].as_u64().unwrap() >= 3,
                "{decision}"
            );
            assert!(r.text.contains("line"), "{}", r.text);
        }
    }
    // A PAC URL nothing serves: unavailable.
    let url = format!("http://127.0.0.1:{}/proxy.pac", dead_port());
    let r = run(&lab.run_flags(), &["--pac", &url], &[], "unavailable");
    assert_eq!(r.exit, Some(3), "{}", r.text);
    assert_eq!(
        r.causes(),
        BTreeSet::from(["pac-unavailable".to_owned()]),
        "{}",
        r.text
    );
    runtime.block_on(lab.shutdown());
}

#[test]
fn the_system_proxy_with_no_proxy_covering_a_login_host_fails_like_a_pac_file() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let lab = lab(&runtime, &[]);
    let proxy = format!("http://{}", lab.proxy_addr());
    let env = [
        ("https_proxy", proxy.as_str()),
        ("HTTP_PROXY", proxy.as_str()),
        ("NO_PROXY", "localhost, .windows.net"),
    ];
    let r = run(&lab.run_flags(), &["--system-proxy"], &env, "system");
    assert_eq!(r.exit, Some(1), "{}", r.text);
    assert_eq!(
        r.causes(),
        BTreeSet::from(["pac-direct".to_owned()]),
        "{}",
        r.text
    );
    assert_eq!(
        r.check("login.windows.net:443 proxy decision")["status"],
        "fail"
    );
    assert_eq!(
        r.check("login.microsoft.com:443 proxy decision")["status"],
        "pass"
    );
    assert_eq!(
        r.check("login.microsoft.com:443 connect (proxy)")["status"],
        "pass"
    );
    // Without NO_PROXY every login host goes through the proxy: a pass.
    let r = run(
        &lab.run_flags(),
        &["--system-proxy"],
        &env[..2],
        "system-all",
    );
    assert_eq!(r.exit, Some(0), "{}", r.text);
    runtime.block_on(lab.shutdown());
}

#[test]
fn a_pac_file_over_https_is_fetched_with_the_vantages_trust_anchors() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let lab = lab(&runtime, &[]);
    let url = lab.pac_https_url().to_string();
    // The lab's flags carry its CA (--ca-file): the PAC file's certificate is trusted.
    let r = run(&lab.run_flags(), &["--pac", &url], &[], "https");
    assert_eq!(r.exit, Some(0), "{}", r.text);
    assert_eq!(
        r.check("login.windows.net:443 proxy decision")["observation"]["source"]["location"],
        url
    );
    // Without the lab's CA the certificate is not trusted: the PAC file is unavailable, and
    // the run is inconclusive, never a pass.
    let flags: Vec<String> = lab.run_flags();
    let at = flags
        .iter()
        .position(|f| f == "--ca-file")
        .expect("--ca-file");
    let mut without = flags.clone();
    without.drain(at..at + 2);
    let r = run(&without, &["--pac", &url], &[], "https-untrusted");
    assert_eq!(r.exit, Some(3), "{}", r.text);
    assert_eq!(
        r.causes(),
        BTreeSet::from(["pac-unavailable".to_owned()]),
        "{}",
        r.text
    );
    runtime.block_on(lab.shutdown());
}

#[test]
fn a_pac_file_and_an_explicit_proxy_at_once_are_refused() {
    let out = sipa()
        .args([
            "run",
            "scenarios/lab.toml",
            "--pac",
            "/nonexistent.pac",
            "--proxy",
            "http://127.0.0.1:9",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let dir = scratch("both");
    let scenario = dir.join("s.toml");
    std::fs::write(
        &scenario,
        "name = \"both\"\n[anchor]\nexpect = [\"127.0.0.2\"]\n[vantage]\nproxy = \"http://127.0.0.1:9\"\npac = \"proxy.pac\"\n",
    )
    .unwrap();
    let out = sipa().arg("validate").arg(&scenario).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(said.contains("not both"), "{said}");
    let out = sipa()
        .args(["run", "scenarios/lab.toml", "--pac", "/nonexistent.pac"])
        .arg("--dns")
        .arg("127.0.0.1:9")
        .arg("--proxy")
        .arg("http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
