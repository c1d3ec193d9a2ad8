//! `sipa-check lab --audit`: the lab's fake ZPA and ZIA APIs beside its network, so one fault
//! breaks both layers and one command shows both: the network checks, then the audit.

use std::io::Write;
use std::time::Instant;

use super::Source;
use super::client::ApiSettings;
use super::command::{finish, now_rfc3339};
use super::credentials::{AuditCredentials, BaseUrls};
use super::judge::Requirements;
use crate::cli::ReportFlags;
use crate::command::{Env, Exit};
use crate::lab::admin_api::{AdminApi, AuditFault};
use crate::lab::{ANCHOR_IP, Fault};
use crate::scenario::model::AnchorSet;

/// `--fault` names: the network faults (an audit fault adds the network fault it causes), and
/// the audit faults.
pub fn split_faults(names: &[String]) -> Result<(Vec<Fault>, Vec<AuditFault>), String> {
    let mut faults = Vec::new();
    let mut audit = Vec::new();
    for name in names {
        if let Ok(f) = name.parse::<Fault>() {
            if !faults.contains(&f) {
                faults.push(f);
            }
        } else if let Ok(a) = name.parse::<AuditFault>() {
            audit.push(a);
            if let Some(f) = a.network()
                && !faults.contains(&f)
            {
                faults.push(f);
            }
        } else {
            return Err(format!("--fault {name}: unknown fault (see --list-faults)"));
        }
    }
    Ok((faults, audit))
}

/// Lists the audit faults after the network ones.
pub fn list_faults(out: &mut dyn Write) {
    for f in AuditFault::ALL {
        let _ = writeln!(out, "{:<24} {}", f.name(), f.description());
    }
}

/// Combines the network run's exit with the audit's: a failure anywhere fails.
pub fn combine(a: Exit, b: Exit) -> Exit {
    use Exit::*;
    match (a, b) {
        (Invalid, _) | (_, Invalid) => Invalid,
        (Failed, _) | (_, Failed) => Failed,
        (Inconclusive, _) | (_, Inconclusive) => Inconclusive,
        _ => Passed,
    }
}

/// Audits the lab's tenant through its fake APIs (legacy credentials), as a user would.
pub async fn audit_lab(
    api: &AdminApi,
    reports: &ReportFlags,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let vars = AdminApi::legacy_env();
    let urls = BaseUrls {
        zpa: Some(api.zpa_url()),
        zia: Some(api.zia_url()),
        oneapi: None,
        oneapi_token: None,
    };
    let credentials = match AuditCredentials::from_env(
        |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()),
        &urls,
    ) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "error: lab credentials: {e}");
            return Exit::Invalid;
        }
    };
    let source = Source::Api {
        credentials: Box::new(credentials),
        settings: ApiSettings {
            ca_files: vec![api.ca_file().to_path_buf()],
            ..ApiSettings::default()
        },
    };
    let req = Requirements {
        anchors: AnchorSet(vec![ipnet::IpNet::from(std::net::IpAddr::V4(ANCHOR_IP))]),
        ..Requirements::default()
    };
    let started = Instant::now();
    let started_at = now_rfc3339();
    let reading = match super::read(&source).await {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(
                err,
                "error: {}",
                crate::observation::cause_chain(&e).join(": ")
            );
            return Exit::Invalid;
        }
    };
    let report = super::report(&reading, &req, started_at, started);
    let _ = writeln!(out);
    finish(&reading, &report, None, reports, env, out, err)
}
