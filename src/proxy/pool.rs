//! The worker's upstream connection pool: idle HTTP/1.1 keep-alive
//! connections per `host:port`, owned by one worker thread (no locks;
//! `RefCell`).
//!
//! The pool as a whole is bounded (see [`set_idle_limit`]): pool keys come
//! partly from clients (the SNI of an `https` service with `preserve_host`
//! is the client's Host), and a client sending a new Host each time would
//! otherwise leave a connection, and its descriptor, idle for ever under
//! each. Check-in sweeps when the pool is full (the longest idle go, down
//! to three quarters of the bound) and when a sweep is [`MAX_IDLE`] old
//! (expired connections go): a sweep walks the pool, but the next one is
//! a quarter of the bound's check-ins or `MAX_IDLE` away.
//!
//! A connection is checked out for one request and comes back when its
//! response has been read to the end, cleanly framed, with nothing left
//! over (see `client`). Before an idle connection is handed out again it
//! is checked: if the upstream closed it (EOF or reset) or wrote anything
//! after its last response (stray bytes that would be read as the next
//! answer), it is discarded — nginx's keepalive module does the same from
//! its event loop. The check is a non-blocking `peek`, made only when the
//! worker's event loop has seen the socket become readable since its last
//! response was read, or when it has been idle a while: a busy pool then
//! costs no syscall per request. New connections honour the
//! service's `connect_timeout` and `retries` (Kong retries on connect
//! failures: refused, unreachable, timed out).
//!
//! `https` services: the TLS handshake is part of opening a connection
//! (under `connect_timeout`, retried like a refused connect, as nginx
//! does); the session the upstream gave is kept by the service's client
//! configuration and resumed by the next connection. Pooled TLS connections
//! are keyed by scheme, host, port and SNI.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::router::Upstream;

/// Idle connections older than this are dropped rather than reused: below
/// nginx's default `keepalive_timeout` (60 s) so a reuse rarely races the
/// upstream closing it (and when it does, the request may be retried).
const MAX_IDLE: Duration = Duration::from_secs(50);
/// Idle connections (and pool lists) kept per worker, over all
/// upstreams, at most: enough for any one upstream's keep-alive (Kong
/// keeps 512 per pool).
const MAX_IDLE_TOTAL: usize = 1024;
/// ... and at least.
const MIN_IDLE_TOTAL: usize = 8;
/// The bound of a worker's pool made from now on (see [`set_idle_limit`]).
static IDLE_LIMIT: AtomicUsize = AtomicUsize::new(MAX_IDLE_TOTAL);

/// Idle connections older than this are probed with a real `peek` even
/// if the event loop saw nothing arrive (see [`UpstreamConn::is_quiet`]).
const PROBE_AFTER: Duration = Duration::from_secs(1);
/// Initial capacity of a connection's read buffer.
pub const READ_CHUNK: usize = 4 * 1024;

/// Bounds each worker's idle connections to its share (of `workers`) of a
/// quarter of the open files limit, within [`MIN_IDLE_TOTAL`] and
/// [`MAX_IDLE_TOTAL`]: idle connections alone then never exhaust the
/// descriptors clients and busy connections need. Called at start-up,
/// after the limit is raised, before the workers start.
pub fn set_idle_limit(workers: usize) {
    let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let share = nofile.map_or(usize::MAX, |n| {
        usize::try_from(n / 4).unwrap_or(usize::MAX) / workers.max(1)
    });
    IDLE_LIMIT.store(
        share.clamp(MIN_IDLE_TOTAL, MAX_IDLE_TOTAL),
        Ordering::Relaxed,
    );
}

/// A connection to an upstream: plain TCP, or TLS over it.
pub enum UpstreamStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl UpstreamStream {
    fn tcp(&self) -> &TcpStream {
        match self {
            UpstreamStream::Plain(s) => s,
            UpstreamStream::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            UpstreamStream::Plain(s) => s.is_write_vectored(),
            UpstreamStream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_flush(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// One upstream connection with its buffers.
pub struct UpstreamConn {
    pub stream: UpstreamStream,
    pub read_buf: BytesMut,
    pub write_buf: Vec<u8>,
    /// Requests served so far (a reused connection may be stale).
    pub uses: u32,
    /// The pool list it goes back to.
    pub key: Rc<str>,
    /// The timer of reads that wait for the response head, kept and reset
    /// (see `client::read_head_bytes`).
    pub timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl UpstreamConn {
    pub fn new(stream: UpstreamStream, key: Rc<str>) -> Self {
        UpstreamConn {
            stream,
            read_buf: BytesMut::with_capacity(READ_CHUNK),
            write_buf: Vec::with_capacity(1024),
            uses: 0,
            key,
            timer: None,
        }
    }

    /// Whether an idle connection can carry another request: open, and
    /// nothing waiting to be read.
    ///
    /// A connection idle for less than [`PROBE_AFTER`] is probed only if
    /// tokio's readiness says bytes or a FIN arrived since its last
    /// response was read (a read that comes back short clears it, and the
    /// event loop sets it again on the next event): that is what nginx
    /// knows from its event loop too. The probe itself is a real
    /// `recv(MSG_PEEK)` on the non-blocking socket; one that finds
    /// nothing clears the readiness. Older connections are always probed:
    /// an upstream closing an idle connection (its keep-alive timeout) is
    /// then seen even if the event loop has not caught up with it; a close
    /// that still slips through is `client::send`'s stale-connection case.
    ///
    /// On TLS, bytes may be records that carry no data (a session ticket
    /// sent late, a key update): they are read through TLS without
    /// waiting; only data or a close makes the connection unusable.
    fn is_quiet(&mut self, idle_for: Duration) -> bool {
        if !self.read_buf.is_empty() {
            return false;
        }
        let tcp = self.stream.tcp();
        let mut probe = [MaybeUninit::<u8>::uninit(); 1];
        let mut peek = || socket2::SockRef::from(tcp).peek(&mut probe);
        let peeked = if idle_for < PROBE_AFTER {
            // Err(WouldBlock) without a syscall when nothing was seen.
            tcp.try_io(tokio::io::Interest::READABLE, peek)
        } else {
            peek()
        };
        match peeked {
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
            // Ok(0): the upstream closed it.
            Ok(0) => false,
            // Stray bytes; on TLS maybe only handshake records.
            Ok(_) => match &mut self.stream {
                UpstreamStream::Plain(_) => false,
                UpstreamStream::Tls(tls) => {
                    let mut cx = Context::from_waker(std::task::Waker::noop());
                    let mut byte = [0u8; 1];
                    let mut buf = ReadBuf::new(&mut byte);
                    matches!(
                        Pin::new(tls.as_mut()).poll_read(&mut cx, &mut buf),
                        Poll::Pending
                    )
                }
            },
        }
    }
}

struct Idle {
    conn: UpstreamConn,
    /// When it came back: microseconds since the pool's `epoch` (not an
    /// `Instant`, twice the size: at 128 bytes in the release build, an
    /// `Idle` is moved in and out of its list by a few inline stores, not
    /// a `memcpy` call (callgrind: none left in check-out and check-in;
    /// a test build's is larger).
    since: u64,
}

/// The worker's idle connections.
pub struct Pool {
    idle: RefCell<Lists>,
    /// Idle connections (and lists) kept at most.
    limit: usize,
    epoch: Instant,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            limit: IDLE_LIMIT.load(Ordering::Relaxed),
            epoch: Instant::now(),
            idle: RefCell::new(Lists {
                lists: HashMap::default(),
                count: 0,
                swept: Instant::now(),
            }),
        }
    }
}

/// Idle lists by pool key, each oldest first. Looked up twice per request
/// (check-out, check-in): foldhash, seeded per process, rather than SipHash
/// (~500 instructions a request less).
struct Lists {
    lists: HashMap<Box<str>, Vec<Idle>, foldhash::fast::RandomState>,
    /// Connections in all lists.
    count: usize,
    /// When the last sweep was.
    swept: Instant,
}

impl Lists {
    /// Drops expired connections, then the longest idle ones beyond
    /// `keep`, and the lists left empty. `at`: `now` in pool ticks.
    fn sweep(&mut self, now: Instant, at: u64, keep: usize) {
        self.swept = now;
        let mut bound = at.checked_sub(MAX_IDLE.as_micros() as u64);
        if self.count > keep {
            let mut since: Vec<u64> = self.lists.values().flatten().map(|i| i.since).collect();
            if let Some(nth) = since.len().checked_sub(keep + 1) {
                bound = bound.max(Some(*since.select_nth_unstable(nth).1));
            }
        }
        let mut count = 0;
        self.lists.retain(|_, list| {
            if let Some(bound) = bound {
                let old = list.partition_point(|i| i.since <= bound);
                list.drain(..old);
            }
            count += list.len();
            !list.is_empty()
        });
        self.count = count;
    }
}

/// How an attempt to open a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connect timed out")]
    Timeout,
    /// The host name does not resolve.
    #[error("name resolution failed: {0}")]
    Resolve(io::Error),
    #[error("{0}")]
    Failed(io::Error),
    /// The TLS handshake failed (a certificate that does not verify …).
    #[error("TLS handshake: {0}")]
    Handshake(io::Error),
}

/// Where a new connection goes: the pool list and, for TLS, the server
/// name (SNI, and the name verified).
pub struct Target<'a> {
    pub key: &'a str,
    pub server_name: Option<&'a ServerName<'static>>,
}

impl Pool {
    pub fn new() -> Self {
        Pool::default()
    }

    /// `t` in the pool's ticks (see [`Idle::since`]).
    fn ticks(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_micros() as u64
    }

    /// The most recently used idle connection of pool list `key` that is
    /// still open and quiet; the others are closed on the way. `now`: the
    /// time the caller read last (the request's send time), for how long
    /// each was idle.
    pub fn checkout(&self, key: &str, now: Instant) -> Option<UpstreamConn> {
        let mut pool = self.idle.borrow_mut();
        let Lists { lists, count, .. } = &mut *pool;
        let list = lists.get_mut(key)?;
        let at = self.ticks(now);
        while let Some(mut idle) = list.pop() {
            *count -= 1;
            let idle_for = Duration::from_micros(at.saturating_sub(idle.since));
            if idle_for > MAX_IDLE {
                continue;
            }
            if idle.conn.is_quiet(idle_for) {
                return Some(idle.conn);
            }
            tracing::debug!(upstream = %key, "idle upstream connection closed or not quiet: discarded");
        }
        None
    }

    /// Puts back a connection whose last response was read to its end
    /// (`now`, as the caller read it: the response's arrival); sweeps the
    /// pool when it is full or a sweep is due.
    pub fn checkin(&self, conn: UpstreamConn, now: Instant) {
        let at = self.ticks(now);
        let mut pool = self.idle.borrow_mut();
        if pool.count >= self.limit || pool.lists.len() >= self.limit {
            pool.sweep(now, at, self.limit * 3 / 4);
        } else if now.duration_since(pool.swept) > MAX_IDLE {
            pool.sweep(now, at, self.limit);
        }
        pool.count += 1;
        let list = match pool.lists.get_mut(&*conn.key) {
            Some(list) => list,
            None => pool.lists.entry((*conn.key).into()).or_default(),
        };
        list.push(Idle { conn, since: at });
    }

    /// Opens a new connection, retrying connect failures `retries` times.
    pub async fn connect(
        &self,
        upstream: &Upstream,
        target: Target<'_>,
    ) -> Result<UpstreamConn, ConnectError> {
        let mut attempt = 0;
        let key: Rc<str> = Rc::from(target.key);
        loop {
            match connect_once(upstream, target.server_name).await {
                Ok(s) => return Ok(UpstreamConn::new(s, key)),
                // Kong resolves once, before its balancer's tries.
                Err(e) if attempt < upstream.retries && !matches!(e, ConnectError::Resolve(_)) => {
                    tracing::debug!(upstream = %upstream.pool_key, attempt, error = %e, "connect failed, retrying");
                    attempt += 1;
                }
                Err(e) => {
                    tracing::warn!(upstream = %upstream.pool_key, error = %e, "cannot connect to upstream");
                    return Err(e);
                }
            }
        }
    }
}

/// `localhost` and names under it are the loopback address (RFC 6761 §6.3),
/// answered without /etc/hosts or DNS: a `FROM scratch` container may have
/// neither, and musl would then ask a nameserver on 127.0.0.1:53.
fn is_localhost(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host).as_bytes();
    host.eq_ignore_ascii_case(b"localhost")
        || (host.len() > 10 && host[host.len() - 10..].eq_ignore_ascii_case(b".localhost"))
}

async fn connect_once(
    upstream: &Upstream,
    server_name: Option<&ServerName<'static>>,
) -> Result<UpstreamStream, ConnectError> {
    let fut = async {
        let stream = match upstream.host.parse::<IpAddr>() {
            Ok(ip) => TcpStream::connect(SocketAddr::new(ip, upstream.port)).await,
            Err(_) if is_localhost(&upstream.host) => {
                TcpStream::connect(SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::LOCALHOST),
                    upstream.port,
                ))
                .await
            }
            Err(_) => {
                // The platform resolver: /etc/hosts, then DNS per
                // /etc/resolv.conf (musl without one asks 127.0.0.1:53).
                let host = upstream.host.trim_start_matches('[').trim_end_matches(']');
                let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, upstream.port))
                    .await
                    .map_err(ConnectError::Resolve)?
                    .collect();
                if addrs.is_empty() {
                    return Err(ConnectError::Resolve(io::ErrorKind::NotFound.into()));
                }
                TcpStream::connect(&addrs[..]).await
            }
        }
        .map_err(ConnectError::Failed)?;
        let _ = stream.set_nodelay(true);
        let (Some(config), Some(name)) = (&upstream.tls, server_name) else {
            return Ok(UpstreamStream::Plain(stream));
        };
        let tls = tokio_rustls::TlsConnector::from(config.clone())
            .connect(name.clone(), stream)
            .await
            .map_err(ConnectError::Handshake)?;
        Ok(UpstreamStream::Tls(Box::new(tls)))
    };
    match tokio::time::timeout(upstream.connect_timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::Timeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool bounded to 4 connections: a check-in to the full pool first
    /// sweeps it to 3, the longest idle going, and drops the lists left
    /// empty.
    #[tokio::test]
    async fn a_full_pool_drops_its_longest_idle_connections() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let pool = Pool {
            limit: 4,
            ..Pool::default()
        };
        let mut held = Vec::new();
        for key in ["a", "b", "c", "d", "d", "d"] {
            let stream = TcpStream::connect(addr).await.unwrap();
            held.push(listener.accept().await.unwrap());
            pool.checkin(
                UpstreamConn::new(UpstreamStream::Plain(stream), key.into()),
                Instant::now(),
            );
        }
        let idle = pool.idle.borrow();
        assert_eq!(idle.count, 4);
        let mut keys: Vec<_> = idle.lists.iter().map(|(k, l)| (&**k, l.len())).collect();
        keys.sort();
        assert_eq!(keys, [("c", 1), ("d", 3)]);
    }

    #[test]
    fn localhost_names_are_loopback_without_a_resolver() {
        for name in ["localhost", "LocalHost", "localhost.", "api.localhost"] {
            assert!(is_localhost(name), "{name}");
        }
        for name in [
            "localhost.example",
            "notlocalhost",
            "xlocalhost",
            ".localhost",
            "127.0.0.1",
        ] {
            assert!(!is_localhost(name), "{name}");
        }
    }
}
