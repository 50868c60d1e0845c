//! The worker's upstream connection pool: HTTP/1.1 keep-alive connections
//! per `host:port`, owned by one worker thread (no locks; `Rc`/`RefCell`).
//!
//! A connection is checked out for one request and comes back when the
//! response body has been read to its end (see `body::UpstreamBody`). New
//! connections honour the service's `connect_timeout` and `retries` (Kong
//! retries on connect failures: refused, unreachable, timed out).

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::errors::ProxyError;
use super::router::Upstream;

/// The sending half of one upstream connection.
pub type Sender = SendRequest<Incoming>;

/// Idle connections older than this are dropped rather than reused: below
/// nginx's default `keepalive_timeout` (60 s) so a reuse rarely races the
/// upstream closing it.
const MAX_IDLE: Duration = Duration::from_secs(50);
/// Idle connections kept per upstream.
const MAX_IDLE_PER_KEY: usize = 1024;

struct Idle {
    sender: Sender,
    since: Instant,
}

pub struct Pool {
    idle: RefCell<HashMap<Box<str>, Vec<Idle>>>,
    builder: http1::Builder,
}

/// How an attempt to open a connection failed.
#[derive(Debug)]
pub enum ConnectError {
    Timeout,
    Failed(io::Error),
}

impl ConnectError {
    pub fn as_proxy_error(&self) -> ProxyError {
        match self {
            ConnectError::Timeout => ProxyError::Timeout,
            ConnectError::Failed(_) => ProxyError::Unavailable,
        }
    }
}

impl Pool {
    pub fn new() -> Self {
        let mut builder = http1::Builder::new();
        builder.max_buf_size(256 * 1024);
        Pool {
            idle: RefCell::new(HashMap::new()),
            builder,
        }
    }

    /// An idle connection to `upstream` that is ready for a request.
    pub async fn checkout(&self, upstream: &Upstream) -> Option<Sender> {
        loop {
            let idle = {
                let mut map = self.idle.borrow_mut();
                map.get_mut(&*upstream.pool_key)?.pop()?
            };
            if idle.sender.is_closed() || idle.since.elapsed() > MAX_IDLE {
                continue;
            }
            let mut sender = idle.sender;
            if sender.is_ready() {
                return Some(sender);
            }
            // The connection task may not have processed the end of the
            // previous response yet: give it a moment.
            if let Ok(Ok(())) =
                tokio::time::timeout(Duration::from_millis(100), sender.ready()).await
            {
                return Some(sender);
            }
        }
    }

    /// Puts a connection whose last response has been fully read back.
    pub fn checkin(&self, key: &str, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut map = self.idle.borrow_mut();
        let list = match map.get_mut(key) {
            Some(list) => list,
            None => map.entry(key.into()).or_default(),
        };
        if list.len() < MAX_IDLE_PER_KEY {
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    /// Opens a new connection, retrying connect failures `retries` times.
    pub async fn connect(&self, upstream: &Upstream) -> Result<Sender, ConnectError> {
        let mut attempt = 0;
        loop {
            match self.connect_once(upstream).await {
                Ok(s) => return Ok(s),
                Err(e) if attempt < upstream.retries => {
                    tracing::debug!(upstream = %upstream.pool_key, attempt, error = ?e, "connect failed, retrying");
                    attempt += 1;
                }
                Err(e) => {
                    tracing::warn!(upstream = %upstream.pool_key, error = ?e, "cannot connect to upstream");
                    return Err(e);
                }
            }
        }
    }

    async fn connect_once(&self, upstream: &Upstream) -> Result<Sender, ConnectError> {
        let fut = async {
            let stream = match upstream.host.parse::<IpAddr>() {
                Ok(ip) => TcpStream::connect(SocketAddr::new(ip, upstream.port)).await,
                Err(_) => {
                    let host = upstream.host.trim_start_matches('[').trim_end_matches(']');
                    TcpStream::connect((host, upstream.port)).await
                }
            }
            .map_err(ConnectError::Failed)?;
            let _ = stream.set_nodelay(true);
            let (sender, conn) = self
                .builder
                .handshake(TokioIo::new(stream))
                .await
                .map_err(|e| ConnectError::Failed(io::Error::other(e)))?;
            tokio::task::spawn_local(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "upstream connection closed with an error");
                }
            });
            Ok(sender)
        };
        match tokio::time::timeout(upstream.connect_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(ConnectError::Timeout),
        }
    }
}
