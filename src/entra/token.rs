//! The token endpoint's answer, judged: what Entra decided for a client-credentials request
//! (issued, blocked by Conditional Access, rejected, or no answer of Entra's), as the token
//! probe (through the path under test) and the Graph client (on Graph's own route) both read
//! it, and the secrets a hostile answer might echo, scrubbed.

use crate::observation::entra::{Rejection, TokenOutcome};
use crate::observation::excerpt;

/// The most a client reads of a token endpoint's answer.
pub const MAX_ANSWER: usize = 64 * 1024;

/// What an answer means, from its status and body alone (pure: unit-tested below).
pub fn judge(
    status: u16,
    content_type: Option<String>,
    body: &[u8],
    truncated: bool,
) -> TokenOutcome {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        let excerpt = excerpt(body);
        return if truncated {
            TokenOutcome::Failed {
                causes: vec![format!(
                    "the {status} answer is longer than {MAX_ANSWER} bytes: {excerpt}"
                )],
            }
        } else {
            TokenOutcome::NotJson {
                status,
                content_type,
                excerpt,
            }
        };
    };
    if status == 200 {
        return match json.get("access_token").and_then(|t| t.as_str()) {
            Some(token) if !token.is_empty() => TokenOutcome::Issued,
            _ => TokenOutcome::Failed {
                causes: vec!["a 200 answer without an access_token".into()],
            },
        };
    }
    let codes: Vec<u64> = json
        .get("error_codes")
        .and_then(|c| c.as_array())
        .map(|codes| codes.iter().filter_map(|c| c.as_u64()).collect())
        .unwrap_or_default();
    if codes.contains(&53003) {
        return TokenOutcome::Blocked {
            policy_ids: capolids(&json),
        };
    }
    let description = json
        .get("error_description")
        .and_then(|d| d.as_str())
        .map(str::to_owned);
    if codes.is_empty() && description.is_none() && json.get("error").is_none() {
        return TokenOutcome::Failed {
            causes: vec![format!(
                "a {status} JSON answer that is not an Entra error: {}",
                excerpt(body)
            )],
        };
    }
    let code = codes.first().copied();
    let known = code.and_then(Rejection::from_code);
    let meaning = match (known, description) {
        (Some(known), _) => known.meaning().to_owned(),
        (None, Some(description)) => first_sentence(&description),
        (None, None) => format!(
            "{} (HTTP {status})",
            json.get("error")
                .and_then(|e| e.as_str())
                .unwrap_or("error")
        ),
    };
    TokenOutcome::Rejected {
        code,
        known,
        meaning,
    }
}

/// The blocking policies' ids, from `claims` (a JSON string) → `access_token.capolids.values`.
fn capolids(json: &serde_json::Value) -> Vec<String> {
    let claims = match json.get("claims") {
        Some(serde_json::Value::String(text)) => serde_json::from_str(text).unwrap_or_default(),
        Some(object) => object.clone(),
        None => serde_json::Value::Null,
    };
    claims
        .pointer("/access_token/capolids/values")
        .and_then(|v| v.as_array())
        .map(|ids| {
            ids.iter()
                .filter_map(|id| id.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `AADSTS90002: Tenant 'x' not found. Trace ID: …` → `AADSTS90002: Tenant 'x' not found.`
fn first_sentence(description: &str) -> String {
    let cut = description.find(" Trace ID:").unwrap_or(description.len());
    description[..cut].trim().to_owned()
}

/// The secret parts of a token form: the client secret or the assertion.
pub fn form_secrets(form: &str) -> Vec<String> {
    url::form_urlencoded::parse(form.as_bytes())
        .filter(|(k, _)| k == "client_secret" || k == "client_assertion")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// An answer that repeats the secret (a hostile or broken middlebox) must not carry it into
/// the evidence.
pub fn scrub_outcome(outcome: TokenOutcome, secrets: &[String]) -> TokenOutcome {
    let scrub = |text: String| {
        secrets.iter().fold(text, |text, secret| {
            text.replace(secret.as_str(), "REDACTED")
        })
    };
    match outcome {
        TokenOutcome::Rejected {
            code,
            known,
            meaning,
        } => TokenOutcome::Rejected {
            code,
            known,
            meaning: scrub(meaning),
        },
        TokenOutcome::NotJson {
            status,
            content_type,
            excerpt,
        } => TokenOutcome::NotJson {
            status,
            content_type,
            excerpt: scrub(excerpt),
        },
        TokenOutcome::Failed { causes } => TokenOutcome::Failed {
            causes: causes.into_iter().map(scrub).collect(),
        },
        other => other,
    }
}
