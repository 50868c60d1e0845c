-- the line a runtime error names when an expression spans lines (where
-- lua5.4 puts a value in a register: the token before '.', '[', an
-- operator's operand's last token, a comparison's right operand, a
-- table item's separator or closing brace, an `if`'s `then`): each
-- snippet is run with every one or two of its token gaps made newlines
-- (calls spanning lines are left out: 5.4.8 names the line of their `(`,
-- 5.4.4 the line where the call starts; see README)
local snippets = {
  "local t = { } ; return t . a . b . c",
  "local t = { a = { } } ; return t . a . b . c",
  "local t = { } ; t . a . b = 1",
  "local t = { } ; return t [ 1 ] [ 2 ]",
  "local t = { } ; return t [ 'x' ] . y",
  "return x . y",
  "local t = { } ; return t . x + 1",
  "local t = { } ; return 1 + t . x",
  "local a = { } ; return a . b . c + a . d . e",
  "local t = { } ; local v = t . a [ t . b . c ]",
  "local t = { a = 1 } ; return t . a . b",
  "local t = { } ; return t . x .. 'a'",
  "local t = { } ; return ( t . x ) . y",
  "local t = { } ; t [ 1 ] . x . y = 1",
  "local t = { } ; while t . x . y do end",
  "local t = { } ; return t . x and t . y . z",
  "return # x . y",
  "return - x . y",
  "local t = { } ; return not t . x . y",
  "local t = { } ; return t . x < 1",
  "local t = { } ; return 1 >= t . x",
  "local t = { } ; return t . x == t . y . z",
  "local t = { } ; return { t . x . y }",
  "local t = { } ; return { t . x . y , 1 }",
  "local t = { } ; return { 1 ; t . x . y ; }",
  "local t = { } ; if t . x . y then end",
  "local t = { } ; if t then elseif t . x . y then end",
  "local t = { } ; for k , v in t . x do end",
  "local t = { } ; for k in next , t . x . y do end",
}
for i, s in ipairs(snippets) do
  local toks = {}
  for w in s:gmatch("%S+") do toks[#toks + 1] = w end
  for j = 1, #toks - 1 do
    for k = j, #toks - 1 do
      local parts = {}
      for n = 1, #toks do
        parts[#parts + 1] = toks[n]
        if n < #toks then parts[#parts + 1] = (n == j or n == k) and "\n" or " " end
      end
      local f, e = load(table.concat(parts), "=s")
      if f then
        print(i, j, k, pcall(f))
      else
        print(i, j, k, e)
      end
    end
  end
end
