//! A response body read from an upstream connection: complete in the
//! connection's buffer already (small responses), or streamed from the
//! socket, in which case the body owns the connection and gives it back to
//! the pool once the body has ended cleanly.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::AsyncReadExt;
use tokio::time::Sleep;

use super::parse::{ChunkedDecoder, RespFraming};
use crate::proxy::framing::BadChunk;
use crate::proxy::pool::{Pool, UpstreamConn, READ_CHUNK};
use crate::proxy::router::Upstream;

/// Makes room to read into. Response heads are split off and frozen (their
/// header values share the buffer), so only top up when little is left:
/// reserving a full chunk every time would allocate on every response.
pub(super) fn reserve_read(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() < MIN_READ_SPACE {
        buf.reserve(READ_CHUNK);
    }
}

const MIN_READ_SPACE: usize = 1024;

/// Returns `conn` to the pool if its last response ended cleanly: the
/// upstream allows reuse and nothing follows the response. `now`: when
/// it ended, as the caller read it.
pub(super) fn release(pool: &Pool, conn: UpstreamConn, reusable: bool, now: Instant) {
    if reusable && conn.read_buf.is_empty() {
        pool.checkin(conn, now);
    }
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
    chunked: ChunkedDecoder,
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
    pub(super) fn done() -> Self {
        UpstreamBody { state: State::Done }
    }

    pub(super) fn complete(data: Bytes) -> Self {
        UpstreamBody {
            state: if data.is_empty() {
                State::Done
            } else {
                State::Complete(data)
            },
        }
    }

    pub(super) fn streaming(
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
                chunked: ChunkedDecoder::default(),
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

impl From<BadChunk> for BodyError {
    fn from(_: BadChunk) -> Self {
        BodyError::Chunked
    }
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
            RespFraming::Chunked => Ok(self.chunked.decode(buf)?),
        }
    }

    fn finished(&self) -> bool {
        match self.framing {
            RespFraming::Empty => true,
            RespFraming::Length(_) => self.remaining == 0,
            RespFraming::Chunked => self.chunked.is_done(),
            RespFraming::Eof => false,
        }
    }

    fn release(&mut self) {
        if let Some(conn) = self.conn.take() {
            if self.keep_alive && !matches!(self.framing, RespFraming::Eof) {
                release(&self.pool, conn, true, Instant::now());
            }
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
