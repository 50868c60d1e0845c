//! The `coroutine` library on the VM's threads: `create resume yield
//! status wrap close isyieldable running`, with lua5.4's statuses and
//! messages (`cannot resume dead coroutine`, errors through `wrap`
//! positioned at the caller).

use gc_arena::Collect;

use super::args::{
    check_function, fail, message_error, position, set_fn, type_error, LibError, LibResult,
};
use crate::{
    BoxSequence, Callback, CallbackReturn, Context, Error, Execution, Handler, Sequence,
    SequencePoll, Stack, Table, Thread, ThreadMode, Value,
};

fn check_co<'gc>(stack: &Stack<'gc, '_>, i: usize) -> LibResult<'gc, Thread<'gc>> {
    match stack.get(i) {
        Value::Thread(t) => Ok(t),
        // lua5.4.4's wording (5.4.6 says "coroutine").
        _ => type_error(stack, i, "thread"),
    }
}

/// The status lua5.4 reports for `co`, seen from the running thread.
fn status<'gc>(exec: &Execution<'gc, '_>, co: Thread<'gc>) -> &'static str {
    if exec.current_thread().thread.ptr_eq(co) {
        return "running";
    }
    match co.mode() {
        ThreadMode::Fresh | ThreadMode::Suspended => "suspended",
        ThreadMode::Running => "running",
        ThreadMode::Normal => "normal",
        ThreadMode::Dead => "dead",
    }
}

/// Why `co` cannot be resumed now, if it cannot.
fn resume_problem<'gc>(exec: &Execution<'gc, '_>, co: Thread<'gc>) -> Option<&'static str> {
    match status(exec, co) {
        "suspended" => None,
        "dead" => Some("cannot resume dead coroutine"),
        _ => Some("cannot resume non-suspended coroutine"),
    }
}

fn co_create<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let f = check_function(stack, 0)?;
    let thread = Thread::with_function(&ctx, f);
    super::hook::inherit(ctx, exec, thread);
    stack.replace(ctx, thread);
    Ok(CallbackReturn::Return)
}

fn co_resume<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let thread = check_co(stack, 0)?;
    if let Some(problem) = resume_problem(exec, thread) {
        stack.replace(ctx, (false, problem));
        return Ok(CallbackReturn::Return);
    }
    stack.pop_front();
    Ok(CallbackReturn::Resume {
        thread,
        then: Some(BoxSequence::new(&ctx, super::base::ProtectedCall::resume())),
    })
}

fn co_yield<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    _: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    if exec.current_thread().is_main {
        // `lua_yieldk`'s `luaG_runerror`, raised while the running frame
        // is `yield` itself (a C function): no position, even when Lua
        // code called it.
        return Err(LibError::Raw(message_error(
            ctx,
            "attempt to yield from outside a coroutine",
        )));
    }
    Ok(CallbackReturn::Yield {
        to_thread: None,
        then: None,
    })
}

fn co_status<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let thread = check_co(stack, 0)?;
    stack.replace(ctx, status(exec, thread));
    Ok(CallbackReturn::Return)
}

fn co_running<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let current = exec.current_thread();
    stack.replace(ctx, (current.thread, current.is_main));
    Ok(CallbackReturn::Return)
}

fn co_isyieldable<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let current = exec.current_thread();
    let yieldable = match stack.get(0) {
        Value::Thread(t) if !t.ptr_eq(current.thread) => {
            // `lua_isyieldable` of another thread: its own count of
            // non-yieldable calls. Only a normal coroutine (one that
            // resumed the running one) can be inside such a call (a sort
            // comparator, a gsub replacement); suspended and dead ones left
            // theirs (lua_resume restores the count), and a main thread
            // never yields.
            !t.ptr_eq(exec.executor().main_thread())
                && (t.mode() != ThreadMode::Normal
                    || t.0
                        .try_borrow()
                        .map_or(true, |st| crate::vm::callback::frames_yieldable(&st.frames)))
        }
        // The running coroutine: not across a non-yieldable call
        // (`lua_isyieldable`).
        Value::Nil | Value::Thread(_) => exec.is_yieldable(),
        _ => return type_error(stack, 0, "thread"),
    };
    stack.replace(ctx, yieldable);
    Ok(CallbackReturn::Return)
}

fn co_close<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let thread = check_co(stack, 0)?;
    match status(exec, thread) {
        "suspended" | "dead" => {
            // A coroutine that died by an error reports it, once.
            let death = thread.death();
            let pending = thread.take_pending_close(&ctx).unwrap_or_default();
            if pending.is_empty() {
                match death {
                    Some(error) => stack.replace(ctx, (false, error.value())),
                    None => stack.replace(ctx, true),
                }
                return Ok(CallbackReturn::Return);
            }
            start_closing(ctx, thread, pending, death.map(|e| e.value()), stack);
            Ok(CallbackReturn::Resume { thread, then: None })
        }
        other => fail(format!("cannot close a {other} coroutine")),
    }
}

/// Makes `thread` (just reset by [`Thread::take_pending_close`]) run the
/// `__close` metamethods of `pending` when it is resumed with what is left
/// on `stack`: on the coroutine itself (inside them it is the running
/// coroutine), innermost first, each getting the error of the one before
/// (the first: `error`, the one the coroutine died with).
fn start_closing<'gc>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    pending: Vec<Value<'gc>>,
    error: Option<Value<'gc>>,
    stack: &mut Stack<'gc, '_>,
) {
    let closer = Callback::from_fn_with(&ctx, error, |&error, ctx, _, mut stack| {
        let values = stack.drain(..).collect();
        Ok(CallbackReturn::Sequence(BoxSequence::new(
            &ctx,
            CloseAll {
                values,
                next: 0,
                error,
            },
        )))
    });
    thread.restart_with(&ctx, closer.into());
    stack.clear();
    for v in pending {
        stack.push_back(v);
    }
}

/// `lua_closethread`'s loop over a coroutine's pending to-be-closed
/// values: `true`, or `false` and the last error a `__close` raised.
#[derive(Collect)]
#[collect(no_drop)]
struct CloseAll<'gc> {
    values: Vec<Value<'gc>>,
    next: usize,
    error: Option<Value<'gc>>,
}

impl<'gc> CloseAll<'gc> {
    fn advance(
        &mut self,
        ctx: Context<'gc>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        stack.clear();
        while let Some(&v) = self.values.get(self.next) {
            self.next += 1;
            match crate::meta::event(ctx, v, crate::vm::meta::CLOSE) {
                Value::Nil => {}
                Value::Function(function) => {
                    stack.push_back(v);
                    stack.push_back(self.error.unwrap_or(Value::Nil));
                    return Ok(SequencePoll::Call {
                        function,
                        is_tail: false,
                    });
                }
                tm => {
                    let msg = format!("attempt to call a {} value", tm.type_name());
                    self.error = Some(Value::String(ctx.intern(msg.as_bytes())));
                }
            }
        }
        match self.error {
            Some(e) => stack.replace(ctx, (false, e)),
            None => stack.replace(ctx, true),
        }
        Ok(SequencePoll::Return)
    }
}

impl<'gc> Sequence<'gc> for CloseAll<'gc> {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        _: Execution<'gc, '_>,
        stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        self.advance(ctx, stack)
    }

    fn error(
        &mut self,
        ctx: Context<'gc>,
        _: Execution<'gc, '_>,
        error: Error<'gc>,
        stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        self.error = Some(error.value());
        self.advance(ctx, stack)
    }

    fn handler(&self) -> Handler<'gc> {
        Handler::Catch
    }

    fn traceback_name(&self) -> Option<&'static str> {
        Some("")
    }

    fn yieldable(&self) -> bool {
        false
    }
}

/// `wrap`'s continuation: results pass through; a coroutine that died by
/// an error is closed first (its pending `__close` metamethods run, and an
/// error they raise replaces the first), as lua5.4's `auxwrap` calls
/// `lua_closethread`; a string error gets the caller's position.
#[derive(Collect)]
#[collect(no_drop)]
struct WrapResult<'gc> {
    thread: Thread<'gc>,
    /// The coroutine runs its pending `__close` metamethods: the results
    /// are `false` and the error to raise.
    closing: bool,
}

impl<'gc> WrapResult<'gc> {
    fn raise(
        ctx: Context<'gc>,
        exec: &Execution<'gc, '_>,
        error: Error<'gc>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        match error.value() {
            Value::String(s) if s.as_bytes() != b"not enough memory" => {
                let mut msg = position(exec).into_bytes();
                msg.extend_from_slice(s.as_bytes());
                Err(Error::from_value(Value::String(ctx.intern(&msg))))
            }
            _ => Err(error),
        }
    }
}

impl<'gc> Sequence<'gc> for WrapResult<'gc> {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        exec: Execution<'gc, '_>,
        stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        if self.closing {
            return Self::raise(ctx, &exec, Error::from_value(stack.get(1)));
        }
        Ok(SequencePoll::Return)
    }

    fn error(
        &mut self,
        ctx: Context<'gc>,
        exec: Execution<'gc, '_>,
        error: Error<'gc>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        if !self.closing && self.thread.mode() == ThreadMode::Dead {
            let pending = self.thread.take_pending_close(&ctx).unwrap_or_default();
            if !pending.is_empty() {
                start_closing(ctx, self.thread, pending, Some(error.value()), &mut stack);
                self.closing = true;
                return Ok(SequencePoll::Resume {
                    thread: self.thread,
                    is_tail: false,
                });
            }
        }
        Self::raise(ctx, &exec, error)
    }
}

fn co_wrap<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let f = check_function(stack, 0)?;
    let thread = Thread::with_function(&ctx, f);
    super::hook::inherit(ctx, exec, thread);
    // lua5.4's wrapper is a C closure over the coroutine: the debug
    // library sees that one upvalue (`getinfo(f, "u").nups` is 1).
    let upvalues = [Value::Thread(thread)];
    let wrapper =
        Callback::from_fn_with_upvalues(&ctx, thread, &upvalues, |thread, ctx, exec, _| {
            if let Some(problem) = resume_problem(&exec, *thread) {
                return Err(LibError::Msg(problem.to_string()).into_error(ctx, &exec, "wrap"));
            }
            Ok(CallbackReturn::Resume {
                thread: *thread,
                then: Some(BoxSequence::new(
                    &ctx,
                    WrapResult {
                        thread: *thread,
                        closing: false,
                    },
                )),
            })
        });
    stack.replace(ctx, wrapper);
    Ok(CallbackReturn::Return)
}

/// Builds the `coroutine` table.
pub fn load_coroutine<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    let co = ctx.new_table();
    set_fn(ctx, co, "coroutine.create", co_create);
    set_fn(ctx, co, "coroutine.resume", co_resume);
    set_fn(ctx, co, "coroutine.yield", co_yield);
    set_fn(ctx, co, "coroutine.status", co_status);
    set_fn(ctx, co, "coroutine.running", co_running);
    set_fn(ctx, co, "coroutine.isyieldable", co_isyieldable);
    set_fn(ctx, co, "coroutine.close", co_close);
    set_fn(ctx, co, "coroutine.wrap", co_wrap);
    co
}
