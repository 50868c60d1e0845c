//! Writing a response head to an HTTP/1 client. The framing headers are
//! the server's: `Content-Length`, `Transfer-Encoding`, `Connection` and
//! `Trailer` in the response's map (from an upstream, a function, an error
//! page) are never copied as they are. The body's length is the one the
//! body knows; an upstream's `Content-Length` is used only where the body
//! cannot say (a streamed body without its own length, and HEAD), after
//! checking it is a number, and the body is held to it (`Framing::Length`).
//! From `Connection` only an `upgrade` token is kept (Kong's 426 says
//! `Connection: Upgrade`); `close` or `keep-alive` is the server's word.
//! hyper's other rules are kept: no body and no length for 1xx, 204, 304
//! and a 2xx to CONNECT; a length but no body for HEAD; chunked when the
//! length is unknown, or the end of the connection on HTTP/1.0; a `Date`
//! unless the response has one.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRAILER, TRANSFER_ENCODING};
use http::{Method, StatusCode, Version};

use crate::proxy::framing::{lists_token, parse_length};
use crate::proxy::short_copy::put_bytes;

/// How the response body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body is sent (whatever the response holds is dropped).
    None,
    /// Exactly this many bytes.
    Length(u64),
    Chunked,
    /// Until the connection closes (HTTP/1.0 without a length).
    Close,
}

/// The request a response answers, as far as its framing goes.
#[derive(Debug, Clone, Copy)]
pub struct Answering<'a> {
    pub method: &'a Method,
    pub version: Version,
}

/// What the body says of its length: ended already, exactly `n` bytes,
/// or unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLen {
    Empty,
    Exact(u64),
    Unknown,
}

/// Encodes the status line and header fields of `head` into `out`;
/// returns the body's framing and whether the connection stays open.
pub fn encode_head(
    out: &mut Vec<u8>,
    head: &http::response::Parts,
    req: Answering<'_>,
    body: BodyLen,
    mut keep_alive: bool,
) -> (Framing, bool) {
    let mut status = head.status;
    if status.is_informational() {
        // A 1xx cannot end a request (hyper's rule: a 500).
        status = StatusCode::INTERNAL_SERVER_ERROR;
        keep_alive = false;
    }
    let http10 = req.version == Version::HTTP_10;
    if http10 {
        out.extend_from_slice(b"HTTP/1.0 ");
    } else if status == StatusCode::OK {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
    }
    if http10 || status != StatusCode::OK {
        put_bytes(out, status.as_str().as_bytes());
        out.push(b' ');
        put_bytes(
            out,
            status.canonical_reason().unwrap_or("<none>").as_bytes(),
        );
        out.extend_from_slice(b"\r\n");
    }

    let connect_ok = *req.method == Method::CONNECT && status.is_success();
    let no_length = head.status.is_informational()
        || connect_ok
        || matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED);
    let no_body = no_length || *req.method == Method::HEAD;
    if connect_ok {
        // Nothing is tunnelled: the connection ends with this answer.
        keep_alive = false;
    }

    let mut their_length: Option<u64> = None;
    let mut upgrade = false;
    let mut has_date = false;
    for (name, value) in &head.headers {
        if name == CONTENT_LENGTH {
            their_length = their_length.or_else(|| parse_length(value.as_bytes()));
            continue;
        }
        if name == CONNECTION {
            let v = value.as_bytes();
            upgrade |= lists_token(v, b"upgrade");
            if lists_token(v, b"close") {
                keep_alive = false;
            }
            continue;
        }
        if name == TRANSFER_ENCODING || name == TRAILER {
            continue;
        }
        has_date |= name == DATE;
        put_bytes(out, name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        put_bytes(out, value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }

    let framing = if no_body {
        if !no_length {
            // HEAD: the length a GET would have.
            let length = their_length.or(match body {
                BodyLen::Exact(n) if n > 0 => Some(n),
                _ => None,
            });
            if let Some(n) = length {
                write_length(out, n);
            }
        }
        Framing::None
    } else {
        match (body, their_length) {
            (BodyLen::Empty, _) => {
                write_length(out, 0);
                Framing::Length(0)
            }
            (BodyLen::Exact(n), _) | (BodyLen::Unknown, Some(n)) => {
                write_length(out, n);
                Framing::Length(n)
            }
            (BodyLen::Unknown, None) if http10 => {
                keep_alive = false;
                Framing::Close
            }
            (BodyLen::Unknown, None) => {
                out.extend_from_slice(b"transfer-encoding: chunked\r\n");
                Framing::Chunked
            }
        }
    };

    match (upgrade, keep_alive, http10) {
        (false, true, false) | (false, false, true) => {}
        (false, true, true) => out.extend_from_slice(b"connection: keep-alive\r\n"),
        (false, false, false) => out.extend_from_slice(b"connection: close\r\n"),
        (true, true, false) => out.extend_from_slice(b"connection: Upgrade\r\n"),
        (true, true, true) => out.extend_from_slice(b"connection: Upgrade, keep-alive\r\n"),
        (true, false, _) => out.extend_from_slice(b"connection: Upgrade, close\r\n"),
    }
    if !has_date {
        out.extend_from_slice(b"date: ");
        write_date(out);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    (framing, keep_alive)
}

fn write_length(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(b"content-length: ");
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    put_bytes(out, &digits[at..]);
    out.extend_from_slice(b"\r\n");
}

thread_local! {
    /// The `Date` value of the current second, made once a second.
    static DATE_CACHE: RefCell<(u64, [u8; 29])> = const { RefCell::new((u64::MAX, [0; 29])) };
}

/// Appends the current time as an HTTP date (29 bytes).
fn write_date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != secs {
            let text = httpdate::fmt_http_date(now);
            if text.len() == 29 {
                cache.1.copy_from_slice(text.as_bytes());
                cache.0 = secs;
            }
        }
        out.extend_from_slice(&cache.1);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderValue, Response};

    fn encode(
        status: u16,
        headers: &[(&str, &str)],
        method: Method,
        version: Version,
        body: BodyLen,
    ) -> (String, Framing, bool) {
        let mut resp = Response::new(());
        *resp.status_mut() = StatusCode::from_u16(status).unwrap();
        for (n, v) in headers {
            resp.headers_mut().append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let (head, ()) = resp.into_parts();
        let mut out = Vec::new();
        let (framing, keep) = encode_head(
            &mut out,
            &head,
            Answering {
                method: &method,
                version,
            },
            body,
            true,
        );
        let text = String::from_utf8(out).unwrap();
        let date = text.find("date: ").expect("a date");
        let without_date = format!("{}{}", &text[..date], &text[date + 37..]);
        (without_date, framing, keep)
    }

    use Version as V;

    #[test]
    fn framing_headers_are_the_servers() {
        let (text, framing, keep) = encode(
            200,
            &[
                ("content-length", "999"),
                ("transfer-encoding", "chunked"),
                ("connection", "close, x-hop"),
                ("trailer", "x-t"),
                ("x-a", "1"),
            ],
            Method::GET,
            V::HTTP_11,
            BodyLen::Exact(5),
        );
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nx-a: 1\r\ncontent-length: 5\r\nconnection: close\r\n\r\n"
        );
        assert_eq!((framing, keep), (Framing::Length(5), false));

        let (text, framing, keep) = encode(404, &[], Method::GET, V::HTTP_11, BodyLen::Unknown);
        assert_eq!(
            text,
            "HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        assert_eq!((framing, keep), (Framing::Chunked, true));

        // A streamed body without its own length: the upstream's, checked.
        let (text, framing, _) = encode(
            200,
            &[("content-length", "12")],
            Method::GET,
            V::HTTP_11,
            BodyLen::Unknown,
        );
        assert_eq!(text, "HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n");
        assert_eq!(framing, Framing::Length(12));
        let (_, framing, _) = encode(
            200,
            &[("content-length", "+12")],
            Method::GET,
            V::HTTP_11,
            BodyLen::Unknown,
        );
        assert_eq!(framing, Framing::Chunked, "a length that is not a number");

        let (text, framing, keep) = encode(200, &[], Method::GET, V::HTTP_10, BodyLen::Unknown);
        assert_eq!(text, "HTTP/1.0 200 OK\r\n\r\n");
        assert_eq!((framing, keep), (Framing::Close, false));
        let (text, _, keep) = encode(200, &[], Method::GET, V::HTTP_10, BodyLen::Exact(2));
        assert_eq!(
            text,
            "HTTP/1.0 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\n"
        );
        assert!(keep);

        let (text, _, _) = encode(
            426,
            &[("connection", "Upgrade"), ("upgrade", "TLS/1.2, HTTP/1.1")],
            Method::GET,
            V::HTTP_11,
            BodyLen::Empty,
        );
        assert_eq!(
            text,
            "HTTP/1.1 426 Upgrade Required\r\nupgrade: TLS/1.2, HTTP/1.1\r\ncontent-length: 0\r\nconnection: Upgrade\r\n\r\n"
        );
    }

    #[test]
    fn bodiless_answers() {
        let (text, framing, _) = encode(
            200,
            &[("content-length", "42")],
            Method::HEAD,
            V::HTTP_11,
            BodyLen::Empty,
        );
        assert_eq!(text, "HTTP/1.1 200 OK\r\ncontent-length: 42\r\n\r\n");
        assert_eq!(framing, Framing::None);
        let (text, _, _) = encode(200, &[], Method::HEAD, V::HTTP_11, BodyLen::Empty);
        assert_eq!(text, "HTTP/1.1 200 OK\r\n\r\n");
        for status in [204, 304] {
            let (text, framing, _) = encode(
                status,
                &[("content-length", "42")],
                Method::GET,
                V::HTTP_11,
                BodyLen::Exact(3),
            );
            assert!(!text.contains("content-length"), "{text}");
            assert_eq!(framing, Framing::None);
        }
        let (text, framing, keep) = encode(200, &[], Method::CONNECT, V::HTTP_11, BodyLen::Unknown);
        assert_eq!(text, "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n");
        assert_eq!((framing, keep), (Framing::None, false));
        let (text, framing, keep) = encode(101, &[], Method::GET, V::HTTP_11, BodyLen::Empty);
        assert!(text.starts_with("HTTP/1.1 500 "), "{text}");
        assert_eq!((framing, keep), (Framing::None, false));
    }
}
