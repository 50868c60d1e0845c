//! `kong.ip`: `is_trusted(address)`, whether an address is in the node's
//! `trusted_ips` (`crate::trust`). Kong checks no phase for it, nor does
//! it need a request: it is callable anywhere.

use lua_stdlib::{Callback, CallbackReturn, Context, Table, Value};

pub fn install<'gc>(ctx: Context<'gc>, kong: Table<'gc>) {
    let t = ctx.new_table();
    super::set(
        ctx,
        t,
        "is_trusted",
        Callback::from_fn(&ctx, |ctx, _, mut stack| {
            // An address as text; anything else is not one.
            let trusted = match stack.get(0) {
                Value::String(s) => crate::trust::node().is_trusted_text(s.as_bytes()),
                _ => false,
            };
            stack.replace(ctx, trusted);
            Ok(CallbackReturn::Return)
        }),
    );
    super::set(ctx, kong, "ip", t);
}
