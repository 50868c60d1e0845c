-- VM-bound: 1M method calls on a table object.
local Counter = {}
Counter.__index = Counter
function Counter.new() return setmetatable({n = 0}, Counter) end
function Counter:add(k) self.n = self.n + k end
local c = Counter.new()
for i = 1, 1000000 do c:add(i) end
print(c.n)
