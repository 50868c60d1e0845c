//! Proxy workers: one OS thread per worker, each with a current-thread tokio
//! runtime, its own SO_REUSEPORT listening socket (the kernel spreads
//! connections), its own upstream pool and, later, its own Lua VM — the
//! nginx worker model. Nothing is shared between workers but the
//! configuration snapshot.
//!
//! Shutdown: when the watch channel turns `true`, a worker stops accepting,
//! asks its connections to finish (keep-alive connections close after their
//! in-flight request), waits for them at most [`DRAIN_TIMEOUT`], and
//! returns.

use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::Poll;
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};

use super::forward::{handle, WorkerContext};
use super::headers::ConnInfo;
use super::idle::{Activity, CountingIo, Registry, Stop};
use crate::snapshot::SharedConfig;

/// A client connection with no traffic for this long is closed (between one
/// and two periods, in fact): nginx's `keepalive_timeout` and
/// `client_header_timeout` in one.
pub const CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long in-flight requests get to finish after the shutdown signal.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The running workers.
pub struct ProxyWorkers {
    /// The address actually bound (resolves port 0).
    pub local_addr: SocketAddr,
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
    listen: SocketAddr,
    workers: usize,
    config: SharedConfig,
    shutdown: watch::Receiver<bool>,
) -> io::Result<ProxyWorkers> {
    let workers = workers.max(1);
    let first = bind_reuseport(listen)?;
    let local_addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..workers {
        listeners.push(bind_reuseport(local_addr)?);
    }
    let mut handles = Vec::with_capacity(workers);
    for (id, listener) in listeners.into_iter().enumerate() {
        let config = config.clone();
        let shutdown = shutdown.clone();
        let handle = std::thread::Builder::new()
            .name(format!("lunagate-proxy-{id}"))
            .spawn(move || run_worker(id, listener, config, shutdown))?;
        handles.push(handle);
    }
    Ok(ProxyWorkers {
        local_addr,
        handles,
    })
}

fn run_worker(
    id: usize,
    listener: std::net::TcpListener,
    config: SharedConfig,
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
        match TcpListener::from_std(listener) {
            Ok(listener) => accept_loop(id, listener, config, shutdown).await,
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
        let n = self.0.live.get().saturating_sub(1);
        self.0.live.set(n);
        if n == 0 {
            self.0.idle.notify_waiters();
        }
    }
}

fn server_builder() -> auto::Builder<LocalExec> {
    let mut builder = auto::Builder::new(LocalExec);
    builder
        .http1()
        // Idle and slow clients are handled by `idle` (no timer per request).
        .header_read_timeout(None)
        .max_buf_size(64 * 1024)
        .max_headers(200)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(128);
    builder
}

async fn accept_loop(
    id: usize,
    listener: TcpListener,
    config: SharedConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let server_port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let ctx = Rc::new(WorkerContext::new(id, config));
    let builder = Rc::new(server_builder());
    let conns = Rc::new(Connections::default());
    let registry = Registry::default();
    let mut sweep = tokio::time::interval(CLIENT_IDLE_TIMEOUT);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut signal_open = true;
    tracing::debug!(worker = id, "proxy worker started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    conns.live.set(conns.live.get() + 1);
                    let guard = ConnGuard(conns.clone());
                    let activity = Rc::new(Activity::default());
                    registry.add(&activity);
                    let task = serve_connection(stream, peer, server_port, ctx.clone(), builder.clone(), activity);
                    tokio::task::spawn_local(async move {
                        task.await;
                        drop(guard);
                    });
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(worker = id, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = sweep.tick() => registry.sweep_idle(),
            changed = shutdown.changed(), if signal_open => {
                // A dropped sender cannot stop us any more: keep serving.
                signal_open = changed.is_ok();
            }
        }
    }
    drop(listener);
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
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    server_port: u16,
    ctx: Rc<WorkerContext>,
    builder: Rc<auto::Builder<LocalExec>>,
    activity: Rc<Activity>,
) {
    let _ = stream.set_nodelay(true);
    let info = Rc::new(ConnInfo::new(peer, server_port));
    let io = CountingIo::new(TokioIo::new(stream), activity.clone());
    let requests = activity.clone();
    let service = service_fn(move |req: Request<Incoming>| {
        let ctx = ctx.clone();
        let info = info.clone();
        let busy = requests.busy();
        async move {
            let resp = handle(&ctx, &info, req).await;
            drop(busy);
            Ok::<_, Infallible>(resp)
        }
    });
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    // Polls the connection alone; the stop flag is read only when it waits.
    let outcome = std::future::poll_fn(|cx| match conn.as_mut().poll(cx) {
        Poll::Ready(res) => Poll::Ready(Ok(res)),
        Poll::Pending => match activity.poll_stop(cx.waker()) {
            Some(stop) => Poll::Ready(Err(stop)),
            None => Poll::Pending,
        },
    })
    .await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "client connection ended with an error"),
        Err(Stop::Idle) => tracing::debug!(%peer, "closing idle client connection"),
        Err(Stop::Shutdown) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
