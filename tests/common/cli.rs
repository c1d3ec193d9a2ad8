//! The sipa-check binary as the command-line tests run it, and a tripwire that proves a refused
//! command reached nothing.

use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The binary, from the crate's directory, without colour, without input and without the
/// proxy password of whoever runs the tests.
pub fn sipa() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sipa-check"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("SIPA_CHECK_PROXY_PASSWORD")
        .stdin(Stdio::null());
    c
}

/// Runs the binary with `args` to its end.
pub fn run(args: &[&str]) -> Output {
    sipa().args(args).output().expect("sipa-check runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Validates a JUnit file against the schema CI tools read.
pub fn xmllint(path: &Path) {
    let xsd = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/junit-10.xsd");
    let out = Command::new("xmllint")
        .args(["--noout", "--schema", xsd])
        .arg(path)
        .output()
        .expect("xmllint is installed (Debian package libxml2-utils)");
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// A DNS server and a TCP target that must see nothing: a run pointed at them by [`flags`]
/// that reaches either has sent something.
///
/// [`flags`]: Tripwire::flags
pub struct Tripwire {
    dns: UdpSocket,
    tcp: TcpListener,
}

impl Tripwire {
    pub fn new() -> Tripwire {
        let dns = UdpSocket::bind("127.0.0.1:0").unwrap();
        dns.set_nonblocking(true).unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        tcp.set_nonblocking(true).unwrap();
        Tripwire { dns, tcp }
    }

    /// `--dns` and `--connect-to` for both login ports, pointing at the tripwire, with a short
    /// timeout.
    pub fn flags(&self) -> Vec<String> {
        let port = self.tcp.local_addr().unwrap().port();
        vec![
            "--dns".into(),
            self.dns.local_addr().unwrap().to_string(),
            "--connect-to".into(),
            format!(":80:127.0.0.1:{port}"),
            "--connect-to".into(),
            format!(":443:127.0.0.1:{port}"),
            "--timeout".into(),
            "1s".into(),
        ]
    }

    /// Whether a DNS query or a connection arrived, waiting a moment for stragglers.
    pub fn tripped(&self) -> bool {
        std::thread::sleep(Duration::from_millis(300));
        let mut buf = [0u8; 512];
        self.dns.recv_from(&mut buf).is_ok() || self.tcp.accept().is_ok()
    }
}

/// The environment variables the audit reads its Zscaler credentials from.
pub const ZSCALER_CREDENTIAL_VARS: [&str; 13] = [
    "ZPA_CLIENT_ID",
    "ZPA_CLIENT_SECRET",
    "ZPA_CUSTOMER_ID",
    "ZPA_CLOUD",
    "ZIA_USERNAME",
    "ZIA_PASSWORD",
    "ZIA_API_KEY",
    "ZIA_CLOUD",
    "ZSCALER_CLIENT_ID",
    "ZSCALER_CLIENT_SECRET",
    "ZSCALER_PRIVATE_KEY",
    "ZSCALER_VANITY_DOMAIN",
    "ZSCALER_CLOUD",
];

/// [`sipa`] without any Zscaler credentials of whoever runs the tests: each test gives its own.
pub fn sipa_without_zscaler_credentials() -> Command {
    let mut c = sipa();
    for v in ZSCALER_CREDENTIAL_VARS {
        c.env_remove(v);
    }
    c
}
