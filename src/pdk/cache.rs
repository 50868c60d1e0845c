//! `kong.cache`: Kong's node cache as functions use it — `get` with a
//! loader callback and `opts` (`ttl`, `neg_ttl`), `probe`,
//! `invalidate`/`invalidate_local` and `purge`.
//!
//! One cache per node, shared by every worker (Kong's shared-dict level),
//! bounded by `mem_cache_size` with the least recently used entries going
//! first ([`super::lru`]); an expired entry is dropped when read. Values
//! are stored as Kong's mlcache serializes them for its shared dict:
//! strings, numbers and booleans as themselves, tables as
//! JSON (cjson), a loader's `nil` as a negative entry; any other type is
//! refused with mlcache's "cannot cache value of type …". Every hit is a
//! fresh copy in the reading VM, so what one function does to a cached
//! table is never seen by another. There is no cluster to broadcast to:
//! `kong.cache.cluster_events` is absent, as Kong's sandbox hides it.
//!
//! The methods are glue chunks (`pdk/glue.rs`): `get` calls the loader,
//! which is Lua, and encodes and decodes tables with the VM's cjson.

use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lua_stdlib::{Callback, CallbackReturn, Context, Table, Value};

use super::configuration::MEM_CACHE_SIZE;
use super::glue::{self, Glue};
use super::lru::{Entry, Lru, Weight};

/// What a cached value is, as stored.
#[derive(Debug, Clone, PartialEq)]
enum Stored {
    /// A loader answered `nil` (a negative entry).
    Nil,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(Vec<u8>),
    /// A table, as cjson encoded it.
    Table(Vec<u8>),
}

impl Weight for Stored {
    fn weight(&self) -> usize {
        match self {
            Stored::Str(b) | Stored::Table(b) => b.len(),
            _ => 8,
        }
    }
}

/// The node's cache.
struct NodeCache(Lru<Stored>);

impl NodeCache {
    fn new(limit: usize) -> NodeCache {
        NodeCache(Lru::new(limit))
    }

    /// The live entry for `key`, marked used; an expired one is dropped.
    fn get(&mut self, key: &[u8], now: Instant) -> Option<&Entry<Stored>> {
        if self.0.peek(key, now).is_none() {
            self.0.remove(key);
            return None;
        }
        self.0.get(key, now)
    }

    /// Stores `value`, evicting the least recently used entries to make
    /// room; a value larger than the whole cache is not stored.
    fn insert(&mut self, key: &[u8], value: Stored, ttl: Option<Duration>, now: Instant) {
        let _ = self.0.insert(key, value, ttl.map(|d| now + d), now, true);
    }
}

static CACHE: LazyLock<Mutex<NodeCache>> =
    LazyLock::new(|| Mutex::new(NodeCache::new(MEM_CACHE_SIZE)));

/// The bytes the cache's entries take (by its own count) and its bound
/// (`kong.node.get_memory_stats`' `kong_db_cache`).
pub(super) fn usage() -> (usize, usize) {
    cache().0.usage()
}

fn cache() -> MutexGuard<'static, NodeCache> {
    // A panic while holding the lock leaves consistent maps (every
    // mutation is a few map calls): keep serving.
    CACHE.lock().unwrap_or_else(|p| p.into_inner())
}

/// A ttl in seconds as mlcache takes it: 0 (or none) is forever.
fn ttl_of(v: Value<'_>) -> Option<Duration> {
    let secs = match v {
        Value::Integer(n) => n as f64,
        Value::Number(f) => f,
        _ => 0.0,
    };
    (secs > 0.0 && secs.is_finite()).then(|| Duration::from_secs_f64(secs.min(1e9)))
}

/// `kong.cache:get(key, opts, cb, ...)`, after mlcache's `get`.
static GET: Glue = Glue::new(
    "=kong.cache.get",
    r#"local _, key, opts, cb = ...
if type(key) ~= "string" then error("key must be a string", 2) end
local ttl, neg_ttl
if opts ~= nil then
  if type(opts) ~= "table" then error("opts must be a table", 2) end
  ttl, neg_ttl = opts.ttl, opts.neg_ttl
  if ttl ~= nil then
    if type(ttl) ~= "number" then error("opts.ttl must be a number", 2) end
    if ttl < 0 then error("opts.ttl must be >= 0", 2) end
  end
  if neg_ttl ~= nil then
    if type(neg_ttl) ~= "number" then error("opts.neg_ttl must be a number", 2) end
    if neg_ttl < 0 then error("opts.neg_ttl must be >= 0", 2) end
  end
end
if cb ~= nil and type(cb) ~= "function" then error("callback must be a function", 2) end
local state, v = lookup(key)
if state == "table" then return cjson.decode(v), nil, 2 end
if state == "value" then return v, nil, 2 end
if state == "nil" then return nil, nil, 2 end
if cb == nil then return nil end
local ok, value, err, new_ttl = pcall(cb, select(5, ...))
if not ok then
  return nil, "failed to get from node cache: callback threw an error: " .. tostring(value)
end
if value == nil and err ~= nil then
  return nil, "failed to get from node cache: " .. tostring(err)
end
if new_ttl ~= nil then
  if type(new_ttl) ~= "number" then
    return nil, "failed to get from node cache: callback returned an invalid ttl: " .. tostring(new_ttl)
  end
  if new_ttl < 0 then return value, nil, 3 end
  if value == nil then neg_ttl = new_ttl else ttl = new_ttl end
end
local t = type(value)
if t == "table" then
  local json, e = cjson.encode(value)
  if not json then
    return nil, "failed to get from node cache: could not serialize table for lua_shared_dict insertion: " .. tostring(e)
  end
  store(key, "table", json, ttl)
elseif value == nil then
  store(key, "nil", nil, neg_ttl)
elseif t == "string" or t == "number" or t == "boolean" then
  store(key, "value", value, ttl)
else
  error("cannot cache value of type " .. t, 2)
end
return value, nil, 3
"#,
);

/// `kong.cache:probe(key)`: `ttl, nil, value`, or nothing on a miss.
static PROBE: Glue = Glue::new(
    "=kong.cache.probe",
    r#"local _, key = ...
if type(key) ~= "string" then error("key must be a string", 2) end
local state, v, ttl = lookup(key)
if state == nil then return nil end
if state == "table" then v = cjson.decode(v) end
return ttl, nil, v
"#,
);

/// `kong.cache:invalidate(key)` and `invalidate_local(key)`: one node,
/// so both remove the entry here.
static INVALIDATE: Glue = Glue::new(
    "=kong.cache.invalidate",
    r#"local _, key = ...
if type(key) ~= "string" then error("key must be a string", 2) end
delete(key)
"#,
);

/// Builds `kong.cache`.
pub fn install<'gc>(ctx: Context<'gc>, globals: Table<'gc>, kong: Table<'gc>) {
    let env = glue::private_env(ctx, globals);
    let _ = env.set(ctx, "cjson", lua_stdlib::ext::cjson::load_cjson_safe(ctx));
    let _ = env.set(ctx, "lookup", Callback::from_fn(&ctx, lookup));
    let _ = env.set(ctx, "store", Callback::from_fn(&ctx, store));
    let _ = env.set(
        ctx,
        "delete",
        Callback::from_fn(&ctx, |_, _, mut stack| {
            if let Value::String(k) = stack.get(0) {
                cache().0.remove(k.as_bytes());
            }
            stack.clear();
            Ok(CallbackReturn::Return)
        }),
    );
    let t = ctx.new_table();
    let _ = t.set(ctx, "get", GET.load(ctx, env));
    let _ = t.set(ctx, "probe", PROBE.load(ctx, env));
    let invalidate = INVALIDATE.load(ctx, env);
    let _ = t.set(ctx, "invalidate", invalidate);
    let _ = t.set(ctx, "invalidate_local", invalidate);
    let _ = t.set(
        ctx,
        "purge",
        Callback::from_fn(&ctx, |_, _, mut stack| {
            cache().0.clear();
            stack.clear();
            Ok(CallbackReturn::Return)
        }),
    );
    super::set(ctx, kong, "cache", t);
}

/// `lookup(key)` → nothing (miss), or the state (`"value"`, `"table"`
/// with its JSON, `"nil"`), the value and the seconds it has left (0:
/// forever).
fn lookup<'gc>(
    ctx: Context<'gc>,
    _: lua_stdlib::Execution<'gc, '_>,
    mut stack: lua_stdlib::Stack<'gc, '_>,
) -> Result<CallbackReturn<'gc>, lua_stdlib::Error<'gc>> {
    let Value::String(key) = stack.get(0) else {
        stack.clear();
        return Ok(CallbackReturn::Return);
    };
    let now = Instant::now();
    let mut cache = cache();
    let Some(entry) = cache.get(key.as_bytes(), now) else {
        stack.clear();
        return Ok(CallbackReturn::Return);
    };
    let left = entry.left(now).map_or(0.0, |d| d.as_secs_f64());
    let (state, value): (&str, Value<'gc>) = match &entry.value {
        Stored::Nil => ("nil", Value::Nil),
        Stored::Bool(b) => ("value", Value::Boolean(*b)),
        Stored::Int(n) => ("value", Value::Integer(*n)),
        Stored::Num(f) => ("value", Value::Number(*f)),
        Stored::Str(s) => ("value", ctx.intern(s).into()),
        Stored::Table(json) => ("table", ctx.intern(json).into()),
    };
    stack.replace(ctx, (state, value, left));
    Ok(CallbackReturn::Return)
}

/// `store(key, kind, value, ttl)`; the glue has checked the types.
fn store<'gc>(
    _: Context<'gc>,
    _: lua_stdlib::Execution<'gc, '_>,
    mut stack: lua_stdlib::Stack<'gc, '_>,
) -> Result<CallbackReturn<'gc>, lua_stdlib::Error<'gc>> {
    let (Value::String(key), Value::String(kind)) = (stack.get(0), stack.get(1)) else {
        stack.clear();
        return Ok(CallbackReturn::Return);
    };
    let value = match (kind.as_bytes(), stack.get(2)) {
        (b"nil", _) => Some(Stored::Nil),
        (b"table", Value::String(json)) => Some(Stored::Table(json.as_bytes().to_vec())),
        (b"value", Value::String(s)) => Some(Stored::Str(s.as_bytes().to_vec())),
        (b"value", Value::Integer(n)) => Some(Stored::Int(n)),
        (b"value", Value::Number(f)) => Some(Stored::Num(f)),
        (b"value", Value::Boolean(b)) => Some(Stored::Bool(b)),
        _ => None,
    };
    if let Some(value) = value {
        let ttl = ttl_of(stack.get(3));
        cache().insert(key.as_bytes(), value, ttl, Instant::now());
    }
    stack.clear();
    Ok(CallbackReturn::Return)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glue_compiles() {
        for g in [&GET, &PROBE, &INVALIDATE] {
            glue::check_compiles(g);
        }
    }

    #[test]
    fn least_recently_used_goes_first_when_full() {
        let now = Instant::now();
        let each = Lru::cost(b"k1", &Stored::Str(vec![0; 100]));
        let mut c = NodeCache::new(each * 3);
        for k in [b"k1", b"k2", b"k3"] {
            c.insert(k, Stored::Str(vec![0; 100]), None, now);
        }
        assert!(c.get(b"k1", now).is_some());
        c.insert(b"k4", Stored::Str(vec![0; 100]), None, now);
        assert!(
            c.get(b"k2", now).is_none(),
            "k2 was the least recently used"
        );
        for k in [b"k1", b"k3", b"k4"] {
            assert!(c.get(k, now).is_some());
        }
        assert_eq!(c.0.usage().0, each * 3);
        // Larger than the whole cache: not stored, nothing evicted.
        c.insert(b"big", Stored::Str(vec![0; each * 3]), None, now);
        assert!(c.get(b"big", now).is_none());
        assert_eq!(c.0.len(), 3);
    }

    #[test]
    fn expired_entries_are_misses() {
        let now = Instant::now();
        let mut c = NodeCache::new(1 << 20);
        c.insert(b"a", Stored::Int(1), Some(Duration::from_secs(5)), now);
        assert!(c.get(b"a", now + Duration::from_secs(4)).is_some());
        assert!(c.get(b"a", now + Duration::from_secs(5)).is_none());
        assert_eq!(c.0.usage().0, 0);
    }
}
