//! `kong.service` and `kong.service.request`: what goes upstream (§2.4 of
//! the Kong reference). Header changes edit the request headers the proxy
//! forwards; path, query and body changes replace what the router computed.

use lua_stdlib::{Context, Table, Value};

use super::{add, arg_bytes, arg_string, lua_error, only_in, request_line_arg, Phase, RequestCell};

const PHASES: &[Phase] = &[Phase::Rewrite, Phase::Access];

pub fn install<'gc>(ctx: Context<'gc>, kong: Table<'gc>, cell: &RequestCell) {
    let service = ctx.new_table();
    let t = ctx.new_table();
    add(ctx, t, "set_path", cell, |ctx, _, stack, req| {
        only_in(ctx, req, PHASES)?;
        let path = arg_string(stack, 0).filter(|p| p.starts_with('/'));
        let path = path.ok_or_else(|| lua_error(ctx, "path must start with /"))?;
        req.upstream_path = Some(path);
        stack.clear();
        Ok(())
    });
    add(ctx, t, "set_raw_query", cell, |ctx, _, stack, req| {
        only_in(ctx, req, PHASES)?;
        let q = arg_string(stack, 0).ok_or_else(|| lua_error(ctx, "query must be a string"))?;
        req.upstream_query = Some(request_line_arg(ctx, "query", q)?);
        stack.clear();
        Ok(())
    });
    add(ctx, t, "set_query", cell, |ctx, _, stack, req| {
        only_in(ctx, req, PHASES)?;
        let Value::Table(args) = stack.get(0) else {
            return Err(lua_error(ctx, "args must be a table"));
        };
        req.upstream_query = Some(encode_args(ctx, args));
        stack.clear();
        Ok(())
    });
    add(ctx, t, "set_method", cell, |ctx, _, stack, req| {
        only_in(ctx, req, PHASES)?;
        let m = arg_string(stack, 0).ok_or_else(|| lua_error(ctx, "method must be a string"))?;
        req.request.method = http::Method::from_bytes(m.as_bytes())
            .map_err(|_| lua_error(ctx, &format!("invalid method: {}", m.escape_debug())))?;
        stack.clear();
        Ok(())
    });
    add(ctx, t, "set_raw_body", cell, |ctx, _, stack, req| {
        only_in(ctx, req, PHASES)?;
        let body = arg_bytes(stack, 0).ok_or_else(|| lua_error(ctx, "body must be a string"))?;
        req.upstream_body = Some(body.into());
        stack.clear();
        Ok(())
    });
    super::add_header_functions(ctx, t, cell, PHASES, |req| &mut req.request.headers);
    super::set(ctx, service, "request", t);
    super::set(ctx, kong, "service", service);
}

/// `ngx.encode_args`: keys sorted, values URL-encoded, `true` as a flag,
/// arrays repeated.
pub(crate) fn encode_args<'gc>(ctx: Context<'gc>, args: Table<'gc>) -> String {
    let mut pairs: Vec<(String, Value<'gc>)> = super::entries(args)
        .into_iter()
        .filter_map(|(k, v)| match k {
            Value::String(s) => Some((String::from_utf8_lossy(s.as_bytes()).into_owned(), v)),
            Value::Integer(n) => Some((n.to_string(), v)),
            _ => None,
        })
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let escape = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let mut out = Vec::new();
    for (k, v) in pairs {
        let mut one = |v: Value<'gc>| match v {
            Value::Boolean(true) => out.push(escape(&k)),
            Value::Boolean(false) | Value::Nil => {}
            Value::String(s) => out.push(format!(
                "{}={}",
                escape(&k),
                escape(&String::from_utf8_lossy(s.as_bytes()))
            )),
            Value::Integer(n) => out.push(format!("{}={n}", escape(&k))),
            Value::Number(f) => out.push(format!("{}={}", escape(&k), super::lua_number(f))),
            _ => {}
        };
        match v {
            Value::Table(list) => {
                for i in 1..=list.length() {
                    one(list.get(ctx, i));
                }
            }
            other => one(other),
        }
    }
    out.join("&")
}
