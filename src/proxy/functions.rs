//! Serverless functions on the proxy path: a route whose plugins have Lua
//! functions goes through here instead of straight to `forward`.
//!
//! rewrite and access run before the upstream call (an exit or an error
//! answers the client without calling the upstream); header_filter runs on
//! the response head; log runs once the response is ready to be sent.
//! body_filter functions are not run yet (the response body streams).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, SERVER, TRANSFER_ENCODING};
use http::{HeaderValue, Response, StatusCode};
use hyper::body::{Body, Incoming};

use super::body::ProxyBody;
use super::client::OutgoingBody;
use super::errors::{error_response, negotiation_header, plugin_error_response, ProxyError};
use super::forward::{forward, Matched, Overrides, WorkerContext};
use super::headers::{
    latency_value, strip_framing, ConnInfo, SERVER_VALUE, X_KONG_REQUEST_ID,
    X_KONG_RESPONSE_LATENCY,
};
use super::inbound::{read_whole, ClientBodyError};
use super::router::UriCaptures;
use crate::pdk::{Exit, ExitBody, Phase, RequestContext};
use crate::plugins::serverless::{LuaWorker, PhaseRun};
use crate::plugins::CompiledPlugin;

/// Request bodies up to this size are read for functions
/// (`kong.request.get_raw_body`); a larger one is a 413.
const MAX_BUFFERED_BODY: usize = 8 * 1024 * 1024;

/// Whether any plugin of the route has functions for a phase we run.
pub fn has_work(plugins: &[Arc<CompiledPlugin>]) -> bool {
    plugins.iter().any(|p| {
        p.phases
            .iter()
            .any(|(phase, f)| *phase != Phase::Certificate && !f.is_empty())
    })
}

/// Runs the global plugins' `certificate` functions for a TLS handshake,
/// as Kong does between the ClientHello and the certificate: false when
/// one of them ended it (`ngx.exit(ngx.ERROR)` or any exit but
/// `ngx.exit(ngx.OK)`, or an error), and the handshake is then aborted.
pub fn certificate_phase(
    ctx: &WorkerContext,
    plugins: &[Arc<CompiledPlugin>],
    peer: std::net::SocketAddr,
    port: u16,
    server_name: Option<&str>,
) -> bool {
    if !any_for(plugins, Phase::Certificate) {
        return true;
    }
    let req = RequestContext::for_handshake(peer, port, server_name);
    // The handshake waits for it: the phase runs to its end (under the
    // same budgets) without returning to the event loop.
    let req = ctx
        .lua
        .borrow_mut()
        .get_or_insert_with(LuaWorker::new)
        .run_phase(Phase::Certificate, plugins, req);
    if let Some(exit) = &req.exit {
        tracing::info!(worker = ctx.id, client = %peer, status = exit.status, "TLS handshake ended by the certificate phase");
        return false;
    }
    true
}

fn any_for(plugins: &[Arc<CompiledPlugin>], phase: Phase) -> bool {
    plugins.iter().any(|p| !p.functions(phase).is_empty())
}

/// Runs a phase on the worker's VM (made on first use). Between slices of
/// a long function the worker's event loop runs its other requests (whose
/// functions may run on the same VM meanwhile); the VM is borrowed only
/// for one slice at a time.
async fn run(
    ctx: &WorkerContext,
    phase: Phase,
    plugins: &[Arc<CompiledPlugin>],
    req: RequestContext,
) -> RequestContext {
    let mut run = PhaseRun::new(phase, plugins, req);
    loop {
        let done = ctx
            .lua
            .borrow_mut()
            .get_or_insert_with(LuaWorker::new)
            .advance(&mut run);
        if done {
            return run.finish();
        }
        tokio::task::yield_now().await;
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn handle(
    ctx: &WorkerContext,
    conn: &ConnInfo,
    parts: http::request::Parts,
    body: Incoming,
    path: String,
    captures: Option<UriCaptures>,
    matched: Matched<'_>,
    plugins: &Arc<[Arc<CompiledPlugin>]>,
    request_id: HeaderValue,
    start: Instant,
) -> Response<ProxyBody> {
    let mut req = RequestContext::new(parts, conn.peer, conn.port, path);
    req.scheme = conn.scheme();
    req.route = Some(matched.route.route.clone());
    req.service = Some(matched.upstream.service.clone());
    req.captures = captures;

    // Functions may read the body: read it whole (bounded) before access.
    let mut stream = None;
    if !body.is_end_stream() {
        if any_for(plugins, Phase::Access) || any_for(plugins, Phase::Rewrite) {
            match read_whole(body, MAX_BUFFERED_BODY, ctx.timeouts.body).await {
                Ok(bytes) => req.body = Some(bytes),
                Err(e) => {
                    tracing::info!(worker = ctx.id, client = %conn.peer, error = %e, "client error");
                    let accept = negotiation_header(&req.request.headers);
                    return match e {
                        ClientBodyError::TooLarge(_) => plugin_error_response(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "Payload too large",
                            accept,
                            &request_id,
                            start,
                        ),
                        ClientBodyError::Timeout => {
                            error_response(ProxyError::RequestTimeout, accept, &request_id, start)
                        }
                        ClientBodyError::Malformed(_) => {
                            error_response(ProxyError::BadRequest, accept, &request_id, start)
                        }
                    };
                }
            }
        } else {
            stream = Some(OutgoingBody::Stream(body));
        }
    }

    if any_for(plugins, Phase::Rewrite) {
        // As in Kong, only global plugins have a rewrite phase.
        let global: Vec<Arc<CompiledPlugin>> = plugins
            .iter()
            .filter(|p| p.plugin.route.is_none() && p.plugin.service.is_none())
            .cloned()
            .collect();
        req = run(ctx, Phase::Rewrite, &global, req).await;
    }
    if any_for(plugins, Phase::Access) && req.exit.is_none() {
        req = run(ctx, Phase::Access, plugins, req).await;
    }
    if let Some(exit) = req.exit.take() {
        let resp = exit_response(exit, &mut req, &request_id, start);
        return after_response(ctx, plugins, req, resp, &request_id, start).await;
    }

    // What goes upstream: a body the functions set, or the one read for them.
    let body = match (req.upstream_body.take(), req.body.clone()) {
        (Some(b), _) | (None, Some(b)) => Some(whole_body(&mut req.request.headers, b)),
        (None, None) => stream,
    };
    let overrides = Overrides {
        path: req.upstream_path.as_deref(),
        query: req.upstream_query.as_deref(),
    };
    let norm = req.path.clone();
    let mut resp = forward(
        ctx,
        conn,
        &req.request,
        norm.as_bytes(),
        body,
        matched,
        Some(overrides),
        &request_id,
        start,
    )
    .await;
    req.response_source = if resp.headers().contains_key(&X_KONG_RESPONSE_LATENCY) {
        "error"
    } else {
        "service"
    };
    // Headers set in access apply to whatever response comes back.
    let mut set_in_access = std::mem::take(&mut req.response_headers);
    strip_framing(&mut set_in_access);
    replace_headers(resp.headers_mut(), set_in_access);
    after_response(ctx, plugins, req, resp, &request_id, start).await
}

/// A whole body replaces the client's framing with a `Content-Length`.
fn whole_body(headers: &mut http::HeaderMap, body: Bytes) -> OutgoingBody {
    headers.remove(TRANSFER_ENCODING);
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    OutgoingBody::Whole(body)
}

/// Runs header_filter (which may change status and headers, or exit) and
/// log on the response about to be sent. The response's framing stays the
/// gateway's: what header_filter does to `Content-Length`,
/// `Transfer-Encoding` or `Connection` is undone.
async fn after_response(
    ctx: &WorkerContext,
    plugins: &[Arc<CompiledPlugin>],
    mut req: RequestContext,
    mut resp: Response<ProxyBody>,
    request_id: &HeaderValue,
    start: Instant,
) -> Response<ProxyBody> {
    if any_for(plugins, Phase::HeaderFilter) {
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
        req = run(ctx, Phase::HeaderFilter, plugins, req).await;
        let mut headers = std::mem::take(&mut req.response_headers);
        strip_framing(&mut headers);
        if let Some(status) = req
            .response_status
            .and_then(|s| StatusCode::from_u16(s).ok())
        {
            *resp.status_mut() = status;
        }
        if let Some(mut exit) = req.exit.take() {
            // An exit in header_filter replaces the body that was coming.
            let status = resp.status();
            let mut replaced = Response::new(match exit.body {
                ExitBody::Bytes(b) => ProxyBody::full(b),
                ExitBody::KongError(m) => ProxyBody::full(Bytes::from(m)),
            });
            *replaced.status_mut() = StatusCode::from_u16(exit.status).unwrap_or(status);
            strip_framing(&mut exit.headers);
            replace_headers(&mut headers, exit.headers);
            *replaced.headers_mut() = headers;
            resp = replaced;
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
        resp = plugin_error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An unexpected error occurred",
            accept,
            request_id,
            start,
        );
    }
    if any_for(plugins, Phase::Log) {
        req.response_status = Some(resp.status().as_u16());
        req.response_headers = resp.headers().clone();
        run(ctx, Phase::Log, plugins, req).await;
    }
    resp
}

/// The response for `kong.response.exit`, `ngx.exit` or a failed function.
fn exit_response(
    exit: Exit,
    req: &mut RequestContext,
    request_id: &HeaderValue,
    start: Instant,
) -> Response<ProxyBody> {
    let status = StatusCode::from_u16(exit.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match exit.body {
        ExitBody::KongError(message) => plugin_error_response(
            status,
            &message,
            negotiation_header(&req.request.headers),
            request_id,
            start,
        ),
        ExitBody::Bytes(body) => {
            let mut resp = Response::new(ProxyBody::full(body));
            *resp.status_mut() = status;
            let h = resp.headers_mut();
            h.insert(SERVER, SERVER_VALUE.clone());
            h.insert(&X_KONG_RESPONSE_LATENCY, latency_value(start.elapsed()));
            h.insert(&X_KONG_REQUEST_ID, request_id.clone());
            resp
        }
    };
    let mut set_before = std::mem::take(&mut req.response_headers);
    strip_framing(&mut set_before);
    replace_headers(resp.headers_mut(), set_before);
    let mut exit_headers = exit.headers;
    strip_framing(&mut exit_headers);
    replace_headers(resp.headers_mut(), exit_headers);
    resp
}

/// Every header name in `from` replaces that name's values in `into`.
fn replace_headers(into: &mut http::HeaderMap, from: http::HeaderMap) {
    let mut last = None;
    for (name, value) in from {
        match name {
            Some(name) => {
                into.insert(name.clone(), value);
                last = Some(name);
            }
            None => {
                if let Some(name) = &last {
                    into.append(name.clone(), value);
                }
            }
        }
    }
}
