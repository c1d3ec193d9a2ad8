//! The app-only token for Graph (OAuth client credentials), or the token a probe was issued
//! through the path under test.

use super::*;

impl GraphClient {
    /// A Graph token, cached until five minutes before it expires.
    pub(super) async fn token(&self) -> Result<Secret, GraphError> {
        let mut cached = self.inner.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let url = self.inner.token_url.clone();
        let credentials = &self.inner.settings.credentials;
        let form = credentials
            .token_form(
                url.as_str(),
                &credentials.cloud.graph_scope(),
                &uuid::Uuid::new_v4().to_string(),
            )
            .map_err(|e| GraphError::Token {
                url: url.to_string(),
                refusal: TokenRefusal::Other,
                meaning: cause_chain(&e).join(": "),
            })?;
        let answer = self
            .send(
                hyper::Method::POST,
                &url,
                None,
                Some((
                    "application/x-www-form-urlencoded",
                    form.expose().to_owned(),
                )),
            )
            .await?;
        let json: serde_json::Value =
            serde_json::from_slice(&answer.body).unwrap_or(serde_json::Value::Null);
        let issued = crate::observation::entra::IssuedToken::from_answer(&json)
            .filter(|_| answer.status == 200);
        let Some(issued) = issued else {
            let outcome = crate::entra::token::judge(
                answer.status,
                answer.content_type.clone(),
                &answer.body,
                answer.truncated,
            );
            let refusal = match &outcome {
                crate::observation::entra::TokenOutcome::Blocked { policy_ids } => {
                    TokenRefusal::ConditionalAccess {
                        policy_ids: policy_ids.clone(),
                    }
                }
                crate::observation::entra::TokenOutcome::Rejected { code, .. } => {
                    TokenRefusal::Credentials { code: *code }
                }
                _ => TokenRefusal::Other,
            };
            return Err(GraphError::Token {
                url: url.to_string(),
                refusal,
                meaning: token_meaning(&outcome, answer.status),
            });
        };
        *cached = Some((issued.token.clone(), issued.usable_until));
        Ok(issued.token)
    }

    /// Reads Graph with `issued` (until it is no longer usable) instead of asking the token
    /// endpoint on Graph's own route: a token asked for through the path under test, which
    /// Conditional Access trusts where it may refuse Graph's own route.
    pub async fn use_token(&self, issued: crate::observation::entra::IssuedToken) {
        *self.inner.token.lock().await = Some((issued.token, issued.usable_until));
    }
}

/// The words for a refused Graph token.
pub(super) fn token_meaning(
    outcome: &crate::observation::entra::TokenOutcome,
    status: u16,
) -> String {
    use crate::observation::entra::TokenOutcome;
    match outcome {
        TokenOutcome::Rejected { meaning, .. } => meaning.clone(),
        TokenOutcome::Blocked { policy_ids } => format!(
            "Conditional Access blocked the Graph token (policies {})",
            policy_ids.join(", ")
        ),
        TokenOutcome::NotJson { excerpt, .. } => {
            format!("a {status} answer that is not JSON: {excerpt}")
        }
        TokenOutcome::Failed { causes } => causes.join(": "),
        other => format!("{other:?}"),
    }
}
