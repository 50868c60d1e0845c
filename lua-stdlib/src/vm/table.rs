//! Lua tables, as `ltable.c` builds them: an array part for the keys
//! `1..n` and a hash part for the rest, a chained scatter table with
//! Brent's variation (each key in its main position or chained from it,
//! free slots taken from the end, a new key rehashing only when none is
//! left), the same main positions for integer, float and boolean keys, the
//! same sizes (the array part is the largest power of two more than half
//! used; the hash part the next power of two) and `luaH_getn` with its
//! `alimit` hint. So `#t` on a table with holes, and the order `next`
//! gives integer keys, are lua5.4's for a table built the same way.
//! (String and object keys depend on lua5.4's seeded hashes and
//! addresses, which differ from run to run there too.)
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
    /// `Nil` for a free slot. A cleared entry keeps its key (with a `nil`
    /// value) until the next rehash.
    key: Value<'gc>,
    value: Value<'gc>,
    /// Offset to the next node of this chain (0: the end), as `gnext`.
    next: i32,
}

#[derive(Collect)]
#[collect(no_drop)]
pub struct TableState<'gc> {
    array: Vec<Value<'gc>>,
    /// Power-of-two length, or empty (lua5.4's dummy node).
    nodes: Vec<Node<'gc>>,
    /// `lastfree`: every slot at or above it is taken.
    last_free: usize,
    /// `luaH_getn`'s hint (`alimit`): `array.len()`, or a border below it
    /// when `array.len()` is a power of two.
    #[collect(require_static)]
    alimit: std::cell::Cell<usize>,
    metatable: Option<Table<'gc>>,
    frozen: bool,
    /// Bit `e` set: the metatable is known to lack event `e` (see
    /// `meta::Event`); reset whenever the table is written.
    absent: u32,
    /// This table's `__index` field as last read for its use as a
    /// metatable; `None`: not known. Reset with `absent` (and before the
    /// collector looks at a weak table), so it never outlives the field.
    index_handler: Option<Value<'gc>>,
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

/// The `GC_WEAK_*` bits of a `__mode` value.
fn mode_bits(mode: Value<'_>) -> u8 {
    let mut bits = 0;
    if let Value::String(m) = mode {
        for &b in m.as_bytes() {
            match b {
                b'k' => bits |= GC_WEAK_KEYS,
                b'v' => bits |= GC_WEAK_VALUES,
                _ => {}
            }
        }
    }
    bits
}

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

/// `l_hashfloat`: the float's exponent plus its mantissa scaled to an
/// `int`, folded to a non-negative `int`.
fn hash_float(n: f64) -> u64 {
    if !n.is_finite() {
        return 0;
    }
    let (m, e) = frexp(n);
    let ni = (m * 2147483648.0) as i64; // -(INT_MIN)
    let u = (e as u32).wrapping_add(ni as u32);
    u64::from(if u <= i32::MAX as u32 { u } else { !u })
}

/// `frexp`: `n = m * 2^e` with `0.5 <= |m| < 1` (finite `n`).
fn frexp(n: f64) -> (f64, i32) {
    if n == 0.0 {
        return (n, 0);
    }
    let bits = n.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // subnormal: scale into the normal range first
        let (m, e) = frexp(n * 2f64.powi(64));
        return (m, e - 64);
    }
    let m = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (m, exp - 1022)
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

/// lua5.4's node count for `n` keys (`luaO_ceillog2`; 0 is its dummy).
fn node_count(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        n.next_power_of_two()
    }
}

/// Largest integer key counted for the array part (`MAXASIZE`).
const MAX_ARRAY_KEY: i64 = 1 << 31;

const NODE_BYTES: usize = std::mem::size_of::<Node<'static>>();
const VALUE_BYTES: usize = std::mem::size_of::<Value<'static>>();

impl<'gc> TableState<'gc> {
    fn bytes(&self) -> usize {
        self.array.capacity() * VALUE_BYTES + self.nodes.capacity() * NODE_BYTES
    }

    /// `mainposition`: where `key` (normalised) belongs in `nodes`
    /// (non-empty).
    #[inline]
    fn main_position(&self, key: Value<'gc>) -> usize {
        let size = self.nodes.len();
        let pow2 = |h: u64| (h & (size as u64 - 1)) as usize;
        // `hashmod`: integers, floats and pointers spread by an odd modulus
        let modulo = |h: u64| (h % ((size as u64 - 1) | 1)) as usize;
        match key {
            Value::Integer(i) => modulo(i as u64),
            Value::Number(f) => modulo(hash_float(f)),
            Value::String(s) => pow2(s.hash()),
            Value::Boolean(b) => pow2(b as u64),
            Value::Table(t) => pow2(ptr_hash(t.0)),
            Value::Function(f) => pow2(mix(f.as_ptr() as usize as u64)),
            Value::Thread(t) => pow2(mix(t.as_ptr() as usize as u64)),
            Value::UserData(u) => pow2(mix(u.as_ptr() as usize as u64)),
            Value::Nil => 0,
        }
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
        let mut i = self.main_position(key);
        loop {
            let n = &self.nodes[i];
            if key_eq(n.key, key) {
                return Some(i);
            }
            if n.next == 0 {
                return None;
            }
            i = (i as i64 + n.next as i64) as usize;
        }
    }

    /// `find_node` for an interned (short) string: it equals only itself,
    /// so the chain is walked comparing pointers. An empty hash part needs
    /// no test of its own: every index misses it.
    #[inline(always)]
    fn find_short_string(&self, s: super::string::String<'gc>) -> Option<usize> {
        let mut i = (s.hash() as usize) & self.nodes.len().wrapping_sub(1);
        loop {
            let n = self.nodes.get(i)?;
            if let Value::String(k) = n.key {
                if Gc::ptr_eq(k.0, s.0) {
                    return Some(i);
                }
            }
            if n.next == 0 {
                return None;
            }
            i = i.wrapping_add(n.next as isize as usize);
        }
    }

    /// The value of a short string key (`luaH_getshortstr`).
    #[inline(always)]
    fn get_short_str(&self, s: super::string::String<'gc>) -> Value<'gc> {
        let mut i = (s.hash() as usize) & self.nodes.len().wrapping_sub(1);
        loop {
            let Some(n) = self.nodes.get(i) else {
                return Value::Nil;
            };
            if let Value::String(k) = n.key {
                if Gc::ptr_eq(k.0, s.0) {
                    return n.value;
                }
            }
            if n.next == 0 {
                return Value::Nil;
            }
            i = i.wrapping_add(n.next as isize as usize);
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
        let k = (i as u64).wrapping_sub(1);
        if k < self.array.len() as u64 {
            self.touch(k as usize);
            self.array[k as usize]
        } else {
            self.get_node(Value::Integer(i))
        }
    }

    /// `luaH_getint` moves `#t`'s hint up to an array key it reaches past
    /// it ("probably '#t' is here now"); reads and writes both do.
    #[inline]
    fn touch(&self, k: usize) {
        if k >= self.alimit.get() {
            self.alimit.set(k + 1);
        }
    }

    #[inline]
    pub fn get_str(&self, key: super::string::String<'gc>) -> Value<'gc> {
        if key.is_short() {
            self.get_short_str(key)
        } else {
            self.get_node(Value::String(key))
        }
    }

    /// Overwrites the value of a key that is present with a non-nil value
    /// (where no `__newindex` is consulted); `false` when it is absent or
    /// the table is frozen (the caller takes the general path).
    #[inline]
    fn set_existing(&mut self, key: Value<'gc>, value: Value<'gc>) -> bool {
        if self.frozen {
            return false;
        }
        let slot = match key {
            Value::Integer(i) if (i as u64).wrapping_sub(1) < self.array.len() as u64 => {
                let slot = &mut self.array[(i - 1) as usize];
                if slot.is_nil() {
                    return false;
                }
                slot
            }
            Value::String(s) if s.is_short() => match self.find_short_string(s) {
                Some(n) => &mut self.nodes[n].value,
                None => return false,
            },
            Value::Nil => return false,
            Value::Number(f) if f.is_nan() => return false,
            k => match self.find_node(normalize(k)) {
                Some(n) => &mut self.nodes[n].value,
                None => return false,
            },
        };
        if slot.is_nil() {
            return false;
        }
        *slot = value;
        self.written();
        true
    }

    /// Forgets what was cached about this table as a metatable: called by
    /// every write.
    #[inline(always)]
    fn written(&mut self) {
        self.absent = 0;
        self.index_handler = None;
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
        self.written();
        self.set_normalized(key, value);
        Ok(())
    }

    /// `luaH_set` for a normalised key.
    fn set_normalized(&mut self, key: Value<'gc>, value: Value<'gc>) {
        if let Value::Integer(i) = key {
            let k = (i as u64).wrapping_sub(1);
            if k < self.array.len() as u64 {
                self.touch(k as usize);
                self.array[k as usize] = value;
                return;
            }
        }
        if let Some(n) = self.find_node(key) {
            self.nodes[n].value = value;
            return;
        }
        if !value.is_nil() {
            self.insert_new(key, value);
        }
    }

    /// `getfreepos`: the highest free slot below `last_free`.
    fn free_position(&mut self) -> Option<usize> {
        while self.last_free > 0 {
            self.last_free -= 1;
            if self.nodes[self.last_free].key.is_nil() {
                return Some(self.last_free);
            }
        }
        None
    }

    /// `luaH_newkey`: inserts a key known to be absent (normalised, not
    /// nil/NaN; `value` not nil).
    fn insert_new(&mut self, key: Value<'gc>, value: Value<'gc>) {
        if self.nodes.is_empty() {
            self.rehash(key);
            self.set_normalized(key, value);
            self.update_charge();
            return;
        }
        let mut mp = self.main_position(key);
        if !self.nodes[mp].value.is_nil() {
            // the main position is taken
            let Some(f) = self.free_position() else {
                self.rehash(key);
                self.set_normalized(key, value);
                self.update_charge();
                return;
            };
            let other = self.main_position(self.nodes[mp].key);
            if other != mp {
                // the colliding node is out of its main position: move it
                // to the free slot and give the new key its place
                let mut prev = other;
                while (prev as i64 + self.nodes[prev].next as i64) as usize != mp {
                    prev = (prev as i64 + self.nodes[prev].next as i64) as usize;
                }
                self.nodes[prev].next = (f as i64 - prev as i64) as i32;
                self.nodes[f] = self.nodes[mp];
                if self.nodes[mp].next != 0 {
                    self.nodes[f].next += (mp as i64 - f as i64) as i32;
                    self.nodes[mp].next = 0;
                }
                self.nodes[mp].value = Value::Nil;
            } else {
                // the colliding node is in its main position: chain the new
                // key from it, in the free slot
                if self.nodes[mp].next != 0 {
                    self.nodes[f].next = (mp as i64 + self.nodes[mp].next as i64 - f as i64) as i32;
                }
                self.nodes[mp].next = (f as i64 - mp as i64) as i32;
                mp = f;
            }
        }
        self.nodes[mp].key = key;
        self.nodes[mp].value = value;
    }

    fn update_charge(&mut self) {
        let b = self.bytes();
        self.charge.set(b);
    }

    /// `ltable.c`'s `rehash`: recount the integer keys (with `extra`), pick
    /// the sizes, and rebuild both parts without cleared entries
    /// (`luaH_resize`).
    fn rehash(&mut self, extra: Value<'gc>) {
        // nums[b]: number of integer keys k with 2^(b-1) < k <= 2^b.
        let mut nums = [0usize; 33];
        let count_int = |k: i64, nums: &mut [usize; 33]| {
            if (1..=MAX_ARRAY_KEY).contains(&k) {
                let b = 64 - ((k - 1) as u64).leading_zeros() as usize;
                nums[b] += 1;
                true
            } else {
                false
            }
        };
        let mut total_int = 0usize;
        let mut total = 0usize;
        for (i, v) in self.array.iter().enumerate() {
            if !v.is_nil() {
                total += 1;
                if count_int(i as i64 + 1, &mut nums) {
                    total_int += 1;
                }
            }
        }
        for n in &self.nodes {
            if !n.value.is_nil() {
                total += 1;
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
        total += 1;
        // computesizes: the largest 2^b with more than 2^(b-1) keys in 1..2^b.
        let mut array_size = 0usize;
        let mut acc = 0usize;
        let mut in_array = 0usize;
        let mut two_b = 1usize;
        for &n in nums.iter() {
            if total_int <= two_b / 2 {
                break;
            }
            acc += n;
            if acc > two_b / 2 {
                array_size = two_b;
                in_array = acc;
            }
            two_b *= 2;
        }
        self.resize(array_size, total - in_array);
    }

    /// `luaH_resize`: the array part gets `array_size` slots and the hash
    /// part room for `hash_keys` keys; entries move in lua5.4's order (the
    /// vanishing slice of the array, then the old nodes in slot order).
    fn resize(&mut self, array_size: usize, hash_keys: usize) {
        let old_nodes = std::mem::replace(
            &mut self.nodes,
            vec![Node::default(); node_count(hash_keys)],
        );
        self.last_free = self.nodes.len();
        if array_size < self.array.len() {
            let vanishing: Vec<Value<'gc>> = self.array.drain(array_size..).collect();
            for (i, v) in vanishing.into_iter().enumerate() {
                if !v.is_nil() {
                    self.set_normalized(Value::Integer((array_size + i + 1) as i64), v);
                }
            }
        } else {
            self.array.resize(array_size, Value::Nil);
        }
        self.alimit.set(array_size);
        for n in old_nodes {
            if n.value.is_nil() {
                continue;
            }
            // keys are distinct: no lookup before the insertion
            if let Value::Integer(i) = n.key {
                if (i as u64).wrapping_sub(1) < array_size as u64 {
                    self.array[(i - 1) as usize] = n.value;
                    continue;
                }
            }
            self.insert_new(n.key, n.value);
        }
    }

    /// `luaH_resizearray`: `SETLIST` makes room for its values at once
    /// (the hash part keeps its size).
    pub(crate) fn resize_array(&mut self, array_size: usize) {
        self.resize(array_size, self.nodes.len());
        self.update_charge();
    }

    /// The border `#t` gives: `luaH_getn`, step for step, with its
    /// `alimit` hint (which it may move), so tables with holes answer as
    /// lua5.4's.
    pub fn length(&self) -> i64 {
        let asize = self.array.len();
        let empty = |i: usize| self.array[i].is_nil();
        // binary search for a border in the array part, in (i, j]
        let binsearch = |mut i: usize, mut j: usize| {
            while j - i > 1 {
                let m = (i + j) / 2;
                if empty(m - 1) {
                    j = m;
                } else {
                    i = m;
                }
            }
            i
        };
        let mut limit = self.alimit.get();
        // `ispow2realasize`: the hint may move only in a power-of-two array
        let movable = asize.is_power_of_two();
        if limit > 0 && empty(limit - 1) {
            // (1) a border before `limit`
            if limit >= 2 && !empty(limit - 2) {
                if movable && !(limit - 1).is_power_of_two() {
                    self.alimit.set(limit - 1);
                }
                return limit as i64 - 1;
            }
            let border = binsearch(0, limit);
            if movable && border > asize / 2 {
                self.alimit.set(border);
            }
            return border as i64;
        }
        if limit != asize {
            // (2) `limit` is present and the array goes on after it
            if empty(limit) {
                return limit as i64;
            }
            limit = asize;
            if empty(limit - 1) {
                let border = binsearch(self.alimit.get(), limit);
                self.alimit.set(border);
                return border as i64;
            }
        }
        // (3) the array is full up to `limit`: `limit + 1` in the hash part?
        if self.nodes.is_empty() || self.get_node(Value::Integer(limit as i64 + 1)).is_nil() {
            return limit as i64;
        }
        self.hash_search(limit as u64)
    }

    /// `hash_search`: `t[j + 1]` is present; doubles until an absent
    /// index, then binary search.
    fn hash_search(&self, mut j: u64) -> i64 {
        let max = i64::MAX as u64;
        let mut i;
        if j == 0 {
            j = 1;
        }
        loop {
            i = j;
            if j <= max / 2 {
                j *= 2;
            } else {
                j = max;
                if self.get_int(j as i64).is_nil() {
                    break;
                }
                return j as i64;
            }
            if self.get_int(j as i64).is_nil() {
                break;
            }
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
            if !node.value.is_nil() {
                return Ok(Some((node.key, node.value)));
            }
            n += 1;
        }
        Ok(None)
    }

    pub fn metatable(&self) -> Option<Table<'gc>> {
        self.metatable
    }

    /// Sets the weak mode from the metatable's `__mode` as it is now.
    pub(crate) fn set_weak_mode(&mut self, mode: Value<'gc>) {
        self.gc_flags = (self.gc_flags & !(GC_WEAK_KEYS | GC_WEAK_VALUES)) | mode_bits(mode);
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
        // The cached `__index` would keep a weak value alive.
        self.index_handler = None;
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
        let cap = node_count(hash);
        let state = TableState {
            array: vec![Value::Nil; array],
            nodes: vec![Node::default(); cap],
            last_free: cap,
            alimit: std::cell::Cell::new(array),
            metatable: None,
            frozen: false,
            absent: 0,
            index_handler: None,
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

    /// `t[key]` raw and the metatable, in one borrow: what an index
    /// needs to decide whether `__index` is asked.
    #[inline]
    pub(crate) fn raw_get_str_and_meta(
        self,
        key: super::string::String<'gc>,
    ) -> (Value<'gc>, Option<Table<'gc>>) {
        let s = self.0.borrow();
        (s.get_str(key), s.metatable)
    }

    /// `mt[name]` for a metatable's event `bit` (see `meta::Event`) when
    /// its absence cache does not already say it is missing; `None`: known
    /// absent.
    #[inline]
    pub(crate) fn raw_get_event(
        self,
        name: super::string::String<'gc>,
        bit: u32,
    ) -> Option<Value<'gc>> {
        let s = self.0.borrow();
        if s.absent & bit != 0 {
            return None;
        }
        Some(s.get_str(name))
    }

    pub fn raw_set(
        self,
        mc: &Mutation<'gc>,
        key: Value<'gc>,
        value: Value<'gc>,
    ) -> Result<(), SetError> {
        self.0.borrow_mut(mc).set(key, value)
    }

    /// `t[key] = value` when `key` is present with a non-nil value, so
    /// that a table with a metatable is written without looking up
    /// `__newindex`; `false`: absent (or frozen), nothing was written.
    #[inline]
    pub fn raw_set_existing(self, mc: &Mutation<'gc>, key: Value<'gc>, value: Value<'gc>) -> bool {
        self.0.borrow_mut(mc).set_existing(key, value)
    }

    /// `t.key = value` for a short string key when no `__newindex` can be
    /// involved (`luaV_fastset`, then the raw write): the key is present
    /// with a non-nil value, or the table has no metatable. `false`:
    /// nothing was written (a new key under a metatable, a frozen table, a
    /// long string); the caller takes the general path.
    #[inline]
    pub(crate) fn set_str_fast(
        self,
        mc: &Mutation<'gc>,
        key: super::string::String<'gc>,
        value: Value<'gc>,
    ) -> bool {
        let mut s = self.0.borrow_mut(mc);
        if s.frozen || !key.is_short() {
            return false;
        }
        let no_meta = s.metatable.is_none();
        match s.find_short_string(key) {
            Some(i) => {
                let slot = &mut s.nodes[i].value;
                if slot.is_nil() && !no_meta {
                    return false;
                }
                *slot = value;
                s.written();
            }
            None if no_meta => {
                s.written();
                if !value.is_nil() {
                    s.insert_new(Value::String(key), value);
                }
            }
            None => return false,
        }
        true
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
        let k = (i as u64).wrapping_sub(1);
        if !s.frozen && k < s.array.len() as u64 {
            s.touch(k as usize);
            s.array[k as usize] = value;
            s.written();
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
            mode = mode_bits(super::meta::event_in(ctx, mt, super::meta::MODE));
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

    /// `self.__index` for this table used as a metatable (`fasttm` for
    /// `__index`): cached until the table is next written, so a method
    /// call through a class table does not probe for `__index` each time.
    #[inline]
    pub(crate) fn index_handler(
        self,
        mc: &Mutation<'gc>,
        name: super::string::String<'gc>,
    ) -> Value<'gc> {
        let v = {
            let s = self.0.borrow();
            if let Some(v) = s.index_handler {
                return v;
            }
            s.get_str(name)
        };
        if let Ok(mut s) = self.0.try_borrow_mut(mc) {
            s.index_handler = Some(v);
        }
        v
    }

    /// Records that this table (used as a metatable) lacks event bit `bit`.
    /// No write barrier is needed: the flag holds no pointer.
    #[inline]
    pub(crate) fn mark_absent(self, mc: &Mutation<'gc>, bit: u32) {
        if let Ok(mut s) = self.0.try_borrow_mut(mc) {
            s.absent |= bit;
        }
    }

    /// Makes the array part at least `n` long (`SETLIST`'s
    /// `luaH_resizearray`).
    pub(crate) fn reserve_array(self, mc: &Mutation<'gc>, n: usize) {
        let mut s = self.0.borrow_mut(mc);
        if n > s.array.len() && !s.frozen {
            s.resize_array(n);
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
            assert!(t.state().nodes.len() <= 256, "{}", t.state().nodes.len());
            assert!(t.next(Value::Nil).unwrap().is_none());
        });
    }

    /// Random writes and clears of integer, float, string and boolean keys
    /// against a model: every key reads back what the model holds, and
    /// `next` visits exactly the live keys, through every rehash.
    #[test]
    fn random_writes_match_a_model() {
        rootless_mutate(|mc| {
            let meter = Meter::default();
            let mut strings = super::super::string::Interner::new(meter.clone());
            let names: Vec<_> = (0..64)
                .map(|i| strings.intern(mc, format!("k{i}").as_bytes()))
                .collect();
            let long = strings.intern(mc, &[b'x'; 100]);
            let mut seed = 12345u64;
            let mut rnd = |n: u64| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed % n
            };
            for _trial in 0..40 {
                let t = Table::new(mc, &meter);
                let mut model: std::collections::HashMap<u64, i64> = Default::default();
                let key = |id: u64| match id {
                    0..=99 => Value::Integer(id as i64 - 20),
                    100..=149 => Value::Number(id as f64 + 0.25),
                    150..=213 => Value::String(names[(id - 150) as usize]),
                    214 => Value::Boolean(true),
                    215 => Value::Boolean(false),
                    _ => Value::String(long),
                };
                for step in 0..600 {
                    let id = rnd(217);
                    if rnd(3) == 0 {
                        t.raw_set(mc, key(id), Value::Nil).unwrap();
                        model.remove(&id);
                    } else {
                        t.raw_set(mc, key(id), Value::Integer(step)).unwrap();
                        model.insert(id, step);
                    }
                    if step % 50 == 0 {
                        for id in 0..217 {
                            let got = t.raw_get(key(id));
                            match model.get(&id) {
                                Some(&v) => assert!(matches!(got, Value::Integer(g) if g == v)),
                                None => assert!(got.is_nil(), "key {id} should be absent"),
                            }
                        }
                        let mut seen = 0;
                        let mut k = Value::Nil;
                        while let Some((nk, v)) = t.next(k).unwrap() {
                            assert!(!v.is_nil());
                            seen += 1;
                            k = nk;
                        }
                        assert_eq!(seen, model.len());
                    }
                }
            }
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
