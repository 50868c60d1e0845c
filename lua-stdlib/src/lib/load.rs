//! `load(chunk [, chunkname [, mode [, env]]])`: compiles text chunks and
//! loads binary ones (`string.dump`'s, see `dump.rs`), from a string or a
//! reader function, with lua5.4's messages for a mode that excludes
//! them.

use gc_arena::Collect;

use super::args::{check_string, opt_string, position, type_error, LibResult};
use crate::{
    BoxSequence, Callback, CallbackReturn, Context, Error, Execution, Function, Handler, Sequence,
    SequencePoll, Stack, Table, Value,
};

/// Installs `load` in `env`; chunks get `env` as `_ENV` unless given one.
pub fn load_load<'gc>(ctx: Context<'gc>, env: Table<'gc>) {
    let load = Callback::from_fn_with(&ctx, env, |env, ctx, exec, mut stack| {
        load_chunk(ctx, *env, &mut stack).map_err(|e| e.into_error(ctx, &exec, "load"))
    });
    let _ = env.set(ctx, "load", load);
}

fn load_chunk<'gc>(
    ctx: Context<'gc>,
    default_env: Table<'gc>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let chunk = stack.get(0);
    let mode = match opt_string(ctx, stack, 2)? {
        Some(m) => m.as_bytes().to_vec(),
        None => b"bt".to_vec(),
    };
    // An explicit fourth argument, nil included, is the chunk's _ENV.
    let env = if stack.len() >= 4 {
        stack.get(3)
    } else {
        Value::Table(default_env)
    };
    let name = opt_string(ctx, stack, 1)?.map(|n| n.as_bytes().to_vec());
    match chunk {
        // `lua_tolstring`: a number is loaded as its text
        Value::String(_) | Value::Integer(_) | Value::Number(_) => {
            let s = check_string(ctx, stack, 0)?;
            let source = s.as_bytes();
            let name = name.unwrap_or_else(|| source.to_vec());
            finish_load(ctx, stack, source, &name, &mode, env);
            Ok(CallbackReturn::Return)
        }
        Value::Function(reader) => Ok(CallbackReturn::Sequence(BoxSequence::new(
            &ctx,
            ReadChunk {
                reader,
                source: Vec::new(),
                name: name.unwrap_or_else(|| b"=(load)".to_vec()),
                mode,
                env,
                started: false,
            },
        ))),
        // `luaL_checktype(L, 1, LUA_TFUNCTION)`
        _ => type_error(stack, 0, "function"),
    }
}

/// `load` with a reader function: calls it until it returns nil or an
/// empty string, then compiles the pieces.
#[derive(Collect)]
#[collect(no_drop)]
struct ReadChunk<'gc> {
    reader: Function<'gc>,
    source: Vec<u8>,
    name: Vec<u8>,
    mode: Vec<u8>,
    env: Value<'gc>,
    started: bool,
}

impl<'gc> Sequence<'gc> for ReadChunk<'gc> {
    /// Called the way `lua_call` calls (lua5.4's C boundary): a yield
    /// below it is an error and `coroutine.isyieldable` answers false.
    fn yieldable(&self) -> bool {
        false
    }

    fn poll(
        &mut self,
        ctx: Context<'gc>,
        mut exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        if self.started {
            match stack.get(0) {
                Value::Nil => {}
                Value::String(s) if s.as_bytes().is_empty() => {}
                Value::String(s) => {
                    super::args::charge(&mut exec, s.len());
                    if self.source.len() + s.len() > super::args::MAX_STRING {
                        stack.replace(ctx, (Value::Nil, "not enough memory"));
                        return Ok(SequencePoll::Return);
                    }
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
            let source = std::mem::take(&mut self.source);
            finish_load(ctx, &mut stack, &source, &self.name, &self.mode, self.env);
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
        stack.replace(ctx, (Value::Nil, error.value()));
        Ok(SequencePoll::Return)
    }

    fn handler(&self) -> Handler<'gc> {
        // lua_load runs the reader protected.
        Handler::Catch
    }
}

/// Compiles `source` and leaves `load`'s results on the stack: the
/// function, or nil and the message.
fn finish_load<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    source: &[u8],
    name: &[u8],
    mode: &[u8],
    env: Value<'gc>,
) {
    let mode_text = std::string::String::from_utf8_lossy(mode);
    let binary = source.first() == Some(&0x1b);
    let result = if binary && !mode.contains(&b'b') {
        Err(format!(
            "attempt to load a binary chunk (mode is '{mode_text}')"
        ))
    } else if binary {
        super::dump::undump(source, &std::string::String::from_utf8_lossy(name))
            .map(|proto| crate::env::closure_of(ctx, &proto, env))
    } else if !mode.contains(&b't') {
        Err(format!(
            "attempt to load a text chunk (mode is '{mode_text}')"
        ))
    } else {
        crate::env::compile_value_env(
            ctx,
            source,
            &std::string::String::from_utf8_lossy(name),
            env,
        )
    };
    match result {
        Ok(closure) => stack.replace(ctx, closure),
        Err(msg) => stack.replace(ctx, (Value::Nil, ctx.intern(msg.as_bytes()))),
    }
}
