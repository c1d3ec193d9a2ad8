//! The HTTPS record probe: a login host's DNS HTTPS record (type 65) through the vantage's
//! resolver, an AliasMode record's target followed once, all under the probe's timeout.

use std::time::Instant;

use super::ctx::ProbeCtx;
use super::dns::HttpsAnswer;
use crate::observation::{
    HttpsQueryFailure, HttpsRecordObservation, HttpsRecordOutcome, Observation,
};

/// Whose HTTPS record to read.
#[derive(Debug, Clone)]
pub struct Spec {
    pub host: String,
}

pub async fn run(spec: &Spec, ctx: &ProbeCtx) -> Observation {
    let started = Instant::now();
    let mut alias = None;
    let asking = async {
        let first = ctx.dns.lookup_https(&spec.host).await;
        let HttpsAnswer::Alias { target } = first else {
            return outcome_of(first);
        };
        if target.trim_end_matches('.').is_empty() {
            // AliasMode to ".": the service says it has no HTTPS endpoint.
            return HttpsRecordOutcome::NoRecord;
        }
        alias = Some(target.clone());
        match ctx.dns.lookup_https(&target).await {
            HttpsAnswer::Alias { target } => HttpsRecordOutcome::AliasChain { target },
            other => outcome_of(other),
        }
    };
    let outcome = match tokio::time::timeout(ctx.timeout, asking).await {
        Ok(outcome) => outcome,
        Err(_) => HttpsRecordOutcome::Failed {
            failure: HttpsQueryFailure::Timeout,
        },
    };
    Observation::HttpsRecord(HttpsRecordObservation {
        host: spec.host.clone(),
        resolvers: ctx.dns.servers().to_vec(),
        alias,
        outcome,
        elapsed: started.elapsed(),
    })
}

fn outcome_of(answer: HttpsAnswer) -> HttpsRecordOutcome {
    match answer {
        HttpsAnswer::Service(records) => HttpsRecordOutcome::Records { records },
        // Only the followed target's answer reaches here as an alias.
        HttpsAnswer::Alias { target } => HttpsRecordOutcome::AliasChain { target },
        HttpsAnswer::NoRecord => HttpsRecordOutcome::NoRecord,
        HttpsAnswer::NxDomain => HttpsRecordOutcome::NxDomain,
        HttpsAnswer::Failed(failure) => HttpsRecordOutcome::Failed { failure },
    }
}
