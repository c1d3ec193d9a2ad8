//! HTTP through the real path, with hyper on a connection the probe opened itself: the login
//! path's request (a redirect to https on 80, the OpenID configuration on 443) and each echo
//! sample's, by one [`get`].

use std::time::Instant;

use hyper::HeaderMap;

use super::ctx::{Path, ProbeCtx};
pub use crate::observation::{EXCERPT, excerpt, excerpt_within};
use crate::observation::{HttpAnswer, HttpObservation, HttpOutcome, cause_chain};
use crate::plan::HttpExpect;
use crate::scenario::model::{Port, ProxySpec};

/// The most the harness reads of an OpenID configuration document.
pub const MAX_DOCUMENT: usize = 1024 * 1024;
/// The most headers the harness accepts in an answer (hyper also caps the whole head at about
/// 400 KiB): anything bigger is refused with a precise cause, never read without bound.
pub const MAX_HEADERS: usize = 100;
const USER_AGENT: &str = concat!("sipa-check/", env!("CARGO_PKG_VERSION"));
/// How much of a body the evidence keeps.

#[derive(Debug, Clone)]
pub struct Spec {
    pub host: String,
    pub port: Port,
    pub path: Path,
    pub expect: HttpExpect,
}

/// The Host header of a request for `url`: its host, and its port when written.
fn authority(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// How the evidence names a connection through the explicit proxy.
pub fn via_proxy(proxy: &ProxySpec) -> String {
    format!("proxy {}", proxy.display_url())
}

/// The path a login host's check asks for.
fn request_path(expect: &HttpExpect) -> &str {
    match expect {
        HttpExpect::RedirectToHttps => "/",
        HttpExpect::OpenIdConfiguration { path } => path.as_str(),
    }
}

/// The URL of a login host's check: no explicit port when it is the scheme's default, so that
/// `--connect-to` can move it.
pub fn login_url(host: &str, port: Port, path: &str) -> Result<url::Url, String> {
    let scheme = if port.is_tls() { "https" } else { "http" };
    let default = if scheme == "https" { 443 } else { 80 };
    let authority = if port.get() == default {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    url::Url::parse(&format!("{scheme}://{authority}{path}"))
        .map_err(|e| format!("cannot build a URL for {host}: {e}"))
}

/// What went wrong on a connection, in words, then the whole cause chain; `connecting` while
/// the connection was still being set up (proxy tunnel or TLS handshake).
pub fn failure(
    err: &(dyn std::error::Error + 'static),
    doing: &str,
    connecting: bool,
) -> Vec<String> {
    explain(err, doing, peer_misbehaviour(err, connecting))
}

/// The words for what the peer did (when known), what the harness was doing, then the chain.
fn explain(
    err: &(dyn std::error::Error + 'static),
    doing: &str,
    what: Option<String>,
) -> Vec<String> {
    let chain = cause_chain(err);
    let mut causes = match what {
        Some(what) => vec![what, doing.to_string()],
        // Not recognised: the innermost cause is the most specific one.
        None => match chain.last() {
            Some(innermost) => vec![format!("{doing}: {innermost}")],
            None => vec![doing.to_string()],
        },
    };
    causes.extend(chain);
    causes
}

/// What the peer did, read from an error's chain; `connecting` while the connection was still
/// being set up.
fn peer_misbehaviour(err: &(dyn std::error::Error + 'static), connecting: bool) -> Option<String> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(format!("the TLS handshake failed: {tls}"));
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::UnexpectedEof if connecting => {
                    return Some(
                        "the peer closed the connection while it was being set up \
                         (TLS handshake or proxy tunnel)"
                            .into(),
                    );
                }
                std::io::ErrorKind::UnexpectedEof => {
                    return Some(
                        "the peer closed the connection before the end of the body".into(),
                    );
                }
                std::io::ErrorKind::ConnectionRefused => {
                    return Some("the connection was refused".into());
                }
                std::io::ErrorKind::ConnectionReset => {
                    return Some("the peer reset the connection".into());
                }
                _ => {}
            }
            // `io::Error::source` skips the error it wraps (rustls' among them): go through it.
            if let Some(inner) = io.get_ref() {
                next = Some(inner);
                continue;
            }
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() {
                return Some("the peer closed the connection before a complete answer".into());
            }
            if h.is_parse_too_large() {
                return Some(format!(
                    "the answer's head is too large (over {MAX_HEADERS} headers or about 400 KiB)"
                ));
            }
            if h.is_parse() {
                return Some("the answer is not HTTP/1.x".into());
            }
        }
        next = e.source();
    }
    None
}

fn take_capped(body: &mut Vec<u8>, chunk: &[u8], cap: usize) -> bool {
    let room = cap.saturating_sub(body.len());
    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
    chunk.len() > room
}

/// The login path's HTTP phase: the request on the connection its earlier phases opened to
/// `addr` (on a TLS port after the handshake), with hyper. Plain HTTP through the explicit
/// proxy goes in absolute form with its credentials; on a TLS port the connection is a tunnel
/// through it already. The timeout counts
/// from `started`, when the path's connect phase began; the time recorded is the request's own.
pub async fn run_on<S>(
    spec: &Spec,
    stream: S,
    addr: std::net::SocketAddr,
    ctx: &ProbeCtx,
    started: Instant,
) -> HttpObservation
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let began = Instant::now();
    let (via, proxy) = match &spec.path {
        Path::Proxy(chain) => match super::proxy::carrying(chain, addr) {
            Some(proxy) => (via_proxy(proxy), Some(proxy)),
            None => (addr.to_string(), None),
        },
        Path::Direct(_) => (addr.to_string(), None),
    };
    let proxy = proxy.filter(|_| !spec.port.is_tls());
    let path = request_path(&spec.expect);
    let (url, outcome) = match login_url(&spec.host, spec.port, path) {
        Err(e) => (
            format!("{}:{}{path}", spec.host, spec.port),
            HttpOutcome::Failed { causes: vec![e] },
        ),
        Ok(url) => {
            let budget = ctx.timeout.saturating_sub(started.elapsed());
            let outcome =
                match tokio::time::timeout(budget, exchange(stream, &url, proxy, &spec.expect))
                    .await
                {
                    Ok(outcome) => outcome,
                    Err(_) => HttpOutcome::Timeout { after: ctx.timeout },
                };
            (url.to_string(), outcome)
        }
    };
    HttpObservation {
        url,
        via,
        outcome,
        elapsed: began.elapsed(),
    }
}

/// The login path's request: the answer judged against what the login host must say.
async fn exchange<S>(
    stream: S,
    url: &url::Url,
    proxy: Option<&ProxySpec>,
    expect: &HttpExpect,
) -> HttpOutcome
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    match get(stream, url, proxy, MAX_DOCUMENT).await {
        Ok(a) => answered(a.status, &a.headers, &a.body, a.truncated, expect),
        Err(causes) => HttpOutcome::Failed { causes },
    }
}

/// What a server answered to one GET: its status and head, and its body up to a cap.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The body went on past the cap; only the cap was kept.
    pub truncated: bool,
}

/// One GET for `url` on a connection already open (through a tunnel or TLS, if any), with
/// hyper: the login path's request and each echo sample's. `proxy` is the explicit proxy when
/// the connection goes to it for plain HTTP: the request then goes in absolute form with the
/// proxy's credentials. Reads at most `cap` bytes of the body. What went wrong is said in words
/// (what the peer did, what the harness was doing), then the whole cause chain.
pub async fn get<S>(
    stream: S,
    url: &url::Url,
    proxy: Option<&ProxySpec>,
    cap: usize,
) -> Result<Answer, Vec<String>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let failed = |e: &hyper::Error, doing: &str| explain(e, doing, peer_misbehaviour(e, false));
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .max_headers(MAX_HEADERS)
        .handshake(io)
        .await
        .map_err(|e| failed(&e, "starting HTTP on the connection"))?;
    let _connection = super::ctx::AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let target = match (proxy, url.query()) {
        (Some(_), _) => url.as_str().to_string(),
        (None, Some(query)) => format!("{}?{query}", url.path()),
        (None, None) => url.path().to_string(),
    };
    let mut request = hyper::Request::get(target)
        .header(hyper::header::HOST, authority(url))
        .header(hyper::header::USER_AGENT, USER_AGENT)
        .header(hyper::header::ACCEPT, "*/*");
    if let Some(credentials) = proxy.and_then(super::proxy::basic_auth) {
        let mut value = hyper::header::HeaderValue::try_from(credentials)
            .map_err(|_| vec!["the proxy credentials cannot be sent in a header".to_string()])?;
        value.set_sensitive(true);
        request = request.header(hyper::header::PROXY_AUTHORIZATION, value);
    }
    let request = request
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| vec![format!("cannot build a request for {url}: {e}")])?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| failed(&e, "sending the request"))?;
    let (head, mut body) = response.into_parts();
    let status = head.status.as_u16();
    let (body, truncated) = read_capped_body(&mut body, cap)
        .await
        .map_err(|e| failed(&e, &reading_the_body(status)))?;
    Ok(Answer {
        status,
        headers: head.headers,
        body,
        truncated,
    })
}

async fn read_capped_body(
    body: &mut hyper::body::Incoming,
    cap: usize,
) -> Result<(Vec<u8>, bool), hyper::Error> {
    use http_body_util::BodyExt;
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(chunk) = frame?.into_data() else {
            continue;
        };
        if take_capped(&mut bytes, &chunk, cap) {
            return Ok((bytes, true));
        }
    }
    Ok((bytes, false))
}

fn reading_the_body(status: u16) -> String {
    format!("reading the body of a {status} answer")
}

/// What the check records of an answer it read.
fn answered(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    truncated: bool,
    expect: &HttpExpect,
) -> HttpOutcome {
    let content_type = header(headers, "content-type");
    let (issuer, body_problem) = match expect {
        HttpExpect::OpenIdConfiguration { .. } if status == 200 => openid_issuer(body, truncated),
        _ => (None, None),
    };
    HttpOutcome::Answered(HttpAnswer {
        status,
        location: header(headers, "location"),
        entra_headers: ["x-ms-request-id", "x-ms-ests-server"]
            .iter()
            .filter_map(|name| header(headers, name).map(|v| (name.to_string(), v)))
            .collect(),
        block_page: looks_like_block_page(status, content_type.as_deref(), body),
        content_type,
        issuer,
        body_problem,
        body_excerpt: excerpt(body),
        alt_svc: header(headers, "alt-svc"),
    })
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// The `issuer` of an OpenID configuration document, or what is wrong with the body.
pub fn openid_issuer(body: &[u8], truncated: bool) -> (Option<String>, Option<String>) {
    if truncated {
        return (
            None,
            Some(format!("the document is larger than {MAX_DOCUMENT} bytes")),
        );
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Err(e) => (None, Some(format!("not JSON: {e}"))),
        Ok(doc) => match doc.get("issuer") {
            Some(serde_json::Value::String(issuer)) if !issuer.is_empty() => {
                (Some(issuer.clone()), None)
            }
            Some(_) => (None, Some("`issuer` is not a non-empty string".into())),
            None => (None, Some("JSON without an `issuer`".into())),
        },
    }
}

/// A proxy's block or error page rather than the login front end.
pub fn looks_like_block_page(status: u16, content_type: Option<&str>, body: &[u8]) -> bool {
    let html = content_type.is_some_and(|c| c.contains("html"));
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]).to_ascii_lowercase();
    let words = [
        "zscaler",
        "blocked",
        "access denied",
        "forbidden",
        "proxy",
        "not allowed",
        "policy",
    ];
    matches!(status, 403 | 407 | 451) || (html && words.iter().any(|w| text.contains(w)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_issuer_or_says_why_not() {
        let (issuer, problem) = openid_issuer(br#"{"issuer":"https://sts.windows.net/x/"}"#, false);
        assert_eq!(issuer.as_deref(), Some("https://sts.windows.net/x/"));
        assert_eq!(problem, None);
        assert_eq!(
            openid_issuer(b"{}", false).1.as_deref(),
            Some("JSON without an `issuer`")
        );
        assert!(
            openid_issuer(b"<html>", false)
                .1
                .unwrap()
                .starts_with("not JSON")
        );
        assert!(openid_issuer(br#"{"issuer":""}"#, false).1.is_some());
        assert!(
            openid_issuer(b"{}", true)
                .1
                .unwrap()
                .contains("larger than")
        );
    }

    #[test]
    fn recognises_block_pages() {
        assert!(looks_like_block_page(403, None, b""));
        assert!(looks_like_block_page(
            200,
            Some("text/html"),
            b"<h1>Website blocked by Zscaler</h1>"
        ));
        assert!(!looks_like_block_page(
            200,
            Some("application/json"),
            b"{\"issuer\":\"policy\"}"
        ));
    }

    #[test]
    fn login_urls_leave_default_ports_implicit() {
        assert_eq!(
            login_url("login.windows.net", Port::HTTP, "/")
                .unwrap()
                .as_str(),
            "http://login.windows.net/"
        );
        assert_eq!(
            login_url("login.windows.net", Port::HTTPS, "/x")
                .unwrap()
                .as_str(),
            "https://login.windows.net/x"
        );
        assert_eq!(
            login_url("login.windows.net", Port::new(8080).unwrap(), "/")
                .unwrap()
                .as_str(),
            "http://login.windows.net:8080/"
        );
    }

    #[test]
    fn excerpts_are_printable_and_short() {
        assert_eq!(excerpt(b"a\x00b\nc"), "a b c");
        let long = vec![b'x'; 500];
        assert_eq!(excerpt(&long).chars().count(), EXCERPT + 1);
    }
}
