//! Kong's `spec/03-plugins/33-serverless-functions/03-dbless_spec.lua`,
//! ported on one gateway.
//!
//! | Kong's cases | ported | n/a |
//! |---|---|---|
//! | 2 (1 × pre-function, post-function; both post the same pre-function document) | 2 | 0 |
//!
//! Adapted: Kong posts its declarative document as YAML in `config`;
//! lunagate reads no YAML (`POST /config` says so), so the same document
//! goes as JSON text in `config`. lunagate's `POST /config` is DB-less
//! loading on its own store: the function must be compiled and stored,
//! not run (Kong's issue #5110). That it was not run is seen afterwards:
//! the stored global function answers the next proxied request with 418,
//! which it could not if loading had failed.

mod common;

use std::sync::Arc;

use common::kong::{json, run, status, Case, CaseFuture};
use common::Gateway;
use serde_json::{json, Value};

const F: &str = "spec/03-plugins/33-serverless-functions/03-dbless_spec.lua";

fn document() -> Value {
    json!({
        "_format_version": "1.1",
        "plugins": [{
            "name": "pre-function",
            "config": {"access": ["kong.log.err(\"foo\")\nkong.response.exit(418)\n"]}
        }],
        "services": [{"name": "s", "url": "http://127.0.0.1:1",
                      "routes": [{"paths": ["/dbless"]}]}]
    })
}

async fn does_not_execute_the_function(gw: Arc<Gateway>) {
    let r = json(
        &gw,
        "POST",
        "/config",
        json!({"config": document().to_string()}),
    )
    .await;
    status(&r, 201, "POST /config");
    let answer = gw.get("/dbless").await;
    assert_eq!(
        answer.status().as_u16(),
        418,
        "the stored function runs on requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_serverless_dbless_spec() {
    let gw = Gateway::start();
    let mut c: Vec<Case> = Vec::new();
    for plugin in ["pre-function", "post-function"] {
        c.push((
            format!(
                "Plugin: {plugin} (dbless) loading functions from declarative config \
                 does not execute the function ( https://github.com/kong/kong/issues/5110 )"
            ),
            Box::new(|gw| -> CaseFuture { Box::pin(does_not_execute_the_function(gw)) }),
        ));
    }
    run(F, gw, c).await;
}
