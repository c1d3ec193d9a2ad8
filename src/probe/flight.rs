//! The TLS 1.3 client's last handshake flight, held back until the first request is flushed so
//! that both leave in one write, as browsers send them: one segment, one wake-up of the server
//! and one system call less per TLS connection. Only that flight is held (the compatibility
//! ChangeCipherSpec record followed by the encrypted Finished), and only until the next flush
//! that carries more, or a shutdown; everything else goes straight through. A flight that is
//! never followed by a request (a chain the harness does not trust) is never sent: the server
//! sees the handshake abandoned, which is what it was.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A TLS record's header: content type, version, length.
const CHANGE_CIPHER_SPEC: [u8; 6] = [0x14, 0x03, 0x03, 0x00, 0x01, 0x01];
const APPLICATION_DATA: u8 = 0x17;

/// A stream under a TLS client that holds its last handshake flight for the first request.
#[derive(Debug)]
pub struct Flight<S> {
    inner: S,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Nothing held yet: writes go through, each looked at.
    Watching,
    /// The final flight is held (`flight` bytes), with whatever was written after it.
    Holding { held: Vec<u8>, flight: usize },
    /// What was held is being written out; `sent` bytes of it are.
    Releasing { held: Vec<u8>, sent: usize },
    /// Nothing is held, or ever will be: writes go through.
    Through,
}

impl<S> Flight<S> {
    pub fn new(inner: S) -> Flight<S> {
        Flight {
            inner,
            state: State::Watching,
        }
    }
}

/// Whether `bufs` begin a TLS 1.3 client's final flight: the middlebox-compatibility
/// ChangeCipherSpec record, then an encrypted record (its Finished). TLS 1.2 never writes that
/// pair in one go: its ChangeCipherSpec is followed by a handshake record, its first encrypted
/// application record stands alone.
fn is_final_flight(bufs: &[IoSlice<'_>]) -> bool {
    let mut start = [0u8; 7];
    let mut filled = 0;
    for buf in bufs {
        let take = (start.len() - filled).min(buf.len());
        start[filled..filled + take].copy_from_slice(&buf[..take]);
        filled += take;
        if filled == start.len() {
            break;
        }
    }
    filled == start.len() && start[..6] == CHANGE_CIPHER_SPEC && start[6] == APPLICATION_DATA
}

impl<S: AsyncWrite + Unpin> Flight<S> {
    /// Lets what is held go: the next [`Flight::poll_release`] writes it out.
    fn let_go(&mut self) {
        if let State::Holding { held, .. } = &mut self.state {
            let held = std::mem::take(held);
            self.state = State::Releasing { held, sent: 0 };
        }
    }

    /// Writes out what is held, if anything; then nothing is held again.
    fn poll_release(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let State::Releasing { held, sent } = &mut self.state {
            while *sent < held.len() {
                match ready!(Pin::new(&mut self.inner).poll_write(cx, &held[*sent..]))? {
                    0 => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    n => *sent += n,
                }
            }
            self.state = State::Through;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Flight<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // A read does not release the flight: hyper reads an idle connection before it writes
        // the request, and the server has nothing to say before it has the Finished.
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Flight<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_release(cx))?;
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        match &mut this.state {
            State::Holding { held, .. } => {
                bufs.iter().for_each(|b| held.extend_from_slice(b));
                return Poll::Ready(Ok(len));
            }
            State::Watching if is_final_flight(bufs) => {
                let held: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
                this.state = State::Holding { held, flight: len };
                return Poll::Ready(Ok(len));
            }
            State::Watching
                if bufs.iter().find(|b| !b.is_empty()).map(|b| b[0]) == Some(APPLICATION_DATA) =>
            {
                this.state = State::Through;
            }
            _ => {}
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        // The handshake's own flush: the flight waits for the request.
        if let State::Holding { held, flight } = &this.state
            && held.len() == *flight
        {
            return Poll::Ready(Ok(()));
        }
        this.let_go();
        ready!(this.poll_release(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.let_go();
        ready!(this.poll_release(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Records each write the flight makes, as the kernel would see them.
    #[derive(Default)]
    struct Wire {
        writes: Vec<Vec<u8>>,
        shut: bool,
    }

    impl AsyncWrite for Wire {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.writes.push(buf.to_vec());
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            self.writes
                .push(bufs.iter().flat_map(|b| b.iter().copied()).collect());
            Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()))
        }
        fn is_write_vectored(&self) -> bool {
            true
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.shut = true;
            Poll::Ready(Ok(()))
        }
    }

    const CLIENT_HELLO: &[u8] = &[0x16, 0x03, 0x01, 0x00, 0x02, 0x01, 0x00];
    /// A TLS 1.3 client's final flight: ChangeCipherSpec, then the encrypted Finished.
    const FINAL_FLIGHT: &[u8] = &[
        0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 0x17, 0x03, 0x03, 0x00, 0x01, 0xaa,
    ];
    const REQUEST: &[u8] = &[0x17, 0x03, 0x03, 0x00, 0x01, 0xbb];

    async fn vectored(flight: &mut Flight<Wire>, parts: &[&[u8]]) {
        let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        let n = flight.write_vectored(&slices).await.unwrap();
        assert_eq!(n, parts.iter().map(|p| p.len()).sum::<usize>());
    }

    #[tokio::test]
    async fn the_tls13_final_flight_leaves_with_the_request_in_one_write() {
        let mut flight = Flight::new(Wire::default());
        vectored(&mut flight, &[CLIENT_HELLO]).await;
        flight.flush().await.unwrap();
        // The flight comes as rustls writes it: the two records in separate slices.
        vectored(&mut flight, &[&FINAL_FLIGHT[..6], &FINAL_FLIGHT[6..]]).await;
        flight.flush().await.unwrap();
        assert_eq!(
            flight.inner.writes,
            vec![CLIENT_HELLO.to_vec()],
            "held through the handshake's flush"
        );
        vectored(&mut flight, &[REQUEST]).await;
        flight.flush().await.unwrap();
        assert_eq!(
            flight.inner.writes,
            vec![CLIENT_HELLO.to_vec(), [FINAL_FLIGHT, REQUEST].concat()]
        );
        // Afterwards everything goes straight through.
        vectored(&mut flight, &[REQUEST]).await;
        assert_eq!(flight.inner.writes.len(), 3);
    }

    #[tokio::test]
    async fn tls12_flights_and_its_first_request_are_never_held() {
        let mut flight = Flight::new(Wire::default());
        vectored(&mut flight, &[CLIENT_HELLO]).await;
        // ClientKeyExchange, ChangeCipherSpec, Finished (a handshake record).
        let second = [CLIENT_HELLO, &FINAL_FLIGHT[..6], CLIENT_HELLO].concat();
        vectored(&mut flight, &[&second]).await;
        // A resumed handshake's ChangeCipherSpec and Finished.
        let resumed = [&FINAL_FLIGHT[..6], CLIENT_HELLO].concat();
        vectored(&mut flight, &[&resumed]).await;
        vectored(&mut flight, &[REQUEST]).await;
        vectored(&mut flight, &[FINAL_FLIGHT]).await;
        assert_eq!(
            flight.inner.writes.len(),
            5,
            "every write went straight out: {:?}",
            flight.inner.writes
        );
    }

    #[tokio::test]
    async fn a_shutdown_sends_what_is_held_first() {
        let mut flight = Flight::new(Wire::default());
        vectored(&mut flight, &[FINAL_FLIGHT]).await;
        flight.flush().await.unwrap();
        assert!(flight.inner.writes.is_empty());
        flight.shutdown().await.unwrap();
        assert_eq!(flight.inner.writes, vec![FINAL_FLIGHT.to_vec()]);
        assert!(flight.inner.shut);
    }

    #[test]
    fn only_a_change_cipher_spec_then_an_encrypted_record_is_a_final_flight() {
        let check = |parts: &[&[u8]]| {
            is_final_flight(&parts.iter().map(|p| IoSlice::new(p)).collect::<Vec<_>>())
        };
        assert!(check(&[FINAL_FLIGHT]));
        assert!(check(&[&FINAL_FLIGHT[..3], &[], &FINAL_FLIGHT[3..7]]));
        assert!(!check(&[&FINAL_FLIGHT[..6]]), "a lone ChangeCipherSpec");
        assert!(!check(&[CLIENT_HELLO]));
        assert!(!check(&[REQUEST]));
        assert!(
            !check(&[&[0x14, 0x03, 0x03, 0x00, 0x02, 0x01, 0x17]]),
            "not a ChangeCipherSpec record"
        );
        assert!(!check(&[]));
    }
}
