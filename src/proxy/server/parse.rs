//! Reading a client's HTTP/1 request head: the request line and header
//! fields (`httparse`), then what frames the request's body and its
//! connection. A pure function over the connection's read buffer, no I/O,
//! so the generative test (`parse_fuzz`) drives it with arbitrary bytes
//! split at arbitrary points.
//!
//! The rules are hyper's server's (what the gateway answered before this
//! parser), with the framing values read by `proxy::framing`:
//! - a head is at most [`MAX_HEAD`] bytes and [`MAX_HEADERS`] fields, else
//!   431; a target longer than [`MAX_TARGET`] is a 414;
//! - a malformed request line or field (obs-fold, a bare CR or LF, a space
//!   before the colon, bytes no token allows), a method of other bytes
//!   than `A`-`Z`, `_` and `-` (`get`, `G1T`: nginx's rule; hyper took
//!   any token and the upstream got `get`), a target `http` refuses: 400;
//! - the framing as nginx reads it (`ngx_http_process_request_header`):
//!   `Content-Length` or `Transfer-Encoding` in two fields (even with the
//!   same value: "client sent duplicate header line"), an invalid
//!   `Content-Length`, a `Transfer-Encoding` on HTTP/1.0: 400; a
//!   `Transfer-Encoding` other than one `chunked` (`gzip, chunked`,
//!   `chunked, chunked`): 501. The gateway applies no other coding, and
//!   forwards the body with its own framing: the coding would be dropped,
//!   and the upstream would read gzip bytes or a still-chunked body as the
//!   body (hyper read the last `chunked` only);
//! - `Transfer-Encoding: chunked` and `Content-Length` together: 400, as
//!   nginx answers it ("client sent "Content-Length" and
//!   "Transfer-Encoding" headers at the same time"; RFC 9112 §6.1 lets a
//!   server refuse it). A front end that honours the length would read
//!   another body, and the rest as a request of its own (smuggling).
//!   (The gateway read it by its coding, dropped the length and closed
//!   the connection after the response.)

use std::mem::MaybeUninit;

use bytes::BytesMut;
use http::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING};
use http::{Method, Uri, Version};

use crate::proxy::framing::{lists_token, only_chunked, parse_length};
use crate::proxy::headers::header_name;

/// Largest request head (hyper's `max_buf_size` as the gateway set it).
pub const MAX_HEAD: usize = 64 * 1024;
/// Most header fields in a request head: hyper's default, whose slots live
/// on the stack (HAProxy stops at 101 too).
pub const MAX_HEADERS: usize = 100;
/// Header lines whose spans fit in a few stores (16 x 16 bytes).
const FEW_HEADERS: usize = 16;
/// Longest request target (hyper's limit).
pub const MAX_TARGET: usize = u16::MAX as usize - 1;

/// Why a request head is refused; the connection is answered and closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("request head too large or too many header fields")]
    TooLarge,
    #[error("request target too long")]
    TargetTooLong,
    #[error("malformed request head")]
    Malformed,
    #[error("invalid Content-Length, or two of them")]
    ContentLength,
    #[error("Content-Length and Transfer-Encoding at the same time")]
    LengthAndCoding,
    #[error("invalid Transfer-Encoding")]
    TransferEncoding,
    #[error("a Transfer-Encoding other than chunked")]
    Coding,
}

/// How the request's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (no `Content-Length`, `Content-Length: 0`, no
    /// `Transfer-Encoding`).
    Empty,
    Length(u64),
    Chunked,
}

/// What a parsed request head says of its body and connection (the head
/// itself is in the `Parts` [`parse_request`] filled).
#[derive(Debug, Clone, Copy)]
pub struct RequestHead {
    pub body: BodyFraming,
    /// The client allows another request on the connection after this one.
    pub keep_alive: bool,
    /// `Expect: 100-continue`: the client waits for a 100 before its body.
    pub expect_continue: bool,
}

/// Whether a request method is one nginx reads: bytes `A`-`Z`, `_` and
/// `-` only (`M-SEARCH`, not `get`, `Get` or `G1T`, which other tokens
/// allow). HTTP/1 heads are refused with a 400 here; an HTTP/2 stream
/// with such a `:method` is reset (`worker::serve_http`), as nginx's
/// HTTP/2 does.
pub fn method_allowed(method: &[u8]) -> bool {
    method
        .iter()
        .all(|&b| b.is_ascii_uppercase() || b == b'_' || b == b'-')
}

/// Parses a request head at the start of `buf`, removing it from `buf`
/// (header values share its bytes), into `parts`: the connection's, kept
/// from one request to the next (its header map is reused, and the head
/// is never moved: it was copied from the parser's result to the
/// connection, the request handler and its session, ~230 bytes each
/// time). `Ok(None)` when more bytes are needed (`parts` untouched). On
/// an error, `parts` holds part of the head.
pub fn parse_request(
    buf: &mut BytesMut,
    parts: &mut http::request::Parts,
) -> Result<Option<RequestHead>, HeadError> {
    // Uninitialised slots: nothing to zero for every request.
    let mut raw = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let base = buf.as_ptr() as usize;
    let len = match httparse::ParserConfig::default()
        .parse_request_with_uninit_headers(&mut req, buf, &mut raw)
    {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
        Ok(httparse::Status::Complete(_)) => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed),
    };
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(HeadError::Malformed);
    };
    if target.len() > MAX_TARGET {
        return Err(HeadError::TargetTooLong);
    }
    if !method_allowed(method.as_bytes()) {
        return Err(HeadError::Malformed);
    }
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| HeadError::Malformed)?;
    let at = |s: &[u8]| (s.as_ptr() as usize - base) as u32;
    let target_span = (at(target.as_bytes()), target.len() as u32);
    let count = req.headers.len();
    // The lines' spans, in zeroed slots: for a head of up to FEW_HEADERS
    // lines a few stores, not a memset call for all MAX_HEADERS (one a
    // request; slow in the static build's musl).
    let mut few = [(0u32, 0u32, 0u32, 0u32); FEW_HEADERS];
    let mut many;
    let spans: &mut [(u32, u32, u32, u32)] = if count <= FEW_HEADERS {
        &mut few[..count]
    } else {
        many = [(0u32, 0u32, 0u32, 0u32); MAX_HEADERS];
        &mut many[..count]
    };
    for (span, h) in spans.iter_mut().zip(req.headers.iter()) {
        *span = (
            at(h.name.as_bytes()),
            h.name.len() as u32,
            at(h.value),
            h.value.len() as u32,
        );
    }
    let http11 = minor == 1;

    let head = buf.split_to(len).freeze();
    let (t, tl) = (target_span.0 as usize, target_span.1 as usize);
    let uri = Uri::from_maybe_shared(head.slice(t..t + tl)).map_err(|_| HeadError::Malformed)?;

    let headers = &mut parts.headers;
    headers.clear();
    headers.reserve(count);
    let mut keep_alive = http11;
    let mut closing = false;
    // The framing fields, each allowed once; judged after the last line,
    // in nginx's order.
    let mut length: Option<&[u8]> = None;
    let mut coding: Option<&[u8]> = None;
    let mut expect_continue = false;
    for &(n, nl, v, vl) in &*spans {
        let (n, nl, v, vl) = (n as usize, nl as usize, v as usize, vl as usize);
        let name = header_name(&head[n..n + nl]).map_err(|_| HeadError::Malformed)?;
        let value = HeaderValue::from_maybe_shared(head.slice(v..v + vl))
            .map_err(|_| HeadError::Malformed)?;
        if name == TRANSFER_ENCODING {
            if coding.replace(&head[v..v + vl]).is_some() {
                return Err(HeadError::TransferEncoding);
            }
        } else if name == CONTENT_LENGTH {
            if length.replace(&head[v..v + vl]).is_some() {
                return Err(HeadError::ContentLength);
            }
        } else if name == CONNECTION {
            if closing || lists_token(value.as_bytes(), b"close") {
                closing = true;
                keep_alive = false;
            } else if !keep_alive {
                keep_alive = lists_token(value.as_bytes(), b"keep-alive");
            }
        } else if name == EXPECT {
            expect_continue = value.as_bytes().eq_ignore_ascii_case(b"100-continue");
        }
        headers.append(name, value);
    }
    let length = match length {
        Some(v) => Some(parse_length(v).ok_or(HeadError::ContentLength)?),
        None => None,
    };
    let body = match (coding, length) {
        (Some(_), _) if !http11 => return Err(HeadError::TransferEncoding),
        (Some(c), _) if !only_chunked(c) => return Err(HeadError::Coding),
        (Some(_), Some(_)) => return Err(HeadError::LengthAndCoding),
        (Some(_), None) => BodyFraming::Chunked,
        (None, None | Some(0)) => BodyFraming::Empty,
        (None, Some(l)) => BodyFraming::Length(l),
    };
    parts.method = method;
    parts.uri = uri;
    parts.version = if http11 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    parts.extensions.clear();
    Ok(Some(RequestHead {
        body,
        keep_alive,
        expect_continue,
    }))
}

/// A head and what it says, read by [`parse_request`] into new parts.
#[cfg(test)]
#[derive(Debug)]
pub struct Parsed {
    pub parts: http::request::Parts,
    pub body: BodyFraming,
    pub keep_alive: bool,
    pub expect_continue: bool,
}

#[cfg(test)]
impl Parsed {
    pub fn read(buf: &mut BytesMut) -> Result<Option<Parsed>, HeadError> {
        let mut parts = http::Request::new(()).into_parts().0;
        Ok(parse_request(buf, &mut parts)?.map(|h| Parsed {
            parts,
            body: h.body,
            keep_alive: h.keep_alive,
            expect_continue: h.expect_continue,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Option<Parsed>, HeadError> {
        Parsed::read(&mut BytesMut::from(bytes))
    }

    fn head(bytes: &str) -> Parsed {
        parse(bytes.as_bytes()).unwrap().expect("a complete head")
    }

    #[test]
    fn reads_heads_and_leaves_what_follows() {
        let mut buf = BytesMut::from(
            &b"\r\nPOST /a/b?c=d HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nX-A: 1\r\nx-a: 2\r\n\r\nabcGET"[..],
        );
        let h = Parsed::read(&mut buf).unwrap().unwrap();
        assert_eq!(h.parts.method, Method::POST);
        assert_eq!(h.parts.uri.path(), "/a/b");
        assert_eq!(h.parts.uri.query(), Some("c=d"));
        assert_eq!(h.parts.version, Version::HTTP_11);
        assert_eq!(h.parts.headers["host"], "x");
        assert_eq!(h.parts.headers.get_all("x-a").iter().count(), 2);
        assert_eq!(h.body, BodyFraming::Length(3));
        assert!(h.keep_alive && !h.expect_continue);
        assert_eq!(&buf[..], b"abcGET");

        assert!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
        assert!(parse(b"GET / HTT").unwrap().is_none());

        let h = head("GET http://a.example/x HTTP/1.0\r\n\r\n");
        assert_eq!(h.parts.uri.authority().unwrap(), "a.example");
        assert!(!h.keep_alive);
        assert_eq!(h.body, BodyFraming::Empty);
        assert!(head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.1\r\nConnection: upgrade, close\r\n\r\n").keep_alive);
        assert!(
            !head("GET / HTTP/1.1\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n")
                .keep_alive,
            "a later keep-alive does not undo a close"
        );
        let h = head("PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 0\r\n\r\n");
        assert!(h.expect_continue);
        assert_eq!(h.body, BodyFraming::Empty);
        let h = head("CONNECT a.example:443 HTTP/1.1\r\n\r\n");
        assert_eq!(h.parts.uri.authority().unwrap(), "a.example:443");
    }

    #[test]
    fn framing_is_read_one_way_only() {
        let h = head("POST / HTTP/1.1\r\nTransfer-Encoding: \tChunked \r\n\r\n");
        assert_eq!(h.body, BodyFraming::Chunked);
        assert!(h.keep_alive);
        // Both (nginx: "client sent "Content-Length" and
        // "Transfer-Encoding" headers at the same time"), in either order.
        for req in [
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
        ] {
            assert_eq!(
                parse(req.as_bytes()).unwrap_err(),
                HeadError::LengthAndCoding,
                "{req:?}"
            );
        }
        // nginx's order: an invalid length first, then the coding.
        for (req, e) in [
            (
                "Transfer-Encoding: chunked\r\nContent-Length: x",
                HeadError::ContentLength,
            ),
            (
                "Content-Length: 5\r\nTransfer-Encoding: gzip",
                HeadError::Coding,
            ),
        ] {
            let req = format!("POST / HTTP/1.1\r\n{req}\r\n\r\n");
            assert_eq!(parse(req.as_bytes()).unwrap_err(), e, "{req:?}");
        }

        for bad in [
            "Content-Length: 5\r\nContent-Length: 6",
            // nginx: "client sent duplicate header line", even the same value.
            "Content-Length: 5\r\ncontent-length: 5",
            "Content-Length: +5",
            "Content-Length: 5, 5",
            "Content-Length: -1",
            "Content-Length: 0x10",
            "Content-Length: 99999999999999999999",
            "Content-Length:",
        ] {
            let req = format!("POST / HTTP/1.1\r\n{bad}\r\n\r\n");
            assert_eq!(
                parse(req.as_bytes()).unwrap_err(),
                HeadError::ContentLength,
                "{bad}"
            );
        }
        for coding in [
            "gzip",
            "chunked, gzip",
            "gzip, chunked",
            "identity, chunked",
            "chunked, chunked",
            "chunked,",
            "xchunked",
            "",
        ] {
            let req = format!("POST / HTTP/1.1\r\nTransfer-Encoding: {coding}\r\n\r\n");
            assert_eq!(
                parse(req.as_bytes()).unwrap_err(),
                HeadError::Coding,
                "{coding:?}"
            );
        }
        for bad in [
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert_eq!(
                parse(bad.as_bytes()).unwrap_err(),
                HeadError::TransferEncoding,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn malformed_heads_are_refused() {
        for bad in [
            "GET / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nX-A : 1\r\n\r\n",
            "GET / HTTP/1.1\r\nX-A: 1\rX-B: 2\r\n\r\n",
            "GET / HTTP/1.1\r\nX(A): 1\r\n\r\n",
            "GET / HTTP/1.1\r\nX-A: a\x00b\r\n\r\n",
            "GET / HTTP/1.2\r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n",
            "GET  / HTTP/1.1\r\n\r\n",
            "G(T / HTTP/1.1\r\n\r\n",
            "get / HTTP/1.1\r\n\r\n",
            "Get / HTTP/1.1\r\n\r\n",
            "G1T / HTTP/1.1\r\n\r\n",
            "G~T / HTTP/1.1\r\n\r\n",
            "GET /a\x7f HTTP/1.1\r\n\r\n",
            "GET a:b:c HTTP/1.1\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ] {
            assert_eq!(
                parse(bad.as_bytes()).unwrap_err(),
                HeadError::Malformed,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn limits() {
        let fields = |n: usize| {
            let mut req = String::from("GET / HTTP/1.1\r\n");
            for i in 0..n {
                req.push_str(&format!("x-h{i}: v\r\n"));
            }
            req + "\r\n"
        };
        assert_eq!(head(&fields(MAX_HEADERS)).parts.headers.len(), MAX_HEADERS);
        // Each line's own value, on either side of FEW_HEADERS.
        for n in [
            1,
            FEW_HEADERS - 1,
            FEW_HEADERS,
            FEW_HEADERS + 1,
            40,
            MAX_HEADERS,
        ] {
            let mut req = String::from("GET / HTTP/1.1\r\n");
            for i in 0..n {
                req.push_str(&format!("x-h{i}: v{i}\r\n"));
            }
            let parsed = head(&(req + "\r\n"));
            assert_eq!(parsed.parts.headers.len(), n);
            for i in 0..n {
                assert_eq!(parsed.parts.headers[format!("x-h{i}")], format!("v{i}"));
            }
        }
        assert_eq!(
            parse(fields(MAX_HEADERS + 1).as_bytes()).unwrap_err(),
            HeadError::TooLarge
        );

        let big = format!("GET / HTTP/1.1\r\nx-a: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(parse(big.as_bytes()).unwrap_err(), HeadError::TooLarge);
        assert_eq!(
            parse(&big.as_bytes()[..MAX_HEAD]).unwrap_err(),
            HeadError::TooLarge
        );
        assert!(parse(&big.as_bytes()[..MAX_HEAD - 1]).unwrap().is_none());
        let fits = format!(
            "GET / HTTP/1.1\r\nx-a: {}\r\n\r\n",
            "a".repeat(MAX_HEAD - 30)
        );
        assert!(head(&fits).parts.headers.contains_key("x-a"));
    }
}
