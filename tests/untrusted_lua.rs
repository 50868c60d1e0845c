//! `untrusted_lua = off | sandbox | on` (Kong's node settings, `serve
//! --untrusted-lua*` / `LUNAGATE_UNTRUSTED_LUA*`): what a stored function
//! sees and what it is refused in each mode, through the Admin API and the
//! proxy; `require` and its allow-list; one function's changes never seen
//! by another; the start-up warning for stored functions that use what
//! the mode hides.
//!
//! Kong's `spec/01-unit/20-sandbox_spec.lua` cases that a function can
//! express are ported here (`sandbox_spec ::` in the names below).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::*;
use serde_json::{json, Value};

/// A route at `/{name}` whose pre-function runs `code` (its upstream does
/// not exist: these functions answer themselves).
async fn function_at(admin: &str, name: &str, code: &str) -> (u16, Value) {
    let (s, b) = post_json(
        &format!("{admin}/services"),
        json!({"name": name, "url": format!("http://127.0.0.1:{}/", closed_port())}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = post_json(
        &format!("{admin}/services/{name}/routes"),
        json!({"paths": [format!("/{name}")]}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    post_json(
        &format!("{admin}/services/{name}/plugins"),
        json!({"name": "pre-function", "config": {"access": [code]}}),
    )
    .await
}

async fn stored(admin: &str, name: &str, code: &str) {
    let (s, b) = function_at(admin, name, code).await;
    assert_eq!(s, 201, "{b}");
}

/// Status and body of `GET /{name}` on `proxy`.
async fn call(proxy: &str, name: &str) -> (u16, String) {
    let r = client()
        .get(format!("{proxy}/{name}"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The body of `GET /{name}`, which must be a 200.
async fn body(proxy: &str, name: &str) -> String {
    let (s, b) = call(proxy, name).await;
    assert_eq!(s, 200, "/{name}: {b}");
    b
}

/// A gateway with one worker (so every function shares one VM) and
/// `args`/`envs`.
fn one_worker(args: &[&str], envs: &[(&str, &str)]) -> (Gateway, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::spawn_with(tmp.path(), 1, args, envs);
    (gw, tmp)
}

/// Resolves dotted names from the function's environment; shared by the
/// visibility functions.
const GET: &str = r#"
    local function get(path)
      local v = _G
      for part in path:gmatch("[^.]+") do
        if type(v) ~= "table" then return nil end
        v = v[part]
      end
      return v
    end
    local function check(names, want)
      local wrong = {}
      for name in names:gmatch("%S+") do
        if (get(name) ~= nil) ~= want then wrong[#wrong + 1] = name end
      end
      return table.concat(wrong, " ")
    end
"#;

/// Kong's `kong/tools/sandbox/environment/lua.lua`, then `kong`, `ngx` and
/// `require`.
const KONG_VISIBLE: &str = "_VERSION assert error ipairs next pairs pcall print select
    tonumber tostring type unpack xpcall
    bit.arshift bit.band bit.bnot bit.bor bit.bswap bit.bxor
    bit.lshift bit.rol bit.ror bit.rshift bit.tobit bit.tohex
    coroutine.create coroutine.resume coroutine.running
    coroutine.status coroutine.wrap coroutine.yield
    io.type
    jit.os jit.arch jit.version jit.version_num
    math.abs math.acos math.asin math.atan math.atan2 math.ceil
    math.cos math.cosh math.deg math.exp math.floor math.fmod
    math.frexp math.huge math.ldexp math.log math.log10 math.max
    math.min math.modf math.pi math.pow math.rad math.random
    math.sin math.sinh math.sqrt math.tan math.tanh
    os.clock os.date os.difftime os.time
    string.byte string.char string.find string.format string.gmatch
    string.gsub string.len string.lower string.match string.rep
    string.reverse string.sub string.upper
    table.clear table.clone table.concat table.foreach table.foreachi
    table.getn table.insert table.isarray table.isempty table.maxn
    table.move table.new table.nkeys table.pack table.remove
    table.sort table.unpack
    kong.request.get_method kong.response.exit ngx.re.match ngx.say require _G";

/// Lua 5.4 names Kong lacks that stay visible (the README lists them).
const LUA54_EXTRAS: &str = "coroutine.close coroutine.isyieldable math.maxinteger
    math.mininteger math.tointeger math.type math.ult string.pack string.packsize
    string.unpack utf8.char utf8.charpattern utf8.codepoint utf8.codes utf8.len utf8.offset";

/// What Kong's sandbox hides.
const KONG_HIDDEN: &str = "load loadstring dofile loadfile getmetatable setmetatable
    rawget rawset rawequal rawlen collectgarbage module package warn debug.getinfo
    io.open io.read io.write io.lines io.popen os.execute os.exit os.remove os.rename
    os.tmpname os.setlocale string.dump math.randomseed ngx.shared";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_mode_shows_kongs_set_and_refuses_the_rest() {
    // The allow-list as a flag, the environment as an env var.
    let (gw, _tmp) = one_worker(
        &[
            "--untrusted-lua-sandbox-requires",
            "cjson,cjson.safe,ngx.re,kong.tools.uuid,table.new",
        ],
        &[
            (
                "LUNAGATE_UNTRUSTED_LUA_SANDBOX_ENVIRONMENT",
                "os.getenv,debug.traceback",
            ),
            ("LUNAGATE_TEST_VALUE", "seen"),
        ],
    );
    let admin = format!("http://{}", gw.admin);
    let proxy = format!("http://{}", gw.proxy);
    stored(
        &admin,
        "visible",
        &format!(
            "{GET} return kong.response.exit(200, 'missing=' .. check([[{KONG_VISIBLE} {LUA54_EXTRAS}]], true) \
             .. ';leaked=' .. check([[{KONG_HIDDEN}]], false))"
        ),
    )
    .await;
    // sandbox_spec :: has access to config.untrusted_lua_sandbox_environment,
    // does not have access to anything else on the modules
    stored(
        &admin,
        "linked",
        &format!(
            "{GET} return kong.response.exit(200, check('os.getenv debug.traceback os.time', true) \
             .. ';' .. check('debug.getinfo os.execute', false) .. ';' .. os.getenv('LUNAGATE_TEST_VALUE'))"
        ),
    )
    .await;
    // sandbox_spec :: tables are read only / unmutable on all levels; the
    // library tables raise Kong's message.
    stored(
        &admin,
        "writes",
        r#"
        local out = {}
        for _, f in ipairs({
          function() string.x = 1 end,
          function() table.y = 1 end,
          function() os.getenv2 = 1 end,
          function() kong.request.x = 1 end,
          function() kong.x = 1 end,
          function() ngx.x = 1 end,
          function() debug.x = 1 end,
          function() string.upper = nil end,
          function() kong.request.get_method = print end,
          function() ngx.say = print end,
        }) do
          local ok, err = pcall(f)
          out[#out + 1] = ok and "ok" or err
        end
        return kong.response.exit(200, table.concat(out, "\n"))
        "#,
    )
    .await;
    // sandbox_spec :: fake require: can require
    // config.untrusted_lua_sandbox_requires, cannot require anything else
    stored(
        &admin,
        "require",
        r#"
        local cjson = require "cjson"
        local safe = require "cjson.safe"
        local decoded = cjson.decode('{"a":[1,2],"n":null}')
        local bad, err = safe.decode("{")
        local denied = {}
        for _, name in ipairs({"os", "io", "string", "something-else", "resty.template"}) do
          local ok, e = pcall(require, name)
          denied[#denied + 1] = ok and ("loaded " .. name) or e
        end
        return kong.response.exit(200, {
          encoded = cjson.encode({a = 1}),
          second = decoded.a[2],
          null = decoded.n == ngx.null and cjson.null == ngx.null,
          safe = bad == nil and type(err) == "string",
          same = require("cjson") == cjson,
          split = require("ngx.re").split("a,b", ",")[2],
          uuid = require("kong.tools.uuid").is_valid_uuid(kong.tools.uuid.uuid()),
          new = type(require("table.new")),
          denied = denied,
        })
        "#,
    )
    .await;
    stored(
        &admin,
        "configuration",
        "local c = kong.configuration return kong.response.exit(200, c.untrusted_lua .. ';' \
         .. table.concat(c.untrusted_lua_sandbox_requires, ',') .. ';' \
         .. table.concat(c.untrusted_lua_sandbox_environment, ','))",
    )
    .await;
    // sandbox_spec :: has access to string.rep
    stored(
        &admin,
        "rep",
        "return kong.response.exit(200, string.rep('a', 3) .. tostring(('a'):rep(3) == 'aaa') \
         .. tostring(('x').dump == nil))",
    )
    .await;
    // Bytecode never loads (no `load` at all), and `_G` is the function's own.
    stored(
        &admin,
        "globals",
        "x = 1 _G.y = 2 return kong.response.exit(200, tostring(rawget == nil) .. x .. y .. \
         tostring(_G.x) .. tostring(_G._G == _G))",
    )
    .await;

    assert_eq!(body(&proxy, "visible").await, "missing=;leaked=");
    assert_eq!(body(&proxy, "linked").await, ";;seen");
    assert_eq!(
        body(&proxy, "writes").await,
        [
            "Cannot modify string.x. Protected by the sandbox.",
            "Cannot modify table.y. Protected by the sandbox.",
            "Cannot modify os.getenv2. Protected by the sandbox.",
            "Cannot modify kong.request.x. Protected by the sandbox.",
            "Cannot modify kong.x. Protected by the sandbox.",
            "Cannot modify ngx.x. Protected by the sandbox.",
            "Cannot modify debug.x. Protected by the sandbox.",
            "Cannot modify string.upper. Protected by the sandbox.",
            "Cannot modify kong.request.get_method. Protected by the sandbox.",
            "Cannot modify ngx.say. Protected by the sandbox.",
        ]
        .join("\n")
    );
    let r: Value = serde_json::from_str(&body(&proxy, "require").await).unwrap();
    assert_eq!(
        r,
        json!({
            "encoded": "{\"a\":1}", "second": 2, "null": true, "safe": true, "same": true,
            "split": "b", "uuid": true, "new": "function",
            "denied": [
                "require 'os' not allowed within sandbox",
                "require 'io' not allowed within sandbox",
                "require 'string' not allowed within sandbox",
                "require 'something-else' not allowed within sandbox",
                "require 'resty.template' not allowed within sandbox",
            ],
        })
    );
    assert_eq!(body(&proxy, "rep").await, "aaatruetrue");
    assert_eq!(
        body(&proxy, "configuration").await,
        "sandbox;cjson,cjson.safe,ngx.re,kong.tools.uuid,table.new;os.getenv,debug.traceback"
    );
    assert_eq!(body(&proxy, "globals").await, "true121true");
}

/// What one function does is not seen by another, in `sandbox` mode:
/// required modules and their settings, globals, `_G`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_modules_are_each_functions_own() {
    let (gw, _tmp) = one_worker(&["--untrusted-lua-sandbox-requires", "cjson"], &[]);
    let admin = format!("http://{}", gw.admin);
    let proxy = format!("http://{}", gw.proxy);
    stored(
        &admin,
        "changer",
        r#"
        local cjson = require "cjson"
        cjson.encode_empty_table_as_object(false)
        cjson.marker = "changed"
        shared_global = "changed"
        return kong.response.exit(200, cjson.encode({}))
        "#,
    )
    .await;
    stored(
        &admin,
        "observer",
        r#"
        local cjson = require "cjson"
        return kong.response.exit(200, cjson.encode({}) .. tostring(cjson.marker)
          .. tostring(shared_global))
        "#,
    )
    .await;
    for _ in 0..2 {
        assert_eq!(body(&proxy, "changer").await, "[]");
        assert_eq!(body(&proxy, "observer").await, "{}nilnil");
    }
}

/// `on`: the whole library (`io`, `os`, `require` of files, `load`,
/// `setmetatable`, but of `debug` only what reads: debug.setmetatable or
/// getregistry would reach what other functions share), one environment and one `package.loaded` per
/// function, library tables still read-only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_mode_gives_the_whole_library_and_keeps_functions_apart() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("greeting.lua"), "return {hello = 'world'}").unwrap();
    std::fs::write(dir.path().join("data.txt"), "from a file").unwrap();
    let (gw, _tmp) = one_worker(&[], &[("LUNAGATE_UNTRUSTED_LUA", "on")]);
    let admin = format!("http://{}", gw.admin);
    let proxy = format!("http://{}", gw.proxy);
    let d = dir.path().display();
    stored(
        &admin,
        "full",
        &format!(
            r#"
            package.path = "{d}/?.lua"
            local greeting = require "greeting"
            local f = assert(io.open("{d}/data.txt"))
            local text = f:read("a")
            f:close()
            package.loaded.mine = "mine"
            local t = setmetatable({{}}, {{__index = function() return "meta" end}})
            load("loaded_global = 'set by load'")()
            local ok, err = pcall(function() string.x = 1 end)
            return kong.response.exit(200, table.concat({{
              greeting.hello, text, type(os.getenv), type(os.execute), type(debug.traceback),
              t.anything, tostring(loaded_global), err, type(require("cjson").encode),
              tostring(require("mine")),
              type(debug.getinfo), type(debug.setmetatable), type(debug.getregistry),
              type(debug.setupvalue), type(debug.upvaluejoin), type(debug.sethook),
            }}, "|"))
            "#
        ),
    )
    .await;
    stored(
        &admin,
        "other",
        r#"
        local ok = pcall(require, "greeting")
        return kong.response.exit(200, table.concat({
          tostring(ok), tostring(package.loaded.mine), tostring(loaded_global),
          package.path == "./?.lua;./?/init.lua" and "default path" or package.path,
        }, "|"))
        "#,
    )
    .await;
    // sandbox_spec :: untrusted_lua = 'on' does not load binary strings
    // (text only): a function is source, never bytecode.
    let (status, b) = function_at(&admin, "binary", "\u{1b}Lua\u{54}\u{0}").await;
    assert_eq!(status, 400, "{b}");
    for _ in 0..2 {
        assert_eq!(
            body(&proxy, "full").await,
            "world|from a file|function|function|function|meta|nil|\
             Cannot modify string.x. Protected by the sandbox.|function|mine|\
             function|nil|nil|nil|nil|nil"
        );
        assert_eq!(body(&proxy, "other").await, "false|nil|nil|default path");
    }
}

/// `ngx.shared.kong` in `on` mode: the node's `kong` dict (Kong's
/// `lua_shared_dict kong`), with OpenResty's methods and answers, one for
/// every worker; it holds Kong's `kong:node_id`. (Hidden in `sandbox`
/// mode, as Kong's sandbox hides it: `KONG_HIDDEN`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_mode_has_the_nodes_shared_kong_dict() {
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::spawn_with(tmp.path(), 2, &["--untrusted-lua", "on"], &[]);
    let admin = format!("http://{}", gw.admin);
    let proxy = format!("http://{}", gw.proxy);
    stored(
        &admin,
        "dict",
        r#"
        local d = ngx.shared.kong
        local out = {}
        local function put(...)
          local t = table.pack(...)
          for i = 1, t.n do t[i] = tostring(t[i]) end
          out[#out + 1] = table.concat(t, ",")
        end
        put(d:get("kong:node_id") == kong.node.get_id())
        put(d:set("k", "v", 0, 7))
        put(d:get("k"))
        put(d:add("k", "w"))
        put(d:safe_add("k2", 1.5))
        put(d:replace("nope", 1))
        put(d:incr("k2", 1))
        put(d:incr("k", 1))
        put(d:incr("missing", 1))
        put(d:get())
        put(d:set("t", {}))
        put(pcall(d.get, "k"))
        put(d:ttl("k"))
        put(d:delete("k"), d:get("k"))
        put(d:set("brief", true, 10))
        put(d:ttl("brief") > 9, d:get_stale("brief"))
        put(d:capacity(), d:free_space() < d:capacity())
        return kong.response.exit(200, table.concat(out, "\n"))
        "#,
    )
    .await;
    stored(
        &admin,
        "hits",
        r#"return kong.response.exit(200, tostring(ngx.shared.kong:incr("hits", 1, 0)))"#,
    )
    .await;
    assert_eq!(
        body(&proxy, "dict").await,
        "true\ntrue,nil,false\nv,7\nfalse,exists,false\ntrue,nil,false\n\
         false,not found,false\n2.5,nil,false\nnil,not a number\nnil,not found\n\
         nil,nil key\nnil,bad value type\nfalse,bad \"zone\" argument\n0\ntrue,nil\n\
         true,nil,false\ntrue,true,nil,false\n5242880,true"
    );
    // One dict for the node: every worker counts into it.
    for want in 1..=6 {
        let r = client()
            .get(format!("{proxy}/hits"))
            .header("connection", "close")
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), want.to_string());
    }
}

/// A gateway whose stderr goes to `log`, on `data`.
fn spawn_logged(data: &Path, log: &Path, args: &[&str]) -> (Child, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lunagate"))
        .args(["serve", "--proxy-listen", "127.0.0.1:0"])
        .args(["--admin-listen", "127.0.0.1:0", "--proxy-listen-tls", "off"])
        .args(["--workers", "1"])
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("LUNAGATE_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr = || -> String {
        let line = lines.next().unwrap().unwrap();
        format!("http://{}", line.rsplit(' ').next().unwrap())
    };
    let (proxy, admin) = (addr(), addr());
    (child, proxy, admin)
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Functions stored under `on` that use `load` and `setmetatable`: a
/// restart in `sandbox` mode names them in a warning (and they fail where
/// they reach the hidden names); in `off` mode every stored function is
/// named, fails its requests, and the Admin API refuses new ones with a
/// 400 in Kong's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modes_that_hide_what_stored_functions_use_say_so_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("stderr.log");

    let (child, proxy, admin) = spawn_logged(&data, &log, &["--untrusted-lua", "on"]);
    stored(
        &admin,
        "uses-load",
        "local f = load('return 1') return kong.response.exit(200, tostring(f()))",
    )
    .await;
    stored(
        &admin,
        "uses-meta",
        "local t = setmetatable({}, {}) return kong.response.exit(200, 'meta')",
    )
    .await;
    stored(
        &admin,
        "plain",
        "return kong.response.exit(200, string.upper('ok'))",
    )
    .await;
    stored(
        &admin,
        "uses-cjson",
        "local cjson = require 'cjson' return kong.response.exit(200, cjson.encode({1}))",
    )
    .await;
    assert_eq!(body(&proxy, "uses-load").await, "1");
    let (_, plugins) = get_json(&format!("{admin}/plugins")).await;
    let id_of = |needle: &str| -> String {
        plugins["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["config"]["access"][0].as_str().unwrap().contains(needle))
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (load_id, meta_id, plain_id) = (id_of("load("), id_of("setmetatable"), id_of("upper"));
    let cjson_id = id_of("require 'cjson'");
    stop(child);

    let (child, proxy, _) = spawn_logged(&data, &log, &[]);
    let (status, _) = call(&proxy, "uses-load").await;
    assert_eq!(status, 500, "load is hidden in sandbox mode");
    assert_eq!(body(&proxy, "plain").await, "OK");
    stop(child);
    let text = std::fs::read_to_string(&log).unwrap();
    let warning = |id: &str| text.lines().find(|l| l.contains(id)).map(str::to_string);
    let load_line =
        warning(&load_id).unwrap_or_else(|| panic!("no warning for {load_id}:\n{text}"));
    assert!(
        load_line.contains("uses load, which untrusted_lua = sandbox hides"),
        "{load_line}"
    );
    assert!(load_line.contains("config.access[1]"), "{load_line}");
    let meta_line =
        warning(&meta_id).unwrap_or_else(|| panic!("no warning for {meta_id}:\n{text}"));
    assert!(meta_line.contains("uses setmetatable"), "{meta_line}");
    assert_eq!(warning(&plain_id), None, "{text}");
    let cjson_line =
        warning(&cjson_id).unwrap_or_else(|| panic!("no warning for {cjson_id}:\n{text}"));
    assert!(
        cjson_line
            .contains("requires cjson, which --untrusted-lua-sandbox-requires does not allow"),
        "{cjson_line}"
    );

    let (child, proxy, admin) = spawn_logged(&data, &log, &["--untrusted-lua", "off"]);
    let (status, b) = function_at(&admin, "refused", "return 1").await;
    assert_eq!(status, 400, "{b}");
    assert_eq!(b["code"], 2, "{b}");
    assert_eq!(
        b["fields"]["config"]["access"][0],
        "error parsing pre-function: loading of untrusted Lua code disabled because \
         'untrusted_lua' config option is set to 'off'"
    );
    let (status, b) = call(&proxy, "plain").await;
    assert_eq!(status, 500, "{b}");
    // A stored function can still be switched off, not on.
    let patch = |enabled: bool| {
        let url = format!("{admin}/plugins/{plain_id}");
        async move {
            let r = client()
                .patch(url)
                .json(&json!({"enabled": enabled}))
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }
    };
    assert_eq!(patch(false).await, 200);
    assert_eq!(patch(true).await, 400);
    stop(child);
    let text = std::fs::read_to_string(&log).unwrap();
    for id in [&load_id, &meta_id, &plain_id, &cjson_id] {
        assert!(
            text.lines()
                .any(|l| l.contains(id.as_str()) && l.contains("untrusted_lua is 'off'")),
            "{id}:\n{text}"
        );
    }
}
