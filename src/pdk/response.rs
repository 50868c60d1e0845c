//! `kong.response`: the response sent to the client (§2.3 of the Kong
//! reference), including `exit`, which ends the request: the phase runner
//! stops the function at once (pcall cannot catch it) and skips the
//! remaining access handlers; in access, in a coroutine of the function's
//! own, the exit is Kong's delayed one (see [`delays`]).

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue};
use lua_stdlib::{Callback, CallbackReturn, Context, Error, Execution, Table, Value};
use serde_json::Map;

use super::checks::{self, Names, MAX_STATUS, MIN_ERR_STATUS, MIN_STATUS};
use super::{
    add, add_with, lua_error, name_arg, only_in, pdk_callback, Exit, ExitBody, Phase, Phases,
    RequestCell, RequestContext,
};
use crate::proxy::errors::{error_format_header, plugin_error_content_type};
use crate::proxy::headers::replace_headers;

/// An exit's Content-Type for a table body (made once: `from_static`
/// checks every byte when called).
static JSON_CONTENT_TYPE: HeaderValue = HeaderValue::from_static("application/json; charset=utf-8");

/// Kong's `rewrite_access_header`: the response can still be changed.
const SET_PHASES: Phases = Phases::REWRITE_ACCESS_HEADER;
/// Kong's `header_body_log`: the response is readable once it exists.
const READ_PHASES: Phases = Phases::HEADER_BODY_LOG;
/// The raw body is a body_filter's chunk.
const BODY_PHASES: Phases = Phases::BODY_FILTER;

pub fn install<'gc>(ctx: Context<'gc>, kong: Table<'gc>, cell: &RequestCell) {
    let t = ctx.new_table();
    add_with(
        ctx,
        t,
        "exit",
        cell,
        cell.clone(),
        |cell, ctx, exec, stack, req| {
            settable(ctx, req)?;
            let status = checks::status_code(ctx, stack.get(0), MIN_STATUS, MAX_STATUS)?;
            let body = stack.get(1);
            if !matches!(body, Value::Nil | Value::String(_) | Value::Table(_)) {
                return Err(lua_error(ctx, "body must be a nil, string or table"));
            }
            let mut headers = exit_headers(ctx, stack.get(2))?;
            let body = match body {
                Value::String(s) => Bytes::copy_from_slice(s.as_bytes()),
                Value::Table(t) => {
                    if !headers.contains_key(http::header::CONTENT_TYPE) {
                        headers.insert(http::header::CONTENT_TYPE, JSON_CONTENT_TYPE.clone());
                    }
                    json_body(ctx, Value::Table(t))?
                }
                _ => Bytes::new(),
            };
            let delayed = delays(ctx, exec, req, cell, status, stack.get(1), stack.get(2));
            exit_with(
                req,
                Exit {
                    status,
                    headers,
                    body: ExitBody::Bytes(body),
                },
                delayed,
            );
            stack.clear();
            Ok(())
        },
    );
    add_with(
        ctx,
        t,
        "error",
        cell,
        cell.clone(),
        |cell, ctx, exec, stack, req| {
            settable(ctx, req)?;
            let status = checks::status_code(ctx, stack.get(0), MIN_ERR_STATUS, MAX_STATUS)?;
            let message = match stack.get(1) {
                Value::Nil => error_message(status),
                Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                Value::Table(t) => match json_string(ctx, Value::Table(t)) {
                    Ok(json) => json,
                    Err(e) => {
                        return Err(lua_error(
                            ctx,
                            &format!("could not JSON encode the error message: {e}"),
                        ))
                    }
                },
                _ => return Err(lua_error(ctx, "message must be a nil, a string or a table")),
            };
            let headers = exit_headers(ctx, stack.get(2))?;
            let delayed = delays(ctx, exec, req, cell, status, stack.get(1), stack.get(2));
            exit_with(
                req,
                Exit {
                    status,
                    headers,
                    body: ExitBody::KongError(message),
                },
                delayed,
            );
            stack.clear();
            Ok(())
        },
    );
    add(ctx, t, "get_status", cell, |ctx, _, stack, req| {
        only_in(ctx, req, READ_PHASES)?;
        stack.replace(
            ctx,
            req.response_status
                .map_or(Value::Nil, |s| Value::Integer(s as i64)),
        );
        Ok(())
    });
    add(ctx, t, "set_status", cell, |ctx, _, stack, req| {
        settable(ctx, req)?;
        let status = checks::status_code(ctx, stack.get(0), MIN_STATUS, MAX_STATUS)?;
        req.response_status = Some(status);
        stack.clear();
        Ok(())
    });
    add(ctx, t, "get_source", cell, |ctx, _, stack, req| {
        only_in(ctx, req, READ_PHASES)?;
        stack.replace(ctx, get_source(ctx, req));
        Ok(())
    });
    add(ctx, t, "get_header", cell, |ctx, _, stack, req| {
        only_in(ctx, req, READ_PHASES)?;
        // Kong reads `get_headers()[name]`: the first 100 header lines.
        let v = name_arg(ctx, stack, 0)?
            .get_in_first(&req.response_headers, checks::MAX_HEADERS_DEFAULT)?
            .map_or(Value::Nil, |v| Value::String(ctx.intern(v.as_bytes())));
        stack.replace(ctx, v);
        Ok(())
    });
    add(ctx, t, "get_headers", cell, |ctx, _, stack, req| {
        only_in(ctx, req, READ_PHASES)?;
        let max = checks::max_headers(ctx, stack.get(0))?;
        let (table, truncated) = super::headers_table_limited(ctx, &req.response_headers, max);
        if truncated {
            stack.replace(ctx, (table, "truncated"));
        } else {
            stack.replace(ctx, table);
        }
        Ok(())
    });
    add(ctx, t, "get_raw_body", cell, |ctx, _, stack, req| {
        only_in(ctx, req, BODY_PHASES)?;
        let v = match get_raw_body(req) {
            Some(body) => Value::String(ctx.intern(&body)),
            None => Value::Nil,
        };
        stack.replace(ctx, v);
        Ok(())
    });
    add(ctx, t, "set_raw_body", cell, |ctx, _, stack, req| {
        only_in(ctx, req, BODY_PHASES)?;
        let Value::String(body) = stack.get(0) else {
            return Err(lua_error(ctx, "body must be a string"));
        };
        // Kong sends "\n" for "" (nginx needs a buffer to end the body).
        req.arg_chunk = if body.as_bytes().is_empty() {
            Bytes::from_static(b"\n")
        } else {
            Bytes::copy_from_slice(body.as_bytes())
        };
        req.arg_eof = true;
        req.body_buffer = None;
        stack.clear();
        Ok(())
    });
    add(ctx, t, "set_header", cell, |ctx, _, stack, req| {
        settable(ctx, req)?;
        let header = checks::validate_header(ctx, Names::Response, stack.get(0), stack.get(1))?;
        if !framing_ignored(req, &header.name) {
            header.set_in(&mut req.response_headers);
        }
        stack.clear();
        Ok(())
    });
    add(ctx, t, "add_header", cell, |ctx, _, stack, req| {
        settable(ctx, req)?;
        let header = checks::validate_header(ctx, Names::Response, stack.get(0), stack.get(1))?;
        header.add_to(&mut req.response_headers);
        stack.clear();
        Ok(())
    });
    add(ctx, t, "clear_header", cell, |ctx, _, stack, req| {
        settable(ctx, req)?;
        let name = checks::header_name_arg(ctx, Names::Response, stack.get(0), "header name")?;
        req.response_headers.remove(&name);
        stack.clear();
        Ok(())
    });
    add(ctx, t, "set_headers", cell, |ctx, _, stack, req| {
        settable(ctx, req)?;
        for header in checks::validate_headers(ctx, Names::Response, stack.get(0))? {
            if !framing_ignored(req, &header.name) {
                header.set_in(&mut req.response_headers);
            }
        }
        stack.clear();
        Ok(())
    });
    super::set(ctx, kong, "response", t);
}

/// Whether the response can still be changed, as Kong's setters check
/// it: in rewrite, access or header_filter (`SET_PHASES`), and not after
/// `ngx.send_headers()` in rewrite or access (Kong's `if ngx.headers_sent
/// then error("headers have already been sent", 2) end`; in header_filter
/// the head is still being made, as in nginx's filter).
fn settable<'gc>(ctx: Context<'gc>, req: &RequestContext) -> Result<(), Error<'gc>> {
    only_in(ctx, req, SET_PHASES)?;
    if req.headers_sent && matches!(req.phase, Phase::Rewrite | Phase::Access) {
        return Err(lua_error(ctx, "headers have already been sent"));
    }
    Ok(())
}

impl RequestContext {
    /// After rewrite and access: a head `ngx.send_headers()` sent is the
    /// response, with what was printed as its body. An exit made after it
    /// (`ngx.exit`) already holds that; an error page (a function that
    /// failed after the head, `exit` refused among them) cannot be sent
    /// once the head has gone, as under Kong.
    ///
    /// A delayed exit not sent yet cannot be sent after the head either:
    /// Kong's flush of it after its access iterator raises `headers have
    /// already been sent` (logged), and the head stays the response.
    pub fn answer_sent_head(&mut self) {
        let delayed = std::mem::take(&mut self.delayed_exit);
        if !self.headers_sent {
            return;
        }
        if delayed {
            tracing::error!(
                target: "lunagate::lua",
                "could not send the delayed exit: headers have already been sent"
            );
        } else if matches!(
            self.exit,
            Some(Exit {
                body: ExitBody::Bytes(_) | ExitBody::Close,
                ..
            })
        ) {
            return;
        }
        self.response_source = "exit";
        self.exit = Some(Exit {
            status: self.response_status.unwrap_or(200),
            headers: HeaderMap::new(),
            body: ExitBody::Bytes(std::mem::take(&mut self.printed).into()),
        });
    }
}

/// Kong's `get_source`: its `ngx.ctx` flags `KONG_UNEXPECTED`,
/// `KONG_EXITED` and `KONG_PROXIED`, first set first, else "error". Kong's
/// runloop and `exit` set them (to `true`); here the gateway's state
/// (`response_source`) stands for a flag a function left nil in `ngx.ctx`,
/// and a value a function put there decides, as it does under Kong.
pub(crate) fn get_source(ctx: Context<'_>, req: &RequestContext) -> &'static str {
    let gateway = req.response_source;
    let set_by_functions = req.lua_tables.ngx_ctx_made(ctx);
    let flag = |name: &'static str, source: &str| match set_by_functions.map(|t| t.get(ctx, name)) {
        None | Some(Value::Nil) => gateway == source,
        Some(v) => v.to_bool(),
    };
    if flag("KONG_UNEXPECTED", "error") {
        "error"
    } else if flag("KONG_EXITED", "exit") {
        "exit"
    } else if flag("KONG_PROXIED", "service") {
        "service"
    } else {
        "error"
    }
}

/// `kong.response.get_raw_body` in body_filter, as Kong's: chunks are
/// buffered (and not sent) until the last one, which then carries the
/// whole body and is what this returns; `None` before the end.
fn get_raw_body(req: &mut RequestContext) -> Option<Bytes> {
    let chunk = std::mem::take(&mut req.arg_chunk);
    if req.arg_eof && req.body_buffer.is_none() {
        req.arg_chunk = chunk.clone();
        return Some(chunk);
    }
    if !chunk.is_empty() {
        req.body_buffer
            .get_or_insert_with(BytesMut::new)
            .extend_from_slice(&chunk);
    }
    if req.arg_eof {
        let body = req
            .body_buffer
            .take()
            .map(BytesMut::freeze)
            .unwrap_or_default();
        req.arg_chunk = body.clone();
        return Some(body);
    }
    None
}

/// `ngx.arg`: in body_filter, `ngx.arg[1]` is the chunk and `ngx.arg[2]`
/// whether it is the last, both writable (OpenResty's
/// `body_filter_by_lua`); `ngx.arg` is frozen with `ngx`, so both live in
/// its metatable.
pub fn install_ngx_arg<'gc>(ctx: Context<'gc>, env: Table<'gc>, cell: &RequestCell) {
    let Value::Table(ngx) = env.get(ctx, "ngx") else {
        return;
    };
    let arg = ctx.new_table();
    let mt = ctx.new_table();
    let get_cell = cell.clone();
    let _ = mt.set(
        ctx,
        "__index",
        Callback::from_fn(&ctx, move |ctx, _, mut stack| {
            let guard = get_cell.borrow();
            let v = match (guard.as_ref(), stack.get(1)) {
                (Some(req), Value::Integer(1)) if req.phase == Phase::BodyFilter => {
                    Value::String(ctx.intern(&req.arg_chunk))
                }
                (Some(req), Value::Integer(2)) if req.phase == Phase::BodyFilter => {
                    Value::Boolean(req.arg_eof)
                }
                _ => Value::Nil,
            };
            drop(guard);
            stack.replace(ctx, v);
            Ok(CallbackReturn::Return)
        }),
    );
    let set_cell = cell.clone();
    let _ = mt.set(
        ctx,
        "__newindex",
        Callback::from_fn(&ctx, move |ctx, _, mut stack| {
            let mut guard = set_cell.borrow_mut();
            let Some(req) = guard.as_mut().filter(|r| r.phase == Phase::BodyFilter) else {
                return Err(lua_error(ctx, "API disabled in the current context"));
            };
            match stack.get(1) {
                Value::Integer(1) => req.arg_chunk = chunk_arg(ctx, stack.get(2))?,
                Value::Integer(2) => req.arg_eof = stack.get(2).to_bool(),
                _ => return Err(lua_error(ctx, "bad index to ngx.arg")),
            }
            drop(guard);
            stack.clear();
            Ok(CallbackReturn::Return)
        }),
    );
    let _ = arg.set_metatable(&ctx, Some(mt));
    let _ = ngx.set(ctx, "arg", arg);
}

/// A value for `ngx.arg[1]`: a string, a number, nil or false (nothing),
/// or a table of those, concatenated (OpenResty's rules).
fn chunk_arg<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> Result<Bytes, Error<'gc>> {
    let mut out = BytesMut::new();
    let mut one = |v: Value<'gc>| -> Result<(), Error<'gc>> {
        match v {
            Value::String(s) => out.extend_from_slice(s.as_bytes()),
            Value::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Value::Number(n) => out.extend_from_slice(super::lua_number(n).as_bytes()),
            Value::Nil | Value::Boolean(false) => {}
            other => {
                return Err(lua_error(
                    ctx,
                    &format!(
                        "bad argument #1 to '?' (string, number, nil, or table expected, got {})",
                        other.type_name()
                    ),
                ))
            }
        }
        Ok(())
    };
    match v {
        Value::Table(t) => {
            for i in 1..=t.length() {
                one(t.raw_get_int(i))?;
            }
        }
        other => one(other)?,
    }
    Ok(out.freeze())
}

/// Whether an exit is delayed, as Kong's `exit` and `error` delay it
/// while its access iterator runs (`ngx.ctx.delay_response`): the
/// response is kept (`ngx.ctx.delayed_response`, with
/// `delayed_response_callback` to send it) and the call
/// `coroutine.yield()`s. At a function's top level that yield ends Kong's
/// coroutine of the plugin's handler, as the gateway's exit ends the
/// function; in a coroutine of the function's own it returns to the
/// function, which goes on, and the exit is sent when the plugin's
/// functions have run (or by the callback). Only the first exit is
/// delayed (Kong's `not ctx.delayed_response`); a later one is sent at
/// once.
fn delays<'gc>(
    ctx: Context<'gc>,
    exec: &Execution<'gc, '_>,
    req: &mut RequestContext,
    cell: &RequestCell,
    status: u16,
    content: Value<'gc>,
    headers: Value<'gc>,
) -> bool {
    if req.phase != Phase::Access || exec.current_thread().is_main || req.exit.is_some() {
        return false;
    }
    let response = ctx.new_table();
    super::set(ctx, response, "status_code", status as i64);
    super::set(ctx, response, "content", content);
    super::set(ctx, response, "headers", headers);
    let flush = pdk_callback(ctx, "delayed_response_callback", cell, (), flush_delayed);
    let ngx_ctx = req.lua_tables.ngx_ctx(ctx);
    super::set(ctx, ngx_ctx, "delayed_response", response);
    super::set(ctx, ngx_ctx, "delayed_response_callback", flush);
    true
}

/// `ngx.ctx.delayed_response_callback(ctx)`, Kong's `flush`: sends the
/// delayed exit now (the function stops, as after an exit), or raises
/// `headers have already been sent` once the head went out
/// (`ngx.send_headers()`, body_filter, log). Once the exit has been sent
/// (header_filter, a later request) there is nothing left to send.
fn flush_delayed<'gc>(
    _: &(),
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut lua_stdlib::Stack<'gc, '_>,
    req: &mut RequestContext,
) -> Result<(), Error<'gc>> {
    if req.headers_sent || matches!(req.phase, Phase::BodyFilter | Phase::Log) {
        return Err(lua_error(ctx, "headers have already been sent"));
    }
    if req.delayed_exit {
        req.delayed_exit = false;
        req.leave_function = true;
    }
    stack.clear();
    Ok(())
}

/// `exit` and `error`: records the response and stops the function. In
/// header_filter, as Kong's `send` does there, the status and headers go
/// on the response at once (a later function may still change them), the
/// body replaces the one coming, and the function goes on (`send` ends
/// with `ngx.exit(ngx.OK)`, which returns in header_filter). An error
/// page's headers stay with it: its format (and Content-Type) is settled
/// when it is rendered, after the phase. A `delayed` exit (see
/// [`delays`]) yields the function's coroutine instead.
fn exit_with(req: &mut RequestContext, mut exit: Exit, delayed: bool) {
    if req.phase != Phase::HeaderFilter {
        finish(req, exit);
        req.leave_function = true;
        req.yield_exit = delayed;
        req.delayed_exit = delayed;
        return;
    }
    req.response_status = Some(exit.status);
    if matches!(exit.body, ExitBody::KongError(_)) {
        finish(req, exit);
        return;
    }
    let headers = std::mem::take(&mut exit.headers);
    finish(req, exit);
    replace_headers(&mut req.response_headers, headers);
}

/// Records the early response. Before the response the first exit of a
/// request wins (it ends the phase); in header_filter, where an exit
/// returns, a later one replaces it, as OpenResty and Kong keep the last
/// status and body sent there.
pub(crate) fn finish(req: &mut RequestContext, exit: Exit) {
    if req.phase == Phase::HeaderFilter {
        keep_headers_of_replaced(req);
    } else if req.delayed_exit {
        // An exit after a delayed one is sent at once (Kong's `send`).
        req.delayed_exit = false;
    } else if req.exit.is_some() {
        return;
    }
    req.response_source = "exit";
    req.exit = Some(exit);
}

/// In header_filter, before a later exit replaces an error page: Kong's
/// `error` had set the page's headers on the response when it was called
/// (its Content-Type, from the function's or the client's `Accept`,
/// among them), so they stay where the later exit does not set the same
/// names. Here they were still with the page: they go on the response
/// now. (A plain exit's went on at once.)
fn keep_headers_of_replaced(req: &mut RequestContext) {
    let Some(Exit {
        body: ExitBody::KongError(_),
        headers,
        ..
    }) = req.exit.as_mut()
    else {
        return;
    };
    let mut headers = std::mem::take(headers);
    if !headers.contains_key(http::header::CONTENT_TYPE) {
        let format = error_format_header(&headers, &req.request.headers);
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(plugin_error_content_type(format.as_ref())),
        );
    }
    replace_headers(&mut req.response_headers, headers);
}

/// `exit`'s and `error`'s headers argument: nil or a table Kong's
/// `validate_headers` accepts; names as `ngx.header` writes them.
fn exit_headers<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> Result<HeaderMap, Error<'gc>> {
    let mut headers = crate::proxy::headers::spare_map();
    match v {
        Value::Nil => {}
        Value::Table(_) => {
            for header in checks::validate_headers(ctx, Names::Response, v)? {
                header.set_in(&mut headers);
            }
        }
        _ => return Err(lua_error(ctx, "headers must be a nil or table")),
    }
    Ok(headers)
}

/// Kong's `set_header`/`set_headers` ignore `Transfer-Encoding` with a
/// warning (the gateway frames the response itself).
fn framing_ignored(req: &RequestContext, name: &http::HeaderName) -> bool {
    if name != http::header::TRANSFER_ENCODING {
        return false;
    }
    warn_framing_ignored(req, name);
    true
}

/// Logs a framing header a function set and the gateway dropped, in Kong's
/// words: `manually setting Transfer-Encoding. Ignored.` (names spelled as
/// Kong spells them; `t/01-pdk/08-response/11-exit.t` TEST 44).
pub(crate) fn warn_framing_ignored(req: &RequestContext, name: &http::HeaderName) {
    let mut shown = String::with_capacity(name.as_str().len());
    let mut upper = true;
    for c in name.as_str().chars() {
        shown.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
    let msg = format!("manually setting {shown}. Ignored.");
    super::log::emit("warn", req.plugin_name, "", &msg);
}

/// [`to_json`]'s text of `v`, appended to `out`.
///
/// Written straight from the Lua value when it can be (no
/// `serde_json::Value` tree: a map, a `String` per key and string, then
/// the tree written out and dropped). What that writer leaves to
/// [`to_json`] — a table key that is not a UTF-8 string (numbers named
/// like strings, or invalid UTF-8 made alike, become one key there), and
/// any error — is done again by [`to_json`], so the text and the errors
/// are its own.
pub(crate) fn write_json<'gc>(
    ctx: Context<'gc>,
    v: Value<'gc>,
    out: &mut Vec<u8>,
) -> Result<(), Error<'gc>> {
    let mark = out.len();
    if write_direct(v, 0, out).is_some() {
        return Ok(());
    }
    out.truncate(mark);
    // Writing a tree to a `Vec` cannot fail: its keys are strings.
    let _ = serde_json::to_writer(out, &to_json(ctx, v, 0)?);
    Ok(())
}

/// [`write_json`] as a `String`.
pub(crate) fn json_string<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> Result<String, Error<'gc>> {
    let mut out = Vec::new();
    write_json(ctx, v, &mut out)?;
    // JSON is written as UTF-8 only.
    Ok(String::from_utf8(out).unwrap_or_default())
}

/// The buffers [`json_body`] keeps per thread.
struct ExitBodies {
    /// Where each body is written.
    scratch: Vec<u8>,
    /// The last body made that was not `kept`'s (up to 1 KiB).
    last: Vec<u8>,
    /// A body made twice in a row, shared by the exits that send it.
    kept: Option<Bytes>,
}

/// The longest body [`json_body`] keeps.
const KEPT_BODY_LEN: usize = 1024;

/// [`write_json`] as an exit body: written into a buffer kept per thread,
/// then copied out at its size (one allocation; a `Vec` made into
/// `Bytes` takes two unless its capacity happens to be its length).
/// A function usually answers with the same body request after request
/// (`{message = "Invalid Credentials"}`): a body made twice in a row is
/// kept, shared, and the same text again is a clone of it (a count
/// increment, no allocation). Another body costs a compare and, up to
/// 1 KiB, a copy into `last`.
fn json_body<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> Result<Bytes, Error<'gc>> {
    thread_local! {
        static BODIES: std::cell::RefCell<ExitBodies> = const {
            std::cell::RefCell::new(ExitBodies {
                scratch: Vec::new(),
                last: Vec::new(),
                kept: None,
            })
        };
    }
    BODIES.with_borrow_mut(|bodies| {
        let out = &mut bodies.scratch;
        out.clear();
        let written = write_json(ctx, v, out).map(|()| match &bodies.kept {
            Some(kept) if kept[..] == out[..] => kept.clone(),
            _ => {
                let body = Bytes::copy_from_slice(out);
                if out.len() <= KEPT_BODY_LEN {
                    if bodies.last == *out {
                        bodies.kept = Some(body.clone());
                    } else {
                        bodies.last.clear();
                        bodies.last.extend_from_slice(out);
                    }
                }
                body
            }
        });
        if out.capacity() > 64 * 1024 {
            // A large body does not stay on the worker.
            *out = Vec::new();
        }
        written
    })
}

/// `v` as JSON by [`to_json`]'s rules, with no tree; `None` where
/// [`write_json`] hands over to [`to_json`].
fn write_direct(v: Value<'_>, depth: usize, out: &mut Vec<u8>) -> Option<()> {
    if depth > 100 {
        return None;
    }
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::Integer(n) => serde_json::to_writer(out, &n).ok()?,
        Value::Number(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
            serde_json::to_writer(out, &(f as i64)).ok()?
        }
        Value::Number(f) if f.is_finite() => serde_json::to_writer(out, &f).ok()?,
        Value::String(s) => write_string(s.as_bytes(), out),
        Value::Table(t) => {
            let len = t.length();
            let array = len > 0 && {
                let mut count = 0;
                let mut key = Value::Nil;
                while let Ok(Some((k, _))) = t.next(key) {
                    count += 1;
                    key = k;
                }
                count == len
            };
            if array {
                out.push(b'[');
                for i in 1..=len {
                    if i > 1 {
                        out.push(b',');
                    }
                    write_direct(t.raw_get_int(i), depth + 1, out)?;
                }
                out.push(b']');
            } else {
                out.push(b'{');
                let mut key = Value::Nil;
                while let Ok(Some((k, v))) = t.next(key) {
                    let Value::String(name) = k else {
                        return None;
                    };
                    // A plain key is ASCII, so UTF-8.
                    if !plain_json(name.as_bytes()) {
                        std::str::from_utf8(name.as_bytes()).ok()?;
                    }
                    if !matches!(key, Value::Nil) {
                        out.push(b',');
                    }
                    write_string(name.as_bytes(), out);
                    out.push(b':');
                    write_direct(v, depth + 1, out)?;
                    key = k;
                }
                out.push(b'}');
            }
        }
        _ => return None,
    }
    Some(())
}

/// The bytes a JSON string holds as they are: printable ASCII but `"`
/// and `\` (a table: one load per byte).
static JSON_PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0x20;
    while b < 0x7f {
        t[b] = b != b'"' as usize && b != b'\\' as usize;
        b += 1;
    }
    t
};

/// Whether `s` goes into a JSON string as it is.
fn plain_json(s: &[u8]) -> bool {
    s.iter().all(|&b| JSON_PLAIN[b as usize])
}

/// A JSON string as serde_json writes the text of `s` (invalid UTF-8
/// replaced, as `to_json` does): printable ASCII but `"` and `\` as it
/// is, the rest through serde_json.
fn write_string(s: &[u8], out: &mut Vec<u8>) {
    if plain_json(s) {
        out.push(b'"');
        crate::proxy::short_copy::put_bytes(out, s);
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(out, &*String::from_utf8_lossy(s));
    }
}

/// Encodes a Lua value as JSON, as cjson does: a table whose keys are
/// 1..n is an array, any other table an object (an empty table is `{}`).
pub(crate) fn to_json<'gc>(
    ctx: Context<'gc>,
    v: Value<'gc>,
    depth: usize,
) -> Result<serde_json::Value, Error<'gc>> {
    if depth > 100 {
        return Err(lua_error(ctx, "Cannot serialise, excessive nesting (101)"));
    }
    Ok(match v {
        Value::Nil => serde_json::Value::Null,
        Value::Boolean(b) => b.into(),
        Value::Integer(n) => n.into(),
        // cjson writes numbers with %.14g: an integral float has no `.0`.
        Value::Number(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
            (f as i64).into()
        }
        Value::Number(f) => serde_json::Number::from_f64(f)
            .map(serde_json::Value::Number)
            .ok_or_else(|| lua_error(ctx, "Cannot serialise number: must not be NaN or Inf"))?,
        Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned().into(),
        Value::Table(t) => {
            let len = t.length();
            let entries = super::entries(t);
            let count = entries.len() as i64;
            if len > 0 && len == count {
                let mut items = Vec::with_capacity(len as usize);
                for i in 1..=len {
                    items.push(to_json(ctx, t.get(ctx, i), depth + 1)?);
                }
                serde_json::Value::Array(items)
            } else {
                let mut m = Map::new();
                for (k, v) in entries {
                    let key = match k {
                        Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                        Value::Integer(n) => n.to_string(),
                        Value::Number(f) => super::lua_number(f),
                        other => {
                            return Err(lua_error(
                                ctx,
                                &format!(
                                    "Cannot serialise {}: table key must be a number or string",
                                    other.type_name()
                                ),
                            ))
                        }
                    };
                    m.insert(key, to_json(ctx, v, depth + 1)?);
                }
                serde_json::Value::Object(m)
            }
        }
        other => {
            return Err(lua_error(
                ctx,
                &format!("Cannot serialise {}: type not supported", other.type_name()),
            ))
        }
    })
}

/// `kong.response.error`'s message when none is given (Kong's PDK
/// `HTTP_ERROR_MESSAGES`).
fn error_message(status: u16) -> String {
    let known = match status {
        400 => "Bad request",
        401 => "Unauthorized",
        402 => "Payment required",
        403 => "Forbidden",
        404 => "Not found",
        405 => "Method not allowed",
        406 => "Not acceptable",
        407 => "Proxy authentication required",
        408 => "Request timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length required",
        412 => "Precondition failed",
        413 => "Payload too large",
        414 => "URI too long",
        415 => "Unsupported media type",
        416 => "Range not satisfiable",
        417 => "Expectation failed",
        418 => "I'm a teapot",
        421 => "Misdirected request",
        422 => "Unprocessable entity",
        423 => "Locked",
        424 => "Failed dependency",
        425 => "Too early",
        426 => "Upgrade required",
        428 => "Precondition required",
        429 => "Too many requests",
        431 => "Request header fields too large",
        451 => "Unavailable for legal reasons",
        494 => "Request header or cookie too large",
        500 => "An unexpected error occurred",
        501 => "Not implemented",
        502 => "An invalid response was received from the upstream server",
        503 => "The upstream server is currently unavailable",
        504 => "The upstream server is timing out",
        505 => "HTTP version not supported",
        506 => "Variant also negotiates",
        507 => "Insufficient storage",
        508 => "Loop detected",
        510 => "Not extended",
        511 => "Network authentication required",
        _ => return format!("The upstream server responded with {status}"),
    };
    known.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lua_stdlib::{Budget, Chunk, Function, Outcome, Vm};

    /// Runs `source` on a bare VM to its end: the VM and what it returned.
    fn run(source: &[u8], name: &str) -> (Vm, Vec<lua_stdlib::StashedValue>) {
        let chunk = Chunk::compile(source, name).unwrap();
        let mut vm = Vm::new();
        let f = vm.enter(|ctx| ctx.stash(Function::from(chunk.load(ctx, ctx.new_table()))));
        let mut call = vm.start(&f, (), Budget::default());
        let Outcome::Finished(values) = vm.run(&mut call) else {
            panic!("the chunk failed");
        };
        (vm, values)
    }

    /// `write_json` writes what `to_json`'s tree writes, and fails as it
    /// fails; the usual bodies take the direct way.
    #[test]
    fn json_written_directly_is_the_trees() {
        let source = br#"
            local cyclic = {} cyclic.self = cyclic
            local deep = {} local at = deep for i = 1, 150 do at.x = {} at = at.x end
            local deep_ok = {} at = deep_ok for i = 1, 99 do at[1] = {} at = at[1] end
            return {
              {message = "Invalid Credentials"}, {}, {1, 2, 3}, {"a", {b = "c"}}, {p = "/a/b?c=d&e"},
              {a = {b = {c = {true, false}}}, n = 1.5, i = -7, f = 2^53, z = -0.0, e = 1e300},
              {s = "quote \" backslash \\ newline \n nul \0 bad \xff end / \u{e9}"},
              deep_ok, "plain", 42, 4.25, true,
              -- left to to_json
              {1, nil, 3}, {[1] = "a", [3] = "c"}, {1, 2, x = 3},
              {[1] = "int", ["1"] = "string"}, {[1.5] = "x", ["1.5"] = "y"},
              {["\xff"] = 1, ["\xfe"] = 2},
              {x = 0/0}, {x = 1/0}, {f = function() end}, {[true] = 1}, cyclic, deep,
            }
        "#;
        let (mut vm, values) = run(source, "=json");
        vm.enter(|ctx| {
            let Value::Table(list) = ctx.fetch(&values[0]) else {
                panic!("not a list");
            };
            for i in 1..=list.length() {
                let v = list.raw_get_int(i);
                let tree = to_json(ctx, v, 0).map(|j| serde_json::to_vec(&j).unwrap());
                let mut written = Vec::new();
                let written = write_json(ctx, v, &mut written).map(|()| written);
                match (&tree, &written) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "value {i}"),
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "value {i}"),
                    _ => panic!("value {i}: {tree:?} / {written:?}"),
                }
                let mut direct = Vec::new();
                let took_direct_way = write_direct(v, 0, &mut direct).is_some();
                assert_eq!(took_direct_way, i <= 12, "value {i}");
                if took_direct_way {
                    assert_eq!(Some(&direct), tree.as_ref().ok(), "value {i}");
                }
            }
            assert_eq!(list.length(), 24);
        });
    }

    /// An exit body is `write_json`'s text whether it is made, kept (the
    /// same body twice in a row) or a clone of the kept one, and a failed
    /// one fails as it does.
    #[test]
    fn exit_bodies_are_the_json_written() {
        // A body too long to keep, twice (the bare VM has no `string.rep`).
        let long = "x".repeat(2000);
        let source = format!(
            r#"
            local a, b = {{message = "Invalid Credentials"}}, {{message = "No"}}
            local cyclic = {{}} cyclic.self = cyclic
            return {{a, a, a, b, a, b, b, b, a, cyclic, a, {{s = "{long}"}}, {{s = "{long}"}}, a}}
        "#
        );
        let (mut vm, values) = run(source.as_bytes(), "=bodies");
        vm.enter(|ctx| {
            let Value::Table(list) = ctx.fetch(&values[0]) else {
                panic!("not a list");
            };
            assert_eq!(list.length(), 14);
            for i in 1..=list.length() {
                let v = list.raw_get_int(i);
                let mut written = Vec::new();
                let written = write_json(ctx, v, &mut written).map(|()| written);
                match (json_body(ctx, v), written) {
                    (Ok(body), Ok(text)) => assert_eq!(body[..], text[..], "value {i}"),
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "value {i}"),
                    (body, text) => panic!("value {i}: {body:?} / {text:?}"),
                }
            }
        });
    }
}
