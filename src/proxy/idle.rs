//! Supervising client connections without per-request timers or channels.
//!
//! A timer per request head (hyper's `header_read_timeout` allocated and
//! armed one, and answered nothing when it fired), or a `select!` over a
//! shutdown channel and an idle timer polled on every wake-up of the
//! connection, would cost every request. Instead, every connection shares an [`Activity`] with its
//! worker: the socket wrapper ([`CountingIo`]) bumps a counter on each read
//! and write, and notes when the first bytes of an HTTP/1 request head
//! arrive; the worker's accept loop sweeps its connections a few times per
//! timeout period, asking those whose counter did not move for the idle
//! timeout (and that have no request in flight) to stop, and those still
//! sending a head after the client header timeout to stop with a 408 —
//! however many bytes they trickle. At shutdown it asks all of them to
//! finish gracefully. A connection checks its stop flag only when its
//! server (`server` for HTTP/1, hyper for HTTP/2) returns `Pending` — one
//! `Cell` read.

use std::cell::{Cell, RefCell};
use std::io;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Why a connection is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// No traffic for a whole idle period: close it.
    Idle,
    /// The worker is shutting down: finish the in-flight request, then close.
    Shutdown,
    /// A request head is still incomplete after the client header timeout:
    /// answer 408 and close.
    HeaderTimeout,
}

/// What a sweep enforces.
#[derive(Debug, Clone, Copy)]
pub struct SweepRules {
    /// Sweeps in a row without traffic before a connection is idle.
    pub idle_sweeps: u32,
    pub header_timeout: Duration,
}

/// Shared between a connection's socket, its request handler and the
/// worker's sweeps.
#[derive(Default)]
pub struct Activity {
    ticks: Cell<u64>,
    /// `ticks` at the previous sweep (none yet: just accepted).
    seen: Cell<Option<u64>>,
    /// Sweeps in a row that saw no traffic.
    quiet: Cell<u32>,
    /// Request heads are timed (HTTP/1; HTTP/2 frames its own way).
    time_heads: Cell<bool>,
    /// When the first bytes of the request head being read arrived.
    head_since: Cell<Option<Instant>>,
    /// Requests being handled (waiting on a slow upstream is not idleness).
    busy: Cell<u32>,
    /// Responses whose body is still being sent: bytes read meanwhile do
    /// not start a request head (a pipelined request waits for them), but
    /// a client that stops reading is idle like any other.
    responding: Cell<u32>,
    stop: Cell<Option<Stop>>,
    waker: RefCell<Option<Waker>>,
}

impl Activity {
    fn bump(&self) {
        self.ticks.set(self.ticks.get().wrapping_add(1));
    }

    /// Times this connection's request heads (an HTTP/1 connection).
    pub fn time_heads(&self) {
        self.time_heads.set(true);
    }

    /// Bytes were read: between requests, they start a request head.
    fn read(&self, n: usize) {
        self.bump();
        if n > 0
            && self.time_heads.get()
            && self.busy.get() == 0
            && self.responding.get() == 0
            && self.head_since.get().is_none()
        {
            self.head_since.set(Some(Instant::now()));
        }
    }

    /// Marks a request in flight (its head is complete) until the guard
    /// drops; with when the first bytes of its head arrived, if they came
    /// between requests (nginx's request start, `ngx.req.start_time`):
    /// the request's start without another clock read.
    pub fn busy(self: &Rc<Self>) -> (BusyGuard, Option<Instant>) {
        self.busy.set(self.busy.get().saturating_add(1));
        let since = self.head_since.take();
        (BusyGuard(self.clone()), since)
    }

    /// The stop request, if any, registering `waker` otherwise.
    pub fn poll_stop(&self, waker: &Waker) -> Option<Stop> {
        if let Some(stop) = self.stop.get() {
            return Some(stop);
        }
        let mut slot = self.waker.borrow_mut();
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
        None
    }

    /// The stop request, if any (nothing registered).
    pub fn stop_requested(&self) -> Option<Stop> {
        self.stop.get()
    }

    pub fn request_stop(&self, stop: Stop) {
        if self.stop.get() == Some(Stop::Shutdown) {
            return;
        }
        self.stop.set(Some(stop));
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// What this sweep asks of the connection, if anything.
    fn sweep(&self, now: Instant, rules: &SweepRules) -> Option<Stop> {
        let ticks = self.ticks.get();
        let moved = self.seen.replace(Some(ticks)) != Some(ticks);
        if self.busy.get() > 0 {
            // Waiting on a slow upstream is not idleness.
            self.quiet.set(0);
            return None;
        }
        if self
            .head_since
            .get()
            .is_some_and(|since| now.saturating_duration_since(since) >= rules.header_timeout)
        {
            return Some(Stop::HeaderTimeout);
        }
        if moved {
            self.quiet.set(0);
            return None;
        }
        let quiet = self.quiet.get().saturating_add(1);
        self.quiet.set(quiet);
        (quiet >= rules.idle_sweeps).then_some(Stop::Idle)
    }
}

pub struct BusyGuard(Rc<Activity>);

impl BusyGuard {
    /// The request's response is ready: it is now being sent.
    pub fn into_responding(self) -> RespondingGuard {
        let a = &self.0;
        a.responding.set(a.responding.get().saturating_add(1));
        RespondingGuard(a.clone())
    }
}

/// Held by a response body until it has been sent or dropped.
pub struct RespondingGuard(Rc<Activity>);

impl Drop for RespondingGuard {
    fn drop(&mut self) {
        let a = &self.0;
        a.responding.set(a.responding.get().saturating_sub(1));
        a.bump();
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.busy.set(self.0.busy.get().saturating_sub(1));
        self.0.bump();
    }
}

/// A worker's live connections.
#[derive(Default)]
pub struct Registry {
    conns: RefCell<Vec<Weak<Activity>>>,
}

impl Registry {
    pub fn add(&self, activity: &Rc<Activity>) {
        self.conns.borrow_mut().push(Rc::downgrade(activity));
    }

    /// Asks idle connections, and those too slow with a request head, to
    /// stop; forgets closed ones.
    pub fn sweep(&self, rules: &SweepRules) {
        let now = Instant::now();
        self.conns.borrow_mut().retain(|w| match w.upgrade() {
            Some(a) => {
                if let Some(stop) = a.sweep(now, rules) {
                    a.request_stop(stop);
                }
                true
            }
            None => false,
        });
    }

    pub fn stop_all(&self) {
        for a in self.conns.borrow().iter().filter_map(Weak::upgrade) {
            a.request_stop(Stop::Shutdown);
        }
    }
}

/// A socket that counts its reads and writes into an [`Activity`].
pub struct CountingIo<T> {
    inner: T,
    activity: Rc<Activity>,
}

impl<T> CountingIo<T> {
    pub fn new(inner: T, activity: Rc<Activity>) -> Self {
        CountingIo { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for CountingIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if res.is_ready() {
            self.activity.read(buf.filled().len() - before);
        }
        res
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CountingIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if res.is_ready() {
            self.activity.bump();
        }
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if res.is_ready() {
            self.activity.bump();
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: SweepRules = SweepRules {
        idle_sweeps: 1,
        header_timeout: Duration::from_secs(3600),
    };

    #[test]
    fn sweeps_stop_only_idle_connections() {
        let registry = Registry::default();
        let quiet = Rc::new(Activity::default());
        let chatty = Rc::new(Activity::default());
        let waiting = Rc::new(Activity::default());
        for a in [&quiet, &chatty, &waiting] {
            registry.add(a);
        }
        let _busy = waiting.busy().0;
        registry.sweep(&RULES);
        assert_eq!(
            quiet.stop.get(),
            None,
            "just accepted: one full period first"
        );
        chatty.bump();
        registry.sweep(&RULES);
        assert_eq!(quiet.stop.get(), Some(Stop::Idle));
        assert_eq!(chatty.stop.get(), None);
        assert_eq!(
            waiting.stop.get(),
            None,
            "a request in flight is not idleness"
        );
        registry.stop_all();
        assert_eq!(chatty.stop.get(), Some(Stop::Shutdown));

        // A response its client stopped reading is no traffic either.
        let stuck = Rc::new(Activity::default());
        registry.add(&stuck);
        let _sending = stuck.busy().0.into_responding();
        registry.sweep(&RULES);
        registry.sweep(&RULES);
        assert_eq!(stuck.stop.get(), Some(Stop::Idle));
    }

    #[test]
    fn a_head_sent_too_slowly_times_out_however_busy_the_socket() {
        let rules = SweepRules {
            idle_sweeps: 1000,
            header_timeout: Duration::ZERO,
        };
        let registry = Registry::default();
        let h1 = Rc::new(Activity::default());
        let h2 = Rc::new(Activity::default());
        let between = Rc::new(Activity::default());
        h1.time_heads();
        between.time_heads();
        for a in [&h1, &h2, &between] {
            registry.add(a);
        }
        h1.read(10);
        h2.read(10);
        registry.sweep(&rules);
        assert_eq!(h1.stop.get(), Some(Stop::HeaderTimeout));
        assert_eq!(h2.stop.get(), None, "HTTP/2 heads are not timed here");
        assert_eq!(between.stop.get(), None, "no head started");
        let (busy, since) = between.busy();
        assert!(since.is_none(), "no head started");
        between.read(10);
        registry.sweep(&rules);
        assert_eq!(between.stop.get(), None, "a body is not a head");
        let sending = busy.into_responding();
        between.read(10);
        registry.sweep(&rules);
        assert_eq!(between.stop.get(), None, "read while the response is sent");
        drop(sending);
        registry.sweep(&rules);
        assert_eq!(between.stop.get(), None, "the next head has not started");
        between.read(10);
        registry.sweep(&rules);
        assert_eq!(between.stop.get(), Some(Stop::HeaderTimeout));
        let (_busy, since) = between.busy();
        assert!(since.is_some(), "the head's start is the request's");
        assert!(between.head_since.get().is_none());
    }
}
