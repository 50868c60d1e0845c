//! `load(chunk [, chunkname [, mode [, env]]])`: compiles text chunks,
//! from a string or a reader function, with the project's compiler
//! (`crate::compiler`). Binary chunks are refused.

use gc_arena::Collect;
use piccolo::{
    BoxSequence, CallbackReturn, Context, Error, Execution, Function, Sequence, SequencePoll,
    Stack, Table, Value,
};

use super::args::{arg_fail, position, type_name_at, LibResult};
use super::base::error_value;

/// `load(chunk [, chunkname [, mode [, env]]])`: text chunks only.
pub fn load_load<'gc>(ctx: Context<'gc>, env: Table<'gc>) {
    let load = piccolo::Callback::from_fn_with(&ctx, env, |env, ctx, exec, mut stack| {
        load_chunk(ctx, *env, &mut stack).map_err(|e| e.into_error(ctx, &exec, "load"))
    });
    env.set(ctx, "load", load).expect("string key");
}

fn load_chunk<'gc>(
    ctx: Context<'gc>,
    default_env: Table<'gc>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let chunk = stack.get(0);
    let mode = match super::args::opt_string(ctx, stack, 2)? {
        Some(m) => m.as_bytes().to_vec(),
        None => b"bt".to_vec(),
    };
    let env = match stack.get(3) {
        Value::Table(t) => t,
        // An explicit nil environment cannot be expressed on piccolo 0.3.3
        // (a closure's _ENV is a table): use an empty one.
        Value::Nil if stack.len() >= 4 => Table::new(&ctx),
        _ => default_env,
    };
    let name = super::args::opt_string(ctx, stack, 1)?
        .map(|n| std::string::String::from_utf8_lossy(n.as_bytes()).into_owned());
    match chunk {
        Value::String(s) => {
            let source = s.as_bytes();
            let name =
                name.unwrap_or_else(|| std::string::String::from_utf8_lossy(source).into_owned());
            finish_load(ctx, stack, source, &name, &mode, env);
            Ok(CallbackReturn::Return)
        }
        Value::Function(reader) => Ok(CallbackReturn::Sequence(BoxSequence::new(
            &ctx,
            ReadChunk {
                reader,
                source: Vec::new(),
                name: name.unwrap_or_else(|| "=(load)".to_string()),
                mode,
                env,
                started: false,
            },
        ))),
        _ => arg_fail(
            0,
            format!("string expected, got {}", type_name_at(stack, 0)),
        ),
    }
}

/// `load` with a reader function: calls it until it returns nil or an
/// empty string, then compiles the concatenated pieces.
#[derive(Collect)]
#[collect(no_drop)]
struct ReadChunk<'gc> {
    reader: Function<'gc>,
    source: Vec<u8>,
    name: std::string::String,
    mode: Vec<u8>,
    env: Table<'gc>,
    started: bool,
}

impl<'gc> Sequence<'gc> for ReadChunk<'gc> {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        if self.started {
            match stack.get(0) {
                Value::Nil => {}
                Value::String(s) if s.as_bytes().is_empty() => {}
                Value::String(s) => {
                    self.source.extend_from_slice(s.as_bytes());
                    stack.clear();
                    return Ok(SequencePoll::Call {
                        function: self.reader,
                        is_tail: false,
                    });
                }
                _ => {
                    let msg = format!("{}reader function must return a string", position(&exec));
                    stack.replace(ctx, (Value::Nil, ctx.intern(msg.as_bytes())));
                    return Ok(SequencePoll::Return);
                }
            }
            finish_load(
                ctx,
                &mut stack,
                &self.source,
                &self.name,
                &self.mode,
                self.env,
            );
            return Ok(SequencePoll::Return);
        }
        self.started = true;
        stack.clear();
        Ok(SequencePoll::Call {
            function: self.reader,
            is_tail: false,
        })
    }

    fn error(
        &mut self,
        ctx: Context<'gc>,
        _: Execution<'gc, '_>,
        error: Error<'gc>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        stack.replace(ctx, (Value::Nil, error_value(ctx, error)));
        Ok(SequencePoll::Return)
    }
}

/// Compiles `source` (refusing binary chunks) and leaves `load`'s results
/// on the stack: the function, or nil and the message.
fn finish_load<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    source: &[u8],
    name: &str,
    mode: &[u8],
    env: Table<'gc>,
) {
    let result = if source.starts_with(b"\x1bLua") {
        Err(format!(
            "attempt to load a binary chunk (mode is '{}')",
            std::string::String::from_utf8_lossy(mode)
        ))
    } else if !mode.contains(&b't') {
        Err(format!(
            "attempt to load a text chunk (mode is '{}')",
            std::string::String::from_utf8_lossy(mode)
        ))
    } else {
        crate::env::compile_closure(ctx, source, name, env)
    };
    match result {
        Ok(closure) => stack.replace(ctx, closure),
        Err(msg) => stack.replace(ctx, (Value::Nil, ctx.intern(msg.as_bytes()))),
    }
}
