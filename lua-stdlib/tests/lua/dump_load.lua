-- string.dump and binary chunks through load: round trips, modes,
-- headers, truncation, upvalues, strip.
local a, b = 20, 30
local f = load(string.dump(function(x) return (x or 0) + 1 end))
print(f(41))
print(pcall(string.dump, print))
print(pcall(string.dump))
local d = string.dump(function() return "0123456789012345678901234567890123456789xx" end)
print(load(d, "x", "t"))
print(load(d, "=named", "bt")())
print(load(d:sub(1, 20)))
print(load(d:sub(1, -2), "@file.lua"))
print(load(d)(), #d > 30)
print(load(string.dump(load("x = 1; return x")), nil, "b")(), x)
-- upvalues are fresh (nil) but for the first, which is the environment
local g = load(string.dump(function() return a, b end))
print(type((g())), select(2, g()))
local h = load(string.dump(function() return print ~= nil end), "h", "b", { print = 1 })
print(h())
-- the header lua5.4 writes
local header = string.pack("c4BBc6BBB", "\27Lua", 0x54, 0, "\x19\x93\r\n\x1a\n", 4,
  string.packsize("j"), string.packsize("n"))
print(d:sub(1, #header) == header, string.unpack("jn", d, #header + 1))
local bad = 0
for i = 1, #header do
  local s = d:sub(1, i - 1) .. string.char((d:byte(i) + 1) % 256) .. d:sub(i + 1)
  if not load(s) then bad = bad + 1 end
end
print(bad == #header)
local truncated = 0
for i = 1, #d - 1 do
  local st, msg = load(d:sub(1, i))
  if not st and msg:find("truncated") then truncated = truncated + 1 end
end
print(truncated == #d - 1)
-- a reader function gets the chunk piece by piece
local i = 0
print(load(function() i = i + 1 return d:sub(i, i) end)())
-- stripped chunks still run
print(load(string.dump(function(n) return n * 2 end, true))(21))
