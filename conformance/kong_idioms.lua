-- what Kong function authors typically write: header/URL handling, JSON-ish
-- encoding, splitting and trimming, base-N conversions, time formatting
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  print(table.concat(t, " | "))
end

local function url_decode(s)
  s = s:gsub("+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end
local function url_encode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end
show(url_decode("a%20b+c%2Fd%3f"), url_encode("a b/c?d=é"))

local function split(s, sep)
  local out = {}
  for piece in (s .. sep):gmatch("(.-)" .. sep:gsub("%p", "%%%0")) do out[#out + 1] = piece end
  return out
end
local parts = split("a,b,,c", ",")
show(#parts, table.concat(parts, "|"))
local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end
show("[" .. trim("  padded value \t\n") .. "]")

local query = {}
for k, v in ("id=42&name=alice&empty=&flag"):gmatch("([^&=]+)=?([^&]*)") do query[k] = v end
show(query.id, query.name, query.empty == "", query.flag == "")

local headers = {["Content-Type"] = "application/json", ["X-Request-Id"] = "abc123", ["x-count"] = 3}
local names = {}
for k in pairs(headers) do names[#names + 1] = k end
table.sort(names, function(a, b) return a:lower() < b:lower() end)
for _, k in ipairs(names) do show(k, headers[k]) end

local function encode(v, indent)
  local t = type(v)
  if t == "table" then
    if #v > 0 or next(v) == nil then
      local out = {}
      for i = 1, #v do out[i] = encode(v[i]) end
      return "[" .. table.concat(out, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    local out = {}
    for i, k in ipairs(keys) do out[i] = string.format("%q:%s", k, encode(v[k])) end
    return "{" .. table.concat(out, ",") .. "}"
  elseif t == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
  elseif t == "number" then
    return math.type(v) == "integer" and tostring(v) or string.format("%.14g", v)
  end
  return tostring(v)
end
show(encode({status = 200, body = {ok = true, items = {1, 2.5, "x\"y\n"}, empty = {}}, ratio = 1 / 3}))

show(os.date("!%a, %d %b %Y %H:%M:%S GMT", 1700000000), os.date("!%Y-%m-%dT%H:%M:%SZ", 0))
show(string.format("%08.3f|%-6s|%6.2f%%|%x", math.pi, "ok", 99.5, 3735928559))
show(("Bearer abc.def.ghi"):match("^Bearer%s+(.+)$"), ("/api/v1/users/42"):match("^/api/v%d+/users/(%d+)$"))
show(("GET"):lower(), ("x"):rep(3, "-"), ("hello world"):find("o w", 1, true), #("héllo"), utf8.len("héllo"))
show(tostring(nil), tostring(1e16), tostring(2^53), math.floor(3.99), math.tointeger(5.0), 7 // 2, 7 % 3)
show(pcall(error, {status = 401, message = "unauthorized"}) == false, select("#", pcall(error)))
local ok, err = pcall(function() local cfg = nil; return cfg.timeout end)
show(ok, type(err))
show(string.format("%s=%s", "retries", 5), ("%d items"):format(3), ("%5.1f"):format(2.25))
