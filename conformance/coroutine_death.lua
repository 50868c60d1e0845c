-- A coroutine that dies by an error no pcall inside it catches: lua5.4
-- leaves it where it stopped (its stack for debug.traceback/getinfo/
-- getlocal, its upvalues open) and runs its pending __close metamethods
-- only when it is closed (coroutine.close, or at once by coroutine.wrap).

local function closer(name, log, raise)
  return setmetatable({}, {__close = function(_, err)
    log[#log + 1] = name .. "(" .. tostring(err) .. ")"
    if raise then error(raise, 0) end
  end})
end

-- resume: nothing closed until coroutine.close, which passes the error
local log = {}
local co = coroutine.create(function(a)
  local x <close> = closer("x", log)
  local y <close> = closer("y", log)
  local function inner(b)
    local z <close> = closer("z", log)
    error("E" .. b, 0)
  end
  inner(a + 1)
end)
print("resume", coroutine.resume(co, 1))
print("status", coroutine.status(co), "closed:", #log)
print(debug.traceback(co))
print(debug.traceback(co, "msg", 1))
local i0, i1, i2 = debug.getinfo(co, 0, "Sn"), debug.getinfo(co, 1, "Sln"), debug.getinfo(co, 2, "Sl")
print("levels", i0.what, i0.name, i1.what, i1.currentline, i1.name, i2.what, i2.currentline,
  debug.getinfo(co, 3))
print("locals", debug.getlocal(co, 1, 1), debug.getlocal(co, 1, 2), debug.getlocal(co, 2, 1))
print("resume again", coroutine.resume(co))
print("close", coroutine.close(co))
print("log", table.concat(log, " "))
print("close again", coroutine.close(co))
print("status", coroutine.status(co))

-- a __close that raises replaces the error for the next ones and the result
log = {}
co = coroutine.create(function()
  local x <close> = closer("x", log)
  local y <close> = closer("y", log, "from y")
  error("first", 0)
end)
print("resume", coroutine.resume(co))
print("close", coroutine.close(co))
print("log", table.concat(log, " "))

-- non-string error values reach __close unchanged
log = {}
co = coroutine.create(function()
  local x <close> = setmetatable({}, {__close = function(_, e)
    log[#log + 1] = type(e) .. ":" .. tostring(e.code)
  end})
  error({code = 5})
end)
local ok, e = coroutine.resume(co)
print("table error", ok, type(e), e.code, #log)
local ok2, e2 = coroutine.close(co)
print("closed", ok2, e2 == e, table.concat(log, " "))

-- wrap closes at once; a string error gets the caller's position
log = {}
local w = coroutine.wrap(function()
  local x <close> = closer("x", log)
  local y <close> = closer("y", log)
  error("W", 0)
end)
print("wrap", pcall(w))
print("log", table.concat(log, " "))
print("wrap dead", pcall(w))
log = {}
w = coroutine.wrap(function()
  local x <close> = closer("x", log)
  local y <close> = closer("y", log, "from y")
  error("W", 0)
end)
print("wrap replaced", pcall(w))
print("log", table.concat(log, " "))
w = coroutine.wrap(function()
  local x <close> = closer("x", log)
  local t = nil
  return t.field
end)
print("wrap runtime", pcall(w))

-- a yield inside __close while the coroutine is being closed is refused
co = coroutine.create(function()
  local x <close> = setmetatable({}, {__close = function() coroutine.yield(1) end})
  error("Y", 0)
end)
print("resume", coroutine.resume(co))
print("close", coroutine.close(co))

-- upvalues of a dead coroutine's locals stay readable and writable
local get
co = coroutine.create(function()
  local a = 10
  get = function() a = a + 1; return a end
  error("dead")
end)
print(select("#", coroutine.resume(co)), get(), get())
print(coroutine.resume(co, 1, 2, 3), get())

-- inside pcall the coroutine recovers; its variables close then
log = {}
co = coroutine.create(function()
  local ok, err = pcall(function()
    local x <close> = closer("x", log)
    error("caught", 0)
  end)
  coroutine.yield(ok, err, table.concat(log, " "))
  return "end"
end)
print(coroutine.resume(co))
print(coroutine.resume(co))
