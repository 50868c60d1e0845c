//! The `os` library: `clock date difftime time` everywhere; `getenv execute
//! exit remove rename tmpname` only in the `Full` profile.
//!
//! Dates are computed here, in the C locale: local time is UTC (lunagate
//! runs with `TZ=UTC`; `%Z` says `UTC` for local time and `GMT` for `!`
//! formats, as glibc does).

use std::io::Write;

use crate::{CallbackReturn, Context, Execution, Stack, Table, Value};

use super::args::{arg_fail, check_integer, check_string, fail, opt_string, set_fn, LibResult};
use crate::env::Profile;

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1..=12).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01: (year, month, day).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// A broken-down time, like C's `struct tm` (with real years and months).
#[derive(Clone, Copy)]
struct Tm {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    min: i64,
    sec: i64,
    /// 0 = Sunday.
    wday: i64,
    /// 0-based day of the year.
    yday: i64,
}

fn to_tm(t: i64) -> Tm {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Tm {
        year,
        month,
        day,
        hour: secs / 3600,
        min: secs % 3600 / 60,
        sec: secs % 60,
        wday: (days + 4).rem_euclid(7),
        yday: days - days_from_civil(year, 1, 1),
    }
}

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// ISO 8601 week-based year and week number.
fn iso_week(tm: &Tm) -> (i64, i64) {
    let wday = (tm.wday + 6) % 7; // Monday = 0
    let mut year = tm.year;
    let mut week = (tm.yday - wday + 10) / 7;
    if week < 1 {
        year -= 1;
        let days_prev = if is_leap(year) { 366 } else { 365 };
        week = (tm.yday + days_prev - wday + 10) / 7;
    } else {
        let days = if is_leap(year) { 366 } else { 365 };
        if week == 53 && tm.yday - wday + 3 >= days {
            year += 1;
            week = 1;
        }
    }
    (year, week)
}

/// Conversions lua5.4 accepts (C99 plus the `E` and `O` modified forms).
fn valid_conversion(spec: &[u8]) -> bool {
    match spec {
        [c] => b"aAbBcCdDeFgGhHIjmMnprRStTuUVwWxXyYzZ%".contains(c),
        [b'E', c] => b"cCxXyY".contains(c),
        [b'O', c] => b"deHImMSuUVwWy".contains(c),
        _ => false,
    }
}

fn strftime(out: &mut String, conv: u8, tm: &Tm, utc: bool) {
    use std::fmt::Write as _;
    let hour12 = if tm.hour % 12 == 0 { 12 } else { tm.hour % 12 };
    let _ = match conv {
        b'a' => write!(out, "{}", &DAYS[tm.wday as usize][..3]),
        b'A' => write!(out, "{}", DAYS[tm.wday as usize]),
        b'b' | b'h' => write!(out, "{}", &MONTHS[tm.month as usize - 1][..3]),
        b'B' => write!(out, "{}", MONTHS[tm.month as usize - 1]),
        b'c' => {
            for c in [b'a', b' ', b'b', b' ', b'e', b' ', b'T', b' ', b'Y'] {
                if c == b' ' {
                    out.push(' ');
                } else {
                    strftime(out, c, tm, utc);
                }
            }
            Ok(())
        }
        b'C' => write!(out, "{:02}", tm.year.div_euclid(100)),
        b'd' => write!(out, "{:02}", tm.day),
        b'D' | b'x' => write!(
            out,
            "{:02}/{:02}/{:02}",
            tm.month,
            tm.day,
            tm.year.rem_euclid(100)
        ),
        b'e' => write!(out, "{:2}", tm.day),
        b'F' => write!(out, "{}-{:02}-{:02}", tm.year, tm.month, tm.day),
        b'g' => write!(out, "{:02}", iso_week(tm).0.rem_euclid(100)),
        b'G' => write!(out, "{}", iso_week(tm).0),
        b'H' => write!(out, "{:02}", tm.hour),
        b'I' => write!(out, "{:02}", hour12),
        b'j' => write!(out, "{:03}", tm.yday + 1),
        b'm' => write!(out, "{:02}", tm.month),
        b'M' => write!(out, "{:02}", tm.min),
        b'n' => writeln!(out),
        b'p' => write!(out, "{}", if tm.hour < 12 { "AM" } else { "PM" }),
        b'r' => write!(
            out,
            "{:02}:{:02}:{:02} {}",
            hour12,
            tm.min,
            tm.sec,
            if tm.hour < 12 { "AM" } else { "PM" }
        ),
        b'R' => write!(out, "{:02}:{:02}", tm.hour, tm.min),
        b'S' => write!(out, "{:02}", tm.sec),
        b't' => write!(out, "\t"),
        b'T' | b'X' => write!(out, "{:02}:{:02}:{:02}", tm.hour, tm.min, tm.sec),
        b'u' => write!(out, "{}", if tm.wday == 0 { 7 } else { tm.wday }),
        b'U' => write!(out, "{:02}", (tm.yday + 7 - tm.wday) / 7),
        b'V' => write!(out, "{:02}", iso_week(tm).1),
        b'w' => write!(out, "{}", tm.wday),
        b'W' => write!(out, "{:02}", (tm.yday + 7 - (tm.wday + 6) % 7) / 7),
        b'y' => write!(out, "{:02}", tm.year.rem_euclid(100)),
        b'Y' => write!(out, "{}", tm.year),
        b'z' => write!(out, "+0000"),
        b'Z' => write!(out, "{}", if utc { "GMT" } else { "UTC" }),
        _ => write!(out, "%"),
    };
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn set_tm_fields<'gc>(ctx: Context<'gc>, t: Table<'gc>, tm: &Tm) {
    let fields: [(&'static str, i64); 8] = [
        ("year", tm.year),
        ("month", tm.month),
        ("day", tm.day),
        ("hour", tm.hour),
        ("min", tm.min),
        ("sec", tm.sec),
        ("wday", tm.wday + 1),
        ("yday", tm.yday + 1),
    ];
    for (k, v) in fields {
        let _ = t.set(ctx, k, v);
    }
    let _ = t.set(ctx, "isdst", false);
}

fn os_date<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let format = match opt_string(ctx, stack, 0)? {
        Some(s) => s.as_bytes().to_vec(),
        None => b"%c".to_vec(),
    };
    let t = if stack.get(1).is_nil() {
        now()
    } else {
        check_integer(stack, 1)?
    };
    let (utc, mut fmt) = match format.strip_prefix(b"!") {
        Some(rest) => (true, rest),
        None => (false, &format[..]),
    };
    let tm = to_tm(t);
    if fmt.starts_with(b"*t") {
        let table = ctx.new_table();
        set_tm_fields(ctx, table, &tm);
        stack.replace(ctx, table);
        return Ok(CallbackReturn::Return);
    }
    let mut out = String::new();
    let mut bytes = Vec::new();
    while let Some((&c, rest)) = fmt.split_first() {
        fmt = rest;
        if c != b'%' {
            bytes.push(c);
            continue;
        }
        let len = match fmt.first() {
            Some(b'E' | b'O') => 2,
            _ => 1,
        };
        let spec = &fmt[..len.min(fmt.len())];
        if !valid_conversion(spec) {
            return arg_fail(
                0,
                format!(
                    "invalid conversion specifier '%{}'",
                    String::from_utf8_lossy(spec)
                ),
            );
        }
        out.clear();
        strftime(&mut out, spec[spec.len() - 1], &tm, utc);
        bytes.extend_from_slice(out.as_bytes());
        fmt = &fmt[len..];
    }
    stack.replace(ctx, ctx.intern(&bytes));
    Ok(CallbackReturn::Return)
}

/// Reads an integer field of a date table (lua5.4's `getfield`).
fn date_field<'gc>(
    ctx: Context<'gc>,
    t: Table<'gc>,
    key: &'static str,
    default: Option<i64>,
) -> LibResult<'gc, i64> {
    let v = t.get(ctx, key);
    match v.to_integer() {
        Some(n) if matches!(v, Value::Integer(_) | Value::Number(_) | Value::String(_)) => {
            if !(-(1i64 << 31)..(1i64 << 31)).contains(&n) {
                return fail(format!("field '{key}' is out-of-bound"));
            }
            Ok(n)
        }
        _ if !v.is_nil() => fail(format!("field '{key}' is not an integer")),
        _ => default.map_or_else(|| fail(format!("field '{key}' missing in date table")), Ok),
    }
}

fn os_time<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let t = match stack.get(0) {
        Value::Nil => now(),
        Value::Table(t) => {
            let year = date_field(ctx, t, "year", None)?;
            let month = date_field(ctx, t, "month", None)?;
            let day = date_field(ctx, t, "day", None)?;
            let hour = date_field(ctx, t, "hour", Some(12))?;
            let min = date_field(ctx, t, "min", Some(0))?;
            let sec = date_field(ctx, t, "sec", Some(0))?;
            // Normalize the month first (mktime does), then count days.
            let m0 = month - 1;
            let y = year + m0.div_euclid(12);
            let m = m0.rem_euclid(12) + 1;
            let days = days_from_civil(y, m, 1) + day - 1;
            let time = days * 86_400 + hour * 3600 + min * 60 + sec;
            // mktime's error value: lua5.4 cannot tell it from a real -1.
            if time == -1 {
                return fail("time result cannot be represented in this installation");
            }
            set_tm_fields(ctx, t, &to_tm(time));
            time
        }
        _ => {
            return arg_fail(
                0,
                format!(
                    "table expected, got {}",
                    super::args::type_name_at(stack, 0)
                ),
            )
        }
    };
    stack.replace(ctx, t);
    Ok(CallbackReturn::Return)
}

fn os_difftime<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let a = check_integer(stack, 0)?;
    let b = check_integer(stack, 1)?;
    stack.replace(ctx, a as f64 - b as f64);
    Ok(CallbackReturn::Return)
}

fn os_clock<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    // CPU time is not available without libc: time since the first call
    // in this process stands in for it.
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(std::time::Instant::now);
    stack.replace(ctx, start.elapsed().as_secs_f64());
    Ok(CallbackReturn::Return)
}

fn os_getenv<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let name = check_string(ctx, stack, 0)?;
    let name = String::from_utf8_lossy(name.as_bytes()).into_owned();
    match std::env::var_os(&name) {
        Some(v) => stack.replace(ctx, ctx.intern(v.to_string_lossy().as_bytes())),
        None => stack.replace(ctx, Value::Nil),
    }
    Ok(CallbackReturn::Return)
}

fn io_result<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    what: &str,
    r: std::io::Result<()>,
) {
    match r {
        Ok(()) => stack.replace(ctx, true),
        Err(e) => {
            let msg = format!("{what}: {}", io_reason(&e));
            stack.replace(
                ctx,
                (
                    Value::Nil,
                    ctx.intern(msg.as_bytes()),
                    e.raw_os_error().unwrap_or(0) as i64,
                ),
            )
        }
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".to_string(),
        _ => e.to_string(),
    }
}

fn os_remove<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let name = String::from_utf8_lossy(check_string(ctx, stack, 0)?.as_bytes()).into_owned();
    let path = std::path::Path::new(&name);
    let r = if path.is_dir() {
        std::fs::remove_dir(path)
    } else {
        std::fs::remove_file(path)
    };
    io_result(ctx, stack, &name, r);
    Ok(CallbackReturn::Return)
}

fn os_rename<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let from = String::from_utf8_lossy(check_string(ctx, stack, 0)?.as_bytes()).into_owned();
    let to = String::from_utf8_lossy(check_string(ctx, stack, 1)?.as_bytes()).into_owned();
    let r = std::fs::rename(&from, &to);
    io_result(ctx, stack, &from, r);
    Ok(CallbackReturn::Return)
}

fn os_tmpname<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let dir = std::env::temp_dir();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for k in 0..100u32 {
        let path = dir.join(format!(
            "lua_{:06x}",
            (nanos ^ (std::process::id() << 8)).wrapping_add(k) & 0xff_ffff
        ));
        if std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .is_ok()
        {
            stack.replace(ctx, ctx.intern(path.to_string_lossy().as_bytes()));
            return Ok(CallbackReturn::Return);
        }
    }
    fail("unable to generate a unique filename")
}

fn os_execute<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let Some(cmd) = opt_string(ctx, stack, 0)? else {
        stack.replace(ctx, true);
        return Ok(CallbackReturn::Return);
    };
    let _ = std::io::stdout().flush();
    let status = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(String::from_utf8_lossy(cmd.as_bytes()).as_ref())
        .status();
    match status {
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            let (what, code) = match (s.code(), s.signal()) {
                (Some(c), _) => ("exit", c as i64),
                (None, Some(sig)) => ("signal", sig as i64),
                _ => ("exit", 1),
            };
            let ok = if what == "exit" && code == 0 {
                Value::Boolean(true)
            } else {
                Value::Nil
            };
            stack.replace(ctx, (ok, what, code));
        }
        Err(e) => stack.replace(
            ctx,
            (Value::Nil, "exit", e.raw_os_error().unwrap_or(1) as i64),
        ),
    }
    Ok(CallbackReturn::Return)
}

fn os_exit<'gc>(
    _: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let code = match stack.get(0) {
        Value::Nil | Value::Boolean(true) => 0,
        Value::Boolean(false) => 1,
        _ => check_integer(stack, 0)? as i32,
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code)
}

/// `os.setlocale`: only the C locale exists here (queries answer "C";
/// asking for "C", "POSIX" or "" succeeds, anything else fails).
fn os_setlocale<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let locale = opt_string(ctx, stack, 0)?;
    let category = opt_string(ctx, stack, 1)?;
    if let Some(c) = category {
        let c = c.as_bytes();
        if !matches!(
            c,
            b"all" | b"collate" | b"ctype" | b"monetary" | b"numeric" | b"time"
        ) {
            return arg_fail(
                1,
                format!("invalid option '{}'", String::from_utf8_lossy(c)),
            );
        }
    }
    let result = match locale {
        None => Value::String(ctx.intern(b"C")),
        Some(l) if matches!(l.as_bytes(), b"" | b"C" | b"POSIX") => Value::String(ctx.intern(b"C")),
        Some(_) => Value::Nil,
    };
    stack.replace(ctx, result);
    Ok(CallbackReturn::Return)
}

/// Builds the `os` table for `profile`.
pub fn load_os<'gc>(ctx: Context<'gc>, profile: Profile) -> Table<'gc> {
    let os = ctx.new_table();
    set_fn(ctx, os, "os.clock", os_clock);
    set_fn(ctx, os, "os.date", os_date);
    set_fn(ctx, os, "os.difftime", os_difftime);
    set_fn(ctx, os, "os.time", os_time);
    set_fn(ctx, os, "os.setlocale", os_setlocale);
    if profile == Profile::Full {
        set_fn(ctx, os, "os.getenv", os_getenv);
        set_fn(ctx, os, "os.execute", os_execute);
        set_fn(ctx, os, "os.exit", os_exit);
        set_fn(ctx, os, "os.remove", os_remove);
        set_fn(ctx, os, "os.rename", os_rename);
        set_fn(ctx, os, "os.tmpname", os_tmpname);
    }
    os
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        let tm = to_tm(1_700_000_000);
        assert_eq!(
            (tm.year, tm.month, tm.day, tm.hour, tm.min, tm.sec),
            (2023, 11, 14, 22, 13, 20)
        );
        assert_eq!((tm.wday, tm.yday), (2, 317));
        assert_eq!(iso_week(&tm), (2023, 46));
    }
}
