//! Conditional Access What If: the app's service principal, and what each policy would do
//! with a sign-in from one IP, in every request shape Microsoft documents.

use super::*;

impl GraphClient {
    /// The object id of the service principal of the app `client_id` in this tenant
    /// (`GET /v1.0/servicePrincipals(appId='…')`): the subject of the older What If shapes.
    pub async fn service_principal_id(&self, client_id: &str) -> Result<String, GraphError> {
        #[derive(Deserialize)]
        struct RawServicePrincipal {
            id: Option<String>,
        }
        let mut url = self.url(&format!(
            "v1.0/servicePrincipals(appId='{}')",
            odata_quote(client_id)
        ))?;
        url.set_query(Some("$select=id,appId,displayName"));
        let deadline = Instant::now() + self.inner.settings.timeout;
        let answer = self.get_json(&url, deadline).await?;
        let raw: RawServicePrincipal =
            serde_json::from_value(answer).map_err(|e| GraphError::BadJson {
                url: url.to_string(),
                detail: e.to_string(),
            })?;
        raw.id
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| GraphError::BadJson {
                url: url.to_string(),
                detail: "the service principal has no `id`".into(),
            })
    }

    /// What If for a sign-in of `subject` from `ip`, as Microsoft documents it first:
    /// `POST /v1.0/identity/conditionalAccess/evaluate` with a `servicePrincipalSignIn`
    /// subject whose `servicePrincipalId` is the app id; then the same on `/beta`; then, only
    /// with the service principal's object id, the `servicePrincipalSubject` and the older
    /// `conditionalAccessWhatIfSubject` shapes on `/beta`. A 400 or 404 moves on to the next;
    /// a refusal of all of them is [`GraphError::WhatIfUnavailable`]. Returns the request that
    /// was answered and its policies. Every policy of the answer must say whether it applies:
    /// an answer without `value`, or a policy without `id` or `policyApplies`, is
    /// [`GraphError::BadJson`].
    pub async fn what_if(
        &self,
        subject: &WhatIfSubject,
        ip: IpAddr,
    ) -> Result<(WhatIfRequest, Vec<WhatIfPolicy>), GraphError> {
        let v1 = self.url("v1.0/identity/conditionalAccess/evaluate")?;
        let beta = self.url("beta/identity/conditionalAccess/evaluate")?;
        let deadline = Instant::now() + self.inner.settings.timeout;
        let sign_in = |identity_type: &str, id: &str| {
            serde_json::json!({
                "signInIdentity": {"@odata.type": identity_type, "servicePrincipalId": id},
                "signInContext": {"@odata.type": "#microsoft.graph.applicationContext",
                    "includeApplications": [subject.resource_app_id]},
                "signInConditions": {"ipAddress": ip.to_string()},
                "appliedPoliciesOnly": false,
            })
        };
        let documented = sign_in("#microsoft.graph.servicePrincipalSignIn", &subject.app_id);
        let mut requests = vec![
            (WhatIfRequest::DocumentedV1, &v1, documented.clone()),
            (WhatIfRequest::DocumentedBeta, &beta, documented),
        ];
        if let Some(object_id) = &subject.object_id {
            requests.push((
                WhatIfRequest::SubjectShapeBeta,
                &beta,
                sign_in("#microsoft.graph.servicePrincipalSubject", object_id),
            ));
            requests.push((
                WhatIfRequest::OlderShapeBeta,
                &beta,
                serde_json::json!({
                    "conditionalAccessWhatIfSubject": {"@odata.type": "#microsoft.graph.servicePrincipalSubject",
                        "servicePrincipalId": object_id},
                    "conditionalAccessContext": {"@odata.type": "#microsoft.graph.whatIfApplicationContext",
                        "includeApplications": [subject.resource_app_id]},
                    "conditionalAccessWhatIfConditions": {"ipAddress": ip.to_string()},
                    "appliedPoliciesOnly": false,
                }),
            ));
        }
        let mut refusals: Vec<String> = Vec::new();
        for (request, url, body) in requests {
            match self.post_json(url, &body, deadline).await {
                Err(GraphError::Status {
                    status: status @ (400 | 404),
                    message,
                    ..
                }) => refusals.push(format!("{request}: {status} {message}")),
                answer => {
                    let (mut raw, next) = what_if_results(url, answer?)?;
                    if let Some(next) = next {
                        raw.extend(self.pages::<RawWhatIfPolicy>(next, deadline).await?);
                    }
                    let policies = raw
                        .into_iter()
                        .enumerate()
                        .map(|(i, p)| what_if_policy(url, i, p))
                        .collect::<Result<Vec<_>, _>>()?;
                    return Ok((request, policies));
                }
            }
        }
        Err(GraphError::WhatIfUnavailable { refusals })
    }

    /// What If for every IP, at most [`MAX_CONNECTIONS`] requests at once (the connection
    /// limit holds anyway; this keeps the rest from queueing on it): the policies per IP, in
    /// the order given.
    pub async fn what_if_each(
        &self,
        subject: &WhatIfSubject,
        ips: &[IpAddr],
    ) -> Vec<(
        IpAddr,
        Result<(WhatIfRequest, Vec<WhatIfPolicy>), GraphError>,
    )> {
        use futures::stream::StreamExt;
        futures::stream::iter(ips.iter().copied())
            .map(|ip| async move { (ip, self.what_if(subject, ip).await) })
            .buffered(MAX_CONNECTIONS)
            .collect()
            .await
    }
}

/// One `whatIfAnalysisResult` as read: everything optional, judged by [`what_if_policy`].
#[derive(Debug, Deserialize)]
pub(super) struct RawWhatIfPolicy {
    id: Option<String>,
    #[serde(rename = "displayName", default)]
    display_name: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(rename = "policyApplies")]
    policy_applies: Option<bool>,
    #[serde(rename = "analysisReasons", default)]
    analysis_reasons: Option<serde_json::Value>,
}

/// What If's answer: its policies and the next page, if Graph gave one (on this origin); no
/// `value` is an error.
pub(super) fn what_if_results(
    url: &url::Url,
    answer: serde_json::Value,
) -> Result<(Vec<RawWhatIfPolicy>, Option<url::Url>), GraphError> {
    #[derive(Deserialize)]
    struct Results {
        value: Option<Vec<RawWhatIfPolicy>>,
        #[serde(rename = "@odata.nextLink")]
        next_link: Option<String>,
    }
    let bad = |detail: String| GraphError::BadJson {
        url: url.to_string(),
        detail,
    };
    let results: Results = serde_json::from_value(answer).map_err(|e| bad(e.to_string()))?;
    let Some(value) = results.value else {
        return Err(bad(
            "no `value`: What If answers a collection of whatIfAnalysisResult".into(),
        ));
    };
    let next = match results.next_link {
        None => None,
        Some(next) => {
            let next = url::Url::parse(&next)
                .map_err(|e| bad(format!("@odata.nextLink is not a URL: {e}")))?;
            if next.origin() != url.origin() {
                return Err(GraphError::ForeignNextLink {
                    base: url.to_string(),
                    next: next.to_string(),
                });
            }
            Some(next)
        }
    };
    Ok((value, next))
}

/// The `index`th policy of What If's answer, or what it lacks: every policy must have an `id`
/// and say whether it applies.
pub(super) fn what_if_policy(
    url: &url::Url,
    index: usize,
    p: RawWhatIfPolicy,
) -> Result<WhatIfPolicy, GraphError> {
    let bad = |detail: String| GraphError::BadJson {
        url: url.to_string(),
        detail,
    };
    let id =
        p.id.filter(|id| !id.is_empty())
            .ok_or_else(|| bad(format!("policy {} of `value` has no `id`", index + 1)))?;
    let applies = p
        .policy_applies
        .ok_or_else(|| bad(format!("policy {id} has no boolean `policyApplies`")))?;
    let analysis_reasons = match p.analysis_reasons {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s,
        // A flags enum may come as a list of its members.
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                bad(format!(
                    "policy {id} has `analysisReasons` that are not text"
                ))
            })?
            .join(","),
        Some(other) => {
            return Err(bad(format!(
                "policy {id} has `analysisReasons` {other} that are not text"
            )));
        }
    };
    Ok(WhatIfPolicy {
        display_name: p.display_name.unwrap_or_else(|| id.clone()),
        id,
        state: p.state.unwrap_or_default(),
        applies,
        analysis_reasons,
    })
}
