//! Helpers for the proxy integration tests: the real `lunagate` binary on
//! ephemeral ports, an Admin API client, and in-process upstreams (an echo
//! server, a slow one, one that answers garbage, a closed port).
#![allow(dead_code)]

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

/// A running gateway; killed on drop.
pub struct Gateway {
    child: Child,
    pub admin: SocketAddr,
    pub proxy: SocketAddr,
    _data: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl Gateway {
    pub fn start() -> Gateway {
        let data = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_lunagate"))
            .args([
                "serve",
                "--proxy-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--workers",
                "2",
            ])
            .arg("--data-dir")
            .arg(data.path())
            .env("LUNAGATE_LOG_LEVEL", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start lunagate");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut proxy, mut admin) = (None, None);
        while proxy.is_none() || admin.is_none() {
            let line = lines
                .next()
                .expect("lunagate exited before listening")
                .expect("stdout");
            let addr = || {
                line.rsplit(' ')
                    .next()
                    .and_then(|a| a.parse::<SocketAddr>().ok())
            };
            if line.contains("proxy listening on") {
                proxy = addr();
            } else if line.contains("admin listening on") {
                admin = addr();
            }
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Gateway {
            child,
            admin: admin.expect("admin address"),
            proxy: proxy.expect("proxy address"),
            _data: data,
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
        }
    }

    pub fn proxy_url(&self, path: &str) -> String {
        format!("http://{}{}", self.proxy, path)
    }

    /// POST/PATCH/PUT a JSON body to the Admin API; asserts a 2xx answer.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .request(method.clone(), format!("http://{}{}", self.admin, path))
            .json(&body)
            .send()
            .await
            .expect("admin request");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "{method} {path} {body}: {status} {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn service(&self, name: &str, url: &str, extra: Value) -> Value {
        let mut body = json!({"name": name, "url": url});
        merge(&mut body, extra);
        self.admin(reqwest::Method::POST, "/services", body).await
    }

    pub async fn route(&self, service: &str, body: Value) -> Value {
        self.admin(
            reqwest::Method::POST,
            &format!("/services/{service}/routes"),
            body,
        )
        .await
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.proxy_url(path))
            .send()
            .await
            .expect("proxy request")
    }

    /// Sends raw bytes to the proxy and returns the raw response.
    pub fn raw(&self, request: &[u8]) -> String {
        let mut s = TcpStream::connect(self.proxy).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        s.write_all(request).expect("write");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn merge(into: &mut Value, extra: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, extra) {
        a.extend(b);
    }
}

/// An echo upstream named `name`: answers JSON with the request's method,
/// path, query, headers and body. `/slow…` waits 2 s before answering.
pub async fn echo_upstream(name: &'static str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| async move {
                    if req.uri().path().contains("/slow") {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                    let method = req.method().to_string();
                    let path = req.uri().path().to_string();
                    let query = req.uri().query().map(str::to_string);
                    let mut headers = serde_json::Map::new();
                    for (k, v) in req.headers() {
                        let v = v.to_str().unwrap_or("").to_string();
                        match headers.get_mut(k.as_str()) {
                            Some(Value::String(old)) => *old = format!("{old}, {v}"),
                            _ => {
                                headers.insert(k.to_string(), json!(v));
                            }
                        }
                    }
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let out = json!({"upstream": name, "method": method, "path": path, "query": query,
                                     "headers": headers, "body": String::from_utf8_lossy(&body),
                                     "body_len": body.len()});
                    let mut resp = Response::new(Full::new(Bytes::from(out.to_string())));
                    resp.headers_mut()
                        .insert("content-type", "application/json".parse().expect("value"));
                    Ok::<_, Infallible>(resp)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// An upstream that answers every connection with bytes that are not HTTP.
pub async fn garbage_upstream() -> SocketAddr {
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
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(b"this is not http\r\n\r\n").await;
            });
        }
    });
    addr
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}
