//! The login path: connect, then on a TLS port the handshake, then the HTTP request, on one
//! connection as a browser goes; each phase's result with its own timing, as
//! blackbox_exporter's HTTP probe reports resolve, connect, tls and processing.

use std::time::Instant;

use super::ctx::ProbeCtx;
use super::{http, tcp, tls};
use crate::observation::LoginPathObservation;

/// One login host, port and route, and what its HTTP answer must be: the HTTP phase's spec,
/// which the earlier phases take their target from.
pub use super::http::Spec;

/// Runs the phases in order; a phase runs only when the one before it gave it a connection it
/// may use (a request goes over TLS only once the chain is trusted). The probe's timeout counts
/// from the start of the connect phase.
pub async fn run(spec: &Spec, ctx: &ProbeCtx) -> LoginPathObservation {
    let started = Instant::now();
    let tcp = tcp::Spec {
        host: spec.host.clone(),
        port: spec.port,
        path: spec.path.clone(),
    };
    let (connect, transport) = tcp::connect(&tcp, ctx).await;
    if !spec.port.is_tls() {
        let http = match transport {
            Ok((addr, stream)) => Some(http::run_on(spec, stream, addr, ctx, started).await),
            Err(_) => None,
        };
        return LoginPathObservation {
            connect,
            tls: None,
            http,
        };
    }
    let handshake = tls::Spec {
        host: spec.host.clone(),
    };
    let (tls, trusted) =
        tls::handshake_on(&handshake, transport, &ctx.trust, ctx.timeout, started).await;
    let http = match trusted {
        Some(stream) => {
            let addr = tls.addr;
            Some(http::run_on(spec, stream, addr, ctx, started).await)
        }
        None => None,
    };
    LoginPathObservation {
        connect,
        tls: Some(tls),
        http,
    }
}
