-- Patterns: replacement by string, table (with __index), function; gmatch
-- iteration; anchors, captures, back-references, frontiers, balances; and
-- lua5.4's errors, including its recursion limit.
print(string.gsub("hello world", "o", "0"))
print(string.gsub("hello world", "(%w+)", "<%1>"))
print(string.gsub("hello world", "%w+", "%0 %0", 1))
print(string.gsub("abc", "", "-"))
print(string.gsub("abc", "b*", "X"))
print(string.gsub("$name is $age", "%$(%w+)", {name = "Ann", age = 30}))
local lookups = 0
local t = setmetatable({}, {__index = function(_, k) lookups = lookups + 1; return k:upper() end})
print(string.gsub("a b c", "%a", t), lookups)
local chain = setmetatable({}, {__index = setmetatable({x = "X"}, {__index = function() return false end})})
print(string.gsub("x y", "%a", chain))
print(string.gsub("1 2 3", "%d", function(d) return d * 2 end))
print(string.gsub("abc", "%w", function(c) if c == "b" then return nil end return c:upper() end))
print(string.gsub("abc", "^a", "X"), string.gsub("aaa", "^a", "X"))
print(string.gsub("hello", "()", "%1"))
print(string.gsub("abc", ".", {a = 1, b = 2.5, c = false}))
print(pcall(string.gsub, "abc", ".", {a = {}}))
print(pcall(string.gsub, "abc", ".", function() return {} end))
print(pcall(string.gsub, "abc", "(a)", "%2"))
print(pcall(string.gsub, "abc", "a", "%x"))
print(pcall(string.gsub, "abc", "a", "%"))
print(pcall(string.gsub, "abc", "a", true))
print(pcall(string.gsub, "abc", "a", nil))
print(pcall(string.gsub, "abc", "a", "b", "x"))
local words = {}
for w in string.gmatch("one two  three", "%a+") do words[#words + 1] = w end
print(table.concat(words, ","))
for k, v in string.gmatch("a=1, b=2", "(%w+)=(%w+)") do print(k, v) end
for p in string.gmatch("abc", "()") do print(p) end
for a in string.gmatch("^a^a", "^a") do print(a) end
for w in string.gmatch("hello world", "%a+", -5) do print(w) end
for w in string.gmatch("abc", "x*") do print("[" .. w .. "]") end
print(string.find("THE (quick) fox", "%f[%a]%a+", 5))
print(string.find("f(a(b)c)d", "%b()"), string.match("[[x]]", "%b[]"))
print(string.match("abcabc", "(a)(b)c%1%2"), string.find("aXa", "()X%1"))
print(string.match("  trim  ", "^%s*(.-)%s*$") .. "|")
print(string.match("key = value", "(%w+)%s*=%s*(%w+)"))
print(string.match("2024-01-15", "(%d+)-(%d+)-(%d+)"))
print(string.find("a.b", ".", 1, true), string.find("a+b", "+", 1, true), string.find("abc", "", 10))
print(string.find("abc", "", 4), string.find("abc", "c", -1), string.find("", ""))
print(string.match("hello", ".-(l+)(.*)"), string.match("x", "()"))
print(pcall(string.find, "a", "%"))
print(pcall(string.find, "a", "[a"))
print(pcall(string.find, "a", "(a"))
print(pcall(string.match, "a", "a)"))
print(pcall(string.find, "a", "%1"))
print(pcall(string.find, "a", "%b"))
print(pcall(string.find, "a", "%fa"))
print(pcall(string.find, string.rep("a", 40), string.rep("(a)", 33)))
print(pcall(string.match, string.rep("a", 300), string.rep("a?", 300)))
print(pcall(string.match, string.rep("a", 300), string.rep("(", 150) .. string.rep(")", 150)))
print(#string.match(string.rep("x", 100000), ".-$"), #string.gsub(string.rep("ab", 50000), "b", ""))
