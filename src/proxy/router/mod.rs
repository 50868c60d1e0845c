//! The router (§4.1): compiled once per configuration snapshot, immutable,
//! shared by every worker.
//!
//! Each route is split into *matchers*, one per path group (all its regex
//! paths, or its plain prefixes of one length), as Kong's
//! `traditional_compatible` flavour does. Matchers are sorted by Kong's
//! priority; a matcher's position in that order is its *rank*, and the
//! lowest-ranked matcher whose every field matches wins.
//!
//! Plain prefixes live in a byte trie: walking the request path visits only
//! the prefixes it actually has, so the cost grows with the path length and
//! the number of candidates, not with the number of routes. Regex and
//! path-less matchers are checked in priority order, stopping as soon as
//! the best candidate so far outranks them.
//!
//! The router is persistent: trie nodes are shared between snapshots, and
//! [`Router::updated`] copies only the nodes on the paths of the routes a
//! write changed (and the list of regex and path-less matchers). An Admin
//! API write therefore costs the same with 10 routes or 100,000; matchers
//! are compared by their priority key, not by a position that every
//! insertion would shift.

mod compile;
mod matching;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Method;
use regex::bytes::Regex;

use crate::entities::{Route, Service};
use compile::PriorityKey;
use uuid::Uuid;

/// Where a service's traffic goes, precomputed once per snapshot.
#[derive(Debug)]
pub struct Upstream {
    pub service: Arc<Service>,
    /// `host:port` (`https://host:port` for TLS): the key of the worker's
    /// connection pool, for connections whose SNI is the service host.
    pub pool_key: Box<str>,
    /// The TLS client configuration of an `https` service.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The SNI for the service host (none for an IP address literal).
    pub server_name: Option<rustls::pki_types::ServerName<'static>>,
    pub host: Box<str>,
    pub port: u16,
    /// The `Host` header sent when `preserve_host` is false.
    pub host_header: HeaderValue,
    /// The service path, `/` when it has none.
    pub path: Box<[u8]>,
    /// `http`, or `https` with usable TLS settings; other protocols (and
    /// broken settings) answer 502.
    pub usable: bool,
    pub connect_timeout: Duration,
    pub write_timeout: Duration,
    pub read_timeout: Duration,
    pub retries: u32,
    /// The same service over the other scheme, for
    /// `kong.service.request.set_scheme`: built on first use.
    pub flipped: std::sync::OnceLock<Option<Arc<Upstream>>>,
    /// What its TLS settings refer to (to build `flipped`).
    pub(super) material: Material,
}

/// The TLS material an upstream was built with.
pub struct Material(pub Arc<crate::tls::material::TlsMaterial>);

impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsMaterial")
    }
}

impl Upstream {
    /// This upstream over `https` or plain HTTP
    /// (`kong.service.request.set_scheme`): itself when it already is,
    /// else the service with the other protocol, on its own port (Kong
    /// changes only `$upstream_scheme`). `None` when that cannot be built.
    pub fn with_scheme(self: &Arc<Self>, https: bool) -> Option<Arc<Upstream>> {
        if (self.service.protocol == "https") == https {
            return Some(self.clone());
        }
        self.flipped
            .get_or_init(|| {
                let mut service = (*self.service).clone();
                service.protocol = if https { "https" } else { "http" }.into();
                Upstream::new(&Arc::new(service), &self.material.0).map(Arc::new)
            })
            .clone()
    }

    /// This upstream with a function's balancer settings
    /// (`kong.service.set_target`, `set_retries`, `set_timeouts`): another
    /// host and port (pooled apart, its SNI the new host's), retries and
    /// timeouts, for one request. `None` when the target cannot be a
    /// `Host` (the PDK checked it already).
    pub fn with_balancer(&self, b: &super::pipeline::Balancer) -> Option<Upstream> {
        let mut up = Upstream {
            service: self.service.clone(),
            pool_key: self.pool_key.clone(),
            tls: self.tls.clone(),
            server_name: self.server_name.clone(),
            host: self.host.clone(),
            port: self.port,
            host_header: self.host_header.clone(),
            path: self.path.clone(),
            usable: self.usable,
            connect_timeout: self.connect_timeout,
            write_timeout: self.write_timeout,
            read_timeout: self.read_timeout,
            retries: b.retries.unwrap_or(self.retries),
            flipped: std::sync::OnceLock::new(),
            material: Material(self.material.0.clone()),
        };
        if let Some((host, port)) = &b.target {
            let host = host.to_ascii_lowercase();
            // Pooled by the service's key (its TLS settings) and the
            // target's address.
            up.pool_key = format!("{}@{host}:{port}", self.pool_key).into_boxed_str();
            up.server_name = self
                .tls
                .as_ref()
                .and_then(|_| crate::tls::upstream::server_name(&host));
            up.host_header = host_header(&host, *port, self.tls.is_some())?;
            up.host = host.into_boxed_str();
            up.port = *port;
        }
        if let Some(t) = b.timeouts {
            up.connect_timeout = t.connect;
            up.write_timeout = t.write;
            up.read_timeout = t.read;
        }
        Some(up)
    }
}

/// The `Host` header for `host` (lowercase) on `port`: an IPv6 literal
/// bracketed, the port unless it is the scheme's default.
pub(super) fn host_header(host: &str, port: u16, https: bool) -> Option<HeaderValue> {
    let named = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let header = if port == if https { 443 } else { 80 } {
        named
    } else {
        format!("{named}:{port}")
    };
    HeaderValue::from_str(&header).ok()
}

/// A route as the matcher sees it.
#[derive(Debug)]
pub struct CompiledRoute {
    pub route: Arc<Route>,
    /// `None` for a route without service: matching it is a 503.
    pub upstream: Option<Arc<Upstream>>,
    /// Serves plain HTTP; otherwise an https-only (426) or grpc-only route.
    pub allows_http: bool,
    /// `https` is among its protocols: served on TLS.
    pub allows_https: bool,
    pub grpc_only: bool,
    pub v1: bool,
    methods: Vec<Method>,
    hosts: Vec<HostPattern>,
    headers: Vec<HeaderCondition>,
    /// Server names (maybe wildcards): on TLS, the SNI must be one.
    snis: Vec<HostPattern>,
}

#[derive(Debug)]
enum HostKind {
    Exact,
    /// `*.example.com`: the stored suffix is `.example.com`.
    Suffix,
    /// `example.*`: the stored prefix is `example.`.
    Prefix,
}

#[derive(Debug)]
struct HostPattern {
    kind: HostKind,
    name: Box<str>,
    port: Option<u16>,
}

#[derive(Debug)]
struct HeaderCondition {
    name: HeaderName,
    /// Lower-cased plain values.
    plain: Vec<Box<[u8]>>,
    regexes: Vec<Regex>,
}

#[derive(Debug)]
enum MatcherPaths {
    None,
    /// Plain prefixes (normalised), all of one length; found through the trie.
    Prefix,
    Regex(Vec<Regex>),
}

/// One path group of a route, with its place in Kong's priority order.
#[derive(Debug)]
struct Matcher {
    key: PriorityKey,
    route: Arc<CompiledRoute>,
    paths: MatcherPaths,
}

/// The request fields the router looks at.
pub struct RequestView<'a> {
    pub method: &'a Method,
    /// Normalised path, no query.
    pub path: &'a [u8],
    /// Host header (or URI authority), possibly with a port.
    pub host: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// The request came over TLS; `sni` is the server name it sent.
    pub tls: bool,
    pub sni: Option<&'a str>,
}

/// Regex captures for `kong.request.get_uri_captures()`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UriCaptures {
    /// Index 0 is the whole match.
    pub unnamed: Vec<Option<String>>,
    pub named: Vec<(String, Option<String>)>,
}

/// The outcome of routing one request.
#[derive(Debug)]
pub struct RouteMatch<'r> {
    pub route: &'r CompiledRoute,
    /// Length of the matched part of the normalised path: the plain prefix
    /// or the whole regex match; `None` for a route without paths.
    pub matched_len: Option<usize>,
    /// For `kong.request.get_uri_captures()` (serverless functions).
    #[allow(dead_code)]
    pub captures: Option<UriCaptures>,
}

/// A node of the prefix trie; nodes are shared by the routers of
/// successive snapshots and copied only on a change below them.
#[derive(Debug, Default, Clone)]
struct TrieNode {
    /// Sorted by byte.
    children: Vec<(u8, Arc<TrieNode>)>,
    /// The matchers having this exact prefix, by priority.
    matchers: Vec<Arc<Matcher>>,
}

/// The compiled, immutable router of one snapshot. Cloning it is cheap.
#[derive(Debug, Default, Clone)]
pub struct Router {
    trie: Arc<TrieNode>,
    /// Regex and path-less matchers, by priority.
    scanned: Arc<Vec<Arc<Matcher>>>,
}

/// Each service's [`Upstream`], rebuilt only when the service changes; kept
/// by whoever updates a router, across updates.
#[derive(Debug, Default)]
pub struct Upstreams {
    by_service: HashMap<Uuid, (Arc<Service>, Option<Arc<Upstream>>)>,
    /// What `https` services' TLS settings refer to.
    tls: Arc<crate::tls::material::TlsMaterial>,
}

impl Upstreams {
    /// An empty cache for services whose TLS settings refer to `tls`.
    pub fn with_tls(tls: Arc<crate::tls::material::TlsMaterial>) -> Self {
        Upstreams {
            by_service: HashMap::new(),
            tls,
        }
    }
}

/// Splits `host[:port]`, understanding `[v6]:port`.
pub fn split_host_port(host: &str) -> (&str, Option<u16>) {
    if host.starts_with('[') {
        if let Some(end) = host.find(']') {
            let port = host[end + 1..]
                .strip_prefix(':')
                .and_then(|p| p.parse().ok());
            return (&host[..=end], port);
        }
        return (host, None);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(port) => (h, Some(port)),
            Err(_) => (h, None),
        },
        _ => (host, None),
    }
}
