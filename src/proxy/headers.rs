//! Header rewriting on the way up (§4.4) and down (§4.5): hop-by-hop
//! headers removed, `X-Forwarded-*`, `X-Real-IP`, `Via`, the latency
//! headers and `Server`.
//!
//! Values that only depend on the connection (the client address) are built
//! once per connection in [`ConnInfo`]; values that depend on the service
//! once per snapshot (`router::Upstream`).

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Instant;

use http::header::{
    HeaderMap, HeaderName, HeaderValue, CONNECTION, PROXY_AUTHENTICATE, SERVER, TE, TRAILER,
    TRANSFER_ENCODING, UPGRADE, VIA,
};

pub const PRODUCT: &str = concat!("lunagate/", env!("CARGO_PKG_VERSION"));

pub static SERVER_VALUE: LazyLock<HeaderValue> =
    LazyLock::new(|| HeaderValue::from_static(PRODUCT));
static VIA_VALUE: LazyLock<HeaderValue> =
    LazyLock::new(|| HeaderValue::from_static(concat!("1.1 lunagate/", env!("CARGO_PKG_VERSION"))));

pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
pub static X_FORWARDED_PATH: HeaderName = HeaderName::from_static("x-forwarded-path");
pub static X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");
pub static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
pub static X_KONG_REQUEST_ID: HeaderName = HeaderName::from_static("x-kong-request-id");
pub static X_KONG_UPSTREAM_LATENCY: HeaderName = HeaderName::from_static("x-kong-upstream-latency");
pub static X_KONG_PROXY_LATENCY: HeaderName = HeaderName::from_static("x-kong-proxy-latency");
pub static X_KONG_RESPONSE_LATENCY: HeaderName = HeaderName::from_static("x-kong-response-latency");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
static HTTP: HeaderValue = HeaderValue::from_static("http");
static TRAILERS: HeaderValue = HeaderValue::from_static("trailers");

/// Per-connection values for the upstream headers.
#[derive(Debug)]
pub struct ConnInfo {
    /// For `kong.client.get_ip()`/`get_port()` and logs.
    #[allow(dead_code)]
    pub peer: SocketAddr,
    /// The client IP, for `X-Real-IP` and `X-Forwarded-For`.
    pub peer_ip: HeaderValue,
    /// The port the client connected to (`X-Forwarded-Port`).
    pub server_port: HeaderValue,
}

impl ConnInfo {
    pub fn new(peer: SocketAddr, server_port: u16) -> Self {
        let ip = match peer.ip() {
            std::net::IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map_or_else(|| v6.to_string(), |v4| v4.to_string()),
            v4 => v4.to_string(),
        };
        ConnInfo {
            peer,
            peer_ip: HeaderValue::from_str(&ip)
                .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
            server_port: HeaderValue::from(server_port),
        }
    }
}

/// Milliseconds since `start`, as a header value.
pub fn latency_ms(start: Instant) -> HeaderValue {
    HeaderValue::from(start.elapsed().as_millis() as u64)
}

/// Removes hop-by-hop headers: the fixed list and whatever `Connection`
/// names. `TE: trailers` survives on requests (§4.4).
pub fn strip_hop_by_hop(headers: &mut HeaderMap, is_request: bool) {
    if let Some(conn) = headers.get(CONNECTION) {
        // Rare: only clients that list extra headers pay for this.
        if let Ok(list) = conn.to_str() {
            let names: Vec<HeaderName> = list
                .split(',')
                .map(str::trim)
                .filter(|t| {
                    !t.eq_ignore_ascii_case("keep-alive") && !t.eq_ignore_ascii_case("close")
                })
                .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
                .collect();
            for n in names {
                headers.remove(n);
            }
        }
        headers.remove(CONNECTION);
    }
    headers.remove(&KEEP_ALIVE);
    headers.remove(&PROXY_CONNECTION);
    headers.remove(TRANSFER_ENCODING);
    headers.remove(UPGRADE);
    headers.remove(TRAILER);
    if is_request {
        let trailers = headers
            .get(TE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
            });
        if trailers {
            headers.insert(TE, TRAILERS.clone());
        } else {
            headers.remove(TE);
        }
    } else {
        headers.remove(PROXY_AUTHENTICATE);
    }
}

/// Appends `value` to an existing header as `old, value`, or sets it.
fn append_list(headers: &mut HeaderMap, name: &HeaderName, value: &HeaderValue) {
    match headers.get(name) {
        Some(old) if !old.is_empty() => {
            let mut joined = Vec::with_capacity(old.len() + 2 + value.len());
            joined.extend_from_slice(old.as_bytes());
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(value.as_bytes());
            if let Ok(v) = HeaderValue::from_bytes(&joined) {
                headers.insert(name, v);
            }
        }
        _ => {
            headers.insert(name, value.clone());
        }
    }
}

/// `X-Forwarded-Host`: the Host without port, lower-cased like nginx's
/// `$host`.
pub fn forwarded_host(host: Option<&str>) -> Option<HeaderValue> {
    let h = super::router::split_host_port(host?).0;
    if h.bytes().any(|b| b.is_ascii_uppercase()) {
        HeaderValue::from_str(&h.to_ascii_lowercase()).ok()
    } else {
        HeaderValue::from_str(h).ok()
    }
}

/// The forwarding headers of §4.4. `host` is [`forwarded_host`], `path`
/// the request path without query, `prefix` the stripped prefix when there
/// is one.
pub fn add_forwarding_headers(
    headers: &mut HeaderMap,
    conn: &ConnInfo,
    host: Option<HeaderValue>,
    path: Option<HeaderValue>,
    prefix: Option<&[u8]>,
    request_id: &HeaderValue,
) {
    // Clients' copies are not trusted (no trusted_ips yet): replace them.
    headers.insert(&X_REAL_IP, conn.peer_ip.clone());
    append_list(headers, &X_FORWARDED_FOR, &conn.peer_ip);
    headers.insert(&X_FORWARDED_PROTO, HTTP.clone());
    match host {
        Some(h) => {
            headers.insert(&X_FORWARDED_HOST, h);
        }
        None => {
            headers.remove(&X_FORWARDED_HOST);
        }
    }
    headers.insert(&X_FORWARDED_PORT, conn.server_port.clone());
    if let Some(v) = path {
        headers.insert(&X_FORWARDED_PATH, v);
    }
    match prefix {
        Some(p) if p != b"/" && !p.is_empty() => {
            let escaped = super::normalize::escape_path(p);
            if let Ok(v) = HeaderValue::from_str(&escaped) {
                headers.insert(&X_FORWARDED_PREFIX, v);
            }
        }
        _ => {
            headers.remove(&X_FORWARDED_PREFIX);
        }
    }
    append_list(headers, &VIA, &VIA_VALUE);
    headers.insert(&X_KONG_REQUEST_ID, request_id.clone());
}

/// The response headers of a proxied response (§4.5).
pub fn add_response_headers(
    headers: &mut HeaderMap,
    upstream_latency: HeaderValue,
    proxy_latency: HeaderValue,
    request_id: &HeaderValue,
) {
    append_list(headers, &VIA, &VIA_VALUE);
    if !headers.contains_key(SERVER) {
        headers.insert(SERVER, SERVER_VALUE.clone());
    }
    headers.insert(&X_KONG_UPSTREAM_LATENCY, upstream_latency);
    headers.insert(&X_KONG_PROXY_LATENCY, proxy_latency);
    headers.insert(&X_KONG_REQUEST_ID, request_id.clone());
}

/// A 32-hex-digit request id, like Kong's, from a per-worker generator.
pub struct RequestIds {
    state: std::cell::Cell<u64>,
    seed: u64,
}

impl RequestIds {
    pub fn new(worker: usize) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let seed = nanos
            ^ ((worker as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            ^ (std::process::id() as u64) << 32;
        RequestIds {
            state: std::cell::Cell::new(seed | 1),
            seed: seed.rotate_left(17),
        }
    }

    pub fn next(&self) -> HeaderValue {
        // xorshift64*: unique enough for log correlation, not a secret.
        let mut x = self.state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state.set(x);
        let hi = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let lo = self.seed.wrapping_add(x.rotate_left(29));
        let mut buf = [0u8; 32];
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, byte) in hi
            .to_be_bytes()
            .iter()
            .chain(lo.to_be_bytes().iter())
            .enumerate()
        {
            buf[i * 2] = HEX[(byte >> 4) as usize];
            buf[i * 2 + 1] = HEX[(byte & 15) as usize];
        }
        HeaderValue::from_bytes(&buf).unwrap_or_else(|_| HeaderValue::from_static("0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, X-Secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(TE, HeaderValue::from_static("gzip, trailers"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h, true);
        assert!(
            h.get("x-secret").is_none()
                && h.get(CONNECTION).is_none()
                && h.get("keep-alive").is_none()
        );
        assert_eq!(h.get(TE).unwrap(), "trailers");
        assert_eq!(h.get("x-kept").unwrap(), "1");
    }

    #[test]
    fn forwarding_headers() {
        let conn = ConnInfo::new("127.0.0.1:5555".parse().unwrap(), 8000);
        let mut h = HeaderMap::new();
        h.insert(&X_FORWARDED_FOR, HeaderValue::from_static("10.0.0.1"));
        h.insert(VIA, HeaderValue::from_static("1.0 other"));
        let id = HeaderValue::from_static("id");
        let host = forwarded_host(Some("Example.com:8000"));
        add_forwarding_headers(
            &mut h,
            &conn,
            host,
            Some(HeaderValue::from_static("/a/b")),
            Some(b"/a"),
            &id,
        );
        assert_eq!(h[&X_FORWARDED_FOR], "10.0.0.1, 127.0.0.1");
        assert_eq!(h[&X_REAL_IP], "127.0.0.1");
        assert_eq!(h[&X_FORWARDED_HOST], "example.com");
        assert_eq!(h[&X_FORWARDED_PORT], "8000");
        assert_eq!(h[&X_FORWARDED_PROTO], "http");
        assert_eq!(h[&X_FORWARDED_PATH], "/a/b");
        assert_eq!(h[&X_FORWARDED_PREFIX], "/a");
        assert_eq!(
            h[VIA],
            concat!("1.0 other, 1.1 lunagate/", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn request_ids_differ() {
        let ids = RequestIds::new(0);
        let a = ids.next();
        let b = ids.next();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
    }
}
