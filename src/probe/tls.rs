//! TLS on 443: the handshake, the presented chain, and which trust anchor (if any) it ends at.

use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::TlsConnector;

use super::flight::Flight;
use super::tcp;
pub use super::trust::{AnyChain, ChainProblem, TrustError, TrustStore, client_provider};
use crate::observation::{CertSummary, ChainTrust, TlsObservation, TlsOutcome, cause_chain};

/// What the handshake asks for: the host, as the server name (SNI) and the name the chain
/// must cover.
#[derive(Debug, Clone)]
pub struct Spec {
    pub host: String,
}

/// The login path's TLS phase: the handshake on the connection its connect phase kept, within
/// what is left of the probe's timeout (counted from `started`, when the connect phase began).
/// Returns what it saw, timed from the handshake's own start, and the connection when its chain
/// is trusted by one of the anchor sets and names the host: only then may a request go on it.
pub async fn handshake_on(
    spec: &Spec,
    transport: Result<tcp::Transport, tcp::NoTransport>,
    trust: &TrustStore,
    timeout: Duration,
    started: Instant,
) -> (TlsObservation, Option<TlsStream>) {
    let began = Instant::now();
    let (addr, outcome, stream) = handshake(spec, trust, timeout, transport, started).await;
    let trusted = matches!(
        &outcome,
        TlsOutcome::Established { trust, .. } if !matches!(trust, ChainTrust::Untrusted { .. })
    );
    let seen = TlsObservation {
        addr,
        server_name: spec.host.clone(),
        outcome,
        elapsed: began.elapsed(),
    };
    (seen, stream.filter(|_| trusted))
}

/// A TLS connection the login path's request may go on.
pub type TlsStream = tokio_rustls::client::TlsStream<super::flight::Flight<tokio::net::TcpStream>>;

/// Completes the handshake on `transport` within what is left of the probe timeout; returns
/// what it saw and, when the handshake completed, the connection.
async fn handshake(
    spec: &Spec,
    trust: &TrustStore,
    timeout: Duration,
    transport: Result<tcp::Transport, tcp::NoTransport>,
    started: Instant,
) -> (std::net::SocketAddr, TlsOutcome, Option<TlsStream>) {
    let (addr, stream) = match transport {
        Ok(pair) => pair,
        Err((addr, outcome)) => return (addr, TlsOutcome::NoTransport { outcome }, None),
    };
    let server_name = match server_name(&spec.host) {
        Ok(name) => name,
        Err(cause) => {
            let outcome = TlsOutcome::Failed {
                causes: vec![cause],
            };
            return (addr, outcome, None);
        }
    };
    let connector = TlsConnector::from(trust.probe.clone());
    let budget = timeout.saturating_sub(started.elapsed());
    let handshake = tokio::time::timeout(
        budget,
        connector.connect(server_name.clone(), Flight::new(stream)),
    )
    .await;
    let tls = match handshake {
        Err(_) => return (addr, TlsOutcome::Timeout { after: timeout }, None),
        Ok(Err(e)) => {
            let outcome = TlsOutcome::Failed {
                causes: cause_chain(&e),
            };
            return (addr, outcome, None);
        }
        Ok(Ok(tls)) => tls,
    };
    let (_, session) = tls.get_ref();
    let version = session
        .protocol_version()
        .map(show_version)
        .unwrap_or_default();
    let cipher = session
        .negotiated_cipher_suite()
        .map(|c| format!("{:?}", c.suite()))
        .unwrap_or_default();
    let chain = session.peer_certificates().unwrap_or_default();
    let trust = match chain.split_first() {
        Some((leaf, rest)) => trust.classify(leaf, rest, &server_name).await,
        None => ChainTrust::Untrusted {
            error: "the server presented no certificate".into(),
        },
    };
    let matched_name = chain
        .first()
        .and_then(|leaf| matching_san(leaf, &spec.host));
    let outcome = TlsOutcome::Established {
        version,
        cipher,
        chain: chain.iter().map(summarize).collect(),
        trust,
        matched_name,
    };
    (addr, outcome, Some(tls))
}

/// The name a handshake with `host` asks for and checks the certificate against (a DNS name or
/// a literal address), or why `host` cannot be one.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_owned())
        .map_err(|e| format!("`{host}` is not a valid TLS server name: {e}"))
}

/// A protocol version as people name it: `TLS 1.3`.
fn show_version(version: rustls::ProtocolVersion) -> String {
    match version {
        rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3".into(),
        rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2".into(),
        other => format!("{other:?}"),
    }
}

/// The leaf's DNS subject alternative name that covers `host`: the name itself, or a wildcard
/// standing for its first label (`*.windows.net` covers `login.windows.net`).
fn matching_san(leaf: &CertificateDer<'_>, host: &str) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    let sans = cert.subject_alternative_name().ok()??;
    sans.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            x509_parser::extensions::GeneralName::DNSName(dns) => Some(*dns),
            _ => None,
        })
        .find(|dns| san_covers(dns, host))
        .map(str::to_string)
}

fn san_covers(san: &str, host: &str) -> bool {
    let (san, host) = (san.trim_end_matches('.'), host.trim_end_matches('.'));
    match san.strip_prefix("*.") {
        Some(parent) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest.eq_ignore_ascii_case(parent)),
        None => san.eq_ignore_ascii_case(host),
    }
}

/// Subject, issuer and expiry of one certificate, or why it could not be read.
fn summarize(der: &CertificateDer<'_>) -> CertSummary {
    match x509_parser::parse_x509_certificate(der.as_ref()) {
        Ok((_, cert)) => CertSummary {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            not_after: cert
                .validity()
                .not_after
                .to_rfc2822()
                .unwrap_or_else(|_| cert.validity().not_after.to_string()),
        },
        Err(e) => CertSummary {
            subject: format!("<unparsable certificate: {e}>"),
            issuer: String::new(),
            not_after: String::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_san_covers_its_name_or_one_label_under_its_wildcard() {
        assert!(san_covers("login.windows.net", "LOGIN.windows.net"));
        assert!(san_covers("*.windows.net", "login.windows.net"));
        assert!(san_covers("login.windows.net.", "login.windows.net"));
        assert!(!san_covers("*.windows.net", "a.login.windows.net"));
        assert!(!san_covers("*.windows.net", "windows.net"));
        assert!(!san_covers("login.microsoft.com", "login.windows.net"));
    }

    #[test]
    fn reads_which_san_of_a_leaf_matched() {
        let key = rcgen::KeyPair::generate().expect("a key");
        let params = rcgen::CertificateParams::new(vec![
            "login.microsoftonline.com".to_string(),
            "*.windows.net".to_string(),
        ])
        .expect("params");
        let cert = params.self_signed(&key).expect("a certificate");
        let der = cert.der().clone();
        assert_eq!(
            matching_san(&der, "login.windows.net").as_deref(),
            Some("*.windows.net")
        );
        assert_eq!(
            matching_san(&der, "login.microsoftonline.com").as_deref(),
            Some("login.microsoftonline.com")
        );
        assert_eq!(matching_san(&der, "login.microsoft.com"), None);
    }
}
