//! `lunagate lua`: the command-line runner users test their functions with,
//! shaped like `lua5.4` (`lua.c`):
//!
//! ```text
//! lunagate lua [-e stat] [-l mod] [-W] [-v] [-E] [--] [-] [script [args]]
//! ```
//!
//! `-e` chunks and `-l` modules run first, in order (chunk name
//! `=(command line)`), then the script (or stdin for `-`, or when neither
//! a script nor `-e`/`-v` is given). `arg` holds the script name at 0, its
//! arguments at 1.., and what came before it at negative indices; the
//! script also gets its arguments as `...`. An error is printed as
//! `lua: <message>` with lua5.4's `stack traceback:` (syntax errors
//! without one) on stderr, and the exit status is 1. Warnings (`warn`,
//! on with `-W` or `warn("@on")`) go to stderr as `Lua warning: ...`.
//!
//! The entry point is [`main`]; `lunagate lua ARGS` calls it with the
//! arguments after `lua`.

use std::ffi::OsString;
use std::io::{Read, Write};

use gc_arena::Collect;

use crate::env::{compile_closure, load_stdlib, Profile};
use crate::lib::args::plain_tostring;
use crate::lib::base::ProtectedCall;
use crate::{
    BoxSequence, Budget, Callback, CallbackReturn, Context, Error, Execution, Function, Outcome,
    Sequence, SequencePoll, Stack, StashedFunction, Value, Vm,
};

/// One `-e` or `-l` option, in command-line order.
enum Pre {
    Exec(Vec<u8>),
    Require(String),
}

enum Source {
    Stdin,
    File(String),
}

struct Invocation {
    pre: Vec<Pre>,
    warnings: bool,
    version: bool,
    script: Option<Source>,
    /// Index in `args` of the script name (0 in `arg`).
    script_index: usize,
}

fn usage(msg: &str) -> i32 {
    eprintln!("lua: {msg}");
    eprintln!(
        "usage: lunagate lua [options] [script [args]]\n\
         Available options are:\n  \
         -e stat   execute string 'stat'\n  \
         -l mod    require library 'mod' into global 'mod'\n  \
         -v        show version information\n  \
         -E        ignore environment variables\n  \
         -W        turn warnings on\n  \
         --        stop handling options\n  \
         -         stop handling options and execute stdin"
    );
    1
}

fn parse(args: &[OsString]) -> Result<Invocation, String> {
    let mut pre = Vec::new();
    let (mut warnings, mut version) = (false, false);
    let mut i = 0;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if a == "--" {
            i += 1;
            break;
        } else if a == "-" || !a.starts_with('-') {
            break;
        } else if a == "-W" {
            warnings = true;
        } else if a == "-v" {
            version = true;
        } else if a == "-E" {
            // No environment variable is read at startup anyway.
        } else if let Some(rest) = a.strip_prefix("-e").or_else(|| a.strip_prefix("-l")) {
            let value = if rest.is_empty() {
                i += 1;
                match args.get(i) {
                    Some(v) => v.to_string_lossy().into_owned(),
                    None => return Err(format!("'{}' needs argument", &a[..2])),
                }
            } else {
                rest.to_string()
            };
            pre.push(if a.starts_with("-e") {
                Pre::Exec(value.into_bytes())
            } else {
                Pre::Require(value)
            });
        } else {
            return Err(format!("unrecognized option '{a}'"));
        }
        i += 1;
    }
    let has_exec = pre.iter().any(|p| matches!(p, Pre::Exec(_)));
    let script = match args.get(i) {
        Some(a) if a == "-" => Some(Source::Stdin),
        Some(a) => Some(Source::File(a.to_string_lossy().into_owned())),
        None if !has_exec && !version => Some(Source::Stdin),
        None => None,
    };
    Ok(Invocation {
        pre,
        warnings,
        version,
        script,
        script_index: if i < args.len() { i } else { args.len() },
    })
}

/// Runs `lunagate lua ARGS...` (the arguments after `lua`); returns the
/// process exit status.
pub fn main(args: Vec<OsString>) -> i32 {
    let inv = match parse(&args) {
        Ok(inv) => inv,
        Err(msg) => return usage(&msg),
    };
    if inv.version {
        println!("Lua 5.4 (lunagate)");
    }
    let mut vm = Vm::new();
    vm.enter(|ctx| {
        // lua.c runs its state in generational mode.
        ctx.gc_control().generational.set(true);
        let globals = ctx.globals();
        load_stdlib(ctx, globals, Profile::Full);
        // As lua.c's `createargtable`, over argv = ["lunagate", args...]:
        // the script at 0, or the program name when there is no script.
        let arg = ctx.new_table();
        let script = if inv.script_index < args.len() {
            inv.script_index as i64 + 1
        } else {
            0
        };
        let _ = arg.set(ctx, -script, "lunagate");
        for (i, a) in args.iter().enumerate() {
            let s = ctx.intern(a.to_string_lossy().as_bytes());
            let _ = arg.set(ctx, i as i64 + 1 - script, s);
        }
        let _ = globals.set(ctx, "arg", arg);
        if inv.warnings {
            let _ = ctx.registry().set(ctx, crate::lib::base::WARN_ON, true);
        }
    });

    for p in &inv.pre {
        let r = match p {
            Pre::Exec(code) => run(&mut vm, code, "=(command line)", &[]),
            Pre::Require(name) => run(
                &mut vm,
                format!("{name} = require('{}')", name.replace('\'', "\\'")).as_bytes(),
                "=(command line)",
                &[],
            ),
        };
        if let Err(msg) = r {
            return report(&mut vm, &msg);
        }
    }
    let script_args: Vec<String> = args
        .iter()
        .skip(inv.script_index + 1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let (source, name) = match inv.script {
        None => return finish(&mut vm, 0),
        Some(Source::Stdin) => {
            let mut buf = Vec::new();
            if let Err(e) = std::io::stdin().read_to_end(&mut buf) {
                return report(&mut vm, &format!("cannot read stdin: {e}"));
            }
            if buf.starts_with(b"#") {
                let end = buf.iter().position(|&c| c == b'\n').unwrap_or(buf.len());
                buf.drain(..end);
            }
            (buf, "=stdin".to_string())
        }
        Some(Source::File(path)) => match crate::env::read_source(&path) {
            Ok(buf) => (buf, format!("@{path}")),
            Err(msg) => return report(&mut vm, &msg),
        },
    };
    match run(&mut vm, &source, &name, &script_args) {
        Ok(()) => finish(&mut vm, 0),
        Err(msg) => report(&mut vm, &msg),
    }
}

/// Prints the warnings recorded while warnings are on (lua.c prints
/// none while they are off, finalizer errors included).
fn print_warnings(vm: &mut Vm) {
    let on = vm.enter(|ctx| ctx.registry().get(ctx, crate::lib::base::WARN_ON).to_bool());
    if !on {
        return;
    }
    let warnings = vm.take_warnings();
    if warnings.is_empty() {
        return;
    }
    let _ = std::io::stdout().flush();
    let mut err = std::io::stderr().lock();
    for w in warnings {
        let _ = writeln!(err, "Lua warning: {w}");
    }
}

fn finish(vm: &mut Vm, status: i32) -> i32 {
    // lua_close: the finalizers still pending run now.
    vm.close();
    print_warnings(vm);
    let _ = std::io::stdout().flush();
    status
}

fn report(vm: &mut Vm, msg: &str) -> i32 {
    print_warnings(vm);
    let _ = std::io::stdout().flush();
    eprintln!("lua: {msg}");
    vm.close();
    print_warnings(vm);
    let _ = std::io::stdout().flush();
    1
}

/// Compiles and runs one chunk to completion; the error is the message to
/// print (with its traceback for runtime errors).
fn run(vm: &mut Vm, source: &[u8], chunk_name: &str, args: &[String]) -> Result<(), String> {
    let f: StashedFunction = vm.enter(|ctx| {
        let closure = compile_closure(ctx, source, chunk_name, ctx.globals())?;
        let runner = Callback::from_fn_with(&ctx, closure, |closure, ctx, _, _| {
            Ok(CallbackReturn::Call {
                function: Function::Closure(*closure),
                then: Some(BoxSequence::new(
                    &ctx,
                    // The chunk's protected call: `true` or `false, message`
                    // (the message handler already ran).
                    ProtectedCall::with_handler(
                        Function::Callback(Callback::from_fn(&ctx, msghandler)),
                        "",
                    ),
                )),
            })
        });
        Ok::<_, String>(ctx.stash(Function::Callback(runner)))
    })?;
    let mut call = vm.start(&f, args.to_vec(), Budget::default());
    loop {
        match vm.run(&mut call) {
            Outcome::Finished(values) => {
                return vm.enter(|ctx| {
                    match values.first().map(|v| ctx.fetch(v)) {
                        Some(Value::Boolean(false)) => {}
                        _ => return Ok(()),
                    }
                    match values.get(1).map(|v| ctx.fetch(v)) {
                        Some(v @ (Value::String(_) | Value::Integer(_) | Value::Number(_))) => {
                            Err(plain_tostring(ctx, v).to_string())
                        }
                        Some(v) => Err(format!("(error object is a {} value)", v.type_name())),
                        None => Err("(error object is a nil value)".to_string()),
                    }
                })
            }
            // Errors the protected call cannot catch (budgets).
            Outcome::Error(m) => return Err(m),
            Outcome::Suspended => continue,
            Outcome::Waiting => return Err("a callback waits for a host".to_string()),
        }
    }
}

/// `lua.c`'s `msghandler`: the message with a traceback; an error object
/// with `__tostring` gives its text (no traceback), any other non-string
/// `(error object is a T value)`.
fn msghandler<'gc>(
    ctx: Context<'gc>,
    exec: Execution<'gc, '_>,
    mut stack: Stack<'gc, '_>,
) -> Result<CallbackReturn<'gc>, Error<'gc>> {
    let v = stack.get(0);
    let msg = match v {
        Value::String(_) | Value::Integer(_) | Value::Number(_) => {
            plain_tostring(ctx, v).to_string()
        }
        _ => {
            let tm = crate::meta::event(ctx, v, crate::vm::meta::TOSTRING);
            if !tm.is_nil() {
                if let Ok(f) = crate::meta::call(ctx, tm) {
                    stack.replace(ctx, v);
                    return Ok(CallbackReturn::Call {
                        function: f,
                        then: Some(BoxSequence::new(&ctx, ToStringOrName)),
                    });
                }
            }
            format!("(error object is a {} value)", v.type_name())
        }
    };
    let text = exec.traceback_with(ctx, &stack, Some(&msg), 1);
    stack.replace(ctx, ctx.intern(text.as_bytes()));
    Ok(CallbackReturn::Return)
}

/// The result of an error object's `__tostring`, when it is a string.
#[derive(Collect)]
#[collect(require_static)]
struct ToStringOrName;

impl<'gc> Sequence<'gc> for ToStringOrName {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        _: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        let v = stack.get(0);
        if !matches!(v, Value::String(_)) {
            stack.replace(ctx, "(error object is not a string)");
        } else {
            stack.replace(ctx, v);
        }
        Ok(SequencePoll::Return)
    }
}
