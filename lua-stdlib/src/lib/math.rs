//! The `math` library with Lua 5.4 semantics: integer/float subtypes
//! (`math.type`, `tointeger`, `floor`/`ceil` returning integers, `ult`),
//! and `random`/`randomseed` on xoshiro256** exactly as lua5.4 draws
//! numbers, so a seeded sequence is the same as PUC Lua's.

use std::{cell::RefCell, rc::Rc};

use piccolo::{Callback, CallbackReturn, Context, Execution, Stack, Table, Value};

use super::args::{
    arg_fail, check_any, check_integer, check_number, check_numeric, fail, set_fn, LibError,
    LibResult,
};
use super::number::float_to_integer;
use super::table::less_than;

/// A float result as an integer when it has an exact integer value.
fn int_if_exact<'gc>(f: f64) -> Value<'gc> {
    match float_to_integer(f) {
        Some(i) => Value::Integer(i),
        None => Value::Number(f),
    }
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

float_fn!(math_sqrt, f64::sqrt);
float_fn!(math_exp, f64::exp);
float_fn!(math_sin, f64::sin);
float_fn!(math_cos, f64::cos);
float_fn!(math_tan, f64::tan);
float_fn!(math_asin, f64::asin);
float_fn!(math_acos, f64::acos);

fn math_abs<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let v = match check_numeric(stack, 0)? {
        Value::Integer(i) => Value::Integer(i.wrapping_abs()),
        Value::Number(f) => Value::Number(f.abs()),
        v => v,
    };
    stack.replace(ctx, v);
    Ok(CallbackReturn::Return)
}

fn rounding<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    f: fn(f64) -> f64,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let v = match check_numeric(stack, 0)? {
        Value::Number(x) => int_if_exact(f(x)),
        v => v,
    };
    stack.replace(ctx, v);
    Ok(CallbackReturn::Return)
}

fn math_floor<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    rounding(ctx, stack, f64::floor)
}

fn math_ceil<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    rounding(ctx, stack, f64::ceil)
}

fn math_fmod<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let a = check_numeric(stack, 0)?;
    let b = check_numeric(stack, 1)?;
    let v = match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => {
            if y == 0 {
                return arg_fail(1, "zero");
            }
            // C's `%` truncates; -1 avoids the overflow of min % -1.
            Value::Integer(if y == -1 { 0 } else { x % y })
        }
        _ => Value::Number(check_number(stack, 0)? % check_number(stack, 1)?),
    };
    stack.replace(ctx, v);
    Ok(CallbackReturn::Return)
}

fn math_modf<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    match check_numeric(stack, 0)? {
        Value::Integer(i) => stack.replace(ctx, (i, 0.0)),
        _ => {
            let x = check_number(stack, 0)?;
            let ip = x.trunc();
            let frac = if x.is_infinite() { 0.0 } else { x - ip };
            let ip = if ip.is_finite() {
                int_if_exact(ip)
            } else {
                Value::Number(ip)
            };
            stack.replace(ctx, (ip, frac));
        }
    }
    Ok(CallbackReturn::Return)
}

fn math_log<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let x = check_number(stack, 0)?;
    let r = if stack.get(1).is_nil() {
        x.ln()
    } else {
        let base = check_number(stack, 1)?;
        if base == 2.0 {
            x.log2()
        } else if base == 10.0 {
            x.log10()
        } else {
            x.ln() / base.ln()
        }
    };
    stack.replace(ctx, r);
    Ok(CallbackReturn::Return)
}

fn math_atan<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let y = check_number(stack, 0)?;
    let x = super::args::opt_number(stack, 1, 1.0)?;
    stack.replace(ctx, y.atan2(x));
    Ok(CallbackReturn::Return)
}

fn math_tointeger<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let v = check_any(stack, 0)?;
    let r = match super::args::to_integer(v) {
        Some(i) => Value::Integer(i),
        None => Value::Nil,
    };
    stack.replace(ctx, r);
    Ok(CallbackReturn::Return)
}

fn math_type<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let r = match check_any(stack, 0)? {
        Value::Integer(_) => Value::String(ctx.intern_static(b"integer")),
        Value::Number(_) => Value::String(ctx.intern_static(b"float")),
        _ => Value::Nil,
    };
    stack.replace(ctx, r);
    Ok(CallbackReturn::Return)
}

fn math_ult<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let a = check_integer(stack, 0)?;
    let b = check_integer(stack, 1)?;
    stack.replace(ctx, (a as u64) < (b as u64));
    Ok(CallbackReturn::Return)
}

fn min_max<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    want_max: bool,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    if stack.is_empty() {
        return arg_fail(0, "value expected");
    }
    // lua5.4 compares the raw arguments (`lua_compare`), so strings are
    // not converted and mixed types raise comparison errors.
    let mut best = check_numeric(stack, 0).map(|_| stack.get(0))?;
    for i in 1..stack.len() {
        let v = stack.get(i);
        let better = if want_max {
            less_than(ctx, best, v)
        } else {
            less_than(ctx, v, best)
        };
        // A comparison error carries no position in lua5.4.
        let better = better.map_err(|msg| LibError::Raw(super::args::message_error(ctx, &msg)))?;
        if better == Some(true) {
            best = v;
        }
    }
    stack.replace(ctx, best);
    Ok(CallbackReturn::Return)
}

fn math_max<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    min_max(ctx, stack, true)
}

fn math_min<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    min_max(ctx, stack, false)
}

/// xoshiro256**, lua5.4's generator.
#[derive(Clone)]
pub struct Xoshiro([u64; 4]);

impl Xoshiro {
    /// Seeds as lua5.4's `setseed`: `(n1, 0xff, n2, 0)`, then 16 discards.
    pub fn seeded(n1: u64, n2: u64) -> Self {
        let mut g = Xoshiro([n1, 0xff, n2, 0]);
        for _ in 0..16 {
            g.next_u64();
        }
        g
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A draw projected into `0..=n` without bias (lua5.4's `project`).
    fn project(&mut self, mut r: u64, n: u64) -> u64 {
        if n & n.wrapping_add(1) == 0 {
            return r & n;
        }
        let mut lim = n;
        lim |= lim >> 1;
        lim |= lim >> 2;
        lim |= lim >> 4;
        lim |= lim >> 8;
        lim |= lim >> 16;
        lim |= lim >> 32;
        loop {
            r &= lim;
            if r <= n {
                return r;
            }
            r = self.next_u64();
        }
    }
}

fn random_call<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    g: &mut Xoshiro,
) -> LibResult<'gc, ()> {
    let r = g.next_u64();
    let (low, up) = match stack.len() {
        0 => {
            // A float in [0, 1) from the top 53 bits.
            stack.replace(ctx, (r >> 11) as f64 * (0.5f64).powi(53));
            return Ok(());
        }
        1 => {
            let up = check_integer(stack, 0)?;
            if up == 0 {
                stack.replace(ctx, r as i64);
                return Ok(());
            }
            (1, up)
        }
        2 => (check_integer(stack, 0)?, check_integer(stack, 1)?),
        _ => return fail("wrong number of arguments"),
    };
    if low > up {
        return arg_fail(0, "interval is empty");
    }
    let v = g.project(r, (up as u64).wrapping_sub(low as u64));
    stack.replace(ctx, v.wrapping_add(low as u64) as i64);
    Ok(())
}

fn seed_from_time() -> (u64, u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let addr = &now as *const u64 as u64;
    (now, addr)
}

/// Builds the `math` table; each one has its own generator state.
pub fn load_math<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    let math = Table::new(&ctx);
    set_fn(ctx, math, "math.abs", math_abs);
    set_fn(ctx, math, "math.ceil", math_ceil);
    set_fn(ctx, math, "math.floor", math_floor);
    set_fn(ctx, math, "math.fmod", math_fmod);
    set_fn(ctx, math, "math.modf", math_modf);
    set_fn(ctx, math, "math.sqrt", math_sqrt);
    set_fn(ctx, math, "math.exp", math_exp);
    set_fn(ctx, math, "math.log", math_log);
    set_fn(ctx, math, "math.sin", math_sin);
    set_fn(ctx, math, "math.cos", math_cos);
    set_fn(ctx, math, "math.tan", math_tan);
    set_fn(ctx, math, "math.asin", math_asin);
    set_fn(ctx, math, "math.acos", math_acos);
    set_fn(ctx, math, "math.atan", math_atan);
    set_fn(ctx, math, "math.tointeger", math_tointeger);
    set_fn(ctx, math, "math.type", math_type);
    set_fn(ctx, math, "math.ult", math_ult);
    set_fn(ctx, math, "math.max", math_max);
    set_fn(ctx, math, "math.min", math_min);
    let set = |k: &'static str, v: Value<'gc>| math.set(ctx, k, v).expect("string key");
    set("pi", Value::Number(std::f64::consts::PI));
    set("huge", Value::Number(f64::INFINITY));
    set("maxinteger", Value::Integer(i64::MAX));
    set("mininteger", Value::Integer(i64::MIN));

    let (a, b) = seed_from_time();
    let state = Rc::new(RefCell::new(Xoshiro::seeded(a, b)));
    let random_state = state.clone();
    let random = Callback::from_fn(&ctx, move |ctx, exec, mut stack| {
        random_call(ctx, &mut stack, &mut random_state.borrow_mut())
            .map_err(|e| e.into_error(ctx, &exec, "math.random"))?;
        Ok(CallbackReturn::Return)
    });
    set("random", random.into());
    let randomseed = Callback::from_fn(&ctx, move |ctx, exec, mut stack| {
        let seeds = if stack.is_empty() {
            let (a, b) = seed_from_time();
            (a as i64, b as i64)
        } else {
            let n1 =
                check_integer(&stack, 0).map_err(|e| e.into_error(ctx, &exec, "math.randomseed"));
            let n2 = super::args::opt_integer(&stack, 1, 0)
                .map_err(|e| e.into_error(ctx, &exec, "math.randomseed"));
            (n1?, n2?)
        };
        *state.borrow_mut() = Xoshiro::seeded(seeds.0 as u64, seeds.1 as u64);
        stack.replace(ctx, seeds);
        Ok(CallbackReturn::Return)
    });
    set("randomseed", randomseed.into());
    math
}
