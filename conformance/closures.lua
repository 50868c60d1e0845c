-- closures and upvalues, varargs, select, tail calls, multiple assignment
-- and evaluation order, missing arguments are nil, method definitions
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  print(table.concat(t, " | "))
end

local function counter()
  local n = 0
  return function() n = n + 1 return n end
end
local c1, c2 = counter(), counter()
show(c1(), c1(), c2(), c1())

local fs = {}
for i = 1, 3 do fs[i] = function() return i end end
show(fs[1](), fs[2](), fs[3]())
local shared = {}
do
  local x = 0
  shared.inc = function() x = x + 1 return x end
  shared.get = function() return x end
end
shared.inc() shared.inc()
show(shared.get())

local function va(...) return select("#", ...), ... end
show(va())
show(va(nil))
show(va(1, nil, 3))
show((va(1, 2, 3)))
local function pack2(...) local a, b = ... return a, b end
show(pack2(1), pack2(1, 2, 3))
local function tail(n) if n == 0 then return "done" end return tail(n - 1) end
show(tail(100000))
local function sum(...)
  local s = 0
  for _, v in ipairs({...}) do s = s + v end
  return s
end
show(sum(1, 2, 3, 4), sum())
show(select(-2, "a", "b", "c"), select(2, "a", "b", "c"))
show(table.unpack({1, 2, 3}), (table.unpack({1, 2, 3})))

local a, b, c = 1, 2
show(a, b, c)
a, b = b, a
show(a, b)
local x, y, z = 1, 2, 3
x, y, z = z, x, y
show(x, y, z)
local t = {1, 2}
local i = 1
i, t[i] = i + 1, 20
show(i, t[1], t[2])
local function two() return 1, 2 end
local p, q, r = two()
show(p, q, r)
p, q, r = two(), 10
show(p, q, r)
p, q, r = 0, two()
show(p, q, r)
local tt = {two(), two()}
show(#tt, tt[1], tt[2], tt[3])
tt = {two(), (two())}
show(#tt)

local function h(t, b) return b end
show(h({}), h({}, nil), h({}, false))
local function many(a, b, c, d) return a, b, c, d end
show(many(1))
show(many(1, 2, 3, 4, 5))

local obj = {value = 10}
function obj:get() return self.value end
function obj.static(v) return v * 2 end
show(obj:get(), obj.get(obj), obj.static(4))

local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
show(fib(20))
local function recurse(n) if n > 0 then return 1 + recurse(n - 1) end return 0 end
show(recurse(1000))
show(string.format("%s", (function(...) return select("#", ...) end)(nil, nil, nil)))
