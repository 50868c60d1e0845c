//! Supervising client connections without per-request timers or channels.
//!
//! hyper's `header_read_timeout` allocates and arms a timer for every
//! request head, and a `select!` over a shutdown channel and an idle timer
//! polls both on every wake-up of the connection. Instead, every connection
//! shares an [`Activity`] with its worker: the socket wrapper
//! ([`CountingIo`]) bumps a counter on each read and write, and the
//! worker's accept loop sweeps its connections once per idle period, asking
//! those whose counter did not move (and that have no request in flight) to
//! stop; at shutdown it asks all of them to finish gracefully. A
//! connection checks its stop flag only when hyper returns `Pending` — one
//! `Cell` read.

use std::cell::{Cell, RefCell};
use std::io;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use hyper::rt::{Read, ReadBufCursor, Write};

/// Why a connection is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// No traffic for a whole idle period: close it.
    Idle,
    /// The worker is shutting down: finish the in-flight request, then close.
    Shutdown,
}

/// Shared between a connection's socket, its request handler and the
/// worker's sweeps.
#[derive(Default)]
pub struct Activity {
    ticks: Cell<u64>,
    /// `ticks` at the previous sweep (none yet: just accepted).
    seen: Cell<Option<u64>>,
    /// Requests being handled (waiting on a slow upstream is not idleness).
    busy: Cell<u32>,
    stop: Cell<Option<Stop>>,
    waker: RefCell<Option<Waker>>,
}

impl Activity {
    fn bump(&self) {
        self.ticks.set(self.ticks.get().wrapping_add(1));
    }

    /// Marks a request in flight until the guard drops.
    pub fn busy(self: &Rc<Self>) -> BusyGuard {
        self.busy.set(self.busy.get().saturating_add(1));
        BusyGuard(self.clone())
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

    pub fn request_stop(&self, stop: Stop) {
        if self.stop.get() == Some(Stop::Shutdown) {
            return;
        }
        self.stop.set(Some(stop));
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// True when nothing happened since the previous call and no request
    /// is in flight.
    fn idle_since_last_sweep(&self) -> bool {
        let now = self.ticks.get();
        let idle = self.seen.get() == Some(now) && self.busy.get() == 0;
        self.seen.set(Some(now));
        idle
    }
}

pub struct BusyGuard(Rc<Activity>);

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

    /// Asks connections idle since the previous sweep to close; forgets
    /// closed ones.
    pub fn sweep_idle(&self) {
        self.conns.borrow_mut().retain(|w| match w.upgrade() {
            Some(a) => {
                if a.idle_since_last_sweep() {
                    a.request_stop(Stop::Idle);
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

impl<T: Read + Unpin> Read for CountingIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if res.is_ready() {
            self.activity.bump();
        }
        res
    }
}

impl<T: Write + Unpin> Write for CountingIo<T> {
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

    #[test]
    fn sweeps_stop_only_idle_connections() {
        let registry = Registry::default();
        let quiet = Rc::new(Activity::default());
        let chatty = Rc::new(Activity::default());
        let waiting = Rc::new(Activity::default());
        for a in [&quiet, &chatty, &waiting] {
            registry.add(a);
        }
        let _busy = waiting.busy();
        registry.sweep_idle();
        assert_eq!(
            quiet.stop.get(),
            None,
            "just accepted: one full period first"
        );
        chatty.bump();
        registry.sweep_idle();
        assert_eq!(quiet.stop.get(), Some(Stop::Idle));
        assert_eq!(chatty.stop.get(), None);
        assert_eq!(
            waiting.stop.get(),
            None,
            "a request in flight is not idleness"
        );
        registry.stop_all();
        assert_eq!(chatty.stop.get(), Some(Stop::Shutdown));
    }
}
