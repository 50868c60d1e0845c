//! The framing rules of HTTP/1 messages that both sides of the proxy
//! read: a `Content-Length` value, a `Transfer-Encoding` that ends in
//! `chunked`, and a chunked body (RFC 9112 §6, §7.1). The client's request
//! heads (`server::parse`) and the upstream's response heads
//! (`client::parse`) apply them; pure functions over a buffer, no I/O.
//!
//! They are strict where leniency lets a message be read two ways (the
//! root of request smuggling and response splitting): lengths and chunk
//! sizes are plain digits (no sign, no spaces inside, no overflow), a
//! chunk's data must be followed by CRLF, and size lines and trailers are
//! bounded.

use bytes::{Buf, Bytes, BytesMut};

/// Longest chunk-size line (with extensions) accepted.
const MAX_CHUNK_LINE: usize = 4096;
/// Most trailer bytes accepted after the last chunk (they are dropped).
const MAX_TRAILERS: usize = 16 * 1024;

/// A decimal `Content-Length`: digits only.
pub fn parse_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Whether a `Transfer-Encoding` value's last coding is `chunked` (the
/// last coding of the last line decides, RFC 9112 §6.3): an upstream's
/// response. A client's request may carry one `chunked` only
/// (`server::parse`).
pub fn chunked_last(value: &[u8]) -> bool {
    value
        .rsplit(|&b| b == b',')
        .next()
        .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

/// Whether a comma-separated header value (`Connection`) lists `token`.
pub fn lists_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// A chunked body that cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed chunked body")]
pub struct BadChunk;

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
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, BadChunk> {
        loop {
            match self.state {
                Chunk::Done => return Ok(None),
                Chunk::Size => {
                    let Some(pos) = find_crlf(buf) else {
                        if buf.len() > MAX_CHUNK_LINE {
                            return Err(BadChunk);
                        }
                        return Ok(None);
                    };
                    if pos > MAX_CHUNK_LINE {
                        return Err(BadChunk);
                    }
                    let size = parse_chunk_size(&buf[..pos]).ok_or(BadChunk)?;
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
                            return Err(BadChunk);
                        }
                        return Ok(None);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(BadChunk);
                    }
                    buf.advance(2);
                    self.state = Chunk::Size;
                }
                Chunk::Trailers(seen) => {
                    let Some(pos) = find_crlf(buf) else {
                        if seen + buf.len() > MAX_TRAILERS {
                            return Err(BadChunk);
                        }
                        return Ok(None);
                    };
                    if seen + pos + 2 > MAX_TRAILERS {
                        return Err(BadChunk);
                    }
                    if buf[..pos].contains(&b'\n') {
                        return Err(BadChunk);
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

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, bool, Vec<u8>), BadChunk> {
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
                BadChunk,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let (out, done, _) = decode_all(b"3\r\nab").unwrap();
        assert_eq!((&out[..], done), (&b"ab"[..], false));
    }
}
