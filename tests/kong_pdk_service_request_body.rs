//! Kong's `kong.service.request.set_body` and `set_raw_body` specs, ported
//! block by block (`tests/common/pdk.rs`): each block's upstream location
//! is a route of the same gateway (its Lua a pre-function there), and the
//! block's `access_by_lua_block` runs on the route proxying to it; one
//! gateway per spec file.
//!
//! | file | Kong's blocks | ported | passing | n/a |
//! |---|---|---|---|---|
//! | 07-set_body.t | 27 | 27 | 27 | 0 |
//! | 13-set_raw_body.t | 8 | 8 | 8 | 0 |
//!
//! Adapted (the upstream's side only): 07-set_body.t TEST 21-22 print with
//! `inspect`, TEST 26-27 read the parts with lua-multipart; neither module
//! exists here, so the upstream prints with a local `inspect` and reads
//! the parts with `kong.request.get_body`. 13-set_raw_body.t TEST 8's
//! upstream is a plain HTTP server (a route of the gateway refuses a 10 MB
//! body for its own functions).

// One `b.push` per Kong block, in Kong's order.
#![allow(clippy::vec_init_then_push)]

mod common;

use std::sync::Arc;

use common::kong::CaseFuture;
use common::pdk::{cases, route_to, send, unsandboxed, Block};
use common::Gateway;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_service_request_set_body() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1: service.request.set_body() errors if args is not a table
    b.push(Block::new(
        "TEST 1: service.request.set_body() errors if args is not a table",
        r#"local pok, err = pcall(pdk.service.request.set_body, 127001)
ngx.say(err)"#,
        r#"args must be a table
"#,
    ));
    // TEST 2: service.request.set_body() errors if given no arguments
    b.push(Block::new(
        "TEST 2: service.request.set_body() errors if given no arguments",
        r#"local pok, err = pcall(pdk.service.request.set_body)
ngx.say(err)"#,
        r#"args must be a table
"#,
    ));
    // TEST 3: service.request.set_body() errors if mime is not a string
    b.push(Block::new(
        "TEST 3: service.request.set_body() errors if mime is not a string",
        r#"local pok, err = pcall(pdk.service.request.set_body, {}, 123)
ngx.say(err)"#,
        r#"mime must be a string
"#,
    ));
    // TEST 4: service.request.set_body() for application/x-www-form-urlencoded errors if table values have bad types
    b.push(Block::new(
        "TEST 4: service.request.set_body() for application/x-www-form-urlencoded errors if table values have bad types",
        r#"pdk.service.request.set_header("Content-Type", "application/x-www-form-urlencoded")
local pok, err = pcall(pdk.service.request.set_body, {
    aaa = "foo",
    bbb = function() end,
    ccc = "bar",
})
ngx.say(err)"#,
        r#"attempt to use function as query arg value
"#,
    )
    .method("POST")
    );
    // TEST 5: service.request.set_body() for application/x-www-form-urlencoded errors if table keys have bad types
    b.push(Block::new(
        "TEST 5: service.request.set_body() for application/x-www-form-urlencoded errors if table keys have bad types",
        r#"pdk.service.request.set_header("Content-Type", "application/x-www-form-urlencoded")
local pok, err = pcall(pdk.service.request.set_body, {
    aaa = "foo",
    [true] = "what",
    ccc = "bar",
})
ngx.say(err)"#,
        r#"arg keys must be strings
"#,
    )
    .method("POST")
    );
    // TEST 6: service.request.set_body() for application/x-www-form-urlencoded sets the Content-Type header
    b.push(Block::new(
        "TEST 6: service.request.set_body() for application/x-www-form-urlencoded sets the Content-Type header",
        r#"pdk.service.request.set_body({}, "application/x-www-form-urlencoded")"#,
        r#"content-type: {application/x-www-form-urlencoded}
"#,
    )
    .upstream(r#"local headers = ngx.req.get_headers()
ngx.say("content-type: {", tostring(headers["Content-Type"]), "}")"#)
    .method("POST")
    );
    // TEST 7: service.request.set_body() for application/x-www-form-urlencoded accepts an empty table
    b.push(Block::new(
        "TEST 7: service.request.set_body() for application/x-www-form-urlencoded accepts an empty table",
        r#"pdk.service.request.set_header("Content-Type", "application/x-www-form-urlencoded")
assert(pdk.service.request.set_body({}))"#,
        r#"body: {nil}
content-length: {0}
content-type: {application/x-www-form-urlencoded}
"#,
    )
    .upstream(r#"ngx.req.read_body()
local headers = ngx.req.get_headers()
ngx.say("body: {", tostring(ngx.req.get_body_data()), "}")
ngx.say("content-length: {", tostring(headers["Content-Length"]), "}")
ngx.say("content-type: {", tostring(headers["Content-Type"]), "}")"#)
    .method("POST")
    .body(r#"
foo=hello%20world"#)
    );
    // TEST 8: service.request.set_body() for application/x-www-form-urlencoded replaces the received post args
    b.push(Block::new(
        "TEST 8: service.request.set_body() for application/x-www-form-urlencoded replaces the received post args",
        r#"assert(pdk.service.request.set_body({
    foo = "hello world"
}, "application/x-www-form-urlencoded"))"#,
        r#"body: {foo=hello%20world}
content-length: {17}
content-type: {application/x-www-form-urlencoded}
"#,
    )
    .upstream(r#"ngx.req.read_body()
local headers = ngx.req.get_headers()
ngx.say("body: {", tostring(ngx.req.get_body_data()), "}")
ngx.say("content-length: {", tostring(headers["Content-Length"]), "}")
ngx.say("content-type: {", tostring(headers["Content-Type"]), "}")"#)
    .method("POST")
    .body(r#"
foo=bar"#)
    );
    // TEST 9: service.request.set_body() for application/x-www-form-urlencoded urlencodes table values
    b.push(Block::new(
        "TEST 9: service.request.set_body() for application/x-www-form-urlencoded urlencodes table values",
        r#"assert(pdk.service.request.set_body({
    foo = "hello world"
}, "application/x-www-form-urlencoded"))"#,
        r#"body: {foo=hello%20world}
content-length: {17}
content-type: {application/x-www-form-urlencoded}
"#,
    )
    .upstream(r#"ngx.req.read_body()
local headers = ngx.req.get_headers()
ngx.say("body: {", tostring(ngx.req.get_body_data()), "}")
ngx.say("content-length: {", tostring(headers["Content-Length"]), "}")
ngx.say("content-type: {", tostring(headers["Content-Type"]), "}")"#)
    .method("POST")
    );
    // TEST 10: service.request.set_body() for application/x-www-form-urlencoded produces a deterministic lexicographical order
    b.push(Block::new(
        "TEST 10: service.request.set_body() for application/x-www-form-urlencoded produces a deterministic lexicographical order",
        r#"assert(pdk.service.request.set_body({
    foo = "hello world",
    a = true,
    aa = true,
    zzz = "goodbye world",
}, "application/x-www-form-urlencoded"))"#,
        r#"body: {a&aa&foo=hello%20world&zzz=goodbye%20world}
content-length: {42}
content-type: {application/x-www-form-urlencoded}
"#,
    )
    .upstream(r#"ngx.req.read_body()
local headers = ngx.req.get_headers()
ngx.say("body: {", tostring(ngx.req.get_body_data()), "}")
ngx.say("content-length: {", tostring(headers["Content-Length"]), "}")
ngx.say("content-type: {", tostring(headers["Content-Type"]), "}")"#)
    .method("POST")
    );
    // TEST 11: service.request.set_body() for application/x-www-form-urlencoded preserves the order of array arguments
    b.push(Block::new(
        "TEST 11: service.request.set_body() for application/x-www-form-urlencoded preserves the order of array arguments",
        r#"assert(pdk.service.request.set_body({
    foo = "hello world",
    a = true,
    aa = { "zzz", true, true, "aaa" },
    zzz = "goodbye world",
}, "application/x-www-form-urlencoded"))"#,
        r#"body: {a&aa=zzz&aa&aa&aa=aaa&foo=hello%20world&zzz=goodbye%20world}
content-length: {59}
content-type: {application/x-www-form-urlencoded}
"#,
    )
    .upstream(r#"ngx.req.read_body()
local headers = ngx.req.get_headers()
ngx.say("body: {", tostring(ngx.req.get_body_data()), "}")
ngx.say("content-length: {", tostring(headers["Content-Length"]), "}")
ngx.say("content-type: {", tostring(headers["Content-Type"]), "}")"#)
    .method("POST")
    );
    // TEST 12: service.request.set_body() for application/x-www-form-urlencoded supports empty values
    b.push(Block::new(
        "TEST 12: service.request.set_body() for application/x-www-form-urlencoded supports empty values",
        r#"assert(pdk.service.request.set_body({
    aa = "",
}, "application/x-www-form-urlencoded"))"#,
        r#"body: {aa=}
content-length: {3}
content-type: {application/x-www-form-urlencoded}
"#,
    )
    .upstream(r#"ngx.req.read_body()
local headers = ngx.req.get_headers()
ngx.say("body: {", tostring(ngx.req.get_body_data()), "}")
ngx.say("content-length: {", tostring(headers["Content-Length"]), "}")
ngx.say("content-type: {", tostring(headers["Content-Type"]), "}")"#)
    .method("POST")
    );
    // TEST 13: service.request.set_body() for application/x-www-form-urlencoded accepts empty keys
    b.push(Block::new(
        "TEST 13: service.request.set_body() for application/x-www-form-urlencoded accepts empty keys",
        r#"assert(pdk.service.request.set_body({
    [""] = "aa",
}, "application/x-www-form-urlencoded"))"#,
        r#"body: {=aa}
content-length: {3}
content-type: {application/x-www-form-urlencoded}
"#,
    )
    .upstream(r#"ngx.req.read_body()
local headers = ngx.req.get_headers()
ngx.say("body: {", tostring(ngx.req.get_body_data()), "}")
ngx.say("content-length: {", tostring(headers["Content-Length"]), "}")
ngx.say("content-type: {", tostring(headers["Content-Type"]), "}")"#)
    .method("POST")
    );
    // TEST 14: service.request.set_body() for application/x-www-form-urlencoded urlencodes table keys
    b.push(Block::new(
        "TEST 14: service.request.set_body() for application/x-www-form-urlencoded urlencodes table keys",
        r#"assert(pdk.service.request.set_body({
    ["hello world"] = "aa",
}, "application/x-www-form-urlencoded"))"#,
        r#"body: {hello%20world=aa}
content-length: {16}
content-type: {application/x-www-form-urlencoded}
"#,
    )
    .upstream(r#"ngx.req.read_body()
local headers = ngx.req.get_headers()
ngx.say("body: {", tostring(ngx.req.get_body_data()), "}")
ngx.say("content-length: {", tostring(headers["Content-Length"]), "}")
ngx.say("content-type: {", tostring(headers["Content-Type"]), "}")"#)
    .method("POST")
    );
    // TEST 15: service.request.set_body() for application/x-www-form-urlencoded does not force a POST method
    b.push(Block::new(
        "TEST 15: service.request.set_body() for application/x-www-form-urlencoded does not force a POST method",
        r#"assert(pdk.service.request.set_body({
    foo = "bar",
}, "application/x-www-form-urlencoded"))"#,
        r#"method: GET
body: {foo=bar}
content-length: {7}
content-type: {application/x-www-form-urlencoded}
"#,
    )
    .upstream(r#"ngx.req.read_body()
local headers = ngx.req.get_headers()
ngx.say("method: ", ngx.req.get_method())
ngx.say("body: {", tostring(ngx.req.get_body_data()), "}")
ngx.say("content-length: {", tostring(headers["Content-Length"]), "}")
ngx.say("content-type: {", tostring(headers["Content-Type"]), "}")"#)
    );
    // TEST 16: service.request.set_body() for application/json errors if table values have bad types
    b.push(Block::new(
        "TEST 16: service.request.set_body() for application/json errors if table values have bad types",
        r#"pdk.service.request.set_header("Content-Type", "application/json")
local pok, err = pcall(pdk.service.request.set_body, {
    aaa = "foo",
    bbb = function() end,
    ccc = "bar",
})
ngx.say(err)"#,
        r#"Cannot serialise function: type not supported
"#,
    )
    .method("POST")
    );
    // TEST 17: service.request.set_body() for application/json errors if table keys have bad types
    b.push(Block::new(
        "TEST 17: service.request.set_body() for application/json errors if table keys have bad types",
        r#"pdk.service.request.set_header("Content-Type", "application/json")
local pok, err = pcall(pdk.service.request.set_body, {
    aaa = "foo",
    [true] = "what",
    ccc = "bar",
})
ngx.say(err)"#,
        r#"Cannot serialise boolean: table key must be a number or string
"#,
    )
    .method("POST")
    );
    // TEST 18: service.request.set_body() for application/json sets the Content-Type header
    b.push(
        Block::new(
            "TEST 18: service.request.set_body() for application/json sets the Content-Type header",
            r#"assert(pdk.service.request.set_body({}, "application/json"))"#,
            r#"content-type: {application/json}
"#,
        )
        .upstream(
            r#"local headers = ngx.req.get_headers()
ngx.say("content-type: {", tostring(headers["Content-Type"]), "}")"#,
        )
        .method("POST"),
    );
    // TEST 19: service.request.set_body() for application/json accepts an empty table
    b.push(
        Block::new(
            "TEST 19: service.request.set_body() for application/json accepts an empty table",
            r#"pdk.service.request.set_header("Content-Type", "application/json")
assert(pdk.service.request.set_body({}))"#,
            r#"body: {{}}
content-length: {2}
content-type: {application/json}
"#,
        )
        .upstream(
            r#"ngx.req.read_body()
local headers = ngx.req.get_headers()
ngx.say("body: {", tostring(ngx.req.get_body_data()), "}")
ngx.say("content-length: {", tostring(headers["Content-Length"]), "}")
ngx.say("content-type: {", tostring(headers["Content-Type"]), "}")"#,
        )
        .method("POST")
        .body(
            r#"
foo=hello%20world"#,
        ),
    );
    // TEST 20: service.request.set_body() for application/json replaces the received post args
    b.push(Block::new(
        "TEST 20: service.request.set_body() for application/json replaces the received post args",
        r#"assert(pdk.service.request.set_body({
    foo = "hello world"
}, "application/json"))"#,
        r#"body: {{"foo":"hello world"}}
content-length: {21}
content-type: {application/json}
"#,
    )
    .upstream(r#"ngx.req.read_body()
local headers = ngx.req.get_headers()
ngx.say("body: {", tostring(ngx.req.get_body_data()), "}")
ngx.say("content-length: {", tostring(headers["Content-Length"]), "}")
ngx.say("content-type: {", tostring(headers["Content-Type"]), "}")"#)
    .method("POST")
    .body(r#"
foo=bar"#)
    );
    // TEST 21: service.request.set_body() for application/json produces a deterministic lexicographical order
    b.push(Block::new(
        "TEST 21: service.request.set_body() for application/json produces a deterministic lexicographical order",
        r#"assert(pdk.service.request.set_body({
    foo = "hello world",
    a = true,
    aa = true,
    zzz = "goodbye world",
}, "application/json"))"#,
        r#"foo: "hello world"
a: true
aa: true
zzz: "goodbye world"
content-length: {62}
content-type: {application/json}
"#,
    )
    .upstream(r#"-- Adapted: `inspect` is not a module here; the values it prints.
local function inspect(v)
    if type(v) == "string" then return '"' .. v .. '"' end
    if type(v) == "table" then
        local parts = {}
        for i, x in ipairs(v) do parts[i] = inspect(x) end
        return "{ " .. table.concat(parts, ", ") .. " }"
    end
    return tostring(v)
end
local cjson = require "cjson"

ngx.req.read_body()

local headers = ngx.req.get_headers()

local body = ngx.req.get_body_data()
local json = cjson.decode(body)

ngx.say("foo: ", inspect(json.foo))
ngx.say("a: ", inspect(json.a))
ngx.say("aa: ", inspect(json.aa))
ngx.say("zzz: ", inspect(json.zzz))
ngx.say("content-length: {", tostring(headers["Content-Length"]), "}")
ngx.say("content-type: {", tostring(headers["Content-Type"]), "}")"#)
    .method("POST")
    );
    // TEST 22: service.request.set_body() for application/json preserves the order of array arguments
    b.push(Block::new(
        "TEST 22: service.request.set_body() for application/json preserves the order of array arguments",
        r#"assert(pdk.service.request.set_body({
    foo = "hello world",
    a = true,
    aa = { "zzz", true, true, "aaa" },
    zzz = "goodbye world",
}, "application/json"))"#,
        r#"foo: "hello world"
a: true
aa: { "zzz", true, true, "aaa" }
zzz: "goodbye world"
content-length: {81}
content-type: {application/json}
"#,
    )
    .upstream(r#"-- Adapted: `inspect` is not a module here; the values it prints.
local function inspect(v)
    if type(v) == "string" then return '"' .. v .. '"' end
    if type(v) == "table" then
        local parts = {}
        for i, x in ipairs(v) do parts[i] = inspect(x) end
        return "{ " .. table.concat(parts, ", ") .. " }"
    end
    return tostring(v)
end
local cjson = require "cjson"

ngx.req.read_body()

local headers = ngx.req.get_headers()
local body = ngx.req.get_body_data()
local json = cjson.decode(body)

ngx.say("foo: ", inspect(json.foo))
ngx.say("a: ", inspect(json.a))
ngx.say("aa: ", inspect(json.aa))
ngx.say("zzz: ", inspect(json.zzz))
ngx.say("content-length: {", tostring(headers["Content-Length"]), "}")
ngx.say("content-type: {", tostring(headers["Content-Type"]), "}")"#)
    .method("POST")
    );
    // TEST 23: service.request.set_body() for application/json supports empty values
    b.push(
        Block::new(
            "TEST 23: service.request.set_body() for application/json supports empty values",
            r#"assert(pdk.service.request.set_body({
    aa = "",
}, "application/json"))"#,
            r#"body: {{"aa":""}}
content-length: {9}
content-type: {application/json}
"#,
        )
        .upstream(
            r#"ngx.req.read_body()
local headers = ngx.req.get_headers()
ngx.say("body: {", tostring(ngx.req.get_body_data()), "}")
ngx.say("content-length: {", tostring(headers["Content-Length"]), "}")
ngx.say("content-type: {", tostring(headers["Content-Type"]), "}")"#,
        )
        .method("POST"),
    );
    // TEST 24: service.request.set_body() for application/json accepts empty keys
    b.push(
        Block::new(
            "TEST 24: service.request.set_body() for application/json accepts empty keys",
            r#"assert(pdk.service.request.set_body({
    [""] = "aa",
}, "application/json"))"#,
            r#"body: {{"":"aa"}}
content-length: {9}
content-type: {application/json}
"#,
        )
        .upstream(
            r#"ngx.req.read_body()
local headers = ngx.req.get_headers()
ngx.say("body: {", tostring(ngx.req.get_body_data()), "}")
ngx.say("content-length: {", tostring(headers["Content-Length"]), "}")
ngx.say("content-type: {", tostring(headers["Content-Type"]), "}")"#,
        )
        .method("POST"),
    );
    // TEST 25: service.request.set_body() for multipart/form-data can only store scalars in parts
    b.push(Block::new(
        "TEST 25: service.request.set_body() for multipart/form-data can only store scalars in parts",
        r#"local ok, err = pcall(pdk.service.request.set_body, {
    foo = "hello world",
    a = true,
    aa = { "zzz", true, true, "aaa" },
    zzz = "goodbye world",
}, "multipart/form-data")
ngx.say(err)"#,
        r#"invalid value "aa": got table, expected string, number or boolean
"#,
    )
    .method("POST")
    );
    // TEST 26: service.request.set_body() for multipart/form-data when mime given adds the boundary to the Content-Type
    b.push(Block::new(
        "TEST 26: service.request.set_body() for multipart/form-data when mime given adds the boundary to the Content-Type",
        r#"assert(pdk.service.request.set_body({
    foo = "hello world",
    zzz = "goodbye world",
}, "multipart/form-data"))"#,
        r#"boundary
foo: {hello world}
zzz: {goodbye world}
"#,
    )
    .upstream(r#"ngx.req.read_body()

local headers = ngx.req.get_headers()
local content_type = tostring(headers["Content-Type"])

-- Adapted: lua-multipart is not a module here; kong.request.get_body
-- reads the parts as it does.
local raw_body = tostring(ngx.req.get_body_data())
local mpvalues = kong.request.get_body()

ngx.say(content_type:match("(boundary)"))
ngx.say("foo: {", mpvalues.foo, "}")
ngx.say("zzz: {", mpvalues.zzz, "}")"#)
    .method("POST")
    );
    // TEST 27: service.request.set_body() for multipart/form-data when mime is not given reuses the boundary from the Content-Type
    b.push(Block::new(
        "TEST 27: service.request.set_body() for multipart/form-data when mime is not given reuses the boundary from the Content-Type",
        r#"assert(pdk.service.request.set_body({
    foo = "hello world",
    zzz = "goodbye world",
}))"#,
        r#"multipart/form-data; boundary=xxyyzz
--xxyyzz
Content-Disposition: form-data; name="foo"

hello world
--xxyyzz
Content-Disposition: form-data; name="zzz"

goodbye world
--xxyyzz--

foo: {hello world}
zzz: {goodbye world}
"#,
    )
    .upstream(r#"ngx.req.read_body()

local headers = ngx.req.get_headers()
local content_type = tostring(headers["Content-Type"])

-- Adapted: lua-multipart is not a module here; kong.request.get_body
-- reads the parts as it does.
local raw_body = tostring(ngx.req.get_body_data())
local mpvalues = kong.request.get_body()

ngx.say(content_type)
ngx.say((raw_body:gsub("\r", "")))
ngx.say("foo: {", mpvalues.foo, "}")
ngx.say("zzz: {", mpvalues.zzz, "}")"#)
    .method("POST")
    .header("Content-Type", "multipart/form-data; boundary=xxyyzz")
    .body(r#"
--xxyyzz
Content-Disposition: form-data; name="field1"

value1
--xxyyzz
Content-Disposition: form-data; name="field2"

value2
--xxyyzz--"#)
    );

    common::kong::run("t/01-pdk/06-service-request/07-set_body.t", gw, cases(b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_service_request_set_raw_body() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1: service.request.set_raw_body() errors if not a string
    b.push(Block::new(
        "TEST 1: service.request.set_raw_body() errors if not a string",
        r#"local pok, err = pcall(pdk.service.request.set_raw_body, 127001)
ngx.say(err)"#,
        r#"body must be a string
"#,
    ));
    // TEST 2: service.request.set_raw_body() errors if given no arguments
    b.push(Block::new(
        "TEST 2: service.request.set_raw_body() errors if given no arguments",
        r#"local pok, err = pcall(pdk.service.request.set_raw_body)
ngx.say(err)"#,
        r#"body must be a string
"#,
    ));
    // TEST 3: service.request.set_raw_body() accepts an empty string
    b.push(
        Block::new(
            "TEST 3: service.request.set_raw_body() accepts an empty string",
            r#"pdk.service.request.set_raw_body("")"#,
            r#"body: {nil}
"#,
        )
        .upstream(
            r#"ngx.req.read_body()
ngx.say("body: {", tostring(ngx.req.get_body_data()), "}")"#,
        ),
    );
    // TEST 4: service.request.set_raw_body() sets the body
    b.push(
        Block::new(
            "TEST 4: service.request.set_raw_body() sets the body",
            r#"pdk.service.request.set_raw_body("foo=bar&bla&baz=hello%20world")"#,
            r#"body: {foo=bar&bla&baz=hello%20world}
"#,
        )
        .upstream(
            r#"ngx.req.read_body()
ngx.say("body: {", tostring(ngx.req.get_body_data()), "}")"#,
        ),
    );
    // TEST 5: service.request.set_raw_body() sets a short body
    b.push(
        Block::new(
            "TEST 5: service.request.set_raw_body() sets a short body",
            r#"pdk.service.request.set_raw_body("ovo")"#,
            r#"body: {ovo}
"#,
        )
        .upstream(
            r#"ngx.req.read_body()
ngx.say("body: {", tostring(ngx.req.get_body_data()), "}")"#,
        ),
    );
    // TEST 6: service.request.set_raw_body() is 8-bit clean
    b.push(
        Block::new(
            "TEST 6: service.request.set_raw_body() is 8-bit clean",
            r#"local x = {}
for i = 0, 255 do
    x[i + 1] = string.char(i)
end
pdk.service.request.set_raw_body(table.concat(x))"#,
            r#"0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19
20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39
40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59
60 61 62 63 64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79
80 81 82 83 84 85 86 87 88 89 90 91 92 93 94 95 96 97 98 99
100 101 102 103 104 105 106 107 108 109 110 111 112 113 114 115 116 117 118 119
120 121 122 123 124 125 126 127 128 129 130 131 132 133 134 135 136 137 138 139
140 141 142 143 144 145 146 147 148 149 150 151 152 153 154 155 156 157 158 159
160 161 162 163 164 165 166 167 168 169 170 171 172 173 174 175 176 177 178 179
180 181 182 183 184 185 186 187 188 189 190 191 192 193 194 195 196 197 198 199
200 201 202 203 204 205 206 207 208 209 210 211 212 213 214 215 216 217 218 219
220 221 222 223 224 225 226 227 228 229 230 231 232 233 234 235 236 237 238 239
240 241 242 243 244 245 246 247 248 249 250 251 252 253 254 255
"#,
        )
        .upstream(
            r#"ngx.req.read_body()
local body = tostring(ngx.req.get_body_data())
local out = {}
local n = 1
for i = 1, #body do
    out[n] = string.byte(body, i, i)
    n = n + 1
    if n == 21 then
        ngx.say(table.concat(out, " "))
        n = 1
    end
end
ngx.say(table.concat(out, " ", 1, 16))"#,
        ),
    );
    // TEST 7: service.request.set_raw_body() replaces any existing body
    b.push(
        Block::new(
            "TEST 7: service.request.set_raw_body() replaces any existing body",
            r#"pdk.service.request.set_raw_body("I am another body")"#,
            r#"body: {I am another body}
"#,
        )
        .upstream(
            r#"ngx.req.read_body()
ngx.say("body: {", tostring(ngx.req.get_body_data()), "}")"#,
        )
        .method("POST")
        .body(
            r#"
I am a body"#,
        ),
    );
    let mut all = cases(b);
    all.push((
        "TEST 8: service.request.set_raw_body() has no size limits for sending".into(),
        Box::new(|gw| -> CaseFuture { Box::pin(set_raw_body_test_8(gw)) }),
    ));
    common::kong::run("t/01-pdk/06-service-request/13-set_raw_body.t", gw, all).await;
}

/// `13-set_raw_body.t` TEST 8, adapted: the upstream that reads the 10 MB
/// body is a plain HTTP server (a route of the gateway would refuse a body
/// that size for its own functions, as nginx's `client_max_body_size` would).
async fn set_raw_body_test_8(gw: Arc<Gateway>) {
    let up = common::echo_upstream("raw-body").await;
    let path = route_to(
        &gw,
        &format!("http://{up}"),
        json!({"access": [r#"kong.service.request.set_raw_body(("x"):rep(10000000))"#]}),
    )
    .await;
    let resp = send(&gw, "GET", "test", &path, None).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let echo = resp.json();
    assert_eq!(echo["body_len"], 10_000_000);
    assert_eq!(echo["headers"]["content-length"], "10000000");
}
