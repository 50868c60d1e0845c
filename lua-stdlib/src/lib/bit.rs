//! LuaJIT's `bit` library: `tobit tohex bnot band bor bxor lshift rshift
//! arshift rol ror bswap`, on 32-bit values returned as signed integers,
//! with LuaJIT's number normalization (round to nearest, modulo 2^32).

use crate::number::Number;
use crate::{CallbackReturn, Context, Execution, Stack, Table};

use super::args::{check_numeric, opt_integer, set_fn, LibResult};

/// LuaJIT's `tobit`: a number to a signed 32-bit integer.
pub fn to_bit(n: Number) -> i32 {
    match n {
        Number::Int(i) => i as i32,
        // Adding 2^52 + 2^51 leaves the rounded integer in the low bits.
        Number::Float(f) => (f + 6_755_399_441_055_744.0).to_bits() as u32 as i32,
    }
}

fn arg<'gc>(stack: &Stack<'gc, '_>, i: usize) -> LibResult<'gc, i32> {
    Ok(to_bit(check_numeric(stack, i)?))
}

fn ret<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    v: i32,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    stack.replace(ctx, v as i64);
    Ok(CallbackReturn::Return)
}

fn bit_tobit<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let x = arg(stack, 0)?;
    ret(ctx, stack, x)
}

fn bit_bnot<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let x = arg(stack, 0)?;
    ret(ctx, stack, !x)
}

fn fold<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    f: fn(i32, i32) -> i32,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let mut acc = arg(stack, 0)?;
    for i in 1..stack.len() {
        acc = f(acc, arg(stack, i)?);
    }
    ret(ctx, stack, acc)
}

fn bit_band<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    fold(ctx, stack, |a, b| a & b)
}

fn bit_bor<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    fold(ctx, stack, |a, b| a | b)
}

fn bit_bxor<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    fold(ctx, stack, |a, b| a ^ b)
}

fn shift<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    f: fn(i32, u32) -> i32,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let x = arg(stack, 0)?;
    let n = (arg(stack, 1)? & 31) as u32;
    ret(ctx, stack, f(x, n))
}

fn bit_lshift<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    shift(ctx, stack, |x, n| ((x as u32) << n) as i32)
}

fn bit_rshift<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    shift(ctx, stack, |x, n| ((x as u32) >> n) as i32)
}

fn bit_arshift<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    shift(ctx, stack, |x, n| x >> n)
}

fn bit_rol<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    shift(ctx, stack, |x, n| (x as u32).rotate_left(n) as i32)
}

fn bit_ror<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    shift(ctx, stack, |x, n| (x as u32).rotate_right(n) as i32)
}

fn bit_bswap<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let x = arg(stack, 0)?;
    ret(ctx, stack, x.swap_bytes())
}

fn bit_tohex<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let x = arg(stack, 0)? as u32;
    let n = if stack.get(1).is_nil() {
        8
    } else {
        to_bit(Number::Int(opt_integer(stack, 1, 8)?))
    };
    let upper = n < 0;
    let digits = (n.unsigned_abs() as usize).min(8);
    let full = if upper {
        format!("{x:08X}")
    } else {
        format!("{x:08x}")
    };
    stack.replace(ctx, ctx.intern(&full.as_bytes()[8 - digits..]));
    Ok(CallbackReturn::Return)
}

/// Builds the `bit` table.
pub fn load_bit<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    let bit = ctx.new_table();
    set_fn(ctx, bit, "bit.tobit", bit_tobit);
    set_fn(ctx, bit, "bit.tohex", bit_tohex);
    set_fn(ctx, bit, "bit.bnot", bit_bnot);
    set_fn(ctx, bit, "bit.band", bit_band);
    set_fn(ctx, bit, "bit.bor", bit_bor);
    set_fn(ctx, bit, "bit.bxor", bit_bxor);
    set_fn(ctx, bit, "bit.lshift", bit_lshift);
    set_fn(ctx, bit, "bit.rshift", bit_rshift);
    set_fn(ctx, bit, "bit.arshift", bit_arshift);
    set_fn(ctx, bit, "bit.rol", bit_rol);
    set_fn(ctx, bit, "bit.ror", bit_ror);
    set_fn(ctx, bit, "bit.bswap", bit_bswap);
    bit
}
