//! Client connection and request counters, nginx's `stub_status` as
//! `kong.nginx.get_statistics()` reports them. Each worker counts in its
//! own record (only its thread writes it: a load and a store, no shared
//! cache line per request); a reader sums the records.

use std::cell::OnceCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Counts {
    accepted: AtomicU64,
    handled: AtomicU64,
    active: AtomicU64,
    requests: AtomicU64,
    writing: AtomicU64,
}

static ALL: Mutex<Vec<Arc<Counts>>> = Mutex::new(Vec::new());

thread_local! {
    static MINE: OnceCell<Arc<Counts>> = const { OnceCell::new() };
}

/// Adds `delta` to this thread's counter `pick` (this thread is its only
/// writer).
fn bump(pick: fn(&Counts) -> &AtomicU64, delta: i64) {
    MINE.with(|mine| {
        let counts = mine.get_or_init(|| {
            let counts = Arc::new(Counts::default());
            ALL.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(counts.clone());
            counts
        });
        let c = pick(counts);
        c.store(
            c.load(Ordering::Relaxed).wrapping_add_signed(delta),
            Ordering::Relaxed,
        );
    });
}

/// A client connection was accepted; `handled`: and served (not refused
/// at the descriptor limit). A handled one is active until [`closed`].
pub fn accepted(handled: bool) {
    bump(|c| &c.accepted, 1);
    if handled {
        bump(|c| &c.handled, 1);
        bump(|c| &c.active, 1);
    }
}

/// A handled connection closed.
pub fn closed() {
    bump(|c| &c.active, -1);
}

/// A request head was read: a request, being processed until the guard
/// drops (its response sent, or abandoned).
pub fn request() -> Writing {
    bump(|c| &c.requests, 1);
    bump(|c| &c.writing, 1);
    Writing(())
}

pub struct Writing(());

impl Drop for Writing {
    fn drop(&mut self) {
        bump(|c| &c.writing, -1);
    }
}

/// The counters of every worker, summed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Statistics {
    pub accepted: u64,
    pub handled: u64,
    pub active: u64,
    pub requests: u64,
    pub writing: u64,
}

pub fn snapshot() -> Statistics {
    let mut s = Statistics::default();
    for c in ALL.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        s.accepted += get(&c.accepted);
        s.handled += get(&c.handled);
        s.active = s.active.wrapping_add(get(&c.active));
        s.requests += get(&c.requests);
        s.writing = s.writing.wrapping_add(get(&c.writing));
    }
    s
}
