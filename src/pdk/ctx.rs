//! `kong.ctx.shared` (one table per request, shared by all plugins) and
//! `kong.ctx.plugin` (one per request and plugin). The phase runner swaps
//! fresh tables in: `new_request_tables` at the start of a request, and
//! the plugin's own table before each of its functions.

use piccolo::{Context, Table};

pub fn install<'gc>(ctx: Context<'gc>, kong: Table<'gc>) {
    let t = Table::new(&ctx);
    let _ = t.set(ctx, "shared", Table::new(&ctx));
    let _ = t.set(ctx, "plugin", Table::new(&ctx));
    super::set(ctx, kong, "ctx", t);
}

/// Gives `kong.ctx.shared` (and `ngx.ctx`, the same table) a fresh table.
pub fn new_request_tables<'gc>(ctx: Context<'gc>, env: Table<'gc>) -> Table<'gc> {
    let shared = Table::new(&ctx);
    if let piccolo::Value::Table(kong) = env.get(ctx, "kong") {
        if let piccolo::Value::Table(kctx) = kong.get(ctx, "ctx") {
            let _ = kctx.set(ctx, "shared", shared);
        }
    }
    if let piccolo::Value::Table(ngx) = env.get(ctx, "ngx") {
        let _ = ngx.set(ctx, "ctx", shared);
    }
    shared
}
