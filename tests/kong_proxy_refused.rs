//! Requests the HTTP/1 server refuses (a head it cannot read), with global
//! functions: as on Kong, whose template sends nginx's 400, 414 and 494 to
//! its `/kong_error_handler` location, their header_filter, body_filter
//! and log run on the answer (`src/proxy/refused.rs`). Ported:
//! - t/01-pdk/04-request/17-get_path_with_query.t :: TEST 3: returns empty
//!   string on error-handling requests
//! - t/01-pdk/10-nginx/01-get_subsystem.t :: TEST 2: returns http on
//!   error-handling requests from http
//!
//! (both call the PDK in the error location's content phase and answer
//! with `exit(200, …)`; here a global function's header_filter does,
//! since Kong's error location runs only the late phases of plugins)
//! - spec/02-integration/05-proxy/04-plugins_triggering_spec.lua ::
//!   "executes a global log plugin on Nginx-produced client errors (HTTP
//!   400)", "log plugins sees same request in error_page handler (HTTP
//!   400)", the same two for 414, and "executes plugins
//!   header_filter/body_filter on Nginx-produced client errors (HTTP 4xx)"
//!   (Kong's `file-log` and `error-handler-log` test plugins as global
//!   pre-functions: `kong.log.serialize()` is what `file-log` writes).
//!
//! lunagate's limits are not nginx's: a head may take 64 KiB (nginx's
//! lines 8k each), so Kong's 10 KiB header or target is read here; the
//! ports send one past 64 KiB. A head too large is 431 here (nginx's 494,
//! which Kong's handler answers 400).

mod common;

use common::Gateway;
use reqwest::Method;
use serde_json::json;

/// A global pre-function with `phases` (name → Lua).
async fn global_function(gw: &Gateway, phases: serde_json::Value) {
    let p = gw
        .admin(
            Method::POST,
            "/plugins",
            json!({"name": "pre-function", "config": phases}),
        )
        .await;
    assert!(p["id"].is_string(), "{p}");
}

/// Sends `request` on a connection of its own; the raw answer.
async fn raw(gw: &Gateway, request: Vec<u8>) -> String {
    let addr = gw.proxy;
    tokio::task::spawn_blocking(move || common::raw_to(addr, &request))
        .await
        .expect("request")
}

/// Waits for `line` in the gateway's log.
async fn logged(gw: &Gateway, line: &str) {
    for _ in 0..250 {
        if gw.log_text().contains(line) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("not logged: {line}\n{}", gw.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_on_error_handling_requests() {
    let gw = Gateway::start();
    global_function(
        &gw,
        json!({"header_filter": [r#"
local path = kong.request.get_path_with_query()
local msg = "get_path_with_query: '" .. path .. "', type: " .. type(path)
    .. "\nsubsystem=" .. kong.nginx.get_subsystem()
return kong.response.exit(200, msg)
"#]}),
    )
    .await;
    // t/01-pdk/04-request/17-get_path_with_query.t :: TEST 3 and
    // t/01-pdk/10-nginx/01-get_subsystem.t :: TEST 2: "invalid http
    // request", no line end.
    let answer = raw(&gw, b"invalid http request".to_vec()).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.contains("get_path_with_query: '', type: string"),
        "{answer}"
    );
    assert!(answer.contains("subsystem=http"), "{answer}");
    // The gateway's framing: the exit's length, and the connection closes
    // (raw reads to the end).
    let body = answer.split_once("\r\n\r\n").unwrap().1;
    let head = answer
        .split_once("\r\n\r\n")
        .unwrap()
        .0
        .to_ascii_lowercase();
    assert!(
        head.contains(&format!("content-length: {}", body.len())),
        "{answer}"
    );
    assert!(head.contains("connection: close"), "{answer}");
}

/// Kong's `file-log`, as a global log function: what `kong.log.serialize`
/// says of the request, one line.
const FILE_LOG: &str = r#"
local m = kong.log.serialize()
local n = 0
for _ in pairs(m.request.headers) do n = n + 1 end
kong.log.warn("FILE-LOG status=", m.response.status, " method=", m.request.method,
  " foo=", tostring(m.request.querystring.foo), " upstream_uri=[", m.upstream_uri,
  "] headers=", n, " uuid=", tostring(m.request.headers["x-uuid"]),
  " host=", tostring(m.request.headers.host))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_plugins_triggering_on_nginx_produced_client_errors() {
    let gw = Gateway::start_logged(2);
    global_function(&gw, json!({"log": [FILE_LOG]})).await;
    let big = "a".repeat(70 * 1024);

    // 04-plugins_triggering_spec.lua :: "executes a global log plugin on
    // Nginx-produced client errors (HTTP 400)" and "log plugins sees same
    // request in error_page handler (HTTP 400)": a header too large (431
    // here, Kong's 494/400).
    let request = format!(
        "POST /status/200?foo=bar HTTP/1.1\r\nHost: unavailable\r\nX-UUID: u1\r\nX-Large: {big}\r\n\r\n"
    );
    let answer = raw(&gw, request.into_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431 "), "{}", &answer[..80]);
    logged(
        &gw,
        "FILE-LOG status=431 method=POST foo=bar upstream_uri=[] headers=0",
    )
    .await;
    // The same with a field nginx refuses (400 on both).
    let request = "POST /status/200?foo=baz HTTP/1.1\r\nHost: unavailable\r\nX-UUID : u2\r\n\r\n";
    let answer = raw(&gw, request.into()).await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    logged(
        &gw,
        "FILE-LOG status=400 method=POST foo=baz upstream_uri=[] headers=0",
    )
    .await;

    // "... (HTTP 414)" and "log plugins sees same request in error_page
    // handler (HTTP 414)": no header, no URI.
    let request = format!("POST /?foo={big} HTTP/1.1\r\nHost: unavailable\r\nX-UUID: u3\r\n\r\n");
    let answer = raw(&gw, request.into_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 414 "), "{}", &answer[..80]);
    logged(
        &gw,
        "FILE-LOG status=414 method=POST foo=nil upstream_uri=[] headers=0 uuid=nil host=nil",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_header_and_body_filter_on_nginx_produced_client_errors() {
    let gw = Gateway::start();
    // Kong's `error-handler-log` test plugin, as a global function.
    global_function(
        &gw,
        json!({
            "header_filter": [r#"
local phases = ngx.ctx.err_handler_log_phases or {}
table.insert(phases, "header_filter")
ngx.ctx.err_handler_log_phases = phases
ngx.header["Content-Length"] = nil
ngx.header["Log-Plugin-Phases"] = table.concat(phases, ",")
-- Framing is the gateway's: these are dropped.
ngx.header["Connection"] = "keep-alive"
ngx.header["Transfer-Encoding"] = "identity"
"#],
            "body_filter": [r#"
if not ngx.arg[2] then
  ngx.arg[1] = "body_filter"
end
"#],
        }),
    )
    .await;
    // 04-plugins_triggering_spec.lua :: "executes plugins
    // header_filter/body_filter on Nginx-produced client errors (HTTP 4xx)"
    let big = "a".repeat(70 * 1024);
    let request = format!("GET /?foo={big} HTTP/1.1\r\nHost: unavailable\r\n\r\n");
    let answer = raw(&gw, request.into_bytes()).await;
    let (head, body) = answer.split_once("\r\n\r\n").expect("an answer");
    assert!(head.starts_with("HTTP/1.1 414 "), "{answer}");
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("log-plugin-phases: header_filter"),
        "{answer}"
    );
    assert!(head.contains("connection: close"), "{answer}");
    assert!(!head.contains("keep-alive"), "{answer}");
    // Chunked by the gateway: the body body_filter made, then the end.
    assert!(head.contains("transfer-encoding: chunked"), "{answer}");
    assert_eq!(body, "b\r\nbody_filter\r\n0\r\n\r\n");

    // A HEAD request's answer has no body, whatever body_filter does.
    let request = "HEAD / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n";
    let answer = raw(&gw, request.into()).await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.ends_with("\r\n\r\n"), "{answer}");
}

/// The header names of an answer's head, in order, lowercased.
fn names(answer: &str) -> Vec<String> {
    let head = answer.split_once("\r\n\r\n").expect("an answer").0;
    head.split("\r\n")
        .skip(1)
        .map(|l| l.split_once(':').expect("a field").0.to_ascii_lowercase())
        .collect()
}

/// Where no global function has header_filter, body_filter or log, or
/// where nginx answers without Kong's handler (501), the server's plain
/// answer is sent as before: no function runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_heads_get_the_plain_answer_without_late_global_functions() {
    let gw = Gateway::start();
    let plain = [
        "content-type",
        "content-length",
        "connection",
        "server",
        "x-kong-request-id",
    ];
    let bad = b"GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n";
    let answer = raw(&gw, bad.to_vec()).await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert_eq!(names(&answer), plain, "{answer}");

    // Global rewrite and access do not run there (Kong's handler has
    // empty ones).
    global_function(
        &gw,
        json!({
            "rewrite": ["kong.response.set_header('X-Ran', 'rewrite')"],
            "access": ["kong.response.set_header('X-Ran', 'access')"],
        }),
    )
    .await;
    let answer = raw(&gw, bad.to_vec()).await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert_eq!(names(&answer), plain, "{answer}");

    // A global header_filter: not on a 501 (nginx answers that one itself).
    let p = gw
        .admin(
            Method::POST,
            "/plugins",
            json!({"name": "post-function", "config": {"header_filter": [
                "kong.response.set_header('X-Ran', 'header_filter')"
            ]}}),
        )
        .await;
    assert!(p["id"].is_string(), "{p}");
    let gzip = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n";
    let answer = raw(&gw, gzip.to_vec()).await;
    assert!(answer.starts_with("HTTP/1.1 501 "), "{answer}");
    assert_eq!(names(&answer), plain, "{answer}");
    // On the 400 it runs (and only it: no rewrite, no access).
    let answer = raw(&gw, bad.to_vec()).await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert_ne!(names(&answer), plain, "{answer}");
    let head = answer
        .split_once("\r\n\r\n")
        .unwrap()
        .0
        .to_ascii_lowercase();
    assert!(head.contains("\r\nx-ran: header_filter\r\n"), "{answer}");
    assert_eq!(head.matches("x-ran").count(), 1, "{answer}");
}
