//! `kong.request`: the client's request, read-only (§2.2 of the Kong
//! reference), plus `kong.request.clear_header`, which Kong never had but
//! its own serverless-functions page uses: it clears the header on the way
//! upstream, like `kong.service.request.clear_header`.

use lua_next::{Context, Table, Value};

use super::{add, arg_string, header_name_arg, headers_table, lua_error, RequestCell};

pub fn install<'gc>(ctx: Context<'gc>, kong: Table<'gc>, cell: &RequestCell) {
    let t = ctx.new_table();
    add(ctx, t, "get_header", cell, |ctx, _, stack, req| {
        let name = header_name_arg(ctx, stack, 0)?;
        let v = req
            .request
            .headers
            .get(&name)
            .map(|v| Value::String(ctx.intern(v.as_bytes())));
        stack.replace(ctx, v.unwrap_or(Value::Nil));
        Ok(())
    });
    add(ctx, t, "get_headers", cell, |ctx, _, stack, req| {
        stack.replace(ctx, headers_table(ctx, &req.request.headers));
        Ok(())
    });
    add(ctx, t, "clear_header", cell, |ctx, _, stack, req| {
        let name = header_name_arg(ctx, stack, 0)?;
        req.request.headers.remove(&name);
        stack.clear();
        Ok(())
    });
    add(ctx, t, "get_method", cell, |ctx, _, stack, req| {
        stack.replace(ctx, ctx.intern(req.request.method.as_str().as_bytes()));
        Ok(())
    });
    add(ctx, t, "get_scheme", cell, |ctx, _, stack, req| {
        stack.replace(ctx, ctx.intern(req.scheme.as_bytes()));
        Ok(())
    });
    add(ctx, t, "get_host", cell, |ctx, _, stack, req| {
        stack.replace(ctx, ctx.intern(host(req).0.as_bytes()));
        Ok(())
    });
    add(ctx, t, "get_port", cell, |ctx, _, stack, req| {
        stack.replace(ctx, req.server_port as i64);
        Ok(())
    });
    add(
        ctx,
        t,
        "get_forwarded_scheme",
        cell,
        |ctx, _, stack, req| {
            stack.replace(ctx, ctx.intern(req.scheme.as_bytes()));
            Ok(())
        },
    );
    add(ctx, t, "get_forwarded_host", cell, |ctx, _, stack, req| {
        stack.replace(ctx, ctx.intern(host(req).0.as_bytes()));
        Ok(())
    });
    add(ctx, t, "get_forwarded_port", cell, |ctx, _, stack, req| {
        stack.replace(ctx, req.server_port as i64);
        Ok(())
    });
    add(ctx, t, "get_forwarded_path", cell, |ctx, _, stack, req| {
        stack.replace(ctx, ctx.intern(req.path.as_bytes()));
        Ok(())
    });
    add(ctx, t, "get_http_version", cell, |ctx, _, stack, req| {
        let v = match req.request.version {
            http::Version::HTTP_10 => Value::Number(1.0),
            http::Version::HTTP_11 => Value::Number(1.1),
            http::Version::HTTP_2 => Value::Number(2.0),
            _ => Value::Nil,
        };
        stack.replace(ctx, v);
        Ok(())
    });
    add(ctx, t, "get_path", cell, |ctx, _, stack, req| {
        stack.replace(ctx, ctx.intern(req.path.as_bytes()));
        Ok(())
    });
    add(ctx, t, "get_raw_path", cell, |ctx, _, stack, req| {
        stack.replace(ctx, ctx.intern(req.request.uri.path().as_bytes()));
        Ok(())
    });
    add(ctx, t, "get_path_with_query", cell, |ctx, _, stack, req| {
        let pq = req
            .request
            .uri
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/");
        stack.replace(ctx, ctx.intern(pq.as_bytes()));
        Ok(())
    });
    add(ctx, t, "get_raw_query", cell, |ctx, _, stack, req| {
        stack.replace(
            ctx,
            ctx.intern(req.request.uri.query().unwrap_or("").as_bytes()),
        );
        Ok(())
    });
    add(ctx, t, "get_query_arg", cell, |ctx, _, stack, req| {
        let name = arg_string(stack, 0)
            .ok_or_else(|| lua_error(ctx, "query argument name must be a string"))?;
        let v = query_pairs(req.request.uri.query())
            .find(|(k, _)| *k == name)
            .map(|(_, v)| match v {
                Some(v) => Value::String(ctx.intern(v.as_bytes())),
                None => Value::Boolean(true),
            });
        stack.replace(ctx, v.unwrap_or(Value::Nil));
        Ok(())
    });
    add(ctx, t, "get_query", cell, |ctx, _, stack, req| {
        stack.replace(ctx, query_table(ctx, req.request.uri.query()));
        Ok(())
    });
    add(ctx, t, "get_raw_body", cell, |ctx, _, stack, req| {
        let body = req.body.as_deref().unwrap_or_default();
        stack.replace(ctx, ctx.intern(body));
        Ok(())
    });
    add(ctx, t, "get_start_time", cell, |ctx, _, stack, req| {
        stack.replace(ctx, req.started_ms);
        Ok(())
    });
    add(ctx, t, "get_uri_captures", cell, |ctx, _, stack, req| {
        // Kong exposes ngx.re.match's table: index 0 is the whole match.
        let unnamed = ctx.new_table();
        let named = ctx.new_table();
        if let Some(c) = &req.captures {
            for (i, v) in c.unnamed.iter().enumerate() {
                if let Some(v) = v {
                    let _ = unnamed.set(ctx, i as i64, ctx.intern(v.as_bytes()));
                }
            }
            for (name, v) in &c.named {
                if let Some(v) = v {
                    let _ = named.set(ctx, ctx.intern(name.as_bytes()), ctx.intern(v.as_bytes()));
                }
            }
        }
        let captures = ctx.new_table();
        let _ = captures.set(ctx, "unnamed", unnamed);
        let _ = captures.set(ctx, "named", named);
        stack.replace(ctx, captures);
        Ok(())
    });
    super::set(ctx, kong, "request", t);
}

/// The request host without the port, lowercased, and the port if given.
pub(crate) fn host(req: &super::RequestContext) -> (String, Option<u16>) {
    let raw = req
        .request
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.request.uri.host())
        .unwrap_or("");
    let (name, port) = match raw.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || raw.starts_with('[') => (h, p.parse().ok()),
        _ => (raw, None),
    };
    (name.to_ascii_lowercase(), port)
}

/// Query pairs, decoded; a key without `=` has no value (a flag).
pub(crate) fn query_pairs(
    query: Option<&str>,
) -> impl Iterator<Item = (String, Option<String>)> + '_ {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let decode = |s: &str| {
                let plus = s.replace('+', " ");
                percent_encoding::percent_decode_str(&plus)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            match pair.split_once('=') {
                Some((k, v)) => (decode(k), Some(decode(v))),
                None => (decode(pair), None),
            }
        })
}

/// `get_query`/`ngx.req.get_uri_args`: repeated keys become arrays, flags `true`.
pub(crate) fn query_table<'gc>(ctx: Context<'gc>, query: Option<&str>) -> Table<'gc> {
    let t = ctx.new_table();
    for (k, v) in query_pairs(query).take(100) {
        let key = ctx.intern(k.as_bytes());
        let value = match v {
            Some(v) => Value::String(ctx.intern(v.as_bytes())),
            None => Value::Boolean(true),
        };
        match t.raw_get(Value::String(key)) {
            Value::Nil => {
                let _ = t.set(ctx, key, value);
            }
            Value::Table(list) => {
                let _ = list.set(ctx, list.length() + 1, value);
            }
            first => {
                let list = ctx.new_table();
                let _ = list.set(ctx, 1, first);
                let _ = list.set(ctx, 2, value);
                let _ = t.set(ctx, key, list);
            }
        }
    }
    t
}
