-- Weak tables (__mode "k", "v", "kv"): what a collection removes, what it
-- never removes (strings, numbers, booleans), ephemerons, traversals.
-- Garbage is made inside functions so no register of the main chunk keeps
-- it alive; nothing is printed in traversal order.

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = tostring(k) end
  table.sort(ks)
  return table.concat(ks, " ")
end

-- weak keys
do
  local wk = setmetatable({}, {__mode = "k"})
  local keep = {}
  local function fill()
    for i = 1, 20 do
      local o = {}
      wk[o] = i
      if i % 4 == 0 then keep[#keep + 1] = o end
    end
    wk.name = {}
    wk[42] = {}
    wk[true] = {}
    wk[2.5] = {}
    wk[string.rep("long key ", 10)] = {}
  end
  fill()
  print("weak keys before", count(wk))
  collectgarbage()
  print("weak keys after", count(wk))
  local sum = 0
  for _, o in ipairs(keep) do sum = sum + wk[o] end
  print("kept values", sum)
  print("non-object keys stay", type(wk.name), type(wk[42]), type(wk[true]), type(wk[2.5]),
    type(wk[string.rep("long key ", 10)]))
end

-- weak values
do
  local wv = setmetatable({}, {__mode = "v"})
  local keep = {}
  local function fill()
    for i = 1, 20 do
      local o = {i}
      wv[i] = o
      wv["k" .. i] = o
      if i % 5 == 0 then keep[#keep + 1] = o end
    end
    wv.s = "a string"
    wv.long = string.rep("x", 100)
    wv.n = 12
    wv.f = 1.5
    wv.b = false
  end
  fill()
  print("weak values before", count(wv))
  collectgarbage()
  print("weak values after", count(wv), sorted_keys(wv))
  print("array entries", wv[5] == keep[1], wv[10] == keep[2], wv[1], wv[19])
  print("values stay", wv.s, #wv.long, wv.n, wv.f, wv.b)
end

-- both
do
  local wkv = setmetatable({}, {__mode = "kv"})
  local k1, v1 = {}, {}
  local function fill()
    wkv[k1] = {}          -- value dies
    wkv[{}] = v1          -- key dies
    wkv[k1] = nil
    wkv.x = {}            -- value dies
    wkv.y = "stays"
    wkv[1] = v1           -- stays
    wkv[{}] = "gone"      -- key dies
  end
  fill()
  collectgarbage()
  print("kv after", count(wkv), wkv.y, wkv[1] == v1, wkv.x)
end

-- ephemerons: a value that refers to its own key does not keep it
do
  local e = setmetatable({}, {__mode = "k"})
  local function fill()
    for _ = 1, 10 do
      local k = {}
      e[k] = {k, {k}}
    end
    -- a chain: each key is reachable only through the previous value
    local first = {}
    local k = first
    for i = 1, 10 do
      local nk = {}
      e[k] = {next = nk, i = i}
      k = nk
    end
    return first
  end
  local first = fill()
  collectgarbage()
  print("chain kept by its head", count(e))
  local n, k = 0, first
  while e[k] do n = n + 1; k = e[k].next end
  print("chain length", n)
  first = nil
  collectgarbage()
  print("chain dropped", count(e))
end

-- functions and coroutines as weak keys and values
do
  local wk = setmetatable({}, {__mode = "k"})
  local wv = setmetatable({}, {__mode = "v"})
  local kf = function() return 1 end
  local function fill()
    local up = 0
    for i = 1, 5 do
      local f = function() up = up + i return up end
      wk[f] = i
      wv[i] = f
      wk[coroutine.create(f)] = i
      wv[10 + i] = coroutine.create(f)
    end
    wk[kf] = "kept"
    wv[100] = kf
    wk[print] = "a builtin stays while _G holds it"
  end
  fill()
  collectgarbage()
  print("functions and threads", count(wk), count(wv), wk[kf], wv[100] == kf, wk[print] ~= nil)
end

-- traversals stay correct while entries go
do
  local wk = setmetatable({}, {__mode = "k"})
  local keep = {}
  local function fill()
    for i = 1, 50 do
      local o = {}
      wk[o] = i
      if i % 2 == 0 then keep[#keep + 1] = o end
    end
  end
  fill()
  local seen, total = 0, 0
  for k, v in pairs(wk) do
    seen = seen + 1
    total = total + v
    wk[k] = nil
    collectgarbage()
  end
  print("traversal with collections", seen <= 50, count(wk))
  fill()
  local n = 0
  for k in next, wk do
    n = n + 1
    if n == 3 then collectgarbage() end
  end
  print("next after a collection", n >= 25, n <= 75)
  collectgarbage()
  print("after", count(wk))
end

-- a weak table reused: entries added after a collection, removed again
do
  local cache = setmetatable({}, {__mode = "v"})
  local hits = 0
  local function get(key)
    local v = cache[key]
    if v then hits = hits + 1 return v end
    v = {key = key}
    cache[key] = v
    return v
  end
  local held = {}
  for round = 1, 3 do
    for i = 1, 30 do
      local v = get("k" .. i)
      if i <= 10 then held[i] = v end
    end
    collectgarbage()
    print("cache round", round, count(cache), hits)
  end
end

-- a resurrected object leaves weak values before its finalizer runs, and
-- weak keys only after
do
  local wk = setmetatable({}, {__mode = "k"})
  local wv = setmetatable({}, {__mode = "v"})
  local seen
  local function fill()
    local o = setmetatable({}, {__gc = function(o)
      seen = string.format("in __gc: key %s, value %s", tostring(wk[o] ~= nil), tostring(wv[1] ~= nil))
    end})
    wk[o] = true
    wv[1] = o
  end
  fill()
  collectgarbage()
  print(seen)
  print("next cycle", count(wk), count(wv))
  collectgarbage()
  print("after another", count(wk), count(wv))
end

-- the mode string: any of its letters count
do
  local t = setmetatable({}, {__mode = "vk"})
  local u = setmetatable({}, {__mode = "x"})
  local function fill() t[{}] = 1; t[1] = {}; u[{}] = 1 end
  fill()
  collectgarbage()
  print("modes", count(t), count(u))
end

-- the mode is read from the metatable at each collection (of a table
-- whose metatable had a __mode when set: see conformance/README.md)
do
  local mt = {__mode = "k"}
  local t = setmetatable({}, mt)
  local function fill() t[{}] = 1; t[1] = {} end
  fill()
  mt.__mode = "v"
  collectgarbage()
  print("k then v", count(t), t[1])
  fill()
  mt.__mode = nil
  collectgarbage()
  print("then strong", count(t))
end
