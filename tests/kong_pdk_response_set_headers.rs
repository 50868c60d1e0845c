//! Kong's `t/01-pdk/08-response/08-set_headers.t`, ported block by block
//! (`tests/common/pdk.rs`), as `kong_pdk_response_setters.rs` ports the
//! other setters; one gateway.
//!
//! | file | Kong's blocks | ported | passing | n/a |
//! |---|---|---|---|---|
//! | 08-set_headers.t | 18 | 18 | 18 | 0 |
//!
//! Adapted: TEST 17's upstream calls `ngx.send_headers()` (nginx's
//! content phase) before the block's `header_filter`; here the upstream
//! answers as usual. TEST 18: as 05-set_header.t TEST 8, the function's
//! `Transfer-Encoding` is ignored and the gateway frames the response.

// One `b.push` per Kong block, in Kong's order.
#![allow(clippy::vec_init_then_push)]

mod common;

use common::pdk::{cases, unsandboxed, Block};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_response_set_headers() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1: response.set_headers() errors if arguments are not given
    b.push(
        Block::new(
            "TEST 1: response.set_headers() errors if arguments are not given",
            r#""#,
            r#"headers must be a table"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local ok, err = pcall(pdk.response.set_headers)
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
    // TEST 2: response.set_headers() errors if headers is not a table
    b.push(
        Block::new(
            "TEST 2: response.set_headers() errors if headers is not a table",
            r#""#,
            r#"headers must be a table"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local ok, err = pcall(pdk.response.set_headers, 127001)
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
    // TEST 3: response.set_headers() sets a header in the downstream response
    b.push(
        Block::new(
            "TEST 3: response.set_headers() sets a header in the downstream response",
            r#""#,
            r#"X-Foo: {hello world}"#,
        )
        .upstream(r#""#)
        .upstream_also(
            "header_filter",
            r#"pdk.response.set_headers({["X-Foo"] = "hello world"})"#,
        )
        .also("header_filter", r#"ngx.header.content_length = nil"#)
        .also(
            "body_filter",
            r#"ngx.arg[1] = "X-Foo: {" .. ngx.resp.get_headers()["X-Foo"] .. "}"
ngx.arg[2] = true"#,
        ),
    );
    // TEST 4: response.set_headers() replaces all headers with that name if any exist
    b.push(
        Block::new(
            "TEST 4: response.set_headers() replaces all headers with that name if any exist",
            r#""#,
            r#"X-Foo: {hello world}"#,
        )
        .upstream(r#"ngx.header["X-Foo"] = { "bla bla", "baz" }"#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

pdk.response.set_headers({["X-Foo"] = "hello world"})"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = "X-Foo: {" .. ngx.resp.get_headers()["X-Foo"] .. "}"
ngx.arg[2] = true"#,
        ),
    );
    // TEST 5: response.set_headers() can set to an empty string
    b.push(
        Block::new(
            "TEST 5: response.set_headers() can set to an empty string",
            r#""#,
            r#"X-Foo: {}"#,
        )
        .upstream(r#""#)
        .upstream_also(
            "header_filter",
            r#"pdk.response.set_headers({["X-Foo"] = ""})"#,
        )
        .also("header_filter", r#"ngx.header.content_length = nil"#)
        .also(
            "body_filter",
            r#"ngx.arg[1] = "X-Foo: {" .. ngx.resp.get_headers()["X-Foo"] .. "}"
ngx.arg[2] = true"#,
        ),
    );
    // TEST 6: response.set_headers() ignores spaces in the beginning of value
    b.push(
        Block::new(
            "TEST 6: response.set_headers() ignores spaces in the beginning of value",
            r#""#,
            r#"X-Foo: {hello}"#,
        )
        .upstream(r#""#)
        .upstream_also(
            "header_filter",
            r#"pdk.response.set_headers({["X-Foo"] = "     hello"})"#,
        )
        .also("header_filter", r#"ngx.header.content_length = nil"#)
        .also(
            "body_filter",
            r#"ngx.arg[1] = "X-Foo: {" .. ngx.resp.get_headers()["X-Foo"] .. "}"
ngx.arg[2] = true"#,
        ),
    );
    // TEST 7: response.set_headers() ignores spaces in the end of value
    b.push(
        Block::new(
            "TEST 7: response.set_headers() ignores spaces in the end of value",
            r#""#,
            r#"X-Foo: {hello}"#,
        )
        .upstream(r#""#)
        .upstream_also(
            "header_filter",
            r#"pdk.response.set_headers({["X-Foo"] = "hello     "})"#,
        )
        .also("header_filter", r#"ngx.header.content_length = nil"#)
        .also(
            "body_filter",
            r#"ngx.arg[1] = "X-Foo: {" .. ngx.resp.get_headers()["X-Foo"] .. "}"
ngx.arg[2] = true"#,
        ),
    );
    // TEST 8: response.set_headers() can differentiate empty string from unset
    b.push(
        Block::new(
            "TEST 8: response.set_headers() can differentiate empty string from unset",
            r#""#,
            r#"X-Foo: {}
X-Bar: {nil}"#,
        )
        .upstream(r#""#)
        .upstream_also(
            "header_filter",
            r#"pdk.response.set_headers({["X-Foo"] = ""})"#,
        )
        .also("header_filter", r#"ngx.header.content_length = nil"#)
        .also(
            "body_filter",
            r#"local headers = ngx.resp.get_headers()
ngx.arg[1] = "X-Foo: {" .. headers["X-Foo"] .. "}\n" ..
             "X-Bar: {" .. tostring(headers["X-Bar"]) .. "}"
ngx.arg[2] = true"#,
        ),
    );
    // TEST 9: response.set_headers() errors if name is not a string
    b.push(
        Block::new(
            "TEST 9: response.set_headers() errors if name is not a string",
            r#""#,
            r#"invalid header name "2": got number, expected string"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local ok, err = pcall(pdk.response.set_headers, {[2] = "foo"})
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
    // TEST 10: response.set_headers() errors if value is of a bad type
    b.push(Block::new(
        "TEST 10: response.set_headers() errors if value is of a bad type",
        r#""#,
        r#"invalid header value for "foo": got function, expected string, number, boolean or array of strings"#,
    )
    .upstream(r#""#)
    .also("header_filter", r#"ngx.header.content_length = nil

local ok, err = pcall(pdk.response.set_headers, {["foo"] = function() end})
if not ok then
    ngx.ctx.err = err
end"#)
    .also("body_filter", r#"ngx.arg[1] = ngx.ctx.err
ngx.arg[2] = true"#)
    );
    // TEST 11: response.set_headers() errors if array element is of a bad type
    b.push(
        Block::new(
            "TEST 11: response.set_headers() errors if array element is of a bad type",
            r#""#,
            r#"invalid header value in array "foo": got table, expected string"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local ok, err = pcall(pdk.response.set_headers, {["foo"] = {{}}})
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
    // TEST 12: response.set_headers() errors if array element is number
    b.push(
        Block::new(
            "TEST 12: response.set_headers() errors if array element is number",
            r#""#,
            r#"invalid header value in array "foo": got number, expected string"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local ok, err = pcall(pdk.response.set_headers, {["foo"] = {123}})
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
    // TEST 13: response.set_headers() ignores non-sequence elements in arrays
    b.push(
        Block::new(
            "TEST 13: response.set_headers() ignores non-sequence elements in arrays",
            r#""#,
            r#"X-Foo: {hello}
X-Foo: {world}"#,
        )
        .upstream(r#""#)
        .upstream_also(
            "header_filter",
            r#"pdk.response.set_headers({
    ["X-Foo"] = {
        "hello",
        "world",
        ["foo"] = "bar",
    }
})"#,
        )
        .also("header_filter", r#"ngx.header.content_length = nil"#)
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
    // TEST 14: response.set_headers() removes headers when given an empty array
    b.push(
        Block::new(
            "TEST 14: response.set_headers() removes headers when given an empty array",
            r#""#,
            r#":)"#,
        )
        .upstream(r#"ngx.header["X-Foo"] = { "hello", "world" }"#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

pdk.response.set_headers({
    ["X-Foo"] = {}
})"#,
        )
        .also(
            "body_filter",
            r#"local foo_headers = ngx.resp.get_headers()["X-Foo"] or {}
local response = {}
for i, v in ipairs(foo_headers) do
    response[i] = "X-Foo: {" .. tostring(v) .. "}"
end

table.insert(response, ":)")

ngx.arg[1] = table.concat(response, "\n")
ngx.arg[2] = true"#,
        ),
    );
    // TEST 15: response.set_headers() replaces every header of a given name
    b.push(
        Block::new(
            "TEST 15: response.set_headers() replaces every header of a given name",
            r#""#,
            r#"X-Foo: {xxx}
X-Foo: {yyy}
X-Foo: {zzz}"#,
        )
        .upstream(r#"ngx.header["X-Foo"] = { "aaa", "bbb", "ccc", "ddd", "eee" }"#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

pdk.response.set_headers({
    ["X-Foo"] = { "xxx", "yyy", "zzz" }
})"#,
        )
        .also(
            "body_filter",
            r#"local foo_headers = ngx.resp.get_headers()["X-Foo"] or {}
local response = {}
for i, v in ipairs(foo_headers) do
    response[i] = "X-Foo: {" .. tostring(v) .. "}"
end

ngx.arg[1] = table.concat(response, "\n")
ngx.arg[2] = true"#,
        ),
    );
    // TEST 16: response.set_headers() accepts an empty table
    b.push(
        Block::new(
            "TEST 16: response.set_headers() accepts an empty table",
            r#""#,
            r#"ok"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

local ok, err = pdk.response.set_headers({})
if not ok then
    ngx.ctx.err = err
end"#,
        )
        .also(
            "body_filter",
            r#"ngx.arg[1] = ngx.ctx.err or "ok"
ngx.arg[2] = true"#,
        ),
    );
    // TEST 17: response.set_headers() does not error in header_filter even if headers have already been sent
    b.push(Block::new(
        "TEST 17: response.set_headers() does not error in header_filter even if headers have already been sent",
        r#""#,
        r#"ok"#,
    )
    // Adapted: `ngx.send_headers()` is nginx's content phase; the
    // upstream answers as usual and the headers are the front's to set.
    .upstream(r#""#)
    .also("header_filter", r#"ngx.header.content_length = nil

local ok, err = pcall(pdk.response.set_headers, { ["Content-Type"] = "text/plain" })
if not ok then
    ngx.ctx.err = err

else
    ngx.ctx.err = "ok"
end"#)
    .also("body_filter", r#"ngx.arg[1] = ngx.ctx.err
ngx.arg[2] = true"#)
    );
    // TEST 18: response.set_header() does not set transfer-encoding
    b.push(
        Block::new(
            "TEST 18: response.set_header() does not set transfer-encoding",
            r#""#,
            // Adapted as 05-set_header.t TEST 8.
            r#"Transfer-Encoding: nil
X-test: test"#,
        )
        .upstream(r#""#)
        .also(
            "header_filter",
            r#"ngx.header.content_length = nil

pdk.response.set_headers {
    ["Transfer-Encoding"] = "gzip",
    ["X-test"] = "test",
}
ngx.status = 200"#,
        )
        .also(
            "body_filter",
            r#"local new_headers = ngx.resp.get_headers()

ngx.arg[1] = "Transfer-Encoding: " ..  tostring(new_headers["Transfer-Encoding"]) .. "\n"
    .. "X-test: " ..  new_headers["X-test"]
ngx.arg[2] = true"#,
        ),
    );

    common::kong::run("t/01-pdk/08-response/08-set_headers.t", gw, cases(b)).await;
}
