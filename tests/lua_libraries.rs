//! The OpenResty and Kong libraries a stored function reaches (lua-stdlib's
//! `ext`, registered by the gateway): `ngx.re`, the `ngx` codecs and
//! digests, the time helpers, `ngx.null`, `kong.table`, `kong.tools.uuid`
//! (`cjson` and the other modules `require` loads are in
//! tests/untrusted_lua.rs, with the allow-list). Each is called from a
//! function stored through the Admin API and read back through the proxy.

mod common;

use common::*;
use serde_json::{json, Value};

/// A route at `/{name}` whose pre-function is `code` (the service's
/// upstream does not exist: every function here answers itself).
async fn function_at(gw: &Gateway, name: &str, code: &str) {
    let (s, b) = post_json(
        &gw.admin_url("/services"),
        json!({"name": name, "url": format!("http://127.0.0.1:{}/", closed_port())}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = post_json(
        &gw.admin_url(&format!("/services/{name}/routes")),
        json!({"paths": [format!("/{name}")]}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = post_json(
        &gw.admin_url(&format!("/services/{name}/plugins")),
        json!({"name": "pre-function", "config": {"access": [code]}}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
}

/// The JSON body `/{name}` answers with, which must be a 200.
async fn answer(gw: &Gateway, name: &str) -> Value {
    let r = client()
        .get(gw.proxy_url(&format!("/{name}")))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "/{name}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("/{name}: {e}: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ngx_and_kong_libraries_are_reachable_from_a_stored_function() {
    let gw = Gateway::start_with_workers(1);
    function_at(
        &gw,
        "re",
        r#"
        local m = ngx.re.match("hello 1234", [[(\d+)]], "jo")
        local from, to = ngx.re.find("hello 1234", [[\d+]], "jo")
        local s, n = ngx.re.gsub("a-b-c", "-", "+", "jo")
        local pairs_seen = {}
        for m in ngx.re.gmatch("k1=v1;k2=v2", [[(\w+)=(\w+)]], "jo") do
          pairs_seen[#pairs_seen + 1] = m[1] .. ":" .. m[2]
        end
        local sub = ngx.re.sub("Hello", "h", "J", "i")
        local named = ngx.re.match("2026-12", [[(?<year>\d{4})-(?<month>\d\d)]], "jo")
        local bad, err = ngx.re.match("x", "(", "jo")
        return kong.response.exit(200, {
          match = m[1], from = from, to = to, gsub = s, n = n,
          gmatch = table.concat(pairs_seen, ","), sub = sub,
          year = named.year, bad = bad == nil, err = err,
        })
        "#,
    )
    .await;
    function_at(
        &gw,
        "codecs",
        r#"
        local args = ngx.decode_args("a=1&b=2&a=3")
        return kong.response.exit(200, {
          md5 = ngx.md5(""),
          sha1 = ngx.encode_base64(ngx.sha1_bin("abc")),
          hmac = ngx.encode_base64(ngx.hmac_sha1("key", "The quick brown fox jumps over the lazy dog")),
          crc32 = ngx.crc32_short("hello"),
          crc32_long = ngx.crc32_long("hello"),
          encode_args = ngx.encode_args({a = "b c"}),
          decode_args = table.concat(args.a, ",") .. ";" .. args.b,
          quote = ngx.quote_sql_str("it's"),
          escape = ngx.escape_uri("a b/c"),
          unescape = ngx.unescape_uri("a%20b"),
          base64 = ngx.decode_base64(ngx.encode_base64("lunagate")),
        })
        "#,
    )
    .await;
    function_at(
        &gw,
        "time",
        r#"
        local t = ngx.time()
        return kong.response.exit(200, {
          http_time = ngx.http_time(1290079655),
          cookie_time = ngx.cookie_time(1290079655),
          parsed = ngx.parse_http_time("Thu, 18 Nov 2010 11:27:35 GMT"),
          now_is_time = math.abs(ngx.now() - t) < 2 and math.abs(os.time() - t) < 2,
          utctime = ngx.utctime():match("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d$") ~= nil,
          localtime = ngx.localtime():match("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d$") ~= nil,
          today = ngx.today():match("^%d%d%d%d%-%d%d%-%d%d$") ~= nil,
        })
        "#,
    )
    .await;
    function_at(
        &gw,
        "kong",
        r#"
        local t = kong.table.new(4, 0)
        t[1], t[2] = "a", "b"
        kong.table.clear(t)
        local merged = kong.table.merge({a = 1}, {b = 2})
        local id = kong.tools.uuid.uuid()
        return kong.response.exit(200, {
          cleared = next(t) == nil,
          merged = merged,
          uuid = id:match("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$") ~= nil,
          valid = kong.tools.uuid.is_valid_uuid(id),
          invalid = kong.tools.uuid.is_valid_uuid("nope"),
          null = tostring(ngx.null),
          null_type = type(ngx.null),
        })
        "#,
    )
    .await;

    assert_eq!(
        answer(&gw, "re").await,
        json!({
            "match": "1234", "from": 7, "to": 10, "gsub": "a+b+c", "n": 2,
            "gmatch": "k1:v1,k2:v2", "sub": "Jello", "year": "2026", "bad": true,
            "err": "pcre_compile() failed: missing ) in \"(\"",
        })
    );
    assert_eq!(
        answer(&gw, "codecs").await,
        json!({
            "md5": "d41d8cd98f00b204e9800998ecf8427e",
            "sha1": "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=",
            "hmac": "3nybhbi3iqa8ino29wqQcBydtNk=",
            "crc32": 907060870, "crc32_long": 907060870,
            "encode_args": "a=b%20c", "decode_args": "1,3;2",
            "quote": "'it\\'s'", "escape": "a%20b%2Fc", "unescape": "a b",
            "base64": "lunagate",
        })
    );
    assert_eq!(
        answer(&gw, "time").await,
        json!({
            "http_time": "Thu, 18 Nov 2010 11:27:35 GMT",
            "cookie_time": "Thu, 18-Nov-10 11:27:35 GMT",
            "parsed": 1290079655, "now_is_time": true,
            "utctime": true, "localtime": true, "today": true,
        })
    );
    assert_eq!(
        answer(&gw, "kong").await,
        json!({
            "cleared": true, "merged": {"a": 1, "b": 2}, "uuid": true, "valid": true,
            "invalid": false, "null": "userdata: NULL", "null_type": "userdata",
        })
    );
}

/// A pattern that only a backtracking engine runs stops at PCRE's match
/// limit (`pcre_exec() failed: -8`) instead of running for ever, and its
/// work counts against the function's instruction budget: a function that
/// keeps searching is stopped (500) and the worker goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regex_backtracking_is_bounded_by_the_function_budget() {
    // Backtracking is charged by its steps: one search that passes the
    // match limit costs about 5.4·10^6 instructions whatever the machine's
    // load, so it fits a budget of 2·10^7 and the loop does not; the time
    // limit is out of the way so the instruction budget is what stops the
    // loop.
    let gw = Gateway::start_with(
        &[
            "--lua-instruction-limit",
            "20000000",
            "--lua-time-limit",
            "120s",
        ],
        &[],
    );
    let search = r#"ngx.re.match(string.rep("a", 64) .. "!", [[^(a|aa)+\1$]], "jo")"#;
    function_at(
        &gw,
        "once",
        &format!(
            "local m, err = {search} return kong.response.exit(200, {{m = m == nil, err = err}})"
        ),
    )
    .await;
    function_at(&gw, "forever", &format!("while true do {search} end")).await;
    function_at(
        &gw,
        "alive",
        "return kong.response.exit(200, {alive = true})",
    )
    .await;
    assert_eq!(
        answer(&gw, "once").await,
        json!({"m": true, "err": "pcre_exec() failed: -8"})
    );
    let r = client().get(gw.proxy_url("/forever")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 500);
    assert_eq!(answer(&gw, "alive").await, json!({"alive": true}));
}
