//! `table.sort`: lua5.4's quicksort (`auxsort`, `partition` and
//! `choosePivot` of `ltablib.c`) step for step — the same reads, writes and
//! comparisons in the same order — so the order it leaves equal elements
//! in, the `invalid order function for sorting` errors, the state of the
//! table after an error and what an order function observes are PUC
//! Lua's.
//!
//! It runs as a [`MetaOp`]: each read, write and comparison is an access
//! the driver answers, calling the order function (or `__lt`,
//! `__index`, `__newindex`) through the executor when one is needed.
//! Reads and writes of a table without metatable, and `<` between two
//! numbers or two strings, are done in place instead, charged to the
//! budget as the driver charges them; an access that would end the
//! budget slice is left to the driver, which pauses after it.
//!
//! Fast path: with no order function, a plain table (no `__index`,
//! `__newindex` or `__len`) whose elements are all integers, all strings
//! or all floats (no NaN, no zero) is sorted with Rust's sort. Equal
//! elements are then indistinguishable and the order is total, so any
//! correct sort leaves exactly lua5.4's result, and nothing observes the
//! steps. Comparisons follow [`crate::number`] and bytewise string order,
//! the VM's `<`.

use gc_arena::Collect;

use super::args::{arg_fail, fail, type_error, LibResult};
use super::meta_op::{raw_error, run, Access, MetaOp};
use super::table::{check_tab, to_len, TAB_L, TAB_R, TAB_W};
use crate::vm::meta::{self, event_in, Step, LEN};
use crate::{CallbackReturn, Context, Execution, Function, Stack, Table, Value};

/// Below this many elements the pivot is the middle one (`RANLIMIT`).
const RANLIMIT: u32 = 100;

/// Where the sort stands: each state is entered with the answer to the
/// access the previous one asked for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum At {
    /// Ask `#t`.
    Start,
    /// Got `#t`: check the arguments.
    Len,
    /// `while (lo < up)`: read `a[lo]`.
    Loop,
    /// Got `a[lo]`: read `a[up]`.
    EndsLo,
    /// Got `a[up]`: compare `a[up] < a[lo]`.
    EndsUp,
    /// Swap `a[lo]`, `a[up]` if so.
    EndsCmp,
    EndsSwapped,
    /// Choose the pivot `p`, read `a[p]`.
    Median,
    /// Got `a[p]`: read `a[lo]`.
    MedianP,
    /// Got `a[lo]`: compare `a[p] < a[lo]`.
    MedianLo,
    /// Swap `a[p]`, `a[lo]` if so, else read `a[up]`.
    MedianCmpLo,
    /// `a[lo] = ` old `a[p]`.
    MedianSwappedLo,
    /// Got `a[up]`: compare `a[up] < a[p]`.
    MedianUp,
    /// Swap `a[p]`, `a[up]` if so.
    MedianCmpUp,
    /// `a[up] = ` old `a[p]`.
    MedianSwappedUp,
    /// Read the pivot `P = a[p]`.
    Pivot,
    /// Got `P`: read `a[up - 1]`.
    PivotP,
    /// Got `a[up - 1]`: `a[p] = a[up - 1]`.
    PivotUp1,
    /// `a[up - 1] = P`, then partition.
    PivotPlaced,
    /// `++i`, read `a[i]`.
    NextI,
    /// Got `a[i]`: compare `a[i] < P`.
    GotI,
    CmpI,
    /// `--j`, read `a[j]`.
    NextJ,
    /// Got `a[j]`: compare `P < a[j]`.
    GotJ,
    CmpJ,
    /// Exchange `a[i]`, `a[j]` (second write pending).
    SwapIJ,
    /// Put the pivot at `i` (second write pending).
    PlacePivot,
    /// Partitioned at `i`: recurse.
    Split,
    /// Sort the next pending range.
    Pop,
}

#[derive(Collect)]
#[collect(no_drop)]
pub(super) struct Sort<'gc> {
    t: Value<'gc>,
    order: Option<Function<'gc>>,
    /// Ranges still to sort, with their pivot randomization (the larger
    /// halves `auxsort` loops on after its recursive call).
    #[collect(require_static)]
    pending: Vec<(u32, u32, u32)>,
    lo: u32,
    up: u32,
    rnd: u32,
    p: u32,
    i: u32,
    j: u32,
    /// The values `auxsort` keeps on the Lua stack.
    x: Value<'gc>,
    y: Value<'gc>,
    pivot: Value<'gc>,
    comparisons: u32,
    #[collect(require_static)]
    at: At,
}

impl<'gc> Sort<'gc> {
    fn new(t: Value<'gc>, at: At) -> Self {
        Sort {
            t,
            order: None,
            pending: Vec::new(),
            lo: 0,
            up: 0,
            rnd: 0,
            p: 0,
            i: 0,
            j: 0,
            x: Value::Nil,
            y: Value::Nil,
            pivot: Value::Nil,
            comparisons: 0,
            at,
        }
    }

    /// `sort_comp(a, b)`: `a < b` by the order function or `<`. Two
    /// numbers or two strings are compared here (`Ok(answer)`) when the
    /// budget slice goes on after this access's unit; else the access.
    #[inline(always)]
    fn less(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Execution<'gc, '_>,
        a: Value<'gc>,
        b: Value<'gc>,
    ) -> Result<Value<'gc>, Access<'gc>> {
        self.comparisons = self.comparisons.wrapping_add(1);
        if let Some(f) = self.order {
            return Err(Access::Order(f, a, b));
        }
        let plain = matches!((a, b), (Value::String(_), Value::String(_)))
            || a.as_number().is_some() && b.as_number().is_some();
        if plain {
            if let Ok(Step::Done(r)) = meta::less_than(ctx, a, b) {
                if charge(exec) {
                    return Ok(Value::Boolean(r));
                }
            }
        }
        Err(Access::Less(a, b))
    }

    fn get(&self, k: u32) -> Access<'gc> {
        Access::Get(self.t, k as i64)
    }

    fn set(&self, k: u32, v: Value<'gc>) -> Access<'gc> {
        Access::Set(self.t, k as i64, v)
    }

    /// `a[k]` read here, as the driver would read it, when `a` is a table
    /// whose raw value answers and the budget slice goes on after this
    /// access's unit; `None`: ask the driver.
    #[inline(always)]
    fn raw_get(&self, exec: &mut Execution<'gc, '_>, k: u32) -> Option<Value<'gc>> {
        let Value::Table(tab) = self.t else {
            return None;
        };
        let v = tab.raw_get_int(k as i64);
        if v.is_nil() && tab.metatable().is_some() || !charge(exec) {
            return None;
        }
        Some(v)
    }

    /// `a[k] = v` done here, as the driver would do it, when `a` is a table
    /// without metatable and the budget slice goes on after it; `false`:
    /// ask the driver.
    #[inline(always)]
    fn raw_set(
        &self,
        ctx: Context<'gc>,
        exec: &mut Execution<'gc, '_>,
        k: u32,
        v: Value<'gc>,
    ) -> LibResult<'gc, bool> {
        let Value::Table(tab) = self.t else {
            return Ok(false);
        };
        if tab.metatable().is_some() || !charge(exec) {
            return Ok(false);
        }
        tab.raw_set_int(&ctx, k as i64, v)
            .map_err(|e| raw_error(ctx, e.message().into()))?;
        Ok(true)
    }

    /// `choosePivot` for large ranges once randomized.
    fn pivot_index(&self) -> u32 {
        let (lo, up) = (self.lo, self.up);
        if up - lo < RANLIMIT || self.rnd == 0 {
            // No overflow: `up < 2^31`.
            (lo + up) / 2
        } else {
            let r4 = (up - lo) / 4;
            self.rnd % (r4 * 2) + (lo + r4)
        }
    }

    /// `l_randomizePivot`: lua5.4 mixes the clock and the time; any value
    /// does (it only guards against quadratic inputs).
    fn randomize(&self) -> u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        (nanos ^ self.comparisons.wrapping_mul(2_654_435_761)) | 1
    }
}

/// Charges one access to the budget when the slice goes on after it
/// (the driver charges one unit per access and pauses when the slice is
/// used up: an access that would end it is left to the driver).
#[inline(always)]
fn charge(exec: &mut Execution<'_, '_>) -> bool {
    let fuel = exec.fuel();
    if fuel.remaining() > 1 && !fuel.is_interrupted() {
        fuel.consume(1);
        true
    } else {
        false
    }
}

impl<'gc> MetaOp<'gc> for Sort<'gc> {
    fn name(&self) -> &'static str {
        "table.sort"
    }

    #[inline(always)]
    fn next(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Execution<'gc, '_>,
        args: &Stack<'gc, '_>,
        mut answer: Value<'gc>,
    ) -> LibResult<'gc, Access<'gc>> {
        // Reads and writes of a plain table are answered here and the
        // sort goes on to the state they lead to; others go to the driver.
        macro_rules! get {
            ($k:expr) => {{
                let k = $k;
                match self.raw_get(exec, k) {
                    Some(v) => {
                        answer = v;
                        continue;
                    }
                    None => return Ok(self.get(k)),
                }
            }};
        }
        macro_rules! set {
            ($k:expr, $v:expr) => {{
                let (k, v) = ($k, $v);
                if self.raw_set(ctx, exec, k, v)? {
                    answer = Value::Nil;
                    continue;
                }
                return Ok(self.set(k, v));
            }};
        }
        macro_rules! less {
            ($a:expr, $b:expr) => {{
                let (a, b) = ($a, $b);
                match self.less(ctx, exec, a, b) {
                    Ok(r) => {
                        answer = r;
                        continue;
                    }
                    Err(access) => return Ok(access),
                }
            }};
        }
        loop {
            match self.at {
                At::Start => {
                    self.at = At::Len;
                    return Ok(Access::Len(self.t));
                }
                At::Len => {
                    let n = to_len(answer)?;
                    match check_sort_args(args, n)? {
                        None => return Ok(Access::Done),
                        Some(order) => {
                            self.order = order;
                            self.lo = 1;
                            self.up = n as u32;
                            self.at = At::Loop;
                        }
                    }
                }
                At::Loop => {
                    if self.lo >= self.up {
                        self.at = At::Pop;
                        continue;
                    }
                    self.at = At::EndsLo;
                    get!(self.lo)
                }
                At::EndsLo => {
                    self.x = answer;
                    self.at = At::EndsUp;
                    get!(self.up)
                }
                At::EndsUp => {
                    self.y = answer;
                    self.at = At::EndsCmp;
                    less!(self.y, self.x)
                }
                At::EndsCmp => {
                    if answer.to_bool() {
                        self.at = At::EndsSwapped;
                        set!(self.lo, self.y)
                    }
                    self.at = At::Median;
                }
                At::EndsSwapped => {
                    self.at = At::Median;
                    set!(self.up, self.x)
                }
                At::Median => {
                    if self.up - self.lo == 1 {
                        self.at = At::Pop;
                        continue;
                    }
                    self.p = self.pivot_index();
                    self.at = At::MedianP;
                    get!(self.p)
                }
                At::MedianP => {
                    self.x = answer;
                    self.at = At::MedianLo;
                    get!(self.lo)
                }
                At::MedianLo => {
                    self.y = answer;
                    self.at = At::MedianCmpLo;
                    less!(self.x, self.y)
                }
                At::MedianCmpLo => {
                    if answer.to_bool() {
                        self.at = At::MedianSwappedLo;
                        set!(self.p, self.y)
                    }
                    self.at = At::MedianUp;
                    get!(self.up)
                }
                At::MedianSwappedLo => {
                    self.at = At::Pivot;
                    set!(self.lo, self.x)
                }
                At::MedianUp => {
                    self.y = answer;
                    self.at = At::MedianCmpUp;
                    less!(self.y, self.x)
                }
                At::MedianCmpUp => {
                    if answer.to_bool() {
                        self.at = At::MedianSwappedUp;
                        set!(self.p, self.y)
                    }
                    self.at = At::Pivot;
                }
                At::MedianSwappedUp => {
                    self.at = At::Pivot;
                    set!(self.up, self.x)
                }
                At::Pivot => {
                    if self.up - self.lo == 2 {
                        self.at = At::Pop;
                        continue;
                    }
                    self.at = At::PivotP;
                    get!(self.p)
                }
                At::PivotP => {
                    self.pivot = answer;
                    self.at = At::PivotUp1;
                    get!(self.up - 1)
                }
                At::PivotUp1 => {
                    self.at = At::PivotPlaced;
                    set!(self.p, answer)
                }
                At::PivotPlaced => {
                    self.i = self.lo;
                    self.j = self.up - 1;
                    self.at = At::NextI;
                    set!(self.up - 1, self.pivot)
                }
                At::NextI => {
                    self.i += 1;
                    self.at = At::GotI;
                    get!(self.i)
                }
                At::GotI => {
                    self.x = answer;
                    self.at = At::CmpI;
                    less!(self.x, self.pivot)
                }
                At::CmpI => {
                    if answer.to_bool() {
                        if self.i == self.up - 1 {
                            return fail("invalid order function for sorting");
                        }
                        self.at = At::NextI;
                    } else {
                        self.at = At::NextJ;
                    }
                }
                At::NextJ => {
                    self.j = self.j.wrapping_sub(1);
                    self.at = At::GotJ;
                    get!(self.j)
                }
                At::GotJ => {
                    self.y = answer;
                    self.at = At::CmpJ;
                    less!(self.pivot, self.y)
                }
                At::CmpJ => {
                    if answer.to_bool() {
                        if self.j < self.i {
                            return fail("invalid order function for sorting");
                        }
                        self.at = At::NextJ;
                        continue;
                    }
                    if self.j < self.i {
                        // set2(up - 1, i): a[up - 1] = a[i]; a[i] = P.
                        self.at = At::PlacePivot;
                        set!(self.up - 1, self.x)
                    }
                    // set2(i, j): a[i] = a[j]; a[j] = a[i].
                    self.at = At::SwapIJ;
                    set!(self.i, self.y)
                }
                At::SwapIJ => {
                    self.at = At::NextI;
                    set!(self.j, self.x)
                }
                At::PlacePivot => {
                    self.at = At::Split;
                    set!(self.i, self.pivot)
                }
                At::Split => {
                    let (lo, up, p) = (self.lo, self.up, self.i);
                    // Sort the smaller half first (lua5.4 recurses into
                    // it), then loop on the larger one, randomizing the
                    // pivot when the split was too unbalanced.
                    let (small, large, n) = if p - lo < up - p {
                        ((lo, p - 1), (p + 1, up), p - lo)
                    } else {
                        ((p + 1, up), (lo, p - 1), up - p)
                    };
                    let mut rnd = self.rnd;
                    if large.1.wrapping_sub(large.0) / 128 > n {
                        rnd = self.randomize();
                    }
                    self.pending.push((large.0, large.1, rnd));
                    (self.lo, self.up) = small;
                    self.at = At::Loop;
                }
                At::Pop => match self.pending.pop() {
                    Some((lo, up, rnd)) => {
                        (self.lo, self.up, self.rnd) = (lo, up, rnd);
                        self.at = At::Loop;
                    }
                    None => return Ok(Access::Done),
                },
            }
        }
    }

    fn results(&mut self, _: Context<'gc>, stack: &mut Stack<'gc, '_>) {
        stack.clear();
    }
}

/// `sort`'s checks once the length `n` is known: `None` when there is
/// nothing to sort, else the order function if one was given.
fn check_sort_args<'gc>(
    args: &Stack<'gc, '_>,
    n: i64,
) -> LibResult<'gc, Option<Option<Function<'gc>>>> {
    if n <= 1 {
        return Ok(None);
    }
    if n >= i32::MAX as i64 {
        return arg_fail(0, "array too big");
    }
    match args.get(1) {
        Value::Nil => Ok(Some(None)),
        Value::Function(f) => Ok(Some(Some(f))),
        _ => type_error(args, 1, "function"),
    }
}

/// Sorts `t[1..=n]` with Rust's sort when its elements are all integers,
/// all strings or all floats other than NaN and zeros (whose order is
/// total and whose equal elements are indistinguishable). False, with the
/// table untouched, for anything else.
fn sort_plain<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    t: Table<'gc>,
    n: usize,
) -> bool {
    fn collect<'gc, T>(
        t: Table<'gc>,
        n: usize,
        f: impl Fn(Value<'gc>) -> Option<T>,
    ) -> Option<Vec<T>> {
        let state = t.state();
        (1..=n as i64).map(|k| f(state.get_int(k))).collect()
    }
    // One unit of budget per comparison, as a VM comparison costs.
    let cost = n as i64 * (usize::BITS - n.leading_zeros()) as i64;
    let sorted: Vec<Value<'gc>> = match t.raw_get_int(1) {
        Value::Integer(_) => {
            let Some(mut v) = collect(t, n, |v| match v {
                Value::Integer(i) => Some(i),
                _ => None,
            }) else {
                return false;
            };
            v.sort_unstable();
            v.into_iter().map(Value::Integer).collect()
        }
        Value::Number(_) => {
            let Some(mut v) = collect(t, n, |v| match v {
                Value::Number(f) if !f.is_nan() && f != 0.0 => Some(f),
                _ => None,
            }) else {
                return false;
            };
            v.sort_unstable_by(f64::total_cmp);
            v.into_iter().map(Value::Number).collect()
        }
        Value::String(_) => {
            let Some(mut v) = collect(t, n, |v| match v {
                Value::String(s) => Some(s),
                _ => None,
            }) else {
                return false;
            };
            v.sort_unstable();
            v.into_iter().map(Value::String).collect()
        }
        _ => return false,
    };
    exec.fuel().consume(cost);
    for (k, v) in sorted.into_iter().enumerate() {
        // Every key `1..=n` is present and the table is not frozen.
        let _ = t.raw_set_int(&ctx, k as i64 + 1, v);
    }
    true
}

pub(super) fn table_sort<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let t = check_tab(ctx, stack, 0, TAB_R | TAB_W | TAB_L)?;
    let Value::Table(tab) = t else {
        return run(ctx, exec, stack, Sort::new(t, At::Start));
    };
    if tab
        .metatable()
        .is_some_and(|mt| !event_in(ctx, mt, LEN).is_nil())
    {
        return run(ctx, exec, stack, Sort::new(t, At::Start));
    }
    // `#t` is the raw length: check the arguments now.
    let n = tab.length();
    let Some(order) = check_sort_args(stack, n)? else {
        stack.clear();
        return Ok(CallbackReturn::Return);
    };
    if order.is_none() && !tab.is_frozen() && sort_plain(ctx, exec, tab, n as usize) {
        stack.clear();
        return Ok(CallbackReturn::Return);
    }
    let mut sort = Sort::new(t, At::Loop);
    sort.order = order;
    sort.lo = 1;
    sort.up = n as u32;
    run(ctx, exec, stack, sort)
}
