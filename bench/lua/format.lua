-- Library: string.format over a few MB of output.
local parts = {}
for i = 1, 200000 do
  parts[#parts + 1] = string.format("%5d %-8s %.3f %x|", i, "item", i / 7, i)
end
print(#table.concat(parts))
