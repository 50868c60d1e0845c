//! Rust functions callable from Lua, and what they can ask of the VM.
//!
//! A callback gets its arguments on a [`Stack`] (a window on the running
//! thread's value stack) and answers with a [`CallbackReturn`]: return the
//! values now on the stack, call a function and continue in a
//! [`Sequence`] with its results, yield the running coroutine, resume
//! another, or suspend the whole executor until the host resumes it with
//! values. Nothing here recurses on the Rust stack: the executor runs
//! every continuation from its loop, so a deep chain of callbacks and Lua
//! functions costs heap, not Rust stack, and any of it can yield.

use gc_arena::{
    collect::{dyn_collect, DynCollect},
    lock::Lock,
    Collect, Gc, Mutation,
};

use super::context::Context;
use super::error::Error;
use super::thread::{Executor, Frame, Thread};
use super::value::{Function, Value};

/// Instruction budget of one step. Every VM instruction costs 1; library
/// functions charge for the work they do (bytes copied, comparisons …).
#[derive(Debug, Clone)]
pub struct Fuel {
    remaining: i64,
    interrupted: bool,
}

impl Fuel {
    pub fn with(fuel: i64) -> Fuel {
        Fuel {
            remaining: fuel,
            interrupted: false,
        }
    }

    pub fn remaining(&self) -> i64 {
        self.remaining
    }

    pub fn consume(&mut self, amount: i64) {
        self.remaining = self.remaining.saturating_sub(amount);
    }

    pub(crate) fn set_remaining(&mut self, r: i64) {
        self.remaining = r;
    }

    /// Ends the step at the next opportunity, whatever fuel is left.
    pub fn interrupt(&mut self) {
        self.interrupted = true;
    }

    pub fn is_interrupted(&self) -> bool {
        self.interrupted
    }

    /// Whether the step should end (out of fuel or interrupted).
    #[inline]
    pub fn should_stop(&self) -> bool {
        self.remaining <= 0 || self.interrupted
    }

    pub(crate) fn clear_interrupt(&mut self) {
        self.interrupted = false;
    }
}

/// What a callback asks the executor to do once it returns.
#[derive(Collect)]
#[collect(no_drop)]
pub enum CallbackReturn<'gc> {
    /// Return the values on the stack to the caller.
    Return,
    /// Continue in this sequence (polled at once with the stack unchanged).
    Sequence(BoxSequence<'gc>),
    /// Call `function` with the stack as arguments; then continue in `then`
    /// with its results, or (no `then`) return its results as our own.
    Call {
        function: Function<'gc>,
        then: Option<BoxSequence<'gc>>,
    },
    /// Yield the stack's values from the running coroutine; when resumed,
    /// continue in `then` with the resume values (or return them).
    Yield {
        to_thread: Option<Thread<'gc>>,
        then: Option<BoxSequence<'gc>>,
    },
    /// Resume `thread` with the stack's values; continue in `then` with
    /// what it yields or returns (or return those values).
    Resume {
        thread: Thread<'gc>,
        then: Option<BoxSequence<'gc>>,
    },
    /// Suspend the executor until the host resumes it (`Executor::resume`)
    /// with values: they go to `then`, or become this callback's results.
    /// This is what non-blocking host work (`ngx.sleep`, HTTP) stands on.
    Wait { then: Option<BoxSequence<'gc>> },
}

/// What a sequence asks for after a poll.
pub enum SequencePoll<'gc> {
    /// Poll again at the next step, with the stack unchanged.
    Pending,
    /// Finished: return the values on the stack.
    Return,
    /// Call `function` with the stack as arguments. `is_tail`: the results
    /// are returned directly; else `poll` gets them (or `error` the error).
    Call {
        function: Function<'gc>,
        is_tail: bool,
    },
    Yield {
        to_thread: Option<Thread<'gc>>,
        is_tail: bool,
    },
    Resume {
        thread: Thread<'gc>,
        is_tail: bool,
    },
    /// As [`CallbackReturn::Wait`].
    Wait {
        is_tail: bool,
    },
}

/// A continuation of a callback, run by the executor.
pub trait Sequence<'gc>: DynCollect<'gc> {
    /// Called first with the stack the callback left, then with the results
    /// of each `Call`, `Resume`, `Yield` or `Wait` it asked for.
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        exec: Execution<'gc, '_>,
        stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>>;

    /// Called instead of `poll` when what it asked for raised an error; the
    /// stack is empty. The default passes the error on.
    fn error(
        &mut self,
        _ctx: Context<'gc>,
        _exec: Execution<'gc, '_>,
        error: Error<'gc>,
        _stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        Err(error)
    }

    /// Whether this sequence is a protected call (`pcall`, `xpcall`): the
    /// innermost one decides whether a message handler runs, at the point
    /// of the error, before the stack unwinds.
    fn handler(&self) -> Handler<'gc> {
        Handler::None
    }

    /// How tracebacks show this continuation's callback: `Some("pcall")`
    /// → `[C]: in function 'pcall'`, `None` → `[C]: in ?`, `Some("")` →
    /// not shown (VM-internal continuations).
    fn traceback_name(&self) -> Option<&'static str> {
        None
    }

    /// A VM-internal continuation that stands for a Rust function still
    /// on the stack (the callback whose error a message handler is
    /// handling): debug levels show it as that function.
    #[doc(hidden)]
    fn culprit(&self) -> Option<Function<'gc>> {
        None
    }

    /// A VM-internal continuation waiting for a hook function: the
    /// function it calls is named `hook '?'`, and the hook is on again
    /// when it is done.
    #[doc(hidden)]
    fn hook_marker(&self) -> bool {
        false
    }

    /// A VM-internal continuation running a `__close` while an error
    /// unwinds: the frames between it and the protected call that will
    /// catch the error are already gone for lua5.4 (its debug levels skip
    /// them).
    #[doc(hidden)]
    fn unwinding(&self) -> bool {
        false
    }

    /// Whether a coroutine may yield while this continuation waits for the
    /// function it called. lua5.4 lets a yield cross only continuations
    /// made with `lua_callk`/`lua_pcallk` (`pcall`, `xpcall`, `dofile`,
    /// `__pairs`); a library function that calls Lua the way `lua_call`
    /// does (a `table.sort` comparator, a `gsub` replacement, `__index`
    /// reached through `lua_geti`, `__tostring` from `tostring`, a message
    /// handler, a finalizer) answers `false`, and a yield below it raises
    /// `attempt to yield across a C-call boundary`.
    fn yieldable(&self) -> bool {
        true
    }
}

/// What a sequence does with errors, as the VM needs to know before
/// unwinding (see [`Sequence::handler`]).
pub enum Handler<'gc> {
    /// Not a protected call.
    None,
    /// A protected call without message handler (`pcall`).
    Catch,
    /// A protected call whose handler gets the error first (`xpcall`).
    CatchWith(Function<'gc>),
}

dyn_collect!(dyn Sequence<'gc> + 'gc);

/// A boxed sequence.
#[derive(Collect)]
#[collect(no_drop)]
pub struct BoxSequence<'gc>(pub(crate) Box<dyn Sequence<'gc> + 'gc>);

impl<'gc> BoxSequence<'gc> {
    pub fn new(_mc: &Mutation<'gc>, seq: impl Sequence<'gc> + 'gc) -> Self {
        BoxSequence(Box::new(seq))
    }
}

/// The body of a callback.
pub trait CallbackFn<'gc>: DynCollect<'gc> {
    fn call(
        &self,
        ctx: Context<'gc>,
        exec: Execution<'gc, '_>,
        stack: Stack<'gc, '_>,
    ) -> Result<CallbackReturn<'gc>, Error<'gc>>;
}

dyn_collect!(dyn CallbackFn<'gc> + 'gc);

/// A Rust function as a Lua value.
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub struct Callback<'gc>(pub(crate) Gc<'gc, CallbackBox<'gc>>);

#[derive(Collect)]
#[collect(no_drop)]
pub struct CallbackBox<'gc> {
    f: Box<dyn CallbackFn<'gc> + 'gc>,
    /// The upvalues lua5.4's C closure for this function has (a `gmatch`
    /// iterator's subject, pattern and state), as `debug.getupvalue`,
    /// `setupvalue`, `upvalueid` and `getinfo(f, "u").nups` see them; the
    /// function itself keeps what it works with.
    upvalues: Box<[Lock<Value<'gc>>]>,
}

#[derive(Collect)]
#[collect(no_drop)]
struct RootCallback<R, F> {
    root: R,
    #[collect(require_static)]
    call: F,
}

impl<'gc, R, F> CallbackFn<'gc> for RootCallback<R, F>
where
    R: Collect<'gc> + 'gc,
    F: 'static
        + Fn(
            &R,
            Context<'gc>,
            Execution<'gc, '_>,
            Stack<'gc, '_>,
        ) -> Result<CallbackReturn<'gc>, Error<'gc>>,
{
    fn call(
        &self,
        ctx: Context<'gc>,
        exec: Execution<'gc, '_>,
        stack: Stack<'gc, '_>,
    ) -> Result<CallbackReturn<'gc>, Error<'gc>> {
        (self.call)(&self.root, ctx, exec, stack)
    }
}

impl<'gc> Callback<'gc> {
    pub fn new(mc: &Mutation<'gc>, f: impl CallbackFn<'gc> + 'gc) -> Callback<'gc> {
        Callback(Gc::new(
            mc,
            CallbackBox {
                f: Box::new(f),
                upvalues: Box::default(),
            },
        ))
    }

    /// Its upvalues as the debug library sees them (none for most).
    pub fn upvalues(self) -> &'gc [Lock<Value<'gc>>] {
        &Gc::as_ref(self.0).upvalues
    }

    /// Sets upvalue `i` (`debug.setupvalue`); out of range: nothing.
    pub fn set_upvalue(self, mc: &Mutation<'gc>, i: usize, v: Value<'gc>) {
        if i >= self.upvalues().len() {
            return;
        }
        let w = Gc::write(mc, self.0);
        gc_arena::barrier::field!(w, CallbackBox, upvalues).as_deref()[i]
            .unlock()
            .set(v);
    }

    /// A callback from a closure that holds no arena pointers.
    pub fn from_fn<F>(mc: &Mutation<'gc>, call: F) -> Callback<'gc>
    where
        F: 'static
            + Fn(
                Context<'gc>,
                Execution<'gc, '_>,
                Stack<'gc, '_>,
            ) -> Result<CallbackReturn<'gc>, Error<'gc>>,
    {
        Callback::from_fn_with(mc, (), move |_, ctx, exec, stack| call(ctx, exec, stack))
    }

    /// A callback from a closure and a value `root` it may use (traced).
    pub fn from_fn_with<R, F>(mc: &Mutation<'gc>, root: R, call: F) -> Callback<'gc>
    where
        R: Collect<'gc> + 'gc,
        F: 'static
            + Fn(
                &R,
                Context<'gc>,
                Execution<'gc, '_>,
                Stack<'gc, '_>,
            ) -> Result<CallbackReturn<'gc>, Error<'gc>>,
    {
        Callback::new(mc, RootCallback { root, call })
    }

    /// [`Callback::from_fn_with`], with `upvalues` for the debug library
    /// to see (see [`CallbackBox`]).
    pub fn from_fn_with_upvalues<R, F>(
        mc: &Mutation<'gc>,
        root: R,
        upvalues: &[Value<'gc>],
        call: F,
    ) -> Callback<'gc>
    where
        R: Collect<'gc> + 'gc,
        F: 'static
            + Fn(
                &R,
                Context<'gc>,
                Execution<'gc, '_>,
                Stack<'gc, '_>,
            ) -> Result<CallbackReturn<'gc>, Error<'gc>>,
    {
        Callback(Gc::new(
            mc,
            CallbackBox {
                f: Box::new(RootCallback { root, call }),
                upvalues: upvalues.iter().map(|&v| Lock::new(v)).collect(),
            },
        ))
    }

    pub(crate) fn call(
        self,
        ctx: Context<'gc>,
        exec: Execution<'gc, '_>,
        stack: Stack<'gc, '_>,
    ) -> Result<CallbackReturn<'gc>, Error<'gc>> {
        Gc::as_ref(self.0).f.call(ctx, exec, stack)
    }

    #[inline]
    pub fn ptr_eq(self, other: Callback<'gc>) -> bool {
        Gc::ptr_eq(self.0, other.0)
    }

    pub fn as_ptr(self) -> *const () {
        Gc::as_ptr(self.0) as *const ()
    }
}

impl std::fmt::Debug for Callback<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "builtin: {:p}", self.as_ptr())
    }
}

/// A callback's arguments and results: the values of the running thread's
/// stack above the callback's base.
pub struct Stack<'gc, 'a> {
    values: &'a mut Vec<Value<'gc>>,
    base: usize,
}

impl<'gc, 'a> Stack<'gc, 'a> {
    pub(crate) fn new(values: &'a mut Vec<Value<'gc>>, base: usize) -> Self {
        Stack { values, base }
    }

    pub fn len(&self) -> usize {
        self.values.len() - self.base
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i` (0-based), `Nil` past the end.
    #[inline]
    pub fn get(&self, i: usize) -> Value<'gc> {
        self.values
            .get(self.base + i)
            .copied()
            .unwrap_or(Value::Nil)
    }

    /// Sets value `i`, growing the stack with `nil`s as needed.
    pub fn set(&mut self, i: usize, v: Value<'gc>) {
        let at = self.base + i;
        if at >= self.values.len() {
            self.values.resize(at + 1, Value::Nil);
        }
        self.values[at] = v;
    }

    pub fn push_back(&mut self, v: impl Into<Value<'gc>>) {
        self.values.push(v.into());
    }

    pub fn push_front(&mut self, v: impl Into<Value<'gc>>) {
        self.values.insert(self.base, v.into());
    }

    pub fn pop_back(&mut self) -> Option<Value<'gc>> {
        if !self.is_empty() {
            self.values.pop()
        } else {
            None
        }
    }

    pub fn pop_front(&mut self) -> Option<Value<'gc>> {
        if !self.is_empty() {
            Some(self.values.remove(self.base))
        } else {
            None
        }
    }

    pub fn clear(&mut self) {
        self.values.truncate(self.base);
    }

    pub fn resize(&mut self, n: usize) {
        self.values.resize(self.base + n, Value::Nil);
    }

    pub fn extend(&mut self, vs: impl IntoIterator<Item = Value<'gc>>) {
        self.values.extend(vs);
    }

    pub fn drain(
        &mut self,
        range: impl std::ops::RangeBounds<usize>,
    ) -> std::vec::Drain<'_, Value<'gc>> {
        use std::ops::Bound;
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e + 1,
            Bound::Excluded(&e) => e,
            Bound::Unbounded => self.len(),
        };
        self.values.drain(self.base + start..self.base + end)
    }

    /// Replaces the whole stack with `vs`.
    pub fn replace(&mut self, ctx: Context<'gc>, vs: impl IntoValues<'gc>) {
        self.clear();
        vs.push_into(ctx, self.values);
    }

    pub fn as_slice(&self) -> &[Value<'gc>] {
        &self.values[self.base..]
    }

    pub fn iter(&self) -> impl Iterator<Item = Value<'gc>> + '_ {
        self.values[self.base..].iter().copied()
    }

    /// The whole thread stack under this window, and the window's start.
    pub(crate) fn thread_values(&mut self) -> (&mut Vec<Value<'gc>>, usize) {
        (self.values, self.base)
    }

    /// A sub-stack above the first `n` values (for a nested call's region).
    pub fn sub_stack(&mut self, n: usize) -> Stack<'gc, '_> {
        Stack {
            base: self.base + n.min(self.len()),
            values: self.values,
        }
    }
}

/// A Rust value that becomes one Lua value (strings are interned, so the
/// conversion needs the context).
pub trait IntoValue<'gc> {
    fn into_value(self, ctx: Context<'gc>) -> Value<'gc>;
}

impl<'gc, T: Into<Value<'gc>>> IntoValue<'gc> for T {
    fn into_value(self, _: Context<'gc>) -> Value<'gc> {
        self.into()
    }
}

impl<'gc> IntoValue<'gc> for &str {
    fn into_value(self, ctx: Context<'gc>) -> Value<'gc> {
        Value::String(ctx.intern(self.as_bytes()))
    }
}

impl<'gc> IntoValue<'gc> for &[u8] {
    fn into_value(self, ctx: Context<'gc>) -> Value<'gc> {
        Value::String(ctx.intern(self))
    }
}

impl<'gc> IntoValue<'gc> for std::string::String {
    fn into_value(self, ctx: Context<'gc>) -> Value<'gc> {
        Value::String(ctx.intern(self.as_bytes()))
    }
}

/// Values a callback can return (`stack.replace(ctx, v)`), or a call's
/// arguments: one value, `()`, a tuple or a `Vec`.
pub trait IntoValues<'gc> {
    fn push_into(self, ctx: Context<'gc>, out: &mut Vec<Value<'gc>>);
}

impl<'gc, T: IntoValue<'gc>> IntoValues<'gc> for T {
    fn push_into(self, ctx: Context<'gc>, out: &mut Vec<Value<'gc>>) {
        out.push(self.into_value(ctx));
    }
}

impl<'gc> IntoValues<'gc> for () {
    fn push_into(self, _: Context<'gc>, _: &mut Vec<Value<'gc>>) {}
}

impl<'gc, T: IntoValue<'gc>> IntoValues<'gc> for Vec<T> {
    fn push_into(self, ctx: Context<'gc>, out: &mut Vec<Value<'gc>>) {
        out.extend(self.into_iter().map(|v| v.into_value(ctx)));
    }
}

macro_rules! tuple_into_values {
    ($($n:ident)+) => {
        impl<'gc, $($n: IntoValue<'gc>),+> IntoValues<'gc> for ($($n,)+) {
            #[allow(non_snake_case)]
            fn push_into(self, ctx: Context<'gc>, out: &mut Vec<Value<'gc>>) {
                let ($($n,)+) = self;
                $(out.push($n.into_value(ctx));)+
            }
        }
    };
}
tuple_into_values!(A);
tuple_into_values!(A B);
tuple_into_values!(A B C);
tuple_into_values!(A B C D);
tuple_into_values!(A B C D E);

/// What a callback can learn about the executor running it.
pub struct Execution<'gc, 'a> {
    pub(crate) executor: Executor<'gc>,
    pub(crate) thread: Thread<'gc>,
    pub(crate) is_main: bool,
    pub(crate) frames: &'a [Frame<'gc>],
    pub(crate) fuel: &'a mut Fuel,
    /// The running thread's hook (`debug.sethook`).
    pub(crate) hook: &'a mut Option<Box<super::thread::HookState<'gc>>>,
}

/// The Lua function that called a callback: where errors point.
#[derive(Debug, Clone)]
pub struct LuaFrameInfo<'a> {
    pub chunk_name: &'a str,
    pub current_line: i64,
}

/// The running thread, as `coroutine.running` sees it.
#[derive(Copy, Clone)]
pub struct CurrentThread<'gc> {
    pub thread: Thread<'gc>,
    pub is_main: bool,
}

impl<'gc, 'a> Execution<'gc, 'a> {
    pub fn fuel(&mut self) -> &mut Fuel {
        self.fuel
    }

    pub fn executor(&self) -> Executor<'gc> {
        self.executor
    }

    pub fn current_thread(&self) -> CurrentThread<'gc> {
        CurrentThread {
            thread: self.thread,
            is_main: self.is_main,
        }
    }

    /// The innermost Lua function on this thread (the callback's caller
    /// when Lua called it directly).
    pub fn upper_lua_frame(&self) -> Option<LuaFrameInfo<'_>> {
        self.lua_frame(1)
    }

    /// `level` as `error(msg, level)` counts: 1 is the function that called
    /// the callback, 2 its caller … `None` when that level is not Lua (or
    /// does not exist).
    pub fn lua_frame(&self, level: usize) -> Option<LuaFrameInfo<'_>> {
        let f = self.frames.iter().rev().nth(level.checked_sub(1)?)?;
        match f {
            Frame::Lua(l) => Some(LuaFrameInfo {
                chunk_name: &l.closure.proto().source,
                current_line: l.current_line(),
            }),
            _ => None,
        }
    }

    /// `debug.traceback`'s text for this thread, from `level` (1: the
    /// function that called the callback), as lua5.4 prints it.
    pub fn traceback(
        &self,
        ctx: Context<'gc>,
        msg: Option<&str>,
        level: usize,
    ) -> std::string::String {
        super::debug::traceback(ctx, self.frames, &[], self.is_main, msg, level)
    }

    /// [`Execution::traceback`] seeing the thread's values through the
    /// callback's `stack`: Rust functions on the stack are named as lua5.4
    /// names them (`[C]: in function 'pcall'`), and level 0 is the running
    /// callback itself.
    pub fn traceback_with(
        &self,
        ctx: Context<'gc>,
        stack: &Stack<'gc, '_>,
        msg: Option<&str>,
        level: usize,
    ) -> std::string::String {
        self.stack_view(stack)
            .traceback(ctx, msg, level, self.is_main)
    }

    /// The running thread's levels, level 0 being this callback.
    pub(crate) fn stack_view<'s>(
        &'s self,
        stack: &'s Stack<'gc, '_>,
    ) -> super::debug::StackView<'s, 'gc> {
        super::debug::StackView {
            frames: self.frames,
            stack: stack.values,
            running: stack.base.checked_sub(1),
        }
    }

    /// `debug.getinfo(level)`: level 1 is the function that called the
    /// callback; `None` past the bottom of the stack.
    pub fn debug_info(&self, level: usize) -> Option<super::debug::DebugInfo<'gc>> {
        super::debug::level_info(self.frames, level)
    }

    /// How the calling Lua function named the callback now running, from
    /// its call instruction (`lua_getinfo(L, "n")` at level 0, as
    /// `luaL_argerror` uses it): `("method", "rep")` for `s:rep(...)`,
    /// `("local", "r")`, `("global", "f")`, `("for iterator", …)`. `None`
    /// when the caller is not Lua or the call gives no name.
    pub fn calling_name(&self) -> Option<(&'static str, std::string::String)> {
        match self.frames.last()? {
            Frame::Lua(caller) => {
                super::debug::called_name(caller.closure.proto(), caller.pc.checked_sub(1)?)
            }
            _ => None,
        }
    }

    /// Whether the running coroutine may yield here
    /// (`coroutine.isyieldable`, `lua_isyieldable`): not the main thread,
    /// and no non-yieldable continuation ([`Sequence::yieldable`]) between
    /// this callback and the coroutine's start.
    pub fn is_yieldable(&self) -> bool {
        !self.is_main && frames_yieldable(self.frames)
    }

    /// Whether the caller at `level` is a Lua function (for `'name'` vs
    /// `'lib.name'` in argument errors).
    pub fn is_lua_frame(&self, level: usize) -> bool {
        self.lua_frame(level).is_some()
    }
}

/// No frame of `frames` is a continuation that forbids yields. Below a
/// `__close` run while an error unwinds ([`Sequence::unwinding`]), the
/// frames up to the protected call that catches the error do not count:
/// lua5.4 has already left them (a `table.sort` whose comparator raised),
/// and closes from the `pcall`'s level.
pub(crate) fn frames_yieldable(frames: &[Frame<'_>]) -> bool {
    let mut unwound = false;
    frames.iter().rev().all(|f| match f {
        Frame::Sequence { seq, .. } if seq.0.unwinding() => {
            unwound = true;
            seq.0.yieldable()
        }
        Frame::Sequence { seq, .. } if unwound => {
            if matches!(seq.0.handler(), Handler::None) {
                true
            } else {
                unwound = false;
                seq.0.yieldable()
            }
        }
        Frame::Sequence { seq, .. } => seq.0.yieldable(),
        _ => true,
    })
}
