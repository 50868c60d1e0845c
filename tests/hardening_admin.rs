//! Attacks on the Admin API and its store (issue 6), each replayed against
//! the real binary: what used to kill the process, leak, or let a web page
//! drive the gateway.

mod common;

use common::*;
use serde_json::{json, Value};

/// The gateway still answers on both listeners.
async fn assert_alive(gw: &Gateway) {
    let (status, _) = get_json(&gw.admin_url("/status")).await;
    assert_eq!(status, 200, "the Admin API is still up");
    let status = gw.get("/nothing-here").await.status();
    assert_eq!(status, 404, "the proxy is still up");
}

/// Item 1: a key nested 3,000 deep (`name[a][a]…`, ~9 KiB) overflowed the
/// admin thread's stack and killed the whole process, proxy included. Form,
/// multipart, dotted keys and JSON nested 100,000 deep all get a 400 now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_bodies_get_a_400_and_the_gateway_lives() {
    let gw = Gateway::start();
    let url = gw.admin_url("/services");
    let bracketed = format!("name{}", "[a]".repeat(3000));
    let dotted = format!("name{}", ".a".repeat(3000));

    for key in [&bracketed, &dotted] {
        let (status, body) = post_form(&url, &[(key.as_str(), "x")]).await;
        assert_eq!(status, 400, "{body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains("nests deeper than 32 levels"), "{body}");

        let form = reqwest::multipart::Form::new().text(key.clone(), "x");
        let resp = gw
            .http
            .post(&url)
            .multipart(form)
            .send()
            .await
            .expect("multipart request answered");
        assert_eq!(resp.status(), 400);
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("nests deeper")),
            "{body}"
        );
    }

    let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let resp = gw
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(deep_json)
        .send()
        .await
        .expect("JSON request answered");
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"message": "Cannot parse JSON body"})
    );

    assert_alive(&gw).await;
    // Kong's own keys still nest as before.
    let (status, body) = post_form(
        &url,
        &[
            ("name", "ok"),
            ("url", "http://127.0.0.1:9/"),
            ("tags[1]", "a"),
        ],
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

/// A raw Admin API exchange: status, lower-cased head, body.
struct Raw {
    status: u16,
    head: String,
    body: String,
}

impl Raw {
    fn send(gw: &Gateway, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Raw {
        let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        req.push_str(body);
        let text = gw.raw_admin(req.as_bytes());
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Raw {
            status,
            head: head.to_ascii_lowercase(),
            body: body.to_string(),
        }
    }

    fn message(&self) -> String {
        let v: Value = serde_json::from_str(&self.body).unwrap_or(Value::Null);
        v["message"].as_str().unwrap_or_default().to_string()
    }

    fn has_header(&self, name: &str) -> bool {
        self.head.contains(&format!("\r\n{name}:"))
    }
}

const FORM: &str = "application/x-www-form-urlencoded";
/// What a hostile page's `<form method=post>` sends: a function that runs
/// on every proxied request.
const EVIL_PLUGIN: &str =
    "name=pre-function&config.access%5B1%5D=kong.response.set_header(%27x-owned%27%2C%271%27)";

/// Item 9: a web page in the operator's browser cannot drive the Admin API
/// with the default flags: no CORS headers, a cross-origin form POST that
/// would create a plugin is refused, and a DNS-rebinding page (its own
/// host name resolved to 127.0.0.1, so its requests are same-origin) is
/// refused by Host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_pages_cannot_drive_the_admin_api() {
    let gw = Gateway::start();
    let local = format!("127.0.0.1:{}", gw.admin.port());
    let host = ("Host", local.as_str());

    // A cross-origin form POST: refused, and nothing was created.
    let r = Raw::send(
        &gw,
        "POST",
        "/plugins",
        &[
            host,
            ("Origin", "https://evil.example"),
            ("Content-Type", FORM),
        ],
        EVIL_PLUGIN,
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.message()
            .contains("'https://evil.example' is not allowed"),
        "{}",
        r.body
    );
    assert!(!r.has_header("access-control-allow-origin"), "{}", r.head);
    // `Origin: null` (sandboxed frames, file://) and a browser's fetch
    // metadata without an Origin are cross-origin as well.
    for extra in [("Origin", "null"), ("Sec-Fetch-Site", "cross-site")] {
        let r = Raw::send(
            &gw,
            "POST",
            "/plugins",
            &[host, extra, ("Content-Type", FORM)],
            EVIL_PLUGIN,
        );
        assert_eq!(r.status, 403, "{extra:?}: {}", r.body);
    }
    let (_, plugins) = get_json(&gw.admin_url("/plugins")).await;
    assert_eq!(plugins["data"], json!([]), "no plugin was created");

    // A CORS preflight from that page: no CORS headers, so the browser
    // would not send the real request either.
    let r = Raw::send(
        &gw,
        "OPTIONS",
        "/plugins",
        &[
            host,
            ("Origin", "https://evil.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        "",
    );
    assert_eq!(r.status, 403);
    assert!(!r.has_header("access-control-allow-origin"), "{}", r.head);

    // DNS rebinding: the page's origin and Host are its own name.
    let rebound = format!("rebind.evil.example:{}", gw.admin.port());
    let origin = format!("http://{rebound}");
    for headers in [
        vec![("Host", rebound.as_str())],
        vec![("Host", rebound.as_str()), ("Origin", origin.as_str())],
    ] {
        let r = Raw::send(&gw, "GET", "/", &headers, "");
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(
            r.message(),
            format!("Host '{rebound}' is not allowed (see --admin-allow-host)")
        );
        let mut post = headers.clone();
        post.push(("Content-Type", FORM));
        let r = Raw::send(&gw, "POST", "/plugins", &post, EVIL_PLUGIN);
        assert_eq!(r.status, 403, "{}", r.body);
    }
    let (_, plugins) = get_json(&gw.admin_url("/plugins")).await;
    assert_eq!(plugins["data"], json!([]), "no plugin was created");

    // What a terminal sends still works, with no CORS headers: loopback
    // names and IP literals, same-origin requests.
    let localhost = format!("localhost:{}", gw.admin.port());
    for headers in [
        vec![("Host", local.as_str())],
        vec![("Host", localhost.as_str())],
        vec![("Host", "[::1]")],
    ] {
        let r = Raw::send(&gw, "GET", "/status", &headers, "");
        assert_eq!(r.status, 200, "{headers:?}: {}", r.body);
        assert!(!r.has_header("access-control-allow-origin"), "{}", r.head);
    }
    let r = Raw::send(
        &gw,
        "POST",
        "/plugins",
        &[host, ("Content-Type", FORM)],
        EVIL_PLUGIN,
    );
    assert_eq!(
        r.status, 201,
        "the same form from curl is accepted: {}",
        r.body
    );
}

/// Item 9, the opt-ins: `--admin-allow-origin` gets CORS headers and is
/// accepted, `--admin-allow-host` names a host, and `LUNAGATE_ADMIN_TOKEN`
/// makes every request carry a bearer token (401 otherwise).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_origins_hosts_and_the_admin_token() {
    let gw = Gateway::start_with(
        &[
            "--admin-allow-origin",
            "https://ui.example.com",
            "--admin-allow-host",
            "gw.internal,other.internal",
        ],
        &[("LUNAGATE_ADMIN_TOKEN", "s3cret-token")],
    );
    let local = format!("127.0.0.1:{}", gw.admin.port());
    let host = ("Host", local.as_str());
    let bearer = ("Authorization", "Bearer s3cret-token");

    let r = Raw::send(&gw, "GET", "/status", &[host], "");
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.message().starts_with("Unauthorized"), "{}", r.body);
    assert!(r.has_header("www-authenticate"), "{}", r.head);
    let r = Raw::send(
        &gw,
        "POST",
        "/plugins",
        &[
            host,
            ("Content-Type", FORM),
            ("Authorization", "Bearer guess"),
        ],
        EVIL_PLUGIN,
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(
        Raw::send(&gw, "GET", "/status", &[host, bearer], "").status,
        200
    );
    let kong_header = ("Kong-Admin-Token", "s3cret-token");
    assert_eq!(
        Raw::send(&gw, "GET", "/status", &[host, kong_header], "").status,
        200
    );

    // The allowed origin: a preflight without credentials, then the request.
    let ui = ("Origin", "https://ui.example.com");
    let r = Raw::send(
        &gw,
        "OPTIONS",
        "/services",
        &[
            host,
            ui,
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "authorization,content-type",
            ),
        ],
        "",
    );
    assert_eq!(r.status, 204, "{}", r.head);
    assert!(
        r.head
            .contains("access-control-allow-origin: https://ui.example.com"),
        "{}",
        r.head
    );
    assert!(
        r.head
            .contains("access-control-allow-headers: content-type, authorization"),
        "{}",
        r.head
    );
    let r = Raw::send(&gw, "GET", "/status", &[host, ui, bearer], "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.head
            .contains("access-control-allow-origin: https://ui.example.com"),
        "{}",
        r.head
    );
    let r = Raw::send(&gw, "GET", "/status", &[host, ui], "");
    assert_eq!(r.status, 401, "an allowed origin still needs the token");
    let r = Raw::send(
        &gw,
        "GET",
        "/status",
        &[host, ("Origin", "https://evil.example"), bearer],
        "",
    );
    assert_eq!(
        r.status, 403,
        "other origins are refused even with the token"
    );

    for name in ["gw.internal", "GW.internal:8001", "other.internal"] {
        let r = Raw::send(&gw, "GET", "/status", &[("Host", name), bearer], "");
        assert_eq!(r.status, 200, "{name}: {}", r.body);
    }
    let r = Raw::send(
        &gw,
        "GET",
        "/status",
        &[("Host", "evil.internal"), bearer],
        "",
    );
    assert_eq!(r.status, 403);
}

/// A tiny tmpfs mounted for one test, so that a full disk is real. Mounting
/// needs root (or passwordless sudo): without it the test is skipped with
/// a loud message, except in CI (`CI=true`), where it fails.
struct TinyDisk {
    dir: tempfile::TempDir,
    sudo: bool,
}

impl TinyDisk {
    fn mount(size: &str) -> Option<TinyDisk> {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = format!("size={size},mode=1777");
        let mount = |sudo: bool| {
            let mut cmd = std::process::Command::new(if sudo { "sudo" } else { "mount" });
            if sudo {
                cmd.args(["-n", "mount"]);
            }
            cmd.args(["-t", "tmpfs", "-o", &options, "tmpfs"])
                .arg(dir.path())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let sudo = if mount(false) {
            false
        } else if mount(true) {
            true
        } else {
            let msg = "cannot mount a tmpfs (needs root or passwordless sudo): the full-disk test cannot run";
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
            eprintln!("\n!!!!!!!!!! SKIPPED: {msg} !!!!!!!!!!\n");
            return None;
        };
        Some(TinyDisk { dir, sudo })
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    fn filler(&self) -> std::path::PathBuf {
        self.path().join("filler")
    }

    /// Writes a file until the disk is full.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.filler()).expect("create the filler");
        let chunk = vec![0u8; 64 * 1024];
        loop {
            if let Err(e) = f.write_all(&chunk) {
                assert_eq!(e.raw_os_error(), Some(28), "ENOSPC expected: {e}");
                break;
            }
        }
        // The last partial chunk: fill what is left byte by byte.
        while f.write_all(&[0]).is_ok() {}
    }

    fn free(&self) {
        std::fs::remove_file(self.filler()).expect("remove the filler");
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let mut cmd = std::process::Command::new(if self.sudo { "sudo" } else { "umount" });
        if self.sudo {
            cmd.args(["-n", "umount"]);
        }
        let _ = cmd.arg("-l").arg(self.path()).status();
    }
}

async fn post_service(gw: &Gateway, name: &str) -> u16 {
    let (status, _) = post_json(
        &gw.admin_url("/services"),
        json!({"name": name, "url": "http://127.0.0.1:9/"}),
    )
    .await;
    status
}

/// Item 7: after a "no space left" error every later write used to be a
/// 500 until restart. The store reopens its file and writes work again as
/// soon as there is room, without a restart; what was written survives one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_recover_once_the_disk_has_room_again() {
    let Some(disk) = TinyDisk::mount("8m") else {
        return;
    };
    let data = disk.path().join("data");
    let gw = Gateway::start_in(&data);
    assert_eq!(post_service(&gw, "before").await, 201);

    disk.fill();
    let mut statuses = Vec::new();
    for i in 0..20 {
        let status = post_service(&gw, &format!("full{i}")).await;
        statuses.push(status);
        if status == 500 {
            break;
        }
    }
    assert_eq!(
        statuses.last(),
        Some(&500),
        "a write failed on the full disk: {statuses:?}"
    );

    disk.free();
    assert_eq!(post_service(&gw, "after").await, 201, "no restart needed");
    let (status, _) = get_json(&gw.admin_url("/services/after")).await;
    assert_eq!(status, 200);
    let route = gw
        .route("after", json!({"name": "after", "paths": ["/after"]}))
        .await;
    assert_eq!(route["name"], "after");
    assert_alive(&gw).await;

    assert!(gw.stop().success());
    let gw = Gateway::start_in(&data);
    for name in ["before", "after"] {
        let (status, _) = get_json(&gw.admin_url(&format!("/services/{name}"))).await;
        assert_eq!(status, 200, "{name} survived the restart");
    }
}

/// Item 7: a first start on a full disk used to leave a half-written
/// `lunagate.redb` that every later start refused ("invalid data"). Now it
/// leaves nothing, and the next start (with room) works; a half-written
/// file left by an older build is recognised and created again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_on_a_full_disk_leaves_nothing_behind() {
    let Some(disk) = TinyDisk::mount("4m") else {
        return;
    };
    let data = disk.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let db = data.join("lunagate.redb");

    disk.fill();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lunagate"))
        .args([
            "serve",
            "--proxy-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("run lunagate");
    assert!(!out.status.success(), "it cannot start on a full disk");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(!db.exists(), "no half-written database is left behind");
    disk.free();

    let gw = Gateway::start_in(&data);
    assert_eq!(post_service(&gw, "first").await, 201);
    assert!(gw.stop().success());

    // What an older build left: the file, its header never written.
    std::fs::remove_file(&db).unwrap();
    std::fs::write(&db, vec![0u8; 1 << 20]).unwrap();
    let gw = Gateway::start_in(&data);
    assert_eq!(post_service(&gw, "second").await, 201);
    assert!(
        data.join("lunagate.redb.incomplete").exists(),
        "set aside, not deleted"
    );
}

/// `GET /status`'s count of Lua chunks compiled since start.
async fn chunks_compiled(gw: &Gateway) -> u64 {
    let (_, status) = get_json(&gw.admin_url("/status")).await;
    status["lunagate"]["lua_chunks_compiled"]
        .as_u64()
        .expect("lunagate.lua_chunks_compiled in /status")
}

/// Item 10: every write used to reload every entity and recompile every
/// function. Now a write compiles only the code it brings: unrelated writes
/// compile nothing, and code already compiled for another plugin is shared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_compiles_only_the_functions_it_changed() {
    let gw = Gateway::start();
    gw.service("svc", "http://127.0.0.1:9/", json!({})).await;
    let function = |i: usize| format!("kong.response.set_header('x-n', '{i}')");
    for i in 0..20 {
        gw.route(
            "svc",
            json!({"name": format!("r{i}"), "paths": [format!("/r{i}")]}),
        )
        .await;
        gw.admin(
            reqwest::Method::POST,
            &format!("/routes/r{i}/plugins"),
            json!({"name": "pre-function", "config": {"access": [function(i)]}}),
        )
        .await;
    }
    let before = chunks_compiled(&gw).await;
    assert!(before >= 20, "{before}");

    gw.route("svc", json!({"name": "extra", "paths": ["/extra"]}))
        .await;
    gw.admin(reqwest::Method::DELETE, "/routes/r7", json!(null))
        .await;
    assert_eq!(chunks_compiled(&gw).await, before, "nothing to compile");

    // Code another plugin already has is not compiled again.
    gw.admin(
        reqwest::Method::POST,
        "/routes/extra/plugins",
        json!({"name": "pre-function", "config": {"access": [function(5)]}}),
    )
    .await;
    assert_eq!(chunks_compiled(&gw).await, before);

    // A changed function is compiled, once, and runs.
    let plugins = gw
        .admin(reqwest::Method::GET, "/routes/r3/plugins", json!(null))
        .await;
    let id = plugins["data"][0]["id"].as_str().unwrap().to_string();
    gw.admin(
        reqwest::Method::PATCH,
        &format!("/plugins/{id}"),
        json!({"config": {"access": ["return kong.response.exit(200, 'patched')"]}}),
    )
    .await;
    assert_eq!(chunks_compiled(&gw).await, before + 1);
    let resp = gw.get("/r3").await;
    assert_eq!(resp.text().await.unwrap(), "patched");
}

/// The gateway's resident memory, from /proc.
fn rss_mib(gw: &Gateway) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", gw.pid())).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

async fn function_slots(gw: &Gateway) -> u64 {
    let (_, status) = get_json(&gw.admin_url("/status")).await;
    status["lunagate"]["lua_function_slots"]
        .as_u64()
        .expect("lunagate.lua_function_slots in /status")
}

/// Item 8: each worker kept a function slot per (plugin, version) forever:
/// 20 rounds of create, call and delete of a function holding 4 MiB took
/// RSS from 47 to 128 MB. Slots of deleted or updated plugins are dropped
/// now, while a plugin that did not change keeps its state across writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_and_updated_functions_are_released() {
    let up = echo_upstream("up").await;
    let gw = Gateway::start_with_workers(1);
    gw.service("svc", &format!("http://{up}/"), json!({})).await;
    gw.route("svc", json!({"name": "leak", "paths": ["/leak"]}))
        .await;
    let header = |resp: &reqwest::Response, name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let warm = gw.admin(
        reqwest::Method::POST,
        "/routes/leak/plugins",
        json!({"name": "pre-function", "config": {"access": ["kong.response.set_header('x-warm', '1')"]}}),
    )
    .await;
    assert_eq!(
        header(&gw.get("/leak").await, "x-warm").as_deref(),
        Some("1")
    );
    let id = warm["id"].as_str().unwrap().to_string();
    gw.admin(
        reqwest::Method::DELETE,
        &format!("/plugins/{id}"),
        json!(null),
    )
    .await;
    let rss_before = rss_mib(&gw);

    for round in 0..20 {
        let code = format!(
            "local big = string.rep('x', 2 * 1024 * 1024) .. '{round}' \
             return function() kong.response.set_header('x-len', #big) end"
        );
        let plugin = gw
            .admin(
                reqwest::Method::POST,
                "/routes/leak/plugins",
                json!({"name": "pre-function", "config": {"access": [code]}}),
            )
            .await;
        let len = header(&gw.get("/leak").await, "x-len");
        assert_eq!(
            len,
            Some((2 * 1024 * 1024 + round.to_string().len()).to_string())
        );
        let id = plugin["id"].as_str().unwrap().to_string();
        gw.admin(
            reqwest::Method::DELETE,
            &format!("/plugins/{id}"),
            json!(null),
        )
        .await;
    }

    // A counter keeps its upvalue while other things change, and starts
    // over when its plugin is updated (Kong: "until the plugin changes").
    let counter = gw
        .admin(
            reqwest::Method::POST,
            "/routes/leak/plugins",
            json!({"name": "pre-function", "config": {"access": [
                "local n = 0 return function() n = n + 1 kong.response.set_header('x-n', n) end"
            ]}}),
        )
        .await;
    let n = |resp: reqwest::Response| header(&resp, "x-n").unwrap_or_default();
    assert_eq!(n(gw.get("/leak").await), "1");
    assert_eq!(n(gw.get("/leak").await), "2");
    gw.route("svc", json!({"name": "other", "paths": ["/other"]}))
        .await;
    assert_eq!(
        n(gw.get("/leak").await),
        "3",
        "an unrelated write keeps the state"
    );
    let id = counter["id"].as_str().unwrap().to_string();
    gw.admin(
        reqwest::Method::PATCH,
        &format!("/plugins/{id}"),
        json!({"tags": ["updated"]}),
    )
    .await;
    assert_eq!(n(gw.get("/leak").await), "1", "a new version starts over");

    assert_eq!(
        function_slots(&gw).await,
        1,
        "only the live function has a slot"
    );
    let grown = rss_mib(&gw) - rss_before;
    assert!(
        grown < 24.0,
        "RSS grew by {grown:.0} MiB over 20 rounds of 2 MiB functions"
    );
}

/// Item 10: a route with 200,000 paths was accepted, made every later write
/// cost 117 ms and left 230 MB behind after its deletion. Collections are
/// bounded now, with Kong's schema-violation shape: 256 paths or hosts per
/// route (paths up to 1,024 bytes, hosts up to 256), 64 header names, and
/// 1,000 items in any other array, set or map.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_collections_are_schema_violations() {
    let gw = Gateway::start();
    gw.service("svc", "http://127.0.0.1:9/", json!({})).await;
    let url = gw.admin_url("/services/svc/routes");
    let many = |n: usize| -> Vec<String> { (0..n).map(|i| format!("/p{i}")).collect() };

    let (status, body) = post_json(&url, json!({"paths": many(200_000)})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["name"], "schema violation");
    assert_eq!(
        body["fields"],
        json!({"paths": "length must be at most 256"})
    );
    assert_eq!(
        body["message"],
        "schema violation (paths: length must be at most 256)"
    );

    let long = format!("/{}", "a".repeat(2000));
    let (status, body) = post_json(&url, json!({"paths": ["/ok", long]})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["fields"]["paths"],
        json!([null, "length must be at most 1024"])
    );
    let tags: Vec<String> = (0..1001).map(|i| format!("t{i}")).collect();
    let (status, body) = post_json(&url, json!({"paths": ["/t"], "tags": tags})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["fields"]["tags"], "length must be at most 1000");

    let (status, body) = post_json(&url, json!({"name": "wide", "paths": many(256)})).await;
    assert_eq!(status, 201, "the limit itself is accepted: {body}");
    let (_, schema) = get_json(&gw.admin_url("/schemas/routes")).await;
    let paths = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|f| f.get("paths"))
        .unwrap();
    assert_eq!(paths["len_max"], 256);
    assert_eq!(paths["elements"]["len_max"], 1024);
}

/// Low: Admin API connections had no timeouts: a head trickled a byte at a
/// time, or a connection that never sends anything, held on forever. Now
/// the head must arrive within `--admin-header-timeout` of its first byte
/// and a connection waiting for a request closes after
/// `--admin-idle-timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_admin_clients_are_cut_off() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let gw = Gateway::start_with(
        &[
            "--admin-header-timeout",
            "1s",
            "--admin-idle-timeout",
            "1500ms",
        ],
        &[],
    );
    let admin = gw.admin;
    // Whether the gateway closed the connection before `limit`, and what
    // it sent first. A close is the end of the stream or a reset: a
    // connection closed while a byte of the client's is unread (a trickled
    // byte that arrived as the timeout fired) is reset, not ended. Only
    // the read timing out means the connection was left open.
    let closed_within = |mut s: std::net::TcpStream, limit: Duration| -> (bool, String) {
        s.set_read_timeout(Some(limit)).unwrap();
        let mut got = Vec::new();
        let closed = match s.read_to_end(&mut got) {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        };
        (closed, String::from_utf8_lossy(&got).into_owned())
    };

    let cases = tokio::task::spawn_blocking(move || {
        // The three clients at once: each waits for its own timeout.
        let trickled = std::thread::spawn(move || {
            // A head trickled a byte every 100 ms would take 8 s to complete.
            let trickle = std::net::TcpStream::connect(admin).unwrap();
            let mut writer = trickle.try_clone().unwrap();
            let started = Instant::now();
            std::thread::spawn(move || {
                let head = format!(
                    "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: {}\r\n\r\n",
                    "a".repeat(40)
                );
                for b in head.bytes() {
                    if writer.write_all(&[b]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
            let (closed, got) = closed_within(trickle, Duration::from_secs(7));
            (closed, got, started.elapsed())
        });
        // A connection that never sends a byte.
        let silent = std::thread::spawn(move || {
            let silent = std::net::TcpStream::connect(admin).unwrap();
            closed_within(silent, Duration::from_secs(7))
        });
        // A kept-alive connection after one answer.
        let kept = std::thread::spawn(move || {
            let mut kept = std::net::TcpStream::connect(admin).unwrap();
            kept.write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .unwrap();
            closed_within(kept, Duration::from_secs(7))
        });
        (
            trickled.join().unwrap(),
            silent.join().unwrap(),
            kept.join().unwrap(),
        )
    })
    .await
    .unwrap();

    let ((closed, got, took), silent, kept) = cases;
    assert!(
        closed && got.is_empty(),
        "the trickled head was cut off unanswered: {got}"
    );
    assert!(
        took < Duration::from_secs(8),
        "cut off before its head completed ({took:?})"
    );
    assert!(
        silent.0 && silent.1.is_empty(),
        "the silent connection was closed"
    );
    assert!(kept.0, "the idle kept-alive connection was closed");
    assert!(
        kept.1.starts_with("HTTP/1.1 200"),
        "after its answer: {}",
        kept.1
    );

    // A prompt client is unaffected.
    let (status, _) = get_json(&gw.admin_url("/status")).await;
    assert_eq!(status, 200);
}
