//! The `string` library: `byte char find format gmatch gsub len lower match
//! rep reverse sub upper pack unpack packsize`, over bytes (C locale), with
//! the pattern matcher in [`super::patterns`], `format` in [`super::format`]
//! and the binary packing in [`super::pack`]. [`load_string`] also sets the
//! string metatable, whose `__index` is the `string` table (the VM looks
//! methods up there itself: `s:upper()` costs no extra call).
//!
//! Work that grows with the input charges the instruction budget. Pattern
//! scans (`find`, `match`, `gmatch`, `gsub`) stop between two match
//! attempts when the step's budget is spent and continue in the next step
//! (a [`Sequence`] that returns `Pending`), so the host checks its budgets
//! during a long scan instead of after it.

use std::{cell::Cell, rc::Rc};

use gc_arena::Collect;

use super::args::{
    arg_fail, charge, check_integer, check_stack, check_string, check_string_size, fail,
    opt_integer, opt_string, set_fn, type_error, work_left, LibError, LibResult,
};
use super::patterns::{self, Capture, Matcher, Plan, Scan};
use crate::meta::{self, Step};
use crate::number::{number_to_string, Number};
use crate::{
    BoxSequence, Callback, CallbackReturn, Context, Error, Execution, Function, Sequence,
    SequencePoll, Stack, String, Table, Value,
};

/// lua5.4's `MAXSIZE` for `string.rep` results (`INT_MAX`): past it, the
/// error is `resulting string too large`.
const REP_MAX_SIZE: u64 = i32::MAX as u64;

/// lua5.4's `posrelatI`: a 1-based start position, negative from the end.
fn start_pos(pos: i64, len: usize) -> usize {
    if pos > 0 {
        pos as usize
    } else if pos == 0 || pos.unsigned_abs() as usize > len {
        1
    } else {
        (len as i64 + pos + 1) as usize
    }
}

/// lua5.4's `getendpos`: a 1-based inclusive end position.
fn end_pos(pos: i64, len: usize) -> usize {
    if pos > len as i64 {
        len
    } else if pos >= 0 {
        pos as usize
    } else if pos.unsigned_abs() as usize > len {
        0
    } else {
        (len as i64 + pos + 1) as usize
    }
}

fn str_len<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let s = check_string(ctx, stack, 0)?;
    stack.replace(ctx, s.len());
    Ok(CallbackReturn::Return)
}

fn str_sub<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let s = check_string(ctx, stack, 0)?;
    let b = s.as_bytes();
    let i = start_pos(check_integer(stack, 1)?, b.len());
    let j = end_pos(opt_integer(stack, 2, -1)?, b.len());
    let out = if i > j {
        ctx.intern(b"")
    } else if i == 1 && j == b.len() {
        s
    } else {
        charge(exec, j + 1 - i);
        ctx.intern(&b[i - 1..j])
    };
    stack.replace(ctx, out);
    Ok(CallbackReturn::Return)
}

fn str_byte<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let s = check_string(ctx, stack, 0)?.as_bytes();
    let i = opt_integer(stack, 1, 1)?;
    let first = start_pos(i, s.len());
    let last = end_pos(opt_integer(stack, 2, i)?, s.len());
    stack.clear();
    if first <= last {
        let n = last + 1 - first;
        if n >= i32::MAX as usize {
            return fail("string slice too long");
        }
        check_stack(stack, n, "string slice too long")?;
        charge(exec, n * 8);
        stack.extend(s[first - 1..last].iter().map(|&b| Value::Integer(b as i64)));
    }
    Ok(CallbackReturn::Return)
}

fn str_char<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let mut out = Vec::with_capacity(stack.len());
    for i in 0..stack.len() {
        let c = check_integer(stack, i)?;
        if !(0..=255).contains(&c) {
            return arg_fail(i, "value out of range");
        }
        out.push(c as u8);
    }
    charge(exec, out.len() * 8);
    stack.replace(ctx, ctx.intern(&out));
    Ok(CallbackReturn::Return)
}

fn map_bytes<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
    f: impl Fn(&[u8]) -> Vec<u8>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let s = check_string(ctx, stack, 0)?.as_bytes();
    charge(exec, s.len());
    stack.replace(ctx, ctx.intern(&f(s)));
    Ok(CallbackReturn::Return)
}

fn str_lower<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    map_bytes(ctx, exec, stack, |s| s.to_ascii_lowercase())
}

fn str_upper<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    map_bytes(ctx, exec, stack, |s| s.to_ascii_uppercase())
}

fn str_reverse<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    map_bytes(ctx, exec, stack, |s| s.iter().rev().copied().collect())
}

fn str_rep<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let s = check_string(ctx, stack, 0)?.as_bytes();
    let n = check_integer(stack, 1)?;
    let sep = match opt_string(ctx, stack, 2)? {
        Some(sep) => sep.as_bytes(),
        None => &[][..],
    };
    if n <= 0 {
        stack.replace(ctx, ctx.intern(b""));
        return Ok(CallbackReturn::Return);
    }
    let n = n as u64;
    let unit = s.len() as u64 + sep.len() as u64;
    if unit > REP_MAX_SIZE / n {
        return fail("resulting string too large");
    }
    // At most INT_MAX bytes, so no overflow.
    let total = (n * s.len() as u64 + (n - 1) * sep.len() as u64) as usize;
    check_string_size(ctx, total)?;
    charge(exec, total);
    let mut out = Vec::with_capacity(total);
    if sep.is_empty() {
        // Doubling copies: a few large `memcpy`s instead of `n` small ones.
        out.extend_from_slice(s);
        while out.len() < total {
            let more = out.len().min(total - out.len());
            out.extend_from_within(..more);
        }
    } else {
        for k in 0..n {
            out.extend_from_slice(s);
            if k + 1 < n {
                out.extend_from_slice(sep);
            }
        }
    }
    stack.replace(ctx, ctx.intern(&out));
    Ok(CallbackReturn::Return)
}

/// The Lua value of one capture.
fn capture_value<'gc>(ctx: Context<'gc>, src: &[u8], c: Capture) -> Value<'gc> {
    match c {
        Capture::Text(a, b) => Value::String(ctx.intern(&src[a..b])),
        Capture::Position(p) => Value::Integer(p as i64),
    }
}

/// Pushes the captures of the match `s..e` (the whole match when the
/// pattern has none and `whole_if_none`), as `push_captures` does.
fn push_captures<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    m: &Matcher<'_>,
    src: &[u8],
    (s, e): (usize, usize),
    whole_if_none: bool,
) -> LibResult<'gc, ()> {
    for i in 0..m.capture_count(whole_if_none) {
        let c = m.capture(i, s, e).map_err(LibError::Msg)?;
        stack.push_back(capture_value(ctx, src, c));
    }
    Ok(())
}

/// What a scan continues with after a pause.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SearchKind {
    Find,
    Match,
}

/// A `find`/`match` scan: done in the callback, continued in this sequence
/// when it has to stop for the budget.
#[derive(Collect)]
#[collect(no_drop)]
struct Search<'gc> {
    src: String<'gc>,
    pat: String<'gc>,
    pos: usize,
    #[collect(require_static)]
    kind: SearchKind,
}

impl<'gc> Search<'gc> {
    /// Scans on; `false` when it stopped for the budget.
    fn run(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Execution<'gc, '_>,
        stack: &mut Stack<'gc, '_>,
    ) -> LibResult<'gc, bool> {
        let (src, pat) = (self.src.as_bytes(), self.pat.as_bytes());
        let mut m = Matcher::new(src, pat);
        let plan = Plan::new(&m, true);
        let limit = work_left(exec);
        let found = patterns::scan(&mut m, &plan, self.pos, None, limit);
        charge(exec, m.steps);
        match found.map_err(LibError::Msg)? {
            Scan::Found(s, e) => {
                stack.clear();
                if self.kind == SearchKind::Find {
                    stack.push_back(Value::Integer(s as i64 + 1));
                    stack.push_back(Value::Integer(e as i64));
                }
                push_captures(ctx, stack, &m, src, (s, e), self.kind == SearchKind::Match)?;
            }
            Scan::NotFound => stack.replace(ctx, Value::Nil),
            Scan::Paused(pos) => {
                self.pos = pos;
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn name(&self) -> &'static str {
        match self.kind {
            SearchKind::Find => "string.find",
            SearchKind::Match => "string.match",
        }
    }
}

impl<'gc> Sequence<'gc> for Search<'gc> {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        mut exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        match self.run(ctx, &mut exec, &mut stack) {
            Ok(true) => Ok(SequencePoll::Return),
            Ok(false) => Ok(SequencePoll::Pending),
            Err(e) => Err(e.into_error(ctx, &exec, self.name())),
        }
    }
}

/// `string.find` and `string.match` (`str_find_aux`).
fn find_or_match<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
    kind: SearchKind,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let src = check_string(ctx, stack, 0)?;
    let pat = check_string(ctx, stack, 1)?;
    let (s, p) = (src.as_bytes(), pat.as_bytes());
    let init = start_pos(opt_integer(stack, 2, 1)?, s.len()) - 1;
    if init > s.len() {
        stack.replace(ctx, Value::Nil);
        return Ok(CallbackReturn::Return);
    }
    if kind == SearchKind::Find && (stack.get(3).to_bool() || patterns::is_plain(p)) {
        let found = patterns::find_plain(&s[init..], p).map(|i| i + init);
        charge(exec, found.map_or(s.len(), |i| i + p.len()) - init);
        match found {
            Some(i) => stack.replace(ctx, (i as i64 + 1, (i + p.len()) as i64)),
            None => stack.replace(ctx, Value::Nil),
        }
        return Ok(CallbackReturn::Return);
    }
    let mut search = Search {
        src,
        pat,
        pos: init,
        kind,
    };
    if search.run(ctx, exec, stack)? {
        Ok(CallbackReturn::Return)
    } else {
        Ok(CallbackReturn::Sequence(BoxSequence::new(&ctx, search)))
    }
}

fn str_find<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    find_or_match(ctx, exec, stack, SearchKind::Find)
}

fn str_match<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    find_or_match(ctx, exec, stack, SearchKind::Match)
}

/// A `gmatch` iterator's position: where the next scan starts and where
/// the last match ended (an empty match there is skipped).
type GmatchState = Rc<Cell<(usize, Option<usize>)>>;

/// One call of a `gmatch` iterator (`gmatch_aux`): `false` when it stopped
/// for the budget (the state holds where to continue).
fn gmatch_step<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
    (src, pat): (String<'gc>, String<'gc>),
    state: &GmatchState,
) -> LibResult<'gc, bool> {
    let (s, p) = (src.as_bytes(), pat.as_bytes());
    let (pos, last) = state.get();
    let mut m = Matcher::new(s, p);
    // A leading `^` is an ordinary character in `gmatch`.
    let plan = Plan::new(&m, false);
    let limit = work_left(exec);
    let found = patterns::scan(&mut m, &plan, pos, last, limit);
    charge(exec, m.steps);
    match found.map_err(LibError::Msg)? {
        Scan::Found(start, e) => {
            state.set((e, Some(e)));
            stack.clear();
            push_captures(ctx, stack, &m, s, (start, e), true)?;
        }
        Scan::NotFound => {
            // No results at all, as `gmatch_aux` returns 0.
            state.set((s.len() + 1, last));
            stack.clear();
        }
        Scan::Paused(at) => {
            state.set((at, last));
            return Ok(false);
        }
    }
    Ok(true)
}

/// A `gmatch` iterator call continued after a pause.
#[derive(Collect)]
#[collect(no_drop)]
struct GmatchScan<'gc> {
    subject: (String<'gc>, String<'gc>),
    #[collect(require_static)]
    state: GmatchState,
}

impl<'gc> Sequence<'gc> for GmatchScan<'gc> {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        mut exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        match gmatch_step(ctx, &mut exec, &mut stack, self.subject, &self.state) {
            Ok(true) => Ok(SequencePoll::Return),
            Ok(false) => Ok(SequencePoll::Pending),
            Err(e) => Err(e.into_error(ctx, &exec, "string.gmatch")),
        }
    }
}

/// `string.gmatch(s, pattern [, init])`: an iterator over the matches.
fn str_gmatch<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let s = check_string(ctx, stack, 0)?;
    let p = check_string(ctx, stack, 1)?;
    let init = start_pos(opt_integer(stack, 2, 1)?, s.len()) - 1;
    // Past the end: the iterator finds nothing.
    let state: GmatchState = Rc::new(Cell::new((init.min(s.len() + 1), None)));
    // lua5.4's iterator is a C closure over the subject, the pattern and
    // its state: the debug library sees those three upvalues.
    let state_ud = crate::UserData::new_static(&ctx, state.clone());
    let upvalues = [
        Value::String(s),
        Value::String(p),
        Value::UserData(state_ud),
    ];
    let iter = Callback::from_fn_with_upvalues(
        &ctx,
        (s, p),
        &upvalues,
        move |&subject, ctx, mut exec, mut stack| match gmatch_step(
            ctx, &mut exec, &mut stack, subject, &state,
        ) {
            Ok(true) => Ok(CallbackReturn::Return),
            Ok(false) => Ok(CallbackReturn::Sequence(BoxSequence::new(
                &ctx,
                GmatchScan {
                    subject,
                    state: state.clone(),
                },
            ))),
            Err(e) => Err(e.into_error(ctx, &exec, "string.gmatch")),
        },
    );
    stack.replace(ctx, iter);
    Ok(CallbackReturn::Return)
}

/// Appends a string replacement with `%0`-`%9` and `%%` expanded (`add_s`).
fn add_template<'gc>(
    out: &mut Vec<u8>,
    m: &Matcher<'_>,
    src: &[u8],
    repl: &[u8],
    s: usize,
    e: usize,
) -> LibResult<'gc, ()> {
    let mut rest = repl;
    while let Some(at) = rest.iter().position(|&c| c == b'%') {
        out.extend_from_slice(&rest[..at]);
        match rest.get(at + 1) {
            Some(&b'%') => out.push(b'%'),
            Some(&b'0') => out.extend_from_slice(&src[s..e]),
            Some(&d) if d.is_ascii_digit() => {
                match m
                    .capture((d - b'1') as usize, s, e)
                    .map_err(LibError::Msg)?
                {
                    Capture::Text(a, b) => out.extend_from_slice(&src[a..b]),
                    Capture::Position(p) => out.extend_from_slice(p.to_string().as_bytes()),
                }
            }
            _ => return fail("invalid use of '%' in replacement string"),
        }
        rest = &rest[at + 2..];
    }
    out.extend_from_slice(rest);
    Ok(())
}

/// Appends the value a table or function replacement produced
/// (`add_value`); whether it changed the text.
fn add_value<'gc>(
    out: &mut Vec<u8>,
    src: &[u8],
    (s, e): (usize, usize),
    v: Value<'gc>,
) -> LibResult<'gc, bool> {
    match v {
        Value::Nil | Value::Boolean(false) => {
            out.extend_from_slice(&src[s..e]);
            Ok(false)
        }
        Value::String(r) => {
            out.extend_from_slice(r.as_bytes());
            Ok(true)
        }
        Value::Integer(n) => {
            out.extend_from_slice(number_to_string(Number::Int(n)).as_bytes());
            Ok(true)
        }
        Value::Number(f) => {
            out.extend_from_slice(number_to_string(Number::Float(f)).as_bytes());
            Ok(true)
        }
        other => fail(format!(
            "invalid replacement value (a {})",
            other.type_name()
        )),
    }
}

/// The state of a `gsub` scan, shared by the callback and the sequence
/// that continues it (after a replacement function or `__index` call, or a
/// pause for the budget).
#[derive(Collect)]
#[collect(no_drop)]
struct Gsub<'gc> {
    src: String<'gc>,
    pat: String<'gc>,
    /// The replacement as given (a number is used as its string).
    repl: Value<'gc>,
    pos: usize,
    last: Option<usize>,
    count: i64,
    max: i64,
    out: Vec<u8>,
    /// The match whose replacement call is pending.
    pending: Option<(usize, usize)>,
    /// Whether any replacement changed the text (else the subject itself
    /// is returned, as lua5.4 does).
    changed: bool,
}

enum GsubStep<'gc> {
    Done,
    /// Stopped for the budget: poll again.
    Paused,
    Call(Function<'gc>, Vec<Value<'gc>>),
}

impl<'gc> Gsub<'gc> {
    /// Scans on until the end, a replacement call, or the step's budget.
    fn run(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Execution<'gc, '_>,
    ) -> LibResult<'gc, GsubStep<'gc>> {
        let src = self.src.as_bytes();
        let pat = self.pat.as_bytes();
        let mut m = Matcher::new(src, pat);
        let plan = Plan::new(&m, true);
        let limit = work_left(exec);
        let out_before = self.out.len();
        let step = self.scan(ctx, &mut m, &plan, limit);
        charge(
            exec,
            m.steps + (self.out.len().saturating_sub(out_before)) / 4,
        );
        step
    }

    fn scan(
        &mut self,
        ctx: Context<'gc>,
        m: &mut Matcher<'_>,
        plan: &Plan,
        limit: usize,
    ) -> LibResult<'gc, GsubStep<'gc>> {
        let src = self.src.as_bytes();
        // Output counts as work too (a long replacement per match).
        let out_start = self.out.len();
        while self.count < self.max {
            check_string_size(ctx, self.out.len())?;
            let found = if m.may_start(self.pos, plan.first) {
                m.match_at(self.pos, plan.start).map_err(LibError::Msg)?
            } else {
                m.steps += 1;
                None
            };
            match found {
                Some(e) if Some(e) != self.last => {
                    self.count += 1;
                    let s = self.pos;
                    self.pos = e;
                    self.last = Some(e);
                    match self.repl {
                        Value::String(r) => {
                            add_template(&mut self.out, m, src, r.as_bytes(), s, e)?;
                            self.changed = true;
                        }
                        Value::Integer(n) => {
                            let r = number_to_string(Number::Int(n));
                            add_template(&mut self.out, m, src, r.as_bytes(), s, e)?;
                            self.changed = true;
                        }
                        Value::Number(f) => {
                            let r = number_to_string(Number::Float(f));
                            add_template(&mut self.out, m, src, r.as_bytes(), s, e)?;
                            self.changed = true;
                        }
                        Value::Table(t) => {
                            let key =
                                capture_value(ctx, src, m.capture(0, s, e).map_err(LibError::Msg)?);
                            // `__index` applies, as `lua_gettable` does.
                            match meta::index(ctx, Value::Table(t), key).map_err(LibError::Msg)? {
                                Step::Done(v) => {
                                    self.changed |= add_value(&mut self.out, src, (s, e), v)?
                                }
                                Step::Call {
                                    function,
                                    args,
                                    nargs,
                                } => {
                                    self.pending = Some((s, e));
                                    return Ok(GsubStep::Call(function, args[..nargs].to_vec()));
                                }
                            }
                        }
                        Value::Function(f) => {
                            let n = m.capture_count(true);
                            let mut args = Vec::with_capacity(n);
                            for i in 0..n {
                                let c = m.capture(i, s, e).map_err(LibError::Msg)?;
                                args.push(capture_value(ctx, src, c));
                            }
                            self.pending = Some((s, e));
                            return Ok(GsubStep::Call(f, args));
                        }
                        _ => {}
                    }
                }
                _ if self.pos < src.len() => {
                    self.out.push(src[self.pos]);
                    self.pos += 1;
                }
                _ => break,
            }
            if plan.anchored {
                break;
            }
            if m.steps + (self.out.len() - out_start) / 4 >= limit {
                return Ok(GsubStep::Paused);
            }
        }
        Ok(GsubStep::Done)
    }

    fn finish(&mut self, ctx: Context<'gc>, stack: &mut Stack<'gc, '_>) -> LibResult<'gc, ()> {
        let src = self.src.as_bytes();
        let result = if self.changed {
            if self.pos < src.len() {
                self.out.extend_from_slice(&src[self.pos..]);
            }
            check_string_size(ctx, self.out.len())?;
            ctx.intern(&self.out)
        } else {
            self.src
        };
        stack.replace(ctx, (result, self.count));
        Ok(())
    }

    /// Runs on and says what the executor should do next.
    fn advance(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Execution<'gc, '_>,
        stack: &mut Stack<'gc, '_>,
    ) -> LibResult<'gc, Resume<'gc>> {
        Ok(match self.run(ctx, exec)? {
            GsubStep::Done => {
                self.finish(ctx, stack)?;
                Resume::Return
            }
            GsubStep::Paused => Resume::Pending,
            GsubStep::Call(f, args) => {
                stack.replace(ctx, args);
                Resume::Call(f)
            }
        })
    }
}

/// What a substitution (`string.gsub`, `ngx.re.sub`/`gsub`) that can stop
/// between matches asks of the executor after a stretch of its work: its
/// results are on the stack, its budget slice is spent (run it again), or
/// a replacement function is to be called with the arguments on the stack.
pub(crate) enum Resume<'gc> {
    Return,
    Pending,
    Call(Function<'gc>),
}

impl<'gc> Resume<'gc> {
    /// The callback's answer, continuing in `seq` when not finished.
    pub(crate) fn callback_return(
        self,
        ctx: Context<'gc>,
        seq: impl Sequence<'gc> + 'gc,
    ) -> CallbackReturn<'gc> {
        match self {
            Resume::Return => CallbackReturn::Return,
            Resume::Pending => CallbackReturn::Sequence(BoxSequence::new(&ctx, seq)),
            Resume::Call(function) => CallbackReturn::Call {
                function,
                then: Some(BoxSequence::new(&ctx, seq)),
            },
        }
    }

    /// The continuing sequence's answer.
    pub(crate) fn poll(self) -> SequencePoll<'gc> {
        match self {
            Resume::Return => SequencePoll::Return,
            Resume::Pending => SequencePoll::Pending,
            Resume::Call(function) => SequencePoll::Call {
                function,
                is_tail: false,
            },
        }
    }
}

impl<'gc> Sequence<'gc> for Gsub<'gc> {
    /// Called the way `lua_call` calls: a yield below it is an error.
    fn yieldable(&self) -> bool {
        false
    }

    fn poll(
        &mut self,
        ctx: Context<'gc>,
        mut exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        let r = (|| {
            if let Some(m) = self.pending.take() {
                let v = stack.get(0);
                self.changed |= add_value(&mut self.out, self.src.as_bytes(), m, v)?;
                if self.pat.as_bytes().first() == Some(&b'^') {
                    self.finish(ctx, &mut stack)?;
                    return Ok(Resume::Return);
                }
            }
            self.advance(ctx, &mut exec, &mut stack)
        })();
        r.map(Resume::poll)
            .map_err(|e| e.into_error(ctx, &exec, "string.gsub"))
    }
}

fn str_gsub<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let src = check_string(ctx, stack, 0)?;
    let pat = check_string(ctx, stack, 1)?;
    let repl = stack.get(2);
    let max = opt_integer(stack, 3, src.len() as i64 + 1)?;
    if !matches!(
        repl,
        Value::String(_)
            | Value::Integer(_)
            | Value::Number(_)
            | Value::Table(_)
            | Value::Function(_)
    ) {
        return type_error(stack, 2, "string/function/table");
    }
    let mut gsub = Gsub {
        src,
        pat,
        repl,
        pos: 0,
        last: None,
        count: 0,
        max,
        out: Vec::new(),
        pending: None,
        changed: false,
    };
    Ok(gsub.advance(ctx, exec, stack)?.callback_return(ctx, gsub))
}

/// Builds the `string` table and makes it the `__index` of a fresh
/// string metatable (one per VM: every string value shares it).
pub fn load_string<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    let string = ctx.new_table();
    set_fn(ctx, string, "string.byte", str_byte);
    set_fn(ctx, string, "string.char", str_char);
    set_fn(ctx, string, "string.dump", super::dump::str_dump);
    set_fn(ctx, string, "string.find", str_find);
    set_fn(ctx, string, "string.format", super::format::str_format);
    set_fn(ctx, string, "string.gmatch", str_gmatch);
    set_fn(ctx, string, "string.gsub", str_gsub);
    set_fn(ctx, string, "string.len", str_len);
    set_fn(ctx, string, "string.lower", str_lower);
    set_fn(ctx, string, "string.match", str_match);
    set_fn(ctx, string, "string.rep", str_rep);
    set_fn(ctx, string, "string.reverse", str_reverse);
    set_fn(ctx, string, "string.sub", str_sub);
    set_fn(ctx, string, "string.upper", str_upper);
    super::pack::load_pack(ctx, string);
    let mt = ctx.new_table();
    let _ = mt.set(ctx, "__index", string);
    ctx.set_type_metatable(Value::String(ctx.intern(b"")), Some(mt));
    string
}
