-- utf8 library: char charpattern codepoint codes len offset, strict and lax
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  print(table.concat(t, " | "))
end

show(utf8.char(72, 228, 8364, 128512), utf8.char(), #utf8.char(0x7FFFFFFF), utf8.char(0x10FFFF) == "\u{10FFFF}")
show(utf8.charpattern == "[\0-\x7F\xC2-\xFD][\x80-\xBF]*")
local s = "héllo wörld €😀"
show(#s, utf8.len(s), utf8.len(s, 3), utf8.len(s, -4), utf8.len(""), utf8.len(s, 1, 0))
show(utf8.len("\xff"), utf8.len("abc\xe4"), utf8.len("\xed\xa0\x80"), utf8.len("\xed\xa0\x80", 1, -1, true))
show(utf8.codepoint(s), utf8.codepoint(s, 2), utf8.codepoint(s, 1, 3))
show(utf8.codepoint(s, -4, -1))
show(utf8.codepoint("\u{7FFFFFFF}", 1, 1, true), pcall(utf8.codepoint, "\u{7FFFFFFF}"))
show(pcall(utf8.codepoint, s, 3))
show(pcall(utf8.codepoint, s, 0))
show(pcall(utf8.codepoint, s, 1, 100))
show(select("#", utf8.codepoint(s, 5, 4)))
for p, c in utf8.codes("aé€😀") do io.write(p, ":", c, " ") end print()
for p, c in utf8.codes("") do io.write(p, c) end print("empty ok")
show(pcall(function() for p, c in utf8.codes("a\xffb") do end end))
show((pcall(utf8.codes, "abc")))
show(utf8.offset(s, 1), utf8.offset(s, 3), utf8.offset(s, -1), utf8.offset(s, -3), utf8.offset(s, 0, 3))
show(utf8.offset(s, 20), utf8.offset(s, -20), utf8.offset("abc", 4), utf8.offset("abc", 5), utf8.offset("", 1))
show(pcall(utf8.offset, s, 1, 3))
show(pcall(utf8.offset, s, 1, 100))
show(pcall(utf8.len, s, 100))
show(pcall(utf8.len, s, 1, 100))
show(pcall(utf8.char, -1))
show(pcall(utf8.char, 0x80000000))
local count = 0
for ch in string.gmatch(s, utf8.charpattern) do count = count + 1 end
show(count)
show(utf8.char(0x41, 0x7F, 0x80, 0x7FF, 0x800, 0xFFFF, 0x10000, 0x1FFFFF, 0x200000, 0x3FFFFFF, 0x4000000):byte(1, -1))
