-- coroutines: create resume yield status wrap close isyieldable running,
-- passing values both ways, errors and dead coroutines
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  print(table.concat(t, " | "))
end

local co = coroutine.create(function(a, b)
  show("start", a, b)
  local c = coroutine.yield(a + b)
  show("got", c)
  local d, e = coroutine.yield(c * 2)
  show("got", d, e)
  return "done", 99
end)
show(type(co), coroutine.status(co))
show(coroutine.resume(co, 1, 2))
show(coroutine.status(co))
show(coroutine.resume(co, 10))
show(coroutine.resume(co, "x", "y"))
show(coroutine.status(co))
show(coroutine.resume(co))

local gen = coroutine.wrap(function()
  for i = 1, 3 do coroutine.yield(i) end
  return "end"
end)
show(gen(), gen(), gen(), gen())
show(pcall(gen))

local function range(n)
  return coroutine.wrap(function() for i = 1, n do coroutine.yield(i) end end)
end
local acc = {}
for v in range(5) do acc[#acc + 1] = v end
show(table.concat(acc, ","))

local failing = coroutine.create(function() error("oops") end)
show(coroutine.resume(failing))
show(coroutine.status(failing))
local failing2 = coroutine.create(function() error({code = 7}) end)
local ok, err = coroutine.resume(failing2)
show(ok, type(err), err.code)
local w = coroutine.wrap(function() error("wrapped", 0) end)
show(pcall(w))
local w2 = coroutine.wrap(function() error({}) end)
show(pcall(w2) == false)

show(coroutine.isyieldable(), select(2, coroutine.running()))
local main, ismain = coroutine.running()
show(type(main), ismain)
local inner = coroutine.create(function()
  local me, im = coroutine.running()
  show("inside", coroutine.isyieldable(), type(me), im, coroutine.status(me))
  return 1
end)
coroutine.resume(inner)
show(coroutine.status(inner))

local outer
outer = coroutine.create(function()
  local nested = coroutine.create(function()
    show("outer from nested", coroutine.status(outer))
    coroutine.yield()
  end)
  coroutine.resume(nested)
  show("nested", coroutine.status(nested))
end)
coroutine.resume(outer)

local c2 = coroutine.create(function() coroutine.yield(1) end)
coroutine.resume(c2)
show(coroutine.close(c2), coroutine.status(c2))
show(coroutine.close(coroutine.create(print)))
show(pcall(coroutine.resume, 42))
show(pcall(coroutine.create, 42))
show(pcall(coroutine.status, nil))
show(pcall(coroutine.yield, 1))
-- yield in the main thread, called from Lua: still no position
show(pcall(function() coroutine.yield() end))
show(pcall(function() local v = coroutine.yield(1, 2) return v end))
show(select("#", coroutine.resume(coroutine.create(function() return end))))
show(coroutine.resume(coroutine.create(function(...) return select("#", ...), ... end), nil, nil))

-- producer / consumer
local producer = coroutine.create(function()
  for _, item in ipairs({"a", "b", "c"}) do coroutine.yield(item) end
end)
local items = {}
while true do
  local _, item = coroutine.resume(producer)
  if item == nil then break end
  items[#items + 1] = item
end
show(table.concat(items), coroutine.status(producer))

-- closing a coroutine that died by an error reports the error once
local dead = coroutine.create(error)
show(coroutine.resume(dead, 100))
show(coroutine.close(dead))
show(coroutine.close(dead))

-- closing a suspended coroutine runs its pending __close, innermost first,
-- on the coroutine itself
local function closer(name, fail)
  return setmetatable({}, {__close = function(_, err)
    show("close", name, err, coroutine.status(coroutine.running()) == "running")
    if fail then error(name .. " failed", 0) end
  end})
end
local co2 = coroutine.create(function()
  local a <close> = closer("a")
  local b <close> = closer("b")
  coroutine.yield(1)
  show("never here")
end)
show(coroutine.resume(co2))
show(coroutine.close(co2), coroutine.status(co2))
show(coroutine.close(co2))

-- an error in a __close goes to the next ones and is close's answer
local co3 = coroutine.create(function()
  local a <close> = closer("a", true)
  local b <close> = closer("b", true)
  local c <close> = closer("c")
  coroutine.yield()
end)
coroutine.resume(co3)
show(coroutine.close(co3))
show(coroutine.status(co3), coroutine.close(co3))

-- closing itself from its own __close: it is the running coroutine
local co4
co4 = coroutine.create(function()
  local x <close> = setmetatable({}, {__close = function()
    show("inner close", pcall(coroutine.close, co4))
    coroutine.close(co4)
  end})
  coroutine.yield(20)
end)
show(coroutine.resume(co4))
local ok, msg = coroutine.close(co4)
show(ok, string.find(msg, "running coroutine") ~= nil)

-- a yield inside such a __close cannot cross the close
local co5 = coroutine.create(function()
  local x <close> = setmetatable({}, {__close = function() coroutine.yield("no") end})
  coroutine.yield()
end)
coroutine.resume(co5)
show(coroutine.close(co5))
show(coroutine.isyieldable(), coroutine.wrap(function()
  return coroutine.isyieldable(), string.gsub("a", ".", function() return tostring(coroutine.isyieldable()) end)
end)())

-- isyieldable of another coroutine (lua_isyieldable of that thread): a
-- suspended, dead or normal one is, the main thread is not, and a normal
-- one that resumed us from inside a non-yieldable call (a sort comparator,
-- a gsub replacement) is not
do
  local main = coroutine.running()
  local fresh = coroutine.create(function() coroutine.yield() end)
  show("fresh", coroutine.isyieldable(fresh))
  coroutine.resume(fresh)
  show("suspended", coroutine.isyieldable(fresh))
  coroutine.resume(fresh)
  show("dead", coroutine.isyieldable(fresh))
  local failed = coroutine.create(function() table.sort({2, 1}, function() error("in sort") end) end)
  coroutine.resume(failed)
  show("died in a comparator", coroutine.isyieldable(failed))
  show("main", coroutine.isyieldable(main))
  local outer
  local function peek(tag)
    local inner = coroutine.create(function()
      show(tag, coroutine.isyieldable(outer), coroutine.isyieldable(main), coroutine.isyieldable())
    end)
    assert(coroutine.resume(inner))
  end
  outer = coroutine.create(function()
    peek("normal")
    pcall(peek, "normal in pcall")
    table.sort({2, 1}, function(a, b) peek("normal in sort") return a < b end)
    string.gsub("a", "a", function() peek("normal in gsub") end)
    coroutine.wrap(function() peek("normal in wrap") end)()
    local _ = setmetatable({}, {__index = function() peek("normal in __index") end}).x
  end)
  assert(coroutine.resume(outer))
end
