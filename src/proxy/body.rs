//! Response bodies sent to clients: the upstream's body, streamed (see
//! `client::UpstreamBody`), a body the gateway produced itself (error
//! pages, exits), or either of them through body_filter and log functions
//! (`filter::Filtered`).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use super::client::{BodyError, UpstreamBody};
use super::filter::Filtered;

pub enum ProxyBody {
    Upstream(UpstreamBody),
    Full(Option<Bytes>),
    Filtered(Box<Filtered>),
}

impl ProxyBody {
    pub fn full(bytes: Bytes) -> Self {
        ProxyBody::Full(if bytes.is_empty() { None } else { Some(bytes) })
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
            ProxyBody::Upstream(body) => Pin::new(body).poll_frame(cx),
            ProxyBody::Filtered(body) => Pin::new(&mut **body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Full(b) => b.is_none(),
            ProxyBody::Upstream(body) => body.is_end_stream(),
            ProxyBody::Filtered(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            ProxyBody::Full(None) => SizeHint::with_exact(0),
            ProxyBody::Upstream(body) => body.size_hint(),
            ProxyBody::Filtered(body) => body.size_hint(),
        }
    }
}
