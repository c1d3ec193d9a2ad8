//! Shared by the exporter and Pushgateway tests: child processes that die with the test, free
//! loopback ports, a bare HTTP/1.0 client, and serve configurations pointed at a lab.
// Each test crate uses its own part of this module.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sipa_check::lab::Lab;

/// A child process killed (and reaped) when the test ends, however it ends.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A real component the tests need: fails, naming the Debian package, when it is missing.
pub fn require(binary: &str, package: &str) -> PathBuf {
    let path = PathBuf::from(binary);
    assert!(
        path.exists(),
        "{binary} is missing: install the Debian package `{package}` (apt-get install {package}); .ci/run installs it"
    );
    path
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// One answer: status, headers (lower-case names) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `METHOD path` on `addr` over a fresh connection, as HTTP/1.0 (so no chunked answers).
pub fn http(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<Answer> {
    http_with_body(addr, method, path, "")
}

/// As [`http`], sending `body` (text format 0.0.4 when not empty).
pub fn http_with_body(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    write!(stream, "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n")?;
    if !body.is_empty() {
        write!(
            stream,
            "Content-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n",
            body.len()
        )?;
    }
    write!(stream, "\r\n{body}")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(Answer {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// `GET path`, which must answer.
pub fn get(addr: SocketAddr, path: &str) -> Answer {
    http(addr, "GET", path).unwrap_or_else(|e| panic!("GET {path} on {addr}: {e}"))
}

/// Polls `f` until it returns `Some`, or fails after `limit` saying what it waited for.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "gave up after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The bundled lab scenario's path.
pub fn lab_scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/lab.toml")
}

/// A `[[scenario]]` entry running the lab scenario against `lab`, transparently.
pub fn lab_entry(lab: &Lab, name: &str, interval: &str, extra: &str) -> String {
    format!(
        "[[scenario]]\nname = \"{name}\"\nfile = \"{}\"\ninterval = \"{interval}\"\ndns = [\"{}\"]\nconnect_to = [\":80::{}\", \":443::{}\"]\nca_files = [\"{}\"]\nexpect_ip = [\"{}\"]\n{extra}\n",
        lab_scenario().display(),
        lab.dns_addr(),
        lab.transparent_http_addr().port(),
        lab.transparent_https_addr().port(),
        lab.ca_file().display(),
        lab.anchor_ip(),
    )
}

/// `sipa-check serve CONFIG` as a child listening on a loopback port the system picks, once it
/// answers `/-/healthy`; returns it and its address. The address is read from serve's own
/// "listening on" line, so no other process can hold the port: a port picked beforehand could be
/// taken by other work on the machine before serve binds it (serve would then exit, or another
/// serve on that port would answer for it).
pub fn start_serve(config: &Path) -> (ChildGuard, SocketAddr) {
    let child = Command::new(env!("CARGO_BIN_EXE_sipa-check"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sipa-check serve starts");
    let mut guard = ChildGuard(child);
    let mut stderr = guard.0.stderr.take().expect("serve's stderr");
    // Read byte by byte up to the line, so that the rest stays in the pipe for `terminate`.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        let addr = loop {
            match stderr.read(&mut byte) {
                Ok(1) => seen.push(byte[0]),
                _ => break None,
            }
            if byte[0] != b'\n' {
                continue;
            }
            let text = String::from_utf8_lossy(&seen);
            let last = text.lines().last().unwrap_or_default();
            if let Some(rest) = last.strip_prefix("sipa-check serve: listening on http://") {
                break rest
                    .split('/')
                    .next()
                    .and_then(|a| a.parse::<SocketAddr>().ok());
            }
        };
        let _ = tx.send((addr, String::from_utf8_lossy(&seen).into_owned(), stderr));
    });
    let (addr, seen, stderr) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("sipa-check serve says where it listens within 60 s");
    guard.0.stderr = Some(stderr);
    let Some(addr) = addr else {
        let _ = guard.0.wait();
        let mut rest = String::new();
        if let Some(mut e) = guard.0.stderr.take() {
            let _ = e.read_to_string(&mut rest);
        }
        panic!("sipa-check serve did not start listening: {seen}{rest}");
    };
    wait_for(
        "sipa-check serve to answer /-/healthy",
        Duration::from_secs(60),
        || {
            if let Ok(Some(status)) = guard.0.try_wait() {
                panic!("sipa-check serve exited early with {status}");
            }
            http(addr, "GET", "/-/healthy")
                .ok()
                .filter(|a| a.status == 200)
        },
    );
    (guard, addr)
}

/// Sends SIGTERM and waits for the exit; returns the exit code and stderr.
pub fn terminate(mut child: ChildGuard) -> (Option<i32>, String) {
    let pid = child.0.id();
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let start = Instant::now();
    let status = loop {
        if let Ok(Some(status)) = child.0.try_wait() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "sipa-check serve did not stop within 60 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    if let Some(mut e) = child.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (status.code(), err)
}

/// The value of the first series of `metric` in an exposition whose labels include every
/// `label="value"` of `labels`.
pub fn sample(exposition: &str, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let rest = line.strip_prefix(metric)?;
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            return None;
        }
        let ok = labels
            .iter()
            .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        if !ok {
            return None;
        }
        rest.rsplit(' ').next()?.parse().ok()
    })
}
