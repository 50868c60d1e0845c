//! Kong's `kong.table` and `kong.ctx` specs, `t/01-pdk/01-table.t` and
//! `t/01-pdk/11-ctx.t`, ported block by block as `tests/common/pdk.rs`
//! does (the block's Lua is a pre-function's access code, `pdk` is
//! `kong`, `ngx.exit(200)` sends what it printed), one gateway per spec
//! file.
//!
//! | file | Kong's blocks | ported | n/a | not ported |
//! |---|---|---|---|---|
//! | 01-table.t | 3 | 3 | 0 | 0 |
//! | 11-ctx.t | 2 | 2 | 0 | 0 |
//!
//! Adapted: 01-table.t TEST 3 prints the merged tables with
//! `require "inspect"` and `{ newline = "", indent = "" }`, a module a
//! function cannot require; here a few lines of Lua print these flat
//! tables as inspect does (the same expected text). 11-ctx.t TEST 2 makes
//! two PDK instances; a function has one `kong`, so `pdk1` and `pdk2` are
//! both it (the block asserts that `ctx.shared` is one table per request).

mod common;

use common::pdk::{cases, Block};
use common::Gateway;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_table() {
    let blocks = vec![
        Block::new(
            "TEST 1: table.new()",
            "pdk.table.new(0, 12)\n\nngx.say(\"ok\")",
            "ok\n",
        ),
        Block::new(
            "TEST 2: table.clear()",
            r##"local t = {
    hello = "world",
    "foo",
    "bar"
}

pdk.table.clear(t)

ngx.say("hello: ", nil)
ngx.say("#t: ", #t)"##,
            "hello: nil\n#t: 0\n",
        ),
        Block::new(
            "TEST 3: table.merge()",
            r##"-- inspect(x, { newline = "", indent = "" }) of a flat table
local function insp(t)
    local parts = {}
    if #t > 0 then
        for i = 1, #t do parts[i] = tostring(t[i]) end
        return "{ " .. table.concat(parts, ", ") .. " }"
    end
    local keys = {}
    for k in pairs(t) do keys[#keys + 1] = k end
    table.sort(keys)
    for i, k in ipairs(keys) do parts[i] = k .. ' = "' .. t[k] .. '"' end
    return "{" .. table.concat(parts, ",") .. "}"
end

ngx.say(insp(pdk.table.merge({ x = "hello" }, { y = "world" })))
ngx.say(insp(pdk.table.merge({ x = "hello" }, {})))
ngx.say(insp(pdk.table.merge({}, { y = "world" })))
ngx.say(insp(pdk.table.merge({ x = "hello" }, { x = "world" })))
ngx.say(insp(pdk.table.merge({1, 2, 3, 4, 5}, {6, 7, 8})))
ngx.say(insp(pdk.table.merge({ x = "hello" }, nil)))
ngx.say(insp(pdk.table.merge(nil, { y = "world" })))"##,
            r#"{x = "hello",y = "world"}
{x = "hello"}
{y = "world"}
{x = "world"}
{ 6, 7, 8, 4, 5 }
{x = "hello"}
{y = "world"}
"#,
        ),
    ];
    let gw = Gateway::start_with_workers(1);
    common::kong::run("t/01-pdk/01-table.t", gw, cases(blocks)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_ctx() {
    let blocks = vec![
        Block::new(
            "TEST 1: ctx.shared namespace exists",
            r#"pdk.ctx.shared.hello = "world"
pdk.ctx.shared.cats = {
  "marry",
  "suzie"
}

ngx.say(pdk.ctx.shared.hello)
ngx.say(pdk.ctx.shared.cats[1])
ngx.say(ngx.ctx.shared)
ngx.say(ngx.ctx.hello)"#,
            "world\nmarry\nnil\nnil\n",
        ),
        Block::new(
            "TEST 2: ctx.shared namespace is shared between PDK instances",
            r#"local pdk1 = kong
local pdk2 = kong

pdk1.ctx.shared.hello = "world"

ngx.say(pdk2.ctx.shared.hello)"#,
            "world\n",
        ),
    ];
    let gw = Gateway::start_with_workers(1);
    common::kong::run("t/01-pdk/11-ctx.t", gw, cases(blocks)).await;
}
