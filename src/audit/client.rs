//! The fetch layer: read-only API clients (a type that can GET, sign in and end its ZIA
//! session, nothing else), and
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
use crate::address::ConnectTo;
use crate::observation::cause_chain;
pub use crate::observation::retry_after;
use crate::scenario::model::ProxySpec;
use crate::scenario::model::Secret;

/// The environment's proxy settings, as `main` read them (`HTTPS_PROXY` / `https_proxy`,
/// `NO_PROXY` / `no_proxy`): values passed down, never read here.
#[derive(Debug, Clone, Default)]
pub struct ProxyEnv {
    /// `HTTPS_PROXY`: it may hold a password, so it is a secret until parsed.
    pub https_proxy: Option<Secret>,
    /// `NO_PROXY`: the hosts (and domains) that go direct.
    pub no_proxy: Option<String>,
}

/// How the clients reach the APIs: the way the company's traffic does.
#[derive(Debug, Clone, Default)]
pub struct ApiRoute {
    /// The explicit proxy (`--proxy`, else `HTTPS_PROXY`), its password a secret.
    pub proxy: Option<ProxySpec>,
    /// `NO_PROXY`: hosts that go direct, in curl's and reqwest's syntax.
    pub no_proxy: Option<String>,
    /// DNS servers to ask instead of the system's (`--dns`).
    pub dns: Vec<SocketAddr>,
    /// curl's `--connect-to` rules.
    pub connect_to: Vec<ConnectTo>,
}

impl ApiRoute {
    /// The route from the flags and the environment's proxy: `--proxy` (its password from
    /// `proxy_password`, `SIPA_CHECK_PROXY_PASSWORD`) before `HTTPS_PROXY`; `NO_PROXY` applies
    /// to either. Errors name the setting, never a password.
    pub fn new(
        proxy_flag: Option<&str>,
        proxy_password: Option<&Secret>,
        env: &ProxyEnv,
        dns: &[SocketAddr],
        connect_to: &[ConnectTo],
    ) -> Result<ApiRoute, String> {
        let proxy = match (proxy_flag, &env.https_proxy) {
            (Some(flag), _) => {
                let mut p =
                    crate::scenario::parse_proxy(flag).map_err(|e| format!("--proxy: {e}"))?;
                p.password = proxy_password.cloned();
                Some(p)
            }
            (None, Some(value)) if !value.expose().trim().is_empty() => Some(
                crate::scenario::parse_env_proxy(value.expose().trim())
                    .map_err(|e| format!("HTTPS_PROXY: {e}"))?,
            ),
            (None, _) => None,
        };
        Ok(ApiRoute {
            proxy,
            no_proxy: env.no_proxy.clone().filter(|n| !n.trim().is_empty()),
            dns: dns.to_vec(),
            connect_to: connect_to.to_vec(),
        })
    }

    /// How the route reads in a report: `through proxy http://user:REDACTED@host:3128/`.
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(p) = &self.proxy {
            let mut s = format!("through proxy {}", p.display_url());
            if let Some(n) = &self.no_proxy {
                s.push_str(&format!(" (NO_PROXY {n})"));
            }
            parts.push(s);
        }
        if !self.dns.is_empty() {
            let servers: Vec<String> = self.dns.iter().map(ToString::to_string).collect();
            parts.push(format!("DNS {}", servers.join(", ")));
        }
        for c in &self.connect_to {
            parts.push(format!("--connect-to {c}"));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// How the clients connect.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Extra trust anchors (PEM), such as the lab CA or an inspecting proxy's root.
    pub ca_files: Vec<PathBuf>,
    /// Proxy, DNS servers and `--connect-to` rules (boxed: most settings have none).
    pub route: Box<ApiRoute>,
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
            route: Box::default(),
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
    #[error("cannot use the proxy {shown}")]
    Proxy {
        /// The proxy URL as safe to show.
        shown: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "--connect-to {rule} would change the port of {url}, which names its own port: give the URL without a port, or a rule that keeps it"
    )]
    ConnectToPort { rule: String, url: String },
    #[error("cannot set up the DNS resolver for the APIs")]
    Dns(#[source] crate::probe::dns::DnsSetupError),
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

impl Login {
    /// The URL the client signs in at (outside its base for OneAPI).
    fn url(&self) -> Option<&Url> {
        match self {
            Login::ZpaLegacy { signin, .. } => Some(signin),
            Login::ZiaLegacy { session, .. } => Some(session),
            Login::OneApi(shared) => Some(&shared.one.token_url),
        }
    }
}

/// Names resolved as the flags say: `--connect-to` first (curl's rules, matched on each API
/// host's port), then the `--dns` servers, else the system's resolver.
struct ApiResolver {
    dns: Option<Arc<crate::probe::dns::DnsClient>>,
    connect_to: Vec<ConnectTo>,
    /// Each API host and the port its URLs use.
    ports: Vec<(String, u16)>,
}

impl ApiResolver {
    fn new(route: &ApiRoute, urls: &[&Url], settings: &ApiSettings) -> Result<Self, ApiError> {
        let mut ports = Vec::new();
        for url in urls {
            let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
                continue;
            };
            // reqwest connects to a URL's own port whatever the resolver says: a rule that
            // would move it cannot be kept, so it is refused rather than silently ignored.
            if url.port().is_some()
                && let Some(rule) = Self::rule(&route.connect_to, host, port)
                && rule.to_port.is_some_and(|p| p != port)
            {
                return Err(ApiError::ConnectToPort {
                    rule: rule.to_string(),
                    url: url.to_string(),
                });
            }
            ports.push((host.to_ascii_lowercase(), port));
        }
        let dns = if route.dns.is_empty() {
            None
        } else {
            Some(Arc::new(
                crate::probe::dns::DnsClient::new(&route.dns, settings.timeout)
                    .map_err(ApiError::Dns)?,
            ))
        };
        Ok(ApiResolver {
            dns,
            connect_to: route.connect_to.clone(),
            ports,
        })
    }

    fn rule<'r>(rules: &'r [ConnectTo], host: &str, port: u16) -> Option<&'r ConnectTo> {
        let port = crate::scenario::model::Port::new(port)?;
        rules.iter().find(|r| r.matches(host, port))
    }
}

impl reqwest::dns::Resolve for ApiResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        let port = self
            .ports
            .iter()
            .find(|(h, _)| *h == host)
            .map_or(443, |(_, p)| *p);
        let (target, target_port) = match Self::rule(&self.connect_to, &host, port) {
            Some(r) => (
                r.to_host.clone().unwrap_or_else(|| host.clone()),
                r.to_port.unwrap_or(port),
            ),
            None => (host.clone(), port),
        };
        let dns = self.dns.clone();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = if let Some(ip) = crate::address::literal_ip(&target) {
                vec![SocketAddr::new(ip, target_port)]
            } else if let Some(dns) = dns {
                let mut ips = dns
                    .addresses(&target, crate::scenario::model::Family::V4)
                    .await;
                ips.extend(
                    dns.addresses(&target, crate::scenario::model::Family::V6)
                        .await,
                );
                ips.into_iter()
                    .map(|ip| SocketAddr::new(ip, target_port))
                    .collect()
            } else {
                tokio::net::lookup_host((target.as_str(), target_port))
                    .await?
                    .collect()
            };
            if addrs.is_empty() {
                return Err(format!("{target}: no address").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// One OneAPI token, shared by the ZPA and ZIA clients.
struct SharedToken {
    one: OneApi,
    token: Mutex<Option<Secret>>,
}

/// A read-only API client of one product: it can GET below its base, sign in, and end a legacy
/// ZIA session. Nothing else.
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

/// The start of an error answer's body as printable text (control characters blanked: API
/// answers reach the terminal), or nothing when it is empty: the one body excerpt.
fn excerpt(body: &str) -> Option<String> {
    let shown = crate::observation::excerpt(body.as_bytes());
    (!shown.is_empty()).then_some(shown)
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
        // The environment's proxy was read by `main` and comes in the route: reqwest must not
        // read it again.
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(trust.http_config())
            .http1_only()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.timeout)
            .timeout(settings.timeout)
            .user_agent(concat!("sipa-check/", env!("CARGO_PKG_VERSION"), " audit"));
        let route = &settings.route;
        if let Some(p) = &route.proxy {
            let mut proxy =
                reqwest::Proxy::all(p.url.as_str()).map_err(|source| ApiError::Proxy {
                    shown: p.display_url(),
                    source,
                })?;
            if let Some(user) = &p.username {
                proxy = proxy.basic_auth(user, p.password.as_ref().map_or("", |s| s.expose()));
            }
            proxy = proxy.no_proxy(
                route
                    .no_proxy
                    .as_deref()
                    .and_then(reqwest::NoProxy::from_string),
            );
            builder = builder.proxy(proxy);
        }
        if !route.dns.is_empty() || !route.connect_to.is_empty() {
            // The proxy's own name is resolved here too (the proxy resolves the APIs'), on
            // its own port.
            let urls: Vec<&Url> = std::iter::once(&base)
                .chain(login.url())
                .chain(route.proxy.as_ref().map(|p| &p.url))
                .collect();
            builder = builder.dns_resolver(Arc::new(ApiResolver::new(route, &urls, settings)?));
        }
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

    /// Ends a legacy ZIA session (`DELETE /authenticatedSession` with its cookie, as Zscaler's
    /// SDKs do), so that a scheduled audit leaves no admin session open. Bearer tokens (legacy
    /// ZPA, OneAPI) have no session to end. `Ok(false)` when there was none.
    pub async fn sign_out(&self) -> Result<bool, ApiError> {
        let Login::ZiaLegacy { session: url, .. } = &self.login else {
            return Ok(false);
        };
        let Some(Session::Cookie(cookie)) = self.session.lock().await.take() else {
            return Ok(false);
        };
        let what = "ZIA sign-out (DELETE /authenticatedSession)".to_string();
        let header =
            HeaderValue::from_str(&format!("JSESSIONID={}", cookie.expose())).map_err(|_| {
                ApiError::SignIn {
                    what: what.clone(),
                    missing: "a cookie usable in a header",
                }
            })?;
        let resp = self
            .http
            .delete(url.clone())
            .header(COOKIE, header)
            .send()
            .await
            .map_err(|e| ApiError::Unreachable {
                what: what.clone(),
                causes: cause_chain(&e),
            })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(ApiError::Status {
                what,
                status: status.as_u16(),
                excerpt: None,
            });
        }
        Ok(true)
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
    fn an_error_body_reaches_the_terminal_without_control_characters() {
        assert_eq!(
            excerpt("  \u{1b}[31mdenied\u{7}\n ").as_deref(),
            Some("[31mdenied")
        );
        assert_eq!(excerpt(" \n "), None);
        let long = "x".repeat(500);
        assert_eq!(excerpt(&long).unwrap().chars().count(), 201);
    }
}
