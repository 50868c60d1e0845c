//! The framing rules of HTTP/1 messages that both sides of the proxy
//! read: a `Content-Length` value, a `Transfer-Encoding` (`chunked`
//! only), and a chunked body (RFC 9112 §6, §7.1). The client's request
//! heads (`server::parse`) and the upstream's response heads
//! (`client::parse`) apply them; pure functions over a buffer, no I/O.
//!
//! They are strict where leniency lets a message be read two ways (the
//! root of request smuggling and response splitting): lengths and chunk
//! sizes are plain digits (no sign, no spaces inside, no overflow), a
//! chunk's data must be followed by CRLF, and size lines and trailers are
//! bounded.
//!
//! A message with both `Content-Length` and `Transfer-Encoding` is read
//! one way by the proxy (RFC 9112 §6.3: by its coding) and another by
//! whatever honours the length. An upstream's response is invalid (502,
//! `client::parse`), as nginx 1.23 and later answers it (upstream sent
//! "Content-Length" and "Transfer-Encoding" headers at the same time); a
//! client's request is refused (400, `server::parse`), as nginx refuses
//! it (client sent ... the same).

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

/// Whether a `Transfer-Encoding` value is the one coding the proxy reads
/// and writes: `chunked`, alone. It applies and removes no other coding,
/// and frames every body it forwards itself: a body under `gzip, chunked`
/// (or `chunked, chunked`, or `gzip`) would reach the other side with its
/// coding dropped, read as plain bytes. A client's request with another
/// coding is refused (501, `server::parse`), an upstream's response is
/// invalid (502, `client::parse`), as nginx does both (1.23 and later for
/// the upstream's: "upstream sent unknown Transfer-Encoding"). Two fields
/// are one list (RFC 9110 §5.3), so a second one is refused too.
pub fn only_chunked(value: &[u8]) -> bool {
    value.trim_ascii().eq_ignore_ascii_case(b"chunked")
}

/// Whether a comma-separated header value (`Connection`) lists `token`.
pub fn lists_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// A chunk's size line, `<hex>CRLF`, for a body the proxy frames itself
/// (the server's responses, the client's request bodies): written on the
/// stack, as it is for every chunk.
pub struct ChunkSizeLine {
    bytes: [u8; 2 * size_of::<usize>() + 2],
    start: usize,
}

impl ChunkSizeLine {
    pub fn new(n: usize) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut bytes = [0; 2 * size_of::<usize>() + 2];
        let mut start = bytes.len() - 2;
        bytes[start..].copy_from_slice(b"\r\n");
        let mut n = n;
        loop {
            start -= 1;
            bytes[start] = HEX[n & 15];
            n >>= 4;
            if n == 0 {
                break;
            }
        }
        ChunkSizeLine { bytes, start }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

/// A chunked body that cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed chunked body")]
pub struct BadChunk;

/// Where a chunked body's decoder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Expecting a size line; bytes of it searched for its end already.
    Size(usize),
    /// Inside a chunk's data, bytes left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one; bytes of
    /// the lines before this one, bytes of this one searched.
    Trailers(usize, usize),
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
        ChunkedDecoder {
            state: Chunk::Size(0),
        }
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
    // No control bytes hidden in an extension (a CR or LF ends the line).
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
                Chunk::Size(searched) => {
                    let pos = match line_end(buf, searched)? {
                        Line::Ends(pos) if pos <= MAX_CHUNK_LINE => pos,
                        Line::Searched(n) if n <= MAX_CHUNK_LINE => {
                            self.state = Chunk::Size(n);
                            return Ok(None);
                        }
                        _ => return Err(BadChunk),
                    };
                    let size = parse_chunk_size(&buf[..pos]).ok_or(BadChunk)?;
                    buf.advance(pos + 2);
                    self.state = if size == 0 {
                        Chunk::Trailers(0, 0)
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
                    self.state = Chunk::Size(0);
                }
                Chunk::Trailers(seen, searched) => {
                    let pos = match line_end(buf, searched)? {
                        Line::Ends(pos) if seen + pos + 2 <= MAX_TRAILERS => pos,
                        Line::Searched(n) if seen + n <= MAX_TRAILERS => {
                            self.state = Chunk::Trailers(seen, n);
                            return Ok(None);
                        }
                        _ => return Err(BadChunk),
                    };
                    buf.advance(pos + 2);
                    self.state = if pos == 0 {
                        Chunk::Done
                    } else {
                        Chunk::Trailers(seen + pos + 2, 0)
                    };
                }
            }
        }
    }
}

/// Where a line of a chunked body (a size line, a trailer) ends.
enum Line {
    /// At this offset, before its CRLF.
    Ends(usize),
    /// Not yet: this many bytes hold no line end (a CR last in the buffer
    /// is searched again once what follows it arrives).
    Searched(usize),
}

/// Finds the end of the line at the start of `buf`, searching from
/// `from` (the bytes before it were searched already): a line trickled in
/// small reads is searched once, not from its start after every read (a
/// 16 KiB trailer a byte at a time was 2^27 bytes searched). A bare LF or
/// CR ends the body at once, as a malformed line: it is not read as a
/// line end (nginx reads a bare LF as one; a front end that reads it as
/// part of an extension or a trailer would read the body another way),
/// and no CRLF is waited for after it.
fn line_end(buf: &[u8], from: usize) -> Result<Line, BadChunk> {
    let Some(at) = buf[from..]
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .map(|i| from + i)
    else {
        return Ok(Line::Searched(buf.len()));
    };
    match (buf[at], buf.get(at + 1)) {
        (b'\r', Some(b'\n')) => Ok(Line::Ends(at)),
        (b'\r', None) => Ok(Line::Searched(at)),
        _ => Err(BadChunk),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_lines_in_hex() {
        for n in [0usize, 1, 15, 16, 255, 4096, 0x12345, usize::MAX] {
            let line = ChunkSizeLine::new(n);
            assert_eq!(line.as_bytes(), format!("{n:x}\r\n").as_bytes());
        }
    }

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

    /// A line that ends in a bare LF (or has a bare CR) is refused as soon
    /// as it arrives, not when a CRLF that never comes would end it.
    #[test]
    fn bare_line_ends_are_refused_at_once() {
        for bad in [
            &b"3\n"[..],
            b"3;a=b\n",
            b"3\rx",
            b"3\r\nabc\n",
            b"3\r\nabc\r\n0\n",
            b"0\r\nX-T: 1\n",
            b"0\r\nX-T: 1\r\n\n",
            b"0\r\nX-T: a\rb",
        ] {
            assert_eq!(
                decode_all(bad).unwrap_err(),
                BadChunk,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        for partial in [&b"3\r"[..], b"3;a=b\r", b"0\r\nX-T: 1\r"] {
            let (_, done, _) = decode_all(partial).unwrap();
            assert!(!done);
        }
    }

    /// A size line or trailer trickled a byte at a time is searched from
    /// where the last search stopped, not from its start after each byte.
    #[test]
    fn trickled_lines_are_searched_once() {
        let ext = format!("1;e={}\r\n", "v".repeat(MAX_CHUNK_LINE - 10));
        let trailer = format!("X-T: {}\r\n", "t".repeat(MAX_TRAILERS - 100));
        let body = format!("{ext}a\r\n0\r\n{trailer}\r\nNEXT");
        let mut dec = ChunkedDecoder::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for &b in body.as_bytes() {
            buf.extend_from_slice(&[b]);
            while let Some(d) = dec.decode(&mut buf).unwrap() {
                out.extend_from_slice(&d);
            }
            match dec.state {
                Chunk::Size(n) | Chunk::Trailers(_, n) => {
                    let cr_last = buf.last() == Some(&b'\r');
                    assert_eq!(n, buf.len() - usize::from(cr_last), "searched so far");
                }
                _ => {}
            }
        }
        assert_eq!(
            (&out[..], dec.is_done(), &buf[..]),
            (&b"a"[..], true, &b"NEXT"[..])
        );
    }
}
