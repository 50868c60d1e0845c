-- deep recursion: a Lua stack overflow is a catchable error with
-- lua5.4's message, the state is usable afterwards, deep but finite
-- recursion works, and proper tail calls run in constant stack
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  print(table.concat(t, " | "))
end

local function down(n) return 1 + down(n + 1) end
local ok, err = pcall(down, 1)
show(ok, (string.gsub(err, "^.-:%d+: ", "")))
show(err:match("^recursion.lua:%d+:") ~= nil)

local depth = 0
local function count() depth = depth + 1; count() end
show(pcall(count))
show(depth > 1000, depth < 1000000)

-- usable afterwards, repeatedly
for i = 1, 3 do
  local ok2, e2 = pcall(down, 1)
  show(i, ok2, e2 == err)
end

-- deep finite recursion
local function sum(n) if n == 0 then return 0 end return n + sum(n - 1) end
show(sum(10000), sum(100000))
local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
show(fib(20))

-- proper tail calls: constant stack
local function loop(n) if n == 0 then return "done" end return loop(n - 1) end
show(loop(1000000))
local even, odd
function even(n) if n == 0 then return true end return odd(n - 1) end
function odd(n) if n == 0 then return false end return even(n - 1) end
show(even(1000001), odd(1000001))
local function va(n, ...) if n == 0 then return select("#", ...) end return va(n - 1, ...) end
show(va(100000, 1, 2, 3))

-- recursion through pcall and library callbacks is caught too
local ok4, e4 = pcall(string.gsub, "x", "x", function() return down(1) end)
show(ok4, (string.gsub(e4, "^.-:%d+: ", "")))


-- deep data built without recursion, walked with recursion
local list = nil
for i = 1, 50000 do list = {next = list, v = i} end
local function len(l) if not l then return 0 end return 1 + len(l.next) end
show(len(list))
show(pcall(string.rep, "x", 10, ","))
