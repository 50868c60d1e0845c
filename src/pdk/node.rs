//! `kong.node` (Kong's `kong/pdk/node.lua`): the node's id, its host
//! name and its memory.
//!
//! - `get_id()`: one v4 UUID per node (process), made on first use; the
//!   Admin API's `/` shows the same `node_id`.
//! - `get_hostname()`: the machine's name, as `gethostname` gives it
//!   (`uname`'s nodename, without C).
//! - `get_memory_stats([unit [, scale]])`: Kong's: argument checks,
//!   then `workers_lua_vms` from the workers' reports in the node's `kong`
//!   dict (`ngx.shared.kong`, [`super::shared`]): each key with
//!   `kong:mem:<pid>` in it, by `pid` ascending, with `http_allocated_gc`
//!   (the report, KiB, in bytes) or Kong's `err` for a value that is not
//!   a number. A worker (`pid`: its `ngx.worker.pid()`) reports the bytes
//!   its VM uses, as `collectgarbage "count"` and the memory budget count
//!   them, when a phase of functions ends, at most every 10 s, as Kong's
//!   workers do after a request. `lua_shared_dicts`: the node's two dicts,
//!   `kong` (5 MiB, as Kong's template) and `kong_db_cache`, the
//!   `kong.cache` of every worker (`capacity`: `mem_cache_size`;
//!   `allocated_slabs`: what their entries take by their own count).

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lua_stdlib::{Callback, CallbackReturn, Context, Error, Table, Value};

use super::lua_error;
use super::shared::{self, Stored};

/// This node's id.
pub fn id() -> uuid::Uuid {
    static ID: OnceLock<uuid::Uuid> = OnceLock::new();
    *ID.get_or_init(uuid::Uuid::new_v4)
}

/// The machine's host name (`gethostname`).
pub fn hostname() -> String {
    let uname = rustix::system::uname();
    String::from_utf8_lossy(uname.nodename().to_bytes()).into_owned()
}

/// How often a worker reports its Lua VM's memory (Kong's
/// `LUA_MEM_SAMPLE_RATE`).
const REPORT_EVERY: Duration = Duration::from_secs(10);

thread_local! {
    static LAST_REPORT: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Reports the bytes this worker's Lua VM uses (`bytes`, asked only when
/// a report is due), as Kong's workers do after a request
/// (`update_lua_mem`): into the node's `kong` dict as `kong:mem:<pid>`,
/// in KiB, at most every 10 s by `now` (the first time at once).
pub fn report_lua_memory(bytes: impl FnOnce() -> usize, now: Instant) {
    let due = LAST_REPORT
        .get()
        .is_none_or(|at| now.saturating_duration_since(at) >= REPORT_EVERY);
    if !due {
        return;
    }
    LAST_REPORT.set(Some(now));
    let key = format!("kong:mem:{}", super::worker::pid());
    let kib = Stored::Number(bytes() as f64 / 1024.0);
    if !shared::kong().safe_set(key.as_bytes(), kib) {
        tracing::error!("could not record Lua VM allocated memory: no memory");
    }
}

/// The workers' reports as Kong's `get_memory_stats` reads them: each
/// key of the `kong` dict with `kong:mem:` and digits in it, its pid and
/// the value of `kong:mem:<pid>` (KiB), ascending by pid.
fn worker_reports() -> Vec<(i64, Option<f64>)> {
    let dict = shared::kong();
    let mut reports: Vec<(i64, Option<f64>)> = Vec::new();
    for key in dict.keys(1024) {
        let Some(at) = key.windows(9).position(|w| w == b"kong:mem:") else {
            continue;
        };
        let digits: Vec<u8> = key[at + 9..]
            .iter()
            .copied()
            .take_while(u8::is_ascii_digit)
            .collect();
        let Some(pid) = std::str::from_utf8(&digits)
            .ok()
            .and_then(|d| d.parse().ok())
        else {
            continue;
        };
        let mut own = b"kong:mem:".to_vec();
        own.extend_from_slice(&digits);
        let kib = match dict.peek(&own) {
            Some(Stored::Number(n)) => Some(*n),
            _ => None,
        };
        reports.push((pid, kib));
    }
    reports.sort_by_key(|(pid, _)| *pid);
    reports
}

/// The unit of `get_memory_stats` (Kong's `bytes_to_str`).
#[derive(Clone, Copy)]
enum Unit {
    Bytes,
    Scaled(f64, &'static str, usize),
}

impl Unit {
    /// Kong's checks: `invalid unit 'V' (expected 'k/K', 'm/M', or
    /// 'g/G')`, `scale must be equal or greater than 0` (bytes take no
    /// scale).
    fn of<'gc>(ctx: Context<'gc>, unit: Value<'gc>, scale: Value<'gc>) -> Result<Unit, Error<'gc>> {
        let unit = match unit {
            Value::Nil => b"b".to_vec(),
            v => super::lower_arg(ctx, v)?,
        };
        let lower = unit.to_ascii_lowercase();
        if lower.is_empty() || lower == b"b" {
            return Ok(Unit::Bytes);
        }
        let scale = match scale {
            Value::Nil => 2.0,
            Value::Integer(n) => n as f64,
            Value::Number(f) => f,
            _ => f64::NAN,
        };
        if scale.is_nan() || scale < 0.0 {
            return Err(lua_error(ctx, "scale must be equal or greater than 0"));
        }
        // LuaJIT's `string.format` takes a precision of two digits at most.
        if scale >= 100.0 {
            return Err(lua_error(
                ctx,
                "invalid format (width or precision too long)",
            ));
        }
        let digits = scale as usize;
        match lower.as_slice() {
            b"k" => Ok(Unit::Scaled(1024.0, "KiB", digits)),
            b"m" => Ok(Unit::Scaled(1024.0 * 1024.0, "MiB", digits)),
            b"g" => Ok(Unit::Scaled(1024.0 * 1024.0 * 1024.0, "GiB", digits)),
            _ => Err(lua_error(
                ctx,
                &format!(
                    "invalid unit '{}' (expected 'k/K', 'm/M', or 'g/G')",
                    String::from_utf8_lossy(&unit)
                ),
            )),
        }
    }

    /// Kong's `convert_bytes`: a number of bytes (floored), or `"12.00
    /// KiB"`.
    fn value<'gc>(self, ctx: Context<'gc>, bytes: f64) -> Value<'gc> {
        match self {
            Unit::Bytes => Value::Integer(bytes.floor() as i64),
            Unit::Scaled(per, suffix, digits) => {
                let text = format!("{:.*} {suffix}", digits, bytes / per);
                Value::String(ctx.intern(text.as_bytes()))
            }
        }
    }
}

fn record<'gc>(ctx: Context<'gc>, fields: &[(&'static str, Value<'gc>)]) -> Table<'gc> {
    let t = ctx.new_table();
    for (k, v) in fields {
        super::set(ctx, t, k, *v);
    }
    t
}

/// Builds `kong.node`.
pub fn install<'gc>(ctx: Context<'gc>, kong: Table<'gc>) {
    let node = ctx.new_table();
    let id = id().to_string();
    super::set(
        ctx,
        node,
        "get_id",
        Callback::from_fn(&ctx, move |ctx, _, mut stack| {
            stack.replace(ctx, ctx.intern(id.as_bytes()));
            Ok(CallbackReturn::Return)
        }),
    );
    let name = hostname();
    super::set(
        ctx,
        node,
        "get_hostname",
        Callback::from_fn(&ctx, move |ctx, _, mut stack| {
            stack.replace(ctx, ctx.intern(name.as_bytes()));
            Ok(CallbackReturn::Return)
        }),
    );
    super::set(
        ctx,
        node,
        "get_memory_stats",
        Callback::from_fn(&ctx, |ctx, _, mut stack| {
            let unit = Unit::of(ctx, stack.get(0), stack.get(1))?;
            let workers = ctx.new_table();
            for (i, (pid, kib)) in worker_reports().into_iter().enumerate() {
                let report = match kib {
                    Some(kib) => ("http_allocated_gc", unit.value(ctx, kib * 1024.0)),
                    None => {
                        let err = format!(
                            "could not get worker's HTTP Lua VM memory (pid: {pid}): \
                             reported value is corrupted"
                        );
                        ("err", Value::String(ctx.intern(err.as_bytes())))
                    }
                };
                let w = record(ctx, &[("pid", Value::Integer(pid)), report]);
                let _ = workers.set(ctx, i as i64 + 1, w);
            }
            let dict = |(used, capacity): (usize, usize)| {
                Value::Table(record(
                    ctx,
                    &[
                        ("capacity", unit.value(ctx, capacity as f64)),
                        ("allocated_slabs", unit.value(ctx, used as f64)),
                    ],
                ))
            };
            let dicts = record(
                ctx,
                &[
                    ("kong", dict(shared::kong().usage())),
                    ("kong_db_cache", dict(super::cache::usage())),
                ],
            );
            let res = record(
                ctx,
                &[
                    ("workers_lua_vms", Value::Table(workers)),
                    ("lua_shared_dicts", Value::Table(dicts)),
                ],
            );
            stack.replace(ctx, res);
            Ok(CallbackReturn::Return)
        }),
    );
    super::set(ctx, kong, "node", node);
}
