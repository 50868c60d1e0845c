-- table library on lua-stdlib: metamethods as ltablib.c uses them, sort
-- exactly as lua5.4's quicksort, error messages and positions
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  print(table.concat(t, " | "))
end
-- (no math library needed: these are its constants)
local maxint, minint, huge = 0x7fffffffffffffff, 0x8000000000000000, 1 / 0
local function list(t, n)
  local parts = {}
  for i = 1, n or #t do parts[i] = tostring(t[i]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- a proxy logging every access the library makes
local function proxy(backing, log)
  return setmetatable({}, {
    __index = function(_, k) log[#log + 1] = "get" .. k return backing[k] end,
    __newindex = function(_, k, v) log[#log + 1] = "set" .. k .. "=" .. tostring(v) backing[k] = v end,
    __len = function() log[#log + 1] = "len" return #backing end,
  })
end

local log, b = {}, {1, 2, 3}
local p = proxy(b, log)
table.insert(p, 4) table.insert(p, 1, 0)
show("insert", list(b), table.concat(log, " "))
log = {} b = {1, 2, 3, 4} p = proxy(b, log)
show("remove", table.remove(p), table.remove(p, 1), list(b), table.concat(log, " "))
log = {} b = {"a", "b", 3} p = proxy(b, log)
show("concat", table.concat(p, "-"), table.concat(p, "", 2, 3), table.concat(log, " "))
log = {} b = {10, 20, 30} p = proxy(b, log)
show("unpack", table.unpack(p)) show(table.concat(log, " "))
log = {} show("unpack range", table.unpack(p, 2, 3)) show(table.concat(log, " "))
log = {} b = {1, 2, 3, 4, 5} p = proxy(b, log)
table.move(p, 1, 3, 3) show("move overlap", list(b), table.concat(log, " "))
log = {} local d = {} local pd = proxy(d, log)
table.move(b, 2, 4, 1, pd) show("move to proxy", list(d), table.concat(log, " "))
log = {} b = {5, 3, 4, 1, 2} p = proxy(b, log)
table.sort(p) show("sort proxy", list(b), #log)
log = {} b = {3, 1, 2} p = proxy(b, log)
table.sort(p, function(x, y) return x > y end) show("sort proxy desc", list(b), table.concat(log, " "))

-- __index chains and tables as __index/__newindex
local base = {1, 2, 3}
local mid = setmetatable({}, {__index = base})
local top = setmetatable({}, {__index = mid, __len = function() return 3 end})
show("chain", table.concat(top, ","), table.unpack(top))
local sink = {}
local w = setmetatable({}, {__newindex = sink, __len = function() return 0 end, __index = sink})
table.insert(w, "x") show("newindex table", rawget(w, 1), sink[1])

-- __len answers
show(pcall(table.insert, setmetatable({}, {__len = function() return "2" end}), "v"))
show(pcall(table.insert, setmetatable({}, {__len = function() return 2.5 end}), "v"))
show(pcall(table.concat, setmetatable({}, {__len = function() return nil end})))
show(pcall(table.unpack, setmetatable({}, {__len = function() error("len!") end})))
show(pcall(table.sort, setmetatable({}, {__len = function() return 2^40 end})))

-- non-table values that behave like tables
local ud_like = setmetatable({}, {__index = function(_, k) return k * 2 end})
show(pcall(table.concat, "abc"))
show(table.unpack("abc"))
show(pcall(table.unpack, 5, 1, 2))
show(pcall(table.unpack))
show(pcall(table.insert, nil, 1))
show(pcall(table.move, {}, 1, 2, 3, "x"))
show(table.unpack(ud_like, 1, 3))

-- errors from metamethods and bad __index
show(pcall(table.insert, setmetatable({}, {__newindex = 5}), 1))
show(pcall(table.concat, setmetatable({}, {__index = true, __len = function() return 1 end})))
show(pcall(table.insert, setmetatable({}, {__newindex = function() error("no writes") end}), 1))
local ok, err = pcall(table.insert, setmetatable({}, {__newindex = function() error({7}) end}), 1)
show(ok, type(err), err[1])
local loop = {}
setmetatable(loop, {__index = loop, __len = function() return 1 end})
show(pcall(table.concat, loop))

-- move and __eq: the direction when source and destination compare equal
local eqmt = {__eq = function() return true end}
local a1 = setmetatable({1, 2, 3, 4}, eqmt)
local a2 = setmetatable({1, 2, 3, 4}, eqmt)
table.move(a1, 1, 3, 2, a2) show("move __eq", list(a2))
a1 = {1, 2, 3, 4} a2 = {1, 2, 3, 4}
table.move(a1, 1, 3, 2, a2) show("move plain", list(a2))
table.move(a1, 1, 3, 2, a1) show("move self", list(a1))
show(pcall(table.move, {}, 1, maxint, 2))
show(pcall(table.move, {}, -1, maxint, 2))
show(pcall(table.move, {}, 1, 2, maxint))
show(list(table.move({1, 2, 3}, maxint, maxint - 1, 1)))

-- concat of numbers and bounds
show(table.concat({1, 2.0, -0.0, 1e100, 2^63, minint}, " "))
show(table.concat({}, ",", maxint), table.concat({"a"}, ",", 1, 0))
show(pcall(table.concat, {1, 2}, {}))
show(pcall(table.concat, {}, ",", "x"))
show(pcall(table.concat, {1, nil, 3}, ",", 1, 3))

-- unpack bounds
show(table.unpack({1, 2, 3}, -1, 1))
show(select("#", table.unpack({}, maxint, maxint)))
show(pcall(table.unpack, {}, minint, maxint))
show(pcall(table.unpack, {}, 0, 1e6))
show(pcall(table.unpack, {}, "a"))

-- insert / remove bounds
local t = {1, 2, 3}
show(pcall(table.insert, t, 5, "x"))
show(pcall(table.insert, t, 4, "x"), list(t))
show(pcall(table.remove, t, 6))
show(table.remove(t, 5), list(t))
show(table.remove(t, #t + 1), list(t))
show(pcall(table.insert, t, 1.5, "y"))
show(pcall(table.remove, t, "1"), list(t))
t = {} show(table.remove(t, 0), table.remove(t), #t)
t = {[0] = "zero"} show(table.remove(t, 0), t[0])

-- sort: numbers exactly as lua5.4 orders them
local function sorted(s, f) table.sort(s, f) return list(s) end
show(sorted({9.25e18, maxint}))
show(sorted({maxint, 9.25e18}))
show(sorted({2^63, maxint, -2^63, minint, 0, -0.0}))
show(sorted({3, 1.5, 2, 1.0, 1, 2.0}))
show(sorted({0.0, -0.0, 0, 1, -1}))
show(sorted({1e308, -1e308, huge, -huge, 0.5}))
show(sorted({2^53, 2^53 + 1, 2^53 - 1, 2.0^53}))
show(sorted({"b", "a", "ab", "", "a\0b", "a\0", "B"}))
show(sorted({5, 1, 4}, function(x, y) return x > y end))
show(pcall(table.sort, {1, 0/0, 2, 0/0, 3}))
show(pcall(table.sort, {1, "2"}))
show(pcall(table.sort, {{}, 1}))
show(pcall(table.sort, {1, 2, 3}, {}))
show(pcall(table.sort, {1}, 3), pcall(table.sort, {}, "x"))

-- sort with __lt
local Ver = {}
Ver.__index = Ver
Ver.__lt = function(x, y) return x.n < y.n end
local vs = {}
for i, n in ipairs({5, 3, 9, 1, 7, 3}) do vs[i] = setmetatable({n = n, id = i}, Ver) end
table.sort(vs)
local ids = {} for i, v in ipairs(vs) do ids[i] = v.n .. "#" .. v.id end
show("__lt", table.concat(ids, " "))

-- invalid order functions: the error and the table left behind
local bad = {}
for i = 1, 20 do bad[i] = (i * 7) % 20 end
show(pcall(table.sort, bad, function(x, y) return true end))
show(list(bad))
local calls = 0
local e = {}
for i = 1, 50 do e[i] = (i * 13) % 50 end
show(pcall(table.sort, e, function(x, y)
  calls = calls + 1
  if calls == 40 then error("stop here") end
  return x < y
end))
show(list(e))
ok, err = pcall(table.sort, e, function(x, y) error({code = 7}) end)
show(ok, err.code)

-- the comparator sees the table as lua5.4 leaves it mid-sort
local seen = {}
local w2 = {4, 2, 5, 1, 3}
table.sort(w2, function(x, y) seen[#seen + 1] = list(w2) return x < y end)
show(#seen, seen[1], seen[#seen], list(w2))

-- counts of comparisons and big sorts
local n = 0
local big = {}
for i = 1, 500 do big[i] = (i * 7919) % 503 end
table.sort(big, function(x, y) n = n + 1 return x < y end)
show("comparisons", n, big[1], big[250], big[500])
local bigf = {}
for i = 1, 300 do bigf[i] = ((i * 37) % 101) / 7 end
table.sort(bigf) show(bigf[1], bigf[150], bigf[300])
local recs = {}
for i = 1, 200 do recs[i] = {k = (i * 31) % 7, id = i} end
table.sort(recs, function(x, y) return x.k < y.k end)
local out = {} for i = 1, 200, 10 do out[#out + 1] = recs[i].k .. ":" .. recs[i].id end
show(table.concat(out, " "))
local ordered = {} for i = 1, 300 do ordered[i] = i end
n = 0 table.sort(ordered, function(x, y) n = n + 1 return x < y end) show("sorted input", n)
n = 0 table.sort(ordered, function(x, y) n = n + 1 return x > y end) show("reversed input", n, ordered[1])

-- pack
local pk = table.pack(nil, nil) show(pk.n, #pk, pk[1])
show(table.pack().n, select("#", table.unpack(table.pack(1, nil, 3), 1, 3)))

-- errors carry the caller's position; called through pcall they do not
show(pcall(function() table.insert({}, 1, 2, 3) end))
show(pcall(function() table.concat({{}}) end))
show(pcall(function() table.sort({3, 2, 1}, function() return true end) end))
show(pcall(function() local t = setmetatable({}, {__len = function() return "x" end}) table.insert(t, 1) end))
show(pcall(function() table.unpack({}, 1, 1e8) end))
show(pcall(function() local r = table.remove({}, -1) return r end))

-- the fast paths (no order function) leave what the quicksort leaves
local seed = 12345
local function rand(n) seed = (seed * 1103515245 + 12345) % 2147483648 return seed % n end
for round = 1, 30 do
  local ints, floats, strs = {}, {}, {}
  local size = rand(400) + 2
  for i = 1, size do
    ints[i] = rand(50) - 25
    floats[i] = (rand(1000) + 1) / (rand(7) + 1) * (rand(2) == 0 and -1 or 1)
    strs[i] = tostring(rand(100))
  end
  for _, arr in ipairs({ints, floats, strs}) do
    local copy = table.move(arr, 1, #arr, 1, {})
    table.sort(arr)
    table.sort(copy, function(x, y) return x < y end)
    for i = 1, #arr do
      if arr[i] ~= copy[i] then print("fast path differs", round, i) end
    end
  end
end
print("fast paths agree")

-- tracebacks show the library function under the order function
local tb
pcall(table.sort, {3, 1, 2}, function() tb = debug.traceback("in order") error("stop") end)
print(tb)
