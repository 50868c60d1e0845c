//! Proxy workers: one OS thread per worker, each with a current-thread tokio
//! runtime, its own SO_REUSEPORT listening socket (the kernel spreads
//! connections), its own upstream pool and, later, its own Lua VM — the
//! nginx worker model. Nothing is shared between workers but the
//! configuration snapshot. HTTP/1 is served by the gateway's own server
//! (`server`), HTTP/2 (ALPN `h2`, or cleartext with prior knowledge) by
//! hyper's; a stream whose `:method` HTTP/1 would refuse
//! (`server::parse::method_allowed`) is reset, as nginx's HTTP/2 does.
//!
//! Slow clients: connections are swept a few times per timeout period
//! (`idle`): idle ones are closed, and one still sending its request head
//! after the client header timeout gets a 408 and is closed. At the file
//! descriptor limit, new clients are refused at once (`fdlimit`).
//!
//! TLS (`--proxy-listen-tls`): each worker also has its own socket on the
//! TLS address. A TLS client's ClientHello is read first (a lazy
//! acceptor), then the handshake runs with the current snapshot's server
//! configuration (`tls::server`: the certificate for the SNI, ALPN `h2`
//! or `http/1.1`), and the connection is served like a plain one, marked
//! `https` for the router, the forwarding headers and the PDK.
//!
//! PROXY protocol: on a listener marked `proxy_protocol`, a connection
//! first sends a PROXY header (`proxy_protocol`), read within the client
//! header timeout before HTTP or TLS; a connection without a valid one is
//! closed, as nginx does (`broken header`).
//!
//! Shutdown: when the watch channel turns `true`, a worker stops accepting,
//! asks its connections to finish (keep-alive connections close after their
//! in-flight request), waits for them at most [`DRAIN_TIMEOUT`], and
//! returns.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Context;
use std::task::Poll;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};

use super::body::ProxyBody;
use super::client::BodyError;
use super::context::{run_deferred, WorkerContext};
use super::dispatch::handle;
use super::errors::{raw_response, ProxyError};
use super::fdlimit::{out_of_descriptors, Reserve};
use super::headers::ConnInfo;
use super::idle::{Activity, CountingIo, Registry, RespondingGuard, Stop, SweepRules};
use super::inbound::RequestBody;
use super::pipeline::NoResponse;
use super::server::parse::method_allowed;
use super::ClientTimeouts;
use crate::config::Listen;
use crate::snapshot::SharedConfig;
use crate::tls::client_auth::ClientCert;

/// A client connection with no traffic for this long is closed (up to half
/// as long again, in fact): nginx's `keepalive_timeout`.
pub const CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long in-flight requests get to finish after the shutdown signal.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The running workers.
pub struct ProxyWorkers {
    /// The address actually bound (resolves port 0).
    pub local_addr: SocketAddr,
    /// The TLS address bound, if TLS is on.
    pub tls_addr: Option<SocketAddr>,
    handles: Vec<JoinHandle<()>>,
}

impl ProxyWorkers {
    /// Waits for every worker to return (after the shutdown signal).
    pub fn join(self) {
        for h in self.handles {
            let _ = h.join();
        }
    }
}

fn bind_reuseport(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

/// Starts `workers` proxy workers listening on `listen`. Every socket is
/// bound before this returns, so address errors are reported here.
pub fn spawn_workers(
    listen: Listen,
    tls_listen: Option<Listen>,
    workers: usize,
    config: SharedConfig,
    timeouts: ClientTimeouts,
    shutdown: watch::Receiver<bool>,
) -> io::Result<ProxyWorkers> {
    let workers = workers.max(1);
    let bind_all = |addr: SocketAddr| -> io::Result<(SocketAddr, Vec<std::net::TcpListener>)> {
        let first = bind_reuseport(addr)?;
        let bound = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..workers {
            listeners.push(bind_reuseport(bound)?);
        }
        Ok((bound, listeners))
    };
    let (local_addr, listeners) = bind_all(listen.addr)?;
    let proxy_protocol = Expects {
        plain: listen.proxy_protocol,
        tls: tls_listen.is_some_and(|l| l.proxy_protocol),
    };
    let (tls_addr, mut tls_listeners) = match tls_listen {
        Some(listen) => {
            let (bound, l) = bind_all(listen.addr)?;
            (Some(bound), l.into_iter().map(Some).collect())
        }
        None => (None, (0..workers).map(|_| None).collect::<Vec<_>>()),
    };
    let mut handles = Vec::with_capacity(workers);
    for (id, listener) in listeners.into_iter().enumerate() {
        let config = config.clone();
        let shutdown = shutdown.clone();
        let tls_listener = tls_listeners[id].take();
        let handle = std::thread::Builder::new()
            .name(format!("lunagate-proxy-{id}"))
            .spawn(move || {
                crate::pdk::worker::enter(id, workers);
                run_worker(
                    id,
                    listener,
                    tls_listener,
                    proxy_protocol,
                    config,
                    timeouts,
                    shutdown,
                )
            })?;
        handles.push(handle);
    }
    Ok(ProxyWorkers {
        local_addr,
        tls_addr,
        handles,
    })
}

/// Which listeners' connections open with a PROXY protocol header.
#[derive(Debug, Clone, Copy)]
struct Expects {
    plain: bool,
    tls: bool,
}

fn run_worker(
    id: usize,
    listener: std::net::TcpListener,
    tls_listener: Option<std::net::TcpListener>,
    proxy_protocol: Expects,
    config: SharedConfig,
    timeouts: ClientTimeouts,
    shutdown: watch::Receiver<bool>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(worker = id, error = %e, "cannot start the worker runtime");
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let tls = match tls_listener.map(TcpListener::from_std).transpose() {
            Ok(tls) => tls,
            Err(e) => {
                tracing::error!(worker = id, error = %e, "cannot register the TLS listener");
                return;
            }
        };
        match TcpListener::from_std(listener) {
            // A task of its own: the future given to `block_on` is polled
            // each time any task of the set runs, and a select! over four
            // sources cost ~1,000 instructions per request there.
            Ok(listener) => {
                let accepting = accept_loop(
                    id,
                    listener,
                    tls,
                    proxy_protocol,
                    config,
                    timeouts,
                    shutdown,
                );
                let _ = tokio::task::spawn_local(accepting).await;
            }
            Err(e) => tracing::error!(worker = id, error = %e, "cannot register the listener"),
        }
    });
}

/// Runs futures on the worker's own thread: lets hyper spawn HTTP/2 streams
/// whose futures are not `Send`.
#[derive(Clone, Copy)]
struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: Future + 'static,
{
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

/// Counts live connections so shutdown can wait for them.
#[derive(Default)]
struct Connections {
    live: Cell<usize>,
    idle: Notify,
}

struct ConnGuard(Rc<Connections>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        super::stats::closed();
        let n = self.0.live.get().saturating_sub(1);
        self.0.live.set(n);
        if n == 0 {
            self.0.idle.notify_waiters();
        }
    }
}

/// The HTTP/2 (TLS with ALPN `h2`, or cleartext with prior knowledge)
/// server settings; HTTP/1 is the gateway's own (`server`).
type H2Server = http2::Builder<LocalExec>;

fn h2_server() -> H2Server {
    let mut h2 = http2::Builder::new(LocalExec);
    h2.timer(TokioTimer::new()).max_concurrent_streams(128);
    h2
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether the client opens with HTTP/2's preface. Decided once per
/// connection by peeking (nothing is consumed), so HTTP/1.1 requests are
/// served by the HTTP/1 server directly rather than through a
/// protocol-sniffing wrapper on every read.
async fn is_h2(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 24];
    let mut wait = Duration::from_millis(1);
    loop {
        let n = match stream.peek(&mut buf).await {
            Ok(n) => n,
            Err(_) => return false,
        };
        if n == 0 || buf[..n] != H2_PREFACE[..n] {
            return false;
        }
        if n == H2_PREFACE.len() {
            return true;
        }
        // A partial preface: wait for the rest (peek does not consume, so
        // readiness cannot tell new bytes from old ones). Backing off keeps
        // a client that dribbles it from costing a wake-up per millisecond.
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_millis(64));
    }
}

/// How often connections are swept, and what a sweep enforces: a few
/// sweeps per timeout, so each fires within half a period of its due time.
fn sweep_rules(timeouts: &ClientTimeouts) -> (Duration, SweepRules) {
    let period = (CLIENT_IDLE_TIMEOUT.min(timeouts.header) / 2).max(Duration::from_millis(10));
    let idle_sweeps = CLIENT_IDLE_TIMEOUT.as_millis().div_ceil(period.as_millis()) as u32;
    (
        period,
        SweepRules {
            idle_sweeps,
            header_timeout: timeouts.header,
        },
    )
}

/// Accepts on the TLS listener, if there is one (never ready otherwise).
async fn accept_tls(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// What woke the accept loop.
enum Event {
    Accepted(io::Result<(TcpStream, SocketAddr)>, bool),
    Sweep,
    Signal(bool),
}

async fn accept_loop(
    id: usize,
    listener: TcpListener,
    tls_listener: Option<TcpListener>,
    proxy_protocol: Expects,
    config: SharedConfig,
    timeouts: ClientTimeouts,
    mut shutdown: watch::Receiver<bool>,
) {
    let server_port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let tls_port = tls_listener
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map_or(0, |a| a.port());
    let ctx = Rc::new(WorkerContext::new(id, config, timeouts));
    // Log phases run here, after their responses were sent.
    let deferred = tokio::task::spawn_local(run_deferred(ctx.clone()));
    let h2 = Rc::new(h2_server());
    let conns = Rc::new(Connections::default());
    let registry = Registry::default();
    let (period, rules) = sweep_rules(&timeouts);
    let mut sweep = tokio::time::interval(period);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reserve = Reserve::new();
    let mut at_limit = LimitLog::default();
    let mut signal_open = true;
    tracing::debug!(worker = id, "proxy worker started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        let event = tokio::select! {
            accepted = listener.accept() => Event::Accepted(accepted, false),
            accepted = accept_tls(tls_listener.as_ref()) => Event::Accepted(accepted, true),
            _ = sweep.tick() => Event::Sweep,
            changed = shutdown.changed(), if signal_open => Event::Signal(changed.is_ok()),
        };
        match event {
            Event::Accepted(Ok((stream, peer)), tls) => {
                super::stats::accepted(true);
                conns.live.set(conns.live.get() + 1);
                let guard = ConnGuard(conns.clone());
                let activity = Rc::new(Activity::default());
                registry.add(&activity);
                let port = if tls { tls_port } else { server_port };
                let info = ConnInfo::new(peer, port, tls);
                let header = if tls {
                    proxy_protocol.tls
                } else {
                    proxy_protocol.plain
                };
                let task =
                    serve_connection(stream, header, info, ctx.clone(), h2.clone(), activity);
                tokio::task::spawn_local(async move {
                    task.await;
                    drop(guard);
                });
            }
            Event::Accepted(Err(e), tls) if out_of_descriptors(&e) => {
                let from = match (&tls_listener, tls) {
                    (Some(l), true) => l,
                    _ => &listener,
                };
                let refused = refuse_at_limit(from, &mut reserve, &ctx);
                at_limit.note(id, refused);
                if !refused {
                    // No reserve to spare: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Event::Accepted(Err(e), _) => {
                tracing::warn!(worker = id, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Event::Sweep => registry.sweep(&rules),
            // A dropped sender cannot stop us any more: keep serving.
            Event::Signal(open) => signal_open = open,
        }
    }
    drop(listener);
    drop(tls_listener);
    registry.stop_all();
    tracing::debug!(
        worker = id,
        live = conns.live.get(),
        "proxy worker draining"
    );
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while conns.live.get() > 0 {
            let notified = conns.idle.notified();
            if conns.live.get() == 0 {
                break;
            }
            notified.await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            worker = id,
            live = conns.live.get(),
            "shutdown: connections still open after the drain timeout"
        );
    }
    deferred.abort();
}

/// At the descriptor limit: accepts the waiting client with the reserved
/// descriptor and refuses it at once (a 503 if its socket takes one)
/// rather than leave it hanging in the accept queue. False when there was
/// no reserve or no client.
fn refuse_at_limit(listener: &TcpListener, reserve: &mut Reserve, ctx: &WorkerContext) -> bool {
    if !reserve.release() {
        reserve.restore();
        return false;
    }
    let refused = match listener.accept().now_or_never() {
        Some(Ok((stream, _))) => {
            // Read what already came, so closing does not reset the
            // connection before the client reads the answer.
            let mut buf = [0u8; 4096];
            let _ = stream.try_read(&mut buf);
            let answer = raw_response(ProxyError::Unavailable, &ctx.request_ids.next());
            let _ = stream.try_write(&answer);
            super::stats::accepted(false);
            true
        }
        _ => false,
    };
    reserve.restore();
    refused
}

/// Logs refusals at the descriptor limit at most once a second.
#[derive(Default)]
struct LimitLog {
    since: Option<Instant>,
    refused: u64,
}

impl LimitLog {
    fn note(&mut self, worker: usize, refused: bool) {
        self.refused += u64::from(refused);
        if self
            .since
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            tracing::warn!(
                worker,
                refused = self.refused,
                "out of file descriptors: refusing new clients"
            );
            self.since = Some(Instant::now());
            self.refused = 0;
        }
    }
}

/// A response body that keeps its response marked as being sent until it
/// has been (or is dropped): bytes the client sends meanwhile are not a
/// slow request head.
struct InFlight {
    body: ProxyBody,
    _sending: RespondingGuard,
    /// `connections_writing` until the response is sent.
    _writing: super::stats::Writing,
}

impl Body for InFlight {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    proxy_protocol: bool,
    mut info: ConnInfo,
    ctx: Rc<WorkerContext>,
    h2_server: Rc<H2Server>,
    activity: Rc<Activity>,
) {
    let _ = stream.set_nodelay(true);
    // A client that never sends its first bytes (or its ClientHello) is
    // still subject to idle sweeps and shutdown.
    let stop = || {
        std::future::poll_fn(|cx| match activity.poll_stop(cx.waker()) {
            Some(stop) => Poll::Ready(stop),
            None => Poll::Pending,
        })
    };
    let peer = info.peer;
    if proxy_protocol {
        let header = tokio::time::timeout(
            ctx.timeouts.header,
            super::proxy_protocol::read(&mut stream),
        );
        let read = tokio::select! {
            read = header => read,
            _ = stop() => return,
        };
        match read {
            Ok(Ok(source)) => info.proxy_protocol = source,
            Ok(Err(e)) => {
                tracing::info!(%peer, "PROXY protocol: {e}; closing the connection");
                return;
            }
            Err(_) => {
                tracing::info!(%peer, "PROXY protocol: no header within the client header timeout; closing the connection");
                return;
            }
        }
    }
    if info.tls {
        let accepted = tokio::select! {
            accepted = tls_handshake(stream, &ctx, peer, info.port) => accepted,
            _ = stop() => return,
        };
        if let Some((stream, h2, session)) = accepted {
            info.sni = session
                .server_name
                .map(|s| s.to_ascii_lowercase().into_boxed_str());
            info.tls_session = session.names;
            info.client_cert = session.client_cert;
            serve_http(stream, h2, info, ctx, h2_server, activity).await;
        }
    } else {
        let h2 = tokio::select! {
            h2 = is_h2(&stream) => h2,
            _ = stop() => return,
        };
        serve_http(stream, h2, info, ctx, h2_server, activity).await;
    }
}

/// What a TLS handshake settled, for the connection's requests.
struct Session {
    server_name: Option<String>,
    /// Protocol and cipher (`$ssl_protocol`, `$ssl_cipher`).
    names: Option<(&'static str, &'static str)>,
    /// The client's certificate, when the certificate phase asked for one
    /// and the client sent it.
    client_cert: Option<Arc<ClientCert>>,
}

/// Reads the ClientHello, runs the global plugins' `certificate`
/// functions (which may end the handshake, or ask for a client
/// certificate), then completes the handshake with the current
/// configuration. Returns the stream and whether ALPN chose `h2`.
async fn tls_handshake(
    stream: TcpStream,
    ctx: &WorkerContext,
    peer: SocketAddr,
    port: u16,
) -> Option<(tokio_rustls::server::TlsStream<TcpStream>, bool, Session)> {
    let acceptor =
        tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
    let start = match acceptor.await {
        Ok(start) => start,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "TLS: no valid ClientHello");
            return None;
        }
    };
    let snapshot = ctx.snapshot();
    let hello = start.client_hello();
    let server_name = hello.server_name().map(str::to_string);
    let global = snapshot.plugins_plan.for_route(None);
    let asks =
        super::functions::certificate_phase(ctx, global, peer, port, server_name.as_deref())?;
    let config = snapshot.server_tls.as_ref()?.for_hello(&hello, &asks);
    match start.into_stream(config).await {
        Ok(stream) => {
            let conn = stream.get_ref().1;
            let h2 = conn.alpn_protocol() == Some(b"h2");
            let session = Session {
                server_name,
                names: crate::tls::server::session_names(conn),
                client_cert: asks
                    .client_cert
                    .as_ref()
                    .and_then(|cas| ClientCert::check(conn.peer_certificates(), cas))
                    .map(Arc::new),
            };
            Some((stream, h2, session))
        }
        Err(e) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            None
        }
    }
}

/// Serves HTTP/1.1 or HTTP/2 on an accepted (and maybe TLS) connection.
async fn serve_http<S>(
    stream: S,
    h2: bool,
    info: ConnInfo,
    ctx: Rc<WorkerContext>,
    h2_server: Rc<H2Server>,
    activity: Rc<Activity>,
) where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    if !h2 {
        return serve_h1(stream, &info, &ctx, &activity).await;
    }
    let peer = info.peer;
    let info = Rc::new(info);
    let requests = activity.clone();
    let service = service_fn(move |req: Request<Incoming>| {
        let ctx = ctx.clone();
        let info = info.clone();
        let (busy, _) = requests.busy();
        let writing = super::stats::request();
        async move {
            let (mut parts, body) = req.into_parts();
            if !method_allowed(parts.method.as_str().as_bytes()) {
                // nginx resets the stream (PROTOCOL_ERROR: "client sent
                // invalid method"); HTTP/1 answers the same rule with a
                // 400. hyper resets with the reason of an h2::Error.
                return Err(h2::Error::from(h2::Reason::PROTOCOL_ERROR));
            }
            let mut resp = http::Response::new(ProxyBody::Full(None));
            handle(
                &ctx,
                &info,
                &mut parts,
                RequestBody::Http2(body),
                None,
                &mut resp,
            )
            .await;
            // The head's map serves the next map this worker fills (an
            // upstream's response head, an exit's headers).
            super::headers::recycle_map(std::mem::take(&mut parts.headers));
            if NoResponse::is(&resp) {
                // hyper resets the stream (INTERNAL_ERROR), as nginx's
                // HTTP/2 does for a request ended with NGX_ERROR.
                return Err(h2::Error::from(h2::Reason::INTERNAL_ERROR));
            }
            let sending = busy.into_responding();
            Ok(resp.map(|body| InFlight {
                body,
                _sending: sending,
                _writing: writing,
            }))
        }
    });
    let io = TokioIo::new(CountingIo::new(stream, activity.clone()));
    let mut conn = h2_server.serve_connection(io, service);
    supervise(&mut conn, &activity, peer, |c| c.graceful_shutdown()).await;
}

/// Serves HTTP/1 with the gateway's own server until the connection ends,
/// or until the worker finds it idle (then it is dropped, and closed).
async fn serve_h1<S>(stream: S, info: &ConnInfo, ctx: &Rc<WorkerContext>, activity: &Rc<Activity>)
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    activity.time_heads();
    let io = CountingIo::new(stream, activity.clone());
    let mut conn = std::pin::pin!(super::server::serve(io, info, ctx, activity));
    std::future::poll_fn(|cx| {
        if conn.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        match activity.poll_stop(cx.waker()) {
            None => Poll::Pending,
            Some(Stop::Idle) => {
                tracing::debug!(peer = %info.peer, "closing idle client connection");
                Poll::Ready(())
            }
            // The connection reads the others itself, between requests
            // (a stop that came after it was polled wakes it here).
            Some(_) => conn.as_mut().poll(cx),
        }
    })
    .await
}

/// Drives an HTTP/2 connection until it ends or its worker asks it to
/// stop: an idle one is dropped, and at shutdown its streams in flight
/// finish first (HTTP/2 heads are not timed by the sweeps).
async fn supervise<C, E>(
    conn: &mut C,
    activity: &Activity,
    peer: SocketAddr,
    graceful: impl FnOnce(Pin<&mut C>),
) where
    C: Future<Output = Result<(), E>> + Unpin,
    E: std::fmt::Display,
{
    // Polls the connection alone; the stop flag is read only when it waits.
    let outcome = std::future::poll_fn(|cx| match Pin::new(&mut *conn).poll(cx) {
        Poll::Ready(res) => Poll::Ready(Ok(res)),
        Poll::Pending => match activity.poll_stop(cx.waker()) {
            Some(stop) => Poll::Ready(Err(stop)),
            None => Poll::Pending,
        },
    })
    .await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "client connection ended with an error");
        }
        Err(Stop::Shutdown) => {
            graceful(Pin::new(&mut *conn));
            let _ = conn.await;
        }
        Err(Stop::Idle | Stop::HeaderTimeout) => {
            tracing::debug!(%peer, "closing idle client connection");
        }
    }
}
