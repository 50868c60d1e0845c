-- Library: table.sort of 1M numbers.
math.randomseed(42)
local t = {}
for i = 1, 1000000 do t[i] = math.random(1, 1000000000) end
table.sort(t)
for i = 2, #t do assert(t[i - 1] <= t[i]) end
print(#t)
