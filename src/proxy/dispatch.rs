//! The entry point of one client request: check what the gateway must
//! check before anything else, route it on the current configuration
//! snapshot (one atomic load), and send it down one of two paths —
//! straight to `forward`, or through `functions` when the route has
//! serverless functions to run. Nothing calls back up into this module.

use std::time::Instant;

use http::header::HOST;
use http::{Request, Response, Version};
use hyper::body::{Body, Incoming};

use super::body::ProxyBody;
use super::client::OutgoingBody;
use super::errors::{error_response, negotiation_header, ProxyError};
use super::forward::{forward, Matched, WorkerContext};
use super::functions;
use super::headers::ConnInfo;
use super::normalize::normalize_path;
use super::router::RequestView;

/// Handles one client request; never fails (errors become responses).
pub async fn handle(
    ctx: &WorkerContext,
    conn: &ConnInfo,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let start = Instant::now();
    let request_id = ctx.request_ids.next();
    let snapshot = ctx.config.load_full();
    let (parts, body) = req.into_parts();

    let host: Option<&str> = match parts.headers.get(HOST) {
        Some(h) => h.to_str().ok(),
        None => parts.uri.authority().map(|a| a.as_str()),
    };
    let raw_path = parts.uri.path();
    let norm = normalize_path(raw_path);
    let view = RequestView {
        method: &parts.method,
        path: &norm,
        host,
        headers: &parts.headers,
    };
    let Some(found) = snapshot.router.find(&view) else {
        return error_response(
            ProxyError::NoRoute,
            negotiation_header(&parts.headers),
            &request_id,
            start,
        );
    };
    let route = found.route;
    if !route.allows_http {
        let error = if route.grpc_only {
            if parts.version == Version::HTTP_2 {
                ProxyError::NotGrpc
            } else {
                ProxyError::Http2Required
            }
        } else {
            ProxyError::HttpsRequired
        };
        return error_response(
            error,
            negotiation_header(&parts.headers),
            &request_id,
            start,
        );
    }
    let Some(upstream) = route.upstream.clone() else {
        return error_response(
            ProxyError::NoService,
            negotiation_header(&parts.headers),
            &request_id,
            start,
        );
    };
    if !upstream.plain_http {
        tracing::warn!(service = %upstream.service.id, protocol = %upstream.service.protocol, "only http services can be proxied");
        return error_response(
            ProxyError::BadGateway,
            negotiation_header(&parts.headers),
            &request_id,
            start,
        );
    }

    let plugins = snapshot.plugins_plan.for_route(Some(route.route.id));
    if functions::has_work(plugins) {
        let matched = Matched {
            route,
            matched_len: found.matched_len,
            upstream: &upstream,
        };
        let path = String::from_utf8_lossy(&norm).into_owned();
        let captures = found.captures;
        return functions::handle(
            ctx, conn, parts, body, path, captures, matched, plugins, request_id, start,
        )
        .await;
    }
    let body = (!body.is_end_stream()).then_some(OutgoingBody::Stream(body));
    let matched = Matched {
        route,
        matched_len: found.matched_len,
        upstream: &upstream,
    };
    forward(
        ctx,
        conn,
        &parts,
        &norm,
        body,
        matched,
        None,
        &request_id,
        start,
    )
    .await
}
