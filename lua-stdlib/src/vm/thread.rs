//! Threads (Lua coroutines) and the executor that runs them.
//!
//! A thread owns one value stack and a stack of frames: Lua frames (a
//! closure, its register base and pc) and sequence frames (a callback's
//! continuation waiting for the results of what it asked for). Calls push
//! frames instead of recursing in Rust, so the executor can stop between
//! any two instructions — out of fuel, waiting for the host — and resume
//! later, and so can a coroutine.
//!
//! The [`Executor`] runs a chain of threads: the one the host started, and
//! above it each coroutine resumed from the one below.

use gc_arena::{lock::RefLock, Collect, Gc, Mutation};

use super::callback::{BoxSequence, Fuel};
use super::closure::{Closure, UpVal};
use super::context::Context;
use super::error::Error;
use super::value::{Function, Value};

/// The largest number of stack slots a thread may use (`LUAI_MAXSTACK`).
pub const MAX_STACK: usize = 1_000_000;

/// Where a call's results go and how many the caller wants.
#[derive(Debug, Copy, Clone, Collect)]
#[collect(require_static)]
pub(crate) struct Ret {
    /// Stack index of the first result.
    pub func: usize,
    /// Results wanted; -1: all of them.
    pub nresults: i32,
    /// A metamethod call made by an instruction: the caller finishes that
    /// instruction with the first result (`luaV_finishOp`).
    pub meta: bool,
    /// Made by a tail call: `debug.getinfo(...).istailcall` and
    /// `(...tail calls...)` in tracebacks; a tail call keeps `depth`.
    pub tail: bool,
    /// Nested C calls (lua5.4's `nCcalls`, counted from the thread's
    /// start) the called function runs under; set when its frame is
    /// pushed (see `Machine::call_depth`).
    pub depth: u16,
}

impl Ret {
    /// Results to `func`, `nresults` of them (-1: all).
    #[inline]
    pub const fn new(func: usize, nresults: i32) -> Ret {
        Ret {
            func,
            nresults,
            meta: false,
            tail: false,
            depth: 0,
        }
    }
}

#[derive(Collect)]
#[collect(no_drop)]
pub(crate) struct LuaFrame<'gc> {
    pub closure: Closure<'gc>,
    /// Stack index of register 0.
    pub base: usize,
    /// Index of the next instruction.
    pub pc: usize,
    /// End of the values produced by the last multi-result instruction, or
    /// of the pending operands of a `CONCAT` in progress.
    pub top: usize,
    /// Number of extra arguments (below the function's copy) for `...`.
    pub nvarargs: usize,
    pub ret: Ret,
}

impl<'gc> LuaFrame<'gc> {
    /// The line of the instruction being executed; -1 for a function
    /// without line information (a stripped dump), as lua5.4 shows it.
    pub fn current_line(&self) -> i64 {
        let lines = &self.closure.proto().lines;
        lines
            .get(self.pc.saturating_sub(1))
            .or(lines.last())
            .map_or(-1, |&l| i64::from(l))
    }
}

#[derive(Collect)]
#[collect(no_drop)]
pub(crate) enum Frame<'gc> {
    Lua(LuaFrame<'gc>),
    /// A callback's continuation; its stack window starts at `base`.
    Sequence {
        seq: BoxSequence<'gc>,
        base: usize,
        ret: Ret,
    },
    /// A callback without continuation that yielded or waits: the values it
    /// is resumed with become its results.
    Await {
        ret: Ret,
    },
}

/// A coroutine's state as `coroutine.status` reports it.
#[derive(Debug, Copy, Clone, PartialEq, Eq, Collect)]
#[collect(require_static)]
pub enum ThreadMode {
    /// Holds a function not yet started.
    Fresh,
    /// Yielded (or never given a function): can be resumed.
    Suspended,
    /// Running (the top of an executor's chain).
    Running,
    /// Resumed another coroutine and waits for it.
    Normal,
    /// Finished or died by an error.
    Dead,
}

/// What the executor hands a thread when it continues it.
#[derive(Collect)]
#[collect(no_drop)]
pub(crate) enum Incoming<'gc> {
    None,
    /// The top `n` stack values are the values it is resumed with.
    Values(usize),
    /// What it waited for failed.
    Error(Error<'gc>),
}

#[derive(Collect)]
#[collect(no_drop)]
pub struct ThreadState<'gc> {
    pub(crate) stack: Vec<Value<'gc>>,
    pub(crate) frames: Vec<Frame<'gc>>,
    /// Open upvalues, by ascending stack index.
    pub(crate) open_upvals: Vec<(usize, UpVal<'gc>)>,
    /// Stack indices of live to-be-closed variables, ascending.
    pub(crate) tbc: Vec<usize>,
    pub(crate) mode: ThreadMode,
    pub(crate) incoming: Incoming<'gc>,
    /// The error a dead coroutine died with (for `coroutine.close`).
    pub(crate) death: Option<Error<'gc>>,
    /// C calls of the threads below it when it was last resumed (its
    /// frames' `Ret::depth` counts from here).
    pub(crate) c_base: u16,
    /// A stack overflow is being handled: the stack may use
    /// [`ERROR_STACK_EXTRA`] more slots, and overflowing those is "error in
    /// error handling" (lua5.4's `ERRORSTACKSIZE`).
    pub(crate) overflow: bool,
    /// `debug.sethook`'s hook on this thread.
    pub(crate) hook: Option<Box<HookState<'gc>>>,
}

/// Hook events (`LUA_MASK*`).
pub(crate) const HOOK_CALL: u8 = 1;
pub(crate) const HOOK_RET: u8 = 2;
pub(crate) const HOOK_LINE: u8 = 4;
pub(crate) const HOOK_COUNT: u8 = 8;

/// A thread's hook (`L->hook`, `hookmask`, `basehookcount`, `hookcount`,
/// `oldpc`) and where it is in calling it.
#[derive(Collect)]
#[collect(no_drop)]
pub(crate) struct HookState<'gc> {
    /// The hook function; nil for a hook a new coroutine inherited (its
    /// mask and count show in `debug.gethook`, but ldblib's `hookf` finds
    /// no function for the new thread, so nothing is called).
    pub func: Value<'gc>,
    pub mask: u8,
    pub count: u32,
    /// Instructions left before the count hook.
    pub left: u32,
    /// The hook is running (hooks do not fire inside it).
    pub in_hook: bool,
    /// The next trace of the top Lua frame only finishes what the last
    /// one started (the instruction it stopped before runs now).
    pub skip_trace: bool,
    /// The line event is still due after the count hook of this pc.
    pub line_pending: bool,
    /// The next return of the top Lua frame already called its hook.
    pub skip_return: bool,
    /// The next call of a callback already called its hook.
    pub skip_call: bool,
    /// The pc of the last line traced (`L->oldpc`).
    pub oldpc: usize,
    /// While the hook runs, the hooked Lua frame's pc is one past the
    /// instruction it stopped before or at (lua5.4's `savedpc`, so the
    /// hook sees that instruction's line): back one when it is done.
    pub rewind: bool,
}

impl ThreadState<'_> {
    /// A hook is on: Lua frames run the hooked copy of the instruction
    /// loop, which checks line and count hooks before each instruction
    /// and sends every return through the return hook (the unhooked
    /// loop's fast returns skip it). Inside the hook, a count hook still
    /// counts instructions (lua5.4 counts the hook's own; one that runs
    /// out there is skipped).
    #[inline]
    pub(crate) fn traced(&self) -> bool {
        match &self.hook {
            None => false,
            Some(h) => (!h.in_hook || h.mask & HOOK_COUNT != 0) && h.mask != 0 && !h.func.is_nil(),
        }
    }

    /// The hook for `event`, when it is to be called now.
    #[inline]
    pub(crate) fn hook_for(&self, event: u8) -> bool {
        match &self.hook {
            None => false,
            Some(h) => !h.in_hook && h.mask & event != 0 && !h.func.is_nil(),
        }
    }
}

/// Slots a thread may use past [`MAX_STACK`] while it handles a stack
/// overflow (a message handler's room).
pub const ERROR_STACK_EXTRA: usize = 200;

/// A Lua thread (coroutine).
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub struct Thread<'gc>(pub(crate) Gc<'gc, RefLock<ThreadState<'gc>>>);

impl<'gc> Thread<'gc> {
    pub fn new(mc: &Mutation<'gc>) -> Thread<'gc> {
        Thread(Gc::new(
            mc,
            RefLock::new(ThreadState {
                stack: Vec::new(),
                frames: Vec::new(),
                open_upvals: Vec::new(),
                tbc: Vec::new(),
                mode: ThreadMode::Suspended,
                incoming: Incoming::None,
                death: None,
                c_base: 0,
                overflow: false,
                hook: None,
            }),
        ))
    }

    /// A coroutine that will run `f` when first resumed.
    pub fn with_function(mc: &Mutation<'gc>, f: Function<'gc>) -> Thread<'gc> {
        let t = Thread::new(mc);
        t.start_function(mc, f);
        t
    }

    fn start_function(self, mc: &Mutation<'gc>, f: Function<'gc>) {
        let mut s = self.0.borrow_mut(mc);
        s.stack.clear();
        s.frames.clear();
        s.open_upvals.clear();
        s.tbc.clear();
        s.stack.push(Value::Function(f));
        s.mode = ThreadMode::Fresh;
        s.incoming = Incoming::None;
        s.death = None;
        s.overflow = false;
    }

    #[inline]
    pub fn ptr_eq(self, other: Thread<'gc>) -> bool {
        Gc::ptr_eq(self.0, other.0)
    }

    pub fn as_ptr(self) -> *const () {
        Gc::as_ptr(self.0) as *const ()
    }

    /// The thread's mode; a thread borrowed by the running executor is
    /// running.
    pub fn mode(self) -> ThreadMode {
        match self.0.try_borrow() {
            Ok(s) => s.mode,
            Err(_) => ThreadMode::Running,
        }
    }

    /// The error a dead coroutine died with, if any.
    pub fn death(self) -> Option<Error<'gc>> {
        self.0.try_borrow().ok().and_then(|s| s.death)
    }

    /// Closes a suspended or dead coroutine: drops its frames, closes its
    /// upvalues and forgets the error it died with. Its pending
    /// to-be-closed variables are not run here: `coroutine.close` runs
    /// them (see [`Thread::take_pending_close`]).
    pub fn close(self, mc: &Mutation<'gc>) -> Result<(), ThreadMode> {
        self.take_pending_close(mc).map(drop)
    }

    /// [`Thread::close`], answering the values of the to-be-closed
    /// variables still pending, innermost first (`lua_closethread` calls
    /// their `__close` on the coroutine after this reset).
    pub(crate) fn take_pending_close(
        self,
        mc: &Mutation<'gc>,
    ) -> Result<Vec<Value<'gc>>, ThreadMode> {
        let mut s = self.0.try_borrow_mut(mc).map_err(|_| ThreadMode::Running)?;
        match s.mode {
            ThreadMode::Suspended | ThreadMode::Fresh | ThreadMode::Dead => {
                let pending = s
                    .tbc
                    .iter()
                    .rev()
                    .map(|&i| s.stack.get(i).copied().unwrap_or(Value::Nil))
                    .collect();
                kill(mc, self, &mut s);
                Ok(pending)
            }
            m => Err(m),
        }
    }

    /// Ends a coroutine an abandoned call was running or waiting in
    /// ([`Executor::stop`]): dead, as after an error, whatever its mode,
    /// its open upvalues closed and its pending to-be-closed variables
    /// dropped (as `stop` drops the main thread's).
    fn abandon(self, mc: &Mutation<'gc>) {
        kill(mc, self, &mut self.0.borrow_mut(mc));
    }

    /// Makes a closed coroutine run `f` when resumed (`coroutine.close`
    /// runs the pending `__close` metamethods on the coroutine itself).
    pub(crate) fn restart_with(self, mc: &Mutation<'gc>, f: Function<'gc>) {
        self.start_function(mc, f);
    }

    /// `debug.traceback(co)` of a suspended coroutine, from `level` (0: its
    /// innermost level; a running one is
    /// described by its `Execution`).
    pub fn traceback(
        self,
        ctx: Context<'gc>,
        msg: Option<&str>,
        level: usize,
    ) -> std::string::String {
        match self.0.try_borrow() {
            Ok(s) => super::debug::traceback(ctx, &s.frames, &s.stack, false, msg, level),
            Err(_) => String::new(),
        }
    }

    /// Stack depth info for `debug.traceback`: the (chunk, line, function
    /// name) of each Lua frame, innermost first.
    pub fn traceback_frames(self) -> Vec<(String, i64)> {
        match self.0.try_borrow() {
            Ok(s) => s
                .frames
                .iter()
                .rev()
                .filter_map(|f| match f {
                    Frame::Lua(l) => Some((l.closure.proto().source.to_string(), l.current_line())),
                    _ => None,
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

impl std::fmt::Debug for Thread<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "thread: {:p}", self.as_ptr())
    }
}

/// Closes the open upvalues of `thread` at stack index `level` and above.
/// Leaves `st` dead and empty, its open upvalues closed.
fn kill<'gc>(mc: &Mutation<'gc>, thread: Thread<'gc>, st: &mut ThreadState<'gc>) {
    close_upvalues(mc, thread, st, 0);
    st.frames.clear();
    st.stack.clear();
    st.tbc.clear();
    st.incoming = Incoming::None;
    st.death = None;
    st.mode = ThreadMode::Dead;
}

pub(crate) fn close_upvalues<'gc>(
    mc: &Mutation<'gc>,
    _thread: Thread<'gc>,
    st: &mut ThreadState<'gc>,
    level: usize,
) {
    while let Some(&(idx, up)) = st.open_upvals.last() {
        if idx < level {
            break;
        }
        let v = st.stack.get(idx).copied().unwrap_or(Value::Nil);
        up.unlock(mc).set(super::closure::UpvalState::Closed(v));
        st.open_upvals.pop();
    }
}

/// The executor's state between steps.
#[derive(Debug, Copy, Clone, PartialEq, Eq, Collect)]
#[collect(require_static)]
pub enum ExecutorMode {
    /// Has work to do: `step` it.
    Running,
    /// A callback is waiting for the host: `resume` it with values.
    Waiting,
    /// Finished: take the result.
    Finished,
}

#[derive(Collect)]
#[collect(no_drop)]
pub struct ExecutorState<'gc> {
    pub(crate) chain: Vec<Thread<'gc>>,
    pub(crate) mode: ExecutorMode,
    pub(crate) result: Result<(), Error<'gc>>,
}

/// Runs Lua for the host: a main thread and the coroutines it resumes.
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub struct Executor<'gc>(pub(crate) Gc<'gc, RefLock<ExecutorState<'gc>>>);

/// What one executor step ended with.
pub(crate) enum Stop<'gc> {
    /// Out of fuel, interrupted, or a sequence is pending.
    Paused,
    /// The bottom frame returned; results are the thread's stack from `at`.
    Finished {
        at: usize,
    },
    Error(Error<'gc>),
    /// Yield the stack values from `from`.
    Yield {
        from: usize,
    },
    /// Resume `thread` with the stack values from `from`.
    Resume {
        thread: Thread<'gc>,
        from: usize,
    },
    /// Wait for the host.
    Wait,
}

impl<'gc> Executor<'gc> {
    /// An executor with an empty main thread.
    pub fn new(ctx: Context<'gc>) -> Executor<'gc> {
        let main = Thread::new(&ctx);
        Executor(Gc::new(
            &ctx,
            RefLock::new(ExecutorState {
                chain: vec![main],
                mode: ExecutorMode::Finished,
                result: Ok(()),
            }),
        ))
    }

    /// An executor ready to call `f` with `args`.
    pub fn start(
        ctx: Context<'gc>,
        f: Function<'gc>,
        args: impl super::callback::IntoValues<'gc>,
    ) -> Executor<'gc> {
        let ex = Executor::new(ctx);
        ex.restart(ctx, f, args);
        ex
    }

    pub fn mode(self) -> ExecutorMode {
        self.0.borrow().mode
    }

    pub fn main_thread(self) -> Thread<'gc> {
        self.0.borrow().chain[0]
    }

    /// Drops whatever was running and prepares a call of `f` with `args`.
    pub fn restart(
        self,
        ctx: Context<'gc>,
        f: Function<'gc>,
        args: impl super::callback::IntoValues<'gc>,
    ) {
        let mut s = self.0.borrow_mut(&ctx);
        s.chain.truncate(1);
        let main = s.chain[0];
        {
            let mut t = main.0.borrow_mut(&ctx);
            if !t.open_upvals.is_empty() {
                close_upvalues(&ctx, main, &mut t, 0);
            }
            t.frames.clear();
            t.tbc.clear();
            t.stack.clear();
            t.stack.push(Value::Function(f));
            let before = t.stack.len();
            args.push_into(ctx, &mut t.stack);
            let n = t.stack.len() - before;
            t.mode = ThreadMode::Fresh;
            t.incoming = Incoming::Values(n);
            t.death = None;
            t.c_base = 0;
            t.overflow = false;
        }
        s.mode = ExecutorMode::Running;
        s.result = Ok(());
    }

    /// Abandons the running call (the VM stays usable; the memory it used
    /// becomes garbage). Coroutines it was running (resumed and not yet
    /// returned or yielded) are dead from now on, as if an error had
    /// ended them: a function that kept one sees `coroutine.status` say
    /// `dead`, and resuming it fails as resuming a dead coroutine does.
    pub fn stop(self, mc: &Mutation<'gc>) {
        let mut s = self.0.borrow_mut(mc);
        for t in s.chain.drain(1..) {
            t.abandon(mc);
        }
        let main = s.chain[0];
        let mut t = main.0.borrow_mut(mc);
        close_upvalues(mc, main, &mut t, 0);
        t.frames.clear();
        t.stack.clear();
        t.tbc.clear();
        t.mode = ThreadMode::Suspended;
        t.incoming = Incoming::None;
        s.mode = ExecutorMode::Finished;
        s.result = Ok(());
    }

    /// Runs until finished, out of fuel, or waiting for the host. Returns
    /// `true` when there is nothing more to run (finished or waiting).
    pub fn step(self, ctx: Context<'gc>, fuel: &mut Fuel) -> bool {
        super::interp::step(ctx, self, fuel)
    }

    /// Delivers `values` to the callback that made the executor wait.
    pub fn resume(
        self,
        ctx: Context<'gc>,
        values: impl super::callback::IntoValues<'gc>,
    ) -> Result<(), ExecutorMode> {
        let mut s = self.0.borrow_mut(&ctx);
        if s.mode != ExecutorMode::Waiting {
            return Err(s.mode);
        }
        let top = *s.chain.last().expect("chain never empty");
        let mut t = top.0.borrow_mut(&ctx);
        let before = t.stack.len();
        values.push_into(ctx, &mut t.stack);
        let n = t.stack.len() - before;
        t.incoming = Incoming::Values(n);
        t.mode = ThreadMode::Running;
        s.mode = ExecutorMode::Running;
        Ok(())
    }

    /// Makes the waiting callback fail with `error` instead.
    pub fn resume_error(self, ctx: Context<'gc>, error: Error<'gc>) -> Result<(), ExecutorMode> {
        let mut s = self.0.borrow_mut(&ctx);
        if s.mode != ExecutorMode::Waiting {
            return Err(s.mode);
        }
        let top = *s.chain.last().expect("chain never empty");
        let mut t = top.0.borrow_mut(&ctx);
        t.incoming = Incoming::Error(error);
        t.mode = ThreadMode::Running;
        s.mode = ExecutorMode::Running;
        Ok(())
    }

    /// The finished call's results converted to `T`, or its error.
    pub fn take_result<T: super::conv::FromValues<'gc>>(
        self,
        ctx: Context<'gc>,
    ) -> Result<T, Error<'gc>> {
        let s = self.0.borrow();
        match s.mode {
            ExecutorMode::Finished => {}
            _ => {
                return Err(Error::from_value(Value::String(
                    ctx.intern(b"the executor has not finished"),
                )))
            }
        }
        s.result?;
        let main = s.chain[0];
        let t = main.0.borrow();
        T::from_values(ctx, &t.stack)
    }

    /// The finished call's results as a slice, for the host to read.
    pub fn with_results<R>(self, f: impl FnOnce(&[Value<'gc>]) -> R) -> Result<R, Error<'gc>> {
        let s = self.0.borrow();
        s.result?;
        let t = s.chain[0].0.borrow();
        Ok(f(&t.stack))
    }
}
