//! `ngx.shared.kong`: Kong's node-wide `kong` dict (its template's
//! `lua_shared_dict kong 5m`), one per node, shared by every worker.
//!
//! Kong keeps node state there: `kong:node_id` (`kong.node.get_id`) and
//! each worker's report of its Lua VM's memory, `kong:mem:<pid>` in KiB
//! (`kong.runloop.handler`'s `update_lua_mem`), which
//! `kong.node.get_memory_stats` reads back ([`super::node`]). Functions
//! see it as `ngx.shared.kong` with `--untrusted-lua on` only: Kong's
//! sandbox does not show `ngx.shared`.
//!
//! The methods are OpenResty's (`lua-resty-core`'s `shdict`), with its
//! argument checks and answers: `get`, `get_stale`, `set`, `safe_set`,
//! `add`, `safe_add`, `replace`, `delete`, `incr`, `ttl`, `expire`,
//! `get_keys`, `flush_all`, `flush_expired`, `capacity`, `free_space`.
//! Values are strings, numbers and booleans (numbers are doubles, as in
//! the dict; an integral one comes back as an integer, as LuaJIT prints
//! it). The dict is bounded ([`super::lru`], O(log n) per entry that
//! goes): a write that needs room drops the expired entries at the old
//! end of the use order, then `set`, `add`, `replace` and `incr` evict
//! the least recently used entries (their third answer, `forcible`, says
//! so), `safe_set` and `safe_add` answer `no memory` instead. As in
//! nginx, every `get`, write and `incr` first drops up to two expired
//! entries at the old end; other expired entries stay, readable by
//! `get_stale`, until overwritten, deleted, evicted or flushed with
//! `flush_expired`. `flush_all` does not empty the dict: as OpenResty's,
//! it marks every entry expired (at 1 ms after the epoch) and drops the
//! oldest three; `ttl` of an expired entry is negative and `expire`
//! revives it. `get_keys` lists the most recently used first.

use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lua_stdlib::{Callback, CallbackReturn, Context, Error, Stack, Table, Value};

use super::lru::{Full, Lru, Weight};
use super::lua_error;

/// Kong's template: `lua_shared_dict kong 5m`.
pub const KONG_DICT_CAPACITY: usize = 5 * 1024 * 1024;

/// A value as the dict stores it.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    Bool(bool),
    Number(f64),
    Str(Box<[u8]>),
}

/// A value with its user flags.
struct Item {
    value: Stored,
    flags: u32,
    /// Expired by `flush_all` (nginx's expiry of 1 ms after the epoch).
    flushed: bool,
}

impl Weight for Item {
    fn weight(&self) -> usize {
        match &self.value {
            Stored::Str(b) => b.len(),
            _ => 8,
        }
    }
}

/// One dict: its entries, bounded by its capacity.
pub struct Dict(Lru<Item>);

/// How a write treats an existing key and a full dict.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Write {
    Set,
    SafeSet,
    Add,
    SafeAdd,
    Replace,
}

impl Dict {
    fn new(capacity: usize) -> Self {
        Dict(Lru::new(capacity))
    }

    /// A live entry's value and flags (touching it), or an expired one's
    /// with `true` when `stale` is asked.
    fn get(&mut self, key: &[u8], stale: bool) -> Option<(Stored, u32, bool)> {
        let now = Instant::now();
        let e = if stale {
            self.0.get_stale(key)?
        } else {
            self.sweep(now);
            self.0.get(key, now)?
        };
        Some((e.value.value.clone(), e.value.flags, e.expired(now)))
    }

    /// What nginx does first in `get`, a write or `incr`: drops up to
    /// two expired entries at the old end.
    fn sweep(&mut self, now: Instant) {
        self.0.remove_oldest(now, 2, false);
    }

    /// A write (`None`: delete): `Ok(forcible)`, or OpenResty's error
    /// text. A full dict drops expired entries at its old end, then
    /// (`set`, `add`, `replace`) evicts the least recently used ones.
    fn store(
        &mut self,
        how: Write,
        key: &[u8],
        value: Option<Stored>,
        expires: Option<Instant>,
        flags: u32,
    ) -> Result<bool, &'static str> {
        self.sweep(Instant::now());
        self.write(how, key, value, expires, flags)
    }

    /// [`Dict::store`] without the sweep.
    fn write(
        &mut self,
        how: Write,
        key: &[u8],
        value: Option<Stored>,
        expires: Option<Instant>,
        flags: u32,
    ) -> Result<bool, &'static str> {
        let now = Instant::now();
        let live = self.0.peek(key, now).is_some();
        match how {
            Write::Add | Write::SafeAdd if live => return Err("exists"),
            Write::Replace if !live => return Err("not found"),
            _ => {}
        }
        let Some(value) = value else {
            self.0.remove(key);
            return Ok(false);
        };
        let evict = matches!(how, Write::Set | Write::Add | Write::Replace);
        let item = Item {
            value,
            flags,
            flushed: false,
        };
        self.0
            .insert(key, item, expires, now, evict)
            .map_err(|Full| "no memory")
    }

    /// `flush_all`: every entry expires (nginx sets its expiry to 1 ms
    /// after the epoch), then nginx frees the oldest entry by force and
    /// up to two more expired ones: the three least recently used go.
    fn flush_all(&mut self) {
        let now = Instant::now();
        for e in self.0.entries_mut() {
            e.expires = Some(now);
            e.value.flushed = true;
        }
        self.0.remove_oldest(now, 3, true);
    }

    /// `ttl` in milliseconds, of an expired entry too (negative), as
    /// nginx's `expires - now`; 0: forever. `None`: no entry.
    fn ttl_ms(&mut self, key: &[u8]) -> Option<i64> {
        let now = Instant::now();
        let e = self.0.peek_stale_mut(key)?;
        let ms = |d: Duration| (d.as_secs_f64() * 1000.0).round() as i64;
        Some(match e.expires {
            None => 0,
            Some(_) if e.value.flushed => {
                let epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
                1 - epoch.map_or(0, |d| d.as_millis() as i64)
            }
            Some(at) if at >= now => ms(at - now),
            Some(at) => -ms(now - at),
        })
    }

    /// `expire`: a new expiry for the entry, expired or not (nginx's
    /// `peek` finds a stale one, which this revives); false: no entry.
    fn set_expiry(&mut self, key: &[u8], ttl: Option<Duration>) -> bool {
        let now = Instant::now();
        match self.0.peek_stale_mut(key) {
            Some(e) => {
                e.expires = ttl.map(|t| now + t);
                e.value.flushed = false;
                true
            }
            None => false,
        }
    }

    /// The bytes in use and the dict's size.
    pub fn usage(&self) -> (usize, usize) {
        self.0.usage()
    }

    /// Every live key (`get_keys`), most recently used first, at most
    /// `max` (0: all).
    pub fn keys(&self, max: usize) -> Vec<Box<[u8]>> {
        self.0.keys(Instant::now(), max)
    }

    /// A live entry's value, untouched (the node's own reads).
    pub fn peek(&self, key: &[u8]) -> Option<&Stored> {
        self.0.peek(key, Instant::now()).map(|e| &e.value.value)
    }

    /// `safe_set` without expiry or flags (the node's own writes).
    pub fn safe_set(&mut self, key: &[u8], value: Stored) -> bool {
        self.store(Write::SafeSet, key, Some(value), None, 0)
            .is_ok()
    }
}

static KONG: LazyLock<Mutex<Dict>> = LazyLock::new(|| {
    let mut d = Dict::new(KONG_DICT_CAPACITY);
    let id = super::node::id().to_string();
    d.safe_set(b"kong:node_id", Stored::Str(id.into_bytes().into()));
    Mutex::new(d)
});

/// The node's `kong` dict.
pub fn kong() -> MutexGuard<'static, Dict> {
    // Every mutation leaves the map and its byte count consistent.
    KONG.lock().unwrap_or_else(|p| p.into_inner())
}

/// The key argument, or `None` once the call is answered `nil, err`:
/// lua-resty-core's checks (`nil key`, `empty key`, `key too long`);
/// other types as their `tostring`.
fn key_arg<'gc>(ctx: Context<'gc>, stack: &mut Stack<'gc, '_>) -> Option<Vec<u8>> {
    let key = key_bytes(stack.get(0));
    if let Err(e) = key {
        refused(ctx, stack, e);
    }
    key.ok()
}

fn key_bytes(v: Value<'_>) -> Result<Vec<u8>, &'static str> {
    let key = match v {
        Value::Nil => return Err("nil key"),
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Integer(n) => n.to_string().into_bytes(),
        Value::Number(f) => super::lua_number(f).into_bytes(),
        Value::Boolean(b) => b.to_string().into_bytes(),
        other => other.type_name().as_bytes().to_vec(),
    };
    if key.is_empty() {
        return Err("empty key");
    }
    if key.len() > 65535 {
        return Err("key too long");
    }
    Ok(key)
}

fn number(v: Value<'_>) -> Option<f64> {
    match v {
        Value::Integer(n) => Some(n as f64),
        Value::Number(f) => Some(f),
        Value::String(s) => std::str::from_utf8(s.as_bytes()).ok()?.trim().parse().ok(),
        _ => None,
    }
}

fn to_lua<'gc>(ctx: Context<'gc>, v: &Stored) -> Value<'gc> {
    match v {
        Stored::Bool(b) => Value::Boolean(*b),
        Stored::Number(f) => number_value(*f),
        Stored::Str(s) => Value::String(ctx.intern(s)),
    }
}

/// A double as LuaJIT shows it: integral ones as integers.
fn number_value<'gc>(f: f64) -> Value<'gc> {
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        Value::Integer(f as i64)
    } else {
        Value::Number(f)
    }
}

/// An `exptime` argument: nil or 0 is forever; negative is refused.
fn ttl_arg<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> Result<Option<Duration>, Error<'gc>> {
    match v {
        Value::Nil => Ok(None),
        v => match number(v) {
            Some(s) if s >= 0.0 && s.is_finite() => {
                Ok((s > 0.0).then(|| Duration::from_secs_f64(s.min(1e9))))
            }
            _ => Err(lua_error(ctx, "bad \"exptime\" argument")),
        },
    }
}

/// The dict method `name`: checks that it is called on the dict (`:`),
/// then runs `f` on the arguments after it.
fn method<'gc>(
    ctx: Context<'gc>,
    dict: Table<'gc>,
    name: &'static str,
    f: for<'a> fn(Context<'a>, &mut Stack<'a, '_>) -> Result<(), Error<'a>>,
) {
    let cb = Callback::from_fn_with(&ctx, dict, move |zone, ctx, _, mut stack| {
        match stack.get(0) {
            Value::Table(t) if t.as_ptr() == zone.as_ptr() => {}
            _ => return Err(lua_error(ctx, "bad \"zone\" argument")),
        }
        stack.pop_front();
        f(ctx, &mut stack)?;
        Ok(CallbackReturn::Return)
    });
    let _ = dict.set(ctx, name, cb);
}

/// `nil, err` as OpenResty's methods answer a refused call.
fn refused<'gc>(ctx: Context<'gc>, stack: &mut Stack<'gc, '_>, err: &str) {
    stack.replace(ctx, (Value::Nil, ctx.intern(err.as_bytes())));
}

fn write_method<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    how: Write,
) -> Result<(), Error<'gc>> {
    let Some(key) = key_arg(ctx, stack) else {
        return Ok(());
    };
    let value = match stack.get(1) {
        Value::Nil => None,
        Value::Boolean(b) => Some(Stored::Bool(b)),
        Value::Integer(n) => Some(Stored::Number(n as f64)),
        Value::Number(f) => Some(Stored::Number(f)),
        Value::String(s) => Some(Stored::Str(s.as_bytes().into())),
        _ => {
            refused(ctx, stack, "bad value type");
            return Ok(());
        }
    };
    let ttl = ttl_arg(ctx, stack.get(2))?;
    let flags = match stack.get(3) {
        Value::Nil => 0,
        v => match number(v) {
            Some(f) if (0.0..=u32::MAX as f64).contains(&f) => f as u32,
            _ => return Err(lua_error(ctx, "bad \"flags\" argument")),
        },
    };
    // OpenResty answers `true, nil, forcible`, or `false, err, forcible`.
    let expires = ttl.map(|t| Instant::now() + t);
    match kong().store(how, &key, value, expires, flags) {
        Ok(forcible) => stack.replace(ctx, (true, Value::Nil, forcible)),
        Err(e) => stack.replace(ctx, (false, ctx.intern(e.as_bytes()), false)),
    }
    Ok(())
}

fn get_method<'gc>(
    ctx: Context<'gc>,
    stack: &mut Stack<'gc, '_>,
    stale: bool,
) -> Result<(), Error<'gc>> {
    let Some(key) = key_arg(ctx, stack) else {
        return Ok(());
    };
    let found = kong().get(&key, stale);
    match found {
        None => stack.replace(ctx, Value::Nil),
        Some((v, flags, expired)) => {
            let v = to_lua(ctx, &v);
            let flags = if flags == 0 {
                Value::Nil
            } else {
                Value::Integer(flags as i64)
            };
            if stale {
                stack.replace(ctx, (v, flags, expired));
            } else {
                stack.replace(ctx, (v, flags));
            }
        }
    }
    Ok(())
}

/// Installs `ngx.shared` (the `kong` dict) in `ngx`.
pub fn install<'gc>(ctx: Context<'gc>, ngx: Table<'gc>) {
    let dict = ctx.new_table();
    method(ctx, dict, "get", |ctx, stack| get_method(ctx, stack, false));
    method(ctx, dict, "get_stale", |ctx, stack| {
        get_method(ctx, stack, true)
    });
    method(ctx, dict, "set", |ctx, stack| {
        write_method(ctx, stack, Write::Set)
    });
    method(ctx, dict, "safe_set", |ctx, stack| {
        write_method(ctx, stack, Write::SafeSet)
    });
    method(ctx, dict, "add", |ctx, stack| {
        write_method(ctx, stack, Write::Add)
    });
    method(ctx, dict, "safe_add", |ctx, stack| {
        write_method(ctx, stack, Write::SafeAdd)
    });
    method(ctx, dict, "replace", |ctx, stack| {
        write_method(ctx, stack, Write::Replace)
    });
    method(ctx, dict, "delete", |ctx, stack| {
        if let Some(key) = key_arg(ctx, stack) {
            // OpenResty's `delete` is `set(key, nil)`.
            let _ = kong().store(Write::Set, &key, None, None, 0);
            stack.replace(ctx, true);
        }
        Ok(())
    });
    method(ctx, dict, "incr", incr);
    method(ctx, dict, "ttl", |ctx, stack| {
        let Some(key) = key_arg(ctx, stack) else {
            return Ok(());
        };
        let ttl = kong().ttl_ms(&key);
        match ttl {
            None => refused(ctx, stack, "not found"),
            Some(ms) => stack.replace(ctx, number_value(ms as f64 / 1000.0)),
        }
        Ok(())
    });
    method(ctx, dict, "expire", |ctx, stack| {
        let Some(key) = key_arg(ctx, stack) else {
            return Ok(());
        };
        let ttl = ttl_arg(ctx, stack.get(1))?;
        if kong().set_expiry(&key, ttl) {
            stack.replace(ctx, true);
        } else {
            refused(ctx, stack, "not found");
        }
        Ok(())
    });
    method(ctx, dict, "get_keys", |ctx, stack| {
        let max = match stack.get(0) {
            Value::Nil => 1024,
            v => match number(v) {
                Some(n) if n >= 0.0 => n as usize,
                _ => return Err(lua_error(ctx, "bad \"max_count\" argument")),
            },
        };
        let keys = kong().keys(max);
        let t = ctx.new_table();
        for (i, k) in keys.iter().enumerate() {
            let _ = t.set(ctx, i as i64 + 1, ctx.intern(k));
        }
        stack.replace(ctx, t);
        Ok(())
    });
    method(ctx, dict, "flush_all", |ctx, stack| {
        kong().flush_all();
        stack.replace(ctx, Value::Nil);
        Ok(())
    });
    method(ctx, dict, "flush_expired", |ctx, stack| {
        let max = number(stack.get(0)).map_or(0, |n| n.max(0.0) as usize);
        let now = Instant::now();
        let flushed = kong().0.remove_expired(now, max);
        stack.replace(ctx, flushed as i64);
        Ok(())
    });
    method(ctx, dict, "capacity", |ctx, stack| {
        let (_, capacity) = kong().usage();
        stack.replace(ctx, capacity as i64);
        Ok(())
    });
    method(ctx, dict, "free_space", |ctx, stack| {
        let (used, capacity) = kong().usage();
        stack.replace(ctx, capacity.saturating_sub(used) as i64);
        Ok(())
    });
    let shared = ctx.new_table();
    let _ = shared.set(ctx, "kong", dict);
    let _ = ngx.set(ctx, "shared", shared);
}

/// `incr(key, value, init, init_ttl)`: the new number, or `nil, "not
/// found"` (no init) / `nil, "not a number"`.
fn incr<'gc>(ctx: Context<'gc>, stack: &mut Stack<'gc, '_>) -> Result<(), Error<'gc>> {
    let Some(key) = key_arg(ctx, stack) else {
        return Ok(());
    };
    let Some(by) = number(stack.get(1)) else {
        return Err(lua_error(ctx, "cannot convert 'value' to number"));
    };
    let init = match stack.get(2) {
        Value::Nil => None,
        v => Some(number(v).ok_or_else(|| lua_error(ctx, "bad \"init\" argument"))?),
    };
    let init_ttl = ttl_arg(ctx, stack.get(3))?;
    let mut d = kong();
    let now = Instant::now();
    d.sweep(now);
    let current =
        d.0.peek(&key, now)
            .map(|e| (e.value.value.clone(), e.value.flags, e.expires));
    let answer = match (current, init) {
        (Some((Stored::Number(n), flags, expires)), _) => {
            let v = n + by;
            d.write(Write::Set, &key, Some(Stored::Number(v)), expires, flags)
                .map(|forcible| (v, forcible))
        }
        (Some(_), _) => Err("not a number"),
        (None, None) => Err("not found"),
        (None, Some(init)) => {
            let v = init + by;
            let expires = init_ttl.map(|t| now + t);
            d.write(Write::Set, &key, Some(Stored::Number(v)), expires, 0)
                .map(|forcible| (v, forcible))
        }
    };
    drop(d);
    match answer {
        Ok((v, forcible)) => stack.replace(ctx, (number_value(v), Value::Nil, forcible)),
        Err(e) => refused(ctx, stack, e),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::lru::ENTRY_OVERHEAD;
    use super::*;

    fn s(v: &str) -> Option<Stored> {
        Some(Stored::Str(v.as_bytes().into()))
    }

    /// A full dict: `set` evicts the least recently used entries
    /// (`forcible`), `safe_set` answers `no memory`; a value larger than
    /// the dict is refused either way.
    #[test]
    fn a_full_dict_evicts_or_refuses() {
        let mut d = Dict::new(3 * (ENTRY_OVERHEAD + 2 + 10));
        let ten = "0123456789";
        for k in ["k1", "k2", "k3"] {
            assert_eq!(
                d.write(Write::Set, k.as_bytes(), s(ten), None, 0),
                Ok(false)
            );
        }
        // k1 was used last: k2 goes first.
        assert!(d.get(b"k1", false).is_some());
        assert_eq!(
            d.write(Write::SafeSet, b"k4", s(ten), None, 0),
            Err("no memory")
        );
        assert_eq!(d.write(Write::Set, b"k4", s(ten), None, 0), Ok(true));
        assert!(d.get(b"k2", false).is_none());
        assert!(d.get(b"k1", false).is_some() && d.get(b"k3", false).is_some());
        assert_eq!(d.usage().0, 3 * (ENTRY_OVERHEAD + 2 + 10));
        let huge = "x".repeat(1000);
        assert_eq!(
            d.write(Write::Set, b"big", s(&huge), None, 0),
            Err("no memory")
        );
        // A nil value deletes; the bytes come back.
        assert_eq!(d.write(Write::Set, b"k1", None, None, 0), Ok(false));
        assert_eq!(d.usage().0, 2 * (ENTRY_OVERHEAD + 2 + 10));
        assert_eq!(d.keys(0).len(), 2);
    }

    /// nginx's `ttl` of an expired entry is `expires - now`, negative;
    /// `expire` revives it; a `get` first drops it from the old end.
    #[test]
    fn an_expired_entry_has_a_negative_ttl_until_revived() {
        let mut d = Dict::new(KONG_DICT_CAPACITY);
        let past = Instant::now().checked_sub(Duration::from_secs(2));
        d.write(Write::Set, b"k", s("v"), past, 0).unwrap();
        let ttl = d.ttl_ms(b"k").unwrap();
        assert!((-2100..=-2000).contains(&ttl), "{ttl}");
        assert!(d.set_expiry(b"k", Some(Duration::from_secs(5))));
        assert!((4900..=5000).contains(&d.ttl_ms(b"k").unwrap()));
        assert!(d.get(b"k", false).is_some());
        assert!(d.set_expiry(b"k", None));
        assert_eq!(d.ttl_ms(b"k"), Some(0));
        d.write(Write::Set, b"old", s("v"), past, 0).unwrap();
        d.write(Write::Set, b"new", s("v"), None, 0).unwrap();
        // "k" is the oldest and live: nothing is dropped.
        assert!(d.get(b"new", false).is_some());
        assert!(d.get(b"old", true).is_some());
        d.flush_all();
        // With three entries, all three are the oldest: none stays.
        assert_eq!(d.usage().0, 0);
        assert_eq!(d.ttl_ms(b"new"), None);
    }

    /// Kong's 5m dict filled with many small entries (some 62,000), then
    /// set three times as many more: entries and bytes stay within the
    /// dict, every set evicts (`forcible`) and the least recently used
    /// entry is the one that goes.
    #[test]
    fn a_full_dict_stays_bounded_and_evicts_the_oldest() {
        let key = |i: usize| format!("key:{i:08}").into_bytes();
        let num = |i: usize| Some(Stored::Number(i as f64));
        let each = ENTRY_OVERHEAD + key(0).len() + 8;
        let fits = KONG_DICT_CAPACITY / each;
        let mut d = Dict::new(KONG_DICT_CAPACITY);
        for i in 0..fits {
            assert_eq!(d.write(Write::Set, &key(i), num(i), None, 0), Ok(false));
        }
        assert_eq!(d.usage().0, fits * each);
        // Read: the first entry is now the most recently used.
        assert!(d.get(&key(0), false).is_some());
        for i in fits..4 * fits {
            assert_eq!(d.write(Write::Set, &key(i), num(i), None, 0), Ok(true));
            assert_eq!(d.0.len(), fits);
            assert!(d.usage().0 <= KONG_DICT_CAPACITY);
            if i < 2 * fits - 1 {
                // key(1), key(2), ... go in turn; key(0) stays till last.
                let gone = i - fits + 1;
                assert!(d.peek(&key(gone)).is_none());
                assert!(d.peek(&key(gone + 1)).is_some());
                assert!(d.peek(&key(0)).is_some());
            }
        }
        // The newest `fits` remain, in order of use.
        let keys = d.keys(0);
        assert_eq!(keys.len(), fits);
        assert_eq!(*keys[0], *key(4 * fits - 1));
        assert_eq!(*keys[fits - 1], *key(3 * fits));
        assert!(d.peek(&key(0)).is_none() && d.peek(&key(3 * fits - 1)).is_none());
        // `safe_set` refuses rather than evict.
        assert_eq!(
            d.write(Write::SafeSet, b"x", num(0), None, 0),
            Err("no memory")
        );
        assert_eq!(d.keys(0).len(), fits);
    }
}
