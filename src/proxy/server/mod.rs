//! The gateway's HTTP/1 server side, on the proxy listeners (plain and TLS
//! `http/1.1`; HTTP/2 is hyper's): reading request heads
//! (`parse`), request bodies, and writing responses (`encode`), one
//! request after another on a keep-alive connection, in the connection's
//! own task.
//!
//! It replaced hyper's HTTP/1 server (bench/PROFILE.md has the counts),
//! which read into its own buffer, kept the request's future in a slot of
//! its dispatcher, fed the body through a channel, and encoded the
//! response through a second header map walk. Here the
//! request head is parsed from the connection's buffer (header values
//! share it), the request runs inline (`dispatch::handle`), its body is
//! read straight from the connection's buffer and socket by whoever holds
//! it ([`RequestBodyH1`]), and the response head is written with its first
//! bytes of body in one write.
//!
//! What the connection does, in order, per request:
//! - read a head (pipelined requests are already in the buffer); a head
//!   that cannot be read is answered (400, 414, 431, 501, Kong's plain-text
//!   page; through the global functions' late phases where Kong's error
//!   handler would run them, `refused`) and the connection closed;
//! - handle it; `Expect: 100-continue` is answered when the body is first
//!   read;
//! - write the response: framing is the server's (`encode`), a body that
//!   ends early or runs long ends the connection;
//! - keep the connection if both sides allow it, the request's body was
//!   read to its end (or what is left of it is already buffered) and the
//!   worker is not shutting down; else close it, lingering (as nginx)
//!   when the client may still be sending.
//!
//! Slow and idle clients are the worker's sweeps' business (`idle`): the
//! socket counts its reads and writes, and the connection is stopped from
//! outside; see `worker::serve_h1`.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use hyper::body::Body;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use super::body::ProxyBody;
use super::context::WorkerContext;
use super::dispatch::handle;
use super::errors::{raw_response, ProxyError};
use super::framing::{BadChunk, ChunkSizeLine, ChunkedDecoder};
use super::headers::ConnInfo;
use super::idle::{Activity, Stop};
use super::inbound::RequestBody;
use super::pipeline::NoResponse;
use super::refused;
use encode::{encode_head, Answering, BodyLen, Framing};
use parse::{parse_request, BodyFraming, HeadError, RequestHead};

pub mod encode;
pub mod parse;
#[cfg(test)]
mod parse_fuzz;

/// Room made in the read buffer before a read.
const READ_SPACE: usize = 8 * 1024;
/// A read is topped up to [`READ_SPACE`] when less than this is free.
const MIN_READ_SPACE: usize = 1024;
/// Body pieces up to this size are copied behind the head (or a chunk's
/// size line) into one write; larger ones are written on their own.
const COALESCE: usize = 16 * 1024;

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// A lingering close reads and drops what the client still sends for at
/// most this long in all (nginx's `lingering_time`)...
const LINGERING_TIME: Duration = Duration::from_secs(30);
/// ... and stops after this long without a byte (`lingering_timeout`).
const LINGERING_TIMEOUT: Duration = Duration::from_secs(5);

/// Why reading a request body failed.
#[derive(Debug, thiserror::Error)]
pub enum BodyReadError {
    #[error("{0}")]
    Chunked(#[from] BadChunk),
    #[error("the client closed the connection before the end of its body")]
    Truncated,
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Where the body of the request being handled stands.
enum BodyState {
    Done,
    Length(u64),
    Chunked(ChunkedDecoder),
    Failed,
}

/// A connection's socket and read buffer, shared by the connection and the
/// body of the request it is handling.
struct Wire<S> {
    io: S,
    buf: BytesMut,
    /// The request being handled (its body's handle carries the same).
    seq: u64,
    body: BodyState,
    /// `Expect: 100-continue` not answered yet: bytes of [`CONTINUE`] sent.
    continue_due: Option<usize>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Wire<S> {
    /// Reads more into the buffer: `Ok(0)` at the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < MIN_READ_SPACE {
            self.buf.reserve(READ_SPACE);
        }
        let read = self.io.read_buf(&mut self.buf);
        std::pin::pin!(read).poll(cx)
    }

    /// Starts reading the body of a new request.
    fn start(&mut self, framing: BodyFraming, expect_continue: bool) -> u64 {
        self.seq = self.seq.wrapping_add(1);
        self.body = match framing {
            BodyFraming::Empty => BodyState::Done,
            BodyFraming::Length(n) => BodyState::Length(n),
            BodyFraming::Chunked => BodyState::Chunked(ChunkedDecoder::default()),
        };
        self.continue_due = (expect_continue && !matches!(self.body, BodyState::Done)).then_some(0);
        self.seq
    }

    /// The next piece of the body that is already buffered.
    fn decode(&mut self) -> Option<Result<Option<Bytes>, BodyReadError>> {
        match &mut self.body {
            BodyState::Done => Some(Ok(None)),
            BodyState::Failed => Some(Err(BodyReadError::Truncated)),
            BodyState::Length(left) => {
                if self.buf.is_empty() {
                    return None;
                }
                let n = (self.buf.len() as u64).min(*left) as usize;
                *left -= n as u64;
                if *left == 0 {
                    self.body = BodyState::Done;
                }
                Some(Ok(Some(self.buf.split_to(n).freeze())))
            }
            BodyState::Chunked(dec) => match dec.decode(&mut self.buf) {
                Err(e) => {
                    self.body = BodyState::Failed;
                    Some(Err(e.into()))
                }
                Ok(Some(data)) => Some(Ok(Some(data))),
                Ok(None) if dec.is_done() => {
                    self.body = BodyState::Done;
                    Some(Ok(None))
                }
                Ok(None) => None,
            },
        }
    }

    /// Ends the request's body: true if it was read to its end, or its
    /// rest was already in the buffer (and is dropped). Its handle reads
    /// nothing more.
    fn finish(&mut self) -> bool {
        let read_all = loop {
            match self.decode() {
                Some(Ok(None)) => break true,
                Some(Ok(Some(_))) => {}
                Some(Err(_)) | None => break false,
            }
        };
        self.seq = self.seq.wrapping_add(1);
        self.body = BodyState::Done;
        read_all
    }

    /// Answers `Expect: 100-continue` if it is due.
    fn poll_continue(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(sent) = self.continue_due {
            if sent == CONTINUE.len() {
                self.continue_due = None;
                break;
            }
            match Pin::new(&mut self.io).poll_write(cx, &CONTINUE[sent..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.continue_due = Some(sent + n),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }
}

/// What a request body's handle asks of its connection.
trait BodySource {
    fn poll_body(
        &mut self,
        seq: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, BodyReadError>>>;

    /// Bytes of body still to come, when the framing says.
    fn left(&self, seq: u64) -> Option<u64>;
}

impl<S: AsyncRead + AsyncWrite + Unpin> BodySource for Wire<S> {
    fn poll_body(
        &mut self,
        seq: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, BodyReadError>>> {
        if seq != self.seq {
            return Poll::Ready(None);
        }
        loop {
            if let Some(next) = self.decode() {
                self.continue_due = None;
                return Poll::Ready(next.transpose());
            }
            if self.continue_due.is_some() {
                if let Err(e) = std::task::ready!(self.poll_continue(cx)) {
                    self.body = BodyState::Failed;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
            match std::task::ready!(self.poll_fill(cx)) {
                Ok(0) => {
                    self.body = BodyState::Failed;
                    return Poll::Ready(Some(Err(BodyReadError::Truncated)));
                }
                Ok(_) => {}
                Err(e) => {
                    self.body = BodyState::Failed;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
        }
    }

    fn left(&self, seq: u64) -> Option<u64> {
        if seq != self.seq {
            return Some(0);
        }
        match self.body {
            BodyState::Done | BodyState::Failed => Some(0),
            BodyState::Length(n) => Some(n),
            BodyState::Chunked(_) => None,
        }
    }
}

/// The body of a request read by this server: read from its connection
/// by whoever holds it, in the connection's task.
pub struct RequestBodyH1 {
    wire: Rc<RefCell<dyn BodySource>>,
    seq: u64,
}

impl RequestBodyH1 {
    pub fn is_end_stream(&self) -> bool {
        self.exact_len() == Some(0)
    }

    /// What is left of the body, when its framing says.
    pub fn exact_len(&self) -> Option<u64> {
        self.wire.borrow().left(self.seq)
    }

    /// The next piece of the body; `None` at its end.
    pub async fn data(&mut self) -> Option<Result<Bytes, BodyReadError>> {
        std::future::poll_fn(|cx| self.wire.borrow_mut().poll_body(self.seq, cx)).await
    }
}

/// Serves HTTP/1 requests on `io` until the connection ends. `io` counts
/// its traffic into `activity`; between requests the worker's stop request
/// ends the connection (a 408 first if a head was too slow to come), and a
/// shutdown lets the request in flight finish with `Connection: close`. An
/// idle connection is stopped by dropping this future (`worker`).
pub async fn serve<S>(io: S, info: &ConnInfo, ctx: &Rc<WorkerContext>, activity: &Rc<Activity>)
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let wire = Rc::new(RefCell::new(Wire {
        io,
        buf: BytesMut::new(),
        seq: 0,
        body: BodyState::Done,
        continue_due: None,
    }));
    let mut out = Vec::new();
    // The request head, filled in place by each request (see
    // `parse_request`) and lent to its handling.
    let mut parts = http::Request::new(()).into_parts().0;
    loop {
        let head = match read_head(&wire, activity, &mut parts).await {
            Ok(head) => head,
            Err(Some(Ok(e))) => return refuse(&wire, e, ctx, info, activity).await,
            Err(Some(Err(Stop::HeaderTimeout))) => {
                tracing::info!(peer = %info.peer, "client header timeout: 408");
                return answer(&wire, ProxyError::RequestTimeout, ctx, activity).await;
            }
            Err(_) => return,
        };
        let RequestHead {
            body: framing,
            keep_alive,
            expect_continue,
        } = head;
        // The request started when its head's first bytes came (read
        // then, for the client header timeout).
        let (busy, started) = activity.busy();
        let writing = super::stats::request();
        let seq = wire.borrow_mut().start(framing, expect_continue);
        let body = match framing {
            BodyFraming::Empty => RequestBody::Empty,
            _ => RequestBody::Http1(RequestBodyH1 {
                wire: wire.clone(),
                seq,
            }),
        };
        let method = parts.method.clone();
        let version = parts.version;
        // The response is written here by the handling (returned, it was
        // copied out of each future on its way up).
        let mut resp = http::Response::new(ProxyBody::Full(None));
        let answered = {
            // Pinned here and watched through a reference: moving the
            // request's future into `watch_client` copied its few
            // kilobytes per request. Dropped at the end of this block: it
            // borrows the head and the response.
            let handling = std::pin::pin!(handle(ctx, info, &mut parts, body, started, &mut resp));
            watch_client(&wire, handling).await
        };
        if !answered {
            tracing::debug!(peer = %info.peer, "the client closed its connection: request dropped");
            return;
        }
        if NoResponse::is(&resp) {
            tracing::debug!(peer = %info.peer, "request ended without a response: connection closed");
            return;
        }
        let sending = busy.into_responding();

        let read_all = wire.borrow_mut().finish();
        let keep = keep_alive && read_all && activity.stop_requested() != Some(Stop::Shutdown);
        let (mut head, body) = resp.into_parts();
        let len = body_len(&body);
        out.clear();
        let req = Answering {
            method: &method,
            version,
        };
        let (framing, keep) = encode_head(&mut out, &head, req, len, keep);
        done_with_head(&mut parts, std::mem::take(&mut head.headers));
        let sent = send_body(&wire, &mut out, framing, body).await;
        drop(sending);
        drop(writing);
        if !(sent.is_ok() && keep) {
            // The client may still be sending (a body the request did not
            // read, pipelined requests): closing now would reset the
            // connection, and the client could lose the response.
            let sending = !read_all || !wire.borrow().buf.is_empty();
            if sent.is_ok() && sending {
                close_lingering(&wire, activity).await;
            } else {
                let _ = shutdown(&wire).await;
            }
            return;
        }
    }
}

/// Runs the request's handling; false if the client closed its
/// connection first (the handling, an upstream call included, is dropped,
/// as nginx drops it without `proxy_ignore_client_abort`). Once the
/// request's body is read to its end (at once without a body), the socket
/// is read meanwhile only to see an end of stream, and only while the
/// buffer is empty: bytes of a next request stay buffered, at most one
/// read of them. A body still to come is not read ahead of its reader
/// (that would buffer whatever the client sends): a client that leaves
/// then is seen when its body is read. After a short read tokio knows the
/// socket is drained, so this costs no syscall until something arrives.
async fn watch_client<S: AsyncRead + AsyncWrite + Unpin>(
    wire: &RefCell<Wire<S>>,
    mut handling: Pin<&mut impl Future<Output = ()>>,
) -> bool {
    std::future::poll_fn(|cx| {
        if handling.as_mut().poll(cx).is_ready() {
            return Poll::Ready(true);
        }
        let mut w = wire.borrow_mut();
        if w.buf.is_empty() && matches!(w.body, BodyState::Done) {
            if let Poll::Ready(Ok(0) | Err(_)) = w.poll_fill(cx) {
                return Poll::Ready(false);
            }
        }
        Poll::Pending
    })
    .await
}

/// Lets go of a request's head once its response head is written: what
/// shares the client's read buffer goes now (the buffer's space can then
/// be reused for the next read); its header map stays for the next head,
/// or the response's does when functions kept the request's (`map` is
/// the response's: kept for the worker's next map otherwise).
fn done_with_head(parts: &mut http::request::Parts, mut map: HeaderMap) {
    parts.uri = http::Uri::default();
    parts.headers.clear();
    if parts.headers.capacity() == 0 {
        map.clear();
        parts.headers = map;
    } else {
        super::headers::recycle_map(map);
    }
}

/// Reads the next request head into `parts`. `Err(None)`: the connection
/// ended; `Err(Some(Ok))`: a head to refuse; `Err(Some(Err))`: the worker
/// asked the connection to stop.
async fn read_head<S: AsyncRead + AsyncWrite + Unpin>(
    wire: &RefCell<Wire<S>>,
    activity: &Activity,
    parts: &mut http::request::Parts,
) -> Result<RequestHead, Option<Result<HeadError, Stop>>> {
    let mut pace = HeadPace::default();
    loop {
        {
            let mut w = wire.borrow_mut();
            if pace.worth_parsing(&mut w.buf) {
                match parse_request(&mut w.buf, parts) {
                    Ok(Some(head)) => return Ok(head),
                    Ok(None) => {}
                    Err(e) => return Err(Some(Ok(e))),
                }
            }
        }
        let read = std::future::poll_fn(|cx| {
            if let Some(stop) = activity.stop_requested() {
                return Poll::Ready(Err(stop));
            }
            wire.borrow_mut().poll_fill(cx).map(Ok)
        })
        .await;
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => return Err(None),
            Ok(Ok(_)) => {}
            Err(stop) => return Err(Some(Err(stop))),
        }
    }
}

/// When a partial request head is worth parsing again. A head arriving
/// in many small reads (trickled a byte at a time) was parsed from its
/// start after each read: 64 KiB in one-byte reads took 2^31 bytes of
/// parsing, a core's second for a client's 64 KiB. Now it is parsed when
/// it can be complete (an empty line arrived), when it doubled since it
/// was last parsed (a malformed start is still refused after the first
/// read), or at the limit: at most about three times its length in all.
#[derive(Default)]
struct HeadPace {
    /// Bytes of the buffer searched for an empty line.
    searched: usize,
    /// The buffer's length when it was last parsed.
    parsed: usize,
}

impl HeadPace {
    fn worth_parsing(&mut self, buf: &mut BytesMut) -> bool {
        // Empty lines before a request line are skipped (as `httparse`
        // and nginx do), here, so a stream of them is not an empty line
        // found again after every read.
        let blank = leading_empty_lines(buf);
        if blank > 0 {
            buf.advance(blank);
            *self = HeadPace::default();
        }
        if buf.is_empty() {
            return false;
        }
        let from = std::mem::replace(&mut self.searched, buf.len()).saturating_sub(2);
        // Doubled (always so on a first read) or at the limit: parsed
        // without a search. A parse that finds the head unfinished found
        // no empty line in it either, so the next search starts here.
        let due = buf.len() >= 2 * self.parsed || buf.len() >= parse::MAX_HEAD;
        let ended = || {
            buf[from..].iter().enumerate().any(|(i, &b)| {
                b == b'\n' && matches!(&buf[from + i + 1..], [b'\n', ..] | [b'\r', b'\n', ..])
            })
        };
        if due || ended() {
            self.parsed = buf.len();
            return true;
        }
        false
    }
}

/// Length of the empty lines (`CRLF` or a bare `LF`) at the start of `buf`.
fn leading_empty_lines(buf: &[u8]) -> usize {
    let mut n = 0;
    loop {
        match &buf[n..] {
            [b'\r', b'\n', ..] => n += 2,
            [b'\n', ..] => n += 1,
            _ => return n,
        }
    }
}

/// Answers a head that cannot be read, then the connection closes.
async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(
    wire: &RefCell<Wire<S>>,
    e: HeadError,
    ctx: &Rc<WorkerContext>,
    info: &ConnInfo,
    activity: &Activity,
) {
    tracing::info!(worker = ctx.id, client = %info.peer, "client error: {e}");
    // A request line that does not end within the head's limit is nginx's
    // 414 ("client sent too long URI"), not a header too large.
    let line_ended = {
        let w = wire.borrow();
        w.buf[..w.buf.len().min(parse::MAX_HEAD)].contains(&b'\n')
    };
    let error = match e {
        HeadError::TooLarge if !line_ended => ProxyError::TargetTooLong,
        HeadError::TooLarge => ProxyError::HeadTooLarge,
        HeadError::TargetTooLong => ProxyError::TargetTooLong,
        HeadError::Coding => ProxyError::NotImplemented,
        _ => ProxyError::BadRequest,
    };
    // Global functions see the answer where Kong's would (`refused`).
    let line = || refused::Line::read(&wire.borrow().buf, error);
    match refused::respond(ctx, info, error, line).await {
        Some((resp, method, version)) => {
            send_refused(wire, resp, (method, version), activity).await
        }
        None => answer(wire, error, ctx, activity).await,
    }
}

/// Writes an answer the functions saw, framed by the server (whatever
/// they set) within [`LINGERING_TIMEOUT`], and closes lingering; closes
/// at once when they asked for no answer (`ngx.exit(ngx.ERROR)`).
async fn send_refused<S: AsyncRead + AsyncWrite + Unpin>(
    wire: &RefCell<Wire<S>>,
    resp: http::Response<ProxyBody>,
    (method, version): (http::Method, http::Version),
    activity: &Activity,
) {
    if NoResponse::is(&resp) {
        let _ = shutdown(wire).await;
        return;
    }
    let (head, body) = resp.into_parts();
    let mut out = Vec::new();
    let req = Answering {
        method: &method,
        version,
    };
    let (framing, _) = encode_head(&mut out, &head, req, body_len(&body), false);
    let send = send_body(wire, &mut out, framing, body);
    if let Ok(Ok(())) = tokio::time::timeout(LINGERING_TIMEOUT, send).await {
        close_lingering(wire, activity).await;
    }
}

/// What a response's body says of its length.
fn body_len(body: &ProxyBody) -> BodyLen {
    if body.is_end_stream() {
        BodyLen::Empty
    } else {
        body.size_hint()
            .exact()
            .map_or(BodyLen::Unknown, BodyLen::Exact)
    }
}

/// Writes the gateway's plain answer for `error` (within
/// [`LINGERING_TIMEOUT`]) and closes lingering.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    wire: &RefCell<Wire<S>>,
    error: ProxyError,
    ctx: &WorkerContext,
    activity: &Activity,
) {
    let answer = raw_response(error, &ctx.request_ids.next());
    if let Ok(Ok(())) = tokio::time::timeout(LINGERING_TIMEOUT, write_all(wire, &answer)).await {
        close_lingering(wire, activity).await;
    }
}

/// Closes the connection as nginx's lingering close does: the response
/// ends (FIN), then what the client still sends is read and dropped until
/// it closes too, [`LINGERING_TIMEOUT`] passes without a byte,
/// [`LINGERING_TIME`] in all, or the worker shuts down. Closing a socket
/// with unread bytes, or that bytes reach after, resets the connection:
/// a client still sending its body (to a 401, a 413) got a reset on its
/// next write, and could lose the response before reading it.
async fn close_lingering<S: AsyncRead + AsyncWrite + Unpin>(
    wire: &RefCell<Wire<S>>,
    activity: &Activity,
) {
    if shutdown(wire).await.is_err() {
        return;
    }
    let deadline = tokio::time::Instant::now() + LINGERING_TIME;
    loop {
        let wait = deadline.min(tokio::time::Instant::now() + LINGERING_TIMEOUT);
        let read = std::future::poll_fn(|cx| {
            if let Some(Stop::Shutdown | Stop::Idle) = activity.poll_stop(cx.waker()) {
                return Poll::Ready(Ok(0));
            }
            let mut w = wire.borrow_mut();
            w.buf.clear();
            w.poll_fill(cx)
        });
        match tokio::time::timeout_at(wait, read).await {
            Ok(Ok(1..)) => {}
            _ => return,
        }
    }
}

async fn shutdown<S: AsyncWrite + Unpin>(wire: &RefCell<Wire<S>>) -> io::Result<()> {
    std::future::poll_fn(|cx| Pin::new(&mut wire.borrow_mut().io).poll_shutdown(cx)).await
}

async fn write_all<S: AsyncWrite + Unpin>(
    wire: &RefCell<Wire<S>>,
    mut data: &[u8],
) -> io::Result<()> {
    while !data.is_empty() {
        let n = std::future::poll_fn(|cx| Pin::new(&mut wire.borrow_mut().io).poll_write(cx, data))
            .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        data = &data[n..];
    }
    Ok(())
}

/// Why a response could not be sent whole (the connection then closes).
#[derive(Debug)]
enum SendFailed {
    Io,
    /// The body failed, or did not match its length.
    Body,
}

impl From<io::Error> for SendFailed {
    fn from(_: io::Error) -> Self {
        SendFailed::Io
    }
}

/// Writes `out` (the head) and the body as `framing` says.
async fn send_body<S: AsyncWrite + Unpin>(
    wire: &RefCell<Wire<S>>,
    out: &mut Vec<u8>,
    framing: Framing,
    mut body: ProxyBody,
) -> Result<(), SendFailed> {
    if framing == Framing::None {
        drop(body);
        write_all(wire, out).await?;
        flush(wire).await?;
        return Ok(());
    }
    let mut left = match framing {
        Framing::Length(n) => n,
        _ => u64::MAX,
    };
    loop {
        // What is ready now goes with the head; when the body must wait,
        // what is written so far goes first.
        let frame = std::future::poll_fn(|cx| match Pin::new(&mut body).poll_frame(cx) {
            Poll::Pending if !out.is_empty() => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
            Poll::Ready(frame) => Poll::Ready(Some(frame)),
        })
        .await;
        let frame = match frame {
            None => {
                write_all(wire, out).await?;
                out.clear();
                flush(wire).await?;
                continue;
            }
            Some(frame) => frame,
        };
        let data = match frame {
            None => break,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "response body failed");
                write_all(wire, out).await?;
                return Err(SendFailed::Body);
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) if !data.is_empty() => data,
                _ => continue,
            },
        };
        let data = match framing {
            Framing::Length(_) => {
                if data.len() as u64 > left {
                    // Longer than it said: what fits goes, then the end.
                    let fits = data.slice(..left as usize);
                    write_all(wire, out).await?;
                    write_all(wire, &fits).await?;
                    return Err(SendFailed::Body);
                }
                left -= data.len() as u64;
                data
            }
            Framing::Chunked => {
                out.extend_from_slice(ChunkSizeLine::new(data.len()).as_bytes());
                data
            }
            _ => data,
        };
        if data.len() <= COALESCE {
            out.extend_from_slice(&data);
        } else {
            write_all(wire, out).await?;
            out.clear();
            write_all(wire, &data).await?;
        }
        if framing == Framing::Chunked {
            out.extend_from_slice(b"\r\n");
        }
        if out.len() > COALESCE {
            write_all(wire, out).await?;
            out.clear();
        }
    }
    match framing {
        Framing::Chunked => out.extend_from_slice(b"0\r\n\r\n"),
        Framing::Length(_) if left > 0 => {
            write_all(wire, out).await?;
            return Err(SendFailed::Body);
        }
        _ => {}
    }
    write_all(wire, out).await?;
    flush(wire).await?;
    Ok(())
}

async fn flush<S: AsyncWrite + Unpin>(wire: &RefCell<Wire<S>>) -> io::Result<()> {
    std::future::poll_fn(|cx| Pin::new(&mut wire.borrow_mut().io).poll_flush(cx)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A head trickled a byte at a time is parsed a few times, not once
    /// per byte; it is still read whole, and a bad start refused at once.
    #[test]
    fn a_trickled_head_is_not_reparsed_after_every_byte() {
        let head = format!(
            "\r\n\n\r\nGET / HTTP/1.1\r\nHost: x\r\nX-A: {}\r\n\r\n",
            "a".repeat(60_000)
        );
        let mut pace = HeadPace::default();
        let mut buf = BytesMut::new();
        let (mut parsed, mut parses) = (0, 0);
        let mut got = None;
        for &b in head.as_bytes() {
            buf.extend_from_slice(&[b]);
            if pace.worth_parsing(&mut buf) {
                parses += 1;
                parsed += buf.len();
                if let Some(h) = parse::Parsed::read(&mut buf).unwrap() {
                    got = Some(h);
                }
            }
        }
        let h = got.expect("the head is read");
        assert_eq!(h.parts.headers["x-a"].len(), 60_000);
        assert!(parsed < 3 * head.len(), "{parses} parses of {parsed} bytes");

        let mut pace = HeadPace::default();
        let mut buf = BytesMut::from(&b"\x16\x03\x01"[..]);
        assert!(pace.worth_parsing(&mut buf), "a first read is parsed");
        assert!(parse::Parsed::read(&mut buf).is_err());
    }
}
