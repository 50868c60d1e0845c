//! End-to-end tests of the proxy alone: real workers on a loopback port, a
//! snapshot built by hand (no Admin API), a small echo upstream in-process.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::entities::{ForeignKey, Route, Service};
use crate::snapshot::{ConfigSnapshot, SharedConfig};

/// An upstream that answers with a JSON echo of the request; `/slow` waits
/// two seconds first.
async fn echo_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    if req.uri().path().starts_with("/slow") {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                    if req.uri().path().starts_with("/big") {
                        let body = Bytes::from(vec![b'z'; 1 << 20]);
                        return Ok::<_, Infallible>(Response::new(Either::Left(Full::new(body))));
                    }
                    if req.uri().path().starts_with("/chunked") {
                        let chunks = (0..100).map(|i| {
                            Ok::<_, Infallible>(Frame::data(Bytes::from(format!("{i:04}"))))
                        });
                        let body = StreamBody::new(futures_util::stream::iter(chunks));
                        return Ok(Response::new(Either::Right(body)));
                    }
                    let method = req.method().to_string();
                    let path = req.uri().path().to_string();
                    let query = req.uri().query().map(str::to_string);
                    let headers: serde_json::Map<String, Value> = req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or(""))))
                        .collect();
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let out = json!({"method": method, "path": path, "query": query, "headers": headers,
                                     "body": String::from_utf8_lossy(&body)});
                    Ok(Response::new(Either::Left(Full::new(Bytes::from(
                        out.to_string(),
                    )))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

fn service(url_host: &str, port: u16, path: Option<&str>, read_timeout: u64) -> Service {
    serde_json::from_value(json!({
        "id": Uuid::new_v4(), "created_at": 1, "updated_at": 1, "name": "svc", "retries": 1,
        "protocol": "http", "host": url_host, "port": port, "path": path, "connect_timeout": 1000,
        "write_timeout": 60000, "read_timeout": read_timeout, "tags": null, "client_certificate": null,
        "tls_verify": null, "tls_verify_depth": null, "ca_certificates": null, "enabled": true
    }))
    .unwrap()
}

fn route(service: Uuid, paths: &[&str], strip_path: bool, preserve_host: bool) -> Route {
    serde_json::from_value(json!({
        "id": Uuid::new_v4(), "created_at": 1, "updated_at": 1, "name": null,
        "protocols": ["http", "https"], "methods": null, "hosts": null, "paths": paths, "headers": null,
        "https_redirect_status_code": 426, "regex_priority": 0, "strip_path": strip_path,
        "path_handling": "v0", "preserve_host": preserve_host, "request_buffering": true,
        "response_buffering": true, "snis": null, "sources": null, "destinations": null, "tags": null,
        "service": ForeignKey { id: service }
    }))
    .unwrap()
}

struct Gateway {
    addr: SocketAddr,
    config: SharedConfig,
    stop: tokio::sync::watch::Sender<bool>,
    workers: Option<super::worker::ProxyWorkers>,
}

impl Gateway {
    fn start() -> Gateway {
        let config: SharedConfig = Arc::new(ArcSwap::from_pointee(ConfigSnapshot::build(
            vec![],
            vec![],
            vec![],
        )));
        let (stop, rx) = tokio::sync::watch::channel(false);
        let workers = super::spawn_workers(
            crate::config::Listen {
                addr: "127.0.0.1:0".parse().unwrap(),
                proxy_protocol: false,
            },
            None,
            2,
            config.clone(),
            super::ClientTimeouts::default(),
            rx,
        )
        .unwrap();
        Gateway {
            addr: workers.local_addr,
            config,
            stop,
            workers: Some(workers),
        }
    }

    fn set(&self, services: Vec<Service>, routes: Vec<Route>) {
        self.config
            .store(Arc::new(ConfigSnapshot::build(services, routes, vec![])));
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(w) = self.workers.take() {
            w.join();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_and_rewrites() {
    let up = echo_upstream().await;
    let gw = Gateway::start();
    let svc = service("127.0.0.1", up.port(), Some("/base"), 60000);
    let r = route(svc.id, &["/api"], true, false);
    gw.set(vec![svc], vec![r]);
    let client = reqwest::Client::new();

    let resp = client
        .get(gw.url("/api/items?x=1&y=%20"))
        .header("x-custom", "v")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("x-kong-upstream-latency").is_some());
    assert!(resp.headers().get("x-kong-proxy-latency").is_some());
    assert!(resp.headers()["via"]
        .to_str()
        .unwrap()
        .contains("lunagate/"));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["path"], "/base/items");
    assert_eq!(v["query"], "x=1&y=%20");
    assert_eq!(v["headers"]["x-custom"], "v");
    assert_eq!(v["headers"]["host"], format!("127.0.0.1:{}", up.port()));
    assert_eq!(v["headers"]["x-forwarded-prefix"], "/api");
    assert_eq!(v["headers"]["x-forwarded-path"], "/api/items");
    assert_eq!(v["headers"]["x-real-ip"], "127.0.0.1");

    // A POST body is streamed through; keep-alive reuse works across requests.
    for i in 0..5 {
        let resp = client
            .post(gw.url("/api/p"))
            .body(format!("hello {i}"))
            .send()
            .await
            .unwrap();
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["body"], format!("hello {i}"));
        assert_eq!(v["method"], "POST");
    }

    let resp = client.get(gw.url("/nope")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.headers()["server"]
        .to_str()
        .unwrap()
        .starts_with("lunagate/"));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["message"], "no Route matched with those values");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures() {
    let up = echo_upstream().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let gw = Gateway::start();
    let down = service("127.0.0.1", closed, None, 60000);
    let slow = service("127.0.0.1", up.port(), None, 300);
    let routes = vec![
        route(down.id, &["/down"], true, false),
        route(slow.id, &["/slow"], false, false),
    ];
    gw.set(vec![down, slow], routes);
    let client = reqwest::Client::new();

    let resp = client
        .get(gw.url("/down"))
        .header("accept", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    let text = resp.text().await.unwrap();
    assert!(
        text.starts_with("An invalid response was received from the upstream server\nrequest_id: "),
        "{text}"
    );

    let resp = client
        .get(gw.url("/slow"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 504);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["message"], "The upstream server is timing out");
}

/// An upstream that answers one request per connection, then closes it
/// without saying so (a keep-alive connection that went stale in the pool).
async fn closing_upstream() -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_chunked_head_and_stale_connections() {
    let up = echo_upstream().await;
    let closing = closing_upstream().await;
    let gw = Gateway::start();
    let svc = service("127.0.0.1", up.port(), None, 60000);
    let stale = service("127.0.0.1", closing.port(), None, 60000);
    let routes = vec![
        route(svc.id, &["/"], false, false),
        route(stale.id, &["/stale"], true, false),
    ];
    gw.set(vec![svc, stale], routes);
    let client = reqwest::Client::new();

    for _ in 0..3 {
        let resp = client.get(gw.url("/big")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-length"], "1048576");
        assert_eq!(resp.bytes().await.unwrap().len(), 1 << 20);
        let resp = client.get(gw.url("/chunked")).send().await.unwrap();
        let text = resp.text().await.unwrap();
        assert_eq!(text.len(), 400);
        assert!(text.starts_with("00000001") && text.ends_with("0099"));
        let resp = client.head(gw.url("/big")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    // Each of these reuses a connection the upstream has closed: retried
    // on a fresh one, never a 502.
    for _ in 0..5 {
        let resp = client.get(gw.url("/stale")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.unwrap(), "ok");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_requests() {
    let up = echo_upstream().await;
    let mut gw = Gateway::start();
    let svc = service("127.0.0.1", up.port(), None, 60000);
    let r = route(svc.id, &["/"], false, false);
    gw.set(vec![svc], vec![r]);
    let url = gw.url("/slow");
    let in_flight =
        tokio::spawn(async move { reqwest::get(url).await.map(|r| r.status().as_u16()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = gw.stop.send(true);
    let workers = gw.workers.take().unwrap();
    let started = std::time::Instant::now();
    tokio::task::spawn_blocking(move || workers.join())
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "drained promptly"
    );
    assert_eq!(
        in_flight.await.unwrap().unwrap(),
        200,
        "the in-flight request completed"
    );
    assert!(
        std::net::TcpStream::connect(gw.addr).is_err(),
        "no longer accepting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_cleartext_clients_are_served() {
    let up = echo_upstream().await;
    let gw = Gateway::start();
    let svc = service("127.0.0.1", up.port(), None, 60000);
    let r = route(svc.id, &["/"], false, false);
    gw.set(vec![svc], vec![r]);
    let stream = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    for i in 0..3 {
        let req = Request::get(format!("http://{}/h2/{i}", gw.addr))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = sender.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["path"], format!("/h2/{i}"));
        assert_eq!(v["headers"]["host"], format!("127.0.0.1:{}", up.port()));
    }
}
