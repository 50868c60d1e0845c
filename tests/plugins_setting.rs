//! Kong's `plugins` node setting (`--plugins`, `LUNAGATE_PLUGINS`) and
//! `rewriter`, Kong's test fixture plugin: a plugin the node does not load
//! gets Kong's 400 at the Admin API, a stored one stops the start, and a
//! global rewriter sets the request header `rewriter` to its
//! `config.value` in the rewrite phase, as Kong's fixture handler does.
//! `api-override`, the other fixture, has its schema's own `protocols`
//! default.

mod common;

use std::process::{Command, Stdio};

use common::*;
use serde_json::{json, Value};

const NOT_ENABLED: &str =
    "plugin 'rewriter' not enabled; add it to the 'plugins' configuration property";

async fn post(gw: &Gateway, path: &str, body: Value) -> (u16, Value) {
    post_json(&gw.admin_url(path), body).await
}

/// What the echo upstream received as the `rewriter` header.
async fn upstream_rewriter(gw: &Gateway, path: &str, sent: Option<&str>) -> Value {
    let mut req = gw.http.get(gw.proxy_url(path));
    if let Some(v) = sent {
        req = req.header("rewriter", v);
    }
    let resp = req.send().await.expect("proxy");
    assert_eq!(resp.status(), 200);
    let echo: Value = resp.json().await.expect("echo");
    echo["headers"]["rewriter"].clone()
}

/// `lunagate serve` that is expected to stop at start: its exit status and
/// standard error.
fn start_fails(data_dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lunagate"))
        .args(["serve", "--admin-listen", "127.0.0.1:0"])
        .args(["--proxy-listen", "127.0.0.1:0", "--proxy-listen-tls", "off"])
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run lunagate");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundled_is_the_default_and_the_fixture_is_refused() {
    let gw = Gateway::start();
    let (status, body) = post(&gw, "/plugins", json!({"name": "rewriter"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body,
        json!({"code": 2, "name": "schema violation",
               "message": format!("schema violation (name: {NOT_ENABLED})"),
               "fields": {"name": NOT_ENABLED}})
    );
    let (_, enabled) = get_json(&gw.admin_url("/plugins/enabled")).await;
    assert_eq!(
        enabled,
        json!({"enabled_plugins": ["pre-function", "post-function"]})
    );
    let (status, _) = get_json(&gw.admin_url("/schemas/plugins/rewriter")).await;
    assert_eq!(status, 404);
    // Kong's api-override fixture is not loaded: no Admin API extension.
    let r = gw.http.get(gw.admin_url("/routes")).send().await.unwrap();
    assert!(r.headers().get("kong-api-override").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_loads_no_plugin() {
    let gw = Gateway::start_with(&["--plugins", "off"], &[]);
    let (status, body) = post(
        &gw,
        "/plugins",
        json!({"name": "pre-function", "config": {"access": ["return"]}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["fields"]["name"],
        "plugin 'pre-function' not enabled; add it to the 'plugins' configuration property"
    );
    let (_, enabled) = get_json(&gw.admin_url("/plugins/enabled")).await;
    assert_eq!(enabled, json!({"enabled_plugins": []}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_rewriter_sets_the_request_header_in_rewrite() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start_with(&[], &[("LUNAGATE_PLUGINS", "bundled,rewriter")]);
    gw.service("s", &format!("http://{up}"), json!({})).await;
    gw.route("s", json!({"name": "r", "paths": ["/r"]})).await;
    gw.route("s", json!({"name": "other", "paths": ["/other"]}))
        .await;

    let (_, root) = get_json(&gw.admin_url("/")).await;
    assert_eq!(
        root["plugins"]["available_on_server"]["rewriter"]["priority"],
        1000
    );
    let (status, schema) = get_json(&gw.admin_url("/schemas/plugins/rewriter")).await;
    assert_eq!(status, 200, "{schema}");

    // Kong's fixture schema: `value`, and `extra` defaulting to "extra".
    let (status, body) = post(&gw, "/plugins", json!({"name": "rewriter"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["config"], json!({"value": null, "extra": "extra"}));
    assert_eq!(body["protocols"], json!(["grpc", "grpcs", "http", "https"]));
    // No value: Kong's `ngx.req.set_header("rewriter", nil)` clears it.
    assert_eq!(
        upstream_rewriter(&gw, "/r", Some("client")).await,
        Value::Null
    );

    let r = common::kong::json(
        &gw,
        "PATCH",
        &format!("/plugins/{}", body["id"].as_str().unwrap()),
        json!({"config": {"value": "potato"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(upstream_rewriter(&gw, "/r", None).await, "potato");
    // The client's own header is replaced, not joined.
    assert_eq!(upstream_rewriter(&gw, "/r", Some("client")).await, "potato");

    // Rewrite runs global plugins only: one scoped to a route does nothing
    // there (Kong's rewrite phase runs before the router).
    let (status, body) = post(
        &gw,
        "/routes/other/plugins",
        json!({"name": "rewriter", "config": {"value": "route"}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(upstream_rewriter(&gw, "/other", None).await, "potato");

    // The value is a string, never code.
    let (status, body) = post(
        &gw,
        "/plugins",
        json!({"name": "rewriter", "config": {"value": 1}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["fields"]["config"]["value"], "expected a string");
}

/// A value that would break out of a Lua string literal is sent as it is.
/// The fixture's handler is the gateway's, not a user's Lua: it runs with
/// `--untrusted-lua off` too.
/// Kong's `api-override` fixture schema declares `protocols` with its own
/// default (`http https tcp tls grpc grpcs`, in that order), which its
/// plugin entities take when they give none, and its schema shows; one
/// that gives protocols keeps them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_override_has_its_fixture_protocols_default() {
    let gw = Gateway::start_with(&["--plugins", "bundled,api-override"], &[]);
    let fixture = json!(["http", "https", "tcp", "tls", "grpc", "grpcs"]);
    let (status, body) = post(&gw, "/plugins", json!({"name": "api-override"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["protocols"], fixture);
    assert_eq!(body["config"], json!({}));
    let (_, stored) =
        get_json(&gw.admin_url(&format!("/plugins/{}", body["id"].as_str().unwrap()))).await;
    assert_eq!(stored["protocols"], fixture);
    let (status, schema) = get_json(&gw.admin_url("/schemas/plugins/api-override")).await;
    assert_eq!(status, 200, "{schema}");
    assert_eq!(schema["fields"][0]["protocols"]["default"], fixture);

    gw.service("s", "http://127.0.0.1:9", json!({})).await;
    let (status, body) = post(
        &gw,
        "/services/s/plugins",
        json!({"name": "api-override", "protocols": ["http"]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["protocols"], json!(["http"]));
    // A serverless function keeps Kong's `typedefs.protocols` default.
    let (status, body) = post(
        &gw,
        "/plugins",
        json!({"name": "post-function", "config": {"access": ["return"]}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["protocols"], json!(["grpc", "grpcs", "http", "https"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewriter_value_is_a_literal_not_code() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start_with(
        &["--plugins", "rewriter,bundled", "--untrusted-lua", "off"],
        &[],
    );
    gw.service("s", &format!("http://{up}"), json!({})).await;
    gw.route("s", json!({"paths": ["/"]})).await;
    let hostile = r#"a") ngx.req.set_header("x-injected", "1") --]] \" \\ \0"#;
    let (status, body) = post(
        &gw,
        "/plugins",
        json!({"name": "rewriter", "config": {"value": hostile}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let resp = gw.http.get(gw.proxy_url("/")).send().await.unwrap();
    let echo: Value = resp.json().await.unwrap();
    assert_eq!(echo["headers"]["rewriter"], hostile);
    assert_eq!(echo["headers"]["x-injected"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_plugin_the_node_does_not_load_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::spawn_with(dir.path(), 2, &["--plugins", "bundled,rewriter"], &[]);
    let (status, body) = post(&gw, "/plugins", json!({"name": "rewriter"})).await;
    assert_eq!(status, 201, "{body}");
    drop(gw);

    let (ok, stderr) = start_fails(dir.path(), &[]);
    assert!(!ok);
    assert!(
        stderr.contains(
            "error building initial plugins iterator: rewriter plugin is in use but not enabled"
        ),
        "{stderr}"
    );
    // Loaded again, it starts.
    let gw = Gateway::spawn_with(dir.path(), 2, &["--plugins", "bundled,rewriter"], &[]);
    let (_, list) = get_json(&gw.admin_url("/plugins")).await;
    assert_eq!(list["data"][0]["name"], "rewriter");
}

#[test]
fn a_plugin_this_build_does_not_have_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stderr) = start_fails(dir.path(), &["--plugins", "bundled,foo"]);
    assert!(!ok);
    assert!(
        stderr.contains("foo plugin is enabled but not installed"),
        "{stderr}"
    );
}
