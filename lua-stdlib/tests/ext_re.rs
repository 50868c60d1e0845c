//! `ngx.re` on lua-stdlib, driven from Lua source.
//!
//! Expected values: "oracle" is nginx 1.22 + lua-nginx-module 0.10.23 with
//! lua-resty-core 0.1.25 running the same lines in `content_by_lua_file`;
//! "034-match.t" etc. are openresty/lua-nginx-module's `t/` files (TEST n
//! as numbered there); "sub.t" cases come from its `t/036-sub.t`.

mod ext_common;

use ext_common::{lines, Lua};
use lua_stdlib::ext::re::{load_ngx_re, load_ngx_re_module};
use lua_stdlib::Budget;

fn lua() -> Lua {
    Lua::new(|ctx, loaded| {
        let ngx = ctx.new_table();
        let _ = ngx.set(ctx, "re", load_ngx_re(ctx));
        let _ = loaded.set(ctx, "ngx", ngx);
        let _ = loaded.set(ctx, "ngx.re", load_ngx_re_module(ctx));
    })
}

/// `show` prints its arguments joined by ` | `, a table as its sorted
/// `k=v` pairs (the oracle used the same function).
const PRELUDE: &str = "local ngx = require 'ngx'\n\
    local function show(...) local t = {} for i = 1, select('#', ...) do local v = select(i, ...) \
    if type(v) == 'table' then local p = {} for k, x in pairs(v) do p[#p + 1] = tostring(k) .. '=' .. tostring(x) end \
    table.sort(p) v = '{' .. table.concat(p, ',') .. '}' end t[#t + 1] = tostring(v) end print(table.concat(t, ' | ')) end\n";

fn check(src: &str, expected: &[&str]) {
    let got = lines(&mut lua(), &format!("{PRELUDE}{src}"));
    assert_eq!(got, expected, "\n{src}");
}

#[test]
fn match_captures_named_groups_and_misses() {
    // oracle
    check(
        r#"show(ngx.re.match("hello, 1234", "[0-9]+"))
           show(ngx.re.match("hello, 1234", "([0-9])[0-9]+"))
           show(ngx.re.match("hello, 1234", "([0-9])(x)?[0-9]+"))
           show(ngx.re.match("hello, 1234", "(?<first>[0-9])(?<second>x)?[0-9]+"))
           show(ngx.re.match("hello", "xyz"))
           show(ngx.re.match("HELLO", "hello", "i"))
           show(ngx.re.match("/users/123", [[^/users/(?<id>\d+)$]], "jo"))
           show(ngx.re.match("", ""))
           show(ngx.re.match("a-b", "a\\-b"), ngx.re.match("a/b", "a\\/b"))"#,
        &[
            "{0=1234}",
            "{0=1234,1=1}",
            "{0=1234,1=1,2=false}",
            "{0=1234,1=1,2=false,first=1,second=false}",
            "nil",
            "{0=HELLO}",
            "{0=/users/123,1=123,id=123}",
            "{0=}",
            "{0=a-b} | {0=a/b}",
        ],
    );
}

#[test]
fn duplicate_names_collect_lists() {
    // 034-match.t TEST 36; oracle for "hello, world"
    check(
        r#"local m = ngx.re.match("hello, 1234", "(?<first>[a-z]+), (?<first>[0-9]+)", "D")
           print(m[0]) print(m[1]) print(m[2]) print(table.concat(m.first, "-"))
           m = ngx.re.match("hello, world", "(?<named>\\w+), (?<named>\\w+)", "D")
           print(#m.named, m.named[1], m.named[2])
           print(ngx.re.match("ab", "(?<x>a)(?<x>b)"))"#,
        &[
            "hello, 1234",
            "hello",
            "1234",
            "hello-1234",
            "2\thello\tworld",
            "nil\tpcre_compile() failed: two named subpatterns have the same name in \"(?<x>a)(?<x>b)\"",
        ],
    );
}

#[test]
fn bad_patterns_and_options() {
    // oracle; 034-match.t TESTs 17, 18, 30
    check(
        r#"show(ngx.re.match("hello", "(abc"))
           show(ngx.re.match("hello", "[a-"))
           show(ngx.re.match("hello, 1234", "([0-9]+"))
           show(ngx.re.find("hello", "(x"))
           show(ngx.re.gmatch("hello", "(x"))
           show(ngx.re.gsub("hello", "(x", "y"))
           show(pcall(ngx.re.match, "hello", "h", "z"))
           local ok, e = pcall(ngx.re.match, "hello\nworld", ".*", "H") print(ok, e)"#,
        &[
            "nil | pcre_compile() failed: missing ) in \"(abc\"",
            "nil | pcre_compile() failed: missing terminating ] for character class in \"[a-\"",
            "nil | pcre_compile() failed: missing ) in \"([0-9]+\"",
            "nil | nil | pcre_compile() failed: missing ) in \"(x\"",
            "nil | pcre_compile() failed: missing ) in \"(x\"",
            "nil | nil | pcre_compile() failed: missing ) in \"(x\"",
            "false | unknown flag \"z\" (flags \"z\")",
            "false\tunknown flag \"H\" (flags \"H\")",
        ],
    );
}

#[test]
fn options_change_matching() {
    // 034-match.t TESTs 10, 12-16, 19-22, 26, 28; oracle for u and $
    check(
        r#"print(ngx.re.match("hello\nworld", "^world", "m")[0])
           print(ngx.re.match("hello\nworld", ".*", "m")[0])
           print(ngx.re.match("hello\nworld", "^world", "s"))
           print((ngx.re.match("hello\nworld", ".*", "s")[0]:gsub("\n", "/")))
           print(ngx.re.match("hello\nworld", "\\w     \\w", "x")[0])
           local m = ngx.re.match("hello, world", "(world)|(hello)", "x")
           print(m[0], m[1], m[2])
           m = ngx.re.match("hello, 1234", "([0-9]+)(h?)")
           print(m[0], m[1], "[" .. m[2] .. "]")
           print(ngx.re.match("hello, 1234", "([0-9]+)", "a"))
           print(ngx.re.match("1234, hello", "([0-9]+)", "a")[0])
           print(ngx.re.match("{foobarbaz}", "(?<=foo)bar|(?<=bar)baz")[0])
           print(ngx.re.match("<impact>2</impact>", '(?:>[\\w\\s]*</?\\w{2,}>)', "oi")[0])
           show(ngx.re.match("héllo", "h.llo"), ngx.re.match("héllo", "h.llo", "u"))
           show(ngx.re.match("hello\n", "hello$"), ngx.re.match("hello\nx", "hello$"))
           show(ngx.re.match("abc", "(?=b)"), ngx.re.match("abab", "(ab)\\1"))
           show(ngx.re.match("abc", "a b c", "x"))
           show(ngx.re.match("hello章亦春", "HELLO.{2}", "iu"))"#,
        &[
            "world",
            "hello",
            "nil",
            "hello/world",
            "he",
            "hello\tfalse\thello",
            "1234\t1234\t[]",
            "nil",
            "1234",
            "bar",
            ">2</impact>",
            "nil | {0=héllo}",
            "{0=hello} | nil",
            "{0=} | {0=abab,1=ab}",
            "{0=abc}",
            "{0=hello章亦}",
        ],
    );
}

#[test]
fn ctx_pos_and_find() {
    // 034-match.t TESTs 23, 24, 34; oracle for find
    check(
        r#"local ctx = {}
           print(ngx.re.match("1234, hello", "([0-9]+)", "", ctx)[0], ctx.pos)
           ctx = { pos = 3 }
           print(ngx.re.match("1234, hello", "([0-9]+)", "", ctx)[0], ctx.pos)
           ctx = {}
           print(ngx.re.match("hello, 1234", "", "", ctx)[0] == "", ctx.pos)
           ctx = {pos = 2}
           show(ngx.re.match("abcabc", "a", "jo", ctx), ctx.pos)
           show(ngx.re.match("abcabc", "a", "a", {pos = 2}))
           show(ngx.re.match("hello", "h", nil, {pos = 10}))
           show(ngx.re.find("hello, 1234", "([0-9])([0-9]+)", "jo"))
           show(ngx.re.find("hello, 1234", "([0-9])([0-9]+)", "jo", nil, 2))
           show(ngx.re.find("hello, 1234", "([0-9])(x)?([0-9]+)", "jo", nil, 2))
           show(ngx.re.find("hello", "x"))
           show(ngx.re.find("abc", "b", nil, {pos = 2}))
           show(ngx.re.find("abc", "b", "a", {pos = 2}))"#,
        &[
            "1234\t5",
            "34\t5",
            "true\t1",
            "{0=a} | 5",
            "nil",
            "nil | pcre_exec() failed: -24",
            "8 | 11",
            "9 | 11",
            "nil | nil",
            "nil",
            "2 | 2",
            "2 | 2",
        ],
    );
}

#[test]
fn sub_and_gsub_templates() {
    // oracle; 036-sub.t TEST 11 ($$)
    check(
        r#"show(ngx.re.sub("hello, world", "([a-z])[a-z]+", "[$0,$1]"))
           show(ngx.re.gsub("hello, world", "([a-z])[a-z]+", "[$0,$1]"))
           show(ngx.re.gsub("hello, world", "([a-z])[a-z]+", "${1}x $$ "))
           show(ngx.re.gsub("hello, world", "([a-z])[a-z]+", "$2"))
           show(ngx.re.gsub("hello, world", "([a-z])[a-z]+", "$x"))
           show(ngx.re.gsub("hello, world", "([a-z])[a-z]+", "${1"))
           show(ngx.re.gsub("hello, world", "([a-z])[a-z]+", "a$"))
           show(ngx.re.gsub("hello, world", "(?<w>[a-z])[a-z]+", "${w}"))
           show(ngx.re.gsub("hello, world", "x*", "-"))
           show(ngx.re.gsub("abc", "", "-"))
           show(ngx.re.gsub("hello", "l", 5))
           show(ngx.re.sub("hello", "l", "L"))
           show(ngx.re.sub("hello, world", "[a-z]+", "ho$$wdy"))
           show(ngx.re.sub("b c d", "(b) (c)", "[$0] [$1] [${2}] [$3] [${134"))"#,
        &[
            "[hello,h], world | 1",
            "[hello,h], [world,w] | 2",
            "hx $ , wx $  | 2",
            ",  | 2",
            "nil | nil | failed to compile the replacement template",
            "nil | nil | failed to compile the replacement template",
            "nil | nil | failed to compile the replacement template",
            "nil | nil | failed to compile the replacement template",
            "-h-e-l-l-o-,- -w-o-r-l-d- | 13",
            "-a-b-c- | 4",
            "he55o | 2",
            "heLlo | 1",
            "ho$wdy, world | 1",
            "nil | nil | failed to compile the replacement template",
        ],
    );
}

#[test]
fn gsub_with_a_function_and_gmatch() {
    // oracle
    check(
        r#"show(ngx.re.gsub("hello, world", "([a-z])[a-z]+", function(m) return "<" .. m[0] .. ">" end))
           show(ngx.re.gsub("hello", "(l)", function(m) return 5 end))
           show(ngx.re.gsub("hello", "(l)", function(m) return nil end))
           show(ngx.re.sub("a1b2", "(?<d>[0-9])", function(m) return "[" .. m.d .. "]" end))
           local it = ngx.re.gmatch("hello, world", "([a-z]+)")
           show(it()) show(it()) show(it()) show(it())
           local n = 0
           for m in ngx.re.gmatch("a1b22c333", "[0-9]+") do n = n + 1 print(n, m[0]) end"#,
        &[
            "<hello>, <world> | 2",
            "he55o | 2",
            "henilnilo | 2",
            "a[1]b2 | 1",
            "{0=hello,1=hello}",
            "{0=world,1=world}",
            "nil",
            "nil",
            "1\t1",
            "2\t22",
            "3\t333",
        ],
    );
}

#[test]
fn catastrophic_backtracking_fails_with_the_match_limit() {
    // oracle: `nil | pcre_exec() failed: -8`
    check(
        r#"show(ngx.re.match("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "^(a+)+$"))
           show(ngx.re.gsub("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "^(a+)+$", "x"))
           show(ngx.re.match("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "^(\\w+\\s?)*$"))"#,
        &[
            "nil | pcre_exec() failed: -8",
            "nil | nil | pcre_exec() failed: -8",
            "{0=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab,1=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab}",
        ],
    );
}

#[test]
fn deep_nesting_is_refused_before_the_engine_recurses() {
    // PCRE: "parentheses are too deeply nested" (limit 250)
    let mut lua = lua();
    let got = lines(
        &mut lua,
        &format!(
            "{PRELUDE}show(ngx.re.match('a', string.rep('(', 100000) .. 'a' .. string.rep(')', 100000)))
             show(ngx.re.match('a', string.rep('(', 200) .. 'a' .. string.rep(')', 200))[0])"
        ),
    );
    assert!(
        got[0].starts_with("nil | pcre_compile() failed: parentheses are too deeply nested in"),
        "{got:?}"
    );
    assert_eq!(got[1], "a");
}

#[test]
fn a_long_gsub_is_charged_and_stopped_by_the_budget() {
    // 256 KB subject, a match every two bytes: the work is charged, and a small
    // budget stops it between matches (the gsub pauses, the host stops).
    let mut lua = lua();
    let src = format!(
        "{PRELUDE}local s = string.rep('ab', 128 * 1024)
         local r, n = ngx.re.gsub(s, '(a)(b)', '$2$1')
         assert(n == 128 * 1024 and r:sub(1, 4) == 'baba')"
    );
    let (r, used) = lua.run_with(&src, Budget::default());
    assert!(r.is_ok(), "{r:?}");
    assert!(used > 100_000, "a 256 KB gsub used {used}");
    let (r, _) = lua.run_with(
        &src,
        Budget {
            instructions: 20_000,
            slice: 1_000,
            ..Budget::default()
        },
    );
    assert_eq!(r, Err("instruction budget exceeded".to_string()));
}

#[test]
fn the_compiled_pattern_cache_is_bounded() {
    // 3000 distinct patterns: the cache keeps at most CACHE_ENTRIES; 100
    // heavy ones (counted repetitions compile to many states) are kept
    // within CACHE_WEIGHT (100 of them weigh more), and they still match.
    use lua_stdlib::ext::re::engine::{cached, CACHE_ENTRIES, CACHE_WEIGHT};
    let mut lua = lua();
    lines(
        &mut lua,
        &format!("{PRELUDE}for i = 1, 3000 do assert(ngx.re.match('x' .. i, 'x' .. i, 'jo')) end"),
    );
    let (n, weight) = cached();
    assert!(n <= CACHE_ENTRIES && n > 0, "{n} cached");
    assert!(weight <= CACHE_WEIGHT);
    lines(
        &mut lua,
        &format!(
            "{PRELUDE}for i = 1, 100 do
               assert(ngx.re.find(string.rep('a', 200) .. i, '.{{200}}' .. i .. '$', 'u'))
             end"
        ),
    );
    let (n, weight) = cached();
    assert!(n <= CACHE_ENTRIES && n > 0, "{n} cached");
    assert!(weight <= CACHE_WEIGHT, "cache weight {weight}");
}

#[test]
fn non_utf8_subjects_and_patterns_work_byte_by_byte() {
    // PCRE without `u` is byte mode: `.` is one byte; a backreference
    // pattern (backtracking engine) sees the same bytes.
    check(
        r#"show(ngx.re.match("a\255\254b", "a(..)b")[1] == "\255\254")
           show(ngx.re.match("x\200\200y", "(\200)\\1y")[0] == "\200\200y")
           show(ngx.re.find("\255\255abc", "b(?=c)"))
           show(ngx.re.gsub("\255a\255a", "(?<=\255)a", "b") == "\255b\255b")"#,
        &["true", "true", "4 | 4", "true"],
    );
}

#[test]
fn pcre_details_the_translation_keeps() {
    // oracle (a differential run of the same cases on nginx): possessive
    // quantifiers, ASCII-only \w \d \b also in UTF-8 mode (PCRE without
    // UCP), lazy quantifiers, unknown escaped letters as literals, `$`
    // before a final newline, and PCRE's messages.
    check(
        r#"for _, c in ipairs{
             {"aaa", "a*+a", ""}, {"aaab", "a++b", ""}, {"abab", "(?:ab)++", ""},
             {"é1", "\\w+", "u"}, {"é1", "[\\w]+", "u"}, {"éb", "\\bb", "u"}, {"١٢", "\\d", "u"},
             {"ab", "a*?", ""}, {"aaa", "a{1,2}?", ""}, {"aaa", "a{2}+", ""},
             {"ÉCOLE", "école", "iu"}, {"x", "\\ix", ""}, {"b", "(a)|b", ""},
             {"\n", "^$", ""}, {"ab\ncd", "ab$", "m"}, {"x{a}", "x{a}", ""}, {"a]b", "[]a]+", ""},
             {"foo.bar", "\\Qfoo.bar\\E", ""}, {"<a>", "\\<a\\>", ""}, {"a&&b", "[&]+", ""},
             {"x", "x{2,1}", ""}, {"x", "(?<1a>x)", ""}, {"x", "*x", ""}, {"x", "x)", ""},
           } do
             local m, err = ngx.re.match(c[1], c[2], c[3])
             local g, n, gerr = ngx.re.gsub(c[1], c[2], "<$0>", c[3])
             show(m, err, (g or "nil"):gsub("\n", "/"), n, gerr)
           end"#,
        &[
            "nil | nil | aaa | 0 | nil",
            "{0=aaab} | nil | <aaab> | 1 | nil",
            "{0=abab} | nil | <abab> | 1 | nil",
            "{0=1} | nil | é<1> | 1 | nil",
            "{0=1} | nil | é<1> | 1 | nil",
            "{0=b} | nil | é<b> | 1 | nil",
            "nil | nil | ١٢ | 0 | nil",
            "{0=} | nil | <>a<>b<> | 3 | nil",
            "{0=a} | nil | <a><a><a> | 3 | nil",
            "{0=aa} | nil | <aa>a | 1 | nil",
            "{0=ÉCOLE} | nil | <ÉCOLE> | 1 | nil",
            "nil | nil | x | 0 | nil",
            "{0=b,1=false} | nil | <b> | 1 | nil",
            "{0=} | nil | <>/ | 1 | nil",
            "{0=ab} | nil | <ab>/cd | 1 | nil",
            "{0=x{a}} | nil | <x{a}> | 1 | nil",
            "{0=a]} | nil | <a]>b | 1 | nil",
            "{0=foo.bar} | nil | <foo.bar> | 1 | nil",
            "{0=<a>} | nil | <<a>> | 1 | nil",
            "{0=&&} | nil | a<&&>b | 1 | nil",
            // PCRE adds ` at "<rest>"` to these; the offsets are not ours
            "nil | pcre_compile() failed: numbers out of order in {} quantifier in \"x{2,1}\" | nil | nil | pcre_compile() failed: numbers out of order in {} quantifier in \"x{2,1}\"",
            "nil | pcre_compile() failed: group name must start with a non-digit in \"(?<1a>x)\" | nil | nil | pcre_compile() failed: group name must start with a non-digit in \"(?<1a>x)\"",
            "nil | pcre_compile() failed: nothing to repeat in \"*x\" | nil | nil | pcre_compile() failed: nothing to repeat in \"*x\"",
            "nil | pcre_compile() failed: unmatched parentheses in \"x)\" | nil | nil | pcre_compile() failed: unmatched parentheses in \"x)\"",
        ],
    );
}

#[test]
fn split_from_the_ngx_re_module() {
    // oracle: lua-resty-core's ngx/re.lua split (its empty-match and
    // trailing-field rules), the same lines on nginx
    let src = r#"local split = require("ngx.re").split
local function show(...) local t = {} for i = 1, select('#', ...) do local v = select(i, ...) if type(v) == "table" then local p = {} for k = 1, 20 do if v[k] == nil then break end p[#p + 1] = "[" .. tostring(v[k]) .. "]" end v = "{" .. table.concat(p, ",") .. "}" end t[#t + 1] = tostring(v) end print(table.concat(t, " | ")) end
show(split("a,b,c,d", ","))
show(split("a,b,c,d", "(,)"))
show(split("a,b,c,d", ",", nil, nil, 2))
show(split("a,b,,c,,", ","))
show(split("a,b,,c,,", ",", nil, nil, 10))
show(split(",a,b", ","))
show(split("abc", ""))
show(split("abc", "", nil, nil, 2))
show(split("", ","))
show(split("a1b22c", "\\d+"))
show(split("a1b22c", "\\d*"))
show(split("a,b", "(x)?,"))
local ctx = {pos = 3}
show(split("a,b,c,d", ",", nil, ctx), ctx.pos)
show(split("a,b", "("))
show(pcall(split, "a,b", ",", nil, nil, nil, 5))
show(split(123, "2"))
show(split("a b  c", " +", "jo"))"#;
    let got = lines(&mut lua(), src);
    assert_eq!(
        got,
        [
            "{[a],[b],[c],[d]}",
            "{[a],[,],[b],[,],[c],[,],[d]}",
            "{[a],[b,c,d]}",
            "{[a],[b],[],[c]}",
            "{[a],[b],[],[c],[],[]}",
            "{[],[a],[b]}",
            "{[a],[b],[c]}",
            "{[a],[bc]}",
            "{}",
            "{[a],[b],[c]}",
            "{[a],[a1],[b],[b22],[c]}",
            "{[a],[b]}",
            "{[b],[c],[d]} | 6",
            "nil | pcre_compile() failed: missing ) in \"(\"",
            "false | res is not a table",
            "{[1],[3]}",
            "{[a],[b],[c]}"
        ]
    );
}

#[test]
fn a_backtracking_gsub_prepares_its_subject_once() {
    // A lookahead pattern runs on the backtracking engine, which wants
    // text: the non-ASCII subject is converted once per call, not once per
    // match, and each search is charged for what it scanned, so 20000
    // matches over 80 KB fit a budget that a per-search cost proportional
    // to the rest of the subject (1.6 GB scanned in all) would exceed.
    let mut lua = lua();
    let (r, _) = lua.run_with(
        &format!(
            "{PRELUDE}local s = string.rep('\u{e9}ab', 20000)
             local r, n = ngx.re.gsub(s, 'a(?=b)', 'x')
             assert(n == 20000 and r:sub(1, 4) == '\u{e9}xb')
             local k = 0
             for m in ngx.re.gmatch(s, 'a(?=b)') do k = k + 1 end
             assert(k == 20000)"
        ),
        Budget {
            instructions: 100_000_000,
            ..Budget::default()
        },
    );
    assert_eq!(r, Ok(String::new()));
}

#[test]
fn backtracking_is_charged_by_its_steps_whatever_the_load() {
    // A catastrophic pattern on the backtracking engine (a back-reference)
    // passes PCRE's match limit: the search fails with `-8`, and what it
    // costs is a count of its steps, the same on every run (so it cannot
    // depend on how busy the machine is), and large: a loop of such
    // searches ends on the budget after a few of them.
    let search =
        r#"local m, err = ngx.re.match(string.rep("a", 64) .. "!", [[^(a|aa)+\1$]], "jo")"#;
    let once = format!("{PRELUDE}{search} assert(m == nil and err == 'pcre_exec() failed: -8')");
    let budget = Budget {
        instructions: 12_000_000,
        ..Budget::default()
    };
    let mut lua = lua();
    let (r, first) = lua.run_with(&once, budget);
    assert_eq!(r, Ok(String::new()));
    assert!(first > 1_000_000, "one search cost {first} instructions");
    // The pattern is cached now: every later run costs the same.
    let runs: Vec<u64> = (0..2).map(|_| lua.run_with(&once, budget).1).collect();
    assert!(runs.iter().all(|&n| n == runs[0]), "{runs:?}");
    let forever = format!("{PRELUDE}local n = 0 while true do {search} n = n + 1 end");
    let (r, used) = lua.run_with(&forever, budget);
    assert!(
        r.is_err_and(|e| e.contains("instruction budget exceeded")),
        "{used}"
    );
}

#[test]
fn more_gmatch_gsub_and_byte_mode_cases() {
    // oracle (nginx prints these with ngx.say; the values are the same).
    // Where OpenResty steps one byte into a UTF-8 character after an empty
    // match in `u` mode and fails (`pcre_exec() failed: -11`), we step
    // over the character.
    check(
        r#"local function all(s, re, o)
             local out = {}
             for m in ngx.re.gmatch(s, re, o) do
               local p = {} for k, x in pairs(m) do p[#p + 1] = tostring(k) .. "=" .. tostring(x) end
               table.sort(p) out[#out + 1] = "{" .. table.concat(p, ",") .. "}"
             end
             return table.concat(out, " ")
           end
           print(all("abc", "\\w*"))
           print(all("abc", ""))
           print(all("a1b2c3", "[a-z](\\d)", "a"))
           print(all("aaa", "a", "a"))
           print(ngx.re.gsub("abc", "b*", "-"))
           print(ngx.re.gsub("aaa", "a", "b", "a"))
           print(ngx.re.gsub("hello", "(l)", "${1}${0}$$"))
           print(pcall(ngx.re.gsub, "a.b.c", "\\.", function() end))
           show(ngx.re.match("日本語テキスト", "本(.)")[1] == "\232", ngx.re.find("日本語", "語", "u"))
           print(all("héllo", "", "u"))
           print(ngx.re.gsub("héllo", "", "-", "u"))"#,
        &[
            "{0=abc} {0=}",
            "{0=} {0=} {0=} {0=}",
            "{0=a1,1=1} {0=b2,1=2} {0=c3,1=3}",
            "{0=a} {0=a} {0=a}",
            "-a--c-\t4",
            "bbb\t3",
            "hell$ll$o\t2",
            "false\tbad argument #1 to 'tostring' (value expected)",
            "true | 7 | 9",
            "{0=} {0=} {0=} {0=} {0=} {0=}",
            "-h-é-l-l-o-\t6",
        ],
    );
}

#[test]
fn generated_patterns_never_panic() {
    // Patterns and subjects drawn from PCRE's metacharacters, escapes,
    // UTF-8 and raw bytes (a fixed xorshift sequence, so a failure
    // replays): every call answers (a match, nil, or nil and a message),
    // none panics.
    const PIECES: &[&str] = &[
        "a",
        "b",
        "é",
        "\\xff",
        ".",
        "*",
        "+",
        "?",
        "*?",
        "++",
        "{2}",
        "{1,",
        "{,3}",
        "}",
        "(",
        ")",
        "(?:",
        "(?<n>",
        "(?P<m>",
        "(?=",
        "(?!",
        "(?<=",
        "(?>",
        "(?#c)",
        "[",
        "]",
        "[^",
        "[:alpha:]",
        "-",
        "^",
        "$",
        "|",
        "\\",
        "\\d",
        "\\W",
        "\\b",
        "\\1",
        "\\k<n>",
        "\\Q",
        "\\E",
        "\\x{41}",
        "\\0",
        "\\p{L}",
        "\\Z",
        "\\h",
        "\\R",
        "#",
        " ",
        "\\n",
        "&&",
        "~",
    ];
    const FLAGS: &[&str] = &["", "i", "x", "m", "s", "u", "U", "a", "D", "jo", "imsx"];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut cases = String::new();
    for _ in 0..600 {
        let mut pat = String::new();
        for _ in 0..1 + next(8) {
            pat.push_str(PIECES[next(PIECES.len())]);
        }
        let subject = ["", "aab", r"éa\nb", r"ab ab\n", r"\255\0a"][next(5)];
        let flags = FLAGS[next(FLAGS.len())];
        cases.push_str(&format!(
            "t({:?}, \"{subject}\", {flags:?})\n",
            pat.replace('\\', "\\\\")
        ));
    }
    let src = format!(
        "{PRELUDE}local split = require('ngx.re').split
         local n = 0
         local function t(p, s, o)
           local ok, e = pcall(function()
             ngx.re.match(s, p, o)
             ngx.re.find(s, p, o)
             ngx.re.gsub(s, p, '<$0>', o)
             for m in (ngx.re.gmatch(s, p, o) or function() end) do end
             split(s, p, o)
           end)
           n = n + 1
         end
         {cases}
         print(n)"
    );
    let got = lines(&mut lua(), &src);
    assert_eq!(got, ["600"]);
}
