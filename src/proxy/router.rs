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
//! path-less matchers are checked in rank order, stopping as soon as the
//! best candidate so far outranks them.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Method;
use regex::bytes::Regex;
use uuid::Uuid;

use super::normalize::normalize_path;
use crate::entities::{Route, Service};

/// Where a service's traffic goes, precomputed once per snapshot.
#[derive(Debug)]
pub struct Upstream {
    pub service: Arc<Service>,
    /// `host:port`: the key of the worker's connection pool.
    pub pool_key: Box<str>,
    pub host: Box<str>,
    pub port: u16,
    /// The `Host` header sent when `preserve_host` is false.
    pub host_header: HeaderValue,
    /// The service path, `/` when it has none.
    pub path: Box<[u8]>,
    /// Only `http` is forwarded; TLS upstreams are not supported yet.
    pub plain_http: bool,
    pub connect_timeout: Duration,
    pub write_timeout: Duration,
    pub read_timeout: Duration,
    pub retries: u32,
}

impl Upstream {
    fn new(service: &Arc<Service>) -> Option<Self> {
        let host = service.host.to_ascii_lowercase();
        let default_port = if service.protocol == "https" { 443 } else { 80 };
        // An IPv6 literal is bracketed in a Host header.
        let named = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let header = if service.port == default_port {
            named
        } else {
            format!("{named}:{}", service.port)
        };
        let host_header = HeaderValue::from_str(&header).ok()?;
        let ms = |v: u64| Duration::from_millis(v.max(1));
        Some(Upstream {
            service: service.clone(),
            pool_key: format!("{host}:{}", service.port).into_boxed_str(),
            port: service.port,
            host_header,
            host: host.into_boxed_str(),
            path: service.path.as_deref().unwrap_or("/").as_bytes().into(),
            plain_http: service.protocol == "http",
            connect_timeout: ms(service.connect_timeout),
            write_timeout: ms(service.write_timeout),
            read_timeout: ms(service.read_timeout),
            retries: service.retries.clamp(0, 32767) as u32,
        })
    }
}

/// A route as the matcher sees it.
#[derive(Debug)]
pub struct CompiledRoute {
    pub route: Arc<Route>,
    /// `None` for a route without service: matching it is a 503.
    pub upstream: Option<Arc<Upstream>>,
    /// Serves plain HTTP; otherwise an https-only (426) or grpc-only route.
    pub allows_http: bool,
    pub grpc_only: bool,
    pub v1: bool,
    methods: Vec<Method>,
    hosts: Vec<HostPattern>,
    headers: Vec<HeaderCondition>,
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

#[derive(Debug)]
struct Matcher {
    route: usize,
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

#[derive(Debug, Default)]
struct TrieNode {
    /// Sorted by byte.
    children: Vec<(u8, u32)>,
    /// Ranks of the matchers having this exact prefix, ascending.
    ranks: Vec<u32>,
}

#[derive(Debug, Default)]
struct PrefixTrie {
    nodes: Vec<TrieNode>,
}

impl PrefixTrie {
    fn insert(&mut self, key: &[u8], rank: u32) {
        if self.nodes.is_empty() {
            self.nodes.push(TrieNode::default());
        }
        let mut at = 0usize;
        for &b in key {
            let next = match self.nodes[at].children.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => self.nodes[at].children[i].1 as usize,
                Err(i) => {
                    let id = self.nodes.len();
                    self.nodes.push(TrieNode::default());
                    self.nodes[at].children.insert(i, (b, id as u32));
                    id
                }
            };
            at = next;
        }
        let ranks = &mut self.nodes[at].ranks;
        if let Err(i) = ranks.binary_search(&rank) {
            ranks.insert(i, rank);
        }
    }
}

/// The compiled, immutable router of one snapshot.
#[derive(Debug, Default)]
pub struct Router {
    routes: Vec<CompiledRoute>,
    /// Sorted by priority: index = rank.
    matchers: Vec<Matcher>,
    trie: PrefixTrie,
    /// Ranks of regex and path-less matchers, ascending.
    scanned: Vec<u32>,
}

/// Kong's priority order, highest first; ties broken by age then id.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct PriorityKey {
    weight: Reverse<u8>,
    plain_hosts: Reverse<bool>,
    headers: Reverse<usize>,
    regex: Reverse<bool>,
    regex_priority: Reverse<i64>,
    length: Reverse<usize>,
    created_at: i64,
    id: Uuid,
    /// Keeps one route's groups in a stable order.
    group: usize,
}

fn parse_host_pattern(host: &str) -> HostPattern {
    let lower = host.to_ascii_lowercase();
    let (name, port) = split_host_port(&lower);
    let name = name.to_string();
    if let Some(suffix) = name.strip_prefix('*') {
        HostPattern {
            kind: HostKind::Suffix,
            name: suffix.into(),
            port,
        }
    } else if let Some(prefix) = name.strip_suffix('*') {
        HostPattern {
            kind: HostKind::Prefix,
            name: prefix.into(),
            port,
        }
    } else {
        HostPattern {
            kind: HostKind::Exact,
            name: name.into(),
            port,
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

fn compile_header_condition(name: &str, values: &[String]) -> Option<HeaderCondition> {
    let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
    let mut plain = Vec::new();
    let mut regexes = Vec::new();
    for v in values {
        if let Some(re) = v.strip_prefix("~*") {
            match Regex::new(re) {
                Ok(r) => regexes.push(r),
                Err(e) => {
                    tracing::warn!(header = %name, error = %e, "ignoring invalid header regex")
                }
            }
        } else {
            plain.push(v.to_ascii_lowercase().into_bytes().into_boxed_slice());
        }
    }
    Some(HeaderCondition {
        name,
        plain,
        regexes,
    })
}

impl Router {
    /// Compiles the routes of one snapshot. Routes whose service is missing
    /// or disabled, and stream routes, are left out.
    pub fn build(services: &HashMap<Uuid, Arc<Service>>, routes: &[Arc<Route>]) -> Self {
        let upstreams: HashMap<Uuid, Arc<Upstream>> = services
            .iter()
            .filter_map(|(id, s)| match Upstream::new(s) {
                Some(u) => Some((*id, Arc::new(u))),
                None => {
                    tracing::warn!(service = %id, "service host is not a valid Host header; its routes are ignored");
                    None
                }
            })
            .collect();

        let mut compiled = Vec::new();
        // (key, matcher, plain prefixes)
        let mut pending: Vec<(PriorityKey, Matcher, Vec<Vec<u8>>)> = Vec::new();
        for route in routes {
            let upstream = match &route.service {
                None => None,
                Some(fk) => match (services.get(&fk.id), upstreams.get(&fk.id)) {
                    (Some(s), Some(u)) if s.enabled => Some(u.clone()),
                    _ => continue,
                },
            };
            let has = |p: &str| route.protocols.iter().any(|x| x == p);
            if !(has("http") || has("https") || has("grpc") || has("grpcs")) {
                continue;
            }
            let methods: Vec<Method> = route
                .methods
                .iter()
                .flatten()
                .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                .collect();
            let hosts: Vec<HostPattern> = route
                .hosts
                .iter()
                .flatten()
                .map(|h| parse_host_pattern(h))
                .collect();
            let headers: Vec<HeaderCondition> = route
                .headers
                .iter()
                .flatten()
                .filter(|(_, v)| !v.is_empty())
                .filter_map(|(k, v)| compile_header_condition(k, v))
                .collect();
            let plain_hosts =
                !hosts.is_empty() && hosts.iter().all(|h| matches!(h.kind, HostKind::Exact));
            let mut weight = 0u8;
            weight += u8::from(!methods.is_empty());
            weight += u8::from(!hosts.is_empty());
            weight += u8::from(!headers.is_empty());
            let paths: &[String] = route.paths.as_deref().unwrap_or_default();
            weight += u8::from(!paths.is_empty());

            let index = compiled.len();
            let key = |group: usize, regex: bool, length: usize| PriorityKey {
                weight: Reverse(weight),
                plain_hosts: Reverse(plain_hosts),
                headers: Reverse(headers.len()),
                regex: Reverse(regex),
                regex_priority: Reverse(if regex { route.regex_priority } else { 0 }),
                length: Reverse(length),
                created_at: route.created_at,
                id: route.id,
                group,
            };

            if paths.is_empty() {
                pending.push((
                    key(0, false, 0),
                    Matcher {
                        route: index,
                        paths: MatcherPaths::None,
                    },
                    Vec::new(),
                ));
            } else {
                let mut regexes = Vec::new();
                let mut by_len: std::collections::BTreeMap<usize, Vec<Vec<u8>>> =
                    Default::default();
                for p in paths {
                    if let Some(re) = p.strip_prefix('~') {
                        match Regex::new(&format!("^(?:{re})")) {
                            Ok(r) => regexes.push(r),
                            Err(e) => {
                                tracing::warn!(route = %route.id, error = %e, "ignoring invalid regex path")
                            }
                        }
                    } else {
                        let norm = normalize_path(p).into_owned();
                        by_len.entry(norm.len()).or_default().push(norm);
                    }
                }
                let mut group = 0;
                if !regexes.is_empty() {
                    pending.push((
                        key(group, true, 0),
                        Matcher {
                            route: index,
                            paths: MatcherPaths::Regex(regexes),
                        },
                        Vec::new(),
                    ));
                    group += 1;
                }
                for (len, prefixes) in by_len.into_iter().rev() {
                    pending.push((
                        key(group, false, len),
                        Matcher {
                            route: index,
                            paths: MatcherPaths::Prefix,
                        },
                        prefixes,
                    ));
                    group += 1;
                }
                if group == 0 {
                    // Every path was an invalid regex: the route cannot match.
                    continue;
                }
            }
            compiled.push(CompiledRoute {
                route: route.clone(),
                upstream,
                allows_http: has("http"),
                grpc_only: !has("http") && !has("https"),
                v1: route.path_handling == "v1",
                methods,
                hosts,
                headers,
            });
        }

        pending.sort_by(|a, b| a.0.cmp(&b.0));
        let mut router = Router {
            routes: compiled,
            ..Default::default()
        };
        for (rank, (_, matcher, prefixes)) in pending.into_iter().enumerate() {
            let rank = rank as u32;
            match matcher.paths {
                MatcherPaths::Prefix => {
                    for p in &prefixes {
                        router.trie.insert(p, rank);
                    }
                }
                _ => router.scanned.push(rank),
            }
            router.matchers.push(matcher);
        }
        router
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Finds the route for a request, or `None` (a 404).
    pub fn find(&self, req: &RequestView<'_>) -> Option<RouteMatch<'_>> {
        // (rank, matched_len)
        let mut best: Option<(u32, Option<usize>)> = None;
        let bound = |best: &Option<(u32, Option<usize>)>| best.map_or(u32::MAX, |b| b.0);

        if !self.trie.nodes.is_empty() {
            let mut at = 0usize;
            for (depth, b) in req.path.iter().enumerate() {
                let node = &self.trie.nodes[at];
                let Ok(i) = node.children.binary_search_by_key(b, |c| c.0) else {
                    break;
                };
                at = node.children[i].1 as usize;
                for &rank in &self.trie.nodes[at].ranks {
                    if rank >= bound(&best) {
                        break;
                    }
                    let m = &self.matchers[rank as usize];
                    if self.fields_match(&self.routes[m.route], req) {
                        best = Some((rank, Some(depth + 1)));
                        break;
                    }
                }
            }
        }

        let mut captures = None;
        for &rank in &self.scanned {
            if rank >= bound(&best) {
                break;
            }
            let m = &self.matchers[rank as usize];
            let route = &self.routes[m.route];
            match &m.paths {
                MatcherPaths::None => {
                    if self.fields_match(route, req) {
                        best = Some((rank, None));
                        break;
                    }
                }
                MatcherPaths::Regex(regexes) => {
                    if !self.fields_match(route, req) {
                        continue;
                    }
                    if let Some((len, caps)) = regexes.iter().find_map(|r| regex_match(r, req.path))
                    {
                        best = Some((rank, Some(len)));
                        captures = Some(caps);
                        break;
                    }
                }
                MatcherPaths::Prefix => {}
            }
        }

        let (rank, matched_len) = best?;
        let m = &self.matchers[rank as usize];
        let captures = if matches!(m.paths, MatcherPaths::Regex(_)) {
            captures
        } else {
            None
        };
        Some(RouteMatch {
            route: &self.routes[m.route],
            matched_len,
            captures,
        })
    }

    /// Methods, hosts and headers (paths are checked by the caller).
    fn fields_match(&self, route: &CompiledRoute, req: &RequestView<'_>) -> bool {
        if !route.methods.is_empty() && !route.methods.iter().any(|m| m == req.method) {
            return false;
        }
        if !route.hosts.is_empty() {
            let Some(host) = req.host else { return false };
            let (name, port) = split_host_port(host);
            let ok = route.hosts.iter().any(|p| {
                if p.port.is_some() && p.port != port {
                    return false;
                }
                match p.kind {
                    HostKind::Exact => name.eq_ignore_ascii_case(&p.name),
                    HostKind::Suffix => {
                        name.len() > p.name.len()
                            && name.as_bytes()[name.len() - p.name.len()..]
                                .eq_ignore_ascii_case(p.name.as_bytes())
                    }
                    HostKind::Prefix => {
                        name.len() > p.name.len()
                            && name.as_bytes()[..p.name.len()]
                                .eq_ignore_ascii_case(p.name.as_bytes())
                    }
                }
            });
            if !ok {
                return false;
            }
        }
        route.headers.iter().all(|cond| {
            req.headers.get_all(&cond.name).iter().any(|v| {
                let v = v.as_bytes();
                cond.plain.iter().any(|p| p.eq_ignore_ascii_case(v))
                    || cond.regexes.iter().any(|r| r.is_match(v))
            })
        })
    }
}

fn regex_match(re: &Regex, path: &[u8]) -> Option<(usize, UriCaptures)> {
    let caps = re.captures(path)?;
    let whole = caps.get(0)?;
    let text = |m: Option<regex::bytes::Match<'_>>| {
        m.map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
    };
    let mut out = UriCaptures::default();
    // Group 0 is the `(?:…)` wrapper's whole match, as Kong's [0].
    for (i, name) in re.capture_names().enumerate() {
        let value = text(caps.get(i));
        if let Some(name) = name {
            out.named.push((name.to_string(), value.clone()));
        }
        out.unnamed.push(value);
    }
    Some((whole.end(), out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::ForeignKey;
    use std::collections::BTreeMap;

    fn service(host: &str) -> Service {
        serde_json::from_value(serde_json::json!({
            "id": Uuid::new_v4(), "created_at": 1, "updated_at": 1, "name": null, "retries": 5,
            "protocol": "http", "host": host, "port": 80, "path": null, "connect_timeout": 60000,
            "write_timeout": 60000, "read_timeout": 60000, "tags": null, "client_certificate": null,
            "tls_verify": null, "tls_verify_depth": null, "ca_certificates": null, "enabled": true
        }))
        .unwrap()
    }

    struct R {
        name: &'static str,
        paths: Option<Vec<&'static str>>,
        hosts: Option<Vec<&'static str>>,
        methods: Option<Vec<&'static str>>,
        headers: Option<Vec<(&'static str, Vec<&'static str>)>>,
        regex_priority: i64,
        created_at: i64,
    }

    impl Default for R {
        fn default() -> Self {
            R {
                name: "",
                paths: None,
                hosts: None,
                methods: None,
                headers: None,
                regex_priority: 0,
                created_at: 100,
            }
        }
    }

    fn route(r: R, svc: Uuid) -> Route {
        let strs =
            |v: Option<Vec<&str>>| v.map(|v| v.into_iter().map(String::from).collect::<Vec<_>>());
        let headers = r.headers.map(|h| {
            h.into_iter()
                .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
                .collect::<BTreeMap<_, _>>()
        });
        Route {
            id: Uuid::new_v4(),
            created_at: r.created_at,
            updated_at: r.created_at,
            name: Some(r.name.into()),
            protocols: vec!["http".into(), "https".into()],
            methods: strs(r.methods),
            hosts: strs(r.hosts),
            paths: strs(r.paths),
            headers,
            https_redirect_status_code: 426,
            regex_priority: r.regex_priority,
            strip_path: true,
            path_handling: "v0".into(),
            preserve_host: false,
            request_buffering: true,
            response_buffering: true,
            snis: None,
            sources: None,
            destinations: None,
            tags: None,
            service: Some(ForeignKey { id: svc }),
        }
    }

    fn router(routes: Vec<R>) -> Router {
        let svc = Arc::new(service("upstream.test"));
        let id = svc.id;
        let services = HashMap::from([(id, svc)]);
        let routes: Vec<Arc<Route>> = routes.into_iter().map(|r| Arc::new(route(r, id))).collect();
        Router::build(&services, &routes)
    }

    fn find<'a>(
        r: &'a Router,
        method: &str,
        path: &str,
        host: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Option<&'a str> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let norm = normalize_path(path);
        let view = RequestView {
            method: &method,
            path: &norm,
            host,
            headers: &map,
        };
        r.find(&view)
            .map(|m| m.route.route.name.as_deref().unwrap())
    }

    #[test]
    fn longest_prefix_wins() {
        let r = router(vec![
            R {
                name: "root",
                paths: Some(vec!["/"]),
                ..Default::default()
            },
            R {
                name: "a",
                paths: Some(vec!["/a"]),
                ..Default::default()
            },
            R {
                name: "ab",
                paths: Some(vec!["/a/b"]),
                ..Default::default()
            },
        ]);
        assert_eq!(find(&r, "GET", "/a/b/c", None, &[]), Some("ab"));
        assert_eq!(find(&r, "GET", "/abc", None, &[]), Some("a"));
        assert_eq!(find(&r, "GET", "/x", None, &[]), Some("root"));
        assert_eq!(find(&r, "GET", "/a/./b", None, &[]), Some("ab"));
        assert_eq!(find(&r, "GET", "/%61/b", None, &[]), Some("ab"));
    }

    #[test]
    fn no_route_is_none() {
        let r = router(vec![R {
            name: "a",
            paths: Some(vec!["/a"]),
            ..Default::default()
        }]);
        assert_eq!(find(&r, "GET", "/b", None, &[]), None);
        assert_eq!(find(&r, "GET", "/", None, &[]), None);
    }

    #[test]
    fn regex_beats_plain_and_keeps_captures() {
        let r = router(vec![
            R {
                name: "plain",
                paths: Some(vec!["/users/123/profile"]),
                ..Default::default()
            },
            R {
                name: "re",
                paths: Some(vec![r"~/users/(?<id>\d+)/(\w+)"]),
                ..Default::default()
            },
        ]);
        assert_eq!(find(&r, "GET", "/users/123/profile", None, &[]), Some("re"));
        let map = HeaderMap::new();
        let view = RequestView {
            method: &Method::GET,
            path: b"/users/42/orders/x",
            host: None,
            headers: &map,
        };
        let m = r.find(&view).unwrap();
        assert_eq!(m.matched_len, Some("/users/42/orders".len()));
        let caps = m.captures.unwrap();
        assert_eq!(
            caps.unnamed,
            vec![
                Some("/users/42/orders".into()),
                Some("42".into()),
                Some("orders".into())
            ]
        );
        assert_eq!(caps.named, vec![("id".into(), Some("42".into()))]);
        assert_eq!(
            find(&r, "GET", "/x/users/1/a", None, &[]),
            None,
            "regex paths are anchored"
        );
    }

    #[test]
    fn regex_priority_then_age() {
        let r = router(vec![
            R {
                name: "old",
                paths: Some(vec![r"~/a/\d+"]),
                created_at: 1,
                ..Default::default()
            },
            R {
                name: "new",
                paths: Some(vec![r"~/a/\d+"]),
                created_at: 2,
                ..Default::default()
            },
            R {
                name: "low",
                paths: Some(vec![r"~/b/\d+"]),
                regex_priority: 0,
                created_at: 1,
                ..Default::default()
            },
            R {
                name: "high",
                paths: Some(vec![r"~/b/\d+"]),
                regex_priority: 5,
                created_at: 9,
                ..Default::default()
            },
        ]);
        assert_eq!(find(&r, "GET", "/a/1", None, &[]), Some("old"));
        assert_eq!(find(&r, "GET", "/b/1", None, &[]), Some("high"));
    }

    #[test]
    fn more_fields_first() {
        let r = router(vec![
            R {
                name: "path",
                paths: Some(vec!["/api/long/prefix"]),
                ..Default::default()
            },
            R {
                name: "host+path",
                paths: Some(vec!["/api"]),
                hosts: Some(vec!["example.com"]),
                ..Default::default()
            },
            R {
                name: "host+path+method",
                paths: Some(vec!["/api"]),
                hosts: Some(vec!["example.com"]),
                methods: Some(vec!["POST"]),
                ..Default::default()
            },
        ]);
        assert_eq!(
            find(&r, "GET", "/api/long/prefix", Some("example.com"), &[]),
            Some("host+path")
        );
        assert_eq!(
            find(&r, "POST", "/api/long/prefix", Some("example.com"), &[]),
            Some("host+path+method")
        );
        assert_eq!(
            find(&r, "GET", "/api/long/prefix", Some("other.com"), &[]),
            Some("path")
        );
    }

    #[test]
    fn hosts_wildcards_and_ports() {
        let r = router(vec![
            R {
                name: "wild-left",
                hosts: Some(vec!["*.example.com"]),
                ..Default::default()
            },
            R {
                name: "exact",
                hosts: Some(vec!["api.example.com"]),
                ..Default::default()
            },
            R {
                name: "wild-right",
                hosts: Some(vec!["example.*"]),
                ..Default::default()
            },
            R {
                name: "port",
                hosts: Some(vec!["ported.test:8080"]),
                ..Default::default()
            },
        ]);
        assert_eq!(
            find(&r, "GET", "/", Some("api.example.com"), &[]),
            Some("exact")
        );
        assert_eq!(
            find(&r, "GET", "/", Some("API.Example.com:8000"), &[]),
            Some("exact")
        );
        assert_eq!(
            find(&r, "GET", "/", Some("x.y.example.com"), &[]),
            Some("wild-left")
        );
        assert_eq!(
            find(&r, "GET", "/", Some("example.com"), &[]),
            Some("wild-right")
        );
        assert_eq!(find(&r, "GET", "/", Some("other.test"), &[]), None);
        assert_eq!(
            find(&r, "GET", "/", Some("example.org"), &[]),
            Some("wild-right")
        );
        assert_eq!(
            find(&r, "GET", "/", Some("ported.test:8080"), &[]),
            Some("port")
        );
        assert_eq!(find(&r, "GET", "/", Some("ported.test"), &[]), None);
        assert_eq!(find(&r, "GET", "/", None, &[]), None);
    }

    #[test]
    fn plain_hosts_beat_wildcards_at_equal_weight() {
        let r = router(vec![
            R {
                name: "wild",
                hosts: Some(vec!["*.example.com"]),
                paths: Some(vec!["/long/path"]),
                ..Default::default()
            },
            R {
                name: "plain",
                hosts: Some(vec!["a.example.com"]),
                paths: Some(vec!["/"]),
                ..Default::default()
            },
        ]);
        assert_eq!(
            find(&r, "GET", "/long/path", Some("a.example.com"), &[]),
            Some("plain")
        );
        assert_eq!(
            find(&r, "GET", "/long/path", Some("b.example.com"), &[]),
            Some("wild")
        );
    }

    #[test]
    fn headers_and_or_and_regex() {
        let r = router(vec![
            R {
                name: "plain",
                paths: Some(vec!["/"]),
                ..Default::default()
            },
            R {
                name: "one",
                paths: Some(vec!["/"]),
                headers: Some(vec![("x-version", vec!["v1", "V2"])]),
                ..Default::default()
            },
            R {
                name: "two",
                paths: Some(vec!["/"]),
                headers: Some(vec![
                    ("x-version", vec!["v1"]),
                    ("x-env", vec!["~*^prod-\\d+$"]),
                ]),
                ..Default::default()
            },
        ]);
        assert_eq!(
            find(&r, "GET", "/", None, &[("x-version", "v2")]),
            Some("one")
        );
        assert_eq!(
            find(
                &r,
                "GET",
                "/",
                None,
                &[("x-version", "v1"), ("x-env", "prod-7")]
            ),
            Some("two")
        );
        assert_eq!(
            find(
                &r,
                "GET",
                "/",
                None,
                &[("x-version", "v1"), ("x-env", "dev")]
            ),
            Some("one")
        );
        assert_eq!(
            find(&r, "GET", "/", None, &[("x-version", "v3")]),
            Some("plain")
        );
    }

    #[test]
    fn methods_filter() {
        let r = router(vec![R {
            name: "post",
            paths: Some(vec!["/p"]),
            methods: Some(vec!["POST"]),
            ..Default::default()
        }]);
        assert_eq!(find(&r, "POST", "/p", None, &[]), Some("post"));
        assert_eq!(find(&r, "GET", "/p", None, &[]), None);
    }

    #[test]
    fn older_route_wins_ties() {
        let r = router(vec![
            R {
                name: "new",
                paths: Some(vec!["/same"]),
                created_at: 5,
                ..Default::default()
            },
            R {
                name: "old",
                paths: Some(vec!["/same"]),
                created_at: 1,
                ..Default::default()
            },
        ]);
        assert_eq!(find(&r, "GET", "/same", None, &[]), Some("old"));
    }

    #[test]
    fn disabled_or_missing_services_hide_routes() {
        let mut off = service("off.test");
        off.enabled = false;
        let off = Arc::new(off);
        let services = HashMap::from([(off.id, off.clone())]);
        let routes = vec![
            Arc::new(route(
                R {
                    name: "disabled",
                    paths: Some(vec!["/"]),
                    ..Default::default()
                },
                off.id,
            )),
            Arc::new(route(
                R {
                    name: "dangling",
                    paths: Some(vec!["/"]),
                    ..Default::default()
                },
                Uuid::new_v4(),
            )),
        ];
        let r = Router::build(&services, &routes);
        assert!(r.is_empty());
        let mut orphan = route(
            R {
                name: "orphan",
                paths: Some(vec!["/"]),
                ..Default::default()
            },
            off.id,
        );
        orphan.service = None;
        let r = Router::build(&services, &[Arc::new(orphan)]);
        let map = HeaderMap::new();
        let view = RequestView {
            method: &Method::GET,
            path: b"/",
            host: None,
            headers: &map,
        };
        assert!(r.find(&view).unwrap().route.upstream.is_none());
    }

    #[test]
    fn many_prefix_routes_are_found_through_the_trie() {
        let names: Vec<&'static str> = (0..2000)
            .map(|i| &*Box::leak(format!("/svc{i}").into_boxed_str()))
            .collect();
        let routes = names
            .iter()
            .map(|p| R {
                name: p,
                paths: Some(vec![p]),
                ..Default::default()
            })
            .collect();
        let r = router(routes);
        assert_eq!(find(&r, "GET", "/svc1999/x", None, &[]), Some("/svc1999"));
        assert_eq!(find(&r, "GET", "/svc19/x", None, &[]), Some("/svc19"));
        assert!(r.scanned.is_empty());
    }
}
