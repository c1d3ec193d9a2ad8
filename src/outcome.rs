//! The result model: each check's verdict with its evidence, and the whole run's report.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::guide::GuideStep;
use crate::observation::{Observation, ms};
pub use crate::plan::{Route, Stage};

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Skip,
    /// The harness could not decide.
    Error,
    /// The network answered and anchoring (or the path) is wrong.
    Fail,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Error => "ERROR",
            Status::Skip => "SKIP",
        }
    }
}

/// The most likely configuration step behind a failure (a row of DESIGN.md's table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// The cause, as a value with a stable id: what reports group by.
    #[serde(default)]
    pub cause: crate::cause::Cause,
    /// What is probably wrong here, in the admin's words (which host, port or IP).
    pub likely_cause: String,
    /// The configuration guide step to look at (the cause's); serialized as its text.
    pub guide_step: GuideStep,
}

impl Diagnosis {
    /// `cause`, said of this case in `likely_cause`; the guide step is the cause's own.
    pub fn of(cause: crate::cause::Cause, likely_cause: impl Into<String>) -> Diagnosis {
        Diagnosis {
            cause,
            likely_cause: likely_cause.into(),
            guide_step: cause.guide_step(),
        }
    }
}

/// One check's verdict with its evidence. Read back from a report (`sipa-check complete`), its
/// observation is [`Observation::Recorded`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    /// Stable name, such as `login.windows.net:80 egress anchored (ipv4)`.
    pub name: String,
    pub stage: Stage,
    /// `host` or `host:port`.
    pub target: String,
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// How the check reached its target, shown as `ipv4`, `ipv6` or `proxy`; none for a
    /// check of the whole run (coverage), which the JSON then leaves out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Route>,
    pub status: Status,
    /// One line: why this status.
    pub reason: String,
    pub expected: String,
    pub observed: String,
    /// The cause chain, outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<Diagnosis>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// For a check skipped because another did not pass: that check's name. Its failure, not
    /// this check, is the evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<String>,
    #[serde(with = "ms", rename = "elapsed_ms")]
    pub elapsed: Duration,
    #[serde(deserialize_with = "recorded")]
    pub observation: Observation,
}

/// An observation read back from a report is kept as written.
fn recorded<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Observation, D::Error> {
    serde_json::Value::deserialize(d).map(Observation::Recorded)
}

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub skipped: usize,
    pub warnings: usize,
}

impl Tally {
    pub fn of(outcomes: &[Outcome]) -> Tally {
        let mut t = Tally {
            total: outcomes.len(),
            ..Tally::default()
        };
        for o in outcomes {
            match o.status {
                Status::Pass => t.passed += 1,
                Status::Fail => t.failed += 1,
                Status::Error => t.errors += 1,
                Status::Skip => t.skipped += 1,
            }
            t.warnings += o.warnings.len();
        }
        t
    }

    /// The counts of one scenario run: its checks, plus the warnings about the vantage itself
    /// (such as OS trust store problems), which reports show too and so must count.
    pub fn of_run(run: &ScenarioRun) -> Tally {
        let mut t = Tally::of(&run.checks);
        t.warnings += run.vantage.trust_store_problems.len() + run.vantage.warnings.len();
        t
    }

    /// The sum of several tallies.
    pub fn sum<'a>(tallies: impl IntoIterator<Item = &'a Tally>) -> Tally {
        tallies.into_iter().fold(Tally::default(), |a, t| Tally {
            total: a.total + t.total,
            passed: a.passed + t.passed,
            failed: a.failed + t.failed,
            errors: a.errors + t.errors,
            skipped: a.skipped + t.skipped,
            warnings: a.warnings + t.warnings,
        })
    }

    /// The run's overall status: any failure fails; else any error is inconclusive.
    pub fn overall(&self) -> Status {
        if self.failed > 0 {
            Status::Fail
        } else if self.errors > 0 || self.passed == 0 {
            Status::Error
        } else {
            Status::Pass
        }
    }
}

/// Facts about where the run happened.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VantageFacts {
    pub name: String,
    pub hostname: String,
    pub os: String,
    pub sipa_check_version: String,
    pub resolvers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// Where the browser's proxy decision came from (a PAC file, the environment), when the
    /// vantage follows one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_decision: Option<String>,
    /// Local addresses the probes' connections left from.
    pub local_addresses: Vec<String>,
    /// What went wrong reading the OS trust store (unreadable or unparsable certificates): a
    /// chain that only a missing root would have anchored shows as untrusted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust_store_problems: Vec<String>,
    /// What may go wrong at this vantage before any probe, such as a proxy user without a
    /// password.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub expect_anchored: bool,
    /// Where the vantage's sockets were bound: `address 127.0.0.10` or `interface eth1`;
    /// absent when the system chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// Why QUIC on UDP 443 was not checked from this vantage (the login ports lack 443);
    /// absent when the plan has QUIC checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quic: Option<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
}

/// How a login host's anchoring was proven, on one port and route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Proof {
    /// An echo observer on that very host answered (pass or fail).
    Echo,
    /// Entra's sign-in log named the IP it saw for a sign-in through that host.
    EntraLog,
    /// Conditional Access judged a token request through that host, and the run showed that a
    /// policy refuses the probe app outside the trusted locations.
    EntraCa,
    /// Entra issued a token through that host, but nothing in the run showed a Conditional
    /// Access policy that refuses untrusted locations: without one every token is issued, so
    /// the token proves nothing about the IP Entra saw.
    EntraCaUnverified,
    /// Only a canary on the shared path: the forwarding rule, the gateway and the connectors are
    /// proven, not that this host is in the segment on this port.
    PathOnly,
}

impl std::fmt::Display for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proof::Echo => "echo",
            Proof::EntraLog => "entra-log",
            Proof::EntraCa => "entra-ca",
            Proof::EntraCaUnverified => "entra-ca (policy unverified)",
            Proof::PathOnly => "path only",
        })
    }
}

impl Proof {
    /// Whether this proves the host itself (what `--require per-host` asks for): an echo on
    /// it, its sign-in in Entra's log, or Conditional Access's answer with its policy shown.
    pub fn is_per_host(self) -> bool {
        match self {
            Proof::Echo | Proof::EntraLog | Proof::EntraCa => true,
            Proof::EntraCaUnverified | Proof::PathOnly => false,
        }
    }
}

/// One login host's evidence on one port and route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEvidence {
    pub host: String,
    pub port: u16,
    pub route: Route,
    pub proof: Proof,
}

impl HostEvidence {
    /// `login.windows.net:443 (ipv4)`.
    pub fn target(&self) -> String {
        format!("{}:{} ({})", self.host, self.port, self.route)
    }
}

/// One scenario run from one vantage point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioRun {
    pub scenario: String,
    pub source: String,
    pub anchors: Vec<String>,
    pub vantage: VantageFacts,
    #[serde(with = "ms", rename = "elapsed_ms")]
    pub elapsed: Duration,
    /// Set when the deadline or an interrupt cut the run short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_short: Option<String>,
    pub tally: Tally,
    pub checks: Vec<Outcome>,
    /// How each login host was proven, per port and route.
    pub evidence: Vec<HostEvidence>,
    /// How the run read Entra's sign-in log, for `[entra]` scenarios: what
    /// `sipa-check complete` needs to read it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entra: Option<EntraRecord>,
    /// The sign-ins Entra answered that its log did not show yet when the run ended: their
    /// checks are errors (pending) until `sipa-check complete` finds them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_sign_ins: Vec<PendingSignIn>,
    /// The report file `sipa-check report merge` read this run from (the first one, when a
    /// merged report is merged again); absent in a run's own report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<String>,
    /// With `run --anchors-from-zpa`: the App Connectors whose public IPs are the anchor set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anchor_connectors: Vec<AnchorConnector>,
}

/// An App Connector behind the SIPA segment's server group, as ZPA describes it: where an anchor
/// of the run came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchorConnector {
    pub name: String,
    pub id: String,
    pub group: String,
    pub public_ip: String,
    pub status: String,
}

/// Where a run read Entra's sign-in log, so that a later `sipa-check complete` reads the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntraRecord {
    /// Graph's base URL, such as `https://graph.microsoft.com/`.
    pub graph_url: String,
    /// The scenario's `[entra] authority_host`, when it named one (else the environment's
    /// cloud, as `run` reads it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority_host: Option<String>,
    /// How long the run waited for the log.
    #[serde(with = "ms", rename = "wait_ms")]
    pub wait: Duration,
    /// `[entra] mode`, which the completed checks are judged by.
    #[serde(default)]
    pub mode: crate::scenario::model::EntraMode,
    /// What showed that a Conditional Access policy refuses the probe app outside the trusted
    /// locations (in `ca` and `both` modes); absent when nothing did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_policy: Option<crate::observation::CaPolicyProof>,
}

/// A sign-in Entra answered (a token issued or blocked) that its log did not show yet: enough
/// to find it again, and the check it completes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSignIn {
    /// The entra sign-in check's stable name.
    pub check: String,
    pub host: String,
    pub port: u16,
    pub route: Route,
    /// The `client-request-id` sent: the record's `correlationId`.
    pub correlation_id: String,
    /// The `x-ms-request-id` answered: the record's `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// When the token request was sent, RFC 3339.
    pub sent_at: String,
    /// Where the token request went: the address reached, or the proxy.
    pub via: String,
}

impl PendingSignIn {
    /// The lookup key Graph takes.
    pub fn lookup(&self) -> crate::observation::entra::PendingSignIn {
        crate::observation::entra::PendingSignIn {
            correlation_id: self.correlation_id.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

/// Everything one invocation found: the document `--json` writes, and `sipa-check complete`
/// reads back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    /// Version of this document's shape.
    pub format_version: u32,
    pub tool: String,
    pub tool_version: String,
    pub runs: Vec<ScenarioRun>,
    pub tally: Tally,
    pub overall: Status,
}

impl RunReport {
    pub const FORMAT_VERSION: u32 = 1;

    /// The report of `runs`; each run's tally is recounted from its checks and vantage, so the
    /// counts always match what the reports show.
    pub fn new(mut runs: Vec<ScenarioRun>) -> RunReport {
        for run in &mut runs {
            run.tally = Tally::of_run(run);
        }
        let tally = Tally::sum(runs.iter().map(|r| &r.tally));
        RunReport {
            format_version: Self::FORMAT_VERSION,
            tool: "sipa-check".to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            runs,
            tally,
            overall: tally.overall(),
        }
    }
}
