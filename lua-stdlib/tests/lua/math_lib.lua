-- math library on lua-stdlib: subtypes, conversions of strings, min/max
-- through `<`, deg/rad, random with seeds
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  print(table.concat(t, " | "))
end

show(math.abs("-3"), math.abs(-3), math.abs(-3.5), math.abs(math.mininteger), math.abs(-0.0))
show(math.floor("3.7"), math.floor("3"), math.ceil("-3.2"), math.floor(-0.0), math.ceil(-0.5))
show(math.floor(2^62), math.floor(2^63), math.ceil(-2^63), math.floor(0/0) ~= math.floor(0/0))
show(math.fmod("7", 3), math.fmod(7, "3"), math.fmod(-6, 4), math.fmod(6, -4), math.fmod(math.mininteger, -1))
show(math.fmod(5.5, math.huge), math.fmod(-5, math.huge), math.fmod(1, 0.0) ~= math.fmod(1, 0.0))
show(pcall(math.fmod, 1, 0))
show(pcall(math.fmod, 1))
show(math.modf(3.7), math.modf(-3.7), math.modf("5"), math.modf(-0.0))
show(math.modf(2^63), math.modf(-1/0))
show(math.tointeger("0x10"), math.tointeger(" 3 "), math.tointeger("3.0"), math.tointeger("x"), math.tointeger(2^53))
show(math.type(2^31), math.type(1 // 1), math.type(1 / 1), math.type("1"), math.type({}))
show(math.ult(1.0, 2), pcall(math.ult, 1.5, 2))
show(pcall(math.floor, {}))
show(pcall(math.abs))
show(pcall(math.sqrt, "x"))
show(math.sqrt(-1) ~= math.sqrt(-1), math.log(0, 10), math.log(8, 2.0), math.log(1024, 4), math.log(100, 10))
show(math.exp(710), math.exp(-1000), math.log(-1) ~= math.log(-1))
show(math.deg(math.pi), math.deg(1), math.rad(180), math.rad(1), math.deg("90"), math.rad(-45))
show(pcall(math.deg))
show(pcall(math.rad, {}))
show(math.atan(1, -1), math.atan(-0.0, -1), math.atan(0.0, -1), math.atan("1"))

-- min and max compare with `<`: any values, metamethods included
show(math.max(3, 7.5, -1), math.min(3, 7.5, -1), math.max(1, 1.0), math.max(1.0, 1))
show(math.max("10"), math.min("b", "a", "c"), math.max(math.maxinteger, 2^63))
show(math.min(math.mininteger, -2^63), math.max(-0.0, 0.0), math.max(0.0, -0.0))
show(type(math.max({})), pcall(math.max, {}, {}))
show(pcall(math.max, 1, "x"))
show(pcall(math.min, "10", 9))
show(pcall(math.min))
local Money = {}
Money.__lt = function(a, b) return a.v < b.v end
Money.__tostring = function(m) return "$" .. m.v end
local m = function(v) return setmetatable({v = v}, Money) end
show(math.max(m(3), m(9), m(1)), math.min(m(3), m(9), m(1)))
show(pcall(math.max, m(1), 2))
local order = {}
Money.__lt = function(a, b) order[#order + 1] = a.v .. "<" .. b.v return a.v < b.v end
math.min(m(5), m(2), m(8))
show(table.concat(order, " "))

-- random: lua5.4's sequence for a seed
math.randomseed(2024)
show(math.random(6), math.random(6), math.random(100, 200), math.random(0), math.random())
show(math.randomseed(-1, 99))
show(math.random(math.maxinteger), math.random(math.mininteger, -1), math.random(3, 3))
math.randomseed(0)
local hist = {}
for _ = 1, 10000 do local r = math.random(7) hist[r] = (hist[r] or 0) + 1 end
show(hist[1], hist[4], hist[7])
show(pcall(math.random, 1, 2, 3))
show(pcall(math.random, 3, 1))
show(pcall(math.random, "x"))
show(pcall(math.randomseed, "x"))
show(select("#", math.randomseed()))

-- tracebacks show math.max under a Lua __lt
local tb
local lt = setmetatable({}, {__lt = function() tb = debug.traceback("in __lt") return false end})
math.max(lt, lt)
print(tb)
