-- utf8 library on lua-stdlib (without the string library: bytes are shown
-- through utf8.codepoint)
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  print(table.concat(t, " | "))
end

local s = "h\u{E9}llo w\u{F6}rld \u{20AC}\u{1F600}"
show(#s, utf8.len(s), utf8.len(s, 3), utf8.len(s, -4), utf8.len(""), utf8.len(s, 1, 0))
show(utf8.len("\xff"), utf8.len("abc\xe4"), utf8.len("\xed\xa0\x80"), utf8.len("\xed\xa0\x80", 1, -1, true))
show(utf8.len("\xf4\x90\x80\x80"), utf8.len("\xf4\x90\x80\x80", 1, -1, true), utf8.len("\xc0\x80"))
show(utf8.codepoint(s, 1, -1))
show(utf8.codepoint(utf8.char(0x7FFFFFFF), 1, 1, true), pcall(utf8.codepoint, utf8.char(0x7FFFFFFF)))
show(pcall(utf8.codepoint, s, 3))
show(pcall(utf8.codepoint, s, 1, 100))
show(utf8.char(72, 0x10FFFF, 0x7FF) == "H\u{10FFFF}\u{7FF}", #utf8.char(0x7FFFFFFF), #utf8.char(0x3FFFFFF))
show(pcall(utf8.char, -1))
show(pcall(utf8.char, "x"))
show(pcall(utf8.char, 2^31))
for p, c in utf8.codes(s) do io_write = (io_write or "") .. p .. ":" .. c .. " " end
show(io_write)
local n = 0
for _ in utf8.codes("\u{10FFFF}\u{FFFF}", true) do n = n + 1 end
show(n)
show(pcall(function() for _ in utf8.codes("a\xffb") do end end))
show(pcall(function() for _ in utf8.codes("\xed\xa0\x80") do end end))
show(pcall(function() local n = 0 for _ in utf8.codes("\xed\xa0\x80", true) do n = n + 1 end return n end))
show(select("#", utf8.codes(1)), select(2, utf8.codes(1)))
show(utf8.offset(s, 1), utf8.offset(s, 3), utf8.offset(s, -1), utf8.offset(s, -3), utf8.offset(s, 0, 3))
show(utf8.offset(s, 20), utf8.offset(s, -20), utf8.offset("abc", 4), utf8.offset("abc", 5), utf8.offset("", 1))
show(pcall(utf8.offset, s, 1, 3))
show(pcall(utf8.offset, s, 1, 100))
show(pcall(utf8.len, s, 100))
show(pcall(utf8.len, s, 1, 100))
show(utf8.charpattern == "[\0-\x7F\xC2-\xFD][\x80-\xBF]*")
