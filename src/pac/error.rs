//! What the PAC engine and the decision share: why a decision could not be made, where in the
//! file it was taken, and how the PAC functions resolve names.

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

/// Why the proxy decision could not be made: the run cannot tell which way a browser goes,
/// so every check that depends on it is an error, never a pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum PacError {
    /// The PAC file could not be fetched or read.
    #[error("the PAC file {source_name} could not be fetched: {why}")]
    Unavailable { source_name: String, why: String },
    /// The script does not parse.
    #[error("the PAC file does not parse: {message} at line {line}:{column}")]
    Syntax {
        message: String,
        line: u32,
        column: u32,
    },
    /// The script defines no `FindProxyForURL` (nor `FindProxyForURLEx`).
    #[error("the PAC file defines no function FindProxyForURL")]
    NoFunction,
    /// `FindProxyForURL` answered something else than a string.
    #[error("FindProxyForURL answered {got} for {url}, not a string")]
    NotAString { url: String, got: String },
    /// The answer holds a directive browsers do not know.
    #[error(
        "FindProxyForURL answered `{answer}` for {url}: `{directive}` is no PAC directive (DIRECT, PROXY, HTTP, HTTPS, SOCKS, SOCKS4, SOCKS5)"
    )]
    UnknownDirective {
        url: String,
        answer: String,
        directive: String,
    },
    /// The script threw.
    #[error("the PAC file threw for {url}: {message}")]
    Threw { url: String, message: String },
    /// The script ran past its time bound.
    #[error("the PAC file ran past {limit_ms} ms (an endless loop?) for {url}")]
    TooSlow { url: String, limit_ms: u64 },
    /// The script allocated past its memory bound.
    #[error("the PAC file allocated past {limit_mib} MiB for {url}")]
    TooMuchMemory { url: String, limit_mib: usize },
    /// The JavaScript engine could not be started.
    #[error("the JavaScript engine could not start: {why}")]
    Engine { why: String },
}

impl PacError {
    /// The PAC could not be had at all (fetch or read), rather than read and found wrong.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, PacError::Unavailable { .. })
    }
}

/// Resolves a name for the PAC functions: every address, in the resolver's order.
pub type Resolve = Arc<dyn Fn(&str) -> Vec<IpAddr> + Send + Sync>;

/// Where in the PAC file a decision was taken, when it can be pinned down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacLine {
    pub line: u32,
    pub text: String,
}
