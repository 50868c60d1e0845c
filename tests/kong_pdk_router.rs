//! Kong's `kong.router` specs (`t/01-pdk/13-router`), ported block by
//! block (`tests/common/pdk.rs`), one gateway per spec file.
//!
//! | file | Kong's blocks | ported | passing | n/a | not ported |
//! |---|---|---|---|---|---|
//! | 01-get_route.t | 2 | 1 | 1 | 0 | 1 |
//! | 02-get_service.t | 2 | 1 | 1 | 0 | 1 |
//!
//! (00-phase_checks.t is in `tests/kong_pdk_phase_checks.rs`.)
//!
//! Adapted: Kong's blocks set `ngx.ctx.route` / `ngx.ctx.service` to a
//! table printing "this route" / "this service" and print what the getter
//! returns; here the getter returns the route (service) the request
//! matched, as the Admin API shows it, and the block prints "this route"
//! when it is the block's own (its path, its service's name).
//!
//! Not ported: TEST 2 of each ("returns nil if not set"). Kong's getters
//! return nil where no route matched (a global plugin's later phases on a
//! 404) or the route has no service (Kong runs its access phase, then
//! answers 503); no function runs on such requests here (the gateway
//! answers 404 or 503 before any). Not one of the fixed reasons.

mod common;

use common::kong::run;
use common::pdk::{cases, unsandboxed, Block};

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
    run("t/01-pdk/13-router/01-get_route.t", gw, cases(b)).await;
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
    run("t/01-pdk/13-router/02-get_service.t", gw, cases(b)).await;
}
