//! The `ngx` codecs and time helpers, `ngx.base64`, `kong.table` and
//! `kong.tools.uuid` on lua-stdlib, driven from Lua source.
//!
//! "oracle": nginx 1.22 + lua-nginx-module 0.10.23 + lua-resty-core 0.1.25
//! running the same lines in `content_by_lua_file`. Others name their
//! source: lua-nginx-module's README, Kong's `kong/pdk/table.lua` and
//! `kong/tools/uuid.lua`, RFC test vectors.

mod ext_common;

use std::rc::Rc;
use std::time::Duration;

use ext_common::{lines, Lua};
use lua_stdlib::ext::cjson::{load_cjson, load_cjson_safe};
use lua_stdlib::ext::codec::{load_ngx_base64, load_ngx_codecs};
use lua_stdlib::ext::copy_fields;
use lua_stdlib::ext::kong::{load_kong_table, load_kong_uuid};
use lua_stdlib::ext::re::load_ngx_re;
use lua_stdlib::ext::time::load_ngx_time;

/// 2010-11-18 11:27:35.250 UTC, the host's request clock in these tests.
const CLOCK: Duration = Duration::from_millis(1_290_079_655_250);

fn lua() -> Lua {
    Lua::new(|ctx, loaded| {
        let ngx = ctx.new_table();
        copy_fields(ctx, load_ngx_codecs(ctx), ngx);
        copy_fields(ctx, load_ngx_time(ctx, Rc::new(|| CLOCK)), ngx);
        let _ = loaded.set(ctx, "ngx", ngx);
        let _ = loaded.set(ctx, "ngx.base64", load_ngx_base64(ctx));
        let kong = ctx.new_table();
        let _ = kong.set(ctx, "table", load_kong_table(ctx));
        let tools = ctx.new_table();
        let _ = tools.set(ctx, "uuid", load_kong_uuid(ctx));
        let _ = kong.set(ctx, "tools", tools);
        let _ = loaded.set(ctx, "kong", kong);
        // The rest of what a function sees, as the gateway registers it.
        let _ = ngx.set(ctx, "re", load_ngx_re(ctx));
        let _ = ngx.set(ctx, "null", lua_stdlib::ext::null(ctx));
        let _ = loaded.set(ctx, "cjson", load_cjson(ctx));
        let _ = loaded.set(ctx, "cjson.safe", load_cjson_safe(ctx));
    })
}

const PRELUDE: &str = "local ngx = require 'ngx'\nlocal kong = require 'kong'\n\
    local function show(...) local t = {} for i = 1, select('#', ...) do local v = select(i, ...) \
    if type(v) == 'table' then local p = {} for k, x in pairs(v) do if type(x) == 'table' then x = '[' .. table.concat(x, ',') .. ']' end \
    p[#p + 1] = tostring(k) .. '=' .. tostring(x) end table.sort(p) v = '{' .. table.concat(p, ',') .. '}' end \
    t[#t + 1] = tostring(v) end print(table.concat(t, ' | ')) end\n";

fn check(src: &str, expected: &[&str]) {
    let got = lines(&mut lua(), &format!("{PRELUDE}{src}"));
    assert_eq!(got, expected, "\n{src}");
}

#[test]
fn encode_args() {
    // oracle (single-key tables: the order is the table's)
    check(
        r#"show(ngx.encode_args({a = "b c"}), ngx.encode_args({d = true}), ngx.encode_args({e = false}))
           show(ngx.encode_args({foo = {"a", "b", true, false, 3}}))
           show(pcall(ngx.encode_args, {a = {}}))
           show(pcall(ngx.encode_args, {[1] = "x"}))
           show(pcall(ngx.encode_args, {a = print}))
           show(pcall(ngx.encode_args, {a = {{}}}))
           show(ngx.encode_args({["a b"] = "=&+/?#%é~!*'()"}))
           show(ngx.encode_args({}))
           show(pcall(ngx.encode_args, "x"))
           show(ngx.encode_args({n = 3.5}), ngx.encode_args({m = 10}))
           local s = ngx.encode_args({a = 1, b = "2"})
           show(s == "a=1&b=2" or s == "b=2&a=1")"#,
        &[
            "a=b%20c | d | ",
            "foo=a&foo=b&foo&foo=3",
            "true | ",
            "false | attempt to use a non-string key in the \"args\" option table",
            "false | attempt to use function as query arg value",
            "false | attempt to use table as query arg value",
            "a%20b=%3D%26%2B%2F%3F%23%25%C3%A9~!*'()",
            "",
            "false | bad argument #1 to 'encode_args' (table expected, got string)",
            "n=3.5 | m=10",
            "true",
        ],
    );
}

#[test]
fn decode_args() {
    // oracle
    check(
        r#"show(ngx.decode_args("a=b&c&d=&e=1&e=2&=x&f=%20+%zz"))
           show(ngx.decode_args("a=1&a=2&a=3", 2))
           show(ngx.decode_args("a=1&b=2&c=3", 2))
           show(ngx.decode_args("a=1&b=2&c=3", 0))
           show(ngx.decode_args("&&a=1&&"))
           show(ngx.decode_args(""))
           show(ngx.decode_args("a=1;b=2"))
           show(pcall(ngx.decode_args, nil))
           show(ngx.decode_args("a=%41&b=%zz&c=%&%41=1&a+b=c"))
           local many = {} for i = 1, 150 do many[i] = "k" .. i .. "=v" end
           local t, err = ngx.decode_args(table.concat(many, "&"))
           local n = 0 for _ in pairs(t) do n = n + 1 end
           show(n, err)"#,
        &[
            "{a=b,c=true,d=,e=[1,2],f=  %zz}",
            "{a=[1,2]} | truncated",
            "{a=1,b=2} | truncated",
            "{a=1,b=2,c=3}",
            "{a=1}",
            "{}",
            "{a=1;b=2}",
            "false | bad argument #1 to 'decode_args' (string expected, got nil)",
            "{A=1,a b=c,a=A,b=%zz,c=%}",
            "100 | truncated",
        ],
    );
}

#[test]
fn digests() {
    // oracle; RFC 2202 case 2 for hmac_sha1
    check(
        r#"show(ngx.md5("hello"), #ngx.md5_bin("hello"), ngx.encode_base64(ngx.sha1_bin("hello")))
           show(ngx.encode_base64(ngx.hmac_sha1("key", "The quick brown fox jumps over the lazy dog")))
           show(ngx.encode_base64(ngx.hmac_sha1("Jefe", "what do ya want for nothing?")))
           show(ngx.crc32_short("hello"), ngx.crc32_long("hello"), ngx.crc32_short(""), ngx.crc32_long(nil))
           show(ngx.md5(nil), ngx.md5(12))
           show(pcall(ngx.hmac_sha1, nil, "x"))
           show(ngx.md5_bin("hello") == ngx.md5_bin("hello"), ngx.sha1_bin(nil) == ngx.sha1_bin(""))"#,
        &[
            "5d41402abc4b2a76b9719d911017c592 | 16 | qvTGHdzF6KLavt4PO0gs2a6pQ00=",
            "3nybhbi3iqa8ino29wqQcBydtNk=",
            // RFC 2202: effcdf6ae5eb2fa2d27416d5f184df9c259a7c79
            "7/zfauXrL6LSdBbV8YTfnCWafHk=",
            "907060870 | 907060870 | 0 | 0",
            "d41d8cd98f00b204e9800998ecf8427e | c20ad4d76fe97759aa27a0c99bff6710",
            "false | bad argument #1 to 'hmac_sha1' (string expected, got nil)",
            "true | true",
        ],
    );
}

#[test]
fn base64() {
    // oracle
    check(
        r#"show(ngx.encode_base64("hello?>"), ngx.encode_base64("hello?>", true), ngx.encode_base64(""))
           show(ngx.decode_base64("aGVsbG8/Pg=="), ngx.decode_base64("aGVsbG8/Pg"), ngx.decode_base64("a"), ngx.decode_base64("aGVs bG8="), ngx.decode_base64("aGVsbG8_Pg"))
           show(pcall(ngx.encode_base64, nil))
           show(ngx.encode_base64(123))
           show(pcall(ngx.decode_base64, nil))
           show(pcall(ngx.decode_base64, 12))
           show(ngx.decode_base64("YQ"), ngx.decode_base64("YQ="), ngx.decode_base64("YQ=="), ngx.decode_base64("YQ==="), ngx.decode_base64("Y"), ngx.decode_base64("YQ=a"))
           local b64 = require "ngx.base64"
           show(b64.encode_base64url("hello?>\255"), b64.decode_base64url("aGVsbG8_Pv8"), b64.decode_base64url("a+b/"))"#,
        &[
            "aGVsbG8/Pg== | aGVsbG8/Pg | ",
            "hello?> | hello?> | nil | nil | nil",
            "true | ",
            "MTIz",
            "false | string argument only",
            "false | string argument only",
            "a | a | a | a | nil | a",
            // lua-resty-core ngx/base64.lua: URL alphabet, no padding
            "aGVsbG8_Pv8 | hello?>\u{fffd} | nil | invalid input",
        ],
    );
}

#[test]
fn uri_escaping_and_sql_quoting() {
    // oracle
    check(
        r#"show(ngx.escape_uri("a b&c=d/é~-_.!*'()[]@:"), ngx.escape_uri("a b/c", 0), ngx.escape_uri("a b/c?&=", 2))
           show(ngx.unescape_uri("a%20b+c%zz%4"), ngx.unescape_uri("%E9%c3%A9") == "\233\195\169")
           show(ngx.unescape_uri("%"), ngx.unescape_uri("%4"), ngx.unescape_uri("%4g"), ngx.unescape_uri("%%41"))
           show(ngx.escape_uri(nil), ngx.unescape_uri(nil))
           show(ngx.quote_sql_str("a'b\"c\\d\0e\n\r\t\26f"))
           show(pcall(ngx.quote_sql_str, nil))
           local kept0, kept2 = {}, {}
           for b = 0, 255 do
             local c = string.char(b)
             if ngx.escape_uri(c, 0) == c then kept0[#kept0 + 1] = c end
             if ngx.escape_uri(c) == c then kept2[#kept2 + 1] = c end
           end
           print(table.concat(kept0))
           print(table.concat(kept2))"#,
        &[
            "a%20b%26c%3Dd%2F%C3%A9~-_.!*'()%5B%5D%40%3A | a%20b/c | a%20b%2Fc%3F%26%3D",
            "a b c%zz%4 | true",
            "% | %4 | %4g | %A",
            " | ",
            r#"'a\'b\"c\\d\0e\n\r\t\Zf'"#,
            "false | bad argument #1 to 'quote_sql_str' (string expected, got nil)",
            // type 0 escapes 0-32, # % ? and 127-255
            "!\"$&'()*+,-./0123456789:;<=>@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~",
            "!'()*-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~",
        ],
    );
}

#[test]
fn http_and_cookie_times() {
    // oracle; the README's examples for cookie_time, http_time and
    // parse_http_time
    check(
        r#"show(ngx.cookie_time(1290079655), ngx.http_time(1290079655), ngx.cookie_time(2^32))
           show(ngx.parse_http_time("Thu, 18 Nov 2010 11:27:35 GMT"), ngx.parse_http_time("Thursday, 18-Nov-10 11:27:35 GMT"), ngx.parse_http_time("Thu Nov 18 11:27:35 2010"), ngx.parse_http_time("garbage"))
           show(ngx.parse_http_time("Thu, 18 Nov 2010 11:27:35"), ngx.parse_http_time("18 Nov 2010 11:27:35 GMT"))
           show(pcall(ngx.cookie_time, "x"))
           show(ngx.http_time(-1))
           show(ngx.cookie_time(0), ngx.cookie_time(2147483647), ngx.cookie_time(2208988800), ngx.http_time(1e10))
           show(ngx.parse_http_time("Thu, 18 Nov 2010 11:27:35 GMT "), ngx.parse_http_time("thu, 18 nov 2010 11:27:35 GMT"), ngx.parse_http_time("Thu, 31 Feb 2010 11:27:35 GMT"), ngx.parse_http_time("Thu, 18 Nov 1969 11:27:35 GMT"), ngx.parse_http_time("Xxx, 18 Nov 2010 11:27:35 GMT"))
           show(pcall(ngx.parse_http_time, nil))
           show(ngx.parse_http_time("Tue, 29 Feb 2000 00:00:00 GMT"), ngx.parse_http_time("Thu, 29 Feb 1900 00:00:00 GMT"))"#,
        &[
            "Thu, 18-Nov-10 11:27:35 GMT | Thu, 18 Nov 2010 11:27:35 GMT | Sun, 07-Feb-2106 06:28:16 GMT",
            "1290079655 | 1290079655 | 1290079655 | nil",
            "1290079655 | nil",
            "false | number argument only",
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "Thu, 01-Jan-70 00:00:00 GMT | Tue, 19-Jan-2038 03:14:07 GMT | Sun, 01-Jan-2040 00:00:00 GMT | Sat, 20 Nov 2286 17:46:40 GMT",
            "nil | nil | nil | -3760345 | 1290079655",
            "false | string argument only",
            "951782400 | nil",
        ],
    );
}

#[test]
fn clock_helpers_read_the_host_clock() {
    // The host's clock (2010-11-18 11:27:35.25 UTC): ngx.time is whole
    // seconds, ngx.now keeps milliseconds, the text forms are nginx's
    // (`yyyy-mm-dd hh:mm:ss`), in UTC.
    check(
        r#"show(ngx.time(), math.type(ngx.time()), ngx.now())
           show(ngx.localtime(), ngx.utctime(), ngx.today())
           show(ngx.update_time())"#,
        &[
            "1290079655 | integer | 1290079655.25",
            "2010-11-18 11:27:35 | 2010-11-18 11:27:35 | 2010-11-18",
            "",
        ],
    );
}

#[test]
fn kong_table() {
    // kong/pdk/table.lua's usage examples: merge {1, 2, 3, foo = "f"} and
    // {4, 5, bar = "b"} gives {4, 5, 3, foo = "f", bar = "b"}; clear
    // empties both parts; new returns an empty table.
    check(
        r#"local t3 = kong.table.merge({1, 2, 3, foo = "f"}, {4, 5, bar = "b"})
           show(t3)
           show(kong.table.merge(nil, {a = 1}), kong.table.merge({b = 2}), kong.table.merge())
           local tab = setmetatable({"hello", foo = "bar"}, {})
           show(kong.table.clear(tab))
           show(tab[1], tab.foo, getmetatable(tab) ~= nil)
           local n = kong.table.new(4, 4)
           show(type(n), next(n))
           show(pcall(kong.table.clear, nil))"#,
        &[
            "{1=4,2=5,3=3,bar=b,foo=f}",
            "{a=1} | {b=2} | {}",
            "",
            "nil | nil | true",
            "table | nil",
            "false | bad argument #1 to 'clear' (table expected, got nil)",
        ],
    );
}

#[test]
fn kong_uuid() {
    // kong/tools/uuid.lua: uuid() is a v4 uuid; is_valid_uuid checks
    // length 36 and the hex pattern caselessly.
    check(
        r#"local u = kong.tools.uuid
           local a, b = u.uuid(), u.uuid()
           show(#a, a ~= b, u.is_valid_uuid(a), a:sub(15, 15))
           show(string.find(a, "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$") ~= nil)
           show(u.is_valid_uuid("00000000-0000-0000-0000-000000000000"), u.is_valid_uuid("ABCDEF00-0000-0000-0000-00000000000A"))
           show(u.is_valid_uuid("00000000-0000-0000-0000-00000000000"), u.is_valid_uuid("00000000x0000-0000-0000-000000000000"), u.is_valid_uuid(nil), u.is_valid_uuid(12))"#,
        &[
            "36 | true | true | 4",
            "true",
            "true | true",
            "false | false | false | false",
        ],
    );
}

#[test]
fn a_function_using_them_together() {
    // What a Kong function typically does with them: decode a JSON body,
    // pull a token out of a header with ngx.re, build a query string, sign
    // and hash; decoded nulls are ngx.null. Digests: Python's hashlib/hmac.
    check(
        r#"local cjson = require "cjson.safe"
           local t = cjson.decode('{"user":"Ada L","roles":["admin","dev"],"age":36,"team":null}')
           local m = ngx.re.match("Bearer abc.def", [[^Bearer\s+(\S+)$]], "jo")
           print(t.user, t.age, math.type(t.age), t.team == ngx.null, m[1])
           print(ngx.encode_args({role = t.roles}), ngx.md5(m[1]), ngx.encode_base64(ngx.hmac_sha1("k", m[1])))
           print(kong.table.merge({a = 1}, {b = 2}).b, kong.tools.uuid.is_valid_uuid(kong.tools.uuid.uuid()))
           print(cjson.encode({ok = true, roles = setmetatable({}, cjson.empty_array_mt)}):len())"#,
        &[
            "Ada L\t36\tinteger\ttrue\tabc.def",
            "role=admin&role=dev\t7d310584de9a98c4e323be77af878f64\tnkOKsB8Et/+nRgaGY3z/xDNqFb0=",
            "2\ttrue",
            "22",
        ],
    );
}
