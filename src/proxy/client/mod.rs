//! The upstream side of the proxy: a small HTTP/1.1 client that works
//! directly on the pooled socket, in the request's own task.
//!
//! hyper's client runs every connection as a separate task fed through
//! channels; for a proxy that sends one request per connection at a time
//! that is two task switches and several allocations per request for
//! nothing. Here the request head is encoded into the connection's reused
//! buffer and written with one syscall, the response head is parsed with
//! `httparse` from the connection's read buffer (header values share that
//! buffer, no copy), and the body is either already complete in the buffer
//! (small responses: the connection goes straight back to the pool) or
//! streamed by [`UpstreamBody`], which owns the connection until the body
//! ends.
//!
//! Timeouts are per operation, as nginx's: `write_timeout` per write,
//! `read_timeout` per read (head and body).

use std::future::Future;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use futures_util::FutureExt;
use http::header::{HeaderMap, CONTENT_LENGTH};
use http::{Method, Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::framing::ChunkSizeLine;
use super::headers::{connection_tokens, listed_in, skip_upstream, Forwarding};
use super::inbound::{next_data, ClientBodyError, RequestBody};
use super::pool::{Pool, UpstreamConn, UpstreamStream};
use super::router::Upstream;
use super::short_copy::put_bytes;

mod body;
pub mod parse;
#[cfg(test)]
mod parse_fuzz;

use body::{release, reserve_read};
pub use body::{BodyError, UpstreamBody};
use parse::{parse_head, Head, ParseError, RespFraming};

/// How a request failed upstream.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A reused connection proved closed before the request could have
    /// been acted on (see [`send`]): the request, still intact, can go
    /// once more on a fresh connection.
    #[error("the pooled connection was closed by the upstream")]
    Stale,
    /// A fresh connection failed before any byte of the response, and
    /// the request is replayable: nginx's `proxy_next_upstream error`
    /// sends it again, up to the service's `retries`.
    #[error("upstream closed the connection without answering")]
    Unanswered,
    #[error("timed out")]
    Timeout,
    #[error("invalid response: {0}")]
    Invalid(#[from] ParseError),
    #[error("upstream closed the connection before answering")]
    Closed,
    #[error("upgrades are not supported")]
    Upgrade,
    /// Reading the client's body failed: the client's fault, not the
    /// upstream's.
    #[error("{0}")]
    ClientBody(ClientBodyError),
    /// The request line or `Host` would carry bytes that end it early.
    #[error("refused to send a request line or Host with control characters or spaces")]
    UnsafeHead,
    #[error("{0}")]
    Io(io::Error),
}

/// Runs an I/O operation under a timeout. The operation is tried once
/// first: most writes (and a flush of a plain socket) complete at once,
/// and then no timer is set up (a clock read, a runtime handle and a timer
/// registration saved per operation). `now` (see [`Outgoing::now`]) is
/// forgotten when the operation waits.
async fn with_timeout<T>(
    dur: Duration,
    fut: impl Future<Output = io::Result<T>>,
    now: &mut Option<Instant>,
) -> Result<T, SendError> {
    let mut fut = std::pin::pin!(fut);
    if let Some(done) = fut.as_mut().now_or_never() {
        return done.map_err(SendError::Io);
    }
    *now = None;
    match tokio::time::timeout(dur, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(SendError::Io(e)),
        Err(_) => Err(SendError::Timeout),
    }
}

/// Reads more of a response head into the connection's buffer, under
/// `timeout`. Tried once first, as [`with_timeout`]; a read that waits uses
/// the connection's own timer, reset rather than made anew: tokio moves a
/// registered timer's deadline later without touching its wheel, where a
/// `Timeout` per read set up, registered and removed a timer entry. The
/// timeout counts from `now` when the caller has the time (nothing waited
/// since it was read), as nginx arms its read timer with the time of its
/// event loop's turn.
async fn read_head_bytes(
    conn: &mut UpstreamConn,
    timeout: Duration,
    now: Option<Instant>,
) -> Result<usize, SendError> {
    let UpstreamConn {
        stream,
        read_buf,
        timer,
        ..
    } = conn;
    let mut read = std::pin::pin!(stream.read_buf(read_buf));
    if let Some(done) = read.as_mut().now_or_never() {
        return done.map_err(SendError::Io);
    }
    let now = now.map_or_else(tokio::time::Instant::now, tokio::time::Instant::from_std);
    let deadline = now + timeout;
    let timer = match timer {
        Some(t) => {
            t.as_mut().reset(deadline);
            t
        }
        None => timer.insert(Box::pin(tokio::time::sleep_until(deadline))),
    };
    std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = read.as_mut().poll(cx) {
            return Poll::Ready(r.map_err(SendError::Io));
        }
        timer.as_mut().poll(cx).map(|()| Err(SendError::Timeout))
    })
    .await
}

/// How the request body is framed on the wire: decided by the gateway
/// from the body it holds, never from the client's or a function's
/// `Content-Length` / `Transfer-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReqFraming {
    None,
    Length(u64),
    Chunked,
}

impl ReqFraming {
    fn of(method: &Method, body: Option<&OutgoingBody>) -> Self {
        match body {
            // Methods whose requests normally have a body say it is empty.
            None if matches!(*method, Method::POST | Method::PUT | Method::PATCH) => {
                ReqFraming::Length(0)
            }
            None => ReqFraming::None,
            Some(OutgoingBody::Whole(b)) => ReqFraming::Length(b.len() as u64),
            Some(OutgoingBody::Stream(b)) => match b.exact_len() {
                Some(n) => ReqFraming::Length(n),
                None => ReqFraming::Chunked,
            },
        }
    }
}

/// The request to send upstream, borrowed from the client's request: the
/// head is encoded straight into the connection's buffer (no header map is
/// rewritten), so a retry on another connection re-encodes it.
pub struct Outgoing<'a> {
    pub method: &'a Method,
    /// Path and query for the request line, already escaped.
    pub target: &'a [u8],
    /// The client's headers; hop-by-hop and gateway-owned ones are skipped.
    pub headers: &'a HeaderMap,
    /// The `Host` header to send.
    pub host: &'a [u8],
    pub forwarding: Forwarding<'a>,
    /// The request body; `None` when empty or once it has been sent.
    pub body: Option<OutgoingBody>,
    /// The longest wait for the next piece of a streamed body.
    pub client_body_timeout: Duration,
    /// The time as the caller last read it, while nothing has waited
    /// since (`None`: read it again): the send's own timers start from
    /// it rather than from another clock read.
    pub now: Option<Instant>,
    /// When the response head arrived, set by [`send`].
    pub answered: Option<Instant>,
}

/// A request body: the client's, streamed, or one the gateway holds whole
/// (read for serverless functions, or replaced by them).
pub enum OutgoingBody {
    Stream(RequestBody),
    Whole(Bytes),
}

/// Whether `target` and `host` can be written into a request head as they
/// are: visible ASCII only. Every way a function can change the request
/// line is checked in the PDK already; this is the check no future entry
/// point can bypass (header names and values are checked by their types).
fn head_safe(target: &[u8], host: &[u8]) -> bool {
    target.iter().all(|&b| b.is_ascii_graphic())
        && !target.is_empty()
        && host.iter().all(|&b| b.is_ascii_graphic())
}

/// Encodes the request head into `buf`; the framing headers are the
/// gateway's, computed from the body.
fn encode_head(buf: &mut Vec<u8>, req: &Outgoing<'_>) -> Result<ReqFraming, SendError> {
    if !head_safe(req.target, req.host) {
        return Err(SendError::UnsafeHead);
    }
    buf.clear();
    put_bytes(buf, req.method.as_str().as_bytes());
    buf.push(b' ');
    put_bytes(buf, req.target);
    buf.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    put_bytes(buf, req.host);
    buf.extend_from_slice(b"\r\n");
    let framing = ReqFraming::of(req.method, req.body.as_ref());
    let connection_tokens = connection_tokens(req.headers);
    for (name, value) in req.headers {
        if skip_upstream(name) || name == CONTENT_LENGTH {
            continue;
        }
        if let Some(tokens) = connection_tokens {
            if listed_in(tokens, name) {
                continue;
            }
        }
        put_bytes(buf, name.as_str().as_bytes());
        buf.extend_from_slice(b": ");
        put_bytes(buf, value.as_bytes());
        buf.extend_from_slice(b"\r\n");
    }
    req.forwarding.write(buf, req.headers);
    match framing {
        ReqFraming::None => {}
        ReqFraming::Length(n) => {
            buf.extend_from_slice(b"content-length: ");
            buf.extend_from_slice(n.to_string().as_bytes());
            buf.extend_from_slice(b"\r\n");
        }
        ReqFraming::Chunked => buf.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    buf.extend_from_slice(b"\r\n");
    Ok(framing)
}

/// Go's `Request.isReplayable`: the methods that are safe to send twice,
/// or a request that says it is (an `Idempotency-Key`).
fn idempotent(method: &Method, headers: &HeaderMap) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) || headers.contains_key("idempotency-key")
        || headers.contains_key("x-idempotency-key")
}

/// Writes `buf`, counting in `sent` what the kernel accepted.
async fn write_counted(
    stream: &mut UpstreamStream,
    buf: &[u8],
    timeout: Duration,
    sent: &mut usize,
    now: &mut Option<Instant>,
) -> Result<(), SendError> {
    while *sent < buf.len() {
        match with_timeout(timeout, stream.write(&buf[*sent..]), now).await? {
            0 => return Err(SendError::Io(io::ErrorKind::WriteZero.into())),
            n => *sent += n,
        }
    }
    Ok(())
}

/// Sends `req` on `conn` and reads the response head, written into
/// `into` (its status, version and headers: the caller's response is
/// filled in place, not returned and moved up each caller). On success
/// the connection travels inside the returned body (or is already back
/// in the pool when the body was complete).
///
/// A failure on a reused connection is reported as [`SendError::Stale`]
/// (retry once on a fresh connection) under the rules of Go's `net/http`
/// transport: when nothing of the request was written, or when the
/// request is replayable (idempotent, body still held) and the connection
/// failed before any byte of the response. The same failure on a fresh
/// connection is [`SendError::Unanswered`] (the service's retries decide).
/// A request the upstream may have acted on is never replayed otherwise.
pub async fn send<B>(
    mut conn: UpstreamConn,
    req: &mut Outgoing<'_>,
    upstream: &Arc<Upstream>,
    pool: &Rc<Pool>,
    into: &mut Response<B>,
) -> Result<UpstreamBody, SendError> {
    let reused = conn.uses > 0;
    conn.uses = conn.uses.saturating_add(1);
    let framing = encode_head(&mut conn.write_buf, req)?;
    let replayable =
        !matches!(req.body, Some(OutgoingBody::Stream(_))) && idempotent(req.method, req.headers);
    // Once the upstream may have read the request, only a replayable one
    // goes again, and only if the connection failed (not a timeout).
    let closed = |e: SendError| match e {
        SendError::Io(_) | SendError::Closed if replayable && reused => SendError::Stale,
        SendError::Io(_) | SendError::Closed if replayable => SendError::Unanswered,
        e => e,
    };

    // The head (and nothing else) first: if not one byte of it could be
    // written, the connection was closed and the body is untouched.
    let mut sent = 0;
    let head = write_counted(
        &mut conn.stream,
        &conn.write_buf,
        upstream.write_timeout,
        &mut sent,
        &mut req.now,
    )
    .await;
    if let Err(e) = head {
        return Err(match e {
            SendError::Io(_) if reused && sent == 0 => SendError::Stale,
            e => closed(e),
        });
    }
    let written = match &mut req.body {
        Some(OutgoingBody::Whole(bytes)) => {
            // Kept in `req` for a replay.
            with_timeout(
                upstream.write_timeout,
                conn.stream.write_all(bytes),
                &mut req.now,
            )
            .await
        }
        Some(OutgoingBody::Stream(_)) => match req.body.take() {
            Some(OutgoingBody::Stream(body)) => {
                req.now = None;
                write_body(
                    &mut conn,
                    body,
                    framing,
                    upstream.write_timeout,
                    req.client_body_timeout,
                )
                .await
            }
            _ => Ok(()),
        },
        None => Ok(()),
    };
    written.map_err(closed)?;
    // TLS may hold the end of the request in its buffer.
    with_timeout(upstream.write_timeout, conn.stream.flush(), &mut req.now)
        .await
        .map_err(closed)?;

    // Response head; 1xx responses (100 Continue) are skipped.
    let mut answered = false;
    loop {
        let head = loop {
            if !conn.read_buf.is_empty() {
                if let Some(head) = parse_head(&mut conn.read_buf, req.method)? {
                    break head;
                }
            }
            reserve_read(&mut conn.read_buf);
            let read = read_head_bytes(&mut conn, upstream.read_timeout, req.now.take()).await;
            let got = conn.read_buf.len();
            match read {
                Ok(0) if !answered && got == 0 => return Err(closed(SendError::Closed)),
                Ok(0) => return Err(SendError::Closed),
                Ok(_) => {}
                Err(e) if !answered && got == 0 => return Err(closed(e)),
                Err(e) => return Err(e),
            }
            answered = true;
        };
        if head.status.is_informational() {
            if head.status == StatusCode::SWITCHING_PROTOCOLS {
                return Err(SendError::Upgrade);
            }
            continue;
        }
        let answered = Instant::now();
        req.answered = Some(answered);
        return Ok(build_response(head, conn, upstream, pool, answered, into));
    }
}

/// Streams the client's body upstream. A client that pauses longer than
/// `client_timeout`, or sends a malformed body, fails the request with
/// [`SendError::ClientBody`] (and the upstream connection is dropped).
async fn write_body(
    conn: &mut UpstreamConn,
    mut body: RequestBody,
    framing: ReqFraming,
    write_timeout: Duration,
    client_timeout: Duration,
) -> Result<(), SendError> {
    let chunked = matches!(framing, ReqFraming::Chunked);
    while let Some(data) = next_data(&mut body, client_timeout)
        .await
        .map_err(SendError::ClientBody)?
    {
        if chunked {
            // The size line, the data and its CRLF in one vectored write.
            let size = ChunkSizeLine::new(data.len());
            let mut chunk = Buf::chain(size.as_bytes(), &data[..]).chain(&b"\r\n"[..]);
            with_timeout(
                write_timeout,
                conn.stream.write_all_buf(&mut chunk),
                &mut None,
            )
            .await?;
        } else {
            with_timeout(write_timeout, conn.stream.write_all(&data), &mut None).await?;
        }
    }
    if chunked {
        with_timeout(
            write_timeout,
            conn.stream.write_all(b"0\r\n\r\n"),
            &mut None,
        )
        .await?;
    }
    Ok(())
}

fn build_response<B>(
    head: Head,
    mut conn: UpstreamConn,
    upstream: &Arc<Upstream>,
    pool: &Rc<Pool>,
    now: Instant,
    into: &mut Response<B>,
) -> UpstreamBody {
    let Head {
        status,
        version,
        headers,
        keep_alive,
        framing,
    } = head;
    let body = match framing {
        RespFraming::Empty => {
            release(pool, conn, keep_alive, now);
            UpstreamBody::done()
        }
        RespFraming::Length(len) if conn.read_buf.len() as u64 >= len => {
            // The whole body is already here: the connection goes back now.
            let data = conn.read_buf.split_to(len as usize).freeze();
            let clean = conn.read_buf.is_empty();
            release(pool, conn, keep_alive && clean, now);
            UpstreamBody::complete(data)
        }
        framing => {
            UpstreamBody::streaming(conn, framing, keep_alive, upstream.clone(), pool.clone())
        }
    };
    *into.status_mut() = status;
    *into.version_mut() = version;
    *into.headers_mut() = headers;
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::headers::ConnInfo;

    #[test]
    fn request_heads_never_carry_control_characters() {
        let conn = ConnInfo::new("127.0.0.1:5555".parse().unwrap(), 8000, false);
        let headers = HeaderMap::new();
        let head = |target: &'static [u8], host: &'static [u8]| {
            let req = Outgoing {
                method: &Method::GET,
                target,
                headers: &headers,
                host,
                forwarding: Forwarding {
                    conn: &conn,
                    client_ip: None,
                    host: None,
                    path: b"/",
                    prefix: None,
                    request_id: b"id",
                },
                body: None,
                client_body_timeout: Duration::from_secs(1),
                now: None,
                answered: None,
            };
            let mut buf = Vec::new();
            encode_head(&mut buf, &req).map(|_| buf)
        };
        let ok = head(b"/a?b=%20c", b"example.com:81").unwrap();
        assert!(ok.starts_with(b"GET /a?b=%20c HTTP/1.1\r\nhost: example.com:81\r\n"));
        for (target, host) in [
            (&b"/a?b=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /x"[..], &b"h"[..]),
            (b"/a b", b"h"),
            (b"/a\x00", b"h"),
            (b"/\x7f", b"h"),
            (b"/\xc3\xa9", b"h"),
            (b"", b"h"),
            (b"/", b"h\r\nx-a: 1"),
        ] {
            assert!(
                matches!(head(target, host), Err(SendError::UnsafeHead)),
                "{:?} {:?}",
                String::from_utf8_lossy(target),
                String::from_utf8_lossy(host)
            );
        }
    }
}
