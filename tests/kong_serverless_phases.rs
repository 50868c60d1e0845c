//! Kong's `spec/03-plugins/33-serverless-functions/04-phases_spec.lua`,
//! ported on one gateway.
//!
//! | Kong's cases | ported | n/a |
//! |---|---|---|
//! | 2 (1 × pre-function, post-function; `pending` in Kong) | 2 | 0 |
//!
//! Kong marks the file `pending`: its functions append to a file, which
//! the sandbox no longer allows. As Kong's reference suggests, the record
//! here is in memory: each function appends its line to a `kong.cache`
//! entry (node-wide, every phase may use it), and a route whose own
//! plugin of the same name shadows the global one reads it back. Kong
//! reads its file outside any request; reading here is a request, whose
//! rewrite phase runs the global functions (as Kong's would): the rewrite
//! functions leave the reader's requests out of the record. The
//! expected record is Kong's, line for line: per HTTPS request,
//! certificate, rewrite, access, header_filter, body_filter twice (the
//! body, then its end) and log, three functions each.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::kong::{json, run, status, Case, CaseFuture};
use common::pdk::send;
use common::{echo_upstream, Gateway};
use serde_json::json;

const F: &str = "spec/03-plugins/33-serverless-functions/04-phases_spec.lua";
const PHASES: [&str; 6] = [
    "certificate",
    "rewrite",
    "access",
    "header_filter",
    "body_filter",
    "log",
];

/// Kong's `mock_one_fn`, recording in `kong.cache` instead of a file (in
/// rewrite, not for the reader's requests).
fn mock_one_fn(plugin: &str, phase: &str, index: &str) -> String {
    let skip_reader = if phase == "rewrite" {
        r#"if kong.request.get_host():sub(1, 7) == "reader." then return end"#
    } else {
        ""
    };
    format!(
        r#"
  local plugin_name = "{plugin}"
  local key = "phases-" .. plugin_name
  local text = "phase: '{phase}', index: '{index}', plugin: '" .. plugin_name .. "'\n"

  return function()
      {skip_reader}
      local file_content = kong.cache:get(key) or ""
      kong.cache:invalidate(key)
      kong.cache:get(key, nil, function() return file_content .. text end)
    end
"#
    )
}

fn expected(plugin: &str) -> String {
    let mut one = String::new();
    for phase in PHASES {
        let times = if phase == "body_filter" { 2 } else { 1 };
        for _ in 0..times {
            for index in ["first", "second", "third"] {
                one.push_str(&format!(
                    "phase: '{phase}', index: '{index}', plugin: '{plugin}'\n"
                ));
            }
        }
    }
    one.repeat(3)
}

/// What the functions recorded so far (read by the shadowing route).
async fn record(gw: &Arc<Gateway>, plugin: &str) -> String {
    let r = send(gw, "GET", &format!("reader.{plugin}.test"), "/", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

async fn hits_all_phases(gw: Arc<Gateway>, plugin: &'static str) {
    let upstream = echo_upstream("mock").await;
    let svc = json(
        &gw,
        "POST",
        "/services",
        json!({"name": format!("service-{plugin}"), "url": format!("http://{upstream}")}),
    )
    .await;
    let svc = status(&svc, 201, "service");
    for prefix in ["one", "reader"] {
        let r = json(
            &gw,
            "POST",
            "/routes",
            json!({"service": {"id": svc["id"]}, "hosts": [format!("{prefix}.{plugin}.test")]}),
        )
        .await;
        let route = status(&r, 201, prefix);
        if prefix == "reader" {
            let reader = format!(
                r#"return kong.response.exit(200, kong.cache:get("phases-{plugin}") or "")"#
            );
            let p = json(
                &gw,
                "POST",
                "/plugins",
                json!({"name": plugin, "route": {"id": route["id"]},
                       "config": {"access": [reader]}}),
            )
            .await;
            status(&p, 201, "reader plugin");
        }
    }
    let mut config = serde_json::Map::new();
    for phase in PHASES {
        let fns: Vec<String> = ["first", "second", "third"]
            .iter()
            .map(|index| mock_one_fn(plugin, phase, index))
            .collect();
        config.insert(phase.into(), json!(fns));
    }
    let p = json(
        &gw,
        "POST",
        "/plugins",
        json!({"name": plugin, "config": config}),
    )
    .await;
    let global = status(&p, 201, "global plugin");

    let tls = gw.proxy_tls.expect("TLS listener");
    let host = format!("one.{plugin}.test");
    let lines_per_request = 21;
    for i in 1..=3 {
        let client = common::tls::any_cert_client(&[b"http/1.1"]);
        let res =
            common::tls::https_request(tls, &host, client, common::tls::get(&host, "/status/200"))
                .await
                .expect("HTTPS request");
        assert_eq!(res.status, 200, "{}", res.body);
        // Kong sleeps 0.1 s for the log phase; here: until the record has
        // this request's lines (or 10 s have passed, then compare).
        let deadline = Instant::now() + Duration::from_secs(10);
        while record(&gw, plugin).await.lines().count() < lines_per_request * i
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let got = record(&gw, plugin).await;
    let r = common::kong::send(
        &gw,
        "DELETE",
        &format!("/plugins/{}", global["id"].as_str().unwrap_or_default()),
        None,
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(got, expected(plugin));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_serverless_phases_spec() {
    let gw = Gateway::start_with_workers(1);
    let mut c: Vec<Case> = Vec::new();
    for plugin in ["pre-function", "post-function"] {
        c.push((
            format!("Plugin: {plugin} hits all phases, with 3 functions, on 3 requests"),
            Box::new(move |gw| -> CaseFuture { Box::pin(hits_all_phases(gw, plugin)) }),
        ));
    }
    run(F, gw, c).await;
}
