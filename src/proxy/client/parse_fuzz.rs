//! Generative test of the upstream response parser: the head
//! (`parse_head`) and the body framings it selects, chunked decoding
//! included, driven the way `client` drives them (bytes arriving in
//! pieces).
//!
//! Inputs are responses built at random (statuses, headers, lengths,
//! chunk sizes with extensions and trailers, stray bytes after the end),
//! then often mutated (bytes flipped, inserted, removed, cut, spliced), or
//! plain random bytes. For every input:
//! - nothing panics;
//! - the outcome is the same however the bytes are split into reads (the
//!   decoder keeps no state that depends on where a read ended);
//! - a body never exceeds what its framing announced;
//! - an unmutated response decodes to exactly its body, and what follows
//!   it is left for the connection check (`pool`).
//!
//! It runs inside `cargo test` for a fixed time (`proxy::fuzz::run`),
//! after replaying the corpus in `tests/corpus/upstream-response/`.

use bytes::BytesMut;
use http::{Method, StatusCode};

use super::parse::{parse_head, ChunkedDecoder, ParseError, RespFraming};
use crate::proxy::fuzz::{
    chunked_body, mutate, pieces, random_bytes, random_cuts, random_value, Rng,
};

/// What reading one response produced.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// Status, framing, keep-alive and header count; or why the head was
    /// refused; `None` if the input ended inside the head.
    head: Option<Result<(StatusCode, RespFraming, bool, usize), ParseError>>,
    body: Vec<u8>,
    /// How the body ended: `Some(Ok(true))` complete, `Some(Ok(false))`
    /// input ended first, `Some(Err)` refused.
    end: Option<Result<bool, ParseError>>,
    /// Bytes after a complete response (stray bytes).
    rest: Vec<u8>,
}

/// Reads `input` as `client` does, the bytes arriving in pieces that end
/// at `cuts` (sorted offsets). 1xx heads are skipped as `client` skips
/// them.
fn read(input: &[u8], cuts: &[usize], method: &Method) -> Outcome {
    let mut pieces = pieces(input, cuts).into_iter();
    let mut buf = BytesMut::new();
    let mut out = Outcome {
        head: None,
        body: Vec::new(),
        end: None,
        rest: Vec::new(),
    };
    // The head, after any 1xx ones.
    let head = loop {
        if !buf.is_empty() {
            match parse_head(&mut buf, method) {
                Err(e) => {
                    out.head = Some(Err(e));
                    return out;
                }
                Ok(Some(h)) if h.status.is_informational() => continue,
                Ok(Some(h)) => break h,
                Ok(None) => {}
            }
        }
        match pieces.next() {
            Some(p) => buf.extend_from_slice(p),
            None => return out,
        }
    };
    out.head = Some(Ok((
        head.status,
        head.framing,
        head.keep_alive,
        head.headers.len(),
    )));
    let mut remaining = match head.framing {
        RespFraming::Length(l) => l,
        _ => 0,
    };
    let mut chunked = ChunkedDecoder::default();
    loop {
        let done = match head.framing {
            RespFraming::Empty => true,
            RespFraming::Length(_) => {
                let n = (buf.len() as u64).min(remaining) as usize;
                out.body.extend_from_slice(&buf.split_to(n));
                remaining -= n as u64;
                remaining == 0
            }
            RespFraming::Eof => {
                out.body.extend_from_slice(&buf.split());
                false
            }
            RespFraming::Chunked => loop {
                match chunked.decode(&mut buf).map_err(ParseError::from) {
                    Err(e) => {
                        out.end = Some(Err(e));
                        return out;
                    }
                    Ok(Some(data)) => out.body.extend_from_slice(&data),
                    Ok(None) => break chunked.is_done(),
                }
            },
        };
        if done {
            out.end = Some(Ok(true));
            out.rest = buf.to_vec();
            for p in pieces {
                out.rest.extend_from_slice(p);
            }
            return out;
        }
        match pieces.next() {
            Some(p) => buf.extend_from_slice(p),
            None => {
                out.end = Some(Ok(false));
                return out;
            }
        }
    }
}

/// A response built at random, with the body it should decode to.
struct Built {
    bytes: Vec<u8>,
    body: Vec<u8>,
    /// Appended after the response.
    rest: Vec<u8>,
}

const NAMES: &[&str] = &[
    "content-type",
    "x-a",
    "Server",
    "Set-Cookie",
    "ETag",
    "Vary",
    "x-long-header-name-for-testing",
];

fn build(rng: &mut Rng, method: &Method) -> Built {
    let mut out = Vec::new();
    if rng.chance(8) {
        out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let status = *rng.pick(&[200u16, 200, 201, 204, 304, 404, 500, 302]);
    let version = if rng.chance(6) { "1.0" } else { "1.1" };
    out.extend_from_slice(format!("HTTP/{version} {status} Whatever\r\n").as_bytes());
    for _ in 0..rng.below(6) {
        out.extend_from_slice(rng.pick(NAMES).as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(&random_value(rng));
        out.extend_from_slice(b"\r\n");
    }
    if rng.chance(4) {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    let max = if rng.chance(10) { 20_000 } else { 300 };
    let body = random_bytes(rng, max);
    let bodiless = *method == Method::HEAD || status == 204 || status == 304;
    let mut wire = Vec::new();
    let mut expected = body.clone();
    match rng.below(3) {
        0 => {
            out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
            wire.extend_from_slice(&body);
        }
        1 => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            chunked_body(rng, &body, &mut wire);
        }
        _ => {
            // Read to EOF: nothing can follow it.
            wire.extend_from_slice(&body);
        }
    }
    out.extend_from_slice(b"\r\n");
    if bodiless {
        expected.clear();
        wire.clear();
    }
    let eof_framed = !out
        .windows(15)
        .any(|w| w.eq_ignore_ascii_case(b"content-length:"))
        && !out
            .windows(18)
            .any(|w| w.eq_ignore_ascii_case(b"transfer-encoding:"));
    out.extend_from_slice(&wire);
    let rest = if eof_framed && !bodiless {
        Vec::new()
    } else {
        b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON".to_vec()
    };
    out.extend_from_slice(&rest);
    Built {
        bytes: out,
        body: expected,
        rest,
    }
}

/// Checks one input; `Err` says what went wrong.
fn check(input: &[u8], rng: &mut Rng, built: Option<&Built>) -> Result<(), String> {
    for method in [Method::GET, Method::HEAD] {
        let whole = read(input, &[], &method);
        if let Some(Ok((_, framing, _, _))) = whole.head {
            if let RespFraming::Length(l) = framing {
                if whole.body.len() as u64 > l {
                    return Err(format!("{method}: body longer than Content-Length {l}"));
                }
            }
            if matches!(framing, RespFraming::Empty) && !whole.body.is_empty() {
                return Err(format!("{method}: a body for an empty framing"));
            }
        }
        for _ in 0..3 {
            let cuts = random_cuts(rng, input.len());
            let split = read(input, &cuts, &method);
            if split != whole {
                return Err(format!(
                    "{method}: read in one piece: {whole:?}\nread cut at {cuts:?}: {split:?}"
                ));
            }
        }
        if let Some(b) = built.filter(|_| method == Method::GET) {
            let ok = matches!(whole.end, Some(Ok(true)) | Some(Ok(false)))
                && whole.body == b.body
                && (whole.rest == b.rest || whole.end == Some(Ok(false)));
            if !ok {
                return Err(format!(
                    "a valid response misread: expected body {:?} and rest {:?}, got {whole:?}",
                    String::from_utf8_lossy(&b.body),
                    String::from_utf8_lossy(&b.rest)
                ));
            }
        }
    }
    Ok(())
}

/// Responses an upstream may send back, mutated: what the fuzz splices in.
const SNIPPETS: &[&[u8]] = &[
    b"\r\n",
    b"Content-Length: 5\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"ffffffffffffffff\r\n",
    b"10000000000000000\r\n",
    b"0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n",
];

#[test]
fn upstream_response_parser_survives_arbitrary_input() {
    crate::proxy::fuzz::run(
        "upstream-response",
        |case| match case.below(10) {
            0 => (random_bytes(case, 200), None),
            1..=3 => {
                let b = build(case, &Method::GET);
                (b.bytes.clone(), Some(b))
            }
            _ => {
                let mut bytes = build(case, &Method::GET).bytes;
                mutate(case, &mut bytes, SNIPPETS);
                (bytes, None)
            }
        },
        check,
    );
}
