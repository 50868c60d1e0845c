//! The PROXY protocol on a `proxy_protocol` listener (`--proxy-listen
//! "ADDR proxy_protocol"`): v1 and v2 headers name the client, over plain
//! HTTP and before TLS; and hostile input, each attack a regression test.
//! As nginx (`broken header`), a connection whose header is bad or
//! missing is closed without an answer; none may hang the (single)
//! worker, which must serve the next client.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::pdk::{function_of, route_with};
use common::Gateway;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One worker (a hung worker shows), both listeners reading the header,
/// the header's source trusted as the client.
fn gateway(header_timeout: &str) -> (Gateway, tempfile::TempDir) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::spawn_with(
        tmp.path(),
        1,
        &[
            "--proxy-listen",
            "127.0.0.1:0 proxy_protocol",
            "--proxy-listen-tls",
            "127.0.0.1:0 proxy_protocol",
            "--client-header-timeout",
            header_timeout,
            "--trusted-ips",
            "127.0.0.1",
            "--real-ip-header",
            "proxy_protocol",
            "--untrusted-lua",
            "on",
        ],
        &[],
    );
    (gw, tmp)
}

fn v1(gw: &Gateway, src: &str) -> String {
    format!("PROXY TCP4 {src} 127.0.0.1 1234 {}\r\n", gw.proxy.port())
}

/// Sends `bytes` and reads until the gateway closes: what it answered,
/// and how long it took.
async fn send(addr: std::net::SocketAddr, bytes: &[u8]) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the gateway kept the connection open");
    (got, start.elapsed())
}

/// A valid header and request get Kong's 404 (no route): the worker is
/// alive.
async fn still_serves(gw: &Gateway) {
    let mut req = v1(gw, "10.0.0.1").into_bytes();
    req.extend_from_slice(b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let (got, _) = send(gw.proxy, &req).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
}

/// A route answering the client address the gateway believes.
async fn who_route(gw: &Gateway) -> String {
    let lua = r#"ngx.say(pdk.client.get_forwarded_ip(), " ", pdk.client.get_forwarded_port(), " ", pdk.client.get_ip())"#;
    route_with(gw, "access", &[function_of(lua)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_headers_close_the_connection_at_once() {
    let (gw, _tmp) = gateway("60s");
    let mut long_v1 = b"PROXY TCP4 ".to_vec();
    long_v1.resize(200, b'1');
    let mut v2_huge = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff".to_vec();
    v2_huge.resize(100, 0);
    let v2_short = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x03abc".to_vec();
    let attacks: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"\x00\xffgarbage\r\n\r\n".to_vec()),
        (
            "an HTTP request without the header",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "a TLS ClientHello without the header",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
        ),
        (
            "a broken v1 line",
            b"PROXY TCP4 10.0.0.1 nonsense 1 2\r\nGET / HTTP/1.1\r\n\r\n".to_vec(),
        ),
        ("no CRLF within 107 bytes", long_v1),
        (
            "a bare LF",
            b"PROXY TCP4 10.0.0.1 127.0.0.1 1 2\nGET / HTTP/1.1\r\n\r\n".to_vec(),
        ),
        ("a v2 header announcing 64 KiB", v2_huge),
        ("v2 addresses shorter than their family", v2_short),
    ];
    for (name, bytes) in attacks {
        let (got, took) = send(gw.proxy, &bytes).await;
        assert!(
            got.is_empty(),
            "{name}: answered {:?}",
            String::from_utf8_lossy(&got)
        );
        assert!(
            took < Duration::from_secs(5),
            "{name}: closed after {took:?}"
        );
        still_serves(&gw).await;
    }
    // Truncated: the client stops inside the header and closes its side.
    let mut s = TcpStream::connect(gw.proxy).await.unwrap();
    s.write_all(b"PROXY TCP4 10.0.0.1 127.0").await.unwrap();
    s.shutdown().await.unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got)).await;
    assert!(read.is_ok() && got.is_empty(), "truncated header: {got:?}");
    still_serves(&gw).await;
    // The TLS listener wants the header before the handshake too.
    let tls = gw.proxy_tls.expect("TLS listener");
    let (got, _) = send(tls, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(got.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_trickling_clients_are_cut_at_the_header_timeout() {
    let (gw, _tmp) = gateway("1s");
    let gw = Arc::new(gw);
    // A client that sends nothing.
    let silent = tokio::spawn({
        let addr = gw.proxy;
        async move { send(addr, b"").await }
    });
    // A client sending a valid header one byte every 100 ms (it would
    // take 4 s): each byte is a valid beginning, but the whole header has
    // the client header timeout.
    let line = v1(&gw, "10.0.0.1");
    let addr = gw.proxy;
    let trickle = tokio::spawn(async move {
        let start = Instant::now();
        let mut s = TcpStream::connect(addr).await.unwrap();
        for b in line.bytes() {
            if s.write_all(&[b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut probe = [0u8; 1];
            if let Ok(Ok(0)) =
                tokio::time::timeout(Duration::from_millis(1), s.read(&mut probe)).await
            {
                return (true, start.elapsed());
            }
        }
        (false, start.elapsed())
    });
    // Meanwhile the worker serves others.
    tokio::time::sleep(Duration::from_millis(300)).await;
    still_serves(&gw).await;
    let (got, took) = silent.await.unwrap();
    assert!(got.is_empty());
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "silent client closed after {took:?}"
    );
    let (cut, took) = trickle.await.unwrap();
    assert!(
        cut,
        "the trickling client got its whole header in ({took:?})"
    );
    assert!(took < Duration::from_secs(4), "cut after {took:?}");
    still_serves(&gw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_v2_and_tls_name_the_client() {
    let (gw, _tmp) = gateway("60s");
    let path = who_route(&gw).await;
    let get = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    // v1, over plain HTTP.
    let (got, _) = send(gw.proxy, format!("{}{get}", v1(&gw, "10.0.0.1")).as_bytes()).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.ends_with("10.0.0.1 1234 127.0.0.1\n"), "{text}");
    // v2 (AWS NLB's form, with a TLV), IPv6.
    let mut body = vec![0u8; 36];
    body[..16].copy_from_slice(
        &"2001:db8::7"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    body[32..34].copy_from_slice(&4321u16.to_be_bytes());
    body.extend_from_slice(&[0xea, 0x00, 0x02, 0x01, b'v']);
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x21".to_vec();
    v2.extend_from_slice(&(body.len() as u16).to_be_bytes());
    v2.extend_from_slice(&body);
    v2.extend_from_slice(get.as_bytes());
    let (got, _) = send(gw.proxy, &v2).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.ends_with("2001:db8::7 4321 127.0.0.1\n"), "{text}");
    // v1 UNKNOWN (and v2 LOCAL): no client named, the peer stands.
    let (got, _) = send(gw.proxy, format!("PROXY UNKNOWN\r\n{get}").as_bytes()).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("\r\n\r\n127.0.0.1 "), "{text}");
    // Before a TLS handshake.
    let tls = gw.proxy_tls.expect("TLS listener");
    let mut tcp = TcpStream::connect(tls).await.unwrap();
    tcp.write_all(v1(&gw, "10.0.0.9").as_bytes()).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut s = tokio_rustls::TlsConnector::from(common::tls::any_cert_client(&[b"http/1.1"]))
        .connect(name, tcp)
        .await
        .expect("TLS after the PROXY header");
    s.write_all(get.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut got)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("10.0.0.9 1234 127.0.0.1\n"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_on_a_listener_not_expecting_it_is_a_bad_request() {
    let gw = Gateway::start();
    let req = format!(
        "{}GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        v1(&gw, "10.0.0.1")
    );
    let (got, _) = send(gw.proxy, req.as_bytes()).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    let (got, _) = send(
        gw.proxy,
        b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 404"));
}

#[test]
fn real_ip_header_proxy_protocol_needs_a_listener_reading_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lunagate"))
        .args([
            "serve",
            "--proxy-listen",
            "127.0.0.1:0",
            "--proxy-listen-tls",
            "off",
        ])
        .args([
            "--admin-listen",
            "127.0.0.1:0",
            "--real-ip-header",
            "proxy_protocol",
        ])
        .arg("--data-dir")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--real-ip-header proxy_protocol needs a listener"),
        "{err}"
    );
}
