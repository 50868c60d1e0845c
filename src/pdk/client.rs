//! `kong.client`: who sent the request.

use lua_stdlib::{Context, Table};

use super::{add, only_in, Phases, RequestCell};

/// Kong's `AUTH_AND_LATER`: who the client is authenticated as is known
/// from access on (`get_protocol` and the consumer functions).
const AUTH_AND_LATER: Phases = Phases::ACCESS
    .or(Phases::HEADER_FILTER)
    .or(Phases::RESPONSE)
    .or(Phases::BODY_FILTER)
    .or(Phases::LOG);

pub fn install<'gc>(ctx: Context<'gc>, kong: Table<'gc>, cell: &RequestCell) {
    let t = ctx.new_table();
    for name in ["get_ip", "get_forwarded_ip"] {
        add(ctx, t, name, cell, |ctx, _, stack, req| {
            stack.replace(ctx, ctx.intern(req.client_addr.ip().to_string().as_bytes()));
            Ok(())
        });
    }
    for name in ["get_port", "get_forwarded_port"] {
        add(ctx, t, name, cell, |ctx, _, stack, req| {
            stack.replace(ctx, req.client_addr.port() as i64);
            Ok(())
        });
    }
    add(ctx, t, "get_protocol", cell, |ctx, _, stack, req| {
        only_in(ctx, req, AUTH_AND_LATER)?;
        stack.replace(ctx, ctx.intern(req.scheme.as_bytes()));
        Ok(())
    });
    super::set(ctx, kong, "client", t);
}
