//! The basic library: `print tostring tonumber type pcall xpcall error
//! assert select pairs ipairs next raw* getmetatable setmetatable
//! collectgarbage load _G _VERSION`, with lua5.4's messages.
//!
//! `dofile loadfile require` (reading files) live in `env`, loaded only for
//! the command-line profile.

use std::io::Write;

use gc_arena::Collect;
use piccolo::{
    meta_ops::{self, MetaResult},
    table::NextValue,
    BoxSequence, CallbackReturn, Context, Error, Execution, Function, Sequence, SequencePoll,
    Stack, String, Table, Value,
};

use super::args::{
    arg_fail, check_any, check_integer, check_table, fail, lib_fn, message_error, position, set_fn,
    type_name_at, LibError, LibFn, LibResult,
};
use super::format::pointer_text;
use super::number::{number_to_string, str_to_int_base, str_to_number};

/// The plain string form of a value, without `__tostring` (`tostring` for
/// values that have no metamethod).
pub fn display_value<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> String<'gc> {
    match v {
        Value::String(s) => s,
        Value::Nil => ctx.intern_static(b"nil"),
        Value::Boolean(true) => ctx.intern_static(b"true"),
        Value::Boolean(false) => ctx.intern_static(b"false"),
        Value::Integer(_) | Value::Number(_) => ctx.intern(number_to_string(v).as_bytes()),
        _ => {
            let name = match metafield(ctx, v, "__name") {
                Value::String(s) => std::string::String::from_utf8_lossy(s.as_bytes()).into_owned(),
                _ => v.type_name().to_string(),
            };
            ctx.intern(format!("{name}: {}", pointer_text(v)).as_bytes())
        }
    }
}

/// The metatable of a value (strings share the string metatable).
pub fn metatable_of<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> Option<Table<'gc>> {
    match v {
        Value::Table(t) => t.metatable(),
        Value::UserData(u) => u.metatable(),
        Value::String(_) => Some(crate::env::string_metatable(ctx)),
        _ => None,
    }
}

/// A field of a value's metatable, or nil.
pub fn metafield<'gc>(ctx: Context<'gc>, v: Value<'gc>, name: &'static str) -> Value<'gc> {
    match v {
        Value::Table(_) | Value::UserData(_) => metatable_of(ctx, v)
            .map(|mt| mt.get(ctx, name))
            .unwrap_or_default(),
        _ => Value::Nil,
    }
}

/// The `__tostring` function of a value, if it has one.
fn tostring_meta<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> LibResult<'gc, Option<Function<'gc>>> {
    let f = metafield(ctx, v, "__tostring");
    if f.is_nil() {
        return Ok(None);
    }
    match meta_ops::call(ctx, f) {
        Ok(f) => Ok(Some(f)),
        Err(_) => fail("attempt to call a non-function '__tostring'"),
    }
}

/// Converts a piccolo error into the value Lua code sees (`pcall`'s second
/// result): Lua errors keep their value, runtime errors become strings.
pub fn error_value<'gc>(ctx: Context<'gc>, e: Error<'gc>) -> Value<'gc> {
    match e {
        Error::Lua(v) => v.0,
        Error::Runtime(r) => Value::String(ctx.intern(r.to_string().as_bytes())),
    }
}

/// Runs `then` after replacing every argument from `first` on that has a
/// `__tostring` metamethod by its result (`print`, `tostring`,
/// `string.format` and `table.concat` need it). Without such arguments
/// `then` runs at once.
pub fn after_tostring<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
    first: usize,
    name: &'static str,
    then: LibFn,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let mut needs = false;
    for i in first..stack.len() {
        if tostring_meta(ctx, stack.get(i))?.is_some() {
            needs = true;
            break;
        }
    }
    if !needs {
        return then(ctx, exec, stack);
    }
    let values: Vec<Value<'gc>> = stack.drain(..).collect();
    Ok(CallbackReturn::Sequence(BoxSequence::new(
        &ctx,
        ToStringArgs {
            values,
            next: first,
            waiting: None,
            name,
            then,
        },
    )))
}

#[derive(Collect)]
#[collect(no_drop)]
struct ToStringArgs<'gc> {
    values: Vec<Value<'gc>>,
    next: usize,
    waiting: Option<usize>,
    #[collect(require_static)]
    name: &'static str,
    #[collect(require_static)]
    then: LibFn,
}

impl<'gc> Sequence<'gc> for ToStringArgs<'gc> {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        mut exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        let name = self.name;
        let lib_err = |e: LibError<'gc>, exec: &Execution<'gc, '_>| e.into_error(ctx, exec, name);
        if let Some(i) = self.waiting.take() {
            match stack.get(0) {
                v @ Value::String(_) => self.values[i] = v,
                _ => return Err(message_error(ctx, "'__tostring' must return a string")),
            }
        }
        while self.next < self.values.len() {
            let i = self.next;
            self.next += 1;
            let f = tostring_meta(ctx, self.values[i]).map_err(|e| lib_err(e, &exec))?;
            if let Some(function) = f {
                stack.replace(ctx, self.values[i]);
                self.waiting = Some(i);
                return Ok(SequencePoll::Call {
                    function,
                    is_tail: false,
                });
            }
        }
        stack.replace(ctx, piccolo::Variadic(std::mem::take(&mut self.values)));
        match (self.then)(ctx, &mut exec, &mut stack) {
            Ok(CallbackReturn::Return) => Ok(SequencePoll::Return),
            Ok(CallbackReturn::Call { function, .. }) => Ok(SequencePoll::Call {
                function,
                is_tail: true,
            }),
            Ok(_) => Err(message_error(ctx, "unsupported continuation")),
            Err(e) => Err(lib_err(e, &exec)),
        }
    }
}

fn base_print<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    after_tostring(ctx, exec, stack, 0, "print", |ctx, _, stack| {
        let mut line = Vec::new();
        for (i, v) in stack.into_iter().enumerate() {
            if i > 0 {
                line.push(b'\t');
            }
            line.extend_from_slice(display_value(ctx, v).as_bytes());
        }
        line.push(b'\n');
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&line);
        let _ = out.flush();
        stack.clear();
        Ok(CallbackReturn::Return)
    })
}

fn base_tostring<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    check_any(stack, 0)?;
    stack.resize(1);
    after_tostring(ctx, exec, stack, 0, "tostring", |ctx, _, stack| {
        let s = display_value(ctx, stack.get(0));
        stack.replace(ctx, s);
        Ok(CallbackReturn::Return)
    })
}

fn base_tonumber<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let result = if stack.get(1).is_nil() {
        match check_any(stack, 0)? {
            v @ (Value::Integer(_) | Value::Number(_)) => v,
            Value::String(s) => str_to_number(s.as_bytes()).unwrap_or(Value::Nil),
            _ => Value::Nil,
        }
    } else {
        let base = check_integer(stack, 1)?;
        let s = match stack.get(0) {
            Value::String(s) => s,
            _ => {
                return arg_fail(
                    0,
                    format!("string expected, got {}", type_name_at(stack, 0)),
                )
            }
        };
        if !(2..=36).contains(&base) {
            return arg_fail(1, "base out of range");
        }
        str_to_int_base(s.as_bytes(), base as u32).map_or(Value::Nil, Value::Integer)
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

fn base_error<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let v = stack.get(0);
    let level = super::args::opt_integer(stack, 1, 1)?;
    if let (Value::String(s), 1) = (v, level) {
        // Level 1 is the Lua line that called `error`. Deeper levels need
        // the call stack, which piccolo 0.3.3 does not expose: no prefix.
        let mut msg = position(exec).into_bytes();
        msg.extend_from_slice(s.as_bytes());
        return Err(Error::from_value(Value::String(ctx.intern(&msg))).into());
    }
    Err(Error::from_value(v).into())
}

fn base_assert<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    if check_any(stack, 0)?.to_bool() {
        Ok(CallbackReturn::Return)
    } else if stack.len() < 2 {
        fail("assertion failed!")
    } else {
        // lua5.4 raises the message as `error(message)` does (level 1).
        stack.drain(..1);
        stack.resize(1);
        base_error(ctx, exec, stack)
    }
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
        if -i > n {
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

/// Raw equality (`rawequal`, and the basis of `__eq`-free comparisons).
pub fn raw_equal<'gc>(a: Value<'gc>, b: Value<'gc>) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Boolean(x), Value::Boolean(y)) => x == y,
        (Value::Integer(x), Value::Integer(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => x == y,
        (Value::Integer(x), Value::Number(y)) | (Value::Number(y), Value::Integer(x)) => {
            x as f64 == y && super::number::float_to_integer(y) == Some(x)
        }
        (Value::String(x), Value::String(y)) => x.as_bytes() == y.as_bytes(),
        (Value::Table(x), Value::Table(y)) => x == y,
        (Value::Function(x), Value::Function(y)) => x == y,
        (Value::Thread(x), Value::Thread(y)) => x == y,
        (Value::UserData(x), Value::UserData(y)) => x == y,
        _ => false,
    }
}

fn set_raw<'gc>(
    ctx: Context<'gc>,
    t: Table<'gc>,
    k: Value<'gc>,
    v: Value<'gc>,
) -> LibResult<'gc, ()> {
    match k {
        Value::Nil => fail("table index is nil"),
        Value::Number(f) if f.is_nan() => fail("table index is NaN"),
        _ => {
            t.set(ctx, k, v).map_err(|e| LibError::Msg(e.to_string()))?;
            Ok(())
        }
    }
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
        _ => {
            return arg_fail(
                1,
                format!("nil or table expected, got {}", type_name_at(stack, 1)),
            )
        }
    };
    if let Some(old) = t.metatable() {
        if !old.get(ctx, "__metatable").is_nil() {
            return fail("cannot change a protected metatable");
        }
    }
    t.set_metatable(&ctx, mt);
    stack.replace(ctx, t);
    Ok(CallbackReturn::Return)
}

fn base_getmetatable<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let v = check_any(stack, 0)?;
    let result = match metatable_of(ctx, v) {
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
        NextValue::Found { key, value } => stack.replace(ctx, (key, value)),
        NextValue::Last => stack.replace(ctx, Value::Nil),
        NextValue::NotFound => return fail("invalid key to 'next'"),
    }
    Ok(CallbackReturn::Return)
}

fn base_ipairs_step<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let t = stack.get(0);
    let i = check_integer(stack, 1)?.wrapping_add(1);
    match meta_ops::index(ctx, t, Value::Integer(i)).map_err(|e| LibError::Msg(e.to_string()))? {
        MetaResult::Value(v) => {
            if v.is_nil() {
                stack.replace(ctx, Value::Nil);
            } else {
                stack.replace(ctx, (i, v));
            }
            Ok(CallbackReturn::Return)
        }
        MetaResult::Call(call) => {
            stack.replace(ctx, piccolo::Variadic(call.args));
            Ok(CallbackReturn::Sequence(BoxSequence::new(
                &ctx,
                IpairsIndex {
                    function: call.function,
                    index: i,
                    called: false,
                },
            )))
        }
    }
}

#[derive(Collect)]
#[collect(no_drop)]
struct IpairsIndex<'gc> {
    function: Function<'gc>,
    index: i64,
    called: bool,
}

impl<'gc> Sequence<'gc> for IpairsIndex<'gc> {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        _: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        if !self.called {
            self.called = true;
            return Ok(SequencePoll::Call {
                function: self.function,
                is_tail: false,
            });
        }
        let v = stack.get(0);
        if v.is_nil() {
            stack.replace(ctx, Value::Nil);
        } else {
            stack.replace(ctx, (self.index, v));
        }
        Ok(SequencePoll::Return)
    }
}

fn base_rawequal<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let a = check_any(stack, 0)?;
    let b = check_any(stack, 1)?;
    stack.replace(ctx, raw_equal(a, b));
    Ok(CallbackReturn::Return)
}

fn base_rawlen<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let n = match stack.get(0) {
        Value::Table(t) => t.length(),
        Value::String(s) => s.len(),
        _ => {
            return arg_fail(
                0,
                format!("table or string expected, got {}", type_name_at(stack, 0)),
            )
        }
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
    stack.replace(ctx, t.get(ctx, k));
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
    set_raw(ctx, t, k, v)?;
    stack.replace(ctx, t);
    Ok(CallbackReturn::Return)
}

fn base_collectgarbage<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let opt = match super::args::opt_string(ctx, stack, 0)? {
        Some(s) => std::string::String::from_utf8_lossy(s.as_bytes()).into_owned(),
        None => "collect".to_string(),
    };
    let result: Value<'gc> = match opt.as_str() {
        // The arena collects between `enter` calls; a full collection on
        // request is not possible from inside a callback.
        "collect" | "stop" | "restart" => Value::Integer(0),
        "count" => Value::Number(ctx.metrics().total_allocation() as f64 / 1024.0),
        "step" => Value::Boolean(false),
        "isrunning" => Value::Boolean(true),
        "incremental" | "generational" => Value::String(ctx.intern_static(b"incremental")),
        "setpause" => Value::Integer(200),
        "setstepmul" => Value::Integer(100),
        _ => return arg_fail(0, format!("invalid option '{opt}'")),
    };
    stack.replace(ctx, result);
    Ok(CallbackReturn::Return)
}

/// `pcall`'s continuation: prepends `true`, or turns an error into
/// `false, message`.
#[derive(Collect)]
#[collect(require_static)]
struct ProtectedCall;

impl<'gc> Sequence<'gc> for ProtectedCall {
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
        stack.replace(ctx, (false, error_value(ctx, error)));
        Ok(SequencePoll::Return)
    }
}

/// `pcall` as a plain library function (also used inside `table_meta`).
pub fn pcall_fn() -> LibFn {
    base_pcall
}

fn base_pcall<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let f = check_any(stack, 0)?;
    let function = match meta_ops::call(ctx, f) {
        Ok(function) => function,
        Err(_) => {
            let msg = format!("attempt to call a {} value", f.type_name());
            stack.replace(ctx, (false, ctx.intern(msg.as_bytes())));
            return Ok(CallbackReturn::Return);
        }
    };
    stack.pop_front();
    Ok(CallbackReturn::Call {
        function,
        then: Some(BoxSequence::new(&ctx, ProtectedCall)),
    })
}

/// `xpcall`'s continuation: on error, calls the handler with the error and
/// returns `false, handler result`.
#[derive(Collect)]
#[collect(no_drop)]
struct HandledCall<'gc> {
    handler: Value<'gc>,
    handling: bool,
}

impl<'gc> Sequence<'gc> for HandledCall<'gc> {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        _: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        if self.handling {
            let v = stack.get(0);
            stack.replace(ctx, (false, v));
        } else {
            stack.push_front(Value::Boolean(true));
        }
        Ok(SequencePoll::Return)
    }

    fn error(
        &mut self,
        ctx: Context<'gc>,
        _: Execution<'gc, '_>,
        error: Error<'gc>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        if self.handling {
            // An error inside the handler: lua5.4 reports it as the result.
            stack.replace(ctx, (false, error_value(ctx, error)));
            return Ok(SequencePoll::Return);
        }
        self.handling = true;
        stack.replace(ctx, error_value(ctx, error));
        match meta_ops::call(ctx, self.handler) {
            Ok(function) => Ok(SequencePoll::Call {
                function,
                is_tail: false,
            }),
            Err(_) => {
                stack.replace(ctx, (false, Value::Nil));
                Ok(SequencePoll::Return)
            }
        }
    }
}

fn base_xpcall<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let f = stack.get(0);
    let handler = check_any(stack, 1)?;
    if handler.is_nil() && stack.len() < 2 {
        return arg_fail(1, "value expected");
    }
    let sequence = BoxSequence::new(
        &ctx,
        HandledCall {
            handler,
            handling: false,
        },
    );
    match meta_ops::call(ctx, f) {
        Ok(function) => {
            stack.drain(..2);
            Ok(CallbackReturn::Call {
                function,
                then: Some(sequence),
            })
        }
        Err(_) => {
            let msg = format!("attempt to call a {} value", f.type_name());
            stack.replace(ctx, ctx.intern(msg.as_bytes()));
            match meta_ops::call(ctx, handler) {
                Ok(function) => Ok(CallbackReturn::Call {
                    function,
                    then: Some(BoxSequence::new(
                        &ctx,
                        HandledCall {
                            handler,
                            handling: true,
                        },
                    )),
                }),
                Err(_) => {
                    stack.replace(ctx, (false, Value::Nil));
                    Ok(CallbackReturn::Return)
                }
            }
        }
    }
}

/// `pairs(t)`: `__pairs` if present, else `next, t, nil`.
fn pairs_with<'gc>(
    next: Value<'gc>,
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let t = stack.get(0);
    let meta = metafield(ctx, t, "__pairs");
    if !meta.is_nil() {
        let function = meta_ops::call(ctx, meta)
            .map_err(|_| LibError::Msg("attempt to call a '__pairs' value".into()))?;
        stack.replace(ctx, t);
        return Ok(CallbackReturn::Sequence(BoxSequence::new(
            &ctx,
            FirstThree {
                function,
                called: false,
            },
        )));
    }
    if !matches!(t, Value::Table(_)) {
        return Err(LibError::Arg(
            1,
            format!("table expected, got {}", type_name_at(stack, 0)),
        ));
    }
    stack.replace(ctx, (next, t, Value::Nil));
    Ok(CallbackReturn::Return)
}

/// Calls a function and keeps its first three results (`__pairs`).
#[derive(Collect)]
#[collect(no_drop)]
struct FirstThree<'gc> {
    function: Function<'gc>,
    called: bool,
}

impl<'gc> Sequence<'gc> for FirstThree<'gc> {
    fn poll(
        &mut self,
        _: Context<'gc>,
        _: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        if !self.called {
            self.called = true;
            return Ok(SequencePoll::Call {
                function: self.function,
                is_tail: false,
            });
        }
        stack.resize(3);
        Ok(SequencePoll::Return)
    }
}

/// Fills `env` with the basic library. `load` compiles into `env` unless
/// given another environment.
pub fn load_base<'gc>(ctx: Context<'gc>, env: Table<'gc>) {
    let set = |name: &'static str, f: LibFn| set_fn(ctx, env, name, f);
    set("print", base_print);
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

    let next = lib_fn(ctx, "next", base_next);
    env.set(ctx, "next", next).expect("string key");
    let pairs =
        piccolo::Callback::from_fn_with(&ctx, Value::from(next), |next, ctx, exec, mut stack| {
            check_any(&stack, 0).map_err(|e| e.into_error(ctx, &exec, "pairs"))?;
            // lua5.4 reports a non-table here as the `for` iterator's error.
            pairs_with(*next, ctx, &mut stack).map_err(|e| e.into_error(ctx, &exec, "for iterator"))
        });
    env.set(ctx, "pairs", pairs).expect("string key");
    let step = lib_fn(ctx, "ipairs", base_ipairs_step);
    let ipairs = piccolo::Callback::from_fn_with(&ctx, step, |step, ctx, exec, mut stack| {
        check_any(&stack, 0).map_err(|e| e.into_error(ctx, &exec, "ipairs"))?;
        let t = stack.get(0);
        stack.replace(ctx, (*step, t, 0));
        Ok(CallbackReturn::Return)
    });
    env.set(ctx, "ipairs", ipairs).expect("string key");

    env.set(ctx, "_G", env).expect("string key");
    env.set(ctx, "_VERSION", "Lua 5.4").expect("string key");
    super::load::load_load(ctx, env);
}
