-- runtime error messages with the variable names lua5.4 gives them:
-- (local 'x'), (global 'x'), (field 'x'), (upvalue 'x'), (method 'x'),
-- (constant 'x'), in loops and out of them, with chunk:line: positions
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  print(table.concat(t, " | "))
end
local function try(f, ...) show(pcall(f, ...)) end

local up
local up2 = setmetatable({}, {__call = 42})
local cases = {
  function() local x; return x.y end,
  function() local x; x.y = 1 end,
  function() return undefined_global.y end,
  function() undefined_global.y = 1 end,
  function() local t = {} return t.a.b end,
  function() local t = {} t.a.b = 1 end,
  function() local t = {a = {}} return t.a.b.c end,
  function() return up.field end,
  function() return up() end,
  function() local x; x() end,
  function() undefined_fn() end,
  function() local t = {} t.method() end,
  function() local t = {} t:method() end,
  function() local s = "str" s:nomethod() end,
  function() local t = {inner = {}} t.inner:m() end,
  function() local t = {} return t[1].x end,
  function() local t, k = {}, "key" return t[k].x end,
  function() local x = 1; return x.y end,
  function() local x = true; return x[1] end,
  function() local f = print; return f.x end,
  function() return ("x").y.z end,
  function() local x; return x + 1 end,
  function() local x = {}; return 1 + x end,
  function() return undefined_global * 2 end,
  function() local t = {} return t.n - 1 end,
  function() return up % 2 end,
  function() local x = "a"; return -x end,
  function() local x; return #x end,
  function() return #undefined_global end,
  function() local t = {} return #t.f end,
  function() local x; return x .. "s" end,
  function() local t = {} return "s" .. t.name end,
  function() return "a" .. undefined_global .. "b" end,
  function() local x = {}; return x < 1 end,
  function() local a, b = {}, {}; return a <= b end,
  function() return 1 < "2" end,
  function() local x; return x & 1 end,
  function() local x = 1.5; return x | 1 end,
  function() local t = {v = 2.5} return t.v >> 1 end,
  function() local x = 3; x() end,
  function() local t = {f = 1} t.f() end,
  function() (nil)() end,
  function() local x <const> = nil; return x.y end,
  function() local k <const> = "key"; local t = {} return t[k].z end,
  function() for i = 1, 2 do local x; x.y = i end end,
  function() local t = {} for i = 1, 2 do t = t[i] end return t.x end,
  function() local t = {} while true do t.a.b = 1 end end,
  function() for _, v in ipairs({1}) do v.x = 1 end end,
  function() for k in pairs({a = 1}) do k() end end,
  function() return setmetatable({}, {__index = function(t, k) return k.x.y end}).key end,
  function() return "a" | 1 end,
  function() local x <const> = "abc"; return x & 1 end,
  function() return ("str")() end,
  function() local mt = {__add = 1} return setmetatable({}, mt) + 1 end,
  function() for i = 1, 10, 0 do end end,
  function() for i = 1, {} do end end,
  function() for i = "a", 2 do end end,
  function() for i = 1, 2, "x" do end end,
  -- a `__call` that is not callable: the value finally tried is named
  function() local t = setmetatable({}, {__call = 42}) t() end,
  function() return up2() end,
  function() local x = setmetatable({}, {__call = setmetatable({}, {__call = 42})}) x() end,
  -- a call spanning lines (the line is the same in 5.4.4 and 5.4.8 here)
  function() local t = {} t.missing(
    1) end,
}
for i, f in ipairs(cases) do
  local ok, err = pcall(f)
  print(i, ok, err)
end

-- called from C (pcall): no variable to name
show(pcall(setmetatable({}, {__call = 42})))
show(pcall(setmetatable({}, {__call = setmetatable({}, {__call = 42})})))
show(pcall(setmetatable({}, {__call = setmetatable({}, {__call = select})}), "#", 1, 2))

-- error objects and levels
local function lvl1() error("msg", 1) end
local function lvl2() error("msg", 2) end
local function call2() lvl2() end
try(lvl1)
try(call2)
try(function() error("no position", 0) end)
show(select(2, pcall(function() error({code = 1}) end)).code)
try(function() error(setmetatable({}, {__tostring = function() return "obj" end})) end)
try(function() local t = nil; t.x = error end)
