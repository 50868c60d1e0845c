//! The LuaJIT (OpenResty's LuaJIT 2.1) names Kong functions find and Lua
//! 5.4 lacks: the `jit` table and `table`'s extras (`clone isarray
//! isempty nkeys getn maxn foreach foreachi`; `new` and `clear` come from
//! lua-stdlib's compat library). Table walks charge the instruction budget
//! per element; `foreach`/`foreachi` call Lua, so they are Lua.

use lua_stdlib::{Callback, CallbackReturn, Context, Error, Stack, Table, Value};

use crate::pdk::lua_error;

/// LuaJIT's `jit.version_num` for 2.1, which OpenResty and Kong run.
const VERSION_NUM: i64 = 20100;

/// Adds `jit` and the table extras to `globals` (whose `table` and `next`
/// are lua-stdlib's).
pub fn install<'gc>(ctx: Context<'gc>, globals: Table<'gc>) {
    let jit = ctx.new_table();
    let os = match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "OSX",
        "windows" => "Windows",
        "freebsd" | "netbsd" | "openbsd" | "dragonfly" => "BSD",
        _ => "Other",
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "x64",
        "x86" => "x86",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    };
    let _ = jit.set(ctx, "os", os);
    let _ = jit.set(ctx, "arch", arch);
    let _ = jit.set(ctx, "version", "LuaJIT 2.1.0-beta3");
    let _ = jit.set(ctx, "version_num", VERSION_NUM);
    let _ = globals.set(ctx, "jit", jit);

    let Value::Table(table) = globals.get(ctx, "table") else {
        return;
    };
    type Walk = for<'a> fn(Context<'a>, Table<'a>, &mut i64) -> Value<'a>;
    let walk = |name: &'static str, f: Walk| {
        Callback::from_fn(&ctx, move |ctx, mut exec, mut stack| {
            let t = table_arg(ctx, &stack, name)?;
            let mut steps = 0;
            let v = f(ctx, t, &mut steps);
            exec.fuel().consume(steps);
            stack.replace(ctx, v);
            Ok(CallbackReturn::Return)
        })
    };
    let fns = [
        ("clone", walk("clone", clone)),
        ("isarray", walk("isarray", isarray)),
        (
            "isempty",
            walk("isempty", |_, t, _| Value::Boolean(is_empty(t))),
        ),
        (
            "nkeys",
            walk("nkeys", |_, t, steps| Value::Integer(keys(t, steps))),
        ),
        ("getn", walk("getn", |_, t, _| Value::Integer(t.length()))),
        ("maxn", walk("maxn", maxn)),
    ];
    for (name, f) in fns {
        let _ = table.set(ctx, name, f);
    }
    // Functions that call Lua are Lua: they run under the budget and can
    // be suspended between slices like any function.
    for (name, source) in [
        (
            "foreach",
            "local t, f = ... local k, v = next(t) \
             while k ~= nil do local r = f(k, v) if r ~= nil then return r end k, v = next(t, k) end",
        ),
        (
            "foreachi",
            "local t, f = ... for i = 1, #t do local r = f(i, t[i]) if r ~= nil then return r end end",
        ),
    ] {
        let chunk = format!("=table.{name}");
        if let Ok(f) = lua_stdlib::env::compile_closure(ctx, source.as_bytes(), &chunk, globals) {
            let _ = table.set(ctx, name, f);
        }
    }
}

fn table_arg<'gc>(
    ctx: Context<'gc>,
    stack: &Stack<'gc, '_>,
    name: &str,
) -> Result<Table<'gc>, Error<'gc>> {
    match stack.get(0) {
        Value::Table(t) => Ok(t),
        v => Err(lua_error(
            ctx,
            &format!(
                "bad argument #1 to '{name}' (table expected, got {})",
                if v.is_nil() {
                    "no value"
                } else {
                    v.type_name()
                }
            ),
        )),
    }
}

/// Every key and value of `t`, counting the steps.
fn each<'gc>(t: Table<'gc>, steps: &mut i64, mut f: impl FnMut(Value<'gc>, Value<'gc>) -> bool) {
    let mut key = Value::Nil;
    while let Ok(Some((k, v))) = t.next(key) {
        *steps += 1;
        if !f(k, v) {
            return;
        }
        key = k;
    }
}

fn is_empty(t: Table<'_>) -> bool {
    matches!(t.next(Value::Nil), Ok(None))
}

fn keys(t: Table<'_>, steps: &mut i64) -> i64 {
    let mut n = 0;
    each(t, steps, |_, _| {
        n += 1;
        true
    });
    n
}

/// A shallow copy, without the metatable (OpenResty's `table.clone`).
fn clone<'gc>(ctx: Context<'gc>, t: Table<'gc>, steps: &mut i64) -> Value<'gc> {
    let copy = ctx.new_table();
    each(t, steps, |k, v| {
        let _ = copy.raw_set(&ctx, k, v);
        true
    });
    Value::Table(copy)
}

/// Whether the keys are exactly `1..n` (an empty table is an array).
fn isarray<'gc>(_: Context<'gc>, t: Table<'gc>, steps: &mut i64) -> Value<'gc> {
    let (mut count, mut max, mut array) = (0i64, 0i64, true);
    each(t, steps, |k, _| {
        match k {
            Value::Integer(i) if i >= 1 => {
                count += 1;
                max = max.max(i);
            }
            _ => array = false,
        }
        array
    });
    Value::Boolean(array && count == max)
}

/// The largest positive numeric key, 0 without one (Lua 5.1's `maxn`).
fn maxn<'gc>(_: Context<'gc>, t: Table<'gc>, steps: &mut i64) -> Value<'gc> {
    let mut max = 0.0f64;
    each(t, steps, |k, _| {
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(f) => f,
            _ => return true,
        };
        if n > max {
            max = n;
        }
        true
    });
    if max.fract() == 0.0 && max < i64::MAX as f64 {
        Value::Integer(max as i64)
    } else {
        Value::Number(max)
    }
}
