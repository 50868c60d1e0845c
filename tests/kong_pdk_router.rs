//! Kong's `kong.router` specs (`t/01-pdk/13-router`), ported block by
//! block (`tests/common/pdk.rs`), one gateway per spec file.
//!
//! | file | Kong's blocks | ported | passing | n/a | not ported |
//! |---|---|---|---|---|---|
//! | 01-get_route.t | 2 | 2 | 2 | 0 | 0 |
//! | 02-get_service.t | 2 | 2 | 2 | 0 | 0 |
//!
//! (00-phase_checks.t is in `tests/kong_pdk_phase_checks.rs`.)
//!
//! Adapted: Kong's blocks set `ngx.ctx.route` / `ngx.ctx.service` to a
//! table printing "this route" / "this service" and print what the getter
//! returns; here the getter returns the route (service) the request
//! matched, as the Admin API shows it, and the block prints "this route"
//! when it is the block's own (its path, its service's name).
//!
//! 02-get_service.t TEST 2 ("returns nil if not set") runs on a route
//! without a service: as Kong, its functions run, then the gateway
//! answers 503 "no Service found with those values" (unless a function
//! answered).
//!
//! 01-get_route.t TEST 2 ("returns nil if not set") clears Kong's
//! `ngx.ctx.route` in a content block: where Kong has no route, a global
//! plugin's header_filter on a request no route matched, it prints what
//! `get_route` returns there (and answers with it, as the block does).

mod common;

use std::sync::Arc;

use serde_json::json;

use common::kong::{json, run, unique, Case, CaseFuture};
use common::pdk::{cases, function_of, send, unsandboxed, Block};
use common::Gateway;

/// A route `/<unique>` without a service, whose access runs `lua` (none
/// when empty).
async fn serviceless_route(gw: &Gateway, lua: &str) -> String {
    let path = format!("/{}", unique("nosvc"));
    let r = json(gw, "POST", "/routes", json!({"paths": [path]})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    if !lua.is_empty() {
        let id = r.json["id"].as_str().expect("id");
        let p = json(
            gw,
            "POST",
            &format!("/routes/{id}/plugins"),
            json!({"name": "pre-function", "config": {"access": [lua]}}),
        )
        .await;
        assert_eq!(p.status, 201, "{}", p.text);
    }
    path
}

/// 02-get_service.t TEST 2 on a route without a service.
fn get_service_nil(gw: Arc<Gateway>) -> CaseFuture {
    Box::pin(async move {
        let lua = function_of(
            r#"ngx.ctx.service = nil

ngx.say("service: ", tostring(pdk.router.get_service()))"#,
        );
        let path = serviceless_route(&gw, &lua).await;
        let resp = send(&gw, "GET", "test", &path, None).await;
        assert_eq!(
            (resp.status, resp.text()),
            (200, "service: nil\n".to_string())
        );
    })
}

/// A route without a service: its functions run (one that answers makes
/// the route work, a mock endpoint), then, if none answered, Kong's 503.
fn serviceless_routes_run_functions(gw: Arc<Gateway>) -> CaseFuture {
    Box::pin(async move {
        let path = serviceless_route(&gw, r#"return kong.response.exit(200, "mock")"#).await;
        let resp = send(&gw, "GET", "test", &path, None).await;
        assert_eq!((resp.status, resp.text()), (200, "mock".to_string()));
        let path =
            serviceless_route(&gw, r#"kong.service.request.set_header("X-Ran", "yes")"#).await;
        let resp = send(&gw, "GET", "test", &path, None).await;
        assert_eq!(resp.status, 503, "{}", resp.text());
        assert!(resp.text().contains("no Service found with those values"));
        let path = serviceless_route(&gw, "").await;
        let resp = send(&gw, "GET", "test", &path, None).await;
        assert_eq!(resp.status, 503, "{}", resp.text());
        assert!(resp.text().contains("no Service found with those values"));
        // Kong answers with `kong.response.error(503, …)`, which makes the
        // response's source `exit` for header_filter and log.
        let path = format!("/{}", unique("nosvc"));
        let r = json(&gw, "POST", "/routes", json!({"paths": [path]})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.json["id"].as_str().expect("id");
        let source = "kong.response.set_header('x-source', kong.response.get_source())";
        let p = json(
            &gw,
            "POST",
            &format!("/routes/{id}/plugins"),
            json!({"name": "pre-function", "config": {"header_filter": [source]}}),
        )
        .await;
        assert_eq!(p.status, 201, "{}", p.text);
        let resp = send(&gw, "GET", "test", &path, None).await;
        assert_eq!(resp.status, 503, "{}", resp.text());
        assert_eq!(resp.header("x-source"), Some("exit"));
    })
}

/// 01-get_route.t TEST 2 on a request no route matched, in a global
/// plugin's header_filter.
fn get_route_nil(gw: Arc<Gateway>) -> CaseFuture {
    Box::pin(async move {
        let lua = r#"if kong.request.get_path() == "/no-route-matches" then
  local pdk = kong
  ngx.ctx.route = nil
  return pdk.response.exit(200, "route: " .. tostring(pdk.router.get_route()) .. "\n")
end"#;
        let p = json(
            &gw,
            "POST",
            "/plugins",
            json!({"name": "post-function", "config": {"header_filter": [lua]}}),
        )
        .await;
        assert_eq!(p.status, 201, "{}", p.text);
        let resp = send(&gw, "GET", "test", "/no-route-matches", None).await;
        assert_eq!(
            (resp.status, resp.text()),
            (200, "route: nil\n".to_string())
        );
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_router_get_route() {
    let (gw, _tmp) = unsandboxed();
    let b = vec![Block::new(
        "TEST 1: router.get_route() returns selected route",
        r#"local route = pdk.router.get_route()
local mine = route.paths[1] == kong.request.get_path()
ngx.say("route: ", mine and "this route" or tostring(route.id))"#,
        "route: this route\n",
    )];
    let mut all: Vec<Case> = cases(b);
    all.push((
        "TEST 2: router.get_route() returns nil if not set".into(),
        Box::new(get_route_nil),
    ));
    run("t/01-pdk/13-router/01-get_route.t", gw, all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_router_get_service() {
    let (gw, _tmp) = unsandboxed();
    let b = vec![Block::new(
        "TEST 1: router.get_service() returns selected service",
        r#"local service = pdk.router.get_service()
local mine = "/" .. service.name == kong.request.get_path()
ngx.say("service: ", mine and "this service" or tostring(service.id))"#,
        "service: this service\n",
    )];
    let mut all: Vec<Case> = cases(b);
    all.push((
        "TEST 2: router.get_service() returns nil if not set".into(),
        Box::new(get_service_nil),
    ));
    all.push((
        "a route without a service runs its functions, then answers 503".into(),
        Box::new(serviceless_routes_run_functions),
    ));
    run("t/01-pdk/13-router/02-get_service.t", gw, all).await;
}
