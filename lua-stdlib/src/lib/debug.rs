//! The `debug` library as lua5.4's `ldblib.c` has it: `getinfo` (options
//! `S l n u f t r L`, on functions and stack levels, names as
//! `funcnamefromcode` gives them), `getlocal`/`setlocal` (varargs at
//! negative indices, parameter names of a function value),
//! `getupvalue`/`setupvalue`/`upvalueid`/`upvaluejoin`,
//! `getmetatable`/`setmetatable` on any type, `getregistry`,
//! `getuservalue`/`setuservalue`, `sethook`/`gethook` and `traceback`.
//!
//! Only the command-line profile gets it: the gateway's sandbox keeps
//! `debug` out (it reads and writes any function's locals and upvalues).
//!
//! Stack levels come from [`crate::vm::debug::StackView`]: level 0 is the
//! running debug function, 1 its caller; on another coroutine, level 0 is
//! where it stopped.

use super::args::{
    arg_fail, check_any, check_integer, fail, opt_integer, set_fn, type_error, LibResult,
};
use crate::vm::closure::UpvalState;
use crate::vm::debug::{function_info, Level, StackView};
use crate::vm::thread::Frame;
use crate::{CallbackReturn, Context, Execution, Function, Stack, Table, Thread, Value};

/// Loads the library into a new table.
pub fn load_debug<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    let t = ctx.new_table();
    let fns: [(&'static str, super::args::LibFn); 16] = [
        ("debug.getinfo", db_getinfo),
        ("debug.getlocal", db_getlocal),
        ("debug.setlocal", db_setlocal),
        ("debug.getupvalue", db_getupvalue),
        ("debug.setupvalue", db_setupvalue),
        ("debug.upvalueid", db_upvalueid),
        ("debug.upvaluejoin", db_upvaluejoin),
        ("debug.getmetatable", db_getmetatable),
        ("debug.setmetatable", db_setmetatable),
        ("debug.getregistry", db_getregistry),
        ("debug.getuservalue", db_getuservalue),
        ("debug.setuservalue", db_setuservalue),
        ("debug.sethook", super::hook::db_sethook),
        ("debug.gethook", super::hook::db_gethook),
        ("debug.traceback", db_traceback),
        ("debug.setcstacklimit", db_setcstacklimit),
    ];
    for (name, f) in fns {
        set_fn(ctx, t, name, f);
    }
    t
}

/// `getthread`: the thread argument (when the first argument is one) and
/// how many arguments it took. The running thread counts as none given.
pub(crate) fn get_thread<'gc>(
    exec: &Execution<'gc, '_>,
    stack: &Stack<'gc, '_>,
) -> (Option<Thread<'gc>>, usize) {
    match stack.get(0) {
        Value::Thread(t) if t.ptr_eq(exec.current_thread().thread) => (None, 1),
        Value::Thread(t) => (Some(t), 1),
        _ => (None, 0),
    }
}

/// Runs `f` on the stack view of `thread` (the running one when `None`).
fn with_view<'gc, R>(
    exec: &Execution<'gc, '_>,
    stack: &Stack<'gc, '_>,
    thread: Option<Thread<'gc>>,
    f: impl FnOnce(&StackView<'_, 'gc>) -> R,
) -> R {
    match thread {
        None => f(&exec.stack_view(stack)),
        Some(t) => match t.0.try_borrow() {
            Ok(s) => f(&StackView {
                frames: &s.frames,
                stack: &s.stack,
                running: None,
            }),
            Err(_) => f(&StackView {
                frames: &[],
                stack: &[],
                running: None,
            }),
        },
    }
}

/// A level number as `lua_getstack` takes it (negative: none).
fn level_of(view: &StackView<'_, '_>, n: i64) -> Option<Level> {
    usize::try_from(n).ok().and_then(|n| view.level(n))
}

fn db_getinfo<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let (thread, arg) = get_thread(exec, stack);
    let options = match stack.get(arg + 1) {
        Value::Nil => "flnSrtu".to_string(),
        _ => super::args::check_string(ctx, stack, arg + 1)?.to_string(),
    };
    if options.starts_with('>') {
        return arg_fail(arg + 1, "invalid option '>'");
    }
    if !options.chars().all(|c| "SlnrutLf".contains(c)) {
        return arg_fail(arg + 1, "invalid option");
    }
    let target = stack.get(arg);
    let (info, lines) = if let Value::Function(f) = target {
        (function_info(f), active_lines(f))
    } else {
        let n = check_integer(stack, arg)?;
        let found = with_view(exec, stack, thread, |view| {
            level_of(view, n).map(|l| {
                let info = view.info(l);
                let lines = info.function.and_then(active_lines);
                (info, lines)
            })
        });
        match found {
            Some(x) => x,
            None => {
                stack.replace(ctx, Value::Nil);
                return Ok(CallbackReturn::Return);
            }
        }
    };
    let t = ctx.new_table();
    let set = |k: &str, v: Value<'gc>| {
        let _ = t.set(ctx, k, v);
    };
    let s = |x: &str| Value::String(ctx.intern(x.as_bytes()));
    if options.contains('S') {
        set("source", s(&info.source));
        set("short_src", s(&info.short_src));
        set("linedefined", Value::Integer(info.line_defined));
        set("lastlinedefined", Value::Integer(info.last_line_defined));
        set("what", s(info.what));
    }
    if options.contains('l') {
        set("currentline", Value::Integer(info.current_line));
    }
    if options.contains('u') {
        set("nups", Value::Integer(info.nups as i64));
        set("nparams", Value::Integer(info.nparams as i64));
        set("isvararg", Value::Boolean(info.is_vararg));
    }
    if options.contains('n') {
        match &info.name {
            Some((kind, name)) => {
                set("name", s(name));
                set("namewhat", s(kind));
            }
            None => set("namewhat", s("")),
        }
    }
    if options.contains('r') {
        let (first, n) = super::hook::transfer(exec);
        set("ftransfer", Value::Integer(first));
        set("ntransfer", Value::Integer(n));
    }
    if options.contains('t') {
        set("istailcall", Value::Boolean(info.is_tail_call));
    }
    if options.contains('L') {
        if let Some(lines) = lines {
            let l = ctx.new_table();
            for line in lines {
                let _ = l.set(ctx, Value::Integer(line as i64), Value::Boolean(true));
            }
            set("activelines", Value::Table(l));
        }
    }
    if options.contains('f') {
        if let Some(f) = info.function {
            set("func", Value::Function(f));
        }
    }
    stack.replace(ctx, t);
    Ok(CallbackReturn::Return)
}

/// `collectvalidlines`: the lines with code (a vararg function's first
/// instruction, `VARARGPREP`, does not count); `None` for Rust functions.
fn active_lines(f: Function<'_>) -> Option<Vec<u32>> {
    let Function::Closure(c) = f else {
        return None;
    };
    let p = c.proto();
    let skip = usize::from(p.is_vararg);
    Some(p.lines.iter().skip(skip).copied().collect())
}

/// Where local `n` of `level` lives and its name (`luaG_findlocal`).
fn find_local(view: &StackView<'_, '_>, level: Level, n: i64) -> Option<(usize, String)> {
    let (frame_base, limit, lua) = match level {
        Level::Running(slot) => (slot + 1, view.stack.len(), None),
        Level::Frame(i) => {
            let limit = match view.frames.get(i + 1) {
                Some(Frame::Lua(f)) => f.ret.func,
                Some(Frame::Sequence { base, .. }) => base.saturating_sub(1),
                Some(Frame::Await { ret }) => ret.func,
                None => match view.running {
                    Some(slot) => slot,
                    None => view.stack.len(),
                },
            };
            match &view.frames[i] {
                Frame::Lua(f) => (f.base, limit, Some(f)),
                Frame::Sequence { base, .. } => (*base, limit, None),
                Frame::Await { ret } => (ret.func + 1, limit, None),
            }
        }
    };
    if let Some(f) = lua {
        let p = f.closure.proto();
        if n < 0 {
            let k = n.unsigned_abs() as usize;
            if p.is_vararg && k <= f.nvarargs {
                return Some((f.base - 1 - f.nvarargs + (k - 1), "(vararg)".into()));
            }
            return None;
        }
        let pc = f.pc.saturating_sub(1);
        if let Some(name) = crate::vm::debug::local_name(p, n as usize, pc) {
            return Some((
                f.base + n as usize - 1,
                String::from_utf8_lossy(name).into_owned(),
            ));
        }
    }
    if n > 0 && limit.saturating_sub(frame_base) >= n as usize {
        let name = if lua.is_some() {
            "(temporary)"
        } else {
            "(C temporary)"
        };
        return Some((frame_base + n as usize - 1, name.into()));
    }
    None
}

fn db_getlocal<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let (thread, arg) = get_thread(exec, stack);
    let n = check_integer(stack, arg + 1)?;
    if let Value::Function(f) = stack.get(arg) {
        let name = match f {
            Function::Closure(c) if n > 0 => {
                crate::vm::debug::local_name(c.proto(), n as usize, 0).map(|s| s.to_vec())
            }
            _ => None,
        };
        match name {
            Some(name) => stack.replace(ctx, Value::String(ctx.intern(&name))),
            None => stack.replace(ctx, Value::Nil),
        }
        return Ok(CallbackReturn::Return);
    }
    let level = check_integer(stack, arg)?;
    let found = with_view(exec, stack, thread, |view| {
        let l = level_of(view, level)?;
        Some(find_local(view, l, n).map(|(idx, name)| {
            let v = view.stack.get(idx).copied().unwrap_or(Value::Nil);
            (name, v)
        }))
    });
    match found {
        None => arg_fail(arg, "level out of range"),
        Some(Some((name, v))) => {
            stack.replace(ctx, (name, v));
            Ok(CallbackReturn::Return)
        }
        Some(None) => {
            stack.replace(ctx, Value::Nil);
            Ok(CallbackReturn::Return)
        }
    }
}

fn db_setlocal<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let (thread, arg) = get_thread(exec, stack);
    let level = check_integer(stack, arg)?;
    let n = check_integer(stack, arg + 1)?;
    let found = with_view(exec, stack, thread, |view| {
        level_of(view, level).map(|l| find_local(view, l, n))
    });
    let Some(found) = found else {
        return arg_fail(arg, "level out of range");
    };
    let v = check_any(stack, arg + 2)?;
    let name = match found {
        Some((idx, name)) => {
            match thread {
                None => {
                    let (values, _) = stack.thread_values();
                    if let Some(slot) = values.get_mut(idx) {
                        *slot = v;
                    }
                }
                Some(t) => {
                    if let Ok(mut s) = t.0.try_borrow_mut(&ctx) {
                        if let Some(slot) = s.stack.get_mut(idx) {
                            *slot = v;
                        }
                    }
                }
            }
            Value::String(ctx.intern(name.as_bytes()))
        }
        None => Value::Nil,
    };
    stack.replace(ctx, name);
    Ok(CallbackReturn::Return)
}

/// Upvalue `n` (1-based) of a function, when it has one: a Lua
/// closure's (an index into its upvalues), or one of the upvalues a
/// callback shows for lua5.4's C closure.
#[derive(Copy, Clone)]
enum Upvalue<'gc> {
    Lua(crate::Closure<'gc>, usize),
    C(crate::Callback<'gc>, usize),
}

fn upvalue_at(f: Function<'_>, n: i64) -> Option<Upvalue<'_>> {
    let i = usize::try_from(n).ok()?.checked_sub(1)?;
    match f {
        Function::Closure(c) => (i < c.state().upvalues().len()).then_some(Upvalue::Lua(c, i)),
        Function::Callback(cb) => (i < cb.upvalues().len()).then_some(Upvalue::C(cb, i)),
    }
}

/// The name lua5.4 gives an upvalue (`aux_upvalue`): a C closure's are
/// all `""`, a stripped Lua function's `(no name)`.
fn upvalue_name(up: Upvalue<'_>) -> String {
    match up {
        Upvalue::C(..) => String::new(),
        Upvalue::Lua(c, i) => match c.proto().upvalues.get(i) {
            Some(d) if !d.name.is_empty() => String::from_utf8_lossy(&d.name).into_owned(),
            _ => "(no name)".into(),
        },
    }
}

/// The value of an upvalue: closed, or in a thread's stack slot (the
/// running thread's through `stack`).
fn read_upval<'gc>(
    exec: &Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
    up: crate::vm::closure::UpVal<'gc>,
) -> Value<'gc> {
    match up.get() {
        UpvalState::Closed(v) => v,
        UpvalState::Open { thread, index } => {
            if thread.ptr_eq(exec.current_thread().thread) {
                stack
                    .thread_values()
                    .0
                    .get(index)
                    .copied()
                    .unwrap_or(Value::Nil)
            } else {
                thread
                    .0
                    .try_borrow()
                    .ok()
                    .and_then(|s| s.stack.get(index).copied())
                    .unwrap_or(Value::Nil)
            }
        }
    }
}

fn write_upval<'gc>(
    ctx: Context<'gc>,
    exec: &Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
    up: crate::vm::closure::UpVal<'gc>,
    v: Value<'gc>,
) {
    match up.get() {
        UpvalState::Closed(_) => up.unlock(&ctx).set(UpvalState::Closed(v)),
        UpvalState::Open { thread, index } => {
            if thread.ptr_eq(exec.current_thread().thread) {
                if let Some(slot) = stack.thread_values().0.get_mut(index) {
                    *slot = v;
                }
            } else if let Ok(mut s) = thread.0.try_borrow_mut(&ctx) {
                if let Some(slot) = s.stack.get_mut(index) {
                    *slot = v;
                }
            }
        }
    }
}

fn check_function_at<'gc>(stack: &Stack<'gc, '_>, i: usize) -> LibResult<'gc, Function<'gc>> {
    match stack.get(i) {
        Value::Function(f) => Ok(f),
        _ => type_error(stack, i, "function"),
    }
}

fn db_getupvalue<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let n = check_integer(stack, 1)?;
    let f = check_function_at(stack, 0)?;
    let Some(up) = upvalue_at(f, n) else {
        stack.clear();
        return Ok(CallbackReturn::Return);
    };
    let v = match up {
        Upvalue::Lua(c, i) => read_upval(exec, stack, c.state().upvalues()[i].get()),
        Upvalue::C(cb, i) => cb.upvalues()[i].get(),
    };
    stack.replace(ctx, (upvalue_name(up), v));
    Ok(CallbackReturn::Return)
}

fn db_setupvalue<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let v = check_any(stack, 2)?;
    let n = check_integer(stack, 1)?;
    let f = check_function_at(stack, 0)?;
    let Some(up) = upvalue_at(f, n) else {
        stack.clear();
        return Ok(CallbackReturn::Return);
    };
    match up {
        Upvalue::Lua(c, i) => write_upval(ctx, exec, stack, c.state().upvalues()[i].get(), v),
        Upvalue::C(cb, i) => cb.set_upvalue(&ctx, i, v),
    }
    stack.replace(ctx, upvalue_name(up));
    Ok(CallbackReturn::Return)
}

/// `checkupval`: upvalue `n` (argument `argnup`) of the function at
/// `argf`, if it exists.
fn check_upval<'gc>(
    stack: &Stack<'gc, '_>,
    argf: usize,
    argnup: usize,
) -> LibResult<'gc, Option<Upvalue<'gc>>> {
    let n = check_integer(stack, argnup)?;
    let f = check_function_at(stack, argf)?;
    Ok(upvalue_at(f, n))
}

fn db_upvalueid<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let id = match check_upval(stack, 0, 1)? {
        None => Value::Nil,
        Some(Upvalue::Lua(c, i)) => upvalue_id(
            ctx,
            gc_arena::Gc::as_ptr(c.state().upvalues()[i].get()) as usize,
        ),
        // lua5.4's id of a C closure's upvalue is its slot's address.
        Some(Upvalue::C(cb, i)) => upvalue_id(ctx, &cb.upvalues()[i] as *const _ as usize),
    };
    stack.replace(ctx, id);
    Ok(CallbackReturn::Return)
}

/// An upvalue's identity as a value: lua5.4 answers a light userdata (the
/// address of the upvalue, `addr` here); ours is a userdata holding the
/// address, one per address while it is alive (a registry table with weak
/// values), so ids of one upvalue are equal and unused ones are collected.
fn upvalue_id(ctx: Context<'_>, addr: usize) -> Value<'_> {
    let key = Value::Integer(addr as i64);
    let ids = match ctx.registry().get(ctx, "_UPVALUEIDS") {
        Value::Table(t) => t,
        _ => {
            let t = ctx.new_table();
            let mt = ctx.new_table();
            let _ = mt.set(ctx, "__mode", "v");
            let _ = t.set_metatable(&ctx, Some(mt));
            let _ = ctx.registry().set(ctx, "_UPVALUEIDS", t);
            t
        }
    };
    match ids.get(ctx, key) {
        Value::Nil => {
            let u = Value::UserData(crate::UserData::new_static(
                &ctx,
                super::args::LightUserData(addr),
            ));
            let _ = ids.set(ctx, key, u);
            u
        }
        u => u,
    }
}

fn db_upvaluejoin<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let Some(up1) = check_upval(stack, 0, 1)? else {
        return arg_fail(1, "invalid upvalue index");
    };
    let Some(up2) = check_upval(stack, 2, 3)? else {
        return arg_fail(3, "invalid upvalue index");
    };
    let (Upvalue::Lua(f1, n1), Upvalue::Lua(f2, n2)) = (up1, up2) else {
        let arg = if matches!(up1, Upvalue::C(..)) { 0 } else { 2 };
        return arg_fail(arg, "Lua function expected");
    };
    let up = f2.state().upvalues()[n2].get();
    f1.set_upvalue(&ctx, n1, up);
    stack.clear();
    Ok(CallbackReturn::Return)
}

fn db_getmetatable<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let v = check_any(stack, 0)?;
    let mt = crate::meta::metatable(ctx, v);
    stack.replace(ctx, mt.map_or(Value::Nil, Value::Table));
    Ok(CallbackReturn::Return)
}

fn db_setmetatable<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let mt = match stack.get(1) {
        Value::Nil => None,
        Value::Table(t) => Some(t),
        _ => return type_error(stack, 1, "nil or table"),
    };
    let v = stack.get(0);
    match v {
        Value::Table(t) => {
            if t.set_metatable(&ctx, mt).is_err() {
                return fail("cannot change a protected metatable");
            }
        }
        Value::UserData(u) => {
            u.set_metatable(&ctx, mt);
        }
        v => ctx.set_type_metatable(v, mt),
    }
    stack.replace(ctx, v);
    Ok(CallbackReturn::Return)
}

fn db_getregistry<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    stack.replace(ctx, ctx.registry());
    Ok(CallbackReturn::Return)
}

/// Our userdata have no user values: `nil` (and `false` for a userdata,
/// as for an index past its values in lua5.4).
fn db_getuservalue<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    opt_integer(stack, 1, 1)?;
    match stack.get(0) {
        Value::UserData(u) if u.downcast_static::<super::args::LightUserData>().is_none() => {
            stack.replace(ctx, (Value::Nil, false))
        }
        _ => stack.replace(ctx, Value::Nil),
    }
    Ok(CallbackReturn::Return)
}

fn db_setuservalue<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    opt_integer(stack, 2, 1)?;
    match stack.get(0) {
        Value::UserData(u) if u.downcast_static::<super::args::LightUserData>().is_none() => {}
        _ => return type_error(stack, 0, "userdata"),
    }
    check_any(stack, 1)?;
    stack.replace(ctx, Value::Nil);
    Ok(CallbackReturn::Return)
}

fn db_traceback<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let (thread, arg) = get_thread(exec, stack);
    let m = stack.get(arg);
    let msg = match m {
        Value::String(s) => Some(s.to_string()),
        Value::Integer(_) | Value::Number(_) => {
            Some(super::args::plain_tostring(ctx, m).to_string())
        }
        Value::Nil => None,
        v => {
            stack.replace(ctx, v);
            return Ok(CallbackReturn::Return);
        }
    };
    let default = if thread.is_none() { 1 } else { 0 };
    let level = opt_integer(stack, arg + 1, default)?;
    let level = usize::try_from(level).unwrap_or(usize::MAX);
    let host_below = thread.is_none() && exec.current_thread().is_main;
    let text = with_view(exec, stack, thread, |view| {
        view.traceback(ctx, msg.as_deref(), level, host_below)
    });
    stack.replace(ctx, ctx.intern(text.as_bytes()));
    Ok(CallbackReturn::Return)
}

/// Deprecated in lua5.4 (always answers 0).
fn db_setcstacklimit<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    check_integer(stack, 0)?;
    stack.replace(ctx, 0);
    Ok(CallbackReturn::Return)
}
