//! Building a [`Router`] from a snapshot's services and routes, and the
//! next router from the routes a write changed: upstream targets, host and
//! header patterns, Kong's priority order, the prefix trie.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderName;
use http::Method;
use regex::bytes::Regex;
use uuid::Uuid;

use super::{
    split_host_port, CompiledRoute, HeaderCondition, HostKind, HostPattern, Matcher, MatcherPaths,
    Router, TrieNode, Upstream, Upstreams,
};
use crate::entities::{Route, Service};
use crate::proxy::normalize::normalize_path;
use crate::tls::material::TlsMaterial;
use crate::tls::upstream;

impl Upstream {
    pub(super) fn new(service: &Arc<Service>, material: &Arc<TlsMaterial>) -> Option<Self> {
        let host = service.host.to_ascii_lowercase();
        let host_header = super::host_header(&host, service.port, service.protocol == "https")?;
        let ms = |v: u64| Duration::from_millis(v.max(1));
        let (usable, tls, settings) = match service.protocol.as_str() {
            "http" => (true, None, String::new()),
            "https" => match upstream::client_config(service, material) {
                Ok((config, settings)) => (true, Some(config), format!("|{settings}")),
                Err(e) => {
                    tracing::error!(service = %service.id, "TLS settings unusable: {e}");
                    (false, None, String::new())
                }
            },
            _ => (false, None, String::new()),
        };
        let scheme = if tls.is_some() { "https://" } else { "" };
        Some(Upstream {
            service: service.clone(),
            pool_key: format!("{scheme}{host}:{}{settings}", service.port).into_boxed_str(),
            server_name: tls.as_ref().and_then(|_| upstream::server_name(&host)),
            tls,
            port: service.port,
            host_header,
            host: host.into_boxed_str(),
            path: service.path.as_deref().unwrap_or("/").as_bytes().into(),
            usable,
            connect_timeout: ms(service.connect_timeout),
            write_timeout: ms(service.write_timeout),
            read_timeout: ms(service.read_timeout),
            retries: service.retries.clamp(0, 32767) as u32,
            flipped: std::sync::OnceLock::new(),
            material: super::Material(material.clone()),
        })
    }
}

/// Kong's priority order, highest first (smallest key); ties broken by age
/// then id, so no two matchers have the same key.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct PriorityKey {
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

impl Upstreams {
    /// The upstream of `service`, built once per version of the service;
    /// `None` when its host cannot be a Host header.
    fn get(&mut self, service: &Arc<Service>) -> Option<Arc<Upstream>> {
        if let Some((known, upstream)) = self.by_service.get(&service.id) {
            if Arc::ptr_eq(known, service) {
                return upstream.clone();
            }
        }
        let upstream = Upstream::new(service, &self.tls).map(Arc::new);
        if upstream.is_none() {
            tracing::warn!(service = %service.id, "service host is not a valid Host header; its routes are ignored");
        }
        self.by_service
            .insert(service.id, (service.clone(), upstream.clone()));
        upstream
    }

    /// Forgets the services that are gone.
    pub fn retain(&mut self, services: &HashMap<Uuid, Arc<Service>>) {
        self.by_service.retain(|id, _| services.contains_key(id));
    }
}

/// A route's path groups, each with its priority and, for plain prefixes,
/// the normalised prefixes the trie files it under.
type Groups = Vec<(PriorityKey, MatcherPaths, Vec<Vec<u8>>)>;

/// Compiles one route, or `None` when it cannot be routed to (its service
/// is missing or disabled, it is a stream route, or all its paths are
/// invalid regexes).
fn compile_route(
    route: &Arc<Route>,
    services: &HashMap<Uuid, Arc<Service>>,
    upstreams: &mut Upstreams,
) -> Option<(Arc<CompiledRoute>, Groups)> {
    let upstream = match &route.service {
        None => None,
        Some(fk) => match services.get(&fk.id) {
            Some(s) if s.enabled => Some(upstreams.get(s)?),
            _ => return None,
        },
    };
    let has = |p: &str| route.protocols.iter().any(|x| x == p);
    if !(has("http") || has("https") || has("grpc") || has("grpcs")) {
        return None;
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
    // Kong's route `snis`: the last dot of a name does not count.
    let snis: Vec<HostPattern> = route
        .snis
        .iter()
        .flatten()
        .map(|s| parse_host_pattern(s.strip_suffix('.').unwrap_or(s)))
        .collect();
    let plain_hosts = !hosts.is_empty() && hosts.iter().all(|h| matches!(h.kind, HostKind::Exact));
    let mut weight = 0u8;
    weight += u8::from(!methods.is_empty());
    weight += u8::from(!hosts.is_empty());
    weight += u8::from(!headers.is_empty());
    weight += u8::from(!snis.is_empty());
    let paths: &[String] = route.paths.as_deref().unwrap_or_default();
    weight += u8::from(!paths.is_empty());

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
    let mut groups: Groups = Vec::new();
    if paths.is_empty() {
        groups.push((key(0, false, 0), MatcherPaths::None, Vec::new()));
    } else {
        let mut regexes = Vec::new();
        for p in paths {
            if let Some(re) = p.strip_prefix('~') {
                match Regex::new(&format!("^(?:{re})")) {
                    Ok(r) => regexes.push(r),
                    Err(e) => {
                        tracing::warn!(route = %route.id, error = %e, "ignoring invalid regex path")
                    }
                }
            }
        }
        if !regexes.is_empty() {
            groups.push((key(0, true, 0), MatcherPaths::Regex(regexes), Vec::new()));
        }
        for (len, prefixes) in plain_prefixes(route).into_iter().rev() {
            let group = groups.len();
            groups.push((key(group, false, len), MatcherPaths::Prefix, prefixes));
        }
        if groups.is_empty() {
            // Every path was an invalid regex: the route cannot match.
            return None;
        }
    }
    let compiled = CompiledRoute {
        route: route.clone(),
        upstream,
        allows_http: has("http"),
        allows_https: has("https"),
        grpc_only: !has("http") && !has("https"),
        v1: route.path_handling == "v1",
        methods,
        hosts,
        headers,
        snis,
    };
    Some((Arc::new(compiled), groups))
}

/// A route's plain paths, normalised, grouped by length.
fn plain_prefixes(route: &Route) -> BTreeMap<usize, Vec<Vec<u8>>> {
    let mut by_len: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
    for p in route.paths.iter().flatten().filter(|p| !p.starts_with('~')) {
        let norm = normalize_path(p).into_owned();
        by_len.entry(norm.len()).or_default().push(norm);
    }
    by_len
}

impl TrieNode {
    /// Files `matcher` under `prefix`, copying the shared nodes on the way.
    fn insert(root: &mut Arc<TrieNode>, prefix: &[u8], matcher: &Arc<Matcher>) {
        let mut node = root;
        for &b in prefix {
            let n = Arc::make_mut(node);
            let i = match n.children.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => i,
                Err(i) => {
                    n.children.insert(i, (b, Arc::default()));
                    i
                }
            };
            node = &mut n.children[i].1;
        }
        let matchers = &mut Arc::make_mut(node).matchers;
        let at = matchers.partition_point(|m| m.key < matcher.key);
        matchers.insert(at, matcher.clone());
    }

    /// Takes the matchers of route `id` out of the node at `prefix`, and
    /// the nodes left empty with them. Iterative: prefixes can be long.
    fn remove(root: &mut Arc<TrieNode>, prefix: &[u8], id: Uuid) {
        // Read-only first: is there anything to remove, and from which
        // depth down does the path hold nothing else?
        let mut path: Vec<&TrieNode> = vec![root];
        for &b in prefix {
            let node = path[path.len() - 1];
            match node.children.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => path.push(&node.children[i].1),
                Err(_) => return,
            }
        }
        let leaf = path[prefix.len()];
        if !leaf.matchers.iter().any(|m| m.route.route.id == id) {
            return;
        }
        let mut empty_from = None;
        if leaf.children.is_empty() && leaf.matchers.iter().all(|m| m.route.route.id == id) {
            empty_from = Some(prefix.len());
            for depth in (1..prefix.len()).rev() {
                let n = path[depth];
                if n.matchers.is_empty() && n.children.len() == 1 {
                    empty_from = Some(depth);
                } else {
                    break;
                }
            }
        }
        let mut node = root;
        let stop = empty_from.map_or(prefix.len(), |d| d.saturating_sub(1));
        for &b in &prefix[..stop] {
            let n = Arc::make_mut(node);
            let Ok(i) = n.children.binary_search_by_key(&b, |c| c.0) else {
                return;
            };
            node = &mut n.children[i].1;
        }
        let n = Arc::make_mut(node);
        match empty_from {
            Some(depth) if depth > 0 => {
                let b = prefix[depth - 1];
                n.children.retain(|c| c.0 != b);
            }
            _ => n.matchers.retain(|m| m.route.route.id != id),
        }
    }
}

impl Router {
    /// Compiles the routes of one snapshot. Routes whose service is missing
    /// or disabled, and stream routes, are left out.
    pub fn build(services: &HashMap<Uuid, Arc<Service>>, routes: &[Arc<Route>]) -> Self {
        Router::default().updated(services, &mut Upstreams::default(), &[], routes)
    }

    /// The next router: this one without the `removed` routes (the
    /// versions this router was given), with the `added` ones. A route that
    /// changed is in both; so are the routes of a service that changed.
    /// Only the trie nodes on their paths are copied.
    pub fn updated(
        &self,
        services: &HashMap<Uuid, Arc<Service>>,
        upstreams: &mut Upstreams,
        removed: &[Arc<Route>],
        added: &[Arc<Route>],
    ) -> Router {
        let mut next = self.clone();
        let mut scanned_gone = Vec::new();
        for route in removed {
            for prefixes in plain_prefixes(route).values() {
                for p in prefixes {
                    TrieNode::remove(&mut next.trie, p, route.id);
                }
            }
            scanned_gone.push(route.id);
        }
        if !scanned_gone.is_empty()
            && next
                .scanned
                .iter()
                .any(|m| scanned_gone.contains(&m.route.route.id))
        {
            Arc::make_mut(&mut next.scanned).retain(|m| !scanned_gone.contains(&m.route.route.id));
        }
        for route in added {
            let Some((compiled, groups)) = compile_route(route, services, upstreams) else {
                continue;
            };
            for (key, paths, prefixes) in groups {
                let prefix_group = matches!(paths, MatcherPaths::Prefix);
                let matcher = Arc::new(Matcher {
                    key,
                    route: compiled.clone(),
                    paths,
                });
                if prefix_group {
                    for p in &prefixes {
                        TrieNode::insert(&mut next.trie, p, &matcher);
                    }
                } else {
                    let scanned = Arc::make_mut(&mut next.scanned);
                    let at = scanned.partition_point(|m| m.key < matcher.key);
                    scanned.insert(at, matcher);
                }
            }
        }
        next
    }
}
