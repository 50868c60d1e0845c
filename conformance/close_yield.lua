-- Yields inside __close handlers while an error unwinds through a
-- protected call in a coroutine (lua5.4's finishpcallk closes with yields
-- allowed), and the error reported after the coroutine is resumed.

local function closer(name, log, yieldit, raise)
  return setmetatable({}, {__close = function(_, err)
    log[#log + 1] = name .. ":" .. (type(err) == "table" and "{table}" or tostring(err))
    if yieldit then
      local got = coroutine.yield(name)
      log[#log + 1] = name .. " resumed with " .. tostring(got)
    end
    if raise then error(raise, 0) end
  end})
end

local function run(label, body)
  local log = {}
  local co = coroutine.wrap(function()
    return "done", pcall(body, log)
  end)
  local out = {}
  local step = 0
  repeat
    step = step + 1
    local r = table.pack(co(step))
    for i = 1, r.n do r[i] = tostring(r[i]) end
    out[#out + 1] = table.concat(r, ",", 1, r.n)
  until r[1] == "done"
  print(label, table.concat(out, " | "))
  print("", table.concat(log, " "))
end

-- the body raises; every handler yields; the error comes back after
run("body error", function(log)
  local a <close> = closer("a", log, true)
  local b <close> = closer("b", log, true)
  error("boom", 0)
end)

-- a handler replaces the error after yielding; the next one sees the new one
run("replaced", function(log)
  local a <close> = closer("a", log, true)
  local b <close> = closer("b", log, true, "second")
  local c <close> = closer("c", log, true)
  error("first", 0)
end)

-- a normal return whose handler raises; the rest close with its error
run("raised on return", function(log)
  local a <close> = closer("a", log, true)
  local b <close> = closer("b", log, false, "from b")
  local c <close> = closer("c", log, true)
  return 1, 2
end)

-- error objects that are not strings, and nested functions
run("nested", function(log)
  local a <close> = closer("outer", log, true)
  local function inner()
    local b <close> = closer("inner", log, true)
    error({code = 42})
  end
  local ok, e = pcall(inner)
  log[#log + 1] = "inner pcall: " .. tostring(ok) .. " " .. tostring(type(e) == "table" and e.code)
  error(7)
end)

-- xpcall: the handler sees the error before the variables close
local log = {}
local co = coroutine.create(function()
  return xpcall(function()
    local a <close> = closer("x", log, true)
    error("err", 0)
  end, function(m) log[#log + 1] = "handler:" .. m; return "handled " .. m end)
end)
print(coroutine.resume(co))
print(coroutine.resume(co, "again"))
print(coroutine.status(co), table.concat(log, " "))

-- yields inside __close while an error unwinds, many times over
local co2 = coroutine.wrap(function()
  local n = 0
  for i = 1, 50 do
    local ok, e = pcall(function()
      local v <close> = setmetatable({}, {__close = function(_, e)
        n = n + coroutine.yield(e)
      end})
      error(i, 0)
    end)
    assert(not ok and e == i)
  end
  return "total", n
end)
local v, n = co2()
while v ~= "total" do v, n = co2(1) end
print(v, n)

-- the error left a function that forbids yields (a sort comparator, a
-- gsub replacement): the pcall's level is what counts while closing
for _, case in ipairs{
  {"sort", function(cmp) return pcall(table.sort, {3, 2, 1}, cmp) end},
  {"gsub", function(rep) return pcall(string.gsub, "abc", "%w", rep) end},
} do
  local co = coroutine.wrap(function()
    return case[2](function()
      local x <close> = setmetatable({}, {__close = function(_, e)
        coroutine.yield("in close", e, coroutine.isyieldable())
      end})
      error(case[1], 0)
    end)
  end)
  print(case[1], co())
  print(case[1], co())
end

-- without a protected call, the yield inside the callback is refused
print(pcall(coroutine.wrap(function()
  table.sort({3, 2, 1}, function() coroutine.yield() end)
end)))
