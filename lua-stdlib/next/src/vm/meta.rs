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
    let bit = 1u32 << event;
    if event <= EQ && mt.known_absent(bit) {
        return Value::Nil;
    }
    let v = mt.raw_get_str(ctx.event_name(event));
    if v.is_nil() && event <= EQ {
        mt.mark_absent(&ctx, bit);
    }
    v
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
            Value::Function(tm) => Ok(Function::Callback(Callback::from_fn_with(
                &ctx,
                (tm, v),
                |&(tm, v), _, _, mut stack| {
                    stack.push_front(v);
                    Ok(CallbackReturn::Call {
                        function: tm,
                        then: None,
                    })
                },
            ))),
            _ => Err(v),
        },
    }
}
