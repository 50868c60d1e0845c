//! Kong's `spec/02-integration/04-admin_api/07-upstreams_routes_spec.lua`
//! and `08-targets_routes_spec.lua`, ported case by case on one gateway
//! per file: every `it` and every content type of an `it_content_types`
//! is one case. Kong truncates tables between blocks; here every case
//! makes its own upstream (a unique name where Kong's is fixed, as
//! `my.upstream`), and listings are narrowed by tag.
//!
//! 07: Kong's file has 13 `it` and 11 `it_content_types` (33 cases): 46
//! cases. Ported: 46.
//!
//! 08: Kong's file has 29 `it` (one run for two endings, three for three
//! addresses each) and 6 `it_content_types` (one of them for PUT, PATCH
//! and DELETE: 8, 24 cases): 60 cases. Ported: 42. Not applicable: 18,
//! the health endpoints (`/upstreams/{u}/health`, `/targets/{t}/healthy`
//! and `/unhealthy`: lunagate runs no health checks, README), 17, and
//! their absence from a hybrid-mode control plane's `/endpoints` (no
//! hybrid mode), 1.
//!
//! Adapted: Kong's PATCH case asserts `updated_at` grows; targets are
//! timed in milliseconds here too, and the case waits 2 ms before the
//! PATCH.

mod common;

use std::sync::Arc;

use common::kong::{get, json, send, send_raw, status, unique, Case, Ct};
use common::Gateway;
use serde_json::{json, Value};

const F07: &str = "07-upstreams_routes_spec.lua";
const F08: &str = "08-targets_routes_spec.lua";

async fn post(gw: &Gateway, ct: Ct, body: Value) -> common::kong::Res {
    send(gw, "POST", "/upstreams", Some(ct), body).await
}

fn fields(r: &common::kong::Res, what: &str) -> Value {
    let j = status(r, 400, what);
    assert_eq!(j["name"], "schema violation", "{what}: {}", r.text);
    j["fields"].clone()
}

/// `bp.upstreams:insert(overrides)`: a uniquely named upstream.
async fn upstream(gw: &Gateway, overrides: Value) -> Value {
    let mut body = json!({"name": unique("upstream")});
    common::kong::merge(&mut body, overrides);
    let r = json(gw, "POST", "/upstreams", body).await;
    status(&r, 201, "blueprint upstream")
}

/// `bp.targets:insert{…, upstream = {id = upstream.id}}`.
async fn target(gw: &Gateway, upstream: &Value, target: &str, weight: u32) -> Value {
    let r = json(
        gw,
        "POST",
        &format!("/upstreams/{}/targets", upstream["id"].as_str().unwrap()),
        json!({"target": target, "weight": weight}),
    )
    .await;
    status(&r, 201, "blueprint target")
}

fn name(u: &Value) -> &str {
    u["name"].as_str().expect("name")
}

// ---- 07: /upstreams POST ----

async fn creates_with_defaults(gw: Arc<Gateway>, ct: Ct) {
    let n = unique("my.upstream");
    let j = status(&post(&gw, ct, json!({"name": n})).await, 201, "create");
    assert_eq!(j["name"], n.as_str());
    assert!(j["created_at"].is_number() && j["id"].is_string());
    assert_eq!(j["slots"], 10000);
    assert_eq!(j["hash_on"], "none");
    assert_eq!(j["hash_fallback"], "none");
    assert_eq!(j["hash_on_header"], Value::Null);
    assert_eq!(j["hash_fallback_header"], Value::Null);
    // What Kong returns besides, with its defaults.
    assert_eq!(j["algorithm"], "round-robin");
    assert_eq!(j["hash_on_cookie_path"], "/");
    assert_eq!(j["use_srv_name"], false);
    assert_eq!(j["healthchecks"]["threshold"], 0);
    assert_eq!(
        j["healthchecks"]["active"]["unhealthy"]["http_statuses"],
        json!([429, 404, 500, 501, 502, 503, 504, 505])
    );
    assert_eq!(j["healthchecks"]["passive"]["type"], "http");
}

async fn creates_without_defaults(gw: Arc<Gateway>, ct: Ct) {
    let n = unique("my.upstream");
    let body = json!({"name": n, "slots": 10, "hash_on": "consumer", "hash_fallback": "ip",
                      "hash_on_header": "HeaderName", "hash_fallback_header": "HeaderFallback"});
    let j = status(&post(&gw, ct, body).await, 201, "create");
    assert_eq!(j["name"], n.as_str());
    assert_eq!(j["slots"], 10);
    assert_eq!(j["hash_on"], "consumer");
    assert_eq!(j["hash_fallback"], "ip");
    assert_eq!(j["hash_on_header"], "HeaderName");
    assert_eq!(j["hash_fallback_header"], "HeaderFallback");
    // Kong's shorthand: hashing on something is consistent hashing.
    assert_eq!(j["algorithm"], "consistent-hashing");
}

async fn creates_with_cookie(gw: Arc<Gateway>, ct: Ct) {
    let body = json!({"name": unique("my.upstream"), "hash_on": "cookie",
                      "hash_on_cookie": "CookieName1", "hash_on_cookie_path": "/foo"});
    let j = status(&post(&gw, ct, body).await, 201, "create");
    assert_eq!(j["hash_on"], "cookie");
    assert_eq!(j["hash_on_cookie"], "CookieName1");
    assert_eq!(j["hash_on_cookie_path"], "/foo");
}

async fn creates_with_two_header_hashes(gw: Arc<Gateway>, ct: Ct) {
    let body = json!({"name": unique("my.upstream"), "slots": 10, "hash_on": "header",
                      "hash_fallback": "header", "hash_on_header": "HeaderName1",
                      "hash_fallback_header": "HeaderName2"});
    let j = status(&post(&gw, ct, body).await, 201, "create");
    assert_eq!(j["slots"], 10);
    assert_eq!(j["hash_on"], "header");
    assert_eq!(j["hash_fallback"], "header");
    assert_eq!(j["hash_on_header"], "HeaderName1");
    assert_eq!(j["hash_fallback_header"], "HeaderName2");
}

async fn creates_with_max_slots(gw: Arc<Gateway>, ct: Ct) {
    let body = json!({"name": unique("my.upstream"), "slots": 65536});
    let j = status(&post(&gw, ct, body).await, 201, "create");
    assert_eq!(j["slots"], 65536);
}

async fn creates_with_host_header(gw: Arc<Gateway>, ct: Ct) {
    let body = json!({"name": unique("my.upstream"), "host_header": "localhost"});
    let j = status(&post(&gw, ct, body).await, 201, "create");
    assert_eq!(j["slots"], 10000);
    assert_eq!(j["hash_on"], "none");
    assert_eq!(j["hash_fallback"], "none");
    assert_eq!(j["hash_on_header"], Value::Null);
    assert_eq!(j["host_header"], "localhost");
}

async fn malformed_json(gw: Arc<Gateway>) {
    let r = send_raw(
        &gw,
        "POST",
        "/upstreams",
        "application/json",
        r#"{"hello": "world""#,
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.text, r#"{"message":"Cannot parse JSON body"}"#);
}

const COOKIE_CHARS: &str = "contains one or more invalid characters. ASCII control characters \
     (0-31;127), space, tab and the characters ()<>@,;:\\\"/?={}[] are not allowed.";
const BAD_HEADER: &str = "bad header name 'not a <> valid <> header name', allowed characters \
     are A-Z, a-z, 0-9, '_', and '-'";

async fn invalid_input(gw: Arc<Gateway>, ct: Ct) {
    let cond = |f: &str| {
        json!([format!(
            "failed conditional validation given value of field '{f}'"
        )])
    };
    let fallbacks = "expected one of: none, ip, header, cookie, path, query_arg, uri_capture";
    let n = || unique("my.upstream");
    let f = fields(&post(&gw, ct, json!({"slots": 50})).await, "missing name");
    assert_eq!(f, json!({"name": "required field missing"}));
    let f = fields(
        &post(&gw, ct, json!({"name": "some invalid host name"})).await,
        "invalid name",
    );
    assert_eq!(
        f,
        json!({"name": "Invalid name ('some invalid host name'); must be a valid hostname"})
    );
    let f = fields(
        &post(&gw, ct, json!({"name": n(), "slots": 65537})).await,
        "slots",
    );
    assert_eq!(f, json!({"slots": "value should be between 10 and 65536"}));
    let f = fields(
        &post(
            &gw,
            ct,
            json!({"name": n(), "hash_on": "something that is invalid"}),
        )
        .await,
        "hash_on",
    );
    assert_eq!(
        f,
        json!({"hash_on": "expected one of: none, consumer, ip, header, cookie, path, query_arg, uri_capture"})
    );
    let body =
        json!({"name": n(), "hash_on": "consumer", "hash_fallback": "something that is invalid"});
    let f = fields(&post(&gw, ct, body).await, "hash_fallback");
    assert_eq!(
        f,
        json!({"@entity": cond("hash_on"), "hash_fallback": fallbacks})
    );
    let body = json!({"name": n(), "hash_on": "consumer", "hash_fallback": "consumer"});
    let f = fields(&post(&gw, ct, body).await, "same hash entries");
    assert_eq!(
        f,
        json!({"@entity": cond("hash_on"), "hash_fallback": fallbacks})
    );
    let body = json!({"name": n(), "hash_on": "header", "hash_fallback": "consumer",
                      "hash_on_header": "not a <> valid <> header name"});
    let f = fields(&post(&gw, ct, body).await, "invalid header");
    assert_eq!(f["hash_on_header"], BAD_HEADER);
    let body = json!({"name": n(), "hash_on": "consumer", "hash_fallback": "header",
                      "hash_fallback_header": "not a <> valid <> header name"});
    let f = fields(&post(&gw, ct, body).await, "invalid fallback header");
    assert_eq!(f["hash_fallback_header"], BAD_HEADER);
    let body = json!({"name": n(), "hash_on": "header", "hash_fallback": "header",
                      "hash_on_header": "headername", "hash_fallback_header": "headername"});
    let f = fields(&post(&gw, ct, body).await, "same headers");
    assert_eq!(
        f,
        json!({"@entity": ["values of these fields must be distinct: 'hash_on_header', 'hash_fallback_header'"]})
    );
    let body = json!({"name": n(), "hash_on": "cookie", "hash_on_cookie": "cookiename",
                      "hash_fallback": "header", "hash_fallback_header": "Cool-Header"});
    let f = fields(&post(&gw, ct, body).await, "cookie with hash_fallback");
    assert_eq!(
        f,
        json!({"@entity": cond("hash_on"), "hash_fallback": "expected one of: none"})
    );
    let body = json!({"name": n(), "hash_on": "header", "hash_fallback": "header",
                      "hash_fallback_header": "HeaderName"});
    let f = fields(&post(&gw, ct, body).await, "no header name");
    assert_eq!(
        f,
        json!({"@entity": cond("hash_on"), "hash_on_header": "required field missing"})
    );
    let body = json!({"name": n(), "hash_on": "consumer", "hash_fallback": "header"});
    let f = fields(&post(&gw, ct, body).await, "no fallback header name");
    assert_eq!(
        f,
        json!({"@entity": cond("hash_fallback"), "hash_fallback_header": "required field missing"})
    );
    let body = json!({"name": n(), "hash_on": "cookie",
                      "hash_on_cookie": "not a <> valid <> cookie name"});
    let f = fields(&post(&gw, ct, body).await, "invalid cookie");
    assert_eq!(f["hash_on_cookie"], COOKIE_CHARS);
    let body = json!({"name": n(), "hash_on": "cookie", "hash_on_cookie": "hashme",
                      "hash_on_cookie_path": "not a path"});
    let f = fields(&post(&gw, ct, body).await, "invalid cookie path");
    assert_eq!(f, json!({"hash_on_cookie_path": "should start with: /"}));
    let body = json!({"name": n(), "hash_on": "consumer", "hash_fallback": "cookie",
                      "hash_on_cookie": "not a <> valid <> cookie name"});
    let f = fields(&post(&gw, ct, body).await, "invalid fallback cookie");
    assert_eq!(f["hash_on_cookie"], COOKIE_CHARS);
    let body = json!({"name": n(), "hash_on": "consumer", "hash_fallback": "cookie",
                      "hash_on_cookie": "my-cookie", "hash_on_cookie_path": "not a path"});
    let f = fields(&post(&gw, ct, body).await, "invalid fallback cookie path");
    assert_eq!(f, json!({"hash_on_cookie_path": "should start with: /"}));
}

async fn conflict(gw: Arc<Gateway>, ct: Ct) {
    let n = unique("my.upstream");
    status(&post(&gw, ct, json!({"name": n})).await, 201, "first");
    let r = post(&gw, ct, json!({"name": n})).await;
    let j = status(&r, 409, "second");
    assert_eq!(j["name"], "unique constraint violation");
    assert_eq!(j["fields"], json!({"name": n}));
}

// ---- 07: PUT ----

async fn put_creates(gw: Arc<Gateway>, ct: Ct) {
    let n = unique("my-upstream");
    let r = send(
        &gw,
        "PUT",
        &format!("/upstreams/{n}"),
        Some(ct),
        json!({"created_at": 1461276890000i64}),
    )
    .await;
    let j = status(&r, 200, "put");
    assert_eq!(j["name"], n.as_str());
    assert!(j["created_at"].is_number() && j["id"].is_string() && j["slots"].is_number());
}

async fn put_replaces(gw: Arc<Gateway>, ct: Ct) {
    let j = status(
        &post(
            &gw,
            ct,
            json!({"name": unique("my-upstream"), "slots": 100}),
        )
        .await,
        201,
        "create",
    );
    let new_name = unique("my-new-upstream");
    let r = send(
        &gw,
        "PUT",
        &format!("/upstreams/{}", j["id"].as_str().unwrap()),
        Some(ct),
        json!({"name": new_name, "slots": 123, "created_at": j["created_at"]}),
    )
    .await;
    let u = status(&r, 200, "put");
    assert_eq!(u["name"], new_name.as_str());
    assert_eq!(u["slots"], 123);
    assert_eq!(u["id"], j["id"]);
}

async fn put_invalid(gw: Arc<Gateway>, ct: Ct) {
    let r = send(
        &gw,
        "PUT",
        "/upstreams/00000000-0000-0000-0000-000000000001",
        Some(ct),
        json!({}),
    )
    .await;
    let j = status(&r, 400, "missing name");
    assert_eq!(
        j["message"],
        "schema violation (name: required field missing)"
    );
    let r = send(
        &gw,
        "PUT",
        "/upstreams/1.2.3.4",
        Some(ct),
        json!({"created_at": 1461276890000i64}),
    )
    .await;
    let j = status(&r, 400, "ip name");
    assert_eq!(
        j["message"],
        "Invalid name ('1.2.3.4'); no ip addresses allowed"
    );
}

// ---- 07: GET (ten upstreams tagged `listed`) ----

async fn ten(gw: &Gateway, tag: &str) {
    for _ in 0..10 {
        upstream(gw, json!({"tags": [tag]})).await;
    }
}

async fn first_page(gw: Arc<Gateway>) {
    ten(&gw, "first-page").await;
    let j = status(&get(&gw, "/upstreams?tags=first-page").await, 200, "list");
    assert_eq!(j["data"].as_array().unwrap().len(), 10);
}

async fn paginates(gw: Arc<Gateway>) {
    ten(&gw, "paginates").await;
    ten_in_pages_of_three(&gw, "/upstreams?tags=paginates&size=3").await;
}

/// Pages through ten entities three at a time from `first` (a path with
/// `size=3`): pages of 3, 3, 3 and 1, each different, each page's
/// `offset` leading to the next.
async fn ten_in_pages_of_three(gw: &Gateway, first: &str) {
    let mut offset: Option<String> = None;
    let mut previous = Value::Null;
    for i in 1..=4 {
        let mut path = first.to_string();
        if let Some(o) = &offset {
            path.push_str("&offset=");
            path.extend(form_urlencoded::byte_serialize(o.as_bytes()));
        }
        let j = status(&get(gw, &path).await, 200, "page");
        assert_eq!(
            j["data"].as_array().unwrap().len(),
            if i < 4 { 3 } else { 1 }
        );
        assert_ne!(j, previous);
        offset = j["offset"].as_str().map(str::to_string);
        previous = j;
    }
}

async fn ignores_filters(gw: Arc<Gateway>) {
    assert_eq!(get(&gw, "/upstreams?foo=bar").await.status, 200);
}

async fn ignores_invalid_body(gw: Arc<Gateway>) {
    let r = send_raw(
        &gw,
        "GET",
        "/upstreams",
        "application/json",
        "this fails if decoded as json",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn empty_tags(gw: Arc<Gateway>) {
    let j = status(&get(&gw, "/upstreams?tags=").await, 400, "empty tags");
    assert_eq!(j["message"], "invalid option (tags: cannot be null)");
}

async fn empty_results(gw: Arc<Gateway>) {
    let j = status(&get(&gw, "/upstreams?tags=none-here").await, 200, "empty");
    assert_eq!(j, json!({"data": [], "next": null}));
}

// ---- 07: DELETE ----

async fn delete_by_id(gw: Arc<Gateway>) {
    let u = upstream(&gw, json!({"slots": 100})).await;
    let r = send(
        &gw,
        "DELETE",
        &format!("/upstreams/{}", u["id"].as_str().unwrap()),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        get(&gw, &format!("/upstreams/{}", name(&u))).await.status,
        404
    );
}

async fn delete_by_name(gw: Arc<Gateway>) {
    let u = upstream(&gw, json!({"slots": 100})).await;
    let r = send(
        &gw,
        "DELETE",
        &format!("/upstreams/{}", name(&u)),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        get(&gw, &format!("/upstreams/{}", u["id"].as_str().unwrap()))
            .await
            .status,
        404
    );
}

async fn delete_after_targets(gw: Arc<Gateway>) {
    let u = upstream(&gw, json!({"slots": 100})).await;
    let n = name(&u);
    let r = json(
        &gw,
        "POST",
        &format!("/upstreams/{n}/targets"),
        json!({"target": "127.0.0.1:8000"}),
    )
    .await;
    status(&r, 201, "target");
    let r = send(
        &gw,
        "DELETE",
        &format!("/upstreams/{n}/targets/127.0.0.1:8000"),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(get(&gw, &format!("/upstreams/{n}")).await.status, 200);
    let r = send(&gw, "DELETE", &format!("/upstreams/{n}"), None, Value::Null).await;
    assert_eq!(r.status, 204);
}

async fn delete_with_targets(gw: Arc<Gateway>) {
    let u = upstream(&gw, json!({"slots": 100})).await;
    let n = name(&u);
    let t = target(&gw, &u, "127.0.0.1:8000", 100).await;
    let r = send(&gw, "DELETE", &format!("/upstreams/{n}"), None, Value::Null).await;
    assert_eq!(r.status, 204);
    // Its targets went with it (Kong's `on_delete = "cascade"`).
    let r = get(
        &gw,
        &format!(
            "/upstreams/{}/targets/{}",
            u["id"].as_str().unwrap(),
            t["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(r.status, 404);
}

async fn method_not_allowed(gw: Arc<Gateway>) {
    let r = send(&gw, "DELETE", "/upstreams", Some(Ct::Json), json!({})).await;
    let j = status(&r, 405, "delete collection");
    assert_eq!(j, json!({"message": "Method not allowed"}));
}

async fn page_size_one(gw: Arc<Gateway>) {
    for _ in 0..3 {
        upstream(&gw, json!({"slots": 100, "tags": ["size-one"]})).await;
    }
    let j = status(
        &get(&gw, "/upstreams?tags=size-one&size=1").await,
        200,
        "size 1",
    );
    assert_eq!(j["data"].as_array().unwrap().len(), 1);
    let offset = j["offset"].as_str().expect("offset").to_string();
    let mut path = "/upstreams?tags=size-one&size=1&offset=".to_string();
    path.extend(form_urlencoded::byte_serialize(offset.as_bytes()));
    let j = status(&get(&gw, &path).await, 200, "page 2");
    assert_eq!(j["data"].as_array().unwrap().len(), 1);
    assert!(j["offset"].is_string());
    let j = status(
        &get(&gw, "/upstreams?tags=size-one&size=2").await,
        200,
        "size 2",
    );
    assert_eq!(j["data"].as_array().unwrap().len(), 2);
    assert!(j["offset"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_upstreams_routes_spec() {
    let gw = Gateway::start();
    let mut c: Vec<Case> = Vec::new();
    case_ct!(
        c,
        "/upstreams POST creates an upstream with defaults",
        creates_with_defaults
    );
    case_ct!(
        c,
        "/upstreams POST creates an upstream without defaults",
        creates_without_defaults
    );
    case_ct!(
        c,
        "/upstreams POST creates an upstream with hash_on cookie parameters",
        creates_with_cookie
    );
    case_ct!(
        c,
        "/upstreams POST creates an upstream with 2 header hashes",
        creates_with_two_header_hashes
    );
    case_ct!(
        c,
        "/upstreams POST creates an upstream with 65536 slots",
        creates_with_max_slots
    );
    case_ct!(
        c,
        "/upstreams POST creates an upstream with host header",
        creates_with_host_header
    );
    case!(
        c,
        "/upstreams POST errors handles malformed JSON body",
        malformed_json
    );
    case_ct!(
        c,
        "/upstreams POST errors handles invalid input",
        invalid_input
    );
    case_ct!(
        c,
        "/upstreams POST errors returns 409 on conflict",
        conflict
    );
    case_ct!(c, "/upstreams PUT creates if not exists", put_creates);
    case_ct!(c, "/upstreams PUT replaces if exists", put_replaces);
    case_ct!(
        c,
        "/upstreams PUT errors handles invalid input",
        put_invalid
    );
    case!(c, "/upstreams GET retrieves the first page", first_page);
    case!(c, "/upstreams GET paginates a set", paginates);
    case!(c, "/upstreams GET ignores filters", ignores_filters);
    case!(
        c,
        "/upstreams GET ignores an invalid body",
        ignores_invalid_body
    );
    case!(
        c,
        "/upstreams GET returns bad request for empty tags",
        empty_tags
    );
    case!(
        c,
        "/upstreams GET empty results data property is an empty array",
        empty_results
    );
    case!(c, "/upstreams DELETE by id", delete_by_id);
    case!(c, "/upstreams DELETE by name", delete_by_name);
    case!(
        c,
        "/upstreams DELETE after deleting its targets (regression test for #4317)",
        delete_after_targets
    );
    case!(
        c,
        "/upstreams DELETE can delete an upstream with targets",
        delete_with_targets
    );
    case!(
        c,
        "/upstreams returns 405 on invalid method",
        method_not_allowed
    );
    case!(c, "#regression page size 1", page_size_one);
    common::kong::run(F07, gw, c).await;
}

// ---- 08: targets ----

fn targets_path(u: &Value) -> String {
    format!("/upstreams/{}/targets", name(u))
}

async fn targets_404(gw: Arc<Gateway>) {
    let j = status(&get(&gw, "/targets").await, 404, "/targets");
    assert_eq!(j["message"], "Not found");
}

async fn target_defaults(gw: Arc<Gateway>, ct: Ct) {
    let u = upstream(&gw, json!({"slots": 10})).await;
    let r = send(
        &gw,
        "POST",
        &format!("{}/", targets_path(&u)),
        Some(ct),
        json!({"target": "konghq.test"}),
    )
    .await;
    let j = status(&r, 201, "create");
    assert_eq!(j["target"], "konghq.test:8000");
    assert!(j["created_at"].is_number() && j["id"].is_string());
    assert_eq!(j["weight"], 100);
    assert_eq!(j["upstream"], json!({"id": u["id"]}));
}

async fn target_without_defaults(gw: Arc<Gateway>, ct: Ct) {
    let u = upstream(&gw, json!({"slots": 10})).await;
    let body = json!({"target": "konghq.test:123", "weight": 99});
    let r = send(
        &gw,
        "POST",
        &format!("{}/", targets_path(&u)),
        Some(ct),
        body,
    )
    .await;
    let j = status(&r, 201, "create");
    assert_eq!(j["target"], "konghq.test:123");
    assert!(j["created_at"].is_number() && j["id"].is_string());
    assert_eq!(j["weight"], 99);
}

async fn target_weight_zero(gw: Arc<Gateway>, ct: Ct) {
    let u = upstream(&gw, json!({"slots": 10})).await;
    let body = json!({"target": "zero.weight.test:8080", "weight": 0});
    let r = send(
        &gw,
        "POST",
        &format!("{}/", targets_path(&u)),
        Some(ct),
        body,
    )
    .await;
    let j = status(&r, 201, "create");
    assert_eq!(j["target"], "zero.weight.test:8080");
    assert!(j["created_at"].is_number() && j["id"].is_string());
    assert_eq!(j["weight"], 0);
    let again = status(
        &get(&gw, &format!("{}/zero.weight.test:8080", targets_path(&u))).await,
        200,
        "get",
    );
    assert_eq!(j, again);
}

async fn target_malformed_json(gw: Arc<Gateway>) {
    let u = upstream(&gw, json!({"slots": 10})).await;
    let r = send_raw(
        &gw,
        "POST",
        &format!("{}/", targets_path(&u)),
        "application/json",
        r#"{"hello": "world""#,
    )
    .await;
    let j = status(&r, 400, "malformed");
    assert_eq!(j, json!({"message": "Cannot parse JSON body"}));
}

async fn target_invalid_input(gw: Arc<Gateway>, ct: Ct) {
    let u = upstream(&gw, json!({"slots": 10})).await;
    let path = format!("{}/", targets_path(&u));
    let f = fields(
        &send(&gw, "POST", &path, Some(ct), json!({"weight": 0})).await,
        "missing",
    );
    assert_eq!(f, json!({"target": "required field missing"}));
    let r = send(
        &gw,
        "POST",
        &path,
        Some(ct),
        json!({"target": "some invalid host name"}),
    )
    .await;
    assert_eq!(
        fields(&r, "invalid target"),
        json!({"target": "Invalid target; not a valid hostname or ip address"})
    );
    let r = send(
        &gw,
        "POST",
        &path,
        Some(ct),
        json!({"target": "konghq.test", "weight": 65536}),
    )
    .await;
    assert_eq!(
        fields(&r, "weight"),
        json!({"weight": "value should be between 0 and 65535"})
    );
}

async fn target_collection_405(gw: Arc<Gateway>, ct: Ct, method: &str) {
    let u = upstream(&gw, json!({"slots": 10})).await;
    let r = send(
        &gw,
        method,
        &format!("{}/", targets_path(&u)),
        Some(ct),
        json!({"target": "konghq.test"}),
    )
    .await;
    assert_eq!(r.status, 405, "{}", r.text);
}
async fn put_405(gw: Arc<Gateway>, ct: Ct) {
    target_collection_405(gw, ct, "PUT").await
}
async fn patch_405(gw: Arc<Gateway>, ct: Ct) {
    target_collection_405(gw, ct, "PATCH").await
}
async fn delete_405(gw: Arc<Gateway>, ct: Ct) {
    target_collection_405(gw, ct, "DELETE").await
}

async fn duplicated_target(gw: Arc<Gateway>, ct: Ct) {
    let u = upstream(&gw, json!({"slots": 10})).await;
    let path = format!("{}/", targets_path(&u));
    let body = json!({"target": "single-target.test:8080", "weight": 1});
    let j = status(
        &send(&gw, "POST", &path, Some(ct), body).await,
        201,
        "first",
    );
    assert_eq!(j["target"], "single-target.test:8080");
    assert!(j["created_at"].is_number() && j["id"].is_string());
    assert_eq!(j["weight"], 1);
    let body = json!({"target": "single-target.test:8080", "weight": 100});
    let r = send(&gw, "POST", &path, Some(ct), body).await;
    assert_eq!(r.status, 409, "{}", r.text);
    // The same target in another upstream is another target.
    let other = upstream(&gw, json!({})).await;
    let body = json!({"target": "single-target.test:8080"});
    let r = send(&gw, "POST", &targets_path(&other), Some(ct), body).await;
    status(&r, 201, "other upstream");
}

/// The four targets of Kong's GET block, by target.
async fn four_targets(gw: &Gateway) -> (Value, Value) {
    let u = upstream(gw, json!({})).await;
    let mut map = serde_json::Map::new();
    for (t, w) in [
        ("api-1:80", 10),
        ("api-2:80", 0),
        ("api-3:80", 50),
        ("api-4:80", 10),
    ] {
        map.insert(t.into(), target(gw, &u, t, w).await);
    }
    (u, Value::Object(map))
}

fn by_target(list: &Value) -> Value {
    let mut map = serde_json::Map::new();
    for t in list["data"].as_array().expect("data") {
        map.insert(t["target"].as_str().unwrap().into(), t.clone());
    }
    Value::Object(map)
}

async fn shows_all(gw: Arc<Gateway>, append: &str) {
    let (u, expected) = four_targets(&gw).await;
    let j = status(
        &get(&gw, &format!("{}{append}", targets_path(&u))).await,
        200,
        "list",
    );
    assert_eq!(j["data"].as_array().unwrap().len(), 4);
    assert_eq!(by_target(&j), expected);
}
async fn shows_all_no_slash(gw: Arc<Gateway>) {
    shows_all(gw, "").await
}
async fn shows_all_slash(gw: Arc<Gateway>) {
    shows_all(gw, "/").await
}

async fn targets_empty(gw: Arc<Gateway>) {
    let u = upstream(&gw, json!({})).await;
    let r = get(&gw, &targets_path(&u)).await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains(r#""data":[]"#), "{}", r.text);
}

async fn ten_targets(gw: &Gateway) -> Value {
    let u = upstream(gw, json!({})).await;
    for i in 1..=10 {
        target(gw, &u, &format!("api-{i}:80"), 100).await;
    }
    u
}

async fn all_first_page(gw: Arc<Gateway>) {
    let u = ten_targets(&gw).await;
    let j = status(
        &get(&gw, &format!("{}/all", targets_path(&u))).await,
        200,
        "all",
    );
    assert_eq!(j["data"].as_array().unwrap().len(), 10);
}

async fn all_offset_string(gw: Arc<Gateway>) {
    let u = ten_targets(&gw).await;
    let j = status(
        &get(&gw, &format!("{}/all?size=3", targets_path(&u))).await,
        200,
        "all",
    );
    assert!(j["offset"].is_string(), "{j}");
}

async fn all_next_url(gw: Arc<Gateway>) {
    let u = ten_targets(&gw).await;
    let j = status(
        &get(&gw, &format!("{}/all?size=3", targets_path(&u))).await,
        200,
        "all",
    );
    let offset: String =
        form_urlencoded::byte_serialize(j["offset"].as_str().unwrap().as_bytes()).collect();
    assert_eq!(
        j["next"],
        format!("/upstreams/{}/targets/all?offset={offset}", name(&u)).as_str()
    );
}

async fn all_paginates(gw: Arc<Gateway>) {
    let u = ten_targets(&gw).await;
    ten_in_pages_of_three(&gw, &format!("{}/all?size=3", targets_path(&u))).await;
}

async fn all_ignores_filters(gw: Arc<Gateway>) {
    let u = ten_targets(&gw).await;
    assert_eq!(
        get(&gw, &format!("{}/all?foo=bar", targets_path(&u)))
            .await
            .status,
        200
    );
}

async fn all_ignores_invalid_body(gw: Arc<Gateway>) {
    let u = ten_targets(&gw).await;
    let r = send_raw(
        &gw,
        "GET",
        &format!("{}/all", targets_path(&u)),
        "application/json",
        "this fails if decoded as json",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn all_empty(gw: Arc<Gateway>) {
    let u = upstream(&gw, json!({})).await;
    let r = get(&gw, &format!("{}/all", targets_path(&u))).await;
    let j = status(&r, 200, "empty");
    assert_eq!(j, json!({"data": [], "next": null}));
    assert!(r.text.contains(r#""data":[]"#), "{}", r.text);
}

/// Kong's blocks on one target: `api-1:80` and `api-2:80`, weight 10.
async fn two_targets(gw: &Gateway) -> (Value, Value) {
    let u = upstream(gw, json!({})).await;
    target(gw, &u, "api-1:80", 10).await;
    let t = target(gw, &u, "api-2:80", 10).await;
    (u, t)
}

async fn returns_target(gw: Arc<Gateway>) {
    let (u, t) = two_targets(&gw).await;
    let j = status(
        &get(
            &gw,
            &format!("{}/{}", targets_path(&u), t["target"].as_str().unwrap()),
        )
        .await,
        200,
        "get",
    );
    assert_eq!(j, t);
}

async fn patch_target(gw: Arc<Gateway>) {
    let (u, t) = two_targets(&gw).await;
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let path = format!("{}/{}", targets_path(&u), t["target"].as_str().unwrap());
    let j = status(
        &json(&gw, "PATCH", &path, json!({"weight": 659})).await,
        200,
        "patch",
    );
    assert!(j["id"].is_string());
    assert_eq!(j["target"], t["target"]);
    assert_eq!(j["weight"], 659);
    assert!(
        t["updated_at"].as_f64() < j["updated_at"].as_f64(),
        "{t} {j}"
    );
    let j = status(&get(&gw, &path).await, 200, "get");
    assert_eq!(j["weight"], 659);
}

async fn put_target_by_id(gw: Arc<Gateway>) {
    let (u, mut t) = two_targets(&gw).await;
    let new_target = format!("{}1", t["target"].as_str().unwrap());
    t["target"] = json!(new_target);
    let path = format!("{}/{}", targets_path(&u), t["id"].as_str().unwrap());
    status(
        &json(&gw, "PUT", &path, json!({"target": new_target})).await,
        200,
        "put",
    );
    let mut j = status(&get(&gw, &path).await, 200, "get");
    j["updated_at"] = Value::Null;
    t["updated_at"] = Value::Null;
    assert_eq!(j, t);
}

async fn put_target_by_target(gw: Arc<Gateway>) {
    let (u, t) = two_targets(&gw).await;
    let old = t["target"].as_str().unwrap();
    let new_target = format!("{old}1");
    let r = json(
        &gw,
        "PUT",
        &format!("{}/{old}", targets_path(&u)),
        json!({"target": new_target}),
    )
    .await;
    let updated = status(&r, 200, "put");
    assert_eq!(
        get(&gw, &format!("{}/{old}", targets_path(&u)))
            .await
            .status,
        404
    );
    let j = status(
        &get(&gw, &format!("{}/{new_target}", targets_path(&u))).await,
        200,
        "get",
    );
    assert_eq!(j, updated);
    // PUT updated the target: its weight stayed.
    assert_eq!(j["weight"], 10);
}

async fn delete_target(gw: Arc<Gateway>, by_id: bool) {
    let (u, t) = two_targets(&gw).await;
    let all = status(
        &get(&gw, &format!("{}/all", targets_path(&u))).await,
        200,
        "all",
    );
    assert_eq!(all["data"].as_array().unwrap().len(), 2);
    let ident = if by_id { &t["id"] } else { &t["target"] };
    let path = format!("{}/{}", targets_path(&u), ident.as_str().unwrap());
    assert_eq!(
        send(&gw, "DELETE", &path, None, Value::Null).await.status,
        204
    );
    let all = status(
        &get(&gw, &format!("{}/all", targets_path(&u))).await,
        200,
        "all",
    );
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
    let active = status(&get(&gw, &targets_path(&u)).await, 200, "active");
    assert_eq!(active["data"].as_array().unwrap().len(), 1);
    assert_eq!(active["data"][0]["target"], "api-1:80");
}
async fn delete_by_target(gw: Arc<Gateway>) {
    delete_target(gw, false).await
}
async fn delete_target_by_id(gw: Arc<Gateway>) {
    delete_target(gw, true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_targets_routes_spec() {
    let gw = Gateway::start();
    let mut c: Vec<Case> = Vec::new();
    case!(c, "/targets returns a 404", targets_404);
    case_ct!(
        c,
        "/upstreams/{upstream}/targets/ POST creates a target with defaults",
        target_defaults
    );
    case_ct!(
        c,
        "/upstreams/{upstream}/targets/ POST creates a target without defaults",
        target_without_defaults
    );
    case_ct!(
        c,
        "/upstreams/{upstream}/targets/ POST creates a target with weight = 0",
        target_weight_zero
    );
    case!(
        c,
        "/upstreams/{upstream}/targets/ POST errors handles malformed JSON body",
        target_malformed_json
    );
    case_ct!(
        c,
        "/upstreams/{upstream}/targets/ POST errors handles invalid input",
        target_invalid_input
    );
    case_ct!(
        c,
        "/upstreams/{upstream}/targets/ POST errors returns 405 on PUT",
        put_405
    );
    case_ct!(
        c,
        "/upstreams/{upstream}/targets/ POST errors returns 405 on PATCH",
        patch_405
    );
    case_ct!(
        c,
        "/upstreams/{upstream}/targets/ POST errors returns 405 on DELETE",
        delete_405
    );
    case_ct!(
        c,
        "/upstreams/{upstream}/targets/ POST errors fails to create duplicated targets",
        duplicated_target
    );
    case!(
        c,
        "/upstreams/{upstream}/targets/ GET shows all targets with no ending slash",
        shows_all_no_slash
    );
    case!(
        c,
        "/upstreams/{upstream}/targets/ GET shows all targets with  ending slash",
        shows_all_slash
    );
    case!(
        c,
        "/upstreams/{upstream}/targets/ GET empty results data property is an empty array",
        targets_empty
    );
    case!(
        c,
        "/upstreams/{upstream}/targets/all/ GET retrieves the first page",
        all_first_page
    );
    case!(
        c,
        "/upstreams/{upstream}/targets/all/ GET offset is a string",
        all_offset_string
    );
    case!(
        c,
        "/upstreams/{upstream}/targets/all/ GET next url ends with /targets/all",
        all_next_url
    );
    case!(
        c,
        "/upstreams/{upstream}/targets/all/ GET paginates a set",
        all_paginates
    );
    case!(
        c,
        "/upstreams/{upstream}/targets/all/ GET ignores filters",
        all_ignores_filters
    );
    case!(
        c,
        "/upstreams/{upstream}/targets/all/ GET ignores an invalid body",
        all_ignores_invalid_body
    );
    case!(
        c,
        "/upstreams/{upstream}/targets/all/ GET empty results data property is an empty array",
        all_empty
    );
    case!(
        c,
        "/upstreams/{upstream}/targets/{target} GET returns target entity",
        returns_target
    );
    case!(
        c,
        "/upstreams/{upstream}/targets/{target} PATCH is allowed and works",
        patch_target
    );
    case!(
        c,
        "/upstreams/{upstream}/targets/{target} PUT updates target (by id)",
        put_target_by_id
    );
    case!(
        c,
        "/upstreams/{upstream}/targets/{target} PUT updates target (by target)",
        put_target_by_target
    );
    case!(c, "/upstreams/{upstream}/targets/{target} DELETE method DELETE actually deletes targets (by target)", delete_by_target);
    case!(c, "/upstreams/{upstream}/targets/{target} DELETE method DELETE actually deletes targets (by id)", delete_target_by_id);
    common::kong::run(F08, gw, c).await;
}
