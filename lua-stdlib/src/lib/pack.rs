//! `string.pack`, `string.unpack` and `string.packsize`: binary
//! serialization with lua5.4's format language (`< > = ![n]` for
//! endianness and alignment, `b B h H i[n] I[n] l L j J T f d n s[n] z x
//! X c[n]`), native sizes of a 64-bit little-endian platform, and lua5.4's
//! messages. Work is charged to the instruction budget by the bytes
//! produced or consumed.

use crate::{CallbackReturn, Context, Execution, Stack, Table, Value};

use super::args::{
    arg_fail, charge, check_integer, check_number, check_stack, check_string, check_string_size,
    fail, opt_integer, set_fn, LibResult,
};

/// Largest integer size (`MAXINTSIZE`).
const MAX_INT_SIZE: usize = 16;
/// Native maximum alignment (`offsetof(struct cD, u)` on x86-64).
const NATIVE_ALIGN: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Uint,
    Float,
    Double,
    Char,
    Str,
    Zstr,
    Padding,
    PadAlign,
    Nop,
}

struct Header<'f> {
    fmt: &'f [u8],
    pos: usize,
    little: bool,
    max_align: usize,
}

impl<'f> Header<'f> {
    fn new(fmt: &'f [u8]) -> Self {
        Header {
            fmt,
            pos: 0,
            little: true,
            max_align: 1,
        }
    }

    fn done(&self) -> bool {
        self.pos >= self.fmt.len()
    }

    fn number(&mut self, default: Option<usize>) -> Option<usize> {
        if !self.fmt.get(self.pos).is_some_and(u8::is_ascii_digit) {
            return default;
        }
        let mut a = 0usize;
        while let Some(&d) = self.fmt.get(self.pos) {
            if !d.is_ascii_digit() || a > (i32::MAX as usize - 9) / 10 {
                break;
            }
            a = a * 10 + (d - b'0') as usize;
            self.pos += 1;
        }
        Some(a)
    }

    fn int_size<'gc>(&mut self, default: usize) -> LibResult<'gc, usize> {
        let size = self.number(Some(default)).unwrap_or(default);
        if size == 0 || size > MAX_INT_SIZE {
            return fail(format!(
                "integral size ({size}) out of limits [1,{MAX_INT_SIZE}]"
            ));
        }
        Ok(size)
    }

    /// Reads one option: its kind and size.
    fn option<'gc>(&mut self) -> LibResult<'gc, (Kind, usize)> {
        let opt = self.fmt[self.pos];
        self.pos += 1;
        Ok(match opt {
            b'b' => (Kind::Int, 1),
            b'B' => (Kind::Uint, 1),
            b'h' => (Kind::Int, 2),
            b'H' => (Kind::Uint, 2),
            b'l' | b'j' => (Kind::Int, 8),
            b'L' | b'J' | b'T' => (Kind::Uint, 8),
            b'f' => (Kind::Float, 4),
            b'n' | b'd' => (Kind::Double, 8),
            b'i' => (Kind::Int, self.int_size(4)?),
            b'I' => (Kind::Uint, self.int_size(4)?),
            b's' => (Kind::Str, self.int_size(8)?),
            b'c' => match self.number(None) {
                Some(n) => (Kind::Char, n),
                None => return fail("missing size for format option 'c'"),
            },
            b'z' => (Kind::Zstr, 0),
            b'x' => (Kind::Padding, 1),
            b'X' => (Kind::PadAlign, 0),
            b' ' => (Kind::Nop, 0),
            b'<' | b'=' => {
                self.little = true;
                (Kind::Nop, 0)
            }
            b'>' => {
                self.little = false;
                (Kind::Nop, 0)
            }
            b'!' => {
                self.max_align = self.int_size(NATIVE_ALIGN)?;
                (Kind::Nop, 0)
            }
            c => return fail(format!("invalid format option '{}'", c as char)),
        })
    }

    /// An option with the padding needed to align it at `total`.
    fn details<'gc>(&mut self, total: usize) -> LibResult<'gc, (Kind, usize, usize)> {
        let (kind, size) = self.option()?;
        let mut align = size;
        if kind == Kind::PadAlign {
            if self.done() {
                return arg_fail(0, "invalid next option for option 'X'");
            }
            let (next, next_size) = self.option()?;
            align = next_size;
            if next == Kind::Char || align == 0 {
                return arg_fail(0, "invalid next option for option 'X'");
            }
        }
        let pad = if align <= 1 || kind == Kind::Char {
            0
        } else {
            let align = align.min(self.max_align);
            if align & (align - 1) != 0 {
                return arg_fail(0, "format asks for alignment not power of 2");
            }
            (align - (total & (align - 1))) & (align - 1)
        };
        Ok((kind, size, pad))
    }
}

fn pack_int(out: &mut Vec<u8>, n: u64, little: bool, size: usize, negative: bool) {
    let mut bytes = vec![if negative { 0xff } else { 0 }; size];
    for (i, b) in bytes.iter_mut().enumerate().take(size.min(8)) {
        *b = (n >> (8 * i)) as u8;
    }
    if !little {
        bytes.reverse();
    }
    out.extend_from_slice(&bytes);
}

fn unpack_int<'gc>(data: &[u8], little: bool, size: usize, signed: bool) -> LibResult<'gc, i64> {
    let byte = |i: usize| data[if little { i } else { size - 1 - i }];
    let limit = size.min(8);
    let mut res: u64 = 0;
    for i in (0..limit).rev() {
        res = (res << 8) | byte(i) as u64;
    }
    if size < 8 {
        if signed {
            let mask = 1u64 << (size * 8 - 1);
            res = (res ^ mask).wrapping_sub(mask);
        }
    } else if size > 8 {
        let fill = if !signed || (res as i64) >= 0 {
            0
        } else {
            0xff
        };
        for i in limit..size {
            if byte(i) != fill {
                return fail(format!("{size}-byte integer does not fit into Lua Integer"));
            }
        }
    }
    Ok(res as i64)
}

fn str_pack<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let fmt = check_string(ctx, stack, 0)?.as_bytes();
    let mut h = Header::new(fmt);
    let mut out = Vec::new();
    let mut arg = 0;
    // lua5.4 pushes a nil after the arguments, so the first missing one is
    // reported as `got nil`.
    stack.push_back(Value::Nil);
    while !h.done() {
        let (kind, size, pad) = h.details(out.len())?;
        out.resize(out.len() + pad, 0);
        arg += 1;
        match kind {
            Kind::Int => {
                let n = check_integer(stack, arg)?;
                if size < 8 {
                    let lim = 1i64 << (size * 8 - 1);
                    if !(-lim <= n && n < lim) {
                        return arg_fail(arg, "integer overflow");
                    }
                }
                pack_int(&mut out, n as u64, h.little, size, n < 0);
            }
            Kind::Uint => {
                let n = check_integer(stack, arg)?;
                if size < 8 && (n as u64) >= (1u64 << (size * 8)) {
                    return arg_fail(arg, "unsigned overflow");
                }
                pack_int(&mut out, n as u64, h.little, size, false);
            }
            Kind::Float => {
                let f = check_number(stack, arg)? as f32;
                let b = if h.little {
                    f.to_le_bytes()
                } else {
                    f.to_be_bytes()
                };
                out.extend_from_slice(&b);
            }
            Kind::Double => {
                let f = check_number(stack, arg)?;
                let b = if h.little {
                    f.to_le_bytes()
                } else {
                    f.to_be_bytes()
                };
                out.extend_from_slice(&b);
            }
            Kind::Char => {
                let s = check_string(ctx, stack, arg)?.as_bytes();
                if s.len() > size {
                    return arg_fail(arg, "string longer than given size");
                }
                check_string_size(ctx, out.len() + size)?;
                out.extend_from_slice(s);
                out.resize(out.len() + size - s.len(), 0);
            }
            Kind::Str => {
                let s = check_string(ctx, stack, arg)?.as_bytes();
                if size < 8 && (s.len() as u64) >= (1u64 << (size * 8)) {
                    return arg_fail(arg, "string length does not fit in given size");
                }
                pack_int(&mut out, s.len() as u64, h.little, size, false);
                out.extend_from_slice(s);
            }
            Kind::Zstr => {
                let s = check_string(ctx, stack, arg)?.as_bytes();
                if s.contains(&0) {
                    return arg_fail(arg, "string contains zeros");
                }
                out.extend_from_slice(s);
                out.push(0);
            }
            Kind::Padding => {
                out.push(0);
                arg -= 1;
            }
            Kind::PadAlign | Kind::Nop => arg -= 1,
        }
    }
    charge(exec, out.len());
    stack.replace(ctx, ctx.intern(&out));
    Ok(CallbackReturn::Return)
}

fn str_packsize<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let fmt = check_string(ctx, stack, 0)?.as_bytes();
    let mut h = Header::new(fmt);
    let mut total: usize = 0;
    while !h.done() {
        let (kind, size, pad) = h.details(total)?;
        if matches!(kind, Kind::Str | Kind::Zstr) {
            return arg_fail(0, "variable-length format");
        }
        let size = size + pad;
        if total > i32::MAX as usize - size {
            return arg_fail(0, "format result too large");
        }
        total += size;
    }
    stack.replace(ctx, total as i64);
    Ok(CallbackReturn::Return)
}

fn str_unpack<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let fmt = check_string(ctx, stack, 0)?.as_bytes();
    let data = check_string(ctx, stack, 1)?.as_bytes();
    let ld = data.len();
    let init = opt_integer(stack, 2, 1)?;
    let mut pos = if init > 0 {
        init as usize
    } else if init == 0 || init.unsigned_abs() as usize > ld {
        1
    } else {
        (ld as i64 + init + 1) as usize
    } - 1;
    if pos > ld {
        return arg_fail(2, "initial position out of string");
    }
    let mut h = Header::new(fmt);
    let mut results: Vec<Value<'gc>> = Vec::new();
    while !h.done() {
        check_stack(stack, results.len() + 2, "too many results")?;
        let (kind, size, pad) = h.details(pos)?;
        if pad + size > ld - pos {
            return arg_fail(1, "data string too short");
        }
        pos += pad;
        let item = &data[pos..];
        match kind {
            Kind::Int | Kind::Uint => {
                let n = unpack_int(item, h.little, size, kind == Kind::Int)?;
                results.push(Value::Integer(n));
            }
            Kind::Float => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&item[..4]);
                let f = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                results.push(Value::Number(f as f64));
            }
            Kind::Double => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&item[..8]);
                let f = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                results.push(Value::Number(f));
            }
            Kind::Char => results.push(Value::String(ctx.intern(&item[..size]))),
            Kind::Str => {
                let len = unpack_int(item, h.little, size, false)? as u64;
                if len > (ld - pos - size) as u64 {
                    return arg_fail(1, "data string too short");
                }
                let len = len as usize;
                results.push(Value::String(ctx.intern(&item[size..size + len])));
                pos += len;
            }
            Kind::Zstr => {
                let Some(len) = item.iter().position(|&c| c == 0) else {
                    return arg_fail(1, "unfinished string for format 'z'");
                };
                results.push(Value::String(ctx.intern(&item[..len])));
                pos += len + 1;
            }
            Kind::PadAlign | Kind::Padding | Kind::Nop => {}
        }
        pos += size;
    }
    charge(exec, pos);
    results.push(Value::Integer(pos as i64 + 1));
    stack.replace(ctx, results);
    Ok(CallbackReturn::Return)
}

/// Adds `pack`, `unpack` and `packsize` to the `string` table.
pub fn load_pack<'gc>(ctx: Context<'gc>, string: Table<'gc>) {
    set_fn(ctx, string, "string.pack", str_pack);
    set_fn(ctx, string, "string.packsize", str_packsize);
    set_fn(ctx, string, "string.unpack", str_unpack);
}
