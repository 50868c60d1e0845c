//! Kong's `spec/03-plugins/33-serverless-functions/02-access_spec.lua`,
//! ported case by case on one gateway (one worker, as Kong's spec nginx
//! runs; the echo upstream stands for the mock upstream).
//!
//! | Kong's cases | ported | n/a |
//! |---|---|---|
//! | 31 (1 + 15 × pre-function, post-function) | 31 | 0 |
//!
//! Adapted, not narrowed:
//! - `priority of plugins` reads the handlers' `PRIORITY` in Kong; here the
//!   order is observed: on one route, pre-function's access runs before
//!   post-function's.
//! - `redacts sensitive configuration fields` reads `pg_password`, which
//!   Kong's spec configuration sets; lunagate has no PostgreSQL, so the
//!   function reads the sensitive setting this node has, `admin_token`
//!   (the gateway starts with one), with the same `%*+` assertion.
//! - `does not crash even when query is cleared, #9246` checks the mock
//!   upstream's `uri_args`; here the echo upstream's `query`.
//!
//! Kong's `assert.res_status` returns the body without its last newline;
//! so does [`body`].

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::kong::{json, run, status, Case, CaseFuture};
use common::pdk::{gateway_with_token, send};
use common::{echo_upstream, Gateway};
use serde_json::{json, Value};

const F: &str = "spec/03-plugins/33-serverless-functions/02-access_spec.lua";
const PLUGINS: [&str; 2] = ["pre-function", "post-function"];

const MOCK_FN_ONE: &str = "
  ngx.status = 503
  ngx.exit(ngx.status)
";

const MOCK_FN_TWO: &str = r#"
  ngx.status = 404
  ngx.say("Not Found")
  ngx.exit(ngx.status)
"#;

const MOCK_FN_THREE: &str = r#"
  return kong.response.exit(406, { message = "Invalid" })
"#;

const MOCK_FN_FOUR: &str = "
  ngx.status = 400
";

const MOCK_FN_FIVE: &str = "
  ngx.exit(ngx.status)
";

const MOCK_FN_SIX: &str = r#"
  local count = 0
  ngx.log(ngx.ERR, "mock_fn_six: initialization ran")
  return function()
      ngx.log(ngx.ERR, "mock_fn_six: function ran")
      count = count + 1
      ngx.status = 200
      ngx.say(ngx.worker.pid() * 1000 + count)
      ngx.exit(ngx.status)
    end
"#;

const MOCK_FN_SEVEN: &str = "
  ngx.req.read_body()

  local count = tonumber(ngx.req.get_body_data())
  count = count + 1

  ngx.status = 200
  ngx.say(count)
  ngx.exit(ngx.status)
";

const MOCK_FN_NINE: &str = r#"
  error("this should stop the request with a 500")
"#;

const MOCK_FN_TEN: &str = "
  ngx.var.args = nil
";

const MOCK_FN_ELEVEN: &str = r#"
  local ok, err = kong.cache:get("foo", nil, function() return "val" end)
  if err then
    ngx.exit(500)
  end
  local v = kong.cache:get("foo")
  ngx.status = 200
  ngx.say(v)
  ngx.exit(ngx.status)
"#;

const MOCK_FN_TWELVE: &str = "
  ngx.status = 200
  ngx.say(tostring(kong.cache.cluster_events))
  ngx.exit(ngx.status)
";

const MOCK_FN_THIRTEEN: &str = "
  ngx.status = 200
  ngx.say(kong.configuration.plugins[1])
  ngx.exit(ngx.status)
";

/// `mock_fn_fourteen` with lunagate's sensitive setting (see the header).
const MOCK_FN_FOURTEEN: &str = "
  ngx.status = 200
  ngx.say(kong.configuration.admin_token)
  ngx.exit(ngx.status)
";

/// `mock_fn_eight`: `mock_fn_seven` in the upvalue form.
fn mock_fn_eight() -> String {
    format!("return function() \n{MOCK_FN_SEVEN}\n end")
}

/// The routes of the spec's `setup`, by host prefix, with their functions.
fn routes() -> Vec<(&'static str, Vec<String>)> {
    let one = |s: &str| vec![s.to_string()];
    vec![
        ("one", one(MOCK_FN_ONE)),
        ("two", one(MOCK_FN_TWO)),
        ("three", one(MOCK_FN_THREE)),
        ("four", vec![MOCK_FN_FOUR.into(), MOCK_FN_FIVE.into()]),
        ("six", one(MOCK_FN_SIX)),
        ("seven", one(MOCK_FN_SEVEN)),
        ("eight", vec![mock_fn_eight()]),
        ("nine", one(MOCK_FN_NINE)),
        ("ten", one(MOCK_FN_TEN)),
        ("eleven", one(MOCK_FN_ELEVEN)),
        ("twelve", one(MOCK_FN_TWELVE)),
        ("thirteen", one(MOCK_FN_THIRTEEN)),
        ("fourteen", one(MOCK_FN_FOURTEEN)),
    ]
}

async fn setup(gw: &Gateway, upstream: SocketAddr) {
    let svc = json(
        gw,
        "POST",
        "/services",
        json!({"name": "service-1", "url": format!("http://{upstream}")}),
    )
    .await;
    let svc = status(&svc, 201, "service-1");
    for plugin in PLUGINS {
        for (prefix, functions) in routes() {
            let r = json(
                gw,
                "POST",
                "/routes",
                json!({"service": {"id": svc["id"]}, "hosts": [format!("{prefix}.{plugin}.test")]}),
            )
            .await;
            let route = status(&r, 201, prefix);
            let p = json(
                gw,
                "POST",
                "/plugins",
                json!({"name": plugin, "route": {"id": route["id"]},
                       "config": {"access": functions}}),
            )
            .await;
            status(&p, 201, prefix);
        }
    }
    // `priority of plugins`: both plugins on one route.
    let r = json(
        gw,
        "POST",
        "/routes",
        json!({"service": {"id": svc["id"]}, "hosts": ["priority.test"]}),
    )
    .await;
    let route = status(&r, 201, "priority");
    for (plugin, code) in [
        (
            "post-function",
            r#"kong.response.exit(200, (kong.ctx.shared.order or "") .. "post")"#,
        ),
        (
            "pre-function",
            r#"kong.ctx.shared.order = (kong.ctx.shared.order or "") .. "pre""#,
        ),
    ] {
        let p = json(
            gw,
            "POST",
            "/plugins",
            json!({"name": plugin, "route": {"id": route["id"]}, "config": {"access": [code]}}),
        )
        .await;
        status(&p, 201, plugin);
    }
}

/// The answer's status and body without its last newline.
async fn get(gw: &Arc<Gateway>, host: &str, path: &str) -> (u16, String) {
    let r = send(gw, "GET", host, path, None).await;
    (r.status, body(&r))
}

fn body(r: &common::RawResponse) -> String {
    let text = r.text();
    text.strip_suffix('\n').unwrap_or(&text).to_string()
}

async fn post_count(gw: &Arc<Gateway>, host: &str, count: i64) -> i64 {
    let r = send(gw, "POST", host, "/status/200", Some(&count.to_string())).await;
    body(&r)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {} {}", r.status, r.text()))
}

async fn priority_of_plugins(gw: Arc<Gateway>) {
    assert_eq!(
        get(&gw, "priority.test", "/status/200").await,
        (200, "prepost".into())
    );
}

macro_rules! per_plugin {
    ($($name:ident => |$gw:ident, $host:ident| $body:block)*) => {
        $(
            async fn $name($gw: Arc<Gateway>, plugin: &'static str) {
                let $host = |prefix: &str| format!("{prefix}.{plugin}.test");
                $body
            }
        )*
    };
}

per_plugin! {
    using_ngx_exit => |gw, host| {
        let (code, _) = get(&gw, &host("one"), "/status/200").await;
        assert_eq!(code, 503);
    }
    with_upvalues => |gw, host| {
        let mut results = std::collections::HashSet::new();
        for _ in 0..50 {
            let (code, body) = get(&gw, &host("six"), "/status/200").await;
            assert_eq!(code, 200, "{body}");
            assert!(results.insert(body.clone()), "{body} seen twice");
        }
    }
    using_ngx_status_and_exit => |gw, host| {
        assert_eq!(get(&gw, &host("two"), "/status/200").await, (404, "Not Found".into()));
    }
    import_response_utility => |gw, host| {
        let (code, body) = get(&gw, &host("three"), "/status/200").await;
        assert_eq!(code, 406, "{body}");
        let json: Value = serde_json::from_str(&body).expect("JSON");
        assert!(json["message"].as_str().unwrap_or_default().contains("Invalid"), "{json}");
    }
    cascading_functions => |gw, host| {
        let (code, body) = get(&gw, &host("four"), "/status/200").await;
        assert_eq!(code, 400, "{body}");
        assert!(body.contains("Bad request"), "{body}");
    }
    runtime_error => |gw, host| {
        let (code, body) = get(&gw, &host("nine"), "/status/200").await;
        assert_eq!(code, 500, "{body}");
        let json: Value = serde_json::from_str(&body).expect("JSON");
        let message = json["message"].as_str().unwrap_or_default();
        assert!(message.contains("An unexpected error occurred"), "{json}");
    }
    once_on_initialization => |gw, host| {
        assert_eq!(post_count(&gw, &host("seven"), 0).await, 1);
    }
    on_repeated_calls => |gw, host| {
        let mut count = 0;
        for _ in 0..10 {
            count = post_count(&gw, &host("seven"), count).await;
        }
        assert_eq!(count, 10);
    }
    once_with_upvalues => |gw, host| {
        assert_eq!(post_count(&gw, &host("eight"), 0).await, 1);
    }
    repeated_with_upvalues => |gw, host| {
        let mut count = 0;
        for _ in 0..10 {
            count = post_count(&gw, &host("eight"), count).await;
        }
        assert_eq!(count, 10);
    }
    can_access_cache => |gw, host| {
        assert_eq!(get(&gw, &host("eleven"), "/status/200").await, (200, "val".into()));
    }
    no_gateway_information_through_cache => |gw, host| {
        assert_eq!(get(&gw, &host("twelve"), "/status/200").await, (200, "nil".into()));
    }
    can_access_configuration => |gw, host| {
        assert_eq!(get(&gw, &host("thirteen"), "/status/200").await, (200, "bundled".into()));
    }
    redacts_sensitive_configuration => |gw, host| {
        let (code, body) = get(&gw, &host("fourteen"), "/status/200").await;
        assert_eq!(code, 200, "{body}");
        assert!(!body.is_empty() && body.chars().all(|c| c == '*'), "{body}");
    }
    query_cleared_9246 => |gw, host| {
        let (code, body) = get(&gw, &host("ten"), "/status/200?a=b").await;
        assert_eq!(code, 200, "{body}");
        let json: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(json["query"], Value::Null, "no query arguments reach the upstream: {json}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_serverless_access_spec() {
    let upstream = echo_upstream("mock").await;
    let (gw, _dir) = gateway_with_token(1, "access-spec-token");
    setup(&gw, upstream).await;
    let mut c: Vec<Case> = Vec::new();
    c.push((
        "Plugin: serverless-functions priority of plugins".into(),
        Box::new(|gw| -> CaseFuture { Box::pin(priority_of_plugins(gw)) }),
    ));
    for plugin in PLUGINS {
        let d = format!("Plugin: {plugin} (by phase=functions) access");
        macro_rules! add {
            ($title:expr, $f:ident) => {
                c.push((
                    format!("{d} {}", $title),
                    Box::new(move |gw| -> CaseFuture { Box::pin($f(gw, plugin)) }),
                ));
            };
        }
        add!("request termination using ngx.exit()", using_ngx_exit);
        add!("request termination with upvalues", with_upvalues);
        add!(
            "request termination using ngx.status and exit",
            using_ngx_status_and_exit
        );
        add!(
            "request termination import response utility and send message",
            import_response_utility
        );
        add!(
            "request termination cascading functions for a 400 and exit",
            cascading_functions
        );
        add!(
            "request termination runtime error aborts with a 500",
            runtime_error
        );
        add!(
            "invocation count once on initialization",
            once_on_initialization
        );
        add!("invocation count on repeated calls", on_repeated_calls);
        add!(
            "invocation count once on initialization, with upvalues",
            once_with_upvalues
        );
        add!(
            "invocation count on repeated calls, with upvalues",
            repeated_with_upvalues
        );
        add!("sandbox access can access cache", can_access_cache);
        add!(
            "sandbox access cannot access gateway information through the cache",
            no_gateway_information_through_cache
        );
        add!(
            "sandbox access can access kong.configuration fields",
            can_access_configuration
        );
        add!(
            "sandbox access redacts sensitive configuration fields",
            redacts_sensitive_configuration
        );
        add!(
            "issues does not crash even when query is cleared, #9246",
            query_cleared_9246
        );
    }
    run(F, gw, c).await;
}
