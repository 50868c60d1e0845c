//! One Admin API connection, cut off when a client is too slow: a request
//! head must arrive within the header timeout of its first byte, and a
//! connection waiting for its next request closes after the idle timeout
//! (nginx's `client_header_timeout` and `keepalive_timeout`). Without them
//! a client trickling a header byte by byte, or idle connections left open,
//! held the admin runtime's resources forever.
//!
//! The socket wrapper notes when the bytes of a head start to arrive, the
//! service notes when a request is being handled, and a watchdog next to
//! hyper's connection future closes the connection when the phase it is
//! in has lasted too long. A request being handled is never cut off.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The `serve` flags' timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request since then.
    Idle(Instant),
    /// The first byte of a request head arrived then.
    Head(Instant),
    /// A request is being handled.
    Busy,
}

/// What a connection is doing, shared by its socket, its service and its
/// watchdog.
pub struct Watch {
    phase: Mutex<Phase>,
    changed: Notify,
}

impl Watch {
    pub fn new() -> Arc<Watch> {
        Arc::new(Watch {
            phase: Mutex::new(Phase::Idle(Instant::now())),
            changed: Notify::new(),
        })
    }

    fn set(&self, f: impl FnOnce(Phase) -> Option<Phase>) {
        let mut phase = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(next) = f(*phase) {
            *phase = next;
            self.changed.notify_one();
        }
    }

    /// A request head is complete: it is being handled.
    pub fn busy(&self) {
        self.set(|_| Some(Phase::Busy));
    }

    /// The response is ready: the connection waits for the next request.
    pub fn idle(&self) {
        self.set(|_| Some(Phase::Idle(Instant::now())));
    }

    fn bytes_arrived(&self) {
        self.set(|p| matches!(p, Phase::Idle(_)).then(|| Phase::Head(Instant::now())));
    }

    /// When the current phase runs out, if it can.
    fn deadline(&self, t: &Timeouts) -> Option<(Instant, &'static str)> {
        match *self.phase.lock().unwrap_or_else(PoisonError::into_inner) {
            Phase::Idle(since) => Some((since + t.idle, "idle")),
            Phase::Head(since) => Some((since + t.header, "header")),
            Phase::Busy => None,
        }
    }

    /// Drives `conn` until it ends or a timeout cuts it off (dropping a
    /// hyper connection closes its socket).
    pub async fn supervise<F>(&self, timeouts: Timeouts, conn: F) -> Result<(), String>
    where
        F: std::future::Future<Output = Result<(), hyper::Error>>,
    {
        tokio::pin!(conn);
        loop {
            let deadline = self.deadline(&timeouts);
            let sleep = async {
                match deadline {
                    Some((at, _)) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                done = &mut conn => return done.map_err(|e| e.to_string()),
                () = sleep => {
                    // The phase may have moved on meanwhile: look again.
                    if let Some((at, what)) = self.deadline(&timeouts) {
                        if at <= Instant::now() {
                            return Err(format!("{what} timeout"));
                        }
                    }
                }
                () = self.changed.notified() => {}
            }
        }
    }
}

/// A socket that tells its [`Watch`] when bytes arrive.
pub struct Watched<S> {
    inner: S,
    watch: Arc<Watch>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, watch: Arc<Watch>) -> Self {
        Watched { inner, watch }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.watch.bytes_arrived();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
