//! `cjson` and `cjson.safe`: OpenResty's lua-cjson 2.1.0.x, the JSON
//! library Kong code `require`s.
//!
//! What a Kong function sees is lua-cjson's: tables are arrays when every
//! key is a positive integer (sparse ones per `encode_sparse_array`),
//! objects otherwise, in table iteration order; `{}` is `{}` unless
//! `encode_empty_table_as_object(false)`; `array_mt`, `empty_array_mt`
//! and `empty_array` force arrays; integers print exactly, floats as
//! `%.14g`; `/` is escaped as `\/`; `null` decodes to [`super::null`]; the
//! error messages are lua-cjson's (`Cannot serialise function: type not
//! supported`, `Expected value but found T_END at character 1`), and
//! `cjson.safe` returns `nil, message` instead of raising.
//!
//! Unlike the C library, neither direction recurses on the Rust stack:
//! both walk with an explicit stack, so the nesting limits
//! (`encode_max_depth` / `decode_max_depth`, 1000 by default) bound heap,
//! not native stack. Output is capped at `args::MAX_STRING` (the memory
//! error), and the work — bytes written or read, entries visited — is
//! charged to the caller's instruction budget. Both stop between steps
//! when the step's budget is spent and go on in the next (`encode`'s
//! output can be far larger than its input: one table referenced many
//! times), so the host's budgets end a long one.

mod config;
mod decode;
mod encode;

use std::cell::RefCell;
use std::rc::Rc;

use crate::lib::args::{check_string, message_error, LibError, LibResult};
use crate::{BoxSequence, Callback, CallbackReturn, Context, Stack, Table, UserData, Value};

use config::config_fns;
use decode::Parser;
use encode::Encoder;

/// `_VERSION` of the lua-cjson this follows.
const VERSION: &str = "2.1.0.11";

/// Per-instance settings (`cjson.new()` makes another instance).
#[derive(Clone, Debug)]
struct Config {
    sparse_convert: bool,
    sparse_ratio: i64,
    sparse_safe: i64,
    encode_max_depth: i64,
    decode_max_depth: i64,
    /// 0: error, 1: `NaN`/`Infinity`, 2: `null`.
    encode_invalid_numbers: u8,
    decode_invalid_numbers: bool,
    precision: usize,
    keep_buffer: bool,
    empty_table_as_object: bool,
    decode_array_with_array_mt: bool,
    escape_forward_slash: bool,
    skip_unsupported: bool,
}

impl Default for Config {
    fn default() -> Self {
        // lua_cjson.c's DEFAULT_* values.
        Config {
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: true,
            precision: 14,
            keep_buffer: true,
            empty_table_as_object: true,
            decode_array_with_array_mt: false,
            escape_forward_slash: true,
            skip_unsupported: false,
        }
    }
}

type Shared = Rc<RefCell<Config>>;

/// Why an encode or decode failed: a message (`cjson.safe` returns it) or
/// the memory error (raised by both, as lua-cjson's protected call does).
enum Failure {
    Msg(String),
    Memory,
}

/// `require "cjson"`.
pub fn load_cjson<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    new_instance(ctx, false)
}

/// `require "cjson.safe"`: encode and decode return `nil, message`.
pub fn load_cjson_safe<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    new_instance(ctx, true)
}

/// Marker behind `cjson.empty_array`.
struct EmptyArray;

fn registry_value<'gc>(
    ctx: Context<'gc>,
    key: &'static str,
    make: impl FnOnce() -> Value<'gc>,
) -> Value<'gc> {
    let v = ctx.registry().get(ctx, key);
    if !v.is_nil() {
        return v;
    }
    let v = make();
    let _ = ctx.registry().set(ctx, key, v);
    v
}

/// The metatable that makes a table encode as an array (`cjson.array_mt`).
pub fn array_mt<'gc>(ctx: Context<'gc>) -> Value<'gc> {
    registry_value(ctx, "lua-stdlib.ext.cjson.array_mt", || {
        Value::Table(ctx.new_table())
    })
}

/// The metatable that makes an empty table encode as `[]`.
fn empty_array_mt<'gc>(ctx: Context<'gc>) -> Value<'gc> {
    registry_value(ctx, "lua-stdlib.ext.cjson.empty_array_mt", || {
        Value::Table(ctx.new_table())
    })
}

/// `cjson.empty_array`: encodes as `[]`.
fn empty_array<'gc>(ctx: Context<'gc>) -> Value<'gc> {
    registry_value(ctx, "lua-stdlib.ext.cjson.empty_array", || {
        Value::UserData(UserData::new_static(&ctx, EmptyArray))
    })
}

fn same_table<'gc>(a: Option<Table<'gc>>, b: Value<'gc>) -> bool {
    matches!((a, b), (Some(a), Value::Table(b)) if a.ptr_eq(b))
}

fn new_instance<'gc>(ctx: Context<'gc>, safe: bool) -> Table<'gc> {
    let cfg: Shared = Rc::new(RefCell::new(Config::default()));
    let t = ctx.new_table();
    let set = |name: &'static str, v: Value<'gc>| {
        // A fresh table: string keys cannot fail.
        let _ = t.set(ctx, name, v);
    };
    let c = cfg.clone();
    set(
        "encode",
        Callback::from_fn(&ctx, move |ctx, mut exec, mut stack| {
            let r = one_argument(&stack).and_then(|()| {
                let mut e = Encoder::new(ctx, c.borrow().clone(), safe);
                let r = e.step(ctx, &mut exec, Some(stack.get(0)));
                Ok(match e.answer(ctx, &mut stack, r)? {
                    true => CallbackReturn::Return,
                    false => CallbackReturn::Sequence(BoxSequence::new(&ctx, e)),
                })
            });
            r.map_err(|e| e.into_error(ctx, &exec, "encode"))
        })
        .into(),
    );
    let c = cfg.clone();
    set(
        "decode",
        Callback::from_fn(&ctx, move |ctx, mut exec, mut stack| {
            let r = one_argument(&stack)
                .and_then(|()| check_string(ctx, &stack, 0))
                .and_then(|s| {
                    let mut parser = match Parser::new(ctx, c.borrow().clone(), safe, s) {
                        Ok(p) => p,
                        Err(f) => return finish(ctx, &mut stack, safe, Err(f)),
                    };
                    let r = parser.step(ctx, &mut exec);
                    Ok(match parser.answer(ctx, &mut stack, r)? {
                        true => CallbackReturn::Return,
                        false => CallbackReturn::Sequence(BoxSequence::new(&ctx, parser)),
                    })
                });
            r.map_err(|e| e.into_error(ctx, &exec, "decode"))
        })
        .into(),
    );
    config_fns(ctx, t, &cfg);
    set(
        "new",
        Callback::from_fn(&ctx, move |ctx, _, mut stack| {
            stack.replace(ctx, new_instance(ctx, safe));
            Ok(CallbackReturn::Return)
        })
        .into(),
    );
    set("null", super::null(ctx));
    set("empty_array", empty_array(ctx));
    set("array_mt", array_mt(ctx));
    set("empty_array_mt", empty_array_mt(ctx));
    set("_NAME", Value::String(ctx.intern(b"cjson")));
    set("_VERSION", Value::String(ctx.intern(VERSION.as_bytes())));
    t
}

/// lua-cjson's `luaL_argcheck(l, lua_gettop(l) == 1, 1, "expected 1 argument")`.
fn one_argument<'gc>(stack: &Stack<'gc, '_>) -> LibResult<'gc, ()> {
    if stack.len() == 1 {
        Ok(())
    } else {
        Err(LibError::Arg(1, "expected 1 argument".into()))
    }
}

fn finish<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    safe: bool,
    r: Result<Value<'gc>, Failure>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    match r {
        Ok(v) => stack.replace(ctx, v),
        Err(Failure::Memory) => return Err(LibError::Raw(message_error(ctx, "not enough memory"))),
        // json_protect_conversion: the inner call's error has no position.
        Err(Failure::Msg(m)) if safe => stack.replace(ctx, (Value::Nil, m)),
        Err(Failure::Msg(m)) => return Err(LibError::Msg(m)),
    }
    Ok(CallbackReturn::Return)
}
