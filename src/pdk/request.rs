//! `kong.request`: the client's request, read-only (§2.2 of the Kong
//! reference), plus `kong.request.clear_header`, which Kong never had but
//! its own serverless-functions page uses: it clears the header on the way
//! upstream, like `kong.service.request.clear_header`.

use http::{HeaderName, HeaderValue};
use lua_stdlib::{Context, Error, Stack, Table, Value};

use crate::proxy::headers::{
    X_FORWARDED_HOST, X_FORWARDED_PATH, X_FORWARDED_PORT, X_FORWARDED_PREFIX, X_FORWARDED_PROTO,
};

use super::body::{form_fields, multipart_boundary, multipart_fields};
use super::configuration::client_body_buffer_size;
use super::glue::{self, Glue};
use super::{
    add, arg_string, checks, lua_error, name_arg, only_in, Phases, RequestCell, RequestContext,
};

/// Where the body can be read (Kong's `before_content`).
const BODY_PHASES: Phases = Phases::REWRITE
    .or(Phases::ACCESS)
    .or(Phases::RESPONSE)
    .or(Phases::ERROR)
    .or(Phases::ADMIN_API);

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";
const MULTIPART: &str = "multipart/form-data";

/// `ngx.req.get_post_args`' default and Kong's bounds for `max_args`.
const DEFAULT_POST_ARGS: usize = 100;
const MAX_POST_ARGS: i64 = 1000;
/// `ngx.req.get_uri_args`' default.
const DEFAULT_QUERY_ARGS: usize = 100;

pub fn install<'gc>(ctx: Context<'gc>, globals: Table<'gc>, kong: Table<'gc>, cell: &RequestCell) {
    let t = ctx.new_table();
    add(ctx, t, "get_header", cell, |ctx, _, stack, req| {
        let v = name_arg(ctx, stack, 0)?
            .get(&req.request.headers)?
            .map_or(Value::Nil, |v| Value::String(ctx.intern(v.as_bytes())));
        stack.replace(ctx, v);
        Ok(())
    });
    // The first `max_headers` header lines (100 by default), and
    // "truncated" when there were more, as `ngx.req.get_headers`.
    add(ctx, t, "get_headers", cell, |ctx, _, stack, req| {
        let max = checks::max_headers(ctx, stack.get(0))?;
        let (table, truncated) = super::headers_table_limited(ctx, &req.request.headers, max);
        if truncated {
            stack.replace(ctx, (table, "truncated"));
        } else {
            stack.replace(ctx, table);
        }
        Ok(())
    });
    add(ctx, t, "clear_header", cell, |ctx, _, stack, req| {
        name_arg(ctx, stack, 0)?.remove(&mut req.request.headers)?;
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
    // The forwarded getters believe the client's `X-Forwarded-*` (first
    // line) only from a trusted peer (`crate::trust`), as Kong's.
    add(
        ctx,
        t,
        "get_forwarded_scheme",
        cell,
        |ctx, _, stack, req| {
            let scheme = match forwarded(req, &X_FORWARDED_PROTO) {
                Some(v) => ctx.intern(&v.to_ascii_lowercase()),
                None => ctx.intern(req.scheme.as_bytes()),
            };
            stack.replace(ctx, scheme);
            Ok(())
        },
    );
    add(ctx, t, "get_forwarded_host", cell, |ctx, _, stack, req| {
        let host = match forwarded(req, &X_FORWARDED_HOST) {
            Some(v) => {
                let (name, _) = split_forwarded_host(v);
                ctx.intern(&name.to_ascii_lowercase())
            }
            None => ctx.intern(host(req).0.as_bytes()),
        };
        stack.replace(ctx, host);
        Ok(())
    });
    add(ctx, t, "get_forwarded_port", cell, |ctx, _, stack, req| {
        let port = forwarded(req, &X_FORWARDED_PORT)
            .and_then(port_number)
            .or_else(|| {
                forwarded(req, &X_FORWARDED_HOST)
                    .and_then(|v| split_forwarded_host(v).1)
                    .and_then(port_number)
            })
            .unwrap_or(lua_stdlib::Number::Int(req.host_port as i64));
        stack.replace(ctx, port);
        Ok(())
    });
    add(ctx, t, "get_forwarded_path", cell, |ctx, _, stack, req| {
        let path = match forwarded(req, &X_FORWARDED_PATH) {
            Some(v) => ctx.intern(v),
            None => ctx.intern(req.path().as_bytes()),
        };
        stack.replace(ctx, path);
        Ok(())
    });
    // A trusted `X-Forwarded-Prefix`, else the prefix `strip_path` takes
    // off (what goes upstream as `X-Forwarded-Prefix`), else nil.
    add(
        ctx,
        t,
        "get_forwarded_prefix",
        cell,
        |ctx, _, stack, req| {
            let prefix = match forwarded(req, &X_FORWARDED_PREFIX) {
                Some(v) => Value::String(ctx.intern(v)),
                None => req
                    .stripped_prefix()
                    .filter(|p| !p.is_empty() && *p != "/")
                    .map_or(Value::Nil, |p| Value::String(ctx.intern(p.as_bytes()))),
            };
            stack.replace(ctx, prefix);
            Ok(())
        },
    );
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
        stack.replace(ctx, ctx.intern(req.path().as_bytes()));
        Ok(())
    });
    add(ctx, t, "get_raw_path", cell, |ctx, _, stack, req| {
        stack.replace(ctx, ctx.intern(req.request.uri.path().as_bytes()));
        Ok(())
    });
    add(ctx, t, "get_path_with_query", cell, |ctx, _, stack, req| {
        let pq = match req.request.uri.path_and_query() {
            _ if req.no_target => "",
            Some(pq) => pq.as_str(),
            None => "/",
        };
        stack.replace(ctx, ctx.intern(pq.as_bytes()));
        Ok(())
    });
    // The query as `ngx.req.set_uri_args` (and the service request's
    // query setters, which call it in Kong) left it: nginx's `$args`.
    add(ctx, t, "get_raw_query", cell, |ctx, _, stack, req| {
        stack.replace(ctx, ctx.intern(current_query(req).unwrap_or("").as_bytes()));
        Ok(())
    });
    // `get_query()[name]`: among the first 100 arguments.
    add(ctx, t, "get_query_arg", cell, |ctx, _, stack, req| {
        let name = arg_string(stack, 0)
            .ok_or_else(|| lua_error(ctx, "query argument name must be a string"))?;
        let v = query_pairs(current_query(req))
            .take(DEFAULT_QUERY_ARGS)
            .find(|(k, _)| *k == name)
            .map(|(_, v)| match v {
                Some(v) => Value::String(ctx.intern(v.as_bytes())),
                None => Value::Boolean(true),
            });
        stack.replace(ctx, v.unwrap_or(Value::Nil));
        Ok(())
    });
    add(ctx, t, "get_query", cell, |ctx, _, stack, req| {
        let max = checks::max_args(ctx, stack.get(0))?;
        let (table, truncated) = query_table_limited(ctx, current_query(req), max);
        if truncated {
            stack.replace(ctx, (table, "truncated"));
        } else {
            stack.replace(ctx, table);
        }
        Ok(())
    });
    add(ctx, t, "get_raw_body", cell, |ctx, _, stack, req| {
        only_in(ctx, req, BODY_PHASES)?;
        match raw_body(req, stack.get(0)) {
            Ok(body) => stack.replace(ctx, ctx.intern(body)),
            Err(e) => stack.replace(ctx, (Value::Nil, ctx.intern(e.as_bytes()))),
        }
        Ok(())
    });
    install_get_body(ctx, globals, t, cell);
    // Kong's: `ngx.ctx.KONG_PROCESSING_START or (ngx.req.start_time() * 1000)`.
    add(ctx, t, "get_start_time", cell, |ctx, _, stack, req| {
        let set = req
            .lua_tables
            .ngx_ctx(ctx)
            .get(ctx, "KONG_PROCESSING_START");
        match set {
            Value::Nil | Value::Boolean(false) => stack.replace(ctx, start_time(req) * 1000.0),
            v => stack.replace(ctx, v),
        }
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
        // Kong marks it an array for cjson (`cjson.array_mt`).
        if let Value::Table(mt) = lua_stdlib::ext::cjson::array_mt(ctx) {
            let _ = unnamed.set_metatable(&ctx, Some(mt));
        }
        let captures = ctx.new_table();
        let _ = captures.set(ctx, "unnamed", unnamed);
        let _ = captures.set(ctx, "named", named);
        stack.replace(ctx, captures);
        Ok(())
    });
    super::set(ctx, kong, "request", t);
}

/// `kong.request.get_raw_body(max_allowed_file_size)`: the body, or
/// Kong's error for one nginx would have spooled to a file (larger than
/// `client_body_buffer_size`), unless the caller allows that size.
fn raw_body<'a>(req: &'a RequestContext, max_file: Value<'_>) -> Result<&'a [u8], String> {
    let body = req.body.as_deref().unwrap_or_default();
    if body.len() <= client_body_buffer_size() {
        return Ok(body);
    }
    let max = match max_file {
        Value::Integer(n) => Some(n as f64),
        Value::Number(f) => Some(f),
        _ => None,
    };
    match max {
        Some(m) if m >= 0.0 => {
            if m > 0.0 && body.len() as f64 > m {
                Err(format!(
                    "request body file too big: {} > {}",
                    body.len(),
                    m as i64
                ))
            } else {
                Ok(body)
            }
        }
        _ => Err("request body did not fit into client body buffer, \
                  consider raising 'client_body_buffer_size'"
            .into()),
    }
}

/// `kong.request.get_body(mimetype, max_args, max_allowed_file_size)`:
/// Kong's function, with the JSON decode left to the VM's cjson (the
/// glue below) so a body decodes as `cjson.decode` decodes it.
static GET_BODY: Glue = Glue::new(
    "=kong.request.get_body",
    r#"local what, a, b, c = prepare(...)
if what == "json" then
  cjson.decode_array_with_array_mt(true)
  local value = cjson.decode(a)
  if type(value) ~= "table" then
    return nil, "invalid json body", b
  end
  return value, nil, b
elseif what == "error" then
  error(a, 2)
end
return a, b, c
"#,
);

fn install_get_body<'gc>(
    ctx: Context<'gc>,
    globals: Table<'gc>,
    request: Table<'gc>,
    cell: &RequestCell,
) {
    install_body_decoder(ctx, globals, request, cell, |ctx, stack, req| {
        only_in(ctx, req, BODY_PHASES)?;
        let body = req.body.as_deref().unwrap_or_default();
        let source = BodySource {
            content_type: req.request.headers.get(http::header::CONTENT_TYPE),
            form: if body.len() > client_body_buffer_size() {
                Err("request body in temp file not supported".into())
            } else {
                Ok(body)
            },
            raw: raw_body(req, stack.get(2)),
        };
        prepare_body(ctx, stack, source)
    });
}

/// Sets `get_body` in `module`: Kong's body decoding, over what
/// `prepare` finds (`kong.request`'s body or the service's).
pub(super) fn install_body_decoder<'gc>(
    ctx: Context<'gc>,
    globals: Table<'gc>,
    module: Table<'gc>,
    cell: &RequestCell,
    prepare: BodyPreparer,
) {
    let env = glue::private_env(ctx, globals);
    let _ = env.set(ctx, "cjson", lua_stdlib::ext::cjson::load_cjson_safe(ctx));
    super::add_with(
        ctx,
        env,
        "prepare",
        cell,
        prepare,
        |prepare, ctx, _, stack, req| prepare(ctx, stack, req),
    );
    let _ = module.set(ctx, "get_body", GET_BODY.load(ctx, env));
}

/// Finds the body `get_body` decodes (see [`prepare_body`]).
pub(super) type BodyPreparer =
    for<'a> fn(Context<'a>, &mut Stack<'a, '_>, &mut RequestContext) -> Result<(), Error<'a>>;

/// A body to decode: its `Content-Type` (unless the caller names one),
/// and the body a form decodes and the one JSON and multipart decode, or
/// why it cannot be read.
pub(super) struct BodySource<'a> {
    pub content_type: Option<&'a http::HeaderValue>,
    pub form: Result<&'a [u8], String>,
    pub raw: Result<&'a [u8], String>,
}

/// What the `get_body` glue does next: `"done", body, err, mime`,
/// `"json", raw, mime` or `"error", message` (raised at the caller).
/// The arguments are Kong's `get_body(mimetype, max_args, …)`.
pub(super) fn prepare_body<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    source: BodySource<'_>,
) -> Result<(), Error<'gc>> {
    let (mimetype, max_args) = (stack.get(0), stack.get(1));
    let content_type: Vec<u8> = match mimetype {
        Value::Nil | Value::Boolean(false) => match source.content_type {
            Some(v) => v.as_bytes().to_vec(),
            None => {
                stack.replace(ctx, ("done", Value::Nil, "missing content type"));
                return Ok(());
            }
        },
        v => super::lower_arg(ctx, v)?,
    };
    let mut lower = content_type.to_ascii_lowercase();
    if let Some(semi) = lower.iter().position(|&b| b == b';') {
        lower.truncate(semi);
    }
    let done = |stack: &mut Stack<'gc, '_>, body: Value<'gc>, err: Option<String>, mime: &str| {
        let err = err.map_or(Value::Nil, |e| ctx.intern(e.as_bytes()).into());
        stack.replace(ctx, ("done", body, err, ctx.intern(mime.as_bytes())));
    };
    if lower.starts_with(FORM.as_bytes()) {
        let max = match max_args {
            Value::Nil => DEFAULT_POST_ARGS,
            Value::Integer(_) | Value::Number(_) => {
                let n = match max_args {
                    Value::Integer(n) => n as f64,
                    Value::Number(f) => f,
                    _ => 0.0,
                };
                if n < 1.0 {
                    stack.replace(ctx, ("error", "max_args must be >= 1"));
                    return Ok(());
                }
                if n > MAX_POST_ARGS as f64 {
                    stack.replace(
                        ctx,
                        ("error", format!("max_args must be <= {MAX_POST_ARGS}")),
                    );
                    return Ok(());
                }
                n as usize
            }
            _ => {
                stack.replace(ctx, ("error", "max_args must be a number"));
                return Ok(());
            }
        };
        let body = match source.form {
            Ok(body) => body,
            Err(e) => {
                done(stack, Value::Nil, Some(e), FORM);
                return Ok(());
            }
        };
        let fields = form_fields(body, max).into_iter().map(|(k, v)| {
            let v = match v {
                Some(v) => Value::String(ctx.intern(&v)),
                None => Value::Boolean(true),
            };
            (k, v)
        });
        done(stack, fields_table(ctx, fields).into(), None, FORM);
    } else if lower.starts_with(JSON.as_bytes()) {
        match source.raw {
            Ok(raw) => stack.replace(ctx, ("json", ctx.intern(raw), JSON)),
            Err(e) => done(stack, Value::Nil, Some(e), JSON),
        }
    } else if lower.starts_with(MULTIPART.as_bytes()) {
        match source.raw {
            Ok(raw) => {
                let fields = match multipart_boundary(&content_type) {
                    Some(boundary) => multipart_fields(raw, &boundary),
                    None => Vec::new(),
                };
                let fields = fields
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(ctx.intern(&v))));
                done(stack, fields_table(ctx, fields).into(), None, MULTIPART);
            }
            Err(e) => done(stack, Value::Nil, Some(e), MULTIPART),
        }
    } else {
        let shown = String::from_utf8_lossy(&content_type);
        let lower = String::from_utf8_lossy(&lower).into_owned();
        done(
            stack,
            Value::Nil,
            Some(format!("unsupported content type '{shown}'")),
            &lower,
        );
    }
    Ok(())
}

/// Fields as a Lua table: a repeated name becomes an array of its values
/// in order (`get_post_args`, lua-multipart's `get_all_with_arrays`).
fn fields_table<'gc>(
    ctx: Context<'gc>,
    fields: impl Iterator<Item = (Vec<u8>, Value<'gc>)>,
) -> Table<'gc> {
    let t = ctx.new_table();
    for (k, value) in fields {
        let key = ctx.intern(&k);
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

/// The client's header `name` (first line) when its peer is trusted.
fn forwarded<'r>(req: &'r RequestContext, name: &HeaderName) -> Option<&'r [u8]> {
    crate::trust::node()
        .forwarded(req.client_addr.ip(), &req.request.headers, name)
        .map(HeaderValue::as_bytes)
}

/// Kong's reading of `X-Forwarded-Host`: what follows an `@`, up to the
/// first `:`, and what follows that `:`.
fn split_forwarded_host(v: &[u8]) -> (&[u8], Option<&[u8]>) {
    let v = match v.iter().position(|b| *b == b'@') {
        Some(at) => &v[at + 1..],
        None => v,
    };
    match v.iter().position(|b| *b == b':') {
        Some(colon) => (&v[..colon], Some(&v[colon + 1..])),
        None => (v, None),
    }
}

/// `tonumber(v, 10)` when it is a port (1 to 65535).
fn port_number(v: &[u8]) -> Option<lua_stdlib::Number> {
    use lua_stdlib::Number;
    lua_stdlib::number::str_to_number(v).filter(|n| match *n {
        Number::Int(n) => (1..=65535).contains(&n),
        Number::Float(f) => (1.0..=65535.0).contains(&f),
    })
}

/// `ngx.req.start_time()`: when the request arrived, in seconds since
/// the epoch, to the millisecond.
pub(crate) fn start_time(req: &RequestContext) -> f64 {
    req.started_ms() as f64 / 1000.0
}

/// Kong's `server_name` (its proxy `server` block's): nginx's `$host`
/// when a request names no host (HTTP/1.0 without `Host`).
const SERVER_NAME: &str = "kong";

/// The request host without the port, lowercased, and the port if given.
pub(crate) fn host(req: &super::RequestContext) -> (String, Option<u16>) {
    let raw = req
        .request
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.request.uri.host())
        .filter(|h| !h.is_empty())
        .unwrap_or(SERVER_NAME);
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
    query_table_limited(ctx, query, DEFAULT_QUERY_ARGS).0
}

/// The request's query now: the one `ngx.req.set_uri_args` set, else the
/// client's.
pub(crate) fn current_query(req: &super::RequestContext) -> Option<&str> {
    req.upstream_query.as_deref().or(req.request.uri.query())
}

/// [`query_table`] of the first `max` arguments, and whether there were
/// more (`ngx.req.get_uri_args(max)`'s "truncated").
fn query_table_limited<'gc>(
    ctx: Context<'gc>,
    query: Option<&str>,
    max: usize,
) -> (Table<'gc>, bool) {
    let mut pairs = query_pairs(query);
    let fields = pairs.by_ref().take(max).map(|(k, v)| {
        let value = match v {
            Some(v) => Value::String(ctx.intern(v.as_bytes())),
            None => Value::Boolean(true),
        };
        (k.into_bytes(), value)
    });
    let t = fields_table(ctx, fields);
    (t, pairs.next().is_some())
}

#[cfg(test)]
mod tests {
    #[test]
    fn glue_compiles() {
        super::glue::check_compiles(&super::GET_BODY);
    }
}
