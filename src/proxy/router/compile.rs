//! Building a [`Router`] from a snapshot's services and routes: upstream
//! targets, host and header patterns, Kong's priority order, the prefix
//! trie.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::Method;
use regex::bytes::Regex;
use uuid::Uuid;

use super::{
    split_host_port, CompiledRoute, HeaderCondition, HostKind, HostPattern, Matcher, MatcherPaths,
    PrefixTrie, Router, TrieNode, Upstream,
};
use crate::entities::{Route, Service};
use crate::proxy::normalize::normalize_path;

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
}
