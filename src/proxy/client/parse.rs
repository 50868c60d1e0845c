//! Parsing what an upstream sends back: the response head (its body's
//! framing rules and chunked decoder are `proxy::framing`'s, shared with
//! the client side). Pure functions over a buffer, no I/O, so they can be
//! driven by the generative tests (`parse_fuzz`) with arbitrary bytes split
//! at arbitrary points.
//!
//! Strict where leniency lets a response be read two ways (the root of
//! response splitting and pool poisoning): `Content-Length` is plain digits
//! and comes once (a second one, even the same, is a 502 as on nginx),
//! and a `Transfer-Encoding` other than one `chunked`, or one with a
//! `Content-Length`, is an invalid response (502, as nginx; the rules are
//! `framing`'s).

use std::mem::MaybeUninit;

use bytes::BytesMut;
use http::header::{HeaderMap, HeaderValue, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{Method, StatusCode, Version};

pub use crate::proxy::framing::ChunkedDecoder;
use crate::proxy::framing::{lists_token, only_chunked, parse_length, BadChunk};
use crate::proxy::headers::header_name;

/// Largest response head accepted from an upstream.
pub const MAX_HEAD: usize = 60 * 1024;

/// Why an upstream response cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("response head too large")]
    HeadTooLarge,
    #[error("malformed response head")]
    MalformedHead,
    #[error("bad status")]
    BadStatus,
    #[error("bad header")]
    BadHeader,
    #[error("bad content-length")]
    BadContentLength,
    #[error("a Transfer-Encoding other than one chunked")]
    TransferEncoding,
    #[error("Content-Length and Transfer-Encoding at the same time")]
    LengthAndCoding,
    #[error("malformed chunked body")]
    Chunked,
}

impl From<BadChunk> for ParseError {
    fn from(_: BadChunk) -> Self {
        ParseError::Chunked
    }
}

/// The parsed response head.
#[derive(Debug)]
pub struct Head {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    /// The connection may carry another request once this body is read.
    pub keep_alive: bool,
    pub framing: RespFraming,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RespFraming {
    Empty,
    Length(u64),
    Chunked,
    /// No length: the body runs to EOF and the connection is not reused.
    Eof,
}

/// Where a header line's name and value lie in the head (u16 offsets: a
/// head is at most [`MAX_HEAD`] bytes).
type Span = (u16, u16, u16, u16);

/// What [`scan`] found: the head's length, status code, HTTP version and
/// how many header lines it filled in.
struct Scanned {
    len: usize,
    code: u16,
    version: Version,
    count: usize,
}

/// Header slots tried first, on the stack.
const STACK_HEADERS: usize = 128;
/// Header lines whose spans fit in a few stores (32 x 8 bytes).
const FEW_SPANS: usize = 32;
/// The most header lines a head of [`MAX_HEAD`] bytes can hold (`a:` and
/// CRLF): nginx has no count limit for an upstream's headers, only its
/// buffer's size, so neither has the proxy.
const MAX_HEADERS: usize = MAX_HEAD / 4;

/// Finds the head at the start of `buf` and the spans of its header lines
/// (the first in `few`, the rest pushed to `more`); `Ok(None)` when more
/// bytes are needed, `Err(None)` when it has more lines than `raw` has
/// slots.
fn scan<'a>(
    buf: &'a [u8],
    raw: &mut [MaybeUninit<httparse::Header<'a>>],
    few: &mut [Span],
    more: &mut Vec<Span>,
) -> Result<Option<Scanned>, Option<ParseError>> {
    let mut resp = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, buf, raw)
    {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
        Ok(httparse::Status::Complete(_)) => return Err(Some(ParseError::HeadTooLarge)),
        Ok(httparse::Status::Partial) => {
            if buf.len() > MAX_HEAD {
                return Err(Some(ParseError::HeadTooLarge));
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(None),
        Err(_) => return Err(Some(ParseError::MalformedHead)),
    };
    let code = resp.code.ok_or(ParseError::BadStatus)?;
    let version = if resp.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    // Offsets into the head, so values can share its bytes once frozen.
    let base = buf.as_ptr() as usize;
    let span = |h: &httparse::Header<'_>| {
        let n = h.name.as_ptr() as usize - base;
        let v = h.value.as_ptr() as usize - base;
        (
            n as u16,
            h.name.len() as u16,
            v as u16,
            h.value.len() as u16,
        )
    };
    let (first, rest) = resp.headers.split_at(resp.headers.len().min(few.len()));
    for (slot, h) in few.iter_mut().zip(first) {
        *slot = span(h);
    }
    more.extend(rest.iter().map(span));
    Ok(Some(Scanned {
        len,
        code,
        version,
        count: resp.headers.len(),
    }))
}

/// Parses a response head at the start of `buf`, removing it from `buf`;
/// `Ok(None)` when more bytes are needed. `method` is the request's (a
/// response to HEAD has no body).
pub fn parse_head(buf: &mut BytesMut, method: &Method) -> Result<Option<Head>, ParseError> {
    // Uninitialised header slots: nothing to zero on every response.
    let mut raw = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
    // The lines' spans: the first FEW_SPANS in zeroed slots (a few
    // stores, not a memset call for all STACK_HEADERS: one a response,
    // slow in the static build's musl), the rest in a vector.
    let mut few = [(0u16, 0u16, 0u16, 0u16); FEW_SPANS];
    let mut more = Vec::new();
    let scanned = match scan(buf, &mut raw, &mut few, &mut more) {
        Err(None) => {
            // More lines than the stack's slots: once more, with room
            // for as many as the head can hold.
            let mut raw = Vec::with_capacity(MAX_HEADERS);
            raw.resize_with(MAX_HEADERS, MaybeUninit::uninit);
            scan(buf, &mut raw, &mut few, &mut more)
        }
        other => other,
    };
    let Scanned {
        len,
        code,
        version,
        count,
    } = match scanned {
        Ok(Some(s)) => s,
        Ok(None) => return Ok(None),
        // The heap's slots are enough for any head of MAX_HEAD bytes.
        Err(e) => return Err(e.unwrap_or(ParseError::HeadTooLarge)),
    };
    let status = StatusCode::from_u16(code).map_err(|_| ParseError::BadStatus)?;
    let head = buf.split_to(len).freeze();

    // The last finished request's map, when the worker kept one: room for
    // these lines and the gateway's own (`add_response_headers`).
    let mut headers = crate::proxy::headers::spare_map();
    headers.reserve(count + 6);
    let mut keep_alive = version == Version::HTTP_11;
    let mut length: Option<u64> = None;
    let mut encoded = false;
    for &(n, nl, v, vl) in few[..count.min(FEW_SPANS)].iter().chain(&more) {
        let (n, nl, v, vl) = (n as usize, nl as usize, v as usize, vl as usize);
        let name = header_name(&head[n..n + nl]).map_err(|_| ParseError::BadHeader)?;
        let value = HeaderValue::from_maybe_shared(head.slice(v..v + vl))
            .map_err(|_| ParseError::BadHeader)?;
        if name == CONTENT_LENGTH {
            let parsed = parse_length(value.as_bytes()).ok_or(ParseError::BadContentLength)?;
            // A second one, even with the same value: nginx 1.23 and later
            // (upstream sent duplicate header line).
            if length.is_some() {
                return Err(ParseError::BadContentLength);
            }
            length = Some(parsed);
        } else if name == TRANSFER_ENCODING {
            if encoded || !only_chunked(value.as_bytes()) {
                return Err(ParseError::TransferEncoding);
            }
            encoded = true;
        } else if name == CONNECTION {
            if lists_token(value.as_bytes(), b"close") {
                keep_alive = false;
            } else if version == Version::HTTP_10 && lists_token(value.as_bytes(), b"keep-alive") {
                keep_alive = true;
            }
        }
        headers.append(name, value);
    }
    if encoded && length.is_some() {
        return Err(ParseError::LengthAndCoding);
    }
    let framing = if method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        RespFraming::Empty
    } else if encoded {
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
    Ok(Some(Head {
        status,
        version,
        headers,
        keep_alive,
        framing,
    }))
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
        assert_eq!(head.framing, RespFraming::Length(2));
        assert_eq!(head.headers["x-a"], "b");
        assert_eq!(&buf[..], b"ok");

        let mut buf = BytesMut::from(&b"HTTP/1.0 200 OK\r\n\r\nrest"[..]);
        let head = parse_head(&mut buf, &Method::GET).unwrap().unwrap();
        assert!(!head.keep_alive);
        assert_eq!(head.framing, RespFraming::Eof);

        let mut buf = BytesMut::from(
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"[..],
        );
        let head = parse_head(&mut buf, &Method::GET).unwrap().unwrap();
        assert!(!head.keep_alive);
        assert_eq!(head.framing, RespFraming::Chunked);

        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Le"[..]);
        assert!(parse_head(&mut buf, &Method::GET).unwrap().is_none());
        let mut buf = BytesMut::from(&b"this is not http\r\n\r\n"[..]);
        assert!(parse_head(&mut buf, &Method::GET).is_err());
        let mut buf =
            BytesMut::from(&b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"[..]);
        assert_eq!(
            parse_head(&mut buf, &Method::GET).unwrap().unwrap().framing,
            RespFraming::Empty
        );
    }

    /// nginx passes on an upstream's headers whatever their count (Kong's
    /// `t/01-pdk/07-service-response/02-get_headers.t` sends 200); only the
    /// head's size is bounded.
    #[test]
    fn many_header_lines_fit_as_long_as_the_head_does() {
        // Around FEW_SPANS (two lines are added), STACK_HEADERS and more.
        for n in [0, 29, 30, 31, 62, 127, 128, 129, 200, MAX_HEADERS - 16] {
            let mut head = String::from("HTTP/1.1 200 OK\r\n");
            for i in 0..n {
                head.push_str(&format!("{}:\r\n", (b'a' + (i % 26) as u8) as char));
            }
            head.push_str("X-Last: yes\r\nContent-Length: 2\r\n\r\nok");
            let mut buf = BytesMut::from(head.as_bytes());
            let parsed = parse_head(&mut buf, &Method::GET).unwrap().unwrap();
            assert_eq!(parsed.headers.len(), n + 2, "{n} lines");
            assert_eq!(parsed.headers["x-last"], "yes");
            assert_eq!(parsed.framing, RespFraming::Length(2));
            assert_eq!(&buf[..], b"ok");
        }
        let mut head = String::from("HTTP/1.1 200 OK\r\n");
        head.push_str(&"a:\r\n".repeat(MAX_HEADERS + 1));
        head.push_str("\r\n");
        let mut buf = BytesMut::from(head.as_bytes());
        assert_eq!(
            parse_head(&mut buf, &Method::GET).unwrap_err(),
            ParseError::HeadTooLarge
        );
    }

    #[test]
    fn ambiguous_framing_is_refused_or_not_reused() {
        for bad in [
            "+5",
            "5, 5",
            " 5x",
            "",
            "99999999999999999999",
            "5\r\nContent-Length: 5",
        ] {
            let text = format!("HTTP/1.1 200 OK\r\nContent-Length: {bad}\r\n\r\n");
            let mut buf = BytesMut::from(text.as_bytes());
            assert_eq!(
                parse_head(&mut buf, &Method::GET).unwrap_err(),
                ParseError::BadContentLength,
                "{bad:?}"
            );
        }
        for both in [
            "Content-Length: 3\r\nTransfer-Encoding: chunked",
            "Transfer-Encoding: chunked\r\nContent-Length: 3",
            "Transfer-Encoding: chunked\r\nContent-Length: 0",
        ] {
            for method in [Method::GET, Method::HEAD] {
                let text = format!("HTTP/1.1 200 OK\r\n{both}\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
                let mut buf = BytesMut::from(text.as_bytes());
                assert_eq!(
                    parse_head(&mut buf, &method).unwrap_err(),
                    ParseError::LengthAndCoding,
                    "{method} {both:?}"
                );
            }
        }
        for coding in [
            "Transfer-Encoding: gzip",
            "Transfer-Encoding: gzip, chunked",
            "Transfer-Encoding: chunked, chunked",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
            "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked",
        ] {
            let text = format!("HTTP/1.1 200 OK\r\n{coding}\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
            let mut buf = BytesMut::from(text.as_bytes());
            assert_eq!(
                parse_head(&mut buf, &Method::GET).unwrap_err(),
                ParseError::TransferEncoding,
                "{coding:?}"
            );
        }
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding:  Chunked \r\n\r\n0\r\n\r\n"[..],
        );
        let head = parse_head(&mut buf, &Method::GET).unwrap().unwrap();
        assert_eq!(head.framing, RespFraming::Chunked);
        assert!(head.keep_alive);
    }
}
