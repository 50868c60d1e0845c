//! Kong's `kong.request` host, forwarded-getter and start-time specs in
//! `t/01-pdk/04-request/`, ported block by block: each block's Lua is a
//! pre-function's access code on a route of its own (`local pdk = kong`,
//! then `ngx.exit(200)` sends what it printed, as `tests/common/pdk.rs`
//! does). Kong's location is `/t`; here it is the route's own path
//! (`strip_path` off: Kong's blocks have no router, so nothing is
//! stripped), written `{p}` in the request and in the expected body;
//! `{port}` and `{tls_port}` are the gateway's listeners' ports.
//!
//! Kong's blocks build their PDK with `trusted_ips = { "0.0.0.0/0",
//! "::/0" }` or with none; here that is the gateway's `--trusted-ips`, so
//! each file runs on two gateways: one trusting every peer, one with
//! Kong's default (no one trusted). Test::Nginx sends `Host: localhost`
//! unless a block gives its own.
//!
//! | file | Kong's blocks | ported | passing | n/a |
//! |---|---|---|---|---|
//! | 02-get_host.t | 9 | 8 | 8 | 1 |
//! | 04-get_forwarded_scheme.t | 7 | 7 | 7 | 0 |
//! | 05-get_forwarded_host.t | 13 | 12 | 12 | 1 |
//! | 06-get_forwarded_port.t | 8 | 8 | 8 | 0 |
//! | 18-get_forwarded_path.t | 6 | 6 | 6 | 0 |
//! | 19-get_forwarded_prefix.t | 4 | 4 | 4 | 0 |
//! | 20-get_start_time.t | 3 | 2 | 2 | 1 |
//!
//! Not applicable: 20-get_start_time.t TEST 3 (stream/TLS: the stream
//! subsystem).
//!
//! Adapted: blocks that proxy to an nginx `server` on a UNIX socket over
//! TLS (02 TEST 2, 04 TEST 6, 05 TEST 2 and 11, 06 TEST 6) send their
//! request over TLS to the gateway's own TLS listener: what the function
//! reads is the client's scheme and host either way. 06 TEST 6 expects
//! `port: nil` in Kong because a UNIX socket has no port; here the
//! listener is TCP, so the answer is its port. Blocks that proxy with
//! `proxy_set_header Host ""` (02 TEST 3, 05 TEST 3) send an HTTP/1.0
//! request without `Host`: the host is then the server's name, Kong's
//! `server_name kong`.
//!
//! 06 TEST 7 and 8 give the PDK Kong's `host_ports`, which Kong's
//! `port_maps` setting makes: here the gateway runs with `--port-maps`.
//!
//! Not applicable (no reason from the fixed list fits): 02 TEST 9 and 05
//! TEST 9 read a `server_name K0nG` the block sets on its own nginx
//! server. No Kong configuration reaches them: Kong's template starts its
//! proxy server with `server_name kong;`, and an injected
//! `nginx_proxy_server_name` comes after it, adding a second name while
//! `$host` still falls back to the first (docs/kong-specs.md, (††)).

mod common;

use std::sync::Arc;

use common::kong::{json, status, unique, Case, CaseFuture};
use common::pdk::{digits_match, function_of};
use common::Gateway;
use serde_json::json;

/// Every peer trusted, as Kong's blocks' `{ "0.0.0.0/0", "::/0" }`.
const TRUST_ALL: &str = "0.0.0.0/0,::/0";

/// One block: the request target (`{p}` is the route's path), version and
/// headers, the block's Lua and the body Kong expects.
#[derive(Clone)]
struct F {
    title: &'static str,
    target: &'static str,
    version: &'static str,
    /// `Host` unless `headers` has one; `None`: no `Host` at all.
    host: Option<&'static str>,
    headers: Vec<(&'static str, &'static str)>,
    lua: String,
    /// `{p}`, `{port}`, `{tls_port}` are replaced; a `~` prefix makes it
    /// a pattern where `\d+` is one or more digits.
    want: &'static str,
    tls: bool,
}

fn f(title: &'static str, lua: &str, want: &'static str) -> F {
    F {
        title,
        target: "{p}",
        version: "HTTP/1.1",
        host: Some("localhost"),
        headers: Vec::new(),
        lua: lua.to_string(),
        want,
        tls: false,
    }
}

impl F {
    fn header(mut self, name: &'static str, value: &'static str) -> F {
        self.headers.push((name, value));
        self
    }

    fn target(mut self, target: &'static str) -> F {
        self.target = target;
        self
    }

    fn tls(mut self) -> F {
        self.tls = true;
        self
    }

    /// HTTP/1.0 without `Host` (nginx's `proxy_set_header Host ""`).
    fn no_host(mut self) -> F {
        self.version = "HTTP/1.0";
        self.host = None;
        self
    }
}

async fn run_f(gw: Arc<Gateway>, b: F) {
    let name = unique("fwd");
    let svc = json(
        &gw,
        "POST",
        "/services",
        json!({"name": name, "url": format!("http://127.0.0.1:{}", common::closed_port())}),
    )
    .await;
    status(&svc, 201, "service");
    let p = format!("/{name}");
    status(
        &json(
            &gw,
            "POST",
            &format!("/services/{name}/routes"),
            json!({"paths": [p], "strip_path": false}),
        )
        .await,
        201,
        "route",
    );
    let plugin = json(
        &gw,
        "POST",
        &format!("/services/{name}/plugins"),
        json!({"name": "pre-function", "config": {"access": [function_of(&b.lua)]}}),
    )
    .await;
    status(&plugin, 201, "plugin");
    let target = b.target.replace("{p}", &p);
    let own_host = b
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("host"));
    let host = if own_host { None } else { b.host };
    let (code, body) = if b.tls {
        let addr = gw.proxy_tls.expect("a TLS listener");
        let client = common::tls::any_cert_client(&[b"http/1.1"]);
        let sni = host.unwrap_or("localhost");
        let mut req = common::tls::get(sni, &target);
        for (k, v) in &b.headers {
            req.headers_mut()
                .append(*k, v.parse().expect("header value"));
        }
        let r = common::tls::https_request(addr, sni, client, req)
            .await
            .expect("https");
        (r.status, r.body)
    } else {
        let mut raw = format!("GET {target} {}\r\nConnection: close\r\n", b.version);
        if let Some(h) = host {
            raw.push_str(&format!("Host: {h}\r\n"));
        }
        for (k, v) in &b.headers {
            raw.push_str(&format!("{k}: {v}\r\n"));
        }
        raw.push_str("\r\n");
        let addr = gw.proxy;
        let r = tokio::task::spawn_blocking(move || common::pipelined(addr, &[&raw]).0.remove(0))
            .await
            .unwrap();
        (r.status, r.text())
    };
    let want = b
        .want
        .replace("{p}", &p)
        .replace("{port}", &gw.proxy.port().to_string())
        .replace(
            "{tls_port}",
            &gw.proxy_tls.map_or(0, |a| a.port()).to_string(),
        );
    assert_eq!(code, 200, "{body}");
    match want.strip_prefix('~') {
        Some(re) => assert!(digits_match(re, &body), "{body:?} does not match {re:?}"),
        None => assert_eq!(body, want),
    }
}

fn cases(blocks: Vec<F>) -> Vec<Case> {
    blocks
        .into_iter()
        .map(|b| {
            let title = b.title.to_string();
            let case: Box<dyn Fn(Arc<Gateway>) -> CaseFuture + Send> =
                Box::new(move |gw| -> CaseFuture { Box::pin(run_f(gw, b.clone())) });
            (title, case)
        })
        .collect()
}

/// Runs `blocks` of `file` on a gateway trusting `trusted_ips` (none:
/// Kong's default).
async fn run_file(file: &str, trusted_ips: Option<&str>, blocks: Vec<F>) {
    run_file_with(file, trusted_ips, &[], blocks).await;
}

/// [`run_file`] with more `serve` flags.
async fn run_file_with(file: &str, trusted_ips: Option<&str>, more: &[&str], blocks: Vec<F>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut args = vec!["--untrusted-lua", "on"];
    if let Some(ips) = trusted_ips {
        args.extend(["--trusted-ips", ips]);
    }
    args.extend(more);
    let gw = Gateway::spawn_with(tmp.path(), 1, &args, &[]);
    common::kong::run(file, gw, cases(blocks)).await;
}

const HOST_FILE: &str = "t/01-pdk/04-request/02-get_host.t";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_host() {
    let say = r#"ngx.say("host: ", pdk.request.get_host())"#;
    run_file(
        HOST_FILE,
        None,
        vec![
            f(
                "TEST 1: request.get_host() returns host using host header",
                say,
                "host: localhost\n",
            ),
            f(
                "TEST 2: request.get_host() returns host using host header with tls",
                say,
                "host: localhost\n",
            )
            .tls(),
            f(
                "TEST 3: request.get_host() returns host using server name",
                say,
                "host: kong\n",
            )
            .no_host(),
            f(
                "TEST 4: request.get_host() returns host using request line",
                say,
                "host: test\n",
            )
            .target("http://test{p}"),
            f(
                "TEST 5: request.get_host() returns host using explicit host header",
                say,
                "host: kong\n",
            )
            .header("Host", "kong"),
            f(
                "TEST 6: request.get_host() request line overrides host header",
                say,
                "host: test\n",
            )
            .target("http://test{p}")
            .header("Host", "kong"),
            f(
                "TEST 7: request.get_host() request line is normalized",
                say,
                "host: test\n",
            )
            .target("http://TEST{p}")
            .header("Host", "kong"),
            f(
                "TEST 8: request.get_host() explicit host header is normalized",
                say,
                "host: k0ng\n",
            )
            .header("Host", "K0nG"),
        ],
    )
    .await;
}

const SCHEME_FILE: &str = "t/01-pdk/04-request/04-get_forwarded_scheme.t";
const SAY_SCHEME: &str = r#"ngx.say("scheme: ", pdk.request.get_forwarded_scheme())"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_forwarded_scheme_trusted() {
    run_file(
        SCHEME_FILE,
        Some(TRUST_ALL),
        vec![
            f(
                "TEST 1: request.get_forwarded_scheme() considers X-Forwarded-Proto when trusted",
                SAY_SCHEME,
                "scheme: https\n",
            )
            .header("X-Forwarded-Proto", "https"),
            f(
                "TEST 3: request.get_forwarded_scheme() considers first X-Forwarded-Proto if multiple when trusted",
                SAY_SCHEME,
                "scheme: http\n",
            )
            .header("X-Forwarded-Proto", "http")
            .header("X-Forwarded-Proto", "https"),
            f(
                "TEST 5: request.get_forwarded_scheme() falls back to scheme used in last hop (http)",
                SAY_SCHEME,
                "scheme: http\n",
            ),
            f(
                "TEST 6: request.get_forwarded_scheme() falls back to scheme used in last hop (https)",
                SAY_SCHEME,
                "scheme: https\n",
            )
            .tls(),
            f(
                "TEST 7: request.get_forwarded_scheme() is normalized",
                SAY_SCHEME,
                "scheme: https\n",
            )
            .header("X-Forwarded-Proto", "HTTPS"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_forwarded_scheme_untrusted() {
    run_file(
        SCHEME_FILE,
        None,
        vec![
            f(
                "TEST 2: request.get_forwarded_scheme() doesn't considers X-Forwarded-Proto when not trusted",
                SAY_SCHEME,
                "scheme: http\n",
            )
            .header("X-Forwarded-Proto", "https"),
            f(
                "TEST 4: request.get_forwarded_scheme() doesn't considers any X-Forwarded-Proto headers when not trusted",
                SAY_SCHEME,
                "scheme: http\n",
            )
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Proto", "wss"),
        ],
    )
    .await;
}

const HOST_FWD_FILE: &str = "t/01-pdk/04-request/05-get_forwarded_host.t";
const SAY_HOST: &str = r#"ngx.say("host: ", pdk.request.get_forwarded_host())"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_forwarded_host_untrusted() {
    run_file(
        HOST_FWD_FILE,
        None,
        vec![
            f(
                "TEST 1: request.get_forwarded_host() returns host using host header from last hop when not trusted",
                SAY_HOST,
                "host: localhost\n",
            )
            .header("X-Forwarded-Host", "test"),
            f(
                "TEST 2: request.get_forwarded_host() returns host using host header with tls from last hop when not trusted",
                SAY_HOST,
                "host: localhost\n",
            )
            .header("X-Forwarded-Host", "test")
            .tls(),
            f(
                "TEST 3: request.get_forwarded_host() returns host using server name from last hop when not trusted",
                SAY_HOST,
                "host: kong\n",
            )
            .header("X-Forwarded-Host", "test")
            .no_host(),
            f(
                "TEST 4: request.get_forwarded_host() returns host using request line from last hop when not trusted",
                SAY_HOST,
                "host: test\n",
            )
            .target("http://test{p}")
            .header("X-Forwarded-Host", "kong"),
            f(
                "TEST 5: request.get_forwarded_host() returns host using explicit host header from last hop when not trusted",
                SAY_HOST,
                "host: kong\n",
            )
            .header("Host", "kong")
            .header("X-Forwarded-Host", "test"),
            f(
                "TEST 6: request.get_forwarded_host() request line overrides host header from last hop when not trusted",
                SAY_HOST,
                "host: test\n",
            )
            .target("http://test{p}")
            .header("Host", "kong")
            .header("X-Forwarded-Host", "test"),
            f(
                "TEST 7: request.get_host() request line is normalized and taken from last hop when not trusted",
                SAY_HOST,
                "host: test\n",
            )
            .target("http://TEST{p}")
            .header("Host", "kong")
            .header("X-Forwarded-Host", "not-trusted"),
            f(
                "TEST 8: request.get_host() explicit host header is normalized and taken from last hop when not trusted",
                SAY_HOST,
                "host: k0ng\n",
            )
            .header("Host", "K0nG")
            .header("X-Forwarded-Host", "not-trusted"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_forwarded_host_trusted() {
    run_file(
        HOST_FWD_FILE,
        Some(TRUST_ALL),
        vec![
            f(
                "TEST 10: request.get_forwarded_host() returns host from forwarded host header when trusted",
                SAY_HOST,
                "host: test\n",
            )
            .header("X-Forwarded-Host", "test"),
            f(
                "TEST 11: request.get_forwarded_host() returns host from forwarded host header with tls when trusted",
                SAY_HOST,
                "host: test\n",
            )
            .header("X-Forwarded-Host", "test")
            .tls(),
            f(
                "TEST 12: request.get_forwarded_host() forwarded host overrides request line and host header when trusted",
                SAY_HOST,
                "host: test\n",
            )
            .target("http://demo{p}")
            .header("Host", "kong")
            .header("X-Forwarded-Host", "test"),
            f(
                "TEST 13: request.get_host() forwarded host header is normalized",
                SAY_HOST,
                "host: k0ng\n",
            )
            .header("Host", "test")
            .header("X-Forwarded-Host", "K0nG"),
        ],
    )
    .await;
}

const PORT_FILE: &str = "t/01-pdk/04-request/06-get_forwarded_port.t";
const SAY_PORT: &str = r#"ngx.say("port: ", pdk.request.get_forwarded_port())"#;
const SAY_PORT_TYPE: &str = r#"ngx.say("port: ", pdk.request.get_forwarded_port())
ngx.say("type: ", type(pdk.request.get_forwarded_port()))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_forwarded_port_trusted() {
    run_file(
        PORT_FILE,
        Some(TRUST_ALL),
        vec![
            f(
                "TEST 1: request.get_forwarded_port() considers X-Forwarded-Port when trusted",
                SAY_PORT_TYPE,
                "port: 1234\ntype: number\n",
            )
            .header("X-Forwarded-Port", "1234"),
            f(
                "TEST 3: request.get_forwarded_port() considers first X-Forwarded-Port if multiple when trusted",
                SAY_PORT,
                "port: 1234\n",
            )
            .header("X-Forwarded-Port", "1234")
            .header("X-Forwarded-Port", "5678"),
            f(
                "TEST 5: request.get_forwarded_port() falls back to port used in last hop (http)",
                SAY_PORT,
                "port: {port}\n",
            ),
            f(
                "TEST 6: request.get_forwarded_port() falls back to port used in last hop (https)",
                SAY_PORT,
                "port: {tls_port}\n",
            )
            .tls(),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_forwarded_port_untrusted() {
    run_file(
        PORT_FILE,
        None,
        vec![
            f(
                "TEST 2: request.get_forwarded_port() doesn't considers X-Forwarded-Port when not trusted",
                SAY_PORT,
                "port: {port}\n",
            )
            .header("X-Forwarded-Port", "1234"),
            f(
                "TEST 4: request.get_forwarded_port() doesn't considers any X-Forwarded-Port headers when not trusted",
                SAY_PORT,
                "port: {port}\n",
            )
            .header("X-Forwarded-Port", "1234")
            .header("X-Forwarded-Port", "5678"),
        ],
    )
    .await;
}

/// Kong's blocks give the PDK `host_ports = { [server_port] = 29181 }`,
/// what Kong's `port_maps = 29181:<port>` makes: here `--port-maps` on a
/// gateway listening on a port chosen first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_forwarded_port_published() {
    for (trusted, block) in [
        (
            None,
            f(
                "TEST 7: request.get_forwarded_port() returns published port when configured",
                SAY_PORT_TYPE,
                "port: 29181\ntype: number\n",
            ),
        ),
        (
            Some(TRUST_ALL),
            f(
                "TEST 8: request.get_forwarded_port() does not return published port when X-Forwarded-Port is trusted",
                SAY_PORT_TYPE,
                "port: 1234\ntype: number\n",
            )
            .header("X-Forwarded-Port", "1234"),
        ),
    ] {
        let port = common::closed_port();
        let listen = format!("127.0.0.1:{port}");
        let maps = format!("29181:{port}");
        let more = ["--proxy-listen", listen.as_str(), "--port-maps", maps.as_str()];
        run_file_with(PORT_FILE, trusted, &more, vec![block]).await;
    }
}

/// Not a Kong block: with `--port-maps`, the published port is the
/// `X-Forwarded-Port` sent upstream and the port of `kong.log.serialize`'s
/// `request.url`, while `kong.request.get_port()` stays the listening
/// port; a bad mapping stops the gateway with Kong's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_maps_publish_the_port_upstream() {
    let up = common::echo_upstream("up").await;
    let port = common::closed_port();
    let listen = format!("127.0.0.1:{port}");
    let maps = format!("80:1, 8080:{port}");
    let tmp = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::spawn_with(
        tmp.path(),
        1,
        &["--proxy-listen", &listen, "--port-maps", &maps],
        &[],
    );
    let svc = json(
        &gw,
        "POST",
        "/services",
        json!({"name": "published", "url": format!("http://{up}")}),
    )
    .await;
    status(&svc, 201, "service");
    let route = json(
        &gw,
        "POST",
        "/services/published/routes",
        json!({"paths": ["/published"]}),
    )
    .await;
    status(&route, 201, "route");
    let plugin = json(
        &gw,
        "POST",
        "/services/published/plugins",
        json!({"name": "pre-function", "config": {"access": [
            "kong.service.request.set_header('x-ports', kong.request.get_port() .. ' ' .. kong.request.get_forwarded_port())"
        ]}}),
    )
    .await;
    status(&plugin, 201, "plugin");
    let echo: serde_json::Value = gw.get("/published").await.json().await.unwrap();
    assert_eq!(echo["headers"]["x-forwarded-port"], "8080", "{echo}");
    assert_eq!(echo["headers"]["x-ports"], format!("{port} 8080"), "{echo}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lunagate"))
        .args(["serve", "--port-maps", "80:8000,443"])
        .output()
        .expect("run lunagate");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid port mapping (`port_maps`): 443"),
        "{err}"
    );
}

const PATH_FILE: &str = "t/01-pdk/04-request/18-get_forwarded_path.t";
const SAY_PATH: &str = r#"ngx.say("path: ", pdk.request.get_forwarded_path())"#;
const SAY_PATH_TYPE: &str = r#"ngx.say("path: ", pdk.request.get_forwarded_path())
ngx.say("type: ", type(pdk.request.get_forwarded_path()))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_forwarded_path_trusted() {
    run_file(
        PATH_FILE,
        Some(TRUST_ALL),
        vec![
            f(
                "TEST 1: request.get_forwarded_path() considers X-Forwarded-Path when trusted",
                SAY_PATH_TYPE,
                "path: /trusted\ntype: string\n",
            )
            .target("{p}/request-path")
            .header("X-Forwarded-Path", "/trusted"),
            f(
                "TEST 3: request.get_forwarded_path() considers first X-Forwarded-Path if multiple when trusted",
                SAY_PATH,
                "path: /first\n",
            )
            .header("X-Forwarded-Path", "/first")
            .header("X-Forwarded-Path", "/second"),
            f(
                "TEST 6: request.get_forwarded_path() does not remove query and fragment when trusted",
                SAY_PATH,
                "path: /first?query&field=value#here\n",
            )
            .target("{p}/request-uri?query&field=value#here")
            .header("X-Forwarded-Path", "/first?query&field=value#here"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_forwarded_path_untrusted() {
    run_file(
        PATH_FILE,
        None,
        vec![
            f(
                "TEST 2: request.get_forwarded_path() doesn't considers X-Forwarded-Path when not trusted",
                SAY_PATH,
                "path: {p}/request-path\n",
            )
            .target("{p}/request-path")
            .header("X-Forwarded-Path", "/not-trusted"),
            f(
                "TEST 4: request.get_forwarded_path() doesn't considers any X-Forwarded-Path headers when not trusted",
                SAY_PATH,
                "path: {p}/request-uri\n",
            )
            .target("{p}/request-uri")
            .header("X-Forwarded-Path", "/first")
            .header("X-Forwarded-Path", "/second"),
            f(
                "TEST 5: request.get_forwarded_path() removes query and fragment when not trusted",
                SAY_PATH,
                "path: {p}/request-uri\n",
            )
            .target("{p}/request-uri?query&field=value#here")
            .header("X-Forwarded-Path", "/first"),
        ],
    )
    .await;
}

const PREFIX_FILE: &str = "t/01-pdk/04-request/19-get_forwarded_prefix.t";
const SAY_PREFIX: &str = r#"ngx.say("prefix: ", pdk.request.get_forwarded_prefix())"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_forwarded_prefix_trusted() {
    run_file(
        PREFIX_FILE,
        Some(TRUST_ALL),
        vec![
            f(
                "TEST 1: request.get_forwarded_prefix() considers X-Forwarded-Prefix when trusted",
                r#"ngx.say("prefix: ", pdk.request.get_forwarded_prefix())
ngx.say("type: ", type(pdk.request.get_forwarded_prefix()))"#,
                "prefix: /trusted\ntype: string\n",
            )
            .target("{p}/request-path")
            .header("X-Forwarded-Prefix", "/trusted"),
            f(
                "TEST 3: request.get_forwarded_prefix() considers first X-Forwarded-Prefix if multiple when trusted",
                SAY_PREFIX,
                "prefix: /first\n",
            )
            .header("X-Forwarded-Prefix", "/first")
            .header("X-Forwarded-Prefix", "/second"),
            f(
                "TEST 4: request.get_forwarded_prefix() does not remove query and fragment when trusted",
                SAY_PREFIX,
                "prefix: /first?query&field=value#here\n",
            )
            .target("{p}/request-uri?query&field=value#here")
            .header("X-Forwarded-Prefix", "/first?query&field=value#here"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_forwarded_prefix_untrusted() {
    run_file(
        PREFIX_FILE,
        None,
        vec![f(
            "TEST 2: request.get_forwarded_prefix() doesn't consider X-Forwarded-Prefix when not trusted",
            SAY_PREFIX,
            "prefix: nil\n",
        )
        .target("{p}/request-path")
        .header("X-Forwarded-Prefix", "/trusted")],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_start_time() {
    run_file(
        "t/01-pdk/04-request/20-get_start_time.t",
        None,
        vec![
            f(
                "TEST 1: request.get_start_time() uses ngx.ctx.KONG_PROCESSING_START when available",
                r#"ngx.ctx.KONG_PROCESSING_START = 10001
local start_time = pdk.request.get_start_time()
ngx.say("start_time: ", start_time)
ngx.say("type: ", type(start_time))"#,
                "start_time: 10001\ntype: number\n",
            )
            .target("{p}/request-path"),
            f(
                "TEST 2: request.get_start_time() falls back to ngx.req.start_time() as needed",
                r#"ngx.ctx.KONG_PROCESSING_START = nil
local ngx_start = ngx.req.start_time() * 1000
local pdk_start = pdk.request.get_start_time()
if pdk_start ~= ngx_start then
    ngx.status = 500
    ngx.say("bad result from request.get_start_time(): ", pdk_start)
    return ngx.exit(500)
end
ngx.say("start_time: ", pdk_start)
ngx.say("type: ", type(pdk_start))"#,
                "~start_time: \\d+\ntype: number\n",
            )
            .target("{p}/request-path"),
        ],
    )
    .await;
}
