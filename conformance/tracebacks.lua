-- debug.traceback text as lua5.4 prints it: levels, messages, function
-- names (local, global, method, field, upvalue, metamethod), C functions,
-- xpcall with debug.traceback as the handler, coroutines
local function inner() return debug.traceback("inner says", 1) end
local function middle() return inner() .. "" end
function global_outer() local s = middle() return s end
print(global_outer())

print(debug.traceback("level 2", 2))
print(debug.traceback())
print(debug.traceback(nil) == nil, debug.traceback(42), debug.traceback({}) ~= nil)

local obj = {}
function obj:method() local x = nil; return x.y end
function obj.field() obj:method() end
print(select(2, xpcall(obj.field, debug.traceback)))

local function thrower() local x = nil; return x.y end
print(select(2, xpcall(function() thrower() end, debug.traceback)))

print(select(2, xpcall(function() table.sort({3, 2, 1}, function(a, b) return a.x < b end) end, debug.traceback)))
print(select(2, xpcall(function() local t = setmetatable({}, {__index = function(t, k) return k.x.y end}) return t.x end, debug.traceback)))

local co = coroutine.create(function(a)
  local function deep() coroutine.yield(debug.traceback("in coroutine")) end
  deep()
  local x = nil
  return x.y
end)
local _, tb = coroutine.resume(co, 1)
print(tb)
print(debug.traceback(co))
print(debug.traceback(co, "message for co"))
print(coroutine.resume(co))

-- a message handler gets the original error value
print(xpcall(function() error({1, 2, 3}) end, function(e) return type(e) .. #e end))
print(xpcall(function() local t = {} return t.a.b end, function(e) return debug.traceback(e, 2) end))
