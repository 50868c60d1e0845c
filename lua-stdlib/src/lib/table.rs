//! The `table` library: `concat insert move pack remove sort unpack`, as
//! lua5.4's `ltablib.c` does them.
//!
//! Every element access goes through the table's metamethods exactly where
//! `ltablib.c` calls `lua_geti`, `lua_seti` and `luaL_len`, and in the same
//! order, so a proxy table (`__index`/`__newindex`/`__len`) sees the same
//! calls as under PUC Lua: each function is a state machine run by
//! `meta_op.rs`. A table without a metatable takes a direct path for the
//! common cases (append, pop, `concat`, `unpack`), with the same steps and
//! results.
//!
//! Each access costs one unit of the instruction budget and long
//! operations stop between budget slices, so `table.move(t, 1, 1e15, 2)`
//! is bounded by the caller's budget like a Lua loop. `concat` also charges
//! for the bytes it copies and fails with `not enough memory` past
//! [`MAX_CONCAT`].
//!
//! `sort` (in `table_sort.rs`) is lua5.4's quicksort step for step, with a
//! fast path for arrays whose order Rust's sort gives exactly.

use gc_arena::Collect;

use super::args::{
    arg_fail, charge, check_integer, fail, opt_integer, opt_string, set_fn, type_error, LibResult,
};
use super::meta_op::{raw_error, run, Access, MetaOp};
use crate::meta;
use crate::number::{number_to_string, Number};
use crate::{CallbackReturn, Context, Execution, Stack, String, Table, Value};

/// Most values `table.unpack` returns (lua5.4's stack limit, `LUAI_MAXSTACK`).
const MAX_UNPACK: u64 = 1_000_000;

/// Longest string `table.concat` builds; past it the call fails as an
/// allocation failure does in lua5.4 (`not enough memory`).
pub const MAX_CONCAT: usize = 256 << 20;

/// What `checktab` requires of a non-table argument's metatable.
pub(super) const TAB_R: u8 = 1;
pub(super) const TAB_W: u8 = 2;
pub(super) const TAB_L: u8 = 4;

/// `checktab`: a table, or a value whose metatable has the metamethods
/// `what` needs (read `__index`, write `__newindex`, length `__len`).
pub(super) fn check_tab<'gc>(
    ctx: Context<'gc>,
    stack: &Stack<'gc, '_>,
    i: usize,
    what: u8,
) -> LibResult<'gc, Value<'gc>> {
    let v = stack.get(i);
    if let Value::Table(_) = v {
        return Ok(v);
    }
    if let Some(mt) = meta::metatable(ctx, v) {
        let has = |bit: u8, name: &str| {
            what & bit == 0 || !mt.raw_get_str(ctx.intern(name.as_bytes())).is_nil()
        };
        if has(TAB_R, "__index") && has(TAB_W, "__newindex") && has(TAB_L, "__len") {
            return Ok(v);
        }
    }
    type_error(stack, i, "table")
}

/// `luaL_len`'s check of a length's answer.
pub(super) fn to_len<'gc>(answer: Value<'gc>) -> LibResult<'gc, i64> {
    match answer.to_integer() {
        Some(n) => Ok(n),
        None => fail("object length is not an integer"),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum InsertAt {
    Start,
    Len,
    /// Next: shift `t[i - 1]` up, or store the value when `i == pos`.
    Shift,
    /// Store the element read at `i - 1` into `i`.
    ShiftSet,
    Stored,
}

#[derive(Collect)]
#[collect(no_drop)]
struct Insert<'gc> {
    t: Value<'gc>,
    value: Value<'gc>,
    pos: i64,
    i: i64,
    #[collect(require_static)]
    at: InsertAt,
}

impl<'gc> MetaOp<'gc> for Insert<'gc> {
    fn name(&self) -> &'static str {
        "table.insert"
    }

    fn next(
        &mut self,
        _: Context<'gc>,
        _: &mut Execution<'gc, '_>,
        args: &Stack<'gc, '_>,
        answer: Value<'gc>,
    ) -> LibResult<'gc, Access<'gc>> {
        let t = self.t;
        match self.at {
            InsertAt::Start => {
                self.at = InsertAt::Len;
                return Ok(Access::Len(t));
            }
            InsertAt::Len => {
                let e = to_len(answer)?.wrapping_add(1);
                self.i = e;
                match args.len() {
                    2 => {
                        self.value = args.get(1);
                        self.pos = e;
                    }
                    3 => {
                        let pos = check_integer(args, 1)?;
                        if (pos as u64).wrapping_sub(1) >= e as u64 {
                            return arg_fail(1, "position out of bounds");
                        }
                        self.value = args.get(2);
                        self.pos = pos;
                    }
                    _ => return fail("wrong number of arguments to 'insert'"),
                }
            }
            InsertAt::ShiftSet => {
                self.at = InsertAt::Shift;
                let i = self.i;
                self.i -= 1;
                return Ok(Access::Set(t, i, answer));
            }
            InsertAt::Stored => return Ok(Access::Done),
            InsertAt::Shift => {}
        }
        if self.i > self.pos {
            self.at = InsertAt::ShiftSet;
            Ok(Access::Get(t, self.i - 1))
        } else {
            self.at = InsertAt::Stored;
            Ok(Access::Set(t, self.pos, self.value))
        }
    }

    fn results(&mut self, _: Context<'gc>, stack: &mut Stack<'gc, '_>) {
        stack.clear();
    }
}

fn table_insert<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let t = check_tab(ctx, stack, 0, TAB_R | TAB_W | TAB_L)?;
    // The common append to a plain table, without the machine.
    if let (Value::Table(tab), 2) = (t, stack.len()) {
        if tab.metatable().is_none() {
            let e = tab.length().wrapping_add(1);
            tab.raw_set_int(&ctx, e, stack.get(1))
                .map_err(|e| raw_error(ctx, e.message().into()))?;
            stack.clear();
            return Ok(CallbackReturn::Return);
        }
    }
    let op = Insert {
        t,
        value: Value::Nil,
        pos: 0,
        i: 0,
        at: InsertAt::Start,
    };
    run(ctx, exec, stack, op)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RemoveAt {
    Start,
    Len,
    Got,
    Shift,
    ShiftSet,
    Cleared,
}

#[derive(Collect)]
#[collect(no_drop)]
struct Remove<'gc> {
    t: Value<'gc>,
    size: i64,
    pos: i64,
    result: Value<'gc>,
    #[collect(require_static)]
    at: RemoveAt,
}

impl<'gc> MetaOp<'gc> for Remove<'gc> {
    fn name(&self) -> &'static str {
        "table.remove"
    }

    fn next(
        &mut self,
        _: Context<'gc>,
        _: &mut Execution<'gc, '_>,
        args: &Stack<'gc, '_>,
        answer: Value<'gc>,
    ) -> LibResult<'gc, Access<'gc>> {
        let t = self.t;
        match self.at {
            RemoveAt::Start => {
                self.at = RemoveAt::Len;
                return Ok(Access::Len(t));
            }
            RemoveAt::Len => {
                let size = to_len(answer)?;
                let pos = opt_integer(args, 1, size)?;
                // lua5.4.4 reports this one against argument #1.
                if pos != size && (pos as u64).wrapping_sub(1) > size as u64 {
                    return arg_fail(0, "position out of bounds");
                }
                self.size = size;
                self.pos = pos;
                self.at = RemoveAt::Got;
                return Ok(Access::Get(t, pos));
            }
            RemoveAt::Got => self.result = answer,
            RemoveAt::ShiftSet => {
                self.at = RemoveAt::Shift;
                let pos = self.pos;
                self.pos += 1;
                return Ok(Access::Set(t, pos, answer));
            }
            RemoveAt::Cleared => return Ok(Access::Done),
            RemoveAt::Shift => {}
        }
        if self.pos < self.size {
            self.at = RemoveAt::ShiftSet;
            Ok(Access::Get(t, self.pos + 1))
        } else {
            self.at = RemoveAt::Cleared;
            Ok(Access::Set(t, self.pos, Value::Nil))
        }
    }

    fn results(&mut self, ctx: Context<'gc>, stack: &mut Stack<'gc, '_>) {
        stack.replace(ctx, self.result);
    }
}

fn table_remove<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let t = check_tab(ctx, stack, 0, TAB_R | TAB_W | TAB_L)?;
    // The common pop from a plain table, without the machine.
    if let (Value::Table(tab), true) = (t, stack.get(1).is_nil()) {
        if tab.metatable().is_none() {
            let size = tab.length();
            let v = tab.raw_get_int(size);
            tab.raw_set_int(&ctx, size, Value::Nil)
                .map_err(|e| raw_error(ctx, e.message().into()))?;
            stack.replace(ctx, v);
            return Ok(CallbackReturn::Return);
        }
    }
    let op = Remove {
        t,
        size: 0,
        pos: 0,
        result: Value::Nil,
        at: RemoveAt::Start,
    };
    run(ctx, exec, stack, op)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum MoveAt {
    /// Decide the direction (maybe after `__eq`).
    Start,
    Decided,
    Copy,
    CopySet,
}

#[derive(Collect)]
#[collect(no_drop)]
struct Move<'gc> {
    from: Value<'gc>,
    dest: Value<'gc>,
    f: i64,
    t: i64,
    n: i64,
    /// Elements copied so far.
    done: i64,
    backwards: bool,
    /// Whether the destination was given (lua5.4 compares the two tables
    /// with `__eq` only then).
    dest_given: bool,
    #[collect(require_static)]
    at: MoveAt,
}

impl<'gc> Move<'gc> {
    /// The offset of the next element to copy.
    fn offset(&self) -> i64 {
        if self.backwards {
            self.n - 1 - self.done
        } else {
            self.done
        }
    }
}

impl<'gc> MetaOp<'gc> for Move<'gc> {
    fn name(&self) -> &'static str {
        "table.move"
    }

    fn next(
        &mut self,
        _: Context<'gc>,
        _: &mut Execution<'gc, '_>,
        _: &Stack<'gc, '_>,
        answer: Value<'gc>,
    ) -> LibResult<'gc, Access<'gc>> {
        match self.at {
            MoveAt::Start => {
                let e = self.f + (self.n - 1);
                if self.t > e || self.t <= self.f {
                    self.backwards = false;
                } else if self.dest_given {
                    self.at = MoveAt::Decided;
                    return Ok(Access::Equal(self.from, self.dest));
                } else {
                    self.backwards = true;
                }
            }
            MoveAt::Decided => self.backwards = answer.to_bool(),
            MoveAt::CopySet => {
                let k = self.t + self.offset();
                self.done += 1;
                self.at = MoveAt::Copy;
                return Ok(Access::Set(self.dest, k, answer));
            }
            MoveAt::Copy => {}
        }
        if self.done == self.n {
            return Ok(Access::Done);
        }
        self.at = MoveAt::CopySet;
        Ok(Access::Get(self.from, self.f + self.offset()))
    }

    fn results(&mut self, ctx: Context<'gc>, stack: &mut Stack<'gc, '_>) {
        stack.replace(ctx, self.dest);
    }
}

fn table_move<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let f = check_integer(stack, 1)?;
    let e = check_integer(stack, 2)?;
    let t = check_integer(stack, 3)?;
    let dest_given = !stack.get(4).is_nil();
    let from = check_tab(ctx, stack, 0, TAB_R)?;
    let dest = check_tab(ctx, stack, if dest_given { 4 } else { 0 }, TAB_W)?;
    let mut n = 0;
    if e >= f {
        if !(f > 0 || e < i64::MAX + f) {
            return arg_fail(2, "too many elements to move");
        }
        n = e - f + 1;
        if t > i64::MAX - n + 1 {
            return arg_fail(3, "destination wrap around");
        }
    }
    let op = Move {
        from,
        dest,
        f,
        t,
        n,
        done: 0,
        backwards: false,
        dest_given,
        at: if n == 0 { MoveAt::Copy } else { MoveAt::Start },
    };
    run(ctx, exec, stack, op)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ConcatAt {
    Start,
    Len,
    /// Add the element read and maybe a separator.
    Add,
}

#[derive(Collect)]
#[collect(no_drop)]
struct Concat<'gc> {
    t: Value<'gc>,
    sep: Option<String<'gc>>,
    i: i64,
    last: i64,
    #[collect(require_static)]
    out: Vec<u8>,
    result: Value<'gc>,
    #[collect(require_static)]
    at: ConcatAt,
}

/// Appends element `i` of a concatenation to `out` (`addfield`): strings
/// and numbers (as `tostring` writes them), anything else is an error.
/// Fails as an allocation failure does past [`MAX_CONCAT`].
fn add_field<'gc>(
    ctx: Context<'gc>,
    out: &mut Vec<u8>,
    v: Value<'gc>,
    i: i64,
) -> LibResult<'gc, ()> {
    let n;
    let bytes = match v {
        Value::String(s) => s.as_bytes(),
        Value::Integer(x) => {
            n = number_to_string(Number::Int(x));
            n.as_bytes()
        }
        Value::Number(f) => {
            n = number_to_string(Number::Float(f));
            n.as_bytes()
        }
        v => {
            return fail(format!(
                "invalid value ({}) at index {i} in table for 'concat'",
                v.type_name()
            ))
        }
    };
    add_bytes(ctx, out, bytes)
}

fn add_bytes<'gc>(ctx: Context<'gc>, out: &mut Vec<u8>, bytes: &[u8]) -> LibResult<'gc, ()> {
    if out.len() + bytes.len() > MAX_CONCAT {
        // What an allocation failure raises in lua5.4: no position.
        return Err(raw_error(ctx, "not enough memory".into()));
    }
    out.extend_from_slice(bytes);
    Ok(())
}

impl<'gc> MetaOp<'gc> for Concat<'gc> {
    fn name(&self) -> &'static str {
        "table.concat"
    }

    fn next(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Execution<'gc, '_>,
        args: &Stack<'gc, '_>,
        answer: Value<'gc>,
    ) -> LibResult<'gc, Access<'gc>> {
        match self.at {
            ConcatAt::Start => {
                self.at = ConcatAt::Len;
                return Ok(Access::Len(self.t));
            }
            ConcatAt::Len => {
                let last = to_len(answer)?;
                self.sep = opt_string(ctx, args, 1)?;
                self.i = opt_integer(args, 2, 1)?;
                self.last = opt_integer(args, 3, last)?;
                if self.i > self.last {
                    self.result = Value::String(ctx.intern(b""));
                    return Ok(Access::Done);
                }
            }
            ConcatAt::Add => {
                let mut answer = answer;
                loop {
                    let before = self.out.len();
                    add_field(ctx, &mut self.out, answer, self.i)?;
                    if self.i == self.last {
                        charge(exec, self.out.len() - before);
                        self.result = Value::String(ctx.intern(&self.out));
                        return Ok(Access::Done);
                    }
                    if let Some(sep) = self.sep {
                        add_bytes(ctx, &mut self.out, sep.as_bytes())?;
                    }
                    charge(exec, self.out.len() - before);
                    self.i += 1;
                    // A table without a metatable is read here, one unit
                    // per element as the machine charges, while the slice
                    // lasts (the machine's round trip per element cost
                    // more than the element).
                    match self.t {
                        Value::Table(t)
                            if t.metatable().is_none() && exec.fuel().remaining() > 1 =>
                        {
                            exec.fuel().consume(1);
                            answer = t.raw_get_int(self.i);
                        }
                        _ => break,
                    }
                }
            }
        }
        self.at = ConcatAt::Add;
        Ok(Access::Get(self.t, self.i))
    }

    fn results(&mut self, ctx: Context<'gc>, stack: &mut Stack<'gc, '_>) {
        stack.replace(ctx, self.result);
    }
}

/// Whether `n` accesses fit in what is left of the budget slice: then a
/// direct path may do them at once without overrunning it (else the
/// machine runs them, stopping between slices).
fn fits_slice(exec: &mut Execution<'_, '_>, n: i64) -> bool {
    n < exec.fuel().remaining()
}

/// `concat` of a table without a metatable: the same steps without the
/// machine (a missing element ends it, so the table's length bounds it).
fn concat_plain<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
    t: Table<'gc>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let last = t.length();
    let sep = opt_string(ctx, stack, 1)?;
    let sep = sep.map_or(&[][..], |s| s.as_bytes());
    let mut i = opt_integer(stack, 2, 1)?;
    let last = opt_integer(stack, 3, last)?;
    let mut out = Vec::new();
    let first = i;
    if i <= last {
        let state = t.state();
        loop {
            add_field(ctx, &mut out, state.get_int(i), i)?;
            if i == last {
                break;
            }
            add_bytes(ctx, &mut out, sep)?;
            i += 1;
        }
        // One unit per element read, as the machine charges.
        exec.fuel().consume(i.wrapping_sub(first).wrapping_add(1));
    }
    charge(exec, out.len());
    stack.replace(ctx, ctx.intern(&out));
    Ok(CallbackReturn::Return)
}

fn table_concat<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let t = check_tab(ctx, stack, 0, TAB_R | TAB_L)?;
    if let Value::Table(tab) = t {
        if tab.metatable().is_none() && fits_slice(exec, tab.length()) {
            return concat_plain(ctx, exec, stack, tab);
        }
    }
    let op = Concat {
        t,
        sep: None,
        i: 0,
        last: 0,
        out: Vec::new(),
        result: Value::Nil,
        at: ConcatAt::Start,
    };
    run(ctx, exec, stack, op)
}

fn table_pack<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let n = stack.len();
    let t = ctx.new_table_with(n, 1);
    charge(exec, n * 8);
    for (i, v) in stack.iter().enumerate() {
        // A fresh table: integer keys cannot fail.
        let _ = t.raw_set_int(&ctx, i as i64 + 1, v);
    }
    let _ = t.set(ctx, "n", n as i64);
    stack.replace(ctx, t);
    Ok(CallbackReturn::Return)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum UnpackAt {
    /// Ask for `#list` (no end given).
    Start,
    Len,
    /// The range is known: check it, read the first element.
    Range,
    /// Record the element read, read the next.
    Read,
}

#[derive(Collect)]
#[collect(no_drop)]
struct Unpack<'gc> {
    list: Value<'gc>,
    i: i64,
    e: i64,
    /// The index read last.
    k: i64,
    values: Vec<Value<'gc>>,
    #[collect(require_static)]
    at: UnpackAt,
}

impl<'gc> MetaOp<'gc> for Unpack<'gc> {
    fn name(&self) -> &'static str {
        "table.unpack"
    }

    fn next(
        &mut self,
        _: Context<'gc>,
        _: &mut Execution<'gc, '_>,
        _: &Stack<'gc, '_>,
        answer: Value<'gc>,
    ) -> LibResult<'gc, Access<'gc>> {
        match self.at {
            UnpackAt::Start => {
                self.at = UnpackAt::Len;
                return Ok(Access::Len(self.list));
            }
            UnpackAt::Len | UnpackAt::Range => {
                if self.at == UnpackAt::Len {
                    self.e = to_len(answer)?;
                }
                if self.i > self.e {
                    return Ok(Access::Done);
                }
                let n = (self.e as u64).wrapping_sub(self.i as u64);
                if n >= MAX_UNPACK {
                    return fail("too many results to unpack");
                }
                self.values.reserve(n as usize + 1);
                self.k = self.i;
            }
            UnpackAt::Read => {
                self.values.push(answer);
                if self.k == self.e {
                    return Ok(Access::Done);
                }
                self.k += 1;
            }
        }
        self.at = UnpackAt::Read;
        Ok(Access::Get(self.list, self.k))
    }

    fn results(&mut self, _: Context<'gc>, stack: &mut Stack<'gc, '_>) {
        stack.clear();
        stack.extend(self.values.drain(..));
    }
}

fn table_unpack<'gc>(
    ctx: Context<'gc>,
    exec: &mut Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let list = stack.get(0);
    let i = opt_integer(stack, 1, 1)?;
    let (e, at) = if stack.get(2).is_nil() {
        (0, UnpackAt::Start)
    } else {
        (check_integer(stack, 2)?, UnpackAt::Range)
    };
    // A table without a metatable: the same steps without the machine,
    // when they fit in the budget slice.
    if let Value::Table(t) = list {
        if t.metatable().is_none() {
            let e = if at == UnpackAt::Start { t.length() } else { e };
            if i > e {
                stack.clear();
                return Ok(CallbackReturn::Return);
            }
            let n = (e as u64).wrapping_sub(i as u64);
            if n >= MAX_UNPACK {
                return fail("too many results to unpack");
            }
            if fits_slice(exec, n as i64 + 1) {
                exec.fuel().consume(n as i64 + 1);
                stack.clear();
                let state = t.state();
                stack.extend((0..=n).map(|k| state.get_int(i.wrapping_add(k as i64))));
                return Ok(CallbackReturn::Return);
            }
        }
    }
    let op = Unpack {
        list,
        i,
        e,
        k: 0,
        values: Vec::new(),
        at,
    };
    run(ctx, exec, stack, op)
}

/// Builds the `table` table.
pub fn load_table<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    let table = ctx.new_table();
    set_fn(ctx, table, "table.concat", table_concat);
    set_fn(ctx, table, "table.insert", table_insert);
    set_fn(ctx, table, "table.move", table_move);
    set_fn(ctx, table, "table.pack", table_pack);
    set_fn(ctx, table, "table.remove", table_remove);
    set_fn(ctx, table, "table.sort", super::table_sort::table_sort);
    set_fn(ctx, table, "table.unpack", table_unpack);
    table
}
