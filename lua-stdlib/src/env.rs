//! Building Lua environments: a globals table filled with the standard
//! library, in one of two profiles.
//!
//! - [`Profile::Sandbox`]: what gateway functions get — no file system, no
//!   process control, no environment variables, no `debug`.
//! - [`Profile::Full`]: the command-line runner (`lunagate lua`) adds
//!   `dofile loadfile require`, `os.getenv execute exit remove rename
//!   tmpname`, `io` and `debug`.
//!
//! The host's helpers: `load_stdlib(ctx, env, profile)`, `string_metatable`,
//! `compile_closure`, `load_file`.

use gc_arena::Collect;

use crate::lib::args::{message_error, position};
use crate::lib::{base, bit, compat, coroutine, debug, io, math, os, string, table, utf8};
use crate::{
    BoxSequence, Callback, CallbackReturn, Closure, Context, Error, Execution, Sequence,
    SequencePoll, Stack, Table, Value,
};

pub use crate::lib::base::Output;

/// Which parts of the standard library an environment gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Safe for untrusted code: no files, processes, environment or `debug`.
    Sandbox,
    /// Everything, for the command-line runner.
    Full,
}

/// Fills `env` (a globals table) with every library for `profile`,
/// `print` writing to stdout, and points the string metatable's `__index`
/// at this environment's `string`.
pub fn load_stdlib<'gc>(ctx: Context<'gc>, env: Table<'gc>, profile: Profile) {
    load_stdlib_with(ctx, env, profile, Output::Stdout)
}

/// [`load_stdlib`] with `print` (and the Full profile's `io.write` and
/// `io.stdout`) writing to `out`.
pub fn load_stdlib_with<'gc>(ctx: Context<'gc>, env: Table<'gc>, profile: Profile, out: Output) {
    base::load_base(ctx, env, out.clone());
    let loaded = ctx.new_table();
    let add = |name: &'static str, lib: Table<'gc>| {
        let _ = env.set(ctx, name, lib);
        let _ = loaded.set(ctx, name, lib);
    };
    // `load_string` makes a string metatable whose `__index` is this table.
    add("string", string::load_string(ctx));
    add("table", table::load_table(ctx));
    add("math", math::load_math(ctx));
    add("os", os::load_os(ctx, profile));
    add("utf8", utf8::load_utf8(ctx));
    add("coroutine", coroutine::load_coroutine(ctx));
    add("bit", bit::load_bit(ctx));
    let _ = loaded.set(ctx, "_G", env);
    // `package.loaded`, where tracebacks look for a function's name.
    let _ = ctx.registry().set(ctx, "_LOADED", loaded);
    compat::load_compat(ctx, env);

    let package = ctx.new_table();
    let _ = package.set(ctx, "loaded", loaded);
    let _ = package.set(ctx, "preload", ctx.new_table());
    let _ = package.set(ctx, "path", "./?.lua;./?/init.lua");
    let _ = package.set(ctx, "cpath", "");
    let _ = package.set(ctx, "config", "/\n;\n?\n!\n-\n");
    add("package", package);

    if profile == Profile::Full {
        load_files(ctx, env, package);
        add("io", io::load_io(ctx, out));
        add("debug", debug::load_debug(ctx));
    }
}

/// The metatable shared by all strings of this VM (`getmetatable("")`);
/// made (empty) if no `string` library was loaded yet.
pub fn string_metatable<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    match ctx.string_metatable() {
        Some(mt) => mt,
        None => {
            let mt = ctx.new_table();
            ctx.set_type_metatable(Value::String(ctx.intern(b"")), Some(mt));
            mt
        }
    }
}

/// Compiles Lua source into a closure over `env`; the error is the message
/// `load` returns.
pub fn compile_closure<'gc>(
    ctx: Context<'gc>,
    source: &[u8],
    chunk_name: &str,
    env: Table<'gc>,
) -> Result<Closure<'gc>, String> {
    compile_value_env(ctx, source, chunk_name, Value::Table(env))
}

/// [`compile_closure`] with any value as `_ENV` (`load`'s fourth argument
/// may be nil or a non-table).
pub fn compile_value_env<'gc>(
    ctx: Context<'gc>,
    source: &[u8],
    chunk_name: &str,
    env: Value<'gc>,
) -> Result<Closure<'gc>, String> {
    let proto = crate::compiler::compile(source, chunk_name).map_err(|e| e.message)?;
    Ok(closure_of(ctx, &proto, env))
}

/// A closure of a compiled (or undumped) prototype: its first upvalue is
/// `env`, any others are fresh and nil (as `load` makes them).
pub(crate) fn closure_of<'gc>(
    ctx: Context<'gc>,
    proto: &std::sync::Arc<crate::vm::closure::Proto>,
    env: Value<'gc>,
) -> Closure<'gc> {
    // Equal string constants of one chunk are one string, long ones too
    // (lua5.4's `luaK_stringK` reuses them within a chunk).
    let mut seen: std::collections::HashMap<Vec<u8>, crate::String<'gc>> = Default::default();
    let fp = crate::vm::closure::FunctionProto::load(&ctx, proto, &mut |s| {
        *seen.entry(s.to_vec()).or_insert_with(|| ctx.intern(s))
    });
    let upvalues: Vec<_> = (0..proto.upvalues.len())
        .map(|i| {
            let v = if i == 0 { env } else { Value::Nil };
            ctx.new_upval(crate::vm::closure::UpvalState::Closed(v))
        })
        .collect();
    ctx.new_closure(fp, &upvalues)
}

/// The message for a file that cannot be read, as lua5.4 words it.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "Is a directory".to_string(),
        _ => {
            let s = e.to_string();
            // "Broken pipe (os error 32)" -> "Broken pipe"
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

/// Reads a Lua file, skipping a first `#` line as `lua` does (keeping its
/// newline so line numbers stay right).
pub fn read_source(path: &str) -> Result<Vec<u8>, String> {
    let mut source = std::fs::read(path).map_err(|e| {
        let what = path.strip_prefix('@').unwrap_or(path);
        format!("cannot open {what}: {}", io_reason(&e))
    })?;
    if std::path::Path::new(path).is_dir() {
        return Err(format!("cannot read {path}: Is a directory"));
    }
    if source.starts_with(b"#") {
        let end = source
            .iter()
            .position(|&c| c == b'\n')
            .unwrap_or(source.len());
        source.drain(..end);
    }
    Ok(source)
}

/// Loads a file as a closure over `env` (chunk name `@path`).
pub fn load_file<'gc>(
    ctx: Context<'gc>,
    path: &str,
    env: Table<'gc>,
) -> Result<Closure<'gc>, String> {
    let source = read_source(path)?;
    compile_closure(ctx, &source, &format!("@{path}"), env)
}

fn str_arg(stack: &Stack<'_, '_>, i: usize) -> Option<String> {
    match stack.get(i) {
        Value::String(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        _ => None,
    }
}

/// `dofile`, `loadfile`, `require`, `package.searchpath`.
fn load_files<'gc>(ctx: Context<'gc>, env: Table<'gc>, package: Table<'gc>) {
    let dofile = Callback::from_fn_with(&ctx, env, |env, ctx, exec, mut stack| {
        let Some(path) = str_arg(&stack, 0) else {
            return Err(message_error(
                ctx,
                &format!("{}dofile from stdin is not supported", position(&exec)),
            ));
        };
        let closure = load_file(ctx, &path, *env).map_err(|m| message_error(ctx, &m))?;
        stack.clear();
        Ok(CallbackReturn::Call {
            function: closure.into(),
            then: None,
        })
    });
    let _ = env.set(ctx, "dofile", dofile);

    let loadfile = Callback::from_fn_with(&ctx, env, |env, ctx, _, mut stack| {
        let path = str_arg(&stack, 0).unwrap_or_default();
        let mode = str_arg(&stack, 1).unwrap_or_else(|| "bt".to_string());
        let env = if stack.len() >= 3 {
            stack.get(2)
        } else {
            Value::Table(*env)
        };
        let result = match read_source(&path) {
            Ok(source) => {
                let binary = source.first() == Some(&0x1b);
                let kind = if binary { 'b' } else { 't' };
                if !mode.contains(kind) {
                    let kind = if binary { "binary" } else { "text" };
                    Err(format!("attempt to load a {kind} chunk (mode is '{mode}')"))
                } else if binary {
                    crate::lib::dump::undump(&source, &format!("@{path}"))
                        .map(|p| closure_of(ctx, &p, env))
                } else {
                    compile_value_env(ctx, &source, &format!("@{path}"), env)
                }
            }
            Err(m) => Err(m),
        };
        match result {
            Ok(c) => stack.replace(ctx, c),
            Err(m) => stack.replace(ctx, (Value::Nil, ctx.intern(m.as_bytes()))),
        }
        Ok(CallbackReturn::Return)
    });
    let _ = env.set(ctx, "loadfile", loadfile);

    let searchpath = Callback::from_fn(&ctx, |ctx, exec, mut stack| {
        let (Some(name), Some(path)) = (str_arg(&stack, 0), str_arg(&stack, 1)) else {
            let i = usize::from(str_arg(&stack, 0).is_some());
            return Err(crate::lib::args::type_error::<()>(&stack, i, "string")
                .unwrap_err()
                .into_error(ctx, &exec, "package.searchpath"));
        };
        let sep = str_arg(&stack, 2).unwrap_or_else(|| ".".to_string());
        let rep = str_arg(&stack, 3).unwrap_or_else(|| "/".to_string());
        match search_path(&name, &path, &sep, &rep) {
            Ok(file) => stack.replace(ctx, ctx.intern(file.as_bytes())),
            Err(tried) => {
                let tried = tried.strip_prefix("\n\t").unwrap_or(&tried);
                stack.replace(ctx, (Value::Nil, ctx.intern(tried.as_bytes())))
            }
        }
        Ok(CallbackReturn::Return)
    });
    let _ = package.set(ctx, "searchpath", searchpath);

    let require = Callback::from_fn_with(
        &ctx,
        (env, package),
        |&(env, package), ctx, exec, mut stack| require(ctx, &exec, env, package, &mut stack),
    );
    let _ = env.set(ctx, "require", require);
}

/// `package.searchpath`: the first readable file for `name` along `path`,
/// or the list of files tried (`\n\tno file '...'` each).
fn search_path(name: &str, path: &str, sep: &str, rep: &str) -> Result<String, String> {
    let name = if sep.is_empty() {
        name.to_string()
    } else {
        name.replace(sep, rep)
    };
    let mut tried = String::new();
    // Empty templates count too, as in lua5.4.
    for template in path.split(';') {
        let candidate = template.replace('?', &name);
        if std::fs::File::open(&candidate).is_ok() {
            return Ok(candidate);
        }
        tried.push_str(&format!("\n\tno file '{candidate}'"));
    }
    Err(tried)
}

fn require<'gc>(
    ctx: Context<'gc>,
    exec: &Execution<'gc, '_>,
    env: Table<'gc>,
    package: Table<'gc>,
    stack: &mut Stack<'gc, '_>,
) -> Result<CallbackReturn<'gc>, Error<'gc>> {
    let err = |m: String| message_error(ctx, &format!("{}{m}", position(exec)));
    let name_value = stack.get(0);
    let name = match name_value {
        Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        Value::Integer(_) | Value::Number(_) => {
            String::from_utf8_lossy(crate::lib::args::plain_tostring(ctx, name_value).as_bytes())
                .into_owned()
        }
        _ => {
            return Err(err(format!(
                "bad argument #1 to 'require' (string expected, got {})",
                crate::lib::args::type_name_at(stack, 0)
            )))
        }
    };
    let name_value = Value::String(ctx.intern(name.as_bytes()));
    let loaded = match package.get(ctx, "loaded") {
        Value::Table(t) => t,
        _ => return Err(err("'package.loaded' must be a table".into())),
    };
    let existing = loaded.get(ctx, name_value);
    if existing.to_bool() {
        stack.replace(ctx, existing);
        return Ok(CallbackReturn::Return);
    }
    let mut tried = format!("module '{name}' not found:\n\tno field package.preload['{name}']");
    if let Value::Table(preload) = package.get(ctx, "preload") {
        let loader = preload.get(ctx, name_value);
        if !loader.is_nil() {
            let function = crate::lib::args::callable(ctx, loader)
                .map_err(|e| e.into_error(ctx, exec, "require"))?;
            stack.replace(ctx, (name_value, ":preload:"));
            return Ok(CallbackReturn::Call {
                function,
                then: Some(BoxSequence::new(
                    &ctx,
                    StoreModule {
                        loaded,
                        name: name_value,
                        extra: Value::String(ctx.intern(b":preload:")),
                    },
                )),
            });
        }
    }
    let path = match package.get(ctx, "path") {
        Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        _ => return Err(err("'package.path' must be a string".into())),
    };
    match search_path(&name, &path, ".", "/") {
        Err(files) => tried.push_str(&files),
        Ok(candidate) => {
            let closure = load_file(ctx, &candidate, env).map_err(|m| {
                err(format!(
                    "error loading module '{name}' from file '{candidate}':\n\t{m}"
                ))
            })?;
            let file = Value::String(ctx.intern(candidate.as_bytes()));
            stack.replace(ctx, (name_value, file));
            return Ok(CallbackReturn::Call {
                function: closure.into(),
                then: Some(BoxSequence::new(
                    &ctx,
                    StoreModule {
                        loaded,
                        name: name_value,
                        extra: file,
                    },
                )),
            });
        }
    }
    // C modules cannot be loaded: `package.cpath` only adds its "no file"
    // lines to the message, as lua5.4 lists them.
    if let Value::String(cpath) = package.get(ctx, "cpath") {
        let cpath = String::from_utf8_lossy(cpath.as_bytes()).into_owned();
        if let Err(files) = search_path(&name, &cpath, ".", "/") {
            tried.push_str(&files);
        }
    }
    Err(err(tried))
}

/// After a module's chunk ran: records its value in `package.loaded` and
/// returns it with the loader data, as `require` does.
#[derive(Collect)]
#[collect(no_drop)]
struct StoreModule<'gc> {
    loaded: Table<'gc>,
    name: Value<'gc>,
    extra: Value<'gc>,
}

impl<'gc> Sequence<'gc> for StoreModule<'gc> {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        _: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        let set = |k: Value<'gc>, v: Value<'gc>| {
            self.loaded
                .set(ctx, k, v)
                .map_err(|e| message_error(ctx, e.message()))
        };
        let result = stack.get(0);
        if !result.is_nil() {
            set(self.name, result)?;
        }
        let mut value = self.loaded.get(ctx, self.name);
        if value.is_nil() {
            value = Value::Boolean(true);
            set(self.name, value)?;
        }
        stack.replace(ctx, (value, self.extra));
        Ok(SequencePoll::Return)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Vm;

    fn globals_of(profile: Profile) -> Vec<String> {
        let mut vm = Vm::new();
        vm.enter(|ctx| {
            let env = ctx.new_table();
            load_stdlib_with(ctx, env, profile, Output::Discard);
            let mut names = Vec::new();
            let mut k = Value::Nil;
            while let Ok(Some((key, v))) = env.next(k) {
                let name = key.as_string().map(|s| s.to_string()).unwrap_or_default();
                names.push(name.clone());
                if let Value::Table(t) = v {
                    let mut f = Value::Nil;
                    while let Ok(Some((fk, _))) = t.next(f) {
                        if let Some(s) = fk.as_string() {
                            names.push(format!("{name}.{s}"));
                        }
                        f = fk;
                    }
                }
                k = key;
            }
            names.sort();
            names
        })
    }

    #[test]
    fn sandbox_has_no_files_processes_or_environment() {
        let names = globals_of(Profile::Sandbox);
        for missing in [
            "dofile",
            "loadfile",
            "require",
            "io",
            "debug",
            "os.execute",
            "os.exit",
            "os.getenv",
            "os.remove",
            "os.rename",
            "os.tmpname",
        ] {
            assert!(!names.iter().any(|n| n == missing), "{missing} in sandbox");
        }
        for present in [
            "string.format",
            "string.gsub",
            "table.concat",
            "table.sort",
            "math.random",
            "os.date",
            "os.time",
            "utf8.char",
            "coroutine.wrap",
            "bit.band",
            "unpack",
            "loadstring",
            "load",
            "_G",
            "_VERSION",
        ] {
            assert!(names.iter().any(|n| n == present), "{present} missing");
        }
    }

    #[test]
    fn full_profile_adds_the_runner_functions() {
        let names = globals_of(Profile::Full);
        for present in [
            "dofile",
            "loadfile",
            "require",
            "io.write",
            "io.read",
            "os.getenv",
            "os.exit",
            "package.searchpath",
            "debug.traceback",
        ] {
            assert!(names.iter().any(|n| n == present), "{present} missing");
        }
    }
}
