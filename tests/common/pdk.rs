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
    /// The block's upstream server's Lua (`server { listen unix:… }`),
    /// when the block proxies: see [`Block::upstream`].
    pub upstream: Option<String>,
    /// The path the upstream's route matches (its own unless given).
    pub upstream_route: Option<String>,
    /// More phases of the block's route (`header_filter_by_lua_block` …).
    pub also: Vec<(&'static str, String)>,
    /// More phases of the upstream's route.
    pub upstream_also: Vec<(&'static str, String)>,
    /// Appended to the request path (`?a=b`).
    pub query: String,
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
            upstream: None,
            upstream_route: None,
            also: Vec::new(),
            upstream_also: Vec::new(),
            query: String::new(),
        }
    }

    /// The block proxies: `lua` (the upstream location's
    /// `content_by_lua_block`, printing with `ngx.say`) runs as a
    /// pre-function on a second route of the same gateway, which the
    /// block's route proxies to; the block's own Lua then runs as given
    /// (no closing `ngx.exit`), and the answer is the upstream's as the
    /// gateway passes it on.
    pub fn upstream(mut self, lua: &str) -> Block {
        self.upstream = Some(lua.to_string());
        self
    }

    /// Where the upstream route listens, for blocks that set the upstream
    /// path (`/foo`).
    pub fn upstream_at(mut self, path: &str) -> Block {
        self.upstream_route = Some(path.to_string());
        self
    }

    /// Another phase of the block's route.
    pub fn also(mut self, phase: &'static str, lua: &str) -> Block {
        self.also.push((phase, format!("local pdk = kong\n{lua}")));
        self
    }

    /// Another phase of the upstream's route (its `header_filter_by_lua_block` …).
    pub fn upstream_also(mut self, phase: &'static str, lua: &str) -> Block {
        self.upstream_also
            .push((phase, format!("local pdk = kong\n{lua}")));
        self
    }

    pub fn query(mut self, q: &str) -> Block {
        self.query = q.to_string();
        self
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

/// A block's expected body with one `\d+` (one or more digits; every
/// other character matches itself), checked without a regex.
pub fn digits_match(pattern: &str, text: &str) -> bool {
    let (before, after) = pattern.split_once("\\d+").unwrap_or((pattern, ""));
    let Some(rest) = text.strip_prefix(before) else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && &rest[digits..] == after
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

/// Adds a route `/<unique>` whose service is `url`, with a pre-function
/// of `config` (phase: [code]; none when empty).
pub async fn route_to(gw: &Gateway, url: &str, config: serde_json::Value) -> String {
    let name = unique("pdk");
    let svc = json(gw, "POST", "/services", json!({"name": name, "url": url})).await;
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
    if config.as_object().is_some_and(|c| c.is_empty()) {
        return path;
    }
    let p = json(
        gw,
        "POST",
        &format!("/services/{name}/plugins"),
        json!({"name": "pre-function", "config": config}),
    )
    .await;
    assert_eq!(p.status, 201, "{}", p.text);
    path
}

/// The id of the global pre-function that runs `rewrite` blocks.
const GLOBAL_REWRITE: &str = "8d1e6a4c-52c4-4e0b-9c55-7a1f0c7d2b31";

/// Makes `lua` the rewrite of the gateway's one global pre-function, for
/// requests to `path` only: Kong runs `rewrite` for global plugins only,
/// so a block's `rewrite_by_lua` is that function's (each block replaces
/// the last one's).
pub async fn install_global_rewrite(gw: &Gateway, path: &str, lua: &str) {
    let code = format!("if kong.request.get_path() == \"{path}\" then\n{lua}\nend");
    let p = json(
        gw,
        "PUT",
        &format!("/plugins/{GLOBAL_REWRITE}"),
        json!({"name": "pre-function", "config": {"rewrite": [code]}}),
    )
    .await;
    assert!(p.status == 200 || p.status == 201, "{}", p.text);
}

/// The routes of a proxying block: its upstream (at its own path or
/// `upstream_route`), then its own route proxying there.
async fn proxied_route(gw: &Gateway, b: &Block, upstream: &str) -> String {
    let up = match &b.upstream_route {
        Some(at) => at.clone(),
        None => format!("/{}", unique("up")),
    };
    let name = unique("up");
    let svc = json(
        gw,
        "POST",
        "/services",
        json!({"name": name, "url": format!("http://127.0.0.1:{}", super::closed_port())}),
    )
    .await;
    assert_eq!(svc.status, 201, "{}", svc.text);
    // A route at a given path is told apart from other blocks' routes at
    // the same path by a header the block's route adds.
    let mut route = json!({"paths": [up], "strip_path": false});
    let mut front_lua = b.lua.clone();
    if b.upstream_route.is_some() {
        route["headers"] = json!({"x-pdk-block": [name]});
        front_lua =
            format!("kong.service.request.set_header(\"X-Pdk-Block\", \"{name}\")\n{front_lua}");
    }
    let r = json(gw, "POST", &format!("/services/{name}/routes"), route).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let mut up_config = serde_json::Map::new();
    up_config.insert("access".into(), json!([function_of(upstream)]));
    for (phase, lua) in &b.upstream_also {
        up_config.insert(phase.to_string(), json!([lua]));
    }
    let p = json(
        gw,
        "POST",
        &format!("/services/{name}/plugins"),
        json!({"name": "pre-function", "config": up_config}),
    )
    .await;
    assert_eq!(p.status, 201, "{}", p.text);
    let mut config = serde_json::Map::new();
    let url = format!("http://127.0.0.1:{}{up}", gw.proxy.port());
    if b.phase == "rewrite" {
        // Kong runs `rewrite` for global plugins only: the block's Lua is
        // the gateway's global pre-function's, for its route's path.
        let path = route_to(gw, &url, json!({})).await;
        install_global_rewrite(gw, &path, &format!("local pdk = kong\n{front_lua}")).await;
        return path;
    }
    if !front_lua.is_empty() {
        config.insert(
            b.phase.to_string(),
            json!([format!("local pdk = kong\n{front_lua}")]),
        );
    }
    for (phase, lua) in &b.also {
        config.insert(phase.to_string(), json!([lua]));
    }
    route_to(gw, &url, serde_json::Value::Object(config)).await
}

async fn run_block(gw: Arc<Gateway>, b: Block) {
    let path = match &b.upstream {
        Some(up) => proxied_route(&gw, &b, up).await,
        None => route_with(&gw, b.phase, &[function_of(&b.lua)]).await,
    };
    let path = format!("{path}{}", b.query);
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

/// One worker, `--untrusted-lua on`: the t/01-pdk tests run in OpenResty
/// without a sandbox (`getmetatable`, `require "cjson"`). Keep the
/// directory as long as the gateway.
pub fn unsandboxed() -> (Gateway, tempfile::TempDir) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::spawn_with(tmp.path(), 1, &["--untrusted-lua", "on"], &[]);
    (gw, tmp)
}
