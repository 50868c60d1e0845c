//! Issue 8: no route the Admin API accepts changes how other routes
//! match (not a Kong spec; Kong's own rules are what make it hold).

mod common;

use common::kong::{json, send, status};
use common::Gateway;
use serde_json::{json, Value};

/// (method, host, path, extra header)
type Request = (
    &'static str,
    &'static str,
    &'static str,
    Option<(&'static str, &'static str)>,
);

fn id_of(v: &Value) -> &str {
    v["id"].as_str().expect("id")
}

/// Issue 8: no route the Admin API accepts changes how other routes
/// match. A set of routes answers a set of requests; then each candidate
/// route is added alone. Candidates Kong refuses must be refused (a gRPC
/// route with nothing to match captured every request and answered
/// HTTP/1.1 clients 426); accepted ones may take only the requests their
/// own rules describe — every other request keeps its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_accepted_route_changes_how_other_routes_match() {
    let gw = Gateway::start();
    let echo = common::echo_upstream("echo").await;
    let routes = [
        ("a", json!({"hosts": ["a.test"]})),
        ("b", json!({"paths": ["/b"]})),
        ("c", json!({"methods": ["POST"], "paths": ["/c"]})),
        ("d", json!({"headers": {"x-d": ["1"]}, "paths": ["/d"]})),
        ("e", json!({"hosts": ["*.wild.test"]})),
    ];
    for (name, body) in routes {
        gw.service(name, &format!("http://{echo}/svc-{name}"), json!({}))
            .await;
        gw.route(name, body).await;
    }
    let requests: [Request; 9] = [
        ("GET", "a.test", "/", None),
        ("GET", "a.test", "/x", None),
        ("GET", "b.test", "/b/1", None),
        ("POST", "nothing.test", "/c", None),
        ("GET", "nothing.test", "/c", None),
        ("GET", "nothing.test", "/d", Some(("x-d", "1"))),
        ("GET", "nothing.test", "/d", None),
        ("GET", "foo.wild.test", "/", None),
        ("GET", "unknown.test", "/zzz", None),
    ];
    let answers = |gw: &Gateway| {
        let gw_http = gw.http.clone();
        let urls: Vec<_> = requests
            .iter()
            .map(|(m, h, p, x)| (m.to_string(), h.to_string(), gw.proxy_url(p), *x))
            .collect();
        async move {
            let mut out = Vec::new();
            for (method, host, url, extra) in urls {
                let mut req = gw_http
                    .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
                    .header("host", host);
                if let Some((k, v)) = extra {
                    req = req.header(k, v);
                }
                let resp = req.send().await.expect("proxy");
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                out.push((status, body["path"].clone()));
            }
            out
        }
    };
    let baseline = answers(&gw).await;
    assert_eq!(baseline[0], (200, json!("/svc-a")), "{baseline:?}");
    assert_eq!(baseline[2].0, 200);
    assert_eq!(baseline[8].0, 404);

    let refused = [
        json!({"protocols": ["grpc"]}),
        json!({"protocols": ["grpc", "grpcs"]}),
        json!({"protocols": ["grpcs"], "methods": ["GET"]}),
        json!({"protocols": ["grpc"], "paths": ["/"], "strip_path": true}),
        json!({"protocols": ["http", "grpc"], "hosts": ["x.test"]}),
        json!({"protocols": ["tcp"]}),
        json!({"protocols": ["tls_passthrough"]}),
        json!({"protocols": ["tcp"], "hosts": ["a.test"], "sources": [{"ip": "10.0.0.1"}]}),
        json!({"protocols": ["http"]}),
        json!({"protocols": ["http"], "snis": ["sni.test"]}),
        json!({"protocols": ["http"], "sources": [{"ip": "10.0.0.1"}], "paths": ["/s"]}),
    ];
    for body in refused {
        let r = json(&gw, "POST", "/routes", body.clone()).await;
        assert_eq!(r.status, 400, "{body} must be refused: {}", r.text);
    }
    assert_eq!(
        answers(&gw).await,
        baseline,
        "a refused write changed routing"
    );

    // Each accepted candidate, with the requests (by index) it may take.
    // Kong does not consider `snis` on plain HTTP (Kong #6425): a route
    // with only snis describes every plain request, so it may answer the
    // ones no other route takes (4, 6, 8) with its 426 — never one that
    // another route answers.
    let unmatched: &[usize] = &[4, 6, 8];
    let accepted: [(Value, &[usize]); 9] = [
        (json!({"protocols": ["grpc"], "hosts": ["grpc.test"]}), &[]),
        (
            json!({"protocols": ["grpcs"], "snis": ["sni.test"]}),
            unmatched,
        ),
        (
            json!({"protocols": ["grpc", "grpcs"], "headers": {"x-grpc": ["1"]}}),
            &[],
        ),
        (
            json!({"protocols": ["https"], "snis": ["sni.test"]}),
            unmatched,
        ),
        (
            json!({"protocols": ["https"], "hosts": ["https-only.test"]}),
            &[],
        ),
        (json!({"headers": {"x-new": ["1"]}}), &[]),
        (json!({"methods": ["DELETE"]}), &[]),
        (json!({"hosts": ["*.other.test"]}), &[]),
        (json!({"paths": ["~/regex-only$"]}), &[]),
    ];
    for (body, may_take) in accepted {
        let r = json(&gw, "POST", "/routes", body.clone()).await;
        let created = status(&r, 201, &body.to_string());
        let now = answers(&gw).await;
        for (i, (before, after)) in baseline.iter().zip(&now).enumerate() {
            if !may_take.contains(&i) {
                assert_eq!(
                    before, after,
                    "route {body} changed the answer to request {:?}",
                    requests[i]
                );
            }
        }
        let r = send(
            &gw,
            "DELETE",
            &format!("/routes/{}", id_of(&created)),
            None,
            Value::Null,
        )
        .await;
        assert_eq!(r.status, 204);
    }
}
