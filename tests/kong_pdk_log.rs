//! Kong's `kong.log` specs, `t/01-pdk/02-log/01-sanity.t` to
//! `06-deprecation.t`, ported block by block: one gateway per spec file,
//! one case per block (`file :: TEST n: title`), each asserting on the
//! gateway's log what Kong's block asserts on nginx's error log (see the
//! harness's notes below for how a line is laid out and what is adapted).
//!
//! | file | Kong's blocks | ported | n/a | not ported |
//! |---|---|---|---|---|
//! | 01-sanity.t | 19 | 18 | 1 | 0 |
//! | 02-new.t | 5 | 5 | 0 | 0 |
//! | 03-set_format.t | 14 | 14 | 0 | 0 |
//! | 04-inspect.t | 9 | 9 | 0 | 0 |
//! | 05-set_serialize_value.t | 8 | 8 | 0 | 0 |
//! | 06-deprecation.t | 4 | 4 | 0 | 0 |
//!
//! Not applicable (no reason of the issue's list fits): 01-sanity.t TEST
//! 13 asserts that LuaJIT's trace compiler compiles a loop of `kong.log`
//! calls below the log level (`[TRACE n …]` lines of `jit.v`): functions
//! run on lunagate's Lua 5.4 VM, which has no JIT and no `jit` library
//! (a call below the level returns before formatting anything, as Kong's
//! does).
//!
//! 03-set_format.t TEST 7 asserts `%file_src` of a Lua *file*
//! (`content_by_lua_file html/my_file.lua` gives `my_file.lua`): a
//! function is a chunk of text, so the block's file is written to a
//! directory and the function `require`s it, which `--untrusted-lua on`
//! allows (that spec file's gateway runs in `on` mode); `%file_src` is
//! then the file's name, as Kong's.
//!
//! Adapted: Kong's blocks make the core facility (`require "kong.pdk"
//! .new()`); here `pdk` is the function's `kong`, whose `kong.log` is the
//! plugin's facility (namespace `pre-function`). 05-set_serialize_value.t
//! calls `kong.log.serialize` in `content_by_lua` (Kong's phase checks
//! are off outside Kong); serialize is for the log phase only, so blocks
//! that call it run in `log`; TEST 7-8 replace `ngx.req.get_headers` to add
//! `foo`, `authorization` and `proxy-authorization`: here the request
//! sends them. 06-deprecation.t calls `require "kong.deprecation".init()`
//! (wiring Penlight's deprecation function to `kong.log`): there is no
//! such module, `kong.log.deprecation` writes directly.
//!
//! Also here (lunagate's own, hostile input, one gateway): huge, CR/LF
//! and cyclic or deep arguments to `kong.log`, `inspect` and
//! `set_serialize_value` stay bounded single lines and never stop the
//! gateway; and `kong.log.serialize`'s fields of Kong's `serialize` that
//! no Kong block asserts (`client_ip`, `consumer`, `authenticated_entity`).

mod common;

// Support for Kong's `t/01-pdk/02-log/*.t` blocks, which assert on
// nginx's error log (`--- error_log`, `--- no_error_log`). A block's Lua
// runs as a pre-function on a route of its own (access, or log after an
// access function that answers 200), laid out so that its line numbers
// are Kong's: line 1 is empty (the rest of the `content_by_lua_block {`
// line), lines 2-3 stand for `local PDK = require "kong.pdk"` and
// `local pdk = PDK.new()` (`pdk` is `kong`), and the block's own Lua
// follows from line 4 (from line 3 for a `content_by_lua_file` block,
// whose file starts with those two lines). Then `ngx.log` writes an end
// marker. The block's lines are those the gateway logged from the request
// to the marker (the runner sends blocks one at a time).
//
// How the gateway's log differs from nginx's, and how assertions adapt:
// a line is `<time>  <LEVEL> lunagate::lua: [notice] [kong] …`: nginx's
// `pid#tid: *conn ` between the level and `[kong]` does not exist, so a
// regex's `\[notice\] .*? \[kong\]` is `\[notice\] \[kong\]`; a function
// is a chunk, not `content_by_lua(nginx.conf:N)`, so `%file_src` is its
// `short_src`, `[string "..."]`; and `kong.log` in a function is its
// plugin's facility (namespace `pre-function`, as in any Kong plugin), not
// the core facility of `require "kong.pdk".new()`, so `[pre-function]`
// follows `file:line` where Kong's core lines have nothing and its
// `inspect` heads say `[core]`. `--- no_error_log [error]` also refuses
// the gateway's own error lines (a failed function).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use common::kong::{unique, Case, CaseFuture};
use common::pdk::{request, route_to, Block};
use common::Gateway;

/// One Test::Nginx block that asserts on the log.
#[derive(Clone)]
pub struct LogBlock {
    title: String,
    lua: String,
    /// `access` or `log`.
    phase: &'static str,
    /// The block is a `content_by_lua_file` (its Lua starts at line 3).
    file: bool,
    /// `--- user_files`: the block's Lua is this file, which the function
    /// `require`s (`--untrusted-lua on`).
    user_file: Option<&'static str>,
    /// `--- error_log`: each must match a line (`~` prefix: a regex; else
    /// text the line contains).
    want: Vec<String>,
    /// `--- no_error_log`: no line contains any.
    not: Vec<String>,
    /// `--- response_body` (empty unless given).
    body: String,
    headers: Vec<(String, String)>,
    /// Lua run in access before the log block (lunagate's own cases).
    access: String,
}

impl LogBlock {
    fn new(title: &str, lua: &str) -> LogBlock {
        LogBlock {
            title: title.to_string(),
            lua: lua.to_string(),
            phase: "access",
            file: false,
            user_file: None,
            want: Vec::new(),
            not: Vec::new(),
            body: String::new(),
            headers: Vec::new(),
            access: String::new(),
        }
    }

    fn want(mut self, line: &str) -> LogBlock {
        self.want.push(line.to_string());
        self
    }

    fn not(mut self, text: &str) -> LogBlock {
        self.not.push(text.to_string());
        self
    }

    fn body(mut self, b: &str) -> LogBlock {
        self.body = b.to_string();
        self
    }

    fn in_log(mut self) -> LogBlock {
        self.phase = "log";
        self
    }

    /// Runs `lua` in access first (then the log block).
    fn after_access(mut self, lua: &str) -> LogBlock {
        self.access = lua.to_string();
        self
    }

    /// A `content_by_lua_file` block whose file is `name` (`.lua`): the
    /// function runs it with `require`.
    fn user_file(mut self, name: &'static str) -> LogBlock {
        self.user_file = Some(name);
        self.file()
    }

    fn file(mut self) -> LogBlock {
        self.file = true;
        self
    }

    fn header(mut self, name: &str, value: &str) -> LogBlock {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// The gateway for a log spec file: one worker, `kong.log` at every
/// level in its log (the rest of the gateway at `warn`).
fn gateway() -> Gateway {
    gateway_with(&[])
}

fn gateway_with(args: &[&str]) -> Gateway {
    let mut all = vec!["--log-level", "warn,lunagate::lua=debug"];
    all.extend_from_slice(args);
    Gateway::start_logged_with(1, &all)
}

/// What the gateway logged for `b`'s request.
async fn run_block(gw: &Arc<Gateway>, b: &LogBlock) -> Vec<String> {
    let tag = unique("END");
    let head = if b.file {
        "local PDK = kong\nlocal pdk = PDK\n"
    } else {
        "\nlocal PDK = kong\nlocal pdk = PDK\n"
    };
    let mut code = format!("{head}{}\nngx.log(ngx.WARN, \"{tag}\")\n", b.lua);
    let dir = tempfile::tempdir().expect("tempdir");
    if let Some(name) = b.user_file {
        std::fs::write(dir.path().join(name), format!("{head}{}\n", b.lua)).expect("user file");
        let module = name.strip_suffix(".lua").expect("a .lua file");
        code = format!(
            "package.path = \"{}/?.lua\"\nrequire \"{module}\"\nngx.log(ngx.WARN, \"{tag}\")\n",
            dir.path().display()
        );
    }
    let config = if b.phase == "log" {
        json!({"access": [format!("{}\nreturn ngx.exit(200)", b.access)], "log": [code]})
    } else {
        json!({ "access": [format!("{code}return ngx.exit(200)\n")] })
    };
    let url = format!("http://127.0.0.1:{}", common::closed_port());
    let path = route_to(gw, &url, config).await;
    let start = gw.log_text().len();
    let mut req = Block::new(&b.title, "", "");
    for (k, v) in &b.headers {
        req = req.header(k, v);
    }
    let gw2 = gw.clone();
    let resp = tokio::task::spawn_blocking(move || request(&gw2, &req, &path))
        .await
        .expect("request");
    assert_eq!(
        (resp.status, resp.text()),
        (200, b.body.clone()),
        "Lua:\n{}\nlog: {}",
        b.lua,
        gw.log_text().get(start..).unwrap_or_default()
    );
    for _ in 0..400 {
        let log = gw.log_text();
        let new = &log[start.min(log.len())..];
        if let Some(end) = new.find(&tag) {
            return new[..end].lines().map(str::to_string).collect();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the block's end marker is not in the log:\n{}",
        gw.log_text()
    );
}

/// Checks a block's lines against its `want` and `not`.
fn check(b: &LogBlock, lines: &[String]) {
    let shown = lines.join("\n");
    for w in &b.want {
        let found = match w.strip_prefix('~') {
            Some(re) => {
                let re = regex::Regex::new(re).expect("regex");
                lines.iter().any(|l| re.is_match(l))
            }
            None => lines.iter().any(|l| l.contains(w.as_str())),
        };
        assert!(found, "no line has {w:?}; the block logged:\n{shown}");
    }
    for n in &b.not {
        let bad: Vec<&String> = lines
            .iter()
            .filter(|l| l.contains(n.as_str()) || (n == "[error]" && l.contains(" ERROR ")))
            .collect();
        assert!(bad.is_empty(), "{n:?} was logged: {bad:?}");
    }
}

/// The blocks as cases for `kong::run`.
fn cases(blocks: Vec<LogBlock>) -> Vec<Case> {
    blocks
        .into_iter()
        .map(|b| {
            let title = b.title.clone();
            let case: Box<dyn Fn(Arc<Gateway>) -> CaseFuture + Send> =
                Box::new(move |gw| -> CaseFuture {
                    let b = b.clone();
                    Box::pin(async move {
                        let lines = run_block(&gw, &b).await;
                        check(&b, &lines);
                    })
                });
            (title, case)
        })
        .collect()
}

fn b(title: &str, lua: &str) -> LogBlock {
    LogBlock::new(title, lua)
}

const SANITY: &str = "t/01-pdk/02-log/01-sanity.t";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_log_sanity() {
    let mut blocks = vec![
        b(
            "TEST 1: pdk has core logging facility",
            "\nngx.say(\"type: \", type(pdk.log))",
        )
        .body("type: table\n")
        .not("[error]"),
        b(
            "TEST 2: kong.log() produces core notice message",
            "\npdk.log(\"hello world\")",
        )
        .not("[error]")
        .want(r"~\[notice\] \[kong\] .*? hello world"),
    ];
    for (n, f, level, not) in [
        (3, "debug", "debug", "[error]"),
        (4, "info", "info", "[error]"),
        (5, "notice", "notice", "[error]"),
        (6, "warn", "warn", "[error]"),
        (7, "err", "error", "[crit]"),
        (8, "crit", "crit", "[alert]"),
        (10, "emerg", "emerg", "[alert]"),
    ] {
        blocks.push(
            b(
                &format!("TEST {n}: kong.log.{f}() produces core {f} message"),
                &format!("\npdk.log.{f}(\"hello world\")"),
            )
            .not(not)
            .want(&format!(r"~\[{level}\] \[kong\] .*? hello world")),
        );
    }
    blocks.insert(
        8,
        b(
            "TEST 9: kong.alert() produces core alert message",
            "\npdk.log.alert(\"hello world\")",
        )
        .not("[crit]")
        .want(r"~\[alert\] \[kong\] .*? hello world"),
    );
    blocks.extend([
        b(
            "TEST 11: kong.log has core logging format & proper stack level (1/2)",
            "\nlocal function my_func()\n    pdk.log(\"hello from my_func\")\nend\n\nmy_func()",
        )
        .want(r#"~\[notice\] \[kong\] \[string "\.\.\."\]:6 \[pre-function\] hello from my_func"#)
        .not("[error]"),
        b(
            "TEST 12: kong.log() has core logging format & proper stack level (2/2)",
            "\npdk.log(\"hello from my_func\")",
        )
        .want(r#"~\[notice\] \[kong\] \[string "\.\.\."\]:5 \[pre-function\] hello from my_func"#)
        .not("[error]"),
        b(
            "TEST 14: kong.log() accepts variadic arguments (string)",
            "\npdk.log(\"hello \", \"world\")",
        )
        .not("[error]")
        .want("hello world"),
        b(
            "TEST 15: kong.log() accepts variadic arguments (boolean)",
            "\npdk.log(\"boolean: \", false)",
        )
        .not("[error]")
        .want("boolean: false"),
        b(
            "TEST 16: kong.log() accepts variadic arguments (number)",
            "\npdk.log(\"number: \", 1, \" \" , 2)",
        )
        .not("[error]")
        .want("number: 1 2"),
        // Kong's `table: 0x\d+`: an address is hex.
        b(
            "TEST 17: kong.log() accepts variadic arguments (table)",
            "\npdk.log({})",
        )
        .not("[error]")
        .want(r"~table: 0x[0-9a-f]+"),
        b(
            "TEST 18: kong.log() accepts variadic arguments (userdata)",
            "\npdk.log(ngx.null)",
        )
        .not("[error]")
        .want("userdata: NULL"),
        // Kong's `\[notice\] \d+#\d+: \*\d+ \[kong\]`: no `pid#tid: *conn`.
        b(
            "TEST 19: kong.log() format does not include [lua] prefix",
            "\npdk.log(\"hello world\")",
        )
        .not("[error]")
        .not("[lua]")
        .want(r"~\[notice\] \[kong\]"),
    ]);
    common::kong::run(SANITY, gateway(), cases(blocks)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_log_new() {
    let blocks = vec![
        b(
            "TEST 1: kong.log.new() requires a namespace",
            "\nlocal ok, err = pcall(pdk.log.new)\nif not ok then\n    ngx.say(err)\nend",
        )
        .body("namespace must be a string\n")
        .not("[error]"),
        b(
            "TEST 2: kong.log.new() requires a non-empty namespace",
            "\nlocal ok, err = pcall(pdk.log.new, \"\")\nif not ok then\n    ngx.say(err)\nend",
        )
        .body("namespace cannot be an empty string\n")
        .not("[error]"),
        b(
            "TEST 3: kong.log.new() accepts non-empty format",
            "\nlocal ok, err = pcall(pdk.log.new, \"my_namespace\", \"\")\nif not ok then\n    ngx.say(err)\nend",
        )
        .body("format cannot be an empty string if specified\n")
        .not("[error]"),
        b(
            "TEST 4: kong.log.new() logs with namespaced format by default",
            "\nlocal log = pdk.log.new(\"my_namespace\")\n\nlog(\"hello world\")",
        )
        .not("[error]")
        .want(r#"~\[kong\] \[string "\.\.\."\]:\d+ \[my_namespace\] hello world"#),
        b(
            "TEST 5: kong.log.new() logs with custom format if specified",
            "\nlocal log = pdk.log.new(\"my_namespace\", \"%message\")\n\nlog(\"hello world\")",
        )
        .not("[error]")
        .want(r"~\[kong\] hello world"),
    ];
    common::kong::run("t/01-pdk/02-log/02-new.t", gateway(), cases(blocks)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_log_set_format() {
    let my_file = |fmt: &str| {
        format!(
            "\npdk.log.set_format(\"{fmt}\")\n\nlocal function my_func()\n    pdk.log.notice(\"hello \", \"world\")\nend\n\nmy_func()"
        )
    };
    let blocks = vec![
        b(
            "TEST 1: kong.log.set_format() changes kong.log format and keeps prefix",
            "\npdk.log.set_format(\"log from kong.log: %message\")\n\npdk.log(\"hello world\")",
        )
        .want(r"~\[kong\] log from kong\.log: hello world")
        .not("[error]"),
        b(
            "TEST 2: kong.log.set_format() changes kong.log format for all logging levels",
            "\npdk.log.set_format(\"log from kong.log: %message\")\n\npdk.log.notice(\"hello world\")\npdk.log.err(\"hello world\")",
        )
        .want(r"~\[notice\] .*? log from kong\.log: hello world")
        .want(r"~\[error\] .*? log from kong\.log: hello world"),
        b(
            "TEST 3: log.set_format() makes log() still supports variadic arguments",
            "\npdk.log.set_format(\"log from kong.log: %message\")\n\npdk.log.notice(\"hello \", \"world\")",
        )
        .want("log from kong.log: hello world")
        .not("[error]"),
        b(
            "TEST 4: log.set_format() accepts no modifier",
            "\npdk.log.set_format(\"a useless format\")\n\npdk.log.notice(\"hello \", \"world\")",
        )
        .want("a useless format")
        .not("hello world"),
        b(
            "TEST 5: log.set_format() accepts multiple %message modifiers",
            "\npdk.log.set_format(\"%message | %message\")\n\npdk.log.notice(\"hello \", \"world\")",
        )
        .want("hello world | hello world")
        .not("[error]"),
        b(
            "TEST 6: log.set_format() accepts %file_src modifier (by_lua chunk)",
            "\npdk.log.set_format(\"file_src(%file_src) %message\")\n\npdk.log.notice(\"hello \", \"world\")",
        )
        .want(r#"~file_src\(\[string "\.\.\."\]\) hello world"#)
        .not("[error]"),
        b(
            "TEST 7: log.set_format() accepts %file_src modifier (Lua file)",
            "\npdk.log.set_format(\"file_src(%file_src) %message\")\n\npdk.log.notice(\"hello \", \"world\")",
        )
        .user_file("my_file.lua")
        .want(r"~file_src\(my_file\.lua\) hello world")
        .not("[error]"),
        b(
            "TEST 8: log.set_format() accepts %line_src modifier",
            &my_file("line_src(%line_src) %message"),
        )
        .file()
        .want(r"~line_src\(7\) hello world")
        .not("[error]"),
        b(
            "TEST 9: log.set_format() accepts %func_name modifier",
            &my_file("func_name(%func_name) %message"),
        )
        .file()
        .want(r"~func_name\(my_func\) hello world")
        .not("[error]"),
        b(
            "TEST 10: log.set_format() %func_name modifier prints '?' when none",
            "\npdk.log.set_format(\"func_name(%func_name) %message\")\n\npdk.log.notice(\"hello \", \"world\")",
        )
        .want(r"~func_name\(\?\) hello world")
        .not("[error]"),
        b(
            "TEST 11: log.set_format() sets format of namespaced facility",
            "\nlocal log = pdk.log.new(\"my_namespace\")\n\nlog.set_format(\"log from facility: %message\")\n\nlog(\"hello world\")",
        )
        .want("log from facility: hello world")
        .not("[error]"),
        b(
            "TEST 12: log.set_format() accepts %namespace modifier",
            "\nlocal log = pdk.log.new(\"my_namespace\")\n\nlog.set_format(\"{%namespace} %message\")\n\nlog(\"hello world\")",
        )
        .want("{my_namespace} hello world")
        .not("[error]"),
        b(
            "TEST 13: log.set_format() does not consider escaped modifiers",
            "\nlocal log = pdk.log.new(\"my_namespace\")\n\nlog.set_format(\"%%namespace %%file_src %%func_name %%message %message\")\n\nlog(\"hello world\")",
        )
        .want("%%namespace %%file_src %%func_name %%message hello world")
        .not("[error]"),
        b(
            "TEST 14: log.set_format() complex format",
            r#"
local log = pdk.log.new("my_namespace")

log.set_format("[%%namespace: %namespace | %namespace, " ..
               "%%file_src: %file_src | %file_src, " ..
               "%%line_src: %line_src | %line_src, " ..
               "%%func_name %func_name | %func_name, " ..
               "%%message %message | %message]")

local function my_func()
    log("hello world")
end

my_func()"#,
        )
        .want(r#"~\[kong\] \[%%namespace: my_namespace \| my_namespace, %%file_src: \[string "\.\.\."\] \| \[string "\.\.\."\], %%line_src: 14 \| 14, %%func_name my_func \| my_func, %%message hello world \| hello world\]"#)
        .not("[error]"),
    ];
    // `on`: TEST 7's function `require`s its file.
    let gw = gateway_with(&["--untrusted-lua", "on"]);
    common::kong::run("t/01-pdk/02-log/03-set_format.t", gw, cases(blocks)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_log_inspect() {
    let blocks = vec![
        b(
            "TEST 1: kong.log.inspect() pretty-prints a table",
            "\npdk.log.inspect({ hello = \"world\" })",
        )
        .want("hello = \"world\"")
        .not("[error]")
        .not("[crit]"),
        b(
            "TEST 2: kong.log.inspect() has its own format",
            "\nlocal function my_func()\n    pdk.log.inspect({ hello = \"world\" })\nend\n\nmy_func()",
        )
        .want(r#"~\[kong\] \[string "\.\.\."\]:my_func:6 \[pre-function\]"#)
        .not("[error]")
        .not("[crit]"),
        b(
            "TEST 3: kong.log.inspect() accepts variadic arguments",
            "\npdk.log.inspect({ hello = \"world\" }, { bye = \"world\" })",
        )
        .want("hello = \"world\"")
        .want("bye = \"world\"")
        .not("[error]"),
        b(
            "TEST 4: kong.log.inspect.on|off() disables inspect for a facility",
            "\npdk.log.inspect(\"log me\")\npdk.log.inspect.off()\npdk.log.inspect(\"hidden\")\npdk.log.inspect.on()\npdk.log.inspect(\"log again\")",
        )
        .want("log me")
        .want("log again")
        .not("hidden"),
        b(
            "TEST 5: log.inspect.on|off() enables specific facility's inspect",
            "\nlocal log_1 = pdk.log.new(\"my_namespace\")\nlocal log_2 = pdk.log.new(\"my_namespace\")\n\nlog_1.inspect.off()\nlog_1.inspect(\"hidden\")\n\nlog_2.inspect(\"log me\")",
        )
        .want("log me")
        .not("hidden")
        .not("[error]"),
        b(
            "TEST 6: log.inspect() custom facility does logs namespace",
            "\nlocal log = pdk.log.new(\"my_namespace\")\n\nlog.inspect(\"hello\")",
        )
        .want("hello")
        .want("my_namespace")
        .not("[error]"),
        b(
            "TEST 7: log.inspect() concatenates argument with a space",
            "\nlocal log = pdk.log.new(\"my_namespace\")\n\nlog.inspect(\"hello\", \"world\")",
        )
        .want("\"hello\" \"world\"")
        .want("my_namespace")
        .not("[error]"),
        b(
            "TEST 8: log.inspect() pretty-prints multiline arguments",
            "\nlocal log = pdk.log.new(\"my_namespace\")\n\nlog.inspect({ a = \"foo\", b = { c = \"bar\", d = \"bla\" } })",
        )
        .want("|  a = \"foo\",")
        .want("|  b = {")
        .want("|    c = \"bar\",")
        .want("|    d = \"bla\"")
        .want("|  }")
        .want("|}")
        .want("+------------------------------")
        .not("[error]"),
        b(
            "TEST 9: kong.log.inspect() does not interpret tables as inspect() options",
            r#"
pdk.log.inspect({ hello = "world" })
pdk.log.inspect(1, { hello = "world" })
pdk.log.inspect(1, 2, { hello = "world" })
pdk.log.inspect(1, 2, 3, { hello = "world" })
pdk.log.inspect(1, 2, 3, 4, { hello = "world" })
pdk.log.inspect(1, 2, 3, 4, 5, { hello = "world" })
pdk.log.inspect(1, 2, 3, 4, 5, 6, { hello = "world" })
pdk.log.inspect(1, 2, 3, 4, 5, 6, 7, { hello = "world" })"#,
        )
        .want("hello = \"world\"")
        .not("[error]")
        .not("[crit]"),
    ];
    common::kong::run("t/01-pdk/02-log/04-inspect.t", gateway(), cases(blocks)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_log_set_serialize_value() {
    let redacted = |b: LogBlock| {
        b.in_log()
            .header("foo", "bar")
            .header("authorization", "secret1")
            .header("proxy-authorization", "secret2")
    };
    let blocks = vec![
        b(
            "TEST 1: kong.log.set_serialize_value() rejects parameters with the wrong format",
            r#"
local ok, err = pcall(pdk.log.set_serialize_value, 1)
pdk.log.info("key ", ok, " ", err)

ok, err = pcall(pdk.log.set_serialize_value, "valid key", 1, { mode = "invalid" })
pdk.log.info("mode ", ok, " ", err)"#,
        )
        .want("key false key must be a string")
        .want("mode false mode must be 'set', 'add' or 'replace'")
        .not("[error]"),
        b(
            "TEST 2: kong.log.serialize() rejects invalid values, including self-referencial tables",
            r#"
pdk.log.set_serialize_value("with_function", { f = function() end })
local ok, err = pcall(pdk.log.serialize, { kong = pdk })
pdk.log.info("with_function ", ok, " ", err)

local self_ref = {}
self_ref.self_ref = self_ref
pdk.log.set_serialize_value("self_ref", self_ref)
local ok, err = pcall(pdk.log.serialize, { kong = pdk })
pdk.log.info("self_ref ", ok, " ", err)"#,
        )
        .in_log()
        .want("with_function false value must be nil, a number, string, boolean or a non-self-referencial table containing numbers, string and booleans")
        .want("self_ref false value must be nil, a number, string, boolean or a non-self-referencial table containing numbers, string and booleans")
        .not("[error]"),
        b(
            "TEST 3: kong.log.set_serialize_value stores changes on ngx.ctx.serialize_values",
            r#"
pdk.log.set_serialize_value("val1", 1)
assert(#ngx.ctx.serialize_values == 1, "== 1 ")

-- Supports several operations over the same variable
pdk.log.set_serialize_value("val1", 2)
assert(#ngx.ctx.serialize_values == 2, "== 2")

-- Other variables also supported
pdk.log.set_serialize_value("val2", 1)
assert(#ngx.ctx.serialize_values == 3, "== 3")"#,
        )
        .not("[error]"),
        b(
            "TEST 4: kong.log.set_serialize_value() sets, adds and replaces values with simple keys",
            r#"
pdk.log.set_serialize_value("val1", 1)
local s = pdk.log.serialize({ kong = pdk })
pdk.log.info("set new field works ", s.val1 == 1)

pdk.log.set_serialize_value("val1", 2)
local s = pdk.log.serialize({ kong = pdk })
pdk.log.info("set existing value overrides it ", s.val1 == 2)

pdk.log.set_serialize_value("val2", 1, { mode = "replace" })
local s = pdk.log.serialize({ kong = pdk })
pdk.log.info("replace new value changes nothing ", s.val2 == nil)

pdk.log.set_serialize_value("val1", 3, { mode = "replace" })
local s = pdk.log.serialize({ kong = pdk })
pdk.log.info("replace existing value changes it ", s.val1 == 3)

pdk.log.set_serialize_value("val3", 1, { mode = "add" })
local s = pdk.log.serialize({ kong = pdk })
pdk.log.info("add new value sets it ", s.val3 == 1)

pdk.log.set_serialize_value("val1", 4, { mode = "add" })
local s = pdk.log.serialize({ kong = pdk })
pdk.log.info("add existing value does not set it ", s.val1 == 3)"#,
        )
        .in_log()
        .want("set new field works true")
        .want("set existing value overrides it true")
        .want("replace new value changes nothing true")
        .want("replace existing value changes it true")
        .want("add new value sets it true")
        .want("add existing value does not set it true")
        .not("[error]"),
        b(
            "TEST 5: kong.log.set_serialize_value sets, adds and replaces values with keys with dots",
            r#"
pdk.log.set_serialize_value("foo.bar.baz", 1)
local s = pdk.log.serialize({ kong = pdk })
pdk.log.info("set new deep leaf adds it ", s.foo.bar.baz == 1)

pdk.log.set_serialize_value("foo.bar.baz", 2)
local s = pdk.log.serialize({ kong = pdk })
pdk.log.info("set existing deep leaf changes it ", s.foo.bar.baz == 2)

pdk.log.set_serialize_value("foo.bar2", 2)
local s = pdk.log.serialize({ kong = pdk })
pdk.log.info("set new branch adds it ", s.foo.bar2 == 2)

pdk.log.set_serialize_value("foo2.bar.baz", 1, { mode = "replace" })
local s = pdk.log.serialize({ kong = pdk })
pdk.log.info("replace new deep leaf does not create anything ", s.foo2 == nil)

pdk.log.set_serialize_value("foo.bar.baz2", 1, { mode = "replace" })
local s = pdk.log.serialize({ kong = pdk })
pdk.log.info("replace new deep leaf on existing branch does not add it ", s.foo.bar.baz2 == nil)

pdk.log.set_serialize_value("foo.bar.baz", 3, { mode = "replace" })
local s = pdk.log.serialize({ kong = pdk })
pdk.log.info("replace existing deep leaf changes it ", s.foo.bar.baz == 3)

pdk.log.set_serialize_value("foo3.bar.baz", 1, { mode = "add" })
local s = pdk.log.serialize({ kong = pdk })
pdk.log.info("add new deep leaf to root adds it ", s.foo3.bar.baz == 1)

pdk.log.set_serialize_value("foo3.bar2", 1, { mode = "add" })
local s = pdk.log.serialize({ kong = pdk })
pdk.log.info("add new branch creates it ", s.foo3.bar2 == 1)

pdk.log.set_serialize_value("foo.bar.baz", 3, { mode = "add" })
local s = pdk.log.serialize({ kong = pdk })
pdk.log.info("add existing deep leaf does not change it", s.foo.bar.baz == 2)

pdk.log.set_serialize_value("foo4\\.bar\\.baz", 4, { mode = "add" })
local s = pdk.log.serialize({ kong = pdk })
pdk.log.info("add new branch with dots escaped creates it ", s["foo4.bar.baz"] == 4)

pdk.log.set_serialize_value("foo4.bar\\.baz", 4, { mode = "add" })
local s = pdk.log.serialize({ kong = pdk })
pdk.log.info("add new branch with nested and dots escaped creates it ", s.foo4["bar.baz"] == 4)"#,
        )
        .in_log()
        .want("set new deep leaf adds it true")
        .want("set existing deep leaf changes it true")
        .want("set new branch adds it true")
        .want("replace new deep leaf does not create anything true")
        .want("replace new deep leaf on existing branch does not add it true")
        .want("replace existing deep leaf changes it true")
        .want("add new deep leaf to root adds it true")
        .want("add new branch creates it true")
        .want("add existing deep leaf does not change it")
        .want("add new branch with dots escaped creates it true")
        .want("add new branch with nested and dots escaped creates it true")
        .not("[error]"),
        b(
            "TEST 6: kong.log.set_serialize_value() setting values to numbers, booleans, tables",
            r#"
pdk.log.set_serialize_value("string", "hello")
pdk.log.set_serialize_value("number", 1)
pdk.log.set_serialize_value("btrue", true)
pdk.log.set_serialize_value("bfalse", false)
pdk.log.set_serialize_value("complex", {
  str = "bye",
  n = 2,
  b1 = true,
  b2 = false,
  t = { k = "k" }
})

local s = pdk.log.serialize({ kong = pdk })
pdk.log.info("string ", s.string == "hello")
pdk.log.info("number ", s.number == 1)
pdk.log.info("btrue ", s.btrue == true)
pdk.log.info("bfalse ", s.bfalse == false)
pdk.log.info("complex ", s.complex.str == "bye" and
                         s.complex.n == 2 and
                         s.complex.b1 == true and
                         s.complex.b2 == false and
                         s.complex.t.k == "k")"#,
        )
        .in_log()
        .want("string true")
        .want("number true")
        .want("btrue true")
        .want("bfalse true")
        .want("complex true")
        .not("[error]"),
        redacted(b(
            "TEST 7: kong.log.set_serialize_value() setting values to nil",
            r#"
pdk.log.set_serialize_value("str", "hello")
pdk.log.set_serialize_value("str", nil)
pdk.log.set_serialize_value("request.headers.foo", nil)
pdk.log.set_serialize_value("request.headers.authorization", nil, { mode = "replace" })

local s = pdk.log.serialize({ kong = pdk })

pdk.log.info("str ", s.str == nil)
pdk.log.info("request.headers.foo ", s.request.headers.foo == nil)
pdk.log.info("request.headers.authorization ", s.request.headers.authorization == nil)"#,
        ))
        .want("str true")
        .want("request.headers.foo true")
        .want("request.headers.authorization true")
        .not("[error]"),
        redacted(b(
            "TEST 8: kong.log.serialize() redactes authorization headers by default",
            r#"
local s = pdk.log.serialize({ kong = pdk })
pdk.log.info("foo " .. s.request.headers.foo)
pdk.log.info("authorization " .. s.request.headers.authorization)
pdk.log.info("proxy-authorization " .. s.request.headers["proxy-authorization"])
pdk.log.info("Authorization " .. s.request.headers.Authorization)
pdk.log.info("Proxy-Authorization " .. s.request.headers["Proxy-Authorization"])
pdk.log.info("PROXY_AUTHORIZATION " .. s.request.headers["PROXY_AUTHORIZATION"])"#,
        ))
        .want("foo bar")
        .want("authorization REDACTED")
        .want("proxy-authorization REDACTED")
        .want("Authorization REDACTED")
        .want("Proxy-Authorization REDACTED")
        .want("PROXY_AUTHORIZATION REDACTED")
        .not("[error]"),
    ];
    common::kong::run(
        "t/01-pdk/02-log/05-set_serialize_value.t",
        gateway(),
        cases(blocks),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_pdk_log_deprecation() {
    let blocks = vec![
        b(
            "TEST 1: kong.log.deprecation() logs a deprecation message",
            "\npdk.log.deprecation(\"example is deprecated\")",
        )
        .want("example is deprecated")
        .not("[error]")
        .not("[crit]"),
        b(
            "TEST 2: kong.log.deprecation() logs a deprecation message with removal info",
            "\npdk.log.deprecation(\"example is deprecated\", { removal = \"3.0.0\" })",
        )
        .want("example is deprecated (scheduled for removal in 3.0.0)")
        .not("[error]")
        .not("[crit]"),
        b(
            "TEST 3: kong.log.deprecation() logs a deprecation message with deprecation info",
            "\npdk.log.deprecation(\"example is deprecated\", { after = \"2.6.0\" })",
        )
        .want("example is deprecated (deprecated after 2.6.0)")
        .not("[error]")
        .not("[crit]"),
        b(
            "TEST 4: kong.log.deprecation() logs a deprecation message with removal and deprecation info",
            "\npdk.log.deprecation(\"example is deprecated\", {\n    after = \"2.6.0\",\n    removal = \"3.0.0\",\n})",
        )
        .want("example is deprecated (deprecated after 2.6.0, scheduled for removal in 3.0.0)")
        .not("[error]")
        .not("[crit]"),
    ];
    common::kong::run("t/01-pdk/02-log/06-deprecation.t", gateway(), cases(blocks)).await;
}

/// Hostile arguments from Lua: each line stays one bounded line, deep,
/// wide and cyclic values are cut, and the gateway goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kong_log_hostile_arguments() {
    let gw = Arc::new(gateway());
    let blocks = [
        // A 16 MB message is one line, cut at 4 KB.
        b(
            "huge",
            "\npdk.log.warn(\"HUGE\", string.rep(\"x\", 16 * 1024 * 1024))",
        ),
        // CR/LF cannot forge a line.
        b(
            "crlf",
            "\npdk.log.warn(\"CRLF one\\r\\n[error] FORGED\\nthree\")",
        ),
        // A table nested 2000 deep, a cycle, and 40000 entries (small
        // enough for the function's budget on a loaded machine).
        b(
            "deep",
            r#"
local t = {}
local top = t
for i = 1, 2000 do t.next = {}; t = t.next end
local cyc = { name = "cyc" }
cyc.self = cyc
cyc.list = { cyc, cyc }
pdk.log.inspect("DEEP", top, cyc)
local wide = {}
for i = 1, 20000 do wide[i] = i; wide["k" .. i] = i end
pdk.log.inspect("WIDE", wide)"#,
        ),
        // A table shared 2^30 ways (within the depth limit: checking every
        // path took 2^30 steps) and one nested too deep are refused at once
        // (Kong visits each table once).
        b(
            "dag",
            r#"
local t = {}
for i = 1, 30 do t = { t, t } end
pdk.log.set_serialize_value("dag", t)
local ok, err = pcall(pdk.log.serialize)
pdk.log.warn("DAG ", ok, " ", err)
local d = {}
local top = d
for i = 1, 2000 do d[1] = {}; d = d[1] end
ngx.ctx.serialize_values = nil
pdk.log.set_serialize_value("deep", top)
ok, err = pcall(pdk.log.serialize)
pdk.log.warn("DEEPSER ", ok, " ", err)"#,
        )
        .in_log(),
    ];
    let mut logs = Vec::new();
    for block in &blocks {
        logs.push(run_block(&gw, block).await);
    }
    let line = |i: usize, has: &str| -> String {
        logs[i]
            .iter()
            .find(|l| l.contains(has))
            .unwrap_or_else(|| panic!("no {has:?} in {:?}", logs[i]))
            .clone()
    };
    let huge = line(0, "HUGE");
    assert!(
        huge.len() < 4096 + 200 && huge.ends_with("..."),
        "{}",
        huge.len()
    );
    let crlf = line(1, "CRLF");
    assert!(
        crlf.contains(r"CRLF one\r\n[error] FORGED\nthree"),
        "{crlf}"
    );
    assert!(!logs[1].iter().any(|l| l.starts_with("[error] FORGED")));
    // 16 levels shown, then inspect's `{...}`; the cycle ends in `<table 1>`.
    assert!(logs[2].iter().any(|l| l.contains("{...}")), "{:?}", logs[2]);
    assert!(
        logs[2].iter().any(|l| l.contains("<table 1>")),
        "{:?}",
        logs[2]
    );
    // The wide table's output is cut at 64 KB: about 540 boxed lines.
    let wide = logs[2]
        .iter()
        .skip_while(|l| !l.contains("\"WIDE\""))
        .count();
    assert!((100..700).contains(&wide), "{wide} lines");
    let refused =
        "false value must be nil, a number, string, boolean or a non-self-referencial table";
    assert!(line(3, "DAG ").contains(refused));
    assert!(line(3, "DEEPSER ").contains(refused));
    // Still serving.
    let after = run_block(&gw, &b("after", "\npdk.log.warn(\"STILL\")")).await;
    assert!(after.iter().any(|l| l.contains("STILL")));
}

/// Kong's `serialize` (kong/pdk/log.lua), fields no Kong block asserts:
/// `client_ip` is nginx's `$remote_addr`, the client the trusted proxies
/// name (`kong.client.get_forwarded_ip()`), not the peer; `consumer` is a
/// copy of the consumer `kong.client.authenticate` set, and
/// `authenticated_entity` the credential's `id` and `consumer_id`; both
/// absent when nobody authenticated. Red before: `client_ip` was the peer
/// (127.0.0.1) and neither field was there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serialize_names_the_forwarded_client_and_who_authenticated() {
    let gw = Gateway::start_logged_with(
        1,
        &[
            "--log-level",
            "warn,lunagate::lua=debug",
            "--trusted-ips",
            "0.0.0.0/0,::/0",
            "--real-ip-header",
            "X-Real-IP",
        ],
    );
    let blocks = vec![
        b(
            "authenticated",
            r#"
local s = pdk.log.serialize()
pdk.log.warn("CLIENT ", s.client_ip)
pdk.log.warn("CONSUMER ", s.consumer.username, " ", s.consumer.id, " ",
  s.consumer ~= ngx.ctx.authenticated_consumer, " ", s.consumer.tags[1])
pdk.log.warn("ENTITY ", s.authenticated_entity.id, " ", s.authenticated_entity.consumer_id)"#,
        )
        .in_log()
        .after_access(
            "kong.client.authenticate({ id = 'c1', username = 'bob', tags = { 't' } }, { id = 'k1', consumer_id = 'c1' })",
        )
        .header("X-Real-IP", "10.0.0.9")
        .want("CLIENT 10.0.0.9")
        .want("CONSUMER bob c1 true t")
        .want("ENTITY k1 c1")
        .not("[error]"),
        b(
            "anonymous",
            r#"
local s = pdk.log.serialize()
pdk.log.warn("ANON ", s.client_ip, " ", s.consumer == nil, " ", s.authenticated_entity == nil)"#,
        )
        .in_log()
        .want("ANON 127.0.0.1 true true")
        .not("[error]"),
    ];
    common::kong::run("lunagate", gw, cases(blocks)).await;
}
