//! `lunagate lua`: the command-line runner users test their functions with,
//! shaped like `lua5.4`:
//!
//! ```text
//! lunagate lua [-e CODE]... [-] [FILE [ARGS...]]
//! ```
//!
//! `-e` chunks run first (chunk name `=(command line)`), then FILE (or
//! stdin for `-`, or when neither FILE nor `-e` is given). `arg` holds the
//! script name at 0, its arguments at 1.., and the options before it at
//! negative indices. Errors are printed as `lua: <message>` on stderr and the
//! exit status is 1.

use std::ffi::OsString;
use std::io::{Read, Write};

use piccolo::{Closure, Executor, Fuel, Lua, StashedExecutor, Table, Value, Variadic};

use crate::env::{compile_closure, load_stdlib, Profile};
use crate::stdlib::base::{display_value, error_value, metafield};

/// Fuel per slice between garbage collections.
const FUEL_PER_SLICE: i32 = 16_384;

enum Source {
    Stdin,
    File(String),
}

struct Invocation {
    chunks: Vec<Vec<u8>>,
    script: Option<Source>,
    /// Index in `args` of the script name (0 in `arg`).
    script_index: usize,
}

fn usage(msg: &str) -> i32 {
    eprintln!("lua: {msg}");
    eprintln!("usage: lunagate lua [-e stat] [-] [script [args]]");
    1
}

fn parse(args: &[OsString]) -> Result<Invocation, String> {
    let mut chunks = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if a == "-e" {
            let code = args
                .get(i + 1)
                .ok_or_else(|| "'-e' needs argument".to_string())?;
            chunks.push(code.to_string_lossy().into_owned().into_bytes());
            i += 2;
        } else if let Some(code) = a.strip_prefix("-e") {
            chunks.push(code.as_bytes().to_vec());
            i += 1;
        } else if a == "--" {
            i += 1;
            break;
        } else if a == "-" {
            break;
        } else if a.starts_with('-') {
            return Err(format!("unrecognized option '{a}'"));
        } else {
            break;
        }
    }
    let script = match args.get(i) {
        Some(a) if a == "-" => Some(Source::Stdin),
        Some(a) => Some(Source::File(a.to_string_lossy().into_owned())),
        None if chunks.is_empty() => Some(Source::Stdin),
        None => None,
    };
    let script_index = if args.get(i).is_some() { i } else { args.len() };
    Ok(Invocation {
        chunks,
        script,
        script_index,
    })
}

/// Runs `lunagate lua ARGS...`; returns the process exit status.
pub fn main(args: Vec<OsString>) -> i32 {
    let inv = match parse(&args) {
        Ok(inv) => inv,
        Err(msg) => return usage(&msg),
    };
    let mut lua = Lua::empty();
    lua.enter(|ctx| {
        let globals = ctx.globals();
        load_stdlib(ctx, globals, Profile::Full);
        let arg = Table::new(&ctx);
        let base = inv.script_index as i64;
        arg.set(ctx, -base - 1, "lunagate").expect("integer key");
        for (i, a) in args.iter().enumerate() {
            let s = ctx.intern(a.to_string_lossy().as_bytes());
            arg.set(ctx, i as i64 - base, s).expect("integer key");
        }
        globals.set(ctx, "arg", arg).expect("string key");
    });

    for code in &inv.chunks {
        if let Err(msg) = run(&mut lua, code.clone(), "=(command line)", &[]) {
            return report(&msg);
        }
    }
    let script_args: Vec<String> = args
        .iter()
        .skip(inv.script_index + 1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let (source, name) = match inv.script {
        None => return 0,
        Some(Source::Stdin) => {
            let mut buf = Vec::new();
            if let Err(e) = std::io::stdin().read_to_end(&mut buf) {
                return report(&format!("cannot read stdin: {e}"));
            }
            (buf, "=stdin".to_string())
        }
        Some(Source::File(path)) => match std::fs::read(&path) {
            Ok(mut buf) => {
                if buf.starts_with(b"#") {
                    let end = buf.iter().position(|&c| c == b'\n').unwrap_or(buf.len());
                    buf.drain(..end);
                }
                (buf, format!("@{path}"))
            }
            Err(e) => {
                let reason = if e.kind() == std::io::ErrorKind::NotFound {
                    "No such file or directory".to_string()
                } else {
                    e.to_string()
                };
                return report(&format!("cannot open {path}: {reason}"));
            }
        },
    };
    match run(&mut lua, source, &name, &script_args) {
        Ok(()) => 0,
        Err(msg) => report(&msg),
    }
}

fn report(msg: &str) -> i32 {
    let _ = std::io::stdout().flush();
    eprintln!("lua: {msg}");
    1
}

/// Compiles and runs one chunk to completion; the error is the message to
/// print.
fn run(lua: &mut Lua, source: Vec<u8>, chunk_name: &str, args: &[String]) -> Result<(), String> {
    let executor: StashedExecutor = lua.enter(|ctx| {
        let closure: Closure = compile_closure(ctx, &source, chunk_name, ctx.globals())?;
        let args: Vec<Value> = args
            .iter()
            .map(|a| Value::String(ctx.intern(a.as_bytes())))
            .collect();
        Ok::<_, String>(ctx.stash(Executor::start(ctx, closure.into(), Variadic(args))))
    })?;
    finish(lua, &executor);
    let failure = lua.enter(|ctx| {
        let executor = ctx.fetch(&executor);
        match executor.take_result::<Variadic<Vec<Value>>>(ctx) {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                let v = error_value(ctx, e);
                Err(match v {
                    Value::String(_) | Value::Integer(_) | Value::Number(_) => {
                        Ok(String::from_utf8_lossy(display_value(ctx, v).as_bytes()).into_owned())
                    }
                    // An error object with `__tostring`: lua.c prints what
                    // it returns, which takes running it.
                    _ if !metafield(ctx, v, "__tostring").is_nil() => {
                        let tostring = ctx.globals().get(ctx, "tostring");
                        match tostring {
                            Value::Function(f) => Err(ctx.stash(Executor::start(ctx, f, v))),
                            _ => Ok(format!("(error object is a {} value)", v.type_name())),
                        }
                    }
                    _ => Ok(format!("(error object is a {} value)", v.type_name())),
                })
            }
            Err(_) => Err(Ok("attempt to yield from outside a coroutine".to_string())),
        }
    });
    match failure {
        Ok(()) => Ok(()),
        Err(Ok(msg)) => Err(msg),
        Err(Err(tostring)) => {
            finish(lua, &tostring);
            Err(
                lua.enter(|ctx| match ctx.fetch(&tostring).take_result::<Value>(ctx) {
                    Ok(Ok(Value::String(s))) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                    _ => "(error object is not a string)".to_string(),
                }),
            )
        }
    }
}

/// Steps an executor to completion in fuel slices (the arena collects
/// garbage between slices).
fn finish(lua: &mut Lua, executor: &StashedExecutor) {
    loop {
        let mut fuel = Fuel::with(FUEL_PER_SLICE);
        if lua.enter(|ctx| ctx.fetch(executor).step(ctx, &mut fuel)) {
            break;
        }
    }
}
