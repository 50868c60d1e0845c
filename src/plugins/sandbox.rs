//! The environment gateway functions run in, and what keeps functions
//! from seeing each other's changes.
//!
//! One worker VM holds one set of globals: the standard library (sandbox
//! profile: no files, processes or environment variables), `kong` and
//! `ngx`. After they are built, every table reachable from them — library
//! tables, PDK tables, their metatables — and the string metatable are
//! frozen (lua-next refuses every raw write to a frozen table), so no
//! function can replace `string.upper`, the strings' `__index` or
//! `kong.request.get_method` for the others.
//!
//! Each function gets a table of its own as `_ENV`: `_G` names it, globals
//! it assigns stay there, and reads fall through to the frozen globals via
//! a shared, frozen and protected metatable (Kong's sandbox does the same
//! with `setmetatable({}, {__index = env})`).

use std::collections::HashSet;

use lua_next::{ext, Callback, CallbackReturn, Context, Table, Value};

use crate::pdk::{self, RequestCell};

/// How deep the freeze walks from the globals (the PDK nests four deep).
const FREEZE_DEPTH: usize = 8;

/// Builds the shared globals of a worker VM and freezes them. Returns the
/// globals and the metatable of function environments.
pub fn build<'gc>(ctx: Context<'gc>, cell: &RequestCell) -> (Table<'gc>, Table<'gc>) {
    let globals = ctx.new_table();
    load_libraries(ctx, globals);
    pdk::install(ctx, globals, cell);
    install_kong_libraries(ctx, globals);
    let env_meta = ctx.new_table();
    let _ = env_meta.set(ctx, "__index", globals);
    let _ = env_meta.set(ctx, "__metatable", false);
    own_env_for_loaded_chunks(ctx, globals, env_meta);
    let mut seen = HashSet::new();
    freeze(ctx, globals, 0, &mut seen);
    freeze(ctx, env_meta, 0, &mut seen);
    if let Some(mt) = ctx.string_metatable() {
        freeze(ctx, mt, 0, &mut seen);
    }
    (globals, env_meta)
}

/// A function's own `_ENV`: empty but for `_G`, reading through to the
/// shared globals.
pub fn function_env<'gc>(ctx: Context<'gc>, env_meta: Table<'gc>) -> Table<'gc> {
    let env = ctx.new_table();
    let _ = env.set(ctx, "_G", env);
    let _ = env.set_metatable(&ctx, Some(env_meta));
    env
}

/// The standard library, sandbox profile (lua-next's `env`).
fn load_libraries<'gc>(ctx: Context<'gc>, globals: Table<'gc>) {
    lua_next::env::load_stdlib(ctx, globals, lua_next::env::Profile::Sandbox);
    // `_G` of the shared table would name it; each function's own `_ENV`
    // has its own `_G`.
    let _ = globals.set(ctx, "_G", Value::Nil);
}

/// `kong.table` and `kong.tools.uuid` (lua-next's `ext::kong`).
fn install_kong_libraries<'gc>(ctx: Context<'gc>, globals: Table<'gc>) {
    let Value::Table(kong) = globals.get(ctx, "kong") else {
        return;
    };
    let _ = kong.set(ctx, "table", ext::kong::load_kong_table(ctx));
    let tools = ctx.new_table();
    let _ = tools.set(ctx, "uuid", ext::kong::load_kong_uuid(ctx));
    let _ = kong.set(ctx, "tools", tools);
}

/// `load` and `loadstring` without an `env` argument give the chunk an
/// `_ENV` of its own, as functions have: the library's default would be
/// the shared globals, which are frozen (so `load("x = 1")()` would fail)
/// and common to every function.
fn own_env_for_loaded_chunks<'gc>(ctx: Context<'gc>, globals: Table<'gc>, env_meta: Table<'gc>) {
    let Value::Function(load) = globals.get(ctx, "load") else {
        return;
    };
    let wrapped = Callback::from_fn_with(
        &ctx,
        (load, env_meta),
        |&(load, env_meta), ctx, _, mut stack| {
            if stack.len() < 4 {
                stack.resize(4);
                stack.set(3, Value::Table(function_env(ctx, env_meta)));
            }
            Ok(CallbackReturn::Call {
                function: load,
                then: None,
            })
        },
    );
    for name in ["load", "loadstring"] {
        if !globals.get(ctx, name).is_nil() {
            let _ = globals.set(ctx, name, wrapped);
        }
    }
}

/// Freezes `t`, its metatable and every table reachable from them.
fn freeze<'gc>(ctx: Context<'gc>, t: Table<'gc>, depth: usize, seen: &mut HashSet<*const ()>) {
    if depth > FREEZE_DEPTH || !seen.insert(t.as_ptr()) {
        return;
    }
    let mut key = Value::Nil;
    while let Ok(Some((k, v))) = t.next(key) {
        if let Value::Table(inner) = v {
            freeze(ctx, inner, depth + 1, seen);
        }
        key = k;
    }
    if let Some(mt) = t.metatable() {
        freeze(ctx, mt, depth + 1, seen);
    }
    t.freeze(&ctx);
}
