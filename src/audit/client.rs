//! The fetch layer: read-only API clients (a type that can GET and sign in, nothing else), and
//! the fetch of every endpoint of the chain into [`Documents`], paging as each product pages.
//! 429 waits for `Retry-After` (ZPA writes it as `13s`); a 401 signs in again once; anything
//! else that is not a JSON answer makes the endpoint unreadable, with the reason.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderValue, RETRY_AFTER, SET_COOKIE};
use serde_json::Value;
use tokio::sync::Mutex;
use url::Url;

use super::credentials::{AuditCredentials, OneApi, ZiaLogin, ZpaLogin, obfuscate_api_key};
use super::documents::{Documents, Endpoint, Paging, Product};
use super::model::Unreadable;
use crate::observation::cause_chain;
use crate::scenario::model::Secret;

/// How the clients connect.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Extra trust anchors (PEM), such as the lab CA or an inspecting proxy's root.
    pub ca_files: Vec<PathBuf>,
    /// Names pinned to addresses (the lab's API host on loopback).
    pub resolve: Vec<(String, SocketAddr)>,
    /// Per request.
    pub timeout: Duration,
    /// The longest `Retry-After` honoured; a longer one gives up (inconclusive).
    pub max_retry_wait: Duration,
    /// ZPA's `pagesize` (at most 500).
    pub zpa_page_size: u32,
    /// ZIA's `pageSize`.
    pub zia_page_size: u32,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            ca_files: Vec::new(),
            resolve: Vec::new(),
            timeout: Duration::from_secs(30),
            max_retry_wait: Duration::from_secs(60),
            zpa_page_size: 500,
            zia_page_size: 1000,
        }
    }
}

/// Why a request got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot set up TLS for the API clients")]
    Tls(#[source] crate::probe::tls::TrustError),
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error("{what}: no answer ({})", .causes.join(": "))]
    Unreachable { what: String, causes: Vec<String> },
    #[error("{what}: HTTP {status}{}", .excerpt.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    Status {
        what: String,
        status: u16,
        excerpt: Option<String>,
    },
    #[error("{what}: still 401 after signing in again")]
    Unauthorized { what: String },
    #[error(
        "{what}: throttled (429), Retry-After {wait:?} is beyond the {limit:?} the audit waits"
    )]
    Throttled {
        what: String,
        wait: Duration,
        limit: Duration,
    },
    #[error("{what}: the answer is not JSON ({reason})")]
    BadJson { what: String, reason: String },
    #[error("{what}: the sign-in answer lacks {missing}")]
    SignIn { what: String, missing: &'static str },
    #[error("{0}")]
    Credentials(#[from] super::credentials::CredentialsError),
}

/// A session: the bearer token or the ZIA cookie.
#[derive(Clone)]
enum Session {
    Bearer(Secret),
    Cookie(Secret),
}

/// How a client signs in (the only POSTs it can send).
enum Login {
    ZpaLegacy {
        signin: Url,
        client_id: String,
        secret: Secret,
    },
    ZiaLegacy {
        session: Url,
        username: String,
        password: Secret,
        api_key: Secret,
    },
    OneApi(Arc<SharedToken>),
}

/// One OneAPI token, shared by the ZPA and ZIA clients.
struct SharedToken {
    one: OneApi,
    token: Mutex<Option<Secret>>,
}

/// A read-only API client of one product: it can GET below its base, and sign in. Nothing else.
pub struct ReadOnlyClient {
    http: reqwest::Client,
    product: Product,
    base: Url,
    login: Login,
    session: Mutex<Option<Session>>,
    settings: ApiSettings,
}

const FORM: &str = "application/x-www-form-urlencoded";

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn excerpt(body: &str) -> Option<String> {
    let t = body.trim();
    (!t.is_empty()).then(|| t.chars().take(200).collect())
}

/// `Retry-After` as seconds (`13`) or a Go duration (`13s`, `1m30s`, `500ms`).
pub fn retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    humantime::parse_duration(v).ok()
}

fn joined(base: &Url, path: &str) -> Result<Url, ApiError> {
    let mut s = base.as_str().trim_end_matches('/').to_string();
    s.push_str(path);
    Url::parse(&s).map_err(|e| ApiError::Unreachable {
        what: path.to_string(),
        causes: vec![e.to_string()],
    })
}

impl ReadOnlyClient {
    fn new(
        product: Product,
        base: Url,
        login: Login,
        settings: &ApiSettings,
    ) -> Result<ReadOnlyClient, ApiError> {
        let trust =
            crate::probe::tls::TrustStore::load(&settings.ca_files).map_err(ApiError::Tls)?;
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(trust.http_config())
            .http1_only()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.timeout)
            .timeout(settings.timeout)
            .user_agent(concat!("sipa-check/", env!("CARGO_PKG_VERSION"), " audit"));
        for (host, addr) in &settings.resolve {
            builder = builder.resolve(host, *addr);
        }
        Ok(ReadOnlyClient {
            http: builder.build().map_err(ApiError::Client)?,
            product,
            base,
            login,
            session: Mutex::new(None),
            settings: settings.clone(),
        })
    }

    /// The clients the credentials allow: ZPA's (with its customer id) and ZIA's.
    pub fn from_credentials(
        creds: &AuditCredentials,
        settings: &ApiSettings,
    ) -> Result<(Option<ReadOnlyClient>, Option<ReadOnlyClient>), ApiError> {
        let mut shared: Option<Arc<SharedToken>> = None;
        let mut share = |one: &OneApi| {
            shared
                .get_or_insert_with(|| {
                    Arc::new(SharedToken {
                        one: one.clone(),
                        token: Mutex::new(None),
                    })
                })
                .clone()
        };
        let zpa = match &creds.zpa {
            None => None,
            Some((
                ZpaLogin::Legacy {
                    base,
                    client_id,
                    secret,
                },
                cid,
            )) => Some(ReadOnlyClient::new(
                Product::Zpa,
                joined(base, &format!("/mgmtconfig/v1/admin/customers/{cid}"))?,
                Login::ZpaLegacy {
                    signin: joined(base, "/signin")?,
                    client_id: client_id.clone(),
                    secret: secret.clone(),
                },
                settings,
            )?),
            Some((ZpaLogin::OneApi(one), cid)) => Some(ReadOnlyClient::new(
                Product::Zpa,
                joined(
                    &one.api_url,
                    &format!("/zpa/mgmtconfig/v1/admin/customers/{cid}"),
                )?,
                Login::OneApi(share(one)),
                settings,
            )?),
        };
        let zia = match &creds.zia {
            None => None,
            Some(ZiaLogin::Legacy {
                base,
                username,
                password,
                api_key,
            }) => Some(ReadOnlyClient::new(
                Product::Zia,
                base.clone(),
                Login::ZiaLegacy {
                    session: joined(base, "/authenticatedSession")?,
                    username: username.clone(),
                    password: password.clone(),
                    api_key: api_key.clone(),
                },
                settings,
            )?),
            Some(ZiaLogin::OneApi(one)) => Some(ReadOnlyClient::new(
                Product::Zia,
                joined(&one.api_url, "/zia/api/v1")?,
                Login::OneApi(share(one)),
                settings,
            )?),
        };
        Ok((zpa, zia))
    }

    /// Signs in: the only requests besides GET this client sends.
    async fn sign_in(&self) -> Result<Session, ApiError> {
        let send = |req: reqwest::RequestBuilder, what: &str| {
            let what = what.to_string();
            async move {
                let resp = req.send().await.map_err(|e| ApiError::Unreachable {
                    what: what.clone(),
                    causes: cause_chain(&e),
                })?;
                let status = resp.status();
                let headers = resp.headers().clone();
                let body = resp.text().await.unwrap_or_default();
                if !status.is_success() {
                    // A sign-in answer may echo what was sent: no excerpt.
                    return Err(ApiError::Status {
                        what,
                        status: status.as_u16(),
                        excerpt: None,
                    });
                }
                Ok((headers, body))
            }
        };
        let bearer = |body: &str, what: &str| -> Result<Session, ApiError> {
            let v: Value = serde_json::from_str(body).map_err(|e| ApiError::BadJson {
                what: what.to_string(),
                reason: e.to_string(),
            })?;
            v.get("access_token")
                .and_then(Value::as_str)
                .map(|t| Session::Bearer(Secret::new(t)))
                .ok_or(ApiError::SignIn {
                    what: what.to_string(),
                    missing: "access_token",
                })
        };
        match &self.login {
            Login::ZpaLegacy {
                signin,
                client_id,
                secret,
            } => {
                let what = "ZPA sign-in (POST /signin)";
                let req = self
                    .http
                    .post(signin.clone())
                    .header(CONTENT_TYPE, FORM)
                    .body(form(&[
                        ("client_id", client_id.as_str()),
                        ("client_secret", secret.expose()),
                    ]));
                let (_, body) = send(req, what).await?;
                bearer(&body, what)
            }
            Login::ZiaLegacy {
                session,
                username,
                password,
                api_key,
            } => {
                let what = "ZIA sign-in (POST /authenticatedSession)";
                let ts = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis());
                let key = obfuscate_api_key(api_key.expose(), ts)
                    .ok_or(super::credentials::CredentialsError::ApiKeyTooShort)?;
                let body = serde_json::json!({
                    "apiKey": key, "username": username, "password": password.expose(),
                    "timestamp": ts.to_string(),
                });
                let req = self
                    .http
                    .post(session.clone())
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.to_string());
                let (headers, _) = send(req, what).await?;
                headers
                    .get_all(SET_COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(|c| {
                        c.split(';')
                            .next()
                            .and_then(|kv| kv.trim().strip_prefix("JSESSIONID="))
                            .map(|v| Session::Cookie(Secret::new(v)))
                    })
                    .ok_or(ApiError::SignIn {
                        what: what.into(),
                        missing: "the JSESSIONID cookie",
                    })
            }
            Login::OneApi(shared) => {
                let mut cached = shared.token.lock().await;
                if let Some(t) = cached.as_ref() {
                    return Ok(Session::Bearer(t.clone()));
                }
                let what = "OneAPI token (POST /oauth2/v1/token)";
                let req = self
                    .http
                    .post(shared.one.token_url.clone())
                    .header(CONTENT_TYPE, FORM)
                    .body(form(
                        &shared
                            .one
                            .token_form()?
                            .iter()
                            .map(|(k, v)| (k.as_str(), v.as_str()))
                            .collect::<Vec<_>>(),
                    ));
                let (_, body) = send(req, what).await?;
                let s = bearer(&body, what)?;
                if let Session::Bearer(t) = &s {
                    *cached = Some(t.clone());
                }
                Ok(s)
            }
        }
    }

    /// Forgets a session the API refused, so the next sign-in asks again.
    async fn forget(&self, refused: &Session) {
        *self.session.lock().await = None;
        if let (Login::OneApi(shared), Session::Bearer(t)) = (&self.login, refused) {
            let mut cached = shared.token.lock().await;
            if cached.as_ref().is_some_and(|c| c.expose() == t.expose()) {
                *cached = None;
            }
        }
    }

    async fn session(&self) -> Result<Session, ApiError> {
        let mut s = self.session.lock().await;
        if let Some(s) = s.as_ref() {
            return Ok(s.clone());
        }
        let fresh = self.sign_in().await?;
        *s = Some(fresh.clone());
        Ok(fresh)
    }

    /// GET `path` below the base with `query`: the JSON answer.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ApiError> {
        let what = format!("GET {path}");
        let url = joined(&self.base, path)?;
        let mut reauthenticated = false;
        let mut throttled = 0;
        loop {
            let session = self.session().await?;
            let mut target = url.clone();
            if !query.is_empty() {
                target
                    .query_pairs_mut()
                    .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
            }
            let mut req = self.http.get(target);
            req = match &session {
                Session::Bearer(t) => req.header(
                    AUTHORIZATION,
                    HeaderValue::from_str(&format!("Bearer {}", t.expose())).map_err(|_| {
                        ApiError::SignIn {
                            what: what.clone(),
                            missing: "a token usable in a header",
                        }
                    })?,
                ),
                Session::Cookie(c) => req.header(
                    COOKIE,
                    HeaderValue::from_str(&format!("JSESSIONID={}", c.expose())).map_err(|_| {
                        ApiError::SignIn {
                            what: what.clone(),
                            missing: "a cookie usable in a header",
                        }
                    })?,
                ),
            };
            let resp = req.send().await.map_err(|e| ApiError::Unreachable {
                what: what.clone(),
                causes: cause_chain(&e),
            })?;
            let status = resp.status();
            match status {
                StatusCode::UNAUTHORIZED if !reauthenticated => {
                    reauthenticated = true;
                    self.forget(&session).await;
                    continue;
                }
                StatusCode::UNAUTHORIZED => return Err(ApiError::Unauthorized { what }),
                StatusCode::TOO_MANY_REQUESTS if throttled < 5 => {
                    throttled += 1;
                    // `Retry-After` (ZPA: `13s`), else OneAPI's `x-ratelimit-reset` (seconds).
                    let header = |name: &str| {
                        resp.headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .and_then(retry_after)
                    };
                    let wait = header(RETRY_AFTER.as_str())
                        .or_else(|| header("x-ratelimit-reset"))
                        .unwrap_or(Duration::from_secs(1));
                    if wait > self.settings.max_retry_wait {
                        return Err(ApiError::Throttled {
                            what,
                            wait,
                            limit: self.settings.max_retry_wait,
                        });
                    }
                    tokio::time::sleep(wait).await;
                    continue;
                }
                _ => {}
            }
            let body = resp.text().await.map_err(|e| ApiError::Unreachable {
                what: what.clone(),
                causes: cause_chain(&e),
            })?;
            if !status.is_success() {
                return Err(ApiError::Status {
                    what,
                    status: status.as_u16(),
                    excerpt: excerpt(&body),
                });
            }
            return serde_json::from_str(&body).map_err(|e| ApiError::BadJson {
                what,
                reason: e.to_string(),
            });
        }
    }

    /// Every page of `endpoint`, kept in `docs`.
    pub async fn fetch(&self, endpoint: Endpoint, docs: &mut Documents) -> Result<(), ApiError> {
        const MAX_PAGES: u32 = 10_000;
        match endpoint.paging() {
            Paging::None => {
                let v = self.get(endpoint.path(), &[]).await?;
                docs.insert(endpoint, 1, v);
            }
            Paging::Zpa => {
                let mut page = 1;
                loop {
                    let v = self
                        .get(
                            endpoint.path(),
                            &[
                                ("page", page.to_string()),
                                ("pagesize", self.settings.zpa_page_size.to_string()),
                            ],
                        )
                        .await?;
                    let total = match v.get("totalPages") {
                        Some(Value::String(s)) => s.trim().parse::<u32>().ok(),
                        Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
                        _ => None,
                    }
                    .unwrap_or(1);
                    docs.insert(endpoint, page, v);
                    if page >= total || page >= MAX_PAGES {
                        break;
                    }
                    page += 1;
                }
            }
            Paging::Zia => {
                let size = self.settings.zia_page_size.max(1);
                let mut page = 1;
                let mut previous: Option<Value> = None;
                loop {
                    let v = self
                        .get(
                            endpoint.path(),
                            &[("page", page.to_string()), ("pageSize", size.to_string())],
                        )
                        .await?;
                    // Some ZIA endpoints ignore paging and answer everything on every page:
                    // the same answer again is the end, not more items.
                    if previous.as_ref() == Some(&v) {
                        break;
                    }
                    let n = v.as_array().map_or(0, Vec::len);
                    let is_array = v.is_array();
                    docs.insert(endpoint, page, v.clone());
                    if !is_array || n < size as usize || page >= MAX_PAGES {
                        break;
                    }
                    previous = Some(v);
                    page += 1;
                }
            }
        }
        Ok(())
    }

    pub fn product(&self) -> Product {
        self.product
    }
}

/// Reads every endpoint of the chain: the documents, and what could not be read (each side
/// stops at its first unreadable endpoint: what follows would not be judged anyway).
pub async fn fetch_all(
    zpa: Option<&ReadOnlyClient>,
    zia: Option<&ReadOnlyClient>,
) -> (Documents, Vec<(Product, Unreadable)>) {
    let mut docs = Documents::default();
    let mut problems = Vec::new();
    for (client, product, missing) in [
        (
            zpa,
            Product::Zpa,
            "no ZPA credentials in the environment (ZPA_CLIENT_ID, ZPA_CLIENT_SECRET, ZPA_CUSTOMER_ID; or ZSCALER_CLIENT_ID with ZPA_CUSTOMER_ID)",
        ),
        (
            zia,
            Product::Zia,
            "no ZIA credentials in the environment (ZIA_USERNAME, ZIA_PASSWORD, ZIA_API_KEY, ZIA_CLOUD; or ZSCALER_CLIENT_ID)",
        ),
    ] {
        let Some(client) = client else {
            problems.push((
                product,
                Unreadable {
                    what: match product {
                        Product::Zpa => "ZPA configuration".into(),
                        Product::Zia => "ZIA configuration".into(),
                    },
                    causes: vec![missing.into()],
                },
            ));
            continue;
        };
        for endpoint in Endpoint::ALL.iter().filter(|e| e.product() == product) {
            if let Err(e) = client.fetch(*endpoint, &mut docs).await {
                problems.push((
                    product,
                    Unreadable {
                        what: endpoint.describe().to_string(),
                        causes: cause_chain(&e),
                    },
                ));
                break;
            }
        }
    }
    (docs, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_both_forms() {
        assert_eq!(retry_after("13s"), Some(Duration::from_secs(13)));
        assert_eq!(retry_after("13"), Some(Duration::from_secs(13)));
        assert_eq!(retry_after("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(retry_after("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(retry_after("soon"), None);
    }
}
