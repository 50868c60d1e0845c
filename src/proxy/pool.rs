//! The worker's upstream connection pool: idle HTTP/1.1 keep-alive
//! connections per `host:port`, owned by one worker thread (no locks;
//! `RefCell`).
//!
//! A connection is checked out for one request and comes back when its
//! response has been read to the end, cleanly framed, with nothing left
//! over (see `client`). Before an idle connection is handed out again it
//! is probed with a non-blocking `peek`: if the upstream closed it (EOF or
//! reset) or wrote anything after its last response (stray bytes that
//! would be read as the next answer), it is discarded — nginx's keepalive
//! module does the same from its event loop. New connections honour the
//! service's `connect_timeout` and `retries` (Kong retries on connect
//! failures: refused, unreachable, timed out).

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::net::TcpStream;

use super::router::Upstream;

/// Idle connections older than this are dropped rather than reused: below
/// nginx's default `keepalive_timeout` (60 s) so a reuse rarely races the
/// upstream closing it (and when it does, the request may be retried).
const MAX_IDLE: Duration = Duration::from_secs(50);
/// Idle connections kept per upstream.
const MAX_IDLE_PER_KEY: usize = 1024;
/// Initial capacity of a connection's read buffer.
pub const READ_CHUNK: usize = 4 * 1024;

/// One upstream connection with its buffers.
pub struct UpstreamConn {
    pub stream: TcpStream,
    pub read_buf: BytesMut,
    pub write_buf: Vec<u8>,
    /// Requests served so far (a reused connection may be stale).
    pub uses: u32,
}

impl UpstreamConn {
    pub fn new(stream: TcpStream) -> Self {
        UpstreamConn {
            stream,
            read_buf: BytesMut::with_capacity(READ_CHUNK),
            write_buf: Vec::with_capacity(1024),
            uses: 0,
        }
    }

    /// Whether an idle connection can carry another request: open, and
    /// nothing waiting to be read. A real `recv(MSG_PEEK)` on the
    /// non-blocking socket (one syscall), not tokio's cached readiness,
    /// which may not have seen the upstream's last bytes or FIN yet.
    fn is_quiet(&self) -> bool {
        if !self.read_buf.is_empty() {
            return false;
        }
        let mut probe = [MaybeUninit::<u8>::uninit(); 1];
        match socket2::SockRef::from(&self.stream).peek(&mut probe) {
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
            // Ok(0): the upstream closed it; Ok(_): stray bytes.
            Ok(_) => false,
        }
    }
}

struct Idle {
    conn: UpstreamConn,
    since: Instant,
}

#[derive(Default)]
pub struct Pool {
    idle: RefCell<HashMap<Box<str>, Vec<Idle>>>,
}

/// How an attempt to open a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connect timed out")]
    Timeout,
    #[error("{0}")]
    Failed(io::Error),
}

impl Pool {
    pub fn new() -> Self {
        Pool::default()
    }

    /// The most recently used idle connection to `upstream` that is still
    /// open and quiet; the others are closed on the way.
    pub fn checkout(&self, upstream: &Upstream) -> Option<UpstreamConn> {
        let mut map = self.idle.borrow_mut();
        let list = map.get_mut(&*upstream.pool_key)?;
        while let Some(idle) = list.pop() {
            if idle.since.elapsed() > MAX_IDLE {
                continue;
            }
            if idle.conn.is_quiet() {
                return Some(idle.conn);
            }
            tracing::debug!(upstream = %upstream.pool_key, "idle upstream connection closed or not quiet: discarded");
        }
        None
    }

    /// Puts back a connection whose last response was read to its end.
    pub fn checkin(&self, key: &str, conn: UpstreamConn) {
        let mut map = self.idle.borrow_mut();
        let list = match map.get_mut(key) {
            Some(list) => list,
            None => map.entry(key.into()).or_default(),
        };
        if list.len() < MAX_IDLE_PER_KEY {
            list.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    /// Opens a new connection, retrying connect failures `retries` times.
    pub async fn connect(&self, upstream: &Upstream) -> Result<UpstreamConn, ConnectError> {
        let mut attempt = 0;
        loop {
            match connect_once(upstream).await {
                Ok(s) => return Ok(UpstreamConn::new(s)),
                Err(e) if attempt < upstream.retries => {
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

async fn connect_once(upstream: &Upstream) -> Result<TcpStream, ConnectError> {
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
                TcpStream::connect((host, upstream.port)).await
            }
        }
        .map_err(ConnectError::Failed)?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    };
    match tokio::time::timeout(upstream.connect_timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::Timeout),
    }
}

#[cfg(test)]
mod tests {
    use super::is_localhost;

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
