//! Kong's `kong.service.request` specs for the request line, ported block
//! by block (`tests/common/pdk.rs`): each block's upstream location is a
//! route of the same gateway (its Lua a pre-function there), and the
//! block's `access_by_lua_block` / `rewrite_by_lua_block` run on the
//! route proxying to it; one gateway per spec file. Kong runs `rewrite`
//! for global plugins only, so a `rewrite` block is the global
//! pre-function's, for its route's path.
//!
//! | file | Kong's blocks | ported | passing | n/a |
//! |---|---|---|---|---|
//! | 04-set_path.t | 6 | 6 | 6 | 0 |
//! | 05-set_raw_query.t | 5 | 5 | 5 | 0 |
//! | 06-set_method.t | 19 | 19 | 19 | 0 |
//! | 08-set_query.t | 12 | 12 | 12 | 0 |
//!
//! Adapted (the upstream's side only): 06-set_method.t TEST 6 (Kong's
//! upstream logs the method of a HEAD request; here it answers 500 to any
//! other method) and TEST 19 (Kong's upstream is nginx, which refuses
//! TRACE with 405; here the upstream shows the method it got).

// One `b.push` per Kong block, in Kong's order.
#![allow(clippy::vec_init_then_push)]

mod common;

use common::pdk::{cases, unsandboxed, Block};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_service_request_set_path() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1: service.request.set_path() errors if not a string
    b.push(Block::new(
        "TEST 1: service.request.set_path() errors if not a string",
        r#"local pok, err = pcall(pdk.service.request.set_path, 127001)
ngx.say(err)"#,
        r#"path must be a string
"#,
    ));
    // TEST 2: service.request.set_path() errors if path doesn't start with "/"
    b.push(Block::new(
        r#"TEST 2: service.request.set_path() errors if path doesn't start with "/""#,
        r#"local pok, err = pcall(pdk.service.request.set_path, "foo")

ngx.say(tostring(pok))
ngx.say(err)"#,
        r#"false
path must start with /
"#,
    ));
    // TEST 3: service.request.set_path() works from access phase
    b.push(
        Block::new(
            "TEST 3: service.request.set_path() works from access phase",
            r#"pdk.service.request.set_path("/foo")"#,
            r#"this is /foo
"#,
        )
        .upstream(r#"ngx.say("this is /foo")"#)
        .upstream_at(r#"/foo"#),
    );
    // TEST 4: service.request.set_path() works from rewrite phase
    b.push(
        Block::new(
            "TEST 4: service.request.set_path() works from rewrite phase",
            r#"pdk.service.request.set_path("/foo")"#,
            r#"this is /foo
"#,
        )
        .phase("rewrite")
        .upstream(r#"ngx.say("this is /foo")"#)
        .upstream_at(r#"/foo"#),
    );
    // TEST 5: service.request.set_path() escapes UTF-8 characters
    b.push(
        Block::new(
            "TEST 5: service.request.set_path() escapes UTF-8 characters",
            r#"pdk.service.request.set_path("/foó/😀")"#,
            r#"this works!
"#,
        )
        .phase("rewrite")
        .upstream(r#"ngx.say("this works!")"#)
        .upstream_at(r#"/foó/😀"#),
    );
    // TEST 6: service.request.set_path() does not touch reserved characters
    b.push(
        Block::new(
            "TEST 6: service.request.set_path() does not touch reserved characters",
            r#"pdk.service.request.set_path("/fo%6F")"#,
            r#"this works!
"#,
        )
        .phase("rewrite")
        .upstream(r#"ngx.say("this works!")"#)
        .upstream_at(r#"/foo"#),
    );

    common::kong::run("t/01-pdk/06-service-request/04-set_path.t", gw, cases(b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_service_request_set_raw_query() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1: service.request.set_raw_query() errors if not a string
    b.push(Block::new(
        "TEST 1: service.request.set_raw_query() errors if not a string",
        r#"local pok, err = pcall(pdk.service.request.set_raw_query, 127001)
ngx.say(err)"#,
        r#"query must be a string
"#,
    ));
    // TEST 2: service.request.set_raw_query() errors if given no arguments
    b.push(Block::new(
        "TEST 2: service.request.set_raw_query() errors if given no arguments",
        r#"local pok, err = pcall(pdk.service.request.set_raw_query)
ngx.say(err)"#,
        r#"query must be a string
"#,
    ));
    // TEST 3: service.request.set_raw_query() accepts an empty string
    b.push(
        Block::new(
            "TEST 3: service.request.set_raw_query() accepts an empty string",
            r#"pdk.service.request.set_raw_query("")"#,
            r#"query: {nil}
"#,
        )
        .upstream(r#"ngx.say("query: {", tostring(ngx.var.args), "}")"#),
    );
    // TEST 4: service.request.set_raw_query() sets the query string
    b.push(
        Block::new(
            "TEST 4: service.request.set_raw_query() sets the query string",
            r#"pdk.service.request.set_raw_query("foo=bar&bla&baz=hello%20world")"#,
            r#"query: {foo=bar&bla&baz=hello%20world}
"#,
        )
        .upstream(r#"ngx.say("query: {", tostring(ngx.var.args), "}")"#),
    );
    // TEST 5: service.request.set_raw_query() replaces any existing query string
    b.push(
        Block::new(
            "TEST 5: service.request.set_raw_query() replaces any existing query string",
            r#"pdk.service.request.set_raw_query("foo=bar&bla&baz=hello%20world")"#,
            r#"query: {foo=bar&bla&baz=hello%20world}
"#,
        )
        .upstream(r#"ngx.say("query: {", tostring(ngx.var.args), "}")"#)
        .query(r#"?bla&baz=hello%20mars&something_else=is_set"#),
    );

    common::kong::run(
        "t/01-pdk/06-service-request/05-set_raw_query.t",
        gw,
        cases(b),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_service_request_set_method() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1: service.request.set_method() errors if not a string
    b.push(Block::new(
        "TEST 1: service.request.set_method() errors if not a string",
        r#"local pok, err = pcall(pdk.service.request.set_method, 127001)
ngx.say(err)"#,
        r#"method must be a string
"#,
    ));
    // TEST 2: service.request.set_method() errors if given no arguments
    b.push(Block::new(
        "TEST 2: service.request.set_method() errors if given no arguments",
        r#"local pok, err = pcall(pdk.service.request.set_method)
ngx.say(err)"#,
        r#"method must be a string
"#,
    ));
    // TEST 3: service.request.set_method() fails if given an invalid method
    b.push(Block::new(
        "TEST 3: service.request.set_method() fails if given an invalid method",
        r#"local pok, err = pcall(pdk.service.request.set_method, "FOO")
ngx.say(err)"#,
        r#"invalid method: FOO
"#,
    ));
    // TEST 4: service.request.set_method() demands uppercase methods
    b.push(Block::new(
        "TEST 4: service.request.set_method() demands uppercase methods",
        r#"local pok, err = pcall(pdk.service.request.set_method, "get")
ngx.say(err)"#,
        r#"invalid method: get
"#,
    ));
    // TEST 5: service.request.set_method() sets the request method to GET
    b.push(
        Block::new(
            "TEST 5: service.request.set_method() sets the request method to GET",
            r#"pdk.service.request.set_method("GET")"#,
            r#"method: GET
"#,
        )
        .upstream(r#"ngx.say("method: ", ngx.req.get_method())"#),
    );
    // TEST 6: service.request.set_method() sets the request method to HEAD
    b.push(
        Block::new(
            "TEST 6: service.request.set_method() sets the request method to HEAD",
            r#"pdk.service.request.set_method("HEAD")"#,
            r#""#,
        )
        // Adapted: Kong's upstream logs the method; a HEAD answer has no
        // body, so here any other method is a 500.
        .upstream(
            r#"if ngx.req.get_method() ~= "HEAD" then
    return ngx.exit(500)
end"#,
        ),
    );
    // TEST 7: service.request.set_method() sets the request method to PUT
    b.push(
        Block::new(
            "TEST 7: service.request.set_method() sets the request method to PUT",
            r#"pdk.service.request.set_method("PUT")"#,
            r#"method: PUT
"#,
        )
        .upstream(r#"ngx.say("method: ", ngx.req.get_method())"#),
    );
    // TEST 8: service.request.set_method() sets the request method to POST
    b.push(
        Block::new(
            "TEST 8: service.request.set_method() sets the request method to POST",
            r#"pdk.service.request.set_method("POST")"#,
            r#"method: POST
"#,
        )
        .upstream(r#"ngx.say("method: ", ngx.req.get_method())"#),
    );
    // TEST 9: service.request.set_method() sets the request method to DELETE
    b.push(
        Block::new(
            "TEST 9: service.request.set_method() sets the request method to DELETE",
            r#"pdk.service.request.set_method("DELETE")"#,
            r#"method: DELETE
"#,
        )
        .upstream(r#"ngx.say("method: ", ngx.req.get_method())"#),
    );
    // TEST 10: service.request.set_method() sets the request method to OPTIONS
    b.push(
        Block::new(
            "TEST 10: service.request.set_method() sets the request method to OPTIONS",
            r#"pdk.service.request.set_method("OPTIONS")"#,
            r#"method: OPTIONS
"#,
        )
        .upstream(r#"ngx.say("method: ", ngx.req.get_method())"#),
    );
    // TEST 11: service.request.set_method() sets the request method to MKCOL
    b.push(
        Block::new(
            "TEST 11: service.request.set_method() sets the request method to MKCOL",
            r#"pdk.service.request.set_method("MKCOL")"#,
            r#"method: MKCOL
"#,
        )
        .upstream(r#"ngx.say("method: ", ngx.req.get_method())"#),
    );
    // TEST 12: service.request.set_method() sets the request method to COPY
    b.push(
        Block::new(
            "TEST 12: service.request.set_method() sets the request method to COPY",
            r#"pdk.service.request.set_method("COPY")"#,
            r#"method: COPY
"#,
        )
        .upstream(r#"ngx.say("method: ", ngx.req.get_method())"#),
    );
    // TEST 13: service.request.set_method() sets the request method to MOVE
    b.push(
        Block::new(
            "TEST 13: service.request.set_method() sets the request method to MOVE",
            r#"pdk.service.request.set_method("MOVE")"#,
            r#"method: MOVE
"#,
        )
        .upstream(r#"ngx.say("method: ", ngx.req.get_method())"#),
    );
    // TEST 14: service.request.set_method() sets the request method to PROPFIND
    b.push(
        Block::new(
            "TEST 14: service.request.set_method() sets the request method to PROPFIND",
            r#"pdk.service.request.set_method("PROPFIND")"#,
            r#"method: PROPFIND
"#,
        )
        .upstream(r#"ngx.say("method: ", ngx.req.get_method())"#),
    );
    // TEST 15: service.request.set_method() sets the request method to PROPPATCH
    b.push(
        Block::new(
            "TEST 15: service.request.set_method() sets the request method to PROPPATCH",
            r#"pdk.service.request.set_method("PROPPATCH")"#,
            r#"method: PROPPATCH
"#,
        )
        .upstream(r#"ngx.say("method: ", ngx.req.get_method())"#),
    );
    // TEST 16: service.request.set_method() sets the request method to LOCK
    b.push(
        Block::new(
            "TEST 16: service.request.set_method() sets the request method to LOCK",
            r#"pdk.service.request.set_method("LOCK")"#,
            r#"method: LOCK
"#,
        )
        .upstream(r#"ngx.say("method: ", ngx.req.get_method())"#),
    );
    // TEST 17: service.request.set_method() sets the request method to UNLOCK
    b.push(
        Block::new(
            "TEST 17: service.request.set_method() sets the request method to UNLOCK",
            r#"pdk.service.request.set_method("UNLOCK")"#,
            r#"method: UNLOCK
"#,
        )
        .upstream(r#"ngx.say("method: ", ngx.req.get_method())"#),
    );
    // TEST 18: service.request.set_method() sets the request method to PATCH
    b.push(
        Block::new(
            "TEST 18: service.request.set_method() sets the request method to PATCH",
            r#"pdk.service.request.set_method("PATCH")"#,
            r#"method: PATCH
"#,
        )
        .upstream(r#"ngx.say("method: ", ngx.req.get_method())"#),
    );
    // TEST 19: service.request.set_method() sets the request method to TRACE (for which Nginx always returns 405)
    b.push(Block::new(
        "TEST 19: service.request.set_method() sets the request method to TRACE (for which Nginx always returns 405)",
        r#"pdk.service.request.set_method("TRACE")"#,
        // Adapted: Kong's upstream is nginx, which answers TRACE with 405;
        // the upstream here is a route of the gateway, which shows the
        // method it got.
        r#"method: TRACE
"#,
    )
    .upstream(r#"ngx.say("method: ", ngx.req.get_method())"#)
    );

    common::kong::run("t/01-pdk/06-service-request/06-set_method.t", gw, cases(b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_service_request_set_query() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1: service.request.set_query() errors if not a table
    b.push(Block::new(
        "TEST 1: service.request.set_query() errors if not a table",
        r#"local pok, err = pcall(pdk.service.request.set_query, 127001)
ngx.say(err)"#,
        r#"args must be a table
"#,
    ));
    // TEST 2: service.request.set_query() errors if given no arguments
    b.push(Block::new(
        "TEST 2: service.request.set_query() errors if given no arguments",
        r#"local pok, err = pcall(pdk.service.request.set_query)
ngx.say(err)"#,
        r#"args must be a table
"#,
    ));
    // TEST 3: service.request.set_query() errors if table values have bad types
    b.push(
        Block::new(
            "TEST 3: service.request.set_query() errors if table values have bad types",
            r#"local pok, err = pcall(pdk.service.request.set_query, {
    aaa = "foo",
    bbb = function() end,
    ccc = "bar",
})
ngx.say(err)"#,
            r#"attempt to use function as query arg value
"#,
        )
        .method("POST"),
    );
    // TEST 4: service.request.set_query() errors if table keys have bad types
    b.push(
        Block::new(
            "TEST 4: service.request.set_query() errors if table keys have bad types",
            r#"local pok, err = pcall(pdk.service.request.set_query, {
    aaa = "foo",
    [true] = "what",
    ccc = "bar",
})
ngx.say(err)"#,
            r#"arg keys must be strings
"#,
        )
        .method("POST"),
    );
    // TEST 5: service.request.set_query() accepts an empty table
    b.push(
        Block::new(
            "TEST 5: service.request.set_query() accepts an empty table",
            r#"pdk.service.request.set_query({})"#,
            r#"query: {nil}
"#,
        )
        .upstream(r#"ngx.say("query: {", ngx.var.args, "}")"#),
    );
    // TEST 6: service.request.set_query() replaces the received post args
    b.push(
        Block::new(
            "TEST 6: service.request.set_query() replaces the received post args",
            r#"pdk.service.request.set_query({
    foo = "hello world"
})"#,
            r#"query: {foo=hello%20world}
"#,
        )
        .upstream(r#"ngx.say("query: {", ngx.var.args, "}")"#)
        .query(r#"?foo=bar"#),
    );
    // TEST 7: service.request.set_query() urlencodes table values
    b.push(
        Block::new(
            "TEST 7: service.request.set_query() urlencodes table values",
            r#"pdk.service.request.set_query({
    foo = "hello world"
})"#,
            r#"query: {foo=hello%20world}
"#,
        )
        .upstream(r#"ngx.say("query: {", ngx.var.args, "}")"#)
        .method("POST"),
    );
    // TEST 8: service.request.set_query() produces a deterministic lexicographical order
    b.push(
        Block::new(
            "TEST 8: service.request.set_query() produces a deterministic lexicographical order",
            r#"pdk.service.request.set_query({
    foo = "hello world",
    a = true,
    aa = true,
    zzz = "goodbye world",
})"#,
            r#"query: {a&aa&foo=hello%20world&zzz=goodbye%20world}
"#,
        )
        .upstream(r#"ngx.say("query: {", ngx.var.args, "}")"#)
        .method("POST"),
    );
    // TEST 9: service.request.set_query() preserves the order of array arguments
    b.push(
        Block::new(
            "TEST 9: service.request.set_query() preserves the order of array arguments",
            r#"pdk.service.request.set_query({
    foo = "hello world",
    a = true,
    aa = { "zzz", true, true, "aaa" },
    zzz = "goodbye world",
})"#,
            r#"query: {a&aa=zzz&aa&aa&aa=aaa&foo=hello%20world&zzz=goodbye%20world}
"#,
        )
        .upstream(r#"ngx.say("query: {", ngx.var.args, "}")"#)
        .method("POST"),
    );
    // TEST 10: service.request.set_query() supports empty values
    b.push(
        Block::new(
            "TEST 10: service.request.set_query() supports empty values",
            r#"pdk.service.request.set_query({
    aa = "",
})"#,
            r#"query: {aa=}
"#,
        )
        .upstream(r#"ngx.say("query: {", ngx.var.args, "}")"#)
        .method("POST"),
    );
    // TEST 11: service.request.set_query() accepts empty keys
    b.push(
        Block::new(
            "TEST 11: service.request.set_query() accepts empty keys",
            r#"pdk.service.request.set_query({
    [""] = "aa",
})"#,
            r#"query: {=aa}
"#,
        )
        .upstream(r#"ngx.say("query: {", ngx.var.args, "}")"#)
        .method("POST"),
    );
    // TEST 12: service.request.set_query() urlencodes table keys
    b.push(
        Block::new(
            "TEST 12: service.request.set_query() urlencodes table keys",
            r#"pdk.service.request.set_query({
    ["hello world"] = "aa",
})"#,
            r#"query: {hello%20world=aa}
"#,
        )
        .upstream(r#"ngx.say("query: {", ngx.var.args, "}")"#)
        .method("POST"),
    );

    common::kong::run("t/01-pdk/06-service-request/08-set_query.t", gw, cases(b)).await;
}
