//! Kong's `kong.node` specs for the node's id, host name and memory
//! (`t/01-pdk/12-node`), ported block by block (`tests/common/pdk.rs`),
//! one gateway per spec file. Kong's `--- response_body_like` blocks are
//! matched as regular expressions.
//!
//! | file | Kong's blocks | ported | passing | n/a | not ported |
//! |---|---|---|---|---|---|
//! | 01-get_id.t | 1 | 1 | 1 | 0 | 0 |
//! | 02-get_memory_stats.t | 10 | 9 | 9 | 1 | 0 |
//! | 03-get_hostname.t | 1 | 1 | 1 | 0 | 0 |
//!
//! (00-phase_checks.t is in `tests/kong_pdk_phase_checks.rs`.)
//!
//! Adapted, 02-get_memory_stats.t: each Kong block starts its own nginx,
//! whose `init_worker_by_lua_block` may write this worker's report
//! (`runloop_handler._update_lua_mem(true)`) or mock ones into
//! `ngx.shared.kong`; here the block's function does the same first, on a
//! `kong` dict emptied of reports (`--untrusted-lua on`: Kong's sandbox
//! hides `ngx.shared`). TEST 10's mocked `collectgarbage("count")` of 1
//! is the report it leads to. The dicts are lunagate's: `kong` of 5 MiB
//! (Kong's template) and `kong_db_cache` of `mem_cache_size` (128 MiB),
//! where Kong's blocks configure 24-64 KiB, so the patterns match those
//! (`src/pdk/node.rs` says what is reported).
//!
//! Not applicable, 02-get_memory_stats.t TEST 9 (no `lua_shared_dict` at
//! all): the node always has its `kong` dict, as Kong's template always
//! declares it, and Kong refuses to start without it (`kong/init.lua`:
//! `missing shared dict '…'`); no configuration of either reaches it.
//!
//! 03-get_hostname.t's only block calls `get_id()` (a copy of 01's), and
//! its pattern is a host name's, which a UUID matches; it is ported as
//! written (the pattern without its look-arounds, which Rust's regex
//! lacks, plus the same conditions checked apart), and
//! `get_hostname()` has a case of its own.

mod common;

use std::sync::Arc;

use common::kong::{get, run, Case, CaseFuture};
use common::pdk::{function_of, request, route_with, Block};
use common::Gateway;

/// A block whose answer must match `pattern` (`--- response_body_like`).
fn like(title: &str, lua: &str, pattern: impl Into<String>) -> Case {
    let lua = lua.to_string();
    let pattern: String = pattern.into();
    let title = title.to_string();
    let t = title.clone();
    let case = move |gw: Arc<Gateway>| -> CaseFuture {
        let lua = lua.clone();
        let title = t.clone();
        let pattern = pattern.clone();
        Box::pin(async move {
            let path = route_with(&gw, "access", &[function_of(&lua)]).await;
            let b = Block::new(&title, &lua, "");
            let gw2 = gw.clone();
            let resp = tokio::task::spawn_blocking(move || request(&gw2, &b, &path))
                .await
                .expect("request");
            let body = resp.text();
            assert_eq!(resp.status, 200, "{body}");
            let re = regex::Regex::new(&pattern).expect("pattern");
            assert!(re.is_match(&body), "{body:?} does not match {pattern:?}");
        })
    };
    (title, Box::new(case))
}

/// A gateway of two workers (Kong's blocks run `workers(2)`) without the
/// sandbox (`collectgarbage`).
fn two_workers() -> (Gateway, tempfile::TempDir) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::spawn_with(tmp.path(), 2, &["--untrusted-lua", "on"], &[]);
    (gw, tmp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_node_get_id() {
    let (gw, _tmp) = two_workers();
    let c = vec![
        like(
            "TEST 1: node.get_id() returns node identifier",
            r#"math.randomseed(ngx.time())

ngx.say(pdk.node.get_id())"#,
            "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        ),
        (
            "the id is the node's: the Admin API's node_id, the same on every worker".into(),
            Box::new(|gw: Arc<Gateway>| -> CaseFuture {
                Box::pin(async move {
                    let info = get(&gw, "/").await;
                    let want = format!("{}\n", info.json["node_id"].as_str().expect("node_id"));
                    let path =
                        route_with(&gw, "access", &[function_of("ngx.say(kong.node.get_id())")])
                            .await;
                    for _ in 0..8 {
                        let gw2 = gw.clone();
                        let p = path.clone();
                        let b = Block::new("id", "", "");
                        let resp = tokio::task::spawn_blocking(move || request(&gw2, &b, &p))
                            .await
                            .expect("request");
                        assert_eq!(resp.text(), want);
                    }
                })
            }),
        ),
    ];
    run("t/01-pdk/12-node/01-get_id.t", gw, c).await;
}

/// Kong's 02-get_memory_stats.t printer.
const PRINT: &str = r#"local dicts = {}
for name, info in pairs(res.lua_shared_dicts) do
    dicts[#dicts+1] = { name = name, info = info }
end

table.sort(dicts, function(a, b) return a.name < b.name end)

ngx.say("lua_shared_dicts")
for _, dict in ipairs(dicts) do
    ngx.say("  ", dict.name, ": ",
            dict.info.allocated_slabs, "/", dict.info.capacity)
end

ngx.say("workers_lua_vms")
for _, worker_info in ipairs(res.workers_lua_vms) do
    ngx.say("  ", worker_info.pid, ": ",
            worker_info.http_allocated_gc or worker_info.err)
end"#;

/// A fresh nginx's `kong` dict for the block: no worker's report (each
/// Kong block starts its own nginx).
const FRESH: &str = r#"for _, key in ipairs(ngx.shared.kong:get_keys(0)) do
    if key:find("kong:mem:", 1, true) then ngx.shared.kong:delete(key) end
end"#;

/// Kong's `init_worker_by_lua_block { runloop_handler._update_lua_mem(true) }`:
/// this worker's report, now.
const UPDATE_LUA_MEM: &str =
    r#"ngx.shared.kong:safe_set("kong:mem:" .. ngx.worker.pid(), collectgarbage("count"))"#;

/// The dicts' lines: Kong's blocks configure `kong` and `kong_db_cache`
/// of 24-64 KiB; lunagate's are 5 MiB (Kong's template) and
/// `mem_cache_size`.
const DICTS: &str = r"lua_shared_dicts\n  kong: \d+/5242880\n  kong_db_cache: \d+/134217728\n";
const DICTS_KIB: &str = r"lua_shared_dicts\n  kong: \d+\.\d{2} KiB/5120\.00 KiB\n  kong_db_cache: \d+\.\d{2} KiB/131072\.00 KiB\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_node_get_memory_stats() {
    let (gw, _tmp) = two_workers();
    let stats = |setup: &str, args: &str| {
        format!("{FRESH}\n{setup}\nlocal res = pdk.node.get_memory_stats({args})\n{PRINT}")
    };
    let c = vec![
        like(
            "TEST 1: node.get_memory_stats() returns Lua VM and lua_shared_dict stats",
            &stats(
                &format!("{UPDATE_LUA_MEM}\nngx.shared.kong:set(\"kong:mem:foo\", \"garbage\")"),
                "",
            ),
            format!(r"\A{DICTS}workers_lua_vms\n  (?:\d+: \d+\s*){{1,2}}\z"),
        ),
        like(
            "TEST 2: node.get_memory_stats() returns workers Lua VM reports in PID ascending order",
            &stats(
                &format!(
                    "{UPDATE_LUA_MEM}\nngx.shared.kong:set(\"kong:mem:1\", 1234)\n\
                     ngx.shared.kong:set(\"kong:mem:2\", 1234)"
                ),
                "",
            ),
            format!(
                r"{DICTS}workers_lua_vms\n  1: 1263616\n  2: 1263616\n  (?:\d+: \d+\s*){{1,2}}"
            ),
        ),
        like(
            "TEST 3: node.get_memory_stats() accepts 'unit' argument",
            &stats(UPDATE_LUA_MEM, r#""k""#),
            format!(r"{DICTS_KIB}workers_lua_vms\n  (?:\d+: \d+\.\d{{2}} KiB\s*){{1,2}}"),
        ),
        like(
            "TEST 4: node.get_memory_stats() 'unit = b' returns Lua numbers",
            &format!(
                "{}\nfor _, d in pairs(res.lua_shared_dicts) do\n\
                 assert(type(d.allocated_slabs) == \"number\")\n\
                 assert(type(d.capacity) == \"number\")\nend\n\
                 for _, w in ipairs(res.workers_lua_vms) do\n\
                 assert(type(w.http_allocated_gc) == \"number\")\nend",
                stats(UPDATE_LUA_MEM, r#""b""#)
            ),
            format!(r"{DICTS}workers_lua_vms\n  (?:\d+: \d+\s*){{1,2}}"),
        ),
        like(
            "TEST 5: node.get_memory_stats() accepts 'scale' argument",
            &stats(UPDATE_LUA_MEM, r#""k", 4"#),
            r"lua_shared_dicts\n  kong: \d+\.\d{4} KiB/5120\.0000 KiB\n  kong_db_cache: \d+\.\d{4} KiB/131072\.0000 KiB\nworkers_lua_vms\n  (?:\d+: \d+\.\d{4} KiB\s*){1,2}",
        ),
        like(
            "TEST 6: node.get_memory_stats() validates arguments",
            r#"local pok, perr = pcall(pdk.node.get_memory_stats, "V")
if not pok then
    ngx.say(perr)
end

local pok, perr = pcall(pdk.node.get_memory_stats, "k", -1)
if not pok then
    ngx.say(perr)
end"#,
            r"\Ainvalid unit 'V' \(expected 'k/K', 'm/M', or 'g/G'\)\nscale must be equal or greater than 0\n\z",
        ),
        like(
            "TEST 7: node.get_memory_stats() handles bad workers Lua VM reports (no reports)",
            &stats("-- NOTE: workers are not reporting Lua VM GC", ""),
            format!(r"\A{DICTS}workers_lua_vms\n\z"),
        ),
        like(
            "TEST 8: node.get_memory_stats() handles bad workers Lua VM reports (corrupted report)",
            &stats(
                &format!(
                    "{UPDATE_LUA_MEM}\nngx.shared.kong:set(\"kong:mem:1\", \"garbage\")\n\
                     -- NOTE: delete memory report for this worker\n\
                     ngx.shared.kong:delete(\"kong:mem:\" .. ngx.worker.pid())"
                ),
                "",
            ),
            format!(
                r"{DICTS}workers_lua_vms\n  1: could not get worker's HTTP Lua VM memory \(pid: 1\): reported value is corrupted(?:\s*\d+: \d+\s*){{0,2}}"
            ),
        ),
        like(
            "TEST 10: node.get_memory_stats() converts count to bytes",
            &format!(
                "{FRESH}\n-- collectgarbage(\"count\") mocked to 1 (KiB), then reported\n\
                 ngx.shared.kong:safe_set(\"kong:mem:\" .. ngx.worker.pid(), 1)\n\
                 local res = pdk.node.get_memory_stats()\n\
                 ngx.say(\"workers_lua_vms\")\n\
                 for _, worker_info in ipairs(res.workers_lua_vms) do\n\
                 ngx.say(\"  \", worker_info.pid, \": \", worker_info.http_allocated_gc or worker_info.err)\n\
                 end"
            ),
            r"\Aworkers_lua_vms\n  (?:\d+: 1024\s*){1,2}\z",
        ),
    ];
    run("t/01-pdk/12-node/02-get_memory_stats.t", gw, c).await;
}

/// Kong's pattern for a host name, without the look-arounds: labels of
/// letters, digits and `-`, not starting or ending with `-`.
const HOST_NAME: &str =
    r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*\n$";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_node_get_hostname() {
    let (gw, _tmp) = two_workers();
    let c = vec![
        like(
            "TEST 1: node.get_id() returns node identifier",
            r#"math.randomseed(ngx.time())

ngx.say(pdk.node.get_id())"#,
            HOST_NAME,
        ),
        (
            "get_hostname() is the machine's host name".into(),
            Box::new(|gw: Arc<Gateway>| -> CaseFuture {
                Box::pin(async move {
                    let want = std::fs::read_to_string("/proc/sys/kernel/hostname")
                        .expect("hostname")
                        .trim()
                        .to_string();
                    let path = route_with(
                        &gw,
                        "access",
                        &[function_of("ngx.say(kong.node.get_hostname())")],
                    )
                    .await;
                    let b = Block::new("hostname", "", "");
                    let gw2 = gw.clone();
                    let resp = tokio::task::spawn_blocking(move || request(&gw2, &b, &path))
                        .await
                        .expect("request");
                    assert_eq!(resp.text(), format!("{want}\n"));
                })
            }),
        ),
    ];
    run("t/01-pdk/12-node/03-get_hostname.t", gw, c).await;
}
