//! Lua's conversions between numbers and strings: `tostring` of a number
//! (`%.14g`, with `.0` on integral floats, `inf`/`-nan` as glibc prints
//! them) and `lua_stringtonumber` (decimal and hexadecimal integers and
//! floats, surrounding whitespace allowed, integer overflow turning into a
//! float for decimals and wrapping for hexadecimals).

use piccolo::Value;

use super::format::g_body;

/// 2^63, the first float above `i64::MAX`.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808u64 as f64;

/// The integer value of a float, if it has an exact one in range.
pub fn float_to_integer(f: f64) -> Option<i64> {
    // -2^63 is representable; 2^63 is not an i64.
    if f.fract() == 0.0 && (-TWO_POW_63..TWO_POW_63).contains(&f) {
        Some(f as i64)
    } else {
        None
    }
}

/// `lua_Number2str`: `%.14g`, plus `.0` when the result looks like an integer.
pub fn float_to_string(f: f64) -> std::string::String {
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
    let mut s = g_body(f.abs(), Some(14), false, false);
    if f.is_sign_negative() {
        s.insert(0, '-');
    }
    if s.bytes().all(|c| c == b'-' || c.is_ascii_digit()) {
        s.push_str(".0");
    }
    s
}

/// The string form of an integer or float value (anything else: empty).
pub fn number_to_string(v: Value<'_>) -> std::string::String {
    match v {
        Value::Integer(i) => i.to_string(),
        Value::Number(f) => float_to_string(f),
        _ => std::string::String::new(),
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

fn hex_digit(c: u8) -> Option<u32> {
    (c as char).to_digit(16)
}

/// Hexadecimal numeral after `0x`: integer (wrapping) or float (with `.`
/// or a binary exponent `p`).
fn parse_hex<'gc>(s: &[u8], negative: bool) -> Option<Value<'gc>> {
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
        } else if let Some(d) = hex_digit(c) {
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
        Some(Value::Number(if negative { -v } else { v }))
    } else {
        let v = mantissa as i64;
        Some(Value::Integer(if negative { v.wrapping_neg() } else { v }))
    }
}

/// Decimal numeral: `digits [. digits] [e [sign] digits]`.
fn parse_decimal<'gc>(s: &[u8], negative: bool) -> Option<Value<'gc>> {
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
            return Some(Value::Integer(if negative { v.wrapping_neg() } else { v }));
        }
        // "9223372036854775808" with a minus sign is still an integer.
        if negative && text == "9223372036854775808" {
            return Some(Value::Integer(i64::MIN));
        }
    }
    let f: f64 = text.parse().ok()?;
    Some(Value::Number(if negative { -f } else { f }))
}

/// `lua_stringtonumber`: the number a string denotes, if any.
pub fn str_to_number<'gc>(s: &[u8]) -> Option<Value<'gc>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_lua() {
        assert_eq!(float_to_string(1.0), "1.0");
        assert_eq!(float_to_string(-0.0), "-0.0");
        assert_eq!(float_to_string(1e100), "1e+100");
        assert_eq!(float_to_string(std::f64::consts::PI), "3.1415926535898");
        assert_eq!(float_to_string(0.1), "0.1");
        assert_eq!(float_to_string(1e15), "1e+15");
        assert_eq!(float_to_string(1e14), "1e+14");
        assert_eq!(float_to_string(99999999999999.0), "99999999999999.0");
        assert_eq!(float_to_string(123456789012345.0), "1.2345678901234e+14");
        assert_eq!(float_to_string(0.1 + 0.2), "0.3");
        assert_eq!(float_to_string(1.0 / 3.0), "0.33333333333333");
        assert_eq!(float_to_string(-2.5e-5), "-2.5e-05");
        assert_eq!(float_to_string(123.456), "123.456");
        assert_eq!(float_to_string(9.9999999999999995), "10.0");
        assert_eq!(float_to_string(123456789012.0), "123456789012.0");
        assert_eq!(float_to_string(f64::INFINITY), "inf");
        assert_eq!(float_to_string(-f64::INFINITY), "-inf");
    }

    #[test]
    fn strings_convert_like_lua() {
        let int = |s: &str| match str_to_number(s.as_bytes()) {
            Some(Value::Integer(i)) => Some(i),
            _ => None,
        };
        let flt = |s: &str| match str_to_number(s.as_bytes()) {
            Some(Value::Number(f)) => Some(f),
            _ => None,
        };
        assert_eq!(int(" 10 "), Some(10));
        assert_eq!(int("0x10"), Some(16));
        assert_eq!(int("0xffffffffffffffff"), Some(-1));
        assert_eq!(flt("1e2"), Some(100.0));
        assert_eq!(flt("0x1p4"), Some(16.0));
        assert_eq!(flt(".5"), Some(0.5));
        assert_eq!(flt("9223372036854775808"), Some(TWO_POW_63));
        assert!(str_to_number(b"inf").is_none());
        assert!(str_to_number(b"1e").is_none());
        assert!(str_to_number(b"").is_none());
        assert!(str_to_number(b"0x").is_none());
        assert_eq!(str_to_int_base(b"ff", 16), Some(255));
        assert_eq!(str_to_int_base(b"zz", 36), Some(1295));
        assert_eq!(str_to_int_base(b"8", 8), None);
    }
}
