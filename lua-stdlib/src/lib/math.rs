//! The `math` library as lua5.4's `lmathlib.c`: integer/float subtypes
//! (`math.type`, `tointeger`, `floor`/`ceil`/`modf` returning integers when
//! they fit, `ult`), `min`/`max` comparing with `<` (metamethods included),
//! `deg`/`rad`, and `random`/`randomseed` on xoshiro256** exactly as lua5.4
//! draws numbers, so a seeded sequence is PUC Lua's.
//!
//! Conversions and comparisons come from [`crate::number`]. Like
//! `lmathlib.c`, only a value that *is* an integer takes an integer path:
//! a numeric string is read as a float (`math.abs("-3")` is `3.0`).

use std::cell::RefCell;
use std::rc::Rc;

use gc_arena::Collect;

use super::args::{
    arg_fail, check_any, check_integer, check_number, fail, opt_integer, opt_number, set_fn,
    LibResult,
};
use super::meta_op::{run, Access, MetaOp};
use crate::number::float_to_integer;
use crate::{Callback, CallbackReturn, Context, Execution, Stack, Table, Value};

/// `pushnumint`: a float result as an integer when it fits.
fn int_if_fits<'gc>(f: f64) -> Value<'gc> {
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
float_fn!(math_deg, |x| x * (180.0 / std::f64::consts::PI));
float_fn!(math_rad, |x| x * (std::f64::consts::PI / 180.0));

fn math_abs<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let v = match stack.get(0) {
        Value::Integer(i) => Value::Integer(i.wrapping_abs()),
        _ => Value::Number(check_number(stack, 0)?.abs()),
    };
    stack.replace(ctx, v);
    Ok(CallbackReturn::Return)
}

/// `floor` and `ceil`: an integer is its own result; a float is rounded
/// with `f` and becomes an integer when it fits.
fn rounding<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    f: fn(f64) -> f64,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let v = match stack.get(0) {
        v @ Value::Integer(_) => v,
        _ => int_if_fits(f(check_number(stack, 0)?)),
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
    let v = match (stack.get(0), stack.get(1)) {
        (Value::Integer(x), Value::Integer(y)) => {
            if y == 0 {
                return arg_fail(1, "zero");
            }
            // C's `%` truncates; -1 avoids the overflow of `min % -1`.
            Value::Integer(if y == -1 { 0 } else { x % y })
        }
        // Rust's `%` on floats is C's `fmod`.
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
    match stack.get(0) {
        v @ Value::Integer(_) => stack.replace(ctx, (v, 0.0)),
        _ => {
            let n = check_number(stack, 0)?;
            // The integer part rounds toward zero; the test keeps
            // `modf(inf)`'s fraction 0.
            let ip = if n < 0.0 { n.ceil() } else { n.floor() };
            let frac = if n == ip { 0.0 } else { n - ip };
            stack.replace(ctx, (int_if_fits(ip), frac));
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
    let x = opt_number(stack, 1, 1.0)?;
    stack.replace(ctx, y.atan2(x));
    Ok(CallbackReturn::Return)
}

fn math_tointeger<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let r = match stack.get(0).to_integer() {
        Some(i) => Value::Integer(i),
        None => {
            check_any(stack, 0)?;
            Value::Nil
        }
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

/// `math.min`/`math.max`: the arguments compared with `<` (`lua_compare`),
/// so any values compare as the VM compares them, `__lt` included (a Lua
/// `__lt` is called through the executor).
#[derive(Collect)]
#[collect(no_drop)]
struct MinMax<'gc> {
    max: bool,
    /// The argument compared last, and the best so far.
    i: usize,
    best: usize,
    best_value: Value<'gc>,
}

impl<'gc> MetaOp<'gc> for MinMax<'gc> {
    fn name(&self) -> &'static str {
        if self.max {
            "math.max"
        } else {
            "math.min"
        }
    }

    fn next(
        &mut self,
        _: Context<'gc>,
        _: &mut Execution<'gc, '_>,
        args: &Stack<'gc, '_>,
        answer: Value<'gc>,
    ) -> LibResult<'gc, Access<'gc>> {
        if self.i > 0 && answer.to_bool() {
            self.best = self.i;
        }
        self.best_value = args.get(self.best);
        self.i += 1;
        if self.i >= args.len() {
            return Ok(Access::Done);
        }
        let (v, best) = (args.get(self.i), args.get(self.best));
        Ok(if self.max {
            Access::Less(best, v)
        } else {
            Access::Less(v, best)
        })
    }

    fn results(&mut self, ctx: Context<'gc>, stack: &mut Stack<'gc, '_>) {
        stack.replace(ctx, self.best_value);
    }
}

fn min_max<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
    max: bool,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    if stack.is_empty() {
        return arg_fail(0, "value expected");
    }
    let op = MinMax {
        max,
        i: 0,
        best: 0,
        best_value: Value::Nil,
    };
    run(ctx, exec, stack, op)
}

fn math_max<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    min_max(ctx, exec, stack, true)
}

fn math_min<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    min_max(ctx, exec, stack, false)
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
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let r = g.next_u64();
    let (low, up) = match stack.len() {
        0 => {
            // A float in [0, 1) from the top 53 bits.
            stack.replace(ctx, (r >> 11) as f64 * (0.5f64).powi(53));
            return Ok(CallbackReturn::Return);
        }
        1 => {
            let up = check_integer(stack, 0)?;
            if up == 0 {
                stack.replace(ctx, r as i64);
                return Ok(CallbackReturn::Return);
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
    Ok(CallbackReturn::Return)
}

fn seed_from_time() -> (u64, u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let addr = &now as *const u64 as u64;
    (now, addr)
}

fn randomseed_call<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    g: &mut Xoshiro,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let (n1, n2) = if stack.is_empty() {
        let (a, b) = seed_from_time();
        (a as i64, b as i64)
    } else {
        (check_integer(stack, 0)?, opt_integer(stack, 1, 0)?)
    };
    *g = Xoshiro::seeded(n1 as u64, n2 as u64);
    stack.replace(ctx, (n1, n2));
    Ok(CallbackReturn::Return)
}

/// Builds the `math` table; each one has its own generator, seeded from
/// the time as lua5.4 seeds it.
pub fn load_math<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    let math = ctx.new_table();
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
    set_fn(ctx, math, "math.deg", math_deg);
    set_fn(ctx, math, "math.rad", math_rad);
    set_fn(ctx, math, "math.tointeger", math_tointeger);
    set_fn(ctx, math, "math.type", math_type);
    set_fn(ctx, math, "math.ult", math_ult);
    set_fn(ctx, math, "math.max", math_max);
    set_fn(ctx, math, "math.min", math_min);
    // A fresh table: string keys cannot fail.
    let set = |k: &'static str, v: Value<'gc>| {
        let _ = math.set(ctx, k, v);
    };
    set("pi", Value::Number(std::f64::consts::PI));
    set("huge", Value::Number(f64::INFINITY));
    set("maxinteger", Value::Integer(i64::MAX));
    set("mininteger", Value::Integer(i64::MIN));

    let (a, b) = seed_from_time();
    let state = Rc::new(RefCell::new(Xoshiro::seeded(a, b)));
    let g = state.clone();
    let random = Callback::from_fn(&ctx, move |ctx, exec, mut stack| {
        random_call(ctx, &mut stack, &mut g.borrow_mut())
            .map_err(|e| e.into_error(ctx, &exec, "math.random"))
    });
    set("random", random.into());
    let randomseed = Callback::from_fn(&ctx, move |ctx, exec, mut stack| {
        randomseed_call(ctx, &mut stack, &mut state.borrow_mut())
            .map_err(|e| e.into_error(ctx, &exec, "math.randomseed"))
    });
    set("randomseed", randomseed.into());
    math
}
