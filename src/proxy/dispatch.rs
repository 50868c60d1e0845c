//! The entry point of one client request: check what the gateway must
//! check before anything else, route it on the current configuration
//! snapshot (one atomic load, `WorkerContext::snapshot`), and send it down
//! the request path (`pipeline::run`) with the route's hooks: none, or its
//! serverless functions (`functions::Functions`). A request no route
//! matched is answered 404 at once, unless global functions have a phase
//! that runs on it (rewrite, header_filter, body_filter, log): then it
//! takes the request path with theirs, without a route. Nothing calls
//! back up into this module.

use std::borrow::Cow;
use std::rc::Rc;
use std::time::Instant;

use http::header::{HeaderValue, HOST};
use http::{Response, Version};

use super::body::ProxyBody;
use super::client::OutgoingBody;
use super::context::WorkerContext;
use super::errors::{error_response, https_redirect, negotiation_header, ProxyError};
use super::forward::Matched;
use super::functions;
use super::headers::{ConnInfo, X_FORWARDED_HOST, X_FORWARDED_PROTO};
use super::inbound::RequestBody;
use super::normalize::normalize_path;
use super::pipeline::{self, NoHooks, Session};
use super::router::RequestView;

/// Settles which host a request is for, before routing (RFC 9112 §3.2):
/// an HTTP/1.1 request needs exactly one valid `Host`; an absolute-form
/// target's own authority (or HTTP/2's `:authority`) replaces it, so that
/// routing, `preserve_host`, `X-Forwarded-Host` and the PDK all see the
/// same host, as nginx does. False: a 400.
fn settle_host(parts: &mut http::request::Parts) -> bool {
    let mut hosts = parts.headers.get_all(HOST).iter();
    let first = hosts.next();
    if hosts.next().is_some() {
        return false;
    }
    match first {
        None if parts.version == Version::HTTP_11 => return false,
        Some(h) if !h.is_empty() && !valid_authority(h.as_bytes()) => return false,
        _ => {}
    }
    if let Some(authority) = parts.uri.authority() {
        let host = authority.as_str().rsplit('@').next().unwrap_or_default();
        match HeaderValue::from_str(host) {
            Ok(v) => {
                parts.headers.insert(HOST, v);
            }
            Err(_) => return false,
        }
    }
    true
}

/// A `Host` value: `host[:port]`, with no user info, path or spaces.
fn valid_authority(v: &[u8]) -> bool {
    plain_authority(v)
        || (!v.contains(&b'@')
            && http::uri::Authority::try_from(v).is_ok_and(|a| !a.host().is_empty()))
}

/// The usual `Host`, a name or IPv4 address of letters, digits, `.` and
/// `-` with an optional `:digits`, checked in place: http's parser, which
/// accepts all of them, copies the value to check it (an allocation per
/// request); it still checks every other value.
fn plain_authority(v: &[u8]) -> bool {
    let (host, port) = match v.iter().position(|&b| b == b':') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, &[][..]),
    };
    !host.is_empty()
        && host
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && port.iter().all(u8::is_ascii_digit)
}

/// The normalised path, when it differs from the raw one.
fn owned(norm: Cow<'_, [u8]>) -> Option<Vec<u8>> {
    match norm {
        Cow::Borrowed(_) => None,
        Cow::Owned(n) => Some(n),
    }
}

/// The client's body, streamed upstream unless it has none.
fn streamed(body: RequestBody) -> Option<OutgoingBody> {
    (!body.is_end_stream()).then_some(OutgoingBody::Stream(body))
}

/// Handles one client request, its response written into `out` (a new
/// response, filled in place: see `pipeline::run`); never fails (errors
/// become responses).
/// `started`: when its head's first bytes arrived, if the server knows
/// (the latencies count from there, as Kong's from nginx's request
/// start); else now.
pub async fn handle(
    ctx: &Rc<WorkerContext>,
    conn: &ConnInfo,
    parts: &mut http::request::Parts,
    body: RequestBody,
    started: Option<Instant>,
    out: &mut Response<ProxyBody>,
) {
    let start = started.unwrap_or_else(Instant::now);
    let request_id = ctx.request_ids.next();
    let snapshot = ctx.snapshot();
    if !settle_host(parts) {
        tracing::info!(worker = ctx.id, client = %conn.peer, "client error: missing, repeated or invalid Host");
        *out = error_response(
            ProxyError::BadRequest,
            negotiation_header(&parts.headers),
            &request_id,
            start,
        );
        return;
    }

    let host: Option<&str> = parts.headers.get(HOST).and_then(|h| h.to_str().ok());
    let raw_path = parts.uri.path();
    let norm = normalize_path(raw_path);
    let view = RequestView {
        method: &parts.method,
        path: &norm,
        host,
        headers: &parts.headers,
        tls: conn.tls,
        sni: conn.sni.as_deref(),
    };
    let Some(found) = snapshot.router.find(&view) else {
        let global = snapshot.plugins_plan.for_route(None);
        let Some(mut hooks) = functions::Functions::for_unrouted(global) else {
            *out = error_response(
                ProxyError::NoRoute,
                negotiation_header(&parts.headers),
                &request_id,
                start,
            );
            return;
        };
        // Global functions see it: `forward` answers the 404 after rewrite.
        let matched = Matched {
            route: None,
            matched_len: None,
            upstream: None,
            balancers: &snapshot.balancers,
        };
        let (norm, body) = (owned(norm), streamed(body));
        let mut session = Session::new(ctx, conn, request_id, start, parts, norm, matched, body);
        return pipeline::run(&mut session, &mut hooks, out).await;
    };
    let route = found.route;
    // Kong: an https-only route reached over plain HTTP answers 426, or
    // redirects per `https_redirect_status_code`; other routes serve both.
    // The scheme is a trusted peer's `X-Forwarded-Proto` when it sent one
    // (a load balancer that ended TLS), as Kong's `forwarded_proto`.
    let trust = crate::trust::node();
    let peer = conn.peer.ip();
    let https = trust
        .forwarded(peer, &parts.headers, &X_FORWARDED_PROTO)
        .map_or(conn.tls, |p| p == "https");
    let served = route.allows_http || (https && route.allows_https);
    if !served {
        let code = route.route.https_redirect_status_code;
        if route.allows_https && matches!(code, 301 | 302 | 307 | 308) {
            let forwarded_host = trust
                .forwarded(peer, &parts.headers, &X_FORWARDED_HOST)
                .and_then(|h| h.to_str().ok());
            let host = forwarded_host
                .or_else(|| host.map(|h| super::router::split_host_port(h).0))
                .unwrap_or("");
            let uri = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
            *out = https_redirect(code, host, uri, &request_id, start);
            return;
        }
        let error = if route.grpc_only {
            if parts.version == Version::HTTP_2 {
                ProxyError::NotGrpc
            } else {
                ProxyError::Http2Required
            }
        } else {
            ProxyError::HttpsRequired
        };
        *out = error_response(
            error,
            negotiation_header(&parts.headers),
            &request_id,
            start,
        );
        return;
    }
    // A route without a service still runs its functions (as Kong runs
    // access before its 503): `forward` answers "no Service found".
    let upstream = route.upstream.as_ref();
    if let Some(upstream) = upstream.filter(|u| !u.usable) {
        tracing::warn!(service = %upstream.service.id, protocol = %upstream.service.protocol, "only http and https services can be proxied");
        *out = error_response(
            ProxyError::BadGateway,
            negotiation_header(&parts.headers),
            &request_id,
            start,
        );
        return;
    }

    let plugins = snapshot.plugins_plan.for_route(Some(route.route.id));
    let matched = Matched {
        route: Some(route),
        matched_len: found.matched_len,
        upstream,
        balancers: &snapshot.balancers,
    };
    let captures = found.captures;
    let (norm, body) = (owned(norm), streamed(body));
    let mut session = Session::new(ctx, conn, request_id, start, parts, norm, matched, body);
    let global = snapshot.plugins_plan.for_route(None);
    match functions::Functions::for_route(plugins, global) {
        Some(mut hooks) => {
            session.captures = captures;
            // Not boxed: the function path's future is a few hundred bytes
            // larger than the plain one (the PDK's request context is boxed
            // apart), and boxing it cost an allocation and a copy of the
            // whole future per request.
            pipeline::run(&mut session, &mut hooks, out).await
        }
        None => pipeline::run(&mut session, &mut NoHooks, out).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_in_place_host_check_agrees_with_https_parser() {
        let parsed = |v: &[u8]| {
            !v.contains(&b'@')
                && http::uri::Authority::try_from(v).is_ok_and(|a| !a.host().is_empty())
        };
        let hosts: &[&[u8]] = &[
            b"example.com",
            b"example.com:8000",
            b"127.0.0.1",
            b"127.0.0.1:80",
            b"a",
            b"a-b.c-d:",
            b"x:99999",
            b"[::1]:80",
            b"",
            b":80",
            b"a:b",
            b"a:1:2",
            b"a b",
            b"a/b",
            b"user@host",
            b"host%20",
            b"a_b",
            b"\xff",
        ];
        for h in hosts {
            assert_eq!(
                valid_authority(h),
                parsed(h),
                "{:?}",
                String::from_utf8_lossy(h)
            );
            if plain_authority(h) {
                assert!(parsed(h), "{:?}", String::from_utf8_lossy(h));
            }
        }
    }
}
