//! The token request probe: a client-credentials POST to a login host's v2 token endpoint
//! through the path under test (connect, TLS with the run's trust store, then the request on
//! that very connection), with a fresh `client-request-id` to find its sign-in again. What
//! Entra answered is recorded as typed data; an issued token is kept in memory only, for the
//! Graph client (never serialized or shown), and neither the secret nor the assertion ever
//! reaches the observation.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::Serialize;

use super::{Path, ProbeCtx, tcp, tls};
use crate::entra::{Cloud, EntraCredentials};
use crate::observation::{ConnectObservation, TlsObservation, cause_chain};
use crate::scenario::model::Port;

/// The most the probe reads of a token endpoint's answer.
pub const MAX_ANSWER: usize = 64 * 1024;
const USER_AGENT: &str = concat!("sipa-check/", env!("CARGO_PKG_VERSION"));

/// One token request: which login host, how to reach it, and as whom.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The login host, as the URL and TLS name.
    pub host: String,
    /// How to reach its port 443: addresses, or the explicit proxy (CONNECT).
    pub path: Path,
    /// The probe app (its `Debug` shows no secret).
    pub credentials: Arc<EntraCredentials>,
}

/// What one token request saw.
#[derive(Debug, Clone, Serialize)]
pub struct TokenObservation {
    /// The login host asked.
    pub host: String,
    /// The token endpoint.
    pub url: String,
    /// The `client-request-id` sent (header and form field): the sign-in's `correlationId`.
    pub correlation_id: String,
    /// When the request was sent.
    #[serde(serialize_with = "rfc3339")]
    pub sent_at: SystemTime,
    /// Where the request went: the address reached, or the proxy.
    pub via: String,
    /// The connect phase.
    pub connect: ConnectObservation,
    /// The TLS phase, when a connection was made.
    pub tls: Option<TlsObservation>,
    /// The `x-ms-request-id` answered: the sign-in's `id`, for the fallback lookup.
    pub request_id: Option<String>,
    /// What Entra decided.
    pub outcome: TokenOutcome,
    /// The token Entra issued, in memory only (never serialized, never shown): Graph is read
    /// with it, as it was asked for through the path under test, which Conditional Access
    /// trusts, where a token asked for on Graph's own route may be refused.
    #[serde(skip)]
    pub issued: Option<IssuedToken>,
    /// From the start of the connect phase to the end of the answer.
    #[serde(with = "crate::observation::ms", rename = "elapsed_ms")]
    pub elapsed: Duration,
}

/// An access token Entra issued (for Microsoft Graph) and until when it may be used. Its
/// `Debug` shows no token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: crate::scenario::model::Secret,
    /// Five minutes before it expires, as a client stops using a token.
    pub usable_until: Instant,
}

impl IssuedToken {
    /// The token of a 200 answer's JSON (`access_token`, `expires_in` in seconds, as a number
    /// or a string; an hour when absent), or `None` when it holds none.
    pub fn from_answer(json: &serde_json::Value) -> Option<IssuedToken> {
        let token = json
            .get("access_token")
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())?;
        let lifetime = match json.get("expires_in") {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .unwrap_or(3599);
        Some(IssuedToken {
            token: crate::scenario::model::Secret::new(token),
            usable_until: Instant::now() + Duration::from_secs(lifetime.saturating_sub(300)),
        })
    }
}

/// What the token endpoint answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum TokenOutcome {
    /// A token was issued (and dropped at once): Conditional Access let the app through.
    Issued,
    /// AADSTS53003: Conditional Access blocked the token, naming its policies (`capolids`).
    Blocked { policy_ids: Vec<String> },
    /// Another AADSTS error: the credentials or the tenant are wrong.
    Rejected {
        /// The first of `error_codes`, if any.
        code: Option<u64>,
        /// What the code means, when it is one the harness knows.
        known: Option<Rejection>,
        /// The meaning in words: the known one, else the answer's `error_description`.
        meaning: String,
    },
    /// The answer is not Entra's JSON (a proxy's page, an HTML error).
    NotJson {
        status: u16,
        content_type: Option<String>,
        excerpt: String,
    },
    /// No request could be sent: no connection, or a TLS chain that is not trusted.
    NotSent { why: String },
    /// The exchange failed or its answer had an unexpected shape.
    Failed { causes: Vec<String> },
    /// No complete answer within the probe's timeout.
    Timeout {
        #[serde(with = "crate::observation::ms", rename = "after_ms")]
        after: Duration,
    },
}

/// AADSTS codes with a fix the report can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    /// 7000215.
    InvalidClientSecret,
    /// 7000222.
    ExpiredClientSecret,
    /// 700016.
    AppNotFoundInTenant,
    /// 90002.
    TenantNotFound,
    /// 700027.
    BadClientAssertionSignature,
}

impl Rejection {
    /// The rejection an AADSTS code stands for, if the harness knows it.
    pub fn from_code(code: u64) -> Option<Rejection> {
        match code {
            7000215 => Some(Rejection::InvalidClientSecret),
            7000222 => Some(Rejection::ExpiredClientSecret),
            700016 => Some(Rejection::AppNotFoundInTenant),
            90002 => Some(Rejection::TenantNotFound),
            700027 => Some(Rejection::BadClientAssertionSignature),
            _ => None,
        }
    }

    /// What it means, and what to fix.
    pub fn meaning(self) -> &'static str {
        match self {
            Rejection::InvalidClientSecret => {
                "invalid client secret: AZURE_CLIENT_SECRET is not a secret of this app"
            }
            Rejection::ExpiredClientSecret => {
                "the client secret has expired: make a new one for the app"
            }
            Rejection::AppNotFoundInTenant => {
                "the app (AZURE_CLIENT_ID) is not found in the tenant: wrong client id or tenant, \
                 or no admin consent"
            }
            Rejection::TenantNotFound => "the tenant (AZURE_TENANT_ID) is not found",
            Rejection::BadClientAssertionSignature => {
                "the client assertion's signature is not valid: the certificate is not uploaded \
                 to the app, or the key does not match it"
            }
        }
    }
}

fn rfc3339<S: serde::Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&show_time(*time))
}

/// A time as reports show it: RFC 3339, UTC.
pub fn show_time(time: SystemTime) -> String {
    time::OffsetDateTime::from(time)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Sends the token request for `spec` through the path under test, within the probe timeout.
pub async fn run(spec: &Spec, ctx: &ProbeCtx) -> TokenObservation {
    let started = Instant::now();
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let tenant = &spec.credentials.tenant_id;
    let url = Cloud::token_endpoint(&spec.host, tenant);
    let (connect, transport) = tcp::connect(
        &tcp::Spec {
            host: spec.host.clone(),
            port: Port::HTTPS,
            path: spec.path.clone(),
        },
        ctx,
    )
    .await;
    let via = match (&spec.path, &ctx.proxy) {
        (Path::Proxy, Some(proxy)) => format!("proxy {}", proxy.display_url()),
        _ => match &transport {
            Ok((addr, _)) => addr.to_string(),
            Err((addr, _)) => addr.to_string(),
        },
    };
    let handshake = tls::Spec {
        host: spec.host.clone(),
    };
    let (tls, trusted) = tls::handshake_on(&handshake, transport, ctx, started).await;
    let mut seen = TokenObservation {
        host: spec.host.clone(),
        url: url.clone(),
        correlation_id: correlation_id.clone(),
        sent_at: SystemTime::now(),
        via,
        connect,
        tls: None,
        request_id: None,
        outcome: TokenOutcome::NotSent { why: String::new() },
        issued: None,
        elapsed: Duration::ZERO,
    };
    let Some(stream) = trusted else {
        seen.outcome = TokenOutcome::NotSent {
            why: not_sent(&tls),
        };
        seen.tls = Some(tls);
        seen.elapsed = started.elapsed();
        return seen;
    };
    seen.tls = Some(tls);
    let scope = spec.credentials.cloud.graph_scope();
    let form = match spec.credentials.token_form(&url, &scope, &correlation_id) {
        Ok(form) => form,
        Err(e) => {
            seen.outcome = TokenOutcome::NotSent {
                why: cause_chain(&e).join(": "),
            };
            seen.elapsed = started.elapsed();
            return seen;
        }
    };
    seen.sent_at = SystemTime::now();
    let budget = ctx.timeout.saturating_sub(started.elapsed());
    let request = Request {
        host: &spec.host,
        tenant,
        correlation_id: &correlation_id,
        form: form.expose(),
    };
    let (request_id, outcome, issued) =
        match tokio::time::timeout(budget, exchange(stream, &request)).await {
            Ok(done) => done,
            Err(_) => (None, TokenOutcome::Timeout { after: ctx.timeout }, None),
        };
    seen.request_id = request_id;
    seen.issued = issued;
    seen.outcome = scrub_outcome(outcome, &form_secrets(form.expose()));
    seen.elapsed = started.elapsed();
    seen
}

/// Why the request was not sent, from the TLS phase.
fn not_sent(tls: &TlsObservation) -> String {
    use crate::observation::{ChainTrust, TlsOutcome};
    match &tls.outcome {
        TlsOutcome::Established {
            trust: ChainTrust::Untrusted { .. },
            ..
        } => "the login host's TLS chain is not trusted: no credentials sent".into(),
        TlsOutcome::NoTransport { .. } => "no connection to the login host".into(),
        TlsOutcome::Timeout { .. } => "the TLS handshake timed out".into(),
        _ => "the TLS handshake failed".into(),
    }
}

struct Request<'a> {
    host: &'a str,
    tenant: &'a str,
    correlation_id: &'a str,
    form: &'a str,
}

/// The POST and its answer on `stream`: the `x-ms-request-id`, what it means, and the token
/// when one was issued.
async fn exchange(
    stream: tls::TlsStream,
    request: &Request<'_>,
) -> (Option<String>, TokenOutcome, Option<IssuedToken>) {
    let failed = |e: &hyper::Error, doing: &str| {
        let mut causes = vec![doing.to_string()];
        causes.extend(cause_chain(e));
        TokenOutcome::Failed { causes }
    };
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, connection) = match hyper::client::conn::http1::handshake(io).await {
        Ok(pair) => pair,
        Err(e) => return (None, failed(&e, "starting HTTP on the connection"), None),
    };
    let _connection = super::AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let built = hyper::Request::post(format!("/{}/oauth2/v2.0/token", request.tenant))
        .header(hyper::header::HOST, request.host)
        .header(hyper::header::USER_AGENT, USER_AGENT)
        .header(hyper::header::ACCEPT, "application/json")
        .header(
            hyper::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header("client-request-id", request.correlation_id)
        .header("return-client-request-id", "true")
        .body(Full::new(Bytes::from(request.form.to_owned())));
    let built = match built {
        Ok(r) => r,
        Err(e) => {
            return (
                None,
                TokenOutcome::Failed {
                    causes: vec![format!("cannot build the token request: {e}")],
                },
                None,
            );
        }
    };
    let response = match sender.send_request(built).await {
        Ok(r) => r,
        Err(e) => return (None, failed(&e, "sending the token request"), None),
    };
    let (head, mut incoming) = response.into_parts();
    let request_id = head
        .headers
        .get("x-ms-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let content_type = head
        .headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut bytes = Vec::new();
    let mut truncated = false;
    while let Some(frame) = incoming.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                let doing = format!("reading the body of a {} answer", head.status.as_u16());
                return (request_id, failed(&e, &doing), None);
            }
        };
        if let Ok(chunk) = frame.into_data() {
            let room = MAX_ANSWER.saturating_sub(bytes.len());
            bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if chunk.len() > room {
                truncated = true;
                break;
            }
        }
    }
    let outcome = judge(head.status.as_u16(), content_type, &bytes, truncated);
    let issued = match outcome {
        TokenOutcome::Issued => serde_json::from_slice(&bytes)
            .ok()
            .and_then(|json| IssuedToken::from_answer(&json)),
        _ => None,
    };
    (request_id, outcome, issued)
}

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

/// What the evidence keeps of an answer's body.
fn excerpt(body: &[u8]) -> String {
    super::http::excerpt(body)
}

/// The secret parts of a token form: the client secret or the assertion.
fn form_secrets(form: &str) -> Vec<String> {
    url::form_urlencoded::parse(form.as_bytes())
        .filter(|(k, _)| k == "client_secret" || k == "client_assertion")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// An answer that repeats the secret (a hostile or broken middlebox) must not carry it into
/// the evidence.
fn scrub_outcome(outcome: TokenOutcome, secrets: &[String]) -> TokenOutcome {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: u64, description: &str) -> Vec<u8> {
        serde_json::json!({"error": "invalid_client", "error_codes": [code],
            "error_description": format!("AADSTS{code}: {description} Trace ID: t Correlation ID: c")})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_token_is_issued_and_not_kept() {
        let body = br#"{"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0.x.y"}"#;
        let outcome = judge(200, None, body, false);
        assert_eq!(outcome, TokenOutcome::Issued);
        assert!(!format!("{outcome:?}").contains("eyJ0"));
    }

    #[test]
    fn conditional_access_blocks_name_their_policies() {
        let body = serde_json::json!({"error": "invalid_grant", "error_codes": [53003],
            "error_description": "AADSTS53003: Access has been blocked by Conditional Access policies.",
            "claims": "{\"access_token\":{\"capolids\":{\"essential\":true,\"values\":[\"p-1\",\"p-2\"]}}}"});
        assert_eq!(
            judge(400, None, body.to_string().as_bytes(), false),
            TokenOutcome::Blocked {
                policy_ids: vec!["p-1".into(), "p-2".into()]
            }
        );
    }

    #[test]
    fn known_codes_have_their_meaning_and_others_their_description() {
        for (code, known) in [
            (7000215, Rejection::InvalidClientSecret),
            (7000222, Rejection::ExpiredClientSecret),
            (700016, Rejection::AppNotFoundInTenant),
            (90002, Rejection::TenantNotFound),
            (700027, Rejection::BadClientAssertionSignature),
        ] {
            let outcome = judge(401, None, &error(code, "text"), false);
            assert_eq!(
                outcome,
                TokenOutcome::Rejected {
                    code: Some(code),
                    known: Some(known),
                    meaning: known.meaning().into()
                }
            );
        }
        assert_eq!(
            judge(
                400,
                None,
                &error(70011, "The provided scope is not valid."),
                false
            ),
            TokenOutcome::Rejected {
                code: Some(70011),
                known: None,
                meaning: "AADSTS70011: The provided scope is not valid.".into()
            }
        );
    }

    #[test]
    fn pages_and_odd_shapes_are_named() {
        let outcome = judge(
            403,
            Some("text/html".into()),
            b"<html>Blocked by policy</html>",
            false,
        );
        assert!(
            matches!(outcome, TokenOutcome::NotJson { status: 403, ref excerpt, .. } if excerpt.contains("Blocked"))
        );
        assert!(matches!(
            judge(200, None, b"{}", false),
            TokenOutcome::Failed { ref causes } if causes[0].contains("without an access_token")
        ));
        assert!(matches!(
            judge(500, None, b"[1,2]", false),
            TokenOutcome::Failed { ref causes } if causes[0].contains("not an Entra error")
        ));
    }

    #[test]
    fn a_repeated_secret_is_scrubbed() {
        let secrets = form_secrets("client_id=a&client_secret=s3cr3t%21&scope=x");
        assert_eq!(secrets, vec!["s3cr3t!".to_owned()]);
        let outcome = scrub_outcome(
            TokenOutcome::NotJson {
                status: 400,
                content_type: None,
                excerpt: "echo: s3cr3t!".into(),
            },
            &secrets,
        );
        assert!(!format!("{outcome:?}").contains("s3cr3t"));
    }
}
