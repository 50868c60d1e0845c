//! Who may talk to the Admin API.
//!
//! Whoever can write a plugin runs code on the gateway, and a web page open
//! in the operator's browser can reach `127.0.0.1:8001`. Kong answers such
//! pages with CORS headers echoing any `Origin`, ignores `Host` (so DNS
//! rebinding works) and accepts cross-origin form POSTs. lunagate refuses
//! all three, before a request is routed:
//!
//! - `Host` must be a loopback name (`localhost`, `*.localhost`), an IP
//!   literal, or a name given with `--admin-allow-host`: a rebinding page
//!   sends its own domain. IP literals keep `curl http://172.17.0.2:8001`
//!   working in containers.
//! - A request carrying an `Origin` (every cross-origin POST does, form
//!   POSTs included) must come from an origin given with
//!   `--admin-allow-origin`, or from the Admin API's own origin. So must a
//!   request a browser marks `Sec-Fetch-Site: cross-site`/`same-site`.
//! - CORS headers go to allowed origins only.
//! - With `--admin-token`, every request carries the token
//!   (`Authorization: Bearer …` or Kong Enterprise's `Kong-Admin-Token`),
//!   except a CORS preflight from an allowed origin (browsers send those
//!   without credentials).

use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, HOST, ORIGIN};
use hyper::{Method, StatusCode};

use super::errors::AdminError;

/// The access rules, from the `serve` flags.
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    /// Allowed origins, lower-cased, without a trailing slash; `*` allows any.
    origins: Vec<String>,
    /// Allowed host names besides loopback names and IP literals; `*` allows any.
    hosts: Vec<String>,
    token: Option<String>,
}

/// What an accepted request gets: the origin to name in CORS headers, if
/// it is an allowed cross-origin caller.
#[derive(Debug, Default)]
pub struct Accepted {
    pub cors_origin: Option<HeaderValue>,
}

impl AccessPolicy {
    pub fn new(origins: &[String], hosts: &[String], token: Option<String>) -> Self {
        let clean = |items: &[String]| -> Vec<String> {
            items
                .iter()
                .map(|s| s.trim().trim_end_matches('/').to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        };
        AccessPolicy {
            origins: clean(origins),
            hosts: clean(hosts)
                .into_iter()
                .map(|h| h.trim_end_matches('.').to_string())
                .collect(),
            token: token.filter(|t| !t.is_empty()),
        }
    }

    /// `--admin-allow-origin '*'`: every origin may call, so answers carry
    /// `Access-Control-Allow-Origin: *` as Kong's do.
    pub fn any_origin(&self) -> bool {
        self.origins.iter().any(|o| o == "*")
    }

    /// Whether requests must carry a token (a preflight then allows its headers).
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Checks one request's head: `Host`, then `Origin`, then the token.
    pub fn check(
        &self,
        method: &Method,
        uri: &hyper::Uri,
        headers: &HeaderMap,
    ) -> Result<Accepted, AdminError> {
        let host = self.check_host(uri, headers)?;
        let cors_origin = self.check_origin(headers, host.as_deref())?;
        let preflight = method == Method::OPTIONS
            && cors_origin.is_some()
            && headers.contains_key("access-control-request-method");
        if !preflight {
            self.check_token(headers)?;
        }
        Ok(Accepted { cors_origin })
    }

    /// The request's authority (`host[:port]`, lower-cased), refused unless
    /// its host is allowed. A request without one (HTTP/1.0) is not from a
    /// browser and passes.
    fn check_host(
        &self,
        uri: &hyper::Uri,
        headers: &HeaderMap,
    ) -> Result<Option<String>, AdminError> {
        let mut values = headers.get_all(HOST).iter();
        let authority = match (uri.authority(), values.next(), values.next()) {
            (_, Some(_), Some(_)) => {
                return Err(AdminError::bad_request("Multiple Host headers not allowed"))
            }
            (Some(a), _, _) => a.as_str().to_ascii_lowercase(),
            (None, Some(v), None) => v
                .to_str()
                .map_err(|_| forbidden_host("(not text)"))?
                .trim()
                .to_ascii_lowercase(),
            (None, None, _) => return Ok(None),
        };
        if self.host_allowed(&authority) {
            Ok(Some(authority))
        } else {
            Err(forbidden_host(&authority))
        }
    }

    fn host_allowed(&self, authority: &str) -> bool {
        let name = host_name(authority);
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.is_empty() {
            return false;
        }
        let literal = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .map_or_else(
                || name.parse::<std::net::Ipv4Addr>().is_ok(),
                |v6| v6.parse::<std::net::Ipv6Addr>().is_ok(),
            );
        literal
            || name == "localhost"
            || name.ends_with(".localhost")
            || self.hosts.iter().any(|h| h == "*" || h == name)
    }

    /// Refuses a cross-origin caller that is not allowed; returns the
    /// origin to name in CORS headers for one that is.
    fn check_origin(
        &self,
        headers: &HeaderMap,
        authority: Option<&str>,
    ) -> Result<Option<HeaderValue>, AdminError> {
        let fetch_site = headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some(origin) = headers.get(ORIGIN) else {
            if matches!(fetch_site, "cross-site" | "same-site") {
                return Err(AdminError::Message(
                    StatusCode::FORBIDDEN,
                    "Cross-origin request refused: it carries no Origin".into(),
                ));
            }
            return Ok(None);
        };
        let text = origin
            .to_str()
            .unwrap_or("")
            .trim_end_matches('/')
            .to_ascii_lowercase();
        if self.origins.iter().any(|o| o == "*" || *o == text) {
            return Ok(Some(origin.clone()));
        }
        // A page served from the Admin API's own origin (its host already
        // passed the check above) is not cross-origin.
        let same_origin = authority.is_some_and(|a| {
            text.strip_prefix("http://")
                .or_else(|| text.strip_prefix("https://"))
                == Some(a)
        });
        if same_origin && fetch_site != "cross-site" {
            return Ok(None);
        }
        let shown: String = text.chars().take(100).collect();
        Err(AdminError::Message(
            StatusCode::FORBIDDEN,
            format!(
                "Cross-origin request refused: origin '{shown}' is not allowed (see --admin-allow-origin)"
            ),
        ))
    }

    fn check_token(&self, headers: &HeaderMap) -> Result<(), AdminError> {
        let Some(expected) = &self.token else {
            return Ok(());
        };
        let bearer = headers
            .get_all(AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| {
                let (scheme, value) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| value.trim())
            });
        let kong = headers
            .get_all("kong-admin-token")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim);
        if bearer
            .chain(kong)
            .any(|given| constant_time_eq(given.as_bytes(), expected.as_bytes()))
        {
            Ok(())
        } else {
            Err(AdminError::Message(
                StatusCode::UNAUTHORIZED,
                "Unauthorized: this Admin API requires a token (Authorization: Bearer <token>)"
                    .into(),
            ))
        }
    }
}

fn forbidden_host(authority: &str) -> AdminError {
    let shown: String = authority.chars().take(100).collect();
    AdminError::Message(
        StatusCode::FORBIDDEN,
        format!("Host '{shown}' is not allowed (see --admin-allow-host)"),
    )
}

/// `host` of `host[:port]` or `[v6]` of `[v6]:port`.
fn host_name(authority: &str) -> &str {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        };
    }
    match authority.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    }
}

/// Compares without stopping at the first difference, so the time taken
/// does not tell how much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn verdict(policy: &AccessPolicy, pairs: &[(&str, &str)]) -> Result<Accepted, u16> {
        policy
            .check(&Method::POST, &"/services".parse().unwrap(), &head(pairs))
            .map_err(|e| e.status_and_body().0.as_u16())
    }

    #[test]
    fn hosts() {
        let p = AccessPolicy::new(&[], &["gw.internal".into()], None);
        for ok in [
            "localhost:8001",
            "LOCALHOST",
            "admin.localhost",
            "127.0.0.1:8001",
            "10.1.2.3",
            "[::1]:8001",
            "gw.internal:8001",
            "gw.internal.",
        ] {
            assert!(verdict(&p, &[("host", ok)]).is_ok(), "{ok}");
        }
        for bad in [
            "evil.example:8001",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "2130706433",
            "[::1",
            "",
        ] {
            assert_eq!(verdict(&p, &[("host", bad)]).err(), Some(403), "{bad}");
        }
        assert!(verdict(&p, &[]).is_ok(), "HTTP/1.0 without Host");
        let any = AccessPolicy::new(&[], &["*".into()], None);
        assert!(verdict(&any, &[("host", "evil.example")]).is_ok());
    }

    #[test]
    fn origins() {
        let p = AccessPolicy::new(&["https://ui.example.com/".into()], &[], None);
        let local = ("host", "127.0.0.1:8001");
        let ok = verdict(&p, &[local, ("origin", "https://UI.example.com")]).unwrap();
        assert_eq!(ok.cors_origin.unwrap(), "https://UI.example.com");
        assert!(verdict(&p, &[local, ("origin", "http://127.0.0.1:8001")])
            .unwrap()
            .cors_origin
            .is_none());
        for bad in ["https://evil.example", "null", "http://127.0.0.1:8000"] {
            assert_eq!(
                verdict(&p, &[local, ("origin", bad)]).err(),
                Some(403),
                "{bad}"
            );
        }
        assert_eq!(
            verdict(&p, &[local, ("sec-fetch-site", "cross-site")]).err(),
            Some(403)
        );
        assert!(verdict(&p, &[local, ("sec-fetch-site", "none")]).is_ok());
    }

    #[test]
    fn tokens() {
        let p = AccessPolicy::new(
            &["https://ui.example.com".into()],
            &[],
            Some("s3cret".into()),
        );
        let local = ("host", "localhost");
        assert_eq!(verdict(&p, &[local]).err(), Some(401));
        assert_eq!(
            verdict(&p, &[local, ("authorization", "Bearer wrong")]).err(),
            Some(401)
        );
        assert!(verdict(&p, &[local, ("authorization", "bearer s3cret")]).is_ok());
        assert!(verdict(&p, &[local, ("kong-admin-token", "s3cret")]).is_ok());
        let preflight = head(&[
            local,
            ("origin", "https://ui.example.com"),
            ("access-control-request-method", "POST"),
        ]);
        assert!(p
            .check(&Method::OPTIONS, &"/services".parse().unwrap(), &preflight)
            .is_ok());
        assert!(p
            .check(&Method::POST, &"/services".parse().unwrap(), &preflight)
            .is_err());
    }
}
