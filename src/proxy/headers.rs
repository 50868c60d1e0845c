//! Header rewriting on the way up (§4.4) and down (§4.5): hop-by-hop
//! headers removed, `X-Forwarded-*`, `X-Real-IP`, `Via`, the latency
//! headers and `Server`; and the header map a worker thread keeps from
//! one request for the next ([`recycle_map`]).
//!
//! Values that only depend on the connection (the client address) are built
//! once per connection in [`ConnInfo`]; values that depend on the service
//! once per snapshot (`router::Upstream`).

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    GetAll, HeaderMap, HeaderName, HeaderValue, InvalidHeaderName, ACCEPT, ACCEPT_ENCODING,
    ACCEPT_LANGUAGE, ACCEPT_RANGES, AUTHORIZATION, CACHE_CONTROL, CONNECTION, CONTENT_ENCODING,
    CONTENT_LENGTH, CONTENT_TYPE, COOKIE, DATE, ETAG, EXPECT, HOST, LAST_MODIFIED, LOCATION,
    ORIGIN, PROXY_AUTHENTICATE, REFERER, SERVER, SET_COOKIE, TRAILER, TRANSFER_ENCODING, UPGRADE,
    USER_AGENT, VARY, VIA,
};

use super::short_copy::put_bytes;

pub const PRODUCT: &str = concat!("lunagate/", env!("CARGO_PKG_VERSION"));

pub static SERVER_VALUE: LazyLock<HeaderValue> =
    LazyLock::new(|| HeaderValue::from_static(PRODUCT));
static VIA_VALUE: LazyLock<HeaderValue> =
    LazyLock::new(|| HeaderValue::from_static(concat!("1.1 lunagate/", env!("CARGO_PKG_VERSION"))));

pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub static X_KONG_REQUEST_ID: HeaderName = HeaderName::from_static("x-kong-request-id");
pub static X_KONG_UPSTREAM_LATENCY: HeaderName = HeaderName::from_static("x-kong-upstream-latency");
pub static X_KONG_PROXY_LATENCY: HeaderName = HeaderName::from_static("x-kong-proxy-latency");
pub static X_KONG_RESPONSE_LATENCY: HeaderName = HeaderName::from_static("x-kong-response-latency");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

thread_local! {
    /// A cleared header map with room, kept per worker thread: the last
    /// finished request's head map ([`recycle_map`]), for the next map the
    /// worker fills ([`spare_map`]: an upstream's response head, an exit's
    /// headers). Each proxied request gives one back and takes one, so a
    /// worker allocates no header map in the steady state.
    static SPARE_MAP: Cell<Option<HeaderMap>> = const { Cell::new(None) };
}

/// Keeps `map`, cleared, for the next [`spare_map`] on this thread. Its
/// values are dropped now (they may share a client's read buffer).
pub fn recycle_map(mut map: HeaderMap) {
    if map.capacity() == 0 {
        return;
    }
    SPARE_MAP.with(|spare| {
        // One is kept: with one there already (nothing took it), `map` is
        // dropped as it is, not cleared first.
        let kept = spare.take();
        if kept.is_none() {
            map.clear();
            spare.set(Some(map));
        } else {
            spare.set(kept);
        }
    });
}

/// An empty header map: the one [`recycle_map`] kept, if any.
pub fn spare_map() -> HeaderMap {
    SPARE_MAP.take().unwrap_or_default()
}

/// A header field's name as read off the wire: the names most heads carry
/// (a client's `Host`, `User-Agent`, `Accept`; an upstream's `Server`,
/// `Date`, `Content-Type`, `Content-Length`, `Connection` ...) are
/// recognised in a comparison or two, the others parsed by
/// `HeaderName::from_bytes`, which lower-cases every name into a buffer,
/// matches it against http's ~90 standard names, and allocates a custom
/// one (`X-Forwarded-For` is served from its static name here). Exactly
/// what `HeaderName::from_bytes` answers, for any bytes.
pub fn header_name(name: &[u8]) -> Result<HeaderName, InvalidHeaderName> {
    let Some(&first) = name.first() else {
        return HeaderName::from_bytes(name);
    };
    let (lower, known): (&str, HeaderName) = match (name.len(), first | 0x20) {
        (4, b'h') => ("host", HOST),
        (4, b'd') => ("date", DATE),
        (4, b'e') => ("etag", ETAG),
        (4, b'v') => ("vary", VARY),
        (6, b'a') => ("accept", ACCEPT),
        (6, b'c') => ("cookie", COOKIE),
        (6, b'e') => ("expect", EXPECT),
        (6, b'o') => ("origin", ORIGIN),
        (6, b's') => ("server", SERVER),
        (7, b'r') => ("referer", REFERER),
        (7, b'u') => ("upgrade", UPGRADE),
        (8, b'l') => ("location", LOCATION),
        (10, b'c') => ("connection", CONNECTION),
        (10, b'k') => ("keep-alive", KEEP_ALIVE.clone()),
        (10, b's') => ("set-cookie", SET_COOKIE),
        (10, b'u') => ("user-agent", USER_AGENT),
        (12, b'c') => ("content-type", CONTENT_TYPE),
        (13, b'a') if name[1] | 0x20 == b'u' => ("authorization", AUTHORIZATION),
        (13, b'a') => ("accept-ranges", ACCEPT_RANGES),
        (13, b'c') => ("cache-control", CACHE_CONTROL),
        (13, b'l') => ("last-modified", LAST_MODIFIED),
        (14, b'c') => ("content-length", CONTENT_LENGTH),
        (15, b'a') if name[7] | 0x20 == b'e' => ("accept-encoding", ACCEPT_ENCODING),
        (15, b'a') => ("accept-language", ACCEPT_LANGUAGE),
        (15, b'x') => ("x-forwarded-for", X_FORWARDED_FOR.clone()),
        (16, b'c') => ("content-encoding", CONTENT_ENCODING),
        (17, b't') => ("transfer-encoding", TRANSFER_ENCODING),
        (17, b'x') => ("x-forwarded-proto", X_FORWARDED_PROTO.clone()),
        _ => return recent_name(name),
    };
    if folded_eq(name, lower.as_bytes()) {
        Ok(known)
    } else {
        recent_name(name)
    }
}

/// How many other names [`recent_name`] keeps per worker thread, and
/// how long they may be.
const RECENT_NAMES: usize = 16;
const RECENT_NAME_LEN: usize = 32;

/// The names [`recent_name`] keeps.
struct RecentNames {
    names: Vec<HeaderName>,
    /// The slot the next name replaces once all are taken.
    next: usize,
}

thread_local! {
    static RECENT: RefCell<RecentNames> = const {
        RefCell::new(RecentNames { names: Vec::new(), next: 0 })
    };
}

/// A name [`header_name`] does not know (`X-Custom-Auth`, `X-Request-Id`
/// ...): `HeaderName::from_bytes` allocates each custom one, so the last
/// 16 names a worker thread parsed are kept (those of up to 32 lower-case
/// letters, digits and `-` once lower-cased, for which `folded_eq` is
/// exact), and one read again is a clone of the kept one (a count
/// increment, no allocation). A miss costs the parse as before, at most
/// 16 word-wise compares, and the shared count's allocation when the
/// name is kept. Out of line: `header_name`'s known names are the common
/// case.
#[inline(never)]
fn recent_name(name: &[u8]) -> Result<HeaderName, InvalidHeaderName> {
    if name.is_empty() || name.len() > RECENT_NAME_LEN {
        return HeaderName::from_bytes(name);
    }
    RECENT.with_borrow_mut(|recent| {
        if let Some(kept) = recent
            .names
            .iter()
            .find(|kept| folded_eq(name, kept.as_str().as_bytes()))
        {
            return Ok(kept.clone());
        }
        let parsed = HeaderName::from_bytes(name)?;
        let keep = parsed
            .as_str()
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if keep {
            if recent.names.len() < RECENT_NAMES {
                recent.names.push(parsed.clone());
            } else {
                recent.names[recent.next] = parsed.clone();
                recent.next = (recent.next + 1) % RECENT_NAMES;
            }
        }
        Ok(parsed)
    })
}

/// Whether `name` is `lower` (lower-case letters, digits and `-`, as
/// long) in any case, a word at a time: a byte's case bit (0x20) is
/// ignored only where `lower` has a letter (bit 0x40 set), so a byte
/// matches only the letter in either case, or exactly.
fn folded_eq(name: &[u8], lower: &[u8]) -> bool {
    #[inline]
    fn fold(a: u64, b: u64, letters: u64) -> bool {
        (a | ((b & letters) >> 1)) == b
    }
    /// Eight bytes from `i` (one load).
    #[inline]
    fn word(s: &[u8], i: usize) -> u64 {
        // Eight bytes always convert (no `copy_from_slice`, which a
        // non-LTO build may leave a call to `memcpy`).
        u64::from_le_bytes(s[i..i + 8].try_into().unwrap_or_default())
    }
    /// Four bytes from `i`.
    #[inline]
    fn half(s: &[u8], i: usize) -> u64 {
        u64::from(u32::from_le_bytes(
            s[i..i + 4].try_into().unwrap_or_default(),
        ))
    }
    let n = name.len();
    if n != lower.len() {
        return false;
    }
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if !fold(word(name, i), word(lower, i), 0x4040_4040_4040_4040) {
                return false;
            }
            i += 8;
        }
        return fold(word(name, n - 8), word(lower, n - 8), 0x4040_4040_4040_4040);
    }
    if n >= 4 {
        // Two words that overlap when shorter than eight.
        return fold(half(name, 0), half(lower, 0), 0x4040_4040)
            && fold(half(name, n - 4), half(lower, n - 4), 0x4040_4040);
    }
    name.eq_ignore_ascii_case(lower)
}

/// `--port-maps` (Kong's `port_maps`), set once at start-up.
static PORT_MAPS: std::sync::OnceLock<crate::config::PortMaps> = std::sync::OnceLock::new();

/// Records the node's `--port-maps`.
pub fn set_port_maps(maps: crate::config::PortMaps) {
    let _ = PORT_MAPS.set(maps);
}

/// Per-connection values for the upstream headers.
#[derive(Debug)]
pub struct ConnInfo {
    /// For `kong.client.get_ip()`/`get_port()` and logs.
    pub peer: SocketAddr,
    /// The client IP, for `X-Real-IP` and `X-Forwarded-For`.
    pub peer_ip: HeaderValue,
    /// The port the client connected to as it reached it: `port`, or the
    /// one `--port-maps` publishes for it (`X-Forwarded-Port`).
    pub server_port: HeaderValue,
    /// The same, as a number (Kong's `ngx.ctx.host_port`).
    pub host_port: u16,
    /// The port the gateway listens on (`kong.request.get_port()`).
    pub port: u16,
    /// Accepted on the TLS listener.
    pub tls: bool,
    /// The server name the TLS client sent (lower case).
    pub sni: Option<Box<str>>,
    /// The TLS session's protocol and cipher (`$ssl_protocol`,
    /// `$ssl_cipher`).
    pub tls_session: Option<(&'static str, &'static str)>,
    /// The client's certificate, when the certificate phase asked for one
    /// (`kong.client.tls`).
    pub client_cert: Option<std::sync::Arc<crate::tls::client_auth::ClientCert>>,
    /// The source the connection's PROXY protocol header named (nginx's
    /// `$proxy_protocol_addr`/`$proxy_protocol_port`).
    pub proxy_protocol: Option<SocketAddr>,
}

impl ConnInfo {
    pub fn new(peer: SocketAddr, server_port: u16, tls: bool) -> Self {
        let ip = match peer.ip() {
            std::net::IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map_or_else(|| v6.to_string(), |v4| v4.to_string()),
            v4 => v4.to_string(),
        };
        let host_port = PORT_MAPS
            .get()
            .map_or(server_port, |m| m.published(server_port));
        ConnInfo {
            peer,
            peer_ip: HeaderValue::from_str(&ip)
                .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
            server_port: HeaderValue::from(host_port),
            host_port,
            port: server_port,
            tls,
            sni: None,
            tls_session: None,
            client_cert: None,
            proxy_protocol: None,
        }
    }

    /// `http` or `https`: the scheme the client used.
    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }
}

/// Header values for 0..LATENCY_TABLE ms, shared (cloning one allocates
/// nothing).
const LATENCY_TABLE: usize = 1000;
static LATENCIES: LazyLock<Vec<HeaderValue>> =
    LazyLock::new(|| (0..LATENCY_TABLE as u64).map(HeaderValue::from).collect());

/// A latency in milliseconds, as a header value.
pub fn latency_value(elapsed: Duration) -> HeaderValue {
    let ms = elapsed.as_millis();
    match LATENCIES.get(ms as usize) {
        Some(v) if ms < LATENCY_TABLE as u128 => v.clone(),
        _ => HeaderValue::from(ms as u64),
    }
}

/// The hop-by-hop headers of a response (besides what `Connection`
/// lists), `Connection` first.
static HOP_BY_HOP: [&HeaderName; 7] = [
    &CONNECTION,
    &TRANSFER_ENCODING,
    &UPGRADE,
    &TRAILER,
    &PROXY_AUTHENTICATE,
    &KEEP_ALIVE,
    &PROXY_CONNECTION,
];

/// Removes hop-by-hop headers from an upstream response: the fixed list and
/// whatever `Connection` names. One pass over the response's few names
/// finds which are there, and only those are removed (a hashed lookup
/// each): nginx sends `Connection` with every response, seldom another.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let mut present = [false; HOP_BY_HOP.len()];
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|h| *h == name) {
            present[i] = true;
        }
    }
    if present[0] {
        // `Connection` goes, with the headers it lists (rare: most say
        // only `keep-alive` or `close`).
        if let Some(conn) = headers.remove(CONNECTION) {
            let v = conn.as_bytes();
            if !v.eq_ignore_ascii_case(b"keep-alive") && !v.eq_ignore_ascii_case(b"close") {
                remove_listed(headers, &conn);
            }
        }
    }
    for (name, there) in HOP_BY_HOP[1..].iter().zip(&present[1..]) {
        if *there {
            headers.remove(*name);
        }
    }
}

/// Removes the headers a `Connection` value lists.
fn remove_listed(headers: &mut HeaderMap, connection: &HeaderValue) {
    let Ok(list) = connection.to_str() else {
        return;
    };
    let names: Vec<HeaderName> = list
        .split(',')
        .map(str::trim)
        .filter(|t| !t.eq_ignore_ascii_case("keep-alive") && !t.eq_ignore_ascii_case("close"))
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    for n in names {
        headers.remove(n);
    }
}

/// The headers [`strip_framing`] removes (a static list: the names were
/// copied into an array on every call).
static FRAMING: [&HeaderName; 7] = [
    &CONTENT_LENGTH,
    &TRANSFER_ENCODING,
    &CONNECTION,
    &KEEP_ALIVE,
    &PROXY_CONNECTION,
    &UPGRADE,
    &TRAILER,
];

/// Removes the headers that frame a message or its connection
/// (`Content-Length`, `Transfer-Encoding`, `Connection` and the other
/// hop-by-hop ones) from headers a function set. The gateway owns them:
/// toward the client `server::encode` computes them from the real body, toward the
/// upstream `client::encode_head` does, as nginx and Kong do.
/// `dropped` is told each name that was there.
pub fn strip_framing(headers: &mut HeaderMap, mut dropped: impl FnMut(&HeaderName)) {
    // Usually none is there: one look at the map's few names, not seven
    // hashed removals.
    if !headers.keys().any(|name| FRAMING.contains(&name)) {
        return;
    }
    for name in FRAMING {
        if headers.remove(name).is_some() {
            dropped(name);
        }
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

/// Client headers never copied upstream: hop-by-hop ones (RFC 9110 §7.6.1;
/// `TE` included, trailers are not forwarded), `Expect` (the server answers
/// `100 Continue` itself and the body follows at once) and the ones the
/// gateway writes itself (§4.4: [`Forwarding`] writes a trusted client's
/// own values back).
pub fn skip_upstream(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "upgrade"
            | "te"
            | "trailer"
            | "expect"
            | "x-real-ip"
            | "x-forwarded-for"
            | "x-forwarded-proto"
            | "x-forwarded-host"
            | "x-forwarded-port"
            | "x-forwarded-path"
            | "x-forwarded-prefix"
            | "via"
            | "x-kong-request-id"
    )
}

/// The `Connection` header's list when it names headers other than
/// `keep-alive`/`close` (which are then hop-by-hop too).
pub fn connection_tokens(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(CONNECTION)?.to_str().ok()?;
    v.split(',')
        .map(str::trim)
        .any(|t| {
            !t.is_empty()
                && !t.eq_ignore_ascii_case("keep-alive")
                && !t.eq_ignore_ascii_case("close")
        })
        .then_some(v)
}

/// Whether `name` is one of the `Connection` header's tokens.
pub fn listed_in(tokens: &str, name: &HeaderName) -> bool {
    tokens
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(name.as_str()))
}

/// The forwarding headers of §4.4, written straight into an upstream
/// request head.
pub struct Forwarding<'a> {
    pub conn: &'a ConnInfo,
    /// The client a trusted peer named when the request arrived (nginx's
    /// realip `$remote_addr`, [`crate::trust::Trust::client`]); `None`:
    /// the peer.
    pub client_ip: Option<std::net::IpAddr>,
    /// The client's Host (maybe with a port).
    pub host: Option<&'a [u8]>,
    /// The request path as the client sent it, without query.
    pub path: &'a [u8],
    /// The stripped prefix, escaped, when `strip_path` removed one.
    pub prefix: Option<&'a [u8]>,
    pub request_id: &'a [u8],
}

fn put(buf: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    put_bytes(buf, name);
    buf.extend_from_slice(b": ");
    put_bytes(buf, value);
    buf.extend_from_slice(b"\r\n");
}

/// Writes `name: <client's values joined>, <ours>`.
fn put_appended(
    buf: &mut Vec<u8>,
    name: &HeaderName,
    theirs: GetAll<'_, HeaderValue>,
    ours: &[u8],
) {
    put_bytes(buf, name.as_str().as_bytes());
    buf.extend_from_slice(b": ");
    for v in theirs {
        if !v.is_empty() {
            put_bytes(buf, v.as_bytes());
            buf.extend_from_slice(b", ");
        }
    }
    put_bytes(buf, ours);
    buf.extend_from_slice(b"\r\n");
}

static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
pub static X_FORWARDED_PATH: HeaderName = HeaderName::from_static("x-forwarded-path");
pub static X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

impl Forwarding<'_> {
    /// Writes the headers with the node's trust settings.
    pub fn write(&self, buf: &mut Vec<u8>, client: &HeaderMap) {
        self.write_trusting(crate::trust::node(), buf, client);
    }

    /// As Kong's runloop: `X-Real-IP` is the client address
    /// ([`Forwarding::client_ip`]); `X-Forwarded-For` the client's
    /// list plus the peer (or the client address alone when it sent
    /// none); `X-Forwarded-Proto/Host/Port/Path/Prefix` the client's own
    /// (first line) when the peer is trusted and sent one, else the
    /// gateway's.
    fn write_trusting(&self, trust: &crate::trust::Trust, buf: &mut Vec<u8>, client: &HeaderMap) {
        let peer = self.conn.peer_ip.as_bytes();
        let forwarded = |name: &HeaderName| {
            trust
                .forwarded(self.conn.peer.ip(), client, name)
                .map(HeaderValue::as_bytes)
        };
        let real = self
            .client_ip
            .filter(|ip| *ip != crate::trust::canonical(self.conn.peer.ip()))
            .map(|ip| ip.to_string());
        let real = real.as_deref().map_or(peer, str::as_bytes);
        put(buf, X_REAL_IP.as_str().as_bytes(), real);
        // One look-up of the client's list, for both questions.
        let sent = client.get_all(&X_FORWARDED_FOR);
        let last = if sent.iter().next().is_some() {
            peer
        } else {
            real
        };
        put_appended(buf, &X_FORWARDED_FOR, sent, last);
        let proto = forwarded(&X_FORWARDED_PROTO);
        put(
            buf,
            b"x-forwarded-proto",
            proto.unwrap_or(self.conn.scheme().as_bytes()),
        );
        if let Some(host) = forwarded(&X_FORWARDED_HOST) {
            put(buf, b"x-forwarded-host", host);
        } else if let Some(host) = self.host {
            // nginx's `$host`: no port, lower-cased.
            let name = std::str::from_utf8(host)
                .map_or(host, |h| super::router::split_host_port(h).0.as_bytes());
            buf.extend_from_slice(b"x-forwarded-host: ");
            buf.extend(name.iter().map(u8::to_ascii_lowercase));
            buf.extend_from_slice(b"\r\n");
        }
        let port = forwarded(&X_FORWARDED_PORT);
        put(
            buf,
            b"x-forwarded-port",
            port.unwrap_or(self.conn.server_port.as_bytes()),
        );
        put(
            buf,
            b"x-forwarded-path",
            forwarded(&X_FORWARDED_PATH).unwrap_or(self.path),
        );
        let prefix =
            forwarded(&X_FORWARDED_PREFIX).or(self.prefix.filter(|p| !p.is_empty() && *p != b"/"));
        if let Some(prefix) = prefix {
            put(buf, b"x-forwarded-prefix", prefix);
        }
        put_appended(buf, &VIA, client.get_all(VIA), VIA_VALUE.as_bytes());
        put(buf, b"x-kong-request-id", self.request_id);
    }
}

/// The response headers of a proxied response (§4.5).
pub fn add_response_headers(
    headers: &mut HeaderMap,
    upstream_latency: HeaderValue,
    proxy_latency: HeaderValue,
    request_id: &HeaderValue,
) {
    // One look at the response's few names, not two hashed look-ups (an
    // upstream seldom sends `Via`; nginx sends `Server`).
    let (mut via, mut server) = (false, false);
    for name in headers.keys() {
        via |= name == VIA;
        server |= name == SERVER;
    }
    if via {
        append_list(headers, &VIA, &VIA_VALUE);
    } else {
        headers.insert(VIA, VIA_VALUE.clone());
    }
    if !server {
        headers.insert(SERVER, SERVER_VALUE.clone());
    }
    headers.insert(&X_KONG_UPSTREAM_LATENCY, upstream_latency);
    headers.insert(&X_KONG_PROXY_LATENCY, proxy_latency);
    headers.insert(&X_KONG_REQUEST_ID, request_id.clone());
}

/// 32-hex-digit request ids, like Kong's, from a per-worker generator.
/// Ids are generated in batches into one buffer and handed out as slices
/// of it: one allocation per [`ID_BATCH`] requests.
pub struct RequestIds {
    state: Cell<u64>,
    seed: u64,
    batch: RefCell<(Bytes, usize)>,
}

const ID_LEN: usize = 32;
const ID_BATCH: usize = 256;

impl RequestIds {
    pub fn new(worker: usize) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let seed = nanos
            ^ (worker as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ ((std::process::id() as u64) << 32);
        RequestIds {
            state: Cell::new(seed | 1),
            seed: seed.rotate_left(17),
            batch: RefCell::new((Bytes::new(), 0)),
        }
    }

    fn fill(&self) -> Bytes {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        // Written in place, a digit per slot (`put_u8` checked the room
        // before each of the 8,192 bytes: most of what an id cost).
        let mut buf = vec![0; ID_LEN * ID_BATCH];
        for id in buf.chunks_exact_mut(ID_LEN) {
            // xorshift64*: unique enough for log correlation, not a secret.
            let mut x = self.state.get();
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.state.set(x);
            let hi = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
            let lo = self.seed.wrapping_add(x.rotate_left(29));
            let bits = (u128::from(hi) << 64) | u128::from(lo);
            for (i, digit) in id.iter_mut().enumerate() {
                *digit = HEX[(bits >> (124 - 4 * i)) as usize & 15];
            }
        }
        Bytes::from(buf)
    }

    pub fn next(&self) -> HeaderValue {
        let mut batch = self.batch.borrow_mut();
        if batch.1 + ID_LEN > batch.0.len() {
            *batch = (self.fill(), 0);
        }
        let id = batch.0.slice(batch.1..batch.1 + ID_LEN);
        batch.1 += ID_LEN;
        HeaderValue::from_maybe_shared(id).unwrap_or_else(|_| HeaderValue::from_static("0"))
    }
}

/// Every header name in `from` replaces that name's values in `into`.
pub fn replace_headers(into: &mut http::HeaderMap, from: http::HeaderMap) {
    merge_headers(into, from, true);
}

/// Every header name in `from` that `into` lacks, with all its values.
pub fn add_missing_headers(into: &mut http::HeaderMap, from: http::HeaderMap) {
    merge_headers(into, from, false);
}

/// Each name of `from` with all its values into `into`: in place of
/// `into`'s values (`replace`), or only where `into` has none.
fn merge_headers(into: &mut http::HeaderMap, from: http::HeaderMap, replace: bool) {
    if from.is_empty() {
        // Usually: no function set any (consuming a map costs even then).
        return;
    }
    // A consumed map names each header at its first value (`None` after).
    let mut last = None;
    for (name, value) in from {
        match name {
            Some(name) => {
                let taken = replace || !into.contains_key(&name);
                if taken {
                    into.insert(name.clone(), value);
                }
                last = Some((name, taken));
            }
            None => {
                if let Some((name, true)) = &last {
                    into.append(name.clone(), value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names recognised without `HeaderName::from_bytes` are the
    /// names it answers, in any case, and a byte changed anywhere in them
    /// (to any of the 256) gives what it gives too.
    #[test]
    fn header_names_read_as_http_reads_them() {
        let known = [
            "host",
            "date",
            "etag",
            "vary",
            "accept",
            "cookie",
            "expect",
            "origin",
            "server",
            "referer",
            "upgrade",
            "location",
            "connection",
            "keep-alive",
            "set-cookie",
            "user-agent",
            "content-type",
            "authorization",
            "accept-ranges",
            "cache-control",
            "last-modified",
            "content-length",
            "accept-encoding",
            "accept-language",
            "x-forwarded-for",
            "content-encoding",
            "transfer-encoding",
            "x-forwarded-proto",
        ];
        let same = |bytes: &[u8]| {
            let ours = header_name(bytes).ok();
            assert_eq!(ours, HeaderName::from_bytes(bytes).ok(), "{bytes:?}");
            ours
        };
        for name in known {
            assert_eq!(same(name.as_bytes()).unwrap().as_str(), name);
            assert_eq!(
                same(name.to_ascii_uppercase().as_bytes()).unwrap().as_str(),
                name
            );
            let mixed: String = name
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            assert_eq!(same(mixed.as_bytes()).unwrap().as_str(), name);
            for at in 0..name.len() {
                for b in 0..=255u8 {
                    let mut bytes = name.as_bytes().to_vec();
                    bytes[at] = b;
                    same(&bytes);
                }
            }
            same(&name.as_bytes()[1..]);
            same(format!("{name}x").as_bytes());
        }
        for other in [
            "x-custom-auth",
            "hosT",
            "hostx",
            "",
            "a",
            "x-forwarded-fox",
            "\r",
        ] {
            same(other.as_bytes());
        }
    }

    /// A name kept by `recent_name` is given back only for the bytes
    /// `HeaderName::from_bytes` reads as that name: the names are kept,
    /// then read again in other cases, with each byte changed to any of
    /// the 256, and after more names than are kept pushed them out.
    #[test]
    fn recently_read_names_read_as_http_reads_them() {
        let same = |bytes: &[u8]| {
            let ours = header_name(bytes).ok();
            assert_eq!(ours, HeaderName::from_bytes(bytes).ok(), "{bytes:?}");
        };
        let names = [
            "x-custom-auth",
            "x-request-id",
            "x_under",
            "x~tilde",
            "x^caret",
            "x-z",
            "ab",
            "x-0123456789-abcdefghijklmnopqr",
            "x-0123456789-abcdefghijklmnopqrs",
            "x-0123456789-abcdefghijklmnopqrst",
        ];
        for _ in 0..2 {
            for name in names {
                same(name.as_bytes());
                same(name.to_ascii_uppercase().as_bytes());
                for at in 0..name.len() {
                    for b in 0..=255u8 {
                        let mut bytes = name.as_bytes().to_vec();
                        bytes[at] = b;
                        same(&bytes);
                    }
                }
            }
            for i in 0..2 * RECENT_NAMES {
                same(format!("x-pushed-{i}").as_bytes());
            }
        }
    }

    /// A kept map comes back empty with its room; one is kept at a time,
    /// and a map without room is not kept.
    #[test]
    fn a_recycled_map_comes_back_empty_with_its_room() {
        let mut h = HeaderMap::with_capacity(16);
        h.insert(HOST, HeaderValue::from_static("example.com"));
        h.append(VIA, HeaderValue::from_static("1.1 a"));
        h.append(VIA, HeaderValue::from_static("1.1 b"));
        let room = h.capacity();
        recycle_map(h);
        let mut other = HeaderMap::with_capacity(4);
        other.insert(HOST, HeaderValue::from_static("other.example.com"));
        recycle_map(other);
        let spare = spare_map();
        assert!(spare.is_empty());
        assert_eq!(spare.keys_len(), 0);
        assert_eq!(spare.capacity(), room);
        assert_eq!(spare_map().capacity(), 0);
        recycle_map(HeaderMap::new());
        assert_eq!(spare_map().capacity(), 0);
    }

    /// `Via` joins an upstream's (or is set), `Server` is set only when
    /// the upstream sent none, the `X-Kong-*` replace an upstream's.
    #[test]
    fn response_headers_are_added_as_kong_adds_them() {
        let ours = concat!("1.1 lunagate/", env!("CARGO_PKG_VERSION"));
        let add = |h: &mut HeaderMap| {
            let id = HeaderValue::from_static("id");
            let latency = || HeaderValue::from_static("1");
            add_response_headers(h, latency(), latency(), &id);
        };
        let mut h = HeaderMap::new();
        add(&mut h);
        assert_eq!(h[VIA], ours);
        assert_eq!(h[SERVER], PRODUCT);
        assert_eq!(h[&X_KONG_REQUEST_ID], "id");

        let mut h = HeaderMap::new();
        h.insert(VIA, HeaderValue::from_static("1.1 up"));
        h.insert(SERVER, HeaderValue::from_static("nginx"));
        h.insert(&X_KONG_REQUEST_ID, HeaderValue::from_static("theirs"));
        add(&mut h);
        assert_eq!(h[VIA], format!("1.1 up, {ours}").as_str());
        assert_eq!(h[SERVER], "nginx");
        assert_eq!(h.get_all(&X_KONG_REQUEST_ID).iter().count(), 1);
        assert_eq!(h[&X_KONG_REQUEST_ID], "id");
    }

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, X-Secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert!(
            h.get("x-secret").is_none()
                && h.get(CONNECTION).is_none()
                && h.get("keep-alive").is_none()
        );
        assert_eq!(h.get("x-kept").unwrap(), "1");
        // Each of the fixed list, with `Connection: close`; the rest stays.
        let mut h = HeaderMap::new();
        for name in HOP_BY_HOP {
            h.append(name, HeaderValue::from_static("chunked"));
        }
        h.insert(CONNECTION, HeaderValue::from_static("Close"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h.get("x-kept").unwrap(), "1");
    }

    #[test]
    fn forwarding_headers() {
        let conn = ConnInfo::new("127.0.0.1:5555".parse().unwrap(), 8000, false);
        let mut h = HeaderMap::new();
        h.insert(&X_FORWARDED_FOR, HeaderValue::from_static("10.0.0.1"));
        h.insert(VIA, HeaderValue::from_static("1.0 other"));
        let fwd = Forwarding {
            conn: &conn,
            client_ip: None,
            host: Some(b"Example.com:8000"),
            path: b"/a/b",
            prefix: Some(b"/a"),
            request_id: b"id",
        };
        let mut buf = Vec::new();
        fwd.write(&mut buf, &h);
        let text = String::from_utf8(buf).unwrap();
        for line in [
            "x-forwarded-for: 10.0.0.1, 127.0.0.1\r\n",
            "x-real-ip: 127.0.0.1\r\n",
            "x-forwarded-host: example.com\r\n",
            "x-forwarded-port: 8000\r\n",
            "x-forwarded-proto: http\r\n",
            "x-forwarded-path: /a/b\r\n",
            "x-forwarded-prefix: /a\r\n",
            concat!(
                "via: 1.0 other, 1.1 lunagate/",
                env!("CARGO_PKG_VERSION"),
                "\r\n"
            ),
            "x-kong-request-id: id\r\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from {text}");
        }
    }

    #[test]
    fn trusted_clients_forwarding_headers_pass() {
        let conn = ConnInfo::new("127.0.0.1:5555".parse().unwrap(), 8000, false);
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("x-real-ip", "10.0.0.7"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "Outer.example:8443"),
            ("x-forwarded-port", "8443"),
            ("x-forwarded-path", "/outer"),
            ("x-forwarded-prefix", "/pre"),
        ] {
            h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let mut fwd = Forwarding {
            conn: &conn,
            client_ip: Some([10, 0, 0, 7].into()),
            host: Some(b"inner"),
            path: b"/a/b",
            prefix: None,
            request_id: b"id",
        };
        let trusting = crate::trust::Trust {
            trusted_ips: crate::trust::parse_trusted_ips("127.0.0.1").unwrap(),
            ..Default::default()
        };
        let mut buf = Vec::new();
        fwd.write_trusting(&trusting, &mut buf, &h);
        let text = String::from_utf8(buf).unwrap();
        for line in [
            "x-real-ip: 10.0.0.7\r\n",
            // No client X-Forwarded-For: the client address alone.
            "x-forwarded-for: 10.0.0.7\r\n",
            "x-forwarded-proto: https\r\n",
            "x-forwarded-host: Outer.example:8443\r\n",
            "x-forwarded-port: 8443\r\n",
            "x-forwarded-path: /outer\r\n",
            "x-forwarded-prefix: /pre\r\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from {text}");
        }
        // The same client untrusted: the gateway's own values.
        fwd.client_ip = None;
        let mut buf = Vec::new();
        fwd.write_trusting(&crate::trust::Trust::default(), &mut buf, &h);
        let text = String::from_utf8(buf).unwrap();
        for line in [
            "x-real-ip: 127.0.0.1\r\n",
            "x-forwarded-for: 127.0.0.1\r\n",
            "x-forwarded-proto: http\r\n",
            "x-forwarded-host: inner\r\n",
            "x-forwarded-port: 8000\r\n",
            "x-forwarded-path: /a/b\r\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from {text}");
        }
        assert!(!text.contains("x-forwarded-prefix"), "{text}");
    }

    #[test]
    fn connection_listed_headers_are_hop_by_hop() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, X-Secret"));
        let tokens = connection_tokens(&h).unwrap();
        assert!(listed_in(tokens, &HeaderName::from_static("x-secret")));
        assert!(!listed_in(tokens, &HeaderName::from_static("x-other")));
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive"));
        assert!(connection_tokens(&h).is_none());
        assert!(skip_upstream(&HeaderName::from_static("x-forwarded-for")));
        assert!(!skip_upstream(&HeaderName::from_static("x-custom")));
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
