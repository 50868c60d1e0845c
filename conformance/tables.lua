-- table library: insert remove concat unpack pack move sort (with
-- comparators, stability of equal keys as lua5.4 orders them, errors)
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  print(table.concat(t, " | "))
end
local function list(t) return "{" .. table.concat(t, ",") .. "}" end

local t = {}
table.insert(t, "a") table.insert(t, "b") table.insert(t, 1, "c") table.insert(t, 2, "d")
show(list(t), #t)
show(table.remove(t), list(t), table.remove(t, 1), list(t))
show(table.remove({}), table.remove({}, 0), #t)
local e = {} show(table.remove(e, 1), #e)
table.insert(t, #t + 1, "z") show(list(t))
show(pcall(table.insert, {1, 2}, 5, "x"))
show(pcall(table.insert, {1, 2}, 0, "x"))
show(pcall(table.insert, {1, 2}, 1, "x", "y"))
show(pcall(table.insert, {1}))
show(pcall(table.insert, nil, 1))
show(pcall(table.remove, {1, 2, 3}, 7))

show(table.concat({1, 2, 3}), table.concat({1, 2, 3}, ", "), table.concat({1, 2, 3}, ", ", 2))
show(table.concat({1, 2, 3}, "-", 2, 3), table.concat({1, 2, 3}, "-", 3, 2), table.concat({}, "x"))
show(table.concat({1.5, "a", 2}, " "), table.concat({"a"}, ", ", 1, 1))
show(pcall(table.concat, {1, {}, 3}))
show(pcall(table.concat, {1, 2}, ",", 1, 3))
show(pcall(table.concat, {true}))

show(table.unpack({1, 2, 3}))
show(table.unpack({1, 2, 3}, 2))
show(table.unpack({1, 2, 3}, 2, 3))
show(table.unpack({1, 2, 3}, 3, 2))
show(table.unpack({1, nil, 3}, 1, 3))
show(select("#", table.unpack({}, 1, 5)))
show(pcall(table.unpack, {}, 1, 1e7))
local p = table.pack() show(p.n, #p)
p = table.pack(1, nil, 3, nil) show(p.n, p[1], p[2], p[3], p[4])

show(list(table.move({1, 2, 3}, 1, 3, 2)))
show(list(table.move({1, 2, 3, 4, 5}, 2, 5, 1)))
show(list(table.move({1, 2, 3}, 1, 3, 1, {})))
show(list(table.move({1, 2, 3}, 1, 0, 5)))
local dst = table.move({1, 2}, 1, 2, 3, {9, 9}) show(list(dst))

local s = {5, 2, 8, 1, 9, 3, 7, 4, 6, 0}
table.sort(s) show(list(s))
table.sort(s, function(a, b) return a > b end) show(list(s))
local words = {"pear", "Apple", "banana", "apple", "Banana", "cherry"}
table.sort(words) show(list(words))
local mixed = {3, 1.5, -2, 2^40, -0.5, 1}
table.sort(mixed) show(list(mixed))
-- equal keys: the order lua5.4's quicksort leaves them in
local recs = {}
for i = 1, 60 do recs[i] = {k = (i * 37) % 5, id = i} end
table.sort(recs, function(a, b) return a.k < b.k end)
local ids = {} for i, r in ipairs(recs) do ids[i] = r.k .. ":" .. r.id end
show(table.concat(ids, " "))
local big = {} for i = 1, 1000 do big[i] = (i * 7919) % 1009 end
table.sort(big) show(big[1], big[2], big[500], big[999], big[1000])
local ok = true for i = 2, #big do if big[i - 1] > big[i] then ok = false end end show(ok)
local strs = {} for i = 1, 200 do strs[i] = tostring((i * 31) % 97) end
table.sort(strs) show(strs[1], strs[100], strs[200])
table.sort({}) table.sort({1}) show("trivial sorts ok")
show(pcall(table.sort, {3, 1, 2, 5, 4, 7, 6, 9, 8}, function(a, b) return true end))
show(pcall(table.sort, {1, "x", 3}))
show(pcall(table.sort, {{}, {}}))
show(pcall(table.sort, {1, 2}, 3))
local calls = 0
table.sort({4, 3, 2, 1}, function(a, b) calls = calls + 1 return a < b end)
show("comparisons", calls)
-- a comparator that gives the table a metatable mid-sort: the reads and
-- writes after it go through __index/__newindex (a proxy), in lua5.4's
-- order
do
  local store, log = {}, {}
  local t = {}
  for i = 1, 30 do t[i] = (i * 7) % 31 end
  local n = 0
  table.sort(t, function(a, b)
    n = n + 1
    if n == 40 then
      for k = 1, #t do store[k] = t[k]; t[k] = nil end
      setmetatable(t, {
        __index = function(_, k) log[#log + 1] = "r" .. k return store[k] end,
        __newindex = function(_, k, v) log[#log + 1] = "w" .. k store[k] = v end,
        __len = function() return #store end,
      })
    end
    return a < b
  end)
  show("proxied", n, #log, table.concat(log, " ", 1, 12), table.concat(store, ","))
end
-- no comparator, integers and floats mixed (compared one by one)
do
  local t = {}
  for i = 1, 200 do t[i] = i % 3 == 0 and (i * 37 % 101) + 0.5 or i * 37 % 101 end
  table.sort(t)
  show("mixed", t[1], t[2], t[100], t[199], t[200])
end

-- `#` on tables with holes: lua5.4's border (its array/hash sizing, the
-- `alimit` hint that `#` and integer accesses move) for tables built the
-- same way; and `pairs` order over integer, float and boolean keys
do
  local seed = 1
  local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n end
  for trial = 1, 60 do
    local c, t = rnd(4)
    if c == 0 then t = {}
    elseif c == 1 then t = {1, 2, 3, nil, 5}
    elseif c == 2 then t = {[50] = 1, [33] = 2, 10, 20}
    else t = {nil, nil, 3} end
    local lens = {}
    for step = 1, 40 do
      local op = rnd(10)
      if op <= 3 then t[rnd(24) + 1] = step
      elseif op == 4 then t[rnd(24) + 1] = nil
      elseif op == 5 then t[rnd(40) + 30] = step
      elseif op == 6 then t[rnd(40) + 30] = nil
      elseif op == 7 then table.insert(t, step)
      elseif op == 8 then t[#t + 1] = step
      else t[#t] = nil end
      lens[#lens + 1] = #t
    end
    print(table.concat(lens, ","))
  end
  for n = 1, 12 do
    local a, b, c = {}, {}, {}
    for i = 1, n do a[i] = i; c[n + 1 - i] = i end
    a[n // 2 + 1] = nil
    c[2] = nil
    for i = 1, n do b[i * 2] = i end
    print(n, #a, #b, #c)
  end
  for trial = 1, 30 do
    local t = {}
    for i = 1, rnd(30) do t[rnd(100) - 20] = i; if rnd(3) == 0 then t[rnd(100) - 20] = nil end end
    for i = 1, rnd(5) do t[rnd(1000) + 0.5] = i end
    t[true] = 1
    local ks = {}
    for k in pairs(t) do ks[#ks + 1] = tostring(k) end
    print(table.concat(ks, " "))
  end
end
