//! Metamethod events and their lookup: the one place that knows where a
//! value's metatable is and how an event is found in it (`ltm.c`).
//! The interpreter, the library and the host all dispatch through here.

use super::context::Context;
use super::table::Table;
use super::value::Value;

/// Metamethod events, numbered as `ltm.h` numbers them (`MMBIN`'s operand).
pub type Event = u8;

// All events are listed so the numbering stays `ltm.h`'s; the GC-related
// ones are used by the collector glue.

pub const INDEX: Event = 0;
pub const NEWINDEX: Event = 1;
#[allow(dead_code)]
pub const GC: Event = 2;
#[allow(dead_code)]
pub const MODE: Event = 3;
pub const LEN: Event = 4;
pub const EQ: Event = 5;
pub const ADD: Event = 6;
pub const SUB: Event = 7;
pub const MUL: Event = 8;
pub const MOD: Event = 9;
pub const POW: Event = 10;
pub const DIV: Event = 11;
pub const IDIV: Event = 12;
pub const BAND: Event = 13;
pub const BOR: Event = 14;
pub const BXOR: Event = 15;
pub const SHL: Event = 16;
pub const SHR: Event = 17;
pub const UNM: Event = 18;
pub const BNOT: Event = 19;
pub const LT: Event = 20;
pub const LE: Event = 21;
pub const CONCAT: Event = 22;
pub const CALL: Event = 23;
pub const CLOSE: Event = 24;
pub const TOSTRING: Event = 25;
pub const NAME: Event = 26;
pub const PAIRS: Event = 27;
#[allow(dead_code)]
pub const METATABLE: Event = 28;

pub const EVENT_COUNT: usize = 29;

pub const EVENT_NAMES: [&str; EVENT_COUNT] = [
    "__index",
    "__newindex",
    "__gc",
    "__mode",
    "__len",
    "__eq",
    "__add",
    "__sub",
    "__mul",
    "__mod",
    "__pow",
    "__div",
    "__idiv",
    "__band",
    "__bor",
    "__bxor",
    "__shl",
    "__shr",
    "__unm",
    "__bnot",
    "__lt",
    "__le",
    "__concat",
    "__call",
    "__close",
    "__tostring",
    "__name",
    "__pairs",
    "__metatable",
];

/// The metatable of any value: tables and userdata carry their own, other
/// types share one per type (strings: the string metatable).
#[inline]
pub fn metatable<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> Option<Table<'gc>> {
    match v {
        Value::Table(t) => t.metatable(),
        Value::UserData(u) => u.metatable(),
        v => ctx.type_metatable(v),
    }
}

/// `mt[event]` raw, with the absence cache for the frequent events.
#[inline]
pub fn event_in<'gc>(ctx: Context<'gc>, mt: Table<'gc>, event: Event) -> Value<'gc> {
    let name = ctx.event_name(event);
    if event == INDEX {
        return mt.index_handler(&ctx, name);
    }
    if event > EQ {
        return mt.raw_get_str(name);
    }
    let bit = 1u32 << event;
    match mt.raw_get_event(name, bit) {
        None => Value::Nil,
        Some(v) => {
            if v.is_nil() {
                mt.mark_absent(&ctx, bit);
            }
            v
        }
    }
}

/// How many `__index` tables [`index_str`] follows before it leaves the
/// rest (and the loop check) to the general path.
const FAST_INDEX_DEPTH: usize = 8;

/// `t.key` for a short string key when no call is needed: the raw field,
/// else along the chain of `__index` tables (`luaV_finishget` without
/// its calls), as a method lookup through a class table does. `None`: a
/// function handler, a value that is not a table, or a long chain; the
/// caller takes the general path, which starts again from `t` (reads have
/// no side effects).
#[inline]
pub(crate) fn index_str<'gc>(
    ctx: Context<'gc>,
    mut t: Table<'gc>,
    key: super::string::String<'gc>,
) -> Option<Value<'gc>> {
    for _ in 0..FAST_INDEX_DEPTH {
        let (v, mt) = t.raw_get_str_and_meta(key);
        if !v.is_nil() {
            return Some(v);
        }
        let mt = match mt {
            None => return Some(v),
            Some(mt) => mt,
        };
        match mt.index_handler(&ctx, ctx.event_name(INDEX)) {
            Value::Nil => return Some(Value::Nil),
            Value::Table(next) => t = next,
            _ => return None,
        }
    }
    None
}

/// The metamethod `event` of `v`, or `Nil`.
#[inline]
pub fn event<'gc>(ctx: Context<'gc>, v: Value<'gc>, event: Event) -> Value<'gc> {
    match metatable(ctx, v) {
        Some(mt) => event_in(ctx, mt, event),
        None => Value::Nil,
    }
}

/// The name of a value's type for messages: `__name` when the metatable
/// has a string there (`luaT_objtypename`).
pub fn type_name_of<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> std::string::String {
    if let Some(mt) = metatable(ctx, v) {
        if matches!(v, Value::Table(_) | Value::UserData(_)) {
            if let Value::String(s) = mt.raw_get_str(ctx.event_name(NAME)) {
                return s.to_string();
            }
        }
    }
    v.type_name().to_string()
}

/// A function that calls `v` as Lua calls it: `v` itself when it is a
/// function, else its `__call` metamethod with `v` as first argument.
/// `Err(v)` when `v` is not callable.
pub fn call<'gc>(
    ctx: Context<'gc>,
    v: Value<'gc>,
) -> Result<super::value::Function<'gc>, Value<'gc>> {
    use super::callback::{Callback, CallbackReturn};
    use super::value::Function;
    match v {
        Value::Function(f) => Ok(f),
        v => match event(ctx, v, CALL) {
            Value::Nil => Err(v),
            // A chain of `__call`s resolves one link per call, as lua5.4's
            // `luaD_tryfuncTM` does.
            tm => Ok(Function::Callback(Callback::from_fn_with(
                &ctx,
                (tm, v),
                |&(tm, v), ctx, _, mut stack| {
                    stack.push_front(v);
                    match call(ctx, tm) {
                        Ok(function) => Ok(CallbackReturn::Call {
                            function,
                            then: None,
                        }),
                        Err(bad) => Err(super::error::Error::from_value(Value::String(
                            ctx.intern(
                                format!("attempt to call a {} value", type_name_of(ctx, bad))
                                    .as_bytes(),
                            ),
                        ))),
                    }
                },
            ))),
        },
    }
}

/// Most `__index`/`__newindex` links followed before giving up
/// (`MAXTAGLOOP`).
pub const MAX_TAG_LOOP: usize = 2000;

/// How an operation done on behalf of a library function ends: with its
/// answer now, or once `function` is called with `args` (its first result
/// is the answer; comparisons take its truthiness).
///
/// These are the table accesses and comparisons of the C API as library
/// functions use them (`lua_geti`, `lua_seti`, `luaL_len`, `lua_compare`):
/// the same rules as the interpreter's, for callers that cannot run a
/// metamethod inline and must ask the executor for a call instead
/// (`CallbackReturn::Call`, `SequencePoll::Call`). Errors are messages
/// without position, as lua5.4 raises them from a C function.
pub enum Step<'gc, T> {
    Done(T),
    Call {
        function: super::value::Function<'gc>,
        args: [Value<'gc>; 3],
        nargs: usize,
    },
}

impl<'gc, T> Step<'gc, T> {
    fn call(ctx: Context<'gc>, tm: Value<'gc>, args: &[Value<'gc>]) -> Result<Self, String> {
        let function = match call(ctx, tm) {
            Ok(f) => f,
            Err(v) => return Err(format!("attempt to call a {} value", type_name_of(ctx, v))),
        };
        let mut a = [Value::Nil; 3];
        a[..args.len()].copy_from_slice(args);
        Ok(Step::Call {
            function,
            args: a,
            nargs: args.len(),
        })
    }
}

/// `t[key]` with `__index` (`lua_gettable`).
pub fn index<'gc>(
    ctx: Context<'gc>,
    mut t: Value<'gc>,
    key: Value<'gc>,
) -> Result<Step<'gc, Value<'gc>>, String> {
    for _ in 0..MAX_TAG_LOOP {
        let tm = match t {
            Value::Table(tab) => {
                let v = tab.raw_get(key);
                if !v.is_nil() {
                    return Ok(Step::Done(v));
                }
                match tab.metatable() {
                    Some(mt) => event_in(ctx, mt, INDEX),
                    None => Value::Nil,
                }
            }
            _ => {
                let tm = event(ctx, t, INDEX);
                if tm.is_nil() {
                    return Err(format!("attempt to index a {} value", type_name_of(ctx, t)));
                }
                tm
            }
        };
        match tm {
            Value::Nil => return Ok(Step::Done(Value::Nil)),
            Value::Function(_) => return Step::call(ctx, tm, &[t, key]),
            _ => t = tm,
        }
    }
    Err("'__index' chain too long; possible loop".into())
}

/// `t[key] = v` with `__newindex` (`lua_settable`).
pub fn new_index<'gc>(
    ctx: Context<'gc>,
    mut t: Value<'gc>,
    key: Value<'gc>,
    v: Value<'gc>,
) -> Result<Step<'gc, ()>, String> {
    for _ in 0..MAX_TAG_LOOP {
        let tm = match t {
            Value::Table(tab) => {
                let tm = match tab.metatable() {
                    // A frozen table's `__newindex` answers every write.
                    Some(mt) if tab.is_frozen() || tab.raw_get(key).is_nil() => {
                        event_in(ctx, mt, NEWINDEX)
                    }
                    _ => Value::Nil,
                };
                if tm.is_nil() {
                    return match tab.raw_set(&ctx, key, v) {
                        Ok(()) => Ok(Step::Done(())),
                        Err(e) => Err(e.message().into()),
                    };
                }
                tm
            }
            _ => {
                let tm = event(ctx, t, NEWINDEX);
                if tm.is_nil() {
                    return Err(format!("attempt to index a {} value", type_name_of(ctx, t)));
                }
                tm
            }
        };
        match tm {
            Value::Function(_) => return Step::call(ctx, tm, &[t, key, v]),
            _ => t = tm,
        }
    }
    Err("'__newindex' chain too long; possible loop".into())
}

/// `#v` with `__len` (`lua_len`): the raw length is an integer; a
/// metamethod's answer is whatever it returns.
pub fn length<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> Result<Step<'gc, Value<'gc>>, String> {
    let tm = match v {
        Value::String(s) => return Ok(Step::Done(Value::Integer(s.len() as i64))),
        Value::Table(t) => match t.metatable() {
            Some(mt) => event_in(ctx, mt, LEN),
            None => Value::Nil,
        },
        _ => event(ctx, v, LEN),
    };
    match (tm, v) {
        (Value::Nil, Value::Table(t)) => Ok(Step::Done(Value::Integer(t.length()))),
        (Value::Nil, _) => Err(format!(
            "attempt to get length of a {} value",
            type_name_of(ctx, v)
        )),
        _ => Step::call(ctx, tm, &[v, v]),
    }
}

/// `a < b` with `__lt` (`lua_compare(LUA_OPLT)`): numbers exactly (through
/// [`super::number::compare`]), strings bytewise, anything else through the
/// metamethod of `a` or else `b`.
pub fn less_than<'gc>(
    ctx: Context<'gc>,
    a: Value<'gc>,
    b: Value<'gc>,
) -> Result<Step<'gc, bool>, String> {
    if let (Some(x), Some(y)) = (a.as_number(), b.as_number()) {
        return Ok(Step::Done(
            super::number::compare(x, y) == Some(std::cmp::Ordering::Less),
        ));
    }
    if let (Value::String(x), Value::String(y)) = (a, b) {
        return Ok(Step::Done(x < y));
    }
    let mut tm = event(ctx, a, LT);
    if tm.is_nil() {
        tm = event(ctx, b, LT);
    }
    if tm.is_nil() {
        let (t1, t2) = (type_name_of(ctx, a), type_name_of(ctx, b));
        return Err(if t1 == t2 {
            format!("attempt to compare two {t1} values")
        } else {
            format!("attempt to compare {t1} with {t2}")
        });
    }
    Step::call(ctx, tm, &[a, b])
}

/// `a == b` with `__eq` (`lua_compare(LUA_OPEQ)`).
pub fn equal<'gc>(
    ctx: Context<'gc>,
    a: Value<'gc>,
    b: Value<'gc>,
) -> Result<Step<'gc, bool>, String> {
    if a.raw_eq(b) {
        return Ok(Step::Done(true));
    }
    if !matches!(
        (a, b),
        (Value::Table(_), Value::Table(_)) | (Value::UserData(_), Value::UserData(_))
    ) {
        return Ok(Step::Done(false));
    }
    let mut tm = event(ctx, a, EQ);
    if tm.is_nil() {
        tm = event(ctx, b, EQ);
    }
    if tm.is_nil() {
        return Ok(Step::Done(false));
    }
    Step::call(ctx, tm, &[a, b])
}
