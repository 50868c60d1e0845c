//! The hooks of a route with serverless functions ([`Functions`], run by
//! `pipeline::run`), and the TLS handshake's `certificate` phase.
//!
//! rewrite and access run before the upstream call (an exit or an error
//! answers the client without calling the upstream); header_filter runs on
//! the response head, whichever it is; body_filter runs per chunk of the
//! streamed body and log once it has been sent (`filter::Filtered`).
//! The response's framing stays the gateway's throughout.

use std::time::Instant;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, SERVER, TRANSFER_ENCODING};
use http::{HeaderValue, Method, Response, StatusCode};

use super::body::ProxyBody;
use super::client::OutgoingBody;
use super::context::WorkerContext;
use super::errors::{
    error_format_header, error_response, negotiation_header, plugin_error_response, ProxyError,
};
use super::filter::Filtered;
use super::headers::{
    add_missing_headers, latency_value, replace_headers, strip_framing, SERVER_VALUE,
    X_KONG_PROXY_LATENCY, X_KONG_REQUEST_ID, X_KONG_RESPONSE_LATENCY, X_KONG_UPSTREAM_LATENCY,
};
use super::inbound::{read_whole, ClientBodyError};
use super::pipeline::{Hooks, NoResponse, Session, Source};
use crate::pdk::{Exit, ExitBody, Phase, RequestContext, StrippedPrefix};
use crate::plugins::serverless::{any_for, run_phase, LuaWorker};
use crate::plugins::{CompiledPlugin, PhaseSet, PluginList};
use crate::tls::client_auth::HandshakeAsks;

/// Request bodies up to this size are read for functions
/// (`kong.request.get_raw_body`); a larger one is a 413.
const MAX_BUFFERED_BODY: usize = 8 * 1024 * 1024;

/// The rest of `body`, whole; `None` when it fails or passes `limit`.
async fn buffer_body(body: &mut ProxyBody, limit: usize) -> Option<Bytes> {
    use http_body_util::BodyExt;
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.ok()?.into_data() {
            if out.len() + data.len() > limit {
                return None;
            }
            out.extend_from_slice(&data);
        }
    }
    Some(out.freeze())
}

/// Which phases a route's functions need.
#[derive(Debug, Clone, Copy)]
pub struct Needs {
    pub rewrite: bool,
    pub access: bool,
    pub header_filter: bool,
    pub body_filter: bool,
    pub log: bool,
}

impl Needs {
    fn of(
        plugins: &[std::sync::Arc<CompiledPlugin>],
        global: &[std::sync::Arc<CompiledPlugin>],
    ) -> Self {
        let (own, global) = (PhaseSet::of(plugins), PhaseSet::of(global));
        Needs {
            rewrite: global.has(Phase::Rewrite),
            access: own.has(Phase::Access),
            header_filter: own.has(Phase::HeaderFilter),
            body_filter: own.has(Phase::BodyFilter),
            log: own.has(Phase::Log),
        }
    }

    fn any(self) -> bool {
        self.rewrite || self.access || self.header_filter || self.body_filter || self.log
    }

    /// A phase after the head needs the service's own response.
    fn late(self) -> bool {
        self.header_filter || self.body_filter || self.log
    }
}

/// The request's functions, as hooks on the request path. The plugin
/// lists are the configuration snapshot's, borrowed (a body_filter or log
/// phase clones the route's for the body it outlives).
pub struct Functions<'a> {
    plugins: &'a PluginList,
    /// The global plugins: the only ones with a rewrite phase, as in Kong
    /// (a route's own plugin of the same name does not replace them there).
    global: &'a PluginList,
    needs: Needs,
    /// The request as the PDK sees it, from the first hook on.
    req: Option<Box<RequestContext>>,
    /// The request went upstream (the session holds its head meanwhile).
    forwarded: bool,
}

impl<'a> Functions<'a> {
    /// The hooks for a route's plugins; `None` when no function of theirs
    /// runs on requests (the route takes `NoHooks`).
    pub fn for_route(plugins: &'a PluginList, global: &'a PluginList) -> Option<Self> {
        Self::with_needs(plugins, global, Needs::of(plugins, global))
    }

    /// The hooks of the global plugins for a request no route matched:
    /// as Kong, their rewrite runs (before routing there) and may answer,
    /// then the 404 goes through header_filter, body_filter and log;
    /// access never runs (Kong answers 404 before it).
    pub fn for_unrouted(global: &'a PluginList) -> Option<Self> {
        let needs = Needs {
            access: false,
            ..Needs::of(global, global)
        };
        Self::with_needs(global, global, needs)
    }

    /// The hooks of the global plugins for a request the HTTP/1 server
    /// refused (`refused`): Kong's error handler location runs neither
    /// rewrite nor access, so only header_filter, body_filter and log run,
    /// on the gateway's answer, once [`Functions::refused_request`] gave
    /// them the request. `None` when no global function has those phases.
    pub fn for_refused(global: &'a PluginList) -> Option<Self> {
        let needs = Needs {
            rewrite: false,
            access: false,
            ..Needs::of(global, global)
        };
        Self::with_needs(global, global, needs)
    }

    /// The request a refused head's functions see: the session's head (no
    /// route, no normalised path), answered by the gateway ("error");
    /// `no_target` when the server could not read its target.
    pub fn refused_request(&mut self, s: &mut Session<'_>, no_target: bool) {
        let mut req = request_context(s, None);
        req.response_source = "error";
        req.no_target = no_target;
        s.source = Source::Error;
        self.req = Some(req);
    }

    fn with_needs(plugins: &'a PluginList, global: &'a PluginList, needs: Needs) -> Option<Self> {
        needs.any().then_some(Functions {
            plugins,
            global,
            needs,
            req: None,
            forwarded: false,
        })
    }
}

/// The PDK's context for the session's request, its head swapped out of
/// the session (for the empty one the box held), in the box the worker's
/// last request left (`boxed_context`).
fn request_context(s: &mut Session<'_>, path: Option<String>) -> Box<RequestContext> {
    // Who the client is was settled when the request arrived (its PROXY
    // header included).
    let mut req =
        crate::pdk::boxed_context(s.parts, s.conn.peer, s.conn.port, path, s.client, s.start);
    req.proxy_protocol = s.conn.proxy_protocol;
    req.host_port = s.conn.host_port;
    req.scheme = s.conn.scheme();
    req.tls_session = s.conn.tls_session;
    req.client_cert = s.conn.client_cert.clone();
    req.request_id = Some(s.request_id.clone());
    req
}

/// A response recorded before the proxy: the service's only if nothing
/// answered (`ngx.exit`'s "" is the function's answer, as an exit's).
fn source_of(name: &str) -> Source {
    match name {
        "service" => Source::Service,
        "error" => Source::Error,
        _ => Source::Exit,
    }
}

impl Hooks for Functions<'_> {
    async fn request(&mut self, s: &mut Session<'_>, out: &mut Response<ProxyBody>) -> bool {
        // The request's own path unless normalising changed it.
        let path = s
            .normalized()
            .map(|n| String::from_utf8_lossy(n).into_owned());
        // The prefix `strip_path` cuts: a length of the request's own path
        // (escaped if a function asks for it), or escaped now when
        // normalising changed the path.
        let stripped_prefix = match s.normalized() {
            None => s.stripped_len().map(StrippedPrefix::Head),
            Some(_) => s
                .stripped_prefix()
                .map(|p| StrippedPrefix::Escaped(p.into_owned())),
        };
        let mut req = request_context(s, path);
        req.route = s.matched.route.map(|r| r.route.clone());
        req.service = s.matched.upstream.map(|u| u.service.clone());
        if !s.matched.balancers.is_empty() {
            req.balancers = Some(s.matched.balancers.clone());
        }
        req.captures = s.captures.take();
        req.stripped = stripped_prefix;
        s.record_target = self.needs.log;
        let worker: &WorkerContext = s.worker;

        // Functions may read the body: read it whole (bounded) before access.
        if self.needs.access || self.needs.rewrite {
            if let Some(OutgoingBody::Stream(body)) = s.body.take() {
                match read_whole(body, MAX_BUFFERED_BODY, worker.timeouts.body).await {
                    Ok(bytes) => req.body = Some(bytes),
                    Err(e) => {
                        tracing::info!(worker = worker.id, client = %s.conn.peer, error = %e, "client error");
                        let accept = negotiation_header(&req.request.headers);
                        *out = match e {
                            ClientBodyError::TooLarge(_) => plugin_error_response(
                                StatusCode::PAYLOAD_TOO_LARGE,
                                "Payload too large",
                                accept,
                                &s.request_id,
                                s.start,
                            ),
                            ClientBodyError::Timeout => error_response(
                                ProxyError::RequestTimeout,
                                accept,
                                &s.request_id,
                                s.start,
                            ),
                            ClientBodyError::Malformed(_) => error_response(
                                ProxyError::BadRequest,
                                accept,
                                &s.request_id,
                                s.start,
                            ),
                        };
                        req.response_source = "error";
                        s.source = Source::Error;
                        self.req = Some(req);
                        return true;
                    }
                }
            }
        }

        if self.needs.rewrite {
            // As in Kong, only global plugins have a rewrite phase.
            req = run_phase(&worker.lua, Phase::Rewrite, self.global, req).await;
        }
        if self.needs.access && req.exit.is_none() {
            req = run_phase(&worker.lua, Phase::Access, self.plugins, req).await;
        }
        req.answer_sent_head();
        if let Some(exit) = req.exit.take() {
            exit_response(exit, &mut req, &s.request_id, s.start, out);
            s.source = source_of(req.response_source);
            self.req = Some(req);
            return true;
        }

        // What goes upstream: a body the functions set, or the one read for them.
        match (req.upstream_body.take(), &req.body) {
            (Some(b), _) => s.body = Some(whole_body(&mut req.request.headers, b)),
            (None, Some(b)) => s.body = Some(whole_body(&mut req.request.headers, b.clone())),
            (None, None) => {}
        }
        s.upstream.path = req.upstream_path.clone();
        s.upstream.query = req.upstream_query.clone();
        s.upstream.host = req.upstream_host.clone();
        s.upstream.https = req.upstream_https;
        s.upstream.balancer = std::mem::take(&mut req.balancer);
        // The head goes upstream; the session's empty one waits in its
        // place (swapped: nothing made or dropped).
        std::mem::swap(s.parts, &mut req.request);
        self.forwarded = true;
        self.req = Some(req);
        false
    }

    async fn response(&mut self, s: &mut Session<'_>, resp: &mut Response<ProxyBody>) {
        let Some(mut req) = self.req.take() else {
            return;
        };
        if NoResponse::is(resp) {
            // No header is sent: header_filter does not run (log does).
            self.req = Some(req);
            return;
        }
        let worker: &WorkerContext = s.worker;
        if self.forwarded {
            std::mem::swap(&mut req.request, s.parts);
            req.response_source = s.source.name();
            if s.source == Source::Service && self.needs.late() {
                req.service_status = Some(resp.status().as_u16());
                let mut own = resp.headers().clone();
                // What the gateway added is not the service's.
                for name in [
                    &X_KONG_UPSTREAM_LATENCY,
                    &X_KONG_PROXY_LATENCY,
                    &X_KONG_REQUEST_ID,
                ] {
                    own.remove(name);
                }
                req.service_headers = Some(own);
            }
            if req.buffered_proxying && s.source == Source::Service {
                // `kong.service.request.enable_buffering`: the whole body
                // before header_filter (Kong reads it with a subrequest;
                // one it cannot read is a 502).
                match buffer_body(resp.body_mut(), MAX_BUFFERED_BODY).await {
                    Some(body) => {
                        *resp.body_mut() = ProxyBody::full(body.clone());
                        req.service_body = Some(body);
                    }
                    None => {
                        *resp = error_response(
                            ProxyError::BadGateway,
                            negotiation_header(&req.request.headers),
                            &s.request_id,
                            s.start,
                        );
                        s.source = Source::Error;
                        req.response_source = s.source.name();
                    }
                }
            }
            // Headers set in access apply to whatever response comes back.
            if !req.response_headers.is_empty() {
                let mut set_in_access = std::mem::take(&mut req.response_headers);
                drop_framing_set_by(&mut set_in_access, &req);
                replace_headers(resp.headers_mut(), set_in_access);
            }
        }
        if self.needs.header_filter {
            // The upstream's length (checked against its framing), shown to
            // the functions and put back after them.
            let length: Vec<HeaderValue> = resp
                .headers()
                .get_all(CONTENT_LENGTH)
                .iter()
                .cloned()
                .collect();
            req.response_status = Some(resp.status().as_u16());
            req.response_headers = std::mem::take(resp.headers_mut());
            req = run_phase(&worker.lua, Phase::HeaderFilter, self.plugins, req).await;
            let mut headers = std::mem::take(&mut req.response_headers);
            // The upstream's Content-Length is put back below.
            strip_framing(&mut headers, |name| {
                if name != CONTENT_LENGTH {
                    crate::pdk::warn_framing_ignored(&req, name);
                }
            });
            if let Some(status) = req
                .response_status
                .and_then(|s| StatusCode::from_u16(s).ok())
            {
                *resp.status_mut() = status;
            }
            if let Some(mut exit) = req.exit.take() {
                // An exit in header_filter replaces the body that was coming;
                // its status is on the response already (the phase's last word).
                let status = resp.status();
                let body = match exit.body {
                    ExitBody::Close => {
                        // Nothing is sent: nginx's header filter failed.
                        *resp = NoResponse::response();
                        s.source = Source::Exit;
                        req.response_source = "exit";
                        self.req = Some(req);
                        return;
                    }
                    ExitBody::Bytes(b) => ProxyBody::full(b),
                    ExitBody::KongError(m) => {
                        // Kong's error page (`kong.response.error`, or
                        // nginx's error handler after `ngx.exit(404)`), in
                        // the format a Content-Type the function gave or
                        // the client's Accept asks for.
                        let format = error_format_header(&exit.headers, &req.request.headers);
                        let page = plugin_error_response(
                            status,
                            &m,
                            format.as_ref(),
                            &s.request_id,
                            s.start,
                        );
                        if let Some(ct) = page.headers().get(CONTENT_TYPE) {
                            exit.headers.entry(CONTENT_TYPE).or_insert(ct.clone());
                        }
                        page.into_body()
                    }
                };
                let mut replaced = Response::new(body);
                *replaced.status_mut() = status;
                drop_framing_set_by(&mut exit.headers, &req);
                replace_headers(&mut headers, exit.headers);
                *replaced.headers_mut() = headers;
                *resp = replaced;
                s.source = Source::Exit;
                req.response_source = "exit";
            } else {
                for v in length {
                    headers.append(CONTENT_LENGTH, v);
                }
                *resp.headers_mut() = headers;
            }
        }
        if resp.status().is_informational() {
            // A 1xx status cannot end a request: the client would wait for the
            // real response, or take what follows for another protocol.
            tracing::error!(target: "lunagate::lua", status = resp.status().as_u16(), "a function set an informational status as the final response");
            let accept = negotiation_header(&req.request.headers);
            *resp = plugin_error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "An unexpected error occurred",
                accept,
                &s.request_id,
                s.start,
            );
            s.source = Source::Error;
            req.response_source = "error";
        }
        if self.needs.body_filter && !bodiless(&req.request.method, resp.status()) {
            // body_filter may change the body: its length is the gateway's
            // to work out again (chunked), never the upstream's.
            resp.headers_mut().remove(CONTENT_LENGTH);
        }
        self.req = Some(req);
    }

    fn body(&mut self, s: &mut Session<'_>, resp: &mut Response<ProxyBody>) {
        let Some(mut req) = self.req.take() else {
            return;
        };
        if !self.needs.body_filter && !self.needs.log {
            // The request is done: its head goes back to its connection
            // (whose map serves the next head), the session's empty one
            // for the rest of this request, and the box serves the next
            // request's context (unless the head stayed in the session: a
            // forwarded request with no response).
            if !(self.forwarded && NoResponse::is(resp)) {
                std::mem::swap(&mut req.request, s.parts);
                crate::pdk::recycle_context(req);
            }
            return;
        }
        // A response never sent (`ngx.exit(ngx.ERROR)`) has nginx's status
        // 0 there.
        let status = if NoResponse::is(resp) {
            0
        } else {
            resp.status().as_u16()
        };
        req.response_status = Some(status);
        // What body_filter (`ngx.header`, `kong.response.get_header`) and
        // log (`kong.log.serialize`) read.
        req.response_headers = resp.headers().clone();
        req.times.sent = s.timing.sent;
        req.times.answered = s.timing.answered;
        req.times.head = Some(Instant::now());
        req.upstream_uri = s.upstream_target.take();
        let filter = self.needs.body_filter && !bodiless(&req.request.method, resp.status());
        let body = std::mem::replace(resp.body_mut(), ProxyBody::Full(None));
        *resp.body_mut() = ProxyBody::Filtered(Box::new(Filtered::new(
            s.worker.clone(),
            self.plugins.clone(),
            req,
            body,
            filter,
            self.needs.log,
        )));
    }
}

/// Responses that carry no body whatever their headers say.
fn bodiless(method: &Method, status: StatusCode) -> bool {
    *method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status.is_informational()
}

/// Runs the global plugins' `certificate` functions for a TLS handshake,
/// as Kong does between the ClientHello and the certificate: what they
/// ask of the handshake (`kong.client.tls`), or `None` when one of them
/// ended it (`ngx.exit(ngx.ERROR)` or any exit but `ngx.exit(ngx.OK)`, or
/// an error), and the handshake is then aborted.
pub fn certificate_phase(
    ctx: &WorkerContext,
    plugins: &[std::sync::Arc<CompiledPlugin>],
    peer: std::net::SocketAddr,
    port: u16,
    server_name: Option<&str>,
) -> Option<HandshakeAsks> {
    if !any_for(plugins, Phase::Certificate) {
        return Some(HandshakeAsks::default());
    }
    let req = Box::new(RequestContext::for_handshake(peer, port, server_name));
    // The handshake waits for it: the phase runs to its end (under the
    // same budgets) without returning to the event loop.
    let req = ctx
        .lua
        .borrow_mut()
        .get_or_insert_with(LuaWorker::new)
        .run_phase(Phase::Certificate, plugins, req);
    if let Some(exit) = &req.exit {
        tracing::info!(worker = ctx.id, client = %peer, status = exit.status, "TLS handshake ended by the certificate phase");
        return None;
    }
    Some(req.handshake.clone())
}

/// A whole body replaces the client's framing with a `Content-Length`.
fn whole_body(headers: &mut http::HeaderMap, body: Bytes) -> OutgoingBody {
    headers.remove(TRANSFER_ENCODING);
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    OutgoingBody::Whole(body)
}

/// The response for `kong.response.exit`, `ngx.exit` or a failed function,
/// written into `out` (a new response: an exit with a body is filled in
/// place).
fn exit_response(
    exit: Exit,
    req: &mut RequestContext,
    request_id: &HeaderValue,
    start: Instant,
    out: &mut Response<ProxyBody>,
) {
    let status = StatusCode::from_u16(exit.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut set_before = std::mem::take(&mut req.response_headers);
    drop_framing_set_by(&mut set_before, req);
    let mut exit_headers = exit.headers;
    drop_framing_set_by(&mut exit_headers, req);
    match exit.body {
        ExitBody::Close => *out = NoResponse::response(),
        ExitBody::KongError(message) => {
            let mut resp = plugin_error_response(
                status,
                &message,
                error_format_header(&exit_headers, &req.request.headers).as_ref(),
                request_id,
                start,
            );
            replace_headers(resp.headers_mut(), set_before);
            replace_headers(resp.headers_mut(), exit_headers);
            *out = resp;
        }
        ExitBody::Bytes(body) => {
            // The exit's headers win over those set before it, which win
            // over the gateway's: built on the exit's own map (often just
            // a JSON body's Content-Type), not on a second one.
            let mut headers = exit_headers;
            add_missing_headers(&mut headers, set_before);
            // Which of the gateway's names the exit set: one look at its
            // few names, then a hashed insert for each missing one only
            // (three `entry` look-ups cost more).
            let mut has = [false; 3];
            for name in headers.keys() {
                has[0] |= name == SERVER;
                has[1] |= name == X_KONG_RESPONSE_LATENCY;
                has[2] |= name == X_KONG_REQUEST_ID;
            }
            if !has[0] {
                headers.append(SERVER, SERVER_VALUE.clone());
            }
            if !has[1] {
                headers.append(&X_KONG_RESPONSE_LATENCY, latency_value(start.elapsed()));
            }
            if !has[2] {
                headers.append(&X_KONG_REQUEST_ID, request_id.clone());
            }
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            *out.body_mut() = ProxyBody::full(body);
        }
    }
}

/// Drops the framing headers functions set for the response (the gateway
/// owns framing: the server writes it from the body sent) and logs each, as
/// Kong logs `manually setting Transfer-Encoding. Ignored.`
fn drop_framing_set_by(headers: &mut http::HeaderMap, req: &RequestContext) {
    strip_framing(headers, |name| crate::pdk::warn_framing_ignored(req, name));
}
