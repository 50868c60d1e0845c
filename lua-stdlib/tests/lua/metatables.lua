-- every operator metamethod, __index/__newindex chains, __call, __close
local log = {}
local mt = {}
for _, e in ipairs({"add", "sub", "mul", "div", "mod", "pow", "unm", "idiv",
                    "band", "bor", "bxor", "shl", "shr", "bnot", "concat"}) do
  mt["__" .. e] = function(a, b) return e end
end
mt.__eq = function(a, b) return true end
mt.__lt = function(a, b) return true end
mt.__le = function(a, b) return false end
mt.__len = function() return 42 end
mt.__call = function(self, x) return "called", x end
local A, B = setmetatable({}, mt), setmetatable({}, mt)
print(A + 1, 1 - A, A * A, A / 2, A % 2, A ^ 2, -A, A // 2)
print(A & 1, 1 | A, A ~ A, A << 1, A >> 1, ~A, A .. "x", "x" .. A, 1 .. A)
print(A == B, A ~= B, A < B, A <= B, A > B, A >= B, #A, A(5))
print(A == 1, rawequal(A, B))
local base = {greet = function(self) return "hi " .. self.name end}
local obj = setmetatable({name = "bob"}, {__index = base})
print(obj:greet(), obj.missing)
local chain = setmetatable({}, {__index = setmetatable({}, {__index = function(t, k) return k .. "?" end})})
print(chain.deep)
local store = {}
local proxy = setmetatable({}, {__newindex = function(t, k, v) rawset(store, k, v * 2) end})
proxy.a = 21
print(rawget(proxy, "a"), store.a)
local nt = setmetatable({}, {__newindex = store})
nt.b = 5
print(rawget(nt, "b"), store.b)
local named = setmetatable({}, {__name = "MyType"})
print(type(named), getmetatable(named).__name)
local ts = setmetatable({}, {__tostring = function() return "custom!" end})
print(tostring(ts), ts)
print(getmetatable(setmetatable({}, {__metatable = "locked"})))
print(pcall(setmetatable, setmetatable({}, {__metatable = 1}), {}))
print(getmetatable("abc").__index == string)
do
  local order = {}
  do
    local a <close> = setmetatable({}, {__close = function() order[#order + 1] = "a" end})
    local b <close> = setmetatable({}, {__close = function(_, e) order[#order + 1] = "b" end})
  end
  print(table.concat(order, ","))
  local ok = pcall(function()
    local c <close> = setmetatable({}, {__close = function(_, e) order[#order + 1] = "c:" .. tostring(e) end})
    error("boom", 0)
  end)
  print(ok, #order)
end
local calls = setmetatable({}, {__call = function(self, a, b) return a + b end})
print(calls(1, 2), pcall(calls, 3, 4))
local cmp = setmetatable({}, {__lt = function(a, b) return 1 end})
print(cmp < cmp, 1 < cmp and "yes" or "no")
local pairsobj = setmetatable({}, {__pairs = function(t) return function(_, k) if not k then return 1, "one" end end, t, nil end})
for k, v in pairs(pairsobj) do print("pairs", k, v) end
do
  local order = {}
  local ok, e = pcall(function()
    local a <close> = setmetatable({}, {__close = function(_, err) order[#order + 1] = "a:" .. tostring(err) end})
    local b <close> = setmetatable({}, {__close = function(_, err) order[#order + 1] = "b:" .. tostring(err); error("replaced", 0) end})
    error("first", 0)
  end)
  print(ok, e, table.concat(order, " "))
  local co = coroutine.wrap(function()
    local c <close> = setmetatable({}, {__close = function() coroutine.yield("closing yields") end})
    return "body"
  end)
  print(co(), co())
end
