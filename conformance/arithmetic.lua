-- integers and floats: arithmetic, integer division and modulo on
-- negatives, overflow wrap-around, comparisons int/float, string coercion,
-- numeric for loops at the limits
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  print(table.concat(t, " | "))
end

show(1 + 2, 1 + 2.0, 10 - 3, 2 * 3, 2 * 3.0, 7 / 2, 6 / 2, 2^2, 10 // 3, 10 % 3)
show(-7 // 2, 7 // -2, -7 // -2, -7 % 2, 7 % -2, -7 % -2, -7.0 // 2, -7.0 % 2)
show(5 // 0.0, -5 // 0.0, 0/0 ~= 0/0, 5 % math.huge, -5 % math.huge, 5.5 % -math.huge)
show(pcall(function() return 1 // 0 end))
show(pcall(function() return 1 % 0 end))
show(math.maxinteger + 1 == math.mininteger, math.mininteger - 1, math.maxinteger * 2, -math.mininteger)
show(math.mininteger // -1, math.mininteger % -1)
show(1 == 1.0, 1 < 1.5, 2 > 1.5, math.maxinteger < 2^63, math.maxinteger + 0.0 == 2^63, 2^53 == 2^53 + 1)
show(math.mininteger <= -2^63, -2^63 == math.mininteger, 1 < math.huge, math.mininteger > -math.huge)
show("10" + 1, "10" + 1.5, "0x10" + 0, "1e1" * 1, 10 .. "", 1.5 .. "|", -0.0 .. "")
show(math.type("10" + 1), math.type("10" * 1.0), " 5 " * 2, "10" // "3", "7" % "2")
show(pcall(function() return "abc" + 1 end))
show(pcall(function() return {} + 1 end))
show(pcall(function() return "10" < 11 end))
show(pcall(function() return 1 < "x" end))
show(pcall(function() return {} < {} end))
show(pcall(function() return nil .. "x" end))
show(pcall(function() return 1.5 | 0 end))
show(3 | 5, 3 & 5, 3 ~ 5, ~5, 1 << 2, 256 >> 4, 2.0 | 1, -1 >> 60, 1 << -1)
show(pcall(function() return "3" | 0 end))
local n = 0
for i = math.maxinteger - 2, math.maxinteger do n = n + 1 end
show("loop to maxinteger", n)
n = 0
for i = math.mininteger + 2, math.mininteger, -1 do n = n + 1 end
show("loop to mininteger", n)
n = 0
for i = 1, 0 do n = n + 1 end
for i = 1.0, 2.0, 0.5 do n = n + 1 end
show("loops", n)
local fs = {}
for i = 1, 3 do fs[#fs + 1] = i end
for i = 3, 1, -1 do fs[#fs + 1] = i end
for i = 0.5, 1.5 do fs[#fs + 1] = i end
show(table.concat(fs, ","))
show(pcall(function() for i = 1, 10, 0 do end end))
show(pcall(function() for i = "a", 2 do end end))
show(8 // 3 * 3 + 8 % 3, 2^3^2, -2 ^ 2, 1 + 2 * 3 - 4 / 2, (1 + 2) * 3, 7 // 2 * 2)
show(1 < 2 == true, "a" .. "b" == "ab", not 1 == 2, 1 and 2, nil or "d", false and nil)
