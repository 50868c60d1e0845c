//! The instruction loop (`lvm.c`): runs the Lua frame on top of a thread
//! until it calls, returns, raises or runs out of fuel; a Lua function
//! calling a Lua function, and its return to a Lua caller, switch frames
//! inside the loop (no hooks). Fast paths are
//! inline; everything that may call a metamethod leaves the loop through a
//! helper that pushes the call as a frame, and [`Machine::finish_op`]
//! completes the instruction with its result when it returns.

use gc_arena::Gc;

use super::call::{Flow, Machine};
use super::closure::{UpVal, UpvalState};
use super::error::Error;
use super::meta::{self, Event};
use super::number::{self, Number};
use super::opcode::*;
use super::thread::{Frame, Ret, ThreadState, MAX_STACK};
use super::value::{Function, Value};

pub(crate) use super::call::step;

/// Which operand an error is about (for its variable name).
#[derive(Clone, Copy)]
pub(crate) enum Culprit {
    Reg(usize),
    Upval(usize),
    Other,
}

/// `__index` / `__newindex` chains longer than this are loops (`MAXTAGLOOP`).
const MAX_TAG_LOOP: usize = 2000;

/// The integer fast path of an arithmetic instruction (`None`: not handled
/// here, e.g. division by zero, which raises through the slow path).
#[inline(always)]
fn arith_int(op: u8, x: i64, y: i64) -> Option<i64> {
    Some(match op {
        ADD | ADDI | ADDK => x.wrapping_add(y),
        SUB | SUBK => x.wrapping_sub(y),
        MUL | MULK => x.wrapping_mul(y),
        MOD | MODK if y != 0 => number::int_mod(x, y)?,
        IDIV | IDIVK if y != 0 => number::int_floor_div(x, y)?,
        BAND | BANDK => x & y,
        BOR | BORK => x | y,
        BXOR | BXORK => x ^ y,
        _ => return None,
    })
}

/// The float fast path of an arithmetic instruction.
#[inline(always)]
fn arith_float(op: u8, x: f64, y: f64) -> Option<f64> {
    Some(match op {
        ADD | ADDK => x + y,
        SUB | SUBK => x - y,
        MUL | MULK => x * y,
        DIV | DIVK => x / y,
        _ => return None,
    })
}

/// Arithmetic and bitwise operations on numbers, by event. `Err` carries a
/// message (integer division by zero); `Ok(None)`: not numbers.
pub(crate) fn arith<'gc>(
    ev: Event,
    x: Value<'gc>,
    y: Value<'gc>,
) -> Result<Option<Value<'gc>>, &'static str> {
    use Value::{Integer as I, Number as F};
    let fl = |v: Value<'_>| match v {
        I(i) => Some(i as f64),
        F(f) => Some(f),
        _ => None,
    };
    match ev {
        meta::BAND | meta::BOR | meta::BXOR | meta::SHL | meta::SHR | meta::BNOT => {
            let (Some(a), Some(b)) = (to_int_strict(x), to_int_strict(y)) else {
                return Ok(None);
            };
            return Ok(Some(I(match ev {
                meta::BAND => a & b,
                meta::BOR => a | b,
                meta::BXOR => a ^ b,
                meta::SHL => number::shift_left(a, b),
                meta::SHR => number::shift_left(a, b.wrapping_neg()),
                _ => !a,
            })));
        }
        _ => {}
    }
    if let (I(a), I(b)) = (x, y) {
        return Ok(Some(match ev {
            meta::ADD => I(a.wrapping_add(b)),
            meta::SUB => I(a.wrapping_sub(b)),
            meta::MUL => I(a.wrapping_mul(b)),
            meta::MOD => I(number::int_mod(a, b).ok_or("attempt to perform 'n%0'")?),
            meta::IDIV => I(number::int_floor_div(a, b).ok_or("attempt to divide by zero")?),
            meta::DIV => F(a as f64 / b as f64),
            meta::POW => F((a as f64).powf(b as f64)),
            meta::UNM => I(a.wrapping_neg()),
            _ => return Ok(None),
        }));
    }
    let (Some(a), Some(b)) = (fl(x), fl(y)) else {
        return Ok(None);
    };
    Ok(Some(F(match ev {
        meta::ADD => a + b,
        meta::SUB => a - b,
        meta::MUL => a * b,
        meta::MOD => number::float_mod(a, b),
        meta::IDIV => number::float_floor_div(a, b),
        meta::DIV => a / b,
        meta::POW => {
            if b == 2.0 {
                a * a
            } else {
                a.powf(b)
            }
        }
        meta::UNM => -a,
        _ => return Ok(None),
    })))
}

/// `luaV_tointegerns` for bitwise operands: integers and integral floats
/// (lua5.4.4 does not coerce strings here).
fn to_int_strict(v: Value<'_>) -> Option<i64> {
    match v {
        Value::Integer(i) => Some(i),
        Value::Number(f) => number::float_to_integer(f),
        _ => None,
    }
}

/// The operands of an arithmetic instruction were not two integers or two
/// floats: mixed numbers are computed here; `Ok(None)` leaves the operation
/// to the `MMBIN*` instruction that follows (metamethods, string coercion,
/// errors). `k`: the second operand is a constant.
#[cold]
#[inline(never)]
fn arith_slow<'gc>(
    op: u8,
    x: Value<'gc>,
    y: Value<'gc>,
    k: bool,
) -> Result<Option<Value<'gc>>, &'static str> {
    let ev = op_event(op);
    let is_num = |v: Value<'gc>| matches!(v, Value::Integer(_) | Value::Number(_));
    let go = if k {
        match ev {
            meta::BAND | meta::BOR | meta::BXOR => is_num(x),
            _ => true,
        }
    } else {
        (is_num(x) && is_num(y))
            || matches!(
                ev,
                meta::BAND | meta::BOR | meta::BXOR | meta::SHL | meta::SHR
            )
    };
    if go {
        arith(ev, x, y)
    } else {
        Ok(None)
    }
}

fn op_event(op: u8) -> Event {
    match op {
        ADD | ADDI | ADDK => meta::ADD,
        SUB | SUBK => meta::SUB,
        MUL | MULK => meta::MUL,
        MOD | MODK => meta::MOD,
        POW | POWK => meta::POW,
        DIV | DIVK => meta::DIV,
        IDIV | IDIVK => meta::IDIV,
        BAND | BANDK => meta::BAND,
        BOR | BORK => meta::BOR,
        BXOR | BXORK => meta::BXOR,
        SHL | SHLI => meta::SHL,
        SHR | SHRI => meta::SHR,
        UNM => meta::UNM,
        _ => meta::BNOT,
    }
}

fn tostr_num(v: Value<'_>) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(i) => Some(i.to_string().into_bytes()),
        Value::Number(f) => Some(number::float_to_string(f).into_bytes()),
        _ => None,
    }
}

impl<'gc, 'f> Machine<'gc, 'f> {
    fn get_upval(&self, st: &ThreadState<'gc>, up: UpVal<'gc>) -> Value<'gc> {
        match up.get() {
            UpvalState::Closed(v) => v,
            UpvalState::Open { thread, index } => {
                if thread.ptr_eq(self.thread) {
                    st.stack[index]
                } else {
                    thread
                        .0
                        .try_borrow()
                        .ok()
                        .and_then(|t| t.stack.get(index).copied())
                        .unwrap_or(Value::Nil)
                }
            }
        }
    }

    fn set_upval(&self, st: &mut ThreadState<'gc>, up: UpVal<'gc>, v: Value<'gc>) {
        match up.get() {
            UpvalState::Closed(_) => up.unlock(&self.ctx).set(UpvalState::Closed(v)),
            UpvalState::Open { thread, index } => {
                if thread.ptr_eq(self.thread) {
                    st.stack[index] = v;
                } else if let Ok(mut t) = thread.0.try_borrow_mut(&self.ctx) {
                    if let Some(slot) = t.stack.get_mut(index) {
                        *slot = v;
                    }
                }
            }
        }
    }

    fn find_upval(&self, st: &mut ThreadState<'gc>, idx: usize) -> UpVal<'gc> {
        let mut pos = st.open_upvals.len();
        while pos > 0 {
            let (i, up) = st.open_upvals[pos - 1];
            if i == idx {
                return up;
            }
            if i < idx {
                break;
            }
            pos -= 1;
        }
        let up = self.ctx.new_upval(UpvalState::Open {
            thread: self.thread,
            index: idx,
        });
        st.open_upvals.insert(pos, (idx, up));
        up
    }

    fn top_frame<'s>(st: &'s ThreadState<'gc>) -> Option<&'s super::thread::LuaFrame<'gc>> {
        match st.frames.last() {
            Some(Frame::Lua(f)) => Some(f),
            _ => None,
        }
    }

    /// ` (local 'x')` for the culprit of an error in the running frame.
    pub(crate) fn var_info(&self, st: &ThreadState<'gc>, c: Culprit) -> String {
        let Some(f) = Self::top_frame(st) else {
            return String::new();
        };
        let p = f.closure.proto();
        match c {
            Culprit::Reg(r) => super::debug::reg_info(p, f.pc.saturating_sub(1), r),
            Culprit::Upval(u) => super::debug::upval_info(p, u),
            Culprit::Other => String::new(),
        }
    }

    fn type_error(
        &self,
        st: &ThreadState<'gc>,
        v: Value<'gc>,
        what: &str,
        c: Culprit,
    ) -> Error<'gc> {
        let info = self.var_info(st, c);
        let tn = meta::type_name_of(self.ctx, v);
        self.rt_error(st, &format!("attempt to {what} a {tn} value{info}"))
    }

    /// Calls metamethod `f` with `args` above the live stack; its first
    /// result finishes the current instruction.
    fn meta_call(
        &mut self,
        st: &mut ThreadState<'gc>,
        f: Value<'gc>,
        args: &[Value<'gc>],
    ) -> Result<Flow<'gc>, Error<'gc>> {
        let func = st.stack.len();
        if func + args.len() + 1 > MAX_STACK {
            if let Some(e) = self.stack_overflow(st, func + args.len() + 1) {
                return Err(e);
            }
        }
        st.stack.push(f);
        st.stack.extend_from_slice(args);
        let ret = Ret {
            meta: true,
            ..Ret::new(func, 1)
        };
        self.call_value(st, func, args.len(), ret)
    }

    /// `t[key]` with `__index`: `Ok(Some(v))` when found without a call.
    fn index(
        &mut self,
        st: &mut ThreadState<'gc>,
        mut t: Value<'gc>,
        key: Value<'gc>,
        culprit: Culprit,
    ) -> Result<Option<Value<'gc>>, Error<'gc>> {
        for n in 0..MAX_TAG_LOOP {
            let tm = if let Value::Table(tab) = t {
                let v = tab.raw_get(key);
                if !v.is_nil() {
                    return Ok(Some(v));
                }
                match tab.metatable() {
                    None => return Ok(Some(Value::Nil)),
                    Some(mt) => {
                        let tm = meta::event_in(self.ctx, mt, meta::INDEX);
                        if tm.is_nil() {
                            return Ok(Some(Value::Nil));
                        }
                        tm
                    }
                }
            } else {
                let tm = meta::event(self.ctx, t, meta::INDEX);
                if tm.is_nil() {
                    let c = if n == 0 { culprit } else { Culprit::Other };
                    return Err(self.index_error(st, t, c));
                }
                tm
            };
            if let Value::Function(_) = tm {
                return match self.meta_call(st, tm, &[t, key])? {
                    Flow::Continue => Ok(None),
                    Flow::Stop(s) => {
                        self.pending_stop = Some(s);
                        Ok(None)
                    }
                };
            }
            t = tm;
        }
        Err(self.rt_error(st, "'__index' chain too long; possible loop"))
    }

    /// "attempt to index a nil value (local 't')": named by what holds
    /// the indexed value, never by the key (`luaG_typeerror`).
    fn index_error(&self, st: &ThreadState<'gc>, t: Value<'gc>, c: Culprit) -> Error<'gc> {
        let info = self.var_info(st, c);
        let tn = meta::type_name_of(self.ctx, t);
        self.rt_error(st, &format!("attempt to index a {tn} value{info}"))
    }

    /// `t[key] = v` with `__newindex`: `Ok(true)` when done without a call.
    fn new_index(
        &mut self,
        st: &mut ThreadState<'gc>,
        mut t: Value<'gc>,
        key: Value<'gc>,
        v: Value<'gc>,
        culprit: Culprit,
    ) -> Result<bool, Error<'gc>> {
        for n in 0..MAX_TAG_LOOP {
            let tm = if let Value::Table(tab) = t {
                // A frozen table refuses every raw write: one with a
                // `__newindex` answers every write, present keys too (the
                // gateway's sandbox names the table in its message).
                let tm = if tab.is_frozen() || tab.raw_get(key).is_nil() {
                    match tab.metatable() {
                        Some(mt) => meta::event_in(self.ctx, mt, meta::NEWINDEX),
                        None => Value::Nil,
                    }
                } else {
                    Value::Nil
                };
                if tm.is_nil() {
                    return match tab.raw_set(&self.ctx, key, v) {
                        Ok(()) => Ok(true),
                        Err(e) => Err(self.rt_error(st, e.message())),
                    };
                }
                tm
            } else {
                let tm = meta::event(self.ctx, t, meta::NEWINDEX);
                if tm.is_nil() {
                    let c = if n == 0 { culprit } else { Culprit::Other };
                    return Err(self.index_error(st, t, c));
                }
                tm
            };
            if let Value::Function(_) = tm {
                if let Flow::Stop(s) = self.meta_call(st, tm, &[t, key, v])? {
                    self.pending_stop = Some(s);
                }
                return Ok(false);
            }
            t = tm;
        }
        Err(self.rt_error(st, "'__newindex' chain too long; possible loop"))
    }

    /// The fallback of an arithmetic or bitwise instruction (`MMBIN*`,
    /// `UNM`, `BNOT`): metamethods, string coercion, or the error.
    /// `Ok(Some(v))`: result computed without a call.
    fn arith_meta(
        &mut self,
        st: &mut ThreadState<'gc>,
        ev: Event,
        x: Value<'gc>,
        y: Value<'gc>,
        cx: Culprit,
        cy: Culprit,
    ) -> Result<Option<Value<'gc>>, Error<'gc>> {
        let mut tm = meta::event(self.ctx, x, ev);
        if tm.is_nil() {
            tm = meta::event(self.ctx, y, ev);
        }
        if !tm.is_nil() {
            if let Flow::Stop(s) = self.meta_call(st, tm, &[x, y])? {
                self.pending_stop = Some(s);
            }
            return Ok(None);
        }
        let bitwise = matches!(
            ev,
            meta::BAND | meta::BOR | meta::BXOR | meta::SHL | meta::SHR | meta::BNOT
        );
        if bitwise {
            let is_num = |v: Value<'gc>| matches!(v, Value::Integer(_) | Value::Number(_));
            let (bad, c) = if is_num(x) && is_num(y) {
                let c = if to_int_strict(x).is_none() { cx } else { cy };
                let info = self.var_info(st, c);
                return Err(
                    self.rt_error(st, &format!("number{info} has no integer representation"))
                );
            } else if !matches!(x, Value::Integer(_) | Value::Number(_)) {
                (x, cx)
            } else {
                (y, cy)
            };
            return Err(self.type_error(st, bad, "perform bitwise operation on", c));
        }
        // Strings: what lua5.4's string metamethods do.
        if matches!(x, Value::String(_)) || matches!(y, Value::String(_)) {
            let nx = x.to_number().map(Value::from);
            let ny = y.to_number().map(Value::from);
            if let (Some(a), Some(b)) = (nx, ny) {
                // lua5.4 does string arithmetic in the string metatable's
                // C metamethods: their errors carry no position.
                return match arith(ev, a, b) {
                    Ok(Some(v)) => Ok(Some(v)),
                    Ok(None) => Ok(Some(Value::Nil)),
                    Err(m) => Err(self.error_msg(m)),
                };
            }
            let name = &meta::EVENT_NAMES[ev as usize][2..];
            return Err(self.rt_error(
                st,
                &format!(
                    "attempt to {name} a '{}' with a '{}'",
                    x.type_name(),
                    y.type_name()
                ),
            ));
        }
        let (bad, c) = if !matches!(x, Value::Integer(_) | Value::Number(_)) {
            (x, cx)
        } else {
            (y, cy)
        };
        Err(self.type_error(st, bad, "perform arithmetic on", c))
    }

    /// `a < b` (`le`: `a <= b`) with `__lt`/`__le`; `Ok(None)`: a call was made.
    fn less(
        &mut self,
        st: &mut ThreadState<'gc>,
        a: Value<'gc>,
        b: Value<'gc>,
        le: bool,
    ) -> Result<Option<bool>, Error<'gc>> {
        if let (Some(x), Some(y)) = (a.as_number(), b.as_number()) {
            let o = number::compare(x, y);
            return Ok(Some(match o {
                None => false,
                Some(o) => {
                    if le {
                        o != std::cmp::Ordering::Greater
                    } else {
                        o == std::cmp::Ordering::Less
                    }
                }
            }));
        }
        if let (Value::String(x), Value::String(y)) = (a, b) {
            let o = x.cmp(&y);
            return Ok(Some(if le {
                o != std::cmp::Ordering::Greater
            } else {
                o == std::cmp::Ordering::Less
            }));
        }
        let ev = if le { meta::LE } else { meta::LT };
        let mut tm = meta::event(self.ctx, a, ev);
        if tm.is_nil() {
            tm = meta::event(self.ctx, b, ev);
        }
        if tm.is_nil() {
            let t1 = meta::type_name_of(self.ctx, a);
            let t2 = meta::type_name_of(self.ctx, b);
            let msg = if t1 == t2 {
                format!("attempt to compare two {t1} values")
            } else {
                format!("attempt to compare {t1} with {t2}")
            };
            return Err(self.rt_error(st, &msg));
        }
        if let Flow::Stop(s) = self.meta_call(st, tm, &[a, b])? {
            self.pending_stop = Some(s);
        }
        Ok(None)
    }

    /// `a == b` with `__eq`; `Ok(None)`: a call was made.
    fn equal(
        &mut self,
        st: &mut ThreadState<'gc>,
        a: Value<'gc>,
        b: Value<'gc>,
    ) -> Result<Option<bool>, Error<'gc>> {
        if a.raw_eq(b) {
            return Ok(Some(true));
        }
        let tm = match (a, b) {
            (Value::Table(_), Value::Table(_)) | (Value::UserData(_), Value::UserData(_)) => {
                let tm = meta::event(self.ctx, a, meta::EQ);
                if tm.is_nil() {
                    meta::event(self.ctx, b, meta::EQ)
                } else {
                    tm
                }
            }
            _ => return Ok(Some(false)),
        };
        if tm.is_nil() {
            return Ok(Some(false));
        }
        if let Flow::Stop(s) = self.meta_call(st, tm, &[a, b])? {
            self.pending_stop = Some(s);
        }
        Ok(None)
    }

    /// `#v`; `Ok(None)`: a call was made.
    fn length(
        &mut self,
        st: &mut ThreadState<'gc>,
        v: Value<'gc>,
        c: Culprit,
    ) -> Result<Option<Value<'gc>>, Error<'gc>> {
        match v {
            Value::String(s) => Ok(Some(Value::Integer(s.len() as i64))),
            Value::Table(t) => {
                let tm = match t.metatable() {
                    Some(mt) => meta::event_in(self.ctx, mt, meta::LEN),
                    None => Value::Nil,
                };
                if tm.is_nil() {
                    return Ok(Some(Value::Integer(t.length())));
                }
                if let Flow::Stop(s) = self.meta_call(st, tm, &[v, v])? {
                    self.pending_stop = Some(s);
                }
                Ok(None)
            }
            _ => {
                let tm = meta::event(self.ctx, v, meta::LEN);
                if tm.is_nil() {
                    return Err(self.type_error(st, v, "get length of", c));
                }
                if let Flow::Stop(s) = self.meta_call(st, tm, &[v, v])? {
                    self.pending_stop = Some(s);
                }
                Ok(None)
            }
        }
    }

    /// Concatenates `stack[first..end]` right to left (`luaV_concat`);
    /// leaves the result at `first`. `Ok(false)`: a `__concat` call was made.
    fn concat(
        &mut self,
        st: &mut ThreadState<'gc>,
        first: usize,
        mut end: usize,
    ) -> Result<bool, Error<'gc>> {
        while end - first > 1 {
            let x = st.stack[end - 2];
            let y = st.stack[end - 1];
            let xs = matches!(x, Value::String(_) | Value::Integer(_) | Value::Number(_));
            let ys = matches!(y, Value::String(_) | Value::Integer(_) | Value::Number(_));
            if xs && ys {
                // Collect as many string/number operands as possible.
                let mut start = end - 2;
                while start > first
                    && matches!(
                        st.stack[start - 1],
                        Value::String(_) | Value::Integer(_) | Value::Number(_)
                    )
                {
                    start -= 1;
                }
                let mut total = 0usize;
                for v in &st.stack[start..end] {
                    total += match v {
                        Value::String(s) => s.len(),
                        _ => 24,
                    };
                }
                if total >= (1usize << 31) {
                    return Err(self.rt_error(st, "string length overflow"));
                }
                let mut buf = Vec::with_capacity(total);
                for v in &st.stack[start..end] {
                    match v {
                        Value::String(s) => buf.extend_from_slice(s.as_bytes()),
                        v => buf.extend_from_slice(&tostr_num(*v).unwrap_or_default()),
                    }
                }
                self.fuel.consume((buf.len() / 64) as i64);
                st.stack[start] = Value::String(self.ctx.intern(&buf));
                end = start + 1;
                continue;
            }
            let mut tm = meta::event(self.ctx, x, meta::CONCAT);
            if tm.is_nil() {
                tm = meta::event(self.ctx, y, meta::CONCAT);
            }
            if tm.is_nil() {
                let (bad, reg) = if xs { (y, end - 1) } else { (x, end - 2) };
                let c = match Self::top_frame(st) {
                    Some(f) if reg >= f.base => Culprit::Reg(reg - f.base),
                    _ => Culprit::Other,
                };
                return Err(self.type_error(st, bad, "concatenate", c));
            }
            if let Some(Frame::Lua(f)) = st.frames.last_mut() {
                f.top = end - 1;
            }
            if let Flow::Stop(s) = self.meta_call(st, tm, &[x, y])? {
                self.pending_stop = Some(s);
            }
            return Ok(false);
        }
        Ok(true)
    }

    /// Completes the instruction that called a metamethod, with `v`, the
    /// metamethod's first result (`luaV_finishOp`).
    pub(crate) fn finish_op(
        &mut self,
        st: &mut ThreadState<'gc>,
        v: Value<'gc>,
    ) -> Result<Flow<'gc>, Error<'gc>> {
        let Some(Frame::Lua(f)) = st.frames.last_mut() else {
            return Ok(Flow::Continue);
        };
        let base = f.base;
        let code = &f.closure.proto().code;
        let i = code[f.pc - 1];
        match op(i) {
            MMBIN | MMBINI | MMBINK => {
                let prev = code[f.pc - 2];
                st.stack[base + a(prev)] = v;
            }
            UNM | BNOT | LEN | GETTABUP | GETTABLE | GETI | GETFIELD | SELF => {
                st.stack[base + a(i)] = v;
            }
            LT | LE | LTI | LEI | GTI | GEI | EQ => {
                let res = v.to_bool();
                if res != k(i) {
                    f.pc += 1;
                } else {
                    let j = code[f.pc];
                    f.pc = (f.pc as i64 + 1 + sj(j)) as usize;
                }
            }
            CONCAT => {
                let top = f.top;
                let first = base + a(i);
                st.stack[top - 1] = v;
                if !self.concat(st, first, top)? {
                    return Ok(self.pending_stop.take().map_or(Flow::Continue, Flow::Stop));
                }
            }
            CLOSE | RETURN => {
                f.pc -= 1;
                if let Some(h) = st.hook.as_mut() {
                    // The instruction goes on: no new line for it.
                    h.skip_trace = true;
                }
            }
            _ => {}
        }
        Ok(Flow::Continue)
    }

    /// Registers a to-be-closed variable at `idx` (`TBC`).
    fn new_tbc(
        &mut self,
        st: &mut ThreadState<'gc>,
        idx: usize,
        reg: usize,
    ) -> Result<(), Error<'gc>> {
        let v = st.stack[idx];
        if !v.to_bool() {
            return Ok(());
        }
        if meta::event(self.ctx, v, meta::CLOSE).is_nil() {
            let name = Self::top_frame(st)
                .and_then(|f| {
                    super::debug::local_name(f.closure.proto(), reg + 1, f.pc.saturating_sub(1))
                        .map(|n| String::from_utf8_lossy(n).into_owned())
                })
                .unwrap_or_else(|| "?".into());
            return Err(self.rt_error(st, &format!("variable '{name}' got a non-closable value")));
        }
        st.tbc.push(idx);
        Ok(())
    }

    /// Closes upvalues from `level` and calls the next pending `__close`
    /// there; `Ok(true)` when none is left.
    fn close_level(&mut self, st: &mut ThreadState<'gc>, level: usize) -> Result<bool, Error<'gc>> {
        super::thread::close_upvalues(&self.ctx, self.thread, st, level);
        match st.tbc.last() {
            Some(&idx) if idx >= level => {
                st.tbc.pop();
                let v = st.stack[idx];
                // A removed `__close` is called all the same (and fails),
                // as lua5.4 does.
                let tm = meta::event(self.ctx, v, meta::CLOSE);
                if let Flow::Stop(s) = self.meta_call(st, tm, &[v, Value::Nil])? {
                    self.pending_stop = Some(s);
                }
                Ok(false)
            }
            _ => Ok(true),
        }
    }

    /// Runs the Lua frame on top of `st`.
    /// `HOOKED`: line and count hooks are checked before each instruction
    /// (a second copy of the loop, so code without hooks pays nothing).
    pub(crate) fn execute<const HOOKED: bool>(
        &mut self,
        st: &mut ThreadState<'gc>,
    ) -> Result<Flow<'gc>, Error<'gc>> {
        let ctx = self.ctx;
        'newframe: loop {
            if self.fuel.should_stop() || HOOKED != st.traced() {
                return Ok(Flow::Continue);
            }
            let Some(Frame::Lua(frame)) = st.frames.last() else {
                return Ok(Flow::Continue);
            };
            // The running function: a Lua call or return without hooks
            // switches these in place (`goto startfunc` / `returning` in
            // lvm.c) instead of going round `'newframe`.
            let mut base = frame.base;
            let mut pc = frame.pc;
            // The running closure; its upvalues are looked up where an
            // instruction uses them, not at every call and return.
            let mut cs = frame.closure.state();
            let mut fp = Gc::as_ref(cs.proto);
            let mut code: &'gc [u32] = &fp.code;
            let mut kst: &'gc [Value<'gc>] = &fp.constants;
            // Fuel is counted in a local and written back before anything that
            // can run a callback or leave the loop.
            let mut budget = self.fuel.remaining();

            macro_rules! save {
                () => {
                    self.fuel.set_remaining(budget);
                    if let Some(Frame::Lua(f)) = st.frames.last_mut() {
                        f.pc = pc;
                    }
                };
            }
            // After a helper pushed a call or changed frames: go on with
            // whatever frame is on top.
            macro_rules! leave {
                () => {
                    match self.pending_stop.take() {
                        Some(s) => return Ok(Flow::Stop(s)),
                        None => continue 'newframe,
                    }
                };
            }
            macro_rules! flow {
                ($e:expr) => {
                    match $e? {
                        Flow::Continue => continue 'newframe,
                        f => return Ok(f),
                    }
                };
            }
            macro_rules! reg {
                ($x:expr) => {
                    st.stack[base + $x]
                };
            }
            macro_rules! cond_jump {
                ($cond:expr, $i:expr) => {
                    if $cond != k($i) {
                        pc += 1;
                    } else {
                        let off = sj(code[pc]);
                        pc = (pc as i64 + 1 + off) as usize;
                        // A backward jump (`repeat ... until cond`) is a
                        // loop: out of fuel, the step ends here.
                        if off < 0 && budget <= 0 {
                            save!();
                            return Ok(Flow::Continue);
                        }
                    }
                };
            }

            // A binary arithmetic or bitwise instruction (`$k`: with a
            // constant operand): integer and float operands here, each
            // opcode its own copy with its operation known; mixed numbers
            // in `arith_slow`; anything else falls to the `MMBIN*` after it.
            macro_rules! arith_op {
                ($i:ident, $ra:ident, $op:expr, $y:expr, $k:expr) => {{
                    let x = reg!(b($i));
                    let y = $y;
                    match (x, y) {
                        (Value::Integer(p), Value::Integer(q)) => {
                            if let Some(r) = arith_int($op, p, q) {
                                reg!($ra) = Value::Integer(r);
                                pc += 1;
                                continue;
                            }
                        }
                        (Value::Number(p), Value::Number(q)) => {
                            if let Some(r) = arith_float($op, p, q) {
                                reg!($ra) = Value::Number(r);
                                pc += 1;
                                continue;
                            }
                        }
                        _ => {}
                    }
                    match arith_slow($op, x, y, $k) {
                        Ok(Some(v)) => {
                            reg!($ra) = v;
                            pc += 1;
                        }
                        Ok(None) => {}
                        Err(m) => {
                            // Integer division by zero: at this
                            // instruction's line, as 5.4.8 saves
                            // the pc for it (5.4.4 kept the last
                            // saved one; errors.lua checks 5.4.8).
                            save!();
                            return Err(self.rt_error(st, m));
                        }
                    }
                }};
            }

            loop {
                if HOOKED {
                    save!();
                    if self.trace_exec(st, pc)? {
                        leave!();
                    }
                }
                let i = code[pc];
                pc += 1;
                budget -= 1;
                let ra = a(i);
                match op(i) {
                    MOVE => reg!(ra) = reg!(b(i)),
                    LOADI => reg!(ra) = Value::Integer(sbx(i)),
                    LOADF => reg!(ra) = Value::Number(sbx(i) as f64),
                    LOADK => reg!(ra) = kst[bx(i)],
                    LOADKX => {
                        reg!(ra) = kst[ax(code[pc])];
                        pc += 1;
                    }
                    LOADFALSE => reg!(ra) = Value::Boolean(false),
                    LFALSESKIP => {
                        reg!(ra) = Value::Boolean(false);
                        pc += 1;
                    }
                    LOADTRUE => reg!(ra) = Value::Boolean(true),
                    LOADNIL => {
                        for r in ra..=ra + b(i) {
                            reg!(r) = Value::Nil;
                        }
                    }
                    GETUPVAL => reg!(ra) = self.get_upval(st, cs.upvalues()[b(i)].get()),
                    SETUPVAL => {
                        let v = reg!(ra);
                        self.set_upval(st, cs.upvalues()[b(i)].get(), v);
                    }
                    GETTABUP => {
                        let t = self.get_upval(st, cs.upvalues()[b(i)].get());
                        let key = kst[c(i)];
                        if let (Value::Table(tab), Value::String(s)) = (t, key) {
                            if let Some(v) = meta::index_str(ctx, tab, s) {
                                reg!(ra) = v;
                                continue;
                            }
                        }
                        save!();
                        match self.index(st, t, key, Culprit::Upval(b(i)))? {
                            Some(v) => reg!(ra) = v,
                            None => leave!(),
                        }
                    }
                    GETFIELD => {
                        let t = reg!(b(i));
                        let key = kst[c(i)];
                        if let (Value::Table(tab), Value::String(s)) = (t, key) {
                            // A present field without a call (`luaV_fastget`).
                            let v = tab.raw_get_str(s);
                            if !v.is_nil() {
                                reg!(ra) = v;
                                continue;
                            }
                            if let Some(v) = meta::index_str(ctx, tab, s) {
                                reg!(ra) = v;
                                continue;
                            }
                        }
                        save!();
                        match self.index(st, t, key, Culprit::Reg(b(i)))? {
                            Some(v) => reg!(ra) = v,
                            None => leave!(),
                        }
                    }
                    GETTABLE | GETI => {
                        let t = reg!(b(i));
                        let key = match op(i) {
                            GETTABLE => reg!(c(i)),
                            _ => Value::Integer(c(i) as i64),
                        };
                        if let Value::Table(tab) = t {
                            let v = match key {
                                Value::Integer(n) => tab.raw_get_int(n),
                                Value::String(s) => tab.raw_get_str(s),
                                k => tab.raw_get(k),
                            };
                            if !v.is_nil() || tab.metatable().is_none() {
                                reg!(ra) = v;
                                continue;
                            }
                        }
                        save!();
                        match self.index(st, t, key, Culprit::Reg(b(i)))? {
                            Some(v) => reg!(ra) = v,
                            None => leave!(),
                        }
                    }
                    SETFIELD => {
                        let t = reg!(ra);
                        let key = kst[b(i)];
                        let v = if k(i) { kst[c(i)] } else { reg!(c(i)) };
                        if let (Value::Table(tab), Value::String(s)) = (t, key) {
                            if tab.set_str_fast(&ctx, s, v) {
                                continue;
                            }
                        }
                        save!();
                        if !self.new_index(st, t, key, v, Culprit::Reg(ra))? {
                            leave!();
                        }
                    }
                    SETTABUP | SETTABLE | SETI => {
                        let (t, key, culprit) = match op(i) {
                            SETTABUP => (
                                self.get_upval(st, cs.upvalues()[ra].get()),
                                kst[b(i)],
                                Culprit::Upval(ra),
                            ),
                            SETTABLE => (reg!(ra), reg!(b(i)), Culprit::Reg(ra)),
                            _ => (reg!(ra), Value::Integer(b(i) as i64), Culprit::Reg(ra)),
                        };
                        let v = if k(i) { kst[c(i)] } else { reg!(c(i)) };
                        if let Value::Table(tab) = t {
                            if tab.metatable().is_none() {
                                let r = match key {
                                    Value::Integer(n) => tab.raw_set_int(&ctx, n, v),
                                    key => tab.raw_set(&ctx, key, v),
                                };
                                match r {
                                    Ok(()) => continue,
                                    Err(e) => {
                                        save!();
                                        return Err(self.rt_error(st, e.message()));
                                    }
                                }
                            }
                            // A present field is written without asking
                            // for `__newindex` (`luaV_fastset`): one probe
                            // for `self.n = v` on an object.
                            if tab.raw_set_existing(&ctx, key, v) {
                                continue;
                            }
                        }
                        save!();
                        if !self.new_index(st, t, key, v, culprit)? {
                            leave!();
                        }
                    }
                    NEWTABLE => {
                        // lua5.4 saves the pc here (its GC check), which decides the
                        // line of a later unprotected error.
                        save!();
                        let bsz = b(i);
                        let hash = if bsz > 0 { 1usize << (bsz - 1) } else { 0 };
                        let mut arr = c(i);
                        if k(i) {
                            arr += ax(code[pc]) * (MAXARG_C as usize + 1);
                        }
                        pc += 1;
                        reg!(ra) = Value::Table(ctx.new_table_with(arr, hash));
                    }
                    SELF => {
                        let t = reg!(b(i));
                        let key = if k(i) { kst[c(i)] } else { reg!(c(i)) };
                        reg!(ra + 1) = t;
                        let fast = match (t, key) {
                            (Value::Table(tab), Value::String(s)) => meta::index_str(ctx, tab, s),
                            (Value::String(_), Value::String(s)) => {
                                match ctx
                                    .string_metatable()
                                    .map(|mt| meta::event_in(ctx, mt, meta::INDEX))
                                {
                                    Some(Value::Table(lib)) => meta::index_str(ctx, lib, s),
                                    _ => None,
                                }
                            }
                            _ => None,
                        };
                        match fast {
                            Some(v) => reg!(ra) = v,
                            None => {
                                save!();
                                match self.index(st, t, key, Culprit::Reg(b(i)))? {
                                    Some(v) => reg!(ra) = v,
                                    None => leave!(),
                                }
                            }
                        }
                    }
                    ADDI => {
                        let imm = sc(i);
                        match reg!(b(i)) {
                            Value::Integer(x) => {
                                reg!(ra) = Value::Integer(x.wrapping_add(imm));
                                pc += 1;
                            }
                            Value::Number(x) => {
                                reg!(ra) = Value::Number(x + imm as f64);
                                pc += 1;
                            }
                            _ => {}
                        }
                    }
                    ADDK => arith_op!(i, ra, ADDK, kst[c(i)], true),
                    SUBK => arith_op!(i, ra, SUBK, kst[c(i)], true),
                    MULK => arith_op!(i, ra, MULK, kst[c(i)], true),
                    MODK => arith_op!(i, ra, MODK, kst[c(i)], true),
                    POWK | DIVK | IDIVK | BANDK | BORK | BXORK => {
                        arith_op!(i, ra, op(i), kst[c(i)], true)
                    }
                    SHRI | SHLI => {
                        let imm = sc(i);
                        let x = reg!(b(i));
                        if let Some(n) = match x {
                            Value::Integer(n) => Some(n),
                            Value::Number(f) => number::float_to_integer(f),
                            _ => None,
                        } {
                            reg!(ra) = Value::Integer(if op(i) == SHRI {
                                number::shift_left(n, imm.wrapping_neg())
                            } else {
                                number::shift_left(imm, n)
                            });
                            pc += 1;
                        }
                    }
                    ADD => arith_op!(i, ra, ADD, reg!(c(i)), false),
                    SUB => arith_op!(i, ra, SUB, reg!(c(i)), false),
                    MUL => arith_op!(i, ra, MUL, reg!(c(i)), false),
                    MOD => arith_op!(i, ra, MOD, reg!(c(i)), false),
                    POW | DIV | IDIV | BAND | BOR | BXOR | SHL | SHR => {
                        arith_op!(i, ra, op(i), reg!(c(i)), false)
                    }
                    MMBIN | MMBINI | MMBINK => {
                        let prev = code[pc - 2];
                        let dest = a(prev);
                        let ev = c(i) as Event;
                        let x = reg!(ra);
                        let (mut x, mut y, mut cx, mut cy) = match op(i) {
                            MMBIN => (x, reg!(b(i)), Culprit::Reg(ra), Culprit::Reg(b(i))),
                            MMBINI => (x, Value::Integer(sb(i)), Culprit::Reg(ra), Culprit::Other),
                            _ => (x, kst[b(i)], Culprit::Reg(ra), Culprit::Other),
                        };
                        if op(i) != MMBIN && k(i) {
                            std::mem::swap(&mut x, &mut y);
                            std::mem::swap(&mut cx, &mut cy);
                        }
                        save!();
                        match self.arith_meta(st, ev, x, y, cx, cy)? {
                            Some(v) => reg!(dest) = v,
                            None => leave!(),
                        }
                    }
                    UNM => {
                        let x = reg!(b(i));
                        match x {
                            Value::Integer(n) => reg!(ra) = Value::Integer(n.wrapping_neg()),
                            Value::Number(f) => reg!(ra) = Value::Number(-f),
                            _ => {
                                save!();
                                let c = Culprit::Reg(b(i));
                                match self.arith_meta(st, meta::UNM, x, x, c, c)? {
                                    Some(v) => reg!(ra) = v,
                                    None => leave!(),
                                }
                            }
                        }
                    }
                    BNOT => {
                        let x = reg!(b(i));
                        match to_int_strict(x) {
                            Some(n) if !matches!(x, Value::String(_)) => {
                                reg!(ra) = Value::Integer(!n)
                            }
                            _ => {
                                save!();
                                let c = Culprit::Reg(b(i));
                                match self.arith_meta(st, meta::BNOT, x, x, c, c)? {
                                    Some(v) => reg!(ra) = v,
                                    None => leave!(),
                                }
                            }
                        }
                    }
                    NOT => reg!(ra) = Value::Boolean(!reg!(b(i)).to_bool()),
                    LEN => {
                        let x = reg!(b(i));
                        save!();
                        match self.length(st, x, Culprit::Reg(b(i)))? {
                            Some(v) => reg!(ra) = v,
                            None => leave!(),
                        }
                    }
                    CONCAT => {
                        let n = b(i);
                        save!();
                        if !self.concat(st, base + ra, base + ra + n)? {
                            leave!();
                        }
                        budget = self.fuel.remaining();
                    }
                    CLOSE => {
                        save!();
                        if !self.close_level(st, base + ra)? {
                            leave!();
                        }
                    }
                    TBC => {
                        save!();
                        self.new_tbc(st, base + ra, ra)?;
                    }
                    JMP => {
                        let off = sj(i);
                        pc = (pc as i64 + off) as usize;
                        if off < 0 && budget <= 0 {
                            save!();
                            return Ok(Flow::Continue);
                        }
                    }
                    EQ => {
                        let x = reg!(ra);
                        let y = reg!(b(i));
                        let r = match (x, y) {
                            (Value::Table(_), Value::Table(_))
                            | (Value::UserData(_), Value::UserData(_)) => {
                                save!();
                                match self.equal(st, x, y)? {
                                    Some(r) => r,
                                    None => leave!(),
                                }
                            }
                            _ => x.raw_eq(y),
                        };
                        cond_jump!(r, i);
                    }
                    LT | LE => {
                        let x = reg!(ra);
                        let y = reg!(b(i));
                        let le = op(i) == LE;
                        let r = match (x, y) {
                            (Value::Integer(p), Value::Integer(q)) => {
                                if le {
                                    p <= q
                                } else {
                                    p < q
                                }
                            }
                            _ => {
                                save!();
                                match self.less(st, x, y, le)? {
                                    Some(r) => r,
                                    None => leave!(),
                                }
                            }
                        };
                        cond_jump!(r, i);
                    }
                    EQK => {
                        let r = reg!(ra).raw_eq(kst[b(i)]);
                        cond_jump!(r, i);
                    }
                    EQI => {
                        let imm = sb(i);
                        let r = match reg!(ra) {
                            Value::Integer(n) => n == imm,
                            Value::Number(f) => f == imm as f64,
                            _ => false,
                        };
                        cond_jump!(r, i);
                    }
                    LTI | LEI | GTI | GEI => {
                        let imm = sb(i);
                        let x = reg!(ra);
                        let r = match x {
                            Value::Integer(n) => match op(i) {
                                LTI => n < imm,
                                LEI => n <= imm,
                                GTI => n > imm,
                                _ => n >= imm,
                            },
                            Value::Number(f) => {
                                let g = imm as f64;
                                match op(i) {
                                    LTI => f < g,
                                    LEI => f <= g,
                                    GTI => f > g,
                                    _ => f >= g,
                                }
                            }
                            _ => {
                                let im = if c(i) != 0 {
                                    Value::Number(imm as f64)
                                } else {
                                    Value::Integer(imm)
                                };
                                let (p, q, le) = match op(i) {
                                    LTI => (x, im, false),
                                    LEI => (x, im, true),
                                    GTI => (im, x, false),
                                    _ => (im, x, true),
                                };
                                save!();
                                match self.less(st, p, q, le)? {
                                    Some(r) => r,
                                    None => leave!(),
                                }
                            }
                        };
                        cond_jump!(r, i);
                    }
                    TEST => {
                        let r = reg!(ra).to_bool();
                        cond_jump!(r, i);
                    }
                    TESTSET => {
                        let v = reg!(b(i));
                        if v.to_bool() == k(i) {
                            reg!(ra) = v;
                            let j = code[pc];
                            pc = (pc as i64 + 1 + sj(j)) as usize;
                        } else {
                            pc += 1;
                        }
                    }
                    CALL => {
                        let func = base + ra;
                        let nargs = if b(i) != 0 {
                            b(i) - 1
                        } else {
                            match Self::top_frame(st) {
                                Some(f) => f.top - func - 1,
                                None => 0,
                            }
                        };
                        if let (false, Value::Function(Function::Closure(callee))) =
                            (HOOKED, st.stack[func])
                        {
                            // Lua to Lua without hooks (`luaD_precall`
                            // inline): no vararg adjustment, no C-call
                            // depth check (lua5.4 counts none for it).
                            let nfp = callee.fproto();
                            let nbase = func + 1;
                            let top = nbase + nfp.max_stack as usize;
                            if !nfp.is_vararg && top <= MAX_STACK && st.hook.is_none() {
                                if let Some(Frame::Lua(f)) = st.frames.last_mut() {
                                    f.pc = pc;
                                    let ret = Ret {
                                        depth: f.ret.depth,
                                        ..Ret::new(func, c(i) as i32 - 1)
                                    };
                                    super::call::set_top(&mut st.stack, top);
                                    for j in nargs..nfp.num_params as usize {
                                        st.stack[nbase + j] = Value::Nil;
                                    }
                                    super::call::push_lua_frame(
                                        &mut st.frames,
                                        callee,
                                        nbase,
                                        0,
                                        ret,
                                    );
                                    base = nbase;
                                    pc = 0;
                                    fp = nfp;
                                    code = &nfp.code;
                                    kst = &nfp.constants;
                                    cs = callee.state();
                                    if budget <= 0 {
                                        self.fuel.set_remaining(budget);
                                        return Ok(Flow::Continue);
                                    }
                                    continue;
                                }
                            }
                        }
                        save!();
                        let ret = Ret::new(func, c(i) as i32 - 1);
                        if let Value::Function(Function::Closure(c)) = st.stack[func] {
                            self.call_lua(st, c, func, nargs, ret)?;
                            continue 'newframe;
                        }
                        flow!(self.call_value(st, func, nargs, ret));
                    }
                    TAILCALL => {
                        let func = base + ra;
                        let nargs = if b(i) != 0 {
                            b(i) - 1
                        } else {
                            match Self::top_frame(st) {
                                Some(f) => f.top - func - 1,
                                None => 0,
                            }
                        };
                        save!();
                        // `__call` is resolved while this frame is still
                        // there (`luaD_pretailcall`'s `tryfuncTM`): a value
                        // that cannot be called is named by this call, and
                        // a callback found that way is treated as below.
                        let mut nargs = nargs;
                        for _ in 0..100 {
                            let v = st.stack[func];
                            if matches!(v, Value::Function(_)) {
                                break;
                            }
                            let tm = meta::event(ctx, v, meta::CALL);
                            if tm.is_nil() {
                                break;
                            }
                            st.stack.truncate(func + 1 + nargs);
                            st.stack.insert(func, tm);
                            nargs += 1;
                        }
                        // A Rust function is not tail-called (nor is a C
                        // function in lua5.4): this frame stays under it, so
                        // its errors get this line and the name this call
                        // gave it, and the RETURN after this instruction
                        // returns its results. A value that is still not a
                        // function fails here, with this frame.
                        if !matches!(st.stack[func], Value::Function(Function::Closure(_))) {
                            let ret = Ret::new(func, -1);
                            flow!(self.call_value(st, func, nargs, ret));
                        }
                        let Some(Frame::Lua(f)) = st.frames.pop() else {
                            return Ok(Flow::Continue);
                        };
                        let p = f.closure.proto();
                        let start = if p.is_vararg {
                            f.base - 2 - p.num_params as usize - f.nvarargs
                        } else {
                            f.base - 1
                        };
                        super::thread::close_upvalues(&ctx, self.thread, st, start);
                        st.stack.copy_within(func..func + 1 + nargs, start);
                        st.stack.truncate(start + 1 + nargs);
                        flow!(self.call_value(
                            st,
                            start,
                            nargs,
                            Ret {
                                tail: true,
                                ..f.ret
                            }
                        ));
                    }
                    RETURN => {
                        let n = if b(i) != 0 {
                            b(i) - 1
                        } else {
                            match Self::top_frame(st) {
                                Some(f) => f.top - (base + ra),
                                None => 0,
                            }
                        };
                        if k(i) {
                            save!();
                            if let Some(Frame::Lua(f)) = st.frames.last_mut() {
                                f.top = base + ra + n;
                            }
                            if !self.close_level(st, base)? {
                                leave!();
                            }
                        }
                        flow!(self.do_return(st, base + ra, n));
                    }
                    RETURN0 | RETURN1 => {
                        // Fast path: back into a Lua caller that wants a fixed
                        // number of results, with no upvalue to close; the
                        // caller goes on here (`returning` in lvm.c).
                        let n = (op(i) == RETURN1) as usize;
                        let nf = st.frames.len();
                        if !HOOKED
                            && nf >= 2
                            && st.open_upvals.last().is_none_or(|&(idx, _)| idx < base)
                        {
                            if let (Frame::Lua(caller), Frame::Lua(f)) =
                                (&st.frames[nf - 2], &st.frames[nf - 1])
                            {
                                let (func, want) = (f.ret.func, f.ret.nresults);
                                if !f.ret.meta && want >= 0 {
                                    let want = want as usize;
                                    let v = if n == 1 { reg!(ra) } else { Value::Nil };
                                    base = caller.base;
                                    pc = caller.pc;
                                    cs = caller.closure.state();
                                    fp = Gc::as_ref(cs.proto);
                                    code = &fp.code;
                                    kst = &fp.constants;
                                    // A Lua frame: it owns nothing, so it
                                    // is forgotten rather than dropped (a
                                    // call to `Frame`'s drop glue).
                                    std::mem::forget(st.frames.pop());
                                    let extent = base + fp.max_stack as usize;
                                    super::call::set_top(&mut st.stack, extent.max(func + want));
                                    if want > 0 {
                                        st.stack[func] = v;
                                        for j in 1..want {
                                            st.stack[func + j] = Value::Nil;
                                        }
                                    }
                                    st.stack.truncate(extent);
                                    continue;
                                }
                            }
                        }
                        save!();
                        flow!(self.do_return(st, base + ra * n, n));
                    }
                    FORLOOP => {
                        if let (Value::Integer(count), Value::Integer(step)) =
                            (reg!(ra + 1), reg!(ra + 2))
                        {
                            if count > 0 {
                                let idx = match reg!(ra) {
                                    Value::Integer(x) => x.wrapping_add(step),
                                    _ => 0,
                                };
                                reg!(ra + 1) = Value::Integer(count - 1);
                                reg!(ra) = Value::Integer(idx);
                                reg!(ra + 3) = Value::Integer(idx);
                                pc -= bx(i);
                            }
                        } else if let (
                            Value::Number(idx),
                            Value::Number(limit),
                            Value::Number(step),
                        ) = (reg!(ra), reg!(ra + 1), reg!(ra + 2))
                        {
                            let idx = idx + step;
                            let go = if step > 0.0 {
                                idx <= limit
                            } else {
                                limit <= idx
                            };
                            if go {
                                reg!(ra) = Value::Number(idx);
                                reg!(ra + 3) = Value::Number(idx);
                                pc -= bx(i);
                            }
                        }
                        if budget <= 0 {
                            save!();
                            return Ok(Flow::Continue);
                        }
                    }
                    FORPREP => {
                        save!();
                        if self.for_prep(st, base + ra)? {
                            pc += bx(i) + 1;
                        }
                    }
                    TFORPREP => {
                        save!();
                        self.new_tbc(st, base + ra + 3, ra + 3)?;
                        pc += bx(i);
                        if HOOKED {
                            // lua5.4 goes straight on to TFORCALL, with no
                            // line or count hook for it.
                            if let Some(h) = st.hook.as_mut() {
                                h.skip_trace |= !h.in_hook;
                            }
                        }
                    }
                    TFORCALL => {
                        let cb = base + ra + 4;
                        st.stack.copy_within(base + ra..base + ra + 3, cb);
                        save!();
                        let ret = Ret::new(cb, c(i) as i32);
                        st.stack.truncate(cb + 3);
                        flow!(self.call_value(st, cb, 2, ret));
                    }
                    TFORLOOP => {
                        let v = reg!(ra + 4);
                        if !v.is_nil() {
                            reg!(ra + 2) = v;
                            pc -= bx(i);
                        }
                        if budget <= 0 {
                            save!();
                            return Ok(Flow::Continue);
                        }
                    }
                    SETLIST => {
                        let n = if b(i) != 0 {
                            b(i)
                        } else {
                            match Self::top_frame(st) {
                                Some(f) => f.top - (base + ra) - 1,
                                None => 0,
                            }
                        };
                        let mut last = c(i);
                        if k(i) {
                            last += ax(code[pc]) * (MAXARG_C as usize + 1);
                            pc += 1;
                        }
                        if let Value::Table(t) = reg!(ra) {
                            // lua5.4 sizes the array part for them at once
                            t.reserve_array(&ctx, last + n);
                            for j in 1..=n {
                                let v = reg!(ra + j);
                                if let Err(e) = t.raw_set_int(&ctx, (last + j) as i64, v) {
                                    save!();
                                    return Err(self.rt_error(st, e.message()));
                                }
                            }
                        }
                        let extent = base + fp.max_stack as usize;
                        st.stack.resize(extent, Value::Nil);
                    }
                    CLOSURE => {
                        // lua5.4 saves the pc here (its GC check), which decides the
                        // line of a later unprotected error.
                        save!();
                        let np = fp.protos[bx(i)];
                        let descs = &np.proto.upvalues;
                        let capture =
                            |m: &Self, st: &mut ThreadState<'gc>, d: &super::closure::UpvalDesc| {
                                if d.in_stack {
                                    m.find_upval(st, base + d.index as usize)
                                } else {
                                    cs.upvalues()[d.index as usize].get()
                                }
                            };
                        let cl = if descs.len() <= 4 {
                            let mut upv = [ctx.placeholder_upval(); 4];
                            for (slot, d) in upv.iter_mut().zip(descs.iter()) {
                                *slot = capture(self, st, d);
                            }
                            ctx.new_closure(np, &upv[..descs.len()])
                        } else {
                            let upv: Vec<_> = descs.iter().map(|d| capture(self, st, d)).collect();
                            ctx.new_closure(np, &upv)
                        };
                        reg!(ra) = Value::Function(Function::Closure(cl));
                    }
                    VARARG => {
                        // lua5.4 saves the pc here (its GC check), which decides the
                        // line of a later unprotected error.
                        save!();
                        let nvar = match Self::top_frame(st) {
                            Some(f) => f.nvarargs,
                            None => 0,
                        };
                        let from = base - 1 - nvar;
                        let wanted = c(i) as i64 - 1;
                        if wanted < 0 {
                            if base + ra + nvar > MAX_STACK {
                                save!();
                                return Err(self.rt_error(st, "stack overflow"));
                            }
                            if st.stack.len() < base + ra + nvar {
                                st.stack.resize(base + ra + nvar, Value::Nil);
                            }
                            st.stack.copy_within(from..from + nvar, base + ra);
                            if let Some(Frame::Lua(f)) = st.frames.last_mut() {
                                f.top = base + ra + nvar;
                            }
                        } else {
                            for j in 0..wanted as usize {
                                reg!(ra + j) = if j < nvar {
                                    st.stack[from + j]
                                } else {
                                    Value::Nil
                                };
                            }
                        }
                    }
                    VARARGPREP | EXTRAARG => {}
                    _ => {
                        save!();
                        return Err(self.rt_error(st, "invalid instruction"));
                    }
                }
            }
        }
    }

    /// `luaG_traceexec`: the count and line hooks before the instruction
    /// at `pc` of the top frame; `Ok(true)` when a hook call was pushed
    /// (the instruction runs when it is done).
    fn trace_exec(&mut self, st: &mut ThreadState<'gc>, pc: usize) -> Result<bool, Error<'gc>> {
        use super::thread::{HOOK_COUNT, HOOK_LINE};
        let Some(Frame::Lua(f)) = st.frames.last() else {
            return Ok(false);
        };
        let p = f.closure.proto();
        let Some(h) = st.hook.as_mut() else {
            return Ok(false);
        };
        if op(p.code[pc]) == TFORLOOP {
            // lua5.4's TFORCALL goes straight on to TFORLOOP.
            return Ok(false);
        }
        if h.in_hook {
            // The hook's own instructions count; no hook runs for them.
            h.left = h.left.saturating_sub(1);
            if h.left == 0 {
                h.left = h.count;
            }
            return Ok(false);
        }
        if std::mem::take(&mut h.skip_trace) {
            return Ok(false);
        }
        if pc == 0 && p.code.first().is_some_and(|&i| op(i) == VARARGPREP) {
            // Hooks start after VARARGPREP; the next line is new.
            h.oldpc = 1;
            return Ok(false);
        }
        let mut count = false;
        if !std::mem::take(&mut h.line_pending) {
            h.left = h.left.saturating_sub(1);
            if h.left == 0 && h.mask & HOOK_COUNT != 0 {
                h.left = h.count;
                count = true;
            }
        }
        let line = |i: usize| p.lines.get(i).copied().map_or(-1, i64::from);
        let mut new_line = None;
        if h.mask & HOOK_LINE != 0 {
            let oldpc = if h.oldpc < p.code.len() { h.oldpc } else { 0 };
            if count {
                // The line event waits for the count hook's return.
                h.line_pending = true;
            } else {
                if pc <= oldpc || line(oldpc) != line(pc) {
                    new_line = Some(line(pc));
                }
                h.oldpc = pc;
            }
        }
        let (event, l) = if count {
            if !h.line_pending {
                h.skip_trace = true;
            }
            ("count", None)
        } else if let Some(l) = new_line {
            h.skip_trace = true;
            ("line", Some(l))
        } else {
            return Ok(false);
        };
        h.rewind = true;
        if let Some(Frame::Lua(f)) = st.frames.last_mut() {
            f.pc = pc + 1;
        }
        if let Flow::Stop(s) = self.call_hook(st, event, l, None, None)? {
            self.pending_stop = Some(s);
        }
        Ok(true)
    }

    fn for_error(&self, st: &ThreadState<'gc>, what: &str, v: Value<'gc>) -> Error<'gc> {
        let tn = meta::type_name_of(self.ctx, v);
        self.rt_error(st, &format!("bad 'for' {what} (number expected, got {tn})"))
    }

    /// `FORPREP`: checks and converts the loop values; `Ok(true)` skips the
    /// loop.
    fn for_prep(&mut self, st: &mut ThreadState<'gc>, ra: usize) -> Result<bool, Error<'gc>> {
        let init = st.stack[ra];
        let limit = st.stack[ra + 1];
        let step = st.stack[ra + 2];
        if let (Value::Integer(i0), Value::Integer(s)) = (init, step) {
            if s == 0 {
                return Err(self.rt_error(st, "'for' step is zero"));
            }
            let lim = match limit {
                Value::Integer(l) => l,
                _ => {
                    let f = match limit.to_number() {
                        Some(Number::Float(f)) => f,
                        Some(Number::Int(l)) => l as f64,
                        None => return Err(self.for_error(st, "limit", limit)),
                    };
                    let conv = if s < 0 {
                        number::float_ceil_to_integer(f)
                    } else {
                        number::float_floor_to_integer(f)
                    };
                    match conv {
                        Some(l) => l,
                        None => {
                            if f.is_nan() {
                                return Ok(true);
                            }
                            if f > 0.0 {
                                if s < 0 {
                                    return Ok(true);
                                }
                                i64::MAX
                            } else {
                                if s > 0 {
                                    return Ok(true);
                                }
                                i64::MIN
                            }
                        }
                    }
                }
            };
            if if s > 0 { i0 > lim } else { i0 < lim } {
                return Ok(true);
            }
            let count = if s > 0 {
                let c = (lim as u64).wrapping_sub(i0 as u64);
                if s != 1 {
                    c / s as u64
                } else {
                    c
                }
            } else {
                let c = (i0 as u64).wrapping_sub(lim as u64);
                c / ((-(s + 1)) as u64 + 1)
            };
            st.stack[ra + 1] = Value::Integer(count as i64);
            st.stack[ra + 3] = Value::Integer(i0);
            return Ok(false);
        }
        let fl = |v: Value<'gc>| {
            v.to_number().map(|n| match n {
                Number::Int(i) => i as f64,
                Number::Float(f) => f,
            })
        };
        let Some(l) = fl(limit) else {
            return Err(self.for_error(st, "limit", limit));
        };
        let Some(s) = fl(step) else {
            return Err(self.for_error(st, "step", step));
        };
        let Some(i0) = fl(init) else {
            return Err(self.for_error(st, "initial value", init));
        };
        if s == 0.0 {
            return Err(self.rt_error(st, "'for' step is zero"));
        }
        if if s > 0.0 { l < i0 } else { i0 < l } {
            return Ok(true);
        }
        st.stack[ra] = Value::Number(i0);
        st.stack[ra + 1] = Value::Number(l);
        st.stack[ra + 2] = Value::Number(s);
        st.stack[ra + 3] = Value::Number(i0);
        Ok(false)
    }
}
