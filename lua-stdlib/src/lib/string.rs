//! The `string` library: `byte char find format gmatch gsub len lower match
//! rep reverse sub upper pack unpack packsize`, over bytes (C locale), with
//! the pattern functions on [`super::patterns`] and `format` in
//! [`super::format`]. Work that grows with the input charges fuel.

use std::{cell::Cell, rc::Rc};

use gc_arena::Collect;
use piccolo::{
    BoxSequence, Callback, CallbackReturn, Context, Error, Execution, Function, Sequence,
    SequencePoll, Stack, String, Table, Value,
};

use super::args::{
    arg_fail, charge, check_integer, check_string, fail, new_string, opt_integer, set_fn,
    type_name_at, LibError, LibResult,
};
use super::patterns::{self, Capture, Matcher};

/// Largest string `rep` and `gsub` build. lua5.4's limit is the address
/// space; a gateway worker must not be able to ask for gigabytes in one
/// callback (the host checks memory only between VM slices), so results
/// above 256 MiB fail with lua5.4's `resulting string too large`.
const MAX_STRING: usize = 256 << 20;

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
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let s = check_string(ctx, stack, 0)?.as_bytes();
    let i = start_pos(check_integer(stack, 1)?, s.len());
    let j = end_pos(opt_integer(stack, 2, -1)?, s.len());
    let out = if i > j { &[][..] } else { &s[i - 1..j] };
    stack.replace(ctx, new_string(ctx, out));
    Ok(CallbackReturn::Return)
}

fn str_byte<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let s = check_string(ctx, stack, 0)?.as_bytes();
    let i = opt_integer(stack, 1, 1)?;
    let first = start_pos(i, s.len());
    let last = end_pos(opt_integer(stack, 2, i)?, s.len());
    stack.clear();
    if first <= last {
        if last - first >= i32::MAX as usize {
            return fail("string slice too long");
        }
        stack.extend(s[first - 1..last].iter().map(|&b| Value::Integer(b as i64)));
    }
    Ok(CallbackReturn::Return)
}

fn str_char<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
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
    stack.replace(ctx, new_string(ctx, &out));
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
    stack.replace(ctx, new_string(ctx, &f(s)));
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
    let sep = match super::args::opt_string(ctx, stack, 2)? {
        Some(sep) => sep.as_bytes(),
        None => &[][..],
    };
    if n <= 0 {
        stack.replace(ctx, new_string(ctx, b""));
        return Ok(CallbackReturn::Return);
    }
    let n = n as u64;
    let total = (s.len() as u64 + sep.len() as u64)
        .checked_mul(n)
        .filter(|&t| t <= MAX_STRING as u64);
    let Some(total) = total else {
        return fail("resulting string too large");
    };
    charge(exec, total as usize);
    let mut out = Vec::with_capacity(total as usize);
    for k in 0..n {
        out.extend_from_slice(s);
        if k + 1 < n {
            out.extend_from_slice(sep);
        }
    }
    stack.replace(ctx, new_string(ctx, &out));
    Ok(CallbackReturn::Return)
}

/// Pushes the captures of a match as Lua values.
fn capture_values<'gc>(ctx: Context<'gc>, src: &[u8], caps: &[Capture]) -> Vec<Value<'gc>> {
    caps.iter()
        .map(|c| match *c {
            Capture::Text(s, e) => Value::String(new_string(ctx, &src[s..e])),
            Capture::Position(p) => Value::Integer(p as i64),
        })
        .collect()
}

/// Pushes the captures of the match `s..e` onto the stack (the whole
/// match when the pattern has none and `whole_if_none`), without
/// intermediate allocations: `gmatch` and `find` run this per match.
fn push_captures<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    m: &Matcher<'_>,
    src: &[u8],
    (s, e): (usize, usize),
    whole_if_none: bool,
) -> Result<(), std::string::String> {
    let n = if m.level() == 0 && whole_if_none {
        1
    } else {
        m.level()
    };
    for i in 0..n {
        stack.push_back(match m.capture(i, s, e)? {
            Capture::Text(a, b) => Value::String(new_string(ctx, &src[a..b])),
            Capture::Position(p) => Value::Integer(p as i64),
        });
    }
    Ok(())
}

fn pattern_error<'gc, T>(msg: std::string::String) -> LibResult<'gc, T> {
    Err(LibError::Msg(msg))
}

/// `string.find` (`find = true`) and `string.match` (`find = false`).
fn find_or_match<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
    find: bool,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let s = check_string(ctx, stack, 0)?.as_bytes();
    let p = check_string(ctx, stack, 1)?.as_bytes();
    let init = start_pos(opt_integer(stack, 2, 1)?, s.len()) - 1;
    if init > s.len() {
        stack.replace(ctx, Value::Nil);
        return Ok(CallbackReturn::Return);
    }
    if find && (stack.get(3).to_bool() || patterns::is_plain(p)) {
        charge(exec, s.len() - init);
        let found = if p.is_empty() {
            Some(init)
        } else {
            s[init..]
                .windows(p.len())
                .position(|w| w == p)
                .map(|i| i + init)
        };
        match found {
            Some(i) => stack.replace(ctx, (i as i64 + 1, (i + p.len()) as i64)),
            None => stack.replace(ctx, Value::Nil),
        }
        return Ok(CallbackReturn::Return);
    }
    let mut m = Matcher::new(s, p);
    let found = patterns::find(&mut m, init);
    charge(exec, m.steps);
    match found.or_else(pattern_error)? {
        Some((start, end)) => {
            stack.clear();
            if find {
                stack.push_back(Value::Integer(start as i64 + 1));
                stack.push_back(Value::Integer(end as i64));
            }
            push_captures(ctx, stack, &m, s, (start, end), !find).or_else(pattern_error)?;
        }
        None => stack.replace(ctx, Value::Nil),
    }
    Ok(CallbackReturn::Return)
}

fn str_find<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    find_or_match(ctx, exec, stack, true)
}

fn str_match<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    find_or_match(ctx, exec, stack, false)
}

/// `string.gmatch(s, pattern [, init])`: an iterator over the matches. The
/// iterator's position lives in a `Cell` shared with its callback.
fn str_gmatch<'gc>(
    ctx: Context<'gc>,
    _: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let s = check_string(ctx, stack, 0)?;
    let p = check_string(ctx, stack, 1)?;
    let init = start_pos(opt_integer(stack, 2, 1)?, s.as_bytes().len()) - 1;
    // Past the end: the iterator finds nothing.
    let start = init.min(s.as_bytes().len() + 1);
    let state = Rc::new(Cell::new((start, None::<usize>)));
    // Depends on the pattern only: worked out once, not per iteration.
    let first = Matcher::new(s.as_bytes(), p.as_bytes()).first_class(0);
    let iter = Callback::from_fn_with(&ctx, (s, p), move |&(s, p), ctx, mut exec, mut stack| {
        let (src, pat) = (s.as_bytes(), p.as_bytes());
        let (mut pos, last) = state.get();
        let mut m = Matcher::new(src, pat);
        let err = |msg: std::string::String, exec: &Execution<'gc, '_>| {
            LibError::Msg(msg).into_error(ctx, exec, "string.gmatch")
        };
        while pos <= src.len() {
            if !m.may_start(pos, first) {
                pos += 1;
                continue;
            }
            let r = m.match_at(pos, 0).map_err(|e| err(e, &exec))?;
            if let Some(e) = r {
                if Some(e) != last {
                    state.set((e, Some(e)));
                    charge(&mut exec, m.steps);
                    stack.clear();
                    push_captures(ctx, &mut stack, &m, src, (pos, e), true)
                        .map_err(|e| err(e, &exec))?;
                    return Ok(CallbackReturn::Return);
                }
            }
            pos += 1;
        }
        charge(&mut exec, m.steps);
        state.set((pos, last));
        stack.replace(ctx, Value::Nil);
        Ok(CallbackReturn::Return)
    });
    stack.replace(ctx, iter);
    Ok(CallbackReturn::Return)
}

/// Appends a string replacement with `%0`-`%9` and `%%` expanded.
fn add_template<'gc>(
    out: &mut Vec<u8>,
    m: &Matcher<'_>,
    src: &[u8],
    repl: &[u8],
    s: usize,
    e: usize,
) -> LibResult<'gc, ()> {
    let mut i = 0;
    while i < repl.len() {
        let c = repl[i];
        i += 1;
        if c != b'%' {
            out.push(c);
            continue;
        }
        match repl.get(i) {
            Some(&b'%') => out.push(b'%'),
            Some(&d) if d.is_ascii_digit() => {
                let cap = if d == b'0' {
                    Capture::Text(s, e)
                } else {
                    m.capture((d - b'1') as usize, s, e)
                        .or_else(pattern_error)?
                };
                match cap {
                    Capture::Text(a, b) => out.extend_from_slice(&src[a..b]),
                    Capture::Position(p) => out.extend_from_slice(p.to_string().as_bytes()),
                }
            }
            _ => return fail("invalid use of '%' in replacement string"),
        }
        i += 1;
    }
    Ok(())
}

/// Appends the value a table or function replacement produced.
fn add_value<'gc>(
    out: &mut Vec<u8>,
    src: &[u8],
    s: usize,
    e: usize,
    v: Value<'gc>,
) -> LibResult<'gc, bool> {
    match v {
        Value::Nil | Value::Boolean(false) => {
            out.extend_from_slice(&src[s..e]);
            return Ok(false);
        }
        Value::String(r) => out.extend_from_slice(r.as_bytes()),
        Value::Integer(_) | Value::Number(_) => {
            out.extend_from_slice(super::number::number_to_string(v).as_bytes())
        }
        other => {
            return fail(format!(
                "invalid replacement value (a {})",
                other.type_name()
            ))
        }
    }
    Ok(true)
}

/// The state of a `gsub` scan, shared by the direct loop and the sequence
/// that calls a replacement function.
#[derive(Collect)]
#[collect(no_drop)]
struct Gsub<'gc> {
    src: String<'gc>,
    pat: String<'gc>,
    repl: Value<'gc>,
    pos: usize,
    last: Option<usize>,
    count: i64,
    max: i64,
    out: Vec<u8>,
    /// The match whose replacement function call is pending.
    pending: Option<(usize, usize)>,
    /// Whether any replacement changed the text (else the subject itself
    /// is returned, as lua5.4 does).
    changed: bool,
}

enum GsubStep<'gc> {
    Done,
    Call(Function<'gc>, Vec<Value<'gc>>),
}

impl<'gc> Gsub<'gc> {
    /// Scans on until the end, or until a replacement function must be
    /// called.
    fn run(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Execution<'gc, '_>,
    ) -> LibResult<'gc, GsubStep<'gc>> {
        let src = self.src.as_bytes();
        let pat = self.pat.as_bytes();
        let anchored = pat.first() == Some(&b'^');
        let p = usize::from(anchored);
        let mut m = Matcher::new(src, pat);
        let first = m.first_class(p);
        let result = (|| {
            while self.count < self.max {
                if self.out.len() > MAX_STRING {
                    return fail("resulting string too large");
                }
                let found = if m.may_start(self.pos, first) {
                    m.match_at(self.pos, p).or_else(pattern_error)?
                } else {
                    m.steps += 1;
                    None
                };
                match found {
                    Some(e) if Some(e) != self.last => {
                        self.count += 1;
                        let s = self.pos;
                        match self.repl {
                            Value::String(r) => {
                                add_template(&mut self.out, &m, src, r.as_bytes(), s, e)?;
                                self.changed = true;
                            }
                            Value::Integer(_) | Value::Number(_) => {
                                let r = super::number::number_to_string(self.repl);
                                add_template(&mut self.out, &m, src, r.as_bytes(), s, e)?;
                                self.changed = true;
                            }
                            Value::Table(t) => {
                                let key = match m.capture(0, s, e).or_else(pattern_error)? {
                                    Capture::Text(a, b) => {
                                        Value::String(new_string(ctx, &src[a..b]))
                                    }
                                    Capture::Position(p) => Value::Integer(p as i64),
                                };
                                // `__index` applies, as lua_gettable does.
                                let found = piccolo::meta_ops::index(ctx, Value::Table(t), key)
                                    .map_err(|err| LibError::Msg(err.to_string()))?;
                                match found {
                                    piccolo::meta_ops::MetaResult::Value(v) => {
                                        self.changed |= add_value(&mut self.out, src, s, e, v)?
                                    }
                                    piccolo::meta_ops::MetaResult::Call(call) => {
                                        self.pending = Some((s, e));
                                        self.pos = e;
                                        self.last = Some(e);
                                        return Ok(GsubStep::Call(
                                            call.function,
                                            call.args.to_vec(),
                                        ));
                                    }
                                }
                            }
                            Value::Function(f) => {
                                let caps = m.captures(s, e, true).or_else(pattern_error)?;
                                self.pending = Some((s, e));
                                self.pos = e;
                                self.last = Some(e);
                                return Ok(GsubStep::Call(f, capture_values(ctx, src, &caps)));
                            }
                            _ => {}
                        }
                        self.pos = e;
                        self.last = Some(e);
                    }
                    _ if self.pos < src.len() => {
                        self.out.push(src[self.pos]);
                        self.pos += 1;
                    }
                    _ => break,
                }
                if anchored {
                    break;
                }
            }
            Ok(GsubStep::Done)
        })();
        charge(exec, m.steps + self.out.len() / 4);
        result
    }

    fn finish(&mut self, ctx: Context<'gc>, stack: &mut Stack<'gc, '_>) {
        let src = self.src.as_bytes();
        if self.pos < src.len() {
            self.out.extend_from_slice(&src[self.pos..]);
        }
        let result = if self.changed {
            new_string(ctx, &self.out)
        } else {
            self.src
        };
        stack.replace(ctx, (result, self.count));
    }
}

impl<'gc> Sequence<'gc> for Gsub<'gc> {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        mut exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        if let Some((s, e)) = self.pending.take() {
            let v = stack.get(0);
            self.changed |= add_value(&mut self.out, self.src.as_bytes(), s, e, v)
                .map_err(|err| err.into_error(ctx, &exec, "string.gsub"))?;
            if self.pat.as_bytes().first() == Some(&b'^') {
                self.finish(ctx, &mut stack);
                return Ok(SequencePoll::Return);
            }
        }
        match self
            .run(ctx, &mut exec)
            .map_err(|err| err.into_error(ctx, &exec, "string.gsub"))?
        {
            GsubStep::Done => {
                self.finish(ctx, &mut stack);
                Ok(SequencePoll::Return)
            }
            GsubStep::Call(function, args) => {
                stack.replace(ctx, piccolo::Variadic(args));
                Ok(SequencePoll::Call {
                    function,
                    is_tail: false,
                })
            }
        }
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
    if !matches!(
        repl,
        Value::String(_)
            | Value::Integer(_)
            | Value::Number(_)
            | Value::Table(_)
            | Value::Function(_)
    ) {
        return arg_fail(
            2,
            format!(
                "string/function/table expected, got {}",
                type_name_at(stack, 2)
            ),
        );
    }
    let max = opt_integer(stack, 3, src.as_bytes().len() as i64 + 1)?;
    let mut gsub = Gsub {
        src,
        pat,
        repl,
        pos: 0,
        last: None,
        count: 0,
        max,
        out: Vec::with_capacity(src.as_bytes().len()),
        pending: None,
        changed: false,
    };
    match gsub.run(ctx, exec)? {
        GsubStep::Done => {
            gsub.finish(ctx, stack);
            Ok(CallbackReturn::Return)
        }
        GsubStep::Call(function, args) => {
            stack.replace(ctx, piccolo::Variadic(args));
            Ok(CallbackReturn::Call {
                function,
                then: Some(BoxSequence::new(&ctx, gsub)),
            })
        }
    }
}

/// Builds the `string` table.
pub fn load_string<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    let string = Table::new(&ctx);
    set_fn(ctx, string, "string.byte", str_byte);
    set_fn(ctx, string, "string.char", str_char);
    set_fn(ctx, string, "string.find", str_find);
    set_fn(ctx, string, "string.format", super::format::string_format);
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
    string
}
