-- __gc finalizers and collectgarbage's options. Garbage is made inside
-- functions (no register of the main chunk keeps it alive). Errors in
-- finalizers are warnings (stderr), so only what follows them is printed.

local log = {}
local function logger(name)
  return function(o)
    log[#log + 1] = name .. ":" .. type(o)
  end
end
local function flush(what)
  print(what, table.concat(log, " "))
  log = {}
end

-- finalizers run when the object is collected, newest first
do
  local function make()
    for _, name in ipairs{"a", "b", "c"} do
      setmetatable({}, {__gc = logger(name)})
    end
  end
  make()
  flush("before collect")
  collectgarbage()
  flush("after collect")
  collectgarbage()
  flush("only once")
end

-- a reachable object is not finalized; one dropped later is
do
  local held = setmetatable({}, {__gc = logger("held")})
  collectgarbage()
  flush("held")
  held = nil
  collectgarbage()
  flush("dropped")
end

-- __gc must be in the metatable when it is set; its value at call time
-- is what runs
do
  local function make()
    local mt = {}
    setmetatable({}, mt)
    mt.__gc = logger("late")           -- not marked: never runs
    local mt2 = {__gc = true}
    setmetatable({}, mt2)
    mt2.__gc = logger("replaced")      -- marked: the current value runs
    setmetatable({}, {__gc = false}) -- marked, but false is not callable
  end
  make()
  collectgarbage()
  flush("marking rules")
end

-- resurrection: the object lives on, its finalizer does not run again
-- unless it is marked anew
do
  local saved
  local function make()
    local o = setmetatable({value = 7}, {__gc = function(o)
      log[#log + 1] = "resurrect"
      saved = o
    end})
    o.self = o
  end
  make()
  collectgarbage()
  flush("first")
  print("saved", saved.value, saved.self == saved)
  saved = nil
  collectgarbage()
  flush("not again")
  local function make2()
    local o = setmetatable({}, {__gc = function(o)
      log[#log + 1] = "again"
      saved = o
    end})
    return o
  end
  local o = make2()
  o = nil
  collectgarbage()
  flush("marked once")
  setmetatable(saved, getmetatable(saved))
  saved = nil
  collectgarbage()
  flush("marked anew")
end

-- objects reachable from a finalized object survive with it
do
  local kept
  local function make()
    local inner = {name = "inner"}
    setmetatable({inner = inner}, {__gc = function(o) kept = o.inner end})
  end
  make()
  collectgarbage()
  print("reachable from it", kept and kept.name)
end

-- errors in finalizers are warnings; the program goes on
do
  local function make()
    setmetatable({}, {__gc = function() error("boom") end})
    setmetatable({}, {__gc = function() error({}) end})
    setmetatable({}, {__gc = 42})
    setmetatable({}, {__gc = logger("after errors")})
  end
  make()
  collectgarbage()
  flush("errors")
end

-- inside a finalizer: collectgarbage answers fail, nothing can yield
do
  local results
  local function make()
    setmetatable({}, {__gc = function()
      results = {collectgarbage(), collectgarbage("count"), collectgarbage("step"),
        coroutine.isyieldable()}
    end})
  end
  make()
  collectgarbage()
  print("inside", results[1], results[2], results[3], results[4])
  local co = coroutine.wrap(function()
    local function make2()
      setmetatable({}, {__gc = function()
        log[#log + 1] = "in coroutine"
        coroutine.yield("from __gc")
      end})
    end
    make2()
    collectgarbage()
    return "coroutine went on"
  end)
  print(co())
  flush("yield in __gc")
end

-- a finalizer that creates garbage with finalizers
do
  local function make()
    setmetatable({}, {__gc = function()
      log[#log + 1] = "outer"
      setmetatable({}, {__gc = logger("inner")})
    end})
  end
  make()
  collectgarbage()
  collectgarbage()
  flush("nested")
end

-- collectgarbage's options
print(collectgarbage("collect"), collectgarbage())
print(math.type(collectgarbage("count")), select("#", collectgarbage("count")))
print(collectgarbage("isrunning"))
print(collectgarbage("stop"), collectgarbage("isrunning"))
print(collectgarbage("restart"), collectgarbage("isrunning"))
print(collectgarbage("generational"), collectgarbage("incremental"), collectgarbage("incremental"))
print(type(collectgarbage("step")), type(collectgarbage("step", 100)))
print(pcall(collectgarbage, "bogus"))
print(pcall(collectgarbage, 1))
do
  local before = collectgarbage("count")
  local function grow() local t = {} for i = 1, 10000 do t[i] = {} end return t end
  local t = grow()
  local during = collectgarbage("count")
  t = nil
  collectgarbage()
  print("count grows and shrinks", during > before, collectgarbage("count") < during)
end

-- collection stopped: explicit collections still run finalizers
collectgarbage("stop")
do
  local function make() setmetatable({}, {__gc = logger("while stopped")}) end
  make()
  collectgarbage()
  flush("stopped")
end
collectgarbage("restart")

-- finalizers of objects still alive run when the state closes, newest
-- first, after the last line of the script
FIRST = setmetatable({}, {__gc = function() print("closing: first") end})
SECOND = setmetatable({}, {__gc = function() print("closing: second") end})
print("end of script")
