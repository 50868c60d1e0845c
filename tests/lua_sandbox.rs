//! Functions on lua-stdlib (issue 7): a spinning function yields its worker
//! to other requests between slices and is stopped by its budget (with a
//! log line naming plugin, route, phase and limit); one function cannot
//! poison the library, the string metatable, the globals or the PDK of
//! another; numbers the PDK writes out read as Kong writes them.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// A service and a route at `/{name}` with `plugin` on the service.
async fn route_with(gw: &Gateway, up: &std::net::SocketAddr, name: &str, plugin: Value) {
    let (s, b) = post_json(
        &gw.admin_url("/services"),
        json!({"name": name, "url": format!("http://{}/status/200", up)}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = post_json(
        &gw.admin_url(&format!("/services/{name}/routes")),
        json!({"name": format!("{name}-route"), "paths": [format!("/{name}")]}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = post_json(&gw.admin_url(&format!("/services/{name}/plugins")), plugin).await;
    assert_eq!(s, 201, "{b}");
}

fn pre(code: &str) -> Value {
    json!({"name": "pre-function", "config": {"access": [code]}})
}

async fn get(gw: &Gateway, path: &str) -> (u16, String) {
    let r = client().get(gw.proxy_url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// With one worker, requests to a healthy route complete while a function
/// on another route spins; the spinning one ends with a 500 when its time
/// budget (running slices only) is spent. The healthy route's latency
/// during the spin is printed as a figure, not asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_function_does_not_stall_its_worker() {
    let up = echo_upstream("up").await;
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::spawn_with(tmp.path(), 1, &["--lua-time-limit", "2s"], &[]);
    route_with(&gw, &up, "spin", pre("while true do end")).await;
    route_with(
        &gw,
        &up,
        "healthy",
        pre("return kong.response.exit(200, 'healthy')"),
    )
    .await;
    // Both functions compiled and loaded on the worker before the spin.
    assert_eq!(get(&gw, "/healthy").await, (200, "healthy".into()));

    let spin_url = gw.proxy_url("/spin");
    let spin = tokio::spawn(async move {
        let r = client().get(spin_url).send().await.unwrap();
        r.status().as_u16()
    });
    // Give the spin a head start (sequencing, not an assertion: if it has
    // not started yet, the healthy requests cannot be held up by it).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut latencies = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        assert_eq!(get(&gw, "/healthy").await, (200, "healthy".into()));
        latencies.push(t.elapsed());
        assert!(
            !spin.is_finished(),
            "a healthy request completed while the spinning function still ran"
        );
    }
    assert_eq!(spin.await.unwrap(), 500, "the time budget stopped the spin");
    latencies.sort();
    eprintln!(
        "healthy route latency during a spin (--workers 1, 10 requests): median {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    // The worker is still fine.
    assert_eq!(get(&gw, "/healthy").await, (200, "healthy".into()));
}

/// What one function writes is not seen by another on the same worker:
/// library tables, the string metatable and the PDK are read-only, and
/// globals (also through `_G`) stay the function's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_cannot_poison_each_other() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start_with_workers(1);
    let poison = r#"
        local out = {}
        local function try(name, f)
          local ok, err = pcall(f)
          out[#out + 1] = name .. '=' .. (ok and 'ok' or tostring(err))
        end
        local evil = function() return 'POISONED' end
        try('upper', function() string.upper = evil end)
        try('rawset', function() rawset(string, 'upper', evil) end)
        try('index', function() getmetatable('').__index = {upper = evil} end)
        try('meta_upper', function() getmetatable('').__index.upper = evil end)
        try('setmetatable', function() setmetatable(string, {}) end)
        try('method', function() kong.request.get_method = evil end)
        try('globals_mt', function() getmetatable(_G).__index.print = evil end)
        try('G', function() _G.x = 'POISONED' end)
        try('global', function() y = 'POISONED' end)
        out[#out + 1] = 'own=' .. tostring(x) .. ',' .. tostring(y) .. ',' .. tostring(z) .. ',' .. string.upper('a')
        return kong.response.exit(200, table.concat(out, '\n'))
    "#;
    let observe = "return kong.response.exit(200, table.concat({string.upper('a'), ('b'):upper(), \
                   tostring(x), tostring(_G.x), tostring(y), tostring(_G.y), tostring(z), \
                   kong.request.get_method(), tostring(print == nil)}, ','))";
    route_with(&gw, &up, "poison", pre(poison)).await;
    route_with(&gw, &up, "observe", pre(observe)).await;
    let clean = "A,B,nil,nil,nil,nil,nil,GET,false";
    assert_eq!(get(&gw, "/observe").await, (200, clean.into()));
    for _ in 0..2 {
        let (s, body) = get(&gw, "/poison").await;
        assert_eq!(s, 200, "{body}");
        let lines: Vec<&str> = body.lines().collect();
        for line in &lines[..lines.len() - 1] {
            let (name, result) = line.split_once('=').unwrap();
            match name {
                "G" | "global" => assert_eq!(result, "ok", "{body}"),
                _ => assert!(
                    result != "ok" && !result.is_empty(),
                    "{name} must fail: {body}"
                ),
            }
        }
        assert!(
            body.contains("read-only") || body.contains("Protected by the sandbox"),
            "{body}"
        );
        assert_eq!(
            lines.last().copied(),
            Some("own=POISONED,POISONED,nil,A"),
            "globals stay the function's own"
        );
        assert_eq!(get(&gw, "/observe").await, (200, clean.into()));
    }
}

/// Numbers the PDK turns into text read as LuaJIT writes them (Kong sends
/// `x-count: 11`, `x-half: 5`); inside Lua arithmetic stays lua5.4's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdk_numbers_read_as_kong_writes_them() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start_with_workers(1);
    route_with(
        &gw,
        &up,
        "numbers",
        pre(
            "kong.service.request.set_header('x-count', kong.request.get_header('x-count') + 1) \
             kong.service.request.set_header('x-half', 10 / 2) \
             kong.service.request.set_header('x-lua', tostring(10 / 2)) \
             kong.service.request.set_query({n = 6 / 2, m = 2 ^ 2})",
        ),
    )
    .await;
    route_with(
        &gw,
        &up,
        "json",
        pre("return kong.response.exit(200, {half = 10 / 2, big = 2 ^ 10, frac = 0.5})"),
    )
    .await;
    let r = client()
        .get(gw.proxy_url("/numbers"))
        .header("x-count", "10")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["headers"]["x-count"], "11", "{echo}");
    assert_eq!(echo["headers"]["x-half"], "5", "{echo}");
    assert_eq!(echo["headers"]["x-lua"], "5.0", "{echo}");
    assert_eq!(echo["query"], "m=4&n=3", "{echo}");
    let (s, body) = get(&gw, "/json").await;
    assert_eq!(s, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"half": 5, "big": 1024, "frac": 0.5}),
        "{body}"
    );
}

/// A function stopped by a budget is a 500, and the error line in the log
/// names the plugin, the route, the phase and the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_stop_is_logged_with_plugin_route_phase_and_limit() {
    let up = echo_upstream("up").await;
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lunagate"))
        .args([
            "serve",
            "--proxy-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .args(["--proxy-listen-tls", "off", "--workers", "1"])
        .args(["--lua-instruction-limit", "1000000"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("LUNAGATE_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr = || -> std::net::SocketAddr {
        let line = lines.next().unwrap().unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let (proxy, admin) = (addr(), addr());
    let admin_url = |p: &str| format!("http://{admin}{p}");
    let (s, b) = post_json(
        &admin_url("/services"),
        json!({"name": "svc", "url": format!("http://{up}/")}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = post_json(
        &admin_url("/services/svc/routes"),
        json!({"name": "spin-route", "paths": ["/spin"]}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = post_json(
        &admin_url("/services/svc/plugins"),
        pre("local n = 0 while true do n = n + 1 end"),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let r = client()
        .get(format!("http://{proxy}/spin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 500);
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(&log_path).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("instruction budget exceeded"))
        .unwrap_or_else(|| panic!("no budget line in the log:\n{log}"));
    for part in [
        "pre-function",
        "spin-route",
        "access",
        "--lua-instruction-limit 1000000",
    ] {
        assert!(line.contains(part), "{part} missing from: {line}");
    }
}
