//! Proxy behaviour end to end (§4 of the Kong reference): the real binary,
//! services and routes created through the Admin API, real upstreams.

mod common;

use common::{closed_port, echo_upstream, garbage_upstream, Gateway};
use reqwest::Method;
use serde_json::{json, Value};

async fn json_of(resp: reqwest::Response) -> Value {
    let status = resp.status();
    let text = resp.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_created_is_proxied_immediately_with_form_encoding() {
    let up = echo_upstream("a").await;
    let gw = Gateway::start();
    // The seed's steps 1-2, form-encoded as curl sends them.
    let admin = format!("http://{}", gw.admin);
    let r = gw
        .http
        .post(format!("{admin}/services"))
        .form(&[
            ("name", "example-service"),
            ("url", &format!("http://{up}")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = gw
        .http
        .post(format!("{admin}/services/example-service/routes"))
        .body("paths[]=/test")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    // No sleep: visible as soon as the admin answered.
    let resp = gw.get("/test").await;
    assert_eq!(resp.status(), 200);
    let v = json_of(resp).await;
    assert_eq!(v["upstream"], "a");
    assert_eq!(v["path"], "/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_priorities() {
    let a = echo_upstream("a").await;
    let b = echo_upstream("b").await;
    let gw = Gateway::start();
    gw.service("a", &format!("http://{a}"), json!({})).await;
    gw.service("b", &format!("http://{b}"), json!({})).await;
    gw.route("a", json!({"name": "root", "paths": ["/"]})).await;
    gw.route("b", json!({"name": "api", "paths": ["/api"]}))
        .await;
    gw.route("a", json!({"name": "api-v2", "paths": ["/api/v2"]}))
        .await;
    gw.route(
        "b",
        json!({"name": "regex", "paths": [r"~/users/(?<id>\d+)$"]}),
    )
    .await;
    gw.route(
        "b",
        json!({"name": "host", "hosts": ["*.example.test"], "paths": ["/"]}),
    )
    .await;
    gw.route(
        "a",
        json!({"name": "post", "methods": ["POST"], "paths": ["/api"]}),
    )
    .await;
    gw.route(
        "a",
        json!({"name": "hdr", "paths": ["/api"], "headers": {"x-canary": ["yes"]}}),
    )
    .await;

    let which = |path: &'static str| {
        let gw = &gw;
        async move {
            json_of(gw.get(path).await).await["upstream"]
                .as_str()
                .unwrap_or("")
                .to_string()
        }
    };
    assert_eq!(which("/anything").await, "a", "fallback /");
    assert_eq!(which("/api/x").await, "b", "prefix /api");
    assert_eq!(which("/api/v2/x").await, "a", "longest prefix");
    assert_eq!(which("/api//v2/./x").await, "a", "normalised path");
    assert_eq!(which("/users/42").await, "b", "regex");
    assert_eq!(
        which("/users/42/more").await,
        "a",
        "anchored regex falls back"
    );

    let host = gw
        .http
        .get(gw.proxy_url("/api/v2"))
        .header("host", "x.example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(host).await["upstream"],
        "b",
        "host+path beats a longer path alone"
    );
    let post = gw.http.post(gw.proxy_url("/api/x")).send().await.unwrap();
    assert_eq!(
        json_of(post).await["upstream"],
        "a",
        "method+path beats path"
    );
    let canary = gw
        .http
        .get(gw.proxy_url("/api/x"))
        .header("x-canary", "YES")
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(canary).await["upstream"],
        "a",
        "headers match case-insensitively"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strip_path_service_path_and_query() {
    let up = echo_upstream("a").await;
    let gw = Gateway::start();
    gw.service("s", &format!("http://{up}/base"), json!({}))
        .await;
    gw.route("s", json!({"paths": ["/strip"], "strip_path": true}))
        .await;
    gw.route("s", json!({"paths": ["/keep"], "strip_path": false}))
        .await;
    gw.route("s", json!({"paths": ["~/re/\\d+"], "strip_path": true}))
        .await;

    let v = json_of(gw.get("/strip/x/y?a=1&b=%2F").await).await;
    assert_eq!(v["path"], "/base/x/y");
    assert_eq!(v["query"], "a=1&b=%2F");
    assert_eq!(v["headers"]["x-forwarded-prefix"], "/strip");
    assert_eq!(v["headers"]["x-forwarded-path"], "/strip/x/y");
    let v = json_of(gw.get("/keep/x").await).await;
    assert_eq!(v["path"], "/base/keep/x");
    assert!(v["headers"].get("x-forwarded-prefix").is_none());
    let v = json_of(gw.get("/re/123/rest").await).await;
    assert_eq!(v["path"], "/base/rest");
    let v = json_of(gw.get("/strip").await).await;
    assert_eq!(v["path"], "/base");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preserve_host_and_forwarding_headers() {
    let up = echo_upstream("a").await;
    let gw = Gateway::start();
    gw.service("s", &format!("http://{up}"), json!({})).await;
    gw.route("s", json!({"paths": ["/plain"]})).await;
    gw.route("s", json!({"paths": ["/preserve"], "preserve_host": true}))
        .await;

    let resp = gw
        .http
        .get(gw.proxy_url("/plain/a"))
        .header("host", "Client.Example:8443")
        .header("x-forwarded-for", "10.1.2.3")
        .header("x-forwarded-proto", "https")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "secret")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let via = resp.headers()["via"].to_str().unwrap().to_string();
    assert!(
        via.ends_with(concat!("1.1 lunagate/", env!("CARGO_PKG_VERSION"))),
        "{via}"
    );
    assert_eq!(
        resp.headers()["server"],
        concat!("lunagate/", env!("CARGO_PKG_VERSION"))
    );
    for h in [
        "x-kong-upstream-latency",
        "x-kong-proxy-latency",
        "x-kong-request-id",
    ] {
        assert!(resp.headers().contains_key(h), "{h}");
    }
    let h = json_of(resp).await["headers"].clone();
    assert_eq!(h["host"], up.to_string());
    assert_eq!(h["x-forwarded-for"], "10.1.2.3, 127.0.0.1");
    assert_eq!(h["x-real-ip"], "127.0.0.1");
    assert_eq!(
        h["x-forwarded-proto"], "http",
        "untrusted client values are replaced"
    );
    assert_eq!(h["x-forwarded-host"], "client.example");
    assert_eq!(h["x-forwarded-port"], gw.proxy.port().to_string());
    assert_eq!(h["x-forwarded-path"], "/plain/a");
    assert_eq!(
        h["via"],
        concat!("1.1 lunagate/", env!("CARGO_PKG_VERSION"))
    );
    assert!(
        h.get("x-hop").is_none(),
        "headers named by Connection are hop-by-hop"
    );

    let resp = gw
        .http
        .get(gw.proxy_url("/preserve"))
        .header("host", "client.example:8443")
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(resp).await["headers"]["host"],
        "client.example:8443"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_streamed_both_ways() {
    let up = echo_upstream("a").await;
    let gw = Gateway::start();
    gw.service("s", &format!("http://{up}"), json!({})).await;
    gw.route("s", json!({"paths": ["/"]})).await;
    let big = "x".repeat(3 * 1024 * 1024);
    let resp = gw
        .http
        .post(gw.proxy_url("/upload"))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v = json_of(resp).await;
    assert_eq!(v["body_len"], big.len());
    assert_eq!(v["method"], "POST");
    // Chunked request body.
    let stream =
        futures_util::stream::iter((0..64).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 1000])));
    let resp = gw
        .http
        .put(gw.proxy_url("/chunked"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(resp).await["body_len"], 64_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_errors() {
    let slow = echo_upstream("slow").await;
    let garbage = garbage_upstream().await;
    let gw = Gateway::start();
    gw.service(
        "down",
        &format!("http://127.0.0.1:{}", closed_port()),
        json!({"retries": 2}),
    )
    .await;
    gw.service(
        "slow",
        &format!("http://{slow}"),
        json!({"read_timeout": 300}),
    )
    .await;
    gw.service("bad", &format!("http://{garbage}"), json!({}))
        .await;
    gw.route("down", json!({"paths": ["/down"]})).await;
    gw.route("slow", json!({"paths": ["/slow"], "strip_path": false}))
        .await;
    gw.route("slow", json!({"paths": ["/fast"], "strip_path": false}))
        .await;
    gw.route("bad", json!({"paths": ["/bad"]})).await;

    // A refused connection is nginx's 502 in Kong
    // (spec/02-integration/05-proxy/04-plugins_triggering_spec.lua ::
    // executes a log plugin on Bad Gateway (HTTP 502)).
    let resp = gw.get("/down").await;
    assert_eq!(resp.status(), 502);
    assert_eq!(
        json_of(resp).await["message"],
        "An invalid response was received from the upstream server"
    );

    let started = std::time::Instant::now();
    let resp = gw.get("/slow").await;
    assert_eq!(resp.status(), 504);
    assert!(started.elapsed() < std::time::Duration::from_millis(1500));
    assert_eq!(
        json_of(resp).await["message"],
        "The upstream server is timing out"
    );
    // The same on a pooled connection whose earlier reads had to wait (its
    // read timer is kept and reset for each response).
    for _ in 0..3 {
        assert_eq!(gw.get("/fast").await.status(), 200);
    }
    let started = std::time::Instant::now();
    assert_eq!(gw.get("/slow").await.status(), 504);
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(250)
            && waited < std::time::Duration::from_millis(1500),
        "{waited:?}"
    );
    assert_eq!(gw.get("/fast").await.status(), 200);

    let resp = gw.get("/bad").await;
    assert_eq!(resp.status(), 502);
    let v = json_of(resp).await;
    assert_eq!(
        v["message"],
        "An invalid response was received from the upstream server"
    );
    assert!(v["request_id"].as_str().is_some_and(|id| id.len() == 32));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_bodies_follow_accept() {
    let gw = Gateway::start();
    let resp = gw.get("/nothing").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    assert!(resp.headers().contains_key("x-kong-response-latency"));
    assert_eq!(
        resp.headers()["server"],
        concat!("lunagate/", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        json_of(resp).await["message"],
        "no Route matched with those values"
    );

    let resp = gw
        .http
        .get(gw.proxy_url("/nothing"))
        .header("accept", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    let text = resp.text().await.unwrap();
    assert!(
        text.starts_with("no Route matched with those values\nrequest_id: "),
        "{text}"
    );

    let resp = gw
        .http
        .get(gw.proxy_url("/nothing"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert!(resp.text().await.unwrap().contains("<h1>Error</h1>"));

    // No Accept at all: Kong's own errors stay JSON.
    let raw = gw.raw(b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(raw.starts_with("HTTP/1.1 404"), "{raw}");
    assert!(
        raw.contains("\"message\":\"no Route matched with those values\""),
        "{raw}"
    );

    // Upstream failures without Accept are text/plain (nginx's default type).
    let port = closed_port();
    gw.service(
        "down",
        &format!("http://127.0.0.1:{port}"),
        json!({"retries": 0}),
    )
    .await;
    gw.route("down", json!({"paths": ["/down"]})).await;
    let raw = gw.raw(b"GET /down HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(raw.starts_with("HTTP/1.1 502"), "{raw}");
    assert!(
        raw.contains("An invalid response was received from the upstream server\nrequest_id: "),
        "{raw}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_apply_immediately() {
    let a = echo_upstream("a").await;
    let b = echo_upstream("b").await;
    let gw = Gateway::start();
    gw.service("a", &format!("http://{a}"), json!({})).await;
    gw.service("b", &format!("http://{b}"), json!({})).await;
    let route = gw.route("a", json!({"name": "r", "paths": ["/x"]})).await;
    assert_eq!(json_of(gw.get("/x").await).await["upstream"], "a");
    let b_id = gw.admin(Method::GET, "/services/b", json!({})).await["id"].clone();
    gw.admin(Method::PATCH, "/routes/r", json!({"service": {"id": b_id}}))
        .await;
    assert_eq!(json_of(gw.get("/x").await).await["upstream"], "b");
    gw.admin(Method::PATCH, "/services/b", json!({"enabled": false}))
        .await;
    assert_eq!(
        gw.get("/x").await.status(),
        404,
        "a disabled service hides its routes"
    );
    let resp = gw
        .http
        .delete(format!(
            "http://{}/routes/{}",
            gw.admin,
            route["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(gw.get("/x").await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_4xx_and_workers_survive() {
    let up = echo_upstream("a").await;
    let gw = Gateway::start();
    gw.service("s", &format!("http://{up}"), json!({})).await;
    gw.route("s", json!({"paths": ["/"]})).await;
    let raw = gw.raw(b"GARBAGE\r\n\r\n");
    assert!(raw.is_empty() || raw.starts_with("HTTP/1.1 4"), "{raw}");
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(200_000)
    );
    let raw = gw.raw(huge.as_bytes());
    assert!(
        raw.is_empty() || raw.starts_with("HTTP/1.1 4"),
        "{}",
        &raw[..raw.len().min(200)]
    );
    let raw = gw.raw(b"GET /%zz/../../x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    for _ in 0..4 {
        assert_eq!(gw.get("/still-alive").await.status(), 200);
    }
}

/// A request may carry 100 header fields (hyper's limit, whose slots stay
/// on the stack; HAProxy stops at 101): the 101st is answered 431 before
/// anything is routed. The service's port is closed, so an accepted
/// request shows as the gateway's 502 (no upstream to connect to).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_header_count_limit() {
    let gw = Gateway::start();
    gw.service(
        "s",
        &format!("http://127.0.0.1:{}", closed_port()),
        json!({}),
    )
    .await;
    gw.route("s", json!({"paths": ["/"]})).await;
    let request = |fields: usize| {
        let mut r = String::from("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        for i in 2..fields {
            r.push_str(&format!("x-h{i}: v\r\n"));
        }
        r.push_str("\r\n");
        r
    };
    let raw = gw.raw(request(100).as_bytes());
    assert!(raw.starts_with("HTTP/1.1 502"), "100 fields: {raw}");
    let raw = gw.raw(request(101).as_bytes());
    assert!(raw.starts_with("HTTP/1.1 431"), "101 fields: {raw}");
}
