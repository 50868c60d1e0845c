//! `ngx.worker`: which worker a function runs on. lunagate's workers are
//! threads of one process where nginx's are processes, so each worker
//! thread says who it is when it starts ([`enter`]): `ngx.worker.id()` is
//! its index (0 to `count() - 1`), `ngx.worker.pid()` its thread's id (on
//! Linux the id `ps -L` and `/proc/<pid>/task/` list, distinct per worker
//! as nginx's worker pids are; the process id where there is no such
//! id), and `ngx.worker.count()` the number of workers (`--workers`).
//! Code that runs outside a worker (unit tests) is worker 0 of 1.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use lua_stdlib::{Callback, CallbackReturn, Context, Table};

static COUNT: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    static ID: Cell<usize> = const { Cell::new(0) };
    static PID: Cell<Option<i64>> = const { Cell::new(None) };
}

/// Called on a worker's thread before it serves: this thread is worker
/// `id` of `count`.
pub fn enter(id: usize, count: usize) {
    ID.with(|c| c.set(id));
    COUNT.store(count.max(1), Ordering::Relaxed);
}

/// This thread's id (`/proc/thread-self` names it), else the process id.
pub(super) fn pid() -> i64 {
    PID.with(|c| match c.get() {
        Some(pid) => pid,
        None => {
            let own = std::fs::read_link("/proc/thread-self").ok().and_then(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.parse().ok())
            });
            let pid = own.unwrap_or_else(|| i64::from(std::process::id()));
            c.set(Some(pid));
            pid
        }
    })
}

/// Builds `ngx.worker`.
pub fn install<'gc>(ctx: Context<'gc>, ngx: Table<'gc>) {
    let worker = ctx.new_table();
    type Answer = fn() -> i64;
    let fns: [(&str, Answer); 3] = [
        ("pid", pid),
        ("id", || ID.with(Cell::get) as i64),
        ("count", || COUNT.load(Ordering::Relaxed) as i64),
    ];
    for (name, f) in fns {
        let cb = Callback::from_fn(&ctx, move |ctx, _, mut stack| {
            stack.replace(ctx, f());
            Ok(CallbackReturn::Return)
        });
        super::set(ctx, worker, name, cb);
    }
    super::set(ctx, ngx, "worker", worker);
}
