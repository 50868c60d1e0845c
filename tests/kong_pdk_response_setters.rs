//! Kong's `kong.response` setter specs, ported block by block
//! (`tests/common/pdk.rs`): each block's upstream location (its
//! `content_by_lua_block`, and its `header_filter_by_lua_block` when it
//! has one) is a route of the same gateway, and the block's
//! `header_filter_by_lua_block` / `body_filter_by_lua_block` are the
//! functions of the route proxying to it; one gateway per spec file.
//!
//! | file | Kong's blocks | ported | passing | n/a |
//! |---|---|---|---|---|
//! | 04-set_status.t | 4 | 4 | 4 | 0 |
//! | 05-set_header.t | 9 | 9 | 9 | 0 |
//! | 06-add_header.t | 8 | 8 | 8 | 0 |
//! | 07-clear_header.t | 6 | 6 | 6 | 0 |
//! | 11-exit.t (argument checks) | 8 | 7 | 7 | 1 |
//!
//! 11-exit.t's argument checks are TEST 1-3, 9-12 and 40; its other
//! blocks are in `kong_pdk_response_exit.rs`. TEST 40 does not apply:
//! it is the stream subsystem (stream/TLS).
//!
//! Adapted: 04-set_status.t TEST 3 (the upstream's `header_filter` sets
//! 204; a 204 carries no body, so the client gets the status and no
//! "Status: 204" text, as from nginx); 05-set_header.t TEST 8 (Kong's
//! answer is chunked once the block clears Content-Length; the gateway
//! frames every response itself, so the check is that the function's
//! `Transfer-Encoding: gzip` is ignored); 11-exit.t TEST 3 (its seventh
//! value is LuaJIT `ffi` cdata, which Lua 5.4 does not have).

// One `b.push` per Kong block, in Kong's order.
#![allow(clippy::vec_init_then_push)]

mod common;

use common::pdk::{cases, unsandboxed, Block};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_response_set_status() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1: response.set_status() code must be a number
    b.push(
        Block::new(
            "TEST 1: response.set_status() code must be a number",
            r#""#,
            r#"error: code must be a number"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local ok, err = pcall(pdk.response.set_status)
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
    // TEST 2: response.set_status() code must be a number between 100 and 599
    b.push(
        Block::new(
            "TEST 2: response.set_status() code must be a number between 100 and 599",
            r#""#,
            r#"code must be a number between 100 and 599
ok
code must be a number between 100 and 599"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local ok1, err1 = pcall(pdk.response.set_status, 99)
local ok2, err2 = pcall(pdk.response.set_status, 200)
local ok3, err3 = pcall(pdk.response.set_status, 600)

if not ok1 then
    ngx.ctx.err1 = err1
end

if ok2 then
    ngx.ctx.err2 = err2
end

if not ok3 then
    ngx.ctx.err3 = err3
end"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = (ngx.ctx.err1 ~= nil and ngx.ctx.err1 or "ok") .. "\n" ..
             (ngx.ctx.err2 ~= nil and ngx.ctx.err2 or "ok") .. "\n" ..
             (ngx.ctx.err3 ~= nil and ngx.ctx.err3 or "ok")
ngx.arg[2] = true"#,
        ),
    );
    // TEST 3: response.set_status() sets response status code
    b.push(
        Block::new(
            "TEST 3: response.set_status() sets response status code",
            r#""#,
            // Adapted: a 204 has no body (nginx sends none either); the
            // status is what the client gets.
            r#""#,
        )
        .status(204)
        .upstream(r#""#)
        .upstream_also("header_filter", r#"pdk.response.set_status(204)"#)
        .also("header_filter", r#"ngx.header.content_length = nil"#)
        .also(
            "body_filter",
            r#"ngx.arg[1] = "Status: " .. ngx.status
ngx.arg[2] = true"#,
        ),
    );
    // TEST 4: response.set_status() replaces response status code
    b.push(
        Block::new(
            "TEST 4: response.set_status() replaces response status code",
            r#""#,
            r#"Status: 200"#,
        )
        .upstream(r#""#)
        .upstream_also("header_filter", r#"pdk.response.set_status(204)"#)
        .also("header_filter", r#"pdk.response.set_status(200)"#)
        .also(
            "body_filter",
            r#"ngx.arg[1] = "Status: " .. ngx.status
ngx.arg[2] = true"#,
        ),
    );

    common::kong::run("t/01-pdk/08-response/04-set_status.t", gw, cases(b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_response_set_header() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1: response.set_header() errors if arguments are not given
    b.push(
        Block::new(
            "TEST 1: response.set_header() errors if arguments are not given",
            r#""#,
            r#"invalid header name "nil": got nil, expected string"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local ok, err = pcall(pdk.response.set_header)
if not ok then
    ngx.ctx.err = err
end"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = ngx.ctx.err
ngx.arg[2] = true"#,
        ),
    );
    // TEST 2: response.set_header() errors if name is not a string
    b.push(
        Block::new(
            "TEST 2: response.set_header() errors if name is not a string",
            r#""#,
            r#"invalid header name "127001": got number, expected string"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local ok, err = pcall(pdk.response.set_header, 127001, "foo")
if not ok then
    ngx.ctx.err = err
end"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = ngx.ctx.err
ngx.arg[2] = true"#,
        ),
    );
    // TEST 3: response.set_header() errors if value is not a table contain array of string
    b.push(
        Block::new(
            "TEST 3: response.set_header() errors if value is not a table contain array of string",
            r#""#,
            r#"invalid header value in array "foo": got table, expected string"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local set_header = { {} }

local ok, err = pcall(pdk.response.set_header, "foo", set_header)
if not ok then
    ngx.ctx.err = err
end"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = ngx.ctx.err
ngx.arg[2] = true"#,
        ),
    );
    // TEST 4: response.set_header() errors if value is not given
    b.push(Block::new(
        "TEST 4: response.set_header() errors if value is not given",
        r#""#,
        r#"invalid header value for "foo": got nil, expected array of string, string, number or boolean"#,
    )
    .upstream(r#""#)
    .also("header_filter", r#"ngx.header.content_length = nil

local _, err = pcall(pdk.response.set_header, "foo")
if not ok then
    ngx.ctx.err = err
end"#)
    .also("body_filter", r#"ngx.arg[1] = ngx.ctx.err
ngx.arg[2] = true"#)
    );
    // TEST 5: response.set_header() sets a header in the downstream response
    b.push(
        Block::new(
            "TEST 5: response.set_header() sets a header in the downstream response",
            r#""#,
            r#"X-Foo: hello world"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

pdk.response.set_header("X-Foo", "hello world")"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = "X-Foo: " .. ngx.header["X-Foo"]
ngx.arg[2] = true"#,
        ),
    );
    // TEST 6: response.set_header() replaces all headers with that name if any exist
    b.push(
        Block::new(
            "TEST 6: response.set_header() replaces all headers with that name if any exist",
            r#""#,
            r#"type: string"#,
        )
        .upstream(r#"ngx.header["X-Foo"] = { "First", "Second" }"#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

pdk.response.set_header("X-Foo", "hello world")"#,
        )
        .also(
            "body_filter",
            r#"local new_headers = ngx.resp.get_headers()

ngx.arg[1] = "type: " ..  type(new_headers["X-Foo"])
ngx.arg[2] = true"#,
        ),
    );
    // TEST 7: response.set_header() can set to an empty string
    b.push(
        Block::new(
            "TEST 7: response.set_header() can set to an empty string",
            r#""#,
            r#"type: string
X-Foo: {}"#,
        )
        .upstream(r#""#)
        .upstream_also("header_filter", r#"pdk.response.set_header("X-Foo", "")"#)
        .also("header_filter", r#"ngx.header.content_length = nil"#)
        .also(
            "body_filter",
            r#"ngx.arg[1] = "type: " .. type(ngx.resp.get_headers()["X-Foo"]) .. "\n" ..
             "X-Foo: {" .. ngx.resp.get_headers()["X-Foo"] .. "}"
ngx.arg[2] = true"#,
        ),
    );
    // TEST 8: response.set_header() does not set transfer-encoding
    b.push(
        Block::new(
            "TEST 8: response.set_header() does not set transfer-encoding",
            r#""#,
            // Adapted: the gateway frames responses itself (Content-Length
            // here); what matters is that "gzip" is not set.
            r#"Transfer-Encoding: nil"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

pdk.response.set_header("Transfer-Encoding", "gzip")
ngx.status = 200"#,
        )
        .also(
            "body_filter",
            r#"local new_headers = ngx.resp.get_headers()

ngx.arg[1] = "Transfer-Encoding: " ..  tostring(new_headers["Transfer-Encoding"])
ngx.arg[2] = true"#,
        ),
    );
    // TEST 9: response.set_header() with header table
    b.push(
        Block::new(
            "TEST 9: response.set_header() with header table",
            r#""#,
            r#"X-Foo: {a,b}"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local set_header = {"a", "b"}

pdk.response.set_header("X-Foo", set_header)"#,
        )
        .also(
            "body_filter",
            r#"local new_headers = ngx.resp.get_headers()

local cjson = require("cjson")
ngx.arg[1] = "X-Foo: {" ..  new_headers["X-Foo"][1] .. "," .. new_headers["X-Foo"][2] .. "}"

ngx.arg[2] = true"#,
        ),
    );

    common::kong::run("t/01-pdk/08-response/05-set_header.t", gw, cases(b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_response_add_header() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1: response.add_header() errors if arguments are not given
    b.push(
        Block::new(
            "TEST 1: response.add_header() errors if arguments are not given",
            r#""#,
            r#"invalid header name "nil": got nil, expected string"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local ok, err = pcall(pdk.response.add_header)
if not ok then
    ngx.ctx.err = err
end"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = ngx.ctx.err
ngx.arg[2] = true"#,
        ),
    );
    // TEST 2: response.add_header() errors if name is not a string
    b.push(
        Block::new(
            "TEST 2: response.add_header() errors if name is not a string",
            r#""#,
            r#"invalid header name "127001": got number, expected string"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local ok, err = pcall(pdk.response.add_header, 127001, "foo")
if not ok then
    ngx.ctx.err = err
end"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = ngx.ctx.err
ngx.arg[2] = true"#,
        ),
    );
    // TEST 3: response.add_header() errors if value is not a supported one
    b.push(
        Block::new(
            "TEST 3: response.add_header() errors if value is not a supported one",
            r#""#,
            r#"invalid header value in array "foo": got table, expected string"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local ok, err = pcall(pdk.response.add_header, "foo", {{}})
if not ok then
    ngx.ctx.err = err
end"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = ngx.ctx.err
ngx.arg[2] = true"#,
        ),
    );
    // TEST 4: response.add_header() errors if value is not given
    b.push(Block::new(
        "TEST 4: response.add_header() errors if value is not given",
        r#""#,
        r#"invalid header value for "foo": got nil, expected array of string, string, number or boolean"#,
    )
    .upstream(r#""#)
    .also("header_filter", r#"ngx.header.content_length = nil

local ok, err = pcall(pdk.response.add_header, "foo")
if not ok then
    ngx.ctx.err = err
end"#)
    .also("body_filter", r#"ngx.arg[1] = ngx.ctx.err
ngx.arg[2] = true"#)
    );
    // TEST 5: response.add_header() sets a header in the downstream response
    b.push(
        Block::new(
            "TEST 5: response.add_header() sets a header in the downstream response",
            r#""#,
            r#"X-Foo: hello world"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

pdk.response.add_header("X-Foo", "hello world")"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = "X-Foo: " .. ngx.header["X-Foo"]
ngx.arg[2] = true"#,
        ),
    );
    // TEST 6: response.add_header() adds two headers to an downstream response
    b.push(
        Block::new(
            "TEST 6: response.add_header() adds two headers to an downstream response",
            r#""#,
            r#"X-Foo: {hello}
X-Foo: {world}"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

pdk.response.add_header("X-Foo", "hello")
pdk.response.add_header("X-Foo", "world")"#,
        )
        .also(
            "body_filter",
            r#"local foo_headers = ngx.resp.get_headers()["X-Foo"]
local response = {}
for i, v in ipairs(foo_headers) do
    response[i] = "X-Foo: {" .. tostring(v) .. "}"
end

ngx.arg[1] = table.concat(response, "\n")
ngx.arg[2] = true"#,
        ),
    );
    // TEST 7: response.add_header() preserves headers with that name if any exist
    b.push(
        Block::new(
            "TEST 7: response.add_header() preserves headers with that name if any exist",
            r#""#,
            r#"X-Foo: {bla bla}
X-Foo: {baz}
X-Foo: {hello world}"#,
        )
        .upstream(r#"ngx.header["X-Foo"] = { "bla bla", "baz" }"#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

pdk.response.add_header("X-Foo", "hello world")"#,
        )
        .also(
            "body_filter",
            r#"local foo_headers = ngx.resp.get_headers()["X-Foo"]
local response = {}
for i, v in ipairs(foo_headers) do
    response[i] = "X-Foo: {" .. tostring(v) .. "}"
end

ngx.arg[1] = table.concat(response, "\n")
ngx.arg[2] = true"#,
        ),
    );
    // TEST 8: response.add_header() can set to an empty string
    b.push(
        Block::new(
            "TEST 8: response.add_header() can set to an empty string",
            r#""#,
            r#"type: string
X-Foo: {}"#,
        )
        .upstream(r#""#)
        .upstream_also("header_filter", r#"pdk.response.add_header("X-Foo", "")"#)
        .also("header_filter", r#"ngx.header.content_length = nil"#)
        .also(
            "body_filter",
            r#"ngx.arg[1] = "type: " .. type(ngx.resp.get_headers()["X-Foo"]) .. "\n" ..
             "X-Foo: {" .. ngx.resp.get_headers()["X-Foo"] .. "}"
ngx.arg[2] = true"#,
        ),
    );

    common::kong::run("t/01-pdk/08-response/06-add_header.t", gw, cases(b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_response_clear_header() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1: response.clear_header() errors if arguments are not given
    b.push(
        Block::new(
            "TEST 1: response.clear_header() errors if arguments are not given",
            r#""#,
            r#"header name must be a string"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local ok, err = pcall(pdk.response.clear_header)
if not ok then
    ngx.ctx.err = err
end"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = ngx.ctx.err
ngx.arg[2] = true"#,
        ),
    );
    // TEST 2: response.clear_header() errors if name is not a string
    b.push(
        Block::new(
            "TEST 2: response.clear_header() errors if name is not a string",
            r#""#,
            r#"header name must be a string"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local po, err = pcall(pdk.response.clear_header, 127001, "foo")
if not ok then
    ngx.ctx.err = err
end"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = ngx.ctx.err
ngx.arg[2] = true"#,
        ),
    );
    // TEST 3: response.clear_header() clears a given header
    b.push(
        Block::new(
            "TEST 3: response.clear_header() clears a given header",
            r#""#,
            r#"X-Foo: {nil}"#,
        )
        .upstream(r#"ngx.header["X-Foo"] = "bar""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

pdk.response.clear_header("X-Foo")"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = "X-Foo: {" .. type(ngx.header["X-Foo"]) .. "}"
ngx.arg[2] = true"#,
        ),
    );
    // TEST 4: response.clear_header() clears multiple given headers
    b.push(
        Block::new(
            "TEST 4: response.clear_header() clears multiple given headers",
            r#""#,
            r#"X-Foo: {nil}"#,
        )
        .upstream(r#"ngx.header["X-Foo"] = { "hello", "world" }"#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

pdk.response.clear_header("X-Foo")"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = "X-Foo: {" .. type(ngx.header["X-Foo"]) .. "}"
ngx.arg[2] = true"#,
        ),
    );
    // TEST 5: response.clear_header() clears headers set via set_header
    b.push(
        Block::new(
            "TEST 5: response.clear_header() clears headers set via set_header",
            r#""#,
            r#"X-Foo: {nil}"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

pdk.response.set_header("X-Foo", "hello")
pdk.response.clear_header("X-Foo")"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = "X-Foo: {" .. type(ngx.header["X-Foo"]) .. "}"
ngx.arg[2] = true"#,
        ),
    );
    // TEST 6: response.clear_header() clears headers set via add_header
    b.push(
        Block::new(
            "TEST 6: response.clear_header() clears headers set via add_header",
            r#""#,
            r#"X-Foo: {nil}"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

pdk.response.add_header("X-Foo", "hello")
pdk.response.clear_header("X-Foo")"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = "X-Foo: {" .. type(ngx.header["X-Foo"]) .. "}"
ngx.arg[2] = true"#,
        ),
    );

    common::kong::run("t/01-pdk/08-response/07-clear_header.t", gw, cases(b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_response_exit() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1: response.exit() code must be a number
    b.push(Block::new(
        "TEST 1: response.exit() code must be a number",
        r#"local ok, err = pcall(pdk.response.exit)
if not ok then
    ngx.say(err)
end"#,
        r#"code must be a number
"#,
    ));
    // TEST 2: response.exit() code must be a number between 100 and 599
    b.push(Block::new(
        "TEST 2: response.exit() code must be a number between 100 and 599",
        r#"local ok1, err1 = pcall(pdk.response.exit, 99)
local ok2, err2 = pcall(pdk.response.exit, 600)

if not ok1 then
    ngx.say(err1)
end

if not ok2 then
    ngx.print(err2)
end"#,
        r#"code must be a number between 100 and 599
code must be a number between 100 and 599"#,
    ));
    // TEST 3: response.exit() body must be a nil, string or table
    b.push(Block::new(
        "TEST 3: response.exit() body must be a nil, string or table",
        // Adapted: LuaJIT's `ffi` cdata (ok7) does not exist in Lua 5.4.
        r#"local ok1, err1 = pcall(pdk.response.exit, 200, pcall)
local ok2, err2 = pcall(pdk.response.exit, 200, ngx.null)
local ok3, err3 = pcall(pdk.response.exit, 200, true)
local ok4, err4 = pcall(pdk.response.exit, 200, false)
local ok5, err5 = pcall(pdk.response.exit, 200, 0)
local ok6, err6 = pcall(pdk.response.exit, 200, coroutine.create(function() end))

if not ok1 then ngx.say(err1)   end
if not ok2 then ngx.say(err2)   end
if not ok3 then ngx.say(err3)   end
if not ok4 then ngx.say(err4)   end
if not ok5 then ngx.say(err5)   end
if not ok6 then ngx.print(err6) end"#,
        r#"body must be a nil, string or table
body must be a nil, string or table
body must be a nil, string or table
body must be a nil, string or table
body must be a nil, string or table
body must be a nil, string or table"#,
    ));
    // TEST 9: response.exit() errors if headers is not a table
    b.push(Block::new(
        "TEST 9: response.exit() errors if headers is not a table",
        r#"local pok, err = pcall(pdk.response.exit, 200, nil, 127001)
ngx.say(err)"#,
        r#"headers must be a nil or table
"#,
    ));
    // TEST 10: response.exit() errors if header name is not a string
    b.push(Block::new(
        "TEST 10: response.exit() errors if header name is not a string",
        r#"local pok, err = pcall(pdk.response.exit, 200, nil, {[2] = "foo"})
assert(not pok)
ngx.say(err)"#,
        r#"invalid header name "2": got number, expected string
"#,
    ));
    // TEST 11: response.exit() errors if header value is of a bad type
    b.push(Block::new(
        "TEST 11: response.exit() errors if header value is of a bad type",
        r#"local pok, err = pcall(pdk.response.exit, 200, nil, {["foo"] = function() end})
assert(not pok)
ngx.say(err)"#,
        r#"invalid header value for "foo": got function, expected string, number, boolean or array of strings
"#,
    )
    );
    // TEST 12: response.exit() errors if header value array element is of a bad type
    b.push(Block::new(
        "TEST 12: response.exit() errors if header value array element is of a bad type",
        r#"local pok, err = pcall(pdk.response.exit, 200, nil, {["foo"] = { function() end }})
assert(not pok)
ngx.say(err)"#,
        r#"invalid header value in array "foo": got function, expected string
"#,
    ));

    common::kong::run("t/01-pdk/08-response/11-exit.t", gw, cases(b)).await;
}
