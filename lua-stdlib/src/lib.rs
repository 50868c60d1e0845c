//! `lua-stdlib`: our own Lua 5.4 — front-end, register VM on gc-arena 0.7,
//! its embedding API, the standard library and OpenResty's libraries.
//! lua5.4 is the oracle for every behaviour.
//!
//! This file is the whole embedding contract; the modules behind it are
//! private.
//!
//! # The host's view
//!
//! ```text
//! let chunk = Chunk::compile(src, "=name")?;        // once; Send + Sync, Arc-shared
//! let mut vm = Vm::new();                           // one per worker thread
//! let f = vm.enter(|ctx| {                          // arena access
//!     let env = ctx.new_table();                    // per-function globals
//!     ctx.stash(Function::from(chunk.load(ctx, env)))
//! });
//! let mut call = vm.start(&f, (1, 2), Budget::default());
//! loop {
//!     match vm.run(&mut call) {
//!         Outcome::Finished(values) => break,       // stashed results
//!         Outcome::Error(message) => break,         // Lua-style message
//!         Outcome::Suspended => yield_to_event_loop(), // slice used up
//!         Outcome::Waiting => { await_host_work(); vm.resume(&mut call, values) }
//!     }
//! }
//! ```
//!
//! Inside `Vm::enter` the host (and every library function) works with the
//! arena types: [`Context`], [`Value`], [`Table`], [`String`], [`Function`],
//! [`Callback`] and the [`Stack`] a callback gets; a callback answers with a
//! [`CallbackReturn`] (return, call a function and continue in a
//! [`Sequence`], yield, resume a coroutine, or wait for the host).
//! Values leave the arena only stashed ([`Context::stash`]).
//!
//! # Budgets
//!
//! A [`Call`] runs under a [`Budget`]: instructions (every VM instruction
//! costs 1 and library functions charge for their work), running time
//! (counted only while the call runs, not while it is suspended or
//! waiting), and a memory cap on the whole VM (what the VM holds, checked
//! between slices of the call: a call that takes the VM past it ends with
//! `not enough memory`). A call over budget ends with an error that `pcall`
//! cannot catch; the VM stays usable and the memory the call took is
//! collected. Finalizers (`__gc`) that run during a call are charged to its
//! instruction budget.

#![forbid(unsafe_code)]

pub mod cli;
mod compiler;
pub mod env;
// `src/lib/`: the standard library (a plain `mod lib;` would be ambiguous
// with this file).
#[path = "lib/mod.rs"]
mod lib;
mod vm;

/// OpenResty and Kong libraries beyond Lua's own (`cjson`, `ngx.re`, the `ngx`
/// codecs, `kong.table`): see `src/ext/mod.rs`.
pub mod ext;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gc_arena::{Arena, Rootable};
use vm::gc::GcRequest;

pub use compiler::CompileError;
pub use lib::{
    bit::load_bit, math::load_math, string::load_string, table::load_table, utf8::load_utf8,
};
pub use vm::callback::{
    BoxSequence, Callback, CallbackFn, CallbackReturn, CurrentThread, Execution, Fuel, Handler,
    IntoValue, IntoValues, LuaFrameInfo, Sequence, SequencePoll, Stack,
};
pub use vm::closure::Closure;
pub use vm::context::{
    Context, Fetchable, Stashable, StashedCallback, StashedClosure, StashedExecutor,
    StashedFunction, StashedStringRef, StashedTable, StashedThread, StashedUserData, StashedValue,
};
pub use vm::conv::{FromValue, FromValues};
pub use vm::debug::{function_info, DebugInfo};
pub use vm::error::Error;
pub use vm::number::Number;
pub use vm::string::String;
pub use vm::table::{InvalidKey, SetError, Table};
pub use vm::thread::{Executor, ExecutorMode, Thread, ThreadMode};
pub use vm::userdata::UserData;
pub use vm::value::{Function, Value};

/// Number ⇄ string conversions and exact comparisons, as lua5.4 does them
/// (one copy for the VM, the library and the host).
pub mod number {
    pub use crate::vm::number::{
        compare, exp_body, float_to_integer, float_to_string, format_g, number_to_string, push_exp,
        str_to_int_base, str_to_number, Number,
    };
}

/// Metamethod lookup shared by the VM and the library.
pub mod meta {
    pub use crate::vm::meta::{
        call, equal, event, index, length, less_than, metatable, new_index, type_name_of, Event,
        Step, EVENT_NAMES, MAX_TAG_LOOP,
    };
}

/// A compiled chunk: compile once, load into any VM without recompiling.
#[derive(Clone, Debug)]
pub struct Chunk {
    proto: Arc<vm::closure::Proto>,
}

impl Chunk {
    /// Compiles `source` named `chunk_name` (`=name`, `@file` or the source
    /// itself, as `load` names chunks). Errors read as lua5.4's.
    pub fn compile(source: &[u8], chunk_name: &str) -> Result<Chunk, CompileError> {
        Ok(Chunk {
            proto: compiler::compile(source, chunk_name)?,
        })
    }

    /// The chunk as a closure in this VM, with `env` as its `_ENV`.
    pub fn load<'gc>(&self, ctx: Context<'gc>, env: Table<'gc>) -> Closure<'gc> {
        let fp = vm::closure::FunctionProto::load(&ctx, &self.proto, &mut |s| ctx.intern(s));
        let up = ctx.new_upval(vm::closure::UpvalState::Closed(Value::Table(env)));
        ctx.new_closure(fp, &[up])
    }

    /// The chunk's name as messages show it (`[string "..."]`, `stdin`).
    pub fn chunk_id(&self) -> &str {
        &self.proto.source
    }

    /// A readable bytecode listing (for tests and debugging).
    pub fn listing(&self) -> std::string::String {
        fn walk(p: &vm::closure::Proto, out: &mut std::string::String) {
            out.push_str(&compiler::listing(p));
            for c in &p.protos {
                out.push_str("--\n");
                walk(c, out);
            }
        }
        let mut s = std::string::String::new();
        walk(&self.proto, &mut s);
        s
    }
}

/// Limits of one call.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Instructions (and library work) for the whole call.
    pub instructions: u64,
    /// Running time for the whole call (time suspended or waiting is not
    /// counted).
    pub time: Duration,
    /// Memory of the whole VM, in bytes, checked between slices.
    pub memory: usize,
    /// Instructions per [`Vm::run`] before it returns `Outcome::Suspended`.
    pub slice: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            instructions: u64::MAX,
            time: Duration::MAX,
            memory: usize::MAX,
            slice: u64::MAX,
        }
    }
}

/// How a [`Vm::run`] ended.
#[derive(Clone)]
pub enum Outcome {
    /// The function returned these values.
    Finished(Vec<StashedValue>),
    /// It raised an error (or exceeded its budget): the message as lua5.4
    /// would print it.
    Error(std::string::String),
    /// The slice is used up: call `run` again to continue.
    Suspended,
    /// A callback waits for the host: `resume` with values, then `run`.
    Waiting,
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Finished(v) => write!(f, "Finished({} values)", v.len()),
            Outcome::Error(m) => write!(f, "Error({m:?})"),
            Outcome::Suspended => f.write_str("Suspended"),
            Outcome::Waiting => f.write_str("Waiting"),
        }
    }
}

/// A call in progress: its executor and what it has used of its budget.
pub struct Call {
    executor: StashedExecutor,
    budget: Budget,
    instructions: u64,
    time: Duration,
}

impl Call {
    /// Instructions used so far.
    pub fn instructions(&self) -> u64 {
        self.instructions
    }

    /// Running time used so far.
    pub fn time(&self) -> Duration {
        self.time
    }

    pub fn executor(&self) -> &StashedExecutor {
        &self.executor
    }
}

/// Instructions run per arena entry inside `Vm::run`; the GC runs between
/// entries and the time and memory budgets are checked there.
const MINI_SLICE: i64 = 8192;

/// Instructions one finalizer may run when no call's budget bounds it.
const FINALIZER_FUEL: u64 = 10_000_000;

/// The collector sleeps, after a cycle, until as many objects as it kept
/// were allocated: lua5.4's default pause (`LUAI_GCPAUSE`, 200: a cycle
/// starts when the heap has doubled). gc-arena's default (half as many)
/// ran a cycle, marking every object the VM keeps, twice as often.
const PACING: gc_arena::metrics::Pacing = gc_arena::metrics::Pacing {
    sleep_factor: 1.0,
    ..gc_arena::metrics::Pacing::DEFAULT
};

/// Stack slots and frames a restarted executor keeps ([`Vm::restart`]).
const REUSED_STACK: usize = 1024;
const REUSED_FRAMES: usize = 64;

/// One Lua state: an arena with its globals, registry and interned strings.
///
/// Dropping it closes it as `lua_close` does: every table still marked
/// for finalization has its `__gc` run (see [`Vm::close`]).
pub struct Vm {
    arena: Arena<Rootable![vm::context::GlobalState<'_>]>,
    /// Counted bytes after the last full collection.
    bytes_after_gc: usize,
    /// Collecting or running finalizers: `enter` does no GC work.
    gc_busy: bool,
    /// Instructions finalizers may still run in this slice, and what they
    /// ran (charged to the call in progress by `run`).
    finalizer_fuel: u64,
    finalizer_used: u64,
    closed: bool,
}

impl Default for Vm {
    fn default() -> Self {
        Vm::new()
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if !self.closed && !std::thread::panicking() {
            self.close();
        }
    }
}

impl Vm {
    /// An empty VM: no library is loaded (see [`env`]).
    pub fn new() -> Vm {
        let arena = Arena::<Rootable![vm::context::GlobalState<'_>]>::new(|mc| {
            vm::context::GlobalState::new(mc)
        });
        arena.metrics().set_pacing(PACING);
        Vm {
            arena,
            bytes_after_gc: 0,
            gc_busy: false,
            finalizer_fuel: FINALIZER_FUEL,
            finalizer_used: 0,
            closed: false,
        }
    }

    /// Works in the arena. Garbage is collected after `f` returns, as much
    /// as the allocation since the last collection calls for, and pending
    /// finalizers run.
    pub fn enter<R>(&mut self, f: impl for<'gc> FnOnce(Context<'gc>) -> R) -> R {
        let r = self.arena.mutate(|mc, root| f(Context::new(mc, root)));
        self.collect_some();
        r
    }

    fn meter_bytes(&self) -> usize {
        self.arena.mutate(|_, root| root.meter.bytes())
    }

    fn collect_some(&mut self) {
        if self.gc_busy || self.gc_idle() {
            return;
        }
        let (requested, stopped) = self.arena.mutate(|_, root| {
            let c = &root.gc_control;
            (c.requested.replace(GcRequest::None), c.stopped.get())
        });
        match requested {
            GcRequest::Full => return self.collect(),
            GcRequest::StartCycle => self.start_cycle(),
            GcRequest::FinishCycle => self.finish_cycle(),
            GcRequest::None => {
                if !stopped {
                    self.gc_step();
                    if self.meter_bytes() > self.full_collection_bytes() {
                        return self.collect();
                    }
                }
            }
        }
        self.sync_phase();
        self.run_finalizers();
    }

    /// Counted bytes past which `collect_some` does a full collection.
    fn full_collection_bytes(&self) -> usize {
        self.bytes_after_gc * 2 + (4 << 20)
    }

    /// Whether `collect_some` has nothing to do (what it sees after most
    /// entries, checked in one look at the root): nothing requested, no
    /// cycle in progress, no allocation debt or collection stopped, the
    /// counted bytes under the full-collection threshold, no finalizer
    /// pending. `collectgarbage` is then told no cycle is in progress, as
    /// `sync_phase` would.
    fn gc_idle(&self) -> bool {
        use gc_arena::arena::CollectionPhase;
        if self.arena.collection_phase() != CollectionPhase::Sleeping {
            return false;
        }
        self.arena.mutate(|_, root| {
            let c = &root.gc_control;
            let idle = c.requested.get() == GcRequest::None
                && (c.stopped.get()
                    || (self.arena.metrics().allocation_debt() <= 0.0
                        && root.meter.bytes() <= self.full_collection_bytes()))
                && !vm::gc::has_pending(root);
            if idle {
                c.in_cycle.set(false);
            }
            idle
        })
    }

    /// Tells `collectgarbage` whether a cycle is in progress.
    fn sync_phase(&self) {
        let in_cycle = self.arena.collection_phase() != gc_arena::arena::CollectionPhase::Sleeping;
        self.arena
            .mutate(|_, root| root.gc_control.in_cycle.set(in_cycle));
    }

    /// Starts a cycle: marking (all of it) and its finalization.
    fn start_cycle(&mut self) {
        use gc_arena::arena::CollectionPhase;
        match self.arena.collection_phase() {
            CollectionPhase::Sleeping => self.start_atomic_cycle(),
            CollectionPhase::Marking | CollectionPhase::Marked => self.finish_marked(),
            CollectionPhase::Sweeping => {}
        }
    }

    /// Ends the cycle in progress.
    fn finish_cycle(&mut self) {
        use gc_arena::arena::CollectionPhase;
        match self.arena.collection_phase() {
            CollectionPhase::Sleeping => return,
            CollectionPhase::Marking | CollectionPhase::Marked => self.finish_marked(),
            CollectionPhase::Sweeping => {}
        }
        self.arena.finish_cycle();
    }

    /// Pays the allocation debt: sweeping, or marking (all at once while
    /// weak tables exist: their weak parts are weak only during marking).
    fn gc_step(&mut self) {
        use gc_arena::arena::CollectionPhase;
        match self.arena.collection_phase() {
            CollectionPhase::Sweeping => self.arena.cycle_debt(),
            CollectionPhase::Sleeping => {
                if self.arena.metrics().allocation_debt() <= 0.0 {
                    return;
                }
                if self.arena.mutate(|_, root| vm::gc::has_weak(root)) {
                    self.start_atomic_cycle();
                } else if self.arena.mark_debt().is_some() {
                    self.finish_marked();
                }
            }
            CollectionPhase::Marking | CollectionPhase::Marked => {
                if self.arena.mark_debt().is_some() {
                    self.finish_marked();
                }
            }
        }
    }

    /// From `Sleeping`: weak parts aside, a whole marking and its
    /// finalization.
    fn start_atomic_cycle(&mut self) {
        self.arena.mutate(vm::gc::weaken);
        self.finish_marked();
    }

    /// Marks to the end and runs `gc.rs`'s finalization steps, then starts
    /// sweeping.
    fn finish_marked(&mut self) {
        let converge = |arena: &mut Arena<Rootable![vm::context::GlobalState<'_>]>| loop {
            let marked = arena.finish_marking().expect("marking phase");
            if !marked.finalize(vm::gc::converge) {
                break;
            }
        };
        converge(&mut self.arena);
        let separated = self
            .arena
            .finish_marking()
            .expect("marking phase")
            .finalize(|fc, root| {
                vm::gc::clear(fc, root, false);
                vm::gc::separate(fc, root)
            });
        if separated {
            converge(&mut self.arena);
        }
        self.arena
            .finish_marking()
            .expect("marking phase")
            .finalize(|fc, root| {
                vm::gc::clear(fc, root, true);
                vm::gc::restore(fc, root);
            });
        self.arena
            .finish_marking()
            .expect("marking phase")
            .start_sweeping();
    }

    /// A full collection (then the pending finalizers run).
    pub fn collect(&mut self) {
        use gc_arena::arena::CollectionPhase;
        if self.gc_busy {
            return;
        }
        self.gc_busy = true;
        match self.arena.collection_phase() {
            CollectionPhase::Marking | CollectionPhase::Marked => {
                self.finish_marked();
                self.arena.finish_cycle();
            }
            CollectionPhase::Sweeping => self.arena.finish_cycle(),
            CollectionPhase::Sleeping => {}
        }
        self.start_atomic_cycle();
        self.arena.finish_cycle();
        self.arena.mutate(|mc, root| {
            root.interner.borrow_mut(mc).purge(mc);
            root.gc_control.requested.set(GcRequest::None);
            root.gc_control.in_cycle.set(false);
        });
        self.bytes_after_gc = self.meter_bytes();
        self.gc_busy = false;
        self.run_finalizers();
    }

    /// Runs the queued finalizers, newest object first, each in a call of
    /// its own that cannot yield; an error in one becomes the warning
    /// `error in __gc (...)`, as in 5.4.
    fn run_finalizers(&mut self) {
        if self.gc_busy || !self.arena.mutate(|_, root| vm::gc::has_pending(root)) {
            return;
        }
        self.gc_busy = true;
        // This batch's instructions: what the call in progress has left
        // (set by `run`), else `FINALIZER_FUEL`.
        let mut pool = std::mem::replace(&mut self.finalizer_fuel, FINALIZER_FUEL);
        loop {
            let next = self.arena.mutate(|mc, root| {
                let ctx = Context::new(mc, root);
                let (obj, f) = vm::gc::next_finalizer(ctx)?;
                Some(match f {
                    Value::Function(f) => Ok(ctx.stash(Executor::start(ctx, f, obj))),
                    v => Err(format!(
                        "attempt to call a {} value (metamethod '__gc')",
                        meta::type_name_of(ctx, v)
                    )),
                })
            });
            let executor = match next {
                None => break,
                Some(Err(message)) => {
                    self.warn_finalizer(&message);
                    continue;
                }
                Some(Ok(executor)) => executor,
            };
            if let Some(message) = self.run_finalizer(&executor, &mut pool) {
                self.warn_finalizer(&message);
            }
        }
        self.gc_busy = false;
    }

    /// Runs one finalizer to its end; its error message, if any.
    fn run_finalizer(
        &mut self,
        executor: &StashedExecutor,
        pool: &mut u64,
    ) -> Option<std::string::String> {
        loop {
            let fuel = (MINI_SLICE as u64).min(*pool).max(1) as i64;
            let (done, used) = self.arena.mutate(|mc, root| {
                let ctx = Context::new(mc, root);
                root.gc_control.in_finalizer.set(true);
                let ex = ctx.fetch(executor);
                let mut f = Fuel::with(fuel);
                let done = ex.step(ctx, &mut f);
                root.gc_control.in_finalizer.set(false);
                (done, (fuel - f.remaining()).max(0) as u64)
            });
            self.finalizer_used = self.finalizer_used.saturating_add(used);
            *pool = pool.saturating_sub(used.max(1));
            if done {
                break;
            }
            if *pool == 0 {
                self.arena.mutate(|mc, root| {
                    Context::new(mc, root).fetch(executor).stop(mc);
                });
                return Some("instruction budget exceeded".to_string());
            }
        }
        self.arena.mutate(|mc, root| {
            let ctx = Context::new(mc, root);
            let ex = ctx.fetch(executor);
            if ex.mode() == ExecutorMode::Waiting {
                ex.stop(mc);
                return Some("attempt to yield across a C-call boundary".to_string());
            }
            match ex.with_results(|_| ()) {
                Ok(()) => None,
                Err(e) => Some(match e.value() {
                    // A finalizer runs on a main thread of its own; in 5.4
                    // it runs inside the collector, a C call.
                    Value::String(s)
                        if s.as_bytes()
                            .ends_with(b"attempt to yield from outside a coroutine") =>
                    {
                        "attempt to yield across a C-call boundary".to_string()
                    }
                    Value::String(s) => s.to_string(),
                    _ => "error object is not a string".to_string(),
                }),
            }
        })
    }

    fn warn_finalizer(&mut self, message: &str) {
        self.arena
            .mutate(|mc, root| Context::new(mc, root).warn(format!("error in __gc ({message})")));
    }

    /// Closes the VM as `lua_close` does: the queued finalizers run, then
    /// those of every table still marked for finalization, newest first.
    /// Later finalizers are not run. Dropping the VM closes it.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.run_finalizers();
        self.arena.mutate(vm::gc::separate_all);
        self.run_finalizers();
    }

    /// Bytes the VM uses, as the memory budget counts them.
    pub fn memory(&self) -> usize {
        self.arena
            .mutate(|mc, root| Context::new(mc, root).memory())
    }

    /// Warnings recorded since the last call (`warn`, failed finalizers).
    pub fn take_warnings(&mut self) -> Vec<std::string::String> {
        self.arena
            .mutate(|mc, root| Context::new(mc, root).take_warnings())
    }

    /// Starts a call of `f` with `args` under `budget`.
    pub fn start<A>(&mut self, f: &StashedFunction, args: A, budget: Budget) -> Call
    where
        A: for<'gc> IntoValues<'gc>,
    {
        let executor = self.enter(|ctx| {
            let f = ctx.fetch(f);
            ctx.stash(Executor::start(ctx, f, args))
        });
        Call {
            executor,
            budget,
            instructions: 0,
            time: Duration::ZERO,
        }
    }

    /// Starts a call of `f` with `args` under `budget` on the executor of
    /// `call`, a call that has ended (its last outcome was not
    /// `Suspended`): its main thread and stacks are reused, so starting
    /// allocates nothing, and no executor is left for the collector. What
    /// `call` left behind is cleared as [`Executor::stop`] does (the
    /// frames of a callback it waited in, coroutines it was resuming, open
    /// upvalues, which are closed), and a hook set on its thread is
    /// removed: the new call starts as on a new executor, except that
    /// `coroutine.running()` is the same thread object.
    pub fn restart<A>(&mut self, call: &mut Call, f: &StashedFunction, args: A, budget: Budget)
    where
        A: for<'gc> IntoValues<'gc>,
    {
        // Starting allocates nothing the collector must see at once: its
        // share of the work is done after the call's first slice.
        self.arena.mutate(|mc, root| {
            let ctx = Context::new(mc, root);
            let ex = ctx.fetch(&call.executor);
            // `Executor::restart` clears what a call on the main thread
            // alone left (its frames, stack, open upvalues); coroutines it
            // was resuming are closed as `stop` closes them.
            if ex.0.borrow().chain.len() > 1 {
                ex.stop(&ctx);
            }
            ex.restart(ctx, ctx.fetch(f), args);
            let mut t = ex.main_thread().0.borrow_mut(&ctx);
            t.hook = None;
            // A call that went deep leaves large stacks behind: later calls
            // do not keep them.
            if t.stack.capacity() > REUSED_STACK {
                t.stack.shrink_to(REUSED_STACK);
            }
            if t.frames.capacity() > REUSED_FRAMES {
                t.frames.shrink_to(REUSED_FRAMES);
            }
        });
        call.budget = budget;
        call.instructions = 0;
        call.time = Duration::ZERO;
    }

    /// Runs `call` for at most one slice of its budget.
    pub fn run(&mut self, call: &mut Call) -> Outcome {
        let mut slice_left = call.budget.slice;
        loop {
            let fuel = (MINI_SLICE as u64)
                .min(slice_left)
                .min(call.budget.instructions.saturating_sub(call.instructions))
                .max(1) as i64;
            let started = Instant::now();
            // Finalizers that run after this step are charged to the call.
            self.finalizer_fuel = call
                .budget
                .instructions
                .saturating_sub(call.instructions)
                .clamp(1, FINALIZER_FUEL);
            self.finalizer_used = 0;
            // A finished call's outcome is read in the same entry (the
            // collector and finalizers that run after it leave the
            // executor's results alone).
            let (outcome, used) = self.enter(|ctx| {
                let ex = ctx.fetch(&call.executor);
                let mut f = Fuel::with(fuel);
                let outcome = ex.step(ctx, &mut f).then(|| Self::outcome(ctx, ex));
                (outcome, (fuel - f.remaining()).max(0) as u64)
            });
            self.finalizer_fuel = FINALIZER_FUEL;
            call.time += started.elapsed();
            call.instructions = call
                .instructions
                .saturating_add(used)
                .saturating_add(self.finalizer_used);
            slice_left = slice_left.saturating_sub(used.max(1));
            if let Some(outcome) = outcome {
                return outcome;
            }
            let over = if call.instructions >= call.budget.instructions {
                Some("instruction budget exceeded")
            } else if call.time >= call.budget.time {
                Some("time budget exceeded")
            } else if self.memory() > call.budget.memory {
                self.collect();
                (self.memory() > call.budget.memory).then_some("not enough memory")
            } else {
                None
            };
            if let Some(message) = over {
                self.enter(|ctx| ctx.fetch(&call.executor).stop(&ctx));
                self.collect();
                return Outcome::Error(message.to_string());
            }
            if slice_left == 0 {
                return Outcome::Suspended;
            }
        }
    }

    /// How the call on `ex`, whose step has ended, ended.
    fn outcome<'gc>(ctx: Context<'gc>, ex: Executor<'gc>) -> Outcome {
        match ex.mode() {
            ExecutorMode::Waiting => Outcome::Waiting,
            // (A loop: `collect` of an empty iterator took ~90
            // instructions, and most calls return nothing.)
            _ => match ex.with_results(|vs| {
                let mut stashed = Vec::with_capacity(vs.len());
                for &v in vs {
                    stashed.push(ctx.stash(v));
                }
                stashed
            }) {
                Ok(values) => Outcome::Finished(values),
                Err(e) => Outcome::Error(e.to_string()),
            },
        }
    }

    /// Gives up a `Waiting` call that will not be resumed (the host
    /// answered without it: an exit). Coroutines it was running are dead
    /// from now on, as [`Executor::stop`] leaves them, so another call that
    /// kept one finds it dead rather than forever running. (Restarting the
    /// call's executor does the same; this is for the calls in between.)
    pub fn abandon(&mut self, call: &Call) {
        self.arena.mutate(|mc, root| {
            let ex = Context::new(mc, root).fetch(&call.executor);
            if ex.0.borrow().chain.len() > 1 {
                ex.stop(mc);
            }
        });
    }

    /// Delivers `values` to the callback a `Waiting` call waits on.
    pub fn resume<A>(&mut self, call: &mut Call, values: A) -> Result<(), ExecutorMode>
    where
        A: for<'gc> IntoValues<'gc>,
    {
        self.enter(|ctx| ctx.fetch(&call.executor).resume(ctx, values))
    }

    /// Makes the callback a `Waiting` call waits on fail with `message`.
    pub fn resume_error(&mut self, call: &mut Call, message: &str) -> Result<(), ExecutorMode> {
        self.enter(|ctx| {
            let e = Error::from_value(Value::String(ctx.intern(message.as_bytes())));
            ctx.fetch(&call.executor).resume_error(ctx, e)
        })
    }
}
