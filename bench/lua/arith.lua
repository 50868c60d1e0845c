-- VM-bound: a 10M-iteration arithmetic loop.
local s = 0
for i = 1, 10000000 do s = s + i % 7 * 2 - 1 end
print(s)
