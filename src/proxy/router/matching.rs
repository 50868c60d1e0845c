//! Matching a request against a compiled [`Router`].

use regex::bytes::Regex;

use super::{
    split_host_port, CompiledRoute, HostKind, Matcher, MatcherPaths, RequestView, RouteMatch,
    Router, UriCaptures,
};

impl Router {
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.trie.children.is_empty() && self.scanned.is_empty()
    }

    /// Finds the route for a request, or `None` (a 404).
    pub fn find(&self, req: &RequestView<'_>) -> Option<RouteMatch<'_>> {
        let mut best: Option<(&Matcher, Option<usize>)> = None;
        // Whether `m` outranks the best candidate so far.
        let beats = |m: &Matcher, best: &Option<(&Matcher, Option<usize>)>| {
            best.is_none_or(|(b, _)| m.key < b.key)
        };

        let mut node = &*self.trie;
        for (depth, b) in req.path.iter().enumerate() {
            let Ok(i) = node.children.binary_search_by_key(b, |c| c.0) else {
                break;
            };
            node = &node.children[i].1;
            for m in &node.matchers {
                if !beats(m, &best) {
                    break;
                }
                if self.fields_match(&m.route, req) {
                    best = Some((m, Some(depth + 1)));
                    break;
                }
            }
        }

        let mut captures = None;
        for m in self.scanned.iter() {
            if !beats(m, &best) {
                break;
            }
            match &m.paths {
                MatcherPaths::None => {
                    if !req.tls && snis_only(&m.route) {
                        continue; // a fallback, below
                    }
                    if self.fields_match(&m.route, req) {
                        best = Some((m, None));
                        break;
                    }
                }
                MatcherPaths::Regex(regexes) => {
                    if !self.fields_match(&m.route, req) {
                        continue;
                    }
                    if let Some((len, caps)) = regexes.iter().find_map(|r| regex_match(r, req.path))
                    {
                        best = Some((m, Some(len)));
                        captures = Some(caps);
                        break;
                    }
                }
                MatcherPaths::Prefix => {}
            }
        }

        // A route whose only rule is `snis` has no rule for a plain-HTTP
        // request (Kong does not consider SNI there): it takes such a
        // request only when no other route does, so adding one never
        // changes which route answers.
        if best.is_none() && !req.tls {
            best = self
                .scanned
                .iter()
                .find(|m| matches!(m.paths, MatcherPaths::None) && snis_only(&m.route))
                .map(|m| (&**m, None));
        }

        let (m, matched_len) = best?;
        let captures = if matches!(m.paths, MatcherPaths::Regex(_)) {
            captures
        } else {
            None
        };
        Some(RouteMatch {
            route: &m.route,
            matched_len,
            captures,
        })
    }

    /// Methods, hosts and headers (paths are checked by the caller).
    fn fields_match(&self, route: &CompiledRoute, req: &RequestView<'_>) -> bool {
        if !route.methods.is_empty() && !route.methods.iter().any(|m| m == req.method) {
            return false;
        }
        // Kong: a route's `snis` apply to TLS requests only.
        if req.tls && !route.snis.is_empty() {
            let Some(sni) = req.sni else { return false };
            let sni = sni.strip_suffix('.').unwrap_or(sni);
            if !route.snis.iter().any(|p| name_matches(p, sni)) {
                return false;
            }
        }
        if !route.hosts.is_empty() {
            let Some(host) = req.host else { return false };
            let (name, port) = split_host_port(host);
            let ok = route
                .hosts
                .iter()
                .any(|p| (p.port.is_none() || p.port == port) && name_matches(p, name));
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

/// A route with `snis` and no methods, hosts or headers; asked only of
/// path-less matchers, so also without paths.
fn snis_only(route: &CompiledRoute) -> bool {
    !route.snis.is_empty()
        && route.methods.is_empty()
        && route.hosts.is_empty()
        && route.headers.is_empty()
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

/// Whether a host name matches an exact or wildcard pattern.
fn name_matches(p: &super::HostPattern, name: &str) -> bool {
    match p.kind {
        HostKind::Exact => name.eq_ignore_ascii_case(&p.name),
        HostKind::Suffix => {
            name.len() > p.name.len()
                && name.as_bytes()[name.len() - p.name.len()..]
                    .eq_ignore_ascii_case(p.name.as_bytes())
        }
        HostKind::Prefix => {
            name.len() > p.name.len()
                && name.as_bytes()[..p.name.len()].eq_ignore_ascii_case(p.name.as_bytes())
        }
    }
}
