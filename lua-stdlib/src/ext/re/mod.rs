//! `ngx.re`: `match find gmatch sub gsub` with PCRE syntax and
//! OpenResty's options and results (lua-nginx-module's `ngx.re.*` as
//! lua-resty-core implements them).
//!
//! - `match` returns a captures table: `[0]` the whole match, `[n]` each
//!   group (`false` when it did not take part), named groups by name (with
//!   `D`, a list of the values of every group of that name that matched);
//!   `nil` when nothing matches; `nil, err` for a bad pattern
//!   (`pcre_compile() failed: missing ) in "(abc"`) or a failed search
//!   (`pcre_exec() failed: -8` past the backtrack limit). `ctx.pos` is the
//!   1-based start, and is set after the match.
//! - `find` returns the match's (or group `nth`'s) 1-based `from, to`.
//! - `sub`/`gsub` take a template (`$0`, `$1`, `${1}`, `$$`) or a function
//!   given the captures table; they return the new string and the count.
//! - Unknown option letters raise `unknown flag "z" (flags "zi")`.
//!
//! Patterns are translated ([`translate`]) and compiled by [`engine`]:
//! linear-time `regex` when the pattern allows, `fancy-regex` with a
//! backtrack limit otherwise; compiled patterns are cached per thread,
//! at most [`engine::CACHE_ENTRIES`]. Searches charge the instruction
//! budget, and `gsub` stops between matches when the step's budget is
//! spent, so a long substitution can be suspended and stopped.

pub mod engine;
pub mod split;
pub mod translate;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gc_arena::Collect;

use crate::lib::args::{
    charge, check_string, check_string_size, plain_tostring, type_error, work_left, LibError,
    LibResult,
};
use crate::lib::string::Resume;
use crate::number::float_to_integer;
use crate::{
    Callback, CallbackReturn, Context, Error, Execution, Function, Sequence, SequencePoll, Stack,
    String, Table, Value,
};
use engine::{Compiled, Flags, Prepared, Spans};
pub use split::load_ngx_re_module;

/// The `ngx.re` table.
pub fn load_ngx_re<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    let t = ctx.new_table();
    let add = |name: &'static str, f: crate::lib::args::LibFn| {
        let _ = t.set(ctx, name, crate::lib::args::lib_fn(ctx, name, f));
    };
    add("match", re_match);
    add("find", re_find);
    add("gmatch", re_gmatch);
    add("sub", re_sub);
    add("gsub", re_gsub);
    t
}

/// The subject: a string, or anything else as `tostring` writes it
/// (lua-resty-core calls `tostring` on a non-string subject).
fn subject_arg<'gc>(ctx: Context<'gc>, stack: &Stack<'gc, '_>, i: usize) -> String<'gc> {
    match stack.get(i) {
        Value::String(s) => s,
        v => plain_tostring(ctx, v),
    }
}

fn flags_arg<'gc>(ctx: Context<'gc>, stack: &Stack<'gc, '_>, i: usize) -> LibResult<'gc, Flags> {
    let opts = match stack.get(i) {
        Value::Nil => return Ok(Flags::default()),
        _ => check_string(ctx, stack, i)?,
    };
    Flags::parse(opts.as_bytes()).map_err(|c| {
        LibError::Msg(format!(
            "unknown flag \"{}\" (flags \"{}\")",
            c as char,
            std::string::String::from_utf8_lossy(opts.as_bytes())
        ))
    })
}

/// The compiled pattern (charging a compilation), or OpenResty's message.
fn compiled<'gc>(
    exec: &mut Execution<'gc, '_>,
    pattern: &[u8],
    flags: Flags,
) -> Result<Rc<Compiled>, std::string::String> {
    let (c, fresh) = engine::compile(pattern, flags)?;
    if fresh {
        charge(exec, engine::compile_work(pattern.len()));
    }
    Ok(c)
}

/// `ctx.pos` as a 0-based byte offset (missing or `<= 0`: the start).
fn start_pos<'gc>(ctx: Context<'gc>, t: Option<Table<'gc>>) -> usize {
    let Some(t) = t else { return 0 };
    let pos = match t.get(ctx, "pos") {
        Value::Integer(n) => n,
        Value::Number(f) => float_to_integer(f.floor()).unwrap_or(0),
        _ => 0,
    };
    if pos <= 0 {
        0
    } else {
        (pos - 1) as usize
    }
}

fn ctx_arg<'gc>(stack: &Stack<'gc, '_>, i: usize) -> LibResult<'gc, Option<Table<'gc>>> {
    match stack.get(i) {
        Value::Nil => Ok(None),
        Value::Table(t) => Ok(Some(t)),
        _ => type_error(stack, i, "table"),
    }
}

/// Runs one search from `pos`, charging it.
fn search<'gc>(
    exec: &mut Execution<'gc, '_>,
    re: &Compiled,
    subject: &[u8],
    pos: usize,
    prepared: &mut Prepared,
) -> Result<Option<Spans>, std::string::String> {
    if pos > subject.len() {
        // PCRE_ERROR_BADOFFSET
        return Err("pcre_exec() failed: -24".into());
    }
    let (r, work) = re.search(subject, pos, prepared);
    charge(exec, work);
    r.map_err(|e| e.message())
}

/// The captures table OpenResty builds (into `res` when given).
fn captures<'gc>(
    ctx: Context<'gc>,
    re: &Compiled,
    subject: &[u8],
    spans: &Spans,
    res: Option<Table<'gc>>,
) -> Table<'gc> {
    let t = res.unwrap_or_else(|| ctx.new_table_with(spans.len(), re.names.len()));
    let value = |g: usize| match spans.get(g).copied().flatten() {
        Some((s, e)) => Value::String(ctx.intern(&subject[s..e])),
        None => Value::Boolean(false),
    };
    for g in 0..spans.len() {
        let _ = t.raw_set_int(&ctx, g as i64, value(g));
    }
    if re.flags.dup_names {
        // PCRE's name table is sorted by name; unmatched groups are not
        // collected (lua-resty-core's collect_named_captures).
        let mut names: Vec<&(usize, std::string::String)> = re.names.iter().collect();
        names.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
        for (g, name) in names {
            let v = value(*g);
            if let Value::Boolean(false) = v {
                continue;
            }
            let key = Value::String(ctx.intern(name.as_bytes()));
            let list = match t.raw_get(key) {
                Value::Table(l) => l,
                _ => {
                    let l = ctx.new_table();
                    let _ = t.raw_set(&ctx, key, Value::Table(l));
                    l
                }
            };
            let _ = list.raw_set_int(&ctx, list.length() + 1, v);
        }
    } else {
        for (g, name) in &re.names {
            let _ = t.set(ctx, name.as_str(), value(*g));
        }
    }
    t
}

fn re_match<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let subject = subject_arg(ctx, stack, 0);
    let pattern = check_string(ctx, stack, 1)?;
    let flags = flags_arg(ctx, stack, 2)?;
    let rctx = ctx_arg(stack, 3)?;
    let res = match stack.get(4) {
        Value::Nil => None,
        Value::Table(t) => Some(t),
        _ => return type_error(stack, 4, "table"),
    };
    let re = match compiled(exec, pattern.as_bytes(), flags) {
        Ok(re) => re,
        Err(m) => {
            stack.replace(ctx, (Value::Nil, m));
            return Ok(CallbackReturn::Return);
        }
    };
    let pos = start_pos(ctx, rctx);
    match search(exec, &re, subject.as_bytes(), pos, &mut Prepared::default()) {
        Ok(Some(spans)) => {
            if let (Some(c), Some((_, e))) = (rctx, spans[0]) {
                let _ = c.set(ctx, "pos", (e + 1) as i64);
            }
            let t = captures(ctx, &re, subject.as_bytes(), &spans, res);
            stack.replace(ctx, t);
        }
        Ok(None) => stack.replace(ctx, Value::Nil),
        Err(m) => stack.replace(ctx, (Value::Nil, m)),
    }
    Ok(CallbackReturn::Return)
}

fn re_find<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let subject = subject_arg(ctx, stack, 0);
    let pattern = check_string(ctx, stack, 1)?;
    let flags = flags_arg(ctx, stack, 2)?;
    let rctx = ctx_arg(stack, 3)?;
    let nth = match stack.get(4) {
        Value::Nil => 0,
        v => match v.to_integer() {
            Some(n) if n >= 0 => n as usize,
            Some(_) => 0,
            None => return type_error(stack, 4, "number"),
        },
    };
    let re = match compiled(exec, pattern.as_bytes(), flags) {
        Ok(re) => re,
        Err(m) => {
            stack.replace(ctx, (Value::Nil, Value::Nil, m));
            return Ok(CallbackReturn::Return);
        }
    };
    if nth > re.groups {
        stack.replace(ctx, (Value::Nil, Value::Nil, "nth out of bound"));
        return Ok(CallbackReturn::Return);
    }
    let pos = start_pos(ctx, rctx);
    match search(exec, &re, subject.as_bytes(), pos, &mut Prepared::default()) {
        Ok(Some(spans)) => {
            if let (Some(c), Some((_, e))) = (rctx, spans[0]) {
                let _ = c.set(ctx, "pos", (e + 1) as i64);
            }
            match spans[nth] {
                Some((s, e)) => stack.replace(ctx, ((s + 1) as i64, e as i64)),
                None => stack.replace(ctx, (Value::Nil, Value::Nil)),
            }
        }
        Ok(None) => stack.replace(ctx, Value::Nil),
        Err(m) => stack.replace(ctx, (Value::Nil, Value::Nil, m)),
    }
    Ok(CallbackReturn::Return)
}

/// Where the next search starts after a match ending at `end`: after an
/// empty match, one character on (a UTF-8 sequence in UTF-8 mode).
fn next_start(subject: &[u8], start: usize, end: usize, utf8: bool) -> Option<usize> {
    if end > start {
        return Some(end);
    }
    if end >= subject.len() {
        return None;
    }
    let mut n = end + 1;
    if utf8 {
        while n < subject.len() && subject[n] & 0xC0 == 0x80 {
            n += 1;
        }
    }
    Some(n)
}

fn re_gmatch<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let subject = subject_arg(ctx, stack, 0);
    let pattern = check_string(ctx, stack, 1)?;
    let flags = flags_arg(ctx, stack, 2)?;
    let re = match compiled(exec, pattern.as_bytes(), flags) {
        Ok(re) => re,
        Err(m) => {
            stack.replace(ctx, (Value::Nil, m));
            return Ok(CallbackReturn::Return);
        }
    };
    // The next start, or `None` once the iterator is done.
    let state = Rc::new(Cell::new(Some(0usize)));
    let prepared = RefCell::new(Prepared::default());
    let iter = Callback::from_fn_with(&ctx, subject, move |subject, ctx, mut exec, mut stack| {
        let s = subject.as_bytes();
        let Some(pos) = state.get() else {
            stack.replace(ctx, Value::Nil);
            return Ok(CallbackReturn::Return);
        };
        match search(&mut exec, &re, s, pos, &mut prepared.borrow_mut()) {
            Ok(Some(spans)) => {
                let (ms, me) = spans[0].unwrap_or((pos, pos));
                state.set(next_start(s, ms, me, re.flags.utf8));
                let t = captures(ctx, &re, s, &spans, None);
                stack.replace(ctx, t);
            }
            Ok(None) => {
                state.set(None);
                stack.replace(ctx, Value::Nil);
            }
            Err(m) => {
                state.set(None);
                stack.replace(ctx, (Value::Nil, m));
            }
        }
        Ok(CallbackReturn::Return)
    });
    stack.replace(ctx, iter);
    Ok(CallbackReturn::Return)
}

/// A piece of a replacement template.
enum Piece {
    Text(Vec<u8>),
    Group(usize),
}

/// lua-nginx-module's `ngx_http_lua_compile_complex_value` for `sub`
/// templates: `$N`, `${N}`, `$$`; names and anything else fail.
fn template(t: &[u8]) -> Option<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut text = Vec::new();
    let mut i = 0;
    while i < t.len() {
        if t[i] != b'$' {
            text.push(t[i]);
            i += 1;
            continue;
        }
        i += 1;
        match t.get(i) {
            Some(b'$') => {
                text.push(b'$');
                i += 1;
                continue;
            }
            Some(b'{') => {
                i += 1;
                let from = i;
                while t.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                if i == from || t.get(i) != Some(&b'}') {
                    return None;
                }
                let n = std::str::from_utf8(&t[from..i]).ok()?.parse().ok()?;
                i += 1;
                pieces.push(Piece::Text(std::mem::take(&mut text)));
                pieces.push(Piece::Group(n));
            }
            Some(c) if c.is_ascii_digit() => {
                let from = i;
                while t.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                let n = std::str::from_utf8(&t[from..i]).ok()?.parse().ok()?;
                pieces.push(Piece::Text(std::mem::take(&mut text)));
                pieces.push(Piece::Group(n));
            }
            _ => return None,
        }
    }
    pieces.push(Piece::Text(text));
    Some(pieces)
}

#[derive(Collect)]
#[collect(no_drop)]
enum Replace<'gc> {
    Template(#[collect(require_static)] Vec<Piece>),
    Function(Function<'gc>),
}

/// A `sub`/`gsub` in progress: between matches it may pause for the
/// budget or wait for the replacement function.
#[derive(Collect)]
#[collect(no_drop)]
struct Substitution<'gc> {
    subject: String<'gc>,
    #[collect(require_static)]
    re: Rc<Compiled>,
    replace: Replace<'gc>,
    global: bool,
    /// Where the next search starts; `None` when done.
    pos: Option<usize>,
    /// Subject bytes before this are in `out`.
    copied: usize,
    out: Vec<u8>,
    count: i64,
    /// The match whose replacement function is running.
    pending: Option<(usize, usize)>,
    #[collect(require_static)]
    prepared: Prepared,
}

enum SubStep<'gc> {
    Done,
    Paused,
    Call(Function<'gc>, Table<'gc>),
    Failed(std::string::String),
}

impl<'gc> Substitution<'gc> {
    fn run(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Execution<'gc, '_>,
    ) -> LibResult<'gc, SubStep<'gc>> {
        let s = self.subject.as_bytes();
        let limit = work_left(exec);
        let mut spent = 0usize;
        while let Some(pos) = self.pos {
            if pos > s.len() {
                self.pos = None;
                break;
            }
            let (r, work) = self.re.search(s, pos, &mut self.prepared);
            charge(exec, work);
            spent += work;
            let spans = match r {
                Ok(Some(spans)) => spans,
                Ok(None) => {
                    self.pos = None;
                    break;
                }
                Err(e) => return Ok(SubStep::Failed(e.message())),
            };
            let (ms, me) = spans[0].unwrap_or((pos, pos));
            self.count += 1;
            self.out.extend_from_slice(&s[self.copied..ms]);
            self.copied = me;
            self.pos = if self.global {
                next_start(s, ms, me, self.re.flags.utf8)
            } else {
                None
            };
            match &self.replace {
                Replace::Template(pieces) => {
                    for p in pieces {
                        match p {
                            Piece::Text(t) => self.out.extend_from_slice(t),
                            Piece::Group(g) => {
                                if let Some(Some((a, b))) = spans.get(*g) {
                                    self.out.extend_from_slice(&s[*a..*b]);
                                }
                            }
                        }
                    }
                    check_string_size(ctx, self.out.len())?;
                    charge(exec, me - ms);
                }
                Replace::Function(f) => {
                    let t = captures(ctx, &self.re, s, &spans, None);
                    self.pending = Some((ms, me));
                    return Ok(SubStep::Call(*f, t));
                }
            }
            if spent >= limit {
                return Ok(SubStep::Paused);
            }
        }
        Ok(SubStep::Done)
    }

    fn finish(&mut self, ctx: Context<'gc>, stack: &mut Stack<'gc, '_>) -> LibResult<'gc, ()> {
        let s = self.subject.as_bytes();
        self.out.extend_from_slice(&s[self.copied.min(s.len())..]);
        check_string_size(ctx, self.out.len())?;
        stack.replace(ctx, (ctx.intern(&self.out), self.count));
        Ok(())
    }

    fn advance(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Execution<'gc, '_>,
        stack: &mut Stack<'gc, '_>,
    ) -> LibResult<'gc, Resume<'gc>> {
        Ok(match self.run(ctx, exec)? {
            SubStep::Done => {
                self.finish(ctx, stack)?;
                Resume::Return
            }
            SubStep::Paused => Resume::Pending,
            SubStep::Call(f, t) => {
                stack.replace(ctx, t);
                Resume::Call(f)
            }
            SubStep::Failed(m) => {
                stack.replace(ctx, (Value::Nil, Value::Nil, m));
                Resume::Return
            }
        })
    }

    fn name(&self) -> &'static str {
        if self.global {
            "gsub"
        } else {
            "sub"
        }
    }
}

impl<'gc> Sequence<'gc> for Substitution<'gc> {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        mut exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        let r = (|| {
            if self.pending.take().is_some() {
                // The function's result, as a string (lua-resty-core
                // `tostring`s what is not one, and nothing fails there).
                if stack.is_empty() {
                    return Err(LibError::Msg(
                        "bad argument #1 to 'tostring' (value expected)".into(),
                    ));
                }
                let v = stack.get(0);
                let text = match v {
                    Value::String(s) => s,
                    v => plain_tostring(ctx, v),
                };
                self.out.extend_from_slice(text.as_bytes());
                check_string_size(ctx, self.out.len())?;
            }
            self.advance(ctx, &mut exec, &mut stack)
        })();
        r.map(Resume::poll)
            .map_err(|e| e.into_error(ctx, &exec, self.name()))
    }
}

fn substitute<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
    global: bool,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let subject = subject_arg(ctx, stack, 0);
    let pattern = check_string(ctx, stack, 1)?;
    // A template that does not compile fails after the pattern did.
    let replace = match stack.get(2) {
        Value::Function(f) => Some(Replace::Function(f)),
        Value::String(s) => template(s.as_bytes()).map(Replace::Template),
        v => template(plain_tostring(ctx, v).as_bytes()).map(Replace::Template),
    };
    let flags = flags_arg(ctx, stack, 3)?;
    let re = match compiled(exec, pattern.as_bytes(), flags) {
        Ok(re) => re,
        Err(m) => {
            stack.replace(ctx, (Value::Nil, Value::Nil, m));
            return Ok(CallbackReturn::Return);
        }
    };
    let Some(replace) = replace else {
        stack.replace(
            ctx,
            (
                Value::Nil,
                Value::Nil,
                "failed to compile the replacement template",
            ),
        );
        return Ok(CallbackReturn::Return);
    };
    let mut sub = Substitution {
        subject,
        re,
        replace,
        global,
        pos: Some(0),
        copied: 0,
        out: Vec::new(),
        count: 0,
        pending: None,
        prepared: Prepared::default(),
    };
    Ok(sub.advance(ctx, exec, stack)?.callback_return(ctx, sub))
}

fn re_sub<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    substitute(ctx, exec, stack, false)
}

fn re_gsub<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    substitute(ctx, exec, stack, true)
}
