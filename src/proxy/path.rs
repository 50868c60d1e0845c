//! The upstream path (§4.2): how the service path, the route's `strip_path`
//! and `path_handling` (v0 or v1) and the request path combine.
//!
//! All paths here are normalised bytes (see `normalize`); the query string is
//! not part of them and is appended unchanged by the caller.

/// Kong drops a leading `./` or `../` (or a lone `.`/`..`) left over after
/// stripping a prefix, so stripping cannot climb out of the service path.
fn sanitize_postfix(postfix: &[u8]) -> &[u8] {
    if postfix == b"." || postfix == b".." {
        return b"";
    }
    if let Some(rest) = postfix.strip_prefix(b"./") {
        return rest;
    }
    if let Some(rest) = postfix.strip_prefix(b"../") {
        return rest;
    }
    postfix
}

/// What the router decided about the request path.
#[derive(Debug, Clone, Copy)]
pub struct PathPlan<'a> {
    /// The service path (`/` when the service has none).
    pub service_path: &'a [u8],
    pub strip_path: bool,
    /// `path_handling = "v1"`.
    pub v1: bool,
    /// Length of the matched part of `request` (a plain prefix or the whole
    /// regex match); `None` when the route matched without a path.
    pub matched_len: Option<usize>,
}

/// Writes the upstream path for `request` (normalised, without query) into
/// `out` (cleared first).
pub fn upstream_path(plan: PathPlan<'_>, request: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let base = if plan.service_path.is_empty() {
        b"/" as &[u8]
    } else {
        plan.service_path
    };
    let postfix: &[u8] = match plan.matched_len {
        Some(n) if plan.strip_path => sanitize_postfix(request.get(n..).unwrap_or_default()),
        _ => sanitize_postfix(request.get(1..).unwrap_or_default()),
    };
    let base_slash = base.last() == Some(&b'/');
    let base_trimmed = if base_slash {
        &base[..base.len() - 1]
    } else {
        base
    };

    if plan.v1 {
        if plan.strip_path {
            if base_slash && postfix.first() == Some(&b'/') {
                out.extend_from_slice(base_trimmed);
            } else {
                out.extend_from_slice(base);
            }
            out.extend_from_slice(postfix);
        } else {
            out.extend_from_slice(base);
            out.extend_from_slice(request.get(1..).unwrap_or_default());
        }
        return;
    }

    if base_slash {
        if plan.strip_path {
            if postfix.is_empty() {
                if base == b"/" {
                    out.push(b'/');
                } else {
                    out.extend_from_slice(base_trimmed);
                }
            } else if postfix[0] == b'/' {
                out.extend_from_slice(base_trimmed);
                out.extend_from_slice(postfix);
            } else {
                out.extend_from_slice(base);
                out.extend_from_slice(postfix);
            }
        } else {
            out.extend_from_slice(base);
            out.extend_from_slice(request.get(1..).unwrap_or_default());
        }
    } else if plan.strip_path {
        // A trailing slash consumed by the matched prefix is not re-added
        // (the fixture's rows 45 and 64).
        out.extend_from_slice(base);
        if !postfix.is_empty() {
            if postfix[0] != b'/' {
                out.push(b'/');
            }
            out.extend_from_slice(postfix);
        }
    } else {
        out.extend_from_slice(base);
        if request != b"/" {
            out.extend_from_slice(request);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strip flags of a row: one value or both.
    const BOTH: &[bool] = &[false, true];
    const OFF: &[bool] = &[false];
    const ON: &[bool] = &[true];
    /// Path handlings of a row.
    const V01: &[&str] = &["v0", "v1"];
    const V0: &[&str] = &["v0"];
    const V1: &[&str] = &["v1"];

    /// service path, route path (None: a host-only route), strip flags,
    /// path handlings, request path, expected upstream path.
    /// The rows of Kong's `spec/fixtures/router_path_handling_tests.lua`.
    type Row = (
        &'static str,
        Option<&'static str>,
        &'static [bool],
        &'static [&'static str],
        &'static str,
        &'static str,
    );

    #[rustfmt::skip]
    const ROWS: &[Row] = &[
        ("/", Some("/"), BOTH, V01, "/", "/"),
        ("/", Some("/"), BOTH, V01, "/route", "/route"),
        ("/", Some("/"), BOTH, V01, "/route/", "/route/"),
        ("/", Some("/"), BOTH, V01, "/routereq", "/routereq"),
        ("/", Some("/"), BOTH, V01, "/route/req", "/route/req"),
        ("/", Some("/route"), OFF, V01, "/route", "/route"),
        ("/", Some("/route"), OFF, V01, "/route/", "/route/"),
        ("/", Some("/route"), OFF, V01, "/routereq", "/routereq"),
        ("/", Some("/route"), ON, V01, "/route", "/"),
        ("/", Some("/route"), ON, V01, "/route/", "/"),
        ("/", Some("/route"), ON, V01, "/routereq", "/req"),
        ("/", Some("/route/"), OFF, V01, "/route/", "/route/"),
        ("/", Some("/route/"), OFF, V01, "/route/req", "/route/req"),
        ("/", Some("/route/"), ON, V01, "/route/", "/"),
        ("/", Some("/route/"), ON, V01, "/route/req", "/req"),
        ("/srv", Some("/rou"), OFF, V0, "/roureq", "/srv/roureq"),
        ("/srv", Some("/rou"), OFF, V1, "/roureq", "/srvroureq"),
        ("/srv", Some("/rou"), ON, V0, "/roureq", "/srv/req"),
        ("/srv", Some("/rou"), ON, V1, "/roureq", "/srvreq"),
        ("/srv/", Some("/rou"), OFF, V01, "/rou", "/srv/rou"),
        ("/srv/", Some("/rou"), ON, V0, "/rou", "/srv"),
        ("/srv/", Some("/rou"), ON, V1, "/rou", "/srv/"),
        ("/service", Some("/"), BOTH, V01, "/", "/service"),
        ("/service", Some("/"), BOTH, V0, "/route", "/service/route"),
        ("/service", Some("/"), BOTH, V1, "/route", "/serviceroute"),
        ("/service", Some("/"), BOTH, V0, "/route/", "/service/route/"),
        ("/service", Some("/"), BOTH, V1, "/route/", "/serviceroute/"),
        ("/service", Some("/"), BOTH, V0, "/routereq", "/service/routereq"),
        ("/service", Some("/"), BOTH, V1, "/routereq", "/serviceroutereq"),
        ("/service", Some("/"), BOTH, V0, "/route/req", "/service/route/req"),
        ("/service", Some("/"), BOTH, V1, "/route/req", "/serviceroute/req"),
        ("/service", Some("/route"), OFF, V0, "/route", "/service/route"),
        ("/service", Some("/route"), OFF, V1, "/route", "/serviceroute"),
        ("/service", Some("/route"), OFF, V0, "/route/", "/service/route/"),
        ("/service", Some("/route"), OFF, V1, "/route/", "/serviceroute/"),
        ("/service", Some("/route"), OFF, V0, "/routereq", "/service/routereq"),
        ("/service", Some("/route"), OFF, V1, "/routereq", "/serviceroutereq"),
        ("/service", Some("/route"), ON, V01, "/route", "/service"),
        ("/service", Some("/route"), ON, V01, "/route/", "/service/"),
        ("/service", Some("/route"), ON, V0, "/routereq", "/service/req"),
        ("/service", Some("/route"), ON, V1, "/routereq", "/servicereq"),
        ("/service", Some("/route/"), OFF, V0, "/route/", "/service/route/"),
        ("/service", Some("/route/"), OFF, V1, "/route/", "/serviceroute/"),
        ("/service", Some("/route/"), OFF, V0, "/route/req", "/service/route/req"),
        ("/service", Some("/route/"), OFF, V1, "/route/req", "/serviceroute/req"),
        ("/service", Some("/route/"), ON, V01, "/route/", "/service"),
        ("/service", Some("/route/"), ON, V0, "/route/req", "/service/req"),
        ("/service", Some("/route/"), ON, V1, "/route/req", "/servicereq"),
        ("/service/", Some("/"), OFF, V01, "/", "/service/"),
        ("/service/", Some("/"), ON, V0, "/", "/service"),
        ("/service/", Some("/"), ON, V1, "/", "/service/"),
        ("/service/", Some("/"), BOTH, V01, "/route/", "/service/route/"),
        ("/service/", Some("/"), BOTH, V01, "/route", "/service/route"),
        ("/service/", Some("/"), BOTH, V01, "/routereq", "/service/routereq"),
        ("/service/", Some("/"), BOTH, V01, "/route/req", "/service/route/req"),
        ("/service/", Some("/route"), OFF, V01, "/route", "/service/route"),
        ("/service/", Some("/route"), OFF, V01, "/route/", "/service/route/"),
        ("/service/", Some("/route"), OFF, V01, "/routereq", "/service/routereq"),
        ("/service/", Some("/route"), ON, V0, "/route", "/service"),
        ("/service/", Some("/route"), ON, V1, "/route", "/service/"),
        ("/service/", Some("/route"), ON, V01, "/route/", "/service/"),
        ("/service/", Some("/route"), ON, V01, "/routereq", "/service/req"),
        ("/service/", Some("/route/"), OFF, V01, "/route/", "/service/route/"),
        ("/service/", Some("/route/"), OFF, V01, "/route/req", "/service/route/req"),
        ("/service/", Some("/route/"), ON, V0, "/route/", "/service"),
        ("/service/", Some("/route/"), ON, V1, "/route/", "/service/"),
        ("/service/", Some("/route/"), ON, V01, "/route/req", "/service/req"),
        ("/", None, BOTH, V01, "/", "/"),
        ("/", None, BOTH, V01, "/route", "/route"),
        ("/", None, BOTH, V01, "/route/", "/route/"),
        ("/service", None, BOTH, V01, "/", "/service"),
        ("/service", None, BOTH, V0, "/route", "/service/route"),
        ("/service", None, BOTH, V1, "/route", "/serviceroute"),
        ("/service", None, BOTH, V0, "/route/", "/service/route/"),
        ("/service", None, BOTH, V1, "/route/", "/serviceroute/"),
        ("/service/", None, OFF, V01, "/", "/service/"),
        ("/service/", None, ON, V0, "/", "/service"),
        ("/service/", None, ON, V1, "/", "/service/"),
        ("/service/", None, BOTH, V01, "/route", "/service/route"),
        ("/service/", None, BOTH, V01, "/route/", "/service/route/"),
    ];

    #[test]
    fn kong_path_handling_fixture() {
        let mut out = Vec::new();
        let mut failures = Vec::new();
        let mut count = 0;
        for (i, &(service, route, strips, handlings, request, expected)) in ROWS.iter().enumerate()
        {
            for &strip in strips {
                for &handling in handlings {
                    count += 1;
                    let matched_len = route.map(|r| {
                        assert!(
                            request.starts_with(r),
                            "row {i}: request must match the route"
                        );
                        r.len()
                    });
                    let plan = PathPlan {
                        service_path: service.as_bytes(),
                        strip_path: strip,
                        v1: handling == "v1",
                        matched_len,
                    };
                    upstream_path(plan, request.as_bytes(), &mut out);
                    let got = String::from_utf8_lossy(&out).into_owned();
                    if got != expected {
                        failures.push(format!(
                            "row {i}: service {service} route {route:?} strip {strip} {handling} request {request}: got {got}, want {expected}"
                        ));
                    }
                }
            }
        }
        assert!(count > 150, "expanded rows: {count}");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn regex_strip_removes_the_whole_match_and_dot_postfixes_are_sanitised() {
        let mut out = Vec::new();
        let plan = PathPlan {
            service_path: b"/s",
            strip_path: true,
            v1: false,
            matched_len: Some(8),
        };
        upstream_path(plan, b"/users/1/orders", &mut out);
        assert_eq!(out, b"/s/orders");
        let plan = PathPlan {
            service_path: b"/s",
            strip_path: true,
            v1: false,
            matched_len: Some(2),
        };
        upstream_path(plan, b"/a../x", &mut out);
        assert_eq!(out, b"/s/x");
    }
}
