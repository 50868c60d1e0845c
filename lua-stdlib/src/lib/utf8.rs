//! The `utf8` library: `char charpattern codepoint codes len offset`, with
//! lua5.4's extended encoding (up to 6 bytes, 0x7FFFFFFF), strict decoding
//! unless `lax`, and its messages (`invalid UTF-8 code`).

use super::args::{
    arg_fail, check_integer, check_string, fail, lib_fn, opt_integer, set_fn, LibResult,
};
use crate::{Callback, CallbackReturn, Context, Execution, Stack, Table, Value};

const MAX_UTF: u32 = 0x7FFF_FFFF;
const MAX_UNICODE: u32 = 0x10_FFFF;

/// lua5.4's `u_posrelat`: negative positions count from the end; too
/// negative gives 0.
fn posrelat(pos: i64, len: usize) -> i64 {
    if pos >= 0 {
        pos
    } else if pos.unsigned_abs() > len as u64 {
        0
    } else {
        len as i64 + pos + 1
    }
}

fn is_cont(s: &[u8], i: usize) -> bool {
    s.get(i).is_some_and(|&c| c & 0xC0 == 0x80)
}

/// Decodes one sequence at `i`; returns the code point and the next index.
fn decode(s: &[u8], i: usize, strict: bool) -> Option<(u32, usize)> {
    const LIMITS: [u32; 6] = [u32::MAX, 0x80, 0x800, 0x1_0000, 0x20_0000, 0x400_0000];
    let mut c = *s.get(i)? as u32;
    let mut res: u32;
    let mut count = 0;
    if c < 0x80 {
        res = c;
    } else {
        res = 0;
        while c & 0x40 != 0 {
            count += 1;
            let cc = *s.get(i + count).unwrap_or(&0) as u32;
            if cc & 0xC0 != 0x80 {
                return None;
            }
            res = (res << 6) | (cc & 0x3F);
            c <<= 1;
        }
        if count > 5 {
            return None;
        }
        res |= (c & 0x7F) << (count * 5);
        if res > MAX_UTF || res < LIMITS[count] {
            return None;
        }
    }
    if strict && (res > MAX_UNICODE || (0xD800..=0xDFFF).contains(&res)) {
        return None;
    }
    Some((res, i + count + 1))
}

/// Encodes a code point (up to 0x7FFFFFFF) as lua5.4's `luaO_utf8esc`.
pub fn encode(mut x: u32, out: &mut Vec<u8>) {
    if x < 0x80 {
        out.push(x as u8);
        return;
    }
    let mut buf = [0u8; 8];
    let mut n = 0;
    let mut mfb: u32 = 0x3f;
    loop {
        buf[7 - n] = 0x80 | (x & 0x3f) as u8;
        n += 1;
        x >>= 6;
        mfb >>= 1;
        if x <= mfb {
            break;
        }
    }
    buf[7 - n] = ((!mfb << 1) | x) as u8;
    n += 1;
    out.extend_from_slice(&buf[8 - n..]);
}

fn utf8_char<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let mut out = Vec::new();
    for i in 0..stack.len() {
        let code = check_integer(stack, i)? as u64;
        if code > MAX_UTF as u64 {
            return arg_fail(i, "value out of range");
        }
        encode(code as u32, &mut out);
    }
    stack.replace(ctx, ctx.intern(&out));
    Ok(CallbackReturn::Return)
}

fn utf8_codepoint<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let s = check_string(ctx, stack, 0)?.as_bytes();
    let posi = posrelat(opt_integer(stack, 1, 1)?, s.len());
    let pose = posrelat(opt_integer(stack, 2, posi)?, s.len());
    let lax = stack.get(3).to_bool();
    if posi < 1 {
        return arg_fail(1, "out of bounds");
    }
    if pose > s.len() as i64 {
        return arg_fail(2, "out of bounds");
    }
    stack.clear();
    if posi > pose {
        return Ok(CallbackReturn::Return);
    }
    let mut i = posi as usize - 1;
    let end = pose as usize;
    while i < end {
        match decode(s, i, !lax) {
            Some((code, next)) => {
                stack.push_back(Value::Integer(code as i64));
                i = next;
            }
            None => return fail("invalid UTF-8 code"),
        }
    }
    Ok(CallbackReturn::Return)
}

fn utf8_len<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let s = check_string(ctx, stack, 0)?.as_bytes();
    let mut posi = posrelat(opt_integer(stack, 1, 1)?, s.len());
    let mut posj = posrelat(opt_integer(stack, 2, -1)?, s.len());
    let lax = stack.get(3).to_bool();
    posi -= 1;
    if !(0 <= posi && posi <= s.len() as i64) {
        return arg_fail(1, "initial position out of bounds");
    }
    posj -= 1;
    if posj >= s.len() as i64 {
        return arg_fail(2, "final position out of bounds");
    }
    let mut n = 0i64;
    while posi <= posj {
        match decode(s, posi as usize, !lax) {
            Some((_, next)) => {
                posi = next as i64;
                n += 1;
            }
            None => {
                stack.replace(ctx, (Value::Nil, posi + 1));
                return Ok(CallbackReturn::Return);
            }
        }
    }
    stack.replace(ctx, n);
    Ok(CallbackReturn::Return)
}

fn utf8_offset<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let s = check_string(ctx, stack, 0)?.as_bytes();
    let len = s.len() as i64;
    let mut n = check_integer(stack, 1)?;
    let default = if n >= 0 { 1 } else { len + 1 };
    let mut posi = posrelat(opt_integer(stack, 2, default)?, s.len());
    if !(1 <= posi && posi - 1 <= len) {
        return arg_fail(2, "position out of bounds");
    }
    posi -= 1;
    if n == 0 {
        while posi > 0 && is_cont(s, posi as usize) {
            posi -= 1;
        }
    } else {
        if is_cont(s, posi as usize) {
            return fail("initial position is a continuation byte");
        }
        if n < 0 {
            while n < 0 && posi > 0 {
                loop {
                    posi -= 1;
                    if !(posi > 0 && is_cont(s, posi as usize)) {
                        break;
                    }
                }
                n += 1;
            }
        } else {
            n -= 1;
            while n > 0 && posi < len {
                loop {
                    posi += 1;
                    if !is_cont(s, posi as usize) {
                        break;
                    }
                }
                n -= 1;
            }
        }
    }
    if n == 0 {
        stack.replace(ctx, posi + 1);
    } else {
        stack.replace(ctx, Value::Nil);
    }
    Ok(CallbackReturn::Return)
}

/// One step of the `utf8.codes` iteration (`iter_aux`): the code point
/// after position `stack[1]`.
fn codes_step<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    strict: bool,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let s = check_string(ctx, stack, 0)?.as_bytes();
    let mut n = stack.get(1).to_integer().unwrap_or(0) as u64 as usize;
    if n < s.len() {
        while is_cont(s, n) {
            n += 1;
        }
    }
    if n >= s.len() {
        stack.replace(ctx, Value::Nil);
        return Ok(CallbackReturn::Return);
    }
    match decode(s, n, strict) {
        Some((code, next)) if !is_cont(s, next) => {
            stack.replace(ctx, (n as i64 + 1, code as i64));
            Ok(CallbackReturn::Return)
        }
        _ => fail("invalid UTF-8 code"),
    }
}

fn codes_strict<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    codes_step(ctx, stack, true)
}

fn codes_lax<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    codes_step(ctx, stack, false)
}

/// `utf8.codes(s [, lax])`: iterates `(position, code point)` with one of
/// the two iterator functions (strict or lax), made once per library.
fn utf8_codes<'gc>(
    ctx: Context<'gc>,
    iters: &(Callback<'gc>, Callback<'gc>),
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let s = check_string(ctx, stack, 0)?;
    let lax = stack.get(1).to_bool();
    // As lua5.4.6+ (5.4.4 skips the leading continuation bytes).
    if is_cont(s.as_bytes(), 0) {
        return arg_fail(0, "invalid UTF-8 code");
    }
    let iter = if lax { iters.1 } else { iters.0 };
    stack.replace(ctx, (iter, s, 0));
    Ok(CallbackReturn::Return)
}

/// Builds the `utf8` table.
pub fn load_utf8<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    let utf8 = ctx.new_table();
    set_fn(ctx, utf8, "utf8.char", utf8_char);
    set_fn(ctx, utf8, "utf8.codepoint", utf8_codepoint);
    // lua5.4 names the iterator `for iterator` in its errors.
    let iters = (
        lib_fn(ctx, "for iterator", codes_strict),
        lib_fn(ctx, "for iterator", codes_lax),
    );
    let codes = Callback::from_fn_with(&ctx, iters, |iters, ctx, exec, mut stack| {
        utf8_codes(ctx, iters, &mut stack).map_err(|e| e.into_error(ctx, &exec, "utf8.codes"))
    });
    let _ = utf8.set(ctx, "codes", codes);
    set_fn(ctx, utf8, "utf8.len", utf8_len);
    set_fn(ctx, utf8, "utf8.offset", utf8_offset);
    // A fresh table: string keys cannot fail.
    let _ = utf8.set(
        ctx,
        "charpattern",
        ctx.intern(b"[\x00-\x7F\xC2-\xFD][\x80-\xBF]*"),
    );
    utf8
}
