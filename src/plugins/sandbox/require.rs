//! `require` of one function: its own `package.loaded`, so a module one
//! function requires (and changes) is not the one another gets.
//!
//! Modules come from the worker's table of built-in modules (the standard
//! libraries, `jit`, LuaJIT's `table.*` modules, `ngx.base64`,
//! `kong.tools.uuid`); `cjson`, `cjson.safe` and `ngx.re` are made for the
//! function on its first `require`, since their settings are state of
//! their own. In `sandbox` mode only `--untrusted-lua-sandbox-requires`
//! may be loaded (`require 'x' not allowed within sandbox`, Kong's
//! message); in `on` mode, and for allowed names, `package.preload` and
//! files along `package.path` work as in Lua.

use lua_stdlib::{ext, Callback, CallbackReturn, Context, Error, Execution, Stack, Table, Value};

use super::{function_env, settings, Mode};
use crate::pdk::lua_error;

/// The `require` of a function whose `package` table is `package` (its
/// `loaded`, `preload` and `path` are read at each call).
pub fn require_for<'gc>(ctx: Context<'gc>, base: Table<'gc>, package: Table<'gc>) -> Callback<'gc> {
    Callback::from_fn_with(
        &ctx,
        (base, package),
        |&(base, package), ctx, exec, stack| require(ctx, exec, base, package, stack),
    )
}

/// A function's own `package` table.
pub fn package_for<'gc>(ctx: Context<'gc>, base: Table<'gc>) -> Table<'gc> {
    let package = ctx.new_table();
    let _ = package.set(ctx, "loaded", ctx.new_table());
    let _ = package.set(ctx, "preload", ctx.new_table());
    if let Value::Table(shared) = base.get(ctx, "package") {
        for key in ["path", "cpath", "config", "searchpath"] {
            let _ = package.set(ctx, key, shared.get(ctx, key));
        }
    }
    package
}

fn require<'gc>(
    ctx: Context<'gc>,
    exec: Execution<'gc, '_>,
    base: Table<'gc>,
    package: Table<'gc>,
    mut stack: Stack<'gc, '_>,
) -> Result<CallbackReturn<'gc>, Error<'gc>> {
    let name = match stack.get(0) {
        Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        Value::Integer(n) => n.to_string(),
        Value::Number(n) => crate::pdk::lua_number(n),
        v => {
            return Err(lua_error(
                ctx,
                &format!(
                    "bad argument #1 to 'require' (string expected, got {})",
                    if v.is_nil() {
                        "no value"
                    } else {
                        v.type_name()
                    }
                ),
            ))
        }
    };
    let key = Value::String(ctx.intern(name.as_bytes()));
    let Value::Table(loaded) = package.get(ctx, "loaded") else {
        return Err(lua_error(ctx, "'package.loaded' must be a table"));
    };
    let existing = loaded.get(ctx, key);
    if existing.to_bool() {
        stack.replace(ctx, existing);
        return Ok(CallbackReturn::Return);
    }
    let s = settings();
    if s.mode == Mode::Sandbox && !s.requires.contains(&name) {
        return Err(lua_error(
            ctx,
            &format!("require '{name}' not allowed within sandbox"),
        ));
    }
    let builtin = match name.as_str() {
        "cjson" => Value::Table(ext::cjson::load_cjson(ctx)),
        "cjson.safe" => Value::Table(ext::cjson::load_cjson_safe(ctx)),
        "ngx.re" => Value::Table(ext::re::load_ngx_re_module(ctx)),
        _ => match base.get(ctx, "modules") {
            Value::Table(modules) => modules.get(ctx, key),
            _ => Value::Nil,
        },
    };
    if !builtin.is_nil() {
        let _ = loaded.set(ctx, key, builtin);
        stack.replace(ctx, builtin);
        return Ok(CallbackReturn::Return);
    }
    // The loader runs inside `STORE_MODULE`, which records its result.
    let Value::Function(store) = base.get(ctx, "store_module") else {
        return Err(lua_error(ctx, "require: no module store"));
    };
    let mut tried = format!("module '{name}' not found:\n\tno field package.preload['{name}']");
    if let Value::Table(preload) = package.get(ctx, "preload") {
        let loader = preload.get(ctx, key);
        if !loader.is_nil() {
            let Value::Function(function) = loader else {
                return Err(lua_error(
                    ctx,
                    &format!("bad loader for module '{name}' in package.preload"),
                ));
            };
            let extra = Value::String(ctx.intern(b":preload:"));
            stack.replace(ctx, (loaded, key, function, extra));
            return Ok(CallbackReturn::Call {
                function: store,
                then: None,
            });
        }
    }
    let path = match package.get(ctx, "path") {
        Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        _ => return Err(lua_error(ctx, "'package.path' must be a string")),
    };
    let file_name = name.replace('.', "/");
    for template in path.split(';') {
        let candidate = template.replace('?', &file_name);
        if std::fs::File::open(&candidate).is_err() {
            tried.push_str(&format!("\n\tno file '{candidate}'"));
            continue;
        }
        let env = function_env(ctx, base);
        let closure = lua_stdlib::env::load_file(ctx, &candidate, env).map_err(|m| {
            lua_error(
                ctx,
                &format!("error loading module '{name}' from file '{candidate}':\n\t{m}"),
            )
        })?;
        let extra = Value::String(ctx.intern(candidate.as_bytes()));
        stack.replace(ctx, (loaded, key, closure, extra));
        return Ok(CallbackReturn::Call {
            function: store,
            then: None,
        });
    }
    let _ = exec;
    Err(lua_error(ctx, &tried))
}

/// Runs a module's loader and records its value in the function's
/// `package.loaded`, as `require` does (Lua, so the loader runs under the
/// budget like any code).
pub const STORE_MODULE: &str = "local loaded, name, loader, extra = ... \
    local r = loader(name, extra) \
    if r ~= nil then loaded[name] = r end \
    if loaded[name] == nil then loaded[name] = true end \
    return loaded[name], extra";
