-- A Rust function called in tail position runs above its caller's frame,
-- as a C function does in lua5.4: its errors carry the caller's line, and
-- tracebacks and results are those of an ordinary call.
local function g(...) return select(...) end
print(pcall(g, 0))
print(g(2, "a", "b", "c"))
local function h(co) return coroutine.resume(co) end
print(h(coroutine.create(function() return 1, 2 end)))
local function deep(n) if n == 0 then return tostring(n) end return deep(n - 1) end
print(deep(100000))
local function tb() return debug.traceback("here") end
print(tb())
