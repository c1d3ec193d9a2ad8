//! How echo samples read in a report: the addresses tallied, a failed sample's problem in words.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::observation::SampleOutcome;

/// Counts of addresses, in first-seen order: `127.0.0.2 ×2, 127.0.0.3 ×1`.
pub(super) fn tally_ips(ips: &[IpAddr]) -> String {
    let mut order: Vec<IpAddr> = Vec::new();
    let mut counts: BTreeMap<IpAddr, usize> = BTreeMap::new();
    for ip in ips {
        if !counts.contains_key(ip) {
            order.push(*ip);
        }
        *counts.entry(*ip).or_default() += 1;
    }
    order
        .iter()
        .map(|ip| format!("{ip} ×{}", counts[ip]))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn sample_problem(sample: &SampleOutcome) -> String {
    match sample {
        SampleOutcome::Ip { ip } => ip.to_string(),
        SampleOutcome::Unreadable { why, excerpt } if excerpt.is_empty() => why.clone(),
        SampleOutcome::Unreadable { why, excerpt } => format!("{why} (answer: {excerpt})"),
        SampleOutcome::Status { status, .. } => format!("the echo answered {status}"),
        SampleOutcome::Failed { causes } => causes.first().cloned().unwrap_or_default(),
        SampleOutcome::Timeout => "no answer in time".into(),
        SampleOutcome::ProxyRefused { status, reason } => {
            format!("the proxy refused the tunnel: {status} {reason}")
        }
    }
}
