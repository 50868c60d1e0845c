-- string.format: every conversion, flags, width, precision, %q, errors
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  print(table.concat(t, " | "))
end
local f = string.format

show(f("%d %i %5d %-5d| %05d %+d % d", 42, 42, 42, 42, 42, 42, 42))
show(f("%d", -0), f("%d", 3.0), f("%.3d", 7), f("%5.3d", -7), f("%x %X %o", 255, 255, 8))
show(f("%#x %#X %#o", 255, 255, 8), f("%x", -1), f("%d", math.mininteger), f("%d", math.maxinteger))
show(f("%c%c%c", 76, 117, 97), f("%5c|%-5c|", 65, 66))
show(f("%f", 3.14159), f("%.2f", 3.14159), f("%10.3f|", 3.14159), f("%-10.1f|", 2.25))
show(f("%.0f %.0f %.0f %.0f", 0.5, 1.5, 2.5, -0.5), f("%#.0f", 1), f("%+.1f", 1))
show(f("%e", 12345.678), f("%.2e", 0.000123), f("%E", 1e100), f("%.0e", 5e10))
show(f("%g", 100000), f("%g", 1000000), f("%g", 1e-4), f("%g", 1e-5), f("%g", 0.1))
show(f("%g", 123456789), f("%.3g", 3.14159), f("%10.4g|", 2.5), f("%G", 1e-10), f("%#g", 1.0))
show(f("%g", 0), f("%g", -0.0), f("%.14g", 0.1 + 0.2), f("%.17g", 0.1))
show(f("%a", 1), f("%a", 0.5), f("%a", -3.75), f("%A", 255.5), f("%.2a", 1/3), f("%a", 0.0))
show(f("%5.1f|%-8.3e|%08.2f", 3.14159, 3.14159, -3.14159))
show(f("%f %f %f", 1/0, -1/0, 0/0 ~= 0/0 and 1 or 0), f("%5.1f|", 1/0))
show(f("%s %s %s %s", "x", 1, 2.5, true), f("%s", nil), f("%10s|%-10s|", "hi", "hi"))
show(f("%.2s", "hello"), f("%5.1s|", "hello"), f("%s", 1e100), f("%s", -0.0))
show(f("%%"), f("100%%"), f("%d%%", 50), f("no conversions"))
show(f("%q", "hello"), f("%q", 'a "quoted" \\ string'), f("%q", "line1\nline2"))
show(f("%q", "tab\there\0zero\r\n"), f("%q", "\0001"), f("%q", "\127\200"))
show(f("%q", 42), f("%q", -7), f("%q", 1.5), f("%q", 1/0), f("%q", -1/0), f("%q", math.mininteger))
show(f("%q", 0.1), f("%q", true), f("%q", nil))
show(f("%5s", "abcdefg"), f("%.0s|", "abc"), f("%3d|%-3d|", 12345, 1))
show(f("%d", "10"), f("%s", "%d"), f("%x", "0x10"), f("%.3f", "1.5"))
show(f("[%s]", table.concat({1, 2, 3}, ",")))
show(pcall(f, "%d", 1.5))
show(pcall(f, "%d", "x"))
show(pcall(f, "%d"))
show(pcall(f, "%y", 1))
show(pcall(f, "%", 1))
show(pcall(f, "%10q", "x"))
show(pcall(f, "%123d", 1))
show(pcall(f, "%.123f", 1))
show(pcall(f, "%#d", 1))
show(pcall(f, "%q", {}))
show(pcall(f))
show(pcall(f, "%s %s", 1))
show(pcall(f, "%c", "a"))
show(pcall(f, "%10.3s|", "a\0b"))
show(select("#", f("")), f("") == "")
-- %g family across magnitudes (rounding that carries into the exponent)
local vals = {0, -0.0, 1/3, 2/3, 1e-5, 1.5e-4, 123456.789, 1e21, 2^53, 2^63, 0.1, 1e100, 5e-324, 1.7976931348623157e308, 100000, 1e6, 999999.5, 9.5, 0.00001234, 99999999999999, 1e14, 123456789012345}
for _, fmt in ipairs({"%g", "%.3g", "%.14g", "%#.3g", "%10.4g", "%-12g|", "%+g", "%G", "%.0g", "%.1g", "%#.0g", "%.17g", "%.3e", "%.2f"}) do
  local row = {}
  for _, v in ipairs(vals) do row[#row + 1] = f(fmt, v) end
  print(fmt, table.concat(row, " "))
end
local row = {}
for _, v in ipairs(vals) do row[#row + 1] = tostring(v) end
print(table.concat(row, " "))
