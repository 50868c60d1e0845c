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
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{
    HeaderMap, HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING,
};
use http::{Method, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::errors::ProxyError;
use super::headers::{connection_tokens, listed_in, skip_upstream, Forwarding};
use super::pool::Pool;
use super::router::Upstream;

/// Largest response head accepted from an upstream.
const MAX_HEAD: usize = 60 * 1024;
const MAX_HEADERS: usize = 128;
const READ_CHUNK: usize = 4 * 1024;

/// Makes room to read into. Response heads are split off and frozen (their
/// header values share the buffer), so only top up when little is left:
/// reserving a full chunk every time would allocate on every response.
fn reserve_read(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() < MIN_READ_SPACE {
        buf.reserve(READ_CHUNK);
    }
}

const MIN_READ_SPACE: usize = 1024;

/// One upstream connection with its buffers.
pub struct UpstreamConn {
    stream: TcpStream,
    read_buf: BytesMut,
    write_buf: Vec<u8>,
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
}

/// How a request failed upstream.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Nothing came back on a reused connection before it closed: the
    /// upstream had closed it while idle. The request can be retried if its
    /// body was not consumed.
    #[error("the pooled connection was closed by the upstream")]
    Stale,
    #[error("timed out")]
    Timeout,
    #[error("invalid response: {0}")]
    Invalid(&'static str),
    #[error("{0}")]
    Io(io::Error),
}

impl SendError {
    pub fn as_proxy_error(&self) -> ProxyError {
        match self {
            SendError::Timeout => ProxyError::Timeout,
            _ => ProxyError::BadGateway,
        }
    }
}

async fn with_timeout<T>(
    dur: Duration,
    fut: impl Future<Output = io::Result<T>>,
) -> Result<T, SendError> {
    match tokio::time::timeout(dur, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(SendError::Io(e)),
        Err(_) => Err(SendError::Timeout),
    }
}

/// How the request body is framed on the wire.
enum ReqFraming {
    None,
    Length,
    Chunked,
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
}

/// A request body: the client's, streamed, or one the gateway holds whole
/// (read for serverless functions, or replaced by them). A whole body is
/// sent with the `Content-Length` the caller put in the headers.
pub enum OutgoingBody {
    Stream(Incoming),
    Whole(Bytes),
}

/// Encodes the request head into `buf`; framing headers follow the body.
fn encode_head(buf: &mut Vec<u8>, req: &Outgoing<'_>) -> ReqFraming {
    buf.clear();
    buf.extend_from_slice(req.method.as_str().as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(req.target);
    buf.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    buf.extend_from_slice(req.host);
    buf.extend_from_slice(b"\r\n");
    let has_length = req.headers.contains_key(CONTENT_LENGTH);
    let framing = match &req.body {
        None if has_length => ReqFraming::Length,
        None => ReqFraming::None,
        Some(OutgoingBody::Whole(_)) if has_length => ReqFraming::Length,
        Some(OutgoingBody::Stream(body)) if has_length && body.size_hint().exact().is_some() => {
            ReqFraming::Length
        }
        Some(_) => ReqFraming::Chunked,
    };
    let connection_tokens = connection_tokens(req.headers);
    for (name, value) in req.headers {
        if skip_upstream(name) || (matches!(framing, ReqFraming::Chunked) && name == CONTENT_LENGTH)
        {
            continue;
        }
        if let Some(tokens) = connection_tokens {
            if listed_in(tokens, name) {
                continue;
            }
        }
        buf.extend_from_slice(name.as_str().as_bytes());
        buf.extend_from_slice(b": ");
        buf.extend_from_slice(value.as_bytes());
        buf.extend_from_slice(b"\r\n");
    }
    req.forwarding.write(buf, req.headers);
    if matches!(framing, ReqFraming::Chunked) {
        buf.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    buf.extend_from_slice(b"\r\n");
    framing
}

/// The parsed response head.
struct Head {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    keep_alive: bool,
    framing: RespFraming,
}

#[derive(Debug, Clone, Copy)]
enum RespFraming {
    Empty,
    Length(u64),
    Chunked,
    /// No length: the body runs to EOF and the connection is not reused.
    Eof,
}

/// Parses a response head at the start of `buf`; `Ok(None)` when more bytes
/// are needed.
fn parse_head(buf: &mut BytesMut, method: &Method) -> Result<Option<Head>, SendError> {
    // Uninitialised header slots: nothing to zero on every response.
    let mut raw = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, buf, &mut raw)
    {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
        Ok(httparse::Status::Complete(_)) => {
            return Err(SendError::Invalid("response head too large"))
        }
        Ok(httparse::Status::Partial) => {
            if buf.len() > MAX_HEAD {
                return Err(SendError::Invalid("response head too large"));
            }
            return Ok(None);
        }
        Err(_) => return Err(SendError::Invalid("malformed response head")),
    };
    let code = resp.code.ok_or(SendError::Invalid("no status"))?;
    let status = StatusCode::from_u16(code).map_err(|_| SendError::Invalid("bad status"))?;
    let version = if resp.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let count = resp.headers.len();
    // Offsets into the head, so values can share its bytes once frozen.
    let base = buf.as_ptr() as usize;
    // u16 offsets: a head is at most MAX_HEAD bytes.
    let mut spans = [(0u16, 0u16, 0u16, 0u16); MAX_HEADERS];
    for (i, h) in resp.headers.iter().enumerate() {
        let n = h.name.as_ptr() as usize - base;
        let v = h.value.as_ptr() as usize - base;
        spans[i] = (
            n as u16,
            h.name.len() as u16,
            v as u16,
            h.value.len() as u16,
        );
    }
    let head = buf.split_to(len).freeze();

    let mut headers = HeaderMap::with_capacity(count + 6);
    let mut keep_alive = version == Version::HTTP_11;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for &(n, nl, v, vl) in &spans[..count] {
        let (n, nl, v, vl) = (n as usize, nl as usize, v as usize, vl as usize);
        let name = HeaderName::from_bytes(&head[n..n + nl])
            .map_err(|_| SendError::Invalid("bad header name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice(v..v + vl))
            .map_err(|_| SendError::Invalid("bad header value"))?;
        if name == CONTENT_LENGTH {
            let parsed = std::str::from_utf8(value.as_bytes())
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or(SendError::Invalid("bad content-length"))?;
            if length.is_some_and(|l| l != parsed) {
                return Err(SendError::Invalid("conflicting content-length"));
            }
            length = Some(parsed);
        } else if name == TRANSFER_ENCODING {
            chunked = value
                .as_bytes()
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            if !chunked {
                keep_alive = false;
            }
        } else if name == CONNECTION {
            for token in value.as_bytes().split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && version == Version::HTTP_10 {
                    keep_alive = true;
                }
            }
        }
        headers.append(name, value);
    }
    let framing = if method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        RespFraming::Empty
    } else if chunked {
        RespFraming::Chunked
    } else if let Some(l) = length {
        if l == 0 {
            RespFraming::Empty
        } else {
            RespFraming::Length(l)
        }
    } else {
        keep_alive = false;
        RespFraming::Eof
    };
    if chunked {
        headers.remove(CONTENT_LENGTH);
    }
    Ok(Some(Head {
        status,
        version,
        headers,
        keep_alive,
        framing,
    }))
}

/// Sends `req` on `conn` and reads the response head. On success the
/// connection travels inside the returned body (or is already back in the
/// pool when the body was complete).
pub async fn send(
    mut conn: UpstreamConn,
    req: &mut Outgoing<'_>,
    upstream: &Arc<Upstream>,
    pool: &Rc<Pool>,
) -> Result<Response<UpstreamBody>, SendError> {
    let reused = conn.uses > 0;
    conn.uses = conn.uses.saturating_add(1);
    let framing = encode_head(&mut conn.write_buf, req);
    let has_body = req.body.is_some();

    // The head (and nothing else) first: a failure here leaves the request
    // intact for a retry on a fresh connection.
    let written = with_timeout(
        upstream.write_timeout,
        conn.stream.write_all(&conn.write_buf),
    )
    .await;
    if let Err(e) = written {
        return Err(if reused && !matches!(e, SendError::Timeout) {
            SendError::Stale
        } else {
            e
        });
    }
    match req.body.take() {
        Some(OutgoingBody::Stream(body)) => {
            write_body(&mut conn, body, framing, upstream.write_timeout).await?
        }
        Some(OutgoingBody::Whole(bytes)) => {
            let chunked = matches!(framing, ReqFraming::Chunked);
            if chunked {
                let size = format!("{:x}\r\n", bytes.len());
                with_timeout(
                    upstream.write_timeout,
                    conn.stream.write_all(size.as_bytes()),
                )
                .await?;
            }
            with_timeout(upstream.write_timeout, conn.stream.write_all(&bytes)).await?;
            if chunked {
                with_timeout(
                    upstream.write_timeout,
                    conn.stream.write_all(b"\r\n0\r\n\r\n"),
                )
                .await?;
            }
        }
        None => {}
    }

    // Response head; 1xx responses (100 Continue) are skipped.
    loop {
        let head = loop {
            if !conn.read_buf.is_empty() {
                if let Some(head) = parse_head(&mut conn.read_buf, req.method)? {
                    break head;
                }
            }
            reserve_read(&mut conn.read_buf);
            let n = match with_timeout(
                upstream.read_timeout,
                conn.stream.read_buf(&mut conn.read_buf),
            )
            .await
            {
                Ok(n) => n,
                // A reset before any byte of the answer on a reused
                // connection: the upstream had closed it while idle.
                Err(SendError::Io(e))
                    if reused && !has_body && conn.read_buf.is_empty() && is_reset(&e) =>
                {
                    return Err(SendError::Stale)
                }
                Err(e) => return Err(e),
            };
            if n == 0 {
                let nothing = conn.read_buf.is_empty();
                return Err(if reused && nothing && !has_body {
                    SendError::Stale
                } else {
                    SendError::Invalid("upstream closed the connection")
                });
            }
        };
        if head.status.is_informational() {
            if head.status == StatusCode::SWITCHING_PROTOCOLS {
                return Err(SendError::Invalid("upgrades are not supported"));
            }
            continue;
        }
        return Ok(build_response(head, conn, upstream, pool));
    }
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

async fn write_body(
    conn: &mut UpstreamConn,
    mut body: Incoming,
    framing: ReqFraming,
    timeout: Duration,
) -> Result<(), SendError> {
    let chunked = matches!(framing, ReqFraming::Chunked);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| SendError::Io(io::Error::other(e)))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        if chunked {
            let size = format!("{:x}\r\n", data.len());
            with_timeout(timeout, conn.stream.write_all(size.as_bytes())).await?;
            with_timeout(timeout, conn.stream.write_all(&data)).await?;
            with_timeout(timeout, conn.stream.write_all(b"\r\n")).await?;
        } else {
            with_timeout(timeout, conn.stream.write_all(&data)).await?;
        }
    }
    if chunked {
        with_timeout(timeout, conn.stream.write_all(b"0\r\n\r\n")).await?;
    }
    Ok(())
}

fn build_response(
    head: Head,
    mut conn: UpstreamConn,
    upstream: &Arc<Upstream>,
    pool: &Rc<Pool>,
) -> Response<UpstreamBody> {
    let Head {
        status,
        version,
        headers,
        keep_alive,
        framing,
    } = head;
    let body = match framing {
        RespFraming::Empty => {
            release(pool, upstream, conn, keep_alive);
            UpstreamBody::done()
        }
        RespFraming::Length(len) if conn.read_buf.len() as u64 >= len => {
            // The whole body is already here: the connection goes back now.
            let data = conn.read_buf.split_to(len as usize).freeze();
            let clean = conn.read_buf.is_empty();
            release(pool, upstream, conn, keep_alive && clean);
            UpstreamBody::complete(data)
        }
        framing => {
            UpstreamBody::streaming(conn, framing, keep_alive, upstream.clone(), pool.clone())
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.version_mut() = version;
    *resp.headers_mut() = headers;
    resp
}

fn release(pool: &Pool, upstream: &Upstream, conn: UpstreamConn, keep_alive: bool) {
    if keep_alive && conn.read_buf.is_empty() {
        pool.checkin(&upstream.pool_key, conn);
    }
}

/// Chunked decoding state.
#[derive(Debug, Clone, Copy)]
enum Chunk {
    /// Expecting a size line.
    Size,
    /// Inside a chunk's data, bytes left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
}

enum State {
    Done,
    Complete(Bytes),
    Streaming(Box<Streaming>),
}

struct Streaming {
    conn: Option<UpstreamConn>,
    framing: RespFraming,
    /// For `Length`: bytes still expected.
    remaining: u64,
    chunk: Chunk,
    keep_alive: bool,
    upstream: Arc<Upstream>,
    pool: Rc<Pool>,
    timer: Option<Pin<Box<Sleep>>>,
}

/// A response body read from an upstream connection.
pub struct UpstreamBody {
    state: State,
}

impl UpstreamBody {
    fn done() -> Self {
        UpstreamBody { state: State::Done }
    }

    fn complete(data: Bytes) -> Self {
        UpstreamBody {
            state: if data.is_empty() {
                State::Done
            } else {
                State::Complete(data)
            },
        }
    }

    fn streaming(
        conn: UpstreamConn,
        framing: RespFraming,
        keep_alive: bool,
        upstream: Arc<Upstream>,
        pool: Rc<Pool>,
    ) -> Self {
        let remaining = if let RespFraming::Length(l) = framing {
            l
        } else {
            0
        };
        UpstreamBody {
            state: State::Streaming(Box::new(Streaming {
                conn: Some(conn),
                framing,
                remaining,
                chunk: Chunk::Size,
                keep_alive,
                upstream,
                pool,
                timer: None,
            })),
        }
    }
}

/// Why a streamed body stopped early.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("upstream body: {0}")]
    Io(#[from] io::Error),
    #[error("upstream read timeout while streaming the body")]
    Timeout,
    #[error("malformed chunked body from upstream")]
    Chunked,
    #[error("upstream closed the connection before the end of the body")]
    Truncated,
}

impl Streaming {
    /// Takes the next piece of body out of the read buffer, if any.
    fn decode(&mut self) -> Result<Option<Bytes>, BodyError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(None);
        };
        let buf = &mut conn.read_buf;
        match self.framing {
            RespFraming::Length(_) => {
                if buf.is_empty() || self.remaining == 0 {
                    return Ok(None);
                }
                let n = (buf.len() as u64).min(self.remaining) as usize;
                self.remaining -= n as u64;
                Ok(Some(buf.split_to(n).freeze()))
            }
            RespFraming::Eof => {
                if buf.is_empty() {
                    return Ok(None);
                }
                Ok(Some(buf.split().freeze()))
            }
            RespFraming::Empty => Ok(None),
            RespFraming::Chunked => loop {
                match self.chunk {
                    Chunk::Size => {
                        let Some(pos) = buf.windows(2).position(|w| w == b"\r\n") else {
                            if buf.len() > 4096 {
                                return Err(BodyError::Chunked);
                            }
                            return Ok(None);
                        };
                        let line = &buf[..pos];
                        let digits = line
                            .split(|&b| b == b';')
                            .next()
                            .unwrap_or_default()
                            .trim_ascii();
                        let size = std::str::from_utf8(digits)
                            .ok()
                            .and_then(|s| u64::from_str_radix(s, 16).ok())
                            .ok_or(BodyError::Chunked)?;
                        buf.advance(pos + 2);
                        self.chunk = if size == 0 {
                            Chunk::Trailers
                        } else {
                            Chunk::Data(size)
                        };
                    }
                    Chunk::Data(left) => {
                        if buf.is_empty() {
                            return Ok(None);
                        }
                        let n = (buf.len() as u64).min(left) as usize;
                        let data = buf.split_to(n).freeze();
                        self.chunk = if left == n as u64 {
                            Chunk::DataEnd
                        } else {
                            Chunk::Data(left - n as u64)
                        };
                        return Ok(Some(data));
                    }
                    Chunk::DataEnd => {
                        if buf.len() < 2 {
                            return Ok(None);
                        }
                        if &buf[..2] != b"\r\n" {
                            return Err(BodyError::Chunked);
                        }
                        buf.advance(2);
                        self.chunk = Chunk::Size;
                    }
                    Chunk::Trailers => {
                        let Some(pos) = buf.windows(2).position(|w| w == b"\r\n") else {
                            if buf.len() > 16 * 1024 {
                                return Err(BodyError::Chunked);
                            }
                            return Ok(None);
                        };
                        buf.advance(pos + 2);
                        if pos == 0 {
                            self.remaining = 0;
                            self.framing = RespFraming::Empty;
                            return Ok(None);
                        }
                    }
                }
            },
        }
    }

    fn finished(&self) -> bool {
        match self.framing {
            RespFraming::Empty => true,
            RespFraming::Length(_) => self.remaining == 0,
            RespFraming::Chunked | RespFraming::Eof => false,
        }
    }

    fn release(&mut self) {
        if let Some(conn) = self.conn.take() {
            let reusable = self.keep_alive && !matches!(self.framing, RespFraming::Eof);
            release(&self.pool, &self.upstream, conn, reusable);
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let s = match &mut self.state {
            State::Done => return Poll::Ready(None),
            State::Complete(_) => {
                let State::Complete(data) = std::mem::replace(&mut self.state, State::Done) else {
                    return Poll::Ready(None);
                };
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            State::Streaming(s) => s,
        };
        loop {
            match s.decode() {
                Err(e) => {
                    s.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Ok(Some(data)) => {
                    s.timer = None;
                    if s.finished() {
                        s.release();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Ok(None) => {}
            }
            if s.finished() {
                s.release();
                self.state = State::Done;
                return Poll::Ready(None);
            }
            let Some(conn) = s.conn.as_mut() else {
                return Poll::Ready(None);
            };
            reserve_read(&mut conn.read_buf);
            // Through `AsyncRead` (not `try_read`): a short read marks the
            // socket drained, saving an EAGAIN syscall per response.
            let filled = {
                let fut = conn.stream.read_buf(&mut conn.read_buf);
                tokio::pin!(fut);
                fut.poll(cx)
            };
            match filled {
                Poll::Ready(Ok(0)) => {
                    s.conn = None;
                    if matches!(s.framing, RespFraming::Eof) {
                        self.state = State::Done;
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Err(BodyError::Truncated)));
                }
                Poll::Ready(Ok(_)) => continue,
                Poll::Ready(Err(e)) => {
                    s.conn = None;
                    return Poll::Ready(Some(Err(e.into())));
                }
                Poll::Pending => {
                    let timeout = s.upstream.read_timeout;
                    let timer = s
                        .timer
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                    if timer.as_mut().poll(cx).is_ready() {
                        s.conn = None;
                        return Poll::Ready(Some(Err(BodyError::Timeout)));
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            State::Done => SizeHint::with_exact(0),
            State::Complete(b) => SizeHint::with_exact(b.len() as u64),
            State::Streaming(s) => match s.framing {
                RespFraming::Length(_) => SizeHint::with_exact(s.remaining),
                _ => SizeHint::default(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads_and_framing() {
        let mut buf =
            BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\nok"[..]);
        let head = parse_head(&mut buf, &Method::GET).unwrap().unwrap();
        assert_eq!(head.status, 200);
        assert!(head.keep_alive);
        assert!(matches!(head.framing, RespFraming::Length(2)));
        assert_eq!(head.headers["x-a"], "b");
        assert_eq!(&buf[..], b"ok");

        let mut buf = BytesMut::from(&b"HTTP/1.0 200 OK\r\n\r\nrest"[..]);
        let head = parse_head(&mut buf, &Method::GET).unwrap().unwrap();
        assert!(!head.keep_alive);
        assert!(matches!(head.framing, RespFraming::Eof));

        let mut buf = BytesMut::from(
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"[..],
        );
        let head = parse_head(&mut buf, &Method::GET).unwrap().unwrap();
        assert!(!head.keep_alive);
        assert!(matches!(head.framing, RespFraming::Chunked));

        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Le"[..]);
        assert!(parse_head(&mut buf, &Method::GET).unwrap().is_none());
        let mut buf = BytesMut::from(&b"this is not http\r\n\r\n"[..]);
        assert!(parse_head(&mut buf, &Method::GET).is_err());
        let mut buf =
            BytesMut::from(&b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"[..]);
        assert!(matches!(
            parse_head(&mut buf, &Method::GET).unwrap().unwrap().framing,
            RespFraming::Empty
        ));
    }
}
