-- LuaJIT / Lua 5.1 compatibility Kong code relies on: bit, unpack,
-- loadstring, table.new/clear, math.pow/ldexp/frexp. lua5.4 has none of
-- these: compared with luajit_compat.expected (LuaJIT 2.1's output).
-- Floats are printed with %g so LuaJIT's number printing matches.
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  print(table.concat(t, " | "))
end
local function g(x) return string.format("%.14g", x) end

show(bit.tobit(0xffffffff), bit.tobit(2^32 + 5), bit.tobit(-1), bit.tobit(2^31), bit.tobit(1.5), bit.tobit(2.5))
show(bit.tohex(255), bit.tohex(-1), bit.tohex(255, 4), bit.tohex(255, -4), bit.tohex(0x12345678, 2))
show(bit.band(0xff, 0x0f), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0), bit.bnot(-1), bit.band(-1, 0xffffffff))
show(bit.lshift(1, 31), bit.lshift(1, 32), bit.lshift(3, 33), bit.rshift(-1, 28), bit.rshift(256, 4))
show(bit.arshift(-256, 4), bit.arshift(256, 4), bit.arshift(-1, 31))
show(bit.rol(0x12345678, 8), bit.ror(0x12345678, 8), bit.bswap(0x12345678), bit.rol(1, 32))
show(bit.band(0x7fffffff, 0xffff0000), bit.bor(0x80000000, 1), bit.bxor(-1, 0x0f0f0f0f))

show(unpack({1, 2, 3}))
show(unpack({1, 2, 3}, 2))
show(unpack({1, 2, 3}, 2, 3))
local f = loadstring("return 1 + 1")
show(f())
local bad, msg = loadstring("return +")
show(bad, type(msg))

local t = table.new(10, 5)
t[1] = "a" t.x = "y"
show(type(t), #t, t.x)
table.clear(t)
show(#t, t.x, next(t))

show(g(math.pow(2, 10)), g(math.pow(2, 0.5)), g(math.pow(-8, 1/3)) == "nan" or g(math.pow(-8, 1/3)) == "-nan")
show(g(math.ldexp(1, 10)), g(math.ldexp(0.75, 4)), g(math.ldexp(1, -1074)), g(math.ldexp(3, 1024)))
local m, e = math.frexp(8) show(g(m), e)
m, e = math.frexp(-3) show(g(m), e)
m, e = math.frexp(0) show(g(m), e)
m, e = math.frexp(1e-310) show(g(m), e)
show(g(math.log10(1000)), g(math.atan2(1, 1)), g(math.cosh(0)), g(math.sinh(0)), g(math.tanh(0)))
