//! Lua strings: immutable byte strings in the arena. Strings up to
//! [`SHORT_STRING`] bytes are interned per VM (one object per content), so
//! comparing them, and finding them as table keys, is a pointer comparison;
//! longer strings are compared by content and hash lazily. The intern set
//! holds its strings weakly: an unused string is collected as usual.

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};

use gc_arena::{Collect, Gc, GcWeak, Mutation};

use super::mem::{Charge, Meter};

/// Longest interned string (lua5.4's `LUAI_MAXSHORTLEN`).
pub const SHORT_STRING: usize = 40;

/// An immutable Lua string.
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub struct String<'gc>(pub(crate) Gc<'gc, StrBox>);

#[derive(Collect)]
#[collect(require_static)]
pub struct StrBox {
    /// 0 until computed for long strings; always set for short ones.
    hash: Cell<u64>,
    seed: u64,
    bytes: Bytes,
    _charge: Charge,
}

/// A string's bytes: inside the object for short strings (one allocation,
/// and comparing or sorting them reads one object, not two), in a buffer
/// of their own for long ones.
enum Bytes {
    Inline { len: u8, buf: [u8; SHORT_STRING] },
    Heap(Box<[u8]>),
}

impl Bytes {
    fn new(bytes: &[u8]) -> Bytes {
        if bytes.len() <= SHORT_STRING {
            let mut buf = [0u8; SHORT_STRING];
            buf[..bytes.len()].copy_from_slice(bytes);
            Bytes::Inline {
                len: bytes.len() as u8,
                buf,
            }
        } else {
            Bytes::Heap(bytes.into())
        }
    }

    #[inline]
    fn get(&self) -> &[u8] {
        match self {
            Bytes::Inline { len, buf } => &buf[..*len as usize],
            Bytes::Heap(b) => b,
        }
    }
}

impl<'gc> String<'gc> {
    #[inline]
    pub fn as_bytes(self) -> &'gc [u8] {
        Gc::as_ref(self.0).bytes.get()
    }

    #[inline]
    pub fn len(self) -> usize {
        match &self.0.bytes {
            Bytes::Inline { len, .. } => *len as usize,
            Bytes::Heap(b) => b.len(),
        }
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The bytes as UTF-8, if they are.
    pub fn to_str(self) -> Result<&'gc str, std::str::Utf8Error> {
        std::str::from_utf8(self.as_bytes())
    }

    #[inline]
    pub fn is_short(self) -> bool {
        matches!(self.0.bytes, Bytes::Inline { .. })
    }

    /// The hash used by tables (cached; short strings always have it, so
    /// a table lookup inlines only the load).
    #[inline]
    pub fn hash(self) -> u64 {
        let h = self.0.hash.get();
        if h != 0 {
            return h;
        }
        self.compute_hash()
    }

    #[cold]
    #[inline(never)]
    fn compute_hash(self) -> u64 {
        let h = hash_bytes(self.0.seed, self.0.bytes.get());
        self.0.hash.set(h);
        h
    }

    /// Identity of the object (for `%p`, `tostring` of non-strings is elsewhere).
    pub fn as_ptr(self) -> *const u8 {
        Gc::as_ptr(self.0) as *const u8
    }
}

impl PartialEq for String<'_> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        if Gc::ptr_eq(self.0, other.0) {
            return true;
        }
        // Two distinct short strings always differ: they are interned.
        let (a, b) = (self.as_bytes(), other.as_bytes());
        a.len() > SHORT_STRING && a.len() == b.len() && self.hash() == other.hash() && a == b
    }
}

impl Eq for String<'_> {}

impl PartialOrd for String<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for String<'_> {
    /// Byte order, as `strcoll` in the C locale (lua5.4's `l_strcmp`
    /// compares the parts between embedded zeros with it, then the
    /// lengths: byte order again).
    ///
    /// Two short strings are compared in place, eight bytes at a time:
    /// their buffers are zero-padded, so the padded bytes order them as
    /// their bytes do up to the shorter one's end, and when all are
    /// equal the shorter one (a prefix of the other, or equal) is less.
    #[inline(always)]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if Gc::ptr_eq(self.0, other.0) {
            return std::cmp::Ordering::Equal;
        }
        match (&self.0.bytes, &other.0.bytes) {
            (Bytes::Inline { len: la, buf: a }, Bytes::Inline { len: lb, buf: b }) => {
                let words = (*la.max(lb) as usize).div_ceil(8);
                for w in 0..words {
                    let (x, y) = (word(a, w), word(b, w));
                    if x != y {
                        return x.cmp(&y);
                    }
                }
                la.cmp(lb)
            }
            _ => self.as_bytes().cmp(other.as_bytes()),
        }
    }
}

// `word` reads a short string's buffer in whole words.
const _: () = assert!(SHORT_STRING.is_multiple_of(8));

/// Word `w` of a short string's buffer, its first byte most significant.
#[inline(always)]
fn word(buf: &[u8; SHORT_STRING], w: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[w * 8..w * 8 + 8]);
    u64::from_be_bytes(b)
}

impl std::fmt::Debug for String<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?}",
            std::string::String::from_utf8_lossy(self.as_bytes())
        )
    }
}

impl std::fmt::Display for String<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&std::string::String::from_utf8_lossy(self.as_bytes()))
    }
}

/// A fast keyed hash over bytes, 8 at a time; never 0.
pub fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = seed ^ (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    h ^= h >> 29;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 32;
    h | 1
}

/// The per-VM intern set of short strings, held weakly.
#[derive(Collect)]
#[collect(no_drop)]
pub struct Interner<'gc> {
    /// Open addressing, linear probing; `(hash, string)`, hash 0 = empty.
    slots: Vec<(u64, Option<GcWeak<'gc, StrBox>>)>,
    used: usize,
    seed: u64,
    meter: Meter,
}

impl<'gc> Interner<'gc> {
    pub fn new(meter: Meter) -> Self {
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Interner {
            slots: vec![(0, None); 256],
            used: 0,
            seed,
            meter,
        }
    }

    fn alloc(&self, mc: &Mutation<'gc>, bytes: &[u8], hash: u64) -> String<'gc> {
        String(Gc::new(
            mc,
            StrBox {
                hash: Cell::new(hash),
                seed: self.seed,
                bytes: Bytes::new(bytes),
                _charge: self.meter.charge(bytes.len()),
            },
        ))
    }

    /// A string with these bytes: the interned one for short strings.
    pub fn intern(&mut self, mc: &Mutation<'gc>, bytes: &[u8]) -> String<'gc> {
        if bytes.len() > SHORT_STRING {
            return self.alloc(mc, bytes, 0);
        }
        let hash = hash_bytes(self.seed, bytes);
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        let mut free = None;
        loop {
            match self.slots[i] {
                (0, _) => break,
                // Only a slot with the same hash is looked at: reading
                // another string's object is a cache miss per probe in a
                // big set. Dead entries of other hashes go at the next
                // rehash or purge.
                (h, Some(weak)) if h == hash => match weak.upgrade(mc) {
                    Some(s) if s.bytes.get() == bytes => return String(s),
                    Some(_) => {}
                    None => {
                        free.get_or_insert(i);
                    }
                },
                (_, Some(_)) => {}
                (_, None) => {
                    free.get_or_insert(i);
                }
            }
            i = (i + 1) & mask;
        }
        let s = self.alloc(mc, bytes, hash);
        let slot = match free {
            Some(f) => f,
            None => {
                self.used += 1;
                i
            }
        };
        self.slots[slot] = (hash, Some(Gc::downgrade(s.0)));
        if self.used * 4 > self.slots.len() * 3 {
            self.rehash(mc);
        }
        s
    }

    /// Rebuilds the set without its collected strings (and grows it when
    /// most entries are alive).
    fn rehash(&mut self, mc: &Mutation<'gc>) {
        let live: Vec<(u64, GcWeak<'gc, StrBox>)> = self
            .slots
            .iter()
            .filter_map(|&(h, w)| match w {
                Some(w) if h != 0 && w.upgrade(mc).is_some() => Some((h, w)),
                _ => None,
            })
            .collect();
        let mut cap = 256;
        while live.len() * 2 >= cap {
            cap *= 2;
        }
        self.slots = vec![(0, None); cap];
        let mask = cap - 1;
        for (h, w) in live.iter().copied() {
            let mut i = h as usize & mask;
            while self.slots[i].0 != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = (h, Some(w));
        }
        self.used = live.len();
    }

    /// Drops the entries of collected strings (after a GC cycle), so the set
    /// shrinks when strings die.
    pub fn purge(&mut self, mc: &Mutation<'gc>) {
        let live = self
            .slots
            .iter()
            .filter(|(h, w)| *h != 0 && w.is_some_and(|w| !w.is_dropped()))
            .count();
        if live * 4 < self.used || self.slots.len() > 256 && live * 8 < self.slots.len() {
            self.rehash(mc);
        }
    }
}
