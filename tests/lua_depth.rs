//! Deep Lua source through the Admin API and `lunagate lua` (issue 6,
//! item 1): a `pre-function` whose source is a very long chain is stored
//! and runs; one nested deeper than lua5.4 allows gets lua5.4's error in a
//! Kong-shaped 400; the gateway stays up and serving throughout.
//!
//! Depths are ten times what lua5.4 accepts for nesting (it stops near 200
//! C levels), and 50,000 steps for the chains lua5.4 reads with a loop
//! (the issue's `f()()` x 5,000, `t.a.a` and `1+1` x 50,000 killed the
//! process).

mod common;

use std::process::Command;

use common::*;
use serde_json::{json, Value};

/// (name, access code that answers with a value, the value), `n` steps.
fn loop_shapes(n: usize) -> Vec<(&'static str, String, String)> {
    let exit = |expr: String| format!("return kong.response.exit(200, tostring({expr}))");
    vec![
        (
            "calls",
            format!(
                "local function f() return f end {}",
                exit(format!("f{} == f", "()".repeat(n)))
            ),
            "true".into(),
        ),
        (
            "fields",
            format!(
                "local t = {{}} t.a = t {}",
                exit(format!("t{} == t", ".a".repeat(n)))
            ),
            "true".into(),
        ),
        (
            "sum",
            exit(format!("1{}", "+1".repeat(n))),
            (n + 1).to_string(),
        ),
        (
            "methods",
            format!(
                "local a = {{b = {{}}}} function a.b:c() return self end a.b.d = a.b.c {}",
                exit(format!("a.b{} == a.b", ":c():d()".repeat(n / 2)))
            ),
            "true".into(),
        ),
        (
            "or",
            format!(
                "local b = 2 local x = nil{} {}",
                " or b".repeat(n),
                exit("x".into())
            ),
            "2".into(),
        ),
        (
            "and-condition",
            format!(
                "local a = 1 if a{} then {} end",
                " and a".repeat(n),
                exit("'yes'".into())
            ),
            "yes".into(),
        ),
        (
            "comparisons",
            exit(format!("1{}", " == 1".repeat(n))),
            "false".into(),
        ),
    ]
}

/// (name, source nested `n` deep), sent 2,000 deep (lua5.4 stops at
/// 98 to 198 depending on the shape).
fn nested_shapes(n: usize) -> Vec<(&'static str, String)> {
    vec![
        (
            "parentheses",
            format!("x = {}1{}", "(".repeat(n), ")".repeat(n)),
        ),
        ("tables", format!("x = {}{}", "{".repeat(n), "}".repeat(n))),
        (
            "functions",
            format!(
                "x = {}1{}",
                "function() return ".repeat(n),
                " end".repeat(n)
            ),
        ),
        ("blocks", format!("{}{}", "do ".repeat(n), "end ".repeat(n))),
        ("concatenation", format!("return {}'a'", "'a'..".repeat(n))),
        ("power", format!("return {}2", "2^".repeat(n))),
        ("unary", format!("return {}1", "- ".repeat(n))),
        ("not", format!("return {}nil", "not ".repeat(n))),
        (
            "call-arguments",
            format!("return {}1{}", "f(".repeat(n), ")".repeat(n)),
        ),
    ]
}

async fn still_serving(gw: &Gateway, up: &std::net::SocketAddr) {
    let (s, info) = get_json(&gw.admin_url("/")).await;
    assert_eq!(s, 200, "the Admin API answers: {info}");
    let r = client()
        .get(gw.proxy_url("/alive"))
        .send()
        .await
        .expect("the proxy answers");
    assert_eq!(r.status().as_u16(), 200, "proxied to {up}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_functions_are_stored_or_refused_and_the_gateway_lives() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start_with_workers(1);
    let (s, b) = post_json(
        &gw.admin_url("/services"),
        json!({"name": "alive", "url": format!("http://{up}/status/200")}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = post_json(
        &gw.admin_url("/services/alive/routes"),
        json!({"paths": ["/alive"]}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    still_serving(&gw, &up).await;

    for (name, code, want) in loop_shapes(50_000) {
        let (s, b) = post_json(
            &gw.admin_url("/services"),
            json!({"name": name, "url": format!("http://{up}/status/200")}),
        )
        .await;
        assert_eq!(s, 201, "{b}");
        let (s, b) = post_json(
            &gw.admin_url(&format!("/services/{name}/routes")),
            json!({"paths": [format!("/{name}")]}),
        )
        .await;
        assert_eq!(s, 201, "{b}");
        let (s, b) = post_json(
            &gw.admin_url(&format!("/services/{name}/plugins")),
            json!({"name": "pre-function", "config": {"access": [code]}}),
        )
        .await;
        assert_eq!(s, 201, "{name}: stored: {b}");
        let r = client()
            .get(gw.proxy_url(&format!("/{name}")))
            .send()
            .await
            .expect("proxy request");
        assert_eq!(r.status().as_u16(), 200, "{name}");
        assert_eq!(r.text().await.expect("body"), want, "{name}");
    }

    for (name, code) in nested_shapes(2_000) {
        let (s, e) = post_json(
            &gw.admin_url("/plugins"),
            json!({"name": "pre-function", "config": {"access": [code]}}),
        )
        .await;
        assert_eq!(s, 400, "{name}: {e}");
        assert_eq!(e["name"], "schema violation", "{name}: {e}");
        assert_eq!(
            e["fields"]["config"]["access"][0],
            Value::String("error parsing pre-function: C stack overflow".into()),
            "{name}: lua5.4's words (`lua5.4 -e` prints `C stack overflow`)"
        );
        still_serving(&gw, &up).await;
    }
}

fn lunagate_lua(code: &str) -> (String, String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_lunagate"))
        .args(["lua", "-e", code])
        .output()
        .expect("run lunagate lua");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// `lunagate lua -e` as `lua5.4 -e`: the chains run, the nesting stops
/// with `lua: C stack overflow` and status 1.
#[test]
fn lunagate_lua_runs_chains_and_refuses_nesting() {
    // 10,000 steps: one command-line argument holds at most 128 KiB
    for (name, code, want) in loop_shapes(10_000) {
        // the same chains, printed instead of answered
        let code = code.replace("return kong.response.exit(200, tostring(", "print((");
        let (out, err, status) = lunagate_lua(&code);
        assert_eq!((out.trim(), status), (want.as_str(), 0), "{name}: {err}");
    }
    for (name, code) in nested_shapes(2_000) {
        let (out, err, status) = lunagate_lua(&code);
        assert_eq!(
            (out.as_str(), err.trim(), status),
            ("", "lua: C stack overflow", 1),
            "{name}"
        );
    }
}
