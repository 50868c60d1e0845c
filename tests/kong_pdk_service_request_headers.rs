//! Kong's `kong.service.request` header setter specs, ported block by
//! block (`tests/common/pdk.rs`): each block's upstream location is a
//! route of the same gateway (its Lua a pre-function there), and the
//! block's `access_by_lua_block` runs on the route proxying to it; one
//! gateway per spec file. `Host` sets the upstream's Host (Kong's
//! `ngx.var.upstream_host`).
//!
//! | file | Kong's blocks | ported | passing | n/a |
//! |---|---|---|---|---|
//! | 09-set_header.t | 13 | 13 | 13 | 0 |
//! | 10-add_header.t | 15 | 15 | 15 | 0 |
//! | 11-clear_header.t | 6 | 6 | 6 | 0 |
//! | 12-set_headers.t | 18 | 18 | 18 | 0 |

// One `b.push` per Kong block, in Kong's order.
#![allow(clippy::vec_init_then_push)]

mod common;

use common::pdk::{cases, unsandboxed, Block};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_service_request_set_header() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1: service.request.set_header() errors if arguments are not given
    b.push(Block::new(
        "TEST 1: service.request.set_header() errors if arguments are not given",
        r#"local pok, err = pcall(pdk.service.request.set_header)
ngx.say(err)"#,
        r#"invalid header name "nil": got nil, expected string
"#,
    ));
    // TEST 2: service.request.set_header() errors if header is not a string
    b.push(Block::new(
        "TEST 2: service.request.set_header() errors if header is not a string",
        r#"local pok, err = pcall(pdk.service.request.set_header, 127001, "foo")
ngx.say(err)"#,
        r#"invalid header name "127001": got number, expected string
"#,
    ));
    // TEST 3: service.request.set_header() errors if value is of a bad type
    b.push(Block::new(
        "TEST 3: service.request.set_header() errors if value is of a bad type",
        r#"local pok, err = pcall(pdk.service.request.set_header, "foo", function() end)
ngx.say(err)"#,
        r#"invalid header value for "foo": got function, expected array of string, string, number or boolean
"#,
    )
    );
    // TEST 4: service.request.set_header() errors if value is not given
    b.push(Block::new(
        "TEST 4: service.request.set_header() errors if value is not given",
        r#"local pok, err = pcall(pdk.service.request.set_header, "foo")
ngx.say(err)"#,
        r#"invalid header value for "foo": got nil, expected array of string, string, number or boolean
"#,
    )
    );
    // TEST 5: service.request.set_header("Host") sets Host header sent to the service
    b.push(
        Block::new(
            r#"TEST 5: service.request.set_header("Host") sets Host header sent to the service"#,
            r#"ngx.ctx.balancer_data = {
    host = "foo.xyz"
}

pdk.service.request.set_header("Host", "example.com")"#,
            r#"host: example.com
"#,
        )
        .upstream(r#"ngx.say("host: ", ngx.req.get_headers()["Host"])"#),
    );
    // TEST 6: service.request.set_header() sets a header in the request to the service
    b.push(
        Block::new(
            "TEST 6: service.request.set_header() sets a header in the request to the service",
            r#"pdk.service.request.set_header("X-Foo", "hello world")"#,
            r#"X-Foo: {hello world}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. ngx.req.get_headers()["X-Foo"] .. "}")"#),
    );
    // TEST 7: service.request.set_header() sets a header given a number
    b.push(
        Block::new(
            "TEST 7: service.request.set_header() sets a header given a number",
            r#"pdk.service.request.set_header("X-Foo", 2.5)"#,
            r#"X-Foo: {2.5}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. ngx.req.get_headers()["X-Foo"] .. "}")"#),
    );
    // TEST 8: service.request.set_header() sets a header given a boolean
    b.push(
        Block::new(
            "TEST 8: service.request.set_header() sets a header given a boolean",
            r#"pdk.service.request.set_header("X-Foo", false)"#,
            r#"X-Foo: {false}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. ngx.req.get_headers()["X-Foo"] .. "}")"#),
    );
    // TEST 9: service.request.set_header() replaces all headers with that name if any exist
    b.push(
        Block::new(
            "TEST 9: service.request.set_header() replaces all headers with that name if any exist",
            r#"pdk.service.request.set_header("X-Foo", "hello world")"#,
            r#"X-Foo: hello world
"#,
        )
        .upstream(r#"ngx.say("X-Foo: ", tostring(ngx.req.get_headers()["X-Foo"]))"#)
        .header("X-Foo", "bla bla")
        .header("X-Foo", "baz"),
    );
    // TEST 10: service.request.set_header() can set to an empty string
    b.push(
        Block::new(
            "TEST 10: service.request.set_header() can set to an empty string",
            r#"pdk.service.request.set_header("X-Foo", "")"#,
            r#"X-Foo: {}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. ngx.req.get_headers()["X-Foo"] .. "}")"#),
    );
    // TEST 11: service.request.set_header() ignores spaces in the beginning of value
    b.push(
        Block::new(
            "TEST 11: service.request.set_header() ignores spaces in the beginning of value",
            r#"pdk.service.request.set_header("X-Foo", "     hello")"#,
            r#"X-Foo: {hello}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. ngx.req.get_headers()["X-Foo"] .. "}")"#),
    );
    // TEST 12: service.request.set_header() ignores spaces in the end of value
    b.push(
        Block::new(
            "TEST 12: service.request.set_header() ignores spaces in the end of value",
            r#"pdk.service.request.set_header("X-Foo", "hello       ")"#,
            r#"X-Foo: {hello}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. ngx.req.get_headers()["X-Foo"] .. "}")"#),
    );
    // TEST 13: service.request.set_header() can differentiate empty string from unset
    b.push(
        Block::new(
            "TEST 13: service.request.set_header() can differentiate empty string from unset",
            r#"pdk.service.request.set_header("X-Foo", "")"#,
            r#"X-Foo: {}
X-Bar: {nil}
"#,
        )
        .upstream(
            r#"local headers = ngx.req.get_headers()
ngx.say("X-Foo: {" .. headers["X-Foo"] .. "}")
ngx.say("X-Bar: {" .. tostring(headers["X-Bar"]) .. "}")"#,
        ),
    );

    common::kong::run("t/01-pdk/06-service-request/09-set_header.t", gw, cases(b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_service_request_add_header() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1: service.request.add_header() errors if arguments are not given
    b.push(Block::new(
        "TEST 1: service.request.add_header() errors if arguments are not given",
        r#"local pok, err = pcall(pdk.service.request.add_header)
ngx.say(err)"#,
        r#"invalid header name "nil": got nil, expected string
"#,
    ));
    // TEST 2: service.request.add_header() errors if header is not a string
    b.push(Block::new(
        "TEST 2: service.request.add_header() errors if header is not a string",
        r#"local pok, err = pcall(pdk.service.request.add_header, 127001, "foo")
ngx.say(err)"#,
        r#"invalid header name "127001": got number, expected string
"#,
    ));
    // TEST 3: service.request.add_header() errors if value is of a bad type
    b.push(Block::new(
        "TEST 3: service.request.add_header() errors if value is of a bad type",
        r#"local pok, err = pcall(pdk.service.request.add_header, "foo", function() end)
ngx.say(err)"#,
        r#"invalid header value for "foo": got function, expected array of string, string, number or boolean
"#,
    )
    );
    // TEST 4: service.request.add_header() errors if value is not given
    b.push(Block::new(
        "TEST 4: service.request.add_header() errors if value is not given",
        r#"local pok, err = pcall(pdk.service.request.add_header, "foo")
ngx.say(err)"#,
        r#"invalid header value for "foo": got nil, expected array of string, string, number or boolean
"#,
    )
    );
    // TEST 5: service.request.add_header("Host") sets Host header sent to the service
    b.push(
        Block::new(
            r#"TEST 5: service.request.add_header("Host") sets Host header sent to the service"#,
            r#"ngx.ctx.balancer_data = {
    host = "foo.xyz"
}

pdk.service.request.add_header("Host", "example.com")"#,
            r#"host: example.com
"#,
        )
        .upstream(r#"ngx.say("host: ", ngx.req.get_headers()["Host"])"#),
    );
    // TEST 6: service.request.add_header("Host") cannot add two hosts
    b.push(
        Block::new(
            r#"TEST 6: service.request.add_header("Host") cannot add two hosts"#,
            r#"ngx.ctx.balancer_data = {
    host = "foo.xyz"
}

pdk.service.request.add_header("Host", "example.com")

pdk.service.request.add_header("Host", "example2.com")"#,
            r#"host: example2.com
"#,
        )
        .upstream(r#"ngx.say("host: ", ngx.req.get_headers()["Host"])"#),
    );
    // TEST 7: service.request.add_header() sets a header in the request to the service
    b.push(
        Block::new(
            "TEST 7: service.request.add_header() sets a header in the request to the service",
            r#"pdk.service.request.add_header("X-Foo", "hello world")"#,
            r#"X-Foo: {hello world}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. ngx.req.get_headers()["X-Foo"] .. "}")"#),
    );
    // TEST 8: service.request.add_header() accepts a number
    b.push(
        Block::new(
            "TEST 8: service.request.add_header() accepts a number",
            r#"pdk.service.request.add_header("X-Foo", 2.5)"#,
            r#"X-Foo: {2.5}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. ngx.req.get_headers()["X-Foo"] .. "}")"#),
    );
    // TEST 9: service.request.add_header() accepts a boolean
    b.push(
        Block::new(
            "TEST 9: service.request.add_header() accepts a boolean",
            r#"pdk.service.request.add_header("X-Foo", false)"#,
            r#"X-Foo: {false}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. ngx.req.get_headers()["X-Foo"] .. "}")"#),
    );
    // TEST 10: service.request.add_header() adds two headers to an request to the service
    b.push(
        Block::new(
            "TEST 10: service.request.add_header() adds two headers to an request to the service",
            r#"pdk.service.request.add_header("X-Foo", "hello")

pdk.service.request.add_header("X-Foo", "world")"#,
            r#"X-Foo: {hello}
X-Foo: {world}
"#,
        )
        .upstream(
            r#"local foo_headers = ngx.req.get_headers()["X-Foo"]
for _, v in ipairs(foo_headers) do
    ngx.say("X-Foo: {" .. tostring(v) .. "}")
end"#,
        ),
    );
    // TEST 11: service.request.add_header() preserves headers with that name if any exist
    b.push(
        Block::new(
            "TEST 11: service.request.add_header() preserves headers with that name if any exist",
            r#"pdk.service.request.add_header("X-Foo", "hello world")"#,
            r#"X-Foo: {bla bla}
X-Foo: {baz}
X-Foo: {hello world}
"#,
        )
        .upstream(
            r#"local foo_headers = ngx.req.get_headers()["X-Foo"]
for _, v in ipairs(foo_headers) do
    ngx.say("X-Foo: {" .. tostring(v) .. "}")
end"#,
        )
        .header("X-Foo", "bla bla")
        .header("X-Foo", "baz"),
    );
    // TEST 12: service.request.add_header() can set to an empty string
    b.push(
        Block::new(
            "TEST 12: service.request.add_header() can set to an empty string",
            r#"pdk.service.request.add_header("X-Foo", "")"#,
            r#"X-Foo: {}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. ngx.req.get_headers()["X-Foo"] .. "}")"#),
    );
    // TEST 13: service.request.add_header() ignores spaces in the beginning of value
    b.push(
        Block::new(
            "TEST 13: service.request.add_header() ignores spaces in the beginning of value",
            r#"pdk.service.request.add_header("X-Foo", "     hello")"#,
            r#"X-Foo: {hello}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. ngx.req.get_headers()["X-Foo"] .. "}")"#),
    );
    // TEST 14: service.request.add_header() ignores spaces in the end of value
    b.push(
        Block::new(
            "TEST 14: service.request.add_header() ignores spaces in the end of value",
            r#"pdk.service.request.add_header("X-Foo", "hello       ")"#,
            r#"X-Foo: {hello}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. ngx.req.get_headers()["X-Foo"] .. "}")"#),
    );
    // TEST 15: service.request.add_header() can differentiate empty string from unset
    b.push(
        Block::new(
            "TEST 15: service.request.add_header() can differentiate empty string from unset",
            r#"pdk.service.request.add_header("X-Foo", "")"#,
            r#"X-Foo: {}
X-Bar: {nil}
"#,
        )
        .upstream(
            r#"local headers = ngx.req.get_headers()
ngx.say("X-Foo: {" .. headers["X-Foo"] .. "}")
ngx.say("X-Bar: {" .. tostring(headers["X-Bar"]) .. "}")"#,
        ),
    );

    common::kong::run("t/01-pdk/06-service-request/10-add_header.t", gw, cases(b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_service_request_clear_header() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1: service.request.clear_header() errors if arguments are not given
    b.push(Block::new(
        "TEST 1: service.request.clear_header() errors if arguments are not given",
        r#"local pok, err = pcall(pdk.service.request.clear_header)
ngx.say(err)"#,
        r#"header must be a string
"#,
    ));
    // TEST 2: service.request.clear_header() errors if header is not a string
    b.push(Block::new(
        "TEST 2: service.request.clear_header() errors if header is not a string",
        r#"local pok, err = pcall(pdk.service.request.clear_header, 127001, "foo")
ngx.say(err)"#,
        r#"header must be a string
"#,
    ));
    // TEST 3: service.request.clear_header() clears a given header
    b.push(
        Block::new(
            "TEST 3: service.request.clear_header() clears a given header",
            r#"pdk.service.request.clear_header("X-Foo")"#,
            r#"X-Foo: {nil}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. tostring(ngx.req.get_headers()["X-Foo"]) .. "}")"#)
        .header("X-Foo", "bar"),
    );
    // TEST 4: service.request.clear_header() clears multiple given headers
    b.push(
        Block::new(
            "TEST 4: service.request.clear_header() clears multiple given headers",
            r#"pdk.service.request.clear_header("X-Foo")"#,
            r#"X-Foo: {nil}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. tostring(ngx.req.get_headers()["X-Foo"]) .. "}")"#)
        .header("X-Foo", "hello")
        .header("X-Foo", "world"),
    );
    // TEST 5: service.request.clear_header() clears headers set via set_header
    b.push(
        Block::new(
            "TEST 5: service.request.clear_header() clears headers set via set_header",
            r#"pdk.service.request.set_header("X-Foo", "hello")

pdk.service.request.clear_header("X-Foo")"#,
            r#"X-Foo: {nil}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. tostring(ngx.req.get_headers()["X-Foo"]) .. "}")"#),
    );
    // TEST 6: service.request.clear_header() clears headers set via add_header
    b.push(
        Block::new(
            "TEST 6: service.request.clear_header() clears headers set via add_header",
            r#"pdk.service.request.set_header("X-Foo", "hello")

pdk.service.request.add_header("X-Foo", "world")

pdk.service.request.clear_header("X-Foo")"#,
            r#"X-Foo: {nil}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. tostring(ngx.req.get_headers()["X-Foo"]) .. "}")"#),
    );

    common::kong::run(
        "t/01-pdk/06-service-request/11-clear_header.t",
        gw,
        cases(b),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_service_request_set_headers() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1: service.request.set_headers() errors if arguments are not given
    b.push(Block::new(
        "TEST 1: service.request.set_headers() errors if arguments are not given",
        r#"local pok, err = pcall(pdk.service.request.set_headers)
ngx.say(err)"#,
        r#"headers must be a table
"#,
    ));
    // TEST 2: service.request.set_headers() errors if headers is not a table
    b.push(Block::new(
        "TEST 2: service.request.set_headers() errors if headers is not a table",
        r#"local pok, err = pcall(pdk.service.request.set_headers, 127001)
ngx.say(err)"#,
        r#"headers must be a table
"#,
    ));
    // TEST 3: service.request.set_headers() with "Host" sets Host header sent to the service
    b.push(Block::new(
        r#"TEST 3: service.request.set_headers() with "Host" sets Host header sent to the service"#,
        r#"ngx.ctx.balancer_data = {
    host = "foo.xyz"
}

pdk.service.request.set_headers({["Host"] = "example.com"})"#,
        r#"host: example.com
"#,
    )
    .upstream(r#"ngx.say("host: ", ngx.req.get_headers()["Host"])"#)
    );
    // TEST 4: service.request.set_headers() sets a header in the request to the service
    b.push(
        Block::new(
            "TEST 4: service.request.set_headers() sets a header in the request to the service",
            r#"pdk.service.request.set_headers({["X-Foo"] = "hello world"})"#,
            r#"X-Foo: {hello world}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. ngx.req.get_headers()["X-Foo"] .. "}")"#),
    );
    // TEST 5: service.request.set_headers() replaces all headers with that name if any exist
    b.push(Block::new(
        "TEST 5: service.request.set_headers() replaces all headers with that name if any exist",
        r#"pdk.service.request.set_headers({["X-Foo"] = "hello world"})"#,
        r#"X-Foo: hello world
"#,
    )
    .upstream(r#"ngx.say("X-Foo: ", tostring(ngx.req.get_headers()["X-Foo"]))"#)
    .header("X-Foo", "bla bla")
    .header("X-Foo", "baz")
    );
    // TEST 6: service.request.set_headers() can set to an empty string
    b.push(
        Block::new(
            "TEST 6: service.request.set_headers() can set to an empty string",
            r#"pdk.service.request.set_headers({["X-Foo"] = ""})"#,
            r#"X-Foo: {}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. ngx.req.get_headers()["X-Foo"] .. "}")"#),
    );
    // TEST 7: service.request.set_headers() ignores spaces in the beginning of value
    b.push(
        Block::new(
            "TEST 7: service.request.set_headers() ignores spaces in the beginning of value",
            r#"pdk.service.request.set_headers({["X-Foo"] = "     hello"})"#,
            r#"X-Foo: {hello}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. ngx.req.get_headers()["X-Foo"] .. "}")"#),
    );
    // TEST 8: service.request.set_headers() ignores spaces in the end of value
    b.push(
        Block::new(
            "TEST 8: service.request.set_headers() ignores spaces in the end of value",
            r#"pdk.service.request.set_headers({["X-Foo"] = "hello       "})"#,
            r#"X-Foo: {hello}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. ngx.req.get_headers()["X-Foo"] .. "}")"#),
    );
    // TEST 9: service.request.set_headers() accepts numbers
    b.push(
        Block::new(
            "TEST 9: service.request.set_headers() accepts numbers",
            r#"pdk.service.request.set_headers({["X-Foo"] = 2.5})"#,
            r#"X-Foo: {2.5}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. ngx.req.get_headers()["X-Foo"] .. "}")"#),
    );
    // TEST 10: service.request.set_headers() accepts booleans
    b.push(
        Block::new(
            "TEST 10: service.request.set_headers() accepts booleans",
            r#"pdk.service.request.set_headers({["X-Foo"] = false})"#,
            r#"X-Foo: {false}
"#,
        )
        .upstream(r#"ngx.say("X-Foo: {" .. ngx.req.get_headers()["X-Foo"] .. "}")"#),
    );
    // TEST 11: service.request.set_headers() can differentiate empty string from unset
    b.push(
        Block::new(
            "TEST 11: service.request.set_headers() can differentiate empty string from unset",
            r#"pdk.service.request.set_headers({["X-Foo"] = ""})"#,
            r#"X-Foo: {}
X-Bar: {nil}
"#,
        )
        .upstream(
            r#"local headers = ngx.req.get_headers()
ngx.say("X-Foo: {" .. headers["X-Foo"] .. "}")
ngx.say("X-Bar: {" .. tostring(headers["X-Bar"]) .. "}")"#,
        ),
    );
    // TEST 12: service.request.set_headers() errors if key is not a string
    b.push(Block::new(
        "TEST 12: service.request.set_headers() errors if key is not a string",
        r#"local pok, err = pcall(pdk.service.request.set_headers, {[2] = "foo"})
assert(not pok)
ngx.say(err)"#,
        r#"invalid header name "2": got number, expected string
"#,
    ));
    // TEST 13: service.request.set_headers() errors if value is of a bad type
    b.push(Block::new(
        "TEST 13: service.request.set_headers() errors if value is of a bad type",
        r#"local pok, err = pcall(pdk.service.request.set_headers, {["foo"] = function() end })
assert(not pok)
ngx.say(err)"#,
        r#"invalid header value for "foo": got function, expected string, number, boolean or array of strings
"#,
    )
    );
    // TEST 14: service.request.set_headers() errors if array element is of a bad type
    b.push(Block::new(
        "TEST 14: service.request.set_headers() errors if array element is of a bad type",
        r#"local pok, err = pcall(pdk.service.request.set_headers, {["foo"] = { {} }})
assert(not pok)
ngx.say(err)"#,
        r#"invalid header value in array "foo": got table, expected string
"#,
    ));
    // TEST 15: service.request.set_headers() ignores non-sequence elements in arrays
    b.push(
        Block::new(
            "TEST 15: service.request.set_headers() ignores non-sequence elements in arrays",
            r#"pdk.service.request.set_headers({
    ["X-Foo"] = {
        "hello",
        "world",
        ["foo"] = "bar",
    }
})"#,
            r#"X-Foo: {hello}
X-Foo: {world}
"#,
        )
        .upstream(
            r#"local foo_headers = ngx.req.get_headers()["X-Foo"]
for _, v in ipairs(foo_headers) do
    ngx.say("X-Foo: {" .. tostring(v) .. "}")
end"#,
        ),
    );
    // TEST 16: service.request.set_headers() removes headers when given an empty array
    b.push(
        Block::new(
            "TEST 16: service.request.set_headers() removes headers when given an empty array",
            r#"pdk.service.request.set_headers({
    ["X-Foo"] = {}
})"#,
            r#":)
"#,
        )
        .upstream(
            r#"local foo_headers = ngx.req.get_headers()["X-Foo"] or {}
for _, v in ipairs(foo_headers) do
    ngx.say("X-Foo: {" .. tostring(v) .. "}")
end
ngx.say(":)")"#,
        )
        .header("X-Foo", "hello")
        .header("X-Foo", "world"),
    );
    // TEST 17: service.request.set_headers() replaces every header of a given name
    b.push(
        Block::new(
            "TEST 17: service.request.set_headers() replaces every header of a given name",
            r#"pdk.service.request.set_headers({
    ["X-Foo"] = { "xxx", "yyy", "zzz" }
})"#,
            r#"X-Foo: {xxx}
X-Foo: {yyy}
X-Foo: {zzz}
"#,
        )
        .upstream(
            r#"local foo_headers = ngx.req.get_headers()["X-Foo"] or {}
for _, v in ipairs(foo_headers) do
    ngx.say("X-Foo: {" .. tostring(v) .. "}")
end"#,
        )
        .header("X-Foo", "aaa")
        .header("X-Foo", "bbb")
        .header("X-Foo", "ccc")
        .header("X-Foo", "ddd")
        .header("X-Foo", "eee"),
    );
    // TEST 18: service.request.set_headers() accepts an empty table
    b.push(Block::new(
        "TEST 18: service.request.set_headers() accepts an empty table",
        r#"pdk.service.request.set_headers({})
ngx.say("ok")"#,
        r#"ok
"#,
    ));

    common::kong::run("t/01-pdk/06-service-request/12-set_headers.t", gw, cases(b)).await;
}
