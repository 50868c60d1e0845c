//! Matching a request against a compiled [`Router`].

use regex::bytes::Regex;

use super::{
    split_host_port, CompiledRoute, HostKind, MatcherPaths, RequestView, RouteMatch, Router,
    UriCaptures,
};

impl Router {
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
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
