//! The environment gateway functions run in (Kong's `untrusted_lua`
//! modes), and what keeps functions from seeing each other's changes.
//!
//! A worker VM builds the whole library once ("full": Lua's standard
//! library with files, processes and `debug`, LuaJIT's `jit` and table
//! extras, `kong`, `ngx`), then what functions see of it, by [`Mode`]:
//!
//! - `sandbox` (the default): Kong's visible set ([`visible`]), `require`
//!   limited to `--untrusted-lua-sandbox-requires`, names linked by
//!   `--untrusted-lua-sandbox-environment`.
//! - `on`: all of it, `io`, `os`, `require`, `load` included, and of
//!   `debug` what only reads (no mode can reach shared state through it).
//! - `off`: nothing runs; the Admin API refuses functions
//!   ([`OFF_MESSAGE`]), and stored ones fail their requests.
//!
//! In every mode every table reachable from the globals — library tables,
//! PDK tables, their metatables — and the string metatable are frozen
//! (lua-stdlib refuses every raw write), and library tables raise Kong's
//! `Cannot modify string.x. Protected by the sandbox.` for a new key. Each
//! function gets a table of its own as `_ENV`: `_G` names it, globals it
//! assigns stay there, its `require` has its own `package.loaded` (and
//! its own `cjson` settings), and reads fall through to the shared
//! globals via a frozen, protected metatable (Kong's sandbox does the same
//! with `setmetatable({}, {__index = env})`). So nothing one function does
//! is seen by another.

mod luajit;
mod require;
pub mod visible;

use std::collections::HashSet;
use std::sync::OnceLock;

use lua_stdlib::env::{load_file, load_stdlib_with, Output, Profile};
use lua_stdlib::{ext, Callback, CallbackReturn, Context, Table, Value};

use crate::entities::Plugin;
use crate::pdk::{self, lua_error, RequestCell};

/// Kong's `untrusted_lua`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// No function runs; the Admin API refuses them.
    Off,
    /// Kong's sandbox.
    Sandbox,
    /// The whole library, `io`, `os` and `require` included.
    On,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Sandbox => "sandbox",
            Mode::On => "on",
        }
    }
}

/// The node's `untrusted_lua` settings (`serve --untrusted-lua*`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: Mode,
    /// Modules `require` may load in `sandbox` mode.
    pub requires: Vec<String>,
    /// Dotted global names also visible in `sandbox` mode.
    pub environment: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: Mode::Sandbox,
            requires: Vec::new(),
            environment: Vec::new(),
        }
    }
}

/// Kong's message when `untrusted_lua` is `off`.
pub const OFF_MESSAGE: &str =
    "loading of untrusted Lua code disabled because 'untrusted_lua' config option is set to 'off'";

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Sets the mode (once, at start-up, before plugins are compiled).
pub fn configure(mut settings: Settings) {
    for list in [&mut settings.requires, &mut settings.environment] {
        list.retain(|s| !s.trim().is_empty());
        for s in list.iter_mut() {
            *s = s.trim().to_string();
        }
    }
    tracing::info!(
        "untrusted_lua = {}, sandbox requires: [{}], sandbox environment: [{}]",
        settings.mode.name(),
        settings.requires.join(", "),
        settings.environment.join(", ")
    );
    let _ = SETTINGS.set(settings);
}

pub fn settings() -> &'static Settings {
    SETTINGS.get_or_init(Settings::default)
}

/// How deep the freeze walks from the globals (the PDK nests four deep).
const FREEZE_DEPTH: usize = 8;

/// Builds the shared globals of a worker VM for the node's mode and
/// freezes them. Returns the table [`function_env`] builds from (fields:
/// `meta`, the metatable of function environments; `modules`, what
/// `require` finds; `package`, the shared `package` whose `path` functions
/// start with).
pub fn build<'gc>(ctx: Context<'gc>, cell: &RequestCell) -> Table<'gc> {
    let s = settings();
    let full = ctx.new_table();
    load_stdlib_with(ctx, full, Profile::Full, Output::Stdout);
    luajit::install(ctx, full);
    pdk::install(ctx, full, cell);
    install_kong_libraries(ctx, full);
    introspection_only_debug(ctx, full);
    // Each function has its own `_G`, `require` and `package`.
    let package = full.get(ctx, "package");
    let modules = modules(ctx, full);
    for name in ["_G", "require", "package"] {
        let _ = full.set(ctx, name, Value::Nil);
    }

    let base = ctx.new_table();
    let meta = ctx.new_table();
    let _ = meta.set(ctx, "__metatable", false);
    let _ = base.set(ctx, "meta", meta);
    let _ = base.set(ctx, "modules", modules);
    let _ = base.set(ctx, "package", package);
    if let Ok(store) = lua_stdlib::env::compile_closure(
        ctx,
        require::STORE_MODULE.as_bytes(),
        "=require",
        ctx.new_table(),
    ) {
        let _ = base.set(ctx, "store_module", store);
    }

    let visible = match s.mode {
        Mode::Sandbox => {
            let visible = visible::sandbox_globals(ctx, full);
            let missing = visible::link(ctx, full, visible, &s.environment);
            for name in missing {
                tracing::warn!(
                    "--untrusted-lua-sandbox-environment: '{name}' names nothing; ignored"
                );
            }
            // `("x"):dump()` would reach the hidden `string.dump`.
            if let (Some(mt), Value::Table(string)) =
                (ctx.string_metatable(), visible.get(ctx, "string"))
            {
                let _ = mt.set(ctx, "__index", string);
            }
            visible
        }
        Mode::On | Mode::Off => {
            // `ngx.shared`, which Kong's sandbox hides.
            if let Value::Table(ngx) = full.get(ctx, "ngx") {
                pdk::shared::install(ctx, ngx);
            }
            own_env_for_loaded_chunks(ctx, full, base);
            full
        }
    };
    let _ = meta.set(ctx, "__index", visible);

    let mut seen = HashSet::new();
    for (name, t) in [("_G", visible), ("_G", full)] {
        protect(ctx, name, t, 0, &mut seen);
    }
    let mut seen = HashSet::new();
    for t in [visible, full, base, modules] {
        freeze(ctx, t, 0, &mut seen);
    }
    if let Some(mt) = ctx.string_metatable() {
        freeze(ctx, mt, 0, &mut seen);
    }
    base
}

/// A function's own `_ENV`: `_G` naming it, its own `require` (and in `on`
/// mode `package`), reading through to the shared globals.
pub fn function_env<'gc>(ctx: Context<'gc>, base: Table<'gc>) -> Table<'gc> {
    let env = ctx.new_table();
    let _ = env.set(ctx, "_G", env);
    let package = require::package_for(ctx, base);
    let _ = env.set(ctx, "require", require::require_for(ctx, base, package));
    if settings().mode == Mode::On {
        let _ = env.set(ctx, "package", package);
    }
    if let Value::Table(meta) = base.get(ctx, "meta") {
        let _ = env.set_metatable(&ctx, Some(meta));
    }
    env
}

/// `debug` keeps only what reads: `setmetatable` (of numbers, strings,
/// nil …), `getregistry`, `setupvalue`, `upvaluejoin`, `setlocal`,
/// `sethook` and the uservalue setters reach state other functions share,
/// so no mode has them, `on` included ("nothing one function does is seen
/// by another").
fn introspection_only_debug<'gc>(ctx: Context<'gc>, full: Table<'gc>) {
    let Value::Table(debug) = full.get(ctx, "debug") else {
        return;
    };
    let kept = ctx.new_table();
    for name in ["traceback", "getinfo", "getlocal", "upvalueid", "gethook"] {
        let _ = kept.set(ctx, name, debug.get(ctx, name));
    }
    let _ = full.set(ctx, "debug", kept);
}

/// What `require` finds without a file: the libraries (whole, as Kong's
/// real `require` gives them), `jit`, LuaJIT's `table.*` modules,
/// `ngx.base64`, `kong.tools.uuid` and Kong's private rate-limiting
/// context (`pdk/rate_limiting.rs`). `cjson`, `cjson.safe` and `ngx.re`
/// are made per function (`require.rs`).
fn modules<'gc>(ctx: Context<'gc>, full: Table<'gc>) -> Table<'gc> {
    let modules = ctx.new_table();
    for name in [
        "string",
        "table",
        "math",
        "os",
        "io",
        "coroutine",
        "utf8",
        "bit",
        "debug",
        "jit",
        "package",
    ] {
        let _ = modules.set(ctx, name, full.get(ctx, name));
    }
    if let Value::Table(table) = full.get(ctx, "table") {
        for name in ["new", "clear", "clone", "isarray", "isempty", "nkeys"] {
            let _ = modules.set(
                ctx,
                ctx.intern(format!("table.{name}").as_bytes()),
                table.get(ctx, name),
            );
        }
    }
    let _ = modules.set(ctx, "ngx.base64", ext::codec::load_ngx_base64(ctx));
    let _ = modules.set(
        ctx,
        "kong.pdk.private.rate_limiting",
        pdk::rate_limiting::module(ctx, full),
    );
    if let Value::Table(kong) = full.get(ctx, "kong") {
        if let Value::Table(tools) = kong.get(ctx, "tools") {
            let _ = modules.set(ctx, "kong.tools.uuid", tools.get(ctx, "uuid"));
        }
    }
    modules
}

/// `kong.table` and `kong.tools.uuid` (lua-stdlib's `ext::kong`).
fn install_kong_libraries<'gc>(ctx: Context<'gc>, globals: Table<'gc>) {
    let Value::Table(kong) = globals.get(ctx, "kong") else {
        return;
    };
    let _ = kong.set(ctx, "table", ext::kong::load_kong_table(ctx));
    let tools = ctx.new_table();
    let _ = tools.set(ctx, "uuid", ext::kong::load_kong_uuid(ctx));
    let _ = kong.set(ctx, "tools", tools);
}

/// `load`, `loadstring`, `loadfile` and `dofile` (`on` mode) without an
/// `env` argument give the chunk an `_ENV` of its own, as functions have:
/// the library's default would be the shared globals, which are frozen
/// (so `load("x = 1")()` would fail) and common to every function.
fn own_env_for_loaded_chunks<'gc>(ctx: Context<'gc>, globals: Table<'gc>, base: Table<'gc>) {
    for (name, env_arg) in [("load", 3), ("loadfile", 2)] {
        let Value::Function(original) = globals.get(ctx, name) else {
            continue;
        };
        let wrapped = Callback::from_fn_with(
            &ctx,
            (original, base),
            move |&(original, base), ctx, _, mut stack| {
                if stack.len() <= env_arg {
                    stack.resize(env_arg + 1);
                    stack.set(env_arg, Value::Table(function_env(ctx, base)));
                }
                Ok(CallbackReturn::Call {
                    function: original,
                    then: None,
                })
            },
        );
        let _ = globals.set(ctx, name, wrapped);
        if name == "load" && !globals.get(ctx, "loadstring").is_nil() {
            let _ = globals.set(ctx, "loadstring", wrapped);
        }
    }
    if !globals.get(ctx, "dofile").is_nil() {
        let dofile = Callback::from_fn_with(&ctx, base, |&base, ctx, _, mut stack| {
            let Value::String(path) = stack.get(0) else {
                return Err(lua_error(ctx, "dofile from stdin is not supported"));
            };
            let path = String::from_utf8_lossy(path.as_bytes()).into_owned();
            let closure =
                load_file(ctx, &path, function_env(ctx, base)).map_err(|m| lua_error(ctx, &m))?;
            stack.clear();
            Ok(CallbackReturn::Call {
                function: closure.into(),
                then: None,
            })
        });
        let _ = globals.set(ctx, "dofile", dofile);
    }
}

/// Gives every table reachable from `t` that has no metatable one whose
/// `__newindex` raises Kong's message naming it (`string.x`,
/// `kong.request.x`). Tables with a metatable of their own (`ngx`,
/// `ngx.var`, `kong.ctx` …) keep their rules.
fn protect<'gc>(
    ctx: Context<'gc>,
    name: &str,
    t: Table<'gc>,
    depth: usize,
    seen: &mut HashSet<*const ()>,
) {
    if depth > FREEZE_DEPTH || !seen.insert(t.as_ptr()) {
        return;
    }
    for (k, v) in pdk::entries(t) {
        if let (Value::Table(inner), Value::String(key)) = (v, k) {
            let key = String::from_utf8_lossy(key.as_bytes());
            let inner_name = if depth == 0 {
                key.into_owned()
            } else {
                format!("{name}.{key}")
            };
            protect(ctx, &inner_name, inner, depth + 1, seen);
        }
    }
    if depth == 0 || t.metatable().is_some() {
        return;
    }
    let mt = ctx.new_table();
    let owner = name.to_string();
    let refuse = Callback::from_fn(&ctx, move |ctx, _, stack| {
        let key = match stack.get(1) {
            Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
            Value::Integer(n) => n.to_string(),
            Value::Number(n) => pdk::lua_number(n),
            other => other.type_name().to_string(),
        };
        Err(lua_error(
            ctx,
            &format!("Cannot modify {owner}.{key}. Protected by the sandbox."),
        ))
    });
    let _ = mt.set(ctx, "__newindex", refuse);
    let _ = mt.set(ctx, "__metatable", false);
    let _ = t.set_metatable(&ctx, Some(mt));
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

/// Logs, at start-up, each stored function that reads a global the mode
/// hides (so an upgrade that narrows what functions see is not silent),
/// and in `off` mode each stored function, which fails every request.
pub fn warn_hidden<'a>(plugins: impl Iterator<Item = &'a Plugin>) {
    let s = settings();
    for plugin in plugins {
        let Some(config) = plugin.config.as_object() else {
            continue;
        };
        for phase in crate::entities::plugins::PHASES {
            let Some(items) = config.get(*phase).and_then(|v| v.as_array()) else {
                continue;
            };
            for (i, code) in items.iter().filter_map(|v| v.as_str()).enumerate() {
                let place = format!(
                    "plugin {} ({}{}), config.{phase}[{}]",
                    plugin.id,
                    plugin.name,
                    plugin
                        .instance_name
                        .as_deref()
                        .map(|n| format!(" '{n}'"))
                        .unwrap_or_default(),
                    i + 1
                );
                match s.mode {
                    Mode::Off => tracing::warn!(
                        "{place}: untrusted_lua is 'off': this function fails every request it runs for"
                    ),
                    Mode::Sandbox => {
                        let refused = visible::refused_requires(code, &s.requires);
                        if !refused.is_empty() {
                            tracing::warn!(
                                "{place} requires {}, which --untrusted-lua-sandbox-requires \
                                 does not allow: it fails when it reaches them",
                                refused.join(", ")
                            );
                        }
                        let hidden = visible::hidden_uses(code, &s.environment);
                        if !hidden.is_empty() {
                            tracing::warn!(
                                "{place} uses {}, which untrusted_lua = sandbox hides: \
                                 it fails when it reaches them (expose them with \
                                 --untrusted-lua-sandbox-environment, or run with \
                                 --untrusted-lua on)",
                                hidden.join(", ")
                            );
                        }
                    }
                    Mode::On => {}
                }
            }
        }
    }
}
