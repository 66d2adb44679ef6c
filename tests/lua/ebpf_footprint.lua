-- What an ebpfrun process maps: a script, a tool or a one-liner never maps
-- the agent's HTTP transport or OpenSSL (cpp-httplib links it; only
-- `ebpfrun agent` loads libebpfrun-http.so), nor the compiler library when
-- nothing is compiled. Each would add megabytes of resident memory to every
-- tool. The agent side (the module is loaded and serves) is covered by the
-- agent_* tests.
local t = require "harness"

local function mapped(pattern)
  local f = assert(io.open("/proc/self/maps"))
  local text = f:read("*a")
  f:close()
  local found = {}
  for path in text:gmatch("(/[^\n]+)\n") do
    if path:find(pattern) and not found[path] then found[path] = true end
  end
  local list = {}
  for path in pairs(found) do list[#list + 1] = path end
  table.sort(list)
  return list
end

t.test("a script maps neither OpenSSL nor the HTTP transport nor the compiler", function()
  t.eq(mapped("libssl"), {})
  t.eq(mapped("libcrypto"), {})
  t.eq(mapped("httplib"), {})
  t.eq(mapped("libebpfrun%-http"), {})
  t.eq(mapped("libebpfrun%-clang"), {})
  t.eq(mapped("libLLVM"), {})
  -- The check itself sees what is mapped: the Lua runtime is.
  t.ok(#mapped("libluajit") == 1, "libluajit is mapped")
end)

t.done()
