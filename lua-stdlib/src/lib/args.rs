//! Argument checking and error construction shared by every library (our
//! `lauxlib`).
//!
//! A library function is a plain `fn` returning [`LibResult`]; [`lib_fn`]
//! wraps it into a [`Callback`] that turns a [`LibError`] into the message
//! lua5.4 prints: `chunk:line: bad argument #2 to 'rep' (number expected,
//! got table)`. The position is the Lua line that called the library
//! function (none when it was called from Rust, e.g. through
//! `pcall(string.rep)`, as in PUC Lua).
//!
//! Numbers convert through [`crate::number`] (via [`Value::to_integer`] and
//! [`Value::to_number`]): the one copy of Lua's conversion rules.

use std::fmt::Display;

use crate::number::{number_to_string, Number};
use crate::{
    Callback, CallbackReturn, Context, Error, Execution, Function, Stack, String, Table, Value,
};

/// An error raised by a library function, before it gets its position.
pub enum LibError<'gc> {
    /// `bad argument #n to 'name' (detail)`; `n` is 1-based.
    Arg(usize, std::string::String),
    /// A message that gets the caller's `chunk:line:` prefix.
    Msg(std::string::String),
    /// An error value passed through unchanged (e.g. from `error(t)`).
    Raw(Error<'gc>),
}

impl<'gc> From<Error<'gc>> for LibError<'gc> {
    fn from(e: Error<'gc>) -> Self {
        LibError::Raw(e)
    }
}

pub type LibResult<'gc, T> = Result<T, LibError<'gc>>;

/// The signature of a library function body.
pub type LibFn = for<'gc, 'a, 'b> fn(
    Context<'gc>,
    &mut Execution<'gc, 'a>,
    &mut Stack<'gc, 'b>,
) -> LibResult<'gc, CallbackReturn<'gc>>;

/// Shorthand for `Err(LibError::Msg(..))`.
pub fn fail<'gc, T>(msg: impl Display) -> LibResult<'gc, T> {
    Err(LibError::Msg(msg.to_string()))
}

/// Shorthand for `Err(LibError::Arg(..))`; `i` is the 0-based stack index.
pub fn arg_fail<'gc, T>(i: usize, msg: impl Display) -> LibResult<'gc, T> {
    Err(LibError::Arg(i + 1, msg.to_string()))
}

/// Turns a message into a Lua error value (a string), as `luaL_error` does.
pub fn message_error<'gc>(ctx: Context<'gc>, msg: &str) -> Error<'gc> {
    Error::from_value(Value::String(ctx.intern(msg.as_bytes())))
}

/// The `chunk:line: ` prefix for an error raised by a library function, from
/// the Lua frame that called it; empty when the caller is not Lua.
pub fn position(exec: &Execution<'_, '_>) -> std::string::String {
    match exec.upper_lua_frame() {
        Some(f) => format!("{}:{}: ", f.chunk_name, f.current_line),
        None => std::string::String::new(),
    }
}

impl<'gc> LibError<'gc> {
    /// The error value, positioned at the calling Lua line. `name` is the
    /// function's qualified name (`string.rep`). As `luaL_argerror` does,
    /// an argument error names the function the way the calling Lua code
    /// did (`'rep'` for `string.rep(...)` and `s:rep(...)`, `'r'` for a
    /// local `r`), does not count `self` in a method call (`calling 'rep'
    /// on bad self` when `self` is the bad one), and uses the qualified
    /// name when the caller gives none (e.g. `pcall(string.rep)`).
    pub fn into_error(
        self,
        ctx: Context<'gc>,
        exec: &Execution<'gc, '_>,
        name: &str,
    ) -> Error<'gc> {
        match self {
            LibError::Arg(mut n, detail) => {
                let at = position(exec);
                let name = match exec.calling_name() {
                    Some(("method", method)) => {
                        n -= 1;
                        if n == 0 {
                            return message_error(
                                ctx,
                                &format!("{at}calling '{method}' on bad self ({detail})"),
                            );
                        }
                        method
                    }
                    Some((_, called)) => called,
                    None => name.to_string(),
                };
                message_error(
                    ctx,
                    &format!("{at}bad argument #{n} to '{name}' ({detail})"),
                )
            }
            LibError::Msg(msg) => message_error(ctx, &format!("{}{msg}", position(exec))),
            LibError::Raw(e) => e,
        }
    }
}

/// Wraps a library function body into a callback named `name` for errors.
pub fn lib_fn<'gc>(ctx: Context<'gc>, name: &'static str, f: LibFn) -> Callback<'gc> {
    Callback::from_fn(&ctx, move |ctx, mut exec, mut stack| {
        f(ctx, &mut exec, &mut stack).map_err(|e| e.into_error(ctx, &exec, name))
    })
}

/// Adds `f` to a library table under the last part of its qualified
/// `name` (`string.rep` -> `rep`).
pub fn set_fn<'gc>(ctx: Context<'gc>, table: Table<'gc>, name: &'static str, f: LibFn) {
    let key = name.rsplit('.').next().unwrap_or(name);
    // A library table is fresh (not frozen) while it is built.
    let _ = table.set(ctx, key, lib_fn(ctx, name, f));
}

/// The type name lua5.4 uses in argument errors (`no value` for a missing
/// argument).
pub fn type_name_at(stack: &Stack<'_, '_>, i: usize) -> std::borrow::Cow<'static, str> {
    if i >= stack.len() {
        "no value".into()
    } else {
        type_name_for_errors(stack.get(i))
    }
}

/// What stands for lua5.4's light userdata (an address as a value, e.g.
/// `debug.upvalueid`'s answer): a userdata holding it, named `light
/// userdata` in argument errors.
pub struct LightUserData(pub usize);

/// `luaL_typeerror`'s name of a value: its metatable's `__name` when that
/// is a string (`FILE*`), else its type.
pub fn type_name_for_errors(v: Value<'_>) -> std::borrow::Cow<'static, str> {
    if let Value::UserData(u) = v {
        if u.downcast_static::<LightUserData>().is_some() {
            return "light userdata".into();
        }
    }
    let mt = match v {
        Value::Table(t) => t.metatable(),
        Value::UserData(u) => u.metatable(),
        _ => None,
    };
    if let Some(mt) = mt {
        // An error path: a scan of the metatable needs no interned key.
        let mut k = Value::Nil;
        while let Ok(Some((key, val))) = mt.next(k) {
            if let (Value::String(ks), Value::String(name)) = (key, val) {
                if ks.as_bytes() == b"__name" {
                    return name.to_string().into();
                }
            }
            k = key;
        }
    }
    v.type_name().into()
}

/// `bad argument #i (<expected> expected, got <type>)` (`luaL_typeerror`).
pub fn type_error<'gc, T>(stack: &Stack<'gc, '_>, i: usize, expected: &str) -> LibResult<'gc, T> {
    arg_fail(
        i,
        format!("{expected} expected, got {}", type_name_at(stack, i)),
    )
}

/// `luaL_checkany`.
pub fn check_any<'gc>(stack: &Stack<'gc, '_>, i: usize) -> LibResult<'gc, Value<'gc>> {
    if i >= stack.len() {
        arg_fail(i, "value expected")
    } else {
        Ok(stack.get(i))
    }
}

/// `luaL_checkinteger`: integers, floats with an exact integer value and
/// strings denoting either.
pub fn check_integer<'gc>(stack: &Stack<'gc, '_>, i: usize) -> LibResult<'gc, i64> {
    let v = stack.get(i);
    match v {
        Value::Integer(n) => Ok(n),
        _ => match v.to_integer() {
            Some(n) => Ok(n),
            None if v.to_number().is_some() => arg_fail(i, "number has no integer representation"),
            None => type_error(stack, i, "number"),
        },
    }
}

/// `luaL_optinteger`.
pub fn opt_integer<'gc>(stack: &Stack<'gc, '_>, i: usize, default: i64) -> LibResult<'gc, i64> {
    if stack.get(i).is_nil() {
        Ok(default)
    } else {
        check_integer(stack, i)
    }
}

/// `luaL_checknumber` as an `f64`.
pub fn check_number<'gc>(stack: &Stack<'gc, '_>, i: usize) -> LibResult<'gc, f64> {
    match stack.get(i).to_float() {
        Some(f) => Ok(f),
        None => type_error(stack, i, "number"),
    }
}

/// `luaL_checknumber` keeping the integer/float subtype.
pub fn check_numeric<'gc>(stack: &Stack<'gc, '_>, i: usize) -> LibResult<'gc, Number> {
    match stack.get(i).to_number() {
        Some(n) => Ok(n),
        None => type_error(stack, i, "number"),
    }
}

/// `luaL_optnumber`.
pub fn opt_number<'gc>(stack: &Stack<'gc, '_>, i: usize, default: f64) -> LibResult<'gc, f64> {
    if stack.get(i).is_nil() {
        Ok(default)
    } else {
        check_number(stack, i)
    }
}

/// `luaL_checklstring`: strings, and numbers converted to strings.
pub fn check_string<'gc>(
    ctx: Context<'gc>,
    stack: &Stack<'gc, '_>,
    i: usize,
) -> LibResult<'gc, String<'gc>> {
    match stack.get(i) {
        Value::String(s) => Ok(s),
        Value::Integer(n) => Ok(ctx.intern(number_to_string(Number::Int(n)).as_bytes())),
        Value::Number(f) => Ok(ctx.intern(number_to_string(Number::Float(f)).as_bytes())),
        _ => type_error(stack, i, "string"),
    }
}

/// `luaL_optlstring`.
pub fn opt_string<'gc>(
    ctx: Context<'gc>,
    stack: &Stack<'gc, '_>,
    i: usize,
) -> LibResult<'gc, Option<String<'gc>>> {
    if stack.get(i).is_nil() {
        Ok(None)
    } else {
        check_string(ctx, stack, i).map(Some)
    }
}

/// `luaL_checktype(L, i, LUA_TTABLE)`.
pub fn check_table<'gc>(stack: &Stack<'gc, '_>, i: usize) -> LibResult<'gc, Table<'gc>> {
    match stack.get(i) {
        Value::Table(t) => Ok(t),
        _ => type_error(stack, i, "table"),
    }
}

/// `luaL_checktype(L, i, LUA_TFUNCTION)`.
pub fn check_function<'gc>(stack: &Stack<'gc, '_>, i: usize) -> LibResult<'gc, Function<'gc>> {
    match stack.get(i) {
        Value::Function(f) => Ok(f),
        _ => type_error(stack, i, "function"),
    }
}

/// Bytes of library work per unit of instruction budget: a VM instruction
/// costs 1, copying or scanning 8 bytes costs about as much.
const UNITS_PER_FUEL: usize = 8;

/// Charges the instruction budget for work proportional to `units`
/// (bytes, elements, matcher steps).
pub fn charge(exec: &mut Execution<'_, '_>, units: usize) {
    let fuel = (units / UNITS_PER_FUEL) as i64;
    if fuel > 0 {
        exec.fuel().consume(fuel);
    }
}

/// The remaining instruction budget of this step, in units of library work
/// (see [`charge`]): a scan that can stop between two steps of its work
/// stops after this much, so the host can check its budgets.
pub fn work_left(exec: &mut Execution<'_, '_>) -> usize {
    (exec.fuel().remaining().max(0) as usize).saturating_mul(UNITS_PER_FUEL)
}

/// Longest string a library function builds in one call. lua5.4's limit
/// is the address space; a VM's memory is checked only between slices, so
/// one call must not be able to ask for gigabytes: past this it fails with
/// lua5.4's memory error.
pub const MAX_STRING: usize = 256 << 20;

/// lua5.4's memory error (`LUA_ERRMEM`): `not enough memory`, without a
/// position.
pub fn memory_error<'gc, T>(ctx: Context<'gc>) -> LibResult<'gc, T> {
    Err(LibError::Raw(message_error(ctx, "not enough memory")))
}

/// Fails with the memory error when a result of `len` bytes would pass
/// [`MAX_STRING`].
pub fn check_string_size<'gc>(ctx: Context<'gc>, len: usize) -> LibResult<'gc, ()> {
    if len > MAX_STRING {
        memory_error(ctx)
    } else {
        Ok(())
    }
}

/// `luaL_checkstack`: room for `n` more values on the thread's stack, or
/// `stack overflow (msg)`.
pub fn check_stack<'gc>(stack: &Stack<'gc, '_>, n: usize, msg: &str) -> LibResult<'gc, ()> {
    if n >= crate::vm::thread::MAX_STACK.saturating_sub(stack.len()) {
        fail(format!("stack overflow ({msg})"))
    } else {
        Ok(())
    }
}

/// The address `tostring` and `%p` show for a reference value
/// (`lua_topointer`); `None` for values that have none.
pub fn pointer_text(v: Value<'_>) -> Option<std::string::String> {
    v.object_ptr().map(|p| format!("{p:p}"))
}

/// `luaL_tolstring` for a value without `__tostring`: numbers as
/// `tostring` prints them, `type: 0x...` (or `__name: 0x...`) for objects.
pub fn plain_tostring<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> String<'gc> {
    match v {
        Value::String(s) => s,
        Value::Nil => ctx.intern(b"nil"),
        Value::Boolean(true) => ctx.intern(b"true"),
        Value::Boolean(false) => ctx.intern(b"false"),
        Value::Integer(n) => ctx.intern(number_to_string(Number::Int(n)).as_bytes()),
        Value::Number(f) => ctx.intern(number_to_string(Number::Float(f)).as_bytes()),
        _ => {
            let name = match crate::meta::metatable(ctx, v).map(|mt| mt.get(ctx, "__name")) {
                Some(Value::String(n)) => n.to_string(),
                _ => v.type_name().to_string(),
            };
            let ptr = pointer_text(v).unwrap_or_default();
            ctx.intern(format!("{name}: {ptr}").as_bytes())
        }
    }
}

/// The `__tostring` metafield of `v` (any non-nil value: calling a
/// non-function fails as Lua's call does), for `luaL_tolstring`.
pub fn tostring_meta<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> Option<Value<'gc>> {
    match v {
        Value::String(_) | Value::Integer(_) | Value::Number(_) => None,
        _ => crate::meta::metatable(ctx, v)
            .map(|mt| mt.get(ctx, "__tostring"))
            .filter(|f| !f.is_nil()),
    }
}

/// The text a `__tostring` metamethod returned, checked as
/// `luaL_tolstring` does (strings, and numbers converted).
pub fn tostring_result<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> LibResult<'gc, String<'gc>> {
    match v {
        Value::String(_) | Value::Integer(_) | Value::Number(_) => Ok(plain_tostring(ctx, v)),
        _ => fail("'__tostring' must return a string"),
    }
}

/// A function to call `f` as Lua calls it (`__call` for non-functions),
/// or lua5.4's `attempt to call a X value`.
pub fn callable<'gc>(ctx: Context<'gc>, f: Value<'gc>) -> LibResult<'gc, Function<'gc>> {
    crate::meta::call(ctx, f).or_else(|v| {
        fail(format!(
            "attempt to call a {} value",
            crate::meta::type_name_of(ctx, v)
        ))
    })
}
