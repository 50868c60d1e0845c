//! Kong's `00-phase_checks.t` for `t/01-pdk/08-response`,
//! `06-service-request`, `07-service-response`, `13-router`, `04-request`,
//! `05-client`, `02-log` and `12-node`: the
//! phases in which each function of the module may be called. TEST 1 of
//! each is one Lua checker run in each phase (`tests/common/pdk.rs`):
//! access, header_filter, body_filter and log of one route, and rewrite
//! (a global function's, as Kong runs rewrite) for a second request.
//! Every entry of Kong's table whose answer for the phase is decided by
//! the PDK is called under `pcall`; a call that succeeds where Kong raises
//! (or the other way round) is reported, and so is a refusal whose text
//! is not Kong's `function cannot be called in X phase (only in: …)`
//! with Kong's whole phase list. 08-response's TEST 2-12 call
//! `kong.response.exit` in one phase each; as in Kong (`no_error_log
//! [error]`), the checker logs what went wrong, and the test reads the
//! gateway's log and the response the exit made.
//!
//! | file | Kong's blocks | ported | passing | n/a |
//! |---|---|---|---|---|
//! | 08-response/00-phase_checks.t | 12 | 12 | 12 | 0 |
//! | 06-service-request/00-phase_checks.t | 1 | 1 | 1 | 0 |
//! | 07-service-response/00-phase_checks.t | 1 | 1 | 1 | 0 |
//! | 13-router/00-phase_checks.t | 1 | 1 | 1 | 0 |
//! | 04-request/00-phase_checks.t | 1 | 1 | 1 | 0 |
//! | 05-client/00-phase_checks.t | 1 | 1 | 1 | 0 |
//! | 02-log/00-phase_checks.t | 1 | 1 | 1 | 0 |
//! | 12-node/00-phase_checks.t | 1 | 1 | 1 | 0 |
//! | 09-service/00-phase_checks.t | 2 | 1 | 1 | 1 (stream/TLS: TEST 2, the stream subsystem) |
//! | 10-nginx/00-phase_checks.t | 1 | 1 | 1 | 0 |
//! | 14-client-tls/00-phase_checks.t | 1 | 1 | 1 | 0 |
//!
//! 14-client-tls's `certificate` column is checked by `tests/tls.rs`
//! (`request_client_certificate` and `disable_session_reuse` there, the
//! others refused); Kong's `client_hello` phase has no functions here.
//!
//! Kong's checker calls each function twice, with OpenResty's answer and
//! with the PDK's phase check; a function here has only the second, so an
//! entry marked "forced false" (refused by the phase check alone) is
//! expected to raise, and "pending" entries are not checked. Columns of
//! phases no function runs in are not checked: `init_worker`,
//! `certificate` (`tests/tls.rs` covers it), `response` (Kong's own
//! content phase) and `admin_api` (TEST 1). `exit` and `error` end the
//! request, so TEST 1 checks them where they raise; TEST 2-12 check
//! where they succeed.
//!
//! Adapted: 08-response's TEST 10-12 run Kong's checker for its
//! `admin_api` phase (Kong's Admin API, where no function runs) from an
//! `access_by_lua_block`: here the same calls are a function's in access.
//! The upstream answers "upstream\n" (Kong's `return 200` is empty) so a
//! response the exit made can be told from the upstream's. TEST 2's
//! `ngx.header["Content-Length"] = 0` is left out: it repairs nginx's
//! answer after Kong's header_filter checks, which are "pending" there.
//! 09-service's `set_target` and `set_timeouts` are called twice (see
//! [`service_table`]) so the access check's request still reaches its
//! upstream; its `set_target_retry_callback` does not exist yet and its
//! `set_tls_*` entries (OpenResty's cdata) are stream/TLS: left out.
//! `kong.service.request`'s `enable_tls` and `disable_tls` are "forced false"
//! in every HTTP phase (they belong to the stream subsystem): not checked.
//! 07-service-response's `get_raw_body` and `get_body` are "pending" in
//! every phase; 13-router's mocked `kong.runloop.balancer` is not used by
//! its two entries. Entries of functions that do not exist yet are left
//! out: 02-log's `new`, `set_format` and `emerg`. 02-log's `serialize` gets an
//! empty options table (Kong's mocks `ngx` and `kong`, which ours ignores).
//! 04-request's `error` column (`get_uri_captures`) is not checked.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::kong::{Case, CaseFuture};
use common::pdk::{cases, Block};
use common::Gateway;

/// Kong's phase sets, as its refusal lists them.
const SETS: &str = r#"local RAH = "rewrite, access, balancer, response, header_filter, error, admin_api"
local HBL = "response, header_filter, body_filter, log, error, admin_api"
local BF = "body_filter"
local RA = "rewrite, access"
local RAB = "rewrite, access, balancer"
local SR = "response, header_filter, body_filter, log"
local RT = "access, response, header_filter, body_filter, log"
local REQ = "rewrite, access, balancer, response, cluster_listener, header_filter, body_filter, log, error, admin_api"
local BC = "rewrite, access, response, error, admin_api"
local AL = "access, response, header_filter, body_filter, log"
local L = "log""#;

/// 08-response's table for TEST 1: method, arguments, the answer in
/// rewrite, access, header_filter, body_filter and log (`nil`: not
/// checked), and the phases Kong's refusal lists.
const RESPONSE: &str = r#"local data = {
    { "get_status", {}, false, false, true, true, true, HBL },
    { "get_header", { "X-Foo" }, false, false, true, true, true, HBL },
    { "get_headers", {}, false, false, true, true, true, HBL },
    { "get_headers", { 100 }, false, false, true, true, true, HBL },
    { "set_status", { 200 }, true, true, true, false, false, RAH },
    { "set_header", { "X-Foo", "bar" }, true, true, true, false, false, RAH },
    { "add_header", { "X-Foo", "bar" }, true, true, true, false, false, RAH },
    { "clear_header", { "X-Foo" }, true, true, true, false, false, RAH },
    { "set_headers", { { ["X-Foo"] = "bar" } }, true, true, true, false, false, RAH },
    { "exit", { 200, "Hello, world" }, nil, nil, nil, false, false, RAH },
    { "get_source", {}, false, false, true, true, true, HBL },
    { "error", { 500 }, nil, nil, nil, false, false, RAH },
    { "get_raw_body", {}, false, false, false, true, false, BF },
    { "set_raw_body", { "lorem, ipsum" }, false, false, false, true, false, BF },
}
local module = kong.response"#;

/// 06-service-request's table, as [`RESPONSE`].
const SERVICE_REQUEST: &str = r#"local data = {
    { "enable_buffering", {}, true, true, false, false, false, RAB },
    { "set_scheme", { "http" }, true, true, false, false, false, RAB },
    { "set_method", { "GET" }, true, true, false, false, false, RA },
    { "set_path", { "/" }, true, true, false, false, false, RAB },
    { "set_raw_query", { "foo=bar&baz=bla" }, true, true, false, false, false, RA },
    { "set_query", { { foo = "bar", baz = "bla" } }, true, true, false, false, false, RA },
    { "clear_query_arg", { "foo" }, true, true, false, false, false, RA },
    { "set_header", { "X-Foo", "bar" }, true, true, false, false, false, RAB },
    { "add_header", { "X-Foo", "bar" }, true, true, false, false, false, RA },
    { "clear_header", { "X-Foo" }, true, true, false, false, false, RA },
    { "set_headers", { { ["X-Foo"] = "bar" } }, true, true, false, false, false, RA },
    { "set_raw_body", { "foo" }, true, true, false, false, false, RAB },
    { "set_body", { { foo = "bar" }, "application/json" }, true, true, false, false, false, RA },
}
local module = kong.service.request"#;

/// 07-service-response's table, as [`RESPONSE`] (`get_raw_body` and
/// `get_body` are "pending" in every phase).
const SERVICE_RESPONSE: &str = r#"local data = {
    { "get_status", {}, false, false, true, true, true, SR },
    { "get_headers", {}, false, false, true, true, true, SR },
    { "get_header", { "Host" }, false, false, true, true, true, SR },
}
local module = kong.service.response"#;

/// 09-service's table, as [`RESPONSE`], for a gateway on `port`.
/// `set_target` and `set_timeouts` change where and how the request goes:
/// each is called a second time, with a target and timeouts that let the
/// request reach its upstream route (the gateway itself) and answer.
/// `set_target_retry_callback` does not exist yet, and the `set_tls_*`
/// entries are stream/TLS (OpenResty's cdata and x509 stores): left out.
fn service_table(port: u16) -> String {
    format!(
        r#"local RABP = "rewrite, access, balancer, preread"
local A = "access"
local data = {{
    {{ "set_upstream", {{ "my_upstream" }}, false, true, false, false, false, A }},
    {{ "set_target", {{ "example.com", 8000 }}, true, true, false, false, false, RABP }},
    {{ "set_target", {{ "127.0.0.1", {port} }}, true, true, false, false, false, RABP }},
    {{ "set_retries", {{ 3 }}, false, true, false, false, false, A }},
    {{ "set_timeouts", {{ 1, 2, 3 }}, false, true, false, false, false, A }},
    {{ "set_timeouts", {{ 60000, 60000, 60000 }}, false, true, false, false, false, A }},
}}
local module = kong.service"#
    )
}

/// 10-nginx's table, as [`RESPONSE`].
const NGINX: &str = r#"local data = {
    { "get_subsystem", {}, true, true, true, true, true, "" },
    { "get_statistics", {}, true, true, true, true, true, "" },
}
local module = kong.nginx"#;

/// 13-router's table, as [`RESPONSE`].
const ROUTER: &str = r#"local data = {
    { "get_route", {}, false, true, true, true, true, RT },
    { "get_service", {}, false, true, true, true, true, RT },
}
local module = kong.router"#;

/// 04-request's table, as [`RESPONSE`].
const REQUEST: &str = r#"local data = {
    { "get_scheme", {}, true, true, true, true, true, REQ },
    { "get_host", {}, true, true, true, true, true, REQ },
    { "get_port", {}, true, true, true, true, true, REQ },
    { "get_forwarded_scheme", {}, true, true, true, true, true, REQ },
    { "get_forwarded_host", {}, true, true, true, true, true, REQ },
    { "get_forwarded_port", {}, true, true, true, true, true, REQ },
    { "get_forwarded_path", {}, true, true, true, true, true, REQ },
    { "get_forwarded_prefix", {}, true, true, true, true, true, REQ },
    { "get_http_version", {}, true, true, true, true, true, REQ },
    { "get_method", {}, true, true, true, true, true, REQ },
    { "get_path", {}, true, true, true, true, true, REQ },
    { "get_raw_path", {}, true, true, true, true, true, REQ },
    { "get_path_with_query", {}, true, true, true, true, true, REQ },
    { "get_raw_query", {}, true, true, true, true, true, REQ },
    { "get_query_arg", { "foo" }, true, true, true, true, true, REQ },
    { "get_query", {}, true, true, true, true, true, REQ },
    { "get_query", { 100 }, true, true, true, true, true, REQ },
    { "get_header", { "Host" }, true, true, true, true, true, REQ },
    { "get_headers", {}, true, true, true, true, true, REQ },
    { "get_headers", { 100 }, true, true, true, true, true, REQ },
    { "get_raw_body", {}, true, true, false, false, false, BC },
    { "get_body", { "application/json" }, true, true, false, false, false, BC },
    { "get_body", { "application/x-www-form-urlencoded" }, true, true, false, false, false, BC },
    { "get_start_time", {}, true, true, true, true, true, REQ },
    { "get_uri_captures", {}, true, true, true, true, true, REQ },
}
local module = kong.request"#;

/// 05-client's table, as [`RESPONSE`].
const CLIENT: &str = r#"local data = {
    { "get_ip", {}, true, true, true, true, true, "" },
    { "get_forwarded_ip", {}, true, true, true, true, true, "" },
    { "get_port", {}, true, true, true, true, true, "" },
    { "get_forwarded_port", {}, true, true, true, true, true, "" },
    { "get_credential", {}, false, true, true, true, true, AL },
    { "get_consumer", {}, false, true, true, true, true, AL },
    { "authenticate", { {}, {} }, false, true, false, false, false, "access" },
    { "get_protocol", {}, false, true, true, true, true, AL },
    { "load_consumer", { "bob", true }, false, true, true, true, true, AL },
}
local module = kong.client"#;

/// 02-log's table, as [`RESPONSE`] (`new`, `set_format` and `emerg` do
/// not exist yet: left out; Kong leaves `err` out, it writes an error).
const LOG: &str = r#"local data = {
    { "serialize", { {} }, false, false, false, false, true, L },
    { "set_serialize_value", { "valname", "valvalue" }, true, true, true, true, true, "" },
    { "debug", { "foo" }, true, true, true, true, true, "" },
    { "info", { "foo" }, true, true, true, true, true, "" },
    { "notice", { "foo" }, true, true, true, true, true, "" },
    { "warn", { "foo" }, true, true, true, true, true, "" },
    { "crit", { "foo" }, true, true, true, true, true, "" },
    { "alert", { "foo" }, true, true, true, true, true, "" },
}
local module = kong.log"#;

/// 12-node's table, as [`RESPONSE`].
const NODE: &str = r#"local data = {
    { "get_id", {}, true, true, true, true, true, "" },
    { "get_memory_stats", {}, true, true, true, true, true, "" },
    { "get_hostname", {}, true, true, true, true, true, "" },
}
local module = kong.node"#;

/// 14-client-tls's table, as [`RESPONSE`] (its certificate column is
/// checked by `tests/tls.rs`, where certificate functions run).
const CLIENT_TLS: &str = r#"local CERT = "certificate"
local RABRL = "rewrite, access, balancer, response, log"
local RABR = "rewrite, access, balancer, response"
local data = {
    { "request_client_certificate", {}, false, false, false, false, false, CERT },
    { "disable_session_reuse", {}, false, false, false, false, false, CERT },
    { "get_full_client_certificate_chain", {}, true, true, false, false, true, RABRL },
    { "set_client_verify", { "SUCCESS" }, nil, nil, false, false, false, RABR },
}
local module = kong.client.tls"#;

/// Calls every entry of `data` that has an answer for this phase; `bad`
/// lists the calls that answered otherwise than Kong (log starts afresh:
/// the earlier phases' list was sent in the body).
const CHECK: &str = r#"local column = { rewrite = 3, access = 4, header_filter = 5, body_filter = 6, log = 7 }
local phase = ngx.get_phase()
local bad = (phase ~= "log" and ngx.ctx.bad) or {}
for _, d in ipairs(data) do
    local want = d[column[phase]]
    if want ~= nil then
        local ok, err = pcall(module[d[1]], table.unpack(d[2]))
        local refused = "function cannot be called in " .. phase .. " phase (only in: " .. d[8] .. ")"
        if ok ~= want or (not ok and err ~= refused) then
            bad[#bad + 1] = phase .. " " .. d[1] .. ": " .. tostring(err)
        end
    end
end
ngx.ctx.bad = bad"#;

/// Two requests: one to a route whose access, header_filter, body_filter
/// and log run `table`'s checks (the body is "ok" or the calls that
/// answered otherwise, and log's go to the gateway's log), and one whose
/// rewrite (a global function's) runs them and answers the same way.
fn checked(title: &str, tag: &str, table: &str) -> Vec<Block> {
    let checker = format!("{SETS}\n{table}\n{CHECK}");
    let verdict = "#bad == 0 and \"ok\" or table.concat(bad, \"\\n\")";
    let body_filter = format!("{checker}\nngx.arg[1] = {verdict}\nngx.arg[2] = true");
    let log = format!(
        "{checker}\nfor _, line in ipairs(bad) do kong.log.err(\"PHASECHECK {tag} BAD \", line) end\n\
         kong.log.warn(\"PHASECHECK {tag} done\")"
    );
    let rewrite = format!("{checker}\nreturn kong.response.exit(200, {verdict})");
    vec![
        Block::new(title, &checker, "ok")
            .upstream("")
            .also("header_filter", &checker)
            .also("body_filter", &body_filter)
            .also("log", &log),
        Block::new(title, &rewrite, "ok")
            .phase("rewrite")
            .upstream(""),
    ]
}

/// `kong.response.exit(args)` in the phase it runs in: Kong's answer is
/// `want`. A call that succeeds ends the function (so nothing after it
/// runs, and the response shows it); one that raises must raise Kong's
/// refusal. Anything else is logged as "BAD", a refusal as "refused".
fn exit_check(tag: &str, args: &str, want: bool) -> String {
    format!(
        r#"local phase = ngx.get_phase()
local ok, err = pcall(kong.response.exit, {args})
local refused = "function cannot be called in " .. phase ..
    " phase (only in: rewrite, access, balancer, response, header_filter, error, admin_api)"
if {want} then
    if not ok then kong.log.err("PHASECHECK {tag} BAD ", phase, ": exit raised ", tostring(err)) end
elseif ok or err ~= refused then
    kong.log.err("PHASECHECK {tag} BAD ", phase, ": wanted Kong's refusal, got ", tostring(err))
else
    kong.log.warn("PHASECHECK {tag} ", phase, " refused")
end"#
    )
}

/// The upstream of TEST 2-12 (Kong's `location / { return 200; }`),
/// with a body an exit's response can be told from.
const UPSTREAM: &str = "ngx.say('upstream')";

/// TEST 2 and 3: `exit(args)` in header_filter (`Some(want)`, or not
/// called when Kong's answer is "pending"), body_filter and log (refused).
fn exit_in_filters(title: &str, tag: &str, args: &str, header_filter: Option<bool>) -> Block {
    let want = if header_filter.is_some() {
        ""
    } else {
        "upstream\n"
    };
    let mut b = Block::new(title, "", want).upstream(UPSTREAM);
    if let Some(want) = header_filter {
        b = b.also("header_filter", &exit_check(tag, args, want));
    }
    b.also("body_filter", &exit_check(tag, args, false))
        .also("log", &exit_check(tag, args, false))
}

/// TEST 4-12: `exit(args)` in `phase`, where it answers `want`.
fn exit_in(title: &str, tag: &str, phase: &'static str, args: &str, want: &str) -> Block {
    Block::new(title, &exit_check(tag, args, true), want)
        .phase(phase)
        .upstream(UPSTREAM)
}

/// `blocks`' requests, in order, as one case, then the gateway's log:
/// every `markers` line of `tag` was written and no "BAD" one.
fn logged(tag: &'static str, markers: &'static [&'static str], blocks: Vec<Block>) -> Case {
    let runs = cases(blocks);
    let title = runs[0].0.clone();
    let runs: Vec<_> = runs.into_iter().map(|(_, run)| run).collect();
    let case = move |gw: Arc<Gateway>| -> CaseFuture {
        let sent: Vec<CaseFuture> = runs.iter().map(|run| run(gw.clone())).collect();
        Box::pin(async move {
            for request in sent {
                request.await;
            }
            let line = |m: &str| format!("PHASECHECK {tag} {m}");
            let mut log = gw.log_text();
            for _ in 0..200 {
                if markers.iter().all(|m| log.contains(&line(m))) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
                log = gw.log_text();
            }
            let bad: Vec<&str> = log.lines().filter(|l| l.contains(&line("BAD"))).collect();
            assert!(bad.is_empty(), "{}", bad.join("\n"));
            for m in markers {
                assert!(log.contains(&line(m)), "no {:?} in the log", line(m));
            }
        })
    };
    (title, Box::new(case))
}

const TABLE: &str = "200, { message = \"Hello\" }, { [\"X-Foo\"] = \"bar\" }";
const TABLE_BODY: &str = r#"{"message":"Hello"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_response_phase_checks() {
    let gw = Gateway::start_logged(1);
    let filters: &[&str] = &["body_filter refused", "log refused"];
    let c = vec![
        logged(
            "r1",
            &["done"],
            checked("TEST 1: verify phase checking in kong.response", "r1", RESPONSE),
        ),
        logged(
            "r2",
            filters,
            vec![exit_in_filters(
                "TEST 2: verify phase checking for kong.response.exit with table, failing phases",
                "r2",
                "200, { message = \"Hello\" }",
                None,
            )],
        ),
        logged(
            "r3",
            filters,
            vec![exit_in_filters(
                "TEST 3: verify phase checking for kong.response.exit and with no body, failing phases",
                "r3",
                "200",
                Some(true),
            )],
        ),
        logged(
            "r4",
            &[],
            vec![exit_in(
                "TEST 4: verify phase checking for kong.response.exit, rewrite, with plain string",
                "r4",
                "rewrite",
                "200, \"Hello\"",
                "Hello",
            )],
        ),
        logged(
            "r5",
            &[],
            vec![exit_in(
                "TEST 5: verify phase checking for kong.response.exit, rewrite, with tables",
                "r5",
                "rewrite",
                TABLE,
                TABLE_BODY,
            )],
        ),
        logged(
            "r6",
            &[],
            vec![exit_in(
                "TEST 6: verify phase checking for kong.response.exit, rewrite, with no body",
                "r6",
                "rewrite",
                "200",
                "",
            )],
        ),
        logged(
            "r7",
            &[],
            vec![exit_in(
                "TEST 7: verify phase checking for kong.response.exit, access, with plain string",
                "r7",
                "access",
                "200, \"Hello\"",
                "Hello",
            )],
        ),
        logged(
            "r8",
            &[],
            vec![exit_in(
                "TEST 8: verify phase checking for kong.response.exit, access, with tables",
                "r8",
                "access",
                TABLE,
                TABLE_BODY,
            )],
        ),
        logged(
            "r9",
            &[],
            vec![exit_in(
                "TEST 9: verify phase checking for kong.response.exit, access, with no body",
                "r9",
                "access",
                "200",
                "",
            )],
        ),
        logged(
            "r10",
            &[],
            vec![exit_in(
                "TEST 10: verify phase checking for kong.response.exit, admin_api, with plain string",
                "r10",
                "access",
                "200, \"Hello\"",
                "Hello",
            )],
        ),
        logged(
            "r11",
            &[],
            vec![exit_in(
                "TEST 11: verify phase checking for kong.response.exit, admin_api, with tables",
                "r11",
                "access",
                TABLE,
                TABLE_BODY,
            )],
        ),
        logged(
            "r12",
            &[],
            vec![exit_in(
                "TEST 12: verify phase checking for kong.response.exit, admin_api, with no body",
                "r12",
                "access",
                "200",
                "",
            )],
        ),
    ];
    common::kong::run("t/01-pdk/08-response/00-phase_checks.t", gw, c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_service_request_phase_checks() {
    let gw = Gateway::start_logged(1);
    // The checks send the request to `/` (`set_path`): the upstream is there.
    let mut blocks = checked(
        "TEST 1: verify phase checking in kong.service.request",
        "s1",
        SERVICE_REQUEST,
    );
    blocks[0] = blocks[0].clone().upstream_at("/");
    common::kong::run(
        "t/01-pdk/06-service-request/00-phase_checks.t",
        gw,
        vec![logged("s1", &["done"], blocks)],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_service_phase_checks() {
    let gw = Gateway::start_logged(1);
    let table = service_table(gw.proxy.port());
    let blocks = checked(
        "TEST 1: verify phase checking in kong.service",
        "sv1",
        &table,
    );
    common::kong::run(
        "t/01-pdk/09-service/00-phase_checks.t",
        gw,
        vec![logged("sv1", &["done"], blocks)],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_service_response_phase_checks() {
    let gw = Gateway::start_logged(1);
    let blocks = checked(
        "TEST 1: verify phase checking in kong.service.response",
        "sr1",
        SERVICE_RESPONSE,
    );
    common::kong::run(
        "t/01-pdk/07-service-response/00-phase_checks.t",
        gw,
        vec![logged("sr1", &["done"], blocks)],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_router_phase_checks() {
    let gw = Gateway::start_logged(1);
    let blocks = checked(
        "TEST 1: verify phase checking in kong.router",
        "rt1",
        ROUTER,
    );
    common::kong::run(
        "t/01-pdk/13-router/00-phase_checks.t",
        gw,
        vec![logged("rt1", &["done"], blocks)],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_request_phase_checks() {
    let gw = Gateway::start_logged(1);
    let blocks = checked(
        "TEST 1: verify phase checking in kong.request",
        "rq1",
        REQUEST,
    );
    common::kong::run(
        "t/01-pdk/04-request/00-phase_checks.t",
        gw,
        vec![logged("rq1", &["done"], blocks)],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_client_phase_checks() {
    let gw = Gateway::start_logged(1);
    let blocks = checked("TEST 1: verify phase checking in kong.client", "c1", CLIENT);
    common::kong::run(
        "t/01-pdk/05-client/00-phase_checks.t",
        gw,
        vec![logged("c1", &["done"], blocks)],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_log_phase_checks() {
    let gw = Gateway::start_logged(1);
    let blocks = checked("TEST 1: verify phase checking in kong.log", "l1", LOG);
    common::kong::run(
        "t/01-pdk/02-log/00-phase_checks.t",
        gw,
        vec![logged("l1", &["done"], blocks)],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_nginx_phase_checks() {
    let gw = Gateway::start_logged(1);
    let blocks = checked("TEST 1: verify phase checking in kong.router", "ng1", NGINX);
    common::kong::run(
        "t/01-pdk/10-nginx/00-phase_checks.t",
        gw,
        vec![logged("ng1", &["done"], blocks)],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_node_phase_checks() {
    let gw = Gateway::start_logged(1);
    let blocks = checked("TEST 1: verify phase checking in kong.service", "n1", NODE);
    common::kong::run(
        "t/01-pdk/12-node/00-phase_checks.t",
        gw,
        vec![logged("n1", &["done"], blocks)],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_client_tls_phase_checks() {
    let gw = Gateway::start_logged(1);
    let blocks = checked(
        "TEST 1: verify phase checking in kong.client.tls",
        "ct1",
        CLIENT_TLS,
    );
    common::kong::run(
        "t/01-pdk/14-client-tls/00-phase_checks.t",
        gw,
        vec![logged("ct1", &["done"], blocks)],
    )
    .await;
}
