//! Building Lua environments: a globals table filled with the standard
//! library, in one of two profiles.
//!
//! - [`Profile::Sandbox`]: what gateway functions get — no file system, no
//!   process control, no environment variables.
//! - [`Profile::Full`]: the command-line runner (`lunagate lua`) adds
//!   `dofile loadfile require`, `os.getenv execute exit remove rename
//!   tmpname`, a minimal `io.write`/`io.read` and a placeholder `debug`.

use gc_arena::{Collect, Rootable};
use piccolo::{
    BoxSequence, Callback, CallbackReturn, Closure, Context, Error, Execution, Sequence,
    SequencePoll, Stack, Table, Value,
};

use crate::compiler;
use crate::stdlib::{self, args::message_error};

/// Which parts of the standard library an environment gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Safe for untrusted code: no files, processes or environment.
    Sandbox,
    /// Everything, for the command-line runner.
    Full,
}

/// Fills `env` (a globals table) with every library for `profile`, and
/// points the string metatable's `__index` at this environment's `string`.
pub fn load_stdlib<'gc>(ctx: Context<'gc>, env: Table<'gc>, profile: Profile) {
    stdlib::base::load_base(ctx, env);
    let loaded = Table::new(&ctx);
    let add = |name: &'static str, lib: Table<'gc>| {
        env.set(ctx, name, lib).expect("string key");
        loaded.set(ctx, name, lib).expect("string key");
    };
    let string = stdlib::string::load_string(ctx);
    add("string", string);
    add("table", stdlib::table::load_table(ctx));
    add("math", stdlib::math::load_math(ctx));
    add("os", stdlib::os::load_os(ctx, profile));
    add("utf8", stdlib::utf8::load_utf8(ctx));
    add("coroutine", stdlib::coroutine::load_coroutine(ctx));
    add("bit", stdlib::bit::load_bit(ctx));
    loaded.set(ctx, "_G", env).expect("string key");
    stdlib::compat::load_compat(ctx, env);
    string_metatable(ctx)
        .set(ctx, "__index", string)
        .expect("string key");

    let package = Table::new(&ctx);
    package.set(ctx, "loaded", loaded).expect("string key");
    package
        .set(ctx, "preload", Table::new(&ctx))
        .expect("string key");
    package
        .set(ctx, "path", "./?.lua;./?/init.lua")
        .expect("string key");
    package.set(ctx, "cpath", "").expect("string key");
    package
        .set(ctx, "config", "/\n;\n?\n!\n-\n")
        .expect("string key");
    env.set(ctx, "package", package).expect("string key");
    loaded.set(ctx, "package", package).expect("string key");

    if profile == Profile::Full {
        load_files(ctx, env, package);
        let io = stdlib::io::load_io(ctx);
        env.set(ctx, "io", io).expect("string key");
        loaded.set(ctx, "io", io).expect("string key");
        let debug = stdlib::debug::load_debug(ctx);
        env.set(ctx, "debug", debug).expect("string key");
        loaded.set(ctx, "debug", debug).expect("string key");
    }
}

#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
struct StringMetatable<'gc>(Table<'gc>);

impl<'gc> piccolo::Singleton<'gc> for StringMetatable<'gc> {
    fn create(ctx: Context<'gc>) -> Self {
        StringMetatable(Table::new(&ctx))
    }
}

/// The metatable shared by all strings of this VM (`getmetatable("")`);
/// piccolo 0.3.3 does not consult it, the compiler routes `s:method()`
/// through it.
pub fn string_metatable<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    ctx.singleton::<Rootable![StringMetatable<'_>]>().0
}

/// Compiles Lua source into a closure over `env`; the error is the message
/// `load` returns.
pub fn compile_closure<'gc>(
    ctx: Context<'gc>,
    source: &[u8],
    chunk_name: &str,
    env: Table<'gc>,
) -> Result<Closure<'gc>, String> {
    let chunk = compiler::compile(source, chunk_name).map_err(|e| e.message)?;
    chunk
        .instantiate(ctx, env)
        .map_err(|e| stdlib::base::error_value(ctx, e).to_string())
}

/// Reads a Lua file, skipping a first `#` line as `lua` does.
fn read_source(path: &str) -> Result<Vec<u8>, String> {
    let mut source = std::fs::read(path).map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
            std::io::ErrorKind::PermissionDenied => "Permission denied".to_string(),
            _ => e.to_string(),
        };
        format!("cannot open {path}: {reason}")
    })?;
    if source.starts_with(b"#") {
        let end = source
            .iter()
            .position(|&c| c == b'\n')
            .unwrap_or(source.len());
        // Keep the newline so line numbers stay right.
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

fn str_arg<'gc>(stack: &Stack<'gc, '_>, i: usize) -> Option<String> {
    match stack.get(i) {
        Value::String(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        _ => None,
    }
}

/// `dofile`, `loadfile`, `require`.
fn load_files<'gc>(ctx: Context<'gc>, env: Table<'gc>, package: Table<'gc>) {
    let dofile = Callback::from_fn_with(&ctx, env, |env, ctx, exec, mut stack| {
        let Some(path) = str_arg(&stack, 0) else {
            return Err(message_error(
                ctx,
                &format!(
                    "{}dofile from stdin is not supported",
                    stdlib::args::position(&exec)
                ),
            ));
        };
        let closure = load_file(ctx, &path, *env).map_err(|m| message_error(ctx, &m))?;
        stack.clear();
        Ok(CallbackReturn::Call {
            function: closure.into(),
            then: None,
        })
    });
    env.set(ctx, "dofile", dofile).expect("string key");

    let loadfile = Callback::from_fn_with(&ctx, env, |env, ctx, _, mut stack| {
        let path = str_arg(&stack, 0).unwrap_or_default();
        let env = match stack.get(2) {
            Value::Table(t) => t,
            _ => *env,
        };
        match load_file(ctx, &path, env) {
            Ok(c) => stack.replace(ctx, c),
            Err(m) => stack.replace(ctx, (Value::Nil, ctx.intern(m.as_bytes()))),
        }
        Ok(CallbackReturn::Return)
    });
    env.set(ctx, "loadfile", loadfile).expect("string key");

    let searchpath = Callback::from_fn(&ctx, |ctx, _, mut stack| {
        let (Some(name), Some(path)) = (str_arg(&stack, 0), str_arg(&stack, 1)) else {
            return Err(message_error(
                ctx,
                "bad argument to 'searchpath' (string expected)",
            ));
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
    package
        .set(ctx, "searchpath", searchpath)
        .expect("string key");

    let require = Callback::from_fn_with(
        &ctx,
        (env, package),
        |&(env, package), ctx, exec, mut stack| require(ctx, &exec, env, package, &mut stack),
    );
    env.set(ctx, "require", require).expect("string key");
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
    let err = |m: String| message_error(ctx, &format!("{}{m}", stdlib::args::position(exec)));
    let name_value = stack.get(0);
    let name = match name_value {
        Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        other => {
            return Err(err(format!(
                "bad argument #1 to 'require' (string expected, got {})",
                other.type_name()
            )))
        }
    };
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
        if let Value::Function(f) = preload.get(ctx, name_value) {
            stack.replace(ctx, (name_value, ":preload:"));
            return Ok(CallbackReturn::Call {
                function: f,
                then: Some(BoxSequence::new(
                    &ctx,
                    StoreModule {
                        loaded,
                        name: name_value,
                        extra: Value::Nil,
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
        let result = stack.get(0);
        if !result.is_nil() {
            self.loaded.set(ctx, self.name, result)?;
        }
        let mut value = self.loaded.get(ctx, self.name);
        if value.is_nil() {
            value = Value::Boolean(true);
            self.loaded.set(ctx, self.name, value)?;
        }
        stack.replace(ctx, (value, self.extra));
        Ok(SequencePoll::Return)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use piccolo::Lua;

    fn globals_of(profile: Profile) -> Vec<String> {
        let mut lua = Lua::empty();
        lua.enter(|ctx| {
            let env = Table::new(&ctx);
            load_stdlib(ctx, env, profile);
            let mut names = Vec::new();
            for (k, v) in env.iter() {
                let k = k.to_string();
                names.push(k.clone());
                if let Value::Table(t) = v {
                    for (f, _) in t.iter() {
                        names.push(format!("{k}.{f}"));
                    }
                }
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
        ] {
            assert!(names.iter().any(|n| n == present), "{present} missing");
        }
    }
}
