//! The upstream step of the request path (`pipeline::run`): build the
//! upstream request (path, Host, forwarding headers) from the
//! [`Session`], send it through the worker's pool, and hand the streamed
//! response back with the response headers of §4.5 — or answer with one
//! of Kong's error pages. It knows nothing of functions: what they changed
//! is in the session (`Session::upstream`, `Session::body`).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use http::header::HOST;
use http::{Response, Version};

use super::balancer::Balancers;
use super::body::ProxyBody;
use super::client::{self, Outgoing, SendError, UpstreamBody};
use super::context::WorkerContext;
use super::errors::{error_response, negotiation_header, upstream_error_response, ProxyError};
use super::headers::{add_response_headers, latency_value, strip_hop_by_hop, Forwarding};
use super::normalize::escape_path;
use super::path::{upstream_path, PathPlan};
use super::pipeline::{Session, Source};
use super::pool::Target;
use super::router::{CompiledRoute, Upstream};

/// The route a request matched, as the forwarding step needs it.
pub struct Matched<'a> {
    /// `None` for a request no route matched that global functions see:
    /// after them (Kong runs rewrite before routing, and header_filter,
    /// body_filter and log on its 404), the request is answered 404.
    pub route: Option<&'a CompiledRoute>,
    pub matched_len: Option<usize>,
    /// `None` for a route without a service: after its functions (Kong
    /// runs them), the request is answered 503.
    pub upstream: Option<&'a Arc<Upstream>>,
    /// The snapshot's Upstreams (Kong's load balancers).
    pub balancers: &'a Arc<Balancers>,
}

/// The gateway's own answer in place of the upstream's, as Kong's
/// `kong.response.error` in access: an exit.
fn gateway_exit(s: &mut Session<'_>, error: ProxyError) -> Response<ProxyBody> {
    s.source = Source::Exit;
    error_response(
        error,
        negotiation_header(&s.parts.headers),
        &s.request_id,
        s.start,
    )
}

/// Sends the request upstream and answers with the response (streamed)
/// and the gateway's response headers, or Kong's error page for a
/// failure (then `s.source` is [`Source::Error`]), written into `out`
/// (the connection's: see `pipeline::run`).
pub async fn forward(s: &mut Session<'_>, out: &mut Response<ProxyBody>) {
    let ctx: &WorkerContext = s.worker;
    let body = s.body.take();
    let Matched {
        route,
        matched_len,
        upstream,
        balancers,
    } = s.matched;
    let Some(route) = route else {
        // Kong's `kong.response.error(404, …)`: an exit.
        *out = gateway_exit(s, ProxyError::NoRoute);
        return;
    };
    let Some(upstream) = upstream else {
        // Kong's `kong.response.error(503, …)` in access: an exit.
        *out = gateway_exit(s, ProxyError::NoService);
        return;
    };
    // Kong's balancer: a target of the Upstream the service's host names
    // (or the one `kong.service.set_upstream` chose); a target a function
    // set wins. Nothing to look up when no Upstream is configured.
    if s.upstream.balancer.target.is_none() && !balancers.is_empty() {
        let name = s
            .upstream
            .balancer
            .upstream
            .as_deref()
            .unwrap_or(&upstream.service.host);
        if let Some(ring) = balancers.get(name) {
            let Some((host, port)) = ring.pick() else {
                *out = gateway_exit(s, ProxyError::NoPeer);
                return;
            };
            s.upstream.balancer.target = Some((host.into(), port));
        }
    }
    // `kong.service.request.set_scheme`: the service over the other
    // scheme (the same one when it cannot be built: its TLS settings are
    // logged as unusable).
    let flipped = s
        .upstream
        .https
        .and_then(|https| upstream.with_scheme(https));
    let upstream = flipped.as_ref().unwrap_or(upstream);
    // `kong.service.set_target` / `set_retries` / `set_timeouts`: this
    // request's own copy of the upstream.
    let balanced = match s.upstream.balancer.is_set() {
        true => upstream.with_balancer(&s.upstream.balancer).map(Arc::new),
        false => None,
    };
    let upstream = balanced.as_ref().unwrap_or(upstream);
    let parts = &*s.parts;
    let norm = s.norm();
    let host: Option<&str> = match parts.headers.get(HOST) {
        Some(h) => h.to_str().ok(),
        None => parts.uri.authority().map(|a| a.as_str()),
    };
    let raw_path = parts.uri.path();
    let changes = &s.upstream;
    // Upstream path: the client's path-and-query when unchanged.
    let target: Cow<'_, [u8]> = {
        let mut out = ctx.scratch.borrow_mut();
        match &changes.path {
            Some(p) => {
                out.clear();
                out.extend_from_slice(p.as_bytes());
            }
            None => {
                let plan = PathPlan {
                    service_path: &upstream.path,
                    strip_path: route.route.strip_path,
                    v1: route.v1,
                    matched_len,
                };
                upstream_path(plan, norm, &mut out);
            }
        }
        let query = match changes.query.as_deref() {
            Some("") => None,
            Some(q) => Some(q),
            None => parts.uri.query(),
        };
        match parts.uri.path_and_query() {
            Some(pq) if out.as_slice() == raw_path.as_bytes() && query == parts.uri.query() => {
                Cow::Borrowed(pq.as_str().as_bytes())
            }
            _ => {
                let escaped = escape_path(&out);
                let mut t = ctx.target_buffer();
                t.reserve(escaped.len() + query.map_or(0, |q| q.len() + 1));
                t.extend_from_slice(escaped.as_bytes());
                if let Some(q) = query {
                    t.push(b'?');
                    push_query(&mut t, q.as_bytes());
                }
                Cow::Owned(t)
            }
        }
    };
    let prefix = s.stripped_prefix();
    // `kong.service.request.set_header("Host", …)` wins, then
    // `preserve_host`, then the service's host.
    let upstream_host: &[u8] = match (&changes.host, host) {
        (Some(h), _) => h.as_bytes(),
        (None, Some(h)) if route.route.preserve_host => h.as_bytes(),
        _ => upstream.host_header.as_bytes(),
    };
    // One clock read for the pool's idle check and the upstream read
    // timer too (`Outgoing::now`); the response's arrival is read once,
    // by `client::send` (for the pool as well).
    let sent_at = Instant::now();
    let mut outgoing = Outgoing {
        method: &parts.method,
        target: &target,
        headers: &parts.headers,
        host: upstream_host,
        forwarding: Forwarding {
            conn: s.conn,
            client_ip: Some(s.client.ip),
            host: host.map(str::as_bytes),
            path: raw_path.as_bytes(),
            prefix: prefix.as_deref().map(str::as_bytes),
            request_id: s.request_id.as_bytes(),
        },
        body,
        client_body_timeout: ctx.timeouts.body,
        now: Some(sent_at),
        answered: None,
    };
    let proxy_latency = latency_value(sent_at.duration_since(s.start));
    let result = send(ctx, upstream, &mut outgoing, out).await;
    let answered = outgoing.answered.unwrap_or_else(Instant::now);
    if s.record_target {
        s.upstream_target = Some(String::from_utf8_lossy(&target).into_owned());
    }
    if let Cow::Owned(t) = target {
        ctx.give_back_target(t);
    }
    s.timing.sent = Some(sent_at);
    let body = match result {
        Ok(body) => body,
        Err(error) => {
            s.source = Source::Error;
            *out = upstream_error_response(
                error,
                negotiation_header(&s.parts.headers),
                &s.request_id,
                s.start,
                (
                    latency_value(answered.duration_since(sent_at)),
                    proxy_latency,
                ),
            );
            return;
        }
    };
    s.timing.answered = Some(answered);
    let upstream_latency = latency_value(answered.duration_since(sent_at));
    let headers = out.headers_mut();
    strip_hop_by_hop(headers);
    add_response_headers(headers, upstream_latency, proxy_latency, &s.request_id);
    *out.version_mut() = Version::HTTP_11;
    *out.body_mut() = ProxyBody::Upstream(body);
}

/// Appends a query. One set by a function may hold non-ASCII text, which
/// is percent-encoded; anything else is copied as it is (control
/// characters and spaces were refused when Lua set it, and are refused
/// again when the request line is written: `client::encode_head`).
fn push_query(target: &mut Vec<u8>, query: &[u8]) {
    for &b in query {
        if b < 0x80 {
            target.push(b);
        } else {
            target.push(b'%');
            target.push(b"0123456789ABCDEF"[usize::from(b >> 4)]);
            target.push(b"0123456789ABCDEF"[usize::from(b & 15)]);
        }
    }
}

/// Sends the request on a pooled or new connection. A pooled connection
/// that proves closed before the request could have been acted on
/// ([`SendError::Stale`]) gets the request once more, on a fresh
/// connection; a fresh one that closes without answering a replayable
/// request ([`SendError::Unanswered`]) is tried again up to the service's
/// `retries`, as nginx's `proxy_next_upstream error` does for Kong
/// (`spec/02-integration/05-proxy/05-dns_spec.lua`).
async fn send(
    ctx: &WorkerContext,
    upstream: &Arc<Upstream>,
    request: &mut Outgoing<'_>,
    into: &mut Response<ProxyBody>,
) -> Result<UpstreamBody, ProxyError> {
    // The SNI is the host the request goes with (nginx's `proxy_ssl_name
    // $upstream_host`, as Kong sets it): the service host, or the client's
    // with `preserve_host`; connections are pooled per name.
    // (Plain upstreams have no server name: the host is not split.)
    let sni_host = match upstream.tls {
        Some(_) => std::str::from_utf8(request.host)
            .map(|h| super::router::split_host_port(h).0)
            .unwrap_or_default(),
        None => "",
    };
    let other_name = upstream.tls.is_some() && !sni_host.eq_ignore_ascii_case(&upstream.host);
    let (key, server_name): (Cow<'_, str>, _) = if other_name {
        (
            Cow::Owned(format!("{}#{sni_host}", upstream.pool_key)),
            crate::tls::upstream::server_name(sni_host).map(Cow::Owned),
        )
    } else {
        (
            Cow::Borrowed(&*upstream.pool_key),
            upstream.server_name.as_ref().map(Cow::Borrowed),
        )
    };
    let connect = || async {
        let target = Target {
            key: &key,
            server_name: server_name.as_deref(),
        };
        ctx.pool
            .connect(upstream, target)
            .await
            .map_err(|e| ProxyError::from(&e))
    };
    // Connecting (TCP, then TLS) is boxed: its future is two thirds of the
    // request's (1.4 of 2.2 KB), and every request's future would carry it
    // (and copy it at each `.await` that moves it) for what pooled
    // connections seldom need.
    let now = request.now.unwrap_or_else(Instant::now);
    let mut conn = match ctx.pool.checkout(&key, now) {
        Some(c) => c,
        None => {
            request.now = None;
            Box::pin(connect()).await?
        }
    };
    let mut tries = 0;
    let result = loop {
        match client::send(conn, request, upstream, &ctx.pool, into).await {
            Err(SendError::Stale) => {
                tracing::debug!(worker = ctx.id, upstream = %upstream.pool_key, "pooled connection closed by the upstream: retrying on a new one");
            }
            Err(SendError::Unanswered) if tries < upstream.retries => {
                tries += 1;
                tracing::debug!(worker = ctx.id, upstream = %upstream.pool_key, tries, "upstream closed without answering: retrying");
            }
            result => break result,
        }
        request.now = None;
        conn = Box::pin(connect()).await?;
    };
    result.map_err(|e| {
        match e {
            SendError::ClientBody(_) => {
                tracing::info!(worker = ctx.id, client = %request.forwarding.conn.peer, error = %e, "client error")
            }
            SendError::UnsafeHead => {
                tracing::error!(worker = ctx.id, upstream = %upstream.pool_key, target = %String::from_utf8_lossy(request.target).escape_debug(), error = %e, "request not sent")
            }
            _ => {
                tracing::info!(worker = ctx.id, upstream = %upstream.pool_key, error = %e, "upstream request failed")
            }
        }
        ProxyError::from(&e)
    })
}
