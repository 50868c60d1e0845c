//! `kong.cache` and `kong.configuration` as functions use them. Kong has
//! no `t/01-pdk` file for either (its serverless spec's cases are in
//! `tests/kong_serverless_access.rs`); these cases follow Kong's
//! `kong/cache/init.lua` and lua-resty-mlcache's `get`/`peek` (return
//! values, messages) and `kong/pdk/init.lua` (the read-only
//! configuration), on one gateway whose Admin API wants a token (so
//! `admin_token` is set and must read redacted).

mod common;

use std::sync::Arc;

use common::kong::{run, Case, CaseFuture};
use common::pdk::{cases, function_of, gateway_with_token, route_with, Block};
use common::Gateway;

const TOKEN: &str = "node-test-token";

fn blocks() -> Vec<Block> {
    vec![
        Block::new(
            "kong.cache:get runs the loader once, with its arguments, then hits",
            r#"local calls = 0
local function loader(a, b) calls = calls + 1 return a .. b end
local v1, err1, lvl1 = kong.cache:get("get-once", nil, loader, "v", "al")
local v2, err2, lvl2 = kong.cache:get("get-once", nil, loader, "x", "y")
local v3 = kong.cache:get("get-once")
ngx.say(v1, " ", tostring(err1), " ", lvl1)
ngx.say(v2, " ", tostring(err2), " ", lvl2)
ngx.say(v3, " calls=", calls)"#,
            "val nil 3\nval nil 2\nval calls=1\n",
        ),
        Block::new(
            "kong.cache:get keeps numbers, booleans and strings as they are",
            r#"kong.cache:get("types-i", nil, function() return 42 end)
kong.cache:get("types-f", nil, function() return 1.5 end)
kong.cache:get("types-b", nil, function() return false end)
local i, f, b = kong.cache:get("types-i"), kong.cache:get("types-f"), kong.cache:get("types-b")
ngx.say(math.type(i), " ", i, " ", f, " ", type(b), " ", tostring(b))"#,
            "integer 42 1.5 boolean false\n",
        ),
        Block::new(
            "kong.cache:get gives each hit its own copy of a table",
            r#"local first = kong.cache:get("copied", nil, function() return { n = 1, list = { "a", "b" } } end)
first.n = 99
local hit = kong.cache:get("copied")
hit.list[1] = "changed"
local again = kong.cache:get("copied")
ngx.say(hit.n, " ", again.list[1], " ", #again.list, " ", tostring(hit == again))"#,
            "1 a 2 false\n",
        ),
        Block::new(
            "kong.cache:get caches a loader's nil (negative entry)",
            r#"local calls = 0
local function loader() calls = calls + 1 return nil end
local v1, e1, l1 = kong.cache:get("negative", nil, loader)
local v2, e2, l2 = kong.cache:get("negative", nil, loader)
ngx.say(tostring(v1), " ", tostring(e1), " ", l1, " ", tostring(v2), " ", l2, " calls=", calls)"#,
            "nil nil 3 nil 2 calls=1\n",
        ),
        Block::new(
            "kong.cache:get reports a loader that raises, and caches nothing",
            r#"local v, err = kong.cache:get("raises", nil, function() error("loader broke", 0) end)
ngx.say(tostring(v), " | ", err)
ngx.say(tostring(kong.cache:probe("raises")))"#,
            "nil | failed to get from node cache: callback threw an error: loader broke\nnil\n",
        ),
        Block::new(
            "kong.cache:get reports a loader's error value",
            r#"local v, err = kong.cache:get("loader-err", nil, function() return nil, "no such thing" end)
ngx.say(tostring(v), " | ", err)"#,
            "nil | failed to get from node cache: no such thing\n",
        ),
        Block::new(
            "kong.cache:get refuses a value it cannot serialize",
            r#"local ok, err = pcall(kong.cache.get, kong.cache, "fn", nil, function() return print end)
ngx.say(tostring(ok), " | ", err)"#,
            "false | cannot cache value of type function\n",
        ),
        Block::new(
            "kong.cache:get checks its arguments with Kong's messages",
            r#"local function try(...) local _, e = pcall(kong.cache.get, kong.cache, ...) ngx.say(e) end
try(1)
try("k", "opts")
try("k", { ttl = "x" })
try("k", { ttl = -1 })
try("k", { neg_ttl = -1 })
try("k", nil, "not a function")"#,
            "key must be a string\nopts must be a table\nopts.ttl must be a number\nopts.ttl must be >= 0\nopts.neg_ttl must be >= 0\ncallback must be a function\n",
        ),
        Block::new(
            "kong.cache:probe answers ttl, nil, value; nothing on a miss",
            r#"ngx.say(tostring(kong.cache:probe("probe-miss")))
kong.cache:get("probe-ttl", { ttl = 100 }, function() return "v" end)
local ttl, err, v = kong.cache:probe("probe-ttl")
ngx.say(tostring(ttl > 0 and ttl <= 100), " ", tostring(err), " ", v)
kong.cache:get("probe-forever", nil, function() return { 1, 2 } end)
local ttl2, _, t = kong.cache:probe("probe-forever")
ngx.say(ttl2, " ", #t)"#,
            "nil\ntrue nil v\n0 2\n",
        ),
        Block::new(
            "kong.cache:invalidate and invalidate_local drop the entry",
            r#"local n = 0
local function loader() n = n + 1 return "v" .. n end
kong.cache:get("inv", nil, loader)
kong.cache:invalidate("inv")
ngx.say((kong.cache:get("inv", nil, loader)))
kong.cache:invalidate_local("inv")
ngx.say((kong.cache:get("inv", nil, loader)))
local _, e = pcall(kong.cache.invalidate, kong.cache, 5)
ngx.say(e)"#,
            "v2\nv3\nkey must be a string\n",
        ),
        Block::new(
            "kong.cache has no cluster_events",
            "ngx.say(tostring(kong.cache.cluster_events))",
            "nil\n",
        ),
        Block::new(
            "kong.configuration has the node's settings as Kong names them",
            r#"local c = kong.configuration
ngx.say(c.plugins[1], " ", tostring(c.loaded_plugins["pre-function"]), " ", c.client_body_buffer_size)
ngx.say(type(c.proxy_listen[1]), " ", c.nginx_worker_processes, " ", c.log_level)"#,
            "bundled true 8k\nstring 1 warn\n",
        ),
        Block::new(
            "kong.configuration redacts sensitive settings",
            r#"ngx.say(kong.configuration.admin_token, " ", tostring(kong.configuration.pg_password))
ngx.say(kong.configuration.remove_sensitive().admin_token)"#,
            "****** nil\n******\n",
        ),
        Block::new(
            "kong.configuration is read-only",
            r#"local ok, err = pcall(function() kong.configuration.log_level = "debug" end)
ngx.say(tostring(ok), " ", err)
local ok2 = pcall(function() kong.configuration.plugins[1] = "x" end)
ngx.say(tostring(ok2), " ", kong.configuration.plugins[1], " ", kong.configuration.log_level)"#,
            "false [string \"local pdk = kong...\"]:2: cannot write to configuration\nfalse bundled warn\n",
        ),
    ]
}

/// A value one function cached is what another function, on another
/// route, gets: the cache belongs to the node.
async fn shared_between_functions(gw: Arc<Gateway>) {
    let writer = route_with(
        &gw,
        "access",
        &[function_of(
            r#"ngx.say(kong.cache:get("shared-key", nil, function() return { from = "writer" } end).from)"#,
        )],
    )
    .await;
    let reader = route_with(
        &gw,
        "access",
        &[function_of(
            r#"local v = kong.cache:get("shared-key") ngx.say(v and v.from or "miss")"#,
        )],
    )
    .await;
    let get = |path: String| {
        let gw = gw.clone();
        async move {
            let r = gw.get(&path).await;
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    assert_eq!(get(reader.clone()).await, (200, "miss\n".to_string()));
    assert_eq!(get(writer).await, (200, "writer\n".to_string()));
    assert_eq!(get(reader).await, (200, "writer\n".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_node() {
    let (gw, _dir) = gateway_with_token(1, TOKEN);
    let mut c: Vec<Case> = cases(blocks());
    c.push((
        "kong.cache is shared by the node's functions".into(),
        Box::new(|gw| -> CaseFuture { Box::pin(shared_between_functions(gw)) }),
    ));
    run("kong.cache / kong.configuration", gw, c).await;
}
