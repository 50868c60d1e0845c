-- string <-> number coercions as lua5.4 does them: arithmetic on numeric
-- strings keeps the integer subtype when the string is an integer,
-- bitwise operators need an integer representation, concatenation
-- formats numbers, comparisons never coerce, tonumber and math.tointeger
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do
    local v = t[i]
    t[i] = tostring(v) .. (type(v) == "number" and ":" .. math.type(v) or "")
  end
  print(table.concat(t, " | "))
end

-- arithmetic
show("10" + 1, "10" + 1.0, "10.0" + 1, "1e2" + 0, "0x10" + 0, "0x1p4" + 0)
show(" 7 " * 2, "\t8\n" - 1, "-3" * "-3", "2" ^ "3", "7" // "2", "7.5" // "2")
show("7" % "3", "-7" % "3", "7" / "7", -"2", -"2.5", -"0x10")
show("9223372036854775807" + 0, "9223372036854775808" + 0, "-9223372036854775808" + 0)
show("0x7fffffffffffffff" + 0, "0xffffffffffffffff" + 0, "0x10000000000000000" + 0)
show("1" + "2", "1." + 0, ".5" + 0, "5e-1" + 0, "0x.8" + 0, "0xA.8p1" + 0)
for _, s in ipairs({"abc", "", " ", "1e", "0x", "1 2", "inf", "nan", "1..2", "--1", "0x1p", "1e+"}) do
  show(s, pcall(function() return s + 1 end))
end
show(pcall(function() local s = "x" return s * 2 end))
show(pcall(function() return {} + "1" end))

-- bitwise: lua5.4's string metatable has no bitwise metamethods, so
-- strings do not convert; floats need an exact integer representation
for _, f in ipairs({
  function() return "3" | 0 end,
  function() return 1 & "0xff" end,
  function() local s = "1" return ~s end,
  function() return "8" >> 1 end,
  function() return 1.5 & 1 end,
  function() return 2^63 | 0 end,
  function() local x = 0/0 return x | 0 end,
  function() local t = {f = 1.5} return t.f << 1 end,
}) do
  show(pcall(f))
end
show(3.0 | 0, -0.0 | 0, 2^53 | 0, math.mininteger + 0.0 | 0, 1e15 >> 1)

-- concatenation formats numbers
show(1 .. "", 1.0 .. "", -0.0 .. "", 1e15 .. "", 1e16 .. "", 2^63 .. "", 0.1 .. "")
show(math.maxinteger .. "", math.mininteger .. "", 1/0 .. "", -1/0 .. "", 123456789012 .. "x")
show(3.14159265358979 .. "", 100 .. 200, 1.5 .. 2)
show(pcall(function() return "a" .. true end))
show(pcall(function() return "a" .. {} end))

-- comparisons never coerce
show("10" == 10, 10 == "10", "1" ~= 1, "10" < "9", "a" < "b", "" < "a", "Z" < "a")
show(pcall(function() return "10" < 9 end))
show(pcall(function() return 1 <= "2" end))

-- table keys: strings and numbers are different keys; floats with an
-- integer value are integer keys
local t = {}
t["1"] = "string one"; t[1] = "integer one"; t[2.0] = "two"
show(t["1"], t[1], t[1.0], t[2], t["2"], #t)

-- conversion functions
show(tonumber("10"), tonumber("10.0"), tonumber(" 0x1F "), tonumber("1e1"), tonumber("z", 36))
show(tonumber("ff", 16), tonumber("FF", 16), tonumber("777", 8), tonumber("11", 2), tonumber("8", 8))
show(tonumber("  -ff ", 16), tonumber("1.5", 10), tonumber(""), tonumber("0x"), tonumber(nil))
show(math.tointeger(3.0), math.tointeger(3.5), math.tointeger(2^63), math.tointeger("8"), math.tointeger(-0.0))
show(string.format("%d", "10"), string.format("%.1f", "2"), string.format("%x", 255.0))
show(pcall(string.format, "%d", "10.5"))
show(("5"):rep(3) + 0, #("12" .. 3), ("10"):len())
show(pcall(math.max, "1", 2))
