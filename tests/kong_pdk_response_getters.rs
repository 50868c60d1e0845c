//! Kong's `kong.response` getter specs, ported block by block
//! (`tests/common/pdk.rs`), as `kong_pdk_response_setters.rs` ports the
//! setters; one gateway per spec file.
//!
//! | file | Kong's blocks | ported | passing | n/a |
//! |---|---|---|---|---|
//! | 01-get_status.t | 4 | 4 | 4 | 0 |
//! | 02-get_header.t | 6 | 6 | 6 | 0 |
//! | 03-get_headers.t | 10 | 10 | 10 | 0 |
//! | 12-get_source.t | 6 | 6 | 6 | 0 |
//!
//! Adapted: 12-get_source.t's blocks answer from nginx's content handler,
//! here a function's `ngx.exit` (which, as there, sets none of Kong's
//! flags) or an upstream that cannot be reached; the flags the blocks set
//! in `ngx.ctx` are honoured as Kong's `get_source` reads them.
//! 01-get_status.t TEST 3-4's upstreams are nginx directives (`return
//! 404;`), here `ngx.exit` on the upstream route; TEST 4's rewrite block
//! is left out (Kong runs rewrite for global plugins only).
//! 02-get_header.t TEST 4 and 03-get_headers.t TEST 4-6: the upstream
//! answers with 101 to 200 headers, which the proxy passes on as nginx
//! does; `get_headers` keeps the first 100 header lines.

// One `b.push` per Kong block, in Kong's order.
#![allow(clippy::vec_init_then_push)]

mod common;

use std::sync::Arc;

use common::kong::{Case, CaseFuture};
use common::pdk::{cases, route_to, send, unsandboxed, Block};
use common::Gateway;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_response_get_status() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1: response.get_status() returns a number
    b.push(
        Block::new(
            "TEST 1: response.get_status() returns a number",
            r#""#,
            r#"type: number"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

ngx.ctx.type = "type: " .. type(pdk.response.get_status())"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = ngx.ctx.type
ngx.arg[2] = true"#,
        ),
    );
    // TEST 2: response.get_status() returns 200 from service
    b.push(
        Block::new(
            "TEST 2: response.get_status() returns 200 from service",
            r#""#,
            r#"status: 200"#,
        )
        .upstream(r#""#)
        .also("header_filter", r#"ngx.header.content_length = nil"#)
        .also(
            "body_filter",
            r#"ngx.arg[1] = "status: " .. pdk.response.get_status()
ngx.arg[2] = true"#,
        ),
    );

    // TEST 3: Kong's upstream is nginx's `return 404;`.
    b.push(
        Block::new(
            "TEST 3: response.get_status() returns 404 from service",
            "",
            "status: 404",
        )
        .status(404)
        .upstream("ngx.exit(404)")
        .also("header_filter", "ngx.header.content_length = nil")
        .also(
            "body_filter",
            r#"ngx.arg[1] = "status: " .. pdk.response.get_status()
ngx.arg[2] = true"#,
        ),
    );
    // TEST 4: adapted: the block's `rewrite_by_lua_block` (`ngx.status =
    // 201`, overwritten by access) is left out: Kong runs rewrite for
    // global plugins only.
    b.push(
        Block::new(
            "TEST 4: response.get_status() returns last status code set",
            "ngx.status = 202",
            "",
        )
        .status(204)
        .upstream("ngx.exit(203)")
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil
assert(pdk.response.get_status() == 203, "203 ~=" .. tostring(pdk.response.get_status()))
ngx.status = 204
assert(pdk.response.get_status() == 204, "204 ~=" .. tostring(pdk.response.get_status()))"#,
        )
        .also(
            "body_filter",
            r#"assert(pdk.response.get_status() == 204, "204 ~=" .. tostring(pdk.response.get_status()))"#,
        )
        .also(
            "log",
            r#"assert(pdk.response.get_status() == 204, "204 ~=" .. tostring(pdk.response.get_status()))"#,
        ),
    );
    common::kong::run("t/01-pdk/08-response/01-get_status.t", gw, cases(b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_response_get_header() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1: response.get_header() returns first header when multiple is given with same name
    b.push(Block::new(
        "TEST 1: response.get_header() returns first header when multiple is given with same name",
        r#""#,
        r#"content type header value: application/json"#,
    )
    .upstream(r#"ngx.header.Accept = {
    "application/json",
    "text/html",
}"#)
    .also("header_filter", r#"ngx.header.content_length = nil

ngx.ctx.data = "content type header value: " .. pdk.response.get_header("Accept")"#)
    .also("body_filter", r#"ngx.arg[1] = ngx.ctx.data
ngx.arg[2] = true"#)
    );
    // TEST 2: response.get_header() returns values from case-insensitive metatable
    b.push(
        Block::new(
            "TEST 2: response.get_header() returns values from case-insensitive metatable",
            r#""#,
            r#"X-Foo-Header: Hello
x-Foo-header: Hello
x_foo_header: Hello
x_Foo_header: Hello"#,
        )
        .upstream(r#"ngx.header["X-Foo-Header"] = "Hello""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local data = {}

data[1] = "X-Foo-Header: " .. pdk.response.get_header("X-Foo-Header")
data[2] = "x-Foo-header: " .. pdk.response.get_header("x-Foo-header")
data[3] = "x_foo_header: " .. pdk.response.get_header("x_foo_header")
data[4] = "x_Foo_header: " .. pdk.response.get_header("x_Foo_header")

ngx.ctx.data = table.concat(data, "\n")"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = ngx.ctx.data
ngx.arg[2] = true"#,
        ),
    );
    // TEST 3: response.get_header() returns nil when header is missing
    b.push(
        Block::new(
            "TEST 3: response.get_header() returns nil when header is missing",
            r#""#,
            r#"X-Missing: nil"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

ngx.ctx.data = "X-Missing: " .. type(pdk.response.get_header("X-Missing"))"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = ngx.ctx.data
ngx.arg[2] = true"#,
        ),
    );
    // TEST 4: response.get_header() returns nil when response header does not fit in default max_headers
    b.push(
        Block::new(
            "TEST 4: response.get_header() returns nil when response header does not fit in default max_headers",
            r#""#,
            r#"accept header value: nil"#,
        )
        .upstream(r#"for i = 1, 100 do
    ngx.header["X-Header-" .. i] = "test"
end

ngx.header["Accept"] = "text/html""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

ngx.ctx.data = "accept header value: " .. type(pdk.response.get_header("Accept"))"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = ngx.ctx.data
ngx.arg[2] = true"#,
        ),
    );
    // TEST 5: response.get_header() raises error when trying to fetch with invalid argument
    b.push(
        Block::new(
            "TEST 5: response.get_header() raises error when trying to fetch with invalid argument",
            r#""#,
            r#"error: header name must be a string"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local ok, err = pcall(pdk.response.get_header)
if not ok then
    ngx.ctx.err = err
end"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = "error: " .. ngx.ctx.err
ngx.arg[2] = true"#,
        ),
    );
    // TEST 6: response.get_header() returns not-only service header
    b.push(
        Block::new(
            "TEST 6: response.get_header() returns not-only service header",
            r#"ngx.header["X-Non-Service-Header"] = "test""#,
            r#"X-Service-Header: test
X-Non-Service-Header: test"#,
        )
        .upstream(r#"ngx.header["X-Service-Header"] = "test""#)
        .upstream_at(r#"/"#)
        .also("header_filter", r#"ngx.header.content_length = nil"#)
        .also(
            "body_filter",
            r#"local get_header = pdk.response.get_header

ngx.arg[1] = "X-Service-Header: "     .. get_header("X-Service-Header") .. "\n" ..
             "X-Non-Service-Header: " .. get_header("X-Non-Service-Header")

ngx.arg[2] = true"#,
        ),
    );

    common::kong::run("t/01-pdk/08-response/02-get_header.t", gw, cases(b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_response_get_headers() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1: response.get_headers() returns a table
    b.push(
        Block::new(
            "TEST 1: response.get_headers() returns a table",
            r#""#,
            r#"type: table"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

ngx.ctx.data = "type: " .. type(pdk.response.get_headers())"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = ngx.ctx.data
ngx.arg[2] = true"#,
        ),
    );
    // TEST 2: response.get_headers() returns service response headers
    b.push(
        Block::new(
            "TEST 2: response.get_headers() returns service response headers",
            r#""#,
            r#"Foo: Hello
Bar: World
Accept: application/json, text/html"#,
        )
        .upstream(
            r#"ngx.header.Foo = "Hello"
ngx.header.Bar = "World"
ngx.header.Accept = {
    "application/json",
    "text/html",
}"#,
        )
        .upstream_at(r#"/"#)
        .also("header_filter", r#"ngx.header.content_length = nil"#)
        .also(
            "body_filter",
            r#"local headers = pdk.response.get_headers()

ngx.arg[1] = "Foo: " .. headers.Foo .. "\n" ..
             "Bar: " .. headers.Bar .. "\n" ..
             "Accept: " .. table.concat(headers.Accept, ", ")

ngx.arg[2] = true"#,
        ),
    );
    // TEST 3: response.get_headers() returns service response headers with case-insensitive metatable
    b.push(Block::new(
        "TEST 3: response.get_headers() returns service response headers with case-insensitive metatable",
        r#""#,
        r#"X-Foo-Header: Hello
x-Foo-header: Hello
x_foo_header: Hello
x_Foo_header: Hello"#,
    )
    .upstream(r#"ngx.header["X-Foo-Header"] = "Hello""#)
    .upstream_at(r#"/"#)
    .also("header_filter", r#"ngx.header.content_length = nil"#)
    .also("body_filter", r#"local headers = pdk.response.get_headers()

ngx.arg[1] = "X-Foo-Header: " .. headers["X-Foo-Header"] .. "\n" ..
             "x-Foo-header: " .. headers["x-Foo-header"] .. "\n" ..
             "x_foo_header: " .. headers["x_foo_header"] .. "\n" ..
             "x_Foo_header: " .. headers["x_Foo_header"]

ngx.arg[2] = true"#)
    );
    // TEST 4: response.get_headers() fetches 100 headers max by default
    b.push(
        Block::new(
            "TEST 4: response.get_headers() fetches 100 headers max by default",
            r#""#,
            r#"number of headers fetched: 100"#,
        )
        .upstream(
            r#"for i = 1, 200 do
    ngx.header["X-Header-" .. i] = "test"
end"#,
        )
        // Adapted: Kong's headers are set in the same location, before
        // nginx adds `Server`; here the upstream is a route whose answer
        // starts with one, so it clears it.
        .upstream_also("header_filter", r#"ngx.header["Server"] = nil"#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local headers = pdk.response.get_headers()

local n = 0

for k in pairs(headers) do
    if string.lower(string.sub(k, 1, 1)) == "x" then
        n = n + 1

    elseif string.lower(k) == "connection" then
        n = n + 1
    end
end

ngx.ctx.n = n"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = "number of headers fetched: " .. ngx.ctx.n
ngx.arg[2] = true"#,
        ),
    );
    // TEST 5: response.get_headers() returns error when truncating
    b.push(
        Block::new(
            "TEST 5: response.get_headers() returns error when truncating",
            r#""#,
            r#"truncated"#,
        )
        .upstream(
            r#"for i = 1, 200 do
    ngx.header["X-Header-" .. i] = "test"
end"#,
        )
        .also(
            "body_filter",
            r#"local headers, err = pdk.response.get_headers()
if err then
    ngx.arg[1] = err
    ngx.arg[2] = true
end"#,
        ),
    );
    // TEST 6: response.get_headers() fetches max_headers argument
    b.push(
        Block::new(
            "TEST 6: response.get_headers() fetches max_headers argument",
            r#""#,
            r#"number of headers fetched: 60"#,
        )
        .upstream(
            r#"for i = 1, 100 do
    ngx.header["X-Header-" .. i] = "test"
end"#,
        )
        // Adapted: Kong's headers are set in the same location, before
        // nginx adds `Server`; here the upstream is a route whose answer
        // starts with one, so it clears it.
        .upstream_also("header_filter", r#"ngx.header["Server"] = nil"#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local headers = pdk.response.get_headers(60)

local n = 0

for k in pairs(headers) do
    if string.lower(string.sub(k, 1, 1)) == "x" then
        n = n + 1

    elseif string.lower(k) == "connection" then
        n = n + 1
    end
end

ngx.ctx.n = n"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = "number of headers fetched: " .. ngx.ctx.n
ngx.arg[2] = true"#,
        ),
    );
    // TEST 7: response.get_headers() raises error when trying to fetch with max_headers invalid value
    b.push(Block::new(
        "TEST 7: response.get_headers() raises error when trying to fetch with max_headers invalid value",
        r#""#,
        r#"error: max_headers must be a number"#,
    )
    .upstream(r#""#)
    .also("header_filter", r#"ngx.header.content_length = nil

local ok, err = pcall(pdk.response.get_headers, "invalid")
if not ok then
    ngx.ctx.err = err
end"#)
    .also("body_filter", r#"ngx.arg[1] = "error: " .. ngx.ctx.err
ngx.arg[2] = true"#)
    );
    // TEST 8: response.get_headers() raises error when trying to fetch with max_headers < 1
    b.push(
        Block::new(
            "TEST 8: response.get_headers() raises error when trying to fetch with max_headers < 1",
            r#""#,
            r#"error: max_headers must be >= 1"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local ok, err = pcall(pdk.response.get_headers, 0)
if not ok then
    ngx.ctx.err = err
end"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = "error: " .. ngx.ctx.err
ngx.arg[2] = true"#,
        ),
    );
    // TEST 9: response.get_headers() raises error when trying to fetch with max_headers > 1000
    b.push(Block::new(
        "TEST 9: response.get_headers() raises error when trying to fetch with max_headers > 1000",
        r#""#,
        r#"error: max_headers must be <= 1000"#,
    )
    .upstream(r#""#)
    .also("header_filter", r#"ngx.header.content_length = nil

local ok, err = pcall(pdk.response.get_headers, 1001)
if not ok then
    ngx.ctx.err = err
end"#)
    .also("body_filter", r#"ngx.arg[1] = "error: " .. ngx.ctx.err
ngx.arg[2] = true"#)
    );
    // TEST 10: response.get_headers() returns not-only service headers
    b.push(
        Block::new(
            "TEST 10: response.get_headers() returns not-only service headers",
            r#"ngx.header["X-Non-Service-Header"] = "test""#,
            r#"X-Service-Header: test
X-Non-Service-Header: test"#,
        )
        .upstream(r#"ngx.header["X-Service-Header"] = "test""#)
        .upstream_at(r#"/"#)
        .also("header_filter", r#"ngx.header.content_length = nil"#)
        .also(
            "body_filter",
            r#"local headers = pdk.response.get_headers()

ngx.arg[1] = "X-Service-Header: "     .. headers["X-Service-Header"]      .. "\n" ..
             "X-Non-Service-Header: " .. headers["X-Non-Service-Header"]

ngx.arg[2] = true"#,
        ),
    );

    common::kong::run("t/01-pdk/08-response/03-get_headers.t", gw, cases(b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_response_get_source() {
    let (gw, _tmp) = unsandboxed();
    let mut all: Vec<Case> = Vec::new();
    all.push((
        r#"TEST 1: response.get_source() returns "error" by default"#.into(),
        Box::new(|gw| -> CaseFuture { Box::pin(get_source_test_1(gw)) }),
    ));
    all.push((
        r#"TEST 2: response.get_source() returns "service" when the service has answered"#.into(),
        Box::new(|gw| -> CaseFuture { Box::pin(get_source_test_2(gw)) }),
    ));
    all.push((
        r#"TEST 3: response.get_source() returns "exit" when kong.response.exit was previously used"#.into(),
        Box::new(|gw| -> CaseFuture { Box::pin(get_source_test_3(gw)) }),
    ));
    all.push((
        r#"TEST 4: response.get_source() returns "error" when upstream timeouts"#.into(),
        Box::new(|gw| -> CaseFuture { Box::pin(get_source_unreachable(gw, None)) }),
    ));
    all.push((
        r#"TEST 5: response.get_source() returns "error" when upstream timeouts even with KONG_PROXIED = true"#.into(),
        Box::new(|gw| -> CaseFuture {
            Box::pin(get_source_unreachable(gw, Some("ngx.ctx.KONG_PROXIED = true")))
        }),
    ));
    all.push((
        r#"TEST 6: response.get_source() returns "error" when upstream timeouts even with KONG_EXITED = true"#.into(),
        Box::new(|gw| -> CaseFuture {
            Box::pin(get_source_unreachable(gw, Some("ngx.ctx.KONG_EXITED = true")))
        }),
    ));
    common::kong::run("t/01-pdk/08-response/12-get_source.t", gw, all).await;
}

/// The header_filter of 12-get_source.t TEST 1-3.
const X_SOURCE: &str = r#"ngx.header["X-Source"] = kong.response.get_source()"#;

/// `12-get_source.t` TEST 1: Kong's block answers from its content
/// handler, which sets none of Kong's flags; a function answering with
/// nginx's `ngx.exit` sets none either (Kong sets `KONG_PROXIED` only
/// when access ends, `KONG_EXITED` only in `kong.response.exit`/`error`).
async fn get_source_test_1(gw: Arc<Gateway>) {
    let url = format!("http://127.0.0.1:{}", common::closed_port());
    let path = route_to(
        &gw,
        &url,
        json!({"access": ["return ngx.exit(200)"], "header_filter": [X_SOURCE]}),
    )
    .await;
    let resp = send(&gw, "GET", "test", &path, None).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("x-source"), Some("error"));
}

/// `12-get_source.t` TEST 2: the answering function sets
/// `ngx.ctx.KONG_PROXIED` itself, as the block's content handler does.
async fn get_source_test_2(gw: Arc<Gateway>) {
    let url = format!("http://127.0.0.1:{}", common::closed_port());
    let path = route_to(
        &gw,
        &url,
        json!({
            "access": ["ngx.ctx.KONG_PROXIED = true\nreturn ngx.exit(200)"],
            "header_filter": [X_SOURCE],
        }),
    )
    .await;
    let resp = send(&gw, "GET", "test", &path, None).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("x-source"), Some("service"));
}

/// `12-get_source.t` TEST 3: the exit's header_filter sees "exit".
async fn get_source_test_3(gw: Arc<Gateway>) {
    let url = format!("http://127.0.0.1:{}", common::closed_port());
    let path = route_to(
        &gw,
        &url,
        json!({
            "access": [r#"kong.response.exit(200, "ok")"#],
            "header_filter": [X_SOURCE],
        }),
    )
    .await;
    let resp = send(&gw, "GET", "test", &path, None).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("x-source"), Some("exit"));
}

/// `12-get_source.t` TEST 4-6: the upstream cannot be reached (Kong's
/// tests point at a closed port too), after an access that sets `flag`
/// (TEST 5-6); the header_filter sets `KONG_UNEXPECTED` on the 502 as the
/// blocks do (Kong's error handler sets it too, as the gateway does).
async fn get_source_unreachable(gw: Arc<Gateway>, access: Option<&str>) {
    let url = format!("http://127.0.0.1:{}", common::closed_port());
    let mut config = json!({
        "header_filter": [r#"if ngx.status == 502 then
    ngx.ctx.KONG_UNEXPECTED = true
end

ngx.header.content_length = nil"#],
        "body_filter": [r#"ngx.arg[1] = "content source: " ..  kong.response.get_source()
    ngx.arg[2] = true"#],
    });
    if let Some(lua) = access {
        config["access"] = json!([lua]);
    }
    let path = route_to(&gw, &url, config).await;
    let resp = send(&gw, "GET", "test", &path, None).await;
    assert_eq!(
        (resp.status, resp.text()),
        (502, "content source: error".to_string())
    );
}

/// Not Kong's block: Kong's flags set by a function decide
/// `get_source`, over the gateway's state, as under Kong: `KONG_EXITED`
/// on a response the service gave, `KONG_UNEXPECTED` set in
/// header_filter, and `KONG_PROXIED` cleared there (no flag: "error");
/// `kong.log.serialize()`'s `source` follows (Kong's serializer calls
/// `get_source`). Red before: the gateway's state alone answered
/// ("service").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_source_follows_the_flags_functions_set() {
    let (gw, _tmp) = unsandboxed();
    let gw = Arc::new(gw);
    let closed = format!("http://127.0.0.1:{}", common::closed_port());
    let up = route_to(
        &gw,
        &closed,
        json!({"access": [r#"ngx.say("hello") return ngx.exit(200)"#]}),
    )
    .await;
    let url = format!("http://127.0.0.1:{}{up}", gw.proxy.port());
    for (access, header_filter, want) in [
        ("", "", "service"),
        ("ngx.ctx.KONG_EXITED = true", "", "exit"),
        ("", "ngx.ctx.KONG_UNEXPECTED = true", "error"),
        ("", "ngx.ctx.KONG_PROXIED = false", "error"),
        (
            "ngx.ctx.KONG_EXITED = 1",
            "ngx.ctx.KONG_EXITED = false",
            "service",
        ),
    ] {
        let mut config = json!({
            "header_filter": [format!("{header_filter}\n{X_SOURCE}")],
            "log": [SERIALIZED_SOURCE],
        });
        if !access.is_empty() {
            config["access"] = json!([access]);
        }
        let path = route_to(&gw, &url, config).await;
        let resp = send(&gw, "GET", "test", &path, None).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.text(), "hello\n");
        assert_eq!(
            resp.header("x-source"),
            Some(want),
            "{access} / {header_filter}"
        );
        // `kong.log.serialize()`'s `source` is Kong's name of the same.
        let serialized = if want == "service" {
            "upstream"
        } else {
            "kong"
        };
        assert_eq!(serialized_source(&gw, &path).await, serialized, "{path}");
    }
}

/// The log function that keeps `kong.log.serialize().source` in the
/// node's dict under the request's path.
const SERIALIZED_SOURCE: &str =
    r#"ngx.shared.kong:set("source " .. kong.request.get_path(), kong.log.serialize().source)"#;

/// What [`SERIALIZED_SOURCE`] kept for `path`, once the log has run.
async fn serialized_source(gw: &Arc<Gateway>, path: &str) -> String {
    let closed = format!("http://127.0.0.1:{}", common::closed_port());
    let reader = route_to(
        gw,
        &closed,
        json!({"access": [format!(
            r#"ngx.print(tostring(ngx.shared.kong:get("source {path}"))) return ngx.exit(200)"#
        )]}),
    )
    .await;
    for _ in 0..100 {
        let text = send(gw, "GET", "test", &reader, None).await.text();
        if text != "nil" {
            return text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    "nil".into()
}
