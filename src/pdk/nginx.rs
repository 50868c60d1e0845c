//! `kong.nginx` (Kong's `kong/pdk/nginx.lua`), callable in any phase.
//!
//! - `get_subsystem()`: `"http"` (lunagate has no stream subsystem).
//! - `get_statistics()`: nginx's `stub_status` counters, from the proxy's
//!   own counts (`proxy::stats`), summed over the workers:
//!   `connections_accepted` (client connections accepted),
//!   `connections_handled` (of those, the ones served: not refused at the
//!   open-files limit), `connections_active` (open client connections),
//!   `connections_writing` (requests being processed: from their head to
//!   the end of their response, as nginx counts them), `total_requests`.
//!   `connections_reading` is 0: the servers (ours for HTTP/1, hyper's for
//!   HTTP/2) do not count heads being read yet, so a connection reading a head counts
//!   as `connections_waiting` (active connections with no request being
//!   processed; an HTTP/2 connection with several streams counts once).

use lua_stdlib::{Callback, CallbackReturn, Context, Table, Value};

use crate::proxy::stats;

pub fn install<'gc>(ctx: Context<'gc>, kong: Table<'gc>) {
    let nginx = ctx.new_table();
    super::set(
        ctx,
        nginx,
        "get_subsystem",
        Callback::from_fn(&ctx, |ctx, _, mut stack| {
            stack.replace(ctx, "http");
            Ok(CallbackReturn::Return)
        }),
    );
    super::set(
        ctx,
        nginx,
        "get_statistics",
        Callback::from_fn(&ctx, |ctx, _, mut stack| {
            let s = stats::snapshot();
            let n = |v: u64| Value::Integer(v.min(i64::MAX as u64) as i64);
            let t = ctx.new_table();
            for (name, v) in [
                ("connections_active", s.active),
                ("connections_reading", 0),
                ("connections_writing", s.writing),
                ("connections_waiting", s.active.saturating_sub(s.writing)),
                ("connections_accepted", s.accepted),
                ("connections_handled", s.handled),
                ("total_requests", s.requests),
            ] {
                super::set(ctx, t, name, n(v));
            }
            stack.replace(ctx, t);
            Ok(CallbackReturn::Return)
        }),
    );
    super::set(ctx, kong, "nginx", nginx);
}
