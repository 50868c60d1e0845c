//! Helpers behind `<close>` variables closed on errors (see the compiler's
//! `codegen/close.rs`): `protect` runs a protected body and closes the
//! variable however the body ends; `pack`/`unpack` carry a body's `return`
//! values through.

use gc_arena::Collect;
use piccolo::{
    meta_ops, BoxSequence, CallbackReturn, Context, Error, Execution, Sequence, SequencePoll,
    Stack, Table, Value,
};

use super::{error_at, metamethod};

/// `protect(body, var, ...)`: calls `body(...)`, then `var`'s `__close`.
pub(super) fn protect<'gc>(
    ctx: Context<'gc>,
    _exec: Execution<'gc, '_>,
    mut stack: Stack<'gc, '_>,
) -> Result<CallbackReturn<'gc>, Error<'gc>> {
    let body = stack.get(0);
    let var = stack.get(1);
    drop(stack.drain(0..2));
    Ok(CallbackReturn::Call {
        function: meta_ops::call(ctx, body)?,
        then: Some(BoxSequence::new(
            &ctx,
            Protect {
                var,
                state: State::Running,
                results: Vec::new(),
                error: None,
            },
        )),
    })
}

#[derive(Collect, Clone, Copy, PartialEq, Eq)]
#[collect(require_static)]
enum State {
    Running,
    ClosingAfterSuccess,
    ClosingAfterError,
}

#[derive(Collect)]
#[collect(no_drop)]
struct Protect<'gc> {
    var: Value<'gc>,
    state: State,
    results: Vec<Value<'gc>>,
    error: Option<Error<'gc>>,
}

impl<'gc> Protect<'gc> {
    /// Starts `__close(var, err)`, or returns None when `var` needs none.
    fn close(
        &mut self,
        ctx: Context<'gc>,
        exec: &Execution<'gc, '_>,
        stack: &mut Stack<'gc, '_>,
        err: Value<'gc>,
    ) -> Result<Option<SequencePoll<'gc>>, Error<'gc>> {
        if matches!(self.var, Value::Nil | Value::Boolean(false)) {
            return Ok(None);
        }
        let mm = metamethod(ctx, self.var, "__close");
        if mm.is_nil() {
            return Err(error_at(ctx, exec, "metamethod 'close' is not callable"));
        }
        stack.clear();
        stack.push_back(self.var);
        stack.push_back(err);
        Ok(Some(SequencePoll::Call {
            function: meta_ops::call(ctx, mm)?,
            is_tail: false,
        }))
    }
}

impl<'gc> Sequence<'gc> for Protect<'gc> {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        match self.state {
            State::Running => {
                self.results = (0..stack.len().min(2)).map(|i| stack.get(i)).collect();
                self.state = State::ClosingAfterSuccess;
                if let Some(call) = self.close(ctx, &exec, &mut stack, Value::Nil)? {
                    return Ok(call);
                }
                stack.clear();
                for v in self.results.drain(..) {
                    stack.push_back(v);
                }
                Ok(SequencePoll::Return)
            }
            State::ClosingAfterSuccess => {
                stack.clear();
                for v in self.results.drain(..) {
                    stack.push_back(v);
                }
                Ok(SequencePoll::Return)
            }
            State::ClosingAfterError => Err(self
                .error
                .take()
                .unwrap_or_else(|| Error::from_value(Value::Nil))),
        }
    }

    fn error(
        &mut self,
        ctx: Context<'gc>,
        exec: Execution<'gc, '_>,
        error: Error<'gc>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        if self.state != State::Running {
            // `__close` itself failed: that error wins, as in lua5.4
            return Err(error);
        }
        self.state = State::ClosingAfterError;
        let value = error.to_value(ctx);
        self.error = Some(error);
        match self.close(ctx, &exec, &mut stack, value)? {
            Some(call) => Ok(call),
            None => Err(self
                .error
                .take()
                .unwrap_or_else(|| Error::from_value(Value::Nil))),
        }
    }
}

/// `pack(...)`: the values in a table with `n`.
pub(super) fn pack<'gc>(
    ctx: Context<'gc>,
    _exec: Execution<'gc, '_>,
    mut stack: Stack<'gc, '_>,
) -> Result<CallbackReturn<'gc>, Error<'gc>> {
    let t = Table::new(&ctx);
    let n = stack.len();
    for i in 0..n {
        t.set(ctx, (i + 1) as i64, stack.get(i))?;
    }
    t.set(ctx, "n", n as i64)?;
    stack.replace(ctx, t);
    Ok(CallbackReturn::Return)
}

/// `unpack(t)`: the values `pack` stored.
pub(super) fn unpack<'gc>(
    ctx: Context<'gc>,
    _exec: Execution<'gc, '_>,
    mut stack: Stack<'gc, '_>,
) -> Result<CallbackReturn<'gc>, Error<'gc>> {
    let Value::Table(t) = stack.get(0) else {
        stack.clear();
        return Ok(CallbackReturn::Return);
    };
    let n = match t.get(ctx, "n") {
        Value::Integer(n) => n.max(0) as usize,
        _ => 0,
    };
    stack.clear();
    for i in 0..n {
        stack.push_back(t.get(ctx, (i + 1) as i64));
    }
    Ok(CallbackReturn::Return)
}
