//! `sipa-check run --push URL`: after the run, its metrics are PUT to a Prometheus Pushgateway,
//! one group per vantage (`/metrics/job/sipa-check/vantage/<vantage>`), so a field check shows
//! on the same dashboards and alerts as `serve`. A push never changes the run's verdict.

use std::time::{Duration, SystemTime};

use base64::Engine as _;

use crate::metrics::{self, ScenarioRecord};
use crate::outcome::{RunReport, ScenarioRun};
use crate::scenario::model::Secret;

/// The `job` grouping key of every push.
pub const JOB: &str = "sipa-check";

/// How long one push may take.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// A Pushgateway to push to: its base URL without credentials, and the credentials apart.
#[derive(Debug, Clone)]
pub struct PushTarget {
    base: url::Url,
    username: Option<String>,
    password: Option<Secret>,
}

/// Why `--push` was refused before anything ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushUrlError {
    #[error(
        "--push: not a URL ({0}): give the Pushgateway's address, such as http://pushgateway:9091"
    )]
    NotAUrl(String),
    #[error("--push: the scheme must be http or https, not `{0}`")]
    Scheme(String),
    #[error("--push: the URL has no host")]
    NoHost,
    #[error("--push: the URL must not have a query or a fragment")]
    QueryOrFragment,
}

impl PushTarget {
    /// Parses `--push URL`; user and password in the URL are kept apart and never shown.
    pub fn parse(s: &str) -> Result<PushTarget, PushUrlError> {
        // The parser's message never repeats the input, so a password cannot leak through it.
        let mut url = url::Url::parse(s).map_err(|e| PushUrlError::NotAUrl(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(PushUrlError::Scheme(url.scheme().to_owned()));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(PushUrlError::NoHost);
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(PushUrlError::QueryOrFragment);
        }
        let username = (!url.username().is_empty()).then(|| decode(url.username()));
        let password = url.password().map(|p| Secret::new(decode(p)));
        // Cannot fail on an http(s) URL with a host.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Ok(PushTarget {
            base: url,
            username,
            password,
        })
    }

    /// The group URL of one vantage: `<base>/metrics/job/sipa-check/vantage/<vantage>`, each
    /// value encoded as the Pushgateway reads it (base64url with `@base64` when it holds a `/`
    /// or is empty).
    pub fn group_url(&self, vantage: &str) -> url::Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty();
            segments.extend(["metrics", "job", JOB]);
            if vantage.is_empty() || vantage.contains('/') {
                let encoded = if vantage.is_empty() {
                    "=".to_owned()
                } else {
                    base64::engine::general_purpose::URL_SAFE.encode(vantage)
                };
                segments.extend(["vantage@base64", encoded.as_str()]);
            } else {
                segments.extend(["vantage", vantage]);
            }
        }
        url
    }
}

fn decode(s: &str) -> String {
    percent_decode(s)
}

/// Percent-decoding of URL user info (the url crate keeps it encoded).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why one push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("push to {url}: the Pushgateway answered {status}{}", body_suffix(.body))]
    Refused {
        url: url::Url,
        status: u16,
        body: String,
    },
    #[error("push to {url}: {}", .causes.join(": "))]
    Unreachable { url: url::Url, causes: Vec<String> },
    #[error("push to {url}: cannot set up the HTTP client: {}", .causes.join(": "))]
    Client { url: url::Url, causes: Vec<String> },
}

fn body_suffix(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        String::new()
    } else {
        format!(": {}", crate::scenario::shorten(body))
    }
}

/// One group pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub url: url::Url,
    pub vantage: String,
    pub scenarios: usize,
}

/// The body of one vantage's push: its runs' metrics in text format 0.0.4.
pub fn body(runs: &[&ScenarioRun], finished_at: SystemTime) -> String {
    // One record per scenario: the scenario label is the scenario's own name.
    let mut by_scenario: Vec<(String, Vec<ScenarioRun>)> = Vec::new();
    for run in runs {
        match by_scenario.iter_mut().find(|(s, _)| *s == run.scenario) {
            Some((_, list)) => list.push((*run).clone()),
            None => by_scenario.push((run.scenario.clone(), vec![(*run).clone()])),
        }
    }
    let records = by_scenario
        .into_iter()
        .map(|(_, runs)| ScenarioRecord::of_runs(runs, finished_at))
        .collect();
    metrics::text_004(&metrics::registry(records))
}

/// PUTs the report's metrics, one group per vantage, and says how each push went.
pub async fn push(
    report: &RunReport,
    target: &PushTarget,
    trust: Option<rustls::ClientConfig>,
) -> Vec<Result<Pushed, PushError>> {
    let finished_at = SystemTime::now();
    let mut vantages: Vec<&str> = Vec::new();
    for run in &report.runs {
        if !vantages.contains(&run.vantage.name.as_str()) {
            vantages.push(&run.vantage.name);
        }
    }
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(PUSH_TIMEOUT)
        .timeout(PUSH_TIMEOUT)
        .user_agent(concat!("sipa-check/", env!("CARGO_PKG_VERSION")));
    if let Some(config) = trust {
        builder = builder.tls_backend_preconfigured(config);
    }
    let client = builder.build();
    let mut results = Vec::new();
    for vantage in vantages {
        let url = target.group_url(vantage);
        let client = match &client {
            Ok(c) => c,
            Err(e) => {
                results.push(Err(PushError::Client {
                    url,
                    causes: crate::observation::cause_chain(e),
                }));
                continue;
            }
        };
        let runs: Vec<&ScenarioRun> = report
            .runs
            .iter()
            .filter(|r| r.vantage.name == vantage)
            .collect();
        let scenarios = runs.len();
        let mut request = client
            .put(url.clone())
            .header(reqwest::header::CONTENT_TYPE, metrics::TEXT_CONTENT_TYPE)
            .body(body(&runs, finished_at));
        if let Some(user) = &target.username {
            request = request.basic_auth(user, target.password.as_ref().map(|p| p.expose()));
        }
        let result = match request.send().await {
            Ok(answer) if answer.status().is_success() => Ok(Pushed {
                url,
                vantage: vantage.to_owned(),
                scenarios,
            }),
            Ok(answer) => {
                let status = answer.status().as_u16();
                let body = answer.text().await.unwrap_or_default();
                Err(PushError::Refused { url, status, body })
            }
            Err(e) => Err(PushError::Unreachable {
                url,
                causes: crate::observation::cause_chain(&e),
            }),
        };
        results.push(result);
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_urls_follow_the_pushgateway_rules() {
        let t = PushTarget::parse("http://127.0.0.1:9091").unwrap();
        assert_eq!(
            t.group_url("hq-lan").as_str(),
            "http://127.0.0.1:9091/metrics/job/sipa-check/vantage/hq-lan"
        );
        assert_eq!(
            t.group_url("branch 7/guest").as_str(),
            "http://127.0.0.1:9091/metrics/job/sipa-check/vantage@base64/YnJhbmNoIDcvZ3Vlc3Q="
        );
        assert_eq!(
            t.group_url("").as_str(),
            "http://127.0.0.1:9091/metrics/job/sipa-check/vantage@base64/="
        );
        assert_eq!(
            t.group_url("café").as_str(),
            "http://127.0.0.1:9091/metrics/job/sipa-check/vantage/caf%C3%A9"
        );
        let prefixed = PushTarget::parse("https://gw.example.net/pushgateway/").unwrap();
        assert_eq!(
            prefixed.group_url("lab").as_str(),
            "https://gw.example.net/pushgateway/metrics/job/sipa-check/vantage/lab"
        );
    }

    #[test]
    fn credentials_are_kept_apart_and_never_in_the_url() {
        let t = PushTarget::parse("http://tech:s%40cret@127.0.0.1:9091/").unwrap();
        assert_eq!(t.username.as_deref(), Some("tech"));
        assert_eq!(t.password.as_ref().map(|p| p.expose()), Some("s@cret"));
        let url = t.group_url("lab").to_string();
        assert!(!url.contains("tech") && !url.contains("cret"), "{url}");
        assert!(!format!("{t:?}").contains("cret"));
    }

    #[test]
    fn bad_urls_are_refused_precisely() {
        assert_eq!(
            PushTarget::parse("ftp://x/").unwrap_err(),
            PushUrlError::Scheme("ftp".into())
        );
        assert_eq!(
            PushTarget::parse("http://x/?a=1").unwrap_err(),
            PushUrlError::QueryOrFragment
        );
        let e = PushTarget::parse("not a url").unwrap_err().to_string();
        assert!(e.starts_with("--push: not a URL"), "{e}");
    }
}
