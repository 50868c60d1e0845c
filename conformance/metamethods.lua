-- every metamethod's calling convention as lua5.4 has it, beyond
-- metatables.lua: operands in both orders and mixed with numbers and
-- strings, result conversions, __eq/__lt/__le rules, __index/__newindex
-- chains and loops, __call chains, __pairs, __len, __tostring/__name,
-- __metatable, __close arguments (__gc and __mode: gc.lua, weak_tables.lua)
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  print(table.concat(t, " | "))
end

local log = {}
local function tag(v) return type(v) == "table" and (rawget(v, "name") or "?") or tostring(v) end
local M = {}
for _, ev in ipairs({"add", "sub", "mul", "div", "mod", "pow", "unm", "idiv",
                     "band", "bor", "bxor", "shl", "shr", "bnot", "concat"}) do
  M["__" .. ev] = function(a, b) return ev .. "(" .. tag(a) .. "," .. tag(b) .. ")" end
end
local A = setmetatable({name = "A"}, M)
show(A + 1, 1 + A, A - "2", "2" - A, A * A, 2.5 / A, A % 0, A ^ A)
show(-A, A // 1, 3 & A, A | 1.5, A ~ "x", 1 << A, A >> 2, ~A)
show(A .. "s", "s" .. A, 1 .. A, A .. 2.5, "a" .. "b" .. A .. "c")
-- the first operand's metamethod wins, else the second's
local B = setmetatable({name = "B"}, {__add = function(a, b) return "B's add" end})
show(A + B, B + A, B + 1, 1 + B)
show(pcall(function() return B - 1 end))
show(pcall(function() return {} + B end))
-- bitwise on floats without an integer value goes to the metamethod
local Bw = setmetatable({}, {__band = function(a, b) return "band " .. type(a) .. " " .. type(b) end})
show(1.5 & Bw, Bw & 2^70)
show(pcall(function() return 1.5 & 1 end))
show(pcall(function() return "1" & 1 end))

-- __eq: only between two tables (or two userdata), result is a boolean,
-- not called for the same object or for primitive operands
local eqcalls = 0
local E = {__eq = function(a, b) eqcalls = eqcalls + 1 return "truthy" end}
local e1, e2 = setmetatable({}, E), setmetatable({}, E)
show(e1 == e2, e1 ~= e2, e1 == e1, e1 == 1, 1 == e1, e1 == "x", eqcalls)
local e3 = setmetatable({}, {__eq = function() return nil end})
show(e1 == e3, e3 == e1, e3 == {}, {} == e3)
-- __lt and __le: results become booleans; __le does not fall back to __lt
local L = {__lt = function(a, b) return 1 end}
local l1, l2 = setmetatable({}, L), setmetatable({}, L)
show(l1 < l2, l1 > l2, l1 < 1, 1 < l1, "x" > l1)
local LE = {__le = function(a, b) return false end}
local le1 = setmetatable({}, LE)
show(le1 <= le1, le1 >= 1, pcall(function() return le1 < le1 end))

-- __index and __newindex: tables and functions, chains, rawget/rawset
local base = {x = "base x"}
local mid = setmetatable({y = "mid y"}, {__index = base})
local top = setmetatable({}, {__index = mid})
show(top.x, top.y, top.z, rawget(top, "x"))
local fn = setmetatable({}, {__index = function(t, k) return tostring(k) .. "!" end})
show(fn.a, fn[1], fn[true])
local store = {}
local w = setmetatable({}, {__newindex = setmetatable({}, {__newindex = store})})
w.k = "v"
show(rawget(w, "k"), store.k)
local loop = {}
setmetatable(loop, {__index = loop})
show(pcall(function() return loop.nothing end))
local nloop = {}
setmetatable(nloop, {__newindex = nloop})
show(pcall(function() nloop.x = 1 end))
-- existing keys never reach __newindex; assigning nil to a missing key does
local seen = {}
local nw = setmetatable({present = 1}, {__newindex = function(t, k, v) seen[#seen + 1] = k .. "=" .. tostring(v) end})
nw.present = 2; nw.absent = 3; nw.other = nil
show(nw.present, rawget(nw, "absent"), table.concat(seen, ","))
-- __index on strings is the string table; other types have none
show(("abc").len == string.len, ("x").nope, pcall(function() return (1).x end))

-- __call: extra arguments, chains through a callable table, errors
local C = setmetatable({}, {__call = function(self, a, b) return self, a, b end})
local s, a, b = C(1, 2)
show(s == C, a, b)
local C2 = setmetatable({}, {__call = C})
local r1, r2, r3 = C2("x")
show(r1 == C, r2 == C2, r3)
show(select("#", C()))

-- __len: any value, called for tables only
show(#setmetatable({1, 2, 3}, {__len = function() return "len" end}), #setmetatable({1, 2}, {}))
show(#setmetatable({}, {__len = function(t, u) return rawequal(t, u) end}))

-- __tostring and __name
local named = setmetatable({}, {__name = "MyType"})
show((tostring(named):gsub("0x%x+", "ADDR")), type(named))
show(pcall(function() return named + 1 end))
show(pcall(function() return #nil end))
show(tostring(setmetatable({}, {__tostring = function() return "custom" end})))
show(pcall(tostring, setmetatable({}, {__tostring = function() return 1 end})))
show(pcall(tostring, setmetatable({}, {__tostring = function() return {} end})))
show(pcall(string.rep, named))
show(string.format("%s|%s", setmetatable({}, {__tostring = function() return "fmt" end}), 1))

-- __metatable
local p = setmetatable({}, {__metatable = false})
show(getmetatable(p), pcall(setmetatable, p, nil))
show(getmetatable(setmetatable({}, {__metatable = {"shield"}}))[1])
show(getmetatable("").__metatable, getmetatable("").__index == string)

-- __pairs
local pt = setmetatable({}, {__pairs = function(t) return function(_, k) if not k then return 1, "one" end end, t, nil end})
for k, v in pairs(pt) do show("pairs", k, v) end
local orig = setmetatable({a = 1}, {__pairs = function(t) return next, {b = 2}, nil end})
for k, v in pairs(orig) do show("redirected", k, v) end
for k, v in next, orig do show("next ignores __pairs", k, v) end

-- __close: the value and the error, in reverse order, on every exit
local order = {}
local function closer(n)
  return setmetatable({}, {__close = function(o, e) order[#order + 1] = n .. ":" .. tostring(e) end})
end
local function f()
  local a <close> = closer("a")
  local b <close> = closer("b")
  local c <close> = nil
  local d <close> = false
  error("E", 0)
end
show(pcall(f))
show(table.concat(order, " "))
order = {}
show(pcall(function()
  local a <close> = setmetatable({}, {__close = function(_, e) order[#order + 1] = "a got " .. tostring(e) error("from a", 0) end})
  local b <close> = setmetatable({}, {__close = function(_, e) order[#order + 1] = "b got " .. tostring(e) error("from b", 0) end})
  return "normal"
end))
show(table.concat(order, " "))
show(pcall(function() local x <close> = {} end))
show(pcall(function() local x <close> = 1 end))
