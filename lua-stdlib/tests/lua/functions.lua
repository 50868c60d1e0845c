-- closures, upvalues, varargs, tail calls, multiple assignment
local function counter()
  local n = 0
  return function() n = n + 1 return n end
end
local c1, c2 = counter(), counter()
print(c1(), c1(), c2(), c1())
local fs = {}
for i = 1, 3 do fs[i] = function() return i end end
print(fs[1](), fs[2](), fs[3]())
local function va(...)
  local a, b = ...
  return select("#", ...), a, b, ...
end
print(va())
print(va(1, nil, 3))
print((va(1, 2)))
local function pack(...) return {...}, select("#", ...) end
local p, n = pack(1, nil, nil)
print(#p <= 3, n)
local function tail(k) if k == 0 then return "done" end return tail(k - 1) end
print(tail(100000))
local x, y = 1, 2
x, y = y, x
print(x, y)
local t = {}
local i = 1
i, t[i] = i + 1, 20
print(i, t[1], t[2])
local function mr() return 1, 2, 3 end
print(mr(), mr())
print(({mr()})[3], #{mr(), mr()})
local u = 0
local function outer()
  local function inner() u = u + 1 return u end
  return inner() + inner()
end
print(outer(), u)
do
  local a = {}
  local b <const> = 10
  local function f() return b * 2 end
  print(f(), b)
end
print(string.format("%d-%s", 3, "x"))
local function deep(n) if n == 0 then return 0 end return 1 + deep(n - 1) end
print(deep(10000))
print(pcall(function() local function r() return 1 + r() end return r() end))
