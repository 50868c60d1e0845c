local function lvl3() print(debug.traceback("msg")) end
function glob() lvl3() end
local t = {m = function(self) glob() end}
t:m()
print(debug.traceback("x", 2))
local co = coroutine.create(function() coroutine.yield() end)
coroutine.resume(co)
print(debug.traceback(co))
print(debug.traceback(co, "hi"))
print(xpcall(function() local x = nil; return x.y end, debug.traceback))
local function rec(n) if n == 0 then return debug.traceback("deep") end return (rec(n - 1)) end
print(rec(30))
