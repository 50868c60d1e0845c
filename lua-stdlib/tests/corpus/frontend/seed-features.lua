local t <const> = {1, 2, 3, x = 4, [5] = 6, f = function(self, ...) return select('#', ...) end}
local s = 0
for i = 1, #t do s = s + t[i] end
for k, v in pairs(t) do s = s .. k end
while s do break end
repeat local y = 1 until y
goto skip
::skip::
do local c <close> = setmetatable({}, {__close = function() end}) end
local a, b = t:f(1, 2), t.x // 2 % 3 ^ 4 << 1 >> 1 & 3 | 4 ~ 5
if a == b or a ~= b and not (a < b) then a = -a elseif #t > 0 then a = ~a else a = nil end
return a .. b, ...
