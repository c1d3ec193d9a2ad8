//! Command-line overrides: flags override the scenario, the scenario overrides defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use super::model::{AnchorSet, FamilySelection, ProxySpec, Require, Scenario};
use super::values::{self, Bound};

/// What the `run` flags can override. Empty lists and `None` leave the scenario's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `--expect-ip`: replaces `anchor.expect`.
    pub expect_ips: Vec<IpNet>,
    /// `--vantage` (repeatable): with several `[[vantage]]` entries, the ones to check; with
    /// at most one vantage declared, its name (given once).
    pub vantage: Vec<String>,
    /// `--dns`: replaces `vantage.dns` (of every vantage).
    pub dns: Vec<SocketAddr>,
    /// `--proxy`: replaces `vantage.proxy` (of every vantage).
    pub proxy: Option<ProxySpec>,
    /// `--pac` or `--system-proxy`: replaces `vantage.pac` (of every vantage).
    pub decision: Option<super::model::DecisionSpec>,
    /// `--ca-file`: replaces `vantage.ca_files` of every vantage (paths as given, relative to the working directory).
    pub ca_files: Vec<PathBuf>,
    /// `--family`
    pub family: Option<FamilySelection>,
    /// `--require`
    pub require: Option<Require>,
    /// `--samples`: sets `limits.samples` and every observer's samples.
    pub samples: Option<u32>,
    /// `--timeout` (per probe)
    pub timeout: Option<Duration>,
    /// `--deadline` (whole run)
    pub deadline: Option<Duration>,
    /// `--entra-wait`: sets `entra.wait`; the scenario must have an `[entra]` table.
    pub entra_wait: Option<Duration>,
}

impl Scenario {
    /// Applies command-line overrides. On error (for example a deadline now shorter than the
    /// timeout) the scenario is left unchanged.
    pub fn apply(&mut self, o: &Overrides) -> Result<(), String> {
        let timeout = o.timeout.unwrap_or(self.limits.timeout);
        let deadline = o.deadline.unwrap_or(self.limits.deadline);
        let show = values::as_written;
        values::check_duration(timeout, &show(timeout), Bound::Timeout)
            .map_err(|e| format!("timeout: {e}"))?;
        values::check_duration(deadline, &show(deadline), Bound::Deadline)
            .map_err(|e| format!("deadline: {e}"))?;
        // The deadline is checked against the timeout in force, wherever each comes from: a
        // run whose deadline ends before one probe may time out cannot tell a slow path from
        // a cut one. (The scenario's own pair was checked when it was read.)
        if deadline < timeout {
            return Err(match o.timeout {
                Some(_) => format!(
                    "the run deadline `{}` is shorter than the per-probe timeout `{}`: raise --deadline or lower --timeout",
                    show(deadline),
                    show(timeout)
                ),
                None => format!(
                    "the run deadline `{}` is shorter than the scenario's per-probe timeout `{}` (limits.timeout): raise --deadline, or lower the timeout (--timeout or limits.timeout)",
                    show(deadline),
                    show(timeout)
                ),
            });
        }
        if let Some(samples) = o.samples {
            values::check_samples(i128::from(samples)).map_err(|e| format!("samples: {e}"))?;
        }
        if o.entra_wait.is_some() && self.entra.is_none() {
            return Err(
                "entra wait: the scenario has no [entra] table: add one to prove the login hosts by Entra's sign-in log"
                    .into(),
            );
        }
        if o.vantage.iter().any(|v| v.trim().is_empty()) {
            return Err("vantage: the vantage name must not be empty or only blanks".into());
        }
        let chosen = self.chosen_vantages(&o.vantage)?;
        // One explicit proxy for everything, or the browser's own decision: not both.
        for vantage in std::iter::once(&self.vantage).chain(&self.more_vantages) {
            let proxy = o.proxy.is_some() || vantage.proxy.is_some();
            let decision = o.decision.as_ref().or(vantage.decision.as_ref());
            if let (true, Some(decision)) = (proxy, decision) {
                let (p, d) = (
                    if o.proxy.is_some() {
                        "--proxy"
                    } else {
                        "the scenario's proxy"
                    },
                    match (decision, &o.decision) {
                        (super::model::DecisionSpec::SystemProxy, _) => "--system-proxy",
                        (_, Some(_)) => "--pac",
                        (_, None) => "the scenario's pac",
                    },
                );
                return Err(format!(
                    "vantage {}: {p} and {d} at once: give one explicit proxy, or the browser's proxy decision (a PAC file or the system proxy), not both",
                    vantage.name
                ));
            }
        }

        if !o.expect_ips.is_empty() {
            self.anchors = AnchorSet(o.expect_ips.clone());
        }
        self.keep_vantages(chosen);
        for vantage in std::iter::once(&mut self.vantage).chain(&mut self.more_vantages) {
            if !o.dns.is_empty() {
                vantage.dns = o.dns.clone();
            }
            if let Some(proxy) = &o.proxy {
                vantage.proxy = Some(proxy.clone());
            }
            if let Some(decision) = &o.decision {
                vantage.decision = Some(decision.clone());
            }
            if !o.ca_files.is_empty() {
                vantage.ca_files = o.ca_files.clone();
            }
        }
        if let Some(require) = o.require {
            self.limits.require = require;
        }
        if let Some(family) = o.family {
            self.limits.family = family;
        }
        if let Some(samples) = o.samples {
            self.limits.samples = samples;
            for observer in &mut self.observers {
                observer.samples = samples;
            }
        }
        if let (Some(wait), Some(entra)) = (o.entra_wait, &mut self.entra) {
            entra.wait = wait;
        }
        self.limits.timeout = timeout;
        self.limits.deadline = deadline;
        Ok(())
    }
}
