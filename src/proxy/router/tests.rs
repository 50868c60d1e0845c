//! Router tests: Kong's priority rules, hosts, headers, methods, regex
//! captures, and the prefix trie.

use std::collections::HashMap;

use uuid::Uuid;

use super::*;
use crate::entities::ForeignKey;
use crate::proxy::normalize::normalize_path;
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
        tls: false,
        sni: None,
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
        tls: false,
        sni: None,
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
        tls: false,
        sni: None,
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

/// A router updated write by write answers like one built from scratch on
/// the final routes, and routes taken out leave no trie nodes behind.
#[test]
fn updates_match_a_fresh_build() {
    let svc = Arc::new(service("upstream.test"));
    let other = Arc::new(service("other.test"));
    let (sid, oid) = (svc.id, other.id);
    let mut services = HashMap::from([(sid, svc), (oid, other.clone())]);
    // A small deterministic generator: no dependency, same run every time.
    let seed = std::cell::Cell::new(0x2545_f491_4f6c_dd1du64);
    let next = |n: u64| {
        let mut x = seed.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        seed.set(x);
        x % n
    };
    let paths = ["/", "/a", "/a/b", "/ab", "/b", "~/a/[0-9]+", "~/b.*"];
    let hosts = ["x.test", "*.test"];
    let names: Vec<&'static str> = (0..40)
        .map(|i| &*Box::leak(format!("r{i}").into_boxed_str()))
        .collect();
    let make = |i: usize| {
        let mut r = route(
            R {
                name: names[i],
                paths: Some(vec![paths[next(7) as usize], paths[next(7) as usize]]),
                hosts: (next(3) == 0).then(|| vec![hosts[next(2) as usize]]),
                methods: (next(3) == 0).then(|| vec!["GET"]),
                regex_priority: next(3) as i64,
                created_at: next(5) as i64,
                ..Default::default()
            },
            if next(2) == 0 { sid } else { oid },
        );
        if next(6) == 0 {
            r.paths = None;
            r.methods = Some(vec!["POST".into()]);
        }
        Arc::new(r)
    };
    let mut live: HashMap<usize, Arc<Route>> = HashMap::new();
    let mut upstreams = Upstreams::default();
    let mut router = Router::default();
    let requests = [
        ("GET", "/a/b/c", None),
        ("GET", "/a/12", Some("x.test")),
        ("POST", "/b", Some("y.test")),
        ("GET", "/abc", None),
        ("POST", "/nothing", None),
        ("GET", "/", Some("x.test")),
    ];
    for step in 0..300 {
        let i = next(40) as usize;
        let (removed, added): (Vec<Arc<Route>>, Vec<Arc<Route>>) = match next(3) {
            0 => (live.remove(&i).into_iter().collect(), vec![]),
            _ => {
                let r = make(i);
                let old = live.insert(i, r.clone());
                (old.into_iter().collect(), vec![r])
            }
        };
        router = router.updated(&services, &mut upstreams, &removed, &added);
        if step % 50 == 49 {
            // A service update: its routes are recompiled against it.
            let mut changed = (*services[&oid]).clone();
            changed.enabled = !changed.enabled;
            services.insert(oid, Arc::new(changed));
            let of_other: Vec<Arc<Route>> = live
                .values()
                .filter(|r| r.service.as_ref().map(|s| s.id) == Some(oid))
                .cloned()
                .collect();
            router = router.updated(&services, &mut upstreams, &of_other, &of_other);
        }
        if step % 4 != 3 {
            continue;
        }
        let all: Vec<Arc<Route>> = live.values().cloned().collect();
        let fresh = Router::build(&services, &all);
        for (method, path, host) in requests {
            assert_eq!(
                find(&router, method, path, host, &[]),
                find(&fresh, method, path, host, &[]),
                "step {step}: {method} {path} {host:?}"
            );
        }
    }
    let all: Vec<Arc<Route>> = live.values().cloned().collect();
    let router = router.updated(&services, &mut upstreams, &all, &[]);
    assert!(router.is_empty(), "every node went with its routes");
    assert!(router.trie.matchers.is_empty());
}

/// Issue 8: no route the Admin API accepts changes how other routes
/// match. Random routes go through the Admin API's route rules (schema,
/// protocol defaults, `routes::check`); for each accepted newcomer N and
/// each request, the answer either stays what it was, or is N — and then
/// N alone matches the request too (its own rules describe it), and N has
/// a rule that applies to the request (a route whose only rule is ignored,
/// such as `snis` on plain HTTP, takes only requests no route answered).
#[test]
fn an_accepted_route_takes_only_what_it_describes() {
    use crate::entities::{routes, schema};
    use serde_json::{json, Map, Value};

    let svc = Arc::new(service("upstream.test"));
    let sid = svc.id;
    let services = HashMap::from([(sid, svc)]);
    let seed = std::cell::Cell::new(0x9e37_79b9_7f4a_7c15u64);
    let next = |n: u64| {
        let mut x = seed.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        seed.set(x);
        x % n
    };
    let pick = |items: &[Value]| items[next(items.len() as u64) as usize].clone();
    // Most routes have few rules: a field is absent two times in three.
    let maybe = |items: &[Value]| {
        if next(3) == 0 {
            pick(items)
        } else {
            Value::Null
        }
    };
    let protocols = [
        Value::Null,
        json!(["http"]),
        json!(["https"]),
        json!(["http", "https"]),
        json!(["grpc"]),
        json!(["grpcs"]),
        json!(["grpc", "grpcs"]),
        json!(["http", "grpc"]),
    ];
    let paths = [
        json!(["/"]),
        json!(["/a"]),
        json!(["/a/b", "/b"]),
        json!(["~/a/[0-9]+"]),
    ];
    let hosts = [json!(["x.test"]), json!(["*.test"])];
    let methods = [json!(["GET"]), json!(["POST"])];
    let headers = [json!({"x-a": ["1"]})];
    let snis = [json!(["s.test"])];
    let strip = [Value::Null, json!(true), json!(false)];
    // What the Admin API would store, or None when it refuses the route.
    let accepted = |name: &str, created_at: i64| -> Option<Route> {
        let mut obj = Map::new();
        for (key, value) in [
            ("protocols", pick(&protocols)),
            ("paths", maybe(&paths)),
            ("hosts", maybe(&hosts)),
            ("methods", maybe(&methods)),
            ("headers", maybe(&headers)),
            ("snis", maybe(&snis)),
            ("strip_path", pick(&strip)),
        ] {
            if !value.is_null() {
                obj.insert(key.into(), value);
            }
        }
        let mut errors = Map::new();
        schema::validate(routes::fields(), &obj, &mut errors);
        routes::fill_protocol_defaults(&mut obj);
        schema::fill_defaults(routes::fields(), &mut obj);
        routes::check(&obj, &mut errors);
        if !errors.is_empty() {
            return None;
        }
        obj.insert("id".into(), json!(Uuid::new_v4()));
        obj.insert("name".into(), json!(name));
        obj.insert("created_at".into(), json!(created_at));
        obj.insert("updated_at".into(), json!(created_at));
        obj.insert("service".into(), json!({"id": sid}));
        Some(serde_json::from_value(Value::Object(obj)).expect("a stored route"))
    };
    let build = |routes: &[Arc<Route>]| Router::build(&services, routes);
    let answer = |r: &Router, req: &(&str, &str, Option<&str>, bool, bool, Option<&str>)| {
        let (method, path, host, header, tls, sni) = *req;
        let mut map = HeaderMap::new();
        if header {
            map.insert("x-a", HeaderValue::from_static("1"));
        }
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let norm = normalize_path(path);
        let view = RequestView {
            method: &method,
            path: &norm,
            host,
            headers: &map,
            tls,
            sni,
        };
        r.find(&view).and_then(|m| m.route.route.name.clone())
    };
    let mut requests = Vec::new();
    for method in ["GET", "POST"] {
        for path in ["/", "/a", "/a/12", "/b", "/c"] {
            for host in [None, Some("x.test"), Some("y.test"), Some("other.org")] {
                for header in [false, true] {
                    for (tls, sni) in [
                        (false, None),
                        (true, Some("s.test")),
                        (true, Some("t.test")),
                    ] {
                        requests.push((method, path, host, header, tls, sni));
                    }
                }
            }
        }
    }
    let mut tried = 0;
    for round in 0..200 {
        let mut base: Vec<Arc<Route>> = Vec::new();
        while base.len() < 6 {
            // Kong's timestamps are seconds: ties in age are common.
            let age = next(3) as i64;
            if let Some(r) = accepted(&format!("r{round}-{}", base.len()), age) {
                base.push(Arc::new(r));
            }
        }
        let age = next(3) as i64;
        let Some(newcomer) = accepted("new", age) else {
            continue;
        };
        tried += 1;
        let newcomer = Arc::new(newcomer);
        let before = build(&base);
        let mut with = base.clone();
        with.push(newcomer.clone());
        let after = build(&with);
        let alone = build(std::slice::from_ref(&newcomer));
        for req in &requests {
            let (b, a) = (answer(&before, req), answer(&after, req));
            if a == b {
                continue;
            }
            let what = format!("{req:?}: {b:?} became {a:?} with {newcomer:?}");
            assert_eq!(a.as_deref(), Some("new"), "{what}");
            assert_eq!(answer(&alone, req).as_deref(), Some("new"), "{what}");
            let (_, _, _, _, tls, _) = *req;
            let has = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|v| !v.is_empty());
            let applies = has(&newcomer.paths)
                || has(&newcomer.hosts)
                || has(&newcomer.methods)
                || newcomer.headers.as_ref().is_some_and(|h| !h.is_empty())
                || (tls && has(&newcomer.snis));
            // Before, no route answered, or only one whose rules do not
            // apply either (another snis-only route on plain HTTP).
            let answered_by_rule = b.as_deref().is_some_and(|name| {
                base.iter().any(|r| {
                    r.name.as_deref() == Some(name)
                        && (has(&r.paths)
                            || has(&r.hosts)
                            || has(&r.methods)
                            || r.headers.as_ref().is_some_and(|h| !h.is_empty())
                            || (tls && has(&r.snis)))
                })
            });
            assert!(
                applies || !answered_by_rule,
                "{what}: no rule of it applies"
            );
        }
    }
    assert!(tried > 20, "only {tried} newcomers were accepted");
}
