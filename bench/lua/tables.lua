-- VM-bound: one table used as a cache of 1M string keys: each step inserts
-- a new key, evicts the oldest once 100k are live (deleted keys leave
-- tombstones the table must reclaim as it keeps growing) and looks up a
-- recent key and a missing one.
local N, LIVE = 1000000, 100000
local cache, ring = {}, {}
local hits, misses = 0, 0
for i = 1, N do
  local slot = i % LIVE + 1
  local old = ring[slot]
  if old then cache[old] = nil end
  local key = "user:" .. i
  cache[key] = i
  ring[slot] = key
  if cache[ring[(i * 7919) % LIVE + 1]] then hits = hits + 1 end
  if cache[old] then hits = hits + 1 else misses = misses + 1 end
end
local n = 0
for _ in pairs(cache) do n = n + 1 end
print(hits, misses, n)
