//! The audit's API credentials, from the environment (the variable names of Zscaler's SDKs),
//! never from flags and never printed: legacy ZPA (client id and secret), legacy ZIA (user,
//! password, API key obfuscated with the timestamp) and OneAPI / ZIdentity (one token for both).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use ring::signature::RsaKeyPair;
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject as _;
use url::Url;

use crate::scenario::model::Secret;

pub const ZPA_CLIENT_ID: &str = "ZPA_CLIENT_ID";
pub const ZPA_CLIENT_SECRET: &str = "ZPA_CLIENT_SECRET";
pub const ZPA_CUSTOMER_ID: &str = "ZPA_CUSTOMER_ID";
pub const ZPA_CLOUD: &str = "ZPA_CLOUD";
pub const ZIA_USERNAME: &str = "ZIA_USERNAME";
pub const ZIA_PASSWORD: &str = "ZIA_PASSWORD";
pub const ZIA_API_KEY: &str = "ZIA_API_KEY";
pub const ZIA_CLOUD: &str = "ZIA_CLOUD";
pub const ZSCALER_CLIENT_ID: &str = "ZSCALER_CLIENT_ID";
pub const ZSCALER_CLIENT_SECRET: &str = "ZSCALER_CLIENT_SECRET";
pub const ZSCALER_PRIVATE_KEY: &str = "ZSCALER_PRIVATE_KEY";
pub const ZSCALER_VANITY_DOMAIN: &str = "ZSCALER_VANITY_DOMAIN";
pub const ZSCALER_CLOUD: &str = "ZSCALER_CLOUD";

/// The audience of a OneAPI token.
pub const ONEAPI_AUDIENCE: &str = "https://api.zscaler.com";

/// Why the environment's credentials cannot be used. Messages name variables, never values.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("{present} is set but {missing} is not")]
    Incomplete {
        present: &'static str,
        missing: &'static str,
    },
    #[error(
        "{ZPA_CLOUD} `{0}` is not a ZPA cloud: expected PRODUCTION, ZPATWO, BETA, GOV, GOVUS or PREVIEW"
    )]
    ZpaCloud(String),
    #[error("{var} `{value}` is not a usable cloud name (letters and digits only)")]
    Cloud { var: &'static str, value: String },
    #[error("{ZSCALER_VANITY_DOMAIN} `{0}` is not a DNS label (letters, digits and inner hyphens)")]
    Vanity(String),
    #[error("{ZIA_API_KEY} is too short: Zscaler's API keys have at least 12 characters")]
    ApiKeyTooShort,
    #[error("{ZSCALER_PRIVATE_KEY}: {0}")]
    PrivateKey(String),
    #[error("{flag} does not apply to {credentials}, which the environment holds: give {instead}")]
    UnusedUrl {
        flag: &'static str,
        credentials: &'static str,
        instead: &'static str,
    },
    #[error("{what} `{value}` is not a valid URL")]
    Url { what: &'static str, value: String },
}

/// Base URLs given on the command line (the lab, a test, a proxying setup), overriding the
/// clouds' own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaseUrls {
    /// Legacy ZPA, such as `https://config.private.zscaler.com`.
    pub zpa: Option<Url>,
    /// Legacy ZIA, such as `https://zsapi.zscaler.net/api/v1`.
    pub zia: Option<Url>,
    /// OneAPI's gateway, such as `https://api.zsapi.net`.
    pub oneapi: Option<Url>,
    /// OneAPI's token endpoint, such as `https://acme.zslogin.net/oauth2/v1/token`.
    pub oneapi_token: Option<Url>,
}

/// How a OneAPI client proves itself.
#[derive(Clone)]
pub enum OneApiProof {
    Secret(Secret),
    PrivateKey(std::sync::Arc<RsaKeyPair>),
}

impl fmt::Debug for OneApiProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OneApiProof::Secret(_) => "Secret(REDACTED)",
            OneApiProof::PrivateKey(_) => "PrivateKey(REDACTED)",
        })
    }
}

/// One OneAPI client: one token serves ZPA and ZIA.
#[derive(Debug, Clone)]
pub struct OneApi {
    pub token_url: Url,
    pub api_url: Url,
    pub client_id: String,
    pub proof: OneApiProof,
}

impl OneApi {
    /// The token request's form (secret or signed assertion).
    pub fn token_form(&self) -> Result<Vec<(String, String)>, CredentialsError> {
        let mut form = vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("client_id".to_string(), self.client_id.clone()),
            ("audience".to_string(), ONEAPI_AUDIENCE.to_string()),
        ];
        match &self.proof {
            OneApiProof::Secret(s) => form.push(("client_secret".into(), s.expose().into())),
            OneApiProof::PrivateKey(key) => {
                form.push((
                    "client_assertion_type".into(),
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push(("client_assertion".into(), assertion(key, &self.client_id)?));
            }
        }
        Ok(form)
    }
}

/// An RS256 client assertion: `iss` = `sub` = the client id, `aud` the OneAPI audience.
fn assertion(key: &RsaKeyPair, client_id: &str) -> Result<String, CredentialsError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    let claims = serde_json::json!({
        "iss": client_id, "sub": client_id, "aud": ONEAPI_AUDIENCE,
        "iat": now, "exp": now + 600, "jti": uuid::Uuid::new_v4().to_string(),
    });
    crate::entra::credentials::sign_rs256(key, &header, &claims)
        .ok_or_else(|| CredentialsError::PrivateKey("cannot sign with the RSA key".into()))
}

fn rsa_key(value: &str) -> Result<RsaKeyPair, CredentialsError> {
    let pem = if value.trim_start().starts_with("-----BEGIN") {
        value.as_bytes().to_vec()
    } else {
        std::fs::read(value).map_err(|e| {
            CredentialsError::PrivateKey(format!("neither PEM text nor a readable file ({e})"))
        })?
    };
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|_| CredentialsError::PrivateKey("holds no PRIVATE KEY".into()))?;
    match &key {
        PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).ok(),
        PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der()).ok(),
        _ => None,
    }
    .ok_or_else(|| CredentialsError::PrivateKey("not an unencrypted RSA private key".into()))
}

/// How the ZPA API is reached.
#[derive(Debug, Clone)]
pub enum ZpaLogin {
    Legacy {
        base: Url,
        client_id: String,
        secret: Secret,
    },
    OneApi(OneApi),
}

/// How the ZIA API is reached.
#[derive(Debug, Clone)]
pub enum ZiaLogin {
    Legacy {
        /// `…/api/v1`.
        base: Url,
        username: String,
        password: Secret,
        api_key: Secret,
    },
    OneApi(OneApi),
}

/// What the environment gives the audit; a side without credentials is unreadable (its checks
/// inconclusive), never passed.
#[derive(Debug, Clone)]
pub struct AuditCredentials {
    pub zpa: Option<(ZpaLogin, String)>,
    pub zia: Option<ZiaLogin>,
}

fn url(what: &'static str, value: &str) -> Result<Url, CredentialsError> {
    Url::parse(value).map_err(|_| CredentialsError::Url {
        what,
        value: value.to_string(),
    })
}

/// The legacy ZPA base URL of a cloud (Zscaler's SDKs' table).
pub fn zpa_cloud_url(cloud: &str) -> Result<Url, CredentialsError> {
    let host = match cloud.to_ascii_uppercase().as_str() {
        "" | "PRODUCTION" => "config.private.zscaler.com",
        "ZPATWO" => "config.zpatwo.net",
        "BETA" => "config.zpabeta.net",
        "GOV" => "config.zpagov.net",
        "GOVUS" => "config.zpagov.us",
        "PREVIEW" => "config.zpapreview.net",
        _ => return Err(CredentialsError::ZpaCloud(cloud.to_string())),
    };
    url("ZPA base URL", &format!("https://{host}"))
}

fn cloud_word(var: &'static str, value: &str) -> Result<String, CredentialsError> {
    if value.is_empty() || !value.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(CredentialsError::Cloud {
            var,
            value: value.to_string(),
        });
    }
    Ok(value.to_ascii_lowercase())
}

/// The legacy ZIA base URL of a cloud: `https://zsapi.<cloud>.net/api/v1` (zspreview:
/// `https://admin.zspreview.net/api/v1`).
pub fn zia_cloud_url(cloud: &str) -> Result<Url, CredentialsError> {
    let cloud = cloud_word(ZIA_CLOUD, cloud)?;
    let host = if cloud == "zspreview" {
        "admin.zspreview.net".to_string()
    } else {
        format!("zsapi.{cloud}.net")
    };
    url("ZIA base URL", &format!("https://{host}/api/v1"))
}

/// A vanity domain: one DNS label (`acme`, `acme-corp`), as Zscaler's SDKs put it in front of
/// `zslogin.net`.
fn vanity_label(value: &str) -> Result<String, CredentialsError> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if !ok {
        return Err(CredentialsError::Vanity(value.to_string()));
    }
    Ok(value.to_ascii_lowercase())
}

/// OneAPI's token endpoint and gateway for a vanity domain and cloud.
pub fn oneapi_urls(vanity: &str, cloud: Option<&str>) -> Result<(Url, Url), CredentialsError> {
    let vanity = vanity_label(vanity)?;
    let (token_host, api) = match cloud.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("production") => {
            (format!("{vanity}.zslogin.net"), "api.zsapi.net".to_string())
        }
        Some("gov") => (
            format!("{vanity}.zidentitygov.net"),
            "api.zscalergov.net".to_string(),
        ),
        Some("govus") => (
            format!("{vanity}.zidentitygov.us"),
            "api.zscalergov.us".to_string(),
        ),
        Some(other) => {
            let other = cloud_word(ZSCALER_CLOUD, other)?;
            (
                format!("{vanity}.zslogin{other}.net"),
                format!("api.{other}.zsapi.net"),
            )
        }
    };
    Ok((
        url(
            "OneAPI token URL",
            &format!("https://{token_host}/oauth2/v1/token"),
        )?,
        url("OneAPI URL", &format!("https://{api}"))?,
    ))
}

impl AuditCredentials {
    /// Reads the credentials through `get` (the environment in `main`); `urls` override the
    /// clouds' base URLs.
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
        urls: &BaseUrls,
    ) -> Result<AuditCredentials, CredentialsError> {
        Self::from_env_for(get, urls, Products::Both)
    }

    /// As [`AuditCredentials::from_env`], reading only what `products` need: `run
    /// --anchors-from-zpa` reads ZPA alone, so ZIA's variables (complete or not) do not
    /// concern it.
    pub fn from_env_for(
        get: impl Fn(&str) -> Option<String>,
        urls: &BaseUrls,
        products: Products,
    ) -> Result<AuditCredentials, CredentialsError> {
        let mut creds = Self::read(get, urls, products)?;
        if products == Products::ZpaOnly {
            creds.zia = None;
        }
        Ok(creds)
    }

    fn read(
        get: impl Fn(&str) -> Option<String>,
        urls: &BaseUrls,
        products: Products,
    ) -> Result<AuditCredentials, CredentialsError> {
        let get = |k: &str| get(k).filter(|v| !v.is_empty());
        let need = |present: &'static str, missing: &'static str| {
            get(missing).ok_or(CredentialsError::Incomplete { present, missing })
        };
        let customer = get(ZPA_CUSTOMER_ID);
        if get(ZSCALER_CLIENT_ID).is_some() {
            let client_id = need(ZSCALER_CLIENT_ID, ZSCALER_CLIENT_ID)?;
            let proof = match (get(ZSCALER_CLIENT_SECRET), get(ZSCALER_PRIVATE_KEY)) {
                (Some(s), _) => OneApiProof::Secret(Secret::new(s)),
                (None, Some(k)) => OneApiProof::PrivateKey(std::sync::Arc::new(rsa_key(&k)?)),
                (None, None) => {
                    return Err(CredentialsError::Incomplete {
                        present: ZSCALER_CLIENT_ID,
                        missing: ZSCALER_CLIENT_SECRET,
                    });
                }
            };
            let (token_url, api_url) = match (&urls.oneapi_token, &urls.oneapi) {
                (Some(t), Some(a)) => (t.clone(), a.clone()),
                (t, a) => {
                    let vanity = need(ZSCALER_CLIENT_ID, ZSCALER_VANITY_DOMAIN)?;
                    let (dt, da) = oneapi_urls(&vanity, get(ZSCALER_CLOUD).as_deref())?;
                    (t.clone().unwrap_or(dt), a.clone().unwrap_or(da))
                }
            };
            let one = OneApi {
                token_url,
                api_url,
                client_id,
                proof,
            };
            return Ok(AuditCredentials {
                zpa: customer.map(|c| (ZpaLogin::OneApi(one.clone()), c)),
                zia: Some(ZiaLogin::OneApi(one)),
            });
        }
        let zpa = match get(ZPA_CLIENT_ID) {
            Some(client_id) => {
                let secret = Secret::new(need(ZPA_CLIENT_ID, ZPA_CLIENT_SECRET)?);
                let customer = need(ZPA_CLIENT_ID, ZPA_CUSTOMER_ID)?;
                let base = match &urls.zpa {
                    Some(u) => u.clone(),
                    None => zpa_cloud_url(&get(ZPA_CLOUD).unwrap_or_default())?,
                };
                Some((
                    ZpaLogin::Legacy {
                        base,
                        client_id,
                        secret,
                    },
                    customer,
                ))
            }
            None => None,
        };
        let zia_user = match products {
            Products::Both => get(ZIA_USERNAME),
            Products::ZpaOnly => None,
        };
        let zia = match zia_user {
            Some(username) => {
                let password = Secret::new(need(ZIA_USERNAME, ZIA_PASSWORD)?);
                let api_key = need(ZIA_USERNAME, ZIA_API_KEY)?;
                if api_key.chars().count() < 12 {
                    return Err(CredentialsError::ApiKeyTooShort);
                }
                let base = match &urls.zia {
                    Some(u) => u.clone(),
                    None => zia_cloud_url(&need(ZIA_USERNAME, ZIA_CLOUD)?)?,
                };
                Some(ZiaLogin::Legacy {
                    base,
                    username,
                    password,
                    api_key: Secret::new(api_key),
                })
            }
            None => None,
        };
        Ok(AuditCredentials { zpa, zia })
    }

    /// Refuses a base URL flag that these credentials would silently ignore: `--zpa-url` (or
    /// `--zia-url`) with OneAPI credentials and no `--oneapi-url`, or `--oneapi-url` (or
    /// `--oneapi-token-url`) with legacy credentials only and no legacy URL.
    pub fn check_urls(&self, urls: &BaseUrls) -> Result<(), CredentialsError> {
        let oneapi = matches!(self.zpa, Some((ZpaLogin::OneApi(_), _)))
            || matches!(self.zia, Some(ZiaLogin::OneApi(_)));
        let legacy = matches!(self.zpa, Some((ZpaLogin::Legacy { .. }, _)))
            || matches!(self.zia, Some(ZiaLogin::Legacy { .. }));
        let oneapi_flags = urls.oneapi.is_some() || urls.oneapi_token.is_some();
        let legacy_flags = urls.zpa.is_some() || urls.zia.is_some();
        if oneapi && !legacy && legacy_flags && !oneapi_flags {
            return Err(CredentialsError::UnusedUrl {
                flag: if urls.zpa.is_some() {
                    "--zpa-url"
                } else {
                    "--zia-url"
                },
                credentials: "OneAPI credentials (ZSCALER_CLIENT_ID)",
                instead: "--oneapi-url and --oneapi-token-url",
            });
        }
        if legacy && !oneapi && oneapi_flags && !legacy_flags {
            return Err(CredentialsError::UnusedUrl {
                flag: if urls.oneapi.is_some() {
                    "--oneapi-url"
                } else {
                    "--oneapi-token-url"
                },
                credentials: "legacy credentials (ZPA_CLIENT_ID, ZIA_USERNAME)",
                instead: "--zpa-url (and --zia-url)",
            });
        }
        Ok(())
    }
}

/// Which products' credentials a command reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Products {
    /// `audit`: ZPA and ZIA.
    Both,
    /// `run --anchors-from-zpa`: ZPA alone.
    ZpaOnly,
}

/// The legacy ZIA API key obfuscation (Zscaler's SDKs): the last six digits of the millisecond
/// timestamp pick characters of the key, then the same number halved (six digits) picks
/// characters two places on. `None` when the key is too short for the digits.
pub fn obfuscate_api_key(api_key: &str, timestamp_ms: u128) -> Option<String> {
    let key: Vec<char> = api_key.chars().collect();
    let ts = timestamp_ms.to_string();
    let high = &ts[ts.len().saturating_sub(6)..];
    let low = format!("{:06}", high.parse::<u32>().ok()? >> 1);
    let mut out = String::new();
    for c in high.chars() {
        out.push(*key.get(c.to_digit(10)? as usize)?);
    }
    for c in low.chars() {
        out.push(*key.get(c.to_digit(10)? as usize + 2)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The documented rule worked by hand (as the lab's fake ZIA checks it with its own code):
    /// …123456 picks positions 1-6, 123456 / 2 = 061728 picks positions 2, 8, 3, 9, 4, 10.
    #[test]
    fn the_api_key_is_obfuscated_as_zscaler_documents() {
        assert_eq!(
            obfuscate_api_key("abcdefghijklmnop", 1_700_000_123_456).as_deref(),
            Some("bcdefgcidjek")
        );
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_obfuscation_matches_the_sdks() {
        // Worked by hand: ts ...123456 -> high 123456, low 061728.
        let key = "abcdefghijklmnop";
        assert_eq!(
            obfuscate_api_key(key, 1_700_000_123_456).unwrap(),
            "bcdefgcidjek"
        );
        assert!(obfuscate_api_key("short", 1_700_000_999_999).is_none());
    }

    #[test]
    fn legacy_credentials_and_clouds() {
        let c = AuditCredentials::from_env(
            env(&[
                (ZPA_CLIENT_ID, "id"),
                (ZPA_CLIENT_SECRET, "s3cret"),
                (ZPA_CUSTOMER_ID, "216196257331281920"),
                (ZPA_CLOUD, "zpatwo"),
                (ZIA_USERNAME, "admin@example.com"),
                (ZIA_PASSWORD, "pw"),
                (ZIA_API_KEY, "abcdefghijklmnop"),
                (ZIA_CLOUD, "zscalertwo"),
            ]),
            &BaseUrls::default(),
        )
        .unwrap();
        match c.zpa.unwrap() {
            (ZpaLogin::Legacy { base, .. }, cid) => {
                assert_eq!(base.as_str(), "https://config.zpatwo.net/");
                assert_eq!(cid, "216196257331281920");
            }
            other => panic!("{other:?}"),
        }
        match c.zia.unwrap() {
            ZiaLogin::Legacy { base, .. } => {
                assert_eq!(base.as_str(), "https://zsapi.zscalertwo.net/api/v1")
            }
            other => panic!("{other:?}"),
        }
        let debug = format!(
            "{:?}",
            AuditCredentials::from_env(
                env(&[
                    (ZPA_CLIENT_ID, "id"),
                    (ZPA_CLIENT_SECRET, "s3cret"),
                    (ZPA_CUSTOMER_ID, "1")
                ]),
                &BaseUrls::default(),
            )
            .unwrap()
        );
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[test]
    fn incomplete_credentials_name_the_missing_variable() {
        let e = AuditCredentials::from_env(env(&[(ZPA_CLIENT_ID, "id")]), &BaseUrls::default())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "ZPA_CLIENT_ID is set but ZPA_CLIENT_SECRET is not"
        );
        let e = AuditCredentials::from_env(
            env(&[
                (ZPA_CLIENT_ID, "id"),
                (ZPA_CLIENT_SECRET, "x"),
                (ZPA_CUSTOMER_ID, "1"),
                (ZPA_CLOUD, "moon"),
            ]),
            &BaseUrls::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("`moon` is not a ZPA cloud"));
    }

    #[test]
    fn oneapi_urls_per_cloud() {
        // Vanity domains may hold hyphens (one DNS label), nothing that leaves the label.
        let (t, _) = oneapi_urls("acme-corp", None).unwrap();
        assert_eq!(t.as_str(), "https://acme-corp.zslogin.net/oauth2/v1/token");
        for bad in ["-acme", "acme.evil.example", "acme/x", ""] {
            assert!(matches!(
                oneapi_urls(bad, None),
                Err(CredentialsError::Vanity(_))
            ));
        }
        let (t, a) = oneapi_urls("acme", None).unwrap();
        assert_eq!(t.as_str(), "https://acme.zslogin.net/oauth2/v1/token");
        assert_eq!(a.as_str(), "https://api.zsapi.net/");
        let (t, a) = oneapi_urls("acme", Some("beta")).unwrap();
        assert_eq!(t.as_str(), "https://acme.zsloginbeta.net/oauth2/v1/token");
        assert_eq!(a.as_str(), "https://api.beta.zsapi.net/");
        let (t, _) = oneapi_urls("acme", Some("GOV")).unwrap();
        assert_eq!(t.as_str(), "https://acme.zidentitygov.net/oauth2/v1/token");
        let c = AuditCredentials::from_env(
            env(&[
                (ZSCALER_CLIENT_ID, "cid"),
                (ZSCALER_CLIENT_SECRET, "sec"),
                (ZSCALER_VANITY_DOMAIN, "acme"),
                (ZPA_CUSTOMER_ID, "42"),
            ]),
            &BaseUrls::default(),
        )
        .unwrap();
        assert!(matches!(c.zpa, Some((ZpaLogin::OneApi(_), _))));
        assert!(matches!(c.zia, Some(ZiaLogin::OneApi(_))));
    }
}
