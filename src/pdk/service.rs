//! `kong.service` and `kong.service.request`: what goes upstream (§2.4 of
//! the Kong reference). Header changes edit the request headers the proxy
//! forwards; path, query and body changes replace what the router computed.

mod balancer;
mod set_body;

use lua_stdlib::{ext, Context, Table, Value};

use super::checks::{self, Names};
use super::{
    add, lua_error, name_arg, only_in, request_line_arg, request_line_safe, Phases, RequestCell,
};

/// Kong's `access_and_rewrite`.
pub(super) const PHASES: Phases = Phases::REWRITE.or(Phases::ACCESS);
/// Kong's `access_rewrite_balancer` (`set_scheme`, `set_path`, `set_header`,
/// `set_raw_body`).
const WITH_BALANCER: Phases = PHASES.or(Phases::BALANCER);

pub fn install<'gc>(ctx: Context<'gc>, globals: Table<'gc>, kong: Table<'gc>, cell: &RequestCell) {
    let service = ctx.new_table();
    let t = ctx.new_table();
    add(ctx, t, "set_path", cell, |ctx, _, stack, req| {
        only_in(ctx, req, WITH_BALANCER)?;
        let path = checks::string_arg(ctx, stack.get(0), "path")?;
        if path.first() != Some(&b'/') {
            return Err(lua_error(ctx, "path must start with /"));
        }
        req.upstream_path = Some(escape_path(&path));
        stack.clear();
        Ok(())
    });
    add(ctx, t, "set_raw_query", cell, |ctx, _, stack, req| {
        only_in(ctx, req, PHASES)?;
        let q = checks::string_arg(ctx, stack.get(0), "query")?;
        let q = String::from_utf8_lossy(&q).into_owned();
        req.upstream_query = Some(request_line_arg(ctx, "query", q)?);
        stack.clear();
        Ok(())
    });
    add(ctx, t, "set_query", cell, |ctx, _, stack, req| {
        only_in(ctx, req, PHASES)?;
        let Value::Table(args) = stack.get(0) else {
            return Err(lua_error(ctx, "args must be a table"));
        };
        req.upstream_query = Some(encode_args(ctx, args)?);
        stack.clear();
        Ok(())
    });
    add(ctx, t, "clear_query_arg", cell, |ctx, _, stack, req| {
        only_in(ctx, req, PHASES)?;
        let name = checks::string_arg(ctx, stack.get(0), "query argument name")?;
        let current = match &req.upstream_query {
            Some(q) => Some(q.clone()),
            None => req.request.uri.query().map(str::to_string),
        };
        if let Some(q) = current.filter(|q| !q.is_empty()) {
            req.upstream_query = Some(remove_query_arg(&q, &name));
        }
        stack.clear();
        Ok(())
    });
    add(ctx, t, "enable_buffering", cell, |ctx, _, stack, req| {
        only_in(ctx, req, WITH_BALANCER)?;
        req.buffered_proxying = true;
        stack.clear();
        Ok(())
    });
    add(ctx, t, "set_scheme", cell, |ctx, _, stack, req| {
        only_in(ctx, req, WITH_BALANCER)?;
        let scheme = checks::string_arg(ctx, stack.get(0), "scheme")?;
        req.upstream_https = Some(match scheme.as_slice() {
            b"http" => false,
            b"https" => true,
            _ => {
                let shown = String::from_utf8_lossy(&scheme);
                return Err(lua_error(ctx, &format!("invalid scheme: {shown}")));
            }
        });
        stack.clear();
        Ok(())
    });
    add(ctx, t, "set_method", cell, |ctx, _, stack, req| {
        only_in(ctx, req, PHASES)?;
        req.request.method = checks::method(ctx, stack.get(0))?;
        stack.clear();
        Ok(())
    });
    add(ctx, t, "set_raw_body", cell, |ctx, _, stack, req| {
        only_in(ctx, req, WITH_BALANCER)?;
        let body = checks::string_arg(ctx, stack.get(0), "body")?;
        req.upstream_body = Some(body.into());
        stack.clear();
        Ok(())
    });
    add(ctx, t, "set_body", cell, set_body::set_body);
    // `Host` is the upstream's Host (Kong sets `ngx.var.upstream_host`),
    // not the client's, which stays what the PDK and X-Forwarded-Host see.
    add(ctx, t, "set_header", cell, |ctx, _, stack, req| {
        only_in(ctx, req, WITH_BALANCER)?;
        let header = checks::validate_header(ctx, Names::Request, stack.get(0), stack.get(1))?;
        set_upstream_header(ctx, req, header, false)?;
        stack.clear();
        Ok(())
    });
    add(ctx, t, "add_header", cell, |ctx, _, stack, req| {
        only_in(ctx, req, PHASES)?;
        let header = checks::validate_header(ctx, Names::Request, stack.get(0), stack.get(1))?;
        set_upstream_header(ctx, req, header, true)?;
        stack.clear();
        Ok(())
    });
    add(ctx, t, "clear_header", cell, |ctx, _, stack, req| {
        only_in(ctx, req, PHASES)?;
        // Found in place: no `HeaderName` (an allocation) per call.
        let name = checks::name_arg(ctx, Names::Request, stack.get(0), "header")?;
        if name.matches(&http::header::HOST) {
            req.upstream_host = None;
        }
        name.remove(&mut req.request.headers);
        stack.clear();
        Ok(())
    });
    add(ctx, t, "set_headers", cell, |ctx, _, stack, req| {
        only_in(ctx, req, PHASES)?;
        for header in checks::validate_headers(ctx, Names::Request, stack.get(0))? {
            set_upstream_header(ctx, req, header, false)?;
        }
        stack.clear();
        Ok(())
    });
    super::set(ctx, service, "request", t);
    super::set(
        ctx,
        service,
        "response",
        service_response(ctx, globals, cell),
    );
    balancer::install(ctx, service, cell);
    super::set(ctx, kong, "service", service);
}

/// A header for the upstream request (`add`: after the ones there). `Host`
/// sets the upstream Host instead (Kong's `ngx.var.upstream_host`; with
/// several values, the last).
fn set_upstream_header<'gc>(
    ctx: Context<'gc>,
    req: &mut super::RequestContext,
    header: checks::Header,
    add: bool,
) -> Result<(), lua_stdlib::Error<'gc>> {
    if header.name != http::header::HOST {
        if add {
            header.add_to(&mut req.request.headers);
        } else {
            header.set_in(&mut req.request.headers);
        }
        return Ok(());
    }
    let Some(value) = header.values.into_iter().last() else {
        req.upstream_host = None;
        return Ok(());
    };
    let trimmed = value.as_bytes().trim_ascii();
    if trimmed.is_empty() || !request_line_safe(trimmed) {
        return Err(lua_error(ctx, "invalid Host header value"));
    }
    req.upstream_host = http::HeaderValue::from_bytes(trimmed).ok();
    Ok(())
}

/// Kong's `clear_query_arg` (lua-resty-ada's `search.remove`): every pair
/// whose decoded name is `name` goes, the others stay in order, written
/// back as URLSearchParams writes them (with `%20` for a space, as Kong
/// rewrites `+`).
fn remove_query_arg(query: &str, name: &[u8]) -> String {
    fn decode(s: &str) -> Vec<u8> {
        let spaced = s.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced).collect()
    }
    fn encode(out: &mut String, b: &[u8]) {
        for &c in b {
            if c.is_ascii_alphanumeric() || b"*-._".contains(&c) {
                out.push(c as char);
            } else {
                out.push_str(&format!("%{c:02X}"));
            }
        }
    }
    let mut out = String::with_capacity(query.len());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(k);
        if key == name {
            continue;
        }
        if !out.is_empty() {
            out.push('&');
        }
        encode(&mut out, &key);
        out.push('=');
        encode(&mut out, &decode(v));
    }
    out
}

/// Kong's `kong.tools.uri.escape`: every byte outside
/// `!#$&'()*+,/:;=?@[]`, letters, digits, `-_.~` and `%` as `%XX`, so a
/// path with spaces or UTF-8 is sent escaped and an escaped one as given.
fn escape_path(path: &[u8]) -> String {
    let mut out = String::with_capacity(path.len());
    for &c in path {
        if c.is_ascii_alphanumeric() || b"!#$&'()*+,/:;=?@[]-_.~%".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Kong's `header_body_log` for `kong.service.response`.
const RESPONSE_PHASES: Phases = Phases::RESPONSE
    .or(Phases::HEADER_FILTER)
    .or(Phases::BODY_FILTER)
    .or(Phases::LOG);

const NOT_BUFFERED: &str = "service body is only available with buffered proxying \
     (see: kong.service.request.enable_buffering function)";

/// `kong.service.response`: the service's response as it arrived, before
/// functions changed it; nothing when the response did not come from the
/// service (an exit, an error).
fn service_response<'gc>(ctx: Context<'gc>, globals: Table<'gc>, cell: &RequestCell) -> Table<'gc> {
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
        let max = checks::max_headers(ctx, stack.get(0))?;
        let empty = http::HeaderMap::new();
        let headers = req.service_headers.as_ref().unwrap_or(&empty);
        let (table, truncated) = super::headers_table_limited(ctx, headers, max);
        if truncated {
            stack.replace(ctx, (table, "truncated"));
        } else {
            stack.replace(ctx, table);
        }
        Ok(())
    });
    add(ctx, t, "get_header", cell, |ctx, _, stack, req| {
        only_in(ctx, req, RESPONSE_PHASES)?;
        let Value::String(_) = stack.get(0) else {
            return Err(lua_error(ctx, "name must be a string"));
        };
        // Kong reads `get_headers()[name]`: the first 100 header lines.
        let none = http::HeaderMap::new();
        let v = name_arg(ctx, stack, 0)?
            .get_in_first(
                req.service_headers.as_ref().unwrap_or(&none),
                checks::MAX_HEADERS_DEFAULT,
            )?
            .map_or(Value::Nil, |v| Value::String(ctx.intern(v.as_bytes())));
        stack.replace(ctx, v);
        Ok(())
    });
    add(ctx, t, "get_raw_body", cell, |ctx, _, stack, req| {
        only_in(ctx, req, RESPONSE_PHASES)?;
        if !req.buffered_proxying {
            return Err(lua_error(ctx, NOT_BUFFERED));
        }
        let body = req.service_body.as_deref().unwrap_or_default();
        stack.replace(ctx, ctx.intern(body));
        Ok(())
    });
    // Kong's `get_body` over the buffered body, its type from the
    // service's `Content-Type` (among its first 100 headers).
    super::request::install_body_decoder(ctx, globals, t, cell, |ctx, stack, req| {
        only_in(ctx, req, RESPONSE_PHASES)?;
        if !req.buffered_proxying {
            return Err(lua_error(ctx, NOT_BUFFERED));
        }
        let body = req.service_body.as_deref().unwrap_or_default();
        let source = super::request::BodySource {
            content_type: req.service_headers.as_ref().and_then(|h| {
                h.iter()
                    .take(checks::MAX_HEADERS_DEFAULT)
                    .find_map(|(n, v)| (n == http::header::CONTENT_TYPE).then_some(v))
            }),
            form: Ok(body),
            raw: Ok(body),
        };
        super::request::prepare_body(ctx, stack, source)
    });
    t
}

/// Kong's `make_ordered_args`: each key's `ngx.encode_args` (an array
/// repeats the key, `true` is a bare key, `false` adds nothing), sorted;
/// `arg keys must be strings`, `attempt to use function as query arg
/// value`.
pub(crate) fn encode_args<'gc>(
    ctx: Context<'gc>,
    args: Table<'gc>,
) -> Result<String, lua_stdlib::Error<'gc>> {
    let mut parts = Vec::new();
    for (k, v) in super::entries(args) {
        let Value::String(key) = k else {
            return Err(lua_error(ctx, "arg keys must be strings"));
        };
        let key = key.as_bytes();
        let mut part = Vec::new();
        let mut one = |v: Value<'gc>| -> Result<(), lua_stdlib::Error<'gc>> {
            let value = match v {
                Value::Boolean(true) => None,
                Value::Boolean(false) => return Ok(()),
                Value::String(s) => Some(s.as_bytes().to_vec()),
                Value::Integer(n) => Some(n.to_string().into_bytes()),
                Value::Number(f) => Some(super::lua_number(f).into_bytes()),
                other => {
                    return Err(lua_error(
                        ctx,
                        &format!("attempt to use {} as query arg value", other.type_name()),
                    ))
                }
            };
            if !part.is_empty() {
                part.push(b'&');
            }
            part.extend_from_slice(&ext::codec::escape_uri_component(key));
            if let Some(value) = value {
                part.push(b'=');
                part.extend_from_slice(&ext::codec::escape_uri_component(&value));
            }
            Ok(())
        };
        match v {
            Value::Table(list) => {
                for i in 1..=list.length() {
                    one(list.raw_get_int(i))?;
                }
            }
            other => one(other)?,
        }
        parts.push(part);
    }
    parts.sort();
    let joined = parts.join(&b'&');
    // Escaped: ASCII only.
    Ok(String::from_utf8_lossy(&joined).into_owned())
}
