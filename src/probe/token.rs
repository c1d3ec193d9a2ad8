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

use super::ctx::{Path, ProbeCtx};
use super::{tcp, tls};
pub use crate::entra::token::{MAX_ANSWER, form_secrets, judge, scrub_outcome};
use crate::entra::{Cloud, EntraCredentials};
pub use crate::observation::entra::{
    IssuedToken, Rejection, TokenObservation, TokenOutcome, show_time,
};
use crate::observation::{TlsObservation, cause_chain};
use crate::scenario::model::Port;

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
    let addr = match &transport {
        Ok((addr, _)) | Err((addr, _)) => *addr,
    };
    let via = match &spec.path {
        Path::Proxy(chain) => match super::proxy::carrying(chain, addr) {
            Some(proxy) => format!("proxy {}", proxy.display_url()),
            None => addr.to_string(),
        },
        Path::Direct(_) => addr.to_string(),
    };
    let handshake = tls::Spec {
        host: spec.host.clone(),
    };
    let (tls, trusted) =
        tls::handshake_on(&handshake, transport, &ctx.trust, ctx.timeout, started).await;
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
    let _connection = super::ctx::AbortOnDrop(tokio::spawn(async move {
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
