//! Requests the HTTP/1 server refuses (a head it cannot read), as Kong
//! runs them: nginx sends its 400, 414 and 494 to Kong's
//! `/kong_error_handler` location (`error_page` in `nginx_kong.lua`),
//! whose empty rewrite and access blocks replace Kong's, and whose
//! header_filter, body_filter and log are the server's: Kong's, with the
//! global plugins (no plugin was collected, so `get_collected_iterator`
//! falls back to them). Here the global functions' header_filter,
//! body_filter and log run the same way on the gateway's answer
//! (`Functions::for_refused`); the server writes what comes out with its
//! own framing and closes the connection, whatever they set.
//!
//! A refused head is untrusted bytes. The functions see what nginx had
//! read of it there, checked: the method (the request line's first word,
//! when nginx would read it as one; else `GET`, the method nginx gives an
//! `error_page` redirect), and the target when the request line is whole
//! and valid within [`MAX_LINE`] (else none: `get_path_with_query()` is
//! '', as Kong's on a malformed line or a 414). No header field reaches
//! them (nginx hands Kong those it read before a bad one; none here).

use std::rc::Rc;
use std::time::Instant;

use http::{Method, Response, Uri, Version};

use super::body::ProxyBody;
use super::context::WorkerContext;
use super::errors::{error_response, ProxyError};
use super::forward::Matched;
use super::functions::Functions;
use super::headers::ConnInfo;
use super::pipeline::{Hooks, Session};
use super::server::parse::method_allowed;

/// The longest request line the functions may see (nginx's
/// `large_client_header_buffers` size, 8k in Kong: a longer line is a 414
/// there, without a target).
pub const MAX_LINE: usize = 8 * 1024;
/// The longest method read from a refused head.
const MAX_METHOD: usize = 32;

/// What the functions see of a refused request's line.
#[derive(Debug, PartialEq)]
pub struct Line {
    pub method: Method,
    pub target: Option<Uri>,
    pub version: Version,
}

impl Line {
    /// Reads the request line at the start of a refused head (`error` is
    /// how it was refused: a 414's target is never read).
    pub fn read(head: &[u8], error: ProxyError) -> Line {
        let head = &head[..head.len().min(MAX_LINE)];
        let end = head.iter().position(|&b| b == b'\n');
        let line = &head[..end.unwrap_or(head.len())];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut words = line.split(|&b| b == b' ');
        let method = words
            .next()
            .filter(|m| !m.is_empty() && m.len() <= MAX_METHOD && method_allowed(m))
            .and_then(|m| Method::from_bytes(m).ok());
        let target = words.next();
        let version = match words.next() {
            Some(b"HTTP/1.1") => Some(Version::HTTP_11),
            Some(b"HTTP/1.0") => Some(Version::HTTP_10),
            _ => None,
        };
        let whole =
            end.is_some() && method.is_some() && version.is_some() && words.next().is_none();
        let target = target
            .filter(|t| whole && error != ProxyError::TargetTooLong && visible(t))
            .and_then(|t| Uri::try_from(t).ok());
        Line {
            method: method.unwrap_or(Method::GET),
            target,
            version: version.unwrap_or(Version::HTTP_11),
        }
    }
}

/// A target of visible ASCII only (what `httparse` reads as one).
fn visible(t: &[u8]) -> bool {
    !t.is_empty() && t.iter().all(|&b| (0x21..0x7f).contains(&b))
}

/// Whether nginx sends this answer to Kong's error handler (400, 414, and
/// the 494 of a head too large, which lunagate answers 431).
fn to_error_handler(error: ProxyError) -> bool {
    matches!(
        error,
        ProxyError::BadRequest | ProxyError::TargetTooLong | ProxyError::HeadTooLarge
    )
}

/// The answer to a refused request once the global functions' late phases
/// ran on it, with the method and version it is framed for; `None` when
/// none has such a phase (or nginx would not run them): the server writes
/// its plain answer, and nothing else happens (the line is not read).
pub async fn respond(
    ctx: &Rc<WorkerContext>,
    conn: &ConnInfo,
    error: ProxyError,
    line: impl FnOnce() -> Line,
) -> Option<(Response<ProxyBody>, Method, Version)> {
    if !to_error_handler(error) {
        return None;
    }
    let snapshot = ctx.snapshot();
    let mut hooks = Functions::for_refused(snapshot.plugins_plan.for_route(None))?;
    let line = line();
    let answering = (line.method.clone(), line.version);
    let start = Instant::now();
    let request_id = ctx.request_ids.next();
    let matched = Matched {
        route: None,
        matched_len: None,
        upstream: None,
        balancers: &snapshot.balancers,
    };
    let mut parts = http::Request::new(()).into_parts().0;
    parts.method = line.method;
    parts.version = line.version;
    let no_target = line.target.is_none();
    if let Some(t) = line.target {
        parts.uri = t;
    }
    let mut s = Session::new(
        ctx, conn, request_id, start, &mut parts, None, matched, None,
    );
    hooks.refused_request(&mut s, no_target);
    let mut resp = error_response(error, None, &s.request_id, start);
    hooks.response(&mut s, &mut resp).await;
    hooks.body(&mut s, &mut resp);
    Some((resp, answering.0, answering.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(head: &str, error: ProxyError) -> (String, String, Version) {
        let l = Line::read(head.as_bytes(), error);
        let t = l.target.map(|t| t.to_string()).unwrap_or_default();
        (l.method.to_string(), t, l.version)
    }

    #[test]
    fn only_a_whole_valid_line_shows_its_target() {
        let bad = ProxyError::BadRequest;
        assert_eq!(
            line("POST /a?foo=bar HTTP/1.0\r\nX : y\r\n\r\n", bad),
            ("POST".into(), "/a?foo=bar".into(), Version::HTTP_10)
        );
        assert_eq!(
            line("invalid http request", bad),
            ("GET".into(), String::new(), Version::HTTP_11)
        );
        // A 414: the method, never the target.
        let long = format!("POST /?foo={} HTTP/1.1\r\n\r\n", "a".repeat(100));
        assert_eq!(line(&long, ProxyError::TargetTooLong).1, "");
        // A line not ended within MAX_LINE, bytes a target cannot hold, a
        // method nginx would not read, a fourth word.
        let unended = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_LINE));
        assert_eq!(
            line(&unended, bad),
            ("GET".into(), String::new(), Version::HTTP_11)
        );
        assert_eq!(line("GET /\x01 HTTP/1.1\r\n", bad).1, "");
        assert_eq!(line("get / HTTP/1.1\r\n", bad).0, "GET");
        assert_eq!(
            line(&format!("{} / HTTP/1.1\r\n", "A".repeat(33)), bad).0,
            "GET"
        );
        assert_eq!(line("GET / HTTP/1.1 x\r\n", bad).1, "");
    }
}
