//! The arena root (per-VM global state) and [`Context`], the handle every
//! callback and host closure gets: allocation, interning, globals, the
//! registry, per-type metatables and stashing values outside the arena.

use gc_arena::{lock::RefLock, Collect, DynamicRoot, DynamicRootSet, Gc, Mutation, Rootable};

use super::callback::Callback;
use super::closure::{Closure, FunctionProto, UpVal, UpvalState};
use super::mem::Meter;
use super::meta::{Event, EVENT_COUNT, EVENT_NAMES};
use super::string::{Interner, String as LuaString};
use super::table::Table;
use super::thread::{Executor, Thread};
use super::userdata::UserData;
use super::value::{Function, Value};

/// Per-VM state: the arena's root.
#[derive(Collect)]
#[collect(no_drop)]
pub struct GlobalState<'gc> {
    pub(crate) interner: Gc<'gc, RefLock<Interner<'gc>>>,
    pub(crate) globals: Table<'gc>,
    pub(crate) registry: Table<'gc>,
    /// Metatables of non-table, non-userdata types, by `type_index`.
    pub(crate) type_metatables: Gc<'gc, RefLock<[Option<Table<'gc>>; 9]>>,
    pub(crate) event_names: Box<[LuaString<'gc>]>,
    pub(crate) roots: DynamicRootSet<'gc>,
    pub(crate) meter: Meter,
    /// Warnings (`warn`, errors in finalizers) not yet taken by the host.
    pub(crate) warnings: Warnings,
    /// Weak tables and finalizers (`gc.rs`).
    pub(crate) gc: Gc<'gc, RefLock<super::gc::GcState<'gc>>>,
    pub(crate) gc_control: super::gc::GcControl,
    /// Fills the unused upvalue slots of closures (never read).
    pub(crate) placeholder_upval: UpVal<'gc>,
}

/// Warnings kept outside the arena: a `Gc<RefLock<_>>` of pointer-free
/// data is marked black without being traced, and gc-arena 0.7's write
/// barrier on it then uncounts a trace it never counted (the metrics
/// underflow, a panic in debug builds, at the start of a marking phase).
#[derive(Default, Collect)]
#[collect(require_static)]
pub(crate) struct Warnings(std::cell::RefCell<Vec<std::string::String>>);

impl<'gc> GlobalState<'gc> {
    pub(crate) fn new(mc: &Mutation<'gc>) -> GlobalState<'gc> {
        let meter = Meter::default();
        let mut interner = Interner::new(meter.clone());
        let event_names: Box<[LuaString<'gc>]> = EVENT_NAMES
            .iter()
            .map(|n| interner.intern(mc, n.as_bytes()))
            .collect();
        debug_assert_eq!(event_names.len(), EVENT_COUNT);
        GlobalState {
            interner: Gc::new(mc, RefLock::new(interner)),
            globals: Table::new(mc, &meter),
            registry: Table::new(mc, &meter),
            type_metatables: Gc::new(mc, RefLock::new([None; 9])),
            event_names,
            roots: DynamicRootSet::new(mc),
            meter,
            warnings: Warnings::default(),
            gc: Gc::new(mc, RefLock::new(Default::default())),
            gc_control: super::gc::GcControl::new(),
            placeholder_upval: Gc::new(
                mc,
                gc_arena::lock::Lock::new(UpvalState::Closed(Value::Nil)),
            ),
        }
    }
}

fn type_index(v: Value<'_>) -> usize {
    match v {
        Value::Nil => 0,
        Value::Boolean(_) => 1,
        Value::Integer(_) | Value::Number(_) => 3,
        Value::String(_) => 4,
        Value::Table(_) => 5,
        Value::Function(_) => 6,
        Value::UserData(_) => 7,
        Value::Thread(_) => 8,
    }
}

/// Access to one VM's arena during a call into it.
#[derive(Copy, Clone)]
pub struct Context<'gc> {
    mc: &'gc Mutation<'gc>,
    state: &'gc GlobalState<'gc>,
}

impl<'gc> std::ops::Deref for Context<'gc> {
    type Target = Mutation<'gc>;
    fn deref(&self) -> &Mutation<'gc> {
        self.mc
    }
}

impl<'gc> Context<'gc> {
    pub(crate) fn new(mc: &'gc Mutation<'gc>, state: &'gc GlobalState<'gc>) -> Self {
        Context { mc, state }
    }

    pub fn mutation(self) -> &'gc Mutation<'gc> {
        self.mc
    }

    /// A Lua string with these bytes (interned when short).
    pub fn intern(self, bytes: &[u8]) -> LuaString<'gc> {
        self.state
            .interner
            .borrow_mut(self.mc)
            .intern(self.mc, bytes)
    }

    pub fn intern_static(self, s: &'static [u8]) -> LuaString<'gc> {
        self.intern(s)
    }

    /// Sets global `name` in the default globals table.
    pub fn set_global(
        self,
        name: &str,
        v: impl super::callback::IntoValue<'gc>,
    ) -> Result<(), super::table::SetError> {
        self.state.globals.set(self, name, v)
    }

    /// Global `name` of the default globals table.
    pub fn get_global(self, name: &str) -> Value<'gc> {
        self.state.globals.get(self, name)
    }

    /// A new empty table.
    pub fn new_table(self) -> Table<'gc> {
        Table::new(self.mc, &self.state.meter)
    }

    pub fn new_table_with(self, array: usize, hash: usize) -> Table<'gc> {
        Table::with_capacity(self.mc, &self.state.meter, array, hash)
    }

    /// The default globals table (what chunks get unless given another).
    pub fn globals(self) -> Table<'gc> {
        self.state.globals
    }

    /// A table for the host and libraries (Lua code cannot reach it).
    pub fn registry(self) -> Table<'gc> {
        self.state.registry
    }

    /// The metatable shared by all values of `v`'s type (not tables or
    /// userdata, which have their own).
    pub fn type_metatable(self, v: Value<'gc>) -> Option<Table<'gc>> {
        self.state.type_metatables.borrow()[type_index(v)]
    }

    pub fn set_type_metatable(self, v: Value<'gc>, mt: Option<Table<'gc>>) {
        self.state.type_metatables.borrow_mut(self.mc)[type_index(v)] = mt;
    }

    /// The string metatable (`getmetatable("")`).
    pub fn string_metatable(self) -> Option<Table<'gc>> {
        self.state.type_metatables.borrow()[4]
    }

    pub(crate) fn gc_state(self) -> Gc<'gc, RefLock<super::gc::GcState<'gc>>> {
        self.state.gc
    }

    /// `collectgarbage`'s switches.
    pub(crate) fn gc_control(self) -> &'gc super::gc::GcControl {
        &self.state.gc_control
    }

    /// Bytes in use, as `collectgarbage("count")` and the memory budget
    /// count them.
    pub fn memory(self) -> usize {
        self.state.meter.bytes() + self.mc.metrics().total_gc_count() * super::mem::GC_OBJECT_BYTES
    }

    pub(crate) fn event_name(self, e: Event) -> LuaString<'gc> {
        self.state.event_names[e as usize]
    }

    /// Records a warning (as lua5.4's `warn` or a failed finalizer would
    /// print it) for the host to take with `Vm::take_warnings`.
    pub fn warn(self, message: std::string::String) {
        self.state.warnings.0.borrow_mut().push(message);
    }

    pub(crate) fn take_warnings(self) -> Vec<std::string::String> {
        std::mem::take(&mut *self.state.warnings.0.borrow_mut())
    }

    pub(crate) fn new_upval(self, state: UpvalState<'gc>) -> UpVal<'gc> {
        Gc::new(self.mc, gc_arena::lock::Lock::new(state))
    }

    pub(crate) fn placeholder_upval(self) -> UpVal<'gc> {
        self.state.placeholder_upval
    }

    pub(crate) fn new_closure(
        self,
        proto: Gc<'gc, FunctionProto<'gc>>,
        upvalues: &[UpVal<'gc>],
    ) -> Closure<'gc> {
        Closure::new(self.mc, proto, upvalues, self.state.placeholder_upval)
    }

    /// Keeps `v` alive outside the arena; [`Context::fetch`] gets it back in
    /// this VM.
    pub fn stash<S: Stashable<'gc>>(self, v: S) -> S::Stashed {
        v.stash(self.mc, self.state.roots)
    }

    /// Gets a stashed value back. Panics if it was stashed in another VM
    /// (a host bug, unreachable from Lua).
    pub fn fetch<F: Fetchable>(self, s: &F) -> F::Fetched<'gc> {
        s.fetch(self.state.roots)
    }
}

/// Arena values that can be stashed.
pub trait Stashable<'gc> {
    type Stashed;
    fn stash(self, mc: &Mutation<'gc>, roots: DynamicRootSet<'gc>) -> Self::Stashed;
}

/// Stashed values that can be fetched.
pub trait Fetchable {
    type Fetched<'gc>;
    fn fetch<'gc>(&self, roots: DynamicRootSet<'gc>) -> Self::Fetched<'gc>;
}

macro_rules! stash_gc {
    ($name:ident, $ty:ident, $inner:ty, $doc:expr) => {
        #[doc = $doc]
        #[derive(Clone)]
        pub struct $name(DynamicRoot<Rootable![$inner]>);

        impl<'gc> Stashable<'gc> for $ty<'gc> {
            type Stashed = $name;
            fn stash(self, mc: &Mutation<'gc>, roots: DynamicRootSet<'gc>) -> $name {
                $name(roots.stash::<Rootable![$inner]>(mc, self.0))
            }
        }

        impl Fetchable for $name {
            type Fetched<'gc> = $ty<'gc>;
            fn fetch<'gc>(&self, roots: DynamicRootSet<'gc>) -> $ty<'gc> {
                $ty(roots.fetch(&self.0))
            }
        }
    };
}

stash_gc!(
    StashedTable,
    Table,
    RefLock<super::table::TableState<'_>>,
    "A table kept alive outside the arena."
);
stash_gc!(
    StashedClosure,
    Closure,
    super::closure::ClosureState<'_>,
    "A closure kept alive outside the arena."
);
stash_gc!(
    StashedCallback,
    Callback,
    super::callback::CallbackBox<'_>,
    "A callback kept alive outside the arena."
);
stash_gc!(
    StashedThread,
    Thread,
    RefLock<super::thread::ThreadState<'_>>,
    "A thread kept alive outside the arena."
);
stash_gc!(
    StashedExecutor,
    Executor,
    RefLock<super::thread::ExecutorState<'_>>,
    "An executor kept alive outside the arena."
);
stash_gc!(
    StashedUserData,
    UserData,
    super::userdata::UserDataBox<'_>,
    "A userdata kept alive outside the arena."
);
stash_gc!(
    StashedStringRef,
    LuaString,
    super::string::StrBox,
    "A string kept alive outside the arena."
);

/// A function kept alive outside the arena.
#[derive(Clone)]
pub enum StashedFunction {
    Closure(StashedClosure),
    Callback(StashedCallback),
}

impl<'gc> Stashable<'gc> for Function<'gc> {
    type Stashed = StashedFunction;
    fn stash(self, mc: &Mutation<'gc>, roots: DynamicRootSet<'gc>) -> StashedFunction {
        match self {
            Function::Closure(c) => StashedFunction::Closure(c.stash(mc, roots)),
            Function::Callback(c) => StashedFunction::Callback(c.stash(mc, roots)),
        }
    }
}

impl Fetchable for StashedFunction {
    type Fetched<'gc> = Function<'gc>;
    fn fetch<'gc>(&self, roots: DynamicRootSet<'gc>) -> Function<'gc> {
        match self {
            StashedFunction::Closure(c) => Function::Closure(c.fetch(roots)),
            StashedFunction::Callback(c) => Function::Callback(c.fetch(roots)),
        }
    }
}

/// Any value kept alive outside the arena.
#[derive(Clone)]
pub enum StashedValue {
    Nil,
    Boolean(bool),
    Integer(i64),
    Number(f64),
    String(StashedStringRef),
    Table(StashedTable),
    Function(StashedFunction),
    Thread(StashedThread),
    UserData(StashedUserData),
}

impl<'gc> Stashable<'gc> for Value<'gc> {
    type Stashed = StashedValue;
    fn stash(self, mc: &Mutation<'gc>, roots: DynamicRootSet<'gc>) -> StashedValue {
        match self {
            Value::Nil => StashedValue::Nil,
            Value::Boolean(b) => StashedValue::Boolean(b),
            Value::Integer(i) => StashedValue::Integer(i),
            Value::Number(n) => StashedValue::Number(n),
            Value::String(s) => StashedValue::String(s.stash(mc, roots)),
            Value::Table(t) => StashedValue::Table(t.stash(mc, roots)),
            Value::Function(f) => StashedValue::Function(f.stash(mc, roots)),
            Value::Thread(t) => StashedValue::Thread(t.stash(mc, roots)),
            Value::UserData(u) => StashedValue::UserData(u.stash(mc, roots)),
        }
    }
}

impl Fetchable for StashedValue {
    type Fetched<'gc> = Value<'gc>;
    fn fetch<'gc>(&self, roots: DynamicRootSet<'gc>) -> Value<'gc> {
        match self {
            StashedValue::Nil => Value::Nil,
            StashedValue::Boolean(b) => Value::Boolean(*b),
            StashedValue::Integer(i) => Value::Integer(*i),
            StashedValue::Number(n) => Value::Number(*n),
            StashedValue::String(s) => Value::String(s.fetch(roots)),
            StashedValue::Table(t) => Value::Table(t.fetch(roots)),
            StashedValue::Function(f) => Value::Function(f.fetch(roots)),
            StashedValue::Thread(t) => Value::Thread(t.fetch(roots)),
            StashedValue::UserData(u) => Value::UserData(u.fetch(roots)),
        }
    }
}
