//! Kong's `spec/02-integration/05-proxy/24-buffered_spec.lua`: buffered
//! proxying (`kong.service.request.enable_buffering`, then
//! `kong.service.response.get_raw_body` in `header_filter`), on one
//! gateway. Kong's `enable-buffering` fixture plugin is a pre-function
//! here (its `access` and `header_filter` are the function's phases); its
//! mock upstream's `/status/N` is a local upstream answering N with a
//! JSON body.
//!
//! Kong's file has 8 `it`, each run for 3 client protocols (http, https,
//! http2): 24 cases. Ported: the http client's `header can be set from
//! upstream response body on header_filter phase`, `HEAD request work the
//! same, without a body`, `header can be set from upstream response body
//! and body can be modified on header_filter phase` and `returns 502 on
//! connectivity errors` (4; the last narrowed: header_filter functions run
//! on the gateway's 502, where Kong's plugins do not, so it carries an MD5
//! header). Not ported yet: the https and http2 runs of those (8, they can
//! apply); the two `response phase` cases and `response phase works in
//! HEAD request` (9: Kong's plugin `response` phase, which functions do
//! not have); `remains healthy when if-match header is used with
//! buffering` (3: nginx's `If-Match` filter answering 412, which the
//! gateway does not have).

mod common;

use std::io::Write;
use std::sync::Arc;

use common::kong::{json, status, Case, CaseFuture};
use common::Gateway;
use serde_json::json;
use tokio::io::AsyncWriteExt;

/// `/status/N` (any path ending so): status N, body `{"status":N}` and a
/// newline, as Kong's mock upstream.
async fn upstream() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Some(text) = common::read_request_head(&mut stream).await else {
                    return;
                };
                let head_request = text.starts_with("HEAD ");
                let path = text.split(' ').nth(1).unwrap_or("/");
                let code: u16 = path
                    .rsplit('/')
                    .next()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(200);
                let body = format!("{{\"status\":{code}}}\n");
                let mut answer = format!(
                    "HTTP/1.1 {code} Whatever\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                if !head_request {
                    answer.push_str(&body);
                }
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

fn md5(data: &[u8]) -> String {
    let mut child = std::process::Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("md5sum");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)[..32].to_string()
}

/// Kong's `enable-buffering` plugin's `header_filter` with `mode =
/// "md5-header"`.
const MD5_HEADER: &str = "local body = kong.service.response.get_raw_body()\n\
     kong.response.set_header('MD5', ngx.md5(body))";

/// With `mode = "modify-json"`.
const MODIFY_JSON: &str = "local body = assert(kong.service.response.get_body())\n\
     body.modified = true\n\
     return kong.response.exit(kong.response.get_status(), body, { Modified = 'yes' })";

/// Kong's `enable-buffering` plugin with `phase = "header_filter"` and
/// `header_filter` as its mode, on a route at `path` to `url`.
async fn buffered_route(gw: &Gateway, name: &str, url: &str, path: &str, header_filter: &str) {
    status(
        &json(gw, "POST", "/services", json!({"name": name, "url": url})).await,
        201,
        "service",
    );
    status(
        &json(
            gw,
            "POST",
            &format!("/services/{name}/routes"),
            json!({"paths": [path]}),
        )
        .await,
        201,
        "route",
    );
    let plugin = json(
        gw,
        "POST",
        &format!("/services/{name}/plugins"),
        json!({"name": "pre-function", "config": {
            "access": ["kong.service.request.enable_buffering()"],
            "header_filter": [header_filter],
        }}),
    )
    .await;
    status(&plugin, 201, "plugin");
}

async fn send(gw: &Arc<Gateway>, method: &str, path: &str) -> common::RawResponse {
    let raw = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    let addr = gw.proxy;
    tokio::task::spawn_blocking(move || common::pipelined(addr, &[&raw]).0.remove(0))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_spec() {
    let up = upstream().await;
    let gw = Gateway::start();
    buffered_route(&gw, "r1", &format!("http://{up}"), "/1", MD5_HEADER).await;
    buffered_route(&gw, "r2", &format!("http://{up}"), "/2", MODIFY_JSON).await;
    buffered_route(
        &gw,
        "r502",
        &format!("http://127.0.0.1:{}", common::closed_port()),
        "/502",
        MD5_HEADER,
    )
    .await;
    let cases: Vec<Case> = vec![
        (
            "[http] header can be set from upstream response body on header_filter phase".into(),
            Box::new(|gw| -> CaseFuture {
                Box::pin(async move {
                    let r = send(&gw, "GET", "/1/status/231").await;
                    assert_eq!(r.status, 231);
                    assert_eq!(r.text(), "{\"status\":231}\n");
                    assert_eq!(r.header("MD5"), Some(md5(&r.body).as_str()));
                })
            }),
        ),
        (
            "[http] HEAD request work the same, without a body".into(),
            Box::new(|gw| -> CaseFuture {
                Box::pin(async move {
                    let r = send(&gw, "HEAD", "/1/status/231").await;
                    assert_eq!(r.status, 231);
                    assert_eq!(r.text(), "");
                    assert_eq!(r.header("MD5"), Some(md5(b"").as_str()));
                })
            }),
        ),
        (
            "[http] header can be set from upstream response body and body can be modified on header_filter phase".into(),
            Box::new(|gw| -> CaseFuture {
                Box::pin(async move {
                    let r = send(&gw, "GET", "/2/status/233").await;
                    assert_eq!(r.status, 233);
                    let json = r.json();
                    assert_eq!(json["modified"], true, "{json}");
                    assert_eq!(json["status"], 233, "{json}");
                    assert_eq!(r.header("Modified"), Some("yes"));
                })
            }),
        ),
        (
            "[http] returns 502 on connectivity errors".into(),
            Box::new(|gw| -> CaseFuture {
                Box::pin(async move {
                    let r = send(&gw, "GET", "/502").await;
                    assert_eq!(r.status, 502);
                    // Narrowed: Kong's plugins do not run header_filter on
                    // this 502 (no MD5 header); the gateway's functions do,
                    // so the header is the MD5 of an empty body.
                    assert_eq!(r.header("MD5"), Some(md5(b"").as_str()));
                })
            }),
        ),
    ];
    common::kong::run(
        "spec/02-integration/05-proxy/24-buffered_spec.lua",
        gw,
        cases,
    )
    .await;
}
