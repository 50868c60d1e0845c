//! Attacks on the Admin API and its store (issue 6), each replayed against
//! the real binary: what used to kill the process, leak, or let a web page
//! drive the gateway.

mod common;

use common::*;
use serde_json::{json, Value};

/// The gateway still answers on both listeners.
async fn assert_alive(gw: &Gateway) {
    let (status, _) = get_json(&gw.admin_url("/status")).await;
    assert_eq!(status, 200, "the Admin API is still up");
    let status = gw.get("/nothing-here").await.status();
    assert_eq!(status, 404, "the proxy is still up");
}

/// Item 1: a key nested 3,000 deep (`name[a][a]…`, ~9 KiB) overflowed the
/// admin thread's stack and killed the whole process, proxy included. Form,
/// multipart, dotted keys and JSON nested 100,000 deep all get a 400 now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_bodies_get_a_400_and_the_gateway_lives() {
    let gw = Gateway::start();
    let url = gw.admin_url("/services");
    let bracketed = format!("name{}", "[a]".repeat(3000));
    let dotted = format!("name{}", ".a".repeat(3000));

    for key in [&bracketed, &dotted] {
        let (status, body) = post_form(&url, &[(key.as_str(), "x")]).await;
        assert_eq!(status, 400, "{body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains("nests deeper than 32 levels"), "{body}");

        let form = reqwest::multipart::Form::new().text(key.clone(), "x");
        let resp = gw
            .http
            .post(&url)
            .multipart(form)
            .send()
            .await
            .expect("multipart request answered");
        assert_eq!(resp.status(), 400);
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("nests deeper")),
            "{body}"
        );
    }

    let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let resp = gw
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(deep_json)
        .send()
        .await
        .expect("JSON request answered");
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"message": "Cannot parse JSON body"})
    );

    assert_alive(&gw).await;
    // Kong's own keys still nest as before.
    let (status, body) = post_form(
        &url,
        &[
            ("name", "ok"),
            ("url", "http://127.0.0.1:9/"),
            ("tags[1]", "a"),
        ],
    )
    .await;
    assert_eq!(status, 201, "{body}");
}
