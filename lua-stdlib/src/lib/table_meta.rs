//! `table.insert remove move concat unpack sort` on tables whose metatable has
//! `__index`, `__newindex` or `__len`.
//!
//! lua5.4's table library goes through those metamethods (`lua_geti`,
//! `lua_seti`, `luaL_len`). Calling Lua from a Rust callback means a state
//! machine per function; instead these rare cases run a small Lua chunk,
//! compiled once per process and instantiated per VM, where ordinary
//! indexing does the metamethod calls. The Rust side has already checked the
//! argument types and passes the caller's position and the function's name,
//! so errors read exactly as the Rust versions' do.

use std::sync::OnceLock;

use piccolo::{Callback, CallbackReturn, Closure, Context, Execution, Stack, Table, Value};

use super::args::{position, LibResult};

/// The operations, dispatched on `op`. Arguments after `op where name
/// nargs` are the library function's own.
const SOURCE: &str = r#"
local op, where, name, nargs, t, a, b, c, d = ...
local function fail(msg) error(where .. msg) end
local function argerr(n, msg)
  fail("bad argument #" .. n .. " to '" .. name .. "' (" .. msg .. ")")
end
local function len(x)
  local n = tointeger(#x)
  if not n then fail("object length is not an integer") end
  return n
end
if op == "insert" then
  local e = len(t) + 1
  if nargs == 2 then
    t[e] = a
    return
  elseif nargs ~= 3 then
    fail("wrong number of arguments to 'insert'")
  end
  if a < 1 or a > e then argerr(2, "position out of bounds") end
  for i = e, a + 1, -1 do t[i] = t[i - 1] end
  t[a] = b
  return
elseif op == "remove" then
  local size = len(t)
  local pos = a
  if pos == nil then pos = size end
  if pos ~= size and (pos < 1 or pos > size + 1) then
    argerr(1, "position out of bounds")
  end
  local v = t[pos]
  while pos < size do
    t[pos] = t[pos + 1]
    pos = pos + 1
  end
  t[pos] = nil
  return v
elseif op == "move" then
  local n = b - a + 1
  if c > b or c <= a or not rawequal(t, d) then
    for i = 0, n - 1 do d[c + i] = t[a + i] end
  else
    for i = n - 1, 0, -1 do d[c + i] = t[a + i] end
  end
  return d
elseif op == "concat" then
  local j = c
  if j == nil then j = len(t) end
  local parts = {}
  local k = b
  while k <= j do
    local v = t[k]
    local ty = type(v)
    if ty ~= "string" and ty ~= "number" then
      fail("invalid value (" .. ty .. ") at index " .. k .. " in table for 'concat'")
    end
    parts[#parts + 1] = v
    if k == j then break end
    k = k + 1
  end
  return rawconcat(parts, a)
elseif op == "sort" then
  -- Sorts a raw copy with the Rust sort, then writes it back.
  local n = len(t)
  if n > 1 then
    if n >= 2147483647 then argerr(1, "array too big") end
    local r = {}
    for i = 1, n do r[i] = t[i] end
    -- Called through pcall so its errors carry the caller's position
    -- (comparison errors carry none, as in lua5.4).
    local ok, e = pcall(rawsort, r, a)
    if not ok then
      if type(e) == "string" and not e:find("^attempt to compare") then e = where .. e end
      error(e)
    end
    for i = 1, n do t[i] = r[i] end
  end
  return
elseif op == "unpack" then
  local j = b
  if j == nil then j = len(t) end
  if a > j then return end
  if j - a >= 1000000 or j - a < 0 then fail("too many results to unpack") end
  local r = {}
  for k = a, j do r[k - a + 1] = t[k] end
  return rawunpack(r, 1, j - a + 1)
end
"#;

fn chunk() -> Option<&'static crate::compiler::Chunk> {
    static CHUNK: OnceLock<Option<crate::compiler::Chunk>> = OnceLock::new();
    CHUNK
        .get_or_init(|| crate::compiler::compile(SOURCE.as_bytes(), "=[table]").ok())
        .as_ref()
}

/// Whether `table.*` must go through metamethods for `v`.
pub fn needs_meta<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> bool {
    match v {
        Value::Table(t) => t.metatable().is_some_and(|mt| {
            ["__index", "__newindex", "__len"]
                .iter()
                .any(|k| !mt.get(ctx, *k).is_nil())
        }),
        _ => false,
    }
}

/// Builds the closure running [`SOURCE`] in this VM.
pub fn instantiate<'gc>(
    ctx: Context<'gc>,
    raw_concat: Callback<'gc>,
    raw_unpack: Callback<'gc>,
    raw_sort: Callback<'gc>,
) -> Option<Closure<'gc>> {
    let env = Table::new(&ctx);
    let raise = Callback::from_fn(&ctx, |_, _, stack| Err(stack.get(0).into()));
    let tointeger = Callback::from_fn(&ctx, |ctx, _, mut stack| {
        let v = super::args::to_integer(stack.get(0)).map_or(Value::Nil, Value::Integer);
        stack.replace(ctx, v);
        Ok(CallbackReturn::Return)
    });
    let type_of = Callback::from_fn(&ctx, |ctx, _, mut stack| {
        let name = stack.get(0).type_name();
        stack.replace(ctx, ctx.intern_static(name.as_bytes()));
        Ok(CallbackReturn::Return)
    });
    let rawequal = Callback::from_fn(&ctx, |ctx, _, mut stack| {
        let eq = super::base::raw_equal(stack.get(0), stack.get(1));
        stack.replace(ctx, eq);
        Ok(CallbackReturn::Return)
    });
    let _ = env.set(ctx, "error", raise);
    let _ = env.set(ctx, "tointeger", tointeger);
    let _ = env.set(ctx, "type", type_of);
    let _ = env.set(ctx, "rawequal", rawequal);
    let _ = env.set(ctx, "rawconcat", raw_concat);
    let _ = env.set(ctx, "rawunpack", raw_unpack);
    let _ = env.set(ctx, "rawsort", raw_sort);
    let _ = env.set(
        ctx,
        "pcall",
        super::args::lib_fn(ctx, "pcall", super::base::pcall_fn()),
    );
    chunk()?.instantiate(ctx, env).ok()
}

/// Hands a call over to the Lua implementation: `args` are the library
/// function's arguments as checked by the caller.
pub fn call<'gc>(
    ctx: Context<'gc>,
    exec: &Execution<'gc, '_>,
    stack: &mut Stack<'gc, '_>,
    implementation: Closure<'gc>,
    op: &'static str,
    qualified_name: &'static str,
) -> LibResult<'gc, CallbackReturn<'gc>> {
    let name = if exec.upper_lua_frame().is_some() {
        qualified_name.rsplit('.').next().unwrap_or(qualified_name)
    } else {
        qualified_name
    };
    let nargs = stack.len() as i64;
    let prefix: [Value<'gc>; 4] = [
        Value::String(ctx.intern(op.as_bytes())),
        Value::String(ctx.intern(position(exec).as_bytes())),
        Value::String(ctx.intern(name.as_bytes())),
        Value::Integer(nargs),
    ];
    for v in prefix.into_iter().rev() {
        stack.push_front(v);
    }
    Ok(CallbackReturn::Call {
        function: implementation.into(),
        then: None,
    })
}
