//! `cjson` / `cjson.safe` on lua-stdlib, driven from Lua source.
//!
//! Expected values come from three places, named on each test:
//! - "oracle": nginx 1.22 + lua-nginx-module 0.10.23 running lua-cjson
//!   2.1.0 (Debian's build) in `content_by_lua_file`, the same script;
//! - "agentzh.t": openresty/lua-cjson `tests/agentzh.t` (OpenResty's
//!   additions: `empty_array`, `array_mt`, `encode_empty_table_as_object`
//!   …), TEST n as numbered there;
//! - "lua_cjson.c": openresty/lua-cjson's source at its HEAD (2.1.0.11)
//!   where it differs from the older build above (integers: `T_INTEGER`);
//! - "test.lua": openresty/lua-cjson's `tests/test.lua`, by case name.

mod ext_common;

use ext_common::{lines, Lua};
use lua_stdlib::ext::cjson::{load_cjson, load_cjson_safe};
use lua_stdlib::Budget;

fn lua() -> Lua {
    Lua::new(|ctx, loaded| {
        let _ = loaded.set(ctx, "cjson", load_cjson(ctx));
        let _ = loaded.set(ctx, "cjson.safe", load_cjson_safe(ctx));
    })
}

fn check(src: &str, expected: &[&str]) {
    let prelude = "local cjson = require 'cjson'\nlocal safe = require 'cjson.safe'\n\
                   local function show(...) local t = {} for i = 1, select('#', ...) do \
                   t[#t + 1] = tostring((select(i, ...))) end print(table.concat(t, ' | ')) end\n";
    let got = lines(&mut lua(), &format!("{prelude}{src}"));
    assert_eq!(got, expected, "\n{src}");
}

#[test]
fn encode_scalars_strings_and_escapes() {
    // oracle
    check(
        r#"show(cjson.encode("a/b\"c\\d\1\127\31\n\r\t\b\f é"))
           show(cjson.encode(true), cjson.encode(false), cjson.encode(nil), cjson.encode(cjson.null))
           show(cjson.encode(0.1), cjson.encode(1/3), cjson.encode(1e300), cjson.encode(-0.0))
           show(cjson.encode(123456789012345.0), cjson.encode(1e15), cjson.encode(2^53), cjson.encode(-1.5e-7))"#,
        &[
            r#""a\/b\"c\\d\u0001\u007f\u001f\n\r\t\b\f é""#,
            "true | false | null | null",
            "0.1 | 0.33333333333333 | 1e+300 | -0",
            "1.2345678901234e+14 | 1e+15 | 9.007199254741e+15 | -1.5e-07",
        ],
    );
}

#[test]
fn integers_print_exactly_and_integral_floats_without_a_fraction() {
    // lua_cjson.c: json_append_number prints lua_isinteger values with
    // LUA_INTEGER_FMT; a float with an integral value prints as %.14g does
    // (what LuaJIT code sees: `5`, not `5.0`).
    check(
        "show(cjson.encode(math.maxinteger), cjson.encode(5.0), cjson.encode(10 / 2), cjson.encode(-7))",
        &["9223372036854775807 | 5 | 5 | -7"],
    );
}

#[test]
fn arrays_holes_sparse_arrays_and_mixed_tables() {
    // oracle
    check(
        r#"show(cjson.encode({1, 2, nil, 4}))
           show(pcall(cjson.encode, {[1000] = 1}))
           show(cjson.encode({[1] = 1, [2] = 2, [5] = 5}))
           show(pcall(cjson.encode, {[1] = 1, [11] = 2}))
           show(pcall(cjson.encode, {[1.5] = 1}))
           show(pcall(cjson.encode, {[-1] = "a"}))
           show(pcall(cjson.encode, {[0] = "a"}))
           show(pcall(cjson.encode, {[true] = 1}))
           show(cjson.encode({a = {b = {c = {}}}}))
           show(cjson.encode({"a", {}, {x = {}}}))
           show(cjson.encode({1, 2, 3, [4.0] = 4}))"#,
        &[
            "[1,2,null,4]",
            "false | Cannot serialise table: excessively sparse array",
            "[1,2,null,null,5]",
            "false | Cannot serialise table: excessively sparse array",
            r#"true | {"1.5":1}"#,
            r#"true | {"-1":"a"}"#,
            r#"true | {"0":"a"}"#,
            "false | Cannot serialise boolean: table key must be a number or string",
            r#"{"a":{"b":{"c":{}}}}"#,
            r#"["a",{},{"x":{}}]"#,
            "[1,2,3,4]",
        ],
    );
}

#[test]
fn sparse_array_settings() {
    // lua_cjson.c: json_cfg_encode_sparse_array returns convert, ratio,
    // safe; convert turns an excessively sparse array into an object.
    check(
        r#"show(cjson.encode_sparse_array())
           show(cjson.encode_sparse_array(true))
           show(cjson.encode({[1000] = 1}))
           show(cjson.encode_sparse_array(false, 0))
           show(cjson.encode({[4] = 1}))"#,
        &[
            "false | 2 | 10",
            "true | 2 | 10",
            r#"{"1000":1}"#,
            "false | 0 | 10",
            "[null,null,null,1]",
        ],
    );
}

#[test]
fn unsupported_values_and_argument_errors() {
    // oracle (lines count the 3-line prelude; the position prefix is
    // luaL_error's, as in
    // `cj2.lua:2: Cannot serialise function: type not supported`)
    check(
        r#"show(pcall(cjson.encode, function() end))
           show(pcall(function() local s = cjson.encode(print) return s end))
           show(pcall(function() local s = cjson.encode() return s end))
           show(pcall(function() local s = cjson.encode(1, 2) return s end))
           show(safe.encode(function() end))
           show(pcall(function() local s = safe.encode() return s end))
           show(pcall(cjson.encode, 0/0))
           show(pcall(cjson.encode, -math.huge))"#,
        &[
            "false | Cannot serialise function: type not supported",
            "false | test:5: Cannot serialise function: type not supported",
            "false | test:6: bad argument #1 to 'encode' (expected 1 argument)",
            "false | test:7: bad argument #1 to 'encode' (expected 1 argument)",
            "nil | Cannot serialise function: type not supported",
            "false | test:9: bad argument #1 to 'encode' (expected 1 argument)",
            // lua_cjson.c: DEFAULT_ENCODE_INVALID_NUMBERS 0
            "false | Cannot serialise number: must not be NaN or Infinity",
            "false | Cannot serialise number: must not be NaN or Infinity",
        ],
    );
}

#[test]
fn invalid_numbers_and_skipping_unsupported_values() {
    // lua_cjson.c: encode_invalid_numbers "null" / true, and
    // encode_skip_unsupported_value_types drops the entry and its comma.
    check(
        r#"show(cjson.encode_invalid_numbers("null"), cjson.encode(0/0))
           show(cjson.encode_invalid_numbers(true), cjson.encode(0/0), cjson.encode(-math.huge))
           show(cjson.encode_skip_unsupported_value_types(true))
           show(cjson.encode({print, 1, print, 2, print}))
           show(cjson.encode({f = print}))"#,
        &[
            "null | null",
            "true | NaN | -Infinity",
            "true",
            "[1,2]",
            "{}",
        ],
    );
}

#[test]
fn encode_nesting_limit() {
    // oracle: a self-referencing table and 1000 nested arrays both stop
    // at depth 1001 with lua-cjson's message
    check(
        r#"local t = {} t.t = t
           show(pcall(cjson.encode, t))
           show(safe.encode(t))
           local deep = {} local cur = deep for i = 1, 1000 do cur[1] = {} cur = cur[1] end
           show(pcall(cjson.encode, deep))
           local ok = pcall(cjson.encode, deep[1])
           show(ok)
           show(cjson.encode_max_depth(), cjson.encode_max_depth(3))
           show(pcall(cjson.encode, {{{}}}))
           show(pcall(cjson.encode, {{{{}}}}))"#,
        &[
            "false | Cannot serialise, excessive nesting (1001)",
            "nil | Cannot serialise, excessive nesting (1001)",
            "false | Cannot serialise, excessive nesting (1001)",
            "true",
            "1000 | 3",
            "true | [[{}]]",
            "false | Cannot serialise, excessive nesting (4)",
        ],
    );
}

#[test]
fn decode_values_and_error_messages() {
    // oracle, except where marked lua_cjson.c
    check(
        r#"for _, s in ipairs{'', ' ', '[1,2,3,]', '{"a":1,}', '{"a" 1}', '{1:2}', '[1 2]', 'nul',
                            'truex', '"abc', '"\\q"', '"\\u12"', '"\\ud800"', '"\\udc00x"', '[', '{',
                            '{"a":', '01', '0x10', '+1', '-', '1e', '.5', '1.', '[1]x', '"\\ud83d\\ude00"',
                            '"\\u00e9"', '"\\/"', '  [ true , false , null ]  ', '1.5e3', 'abc',
                            '"a\0b"', '[1]\0x', 'NaN', '-0', '010'} do
             local ok, v = pcall(cjson.decode, s)
             if ok then show("OK", s, type(v) == "table" and cjson.encode(v) or v, math.type(v) or type(v))
             else show("ERR", s, v) end
           end"#,
        &[
            "ERR |  | Expected value but found T_END at character 1",
            "ERR |   | Expected value but found T_END at character 2",
            "ERR | [1,2,3,] | Expected value but found T_ARR_END at character 8",
            r#"ERR | {"a":1,} | Expected object key string but found T_OBJ_END at character 8"#,
            // lua_cjson.c (2.1.0.11 names integers T_INTEGER; 2.1.0 said T_NUMBER)
            r#"ERR | {"a" 1} | Expected colon but found T_INTEGER at character 6"#,
            "ERR | {1:2} | Expected object key string but found T_INTEGER at character 2",
            "ERR | [1 2] | Expected comma or array end but found T_INTEGER at character 4",
            "ERR | nul | Expected value but found invalid token at character 1",
            "ERR | truex | Expected the end but found invalid token at character 5",
            r#"ERR | "abc | Expected value but found unexpected end of string at character 5"#,
            r#"ERR | "\q" | Expected value but found invalid escape code at character 2"#,
            r#"ERR | "\u12" | Expected value but found invalid unicode escape code at character 2"#,
            r#"ERR | "\ud800" | Expected value but found invalid unicode escape code at character 2"#,
            r#"ERR | "\udc00x" | Expected value but found invalid unicode escape code at character 2"#,
            "ERR | [ | Expected value but found T_END at character 2",
            "ERR | { | Expected object key string but found T_END at character 2",
            r#"ERR | {"a": | Expected value but found T_END at character 6"#,
            "OK | 01 | 1 | integer",
            "OK | 0x10 | 16.0 | float",
            "OK | +1 | 1 | integer",
            "ERR | - | Expected value but found invalid number at character 1",
            "ERR | 1e | Expected the end but found invalid token at character 2",
            "ERR | .5 | Expected value but found invalid token at character 1",
            "OK | 1. | 1.0 | float",
            "ERR | [1]x | Expected the end but found invalid token at character 4",
            r#"OK | "\ud83d\ude00" | 😀 | string"#,
            r#"OK | "\u00e9" | é | string"#,
            r#"OK | "\/" | / | string"#,
            "OK |   [ true , false , null ]   | [true,false,null] | table",
            "OK | 1.5e3 | 1500.0 | float",
            "ERR | abc | Expected value but found invalid token at character 1",
            "ERR | \"a\0b\" | Expected value but found unexpected end of string at character 3",
            "OK | [1]\0x | [1] | table",
            // lua_cjson.c: what strtoll (base 10) cannot read goes to
            // strtod: NaN, hexadecimal (above); integers are integers
            "OK | NaN | nan | float",
            "OK | -0 | 0 | integer",
            "OK | 010 | 10 | integer",
        ],
    );
}

#[test]
fn decode_null_numbers_and_arguments() {
    // oracle
    check(
        r#"show(cjson.decode("123"), cjson.decode('"x"'), cjson.decode("null"), cjson.decode("null") == cjson.null)
           show(cjson.decode('[null]')[1] == cjson.null, safe.null == cjson.null, type(cjson.null))
           show(pcall(cjson.decode, 1))
           show(pcall(function() local v = cjson.decode({}) return v end))
           show(pcall(function() local v = cjson.decode() return v end))
           show(cjson._NAME, safe._NAME)
           show(cjson.decode("12345678901234567890"), cjson.decode("-9223372036854775808"))
           show(#cjson.decode('"\\u0000"'))
           show(pcall(cjson.decode, "[\0"))"#,
        &[
            "123 | x | userdata: NULL | true",
            "true | true | userdata",
            "true | 1",
            "false | test:7: bad argument #1 to 'decode' (string expected, got table)",
            "false | test:8: bad argument #1 to 'decode' (expected 1 argument)",
            "cjson | cjson",
            "1.2345678901235e+19 | -9223372036854775808",
            "1",
            "false | JSON parser does not support UTF-16 or UTF-32",
        ],
    );
}

#[test]
fn decode_nesting_limit() {
    // oracle: "Found too many nested data structures (1001) at character 1001"
    check(
        r#"show(pcall(cjson.decode, string.rep("[", 1001) .. string.rep("]", 1001)))
           show(type(cjson.decode(string.rep("[", 1000) .. string.rep("]", 1000))))
           show(pcall(cjson.decode, string.rep('{"a":', 1001)))
           show(safe.decode(string.rep("[", 100000)))
           show(cjson.decode_max_depth(), cjson.decode_max_depth(2))
           show((pcall(cjson.decode, "[[1]]")))
           show(pcall(cjson.decode, "[[[1]]]"))"#,
        &[
            "false | Found too many nested data structures (1001) at character 1001",
            "table",
            "false | Found too many nested data structures (1001) at character 5001",
            "nil | Found too many nested data structures (1001) at character 1001",
            "1000 | 2",
            "true",
            "false | Found too many nested data structures (3) at character 3",
        ],
    );
}

#[test]
fn safe_returns_nil_and_message() {
    // oracle: `nil | Expected value but found T_END at character 4`
    check(
        r#"show(safe.decode("[1,"))
           show(safe.decode("[1]")[1])
           show(safe.encode({1}))
           show(pcall(safe.decode, "x", "y"))"#,
        &[
            "nil | Expected value but found T_END at character 4",
            "1",
            "[1]",
            "false | bad argument #1 to 'decode' (expected 1 argument)",
        ],
    );
}

#[test]
fn config_function_errors() {
    // oracle (LuaJIT names the function '?' through pcall; we name it)
    check(
        r#"show(cjson.encode_max_depth(), cjson.decode_max_depth(), cjson.encode_sparse_array(), cjson.encode_number_precision())
           show(pcall(cjson.encode_max_depth, 0))
           show(pcall(cjson.encode_max_depth, 1, 2))
           show(pcall(cjson.encode_sparse_array, "yes"))
           show(pcall(cjson.encode_number_precision, 17))"#,
        &[
            "1000 | 1000 | false | 14",
            "false | bad argument #1 to 'encode_max_depth' (expected integer between 1 and 2147483647)",
            "false | bad argument #2 to 'encode_max_depth' (found too many arguments)",
            "false | bad argument #1 to 'encode_sparse_array' (invalid option 'yes')",
            "false | bad argument #1 to 'encode_number_precision' (expected integer between 1 and 16)",
        ],
    );
}

#[test]
fn instances_have_their_own_settings() {
    // lua_cjson.c: lua_cjson_new creates a config per instance
    check(
        r#"local other = cjson.new()
           cjson.encode_empty_table_as_object(false)
           show(cjson.encode({}), other.encode({}), safe.encode({}))
           local s2 = safe.new()
           show(s2.decode("["))"#,
        &[
            "[] | {} | {}",
            "nil | Expected value but found T_END at character 2",
        ],
    );
}

#[test]
fn openresty_empty_tables_and_array_metatables() {
    // agentzh.t TESTs 1-5, 9-11, 12-14 (single-key objects so the order
    // is the table's one key)
    check(
        r#"print(cjson.encode({}))
           print(cjson.encode({dogs = {}}))
           print(cjson.encode({arr = cjson.empty_array}))
           print(cjson.encode({arr = setmetatable({}, cjson.empty_array_mt)}))
           print(cjson.encode(setmetatable({}, cjson.array_mt)))
           print(cjson.encode(setmetatable({"foo", "bar"}, cjson.array_mt)))
           local data = {} data[1] = "foo" data[2] = "bar" data[4] = "last"
           print(cjson.encode(setmetatable(data, cjson.array_mt)))
           local t = cjson.decode([[{"my_array":[]}]])
           print("decoded JSON array has metatable: " .. tostring(getmetatable(t.my_array) == cjson.array_mt))
           print(cjson.encode(t))
           cjson.decode_array_with_array_mt(true)
           t = cjson.decode([[{"my_array":["hello","world"]}]])
           t.my_array.hash_value = "adding a hash value"
           t.my_array[1] = nil
           t.my_array[2] = nil
           print("decoded JSON array has metatable: " .. tostring(getmetatable(t.my_array) == cjson.array_mt))
           print(cjson.encode(t))
           cjson.decode_array_with_array_mt(false)
           print(getmetatable(cjson.decode("[]")) == nil)
           print(cjson.encode(setmetatable({"hello", "world", "lua"}, cjson.empty_array_mt)))
           cjson.encode_empty_table_as_object(false)
           print(cjson.encode({}))
           print(cjson.encode({dogs = {}}))
           print(safe.array_mt == cjson.array_mt, safe.empty_array == cjson.empty_array)"#,
        &[
            "{}",
            r#"{"dogs":{}}"#,
            r#"{"arr":[]}"#,
            r#"{"arr":[]}"#,
            "[]",
            r#"["foo","bar"]"#,
            r#"["foo","bar",null,"last"]"#,
            "decoded JSON array has metatable: false",
            r#"{"my_array":{}}"#,
            "decoded JSON array has metatable: true",
            r#"{"my_array":[]}"#,
            "true",
            r#"["hello","world","lua"]"#,
            "[]",
            r#"{"dogs":[]}"#,
            "true\ttrue",
        ],
    );
}

#[test]
fn openresty_nested_empty_arrays_round_trip() {
    // agentzh.t TEST 7: the keys' order is the table's, so compare
    // through a decode of our output.
    check(
        r#"local empty_arr = setmetatable({}, cjson.empty_array_mt)
           local data = { arr = empty_arr, foo = { obj = {}, foobar = { arr = cjson.empty_array, obj = {} } } }
           local back = cjson.decode(cjson.encode(data))
           print(cjson.encode(back.arr), cjson.encode(back.foo.obj), cjson.encode(back.foo.foobar.arr))
           local s = cjson.encode(data)
           print(#s == #'{"foo":{"foobar":{"obj":{},"arr":[]},"obj":{}},"arr":[]}')"#,
        &["{}\t{}\t{}", "true"],
    );
}

#[test]
fn number_precision() {
    // agentzh.t TEST 20
    check(
        r#"local double = 2^53
           print(cjson.encode(double))
           cjson.encode_number_precision(16)
           print(cjson.encode(double))
           print(string.format("%16.0f", cjson.decode("9007199254740992")))"#,
        &["9.007199254741e+15", "9007199254740992", "9007199254740992"],
    );
}

#[test]
fn forward_slash_escaping_can_be_turned_off() {
    // lua_cjson.c: encode_escape_forward_slash (default on)
    check(
        r#"print(cjson.encode("a/b"))
           print(cjson.encode_escape_forward_slash(false), cjson.encode("a/b"))"#,
        &[r#""a\/b""#, "false\t\"a/b\""],
    );
}

#[test]
fn encode_and_decode_charge_the_instruction_budget() {
    // A megabyte of JSON costs the caller about what scanning it costs,
    // not one instruction; a budget too small for the work stops it.
    let mut lua = lua();
    let src = r#"local cjson = require 'cjson'
                 local big = string.rep("x", 1024 * 1024)
                 local s = cjson.encode({big})
                 local t = cjson.decode(s)"#;
    let (r, used) = lua.run_with(src, Budget::default());
    assert!(r.is_ok(), "{r:?}");
    assert!(used > 200_000, "1 MiB encoded and decoded used only {used}");
    let (r, _) = lua.run_with(
        src,
        Budget {
            instructions: 50_000,
            ..Budget::default()
        },
    );
    assert_eq!(r, Err("instruction budget exceeded".to_string()));
}

#[test]
fn a_wide_decode_charges_per_value() {
    // 100k small values: the charge follows the values, not only bytes.
    let mut lua = lua();
    let (r, used) = lua.run_with(
        r#"local cjson = require 'cjson'
           local s = "[" .. string.rep("1,", 100000) .. "1]"
           local t = cjson.decode(s)
           assert(#t == 100001)"#,
        Budget::default(),
    );
    assert!(r.is_ok(), "{r:?}");
    assert!(used > 100_000, "100k values used only {used}");
}

#[test]
fn an_encode_that_expands_a_shared_table_is_stopped_by_the_budget() {
    // 2^24 leaves from 24 tables: the text would be hundreds of MB. The
    // encode pauses between steps, so the instruction budget ends it long
    // before (and a normal encode spanning many steps is unchanged).
    let mut lua = lua();
    let (r, _) = lua.run_with(
        r#"local cjson = require 'cjson'
           local t = {1}
           for i = 1, 24 do t = {t, t} end
           local s = cjson.encode(t)"#,
        Budget {
            instructions: 2_000_000,
            slice: 10_000,
            ..Budget::default()
        },
    );
    assert_eq!(r, Err("instruction budget exceeded".to_string()));
    let (r, _) = lua.run_with(
        r#"local cjson = require 'cjson'
           local t = {} for i = 1, 20000 do t[i] = {i, "x"} end
           local s = cjson.encode(t)
           assert(#s == #cjson.encode(cjson.decode(s)))
           print(s:sub(1, 20), s:sub(-12))"#,
        Budget {
            slice: 1_000,
            ..Budget::default()
        },
    );
    assert_eq!(
        r,
        Ok("[[1,\"x\"],[2,\"x\"],[3,\t[20000,\"x\"]]\n".to_string())
    );
}

#[test]
fn lua_cjson_test_suite_cases() {
    // test.lua: "Decode numbers", "Decode with extra comma", "Decode invalid
    // escape code", "Decode invalid unicode escape", "Decode invalid
    // keyword", "Decode invalid number #1/#2", "Decode invalid number
    // exponent", the decode_max_depth(5) cases, "Decode hexadecimal",
    // "Decode numbers with leading zero", "Decode +-Inf/Infinity/NaN",
    // "Decode Infrared", "Decode Noodle", the decode_invalid_numbers(false)
    // cases, "Encode sparse table as array #1/#2", "Decode swapped
    // surrogate pair", "Decode single UTF-16 escape".
    check(
        r#"local function d(s) local ok, v = pcall(cjson.decode, s) if not ok then return v end
             if type(v) ~= "table" then return tostring(v) end
             local p = {} for i = 1, #v do p[i] = tostring(v[i]) end return "[" .. table.concat(p, ",") .. "]" end
           print(d('[ 0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10 ]'))
           print(d('{ "extra data": true }, false'))
           print(d([[ { "bad escape \q code" } ]]))
           print(d([[ { "bad unicode \u0f6 escape" } ]]))
           print(d(' [ "bad barewood", test ] '))
           print(d('[ -+12 ]'))
           print(d('-v'))
           print(d('[ 0.4eg10 ]'))
           cjson.decode_max_depth(5)
           print(d('[[[[[ "nested" ]]]]]') ~= nil, d('[[[[[[ "nested" ]]]]]]'))
           print(d('{"a":{"b":{"c":{"d":{"e":{"f":"nested"}}}}}}'))
           cjson.decode_max_depth(1000)
           print(d('0x6.ffp1'), d('[ 0123, 00.33 ]'), d('[ +Inf, Inf, -Inf ]'))
           print(d('[ +Infinity, Infinity, -Infinity ]'), d('[ +NaN, NaN, -NaN ]'):gsub("-nan", "nan"))
           print(d('Infrared'))
           print(d('Noodle'))
           print(cjson.decode_invalid_numbers(false))
           print(d('0x6'))
           print(d('[ 0123, 00.33 ]'))
           print(d('[ +Inf, Inf, -Inf ]'))
           print(cjson.decode_invalid_numbers("on"))
           print(cjson.encode_sparse_array(true, 2, 3))
           print(cjson.encode({ [3] = "sparse test" }), cjson.encode({ [1] = "one", [4] = "sparse test" }))
           print(d([["\uDC00\uD800"]]))
           print(d([["\uF800"]]) == "\239\160\128")"#,
        &[
            "[0.0,-5000.0,-1,0.0003,1023.2,0.0]",
            "Expected the end but found T_COMMA at character 23",
            "Expected object key string but found invalid escape code at character 16",
            "Expected object key string but found invalid unicode escape code at character 17",
            "Expected value but found invalid token at character 20",
            "Expected value but found invalid number at character 3",
            "Expected value but found invalid number at character 1",
            "Expected comma or array end but found invalid token at character 6",
            "true\tFound too many nested data structures (6) at character 6",
            "Found too many nested data structures (6) at character 26",
            "13.9921875\t[123,0.33]\t[inf,inf,-inf]",
            "[inf,inf,-inf]\t[nan,nan,nan]\t0",
            "Expected the end but found invalid token at character 4",
            "Expected value but found invalid token at character 1",
            "false",
            "Expected value but found invalid number at character 1",
            "Expected value but found invalid number at character 3",
            "Expected value but found invalid token at character 3",
            "true",
            "true\t2\t3",
            "[null,null,\"sparse test\"]\t[\"one\",null,null,\"sparse test\"]",
            "Expected value but found invalid unicode escape code at character 2",
            "true",
        ],
    );
}

#[test]
fn a_long_decode_pauses_between_steps() {
    // 200k values: the decode stops when each slice is used up and goes
    // on (the host sees many suspensions, not one long step), and the
    // result is whole.
    let mut lua = lua();
    let (r, _, suspended) = lua.run_counting(
        r#"local cjson = require 'cjson'
           local s = "[" .. string.rep("1,", 200000) .. "1]"
           local t = cjson.decode(s)
           print(#t, t[200001])"#,
        Budget {
            slice: 10_000,
            ..Budget::default()
        },
    );
    assert_eq!(r, Ok("200001\t1\n".to_string()));
    assert!(suspended >= 10, "suspended {suspended} times");
}

#[test]
fn generated_documents_never_panic() {
    // Texts drawn from JSON's tokens and the numbers and escapes lua-cjson
    // reads (a fixed xorshift sequence, so a failure replays): decode
    // answers a value or lua-cjson's message, and what decodes encodes.
    const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        " ",
        "\"a\"",
        "\"\\u00e9\"",
        "\"\\ud83d\\ude00\"",
        "\"\\ud800\"",
        "\"\\q\"",
        "\"",
        "\\",
        "1",
        "-",
        "+",
        "0x1p3",
        "1e",
        "1.5e-3",
        ".",
        "e",
        "inf",
        "NaN",
        "-Infinity",
        "true",
        "false",
        "null",
        "nul",
        "9223372036854775808",
        "0",
        "\\u",
        "x",
    ];
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut cases = String::new();
    for _ in 0..800 {
        let mut doc = String::new();
        for _ in 0..1 + next(10) {
            doc.push_str(PIECES[next(PIECES.len())]);
        }
        cases.push_str(&format!("t({:?})\n", doc));
    }
    let src = format!(
        "local cjson = require 'cjson'
         local n = 0
         local function t(s)
           local ok, v = pcall(cjson.decode, s)
           if ok then
             local ok2, e = pcall(cjson.encode, v)
             assert(ok2 or e:find('NaN or Infinity') or e:find('sparse'), e)
           else
             assert(v:find('^Expected') or v:find('^Found too many'), v)
           end
           n = n + 1
         end
         {cases}
         print(n)"
    );
    let got = lines(&mut lua(), &src);
    assert_eq!(got, ["800"]);
}
