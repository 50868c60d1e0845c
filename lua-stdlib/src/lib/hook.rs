//! `debug.sethook` and `debug.gethook`: a hook per thread, called for
//! calls, returns, new lines and every `count` instructions, as
//! `ldblib.c`'s `hookf` calls it (`"call"`, `"tail call"`, `"return"`,
//! `"line"` with the line, `"count"`). The VM calls it (`Machine::call_hook`);
//! line and count hooks run a second copy of the instruction loop, so code
//! without hooks pays nothing for them.

use super::args::{check_string, opt_integer, type_error, LibResult};
use crate::vm::thread::{HookState, HOOK_CALL, HOOK_COUNT, HOOK_LINE, HOOK_RET};
use crate::{CallbackReturn, Context, Execution, Stack, Thread, Value};

pub(crate) fn db_sethook<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let (thread, arg) = super::debug::get_thread(exec, stack);
    let hook = if stack.get(arg).is_nil() {
        None
    } else {
        let smask = check_string(ctx, stack, arg + 1)?;
        let func = stack.get(arg);
        if !matches!(func, Value::Function(_)) {
            return type_error(stack, arg, "function");
        }
        let count = opt_integer(stack, arg + 2, 0)?;
        let m = smask.as_bytes();
        let mut mask = 0;
        if m.contains(&b'c') {
            mask |= HOOK_CALL;
        }
        if m.contains(&b'r') {
            mask |= HOOK_RET;
        }
        if m.contains(&b'l') {
            mask |= HOOK_LINE;
        }
        let count = u32::try_from(count.max(0)).unwrap_or(u32::MAX);
        if count > 0 {
            mask |= HOOK_COUNT;
        }
        (mask != 0).then(|| {
            Box::new(HookState {
                func,
                ..new_state(mask, count)
            })
        })
    };
    match thread {
        None => {
            let in_hook = exec.hook.as_ref().is_some_and(|h| h.in_hook);
            let mut hook = hook;
            if let Some(h) = hook.as_mut() {
                // Set from inside the hook: still inside it.
                h.in_hook = in_hook;
            }
            *exec.hook = hook;
        }
        Some(t) => {
            if let Ok(mut s) = t.0.try_borrow_mut(&ctx) {
                s.hook = hook;
            }
        }
    }
    stack.clear();
    Ok(CallbackReturn::Return)
}

/// `lua_newthread` copies the creator's hook, mask and count to the new
/// thread; ldblib keeps hook functions per thread, so the copy calls
/// nothing, and `debug.gethook(co)` answers `nil, mask, count`.
pub(crate) fn inherit<'gc>(ctx: Context<'gc>, exec: &Execution<'gc, '_>, thread: Thread<'gc>) {
    let Some(h) = exec.hook.as_ref() else {
        return;
    };
    if let Ok(mut s) = thread.0.try_borrow_mut(&ctx) {
        s.hook = Some(Box::new(new_state(h.mask, h.count)));
    }
}

/// A hook state with no function, not running.
fn new_state<'gc>(mask: u8, count: u32) -> HookState<'gc> {
    HookState {
        func: Value::Nil,
        mask,
        count,
        left: count,
        in_hook: false,
        skip_trace: false,
        line_pending: false,
        skip_return: false,
        skip_call: false,
        oldpc: 0,
        rewind: false,
    }
}

pub(crate) fn db_gethook<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let (thread, _) = super::debug::get_thread(exec, stack);
    let state = match thread {
        None => exec.hook.as_ref().map(|h| (h.func, h.mask, h.count)),
        Some(t) => {
            t.0.try_borrow()
                .ok()
                .and_then(|s| s.hook.as_ref().map(|h| (h.func, h.mask, h.count)))
        }
    };
    match state {
        None => stack.replace(ctx, Value::Nil),
        Some((func, mask, count)) => {
            let mut m = String::new();
            for (bit, c) in [(HOOK_CALL, 'c'), (HOOK_RET, 'r'), (HOOK_LINE, 'l')] {
                if mask & bit != 0 {
                    m.push(c);
                }
            }
            stack.replace(ctx, (func, m, count as i64));
        }
    }
    Ok(CallbackReturn::Return)
}

/// `ftransfer` and `ntransfer` of `getinfo(..., "r")` (values moved by
/// the call or return a hook reports: not tracked, 0).
pub(crate) fn transfer(_: &Execution<'_, '_>) -> (i64, i64) {
    (0, 0)
}
