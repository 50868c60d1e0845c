//! `kong.table` (Kong's `kong/pdk/table.lua`: `new`, `clear`, `merge`)
//! and `kong.tools.uuid` (`kong/tools/uuid.lua`: `uuid`, `is_valid_uuid`).

use crate::lib::args::{charge, check_table, lib_fn, opt_integer, LibError, LibResult};
use crate::{CallbackReturn, Context, Execution, Stack, Table, Value};

/// Most slots `kong.table.new` pre-allocates in each part (LuaJIT's
/// `table.new` takes any size; a hint past this is ignored).
const MAX_PREALLOC: i64 = 1 << 16;

/// `kong.table`.
pub fn load_kong_table<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    let t = ctx.new_table();
    let _ = t.set(ctx, "new", lib_fn(ctx, "new", table_new));
    let _ = t.set(ctx, "clear", lib_fn(ctx, "clear", table_clear));
    let _ = t.set(ctx, "merge", lib_fn(ctx, "merge", table_merge));
    t
}

/// `kong.tools.uuid`.
pub fn load_kong_uuid<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    let t = ctx.new_table();
    let _ = t.set(ctx, "uuid", lib_fn(ctx, "uuid", uuid_v4));
    let _ = t.set(
        ctx,
        "is_valid_uuid",
        lib_fn(ctx, "is_valid_uuid", is_valid_uuid),
    );
    t
}

fn table_new<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let narr = opt_integer(stack, 0, 0)?.clamp(0, MAX_PREALLOC);
    let nrec = opt_integer(stack, 1, 0)?.clamp(0, MAX_PREALLOC);
    charge(exec, (narr + nrec) as usize);
    stack.replace(ctx, ctx.new_table_with(narr as usize, nrec as usize));
    Ok(CallbackReturn::Return)
}

fn table_clear<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let t = check_table(stack, 0)?;
    let mut keys = Vec::new();
    let mut k = Value::Nil;
    while let Ok(Some((key, _))) = t.next(k) {
        keys.push(key);
        k = key;
    }
    charge(exec, keys.len() * 8);
    for key in keys {
        t.raw_set(&ctx, key, Value::Nil)
            .map_err(|e| LibError::Msg(e.message().to_string()))?;
    }
    stack.clear();
    Ok(CallbackReturn::Return)
}

fn copy_into<'gc>(ctx: Context<'gc>, from: Value<'gc>, into: Table<'gc>) -> usize {
    let Value::Table(from) = from else { return 0 };
    let mut n = 0;
    let mut k = Value::Nil;
    while let Ok(Some((key, v))) = from.next(k) {
        let _ = into.raw_set(&ctx, key, v);
        k = key;
        n += 1;
    }
    n
}

/// `kong.tools.table.table_merge`: a new table, `t2`'s entries over
/// `t1`'s (either may be nil).
fn table_merge<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let res = ctx.new_table();
    let n = copy_into(ctx, stack.get(0), res) + copy_into(ctx, stack.get(1), res);
    charge(exec, n * 8);
    stack.replace(ctx, res);
    Ok(CallbackReturn::Return)
}

fn uuid_v4<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    stack.replace(ctx, id);
    Ok(CallbackReturn::Return)
}

/// `type(str) == 'string' and #str == 36` and
/// `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`
/// caselessly.
fn is_valid_uuid<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let ok = match stack.get(0) {
        Value::String(s) if s.len() == 36 => s.as_bytes().iter().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        }),
        _ => false,
    };
    stack.replace(ctx, ok);
    Ok(CallbackReturn::Return)
}
