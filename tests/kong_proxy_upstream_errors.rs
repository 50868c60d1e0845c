//! What a client gets when the upstream cannot be reached, from Kong's
//! proxy specs: the cases of `spec/02-integration/05-proxy/05-dns_spec.lua`,
//! `04-plugins_triggering_spec.lua` and `14-server_tokens_spec.lua` about a
//! refused connection (nginx's 502), a name that does not resolve (Kong's
//! balancer: 503 "name resolution failed") and the headers of such an
//! answer. One gateway per spec file; only these cases are ported from
//! those files (the rest is about plugins, logging and headers this issue
//! does not cover).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::kong::{json, status, Case, CaseFuture};
use common::{closed_port, Gateway};
use serde_json::json;

/// A service at `url` (with `extra` fields) and a route on `host`.
async fn service_on_host(
    gw: &Gateway,
    name: &str,
    url: &str,
    extra: serde_json::Value,
    host: &str,
) {
    let mut body = json!({"name": name, "url": url});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    status(&json(gw, "POST", "/services", body).await, 201, "service");
    let route = json(
        gw,
        "POST",
        &format!("/services/{name}/routes"),
        json!({"hosts": [host]}),
    )
    .await;
    status(&route, 201, "route");
}

/// One raw request with `Host: host` (and `Accept` when given).
async fn get(gw: &Arc<Gateway>, host: &str, accept: Option<&str>) -> common::RawResponse {
    let mut raw = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some(a) = accept {
        raw.push_str(&format!("Accept: {a}\r\n"));
    }
    raw.push_str("\r\n");
    let addr = gw.proxy;
    tokio::task::spawn_blocking(move || common::pipelined(addr, &[&raw]).0.remove(0))
        .await
        .unwrap()
}

fn case(title: &str, f: fn(Arc<Gateway>) -> CaseFuture) -> Case {
    (title.to_string(), Box::new(f))
}

/// Kong's `bad_tcp_server`: accepts and closes at once, counting tries.
async fn bad_tcp_server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tries = Arc::new(AtomicUsize::new(0));
    let counted = tries.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (addr, tries)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_spec() {
    let cases = vec![
        case("retries :: validates the number of retries", |gw| {
            Box::pin(async move {
                let (addr, tries) = bad_tcp_server().await;
                let retries = 3;
                service_on_host(
                    &gw,
                    "tests-retries",
                    &format!("http://{addr}"),
                    json!({"retries": retries}),
                    "retries.test",
                )
                .await;
                let r = get(&gw, "retries.test", None).await;
                assert_eq!(r.status, 502, "{}", r.text());
                // the -1 is because the initial one is not a retry.
                assert_eq!(retries, tries.load(Ordering::SeqCst) - 1);
            })
        }),
        case("upstream resolve failure :: fails with 503", |gw| {
            Box::pin(async move {
                service_on_host(
                    &gw,
                    "tests-resolve",
                    "http://nowthisdoesnotexistatall.test:80/exist",
                    json!({}),
                    "resolve.test",
                )
                .await;
                let r = get(&gw, "resolve.test", None).await;
                assert_eq!(r.status, 503, "{}", r.text());
                // Kong's `kong.response.error(503, "name resolution failed")`.
                assert_eq!(r.json()["message"], "name resolution failed");
            })
        }),
    ];
    common::kong::run(
        "spec/02-integration/05-proxy/05-dns_spec.lua",
        Gateway::start(),
        cases,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_triggering_spec() {
    let cases = vec![case(
        "executes a log plugin on Bad Gateway (HTTP 502)",
        |gw| {
            Box::pin(async move {
                service_on_host(
                    &gw,
                    "refused",
                    &format!("http://127.0.0.1:{}", closed_port()),
                    json!({}),
                    "refused",
                )
                .await;
                // Kong's file-log plugin stands as a post-function's log
                // phase writing the request's X-UUID to the log.
                let p = json(
                    &gw,
                    "POST",
                    "/services/refused/plugins",
                    json!({"name": "post-function", "config": {"log": [
                        "kong.log.err('logged ', kong.request.get_header('X-UUID'))"
                    ]}}),
                )
                .await;
                status(&p, 201, "plugin");
                let uuid = "6f1c2e0a-refused-502";
                let raw = format!(
                    "GET /status/200 HTTP/1.1\r\nHost: refused\r\nX-UUID: {uuid}\r\nConnection: close\r\n\r\n"
                );
                let addr = gw.proxy;
                let r = tokio::task::spawn_blocking(move || {
                    common::pipelined(addr, &[&raw]).0.remove(0)
                })
                .await
                .unwrap();
                assert_eq!(r.status, 502, "{}", r.text());
                let want = format!("logged {uuid}");
                for _ in 0..100 {
                    if gw.log_text().contains(&want) {
                        return;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                panic!("no log line {want:?} in {}", gw.log_text());
            })
        },
    )];
    common::kong::run(
        "spec/02-integration/05-proxy/04-plugins_triggering_spec.lua",
        Gateway::start_logged(1),
        cases,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_tokens_spec() {
    let cases = vec![case(
        "X-Kong-Proxy-Latency/X-Kong-Upstream-Latency :: should be returned with 502 errors (error_page executing)",
        |gw| {
            Box::pin(async move {
                // Kong's service is the mock upstream's host on port 1.
                service_on_host(
                    &gw,
                    "wrong-port",
                    &format!("http://127.0.0.1:{}", closed_port()),
                    json!({}),
                    "502.test",
                )
                .await;
                let r = get(&gw, "502.test", None).await;
                assert_eq!(r.status, 502, "{}", r.text());
                assert!(r.header("x-kong-upstream-latency").is_some(), "{:?}", r.headers);
                assert!(r.header("x-kong-proxy-latency").is_some(), "{:?}", r.headers);
                assert!(r.header("x-kong-response-latency").is_none(), "{:?}", r.headers);
            })
        },
    )];
    common::kong::run(
        "spec/02-integration/05-proxy/14-server_tokens_spec.lua",
        Gateway::start(),
        cases,
    )
    .await;
}
