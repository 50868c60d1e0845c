//! Kong's `t/01-pdk/08-response/00-phase_checks.t` TEST 1 and
//! `t/01-pdk/06-service-request/00-phase_checks.t`, the phases in which
//! each `kong.response` / `kong.service.request` function may be called,
//! ported as one Lua checker run in each phase of a route
//! (`tests/common/pdk.rs`): every entry of Kong's table whose answer for
//! the phase is `true` or `false` is called under `pcall`, and any call
//! that succeeds where Kong raises (or the other way round) is printed.
//!
//! | file | Kong's blocks | ported | passing | n/a |
//! |---|---|---|---|---|
//! | 08-response/00-phase_checks.t | 12 | 1 | 1 | 0 |
//! | 06-service-request/00-phase_checks.t | 1 | 1 | 1 | 0 |
//!
//! `kong.service.request`'s `enable_buffering` does not exist yet; its
//! entry is left out. `enable_tls` and `disable_tls` are "forced false"
//! in every HTTP phase (they belong to the stream subsystem): not checked.
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

/// 08-response's table for TEST 1: method, arguments, and the answer in access,
/// header_filter and body_filter (`nil`: not checked).
const RESPONSE: &str = r#"local data = {
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
local module = kong.response"#;

/// 06-service-request's table: in the filters, Kong's answer is "forced
/// false" (not checked) but for the body setters.
const SERVICE_REQUEST: &str = r#"local data = {
    { "set_scheme", { "http" }, true },
    { "set_method", { "GET" }, true },
    { "set_path", { "/" }, true },
    { "set_raw_query", { "foo=bar&baz=bla" }, true },
    { "set_query", { { foo = "bar", baz = "bla" } }, true },
    { "clear_query_arg", { "foo" }, true },
    { "set_header", { "X-Foo", "bar" }, true },
    { "add_header", { "X-Foo", "bar" }, true },
    { "clear_header", { "X-Foo" }, true },
    { "set_headers", { { ["X-Foo"] = "bar" } }, true },
    { "set_raw_body", { "foo" }, true, false, false },
    { "set_body", { { foo = "bar" }, "application/json" }, true, false, false },
}
local module = kong.service.request"#;

/// Calls every entry of `data` that has an answer for this phase.
const CHECK: &str = r#"local column = { access = 3, header_filter = 4, body_filter = 5 }
local phase = ngx.get_phase()
local bad = ngx.ctx.bad or {}
for _, d in ipairs(data) do
    local want = d[column[phase]]
    if want ~= nil then
        local ok, err = pcall(module[d[1]], table.unpack(d[2]))
        if ok ~= want then
            bad[#bad + 1] = phase .. " " .. d[1] .. ": " .. tostring(err)
        end
    end
end
ngx.ctx.bad = bad"#;

/// A route whose access, header_filter and body_filter run `table`'s
/// checks; the body is "ok" or the calls that answered otherwise.
fn checked(title: &str, table: &str) -> Block {
    let checker = format!("{table}\n{CHECK}");
    let body_filter = format!(
        "{checker}\nngx.arg[1] = #bad == 0 and \"ok\" or table.concat(bad, \"\\n\")\nngx.arg[2] = true"
    );
    Block::new(title, &checker, "ok")
        .upstream("")
        .also("header_filter", &checker)
        .also("body_filter", &body_filter)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_response_phase_checks() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::spawn_with(tmp.path(), 1, &[], &[]);
    let b = vec![checked(
        "TEST 1: verify phase checking in kong.response",
        RESPONSE,
    )];
    common::kong::run("t/01-pdk/08-response/00-phase_checks.t", gw, cases(b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_service_request_phase_checks() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::spawn_with(tmp.path(), 1, &[], &[]);
    // The checks send the request to `/` (`set_path`): the upstream is there.
    let b = vec![checked(
        "TEST 1: verify phase checking in kong.service.request",
        SERVICE_REQUEST,
    )
    .upstream_at("/")];
    common::kong::run(
        "t/01-pdk/06-service-request/00-phase_checks.t",
        gw,
        cases(b),
    )
    .await;
}
