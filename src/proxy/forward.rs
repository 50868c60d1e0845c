//! The forwarding step of a routed request: build the upstream request
//! (path, Host, forwarding headers), send it through the worker's pool, and
//! hand the streamed response back with the response headers of §4.5 — or
//! answer with one of Kong's error pages.
//!
//! `dispatch` calls it directly for routes without functions; `functions`
//! calls it between the access and header_filter phases. It also holds
//! the per-worker state both need ([`WorkerContext`]).

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::Guard;
use http::header::HOST;
use http::{Response, Version};

use super::body::ProxyBody;
use super::client::{self, Outgoing, OutgoingBody, SendError, UpstreamBody};
use super::errors::{error_response, negotiation_header, ProxyError};
use super::headers::{
    add_response_headers, latency_value, strip_hop_by_hop, ConnInfo, Forwarding, RequestIds,
};
use super::normalize::escape_path;
use super::path::{upstream_path, PathPlan};
use super::pool::{Pool, Target};
use super::router::{CompiledRoute, Upstream};
use super::ClientTimeouts;
use crate::snapshot::{ConfigSnapshot, SharedConfig};

/// Everything one worker thread owns. Not `Send`: it never leaves its
/// thread, which is what lets a per-worker Lua VM live here later.
pub struct WorkerContext {
    pub id: usize,
    pub config: SharedConfig,
    pub pool: Rc<Pool>,
    pub request_ids: RequestIds,
    /// Reused buffer for the upstream path.
    scratch: RefCell<Vec<u8>>,
    /// The worker's Lua VM, created when a serverless function first runs.
    pub lua: RefCell<Option<crate::plugins::serverless::LuaWorker>>,
    pub timeouts: ClientTimeouts,
    /// The snapshot the last request used (see [`WorkerContext::snapshot`]).
    snapshot: RefCell<Rc<Held>>,
}

/// A configuration snapshot held by one worker, shared between its
/// requests through an `Rc` (see [`WorkerContext::snapshot`]).
pub struct Held(Arc<ConfigSnapshot>);

impl std::ops::Deref for Held {
    type Target = ConfigSnapshot;

    fn deref(&self) -> &ConfigSnapshot {
        &self.0
    }
}

impl WorkerContext {
    pub fn new(id: usize, config: SharedConfig, timeouts: ClientTimeouts) -> Self {
        let snapshot = RefCell::new(Rc::new(Held(config.load_full())));
        WorkerContext {
            snapshot,
            id,
            config,
            pool: Rc::new(Pool::new()),
            request_ids: RequestIds::new(id),
            scratch: RefCell::new(Vec::with_capacity(256)),
            lua: RefCell::new(None),
            timeouts,
        }
    }

    /// The current configuration snapshot, for one request. Requests clone
    /// a worker-local `Rc`: cloning the shared `Arc` would write its count,
    /// one cache line every worker writes on every request. `ArcSwap`'s
    /// `load` writes nothing shared; the `Arc` is cloned once per change,
    /// and the worker's hold on the previous snapshot is released then.
    pub fn snapshot(&self) -> Rc<Held> {
        let current = self.config.load();
        let mut cached = self.snapshot.borrow_mut();
        if !Arc::ptr_eq(&cached.0, &current) {
            let old = std::mem::replace(&mut *cached, Rc::new(Held(Guard::into_inner(current))));
            // As the Admin API does: a large snapshot is freed off the
            // request path (unless a request in flight still holds it).
            if let Ok(Held(old)) = Rc::try_unwrap(old) {
                tokio::task::spawn_blocking(move || drop(old));
            }
        }
        Rc::clone(&cached)
    }
}

/// The route a request matched, as the forwarding step needs it.
pub struct Matched<'a> {
    pub route: &'a CompiledRoute,
    pub matched_len: Option<usize>,
    pub upstream: &'a Arc<Upstream>,
}

/// Path and query set by serverless functions, replacing what the route
/// computed.
#[derive(Default)]
pub struct Overrides<'a> {
    pub path: Option<&'a str>,
    /// `Some("")` drops the query.
    pub query: Option<&'a str>,
}

/// Sends the request upstream and returns the response (streamed) with
/// the gateway's response headers, or Kong's error page for a failure.
#[allow(clippy::too_many_arguments)]
pub async fn forward(
    ctx: &WorkerContext,
    conn: &ConnInfo,
    parts: &http::request::Parts,
    norm: &[u8],
    body: Option<OutgoingBody>,
    matched: Matched<'_>,
    overrides: Option<Overrides<'_>>,
    request_id: &http::HeaderValue,
    start: Instant,
) -> Response<ProxyBody> {
    let Matched {
        route,
        matched_len,
        upstream,
    } = matched;
    let host: Option<&str> = match parts.headers.get(HOST) {
        Some(h) => h.to_str().ok(),
        None => parts.uri.authority().map(|a| a.as_str()),
    };
    let raw_path = parts.uri.path();
    // Upstream path: the client's path-and-query when unchanged.
    let target: Cow<'_, [u8]> = {
        let mut out = ctx.scratch.borrow_mut();
        let overrides = overrides.unwrap_or_default();
        match overrides.path {
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
        let query = match overrides.query {
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
                let mut t = Vec::with_capacity(escaped.len() + query.map_or(0, |q| q.len() + 1));
                t.extend_from_slice(escaped.as_bytes());
                if let Some(q) = query {
                    t.push(b'?');
                    push_query(&mut t, q.as_bytes());
                }
                Cow::Owned(t)
            }
        }
    };
    let prefix = match matched_len {
        Some(n) if route.route.strip_path => norm.get(..n).map(escape_path),
        _ => None,
    };
    let upstream_host: &[u8] = match host {
        Some(h) if route.route.preserve_host => h.as_bytes(),
        _ => upstream.host_header.as_bytes(),
    };
    let mut outgoing = Outgoing {
        method: &parts.method,
        target: &target,
        headers: &parts.headers,
        host: upstream_host,
        forwarding: Forwarding {
            conn,
            host: host.map(str::as_bytes),
            path: raw_path.as_bytes(),
            prefix: prefix.as_deref().map(str::as_bytes),
            request_id: request_id.as_bytes(),
        },
        body,
        client_body_timeout: ctx.timeouts.body,
    };

    let sent_at = Instant::now();
    let proxy_latency = latency_value(sent_at.duration_since(start));
    let result = send(ctx, upstream, &mut outgoing).await;
    let resp = match result {
        Ok(resp) => resp,
        Err(error) => {
            return error_response(error, negotiation_header(&parts.headers), request_id, start)
        }
    };
    let upstream_latency = latency_value(sent_at.elapsed());
    let (mut rparts, rbody) = resp.into_parts();
    strip_hop_by_hop(&mut rparts.headers);
    add_response_headers(
        &mut rparts.headers,
        upstream_latency,
        proxy_latency,
        request_id,
    );
    rparts.version = Version::HTTP_11;
    Response::from_parts(rparts, ProxyBody::Upstream(rbody))
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
/// connection.
async fn send(
    ctx: &WorkerContext,
    upstream: &Arc<Upstream>,
    request: &mut Outgoing<'_>,
) -> Result<Response<UpstreamBody>, ProxyError> {
    // The SNI is the host the request goes with (nginx's `proxy_ssl_name
    // $upstream_host`, as Kong sets it): the service host, or the client's
    // with `preserve_host`; connections are pooled per name.
    let sni_host = std::str::from_utf8(request.host)
        .map(|h| super::router::split_host_port(h).0)
        .unwrap_or_default();
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
    let conn = match ctx.pool.checkout(&key) {
        Some(c) => c,
        None => connect().await?,
    };
    let result = match client::send(conn, request, upstream, &ctx.pool).await {
        Err(SendError::Stale) => {
            tracing::debug!(worker = ctx.id, upstream = %upstream.pool_key, "pooled connection closed by the upstream: retrying on a new one");
            client::send(connect().await?, request, upstream, &ctx.pool).await
        }
        result => result,
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
