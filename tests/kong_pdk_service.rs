//! Kong's `kong.service` specs (`t/01-pdk/09-service`), ported block by
//! block (`tests/common/pdk.rs`), one gateway per spec file; then what
//! the setters change in the proxy, and the hostile targets they refuse.
//!
//! | file | Kong's blocks | ported | passing | n/a | not ported |
//! |---|---|---|---|---|---|
//! | 01-set-upstream.t | 3 | 3 | 3 | 0 | 0 |
//! | 02-set-target.t | 6 | 6 | 6 | 0 | 0 |
//! | 04-set-retries.t | 4 | 4 | 4 | 0 | 0 |
//! | 05-set-timeouts.t | 7 | 7 | 7 | 0 | 0 |
//!
//! (00-phase_checks.t is in `tests/kong_pdk_phase_checks.rs`;
//! 03-set-tls-cert-key.t is n/a, stream/TLS: `set_tls_cert_key` takes
//! OpenResty's parsed cdata.)
//!
//! Adapted: Kong's "sets" blocks print `ngx.ctx.balancer_data` after the
//! call; here the balancer data is what the proxy does with it, so each
//! such block sends the request and looks at where and how it went:
//! 01-set-upstream.t TEST 2 (Kong mocks the balancer's
//! `get_upstream_by_name`; here `my_upstream` is a real Upstream whose
//! one target answers, while the service's own address is closed),
//! 02-set-target.t TEST 2 and 6 (the upstream that answers and the `Host`
//! it saw — Kong sets `ngx.var.upstream_host` to the target's host),
//! 04-set-retries.t TEST 4 (connections an upstream that hangs up got),
//! 05-set-timeouts.t TEST 7 (a short read timeout is Kong's 504 on a slow
//! upstream, and a long one waits where the service's would not). The
//! function's return value (`nil`, as Kong's) goes up in `X-Ok`.
//! Kong's 04-set-retries.t has two blocks titled "TEST 1"; both are here
//! under their titles.

// One `b.push` per Kong block, in Kong's order.
#![allow(clippy::vec_init_then_push)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use common::kong::{json, run, unique, Case, CaseFuture};
use common::pdk::{cases, send, unsandboxed, Block};
use common::{echo_upstream, Gateway};

/// A route `/<unique>` to a service made of `service` (at least its `url`
/// or host and port), whose access runs `lua` (no function when empty).
async fn route(gw: &Gateway, mut service: serde_json::Value, lua: &str) -> String {
    let name = unique("svc");
    service["name"] = json!(name);
    let svc = json(gw, "POST", "/services", service).await;
    assert_eq!(svc.status, 201, "{}", svc.text);
    let path = format!("/{name}");
    let r = json(
        gw,
        "POST",
        &format!("/services/{name}/routes"),
        json!({"paths": [path]}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    if lua.is_empty() {
        return path;
    }
    let p = json(
        gw,
        "POST",
        &format!("/services/{name}/plugins"),
        json!({"name": "pre-function", "config": {"access": [lua]}}),
    )
    .await;
    assert_eq!(p.status, 201, "{}", p.text);
    path
}

/// An upstream on `bind` that hangs up on the first `fail` connections
/// without answering (after reading the request head), then answers each
/// with `attempts: N` (N: connections so far) and the `X-Ok` and `Host`
/// it got. Counts connections.
async fn hang_up_upstream_on(bind: &str, fail: usize) -> (SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::spawn(async move {
                let head = common::read_request_head(&mut stream)
                    .await
                    .unwrap_or_default();
                if n <= fail {
                    return;
                }
                let line = |name: &str| {
                    head.lines()
                        .find_map(|l| l.strip_prefix(name))
                        .unwrap_or("-")
                        .to_string()
                };
                let (ok, host) = (line("x-ok: "), line("host: "));
                let body = format!("attempts: {n}\nok: {ok}\nhost: {host}\n");
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(resp.as_bytes()).await;
            });
        }
    });
    (addr, seen)
}

async fn hang_up_upstream(fail: usize) -> (SocketAddr, Arc<AtomicUsize>) {
    hang_up_upstream_on("127.0.0.1:0", fail).await
}

type CaseFn = fn(Arc<Gateway>) -> CaseFuture;

fn case(title: &str, f: CaseFn) -> Case {
    (title.to_string(), Box::new(f))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_service_set_upstream() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    b.push(Block::new(
        "TEST 1: service.set_upstream() errors if not a string",
        r#"local pok, err = pcall(pdk.service.set_upstream, 127001)
ngx.say(err)"#,
        "host must be a string\n",
    ));
    let upstream = echo_upstream("target").await;
    gw.admin(
        reqwest::Method::POST,
        "/upstreams",
        json!({"name": "my_upstream"}),
    )
    .await;
    gw.admin(
        reqwest::Method::POST,
        "/upstreams/my_upstream/targets",
        json!({"target": upstream.to_string()}),
    )
    .await;
    b.push(Block::new(
        "TEST 3: service.set_upstream() fails when given an invalid upstream",
        r#"local ok, err = pdk.service.set_upstream("not_an_upstream")

ngx.say(tostring(ok))
ngx.say("err: ", err)"#,
        "nil\nerr: could not find an Upstream named 'not_an_upstream'\n",
    ));
    let mut c = cases(b);
    c.insert(
        1,
        case(
            "TEST 2: service.set_upstream() sets ngx.ctx.balancer_data.host",
            set_upstream_sets,
        ),
    );
    run("t/01-pdk/09-service/01-set-upstream.t", gw, c).await;
}

/// 01-set-upstream.t TEST 2: `set_upstream("my_upstream")` answers
/// `true`, and the request goes to that upstream's target (its `Host` the
/// target's, as Kong's balancer sets it) instead of the service's
/// address.
fn set_upstream_sets(gw: Arc<Gateway>) -> CaseFuture {
    Box::pin(async move {
        let closed = common::closed_port();
        let lua = r#"local ok = kong.service.set_upstream("my_upstream")
kong.service.request.set_header("X-Ok", tostring(ok))"#;
        let path = route(
            &gw,
            json!({"url": format!("http://127.0.0.1:{closed}")}),
            lua,
        )
        .await;
        let resp = send(&gw, "GET", "test", &path, None).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let echo = resp.json();
        assert_eq!(echo["upstream"], "target");
        assert_eq!(echo["headers"]["x-ok"], "true");
        let target = json(&gw, "GET", "/upstreams/my_upstream/targets", json!(null)).await;
        assert_eq!(
            echo["headers"]["host"], target.json["data"][0]["target"],
            "{}",
            target.text
        );
        // `set_target` after it wins (the later call decides, as Kong's
        // `balancer_data`): the service's closed address is a 502.
        let lua = format!(
            r#"kong.service.set_upstream("my_upstream")
kong.service.set_target("127.0.0.1", {closed})"#
        );
        let path = route(&gw, json!({"url": "http://my_upstream"}), &lua).await;
        let resp = send(&gw, "GET", "test", &path, None).await;
        assert_eq!(resp.status, 502, "{}", resp.text());
    })
}

/// 02-set-target.t TEST 2: the request goes to the target, and the
/// upstream's `Host` is the target's host (Kong's `upstream_host`).
fn set_target_host(gw: Arc<Gateway>) -> CaseFuture {
    Box::pin(async move {
        let b = echo_upstream("target").await;
        let closed = common::closed_port();
        let lua = format!(
            r#"local ok = kong.service.set_target("localhost", {})
kong.service.request.set_header("X-Ok", tostring(ok))"#,
            b.port()
        );
        let path = route(
            &gw,
            json!({"url": format!("http://127.0.0.1:{closed}")}),
            &lua,
        )
        .await;
        let resp = send(&gw, "GET", "test", &path, None).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let echo = resp.json();
        assert_eq!(echo["upstream"], "target");
        assert_eq!(echo["headers"]["x-ok"], "nil");
        assert_eq!(echo["headers"]["host"], "localhost");
    })
}

/// 02-set-target.t TEST 6: the port set is the one connected to (the
/// service's own upstream answers otherwise).
fn set_target_port(gw: Arc<Gateway>) -> CaseFuture {
    Box::pin(async move {
        let service = echo_upstream("service").await;
        let target = echo_upstream("target").await;
        let lua = format!(
            r#"local ok = kong.service.set_target("127.0.0.1", {})
kong.service.request.set_header("X-Ok", tostring(ok))"#,
            target.port()
        );
        let path = route(&gw, json!({"url": format!("http://{service}")}), &lua).await;
        let resp = send(&gw, "GET", "test", &path, None).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let echo = resp.json();
        assert_eq!(
            (echo["upstream"].as_str(), echo["headers"]["x-ok"].as_str()),
            (Some("target"), Some("nil"))
        );
        assert_eq!(echo["headers"]["host"], "127.0.0.1");
        // The service's own upstream still answers requests without it.
        let plain = route(&gw, json!({"url": format!("http://{service}")}), "").await;
        let resp = send(&gw, "GET", "test", &plain, None).await;
        assert_eq!(resp.json()["upstream"], "service");
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_service_set_target() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    b.push(Block::new(
        "TEST 1: service.set_target() errors if host is not a string",
        r#"local pok, err = pcall(pdk.service.set_target, 127001, 123)
ngx.say(err)"#,
        "host must be a string\n",
    ));
    b.push(Block::new(
        "TEST 3: service.set_target() errors if port is not a number",
        r#"local pok, err = pcall(pdk.service.set_target, "example.com", "foo")
ngx.say(err)"#,
        "port must be an integer\n",
    ));
    b.push(Block::new(
        "TEST 4: service.set_target() errors if port is not an integer",
        r#"local pok, err = pcall(pdk.service.set_target, "example.com", 123.4)

ngx.say(err)"#,
        "port must be an integer\n",
    ));
    b.push(Block::new(
        "TEST 5: service.set_target() errors if port is out of range",
        r#"local pok, err = pcall(pdk.service.set_target, "example.com", -1)
ngx.say(err)
local pok, err = pcall(pdk.service.set_target, "example.com", 70000)
ngx.say(err)"#,
        "port must be an integer between 0 and 65535: given -1\n\
         port must be an integer between 0 and 65535: given 70000\n",
    ));
    let mut all = cases(b);
    all.insert(
        1,
        case(
            "TEST 2: service.set_target() sets ngx.ctx.balancer_data.host",
            set_target_host,
        ),
    );
    all.push(case(
        "TEST 6: service.set_target() sets the balancer port",
        set_target_port,
    ));
    run("t/01-pdk/09-service/02-set-target.t", gw, all).await;
}

/// 04-set-retries.t TEST 4: a service with no retries, an upstream that
/// hangs up twice: `set_retries(2)` makes the third connection answer.
/// Without it the request fails after one connection (502); and
/// `set_retries(0)` stops a service's 5 retries after one connection.
fn set_retries_counted(gw: Arc<Gateway>) -> CaseFuture {
    Box::pin(async move {
        let (up, seen) = hang_up_upstream(2).await;
        let lua = r#"local ok = kong.service.set_retries(2)
kong.service.request.set_header("X-Ok", tostring(ok))"#;
        let path = route(
            &gw,
            json!({"url": format!("http://{up}"), "retries": 0}),
            lua,
        )
        .await;
        let resp = send(&gw, "GET", "test", &path, None).await;
        assert_eq!(
            (resp.status, resp.text()),
            (200, format!("attempts: 3\nok: nil\nhost: {up}\n"))
        );
        assert_eq!(seen.load(Ordering::SeqCst), 3);

        let (up, seen) = hang_up_upstream(2).await;
        let path = route(
            &gw,
            json!({"url": format!("http://{up}"), "retries": 0}),
            "",
        )
        .await;
        let resp = send(&gw, "GET", "test", &path, None).await;
        assert_eq!(resp.status, 502, "{}", resp.text());
        assert_eq!(seen.load(Ordering::SeqCst), 1, "the service's retries: 0");

        let (up, seen) = hang_up_upstream(2).await;
        let lua = "kong.service.set_retries(0)";
        let path = route(
            &gw,
            json!({"url": format!("http://{up}"), "retries": 5}),
            lua,
        )
        .await;
        let resp = send(&gw, "GET", "test", &path, None).await;
        assert_eq!(resp.status, 502, "{}", resp.text());
        assert_eq!(seen.load(Ordering::SeqCst), 1, "set_retries(0)");
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_service_set_retries() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    b.push(Block::new(
        "TEST 1: service.set_retries() errors if port is not a number",
        r#"local pok, err = pcall(pdk.service.set_retries, "2")
ngx.say(err)"#,
        "retries must be an integer\n",
    ));
    b.push(Block::new(
        "TEST 1: service.set_retries() errors if port is not an integer",
        r#"local pok, err = pcall(pdk.service.set_retries, 1.23)
ngx.say(err)"#,
        "retries must be an integer\n",
    ));
    b.push(Block::new(
        "TEST 3: service.set_target() errors if port is out of range",
        r#"local pok, err = pcall(pdk.service.set_retries, -1)
ngx.say(err)
local pok, err = pcall(pdk.service.set_retries, 32768)
ngx.say(err)"#,
        "retries must be an integer between 0 and 32767: given -1\n\
         retries must be an integer between 0 and 32767: given 32768\n",
    ));
    let mut all = cases(b);
    all.push(case(
        "TEST 4: service.set_retries() sets ngx.ctx.balancer_data.retries",
        set_retries_counted,
    ));
    run("t/01-pdk/09-service/04-set-retries.t", gw, all).await;
}

/// 05-set-timeouts.t TEST 7: a read timeout of 100 ms on an upstream that
/// takes 2 s is Kong's 504, at once; one of 5 s on a service whose own is
/// 100 ms waits for the answer.
fn set_timeouts_applied(gw: Arc<Gateway>) -> CaseFuture {
    Box::pin(async move {
        let up = echo_upstream("slow").await;
        let lua = r#"local ok = kong.service.set_timeouts(5000, 5000, 100)
if ok ~= nil then return kong.response.exit(500, "returned " .. tostring(ok)) end"#;
        let path = route(&gw, json!({"url": format!("http://{up}/slow")}), lua).await;
        let started = Instant::now();
        let resp = send(&gw, "GET", "test", &path, None).await;
        assert_eq!(resp.status, 504, "{}", resp.text());
        assert!(
            resp.text().contains("The upstream server is timing out"),
            "{}",
            resp.text()
        );
        assert!(started.elapsed() < Duration::from_millis(1500));

        let lua = "kong.service.set_timeouts(5000, 5000, 5000)";
        let service = json!({"url": format!("http://{up}/slow"), "read_timeout": 100});
        let path = route(&gw, service.clone(), lua).await;
        let resp = send(&gw, "GET", "test", &path, None).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.json()["upstream"], "slow");
        let path = route(&gw, service, "").await;
        let resp = send(&gw, "GET", "test", &path, None).await;
        assert_eq!(resp.status, 504, "the service's own read_timeout");
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_service_set_timeouts() {
    let (gw, _tmp) = unsandboxed();
    let mut b = Vec::new();
    for (n, name, args) in [
        (1, "connect_timeout", r#""2", 1, 1"#),
        (2, "write_timeout", r#"2, "1", 1"#),
        (3, "read_timeout", r#"2, 1, "1""#),
    ] {
        b.push(Block::new(
            &format!("TEST {n}: service.set_timeouts() errors if {name} is not a number"),
            &format!("local pok, err = pcall(pdk.service.set_timeouts, {args})\nngx.say(err)"),
            &format!("{name} must be an integer\n"),
        ));
    }
    for (n, name, low, high) in [
        (4, "connect_timeout", "-1, 1, 1", "2147483647, 1, 1"),
        (5, "write_timeout", "2, -1, 1", "2, 2147483647, 1"),
        (6, "read_timeout", "2, 1, -1", "2, 1, 2147483647"),
    ] {
        b.push(Block::new(
            &format!("TEST {n}: service.set_timeouts() errors if {name} is out of range"),
            &format!(
                "local pok, err = pcall(pdk.service.set_timeouts, {low})\nngx.say(err)\n\
                 local pok, err = pcall(pdk.service.set_timeouts, {high})\nngx.say(err)"
            ),
            &format!(
                "{name} must be an integer between 1 and 2147483646: given -1\n\
                 {name} must be an integer between 1 and 2147483646: given 2147483647\n"
            ),
        ));
    }
    let mut all = cases(b);
    all.push(case(
        "TEST 7: service.set_timeouts() sets the timeouts",
        set_timeouts_applied,
    ));
    run("t/01-pdk/09-service/05-set-timeouts.t", gw, all).await;
}

/// Hostile targets: a host with CR/LF, spaces, a path, user info or a
/// port, or an empty one, is refused (it would reach the `Host` header
/// and the connect); the request then goes to the service unchanged,
/// with no injected header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_target_refuses_hosts_that_are_not_hostnames() {
    let (gw, _tmp) = unsandboxed();
    let up = echo_upstream("service").await;
    let lua = r#"local bad = { "127.0.0.1\r\nX-Evil: 1", "a b", "evil.test/x", "u@evil.test",
    "evil.test:80", "", "evil.test\0", "[::1" }
local errs = {}
for _, host in ipairs(bad) do
    local ok, err = pcall(kong.service.set_target, host, 80)
    errs[#errs + 1] = tostring(ok) .. " " .. err
end
kong.service.request.set_header("X-Errs", table.concat(errs, " | "))"#;
    let path = route(&gw, json!({"url": format!("http://{up}")}), lua).await;
    let gw = Arc::new(gw);
    let resp = send(&gw, "GET", "test", &path, None).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let echo = resp.json();
    assert_eq!(echo["upstream"], "service");
    assert_eq!(echo["headers"]["host"], up.to_string());
    assert!(echo["headers"].get("x-evil").is_none(), "{echo}");
    let errs = echo["headers"]["x-errs"].as_str().unwrap_or_default();
    let errs: Vec<&str> = errs.split(" | ").collect();
    assert_eq!(errs.len(), 8, "{errs:?}");
    assert_eq!(errs[0], r"false invalid hostname: 127.0.0.1\r\nX-Evil: 1");
    assert_eq!(errs[4], "false invalid hostname: evil.test:80");
    assert!(
        errs.iter()
            .all(|e| e.starts_with("false invalid hostname: ")),
        "{errs:?}"
    );
}

/// An IPv6 target is connected to as such and sent bracketed in `Host`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_target_takes_an_ipv6_literal() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    }
    let (gw, _tmp) = unsandboxed();
    let (up, _) = hang_up_upstream_on("[::1]:0", 0).await;
    let lua = format!(r#"kong.service.set_target("::1", {})"#, up.port());
    let closed = common::closed_port();
    let path = route(
        &gw,
        json!({"url": format!("http://127.0.0.1:{closed}")}),
        &lua,
    )
    .await;
    let gw = Arc::new(gw);
    let resp = send(&gw, "GET", "test", &path, None).await;
    assert_eq!(
        (resp.status, resp.text()),
        (200, "attempts: 1\nok: -\nhost: [::1]\n".to_string())
    );
}
