-- goto and labels: loops with continue, nested blocks, backward jumps
local out = {}
for i = 1, 5 do
  if i % 2 == 0 then goto continue end
  out[#out + 1] = i
  ::continue::
end
print(table.concat(out, ","))

local n = 0
::top::
n = n + 1
if n < 3 then goto top end
print("n", n)

do
  local i = 1
  ::loop::
  if i <= 3 then
    out[#out + 1] = "x" .. i
    i = i + 1
    goto loop
  end
end
print(table.concat(out, ","))

for i = 1, 3 do
  for j = 1, 3 do
    if j == 2 then goto next_i end
    io.write(i, ":", j, " ")
  end
  ::next_i::
end
print()

local fs = {}
do
  local k = 1
  ::again::
  local captured = k
  fs[#fs + 1] = function() return captured end
  k = k + 1
  if k <= 3 then goto again end
end
print(fs[1](), fs[2](), fs[3]())
print(load("goto nowhere"))
print(load("do ::a:: end goto a"))
print(load("::dup:: ::dup::"))
