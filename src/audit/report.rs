//! The audit's report: a sibling of the run report (same `tool` / `format_version` family), as
//! data. `report::audit` renders it (terminal, JSON, JUnit), as `report/` renders a run.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::judge::AuditCheck;
use crate::outcome::{Status, Tally};

/// An App Connector behind the SIPA segment's server group: the anchors ZPA itself describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorAnchor {
    pub name: String,
    pub id: String,
    pub group_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_ip: Option<String>,
    pub status: String,
    pub enabled: bool,
}

/// Everything one audit found: what `audit --json` writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditReport {
    /// Version of this document's shape (the run report's family).
    pub format_version: u32,
    pub tool: String,
    /// `audit`, to tell this document from a run report.
    pub kind: String,
    pub tool_version: String,
    /// Where the configuration came from: `api`, `snapshot DIR`, plus a plan.
    pub source: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    #[serde(with = "crate::observation::ms", rename = "elapsed_ms")]
    pub elapsed: Duration,
    /// The App Connectors behind the chain's server groups.
    pub connectors: Vec<ConnectorAnchor>,
    /// With `--terraform-plan`: the planned changes merged over what was read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub planned_changes: Vec<String>,
    pub checks: Vec<AuditCheck>,
    pub tally: Tally,
    pub overall: Status,
}

impl AuditReport {
    pub const FORMAT_VERSION: u32 = crate::outcome::RunReport::FORMAT_VERSION;

    pub fn new(
        source: String,
        started_at: String,
        elapsed: Duration,
        connectors: Vec<ConnectorAnchor>,
        checks: Vec<AuditCheck>,
    ) -> AuditReport {
        let tally = tally(&checks);
        AuditReport {
            format_version: Self::FORMAT_VERSION,
            tool: "sipa-check".into(),
            kind: "audit".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            source,
            started_at,
            elapsed,
            connectors,
            planned_changes: Vec::new(),
            checks,
            tally,
            overall: tally.overall(),
        }
    }
}

/// Counts per status, as the run report counts them.
pub fn tally(checks: &[AuditCheck]) -> Tally {
    let mut t = Tally {
        total: checks.len(),
        ..Tally::default()
    };
    for c in checks {
        match c.status {
            Status::Pass => t.passed += 1,
            Status::Fail => t.failed += 1,
            Status::Error => t.errors += 1,
            Status::Skip => t.skipped += 1,
        }
        t.warnings += c.warnings.len();
    }
    t
}
