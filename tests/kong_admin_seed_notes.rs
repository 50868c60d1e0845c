//! The serverless README's notes (`/work/shared/seed/serverless-functions.md`,
//! issue 8), on one gateway:
//!
//! - "Escaping Commas": users following it send `\,` in form values. Kong
//!   no longer splits on commas, so the backslashes reach the compiler; a
//!   function that compiles only without them is stored without them.
//! - "Fake Upstreams": a service whose upstream does not exist, with a
//!   function that always terminates, answers.

mod common;

use std::sync::Arc;

use common::kong::{get, json, send_raw, status, Case};
use common::Gateway;
use serde_json::{json, Value};

const F: &str = "serverless-functions.md";

async fn form_plugin(gw: &Gateway, route: &str, code: &str) -> common::kong::Res {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("name", "pre-function")
        .append_pair("config.access[1]", code)
        .finish();
    send_raw(
        gw,
        "POST",
        &format!("/routes/{route}/plugins"),
        "application/x-www-form-urlencoded",
        &body,
    )
    .await
}

async fn route(gw: &Gateway, name: &str, url: &str) {
    status(
        &json(gw, "POST", "/services", json!({"name": name, "url": url})).await,
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
}

async fn escaped_commas_are_unescaped(gw: Arc<Gateway>) {
    route(&gw, "commas", "http://127.0.0.1:9").await;
    let r = form_plugin(
        &gw,
        "commas",
        r#"return kong.response.exit(200\, "escaped")"#,
    )
    .await;
    let j = status(&r, 201, "escaped commas");
    assert_eq!(
        j["config"]["access"],
        json!([r#"return kong.response.exit(200, "escaped")"#])
    );
    let resp = gw.get("/commas").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "escaped");
}

async fn code_that_compiles_is_kept(gw: Arc<Gateway>) {
    route(&gw, "kept", "http://127.0.0.1:9").await;
    let code = r#"local s = [[a\,b]] return kong.response.exit(200, s)"#;
    let j = status(&form_plugin(&gw, "kept", code).await, 201, "kept");
    assert_eq!(j["config"]["access"], json!([code]));
    assert_eq!(gw.get("/kept").await.text().await.unwrap(), r"a\,b");
}

async fn json_and_broken_code_are_refused(gw: Arc<Gateway>) {
    route(&gw, "refused", "http://127.0.0.1:9").await;
    // JSON is not form-encoded: nobody escaped anything there.
    let r = json(
        &gw,
        "POST",
        "/routes/refused/plugins",
        json!({"name": "pre-function", "config": {"access": [r#"return kong.response.exit(200\, "x")"#]}}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    // Broken with or without the backslashes.
    let r = form_plugin(&gw, "refused", r"return 1 +\, ").await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.json["fields"]["config"]["access"][0].is_string(),
        "{}",
        r.text
    );
    let list = get(&gw, "/routes/refused/plugins").await.json;
    assert_eq!(list["data"], json!([]));
}

async fn fake_upstream(gw: Arc<Gateway>) {
    // `.invalid` never resolves (RFC 2606).
    route(&gw, "fake", "http://fake-upstream.invalid:8080/nothing").await;
    let code = r#"return kong.response.exit(200, "terminated", {["x-fake"] = "yes"})"#;
    let r = json(
        &gw,
        "POST",
        "/routes/fake/plugins",
        json!({"name": "pre-function", "config": {"access": [code]}}),
    )
    .await;
    status(&r, 201, "plugin");
    for _ in 0..3 {
        let resp = gw.get("/fake/anything").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-fake"], "yes");
        assert_eq!(resp.text().await.unwrap(), "terminated");
    }
    let r = get(&gw, "/services/fake").await;
    assert_eq!(r.json["host"], Value::from("fake-upstream.invalid"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serverless_readme_notes() {
    let gw = Gateway::start();
    let mut c: Vec<Case> = Vec::new();
    case!(
        c,
        "Escaping Commas: a form value with \\, compiles without the backslashes",
        escaped_commas_are_unescaped
    );
    case!(
        c,
        "Escaping Commas: code that compiles as sent is kept",
        code_that_compiles_is_kept
    );
    case!(
        c,
        "Escaping Commas: JSON bodies and broken code are refused",
        json_and_broken_code_are_refused
    );
    case!(
        c,
        "Fake Upstreams: a function that always terminates answers",
        fake_upstream
    );
    common::kong::run(F, gw, c).await;
}
