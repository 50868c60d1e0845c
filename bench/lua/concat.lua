-- Library: table.concat of 1M pieces.
local t = {}
for i = 1, 1000000 do t[i] = "x" end
local s = table.concat(t, ",")
print(#s)
