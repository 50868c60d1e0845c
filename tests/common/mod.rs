//! Test harness: starts the real `lunagate` binary on ephemeral ports with
//! a temporary data directory, an Admin API client, and real local
//! upstreams (an echo server with a slow path, one that answers garbage, a
//! closed port).
#![allow(dead_code)]

pub mod kong;
pub mod pdk;
pub mod tls;

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
    /// The HTTPS listener (`None` when a test turned it off).
    pub proxy_tls: Option<SocketAddr>,
    pub data_dir: PathBuf,
    /// Where the gateway's log goes, when started with [`Gateway::start_logged`]
    /// (else it is the test's stderr).
    pub log: Option<PathBuf>,
    /// A client for both listeners (no proxy from the environment).
    pub http: reqwest::Client,
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

    /// Starts a gateway with a fresh data directory, two workers, and extra
    /// `serve` arguments and environment variables.
    pub fn start_with(args: &[&str], envs: &[(&str, &str)]) -> Gateway {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut gw = Gateway::spawn_with(tmp.path(), 2, args, envs);
        gw._tmp = Some(tmp);
        gw
    }

    fn spawn(data_dir: &Path, workers: usize) -> Gateway {
        Gateway::spawn_with(data_dir, workers, &[], &[])
    }

    /// Starts a gateway with `workers` workers whose log (stderr) goes to
    /// a file the test can read ([`Gateway::log_text`]).
    pub fn start_logged(workers: usize) -> Gateway {
        Gateway::start_logged_with(workers, &[])
    }

    /// [`Gateway::start_logged`] with more `serve` flags.
    pub fn start_logged_with(workers: usize, args: &[&str]) -> Gateway {
        let tmp = tempfile::tempdir().expect("tempdir");
        let log = tmp.path().join("stderr.log");
        let file = std::fs::File::create(&log).expect("log file");
        let mut gw = Gateway::spawn_to(
            &tmp.path().join("data"),
            workers,
            args,
            &[],
            Stdio::from(file),
        );
        gw.log = Some(log);
        gw._tmp = Some(tmp);
        gw
    }

    /// The gateway's log so far (empty unless started with
    /// [`Gateway::start_logged`]).
    pub fn log_text(&self) -> String {
        self.log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    pub fn spawn_with(
        data_dir: &Path,
        workers: usize,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Gateway {
        Gateway::spawn_to(data_dir, workers, args, envs, Stdio::inherit())
    }

    fn spawn_to(
        data_dir: &Path,
        workers: usize,
        args: &[&str],
        envs: &[(&str, &str)],
        stderr: Stdio,
    ) -> Gateway {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lunagate"))
            .args(["serve", "--admin-listen", "127.0.0.1:0"])
            .args(
                (!args.contains(&"--proxy-listen"))
                    .then_some(["--proxy-listen", "127.0.0.1:0"])
                    .into_iter()
                    .flatten(),
            )
            .args(["--workers", &workers.to_string()])
            .args(
                (!args.contains(&"--proxy-listen-tls"))
                    .then_some(["--proxy-listen-tls", "127.0.0.1:0"])
                    .into_iter()
                    .flatten(),
            )
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .envs(envs.iter().copied())
            .env("LUNAGATE_LOG_LEVEL", "warn")
            .stdout(Stdio::piped())
            .stderr(stderr)
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
        let tls_line = lines
            .next()
            .expect("lunagate exited before listening")
            .expect("read stdout");
        let proxy_tls = tls_line.contains("proxy TLS listening on").then(|| {
            tls_line
                .rsplit(' ')
                .next()
                .unwrap()
                .parse()
                .expect("address")
        });
        Gateway {
            child,
            admin,
            proxy,
            proxy_tls,
            data_dir: data_dir.to_path_buf(),
            log: None,
            http: client(),
            _tmp: None,
        }
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin, path)
    }

    pub fn proxy_url(&self, path: &str) -> String {
        format!("http://{}{}", self.proxy, path)
    }

    /// Sends a JSON body to the Admin API; asserts a 2xx answer.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .request(method.clone(), self.admin_url(path))
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

    /// Creates a service from a URL, with `extra` fields.
    pub async fn service(&self, name: &str, url: &str, extra: Value) -> Value {
        let mut body = serde_json::json!({"name": name, "url": url});
        if let (Value::Object(a), Value::Object(b)) = (&mut body, extra) {
            a.extend(b);
        }
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

    /// GET through the proxy.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.proxy_url(path))
            .send()
            .await
            .expect("proxy request")
    }

    /// Sends raw bytes to the proxy and returns the raw response.
    pub fn raw(&self, request: &[u8]) -> String {
        raw_to(self.proxy, request)
    }

    /// Sends raw bytes to the Admin API and returns the raw response.
    pub fn raw_admin(&self, request: &[u8]) -> String {
        raw_to(self.admin, request)
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

/// Sends raw bytes and reads until the peer closes (send `Connection: close`).
pub fn raw_to(addr: SocketAddr, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(request).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
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

/// DELETEs and returns status and JSON response (null when empty).
pub async fn delete(url: &str) -> (u16, Value) {
    let r = client().delete(url).send().await.expect("request");
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

/// An upstream named `name` that answers every request with a JSON echo
/// of what it received: method, path, query, headers (repeated ones joined
/// with ", "), body and body length. Paths containing `/slow` wait 2 s.
pub async fn echo_upstream(name: &'static str) -> SocketAddr {
    use http_body_util::{BodyExt, Full};
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
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| async move {
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
                                    headers.insert(k.to_string(), Value::from(v));
                                }
                            }
                        }
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let out = serde_json::json!({"upstream": name, "method": method, "path": path,
                        "query": query, "headers": headers, "body": String::from_utf8_lossy(&body),
                        "body_len": body.len()});
                        let mut resp =
                            hyper::Response::new(Full::new(bytes::Bytes::from(out.to_string())));
                        resp.headers_mut().insert(
                            "content-type",
                            hyper::header::HeaderValue::from_static("application/json"),
                        );
                        Ok::<_, std::convert::Infallible>(resp)
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// An HTTP/2 connection to `addr` in cleartext with prior knowledge (as
/// the plain listener serves it), driven in the background: its sender.
pub async fn h2c(
    addr: SocketAddr,
) -> hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    send
}

/// Reads a request head, through its blank line, from a raw upstream
/// connection (the hand-written upstreams of the tests that need exact
/// bytes); `None` when the gateway closes or fails first.
pub async fn read_request_head(stream: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
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

/// One HTTP/1.1 response read off a raw connection, framed by its own
/// head (so a response that lies about its length shows up as garbage in
/// the next one).
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.text()))
    }
}

/// Reads one response; `to_head` when it answers a HEAD request.
pub fn read_response(r: &mut impl BufRead, to_head: bool) -> std::io::Result<RawResponse> {
    use std::io::{Error, ErrorKind};
    let bad = |m: String| Error::new(ErrorKind::InvalidData, m);
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(Error::new(ErrorKind::UnexpectedEof, "no response"));
    }
    let status: u16 = line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| line.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("not a status line: {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        let (n, v) = h
            .split_once(':')
            .ok_or_else(|| bad(format!("not a header: {h:?}")))?;
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    let mut resp = RawResponse {
        status,
        headers,
        body: Vec::new(),
    };
    if to_head || status < 200 || status == 204 || status == 304 {
        return Ok(resp);
    }
    if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim_end(), 16)
                .map_err(|_| bad(format!("bad chunk size {size:?}")))?;
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            resp.body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = resp.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| bad(format!("bad content-length {len:?}")))?;
        resp.body.resize(len, 0);
        r.read_exact(&mut resp.body)?;
    } else {
        r.read_to_end(&mut resp.body)?;
    }
    Ok(resp)
}

/// Writes `requests` at once on one connection to `addr` (pipelined; the
/// last should say `Connection: close`), reads one response per request,
/// and returns them with whatever the gateway sent after the last one.
pub fn pipelined(addr: SocketAddr, requests: &[&str]) -> (Vec<RawResponse>, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(requests.concat().as_bytes()).expect("write");
    let mut r = BufReader::new(s);
    let mut out = Vec::new();
    for req in requests {
        let resp = read_response(&mut r, req.starts_with("HEAD ")).unwrap_or_else(|e| {
            panic!(
                "response {} of {requests:?}: {e} after {out:#?}",
                out.len() + 1
            )
        });
        out.push(resp);
    }
    let mut rest = Vec::new();
    let _ = r.read_to_end(&mut rest);
    (out, rest)
}

impl Gateway {
    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts a gateway (fresh data directory, `workers` workers, extra
    /// `serve` arguments) through `wrapper`, a command that runs its
    /// arguments (`sh -c 'ulimit -Sn 100 && exec "$0" "$@"'`), with its
    /// standard error captured into the returned buffer.
    pub fn start_under(
        wrapper: &[&str],
        workers: usize,
        args: &[&str],
    ) -> (Gateway, std::sync::Arc<std::sync::Mutex<String>>) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(wrapper[0])
            .args(&wrapper[1..])
            .arg(env!("CARGO_BIN_EXE_lunagate"))
            .args([
                "serve",
                "--proxy-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .args(["--workers", &workers.to_string()])
            .args(
                (!args.contains(&"--proxy-listen-tls"))
                    .then_some(["--proxy-listen-tls", "off"])
                    .into_iter()
                    .flatten(),
            )
            .arg("--data-dir")
            .arg(tmp.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start lunagate");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{line}");
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
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
        // The third line says whether TLS listens; read it so the gateway
        // never writes to a closed pipe.
        let _ = lines.next();
        let gw = Gateway {
            child,
            admin,
            proxy,
            proxy_tls: None,
            data_dir: tmp.path().to_path_buf(),
            log: None,
            http: client(),
            _tmp: Some(tmp),
        };
        (gw, log)
    }
}
