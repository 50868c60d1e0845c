//! Kong's `kong.request` getter specs in `t/01-pdk/04-request/`, ported
//! block by block: each block's Lua is a pre-function's access code on a
//! route of its own (`local pdk = kong`, then `ngx.exit(200)` sends what
//! it printed, as `tests/common/pdk.rs` does), one gateway per spec file.
//! Kong's location is `/t`; here it is the route's own path, written
//! `{p}` in the request and in the expected body.
//!
//! | file | Kong's blocks | ported | passing | n/a |
//! |---|---|---|---|---|
//! | 01-get_scheme.t | 3 | 3 | 3 | 0 |
//! | 03-get_port.t | 2 | 2 | 2 | 0 |
//! | 07-get_http_version.t | 3 | 3 | 3 | 0 |
//! | 08-get_method.t | 2 | 2 | 2 | 0 |
//! | 09-get_path.t | 4 | 4 | 4 | 0 |
//! | 10-get_raw_query.t | 4 | 4 | 4 | 0 |
//! | 11-get_query_arg.t | 7 | 7 | 7 | 0 |
//! | 12-get_query.t | 8 | 8 | 8 | 0 |
//! | 17-get_path_with_query.t | 3 | 3 | 3 | 0 |
//! | 20-get_raw_path.t | 4 | 4 | 4 | 0 |
//! | 21-get_uri_captures.t | 1 | 1 | 1 | 0 |
//!
//! Adapted: 01-get_scheme.t TEST 2 proxies to a TLS server; here the
//! client speaks TLS to the gateway's own TLS listener (what the function
//! reads is the client's scheme either way). 09-get_path.t and
//! 20-get_raw_path.t TEST 2 send `GET http://kong` to a location `= /`;
//! here the route matches a host of its own at `/`. 11-get_query_arg.t
//! TEST 6 and 12-get_query.t TEST 4-5 set the query in
//! `rewrite_by_lua_block` (`ngx.req.set_uri_args`); Kong runs `rewrite`
//! for global plugins only, so that Lua runs first in the block's own
//! function. 21-get_uri_captures.t sets `ngx.ctx.router_matches` by hand
//! from its own `ngx.re.match`; here the route's regex path is that
//! regex, and the router's captures are what the function reads.
//!
//! 17-get_path_with_query.t TEST 3 (the PDK in nginx's `error_page`
//! location, for a request that is not HTTP) is in
//! `tests/kong_proxy_refused.rs`: a global function's header_filter runs
//! there, as on Kong (docs/kong-specs.md, (*)).

mod common;

use std::sync::Arc;

use common::kong::{json, status, unique, Case, CaseFuture};
use common::pdk::{digits_match, function_of};
use common::Gateway;
use serde_json::json;

/// One block: the request line's method, target (`{p}` is the route's
/// path) and version, the block's Lua and the body Kong expects (`{p}`
/// again; a `~` prefix makes it a regex).
#[derive(Clone)]
struct G {
    title: &'static str,
    method: &'static str,
    target: &'static str,
    version: &'static str,
    lua: String,
    want: &'static str,
    /// The route matches this host at `/` instead of a path of its own.
    own_host: bool,
    /// The route's path instead of `{p}` (`{p}` in it is the route's name).
    route: Option<&'static str>,
    tls: bool,
}

fn g(title: &'static str, target: &'static str, lua: &str, want: &'static str) -> G {
    G {
        title,
        method: "GET",
        target,
        version: "HTTP/1.1",
        lua: lua.to_string(),
        want,
        own_host: false,
        route: None,
        tls: false,
    }
}

async fn run_g(gw: Arc<Gateway>, b: G) {
    let name = unique("req");
    let svc = json(
        &gw,
        "POST",
        "/services",
        json!({"name": name, "url": format!("http://127.0.0.1:{}", common::closed_port())}),
    )
    .await;
    status(&svc, 201, "service");
    let (route, host) = if b.own_host {
        (json!({"hosts": [name], "paths": ["/"]}), name.clone())
    } else {
        let path = b.route.unwrap_or("{p}").replace("{p}", &format!("/{name}"));
        (json!({"paths": [path]}), "test".to_string())
    };
    status(
        &json(&gw, "POST", &format!("/services/{name}/routes"), route).await,
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
    let p = if b.own_host {
        name.clone()
    } else {
        format!("/{name}")
    };
    let target = b.target.replace("{p}", &p);
    let mut raw = format!(
        "{} {target} {}\r\nHost: {host}\r\nConnection: close\r\n",
        b.method, b.version
    );
    if b.method == "POST" {
        raw.push_str("Content-Length: 0\r\n");
    }
    raw.push_str("\r\n");
    let (code, body) = if b.tls {
        let addr = gw.proxy_tls.expect("a TLS listener");
        let client = common::tls::any_cert_client(&[b"http/1.1"]);
        let r = common::tls::https_request(addr, &host, client, common::tls::get(&host, &target))
            .await
            .expect("https");
        (r.status, r.body)
    } else {
        let addr = gw.proxy;
        let r = tokio::task::spawn_blocking(move || common::pipelined(addr, &[&raw]).0.remove(0))
            .await
            .unwrap();
        (r.status, r.text())
    };
    let want = b.want.replace("{p}", &p);
    assert_eq!(code, 200, "{body}");
    match want.strip_prefix('~') {
        Some(re) => assert!(digits_match(re, &body), "{body:?} does not match {re:?}"),
        None => assert_eq!(body, want),
    }
}

fn cases(blocks: Vec<G>) -> Vec<Case> {
    blocks
        .into_iter()
        .map(|b| {
            let title = b.title.to_string();
            let case: Box<dyn Fn(Arc<Gateway>) -> CaseFuture + Send> =
                Box::new(move |gw| -> CaseFuture { Box::pin(run_g(gw, b.clone())) });
            (title, case)
        })
        .collect()
}

async fn run_file(file: &str, blocks: Vec<G>) {
    let (gw, _tmp) = common::pdk::unsandboxed();
    common::kong::run(file, gw, cases(blocks)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_scheme() {
    let say = r#"ngx.say("scheme: ", pdk.request.get_scheme())"#;
    run_file(
        "t/01-pdk/04-request/01-get_scheme.t",
        vec![
            g(
                "TEST 1: request.get_scheme() returns http for plain text requests",
                "{p}",
                say,
                "scheme: http\n",
            ),
            G {
                tls: true,
                ..g(
                    "TEST 2: request.get_scheme() returns https for TLS requests",
                    "{p}",
                    say,
                    "scheme: https\n",
                )
            },
            g(
                "TEST 3: request.get_scheme() is normalized",
                "HTTP://KONG{p}",
                say,
                "scheme: http\n",
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_port() {
    run_file(
        "t/01-pdk/04-request/03-get_port.t",
        vec![
            g(
                "TEST 1: request.get_port() returns server port",
                "{p}",
                r#"ngx.say("port: ", pdk.request.get_port())"#,
                "~port: \\d+\n",
            ),
            g(
                "TEST 2: request.get_port() returns a number",
                "{p}",
                r#"ngx.say("port type: ", type(pdk.request.get_port()))"#,
                "port type: number\n",
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_http_version() {
    let say = r#"ngx.say("version: ", pdk.request.get_http_version())"#;
    run_file(
        "t/01-pdk/04-request/07-get_http_version.t",
        vec![
            G {
                version: "HTTP/1.0",
                ..g(
                    "TEST 1: request.get_http_version() returns request http version 1.0",
                    "{p}",
                    say,
                    "version: 1\n",
                )
            },
            g(
                "TEST 2: request.get_http_version() returns request http version 1.1",
                "{p}",
                say,
                "version: 1.1\n",
            ),
            g(
                "TEST 3: request.get_http_version() returns a number",
                "{p}",
                r#"ngx.say("type: ", type(pdk.request.get_http_version()))"#,
                "type: number\n",
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_method() {
    let say = r#"ngx.say("method: ", pdk.request.get_method())"#;
    run_file(
        "t/01-pdk/04-request/08-get_method.t",
        vec![
            g(
                "TEST 1: request.get_method() returns request method as string 1/2",
                "{p}",
                say,
                "method: GET\n",
            ),
            G {
                method: "POST",
                ..g(
                    "TEST 2: request.get_method() returns request method as string 2/2",
                    "{p}",
                    say,
                    "method: POST\n",
                )
            },
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_path() {
    let say = r#"ngx.say("normalized path: ", pdk.request.get_path())"#;
    run_file(
        "t/01-pdk/04-request/09-get_path.t",
        vec![
            g(
                "TEST 1: request.get_path() returns path component of uri",
                "{p}",
                say,
                "normalized path: {p}\n",
            ),
            G {
                own_host: true,
                ..g(
                    "TEST 2: request.get_path() returns at least slash",
                    "http://{p}",
                    say,
                    "normalized path: /\n",
                )
            },
            g(
                "TEST 3: request.get_path() is normalized",
                "{p}/Abc%20123%C3%B8/parent/../test/.",
                say,
                "normalized path: {p}/Abc 123ø/test/\n",
            ),
            g(
                "TEST 4: request.get_path() strips query string",
                "{p}/demo?param=value",
                say,
                "normalized path: {p}/demo\n",
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_raw_query() {
    let quoted = r#"ngx.say("query: '", pdk.request.get_raw_query(), "'")"#;
    let say = r#"ngx.say("query: ", pdk.request.get_raw_query())"#;
    run_file(
        "t/01-pdk/04-request/10-get_raw_query.t",
        vec![
            g(
                "TEST 1: request.get_raw_query() returns query component of uri",
                "{p}?query",
                say,
                "query: query\n",
            ),
            g(
                "TEST 2: request.get_raw_query() returns empty string on missing query string",
                "{p}",
                quoted,
                "query: ''\n",
            ),
            g(
                "TEST 3: request.get_raw_query() returns empty string with empty query string",
                "{p}?",
                quoted,
                "query: ''\n",
            ),
            g(
                "TEST 4: request.get_raw_query() is not normalized",
                "{p}?Abc%20123%C3%B8/../test/.",
                say,
                "query: Abc%20123%C3%B8/../test/.\n",
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_query_arg() {
    run_file(
        "t/01-pdk/04-request/11-get_query_arg.t",
        vec![
            g(
                "TEST 1: request.get_query_arg() returns first query arg when multiple is given with same name",
                "{p}?Foo=1&Foo=2",
                r#"ngx.say("Foo: ", pdk.request.get_query_arg("Foo"))"#,
                "Foo: 1\n",
            ),
            g(
                "TEST 2: request.get_query_arg() returns values from case-sensitive table",
                "{p}?Foo=1&foo=2",
                r#"ngx.say("Foo: ", pdk.request.get_query_arg("Foo"))
ngx.say("foo: ", pdk.request.get_query_arg("foo"))"#,
                "Foo: 1\nfoo: 2\n",
            ),
            g(
                "TEST 3: request.get_query_arg() returns nil when query argument is missing",
                "{p}?Foo=1",
                r#"ngx.say("Bar: ", pdk.request.get_query_arg("Bar"))"#,
                "Bar: nil\n",
            ),
            g(
                "TEST 4: request.get_query_arg() returns true when query argument has no value",
                "{p}?Foo",
                r#"ngx.say("Foo: ", pdk.request.get_query_arg("Foo"))"#,
                "Foo: true\n",
            ),
            g(
                "TEST 5: request.get_query_arg() returns empty string when query argument's value is empty",
                "{p}?Foo=",
                r#"ngx.say("Foo: '", pdk.request.get_query_arg("Foo"), "'")"#,
                "Foo: ''\n",
            ),
            g(
                "TEST 6: request.get_query_arg() returns nil when requested query arg does not fit in max_args",
                "{p}",
                r#"local args = {}
for i = 1, 100 do
    args["arg-" .. i] = "test"
end
local args = ngx.encode_args(args)
args = args .. "&arg-101=test"
ngx.req.set_uri_args(args)

ngx.say("argument value: ", pdk.request.get_query_arg("arg-101"))"#,
                "argument value: nil\n",
            ),
            g(
                "TEST 7: request.get_query_arg() raises error when trying to fetch with invalid argument",
                "{p}",
                r#"local _, err = pcall(pdk.request.get_query_arg)
ngx.say("error: ", err)"#,
                "error: query argument name must be a string\n",
            ),
        ],
    )
    .await;
}

/// 12-get_query.t TEST 4-5: `set` arguments, then count what
/// `get_query(max)` returns.
fn count_args(set: usize, max: &str) -> String {
    format!(
        r#"local args = {{}}
for i = 1, {set} do
    args["arg-" .. i] = "test"
end
ngx.req.set_uri_args(args)

local headers = pdk.request.get_query({max})
local n = 0
for _ in pairs(headers) do
    n = n + 1
end
ngx.say("number of query arguments fetched: ", n)"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_query() {
    run_file(
        "t/01-pdk/04-request/12-get_query.t",
        vec![
            g(
                "TEST 1: request.get_query() returns a table",
                "{p}",
                r#"ngx.say("type: ", type(pdk.request.get_query()))"#,
                "type: table\n",
            ),
            g(
                "TEST 2: request.get_query() returns request query arguments",
                "{p}?Foo=Hello&Bar=World&Accept=application%2Fjson&Accept=text%2Fhtml",
                r#"local args = pdk.request.get_query()
ngx.say("Foo: ", args.Foo)
ngx.say("Bar: ", args.Bar)
ngx.say("Accept: ", table.concat(args.Accept, ", "))"#,
                "Foo: Hello\nBar: World\nAccept: application/json, text/html\n",
            ),
            g(
                "TEST 3: request.get_query() returns request query arguments case-sensitive",
                "{p}?Foo=Hello&foo=World&fOO=Too",
                r#"local args = pdk.request.get_query()
ngx.say("Foo: ", args.Foo)
ngx.say("foo: ", args.foo)
ngx.say("fOO: ", args.fOO)"#,
                "Foo: Hello\nfoo: World\nfOO: Too\n",
            ),
            g(
                "TEST 4: request.get_query() fetches 100 query arguments by default",
                "{p}",
                &count_args(200, ""),
                "number of query arguments fetched: 100\n",
            ),
            g(
                "TEST 5: request.get_query() fetches max_args argument",
                "{p}",
                &count_args(100, "60"),
                "number of query arguments fetched: 60\n",
            ),
            g(
                "TEST 6: request.get_query() raises error when trying to fetch with max_args invalid value",
                "{p}",
                r#"local _, err = pcall(pdk.request.get_query, "invalid")
ngx.say("error: ", err)"#,
                "error: max_args must be a number\n",
            ),
            g(
                "TEST 7: request.get_query() raises error when trying to fetch with max_args < 1",
                "{p}",
                r#"local _, err = pcall(pdk.request.get_query, 0)
ngx.say("error: ", err)"#,
                "error: max_args must be >= 1\n",
            ),
            g(
                "TEST 8: request.get_query() raises error when trying to fetch with max_args > 1000",
                "{p}",
                r#"local _, err = pcall(pdk.request.get_query, 1001)
ngx.say("error: ", err)"#,
                "error: max_args must be <= 1000\n",
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_path_with_query() {
    let say = r#"local path_and_querystring = pdk.request.get_path_with_query()
ngx.say("path_and_querystring=", path_and_querystring)"#;
    run_file(
        "t/01-pdk/04-request/17-get_path_with_query.t",
        vec![
            g(
                "TEST 1: request.get_path_with_query() returns the path if no querystring",
                "{p}",
                say,
                "path_and_querystring={p}\n",
            ),
            g(
                "TEST 2: request.get_path_with_query() returns path + ? + querystring",
                "{p}?foo=1&bar=2",
                say,
                "path_and_querystring={p}?foo=1&bar=2\n",
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_raw_path() {
    let say = r#"ngx.say("path: ", pdk.request.get_raw_path())"#;
    run_file(
        "t/01-pdk/04-request/20-get_raw_path.t",
        vec![
            g(
                "TEST 1: request.get_raw_path() returns path component of uri",
                "{p}",
                say,
                "path: {p}\n",
            ),
            G {
                own_host: true,
                ..g(
                    "TEST 2: request.get_raw_path() returns at least slash",
                    "http://{p}",
                    say,
                    "path: /\n",
                )
            },
            g(
                "TEST 3: request.get_raw_path() is not normalized",
                "{p}/Abc%20123%C3%B8/../test/.",
                say,
                "path: {p}/Abc%20123%C3%B8/../test/.\n",
            ),
            g(
                "TEST 4: request.get_raw_path() strips query string",
                "{p}/demo?param=value",
                say,
                "path: {p}/demo\n",
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_uri_captures() {
    run_file(
        "t/01-pdk/04-request/21-get_uri_captures.t",
        vec![G {
            route: Some(r"~{p}((\/\d+)(?P<tag>\/\w+))?"),
            ..g(
                "TEST 1: request.get_uri_captures()",
                "{p}/01/ok",
                r#"local captures = pdk.request.get_uri_captures()
ngx.say("uri_captures: ", "tag: ", captures.named["tag"],
        ", 0: ", captures.unnamed[0], ", 1: ", captures.unnamed[1],
        ", 2: ", captures.unnamed[2], ", 3: ", captures.unnamed[3])
array_mt = assert(require("cjson").array_mt, "expected array_mt to be truthy")
assert(getmetatable(captures.unnamed) == array_mt, "expected the 'unnamed' captures to be an array")"#,
                "uri_captures: tag: /ok, 0: {p}/01/ok, 1: /01/ok, 2: /01, 3: /ok\n",
            )
        }],
    )
    .await;
}
