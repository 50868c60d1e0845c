//! Kong's response body PDK specs, one gateway per spec file. Kong's
//! `content_by_lua` / `echo` bodies are a local upstream's here; its
//! `header_filter_by_lua_block` / `body_filter_by_lua_block` /
//! `log_by_lua_block` are a post-function's phases.
//!
//! | file | Kong's blocks | ported | passing | n/a |
//! |---|---|---|---|---|
//! | 09-set_raw_body.t | 4 | 4 | 4 | 0 |
//! | 10-set_body.t | 1 | 1 | 1 | 0 |
//! | 14-get_raw_body.t | 3 | 3 | 3 | 0 |
//!
//! 10-set_body.t's one block is Kong's placeholder (`-- TODO: implement`
//! in a content block, an empty answer): ported as a function that does
//! nothing. 12-get_source.t is in `kong_pdk_response_getters.rs`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::kong::{json, status, Case};
use common::pdk::Block;
use common::Gateway;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

/// A raw upstream: `/hello` "Hello, Content by Lua Block\n", `/two` the
/// same in two chunks ("Hello, " then the rest, as Kong's two `echo`s),
/// `/default` "Default Content\n", `/hw` "hello, world!\n"; anything
/// else an empty 200.
async fn upstream() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let Some(text) = common::read_request_head(&mut stream).await else {
                    return;
                };
                let path = text.split(' ').nth(1).unwrap_or("/").to_string();
                let plain = |body: &str| {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let answer = match path.as_str() {
                    "/hello" => plain("Hello, Content by Lua Block\n"),
                    "/two" => {
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
                               7\r\nHello, \r\n15\r\nContent by Lua Block\n\r\n0\r\n\r\n"
                            .to_string()
                    }
                    "/default" => plain("Default Content\n"),
                    "/hw" => plain("hello, world!\n"),
                    _ => plain(""),
                };
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

/// A service for `url` (with `extra` fields), a route at `/{name}` and a
/// post-function with `config`.
async fn route(gw: &Gateway, name: &str, url: &str, extra: Value, config: Value) {
    let mut service = json!({"name": name, "url": url});
    common::kong::merge(&mut service, extra);
    status(
        &json(gw, "POST", "/services", service).await,
        201,
        "service",
    );
    status(
        &json(
            gw,
            "POST",
            &format!("/services/{name}/routes"),
            json!({"name": name, "paths": [format!("/{name}")]}),
        )
        .await,
        201,
        "route",
    );
    status(
        &json(
            gw,
            "POST",
            &format!("/services/{name}/plugins"),
            json!({"name": "post-function", "config": config}),
        )
        .await,
        201,
        "plugin",
    );
}

async fn body_of(gw: &Gateway, path: &str) -> (u16, String) {
    let resp = gw.get(path).await;
    let code = resp.status().as_u16();
    (code, resp.text().await.unwrap())
}

/// Kong's `header_filter_by_lua_block` of 09-set_raw_body.t.
const STATUS_200_NO_LENGTH: &str = "ngx.status = 200 ngx.header['Content-Length'] = nil";

struct Up(std::net::SocketAddr);

fn url(up: &Up, path: &str) -> String {
    format!("http://{}{path}", up.0)
}

// t/01-pdk/08-response/09-set_raw_body.t

async fn set_raw_body_1(gw: Arc<Gateway>, up: Arc<Up>) {
    route(
        &gw,
        "srb1",
        &url(&up, "/empty"),
        json!({}),
        json!({
            "header_filter": [STATUS_200_NO_LENGTH],
            "body_filter": ["local pok, err = pcall(kong.response.set_raw_body, 0) \
                             if not pok then kong.response.set_raw_body(err .. '\\n') end"],
        }),
    )
    .await;
    assert_eq!(
        body_of(&gw, "/srb1").await,
        (200, "body must be a string\n".into())
    );
}

async fn set_raw_body_2(gw: Arc<Gateway>, up: Arc<Up>) {
    route(
        &gw,
        "srb2",
        &url(&up, "/empty"),
        json!({}),
        json!({
            "header_filter": [STATUS_200_NO_LENGTH],
            "body_filter": ["local pok, err = pcall(kong.response.set_raw_body) \
                             if not pok then kong.response.set_raw_body(err .. '\\n') end"],
        }),
    )
    .await;
    assert_eq!(
        body_of(&gw, "/srb2").await,
        (200, "body must be a string\n".into())
    );
}

async fn set_raw_body_3(gw: Arc<Gateway>, up: Arc<Up>) {
    route(
        &gw,
        "srb3",
        &url(&up, "/default"),
        json!({}),
        json!({
            "header_filter": [STATUS_200_NO_LENGTH],
            "body_filter": ["local pok, err = pcall(kong.response.set_raw_body, '') \
                             if pok then ngx.arg[1] = 'Empty Body:' .. (ngx.arg[1] or '') \
                             else ngx.arg[1] = 'Error:' .. (err or '') .. '\\n' end"],
        }),
    )
    .await;
    assert_eq!(body_of(&gw, "/srb3").await, (200, "Empty Body:\n".into()));
}

async fn set_raw_body_4(gw: Arc<Gateway>, up: Arc<Up>) {
    route(
        &gw,
        "srb4",
        &url(&up, "/empty"),
        json!({}),
        json!({
            "header_filter": [STATUS_200_NO_LENGTH],
            "body_filter": ["kong.response.set_raw_body('Hello, World!\\n')"],
        }),
    )
    .await;
    assert_eq!(body_of(&gw, "/srb4").await, (200, "Hello, World!\n".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_response_set_raw_body() {
    let gw = Gateway::start();
    let up = Arc::new(Up(upstream().await));
    let mut c: Vec<Case> = Vec::new();
    common::kong::add(
        &mut c,
        "TEST 1: response.set_raw_body() errors if not a string",
        &up,
        set_raw_body_1,
    );
    common::kong::add(
        &mut c,
        "TEST 2: response.set_raw_body() errors if given no arguments",
        &up,
        set_raw_body_2,
    );
    common::kong::add(
        &mut c,
        "TEST 3: response.set_raw_body() accepts an empty string",
        &up,
        set_raw_body_3,
    );
    common::kong::add(
        &mut c,
        "TEST 4: response.set_raw_body() sets raw body",
        &up,
        set_raw_body_4,
    );
    common::kong::run("t/01-pdk/08-response/09-set_raw_body.t", gw, c).await;
}

// t/01-pdk/08-response/14-get_raw_body.t

const ENHANCE: &str = "ngx.ctx.called = (ngx.ctx.called or 0) + 1 \
    local body = kong.response.get_raw_body() \
    if body then kong.response.set_raw_body(body .. 'Enhanced by Body Filter\\nCalled ' \
      .. ngx.ctx.called .. ' times\\n') end";

async fn get_raw_body_1(gw: Arc<Gateway>, up: Arc<Up>) {
    route(
        &gw,
        "grb1",
        &url(&up, "/hello"),
        json!({}),
        json!({"body_filter": [ENHANCE]}),
    )
    .await;
    assert_eq!(
        body_of(&gw, "/grb1").await,
        (
            200,
            "Hello, Content by Lua Block\nEnhanced by Body Filter\nCalled 2 times\n".into()
        )
    );
}

async fn get_raw_body_2(gw: Arc<Gateway>, up: Arc<Up>) {
    route(
        &gw,
        "grb2",
        &url(&up, "/two"),
        json!({}),
        json!({"body_filter": ["ngx.ctx.called = (ngx.ctx.called or 0) + 1 \
            local body = kong.response.get_raw_body() \
            if body then \
              if body == 'Hello, Content by Lua Block\\n' then \
                kong.response.set_raw_body(body .. 'Enhanced by Body Filter\\nCalled ' .. ngx.ctx.called .. ' times\\n') \
              else kong.response.set_raw_body('Wrong body') end \
            end"]}),
    )
    .await;
    assert_eq!(
        body_of(&gw, "/grb2").await,
        (
            200,
            "Hello, Content by Lua Block\nEnhanced by Body Filter\nCalled 3 times\n".into()
        )
    );
}

async fn get_raw_body_3(gw: Arc<Gateway>, up: Arc<Up>) {
    route(
        &gw,
        "grb3",
        &url(&up, "/hw"),
        json!({}),
        json!({
            "body_filter": ["ngx.ctx.called = (ngx.ctx.called or 0) + 1 \
                for i = 1, 3 do \
                  ngx.ctx.called2 = (ngx.ctx.called2 or 0) + 1 \
                  local body = kong.response.get_raw_body() \
                  if body then assert('hello, world!\\n' == body) end \
                end"],
            "log": ["kong.log.err('GRB3 called=', ngx.ctx.called, ' called2=', ngx.ctx.called2)"],
        }),
    )
    .await;
    assert_eq!(body_of(&gw, "/grb3").await, (200, "hello, world!\n".into()));
    let mut found = None;
    for _ in 0..200 {
        found = gw
            .log_text()
            .lines()
            .find(|l| l.contains("GRB3"))
            .map(str::to_string);
        if found.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let line = found.expect("the log phase ran");
    assert!(line.contains("GRB3 called=2 called2=6"), "{line}");
    assert!(
        !gw.log_text().contains("assertion failed"),
        "{}",
        gw.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_response_get_raw_body() {
    let gw = Gateway::start_logged(1);
    let up = Arc::new(Up(upstream().await));
    let mut c: Vec<Case> = Vec::new();
    common::kong::add(
        &mut c,
        "TEST 1: response.get_raw_body() gets raw body",
        &up,
        get_raw_body_1,
    );
    common::kong::add(
        &mut c,
        "TEST 2: response.get_raw_body() gets raw body when chunked",
        &up,
        get_raw_body_2,
    );
    common::kong::add(
        &mut c,
        "TEST 3: response.get_raw_body() calls multiple times",
        &up,
        get_raw_body_3,
    );
    common::kong::run("t/01-pdk/08-response/14-get_raw_body.t", gw, c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_response_set_body() {
    let gw = Gateway::start();
    let b = vec![Block::new(
        "TEST 1: response.set_body() sets parsed body",
        "-- TODO: implement",
        "",
    )];
    common::kong::run(
        "t/01-pdk/08-response/10-set_body.t",
        gw,
        common::pdk::cases(b),
    )
    .await;
}
