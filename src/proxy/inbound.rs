//! The client's request body, read by the gateway: streamed to the
//! upstream by `client`, or read whole for serverless functions.
//!
//! Two rules live here. The wait between two reads is bounded (nginx's
//! `client_body_timeout`): a client that stops sending its body gets a 408
//! instead of holding its connection, and an upstream connection, forever.
//! And a body hyper cannot decode (bad chunk size, chunk overflow, a chunk
//! longer than it said, a connection closed early) is the client's fault: a
//! 400 logged as a client error, never a 502.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// How reading the client's body failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientBodyError {
    #[error("the client sent nothing of its request body for the client body timeout")]
    Timeout,
    #[error("malformed or truncated request body: {0}")]
    Malformed(hyper::Error),
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
}

/// The next piece of body data; `None` at the end. Trailers are skipped.
pub async fn next_data(
    body: &mut Incoming,
    timeout: Duration,
) -> Result<Option<Bytes>, ClientBodyError> {
    loop {
        let frame = match tokio::time::timeout(timeout, body.frame()).await {
            Err(_) => return Err(ClientBodyError::Timeout),
            Ok(None) => return Ok(None),
            Ok(Some(frame)) => frame.map_err(ClientBodyError::Malformed)?,
        };
        if let Ok(data) = frame.into_data() {
            if !data.is_empty() {
                return Ok(Some(data));
            }
        }
    }
}

/// The whole body, at most `limit` bytes.
pub async fn read_whole(
    mut body: Incoming,
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
