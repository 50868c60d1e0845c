//! The parts of OpenResty's `ngx` API that Kong functions commonly use
//! (§2.6 of the Kong reference): status, exit, say/print, var, req, header,
//! ctx, log, worker; and lua-stdlib's OpenResty libraries (`ngx.re`, codecs,
//! digests, time helpers, `ngx.null`).

use std::rc::Rc;

use lua_stdlib::{ext, Callback, CallbackReturn, Context, Table, Value};

use super::checks::{self, MAX_STATUS, MIN_STATUS};
use super::response::finish;
use super::{
    add, arg_bytes, arg_string, header_name_arg, header_values_arg, headers_table, lua_error,
    name_arg, request_line_arg, Exit, ExitBody, Phase, RequestCell, RequestContext,
};

/// `ngx.exit(status)` with nothing printed: the statuses Kong's nginx
/// sends to its error handler (`error_page` in Kong's template) and that
/// handler's messages (`kong/error_handlers.lua`); the page is Kong's, in
/// the format the client accepts.
const KONG_ERROR_PAGES: &[(u16, &str)] = &[
    (400, "Bad request"),
    (404, "Not found"),
    (405, "Method not allowed"),
    (408, "Request timeout"),
    (411, "Length required"),
    (412, "Precondition failed"),
    (413, "Payload too large"),
    (414, "URI too long"),
    (417, "Expectation failed"),
    (494, "Request header or cookie too large"),
    (500, "An unexpected error occurred"),
    (
        502,
        "An invalid response was received from the upstream server",
    ),
    (503, "The upstream server is currently unavailable"),
    (504, "The upstream server is timing out"),
];

/// The other statuses nginx has a page of its own for, and the page's
/// title; any other status is sent with no body, as by nginx.
const NGINX_PAGES: &[(u16, &str)] = &[
    (301, "301 Moved Permanently"),
    (302, "302 Found"),
    (303, "303 See Other"),
    (307, "307 Temporary Redirect"),
    (308, "308 Permanent Redirect"),
    (401, "401 Authorization Required"),
    (402, "402 Payment Required"),
    (403, "403 Forbidden"),
    (406, "406 Not Acceptable"),
    (409, "409 Conflict"),
    (410, "410 Gone"),
    (415, "415 Unsupported Media Type"),
    (416, "416 Requested Range Not Satisfiable"),
    (421, "421 Misdirected Request"),
    (429, "429 Too Many Requests"),
    (498, "404 Not Found"),
    (501, "501 Not Implemented"),
    (505, "505 HTTP Version Not Supported"),
    (507, "507 Insufficient Storage"),
];

/// What `ngx.exit(status)` sends when nothing was printed: Kong's error
/// page (494 is answered 400, as Kong's handler does), nginx's HTML page
/// (Kong's build leaves out nginx's server line), or no body.
fn unprinted_exit(status: u16, headers: &mut http::HeaderMap) -> (u16, ExitBody) {
    let page = |table: &[(u16, &'static str)]| {
        table
            .iter()
            .find(|(s, _)| *s == status)
            .map(|(_, text)| *text)
    };
    if let Some(message) = page(KONG_ERROR_PAGES) {
        let status = if status == 494 { 400 } else { status };
        return (status, ExitBody::KongError(message.to_string()));
    }
    let Some(title) = page(NGINX_PAGES) else {
        return (status, ExitBody::Bytes(bytes::Bytes::new()));
    };
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html"),
    );
    let html = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n\
         <center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    );
    (status, ExitBody::Bytes(html.into()))
}

/// Records `ngx.exit`'s response. It is nginx's, not Kong's `exit`: it
/// sets none of the `ngx.ctx` flags `kong.response.get_source` reads, so
/// the source stays what it was ("service" once proxied), except that
/// before the proxy (Kong sets `KONG_PROXIED` once access ends) none is
/// set yet: the source is "" (none; `get_source` answers "error").
fn ngx_exit(req: &mut RequestContext, exit: Exit) {
    let source = req.response_source;
    finish(req, exit);
    req.response_source = match req.phase {
        Phase::Rewrite | Phase::Access if source == "service" => "",
        _ => source,
    };
}

pub fn install<'gc>(ctx: Context<'gc>, env: Table<'gc>, kong: Table<'gc>, cell: &RequestCell) {
    let ngx = ctx.new_table();
    for (name, v) in [
        ("OK", 0),
        ("ERROR", -1),
        ("AGAIN", -2),
        ("DONE", -4),
        ("DECLINED", -5),
        ("STDERR", 0),
        ("EMERG", 1),
        ("ALERT", 2),
        ("CRIT", 3),
        ("ERR", 4),
        ("WARN", 5),
        ("NOTICE", 6),
        ("INFO", 7),
        ("DEBUG", 8),
        ("HTTP_OK", 200),
        ("HTTP_CREATED", 201),
        ("HTTP_NO_CONTENT", 204),
        ("HTTP_MOVED_PERMANENTLY", 301),
        ("HTTP_MOVED_TEMPORARILY", 302),
        ("HTTP_NOT_MODIFIED", 304),
        ("HTTP_BAD_REQUEST", 400),
        ("HTTP_UNAUTHORIZED", 401),
        ("HTTP_FORBIDDEN", 403),
        ("HTTP_NOT_FOUND", 404),
        ("HTTP_NOT_ALLOWED", 405),
        ("HTTP_TOO_MANY_REQUESTS", 429),
        ("HTTP_INTERNAL_SERVER_ERROR", 500),
        ("HTTP_BAD_GATEWAY", 502),
        ("HTTP_SERVICE_UNAVAILABLE", 503),
        ("HTTP_GATEWAY_TIMEOUT", 504),
    ] {
        let _ = ngx.set(ctx, name, v);
    }

    add(ctx, ngx, "exit", cell, |ctx, _, stack, req| {
        let code = match stack.get(0) {
            Value::Integer(n) => n,
            Value::Number(f) => f as i64,
            _ => {
                return Err(lua_error(
                    ctx,
                    "bad argument #1 to 'exit' (number expected)",
                ))
            }
        };
        stack.clear();
        if code == -2 || code == -4 {
            return Err(lua_error(
                ctx,
                "bad argument to 'ngx.exit': does not accept NGX_AGAIN or NGX_DONE",
            ));
        }
        // OpenResty: body_filter and log cannot exit; in header_filter
        // `ngx.exit` returns at once (the function and the phase go on,
        // the exit applies when the phase ends); elsewhere it ends the
        // phase's handler (see `LuaWorker::after_function`).
        match req.phase {
            Phase::BodyFilter | Phase::Log => {
                return Err(lua_error(
                    ctx,
                    &format!(
                        "API disabled in the context of {}_by_lua*",
                        req.phase.name()
                    ),
                ))
            }
            Phase::HeaderFilter => {}
            _ => req.leave_function = true,
        }
        if code == 0 {
            return Ok(());
        }
        if code == -1 {
            // NGX_ERROR: nginx ends the request without a response (in
            // header_filter too, once the phase returns it).
            let close = Exit {
                status: req.response_status.unwrap_or(500),
                headers: http::HeaderMap::new(),
                body: ExitBody::Close,
            };
            ngx_exit(req, close);
            return Ok(());
        }
        let status = if req.headers_sent {
            // The status went out with the head (OpenResty logs "attempt
            // to set status … via ngx.exit after sending out the response
            // status" and keeps it).
            req.response_status.unwrap_or(200)
        } else if code >= 200 {
            checks::status_code(ctx, Value::Integer(code), MIN_STATUS, MAX_STATUS)?
        } else {
            req.response_status.unwrap_or(500)
        };
        let status = if (200..300).contains(&code) {
            req.response_status.unwrap_or(status)
        } else {
            status
        };
        let mut headers = if req.phase == Phase::HeaderFilter {
            // The response's headers stay the phase's own.
            req.response_status = Some(status);
            http::HeaderMap::new()
        } else {
            std::mem::take(&mut req.response_headers)
        };
        let (status, body) = if !req.printed.is_empty() {
            (
                status,
                ExitBody::Bytes(std::mem::take(&mut req.printed).into()),
            )
        } else {
            unprinted_exit(status, &mut headers)
        };
        ngx_exit(
            req,
            Exit {
                status,
                headers,
                body,
            },
        );
        Ok(())
    });
    // `ngx.send_headers()`: OpenResty sends the head at once (status
    // `ngx.status` or 200, the headers set so far) and what is printed
    // after is its body. Here the head goes out when the phase ends, with
    // what was printed (the same bytes for the client), and the upstream
    // is not called (nginx would fail its head: `header already sent`).
    add(ctx, ngx, "send_headers", cell, |ctx, _, stack, req| {
        if !matches!(req.phase, Phase::Rewrite | Phase::Access) {
            return Err(lua_error(
                ctx,
                &format!(
                    "API disabled in the context of {}_by_lua*",
                    req.phase.name()
                ),
            ));
        }
        if req.headers_sent {
            stack.replace(ctx, (Value::Nil, "header already sent"));
        } else {
            req.headers_sent = true;
            stack.replace(ctx, 1);
        }
        Ok(())
    });
    for (name, newline) in [("say", true), ("print", false)] {
        let cell = cell.clone();
        let cb = Callback::from_fn(&ctx, move |ctx, _, mut stack| {
            let mut out = Vec::new();
            for i in 0..stack.len() {
                append_printable(ctx, &mut out, stack.get(i))?;
            }
            if newline {
                out.push(b'\n');
            }
            if let Some(req) = cell.borrow_mut().as_mut() {
                req.printed.extend_from_slice(&out);
            }
            stack.replace(ctx, 1);
            Ok(CallbackReturn::Return)
        });
        let _ = ngx.set(ctx, name, cb);
    }
    add(ctx, ngx, "log", cell, |ctx, exec, stack, req| {
        let level = match stack.get(0) {
            Value::Integer(n) => n,
            _ => 6,
        };
        stack.pop_front();
        let level = match level {
            0..=4 => "err",
            5 => "warn",
            6 | 7 => "info",
            _ => "debug",
        };
        let place = exec
            .upper_lua_frame()
            .map(|f| {
                format!(
                    "{}:{}",
                    String::from_utf8_lossy(f.chunk_name.as_bytes()),
                    f.current_line
                )
            })
            .unwrap_or_default();
        super::log::emit(
            level,
            req.plugin_name,
            &place,
            &super::log::join_args(ctx, stack),
        );
        stack.clear();
        Ok(())
    });
    // `ngx.ssl.server_name()`: the SNI in the certificate phase (a
    // lunagate addition: OpenResty's is `require "ngx.ssl"`, which the
    // sandbox refuses), nil otherwise.
    let ssl = ctx.new_table();
    add(ctx, ssl, "server_name", cell, |ctx, _, stack, req| {
        match &req.server_name {
            Some(name) => stack.replace(ctx, ctx.intern(name.as_bytes())),
            None => stack.replace(ctx, Value::Nil),
        }
        Ok(())
    });
    let _ = ngx.set(ctx, "ssl", ssl);
    add(ctx, ngx, "get_phase", cell, |ctx, _, stack, req| {
        stack.replace(ctx, ctx.intern(req.phase.name().as_bytes()));
        Ok(())
    });
    install_libraries(ctx, ngx);
    install_req(ctx, ngx, cell);
    install_var(ctx, ngx, cell);
    install_header(ctx, ngx, cell);
    // `ngx.resp.get_headers()`: the response headers as they will be sent.
    let resp = ctx.new_table();
    add(ctx, resp, "get_headers", cell, |ctx, _, stack, req| {
        stack.replace(ctx, headers_table(ctx, &req.response_headers));
        Ok(())
    });
    let _ = ngx.set(ctx, "resp", resp);

    super::worker::install(ctx, ngx);

    // `ngx.status` reads and writes the response status; `ngx.ctx` is the
    // request's own table (not `kong.ctx.shared`, as in Kong). The table itself is frozen by the
    // sandbox, so these live in its metatable.
    let mt = ctx.new_table();
    let get_cell = cell.clone();
    let _ = mt.set(
        ctx,
        "__index",
        Callback::from_fn(&ctx, move |ctx, _, mut stack| {
            let v = match stack.get(1) {
                Value::String(s) if s.as_bytes() == b"status" => {
                    get_cell.borrow().as_ref().map_or(Value::Integer(0), |r| {
                        Value::Integer(r.response_status.unwrap_or(0) as i64)
                    })
                }
                Value::String(s) if s.as_bytes() == b"ctx" => get_cell
                    .borrow_mut()
                    .as_mut()
                    .map_or(Value::Nil, |r| Value::Table(r.lua_tables.ngx_ctx(ctx))),
                _ => Value::Nil,
            };
            stack.replace(ctx, v);
            Ok(CallbackReturn::Return)
        }),
    );
    let set_cell = cell.clone();
    let _ = mt.set(
        ctx,
        "__newindex",
        Callback::from_fn(&ctx, move |ctx, _, mut stack| {
            match stack.get(1) {
                Value::String(s) if s.as_bytes() == b"status" => {
                    let status = checks::status_code(ctx, stack.get(2), MIN_STATUS, MAX_STATUS)?;
                    if let Some(req) = set_cell.borrow_mut().as_mut() {
                        req.response_status = Some(status);
                    }
                }
                key => {
                    let name =
                        super::arg_string(&stack, 1).unwrap_or_else(|| key.type_name().into());
                    return Err(lua_error(
                        ctx,
                        &format!("Cannot modify ngx.{name}. Protected by the sandbox."),
                    ));
                }
            }
            stack.clear();
            Ok(CallbackReturn::Return)
        }),
    );
    let _ = ngx.set_metatable(&ctx, Some(mt));
    let _ = kong;
    super::set(ctx, env, "ngx", ngx);
}

fn append_printable<'gc>(
    ctx: Context<'gc>,
    out: &mut Vec<u8>,
    v: Value<'gc>,
) -> Result<(), lua_stdlib::Error<'gc>> {
    match v {
        Value::String(s) => out.extend_from_slice(s.as_bytes()),
        Value::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Number(f) => out.extend_from_slice(super::lua_number(f).as_bytes()),
        Value::Boolean(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Value::Nil => out.extend_from_slice(b"nil"),
        Value::Table(t) => {
            for i in 1..=t.length() {
                append_printable(ctx, out, t.get(ctx, i))?;
            }
        }
        other => {
            return Err(lua_error(
                ctx,
                &format!("bad argument to 'say' ({} not allowed)", other.type_name()),
            ))
        }
    }
    Ok(())
}

/// The OpenResty libraries of lua-stdlib's `ext` that live in `ngx`:
/// `ngx.null` (the value `cjson.null` is), `ngx.re`, the codecs and
/// digests (`encode_args` … `quote_sql_str`) and the time helpers
/// (`time now update_time localtime utctime today cookie_time http_time
/// parse_http_time`) on the system clock.
fn install_libraries<'gc>(ctx: Context<'gc>, ngx: Table<'gc>) {
    let _ = ngx.set(ctx, "null", ext::null(ctx));
    let _ = ngx.set(ctx, "re", ext::re::load_ngx_re(ctx));
    ext::copy_fields(ctx, ext::codec::load_ngx_codecs(ctx), ngx);
    let clock: ext::time::Clock = Rc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
    });
    ext::copy_fields(ctx, ext::time::load_ngx_time(ctx, clock), ngx);
}

fn install_req<'gc>(ctx: Context<'gc>, ngx: Table<'gc>, cell: &RequestCell) {
    let t = ctx.new_table();
    add(ctx, t, "get_headers", cell, |ctx, _, stack, req| {
        stack.replace(ctx, headers_table(ctx, &req.request.headers));
        Ok(())
    });
    add(ctx, t, "get_method", cell, |ctx, _, stack, req| {
        stack.replace(ctx, ctx.intern(req.request.method.as_str().as_bytes()));
        Ok(())
    });
    add(ctx, t, "get_uri_args", cell, |ctx, _, stack, req| {
        let q = super::request::current_query(req);
        stack.replace(ctx, super::request::query_table(ctx, q));
        Ok(())
    });
    add(ctx, t, "set_uri_args", cell, |ctx, _, stack, req| {
        let q = match stack.get(0) {
            Value::Table(args) => super::service::encode_args(ctx, args)?,
            _ => request_line_arg(ctx, "args", arg_string(stack, 0).unwrap_or_default())?,
        };
        req.upstream_query = Some(q);
        stack.clear();
        Ok(())
    });
    add(ctx, t, "start_time", cell, |ctx, _, stack, req| {
        stack.replace(ctx, super::request::start_time(req));
        Ok(())
    });
    add(ctx, t, "read_body", cell, |_, _, stack, _| {
        stack.clear();
        Ok(())
    });
    add(ctx, t, "get_body_data", cell, |ctx, _, stack, req| {
        let v = req
            .body
            .as_ref()
            .map_or(Value::Nil, |b| Value::String(ctx.intern(b)));
        stack.replace(ctx, v);
        Ok(())
    });
    add(ctx, t, "set_body_data", cell, |ctx, _, stack, req| {
        let body = arg_bytes(stack, 0).ok_or_else(|| lua_error(ctx, "body must be a string"))?;
        req.upstream_body = Some(body.into());
        stack.clear();
        Ok(())
    });
    super::add_ngx_req_header_functions(ctx, t, cell);
    let _ = ngx.set(ctx, "req", t);
}

/// `ngx.var.NAME`: the nginx variables Kong code reads, and `args` /
/// `upstream_uri` writes.
fn install_var<'gc>(ctx: Context<'gc>, ngx: Table<'gc>, cell: &RequestCell) {
    let var = ctx.new_table();
    let mt = ctx.new_table();
    let get_cell = cell.clone();
    let _ = mt.set(
        ctx,
        "__index",
        Callback::from_fn(&ctx, move |ctx, _, mut stack| {
            let name = arg_string(&stack, 1).unwrap_or_default();
            let guard = get_cell.borrow();
            if name == "binary_remote_addr" {
                // nginx's: the address's 4 or 16 bytes, not its text.
                let v = guard.as_ref().map(|req| match req.client.ip {
                    std::net::IpAddr::V4(a) => ctx.intern(&a.octets()),
                    std::net::IpAddr::V6(a) => ctx.intern(&a.octets()),
                });
                drop(guard);
                stack.replace(ctx, v.map_or(Value::Nil, Value::String));
                return Ok(CallbackReturn::Return);
            }
            let v: Option<String> = guard.as_ref().and_then(|req| {
                let uri = &req.request.uri;
                Some(match name.as_str() {
                    "request_uri" => uri
                        .path_and_query()
                        .map_or("/".into(), |pq| pq.as_str().to_string()),
                    "uri" => req.path().to_string(),
                    "args" | "query_string" => {
                        let q = req.upstream_query.as_deref().or(uri.query())?;
                        if q.is_empty() {
                            return None;
                        }
                        q.to_string()
                    }
                    "is_args" => {
                        if uri.query().is_some() {
                            "?".into()
                        } else {
                            String::new()
                        }
                    }
                    "host" => super::request::host(req).0,
                    "http_host" => req
                        .request
                        .headers
                        .get(http::header::HOST)?
                        .to_str()
                        .ok()?
                        .to_string(),
                    // After nginx's realip module (`crate::trust`): the
                    // client a trusted peer named; `realip_*` the peer.
                    "remote_addr" => req.client.ip.to_string(),
                    "proxy_protocol_addr" => req.proxy_protocol?.ip().to_string(),
                    "proxy_protocol_port" => req.proxy_protocol?.port().to_string(),
                    // nil on a plain connection, as nginx's.
                    "ssl_protocol" => req.tls_session?.0.to_string(),
                    "ssl_cipher" => req.tls_session?.1.to_string(),
                    // `NONE` unless the certificate phase asked for a
                    // client certificate and one came.
                    "ssl_client_verify" => {
                        req.tls_session?;
                        req.client_cert
                            .as_ref()
                            .map_or("NONE", |c| c.verify)
                            .to_string()
                    }
                    "remote_port" => req.client.port.map_or(String::new(), |p| p.to_string()),
                    "realip_remote_addr" => {
                        crate::trust::canonical(req.client_addr.ip()).to_string()
                    }
                    "realip_remote_port" => req.client_addr.port().to_string(),
                    "request_method" => req.request.method.to_string(),
                    "scheme" => req.scheme.to_string(),
                    "server_port" => req.server_port.to_string(),
                    "upstream_uri" => req.upstream_path.clone()?,
                    "request_length" => req.body.as_ref().map_or(0, |b| b.len()).to_string(),
                    other => {
                        let header = other.strip_prefix("http_")?.replace('_', "-");
                        req.request
                            .headers
                            .get(header.as_str())?
                            .to_str()
                            .ok()?
                            .to_string()
                    }
                })
            });
            drop(guard);
            stack.replace(
                ctx,
                v.map_or(Value::Nil, |v| Value::String(ctx.intern(v.as_bytes()))),
            );
            Ok(CallbackReturn::Return)
        }),
    );
    let set_cell = cell.clone();
    let _ = mt.set(
        ctx,
        "__newindex",
        Callback::from_fn(&ctx, move |ctx, _, mut stack| {
            let name = arg_string(&stack, 1).unwrap_or_default();
            let value = arg_string(&stack, 2);
            let mut guard = set_cell.borrow_mut();
            let Some(req) = guard.as_mut() else {
                return Ok(CallbackReturn::Return);
            };
            match name.as_str() {
                // Kong#9246: `ngx.var.args = nil` clears the query.
                "args" => {
                    let args = request_line_arg(ctx, "args", value.unwrap_or_default())?;
                    req.upstream_query = Some(args);
                }
                "upstream_uri" => {
                    req.upstream_path =
                        value.map(|v| request_line_arg(ctx, "uri", v)).transpose()?;
                }
                other => {
                    return Err(lua_error(
                        ctx,
                        &format!("variable \"{other}\" not changeable"),
                    ));
                }
            }
            stack.clear();
            Ok(CallbackReturn::Return)
        }),
    );
    let _ = var.set_metatable(&ctx, Some(mt));
    let _ = ngx.set(ctx, "var", var);
}

/// `ngx.header.NAME`: the response headers.
fn install_header<'gc>(ctx: Context<'gc>, ngx: Table<'gc>, cell: &RequestCell) {
    let header = ctx.new_table();
    let mt = ctx.new_table();
    let get_cell = cell.clone();
    let _ = mt.set(
        ctx,
        "__index",
        Callback::from_fn(&ctx, move |ctx, _, mut stack| {
            let name = name_arg(ctx, &stack, 1)?;
            let none = http::HeaderMap::new();
            let req = get_cell.borrow();
            let v = name
                .get(req.as_ref().map_or(&none, |r| &r.response_headers))?
                .map_or(Value::Nil, |v| Value::String(ctx.intern(v.as_bytes())));
            drop(req);
            stack.replace(ctx, v);
            Ok(CallbackReturn::Return)
        }),
    );
    let set_cell = cell.clone();
    let _ = mt.set(
        ctx,
        "__newindex",
        Callback::from_fn(&ctx, move |ctx, _, mut stack| {
            let name = header_name_arg(ctx, &stack, 1)?;
            let values = match stack.get(2) {
                Value::Nil => Vec::new(),
                v => header_values_arg(ctx, v)?,
            };
            if let Some(req) = set_cell.borrow_mut().as_mut() {
                req.response_headers.remove(&name);
                for v in values {
                    req.response_headers.append(name.clone(), v);
                }
            }
            stack.clear();
            Ok(CallbackReturn::Return)
        }),
    );
    let _ = header.set_metatable(&ctx, Some(mt));
    let _ = ngx.set(ctx, "header", header);
}
