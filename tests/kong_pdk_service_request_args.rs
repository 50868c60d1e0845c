//! Kong's `kong.service.request.clear_query_arg` specs, ported block by block
//! (`tests/common/pdk.rs`), as `kong_pdk_service_request.rs` ports the
//! other setters; one gateway per spec file.
//!
//! | file | Kong's blocks | ported | passing | n/a |
//! |---|---|---|---|---|
//! | 14-clear_query_arg.t | 8 | 8 | 8 | 0 |

// One `b.push` per Kong block, in Kong's order.
#![allow(clippy::vec_init_then_push)]

mod common;

use common::pdk::{cases, unsandboxed, Block};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_service_request_clear_query_arg() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    // TEST 1: service.request.clear_query_arg() errors if arguments are not given
    b.push(Block::new(
        "TEST 1: service.request.clear_query_arg() errors if arguments are not given",
        r#"local pok, err = pcall(pdk.service.request.clear_query_arg)
ngx.say(err)"#,
        r#"query argument name must be a string
"#,
    ));
    // TEST 2: service.request.clear_query_arg() errors if query argument name is not a string
    b.push(Block::new(
        "TEST 2: service.request.clear_query_arg() errors if query argument name is not a string",
        r#"local pok, err = pcall(pdk.service.request.clear_query_arg, 127001)
ngx.say(err)"#,
        r#"query argument name must be a string
"#,
    ));
    // TEST 3: service.request.clear_query_arg() clears a given query argument
    b.push(
        Block::new(
            "TEST 3: service.request.clear_query_arg() clears a given query argument",
            r#"pdk.service.request.clear_query_arg("foo")"#,
            r#"foo: {nil}
"#,
        )
        .upstream(r#"ngx.say("foo: {" .. tostring(ngx.req.get_uri_args()["foo"]) .. "}")"#)
        .query(r#"?foo=bar"#),
    );
    // TEST 4: service.request.clear_query_arg() clears multiple given query arguments
    b.push(
        Block::new(
            "TEST 4: service.request.clear_query_arg() clears multiple given query arguments",
            r#"pdk.service.request.clear_query_arg("foo")"#,
            r#"foo: {nil}
"#,
        )
        .upstream(r#"ngx.say("foo: {" .. tostring(ngx.req.get_uri_args()["foo"]) .. "}")"#)
        .query(r#"?foo=bar&foo=baz"#),
    );
    // TEST 5: service.request.clear_query_arg() clears query arguments set via set_query
    b.push(
        Block::new(
            "TEST 5: service.request.clear_query_arg() clears query arguments set via set_query",
            r#"pdk.service.request.set_query({ foo = "bar" })
pdk.service.request.clear_query_arg("foo")"#,
            r#"foo: {nil}
"#,
        )
        .upstream(r#"ngx.say("foo: {" .. tostring(ngx.req.get_uri_args()["foo"]) .. "}")"#),
    );
    // TEST 6: service.request.clear_query_arg() clears query arguments set via set_raw_query
    b.push(Block::new(
        "TEST 6: service.request.clear_query_arg() clears query arguments set via set_raw_query",
        r#"pdk.service.request.set_raw_query("foo=bar")
pdk.service.request.clear_query_arg("foo")"#,
        r#"foo: {nil}
"#,
    )
    .upstream(r#"ngx.say("foo: {" .. tostring(ngx.req.get_uri_args()["foo"]) .. "}")"#)
    );
    // TEST 7: service.request.clear_query_arg() retains the order of query arguments
    b.push(
        Block::new(
            "TEST 7: service.request.clear_query_arg() retains the order of query arguments",
            r#"pdk.service.request.clear_query_arg("a")"#,
            r#"query: d=1&c=3&b=5&d=7
"#,
        )
        .upstream(r#"ngx.say("query: " .. tostring(ngx.var.args))"#)
        .query(r#"?a=0&d=1&a=2&c=3&a=4&b=5&a=6&d=7&a=8"#),
    );
    // TEST 8: service.request.clear_query_arg() uses %20 as space instead of +
    b.push(Block::new(
        "TEST 8: service.request.clear_query_arg() uses %20 as space instead of +",
        r#"pdk.service.request.clear_query_arg("a")"#,
        r#"query: c%20d=1%202&c%20d=3%20&b%20d=5&%20a%20=6%20%20%20&%20%20%20d=%20%20%207%20%20%20
"#,
    )
    .upstream(r#"ngx.say("query: " .. tostring(ngx.var.args))"#)
    .query(r#"?a=0&c+d=1+2&a=2&c%20d=3%20&a=4&b+d=5&%20a+=6+%20+&+%20+d=+%20+7%20++&a=8"#)
    );

    common::kong::run(
        "t/01-pdk/06-service-request/14-clear_query_arg.t",
        gw,
        cases(b),
    )
    .await;
}
