//! The sign-in log: each pending correlation id looked up, one request per poll round for all
//! of them, with the `x-ms-request-id` fallback; Graph's records read into [`SignInRecord`]s.

use super::*;

impl GraphClient {
    /// Looks every pending sign-in up, polling until all are found or `wait` has passed
    /// (`Duration::ZERO`: one round). One request per round covers every pending correlation
    /// id; those still missing are then asked for by `x-ms-request-id`. Rounds are spaced from
    /// the first poll interval, doubling, up to one every 30 s. Returns one result per pending
    /// sign-in, in the order given.
    pub async fn find_sign_ins(
        &self,
        pending: &[PendingSignIn],
        wait: Duration,
    ) -> Vec<(String, SignInLookup)> {
        let started = Instant::now();
        let deadline = started + wait;
        let mut found: HashMap<String, SignInLookup> = HashMap::new();
        let mut interval = self.inner.settings.first_poll_interval;
        loop {
            let missing: Vec<&PendingSignIn> = pending
                .iter()
                .filter(|p| !found.contains_key(&p.correlation_id))
                .collect();
            if missing.is_empty() {
                break;
            }
            if let Err(error) = self.round(&missing, &mut found, deadline).await {
                for p in &missing {
                    found.insert(
                        p.correlation_id.clone(),
                        SignInLookup::Failed {
                            error: error.clone(),
                        },
                    );
                }
                break;
            }
            let now = Instant::now();
            if now >= deadline
                || pending
                    .iter()
                    .all(|p| found.contains_key(&p.correlation_id))
            {
                break;
            }
            tokio::time::sleep(interval.min(deadline - now)).await;
            interval = (interval * 2).min(MAX_POLL_INTERVAL);
        }
        let waited = started.elapsed();
        pending
            .iter()
            .map(|p| {
                let result = found
                    .remove(&p.correlation_id)
                    .unwrap_or(SignInLookup::NotYetIngested { waited });
                (p.correlation_id.clone(), result)
            })
            .collect()
    }

    /// One poll round: by correlation id, then by request id for those not found.
    pub(super) async fn round(
        &self,
        missing: &[&PendingSignIn],
        found: &mut HashMap<String, SignInLookup>,
        deadline: Instant,
    ) -> Result<(), GraphError> {
        let terms: Vec<String> = missing
            .iter()
            .map(|p| format!("correlationId eq '{}'", odata_quote(&p.correlation_id)))
            .collect();
        let records = self.sign_ins(&terms, deadline).await?;
        for p in missing {
            if let Some(raw) = records
                .iter()
                .find(|r| r.correlation_id.as_deref() == Some(&p.correlation_id))
            {
                found.insert(p.correlation_id.clone(), record(raw)?);
            }
        }
        let by_id: Vec<(&PendingSignIn, &str)> = missing
            .iter()
            .filter(|p| !found.contains_key(&p.correlation_id))
            .filter_map(|p| p.request_id.as_deref().map(|id| (*p, id)))
            .collect();
        if by_id.is_empty() {
            return Ok(());
        }
        let terms: Vec<String> = by_id
            .iter()
            .map(|(_, id)| format!("id eq '{}'", odata_quote(id)))
            .collect();
        let records = self.sign_ins(&terms, deadline).await?;
        for (p, id) in by_id {
            if let Some(raw) = records.iter().find(|r| r.id.as_deref() == Some(id)) {
                found.insert(p.correlation_id.clone(), record(raw)?);
            }
        }
        Ok(())
    }

    /// Every service-principal sign-in matching any of `terms`, all pages.
    pub(super) async fn sign_ins(
        &self,
        terms: &[String],
        deadline: Instant,
    ) -> Result<Vec<RawSignIn>, GraphError> {
        let filter = format!(
            "({}) and signInEventTypes/any(t: t eq 'servicePrincipal')",
            terms.join(" or ")
        );
        let mut url = self.url("beta/auditLogs/signIns")?;
        url.set_query(Some(&format!(
            "$filter={}&$top=1000",
            encode_query_value(&filter)
        )));
        self.pages(url, deadline).await
    }
}

/// A beta `signIn` as read: everything optional, judged by [`record`].
#[derive(Debug, Deserialize)]
pub(super) struct RawSignIn {
    id: Option<String>,
    #[serde(rename = "createdDateTime")]
    created: Option<String>,
    #[serde(rename = "correlationId")]
    correlation_id: Option<String>,
    #[serde(rename = "ipAddress")]
    ip_address: Option<String>,
    #[serde(rename = "servicePrincipalId", default)]
    service_principal_id: Option<String>,
    status: Option<RawStatus>,
    #[serde(rename = "conditionalAccessStatus")]
    conditional_access_status: Option<String>,
    #[serde(rename = "appliedConditionalAccessPolicies", default)]
    applied: Vec<RawApplied>,
    #[serde(rename = "networkLocationDetails", default)]
    network: Vec<RawNetwork>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawStatus {
    #[serde(rename = "errorCode")]
    error_code: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawApplied {
    id: Option<String>,
    #[serde(rename = "displayName")]
    display_name: Option<String>,
    result: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawNetwork {
    #[serde(rename = "networkType")]
    network_type: Option<String>,
    #[serde(rename = "networkNames", default)]
    network_names: Vec<String>,
}

/// A record the harness can judge, or why not.
pub(super) fn record(raw: &RawSignIn) -> Result<SignInLookup, GraphError> {
    let id = raw.id.clone().unwrap_or_default();
    let correlation_id = raw.correlation_id.clone().unwrap_or_default();
    let Some(given) = raw.ip_address.as_deref().filter(|ip| !ip.is_empty()) else {
        return Err(GraphError::MissingIpAddress { id, correlation_id });
    };
    let ip_address = given
        .parse::<IpAddr>()
        .map_err(|_| GraphError::BadIpAddress {
            id: id.clone(),
            given: given.to_owned(),
        })?;
    Ok(SignInLookup::Found(SignInRecord {
        ip_address,
        created: raw.created.clone().unwrap_or_default(),
        correlation_id,
        id,
        status_code: raw.status.as_ref().and_then(|s| s.error_code).unwrap_or(0),
        conditional_access_status: raw.conditional_access_status.clone().unwrap_or_default(),
        applied_policies: raw
            .applied
            .iter()
            .map(|p| AppliedPolicy {
                id: p.id.clone().unwrap_or_default(),
                display_name: p.display_name.clone().unwrap_or_default(),
                result: p.result.clone().unwrap_or_default(),
            })
            .collect(),
        network_location_details: raw
            .network
            .iter()
            .map(|n| NetworkLocationDetail {
                network_type: n.network_type.clone().unwrap_or_default(),
                network_names: n.network_names.clone(),
            })
            .collect(),
        service_principal_id: raw
            .service_principal_id
            .clone()
            .filter(|id| !id.trim().is_empty()),
    }))
}
