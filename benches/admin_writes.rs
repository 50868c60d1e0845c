//! Admin API write cost at scale (issue 6, item 10): a bulk sync of
//! services, routes and plugins through the real binary, then single
//! writes on the loaded configuration.
//!
//! ```text
//! cargo bench --bench admin_writes                     # 10,000 routes, 1,000 plugins
//! ROUTES=2000 PLUGINS=200 cargo bench --bench admin_writes
//! ```
//!
//! Printed: the mean cost of one write in each tenth of the sync (flat
//! means the sync grows linearly with N; rising means every write pays for
//! everything before it), then the median and p90 of single writes of each
//! kind once everything is loaded, the total sync time and the gateway's
//! RSS. Run it when no other build or benchmark is busy.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One keep-alive HTTP/1.1 connection to the Admin API.
struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    fn new(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect to the Admin API");
        stream.set_nodelay(true).ok();
        Conn {
            stream: BufReader::new(stream),
        }
    }

    /// Sends one request and returns the status (the body is read and dropped).
    fn send(&mut self, method: &str, path: &str, body: &str) -> (u16, String) {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
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
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line).expect("read");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).expect("read body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn ok(&mut self, method: &str, path: &str, body: &str) {
        let (status, text) = self.send(method, path, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {text}"
        );
    }
}

struct Gateway {
    child: Child,
    admin: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Gateway {
    fn start() -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_lunagate"))
            .args([
                "serve",
                "--proxy-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--workers",
                "1",
                "--log-level",
                "warn",
            ])
            .arg("--data-dir")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start lunagate");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut admin = None;
        for line in lines.by_ref().take(2) {
            let line = line.expect("read");
            if line.contains("admin listening on") {
                admin = line.rsplit(' ').next().and_then(|a| a.parse().ok());
            }
        }
        Gateway {
            child,
            admin: admin.expect("admin address"),
            _dir: dir,
        }
    }

    fn rss_mib(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
            .map_or(0.0, |kb| kb / 1024.0)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs `count` writes, printing the mean per write of each tenth.
fn sync(label: &str, count: usize, mut write: impl FnMut(usize)) -> Duration {
    let start = Instant::now();
    let tenth = count.div_ceil(10).max(1);
    let mut line = format!("{label:<10} ms/write by tenth:");
    let mut block = Instant::now();
    for i in 0..count {
        write(i);
        if (i + 1) % tenth == 0 || i + 1 == count {
            let n = (i % tenth) + 1;
            line.push_str(&format!(" {:.2}", ms(block.elapsed()) / n as f64));
            block = Instant::now();
        }
    }
    let total = start.elapsed();
    println!("{line}   (total {:.1} s)", total.as_secs_f64());
    total
}

fn percentiles(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |p: f64| ms(samples[((samples.len() - 1) as f64 * p) as usize]);
    println!(
        "{label:<34} median {:.2} ms   p90 {:.2} ms   max {:.2} ms",
        at(0.5),
        at(0.9),
        at(1.0)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let routes = env_usize("ROUTES", 10_000);
    let plugins = env_usize("PLUGINS", 1_000).min(routes);
    let singles = env_usize("SINGLES", 50);
    let gw = Gateway::start();
    let mut c = Conn::new(gw.admin);
    println!(
        "lunagate admin writes: {routes} routes, {plugins} plugins, {singles} single writes each"
    );

    c.ok(
        "POST",
        "/services",
        r#"{"name":"bench","url":"http://127.0.0.1:9/"}"#,
    );
    let mut total = sync("routes", routes, |i| {
        c.ok(
            "POST",
            "/services/bench/routes",
            &format!(r#"{{"name":"r{i}","paths":["/r{i}"]}}"#),
        )
    });
    total += sync("plugins", plugins, |i| {
        c.ok(
            "POST",
            &format!("/routes/r{i}/plugins"),
            &format!(
                r#"{{"name":"pre-function","config":{{"access":["kong.response.set_header('x-n', '{i}')"]}}}}"#
            ),
        )
    });
    println!(
        "sync of {} entities: {:.1} s, {:.2} ms/write on average; RSS {:.0} MiB",
        routes + plugins + 1,
        total.as_secs_f64(),
        ms(total) / (routes + plugins + 1) as f64,
        gw.rss_mib()
    );

    let time = |c: &mut Conn, method: &str, path: &str, body: &str| {
        let t = Instant::now();
        c.ok(method, path, body);
        t.elapsed()
    };
    let samples: Vec<Duration> = (0..singles)
        .map(|i| {
            time(
                &mut c,
                "POST",
                "/services/bench/routes",
                &format!(r#"{{"name":"extra{i}","paths":["/extra{i}"]}}"#),
            )
        })
        .collect();
    percentiles("one more route (POST)", samples);
    let samples: Vec<Duration> = (0..singles)
        .map(|i| {
            time(
                &mut c,
                "PATCH",
                "/routes/r1",
                &format!(r#"{{"paths":["/r1","/v{i}"]}}"#),
            )
        })
        .collect();
    percentiles("route update (PATCH)", samples);
    let samples: Vec<Duration> = (0..singles)
        .map(|i| {
            time(
                &mut c,
                "POST",
                &format!("/routes/extra{i}/plugins"),
                r#"{"name":"post-function","config":{"log":["local x = 1"]}}"#,
            )
        })
        .collect();
    percentiles("one more plugin (POST)", samples);
    let samples: Vec<Duration> = (0..singles)
        .map(|i| time(&mut c, "DELETE", &format!("/routes/extra{i}"), ""))
        .collect();
    percentiles("route delete (with its plugin)", samples);
    println!("RSS at the end: {:.0} MiB", gw.rss_mib());
}
