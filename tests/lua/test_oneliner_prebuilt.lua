-- Which `where` filters the prebuilt generic one-liner serves, and the
-- globals it is given for them (stdlib/ebpf/oneliner_prebuilt.lua), under
-- plain LuaJIT: the terms of a conjunction, mirrored and negated
-- comparisons, and the filters left to generated C.
local t = require "harness"
local ffi = require "ffi"
ffi.cdef "int setenv(const char *name, const char *value, int overwrite);"

-- The plan needs the generic source somewhere; the tests' LUA_PATH names
-- the source tree's stdlib, whose bpf/ is beside it.
local stdlib = package.path:match("([^;]*)/stdlib/%?%.lua")
ffi.C.setenv("EBPFRUN_BPF_DIR", stdlib .. "/bpf", 1)
local P = require "ebpf.oneliner_prebuilt"

local INFO = {
  kind = "tracepoint",
  category = "syscalls",
  probe = "tracepoint/syscalls/sys_exit_openat",
  fields = { ret = { kind = "int", size = 8, offset = 16, signed = true } },
}

local function where(text) return P.plan(INFO, { "comm" }, nil, nil, { where = text }, {}) end

local function terms(text)
  local plan = where(text)
  if not plan then return nil end
  local out = {}
  for i = 0, 3 do
    local g, prefix = plan.compile.globals, ("oneliner_where%d_"):format(i)
    if g[prefix .. "operand"] then
      out[#out + 1] = {
        g[prefix .. "operand"], g[prefix .. "op"], g[prefix .. "value"], g[prefix .. "offset"], g[prefix .. "comm"],
      }
    end
  end
  return out
end

-- Operands: 1 pid, 2 tid, 3 uid, 4 cpu, 5 a record field, 6 comm.
-- Ops: 1 ==, 2 !=, 3 <, 4 <=, 5 >, 6 >=.
t.test("a conjunction becomes one term per comparison", function()
  t.ok(where(nil) ~= nil, "no where at all is served")
  t.eq(terms("ret == -2 && comm == 'cat'"), { { 5, 1, -2, 16, "" }, { 6, 1, 0, 0, "cat" } })
  t.eq(terms("pid > 1 && tid <= 7 && uid != 0 && cpu >= 0"),
    { { 1, 5, 1, 0, "" }, { 2, 4, 7, 0, "" }, { 3, 2, 0, 0, "" }, { 4, 6, 0, 0, "" } })
end)

t.test("constants on the left are mirrored, ! negates, a bare number is != 0", function()
  t.eq(terms("5 < pid"), { { 1, 5, 5, 0, "" } })
  t.eq(terms("'sh' != comm"), { { 6, 2, 0, 0, "sh" } })
  t.eq(terms("!(ret >= 0)"), { { 5, 3, 0, 16, "" } })
  t.eq(terms("!!(ret < 0)"), { { 5, 3, 0, 16, "" } })
  t.eq(terms("ret"), { { 5, 2, 0, 16, "" } })
  t.eq(terms("!ret"), { { 5, 1, 0, 16, "" } })
end)

t.test("anything else is left to generated C", function()
  for _, text in ipairs({
    "pid > 0 || uid == 0",
    "!(pid > 0 && uid > 0)",
    "pid > 0 && pid > 1 && pid > 2 && pid > 3 && pid > 4",
    "pid > tid",
    "ns > 0",
    "comm == 'sixteen-chars-xy'",
    "comm < 'a'",
    "1 < 2",
  }) do
    t.eq(where(text), nil, text)
  end
  t.ok(terms("comm == 'fifteen-chars-x'") ~= nil, "15 characters fit comm")
end)

t.done()
