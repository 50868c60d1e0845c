//! The client's request body, read by the gateway: streamed to the
//! upstream by `client`, or read whole for serverless functions.
//!
//! Two rules live here. The wait between two reads is bounded (nginx's
//! `client_body_timeout`): a client that stops sending its body gets a 408
//! instead of holding its connection, and an upstream connection, forever.
//! And a body that cannot be decoded (bad chunk size, chunk overflow, a
//! chunk longer than it said, a connection closed early) is the client's
//! fault: a 400 logged as a client error, never a 502.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::server::RequestBodyH1;

/// How reading the client's body failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientBodyError {
    #[error("the client sent nothing of its request body for the client body timeout")]
    Timeout,
    #[error("malformed or truncated request body: {0}")]
    Malformed(Box<dyn std::error::Error + Send + Sync>),
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
}

/// A client's request body: on an HTTP/1 connection (the gateway's own
/// server, `server`) or an HTTP/2 stream (hyper's).
pub enum RequestBody {
    /// A request whose head says it has none.
    Empty,
    Http1(RequestBodyH1),
    Http2(Incoming),
}

impl RequestBody {
    /// No more data will come.
    pub fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Http1(b) => b.is_end_stream(),
            RequestBody::Http2(b) => hyper::body::Body::is_end_stream(b),
        }
    }

    /// The body's length, when its framing says it.
    pub fn exact_len(&self) -> Option<u64> {
        match self {
            RequestBody::Empty => Some(0),
            RequestBody::Http1(b) => b.exact_len(),
            RequestBody::Http2(b) => hyper::body::Body::size_hint(b).exact(),
        }
    }

    /// The next frame's data (empty for a trailers frame); `None` at the end.
    async fn frame(&mut self) -> Option<Result<Bytes, ClientBodyError>> {
        match self {
            RequestBody::Empty => None,
            RequestBody::Http1(b) => b
                .data()
                .await
                .map(|r| r.map_err(|e| ClientBodyError::Malformed(e.into()))),
            RequestBody::Http2(b) => b.frame().await.map(|r| match r {
                Ok(frame) => Ok(frame.into_data().unwrap_or_default()),
                Err(e) => Err(ClientBodyError::Malformed(e.into())),
            }),
        }
    }
}

/// The next piece of body data; `None` at the end. Trailers are skipped.
pub async fn next_data(
    body: &mut RequestBody,
    timeout: Duration,
) -> Result<Option<Bytes>, ClientBodyError> {
    loop {
        let data = match tokio::time::timeout(timeout, body.frame()).await {
            Err(_) => return Err(ClientBodyError::Timeout),
            Ok(None) => return Ok(None),
            Ok(Some(data)) => data?,
        };
        if !data.is_empty() {
            return Ok(Some(data));
        }
    }
}

/// The whole body, at most `limit` bytes.
pub async fn read_whole(
    mut body: RequestBody,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ClientBodyError> {
    let mut first: Option<Bytes> = None;
    let mut more = BytesMut::new();
    while let Some(data) = next_data(&mut body, timeout).await? {
        let len = first.as_ref().map_or(0, Bytes::len) + more.len() + data.len();
        if len > limit {
            return Err(ClientBodyError::TooLarge(limit));
        }
        match &first {
            // Most bodies come in one piece: no copy.
            None => first = Some(data),
            Some(_) => more.extend_from_slice(&data),
        }
    }
    Ok(match first {
        None => Bytes::new(),
        Some(first) if more.is_empty() => first,
        Some(first) => {
            let mut whole = BytesMut::with_capacity(first.len() + more.len());
            whole.extend_from_slice(&first);
            whole.extend_from_slice(&more);
            whole.freeze()
        }
    })
}
