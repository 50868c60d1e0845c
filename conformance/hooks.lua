-- debug.sethook on coroutines and around Rust functions: the events a
-- hook sees, in order, with the hooked function's name and kind.

local function tracer(t)
  return function(ev, l)
    local info = debug.getinfo(2, "nS")
    t[#t + 1] = ev .. (l and (":" .. l) or "") .. " " .. tostring(info and info.name)
      .. " " .. (info and info.what or "?")
  end
end

local function show(name, t)
  print(name, #t)
  for i, v in ipairs(t) do print("", i, v) end
end

do -- a hook set on a suspended coroutine sees its calls, lines, returns
  local co = coroutine.create(function(a)
    local b = coroutine.yield(a + 1)
    return b * 2
  end)
  local t = {}
  debug.sethook(co, tracer(t), "clr")
  print(coroutine.resume(co, 1))
  print(coroutine.resume(co, 5))
  print(coroutine.resume(co))
  show("suspended", t)
  print(debug.gethook(co) ~= nil, debug.gethook() == nil)
end

do -- the official suite's single trace (coroutine.lua)
  local co = coroutine.create(function ()
    coroutine.yield(10)
    return 20;
  end)
  local trace = {}
  debug.sethook(co, function(ev) trace[#trace + 1] = ev end, "clr")
  repeat until not coroutine.resume(co)
  print(table.concat(trace, " "))
end

do -- a coroutine sets its own hook; the main thread is not traced
  local t = {}
  local co = coroutine.wrap(function()
    debug.sethook(tracer(t), "cr")
    local x = math.max(1, 2)
    coroutine.yield(x)
    debug.sethook()
    return x
  end)
  print(co(), co())
  show("own hook", t)
  print(debug.gethook())
end

do -- a new coroutine copies its creator's mask and count, not its function
  local t = {}
  local co
  local function body()
    co = coroutine.create(function() local x = 1; coroutine.yield(x); return x end)
    return debug.gethook(co) ~= nil
  end
  debug.sethook(tracer(t), "r", 100000)
  local inherited = body()
  debug.sethook()
  print("inherited", inherited, select('#', debug.gethook(co)))
  print(debug.gethook(co))
  coroutine.resume(co)
  coroutine.resume(co)
  show("creator's trace", t)
  local w = coroutine.wrap(function() return debug.gethook() end)
  print(w())
end

do -- returns of Rust functions that call Lua or resume coroutines
  local t = {}
  local f = coroutine.wrap(function() coroutine.yield(1) end)
  local g = coroutine.create(function() return 1 end)
  debug.sethook(tracer(t), "cr")
  f()
  coroutine.resume(g)
  pcall(function() end)
  table.sort({3, 2, 1}, function(a, b) return a < b end)
  local ok = pcall(error, "x")
  xpcall(error, function(m) return m end, "y")
  local s = string.gsub("ab", ".", function(c) return c end)
  debug.sethook()
  show("rust functions", t)
end

do -- return hooks only: every Lua return is seen
  local t = {}
  local function body() local x = math.abs(-1); return x end
  local function one() return 1 end
  local function none() end
  debug.sethook(tracer(t), "r")
  body(); one(); none()
  local v = one() + one()
  debug.sethook()
  show("returns", t)
end

do -- line hooks across yields
  local t = {}
  local co = coroutine.create(function()
    for i = 1, 2 do
      coroutine.yield(i)
    end
    return "end"
  end)
  debug.sethook(co, tracer(t), "l")
  while coroutine.status(co) ~= "dead" do coroutine.resume(co) end
  show("lines", t)
end

do -- a count hook on a coroutine
  local n = 0
  local co = coroutine.create(function() for i = 1, 100 do end return 1 end)
  debug.sethook(co, function(ev) n = n + 1 end, "", 10)
  coroutine.resume(co)
  print("count", n > 5, n < 100, coroutine.status(co), debug.gethook(co) ~= nil)
end

do -- an error inside a hooked coroutine
  local t = {}
  local co = coroutine.create(function() local x; return x.y end)
  debug.sethook(co, tracer(t), "cr")
  print(coroutine.resume(co))
  show("error", t)
end

do -- what a line hook sees as the current line of the hooked function
  local t = {}
  local function f(a)
    local s = 0
    for i = 1, a do
      s = s + i
    end
    return s
  end
  debug.sethook(function(ev, l)
    t[#t + 1] = l .. "=" .. debug.getinfo(2, "l").currentline
  end, "l")
  f(2)
  debug.sethook()
  print("current lines", table.concat(t, " "))
end

do -- instructions a count hook counts: not a generic for's TFORCALL after
   -- TFORPREP nor its TFORLOOP; the hook's own instructions count
  local T = {1, 2, 3, a = 4}
  local n = 0
  local function h() n = n + 1 end
  debug.sethook(h, "", 1)
  for k, v in pairs(T) do end
  debug.sethook()
  print("generic for", n)
  n = 0
  debug.sethook(h, "", 1)
  for i = 1, 4 do end
  debug.sethook()
  print("numeric for", n)
  n = 0
  debug.sethook(h, "", 3)
  for i = 1, 30 do end
  debug.sethook()
  print("count 3", n)
end
