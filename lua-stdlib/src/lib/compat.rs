//! LuaJIT / Lua 5.1 compatibility that Kong code relies on: the globals
//! `unpack` and `loadstring`, `table.new` and `table.clear`, and
//! `math.pow ldexp frexp log10 atan2 cosh sinh tanh`. (`bit` is its own
//! library.) Loaded after the standard libraries, into the same tables.

use crate::{CallbackReturn, Context, Execution, Stack, Table, Value};

use super::args::{check_integer, check_number, check_table, set_fn, LibResult};

fn table_new<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    // Size hints, as LuaJIT takes them (bounded: they are only hints).
    let narr = stack.get(0).to_integer().unwrap_or(0).clamp(0, 1 << 16) as usize;
    let nrec = stack.get(1).to_integer().unwrap_or(0).clamp(0, 1 << 16) as usize;
    stack.replace(ctx, ctx.new_table_with(narr, nrec));
    Ok(CallbackReturn::Return)
}

fn table_clear<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let t = check_table(stack, 0)?;
    let mut keys: Vec<Value<'gc>> = Vec::new();
    let mut k = Value::Nil;
    while let Ok(Some((key, _))) = t.next(k) {
        keys.push(key);
        k = key;
    }
    super::args::charge(exec, keys.len());
    for k in keys {
        let _ = t.raw_set(&ctx, k, Value::Nil);
    }
    stack.clear();
    Ok(CallbackReturn::Return)
}

fn math_pow<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let x = check_number(stack, 0)?;
    let y = check_number(stack, 1)?;
    stack.replace(ctx, x.powf(y));
    Ok(CallbackReturn::Return)
}

/// `m * 2^e` without overflowing on the way.
pub fn ldexp(mut m: f64, mut e: i64) -> f64 {
    while e > 1000 {
        m *= 2f64.powi(1000);
        e -= 1000;
        if m.is_infinite() {
            return m;
        }
    }
    while e < -1000 {
        m *= 2f64.powi(-1000);
        e += 1000;
        if m == 0.0 {
            return m;
        }
    }
    m * 2f64.powi(e as i32)
}

/// `(m, e)` with `x = m * 2^e` and `0.5 <= |m| < 1` (C's `frexp`).
pub fn frexp(x: f64) -> (f64, i64) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64;
    if exp == 0 {
        let (m, e) = frexp(x * 2f64.powi(54));
        return (m, e - 54);
    }
    let m = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (m, exp - 1022)
}

fn math_ldexp<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let m = check_number(stack, 0)?;
    let e = check_integer(stack, 1)?;
    stack.replace(ctx, ldexp(m, e));
    Ok(CallbackReturn::Return)
}

fn math_frexp<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let (m, e) = frexp(check_number(stack, 0)?);
    stack.replace(ctx, (m, e));
    Ok(CallbackReturn::Return)
}

macro_rules! float_fn {
    ($name:ident, $f:expr) => {
        fn $name<'gc>(
            ctx: Context<'gc>,
            _: &mut Execution<'gc, '_>,
            stack: &mut Stack<'gc, '_>,
        ) -> LibResult<'gc, CallbackReturn<'gc>> {
            let x = check_number(stack, 0)?;
            let f: fn(f64) -> f64 = $f;
            stack.replace(ctx, f(x));
            Ok(CallbackReturn::Return)
        }
    };
}

float_fn!(math_log10, f64::log10);
float_fn!(math_cosh, f64::cosh);
float_fn!(math_sinh, f64::sinh);
float_fn!(math_tanh, f64::tanh);

fn math_atan2<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let y = check_number(stack, 0)?;
    let x = check_number(stack, 1)?;
    stack.replace(ctx, y.atan2(x));
    Ok(CallbackReturn::Return)
}

/// Adds the compatibility functions to `env` and its `table`/`math`.
pub fn load_compat<'gc>(ctx: Context<'gc>, env: Table<'gc>) {
    if let Value::Table(table) = env.get(ctx, "table") {
        env.set(ctx, "unpack", table.get(ctx, "unpack"))
            .expect("string key");
    }
    env.set(ctx, "loadstring", env.get(ctx, "load"))
        .expect("string key");
    if let Value::Table(table) = env.get(ctx, "table") {
        set_fn(ctx, table, "table.new", table_new);
        set_fn(ctx, table, "table.clear", table_clear);
    }
    if let Value::Table(math) = env.get(ctx, "math") {
        set_fn(ctx, math, "math.pow", math_pow);
        set_fn(ctx, math, "math.ldexp", math_ldexp);
        set_fn(ctx, math, "math.frexp", math_frexp);
        set_fn(ctx, math, "math.log10", math_log10);
        set_fn(ctx, math, "math.atan2", math_atan2);
        set_fn(ctx, math, "math.cosh", math_cosh);
        set_fn(ctx, math, "math.sinh", math_sinh);
        set_fn(ctx, math, "math.tanh", math_tanh);
    }
}
