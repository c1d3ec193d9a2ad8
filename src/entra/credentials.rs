//! The Entra app's credentials: tenant, client id, and a client secret or a certificate (whose
//! RSA key signs an RS256 client assertion, as MSAL does; Entra refuses EC assertions). Read
//! from values the caller looked up, never from the environment itself; every secret is held
//! in a redacting type.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, KeyPair as _, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::scenario::cloud::{Cloud, CloudError};
pub use crate::scenario::model::Secret;

/// The tenant (GUID or domain).
pub const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";
/// The app's client id.
pub const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
/// The app's client secret.
pub const AZURE_CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
/// A PEM file with the app's certificate and its unencrypted private key.
pub const AZURE_CLIENT_CERTIFICATE_PATH: &str = "AZURE_CLIENT_CERTIFICATE_PATH";
/// The authority host of a national cloud (as the Azure SDKs read it).
pub const AZURE_AUTHORITY_HOST: &str = "AZURE_AUTHORITY_HOST";
/// The Graph host, for an authority this crate does not know.
pub const AZURE_GRAPH_HOST: &str = "SIPA_CHECK_GRAPH_HOST";

/// How long a client assertion is valid, as MSAL makes them.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(600);
/// The form value of `client_assertion_type`.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Why the credentials cannot be used. No variant ever holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// A required variable is unset or empty.
    #[error("{name} is not set")]
    Missing { name: &'static str },
    /// Neither a secret nor a certificate.
    #[error("set {AZURE_CLIENT_SECRET} or {AZURE_CLIENT_CERTIFICATE_PATH}")]
    NoClientCredential,
    /// The certificate file cannot be read.
    #[error("cannot read the client certificate {path}")]
    ReadCertificate {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The PEM lacks a certificate or a key, or holds what cannot be used.
    #[error("client certificate {what}: {reason}")]
    BadCertificate { what: String, reason: String },
    /// The key is an EC key: Entra accepts client assertions signed with RSA keys only
    /// (RS256, PS256) and refuses ES256 with AADSTS5002738.
    #[error(
        "client certificate {what}: an EC key, which Entra ID refuses: it accepts client \
         assertions signed with an RSA key only (RS256 or PS256; an ES256 assertion gets \
         AADSTS5002738): make an RSA certificate (openssl req -x509 -newkey rsa:2048 ...) and \
         upload it to the app"
    )]
    EcKey { what: String },
    /// `AZURE_AUTHORITY_HOST` is not a host name.
    #[error("{AZURE_AUTHORITY_HOST} `{given}` is not a host name")]
    BadAuthorityHost { given: String },
    /// An authority whose Graph host is not known.
    #[error("unknown cloud with authority {authority}: set {AZURE_GRAPH_HOST} to its Graph host")]
    UnknownCloud { authority: String },
    /// Signing the client assertion failed.
    #[error("cannot sign the client assertion with the certificate's key")]
    Signing,
}

/// Who the probe app is, and how it proves it.
#[derive(Debug, Clone)]
pub struct EntraCredentials {
    pub tenant_id: String,
    pub client_id: String,
    pub auth: ClientAuth,
    pub cloud: Cloud,
}

/// The app's proof of identity.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// `client_secret`.
    Secret(Secret),
    /// A certificate whose key signs a fresh client assertion per request.
    Certificate(ClientCertificate),
}

impl EntraCredentials {
    /// Reads `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` or
    /// `AZURE_CLIENT_CERTIFICATE_PATH` (a secret wins when both are set, as in the Azure
    /// SDKs), and optionally `AZURE_AUTHORITY_HOST` / `SIPA_CHECK_GRAPH_HOST`, through `lookup`.
    /// Only `main.rs` passes the real environment.
    pub fn from_env(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<EntraCredentials, CredentialsError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let tenant_id = get(AZURE_TENANT_ID).ok_or(CredentialsError::Missing {
            name: AZURE_TENANT_ID,
        })?;
        let client_id = get(AZURE_CLIENT_ID).ok_or(CredentialsError::Missing {
            name: AZURE_CLIENT_ID,
        })?;
        let auth = match (get(AZURE_CLIENT_SECRET), get(AZURE_CLIENT_CERTIFICATE_PATH)) {
            (Some(secret), _) => ClientAuth::Secret(Secret::new(secret)),
            (None, Some(path)) => {
                ClientAuth::Certificate(ClientCertificate::from_file(Path::new(&path))?)
            }
            (None, None) => return Err(CredentialsError::NoClientCredential),
        };
        let cloud = match get(AZURE_AUTHORITY_HOST) {
            Some(authority) => Cloud::from_authority(&authority, get(AZURE_GRAPH_HOST).as_deref())?,
            None => Cloud::public(),
        };
        Ok(EntraCredentials {
            tenant_id,
            client_id,
            auth,
            cloud,
        })
    }

    /// The body of a client-credentials token request to `token_endpoint` for `scope`, with
    /// `correlation_id` as the `client-request-id` form field. It holds the secret or the
    /// assertion, so it is a [`Secret`] itself.
    pub fn token_form(
        &self,
        token_endpoint: &str,
        scope: &str,
        correlation_id: &str,
    ) -> Result<Secret, CredentialsError> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("client_id", &self.client_id)
            .append_pair("scope", scope)
            .append_pair("grant_type", "client_credentials")
            .append_pair("client-request-id", correlation_id);
        match &self.auth {
            ClientAuth::Secret(secret) => {
                form.append_pair("client_secret", secret.expose());
            }
            ClientAuth::Certificate(certificate) => {
                let assertion = certificate.assertion(&self.client_id, token_endpoint)?;
                form.append_pair("client_assertion_type", JWT_BEARER)
                    .append_pair("client_assertion", assertion.expose());
            }
        }
        Ok(Secret::new(form.finish()))
    }
}

/// The app's certificate and its RSA private key. `Debug` shows the thumbprint, never the key.
#[derive(Clone)]
pub struct ClientCertificate {
    /// SHA-256 of the certificate (DER), base64url: the `x5t#S256` header.
    x5t_s256: String,
    /// SHA-1 of the certificate, base64url: the `x5t` header older Entra front ends read.
    x5t: String,
    key: Arc<RsaKeyPair>,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("x5t#S256", &self.x5t_s256)
            .field("alg", &self.algorithm())
            .field("key", &"REDACTED")
            .finish()
    }
}

impl ClientCertificate {
    /// Reads a PEM file holding the certificate and its private key.
    pub fn from_file(path: &Path) -> Result<ClientCertificate, CredentialsError> {
        let pem = std::fs::read(path).map_err(|source| CredentialsError::ReadCertificate {
            path: path.to_owned(),
            source,
        })?;
        Self::from_pem(&pem).map_err(|e| match e {
            CredentialsError::BadCertificate { reason, .. } => CredentialsError::BadCertificate {
                what: path.display().to_string(),
                reason,
            },
            CredentialsError::EcKey { .. } => CredentialsError::EcKey {
                what: path.display().to_string(),
            },
            other => other,
        })
    }

    /// Parses PEM text holding the certificate (first one = the app's) and an unencrypted
    /// PKCS#8 or PKCS#1 RSA private key that matches it. An EC key is refused
    /// ([`CredentialsError::EcKey`]): Entra accepts RSA assertions only.
    pub fn from_pem(pem: &[u8]) -> Result<ClientCertificate, CredentialsError> {
        let bad = |reason: &str| CredentialsError::BadCertificate {
            what: "PEM".into(),
            reason: reason.into(),
        };
        let ec = || CredentialsError::EcKey { what: "PEM".into() };
        if String::from_utf8_lossy(pem).contains("ENCRYPTED PRIVATE KEY") {
            return Err(bad("the private key is encrypted; give an unencrypted key"));
        }
        let cert = CertificateDer::pem_slice_iter(pem)
            .next()
            .ok_or_else(|| bad("holds no CERTIFICATE"))?
            .map_err(|_| bad("its CERTIFICATE cannot be read"))?;
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
            .map_err(|_| bad("its CERTIFICATE is not valid X.509"))?;
        let spki = &parsed.tbs_certificate.subject_pki;
        if spki.algorithm.algorithm == x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY {
            return Err(ec());
        }
        let key = PrivateKeyDer::from_pem_slice(pem).map_err(|_| bad("holds no PRIVATE KEY"))?;
        let key = match &key {
            PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
                .map_err(|_| bad("the private key is not a usable RSA key"))?,
            PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der())
                .map_err(|_| bad("the RSA private key cannot be used"))?,
            PrivateKeyDer::Sec1(_) => return Err(ec()),
            _ => return Err(bad("an unsupported private key type")),
        };
        if spki.subject_public_key.data.as_ref() != key.public_key().as_ref() {
            return Err(bad("the private key does not belong to the certificate"));
        }
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let sha256 = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.as_ref());
        Ok(ClientCertificate {
            x5t_s256: b64.encode(sha256.as_ref()),
            x5t: b64.encode(sha1.as_ref()),
            key: Arc::new(key),
        })
    }

    /// The JWS algorithm of the assertion: `RS256`, as Microsoft documents the certificate
    /// credential's assertion.
    pub fn algorithm(&self) -> &'static str {
        "RS256"
    }

    /// The certificate's SHA-256 thumbprint, base64url (`x5t#S256`).
    pub fn thumbprint_sha256(&self) -> &str {
        &self.x5t_s256
    }

    /// A fresh client assertion for `client_id` at `token_endpoint`: `aud` the endpoint,
    /// `iss` = `sub` = the client id, a new `jti`, valid from now for ten minutes.
    pub fn assertion(
        &self,
        client_id: &str,
        token_endpoint: &str,
    ) -> Result<Secret, CredentialsError> {
        self.assertion_at(client_id, token_endpoint, SystemTime::now())
    }

    fn assertion_at(
        &self,
        client_id: &str,
        token_endpoint: &str,
        now: SystemTime,
    ) -> Result<Secret, CredentialsError> {
        let now = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let header = serde_json::json!({
            "alg": self.algorithm(),
            "typ": "JWT",
            "x5t": self.x5t,
            "x5t#S256": self.x5t_s256,
        });
        let claims = serde_json::json!({
            "aud": token_endpoint,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now,
            "nbf": now,
            "exp": now + ASSERTION_LIFETIME.as_secs(),
        });
        sign_rs256(&self.key, &header, &claims)
            .map(Secret::new)
            .ok_or(CredentialsError::Signing)
    }
}

/// A JWT signed with RS256 (RSASSA-PKCS1-v1_5 with SHA-256) by `key`: base64url of the header
/// and of the claims, then of the signature, joined by dots. The one JWT signer: Entra's client
/// assertion and OneAPI's both use it. `None` when the key cannot sign.
pub fn sign_rs256(
    key: &RsaKeyPair,
    header: &serde_json::Value,
    claims: &serde_json::Value,
) -> Option<String> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing_input = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string())
    );
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .ok()?;
    Some(format!("{signing_input}.{}", b64.encode(signature)))
}

impl From<CloudError> for CredentialsError {
    fn from(e: CloudError) -> Self {
        match e {
            CloudError::BadAuthorityHost { given } => CredentialsError::BadAuthorityHost { given },
            CloudError::UnknownCloud { authority } => CredentialsError::UnknownCloud { authority },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn a_secret_is_read_and_never_shown() {
        let creds = EntraCredentials::from_env(env(&[
            (AZURE_TENANT_ID, "contoso.onmicrosoft.com"),
            (AZURE_CLIENT_ID, "11111111-2222-3333-4444-555555555555"),
            (AZURE_CLIENT_SECRET, "pl4nted~s3cret"),
        ]))
        .unwrap();
        assert_eq!(creds.tenant_id, "contoso.onmicrosoft.com");
        assert_eq!(creds.cloud, Cloud::public());
        assert!(matches!(&creds.auth, ClientAuth::Secret(s) if s.expose() == "pl4nted~s3cret"));
        assert!(!format!("{creds:?}").contains("pl4nted"));
        let form = creds
            .token_form(
                "https://h/t/oauth2/v2.0/token",
                "https://graph.microsoft.com/.default",
                "c-1",
            )
            .unwrap();
        assert!(!format!("{form:?} {form}").contains("pl4nted"));
        let fields: HashMap<String, String> = url::form_urlencoded::parse(form.expose().as_bytes())
            .into_owned()
            .collect();
        assert_eq!(fields["client_secret"], "pl4nted~s3cret");
        assert_eq!(fields["grant_type"], "client_credentials");
        assert_eq!(fields["client-request-id"], "c-1");
        assert_eq!(fields["scope"], "https://graph.microsoft.com/.default");
    }

    #[test]
    fn missing_values_are_named() {
        let err = EntraCredentials::from_env(env(&[(AZURE_CLIENT_ID, "x")])).unwrap_err();
        assert_eq!(err.to_string(), "AZURE_TENANT_ID is not set");
        let err = EntraCredentials::from_env(env(&[(AZURE_TENANT_ID, "t")])).unwrap_err();
        assert_eq!(err.to_string(), "AZURE_CLIENT_ID is not set");
        let err =
            EntraCredentials::from_env(env(&[(AZURE_TENANT_ID, "t"), (AZURE_CLIENT_ID, " ")]))
                .unwrap_err();
        assert!(matches!(
            err,
            CredentialsError::Missing {
                name: AZURE_CLIENT_ID
            }
        ));
        let err =
            EntraCredentials::from_env(env(&[(AZURE_TENANT_ID, "t"), (AZURE_CLIENT_ID, "c")]))
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "set AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH"
        );
    }

    #[test]
    fn the_cloud_follows_the_authority_host() {
        let creds = EntraCredentials::from_env(env(&[
            (AZURE_TENANT_ID, "t"),
            (AZURE_CLIENT_ID, "c"),
            (AZURE_CLIENT_SECRET, "s"),
            (AZURE_AUTHORITY_HOST, "https://login.microsoftonline.us"),
        ]))
        .unwrap();
        assert_eq!(creds.cloud, Cloud::us_government());
    }

    #[test]
    fn a_certificate_path_that_cannot_be_read_is_named() {
        let err = EntraCredentials::from_env(env(&[
            (AZURE_TENANT_ID, "t"),
            (AZURE_CLIENT_ID, "c"),
            (AZURE_CLIENT_CERTIFICATE_PATH, "/nonexistent/sipa/app.pem"),
        ]))
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read the client certificate /nonexistent/sipa/app.pem"),
            "{err}"
        );
    }

    /// Test-only RSA certificates and keys (see tests/fixtures/entra/README.md).
    const APP_PEM: &str = include_str!("../../tests/fixtures/entra/test-only-app-rsa.pem");
    const OTHER_PEM: &str = include_str!("../../tests/fixtures/entra/test-only-other-rsa.pem");

    /// The certificate part of a test PEM, and its key part.
    fn split(pem: &str) -> (&str, &str) {
        let at = pem.find("-----BEGIN PRIVATE KEY-----").unwrap();
        pem.split_at(at)
    }

    #[test]
    fn a_pem_without_key_or_with_another_key_is_refused() {
        let (cert, _) = split(APP_PEM);
        let (_, other_key) = split(OTHER_PEM);
        let err = ClientCertificate::from_pem(cert.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "client certificate PEM: holds no PRIVATE KEY"
        );
        let pem = format!("{cert}{other_key}");
        let err = ClientCertificate::from_pem(pem.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
        let err = ClientCertificate::from_pem(other_key.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
        let rsa = ClientCertificate::from_pem(APP_PEM.as_bytes()).unwrap();
        assert_eq!(rsa.algorithm(), "RS256");
    }

    #[test]
    fn the_one_jwt_signer_signs_rs256_that_the_public_key_verifies() {
        let (_, key_pem) = split(APP_PEM);
        let der = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        let key = RsaKeyPair::from_pkcs8(der.secret_der()).unwrap();
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        let claims = serde_json::json!({"iss": "app", "aud": "https://api.zscaler.com"});
        let jwt = sign_rs256(&key, &header, &claims).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        assert_eq!(b64.decode(parts[1]).unwrap(), claims.to_string().as_bytes());
        let public = signature::UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            key.public().as_ref(),
        );
        let signed = format!("{}.{}", parts[0], parts[1]);
        public
            .verify(signed.as_bytes(), &b64.decode(parts[2]).unwrap())
            .unwrap();
        assert!(
            public
                .verify(
                    format!("{signed}x").as_bytes(),
                    &b64.decode(parts[2]).unwrap()
                )
                .is_err()
        );
    }

    #[test]
    fn an_ec_key_is_refused_naming_why() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["app".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let pem = format!("{}{}", cert.pem(), key.serialize_pem());
        let err = ClientCertificate::from_pem(pem.as_bytes()).unwrap_err();
        assert!(matches!(err, CredentialsError::EcKey { .. }), "{err:?}");
        let text = err.to_string();
        for words in ["an EC key", "RSA key only", "RS256", "AADSTS5002738"] {
            assert!(text.contains(words), "{text}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ec.pem");
        std::fs::write(&path, &pem).unwrap();
        let err = EntraCredentials::from_env(env(&[
            (AZURE_TENANT_ID, "t"),
            (AZURE_CLIENT_ID, "c"),
            (AZURE_CLIENT_CERTIFICATE_PATH, path.to_str().unwrap()),
        ]))
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("client certificate {}: an EC key", path.display())),
            "{err}"
        );
    }
}
