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
    let doc = json!({"_format_version": "3.0", "vaults": [{"name": "env", "prefix": "e"}]});
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

/// What the gateway at `addr` serves for SNI `name`: the certificate, and
/// the answer to a GET.
async fn served(addr: std::net::SocketAddr, name: &str) -> (Vec<u8>, u16) {
    use common::tls::{any_cert_client, get, https_request};
    let r = https_request(addr, name, any_cert_client(&[b"http/1.1"]), get(name, "/"))
        .await
        .expect("https");
    (r.peer_cert.expect("a certificate").to_vec(), r.status)
}

/// The TLS entities travel in the document as `kong config db_export`
/// writes them (issue 9): `ca_certificates`, `certificates` with their
/// private keys, `snis` as a top-level section with the certificate's id,
/// a service's `client_certificate` as an id. Loaded into a fresh gateway,
/// the same certificate is served for the same SNI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_entities_round_trip_and_serve_the_same_certificate() {
    let up = echo_upstream("up").await;
    let authority = common::tls::ca("Round Trip CA", false);
    let leaf = authority.leaf(&["shop.test"]);
    let gw = Gateway::start();
    let (status, cert) = post_json(
        &gw.admin_url("/certificates"),
        json!({"cert": leaf.cert_pem, "key": leaf.key_pem, "snis": ["shop.test"], "tags": ["t"]}),
    )
    .await;
    assert_eq!(status, 201, "{cert}");
    let (status, ca) = post_json(
        &gw.admin_url("/ca_certificates"),
        json!({"cert": authority.issued.cert_pem}),
    )
    .await;
    assert_eq!(status, 201, "{ca}");
    gw.service("shop", &format!("http://{up}"), json!({})).await;
    gw.route("shop", json!({"paths": ["/"]})).await;
    gw.service(
        "secure",
        "https://secure.test",
        json!({"client_certificate": {"id": cert["id"]}, "ca_certificates": [ca["id"]],
               "tls_verify": true}),
    )
    .await;
    assert_eq!(
        served(gw.proxy_tls.unwrap(), "shop.test").await,
        (leaf.cert.to_vec(), 200)
    );

    let (status, backup) = get_json(&gw.admin_url("/config")).await;
    assert_eq!(status, 200, "{backup}");
    // Kong's export order: its schemas sorted topologically, else by name.
    let sections: Vec<&str> = backup
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        sections,
        [
            "_format_version",
            "_transform",
            "ca_certificates",
            "certificates",
            "services",
            "routes",
            "snis"
        ]
    );
    let exported = &backup["certificates"][0];
    assert_eq!(exported["id"], cert["id"]);
    assert_eq!(exported["cert"], leaf.cert_pem.as_str());
    // Kong exports private keys (as stored): a backup holds secrets.
    assert_eq!(exported["key"], leaf.key_pem.as_str());
    assert!(exported.get("snis").is_none(), "{exported}");
    let snis = backup["snis"].as_array().unwrap();
    assert_eq!(snis.len(), 1);
    assert_eq!(snis[0]["name"], "shop.test");
    // A foreign key as the bare id, as everywhere in the export.
    assert_eq!(snis[0]["certificate"], cert["id"]);
    assert_eq!(backup["ca_certificates"][0]["id"], ca["id"]);
    assert_eq!(
        backup["ca_certificates"][0]["cert_digest"],
        ca["cert_digest"]
    );
    let secure = backup["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "secure")
        .unwrap();
    assert_eq!(secure["client_certificate"], cert["id"]);
    assert_eq!(secure["ca_certificates"], json!([ca["id"]]));
    drop(gw);

    // A fresh gateway: the default certificate until the import.
    let gw = Gateway::start();
    let tls = gw.proxy_tls.unwrap();
    assert_ne!(served(tls, "shop.test").await.0, leaf.cert.to_vec());
    let (status, body) = post_json(&gw.admin_url("/config"), backup.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["certificates"].as_object().map(|m| m.len()), Some(1));
    assert_eq!(body["snis"].as_object().map(|m| m.len()), Some(1));
    assert_eq!(served(tls, "shop.test").await, (leaf.cert.to_vec(), 200));
    let (_, again) = get_json(&gw.admin_url("/config")).await;
    assert_eq!(again, backup);
    // The Admin API shows the certificate with its SNI again.
    let (_, by_sni) = get_json(&gw.admin_url("/certificates/shop.test")).await;
    assert_eq!(by_sni["id"], cert["id"]);
    assert_eq!(by_sni["snis"], json!(["shop.test"]));

    // Kong's DB-less semantics: a document without them removes them.
    let (status, _) = post_json(&gw.admin_url("/config"), json!({"_format_version": "3.0"})).await;
    assert_eq!(status, 201);
    let (_, certs) = get_json(&gw.admin_url("/certificates")).await;
    assert_eq!(certs["data"], json!([]));
    let (_, snis) = get_json(&gw.admin_url("/snis")).await;
    assert_eq!(snis["data"], json!([]));
    assert_ne!(served(tls, "shop.test").await.0, leaf.cert.to_vec());
}

/// A hand-written `kong.yml` nests SNIs under their certificate (Kong's
/// declarative schema nests every entity under the one its foreign key
/// points at); a certificate that does not match its key is refused with
/// the document's path, and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snis_nested_under_their_certificate() {
    let up = echo_upstream("up").await;
    let one = common::tls::self_signed(&["nested.test"], false);
    let other = common::tls::self_signed(&["other.test"], false);
    let gw = Gateway::start();
    let doc = json!({
        "_format_version": "3.0",
        "certificates": [{"cert": one.cert_pem, "key": one.key_pem,
                          "snis": [{"name": "nested.test"}, {"name": "*.wild.test"}]}],
        "services": [{"name": "s", "url": format!("http://{up}"),
                      "routes": [{"paths": ["/"]}]}],
    });
    let (status, body) = post_json(&gw.admin_url("/config"), doc).await;
    assert_eq!(status, 201, "{body}");
    let tls = gw.proxy_tls.unwrap();
    assert_eq!(served(tls, "nested.test").await, (one.cert.to_vec(), 200));
    assert_eq!(served(tls, "a.wild.test").await, (one.cert.to_vec(), 200));
    let (_, snis) = get_json(&gw.admin_url("/snis")).await;
    assert_eq!(snis["data"].as_array().map(Vec::len), Some(2));

    let (_, before) = get_json(&gw.admin_url("/config")).await;
    let doc = json!({
        "_format_version": "3.0",
        "certificates": [{"cert": one.cert_pem, "key": other.key_pem,
                          "snis": [{"name": "x.test"}, "not-a-record"]}],
    });
    let (status, body) = post_json(&gw.admin_url("/config"), doc).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["fields"]["certificates"][0]["snis"][1]["@entity"],
        json!(["expected a record"]),
        "{body}"
    );
    let doc = json!({
        "_format_version": "3.0",
        "certificates": [{"cert": one.cert_pem, "key": other.key_pem,
                          "snis": [{"name": "x.test"}]}],
    });
    let (status, body) = post_json(&gw.admin_url("/config"), doc).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["fields"]["certificates"][0]["@entity"],
        json!(["certificate does not match key"]),
        "{body}"
    );
    let (_, after) = get_json(&gw.admin_url("/config")).await;
    assert_eq!(after, before);
    assert_eq!(served(tls, "nested.test").await, (one.cert.to_vec(), 200));
}
