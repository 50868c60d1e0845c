-- `next` while a traversal assigns to existing fields or clears them (the
-- manual allows both): every key present throughout is visited exactly
-- once, cleared keys are never revisited, and the traversal survives a
-- collection of the cleared keys. Output is order-independent.

local function sorted(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = tostring(k) end
  table.sort(ks)
  return table.concat(ks, ",")
end

local function fresh(n)
  local t = {}
  for i = 1, n do t["k" .. i] = i end
  for i = 1, n // 2 do t[i] = -i end
  t[1.5], t[true] = "f", "b"
  return t
end

-- assign to every visited field
local t = fresh(40)
local seen, visits = {}, 0
for k, v in pairs(t) do
  visits = visits + 1
  seen[k] = (seen[k] or 0) + 1
  t[k] = tostring(v) .. "!"
end
local twice = 0
for _, c in pairs(seen) do if c > 1 then twice = twice + 1 end end
print("assign", visits, twice, t.k7, t[3], t[true])

-- clear every visited field
t = fresh(40)
visits = 0
for k in pairs(t) do
  visits = visits + 1
  t[k] = nil
end
print("clear all", visits, next(t))

-- clear other fields ahead of the traversal: they are not visited later,
-- and every key is either visited or cleared first
t = fresh(60)
local total = 0
for _ in pairs(t) do total = total + 1 end
seen, visits = {}, 0
local cleared, ncleared, revisited = {}, 0, 0
for k in pairs(t) do
  visits = visits + 1
  if cleared[k] then revisited = revisited + 1 end
  seen[k] = true
  if type(k) == "string" then
    local other = "k" .. (tonumber(k:sub(2)) % 7 + 1)
    if not seen[other] and t[other] ~= nil then
      t[other] = nil
      cleared[other] = true
      ncleared = ncleared + 1
    end
  end
end
print("clear ahead", total, visits + ncleared == total, revisited)

-- clear the visited field and collect garbage in the middle
t = fresh(200)
local left = 0
local n = 0
for k, v in pairs(t) do
  n = n + 1
  if n % 2 == 0 then t[k] = nil else t[k] = v end
  if n == 100 then collectgarbage() end
end
for _ in pairs(t) do left = left + 1 end
print("with a collection", n, left)

-- assign and clear in one traversal, then the table grows again
t = fresh(30)
for k, v in pairs(t) do
  if type(v) == "number" and v % 3 == 0 then t[k] = nil else t[k] = 0 end
end
print("mixed", sorted(t))
for i = 1, 100 do t["n" .. i] = i end
local count = 0
for _ in pairs(t) do count = count + 1 end
print("grown", count)

-- next on a key cleared before the call keeps working for this traversal
t = {a = 1, b = 2, c = 3, d = 4}
local k1 = next(t)
t[k1] = nil
local rest = 0
local k = k1
repeat
  k = next(t, k)
  if k then rest = rest + 1 end
until not k
print("after clearing the current key", rest)

-- a key that was never in the table is an error
print(pcall(next, {a = 1}, "zz"))
