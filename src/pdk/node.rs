//! `kong.node` (Kong's `kong/pdk/node.lua`): the node's id, its host
//! name and its memory.
//!
//! - `get_id()`: one v4 UUID per node (process), made on first use; the
//!   Admin API's `/` shows the same `node_id`.
//! - `get_hostname()`: the machine's name, as `gethostname` gives it
//!   (`uname`'s nodename, without C).
//! - `get_memory_stats([unit [, scale]])`: Kong's shape and argument
//!   checks. `workers_lua_vms` lists each proxy worker whose Lua VM has
//!   run, by `pid` (the worker's `ngx.worker.pid()`), ascending, with
//!   `http_allocated_gc`: the bytes its VM uses, as `collectgarbage
//!   "count"` and the memory budget count them. A worker reports when a
//!   phase of functions ends (Kong's workers report on a timer); the
//!   calling worker's value is read live. `lua_shared_dicts` holds the one
//!   node-level store lunagate has: `kong_db_cache`, the `kong.cache` of
//!   every worker (`capacity`: `mem_cache_size`; `allocated_slabs`: what
//!   its entries take by its own count). Kong's `kong` dict (node id,
//!   worker reports) has no counterpart, so it is not listed.

use std::cell::OnceCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use lua_stdlib::{Callback, CallbackReturn, Context, Error, Table, Value};

use super::lua_error;

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

/// One worker's Lua VM, as it last reported.
struct VmReport {
    pid: i64,
    bytes: AtomicU64,
}

static VMS: Mutex<Vec<Arc<VmReport>>> = Mutex::new(Vec::new());

thread_local! {
    static MINE: OnceCell<Arc<VmReport>> = const { OnceCell::new() };
}

/// Records the bytes this worker's Lua VM uses (registering the worker on
/// its first report).
pub fn report_lua_memory(bytes: usize) {
    MINE.with(|mine| {
        let report = mine.get_or_init(|| {
            let report = Arc::new(VmReport {
                pid: super::worker::pid(),
                bytes: AtomicU64::new(0),
            });
            VMS.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(report.clone());
            report
        });
        report.bytes.store(bytes as u64, Ordering::Relaxed);
    });
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

    /// Kong's `convert_bytes`: a number of bytes, or `"12.00 KiB"`.
    fn value<'gc>(self, ctx: Context<'gc>, bytes: u64) -> Value<'gc> {
        match self {
            Unit::Bytes => Value::Integer(bytes as i64),
            Unit::Scaled(per, suffix, digits) => {
                let text = format!("{:.*} {suffix}", digits, bytes as f64 / per);
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
            report_lua_memory(ctx.memory());
            let mut vms: Vec<(i64, u64)> = VMS
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|r| (r.pid, r.bytes.load(Ordering::Relaxed)))
                .collect();
            vms.sort_unstable();
            let workers = ctx.new_table();
            for (i, (pid, bytes)) in vms.into_iter().enumerate() {
                let w = record(
                    ctx,
                    &[
                        ("pid", Value::Integer(pid)),
                        ("http_allocated_gc", unit.value(ctx, bytes)),
                    ],
                );
                let _ = workers.set(ctx, i as i64 + 1, w);
            }
            let (used, capacity) = super::cache::usage();
            let dict = record(
                ctx,
                &[
                    ("capacity", unit.value(ctx, capacity as u64)),
                    ("allocated_slabs", unit.value(ctx, used as u64)),
                ],
            );
            let dicts = record(ctx, &[("kong_db_cache", Value::Table(dict))]);
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
