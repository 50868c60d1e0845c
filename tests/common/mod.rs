//! Test harness: starts the real `lunagate` binary on ephemeral ports with
//! a temporary data directory, and a real local upstream that echoes what
//! it receives.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub struct Gateway {
    child: Child,
    pub admin: SocketAddr,
    pub proxy: SocketAddr,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Gateway {
    /// Starts a gateway with a fresh data directory.
    pub fn start() -> Gateway {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut gw = Gateway::start_in(tmp.path());
        gw._tmp = Some(tmp);
        gw
    }

    /// Starts a gateway with a fresh data directory and `workers` proxy
    /// workers (1 makes per-worker Lua state observable).
    pub fn start_with_workers(workers: usize) -> Gateway {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut gw = Gateway::spawn(tmp.path(), workers);
        gw._tmp = Some(tmp);
        gw
    }

    /// Starts a gateway on an existing data directory (restarts).
    pub fn start_in(data_dir: &Path) -> Gateway {
        Gateway::spawn(data_dir, 2)
    }

    fn spawn(data_dir: &Path, workers: usize) -> Gateway {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lunagate"))
            .args([
                "serve",
                "--proxy-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .args(["--workers", &workers.to_string()])
            .arg("--data-dir")
            .arg(data_dir)
            .env("LUNAGATE_LOG_LEVEL", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start lunagate");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut addr = |what: &str| -> SocketAddr {
            let line = lines
                .next()
                .expect("lunagate exited before listening")
                .expect("read stdout");
            assert!(line.contains(what), "unexpected first lines: {line}");
            line.rsplit(' ').next().unwrap().parse().expect("address")
        };
        let proxy = addr("proxy listening on");
        let admin = addr("admin listening on");
        Gateway {
            child,
            admin,
            proxy,
            data_dir: data_dir.to_path_buf(),
            _tmp: None,
        }
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin, path)
    }

    pub fn proxy_url(&self, path: &str) -> String {
        format!("http://{}{}", self.proxy, path)
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id() as i32;
        // SAFETY-free: use the kill command to avoid a libc dependency.
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("lunagate did not stop within 10 s of SIGTERM");
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// POSTs a JSON body and returns status and JSON response.
pub async fn post_json(url: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// POSTs a form-urlencoded body made of `pairs`.
pub async fn post_form(url: &str, pairs: &[(&str, &str)]) -> (u16, Value) {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let r = client()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub async fn get_json(url: &str) -> (u16, Value) {
    let r = client().get(url).send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Runs the `curl` command line, returning (status, body).
pub fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl is installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// A local upstream that answers every request with a JSON echo of what it
/// received: method, path, query, headers and body.
pub struct Upstream {
    pub addr: SocketAddr,
    _task: tokio::task::JoinHandle<()>,
}

pub async fn echo_upstream() -> Upstream {
    use http_body_util::{BodyExt, Full};
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let method = req.method().to_string();
                    let path = req.uri().path().to_string();
                    let query = req.uri().query().map(str::to_string);
                    let mut headers = serde_json::Map::new();
                    for (k, v) in req.headers() {
                        headers.insert(k.to_string(), Value::from(v.to_str().unwrap_or("")));
                    }
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let echo = serde_json::json!({
                        "method": method, "path": path, "query": query, "headers": headers,
                        "body": String::from_utf8_lossy(&body),
                    });
                    let resp = hyper::Response::builder()
                        .header("content-type", "application/json")
                        .body(Full::new(bytes::Bytes::from(echo.to_string())))
                        .unwrap();
                    Ok::<_, std::convert::Infallible>(resp)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Upstream { addr, _task: task }
}
