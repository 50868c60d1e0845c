//! `kong.router`: the matched Route and Service, as tables shaped like
//! the Admin API's JSON.

use lua_stdlib::{Context, Table, Value};

use super::{add, only_in, Phases, RequestCell};

/// Kong's `ROUTER_PHASES`: the route is known from access on.
const ROUTER_PHASES: Phases = Phases::ACCESS
    .or(Phases::HEADER_FILTER)
    .or(Phases::RESPONSE)
    .or(Phases::BODY_FILTER)
    .or(Phases::LOG);

pub fn install<'gc>(ctx: Context<'gc>, kong: Table<'gc>, cell: &RequestCell) {
    let t = ctx.new_table();
    add(ctx, t, "get_route", cell, |ctx, _, stack, req| {
        only_in(ctx, req, ROUTER_PHASES)?;
        let v = req
            .route
            .as_ref()
            .and_then(|r| serde_json::to_value(&**r).ok());
        stack.replace(ctx, v.map_or(Value::Nil, |v| from_json(ctx, &v)));
        Ok(())
    });
    add(ctx, t, "get_service", cell, |ctx, _, stack, req| {
        only_in(ctx, req, ROUTER_PHASES)?;
        let v = req
            .service
            .as_ref()
            .and_then(|s| serde_json::to_value(&**s).ok());
        stack.replace(ctx, v.map_or(Value::Nil, |v| from_json(ctx, &v)));
        Ok(())
    });
    super::set(ctx, kong, "router", t);
}

/// JSON to Lua: objects and arrays become tables, null becomes nil.
pub(crate) fn from_json<'gc>(ctx: Context<'gc>, v: &serde_json::Value) -> Value<'gc> {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Number(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Value::String(ctx.intern(s.as_bytes())),
        serde_json::Value::Array(items) => {
            let t = ctx.new_table();
            for (i, item) in items.iter().enumerate() {
                let _ = t.set(ctx, i as i64 + 1, from_json(ctx, item));
            }
            Value::Table(t)
        }
        serde_json::Value::Object(m) => {
            let t = ctx.new_table();
            for (k, item) in m {
                let _ = t.set(ctx, ctx.intern(k.as_bytes()), from_json(ctx, item));
            }
            Value::Table(t)
        }
    }
}
