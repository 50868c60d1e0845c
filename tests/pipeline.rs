//! The request path's phases after the head (issue 8, "Phases and the
//! request path"), on one gateway with one worker and a raw local
//! upstream: body_filter per chunk with `ngx.arg`, get/set_raw_body, the
//! re-framed body, log after the response, `kong.response.get_source`,
//! `kong.service.response.*`, the upstream Host, and `ngx.ctx` apart from
//! `kong.ctx.shared`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::kong::{json, status, Case};
use common::Gateway;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

const F: &str = "tests/pipeline.rs";

/// What the upstream's `/steps` waits for between its chunks: one permit
/// per chunk, given by the test once it has read the previous one.
struct Upstream {
    addr: std::net::SocketAddr,
    steps: Arc<Semaphore>,
}

const BIG: usize = 1024 * 1024;

/// A raw HTTP/1.1 upstream (one request per connection):
/// `/big` 1 MiB of `a` with a Content-Length; `/text` "hello"; `/slow`
/// "slow" after 300 ms;
/// `/steps` a chunked body "one", "two", "three", each after a permit;
/// anything else echoes its request head as the body.
async fn upstream() -> Upstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let steps = Arc::new(Semaphore::new(0));
    let permits = steps.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let permits = permits.clone();
            tokio::spawn(async move {
                let Some(text) = common::read_request_head(&mut stream).await else {
                    return;
                };
                let path = text.split(' ').nth(1).unwrap_or("/").to_string();
                let plain = |body: &[u8]| {
                    let mut out = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Upstream: yes\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    out.extend_from_slice(body);
                    out
                };
                match path.as_str() {
                    "/big" => {
                        let _ = stream.write_all(&plain(&vec![b'a'; BIG])).await;
                    }
                    "/text" => {
                        let _ = stream.write_all(&plain(b"hello")).await;
                    }
                    p if p.starts_with("/slow") => {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        let _ = stream.write_all(&plain(b"slow")).await;
                    }
                    "/steps" => {
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                            .await;
                        for part in ["one", "two", "three"] {
                            let Ok(permit) = permits.acquire().await else {
                                return;
                            };
                            permit.forget();
                            let chunk = format!("{:x}\r\n{part}\r\n", part.len());
                            let _ = stream.write_all(chunk.as_bytes()).await;
                        }
                        let _ = stream.write_all(b"0\r\n\r\n").await;
                    }
                    _ => {
                        let _ = stream.write_all(&plain(text.as_bytes())).await;
                    }
                }
                let _ = stream.shutdown().await;
            });
        }
    });
    Upstream { addr, steps }
}

/// A service for `url`, a route at `/{name}` that strips nothing, and a
/// post-function with `config` on it.
async fn route(gw: &Gateway, name: &str, url: &str, config: serde_json::Value) {
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
            json!({"name": name, "paths": [format!("/{name}")], "strip_path": true}),
        )
        .await,
        201,
        "route",
    );
    status(
        &json(
            gw,
            "POST",
            &format!("/services/{name}/plugins"),
            json!({"name": "post-function", "config": config}),
        )
        .await,
        201,
        "plugin",
    );
}

/// Reads the response until `want` has arrived (fails after 10 s: the
/// body did not stream).
async fn read_until(resp: &mut reqwest::Response, got: &mut String, want: &str) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while !got.contains(want) {
            match resp.chunk().await.unwrap() {
                Some(c) => got.push_str(&String::from_utf8_lossy(&c)),
                None => break,
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{want:?} did not arrive; got {got:?}"));
    assert!(got.contains(want), "{want:?} not in {got:?}");
}

async fn body_filter_runs_per_chunk_as_the_body_streams(gw: Arc<Gateway>, up: Arc<Upstream>) {
    route(
        &gw,
        "steps",
        &format!("http://{}/steps", up.addr),
        json!({"body_filter": [
            "if ngx.arg[2] then ngx.arg[1] = '<eof>' else ngx.arg[1] = '[' .. ngx.arg[1] .. ']' end"
        ]}),
    )
    .await;
    let mut resp = gw.get("/steps").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.content_length(), None, "re-framed: no upstream length");
    let mut got = String::new();
    // The upstream sends each chunk only once the previous one came out
    // of the gateway, filtered: the filter runs as the body streams.
    up.steps.add_permits(1);
    read_until(&mut resp, &mut got, "[one]").await;
    up.steps.add_permits(1);
    read_until(&mut resp, &mut got, "[two]").await;
    up.steps.add_permits(1);
    read_until(&mut resp, &mut got, "<eof>").await;
    assert_eq!(got, "[one][two][three]<eof>");
}

async fn get_raw_body_buffers_and_set_raw_body_replaces(gw: Arc<Gateway>, up: Arc<Upstream>) {
    route(
        &gw,
        "rawbody",
        &format!("http://{}/big", up.addr),
        json!({"body_filter": [
            "local body = kong.response.get_raw_body() \
             if body then kong.response.set_raw_body('len=' .. #body .. ' a=' .. select(2, body:gsub('a', ''))) end"
        ]}),
    )
    .await;
    let resp = gw.get("/rawbody").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers().get("x-upstream").unwrap(), "yes");
    let len = resp.content_length();
    let body = resp.text().await.unwrap();
    assert_eq!(body, format!("len={BIG} a={BIG}"));
    assert_ne!(len, Some(BIG as u64), "no stale Content-Length");
}

async fn a_body_filter_that_grows_the_body_is_reframed(gw: Arc<Gateway>, up: Arc<Upstream>) {
    route(
        &gw,
        "grow",
        &format!("http://{}/text", up.addr),
        json!({"body_filter": ["if ngx.arg[2] then ngx.arg[1] = ' world, and more' end"]}),
    )
    .await;
    // Raw, so a wrong length would show as a short or hanging body.
    let proxy = gw.proxy;
    let raw = tokio::task::spawn_blocking(move || {
        common::raw_to(
            proxy,
            b"GET /grow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    })
    .await
    .unwrap();
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no response: {raw:?}"));
    let head = head.to_ascii_lowercase();
    assert!(!head.contains("content-length: 5"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(body.contains("hello"), "{body}");
    assert!(body.contains(" world, and more"), "{body}");
    assert!(body.ends_with("0\r\n\r\n"), "{body:?}");
}

async fn ngx_arg_2_ends_the_body(gw: Arc<Gateway>, up: Arc<Upstream>) {
    route(
        &gw,
        "cut",
        &format!("http://{}/big", up.addr),
        json!({"body_filter": ["ngx.arg[1] = 'cut' ngx.arg[2] = true"]}),
    )
    .await;
    let resp = gw.get("/cut").await;
    assert_eq!(resp.text().await.unwrap(), "cut");
    // The worker goes on serving.
    let resp = gw.get("/cut").await;
    assert_eq!(resp.text().await.unwrap(), "cut");
}

/// Waits for `needle` in the gateway's log (fails after 10 s).
async fn log_line(gw: &Gateway, needle: &str) -> String {
    for _ in 0..200 {
        if let Some(line) = gw.log_text().lines().find(|l| l.contains(needle)) {
            return line.to_string();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no log line with {needle:?}:\n{}", gw.log_text());
}

async fn log_runs_after_the_body_was_sent(gw: Arc<Gateway>, up: Arc<Upstream>) {
    route(
        &gw,
        "logged",
        &format!("http://{}/big", up.addr),
        json!({
            "body_filter": ["if ngx.arg[2] then kong.ctx.shared.eof = true end"],
            "log": ["kong.log.err('LOGPHASE status=', kong.response.get_status(), \
                     ' eof=', tostring(kong.ctx.shared.eof), \
                     ' source=', kong.response.get_source())"],
        }),
    )
    .await;
    let resp = gw.get("/logged").await;
    assert_eq!(resp.text().await.unwrap().len(), BIG);
    let line = log_line(&gw, "LOGPHASE").await;
    assert!(
        line.contains("LOGPHASE status=200 eof=true source=service"),
        "{line}"
    );
}

async fn log_runs_when_the_client_leaves_during_body_filter(gw: Arc<Gateway>, up: Arc<Upstream>) {
    // body_filter never ends on its own (the function's time budget stops
    // it): the client is surely gone while it runs.
    route(
        &gw,
        "leave",
        &format!("http://{}/text", up.addr),
        json!({
            "body_filter": ["if not ngx.arg[2] then while true do end end"],
            "log": ["kong.log.err('LEFTLOG status=', kong.response.get_status())"],
        }),
    )
    .await;
    let mut stream = tokio::net::TcpStream::connect(gw.proxy).await.unwrap();
    stream
        .write_all(b"GET /leave HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // The head goes out while body_filter runs on the first chunk.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("the response head did not come")
            .unwrap();
        assert!(n > 0, "closed before the head: {head:?}");
        head.extend_from_slice(&buf[..n]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200"), "{head:?}");
    // The client leaves in the middle of the body.
    drop(stream);
    let mut line = None;
    for _ in 0..600 {
        line = gw
            .log_text()
            .lines()
            .find(|l| l.contains("LEFTLOG"))
            .map(str::to_string);
        if line.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let line = line.unwrap_or_else(|| panic!("log did not run:\n{}", gw.log_text()));
    assert!(line.contains("LEFTLOG status=200"), "{line}");
}

async fn serialize_has_kongs_record_and_latencies(gw: Arc<Gateway>, up: Arc<Upstream>) {
    route(
        &gw,
        "serial",
        &format!("http://{}/slow", up.addr),
        json!({
            "access": ["kong.log.set_serialize_value('custom.a.b', 'x') \
                        kong.log.set_serialize_value('request.method', 'NOPE', {mode = 'add'}) \
                        kong.log.set_serialize_value('nothere.x', 1, {mode = 'replace'}) \
                        kong.log.set_serialize_value('route.name', 'renamed', {mode = 'replace'})"],
            "log": ["local s = kong.log.serialize() \
                     kong.log.err('SERIALIZED status=', s.response.status, ' method=', s.request.method, \
                       ' uri=', s.request.uri, ' upstream_uri=', s.upstream_uri, \
                       ' upstream_status=', s.upstream_status, ' source=', s.source, \
                       ' auth=', s.request.headers.authorization, ' q=', s.request.querystring.q, \
                       ' route=', s.route.name, ' service=', s.service.name, \
                       ' custom=', s.custom.a.b, ' nothere=', tostring(s.nothere), \
                       ' proxy300=', tostring(s.latencies.proxy >= 300), \
                       ' request>=proxy=', tostring(s.latencies.request >= s.latencies.proxy), \
                       ' kong>=0=', tostring(s.latencies.kong >= 0), \
                       ' size=', tostring(s.response.size > 4), ' ip=', s.client_ip)"],
        }),
    )
    .await;
    let resp = gw
        .http
        .get(gw.proxy_url("/serial/x?q=1"))
        .header("authorization", "secret")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), "slow");
    let line = log_line(&gw, "SERIALIZED").await;
    assert!(
        line.contains(
            "SERIALIZED status=200 method=GET uri=/serial/x?q=1 upstream_uri=/slow/x?q=1 \
             upstream_status=200 source=upstream auth=REDACTED q=1 route=renamed service=serial \
             custom=x nothere=nil proxy300=true request>=proxy=true kong>=0=true size=true ip=127.0.0.1"
        ),
        "{line}"
    );
}

async fn ngx_ctx_is_not_kong_ctx_shared(gw: Arc<Gateway>, up: Arc<Upstream>) {
    route(
        &gw,
        "ctxs",
        &format!("http://{}/text", up.addr),
        json!({"access": [
            "ngx.ctx.a = 1 kong.ctx.shared.a = 2 \
             return kong.response.exit(200, tostring(ngx.ctx.a) .. tostring(kong.ctx.shared.a) \
             .. tostring(ngx.ctx == kong.ctx.shared))"
        ]}),
    )
    .await;
    let resp = gw.get("/ctxs").await;
    assert_eq!(resp.text().await.unwrap(), "12false");
}

async fn set_header_host_sets_the_upstream_host(gw: Arc<Gateway>, up: Arc<Upstream>) {
    route(
        &gw,
        "hosted",
        &format!("http://{}/head", up.addr),
        json!({"access": ["kong.service.request.set_header('Host', 'example.test')"]}),
    )
    .await;
    let resp = gw
        .http
        .get(gw.proxy_url("/hosted"))
        .header("host", "client.test")
        .send()
        .await
        .unwrap();
    let head = resp.text().await.unwrap().to_ascii_lowercase();
    assert!(head.contains("\r\nhost: example.test\r\n"), "{head}");
    assert!(head.contains("x-forwarded-host: client.test"), "{head}");
}

async fn get_source_names_service_exit_and_error(gw: Arc<Gateway>, up: Arc<Upstream>) {
    let header_filter = json!(["kong.response.set_header('x-source', kong.response.get_source())"]);
    route(
        &gw,
        "src-service",
        &format!("http://{}/text", up.addr),
        json!({"header_filter": header_filter}),
    )
    .await;
    route(
        &gw,
        "src-exit",
        &format!("http://{}/text", up.addr),
        json!({"access": ["kong.response.exit(418)"], "header_filter": header_filter}),
    )
    .await;
    route(
        &gw,
        "src-error",
        &format!("http://127.0.0.1:{}/", common::closed_port()),
        json!({"header_filter": header_filter}),
    )
    .await;
    for (path, want, code) in [
        ("/src-service", "service", 200),
        ("/src-exit", "exit", 418),
        ("/src-error", "error", 502),
    ] {
        let resp = gw.get(path).await;
        assert_eq!(resp.status().as_u16(), code, "{path}");
        assert_eq!(resp.headers()["x-source"], want, "{path}");
    }
}

async fn service_response_is_the_upstreams(gw: Arc<Gateway>, up: Arc<Upstream>) {
    route(
        &gw,
        "svcresp",
        &format!("http://{}/text", up.addr),
        json!({"header_filter": [
            "kong.response.set_header('x-upstream', 'changed') \
             kong.response.set_header('x-seen', tostring(kong.service.response.get_status()) .. ' ' \
             .. tostring(kong.service.response.get_header('X-Upstream')) .. ' ' \
             .. tostring(kong.service.response.get_headers()['x-kong-upstream-latency']) .. ' ' \
             .. tostring(kong.service.response.get_headers()['content-type']))"
        ]}),
    )
    .await;
    let resp = gw.get("/svcresp").await;
    assert_eq!(resp.headers()["x-upstream"], "changed");
    assert_eq!(resp.headers()["x-seen"], "200 yes nil text/plain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_phases() {
    let gw = Gateway::start_logged(1);
    let up = Arc::new(upstream().await);
    let mut c: Vec<Case> = Vec::new();
    common::kong::add(
        &mut c,
        "body_filter runs per chunk as the body streams",
        &up,
        body_filter_runs_per_chunk_as_the_body_streams,
    );
    common::kong::add(
        &mut c,
        "get_raw_body buffers to the end and set_raw_body replaces the body",
        &up,
        get_raw_body_buffers_and_set_raw_body_replaces,
    );
    common::kong::add(
        &mut c,
        "a body_filter that grows the body is re-framed",
        &up,
        a_body_filter_that_grows_the_body_is_reframed,
    );
    common::kong::add(
        &mut c,
        "ngx.arg[2] = true ends the body",
        &up,
        ngx_arg_2_ends_the_body,
    );
    common::kong::add(
        &mut c,
        "log runs after the body was sent",
        &up,
        log_runs_after_the_body_was_sent,
    );
    common::kong::add(
        &mut c,
        "log runs when the client leaves during body_filter",
        &up,
        log_runs_when_the_client_leaves_during_body_filter,
    );
    common::kong::add(
        &mut c,
        "kong.log.serialize: Kong's record, latencies and set_serialize_value",
        &up,
        serialize_has_kongs_record_and_latencies,
    );
    common::kong::add(
        &mut c,
        "ngx.ctx is not kong.ctx.shared",
        &up,
        ngx_ctx_is_not_kong_ctx_shared,
    );
    common::kong::add(
        &mut c,
        "kong.service.request.set_header('Host') sets the upstream Host",
        &up,
        set_header_host_sets_the_upstream_host,
    );
    common::kong::add(
        &mut c,
        "kong.response.get_source: service, exit, error",
        &up,
        get_source_names_service_exit_and_error,
    );
    common::kong::add(
        &mut c,
        "kong.service.response.* read the upstream's response",
        &up,
        service_response_is_the_upstreams,
    );
    common::kong::run(F, gw, c).await;
}
