//! The fleet page in a real browser: headless Chromium (/usr/bin/chromium) renders the HTML of
//! `report merge` without a script or console error, shows the matrix, and loads nothing from
//! anywhere, not even when a hostile report tries. The screenshot is kept as a test artifact:
//! target/test-artifacts/fleet.png.
//!
//! Chromium's own traffic (it asks for updates and the time even with
//! --disable-background-networking) goes to a proxy on loopback that this test runs and that
//! answers nothing, and its resolver is told every name is unknown: nothing leaves the machine,
//! and any request the page itself made would be seen there.

mod fleet_support;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fleet_support::{fleet, lab_report, report, text};

const CHROMIUM: &str = "/usr/bin/chromium";
/// Chromium may start slowly on a loaded machine: generous, and never a flaky failure.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(240);
/// The host a hostile report points its loads at; seen at the proxy, it is a leak.
const LEAK_HOST: &str = "leak.sipa-fleet.test";

/// One Chromium at a time: the machine has two cores.
static ONE_BROWSER: Mutex<()> = Mutex::new(());

/// A loopback proxy that records each request's head and answers nothing.
struct ProxySink {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProxySink {
    fn start() -> ProxySink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopped) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        let _ = conn.set_nonblocking(false);
                        let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                        let mut head = vec![0; 4096];
                        let n = conn.read(&mut head).unwrap_or(0);
                        seen.lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&head[..n]).into_owned());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        ProxySink {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// The requests that name the leak host.
    fn leaks(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.contains(LEAK_HOST))
            .collect()
    }
}

impl Drop for ProxySink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A running Chromium, killed if the test ends first.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What Chromium printed.
struct Rendered {
    stdout: String,
    stderr: String,
}

impl Rendered {
    /// Console messages (script errors, CSP violations, console.error): the page must have
    /// none. Those Chromium's own pages log (`source: chrome://...`, such as "Slow network is
    /// detected" on a loaded machine) are not the page's and are left out.
    fn console(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE") && !l.contains("source: chrome://"))
            .collect()
    }
}

/// Opens `page` in headless Chromium with `extra` flags (`--dump-dom`, `--screenshot=...`),
/// through `proxy`, and waits for it to exit.
fn chromium(page: &Path, proxy: &ProxySink, extra: &[String]) -> Rendered {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's `chromium` (.ci/run does); this test cannot be skipped"
    );
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let profile = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (logs.path().join("stdout"), logs.path().join("stderr"));
    let child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1400,1800",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        ])
        .arg(format!("--proxy-server=http://127.0.0.1:{}", proxy.port))
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("chromium starts");
    let mut browser = Browser(child);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = browser.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < CHROMIUM_TIMEOUT,
            "chromium did not finish within {CHROMIUM_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let rendered = Rendered {
        stdout: std::fs::read_to_string(&out_path).unwrap(),
        stderr: std::fs::read_to_string(&err_path).unwrap(),
    };
    assert!(
        status.success(),
        "chromium failed ({status}):\n{}",
        rendered.stderr
    );
    rendered
}

/// The first opening tag of `name` in the DOM, with its attributes as the DOM holds them now.
fn opening_tag<'a>(dom: &'a str, name: &str) -> &'a str {
    let start = dom
        .find(&format!("<{name}"))
        .unwrap_or_else(|| panic!("no <{name}> in {dom}"));
    let end = start + dom[start..].find('>').unwrap();
    &dom[start..=end]
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_fleet_page_renders_in_chromium_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fleet(d);
    let out = report(
        d,
        &[
            "merge",
            "hq.json",
            "guest.json",
            "branch.json",
            "--html",
            "fleet.html",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let page = d.join("fleet.html");
    let proxy = ProxySink::start();

    let shot = artifacts().join("fleet.png");
    let _ = std::fs::remove_file(&shot);
    let screenshot = chromium(&page, &proxy, &[format!("--screenshot={}", shot.display())]);
    assert!(
        screenshot.console().is_empty(),
        "{:?}",
        screenshot.console()
    );
    let png = std::fs::read(&shot).expect("the screenshot is written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 20_000, "a blank page? {} bytes", png.len());
    // Keep the page beside its screenshot.
    std::fs::copy(&page, artifacts().join("fleet.html")).unwrap();

    let dom = chromium(&page, &proxy, &["--dump-dom".to_string()]);
    assert!(dom.console().is_empty(), "{:?}", dom.console());
    let html = &dom.stdout;
    // The page's script ran to its end, and no script error happened.
    assert!(html.contains("<body data-ready=\"ok\">"), "{html}");
    assert_eq!(
        opening_tag(html, "html"),
        "<html lang=\"en\">",
        "a script error was marked"
    );
    // It counted the matrix's rows: the DOM has the matrix, a row per run.
    assert!(html.contains("3 of 3 runs shown"));
    assert!(html.contains("<section id=\"matrix\">"));
    for (run, status) in [("hq", "pass"), ("guest", "fail"), ("branch", "error")] {
        assert!(
            html.contains(&format!("<tr data-run=\"{run}\" data-s=\"{status}\">")),
            "{run}"
        );
    }
    assert!(proxy.leaks().is_empty());
}

/// A report whose names carry markup that would run a script and load from the network, were
/// it not escaped (and, behind that, forbidden by the page's Content-Security-Policy).
#[test]
fn a_hostile_report_neither_runs_nor_loads_anything_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let proxy = ProxySink::start();

    // First, proof that a load would be seen: a plain page that loads from the leak host.
    let control = d.join("control.html");
    std::fs::write(
        &control,
        format!(
            "<!DOCTYPE html><html><body><img src=\"http://{LEAK_HOST}/control.png\"></body></html>"
        ),
    )
    .unwrap();
    chromium(&control, &proxy, &["--dump-dom".to_string()]);
    assert!(
        proxy.leaks().iter().any(|r| r.contains("/control.png")),
        "the proxy did not see the control page's load: {:?}",
        proxy.requests()
    );
    proxy.requests.lock().unwrap().clear();

    let guest = lab_report(d, &["one-domain-unanchored"], "guest");
    let evil = format!(
        "<script>document.body.setAttribute('data-pwned','script')</script>\
         <img src=\"http://{LEAK_HOST}/img.png\" onerror=\"document.body.setAttribute('data-pwned','img')\">\
         <link rel=stylesheet href=\"http://{LEAK_HOST}/link.css\">\
         <style>@import url(http://{LEAK_HOST}/import.css);</style>"
    );
    let mut r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&guest).unwrap()).unwrap();
    let run = &mut r["runs"][0];
    run["vantage"]["name"] = evil.clone().into();
    for check in run["checks"].as_array_mut().unwrap() {
        check["name"] = format!("{}{evil}", check["name"].as_str().unwrap()).into();
        check["reason"] = evil.clone().into();
    }
    for e in run["evidence"].as_array_mut().unwrap() {
        e["host"] = evil.clone().into();
    }
    std::fs::write(d.join("evil.json"), r.to_string()).unwrap();
    let out = report(d, &["merge", "evil.json", "--html", "evil.html"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));

    let dom = chromium(&d.join("evil.html"), &proxy, &["--dump-dom".to_string()]);
    assert!(dom.console().is_empty(), "{:?}", dom.console());
    assert!(dom.stdout.contains("<body data-ready=\"ok\">"));
    let pwned = regex::Regex::new(r"<[a-z][^>]*\sdata-pwned=").unwrap();
    assert!(!pwned.is_match(&dom.stdout), "the hostile script ran");
    assert_eq!(opening_tag(&dom.stdout, "html"), "<html lang=\"en\">");
    assert!(
        !dom.stdout.contains("<img"),
        "a hostile element reached the DOM"
    );
    assert!(
        proxy.leaks().is_empty(),
        "the page loaded: {:?}",
        proxy.leaks()
    );
    // The hostile text is on the page, as text.
    assert!(
        dom.stdout
            .contains("&lt;script&gt;document.body.setAttribute")
    );
}

/// The page's policy lets only its own script run: a page whose script was changed after it
/// was written is refused, and the test's detectors see it (the ready mark never comes, the
/// console says why). Without this, "no console error" could be a detector that never fires.
#[test]
fn a_tampered_script_is_refused_and_seen() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    lab_report(d, &[], "hq");
    let out = report(d, &["merge", "hq.json", "--html", "fleet.html"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(d.join("fleet.html")).unwrap();
    let tampered = html.replace("\"data-ready\", \"ok\"", "\"data-ready\", \"tampered\"");
    assert_ne!(tampered, html);
    std::fs::write(d.join("tampered.html"), tampered).unwrap();
    let proxy = ProxySink::start();
    let dom = chromium(
        &d.join("tampered.html"),
        &proxy,
        &["--dump-dom".to_string()],
    );
    assert!(
        dom.stdout.contains("<body data-ready=\"no\">"),
        "{}",
        dom.stdout
    );
    assert!(
        dom.console()
            .iter()
            .any(|l| l.contains("Content Security Policy")),
        "{}",
        dom.stderr
    );
}

/// Without a browser: the page names no URL to load, and its first element in `<head>` after
/// the charset is the policy that forbids remote loads.
#[test]
fn the_page_names_nothing_to_load() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fleet(d);
    report(
        d,
        &[
            "merge",
            "hq.json",
            "guest.json",
            "branch.json",
            "--html",
            "fleet.html",
        ],
    );
    let html = std::fs::read_to_string(d.join("fleet.html")).unwrap();
    assert!(html.starts_with(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta \
         http-equiv=\"Content-Security-Policy\" content=\"default-src &#39;none&#39;; "
    ));
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(!html.contains("url(") && !html.contains("@import"));
    let attribute = regex::Regex::new(
        r#"(?i)\s(src|href|srcset|action|formaction|poster|data|ping|background)\s*=\s*"([^"]*)""#,
    )
    .unwrap();
    for found in attribute.captures_iter(&html) {
        assert!(
            found[1].eq_ignore_ascii_case("href") && found[2].starts_with('#'),
            "a loadable attribute: {}",
            &found[0]
        );
    }
    assert_eq!(html.matches("<script").count(), 1);
}
