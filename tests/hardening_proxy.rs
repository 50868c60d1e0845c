//! Attacks on the proxy, each performed against the real binary (issue 6):
//! a function author smuggling a request or breaking framing, an upstream
//! poisoning the pool or closing idle connections, slow and malformed
//! clients. Each test fails on the code before its fix.

mod common;

use std::net::SocketAddr;

use common::*;
use serde_json::{json, Value};

/// A service `name` on `up`, a route `/name`, and a pre-function plugin on
/// that route running `code` in `phase`.
async fn function_route(gw: &Gateway, up: SocketAddr, name: &str, phase: &str, code: &str) {
    gw.service(name, &format!("http://{up}"), json!({})).await;
    gw.route(name, json!({"paths": [format!("/{name}")]})).await;
    gw.admin(
        reqwest::Method::POST,
        &format!("/services/{name}/plugins"),
        json!({"name": "pre-function", "config": {phase: [code]}}),
    )
    .await;
}

async fn get_status_json(url: &str) -> (u16, Value) {
    let r = client().get(url).send().await.expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Item 2: whatever a function writes into the request line or headers
/// cannot become a second request on the pooled upstream connection, whose
/// answer another client on another route would then receive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_cannot_smuggle_requests_upstream() {
    let up = echo_upstream("up").await;
    // One worker: every request shares one upstream pool.
    let gw = Gateway::start_with_workers(1);
    gw.service("victim", &format!("http://{up}"), json!({}))
        .await;
    gw.route("victim", json!({"paths": ["/victim"]})).await;
    // The smuggled request is answered late (the echo upstream waits on
    // `/slow`), after the connection went back to the pool.
    let smuggled =
        "a=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /slow/smuggled HTTP/1.1\r\nHost: x\r\nX-Pad: ";
    let attacks: [String; 9] = [
        format!("kong.service.request.set_raw_query({smuggled:?})"),
        format!("ngx.var.args = {smuggled:?}"),
        format!("ngx.req.set_uri_args({smuggled:?})"),
        format!("ngx.var.upstream_uri = '/x ' .. {smuggled:?}"),
        "kong.service.request.set_method('GET /slow/smuggled HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET')".into(),
        "kong.service.request.set_header('X-A', '1\\r\\n\\r\\nGET /slow/smuggled HTTP/1.1\\r\\nX-B: 1')".into(),
        "kong.service.request.set_header('X-A\\r\\n\\r\\nGET /slow/smuggled HTTP/1.1\\r\\nX-B', '1')".into(),
        "ngx.req.set_header('X-A', {'1', '2\\r\\n\\r\\nGET /slow/smuggled HTTP/1.1'})".into(),
        "kong.service.request.set_raw_query('a=1 b')".into(),
    ];
    for (i, code) in attacks.iter().enumerate() {
        let name = format!("attack{i}");
        function_route(&gw, up, &name, "access", code).await;
        let (status, body) = get_status_json(&gw.proxy_url(&format!("/{name}"))).await;
        // Another client, another route, same upstream connection pool:
        // it must get its own answer, not the smuggled request's.
        for _ in 0..2 {
            let (status, echo) = get_status_json(&gw.proxy_url("/victim?who=victim")).await;
            assert_eq!(status, 200, "after {code}: {echo}");
            assert_eq!(echo["query"], "who=victim", "after {code}: {echo}");
        }
        // The function fails: Kong's error for a function error.
        assert_eq!(status, 500, "{code}: {body}");
        assert_eq!(body["message"], "An unexpected error occurred", "{code}");
    }

    // A table of query args is percent-encoded, whatever it holds.
    function_route(
        &gw,
        up,
        "table",
        "access",
        "ngx.req.set_uri_args({q = 'a b\\r\\nGET /slow/smuggled', ['k y'] = 'é'})",
    )
    .await;
    let (status, echo) = get_status_json(&gw.proxy_url("/table")).await;
    assert_eq!(status, 200, "{echo}");
    assert_eq!(
        echo["query"],
        "k%20y=%C3%A9&q=a%20b%0D%0AGET%20%2Fslow%2Fsmuggled"
    );
    // A raw query with non-ASCII text is percent-encoded on the way.
    function_route(
        &gw,
        up,
        "utf8",
        "access",
        "kong.service.request.set_raw_query('q=é&r=1')",
    )
    .await;
    let (status, echo) = get_status_json(&gw.proxy_url("/utf8")).await;
    assert_eq!((status, &echo["query"]), (200, &json!("q=%C3%A9&r=1")));
}
