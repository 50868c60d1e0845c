//! Kong's `t/01-pdk/08-response/00-phase_checks.t` TEST 1, the phases in
//! which each `kong.response` function may be called, ported as one Lua
//! checker run in each phase of a route (`tests/common/pdk.rs`): every
//! entry of Kong's table whose answer for the phase is `true` or `false`
//! is called under `pcall`, and any call that succeeds where Kong raises
//! (or the other way round) is printed.
//!
//! | file | Kong's blocks | ported | passing | n/a |
//! |---|---|---|---|---|
//! | 00-phase_checks.t | 12 | 1 | 1 | 0 |
//!
//! Kong's entries marked "pending" or "forced false" (not decided by the
//! PDK itself) are not checked; `exit` and `error` end the request, so
//! their entries are left to TEST 2-12, not ported yet (they can apply).
//! TEST 1's `rewrite` (global plugins only), `log` (nothing can be
//! printed after the response), `response`, `admin_api`, `init_worker`
//! and `certificate` columns are not checked here.

mod common;

use common::pdk::{cases, Block};
use common::Gateway;

/// Kong's table for TEST 1: method, arguments, and the answer in access,
/// header_filter and body_filter (`nil`: not checked).
const CHECKER: &str = r#"local data = {
    { "get_status", {}, false, true, true },
    { "get_header", { "X-Foo" }, false, true, true },
    { "get_headers", {}, false, true, true },
    { "get_headers", { 100 }, false, true, true },
    { "set_status", { 200 }, true, true, false },
    { "set_header", { "X-Foo", "bar" }, true, true, false },
    { "add_header", { "X-Foo", "bar" }, true, true, false },
    { "clear_header", { "X-Foo" }, true, true, false },
    { "set_headers", { { ["X-Foo"] = "bar" } }, true, true, false },
    { "get_source", {}, nil, true, true },
    { "get_raw_body", {}, false, false, true },
    { "set_raw_body", { "lorem, ipsum" }, false, false, true },
}
local column = { access = 3, header_filter = 4, body_filter = 5 }
local phase = ngx.get_phase()
local bad = ngx.ctx.bad or {}
for _, d in ipairs(data) do
    local want = d[column[phase]]
    if want ~= nil then
        local ok, err = pcall(kong.response[d[1]], table.unpack(d[2]))
        if ok ~= want then
            bad[#bad + 1] = phase .. " " .. d[1] .. ": " .. tostring(err)
        end
    end
end
ngx.ctx.bad = bad"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_response_phase_checks() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::spawn_with(tmp.path(), 1, &[], &[]);
    let body_filter = format!(
        "{CHECKER}\nngx.arg[1] = #bad == 0 and \"ok\" or table.concat(bad, \"\\n\")\nngx.arg[2] = true"
    );
    let b = vec![Block::new(
        "TEST 1: verify phase checking in kong.response",
        CHECKER,
        "ok",
    )
    .upstream("")
    .also("header_filter", CHECKER)
    .also("body_filter", &body_filter)];
    common::kong::run("t/01-pdk/08-response/00-phase_checks.t", gw, cases(b)).await;
}
