//! The forwarding headers a client's trust decides (Kong's §4.4 with
//! `trusted_ips`, `real_ip_header`, `real_ip_recursive`), read from the
//! upstream's side: a hand-written upstream answers with the request head
//! it got, byte for byte.
//!
//! - An untrusted client's `X-Real-IP` and `X-Forwarded-Proto/Host/Port/
//!   Path/Prefix` are replaced by the gateway's own; its
//!   `X-Forwarded-For` is kept, with the peer appended (Kong's runloop).
//! - A trusted client's are passed on, and its `X-Real-IP` names the
//!   client (`real_ip_header`, Kong's default).
//! - Hostile `X-Forwarded-For` / `X-Real-IP` values (garbage, a long
//!   list walked recursively, IPv6 forms, CR/LF attempts) neither crash
//!   the gateway nor reach the upstream as anything but checked values.

mod common;

use std::net::SocketAddr;

use common::kong::{json, status, unique};
use common::Gateway;
use serde_json::json;
use tokio::io::AsyncWriteExt;

/// An upstream answering every request with its head as the body.
async fn head_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let Some(head) = common::read_request_head(&mut stream).await else {
                    return;
                };
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
                    head.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

fn gateway(args: &[&str]) -> (Gateway, tempfile::TempDir) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::spawn_with(tmp.path(), 1, args, &[]);
    (gw, tmp)
}

/// A route `/<unique>` (strip_path off) to `upstream`; its path.
async fn route(gw: &Gateway, upstream: SocketAddr) -> String {
    let name = unique("trust");
    let svc = json(
        gw,
        "POST",
        "/services",
        json!({"name": name, "url": format!("http://{upstream}")}),
    )
    .await;
    status(&svc, 201, "service");
    let path = format!("/{name}");
    let r = json(
        gw,
        "POST",
        &format!("/services/{name}/routes"),
        json!({"paths": [path], "strip_path": false}),
    )
    .await;
    status(&r, 201, "route");
    path
}

/// Sends `GET path` with `headers` (raw lines, CRLF-terminated) and
/// returns the status and the body (the upstream's view of the head).
async fn send(gw: &Gateway, path: &str, headers: &str) -> (u16, String) {
    let raw =
        format!("GET {path} HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n{headers}\r\n");
    let addr = gw.proxy;
    tokio::task::spawn_blocking(move || {
        let r = common::pipelined(addr, &[&raw]).0.remove(0);
        (r.status, r.text())
    })
    .await
    .expect("request")
}

/// The values of header `name` in a request head, in order.
fn values<'a>(head: &'a str, name: &str) -> Vec<&'a str> {
    head.split("\r\n")
        .filter_map(|l| l.split_once(": "))
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect()
}

const CLIENT_SAYS: &str = "X-Real-IP: 10.1.2.3\r\n\
X-Forwarded-For: 9.9.9.9\r\n\
X-Forwarded-Proto: https\r\n\
X-Forwarded-Host: Outer.Example:8443\r\n\
X-Forwarded-Port: 8443\r\n\
X-Forwarded-Path: /outer/path\r\n\
X-Forwarded-Prefix: /outer\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_clients_forwarding_headers_are_replaced() {
    let upstream = head_upstream().await;
    let (gw, _tmp) = gateway(&[]);
    let path = route(&gw, upstream).await;
    let (code, head) = send(&gw, &format!("{path}/x?q=1"), CLIENT_SAYS).await;
    assert_eq!(code, 200, "{head}");
    let port = gw.proxy.port().to_string();
    let want: [(&str, &[&str]); 7] = [
        ("x-real-ip", &["127.0.0.1"]),
        ("x-forwarded-for", &["9.9.9.9, 127.0.0.1"]),
        ("x-forwarded-proto", &["http"]),
        ("x-forwarded-host", &["example.test"]),
        ("x-forwarded-port", &[&port]),
        ("x-forwarded-path", &[&format!("{path}/x")]),
        ("x-forwarded-prefix", &[]),
    ];
    for (name, v) in want {
        assert_eq!(values(&head, name), v, "{name} in {head}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_clients_forwarding_headers_pass() {
    let upstream = head_upstream().await;
    let (gw, _tmp) = gateway(&["--trusted-ips", "10.0.0.0/8, 127.0.0.1"]);
    let path = route(&gw, upstream).await;
    let (code, head) = send(&gw, &format!("{path}/x"), CLIENT_SAYS).await;
    assert_eq!(code, 200, "{head}");
    let want: [(&str, &[&str]); 7] = [
        // `real_ip_header` (X-Real-IP) names the client; the peer is
        // appended to the client's X-Forwarded-For.
        ("x-real-ip", &["10.1.2.3"]),
        ("x-forwarded-for", &["9.9.9.9, 127.0.0.1"]),
        ("x-forwarded-proto", &["https"]),
        ("x-forwarded-host", &["Outer.Example:8443"]),
        ("x-forwarded-port", &["8443"]),
        ("x-forwarded-path", &["/outer/path"]),
        ("x-forwarded-prefix", &["/outer"]),
    ];
    for (name, v) in want {
        assert_eq!(values(&head, name), v, "{name} in {head}");
    }
    // A function's `ngx.var.remote_addr/remote_port` are the client the
    // peer names; `realip_remote_addr` the peer.
    let name = unique("vars");
    let svc = json(
        &gw,
        "POST",
        "/services",
        json!({"name": name, "url": format!("http://{upstream}")}),
    )
    .await;
    status(&svc, 201, "service");
    let r = json(
        &gw,
        "POST",
        &format!("/services/{name}/routes"),
        json!({"paths": [format!("/{name}")]}),
    )
    .await;
    status(&r, 201, "route");
    let lua = r#"local v = ngx.var
kong.service.request.set_header("X-Vars", v.remote_addr .. " " .. v.remote_port .. " " .. v.realip_remote_addr)
kong.service.request.set_header("X-Real-IP", "6.6.6.6")"#;
    let p = json(
        &gw,
        "POST",
        &format!("/services/{name}/plugins"),
        json!({"name": "pre-function", "config": {"access": [lua]}}),
    )
    .await;
    status(&p, 201, "plugin");
    let (_, head) = send(&gw, &format!("/{name}"), "X-Real-IP: 10.1.2.3:4444\r\n").await;
    assert_eq!(
        values(&head, "x-vars"),
        ["10.1.2.3 4444 127.0.0.1"],
        "{head}"
    );
    // Without its own X-Forwarded-For, the client address is the list.
    let (_, head) = send(&gw, &path, "X-Real-IP: 10.9.8.7:4321\r\n").await;
    assert_eq!(values(&head, "x-forwarded-for"), ["10.9.8.7"], "{head}");
    assert_eq!(values(&head, "x-real-ip"), ["10.9.8.7"], "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_client_addresses_never_reach_the_upstream_unchecked() {
    let upstream = head_upstream().await;
    let (gw, _tmp) = gateway(&[
        "--trusted-ips",
        "0.0.0.0/0,::/0",
        "--real-ip-header",
        "X-Forwarded-For",
        "--real-ip-recursive",
        "on",
    ]);
    let path = route(&gw, upstream).await;
    let real_ip = |head: &str| values(head, "x-real-ip").join("|");

    // Garbage: the address found so far (the peer) stays.
    for bad in [
        "not-an-ip",
        "<script>alert(1)</script>",
        "1.2.3.4.5",
        "999.1.1.1",
        "1.2.3.4:0",
        "1.2.3.4:65536",
        "[::1",
        "fe80::1%eth0",
        ",,,, ,",
        "\u{7f}",
    ] {
        let (code, head) = send(&gw, &path, &format!("X-Forwarded-For: {bad}\r\n")).await;
        if code == 400 {
            continue; // refused by the HTTP parser: nothing went upstream
        }
        assert_eq!(code, 200, "{bad:?}: {head}");
        assert_eq!(real_ip(&head), "127.0.0.1", "{bad:?}: {head}");
    }
    // IPv6 forms: what parses is used, written as an address.
    for (given, want) in [
        ("[2001:db8::1]:80", "2001:db8::1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
        ("1.1.1.1, [::1]:8080", "1.1.1.1"),
    ] {
        let (code, head) = send(&gw, &path, &format!("X-Forwarded-For: {given}\r\n")).await;
        assert_eq!(code, 200, "{given}: {head}");
        assert_eq!(real_ip(&head), want, "{given}: {head}");
    }
    // A long list, every hop trusted: walked to its leftmost address.
    let list: Vec<String> = (0..2000)
        .map(|i| format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256))
        .collect();
    let (code, head) = send(
        &gw,
        &path,
        &format!("X-Forwarded-For: {}\r\n", list.join(", ")),
    )
    .await;
    assert_eq!(code, 200, "{}", &head[..head.len().min(300)]);
    assert_eq!(real_ip(&head), "10.0.0.0");
    // Many lines of it (the most a request may have): the same.
    let lines: String = list[..90]
        .iter()
        .map(|a| format!("X-Forwarded-For: {a}\r\n"))
        .collect();
    let (code, head) = send(&gw, &path, &lines).await;
    assert_eq!(code, 200);
    assert_eq!(real_ip(&head), "10.0.0.0");

    // CR/LF attempts: a bare CR, an obs-fold, encoded CR/LF. Whatever
    // the parser makes of them, nothing the client put inside a value
    // reaches the upstream as a header line of its own, and every line
    // that goes up ends in CRLF with no bare CR or LF inside.
    for attempt in [
        "X-Forwarded-For: 1.2.3.4\rX-Smuggled: 1\r\n",
        "X-Forwarded-For: 1.2.3.4\r\n X-Smuggled: 1\r\n",
        "X-Forwarded-Host: a\r\n\tX-Smuggled: 1\r\n",
        "X-Forwarded-Prefix: /a%0d%0aX-Smuggled: 1\r\n",
        "X-Real-IP: 1.2.3.4\rX-Smuggled: 1\r\n",
    ] {
        let (code, head) = send(&gw, &path, attempt).await;
        assert!(code == 200 || code == 400, "{attempt:?} -> {code}");
        if code == 400 {
            // Refused: nothing went up (the body is the gateway's page).
            continue;
        }
        let smuggled = head
            .split("\r\n")
            .any(|l| l.to_ascii_lowercase().starts_with("x-smuggled"));
        assert!(!smuggled, "{attempt:?} -> {code}: {head}");
        assert!(
            head.split("\r\n").all(|l| !l.contains(['\r', '\n'])),
            "{attempt:?}: {head:?}"
        );
    }
    // A bare LF ends a header line for the parser (as for nginx): the
    // next line is a header of the client's own, and the X-Real-IP before
    // it is still replaced by the gateway's.
    let (code, head) = send(&gw, &path, "X-Real-IP: 1.2.3.4\nX-Other: 1\r\n").await;
    assert_eq!(code, 200, "{head}");
    assert_eq!(values(&head, "x-real-ip"), ["127.0.0.1"], "{head}");
    // Still serving.
    let (code, _) = send(&gw, &path, "").await;
    assert_eq!(code, 200);
}

/// `kong.request.get_forwarded_prefix()` with no trusted header is the
/// prefix `strip_path` takes off: what goes upstream as
/// `X-Forwarded-Prefix`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stripped_prefix_is_the_forwarded_prefix() {
    let upstream = head_upstream().await;
    let (gw, _tmp) = gateway(&[]);
    let name = unique("strip");
    let svc = json(
        &gw,
        "POST",
        "/services",
        json!({"name": name, "url": format!("http://{upstream}")}),
    )
    .await;
    status(&svc, 201, "service");
    let r = json(
        &gw,
        "POST",
        &format!("/services/{name}/routes"),
        json!({"paths": [format!("/{name}/api")], "strip_path": true}),
    )
    .await;
    status(&r, 201, "route");
    let lua = r#"kong.service.request.set_header("X-Pdk-Prefix", tostring(kong.request.get_forwarded_prefix()))"#;
    let p = json(
        &gw,
        "POST",
        &format!("/services/{name}/plugins"),
        json!({"name": "pre-function", "config": {"access": [lua]}}),
    )
    .await;
    status(&p, 201, "plugin");
    let (code, head) = send(
        &gw,
        &format!("/{name}/api/rest"),
        "X-Forwarded-Prefix: /evil\r\n",
    )
    .await;
    assert_eq!(code, 200, "{head}");
    let want = format!("/{name}/api");
    assert_eq!(
        values(&head, "x-forwarded-prefix"),
        [want.as_str()],
        "{head}"
    );
    assert_eq!(values(&head, "x-pdk-prefix"), [want.as_str()], "{head}");
}

/// An https-only route behind a load balancer that ended TLS: a trusted
/// peer's `X-Forwarded-Proto: https` is the scheme (Kong's
/// `forwarded_proto`), an untrusted one's is not; a redirect goes to the
/// trusted `X-Forwarded-Host`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_only_routes_believe_a_trusted_x_forwarded_proto() {
    let upstream = head_upstream().await;
    for trusted in [false, true] {
        let args: &[&str] = if trusted {
            &["--trusted-ips", "127.0.0.1"]
        } else {
            &[]
        };
        let (gw, _tmp) = gateway(args);
        let name = unique("tls-only");
        let svc = json(
            &gw,
            "POST",
            "/services",
            json!({"name": name, "url": format!("http://{upstream}")}),
        )
        .await;
        status(&svc, 201, "service");
        for (path, code) in [("only", 426), ("moved", 301)] {
            let r = json(
                &gw,
                "POST",
                &format!("/services/{name}/routes"),
                json!({"paths": [format!("/{name}/{path}")], "protocols": ["https"],
                       "https_redirect_status_code": code}),
            )
            .await;
            status(&r, 201, "route");
        }
        let (code, head) = send(
            &gw,
            &format!("/{name}/only"),
            "X-Forwarded-Proto: https\r\n",
        )
        .await;
        assert_eq!(code, if trusted { 200 } else { 426 }, "{head}");
        let (code, _) = send(&gw, &format!("/{name}/only"), "X-Forwarded-Proto: HTTP\r\n").await;
        assert_eq!(code, 426, "trusted: {trusted}");
        let raw = format!(
            "GET /{name}/moved/x HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\
             X-Forwarded-Host: outer.example\r\n\r\n"
        );
        let addr = gw.proxy;
        let r = tokio::task::spawn_blocking(move || common::pipelined(addr, &[&raw]).0.remove(0))
            .await
            .expect("request");
        assert_eq!(r.status, 301);
        let host = if trusted {
            "outer.example"
        } else {
            "example.test"
        };
        assert_eq!(
            r.header("location"),
            Some(format!("https://{host}/{name}/moved/x").as_str())
        );
    }
}
