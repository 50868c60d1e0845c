//! Library functions that read and write tables and compare values as
//! lua5.4's C functions do through the C API (`lua_geti`, `lua_seti`,
//! `luaL_len`, `lua_compare`, calling an order function): metamethods
//! included, and a metamethod may be a Lua function.
//!
//! A Rust callback cannot run Lua inline, so such a function is a small
//! state machine ([`MetaOp`]) that asks for one [`Access`] at a time. The
//! [`run`] driver answers plain accesses at once (a raw table costs one
//! match per element) and, when an access needs a metamethod or an order
//! function, asks the executor to call it and resumes the operation with
//! the answer (a [`Sequence`]). The rules of the accesses themselves
//! (`__index` chains, `__len`, `__lt`, `__eq`) are the VM's, from
//! [`crate::meta`].
//!
//! Each access costs one unit of the instruction budget, and the driver
//! stops between accesses when the budget slice is used up: an operation
//! over a huge range is bounded by the caller's budget like a Lua loop,
//! and other work runs between its slices.
//!
//! Users: the `table` library (`table.rs`, `table_sort.rs`) and
//! `math.min`/`math.max`.

use gc_arena::Collect;

use super::args::{message_error, LibError, LibResult};
use crate::meta::{self, Step};
use crate::{
    BoxSequence, CallbackReturn, Context, Error, Execution, Function, Sequence, SequencePoll,
    Stack, Value,
};

/// One access an operation asks the driver for; the answer comes back as
/// the next call's `answer`.
pub(super) enum Access<'gc> {
    /// `t[k]` (`lua_geti`): answers the value.
    Get(Value<'gc>, i64),
    /// `t[k] = v` (`lua_seti`): answers `nil`.
    Set(Value<'gc>, i64, Value<'gc>),
    /// `#t` (`lua_len`): answers the raw length or `__len`'s result.
    Len(Value<'gc>),
    /// `a < b` (`lua_lessthan`): answers a boolean.
    Less(Value<'gc>, Value<'gc>),
    /// `a == b` (`lua_compare` with `LUA_OPEQ`): answers a boolean.
    Equal(Value<'gc>, Value<'gc>),
    /// `f(a, b)` for `sort`'s order function: answers its first result's
    /// truthiness.
    Order(Function<'gc>, Value<'gc>, Value<'gc>),
    /// Finished: [`MetaOp::results`] gives the results.
    Done,
}

/// A library operation as a state machine over [`Access`]es.
pub(super) trait MetaOp<'gc>: Collect<'gc> + 'gc {
    /// The qualified name (`table.insert`) for messages and tracebacks.
    fn name(&self) -> &'static str;

    /// The next access, given the answer to the previous one (`nil` at the
    /// start). `args` are the function's arguments, for checks lua5.4 makes
    /// after a length or an access.
    fn next(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Execution<'gc, '_>,
        args: &Stack<'gc, '_>,
        answer: Value<'gc>,
    ) -> LibResult<'gc, Access<'gc>>;

    /// The results, once `next` answered [`Access::Done`].
    fn results(&mut self, ctx: Context<'gc>, stack: &mut Stack<'gc, '_>);
}

/// How the answer to a metamethod call is read.
#[derive(Clone, Copy)]
enum Answer {
    Value,
    Truth,
    Nothing,
}

enum Drive<'gc> {
    Done,
    Call(Function<'gc>, [Value<'gc>; 3], usize, Answer),
    /// The budget slice is used up; the answer waits for the next poll.
    Paused(Value<'gc>),
}

pub(super) fn raw_error<'gc>(ctx: Context<'gc>, msg: std::string::String) -> LibError<'gc> {
    LibError::Raw(message_error(ctx, &msg))
}

/// Runs `op` until it finishes, needs a call, or the budget slice ends.
/// (Inlined: its result is read at once, and an order function's call
/// comes through here once per comparison.)
#[inline(always)]
fn drive<'gc, O: MetaOp<'gc>>(
    op: &mut O,
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    args: &Stack<'gc, '_>,
    mut answer: Value<'gc>,
) -> LibResult<'gc, Drive<'gc>> {
    macro_rules! finish {
        ($step:expr, $kind:expr, $done:expr) => {
            match $step.map_err(|m| raw_error(ctx, m))? {
                Step::Done(v) => $done(v),
                Step::Call {
                    function,
                    args,
                    nargs,
                } => return Ok(Drive::Call(function, args, nargs, $kind)),
            }
        };
    }
    loop {
        let access = op.next(ctx, exec, args, answer)?;
        answer = match access {
            Access::Done => return Ok(Drive::Done),
            Access::Get(t, k) => match t {
                Value::Table(tab) => {
                    let v = tab.raw_get_int(k);
                    if !v.is_nil() || tab.metatable().is_none() {
                        v
                    } else {
                        finish!(meta::index(ctx, t, Value::Integer(k)), Answer::Value, |v| v)
                    }
                }
                _ => finish!(meta::index(ctx, t, Value::Integer(k)), Answer::Value, |v| v),
            },
            Access::Set(t, k, v) => match t {
                Value::Table(tab) if tab.metatable().is_none() => {
                    tab.raw_set_int(&ctx, k, v)
                        .map_err(|e| raw_error(ctx, e.message().into()))?;
                    Value::Nil
                }
                _ => finish!(
                    meta::new_index(ctx, t, Value::Integer(k), v),
                    Answer::Nothing,
                    |()| Value::Nil
                ),
            },
            Access::Len(t) => match t {
                Value::Table(tab) if tab.metatable().is_none() => Value::Integer(tab.length()),
                _ => finish!(meta::length(ctx, t), Answer::Value, |v| v),
            },
            Access::Less(a, b) => {
                finish!(meta::less_than(ctx, a, b), Answer::Truth, Value::Boolean)
            }
            Access::Equal(a, b) => finish!(meta::equal(ctx, a, b), Answer::Truth, Value::Boolean),
            Access::Order(function, a, b) => {
                return Ok(Drive::Call(function, [a, b, Value::Nil], 2, Answer::Truth))
            }
        };
        let fuel = exec.fuel();
        fuel.consume(1);
        if fuel.should_stop() {
            return Ok(Drive::Paused(answer));
        }
    }
}

/// An operation suspended on a call or between budget slices.
#[derive(Collect)]
#[collect(no_drop)]
struct Driver<'gc, O> {
    op: O,
    /// The function's arguments, for checks made after a call.
    args: Vec<Value<'gc>>,
    /// The answer held over a pause.
    answer: Value<'gc>,
    /// How to read the results of the call made, if one was.
    #[collect(require_static)]
    awaiting: Option<Answer>,
}

impl<'gc, O: MetaOp<'gc>> Driver<'gc, O> {
    fn step(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Execution<'gc, '_>,
        stack: &mut Stack<'gc, '_>,
        answer: Value<'gc>,
    ) -> LibResult<'gc, SequencePoll<'gc>> {
        let args = Stack::new(&mut self.args, 0);
        let r = drive(&mut self.op, ctx, exec, &args, answer);
        Ok(match r? {
            Drive::Done => {
                self.op.results(ctx, stack);
                SequencePoll::Return
            }
            Drive::Call(function, call_args, n, kind) => {
                self.awaiting = Some(kind);
                stack.clear();
                for &v in &call_args[..n] {
                    stack.push_back(v);
                }
                SequencePoll::Call {
                    function,
                    is_tail: false,
                }
            }
            Drive::Paused(answer) => {
                self.answer = answer;
                SequencePoll::Pending
            }
        })
    }
}

impl<'gc, O: MetaOp<'gc>> Sequence<'gc> for Driver<'gc, O> {
    /// Called the way `lua_call` calls: a yield below it is an error.
    fn yieldable(&self) -> bool {
        false
    }

    fn traceback_name(&self) -> Option<&'static str> {
        Some(self.op.name())
    }

    fn poll(
        &mut self,
        ctx: Context<'gc>,
        mut exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        let answer = match self.awaiting.take() {
            Some(Answer::Value) => stack.get(0),
            Some(Answer::Truth) => Value::Boolean(stack.get(0).to_bool()),
            Some(Answer::Nothing) => Value::Nil,
            None => self.answer,
        };
        stack.clear();
        self.step(ctx, &mut exec, &mut stack, answer)
            .map_err(|e| e.into_error(ctx, &exec, self.op.name()))
    }
}

/// Runs `op` for a library function called with `stack`: at once when no
/// call is needed, else as a sequence.
pub(super) fn run<'gc, O: MetaOp<'gc>>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
    mut op: O,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let r = drive(&mut op, ctx, exec, stack, Value::Nil)?;
    let (awaiting, answer, call) = match r {
        Drive::Done => {
            op.results(ctx, stack);
            return Ok(CallbackReturn::Return);
        }
        Drive::Call(function, args, n, kind) => (Some(kind), Value::Nil, Some((function, args, n))),
        Drive::Paused(answer) => (None, answer, None),
    };
    let driver = Driver {
        op,
        args: stack.iter().collect(),
        answer,
        awaiting,
    };
    let then = BoxSequence::new(&ctx, driver);
    match call {
        Some((function, args, n)) => {
            stack.clear();
            stack.extend(args[..n].iter().copied());
            Ok(CallbackReturn::Call {
                function,
                then: Some(then),
            })
        }
        None => {
            stack.clear();
            Ok(CallbackReturn::Sequence(then))
        }
    }
}
