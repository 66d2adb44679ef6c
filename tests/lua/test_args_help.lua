-- Tests for ebpf.args_help, the --help and usage layout of ebpf.args, called
-- directly with normalised options so that the layout rules are pinned down
-- independently of the parser: the usage line wraps under the program name,
-- help text sits in column 24 or below a wide option, defaults are appended
-- to valued options only, and description/epilog frame the option list.
local t = require "harness"
local help = require "ebpf.args_help"

local function flag(name, text) return { names = { name }, type = "flag", help = text } end
local function valued(names, metavar, text, default)
  return { names = names, type = "string", metavar = metavar, help = text, default = default }
end

t.test("usage: optional options bracketed, required ones bare, positionals last", function()
  local options = { flag("-v", "say more"), valued({ "--top" }, "N", "rows"),
                    { names = { "--out" }, type = "string", metavar = "FILE", required = true } }
  local positional = { { name = "CMD", optional = false }, { name = "ARGS", optional = true, multiple = true } }
  t.eq(help.usage("tool", options, positional), "usage: tool [-v] [--top N] --out FILE CMD [ARGS ...]")
end)

t.test("usage: a long usage line wraps at 79 columns, continued under the program name", function()
  local options = {}
  for i = 1, 8 do options[i] = valued({ "--option-number-" .. i }, "VALUE", "") end
  local text = help.usage("prog", options, {})
  local lines = {}
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
  t.ok(#lines > 1, "wrapped: " .. text)
  for i, l in ipairs(lines) do
    t.ok(#l <= 79, "line " .. i .. " is " .. #l .. " columns")
    if i > 1 then t.eq(l:sub(1, 12), string.rep(" ", 12), "continuation indent of line " .. i) end
  end
  t.eq(lines[1]:sub(1, 37), "usage: prog [--option-number-1 VALUE]")
end)

t.test("help: description, positionals, options in column 24, defaults, epilog", function()
  local options = {
    { names = { "-h", "--help" }, type = "flag", help = "show this help and exit" },
    valued({ "-p", "--pid" }, "PID", "only this process"),
    valued({ "--top" }, "N", "rows to show", 10),
    { names = { "--quiet" }, type = "flag", help = "no header", default = false },
  }
  local positional = { { name = "PATTERN", optional = true, help = "only matching commands" } }
  local spec = { description = "Trace new processes.", epilog = "Example: tool --top 5" }
  t.eq(help.help("tool", spec, options, positional), table.concat({
    "usage: tool [-h] [-p PID] [--top N] [--quiet] [PATTERN]",
    "",
    "Trace new processes.",
    "",
    "positional arguments:",
    "  PATTERN               only matching commands",
    "",
    "options:",
    "  -h, --help            show this help and exit",
    "  -p, --pid PID         only this process",
    "  --top N               rows to show (default: 10)",
    "  --quiet               no header",
    "",
    "Example: tool --top 5",
    "" }, "\n"))
end)

t.test("help: an option too wide for its column puts its text on the next line, wrapped", function()
  local long = "words " .. string.rep("that keep going ", 8)
  local options = { valued({ "--a-very-long-option-name" }, "VALUE", long) }
  local text = help.help("tool", {}, options, {})
  local entry = text:match("options:\n(.*)$")
  local lines = {}
  for l in entry:gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
  t.eq(lines[1], "  --a-very-long-option-name VALUE")
  t.ok(#lines >= 3, "the help text wraps over several lines")
  for i = 2, #lines do
    t.eq(lines[i]:sub(1, 24), string.rep(" ", 24), "indent of line " .. i)
    t.ok(#lines[i] <= 79, "line " .. i .. " is " .. #lines[i] .. " columns")
  end
end)

t.test("help: an option with no help text is listed alone", function()
  local text = help.help("tool", {}, { flag("--bare", nil) }, {})
  t.eq(text, "usage: tool [--bare]\n\noptions:\n  --bare\n")
end)

t.done()
