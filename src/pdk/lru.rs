//! A byte-bounded map whose entries may expire and whose least recently
//! used entries make room for new ones: the rule behind `kong.cache`
//! ([`super::cache`]) and the `kong` shared dict ([`super::shared`]).
//!
//! An entry costs its key, its value's [`Weight`] and [`ENTRY_OVERHEAD`].
//! Entries are kept by key and by last use (a tick), so a write that needs
//! room drops the oldest entries one by one, O(log n) each, as nginx's
//! shared dict pops its LRU queue's tail. Expired entries are not swept:
//! they stay (readable as stale) until they are read as a miss by a
//! caller that drops them, overwritten, removed, flushed, or reach the old
//! end when room is needed, where they go without counting as evicted.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// What an entry costs besides its key and value (nginx's node in the
/// zone's red-black tree and queue; the maps' share here).
pub const ENTRY_OVERHEAD: usize = 64;

/// The bytes a stored value counts for.
pub trait Weight {
    fn weight(&self) -> usize;
}

/// A stored value with its expiry.
pub struct Entry<V> {
    pub value: V,
    /// `None`: never expires.
    pub expires: Option<Instant>,
    /// Last use: this entry's key in [`Lru::order`].
    tick: u64,
}

impl<V> Entry<V> {
    pub fn expired(&self, now: Instant) -> bool {
        self.expires.is_some_and(|at| at <= now)
    }

    /// The time it has left (`None`: forever).
    pub fn left(&self, now: Instant) -> Option<Duration> {
        self.expires.map(|at| at.saturating_duration_since(now))
    }
}

/// An insert that did not fit: the value is larger than the map, or room
/// was needed from a live entry and the insert may not evict.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

/// The bounded map.
pub struct Lru<V> {
    entries: HashMap<Box<[u8]>, Entry<V>>,
    /// Keys by last use, oldest first.
    order: BTreeMap<u64, Box<[u8]>>,
    tick: u64,
    bytes: usize,
    limit: usize,
}

impl<V: Weight> Lru<V> {
    pub fn new(limit: usize) -> Self {
        Lru {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            bytes: 0,
            limit,
        }
    }

    pub fn cost(key: &[u8], value: &V) -> usize {
        key.len() + value.weight() + ENTRY_OVERHEAD
    }

    /// The bytes the entries take and the bound.
    pub fn usage(&self) -> (usize, usize) {
        (self.bytes, self.limit)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Marks the entry under `key` used now.
    fn touch(&mut self, key: &[u8]) -> Option<&Entry<V>> {
        self.tick += 1;
        let e = self.entries.get_mut(key)?;
        if let Some(k) = self.order.remove(&e.tick) {
            self.order.insert(self.tick, k);
        }
        e.tick = self.tick;
        Some(e)
    }

    /// The live entry for `key`, marked used; an expired one is a miss
    /// (and stays, untouched).
    pub fn get(&mut self, key: &[u8], now: Instant) -> Option<&Entry<V>> {
        self.peek(key, now)?;
        self.touch(key)
    }

    /// The entry for `key`, expired or not, marked used.
    pub fn get_stale(&mut self, key: &[u8]) -> Option<&Entry<V>> {
        self.touch(key)
    }

    /// The live entry for `key`, untouched.
    pub fn peek(&self, key: &[u8], now: Instant) -> Option<&Entry<V>> {
        self.entries.get(key).filter(|e| !e.expired(now))
    }

    /// Stores `value` under `key` (replacing what was there), making room
    /// from the old end: expired entries go freely, live ones only when
    /// `evict`. `Ok(true)` when a live entry was evicted (OpenResty's
    /// `forcible`). On `Err` the old value under `key` is gone and nothing
    /// live was evicted.
    pub fn insert(
        &mut self,
        key: &[u8],
        value: V,
        expires: Option<Instant>,
        now: Instant,
        evict: bool,
    ) -> Result<bool, Full> {
        self.remove(key);
        let cost = Self::cost(key, &value);
        if cost > self.limit {
            return Err(Full);
        }
        let mut forcible = false;
        while self.bytes + cost > self.limit {
            let Some(oldest) = self.order.first_entry() else {
                break;
            };
            let expired = self
                .entries
                .get(oldest.get().as_ref())
                .is_none_or(|e| e.expired(now));
            if !expired {
                if !evict {
                    return Err(Full);
                }
                forcible = true;
            }
            let (_, k) = oldest.remove_entry();
            if let Some(e) = self.entries.remove(&k) {
                self.bytes -= Self::cost(&k, &e.value);
            }
        }
        self.tick += 1;
        self.order.insert(self.tick, key.into());
        self.bytes += cost;
        self.entries.insert(
            key.into(),
            Entry {
                value,
                expires,
                tick: self.tick,
            },
        );
        Ok(forcible)
    }

    /// The entry for `key`, expired or not, untouched (nginx's `peek`,
    /// which the shared dict's `ttl` and `expire` use).
    pub fn peek_stale_mut(&mut self, key: &[u8]) -> Option<&mut Entry<V>> {
        self.entries.get_mut(key)
    }

    /// Every entry, untouched.
    pub fn entries_mut(&mut self) -> impl Iterator<Item = &mut Entry<V>> {
        self.entries.values_mut()
    }

    /// Removes up to `max` entries from the old end: the first whatever
    /// it is when `force`, then only expired ones, stopping at a live
    /// one (nginx's `ngx_http_lua_shdict_expire`). Answers how many.
    pub fn remove_oldest(&mut self, now: Instant, max: usize, force: bool) -> usize {
        let mut removed = 0;
        while removed < max {
            let Some((_, key)) = self.order.first_key_value() else {
                break;
            };
            let live = self
                .entries
                .get(key.as_ref())
                .is_some_and(|e| !e.expired(now));
            if live && !(force && removed == 0) {
                break;
            }
            let key = key.clone();
            self.remove(&key);
            removed += 1;
        }
        removed
    }

    pub fn remove(&mut self, key: &[u8]) -> bool {
        let Some((k, e)) = self.entries.remove_entry(key) else {
            return false;
        };
        self.order.remove(&e.tick);
        self.bytes -= Self::cost(&k, &e.value);
        true
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
        self.bytes = 0;
    }

    /// Live keys, most recently used first, at most `max` (0: all).
    pub fn keys(&self, now: Instant, max: usize) -> Vec<Box<[u8]>> {
        let live = self
            .order
            .values()
            .rev()
            .filter(|k| {
                self.entries
                    .get(k.as_ref())
                    .is_some_and(|e| !e.expired(now))
            })
            .cloned();
        if max == 0 {
            live.collect()
        } else {
            live.take(max).collect()
        }
    }

    /// Removes expired entries, oldest first, at most `max` (0: all);
    /// answers how many.
    pub fn remove_expired(&mut self, now: Instant, max: usize) -> usize {
        let expired: Vec<Box<[u8]>> = self
            .order
            .values()
            .filter(|k| self.entries.get(k.as_ref()).is_some_and(|e| e.expired(now)))
            .take(if max == 0 { usize::MAX } else { max })
            .cloned()
            .collect();
        for k in &expired {
            self.remove(k);
        }
        expired.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Weight for u64 {
        fn weight(&self) -> usize {
            8
        }
    }

    /// Expired entries at the old end make room without counting as
    /// evicted, even for an insert that may not evict.
    #[test]
    fn expired_entries_at_the_old_end_go_freely() {
        let now = Instant::now();
        let each = Lru::<u64>::cost(b"k1", &0);
        let mut m = Lru::<u64>::new(each * 2);
        let soon = Some(now + Duration::from_secs(1));
        assert_eq!(m.insert(b"k1", 1, soon, now, false), Ok(false));
        assert_eq!(m.insert(b"k2", 2, None, now, false), Ok(false));
        let later = now + Duration::from_secs(2);
        assert!(m.get(b"k1", later).is_none());
        assert_eq!(m.get_stale(b"k1").map(|e| e.value), Some(1));
        // k1 was touched by get_stale: k2 is the oldest and live.
        assert_eq!(m.insert(b"k3", 3, None, later, false), Err(Full));
        assert_eq!(m.insert(b"k3", 3, None, later, true), Ok(true));
        assert!(m.peek(b"k2", later).is_none());
        assert_eq!(m.insert(b"k4", 4, None, later, false), Ok(false));
        assert_eq!(
            m.keys(later, 0),
            vec![b"k4".as_slice().into(), b"k3".as_slice().into()]
        );
    }
}
