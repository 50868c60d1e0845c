//! Closing idle client connections without a timer per request.
//!
//! hyper's `header_read_timeout` allocates and arms a timer for every
//! request head it reads. Instead, the client socket is wrapped in
//! [`CountingIo`], which bumps a counter on every read and write, and one
//! watchdog per connection wakes every `timeout`: a connection whose counter
//! did not move for a whole period (an idle keep-alive connection, or a
//! client trickling nothing) is closed. Cost on the request path: one
//! non-atomic increment per syscall.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::rt::{Read, ReadBufCursor, Write};

/// Shared between the IO wrapper, the request handler and the watchdog.
#[derive(Default)]
pub struct Activity {
    ticks: Cell<u64>,
    /// Requests being handled (waiting on a slow upstream is not idleness).
    busy: Cell<u32>,
}

impl Activity {
    fn bump(&self) {
        self.ticks.set(self.ticks.get().wrapping_add(1));
    }

    /// Marks a request in flight until the guard drops.
    pub fn busy(self: &Rc<Self>) -> BusyGuard {
        self.busy.set(self.busy.get() + 1);
        BusyGuard(self.clone())
    }
}

pub struct BusyGuard(Rc<Activity>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.busy.set(self.0.busy.get().saturating_sub(1));
        self.0.bump();
    }
}

pub struct CountingIo<T> {
    inner: T,
    activity: Rc<Activity>,
}

impl<T> CountingIo<T> {
    pub fn new(inner: T) -> (Self, Rc<Activity>) {
        let activity = Rc::new(Activity::default());
        (
            CountingIo {
                inner,
                activity: activity.clone(),
            },
            activity,
        )
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

/// Resolves once a whole `period` passed without any activity.
pub async fn idle_for(activity: &Activity, period: Duration) {
    let mut seen = activity.ticks.get();
    loop {
        tokio::time::sleep(period).await;
        let now = activity.ticks.get();
        if now == seen && activity.busy.get() == 0 {
            return;
        }
        seen = now;
    }
}
