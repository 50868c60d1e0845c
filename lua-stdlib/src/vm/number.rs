//! Lua's numbers, in one place: string → number (`lua_stringtonumber`),
//! number → string (`%.14g`, `LUAI_NUMFFORMAT`), float → integer
//! conversions, exact comparisons between integers and floats, and the
//! arithmetic whose rules differ from Rust's (floor division and modulo,
//! shifts, `//` and `%` by zero). Everything else (the interpreter, the
//! table's key normalisation, `tostring`, `tonumber`, `string.format`,
//! `table.sort`) calls these, so each rule exists once.
//!
//! A leaf module: it knows nothing about values, only `i64` and `f64`.

use std::cmp::Ordering;

/// A Lua number: the two subtypes of 5.4.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

/// 2^63, the first float above `i64::MAX`.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808u64 as f64;

/// The integer value of a float, if it has an exact one in range
/// (`luaV_flttointns` with `F2Ieq`).
pub fn float_to_integer(f: f64) -> Option<i64> {
    // -2^63 is representable; 2^63 is not an i64.
    if f.fract() == 0.0 && (-TWO_POW_63..TWO_POW_63).contains(&f) {
        Some(f as i64)
    } else {
        None
    }
}

/// `floor(f)` as an integer, if in range (`F2Ifloor`, used by `for` limits).
pub fn float_floor_to_integer(f: f64) -> Option<i64> {
    float_to_integer(f.floor())
}

/// `ceil(f)` as an integer, if in range (`F2Iceil`).
pub fn float_ceil_to_integer(f: f64) -> Option<i64> {
    float_to_integer(f.ceil())
}

/// `lua_Number2str`: `%.14g`, plus `.0` when the result looks like an integer.
pub fn float_to_string(f: f64) -> String {
    if f.is_nan() {
        return if f.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if f.is_infinite() {
        return if f < 0.0 { "-inf" } else { "inf" }.to_string();
    }
    // Integral values below 1e14 (14 digits) print exactly under %.14g.
    if f.fract() == 0.0 && f.abs() < 1e14 {
        let mut s = (f as i64).to_string();
        if f.is_sign_negative() && f == 0.0 {
            s.insert(0, '-');
        }
        s.push_str(".0");
        return s;
    }
    let mut s = format_g(f.abs(), 14, false, false);
    if f.is_sign_negative() {
        s.insert(0, '-');
    }
    if s.bytes().all(|c| c == b'-' || c.is_ascii_digit()) {
        s.push_str(".0");
    }
    s
}

/// The string form of a number, as `tostring` gives it.
pub fn number_to_string(n: Number) -> String {
    match n {
        Number::Int(i) => i.to_string(),
        Number::Float(f) => float_to_string(f),
    }
}

/// `%e` body for a non-negative finite `x`: mantissa and exponent.
pub fn exp_body(x: f64, prec: usize, alt: bool) -> (String, i32) {
    let s = format!("{:.*e}", prec, x);
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut m = mant.to_string();
    if alt && prec == 0 {
        m.push('.');
    }
    (m, exp)
}

/// Appends C's exponent suffix (`e+05`).
pub fn push_exp(s: &mut String, exp: i32, upper: bool) {
    s.push(if upper { 'E' } else { 'e' });
    s.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        s.push('0');
    }
    s.push_str(&e.to_string());
}

fn strip_zeros(s: &mut String) {
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
}

/// C's `%.<p>g` for a non-negative finite `x` (`p == 0` means 1).
pub fn format_g(x: f64, p: usize, upper: bool, alt: bool) -> String {
    let p = p.max(1);
    // One `%e` conversion gives both the exponent and the digits; when the
    // shortest round-trip form has at most `p <= 15` digits, those are the
    // digits, and Rust finds them faster than an exact `p`-digit conversion.
    let shortest = format!("{:e}", x);
    let (short_mantissa, short_exp) = shortest.split_once('e').unwrap_or((&shortest, "0"));
    let short_digits = short_mantissa.bytes().filter(u8::is_ascii_digit).count();
    let (mantissa, x_exp) = if p <= 15 && short_digits <= p {
        (short_mantissa.to_string(), short_exp.parse().unwrap_or(0))
    } else {
        exp_body(x, p - 1, false)
    };
    if (x_exp as i64) < p as i64 && x_exp >= -4 {
        let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        while digits.len() < p {
            digits.push('0');
        }
        let mut s = String::with_capacity(p + 6);
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

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&c| !is_space(c)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&c| !is_space(c))
        .map_or(start, |e| e + 1);
    &s[start..end]
}

/// Hexadecimal numeral after `0x`: integer (wrapping) or float (with `.`
/// or a binary exponent `p`).
fn parse_hex(s: &[u8], negative: bool) -> Option<Number> {
    let mut i = 0;
    let mut mantissa: u64 = 0;
    let mut float_m: f64 = 0.0;
    let mut exp: i64 = 0;
    let mut any_digit = false;
    let mut is_float = false;
    let mut seen_dot = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' {
            if seen_dot {
                return None;
            }
            seen_dot = true;
            is_float = true;
        } else if let Some(d) = (c as char).to_digit(16) {
            any_digit = true;
            mantissa = mantissa.wrapping_mul(16).wrapping_add(d as u64);
            if float_m < 1e300 {
                float_m = float_m * 16.0 + d as f64;
                if seen_dot {
                    exp -= 4;
                }
            } else if !seen_dot {
                exp += 4;
            }
        } else {
            break;
        }
        i += 1;
    }
    if !any_digit {
        return None;
    }
    if i < s.len() && (s[i] == b'p' || s[i] == b'P') {
        is_float = true;
        i += 1;
        let mut eneg = false;
        if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
            eneg = s[i] == b'-';
            i += 1;
        }
        let start = i;
        let mut e: i64 = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            e = (e * 10 + (s[i] - b'0') as i64).min(1 << 20);
            i += 1;
        }
        if i == start {
            return None;
        }
        exp += if eneg { -e } else { e };
    }
    if i != s.len() {
        return None;
    }
    if is_float {
        let v = float_m * 2f64.powi(exp.clamp(-2000, 2000) as i32);
        Some(Number::Float(if negative { -v } else { v }))
    } else {
        let v = mantissa as i64;
        Some(Number::Int(if negative { v.wrapping_neg() } else { v }))
    }
}

/// Decimal numeral: `digits [. digits] [e [sign] digits]`.
fn parse_decimal(s: &[u8], negative: bool) -> Option<Number> {
    let mut i = 0;
    let mut digits = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    let int_end = i;
    let mut is_float = false;
    if i < s.len() && s[i] == b'.' {
        is_float = true;
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        is_float = true;
        i += 1;
        if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if i != s.len() {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    if !is_float && int_end == s.len() {
        let mut v: i64 = 0;
        let mut overflow = false;
        for &c in s {
            match v
                .checked_mul(10)
                .and_then(|v| v.checked_add((c - b'0') as i64))
            {
                Some(n) => v = n,
                None => {
                    overflow = true;
                    break;
                }
            }
        }
        if !overflow {
            return Some(Number::Int(if negative { v.wrapping_neg() } else { v }));
        }
        if negative && text == "9223372036854775808" {
            return Some(Number::Int(i64::MIN));
        }
    }
    let f: f64 = text.parse().ok()?;
    Some(Number::Float(if negative { -f } else { f }))
}

/// `lua_stringtonumber`: the number a string denotes, if any.
pub fn str_to_number(s: &[u8]) -> Option<Number> {
    let s = trim(s);
    let (negative, rest) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest.len() >= 2 && rest[0] == b'0' && (rest[1] == b'x' || rest[1] == b'X') {
        parse_hex(&rest[2..], negative)
    } else {
        parse_decimal(rest, negative)
    }
}

/// `tonumber(s, base)`: an integer numeral in `base` (2..=36), wrapping.
pub fn str_to_int_base(s: &[u8], base: u32) -> Option<i64> {
    let s = trim(s);
    let (negative, rest) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if rest.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &c in rest {
        let d = (c as char).to_digit(36)?;
        if d >= base {
            return None;
        }
        v = v.wrapping_mul(base as i64).wrapping_add(d as i64);
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

/// Exact `i < f` (`LTintfloat`).
pub fn int_lt_float(i: i64, f: f64) -> bool {
    if f.is_nan() {
        false
    } else if f >= TWO_POW_63 {
        true
    } else if f > -TWO_POW_63 {
        // `f` is in range: compare with its ceiling (i < f <=> i < ceil(f)).
        i < f.ceil() as i64
    } else {
        false
    }
}

/// Exact `i <= f` (`LEintfloat`).
pub fn int_le_float(i: i64, f: f64) -> bool {
    if f.is_nan() {
        false
    } else if f >= TWO_POW_63 {
        true
    } else if f >= -TWO_POW_63 {
        i <= f.floor() as i64
    } else {
        false
    }
}

/// Exact equality of an integer and a float.
pub fn int_eq_float(i: i64, f: f64) -> bool {
    float_to_integer(f) == Some(i)
}

/// Exact ordering of two numbers (`None` when a NaN is involved).
pub fn compare(a: Number, b: Number) -> Option<Ordering> {
    match (a, b) {
        (Number::Int(x), Number::Int(y)) => Some(x.cmp(&y)),
        (Number::Float(x), Number::Float(y)) => x.partial_cmp(&y),
        (Number::Int(x), Number::Float(y)) => {
            if y.is_nan() {
                None
            } else if int_lt_float(x, y) {
                Some(Ordering::Less)
            } else if int_le_float(x, y) {
                Some(Ordering::Equal)
            } else {
                Some(Ordering::Greater)
            }
        }
        (Number::Float(_), Number::Int(_)) => compare(b, a).map(Ordering::reverse),
    }
}

/// Lua's `a // b` on integers; `None` on division by zero.
pub fn int_floor_div(a: i64, b: i64) -> Option<i64> {
    if b == 0 {
        return None;
    }
    if b == -1 {
        return Some(a.wrapping_neg());
    }
    let q = a / b;
    Some(if (a % b != 0) && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    })
}

/// Lua's `a % b` on integers; `None` on modulo by zero.
pub fn int_mod(a: i64, b: i64) -> Option<i64> {
    if b == 0 {
        return None;
    }
    if b == -1 {
        return Some(0);
    }
    let r = a % b;
    Some(if r != 0 && (r ^ b) < 0 { r + b } else { r })
}

/// Lua's `a % b` on floats (`luai_nummod`).
pub fn float_mod(a: f64, b: f64) -> f64 {
    let r = a % b;
    if (r > 0.0 && b < 0.0) || (r < 0.0 && b > 0.0) {
        r + b
    } else {
        r
    }
}

/// Lua's `a // b` on floats.
pub fn float_floor_div(a: f64, b: f64) -> f64 {
    (a / b).floor()
}

/// `luaV_shiftl`: logical shift left (negative `y` shifts right).
pub fn shift_left(x: i64, y: i64) -> i64 {
    if y <= -64 || y >= 64 {
        0
    } else if y >= 0 {
        ((x as u64) << y) as i64
    } else {
        ((x as u64) >> (-y)) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_lua() {
        assert_eq!(float_to_string(1.0), "1.0");
        assert_eq!(float_to_string(-0.0), "-0.0");
        assert_eq!(float_to_string(1e100), "1e+100");
        assert_eq!(float_to_string(std::f64::consts::PI), "3.1415926535898");
        assert_eq!(float_to_string(1e15), "1e+15");
        assert_eq!(float_to_string(99999999999999.0), "99999999999999.0");
        assert_eq!(float_to_string(123456789012345.0), "1.2345678901234e+14");
        assert_eq!(float_to_string(1.0 / 3.0), "0.33333333333333");
        assert_eq!(float_to_string(-2.5e-5), "-2.5e-05");
        assert_eq!(float_to_string(f64::INFINITY), "inf");
    }

    #[test]
    fn strings_convert_like_lua() {
        assert_eq!(str_to_number(b" 10 "), Some(Number::Int(10)));
        assert_eq!(str_to_number(b"0x10"), Some(Number::Int(16)));
        assert_eq!(str_to_number(b"0xffffffffffffffff"), Some(Number::Int(-1)));
        assert_eq!(str_to_number(b"1e2"), Some(Number::Float(100.0)));
        assert_eq!(str_to_number(b"0x1p4"), Some(Number::Float(16.0)));
        assert_eq!(
            str_to_number(b"9223372036854775808"),
            Some(Number::Float(TWO_POW_63))
        );
        assert!(str_to_number(b"inf").is_none());
        assert!(str_to_number(b"1e").is_none());
        assert_eq!(str_to_int_base(b"zz", 36), Some(1295));
    }

    #[test]
    fn int_float_comparisons_are_exact() {
        let max = i64::MAX;
        assert!(int_lt_float(max, TWO_POW_63));
        assert!(!int_eq_float(max, TWO_POW_63));
        assert_eq!(
            compare(Number::Float(9.25e18), Number::Int(max)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare(Number::Int(i64::MIN), Number::Float(-TWO_POW_63)),
            Some(Ordering::Equal)
        );
        assert_eq!(compare(Number::Int(1), Number::Float(f64::NAN)), None);
    }

    #[test]
    fn floor_division_and_modulo() {
        assert_eq!(int_floor_div(-7, 2), Some(-4));
        assert_eq!(int_mod(-7, 2), Some(1));
        assert_eq!(int_mod(7, -2), Some(-1));
        assert_eq!(int_floor_div(i64::MIN, -1), Some(i64::MIN));
        assert_eq!(int_mod(1, 0), None);
        assert_eq!(float_mod(-7.0, 2.0), 1.0);
        assert_eq!(shift_left(1, 64), 0);
        assert_eq!(shift_left(-1, -1), i64::MAX);
    }
}
