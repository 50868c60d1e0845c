//! `string.format` and the C `printf` conversions it is built on.
//!
//! lua5.4 hands each conversion to the C library's `sprintf`; we produce the
//! same bytes as glibc does for `%d %i %u %c %x %X %o %e %E %f %F %g %G %a
//! %A %s %q %%` with flags `-+ #0`, width and precision. Rust's float
//! formatting rounds exactly like glibc (correctly, ties to even), so the
//! conversions below only rearrange its output into C's shapes.

use piccolo::{CallbackReturn, Context, Execution, Stack, Value};

use super::args::{
    arg_fail, charge, check_integer, check_number, check_string, fail, new_string, LibResult,
};
use super::base::{after_tostring, display_value};

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

/// `%e` body for a non-negative finite `x`: mantissa and C's `e+XX` exponent.
fn exp_body(x: f64, prec: usize, alt: bool) -> (std::string::String, i32) {
    let s = format!("{:.*e}", prec, x);
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut m = mant.to_string();
    if alt && prec == 0 {
        m.push('.');
    }
    (m, exp)
}

fn push_exp(s: &mut std::string::String, exp: i32, upper: bool) {
    s.push(if upper { 'E' } else { 'e' });
    s.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        s.push('0');
    }
    s.push_str(&e.to_string());
}

fn strip_zeros(s: &mut std::string::String) {
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
}

/// `%g` body for a non-negative finite `x`.
pub fn g_body(x: f64, prec: Option<usize>, upper: bool, alt: bool) -> std::string::String {
    let p = match prec {
        None => 6,
        Some(0) => 1,
        Some(p) => p,
    };
    // One `%e` conversion gives both the exponent and the digits: `%g`'s
    // fixed form has the same `p` significant digits, rounded the same way.
    // When the shortest round-trip form has at most `p <= 15` digits, those
    // are the digits (a 15-digit unit is above a double's precision, so the
    // exact value rounds to them), and Rust finds them much faster than an
    // exact `p`-digit conversion.
    let shortest = format!("{:e}", x);
    let (short_mantissa, short_exp) = shortest.split_once('e').unwrap_or((&shortest, "0"));
    let short_digits = short_mantissa.bytes().filter(u8::is_ascii_digit).count();
    let (mantissa, x_exp) = if p <= 15 && short_digits <= p {
        (short_mantissa.to_string(), short_exp.parse().unwrap_or(0))
    } else {
        exp_body(x, p - 1, false)
    };
    if (x_exp as i64) < p as i64 && x_exp >= -4 {
        let mut digits: std::string::String =
            mantissa.chars().filter(char::is_ascii_digit).collect();
        while digits.len() < p {
            digits.push('0');
        }
        let mut s = std::string::String::with_capacity(p + 6);
        if x_exp >= 0 {
            let int_len = x_exp as usize + 1;
            s.push_str(&digits[..int_len]);
            s.push('.');
            s.push_str(&digits[int_len..]);
        } else {
            s.push_str("0.");
            for _ in 0..(-x_exp - 1) {
                s.push('0');
            }
            s.push_str(&digits);
        }
        if !alt {
            strip_zeros(&mut s);
        }
        s
    } else {
        let (mut m, e) = exp_body(x, p - 1, alt);
        if !alt {
            strip_zeros(&mut m);
        }
        push_exp(&mut m, e, upper);
        m
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

/// Formats a float with conversion `conv` (one of `eEfFgGaA`).
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
            let mut s = format!("{:.*}", p, a);
            if spec.alt && p == 0 {
                s.push('.');
            }
            pad(out, spec, sign, "", s.as_bytes(), true);
        }
        b'g' | b'G' => {
            let s = g_body(a, spec.precision, upper, spec.alt);
            pad(out, spec, sign, "", s.as_bytes(), true);
        }
        _ => {
            let s = hex_body(a, spec.precision, upper, spec.alt);
            pad(out, spec, sign, &s[..2], &s.as_bytes()[2..], true);
        }
    }
}

/// Formats an integer with conversion `conv` (one of `diuoxXc`).
pub fn format_int(out: &mut Vec<u8>, n: i64, conv: u8, spec: &Spec) {
    let mut sign = "";
    let mut prefix = "";
    let mut digits = match conv {
        b'd' | b'i' => {
            if n < 0 {
                sign = "-";
            } else if spec.plus {
                sign = "+";
            } else if spec.space {
                sign = " ";
            }
            n.unsigned_abs().to_string()
        }
        b'u' => (n as u64).to_string(),
        b'o' => format!("{:o}", n as u64),
        b'x' => format!("{:x}", n as u64),
        _ => format!("{:X}", n as u64),
    };
    if let Some(p) = spec.precision {
        if p == 0 && n == 0 {
            digits.clear();
        }
        while digits.len() < p {
            digits.insert(0, '0');
        }
    }
    if spec.alt {
        match conv {
            b'o' if !digits.starts_with('0') => digits.insert(0, '0'),
            b'x' if n != 0 => prefix = "0x",
            b'X' if n != 0 => prefix = "0X",
            _ => {}
        }
    }
    pad(
        out,
        spec,
        sign,
        prefix,
        digits.as_bytes(),
        spec.precision.is_none(),
    );
}

/// The flags each conversion accepts (lua5.4's `L_FMTFLAGS*`).
fn allowed_flags(conv: u8) -> &'static [u8] {
    match conv {
        b'd' | b'i' => b"-+ 0",
        b'u' => b"-0",
        b'o' | b'x' | b'X' => b"-#0",
        b'a' | b'A' | b'e' | b'E' | b'f' | b'F' | b'g' | b'G' => b"-+ #0",
        _ => b"-",
    }
}

/// Parses one conversion specification after `%` the way lua5.4 validates
/// it; returns the spec, the conversion letter and the bytes consumed.
fn parse_spec<'gc>(fmt: &[u8]) -> LibResult<'gc, (Spec, u8, usize)> {
    let span = fmt
        .iter()
        .take_while(|c| b"-+ #0123456789.".contains(c))
        .count();
    let form = |len: usize| {
        let end = len.min(fmt.len());
        format!("%{}", std::string::String::from_utf8_lossy(&fmt[..end]))
    };
    if span + 1 >= 22 {
        // lua5.4.6+'s wording (5.4.4: "invalid format string to 'format'").
        return fail("invalid format (too long)");
    }
    let Some(&conv) = fmt.get(span) else {
        return fail(format!("invalid conversion '{}' to 'format'", form(span)));
    };
    if !b"diuoxXcaAeEfgGsqp".contains(&conv) {
        return fail(format!(
            "invalid conversion '{}' to 'format'",
            form(span + 1)
        ));
    }
    let spec_bytes = &fmt[..span];
    let flags = allowed_flags(conv);
    let mut spec = Spec::default();
    let mut i = 0;
    while i < spec_bytes.len() && flags.contains(&spec_bytes[i]) {
        match spec_bytes[i] {
            b'-' => spec.left = true,
            b'+' => spec.plus = true,
            b' ' => spec.space = true,
            b'#' => spec.alt = true,
            _ => spec.zero = true,
        }
        i += 1;
    }
    let invalid = || {
        fail(format!(
            "invalid conversion specification: '{}'",
            form(span + 1)
        ))
    };
    let digits = |i: &mut usize| {
        let start = *i;
        let mut v = 0usize;
        while *i < spec_bytes.len() && *i - start < 2 && spec_bytes[*i].is_ascii_digit() {
            v = v * 10 + (spec_bytes[*i] - b'0') as usize;
            *i += 1;
        }
        v
    };
    if i < spec_bytes.len() && spec_bytes[i] == b'0' {
        return invalid();
    }
    spec.width = digits(&mut i);
    let precision_ok = !matches!(conv, b'c' | b'p');
    if i < spec_bytes.len() && spec_bytes[i] == b'.' && precision_ok {
        i += 1;
        spec.precision = Some(digits(&mut i));
    }
    if i != spec_bytes.len() {
        return invalid();
    }
    Ok((spec, conv, span + 1))
}

/// `%q`: a value written back as Lua source.
fn quote_value<'gc>(out: &mut Vec<u8>, v: Value<'gc>, i: usize) -> LibResult<'gc, ()> {
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
        Value::Nil | Value::Boolean(_) => out.extend_from_slice(v.to_string().as_bytes()),
        _ => return arg_fail(i, "value has no literal form"),
    }
    Ok(())
}

/// `string.format(fmt, ...)`.
pub fn string_format<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    after_tostring(ctx, exec, stack, 1, "string.format", format_after_tostring)
}

fn format_after_tostring<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let fmt = check_string(ctx, stack, 0)?.as_bytes();
    let mut out = Vec::with_capacity(fmt.len() + 16);
    let mut arg = 0usize;
    let mut i = 0;
    while i < fmt.len() {
        let c = fmt[i];
        i += 1;
        if c != b'%' {
            out.push(c);
            continue;
        }
        if fmt.get(i) == Some(&b'%') {
            out.push(b'%');
            i += 1;
            continue;
        }
        let (spec, conv, used) = parse_spec(&fmt[i..])?;
        let has_modifiers = used > 1;
        i += used;
        arg += 1;
        if arg >= stack.len() {
            return arg_fail(arg, "no value");
        }
        let v = stack.get(arg);
        match conv {
            b'c' => {
                let n = check_integer(stack, arg)?;
                pad(&mut out, &spec, "", "", &[n as u8], false);
            }
            b'd' | b'i' | b'u' | b'o' | b'x' | b'X' => {
                let n = check_integer(stack, arg)?;
                format_int(&mut out, n, conv, &spec);
            }
            b'a' | b'A' | b'e' | b'E' | b'f' | b'F' | b'g' | b'G' => {
                let x = check_number(stack, arg)?;
                format_float(&mut out, x, conv, &spec);
            }
            b'p' => {
                let body = match v {
                    Value::Table(_)
                    | Value::Function(_)
                    | Value::Thread(_)
                    | Value::UserData(_)
                    | Value::String(_) => pointer_text(v),
                    _ => "(null)".to_string(),
                };
                pad(&mut out, &spec, "", "", body.as_bytes(), false);
            }
            b'q' => {
                if has_modifiers {
                    return fail("specifier '%q' cannot have modifiers");
                }
                quote_value(&mut out, v, arg)?;
            }
            _ => {
                let s = display_value(ctx, v);
                let s = s.as_bytes();
                if !has_modifiers {
                    out.extend_from_slice(s);
                } else {
                    if s.contains(&0) {
                        return arg_fail(arg, "string contains zeros");
                    }
                    if spec.precision.is_none() && s.len() >= 100 {
                        out.extend_from_slice(s);
                    } else {
                        let cut = spec.precision.unwrap_or(s.len()).min(s.len());
                        pad(&mut out, &spec, "", "", &s[..cut], false);
                    }
                }
            }
        }
    }
    charge(exec, out.len());
    stack.replace(ctx, new_string(ctx, &out));
    Ok(CallbackReturn::Return)
}

/// The text `%p` and `tostring` show for a reference value.
pub fn pointer_text(v: Value<'_>) -> std::string::String {
    let p: *const () = match v {
        Value::Table(t) => gc_ptr(t.into_inner()),
        Value::Function(piccolo::Function::Closure(c)) => gc_ptr(c.into_inner()),
        Value::Function(piccolo::Function::Callback(c)) => gc_ptr(c.into_inner()),
        Value::Thread(t) => gc_ptr(t.into_inner()),
        Value::UserData(u) => gc_ptr(u.into_inner()),
        Value::String(s) => s.as_bytes().as_ptr() as *const (),
        _ => std::ptr::null(),
    };
    format!("{p:p}")
}

fn gc_ptr<T: ?Sized>(g: gc_arena::Gc<'_, T>) -> *const () {
    gc_arena::Gc::as_ptr(g) as *const ()
}
