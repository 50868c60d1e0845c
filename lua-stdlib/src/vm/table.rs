//! Lua tables: an array part for the keys `1..n` and a hash part (open
//! addressing, linear probing) for the rest, sized as `ltable.c` sizes them
//! (the array part is the largest power of two more than half used).
//!
//! Clearing a field keeps its key in place with a `nil` value (a tombstone)
//! until the next rehash, and a rehash happens only when a new key is
//! inserted, so `next` stays correct while a traversal assigns to or clears
//! existing fields. Float keys with an integer value are stored as integers.
//! A table can be frozen: every raw write fails (and the VM sends every
//! write, present keys too, to a frozen table's `__newindex`).

use gc_arena::{lock::RefLock, Collect, Gc, Mutation};

use super::mem::{Charge, Meter};
use super::number::float_to_integer;
use super::value::{mix, ptr_hash, Value};

/// A Lua table.
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub struct Table<'gc>(pub(crate) Gc<'gc, RefLock<TableState<'gc>>>);

#[derive(Copy, Clone, Default, Collect)]
#[collect(no_drop)]
struct Node<'gc> {
    key: Value<'gc>,
    value: Value<'gc>,
}

#[derive(Collect)]
#[collect(no_drop)]
pub struct TableState<'gc> {
    array: Vec<Value<'gc>>,
    /// Power-of-two length or empty. `key == Nil` marks a never-used slot.
    nodes: Vec<Node<'gc>>,
    /// Slots of `nodes` whose key is set (live or tombstone).
    used: usize,
    metatable: Option<Table<'gc>>,
    frozen: bool,
    /// Bit `e` set: the metatable is known to lack event `e` (see
    /// `meta::Event`); reset whenever the table is written.
    absent: u32,
    /// `GC_*` bits: weak mode and registrations with the collector.
    gc_flags: u8,
    charge: Charge,
}

/// The metatable's `__mode` has a `k`.
const GC_WEAK_KEYS: u8 = 1;
/// The metatable's `__mode` has a `v`.
const GC_WEAK_VALUES: u8 = 2;
/// Registered as a weak table (`gc.rs`).
const GC_WEAK_REGISTERED: u8 = 4;
/// Marked for finalization (`gc.rs`).
const GC_FINALIZER: u8 = 8;

/// The key a cleared weak entry keeps: it holds the slot (probing and
/// `next` stay correct) and equals nothing (`NaN` is never a key).
fn dead_key<'gc>() -> Value<'gc> {
    Value::Number(f64::NAN)
}

/// Why a raw write failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetError {
    NilKey,
    NaNKey,
    Frozen,
}

impl SetError {
    pub fn message(self) -> &'static str {
        match self {
            SetError::NilKey => "table index is nil",
            SetError::NaNKey => "table index is NaN",
            SetError::Frozen => "attempt to modify a read-only table",
        }
    }
}

/// Why `next` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidKey;

#[inline]
fn key_hash(k: Value<'_>) -> u64 {
    match k {
        Value::Integer(i) => mix(i as u64),
        Value::Number(f) => mix(f.to_bits()),
        Value::String(s) => s.hash(),
        Value::Boolean(b) => b as u64 + 1,
        Value::Table(t) => ptr_hash(t.0),
        Value::Function(f) => mix(f.as_ptr() as usize as u64),
        Value::Thread(t) => mix(t.as_ptr() as usize as u64),
        Value::UserData(u) => mix(u.as_ptr() as usize as u64),
        Value::Nil => 0,
    }
}

/// Key equality: like raw equality, but keys are normalised so no int/float
/// mixing is needed.
#[inline]
fn key_eq<'gc>(a: Value<'gc>, b: Value<'gc>) -> bool {
    match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => x == y,
        (Value::Boolean(x), Value::Boolean(y)) => x == y,
        (Value::Table(x), Value::Table(y)) => x.ptr_eq(y),
        (Value::Function(x), Value::Function(y)) => x.ptr_eq(y),
        (Value::Thread(x), Value::Thread(y)) => x.ptr_eq(y),
        (Value::UserData(x), Value::UserData(y)) => x.ptr_eq(y),
        _ => false,
    }
}

/// Float keys with an integer value become integer keys.
#[inline]
fn normalize(k: Value<'_>) -> Value<'_> {
    if let Value::Number(f) = k {
        if let Some(i) = float_to_integer(f) {
            return Value::Integer(i);
        }
    }
    k
}

const NODE_BYTES: usize = std::mem::size_of::<Node<'static>>();
const VALUE_BYTES: usize = std::mem::size_of::<Value<'static>>();

impl<'gc> TableState<'gc> {
    fn bytes(&self) -> usize {
        self.array.capacity() * VALUE_BYTES + self.nodes.capacity() * NODE_BYTES
    }

    #[inline]
    fn find_node(&self, key: Value<'gc>) -> Option<usize> {
        if self.nodes.is_empty() {
            return None;
        }
        if let Value::String(s) = key {
            if s.is_short() {
                return self.find_short_string(s);
            }
        }
        let mask = self.nodes.len() - 1;
        let mut i = key_hash(key) as usize & mask;
        loop {
            let n = &self.nodes[i];
            if n.key.is_nil() {
                return None;
            }
            if key_eq(n.key, key) {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// `find_node` for an interned (short) string: it equals only itself,
    /// so probing compares pointers and never reads another string (a
    /// cache miss per probe on a big table).
    #[inline]
    fn find_short_string(&self, s: super::string::String<'gc>) -> Option<usize> {
        let mask = self.nodes.len() - 1;
        let mut i = s.hash() as usize & mask;
        loop {
            match self.nodes[i].key {
                Value::Nil => return None,
                Value::String(k) if Gc::ptr_eq(k.0, s.0) => return Some(i),
                _ => i = (i + 1) & mask,
            }
        }
    }

    #[inline]
    pub fn get(&self, key: Value<'gc>) -> Value<'gc> {
        match key {
            Value::Integer(i) => self.get_int(i),
            Value::Number(f) => match float_to_integer(f) {
                Some(i) => self.get_int(i),
                None => self.get_node(key),
            },
            Value::Nil => Value::Nil,
            _ => self.get_node(key),
        }
    }

    #[inline]
    fn get_node(&self, key: Value<'gc>) -> Value<'gc> {
        match self.find_node(key) {
            Some(i) => self.nodes[i].value,
            None => Value::Nil,
        }
    }

    #[inline]
    pub fn get_int(&self, i: i64) -> Value<'gc> {
        if (i as u64).wrapping_sub(1) < self.array.len() as u64 {
            self.array[(i - 1) as usize]
        } else {
            self.get_node(Value::Integer(i))
        }
    }

    #[inline]
    pub fn get_str(&self, key: super::string::String<'gc>) -> Value<'gc> {
        self.get_node(Value::String(key))
    }

    /// Sets `t[key] = value` without metamethods.
    pub fn set(&mut self, key: Value<'gc>, value: Value<'gc>) -> Result<(), SetError> {
        if self.frozen {
            return Err(SetError::Frozen);
        }
        let key = match key {
            Value::Nil => return Err(SetError::NilKey),
            Value::Number(f) if f.is_nan() => return Err(SetError::NaNKey),
            k => normalize(k),
        };
        self.absent = 0;
        if let Value::Integer(i) = key {
            if (i as u64).wrapping_sub(1) < self.array.len() as u64 {
                self.array[(i - 1) as usize] = value;
                return Ok(());
            }
        }
        if let Some(n) = self.find_node(key) {
            self.nodes[n].value = value;
            return Ok(());
        }
        if value.is_nil() {
            return Ok(());
        }
        self.insert_new(key, value);
        Ok(())
    }

    /// Inserts a key known to be absent (and normalised, not nil/NaN).
    fn insert_new(&mut self, key: Value<'gc>, value: Value<'gc>) {
        if (self.used + 1) * 8 > self.nodes.len() * 7 {
            self.rehash(key);
            // The key may now belong to the array part.
            if let Value::Integer(i) = key {
                if (i as u64).wrapping_sub(1) < self.array.len() as u64 {
                    self.array[(i - 1) as usize] = value;
                    self.update_charge();
                    return;
                }
            }
            self.update_charge();
        }
        let mask = self.nodes.len() - 1;
        let mut i = key_hash(key) as usize & mask;
        while !self.nodes[i].key.is_nil() {
            i = (i + 1) & mask;
        }
        self.nodes[i] = Node { key, value };
        self.used += 1;
    }

    fn update_charge(&mut self) {
        let b = self.bytes();
        self.charge.set(b);
    }

    /// `ltable.c`'s `rehash`: recount the integer keys (with `extra`), pick
    /// the array size, and rebuild both parts without tombstones.
    fn rehash(&mut self, extra: Value<'gc>) {
        // nums[b]: number of integer keys k with 2^(b-1) < k <= 2^b.
        let mut nums = [0usize; 65];
        let mut total_int = 0usize;
        let count_int = |k: i64, nums: &mut [usize; 65]| {
            if k >= 1 {
                let b = 64 - ((k - 1) as u64).leading_zeros() as usize;
                nums[b] += 1;
                true
            } else {
                false
            }
        };
        for (i, v) in self.array.iter().enumerate() {
            if !v.is_nil() && count_int(i as i64 + 1, &mut nums) {
                total_int += 1;
            }
        }
        let mut live_nodes = 0usize;
        for n in &self.nodes {
            if !n.key.is_nil() && !n.value.is_nil() {
                live_nodes += 1;
                if let Value::Integer(k) = n.key {
                    if count_int(k, &mut nums) {
                        total_int += 1;
                    }
                }
            }
        }
        if let Value::Integer(k) = extra {
            if count_int(k, &mut nums) {
                total_int += 1;
            }
        }
        // computesizes: the largest 2^b with more than 2^(b-1) keys in 1..2^b.
        let mut array_size = 0usize;
        let mut acc = 0usize;
        let mut in_array = 0usize;
        let mut two_b = 1usize;
        for &n in nums.iter() {
            if two_b / 2 >= total_int {
                break;
            }
            acc += n;
            if acc > two_b / 2 {
                array_size = two_b;
                in_array = acc;
            }
            two_b = two_b.saturating_mul(2);
        }
        let live_array = self.array.iter().filter(|v| !v.is_nil()).count();
        let total = live_array + live_nodes + 1;
        let hash_count = total - in_array;
        let mut old_array = std::mem::take(&mut self.array);
        let old_nodes = std::mem::take(&mut self.nodes);
        self.array = vec![Value::Nil; array_size];
        let cap = if hash_count == 0 {
            0
        } else {
            (hash_count * 8 / 7 + 1).next_power_of_two().max(4)
        };
        self.nodes = vec![Node::default(); cap];
        self.used = 0;
        let moved = old_array
            .drain(..)
            .enumerate()
            .map(|(i, v)| (Value::Integer(i as i64 + 1), v))
            .chain(old_nodes.into_iter().map(|n| (n.key, n.value)));
        for (k, v) in moved {
            if v.is_nil() {
                continue;
            }
            if let Value::Integer(i) = k {
                if (i as u64).wrapping_sub(1) < array_size as u64 {
                    self.array[(i - 1) as usize] = v;
                    continue;
                }
            }
            if self.nodes.is_empty() {
                self.nodes = vec![Node::default(); 4];
            }
            let mask = self.nodes.len() - 1;
            let mut i = key_hash(k) as usize & mask;
            while !self.nodes[i].key.is_nil() {
                i = (i + 1) & mask;
            }
            self.nodes[i] = Node { key: k, value: v };
            self.used += 1;
        }
        if self.nodes.is_empty()
            && !matches!(extra, Value::Integer(i) if (i as u64).wrapping_sub(1) < array_size as u64)
        {
            self.nodes = vec![Node::default(); 4];
        }
    }

    /// The border `#t` gives (`luaH_getn`).
    pub fn length(&self) -> i64 {
        let n = self.array.len();
        if n > 0 && self.array[n - 1].is_nil() {
            // Binary search for a border in the array part.
            let (mut lo, mut hi) = (0usize, n);
            while hi - lo > 1 {
                let m = (lo + hi) / 2;
                if self.array[m - 1].is_nil() {
                    hi = m;
                } else {
                    lo = m;
                }
            }
            return lo as i64;
        }
        if self.nodes.is_empty() || self.get_node(Value::Integer(n as i64 + 1)).is_nil() {
            return n as i64;
        }
        // Unbounded search in the hash part.
        let mut i = n as u64 + 1;
        let mut j = i * 2;
        loop {
            if j > i64::MAX as u64 / 2 {
                // Pathological: linear search.
                let mut k = 1i64;
                while !self.get_int(k).is_nil() {
                    k += 1;
                }
                return k - 1;
            }
            if self.get_int(j as i64).is_nil() {
                break;
            }
            i = j;
            j *= 2;
        }
        while j - i > 1 {
            let m = (i + j) / 2;
            if self.get_int(m as i64).is_nil() {
                j = m;
            } else {
                i = m;
            }
        }
        i as i64
    }

    /// `next`: the entry after `key` (`Nil` starts), or `None` at the end.
    pub fn next(&self, key: Value<'gc>) -> Result<Option<(Value<'gc>, Value<'gc>)>, InvalidKey> {
        let mut idx = match normalize(key) {
            Value::Nil => 0,
            Value::Integer(i) if (i as u64).wrapping_sub(1) < self.array.len() as u64 => i as usize,
            k => match self.find_node(k) {
                Some(n) => self.array.len() + n + 1,
                None => return Err(InvalidKey),
            },
        };
        while idx < self.array.len() {
            let v = self.array[idx];
            if !v.is_nil() {
                return Ok(Some((Value::Integer(idx as i64 + 1), v)));
            }
            idx += 1;
        }
        let mut n = idx - self.array.len();
        while n < self.nodes.len() {
            let node = self.nodes[n];
            if !node.key.is_nil() && !node.value.is_nil() {
                return Ok(Some((node.key, node.value)));
            }
            n += 1;
        }
        Ok(None)
    }

    pub fn metatable(&self) -> Option<Table<'gc>> {
        self.metatable
    }

    /// (weak keys, weak values).
    pub(crate) fn weak_mode(&self) -> (bool, bool) {
        (
            self.gc_flags & GC_WEAK_KEYS != 0,
            self.gc_flags & GC_WEAK_VALUES != 0,
        )
    }

    fn set_flag(&mut self, flag: u8, on: bool) {
        if on {
            self.gc_flags |= flag;
        } else {
            self.gc_flags &= !flag;
        }
    }

    pub(crate) fn set_weak_registered(&mut self, on: bool) {
        self.set_flag(GC_WEAK_REGISTERED, on);
    }

    pub(crate) fn set_finalizer_registered(&mut self, on: bool) {
        self.set_flag(GC_FINALIZER, on);
    }

    /// Moves the weak parts into `side`, leaving placeholders, for the
    /// collector's marking (see `gc.rs`). A weak key takes its value along
    /// (an ephemeron: the value lives only if the key does).
    pub(crate) fn weaken(
        &mut self,
        weak_keys: bool,
        weak_values: bool,
        side: &mut Vec<super::gc::SideEntry<'gc>>,
    ) {
        use super::gc::{SideEntry, Slot, WeakObj};
        if weak_values {
            for (i, v) in self.array.iter_mut().enumerate() {
                if let Some(w) = WeakObj::of(*v) {
                    side.push(SideEntry {
                        slot: Slot::Array(i),
                        key: None,
                        value: Some(w),
                        cleared: false,
                    });
                    *v = Value::Nil;
                }
            }
        }
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if n.key.is_nil() {
                continue;
            }
            // A tombstone's key, and in an all-weak table a string key,
            // lives only if the entry does; an object key of a weak-key
            // table takes its value along (an ephemeron).
            let tombstone = n.value.is_nil();
            let key = if tombstone || weak_keys && weak_values {
                WeakObj::of_key(n.key)
            } else if weak_keys {
                WeakObj::of(n.key)
            } else {
                None
            };
            let value = if weak_values || key.is_some() {
                WeakObj::of(n.value)
            } else {
                None
            };
            if key.is_none() && value.is_none() {
                continue;
            }
            if key.is_some() {
                n.key = dead_key();
            }
            if value.is_some() {
                n.value = Value::Nil;
            }
            side.push(SideEntry {
                slot: Slot::Node(i),
                key,
                value,
                cleared: tombstone,
            });
        }
    }

    /// Puts back what `weaken` took, without the entries that died.
    pub(crate) fn restore(
        &mut self,
        fc: &gc_arena::Finalization<'gc>,
        side: &[super::gc::SideEntry<'gc>],
    ) {
        use super::gc::Slot;
        for e in side {
            match e.slot {
                Slot::Array(i) => {
                    let v = match (e.cleared, e.value) {
                        (false, Some(w)) => w.live(fc).unwrap_or_default(),
                        _ => Value::Nil,
                    };
                    self.array[i] = v;
                }
                Slot::Node(i) => {
                    let n = &mut self.nodes[i];
                    if let Some(k) = e.key {
                        match k.live(fc) {
                            Some(k) if !e.cleared => n.key = k,
                            // A live key of a cleared entry stays as a
                            // tombstone (a traversal may be at it).
                            Some(k) => {
                                n.key = k;
                                n.value = Value::Nil;
                                continue;
                            }
                            None => {
                                n.key = dead_key();
                                n.value = Value::Nil;
                                continue;
                            }
                        }
                    }
                    if e.cleared {
                        n.value = Value::Nil;
                    } else if let Some(v) = e.value {
                        n.value = v.live(fc).unwrap_or_default();
                    }
                }
            }
        }
    }
}

impl<'gc> Table<'gc> {
    pub fn new(mc: &Mutation<'gc>, meter: &Meter) -> Table<'gc> {
        Table::with_capacity(mc, meter, 0, 0)
    }

    pub fn with_capacity(
        mc: &Mutation<'gc>,
        meter: &Meter,
        array: usize,
        hash: usize,
    ) -> Table<'gc> {
        let cap = if hash == 0 {
            0
        } else {
            (hash * 8 / 7 + 1).next_power_of_two().max(4)
        };
        let state = TableState {
            array: vec![Value::Nil; array],
            nodes: vec![Node::default(); cap],
            used: 0,
            metatable: None,
            frozen: false,
            absent: 0,
            gc_flags: 0,
            charge: meter.charge(array * VALUE_BYTES + cap * NODE_BYTES),
        };
        Table(Gc::new(mc, RefLock::new(state)))
    }

    #[inline]
    pub fn ptr_eq(self, other: Table<'gc>) -> bool {
        Gc::ptr_eq(self.0, other.0)
    }

    pub fn as_ptr(self) -> *const () {
        Gc::as_ptr(self.0) as *const ()
    }

    /// Read access to the state (never held across a call into Lua).
    #[inline]
    pub fn state(self) -> std::cell::Ref<'gc, TableState<'gc>> {
        self.0.borrow()
    }

    #[inline]
    pub fn raw_get(self, key: Value<'gc>) -> Value<'gc> {
        self.0.borrow().get(key)
    }

    #[inline]
    pub fn raw_get_int(self, i: i64) -> Value<'gc> {
        self.0.borrow().get_int(i)
    }

    #[inline]
    pub fn raw_get_str(self, key: super::string::String<'gc>) -> Value<'gc> {
        self.0.borrow().get_str(key)
    }

    pub fn raw_set(
        self,
        mc: &Mutation<'gc>,
        key: Value<'gc>,
        value: Value<'gc>,
    ) -> Result<(), SetError> {
        self.0.borrow_mut(mc).set(key, value)
    }

    /// Sets an integer key without checks beyond frozenness, fast for
    /// `SETLIST` and `t[i] = v` in the array part.
    #[inline]
    pub fn raw_set_int(
        self,
        mc: &Mutation<'gc>,
        i: i64,
        value: Value<'gc>,
    ) -> Result<(), SetError> {
        let mut s = self.0.borrow_mut(mc);
        if !s.frozen && (i as u64).wrapping_sub(1) < s.array.len() as u64 {
            s.array[(i - 1) as usize] = value;
            s.absent = 0;
            return Ok(());
        }
        s.set(Value::Integer(i), value)
    }

    pub fn length(self) -> i64 {
        self.0.borrow().length()
    }

    /// `t[key]` without metamethods; keys and values convert like
    /// callback results (`t.get(ctx, "name")`).
    pub fn get(
        self,
        ctx: super::context::Context<'gc>,
        key: impl super::callback::IntoValue<'gc>,
    ) -> Value<'gc> {
        self.raw_get(key.into_value(ctx))
    }

    /// `t[key] = value` without metamethods (`t.set(ctx, "name", f)`).
    pub fn set(
        self,
        ctx: super::context::Context<'gc>,
        key: impl super::callback::IntoValue<'gc>,
        value: impl super::callback::IntoValue<'gc>,
    ) -> Result<(), SetError> {
        let (k, v) = (key.into_value(ctx), value.into_value(ctx));
        self.raw_set(&ctx, k, v)
    }

    pub fn next(self, key: Value<'gc>) -> Result<Option<(Value<'gc>, Value<'gc>)>, InvalidKey> {
        self.0.borrow().next(key)
    }

    pub fn metatable(self) -> Option<Table<'gc>> {
        self.0.borrow().metatable
    }

    /// Sets the metatable. A `__mode` in it makes the table weak (`k`,
    /// `v` or both), a `__gc` marks it for finalization, as `setmetatable`
    /// does in 5.4 (the mode is read here, not at each collection).
    pub fn set_metatable(
        self,
        ctx: &super::context::Context<'gc>,
        mt: Option<Table<'gc>>,
    ) -> Result<Option<Table<'gc>>, SetError> {
        let ctx = *ctx;
        let (mut mode, mut gc) = (0u8, false);
        if let Some(mt) = mt {
            if let Value::String(m) = super::meta::event_in(ctx, mt, super::meta::MODE) {
                for &b in m.as_bytes() {
                    match b {
                        b'k' => mode |= GC_WEAK_KEYS,
                        b'v' => mode |= GC_WEAK_VALUES,
                        _ => {}
                    }
                }
            }
            gc = !super::meta::event_in(ctx, mt, super::meta::GC).is_nil();
        }
        let (old, register_weak, register_gc) = {
            let mut s = self.0.borrow_mut(&ctx);
            if s.frozen {
                return Err(SetError::Frozen);
            }
            let old = std::mem::replace(&mut s.metatable, mt);
            s.gc_flags = (s.gc_flags & !(GC_WEAK_KEYS | GC_WEAK_VALUES)) | mode;
            let register_weak = mode != 0 && s.gc_flags & GC_WEAK_REGISTERED == 0;
            let register_gc = gc && s.gc_flags & GC_FINALIZER == 0;
            if register_weak {
                s.gc_flags |= GC_WEAK_REGISTERED;
            }
            if register_gc {
                s.gc_flags |= GC_FINALIZER;
            }
            (old, register_weak, register_gc)
        };
        if register_weak {
            ctx.register_weak(self);
        }
        if register_gc {
            ctx.register_finalizer(self);
        }
        Ok(old)
    }

    /// Makes the table read-only: every later raw write and `setmetatable`
    /// fails. Cannot be undone.
    pub fn freeze(self, mc: &Mutation<'gc>) {
        self.0.borrow_mut(mc).frozen = true;
    }

    pub fn is_frozen(self) -> bool {
        self.0.borrow().frozen
    }

    /// Whether the metatable cache says event bit `bit` is absent.
    #[inline]
    pub(crate) fn known_absent(self, bit: u32) -> bool {
        self.0.borrow().absent & bit != 0
    }

    /// Records that this table (used as a metatable) lacks event bit `bit`.
    /// No write barrier is needed: the flag holds no pointer.
    #[inline]
    pub(crate) fn mark_absent(self, mc: &Mutation<'gc>, bit: u32) {
        if let Ok(mut s) = self.0.try_borrow_mut(mc) {
            s.absent |= bit;
        }
    }

    /// Array part length (for `table` library fast paths).
    pub fn array_len(self) -> usize {
        self.0.borrow().array.len()
    }
}

impl std::fmt::Debug for Table<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "table: {:p}", self.as_ptr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gc_arena::arena::rootless_mutate;

    #[test]
    fn array_and_hash_parts() {
        rootless_mutate(|mc| {
            let meter = Meter::default();
            let t = Table::new(mc, &meter);
            for i in 1..=100 {
                t.raw_set(mc, Value::Integer(i), Value::Integer(i * 2))
                    .unwrap();
            }
            assert_eq!(t.length(), 100);
            assert!(t.array_len() >= 64);
            assert!(matches!(t.raw_get(Value::Number(7.0)), Value::Integer(14)));
            t.raw_set(mc, Value::Number(2.5), Value::Boolean(true))
                .unwrap();
            assert!(matches!(
                t.raw_get(Value::Number(2.5)),
                Value::Boolean(true)
            ));
            t.raw_set(mc, Value::Integer(100), Value::Nil).unwrap();
            assert_eq!(t.length(), 99);
            assert_eq!(
                t.raw_set(mc, Value::Nil, Value::Integer(1)),
                Err(SetError::NilKey)
            );
            assert_eq!(
                t.raw_set(mc, Value::Number(f64::NAN), Value::Integer(1)),
                Err(SetError::NaNKey)
            );
            assert!(meter.bytes() > 0);
        });
    }

    #[test]
    fn next_survives_clearing_and_assigning_during_traversal() {
        rootless_mutate(|mc| {
            let meter = Meter::default();
            let t = Table::new(mc, &meter);
            for i in 0..200 {
                t.raw_set(mc, Value::Number(i as f64 + 0.5), Value::Integer(i))
                    .unwrap();
            }
            let mut k = Value::Nil;
            let mut seen = 0;
            while let Some((key, _)) = t.next(k).unwrap() {
                seen += 1;
                if seen % 2 == 0 {
                    t.raw_set(mc, key, Value::Nil).unwrap();
                } else {
                    t.raw_set(mc, key, Value::Boolean(true)).unwrap();
                }
                k = key;
            }
            assert_eq!(seen, 200);
            let mut left = 0;
            let mut k = Value::Nil;
            while let Some((key, v)) = t.next(k).unwrap() {
                assert!(matches!(v, Value::Boolean(true)));
                left += 1;
                k = key;
            }
            assert_eq!(left, 100);
            assert!(t.next(Value::Number(1e9 + 0.5)).is_err());
        });
    }

    #[test]
    fn tombstones_are_reclaimed_by_growth() {
        rootless_mutate(|mc| {
            let meter = Meter::default();
            let t = Table::new(mc, &meter);
            for round in 0..50i64 {
                for i in 0..100i64 {
                    let k = Value::Number((round * 1000 + i) as f64 + 0.5);
                    t.raw_set(mc, k, Value::Integer(i)).unwrap();
                    t.raw_set(mc, k, Value::Nil).unwrap();
                }
            }
            assert!(t.state().nodes.len() <= 512, "{}", t.state().nodes.len());
            assert!(t.next(Value::Nil).unwrap().is_none());
        });
    }

    #[test]
    fn frozen_tables_refuse_writes() {
        rootless_mutate(|mc| {
            let meter = Meter::default();
            let t = Table::new(mc, &meter);
            t.raw_set(mc, Value::Integer(1), Value::Integer(1)).unwrap();
            t.freeze(mc);
            assert_eq!(
                t.raw_set(mc, Value::Integer(1), Value::Integer(2)),
                Err(SetError::Frozen)
            );
            assert!(matches!(t.raw_get_int(1), Value::Integer(1)));
        });
    }
}
