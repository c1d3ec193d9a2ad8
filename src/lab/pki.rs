//! The lab's certificates: the lab CA that the harness is told to trust, the leaf that the origin
//! servers present for every lab name, and the unknown "Lab Interception CA" of the SSL
//! inspection fault. All rustls configurations are built here, with an explicit ring provider.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::world::LabError;

/// Common name of the CA the harness is given with `--ca-file`.
pub const LAB_CA_NAME: &str = "sipa-check lab CA";
/// Common name of the CA used by the `tls-intercept` fault; the harness is never told about it.
pub const INTERCEPTION_CA_NAME: &str = "Lab Interception CA";

/// A certificate authority made at lab start.
pub(crate) struct Authority {
    params: CertificateParams,
    key: KeyPair,
    der: CertificateDer<'static>,
    pem: String,
}

/// A certificate chain and its private key, ready for a rustls server.
pub(crate) struct ServerIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// The chain and the key in PEM form, for a real server run with the lab's certificates.
    pub(crate) chain_pem: String,
    pub(crate) key_pem: String,
}

impl Authority {
    /// Makes a self-signed CA named `common_name`.
    pub(crate) fn generate(common_name: &'static str) -> Result<Self, LabError> {
        let failed = |source| LabError::Certificate {
            what: common_name,
            source,
        };
        let key = KeyPair::generate().map_err(failed)?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "sipa-check lab");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params);
        let cert = params.self_signed(&key).map_err(failed)?;
        Ok(Authority {
            pem: cert.pem(),
            der: cert.der().clone(),
            params,
            key,
        })
    }

    /// The CA certificate in PEM form.
    pub(crate) fn pem(&self) -> &str {
        &self.pem
    }

    /// The CA certificate in DER form.
    pub(crate) fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }

    /// Issues a server certificate for `names`; the chain carries the CA too, as real front
    /// ends send their intermediates.
    pub(crate) fn issue_server(
        &self,
        what: &'static str,
        names: &[&str],
    ) -> Result<ServerIdentity, LabError> {
        let failed = |source| LabError::Certificate { what, source };
        let key = KeyPair::generate().map_err(failed)?;
        let sans: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(sans).map_err(failed)?;
        if let Some(first) = names.first() {
            params.distinguished_name.push(DnType::CommonName, *first);
        }
        params.is_ca = IsCa::NoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        set_validity(&mut params);
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).map_err(failed)?;
        Ok(ServerIdentity {
            chain: vec![cert.der().clone(), self.der.clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            chain_pem: format!("{}{}", cert.pem(), self.pem),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Valid from yesterday (clock skew between test processes is harmless) for thirty days.
fn set_validity(params: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(30);
}

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS server configuration presenting `identity`, speaking HTTP/1.1 only (the lab's servers
/// are HTTP/1.1, so a client must not be offered h2).
pub(crate) fn server_config(
    what: &'static str,
    identity: &ServerIdentity,
) -> Result<Arc<rustls::ServerConfig>, LabError> {
    let failed = |source| LabError::Tls { what, source };
    let mut config = rustls::ServerConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .map_err(failed)?
        .with_no_client_auth()
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(failed)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The QUIC listener's TLS configuration: TLS 1.3 (QUIC has no other), ALPN `h3`.
pub(crate) fn h3_server_config(
    what: &'static str,
    identity: &ServerIdentity,
) -> Result<rustls::ServerConfig, LabError> {
    let failed = |source| LabError::Tls { what, source };
    let mut config = rustls::ServerConfig::builder_with_provider(ring())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(failed)?
        .with_no_client_auth()
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(failed)?;
    config.alpn_protocols = vec![b"h3".to_vec()];
    Ok(config)
}

/// A TLS client configuration that trusts only `ca`: the gateway uses it to reach the origin
/// when it intercepts TLS.
pub(crate) fn client_config(
    what: &'static str,
    ca: &CertificateDer<'static>,
) -> Result<Arc<rustls::ClientConfig>, LabError> {
    let failed = |source| LabError::Tls { what, source };
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).map_err(failed)?;
    let mut config = rustls::ClientConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .map_err(failed)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_verifies_against_its_ca_only() {
        let lab = Authority::generate(LAB_CA_NAME).unwrap();
        let interception = Authority::generate(INTERCEPTION_CA_NAME).unwrap();
        let leaf = lab
            .issue_server("test leaf", &["canary.sipa-lab.test"])
            .unwrap();
        assert_eq!(leaf.chain.len(), 2);
        assert!(lab.pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(server_config("test server", &leaf).is_ok());
        assert!(client_config("test client", interception.der()).is_ok());
    }
}
