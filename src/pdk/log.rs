//! `kong.log`: `kong.log(...)` and `kong.log.err(...)` etc. write to the
//! gateway's log, prefixed with the plugin name as Kong does. The global
//! `print` writes there too, at `notice`, as OpenResty's does (nginx has
//! no standard output for it: it goes to the error log).

use lua_stdlib::{Callback, CallbackReturn, Context, Table, Value};

use super::RequestCell;

/// Joins log arguments as Kong does (tostring of each, no separator).
pub(crate) fn join_args(stack: &lua_stdlib::Stack<'_, '_>) -> String {
    let mut out = String::new();
    for i in 0..stack.len() {
        match stack.get(i) {
            Value::String(s) => out.push_str(&String::from_utf8_lossy(s.as_bytes())),
            Value::Integer(n) => out.push_str(&n.to_string()),
            Value::Number(f) => out.push_str(&super::lua_number(f)),
            Value::Boolean(b) => out.push_str(if b { "true" } else { "false" }),
            Value::Nil => out.push_str("nil"),
            other => out.push_str(other.type_name()),
        }
    }
    out
}

/// How a log function is reached.
#[derive(Clone, Copy, PartialEq)]
enum Via {
    /// `kong.log.err(...)`, `print(...)`.
    Field,
    /// `kong.log(...)`: `__call` passes the table itself first.
    Call,
}

fn make<'gc>(
    ctx: Context<'gc>,
    cell: &RequestCell,
    level: &'static str,
    via: Via,
) -> Callback<'gc> {
    let cell = cell.clone();
    Callback::from_fn(&ctx, move |_, exec, mut stack| {
        if via == Via::Call && matches!(stack.get(0), Value::Table(_)) {
            stack.pop_front();
        }
        let msg = join_args(&stack);
        let plugin = cell.borrow().as_ref().map(|r| r.plugin_name).unwrap_or("");
        let place = exec
            .upper_lua_frame()
            .map(|f| {
                format!(
                    "{}:{}",
                    String::from_utf8_lossy(f.chunk_name.as_bytes()),
                    f.current_line
                )
            })
            .unwrap_or_default();
        emit(level, plugin, &place, &msg);
        stack.clear();
        Ok(CallbackReturn::Return)
    })
}

pub(crate) fn emit(level: &str, plugin: &str, place: &str, msg: &str) {
    let prefix = if plugin.is_empty() {
        String::new()
    } else {
        format!("[{plugin}] ")
    };
    match level {
        "debug" => tracing::debug!(target: "lunagate::lua", "{place} {prefix}{msg}"),
        "info" | "notice" => tracing::info!(target: "lunagate::lua", "{place} {prefix}{msg}"),
        "warn" => tracing::warn!(target: "lunagate::lua", "{place} {prefix}{msg}"),
        _ => tracing::error!(target: "lunagate::lua", "{place} {prefix}{msg}"),
    }
}

pub fn install<'gc>(ctx: Context<'gc>, env: Table<'gc>, kong: Table<'gc>, cell: &RequestCell) {
    let t = ctx.new_table();
    for level in ["alert", "crit", "err", "warn", "notice", "info", "debug"] {
        let _ = t.set(ctx, level, make(ctx, cell, level, Via::Field));
    }
    let _ = t.set(ctx, "inspect", make(ctx, cell, "notice", Via::Field));
    let mt = ctx.new_table();
    let _ = mt.set(ctx, "__call", make(ctx, cell, "notice", Via::Call));
    let _ = t.set_metatable(&ctx, Some(mt));
    super::set(ctx, kong, "log", t);
    super::set(ctx, env, "print", make(ctx, cell, "notice", Via::Field));
}
