//! Listening and serving: binds the listener, runs every schedule and the HTTP server until
//! the interrupt, then lets the runs in flight end.

use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::exporter::Exporter;

/// Why `serve` stopped other than by a signal.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Binds the listener: a failure is the command's error before anything runs.
pub async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen { addr, source })
}

/// Serves `exporter` on `listener` and runs its schedules until the interrupt; then stops
/// listening, lets the in-flight runs end (cut by the same interrupt) and returns.
pub async fn serve(exporter: Exporter, listener: TcpListener) {
    super::memory::limit_arenas();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut schedules = JoinSet::new();
    schedules.spawn(super::memory::trim_until(stop_rx.clone()));
    for i in 0..exporter.scenarios.len() {
        schedules.spawn(exporter.clone().schedule(i, stop_rx.clone()));
    }
    let server = super::http::accept_loop(exporter.clone(), listener, stop_rx.clone());
    let interrupt = exporter.interrupt.clone();
    let mut server = tokio::spawn(server);
    tokio::select! {
        _ = interrupt => {}
        _ = &mut server => {}
    }
    let _ = stop_tx.send(true);
    // Stopped listening; give answers in flight a moment, then go.
    let _ = tokio::time::timeout(Duration::from_secs(5), &mut server).await;
    server.abort();
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        while schedules.join_next().await.is_some() {}
    })
    .await;
    schedules.abort_all();
}
