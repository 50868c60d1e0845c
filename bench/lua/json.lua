-- Mixed: building a JSON-like string from a table, as a function returning
-- a response body would.
local function encode(v)
  local ty = type(v)
  if ty == "table" then
    if #v > 0 then
      local out = {}
      for i = 1, #v do out[i] = encode(v[i]) end
      return "[" .. table.concat(out, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys)
    local out = {}
    for i, k in ipairs(keys) do out[i] = string.format("%q:%s", k, encode(v[k])) end
    return "{" .. table.concat(out, ",") .. "}"
  elseif ty == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
  else
    return tostring(v)
  end
end
local doc = {}
for i = 1, 20000 do
  doc[i] = {id = i, name = "user" .. i, tags = {"a", "b", "c"}, score = i / 3, active = i % 2 == 0}
end
print(#encode(doc))
