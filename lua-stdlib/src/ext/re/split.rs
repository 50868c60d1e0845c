//! `require "ngx.re"`: lua-resty-core's `split` and `opt`.
//!
//! `split(subject, regex, options?, ctx?, max?, res?)` follows
//! lua-resty-core's `ngx/re.lua` step by step (its empty-match and
//! trailing-empty-field rules included): the fields between matches, and
//! after each the first capture group's text when the pattern has groups;
//! with `max > 0` at most `max` fields. Like `gsub`, it stops between
//! matches when the step's budget is spent.

use std::rc::Rc;

use gc_arena::Collect;

use super::engine::{Compiled, Prepared};
use super::{compiled, flags_arg, subject_arg};
use crate::lib::args::{charge, check_string, lib_fn, work_left, LibError, LibResult};
use crate::{
    BoxSequence, CallbackReturn, Context, Error, Execution, Sequence, SequencePoll, Stack, String,
    Table, Value,
};

/// The `ngx.re` module table (`require "ngx.re"`).
pub fn load_ngx_re_module<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    let t = ctx.new_table();
    let _ = t.set(ctx, "split", lib_fn(ctx, "split", re_split));
    let _ = t.set(ctx, "opt", lib_fn(ctx, "opt", re_opt));
    t
}

/// `opt("jit_stack_size", n)`: there is no JIT stack here; accepted.
fn re_opt<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let name = check_string(ctx, stack, 0)?;
    if name.as_bytes() != b"jit_stack_size" {
        return Err(LibError::Msg(format!(
            "unrecognized option name: {}",
            std::string::String::from_utf8_lossy(name.as_bytes())
        )));
    }
    stack.clear();
    Ok(CallbackReturn::Return)
}

#[derive(Collect)]
#[collect(no_drop)]
struct Split<'gc> {
    subject: String<'gc>,
    #[collect(require_static)]
    re: Rc<Compiled>,
    res: Table<'gc>,
    /// The caller's `ctx` (its `pos` is kept up to date), if any.
    user_ctx: Option<Table<'gc>>,
    /// 0-based offset of the next search (lua-resty-core's `ctx.pos`).
    pos: i64,
    /// 1-based start of the current field.
    sub_idx: i64,
    res_idx: i64,
    last_empty: Option<i64>,
    count: i64,
    max: i64,
    #[collect(require_static)]
    prepared: Prepared,
}

enum Step {
    Done,
    Paused,
    Failed(std::string::String),
}

impl<'gc> Split<'gc> {
    fn set(&self, ctx: Context<'gc>, i: i64, v: Value<'gc>) {
        let _ = self.res.raw_set_int(&ctx, i, v);
    }

    fn field(&self, ctx: Context<'gc>, from: i64, to: i64) -> Value<'gc> {
        let s = self.subject.as_bytes();
        let a = (from.max(1) - 1) as usize;
        let b = (to.max(0) as usize).min(s.len());
        Value::String(ctx.intern(if a < b { &s[a..b] } else { b"" }))
    }

    fn run(&mut self, ctx: Context<'gc>, exec: &mut Execution<'gc, '_>) -> Step {
        let s = self.subject.as_bytes();
        let len = s.len() as i64;
        let limit = work_left(exec);
        let mut spent = 0;
        loop {
            if self.max > 0 && self.count >= self.max {
                return Step::Done;
            }
            let pos = self.pos.max(0) as usize;
            if pos > s.len() {
                return Step::Failed("pcre_exec() failed: -24".into());
            }
            let (r, work) = self.re.search(s, pos, &mut self.prepared);
            charge(exec, work);
            spent += work;
            let spans = match r {
                Ok(Some(spans)) => spans,
                Ok(None) => return Step::Done,
                Err(e) => return Step::Failed(e.message()),
            };
            let Some((f0, t0)) = spans[0] else {
                return Step::Done;
            };
            self.pos = if f0 == t0 { t0 as i64 + 1 } else { t0 as i64 };
            if let Some(c) = self.user_ctx {
                let _ = c.set(ctx, "pos", self.pos);
            }
            let (from, to) = (f0 as i64 + 1, t0 as i64 + 1);
            let capture = match spans.get(1) {
                Some(Some((a, b))) => Some(Value::String(ctx.intern(&s[*a..*b]))),
                _ => None,
            };
            if let Some(e) = self.last_empty {
                self.sub_idx = e;
            }
            if from == to {
                self.last_empty = Some(from);
            }
            if from > self.sub_idx || self.last_empty.is_none() {
                self.count += 1;
                self.res_idx += 1;
                self.set(ctx, self.res_idx, self.field(ctx, self.sub_idx, from - 1));
                if let Some(c) = capture {
                    self.res_idx += 1;
                    self.set(ctx, self.res_idx, c);
                }
                self.sub_idx = to;
                if self.sub_idx > len {
                    return Step::Done;
                }
            }
            if spent >= limit {
                return Step::Paused;
            }
        }
    }

    fn finish(&mut self, ctx: Context<'gc>, stack: &mut Stack<'gc, '_>) {
        let len = self.subject.len() as i64;
        if self.max <= 0 && self.sub_idx > len {
            // Drop trailing empty fields.
            let mut i = self.res_idx;
            while i >= 1 {
                let empty = matches!(self.res.raw_get_int(i), Value::String(s) if s.is_empty());
                if !empty {
                    break;
                }
                self.set(ctx, i, Value::Nil);
                i -= 1;
            }
            self.res_idx = i;
        } else {
            self.res_idx += 1;
            self.set(ctx, self.res_idx, self.field(ctx, self.sub_idx, len));
        }
        self.set(ctx, self.res_idx + 1, Value::Nil);
        stack.replace(ctx, self.res);
    }

    fn advance(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Execution<'gc, '_>,
        stack: &mut Stack<'gc, '_>,
    ) -> bool {
        match self.run(ctx, exec) {
            Step::Done => {
                self.finish(ctx, stack);
                true
            }
            Step::Paused => false,
            Step::Failed(m) => {
                stack.replace(ctx, (Value::Nil, m));
                true
            }
        }
    }
}

impl<'gc> Sequence<'gc> for Split<'gc> {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        mut exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        Ok(if self.advance(ctx, &mut exec, &mut stack) {
            SequencePoll::Return
        } else {
            SequencePoll::Pending
        })
    }
}

fn re_split<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let subject = subject_arg(ctx, stack, 0);
    let pattern = check_string(ctx, stack, 1)?;
    let flags = flags_arg(ctx, stack, 2)?;
    let user_ctx = match stack.get(3) {
        Value::Table(t) => Some(t),
        _ => None,
    };
    let max = match stack.get(4) {
        Value::Nil => 0,
        v => v.to_integer().unwrap_or(0),
    };
    let res = match stack.get(5) {
        Value::Nil => ctx.new_table(),
        Value::Table(t) => t,
        _ => return Err(LibError::Msg("res is not a table".into())),
    };
    let start = match user_ctx.map(|c| c.get(ctx, "pos")) {
        None | Some(Value::Nil) => {
            if let Some(c) = user_ctx {
                let _ = c.set(ctx, "pos", 1);
            }
            1
        }
        Some(v) => v.to_integer().unwrap_or(1),
    };
    if start > subject.len() as i64 {
        let _ = res.raw_set_int(&ctx, 1, Value::Nil);
        stack.replace(ctx, res);
        return Ok(CallbackReturn::Return);
    }
    let re = match compiled(exec, pattern.as_bytes(), flags) {
        Ok(re) => re,
        Err(m) => {
            stack.replace(ctx, (Value::Nil, m));
            return Ok(CallbackReturn::Return);
        }
    };
    let split = Split {
        subject,
        re,
        res,
        user_ctx,
        pos: start - 1,
        sub_idx: start,
        res_idx: 0,
        last_empty: None,
        count: 1,
        max,
        prepared: Prepared::default(),
    };
    if let Some(c) = user_ctx {
        let _ = c.set(ctx, "pos", start - 1);
    }
    let mut split = split;
    Ok(if split.advance(ctx, exec, stack) {
        CallbackReturn::Return
    } else {
        CallbackReturn::Sequence(BoxSequence::new(&ctx, split))
    })
}
