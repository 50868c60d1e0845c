//! `debug.sethook` and `debug.gethook`.

use super::args::LibResult;
use crate::{CallbackReturn, Context, Execution, Stack, Value};

pub(crate) fn db_sethook<'gc>(
    _: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    stack.clear();
    Ok(CallbackReturn::Return)
}

pub(crate) fn db_gethook<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    stack.replace(ctx, Value::Nil);
    Ok(CallbackReturn::Return)
}

/// `ftransfer` and `ntransfer` of `getinfo(..., "r")`.
pub(crate) fn transfer(_: &Execution<'_, '_>) -> (i64, i64) {
    (0, 0)
}
