//! Attacks on the proxy, each performed against the real binary (issue 6):
//! a function author smuggling a request or breaking framing, an upstream
//! poisoning the pool or closing idle connections, slow and malformed
//! clients. Each test fails on the code before its fix.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// A service `name` on `up`, a route `/name`, and a pre-function plugin on
/// that route running `code` in `phase`.
async fn function_route(gw: &Gateway, up: SocketAddr, name: &str, phase: &str, code: &str) {
    gw.service(name, &format!("http://{up}"), json!({})).await;
    gw.route(name, json!({"paths": [format!("/{name}")]})).await;
    gw.admin(
        reqwest::Method::POST,
        &format!("/services/{name}/plugins"),
        json!({"name": "pre-function", "config": {phase: [code]}}),
    )
    .await;
}

/// A request as a scripted upstream saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    body: Vec<u8>,
    /// Requests before this one on the same connection.
    on_conn: usize,
}

/// What a scripted upstream does in answer to one request.
#[derive(Clone)]
enum Step {
    Write(Vec<u8>),
    Sleep(Duration),
    Close,
}

fn ok(body: &str) -> Step {
    Step::Write(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// An upstream written with raw sockets, to misbehave precisely: it reads
/// requests one after the other on each connection (head and
/// `Content-Length` body) and runs `answer`'s steps for each. A connection
/// idle for `idle_close` is closed, like Apache's or Node's keep-alive
/// timeouts. Returns the address and the log of requests seen.
async fn scripted_upstream<F>(
    idle_close: Option<Duration>,
    answer: F,
) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>)
where
    F: Fn(&Seen) -> Vec<Step> + Send + Sync + 'static,
{
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let answer = answer.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let mut stream = tokio::io::BufReader::new(stream);
                for on_conn in 0.. {
                    let mut head = Vec::new();
                    loop {
                        let mut line = Vec::new();
                        let read = stream.read_until(b'\n', &mut line);
                        let n = match idle_close {
                            Some(idle) if head.is_empty() => {
                                match tokio::time::timeout(idle, read).await {
                                    Ok(r) => r,
                                    Err(_) => return,
                                }
                            }
                            _ => read.await,
                        };
                        match n {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        let end = line == b"\r\n";
                        head.extend_from_slice(&line);
                        if end {
                            break;
                        }
                    }
                    let text = String::from_utf8_lossy(&head).into_owned();
                    let mut words = text.split_whitespace();
                    let method = words.next().unwrap_or("").to_string();
                    let path = words.next().unwrap_or("").to_string();
                    let length = text
                        .lines()
                        .find_map(|l| {
                            let (n, v) = l.split_once(':')?;
                            n.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0usize);
                    let mut body = vec![0; length];
                    if stream.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let req = Seen {
                        method,
                        path,
                        body,
                        on_conn,
                    };
                    log.lock().unwrap().push(req.clone());
                    for step in answer(&req) {
                        match step {
                            Step::Write(bytes) => {
                                if stream.get_mut().write_all(&bytes).await.is_err() {
                                    return;
                                }
                            }
                            Step::Sleep(d) => tokio::time::sleep(d).await,
                            Step::Close => return,
                        }
                    }
                }
            });
        }
    });
    (addr, seen)
}

async fn get_status_json(url: &str) -> (u16, Value) {
    let r = client().get(url).send().await.expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Item 2: whatever a function writes into the request line or headers
/// cannot become a second request on the pooled upstream connection, whose
/// answer another client on another route would then receive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_cannot_smuggle_requests_upstream() {
    let up = echo_upstream("up").await;
    // One worker: every request shares one upstream pool.
    let gw = Gateway::start_with_workers(1);
    gw.service("victim", &format!("http://{up}"), json!({}))
        .await;
    gw.route("victim", json!({"paths": ["/victim"]})).await;
    // The smuggled request is answered late (the echo upstream waits on
    // `/slow`), after the connection went back to the pool.
    let smuggled =
        "a=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /slow/smuggled HTTP/1.1\r\nHost: x\r\nX-Pad: ";
    let attacks: [String; 9] = [
        format!("kong.service.request.set_raw_query({smuggled:?})"),
        format!("ngx.var.args = {smuggled:?}"),
        format!("ngx.req.set_uri_args({smuggled:?})"),
        format!("ngx.var.upstream_uri = '/x ' .. {smuggled:?}"),
        "kong.service.request.set_method('GET /slow/smuggled HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET')".into(),
        "kong.service.request.set_header('X-A', '1\\r\\n\\r\\nGET /slow/smuggled HTTP/1.1\\r\\nX-B: 1')".into(),
        "kong.service.request.set_header('X-A\\r\\n\\r\\nGET /slow/smuggled HTTP/1.1\\r\\nX-B', '1')".into(),
        "ngx.req.set_header('X-A', {'1', '2\\r\\n\\r\\nGET /slow/smuggled HTTP/1.1'})".into(),
        "kong.service.request.set_raw_query('a=1 b')".into(),
    ];
    for (i, code) in attacks.iter().enumerate() {
        let name = format!("attack{i}");
        function_route(&gw, up, &name, "access", code).await;
        let (status, body) = get_status_json(&gw.proxy_url(&format!("/{name}"))).await;
        // Another client, another route, same upstream connection pool:
        // it must get its own answer, not the smuggled request's.
        for _ in 0..2 {
            let (status, echo) = get_status_json(&gw.proxy_url("/victim?who=victim")).await;
            assert_eq!(status, 200, "after {code}: {echo}");
            assert_eq!(echo["query"], "who=victim", "after {code}: {echo}");
        }
        // The function fails: Kong's error for a function error.
        assert_eq!(status, 500, "{code}: {body}");
        assert_eq!(body["message"], "An unexpected error occurred", "{code}");
    }

    // A table of query args is percent-encoded, whatever it holds.
    function_route(
        &gw,
        up,
        "table",
        "access",
        "ngx.req.set_uri_args({q = 'a b\\r\\nGET /slow/smuggled', ['k y'] = 'é'})",
    )
    .await;
    let (status, echo) = get_status_json(&gw.proxy_url("/table")).await;
    assert_eq!(status, 200, "{echo}");
    assert_eq!(
        echo["query"],
        "k%20y=%C3%A9&q=a%20b%0D%0AGET%20%2Fslow%2Fsmuggled"
    );
    // A raw query with non-ASCII text is percent-encoded on the way.
    function_route(
        &gw,
        up,
        "utf8",
        "access",
        "kong.service.request.set_raw_query('q=é&r=1')",
    )
    .await;
    let (status, echo) = get_status_json(&gw.proxy_url("/utf8")).await;
    assert_eq!((status, &echo["query"]), (200, &json!("q=%C3%A9&r=1")));
}

/// Item 3, toward the client: a function cannot set the response's
/// framing headers. Each attack route is followed, on the same
/// connection, by a request to a plain route, which must get exactly its
/// own response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_cannot_break_response_framing() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start_with_workers(1);
    gw.service("plain", &format!("http://{up}"), json!({}))
        .await;
    gw.route("plain", json!({"paths": ["/plain"]})).await;
    let forged = "HTTP/1.1 200 OK\\r\\nContent-Length: 6\\r\\n\\r\\nforged";
    let cases: [(&str, &str, String, u16); 11] = [
        ("cl_access", "access", "kong.response.set_header('Content-Length', '1')".into(), 200),
        ("te_access", "access", "ngx.header['Transfer-Encoding'] = 'chunked'".into(), 200),
        ("conn_access", "access", "kong.response.set_header('Connection', 'close')".into(), 200),
        ("cl_filter", "header_filter", "kong.response.set_header('Content-Length', '2')".into(), 200),
        ("te_filter", "header_filter", "kong.response.set_header('Transfer-Encoding', 'chunked')".into(), 200),
        ("clear_filter", "header_filter", "kong.response.clear_header('Content-Length') ngx.header['Keep-Alive'] = 'timeout=1'".into(), 200),
        ("exit_cl", "access", format!("kong.response.exit(200, \"{forged}\", {{['Content-Length'] = '0', ['Transfer-Encoding'] = 'chunked'}})"), 200),
        ("exit_filter", "header_filter", format!("kong.response.exit(200, \"{forged}\", {{['Content-Length'] = '3'}})"), 200),
        ("exit_101", "access", "kong.response.exit(101, 'switched', {Upgrade = 'websocket', Connection = 'Upgrade'})".into(), 500),
        ("exit_204", "access", "kong.response.exit(204, 'no content has a body?')".into(), 204),
        ("status_101", "header_filter", "ngx.status = 101".into(), 500),
    ];
    for (name, phase, code, _) in &cases {
        function_route(&gw, up, name, phase, code).await;
    }
    for (name, _, code, status) in &cases {
        for method in ["GET", "HEAD"] {
            let first = format!("{method} /{name} HTTP/1.1\r\nHost: x\r\n\r\n");
            let (resps, rest) = pipelined(
                gw.proxy,
                &[
                    &first,
                    "GET /plain?n=second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                ],
            );
            assert_eq!(resps[0].status, *status, "{method} {code}: {resps:#?}");
            let second = &resps[1];
            assert_eq!(second.status, 200, "{method} {code}: {resps:#?}");
            assert_eq!(second.json()["query"], "n=second", "{method} {code}");
            assert!(
                rest.is_empty(),
                "{method} {code}: stray bytes {:?}",
                String::from_utf8_lossy(&rest)
            );
            let first = &resps[0];
            if method == "HEAD" || *status == 204 {
                continue;
            }
            if name.starts_with("exit_") && *status == 200 {
                assert_eq!(first.text(), forged.replace("\\r\\n", "\r\n"), "{code}");
            } else if *status == 200 {
                assert_eq!(first.json()["path"], "/", "{code}");
            }
        }
    }
}

/// Item 3, toward the upstream: the request's framing comes from its real
/// body, never from a header a function set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_cannot_break_request_framing() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start_with_workers(1);
    for (name, code) in [
        ("cl_get", "kong.service.request.set_header('Content-Length', '10')"),
        ("te_get", "kong.service.request.set_header('Transfer-Encoding', 'chunked')"),
        ("cl_post", "ngx.req.set_header('Content-Length', '2')"),
        ("body_post", "kong.service.request.set_raw_body('replaced') kong.service.request.set_header('Content-Length', '100')"),
    ] {
        gw.service(name, &format!("http://{up}"), json!({"read_timeout": 3000}))
            .await;
        gw.route(name, json!({"paths": [format!("/{name}")]})).await;
        gw.admin(
            reqwest::Method::POST,
            &format!("/services/{name}/plugins"),
            json!({"name": "pre-function", "config": {"access": [code]}}),
        )
        .await;
    }
    let started = std::time::Instant::now();
    for name in ["cl_get", "te_get"] {
        let (status, echo) = get_status_json(&gw.proxy_url(&format!("/{name}"))).await;
        assert_eq!(status, 200, "{name}: {echo}");
        assert_eq!(echo["body_len"], 0);
        assert!(echo["headers"].get("transfer-encoding").is_none(), "{echo}");
        assert!(echo["headers"].get("content-length").is_none(), "{echo}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no read timeout"
    );
    for (name, sent, seen) in [
        ("cl_post", "hello", "hello"),
        ("body_post", "x", "replaced"),
    ] {
        let r = client()
            .post(gw.proxy_url(&format!("/{name}")))
            .body(sent)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
        let echo: Value = r.json().await.unwrap();
        assert_eq!(echo["body"], seen, "{name}: {echo}");
        assert_eq!(
            echo["headers"]["content-length"],
            seen.len().to_string(),
            "{echo}"
        );
    }
}

/// Item 4: an upstream that writes anything after a complete response, or
/// sends a response whose framing cannot be trusted, does not get that
/// connection reused: the next request, from another client on another
/// route, gets its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stray_upstream_bytes_do_not_poison_the_pool() {
    let poison = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON";
    let (up, seen) = scripted_upstream(None, move |req| {
        let late = || vec![Step::Sleep(Duration::from_millis(50)), Step::Write(poison.into())];
        match req.path.as_str() {
            // Stray bytes after a complete response, sent a little later.
            "/stray" => [vec![ok("first")], late()].concat(),
            // In the same write as the response.
            "/glued" => vec![Step::Write(format!("{}{poison}", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst").into_bytes())],
            // Both framings: a 502, as nginx answers it; never reused.
            "/cl-te" => [
                vec![Step::Write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n0\r\n\r\n".to_vec())],
                late(),
            ]
            .concat(),
            // A body after a 204, which has none.
            "/no-content" => [
                vec![Step::Write(b"HTTP/1.1 204 No Content\r\n\r\n".to_vec())],
                late(),
                vec![Step::Close],
            ]
            .concat(),
            // A chunked body whose trailer section is followed by more.
            "/chunked" => [
                vec![Step::Write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n0\r\n\r\n".to_vec())],
                late(),
            ]
            .concat(),
            other => vec![ok(&format!("answer to {other}"))],
        }
    })
    .await;
    let gw = Gateway::start_with_workers(1);
    // Two services on the same upstream: one pool key.
    gw.service("bad", &format!("http://{up}"), json!({})).await;
    gw.route("bad", json!({"paths": ["/bad"]})).await;
    gw.service("victim", &format!("http://{up}"), json!({}))
        .await;
    gw.route("victim", json!({"paths": ["/victim"]})).await;
    for path in ["/stray", "/glued", "/cl-te", "/no-content", "/chunked"] {
        let r = client()
            .get(gw.proxy_url(&format!("/bad{path}")))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert!(
            (status == 200 && body == "first")
                || (status == 204 && body.is_empty())
                || (status == 502 && path == "/cl-te"),
            "{path}: {status} {body}"
        );
        // The stray bytes are there before the next request.
        tokio::time::sleep(Duration::from_millis(200)).await;
        for i in 0..3 {
            let r = client()
                .get(gw.proxy_url(&format!("/victim/{i}")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "after {path}");
            assert_eq!(
                r.text().await.unwrap(),
                format!("answer to /{i}"),
                "after {path}"
            );
        }
    }
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.len(),
        5 * 4,
        "every request reached the upstream once: {seen:?}"
    );
    assert!(seen.iter().all(|s| s.method == "GET" && s.body.is_empty()));
    assert!(
        seen.iter().any(|s| s.on_conn > 0),
        "clean connections are still reused: {seen:?}"
    );
}

/// Item 5, the reproduction: an upstream that closes connections idle for
/// 1 s (Apache's and Node's keep-alive timeouts are 1–5 s), a POST every
/// 1.5 s. Every POST must succeed, each reaching the upstream once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_survive_upstream_idle_timeouts() {
    let (up, seen) = scripted_upstream(Some(Duration::from_secs(1)), |req| {
        vec![ok(&format!("{} {}", req.method, req.body.len()))]
    })
    .await;
    let gw = Gateway::start_with_workers(1);
    gw.service("s", &format!("http://{up}"), json!({})).await;
    gw.route("s", json!({"paths": ["/"]})).await;
    let rounds = 4;
    let mut failures = Vec::new();
    for i in 0..rounds {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        let r = client()
            .post(gw.proxy_url("/form"))
            .body("a=1&b=2")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        if (status, body.as_str()) != (200, "POST 7") {
            failures.push((i, status, body));
        }
    }
    assert!(failures.is_empty(), "{failures:?} of {rounds}");
    assert_eq!(seen.lock().unwrap().len(), rounds);
}

/// Item 5, the race the probe cannot see (the upstream closes a reused
/// connection just as the request arrives, without answering): idempotent
/// requests, or ones with an `Idempotency-Key`, are retried once on a
/// fresh connection; a POST the upstream may have read is never replayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_replayable_requests_are_retried() {
    // A request for `/x-…` that is not the first on its connection is
    // read, then the connection is closed unanswered.
    let (up, seen) = scripted_upstream(None, |req| {
        if req.path.starts_with("/x-") && req.on_conn > 0 {
            vec![Step::Close]
        } else {
            vec![ok(&format!("{} {}", req.method, req.path))]
        }
    })
    .await;
    let gw = Gateway::start_with_workers(1);
    gw.service("s", &format!("http://{up}"), json!({})).await;
    gw.route("s", json!({"paths": ["/"], "strip_path": false}))
        .await;
    // A streamed body cannot be sent twice: only requests without one
    // (or with one the gateway holds whole) are replayable at all.
    let send = |method: reqwest::Method, path: &'static str, key: bool, body: &'static str| {
        let mut r = client().request(method, gw.proxy_url(path));
        if key {
            r = r.header("idempotency-key", "k1");
        }
        if !body.is_empty() {
            r = r.body(body);
        }
        async move {
            let r = r.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let count = |path: &str| {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .count()
    };

    assert_eq!(
        send(reqwest::Method::GET, "/warm", false, "").await,
        (200, "GET /warm".into())
    );
    // Each of these reuses the pooled connection, which the upstream
    // closes unanswered; a retry goes on a new one, then pooled in turn.
    assert_eq!(
        send(reqwest::Method::GET, "/x-get", false, "").await,
        (200, "GET /x-get".into())
    );
    assert_eq!(count("/x-get"), 2, "sent, then retried once");
    assert_eq!(
        send(reqwest::Method::POST, "/x-key", true, "").await,
        (200, "POST /x-key".into())
    );
    assert_eq!(
        count("/x-key"),
        2,
        "an Idempotency-Key makes a POST replayable"
    );
    let (status, body) = send(reqwest::Method::POST, "/x-post", false, "payload").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(
        count("/x-post"),
        1,
        "a POST the upstream read is never replayed"
    );
}

/// Reads one response from a raw connection, allowing `within`.
fn response_within(s: &std::net::TcpStream, within: Duration) -> std::io::Result<RawResponse> {
    s.set_read_timeout(Some(within)).unwrap();
    read_response(&mut std::io::BufReader::new(s), false)
}

/// Item 6: a client still sending its request head after the header
/// timeout gets a 408 and is closed, however steadily it trickles bytes;
/// an idle keep-alive connection between requests is not a slow head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_heads_get_408() {
    use std::io::Write;
    let up = echo_upstream("up").await;
    let gw = Gateway::start_with(&["--client-header-timeout", "1s"], &[]);
    gw.service("s", &format!("http://{up}"), json!({})).await;
    gw.route("s", json!({"paths": ["/"]})).await;

    let started = std::time::Instant::now();
    let mut s = std::net::TcpStream::connect(gw.proxy).unwrap();
    s.write_all(b"GET /slowloris HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut trickle = s.try_clone().unwrap();
    let trickler = std::thread::spawn(move || {
        // A header byte every 200 ms: the connection is never quiet.
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(200));
            if trickle.write_all(b"X").is_err() {
                break;
            }
        }
    });
    let resp = response_within(&s, Duration::from_secs(5)).expect("a 408, not silence");
    let elapsed = started.elapsed();
    assert_eq!(resp.status, 408, "{resp:?}");
    assert!(
        resp.text().starts_with("Request timeout\nrequest_id: "),
        "{resp:?}"
    );
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    trickler.join().unwrap();

    // Between requests, a keep-alive connection may stay quiet longer.
    let mut s = std::net::TcpStream::connect(gw.proxy).unwrap();
    for i in 0..2 {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(1600));
        }
        s.write_all(format!("GET /k{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        let resp = response_within(&s, Duration::from_secs(5)).unwrap();
        assert_eq!(resp.status, 200, "request {i}: {resp:?}");
    }
}

/// An upstream that reads each connection to its end and reports how many
/// bytes it got, without ever answering.
async fn sink_upstream() -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<usize>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut total = 0;
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buf).await {
                    total += n;
                }
                let _ = tx.send(total);
            });
        }
    });
    (addr, rx)
}

/// Item 6: a client that stops sending its body gets a 408, on a streamed
/// route (whose upstream connection is closed too) and on a route whose
/// functions read the body; a body sent slowly but steadily is not cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_request_bodies_get_408() {
    use std::io::Write;
    let (sink, mut closed) = sink_upstream().await;
    let up = echo_upstream("up").await;
    let gw = Gateway::start_with(&["--client-body-timeout", "1s"], &[]);
    gw.service("sink", &format!("http://{sink}"), json!({}))
        .await;
    gw.route("sink", json!({"paths": ["/sink"]})).await;
    function_route(&gw, up, "buffered", "access", "kong.request.get_raw_body()").await;
    gw.service("echo", &format!("http://{up}"), json!({})).await;
    gw.route("echo", json!({"paths": ["/echo"]})).await;

    for path in ["/sink", "/buffered"] {
        let started = std::time::Instant::now();
        let mut s = std::net::TcpStream::connect(gw.proxy).unwrap();
        s.write_all(
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
                .as_bytes(),
        )
        .unwrap();
        let resp = response_within(&s, Duration::from_secs(5)).expect("a 408, not silence");
        let elapsed = started.elapsed();
        assert_eq!(resp.status, 408, "{path}: {resp:?}");
        assert!(resp.text().starts_with("Request timeout"), "{resp:?}");
        assert!(elapsed < Duration::from_secs(3), "{path}: {elapsed:?}");
    }
    // The upstream connection the stalled body held was closed, after the
    // part of the body that came.
    let got = tokio::time::timeout(Duration::from_secs(3), closed.recv())
        .await
        .expect("the upstream connection is closed")
        .unwrap();
    assert!(got > 10, "head and the body's first bytes: {got}");

    // nginx's rule: the timeout is between two reads, not for the body.
    let mut s = std::net::TcpStream::connect(gw.proxy).unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n")
        .unwrap();
    for b in b"steadily" {
        std::thread::sleep(Duration::from_millis(300));
        s.write_all(&[*b]).unwrap();
    }
    let resp = response_within(&s, Duration::from_secs(5)).unwrap();
    assert_eq!(
        (resp.status, &resp.json()["body"]),
        (200, &json!("steadily"))
    );
}

/// Item 6: at the file descriptor limit, new clients are refused at once
/// (a 503, or the connection closed) instead of waiting in the accept
/// queue; the gateway serves again once descriptors free. At start-up the
/// soft limit is raised to the hard one, and logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptor_limit_refuses_clients_quickly() {
    use std::io::Write;
    let up = echo_upstream("up").await;
    use rustix::process::{getrlimit, prlimit, Pid, Resource, Rlimit};
    let hard = getrlimit(Resource::Nofile)
        .maximum
        .expect("a finite hard limit");
    // Started with a soft limit of 100 (and this process's hard limit).
    let (gw, log) = Gateway::start_under(
        &["sh", "-c", "ulimit -Sn 100 && exec \"$0\" \"$@\""],
        1,
        &["--log-level", "info"],
    );
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", gw.pid())).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .skip(3)
        .take(2)
        .map(|n| n.parse::<u64>().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(open_files, [hard, hard], "soft raised to hard");
    // Standard error is read by another thread: give it a moment.
    let logged = format!("open files limit (RLIMIT_NOFILE): {hard} (was 100)");
    for _ in 0..50 {
        if log.lock().unwrap().contains(&logged) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = log.lock().unwrap().clone();
    assert!(text.contains(&logged), "{text}");
    gw.service("s", &format!("http://{up}"), json!({})).await;
    gw.route("s", json!({"paths": ["/"]})).await;
    assert_eq!(gw.get("/warm").await.status(), 200);

    // Now a limit just above what the gateway uses.
    let used = std::fs::read_dir(format!("/proc/{}/fd", gw.pid()))
        .unwrap()
        .count();
    let limit = used + 8;
    let pid = Pid::from_raw(gw.pid() as i32).unwrap();
    let limit = Some(limit as u64);
    prlimit(
        Some(pid),
        Resource::Nofile,
        Rlimit {
            current: limit,
            maximum: limit,
        },
    )
    .expect("lower the gateway's limit");
    // Idle clients take every descriptor left.
    let idle: Vec<_> = (0..20)
        .map(|_| std::net::TcpStream::connect(gw.proxy).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let mut s = std::net::TcpStream::connect(gw.proxy).unwrap();
    let _ = s.write_all(b"GET /refused HTTP/1.1\r\nHost: x\r\n\r\n");
    match response_within(&s, Duration::from_secs(5)) {
        Ok(resp) => assert_eq!(resp.status, 503, "{resp:?}"),
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
            ),
            "refused, not left waiting: {e}"
        ),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(idle);
    std::thread::sleep(Duration::from_millis(300));
    let mut served = false;
    for _ in 0..10 {
        if let Ok(r) = client().get(gw.proxy_url("/again")).send().await {
            if r.status() == 200 {
                served = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(served, "served again once descriptors are free");
}

/// Low items: HTTP/1.1 without `Host` or with two is a 400; an
/// absolute-form target routes by its own authority; a malformed chunked
/// request body is the client's fault (400), streamed or read for
/// functions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_client_requests_get_400() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start_with_workers(1);
    gw.service("a", &format!("http://{up}"), json!({})).await;
    gw.route("a", json!({"hosts": ["a.example"], "paths": ["/"]}))
        .await;
    gw.service("b", &format!("http://{up}/b"), json!({})).await;
    gw.route("b", json!({"hosts": ["b.example"], "paths": ["/"]}))
        .await;
    function_route(&gw, up, "buffered", "access", "kong.request.get_raw_body()").await;
    gw.service("plain", &format!("http://{up}"), json!({}))
        .await;
    gw.route("plain", json!({"paths": ["/plain"]})).await;

    let one = |req: &str| {
        let (resps, _) = pipelined(gw.proxy, &[req]);
        resps.into_iter().next().unwrap()
    };
    for req in [
        "GET /plain HTTP/1.1\r\nConnection: close\r\n\r\n",
        "GET /plain HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: close\r\n\r\n",
        "GET /plain HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n",
        "GET /plain HTTP/1.1\r\nHost: user@a.example\r\nConnection: close\r\n\r\n",
    ] {
        let resp = one(req);
        assert_eq!(resp.status, 400, "{req:?}: {resp:?}");
        assert!(
            resp.text().starts_with("Bad request\nrequest_id: "),
            "{resp:?}"
        );
    }
    // HTTP/1.0 needs no Host.
    let resp = one("GET /plain HTTP/1.0\r\n\r\n");
    assert_eq!(resp.status, 200, "{resp:?}");

    // The target's authority wins over the Host header.
    let resp =
        one("GET http://a.example/x?q=1 HTTP/1.1\r\nHost: b.example\r\nConnection: close\r\n\r\n");
    assert_eq!(resp.status, 200, "{resp:?}");
    let echo = resp.json();
    assert_eq!(echo["path"], "/x", "routed to a, not b: {echo}");
    assert_eq!(echo["query"], "q=1");
    assert_eq!(echo["headers"]["x-forwarded-host"], "a.example", "{echo}");

    for path in ["/plain", "/buffered"] {
        for body in [
            "zz\r\nabc\r\n0\r\n\r\n",
            "fffffffffffffffff1\r\nabc\r\n0\r\n\r\n",
            "3\r\nabcdef\r\n0\r\n\r\n",
        ] {
            let resp = one(&format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{body}"
            ));
            assert_eq!(resp.status, 400, "{path} {body:?}: {resp:?}");
            assert!(resp.text().starts_with("Bad request"), "{resp:?}");
        }
    }
}

/// An HTTP/2 `:method` follows HTTP/1's rule (`A`-`Z`, `_`, `-`): a stream
/// whose method is `get`, `Get` or `G1T` is reset with PROTOCOL_ERROR, as
/// nginx's HTTP/2 resets it ("client sent invalid method"), and the
/// connection goes on. Red before: proxied, the upstream saw `get`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_methods_are_upper_case_as_nginx_reads_them() {
    use http_body_util::{BodyExt, Empty};
    let up = echo_upstream("up").await;
    let gw = Gateway::start_with_workers(1);
    gw.service("m", &format!("http://{up}"), json!({})).await;
    gw.route("m", json!({"paths": ["/m"]})).await;

    // Cleartext with prior knowledge, as the plain listener serves it.
    let mut send = h2c(gw.proxy).await;
    for (method, proxied) in [
        ("get", false),
        ("Get", false),
        ("G1T", false),
        ("M-SEARCH", true),
        ("G_T", true),
    ] {
        let req = http::Request::builder()
            .method(http::Method::from_bytes(method.as_bytes()).unwrap())
            .uri("http://x/m")
            .body(Empty::<bytes::Bytes>::new())
            .unwrap();
        let answer = send.send_request(req).await;
        if !proxied {
            let e = answer.expect_err(method);
            assert!(
                format!("{e:?}").contains("PROTOCOL_ERROR"),
                "{method}: {e:?}"
            );
            continue;
        }
        let resp = answer.unwrap_or_else(|e| panic!("{method}: {e:?}"));
        assert_eq!(resp.status(), 200, "{method}");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let echo: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(echo["method"], method);
    }
}
