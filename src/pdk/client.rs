//! `kong.client`: who sent the request.

use lua_stdlib::{Context, Table};

use super::{add, RequestCell};

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
        stack.replace(ctx, ctx.intern(req.scheme.as_bytes()));
        Ok(())
    });
    super::set(ctx, kong, "client", t);
}
