//! Generative test of the client request parser (`parse_request`) and the
//! body framings it selects, driven as the connection reads them: bytes
//! arriving in pieces, requests pipelined one after another on one
//! connection.
//!
//! Inputs are connections built at random (methods, targets, header
//! fields, `Content-Length` or chunked bodies with extensions and
//! trailers, `Expect`, `Connection`, several requests in a row), then often
//! mutated (bytes flipped, inserted, removed, cut, framing headers spliced
//! in), or plain random bytes. For every input:
//! - nothing panics;
//! - what is read is the same however the bytes are split into reads (no
//!   state depends on where a read ended: a request is never read two
//!   ways);
//! - a request's body never exceeds what its framing announced, and no
//!   head read as chunked passes a `Content-Length` on;
//! - no header value read carries a CR, LF or NUL;
//! - an unmutated connection reads as exactly the requests it was built of.
//!
//! It runs inside `cargo test` for a fixed time (`proxy::fuzz::run`),
//! after replaying the corpus in `tests/corpus/client-request/`.

use bytes::BytesMut;

use super::parse::{parse_request, BodyFraming};
use crate::proxy::framing::ChunkedDecoder;
use crate::proxy::fuzz::{
    chunked_body, mutate, pieces, random_bytes, random_cuts, random_value, Rng,
};

/// One request as the connection read it.
#[derive(Debug, PartialEq, Eq)]
struct Read {
    method: String,
    target: String,
    fields: usize,
    framing: BodyFraming,
    keep_alive: bool,
    body: Vec<u8>,
}

/// What reading a connection produced.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    requests: Vec<Read>,
    /// Why reading stopped: a refused head or body, or `None` when the
    /// input ran out (or the connection was not to be read again).
    end: Option<Result<(), String>>,
}

/// The most requests read from one input.
const MAX_REQUESTS: usize = 4;

/// Reads `input` as the connection driver does, the bytes arriving in
/// pieces that end at `cuts`.
fn read(input: &[u8], cuts: &[usize]) -> Result<Outcome, String> {
    let mut pieces = pieces(input, cuts).into_iter();
    let mut buf = BytesMut::new();
    let mut out = Outcome {
        requests: Vec::new(),
        end: None,
    };
    // One head filled again for each request, as the connection's is.
    let mut parts = http::Request::new(()).into_parts().0;
    while out.requests.len() < MAX_REQUESTS {
        let head = loop {
            if !buf.is_empty() {
                match parse_request(&mut buf, &mut parts) {
                    Err(e) => {
                        out.end = Some(Err(e.to_string()));
                        return Ok(out);
                    }
                    Ok(Some(h)) => break h,
                    Ok(None) => {}
                }
            }
            match pieces.next() {
                Some(p) => buf.extend_from_slice(p),
                None => return Ok(out),
            }
        };
        for v in parts.headers.values() {
            if v.as_bytes().iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
                return Err(format!("a header value with CR, LF or NUL: {v:?}"));
            }
        }
        let has = |name| parts.headers.contains_key(name);
        if head.body == BodyFraming::Chunked && has(http::header::CONTENT_LENGTH) {
            return Err("chunked, with a Content-Length passed on".into());
        }
        let mut read = Read {
            method: parts.method.to_string(),
            target: parts.uri.to_string(),
            fields: parts.headers.len(),
            framing: head.body,
            keep_alive: head.keep_alive,
            body: Vec::new(),
        };
        let mut remaining = match head.body {
            BodyFraming::Length(l) => l,
            _ => 0,
        };
        let mut chunked = ChunkedDecoder::default();
        loop {
            let done = match head.body {
                BodyFraming::Empty => true,
                BodyFraming::Length(_) => {
                    let n = (buf.len() as u64).min(remaining) as usize;
                    read.body.extend_from_slice(&buf.split_to(n));
                    remaining -= n as u64;
                    remaining == 0
                }
                BodyFraming::Chunked => loop {
                    match chunked.decode(&mut buf) {
                        Err(e) => {
                            out.requests.push(read);
                            out.end = Some(Err(e.to_string()));
                            return Ok(out);
                        }
                        Ok(Some(data)) => read.body.extend_from_slice(&data),
                        Ok(None) => break chunked.is_done(),
                    }
                },
            };
            if done {
                break;
            }
            match pieces.next() {
                Some(p) => buf.extend_from_slice(p),
                None => {
                    out.requests.push(read);
                    return Ok(out);
                }
            }
        }
        if let BodyFraming::Length(l) = head.body {
            if read.body.len() as u64 != l {
                return Err(format!(
                    "a body of {} bytes for Content-Length {l}",
                    read.body.len()
                ));
            }
        }
        let keep_alive = read.keep_alive;
        out.requests.push(read);
        if !keep_alive {
            out.end = Some(Ok(()));
            return Ok(out);
        }
    }
    Ok(out)
}

/// A connection built at random, with the requests it should read as.
struct Built {
    bytes: Vec<u8>,
    requests: Vec<(String, String, Vec<u8>)>,
}

const NAMES: &[&str] = &[
    "Accept",
    "x-a",
    "User-Agent",
    "Cookie",
    "X-Custom-Auth",
    "x-long-header-name-for-testing",
];
const METHODS: &[&str] = &["GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH"];
const TARGETS: &[&str] = &[
    "/",
    "/a/b",
    "/x?q=1&r=%20",
    "/%C3%A9",
    "http://h.example/p?x",
];

fn build(rng: &mut Rng) -> Built {
    let mut out = Vec::new();
    let mut requests = Vec::new();
    let n = 1 + rng.below(3);
    for i in 0..n {
        let method = *rng.pick(METHODS);
        let target = *rng.pick(TARGETS);
        out.extend_from_slice(
            format!("{method} {target} HTTP/1.1\r\nHost: h.example\r\n").as_bytes(),
        );
        for _ in 0..rng.below(6) {
            out.extend_from_slice(rng.pick(NAMES).as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(&random_value(rng));
            out.extend_from_slice(b"\r\n");
        }
        if rng.chance(6) {
            out.extend_from_slice(b"Expect: 100-continue\r\n");
        }
        let max = if rng.chance(10) { 20_000 } else { 300 };
        let body = random_bytes(rng, max);
        let mut wire = Vec::new();
        match rng.below(3) {
            0 if !body.is_empty() => {
                out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
                wire.extend_from_slice(&body);
            }
            1 => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
                chunked_body(rng, &body, &mut wire);
            }
            _ => {}
        }
        let body = if wire.is_empty() { Vec::new() } else { body };
        if i + 1 == n && rng.chance(3) {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&wire);
        requests.push((method.to_string(), target.to_string(), body));
    }
    Built {
        bytes: out,
        requests,
    }
}

/// Checks one input; `Err` says what went wrong.
fn check(input: &[u8], rng: &mut Rng, built: Option<&Built>) -> Result<(), String> {
    let whole = read(input, &[])?;
    for _ in 0..3 {
        let cuts = random_cuts(rng, input.len());
        let split = read(input, &cuts)?;
        if split != whole {
            return Err(format!(
                "read in one piece: {whole:?}\nread cut at {cuts:?}: {split:?}"
            ));
        }
    }
    if let Some(b) = built {
        let got: Vec<_> = whole
            .requests
            .iter()
            .map(|r| (r.method.clone(), r.target.clone(), r.body.clone()))
            .collect();
        if got != b.requests || matches!(whole.end, Some(Err(_))) {
            return Err(format!(
                "a valid connection misread: expected {:?}, got {whole:?}",
                b.requests
            ));
        }
    }
    Ok(())
}

/// Framing and other heads the fuzz splices into requests.
const SNIPPETS: &[&[u8]] = &[
    b"\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 0\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"Transfer-Encoding: chunked, identity\r\n",
    b"Connection: close\r\n",
    b"Connection: keep-alive\r\n",
    b" folded\r\n",
    b"ffffffffffffffff\r\n",
    b"10000000000000000\r\n",
    b"0\r\n\r\n",
    b"GET / HTTP/1.1\r\n",
    b"GET / HTTP/1.0\r\n",
];

#[test]
fn client_request_parser_survives_arbitrary_input() {
    crate::proxy::fuzz::run(
        "client-request",
        |case| match case.below(10) {
            0 => (random_bytes(case, 200), None),
            1..=3 => {
                let b = build(case);
                (b.bytes.clone(), Some(b))
            }
            _ => {
                let mut bytes = build(case).bytes;
                mutate(case, &mut bytes, SNIPPETS);
                (bytes, None)
            }
        },
        check,
    );
}
