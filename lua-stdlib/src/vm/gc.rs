//! Weak tables and finalizers on gc-arena, as `lgc.c` defines them.
//!
//! gc-arena traces every `Value` a table holds strongly, and its `Collect`
//! cannot be written by hand here (no `unsafe`). So the weak parts of a
//! weak table are made weak only while the collector marks: when a cycle
//! starts, every registered weak table moves its collectable keys and
//! values into a side record of `GcWeak` handles (leaving placeholders in
//! place), the whole marking runs at once (no Lua runs in between), and in
//! gc-arena's finalization phase ([`gc_arena::arena::MarkedArena`]):
//!
//! 1. ephemerons converge: a value of a weak-key table whose key is alive
//!    is resurrected, and marking resumes until nothing changes;
//! 2. entries whose weak value is dead are cleared;
//! 3. tables with a `__gc` that are now dead are resurrected and queued
//!    for finalization (newest first), then ephemerons converge again;
//! 4. entries whose weak key is dead are cleared (a resurrected object
//!    leaves weak values now but weak keys only after its finalizer ran,
//!    as in 5.4);
//! 5. the side records go back into their tables; a cleared entry leaves a
//!    tombstone (a dead key keeps its slot as a key nothing equals, so
//!    probing and `next` stay correct until the next rehash).
//!
//! Strings, numbers and booleans are values, never weak: a string key of
//! an all-weak (`kv`) table lives as long as its entry, and so does the
//! key of a tombstone (a cleared entry) of any weak table. Ordinary tables
//! pay nothing: the hot paths of `table.rs` are unchanged, a table is
//! registered only when `setmetatable` gives it a `__mode` or a `__gc`.
//! The driver (when cycles start, running finalizers) is `Vm` in `lib.rs`.

use std::cell::Cell;
use std::collections::VecDeque;

use gc_arena::{lock::RefLock, Collect, Finalization, Gc, GcWeak, Mutation};

use super::callback::CallbackBox;
use super::closure::ClosureState;
use super::context::{Context, GlobalState};
use super::string::StrBox;
use super::table::{Table, TableState};
use super::thread::ThreadState;
use super::userdata::UserDataBox;
use super::value::{Function, Value};

/// A collectable object held weakly.
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub(crate) enum WeakObj<'gc> {
    Table(GcWeak<'gc, RefLock<TableState<'gc>>>),
    Closure(GcWeak<'gc, ClosureState<'gc>>),
    Callback(GcWeak<'gc, CallbackBox<'gc>>),
    Thread(GcWeak<'gc, RefLock<ThreadState<'gc>>>),
    UserData(GcWeak<'gc, UserDataBox<'gc>>),
    /// A string key of an all-weak table or a tombstone's: it lives only
    /// if its entry does (strings are values, never cleared themselves).
    String(GcWeak<'gc, StrBox>),
}

impl<'gc> WeakObj<'gc> {
    /// The weak handle of an object that a weak table may lose (not
    /// strings: they are values).
    pub(crate) fn of(v: Value<'gc>) -> Option<WeakObj<'gc>> {
        Some(match v {
            Value::Table(t) => WeakObj::Table(Gc::downgrade(t.0)),
            Value::Function(Function::Closure(c)) => WeakObj::Closure(Gc::downgrade(c.0)),
            Value::Function(Function::Callback(c)) => WeakObj::Callback(Gc::downgrade(c.0)),
            Value::Thread(t) => WeakObj::Thread(Gc::downgrade(t.0)),
            Value::UserData(u) => WeakObj::UserData(Gc::downgrade(u.0)),
            _ => return None,
        })
    }

    /// Like [`WeakObj::of`], strings included.
    pub(crate) fn of_key(v: Value<'gc>) -> Option<WeakObj<'gc>> {
        match v {
            Value::String(s) => Some(WeakObj::String(Gc::downgrade(s.0))),
            v => WeakObj::of(v),
        }
    }

    fn is_string(self) -> bool {
        matches!(self, WeakObj::String(_))
    }

    fn is_dead(self, fc: &Finalization<'gc>) -> bool {
        match self {
            WeakObj::String(w) => w.is_dead(fc),
            WeakObj::Table(w) => w.is_dead(fc),
            WeakObj::Closure(w) => w.is_dead(fc),
            WeakObj::Callback(w) => w.is_dead(fc),
            WeakObj::Thread(w) => w.is_dead(fc),
            WeakObj::UserData(w) => w.is_dead(fc),
        }
    }

    fn resurrect(self, fc: &Finalization<'gc>) {
        match self {
            WeakObj::String(w) => drop(w.resurrect(fc)),
            WeakObj::Table(w) => drop(w.resurrect(fc)),
            WeakObj::Closure(w) => drop(w.resurrect(fc)),
            WeakObj::Callback(w) => drop(w.resurrect(fc)),
            WeakObj::Thread(w) => drop(w.resurrect(fc)),
            WeakObj::UserData(w) => drop(w.resurrect(fc)),
        }
    }

    /// The object again, if marking found it alive.
    pub(crate) fn live(self, fc: &Finalization<'gc>) -> Option<Value<'gc>> {
        if self.is_dead(fc) {
            return None;
        }
        let mc: &Mutation<'gc> = fc;
        Some(match self {
            WeakObj::Table(w) => Value::Table(Table(w.upgrade(mc)?)),
            WeakObj::Closure(w) => {
                Value::Function(Function::Closure(super::closure::Closure(w.upgrade(mc)?)))
            }
            WeakObj::Callback(w) => Value::Function(Function::Callback(super::callback::Callback(
                w.upgrade(mc)?,
            ))),
            WeakObj::Thread(w) => Value::Thread(super::thread::Thread(w.upgrade(mc)?)),
            WeakObj::UserData(w) => Value::UserData(super::userdata::UserData(w.upgrade(mc)?)),
            WeakObj::String(w) => Value::String(super::string::String(w.upgrade(mc)?)),
        })
    }
}

/// Where a side entry came from in its table.
#[derive(Copy, Clone, Debug)]
pub(crate) enum Slot {
    Array(usize),
    Node(usize),
}

/// The weak parts of one table entry while the collector marks.
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub(crate) struct SideEntry<'gc> {
    #[collect(require_static)]
    pub slot: Slot,
    pub key: Option<WeakObj<'gc>>,
    pub value: Option<WeakObj<'gc>>,
    /// The entry goes: its weak key or weak value died.
    #[collect(require_static)]
    pub cleared: bool,
}

/// A registered weak table.
#[derive(Collect)]
#[collect(no_drop)]
pub(crate) struct WeakRecord<'gc> {
    table: GcWeak<'gc, RefLock<TableState<'gc>>>,
    /// This cycle's weak parts (empty outside a collection).
    side: Vec<SideEntry<'gc>>,
    #[collect(require_static)]
    converted: bool,
    #[collect(require_static)]
    weak_keys: bool,
    #[collect(require_static)]
    weak_values: bool,
}

/// The collector's registries, in the arena root.
#[derive(Collect, Default)]
#[collect(no_drop)]
pub(crate) struct GcState<'gc> {
    weak: Vec<WeakRecord<'gc>>,
    /// Tables marked for finalization (their metatable had a `__gc` when
    /// set), oldest first.
    finobj: Vec<GcWeak<'gc, RefLock<TableState<'gc>>>>,
    /// Unreachable tables whose finalizer is still to run, in calling order.
    tobefnz: VecDeque<Table<'gc>>,
}

/// `collectgarbage`'s switches, outside the arena (no write barrier).
#[derive(Default, Collect)]
#[collect(require_static)]
pub(crate) struct GcControl {
    /// Collection work due before Lua runs again (`collectgarbage`).
    pub requested: Cell<GcRequest>,
    /// A cycle is in progress (mirrored by `Vm` after collector work).
    pub in_cycle: Cell<bool>,
    /// `collectgarbage("stop")`: no automatic collection.
    pub stopped: Cell<bool>,
    pub generational: Cell<bool>,
    /// A finalizer is running: `collectgarbage` answers `fail`.
    pub in_finalizer: Cell<bool>,
    pub pause: Cell<i64>,
    pub stepmul: Cell<i64>,
}

/// What `collectgarbage` asked for.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum GcRequest {
    #[default]
    None,
    /// `collect`: a full cycle.
    Full,
    /// A basic step with no cycle in progress: the cycle starts.
    StartCycle,
    /// A basic step during a cycle: the cycle ends.
    FinishCycle,
}

impl GcControl {
    pub(crate) fn new() -> GcControl {
        let c = GcControl::default();
        c.pause.set(200);
        c.stepmul.set(100);
        c
    }
}

impl<'gc> Context<'gc> {
    /// Records that `t` has a weak mode now (once per table).
    pub(crate) fn register_weak(self, t: Table<'gc>) {
        self.gc_state().borrow_mut(&self).weak.push(WeakRecord {
            table: Gc::downgrade(t.0),
            side: Vec::new(),
            converted: false,
            weak_keys: false,
            weak_values: false,
        });
    }

    /// Marks `t` for finalization.
    pub(crate) fn register_finalizer(self, t: Table<'gc>) {
        self.gc_state()
            .borrow_mut(&self)
            .finobj
            .push(Gc::downgrade(t.0));
    }
}

/// Whether a weak table is registered (the collector then marks at once).
pub(crate) fn has_weak(root: &GlobalState<'_>) -> bool {
    !root.gc.borrow().weak.is_empty()
}

/// Whether finalizers wait to run.
pub(crate) fn has_pending(root: &GlobalState<'_>) -> bool {
    !root.gc.borrow().tobefnz.is_empty()
}

/// Before a cycle's marking starts: weak parts into side records.
pub(crate) fn weaken<'gc>(mc: &Mutation<'gc>, root: &GlobalState<'gc>) {
    let mut gc = root.gc.borrow_mut(mc);
    gc.weak.retain_mut(|r| {
        let Some(t) = r.table.upgrade(mc) else {
            return false;
        };
        // The mode is the metatable's now, as each lgc.c traversal reads
        // it (the metatable may be the table itself: read it first).
        let mode = match t.borrow().metatable() {
            Some(mt) => mt.raw_get_str(root.event_names[super::meta::MODE as usize]),
            None => Value::Nil,
        };
        let mut s = t.borrow_mut(mc);
        s.set_weak_mode(mode);
        let (k, v) = s.weak_mode();
        if !k && !v {
            s.set_weak_registered(false);
            return false;
        }
        r.side.clear();
        s.weaken(k, v, &mut r.side);
        r.weak_keys = k;
        r.weak_values = v;
        r.converted = true;
        true
    });
}

/// Ephemerons: resurrects the values whose keys are alive. `true` when
/// something was resurrected (marking must resume).
pub(crate) fn converge<'gc>(fc: &Finalization<'gc>, root: &GlobalState<'gc>) -> bool {
    let gc = root.gc.borrow();
    let mut progress = false;
    for r in gc.weak.iter() {
        if !r.converted || !r.weak_keys || r.weak_values || r.table.is_dead(fc) {
            continue;
        }
        for e in &r.side {
            if let (Some(k), Some(v)) = (e.key, e.value) {
                if !k.is_dead(fc) && v.is_dead(fc) {
                    v.resurrect(fc);
                    progress = true;
                }
            }
        }
    }
    progress
}

/// Clears the entries whose weak value (or, with `keys`, weak key) died.
pub(crate) fn clear<'gc>(fc: &Finalization<'gc>, root: &GlobalState<'gc>, keys: bool) {
    let mut gc = root.gc.borrow_mut(fc);
    for r in gc.weak.iter_mut() {
        if !r.converted || r.table.is_dead(fc) {
            continue;
        }
        let (wk, wv) = (r.weak_keys, r.weak_values);
        for e in r.side.iter_mut() {
            if e.cleared {
                continue;
            }
            let value_dead = wv && e.value.is_some_and(|v| v.is_dead(fc));
            let key_dead = keys && wk && e.key.is_some_and(|k| !k.is_string() && k.is_dead(fc));
            e.cleared = value_dead || key_dead;
        }
    }
}

/// Resurrects the dead tables marked for finalization and queues them,
/// newest first. `true` when any was.
pub(crate) fn separate<'gc>(fc: &Finalization<'gc>, root: &GlobalState<'gc>) -> bool {
    let mut gc = root.gc.borrow_mut(fc);
    let mut found = Vec::new();
    gc.finobj.retain(|w| {
        if w.is_dropped() {
            return false;
        }
        if w.is_dead(fc) {
            if let Some(t) = w.resurrect(fc) {
                found.push(Table(t));
            }
            return false;
        }
        true
    });
    let any = !found.is_empty();
    for t in found.into_iter().rev() {
        t.0.borrow_mut(fc).set_finalizer_registered(false);
        gc.tobefnz.push_back(t);
    }
    any
}

/// After marking: the side records back into their tables; records of
/// dead tables go.
pub(crate) fn restore<'gc>(fc: &Finalization<'gc>, root: &GlobalState<'gc>) {
    let mut gc = root.gc.borrow_mut(fc);
    gc.weak.retain_mut(|r| {
        if r.table.is_dead(fc) {
            return false;
        }
        if r.converted {
            for e in &r.side {
                if let Some(k @ WeakObj::String(_)) = e.key {
                    if !e.cleared {
                        k.resurrect(fc);
                    }
                }
            }
            if let Some(t) = r.table.upgrade(fc) {
                t.borrow_mut(fc).restore(fc, &r.side);
            }
            r.side.clear();
            r.converted = false;
        }
        true
    });
}

/// `lua_close`: every table still marked for finalization is queued,
/// newest first.
pub(crate) fn separate_all<'gc>(mc: &Mutation<'gc>, root: &GlobalState<'gc>) {
    let mut gc = root.gc.borrow_mut(mc);
    let all = std::mem::take(&mut gc.finobj);
    for w in all.into_iter().rev() {
        if let Some(t) = w.upgrade(mc) {
            t.borrow_mut(mc).set_finalizer_registered(false);
            gc.tobefnz.push_back(Table(t));
        }
    }
}

/// The next queued finalizer: the object and its `__gc` as it is now
/// (`None` when the queue is empty). A `__gc` that is nil is skipped.
pub(crate) fn next_finalizer<'gc>(ctx: Context<'gc>) -> Option<(Table<'gc>, Value<'gc>)> {
    loop {
        let t = ctx.gc_state().borrow_mut(&ctx).tobefnz.pop_front()?;
        let f = match t.metatable() {
            Some(mt) => mt.raw_get_str(ctx.event_name(super::meta::GC)),
            None => Value::Nil,
        };
        if !f.is_nil() {
            return Some((t, f));
        }
    }
}
