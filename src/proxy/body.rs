//! Response bodies sent to clients: either the upstream's body, streamed
//! frame by frame with the service's `read_timeout` applied between frames,
//! or a body the gateway produced itself (error pages).
//!
//! The upstream connection rides along with its body and goes back to the
//! worker's pool once the body has been read to its end; a body dropped
//! half-way (the client went away) takes its connection down with it,
//! since that connection is mid-response.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::Sleep;

use super::pool::{Pool, Sender};
use super::router::Upstream;

/// Why a streamed body stopped early.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("upstream body: {0}")]
    Upstream(#[from] hyper::Error),
    #[error("upstream read timeout while streaming the body")]
    Timeout,
}

/// Where a finished upstream connection goes back to.
pub struct PoolReturn {
    pub pool: Rc<Pool>,
    pub upstream: Arc<Upstream>,
    pub sender: Sender,
}

impl PoolReturn {
    fn release(self) {
        self.pool.checkin(&self.upstream.pool_key, self.sender);
    }
}

pub struct UpstreamBody {
    inner: Incoming,
    conn: Option<PoolReturn>,
    read_timeout: Duration,
    /// Armed only while waiting for the next frame.
    timer: Option<Pin<Box<Sleep>>>,
}

pub enum ProxyBody {
    Upstream(UpstreamBody),
    Full(Option<Bytes>),
}

impl ProxyBody {
    pub fn full(bytes: Bytes) -> Self {
        ProxyBody::Full(if bytes.is_empty() { None } else { Some(bytes) })
    }

    pub fn upstream(inner: Incoming, conn: PoolReturn, read_timeout: Duration) -> Self {
        let mut body = UpstreamBody {
            inner,
            conn: Some(conn),
            read_timeout,
            timer: None,
        };
        body.release_if_done();
        ProxyBody::Upstream(body)
    }
}

impl UpstreamBody {
    fn release_if_done(&mut self) {
        if self.inner.is_end_stream() {
            if let Some(c) = self.conn.take() {
                c.release();
            }
        }
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        // A HEAD or 304 body may never be polled: still reusable.
        self.release_if_done();
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            ProxyBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ProxyBody::Upstream(body) => match Pin::new(&mut body.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    body.timer = None;
                    body.release_if_done();
                    Poll::Ready(Some(Ok(frame)))
                }
                Poll::Ready(Some(Err(e))) => {
                    body.conn = None;
                    Poll::Ready(Some(Err(e.into())))
                }
                Poll::Ready(None) => {
                    body.timer = None;
                    if let Some(c) = body.conn.take() {
                        c.release();
                    }
                    Poll::Ready(None)
                }
                Poll::Pending => {
                    let timeout = body.read_timeout;
                    let timer = body
                        .timer
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                    if timer.as_mut().poll(cx).is_ready() {
                        body.conn = None;
                        return Poll::Ready(Some(Err(BodyError::Timeout)));
                    }
                    Poll::Pending
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Full(b) => b.is_none(),
            ProxyBody::Upstream(body) => body.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            ProxyBody::Full(None) => SizeHint::with_exact(0),
            ProxyBody::Upstream(body) => body.inner.size_hint(),
        }
    }
}
