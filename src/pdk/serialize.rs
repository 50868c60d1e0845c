//! `kong.log.serialize` and `kong.log.set_serialize_value`: the request's
//! log record as Kong's log plugins get it (Kong's `kong/pdk/log.lua`,
//! http subsystem), built from what the request path recorded
//! (`RequestContext::times`, the upstream target, the response sent).

use std::time::Instant;

use lua_stdlib::{Context, Error, Table, Value};

use super::{add, headers_table, lua_error, only_in, request, Phases, RequestCell, RequestContext};

/// How deep a `set_serialize_value` table, or an entity turned into Lua,
/// may nest.
const MAX_DEPTH: usize = 32;

/// Kong's `phases_with_ctx` for `set_serialize_value`.
const WITH_CTX: Phases = Phases::REWRITE
    .or(Phases::ACCESS)
    .or(Phases::HEADER_FILTER)
    .or(Phases::RESPONSE)
    .or(Phases::BODY_FILTER)
    .or(Phases::LOG);

/// Adds `serialize` and `set_serialize_value` to a `kong.log` facility.
/// The edits are kept where Kong keeps them, in `ngx.ctx.serialize_values`
/// (a list of `{ key = …, value = …, mode = … }`), and applied by
/// `serialize`.
pub fn install<'gc>(ctx: Context<'gc>, log: Table<'gc>, cell: &RequestCell) {
    add(
        ctx,
        log,
        "set_serialize_value",
        cell,
        |ctx, _, stack, req| {
            only_in(ctx, req, WITH_CTX)?;
            if !matches!(stack.get(0), Value::String(_)) {
                return Err(lua_error(ctx, "key must be a string"));
            }
            let mode = match stack.get(2) {
                Value::Table(o) => o.get(ctx, "mode"),
                _ => Value::Nil,
            };
            let mode = match mode {
                Value::Nil | Value::Boolean(false) => ctx.intern(b"set"),
                Value::String(m) if matches!(m.as_bytes(), b"set" | b"add" | b"replace") => m,
                _ => return Err(lua_error(ctx, "mode must be 'set', 'add' or 'replace'")),
            };
            let data = ctx.new_table();
            set(ctx, data, "key", stack.get(0));
            set(ctx, data, "value", stack.get(1));
            set(ctx, data, "mode", mode);
            let ngx_ctx = req.lua_tables.ngx_ctx(ctx);
            let list = match ngx_ctx.get(ctx, "serialize_values") {
                Value::Table(t) => t,
                _ => {
                    let t = ctx.new_table();
                    set(ctx, ngx_ctx, "serialize_values", t);
                    t
                }
            };
            let _ = list.set(ctx, list.length() + 1, data);
            stack.clear();
            Ok(())
        },
    );
    add(ctx, log, "serialize", cell, |ctx, _, stack, req| {
        only_in(ctx, req, Phases::LOG)?;
        let root = serialize(ctx, req)?;
        stack.replace(ctx, root);
        Ok(())
    });
}

fn ms(from: Instant, to: Option<Instant>) -> Option<i64> {
    to.map(|t| t.saturating_duration_since(from).as_millis() as i64)
}

fn set<'gc>(ctx: Context<'gc>, t: Table<'gc>, k: &'static str, v: impl lua_stdlib::IntoValue<'gc>) {
    let _ = t.set(ctx, k, v);
}

/// Bytes of a head as written: a line, then `name: value\r\n` each, then
/// the blank line.
fn head_size(line: usize, headers: &http::HeaderMap) -> i64 {
    let fields: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + 2 + v.len() + 2)
        .sum();
    (line + 2 + fields + 2) as i64
}

fn serialize<'gc>(ctx: Context<'gc>, req: &mut RequestContext) -> Result<Table<'gc>, Error<'gc>> {
    let root = ctx.new_table();
    let parts = &req.request;
    let uri = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_string();
    let (host, _) = request::host(req);
    let url = format!("{}://{}:{}{}", req.scheme, host, req.host_port, uri);

    let r = ctx.new_table();
    let id = req.request_id.as_ref().map_or(&b""[..], |v| v.as_bytes());
    set(ctx, r, "id", ctx.intern(id));
    set(ctx, r, "uri", ctx.intern(uri.as_bytes()));
    set(ctx, r, "url", ctx.intern(url.as_bytes()));
    set(
        ctx,
        r,
        "querystring",
        request::query_table(ctx, parts.uri.query()),
    );
    set(
        ctx,
        r,
        "method",
        ctx.intern(parts.method.as_str().as_bytes()),
    );
    let mut headers = parts.headers.clone();
    for name in [
        http::header::AUTHORIZATION,
        http::header::PROXY_AUTHORIZATION,
    ] {
        if headers.contains_key(&name) {
            headers.insert(name, http::HeaderValue::from_static("REDACTED"));
        }
    }
    set(ctx, r, "headers", headers_table(ctx, &headers));
    let line = parts.method.as_str().len() + 1 + uri.len() + " HTTP/1.1".len();
    let body = req.body.as_ref().map_or(0, |b| b.len() as i64);
    set(ctx, r, "size", head_size(line, &parts.headers) + body);
    if let Some((version, cipher)) = req.tls_session {
        // Kong's `build_tls_info`: `client_verify` is a function's
        // `ngx.ctx.CLIENT_VERIFY_OVERRIDE`, else nginx's `$ssl_client_verify`.
        let tls = ctx.new_table();
        set(ctx, tls, "version", version);
        set(ctx, tls, "cipher", cipher);
        let verify = match req
            .lua_tables
            .ngx_ctx(ctx)
            .get(ctx, "CLIENT_VERIFY_OVERRIDE")
        {
            Value::Nil => {
                let verdict = req.client_cert.as_ref().map_or("NONE", |c| c.verify);
                Value::String(ctx.intern(verdict.as_bytes()))
            }
            v => v,
        };
        set(ctx, tls, "client_verify", verify);
        set(ctx, r, "tls", tls);
    }
    set(ctx, root, "request", r);

    set(
        ctx,
        root,
        "upstream_uri",
        ctx.intern(req.upstream_uri.as_deref().unwrap_or("").as_bytes()),
    );
    let upstream_status = req
        .service_status
        .map(|s| s.to_string())
        .unwrap_or_default();
    set(
        ctx,
        root,
        "upstream_status",
        ctx.intern(upstream_status.as_bytes()),
    );

    let resp = ctx.new_table();
    let status = req.response_status.unwrap_or(0);
    set(ctx, resp, "status", i64::from(status));
    set(
        ctx,
        resp,
        "headers",
        headers_table(ctx, &req.response_headers),
    );
    set(
        ctx,
        resp,
        "size",
        head_size("HTTP/1.1 200 OK".len(), &req.response_headers) + req.times.body_bytes as i64,
    );
    set(ctx, root, "response", resp);

    let t = req.times;
    let lat = ctx.new_table();
    // Kong: KONG_PROXY_LATENCY (until the request went upstream) or
    // KONG_RESPONSE_LATENCY (until the gateway's own response), the
    // upstream's wait (KONG_WAITING_TIME, -1 when not proxied), and the
    // whole request (request_time).
    let kong_ms = ms(t.start, t.sent.or(t.head)).unwrap_or(0);
    let proxy_ms = match (t.sent, t.answered) {
        (Some(s), Some(a)) => ms(s, Some(a)).unwrap_or(-1),
        _ => -1,
    };
    let request_ms = ms(t.start, Some(t.done.unwrap_or_else(Instant::now))).unwrap_or(0);
    set(ctx, lat, "kong", kong_ms);
    set(ctx, lat, "proxy", proxy_ms);
    set(ctx, lat, "request", request_ms);
    set(ctx, lat, "receive", 0);
    set(ctx, root, "latencies", lat);

    if let Some(route) = &req.route {
        if let Ok(v) = serde_json::to_value(&**route) {
            set(ctx, root, "route", json_to_lua(ctx, &v, 0));
        }
    }
    if let Some(service) = &req.service {
        if let Ok(v) = serde_json::to_value(&**service) {
            set(ctx, root, "service", json_to_lua(ctx, &v, 0));
        }
    }
    // Who authenticated (`kong.client.authenticate`), from `ngx.ctx` as
    // Kong's `build_authenticated_entity` reads it: the credential's id
    // and its `consumer_id`, else the id of `ngx.ctx.authenticate_consumer`
    // (sic: the field Kong reads, which Kong itself never sets).
    let ngx_ctx = req.lua_tables.ngx_ctx(ctx);
    if let Value::Table(credential) = ngx_ctx.get(ctx, "authenticated_credential") {
        let entity = ctx.new_table();
        set(ctx, entity, "id", credential.get(ctx, "id"));
        let consumer_id = match credential.get(ctx, "consumer_id") {
            Value::Nil | Value::Boolean(false) => match ngx_ctx.get(ctx, "authenticate_consumer") {
                Value::Table(c) => c.get(ctx, "id"),
                _ => Value::Nil,
            },
            id => id,
        };
        set(ctx, entity, "consumer_id", consumer_id);
        set(ctx, root, "authenticated_entity", entity);
    }
    let consumer = ngx_ctx.get(ctx, "authenticated_consumer");
    set(
        ctx,
        root,
        "consumer",
        deep_copy(ctx, consumer, 0, &mut Default::default()),
    );
    // nginx's `$remote_addr`: the client as the trusted proxies name it
    // (`kong.client.get_forwarded_ip`), not the peer.
    set(
        ctx,
        root,
        "client_ip",
        ctx.intern(req.client.ip.to_string().as_bytes()),
    );
    set(ctx, root, "started_at", req.started_ms());
    // Kong's `TYPE_NAMES[kong.response.get_source(ctx)]`.
    let source = match super::response::get_source(ctx, req) {
        "service" => "upstream",
        _ => "kong",
    };
    set(ctx, root, "source", source);

    if let Value::Table(list) = req.lua_tables.ngx_ctx(ctx).get(ctx, "serialize_values") {
        for i in 1..=list.length() {
            let Value::Table(item) = list.get(ctx, i) else {
                continue;
            };
            let (Value::String(key), Value::String(mode)) =
                (item.get(ctx, "key"), item.get(ctx, "mode"))
            else {
                continue;
            };
            let mode = match mode.as_bytes() {
                b"add" => Mode::Add,
                b"replace" => Mode::Replace,
                _ => Mode::Set,
            };
            let key = String::from_utf8_lossy(key.as_bytes());
            edit(ctx, root, &key, item.get(ctx, "value"), mode)?;
        }
    }
    Ok(root)
}

/// Kong's `cycle_aware_deep_copy`: tables are copied (a table met twice
/// is copied once, so cycles stay cycles; metatables are kept), keys are
/// not. Past [`MAX_DEPTH`] levels a table is shared, not copied.
fn deep_copy<'gc>(
    ctx: Context<'gc>,
    v: Value<'gc>,
    depth: usize,
    copies: &mut std::collections::HashMap<*const (), Table<'gc>>,
) -> Value<'gc> {
    let Value::Table(t) = v else {
        return v;
    };
    if depth >= MAX_DEPTH {
        return v;
    }
    if let Some(copy) = copies.get(&t.as_ptr()) {
        return Value::Table(*copy);
    }
    let copy = ctx.new_table();
    copies.insert(t.as_ptr(), copy);
    let mut key = Value::Nil;
    while let Ok(Some((k, item))) = t.next(key) {
        let _ = copy.set(ctx, k, deep_copy(ctx, item, depth + 1, copies));
        key = k;
    }
    if let Some(mt) = t.metatable() {
        let _ = copy.set_metatable(&ctx, Some(mt));
    }
    Value::Table(copy)
}

/// How a `set_serialize_value` edit applies.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Set,
    Add,
    Replace,
}

/// Kong's `is_valid_value`: nil, `ngx.null`, a number, a string, a
/// boolean, or a table of those (keys strings, numbers or booleans) in
/// which no table is met twice (so a cycle, or a table shared twice, is
/// refused, and checking takes one visit per table), nesting at most
/// [`MAX_DEPTH`] levels.
fn valid<'gc>(
    ctx: Context<'gc>,
    v: Value<'gc>,
    depth: usize,
    visited: &mut std::collections::HashSet<*const ()>,
) -> bool {
    match v {
        Value::Nil
        | Value::Boolean(_)
        | Value::Integer(_)
        | Value::Number(_)
        | Value::String(_) => true,
        Value::UserData(_) => v.raw_eq(lua_stdlib::ext::null(ctx)),
        Value::Table(t) if depth < MAX_DEPTH && visited.insert(t.as_ptr()) => {
            let mut key = Value::Nil;
            while let Ok(Some((k, v))) = t.next(key) {
                let key_ok = matches!(
                    k,
                    Value::String(_) | Value::Integer(_) | Value::Number(_) | Value::Boolean(_)
                );
                if !key_ok || !valid(ctx, v, depth + 1, visited) {
                    return false;
                }
                key = k;
            }
            true
        }
        _ => false,
    }
}

/// Kong's `edit_result`: a dotted key (`\.` for a dot inside a name)
/// walks down the record, making tables for `set` and `add`.
fn edit<'gc>(
    ctx: Context<'gc>,
    root: Table<'gc>,
    key: &str,
    value: Value<'gc>,
    mode: Mode,
) -> Result<(), Error<'gc>> {
    if !valid(ctx, value, 0, &mut Default::default()) {
        return Err(lua_error(
            ctx,
            "value must be nil, a number, string, boolean or a non-self-referencial table containing numbers, string and booleans",
        ));
    }
    let mut names = Vec::new();
    let mut current = String::new();
    let mut prev = '\0';
    for c in key.chars() {
        if c == '.' && prev != '\\' && !current.is_empty() {
            names.push(std::mem::take(&mut current));
        } else if c == '.' && prev == '\\' {
            current.pop();
            current.push('.');
        } else {
            current.push(c);
        }
        prev = c;
    }
    names.push(current);
    let (last, path) = names.split_last().expect("one name at least");
    let mut node = root;
    for name in path {
        let k = ctx.intern(name.as_bytes());
        match node.raw_get(Value::String(k)) {
            Value::Nil if mode == Mode::Replace => return Ok(()),
            Value::Nil => {
                let t = ctx.new_table();
                let _ = node.set(ctx, k, t);
                node = t;
            }
            Value::Table(t) => node = t,
            other => {
                return Err(lua_error(
                    ctx,
                    &format!(
                        "The key '{key}' could not be used as a serialize value. Subkey '{name}' is not a table. It's {}",
                        show(other)
                    ),
                ))
            }
        }
    }
    let k = ctx.intern(last.as_bytes());
    let existing = node.raw_get(Value::String(k));
    let write = match mode {
        Mode::Set => true,
        Mode::Add => matches!(existing, Value::Nil),
        Mode::Replace => !matches!(existing, Value::Nil),
    };
    if write {
        let _ = node.set(ctx, k, value);
    }
    Ok(())
}

fn show(v: Value<'_>) -> String {
    match v {
        Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        Value::Integer(n) => n.to_string(),
        Value::Number(n) => super::lua_number(n),
        Value::Boolean(b) => b.to_string(),
        other => other.type_name().to_string(),
    }
}

/// A JSON value as Lua (entities for the record); `null` is left out, as
/// Kong's tables hold `nil` there. Deeper than [`MAX_DEPTH`] is cut.
fn json_to_lua<'gc>(ctx: Context<'gc>, v: &serde_json::Value, depth: usize) -> Value<'gc> {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Number(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Value::String(ctx.intern(s.as_bytes())),
        _ if depth >= MAX_DEPTH => Value::Nil,
        serde_json::Value::Array(items) => {
            let t = ctx.new_table();
            for (i, item) in items.iter().enumerate() {
                let _ = t.set(ctx, i as i64 + 1, json_to_lua(ctx, item, depth + 1));
            }
            Value::Table(t)
        }
        serde_json::Value::Object(map) => {
            let t = ctx.new_table();
            for (k, item) in map {
                let _ = t.set(
                    ctx,
                    ctx.intern(k.as_bytes()),
                    json_to_lua(ctx, item, depth + 1),
                );
            }
            Value::Table(t)
        }
    }
}
