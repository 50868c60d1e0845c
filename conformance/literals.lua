-- lexer and literals: numerals (integer, float, hex, hex floats, overflow),
-- string escapes, long strings and comments
print(1, 1.0, -1, 0x10, 0xff, 0XA, 1e2, 1E-2, .5, 5., 3.14e+2)
print(0x1p4, 0x.8, 0xA.8p1, 0x1P-2, 0x10p0)
print(9223372036854775807, 9223372036854775808, -9223372036854775808)
print(0xffffffffffffffff, 0x7fffffffffffffff, 0x10000000000000000)
print(1e308, 1e309, -1e309, 2^63, 123456789012345678)
print(math.type(1), math.type(1.0), math.type(0x10), math.type(1e2), math.type(0x1p4))
print("tab:\t|", "nl:\\n", 'single "double"', "double 'single'")
print("\65\066\0671", "\x41\x42", "\u{48}\u{49}", "\u{20AC}", #"\u{7FFFFFFF}")
print("a\z
       b", "line1\
line2")
print("\a\b\f\v" == "\7\8\12\11", "\r" == "\13", "\\" == "\92", "\"" == '"')
print([[long
string]], [==[with ]] inside]==], [[
first newline skipped]])
print(#[[

x]])
--[[ block
comment ]] print("after block comment")
--[==[ another
]] still comment ]==] print("after level-2 comment")
-- line comment
print(#"", #"abc", #"\0\0", ("x"):rep(3))
local a <const> = 10
local b <close> = nil
print(a, b)
print(0x7fffffffffffffff + 1 == math.mininteger, 1//0.0 == math.huge)
print(100 // 1e0, 3 | 0, 0xF0 & 0x3C, 0xF0 ~ 0x3C, ~0, 1 << 62, 1 << 63, 1 << 64, -1 >> 1)
print(2^-1, 8 % 3.5, -2^2, (-2)^2, not nil == true, 1 .. 2)
-- numerals: what the lexer reads into one (a touching letter, once) and
-- what `lua_stringtonumber` makes of it
for _, s in ipairs{"3x", "3x5", "3inf", "0xinf", "0x", "1e", "1e+", ".e1",
    "0x.p1", "0x1p", "1..2", "3.4.5", "0xep-1", "0x1P+4", "9223372036854775807",
    "9223372036854775808", "0x7fffffffffffffffff", "1e400", "0x1p99999",
    "0x.0000000000000000000000000000001p200", "00012", "08.5e-3", "1E",
    "0x1.8p1", "12345678901234567890123", "1_0", "0x_1", "5.e", "0x1.p"} do
  local f, e = load("return " .. s)
  if f then
    print(s, math.type(f()), string.format("%.17g", f()))
  else
    print(s, e)
  end
end
-- lexical and syntax errors: message, line and `near` text
for _, s in ipairs{"x = [==", "x = [=", "x = [=[", "x = [==[ ]=]", "--[==[ x", "--[=[ x",
    "x = '\\u{1'", "x = '\\u1'", "x = '\\u{}'", "x = '\\u{80000000}'", "x = '\\xa'", "x = '\\",
    "x = '\\q'", "x = '\\300'", "x = 'abc", "x = \"abc\ndef\"", "x = [[abc", "x = @", "x = \1",
    "x = = 1", "local function", "function f:a.b() end", "for i = 1 do end", "for i, j = 1, 2 do end",
    "if x then", "while x end", "repeat x = 1", "return return", "return 1 2", "goto 1",
    "local x <foo> = 1", "x = {1, 2", "x = {[1] 2}", "f(1,", "a.b:c", "function f() return ... end",
    "local function f(a,) end", "function f(a b) end", "for i in x", "f() = 1", "a = b = c",
    "local a.b = 1", "x = (1", "if x then else else end", "x = [=[ ]]", "local function f()\n\nreturn\n",
    "while true do\n\n", "x = 1 .. 2 .."} do
  print((select(2, load(s))))
end
