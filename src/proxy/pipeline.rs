//! The one path every routed request takes, with Kong's phases as hooks on
//! it (the shape of pingora's `ProxyHttp`):
//!
//! ```text
//! Hooks::request    rewrite → access      may answer at once (exit, error)
//! forward           the upstream call     (skipped when request answered)
//! Hooks::response   header_filter         on whatever response goes out
//! Hooks::body       body_filter → log     wraps the body; log runs once it is sent
//! ```
//!
//! [`run`] is generic over the hooks: a route without functions runs with
//! [`NoHooks`], whose hooks are empty and inlined away, so it pays nothing
//! for them. `functions::Functions` is the hooks of a route with
//! serverless functions. `forward` knows nothing of functions and
//! functions nothing of `forward`: both only see the [`Session`].

use std::rc::Rc;
use std::time::Instant;

use http::{HeaderValue, Response};

use super::body::ProxyBody;
use super::client::OutgoingBody;
use super::context::WorkerContext;
use super::forward::{forward, Matched};
use super::headers::ConnInfo;
use super::router::UriCaptures;

/// One request on its way through the gateway: what the router found,
/// what goes upstream, and what happened so far.
pub struct Session<'a> {
    pub worker: &'a Rc<WorkerContext>,
    pub conn: &'a ConnInfo,
    /// The client as the trusted proxies named it when the request
    /// arrived (nginx's realip runs before any phase).
    pub client: crate::trust::Client,
    pub request_id: HeaderValue,
    /// When the request started: its head's first bytes arrived (nginx's
    /// request start), or it was read (a pipelined head, HTTP/2).
    pub start: Instant,
    /// The client's request head, lent by the connection (which fills it
    /// in place and keeps its header map for the next one); its headers
    /// are also what goes upstream.
    pub parts: &'a mut http::request::Parts,
    /// The normalised path, when it differs from the raw one.
    norm: Option<Vec<u8>>,
    pub matched: Matched<'a>,
    pub captures: Option<UriCaptures>,
    /// The body to send upstream (the client's, streamed, until a hook
    /// reads or replaces it).
    pub body: Option<OutgoingBody>,
    /// What hooks changed of the upstream request.
    pub upstream: UpstreamChanges,
    pub timing: Timing,
    /// Who produced the response (`kong.response.get_source`).
    pub source: Source,
    /// Keep the upstream request target in `upstream_target` (for log).
    pub record_target: bool,
    pub upstream_target: Option<String>,
}

/// Path, query and Host set by functions, replacing what the route
/// computed.
#[derive(Default)]
pub struct UpstreamChanges {
    /// `kong.service.request.set_scheme` (`true`: https).
    pub https: Option<bool>,
    pub path: Option<String>,
    /// `Some("")` drops the query.
    pub query: Option<String>,
    pub host: Option<HeaderValue>,
    pub balancer: Balancer,
}

/// `kong.service.set_target`, `set_retries` and `set_timeouts`: where this
/// request connects and how patiently, replacing the service's settings
/// (Kong's `ngx.ctx.balancer_data`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Balancer {
    /// Host (a name or an IP address, checked) and port.
    pub target: Option<(Box<str>, u16)>,
    /// `kong.service.set_upstream`: the Upstream (by name, one the
    /// snapshot has) a target is taken from, when no target is set.
    pub upstream: Option<Box<str>>,
    pub retries: Option<u32>,
    pub timeouts: Option<BalancerTimeouts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalancerTimeouts {
    pub connect: std::time::Duration,
    pub write: std::time::Duration,
    pub read: std::time::Duration,
}

impl Balancer {
    /// Whether a function changed anything.
    pub fn is_set(&self) -> bool {
        self.target.is_some() || self.retries.is_some() || self.timeouts.is_some()
    }
}

/// When the upstream call happened (Kong's latencies).
#[derive(Debug, Default, Clone, Copy)]
pub struct Timing {
    /// The request was handed to the upstream connection.
    pub sent: Option<Instant>,
    /// The upstream's response head arrived.
    pub answered: Option<Instant>,
}

/// Where the response came from, as `kong.response.get_source` names it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    #[default]
    Service,
    Exit,
    Error,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Service => "service",
            Source::Exit => "exit",
            Source::Error => "error",
        }
    }
}

impl<'a> Session<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        worker: &'a Rc<WorkerContext>,
        conn: &'a ConnInfo,
        request_id: HeaderValue,
        start: Instant,
        parts: &'a mut http::request::Parts,
        norm: Option<Vec<u8>>,
        matched: Matched<'a>,
        body: Option<OutgoingBody>,
    ) -> Self {
        Session {
            worker,
            client: crate::trust::node().client(conn.peer, conn.proxy_protocol, &parts.headers),
            conn,
            request_id,
            start,
            parts,
            norm,
            matched,
            captures: None,
            body,
            upstream: UpstreamChanges::default(),
            timing: Timing::default(),
            source: Source::Service,
            record_target: false,
            upstream_target: None,
        }
    }

    /// The normalised request path, when it differs from the raw one.
    pub fn normalized(&self) -> Option<&[u8]> {
        self.norm.as_deref()
    }

    /// The prefix `strip_path` takes off the path, escaped
    /// (`X-Forwarded-Prefix`, `kong.request.get_forwarded_prefix`).
    pub fn stripped_prefix(&self) -> Option<std::borrow::Cow<'_, str>> {
        let n = self.stripped_len()?;
        self.norm().get(..n).map(super::normalize::escape_path)
    }

    /// How many bytes of the normalised path `strip_path` takes off.
    pub fn stripped_len(&self) -> Option<usize> {
        self.matched
            .matched_len
            .filter(|_| self.matched.route.is_some_and(|r| r.route.strip_path))
    }

    /// The normalised request path the router matched.
    pub fn norm(&self) -> &[u8] {
        match &self.norm {
            Some(n) => n,
            None => self.parts.uri.path().as_bytes(),
        }
    }
}

/// Marks a response that is never sent: the connection is closed instead
/// (an HTTP/2 stream is reset), as nginx ends a request finalized with
/// `NGX_ERROR` (`ngx.exit(ngx.ERROR)`). Its body is dropped unread, so
/// log functions still run, as nginx's log phase does.
#[derive(Debug, Clone, Copy)]
pub struct NoResponse;

impl NoResponse {
    pub fn response() -> Response<ProxyBody> {
        let mut resp = Response::new(ProxyBody::full(bytes::Bytes::new()));
        resp.extensions_mut().insert(NoResponse);
        resp
    }

    pub fn is<B>(resp: &Response<B>) -> bool {
        resp.extensions().get::<NoResponse>().is_some()
    }
}

/// Kong's phases on the request path. Each hook has the whole
/// [`Session`]; none calls the upstream or another hook.
#[allow(async_fn_in_trait)]
pub trait Hooks {
    /// rewrite → access. True: the request is answered here (an exit or
    /// an error, written into `out`) and the upstream is not called.
    async fn request(&mut self, s: &mut Session<'_>, out: &mut Response<ProxyBody>) -> bool;

    /// header_filter, on the response about to be sent, whichever it is.
    async fn response(&mut self, s: &mut Session<'_>, resp: &mut Response<ProxyBody>);

    /// body_filter and log: replaces the response's body with the one
    /// that goes out (in place: the response is not taken apart and put
    /// together again, a copy of it each way).
    fn body(&mut self, s: &mut Session<'_>, resp: &mut Response<ProxyBody>);
}

/// The hooks of a route without functions: nothing.
pub struct NoHooks;

impl Hooks for NoHooks {
    #[inline(always)]
    async fn request(&mut self, _: &mut Session<'_>, _: &mut Response<ProxyBody>) -> bool {
        false
    }

    #[inline(always)]
    async fn response(&mut self, _: &mut Session<'_>, _: &mut Response<ProxyBody>) {}

    #[inline(always)]
    fn body(&mut self, _: &mut Session<'_>, _: &mut Response<ProxyBody>) {}
}

/// Runs one routed request through its hooks and the upstream, its
/// response written into `out`. All are the caller's: the session and the
/// hooks stay where they were made (a future that owned them would copy
/// them in, and again on its first poll), and the response is filled in
/// the connection's slot, where returning it copied it (~150 bytes) out
/// of each future on the way up.
pub async fn run<H: Hooks>(s: &mut Session<'_>, hooks: &mut H, out: &mut Response<ProxyBody>) {
    if !hooks.request(s, out).await {
        forward(s, out).await;
    }
    hooks.response(s, out).await;
    hooks.body(s, out);
}
