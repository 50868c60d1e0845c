-- exact comparisons between integers and floats (no rounding through
-- doubles), NaN and infinities, equality of table keys, and sorting mixed
-- subtypes, as lua5.4 does them
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  print(table.concat(t, " | "))
end

local maxi, mini = math.maxinteger, math.mininteger
local values = {
  0, -0.0, 1, 1.0, -1, 0.5, 2^53, 2^53 + 1.0, (1 << 53) + 1, maxi, maxi - 1, maxi + 0.0,
  2^63, -2^63, mini, mini + 1, mini + 0.0, 9.25e18, -9.25e18, 1/0, -1/0, 0/0,
}
local names = {
  "0", "-0.0", "1", "1.0", "-1", "0.5", "2^53", "2^53+1.0", "(1<<53)+1", "maxi", "maxi-1",
  "maxi+0.0", "2^63", "-2^63", "mini", "mini+1", "mini+0.0", "9.25e18", "-9.25e18", "inf",
  "-inf", "nan",
}
for i = 1, #values do
  local row = {}
  for j = 1, #values do
    local a, b = values[i], values[j]
    row[#row + 1] = (a < b and "<" or "") .. (a <= b and "=" or "") .. (a == b and "e" or "")
      .. (a > b and ">" or "") .. (a ~= b and "n" or "")
  end
  print(names[i], table.concat(row, " "))
end

-- through variables, constants and both operand orders
local x, y = maxi, 2^63
show(x < y, y > x, x <= y, x == y, maxi < 2^63, 2^63 > maxi, mini == -2^63, -2^63 <= mini)
show(maxi + 0.0 == maxi, maxi + 0.0 == 2^63, maxi // 1 == maxi, maxi / 1 == 2^63)
show(2^53 == (1 << 53), 2^53 + 1 == (1 << 53) + 1, 2^53 < (1 << 53) + 1, (1 << 53) + 1 > 2^53)
show(1 < 1.5, 1.5 < 2, -1 > -1.5, 3 == 3.0000000000000001, 3 < 3.0000000000000004)
show(math.ult(1, -1), math.ult(-1, 1), math.ult(maxi, mini), math.abs(mini), -mini == mini)
show(0/0 == 0/0, 0/0 ~= 0/0, not (0/0 < 0), not (0/0 >= 0), 1/0 > maxi, -1/0 < mini)

-- table keys: a float with an integer value is that integer key
local t = {}
t[2^53] = "float 2^53"
show(t[1 << 53], t[2^53], math.type(next(t)))
t = {}
t[1.0], t[-0.0], t[maxi + 0.0] = "one", "zero", "2^63"
show(t[1], t[0], t[2^63], t[maxi], math.type(next({[3.0] = true})))
show(pcall(function() local u = {} u[0/0] = 1 end))
show(rawequal(1, 1.0), rawequal(0, -0.0), rawequal(2^63, maxi))

-- sorting mixed integers and floats near 2^63
local s = {9.25e18, maxi}
table.sort(s)
show(s[1], s[2], math.type(s[1]), math.type(s[2]))
s = {maxi, 9.25e18, 2^63, maxi - 1, 9.2233720368547e18, mini, -2^63, 0, -0.0, 1/0, -1/0}
table.sort(s)
for i = 1, #s do s[i] = string.format("%s:%s", math.type(s[i]), tostring(s[i])) end
show(table.concat(s, " "))
s = {2^53 + 1.0, (1 << 53) + 1, 2^53, (1 << 53) - 1}
table.sort(s, function(a, b) return a > b end)
for i = 1, #s do s[i] = string.format("%d", s[i]) end
show(table.concat(s, " "))
show(math.max(maxi, 2^63), math.min(mini, -2^63), math.max(1, 1.0), math.min(1.0, 1))
show(math.type(math.max(1, 1.0)), math.type(math.min(1.0, 1)))

-- for loops with float limits against integer control variables
local n = 0
for i = maxi - 2, 2^63 do n = n + 1 end
show("to 2^63", n)
n = 0
for i = 1, 3.9999 do n = i end
show("to 3.9999", n, math.type(n))
n = 0
for i = mini, -2^63 do n = n + 1 end
show("at mini", n)
n = 0
for i = 1, 0/0 do n = n + 1 end
show("to nan", n)

-- string order: bytes as unsigned, embedded zeros, prefixes, and lengths
-- around the word size and the short-string limit (40 bytes), short
-- against long strings
local strs = {
  "", "\0", "\0\0", "a", "a\0", "a\0b", "a\0c", "ab", "\127", "\128", "\255", "\255\0",
  "abcdefg", "abcdefgh", "abcdefgh\0", "abcdefghi", "abcdefgi",
  string.rep("x", 39), string.rep("x", 40), string.rep("x", 41), string.rep("x", 40) .. "\0",
  string.rep("x", 39) .. "y", string.rep("x", 39) .. "y" .. "z", string.rep("x", 80),
}
local row = {}
for i = 1, #strs do
  local r = {}
  for j = 1, #strs do
    local a, b = strs[i], strs[j]
    r[j] = (a < b and "<" or "") .. (a <= b and "=" or "") .. (a == b and "e" or "")
  end
  row[i] = table.concat(r, ",")
end
show("string order", table.concat(row, ";"))
local sorted = {}
for i = 1, #strs do sorted[i] = strs[#strs + 1 - i] end
table.sort(sorted)
for i = 1, #sorted do sorted[i] = #sorted[i] .. ":" .. (sorted[i]:byte(-1) or "-") end
show("sorted", table.concat(sorted, " "))
table.sort(sorted, function(a, b) return a > b end)
show("sorted desc", table.concat(sorted, " "))
