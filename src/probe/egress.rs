//! Egress: ask an echo observer, on fresh connections, which address it saw us come from. Each
//! sample connects, tunnels and shakes hands with the login path's own code (`tcp`, `http`), so
//! an echo and a login host are reached the same way; its TLS sessions resume one another's, as
//! a browser's do, and it asks with hyper directly (a client of its own per sample cost more
//! than the sample).

use std::net::IpAddr;
use std::time::Instant;

use futures::future::join_all;
use hyper::HeaderMap;

use super::ctx::{Path, ProbeCtx};
use super::{flight, http, tcp, tls};
use crate::observation::{
    ConnectOutcome, EgressObservation, EgressSample, Observation, SampleOutcome,
};
use crate::scenario::model::{EchoObserver, Extract};
use crate::scenario::shorten;

/// The most the harness reads of an echo answer: an address is a few dozen bytes.
pub const MAX_ECHO: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct Spec {
    pub observer: EchoObserver,
    pub path: Path,
}

pub async fn run(spec: &Spec, ctx: &ProbeCtx) -> Observation {
    let samples = (0..spec.observer.samples.max(1) as usize).map(|i| sample(spec, ctx, i));
    let samples: Vec<(EgressSample, String)> = join_all(samples).await;
    let via = samples
        .first()
        .map(|(_, via)| via.clone())
        .unwrap_or_default();
    Observation::Egress(EgressObservation {
        observer: spec.observer.name.clone(),
        role: spec.observer.role,
        url: spec.observer.url.to_string(),
        via,
        samples: samples.into_iter().map(|(s, _)| s).collect(),
    })
}

/// One sample on a connection of its own, within the probe's timeout. Samples rotate over the
/// addresses.
async fn sample(spec: &Spec, ctx: &ProbeCtx, index: usize) -> (EgressSample, String) {
    let started = Instant::now();
    let path = match &spec.path {
        Path::Direct(addrs) if !addrs.is_empty() => Path::Direct(vec![addrs[index % addrs.len()]]),
        other => other.clone(),
    };
    let via = match &path {
        Path::Direct(addrs) => addrs.first().map(ToString::to_string).unwrap_or_default(),
        Path::Proxy(chain) => chain
            .iter()
            .map(http::via_proxy)
            .collect::<Vec<_>>()
            .join(", then "),
    };
    let outcome = match tokio::time::timeout(ctx.timeout, ask(&spec.observer, &path, ctx)).await {
        Ok(outcome) => outcome,
        Err(_) => SampleOutcome::Timeout,
    };
    let sample = EgressSample {
        outcome,
        elapsed: started.elapsed(),
    };
    (sample, via)
}

/// Connects as the path says (a CONNECT tunnel through the proxy for https), completes the TLS
/// handshake with every anchor trusted, and asks the echo for the address it saw.
async fn ask(observer: &EchoObserver, path: &Path, ctx: &ProbeCtx) -> SampleOutcome {
    let url = &observer.url;
    let https = url.scheme() == "https";
    let host = match url.host() {
        Some(url::Host::Domain(name)) => name.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return failed(format!("{url} has no host")),
    };
    // The name is checked before any connection is opened for it.
    let name = match https.then(|| tls::server_name(&host)).transpose() {
        Ok(name) => name,
        Err(cause) => return failed(cause),
    };
    let port = observer.port.get();
    let (stream, proxy) = match path {
        Path::Direct(addrs) => {
            let Some(&addr) = addrs.first() else {
                return failed("no address to connect to".into());
            };
            // A literal address in an https URL names the certificate's address too: moving
            // it elsewhere would check the certificate against the wrong one.
            if https
                && let Some(ip) = crate::address::literal_ip(&host)
                && ip != addr.ip()
            {
                return failed(format!(
                    "--connect-to cannot move {url} to another address: the certificate would \
                     be checked against {} instead",
                    addr.ip()
                ));
            }
            match tcp::open(addr, ctx).await {
                Ok(stream) => (stream, None),
                Err(outcome) => return not_connected(outcome),
            }
        }
        Path::Proxy(chain) => match tcp::through_chain(&host, port, https, chain, ctx).await {
            (attempt, Some(stream)) => (
                stream,
                super::proxy::carrying(chain, attempt.addr).filter(|_| !https),
            ),
            (attempt, None) => return not_connected(attempt.outcome),
        },
    };
    let Some(name) = name else {
        return answer(http::get(stream, url, proxy, MAX_ECHO).await, observer);
    };
    let connector = tokio_rustls::TlsConnector::from(ctx.trust.echo_config());
    match connector.connect(name, flight::Flight::new(stream)).await {
        Ok(tls) => answer(http::get(tls, url, None, MAX_ECHO).await, observer),
        Err(e) => SampleOutcome::Failed {
            causes: http::failure(&e, "the TLS handshake", true),
        },
    }
}

fn failed(cause: String) -> SampleOutcome {
    SampleOutcome::Failed {
        causes: vec![cause],
    }
}

/// A connection that was not made (or whose tunnel the proxy refused), as a sample's outcome.
fn not_connected(outcome: ConnectOutcome) -> SampleOutcome {
    let causes = match outcome {
        ConnectOutcome::Timeout => return SampleOutcome::Timeout,
        ConnectOutcome::Connected { .. } => {
            vec!["connected, but the connection cannot be used".into()]
        }
        ConnectOutcome::Refused => vec!["the connection was refused".into()],
        ConnectOutcome::Reset => vec!["the peer reset the connection".into()],
        ConnectOutcome::ProxyRefused { status, reason } => {
            return SampleOutcome::ProxyRefused { status, reason };
        }
        ConnectOutcome::Unreachable { causes } | ConnectOutcome::Failed { causes } => causes,
    };
    SampleOutcome::Failed { causes }
}

/// The address in an answer, or why there is none.
fn answer(got: Result<http::Answer, Vec<String>>, observer: &EchoObserver) -> SampleOutcome {
    let answer = match got {
        Ok(answer) => answer,
        Err(causes) => return SampleOutcome::Failed { causes },
    };
    if !(200..300).contains(&answer.status) {
        return SampleOutcome::Status {
            status: answer.status,
            excerpt: http::excerpt(&answer.body),
        };
    }
    if answer.truncated {
        return SampleOutcome::Unreadable {
            why: format!("the answer is larger than {MAX_ECHO} bytes"),
            excerpt: http::excerpt(&answer.body),
        };
    }
    read_ip(&observer.extract, &answer.headers, &answer.body)
}

/// Reads exactly one IP address out of an echo answer, or says precisely why not.
pub fn read_ip(extract: &Extract, headers: &HeaderMap, body: &[u8]) -> SampleOutcome {
    let unreadable = |why: String| SampleOutcome::Unreadable {
        why,
        excerpt: http::excerpt(body),
    };
    let text = || std::str::from_utf8(body).map_err(|e| format!("the answer is not UTF-8 ({e})"));
    let candidate: Result<String, String> = match extract {
        Extract::Text => text().map(|t| t.trim().to_string()),
        Extract::Header(name) => {
            let values: Vec<_> = headers.get_all(name.as_str()).iter().collect();
            match values.as_slice() {
                [] => Err(format!("the answer has no `{name}` header")),
                [one] => std::str::from_utf8(one.as_bytes())
                    .map(|v| v.trim().to_string())
                    .map_err(|_| format!("the `{name}` header is not text")),
                many => Err(format!("the answer has {} `{name}` headers", many.len())),
            }
        }
        Extract::JsonPointer(pointer) => text().and_then(|t| {
            let doc: serde_json::Value =
                serde_json::from_str(t).map_err(|e| format!("the answer is not JSON ({e})"))?;
            match doc.pointer(pointer) {
                None => Err(format!("the JSON answer has nothing at `{pointer}`")),
                Some(serde_json::Value::String(s)) => Ok(s.trim().to_string()),
                Some(other) => Err(format!(
                    "`{pointer}` holds {}, not a string",
                    json_kind(other)
                )),
            }
        }),
        Extract::Regex(re) => text().and_then(|t| {
            let caps = re
                .captures(t)
                .ok_or_else(|| format!("the answer does not match `{}`", re.as_str()))?;
            // With a group, only the first group is the address: a group that took no part in
            // the match means the answer lacks it, and the whole match is something else.
            let group = if re.captures_len() > 1 { 1 } else { 0 };
            caps.get(group)
                .map(|m| m.as_str().trim().to_string())
                .ok_or_else(|| format!("the first group of `{}` captured nothing", re.as_str()))
        }),
    };
    let candidate = match candidate {
        Ok(c) => c,
        Err(why) => return unreadable(why),
    };
    let words: Vec<&str> = candidate
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    match words.as_slice() {
        [] => unreadable("the answer is empty, not an IP address".into()),
        [one] => match one.parse::<IpAddr>() {
            Ok(ip) => SampleOutcome::Ip {
                ip: ip.to_canonical(),
            },
            Err(_) => unreadable(format!("`{}` is not an IP address", shorten(one))),
        },
        many => unreadable(format!(
            "the answer holds {} words, not exactly one IP address",
            many.len()
        )),
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderName, HeaderValue};

    fn ip(s: &str) -> SampleOutcome {
        SampleOutcome::Ip {
            ip: s.parse().unwrap(),
        }
    }

    fn why(outcome: SampleOutcome) -> String {
        match outcome {
            SampleOutcome::Unreadable { why, .. } => why,
            other => panic!("expected unreadable, got {other:?}"),
        }
    }

    #[test]
    fn plain_text_must_be_exactly_one_address() {
        let none = HeaderMap::new();
        assert_eq!(
            read_ip(&Extract::Text, &none, b"127.0.0.2\n"),
            ip("127.0.0.2")
        );
        assert_eq!(read_ip(&Extract::Text, &none, b" fd00::7 "), ip("fd00::7"));
        assert_eq!(
            read_ip(&Extract::Text, &none, b"::ffff:127.0.0.2"),
            ip("127.0.0.2")
        );
        assert_eq!(
            why(read_ip(&Extract::Text, &none, b"not an ip")),
            "the answer holds 3 words, not exactly one IP address"
        );
        assert_eq!(
            why(read_ip(&Extract::Text, &none, b"1.2.3.4 5.6.7.8")),
            "the answer holds 2 words, not exactly one IP address"
        );
        assert_eq!(
            why(read_ip(&Extract::Text, &none, b"1.2.3.4,5.6.7.8")),
            "the answer holds 2 words, not exactly one IP address"
        );
        assert_eq!(
            why(read_ip(&Extract::Text, &none, b"")),
            "the answer is empty, not an IP address"
        );
        assert_eq!(
            why(read_ip(&Extract::Text, &none, b"garbage")),
            "`garbage` is not an IP address"
        );
        assert_eq!(
            why(read_ip(&Extract::Text, &none, b"999.1.1.1")),
            "`999.1.1.1` is not an IP address"
        );
        assert!(
            why(read_ip(&Extract::Text, &none, b"\xff\xfe1.2.3.4"))
                .starts_with("the answer is not UTF-8")
        );
    }

    #[test]
    fn json_pointer_reads_a_string() {
        let none = HeaderMap::new();
        let ptr = Extract::JsonPointer("/client/ip".into());
        assert_eq!(
            read_ip(&ptr, &none, br#"{"client":{"ip":"10.1.2.3"}}"#),
            ip("10.1.2.3")
        );
        assert_eq!(
            why(read_ip(&ptr, &none, br#"{"client":{}}"#)),
            "the JSON answer has nothing at `/client/ip`"
        );
        assert_eq!(
            why(read_ip(&ptr, &none, br#"{"client":{"ip":7}}"#)),
            "`/client/ip` holds a number, not a string"
        );
        assert!(why(read_ip(&ptr, &none, b"1.2.3.4")).starts_with("the answer is not JSON"));
    }

    #[test]
    fn header_must_be_single_and_an_address() {
        let mut headers = HeaderMap::new();
        let name = HeaderName::from_static("x-client-ip");
        let ext = Extract::Header("X-Client-IP".into());
        assert_eq!(
            why(read_ip(&ext, &headers, b"")),
            "the answer has no `X-Client-IP` header"
        );
        headers.insert(name.clone(), HeaderValue::from_static("10.20.30.40"));
        assert_eq!(read_ip(&ext, &headers, b"ignored"), ip("10.20.30.40"));
        headers.append(name, HeaderValue::from_static("10.20.30.41"));
        assert_eq!(
            why(read_ip(&ext, &headers, b"")),
            "the answer has 2 `X-Client-IP` headers"
        );
    }

    #[test]
    fn regex_uses_the_first_group() {
        let none = HeaderMap::new();
        let ext = Extract::Regex(regex::Regex::new(r"ip=(\S+)").unwrap());
        assert_eq!(
            read_ip(&ext, &none, b"ts=1\nip=127.0.0.3\nx=y"),
            ip("127.0.0.3")
        );
        assert_eq!(
            why(read_ip(&ext, &none, b"nothing")),
            "the answer does not match `ip=(\\S+)`"
        );
        assert_eq!(
            why(read_ip(&ext, &none, b"ip=abc")),
            "`abc` is not an IP address"
        );
    }
}
