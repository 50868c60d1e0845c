//! Heap allocations per proxied request (issue 9), counted in the real
//! gateway: the binary built with the `alloc-count` feature counts every
//! allocation of the process (src/alloc_count.rs) and reports the totals
//! when asked on its stdin; this bench sends batches of keep-alive
//! requests through one worker and divides the difference by the batch.
//!
//! ```text
//! cargo bench --bench allocs --features alloc-count
//! REQUESTS=50000 cargo bench --bench allocs --features alloc-count
//! ```
//!
//! Cases: plain proxying (`/`, no plugin), the seed's custom-auth check as
//! a pre-function on its proxied path (`/auth` with `x-custom-auth`) and
//! on its 401 path (`/auth` without). The upstream is a small HTTP/1.1
//! server in this process (`ok`, `Content-Length: 2`), so the counts are
//! the gateway's alone. Counts do not depend on machine load: this bench
//! can run anywhere (it uses the unoptimised-by-LTO bench profile, which
//! allocates as the release build does).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    fn new(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).ok();
        Conn {
            stream: BufReader::new(stream),
        }
    }

    /// Sends one request; returns the status and the body.
    fn send(&mut self, head: &str, body: &str) -> (u16, String) {
        let s = self.stream.get_mut();
        s.write_all(head.as_bytes()).expect("write");
        s.write_all(body.as_bytes()).expect("write");
        let mut status_line = String::new();
        self.stream.read_line(&mut status_line).expect("read");
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = None;
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line).expect("read");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                }
            }
        }
        let length = length.expect("the gateway's answers here have a Content-Length");
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).expect("read body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn get(&mut self, path: &str, header: Option<&str>) -> u16 {
        let extra = header.map_or(String::new(), |h| format!("{h}\r\n"));
        let head = format!("GET {path} HTTP/1.1\r\nHost: bench.test\r\n{extra}\r\n");
        self.send(&head, "").0
    }

    fn post_json(&mut self, path: &str, json: &str) -> (u16, String) {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            json.len()
        );
        self.send(&head, json)
    }
}

/// The upstream: answers every request head with `ok`, keep-alive.
fn upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
    let addr = listener.local_addr().expect("upstream address");
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                stream.set_nodelay(true).ok();
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                loop {
                    line.clear();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) if line == "\r\n" => {
                            let answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
                            if reader.get_mut().write_all(answer).is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    addr
}

/// The gateway under count, with its stdin (ask) and stdout (counts).
struct Gateway {
    child: Child,
    ask: ChildStdin,
    counts: std::io::Lines<BufReader<ChildStdout>>,
    proxy: SocketAddr,
    admin: SocketAddr,
    _data: tempfile::TempDir,
}

impl Gateway {
    fn start() -> Gateway {
        let data = tempfile::tempdir().expect("temporary directory");
        let mut child = Command::new(env!("CARGO_BIN_EXE_lunagate"))
            .args(["serve", "--workers", "1", "--proxy-listen", "127.0.0.1:0"])
            .args(["--admin-listen", "127.0.0.1:0", "--proxy-listen-tls", "off"])
            .arg("--data-dir")
            .arg(data.path())
            .env("LUNAGATE_LOG_LEVEL", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start lunagate");
        let ask = child.stdin.take().expect("stdin");
        let mut counts = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut addr = |what: &str| -> SocketAddr {
            let line = counts
                .next()
                .expect("lunagate exited before listening")
                .expect("read stdout");
            assert!(line.contains(what), "unexpected line: {line}");
            line.rsplit(' ').next().unwrap().parse().expect("address")
        };
        let proxy = addr("proxy listening on");
        let admin = addr("admin listening on");
        counts.next(); // "proxy TLS off"
        Gateway {
            child,
            ask,
            counts,
            proxy,
            admin,
            _data: data,
        }
    }

    /// (allocations, reallocations, bytes) so far.
    fn counts(&mut self) -> (u64, u64, u64) {
        self.ask.write_all(b"\n").expect("ask for counts");
        self.ask.flush().expect("ask for counts");
        let line = self
            .counts
            .next()
            .expect("lunagate exited")
            .expect("read counts");
        let field = |name: &str| -> u64 {
            let mut words = line.split(' ');
            while let Some(w) = words.next() {
                if w == name {
                    return words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                }
            }
            panic!("no {name} in {line:?}: was lunagate built with --features alloc-count?")
        };
        (field("allocs"), field("reallocs"), field("bytes"))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const CUSTOM_AUTH: &str = r#"local key = kong.request.get_header("x-custom-auth")
if not key then return kong.response.exit(401, {message = "Invalid Credentials"}) end
kong.service.request.clear_header("x-custom-auth")"#;

fn main() {
    let requests = env_usize("REQUESTS", 20_000).max(1);
    let warmup = env_usize("WARMUP", 2_000);
    let up = upstream();
    let mut gw = Gateway::start();

    let mut admin = Conn::new(gw.admin);
    for (path, json) in [
        (
            "/services".to_string(),
            format!(r#"{{"name":"plain","url":"http://{up}"}}"#),
        ),
        (
            "/services/plain/routes".to_string(),
            r#"{"paths":["/"]}"#.to_string(),
        ),
        (
            "/services".to_string(),
            format!(r#"{{"name":"auth","url":"http://{up}"}}"#),
        ),
        (
            "/services/auth/routes".to_string(),
            r#"{"paths":["/auth"]}"#.to_string(),
        ),
        (
            "/services/auth/plugins".to_string(),
            serde_json::json!({"name": "pre-function", "config": {"access": [CUSTOM_AUTH]}})
                .to_string(),
        ),
    ] {
        let (status, body) = admin.post_json(&path, &json);
        assert_eq!(status, 201, "POST {path}: {body}");
    }

    println!("heap allocations per request in the gateway process (one worker, keep-alive, {requests} requests after {warmup} of warm-up)");
    println!(
        "{:<28} {:>10} {:>10} {:>12}",
        "case", "allocs", "reallocs", "bytes"
    );
    let cases: [(&str, &str, Option<&str>, u16); 3] = [
        ("plain proxy", "/", None, 200),
        (
            "custom-auth, proxied (200)",
            "/auth",
            Some("x-custom-auth: k"),
            200,
        ),
        ("custom-auth, 401 path", "/auth", None, 401),
    ];
    for (name, path, header, want) in cases {
        let mut conn = Conn::new(gw.proxy);
        for _ in 0..warmup {
            assert_eq!(conn.get(path, header), want, "{name}");
        }
        let before = gw.counts();
        for _ in 0..requests {
            assert_eq!(conn.get(path, header), want, "{name}");
        }
        let after = gw.counts();
        let per = |a: u64, b: u64| (b - a) as f64 / requests as f64;
        println!(
            "{:<28} {:>10.2} {:>10.2} {:>12.0}",
            name,
            per(before.0, after.0),
            per(before.1, after.1),
            per(before.2, after.2)
        );
    }
}
