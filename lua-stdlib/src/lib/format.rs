//! `string.format` and the C `printf` conversions it is built on.
//!
//! lua5.4 hands each conversion to the C library's `sprintf`; we produce the
//! same bytes as glibc does for `%d %i %u %c %x %X %o %e %E %f %g %G %a %A
//! %s %q %p %%` with flags `-+ #0`, width and precision, and check each
//! conversion in lua5.4's order (argument first or format first, as
//! `str_format` does), so the same error wins. Rust's float formatting
//! rounds exactly like glibc (correctly, ties to even); `%g` and the `%e`
//! layout come from [`crate::number`], which `tostring` uses too.
//!
//! `%s` of a value with `__tostring` calls it: the formatting stops there,
//! calls the metamethod and continues in a [`Sequence`] with its result.

use gc_arena::Collect;

use super::args::{
    arg_fail, charge, check_integer, check_number, check_string, check_string_size, fail,
    plain_tostring, pointer_text, tostring_meta, tostring_result, LibResult,
};
use crate::number::{exp_body, format_g, push_exp};
use crate::{
    BoxSequence, CallbackReturn, Context, Error, Execution, Function, Sequence, SequencePoll,
    Stack, String, Value,
};

/// Flags, width and precision of one conversion.
#[derive(Default, Clone, Copy)]
pub struct Spec {
    pub left: bool,
    pub plus: bool,
    pub space: bool,
    pub alt: bool,
    pub zero: bool,
    pub width: usize,
    pub precision: Option<usize>,
}

/// Lays out `sign + prefix + body` in the field width, C style.
fn pad(out: &mut Vec<u8>, spec: &Spec, sign: &str, prefix: &str, body: &[u8], zero_ok: bool) {
    let len = sign.len() + prefix.len() + body.len();
    let fill = spec.width.saturating_sub(len);
    if spec.left {
        out.extend_from_slice(sign.as_bytes());
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(body);
        out.resize(out.len() + fill, b' ');
    } else if spec.zero && zero_ok {
        out.extend_from_slice(sign.as_bytes());
        out.extend_from_slice(prefix.as_bytes());
        out.resize(out.len() + fill, b'0');
        out.extend_from_slice(body);
    } else {
        out.resize(out.len() + fill, b' ');
        out.extend_from_slice(sign.as_bytes());
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(body);
    }
}

/// `%a` body for a non-negative finite `x` (glibc's layout: `0x1.8p+1`).
fn hex_body(x: f64, prec: Option<usize>, upper: bool, alt: bool) -> std::string::String {
    let bits = x.to_bits();
    let exp_bits = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1u64 << 52) - 1);
    let (mut lead, exp) = if x == 0.0 {
        (0u64, 0i64)
    } else if exp_bits == 0 {
        (0, -1022)
    } else {
        (1, exp_bits - 1023)
    };
    let mut digits = format!("{:013x}", frac);
    match prec {
        None => {
            while digits.ends_with('0') {
                digits.pop();
            }
        }
        Some(p) if p < 13 => {
            let shift = (13 - p) as u32 * 4;
            let full = (lead << 52) | frac;
            let mut q = full >> shift;
            let rem = full & ((1u64 << shift) - 1);
            let half = 1u64 << (shift - 1);
            if rem > half || (rem == half && q & 1 == 1) {
                q += 1;
            }
            lead = q >> (p * 4);
            digits = if p == 0 {
                std::string::String::new()
            } else {
                format!("{:0width$x}", q & ((1u64 << (p * 4)) - 1), width = p)
            };
        }
        Some(p) => {
            while digits.len() < p {
                digits.push('0');
            }
        }
    }
    let mut s = format!("0x{lead}");
    if !digits.is_empty() || alt {
        s.push('.');
        s.push_str(&digits);
    }
    s.push('p');
    s.push(if exp < 0 { '-' } else { '+' });
    s.push_str(&exp.unsigned_abs().to_string());
    if upper {
        s = s.to_uppercase();
    }
    s
}

/// Formats a float with conversion `conv` (one of `eEfgGaA`).
pub fn format_float(out: &mut Vec<u8>, x: f64, conv: u8, spec: &Spec) {
    let upper = conv.is_ascii_uppercase();
    let sign = if x.is_sign_negative() {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    if !x.is_finite() {
        let body = match (x.is_nan(), upper) {
            (true, false) => "nan",
            (true, true) => "NAN",
            (false, false) => "inf",
            (false, true) => "INF",
        };
        pad(out, spec, sign, "", body.as_bytes(), false);
        return;
    }
    let a = x.abs();
    match conv {
        b'e' | b'E' => {
            let (mut m, e) = exp_body(a, spec.precision.unwrap_or(6), spec.alt);
            push_exp(&mut m, e, upper);
            pad(out, spec, sign, "", m.as_bytes(), true);
        }
        b'f' | b'F' => {
            let p = spec.precision.unwrap_or(6);
            let dot = spec.alt && p == 0;
            if spec.width == 0 {
                // No field to lay out: written in place.
                use std::io::Write;
                out.extend_from_slice(sign.as_bytes());
                let _ = write!(out, "{:.*}", p, a);
                if dot {
                    out.push(b'.');
                }
            } else {
                let mut s = format!("{:.*}", p, a);
                if dot {
                    s.push('.');
                }
                pad(out, spec, sign, "", s.as_bytes(), true);
            }
        }
        b'g' | b'G' => {
            let s = format_g(a, spec.precision.unwrap_or(6), upper, spec.alt);
            pad(out, spec, sign, "", s.as_bytes(), true);
        }
        _ => {
            let s = hex_body(a, spec.precision, upper, spec.alt);
            pad(out, spec, sign, &s[..2], &s.as_bytes()[2..], true);
        }
    }
}

/// Formats an integer with conversion `conv` (one of `diuoxX`).
pub fn format_int(out: &mut Vec<u8>, n: i64, conv: u8, spec: &Spec) {
    let mut sign = "";
    let mut prefix = "";
    let (v, base, upper) = match conv {
        b'd' | b'i' => {
            if n < 0 {
                sign = "-";
            } else if spec.plus {
                sign = "+";
            } else if spec.space {
                sign = " ";
            }
            (n.unsigned_abs(), 10, false)
        }
        b'u' => (n as u64, 10, false),
        b'o' => (n as u64, 8, false),
        b'x' => (n as u64, 16, false),
        _ => (n as u64, 16, true),
    };
    // Digits from the end of the buffer: at most 22 (octal), zero-padded
    // to a precision of at most 99, and an octal `#` zero.
    let table: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut buf = [b'0'; 128];
    let mut i = buf.len();
    if !(v == 0 && spec.precision == Some(0)) {
        let mut v = v;
        loop {
            i -= 1;
            buf[i] = table[(v % base) as usize];
            v /= base;
            if v == 0 {
                break;
            }
        }
    }
    if let Some(p) = spec.precision {
        // The buffer is pre-filled with zeros.
        i = i.min(buf.len() - p.min(buf.len() - 1));
    }
    if spec.alt {
        match conv {
            b'o' if i == buf.len() || buf[i] != b'0' => i -= 1,
            b'x' if n != 0 => prefix = "0x",
            b'X' if n != 0 => prefix = "0X",
            _ => {}
        }
    }
    pad(out, spec, sign, prefix, &buf[i..], spec.precision.is_none());
}

/// The flags each conversion accepts (lua5.4's `L_FMTFLAGS*`).
fn allowed_flags(conv: u8) -> &'static [u8] {
    match conv {
        b'd' | b'i' => b"-+ 0",
        b'u' => b"-0",
        b'o' | b'x' | b'X' => b"-#0",
        b'a' | b'A' | b'e' | b'E' | b'f' | b'g' | b'G' => b"-+ #0",
        _ => b"-",
    }
}

/// One conversion specification as `getformat` cuts it: the bytes after
/// `%` up to and including the conversion letter.
struct Form<'f> {
    /// Flags, width and precision.
    spec: &'f [u8],
    /// The conversion letter (0 at the end of the format).
    conv: u8,
}

impl Form<'_> {
    /// The specification as messages quote it (`%-5.2d`).
    fn text(&self) -> std::string::String {
        let mut s = std::string::String::from("%");
        s.push_str(&std::string::String::from_utf8_lossy(self.spec));
        if self.conv != 0 {
            s.push(self.conv as char);
        }
        s
    }

    /// Whether it has anything between `%` and the letter.
    fn has_modifiers(&self) -> bool {
        !self.spec.is_empty()
    }

    /// `checkformat`: flags this conversion allows, a width (not starting
    /// with `0`, two digits at most) and, if `precision`, `.` and two
    /// digits at most; parsed into a [`Spec`].
    fn check<'gc>(&self, precision: bool) -> LibResult<'gc, Spec> {
        let s = self.spec;
        let flags = allowed_flags(self.conv);
        let mut spec = Spec::default();
        let mut i = 0;
        while i < s.len() && flags.contains(&s[i]) {
            match s[i] {
                b'-' => spec.left = true,
                b'+' => spec.plus = true,
                b' ' => spec.space = true,
                b'#' => spec.alt = true,
                _ => spec.zero = true,
            }
            i += 1;
        }
        let two_digits = |i: &mut usize| {
            let mut v = 0usize;
            let start = *i;
            while *i < s.len() && *i - start < 2 && s[*i].is_ascii_digit() {
                v = v * 10 + (s[*i] - b'0') as usize;
                *i += 1;
            }
            v
        };
        if s.get(i) != Some(&b'0') {
            spec.width = two_digits(&mut i);
            if precision && s.get(i) == Some(&b'.') {
                i += 1;
                spec.precision = Some(two_digits(&mut i));
            }
        }
        if i != s.len() {
            return fail(format!(
                "invalid conversion specification: '{}'",
                self.text()
            ));
        }
        Ok(spec)
    }
}

/// `getformat`: the specification starting at `fmt` (just after `%`).
fn get_format<'gc>(fmt: &[u8]) -> LibResult<'gc, Form<'_>> {
    let span = fmt
        .iter()
        .take_while(|c| b"-+ #0123456789.".contains(c))
        .count();
    // lua5.4's MAX_FORMAT - 10.
    if span + 1 >= 22 {
        return fail("invalid format (too long)");
    }
    Ok(Form {
        spec: &fmt[..span],
        conv: fmt.get(span).copied().unwrap_or(0),
    })
}

/// `%q`: a value written back as Lua source (`addliteral`).
fn quote_value<'gc>(
    ctx: Context<'gc>,
    out: &mut Vec<u8>,
    v: Value<'gc>,
    i: usize,
) -> LibResult<'gc, ()> {
    match v {
        Value::String(s) => {
            let b = s.as_bytes();
            out.push(b'"');
            for (k, &c) in b.iter().enumerate() {
                match c {
                    b'"' | b'\\' | b'\n' => {
                        out.push(b'\\');
                        out.push(c);
                    }
                    c if c.is_ascii_control() => {
                        if b.get(k + 1).is_some_and(u8::is_ascii_digit) {
                            out.extend_from_slice(format!("\\{c:03}").as_bytes());
                        } else {
                            out.extend_from_slice(format!("\\{c}").as_bytes());
                        }
                    }
                    c => out.push(c),
                }
            }
            out.push(b'"');
        }
        Value::Integer(n) => {
            if n == i64::MIN {
                out.extend_from_slice(b"0x8000000000000000");
            } else {
                out.extend_from_slice(n.to_string().as_bytes());
            }
        }
        Value::Number(f) => {
            if f == f64::INFINITY {
                out.extend_from_slice(b"1e9999");
            } else if f == f64::NEG_INFINITY {
                out.extend_from_slice(b"-1e9999");
            } else if f.is_nan() {
                out.extend_from_slice(b"(0/0)");
            } else {
                // Hexadecimal keeps every bit, as lua5.4 does.
                format_float(out, f, b'a', &Spec::default());
            }
        }
        Value::Nil | Value::Boolean(_) => out.extend_from_slice(plain_tostring(ctx, v).as_bytes()),
        _ => return arg_fail(i, "value has no literal form"),
    }
    Ok(())
}

/// Appends the text of `%s` (`luaL_tolstring`'s result `s`), laid out by
/// `spec` when the conversion has modifiers.
fn add_string(out: &mut Vec<u8>, s: &[u8], spec: Option<Spec>) {
    match spec {
        None => out.extend_from_slice(s),
        // No precision and too long to be formatted: kept whole.
        Some(spec) if spec.precision.is_none() && s.len() >= 100 => out.extend_from_slice(s),
        Some(spec) => {
            let cut = spec.precision.unwrap_or(s.len()).min(s.len());
            pad(out, &spec, "", "", &s[..cut], false);
        }
    }
}

/// `%s` of the text `s` for argument `arg`: with modifiers, no zeros and a
/// valid specification (checked in lua5.4's order).
fn format_string<'gc>(
    out: &mut Vec<u8>,
    s: &[u8],
    form: &Form<'_>,
    arg: usize,
) -> LibResult<'gc, ()> {
    let spec = if form.has_modifiers() {
        if s.contains(&0) {
            return arg_fail(arg, "string contains zeros");
        }
        Some(form.check(true)?)
    } else {
        None
    };
    add_string(out, s, spec);
    Ok(())
}

/// A `string.format` in progress: the format, where it is, and the output
/// so far.
#[derive(Collect)]
#[collect(no_drop)]
struct Format<'gc> {
    fmt: String<'gc>,
    /// Index in `fmt` of the next byte to format.
    pos: usize,
    /// The last argument used (the format is argument 0).
    arg: usize,
    out: Vec<u8>,
    /// A `__tostring` call for the `%s` at `pos` is running.
    pending: bool,
    /// The arguments, kept while a `__tostring` call has the stack.
    args: Vec<Value<'gc>>,
}

enum FormatStep<'gc> {
    Done,
    /// `%s` of a value with `__tostring`: call it with the value.
    ToString(Function<'gc>, Value<'gc>),
}

impl<'gc> Format<'gc> {
    /// Formats on from `pos` with the arguments on `stack`.
    fn run(
        &mut self,
        ctx: Context<'gc>,
        stack: &Stack<'gc, '_>,
    ) -> LibResult<'gc, FormatStep<'gc>> {
        let fmt = self.fmt.as_bytes();
        while self.pos < fmt.len() {
            let rest = &fmt[self.pos..];
            let Some(at) = rest.iter().position(|&c| c == b'%') else {
                self.out.extend_from_slice(rest);
                self.pos = fmt.len();
                break;
            };
            self.out.extend_from_slice(&rest[..at]);
            let start = self.pos + at + 1;
            self.pos = start;
            if fmt.get(start) == Some(&b'%') {
                self.out.push(b'%');
                self.pos += 1;
                continue;
            }
            self.arg += 1;
            let arg = self.arg;
            if arg >= stack.len() {
                return arg_fail(arg, "no value");
            }
            let form = get_format(&fmt[start..])?;
            self.pos += form.spec.len() + 1;
            let v = stack.get(arg);
            let out = &mut self.out;
            match form.conv {
                b'c' => {
                    let spec = form.check(false)?;
                    let n = check_integer(stack, arg)?;
                    pad(out, &spec, "", "", &[n as u8], false);
                }
                b'd' | b'i' | b'u' | b'o' | b'x' | b'X' => {
                    let n = check_integer(stack, arg)?;
                    let spec = form.check(true)?;
                    format_int(out, n, form.conv, &spec);
                }
                b'a' | b'A' => {
                    let spec = form.check(true)?;
                    let x = check_number(stack, arg)?;
                    format_float(out, x, form.conv, &spec);
                }
                b'e' | b'E' | b'f' | b'g' | b'G' => {
                    let x = check_number(stack, arg)?;
                    let spec = form.check(true)?;
                    format_float(out, x, form.conv, &spec);
                }
                b'p' => {
                    let spec = form.check(false)?;
                    let text = pointer_text(v).unwrap_or_else(|| "(null)".to_string());
                    pad(out, &spec, "", "", text.as_bytes(), false);
                }
                b'q' => {
                    if form.has_modifiers() {
                        return fail("specifier '%q' cannot have modifiers");
                    }
                    quote_value(ctx, out, v, arg)?;
                }
                b's' => {
                    if let Some(tm) = tostring_meta(ctx, v) {
                        let f = super::args::callable(ctx, tm)?;
                        // Formatted again from `start` with the result.
                        self.pos = start;
                        self.arg -= 1;
                        return Ok(FormatStep::ToString(f, v));
                    }
                    let s = plain_tostring(ctx, v);
                    format_string(out, s.as_bytes(), &form, arg)?;
                }
                _ => return fail(format!("invalid conversion '{}' to 'format'", form.text())),
            }
            check_string_size(ctx, self.out.len())?;
        }
        Ok(FormatStep::Done)
    }

    /// Formats the `%s` at `pos` with what its `__tostring` returned.
    fn resume_string(&mut self, ctx: Context<'gc>, result: Value<'gc>) -> LibResult<'gc, ()> {
        let fmt = self.fmt.as_bytes();
        let form = get_format(&fmt[self.pos..])?;
        self.pos += form.spec.len() + 1;
        self.arg += 1;
        let s = tostring_result(ctx, result)?;
        format_string(&mut self.out, s.as_bytes(), &form, self.arg)
    }

    /// Runs on: `Some(f)` when `f` must be called (with the stack set to
    /// its argument) before formatting continues.
    fn advance(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Execution<'gc, '_>,
        stack: &mut Stack<'gc, '_>,
    ) -> LibResult<'gc, Option<Function<'gc>>> {
        match self.run(ctx, stack)? {
            FormatStep::Done => {
                charge(exec, self.out.len() + self.fmt.len());
                stack.replace(ctx, ctx.intern(&self.out));
                Ok(None)
            }
            FormatStep::ToString(f, v) => {
                if !self.pending && self.args.is_empty() {
                    self.args = stack.iter().collect();
                }
                self.pending = true;
                stack.replace(ctx, v);
                Ok(Some(f))
            }
        }
    }
}

impl<'gc> Sequence<'gc> for Format<'gc> {
    /// Called the way `lua_call` calls: a yield below it is an error.
    fn yieldable(&self) -> bool {
        false
    }

    fn poll(
        &mut self,
        ctx: Context<'gc>,
        mut exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        let r = (|| {
            if self.pending {
                self.pending = false;
                self.resume_string(ctx, stack.get(0))?;
            }
            stack.replace(ctx, self.args.clone());
            self.advance(ctx, &mut exec, &mut stack)
        })();
        match r {
            Ok(None) => Ok(SequencePoll::Return),
            Ok(Some(function)) => Ok(SequencePoll::Call {
                function,
                is_tail: false,
            }),
            Err(e) => Err(e.into_error(ctx, &exec, "string.format")),
        }
    }
}

/// `string.format(fmt, ...)`.
pub fn str_format<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let fmt = check_string(ctx, stack, 0)?;
    let mut f = Format {
        fmt,
        pos: 0,
        arg: 0,
        out: Vec::with_capacity(fmt.len() + 16),
        pending: false,
        args: Vec::new(),
    };
    Ok(match f.advance(ctx, exec, stack)? {
        None => CallbackReturn::Return,
        Some(function) => CallbackReturn::Call {
            function,
            then: Some(BoxSequence::new(&ctx, f)),
        },
    })
}
