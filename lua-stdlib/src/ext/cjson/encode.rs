//! Encoding: lua-cjson's `json_append_data` on an explicit stack of open
//! tables, pausing when the step's budget is spent.

use gc_arena::Collect;

use super::{array_mt, empty_array_mt, finish, same_table, Config, EmptyArray, Failure};
use crate::lib::args::{charge, work_left, LibResult, MAX_STRING};
use crate::number::format_g;
use crate::{Context, Error, Execution, Sequence, SequencePoll, Stack, Table, Value};

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
pub(super) struct Encoder<'gc> {
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
    pub(super) fn new(ctx: Context<'gc>, cfg: Config, safe: bool) -> Encoder<'gc> {
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
    pub(super) fn step(
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
    pub(super) fn answer(
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
            _ if crate::ext::is_null(v) => self.out.extend_from_slice(b"null"),
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
