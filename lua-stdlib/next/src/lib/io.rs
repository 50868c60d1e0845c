//! The command-line runner's minimal `io` (`Full` profile only):
//! `io.write`, `io.read`, and `io.stdin`/`io.stdout`/`io.stderr` with
//! `write` and `flush` methods. Gateway functions get no `io`.

use std::io::{BufRead, Write};

use super::base::Output;
use crate::{Callback, CallbackReturn, Context, Execution, Stack, Table, UserData, Value};

use super::args::{arg_fail, check_number, check_string, set_fn, LibResult};

/// The bytes of arguments `from..` as `write` takes them (strings and
/// numbers).
fn written<'gc>(ctx: Context<'gc>, stack: &Stack<'gc, '_>, from: usize) -> LibResult<'gc, Vec<u8>> {
    let mut bytes = Vec::new();
    for i in from..stack.len() {
        bytes.extend_from_slice(check_string(ctx, stack, i)?.as_bytes());
    }
    Ok(bytes)
}

fn io_read<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let format = match stack.get(0) {
        Value::String(s) => s
            .as_bytes()
            .strip_prefix(b"*")
            .unwrap_or(s.as_bytes())
            .to_vec(),
        Value::Nil => b"l".to_vec(),
        _ => {
            let n = check_number(stack, 0)? as usize;
            let mut buf = vec![0u8; n];
            let got = std::io::Read::read(&mut std::io::stdin().lock(), &mut buf).unwrap_or(0);
            buf.truncate(got);
            let v = if got == 0 && n > 0 {
                Value::Nil
            } else {
                Value::String(ctx.intern(&buf))
            };
            stack.replace(ctx, v);
            return Ok(CallbackReturn::Return);
        }
    };
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let v = match format.first() {
        Some(b'a') => {
            let mut buf = Vec::new();
            let _ = std::io::Read::read_to_end(&mut input, &mut buf);
            Value::String(ctx.intern(&buf))
        }
        Some(b'n') => {
            let mut line = String::new();
            let _ = input.read_line(&mut line);
            crate::number::str_to_number(line.trim().as_bytes()).map_or(Value::Nil, Value::from)
        }
        Some(b'l') | Some(b'L') => {
            let mut buf = Vec::new();
            match input.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => Value::Nil,
                Ok(_) => {
                    if format[0] == b'l' && buf.ends_with(b"\n") {
                        buf.pop();
                    }
                    Value::String(ctx.intern(&buf))
                }
            }
        }
        _ => return arg_fail(0, "invalid format"),
    };
    stack.replace(ctx, v);
    Ok(CallbackReturn::Return)
}

/// The standard streams as `io.stdin`, `io.stdout`, `io.stderr`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdin,
    Stdout,
    Stderr,
}

fn file_write<'gc>(
    out: &Output,
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let this = stack.get(0);
    let stream = match this {
        Value::UserData(u) => u.downcast_static::<Stream>().map(|s| *s),
        _ => None,
    };
    let Some(stream) = stream.filter(|s| *s != Stream::Stdin) else {
        return arg_fail(0, "writable file expected");
    };
    let bytes = written(ctx, stack, 1)?;
    match stream {
        Stream::Stderr => {
            let _ = std::io::stderr().write_all(&bytes);
        }
        _ => out.write(&bytes),
    }
    stack.replace(ctx, this);
    Ok(CallbackReturn::Return)
}

fn file_flush<'gc>(
    _: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let _ = std::io::stdout().flush();
    stack.resize(1);
    Ok(CallbackReturn::Return)
}

/// The runner's minimal `io`: `io.write`, `io.read`, and the standard
/// streams with `write`/`flush` methods; standard output goes to `out`.
pub fn load_io<'gc>(ctx: Context<'gc>, out: Output) -> Table<'gc> {
    let io = ctx.new_table();
    set_fn(ctx, io, "io.read", io_read);
    let methods = ctx.new_table();
    let o = out.clone();
    let write = Callback::from_fn(&ctx, move |ctx, exec, mut stack| {
        file_write(&o, ctx, &mut stack).map_err(|e| e.into_error(ctx, &exec, "write"))
    });
    let _ = methods.set(ctx, "write", write);
    set_fn(ctx, methods, "file.flush", file_flush);
    let meta = ctx.new_table();
    let _ = meta.set(ctx, "__index", methods);
    let _ = meta.set(ctx, "__name", "FILE*");
    let tostring = Callback::from_fn(&ctx, |ctx, _, mut stack| {
        let text = format!(
            "file ({})",
            super::args::pointer_text(stack.get(0)).unwrap_or_default()
        );
        stack.replace(ctx, ctx.intern(text.as_bytes()));
        Ok(CallbackReturn::Return)
    });
    let _ = meta.set(ctx, "__tostring", tostring);
    for (name, stream) in [
        ("stdin", Stream::Stdin),
        ("stdout", Stream::Stdout),
        ("stderr", Stream::Stderr),
    ] {
        let ud = UserData::new_static(&ctx, stream);
        ud.set_metatable(&ctx, Some(meta));
        let _ = io.set(ctx, name, ud);
    }
    // `io.write` returns `io.stdout`, so calls chain as in Lua.
    let stdout = io.get(ctx, "stdout");
    let write = Callback::from_fn_with(&ctx, stdout, move |stdout, ctx, exec, mut stack| {
        let bytes = written(ctx, &stack, 0).map_err(|e| e.into_error(ctx, &exec, "io.write"))?;
        out.write(&bytes);
        stack.replace(ctx, *stdout);
        Ok(CallbackReturn::Return)
    });
    let _ = io.set(ctx, "write", write);
    io
}
