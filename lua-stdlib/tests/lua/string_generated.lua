-- Generated patterns and subjects (a fixed-seed generator, so lua5.4 and
-- lua-stdlib see the same cases): find, match, gmatch and gsub must agree
-- with lua5.4 on every result and every error message.
local seed = 12345
local function rand(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n + 1
end
local atoms = {"a", "b", ".", "%a", "%d", "%s", "%w", "%A", "[ab]", "[^a]", "[a-c]", "[%d_]",
  "(", ")", "()", "%1", "%2", "%b()", "%bab", "%f[a]", "%f[%s]", "^", "$", "%", "[", "]",
  "*", "+", "-", "?", "%%", "x", " ", "%z", "[]]", "[^]]", "%x", "%p"}
local chars = {"a", "b", "c", "1", "2", " ", "(", ")", "_", "x", "\0", "%", "]"}
local function pattern()
  local t = {}
  for _ = 1, rand(7) do t[#t + 1] = atoms[rand(#atoms)] end
  return table.concat(t)
end
local function subject()
  local t = {}
  for _ = 1, rand(13) - 1 do t[#t + 1] = chars[rand(#chars)] end
  return table.concat(t)
end
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  return table.concat(t, ",")
end
local out = {}
for case = 1, 3000 do
  local s, p = subject(), pattern()
  local init = rand(5) - 2
  local r1 = show(pcall(string.find, s, p, init))
  local r2 = show(pcall(string.match, s, p))
  local r3 = show(pcall(string.gsub, s, p, "<%0>", rand(4)))
  local r4 = show(pcall(string.gsub, s, p, function(a, b) return b or (a and #a) end))
  local r5 = show(pcall(function()
    local n, t = 0, {}
    for a, b in string.gmatch(s, p) do
      n = n + 1
      t[#t + 1] = tostring(a) .. "/" .. tostring(b)
      if n > 20 then break end
    end
    return table.concat(t, ";")
  end))
  out[#out + 1] = string.format("%d %q %q | %s | %s | %s | %s | %s", case, s, p, r1, r2, r3, r4, r5)
  if #out == 100 then print(table.concat(out, "\n")) out = {} end
end
print(table.concat(out, "\n"))
