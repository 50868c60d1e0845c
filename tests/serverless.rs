//! Serverless functions end to end: Lua stored through the Admin API runs
//! on proxied requests (the seed page's demo, and Kong's own spec scenarios).

mod common;

use common::*;
use serde_json::{json, Value};

const CUSTOM_AUTH: &str = r#"-- Get list of request headers
local custom_auth = kong.request.get_header("x-custom-auth")

-- Terminate request early if our custom authentication header
-- does not exist
if not custom_auth then
  return kong.response.exit(401, "Invalid Credentials")
end

-- Remove custom authentication header from request
kong.request.clear_header('x-custom-auth')
"#;

/// The seed page, steps 1–7, with its curl commands (file upload with
/// --form, and the header written with a colon).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_demo_runs_end_to_end() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start();
    let admin = gw.admin_url("");
    let (s, body) = curl(&[
        "-X",
        "POST",
        &format!("{admin}/services/"),
        "--data",
        "name=plugin-testing",
        "--data",
        &format!("url=http://{}/headers", up),
    ]);
    assert_eq!(s, 201, "{body}");
    let (s, body) = curl(&[
        "-X",
        "POST",
        &format!("{admin}/services/plugin-testing/routes"),
        "--data",
        "paths[]=/test",
    ]);
    assert_eq!(s, 201, "{body}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("custom-auth.lua");
    std::fs::write(&file, CUSTOM_AUTH).unwrap();
    let (s, body) = curl(&[
        "-X",
        "POST",
        &format!("{admin}/services/plugin-testing/plugins"),
        "--form",
        "name=pre-function",
        "--form",
        &format!("config.functions[]=@{}", file.display()),
    ]);
    assert_eq!(s, 201, "{body}");

    let (s, body) = curl(&["-i", "-X", "GET", &gw.proxy_url("/test")]);
    assert_eq!(s, 401, "{body}");
    assert!(body.ends_with("Invalid Credentials"), "{body}");
    assert!(
        body.to_ascii_lowercase().contains("server: lunagate/"),
        "{body}"
    );

    let (s, body) = curl(&[
        "-X",
        "GET",
        &gw.proxy_url("/test"),
        "--header",
        "x-custom-auth: key",
    ]);
    assert_eq!(s, 200, "{body}");
    let echo: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["path"], "/headers");
    assert!(
        echo["headers"].get("x-custom-auth").is_none(),
        "the function cleared the header: {echo}"
    );
}

async fn route_with(gw: &Gateway, up: &std::net::SocketAddr, name: &str, plugin: Value) {
    let (s, b) = post_json(
        &gw.admin_url("/services"),
        json!({"name": name, "url": format!("http://{}/status/200", up)}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = post_json(
        &gw.admin_url(&format!("/services/{name}/routes")),
        json!({"paths": [format!("/{name}")]}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = post_json(&gw.admin_url(&format!("/services/{name}/plugins")), plugin).await;
    assert_eq!(s, 201, "{b}");
}

async fn get(gw: &Gateway, path: &str) -> (u16, String) {
    let r = client().get(gw.proxy_url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Kong's `02-access_spec.lua` scenarios (numbers from the reference).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_access_scenarios() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start_with_workers(1);
    let pre = |code: &[&str]| json!({"name": "pre-function", "config": {"access": code}});

    // 10: ngx.exit with a status on nginx's error-page list → Kong's error body.
    route_with(
        &gw,
        &up,
        "s10",
        pre(&["ngx.status = 503 ngx.exit(ngx.status)"]),
    )
    .await;
    let (s, b) = get(&gw, "/s10").await;
    assert_eq!(s, 503, "{b}");
    // 11: upvalues persist; the initialiser runs once per worker.
    route_with(
        &gw,
        &up,
        "s11",
        pre(&[
            "local count = 0 return function() count = count + 1 ngx.say(count) ngx.exit(200) end",
        ]),
    )
    .await;
    let mut bodies = Vec::new();
    for _ in 0..10 {
        let (s, b) = get(&gw, "/s11").await;
        assert_eq!(s, 200);
        bodies.push(b);
    }
    let mut distinct = bodies.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10, "{bodies:?}");
    // 12
    route_with(
        &gw,
        &up,
        "s12",
        pre(&["ngx.status = 404 ngx.say('Not Found') ngx.exit(404)"]),
    )
    .await;
    assert_eq!(get(&gw, "/s12").await, (404, "Not Found\n".into()));
    // 13
    route_with(
        &gw,
        &up,
        "s13",
        pre(&["return kong.response.exit(406, {message = 'Invalid'})"]),
    )
    .await;
    let (s, b) = get(&gw, "/s13").await;
    assert_eq!(
        (s, serde_json::from_str::<Value>(&b).unwrap()),
        (406, json!({"message": "Invalid"}))
    );
    // 14: state from the first chunk reaches the second; Kong's handler writes the body.
    route_with(
        &gw,
        &up,
        "s14",
        pre(&["ngx.status = 400", "ngx.exit(ngx.status)"]),
    )
    .await;
    let (s, b) = get(&gw, "/s14").await;
    assert_eq!(s, 400);
    assert!(b.contains("Bad request"), "{b}");
    // 15: errors fail closed.
    route_with(
        &gw,
        &up,
        "s15",
        pre(&["error('this should stop the request with a 500')"]),
    )
    .await;
    let (s, b) = get(&gw, "/s15").await;
    assert_eq!(s, 500);
    assert_eq!(
        serde_json::from_str::<Value>(&b).unwrap()["message"],
        "An unexpected error occurred"
    );
    // 24: clearing the query does not crash, and the upstream sees none.
    route_with(&gw, &up, "s24", pre(&["ngx.var.args = nil"])).await;
    let (s, b) = get(&gw, "/s24?a=b").await;
    assert_eq!(s, 200, "{b}");
    let echo: Value = serde_json::from_str(&b).unwrap();
    assert!(echo["query"].is_null() || echo["query"] == "", "{echo}");
}

/// 16–19: a body counter, old style and wrapped, runs exactly once per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_counter_runs_once_per_request() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start_with_workers(1);
    let old = "local count = tonumber(kong.request.get_raw_body()) count = count + 1 return kong.response.exit(200, tostring(count))";
    let wrapped = format!("return function() {old} end");
    route_with(
        &gw,
        &up,
        "old",
        json!({"name": "pre-function", "config": {"access": [old]}}),
    )
    .await;
    route_with(
        &gw,
        &up,
        "wrapped",
        json!({"name": "pre-function", "config": {"access": [wrapped]}}),
    )
    .await;
    for path in ["/old", "/wrapped"] {
        let mut value = "0".to_string();
        for _ in 0..10 {
            let r = client()
                .post(gw.proxy_url(path))
                .body(value.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            value = r.text().await.unwrap();
        }
        assert_eq!(value, "10", "{path}");
    }
}

/// A route's pre-function and a global post-function share `kong.ctx.shared`;
/// header_filter edits the proxied response; access-phase response headers
/// (several values) reach the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phases_and_plugins_cooperate() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start();
    route_with(
        &gw,
        &up,
        "coop",
        json!({"name": "pre-function", "config": {"access": [
            "kong.ctx.shared.who = 'pre' kong.response.set_header('x-multi', {'a', 'b'}) kong.service.request.set_header('x-from-pre', '1')"
        ]}}),
    )
    .await;
    let (s, b) = post_json(
        &gw.admin_url("/plugins"),
        json!({"name": "post-function", "config": {
            "access": ["kong.service.request.set_header('x-seen', kong.ctx.shared.who or 'nobody')"],
            "header_filter": ["kong.response.set_header('x-filtered', tostring(kong.response.get_status()))"],
        }}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let r = client().get(gw.proxy_url("/coop")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let multi: Vec<_> = r
        .headers()
        .get_all("x-multi")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(multi, ["a", "b"]);
    assert_eq!(r.headers()["x-filtered"], "200");
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["headers"]["x-from-pre"], "1");
    assert_eq!(
        echo["headers"]["x-seen"], "pre",
        "pre-function (1000000) runs before post-function (-1000)"
    );
}

/// Kong sets `KONG_PROXIED` when access ends (kong/init.lua `Kong.access`)
/// and `ngx.exit` sets none of its flags, so a function that answers with
/// `ngx.exit` in header_filter after the service answered still sees the
/// source "service" (`kong.response.get_source`, 12-get_source.t's flags).
/// Red before: "exit".
#[tokio::test]
async fn ngx_exit_in_header_filter_leaves_the_source_the_service() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start();
    route_with(
        &gw,
        &up,
        "hfsource",
        json!({"name": "post-function", "config": {"header_filter": [
            "ngx.exit(418) ngx.header['x-source'] = kong.response.get_source()",
        ]}}),
    )
    .await;
    let r = client()
        .get(gw.proxy_url("/hfsource"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 418);
    assert_eq!(r.headers()["x-source"], "service");
}

/// `ngx.exit` as OpenResty runs it under Kong, where one handler runs every
/// plugin of a phase: `ngx.exit(ngx.OK)` in rewrite or access ends that
/// handler (no function of the plugin, nor any plugin, after it runs in
/// the phase) and the request goes on to the next phase (access, then the
/// service); in header_filter `ngx.exit` and `kong.response.exit` return
/// (lua-resty-core: `ngx_http_lua_ffi_exit` answers `NGX_DONE` there) and
/// the phase goes on, the exit replacing the response when it ends; in
/// body_filter and log they are refused. Red before: the functions after
/// `ngx.exit(ngx.OK)` ran, and the header_filter functions stopped at
/// their exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ngx_exit_ends_the_phase_before_the_response_and_returns_after() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start();
    route_with(
        &gw,
        &up,
        "exitok",
        json!({"name": "pre-function", "config": {
            "access": [
                "kong.service.request.set_header('x-rewrite', tostring(ngx.ctx.r1) .. ',' .. tostring(ngx.ctx.r2)) ngx.exit(ngx.OK) kong.service.request.set_header('x-a1', 'after exit')",
                "kong.service.request.set_header('x-a2', 'ran')",
            ],
            "header_filter": [
                "ngx.exit(ngx.OK) kong.response.set_header('x-hf1', 'went on')",
                "kong.response.set_header('x-hf2', 'ran')",
            ],
            "body_filter": [
                "local ok, err = pcall(ngx.exit, ngx.OK) if ngx.arg[2] then ngx.arg[1] = (ngx.arg[1] or '') .. '\\n' .. tostring(err) end",
            ],
        }}),
    )
    .await;
    // Lower priority than pre-function: its access must not run after the exit.
    let (s, b) = post_json(
        &gw.admin_url("/plugins"),
        json!({"name": "post-function", "config": {
            "rewrite": [
                "if kong.request.get_path() == '/exitok' then ngx.ctx.r1 = true return ngx.exit(ngx.OK) end",
                "if kong.request.get_path() == '/exitok' then ngx.ctx.r2 = true end",
            ],
            "access": ["kong.service.request.set_header('x-post', 'ran')"],
        }}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    route_with(
        &gw,
        &up,
        "hfexit",
        json!({"name": "pre-function", "config": {"header_filter": [
            "kong.response.exit(403, 'denied') kong.response.set_header('x-went-on', '1')",
            "kong.response.set_header('x-next', kong.response.get_status())",
        ]}}),
    )
    .await;

    let r = client().get(gw.proxy_url("/exitok")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["x-hf1"],
        "went on",
        "ngx.exit returns in header_filter"
    );
    assert_eq!(r.headers()["x-hf2"], "ran");
    let text = r.text().await.unwrap();
    let (echo, refused) = text.split_once('\n').expect("body_filter's line");
    assert_eq!(
        refused,
        "API disabled in the context of body_filter_by_lua*"
    );
    let echo: Value = serde_json::from_str(echo).unwrap();
    let headers = &echo["headers"];
    assert_eq!(
        headers["x-rewrite"], "true,nil",
        "the second rewrite function did not run, access did"
    );
    assert!(headers.get("x-a1").is_none(), "the function ended: {echo}");
    assert!(headers.get("x-a2").is_none(), "the phase ended: {echo}");
    assert!(headers.get("x-post").is_none(), "for every plugin: {echo}");

    route_with(
        &gw,
        &up,
        "hferror",
        json!({"name": "pre-function", "config": {"header_filter": [
            "if kong.request.get_header('x-ngx') then ngx.exit(404) else kong.response.error(403) end",
        ]}}),
    )
    .await;
    // Kong's error page replaces the service's response, in its format.
    for (ngx, status, message) in [(false, 403, "Forbidden"), (true, 404, "Not found")] {
        let mut req = client().get(gw.proxy_url("/hferror"));
        if ngx {
            req = req.header("x-ngx", "1");
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status);
        assert_eq!(
            r.headers()["content-type"],
            "application/json; charset=utf-8"
        );
        let page: Value = r.json().await.unwrap();
        assert_eq!(page["message"], message, "{page}");
    }

    route_with(
        &gw,
        &up,
        "hftwice",
        json!({"name": "pre-function", "config": {"header_filter": [
            "kong.response.exit(403, 'first', {['x-first'] = '1'})",
            "if kong.request.get_header('x-ngx') then ngx.exit(410) else kong.response.exit(451, 'second') end",
        ]}}),
    )
    .await;
    // The last exit of header_filter is the response (OpenResty and Kong
    // send the last status and body); the first one's headers stay, as
    // they went on the response at once.
    let r = client().get(gw.proxy_url("/hftwice")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 451);
    assert_eq!(r.headers()["x-first"], "1");
    assert_eq!(r.text().await.unwrap(), "second");
    let r = client()
        .get(gw.proxy_url("/hftwice"))
        .header("x-ngx", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 410);
    assert_ne!(r.text().await.unwrap(), "first");

    route_with(
        &gw,
        &up,
        "senthead",
        json!({"name": "pre-function", "config": {"access": [
            "ngx.status = 201 ngx.header['x-sent'] = '1' ngx.send_headers() ngx.say('sent') kong.response.exit(403)",
        ]}}),
    )
    .await;
    // `ngx.send_headers()`: the head is the response, what is printed
    // after it the body; the exit after it fails the function ('headers
    // have already been sent'), whose 500 page cannot replace a sent head;
    // the upstream is not called.
    let r = client()
        .get(gw.proxy_url("/senthead"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(r.headers()["x-sent"], "1");
    assert_eq!(r.text().await.unwrap(), "sent\n");

    route_with(
        &gw,
        &up,
        "hferrorexit",
        json!({"name": "pre-function", "config": {"header_filter": [
            "kong.response.error(403, nil, {['x-error'] = '1', ['x-both'] = 'error'})",
            "kong.response.exit(451, 'replaced', {['x-both'] = 'exit'})",
        ]}}),
    )
    .await;
    // An error page replaced by a later exit: Kong's `error` set its
    // headers, its Content-Type (from the Accept) among them, when it was
    // called; the exit's own win where they overlap. Red before: x-error
    // and the Content-Type were dropped with the page.
    for (accept, content_type) in [
        ("*/*", "application/json; charset=utf-8"),
        ("text/html", "text/html; charset=utf-8"),
    ] {
        let r = client()
            .get(gw.proxy_url("/hferrorexit"))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 451);
        assert_eq!(r.headers()["x-error"], "1");
        assert_eq!(r.headers()["x-both"], "exit");
        assert_eq!(r.headers()["content-type"], content_type);
        assert_eq!(r.text().await.unwrap(), "replaced");
    }

    let r = client().get(gw.proxy_url("/hfexit")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(
        r.headers()["x-went-on"],
        "1",
        "kong.response.exit returns in header_filter"
    );
    assert_eq!(r.headers()["x-next"], "403", "the status is set at once");
    assert_eq!(r.text().await.unwrap(), "denied");
}

/// `ngx.exit(ngx.ERROR)`, in access or in header_filter, as OpenResty
/// under Kong: nginx finalizes the request with `NGX_ERROR` and closes the
/// connection without a response (an HTTP/2 stream is reset, its
/// connection goes on); the log phase still runs. Red before: a 500 page
/// on a kept connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ngx_exit_error_ends_the_request_without_a_response() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start_logged(2);
    route_with(
        &gw,
        &up,
        "ngxerror",
        json!({"name": "pre-function", "config": {
            "access": ["if kong.request.get_header('x-phase') == 'access' then ngx.exit(ngx.ERROR) end"],
            "header_filter": ["if kong.request.get_header('x-phase') == 'hf' then ngx.exit(ngx.ERROR) end"],
            "log": ["kong.log.warn('NGX_ERROR log ', kong.request.get_header('x-phase'), ' ', kong.response.get_status())"],
        }}),
    )
    .await;
    for phase in ["access", "hf"] {
        let request = format!("GET /ngxerror HTTP/1.1\r\nHost: t\r\nX-Phase: {phase}\r\n\r\n");
        let addr = gw.proxy;
        let answer = tokio::task::spawn_blocking(move || raw_to(addr, request.as_bytes()))
            .await
            .unwrap();
        assert_eq!(
            answer, "",
            "{phase}: nothing is sent, the connection closes"
        );
        // nginx's status of a request ended with NGX_ERROR: 0.
        let logged = format!("NGX_ERROR log {phase} 0");
        let mut seen = false;
        for _ in 0..200 {
            seen = gw.log_text().contains(&logged);
            if seen {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(seen, "{phase}: log ran:\n{}", gw.log_text());
    }

    // HTTP/2 (cleartext, prior knowledge): the stream is reset, the
    // connection serves the next request.
    use http_body_util::Empty;
    let mut send = h2c(gw.proxy).await;
    let get = |phase: &str| {
        http::Request::builder()
            .uri("http://t/ngxerror")
            .header("x-phase", phase)
            .body(Empty::<bytes::Bytes>::new())
            .unwrap()
    };
    for phase in ["access", "hf"] {
        let e = send.send_request(get(phase)).await.expect_err(phase);
        assert!(
            format!("{e:?}").contains("INTERNAL_ERROR"),
            "{phase}: {e:?}"
        );
    }
    let r = send.send_request(get("none")).await.expect("proxied");
    assert_eq!(r.status(), 200);
}

/// A request no route matched, as on Kong: the global plugins' rewrite runs
/// (Kong runs it before routing) and may answer; otherwise the 404 goes
/// through their header_filter (no route there, the source Kong's `exit`
/// of `kong.response.error`); access never runs. Red before: no function
/// ran on such a request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_functions_run_on_a_request_no_route_matched() {
    let gw = Gateway::start();
    let (s, b) = post_json(
        &gw.admin_url("/plugins"),
        json!({"name": "post-function", "config": {
            "rewrite": ["if kong.request.get_path() == '/teapot' then return kong.response.exit(418, 'rewrite answered') end ngx.ctx.seen = 'rewrite'"],
            "access": ["ngx.ctx.seen = 'access'"],
            "header_filter": ["kong.response.set_header('x-seen', tostring(ngx.ctx.seen) .. ' ' .. kong.response.get_status() .. ' ' .. tostring(kong.router.get_route()) .. ' ' .. kong.response.get_source())"],
        }}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let r = client().get(gw.proxy_url("/nowhere")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(r.headers()["x-seen"], "rewrite 404 nil exit");
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("no Route matched with those values"));
    let r = client().get(gw.proxy_url("/teapot")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 418);
    assert_eq!(r.headers()["x-seen"], "nil 418 nil exit");
    assert_eq!(r.text().await.unwrap(), "rewrite answered");
}

/// A function's worker, its `print` and the body buffer, as a Kong user
/// sees them: with `--workers 2` `ngx.worker.id()` is 0 or 1 and
/// `ngx.worker.pid()` differs between the two (Kong's specs tell workers
/// apart by pid), `ngx.worker.count()` is 2; `print` writes to the log at
/// `notice` with the plugin's name, as OpenResty's `print` writes to
/// nginx's error log; `--client-body-buffer-size 16k` is the size past
/// which `kong.request.get_raw_body()` reports a body Kong would have
/// spooled to a file, and what `kong.configuration` says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_see_their_worker_print_to_the_log_and_the_body_buffer() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start_logged_with(
        2,
        &["--client-body-buffer-size", "16k", "--log-level", "info"],
    );
    let pre = |code: &str| json!({"name": "pre-function", "config": {"access": [code]}});
    route_with(
        &gw,
        &up,
        "who",
        pre("return kong.response.exit(200, {id = ngx.worker.id(), pid = ngx.worker.pid(), count = ngx.worker.count()})"),
    )
    .await;
    route_with(
        &gw,
        &up,
        "print",
        pre("print('printed by ', 'a function: ', 42, ' ', nil, ' ', true) return kong.response.exit(204)"),
    )
    .await;
    route_with(
        &gw,
        &up,
        "body",
        pre("local body, err = kong.request.get_raw_body() \
             return kong.response.exit(200, {len = body and #body, err = err, \
               conf = kong.configuration.client_body_buffer_size, \
               nginx = kong.configuration.nginx_http_client_body_buffer_size})"),
    )
    .await;

    // Each request on a new connection: the kernel spreads connections
    // over the two workers' listeners (all on one worker: 2^-63).
    let mut pid_of = std::collections::BTreeMap::new();
    for _ in 0..64 {
        let fresh = reqwest::Client::new();
        let r = fresh.get(gw.proxy_url("/who")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["count"], 2, "{v}");
        let (id, pid) = (v["id"].as_i64().unwrap(), v["pid"].as_i64().unwrap());
        assert_eq!(*pid_of.entry(id).or_insert(pid), pid, "one pid per worker");
    }
    assert_eq!(pid_of.keys().copied().collect::<Vec<_>>(), [0, 1]);
    assert_ne!(pid_of[&0], pid_of[&1], "the workers' pids differ");

    let (s, _) = get(&gw, "/print").await;
    assert_eq!(s, 204);
    let log = gw.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("printed by a function: 42 nil true"))
        .unwrap_or_else(|| panic!("print is in the log:\n{log}"));
    assert!(line.contains("[pre-function]"), "{line}");

    for (size, fits) in [(12 * 1024, true), (20 * 1024, false)] {
        let r = client()
            .post(gw.proxy_url("/body"))
            .body(vec![b'x'; size])
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["conf"], "16k", "{v}");
        assert_eq!(v["nginx"], "16k", "{v}");
        if fits {
            assert_eq!(v["len"], size, "{v}");
        } else {
            assert_eq!(
                v["err"],
                "request body did not fit into client body buffer, consider raising 'client_body_buffer_size'",
                "{v}"
            );
        }
    }
}

/// The README's walkthrough numbers its steps 1, 2, 3 … with none
/// skipped (the step that saves the function is one of them).
#[test]
fn the_readme_walkthrough_numbers_its_steps_in_order() {
    let readme = include_str!("../README.md");
    let steps: Vec<u32> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter_map(|l| l.split_once(". "))
        .filter_map(|(n, _)| n.parse().ok())
        .collect();
    assert_eq!(steps, (1..=steps.len() as u32).collect::<Vec<_>>());
    assert!(steps.len() >= 7, "{steps:?}");
}

/// Kong runs the rewrite phase for the global plugins, whatever a route
/// configures: a route's own pre-function replaces the global one in
/// access, not in rewrite (it used to drop the global rewrite too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_rewrite_runs_on_a_route_with_its_own_plugin_of_that_name() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start();
    gw.service("s", &format!("http://{up}"), json!({})).await;
    gw.route("s", json!({"name": "own", "paths": ["/own"]}))
        .await;
    gw.route("s", json!({"name": "plain", "paths": ["/plain"]}))
        .await;
    let (status, body) = post_json(
        &gw.admin_url("/plugins"),
        json!({"name": "pre-function", "config": {
            "rewrite": ["ngx.req.set_header('x-rewrite', 'global')"],
            "access": ["ngx.req.set_header('x-access', 'global')"]}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = post_json(
        &gw.admin_url("/routes/own/plugins"),
        json!({"name": "pre-function", "config": {
            "access": ["ngx.req.set_header('x-access', 'route')"]}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    for (path, access) in [("/own", "route"), ("/plain", "global")] {
        let echo: Value = gw.get(path).await.json().await.unwrap();
        assert_eq!(echo["headers"]["x-rewrite"], "global", "{path}");
        assert_eq!(echo["headers"]["x-access"], access, "{path}");
    }
}

/// `ngx.exit` inside a coroutine the function keeps in an upvalue: the
/// exit answers, and the coroutine is dead for the next request (as
/// OpenResty's `coroutine.status` says of a coroutine of an earlier
/// request), not running forever (`cannot resume non-suspended
/// coroutine` before). (`kong.response.exit` there is delayed and
/// yields back to the function, as on Kong: see
/// kong_pdk_response_exit.rs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coroutine_that_exited_is_dead_on_the_next_request() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start_with_workers(1);
    let code = r#"
local co
return function()
  if not co then
    co = coroutine.create(function() ngx.print("from the coroutine") return ngx.exit(403) end)
    coroutine.resume(co)
  end
  local status = coroutine.status(co)
  local ok, err = coroutine.resume(co)
  return kong.response.exit(200, status .. " " .. tostring(ok) .. " " .. tostring(err))
end"#;
    route_with(
        &gw,
        &up,
        "co",
        json!({"name": "pre-function", "config": {"access": [code]}}),
    )
    .await;
    assert_eq!(get(&gw, "/co").await, (403, "from the coroutine".into()));
    for _ in 0..2 {
        assert_eq!(
            get(&gw, "/co").await,
            (200, "dead false cannot resume dead coroutine".into())
        );
    }
}
