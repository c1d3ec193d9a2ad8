//! Plumbing shared by the lab's TCP servers: the accept loop that owns its connections, the
//! emulated WAN delay, loopback binding, and a stream that replays bytes already read.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::world::LabError;

/// How long a client may take to send a request head or a ClientHello, and how long an
/// upstream connect may take, before the lab gives up on it.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Sleeps for the configured WAN latency, if any.
pub(crate) async fn wan_delay(latency: Duration) {
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
}

/// Binds a TCP listener on `addr` (a loopback address, port 0 for an ephemeral port).
pub(crate) async fn bind(
    listener: &'static str,
    addr: SocketAddr,
) -> Result<TcpListener, LabError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| LabError::Bind {
            listener,
            addr,
            source,
        })
}

/// The address a listener really got, for error messages and the lab's accessors.
pub(crate) fn local_addr(
    listener_name: &'static str,
    listener: &TcpListener,
) -> Result<SocketAddr, LabError> {
    listener.local_addr().map_err(|source| LabError::Bind {
        listener: listener_name,
        addr: SocketAddr::new(IpAddr::from([127, 0, 0, 1]), 0),
        source,
    })
}

/// Accepts connections on `listener` and runs `handle` on each, after the WAN delay.
/// Connection tasks live in a `JoinSet` owned by the loop, so aborting the returned task ends
/// every connection it accepted too.
pub(crate) fn spawn_accept_loop<F, Fut>(
    listener: TcpListener,
    latency: Duration,
    handle: F,
) -> JoinHandle<()>
where
    F: Fn(TcpStream, SocketAddr) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        // The WAN is modelled by `latency` alone: no Nagle delays on top.
                        let _ = stream.set_nodelay(true);
                        let connection = handle(stream, peer);
                        connections.spawn(async move {
                            wan_delay(latency).await;
                            connection.await;
                        });
                    }
                    // Out of descriptors or a connection reset before accept: back off
                    // instead of spinning, and keep serving.
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    })
}

/// Opens a TCP connection to `target` from `source` (port chosen by the kernel): this is how
/// the gateway makes the origin see the App Connector or the ZIA edge address.
pub(crate) async fn connect_from(source: IpAddr, target: SocketAddr) -> io::Result<TcpStream> {
    let socket = match source {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source, 0))?;
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, socket.connect(target)).await {
        Ok(connected) => {
            let stream = connected?;
            stream.set_nodelay(true)?;
            Ok(stream)
        }
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connect from {source} to {target} timed out"),
        )),
    }
}

/// Drops `stream` with SO_LINGER 0, so the peer sees a TCP reset rather than a clean close.
pub(crate) fn reset(stream: TcpStream) {
    // If the option cannot be set the peer sees a plain close, which is still a failure to it.
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// A stream that first yields bytes already read from `inner` (a request head, a ClientHello),
/// then reads from `inner`; writes go straight to `inner`.
pub(crate) struct Replay<S> {
    prefix: Vec<u8>,
    replayed: usize,
    inner: S,
}

impl<S> Replay<S> {
    pub(crate) fn new(prefix: Vec<u8>, inner: S) -> Self {
        Replay {
            prefix,
            replayed: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let pending = &this.prefix[this.replayed..];
        if !pending.is_empty() {
            let n = pending.len().min(buf.remaining());
            buf.put_slice(&pending[..n]);
            this.replayed += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn replay_yields_prefix_then_inner() {
        let inner: &[u8] = b" world";
        let mut replay = Replay::new(b"hello".to_vec(), inner);
        let mut all = String::new();
        replay.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "hello world");
    }
}
