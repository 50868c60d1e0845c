//! Support for Kong's `t/01-pdk/**` cases ported case by case
//! (`tests/kong_pdk_*.rs`). A Test::Nginx block runs its Lua in
//! `access_by_lua_block` and prints with `ngx.say`; here the same Lua is
//! a `pre-function` on a route of its own (`local pdk = kong` stands for
//! `require "kong.pdk".new()`), followed by `ngx.exit(200)`, which sends
//! what it printed. The block's request goes to that route as raw HTTP
//! and the answer's body is compared with `--- response_body`.

use std::sync::Arc;

use serde_json::json;

use super::kong::{json, unique, Case, CaseFuture};
use super::Gateway;

/// One Test::Nginx block.
#[derive(Clone, Debug)]
pub struct Block {
    pub title: String,
    /// Lua of the phase, as in the block (using `pdk.`).
    pub lua: String,
    /// The phase the Lua runs in (`access` unless the block says otherwise).
    pub phase: &'static str,
    pub method: &'static str,
    /// Extra request headers (`--- more_headers`).
    pub headers: Vec<(String, String)>,
    /// The request body; a `Content-Length` is sent unless `headers`
    /// gives one.
    pub body: Vec<u8>,
    /// `--- response_body`.
    pub want: String,
    /// `--- error_code` (200 unless given).
    pub status: u16,
}

impl Block {
    /// A block whose Lua runs in access on `GET /t` with no body.
    pub fn new(title: &str, lua: &str, want: &str) -> Block {
        Block {
            title: title.to_string(),
            lua: lua.to_string(),
            phase: "access",
            method: "GET",
            headers: Vec::new(),
            body: Vec::new(),
            want: want.to_string(),
            status: 200,
        }
    }

    pub fn method(mut self, m: &'static str) -> Block {
        self.method = m;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Block {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, b: impl Into<Vec<u8>>) -> Block {
        self.body = b.into();
        self
    }

    pub fn status(mut self, s: u16) -> Block {
        self.status = s;
        self
    }

    pub fn phase(mut self, p: &'static str) -> Block {
        self.phase = p;
        self
    }
}

/// The gateway-side function of a block.
pub fn function_of(lua: &str) -> String {
    format!("local pdk = kong\n{lua}\nreturn ngx.exit(200)\n")
}

/// Adds a route `/<unique>` with a pre-function running `functions` in
/// `phase`; the service points at a closed port (the functions answer).
pub async fn route_with(gw: &Gateway, phase: &str, functions: &[String]) -> String {
    let name = unique("pdk");
    let svc = json(
        gw,
        "POST",
        "/services",
        json!({"name": name, "url": format!("http://127.0.0.1:{}", super::closed_port())}),
    )
    .await;
    assert_eq!(svc.status, 201, "{}", svc.text);
    let path = format!("/{name}");
    let r = json(
        gw,
        "POST",
        &format!("/services/{name}/routes"),
        json!({"paths": [path]}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let p = json(
        gw,
        "POST",
        &format!("/services/{name}/plugins"),
        json!({"name": "pre-function", "config": {phase: functions}}),
    )
    .await;
    assert_eq!(p.status, 201, "{}", p.text);
    path
}

/// Sends a block's request to `path` on one connection and reads the answer.
pub fn request(gw: &Gateway, b: &Block, path: &str) -> super::RawResponse {
    let mut head = format!(
        "{} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n",
        b.method
    );
    let mut has_length = false;
    for (k, v) in &b.headers {
        has_length |= k.eq_ignore_ascii_case("content-length");
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_length && (!b.body.is_empty() || b.method != "GET") {
        head.push_str(&format!("Content-Length: {}\r\n", b.body.len()));
    }
    head.push_str("\r\n");
    head.push_str(&String::from_utf8_lossy(&b.body));
    let (mut responses, _) = super::pipelined(gw.proxy, &[&head]);
    responses.remove(0)
}

async fn run_block(gw: Arc<Gateway>, b: Block) {
    let path = route_with(&gw, b.phase, &[function_of(&b.lua)]).await;
    let gw2 = gw.clone();
    let b2 = b.clone();
    let resp = tokio::task::spawn_blocking(move || request(&gw2, &b2, &path))
        .await
        .expect("request");
    assert_eq!(
        (resp.status, resp.text()),
        (b.status, b.want.clone()),
        "Lua:\n{}",
        b.lua
    );
}

/// The blocks as cases for `kong::run`.
pub fn cases(blocks: Vec<Block>) -> Vec<Case> {
    blocks
        .into_iter()
        .map(|b| {
            let title = b.title.clone();
            let case: Box<dyn Fn(Arc<Gateway>) -> CaseFuture + Send> =
                Box::new(move |gw| -> CaseFuture { Box::pin(run_block(gw, b.clone())) });
            (title, case)
        })
        .collect()
}

/// A gateway with `workers` workers whose Admin API wants `token` (so the
/// node has a sensitive setting), and whose client sends it. Keep the
/// directory as long as the gateway.
pub fn gateway_with_token(workers: usize, token: &str) -> (Gateway, tempfile::TempDir) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut gw = Gateway::spawn_with(tmp.path(), workers, &[], &[("LUNAGATE_ADMIN_TOKEN", token)]);
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    gw.http = reqwest::Client::builder()
        .no_proxy()
        .default_headers(auth)
        .build()
        .expect("client");
    (gw, tmp)
}

/// Sends one request (raw HTTP/1.1, `Connection: close`) with `host` and
/// an optional body, and reads the answer.
pub async fn send(
    gw: &Arc<Gateway>,
    method: &str,
    host: &str,
    path: &str,
    body: Option<&str>,
) -> super::RawResponse {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some(b) = body {
        raw.push_str(&format!("Content-Length: {}\r\n\r\n{b}", b.len()));
    } else {
        raw.push_str("\r\n");
    }
    let addr = gw.proxy;
    tokio::task::spawn_blocking(move || {
        let (mut responses, _) = super::pipelined(addr, &[&raw]);
        responses.remove(0)
    })
    .await
    .expect("request")
}
