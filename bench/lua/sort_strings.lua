-- Library: table.sort of 200k strings with a comparator.
local t = {}
for i = 1, 200000 do t[i] = "key" .. ((i * 7919) % 200000) end
table.sort(t, function(a, b) return a > b end)
print(t[1], t[#t])
