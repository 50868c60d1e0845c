//! `kong.service` and `kong.service.request`: what goes upstream (§2.4 of
//! the Kong reference). Header changes edit the request headers the proxy
//! forwards; path, query and body changes replace what the router computed.

use lua_stdlib::{Context, Table, Value};

use super::{
    add, arg_bytes, arg_string, header_name_arg, header_values_arg, lua_error, only_in,
    request_line_arg, request_line_safe, Phase, RequestCell,
};

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
    // `Host` is the upstream's Host (Kong sets `ngx.var.upstream_host`),
    // not the client's, which stays what the PDK and X-Forwarded-Host see.
    add(ctx, t, "set_header", cell, |ctx, _, stack, req| {
        only_in(ctx, req, PHASES)?;
        let name = header_name_arg(ctx, stack, 0)?;
        let values = match stack.get(1) {
            Value::Nil => Vec::new(),
            v => header_values_arg(ctx, v)?,
        };
        if name == http::header::HOST {
            let value = values
                .into_iter()
                .next()
                .ok_or_else(|| lua_error(ctx, "invalid header value for \"Host\": got nil"))?;
            if !request_line_safe(value.as_bytes()) || value.is_empty() {
                return Err(lua_error(ctx, "invalid Host header value"));
            }
            req.upstream_host = Some(value);
        } else {
            req.request.headers.remove(&name);
            for v in values {
                req.request.headers.append(name.clone(), v);
            }
        }
        stack.clear();
        Ok(())
    });
    super::set(ctx, service, "request", t);
    super::set(ctx, service, "response", service_response(ctx, cell));
    super::set(ctx, kong, "service", service);
}

const RESPONSE_PHASES: &[Phase] = &[Phase::HeaderFilter, Phase::BodyFilter, Phase::Log];

/// `kong.service.response`: the service's response as it arrived, before
/// functions changed it; nothing when the response did not come from the
/// service (an exit, an error).
fn service_response<'gc>(ctx: Context<'gc>, cell: &RequestCell) -> Table<'gc> {
    let t = ctx.new_table();
    add(ctx, t, "get_status", cell, |ctx, _, stack, req| {
        only_in(ctx, req, RESPONSE_PHASES)?;
        let v = req
            .service_status
            .map_or(Value::Nil, |s| Value::Integer(i64::from(s)));
        stack.replace(ctx, v);
        Ok(())
    });
    add(ctx, t, "get_headers", cell, |ctx, _, stack, req| {
        only_in(ctx, req, RESPONSE_PHASES)?;
        let max = max_headers_arg(ctx, stack.get(0))?;
        let empty = http::HeaderMap::new();
        let headers = req.service_headers.as_ref().unwrap_or(&empty);
        let mut limited = http::HeaderMap::new();
        for (name, value) in headers.iter().take(max) {
            limited.append(name.clone(), value.clone());
        }
        stack.replace(ctx, super::headers_table(ctx, &limited));
        Ok(())
    });
    add(ctx, t, "get_header", cell, |ctx, _, stack, req| {
        only_in(ctx, req, RESPONSE_PHASES)?;
        let Value::String(_) = stack.get(0) else {
            return Err(lua_error(ctx, "name must be a string"));
        };
        let name = header_name_arg(ctx, stack, 0)?;
        let v = req
            .service_headers
            .as_ref()
            .and_then(|h| h.get(&name))
            .map_or(Value::Nil, |v| Value::String(ctx.intern(v.as_bytes())));
        stack.replace(ctx, v);
        Ok(())
    });
    for name in ["get_raw_body", "get_body"] {
        add(ctx, t, name, cell, |ctx, _, _, req| {
            only_in(ctx, req, RESPONSE_PHASES)?;
            Err(lua_error(
                ctx,
                "service body is only available with buffered proxying \
                 (see: kong.service.request.enable_buffering function)",
            ))
        });
    }
    t
}

/// Kong's `max_headers` argument: 1..=1000, 100 when absent.
fn max_headers_arg<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> Result<usize, lua_stdlib::Error<'gc>> {
    let n = match v {
        Value::Nil => return Ok(100),
        Value::Integer(n) => n as f64,
        Value::Number(n) => n,
        _ => return Err(lua_error(ctx, "max_headers must be a number")),
    };
    if n < 1.0 {
        Err(lua_error(ctx, "max_headers must be >= 1"))
    } else if n > 1000.0 {
        Err(lua_error(ctx, "max_headers must be <= 1000"))
    } else {
        Ok(n as usize)
    }
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
