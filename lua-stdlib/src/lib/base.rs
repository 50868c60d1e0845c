//! The basic library: `print tostring tonumber type pcall xpcall error
//! assert select pairs ipairs next raw* getmetatable setmetatable
//! collectgarbage warn _G _VERSION`, with lua5.4's messages. `load` is in
//! `load.rs`; `dofile loadfile require` (files) in `env.rs`, for the Full
//! profile only.
//!
//! `print` writes to an [`Output`]: the process's stdout for the
//! command-line runner, a buffer for tests and hosts that collect it.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

use gc_arena::Collect;

use super::args::{
    arg_fail, check_any, check_integer, check_table, fail, lib_fn, message_error, opt_integer,
    plain_tostring, set_fn, tostring_meta, tostring_result, type_error, type_name_at, LibError,
    LibResult,
};
use crate::number::{str_to_int_base, str_to_number};
use crate::{
    meta, BoxSequence, Callback, CallbackReturn, Context, Error, Execution, Function, Handler,
    Sequence, SequencePoll, Stack, Table, Value,
};

/// Where `print` (and the Full profile's `io.write`) writes.
#[derive(Clone, Default)]
pub enum Output {
    /// The process's standard output.
    #[default]
    Stdout,
    /// A buffer the host reads.
    Buffer(Rc<RefCell<Vec<u8>>>),
    /// Nowhere.
    Discard,
}

impl Output {
    /// Writes `bytes` out.
    pub fn write(&self, bytes: &[u8]) {
        match self {
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(bytes);
            }
            Output::Buffer(b) => b.borrow_mut().extend_from_slice(bytes),
            Output::Discard => {}
        }
    }
}

/// The text of a value whose `__tostring` already ran (or that has none).
fn text_of<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> crate::String<'gc> {
    plain_tostring(ctx, v)
}

/// What to do once every value has its text.
#[derive(Clone)]
enum Finish {
    Print(Output),
    ToString,
}

/// Converts values one by one, calling `__tostring` where there is one
/// (each may be a Lua function, so this is a sequence), then finishes.
#[derive(Collect)]
#[collect(no_drop)]
struct ToStrings<'gc> {
    values: Vec<Value<'gc>>,
    next: usize,
    waiting: bool,
    #[collect(require_static)]
    finish: Finish,
}

impl<'gc> ToStrings<'gc> {
    fn step(
        &mut self,
        ctx: Context<'gc>,
        stack: &mut Stack<'gc, '_>,
    ) -> LibResult<'gc, Option<Function<'gc>>> {
        if self.waiting {
            self.waiting = false;
            let s = tostring_result(ctx, stack.get(0))?;
            self.values[self.next] = Value::String(s);
            self.next += 1;
        }
        while self.next < self.values.len() {
            let v = self.values[self.next];
            if let Some(tm) = tostring_meta(ctx, v) {
                let f = super::args::callable(ctx, tm)?;
                self.waiting = true;
                stack.replace(ctx, v);
                return Ok(Some(f));
            }
            self.values[self.next] = Value::String(text_of(ctx, v));
            self.next += 1;
        }
        stack.clear();
        match &self.finish {
            Finish::Print(out) => {
                let mut line = Vec::new();
                for (i, v) in self.values.iter().enumerate() {
                    if i > 0 {
                        line.push(b'\t');
                    }
                    if let Value::String(s) = v {
                        line.extend_from_slice(s.as_bytes());
                    }
                }
                line.push(b'\n');
                out.write(&line);
            }
            Finish::ToString => stack.replace(ctx, self.values[0]),
        }
        Ok(None)
    }
}

impl<'gc> Sequence<'gc> for ToStrings<'gc> {
    /// Called the way `lua_call` calls (lua5.4's C boundary): a yield
    /// below it is an error and `coroutine.isyieldable` answers false.
    fn yieldable(&self) -> bool {
        false
    }

    fn poll(
        &mut self,
        ctx: Context<'gc>,
        exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        let name = match self.finish {
            Finish::Print(_) => "print",
            Finish::ToString => "tostring",
        };
        match self.step(ctx, &mut stack) {
            Ok(Some(function)) => Ok(SequencePoll::Call {
                function,
                is_tail: false,
            }),
            Ok(None) => Ok(SequencePoll::Return),
            Err(e) => Err(e.into_error(ctx, &exec, name)),
        }
    }
}

/// Runs `ToStrings` over `values`: at once when no value has a
/// `__tostring`, else as a sequence.
fn to_strings<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    values: Vec<Value<'gc>>,
    finish: Finish,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let needs_calls = values.iter().any(|&v| tostring_meta(ctx, v).is_some());
    let mut seq = ToStrings {
        values,
        next: 0,
        waiting: false,
        finish,
    };
    if needs_calls {
        return Ok(CallbackReturn::Sequence(BoxSequence::new(&ctx, seq)));
    }
    seq.step(ctx, stack)?;
    Ok(CallbackReturn::Return)
}

fn base_tostring<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let v = check_any(stack, 0)?;
    to_strings(ctx, stack, vec![v], Finish::ToString)
}

fn base_tonumber<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let result = if stack.get(1).is_nil() {
        match check_any(stack, 0)? {
            v @ (Value::Integer(_) | Value::Number(_)) => v,
            Value::String(s) => str_to_number(s.as_bytes()).map_or(Value::Nil, Value::from),
            _ => Value::Nil,
        }
    } else {
        let base = check_integer(stack, 1)?;
        let s = match stack.get(0) {
            Value::String(s) => s,
            _ => return type_error(stack, 0, "string"),
        };
        if !(2..=36).contains(&base) {
            return arg_fail(1, "base out of range");
        }
        // lua5.4's `b_str2int` also takes a `+` sign.
        let text = s.as_bytes().trim_ascii_start();
        let digits = match text.strip_prefix(b"+") {
            Some(rest) if !rest.starts_with(b"-") => rest,
            Some(_) => b"",
            None => text,
        };
        str_to_int_base(digits, base as u32).map_or(Value::Nil, Value::Integer)
    };
    stack.replace(ctx, result);
    Ok(CallbackReturn::Return)
}

fn base_type<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let v = check_any(stack, 0)?;
    stack.replace(ctx, ctx.intern_static(v.type_name().as_bytes()));
    Ok(CallbackReturn::Return)
}

/// `error(v [, level])`: a string message gets the position of the
/// function `level` levels up (1: the caller of `error`), when that is a
/// Lua function.
fn base_error<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let v = stack.get(0);
    let level = opt_integer(stack, 1, 1)?;
    if let (Value::String(s), true) = (v, level > 0) {
        if let Some(f) = exec.lua_frame(level as usize) {
            let mut msg = format!("{}:{}: ", f.chunk_name, f.current_line).into_bytes();
            msg.extend_from_slice(s.as_bytes());
            return Err(Error::from_value(Value::String(ctx.intern(&msg))).into());
        }
    }
    Err(Error::from_value(v).into())
}

fn base_assert<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    if check_any(stack, 0)?.to_bool() {
        return Ok(CallbackReturn::Return);
    }
    // As lua5.4: `error(message or "assertion failed!")` at level 1.
    let message = if stack.len() < 2 {
        Value::String(ctx.intern_static(b"assertion failed!"))
    } else {
        stack.get(1)
    };
    stack.replace(ctx, message);
    base_error(ctx, exec, stack)
}

fn base_select<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let n = stack.len() as i64 - 1;
    if let Value::String(s) = stack.get(0) {
        if s.as_bytes() == b"#" {
            stack.replace(ctx, n);
            return Ok(CallbackReturn::Return);
        }
    }
    let i = check_integer(stack, 0)?;
    let start = if i < 0 {
        if i < -n {
            return arg_fail(0, "index out of range");
        }
        n + i
    } else if i == 0 {
        return arg_fail(0, "index out of range");
    } else {
        i.min(n + 1) - 1
    };
    stack.drain(..(start as usize + 1));
    Ok(CallbackReturn::Return)
}

fn base_setmetatable<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let t = check_table(stack, 0)?;
    let mt = match stack.get(1) {
        Value::Nil if stack.len() >= 2 => None,
        Value::Table(mt) => Some(mt),
        _ => return type_error(stack, 1, "nil or table"),
    };
    if let Some(old) = t.metatable() {
        if !old.get(ctx, "__metatable").is_nil() {
            return fail("cannot change a protected metatable");
        }
    }
    t.set_metatable(&ctx, mt)
        .map_err(|e| LibError::Msg(e.message().to_string()))?;
    stack.replace(ctx, t);
    Ok(CallbackReturn::Return)
}

fn base_getmetatable<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let v = check_any(stack, 0)?;
    let result = match meta::metatable(ctx, v) {
        Some(mt) => {
            let protected = mt.get(ctx, "__metatable");
            if protected.is_nil() {
                Value::Table(mt)
            } else {
                protected
            }
        }
        None => Value::Nil,
    };
    stack.replace(ctx, result);
    Ok(CallbackReturn::Return)
}

fn base_next<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let t = check_table(stack, 0)?;
    match t.next(stack.get(1)) {
        Ok(Some((k, v))) => stack.replace(ctx, (k, v)),
        Ok(None) => stack.replace(ctx, Value::Nil),
        // `luaH_next`'s `luaG_runerror` while `next` (a C function) runs:
        // no position
        Err(_) => return Err(LibError::Raw(message_error(ctx, "invalid key to 'next'"))),
    }
    Ok(CallbackReturn::Return)
}

/// `ipairs`' iterator: `t[i]` through `__index` (`lua_geti`).
fn base_ipairs_step<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let t = stack.get(0);
    let i = check_integer(stack, 1)?.wrapping_add(1);
    if let Value::Table(tab) = t {
        if tab.metatable().is_none() {
            let v = tab.raw_get_int(i);
            if v.is_nil() {
                stack.replace(ctx, Value::Nil);
            } else {
                stack.replace(ctx, (i, v));
            }
            return Ok(CallbackReturn::Return);
        }
    }
    match meta::index(ctx, t, Value::Integer(i)).map_err(LibError::Msg)? {
        meta::Step::Done(v) => {
            if v.is_nil() {
                stack.replace(ctx, Value::Nil);
            } else {
                stack.replace(ctx, (i, v));
            }
            Ok(CallbackReturn::Return)
        }
        meta::Step::Call {
            function,
            args,
            nargs,
        } => {
            stack.clear();
            stack.extend(args[..nargs].iter().copied());
            Ok(CallbackReturn::Call {
                function,
                then: Some(BoxSequence::new(&ctx, IpairsIndex(i))),
            })
        }
    }
}

/// The `__index` result for `ipairs`' index `.0`.
#[derive(Collect)]
#[collect(require_static)]
struct IpairsIndex(i64);

impl<'gc> Sequence<'gc> for IpairsIndex {
    /// Called the way `lua_call` calls (lua5.4's C boundary): a yield
    /// below it is an error and `coroutine.isyieldable` answers false.
    fn yieldable(&self) -> bool {
        false
    }

    fn poll(
        &mut self,
        ctx: Context<'gc>,
        _: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        let v = stack.get(0);
        if v.is_nil() {
            stack.replace(ctx, Value::Nil);
        } else {
            stack.replace(ctx, (self.0, v));
        }
        Ok(SequencePoll::Return)
    }

    fn traceback_name(&self) -> Option<&'static str> {
        Some("")
    }
}

fn base_rawequal<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let a = check_any(stack, 0)?;
    let b = check_any(stack, 1)?;
    stack.replace(ctx, a.raw_eq(b));
    Ok(CallbackReturn::Return)
}

fn base_rawlen<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let n = match stack.get(0) {
        Value::Table(t) => t.length(),
        Value::String(s) => s.len() as i64,
        _ => return type_error(stack, 0, "table or string"),
    };
    stack.replace(ctx, n);
    Ok(CallbackReturn::Return)
}

fn base_rawget<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let t = check_table(stack, 0)?;
    let k = check_any(stack, 1)?;
    stack.replace(ctx, t.raw_get(k));
    Ok(CallbackReturn::Return)
}

fn base_rawset<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let t = check_table(stack, 0)?;
    let k = check_any(stack, 1)?;
    let v = check_any(stack, 2)?;
    t.raw_set(&ctx, k, v)
        .map_err(|e| LibError::Msg(e.message().to_string()))?;
    stack.replace(ctx, t);
    Ok(CallbackReturn::Return)
}

use crate::vm::gc::GcRequest;

fn base_collectgarbage<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    const OPTIONS: &[&str] = &[
        "collect",
        "stop",
        "restart",
        "count",
        "step",
        "setpause",
        "setstepmul",
        "isrunning",
        "generational",
        "incremental",
    ];
    let opt = match super::args::opt_string(ctx, stack, 0)? {
        Some(s) => s.to_string(),
        None => "collect".to_string(),
    };
    if !OPTIONS.contains(&opt.as_str()) {
        return arg_fail(0, format!("invalid option '{opt}'"));
    }
    let gc = ctx.gc_control();
    if gc.in_finalizer.get() {
        // lua_gc refuses every option while a finalizer runs.
        stack.replace(ctx, Value::Nil);
        return Ok(CallbackReturn::Return);
    }
    let mode_name = |generational: bool| {
        Value::String(ctx.intern_static(if generational {
            b"generational"
        } else {
            b"incremental"
        }))
    };
    let result: Value<'gc> = match opt.as_str() {
        // The arena cannot collect inside a callback: the executor stops
        // here and `Vm` does the work (and runs finalizers) before Lua
        // goes on. A step with a size finishes a cycle; a basic step
        // starts or ends one (`lua_gc`'s answer: whether a cycle ended);
        // in generational mode no step ends a cycle.
        "collect" => {
            gc.requested.set(GcRequest::Full);
            exec.fuel().interrupt();
            Value::Integer(0)
        }
        "step" => {
            let size = super::args::opt_integer(stack, 1, 0)?;
            let (request, ended) = if gc.generational.get() {
                (GcRequest::Full, false)
            } else if size > 0 {
                (GcRequest::Full, true)
            } else if gc.in_cycle.get() {
                (GcRequest::FinishCycle, true)
            } else {
                (GcRequest::StartCycle, false)
            };
            gc.requested.set(request);
            exec.fuel().interrupt();
            Value::Boolean(ended)
        }
        "count" => Value::Number(ctx.memory() as f64 / 1024.0),
        "isrunning" => Value::Boolean(!gc.stopped.get()),
        "stop" | "restart" => {
            gc.stopped.set(opt == "stop");
            Value::Integer(0)
        }
        "generational" | "incremental" => {
            let previous = gc.generational.replace(opt == "generational");
            mode_name(previous)
        }
        "setpause" => Value::Integer(gc.pause.replace(super::args::opt_integer(stack, 1, 0)?)),
        _ => Value::Integer(gc.stepmul.replace(super::args::opt_integer(stack, 1, 0)?)),
    };
    stack.replace(ctx, result);
    Ok(CallbackReturn::Return)
}

fn base_pcall<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let f = check_any(stack, 0)?;
    stack.pop_front();
    match meta::call(ctx, f) {
        Ok(function) => Ok(CallbackReturn::Call {
            function,
            then: Some(BoxSequence::new(&ctx, ProtectedCall::pcall())),
        }),
        Err(v) => {
            let msg = format!("attempt to call a {} value", meta::type_name_of(ctx, v));
            stack.replace(ctx, (false, ctx.intern(msg.as_bytes())));
            Ok(CallbackReturn::Return)
        }
    }
}

/// The continuation of a protected call: `true` and the results, or
/// `false` and the error. `pcall` and `coroutine.resume` catch the error
/// as it is; `xpcall` (and the stand-alone interpreter's protected call of
/// a chunk, `lua.c`'s `docall`) has the VM run its handler at the error
/// point, and the handler's result arrives here as the error.
#[derive(Collect)]
#[collect(no_drop)]
pub struct ProtectedCall<'gc> {
    handler: Option<Function<'gc>>,
    /// What a traceback calls this frame (a resume is not named).
    name: Option<&'static str>,
}

impl<'gc> ProtectedCall<'gc> {
    /// `pcall`'s.
    pub fn pcall() -> Self {
        ProtectedCall {
            handler: None,
            name: Some("pcall"),
        }
    }

    /// `coroutine.resume`'s: the coroutine's errors end here, no message
    /// handler further out may see them.
    pub fn resume() -> Self {
        ProtectedCall {
            handler: None,
            name: None,
        }
    }

    /// A protected call whose errors go through `handler`, named `name` in
    /// tracebacks.
    pub fn with_handler(handler: Function<'gc>, name: &'static str) -> Self {
        ProtectedCall {
            handler: Some(handler),
            name: Some(name),
        }
    }
}

impl<'gc> Sequence<'gc> for ProtectedCall<'gc> {
    fn poll(
        &mut self,
        _: Context<'gc>,
        _: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        stack.push_front(true);
        Ok(SequencePoll::Return)
    }

    fn error(
        &mut self,
        ctx: Context<'gc>,
        _: Execution<'gc, '_>,
        error: Error<'gc>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        stack.replace(ctx, (false, error.value()));
        Ok(SequencePoll::Return)
    }

    fn handler(&self) -> Handler<'gc> {
        match self.handler {
            Some(h) => Handler::CatchWith(h),
            None => Handler::Catch,
        }
    }

    fn traceback_name(&self) -> Option<&'static str> {
        self.name
    }
}

/// `xpcall` of a value that cannot be called: the handler gets the call
/// error; `false` and its result are returned.
#[derive(Collect)]
#[collect(require_static)]
struct HandlerResult;

impl<'gc> Sequence<'gc> for HandlerResult {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        _: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        let v = stack.get(0);
        stack.replace(ctx, (false, v));
        Ok(SequencePoll::Return)
    }

    fn error(
        &mut self,
        ctx: Context<'gc>,
        _: Execution<'gc, '_>,
        error: Error<'gc>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        stack.replace(ctx, (false, error.value()));
        Ok(SequencePoll::Return)
    }

    fn handler(&self) -> Handler<'gc> {
        Handler::Catch
    }
}

fn base_xpcall<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let handler = match stack.get(1) {
        Value::Function(h) => h,
        _ => return type_error(stack, 1, "function"),
    };
    let f = stack.get(0);
    stack.drain(..2);
    match meta::call(ctx, f) {
        Ok(function) => Ok(CallbackReturn::Call {
            function,
            then: Some(BoxSequence::new(
                &ctx,
                ProtectedCall::with_handler(handler, "xpcall"),
            )),
        }),
        Err(v) => {
            let msg = format!("attempt to call a {} value", meta::type_name_of(ctx, v));
            stack.replace(ctx, ctx.intern(msg.as_bytes()));
            Ok(CallbackReturn::Call {
                function: handler,
                then: Some(BoxSequence::new(&ctx, HandlerResult)),
            })
        }
    }
}

/// Keeps the first three results of `__pairs`.
#[derive(Collect)]
#[collect(require_static)]
struct FirstThree;

impl<'gc> Sequence<'gc> for FirstThree {
    fn poll(
        &mut self,
        _: Context<'gc>,
        _: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        stack.resize(3);
        Ok(SequencePoll::Return)
    }
}

/// `pairs(t)`: `__pairs(t)` if present, else `next, t, nil`.
fn pairs<'gc>(
    next: Value<'gc>,
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let t = check_any(stack, 0)?;
    let tm = meta::event(ctx, t, crate::vm::meta::PAIRS);
    if !tm.is_nil() {
        let function = super::args::callable(ctx, tm)?;
        stack.replace(ctx, t);
        return Ok(CallbackReturn::Call {
            function,
            then: Some(BoxSequence::new(&ctx, FirstThree)),
        });
    }
    if !matches!(t, Value::Table(_)) {
        return type_error(stack, 0, "table");
    }
    stack.replace(ctx, (next, t, Value::Nil));
    Ok(CallbackReturn::Return)
}

fn base_warn<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    if stack.is_empty() {
        return arg_fail(
            0,
            format!("string expected, got {}", type_name_at(stack, 0)),
        );
    }
    let mut text = Vec::new();
    for i in 0..stack.len() {
        text.extend_from_slice(super::args::check_string(ctx, stack, i)?.as_bytes());
    }
    let text = std::string::String::from_utf8_lossy(&text).into_owned();
    warn(ctx, &text);
    stack.clear();
    Ok(CallbackReturn::Return)
}

/// Registry key of the warning switch (`@on`/`@off`).
pub(crate) const WARN_ON: &str = "lua-stdlib.warn-on";

/// `warn`'s messages: control messages (`@on`, `@off`) switch warnings,
/// which start off as in `lua.c`; others are recorded for the host while
/// on (the command-line runner prints them as `Lua warning: ...`).
fn warn(ctx: Context<'_>, text: &str) {
    let reg = ctx.registry();
    if let Some(control) = text.strip_prefix('@') {
        match control {
            "on" => {
                let _ = reg.set(ctx, WARN_ON, true);
            }
            "off" => {
                let _ = reg.set(ctx, WARN_ON, false);
            }
            _ => {}
        }
        return;
    }
    if reg.get(ctx, WARN_ON).to_bool() {
        ctx.warn(text.to_string());
    }
}

/// Fills `env` with the basic library (and `load`), `print` writing to
/// `out`.
pub fn load_base<'gc>(ctx: Context<'gc>, env: Table<'gc>, out: Output) {
    let set = |name: &'static str, f: super::args::LibFn| set_fn(ctx, env, name, f);
    set("tostring", base_tostring);
    set("tonumber", base_tonumber);
    set("type", base_type);
    set("error", base_error);
    set("assert", base_assert);
    set("select", base_select);
    set("setmetatable", base_setmetatable);
    set("getmetatable", base_getmetatable);
    set("rawequal", base_rawequal);
    set("rawlen", base_rawlen);
    set("rawget", base_rawget);
    set("rawset", base_rawset);
    set("collectgarbage", base_collectgarbage);
    set("pcall", base_pcall);
    set("xpcall", base_xpcall);
    set("warn", base_warn);
    let print = Callback::from_fn(&ctx, move |ctx, exec, mut stack| {
        let values: Vec<Value<'_>> = stack.iter().collect();
        to_strings(ctx, &mut stack, values, Finish::Print(out.clone()))
            .map_err(|e| e.into_error(ctx, &exec, "print"))
    });
    let _ = env.set(ctx, "print", print);

    let next = lib_fn(ctx, "next", base_next);
    let _ = env.set(ctx, "next", next);
    let pairs = Callback::from_fn_with(&ctx, Value::from(next), |next, ctx, exec, mut stack| {
        pairs(*next, ctx, &mut stack).map_err(|e| e.into_error(ctx, &exec, "pairs"))
    });
    let _ = env.set(ctx, "pairs", pairs);
    let step = lib_fn(ctx, "ipairs_step", base_ipairs_step);
    let ipairs = Callback::from_fn_with(&ctx, step, |step, ctx, exec, mut stack| {
        let t = check_any(&stack, 0).map_err(|e| e.into_error(ctx, &exec, "ipairs"))?;
        stack.replace(ctx, (*step, t, 0));
        Ok(CallbackReturn::Return)
    });
    let _ = env.set(ctx, "ipairs", ipairs);

    let _ = env.set(ctx, "_G", env);
    let _ = env.set(ctx, "_VERSION", "Lua 5.4");
    super::load::load_load(ctx, env);
}

/// A Lua error value from a message (for other libraries).
pub fn error_message<'gc>(ctx: Context<'gc>, msg: &str) -> Error<'gc> {
    message_error(ctx, msg)
}
