//! One echo sample's outcome: the address it revealed, or why it revealed none.

use std::net::IpAddr;

use serde::Serialize;

/// One echo sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum SampleOutcome {
    /// The echo revealed this caller address.
    Ip {
        ip: IpAddr,
    },
    /// The echo answered, but not with exactly one IP address.
    Unreadable {
        why: String,
        excerpt: String,
    },
    /// The echo answered with an unexpected status.
    Status {
        status: u16,
        excerpt: String,
    },
    /// No answer.
    Failed {
        causes: Vec<String>,
    },
    Timeout,
    /// The explicit proxy refused the tunnel to the echo (its answer to CONNECT was not 2xx):
    /// the proxy's answer, not the echo's, kept typed so the verdict can tell that the control
    /// was turned away the same way as the login hosts.
    ProxyRefused {
        status: u16,
        reason: String,
    },
}
