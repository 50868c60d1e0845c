//! What one worker thread owns ([`WorkerContext`]): the configuration
//! snapshot it holds, its upstream pool, its request ids, its Lua VM and
//! the queue of `log` phases waiting to run. Not `Send`: it never leaves
//! its thread.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use arc_swap::Guard;
use tokio::sync::Notify;

use super::headers::RequestIds;
use super::pool::Pool;
use super::ClientTimeouts;
use crate::snapshot::{ConfigSnapshot, SharedConfig};

/// Everything one worker thread owns.
pub struct WorkerContext {
    pub id: usize,
    pub config: SharedConfig,
    pub pool: Rc<Pool>,
    pub request_ids: RequestIds,
    /// Reused buffer for the upstream path.
    pub scratch: RefCell<Vec<u8>>,
    /// Spare buffers for upstream request targets built per request
    /// ([`WorkerContext::target_buffer`]).
    targets: RefCell<Vec<Vec<u8>>>,
    /// The worker's Lua VM, created when a serverless function first runs.
    pub lua: RefCell<Option<crate::plugins::serverless::LuaWorker>>,
    pub timeouts: ClientTimeouts,
    /// The snapshot the last request used (see [`WorkerContext::snapshot`]).
    snapshot: RefCell<Rc<Held>>,
    /// Work left for after a response: `log` phases, queued when a
    /// response has been sent (its body dropped) and run by the worker's
    /// [`run_deferred`] task.
    deferred: RefCell<VecDeque<Deferred>>,
    deferred_ready: Notify,
}

/// A job run on the worker after a response was sent. It is given the
/// worker when it runs (a job holds no `Rc` to it: nothing queued keeps
/// the worker alive).
pub type Deferred =
    Box<dyn FnOnce(Rc<WorkerContext>) -> futures_util::future::LocalBoxFuture<'static, ()>>;

/// A configuration snapshot held by one worker, shared between its
/// requests through an `Rc` (see [`WorkerContext::snapshot`]).
pub struct Held(Arc<ConfigSnapshot>);

impl std::ops::Deref for Held {
    type Target = ConfigSnapshot;

    fn deref(&self) -> &ConfigSnapshot {
        &self.0
    }
}

impl WorkerContext {
    pub fn new(id: usize, config: SharedConfig, timeouts: ClientTimeouts) -> Self {
        let snapshot = RefCell::new(Rc::new(Held(config.load_full())));
        WorkerContext {
            snapshot,
            id,
            config,
            pool: Rc::new(Pool::new()),
            request_ids: RequestIds::new(id),
            scratch: RefCell::new(Vec::with_capacity(256)),
            targets: RefCell::new(Vec::new()),
            lua: RefCell::new(None),
            timeouts,
            deferred: RefCell::new(VecDeque::new()),
            deferred_ready: Notify::new(),
        }
    }

    /// An empty buffer for an upstream request target that is not the
    /// client's (a path `strip_path` cut, a query a function changed),
    /// one a finished request gave back if any: the target lives across
    /// the upstream call, so it cannot be the borrowed `scratch`, and a
    /// new one per request costs a malloc and a free.
    pub fn target_buffer(&self) -> Vec<u8> {
        self.targets.borrow_mut().pop().unwrap_or_default()
    }

    /// Keeps `buf` for a later [`WorkerContext::target_buffer`]: up to
    /// 16 of them (one per request in flight on the worker), each of up
    /// to 2 KiB (a longer target's buffer is freed).
    pub fn give_back_target(&self, mut buf: Vec<u8>) {
        let mut spare = self.targets.borrow_mut();
        if spare.len() < 16 && buf.capacity() <= 2048 {
            buf.clear();
            spare.push(buf);
        }
    }

    /// The current configuration snapshot, for one request. Requests clone
    /// a worker-local `Rc`: cloning the shared `Arc` would write its count,
    /// one cache line every worker writes on every request. `ArcSwap`'s
    /// `load` writes nothing shared; the `Arc` is cloned once per change,
    /// and the worker's hold on the previous snapshot is released then.
    pub fn snapshot(&self) -> Rc<Held> {
        let current = self.config.load();
        let mut cached = self.snapshot.borrow_mut();
        if !Arc::ptr_eq(&cached.0, &current) {
            let old = std::mem::replace(&mut *cached, Rc::new(Held(Guard::into_inner(current))));
            // As the Admin API does: a large snapshot is freed off the
            // request path (unless a request in flight still holds it).
            if let Ok(Held(old)) = Rc::try_unwrap(old) {
                tokio::task::spawn_blocking(move || drop(old));
            }
        }
        Rc::clone(&cached)
    }

    /// Queues `job` for the worker's [`run_deferred`] task. Callable from
    /// anywhere on the worker's thread, a `Drop` included (nothing is
    /// spawned here).
    pub fn defer(&self, job: Deferred) {
        self.deferred.borrow_mut().push_back(job);
        self.deferred_ready.notify_one();
    }
}

/// Runs the jobs [`WorkerContext::defer`] queued, one after another, for
/// as long as the worker runs (spawned once per worker).
pub async fn run_deferred(ctx: Rc<WorkerContext>) {
    loop {
        let job = ctx.deferred.borrow_mut().pop_front();
        match job {
            Some(job) => job(ctx.clone()).await,
            None => ctx.deferred_ready.notified().await,
        }
    }
}
