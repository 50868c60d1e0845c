//! A minimal `debug` library for the command-line runner (`Full` profile):
//! enough for scripts and test suites that `require "debug"` to load.
//! piccolo 0.3.3 exposes no call stack, locals or hooks, so `traceback`
//! returns the message, `getinfo` answers with placeholders, and the hook
//! and local/upvalue functions do nothing.

use piccolo::{CallbackReturn, Context, Execution, Stack, Table, Value};

use super::args::{arg_fail, set_fn, type_name_at, LibResult};
use super::base::metatable_of;

fn debug_traceback<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let msg = match stack.get(0) {
        Value::Thread(_) => stack.get(1),
        v => v,
    };
    let result = match msg {
        Value::String(s) => {
            let mut out = s.as_bytes().to_vec();
            out.extend_from_slice(b"\nstack traceback:\n\t[C]: in ?");
            Value::String(ctx.intern(&out))
        }
        Value::Nil => Value::String(ctx.intern(b"stack traceback:\n\t[C]: in ?")),
        v => v,
    };
    stack.replace(ctx, result);
    Ok(CallbackReturn::Return)
}

fn debug_getinfo<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let target = match stack.get(0) {
        Value::Thread(_) => stack.get(1),
        v => v,
    };
    let info = Table::new(&ctx);
    let set = |k: &'static str, v: Value<'gc>| {
        let _ = info.set(ctx, k, v);
    };
    let (source, line) = match exec.upper_lua_frame() {
        Some(frame) => (
            Value::String(frame.chunk_name),
            format!("{}", frame.current_line)
                .parse::<i64>()
                .unwrap_or(-1),
        ),
        None => (Value::String(ctx.intern(b"=[C]")), -1),
    };
    match target {
        Value::Function(_) => {
            set("func", target);
            set("currentline", Value::Integer(-1));
            set("what", Value::String(ctx.intern(b"Lua")));
        }
        Value::Integer(_) | Value::Number(_) => {
            set("currentline", Value::Integer(line));
            set("what", Value::String(ctx.intern(b"main")));
        }
        _ => {
            return arg_fail(
                0,
                format!("function or level expected, got {}", type_name_at(stack, 0)),
            )
        }
    }
    set("source", source);
    set("short_src", source);
    set("linedefined", Value::Integer(-1));
    set("lastlinedefined", Value::Integer(-1));
    set("nups", Value::Integer(0));
    set("nparams", Value::Integer(0));
    set("isvararg", Value::Boolean(true));
    set("istailcall", Value::Boolean(false));
    set("namewhat", Value::String(ctx.intern(b"")));
    stack.replace(ctx, info);
    Ok(CallbackReturn::Return)
}

fn debug_nothing<'gc>(
    _: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    stack.clear();
    Ok(CallbackReturn::Return)
}

fn debug_getmetatable<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let mt = metatable_of(ctx, stack.get(0));
    stack.replace(ctx, mt);
    Ok(CallbackReturn::Return)
}

fn debug_setmetatable<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let mt = match stack.get(1) {
        Value::Table(t) => Some(t),
        Value::Nil => None,
        _ => {
            return arg_fail(
                1,
                format!("nil or table expected, got {}", type_name_at(stack, 1)),
            )
        }
    };
    match stack.get(0) {
        Value::Table(t) => {
            t.set_metatable(&ctx, mt);
        }
        Value::UserData(u) => {
            u.set_metatable(&ctx, mt);
        }
        _ => {}
    }
    stack.resize(1);
    Ok(CallbackReturn::Return)
}

/// Builds the `debug` table.
pub fn load_debug<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    let debug = Table::new(&ctx);
    set_fn(ctx, debug, "debug.traceback", debug_traceback);
    set_fn(ctx, debug, "debug.getinfo", debug_getinfo);
    set_fn(ctx, debug, "debug.getmetatable", debug_getmetatable);
    set_fn(ctx, debug, "debug.setmetatable", debug_setmetatable);
    for name in [
        "debug.sethook",
        "debug.gethook",
        "debug.getlocal",
        "debug.setlocal",
        "debug.getupvalue",
        "debug.setupvalue",
        "debug.upvalueid",
        "debug.upvaluejoin",
        "debug.getuservalue",
        "debug.setuservalue",
        "debug.setcstacklimit",
    ] {
        set_fn(ctx, debug, name, debug_nothing);
    }
    let _ = debug.set(ctx, "getregistry", Value::Nil);
    debug
}
