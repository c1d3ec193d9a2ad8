//! The login path's connect and TLS phases as plain data, and how a run was cut short: the
//! ground the other observations (HTTP, the token request) stand on.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

/// What stopped a run before every check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Cut {
    /// The run's deadline passed.
    Deadline {
        #[serde(with = "super::ms", rename = "deadline_ms")]
        deadline: Duration,
    },
    /// Ctrl-C.
    Interrupted,
    /// SIGTERM, as CI cancellation and `timeout` send.
    Terminated,
}

/// How a TCP connection attempt ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ConnectOutcome {
    Connected {
        local: SocketAddr,
    },
    Refused,
    Reset,
    Timeout,
    Unreachable {
        causes: Vec<String>,
    },
    /// The explicit proxy refused the CONNECT.
    ProxyRefused {
        status: u16,
        reason: String,
    },
    Failed {
        causes: Vec<String>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct ConnectAttempt {
    /// Where the socket connected to (after `--connect-to`, or the proxy).
    pub addr: SocketAddr,
    /// With a proxy: the tunnel target `host:port` asked of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<String>,
    pub outcome: ConnectOutcome,
    #[serde(with = "super::ms", rename = "elapsed_ms")]
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConnectObservation {
    pub attempts: Vec<ConnectAttempt>,
}

/// One certificate of a presented chain.
#[derive(Debug, Clone, Serialize)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    pub not_after: String,
}

/// Where the presented chain ends.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "anchor", rename_all = "snake_case")]
pub enum ChainTrust {
    /// A public web PKI root.
    PublicRoot,
    /// A trust anchor the user declared (`--ca-file`), such as the Zscaler root.
    DeclaredAnchor,
    /// Only the operating system's store trusts it: an inspecting proxy's root.
    OsStoreOnly,
    /// Nothing trusts it.
    Untrusted { error: String },
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum TlsOutcome {
    Established {
        /// As people name it: `TLS 1.3`.
        version: String,
        cipher: String,
        chain: Vec<CertSummary>,
        trust: ChainTrust,
        /// The leaf's subject alternative name that matched the server name (`login.windows.net`
        /// or a wildcard such as `*.windows.net`); none when no SAN matched.
        #[serde(skip_serializing_if = "Option::is_none")]
        matched_name: Option<String>,
    },
    Failed {
        causes: Vec<String>,
    },
    /// No complete handshake within the probe's timeout.
    Timeout {
        #[serde(with = "super::ms", rename = "after_ms")]
        after: Duration,
    },
    /// The transport below TLS failed first.
    NoTransport {
        outcome: ConnectOutcome,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct TlsObservation {
    pub addr: SocketAddr,
    pub server_name: String,
    pub outcome: TlsOutcome,
    #[serde(with = "super::ms", rename = "elapsed_ms")]
    pub elapsed: Duration,
}
