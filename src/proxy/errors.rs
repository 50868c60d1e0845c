//! Kong's error responses (§4.6): the messages, the choice of JSON, text,
//! HTML or XML from `Accept`, and the headers every gateway-generated
//! response carries (§4.5: `Server`, `X-Kong-Response-Latency`,
//! `X-Kong-Request-Id`).

use std::time::Instant;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, ACCEPT, CONNECTION, CONTENT_TYPE, SERVER, UPGRADE};
use http::{Response, StatusCode};

use super::body::ProxyBody;
use super::client::SendError;
use super::headers::{
    add_response_headers, latency_value, PRODUCT, SERVER_VALUE, X_KONG_REQUEST_ID,
    X_KONG_RESPONSE_LATENCY,
};
use super::inbound::ClientBodyError;
use super::pool::ConnectError;

/// Why the gateway answers a request itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyError {
    NoRoute,
    NoService,
    HttpsRequired,
    Http2Required,
    NotGrpc,
    /// The upstream refused the connection (after retries), sent
    /// something that is not HTTP, or closed early: nginx's 502.
    BadGateway,
    /// The upstream's host name does not resolve (Kong's balancer: 503
    /// "name resolution failed", through `kong.response.error`).
    NameResolution,
    /// The Upstream the service names has no target of weight > 0 (Kong's
    /// 503, through `kong.response.error`).
    NoPeer,
    /// The gateway cannot take the connection (at the descriptor limit).
    Unavailable,
    /// Connect, write or read timeout.
    Timeout,
    /// The gateway refused to do what it was asked (a bug or a function's
    /// doing, logged).
    Internal,
    /// The client sent something malformed (a request body, a `Host`).
    BadRequest,
    /// The client was too slow sending its request head or body.
    RequestTimeout,
    /// The request head is larger than the gateway reads, or has too many
    /// fields.
    HeadTooLarge,
    /// The request target is longer than the gateway reads.
    TargetTooLong,
    /// The request body has a transfer coding the gateway does not apply
    /// (nginx's 501 for a `Transfer-Encoding` other than `chunked`).
    NotImplemented,
}

impl ProxyError {
    pub fn status(self) -> StatusCode {
        match self {
            ProxyError::NoRoute => StatusCode::NOT_FOUND,
            ProxyError::NoService
            | ProxyError::Unavailable
            | ProxyError::NameResolution
            | ProxyError::NoPeer => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::HttpsRequired | ProxyError::Http2Required => StatusCode::UPGRADE_REQUIRED,
            ProxyError::NotGrpc => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProxyError::BadGateway => StatusCode::BAD_GATEWAY,
            ProxyError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ProxyError::BadRequest => StatusCode::BAD_REQUEST,
            ProxyError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ProxyError::HeadTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ProxyError::TargetTooLong => StatusCode::URI_TOO_LONG,
            ProxyError::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            ProxyError::NoRoute => "no Route matched with those values",
            ProxyError::NoService => "no Service found with those values",
            ProxyError::HttpsRequired => "Please use HTTPS protocol",
            ProxyError::Http2Required => "Please use HTTP2 protocol",
            ProxyError::NotGrpc => "Non-gRPC request matched gRPC route",
            ProxyError::BadGateway => "An invalid response was received from the upstream server",
            ProxyError::NameResolution => "name resolution failed",
            ProxyError::NoPeer => "failure to get a peer from the ring-balancer",
            ProxyError::Unavailable => "The upstream server is currently unavailable",
            ProxyError::Timeout => "The upstream server is timing out",
            ProxyError::Internal => "An unexpected error occurred",
            ProxyError::BadRequest => "Bad request",
            ProxyError::RequestTimeout => "Request timeout",
            ProxyError::HeadTooLarge => "Request header fields too large",
            ProxyError::TargetTooLong => "Request-URI too large",
            ProxyError::NotImplemented => "Not implemented",
        }
    }

    /// Errors Kong raises through `kong.response.error` default to JSON;
    /// those produced by nginx (upstream failures) default to text/plain
    /// when the client sent neither `Accept` nor `Content-Type`.
    fn nginx_generated(self) -> bool {
        matches!(
            self,
            ProxyError::BadGateway
                | ProxyError::Unavailable
                | ProxyError::Timeout
                | ProxyError::BadRequest
                | ProxyError::RequestTimeout
                | ProxyError::HeadTooLarge
                | ProxyError::TargetTooLong
                | ProxyError::NotImplemented
        )
    }
}

impl From<&SendError> for ProxyError {
    fn from(e: &SendError) -> Self {
        match e {
            SendError::Timeout => ProxyError::Timeout,
            SendError::UnsafeHead => ProxyError::Internal,
            SendError::ClientBody(ClientBodyError::Timeout) => ProxyError::RequestTimeout,
            SendError::ClientBody(_) => ProxyError::BadRequest,
            _ => ProxyError::BadGateway,
        }
    }
}

impl From<&ConnectError> for ProxyError {
    fn from(e: &ConnectError) -> Self {
        match e {
            ConnectError::Timeout => ProxyError::Timeout,
            ConnectError::Resolve(_) => ProxyError::NameResolution,
            ConnectError::Failed(_) => ProxyError::BadGateway,
            ConnectError::Handshake(_) => ProxyError::BadGateway,
        }
    }
}

/// The error page formats Kong knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Text,
    Html,
    Xml,
}

fn format_of_media_type(media: &str) -> Option<Format> {
    let media = media.split(';').next().unwrap_or("").trim();
    let (kind, sub) = media.split_once('/')?;
    let kind = kind.trim();
    let sub = sub.trim();
    if sub == "*" {
        return match kind {
            "*" | "application" => Some(Format::Json),
            "text" => Some(Format::Text),
            _ => None,
        };
    }
    let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    if eq(kind, "application") && eq(sub, "json") {
        Some(Format::Json)
    } else if eq(kind, "text") && eq(sub, "html") {
        Some(Format::Html)
    } else if eq(kind, "application") && eq(sub, "xml") {
        Some(Format::Xml)
    } else if eq(kind, "text") && eq(sub, "plain") {
        Some(Format::Text)
    } else {
        None
    }
}

/// Kong's `get_response_type`: the highest-quality entry of `Accept` wins
/// (the first on ties); an unknown type means JSON.
pub fn negotiate(accept: &str) -> Format {
    let mut best = Format::Json;
    let mut best_q = 0.0f32;
    for entry in accept.split(',') {
        let mut parts = entry.split(';');
        let media = parts.next().unwrap_or("").trim();
        if !media.contains('/') {
            continue;
        }
        let mut q = 1.0f32;
        for param in parts {
            if let Some((k, v)) = param.split_once('=') {
                if k.trim().eq_ignore_ascii_case("q") {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
        }
        if q > best_q {
            best_q = q;
            best = format_of_media_type(media).unwrap_or(Format::Json);
        }
    }
    best
}

/// The request header the error format is chosen from: `Accept`, else
/// `Content-Type`.
pub fn negotiation_header(headers: &HeaderMap) -> Option<&HeaderValue> {
    headers.get(ACCEPT).or_else(|| headers.get(CONTENT_TYPE))
}

/// Picks the error format from the request's [`negotiation_header`].
pub fn format_for(error: ProxyError, accept: Option<&HeaderValue>) -> Format {
    match accept.and_then(|v| v.to_str().ok()) {
        Some(h) => negotiate(h),
        None if error.nginx_generated() => Format::Text,
        None => Format::Json,
    }
}

fn content_type(format: Format) -> &'static str {
    match format {
        Format::Json => "application/json; charset=utf-8",
        Format::Text => "text/plain; charset=utf-8",
        Format::Html => "text/html; charset=utf-8",
        Format::Xml => "application/xml; charset=utf-8",
    }
}

fn body_for(format: Format, message: &str, request_id: &str) -> (Bytes, &'static str) {
    let body = match format {
        Format::Json => format!(
            "{{\n  \"message\":{},\n  \"request_id\":\"{request_id}\"\n}}",
            serde_json::Value::from(message)
        ),
        Format::Text => format!("{message}\nrequest_id: {request_id}\n"),
        Format::Html => format!(
            "<!doctype html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n    <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n    <p>{message}.</p>\n    <p>request_id: {request_id}</p>\n  </body>\n</html>\n"
        ),
        Format::Xml => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error>\n  <message>{message}</message>\n  <requestid>{request_id}</requestid>\n</error>\n"
        ),
    };
    (Bytes::from(body), content_type(format))
}

/// Builds the gateway's own response for `error`.
pub fn error_response(
    error: ProxyError,
    accept: Option<&HeaderValue>,
    request_id: &HeaderValue,
    start: Instant,
) -> Response<ProxyBody> {
    let format = format_for(error, accept);
    let mut resp = page(error.status(), format, error.message(), request_id, start);
    if error == ProxyError::HttpsRequired {
        let h = resp.headers_mut();
        h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(UPGRADE, HeaderValue::from_static("TLS/1.2, HTTP/1.1"));
    }
    resp
}

/// The gateway's response for `error` once the request went to the
/// upstream (Kong's `KONG_PROXIED`): nginx's 502 or 504 page, with the
/// headers of a proxied response (`Via`, `X-Kong-Upstream-Latency`,
/// `X-Kong-Proxy-Latency`) instead of `X-Kong-Response-Latency`, as
/// Kong's `spec/02-integration/05-proxy/14-server_tokens_spec.lua`
/// checks. An answer that never reached the upstream (a name that does
/// not resolve, a client body that fails) is the gateway's own.
pub fn upstream_error_response(
    error: ProxyError,
    accept: Option<&HeaderValue>,
    request_id: &HeaderValue,
    start: Instant,
    latencies: (HeaderValue, HeaderValue),
) -> Response<ProxyBody> {
    let mut resp = error_response(error, accept, request_id, start);
    if matches!(error, ProxyError::BadGateway | ProxyError::Timeout) {
        let h = resp.headers_mut();
        h.remove(&X_KONG_RESPONSE_LATENCY);
        add_response_headers(h, latencies.0, latencies.1, request_id);
    }
    resp
}

/// Kong's answer to plain HTTP on an https-only route whose
/// `https_redirect_status_code` is a redirect: `Location:
/// https://<host><request URI>`, no body.
pub fn https_redirect(
    code: u16,
    host: &str,
    uri: &str,
    request_id: &HeaderValue,
    start: Instant,
) -> Response<ProxyBody> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::MOVED_PERMANENTLY);
    let mut resp = page(status, Format::Json, "", request_id, start);
    *resp.body_mut() = ProxyBody::full(Bytes::new());
    let h = resp.headers_mut();
    h.remove(CONTENT_TYPE);
    let location = format!("https://{}{uri}", host.to_ascii_lowercase());
    if let Ok(v) = HeaderValue::from_str(&location) {
        h.insert(http::header::LOCATION, v);
    }
    resp
}

/// What picks the format of Kong's error page for an exit (Kong's
/// `kong.response.error`): a Content-Type the function gave, else every
/// `Accept` value of the request (joined, as Kong joins them), else the
/// request's [`negotiation_header`].
pub fn error_format_header(exit_headers: &HeaderMap, request: &HeaderMap) -> Option<HeaderValue> {
    if let Some(ct) = exit_headers.get(CONTENT_TYPE) {
        return Some(ct.clone());
    }
    let mut accept = request.get_all(ACCEPT).iter();
    if let (Some(first), Some(_)) = (accept.next(), accept.next()) {
        let joined: Vec<&[u8]> = request
            .get_all(ACCEPT)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect();
        return HeaderValue::from_bytes(&joined.join(&b","[..]))
            .ok()
            .or(Some(first.clone()));
    }
    negotiation_header(request).cloned()
}

/// The Content-Type of [`plugin_error_response`]'s page for `accept`.
pub fn plugin_error_content_type(accept: Option<&HeaderValue>) -> &'static str {
    content_type(plugin_format(accept))
}

fn plugin_format(accept: Option<&HeaderValue>) -> Format {
    accept
        .and_then(|v| v.to_str().ok())
        .map_or(Format::Json, negotiate)
}

/// Kong's error page for a status and message raised by a plugin
/// (`kong.response.error`, `ngx.exit` on an error status, a failing
/// function): JSON unless `Accept` asks for another format.
pub fn plugin_error_response(
    status: StatusCode,
    message: &str,
    accept: Option<&HeaderValue>,
    request_id: &HeaderValue,
    start: Instant,
) -> Response<ProxyBody> {
    page(status, plugin_format(accept), message, request_id, start)
}

fn page(
    status: StatusCode,
    format: Format,
    message: &str,
    request_id: &HeaderValue,
    start: Instant,
) -> Response<ProxyBody> {
    let id = request_id.to_str().unwrap_or("");
    let (body, content_type) = body_for(format, message, id);
    let mut resp = Response::new(ProxyBody::full(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(SERVER, SERVER_VALUE.clone());
    h.insert(&X_KONG_RESPONSE_LATENCY, latency_value(start.elapsed()));
    h.insert(&X_KONG_REQUEST_ID, request_id.clone());
    resp
}

/// A whole HTTP/1.1 response for `error`, with `Connection: close`, for
/// the few answers written straight to a socket: a client that never
/// finished its request head, or one refused at the descriptor limit.
/// Plain text, as nginx-originated errors are without an `Accept`.
pub fn raw_response(error: ProxyError, request_id: &HeaderValue) -> Vec<u8> {
    let id = request_id.to_str().unwrap_or("");
    let (body, content_type) = body_for(Format::Text, error.message(), id);
    let status = error.status();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\nserver: {}\r\nx-kong-request-id: {id}\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len(),
        PRODUCT,
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(accept: Option<&str>, error: ProxyError) -> Format {
        let mut h = HeaderMap::new();
        if let Some(a) = accept {
            h.insert(ACCEPT, HeaderValue::from_str(a).unwrap());
        }
        format_for(error, negotiation_header(&h))
    }

    #[test]
    fn accept_negotiation() {
        assert_eq!(fmt(None, ProxyError::NoRoute), Format::Json);
        assert_eq!(fmt(None, ProxyError::Timeout), Format::Text);
        assert_eq!(fmt(Some("*/*"), ProxyError::Timeout), Format::Json);
        assert_eq!(fmt(Some("text/plain"), ProxyError::NoRoute), Format::Text);
        assert_eq!(fmt(Some("text/*"), ProxyError::NoRoute), Format::Text);
        assert_eq!(
            fmt(
                Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
                ProxyError::NoRoute
            ),
            Format::Html
        );
        assert_eq!(
            fmt(
                Some("application/xml;q=0.5, text/plain;q=0.9"),
                ProxyError::NoRoute
            ),
            Format::Text
        );
        assert_eq!(fmt(Some("image/png"), ProxyError::NoRoute), Format::Json);
    }

    #[test]
    fn json_body_shape() {
        let (body, ct) = body_for(Format::Json, ProxyError::NoRoute.message(), "abc");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["message"], "no Route matched with those values");
        assert_eq!(v["request_id"], "abc");
        assert!(ct.starts_with("application/json"));
    }
}
