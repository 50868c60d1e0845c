-- string library: byte char len lower upper rep reverse sub, bounds and errors
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  print(table.concat(t, " | "))
end

show(string.len(""), string.len("abc"), string.len("a\0b"))
show(string.sub("hello", 2), string.sub("hello", 2, 3), string.sub("hello", -3, -2))
show(string.sub("hello", 0), string.sub("hello", 10), string.sub("hello", -100, 2))
show(string.sub("hello", 3, 2), string.sub("hello", -1), string.sub("hello", 2, -100))
show(string.sub("hello", math.mininteger, math.maxinteger))
show(string.byte("ABC"), string.byte("ABC", 2), string.byte("ABC", -1))
show(string.byte("ABC", 1, 3))
show(string.byte("ABC", 4), string.byte(""), string.byte("ABC", 3, 1))
show(string.char(), string.char(104, 105), string.char(0, 255) == "\0\255")
show(string.upper("Hello, World! 123"), string.lower("Hello, World! 123"))
show(string.rep("ab", 3), string.rep("ab", 3, "-"), string.rep("x", 0), string.rep("x", -1))
show(string.rep("", 5), string.rep("a", 1, "sep"), string.rep("a", 2, ""))
show(string.reverse("hello"), string.reverse(""), string.reverse("a"))
show(string.len(string.rep("abc", 1000)))
-- numbers are accepted where strings are expected
show(string.len(12345), string.upper(1.5), string.sub(123456, 2, 4), string.rep(7, 3))
-- errors
show(pcall(string.sub))
show(pcall(string.sub, "x", "a"))
show(pcall(string.sub, "x", 1.5))
show(pcall(string.rep, "x", nil))
show(pcall(string.char, 256))
show(pcall(string.char, "x"))
show(pcall(string.upper, {}))
show(pcall(string.len))
show(pcall(string.byte, "abc", {}))
-- string.format basics are in format.lua, patterns in patterns.lua
show(#"abc", "abc" .. "def", "a" < "b", "a" < "B", "abc" < "abd", "" < "a")
show(tostring("x"), tostring(12), tostring(-0.0), tostring(1e15), tostring(2^53))
show(string.format("%s", "\0") == "\0", ("x\0y"):len())
