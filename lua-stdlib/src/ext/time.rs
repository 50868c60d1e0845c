//! `ngx` time helpers: `time now update_time localtime utctime today`
//! read the clock the host gives ([`Clock`]: OpenResty's are the cached
//! time of the current event-loop iteration, so the host passes its
//! request clock); `cookie_time http_time parse_http_time` are pure.
//!
//! Formats are nginx's (`ngx_http_cookie_time`, `ngx_http_time`,
//! `ngx_parse_http_time`, checked against lua-nginx-module). There is no
//! time-zone database here: `localtime` and `today` are UTC, as on the
//! gateway's containers.

use std::rc::Rc;
use std::time::Duration;

use crate::lib::args::{LibError, LibResult};
use crate::{Callback, CallbackReturn, Context, Table, Value};

/// The host's clock: time since the Unix epoch.
pub type Clock = Rc<dyn Fn() -> Duration>;

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Broken-down UTC time.
struct Tm {
    year: i64,
    month: usize,
    day: i64,
    hour: i64,
    min: i64,
    sec: i64,
    /// 0 = Thursday (1970-01-01).
    wday: usize,
}

fn gmtime(t: i64) -> Tm {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Tm {
        year,
        month: (month - 1) as usize,
        day,
        hour: secs / 3600,
        min: secs % 3600 / 60,
        sec: secs % 60,
        wday: days.rem_euclid(7) as usize,
    }
}

/// `Thu, 18 Nov 2010 11:27:35 GMT`
pub fn http_time(t: i64) -> String {
    let tm = gmtime(t.max(0));
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[tm.wday], tm.day, MONTHS[tm.month], tm.year, tm.hour, tm.min, tm.sec
    )
}

/// `Thu, 18-Nov-10 11:27:35 GMT` (a four-digit year past 2037).
pub fn cookie_time(t: i64) -> String {
    let tm = gmtime(t.max(0));
    let year = if tm.year > 2037 {
        tm.year
    } else {
        tm.year % 100
    };
    format!(
        "{}, {:02}-{}-{:02} {:02}:{:02}:{:02} GMT",
        DAYS[tm.wday], tm.day, MONTHS[tm.month], year, tm.hour, tm.min, tm.sec
    )
}

/// nginx's `ngx_parse_http_time`: RFC 1123 (`Thu, 18 Nov 2010 11:27:35
/// GMT`), RFC 850 (`Thursday, 18-Nov-10 …`) and asctime (`Thu Nov 18
/// 11:27:35 2010`); the weekday is not checked, ` GMT` is optional.
pub fn parse_http_time(s: &[u8]) -> Option<i64> {
    #[derive(PartialEq)]
    enum Fmt {
        Rfc822,
        Rfc850,
        Isoc,
    }
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let digit = |i: usize| at(i).is_ascii_digit().then(|| (at(i) - b'0') as i64);
    let two = |i: usize| Some(digit(i)? * 10 + digit(i + 1)?);
    let mut fmt = None;
    let mut p = 0;
    while p < s.len() {
        if s[p] == b',' {
            break;
        }
        if s[p] == b' ' {
            fmt = Some(Fmt::Isoc);
            break;
        }
        p += 1;
    }
    p += 1;
    while p < s.len() && s[p] == b' ' {
        p += 1;
    }
    if s.len().saturating_sub(p) < 18 {
        return None;
    }
    let mut day = 0;
    if fmt.is_none() {
        day = two(p)?;
        p += 2;
        fmt = match at(p) {
            b' ' => Some(Fmt::Rfc822),
            b'-' => Some(Fmt::Rfc850),
            _ => return None,
        };
        p += 1;
    }
    let fmt = fmt?;
    let month = match (at(p), at(p + 1), at(p + 2)) {
        (b'J', b'a', _) => 0,
        (b'J', _, b'n') => 5,
        (b'J', _, _) => 6,
        (b'F', _, _) => 1,
        (b'M', _, b'r') => 2,
        (b'M', _, _) => 4,
        (b'A', b'p', _) => 3,
        (b'A', _, _) => 7,
        (b'S', _, _) => 8,
        (b'O', _, _) => 9,
        (b'N', _, _) => 10,
        (b'D', _, _) => 11,
        _ => return None,
    };
    p += 3;
    if (fmt == Fmt::Rfc822 && at(p) != b' ') || (fmt == Fmt::Rfc850 && at(p) != b'-') {
        return None;
    }
    p += 1;
    let mut year = 0;
    match fmt {
        Fmt::Rfc822 => {
            year = two(p)? * 100 + two(p + 2)?;
            p += 4;
        }
        Fmt::Rfc850 => {
            year = two(p)?;
            year += if year < 70 { 2000 } else { 1900 };
            p += 2;
        }
        Fmt::Isoc => {
            if at(p) == b' ' {
                p += 1;
            }
            day = digit(p)?;
            p += 1;
            if at(p) != b' ' {
                day = day * 10 + digit(p)?;
                p += 1;
            }
            if s.len().saturating_sub(p) < 14 {
                return None;
            }
        }
    }
    if at(p) != b' ' {
        return None;
    }
    p += 1;
    let hour = two(p)?;
    if at(p + 2) != b':' {
        return None;
    }
    let min = two(p + 3)?;
    if at(p + 5) != b':' {
        return None;
    }
    let sec = two(p + 6)?;
    p += 8;
    if fmt == Fmt::Isoc {
        if at(p) != b' ' {
            return None;
        }
        year = two(p + 1)? * 100 + two(p + 3)?;
        p += 5;
    }
    let rest = &s[p.min(s.len())..];
    if !(rest.is_empty() || rest == b" GMT") {
        return None;
    }
    if hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    const MDAY: [i64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if day == 29 && month == 1 {
        if year & 3 != 0 || (year % 100 == 0 && year % 400 != 0) {
            return None;
        }
    } else if day > MDAY[month] || day == 0 {
        return None;
    }
    // Gauss' formula, as nginx writes it (months from March).
    let (mut m, mut y) = (month as i64, year);
    m -= 1;
    if m <= 0 {
        m += 12;
        y -= 1;
    }
    let days =
        365 * y + y / 4 - y / 100 + y / 400 + 367 * m / 12 - 30 + day - 1 - 719_527 + 31 + 28;
    Some(days * 86400 + hour * 3600 + min * 60 + sec)
}

fn date_time(t: i64, with_time: bool) -> String {
    let tm = gmtime(t);
    if with_time {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            tm.year,
            tm.month + 1,
            tm.day,
            tm.hour,
            tm.min,
            tm.sec
        )
    } else {
        format!("{:04}-{:02}-{:02}", tm.year, tm.month + 1, tm.day)
    }
}

/// The time helpers, to be set as fields of `ngx`.
pub fn load_ngx_time<'gc>(ctx: Context<'gc>, clock: Clock) -> Table<'gc> {
    let t = ctx.new_table();
    let secs = {
        let clock = clock.clone();
        move || clock().as_secs() as i64
    };
    let c = clock.clone();
    let _ = t.set(
        ctx,
        "now",
        Callback::from_fn(&ctx, move |ctx, _, mut stack| {
            // Millisecond resolution, as ngx.now.
            stack.replace(ctx, (c().as_millis() as f64) / 1000.0);
            Ok(CallbackReturn::Return)
        }),
    );
    for (name, kind) in [
        ("time", 0u8),
        ("localtime", 1),
        ("utctime", 1),
        ("today", 2),
    ] {
        let secs = secs.clone();
        let _ = t.set(
            ctx,
            name,
            Callback::from_fn(&ctx, move |ctx, _, mut stack| {
                let now = secs();
                match kind {
                    0 => stack.replace(ctx, now),
                    1 => stack.replace(ctx, date_time(now, true)),
                    _ => stack.replace(ctx, date_time(now, false)),
                }
                Ok(CallbackReturn::Return)
            }),
        );
    }
    let _ = t.set(
        ctx,
        "update_time",
        Callback::from_fn(&ctx, |_, _, mut stack| {
            stack.clear();
            Ok(CallbackReturn::Return)
        }),
    );
    for (name, f) in [
        ("cookie_time", cookie_time as fn(i64) -> String),
        ("http_time", http_time),
    ] {
        let _ = t.set(
            ctx,
            name,
            Callback::from_fn(&ctx, move |ctx, exec, mut stack| {
                let r: LibResult<'_, ()> = (|| {
                    let secs = match stack.get(0) {
                        Value::Integer(n) => n,
                        Value::Number(x) => x as i64,
                        _ => return Err(LibError::Msg("number argument only".into())),
                    };
                    stack.replace(ctx, f(secs));
                    Ok(())
                })();
                r.map_err(|e| e.into_error(ctx, &exec, name))?;
                Ok(CallbackReturn::Return)
            }),
        );
    }
    let _ = t.set(
        ctx,
        "parse_http_time",
        Callback::from_fn(&ctx, |ctx, exec, mut stack| {
            let Value::String(s) = stack.get(0) else {
                return Err(LibError::Msg("string argument only".into()).into_error(
                    ctx,
                    &exec,
                    "parse_http_time",
                ));
            };
            let v = parse_http_time(s.as_bytes()).map_or(Value::Nil, Value::Integer);
            stack.replace(ctx, v);
            Ok(CallbackReturn::Return)
        }),
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip_through_the_parser() {
        for t in [0, 1_290_079_655, 951_782_400, 4_102_444_800, -3_760_345] {
            assert_eq!(
                parse_http_time(http_time(t.max(0)).as_bytes()),
                Some(t.max(0))
            );
        }
    }
}
