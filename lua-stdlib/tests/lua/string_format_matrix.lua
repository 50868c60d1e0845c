-- string.format against lua5.4 (glibc's printf) over a matrix of
-- conversions, flags, widths, precisions and values.
local ints = {0, 1, -1, 7, 42, -42, 255, 4096, math.maxinteger, math.mininteger}
local floats = {0.0, -0.0, 0.5, 1.5, 2.5, -2.5, 1/3, 2/3, 100, 1e15, 1e16, 123456.789,
  1e-5, 0.0001, 9.9999, 99.95, 1e300, 2^-1074, 2^53 + 1, math.huge, -math.huge, 0/0}
local flags = {"", "-", "+", " ", "#", "0", "-+", "+0", " 0", "#0", "-#"}
local widths = {"", "1", "8", "25"}
local precs = {"", ".", ".0", ".1", ".3", ".17"}
local n, lines = 0, {}
local function try(spec, v)
  local ok, s = pcall(string.format, spec, v)
  lines[#lines + 1] = spec .. "=" .. (ok and ("[" .. s .. "]") or ("!" .. s))
  n = n + 1
  if #lines == 8 then print(table.concat(lines, " ")); lines = {} end
end
for _, conv in ipairs({"d", "i", "u", "o", "x", "X", "c"}) do
  for _, f in ipairs(flags) do
    for _, w in ipairs(widths) do
      for _, p in ipairs(precs) do
        for _, v in ipairs(ints) do
          if conv ~= "c" or (v >= 32 and v < 127) then try("%" .. f .. w .. p .. conv, v) end
        end
      end
    end
  end
end
for _, conv in ipairs({"e", "E", "f", "g", "G", "a", "A"}) do
  for _, f in ipairs(flags) do
    for _, w in ipairs(widths) do
      for _, p in ipairs(precs) do
        for _, v in ipairs(floats) do
          -- glibc prints NaN's sign; lua5.4 passes it through
          if v == v then try("%" .. f .. w .. p .. conv, v) end
        end
      end
    end
  end
end
for _, f in ipairs({"", "-"}) do
  for _, w in ipairs(widths) do
    for _, p in ipairs(precs) do
      for _, v in ipairs({"", "a", "hello", "hello world, longer"}) do try("%" .. f .. w .. p .. "s", v) end
    end
  end
end
print(table.concat(lines, " "))
print(n)
