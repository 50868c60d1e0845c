//! The `coroutine` library on piccolo threads: `create resume yield status
//! wrap close isyieldable running`, with lua5.4's statuses and messages
//! (`cannot resume dead coroutine`, errors through `wrap` positioned at the
//! caller).

use std::collections::VecDeque;

use gc_arena::{lock::RefLock, Collect, Gc, Rootable};
use piccolo::{
    BoxSequence, Callback, CallbackReturn, Context, Error, Execution, Sequence, SequencePoll,
    Stack, Table, Thread, ThreadMode, Value,
};

use super::args::{arg_fail, fail, message_error, position, set_fn, type_name_at, LibResult};
use super::base::error_value;

fn check_thread<'gc>(stack: &Stack<'gc, '_>, i: usize) -> LibResult<'gc, Thread<'gc>> {
    match stack.get(i) {
        Value::Thread(t) => Ok(t),
        _ => arg_fail(
            i,
            format!("thread expected, got {}", type_name_at(stack, i)),
        ),
    }
}

/// The status lua5.4 reports for `co`, seen from the running thread.
fn status<'gc>(exec: &Execution<'gc, '_>, co: Thread<'gc>) -> &'static str {
    if exec.current_thread().thread == co {
        return "running";
    }
    match co.mode() {
        ThreadMode::Suspended => "suspended",
        ThreadMode::Stopped | ThreadMode::Result => "dead",
        ThreadMode::Running => "running",
        ThreadMode::Normal | ThreadMode::Waiting => "normal",
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
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let f = match stack.get(0) {
        Value::Function(f) => f,
        _ => {
            return arg_fail(
                0,
                format!("function expected, got {}", type_name_at(stack, 0)),
            )
        }
    };
    let thread = Thread::new(ctx);
    thread
        .start_suspended(&ctx, f)
        .map_err(|e| super::args::LibError::Msg(e.to_string()))?;
    stack.replace(ctx, thread);
    Ok(CallbackReturn::Return)
}

/// How many coroutines that died by an error keep their error for
/// `coroutine.close` (piccolo keeps nothing on a dead thread; a bounded
/// list keeps abandoned coroutines from piling up in a long-lived VM).
const DEAD_KEPT: usize = 64;

/// Coroutines that died by an error, with the error, newest last.
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
struct DiedByError<'gc>(Gc<'gc, RefLock<VecDeque<(Thread<'gc>, Value<'gc>)>>>);

impl<'gc> piccolo::Singleton<'gc> for DiedByError<'gc> {
    fn create(ctx: Context<'gc>) -> Self {
        DiedByError(Gc::new(&ctx, RefLock::new(VecDeque::new())))
    }
}

fn remember_error<'gc>(ctx: Context<'gc>, thread: Thread<'gc>, error: Value<'gc>) {
    let dead = ctx.singleton::<Rootable![DiedByError<'_>]>().0;
    let mut dead = dead.borrow_mut(&ctx);
    if dead.len() >= DEAD_KEPT {
        dead.pop_front();
    }
    dead.push_back((thread, error));
}

fn take_error<'gc>(ctx: Context<'gc>, thread: Thread<'gc>) -> Option<Value<'gc>> {
    let dead = ctx.singleton::<Rootable![DiedByError<'_>]>().0;
    let mut dead = dead.borrow_mut(&ctx);
    let i = dead.iter().position(|(t, _)| *t == thread)?;
    dead.remove(i).map(|(_, e)| e)
}

/// `resume`'s continuation: `true, results` or `false, error`.
#[derive(Collect)]
#[collect(no_drop)]
struct ResumeResult<'gc>(Thread<'gc>);

impl<'gc> Sequence<'gc> for ResumeResult<'gc> {
    fn poll(
        &mut self,
        _: Context<'gc>,
        _: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        stack.push_front(Value::Boolean(true));
        Ok(SequencePoll::Return)
    }

    fn error(
        &mut self,
        ctx: Context<'gc>,
        _: Execution<'gc, '_>,
        error: Error<'gc>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        let error = error_value(ctx, error);
        remember_error(ctx, self.0, error);
        stack.replace(ctx, (false, error));
        Ok(SequencePoll::Return)
    }
}

fn co_resume<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let thread = check_thread(stack, 0)?;
    if let Some(problem) = resume_problem(exec, thread) {
        stack.replace(ctx, (false, problem));
        return Ok(CallbackReturn::Return);
    }
    stack.pop_front();
    Ok(CallbackReturn::Resume {
        thread,
        then: Some(BoxSequence::new(&ctx, ResumeResult(thread))),
    })
}

fn co_yield<'gc>(
    _: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    _: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    if exec.current_thread().is_main {
        return fail("attempt to yield from outside a coroutine");
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
    let thread = check_thread(stack, 0)?;
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
    let yieldable = match stack.get(0) {
        Value::Thread(t) => t != exec.current_thread().thread || !exec.current_thread().is_main,
        _ => !exec.current_thread().is_main,
    };
    stack.replace(ctx, yieldable);
    Ok(CallbackReturn::Return)
}

fn co_close<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let thread = check_thread(stack, 0)?;
    match status(exec, thread) {
        "suspended" | "dead" => {
            let _ = thread.reset(&ctx);
            // A coroutine that died by an error reports it once.
            match take_error(ctx, thread) {
                Some(error) => stack.replace(ctx, (false, error)),
                None => stack.replace(ctx, true),
            }
            Ok(CallbackReturn::Return)
        }
        other => fail(format!("cannot close a {other} coroutine")),
    }
}

/// `wrap`'s continuation: results pass through; a string error gets the
/// caller's position, as lua5.4's `auxwrap` adds it.
#[derive(Collect)]
#[collect(no_drop)]
struct WrapResult<'gc>(Thread<'gc>);

impl<'gc> Sequence<'gc> for WrapResult<'gc> {
    fn poll(
        &mut self,
        _: Context<'gc>,
        _: Execution<'gc, '_>,
        _: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        Ok(SequencePoll::Return)
    }

    fn error(
        &mut self,
        ctx: Context<'gc>,
        exec: Execution<'gc, '_>,
        error: Error<'gc>,
        _: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        let error = error_value(ctx, error);
        remember_error(ctx, self.0, error);
        match error {
            Value::String(s) => {
                let mut msg = position(&exec).into_bytes();
                msg.extend_from_slice(s.as_bytes());
                Err(Error::from_value(Value::String(ctx.intern(&msg))))
            }
            v => Err(Error::from_value(v)),
        }
    }
}

fn co_wrap<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    co_create(ctx, exec, stack)?;
    let Value::Thread(thread) = stack.get(0) else {
        return fail("coroutine.wrap: no thread");
    };
    let wrapper = Callback::from_fn_with(&ctx, thread, |thread, ctx, exec, _| {
        if let Some(problem) = resume_problem(&exec, *thread) {
            let msg = format!("{}{problem}", position(&exec));
            return Err(message_error(ctx, &msg));
        }
        Ok(CallbackReturn::Resume {
            thread: *thread,
            then: Some(BoxSequence::new(&ctx, WrapResult(*thread))),
        })
    });
    stack.replace(ctx, wrapper);
    Ok(CallbackReturn::Return)
}

/// Builds the `coroutine` table.
pub fn load_coroutine<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    let co = Table::new(&ctx);
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
