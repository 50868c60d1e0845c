-- coroutines that yield across pcall, xpcall, metamethods and iterators,
-- errors caught inside and outside a coroutine, and what cannot yield
-- (a C-call boundary) failing with lua5.4's message
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  print(table.concat(t, " | "))
end
local function run(f, ...)
  local co = coroutine.create(f)
  local out = {}
  local args = table.pack(...)
  while true do
    local r = table.pack(coroutine.resume(co, table.unpack(args, 1, args.n)))
    for i = 1, r.n do r[i] = tostring(r[i]) end
    out[#out + 1] = table.concat(r, ",")
    if coroutine.status(co) == "dead" then break end
    args = table.pack("resumed" .. #out)
  end
  print(table.concat(out, " ; "))
end

-- yield inside pcall, the pcall returns normally afterwards
run(function()
  local ok, v = pcall(function() local x = coroutine.yield("in pcall") return "got " .. x end)
  return ok, v
end)
-- yield inside pcall, then an error caught by that pcall
run(function()
  local ok, e = pcall(function() coroutine.yield(1) coroutine.yield(2) error("after yields", 0) end)
  coroutine.yield(ok, e)
  return "end"
end)
-- nested pcalls with yields at every level
run(function()
  local ok1, ok2, e = pcall(function()
    coroutine.yield("outer")
    return pcall(function()
      coroutine.yield("inner")
      error({msg = "table error"})
    end)
  end)
  return ok1, ok2, type(e), e.msg
end)
-- xpcall: the handler runs at the error, after yields
run(function()
  return xpcall(function() coroutine.yield("x") error("boom", 0) end,
    function(m) return "handled " .. m end)
end)
-- a yield inside the message handler is across a C boundary
run(function()
  return xpcall(function() error("e", 0) end, function(m) coroutine.yield("in handler") return m end)
end)
-- an uncaught error after a yield kills the coroutine
run(function() coroutine.yield("once") error("dies", 0) end)
-- error values keep their type
run(function() coroutine.yield() error(42) end)

-- yield from metamethods
local mt = {
  __index = function(t, k) return coroutine.yield("index " .. k) end,
  __newindex = function(t, k, v) coroutine.yield("newindex " .. k) rawset(t, k, v) end,
  __add = function(a, b) return coroutine.yield("add") end,
  __lt = function(a, b) return coroutine.yield("lt") end,
  __le = function(a, b) return coroutine.yield("le") end,
  __eq = function(a, b) return coroutine.yield("eq") end,
  __concat = function(a, b) return coroutine.yield("concat") end,
  __len = function(a) return coroutine.yield("len") end,
  __unm = function(a) return coroutine.yield("unm") end,
  __call = function(self, a) return coroutine.yield("call " .. a) end,
}
run(function()
  local t = setmetatable({}, mt)
  local u = setmetatable({}, mt)
  local r = {t.foo, t + 1, t < u, t <= u, t == u, t .. "s", #t, -t, t("arg")}
  t.bar = 5
  return table.concat({tostring(r[1]), tostring(r[2]), tostring(r[3]), tostring(r[4]),
    tostring(r[5]), tostring(r[6]), tostring(r[7]), tostring(r[8]), tostring(r[9]), rawget(t, "bar")}, " ")
end)
-- __close may yield
run(function()
  do
    local c <close> = setmetatable({}, {__close = function() coroutine.yield("closing") end})
    coroutine.yield("body")
  end
  return "closed"
end)

-- yield from iterators
run(function()
  local function iter(s, i)
    if i >= 3 then return nil end
    coroutine.yield("iter " .. i)
    return i + 1
  end
  local sum = 0
  for i in iter, nil, 0 do sum = sum + i end
  return sum
end)
local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
local seen = {}
for v in gen do seen[#seen + 1] = v end
show(table.concat(seen, ","))
-- a wrapped coroutine's error propagates with its position
show(pcall(coroutine.wrap(function() error("wrapped") end)))
show(pcall(coroutine.wrap(function() coroutine.yield(1) end)))

-- C-call boundaries: table.sort comparators, gsub callbacks
for _, f in ipairs({
  function() table.sort({3, 1, 2}, function(a, b) coroutine.yield() return a < b end) end,
  function() string.gsub("abc", "%w", function(c) coroutine.yield(c) end) end,
}) do
  local co = coroutine.create(f)
  show(coroutine.resume(co))
  show(coroutine.status(co))
end

-- resume errors and pcall inside a coroutine that resumes another
local inner = coroutine.create(function() coroutine.yield("inner1") error("inner fails", 0) end)
run(function()
  local a = {coroutine.resume(inner)}
  coroutine.yield(table.concat({tostring(a[1]), tostring(a[2])}, "/"))
  local b = {pcall(coroutine.resume, inner)}
  return tostring(b[1]) .. "/" .. tostring(b[2]) .. "/" .. tostring(b[3])
end)
show(coroutine.resume(inner))
show(pcall(coroutine.yield))
show(coroutine.isyieldable(), type(coroutine.running()), select(2, coroutine.running()))
run(function() return coroutine.isyieldable(), pcall(coroutine.isyieldable) end)
run(function() return select(2, coroutine.running()) end)
