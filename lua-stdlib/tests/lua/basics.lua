-- values, coercions, arithmetic, integer/float subtypes
print(1, 1.0, -0.0, 1e100, 2^53, 10 // 3, 10.0 // 3, -7 // 2, -7 % 2, 7 % -2)
print("10" + 1, "3" * "4", "0x10" + 0, 10 .. 20, 1.5 .. "", -"2", - -"2.5")
print(3 / 2, 4 / 2, 7 // 0.0, -7 // 0.0, 0/0 ~= 0/0)
print(1 == 1.0, "1" == 1, 2^63 == 9223372036854775807, 9007199254740993 == 2^53)
print(1 < 1.5, 2 <= 2.0, -1 > -1.5, "a" < "b", "Z" < "a", "" < "a")
print(9223372036854775807 < 9223372036854775808.0, -9223372036854775808 <= -2^63)
print(9223372036854775807 + 1, -(-9223372036854775807 - 1), 5 // -2, 5.5 % 2)
print(3 & 5, 3 | 5, 3 ~ 5, ~0, 1 << 63, 1 << 64, -1 >> 1, 2.0 | 1, 3.0 ~ 1)
print(#"abc", #{1, 2, 3}, #{n = 1}, -(-3), not nil, not 0)
local a, b, c = 1, 2
print(a, b, c)
local t = {10, 20, 30, [5] = 50, x = "x", ["y z"] = 2}
print(t[1], t[5], t.x, t["y z"], #t >= 3)
t[1.0] = "one"; t[2^53] = "big"
print(t[1], t[2^53])
local s = 0
for i = 10, 1, -3 do s = s + i end
print(s)
for i = 1, 0 do print("never") end
for x = 1.0, 2.0, 0.5 do io = x end
print(io)
for i = 9223372036854775806, 9223372036854775807 do s = i end
for i = "1", 2 do s = i end
print(s)
local n = 0
while n < 5 do n = n + 1 if n == 3 then break end end
print(n)
repeat local k = n; n = n + 1 until k >= 6
print(n)
print(select("#"), select("#", nil, nil), select(-1, 1, 2, 3))
print(string.rep("ab", 3), ("x"):rep(2), #string.rep("a", 100))
print(tostring(nil), tostring(1.5), type(print), type(nil), type({}), type("x"))
print(rawequal(t, t), rawlen({1, 2}), rawget(t, "x"), rawequal("a", "a"))
print(tonumber("  10  "), tonumber("0x1p4"), tonumber("z", 36), tonumber("1e"), tonumber(nil))
