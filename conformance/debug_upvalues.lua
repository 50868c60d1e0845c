-- debug.getupvalue / setupvalue / upvalueid / upvaluejoin and
-- getinfo(f, "u").nups on Lua closures and on library functions that are
-- C closures in lua5.4 (a `string.gmatch` iterator: subject, pattern,
-- state), and on those that have no upvalues (`print`).

local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do
    local v = t[i]
    t[i] = (type(v) == "userdata" or type(v) == "table" or type(v) == "function")
      and type(v) or string.format("%q", v)
  end
  return table.concat(t, " ", 1, t.n) .. " (" .. t.n .. ")"
end

local it = string.gmatch("a1 b2 c3", "%a(%d)")
print("nups", debug.getinfo(it, "u").nups, debug.getinfo(print, "u").nups)
for i = 0, 4 do
  print("getupvalue", i, show(debug.getupvalue(it, i)))
end
print("setupvalue", show(debug.setupvalue(it, 1, "zzz")))
print("after set", show(debug.getupvalue(it, 1)))
print("iterates", it(), it(), it(), it())
print("setupvalue 9", show(debug.setupvalue(it, 9, 1)))
print("print", show(debug.getupvalue(print, 1)), show(debug.setupvalue(print, 1, 2)))

-- ids: a C closure's upvalues have ids, distinct per slot and per closure
local it2 = string.gmatch("x", "x")
local id1, id2 = debug.upvalueid(it, 1), debug.upvalueid(it, 2)
print("ids", type(id1), id1 == debug.upvalueid(it, 1), id1 ~= id2,
  id1 ~= debug.upvalueid(it2, 1), debug.upvalueid(it, 4), debug.upvalueid(print, 1))
print("ids bad index", pcall(debug.upvalueid, it, 0))

-- Lua closures sharing upvalues
local function counter()
  local n, step = 0, 1
  return function() n = n + step; return n end, function() return n end
end
local inc, get = counter()
local inc2 = counter()
print("lua ids", debug.upvalueid(inc, 1) == debug.upvalueid(get, 1),
  debug.upvalueid(inc, 1) ~= debug.upvalueid(inc2, 1),
  debug.upvalueid(inc, 3))
print("lua names", debug.getupvalue(inc, 1), debug.getupvalue(inc, 2), debug.getupvalue(get, 1))
inc(); inc()
print("lua values", select(2, debug.getupvalue(get, 1)), debug.setupvalue(get, 1, 10), inc())

-- upvaluejoin: only between Lua functions, with valid indices
print(pcall(debug.upvaluejoin, it, 1, inc, 1))
print(pcall(debug.upvaluejoin, inc, 1, it, 1))
print(pcall(debug.upvaluejoin, inc, 5, get, 1))
print(pcall(debug.upvaluejoin, inc, 1, get, 5))
print(pcall(debug.upvaluejoin, print, 1, get, 1))
print(pcall(debug.upvaluejoin, {}, 1, get, 1))
print(pcall(debug.getupvalue, {}, 1))
print(pcall(debug.setupvalue, inc, 1))
debug.upvaluejoin(inc2, 1, inc, 1)
print("joined", inc2(), get(), debug.upvalueid(inc2, 1) == debug.upvalueid(get, 1))

-- coroutine.wrap's function: a C closure over its coroutine (one upvalue
-- named "", the thread, with an id)
local co_body = function() coroutine.yield(1) end
local wrapped = coroutine.wrap(co_body)
local wi = debug.getinfo(wrapped, "uS")
print("wrap", wi.nups, wi.nparams, wi.isvararg, wi.what)
local wname, wco = debug.getupvalue(wrapped, 1)
print("wrap upvalue", wname == "", type(wco), coroutine.status(wco), debug.getupvalue(wrapped, 2))
wrapped()
print("wrap after", coroutine.status(wco), type(debug.upvalueid(wrapped, 1)))
print(pcall(debug.upvalueid, wrapped, 2))
