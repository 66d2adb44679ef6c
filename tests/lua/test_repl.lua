-- Tests for the Lua side of the REPL (ebpf.repl) that need no kernel: how a
-- value is echoed (repl.pretty, repl.print), that repl.values keeps every
-- value, and the commands that do not touch BPF objects. The commands that
-- list and detach real objects are tested on the kernel in ebpf_repl.lua.
--
-- ebpf.repl requires the ebpf module, whose C half only exists inside the
-- ebpfrun binary; these functions never call it, so an empty table stands in.
package.preload["ebpf"] = function() return {} end
local t = require "harness"
local repl = require "ebpf.repl"

-- Runs fn with the global print captured; returns what it printed.
local function printed(fn)
  local lines, saved = {}, print
  print = function(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
    lines[#lines + 1] = table.concat(parts, "\t")
  end
  local ok, err = pcall(fn)
  print = saved
  if not ok then error(err, 0) end
  return table.concat(lines, "\n")
end

t.test("pretty: scalars, quoted strings with escapes", function()
  t.eq(repl.pretty(42), "42")
  t.eq(repl.pretty(nil), "nil")
  t.eq(repl.pretty(true), "true")
  t.eq(repl.pretty("a\"b\n"), '"a\\"b\\\n"')
end)

t.test("pretty: array part in order, then keys sorted, nested tables indented", function()
  t.eq(repl.pretty({ 10, "x", zeta = 1, alpha = { 1, 2 }, [100] = "far", ["not a name"] = 3 }), table.concat({
    "{",
    "  10,",
    '  "x",',
    '  [100] = "far",',
    "  alpha = {",
    "    1,",
    "    2",
    "  },",
    '  ["not a name"] = 3,',
    "  zeta = 1",
    "}" }, "\n"))
  t.eq(repl.pretty({}), "{}")
end)

t.test("pretty: a cycle is shown once, a __tostring is used as is", function()
  local cyclic = { name = "self" }
  cyclic.me = cyclic
  local text = repl.pretty(cyclic)
  t.ok(text:find('name = "self"', 1, true), text)
  t.ok(text:find("me = table: ", 1, true), "the inner reference is not expanded again: " .. text)
  local obj = setmetatable({ hidden = 1 }, { __tostring = function() return "<object probe>" end })
  t.eq(repl.pretty(obj), "<object probe>")
  local broken = setmetatable({}, { __tostring = function() error("boom") end })
  t.eq(repl.pretty(broken), "<table>")
end)

t.test("pretty: a large table stops after 100 entries", function()
  local big = {}
  for i = 1, 150 do big["k" .. string.format("%03d", i)] = i end
  local text = repl.pretty(big)
  local entries = select(2, text:gsub("\n  k%d+ = ", ""))
  t.eq(entries, 100)
  t.ok(text:find("\n  ...\n}$"), "ends with an ellipsis: " .. text:sub(-40))
end)

t.test("values returns every argument, nils included; print echoes them tab-separated", function()
  t.eq(select("#", repl.values(1, nil, 3, nil)), 4)
  t.eq({ repl.values("a", 2) }, { "a", 2 })
  t.eq(printed(function() repl.print(1, "two", nil, { 3 }) end), '1\t"two"\tnil\t{\n  3\n}')
end)

t.test("commands: :help prints the help text, an unknown command says how to get help", function()
  t.eq(printed(function() repl.command("help") end), repl.help)
  t.eq(printed(function() repl.command("h") end), repl.help)
  t.eq(printed(function() repl.command("frobnicate") end), "unknown command :frobnicate (try :help)")
  for _, name in ipairs { ":help", ":probes", ":maps", ":detach", ":quit" } do
    t.ok(repl.help:find(name, 1, true), "the help lists " .. name)
  end
end)

t.done()
