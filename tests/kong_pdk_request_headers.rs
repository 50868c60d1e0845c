//! Kong's `t/01-pdk/04-request/13-get_header.t` and `14-get_headers.t`,
//! ported block by block (`tests/common/pdk.rs`: each block's Lua is a
//! pre-function on its own route, one gateway per file).
//!
//! | file | Kong's blocks | ported | passing | n/a |
//! |---|---|---|---|---|
//! | 13-get_header.t | 6 | 6 | 6 | 0 |
//! | 14-get_headers.t | 8 | 8 | 8 | 0 |
//!
//! Adapted: 13-get_header.t TEST 5 and 14-get_headers.t TEST 4-5 set the
//! headers in `rewrite_by_lua_block` with `ngx.req.set_header`; Kong runs
//! `rewrite` for global plugins only, so here that Lua runs first in the
//! block's own function, on the same request.

// One `b.push` per Kong block, in Kong's order.
#![allow(clippy::vec_init_then_push)]

mod common;

use common::pdk::{cases, unsandboxed, Block};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_request_get_header() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    b.push(
        Block::new(
            "TEST 1: request.get_header() returns first header when multiple is given with same name",
            r#"ngx.say("accept header value: ", pdk.request.get_header("Accept"))"#,
            "accept header value: application/json\n",
        )
        .header("Accept", "application/json")
        .header("Accept", "text/html"),
    );
    b.push(
        Block::new(
            "TEST 2: request.get_header() returns values from case-insensitive metatable",
            r#"ngx.say("X-Foo-Header: ", pdk.request.get_header("X-Foo-Header"))
ngx.say("x-Foo-header: ", pdk.request.get_header("x-Foo-header"))
ngx.say("x_foo_header: ", pdk.request.get_header("x_foo_header"))
ngx.say("x_Foo_header: ", pdk.request.get_header("x_Foo_header"))"#,
            "X-Foo-Header: Hello\nx-Foo-header: Hello\nx_foo_header: Hello\nx_Foo_header: Hello\n",
        )
        .header("X-Foo-Header", "Hello"),
    );
    b.push(
        Block::new(
            "TEST 3: request.get_header() returns nil when header is missing",
            r#"ngx.say("X-Missing: ", pdk.request.get_header("X-Missing"))"#,
            "X-Missing: nil\n",
        )
        .header("X-Foo-Header", "Hello"),
    );
    b.push(
        Block::new(
            "TEST 4: request.get_header() returns empty string when header has no value",
            r#"ngx.say("X-Foo-Header: '", pdk.request.get_header("X-Foo-Header"), "'")"#,
            "X-Foo-Header: ''\n",
        )
        .header("X-Foo-Header", ""),
    );
    b.push(Block::new(
        "TEST 5: request.get_header() have no limit on header numbers",
        r#"for name in pairs(pdk.request.get_headers()) do
    ngx.req.clear_header(name)
end

for i = 1, 100 do
    ngx.req.set_header("X-Header-" .. i, "test")
end

ngx.req.set_header("Accept", "text/html")

ngx.say("accept header value: ", pdk.request.get_header("Accept"))"#,
        "accept header value: text/html\n",
    ));
    b.push(Block::new(
        "TEST 6: request.get_header() raises error when trying to fetch with invalid argument",
        r#"local _, err = pcall(pdk.request.get_header)
ngx.say("error: ", err)"#,
        "error: header name must be a string\n",
    ));
    common::kong::run("t/01-pdk/04-request/13-get_header.t", gw, cases(b)).await;
}

/// 14-get_headers.t TEST 4-5: `set` headers, then count what
/// `get_headers(max)` returns.
fn count_headers(set: usize, max: &str) -> String {
    format!(
        r#"for i = 1, {set} do
    ngx.req.set_header("X-Header-" .. i, "test")
end

local headers = pdk.request.get_headers({max})

local n = 0

for _ in pairs(headers) do
    n = n + 1
end

ngx.say("number of headers fetched: ", n)"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_request_get_headers() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    b.push(Block::new(
        "TEST 1: request.get_headers() returns a table",
        r#"ngx.say("type: ", type(pdk.request.get_headers()))"#,
        "type: table\n",
    ));
    b.push(
        Block::new(
            "TEST 2: request.get_headers() returns request headers",
            r#"local headers = pdk.request.get_headers()

ngx.say("Foo: ", headers.foo)
ngx.say("Bar: ", headers.bar)
ngx.say("Accept: ", table.concat(headers.accept, ", "))"#,
            "Foo: Hello\nBar: World\nAccept: application/json, text/html\n",
        )
        .header("Foo", "Hello")
        .header("Bar", "World")
        .header("Accept", "application/json")
        .header("Accept", "text/html"),
    );
    b.push(
        Block::new(
            "TEST 3: request.get_headers() returns request headers with case-insensitive metatable",
            r#"local headers = pdk.request.get_headers()

ngx.say("X-Foo-Header: ", headers["X-Foo-Header"])
ngx.say("x-Foo-header: ", headers["x-Foo-header"])
ngx.say("x_foo_header: ", headers.x_foo_header)
ngx.say("x_Foo_header: ", headers.x_Foo_header)"#,
            "X-Foo-Header: Hello\nx-Foo-header: Hello\nx_foo_header: Hello\nx_Foo_header: Hello\n",
        )
        .header("X-Foo-Header", "Hello"),
    );
    b.push(Block::new(
        "TEST 4: request.get_headers() fetches 100 headers max by default",
        &count_headers(200, ""),
        "number of headers fetched: 100\n",
    ));
    b.push(Block::new(
        "TEST 5: request.get_headers() fetches max_headers argument",
        &count_headers(100, "60"),
        "number of headers fetched: 60\n",
    ));
    b.push(Block::new(
        "TEST 6: request.get_headers() raises error when trying to fetch with max_headers invalid value",
        r#"local _, err = pcall(pdk.request.get_headers, "invalid")
ngx.say("error: ", err)"#,
        "error: max_headers must be a number\n",
    ));
    b.push(Block::new(
        "TEST 7: request.get_headers() raises error when trying to fetch with max_headers < 1",
        r#"local _, err = pcall(pdk.request.get_headers, 0)
ngx.say("error: ", err)"#,
        "error: max_headers must be >= 1\n",
    ));
    b.push(Block::new(
        "TEST 8: request.get_headers() raises error when trying to fetch with max_headers > 1000",
        r#"local _, err = pcall(pdk.request.get_headers, 1001)
ngx.say("error: ", err)"#,
        "error: max_headers must be <= 1000\n",
    ));
    common::kong::run("t/01-pdk/04-request/14-get_headers.t", gw, cases(b)).await;
}
