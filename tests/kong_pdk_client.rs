//! Kong's `kong.client` specs in `t/01-pdk/05-client/`, ported block by
//! block: each block's Lua is a pre-function's access code on a route of
//! its own (`local pdk = kong`, then `ngx.exit(200)` sends what it
//! printed, as `tests/common/pdk.rs` does), one gateway per spec file.
//! The request is sent on a connection whose local port the test knows,
//! so where Kong's block only asks for `port: \d+` the port must be that
//! one (`{port}` below).
//!
//! | file | Kong's blocks | ported | passing | n/a |
//! |---|---|---|---|---|
//! | 00-phase_checks.t | 1 | 1 | 1 | 0 |
//! | 01-get_ip.t | 4 | 2 | 2 | 2 |
//! | 02-get_forwarded_ip.t | 10 | 8 | 8 | 2 |
//! | 03-get_port.t | 5 | 3 | 3 | 2 |
//! | 04-get_forwarded_port.t | 14 | 12 | 12 | 2 |
//! | 05-get_credential.t | 2 | 2 | 2 | 0 |
//! | 06-get_consumer.t | 2 | 2 | 2 | 0 |
//! | 07-authenticate.t | 4 | 4 | 4 | 0 |
//! | 08-get_protocol.t | 11 | 9 | 9 | 2 |
//! | 09-load-consumer.t | 4 | 4 | 4 | 0 |
//!
//! 00-phase_checks.t is in `tests/kong_pdk_phase_checks.rs`.
//!
//! A block's nginx realip settings are the node's (one gateway per
//! setting a file uses): `set_real_ip_from 0.0.0.0/0; ::/0; unix:` is
//! `--trusted-ips 0.0.0.0/0,::/0,unix:`, `real_ip_header` is
//! `--real-ip-header`; a block with no `set_real_ip_from` trusts no one.
//! 08-get_protocol.t's mocked `kong.ip.is_trusted` returning true (or
//! false) is a node trusting every address (or none).
//!
//! Not applicable (stream/TLS): the `(stream)` blocks, which run in
//! nginx's stream subsystem: 01-get_ip.t TEST 2 and 4, 02 TEST 5 and 10,
//! 03 TEST 2 and 5, 04 TEST 8 and 14, 08 TEST 9 (`tcp`) and 10 (`tls`).
//!
//! Adapted: Kong's blocks that set `ngx.ctx.route` by hand to a route
//! with given protocols (08-get_protocol.t) run on a route with those
//! protocols; TEST 1's `https`-only route is reached over the gateway's
//! TLS listener (a plain HTTP request gets 426 there, as on Kong), and
//! TEST 3's TLS server is the gateway's own TLS listener. 09's mocked
//! `kong.db.consumers` is the node's database: the Consumer `bob` is made
//! through the Admin API, with TEST 1's id.
//!
//! The blocks on a `proxy_protocol` listener (01 TEST 3, 02 TEST 4 and
//! 9, 03 TEST 4, 04 TEST 7 and 13) run on a gateway started with
//! `--proxy-listen "127.0.0.1:0 proxy_protocol" --real-ip-header
//! proxy_protocol`; the request is sent after Kong's PROXY line
//! (`PROXY TCP4 10.0.0.1 <server addr> <port> <server port>`). Adapted:
//! Kong's inner server listens on a UNIX socket, so its peer is `unix:`
//! with no port; here the peer is the test's TCP connection (127.0.0.1,
//! `{port}`), and where Kong's line carries the outer client's port
//! (`ngx.var.remote_port`) it carries 4321, which is not the peer's.
//! Kong sends `GET /` as HTTP/0.9; here it is HTTP/1.1.

mod common;

use std::io::{BufReader, Write};
use std::sync::Arc;
use std::time::Duration;

use common::kong::{json, status, unique, Case, CaseFuture};
use common::pdk::function_of;
use common::Gateway;
use serde_json::json;

/// One block: its Lua (using `pdk.`), the headers it sends, and the body
/// Kong expects (`{port}` is the client's own port).
#[derive(Clone)]
struct C {
    title: &'static str,
    lua: String,
    headers: Vec<(&'static str, &'static str)>,
    want: &'static str,
    /// The route's protocols (Kong's `ngx.ctx.route.protocols`).
    protocols: Option<&'static [&'static str]>,
    /// Sent over the gateway's TLS listener.
    tls: bool,
    /// Sent after a PROXY line naming 10.0.0.1 and this source port.
    proxied: Option<u16>,
}

fn c(title: &'static str, lua: &str, want: &'static str) -> C {
    C {
        title,
        lua: lua.to_string(),
        headers: Vec::new(),
        want,
        protocols: None,
        tls: false,
        proxied: None,
    }
}

impl C {
    fn header(mut self, name: &'static str, value: &'static str) -> C {
        self.headers.push((name, value));
        self
    }

    fn protocols(mut self, p: &'static [&'static str]) -> C {
        self.protocols = Some(p);
        self
    }

    fn tls(mut self) -> C {
        self.tls = true;
        self
    }

    fn proxied(mut self, port: u16) -> C {
        self.proxied = Some(port);
        self
    }
}

/// A route `/<name>` whose pre-function runs the block in access.
async fn route_for(gw: &Gateway, b: &C) -> String {
    let name = unique("client");
    let svc = json(
        gw,
        "POST",
        "/services",
        json!({"name": name, "url": format!("http://127.0.0.1:{}", common::closed_port())}),
    )
    .await;
    status(&svc, 201, "service");
    let mut route = json!({"paths": [format!("/{name}")]});
    if let Some(p) = b.protocols {
        route["protocols"] = json!(p);
    }
    status(
        &json(gw, "POST", &format!("/services/{name}/routes"), route).await,
        201,
        "route",
    );
    let plugin = json(
        gw,
        "POST",
        &format!("/services/{name}/plugins"),
        json!({"name": "pre-function", "config": {"access": [function_of(&b.lua)]}}),
    )
    .await;
    status(&plugin, 201, "plugin");
    format!("/{name}")
}

/// Sends the block's request over plain HTTP; the answer and the local
/// port it was sent from.
fn send_plain(gw: &Gateway, b: &C, path: &str) -> (common::RawResponse, u16) {
    let mut raw = match b.proxied {
        Some(source_port) => format!(
            "PROXY TCP4 10.0.0.1 {} {source_port} {}\r\n",
            gw.proxy.ip(),
            gw.proxy.port()
        ),
        None => String::new(),
    };
    raw.push_str(&format!(
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
    ));
    for (k, v) in &b.headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    raw.push_str("\r\n");
    let mut s = std::net::TcpStream::connect(gw.proxy).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let port = s.local_addr().expect("local address").port();
    s.write_all(raw.as_bytes()).expect("write");
    let resp = common::read_response(&mut BufReader::new(s), false).expect("response");
    (resp, port)
}

async fn run_c(gw: Arc<Gateway>, b: C) {
    let path = route_for(&gw, &b).await;
    let (code, body, port) = if b.tls {
        assert!(b.headers.is_empty(), "headers over TLS are not sent");
        let addr = gw.proxy_tls.expect("a TLS listener");
        let client = common::tls::any_cert_client(&[b"http/1.1"]);
        let r = common::tls::https_request(addr, "test", client, common::tls::get("test", &path))
            .await
            .expect("https");
        (r.status, r.body, 0)
    } else {
        let gw2 = gw.clone();
        let b2 = b.clone();
        let (r, port) = tokio::task::spawn_blocking(move || send_plain(&gw2, &b2, &path))
            .await
            .expect("request");
        (r.status, r.text(), port)
    };
    let want = b.want.replace("{port}", &port.to_string());
    assert_eq!((code, body), (200, want), "Lua:\n{}", b.lua);
}

fn cases(blocks: Vec<C>) -> Vec<Case> {
    blocks
        .into_iter()
        .map(|b| {
            let title = b.title.to_string();
            let case: Box<dyn Fn(Arc<Gateway>) -> CaseFuture + Send> =
                Box::new(move |gw| -> CaseFuture { Box::pin(run_c(gw, b.clone())) });
            (title, case)
        })
        .collect()
}

/// Kong's `set_real_ip_from 0.0.0.0/0; set_real_ip_from ::/0;
/// set_real_ip_from unix:`.
const EVERYONE: &str = "0.0.0.0/0,::/0,unix:";

/// The node's realip settings of a group of blocks.
#[derive(Clone, Copy)]
enum Node {
    /// No `set_real_ip_from`, with this `real_ip_header`.
    Untrusted(&'static str),
    /// Every peer trusted, with this `real_ip_header`.
    Trusting(&'static str),
}

/// A gateway with `node`'s settings, run without a sandbox as Kong's
/// tests are (`setmetatable`). Keep the directory as long as the gateway.
fn gateway(node: Node) -> (Gateway, tempfile::TempDir) {
    let mut args = vec!["--untrusted-lua", "on"];
    if let Node::Untrusted(PROXY_PROTOCOL) | Node::Trusting(PROXY_PROTOCOL) = node {
        args.extend(["--proxy-listen", "127.0.0.1:0 proxy_protocol"]);
    }
    match node {
        Node::Untrusted(header) => args.extend(["--real-ip-header", header]),
        Node::Trusting(header) => {
            args.extend(["--trusted-ips", EVERYONE, "--real-ip-header", header])
        }
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::spawn_with(tmp.path(), 1, &args, &[]);
    (gw, tmp)
}

/// Runs each group of `file`'s blocks on a gateway of its settings.
async fn run_file(file: &str, groups: Vec<(Node, Vec<C>)>) {
    for (node, blocks) in groups {
        let (gw, _tmp) = gateway(node);
        common::kong::run(file, gw, cases(blocks)).await;
    }
}

/// `real_ip_header proxy_protocol`, on a `proxy_protocol` listener.
const PROXY_PROTOCOL: &str = "proxy_protocol";

/// Kong's default `real_ip_header`, where a block sets none.
const DEFAULT: Node = Node::Untrusted("X-Real-IP");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_ip() {
    run_file(
        "t/01-pdk/05-client/01-get_ip.t",
        vec![
            (
                Node::Trusting("X-Real-IP"),
                vec![c(
                    "TEST 1: client.get_ip() returns client ip",
                    r#"ngx.say("ip: ", pdk.client.get_ip())"#,
                    "ip: 127.0.0.1\n",
                )
                .header("X-Real-IP", "10.0.0.1")],
            ),
            (
                Node::Trusting(PROXY_PROTOCOL),
                vec![c(
                    "TEST 3: client.get_ip() returns client ip not affected by proxy_protocol",
                    r#"ngx.say("ip: ", pdk.client.get_ip())"#,
                    "ip: 127.0.0.1\n",
                )
                .proxied(4321)],
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_forwarded_ip() {
    let say = r#"ngx.say("ip: ", pdk.client.get_forwarded_ip())"#;
    run_file(
        "t/01-pdk/05-client/02-get_forwarded_ip.t",
        vec![
            (
                Node::Trusting("X-Real-IP"),
                vec![c(
                    "TEST 1: client.get_forwarded_ip() returns client ip with X-Real-IP header when trusted",
                    say,
                    "ip: 10.0.0.1\n",
                )
                .header("X-Real-IP", "10.0.0.1")],
            ),
            (
                Node::Trusting("X-Forwarded-For"),
                vec![
                    c(
                        "TEST 2: client.get_forwarded_ip() returns client ip with X-Forwarded-For header when trusted",
                        say,
                        "ip: 10.0.0.1\n",
                    )
                    .header("X-Forwarded-For", "10.0.0.1"),
                    c(
                        "TEST 3: client.get_forwarded_ip() returns client ip with X-Forwarded-For header with port when trusted",
                        say,
                        "ip: 10.0.0.1\n",
                    )
                    .header("X-Forwarded-For", "10.0.0.1:1234"),
                ],
            ),
            (
                Node::Trusting(PROXY_PROTOCOL),
                vec![c(
                    "TEST 4: client.get_forwarded_ip() returns client ip with proxy_protocol when trusted",
                    say,
                    "ip: 10.0.0.1\n",
                )
                .proxied(4321)],
            ),
            (
                Node::Untrusted(PROXY_PROTOCOL),
                vec![c(
                    "TEST 9: client.get_forwarded_ip() returns client ip from last hop with proxy_protocol when not trusted",
                    say,
                    "ip: 127.0.0.1\n",
                )
                .proxied(4321)],
            ),
            (
                Node::Untrusted("X-Real-IP"),
                vec![c(
                    "TEST 6: client.get_forwarded_ip() returns client ip from last hop with X-Real-IP header when not trusted",
                    say,
                    "ip: 127.0.0.1\n",
                )
                .header("X-Real-IP", "10.0.0.1")],
            ),
            (
                Node::Untrusted("X-Forwarded-For"),
                vec![
                    c(
                        "TEST 7: client.get_forwarded_ip() returns client ip from last hop with X-Forwarded-For header when not trusted",
                        say,
                        "ip: 127.0.0.1\n",
                    )
                    .header("X-Forwarded-For", "10.0.0.1"),
                    c(
                        "TEST 8: client.get_forwarded_ip() returns client ip from last hop with X-Forwarded-For header with port when not trusted",
                        say,
                        "ip: 127.0.0.1\n",
                    )
                    .header("X-Forwarded-For", "10.0.0.1:1234"),
                ],
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_port() {
    run_file(
        "t/01-pdk/05-client/03-get_port.t",
        vec![
            (
                DEFAULT,
                vec![
                    c(
                        "TEST 1: client.get_port() returns client port",
                        r#"ngx.say("port: ", pdk.client.get_port())"#,
                        "port: {port}\n",
                    ),
                    c(
                        "TEST 3: client.get_port() returns a number",
                        r#"ngx.say("port type: ", type(pdk.client.get_port()))"#,
                        "port type: number\n",
                    ),
                ],
            ),
            (
                Node::Trusting(PROXY_PROTOCOL),
                vec![c(
                    "TEST 4: client.get_port() returns client port not affected by proxy_protocol",
                    r#"ngx.say("port: ", pdk.client.get_port())"#,
                    "port: {port}\n",
                )
                .proxied(4321)],
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_forwarded_port() {
    let say = r#"ngx.say("port: ", pdk.client.get_forwarded_port())"#;
    run_file(
        "t/01-pdk/05-client/04-get_forwarded_port.t",
        vec![
            (
                DEFAULT,
                vec![
                    c(
                        "TEST 1: client.get_forwarded_port() returns forwarded client port",
                        say,
                        "port: {port}\n",
                    ),
                    c(
                        "TEST 2: client.get_forwarded_port() returns a number",
                        r#"ngx.say("port type: ", type(pdk.client.get_forwarded_port()))"#,
                        "port type: number\n",
                    ),
                ],
            ),
            (
                Node::Trusting("X-Real-IP"),
                vec![
                    c(
                        "TEST 3: client.get_forwarded_port() returns client port with X-Real-IP header when trusted",
                        say,
                        "port: 1234\n",
                    )
                    .header("X-Real-IP", "10.0.0.1:1234"),
                    c(
                        "TEST 4: client.get_forwarded_port() returns nil as client port when X-Real-IP doesn't define port when trusted",
                        say,
                        "port: nil\n",
                    )
                    .header("X-Real-IP", "10.0.0.1"),
                ],
            ),
            (
                Node::Trusting("X-Forwarded-For"),
                vec![
                    c(
                        "TEST 5: client.get_forwarded_port() returns client port with X-Forwarded-For header when trusted",
                        say,
                        "port: 1234\n",
                    )
                    .header("X-Forwarded-For", "10.0.0.1:1234"),
                    c(
                        "TEST 6: client.get_forwarded_port() returns nil as client port when X-Forwarded-For doesn't define port when trusted",
                        say,
                        "port: nil\n",
                    )
                    .header("X-Forwarded-For", "10.0.0.1"),
                ],
            ),
            (
                Node::Trusting(PROXY_PROTOCOL),
                vec![c(
                    "TEST 7: client.get_forwarded_port() returns client port with proxy_protocol when trusted",
                    say,
                    "port: 1234\n",
                )
                .proxied(1234)],
            ),
            (
                Node::Untrusted(PROXY_PROTOCOL),
                vec![c(
                    "TEST 13: client.get_forwarded_port() returns client port from last hop with proxy_protocol when not trusted",
                    say,
                    "port: {port}\n",
                )
                .proxied(1234)],
            ),
            (
                Node::Untrusted("X-Real-IP"),
                vec![c(
                    "TEST 9: client.get_forwarded_port() returns client port from last hop with X-Real-IP not having port when not trusted",
                    say,
                    "port: {port}\n",
                )
                .header("X-Real-IP", "10.0.0.1")],
            ),
            (
                Node::Untrusted("X-Forwarded-For"),
                vec![
                    c(
                        "TEST 10: client.get_forwarded_port() returns client port from last hop with X-Forwarded-For not having port when not trusted",
                        say,
                        "port: {port}\n",
                    )
                    .header("X-Forwarded-For", "10.0.0.1"),
                    c(
                        "TEST 11: client.get_forwarded_port() returns client port from last hop with X-Real-IP with port when not trusted",
                        say,
                        "port: {port}\n",
                    )
                    .header("X-Real-IP", "10.0.0.1:1234"),
                    c(
                        "TEST 12: client.get_forwarded_port() returns client port from last hop with X-Forwarded-For with port when not trusted",
                        say,
                        "port: {port}\n",
                    )
                    .header("X-Forwarded-For", "10.0.0.1:1234"),
                ],
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_credential() {
    run_file(
        "t/01-pdk/05-client/05-get_credential.t",
        vec![(
            DEFAULT,
            vec![
                c(
                    "TEST 1: client.get_credential() returns selected credential",
                    r#"ngx.ctx.authenticated_credential = setmetatable({},{
    __tostring = function() return "this credential" end,
})
ngx.say("credential: ", tostring(pdk.client.get_credential()))"#,
                    "credential: this credential\n",
                ),
                c(
                    "TEST 2: client.get_service() returns nil if not set",
                    r#"ngx.ctx.authenticated_credential = nil
ngx.say("credential: ", tostring(pdk.client.get_credential()))"#,
                    "credential: nil\n",
                ),
            ],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_consumer() {
    run_file(
        "t/01-pdk/05-client/06-get_consumer.t",
        vec![(
            DEFAULT,
            vec![
                c(
                    "TEST 1: client.get_consumer() returns selected consumer",
                    r#"ngx.ctx.authenticated_consumer = setmetatable({},{
    __tostring = function() return "this consumer" end,
})
ngx.say("consumer: ", tostring(pdk.client.get_consumer()))"#,
                    "consumer: this consumer\n",
                ),
                c(
                    "TEST 2: client.get_service() returns nil if not set",
                    r#"ngx.ctx.authenticated_consumer = nil
ngx.say("consumer: ", tostring(pdk.client.get_consumer()))"#,
                    "consumer: nil\n",
                ),
            ],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticate() {
    run_file(
        "t/01-pdk/05-client/07-authenticate.t",
        vec![(
            DEFAULT,
            vec![
                c(
                    "TEST 1: client.authenticate() sets the consumer",
                    r#"pdk.client.authenticate(setmetatable({},{
    __tostring = function() return "this consumer" end,
}),
setmetatable({},{
    __tostring = function() return "this credential" end,
}))
ngx.say("consumer: ", tostring(pdk.client.get_consumer()), ", credential: ", tostring(pdk.client.get_credential()))"#,
                    "consumer: this consumer, credential: this credential\n",
                ),
                c(
                    "TEST 2: client.authenticate() does not allow unsetting both",
                    r#"local pok, err = pcall(pdk.client.authenticate, nil, nil)
ngx.say(tostring(err))"#,
                    "either credential or consumer must be provided\n",
                ),
                c(
                    "TEST 3: client.authenticate() only accepts table as consumer",
                    r#"local pok, err = pcall(pdk.client.authenticate, "not_a_proper_consumer")
ngx.say(tostring(err))"#,
                    "consumer must be a table or nil\n",
                ),
                c(
                    "TEST 4: client.authenticate() only accepts table as credential",
                    r#"local pok, err = pcall(pdk.client.authenticate, nil, "not_a_proper_credential")
ngx.say(tostring(err))"#,
                    "credential must be a table or nil\n",
                ),
            ],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_protocol() {
    let say = r#"ngx.say("protocol=", assert(pdk.client.get_protocol()))"#;
    let terminated = r#"ngx.say("protocol=", assert(pdk.client.get_protocol(true)))"#;
    let both: &[&str] = &["http", "https"];
    run_file(
        "t/01-pdk/05-client/08-get_protocol.t",
        vec![
            (
                DEFAULT,
                vec![
                    c(
                        "TEST 1: client.get_protocol() returns the protocol on single-protocol matched route",
                        say,
                        "protocol=https\n",
                    )
                    .protocols(&["https"])
                    .tls(),
                    c(
                        "TEST 2: client.get_protocol() returns \"http\" when subsystem is \"http\"",
                        say,
                        "protocol=http\n",
                    )
                    .protocols(both),
                    c(
                        "TEST 3: client.get_protocol() returns \"https\" when kong receives an https request",
                        say,
                        "protocol=https\n",
                    )
                    .protocols(both)
                    .tls(),
                    c(
                        "TEST 6: client.get_protocol() returns \"http\" when kong receives an http request from a non trusted ip",
                        terminated,
                        "protocol=http\n",
                    )
                    .protocols(both)
                    .header("X-Forwarded-Proto", "https"),
                ],
            ),
            (
                Node::Trusting("X-Real-IP"),
                vec![
                    c(
                        "TEST 4: client.get_protocol() returns \"https\" when kong receives an http request from a trusted ip and allow_terminated is true",
                        terminated,
                        "protocol=https\n",
                    )
                    .protocols(both)
                    .header("X-Forwarded-Proto", "https"),
                    c(
                        "TEST 5: client.get_protocol() returns \"http\" when kong receives an http request but allow_terminated is false",
                        r#"ngx.say("protocol=", assert(pdk.client.get_protocol(false))) -- was true"#,
                        "protocol=http\n",
                    )
                    .protocols(both)
                    .header("X-Forwarded-Proto", "https"),
                    c(
                        "TEST 7: client.get_protocol() returns \"http\" when kong receives an http request with a non-https x-forwarded-proto header",
                        terminated,
                        "protocol=http\n",
                    )
                    .protocols(both)
                    .header("X-Forwarded-Proto", "something other than \"https\""),
                    c(
                        "TEST 8: client.get_protocol() returns \"http\" when the request has no x-forwarded-proto header",
                        terminated,
                        "protocol=http\n",
                    )
                    .protocols(both),
                    c(
                        "TEST 11: client.get_protocol() fails when kong receives an http request with multiple x-forwarded-proto headers",
                        r#"local ok, err = pdk.client.get_protocol(true)
assert(ok == nil)
ngx.say("err=", err)"#,
                        "err=Only one X-Forwarded-Proto header allowed\n",
                    )
                    .protocols(both)
                    .header("X-Forwarded-Proto", "https")
                    .header("X-Forwarded-Proto", "http"),
                ],
            ),
        ],
    )
    .await;
}

/// TEST 1's consumer id (Kong's mocked `select` answers `bob` for it).
const BOB: &str = "5a61a36e-6133-4be7-b8be-6431d6e98019";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_consumer() {
    let (gw, _tmp) = gateway(DEFAULT);
    let bob = json(
        &gw,
        "PUT",
        &format!("/consumers/{BOB}"),
        json!({"username": "bob"}),
    )
    .await;
    assert!(bob.status == 200 || bob.status == 201, "{}", bob.text);
    common::kong::run(
        "t/01-pdk/05-client/09-load-consumer.t",
        gw,
        cases(vec![
            c(
                "TEST 1: client.load_consumer() loads a consumer by id.",
                &format!(
                    r#"local consumer, err = pdk.client.load_consumer("{BOB}")
ngx.say("consumer: " .. consumer.username)"#
                ),
                "consumer: bob\n",
            ),
            c(
                "TEST 2: client.load_consumer() loads a consumer by username",
                r#"local consumer, err = pdk.client.load_consumer("bob", true)
ngx.say("consumer: " .. consumer.username)"#,
                "consumer: bob\n",
            ),
            c(
                "TEST 3: client.load_consumer() returns an error",
                r#"local consumer, err = pcall(pdk.client.load_consumer)
ngx.say(tostring(err))"#,
                "consumer_id must be a string\n",
            ),
            c(
                "TEST 4: client.load_consumer() errors for a non-uuid ID based search",
                r#"local consumer, err = pcall(pdk.client.load_consumer, "bob", false)
ngx.say(tostring(err))"#,
                "cannot load a consumer with an id that is not a uuid\n",
            ),
        ]),
    )
    .await;
}

/// Not a Kong block: nginx's realip module names the client once, when
/// the request arrives, so a function that rewrites the real-IP header
/// for the service (or clears it) does not change who the client is
/// for itself or for later phases: `get_forwarded_ip/port`, and
/// `ngx.var.remote_addr/remote_port` (with `realip_remote_addr`, the
/// peer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forwarded_client_is_fixed_when_the_request_arrives() {
    let (gw, _tmp) = gateway(Node::Trusting("X-Real-IP"));
    let say = r#"ngx.say(pdk.client.get_forwarded_ip(), " ", pdk.client.get_forwarded_port(), " ",
    ngx.var.remote_addr, " ", ngx.var.remote_port, " ", ngx.var.realip_remote_addr)"#;
    let lua = |change: &str| format!("pdk.service.request.{change}\n{say}");
    let want = "10.0.0.1 1234 10.0.0.1 1234 127.0.0.1\n";
    common::kong::run(
        "lunagate",
        gw,
        cases(vec![
            c(
                "set_header of the real-IP header",
                &lua(r#"set_header("X-Real-IP", "10.9.9.9:99")"#),
                want,
            )
            .header("X-Real-IP", "10.0.0.1:1234"),
            c(
                "clear_header of the real-IP header",
                &lua(r#"clear_header("X-Real-IP")"#),
                want,
            )
            .header("X-Real-IP", "10.0.0.1:1234"),
        ]),
    )
    .await;
}

/// Not a Kong block: nginx's `$proxy_protocol_addr`/`$proxy_protocol_port`
/// are the PROXY header's source whether or not the peer is trusted (and
/// nil without a PROXY header), and `$binary_remote_addr` is the
/// client's address as its 4 raw bytes, not its text. Red before: the
/// PROXY variables were nil, and `binary_remote_addr` was the text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ngx_var_proxy_protocol_and_binary_remote_addr() {
    let say = r#"ngx.say(tostring(ngx.var.proxy_protocol_addr), " ",
    tostring(ngx.var.proxy_protocol_port), " ", ngx.var.remote_addr, " ",
    #ngx.var.binary_remote_addr, " ", table.concat({string.byte(ngx.var.binary_remote_addr, 1, -1)}, "."))"#;
    run_file(
        "lunagate",
        vec![
            (
                Node::Untrusted(PROXY_PROTOCOL),
                vec![c(
                    "untrusted PROXY source",
                    say,
                    "10.0.0.1 4321 127.0.0.1 4 127.0.0.1\n",
                )
                .proxied(4321)],
            ),
            (
                Node::Trusting(PROXY_PROTOCOL),
                vec![c(
                    "trusted PROXY source",
                    say,
                    "10.0.0.1 4321 10.0.0.1 4 10.0.0.1\n",
                )
                .proxied(4321)],
            ),
            (
                DEFAULT,
                vec![c("no PROXY header", say, "nil nil 127.0.0.1 4 127.0.0.1\n")],
            ),
        ],
    )
    .await;
}
