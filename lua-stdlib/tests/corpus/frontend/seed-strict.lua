-- __add __lt __concat
local mt = {__add = function(a, b) return 1 end, __lt = function() return true end}
local x = setmetatable({}, mt)
return x + 1, x < x, -x, 1 // 0.0, "10" + 1, 2 ^ 0.5 > 1
