//! Kong's load balancer on the real binary: a Service whose `host` names
//! an Upstream is balanced over the upstream's targets (real local
//! upstreams), weighted round-robin; a target of weight 0 gets nothing;
//! no target is Kong's 503; targets changed through the Admin API take
//! effect at once; the backup carries upstreams and targets; names,
//! targets, weights and slots are refused as Kong refuses them.

mod common;

use std::collections::HashMap;

use common::{echo_upstream, Gateway};
use serde_json::{json, Value};

/// An upstream `name` with `targets` (`host:port`, weight), a service on
/// it and a route `/<name>`.
async fn balanced(gw: &Gateway, name: &str, targets: &[(String, u32)]) {
    let up = gw
        .admin(reqwest::Method::POST, "/upstreams", json!({"name": name}))
        .await;
    assert_eq!(up["algorithm"], "round-robin");
    for (t, w) in targets {
        gw.admin(
            reqwest::Method::POST,
            &format!("/upstreams/{name}/targets"),
            json!({"target": t, "weight": w}),
        )
        .await;
    }
    gw.service(name, &format!("http://{name}"), json!({})).await;
    gw.route(name, json!({"paths": [format!("/{name}")]})).await;
}

/// Who answered `n` requests to `path`, counted.
async fn answers(gw: &Gateway, path: &str, n: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..n {
        let resp = gw.get(path).await;
        assert_eq!(resp.status(), 200);
        let echo: Value = resp.json().await.expect("echo");
        *seen
            .entry(echo["upstream"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_naming_an_upstream_is_balanced_by_weight() {
    let a = echo_upstream("a").await;
    let b = echo_upstream("b").await;
    let closed = common::closed_port();
    let gw = Gateway::start();
    balanced(
        &gw,
        "lb.test",
        &[
            (a.to_string(), 200),
            (b.to_string(), 100),
            (format!("127.0.0.1:{closed}"), 0),
        ],
    )
    .await;
    // Both get traffic, 2:1; the weight-0 target (nothing listens there)
    // none: every request is answered.
    let seen = answers(&gw, "/lb.test", 30).await;
    assert_eq!(seen, HashMap::from([("a".into(), 20), ("b".into(), 10)]));

    // The upstream sees the target as Host (Kong's `upstream_host`).
    let echo: Value = gw.get("/lb.test").await.json().await.unwrap();
    let host = echo["headers"]["host"].as_str().unwrap();
    assert!(host == a.to_string() || host == b.to_string(), "{host}");

    // Weights changed through the Admin API apply to the next request.
    let r = gw
        .http
        .patch(gw.admin_url(&format!("/upstreams/lb.test/targets/{a}")))
        .json(&json!({"weight": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = answers(&gw, "/lb.test", 6).await;
    assert_eq!(seen, HashMap::from([("b".into(), 6)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_without_targets_is_kongs_503() {
    let a = echo_upstream("a").await;
    let gw = Gateway::start();
    balanced(&gw, "empty.test", &[]).await;
    let resp = gw.get("/empty.test").await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["message"],
        "failure to get a peer from the ring-balancer"
    );
    // A target added later is used at once; deleting the upstream (its
    // targets go with it) leaves the service's host a plain name again.
    gw.admin(
        reqwest::Method::POST,
        "/upstreams/empty.test/targets",
        json!({"target": a.to_string()}),
    )
    .await;
    assert_eq!(gw.get("/empty.test").await.status(), 200);
    let r = gw
        .http
        .delete(gw.admin_url("/upstreams/empty.test"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // `empty.test` does not resolve: Kong's name resolution 503.
    let resp = gw.get("/empty.test").await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["message"], "name resolution failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstreams_and_targets_survive_backup_and_restore() {
    let a = echo_upstream("a").await;
    let gw = Gateway::start();
    balanced(&gw, "kept.test", &[(a.to_string(), 100)]).await;
    let (_, doc) = get_json(&gw, "/config").await;
    assert_eq!(doc["upstreams"][0]["name"], "kept.test");
    assert_eq!(doc["targets"][0]["target"], a.to_string());
    let r = gw
        .http
        .post(gw.admin_url("/config"))
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    assert_eq!(get_json(&gw, "/config").await.1, doc);
    assert_eq!(answers(&gw, "/kept.test", 2).await["a"], 2);

    // A hand-written document nests targets under their upstream.
    let nested = json!({
        "_format_version": "3.0",
        "upstreams": [{"name": "kept.test", "targets": [{"target": a.to_string()}]}],
        "services": [{"name": "s", "url": "http://kept.test",
                      "routes": [{"paths": ["/kept.test"]}]}],
    });
    let r = gw
        .http
        .post(gw.admin_url("/config"))
        .json(&nested)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    assert_eq!(answers(&gw, "/kept.test", 2).await["a"], 2);
}

async fn get_json(gw: &Gateway, path: &str) -> (u16, Value) {
    let r = gw.http.get(gw.admin_url(path)).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Names, targets, weights, slots and health check settings a client
/// should not get past, with Kong's messages; `…/targets/all` only lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_upstreams_and_targets_get_kongs_errors() {
    let gw = Gateway::start();
    let post = |path: &'static str, body: Value| {
        let gw = &gw;
        async move {
            let r = gw
                .http
                .post(gw.admin_url(path))
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for (name, why) in [
        ("up.test:80", "no port allowed"),
        ("10.0.0.1", "no ip addresses allowed"),
        ("[::1]", "no ip addresses allowed"),
        ("-a-.test", "must be a valid hostname"),
        ("a..test", "must be a valid hostname"),
        ("up\u{e9}.test", "must be a valid hostname"),
    ] {
        let (status, body) = post("/upstreams", json!({"name": name})).await;
        assert_eq!(status, 400, "{name}: {body}");
        assert_eq!(
            body["fields"]["name"],
            format!("Invalid name ('{name}'); {why}").as_str()
        );
    }
    for slots in [9, 65537, -1] {
        let (status, body) = post("/upstreams", json!({"name": "s.test", "slots": slots})).await;
        assert_eq!(status, 400, "{slots}: {body}");
        assert_eq!(
            body["fields"]["slots"],
            "value should be between 10 and 65536"
        );
    }
    let (status, body) = post(
        "/upstreams",
        json!({"name": "h.test", "healthchecks": {"active": {"headers": {"bad name": ["x"], "ok": "x"}}}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["fields"]["healthchecks"]["active"]["headers"],
        json!({"bad name": "bad header name 'bad name', allowed characters are A-Z, a-z, 0-9, '_', and '-'",
               "ok": "expected an array of strings"})
    );

    let (status, _) = post("/upstreams", json!({"name": "t.test", "slots": 10})).await;
    assert_eq!(status, 201);
    for target in [
        "",
        ":80",
        "t.test:65536",
        "1.2.3",
        "1::2::3",
        "[::1]:x",
        "a b",
        "t.test:port",
    ] {
        let (status, body) = post("/upstreams/t.test/targets", json!({"target": target})).await;
        assert_eq!(status, 400, "{target:?}: {body}");
        assert_eq!(
            body["fields"]["target"],
            "Invalid target; not a valid hostname or ip address"
        );
    }
    for weight in [-1, 65536] {
        let (status, body) = post(
            "/upstreams/t.test/targets",
            json!({"target": "a.test", "weight": weight}),
        )
        .await;
        assert_eq!(status, 400, "{weight}: {body}");
        assert_eq!(
            body["fields"]["weight"],
            "value should be between 0 and 65535"
        );
    }
    // Written as Kong writes them.
    for (given, written) in [
        ("::1", "[0000:0000:0000:0000:0000:0000:0000:0001]:8000"),
        ("010.000.000.001:81", "10.0.0.1:81"),
        ("Mixed.Case.test", "Mixed.Case.test:8000"),
    ] {
        let (status, body) = post("/upstreams/t.test/targets", json!({"target": given})).await;
        assert_eq!(status, 201, "{given}: {body}");
        assert_eq!(body["target"], written);
    }
    // A listing, not a collection to write to.
    let (status, _) = post("/upstreams/t.test/targets/all", json!({"target": "b.test"})).await;
    assert_eq!(status, 405);
    let r = gw
        .http
        .get(gw.admin_url("/upstreams/t.test/targets/all"))
        .send()
        .await
        .unwrap();
    let all: Value = r.json().await.unwrap();
    assert_eq!(all["data"].as_array().unwrap().len(), 3, "{all}");
}
