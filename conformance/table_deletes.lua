-- tables that lose keys and grow again (caches, sets, _ENV): deleting a
-- string or table key, letting the collector run, then adding keys until
-- the table grows
local t = {}
t.B = 30
t.B = nil
t.a = 1
t.f = 2
t.g = 3
print("after first growth", t.a, t.f, t.g, t.B)

local cache = {}
for round = 1, 50 do
  for i = 1, 20 do cache["k" .. round .. "_" .. i] = {round, i} end
  for i = 1, 20, 2 do cache["k" .. round .. "_" .. i] = nil end
  local garbage = {}
  for i = 1, 200 do garbage[i] = {i} end
end
local n = 0
for _ in pairs(cache) do n = n + 1 end
print("cache entries", n)

local set = {}
local keys = {}
for i = 1, 100 do keys[i] = {} set[keys[i]] = true end
for i = 1, 100, 3 do set[keys[i]] = nil end
collectgarbage()
for i = 1, 100 do set[{}] = i end
n = 0
for _ in pairs(set) do n = n + 1 end
print("set entries", n)
