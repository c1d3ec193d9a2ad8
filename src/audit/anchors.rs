//! `run --anchors-from-zpa`: the anchor set read from ZPA itself (the public IPs of the App
//! Connectors behind the SIPA segment's server group), so a connector added or replaced never
//! leaves a stale expectation; and the joined diagnosis: an egress IP outside the set is named
//! as a connector of another group, or as no connector at all.

use std::net::IpAddr;

use ipnet::IpNet;

use super::judge::{self, Requirements};
use super::model::{Connector, ZpaConfig};
use super::{Source, read};
use crate::observation::Observation;
use crate::outcome::{AnchorConnector, RunReport, Status};

/// What ZPA says about the tenant's App Connectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZpaAnchors {
    /// Behind the SIPA segment's server groups: the anchor set.
    pub chain: Vec<AnchorConnector>,
    /// Every connector of the tenant, for the joined diagnosis.
    pub all: Vec<AnchorConnector>,
    /// One sentence per anchor connector that ZPA reports disabled or not connected: its IP
    /// stays in the set, but it carries no traffic.
    pub warnings: Vec<String>,
}

/// Why the anchors could not come from ZPA: the run cannot judge anchoring.
#[derive(Debug, thiserror::Error)]
pub enum AnchorsError {
    #[error(transparent)]
    Read(#[from] super::AuditError),
    #[error("cannot read {what} from ZPA: {}", .causes.join(": "))]
    Unreadable { what: String, causes: Vec<String> },
    #[error(
        "ZPA lists no App Connector with a public IP behind a segment anchoring the login hosts"
    )]
    Empty,
}

fn entry(zpa: &ZpaConfig, c: &Connector) -> Option<AnchorConnector> {
    Some(AnchorConnector {
        name: c.name.clone(),
        id: c.id.clone(),
        group: zpa
            .connector_groups
            .iter()
            .find(|g| g.id == c.group_id)
            .map_or_else(|| c.group_id.clone(), |g| g.name.clone()),
        public_ip: c.public_ip.clone()?,
        status: c.control_channel.to_string(),
    })
}

/// Reads ZPA (only its side is needed) and returns the connectors.
pub async fn resolve(source: &Source, req: &Requirements) -> Result<ZpaAnchors, AnchorsError> {
    let reading = read(source).await?;
    let zpa = reading.tenant.zpa.map_err(|u| AnchorsError::Unreadable {
        what: u.what,
        causes: u.causes,
    })?;
    let behind = judge::chain_connectors(&zpa, req);
    let chain: Vec<AnchorConnector> = behind.iter().filter_map(|c| entry(&zpa, c)).collect();
    if chain.is_empty() {
        return Err(AnchorsError::Empty);
    }
    let warnings = behind
        .iter()
        .filter(|c| !c.is_up() && c.public_ip.is_some())
        .map(|c| {
            format!(
                "App Connector {} (id {}, public IP {}) behind the SIPA segment's server group is {}{} according to ZPA: it carries no anchored traffic",
                c.name,
                c.id,
                c.public_ip.as_deref().unwrap_or_default(),
                c.control_channel,
                if c.enabled { "" } else { " and disabled" }
            )
        })
        .collect();
    let all = zpa
        .connectors
        .iter()
        .filter_map(|c| entry(&zpa, c))
        .collect();
    Ok(ZpaAnchors {
        chain,
        all,
        warnings,
    })
}

impl ZpaAnchors {
    /// The anchor set: each chain connector's public IP.
    pub fn nets(&self) -> Vec<IpNet> {
        let mut nets: Vec<IpNet> = self
            .chain
            .iter()
            .filter_map(|c| c.public_ip.parse::<IpAddr>().ok())
            .map(IpNet::from)
            .collect();
        nets.dedup();
        nets
    }

    /// Records the connectors in each run and names, on each failed egress check, what the
    /// egress IPs outside the set are.
    pub fn join(&self, report: RunReport) -> RunReport {
        let mut runs = report.runs;
        for run in &mut runs {
            run.anchor_connectors = self.chain.clone();
            // Shown with the vantage's own warnings, and counted.
            run.vantage.warnings.extend(self.warnings.iter().cloned());
            for check in &mut run.checks {
                if check.status != Status::Fail {
                    continue;
                }
                let Observation::Egress(e) = &check.observation else {
                    continue;
                };
                let mut seen: Vec<IpAddr> = Vec::new();
                for ip in e.ips() {
                    if seen.contains(&ip)
                        || self.chain.iter().any(|c| c.public_ip == ip.to_string())
                    {
                        continue;
                    }
                    seen.push(ip);
                    let said = match self.all.iter().find(|c| c.public_ip == ip.to_string()) {
                        Some(c) => format!(
                            "egress IP {ip} is App Connector {} (id {}) of connector group {}, not behind the SIPA segment's server group",
                            c.name, c.id, c.group
                        ),
                        None => format!(
                            "egress IP {ip} belongs to no App Connector of the tenant: the traffic left without ZPA (ZIA's own egress, or another path)"
                        ),
                    };
                    check.warnings.push(said);
                }
            }
        }
        RunReport::new(runs)
    }
}
