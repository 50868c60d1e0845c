//! Kong's `t/01-pdk/08-response/13-error.t`, ported block by block: each
//! block's Lua is a pre-function's access code on its own route of one
//! gateway (`tests/common/pdk.rs`), read as raw HTTP so the status, the
//! Content-Type and the body are checked as Kong's `response_headers_like`
//! and `response_body eval` regexes check them.
//!
//! | file | Kong's blocks | ported | passing | n/a |
//! |---|---|---|---|---|
//! | 13-error.t | 15 | 11 | 11 | 4 |
//!
//! Not applicable: TEST 11-14 map HTTP statuses to gRPC statuses for a
//! request faked as HTTP/2 `application/grpc` (stream/TLS: gRPC).
//! Adapted: Kong's blocks set `kong = { configuration = {} }` before
//! `PDK.new()` (a stand-in node configuration); the gateway's `kong` is
//! the real one. TEST 6's nginx `error_page` handler does not exist here:
//! the case checks that `error(500)` sends its own body.

mod common;

use std::sync::Arc;

use common::kong::{Case, CaseFuture};
use common::pdk::{request, route_with, Block};
use common::Gateway;

const F: &str = "t/01-pdk/08-response/13-error.t";

/// One block: access Lua, the request's Accept headers, and what Kong
/// wants: status, Content-Type and a regex the body matches.
struct ErrorBlock {
    title: &'static str,
    lua: &'static str,
    accept: &'static [&'static str],
    status: u16,
    content_type: &'static str,
    body: &'static str,
}

async fn run_error_block(gw: Arc<Gateway>, e: &'static ErrorBlock) {
    let mut b = Block::new(e.title, e.lua, "");
    for a in e.accept {
        b = b.header("Accept", a);
    }
    // The block returns the error itself: no closing `ngx.exit`.
    let function = format!("local pdk = kong\n{}", e.lua);
    let path = route_with(&gw, "access", &[function]).await;
    let gw2 = gw.clone();
    let resp = tokio::task::spawn_blocking(move || request(&gw2, &b, &path))
        .await
        .expect("request");
    assert_eq!(resp.status, e.status, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some(e.content_type));
    let re = regex::Regex::new(e.body).expect("regex");
    assert!(re.is_match(&resp.text()), "{:?} !~ {}", resp.text(), e.body);
}

const HTML_502: &str = r#"<!doctype html>
\s*<html>
\s*<head>
\s*<meta charset="utf\-8">
\s*<title>Error</title>
\s*</head>
\s*<body>
\s*<h1>Error</h1>
\s*<p>An invalid response was received from the upstream server.</p>
\s*<p>request_id: .*</p>
\s*</body>
\s*</html>"#;

static BLOCKS: &[ErrorBlock] = &[
    ErrorBlock {
        title: "TEST 1: service.response.error() use accept header",
        lua: "return pdk.response.error(502)",
        accept: &["application/json"],
        status: 502,
        content_type: "application/json; charset=utf-8",
        body: r#"\{
\s*"message":"An invalid response was received from the upstream server",
\s*"request_id":".*"
\}"#,
    },
    ErrorBlock {
        title: "TEST 2: service.response.error() fallbacks to json",
        lua: "return pdk.response.error(400)",
        accept: &[],
        status: 400,
        content_type: "application/json; charset=utf-8",
        body: r#"\{
\s*"message":"Bad request",
\s*"request_id":".*"
\}"#,
    },
    ErrorBlock {
        title: "TEST 3: service.response.error() fallbacks to json with unknown mime type, fix #7746",
        lua: "return pdk.response.error(400)",
        accept: &["json"],
        status: 400,
        content_type: "application/json; charset=utf-8",
        body: r#"\{
\s*"message":"Bad request",
\s*"request_id":".*"
\}"#,
    },
    ErrorBlock {
        title: "TEST 4: service.response.error() may ignore accept header",
        lua: r#"local headers = {
    ["Content-Type"] = "application/xml"
}
local msg = "this is fine"
return pdk.response.error(503, msg, headers)"#,
        accept: &["application/json"],
        status: 503,
        content_type: "application/xml",
        body: r#"<\?xml version="1\.0" encoding="UTF\-8"\?>\n<error>
\s*<message>this is fine</message>
\s*<requestid>.*</requestid>
</error>"#,
    },
    ErrorBlock {
        title: "TEST 5: service.response.error() respects accept header priorities",
        lua: "return pdk.response.error(502)",
        accept: &[
            "text/plain;q=0.3, text/html;q=0.7, text/html;level=1, text/html;level=2;q=0.4, */*;q=0.5",
        ],
        status: 502,
        content_type: "text/html; charset=utf-8",
        body: HTML_502,
    },
    ErrorBlock {
        title: "TEST 6: service.response.error() has higher priority than handle_errors",
        lua: "return pdk.response.error(500)",
        accept: &[],
        status: 500,
        content_type: "application/json; charset=utf-8",
        body: r#"\{
\s*"message":"An unexpected error occurred",
\s*"request_id":".*"
\}"#,
    },
    ErrorBlock {
        title: "TEST 7: service.response.error() formats default template",
        lua: r#"return pdk.response.error(419, "I'm not a teapot")"#,
        accept: &["application/json"],
        status: 419,
        content_type: "application/json; charset=utf-8",
        body: r#"\{
\s*"message":"I'm not a teapot",
\s*"request_id":".*"
\}"#,
    },
    ErrorBlock {
        title: "TEST 8: service.response.error() overrides default message",
        lua: r#"return pdk.response.error(500, "oh no")"#,
        accept: &["application/json"],
        status: 500,
        content_type: "application/json; charset=utf-8",
        body: r#"\{
\s*"message":"oh no",
\s*"request_id":".*"
\}"#,
    },
    ErrorBlock {
        title: "TEST 9: service.response.error() overrides default message with a table entry",
        lua: r#"return pdk.response.error(502, { ["a field"] = "not a default message" })"#,
        accept: &["application/xml"],
        status: 502,
        content_type: "application/xml; charset=utf-8",
        body: r#"<\?xml version="1\.0" encoding="UTF\-8"\?>\n<error>
\s*<message>\{"a field":"not a default message"\}</message>
\s*<requestid>.*</requestid>
</error>"#,
    },
    ErrorBlock {
        title: r#"TEST 10: service.response.error() use accept header "*" mime sub-type"#,
        lua: "return pdk.response.error(410)",
        accept: &["text/*"],
        status: 410,
        content_type: "text/plain; charset=utf-8",
        body: r#"Gone
request_id:.*"#,
    },
    ErrorBlock {
        title: "TEST 15: service.response.error() honors values of multiple Accept headers",
        lua: "return pdk.response.error(502)",
        accept: &[
            "text/plain;q=0.2, text/*;q=0.1",
            "text/css;q=0.7, text/html;q=0.9, */*;q=0.5",
            "application/xml;q=0.2, application/json;q=0.3",
        ],
        status: 502,
        content_type: "text/html; charset=utf-8",
        body: HTML_502,
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_response_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::spawn_with(tmp.path(), 1, &[], &[]);
    let cases: Vec<Case> = BLOCKS
        .iter()
        .map(|e| {
            let case: Box<dyn Fn(Arc<Gateway>) -> CaseFuture + Send> =
                Box::new(move |gw| -> CaseFuture { Box::pin(run_error_block(gw, e)) });
            (e.title.to_string(), case)
        })
        .collect();
    common::kong::run(F, gw, cases).await;
}
