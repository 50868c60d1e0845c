//! The `kong` PDK and the `ngx` shim, as lua-stdlib callbacks.
//!
//! One VM per worker builds these tables once (the sandbox then freezes
//! them: no function can replace `kong.request.get_method` for the
//! others); every callback reads and writes the current request through a
//! shared [`RequestCell`] that the phase runner fills before each slice of
//! a function and empties afterwards (calls of several requests interleave
//! on one worker). One file per PDK module, each with an `install`
//! function that adds its callbacks.

mod body;
mod cache;
mod checks;
pub mod client;
pub mod configuration;
mod ctx;
mod glue;
mod inspect;
mod ip;
mod kong_tracing;
mod log;
mod lru;
mod nginx;
mod ngx;
pub mod node;
mod phases;
pub mod rate_limiting;
mod request;
mod response;
mod router;
mod serialize;
mod service;
pub mod shared;
pub mod worker;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use lua_stdlib::{Callback, CallbackReturn, Context, Error, Execution, Stack, Table, Value};

use crate::entities::{Route, Service};

pub use ctx::LuaTables;
pub(crate) use phases::{only_in, Phases};
pub(crate) use response::warn_framing_ignored;

/// Kong's request phases, in the order a request goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// During a TLS handshake, once per connection, before any request
    /// (global plugins only); see [`CERTIFICATE_PHASE_PDK`].
    Certificate,
    Rewrite,
    Access,
    HeaderFilter,
    BodyFilter,
    Log,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Certificate => "certificate",
            Phase::Rewrite => "rewrite",
            Phase::Access => "access",
            Phase::HeaderFilter => "header_filter",
            Phase::BodyFilter => "body_filter",
            Phase::Log => "log",
        }
    }
}

/// How a request ends early (`kong.response.exit`, `ngx.exit`, an error).
#[derive(Debug)]
pub struct Exit {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: ExitBody,
}

#[derive(Debug)]
pub enum ExitBody {
    /// Sent as given.
    Bytes(Bytes),
    /// Kong's standard error page for this message, rendered by the proxy
    /// in the format the client's `Accept` asks for.
    KongError(String),
    /// No response at all: `ngx.exit(ngx.ERROR)`, after which nginx
    /// finalizes the request with `NGX_ERROR` and closes the connection
    /// (an HTTP/2 stream is reset); log still runs.
    Close,
}

/// Everything the PDK can see and change of one request.
pub struct RequestContext {
    pub phase: Phase,
    /// Method, URI, version and headers of the client request. The headers
    /// are also what goes upstream: `kong.service.request.set_header` edits
    /// them, as `ngx.req.set_header` does in Kong.
    pub request: http::request::Parts,
    pub client_addr: SocketAddr,
    /// The client as the node's trusted proxies name it (nginx's
    /// `$remote_addr`/`$remote_port` after its realip module), fixed when
    /// the request arrived: functions that change its headers do not
    /// move it.
    pub client: crate::trust::Client,
    pub server_port: u16,
    /// The port as clients reach it (`--port-maps`; Kong's
    /// `ngx.ctx.host_port`).
    pub host_port: u16,
    /// The source the connection's PROXY protocol header named
    /// (`ngx.var.proxy_protocol_addr`/`_port`), trusted or not.
    pub proxy_protocol: Option<SocketAddr>,
    pub scheme: &'static str,
    /// The TLS session's protocol and cipher, OpenSSL's names.
    pub tls_session: Option<(&'static str, &'static str)>,
    /// The client's certificate (`kong.client.tls`).
    pub client_cert: Option<Arc<crate::tls::client_auth::ClientCert>>,
    /// What the certificate phase asks of the handshake.
    pub handshake: crate::tls::client_auth::HandshakeAsks,
    /// The normalised request path the router matched, when it is not
    /// the request's own (see [`RequestContext::path`]).
    path: Option<String>,
    /// The request body, when the proxy read it for the functions.
    pub body: Option<Bytes>,
    pub route: Option<Arc<Route>>,
    pub service: Option<Arc<Service>>,
    /// Regex captures of the matched route path.
    pub captures: Option<crate::proxy::router::UriCaptures>,
    /// The prefix `strip_path` takes off (`get_forwarded_prefix`).
    pub stripped: Option<StrippedPrefix>,
    /// Epoch milliseconds when the request arrived, worked out when first
    /// asked ([`RequestContext::started_ms`]: no clock read per request).
    started_ms: std::cell::Cell<Option<i64>>,
    /// Set by `kong.service.request.set_path` / `set_raw_query` / `ngx.var.args`.
    pub upstream_path: Option<String>,
    pub upstream_query: Option<String>,
    pub upstream_body: Option<Bytes>,
    /// The response as it will be sent: the upstream's in header_filter and
    /// log, or headers set in access for whatever response comes.
    pub response_status: Option<u16>,
    pub response_headers: HeaderMap,
    /// Where the response came from: "exit", "error" or "service" (Kong's
    /// `KONG_EXITED`, `KONG_UNEXPECTED`, `KONG_PROXIED`), or "" for none
    /// (`ngx.exit` before the proxy).
    pub response_source: &'static str,
    /// Output of `ngx.say`/`ngx.print`, sent by a following `ngx.exit`
    /// (or after `ngx.send_headers`).
    pub printed: Vec<u8>,
    /// `ngx.send_headers()` was called in rewrite or access (Kong's
    /// `ngx.headers_sent`): the head is the response's, whatever comes
    /// after it.
    pub headers_sent: bool,
    /// Set by `kong.response.exit`, `kong.response.error` and `ngx.exit`
    /// before header_filter: the running function stops at once (its
    /// callback suspends the call and the runner drops it) and so does its
    /// phase; after `ngx.exit(ngx.OK)` the request goes on to the next.
    pub leave_function: bool,
    /// Set with `leave_function` by an exit that is delayed (see
    /// `response::delays`): the call yields the coroutine it runs in
    /// instead of stopping.
    pub yield_exit: bool,
    /// `exit` holds a delayed exit that has not been sent yet: it goes out
    /// when the access function that made it returns (or its
    /// `ngx.ctx.delayed_response_callback` is called), and an exit made
    /// meanwhile replaces it, as Kong's `send` does.
    pub delayed_exit: bool,
    pub exit: Option<Exit>,
    /// The running plugin's name, for `kong.log` prefixes.
    pub plugin_name: &'static str,
    /// The SNI of a TLS connection (`ngx.ssl.server_name()`).
    pub server_name: Option<String>,
    /// The running plugin's id (selects `kong.ctx.plugin`).
    pub plugin_id: Option<uuid::Uuid>,
    /// `kong.ctx.shared` and the `kong.ctx.plugin` tables of this request,
    /// made on first use.
    pub lua_tables: LuaTables,
    /// The upstream `Host` set by `kong.service.request.set_header("Host", …)`.
    pub upstream_host: Option<HeaderValue>,
    /// The upstream scheme set by `kong.service.request.set_scheme`
    /// (`true`: https).
    pub upstream_https: Option<bool>,
    /// `kong.service.set_target`, `set_upstream`, `set_retries`,
    /// `set_timeouts`.
    pub balancer: crate::proxy::pipeline::Balancer,
    /// The Upstreams `set_upstream` may name (none when none is configured).
    pub balancers: Option<Arc<crate::proxy::balancer::Balancers>>,
    /// `kong.service.request.enable_buffering` was called: the service's
    /// whole body is read before `header_filter`.
    pub buffered_proxying: bool,
    /// That body (`kong.service.response.get_raw_body`).
    pub service_body: Option<Bytes>,
    /// The service's response as it arrived (`kong.service.response.*`):
    /// `None` when the upstream was not called or did not answer.
    pub service_status: Option<u16>,
    pub service_headers: Option<HeaderMap>,
    /// body_filter's `ngx.arg[1]` (the chunk) and `ngx.arg[2]` (eof).
    pub arg_chunk: Bytes,
    pub arg_eof: bool,
    /// `kong.response.get_raw_body`'s buffer (Kong's `KONG_BODY_BUFFER`).
    pub body_buffer: Option<bytes::BytesMut>,
    /// Timings and sizes for `kong.log.serialize` (filled for log).
    pub times: Times,
    /// `X-Kong-Request-Id`.
    pub request_id: Option<HeaderValue>,
    /// The request target sent upstream (path and query).
    pub upstream_uri: Option<String>,
    /// A request whose target the HTTP/1 server could not read (it
    /// refused the head, `proxy::refused`): nginx's `$request_uri` is
    /// empty there, and so is `kong.request.get_path_with_query()`.
    pub no_target: bool,
}

/// The prefix `strip_path` takes off the path: usually the request's own
/// path up to a length, escaped when a function asks for it (nothing
/// copied or escaped per request).
#[derive(Debug, Clone)]
pub enum StrippedPrefix {
    /// The first bytes of the request's own path.
    Head(usize),
    Escaped(String),
}

/// When things happened to a request, and how much was sent.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    /// The request started (its head's first bytes arrived).
    pub start: std::time::Instant,
    /// The request went to the upstream.
    pub sent: Option<std::time::Instant>,
    /// The upstream's response head arrived.
    pub answered: Option<std::time::Instant>,
    /// The response head was ready to go out.
    pub head: Option<std::time::Instant>,
    /// The response was sent (or abandoned).
    pub done: Option<std::time::Instant>,
    /// Response body bytes sent to the client.
    pub body_bytes: u64,
}

impl RequestContext {
    pub fn new(
        request: http::request::Parts,
        client_addr: SocketAddr,
        server_port: u16,
        path: Option<String>,
    ) -> Self {
        let client = crate::trust::node().client(client_addr, None, &request.headers);
        let start = std::time::Instant::now();
        Self::for_request(request, client_addr, server_port, path, client, start)
    }

    /// A request's context with who the client is and when the request
    /// arrived, as the proxy settled them (no second trust look-up or
    /// clock read per request).
    pub fn for_request(
        request: http::request::Parts,
        client_addr: SocketAddr,
        server_port: u16,
        path: Option<String>,
        client: crate::trust::Client,
        start: std::time::Instant,
    ) -> Self {
        RequestContext {
            phase: Phase::Access,
            request,
            client_addr,
            client,
            server_port,
            host_port: server_port,
            proxy_protocol: None,
            scheme: "http",
            tls_session: None,
            client_cert: None,
            handshake: Default::default(),
            path,
            body: None,
            route: None,
            service: None,
            captures: None,
            stripped: None,
            started_ms: std::cell::Cell::new(None),
            upstream_path: None,
            upstream_query: None,
            upstream_body: None,
            response_status: None,
            response_headers: HeaderMap::new(),
            response_source: "service",
            printed: Vec::new(),
            headers_sent: false,
            leave_function: false,
            yield_exit: false,
            delayed_exit: false,
            exit: None,
            plugin_name: "",
            server_name: None,
            plugin_id: None,
            lua_tables: LuaTables::default(),
            upstream_host: None,
            upstream_https: None,
            balancer: Default::default(),
            balancers: None,
            buffered_proxying: false,
            service_body: None,
            service_status: None,
            service_headers: None,
            arg_chunk: Bytes::new(),
            arg_eof: false,
            body_buffer: None,
            times: Times {
                start,
                sent: None,
                answered: None,
                head: None,
                done: None,
                body_bytes: 0,
            },
            request_id: None,
            upstream_uri: None,
            no_target: false,
        }
    }

    /// Makes this context (a finished request's, in the worker's spare
    /// box) the context of a new request, field by field, as
    /// [`RequestContext::for_request`] starts one: assigning a whole new
    /// value built its ~1.5 KB on the stack and copied it into the box.
    /// Every field is named (no `..`): one added to the context does not
    /// compile here until it is reset too. The request head is swapped in
    /// from `request`, which gets the one this context held (the empty
    /// head its last request left, see [`recycle_context`]): the head
    /// moves without a copy through a temporary.
    fn refill(
        &mut self,
        request: &mut http::request::Parts,
        client_addr: SocketAddr,
        server_port: u16,
        path: Option<String>,
        client: crate::trust::Client,
        start: std::time::Instant,
    ) {
        let RequestContext {
            phase: f_phase,
            request: f_request,
            client_addr: f_client_addr,
            client: f_client,
            server_port: f_server_port,
            host_port: f_host_port,
            proxy_protocol: f_proxy_protocol,
            scheme: f_scheme,
            tls_session: f_tls_session,
            client_cert: f_client_cert,
            handshake: f_handshake,
            path: f_path,
            body: f_body,
            route: f_route,
            service: f_service,
            captures: f_captures,
            stripped: f_stripped,
            started_ms: f_started_ms,
            upstream_path: f_upstream_path,
            upstream_query: f_upstream_query,
            upstream_body: f_upstream_body,
            response_status: f_response_status,
            response_headers: f_response_headers,
            response_source: f_response_source,
            printed: f_printed,
            headers_sent: f_headers_sent,
            leave_function: f_leave_function,
            yield_exit: f_yield_exit,
            delayed_exit: f_delayed_exit,
            exit: f_exit,
            plugin_name: f_plugin_name,
            server_name: f_server_name,
            plugin_id: f_plugin_id,
            lua_tables: f_lua_tables,
            upstream_host: f_upstream_host,
            upstream_https: f_upstream_https,
            balancer: f_balancer,
            balancers: f_balancers,
            buffered_proxying: f_buffered_proxying,
            service_body: f_service_body,
            service_status: f_service_status,
            service_headers: f_service_headers,
            arg_chunk: f_arg_chunk,
            arg_eof: f_arg_eof,
            body_buffer: f_body_buffer,
            times: f_times,
            request_id: f_request_id,
            upstream_uri: f_upstream_uri,
            no_target: f_no_target,
        } = self;
        *f_phase = Phase::Access;
        std::mem::swap(f_request, request);
        *f_client_addr = client_addr;
        *f_client = client;
        *f_server_port = server_port;
        *f_host_port = server_port;
        *f_proxy_protocol = None;
        *f_scheme = "http";
        *f_tls_session = None;
        *f_client_cert = None;
        *f_handshake = Default::default();
        *f_path = path;
        *f_body = None;
        *f_route = None;
        *f_service = None;
        *f_captures = None;
        *f_stripped = None;
        *f_started_ms = std::cell::Cell::new(None);
        *f_upstream_path = None;
        *f_upstream_query = None;
        *f_upstream_body = None;
        *f_response_status = None;
        *f_response_headers = HeaderMap::new();
        *f_response_source = "service";
        *f_printed = Vec::new();
        *f_headers_sent = false;
        *f_leave_function = false;
        *f_yield_exit = false;
        *f_delayed_exit = false;
        *f_exit = None;
        *f_plugin_name = "";
        *f_server_name = None;
        *f_plugin_id = None;
        *f_lua_tables = LuaTables::default();
        *f_upstream_host = None;
        *f_upstream_https = None;
        *f_balancer = Default::default();
        *f_balancers = None;
        *f_buffered_proxying = false;
        *f_service_body = None;
        *f_service_status = None;
        *f_service_headers = None;
        *f_arg_chunk = Bytes::new();
        *f_arg_eof = false;
        *f_body_buffer = None;
        *f_times = Times {
            start,
            sent: None,
            answered: None,
            head: None,
            done: None,
            body_bytes: 0,
        };
        *f_request_id = None;
        *f_upstream_uri = None;
        *f_no_target = false;
    }

    /// Epoch milliseconds when the request arrived (when its head was
    /// read): the same on every call.
    pub fn started_ms(&self) -> i64 {
        if let Some(ms) = self.started_ms.get() {
            return ms;
        }
        let now = std::time::SystemTime::now();
        let arrived = now.checked_sub(self.times.start.elapsed()).unwrap_or(now);
        let ms = arrived
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        self.started_ms.set(Some(ms));
        ms
    }

    /// The normalised request path the router matched.
    pub fn path(&self) -> &str {
        self.path
            .as_deref()
            .unwrap_or_else(|| self.request.uri.path())
    }

    /// The prefix `strip_path` takes off the path, escaped.
    pub fn stripped_prefix(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self.stripped.as_ref()? {
            StrippedPrefix::Head(n) => self
                .request
                .uri
                .path()
                .as_bytes()
                .get(..*n)
                .map(crate::proxy::normalize::escape_path),
            StrippedPrefix::Escaped(p) => Some(std::borrow::Cow::Borrowed(p)),
        }
    }

    /// The context of a TLS handshake's `certificate` phase: a client and
    /// a server name, no request.
    pub fn for_handshake(
        client_addr: SocketAddr,
        server_port: u16,
        server_name: Option<&str>,
    ) -> Self {
        let (parts, ()) = http::Request::new(()).into_parts();
        let mut req = RequestContext::new(parts, client_addr, server_port, Some(String::new()));
        req.phase = Phase::Certificate;
        req.scheme = "https";
        req.server_name = server_name.map(str::to_string);
        req
    }
}

/// What Lua may call in the `certificate` phase (Kong's PDK phase tables:
/// `kong.client.get_ip`/`get_port` and their forwarded forms,
/// `kong.request.get_port`, `kong.log`, plus `ngx.log`, `ngx.exit`,
/// `ngx.get_phase` and `ngx.ssl.server_name`). Everything else that needs
/// a request raises Kong's phase error. Functions that need no request
/// (`ngx.time`, `ngx.re`, `kong.log.*` …) are not registered through
/// [`add`] and are always allowed.
const CERTIFICATE_PHASE_PDK: &[&str] = &[
    "get_ip",
    "get_forwarded_ip",
    "get_port",
    "get_forwarded_port",
    "log",
    "exit",
    "get_phase",
    "server_name",
    // `kong.client.tls` (checks its own phases, with Kong's errors).
    "request_client_certificate",
    "disable_session_reuse",
    "get_full_client_certificate_chain",
    "set_client_verify",
];

/// The current request, shared by all PDK callbacks of one VM (boxed: the
/// runner moves it in and out at every slice).
pub type RequestCell = Rc<RefCell<Option<Box<RequestContext>>>>;

thread_local! {
    /// The box of the last finished request's context, for the next
    /// request's on this worker thread ([`boxed_context`]).
    static SPARE_CONTEXT: std::cell::Cell<Option<Box<RequestContext>>> =
        const { std::cell::Cell::new(None) };
}

/// A request's context ([`RequestContext::for_request`]), boxed: in the
/// box [`recycle_context`] kept, if any, filled in place. The head is
/// taken from `request`, left empty. A request
/// context is about 1.5 KB, above glibc's per-thread cache of small
/// blocks: a new box costs a malloc and a free of ~540 instructions.
pub fn boxed_context(
    request: &mut http::request::Parts,
    client_addr: SocketAddr,
    server_port: u16,
    path: Option<String>,
    client: crate::trust::Client,
    start: std::time::Instant,
) -> Box<RequestContext> {
    match SPARE_CONTEXT.take() {
        Some(mut spare) => {
            spare.refill(request, client_addr, server_port, path, client, start);
            spare
        }
        None => Box::new(RequestContext::for_request(
            std::mem::replace(request, http::Request::new(()).into_parts().0),
            client_addr,
            server_port,
            path,
            client,
            start,
        )),
    }
}

/// Keeps `req`'s box for the next [`boxed_context`] on this thread. What
/// may be large (bodies) or is the Lua VM's (`kong.ctx` tables) is dropped
/// now; the rest (small values, the entities' `Arc`s) when the box is
/// filled again. The caller took the request head out (it may hold the
/// client's read buffer), leaving an empty one for the next request to
/// swap its own with.
pub fn recycle_context(mut req: Box<RequestContext>) {
    req.body = None;
    req.upstream_body = None;
    req.service_body = None;
    req.body_buffer = None;
    req.printed = Vec::new();
    req.lua_tables = LuaTables::default();
    SPARE_CONTEXT.set(Some(req));
}

/// Builds the `kong` and `ngx` globals into `env`.
pub fn install<'gc>(ctx: Context<'gc>, env: Table<'gc>, cell: &RequestCell) {
    let kong = ctx.new_table();
    set(ctx, kong, "version", env!("CARGO_PKG_VERSION"));
    set(ctx, kong, "version_num", 1000);
    request::install(ctx, env, kong, cell);
    response::install(ctx, kong, cell);
    service::install(ctx, env, kong, cell);
    client::install(ctx, kong, cell);
    router::install(ctx, kong, cell);
    log::install(ctx, env, kong, cell);
    ctx::install(ctx, kong, cell);
    configuration::install(ctx, env, kong);
    cache::install(ctx, env, kong);
    ip::install(ctx, kong);
    node::install(ctx, kong);
    nginx::install(ctx, kong);
    set(ctx, env, "kong", kong);
    ngx::install(ctx, env, kong, cell);
    response::install_ngx_arg(ctx, env, cell);
    kong_tracing::install(ctx, env, kong);
}

/// Sets a string key, which cannot fail.
pub(crate) fn set<'gc>(
    ctx: Context<'gc>,
    t: Table<'gc>,
    key: &'static str,
    v: impl lua_stdlib::IntoValue<'gc>,
) {
    let _ = t.set(ctx, key, v);
}

/// A PDK function: reads its arguments from `stack`, answers into it.
type PdkFn = for<'gc> fn(
    Context<'gc>,
    &mut Execution<'gc, '_>,
    &mut Stack<'gc, '_>,
    &mut RequestContext,
) -> Result<(), Error<'gc>>;

/// Registers `f` as `t[name]`, giving it the current request. Calling it
/// outside a request (e.g. at chunk load) raises a Lua error.
pub(crate) fn add<'gc>(
    ctx: Context<'gc>,
    t: Table<'gc>,
    name: &'static str,
    cell: &RequestCell,
    f: PdkFn,
) {
    add_with(ctx, t, name, cell, f, |f, ctx, exec, stack, req| {
        f(ctx, exec, stack, req)
    });
}

/// Like `add`, for a function that also gets `data` (shared code for
/// several PDK modules).
pub(crate) fn add_with<'gc, D: 'static>(
    ctx: Context<'gc>,
    t: Table<'gc>,
    name: &'static str,
    cell: &RequestCell,
    data: D,
    f: PdkFnWith<D>,
) {
    let _ = t.set(ctx, name, pdk_callback(ctx, name, cell, data, f));
}

/// A PDK function that also gets `data`.
pub(crate) type PdkFnWith<D> = for<'a> fn(
    &D,
    Context<'a>,
    &mut Execution<'a, '_>,
    &mut Stack<'a, '_>,
    &mut RequestContext,
) -> Result<(), Error<'a>>;

/// The callback [`add_with`] registers as `name`.
pub(crate) fn pdk_callback<'gc, D: 'static>(
    ctx: Context<'gc>,
    name: &'static str,
    cell: &RequestCell,
    data: D,
    f: PdkFnWith<D>,
) -> Callback<'gc> {
    let cell = cell.clone();
    Callback::from_fn(&ctx, move |ctx, mut exec, mut stack| {
        let mut guard = cell.borrow_mut();
        let Some(req) = guard.as_mut() else {
            return Err(lua_error(ctx, &format!("{name}: no request in progress")));
        };
        if req.phase == Phase::Certificate && !CERTIFICATE_PHASE_PDK.contains(&name) {
            return Err(lua_error(ctx, &Phases::REQUEST.error(req.phase)));
        }
        f(&data, ctx, &mut exec, &mut stack, req)?;
        if req.leave_function {
            if std::mem::take(&mut req.yield_exit) {
                // A delayed exit in a coroutine of the function's own:
                // Kong's `coroutine.yield()`, back to the function.
                req.leave_function = false;
                return Ok(CallbackReturn::Yield {
                    to_thread: None,
                    then: None,
                });
            }
            // An exit: suspend the call; the runner sees the flag and drops
            // it, so nothing after the exit runs (`pcall` cannot catch it).
            return Ok(CallbackReturn::Wait { then: None });
        }
        Ok(CallbackReturn::Return)
    })
}

/// A table's entries (raw `next` order).
pub(crate) fn entries<'gc>(t: Table<'gc>) -> Vec<(Value<'gc>, Value<'gc>)> {
    let mut out = Vec::new();
    let mut key = Value::Nil;
    while let Ok(Some((k, v))) = t.next(key) {
        out.push((k, v));
        key = k;
    }
    out
}

/// `ngx.req.set_header`, `add_header` and `clear_header`, with
/// OpenResty's looser checks (a nil value clears); Kong's setters
/// (`kong.response`, `kong.service.request`) check their arguments with
/// [`checks`].
fn add_ngx_req_header_functions<'gc>(ctx: Context<'gc>, t: Table<'gc>, cell: &RequestCell) {
    add(ctx, t, "set_header", cell, |ctx, _, stack, req| {
        let name = header_name_arg(ctx, stack, 0)?;
        let values = match stack.get(1) {
            Value::Nil => Vec::new(),
            v => header_values_arg(ctx, v)?,
        };
        let headers = &mut req.request.headers;
        headers.remove(&name);
        for v in values {
            headers.append(name.clone(), v);
        }
        stack.clear();
        Ok(())
    });
    add(ctx, t, "add_header", cell, |ctx, _, stack, req| {
        let name = header_name_arg(ctx, stack, 0)?;
        for v in header_values_arg(ctx, stack.get(1))? {
            req.request.headers.append(name.clone(), v);
        }
        stack.clear();
        Ok(())
    });
    add(ctx, t, "clear_header", cell, |ctx, _, stack, req| {
        name_arg(ctx, stack, 0)?.remove(&mut req.request.headers)?;
        stack.clear();
        Ok(())
    });
}

pub(crate) fn lua_error<'gc>(ctx: Context<'gc>, msg: &str) -> Error<'gc> {
    Error::from_value(Value::String(ctx.intern(msg.as_bytes())))
}

/// Whether `b` may appear in a request line as given: not a control
/// character, a space or DEL (OpenResty's `ngx.req.set_uri` check).
pub(crate) fn request_line_safe(b: &[u8]) -> bool {
    !b.iter().any(|&c| c <= b' ' || c == 0x7f)
}

/// A string that goes into the upstream request line as it is (a raw query
/// or URI): a control character or a space would end the line early and
/// let the rest be read as another request, so it raises a Lua error.
pub(crate) fn request_line_arg<'gc>(
    ctx: Context<'gc>,
    what: &str,
    s: String,
) -> Result<String, Error<'gc>> {
    if request_line_safe(s.as_bytes()) {
        Ok(s)
    } else {
        Err(lua_error(
            ctx,
            &format!(
                "attempt to use unsafe {what} (control characters and spaces are not allowed)"
            ),
        ))
    }
}

/// Argument `i` (0-based) as bytes, if it is a string or a number.
pub(crate) fn arg_bytes(stack: &Stack<'_, '_>, i: usize) -> Option<Vec<u8>> {
    value_bytes(stack.get(i))
}

/// A string, or a number as its text ([`lua_number`]).
fn value_bytes(v: Value<'_>) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(n) => Some(n.to_string().into_bytes()),
        Value::Number(n) => Some(lua_number(n).into_bytes()),
        _ => None,
    }
}

/// The text of a value Kong's Lua calls `:lower()` on: a string or a
/// number; anything else raises what that call raises.
pub(crate) fn lower_arg<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> Result<Vec<u8>, Error<'gc>> {
    value_bytes(v).ok_or_else(|| {
        lua_error(
            ctx,
            &format!(
                "bad argument #1 to 'lower' (string expected, got {})",
                v.type_name()
            ),
        )
    })
}

/// A float as text where the PDK writes numbers (header values, query
/// arguments, bodies): `%.14g` as LuaJIT's `tostring` prints it, so an
/// integral float has no `.0` (`set_header("x", 10/2)` sends `5`, as Kong
/// does). Lua's own `tostring` stays lua5.4's (`5.0`).
pub(crate) fn lua_number(n: f64) -> String {
    let s = lua_stdlib::number::float_to_string(n);
    match s.strip_suffix(".0") {
        Some(integral) => integral.to_string(),
        None => s,
    }
}

pub(crate) fn arg_string(stack: &Stack<'_, '_>, i: usize) -> Option<String> {
    arg_bytes(stack, i).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// A header name given from Lua, read by Kong's rule (in one place for
/// every PDK function): any case, and `_` counts as `-` when `dashes`
/// (every getter, as Kong's `get_header` documents; the setters of
/// response headers, as nginx's `lua_transform_underscores_in_response_headers`
/// does under Kong). Getters look it up as it is: a `HeaderName` costs an
/// allocation for every name `http` does not know.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NameArg<'a> {
    bytes: &'a [u8],
    dashes: bool,
}

/// Each byte of a header name in lowercase, 0 for a byte no header name
/// can have (RFC 9110's `tchar`: what `http::HeaderName` accepts).
const NAME_BYTES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() {
            table[b] = c.to_ascii_lowercase();
        }
        b += 1;
    }
    let symbols = b"!#$%&'*+-.^_`|~";
    let mut i = 0;
    while i < symbols.len() {
        table[symbols[i] as usize] = symbols[i];
        i += 1;
    }
    table
};

/// `http`'s longest header name.
const MAX_NAME_LEN: usize = (1 << 16) - 1;

/// Header names recently given from Lua, parsed ([`NameArg::with_name`]):
/// up to `NAME_CACHE` names of up to `CACHED_NAME_LEN` bytes per worker
/// thread, the oldest dropped first.
const NAME_CACHE: usize = 8;
const CACHED_NAME_LEN: usize = 64;

struct CachedName {
    /// The argument as Lua gave it.
    arg: Box<[u8]>,
    dashes: bool,
    name: HeaderName,
}

thread_local! {
    static NAMES: RefCell<Vec<CachedName>> = const { RefCell::new(Vec::new()) };
}

impl<'a> NameArg<'a> {
    pub(crate) fn new(bytes: &'a [u8], dashes: bool) -> Self {
        NameArg { bytes, dashes }
    }

    /// The byte of the name as sent (lowercase; `-` for `_` when dashes;
    /// 0 for a byte no name can have).
    fn byte(self, b: u8) -> u8 {
        match NAME_BYTES[b as usize] {
            b'_' if self.dashes => b'-',
            c => c,
        }
    }

    /// Whether the name can be a header name at all.
    pub(crate) fn is_valid(self) -> bool {
        !self.bytes.is_empty()
            && self.bytes.len() <= MAX_NAME_LEN
            && self.bytes.iter().all(|&b| NAME_BYTES[b as usize] != 0)
    }

    /// Whether `name` is the header this argument names (never, for an
    /// invalid name).
    pub(crate) fn matches(self, name: &HeaderName) -> bool {
        let name = name.as_str().as_bytes();
        if name.len() != self.bytes.len() {
            return false;
        }
        // Usually the name is given as sent: one comparison.
        if name == self.bytes {
            return !(self.dashes && self.bytes.contains(&b'_'));
        }
        name.iter()
            .zip(self.bytes)
            .all(|(&n, &b)| n == self.byte(b))
    }

    /// The first value of the header among the first `lines` of
    /// `headers` (in `HeaderMap::iter` order).
    pub(crate) fn get(self, headers: &HeaderMap, lines: usize) -> Option<&HeaderValue> {
        if lines >= headers.len() {
            // All of them: the map's own look-up finds the first value.
            return self.with_name(|name| headers.get(name?));
        }
        headers
            .iter()
            .take(lines)
            .find_map(|(name, value)| self.matches(name).then_some(value))
    }

    /// Removes every value of the header from `headers`; false for an
    /// invalid name.
    pub(crate) fn remove(self, headers: &mut HeaderMap) -> bool {
        self.with_name(|name| name.map(|name| headers.remove(name)).is_some())
    }

    /// `f` of the header this argument names (`None`: the name is
    /// invalid). Names are parsed once per worker thread: a function
    /// names the same few headers on every request, and `HeaderMap`
    /// would parse a `&str` name again at every call.
    fn with_name<R>(self, f: impl FnOnce(Option<&HeaderName>) -> R) -> R {
        if self.bytes.len() > CACHED_NAME_LEN {
            return f(self.to_name().ok().as_ref());
        }
        NAMES.with_borrow_mut(|names| {
            let found = names
                .iter()
                .position(|c| c.dashes == self.dashes && *c.arg == *self.bytes);
            let i = match found {
                Some(i) => i,
                None => {
                    let Ok(name) = self.to_name() else {
                        return f(None);
                    };
                    if names.len() == NAME_CACHE {
                        names.remove(0);
                    }
                    names.push(CachedName {
                        arg: self.bytes.into(),
                        dashes: self.dashes,
                        name,
                    });
                    names.len() - 1
                }
            };
            f(Some(&names[i].name))
        })
    }

    /// The name as sent: a `HeaderName` (for setters).
    pub(crate) fn to_name(self) -> Result<HeaderName, http::header::InvalidHeaderName> {
        if self.dashes && self.bytes.contains(&b'_') {
            let sent: Vec<u8> = self.bytes.iter().map(|&b| self.byte(b)).collect();
            HeaderName::from_bytes(&sent)
        } else {
            HeaderName::from_bytes(self.bytes)
        }
    }
}

/// A header name argument of a getter or of `ngx`'s setters (`_` counts
/// as `-`); an invalid name raises `invalid header name "…"`.
#[derive(Clone, Copy)]
pub(crate) struct HeaderArg<'gc> {
    ctx: Context<'gc>,
    name: NameArg<'gc>,
}

pub(crate) fn name_arg<'gc>(
    ctx: Context<'gc>,
    stack: &Stack<'gc, '_>,
    i: usize,
) -> Result<HeaderArg<'gc>, Error<'gc>> {
    let Value::String(name) = stack.get(i) else {
        return Err(lua_error(ctx, "header name must be a string"));
    };
    Ok(HeaderArg {
        ctx,
        name: NameArg::new(name.as_bytes(), true),
    })
}

impl<'gc> HeaderArg<'gc> {
    fn invalid(self) -> Error<'gc> {
        let shown = String::from_utf8_lossy(self.name.bytes);
        lua_error(
            self.ctx,
            &format!("invalid header name \"{}\"", shown.escape_debug()),
        )
    }

    /// The first value of the header in `headers` (a name that is not
    /// found is checked then: an invalid one raises).
    pub(crate) fn get<'h>(
        self,
        headers: &'h HeaderMap,
    ) -> Result<Option<&'h HeaderValue>, Error<'gc>> {
        self.get_in_first(headers, usize::MAX)
    }

    /// [`HeaderArg::get`] among the first `lines` header lines (Kong's
    /// `get_headers()[name]`).
    pub(crate) fn get_in_first<'h>(
        self,
        headers: &'h HeaderMap,
        lines: usize,
    ) -> Result<Option<&'h HeaderValue>, Error<'gc>> {
        match self.name.get(headers, lines) {
            None if !self.name.is_valid() => Err(self.invalid()),
            found => Ok(found),
        }
    }

    /// Removes every value of the header from `headers`.
    pub(crate) fn remove(self, headers: &mut HeaderMap) -> Result<(), Error<'gc>> {
        if self.name.remove(headers) {
            Ok(())
        } else {
            Err(self.invalid())
        }
    }

    /// The name as sent, for setters.
    pub(crate) fn to_name(self) -> Result<HeaderName, Error<'gc>> {
        self.name.to_name().map_err(|_| self.invalid())
    }
}

/// [`name_arg`] as a `HeaderName`, for setters.
pub(crate) fn header_name_arg<'gc>(
    ctx: Context<'gc>,
    stack: &Stack<'gc, '_>,
    i: usize,
) -> Result<HeaderName, Error<'gc>> {
    name_arg(ctx, stack, i)?.to_name()
}

/// A header value argument: a string, a number, or a table of them.
pub(crate) fn header_values_arg<'gc>(
    ctx: Context<'gc>,
    v: Value<'gc>,
) -> Result<Vec<HeaderValue>, Error<'gc>> {
    let one = |v: Value<'gc>| -> Result<HeaderValue, Error<'gc>> {
        let bytes = match v {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Integer(n) => n.to_string().into_bytes(),
            Value::Number(n) => lua_number(n).into_bytes(),
            Value::Boolean(b) => b.to_string().into_bytes(),
            other => {
                return Err(lua_error(
                    ctx,
                    &format!("invalid header value: {} given", other.type_name()),
                ))
            }
        };
        HeaderValue::from_bytes(&bytes).map_err(|_| lua_error(ctx, "invalid header value"))
    };
    match v {
        Value::Table(t) => (1..=t.length()).map(|i| one(t.raw_get_int(i))).collect(),
        other => Ok(vec![one(other)?]),
    }
}

/// A Lua table of headers: lowercase names, several values as an array.
pub(crate) fn headers_table<'gc>(ctx: Context<'gc>, headers: &HeaderMap) -> Table<'gc> {
    let t = ctx.new_table();
    for name in headers.keys() {
        let values: Vec<&HeaderValue> = headers.get_all(name).iter().collect();
        let key = ctx.intern(name.as_str().as_bytes());
        if values.len() == 1 {
            let _ = t.set(ctx, key, ctx.intern(values[0].as_bytes()));
        } else {
            let list = ctx.new_table();
            for (i, v) in values.iter().enumerate() {
                let _ = list.set(ctx, i as i64 + 1, ctx.intern(v.as_bytes()));
            }
            let _ = t.set(ctx, key, list);
        }
    }
    header_lookup_metatable(ctx, t);
    t
}

/// [`headers_table`] of the first `max` header lines, and whether some
/// were left out (Kong's `get_headers(max_headers)` answers `"truncated"`).
pub(crate) fn headers_table_limited<'gc>(
    ctx: Context<'gc>,
    headers: &HeaderMap,
    max: usize,
) -> (Table<'gc>, bool) {
    if headers.len() <= max {
        return (headers_table(ctx, headers), false);
    }
    let mut limited = HeaderMap::new();
    for (name, value) in headers.iter().take(max) {
        limited.append(name.clone(), value.clone());
    }
    (headers_table(ctx, &limited), true)
}

/// Lets `headers["X-Foo"]` and `headers.x_foo` find `x-foo`, as Kong's
/// header tables do.
fn header_lookup_metatable<'gc>(ctx: Context<'gc>, t: Table<'gc>) {
    let mt = ctx.new_table();
    let index = Callback::from_fn(&ctx, |ctx, _, mut stack| {
        let v = match (stack.get(0), stack.get(1)) {
            (Value::Table(t), Value::String(s)) => {
                let norm = String::from_utf8_lossy(s.as_bytes())
                    .to_ascii_lowercase()
                    .replace('_', "-");
                t.raw_get(Value::String(ctx.intern(norm.as_bytes())))
            }
            _ => Value::Nil,
        };
        stack.replace(ctx, v);
        Ok(CallbackReturn::Return)
    });
    let _ = mt.set(ctx, "__index", index);
    let _ = t.set_metatable(&ctx, Some(mt));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `NameArg`'s idea of a valid name is `http`'s, byte for byte.
    #[test]
    fn a_name_is_valid_when_http_takes_it() {
        for b in 0..=255u8 {
            for name in [vec![b], vec![b'x', b, b'y']] {
                assert_eq!(
                    NameArg::new(&name, false).is_valid(),
                    HeaderName::from_bytes(&name).is_ok(),
                    "{name:?}"
                );
            }
        }
        assert!(!NameArg::new(b"", true).is_valid());
        let longest = vec![b'a'; MAX_NAME_LEN];
        assert!(NameArg::new(&longest, true).is_valid());
        assert!(HeaderName::from_bytes(&longest).is_ok());
        let longer = vec![b'a'; MAX_NAME_LEN + 1];
        assert!(!NameArg::new(&longer, true).is_valid());
        assert!(HeaderName::from_bytes(&longer).is_err());
    }

    /// Any case; `_` is `-` only with dashes, and never matches a `_` the
    /// client sent.
    #[test]
    fn a_name_is_found_by_kongs_rule() {
        let mut headers = HeaderMap::new();
        headers.append("x-custom-auth", HeaderValue::from_static("one"));
        headers.append("x-custom-auth", HeaderValue::from_static("two"));
        headers.append("x_under", HeaderValue::from_static("u"));
        headers.append(http::header::HOST, HeaderValue::from_static("h"));
        let get = |name: &str, dashes| {
            NameArg::new(name.as_bytes(), dashes)
                .get(&headers, usize::MAX)
                .map(|v| v.to_str().unwrap().to_string())
        };
        assert_eq!(get("X-Custom_Auth", true).as_deref(), Some("one"));
        assert_eq!(get("X-Custom_Auth", false), None);
        assert_eq!(get("x_under", true), None);
        assert_eq!(get("x_under", false).as_deref(), Some("u"));
        assert_eq!(get("HOST", true).as_deref(), Some("h"));
        assert_eq!(get("x-custom", true), None);

        assert!(NameArg::new(b"X_CUSTOM_AUTH", true).remove(&mut headers));
        assert!(!NameArg::new(b"x custom", true).remove(&mut headers));
        assert!(headers.get("x-custom-auth").is_none());
        let long = "x".repeat(100);
        headers.append(
            HeaderName::from_bytes(long.as_bytes()).unwrap(),
            HeaderValue::from_static("l"),
        );
        assert!(NameArg::new(long.to_uppercase().as_bytes(), true).remove(&mut headers));
        assert_eq!(headers.len(), 2, "{headers:?}");
        assert_eq!(
            NameArg::new(b"A_b", true).to_name().unwrap().as_str(),
            "a-b"
        );
        assert_eq!(
            NameArg::new(b"A_b", false).to_name().unwrap().as_str(),
            "a_b"
        );
    }
}
