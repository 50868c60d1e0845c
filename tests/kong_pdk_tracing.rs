//! Kong's tracing context specs, `t/01-pdk/15-tracing/01-context.t`,
//! ported block by block, one gateway.
//!
//! | file | Kong's blocks | ported | n/a | not ported |
//! |---|---|---|---|---|
//! | 15-tracing/01-context.t | 3 | 3 | 0 | 0 |
//!
//! Adapted: each block has an `access_by_lua_block` and a
//! `content_by_lua_block`, each making its own PDK instance; here they are
//! two functions of one route's pre-function, run in that order in
//! access (`pdk` is `kong` in both; the second prints and answers). What
//! the blocks assert, a span made active by one reaching the other
//! through the request's `ngx.ctx`, is the same.

mod common;

use std::sync::Arc;

use common::pdk::{request, route_with, Block};
use common::Gateway;

/// Runs the block's two Lua chunks as two functions of one route and
/// checks what the second printed.
async fn two_functions(gw: Arc<Gateway>, access: &str, content: &str, want: &str) {
    let first = format!("local pdk = kong\n{access}");
    let second = format!("local pdk = kong\n{content}\nreturn ngx.exit(200)");
    let path = route_with(&gw, "access", &[first, second]).await;
    let gw2 = gw.clone();
    let resp = tokio::task::spawn_blocking(move || request(&gw2, &Block::new("", "", ""), &path))
        .await
        .expect("request");
    assert_eq!((resp.status, resp.text()), (200, want.to_string()));
}

/// Kong's blocks: title, the access chunk, the content chunk and what it
/// prints.
const BLOCKS: [(&str, &str, &str, &str); 3] = [
    (
        "TEST 1: tracer.active_span() noop tracer not set active span",
        r#"pdk.tracing.start_span("access")"#,
        "local span = pdk.tracing.active_span()\nngx.say(span and span.name)",
        "nil\n",
    ),
    (
        "TEST 2: tracer.set_active_span() sets active span",
        r#"local tracer = pdk.tracing.new("t")
local span = tracer.start_span("access")
tracer.set_active_span(span)"#,
        r#"local span = pdk.tracing("t").active_span()
ngx.say(span and span.name)"#,
        "access\n",
    ),
    (
        "TEST 3: tracer.active_span() get tracer from active span",
        r#"local tracer = pdk.tracing("t")
local span = tracer.start_span("access")
tracer.set_active_span(span)"#,
        r#"local span = pdk.tracing("t").active_span()
local tracer = span.tracer
ngx.say(tracer and tracer.name)"#,
        "t\n",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_tracing_context() {
    let gw = Gateway::start_with_workers(1);
    let mut cases: Vec<common::kong::Case> = Vec::new();
    for (title, access, content, want) in BLOCKS {
        cases.push((
            title.to_string(),
            Box::new(move |gw| -> common::kong::CaseFuture {
                Box::pin(two_functions(gw, access, content, want))
            }),
        ));
    }
    common::kong::run("t/01-pdk/15-tracing/01-context.t", gw, cases).await;
}
