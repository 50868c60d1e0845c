-- VM-bound: build and call 1M closures that share upvalues (a counter and
-- a step shared by every closure, plus one upvalue of their own).
local function factory()
  local count, step = 0, 1
  local function make(k)
    return function(x)
      count = count + step
      return x + k + count
    end
  end
  local function total() return count end
  return make, total
end
local make, total = factory()
local acc = 0
for i = 1, 1000000 do
  local f = make(i % 7)
  acc = acc + f(i)
end
print(acc, total())
