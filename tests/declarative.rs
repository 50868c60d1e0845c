//! Backup and restore through the Admin API's `/config` (Kong's declarative
//! configuration): export while the gateway runs, lose the data directory,
//! restore into a new one, and traffic behaves as before.

mod common;

use common::*;
use serde_json::{json, Value};

const CUSTOM_AUTH: &str = "local k = kong.request.get_header(\"x-custom-auth\")\n\
    if not k then return kong.response.exit(401, \"Invalid Credentials\") end\n\
    kong.request.clear_header('x-custom-auth')\n";

async fn status_of(gw: &Gateway, path: &str, header: Option<(&str, &str)>) -> (u16, String) {
    let mut req = gw.http.get(gw.proxy_url(path));
    if let Some((k, v)) = header {
        req = req.header(k, v);
    }
    let resp = req.send().await.expect("proxy request");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_wipe_restore_and_traffic_works() {
    let up = echo_upstream("up").await;
    let first = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(first.path());
    gw.service("plugin-testing", &format!("http://{up}/headers"), json!({}))
        .await;
    gw.route(
        "plugin-testing",
        json!({"name": "test", "paths": ["/test"]}),
    )
    .await;
    gw.admin(
        reqwest::Method::POST,
        "/services/plugin-testing/plugins",
        json!({"name": "pre-function", "config": {"access": [CUSTOM_AUTH]}}),
    )
    .await;
    gw.admin(
        reqwest::Method::POST,
        "/consumers",
        json!({"username": "alice", "custom_id": "a-1"}),
    )
    .await;
    gw.service("other", &format!("http://{up}/other"), json!({}))
        .await;
    gw.route("other", json!({"paths": ["/other"]})).await;

    // The backup, taken while the gateway runs (the redb file is locked).
    let (status, backup) = get_json(&gw.admin_url("/config")).await;
    assert_eq!(status, 200, "{backup}");
    assert_eq!(backup["_format_version"], "3.0");
    assert_eq!(backup["services"].as_array().map(Vec::len), Some(2));
    assert_eq!(backup["routes"].as_array().map(Vec::len), Some(2));
    assert_eq!(backup["consumers"][0]["username"], "alice");
    // Foreign keys as `kong config db_export` writes them: the bare id.
    let plugin = &backup["plugins"][0];
    assert_eq!(plugin["name"], "pre-function");
    assert!(plugin["service"].is_string(), "{plugin}");
    let backup_file = first.path().join("backup.json");
    std::fs::write(&backup_file, backup.to_string()).unwrap();
    drop(gw);

    // The data directory is lost; a new gateway starts empty.
    let second = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(second.path());
    assert_eq!(status_of(&gw, "/test", None).await.0, 404);

    // Restore the way the README says: the file as the `config` field.
    let file_arg = format!("config=@{}", backup_file.display());
    let (status, body) = curl(&["-X", "POST", &gw.admin_url("/config"), "-F", &file_arg]);
    assert_eq!(status, 201, "{body}");

    let (status, body) = status_of(&gw, "/test", None).await;
    assert_eq!((status, body.contains("Invalid Credentials")), (401, true));
    let (status, body) = status_of(&gw, "/test", Some(("x-custom-auth", "key"))).await;
    assert_eq!(status, 200, "{body}");
    let echo: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["path"], "/headers");
    assert!(echo["headers"].get("x-custom-auth").is_none(), "{echo}");
    assert_eq!(status_of(&gw, "/other", None).await.0, 200);

    // Same ids, same timestamps: the restored configuration exports the same.
    let (_, again) = get_json(&gw.admin_url("/config")).await;
    assert_eq!(again, backup);

    // And it is in the new data directory, not only in memory.
    drop(gw);
    let gw = Gateway::start_in(second.path());
    assert_eq!(status_of(&gw, "/test", None).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_document_changes_nothing() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start();
    gw.service("kept", &format!("http://{up}"), json!({})).await;
    gw.route("kept", json!({"paths": ["/kept"]})).await;
    let (_, before) = get_json(&gw.admin_url("/config")).await;

    // The second service is invalid, the route points at nothing.
    let doc = json!({
        "_format_version": "3.0",
        "services": [{"name": "a", "url": "http://127.0.0.1:1"}, {"name": "b"}],
        "routes": [{"paths": ["/x"], "service": "nope"}],
    });
    let (status, body) = post_json(&gw.admin_url("/config"), doc).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], 14);
    assert_eq!(body["name"], "invalid declarative configuration");
    assert!(body["fields"]["services"][0].is_null(), "{body}");
    assert_eq!(
        body["fields"]["services"][1]["host"],
        "required field missing"
    );
    assert!(body["fields"]["routes"][0]["service"].is_string(), "{body}");

    // Two services with one name: refused by the store's uniqueness check.
    let doc = json!({
        "_format_version": "3.0",
        "services": [{"name": "a", "host": "h"}, {"name": "a", "host": "i"}],
    });
    let (status, body) = post_json(&gw.admin_url("/config"), doc).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["fields"]["services"][1]["name"].is_string(), "{body}");

    // Lua that does not compile is refused like on /plugins.
    let doc = json!({
        "_format_version": "3.0",
        "plugins": [{"name": "pre-function", "config": {"access": ["print("]}}],
    });
    let (status, body) = post_json(&gw.admin_url("/config"), doc).await;
    assert_eq!(status, 400, "{body}");

    // Entities lunagate does not have are refused, not dropped.
    let doc = json!({"_format_version": "3.0", "upstreams": [{"name": "u"}]});
    let (status, body) = post_json(&gw.admin_url("/config"), doc).await;
    assert_eq!(status, 400, "{body}");

    let (status, body) = post_json(&gw.admin_url("/config"), json!({"services": []})).await;
    assert_eq!(status, 400, "{body}");

    let (_, after) = get_json(&gw.admin_url("/config")).await;
    assert_eq!(after, before);
    assert_eq!(gw.get("/kept").await.status(), 200);
}

/// A hand-written `kong.yml` (as JSON): routes and plugins nested under
/// their service, references by name, no ids. It replaces everything that
/// was there (Kong's DB-less semantics).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_document_replaces_the_configuration() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start();
    gw.service("old", &format!("http://{up}"), json!({})).await;
    gw.route("old", json!({"paths": ["/old"]})).await;
    assert_eq!(gw.get("/old").await.status(), 200);

    let doc = json!({
        "_format_version": "3.0",
        "services": [{
            "name": "echo",
            "url": format!("http://{up}/svc"),
            "routes": [{
                "name": "teapot",
                "paths": ["/teapot"],
                "plugins": [{"name": "pre-function",
                             "config": {"access": ["return kong.response.exit(418)"]}}],
            }],
        }],
        "routes": [{"name": "plain", "paths": ["/plain"], "service": "echo"}],
    });
    let (status, body) = post_json(&gw.admin_url("/config"), doc).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["services"].as_object().map(|m| m.len()), Some(1));
    assert_eq!(body["plugins"].as_object().map(|m| m.len()), Some(1));

    assert_eq!(gw.get("/old").await.status(), 404);
    assert_eq!(gw.get("/teapot").await.status(), 418);
    let plain = gw.get("/plain").await;
    assert_eq!(plain.status(), 200);
    let echo: Value = plain.json().await.unwrap();
    assert_eq!(echo["path"], "/svc");

    // The plugin belongs to the nested route, the route to the service.
    let (_, plugins) = get_json(&gw.admin_url("/routes/teapot/plugins")).await;
    assert_eq!(plugins["data"].as_array().map(Vec::len), Some(1));
    let (_, routes) = get_json(&gw.admin_url("/services/echo/routes")).await;
    assert_eq!(routes["data"].as_array().map(Vec::len), Some(2));

    // An empty document empties the configuration.
    let (status, _) = post_json(&gw.admin_url("/config"), json!({"_format_version": "3.0"})).await;
    assert_eq!(status, 201);
    assert_eq!(gw.get("/plain").await.status(), 404);
}
