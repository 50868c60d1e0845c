local function f(a, b, ...)
  local i = debug.getinfo(1, "Slnu")
  print(i.source, i.short_src, i.what, i.currentline, i.linedefined, i.lastlinedefined, i.name, i.namewhat, i.nups, i.nparams, i.isvararg)
  local c = debug.getinfo(2, "Sl")
  print(c.what, c.currentline, c.short_src)
  local z = debug.getinfo(print)
  print(z.what, z.short_src, z.currentline, z.linedefined, z.source)
  local g = debug.getinfo(f, "S")
  print(g.what, g.linedefined, g.lastlinedefined)
  print(debug.getinfo(50))
end
f(1, 2)
local t = {m = f}
t.m()
