-- metatables and metamethods: __index __newindex __call __tostring __len
-- __eq __lt __le __concat __unm and arithmetic/bitwise metamethods,
-- __close, __name, __metatable, rawget/rawset bypassing them
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  print(table.concat(t, " | "))
end

local V = {}
V.__index = V
local function vec(x, y) return setmetatable({x = x, y = y}, V) end
V.__add = function(a, b) return vec(a.x + b.x, a.y + b.y) end
V.__sub = function(a, b) return vec(a.x - b.x, a.y - b.y) end
V.__mul = function(a, b) if type(b) == "number" then return vec(a.x * b, a.y * b) end return a.x * b.x + a.y * b.y end
V.__div = function(a, b) return vec(a.x / b, a.y / b) end
V.__mod = function(a, b) return vec(a.x % b, a.y % b) end
V.__pow = function(a, b) return vec(a.x ^ b, a.y ^ b) end
V.__unm = function(a) return vec(-a.x, -a.y) end
V.__idiv = function(a, b) return vec(a.x // b, a.y // b) end
V.__band = function(a, b) return "band" end
V.__bor = function(a, b) return "bor" end
V.__bxor = function(a, b) return "bxor" end
V.__shl = function(a, b) return "shl" end
V.__shr = function(a, b) return "shr" end
V.__bnot = function(a) return "bnot" end
V.__eq = function(a, b) return a.x == b.x and a.y == b.y end
V.__lt = function(a, b) return a.x < b.x end
V.__le = function(a, b) return a.x <= b.x end
V.__len = function(a) return 2 end
V.__concat = function(a, b)
  local function s(v) return type(v) == "table" and "(" .. v.x .. "," .. v.y .. ")" or tostring(v) end
  return s(a) .. s(b)
end
V.__tostring = function(a) return "vec(" .. a.x .. "," .. a.y .. ")" end
V.__call = function(self, k) return self[k] end
V.__name = "Vec"
function V:norm1() return math.abs(self.x) + math.abs(self.y) end

local a, b = vec(1, 2), vec(3, 4)
show(a + b, a - b, a * 2, a * b, b / 2, b % 2, a ^ 2, -a, b // 2)
show(a & b, a | b, a ~ b, a << 1, a >> 1, ~a)
show(a == vec(1, 2), a ~= b, a < b, a <= b, a > b, a >= b, #a)
show(a .. b, a .. "!", "!" .. a, 1 .. a)
show(tostring(a), a("x"), a:norm1(), rawequal(a, vec(1, 2)), rawlen(a))

local log = {}
local proxy = setmetatable({}, {
  __index = function(t, k) log[#log + 1] = "get " .. tostring(k) return k .. "!" end,
  __newindex = function(t, k, v) log[#log + 1] = "set " .. tostring(k) rawset(t, k, v) end,
})
show(proxy.foo, proxy.bar)
proxy.foo = 1
show(proxy.foo, rawget(proxy, "bar"))
show(table.concat(log, ","))

local base = {greet = function() return "hi" end}
local derived = setmetatable({}, {__index = base})
local deeper = setmetatable({}, {__index = derived})
show(deeper.greet(), deeper.missing)

local store = {}
local guarded = setmetatable({}, {__newindex = store})
guarded.x = 5
show(rawget(guarded, "x"), store.x)

local counter = setmetatable({}, {__call = function(self, a, b) return a + b, self end})
show(counter(2, 3) == 5, select("#", counter(1, 1)))

local locked = setmetatable({}, {__metatable = "no access"})
show(getmetatable(locked), pcall(setmetatable, locked, {}))

do
  local order = {}
  do
    local x <close> = setmetatable({}, {__close = function(o, err) order[#order + 1] = "closed x " .. tostring(err) end})
    local y <close> = setmetatable({}, {__close = function() order[#order + 1] = "closed y" end})
    order[#order + 1] = "body"
  end
  show(table.concat(order, ", "))
  local ok = pcall(function()
    local z <close> = setmetatable({}, {__close = function(o, err) order[#order + 1] = "closed z on " .. tostring(err):match("boom") end})
    error("boom")
  end)
  show(ok, order[#order])
end

local mt = {__eq = function() return true end}
local t1, t2 = setmetatable({}, mt), setmetatable({}, mt)
show(t1 == t2, t1 ~= t2, rawequal(t1, t2))
show(pcall(function() return {} < {} end))
show(pcall(function() return {} .. "x" end))
show(pcall(function() return -{} end))
show(pcall(function() local t = setmetatable({}, {__index = function() error("idx") end}) return t.x end))
local str_mt = getmetatable("")
show(type(str_mt), str_mt.__index == string, ("abc"):upper(), ("%d"):format(7), ("x"):rep(3, ","))
local s = "hello"
show(s:len(), s:sub(2, 3), s:byte(1), s:find("l"), s:match("h(.)"), s:gsub("l", "L"))
show(#s, ("a,b,c"):gsub(",", ";"), ("  trim  "):match("^%s*(.-)%s*$"))
