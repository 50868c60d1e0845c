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
//! not native stack. Output is capped at [`MAX_STRING`] (the memory
//! error), and the work — bytes written or read, entries visited — is
//! charged to the caller's instruction budget; `encode`, whose output can
//! be far larger than its input (one table referenced many times), stops
//! between steps when the step's budget is spent, so the host's budgets
//! end it.

use std::cell::RefCell;
use std::rc::Rc;

use gc_arena::Collect;

use crate::lib::args::{
    charge, check_string, message_error, work_left, LibError, LibResult, MAX_STRING,
};
use crate::number::format_g;
use crate::{
    BoxSequence, Callback, CallbackReturn, Context, Error, Execution, Sequence, SequencePoll,
    Stack, Table, UserData, Value,
};

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
fn array_mt<'gc>(ctx: Context<'gc>) -> Value<'gc> {
    registry_value(ctx, "lua-next.ext.cjson.array_mt", || {
        Value::Table(ctx.new_table())
    })
}

/// The metatable that makes an empty table encode as `[]`.
fn empty_array_mt<'gc>(ctx: Context<'gc>) -> Value<'gc> {
    registry_value(ctx, "lua-next.ext.cjson.empty_array_mt", || {
        Value::Table(ctx.new_table())
    })
}

/// `cjson.empty_array`: encodes as `[]`.
fn empty_array<'gc>(ctx: Context<'gc>) -> Value<'gc> {
    registry_value(ctx, "lua-next.ext.cjson.empty_array", || {
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
                    let conf = c.borrow().clone();
                    let r = decode(ctx, &mut exec, &conf, s.as_bytes());
                    finish(ctx, &mut stack, safe, r)
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

// ---------------------------------------------------------------------------
// Configuration functions
// ---------------------------------------------------------------------------

type Getter = fn(&Config) -> Setting;

#[derive(Clone, Copy)]
enum Setting {
    Bool(bool),
    Int(i64),
    Enum(u8),
}

/// `json_arg_init`: at most `n` arguments.
fn max_args<'gc>(stack: &Stack<'gc, '_>, n: usize) -> LibResult<'gc, ()> {
    if stack.len() > n {
        Err(LibError::Arg(n + 1, "found too many arguments".into()))
    } else {
        Ok(())
    }
}

/// `json_integer_option`: the range error always names argument 1, as
/// lua-cjson's does.
fn int_option<'gc>(
    stack: &Stack<'gc, '_>,
    i: usize,
    min: i64,
    max: i64,
) -> LibResult<'gc, Option<i64>> {
    if stack.get(i).is_nil() {
        return Ok(None);
    }
    let v = crate::lib::args::check_integer(stack, i)?;
    if v < min || v > max {
        return Err(LibError::Arg(
            1,
            format!("expected integer between {min} and {max}"),
        ));
    }
    Ok(Some(v))
}

/// `json_enum_option`: a boolean, or one of `options` by name.
fn enum_option<'gc>(
    ctx: Context<'gc>,
    stack: &Stack<'gc, '_>,
    i: usize,
    options: &[&str],
) -> LibResult<'gc, Option<u8>> {
    match stack.get(i) {
        Value::Nil => Ok(None),
        Value::Boolean(b) => Ok(Some(b as u8)),
        _ => {
            let s = check_string(ctx, stack, i)?;
            match options.iter().position(|o| o.as_bytes() == s.as_bytes()) {
                Some(p) => Ok(Some(p as u8)),
                None => Err(LibError::Arg(
                    i + 1,
                    format!("invalid option '{}'", String::from_utf8_lossy(s.as_bytes())),
                )),
            }
        }
    }
}

const ON_OFF: &[&str] = &["off", "on"];

fn setting_value<'gc>(ctx: Context<'gc>, s: Setting, options: &[&str]) -> Value<'gc> {
    match s {
        Setting::Bool(b) => Value::Boolean(b),
        Setting::Int(n) => Value::Integer(n),
        Setting::Enum(0) => Value::Boolean(false),
        Setting::Enum(1) => Value::Boolean(true),
        Setting::Enum(n) => {
            Value::String(ctx.intern(options.get(n as usize).copied().unwrap_or("").as_bytes()))
        }
    }
}

fn config_fns<'gc>(ctx: Context<'gc>, t: Table<'gc>, cfg: &Shared) {
    // A boolean setting: `f([on])` sets when given, returns the value.
    fn boolean<'gc>(
        ctx: Context<'gc>,
        t: Table<'gc>,
        cfg: &Shared,
        name: &'static str,
        get: Getter,
        put: fn(&mut Config, bool),
    ) {
        let c = cfg.clone();
        let f = Callback::from_fn(&ctx, move |ctx, exec, mut stack| {
            let r = max_args(&stack, 1)
                .and_then(|()| enum_option(ctx, &stack, 0, ON_OFF))
                .map(|v| {
                    if let Some(v) = v {
                        put(&mut c.borrow_mut(), v == 1);
                    }
                    let s = get(&c.borrow());
                    stack.replace(ctx, setting_value(ctx, s, ON_OFF));
                    CallbackReturn::Return
                });
            r.map_err(|e| e.into_error(ctx, &exec, name))
        });
        let _ = t.set(ctx, name, f);
    }
    // An integer setting in `min..=max`.
    fn integer<'gc>(
        ctx: Context<'gc>,
        t: Table<'gc>,
        cfg: &Shared,
        name: &'static str,
        (min, max): (i64, i64),
        get: Getter,
        put: fn(&mut Config, i64),
    ) {
        let c = cfg.clone();
        let f = Callback::from_fn(&ctx, move |ctx, exec, mut stack| {
            let r = max_args(&stack, 1)
                .and_then(|()| int_option(&stack, 0, min, max))
                .map(|v| {
                    if let Some(v) = v {
                        put(&mut c.borrow_mut(), v);
                    }
                    let s = get(&c.borrow());
                    stack.replace(ctx, setting_value(ctx, s, &[]));
                    CallbackReturn::Return
                });
            r.map_err(|e| e.into_error(ctx, &exec, name))
        });
        let _ = t.set(ctx, name, f);
    }
    const INT_MAX: i64 = i32::MAX as i64;
    integer(
        ctx,
        t,
        cfg,
        "encode_max_depth",
        (1, INT_MAX),
        |c| Setting::Int(c.encode_max_depth),
        |c, v| c.encode_max_depth = v,
    );
    integer(
        ctx,
        t,
        cfg,
        "decode_max_depth",
        (1, INT_MAX),
        |c| Setting::Int(c.decode_max_depth),
        |c, v| c.decode_max_depth = v,
    );
    integer(
        ctx,
        t,
        cfg,
        "encode_number_precision",
        (1, 16),
        |c| Setting::Int(c.precision as i64),
        |c, v| c.precision = v as usize,
    );
    boolean(
        ctx,
        t,
        cfg,
        "encode_empty_table_as_object",
        |c| Setting::Bool(c.empty_table_as_object),
        |c, v| c.empty_table_as_object = v,
    );
    boolean(
        ctx,
        t,
        cfg,
        "decode_array_with_array_mt",
        |c| Setting::Bool(c.decode_array_with_array_mt),
        |c, v| c.decode_array_with_array_mt = v,
    );
    boolean(
        ctx,
        t,
        cfg,
        "encode_keep_buffer",
        |c| Setting::Bool(c.keep_buffer),
        |c, v| c.keep_buffer = v,
    );
    boolean(
        ctx,
        t,
        cfg,
        "decode_invalid_numbers",
        |c| Setting::Bool(c.decode_invalid_numbers),
        |c, v| c.decode_invalid_numbers = v,
    );
    boolean(
        ctx,
        t,
        cfg,
        "encode_escape_forward_slash",
        |c| Setting::Bool(c.escape_forward_slash),
        |c, v| c.escape_forward_slash = v,
    );
    boolean(
        ctx,
        t,
        cfg,
        "encode_skip_unsupported_value_types",
        |c| Setting::Bool(c.skip_unsupported),
        |c, v| c.skip_unsupported = v,
    );

    // encode_invalid_numbers([off|on|null|bool])
    const INVALID: &[&str] = &["off", "on", "null"];
    let c = cfg.clone();
    let f = Callback::from_fn(&ctx, move |ctx, exec, mut stack| {
        let r = max_args(&stack, 1)
            .and_then(|()| enum_option(ctx, &stack, 0, INVALID))
            .map(|v| {
                if let Some(v) = v {
                    c.borrow_mut().encode_invalid_numbers = v;
                }
                let s = Setting::Enum(c.borrow().encode_invalid_numbers);
                stack.replace(ctx, setting_value(ctx, s, INVALID));
                CallbackReturn::Return
            });
        r.map_err(|e| e.into_error(ctx, &exec, "encode_invalid_numbers"))
    });
    let _ = t.set(ctx, "encode_invalid_numbers", f);

    // encode_sparse_array([convert[, ratio[, safe]]]) -> convert, ratio, safe
    let c = cfg.clone();
    let f = Callback::from_fn(&ctx, move |ctx, exec, mut stack| {
        let r = (|| {
            max_args(&stack, 3)?;
            let convert = enum_option(ctx, &stack, 0, ON_OFF)?;
            let ratio = int_option(&stack, 1, 0, INT_MAX)?;
            let safe = int_option(&stack, 2, 0, INT_MAX)?;
            let mut conf = c.borrow_mut();
            if let Some(v) = convert {
                conf.sparse_convert = v == 1;
            }
            if let Some(v) = ratio {
                conf.sparse_ratio = v;
            }
            if let Some(v) = safe {
                conf.sparse_safe = v;
            }
            stack.replace(
                ctx,
                (conf.sparse_convert, conf.sparse_ratio, conf.sparse_safe),
            );
            Ok(CallbackReturn::Return)
        })();
        r.map_err(|e: LibError<'gc>| e.into_error(ctx, &exec, "encode_sparse_array"))
    });
    let _ = t.set(ctx, "encode_sparse_array", f);
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/// One table being written.
#[derive(Collect)]
#[collect(no_drop)]
enum Frame<'gc> {
    Array {
        t: Table<'gc>,
        next: i64,
        len: i64,
        wrote: bool,
    },
    Object {
        t: Table<'gc>,
        key: Value<'gc>,
        wrote: bool,
    },
}

/// An encode in progress. It stops when the step's budget is spent and
/// goes on in the next step (a [`Sequence`] returning `Pending`), so a
/// small table that expands to a huge text (one table referenced many
/// times) cannot hold the worker past its budget.
#[derive(Collect)]
#[collect(no_drop)]
struct Encoder<'gc> {
    #[collect(require_static)]
    cfg: Config,
    safe: bool,
    out: Vec<u8>,
    frames: Vec<Frame<'gc>>,
    /// Entries visited (keys scanned for array detection included).
    visited: usize,
    array_mt: Value<'gc>,
    empty_array_mt: Value<'gc>,
}

/// What writing one value did.
enum Wrote {
    Done,
    /// An unsupported value skipped (`encode_skip_unsupported_value_types`).
    Skipped,
}

impl<'gc> Sequence<'gc> for Encoder<'gc> {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        mut exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        let r = self.step(ctx, &mut exec, None);
        match self.answer(ctx, &mut stack, r) {
            Ok(true) => Ok(SequencePoll::Return),
            Ok(false) => Ok(SequencePoll::Pending),
            Err(e) => Err(e.into_error(ctx, &exec, "encode")),
        }
    }
}

impl<'gc> Encoder<'gc> {
    fn new(ctx: Context<'gc>, cfg: Config, safe: bool) -> Encoder<'gc> {
        Encoder {
            cfg,
            safe,
            out: Vec::new(),
            frames: Vec::new(),
            visited: 0,
            array_mt: array_mt(ctx),
            empty_array_mt: empty_array_mt(ctx),
        }
    }

    /// Encodes `first` (when given) and goes on until done (`true`) or
    /// the step's budget is spent, charging what it did.
    fn step(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Execution<'gc, '_>,
        first: Option<Value<'gc>>,
    ) -> Result<bool, Failure> {
        let limit = work_left(exec);
        let start = (self.out.len(), self.visited);
        let r = match first {
            Some(v) => self.value(ctx, v).and_then(|_| self.run(ctx, limit, start)),
            None => self.run(ctx, limit, start),
        };
        charge(exec, self.work(start));
        r
    }

    fn work(&self, (out0, visited0): (usize, usize)) -> usize {
        self.out.len().saturating_sub(out0) + (self.visited - visited0) * 8
    }

    /// Puts a finished step's result on the stack (`true`), or says the
    /// encode goes on (`false`).
    fn answer(
        &mut self,
        ctx: Context<'gc>,
        stack: &mut Stack<'gc, '_>,
        r: Result<bool, Failure>,
    ) -> LibResult<'gc, bool> {
        let r = match r {
            Ok(false) => return Ok(false),
            Ok(true) => Ok(Value::String(ctx.intern(&self.out))),
            Err(f) => Err(f),
        };
        finish(ctx, stack, self.safe, r).map(|_| true)
    }

    /// Writes entries until every table is closed (`true`) or the work
    /// since `start` reaches `limit`.
    fn run(
        &mut self,
        ctx: Context<'gc>,
        limit: usize,
        start: (usize, usize),
    ) -> Result<bool, Failure> {
        while let Some(top) = self.frames.len().checked_sub(1) {
            if self.work(start) >= limit {
                return Ok(false);
            }
            if self.out.len() > MAX_STRING {
                return Err(Failure::Memory);
            }
            self.visited += 1;
            // The next entry of the innermost table, if any.
            let (is_array, step) = match &mut self.frames[top] {
                Frame::Array {
                    t,
                    next,
                    len,
                    wrote,
                } => {
                    let step = (*next <= *len).then(|| {
                        let v = t.raw_get_int(*next);
                        *next += 1;
                        (None, v, std::mem::replace(wrote, true))
                    });
                    (true, step)
                }
                Frame::Object { t, key, wrote } => {
                    let step = t.next(*key).ok().flatten().map(|(k, v)| {
                        *key = k;
                        (Some(k), v, std::mem::replace(wrote, true))
                    });
                    (false, step)
                }
            };
            let Some((key, v, was)) = step else {
                self.out.push(if is_array { b']' } else { b'}' });
                self.frames.pop();
                continue;
            };
            let mark = self.out.len();
            if was {
                self.out.push(b',');
            }
            match key {
                None => {}
                Some(Value::String(s)) => {
                    self.string(s.as_bytes());
                    self.out.push(b':');
                }
                Some(k @ (Value::Integer(_) | Value::Number(_))) => {
                    self.out.push(b'"');
                    self.number(k)?;
                    self.out.extend_from_slice(b"\":");
                }
                Some(other) => {
                    return Err(Failure::Msg(format!(
                        "Cannot serialise {}: table key must be a number or string",
                        other.type_name()
                    )))
                }
            }
            if let Wrote::Skipped = self.value(ctx, v)? {
                // Nothing was pushed: `top` is still this table's frame.
                self.out.truncate(mark);
                let (Frame::Array { wrote, .. } | Frame::Object { wrote, .. }) =
                    &mut self.frames[top];
                *wrote = was;
            }
        }
        Ok(true)
    }

    /// Writes a scalar, or opens a table (pushing its frame).
    fn value(&mut self, ctx: Context<'gc>, v: Value<'gc>) -> Result<Wrote, Failure> {
        match v {
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::Boolean(true) => self.out.extend_from_slice(b"true"),
            Value::Boolean(false) => self.out.extend_from_slice(b"false"),
            Value::Integer(_) | Value::Number(_) => self.number(v)?,
            Value::String(s) => self.string(s.as_bytes()),
            Value::Table(t) => self.table(ctx, t)?,
            _ if super::is_null(v) => self.out.extend_from_slice(b"null"),
            Value::UserData(ud) if ud.downcast_static::<EmptyArray>().is_some() => {
                self.out.extend_from_slice(b"[]")
            }
            other => {
                if self.cfg.skip_unsupported {
                    return Ok(Wrote::Skipped);
                }
                return Err(Failure::Msg(format!(
                    "Cannot serialise {}: type not supported",
                    other.type_name()
                )));
            }
        }
        Ok(Wrote::Done)
    }

    fn table(&mut self, ctx: Context<'gc>, t: Table<'gc>) -> Result<(), Failure> {
        let depth = self.frames.len() as i64 + 1;
        if depth > self.cfg.encode_max_depth {
            return Err(Failure::Msg(format!(
                "Cannot serialise, excessive nesting ({depth})"
            )));
        }
        let mt = t.metatable();
        let as_array =
            same_table(mt, self.array_mt) || mt.is_some_and(|m| !m.get(ctx, "__len").is_nil());
        let len = if as_array {
            // lua-cjson uses `lua_objlen` (a `__len` is not called here).
            t.length()
        } else {
            match self.array_length(t)? {
                Some(n) if n > 0 || !self.cfg.empty_table_as_object => n,
                _ => {
                    if same_table(mt, self.empty_array_mt) {
                        0
                    } else {
                        self.out.push(b'{');
                        self.frames.push(Frame::Object {
                            t,
                            key: Value::Nil,
                            wrote: false,
                        });
                        return Ok(());
                    }
                }
            }
        };
        self.out.push(b'[');
        self.frames.push(Frame::Array {
            t,
            next: 1,
            len,
            wrote: false,
        });
        Ok(())
    }

    /// `lua_array_length`: the array size when every key is a positive
    /// integer (not too sparse), `None` for an object.
    fn array_length(&mut self, t: Table<'gc>) -> Result<Option<i64>, Failure> {
        let mut max: i64 = 0;
        let mut items: i64 = 0;
        let mut key = Value::Nil;
        while let Ok(Some((k, _))) = t.next(key) {
            self.visited += 1;
            let n = match k {
                Value::Integer(n) if n >= 1 => n,
                Value::Number(f) if f >= 1.0 && f.floor() == f && f < 9.2e18 => f as i64,
                _ => return Ok(None),
            };
            max = max.max(n);
            items += 1;
            key = k;
        }
        let cfg = &self.cfg;
        if cfg.sparse_ratio > 0
            && max > items.saturating_mul(cfg.sparse_ratio)
            && max > cfg.sparse_safe
        {
            if !cfg.sparse_convert {
                return Err(Failure::Msg(
                    "Cannot serialise table: excessively sparse array".into(),
                ));
            }
            return Ok(None);
        }
        Ok(Some(max))
    }

    fn number(&mut self, v: Value<'gc>) -> Result<(), Failure> {
        let f = match v {
            Value::Integer(n) => {
                self.out.extend_from_slice(n.to_string().as_bytes());
                return Ok(());
            }
            Value::Number(f) => f,
            _ => return Ok(()),
        };
        if !f.is_finite() {
            match self.cfg.encode_invalid_numbers {
                0 => {
                    return Err(Failure::Msg(
                        "Cannot serialise number: must not be NaN or Infinity".into(),
                    ))
                }
                1 => {
                    let s: &[u8] = if f.is_nan() {
                        b"NaN"
                    } else if f < 0.0 {
                        b"-Infinity"
                    } else {
                        b"Infinity"
                    };
                    self.out.extend_from_slice(s);
                }
                _ => self.out.extend_from_slice(b"null"),
            }
            return Ok(());
        }
        if f.is_sign_negative() {
            self.out.push(b'-');
        }
        let s = format_g(f.abs(), self.cfg.precision, false, false);
        self.out.extend_from_slice(s.as_bytes());
        Ok(())
    }

    fn string(&mut self, s: &[u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.out.reserve(s.len() + 2);
        self.out.push(b'"');
        let mut start = 0;
        for (i, &c) in s.iter().enumerate() {
            let esc: &[u8] = match c {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'/' if self.cfg.escape_forward_slash => b"\\/",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0c => b"\\f",
                0..=0x1f | 0x7f => b"",
                _ => continue,
            };
            self.out.extend_from_slice(&s[start..i]);
            start = i + 1;
            if esc.is_empty() {
                self.out.extend_from_slice(b"\\u00");
                self.out.push(HEX[(c >> 4) as usize]);
                self.out.push(HEX[(c & 15) as usize]);
            } else {
                self.out.extend_from_slice(esc);
            }
        }
        self.out.extend_from_slice(&s[start..]);
        self.out.push(b'"');
    }
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Number,
    Integer,
    Boolean,
    Null,
    Colon,
    Comma,
    End,
    Error,
}

impl Kind {
    /// lua-cjson's `json_token_type_name`.
    fn name(self) -> &'static str {
        match self {
            Kind::ObjBegin => "T_OBJ_BEGIN",
            Kind::ObjEnd => "T_OBJ_END",
            Kind::ArrBegin => "T_ARR_BEGIN",
            Kind::ArrEnd => "T_ARR_END",
            Kind::Str => "T_STRING",
            Kind::Number => "T_NUMBER",
            Kind::Integer => "T_INTEGER",
            Kind::Boolean => "T_BOOLEAN",
            Kind::Null => "T_NULL",
            Kind::Colon => "T_COLON",
            Kind::Comma => "T_COMMA",
            Kind::End => "T_END",
            Kind::Error => "T_ERROR",
        }
    }
}

struct Token {
    kind: Kind,
    /// 0-based offset of the token (of the error, for `Kind::Error`).
    index: usize,
    /// The error text for `Kind::Error`.
    error: &'static str,
    number: f64,
    integer: i64,
    boolean: bool,
    /// Decoded bytes of a `Kind::Str` (in `Parser::tmp`).
    has_string: bool,
}

impl Token {
    fn new(kind: Kind, index: usize) -> Token {
        Token {
            kind,
            index,
            error: "",
            number: 0.0,
            integer: 0,
            boolean: false,
            has_string: false,
        }
    }
}

struct Parser<'a> {
    data: &'a [u8],
    pos: usize,
    tmp: Vec<u8>,
    depth: i64,
    invalid_numbers: bool,
}

/// An open container while decoding.
enum Open<'gc> {
    Array(Table<'gc>, i64),
    Object(Table<'gc>, Value<'gc>),
}

fn decode<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    cfg: &Config,
    data: &[u8],
) -> Result<Value<'gc>, Failure> {
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return Err(Failure::Msg(
            "JSON parser does not support UTF-16 or UTF-32".into(),
        ));
    }
    let mut p = Parser {
        data,
        pos: 0,
        tmp: Vec::new(),
        depth: 0,
        invalid_numbers: cfg.decode_invalid_numbers,
    };
    let mut values = 0usize;
    let r = p.run(ctx, cfg, &mut values);
    charge(exec, data.len() + values * 8);
    r
}

fn parse_error(exp: &str, t: &Token) -> Failure {
    let found = if t.kind == Kind::Error {
        t.error
    } else {
        t.kind.name()
    };
    Failure::Msg(format!(
        "Expected {exp} but found {found} at character {}",
        t.index + 1
    ))
}

impl<'a> Parser<'a> {
    /// The byte at `i`; past the end reads as the C string's NUL.
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    fn run<'gc>(
        &mut self,
        ctx: Context<'gc>,
        cfg: &Config,
        values: &mut usize,
    ) -> Result<Value<'gc>, Failure> {
        let array_mt = match (cfg.decode_array_with_array_mt, array_mt(ctx)) {
            (true, Value::Table(t)) => Some(t),
            _ => None,
        };
        let mut open: Vec<Open<'gc>> = Vec::new();
        let mut tok = self.next_token();
        loop {
            // `tok` starts a value.
            *values += 1;
            let mut value = match tok.kind {
                Kind::Str => Value::String(ctx.intern(&self.tmp)),
                Kind::Number => Value::Number(tok.number),
                Kind::Integer => Value::Integer(tok.integer),
                Kind::Boolean => Value::Boolean(tok.boolean),
                Kind::Null => super::null(ctx),
                Kind::ObjBegin => {
                    self.descend(cfg)?;
                    let t = ctx.new_table();
                    tok = self.next_token();
                    if tok.kind == Kind::ObjEnd {
                        self.depth -= 1;
                        Value::Table(t)
                    } else {
                        let key = self.object_key(ctx, &tok)?;
                        tok = self.next_token();
                        open.push(Open::Object(t, key));
                        continue;
                    }
                }
                Kind::ArrBegin => {
                    self.descend(cfg)?;
                    let t = ctx.new_table();
                    if let Some(mt) = array_mt {
                        let _ = t.set_metatable(&ctx, Some(mt));
                    }
                    tok = self.next_token();
                    if tok.kind == Kind::ArrEnd {
                        self.depth -= 1;
                        Value::Table(t)
                    } else {
                        open.push(Open::Array(t, 1));
                        continue;
                    }
                }
                _ => return Err(parse_error("value", &tok)),
            };
            // Attach the finished value to the open containers, closing
            // those that end here.
            loop {
                match open.last_mut() {
                    None => {
                        let end = self.next_token();
                        if end.kind != Kind::End {
                            return Err(parse_error("the end", &end));
                        }
                        return Ok(value);
                    }
                    Some(Open::Array(t, i)) => {
                        let _ = t.raw_set_int(&ctx, *i, value);
                        *i += 1;
                        let t = *t;
                        tok = self.next_token();
                        match tok.kind {
                            Kind::ArrEnd => {
                                self.depth -= 1;
                                open.pop();
                                value = Value::Table(t);
                            }
                            Kind::Comma => {
                                tok = self.next_token();
                                break;
                            }
                            _ => return Err(parse_error("comma or array end", &tok)),
                        }
                    }
                    Some(Open::Object(t, key)) => {
                        let _ = t.raw_set(&ctx, *key, value);
                        let t = *t;
                        tok = self.next_token();
                        match tok.kind {
                            Kind::ObjEnd => {
                                self.depth -= 1;
                                open.pop();
                                value = Value::Table(t);
                            }
                            Kind::Comma => {
                                tok = self.next_token();
                                let k = self.object_key(ctx, &tok)?;
                                if let Some(Open::Object(_, key)) = open.last_mut() {
                                    *key = k;
                                }
                                tok = self.next_token();
                                break;
                            }
                            _ => return Err(parse_error("comma or object end", &tok)),
                        }
                    }
                }
            }
        }
    }

    /// An object key and its colon; leaves the position on the value.
    fn object_key<'gc>(&mut self, ctx: Context<'gc>, tok: &Token) -> Result<Value<'gc>, Failure> {
        if tok.kind != Kind::Str {
            return Err(parse_error("object key string", tok));
        }
        let key = Value::String(ctx.intern(&self.tmp));
        let colon = self.next_token();
        if colon.kind != Kind::Colon {
            return Err(parse_error("colon", &colon));
        }
        Ok(key)
    }

    fn descend(&mut self, cfg: &Config) -> Result<(), Failure> {
        self.depth += 1;
        if self.depth > cfg.decode_max_depth {
            return Err(Failure::Msg(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth, self.pos
            )));
        }
        Ok(())
    }

    fn next_token(&mut self) -> Token {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let index = self.pos;
        let ch = self.at(index);
        let single = match ch {
            b'{' => Some(Kind::ObjBegin),
            b'}' => Some(Kind::ObjEnd),
            b'[' => Some(Kind::ArrBegin),
            b']' => Some(Kind::ArrEnd),
            b',' => Some(Kind::Comma),
            b':' => Some(Kind::Colon),
            0 => return Token::new(Kind::End, index),
            _ => None,
        };
        if let Some(kind) = single {
            self.pos += 1;
            return Token::new(kind, index);
        }
        let rest = &self.data[index.min(self.data.len())..];
        match ch {
            b'"' => self.string_token(),
            b'-' | b'0'..=b'9' => {
                if !self.invalid_numbers && self.is_invalid_number() {
                    return self.error_token("invalid number");
                }
                self.number_token()
            }
            _ if rest.starts_with(b"true") => {
                self.pos += 4;
                let mut t = Token::new(Kind::Boolean, index);
                t.boolean = true;
                t
            }
            _ if rest.starts_with(b"false") => {
                self.pos += 5;
                Token::new(Kind::Boolean, index)
            }
            _ if rest.starts_with(b"null") => {
                self.pos += 4;
                Token::new(Kind::Null, index)
            }
            b'+' | b'i' | b'I' | b'n' | b'N'
                if self.invalid_numbers && self.is_invalid_number() =>
            {
                self.number_token()
            }
            _ => self.error_token("invalid token"),
        }
    }

    fn error_token(&self, what: &'static str) -> Token {
        let mut t = Token::new(Kind::Error, self.pos);
        t.error = what;
        t
    }

    /// `json_is_invalid_number`: forms strtod accepts that JSON does not.
    fn is_invalid_number(&self) -> bool {
        let mut p = self.pos;
        match self.at(p) {
            b'+' => return true,
            b'-' => p += 1,
            _ => {}
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return c2 | 0x20 == b'x' || c2.is_ascii_digit();
        }
        if c <= b'9' {
            return false;
        }
        let word = |w: &[u8]| {
            self.data
                .get(p..p + 3)
                .is_some_and(|s| s.eq_ignore_ascii_case(w))
        };
        word(b"inf") || word(b"nan")
    }

    /// `json_next_number_token`: `strtoll(ptr, &end, 0)`, then `strtod`
    /// when a fraction or exponent follows. A decimal integer too large
    /// for 64 bits reads as a float (strtoll would clamp it).
    fn number_token(&mut self) -> Token {
        let start = self.pos;
        let mut p = start;
        let neg = match self.at(p) {
            b'-' => {
                p += 1;
                true
            }
            b'+' => {
                p += 1;
                false
            }
            _ => false,
        };
        let (base, digits_from) = if self.at(p) == b'0' && self.at(p + 1) | 0x20 == b'x' {
            if self.at(p + 2).is_ascii_hexdigit() {
                (16, p + 2)
            } else {
                (8, p)
            }
        } else if self.at(p) == b'0' {
            (8, p)
        } else {
            (10, p)
        };
        let mut end = digits_from;
        while (self.at(end) as char).is_digit(base) {
            end += 1;
        }
        if end == digits_from {
            return self.error_token("invalid number");
        }
        let after = self.at(end);
        if base != 16 && matches!(after, b'.' | b'e' | b'E') {
            let (f, e) = strtod(self.data, start);
            self.pos = e;
            let mut t = Token::new(Kind::Number, start);
            t.number = f;
            return t;
        }
        let text = std::str::from_utf8(&self.data[digits_from..end]).unwrap_or("0");
        self.pos = end;
        match i64::from_str_radix(text, base) {
            Ok(n) => {
                let mut t = Token::new(Kind::Integer, start);
                t.integer = if neg { n.wrapping_neg() } else { n };
                t
            }
            Err(_) if neg && text.len() > 1 => {
                // i64::MIN's magnitude does not fit; anything longer is a float.
                let mut t = Token::new(Kind::Number, start);
                t.number = strtod(self.data, start).0;
                if let Ok(n) = i64::from_str_radix(&format!("-{text}"), base) {
                    t.kind = Kind::Integer;
                    t.integer = n;
                }
                t
            }
            Err(_) => {
                let mut t = Token::new(Kind::Number, start);
                t.number = if base == 10 {
                    strtod(self.data, start).0
                } else {
                    let mag = text.bytes().fold(0f64, |a, d| {
                        a * base as f64 + (d as char).to_digit(base).unwrap_or(0) as f64
                    });
                    if neg {
                        -mag
                    } else {
                        mag
                    }
                };
                t
            }
        }
    }

    fn string_token(&mut self) -> Token {
        let index = self.pos;
        self.pos += 1;
        self.tmp.clear();
        loop {
            let ch = self.at(self.pos);
            match ch {
                b'"' => break,
                0 => return self.error_token("unexpected end of string"),
                b'\\' => {
                    let c = match self.at(self.pos + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            if self.unicode_escape() {
                                continue;
                            }
                            return self.error_token("invalid unicode escape code");
                        }
                        _ => return self.error_token("invalid escape code"),
                    };
                    self.tmp.push(c);
                    self.pos += 2;
                }
                _ => {
                    // Copy the run of plain bytes at once.
                    let from = self.pos;
                    let mut to = from + 1;
                    while !matches!(self.at(to), b'"' | b'\\' | 0) {
                        to += 1;
                    }
                    self.tmp.extend_from_slice(&self.data[from..to]);
                    self.pos = to;
                }
            }
        }
        self.pos += 1;
        let mut t = Token::new(Kind::Str, index);
        t.has_string = true;
        t
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let mut v = 0;
        for i in 0..4 {
            v = v << 4 | (self.at(at + i) as char).to_digit(16)?;
        }
        Some(v)
    }

    /// `json_append_unicode_escape`: `\uXXXX` (a surrogate pair as two)
    /// to UTF-8 in `tmp`.
    fn unicode_escape(&mut self) -> bool {
        let Some(mut cp) = self.hex4(self.pos + 2) else {
            return false;
        };
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 {
                return false;
            }
            if self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return false;
            }
            let Some(low) = self.hex4(self.pos + 8) else {
                return false;
            };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        let Some(c) = char::from_u32(cp) else {
            return false;
        };
        let mut buf = [0u8; 4];
        self.tmp
            .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        self.pos += len;
        true
    }
}

/// C's `strtod` on decimal text from `start`: the value and where it
/// stopped (`1.` and `1e` stop after `1.` and `1`).
fn strtod(data: &[u8], start: usize) -> (f64, usize) {
    let at = |i: usize| data.get(i).copied().unwrap_or(0);
    let mut p = start;
    if matches!(at(p), b'+' | b'-') {
        p += 1;
    }
    while at(p).is_ascii_digit() {
        p += 1;
    }
    if at(p) == b'.' {
        p += 1;
        while at(p).is_ascii_digit() {
            p += 1;
        }
    }
    if at(p) | 0x20 == b'e' {
        let mut q = p + 1;
        if matches!(at(q), b'+' | b'-') {
            q += 1;
        }
        if at(q).is_ascii_digit() {
            while at(q).is_ascii_digit() {
                q += 1;
            }
            p = q;
        }
    }
    let text = std::str::from_utf8(&data[start..p]).unwrap_or("0");
    let text = text.strip_prefix('+').unwrap_or(text);
    let text = text.strip_suffix('.').unwrap_or(text);
    let text = if let Some(r) = text.strip_prefix("-.") {
        format!("-0.{r}")
    } else {
        text.to_string()
    };
    (text.parse().unwrap_or(0.0), p)
}
