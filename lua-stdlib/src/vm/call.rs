//! Calls, returns, sequences and error unwinding: how frames are pushed and
//! popped on a thread (`ldo.c`). The instruction loop is in
//! [`super::interp`]; the executor loop that switches threads is
//! [`step`].

use super::callback::{BoxSequence, CallbackReturn, Execution, Fuel, Handler, SequencePoll, Stack};
use super::closure::Closure;
use super::context::Context;
use super::error::Error;
use super::meta;
use super::thread::{
    close_upvalues, Executor, ExecutorMode, Frame, Incoming, LuaFrame, Ret, Stop, Thread,
    ThreadMode, ThreadState, ERROR_STACK_EXTRA, HOOK_CALL, HOOK_RET, MAX_STACK,
};
use super::value::{Function, Value};

/// What the run loop does next.
pub(crate) enum Flow<'gc> {
    /// Look at the top frame again and go on.
    Continue,
    Stop(Stop<'gc>),
}

/// One thread being run by an executor.
pub(crate) struct Machine<'gc, 'f> {
    pub ctx: Context<'gc>,
    pub ex: Executor<'gc>,
    pub thread: Thread<'gc>,
    pub is_main: bool,
    pub fuel: &'f mut Fuel,
    /// A stop requested by a metamethod call made inside an instruction
    /// (a callback that yielded or waits).
    pub pending_stop: Option<Stop<'gc>>,
    /// The callback whose error is being thrown (the level a message
    /// handler sees below itself).
    pub raiser: Option<Function<'gc>>,
}

/// lua5.4's `LUAI_MAXCCALLS`: nested C calls (a callback calling a
/// function, a metamethod called by an instruction, a resume, a message
/// handler) at which a call fails with "C stack overflow"; a tenth more
/// (room for handling that error) and it is "error in error handling".
pub(crate) const MAX_C_CALLS: usize = 200;

/// The C-call depth a call made now from the top frame runs at (relative
/// to the thread's `c_base`): a Lua caller's own, one more under a
/// callback's continuation.
#[inline]
pub(crate) fn top_depth(st: &ThreadState<'_>) -> u16 {
    match st.frames.last() {
        Some(Frame::Lua(f)) => f.ret.depth,
        Some(Frame::Sequence { ret, .. } | Frame::Await { ret }) => ret.depth.saturating_add(1),
        None => 0,
    }
}

/// An action asked by a callback or a sequence.
enum Action<'gc> {
    Return,
    Call(Function<'gc>),
    Yield,
    Resume(Thread<'gc>),
    Wait,
    Pending,
}

impl<'gc, 'f> Machine<'gc, 'f> {
    /// What a callback or a continuation gets of the running thread: the
    /// execution context, and its stack window from `base`.
    #[inline(always)]
    fn enter<'s>(
        &'s mut self,
        st: &'s mut ThreadState<'gc>,
        base: usize,
    ) -> (Execution<'gc, 's>, Stack<'gc, 's>) {
        let exec = Execution {
            executor: self.ex,
            thread: self.thread,
            is_main: self.is_main,
            frames: &st.frames,
            fuel: &mut *self.fuel,
            hook: &mut st.hook,
        };
        (exec, Stack::new(&mut st.stack, base))
    }

    pub fn error_msg(&self, msg: &str) -> Error<'gc> {
        Error::from_value(Value::String(self.ctx.intern(msg.as_bytes())))
    }

    /// A runtime error positioned at the running Lua function's line.
    pub fn rt_error(&self, st: &ThreadState<'gc>, msg: &str) -> Error<'gc> {
        match st.frames.last() {
            Some(Frame::Lua(f)) => {
                let m = format!("{}:{}: {msg}", f.closure.proto().source, f.current_line());
                self.error_msg(&m)
            }
            _ => self.error_msg(msg),
        }
    }

    /// Calls the value at `func` with the `nargs` values above it.
    pub fn call_value(
        &mut self,
        st: &mut ThreadState<'gc>,
        func: usize,
        mut nargs: usize,
        mut ret: Ret,
    ) -> Result<Flow<'gc>, Error<'gc>> {
        loop {
            match st.stack[func] {
                Value::Function(Function::Closure(c)) => {
                    self.call_lua(st, c, func, nargs, ret)?;
                    return Ok(Flow::Continue);
                }
                Value::Function(Function::Callback(cb)) => {
                    ret.depth = self.call_depth(st, &ret)?;
                    st.stack.truncate(func + 1 + nargs);
                    if st.hook_for(HOOK_CALL) && !take_skip(&mut st.hook, |h| &mut h.skip_call) {
                        // The hook first, with the callback as level 2;
                        // then the callback, from its marker.
                        if let Some(h) = st.hook.as_mut() {
                            h.skip_call = true;
                        }
                        let culprit = Some(Function::Callback(cb));
                        return self.call_hook(st, "call", None, culprit, Some((func + 1, ret)));
                    }
                    let r = {
                        let ctx = self.ctx;
                        let (exec, stack) = self.enter(st, func + 1);
                        cb.call(ctx, exec, stack)
                    };
                    let r = match r {
                        Ok(r) => r,
                        Err(e) => {
                            self.raiser = Some(Function::Callback(cb));
                            return Err(e);
                        }
                    };
                    return match r {
                        CallbackReturn::Return if st.hook_for(HOOK_RET) => {
                            let culprit = Some(Function::Callback(cb));
                            self.call_hook(st, "return", None, culprit, Some((func + 1, ret)))
                        }
                        CallbackReturn::Return => self.act(st, None, func + 1, ret, Action::Return),
                        CallbackReturn::Sequence(seq) => {
                            st.frames.push(Frame::Sequence {
                                seq,
                                base: func + 1,
                                ret,
                            });
                            Ok(Flow::Continue)
                        }
                        CallbackReturn::Call { function, then } => {
                            self.act(st, then, func + 1, ret, Action::Call(function))
                        }
                        CallbackReturn::Yield { then, .. } => {
                            self.act(st, then, func + 1, ret, Action::Yield)
                        }
                        CallbackReturn::Resume { thread, then } => {
                            self.act(st, then, func + 1, ret, Action::Resume(thread))
                        }
                        CallbackReturn::Wait { then } => {
                            self.act(st, then, func + 1, ret, Action::Wait)
                        }
                    };
                }
                v => {
                    let tm = meta::event(self.ctx, v, meta::CALL);
                    if tm.is_nil() {
                        return Err(self.call_error(st, v, func));
                    }
                    // A chain of `__call`s is bounded by the stack, as
                    // in lua5.4.
                    if func + nargs + 2 > MAX_STACK {
                        if let Some(e) = self.stack_overflow(st, func + nargs + 2) {
                            return Err(e);
                        }
                    }
                    st.stack.truncate(func + 1 + nargs);
                    st.stack.insert(func, tm);
                    nargs += 1;
                }
            }
        }
    }

    /// The C-call depth of a call with `ret` made now, or the error
    /// lua5.4's `luaE_checkcstack` raises for it.
    #[inline(always)]
    pub fn call_depth(&self, st: &ThreadState<'gc>, ret: &Ret) -> Result<u16, Error<'gc>> {
        if ret.tail {
            return Ok(ret.depth);
        }
        let depth = top_depth(st) + ret.meta as u16;
        if st.c_base as usize + depth as usize >= MAX_C_CALLS {
            return self.deep_call(st, depth);
        }
        Ok(depth)
    }

    /// [`Self::call_depth`] at or past [`MAX_C_CALLS`].
    #[cold]
    #[inline(never)]
    fn deep_call(&self, st: &ThreadState<'gc>, depth: u16) -> Result<u16, Error<'gc>> {
        let total = st.c_base as usize + depth as usize;
        if total == MAX_C_CALLS {
            return Err(self.rt_error(st, "C stack overflow"));
        }
        if total >= MAX_C_CALLS / 10 * 11 {
            return Err(self.error_msg("error in error handling").handled());
        }
        Ok(depth)
    }

    /// "stack overflow" for a call that needs the stack up to `need`; once
    /// it is being handled, [`ERROR_STACK_EXTRA`] more slots are allowed
    /// (`None`), and past those "error in error handling".
    pub fn stack_overflow(&self, st: &mut ThreadState<'gc>, need: usize) -> Option<Error<'gc>> {
        if !st.overflow {
            st.overflow = true;
            Some(self.rt_error(st, "stack overflow"))
        } else if need > MAX_STACK + ERROR_STACK_EXTRA {
            Some(self.error_msg("error in error handling").handled())
        } else {
            None
        }
    }

    /// Calls the thread's hook function with `event` (and `line`) above
    /// a marker frame: `window` is the marker's stack window and return
    /// (a callback's arguments or results, handed on when the hook is
    /// done), else an empty window above the live stack. `culprit`: the
    /// callback the marker stands for (level 2 for the hook).
    pub fn call_hook(
        &mut self,
        st: &mut ThreadState<'gc>,
        event: &'static str,
        line: Option<i64>,
        culprit: Option<Function<'gc>>,
        window: Option<(usize, Ret)>,
    ) -> Result<Flow<'gc>, Error<'gc>> {
        let Some(h) = st.hook.as_mut() else {
            return Ok(Flow::Continue);
        };
        h.in_hook = true;
        let func = h.func;
        let (base, mut ret) = window.unwrap_or_else(|| {
            let b = st.stack.len();
            (b, Ret::new(b, 0))
        });
        if window.is_none() {
            ret.depth = top_depth(st);
        }
        st.frames.push(Frame::Sequence {
            seq: BoxSequence(Box::new(HookDone {
                culprit,
                then_call: event == "call",
            })),
            base,
            ret,
        });
        let at = st.stack.len();
        let ev = Value::String(self.ctx.intern(event.as_bytes()));
        let line = line.map_or(Value::Nil, Value::Integer);
        st.stack.extend_from_slice(&[func, ev, line]);
        self.call_value(st, at, 2, Ret::new(at, 0))
    }

    /// "attempt to call a nil value (global 'f')": named by how the
    /// running Lua function called it (`luaG_callerror`: the calling
    /// instruction, `(metamethod 'add')` for a metamethod), else by what
    /// the slot holds.
    fn call_error(&self, st: &ThreadState<'gc>, v: Value<'gc>, func: usize) -> Error<'gc> {
        let mut info = String::new();
        if let Some(Frame::Lua(f)) = st.frames.last() {
            let p = f.closure.proto();
            let pc = f.pc.saturating_sub(1);
            if let Some((kind, name)) = super::debug::called_name(p, pc) {
                info = format!(" ({kind} '{name}')");
            } else if func >= f.base {
                info = super::debug::reg_info(p, pc, func - f.base);
            }
        }
        let tn = meta::type_name_of(self.ctx, v);
        self.rt_error(st, &format!("attempt to call a {tn} value{info}"))
    }

    /// Pushes a Lua frame for closure `c` called at `func`.
    #[inline(always)]
    pub fn call_lua(
        &mut self,
        st: &mut ThreadState<'gc>,
        c: Closure<'gc>,
        func: usize,
        nargs: usize,
        mut ret: Ret,
    ) -> Result<(), Error<'gc>> {
        ret.depth = self.call_depth(st, &ret)?;
        let p = c.fproto();
        let nparams = p.num_params as usize;
        let max = p.max_stack as usize;
        if p.is_vararg {
            let nextra = nargs.saturating_sub(nparams);
            let newfunc = func + 1 + nargs;
            let base = newfunc + 1;
            if base + max > MAX_STACK {
                if let Some(e) = self.stack_overflow(st, base + max) {
                    return Err(e);
                }
            }
            st.stack.truncate(newfunc);
            st.stack.reserve(1 + max);
            st.stack.push(st.stack[func]);
            for i in 0..nparams {
                let v = if i < nargs {
                    std::mem::take(&mut st.stack[func + 1 + i])
                } else {
                    Value::Nil
                };
                st.stack.push(v);
            }
            set_top(&mut st.stack, base + max);
            push_lua_frame(&mut st.frames, c, base, nextra, ret);
        } else {
            let base = func + 1;
            if base + max > MAX_STACK {
                if let Some(e) = self.stack_overflow(st, base + max) {
                    return Err(e);
                }
            }
            // Missing parameters are nil; other registers are written
            // before they are read (the code generator guarantees it).
            set_top(&mut st.stack, base + max);
            for j in nargs..nparams {
                st.stack[base + j] = Value::Nil;
            }
            push_lua_frame(&mut st.frames, c, base, 0, ret);
        }
        if st.hook.is_some() {
            if let Some(h) = st.hook.as_mut() {
                if !h.in_hook {
                    h.oldpc = 0;
                }
            }
            if st.hook_for(HOOK_CALL) {
                let event = if ret.tail { "tail call" } else { "call" };
                if let Flow::Stop(s) = self.call_hook(st, event, None, None, None)? {
                    self.pending_stop = Some(s);
                }
            }
        }
        Ok(())
    }

    /// Results are at `ret.func ..`, `count` of them: adjust to what the
    /// caller wants and hand them to the frame below.
    pub fn post_return(
        &mut self,
        st: &mut ThreadState<'gc>,
        ret: Ret,
        mut count: usize,
    ) -> Result<Flow<'gc>, Error<'gc>> {
        if ret.nresults >= 0 {
            count = ret.nresults as usize;
        }
        set_top(&mut st.stack, ret.func + count);
        match st.frames.last_mut() {
            None => Ok(Flow::Stop(Stop::Finished { at: ret.func })),
            Some(Frame::Lua(f)) => {
                let extent = f.base + f.closure.fproto().max_stack as usize;
                if ret.meta {
                    let v = if count > 0 {
                        st.stack[ret.func]
                    } else {
                        Value::Nil
                    };
                    // Values live below the call stay (a `RETURN` that
                    // runs `__close` first keeps its results above the
                    // registers).
                    set_top(&mut st.stack, extent.max(ret.func));
                    return self.finish_op(st, v);
                }
                if ret.nresults < 0 {
                    f.top = ret.func + count;
                    if st.stack.len() < extent {
                        set_top(&mut st.stack, extent);
                    }
                } else {
                    // (A hook's marker returns above live values.)
                    set_top(&mut st.stack, extent.max(ret.func));
                }
                if let Some(h) = st.hook.as_mut() {
                    // `rethook`: the caller's line is not new again (a
                    // trace hook returns to an instruction not yet run).
                    if !h.skip_trace {
                        h.oldpc = f.pc.saturating_sub(1);
                    }
                }
                Ok(Flow::Continue)
            }
            Some(_) => Ok(Flow::Continue),
        }
    }

    /// Returns `n` values at `first` from the top (Lua) frame.
    #[inline]
    pub fn do_return(
        &mut self,
        st: &mut ThreadState<'gc>,
        first: usize,
        n: usize,
    ) -> Result<Flow<'gc>, Error<'gc>> {
        if st.hook_for(HOOK_RET) && !take_skip(&mut st.hook, |h| &mut h.skip_return) {
            // The hook runs with the function still on the stack; then the
            // return instruction runs again.
            if let Some(h) = st.hook.as_mut() {
                h.skip_return = true;
                h.skip_trace = true;
                h.rewind = true;
            }
            let _ = (first, n);
            return self.call_hook(st, "return", None, None, None);
        }
        let Some(Frame::Lua(f)) = st.frames.pop() else {
            return Err(self.error_msg("return from a non-Lua frame"));
        };
        if let Some(&(idx, _)) = st.open_upvals.last() {
            if idx >= f.base {
                close_upvalues(self.ctx.mutation(), self.thread, st, f.base);
            }
        }
        let ret = f.ret;
        move_results(&mut st.stack, first, ret.func, n);
        st.stack.truncate(ret.func + n);
        if ret.nresults < 0 && matches!(st.frames.last(), Some(Frame::Sequence { .. })) {
            // All results to a continuation (a library function's call):
            // they are in place.
            return Ok(Flow::Continue);
        }
        self.post_return(st, ret, n)
    }

    /// Carries out what a callback or a sequence asked for. `seq` is the
    /// continuation (if any) and `base` the start of its stack window.
    fn act(
        &mut self,
        st: &mut ThreadState<'gc>,
        seq: Option<BoxSequence<'gc>>,
        base: usize,
        ret: Ret,
        action: Action<'gc>,
    ) -> Result<Flow<'gc>, Error<'gc>> {
        match action {
            Action::Return => {
                debug_assert!(seq.is_none());
                let n = st.stack.len() - base;
                if base != ret.func {
                    move_results(&mut st.stack, base, ret.func, n);
                    st.stack.truncate(ret.func + n);
                }
                self.post_return(st, ret, n)
            }
            Action::Call(function) => {
                let nargs = st.stack.len() - base;
                insert_function(&mut st.stack, base, Value::Function(function));
                match seq {
                    Some(seq) => {
                        st.frames.push(Frame::Sequence { seq, base, ret });
                        let r = Ret::new(base, -1);
                        self.call_value(st, base, nargs, r)
                    }
                    None => self.call_value(st, base, nargs, ret),
                }
            }
            Action::Yield | Action::Resume(_) | Action::Wait | Action::Pending => {
                match seq {
                    Some(seq) => st.frames.push(Frame::Sequence { seq, base, ret }),
                    None => st.frames.push(Frame::Await { ret }),
                }
                Ok(Flow::Stop(match action {
                    Action::Yield => Stop::Yield { from: base },
                    Action::Resume(thread) => Stop::Resume { thread, from: base },
                    Action::Wait => {
                        st.stack.truncate(base);
                        Stop::Wait
                    }
                    _ => {
                        self.fuel.interrupt();
                        Stop::Paused
                    }
                }))
            }
        }
    }

    fn poll_result(
        &mut self,
        st: &mut ThreadState<'gc>,
        seq: BoxSequence<'gc>,
        base: usize,
        ret: Ret,
        poll: SequencePoll<'gc>,
    ) -> Result<Flow<'gc>, Error<'gc>> {
        if matches!(poll, SequencePoll::Return)
            && st.hook_for(HOOK_RET)
            && returns_as_function(&seq)
        {
            // The Rust function this continues returns now: the hook
            // first, with that function as level 2.
            let culprit = match base.checked_sub(1).and_then(|b| st.stack.get(b)) {
                Some(Value::Function(f @ Function::Callback(_))) => Some(*f),
                _ => None,
            };
            return self.call_hook(st, "return", None, culprit, Some((base, ret)));
        }
        let (action, tail) = match poll {
            SequencePoll::Pending => (Action::Pending, false),
            SequencePoll::Return => (Action::Return, true),
            SequencePoll::Call { function, is_tail } => (Action::Call(function), is_tail),
            SequencePoll::Yield { is_tail, .. } => (Action::Yield, is_tail),
            SequencePoll::Resume { thread, is_tail } => (Action::Resume(thread), is_tail),
            SequencePoll::Wait { is_tail } => (Action::Wait, is_tail),
        };
        self.act(st, if tail { None } else { Some(seq) }, base, ret, action)
    }

    /// Polls the sequence on top of the stack of frames.
    pub fn poll_sequence(&mut self, st: &mut ThreadState<'gc>) -> Result<Flow<'gc>, Error<'gc>> {
        loop {
            let Some(Frame::Sequence { mut seq, base, ret }) = st.frames.pop() else {
                return Ok(Flow::Continue);
            };
            // (Without a hook, `hook_done` has nothing to do.)
            if st.hook.is_some() && seq.0.hook_marker() {
                hook_done(st);
            }
            let r = {
                let ctx = self.ctx;
                let (exec, stack) = self.enter(st, base);
                seq.0.poll(ctx, exec, stack)
            };
            match r? {
                // A library function calling a Lua function again and
                // again (a `sort` comparator, a `gsub` replacement): what
                // `act` and `call_value` would do, without their dispatch,
                // and the function runs at once, the sequence polled again
                // when it returns, as `run`'s loop would do.
                SequencePoll::Call {
                    function: Function::Closure(c),
                    is_tail: false,
                } if st.hook.is_none() => {
                    let nargs = st.stack.len() - base;
                    insert_function(&mut st.stack, base, Value::Function(Function::Closure(c)));
                    st.frames.push(Frame::Sequence { seq, base, ret });
                    self.call_lua(st, c, base, nargs, Ret::new(base, -1))?;
                    match self.execute::<false>(st)? {
                        Flow::Continue
                            if !self.fuel.should_stop()
                                && matches!(st.frames.last(), Some(Frame::Sequence { .. })) => {}
                        flow => return Ok(flow),
                    }
                }
                poll => return self.poll_result(st, seq, base, ret, poll),
            }
        }
    }

    /// Unwinds frames until a sequence handles `err`; the thread dies with
    /// it if none does.
    pub fn throw(&mut self, st: &mut ThreadState<'gc>, mut err: Error<'gc>) -> Flow<'gc> {
        // The innermost protected call's message handler sees the error
        // where it happened (the frames are still there for a traceback).
        if !err.is_handled() {
            let handler = st.frames.iter().rev().find_map(|f| match f {
                Frame::Sequence { seq, .. } => match seq.0.handler() {
                    Handler::None => None,
                    Handler::Catch => Some(None),
                    Handler::CatchWith(h) => Some(Some(h)),
                },
                _ => None,
            });
            // An error inside the handler calls the handler again (as
            // lua5.4 does), one C level deeper each time: past lua5.4's C
            // stack limit it is "error in error handling".
            if let Some(Some(h)) = handler {
                let base = st.stack.len();
                let depth = top_depth(st);
                if st.c_base as usize + depth as usize + 1 >= MAX_C_CALLS {
                    err = self.error_msg("error in error handling").handled();
                } else {
                    st.frames.push(Frame::Sequence {
                        seq: BoxSequence(Box::new(HandlerDone {
                            culprit: self.raiser.take(),
                        })),
                        base,
                        ret: Ret {
                            depth,
                            ..Ret::new(base, 0)
                        },
                    });
                    st.stack
                        .extend_from_slice(&[Value::Function(h), err.value()]);
                    let ret = Ret::new(base, 1);
                    match self.call_value(st, base, 1, ret) {
                        Ok(flow) => return flow,
                        Err(e) => err = e.handled(),
                    }
                }
            }
        }
        let raiser = self.raiser.take();
        if !self.is_main && !st.frames.iter().any(catches) {
            // No protected call of this coroutine catches the error: it
            // dies where it stands (`lua_resume`), its frames kept for
            // `debug.traceback(co)` and `getinfo` (with the callback that
            // raised on top), its to-be-closed variables pending until
            // `coroutine.close` (or `wrap`, which closes it at once) runs
            // them with this error.
            if let Some(culprit) = raiser {
                let base = st.stack.len();
                st.frames.push(Frame::Sequence {
                    seq: BoxSequence(Box::new(Died { culprit })),
                    base,
                    ret: Ret::new(base, 0),
                });
            }
            return Flow::Stop(Stop::Error(err));
        }
        loop {
            // A Lua frame with pending to-be-closed variables runs their
            // `__close(value, err)` first (each as a call; unwinding goes on
            // when it returns, with its error if it raises one).
            if let Some(Frame::Lua(f)) = st.frames.last() {
                let p = f.closure.fproto();
                let start = if p.is_vararg {
                    f.base
                        .saturating_sub(2 + p.num_params as usize + f.nvarargs)
                } else {
                    f.base.saturating_sub(1)
                };
                if let Some(&idx) = st.tbc.last() {
                    if idx >= start {
                        st.tbc.pop();
                        close_upvalues(self.ctx.mutation(), self.thread, st, idx);
                        let v = st.stack.get(idx).copied().unwrap_or(Value::Nil);
                        // A removed `__close` is called all the same (and
                        // fails), as lua5.4 does.
                        let tm = meta::event(self.ctx, v, meta::CLOSE);
                        let base = st.stack.len();
                        let depth = top_depth(st);
                        let caught = st.frames.iter().any(catches);
                        st.frames.push(Frame::Sequence {
                            seq: BoxSequence(Box::new(CloseOnError { error: err, caught })),
                            base,
                            ret: Ret {
                                depth,
                                ..Ret::new(base, 0)
                            },
                        });
                        st.stack.extend_from_slice(&[tm, v, err.value()]);
                        let ret = Ret::new(base, -1);
                        match self.call_value(st, base, 2, ret) {
                            Ok(flow) => return flow,
                            Err(e) => {
                                err = e;
                                continue;
                            }
                        }
                    }
                }
            }
            match st.frames.pop() {
                None => {
                    close_upvalues(self.ctx.mutation(), self.thread, st, 0);
                    st.tbc.clear();
                    return Flow::Stop(Stop::Error(err));
                }
                Some(Frame::Lua(f)) => {
                    let start = f.base.saturating_sub(1 + f.nvarargs);
                    close_upvalues(self.ctx.mutation(), self.thread, st, start);
                    while st.tbc.last().is_some_and(|&t| t >= start) {
                        st.tbc.pop();
                    }
                }
                Some(Frame::Await { .. }) => {}
                Some(Frame::Sequence { mut seq, base, ret }) => {
                    if seq.0.hook_marker() {
                        hook_done(st);
                    }
                    close_upvalues(self.ctx.mutation(), self.thread, st, base);
                    while st.tbc.last().is_some_and(|&t| t >= base) {
                        st.tbc.pop();
                    }
                    st.stack.truncate(base);
                    let r = {
                        let ctx = self.ctx;
                        let (exec, stack) = self.enter(st, base);
                        seq.0.error(ctx, exec, err, stack)
                    };
                    match r {
                        Ok(poll) => {
                            // Caught: the stack is back to its normal size
                            // (lua5.4's `luaD_shrinkstack` after a pcall).
                            st.overflow = false;
                            match self.poll_result(st, seq, base, ret, poll) {
                                Ok(flow) => return flow,
                                Err(e) => err = e,
                            }
                        }
                        Err(e) => err = e,
                    }
                }
            }
        }
    }

    /// What the top frame waited for (a resumed coroutine, the host)
    /// failed: a continuation sees the error first, as the Rust function
    /// that called `lua_resume` does in lua5.4 (`coroutine.wrap` adds its
    /// position), and a message handler runs only if it raises it again.
    fn deliver_error(
        &mut self,
        st: &mut ThreadState<'gc>,
        err: Error<'gc>,
    ) -> Result<Flow<'gc>, Error<'gc>> {
        if !matches!(st.frames.last(), Some(Frame::Sequence { .. })) {
            return Err(err);
        }
        let Some(Frame::Sequence { mut seq, base, ret }) = st.frames.pop() else {
            return Err(err);
        };
        if seq.0.hook_marker() {
            hook_done(st);
        }
        st.stack.truncate(base);
        let r = {
            let ctx = self.ctx;
            let (exec, stack) = self.enter(st, base);
            seq.0.error(ctx, exec, err, stack)
        };
        let poll = r?;
        self.poll_result(st, seq, base, ret, poll)
    }

    /// Runs the thread until it stops.
    pub fn run(&mut self, st: &mut ThreadState<'gc>) -> Stop<'gc> {
        let first = match std::mem::replace(&mut st.incoming, Incoming::None) {
            Incoming::None => Ok(Flow::Continue),
            Incoming::Error(e) => self.deliver_error(st, e),
            Incoming::Values(n) => self.receive(st, n),
        };
        let mut flow = match first {
            Ok(f) => f,
            Err(e) => self.throw(st, e),
        };
        loop {
            if let Flow::Stop(s) = flow {
                return s;
            }
            if self.fuel.should_stop() {
                return Stop::Paused;
            }
            let r = match st.frames.last() {
                Some(Frame::Lua(_)) if st.traced() => self.execute::<true>(st),
                Some(Frame::Lua(_)) => self.execute::<false>(st),
                Some(Frame::Sequence { .. }) => self.poll_sequence(st),
                Some(Frame::Await { .. }) | None => {
                    Err(self.error_msg("cannot continue a thread with nothing to run"))
                }
            };
            flow = match r {
                Ok(f) => f,
                Err(e) => self.throw(st, e),
            };
        }
    }

    /// The thread gets `n` values (its top `n` stack values): start its
    /// function, or hand them to the frame that waited for them.
    fn receive(&mut self, st: &mut ThreadState<'gc>, n: usize) -> Result<Flow<'gc>, Error<'gc>> {
        let from = st.stack.len() - n;
        match st.frames.pop() {
            None => {
                // A fresh start: the function is below its arguments.
                let func = from - 1;
                let ret = Ret::new(func, -1);
                self.call_value(st, func, n, ret)
            }
            Some(Frame::Await { ret }) => {
                if st.hook_for(HOOK_RET) {
                    // The callback that yielded returns now (`luaD_poscall`
                    // in `resume` calls `rethook`), with the callback as
                    // level 2.
                    let culprit = match st.stack.get(ret.func) {
                        Some(Value::Function(f @ Function::Callback(_))) => Some(*f),
                        _ => None,
                    };
                    return self.call_hook(st, "return", None, culprit, Some((from, ret)));
                }
                st.stack.copy_within(from.., ret.func);
                st.stack.truncate(ret.func + n);
                self.post_return(st, ret, n)
            }
            Some(Frame::Sequence { seq, base, ret }) => {
                st.stack.copy_within(from.., base);
                st.stack.truncate(base + n);
                st.frames.push(Frame::Sequence { seq, base, ret });
                Ok(Flow::Continue)
            }
            Some(f @ Frame::Lua(_)) => {
                st.frames.push(f);
                st.stack.truncate(from);
                Ok(Flow::Continue)
            }
        }
    }
}

/// A protected call that catches errors (`pcall`, `xpcall`, a resume …).
fn catches(f: &Frame<'_>) -> bool {
    matches!(f, Frame::Sequence { seq, .. } if !matches!(seq.0.handler(), Handler::None))
}

/// Puts `f` under the arguments at `base..`: `Vec::insert` without its
/// `memmove` call for the few arguments a call usually has.
#[inline(always)]
fn insert_function<'gc>(stack: &mut Vec<Value<'gc>>, base: usize, f: Value<'gc>) {
    if stack.len() - base > 4 {
        stack.insert(base, f);
        return;
    }
    stack.push(f);
    let top = stack.len() - 1;
    for i in (base..top).rev() {
        stack.swap(i, i + 1);
    }
}

/// Moves `n` results at `first` down to `to` (`to <= first`): a loop for
/// the few values a call usually returns (`copy_within` is a `memmove`
/// call).
#[inline(always)]
fn move_results(stack: &mut [Value<'_>], first: usize, to: usize, n: usize) {
    if first == to {
        return;
    }
    if n <= 4 {
        for j in 0..n {
            stack[to + j] = stack[first + j];
        }
    } else {
        stack.copy_within(first..first + n, to);
    }
}

/// Truncates the stack to `top` slots or extends it with nils.
/// (`resize_with`: `resize` takes its fill value through memory.)
/// (Not `resize_with`: it stays a function call, and a Lua call grows the
/// stack by a few slots.)
#[inline(always)]
pub(crate) fn set_top(stack: &mut Vec<Value<'_>>, top: usize) {
    let len = stack.len();
    if len >= top {
        stack.truncate(top);
    } else {
        stack.reserve(top - len);
        while stack.len() < top {
            stack.push(Value::Nil);
        }
    }
}

/// Pushes a new Lua frame. `push` builds the frame before growing the
/// vector (it must be dropped if growing fails), so it went through the
/// stack and copying it from there stalled on store forwarding (13% of a
/// call-heavy script); `resize_with` grows first and writes the frame
/// straight into its slot.
#[inline(always)]
pub(crate) fn push_lua_frame<'gc>(
    frames: &mut Vec<Frame<'gc>>,
    closure: Closure<'gc>,
    base: usize,
    nvarargs: usize,
    ret: Ret,
) {
    frames.resize_with(frames.len() + 1, || {
        Frame::Lua(LuaFrame {
            closure,
            base,
            pc: 0,
            top: base,
            nvarargs,
            ret,
        })
    });
}

fn error_value<'gc>(ctx: Context<'gc>, msg: &str) -> Error<'gc> {
    Error::from_value(Value::String(ctx.intern(msg.as_bytes())))
}

/// Runs `ex` until it finishes, waits for the host or runs out of fuel.
pub(crate) fn step<'gc>(ctx: Context<'gc>, ex: Executor<'gc>, fuel: &mut Fuel) -> bool {
    fuel.clear_interrupt();
    loop {
        let (thread, is_main) = {
            let s = ex.0.borrow();
            match s.mode {
                ExecutorMode::Running => {}
                _ => return true,
            }
            (
                *s.chain.last().expect("chain never empty"),
                s.chain.len() == 1,
            )
        };
        let stop = {
            let mut st = thread.0.borrow_mut(&ctx);
            st.mode = ThreadMode::Running;
            let mut m = Machine {
                ctx,
                ex,
                thread,
                is_main,
                fuel: &mut *fuel,
                pending_stop: None,
                raiser: None,
            };
            m.run(&mut st)
        };
        match stop {
            Stop::Paused => return false,
            Stop::Wait => {
                ex.0.borrow_mut(&ctx).mode = ExecutorMode::Waiting;
                return true;
            }
            Stop::Finished { at } => {
                let mut st = thread.0.borrow_mut(&ctx);
                if is_main {
                    st.stack.drain(..at);
                    st.mode = ThreadMode::Suspended;
                    drop(st);
                    let mut s = ex.0.borrow_mut(&ctx);
                    s.mode = ExecutorMode::Finished;
                    s.result = Ok(());
                    return true;
                }
                let values: Vec<Value<'gc>> = st.stack.drain(at..).collect();
                st.stack.clear();
                st.mode = ThreadMode::Dead;
                drop(st);
                hand_back(ctx, ex, Ok(values));
            }
            Stop::Error(e) => {
                let mut st = thread.0.borrow_mut(&ctx);
                if is_main {
                    st.stack.clear();
                    st.mode = ThreadMode::Suspended;
                    drop(st);
                    let mut s = ex.0.borrow_mut(&ctx);
                    s.mode = ExecutorMode::Finished;
                    s.result = Err(e);
                    return true;
                }
                st.mode = ThreadMode::Dead;
                st.death = Some(e);
                drop(st);
                hand_back(ctx, ex, Err(e));
            }
            Stop::Yield { from } => {
                let mut st = thread.0.borrow_mut(&ctx);
                // The yielding callback's own frame is on top; what is below
                // it must let a yield through (`lua_yieldk`'s checks).
                let below = st.frames.len().saturating_sub(1);
                let refused = if is_main {
                    Some("attempt to yield from outside a coroutine")
                } else if !super::callback::frames_yieldable(&st.frames[..below]) {
                    Some("attempt to yield across a C-call boundary")
                } else {
                    None
                };
                if let Some(msg) = refused {
                    st.stack.truncate(from);
                    st.incoming = Incoming::Error(error_value(ctx, msg));
                    continue;
                }
                let values: Vec<Value<'gc>> = st.stack.drain(from..).collect();
                st.mode = ThreadMode::Suspended;
                drop(st);
                hand_back(ctx, ex, Ok(values));
            }
            Stop::Resume { thread: co, from } => {
                let mut st = thread.0.borrow_mut(&ctx);
                let values: Vec<Value<'gc>> = st.stack.drain(from..).collect();
                if ex.0.borrow().chain.len() >= MAX_RESUME_DEPTH {
                    // `lua_resume`'s `LUAI_MAXCCALLS` check: coroutines
                    // resuming coroutines without end
                    st.incoming = Incoming::Error(error_value(ctx, "C stack overflow"));
                    continue;
                }
                // `lua_resume`: the coroutine runs one C call deeper than
                // the resume (that callback's continuation is on top).
                let c_base = st.c_base.saturating_add(top_depth(&st));
                let target = if co.ptr_eq(thread) {
                    Err(ThreadMode::Running)
                } else if c_base as usize > MAX_C_CALLS {
                    Err(ThreadMode::Normal)
                } else {
                    match co.0.try_borrow_mut(&ctx) {
                        Ok(mut cs) => match cs.mode {
                            ThreadMode::Fresh | ThreadMode::Suspended
                                if !(cs.mode == ThreadMode::Suspended && cs.frames.is_empty()) =>
                            {
                                let n = values.len();
                                cs.stack.extend(values);
                                cs.incoming = Incoming::Values(n);
                                cs.mode = ThreadMode::Running;
                                cs.c_base = c_base;
                                Ok(())
                            }
                            m => Err(m),
                        },
                        Err(_) => Err(ThreadMode::Running),
                    }
                };
                match target {
                    Ok(()) => {
                        st.mode = ThreadMode::Normal;
                        drop(st);
                        ex.0.borrow_mut(&ctx).chain.push(co);
                    }
                    Err(m) => {
                        let msg = match m {
                            ThreadMode::Dead | ThreadMode::Suspended => {
                                "cannot resume dead coroutine"
                            }
                            ThreadMode::Normal if c_base as usize > MAX_C_CALLS => {
                                "C stack overflow"
                            }
                            _ => "cannot resume non-suspended coroutine",
                        };
                        st.incoming = Incoming::Error(error_value(ctx, msg));
                    }
                }
            }
        }
    }
}

/// Deepest chain of coroutines resuming one another (the main thread
/// counts): lua5.4's `LUAI_MAXCCALLS` (200) less what its `lua.c` and the
/// first call take, so the same program fails at the same depth.
const MAX_RESUME_DEPTH: usize = 198;

/// A coroutine yielded, returned or died: give the values (or the error)
/// to the thread that resumed it.
fn hand_back<'gc>(ctx: Context<'gc>, ex: Executor<'gc>, r: Result<Vec<Value<'gc>>, Error<'gc>>) {
    let mut s = ex.0.borrow_mut(&ctx);
    s.chain.pop();
    let top = *s.chain.last().expect("the main thread stays");
    let mut t = top.0.borrow_mut(&ctx);
    t.mode = ThreadMode::Running;
    match r {
        Ok(values) => {
            let n = values.len();
            t.stack.extend(values);
            t.incoming = Incoming::Values(n);
        }
        Err(e) => t.incoming = Incoming::Error(e),
    }
}

/// Whether `seq` continues a Rust function whose return lua5.4 reports
/// to a return hook: a level the debug functions see (see
/// `debug::visible`), not a VM-internal continuation (a hook's marker, a
/// message handler's, a `__close` while unwinding).
fn returns_as_function(seq: &BoxSequence<'_>) -> bool {
    !seq.0.hook_marker()
        && seq.0.culprit().is_none()
        && !matches!(seq.0.traceback_name(), Some(n) if n.is_empty() || n.starts_with('\0'))
}

/// The hook is off while it runs: on again when its marker is done.
fn hook_done(st: &mut ThreadState<'_>) {
    if let Some(h) = st.hook.as_mut() {
        h.in_hook = false;
        if std::mem::take(&mut h.rewind) {
            if let Some(Frame::Lua(f)) = st.frames.last_mut() {
                f.pc = f.pc.saturating_sub(1);
            }
        }
    }
}

/// Takes a one-shot flag of the hook state.
fn take_skip<'gc>(
    hook: &mut Option<Box<super::thread::HookState<'gc>>>,
    flag: impl for<'h> FnOnce(&'h mut super::thread::HookState<'gc>) -> &'h mut bool,
) -> bool {
    match hook.as_mut() {
        Some(h) => std::mem::take(flag(h)),
        None => false,
    }
}

/// A hook function's caller: when the hook returns, its window (empty, or
/// the arguments or results of the callback it stands for) is returned
/// to where the marker's call goes (`HookThen` runs the callback first).
#[derive(gc_arena::Collect)]
#[collect(no_drop)]
struct HookDone<'gc> {
    culprit: Option<Function<'gc>>,
    /// A call hook: the callback runs when the hook is done.
    then_call: bool,
}

impl<'gc> super::callback::Sequence<'gc> for HookDone<'gc> {
    fn traceback_name(&self) -> Option<&'static str> {
        Some("\0hook")
    }

    fn culprit(&self) -> Option<Function<'gc>> {
        self.culprit
    }

    fn hook_marker(&self) -> bool {
        true
    }

    fn yieldable(&self) -> bool {
        false
    }

    fn poll(
        &mut self,
        _ctx: Context<'gc>,
        _exec: Execution<'gc, '_>,
        _stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        match (self.then_call, self.culprit) {
            (true, Some(function)) => Ok(SequencePoll::Call {
                function,
                is_tail: true,
            }),
            _ => Ok(SequencePoll::Return),
        }
    }
}

/// Unwinding paused to run a `__close` metamethod: when it returns, the
/// error goes on (an error it raises replaces this one).
#[derive(gc_arena::Collect)]
#[collect(no_drop)]
struct CloseOnError<'gc> {
    error: Error<'gc>,
    /// A protected call of this thread catches the error: the `__close`
    /// may yield, as lua5.4's `finishpcallk` closes with yields allowed
    /// (`luaF_close(..., 1)`); with none, lua5.4 closes only when the
    /// thread is closed, where a yield is refused.
    caught: bool,
}

impl<'gc> super::callback::Sequence<'gc> for CloseOnError<'gc> {
    fn traceback_name(&self) -> Option<&'static str> {
        Some("")
    }

    fn unwinding(&self) -> bool {
        true
    }

    fn yieldable(&self) -> bool {
        self.caught
    }

    fn poll(
        &mut self,
        _ctx: Context<'gc>,
        _exec: Execution<'gc, '_>,
        _stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        Err(self.error)
    }
}

/// Where a coroutine died: the callback that raised the error, as the
/// innermost level of its stack (it is never resumed).
#[derive(gc_arena::Collect)]
#[collect(no_drop)]
struct Died<'gc> {
    culprit: Function<'gc>,
}

impl<'gc> super::callback::Sequence<'gc> for Died<'gc> {
    fn culprit(&self) -> Option<Function<'gc>> {
        Some(self.culprit)
    }

    fn poll(
        &mut self,
        ctx: Context<'gc>,
        _exec: Execution<'gc, '_>,
        _stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        Err(error_value(ctx, "cannot resume dead coroutine"))
    }
}

/// The message handler returned: its result is the error that unwinds.
#[derive(gc_arena::Collect)]
#[collect(no_drop)]
pub(crate) struct HandlerDone<'gc> {
    /// The callback that raised the error, shown as the level below the
    /// handler (`[C]: in function 'error'`).
    pub culprit: Option<Function<'gc>>,
}

/// `traceback_name` of [`HandlerDone`] (hidden from tracebacks, and how
/// nested handler calls are counted).
const HANDLER_NAME: &str = "\0handler";

impl<'gc> super::callback::Sequence<'gc> for HandlerDone<'gc> {
    fn culprit(&self) -> Option<Function<'gc>> {
        self.culprit
    }

    fn traceback_name(&self) -> Option<&'static str> {
        Some(HANDLER_NAME)
    }

    fn yieldable(&self) -> bool {
        false
    }

    fn poll(
        &mut self,
        _ctx: Context<'gc>,
        _exec: Execution<'gc, '_>,
        stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        Err(Error::from_value(stack.get(0)).handled())
    }

    fn error(
        &mut self,
        _ctx: Context<'gc>,
        _exec: Execution<'gc, '_>,
        error: Error<'gc>,
        _stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        Err(error.handled())
    }
}
