//! The `table` library: `concat insert move pack remove sort unpack`, plus
//! LuaJIT's `table.new` and `table.clear` (see `compat`).
//!
//! Elements are read and written raw (piccolo tables); `#` is the raw border.
//! `sort` is lua5.4's quicksort step for step (same pivots, same
//! comparisons, same `invalid order function for sorting` checks), so the
//! order of equal elements matches PUC Lua's. It runs as a resumable state
//! machine so a Lua comparator (or `__lt`) can be called between steps.

use gc_arena::Collect;
use piccolo::{
    meta_ops, BoxSequence, Callback, CallbackReturn, Closure, Context, Error, Execution, Function,
    Sequence, SequencePoll, Stack, Table, Value,
};

use super::args::{
    arg_fail, charge, check_any, check_integer, check_table, fail, new_string, opt_integer, set_fn,
    LibError, LibResult,
};
use super::base::metafield;
use super::number::number_to_string;

/// Most values `table.unpack` may return (lua5.4's stack limit).
const MAX_RESULTS: i64 = 1_000_000;

/// Runs `op` through metamethods when `v` has them; `None` when the raw
/// Rust version applies. `args` replace the stack (already checked).
fn via_meta<'gc>(
    ctx: Context<'gc>,
    exec: &Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
    tables: &[Value<'gc>],
    (op, name): (&'static str, &'static str),
    args: Option<Vec<Value<'gc>>>,
    meta: Option<Closure<'gc>>,
) -> Option<LibResult<'gc, CallbackReturn<'gc>>> {
    let implementation = meta?;
    if !tables
        .iter()
        .any(|&t| super::table_meta::needs_meta(ctx, t))
    {
        return None;
    }
    if let Some(args) = args {
        stack.replace(ctx, piccolo::Variadic(args));
    }
    Some(super::table_meta::call(
        ctx,
        exec,
        stack,
        implementation,
        op,
        name,
    ))
}

fn table_concat<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
    meta: Option<Closure<'gc>>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let t = check_table(stack, 0)?;
    let sep_string = super::args::opt_string(ctx, stack, 1)?;
    let sep = match sep_string {
        Some(s) => s.as_bytes(),
        None => &[][..],
    };
    let i = opt_integer(stack, 2, 1)?;
    let j_arg = if stack.get(3).is_nil() {
        None
    } else {
        Some(check_integer(stack, 3)?)
    };
    let args = vec![
        Value::Table(t),
        Value::String(sep_string.unwrap_or_else(|| ctx.intern(b""))),
        Value::Integer(i),
        j_arg.map_or(Value::Nil, Value::Integer),
    ];
    if let Some(r) = via_meta(
        ctx,
        exec,
        stack,
        &[Value::Table(t)],
        ("concat", "table.concat"),
        Some(args),
        meta,
    ) {
        return r;
    }
    let j = j_arg.unwrap_or_else(|| t.length());
    let mut out = Vec::new();
    let mut k = i;
    while k <= j {
        match t.get(ctx, k) {
            Value::String(s) => out.extend_from_slice(s.as_bytes()),
            v @ (Value::Integer(_) | Value::Number(_)) => {
                out.extend_from_slice(number_to_string(v).as_bytes())
            }
            v => {
                return fail(format!(
                    "invalid value ({}) at index {k} in table for 'concat'",
                    v.type_name()
                ))
            }
        }
        if k < j {
            out.extend_from_slice(sep);
        }
        if k == i64::MAX {
            break;
        }
        k += 1;
    }
    charge(exec, out.len());
    stack.replace(ctx, new_string(ctx, &out));
    Ok(CallbackReturn::Return)
}

fn set<'gc>(ctx: Context<'gc>, t: Table<'gc>, k: i64, v: Value<'gc>) {
    // Integer keys are always valid.
    let _ = t.set(ctx, k, v);
}

fn table_insert<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
    meta: Option<Closure<'gc>>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let t = check_table(stack, 0)?;
    if stack.len() == 3 {
        let pos = check_integer(stack, 1)?;
        stack[1] = Value::Integer(pos);
    }
    if let Some(r) = via_meta(
        ctx,
        exec,
        stack,
        &[Value::Table(t)],
        ("insert", "table.insert"),
        None,
        meta,
    ) {
        return r;
    }
    let e = t.length().wrapping_add(1);
    match stack.len() {
        2 => set(ctx, t, e, stack.get(1)),
        3 => {
            let pos = check_integer(stack, 1)?;
            if (pos as u64).wrapping_sub(1) >= e as u64 {
                return arg_fail(1, "position out of bounds");
            }
            charge(exec, e.wrapping_sub(pos) as usize);
            let mut k = e;
            while k > pos {
                set(ctx, t, k, t.get(ctx, k - 1));
                k -= 1;
            }
            set(ctx, t, pos, stack.get(2));
        }
        _ => return fail("wrong number of arguments to 'insert'"),
    }
    stack.clear();
    Ok(CallbackReturn::Return)
}

fn table_remove<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
    meta: Option<Closure<'gc>>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let t = check_table(stack, 0)?;
    if !stack.get(1).is_nil() {
        let pos = check_integer(stack, 1)?;
        let args = vec![Value::Table(t), Value::Integer(pos)];
        if let Some(r) = via_meta(
            ctx,
            exec,
            stack,
            &[Value::Table(t)],
            ("remove", "table.remove"),
            Some(args),
            meta,
        ) {
            return r;
        }
    } else if let Some(r) = via_meta(
        ctx,
        exec,
        stack,
        &[Value::Table(t)],
        ("remove", "table.remove"),
        Some(vec![Value::Table(t)]),
        meta,
    ) {
        return r;
    }
    let size = t.length();
    let mut pos = opt_integer(stack, 1, size)?;
    if pos != size && (pos as u64).wrapping_sub(1) > size as u64 {
        // lua5.4.4 reports this against argument #1.
        return arg_fail(0, "position out of bounds");
    }
    let result = t.get(ctx, pos);
    charge(exec, size.saturating_sub(pos).max(0) as usize);
    while pos < size {
        set(ctx, t, pos, t.get(ctx, pos + 1));
        pos += 1;
    }
    set(ctx, t, pos, Value::Nil);
    stack.replace(ctx, result);
    Ok(CallbackReturn::Return)
}

fn table_move<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
    meta: Option<Closure<'gc>>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let a1 = check_table(stack, 0)?;
    let f = check_integer(stack, 1)?;
    let e = check_integer(stack, 2)?;
    let t = check_integer(stack, 3)?;
    let dest = if stack.get(4).is_nil() {
        a1
    } else {
        check_table(stack, 4)?
    };
    if e >= f {
        if !(f > 0 || e < i64::MAX + f) {
            return arg_fail(2, "too many elements to move");
        }
        let n = e - f + 1;
        if t > i64::MAX - n + 1 {
            return arg_fail(3, "destination wrap around");
        }
        let args = vec![
            Value::Table(a1),
            Value::Integer(f),
            Value::Integer(e),
            Value::Integer(t),
            Value::Table(dest),
        ];
        let tables = [Value::Table(a1), Value::Table(dest)];
        if let Some(r) = via_meta(
            ctx,
            exec,
            stack,
            &tables,
            ("move", "table.move"),
            Some(args),
            meta,
        ) {
            return r;
        }
        let mut mover = Move {
            from: a1,
            dest,
            f,
            t,
            n,
            done: 0,
            backwards: !(t > e || t <= f || dest != a1),
        };
        if !mover.slice(ctx, exec) {
            // A huge range: continue in slices between VM steps, so fuel
            // limits can stop it.
            return Ok(CallbackReturn::Sequence(BoxSequence::new(&ctx, mover)));
        }
    }
    stack.replace(ctx, dest);
    Ok(CallbackReturn::Return)
}

/// Elements `table.move` copies before letting the VM check its fuel.
const MOVE_SLICE: i64 = 4096;

/// A `table.move` in progress.
#[derive(Collect)]
#[collect(no_drop)]
struct Move<'gc> {
    from: Table<'gc>,
    dest: Table<'gc>,
    f: i64,
    t: i64,
    n: i64,
    done: i64,
    backwards: bool,
}

impl<'gc> Move<'gc> {
    /// Copies the next slice; true when finished.
    fn slice(&mut self, ctx: Context<'gc>, exec: &mut Execution<'gc, '_>) -> bool {
        let end = self.n.min(self.done.saturating_add(MOVE_SLICE));
        for k in self.done..end {
            let i = if self.backwards { self.n - 1 - k } else { k };
            set(ctx, self.dest, self.t + i, self.from.get(ctx, self.f + i));
        }
        charge(exec, ((end - self.done) as usize) * 8);
        self.done = end;
        self.done == self.n
    }
}

impl<'gc> Sequence<'gc> for Move<'gc> {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        mut exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        if self.slice(ctx, &mut exec) {
            stack.replace(ctx, self.dest);
            Ok(SequencePoll::Return)
        } else {
            Ok(SequencePoll::Pending)
        }
    }
}

fn table_pack<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let t = Table::new(&ctx);
    charge(exec, stack.len());
    for (i, v) in stack.into_iter().enumerate() {
        set(ctx, t, i as i64 + 1, v);
    }
    let _ = t.set(ctx, "n", stack.len() as i64);
    stack.replace(ctx, t);
    Ok(CallbackReturn::Return)
}

fn table_unpack<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
    meta: Option<Closure<'gc>>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let list = check_any(stack, 0)?;
    let i = opt_integer(stack, 1, 1)?;
    let j_arg = if stack.get(2).is_nil() {
        Value::Nil
    } else {
        Value::Integer(check_integer(stack, 2)?)
    };
    let args = vec![list, Value::Integer(i), j_arg];
    if let Some(r) = via_meta(
        ctx,
        exec,
        stack,
        &[list],
        ("unpack", "table.unpack"),
        Some(args),
        meta,
    ) {
        return r;
    }
    let j = if stack.get(2).is_nil() {
        match list {
            Value::Table(t) => t.length(),
            _ => {
                return super::args::arg_fail(
                    0,
                    format!("table expected, got {}", list.type_name()),
                )
            }
        }
    } else {
        check_integer(stack, 2)?
    };
    stack.clear();
    if i > j {
        return Ok(CallbackReturn::Return);
    }
    let n = (j as i128 - i as i128 + 1) as u128;
    if n >= MAX_RESULTS as u128 {
        return fail("too many results to unpack");
    }
    let Value::Table(t) = list else {
        return super::args::arg_fail(0, format!("table expected, got {}", list.type_name()));
    };
    charge(exec, n as usize);
    let mut k = i;
    loop {
        stack.push_back(t.get(ctx, k));
        if k == j {
            break;
        }
        k += 1;
    }
    Ok(CallbackReturn::Return)
}

/// `a < b` for the values Rust can compare directly; `Err` with lua5.4's
/// message when they cannot be compared, `Ok(None)` when `__lt` must be
/// called.
pub fn less_than<'gc>(
    ctx: Context<'gc>,
    a: Value<'gc>,
    b: Value<'gc>,
) -> Result<Option<bool>, std::string::String> {
    Ok(Some(match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => x < y,
        (Value::Number(x), Value::Number(y)) => x < y,
        (Value::Integer(i), Value::Number(f)) => int_lt_float(i, f),
        (Value::Number(f), Value::Integer(i)) => float_lt_int(f, i),
        (Value::String(x), Value::String(y)) => x.as_bytes() < y.as_bytes(),
        _ => {
            if !metafield(ctx, a, "__lt").is_nil() || !metafield(ctx, b, "__lt").is_nil() {
                return Ok(None);
            }
            let (ta, tb) = (a.type_name(), b.type_name());
            return Err(if ta == tb {
                format!("attempt to compare two {ta} values")
            } else {
                format!("attempt to compare {ta} with {tb}")
            });
        }
    }))
}

fn int_lt_float(i: i64, f: f64) -> bool {
    if f.is_nan() {
        false
    } else if f >= 9.3e18 {
        true
    } else if f <= -9.3e18 {
        false
    } else {
        // i < f  <=>  i < ceil(f) for integers
        i < f.ceil() as i64
    }
}

fn float_lt_int(f: f64, i: i64) -> bool {
    if f.is_nan() || f >= 9.3e18 {
        false
    } else if f <= -9.3e18 {
        true
    } else {
        // f < i  <=>  floor(f) < i
        (f.floor() as i64) < i
    }
}

/// Where the sort state machine stands; each comparison is its own state
/// so a suspended comparison can be re-entered with the answer.
#[derive(Clone, Copy, PartialEq, Eq, Collect)]
#[collect(require_static)]
enum Phase {
    /// Start of an `auxsort` iteration for `lo..=up`.
    Begin,
    /// Compare `a[up] < a[lo]`.
    EndsCompare,
    /// Compare `a[p] < a[lo]`.
    PivotLo,
    /// Compare `a[up] < a[p]`.
    PivotUp,
    /// Set up partitioning around the median of three.
    PartitionStart,
    /// `i += 1` then compare `a[i] < P`.
    AdvanceI,
    CompareI,
    /// `j -= 1` then compare `P < a[j]`.
    AdvanceJ,
    CompareJ,
    /// Swap or finish the partition.
    Exchange,
    /// Pop the next range to sort.
    NextRange,
}

#[derive(Collect)]
#[collect(no_drop)]
struct Sort<'gc> {
    table: Table<'gc>,
    arr: Vec<Value<'gc>>,
    comparator: Option<Function<'gc>>,
    /// Ranges still to sort (1-based inclusive bounds) with their pivot
    /// randomization.
    pending: Vec<(usize, usize, u32)>,
    lo: usize,
    up: usize,
    rnd: u32,
    p: usize,
    i: usize,
    j: usize,
    pivot: Value<'gc>,
    phase: Phase,
    answer: Option<bool>,
    comparisons: usize,
}

enum SortStep<'gc> {
    Done,
    Call(Function<'gc>, Value<'gc>, Value<'gc>),
}

impl<'gc> Sort<'gc> {
    fn a(&self, k: usize) -> Value<'gc> {
        self.arr[k - 1]
    }

    fn swap(&mut self, x: usize, y: usize) {
        self.arr.swap(x - 1, y - 1);
    }

    /// `x < y` by the comparator, or `None` when a call is needed (then
    /// `self.call` is set up by the caller from the returned values).
    fn compare(
        &mut self,
        ctx: Context<'gc>,
        x: Value<'gc>,
        y: Value<'gc>,
    ) -> LibResult<'gc, Result<bool, SortStep<'gc>>> {
        if let Some(answer) = self.answer.take() {
            return Ok(Ok(answer));
        }
        self.comparisons += 1;
        if let Some(f) = self.comparator {
            return Ok(Err(SortStep::Call(f, x, y)));
        }
        match less_than(ctx, x, y) {
            Ok(Some(b)) => Ok(Ok(b)),
            Ok(None) => {
                let mut lt = metafield(ctx, x, "__lt");
                if lt.is_nil() {
                    lt = metafield(ctx, y, "__lt");
                }
                let f = meta_ops::call(ctx, lt).map_err(|e| LibError::Msg(e.to_string()))?;
                Ok(Err(SortStep::Call(f, x, y)))
            }
            // Raised by the VM's comparison in lua5.4: no position.
            Err(msg) => Err(LibError::Raw(super::args::message_error(ctx, &msg))),
        }
    }

    fn choose_pivot(&self) -> usize {
        let (lo, up) = (self.lo, self.up);
        if up - lo < 100 || self.rnd == 0 {
            (lo + up) / 2
        } else {
            let r4 = (up - lo) / 4;
            (self.rnd as usize) % (r4 * 2) + lo + r4
        }
    }

    /// Runs until the sort is done or a comparison needs a call.
    fn run(&mut self, ctx: Context<'gc>) -> LibResult<'gc, SortStep<'gc>> {
        macro_rules! cmp {
            ($x:expr, $y:expr) => {{
                let (x, y) = ($x, $y);
                match self.compare(ctx, x, y)? {
                    Ok(b) => b,
                    Err(step) => return Ok(step),
                }
            }};
        }
        loop {
            match self.phase {
                Phase::Begin => {
                    if self.lo >= self.up {
                        self.phase = Phase::NextRange;
                        continue;
                    }
                    self.phase = Phase::EndsCompare;
                }
                Phase::EndsCompare => {
                    if cmp!(self.a(self.up), self.a(self.lo)) {
                        self.swap(self.lo, self.up);
                    }
                    if self.up - self.lo == 1 {
                        self.phase = Phase::NextRange;
                        continue;
                    }
                    self.p = self.choose_pivot();
                    self.phase = Phase::PivotLo;
                }
                Phase::PivotLo => {
                    if cmp!(self.a(self.p), self.a(self.lo)) {
                        self.swap(self.p, self.lo);
                        self.phase = Phase::PartitionStart;
                    } else {
                        self.phase = Phase::PivotUp;
                    }
                }
                Phase::PivotUp => {
                    if cmp!(self.a(self.up), self.a(self.p)) {
                        self.swap(self.p, self.up);
                    }
                    self.phase = Phase::PartitionStart;
                }
                Phase::PartitionStart => {
                    if self.up - self.lo == 2 {
                        self.phase = Phase::NextRange;
                        continue;
                    }
                    self.pivot = self.a(self.p);
                    self.swap(self.p, self.up - 1);
                    self.i = self.lo;
                    self.j = self.up - 1;
                    self.phase = Phase::AdvanceI;
                }
                Phase::AdvanceI => {
                    self.i += 1;
                    self.phase = Phase::CompareI;
                }
                Phase::CompareI => {
                    if cmp!(self.a(self.i), self.pivot) {
                        if self.i == self.up - 1 {
                            return fail("invalid order function for sorting");
                        }
                        self.phase = Phase::AdvanceI;
                    } else {
                        self.phase = Phase::AdvanceJ;
                    }
                }
                Phase::AdvanceJ => {
                    self.j -= 1;
                    self.phase = Phase::CompareJ;
                }
                Phase::CompareJ => {
                    if cmp!(self.pivot, self.a(self.j)) {
                        if self.j < self.i {
                            return fail("invalid order function for sorting");
                        }
                        self.phase = Phase::AdvanceJ;
                    } else {
                        self.phase = Phase::Exchange;
                    }
                }
                Phase::Exchange => {
                    if self.j < self.i {
                        self.swap(self.up - 1, self.i);
                        let p = self.i;
                        let (lo, up) = (self.lo, self.up);
                        // Recurse into the smaller side first; the larger
                        // side continues with a possibly new randomization.
                        let (small, large, n) = if p - lo < up - p {
                            ((lo, p - 1), (p + 1, up), p - lo)
                        } else {
                            ((p + 1, up), (lo, p.saturating_sub(1)), up - p)
                        };
                        let mut rnd = self.rnd;
                        if large.1 >= large.0 && (large.1 - large.0) / 128 > n {
                            rnd = (self.comparisons as u32).wrapping_mul(2_654_435_761) | 1;
                        }
                        self.pending.push((large.0, large.1, rnd));
                        self.lo = small.0;
                        self.up = small.1;
                        self.phase = Phase::Begin;
                    } else {
                        self.swap(self.i, self.j);
                        self.phase = Phase::AdvanceI;
                    }
                }
                Phase::NextRange => match self.pending.pop() {
                    Some((lo, up, rnd)) => {
                        self.lo = lo;
                        self.up = up;
                        self.rnd = rnd;
                        self.phase = Phase::Begin;
                    }
                    None => return Ok(SortStep::Done),
                },
            }
        }
    }

    fn write_back(&self, ctx: Context<'gc>) {
        for (k, v) in self.arr.iter().enumerate() {
            set(ctx, self.table, k as i64 + 1, *v);
        }
    }

    /// Runs and reports the step as a sequence poll.
    fn drive(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Execution<'gc, '_>,
        stack: &mut Stack<'gc, '_>,
    ) -> LibResult<'gc, Option<Function<'gc>>> {
        let before = self.comparisons;
        let step = self.run(ctx);
        charge(exec, (self.comparisons - before) * 4);
        match step? {
            SortStep::Done => {
                self.write_back(ctx);
                stack.clear();
                Ok(None)
            }
            SortStep::Call(f, x, y) => {
                stack.replace(ctx, (x, y));
                Ok(Some(f))
            }
        }
    }
}

impl<'gc> Sequence<'gc> for Sort<'gc> {
    fn poll(
        &mut self,
        ctx: Context<'gc>,
        mut exec: Execution<'gc, '_>,
        mut stack: Stack<'gc, '_>,
    ) -> Result<SequencePoll<'gc>, Error<'gc>> {
        self.answer = Some(stack.get(0).to_bool());
        match self
            .drive(ctx, &mut exec, &mut stack)
            .map_err(|e| e.into_error(ctx, &exec, "table.sort"))?
        {
            None => Ok(SequencePoll::Return),
            Some(function) => Ok(SequencePoll::Call {
                function,
                is_tail: false,
            }),
        }
    }
}

/// Sorts arrays whose equal elements are indistinguishable (all integers,
/// all strings, or all floats with no NaN and no zero) with Rust's sort:
/// any correct order is then lua5.4's order. Returns false, untouched, for
/// anything else (mixed types, `__lt`, errors), which the quicksort machine
/// handles exactly as lua5.4 does.
fn sort_plain(arr: &mut [Value<'_>]) -> bool {
    match arr.first() {
        Some(Value::Integer(_)) if arr.iter().all(|v| matches!(v, Value::Integer(_))) => {
            arr.sort_unstable_by_key(|v| match v {
                Value::Integer(i) => *i,
                _ => 0,
            });
            true
        }
        Some(Value::String(_)) if arr.iter().all(|v| matches!(v, Value::String(_))) => {
            arr.sort_unstable_by(|a, b| match (a, b) {
                (Value::String(a), Value::String(b)) => a.as_bytes().cmp(b.as_bytes()),
                _ => std::cmp::Ordering::Equal,
            });
            true
        }
        Some(Value::Number(_))
            if arr
                .iter()
                .all(|v| matches!(v, Value::Number(f) if !f.is_nan() && *f != 0.0)) =>
        {
            arr.sort_unstable_by(|a, b| match (a, b) {
                (Value::Number(a), Value::Number(b)) => a.total_cmp(b),
                _ => std::cmp::Ordering::Equal,
            });
            true
        }
        _ => false,
    }
}

fn table_sort<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
    meta: Option<Closure<'gc>>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let t = check_table(stack, 0)?;
    if !matches!(stack.get(1), Value::Nil | Value::Function(_)) {
        return arg_fail(
            1,
            format!(
                "function expected, got {}",
                super::args::type_name_at(stack, 1)
            ),
        );
    }
    let args = vec![Value::Table(t), stack.get(1)];
    if let Some(r) = via_meta(
        ctx,
        exec,
        stack,
        &[Value::Table(t)],
        ("sort", "table.sort"),
        Some(args),
        meta,
    ) {
        return r;
    }
    let n = t.length();
    if n > 1 {
        if n >= i32::MAX as i64 {
            return arg_fail(0, "array too big");
        }
        let comparator = match stack.get(1) {
            Value::Nil => None,
            Value::Function(f) => Some(f),
            _ => {
                return arg_fail(
                    1,
                    format!(
                        "function expected, got {}",
                        super::args::type_name_at(stack, 1)
                    ),
                )
            }
        };
        charge(exec, n as usize);
        let mut arr: Vec<Value<'gc>> = (1..=n).map(|k| t.get(ctx, k)).collect();
        if comparator.is_none() && sort_plain(&mut arr) {
            charge(
                exec,
                arr.len() * (usize::BITS - arr.len().leading_zeros()) as usize,
            );
            for (k, v) in arr.into_iter().enumerate() {
                set(ctx, t, k as i64 + 1, v);
            }
            stack.clear();
            return Ok(CallbackReturn::Return);
        }
        let mut sort = Sort {
            table: t,
            arr,
            comparator,
            pending: Vec::new(),
            lo: 1,
            up: n as usize,
            rnd: 0,
            p: 0,
            i: 0,
            j: 0,
            pivot: Value::Nil,
            phase: Phase::Begin,
            answer: None,
            comparisons: 0,
        };
        if let Some(function) = sort.drive(ctx, exec, stack)? {
            return Ok(CallbackReturn::Call {
                function,
                then: Some(BoxSequence::new(&ctx, sort)),
            });
        }
    }
    stack.clear();
    Ok(CallbackReturn::Return)
}

/// A table function that may hand over to the metamethod-aware Lua
/// implementation.
type MetaAwareFn = for<'gc, 'a, 'b> fn(
    Context<'gc>,
    &mut Execution<'gc, 'a>,
    &mut Stack<'gc, 'b>,
    Option<Closure<'gc>>,
) -> LibResult<'gc, CallbackReturn<'gc>>;

fn set_meta_aware<'gc>(
    ctx: Context<'gc>,
    table: Table<'gc>,
    name: &'static str,
    f: MetaAwareFn,
    meta: Option<Closure<'gc>>,
) {
    let key = name.rsplit('.').next().unwrap_or(name);
    let callback = Callback::from_fn_with(&ctx, meta, move |meta, ctx, mut exec, mut stack| {
        f(ctx, &mut exec, &mut stack, *meta).map_err(|e| e.into_error(ctx, &exec, name))
    });
    table.set(ctx, key, callback).expect("string key");
}

fn raw_concat<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    table_concat(ctx, exec, stack, None)
}

fn raw_sort<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    table_sort(ctx, exec, stack, None)
}

fn raw_unpack<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    table_unpack(ctx, exec, stack, None)
}

/// Builds the `table` table.
pub fn load_table<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    let table = Table::new(&ctx);
    let meta = super::table_meta::instantiate(
        ctx,
        super::args::lib_fn(ctx, "table.concat", raw_concat),
        super::args::lib_fn(ctx, "table.unpack", raw_unpack),
        super::args::lib_fn(ctx, "table.sort", raw_sort),
    );
    set_meta_aware(ctx, table, "table.concat", table_concat, meta);
    set_meta_aware(ctx, table, "table.insert", table_insert, meta);
    set_meta_aware(ctx, table, "table.move", table_move, meta);
    set_fn(ctx, table, "table.pack", table_pack);
    set_meta_aware(ctx, table, "table.remove", table_remove, meta);
    set_meta_aware(ctx, table, "table.sort", table_sort, meta);
    set_meta_aware(ctx, table, "table.unpack", table_unpack, meta);
    table
}
