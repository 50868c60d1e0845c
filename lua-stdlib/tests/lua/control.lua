-- goto, nested loops, break, coroutines (also across pcall and metamethods)
for i = 1, 3 do
  for j = 1, 3 do
    if j == 2 then goto continue end
    io = (io or 0)
    print(i, j)
    ::continue::
  end
end
do
  local k = 0
  ::top::
  k = k + 1
  if k < 3 then goto top end
  print("k", k)
end
local closures = {}
for i = 1, 3 do
  local x = i * 10
  closures[i] = function() return x end
  if i == 2 then break end
end
print(#closures, closures[1](), closures[2]())
local co = coroutine.create(function(a, b)
  print("start", a, b)
  local c = coroutine.yield(a + b)
  print("got", c)
  local d, e = coroutine.yield(c * 2)
  return d + e
end)
print(coroutine.resume(co, 1, 2))
print(coroutine.status(co))
print(coroutine.resume(co, 10))
print(coroutine.resume(co, 3, 4))
print(coroutine.status(co), coroutine.resume(co))
local gen = coroutine.wrap(function()
  for i = 1, 3 do coroutine.yield(i) end
end)
print(gen(), gen(), gen())
local across = coroutine.wrap(function()
  local ok, v = pcall(function()
    local x = coroutine.yield("inside pcall")
    error("after " .. x, 0)
  end)
  coroutine.yield(tostring(ok) .. " " .. v)
  return "end"
end)
print(across(), across("resume"), across())
local meta = setmetatable({}, {__index = function(t, k) return coroutine.yield(k) end})
local mco = coroutine.wrap(function() return "value:" .. meta.key end)
print(mco(), mco("v"))
local function iter()
  return coroutine.wrap(function() for i = 1, 2 do coroutine.yield(i, i * i) end end)
end
for a, b in iter() do print("iter", a, b) end
print(coroutine.resume(coroutine.create(function() error("in co") end)))
print(coroutine.resume(coroutine.create(function() error({}) end)) == false)
local dead = coroutine.create(function() end)
coroutine.resume(dead)
print(coroutine.resume(dead))
print(coroutine.isyieldable(), coroutine.wrap(function() return coroutine.isyieldable() end)())
print(pcall(coroutine.yield, 1))
local r = coroutine.wrap(function(...) return select("#", ...), ... end)
print(r(nil, nil))
print(select(2, coroutine.running()))
