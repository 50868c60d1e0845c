//! Kong's `t/01-pdk/04-request/15-get_raw_body.t` and `16-get_body.t`,
//! ported block by block (`tests/common/pdk.rs`: each block's Lua is a
//! pre-function on its own route, one gateway per file).
//!
//! | file | Kong's blocks | ported | n/a |
//! |---|---|---|---|
//! | 15-get_raw_body.t | 8 | 8 | 0 |
//! | 16-get_body.t | 26 | 26  | 0 |
//!
//! Adapted, not narrowed: blocks 19 and 20 of `16-get_body.t` set the
//! body in `rewrite_by_lua_block` with `ngx.req.set_body_data`; here the
//! client sends that body. A body after `Content-Length: 0` (blocks 2 and
//! 17) is not sent, as nginx would not read it. The "body too big" cases
//! follow `client_body_buffer_size` (`8k`, Kong's default, in
//! `kong.configuration`).

// One `b.push` per Kong block, in Kong's order.
#![allow(clippy::vec_init_then_push)]

mod common;

use common::pdk::{cases, unsandboxed, Block};

/// `ngx.encode_args` of `arg-1 … arg-n = "test"`.
fn encoded_args(n: usize) -> String {
    (1..=n)
        .map(|i| format!("arg-{i}=test"))
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_get_raw_body() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1
    b.push(Block::new(
        "TEST 1: request.get_raw_body() returns empty strings for empty bodies",
        r#"ngx.say("body: '", pdk.request.get_raw_body(), "'")"#,
        r#"body: ''
"#,
    ));
    // TEST 2
    b.push(
        Block::new(
            "TEST 2: request.get_raw_body() returns empty string when Content-Length header is less than 1",
            r#"ngx.say("body: '", pdk.request.get_raw_body(), "'")"#,
            r#"body: ''
"#,
        )
        // "ignored" follows a Content-Length of 0: no body is sent.
        .method("POST")
        .header("Content-Length", "0"),
    );
    // TEST 3
    b.push(
        Block::new(
            "TEST 3: request.get_raw_body() returns body string when Content-Length header is greater than 0",
            r#"ngx.say("body: '", pdk.request.get_raw_body(), "'")"#,
            r#"body: 'not ignored'
"#,
        )
        .method("POST")
        .body(r#"not ignored"#)
        .header("Content-Length", "11"),
    );
    // TEST 4
    b.push(
        Block::new(
            "TEST 4: request.get_raw_body() returns the passed body for short bodies",
            r#"ngx.say("body: '", pdk.request.get_raw_body(), "'")"#,
            r#"body: 'potato'
"#,
        )
        .body(r#"potato"#),
    );
    // TEST 5
    b.push(
        Block::new(
            "TEST 5: request.get_raw_body() returns nil + error when the body is too big",
            r#"local body, err = pdk.request.get_raw_body()
if body then
  ngx.say("body: ", body)

else
  ngx.say("body err: ", err)
end"#,
            r#"body err: request body did not fit into client body buffer, consider raising 'client_body_buffer_size'
"#,
        )
        .body("a".repeat(20000)),
    );
    // TEST 6
    b.push(
        Block::new(
            "TEST 6: request.get_raw_body() returns correctly if max_allowed_file_size is larger than request",
            r#"local body, err = pdk.request.get_raw_body(20000)
if body then
  ngx.say("body length: ", #body)

else
  ngx.say("body err: ", err)
end"#,
            r#"body length: 20000
"#,
        )
        .body("a".repeat(20000)),
    );
    // TEST 7
    b.push(
        Block::new(
            "TEST 7: request.get_raw_body() returns error if max_allowed_file_size is smaller than request",
            r#"local body, err = pdk.request.get_raw_body(19999)
if body then
  ngx.say("body length: ", #body)

else
  ngx.say("body err: ", err)
end"#,
            r#"body err: request body file too big: 20000 > 19999
"#,
        )
        .body("a".repeat(20000)),
    );
    // TEST 8
    b.push(
        Block::new(
            "TEST 8: request.get_raw_body() returns correctly if max_allowed_file_size is equal to 0",
            r#"local body, err = pdk.request.get_raw_body(0)
if body then
  ngx.say("body length: ", #body)

else
  ngx.say("body err: ", err)
end"#,
            r#"body length: 20000
"#,
        )
        .body("a".repeat(20000)),
    );
    common::kong::run("t/01-pdk/04-request/15-get_raw_body.t", gw, cases(b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_get_body() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1
    b.push(
        Block::new(
            "TEST 1: request.get_body() returns arguments with application/x-www-form-urlencoded",
            r#"local args, err, mime = pdk.request.get_body()

ngx.say("type=", type(args))
ngx.say("test=", args.test)
ngx.say("mime=", mime)"#,
            r#"type=table
test=post
mime=application/x-www-form-urlencoded
"#,
        )
        .method("POST")
        .body(r#"test=post"#)
        .header("Content-Type", "application/x-www-form-urlencoded"),
    );
    // TEST 2
    b.push(
        Block::new(
            "TEST 2: request.get_body() returns arguments with application/json",
            r#"local args, err, mime = pdk.request.get_body()

ngx.say("type=", type(args))
ngx.say("test=", args.test)
ngx.say("mime=", mime)"#,
            r#"type=table
test=json
mime=application/json
"#,
        )
        .method("POST")
        .body(
            r#"{
  "test": "json"
}"#,
        )
        .header("Content-Type", "application/json"),
    );
    // TEST 3
    b.push(
        Block::new(
            "TEST 3: request.get_body() returns arguments with multipart/form-data",
            r#"local args, err, mime = pdk.request.get_body()

ngx.say("type=", type(args))
ngx.say("test=", args.test)
ngx.say("mime=", mime)"#,
            r#"type=table
test=form-data
mime=multipart/form-data
"#,
        )
        .method("POST")
        .body(
            r#"--AaB03x
Content-Disposition: form-data; name="test"

form-data
--AaB03x--"#,
        )
        .header("Content-Type", "multipart/form-data; boundary=AaB03x"),
    );
    // TEST 4
    b.push(
        Block::new(
            "TEST 4: request.get_body() returns error when missing content type header",
            r#"local _, err = pdk.request.get_body()

ngx.say("error: ", err)"#,
            r#"error: missing content type
"#,
        )
        .method("POST")
        .body(r#"test=post"#),
    );
    // TEST 5
    b.push(
        Block::new(
            "TEST 5: request.get_body() returns error when using unsupported content type",
            r#"local _, err = pdk.request.get_body()

ngx.say("error: ", err)"#,
            r#"error: unsupported content type 'application/x-unsupported'
"#,
        )
        .method("POST")
        .body(r#"test=post"#)
        .header("Content-Type", "application/x-unsupported"),
    );
    // TEST 6
    b.push(
        Block::new(
            "TEST 6: request.get_body() returns error with invalid json body",
            r#"local _, err = pdk.request.get_body()

ngx.say("error: ", err)"#,
            r#"error: invalid json body
"#,
        )
        .method("POST")
        .header("Content-Type", "application/json"),
    );
    // TEST 7
    b.push(
        Block::new(
            "TEST 7: request.get_body() returns error with null json body",
            r#"local json, err = pdk.request.get_body()

ngx.say("type: ", type(json))
ngx.say("error: ", err)"#,
            r#"type: nil
error: invalid json body
"#,
        )
        .method("POST")
        .body(r#"null"#)
        .header("Content-Type", "application/json"),
    );
    // TEST 8
    b.push(
        Block::new(
            "TEST 8: request.get_body() returns error with string json body",
            r#"local json, err = pdk.request.get_body()

ngx.say("type: ", type(json))
ngx.say("error: ", err)"#,
            r#"type: nil
error: invalid json body
"#,
        )
        .method("POST")
        .body(r#""test""#)
        .header("Content-Type", "application/json"),
    );
    // TEST 9
    b.push(
        Block::new(
            "TEST 9: request.get_body() returns error with number json body",
            r#"local json, err = pdk.request.get_body()

ngx.say("type: ", type(json))
ngx.say("error: ", err)"#,
            r#"type: nil
error: invalid json body
"#,
        )
        .method("POST")
        .body(r#"123"#)
        .header("Content-Type", "application/json"),
    );
    // TEST 10
    b.push(
        Block::new(
            "TEST 10: request.get_body() returns error with number (float) json body",
            r#"local json, err = pdk.request.get_body()

ngx.say("type: ", type(json))
ngx.say("error: ", err)"#,
            r#"type: nil
error: invalid json body
"#,
        )
        .method("POST")
        .body(r#"123.23"#)
        .header("Content-Type", "application/json"),
    );
    // TEST 11
    b.push(
        Block::new(
            "TEST 11: request.get_body() returns error with boolean true json body",
            r#"local json, err = pdk.request.get_body()

ngx.say("type: ", type(json))
ngx.say("error: ", err)"#,
            r#"type: nil
error: invalid json body
"#,
        )
        .method("POST")
        .body(r#"true"#)
        .header("Content-Type", "application/json"),
    );
    // TEST 12
    b.push(
        Block::new(
            "TEST 12: request.get_body() returns error with boolean false json body",
            r#"local json, err = pdk.request.get_body()

ngx.say("type: ", type(json))
ngx.say("error: ", err)"#,
            r#"type: nil
error: invalid json body
"#,
        )
        .method("POST")
        .body(r#"false"#)
        .header("Content-Type", "application/json"),
    );
    // TEST 13
    b.push(
        Block::new(
            "TEST 13: request.get_body() returns empty object json body as table without metatable",
            r#"local json, err = pdk.request.get_body()

ngx.say("type: ", type(json))
ngx.say("meta: ", type(getmetatable(json)))
ngx.say("error: ", type(err))"#,
            r#"type: table
meta: nil
error: nil
"#,
        )
        .method("POST")
        .body(r#"{}"#)
        .header("Content-Type", "application/json"),
    );
    // TEST 14: `needs_require_cjson` below.
    // TEST 15
    b.push(
        Block::new(
            "TEST 15: request.get_body() content type value is case-insensitive",
            r#"local args, err, mime = pdk.request.get_body()

ngx.say("type=", type(args))
ngx.say("test=", args.test)
ngx.say("mime=", mime)"#,
            r#"type=table
test=post
mime=application/x-www-form-urlencoded
"#,
        )
        .method("POST")
        .body(r#"test=post"#)
        .header("Content-Type", "APPLICATION/x-WWW-form-Urlencoded"),
    );
    // TEST 16
    b.push(
        Block::new(
            "TEST 16: request.get_body() with application/x-www-form-urlencoded returns request post arguments",
            r#"local args = pdk.request.get_body()
ngx.say("Foo: ", args.Foo)
ngx.say("Bar: ", args.Bar)
ngx.say("Accept: ", table.concat(args.Accept, ", "))"#,
            r#"Foo: Hello
Bar: World
Accept: application/json, text/html
"#,
        )
        .method("POST")
        .body(r#"Foo=Hello&Bar=World&Accept=application%2Fjson&Accept=text%2Fhtml"#)
        .header("Content-Type", "application/x-www-form-urlencoded"),
    );
    // TEST 17
    b.push(
        Block::new(
            "TEST 17: request.get_body() with application/x-www-form-urlencoded returns empty table with header Content-Length: 0",
            r#"ngx.say("next: ", next(pdk.request.get_body()))"#,
            r#"next: nil
"#,
        )
        // The body follows a Content-Length of 0: no body is sent.
        .method("POST")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Content-Length", "0"),
    );
    // TEST 18
    b.push(
        Block::new(
            "TEST 18: request.get_body() with application/x-www-form-urlencoded returns request post arguments case-sensitive",
            r#"local args = pdk.request.get_body()
ngx.say("Foo: ", args.Foo)
ngx.say("foo: ", args.foo)
ngx.say("fOO: ", args.fOO)"#,
            r#"Foo: Hello
foo: World
fOO: Too
"#,
        )
        .method("POST")
        .body(r#"Foo=Hello&foo=World&fOO=Too"#)
        .header("Content-Type", "application/x-www-form-urlencoded"),
    );
    // TEST 19
    b.push(
        Block::new(
            "TEST 19: request.get_body() with application/x-www-form-urlencoded fetches 100 post arguments by default",
            r#"local args = pdk.request.get_body("application/x-www-form-urlencoded")

local n = 0

for _ in pairs(args) do
    n = n + 1
end

ngx.say("number of query arguments fetched: ", n)"#,
            r#"number of query arguments fetched: 100
"#,
        )
        // Kong's rewrite_by_lua_block sets these as the body.
        .method("POST")
        .body(encoded_args(200)),
    );
    // TEST 20
    b.push(
        Block::new(
            "TEST 20: request.get_body() with application/x-www-form-urlencoded fetches max_args argument",
            r#"local headers = pdk.request.get_body("application/x-www-form-urlencoded", 60)

local n = 0

for _ in pairs(headers) do
    n = n + 1
end

ngx.say("number of query arguments fetched: ", n)"#,
            r#"number of query arguments fetched: 60
"#,
        )
        // Kong's rewrite_by_lua_block sets these as the body.
        .method("POST")
        .body(encoded_args(100)),
    );
    // TEST 21
    b.push(
        Block::new(
            "TEST 21: request.get_body() with application/x-www-form-urlencoded raises error when trying to fetch with max_args invalid value",
            r#"local _, err = pcall(pdk.request.get_body, "application/x-www-form-urlencoded", "invalid")

ngx.say("error: ", err)"#,
            r#"error: max_args must be a number
"#,
        )
        .method("POST"),
    );
    // TEST 22
    b.push(
        Block::new(
            "TEST 22: request.get_body() with application/x-www-form-urlencoded raises error when trying to fetch with max_args < 1",
            r#"local _, err = pcall(pdk.request.get_body, "application/x-www-form-urlencoded", 0)

ngx.say("error: ", err)"#,
            r#"error: max_args must be >= 1
"#,
        )
        .method("POST"),
    );
    // TEST 23
    b.push(
        Block::new(
            "TEST 23: request.get_body() with application/x-www-form-urlencoded raises error when trying to fetch with max_args > 1000",
            r#"local _, err = pcall(pdk.request.get_body, "application/x-www-form-urlencoded", 1001)

ngx.say("error: ", err)"#,
            r#"error: max_args must be <= 1000
"#,
        )
        .method("POST"),
    );
    // TEST 24
    b.push(
        Block::new(
            "TEST 24: request.get_body() with application/x-www-form-urlencoded returns nil + error when the body is too big",
            r#"local args, err = pdk.request.get_body()
ngx.say("error: ", err)"#,
            r#"error: request body in temp file not supported
"#,
        )
        .method("POST")
        .body("a=1".repeat(20000))
        .header("Content-Type", "application/x-www-form-urlencoded"),
    );
    // TEST 25
    b.push(
        Block::new(
            "TEST 25: request.get_body() returns arguments with multipart/form-data (same part name multiple times)",
            r#"local args, err, mime = pdk.request.get_body()

ngx.say("type=", type(args))
ngx.say("type=", type(args.test))
ngx.say("test=", args.test[1])
ngx.say("test=", args.test[2])
ngx.say("mime=", mime)"#,
            r#"type=table
type=table
test=form
test=data
mime=multipart/form-data
"#,
        )
        .method("POST")
        .body(r#"--AaB03x
Content-Disposition: form-data; name="test"

form
--AaB03x
Content-Disposition: form-data; name="test"

data
--AaB03x--"#)
        .header("Content-Type", "multipart/form-data; boundary=AaB03x"),
    );
    // TEST 26
    b.push(
        Block::new(
            "TEST 26: request.get_body() with application/json returns ok if max_allowed_file_size is set",
            r#"local args, err = pdk.request.get_body("application/json")
ngx.say("error: ", err)

local args, err = pdk.request.get_body("application/json", nil, 20008)
if err then
    ngx.say("error: ", err)
else
    ngx.say("parsed ok")
end"#,
            r#"error: request body did not fit into client body buffer, consider raising 'client_body_buffer_size'
parsed ok
"#,
        )
        .method("POST")
        .body(format!("{{\"b\":\"{}\"}}", "a".repeat(20000)))
        .header("Content-Type", "application/json"),
    );
    common::kong::run("t/01-pdk/04-request/16-get_body.t", gw, cases(b)).await;
}

/// `16-get_body.t` TEST 14 compares the metatable with
/// `require "cjson".array_mt`: the sandbox refuses `require "cjson"`
/// unless the node allows it (Kong's `untrusted_lua_sandbox_requires`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_get_body_array_mt() {
    let (gw, _tmp) = unsandboxed();
    let b = vec![Block::new(
        "TEST 14: request.get_body() returns empty array json body as table with metatable",
        r#"local json, err = pdk.request.get_body()

ngx.say("type: ", type(json))
ngx.say("meta: ", getmetatable(json) == require "cjson".array_mt and "correct" or "incorrect")
ngx.say("error: ", type(err))"#,
        r#"type: table
meta: correct
error: nil
"#,
    )
    .method("POST")
    .body(r#"[]"#)
    .header("Content-Type", "application/json")];
    common::kong::run("t/01-pdk/04-request/16-get_body.t", gw, cases(b)).await;
}
