//! The proxy's HTTP/1 server side against raw clients: pipelining order
//! with bodies, `Expect: 100-continue`, HEAD, HTTP/1.0 keep-alive, and the
//! request-smuggling shapes a front end and the gateway could read two
//! ways (`Content-Length` with `Transfer-Encoding`, two lengths, obs-fold,
//! bad chunk sizes): each is refused or read one way only, and nothing
//! after it is served as a request of its own.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use serde_json::json;

async fn gateway() -> Gateway {
    let up = echo_upstream("up").await;
    let gw = Gateway::start_with_workers(1);
    gw.service("echo", &format!("http://{up}"), json!({})).await;
    gw.route("echo", json!({"paths": ["/"]})).await;
    gw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order_with_their_bodies() {
    let gw = gateway().await;
    let (resps, rest) = pipelined(
        gw.proxy,
        &[
            "POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
            "POST /two HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nde\r\n1\r\nf\r\n0\r\nX-Trailer: 1\r\n\r\n",
            "HEAD /three HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /four HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ],
    );
    let seen: Vec<_> = resps
        .iter()
        .filter(|r| r.status == 200 && !r.body.is_empty())
        .map(|r| {
            let echo = r.json();
            (echo["path"].clone(), echo["body"].clone())
        })
        .collect();
    assert_eq!(
        seen,
        [
            (json!("/one"), json!("abc")),
            (json!("/two"), json!("def")),
            (json!("/four"), json!("")),
        ]
    );
    assert_eq!(resps[2].status, 200);
    assert!(
        resps[2].header("content-length").is_some(),
        "{:?}",
        resps[2]
    );
    assert_eq!(resps[3].header("connection"), Some("close"));
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_continue_is_answered_before_the_body_is_read() {
    let gw = gateway().await;
    let s = TcpStream::connect(gw.proxy).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = s.try_clone().unwrap();
    w.write_all(b"PUT /c HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let interim = read_response(&mut r, true).unwrap();
    assert_eq!(interim.status, 100, "{interim:?}");
    w.write_all(b"hello").unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!((resp.status, &resp.json()["body"]), (200, &json!("hello")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http10_keeps_the_connection_only_when_asked() {
    let gw = gateway().await;
    let s = TcpStream::connect(gw.proxy).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    w.write_all(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("connection"), Some("keep-alive"));
    w.write_all(b"GET /b HTTP/1.0\r\n\r\n").unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.json()["path"], "/b");
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(
        rest.is_empty(),
        "closed after an HTTP/1.0 request without keep-alive"
    );
}

/// Each request is followed on its connection by a request for
/// `/smuggled`: whatever the gateway answers, it never proxies that one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_framing_is_refused_or_read_one_way() {
    let gw = gateway().await;
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let cases: &[(&str, &[u16])] = &[
        // Both, or two lengths: refused as nginx refuses them (the
        // gateway read the first two by their coding, then closed).
        ("POST /te-cl HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", &[400]),
        ("POST /cl-te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n", &[400]),
        ("POST /cl-cl HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n", &[400]),
        ("POST /cl-cl-same HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\ncontent-length: 0\r\n\r\n", &[400]),
        ("POST /cl-plus HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n", &[400]),
        // A coding other than one `chunked` is one the gateway would not
        // apply (the upstream would read gzip bytes, or a still-chunked
        // body, as the body): refused as nginx refuses it (501), a
        // second field as a duplicate (400).
        ("POST /te-gzip HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", &[501]),
        ("POST /te-gzip-chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", &[501]),
        ("POST /te-identity-chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", &[501]),
        ("POST /te-chunked-chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n8\r\n3\r\nabc\r\n\r\n0\r\n\r\n", &[501]),
        ("POST /te-te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n3\r\nabc\r\n\r\n0\r\n\r\n", &[400]),
        ("POST /te-10 HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", &[400]),
        ("GET /fold HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n", &[400]),
        ("GET /space HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n", &[400]),
        ("POST /chunk HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n", &[400]),
    ];
    for (req, statuses) in cases {
        let mut s = TcpStream::connect(gw.proxy).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(format!("{req}{smuggled}").as_bytes()).unwrap();
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        let text = String::from_utf8_lossy(&all);
        let first: u16 = text
            .get(9..12)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("{req:?}: {text}"));
        assert!(statuses.contains(&first), "{req:?}: {text}");
        let page = match first {
            400 => "Bad request",
            501 => "Not implemented",
            _ => "",
        };
        assert!(
            text.contains(&format!("\r\n\r\n{page}")),
            "Kong's page: {text}"
        );
        assert!(
            !text.contains("/smuggled"),
            "{req:?} let a second request through: {text}"
        );
    }
}

/// The two request-smuggling shapes of a front end and the gateway reading
/// one request two ways, against the real binary: CL.TE (the front end
/// frames by the length, so the gateway's chunked body ends early and the
/// rest is a request of the attacker's) and TE.CL (the other way round),
/// and two lengths. Each is answered 400 with Kong's page and the
/// connection closed, as nginx answers it ("client sent "Content-Length"
/// and "Transfer-Encoding" headers at the same time", "client sent
/// duplicate header line"), and the upstream sees none of it. The gateway
/// proxied the first two by their coding before, the smuggled request
/// stopped only by the connection's close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn length_and_coding_together_or_two_lengths_are_a_400_that_reaches_no_upstream() {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = listener.local_addr().unwrap();
    let (tx, mut heads) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(head) = read_request_head(&mut stream).await {
                    let _ = tx.send(head);
                    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if stream.write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let gw = Gateway::start_with_workers(1);
    gw.service("raw", &format!("http://{up}"), json!({})).await;
    gw.route("raw", json!({"paths": ["/"]})).await;

    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let attacks = [
        format!(
            "POST /cl-te HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}",
            5 + smuggled.len()
        ),
        format!(
            "POST /te-cl HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n{:x}\r\n{smuggled}\r\n0\r\n\r\n",
            smuggled.len()
        ),
        format!("POST /cl-cl HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: {}\r\n\r\n{smuggled}", smuggled.len()),
    ];
    for attack in &attacks {
        let mut s = TcpStream::connect(gw.proxy).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(attack.as_bytes()).unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all)
            .expect("the gateway closes the connection");
        let text = String::from_utf8_lossy(&all);
        assert!(text.starts_with("HTTP/1.1 400 "), "{attack:?}: {text}");
        assert!(text.contains("\r\n\r\nBad request"), "{attack:?}: {text}");
    }
    // The control: a request framed one way reaches the upstream.
    let (resps, _) = pipelined(
        gw.proxy,
        &["POST /fine HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab"],
    );
    assert_eq!(resps[0].status, 200, "{:?}", resps[0]);
    let head = heads.recv().await.unwrap();
    assert!(head.starts_with("POST /fine "), "{head}");
    assert!(
        heads.try_recv().is_err(),
        "the upstream saw a refused request"
    );
}

/// A gateway whose route `/` goes to an upstream that never answers, and
/// the upstream's closed connections, as they close.
async fn silent_upstream_gateway() -> (Gateway, tokio::sync::mpsc::UnboundedReceiver<()>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = listener.local_addr().unwrap();
    let (tx, closed) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(1..) = stream.read(&mut buf).await {}
                let _ = tx.send(());
            });
        }
    });
    let gw = Gateway::start_with_workers(1);
    gw.service(
        "silent",
        &format!("http://{up}"),
        json!({"read_timeout": 60000}),
    )
    .await;
    gw.route("silent", json!({"paths": ["/"]})).await;
    (gw, closed)
}

/// A client that closes its connection while its request waits on the
/// upstream: the request is dropped and its upstream connection closed at
/// once, as nginx does (`proxy_ignore_client_abort off`), not when the
/// upstream answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_cancels_its_upstream_request() {
    let (gw, mut closed) = silent_upstream_gateway().await;
    let mut s = TcpStream::connect(gw.proxy).unwrap();
    s.write_all(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(s);
    tokio::time::timeout(Duration::from_secs(5), closed.recv())
        .await
        .expect("the upstream connection closed soon after the client left");
}

/// The same with a body: a client that sent its whole body, then closes
/// while the upstream has not answered, cancels the upstream request (the
/// socket was watched for bodiless requests only, and the upstream
/// request went on until the upstream answered or its read timeout).
/// nginx watches from the end of the body too (request buffering).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_after_its_body_cancels_its_upstream_request() {
    let (gw, mut closed) = silent_upstream_gateway().await;
    for req in [
        "POST /wait HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        "POST /wait HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ] {
        let mut s = TcpStream::connect(gw.proxy).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        drop(s);
        tokio::time::timeout(Duration::from_secs(5), closed.recv())
            .await
            .unwrap_or_else(|_| panic!("{req:?}: the upstream connection is still open"));
    }
}

/// A method is read as nginx reads it: `A`-`Z`, `_` and `-` only. `get /`
/// is a 400 (Kong's page), not a request the upstream receives as `get`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_are_upper_case_as_nginx_reads_them() {
    let gw = gateway().await;
    for (method, status) in [
        ("get", 400),
        ("Get", 400),
        ("G1T", 400),
        ("M-SEARCH", 200),
        ("G_T", 200),
    ] {
        let req = format!("{method} /m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (resps, _) = pipelined(gw.proxy, &[&req]);
        let resp = &resps[0];
        assert_eq!(resp.status, status, "{method}: {resp:?}");
        if status == 200 {
            assert_eq!(resp.json()["method"], method);
        } else {
            assert!(resp.text().starts_with("Bad request"), "{resp:?}");
        }
    }
}

/// A chunked body's line that ends in a bare LF (or holds a bare CR) is
/// answered at once with a 400, while the client waits: it used to wait
/// for a CRLF that never came, until the client body timeout (60 s).
/// nginx reads a bare LF as a line end; the gateway refuses it (a front
/// end that reads it as part of an extension would read the body another
/// way), as it refused it before, only now without the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_line_ends_in_a_chunked_body_are_answered_at_once() {
    let gw = gateway().await;
    for body in [
        "3\n",
        "3;ext=1\n",
        "3\rabc",
        "3\r\nabc\r\n0\n",
        "3\r\nabc\r\n0\r\nX-Trailer: 1\n",
    ] {
        let s = TcpStream::connect(gw.proxy).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut w = s.try_clone().unwrap();
        w.write_all(
            format!("POST /lf HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{body}")
                .as_bytes(),
        )
        .unwrap();
        // The client keeps its connection open and sends nothing more.
        let resp = read_response(&mut BufReader::new(s), false)
            .unwrap_or_else(|e| panic!("{body:?}: no answer within 5 s: {e}"));
        assert_eq!(resp.status, 400, "{body:?}: {resp:?}");
        assert!(resp.text().starts_with("Bad request"), "{resp:?}");
    }
}

/// An upstream that answers each request with the bytes its path names in
/// `responses`, then closes.
async fn raw_upstream(responses: &'static [(&'static str, &'static str)]) -> std::net::SocketAddr {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Some(head) = read_request_head(&mut stream).await else {
                    return;
                };
                let path = head.split(' ').nth(1).unwrap_or("");
                if let Some((_, resp)) = responses.iter().find(|(p, _)| *p == path) {
                    let _ = stream.write_all(resp.as_bytes()).await;
                }
            });
        }
    });
    addr
}

/// An upstream's response under a transfer coding the gateway does not
/// undo (`gzip, chunked`, `chunked, chunked`, two fields, `gzip`) is a 502,
/// as nginx answers it ("upstream sent unknown Transfer-Encoding"): the
/// gateway read it as chunked and passed on the still-gzipped bytes with
/// the coding dropped (or, for `gzip`, read it to the connection's end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_transfer_codings_other_than_chunked_are_a_502() {
    static RESPONSES: &[(&str, &str)] = &[
        ("/chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        ("/gzip-chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        ("/chunked-chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        ("/two-fields", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        ("/gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc"),
    ];
    only_chunked_passes(RESPONSES).await;
}

/// An upstream's response with both `Content-Length` and
/// `Transfer-Encoding: chunked` is a 502, as nginx 1.23 and later (Kong's
/// OpenResty) answers it (upstream sent "Content-Length" and
/// "Transfer-Encoding" headers at the same time): the gateway read it
/// by its `Transfer-Encoding` (RFC 9112 allows it), while a cache or
/// front end that honours the length reads another body from the same
/// bytes. So is one with `Content-Length` twice, even the same value
/// (nginx: upstream sent duplicate header line); the gateway took it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_lengths_nginx_refuses_are_a_502() {
    static RESPONSES: &[(&str, &str)] = &[
        ("/chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        ("/length-first", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        ("/coding-first", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 13\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        ("/length-twice", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"),
    ];
    only_chunked_passes(RESPONSES).await;
}

/// Through a gateway to [`raw_upstream`] with `responses`: `/chunked`
/// (a plain chunked `abc`) passes, every other path is Kong's 502 page.
async fn only_chunked_passes(responses: &'static [(&'static str, &'static str)]) {
    let up = raw_upstream(responses).await;
    let gw = Gateway::start_with_workers(1);
    gw.service("raw", &format!("http://{up}"), json!({})).await;
    gw.route("raw", json!({"paths": ["/"]})).await;
    for (path, _) in responses {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (resps, _) = pipelined(gw.proxy, &[&req]);
        let resp = &resps[0];
        if *path == "/chunked" {
            assert_eq!(
                (resp.status, resp.text()),
                (200, "abc".to_string()),
                "{resp:?}"
            );
        } else {
            assert_eq!(resp.status, 502, "{path}: {resp:?}");
            assert!(
                resp.text()
                    .starts_with("An invalid response was received from the upstream server"),
                "{path}: {resp:?}"
            );
        }
    }
}

/// A client that sends its whole body before it reads the answer (as many
/// do) gets the gateway's early answer: a 404 for a path no route matches,
/// a 413 for a body too large for a function to read (both answered with
/// most of the body unread). The gateway closed at once: the connection
/// was reset, the client's next write failed and the answer was lost. Now
/// it closes lingering, as nginx does (nginx's own 413 to a client sending
/// 32 MiB arrives the same way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_answer_reaches_a_client_still_sending_its_body() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start_with_workers(1);
    gw.service("read", &format!("http://{up}"), json!({})).await;
    gw.route("read", json!({"paths": ["/read"]})).await;
    gw.admin(
        reqwest::Method::POST,
        "/services/read/plugins",
        json!({"name": "pre-function", "config": {"access": ["kong.request.get_raw_body()"]}}),
    )
    .await;
    const BODY: usize = 32 << 20;
    for (path, status) in [("/nowhere", 404), ("/read", 413)] {
        let mut s = TcpStream::connect(gw.proxy).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {BODY}\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let piece = vec![b'x'; 64 << 10];
        for sent in (0..BODY).step_by(piece.len()) {
            s.write_all(&piece)
                .unwrap_or_else(|e| panic!("{path}: writing the body at {sent}: {e}"));
        }
        let mut r = BufReader::new(s);
        let resp = read_response(&mut r, false).expect("the answer");
        assert_eq!(resp.status, status, "{path}: {resp:?}");
        assert_eq!(resp.header("connection"), Some("close"), "{resp:?}");
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).expect("a clean end, not a reset");
        assert!(rest.is_empty());
    }
}
