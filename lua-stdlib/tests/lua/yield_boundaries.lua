-- Where a coroutine may yield and where lua5.4 refuses: across Rust
-- callbacks called as lua_call calls (sort comparators, gsub
-- replacements, table functions reaching __index/__newindex/__lt, message
-- handlers) it is "attempt to yield across a C-call boundary"; across
-- pcall, metamethods of instructions and for-in iterators it works.

local function run(name, f, ...)
  local co = coroutine.create(f)
  local out = {}
  local args = table.pack(...)
  while true do
    local r = table.pack(coroutine.resume(co, table.unpack(args, 1, args.n)))
    if not r[1] then
      out[#out + 1] = "error: " .. tostring(r[2])
      break
    end
    if coroutine.status(co) == "dead" then
      out[#out + 1] = "done"
      for i = 2, r.n do out[#out + 1] = tostring(r[i]) end
      break
    end
    out[#out + 1] = "yielded"
    for i = 2, r.n do out[#out + 1] = tostring(r[i]) end
    args = table.pack(r.n)
  end
  print(name, table.concat(out, " "))
end

-- refused
run("sort", function()
  local t = {3, 1, 2}
  table.sort(t, function(a, b) coroutine.yield(a) return a < b end)
  return t[1]
end)
run("sort caught", function()
  local ok, e = pcall(table.sort, {3, 1, 2}, function(a, b) coroutine.yield() return a < b end)
  return ok, e
end)
run("gsub", function()
  return (string.gsub("abc", "%w", function(c) coroutine.yield(c) return c end))
end)
run("sort __lt", function()
  local mt = {__lt = function(a, b) coroutine.yield("lt") return a.v < b.v end}
  local t = {setmetatable({v = 2}, mt), setmetatable({v = 1}, mt)}
  table.sort(t)
  return t[1].v
end)
run("concat __index", function()
  local t = setmetatable({n = 2}, {__index = function(_, k) coroutine.yield(k) return "x" end, __len = function() return 2 end})
  return table.concat(t, ",")
end)
run("insert __newindex", function()
  local t = setmetatable({}, {__newindex = function(t, k, v) coroutine.yield(k) rawset(t, k, v) end})
  table.insert(t, "a")
  return rawget(t, 1)
end)
run("unpack __index", function()
  local t = setmetatable({}, {__index = function(_, k) coroutine.yield(k) return k end})
  return table.unpack(t, 1, 2)
end)
run("xpcall handler", function()
  return xpcall(error, function(m) coroutine.yield("h") return m end, "boom")
end)
run("refused then fine", function()
  pcall(table.sort, {2, 1}, function() coroutine.yield() end)
  coroutine.yield("after")
  return "end"
end)
print("main", pcall(coroutine.yield, 1))

-- allowed
run("pcall", function()
  local ok, v = pcall(function() return coroutine.yield("in pcall") + 1 end)
  return ok, v
end)
run("xpcall", function()
  return xpcall(function() return coroutine.yield("in xpcall") end, debug and debug.traceback or print)
end)
run("nested pcall error", function()
  return pcall(function()
    coroutine.yield(1)
    error("late")
  end)
end)
local mt = {}
mt.__index = function(t, k) return coroutine.yield("index " .. k) end
mt.__newindex = function(t, k, v) coroutine.yield("newindex " .. k) rawset(t, k, v) end
mt.__add = function(a, b) return coroutine.yield("add") end
mt.__lt = function(a, b) return coroutine.yield("lt") end
mt.__le = function(a, b) return coroutine.yield("le") end
mt.__concat = function(a, b) return coroutine.yield("concat") end
mt.__call = function(self, x) return coroutine.yield("call " .. x) end
mt.__len = function() return coroutine.yield("len") end
mt.__eq = function() return coroutine.yield("eq") end
mt.__unm = function() return coroutine.yield("unm") end
run("metamethods", function()
  local a = setmetatable({}, mt)
  local b = setmetatable({}, mt)
  local r = {}
  r[#r + 1] = a.x
  a.y = 1
  r[#r + 1] = a + 1
  r[#r + 1] = tostring(a < b)
  r[#r + 1] = tostring(a <= b)
  r[#r + 1] = a .. "s"
  r[#r + 1] = a(5)
  r[#r + 1] = #a
  r[#r + 1] = tostring(a == b)
  r[#r + 1] = -a
  return table.concat(r, ",")
end)
run("for-in iterator", function()
  local s = 0
  for i, v in function(_, i) if i < 3 then return i + 1, coroutine.yield(i) end end, nil, 0 do
    s = s + i
  end
  return s
end)
run("pairs __pairs", function()
  local t = setmetatable({}, {__pairs = function(t)
    coroutine.yield("pairs")
    return next, {1, 2}, nil
  end})
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end)
run("wrap inside sort is fine", function()
  local t = {3, 1, 2}
  table.sort(t, function(a, b)
    local gen = coroutine.wrap(function() coroutine.yield(a < b) end)
    return gen()
  end)
  return table.concat(t, ",")
end)
run("close", function()
  do
    local x <close> = setmetatable({}, {__close = function() coroutine.yield("closing") end})
    coroutine.yield("body")
  end
  return "closed"
end)

-- lua5.4's other C boundaries: __tostring under print/tostring, __index
-- under ipairs, load's reader function (load catches the error)
local ts = {__tostring = function() coroutine.yield("ts") return "x" end}
run("print __tostring", function() print(setmetatable({}, ts)) end)
run("tostring __tostring", function() return tostring(setmetatable({}, ts)) end)
run("ipairs __index", function()
  local t = setmetatable({}, {__index = function(_, k) if k < 3 then coroutine.yield(k) return k end end})
  for _ in ipairs(t) do end
  return "ok"
end)
run("load reader", function() return load(function() coroutine.yield("r") return nil end) end)
run("isyieldable in __tostring", function()
  return tostring(setmetatable({}, {__tostring = function() return tostring(coroutine.isyieldable()) end}))
end)
run("isyieldable in ipairs __index", function()
  local r
  for _ in ipairs(setmetatable({}, {__index = function(_, k) if k == 1 then r = coroutine.isyieldable() return 1 end end})) do end
  return r
end)
run("isyieldable in a reader", function()
  local r, n = nil, 0
  load(function() n = n + 1 if n == 1 then r = coroutine.isyieldable() return "return 1" end end)
  return r
end)
