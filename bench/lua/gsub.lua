-- Library: pattern matching (gsub, find, gmatch) over a few MB.
local line = "GET /api/v1/users/12345?id=42&name=alice HTTP/1.1 host=example.com\n"
local text = string.rep(line, 50000)
local replaced, n = string.gsub(text, "%d+", "N")
local count = 0
for word in string.gmatch(text, "%a+") do count = count + 1 end
local pos, found = 1, 0
while true do
  local s, e = string.find(text, "host=([%w%.]+)", pos)
  if not s then break end
  found = found + 1
  pos = e + 1
end
print(#replaced, n, count, found)
