//! The exporter's HTTP side: `/metrics`, `/probe?scenario=NAME`, `/-/healthy`; anything else
//! is 404. `/probe` takes a configured scenario's name and nothing else: no target, URL or
//! host ever comes from the query string, so the exporter cannot be made to reach anywhere the
//! configuration does not name.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::exporter::Exporter;
use crate::metrics::OPENMETRICS_CONTENT_TYPE;

/// How long a client may take to send its request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long answers in flight may take once serving stops; idle connections close at once.
const GRACE: Duration = Duration::from_secs(5);

type Answer = Response<Full<Bytes>>;

/// Accepts connections until `stop`, each served on a task of its own.
pub(super) async fn accept_loop(
    exporter: Exporter,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => break,
        };
        // Reap finished connections so the set does not grow over a long life.
        while connections.try_join_next().is_some() {}
        let Ok((stream, _)) = accepted else {
            // Out of descriptors, or a connection reset before it was accepted: keep serving.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let exporter = exporter.clone();
        let mut stop = stop.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| {
                let exporter = exporter.clone();
                async move { Ok::<_, Infallible>(answer(&exporter, &request).await) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                // A scraper's keep-alive connection would otherwise hold the exit for the whole
                // grace period: an idle connection closes now, one mid-answer after its answer.
                () = async { let _ = stop.wait_for(|stopped| *stopped).await; } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
}

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn text(status: StatusCode, body: impl Into<String>) -> Answer {
    let mut body = body.into();
    body.push('\n');
    respond(status, "text/plain; charset=utf-8", body)
}

/// What a request asks of `/probe`, or why it is refused.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ProbeQuery {
    Scenario(String),
    /// 400: a parameter other than `scenario`, none, or several.
    Refused(String),
}

/// Reads `/probe`'s query: exactly one `scenario`, nothing else.
pub(super) fn probe_query(query: Option<&str>) -> ProbeQuery {
    let mut scenario = None;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if key != "scenario" {
            return ProbeQuery::Refused(format!(
                "/probe takes only scenario=NAME, a scenario of the configuration; `{}` is refused: targets come from the configuration, never from the query",
                crate::scenario::shorten(&key)
            ));
        }
        if scenario.replace(value.into_owned()).is_some() {
            return ProbeQuery::Refused("/probe takes one scenario=NAME, not several".to_owned());
        }
    }
    match scenario {
        Some(name) => ProbeQuery::Scenario(name),
        None => ProbeQuery::Refused(
            "/probe needs scenario=NAME, a scenario of the configuration".to_owned(),
        ),
    }
}

async fn answer(exporter: &Exporter, request: &Request<Incoming>) -> Answer {
    let path = request.uri().path();
    let known = matches!(path, "/metrics" | "/probe" | "/-/healthy");
    if !known {
        return text(
            StatusCode::NOT_FOUND,
            "not found: sipa-check serve answers /metrics, /probe?scenario=NAME and /-/healthy",
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match path {
        "/-/healthy" => text(StatusCode::OK, "Healthy"),
        "/metrics" => {
            // Rendering thousands of series is the exporter's one long stretch of CPU: it runs
            // beside the runtime's thread, so the runs' timings never wait for a scrape.
            let exporter = exporter.clone();
            match tokio::task::spawn_blocking(move || exporter.metrics()).await {
                Ok(body) => respond(StatusCode::OK, OPENMETRICS_CONTENT_TYPE, body),
                Err(e) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the metrics could not be rendered: {e}"),
                ),
            }
        }
        _ => match probe_query(request.uri().query()) {
            ProbeQuery::Refused(why) => text(StatusCode::BAD_REQUEST, why),
            ProbeQuery::Scenario(name) => match exporter.index_of(&name) {
                None => text(
                    StatusCode::NOT_FOUND,
                    format!(
                        "no scenario `{}` in the configuration; configured: {}",
                        crate::scenario::shorten(&name),
                        exporter.names().join(", ")
                    ),
                ),
                Some(i) => {
                    exporter.run(i, true).await;
                    respond(
                        StatusCode::OK,
                        OPENMETRICS_CONTENT_TYPE,
                        exporter.metrics_of(i),
                    )
                }
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_takes_a_scenario_name_and_nothing_else() {
        assert_eq!(
            probe_query(Some("scenario=hq%20lan")),
            ProbeQuery::Scenario("hq lan".into())
        );
        for refused in [
            None,
            Some(""),
            Some("target=http://127.0.0.1:1/"),
            Some("scenario=hq&target=127.0.0.1"),
            Some("scenario=hq&url=x"),
            Some("host=x&scenario=hq"),
            Some("scenario=hq&scenario=branch"),
        ] {
            assert!(
                matches!(probe_query(refused), ProbeQuery::Refused(_)),
                "{refused:?}"
            );
        }
        let ProbeQuery::Refused(why) = probe_query(Some("scenario=hq&target=x")) else {
            unreachable!()
        };
        assert!(why.contains("`target` is refused"), "{why}");
    }
}
