//! Admin API end to end: the real binary, real HTTP, a real redb file.

mod common;

use common::*;
use serde_json::{json, Value};

/// The seed page's steps 1–2 with its exact curl commands (a local
/// upstream instead of httpbin.org), then the plugin upload done wrong
/// (as printed: `--data` sends the file name) and right (`--form`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_walkthrough_with_curl() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start();
    let admin = gw.admin_url("");
    let upstream_url = format!("url=http://{}/headers", up);

    let (status, body) = curl(&[
        "-i",
        "-X",
        "POST",
        &format!("{admin}/services/"),
        "--data",
        "name=plugin-testing",
        "--data",
        &upstream_url,
    ]);
    assert_eq!(status, 201, "{body}");
    assert!(body.starts_with("HTTP/1.1 201 Created"), "{body}");

    let (status, body) = curl(&[
        "-i",
        "-X",
        "POST",
        &format!("{admin}/services/plugin-testing/routes"),
        "--data",
        "paths[]=/test",
    ]);
    assert_eq!(status, 201, "{body}");

    // The route is live as soon as the 201 arrived.
    let (status, body) = curl(&[&gw.proxy_url("/test")]);
    assert_eq!(status, 200, "{body}");
    let echo: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["path"], "/headers");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("custom-auth.lua");
    std::fs::write(&file, "local custom_auth = kong.request.get_header(\"x-custom-auth\")\nif not custom_auth then\n  return kong.response.exit(401, \"Invalid Credentials\")\nend\nkong.request.clear_header('x-custom-auth')\n").unwrap();
    let plugins = format!("{admin}/services/plugin-testing/plugins");

    // As printed: curl sends "@custom-auth.lua" as text. Refused, with the fix.
    let (status, body) = curl(&[
        "-X",
        "POST",
        &plugins,
        "--data",
        "name=pre-function",
        "--data",
        "config.functions[]=@custom-auth.lua",
    ]);
    assert_eq!(status, 400, "{body}");
    let err: Value = serde_json::from_str(&body).unwrap();
    let msg = err["fields"]["config"]["functions"][0].as_str().unwrap();
    assert!(
        msg.contains("--form 'config.functions[]=@custom-auth.lua'"),
        "{msg}"
    );
    assert_eq!(
        get_json(&gw.admin_url("/plugins")).await.1["data"],
        json!([])
    );

    // With --form the file's content is stored, as `access` (legacy `functions`).
    let form_arg = format!("config.functions[]=@{}", file.display());
    let (status, body) = curl(&[
        "-X",
        "POST",
        &plugins,
        "--form",
        "name=pre-function",
        "--form",
        &form_arg,
    ]);
    assert_eq!(status, 201, "{body}");
    let plugin: Value = serde_json::from_str(&body).unwrap();
    assert!(plugin["config"]["access"][0]
        .as_str()
        .unwrap()
        .contains("kong.response.exit(401"));
    assert_eq!(plugin["config"]["log"], json!([]));
    assert!(plugin["config"].get("functions").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entities_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path());
    let (s, svc) = post_form(
        &gw.admin_url("/services"),
        &[("name", "keep"), ("url", "http://127.0.0.1:9/x")],
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) = post_json(
        &gw.admin_url("/services/keep/routes"),
        json!({"name": "r1", "paths": ["/keep"]}),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) = post_json(
        &gw.admin_url("/routes/r1/plugins"),
        json!({"name": "post-function", "config": {"log": ["kong.log('x')"]}}),
    )
    .await;
    assert_eq!(s, 201);
    assert!(gw.stop().success(), "clean exit on SIGTERM");

    let gw = Gateway::start_in(dir.path());
    let (s, again) = get_json(&gw.admin_url("/services/keep")).await;
    assert_eq!(s, 200);
    assert_eq!(again, svc);
    assert_eq!(
        get_json(&gw.admin_url("/routes/r1")).await.1["paths"],
        json!(["/keep"])
    );
    assert_eq!(
        get_json(&gw.admin_url("/routes/r1/plugins")).await.1["data"][0]["config"]["log"],
        json!(["kong.log('x')"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_objects_have_kong_defaults_and_url_shorthand() {
    let gw = Gateway::start();
    let (s, svc) = post_json(
        &gw.admin_url("/services"),
        json!({"name": "a", "url": "https://example.com"}),
    )
    .await;
    assert_eq!(s, 201, "{svc}");
    assert_eq!(svc["protocol"], "https");
    assert_eq!(svc["port"], 443);
    assert_eq!(svc["path"], Value::Null);
    assert_eq!(svc["retries"], 5);
    assert_eq!(svc["connect_timeout"], 60000);
    assert_eq!(svc["enabled"], true);
    assert!(svc.get("url").is_none(), "url is write-only");
    assert!(uuid::Uuid::parse_str(svc["id"].as_str().unwrap()).is_ok());

    // Form values are typed against the schema.
    let (s, svc) = post_form(
        &gw.admin_url("/services"),
        &[
            ("name", "b"),
            ("host", "example.org"),
            ("port", "8080"),
            ("retries", "0"),
        ],
    )
    .await;
    assert_eq!(s, 201, "{svc}");
    assert_eq!(
        (svc["port"].clone(), svc["retries"].clone()),
        (json!(8080), json!(0))
    );

    let (s, route) = post_form(
        &gw.admin_url("/services/b/routes"),
        &[
            ("paths", "/one"),
            ("strip_path", "false"),
            ("methods[]", "GET"),
        ],
    )
    .await;
    assert_eq!(s, 201, "{route}");
    assert_eq!(
        route["paths"],
        json!(["/one"]),
        "a single value becomes a one-element array"
    );
    assert_eq!(route["strip_path"], false);
    assert_eq!(route["preserve_host"], false);
    assert_eq!(route["path_handling"], "v0");
    assert_eq!(route["protocols"], json!(["http", "https"]));
    assert_eq!(route["regex_priority"], 0);
    assert_eq!(route["service"]["id"], svc["id"]);
}

/// Each bad request gets Kong's error shape and leaves the store unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_kong_errors_and_writes_nothing() {
    let gw = Gateway::start();
    let url = gw.admin_url("/services");
    post_json(&url, json!({"name": "exists", "host": "example.com"})).await;
    let before = get_json(&url).await.1;

    let (s, e) = post_json(
        &url,
        json!({"name": "x", "host": "h", "foo": 1, "port": "80"}),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(e["code"], 2);
    assert_eq!(e["name"], "schema violation");
    assert_eq!(
        e["fields"],
        json!({"foo": "unknown field", "port": "expected an integer"})
    );
    assert_eq!(
        e["message"],
        "2 schema violations (foo: unknown field; port: expected an integer)"
    );

    let (s, e) = post_json(&url, json!({"name": "x"})).await;
    assert_eq!(
        (s, e["message"].as_str().unwrap()),
        (400, "schema violation (host: required field missing)")
    );

    let (s, e) = post_json(&url, json!({"name": "x", "host": "h", "port": 70000})).await;
    assert_eq!(
        (s, e["fields"]["port"].clone()),
        (400, json!("value should be between 0 and 65535"))
    );

    let (s, e) = post_json(&url, json!({"name": "exists", "host": "h"})).await;
    assert_eq!(s, 409);
    assert_eq!(
        e,
        json!({"code": 5, "name": "unique constraint violation", "message": "UNIQUE violation detected on '{name=\"exists\"}'", "fields": {"name": "exists"}})
    );

    let (s, e) = post_json(&url, json!({"name": "bad", "url": "not a url"})).await;
    assert_eq!(s, 400, "{e}");
    // Kong reads a URL without a scheme as a path.
    assert_eq!(
        e["fields"],
        json!({"host": "required field missing", "path": "should start with: /"})
    );

    let raw = client()
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    assert_eq!(
        raw.json::<Value>().await.unwrap(),
        json!({"message": "Cannot parse JSON body"})
    );

    let raw = client()
        .post(&url)
        .header("content-type", "text/yaml")
        .body("name: x")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 415);

    // Oversized bodies: 413 (curl sends Expect: 100-continue, so the
    // answer arrives before the body is sent).
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    std::fs::write(&big, format!("name={}", "x".repeat(9 * 1024 * 1024))).unwrap();
    let (s, body) = curl(&[
        "-X",
        "POST",
        &url,
        "--data-binary",
        &format!("@{}", big.display()),
    ]);
    assert_eq!(s, 413, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"message": "Payload too large"})
    );

    let routes = gw.admin_url("/services/exists/routes");
    let (s, e) = post_json(&routes, json!({"paths": ["~/users/(foo"]})).await;
    assert_eq!(s, 400);
    assert!(
        e["fields"]["paths"][0]
            .as_str()
            .unwrap()
            .starts_with("invalid regex: '/users/(foo'"),
        "{e}"
    );
    let (s, e) = post_json(&routes, json!({"protocols": ["http"]})).await;
    assert_eq!(s, 400);
    assert_eq!(
        e["fields"]["@entity"],
        json!([
            "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"
        ])
    );
    let (s, e) = post_json(
        &gw.admin_url("/routes"),
        json!({"paths": ["/x"], "service": {"id": uuid::Uuid::new_v4()}}),
    )
    .await;
    assert_eq!((s, e["code"].clone()), (400, json!(4)), "{e}");

    assert_eq!(get_json(&url).await.1, before, "nothing was written");
    assert_eq!(
        get_json(&gw.admin_url("/routes")).await.1["data"],
        json!([])
    );

    let (s, e) = get_json(&gw.admin_url(&format!("/services/{}", uuid::Uuid::new_v4()))).await;
    assert_eq!((s, e), (404, json!({"message": "Not found"})));
    let (s, e) = get_json(&gw.admin_url("/nowhere")).await;
    assert_eq!((s, e), (404, json!({"message": "Not found"})));
    let (s, e) = delete(&gw.admin_url("/services")).await;
    assert_eq!((s, e), (405, json!({"message": "Method not allowed"})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_are_validated_against_their_schema() {
    let gw = Gateway::start();
    let url = gw.admin_url("/plugins");
    let (s, e) = post_json(&url, json!({"name": "rate-limiting"})).await;
    assert_eq!(s, 400);
    assert_eq!(
        e["fields"]["name"],
        "plugin 'rate-limiting' not enabled; add it to the 'plugins' configuration property"
    );

    let (s, e) = post_json(
        &url,
        json!({"name": "pre-function", "config": {"access": ["return 1", "print("]}}),
    )
    .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["fields"]["config"]["access"][0], Value::Null);
    let msg = e["fields"]["config"]["access"][1].as_str().unwrap();
    assert!(
        msg.starts_with(
            "error parsing pre-function: [string \"print(\"]:1: unexpected symbol near"
        ),
        "{msg}"
    );

    let (s, e) = post_json(&url, json!({"name": "pre-function", "config": {}})).await;
    assert_eq!(s, 400);
    assert!(e["fields"]["@entity"][0]
        .as_str()
        .unwrap()
        .starts_with("at least one of these fields must be non-empty: 'config.certificate'"));

    let (s, e) = post_json(
        &url,
        json!({"name": "pre-function", "config": {"access": "return 1"}}),
    )
    .await;
    assert_eq!(
        (s, e["fields"]["config"]["access"].clone()),
        (400, json!("expected an array")),
        "JSON is not typed"
    );

    // Code is compiled, never run, when stored.
    let (s, p) = post_json(
        &url,
        json!({"name": "pre-function", "config": {"access": ["error('should never happen')"]}}),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    assert_eq!(p["protocols"], json!(["grpc", "grpcs", "http", "https"]));
    let (s, e) = post_json(
        &url,
        json!({"name": "pre-function", "config": {"log": ["return 1"]}}),
    )
    .await;
    assert_eq!(s, 409, "one pre-function per scope: {e}");
    assert_eq!(e["code"], 5);

    let (s, c) = post_json(&gw.admin_url("/consumers"), json!({"username": "alice"})).await;
    assert_eq!(s, 201);
    let (s, e) = post_json(
        &gw.admin_url("/consumers/alice/plugins"),
        json!({"name": "post-function", "config": {"access": ["return 1"]}}),
    )
    .await;
    assert_eq!(
        (s, e["fields"]["consumer"].clone()),
        (400, json!("value must be null")),
        "{e} {c}"
    );

    // PATCH merges config.
    let id = p["id"].as_str().unwrap();
    let (s, patched) = {
        let r = client()
            .patch(gw.admin_url(&format!("/plugins/{id}")))
            .json(&json!({"config": {"log": ["return 2"]}}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(s, 200);
    assert_eq!(
        patched["config"]["access"],
        json!(["error('should never happen')"])
    );
    assert_eq!(patched["config"]["log"], json!(["return 2"]));
    assert_eq!(patched["created_at"], p["created_at"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_walks_every_entity_once() {
    let gw = Gateway::start();
    for i in 0..7 {
        let (s, _) = post_json(&gw.admin_url("/consumers"), json!({"username": format!("user{i}"), "tags": [if i % 2 == 0 { "even" } else { "odd" }]})).await;
        assert_eq!(s, 201);
    }
    let mut seen = Vec::new();
    let mut next = Some("/consumers?size=3".to_string());
    let mut pages = 0;
    while let Some(path) = next {
        let (s, page) = get_json(&gw.admin_url(&path)).await;
        assert_eq!(s, 200, "{page}");
        pages += 1;
        for c in page["data"].as_array().unwrap() {
            seen.push(c["username"].as_str().unwrap().to_string());
        }
        next = page["next"].as_str().map(str::to_string);
        if next.is_some() {
            assert!(page["offset"].is_string());
        }
    }
    seen.sort();
    assert_eq!(seen, (0..7).map(|i| format!("user{i}")).collect::<Vec<_>>());
    assert_eq!(pages, 3);
    assert_eq!(
        get_json(&gw.admin_url("/consumers?tags=even")).await.1["data"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(get_json(&gw.admin_url("/consumers?size=0")).await.0, 400);
    let (s, e) = get_json(&gw.admin_url("/consumers?size=abc")).await;
    assert_eq!(
        (s, e["message"].clone()),
        (400, json!("size must be a number"))
    );
    assert_eq!(
        get_json(&gw.admin_url("/routes")).await.1,
        json!({"data": [], "next": null})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_endpoints_and_method_semantics() {
    let gw = Gateway::start();
    let (_, s1) = post_json(
        &gw.admin_url("/services"),
        json!({"name": "s1", "host": "a.example"}),
    )
    .await;
    post_json(
        &gw.admin_url("/services"),
        json!({"name": "s2", "host": "b.example"}),
    )
    .await;
    let (s, r1) = post_json(
        &gw.admin_url("/services/s1/routes"),
        json!({"name": "r1", "hosts": ["x.example"]}),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(r1["service"]["id"], s1["id"]);
    post_json(
        &gw.admin_url("/services/s2/routes"),
        json!({"name": "r2", "paths": ["/b"]}),
    )
    .await;

    let (_, list) = get_json(&gw.admin_url("/services/s1/routes")).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        get_json(&gw.admin_url("/services/s1/routes/r1")).await.0,
        200
    );
    assert_eq!(
        get_json(&gw.admin_url("/services/s1/routes/r2")).await.0,
        404,
        "r2 belongs to s2"
    );
    assert_eq!(
        get_json(&gw.admin_url("/services/nope/routes")).await.0,
        404
    );
    let (s, svc) = get_json(&gw.admin_url("/routes/r1/service")).await;
    assert_eq!((s, svc["name"].clone()), (200, json!("s1")));

    // A service with routes cannot be deleted.
    let (s, e) = delete(&gw.admin_url("/services/s1")).await;
    assert_eq!(s, 400);
    assert_eq!(
        e["message"],
        "an existing 'routes' entity references this 'services' entity"
    );
    assert_eq!(e["fields"], json!({"@referenced_by": "routes"}));

    // PUT by name: upsert with 200, fields left out return to defaults.
    let put = |path: &str, body: Value| {
        let url = gw.admin_url(path);
        async move {
            let r = client().put(url).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, r) = put("/routes/r1", json!({"paths": ["/p"], "strip_path": false})).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["id"], r1["id"]);
    assert_eq!(r["hosts"], Value::Null);
    assert_eq!(r["service"], Value::Null, "replaced entirely");
    let (s, created) = put("/services/s3", json!({"host": "c.example"})).await;
    assert_eq!((s, created["name"].clone()), (200, json!("s3")));

    // Deletes are idempotent; nested deletes of a stranger 404.
    for _ in 0..2 {
        assert_eq!(delete(&gw.admin_url("/services/s3")).await.0, 204);
    }
    assert_eq!(delete(&gw.admin_url("/services/s1/routes/r2")).await.0, 404);
    assert_eq!(delete(&gw.admin_url("/routes/r1")).await.0, 204);
    assert_eq!(delete(&gw.admin_url("/services/s1")).await.0, 204);

    let (s, root) = get_json(&gw.admin_url("/")).await;
    assert_eq!(s, 200);
    assert_eq!(root["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        get_json(&gw.admin_url("/plugins/enabled")).await.1,
        json!({"enabled_plugins": ["pre-function", "post-function"]})
    );
}

/// Concurrent writes are all committed, published and kept across a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_are_all_kept() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path());
    let posts = (0..40).map(|i| {
        let url = gw.admin_url("/services");
        tokio::spawn(async move {
            post_json(
                &url,
                json!({"name": format!("svc{i}"), "host": "example.com"}),
            )
            .await
            .0
        })
    });
    for p in posts {
        assert_eq!(p.await.unwrap(), 201);
    }
    let count = |page: Value| page["data"].as_array().map_or(0, Vec::len);
    assert_eq!(
        count(get_json(&gw.admin_url("/services?size=1000")).await.1),
        40
    );
    assert!(gw.stop().success());
    let gw = Gateway::start_in(dir.path());
    assert_eq!(
        count(get_json(&gw.admin_url("/services?size=1000")).await.1),
        40
    );
}
