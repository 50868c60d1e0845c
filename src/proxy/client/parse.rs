//! Parsing what an upstream sends back: the response head and a chunked
//! body. Pure functions over a buffer, no I/O, so they can be driven by the
//! generative tests below with arbitrary bytes split at arbitrary points.
//!
//! Both are strict where leniency lets a response be read two ways (the
//! root of response splitting and pool poisoning): `Content-Length` and
//! chunk sizes are plain digits (no sign, no spaces inside, no overflow),
//! and a head that carries both `Content-Length` and `Transfer-Encoding` is
//! read by its `Transfer-Encoding` but its connection is not reused.

use std::mem::MaybeUninit;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{
    HeaderMap, HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING,
};
use http::{Method, StatusCode, Version};

/// Largest response head accepted from an upstream.
pub const MAX_HEAD: usize = 60 * 1024;
/// Longest chunk-size line (with extensions) accepted.
const MAX_CHUNK_LINE: usize = 4096;
/// Most trailer bytes accepted after the last chunk (they are dropped).
const MAX_TRAILERS: usize = 16 * 1024;

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
    #[error("malformed chunked body")]
    Chunked,
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

/// A decimal `Content-Length`: digits only.
fn parse_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
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
/// The most header lines a head of [`MAX_HEAD`] bytes can hold (`a:` and
/// CRLF): nginx has no count limit for an upstream's headers, only its
/// buffer's size, so neither has the proxy.
const MAX_HEADERS: usize = MAX_HEAD / 4;

/// Finds the head at the start of `buf` and the spans of its header lines;
/// `Ok(None)` when more bytes are needed, `Err(None)` when it has more
/// lines than `raw` has slots.
fn scan<'a>(
    buf: &'a [u8],
    raw: &mut [MaybeUninit<httparse::Header<'a>>],
    spans: &mut [Span],
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
    for (span, h) in spans.iter_mut().zip(resp.headers.iter()) {
        let n = h.name.as_ptr() as usize - base;
        let v = h.value.as_ptr() as usize - base;
        *span = (
            n as u16,
            h.name.len() as u16,
            v as u16,
            h.value.len() as u16,
        );
    }
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
    let mut stack_spans = [(0u16, 0u16, 0u16, 0u16); STACK_HEADERS];
    let mut heap_spans = Vec::new();
    let scanned = match scan(buf, &mut raw, &mut stack_spans) {
        Err(None) => {
            // More lines than the stack's slots: once more, with room
            // for as many as the head can hold.
            let mut raw = Vec::with_capacity(MAX_HEADERS);
            raw.resize_with(MAX_HEADERS, MaybeUninit::uninit);
            heap_spans = vec![(0u16, 0u16, 0u16, 0u16); MAX_HEADERS];
            scan(buf, &mut raw, &mut heap_spans)
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
    let spans: &[Span] = if heap_spans.is_empty() {
        &stack_spans
    } else {
        &heap_spans
    };
    let status = StatusCode::from_u16(code).map_err(|_| ParseError::BadStatus)?;
    let head = buf.split_to(len).freeze();

    let mut headers = HeaderMap::with_capacity(count + 6);
    let mut keep_alive = version == Version::HTTP_11;
    let mut length: Option<u64> = None;
    let mut encoded = false;
    let mut chunked = false;
    for &(n, nl, v, vl) in &spans[..count] {
        let (n, nl, v, vl) = (n as usize, nl as usize, v as usize, vl as usize);
        let name = HeaderName::from_bytes(&head[n..n + nl]).map_err(|_| ParseError::BadHeader)?;
        let value = HeaderValue::from_maybe_shared(head.slice(v..v + vl))
            .map_err(|_| ParseError::BadHeader)?;
        if name == CONTENT_LENGTH {
            let parsed = parse_length(value.as_bytes()).ok_or(ParseError::BadContentLength)?;
            if length.is_some_and(|l| l != parsed) {
                return Err(ParseError::BadContentLength);
            }
            length = Some(parsed);
        } else if name == TRANSFER_ENCODING {
            // The last coding of the last line decides (RFC 9112 §6.3).
            encoded = true;
            chunked = value
                .as_bytes()
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"));
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
    if encoded {
        // Transfer-Encoding overrides Content-Length; a response with both
        // (or with a coding other than chunked last) is read, but its
        // connection is not trusted with another request.
        if length.is_some() || !chunked {
            keep_alive = false;
        }
        headers.remove(CONTENT_LENGTH);
    }
    let framing = if method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        RespFraming::Empty
    } else if encoded {
        if chunked {
            RespFraming::Chunked
        } else {
            RespFraming::Eof
        }
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

/// Where a chunked body's decoder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Expecting a size line.
    Size,
    /// Inside a chunk's data, bytes left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one; bytes seen.
    Trailers(usize),
    /// The terminating empty line was read.
    Done,
}

/// Decodes `Transfer-Encoding: chunked` incrementally. Trailers are read
/// and dropped (they are not forwarded).
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: Chunk,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder { state: Chunk::Size }
    }
}

/// A chunk-size line: hex digits, then optional whitespace and extensions.
fn parse_chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return None;
    }
    let rest = &line[digits..];
    let rest_ok = match rest.iter().position(|&b| b != b' ' && b != b'\t') {
        None => true,
        Some(i) => rest[i] == b';',
    };
    // No control bytes (a bare CR or LF) hidden in an extension.
    if !rest_ok || rest.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return None;
    }
    line[..digits].iter().try_fold(0u64, |n, &d| {
        let v = (d as char).to_digit(16)?;
        n.checked_mul(16)?.checked_add(u64::from(v))
    })
}

impl ChunkedDecoder {
    /// Whether the whole body, trailers included, has been read.
    pub fn is_done(&self) -> bool {
        self.state == Chunk::Done
    }

    /// Takes the next piece of body data out of `buf`. `Ok(None)` when more
    /// bytes are needed or the body is done ([`is_done`](Self::is_done));
    /// bytes after the end are left in `buf`.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, ParseError> {
        loop {
            match self.state {
                Chunk::Done => return Ok(None),
                Chunk::Size => {
                    let Some(pos) = find_crlf(buf) else {
                        if buf.len() > MAX_CHUNK_LINE {
                            return Err(ParseError::Chunked);
                        }
                        return Ok(None);
                    };
                    if pos > MAX_CHUNK_LINE {
                        return Err(ParseError::Chunked);
                    }
                    let size = parse_chunk_size(&buf[..pos]).ok_or(ParseError::Chunked)?;
                    buf.advance(pos + 2);
                    self.state = if size == 0 {
                        Chunk::Trailers(0)
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
                    self.state = if left == n as u64 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left - n as u64)
                    };
                    return Ok(Some(data));
                }
                Chunk::DataEnd => {
                    if buf.len() < 2 {
                        if buf.first().is_some_and(|&b| b != b'\r') {
                            return Err(ParseError::Chunked);
                        }
                        return Ok(None);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(ParseError::Chunked);
                    }
                    buf.advance(2);
                    self.state = Chunk::Size;
                }
                Chunk::Trailers(seen) => {
                    let Some(pos) = find_crlf(buf) else {
                        if seen + buf.len() > MAX_TRAILERS {
                            return Err(ParseError::Chunked);
                        }
                        return Ok(None);
                    };
                    if seen + pos + 2 > MAX_TRAILERS {
                        return Err(ParseError::Chunked);
                    }
                    if buf[..pos].contains(&b'\n') {
                        return Err(ParseError::Chunked);
                    }
                    buf.advance(pos + 2);
                    self.state = if pos == 0 {
                        Chunk::Done
                    } else {
                        Chunk::Trailers(seen + pos + 2)
                    };
                }
            }
        }
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
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
        for n in [127, 128, 129, 200, MAX_HEADERS - 16] {
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
        for bad in ["+5", "5, 5", " 5x", "", "99999999999999999999"] {
            let text = format!("HTTP/1.1 200 OK\r\nContent-Length: {bad}\r\n\r\n");
            let mut buf = BytesMut::from(text.as_bytes());
            assert_eq!(
                parse_head(&mut buf, &Method::GET).unwrap_err(),
                ParseError::BadContentLength,
                "{bad:?}"
            );
        }
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        );
        let head = parse_head(&mut buf, &Method::GET).unwrap().unwrap();
        assert_eq!(head.framing, RespFraming::Chunked);
        assert!(!head.keep_alive, "CL + TE: read by TE, never reused");
        assert!(head.headers.get(CONTENT_LENGTH).is_none());
        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"[..]);
        let head = parse_head(&mut buf, &Method::GET).unwrap().unwrap();
        assert_eq!(head.framing, RespFraming::Eof);
        assert!(!head.keep_alive);
    }

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, bool, Vec<u8>), ParseError> {
        let mut dec = ChunkedDecoder::default();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(d) = dec.decode(&mut buf)? {
            out.extend_from_slice(&d);
        }
        Ok((out, dec.is_done(), buf.to_vec()))
    }

    #[test]
    fn chunked_bodies() {
        let (out, done, rest) =
            decode_all(b"3\r\nabc\r\n1;ext=1\r\nd\r\n0\r\nX-T: 1\r\n\r\nNEXT").unwrap();
        assert_eq!(
            (&out[..], done, &rest[..]),
            (&b"abcd"[..], true, &b"NEXT"[..])
        );
        for bad in [
            &b"+3\r\nabc\r\n0\r\n\r\n"[..],
            b"3\r\nabcX\r\n0\r\n\r\n",
            b"zz\r\n",
            b"11111111111111111\r\n",
            b"3\nx\r\nabc\r\n",
            b"3 4\r\nabc\r\n",
        ] {
            assert_eq!(
                decode_all(bad).unwrap_err(),
                ParseError::Chunked,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let (out, done, _) = decode_all(b"3\r\nab").unwrap();
        assert_eq!((&out[..], done), (&b"ab"[..], false));
    }
}
