//! What a function sees in `sandbox` mode: Kong's list
//! (`kong/tools/sandbox/environment/lua.lua`, LuaJIT's names), the Lua 5.4
//! names Kong lacks that are harmless and kept ([`LUA54_EXTRAS`], listed
//! in the README), `kong`, `ngx`, and what the operator links with
//! `--untrusted-lua-sandbox-environment`. Everything else of the full
//! library is hidden: `load`, `loadstring`, `getmetatable`,
//! `setmetatable`, `raw*`, `collectgarbage`, `dofile`, `loadfile`,
//! `package`, `debug`, `io` but `io.type`, `os` but the clock and dates,
//! `string.dump`, `math.randomseed`.
//!
//! The same lists answer, without a VM, which globals a stored function
//! uses that the mode hides ([`hidden_uses`], for the start-up warning).

use lua_stdlib::{Context, Table, Value};

/// Kong's base functions.
pub const KONG_BASE: &[&str] = &[
    "_VERSION", "assert", "error", "ipairs", "next", "pairs", "pcall", "print", "select",
    "tonumber", "tostring", "type", "unpack", "xpcall",
];

/// Kong's library functions, per library.
pub const KONG_LIBS: &[(&str, &[&str])] = &[
    (
        "bit",
        &[
            "arshift", "band", "bnot", "bor", "bswap", "bxor", "lshift", "rol", "ror", "rshift",
            "tobit", "tohex",
        ],
    ),
    (
        "coroutine",
        &["create", "resume", "running", "status", "wrap", "yield"],
    ),
    ("io", &["type"]),
    ("jit", &["os", "arch", "version", "version_num"]),
    (
        "math",
        &[
            "abs", "acos", "asin", "atan", "atan2", "ceil", "cos", "cosh", "deg", "exp", "floor",
            "fmod", "frexp", "huge", "ldexp", "log", "log10", "max", "min", "modf", "pi", "pow",
            "rad", "random", "sin", "sinh", "sqrt", "tan", "tanh",
        ],
    ),
    ("os", &["clock", "date", "difftime", "time"]),
    (
        "string",
        &[
            "byte", "char", "find", "format", "gmatch", "gsub", "len", "lower", "match", "rep",
            "reverse", "sub", "upper",
        ],
    ),
    (
        "table",
        &[
            "clear", "clone", "concat", "foreach", "foreachi", "getn", "insert", "isarray",
            "isempty", "maxn", "move", "new", "nkeys", "pack", "remove", "sort", "unpack",
        ],
    ),
];

/// Lua 5.4 names Kong's LuaJIT lacks, kept visible: they reach nothing
/// outside the function.
pub const LUA54_EXTRAS: &[(&str, &[&str])] = &[
    ("coroutine", &["close", "isyieldable"]),
    (
        "math",
        &["maxinteger", "mininteger", "tointeger", "type", "ult"],
    ),
    ("string", &["pack", "packsize", "unpack"]),
    (
        "utf8",
        &["char", "charpattern", "codepoint", "codes", "len", "offset"],
    ),
];

/// Builds the `sandbox` mode's visible globals from `full` (the whole
/// library, `kong` and `ngx`): fresh library tables holding only the
/// listed functions.
pub fn sandbox_globals<'gc>(ctx: Context<'gc>, full: Table<'gc>) -> Table<'gc> {
    let visible = ctx.new_table();
    for name in KONG_BASE {
        let _ = visible.set(ctx, *name, full.get(ctx, *name));
    }
    for (lib, names) in KONG_LIBS.iter().chain(LUA54_EXTRAS) {
        let Value::Table(source) = full.get(ctx, *lib) else {
            continue;
        };
        let copy = match visible.get(ctx, *lib) {
            Value::Table(t) => t,
            _ => {
                let t = ctx.new_table();
                let _ = visible.set(ctx, *lib, t);
                t
            }
        };
        for name in *names {
            let _ = copy.set(ctx, *name, source.get(ctx, *name));
        }
    }
    for name in ["kong", "ngx"] {
        let _ = visible.set(ctx, name, full.get(ctx, name));
    }
    visible
}

/// `--untrusted-lua-sandbox-environment`: each dotted name of `full`
/// becomes visible too (Kong's `link`), siblings staying hidden. A library
/// the sandbox shows in part gains the name; a table reached this way is
/// the original, read-only at every level. Returns the names that name
/// nothing.
pub fn link<'gc>(
    ctx: Context<'gc>,
    full: Table<'gc>,
    visible: Table<'gc>,
    names: &[String],
) -> Vec<String> {
    let mut missing = Vec::new();
    for name in names {
        let parts: Vec<&str> = name.split('.').collect();
        let mut source = Value::Table(full);
        for part in &parts {
            source = match source {
                Value::Table(t) => t.get(ctx, *part),
                _ => Value::Nil,
            };
        }
        if source.is_nil() || parts.iter().any(|p| p.is_empty()) {
            missing.push(name.clone());
            continue;
        }
        let (last, path) = parts.split_last().expect("split gives one part");
        let mut target = visible;
        let mut original = full;
        let mut shared = false;
        for part in path {
            let Value::Table(next_original) = original.get(ctx, *part) else {
                break;
            };
            original = next_original;
            target = match target.get(ctx, *part) {
                // The sandbox shows this very table (`kong`, `ngx`): the
                // name is visible already.
                Value::Table(t) if t.as_ptr() == next_original.as_ptr() => {
                    shared = true;
                    break;
                }
                Value::Table(t) => t,
                _ => {
                    let t = ctx.new_table();
                    let _ = target.set(ctx, *part, t);
                    t
                }
            };
        }
        if !shared {
            let _ = target.set(ctx, *last, source);
        }
    }
    missing
}

/// The globals `source` reads (as `name` or `lib.name`) that the sandbox
/// does not show: a lexical scan, so a local that shadows a hidden name
/// is reported too. `linked` are the operator's extra names.
pub fn hidden_uses(source: &str, linked: &[String]) -> Vec<String> {
    fn visible(path: &[&str], linked: &[String]) -> bool {
        let joined = path.join(".");
        if linked
            .iter()
            .any(|l| joined == *l || joined.starts_with(&format!("{l}.")))
        {
            return true;
        }
        match path {
            [name] => {
                KONG_BASE.contains(name)
                    || ["kong", "ngx", "require", "_G", "_ENV", "self"].contains(name)
                    || KONG_LIBS
                        .iter()
                        .chain(LUA54_EXTRAS)
                        .any(|(lib, _)| lib == name)
            }
            [lib, field, ..] => {
                if ["kong", "ngx", "_G", "_ENV"].contains(lib) {
                    return true;
                }
                let libs: Vec<&(&str, &[&str])> = KONG_LIBS
                    .iter()
                    .chain(LUA54_EXTRAS)
                    .filter(|(l, _)| l == lib)
                    .collect();
                if libs.is_empty() {
                    return visible(&[lib], linked);
                }
                libs.iter().any(|(_, names)| names.contains(field))
            }
            [] => true,
        }
    }
    let known_hidden = |name: &str| {
        [
            "load",
            "loadstring",
            "dofile",
            "loadfile",
            "getmetatable",
            "setmetatable",
            "rawget",
            "rawset",
            "rawequal",
            "rawlen",
            "collectgarbage",
            "module",
            "package",
            "debug",
            "io",
            "os",
            "string",
            "math",
            "table",
            "coroutine",
            "utf8",
            "bit",
            "jit",
            "warn",
        ]
        .contains(&name)
    };
    let mut found: Vec<String> = Vec::new();
    for path in global_paths(source) {
        let parts: Vec<&str> = path.iter().map(String::as_str).collect();
        // Only the library part of a chain matters (`os.getenv("x"):sub`).
        let parts = &parts[..parts.len().min(2)];
        if !known_hidden(parts[0]) {
            continue;
        }
        if !visible(parts, linked) {
            let name = if parts.len() == 1 || !visible(&parts[..1], linked) {
                parts[0].to_string()
            } else {
                parts.join(".")
            };
            if !found.contains(&name) {
                found.push(name);
            }
        }
    }
    found
}

/// The modules `source` requires by a literal name (`require "cjson"`,
/// `require('cjson.safe')`) that `allowed` does not list.
pub fn refused_requires(source: &str, allowed: &[String]) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut seen: std::collections::HashSet<&str> = Default::default();
    let mut rest = source;
    while let Some(at) = rest.find("require") {
        let before = rest[..at].chars().next_back();
        let after = rest[at + "require".len()..].trim_start();
        rest = &rest[at + "require".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == ':') {
            continue;
        }
        let after = after.strip_prefix('(').map_or(after, str::trim_start);
        let Some(quote) = after.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        let Some(end) = after[1..].find(quote) else {
            continue;
        };
        let name = &after[1..1 + end];
        if !allowed.iter().any(|a| a == name) && seen.insert(name) {
            found.push(name.to_string());
        }
    }
    found
}

/// Dotted name chains at the start of an expression (`a`, `a.b.c`), from a
/// token scan that skips strings, comments and field names after `.`/`:`.
fn global_paths(source: &str) -> Vec<Vec<String>> {
    let b = source.as_bytes();
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut i = 0;
    // The previous significant byte: `.` or `:` make a name a field.
    let mut prev = b' ';
    let mut locals: std::collections::HashSet<&str> = Default::default();
    let mut after_local = false;
    while i < b.len() {
        let c = b[i];
        if c == b'-' && b.get(i + 1) == Some(&b'-') {
            i += 2;
            if let Some(level) = long_bracket(b, i) {
                i = skip_long(b, i, level);
            } else {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            continue;
        }
        if c == b'"' || c == b'\'' {
            i += 1;
            while i < b.len() && b[i] != c {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            prev = b'"';
            continue;
        }
        if c == b'[' {
            if let Some(level) = long_bracket(b, i) {
                i = skip_long(b, i, level);
                prev = b'"';
                continue;
            }
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let word = &source[start..i];
            if prev == b'.' || prev == b':' {
                prev = b'a';
                continue;
            }
            if after_local {
                locals.insert(word);
            }
            after_local = word == "local";
            let keyword = KEYWORDS.contains(&word);
            prev = b'a';
            if keyword || locals.contains(word) {
                continue;
            }
            // A field name in a table constructor: `{ load = 1 }`.
            let mut j = i;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            if b.get(j) == Some(&b'=') && b.get(j + 1) != Some(&b'=') {
                // An assignment to a global (or a constructor field):
                // either way not a read of the library.
                continue;
            }
            let mut path = vec![word.to_string()];
            while b.get(j) == Some(&b'.') && b.get(j + 1) != Some(&b'.') {
                let mut k = j + 1;
                while k < b.len() && b[k].is_ascii_whitespace() {
                    k += 1;
                }
                let s = k;
                while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_') {
                    k += 1;
                }
                if s == k {
                    break;
                }
                path.push(source[s..k].to_string());
                j = k;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
            }
            out.push(path);
            continue;
        }
        if !c.is_ascii_whitespace() {
            prev = c;
            after_local = false;
        }
        i += 1;
    }
    out
}

const KEYWORDS: &[&str] = &[
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
];

/// The level of a long bracket (`[[`, `[==[`) opening at `i`.
fn long_bracket(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'[') {
        return None;
    }
    let mut j = i + 1;
    while b.get(j) == Some(&b'=') {
        j += 1;
    }
    (b.get(j) == Some(&b'[')).then_some(j - i - 1)
}

/// The index after the long string or comment opening at `i`.
fn skip_long(b: &[u8], i: usize, level: usize) -> usize {
    let close: Vec<u8> = std::iter::once(b']')
        .chain(std::iter::repeat_n(b'=', level))
        .chain(std::iter::once(b']'))
        .collect();
    let body = i + level + 2;
    b.get(body..)
        .and_then(|rest| rest.windows(close.len()).position(|w| w == close))
        .map_or(b.len(), |p| body + p + close.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_globals_are_found_and_strings_comments_fields_locals_are_not() {
        let src = r#"
            -- load("x") in a comment
            local s = "setmetatable in a string" .. [[ rawget ]]
            local t = { load = 1 }
            local f = load("return 1")
            setmetatable(t, {})
            x.load = 2
            local getmetatable = function() end
            getmetatable(t)
            os.getenv("HOME") os.time() string.dump(f) string.upper("a")
            io.open("f") io.type(f) debug.traceback()
        "#;
        assert_eq!(
            hidden_uses(src, &[]),
            [
                "load",
                "setmetatable",
                "os.getenv",
                "string.dump",
                "io.open",
                "debug"
            ]
        );
        assert_eq!(
            hidden_uses("os.getenv('x') load('')", &["os.getenv".into()]),
            ["load"]
        );
        assert!(hidden_uses("kong.response.exit(200, string.rep('a', 3))", &[]).is_empty());
    }

    /// Generated sources (a fixed xorshift sequence over Lua's punctuation,
    /// quotes, brackets, names and non-ASCII text) never make the scans
    /// panic.
    #[test]
    fn generated_sources_never_panic() {
        let pieces = [
            "load", "os", ".", ":", "getenv", "require", "(", ")", "\"", "'", "[[", "]]", "[=[",
            "]=]", "--", "--[[", "\\", "local", "=", "==", " ", "\n", "é", "ü", "{", "}", "x",
            "string", "dump", "..",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            let mut src = String::new();
            for _ in 0..(state % 40) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                src.push_str(pieces[(state % pieces.len() as u64) as usize]);
            }
            let _ = hidden_uses(&src, &["os.getenv".into()]);
            let _ = refused_requires(&src, &[]);
        }
    }

    #[test]
    fn literal_requires_outside_the_allow_list_are_found() {
        let src = r#"local cjson = require "cjson" local safe = require('cjson.safe')
            local re = require ( 'ngx.re' ) local x = my.require "nope" local y = require(name)"#;
        assert_eq!(
            refused_requires(src, &["cjson.safe".into()]),
            ["cjson", "ngx.re"]
        );
    }
}
