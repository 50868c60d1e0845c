//! Kong's rate-limiting context specs, `t/01-pdk/16-rl-ctx.t`
//! (`require "kong.pdk.private.rate_limiting"`), ported block by block,
//! one gateway (`--untrusted-lua on`: Kong's sandbox would refuse the
//! `require` too, as this module is not on its allow-list).
//!
//! | file | Kong's blocks | ported | n/a | not ported |
//! |---|---|---|---|---|
//! | 16-rl-ctx.t | 4 | 4 | 0 | 0 |
//!
//! Each block's location becomes a route with a pre-function in the
//! block's phase and a post-function in `log`, proxying to a second route
//! whose function answers as the block's `content_by_lua_block` does.
//! Kong runs `rewrite` for global plugins only, so TEST 1 and 4's rewrite
//! Lua is a global pre-function's, for that route's path. The log phase's
//! asserts end by logging a marker: a failed assert leaves it out. TEST 4
//! ends its Lua by logging a marker too, so a rewrite that did not run
//! fails.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::kong::{json, unique};
use common::pdk::{install_global_rewrite, route_to, send};
use common::Gateway;
use serde_json::json;

const STORE: &str = r#"local pdk_rl = require("kong.pdk.private.rate_limiting")
pdk_rl.store_response_header(ngx.ctx, "X-1", 1)
pdk_rl.store_response_header(ngx.ctx, "X-2", 2)

local value = pdk_rl.get_stored_response_header(ngx.ctx, "X-1")
assert(value == 1, "unexpected value: " .. value)

value = pdk_rl.get_stored_response_header(ngx.ctx, "X-2")
assert(value == 2, "unexpected value: " .. value)

pdk_rl.apply_response_headers(ngx.ctx)"#;

const LOG: &str = r#"local pdk_rl = require("kong.pdk.private.rate_limiting")

local value = pdk_rl.get_stored_response_header(ngx.ctx, "X-1")
assert(value == 1, "unexpected value: " .. value)

value = pdk_rl.get_stored_response_header(ngx.ctx, "X-2")
assert(value == 2, "unexpected value: " .. value)"#;

const INVALID: &str = r#"local pdk_rl = require("kong.pdk.private.rate_limiting")
local ok, err, errmsg

ok, err = pcall(pdk_rl.store_response_header, ngx.ctx, nil, 1)
assert(not ok, "pcall should fail")
errmsg = string.format(
    "arg #%d `key` for function `%s` must be a string, got %s",
    2,
    "store_response_header",
    type(nil)
)
assert(
    err:find(errmsg, nil, true),
    "unexpected error message: " .. err
)
for _k, v in ipairs({ 1, true, {}, function() end, ngx.null }) do
    ok, err = pcall(pdk_rl.store_response_header, ngx.ctx, v, 1)
    assert(not ok, "pcall should fail")
    errmsg = string.format(
        "arg #%d `key` for function `%s` must be a string, got %s",
        2,
        "store_response_header",
        type(v)
    )
    assert(
        err:find(errmsg, nil, true),
        "unexpected error message: " .. err
    )
end

ok, err = pcall(pdk_rl.store_response_header, ngx.ctx, "X-1", nil)
assert(not ok, "pcall should fail")
errmsg = string.format(
    "arg #%d `value` for function `%s` must be a string or a number, got %s",
    3,
    "store_response_header",
    type(nil)
)
assert(
    err:find(errmsg, nil, true),
    "unexpected error message: " .. err
)
for _k, v in ipairs({ true, {}, function() end, ngx.null }) do
    ok, err = pcall(pdk_rl.store_response_header, ngx.ctx, "X-1", v)
    assert(not ok, "pcall should fail")
    errmsg = string.format(
        "arg #%d `value` for function `%s` must be a string or a number, got %s",
        3,
        "store_response_header",
        type(v)
    )
    assert(
        err:find(errmsg, nil, true),
        "unexpected error message: " .. err
    )
end

ok, err = pcall(pdk_rl.get_stored_response_header, ngx.ctx, nil)
assert(not ok, "pcall should fail")
errmsg = string.format(
    "arg #%d `key` for function `%s` must be a string, got %s",
    2,
    "get_stored_response_header",
    type(nil)
)
assert(
    err:find(errmsg, nil, true),
    "unexpected error message: " .. err
)
for _k, v in ipairs({ 1, true, {}, function() end, ngx.null }) do
    ok, err = pcall(pdk_rl.get_stored_response_header, ngx.ctx, v)
    assert(not ok, "pcall should fail")
    errmsg = string.format(
        "arg #%d `key` for function `%s` must be a string, got %s",
        2,
        "get_stored_response_header",
        type(v)
    )
    assert(
        err:find(errmsg, nil, true),
        "unexpected error message: " .. err
    )
end"#;

/// Runs a block: `lua` in `phase`, `log` (if any) in log, `content`
/// answering; returns the response and whether the log phase finished.
async fn block(
    gw: &Arc<Gateway>,
    phase: &str,
    lua: &str,
    log: Option<&str>,
    content: &str,
) -> (common::RawResponse, bool) {
    let closed = format!("http://127.0.0.1:{}", common::closed_port());
    let up = route_to(
        gw,
        &closed,
        json!({"access": [format!("{content}\nreturn ngx.exit(200)")]}),
    )
    .await;
    let url = format!("http://127.0.0.1:{}{up}", gw.proxy.port());
    let tag = unique("RLDONE");
    let mut config = serde_json::Map::new();
    if phase != "rewrite" {
        config.insert(phase.into(), json!([lua]));
    }
    let path = route_to(gw, &url, serde_json::Value::Object(config)).await;
    if let Some(log) = log {
        // A post-function: a route's own pre-function would stand in for
        // the global one (one configuration per plugin name, as in Kong).
        let code = format!("{log}\nngx.log(ngx.WARN, \"{tag}\")");
        let p = json(
            gw,
            "POST",
            &format!("/services{path}/plugins"),
            json!({"name": "post-function", "config": {"log": [code]}}),
        )
        .await;
        assert_eq!(p.status, 201, "{}", p.text);
    }
    if phase == "rewrite" {
        install_global_rewrite(gw, &path, lua).await;
    }
    let resp = send(gw, "GET", "test", &path, None).await;
    let mut logged = log.is_none();
    for _ in 0..300 {
        if logged {
            break;
        }
        logged = gw.log_text().contains(&tag);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (resp, logged)
}

async fn headers_block(gw: Arc<Gateway>, phase: &'static str) {
    let (resp, logged) = block(&gw, phase, STORE, Some(LOG), "ngx.say(\"ok\")").await;
    assert_eq!((resp.status, resp.text()), (200, "ok\n".to_string()));
    assert_eq!(resp.header("X-1"), Some("1"), "{:?}", resp.headers);
    assert_eq!(resp.header("X-2"), Some("2"), "{:?}", resp.headers);
    assert!(logged, "the log phase failed:\n{}", gw.log_text());
}

async fn rewrite(gw: Arc<Gateway>) {
    headers_block(gw, "rewrite").await
}

async fn access(gw: Arc<Gateway>) {
    headers_block(gw, "access").await
}

async fn header_filter(gw: Arc<Gateway>) {
    headers_block(gw, "header_filter").await
}

async fn invalid(gw: Arc<Gateway>) {
    let tag = unique("RLCHECKED");
    let lua = format!("{INVALID}\nngx.log(ngx.WARN, \"{tag}\")");
    let (resp, _) = block(&gw, "rewrite", &lua, None, "ngx.print(\"ok\")").await;
    assert!(
        gw.log_text().contains(&tag),
        "the rewrite Lua did not finish"
    );
    assert_eq!(
        (resp.status, resp.text()),
        (200, "ok".to_string()),
        "{}",
        gw.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_rl_ctx() {
    let gw = Gateway::start_logged_with(1, &["--untrusted-lua", "on"]);
    let mut cases: Vec<common::kong::Case> = Vec::new();
    case!(cases, "TEST 1: should work in rewrite phase", rewrite);
    case!(cases, "TEST 2: should work in access phase", access);
    case!(
        cases,
        "TEST 3: should work in header_filter phase",
        header_filter
    );
    case!(
        cases,
        "TEST 4: should not accept invalid arguments",
        invalid
    );
    common::kong::run("t/01-pdk/16-rl-ctx.t", gw, cases).await;
}
