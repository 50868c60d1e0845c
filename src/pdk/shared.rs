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
//! it). The dict is bounded: `set` and `add` evict the least recently
//! used entries to make room (their third answer, `forcible`, says so),
//! `safe_set` and `safe_add` answer `no memory` instead.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lua_stdlib::{Callback, CallbackReturn, Context, Error, Stack, Table, Value};

use super::lua_error;

/// Kong's template: `lua_shared_dict kong 5m`.
pub const KONG_DICT_CAPACITY: usize = 5 * 1024 * 1024;

/// What an entry costs besides its key and value (nginx's node in the
/// zone's red-black tree and queue).
const ENTRY_OVERHEAD: usize = 64;

/// A value as the dict stores it.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    Bool(bool),
    Number(f64),
    Str(Box<[u8]>),
}

impl Stored {
    fn size(&self) -> usize {
        match self {
            Stored::Str(b) => b.len(),
            _ => 8,
        }
    }
}

struct Entry {
    value: Stored,
    flags: u32,
    /// `None`: never expires.
    expires: Option<Instant>,
    /// Last use, for eviction.
    used: u64,
}

impl Entry {
    fn expired(&self, now: Instant) -> bool {
        self.expires.is_some_and(|at| at <= now)
    }
}

/// One dict: its entries and the bytes they take.
pub struct Dict {
    capacity: usize,
    entries: HashMap<Box<[u8]>, Entry>,
    bytes: usize,
    clock: u64,
}

fn cost(key: &[u8], value: &Stored) -> usize {
    ENTRY_OVERHEAD + key.len() + value.size()
}

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
        Dict {
            capacity,
            entries: HashMap::new(),
            bytes: 0,
            clock: 0,
        }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// A live entry's value and flags (touching it), or an expired one's
    /// with `true` when `stale` is asked.
    fn get(&mut self, key: &[u8], stale: bool) -> Option<(Stored, u32, bool)> {
        let now = Instant::now();
        let tick = self.tick();
        let e = self.entries.get_mut(key)?;
        let expired = e.expired(now);
        if expired && !stale {
            return None;
        }
        e.used = tick;
        Some((e.value.clone(), e.flags, expired))
    }

    fn remove(&mut self, key: &[u8]) {
        if let Some((k, e)) = self.entries.remove_entry(key) {
            self.bytes -= cost(&k, &e.value);
        }
    }

    /// Frees room for `need` bytes: expired entries first, then the least
    /// recently used. False when it cannot (or may not) evict enough.
    fn make_room(&mut self, need: usize, evict: bool) -> Result<bool, ()> {
        if self.bytes + need <= self.capacity {
            return Ok(false);
        }
        let now = Instant::now();
        let expired: Vec<Box<[u8]>> = self
            .entries
            .iter()
            .filter(|(_, e)| e.expired(now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in expired {
            self.remove(&k);
        }
        if self.bytes + need <= self.capacity {
            return Ok(false);
        }
        if !evict || need > self.capacity {
            return Err(());
        }
        let mut by_use: Vec<(u64, Box<[u8]>)> = self
            .entries
            .iter()
            .map(|(k, e)| (e.used, k.clone()))
            .collect();
        by_use.sort_unstable();
        for (_, k) in by_use {
            if self.bytes + need <= self.capacity {
                break;
            }
            self.remove(&k);
        }
        Ok(true)
    }

    /// A write: `Ok(forcible)`, or OpenResty's error text.
    fn write(
        &mut self,
        how: Write,
        key: &[u8],
        value: Option<Stored>,
        ttl: Option<Duration>,
        flags: u32,
    ) -> Result<bool, &'static str> {
        let now = Instant::now();
        let live = self.entries.get(key).is_some_and(|e| !e.expired(now));
        match how {
            Write::Add | Write::SafeAdd if live => return Err("exists"),
            Write::Replace if !live => return Err("not found"),
            _ => {}
        }
        self.remove(key);
        let Some(value) = value else {
            return Ok(false);
        };
        let need = cost(key, &value);
        let evict = matches!(how, Write::Set | Write::Add | Write::Replace);
        let forcible = self.make_room(need, evict).map_err(|()| "no memory")?;
        let used = self.tick();
        self.bytes += need;
        self.entries.insert(
            key.into(),
            Entry {
                value,
                flags,
                expires: ttl.map(|t| now + t),
                used,
            },
        );
        Ok(forcible)
    }

    /// The bytes in use and the dict's size.
    pub fn usage(&self) -> (usize, usize) {
        (self.bytes, self.capacity)
    }

    /// Every live key (`get_keys`), at most `max` (0: all).
    pub fn keys(&self, max: usize) -> Vec<Box<[u8]>> {
        let now = Instant::now();
        let live = self
            .entries
            .iter()
            .filter(|(_, e)| !e.expired(now))
            .map(|(k, _)| k.clone());
        if max == 0 {
            live.collect()
        } else {
            live.take(max).collect()
        }
    }

    /// A live entry's value, untouched (the node's own reads).
    pub fn peek(&self, key: &[u8]) -> Option<&Stored> {
        let e = self.entries.get(key)?;
        (!e.expired(Instant::now())).then_some(&e.value)
    }

    /// `safe_set` without expiry or flags (the node's own writes).
    pub fn safe_set(&mut self, key: &[u8], value: Stored) -> bool {
        self.write(Write::SafeSet, key, Some(value), None, 0)
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

/// A key as lua-resty-core checks it: `nil key`, `empty key`, `key too
/// long`; other types as their `tostring`.
fn key_arg(v: Value<'_>) -> Result<Vec<u8>, &'static str> {
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
    let key = match key_arg(stack.get(0)) {
        Ok(k) => k,
        Err(e) => {
            refused(ctx, stack, e);
            return Ok(());
        }
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
    match kong().write(how, &key, value, ttl, flags) {
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
    let key = match key_arg(stack.get(0)) {
        Ok(k) => k,
        Err(e) => {
            refused(ctx, stack, e);
            return Ok(());
        }
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
        match key_arg(stack.get(0)) {
            Ok(key) => {
                kong().remove(&key);
                stack.replace(ctx, true);
            }
            Err(e) => refused(ctx, stack, e),
        }
        Ok(())
    });
    method(ctx, dict, "incr", incr);
    method(ctx, dict, "ttl", |ctx, stack| {
        let key = match key_arg(stack.get(0)) {
            Ok(k) => k,
            Err(e) => {
                refused(ctx, stack, e);
                return Ok(());
            }
        };
        let now = Instant::now();
        let d = kong();
        match d.entries.get(key.as_slice()).filter(|e| !e.expired(now)) {
            None => {
                drop(d);
                refused(ctx, stack, "not found");
            }
            Some(e) => {
                let left = e.expires.map_or(0.0, |at| (at - now).as_secs_f64());
                drop(d);
                stack.replace(ctx, number_value((left * 1000.0).round() / 1000.0));
            }
        }
        Ok(())
    });
    method(ctx, dict, "expire", |ctx, stack| {
        let key = match key_arg(stack.get(0)) {
            Ok(k) => k,
            Err(e) => {
                refused(ctx, stack, e);
                return Ok(());
            }
        };
        let ttl = ttl_arg(ctx, stack.get(1))?;
        let now = Instant::now();
        let mut d = kong();
        match d
            .entries
            .get_mut(key.as_slice())
            .filter(|e| !e.expired(now))
        {
            None => {
                drop(d);
                refused(ctx, stack, "not found");
            }
            Some(e) => {
                e.expires = ttl.map(|t| now + t);
                drop(d);
                stack.replace(ctx, true);
            }
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
        let mut d = kong();
        d.entries.clear();
        d.bytes = 0;
        drop(d);
        stack.replace(ctx, Value::Nil);
        Ok(())
    });
    method(ctx, dict, "flush_expired", |ctx, stack| {
        let max = number(stack.get(0)).map_or(0, |n| n.max(0.0) as usize);
        let now = Instant::now();
        let mut d = kong();
        let mut expired: Vec<Box<[u8]>> = d
            .entries
            .iter()
            .filter(|(_, e)| e.expired(now))
            .map(|(k, _)| k.clone())
            .collect();
        if max > 0 {
            expired.truncate(max);
        }
        for k in &expired {
            d.remove(k);
        }
        drop(d);
        stack.replace(ctx, expired.len() as i64);
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
    let key = match key_arg(stack.get(0)) {
        Ok(k) => k,
        Err(e) => {
            refused(ctx, stack, e);
            return Ok(());
        }
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
    let current = d
        .entries
        .get(key.as_slice())
        .filter(|e| !e.expired(now))
        .map(|e| (e.value.clone(), e.flags, e.expires));
    let answer = match (current, init) {
        (Some((Stored::Number(n), flags, expires)), _) => {
            let ttl = expires.map(|at| at.saturating_duration_since(now));
            let v = n + by;
            d.write(Write::Set, &key, Some(Stored::Number(v)), ttl, flags)
                .map(|forcible| (v, forcible))
        }
        (Some(_), _) => Err("not a number"),
        (None, None) => Err("not found"),
        (None, Some(init)) => {
            let v = init + by;
            d.write(Write::Set, &key, Some(Stored::Number(v)), init_ttl, 0)
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
}
