//! Rust callbacks that compiled code calls where the piccolo 0.3.3 VM gets
//! Lua 5.4 semantics wrong: `..` (number formatting, `__concat`, errors on
//! nil), `//` and `%` (floor semantics, division by zero, metamethods),
//! method calls on strings, numeric `for` preparation and `<close>`.
//!
//! The code generator reaches these through hidden upvalues of each main
//! chunk (see `compiler::codegen`), so user code cannot see or replace them.
//! One set of callbacks exists per VM, created on first use.

mod close;
mod ops;

use std::fmt::Write as _;

use gc_arena::{Collect, Rootable};
use piccolo::{
    meta_ops, BoxSequence, Callback, CallbackReturn, Context, Error, Execution, Function, Sequence,
    SequencePoll, Singleton, Stack, Value,
};

/// The operations compiled code delegates to Rust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Helper {
    Concat,
    IDiv,
    Mod,
    Method,
    ForPrep,
    Close,
    Arith,
    Compare,
    ConcatNamed,
    Raise,
    MethodNamed,
    Protect,
    Pack,
    Unpack,
}

/// Operator codes passed to the `Arith` helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    IDiv,
    BAnd,
    BOr,
    BXor,
    Shl,
    Shr,
    Unm,
    BNot,
}

/// Operator codes passed to the `Compare` helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Lt,
    Le,
}

impl Helper {
    const ALL: [Helper; 14] = [
        Helper::Concat,
        Helper::IDiv,
        Helper::Mod,
        Helper::Method,
        Helper::ForPrep,
        Helper::Close,
        Helper::Arith,
        Helper::Compare,
        Helper::ConcatNamed,
        Helper::Raise,
        Helper::MethodNamed,
        Helper::Protect,
        Helper::Pack,
        Helper::Unpack,
    ];

    /// The upvalue name used inside the compiler; the leading NUL makes it
    /// impossible to spell in Lua source.
    pub fn hidden_name(self) -> &'static [u8] {
        match self {
            Helper::Concat => b"\0concat",
            Helper::IDiv => b"\0idiv",
            Helper::Mod => b"\0mod",
            Helper::Method => b"\0method",
            Helper::ForPrep => b"\0forprep",
            Helper::Close => b"\0close",
            Helper::Arith => b"\0arith",
            Helper::Compare => b"\0compare",
            Helper::ConcatNamed => b"\0concatn",
            Helper::Raise => b"\0raise",
            Helper::MethodNamed => b"\0methodn",
            Helper::Protect => b"\0protect",
            Helper::Pack => b"\0pack",
            Helper::Unpack => b"\0unpack",
        }
    }

    pub fn from_hidden_name(name: &[u8]) -> Option<Helper> {
        Self::ALL.into_iter().find(|h| h.hidden_name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Per-VM runtime state: the helper callbacks.
#[derive(Collect)]
#[collect(no_drop)]
pub struct Runtime<'gc> {
    helpers: Vec<Callback<'gc>>,
}

impl<'gc> Singleton<'gc> for Runtime<'gc> {
    fn create(ctx: Context<'gc>) -> Self {
        let helpers = Helper::ALL
            .into_iter()
            .map(|h| match h {
                Helper::Concat => {
                    Callback::from_fn(&ctx, |ctx, exec, stack| concat(ctx, exec, stack, false))
                }
                Helper::ConcatNamed => {
                    Callback::from_fn(&ctx, |ctx, exec, stack| concat(ctx, exec, stack, true))
                }
                Helper::IDiv => Callback::from_fn(&ctx, |ctx, exec, stack| {
                    arith(ctx, exec, stack, Arith::IDiv)
                }),
                Helper::Mod => {
                    Callback::from_fn(&ctx, |ctx, exec, stack| arith(ctx, exec, stack, Arith::Mod))
                }
                Helper::Method => {
                    Callback::from_fn(&ctx, |ctx, exec, stack| method(ctx, exec, stack, false))
                }
                Helper::MethodNamed => {
                    Callback::from_fn(&ctx, |ctx, exec, stack| method(ctx, exec, stack, true))
                }
                Helper::ForPrep => Callback::from_fn(&ctx, for_prep),
                Helper::Close => Callback::from_fn(&ctx, close),
                Helper::Arith => Callback::from_fn(&ctx, ops::arith),
                Helper::Raise => Callback::from_fn(&ctx, raise),
                Helper::Protect => Callback::from_fn(&ctx, close::protect),
                Helper::Pack => Callback::from_fn(&ctx, close::pack),
                Helper::Unpack => Callback::from_fn(&ctx, close::unpack),
                Helper::Compare => Callback::from_fn(&ctx, ops::compare),
            })
            .collect();
        Runtime { helpers }
    }
}

fn runtime<'gc>(ctx: Context<'gc>) -> &'gc Runtime<'gc> {
    ctx.singleton::<Rootable![Runtime<'_>]>()
}

/// The callback implementing `h` in this VM.
pub fn helper<'gc>(ctx: Context<'gc>, h: Helper) -> Callback<'gc> {
    runtime(ctx).helpers[h.index()]
}

/// What indexing a string yields: the string metatable's `__index` (the
/// string library once `env::load_stdlib` ran), else the global `string`.
fn string_index<'gc>(ctx: Context<'gc>) -> Value<'gc> {
    match crate::env::string_metatable(ctx).get(ctx, "__index") {
        Value::Nil => ctx.globals().get(ctx, "string"),
        v => v,
    }
}

/// A runtime error with lua5.4's `chunk:line:` prefix of the calling Lua
/// code, as a Lua string.
pub fn error_at<'gc>(ctx: Context<'gc>, exec: &Execution<'gc, '_>, msg: &str) -> Error<'gc> {
    let mut s = String::new();
    if let Some(f) = exec.upper_lua_frame() {
        let _ = write!(s, "{}:{}: ", f.chunk_name, f.current_line);
    }
    s.push_str(msg);
    Error::from_value(Value::String(ctx.intern(s.as_bytes())))
}

/// Formats a float as lua5.4 does (`%.14g`, plus `.0` for integral values).
pub fn format_float(f: f64, out: &mut Vec<u8>) {
    if f.is_nan() {
        out.extend_from_slice(if f.is_sign_negative() {
            b"-nan"
        } else {
            b"nan"
        });
        return;
    }
    if f.is_infinite() {
        out.extend_from_slice(if f < 0.0 { b"-inf" } else { b"inf" });
        return;
    }
    let start = out.len();
    format_g(f, 14, out);
    if out[start..]
        .iter()
        .all(|&c| c.is_ascii_digit() || c == b'-')
    {
        out.extend_from_slice(b".0");
    }
}

/// C's `%.{prec}g` for finite values.
pub fn format_g(f: f64, prec: usize, out: &mut Vec<u8>) {
    let prec = prec.max(1);
    if f == 0.0 {
        if f.is_sign_negative() {
            out.push(b'-');
        }
        out.push(b'0');
        return;
    }
    let sci = format!("{:.*e}", prec - 1, f);
    let (mant, exp) = sci.split_once('e').expect("exponent present");
    let exp: i32 = exp.parse().expect("valid exponent");
    if exp < -4 || exp >= prec as i32 {
        let mant = strip_zeros(mant);
        out.extend_from_slice(mant.as_bytes());
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let _ = write!(VecWriter(out), "{:02}", exp.abs());
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        let fixed = format!("{:.*}", decimals, f);
        out.extend_from_slice(strip_zeros(&fixed).as_bytes());
    }
}

struct VecWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Appends the string form of a string or number; false for other values.
fn push_stringish(v: Value<'_>, out: &mut Vec<u8>) -> bool {
    match v {
        Value::String(s) => out.extend_from_slice(s.as_bytes()),
        Value::Integer(i) => {
            let _ = write!(VecWriter(out), "{i}");
        }
        Value::Number(f) => format_float(f, out),
        _ => return false,
    }
    true
}

fn is_stringish(v: Value<'_>) -> bool {
    matches!(v, Value::String(_) | Value::Integer(_) | Value::Number(_))
}

pub(crate) fn metamethod<'gc>(ctx: Context<'gc>, v: Value<'gc>, name: &'static str) -> Value<'gc> {
    let mt = match v {
        Value::Table(t) => t.metatable(),
        Value::UserData(u) => u.metatable(),
        _ => None,
    };
    mt.map(|mt| mt.get(ctx, name)).unwrap_or(Value::Nil)
}

pub(crate) fn type_name(v: Value<'_>) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        Value::UserData(_) => "userdata",
    }
}

// ---- concatenation -------------------------------------------------------

/// `concat(a, b, ...)`, or `concat_named(names, a, b, ...)` where `names`
/// holds how each operand is named in error messages, one per line.
fn concat<'gc>(
    ctx: Context<'gc>,
    exec: Execution<'gc, '_>,
    mut stack: Stack<'gc, '_>,
    named: bool,
) -> Result<CallbackReturn<'gc>, Error<'gc>> {
    let first = usize::from(named);
    let n = stack.len();
    if n > first && (first..n).all(|i| is_stringish(stack.get(i))) {
        let mut buf = Vec::new();
        for i in first..n {
            push_stringish(stack.get(i), &mut buf);
        }
        exec.fuel_consume(buf.len());
        let s = new_string(ctx, &buf);
        stack.replace(ctx, s);
        return Ok(CallbackReturn::Return);
    }
    let names = if named { stack.get(0) } else { Value::Nil };
    let values: Vec<Value<'gc>> = (first..n).map(|i| stack.get(i)).collect();
    let origin = (0..values.len()).map(Some).collect();
    stack.clear();
    let seq = ConcatSeq {
        values,
        origin,
        names,
    };
    Ok(CallbackReturn::Sequence(BoxSequence::new(&ctx, seq)))
}

/// `raise(kind, value, name)`: the error for calling, indexing, doing
/// arithmetic on ... (see `Guard` in the code generator) a nil or false
/// value, e.g. `attempt to call a nil value (global 'f')`.
fn raise<'gc>(
    ctx: Context<'gc>,
    exec: Execution<'gc, '_>,
    stack: Stack<'gc, '_>,
) -> Result<CallbackReturn<'gc>, Error<'gc>> {
    let what = match stack.get(0) {
        Value::Integer(0) => "call",
        Value::Integer(2) => "perform arithmetic on",
        Value::Integer(3) => "perform bitwise operation on",
        Value::Integer(4) => "get length of",
        _ => "index",
    };
    let name = operand_name(stack.get(2), 0);
    Err(error_at(
        ctx,
        &exec,
        &format!(
            "attempt to {what} a {} value{name}",
            type_name(stack.get(1))
        ),
    ))
}

/// A string built at run time: short ones are interned, long ones (as in
/// lua5.4, over 40 bytes) are not, which spares the VM's intern table
/// (it never shrinks) the many unique strings a gateway builds.
fn new_string<'gc>(ctx: Context<'gc>, bytes: &[u8]) -> piccolo::String<'gc> {
    if bytes.len() <= 40 {
        ctx.intern(bytes)
    } else {
        piccolo::String::from_slice(&ctx, bytes)
    }
}

/// Line `i` of a names string (see `compiler::codegen`), as ` (local 'x')`.
pub(crate) fn operand_name(names: Value<'_>, i: usize) -> String {
    let Value::String(s) = names else {
        return String::new();
    };
    match s.as_bytes().split(|&c| c == b'\n').nth(i) {
        Some(n) if !n.is_empty() => format!(" ({})", String::from_utf8_lossy(n)),
        _ => String::new(),
    }
}

trait FuelExt {
    fn fuel_consume(self, bytes: usize);
}

impl FuelExt for Execution<'_, '_> {
    fn fuel_consume(mut self, bytes: usize) {
        self.fuel()
            .consume((bytes / 64).min(i32::MAX as usize) as i32);
    }
}

/// Concatenation with metamethods, right to left as Lua does: the pending
/// operands are folded until a `__concat` call is needed, whose result
/// continues the fold.
#[derive(Collect)]
#[collect(no_drop)]
struct ConcatSeq<'gc> {
    values: Vec<Value<'gc>>,
    /// Operand index of each value (None for computed ones).
    #[collect(require_static)]
    origin: Vec<Option<usize>>,
    names: Value<'gc>,
}

impl<'gc> Sequence<'gc> for ConcatSeq<'gc> {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        // a metamethod result (if any) is the new rightmost operand
        if !stack.is_empty() {
            let r = stack.get(0);
            stack.clear();
            self.values.push(r);
            self.origin.push(None);
        }
        loop {
            if self.values.len() <= 1 {
                let v = self.values.pop().unwrap_or(Value::Nil);
                stack.push_back(v);
                return Ok(SequencePoll::Return);
            }
            let n = self.values.len();
            let (a, b) = (self.values[n - 2], self.values[n - 1]);
            if is_stringish(a) && is_stringish(b) {
                // fold the longest run of string-like operands at the end
                let mut start = n - 2;
                while start > 0 && is_stringish(self.values[start - 1]) {
                    start -= 1;
                }
                let mut buf = Vec::new();
                for v in &self.values[start..] {
                    push_stringish(*v, &mut buf);
                }
                self.values.truncate(start);
                self.values.push(Value::String(new_string(ctx, &buf)));
                self.origin.truncate(start);
                self.origin.push(None);
                continue;
            }
            let mut mm = metamethod(ctx, a, "__concat");
            if mm.is_nil() {
                mm = metamethod(ctx, b, "__concat");
            }
            if mm.is_nil() {
                let (bad, at) = if is_stringish(a) {
                    (b, n - 1)
                } else {
                    (a, n - 2)
                };
                let name = self.origin[at]
                    .map(|i| operand_name(self.names, i))
                    .unwrap_or_default();
                return Err(error_at(
                    ctx,
                    &exec,
                    &format!("attempt to concatenate a {} value{name}", type_name(bad)),
                ));
            }
            let f = meta_ops::call(ctx, mm)?;
            self.values.truncate(n - 2);
            self.origin.truncate(n - 2);
            stack.push_back(a);
            stack.push_back(b);
            return Ok(SequencePoll::Call {
                function: f,
                is_tail: false,
            });
        }
    }
}

// ---- arithmetic ------------------------------------------------------------

#[derive(Clone, Copy)]
enum Arith {
    IDiv,
    Mod,
}

pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

/// Lua's string-to-number coercion for arithmetic.
pub(crate) fn to_num(v: Value<'_>) -> Option<Num> {
    match v {
        Value::Integer(i) => Some(Num::Int(i)),
        Value::Number(f) => Some(Num::Float(f)),
        Value::String(s) => parse_lua_number(s.as_bytes()),
        _ => None,
    }
}

/// Parses a number the way `tonumber` does (surrounding spaces, sign, hex).
fn parse_lua_number(b: &[u8]) -> Option<Num> {
    let s = std::str::from_utf8(b)
        .ok()?
        .trim_matches(|c: char| c.is_ascii_whitespace());
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    use crate::compiler::lexer::{parse_number, Tok};
    match parse_number(body.as_bytes())? {
        Tok::Int(i) => Some(Num::Int(if neg { i.wrapping_neg() } else { i })),
        Tok::Float(f) => Some(Num::Float(if neg { -f } else { f })),
        _ => None,
    }
}

pub(crate) fn as_float(n: &Num) -> f64 {
    match *n {
        Num::Int(i) => i as f64,
        Num::Float(f) => f,
    }
}

fn arith<'gc>(
    ctx: Context<'gc>,
    exec: Execution<'gc, '_>,
    mut stack: Stack<'gc, '_>,
    op: Arith,
) -> Result<CallbackReturn<'gc>, Error<'gc>> {
    let (a, b) = (stack.get(0), stack.get(1));
    let result = match (to_num(a), to_num(b)) {
        (Some(Num::Int(x)), Some(Num::Int(y))) => {
            if y == 0 {
                let what = match op {
                    Arith::IDiv => "attempt to divide by zero",
                    Arith::Mod => "attempt to perform 'n%0'",
                };
                return Err(error_at(ctx, &exec, what));
            }
            Value::Integer(match op {
                Arith::IDiv => int_floor_div(x, y),
                Arith::Mod => int_mod(x, y),
            })
        }
        (Some(x), Some(y)) => {
            let (x, y) = (as_float(&x), as_float(&y));
            Value::Number(match op {
                Arith::IDiv => (x / y).floor(),
                Arith::Mod => float_mod(x, y),
            })
        }
        _ => {
            let event = match op {
                Arith::IDiv => "__idiv",
                Arith::Mod => "__mod",
            };
            let mut mm = metamethod(ctx, a, event);
            if mm.is_nil() {
                mm = metamethod(ctx, b, event);
            }
            if mm.is_nil() {
                let (bad, at) = if to_num(a).is_some() { (b, 1) } else { (a, 0) };
                let msg = format!(
                    "attempt to perform arithmetic on a {} value{}",
                    type_name(bad),
                    operand_name(stack.get(2), at)
                );
                return Err(error_at(ctx, &exec, &msg));
            }
            stack.clear();
            stack.push_back(a);
            stack.push_back(b);
            return Ok(CallbackReturn::Call {
                function: meta_ops::call(ctx, mm)?,
                then: None,
            });
        }
    };
    stack.replace(ctx, result);
    Ok(CallbackReturn::Return)
}

/// Lua's integer `//`: rounds toward minus infinity (y != 0).
pub fn int_floor_div(x: i64, y: i64) -> i64 {
    if y == -1 {
        return x.wrapping_neg();
    }
    let q = x / y;
    if (x % y != 0) && ((x ^ y) < 0) {
        q - 1
    } else {
        q
    }
}

/// Lua's integer `%`: the result has the sign of the divisor (y != 0).
pub fn int_mod(x: i64, y: i64) -> i64 {
    if y == -1 {
        return 0;
    }
    let m = x % y;
    if m != 0 && (m ^ y) < 0 {
        m + y
    } else {
        m
    }
}

/// Lua's float `%`.
pub fn float_mod(x: f64, y: f64) -> f64 {
    let m = x % y;
    if (m > 0.0 && y < 0.0) || (m < 0.0 && y > 0.0) {
        m + y
    } else {
        m
    }
}

// ---- method calls ------------------------------------------------------------

/// `obj:name(args...)` arrives as `method(obj, name, args...)` (or
/// `method_named(names, obj, name, args...)`): look the method up (strings
/// use the string library), then tail-call it with `(obj, args...)`.
fn method<'gc>(
    ctx: Context<'gc>,
    exec: Execution<'gc, '_>,
    mut stack: Stack<'gc, '_>,
    named: bool,
) -> Result<CallbackReturn<'gc>, Error<'gc>> {
    let names = if named {
        let n = stack.get(0);
        drop(stack.drain(0..1));
        n
    } else {
        Value::Nil
    };
    let obj = stack.get(0);
    let key = stack.get(1);
    drop(stack.drain(1..2));
    let index_error = |v: Value<'gc>| {
        let name = if v.type_name() == obj.type_name() {
            operand_name(names, 0)
        } else {
            String::new()
        };
        error_at(
            ctx,
            &exec,
            &format!("attempt to index a {} value{name}", type_name(v)),
        )
    };
    let f = match obj {
        Value::String(_) | Value::Table(_) | Value::UserData(_) => {
            match lookup(ctx, obj, key) {
                Lookup::Value(v) => v,
                Lookup::Call(f, t) => {
                    // an `__index` function: call it, then the method
                    let args: Vec<Value<'gc>> = (0..stack.len()).map(|i| stack.get(i)).collect();
                    stack.clear();
                    stack.push_back(t);
                    stack.push_back(key);
                    return Ok(CallbackReturn::Call {
                        function: meta_ops::call(ctx, f)?,
                        then: Some(BoxSequence::new(&ctx, MethodSeq { args, key })),
                    });
                }
                Lookup::Error(v) => return Err(index_error(v)),
            }
        }
        other => return Err(index_error(other)),
    };
    call_method(ctx, &exec, f, key).map(|function| CallbackReturn::Call {
        function,
        then: None,
    })
}

fn call_method<'gc>(
    ctx: Context<'gc>,
    exec: &Execution<'gc, '_>,
    f: Value<'gc>,
    key: Value<'gc>,
) -> Result<Function<'gc>, Error<'gc>> {
    meta_ops::call(ctx, f).map_err(|_| {
        let name = match key {
            Value::String(s) => s.to_str_lossy().into_owned(),
            _ => "?".into(),
        };
        error_at(
            ctx,
            exec,
            &format!("attempt to call a {} value (method '{name}')", type_name(f)),
        )
    })
}

enum Lookup<'gc> {
    Value(Value<'gc>),
    /// call `__index` function `.0` with (`.1`, key)
    Call(Value<'gc>, Value<'gc>),
    Error(Value<'gc>),
}

/// `t[key]` following `__index` tables; stops at an `__index` function.
fn lookup<'gc>(ctx: Context<'gc>, mut t: Value<'gc>, key: Value<'gc>) -> Lookup<'gc> {
    for _ in 0..100 {
        let idx = match t {
            Value::Table(tab) => {
                let v = tab.get_value(key);
                if !v.is_nil() {
                    return Lookup::Value(v);
                }
                match tab.metatable() {
                    Some(mt) => mt.get(ctx, "__index"),
                    None => return Lookup::Value(Value::Nil),
                }
            }
            Value::UserData(u) => match u.metatable() {
                Some(mt) => mt.get(ctx, "__index"),
                None => return Lookup::Error(t),
            },
            Value::String(_) => string_index(ctx),
            other => return Lookup::Error(other),
        };
        match idx {
            Value::Nil => return Lookup::Value(Value::Nil),
            Value::Function(_) => return Lookup::Call(idx, t),
            next => t = next,
        }
    }
    Lookup::Value(Value::Nil)
}

#[derive(Collect)]
#[collect(no_drop)]
struct MethodSeq<'gc> {
    args: Vec<Value<'gc>>,
    key: Value<'gc>,
}

impl<'gc> Sequence<'gc> for MethodSeq<'gc> {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        let f = stack.get(0);
        stack.clear();
        for v in self.args.drain(..) {
            stack.push_back(v);
        }
        let function = call_method(ctx, &exec, f, self.key)?;
        Ok(SequencePoll::Call {
            function,
            is_tail: true,
        })
    }
}

// ---- numeric for ---------------------------------------------------------------

/// `forprep(start, limit, step)` -> the values the VM's `NumericForPrep` /
/// `NumericForLoop` pair handles correctly, or an empty loop.
fn for_prep<'gc>(
    ctx: Context<'gc>,
    exec: Execution<'gc, '_>,
    mut stack: Stack<'gc, '_>,
) -> Result<CallbackReturn<'gc>, Error<'gc>> {
    let (start, limit, step) = (stack.get(0), stack.get(1), stack.get(2));
    let num = |v: Value<'gc>, what: &str| -> Result<Num, Error<'gc>> {
        match v {
            Value::Integer(i) => Ok(Num::Int(i)),
            Value::Number(f) => Ok(Num::Float(f)),
            _ => Err(error_at(
                ctx,
                &exec,
                &format!("'for' {what} must be a number"),
            )),
        }
    };
    let (s, l, st) = (
        num(start, "initial value")?,
        num(limit, "limit")?,
        num(step, "step")?,
    );
    const EMPTY: (i64, i64, i64) = (0, -1, 1);
    // (needs a final iteration, its value, start, limit, step)
    let result: (bool, Value<'gc>, Value<'gc>, Value<'gc>, Value<'gc>) = match (s, st) {
        (Num::Int(s), Num::Int(st)) => {
            if st == 0 {
                return Err(error_at(ctx, &exec, "'for' step is zero"));
            }
            // clip a float limit to an integer (Lua's forlimit)
            let l = match l {
                Num::Int(l) => Some(l),
                Num::Float(f) => {
                    if f.is_nan() {
                        None
                    } else {
                        let f = if st > 0 { f.floor() } else { f.ceil() };
                        if f >= 9.223_372_036_854_776e18 {
                            Some(i64::MAX)
                        } else if f < -9.223_372_036_854_776e18 {
                            Some(i64::MIN)
                        } else {
                            Some(f as i64)
                        }
                    }
                }
            };
            let l = match l {
                Some(l) if (st > 0 && s <= l) || (st < 0 && s >= l) => l,
                _ => {
                    let (s, l, st) = EMPTY;
                    stack.replace(ctx, (false, Value::Nil, s, l, st));
                    return Ok(CallbackReturn::Return);
                }
            };
            let count = if st > 0 {
                (l as i128 - s as i128) / st as i128
            } else {
                (s as i128 - l as i128) / -(st as i128)
            };
            let last = s as i128 + count * st as i128;
            let after = last + st as i128;
            let before = s as i128 - st as i128;
            let in_range = |v: i128| v >= i64::MIN as i128 && v <= i64::MAX as i128;
            if !in_range(before) && cfg!(debug_assertions) {
                // the VM's first increment would overflow: a panic in
                // debug builds, correct wrapping in release builds
                return Err(error_at(
                    ctx,
                    &exec,
                    "'for' loop starting at the integer limits is not supported",
                ));
            }
            if in_range(after) {
                (
                    false,
                    Value::Nil,
                    Value::Integer(s),
                    Value::Integer(last as i64),
                    Value::Integer(st),
                )
            } else {
                // stop the VM one value early; the final one is run apart
                (
                    true,
                    Value::Integer(last as i64),
                    Value::Integer(s),
                    Value::Integer((last - st as i128) as i64),
                    Value::Integer(st),
                )
            }
        }
        (s, st) => {
            let st = as_float(&st);
            if st == 0.0 {
                return Err(error_at(ctx, &exec, "'for' step is zero"));
            }
            (
                false,
                Value::Nil,
                Value::Number(as_float(&s)),
                Value::Number(as_float(&l)),
                Value::Number(st),
            )
        }
    };
    stack.replace(ctx, result);
    Ok(CallbackReturn::Return)
}

// ---- <close> -------------------------------------------------------------------

/// `close(v)`: calls `v`'s `__close(v, nil)`; nil and false need nothing.
/// `close(v, name)` only checks that `v` is closable.
fn close<'gc>(
    ctx: Context<'gc>,
    exec: Execution<'gc, '_>,
    mut stack: Stack<'gc, '_>,
) -> Result<CallbackReturn<'gc>, Error<'gc>> {
    let v = stack.get(0);
    let check = stack.get(1);
    stack.clear();
    if matches!(v, Value::Nil | Value::Boolean(false)) {
        return Ok(CallbackReturn::Return);
    }
    let mm = metamethod(ctx, v, "__close");
    if let Value::String(name) = check {
        // declaration-time check: `close(value, name)`
        if mm.is_nil() {
            return Err(error_at(
                ctx,
                &exec,
                &format!(
                    "variable '{}' got a non-closable value",
                    name.to_str_lossy()
                ),
            ));
        }
        return Ok(CallbackReturn::Return);
    }
    if mm.is_nil() {
        return Err(error_at(ctx, &exec, "metamethod 'close' is not callable"));
    }
    stack.push_back(v);
    stack.push_back(Value::Nil);
    Ok(CallbackReturn::Call {
        function: meta_ops::call(ctx, mm)?,
        then: None,
    })
}
