//! Kong's `kong.nginx` specs (`t/01-pdk/10-nginx`), ported block by block
//! (`tests/common/pdk.rs`), one gateway per spec file.
//!
//! | file | Kong's blocks | ported | passing | n/a | not ported |
//! |---|---|---|---|---|---|
//! | 01-get_subsystem.t | 3 | 2 | 2 | 1 (stream/TLS: TEST 3) | 0 |
//! | 02-get_statistics.t | 1 | 1 | 1 | 0 | 0 |
//!
//! (00-phase_checks.t is in `tests/kong_pdk_phase_checks.rs`.)
//!
//! 01-get_subsystem.t TEST 2 calls `get_subsystem` from nginx's
//! `error_page` location for a request that is not HTTP: as on Kong, a
//! global function's header_filter runs there; it is in
//! `tests/kong_proxy_refused.rs` (docs/kong-specs.md, (*) and (a)).
//!
//! 02-get_statistics.t matches the counters' names and digits; a case of
//! our own checks that they count (`src/pdk/nginx.rs` says what each is).

mod common;

use std::sync::Arc;

use common::kong::{run, CaseFuture};
use common::pdk::{cases, function_of, request, route_with, unsandboxed, Block};
use common::Gateway;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_nginx_get_subsystem() {
    let (gw, _tmp) = unsandboxed();
    let b = vec![Block::new(
        "TEST 1: nginx.get_subsystem() returns http on regular http requests",
        r#"local subsystem = pdk.nginx.get_subsystem()

ngx.say("subsystem=", subsystem)"#,
        "subsystem=http\n",
    )];
    run("t/01-pdk/10-nginx/01-get_subsystem.t", gw, cases(b)).await;
}

const STATISTICS: &str = r#"local nginx_statistics = pdk.nginx.get_statistics()
local ngx = ngx
ngx.say("Nginx statistics:")
ngx.say("connections_active: ", nginx_statistics["connections_active"])
ngx.say("connections_reading: ", nginx_statistics["connections_reading"])
ngx.say("connections_writing: ", nginx_statistics["connections_writing"])
ngx.say("connections_waiting: ", nginx_statistics["connections_waiting"])
ngx.say("connections_accepted: ", nginx_statistics["connections_accepted"])
ngx.say("connections_handled: ", nginx_statistics["connections_handled"])
ngx.print("total_requests: ", nginx_statistics["total_requests"])"#;

/// One request to `path` on a connection of its own: the body.
async fn body_of(gw: &Arc<Gateway>, path: &str) -> String {
    let gw2 = gw.clone();
    let p = path.to_string();
    let b = Block::new("statistics", "", "");
    let resp = tokio::task::spawn_blocking(move || request(&gw2, &b, &p))
        .await
        .expect("request");
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.text()
}

/// The counters of a [`STATISTICS`] answer, by name.
fn counters(body: &str) -> std::collections::HashMap<String, u64> {
    body.lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.parse().expect("a number")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_nginx_get_statistics() {
    let (gw, _tmp) = unsandboxed();
    let c: Vec<common::kong::Case> = vec![
        (
            "TEST 1: nginx.get_statistics()".into(),
            Box::new(|gw: Arc<Gateway>| -> CaseFuture {
                Box::pin(async move {
                    let path = route_with(&gw, "access", &[function_of(STATISTICS)]).await;
                    let body = body_of(&gw, &path).await;
                    let names = [
                        "active", "reading", "writing", "waiting", "accepted", "handled",
                    ];
                    let lines: Vec<String> = names
                        .iter()
                        .map(|n| format!(r"connections_{n}: \d+"))
                        .collect();
                    let re =
                        regex::Regex::new(&format!(r"Nginx statistics:\n{}", lines.join(r"\n")))
                            .expect("pattern");
                    assert!(re.is_match(&body), "{body}");
                })
            }),
        ),
        (
            "the counters count: this request is active and writing; \
             a new connection and request add one each"
                .into(),
            Box::new(|gw: Arc<Gateway>| -> CaseFuture {
                Box::pin(async move {
                    let path = route_with(&gw, "access", &[function_of(STATISTICS)]).await;
                    let first = counters(&body_of(&gw, &path).await);
                    let second = counters(&body_of(&gw, &path).await);
                    for c in [&first, &second] {
                        assert!(c["connections_active"] >= 1, "{c:?}");
                        assert!(c["connections_writing"] >= 1, "{c:?}");
                        assert_eq!(
                            c["connections_waiting"],
                            c["connections_active"].saturating_sub(c["connections_writing"])
                        );
                        assert!(c["connections_handled"] <= c["connections_accepted"]);
                        assert!(c["total_requests"] >= c["connections_writing"]);
                    }
                    for name in [
                        "connections_accepted",
                        "connections_handled",
                        "total_requests",
                    ] {
                        assert!(second[name] > first[name], "{name}: {first:?} {second:?}");
                    }
                })
            }),
        ),
    ];
    run("t/01-pdk/10-nginx/02-get_statistics.t", gw, c).await;
}
