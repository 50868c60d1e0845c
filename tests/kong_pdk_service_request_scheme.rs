//! Kong's `t/01-pdk/06-service-request/01-set_scheme.t`, ported block by
//! block on one gateway. Kong's upstream is a unix-socket server (with TLS
//! for TEST 3); here it is a route of the same gateway, reached through
//! its plain or its TLS listener, whose function prints the scheme it was
//! reached with.
//!
//! | file | Kong's blocks | ported | passing | n/a |
//! |---|---|---|---|---|
//! | 01-set_scheme.t | 4 | 4 | 4 | 0 |
//!
//! Adapted: Kong's `$upstream_scheme` variable starts as the location
//! sets it; here it is the service's protocol (`http` for TEST 3, `https`
//! for TEST 4), which the block's function changes.

mod common;

use std::sync::Arc;

use common::kong::{json, status, unique, Case, CaseFuture};
use common::pdk::function_of;
use common::Gateway;
use serde_json::json;

/// A route at `/<name>` with the service `url` and a pre-function whose
/// access code is `lua` (then `ngx.exit(200)` unless `proxies`).
async fn route(gw: &Gateway, url: &str, lua: &str, proxies: bool) -> String {
    let name = unique("scheme");
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
            json!({"paths": [format!("/{name}")]}),
        )
        .await,
        201,
        "route",
    );
    let code = if proxies {
        format!("local pdk = kong\n{lua}")
    } else {
        function_of(lua)
    };
    status(
        &json(
            gw,
            "POST",
            &format!("/services/{name}/plugins"),
            json!({"name": "pre-function", "config": {"access": [code]}}),
        )
        .await,
        201,
        "plugin",
    );
    format!("/{name}")
}

async fn get(gw: &Arc<Gateway>, path: &str) -> (u16, String) {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    let addr = gw.proxy;
    let r = tokio::task::spawn_blocking(move || common::pipelined(addr, &[&raw]).0.remove(0))
        .await
        .unwrap();
    (r.status, r.text())
}

/// TEST 3-4: the upstream route (printing the scheme it was reached
/// with), and the block's route to it through `listener`'s port with
/// `protocol`, whose function calls `set_scheme(to)`.
async fn switch(gw: &Arc<Gateway>, protocol: &str, tls_listener: bool, to: &str) -> (u16, String) {
    let closed = format!("http://127.0.0.1:{}", common::closed_port());
    let up = route(gw, &closed, r#"ngx.say("scheme: ", ngx.var.scheme)"#, false).await;
    let port = if tls_listener {
        gw.proxy_tls.expect("TLS listener").port()
    } else {
        gw.proxy.port()
    };
    let front = route(
        gw,
        &format!("{protocol}://127.0.0.1:{port}{up}"),
        &format!(r#"local ok, err = pdk.service.request.set_scheme("{to}")"#),
        true,
    )
    .await;
    get(gw, &front).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_scheme() {
    let cases: Vec<Case> = vec![
        (
            "TEST 1: service.request.set_scheme() errors if not a string".into(),
            Box::new(|gw| -> CaseFuture {
                Box::pin(async move {
                    let closed = format!("http://127.0.0.1:{}", common::closed_port());
                    let p = route(
                        &gw,
                        &closed,
                        "local pok, err = pcall(pdk.service.request.set_scheme)\nngx.say(err)",
                        false,
                    )
                    .await;
                    assert_eq!(
                        get(&gw, &p).await,
                        (200, "scheme must be a string\n".into())
                    );
                })
            }),
        ),
        (
            "TEST 2: service.request.set_scheme() errors if not a valid scheme".into(),
            Box::new(|gw| -> CaseFuture {
                Box::pin(async move {
                    let closed = format!("http://127.0.0.1:{}", common::closed_port());
                    let p = route(
                        &gw,
                        &closed,
                        "local pok, err = pcall(pdk.service.request.set_scheme, \"HTTP\")\nngx.say(err)",
                        false,
                    )
                    .await;
                    assert_eq!(get(&gw, &p).await, (200, "invalid scheme: HTTP\n".into()));
                })
            }),
        ),
        (
            "TEST 3: service.request.set_scheme() sets the scheme to https".into(),
            Box::new(|gw| -> CaseFuture {
                Box::pin(async move {
                    assert_eq!(
                        switch(&gw, "http", true, "https").await,
                        (200, "scheme: https\n".into())
                    );
                })
            }),
        ),
        (
            "TEST 4: service.request.set_scheme() sets the scheme to http".into(),
            Box::new(|gw| -> CaseFuture {
                Box::pin(async move {
                    assert_eq!(
                        switch(&gw, "https", false, "http").await,
                        (200, "scheme: http\n".into())
                    );
                })
            }),
        ),
    ];
    let (gw, _tmp) = common::pdk::unsandboxed();
    common::kong::run("t/01-pdk/06-service-request/01-set_scheme.t", gw, cases).await;
}
