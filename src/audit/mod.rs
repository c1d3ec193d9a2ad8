//! `sipa-check audit`: the guide's steps read back from the ZPA and ZIA APIs (read-only) or from
//! a snapshot of their answers, judged link by link.
//!
//! Layers, each testable alone: the fetch layer ([`client`], GET and the sign-in calls only)
//! keeps every answer as a document ([`documents`], exactly what a snapshot holds); [`parse`]
//! turns documents into the typed tenant ([`model`]); [`judge`] is pure.

pub mod anchors;
pub mod client;
pub mod credentials;
pub mod documents;
pub mod judge;
pub mod model;
pub mod parse;
pub mod plan;
pub mod report;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use documents::{Documents, Product, SnapshotError};
use judge::Requirements;
use model::Tenant;
use report::{AuditReport, ConnectorAnchor};

/// Where the audit reads the configuration.
#[derive(Debug)]
pub enum Source {
    /// The ZPA and ZIA APIs, with these credentials.
    Api {
        credentials: Box<credentials::AuditCredentials>,
        settings: client::ApiSettings,
    },
    /// A snapshot directory: no network.
    Snapshot(PathBuf),
}

/// Why the audit could not start (exit 2: nothing was read).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("cannot set up the API clients")]
    Api(#[from] client::ApiError),
}

/// What one audit read: the raw answers and the tenant they describe.
#[derive(Debug)]
pub struct Reading {
    pub documents: Documents,
    pub tenant: Tenant,
    /// `api` or `snapshot DIR`.
    pub source: String,
    /// What went wrong around the reading without changing what was read, such as a ZIA
    /// session that could not be ended.
    pub warnings: Vec<String>,
}

/// Reads the configuration from `source`.
pub async fn read(source: &Source) -> Result<Reading, AuditError> {
    match source {
        Source::Snapshot(dir) => {
            let documents = Documents::read_snapshot(dir)?;
            let tenant = parse::tenant(&documents);
            Ok(Reading {
                documents,
                tenant,
                source: format!("snapshot {}", dir.display()),
                warnings: Vec::new(),
            })
        }
        Source::Api {
            credentials,
            settings,
        } => {
            let (zpa, zia) = client::ReadOnlyClient::from_credentials(credentials, settings)?;
            let (documents, problems) = client::fetch_all(zpa.as_ref(), zia.as_ref()).await;
            // Done with ZIA: its admin session is ended, not left open until it expires. Its
            // outcome changes nothing that was read; a failure is said.
            let mut warnings = Vec::new();
            if let Some(zia) = &zia
                && let Err(e) = zia.sign_out().await
            {
                warnings.push(format!(
                    "the ZIA admin session could not be ended ({}): it stays open until ZIA expires it",
                    crate::observation::cause_chain(&e).join(": ")
                ));
            }
            let mut tenant = parse::tenant(&documents);
            for (product, problem) in problems {
                match product {
                    Product::Zpa => tenant.zpa = Err(problem),
                    Product::Zia => tenant.zia = Err(problem),
                }
            }
            Ok(Reading {
                documents,
                tenant,
                source: match settings.route.describe() {
                    Some(route) => format!("api, {route}"),
                    None => "api".into(),
                },
                warnings,
            })
        }
    }
}

/// The App Connectors behind the SIPA segment's server groups, for the report (and for
/// `run --anchors-from-zpa`).
pub fn connector_anchors(tenant: &Tenant, req: &Requirements) -> Vec<ConnectorAnchor> {
    let Ok(zpa) = &tenant.zpa else {
        return Vec::new();
    };
    judge::chain_connectors(zpa, req)
        .into_iter()
        .map(|c| ConnectorAnchor {
            name: c.name.clone(),
            id: c.id.clone(),
            group_id: c.group_id.clone(),
            public_ip: c.public_ip.clone(),
            status: c.control_channel.to_string(),
            enabled: c.enabled,
        })
        .collect()
}

/// Judges what was read into the report.
pub fn report(
    reading: &Reading,
    req: &Requirements,
    started_at: String,
    started: Instant,
) -> AuditReport {
    let checks = judge::judge(&reading.tenant, req);
    AuditReport::new(
        reading.source.clone(),
        started_at,
        started.elapsed().max(Duration::ZERO),
        connector_anchors(&reading.tenant, req),
        checks,
    )
}
