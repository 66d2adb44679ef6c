-- The one-liners (ebpf.oneliner) on the real kernel, through `ebpfrun -e`:
-- string fields, predicates, several keys, aggregations, latency, printf,
-- JSON, and usage errors, each checked against a workload whose effects are
-- known exactly (the static `workload` binary: its comm is "workload").
local t = require "harness"
local c = require "ebpf_common"
local o = require "oneliner_common"
c.require_root()
math.randomseed(os.time() + c.pid())

local W = o.workload()
local ONLY = 'where = "comm == \\"workload\\""'

t.test("trace prints comm and str(filename) of each openat", function()
  local path = o.unique_file("trace")
  local rc, out, err = o.run(('trace("tracepoint/syscalls/sys_enter_openat", "comm", "str(filename)", { duration = 1.5, %s })'):format(ONLY),
    ("%s openat 7 %s"):format(W, path))
  t.eq(rc, 0, err)
  local n = 0
  for _, l in ipairs(o.lines(out)) do if l == "workload " .. path then n = n + 1 end end
  t.eq(n, 7, out)
  os.remove(path)
end)

t.test("printf-style trace formats strings and numbers", function()
  local path = o.unique_file("printf")
  local rc, out, err = o.run(('trace("tracepoint/syscalls/sys_enter_openat", "%%s opened %%s (pid %%d)", "comm", "str(filename)", "pid", { duration = 1.5, %s })'):format(ONLY),
    ("%s openat 3 %s"):format(W, path))
  t.eq(rc, 0, err)
  local n = 0
  for _, l in ipairs(o.lines(out)) do if l:match("^workload opened " .. path:gsub("%-", "%%-") .. " %(pid %d+%)$") then n = n + 1 end end
  t.eq(n, 3, out)
  os.remove(path)
end)

t.test("count by two keys, one of them a user string", function()
  local path = o.unique_file("count")
  local rc, out, err = o.run(('count("tracepoint/syscalls/sys_enter_openat", {"comm", "str(filename)"}, { duration = 1.5, %s })'):format(ONLY),
    ("%s openat 5 %s"):format(W, path))
  t.eq(rc, 0, err)
  t.eq(out:find("@[workload, " .. path .. "]: 5\n", 1, true) ~= nil, true, out)
  os.remove(path)
end)

t.test("a predicate on a number and a string field: only the matching process counts", function()
  local path = o.unique_file("where")
  local rc, out, err = o.run('count("tracepoint/syscalls/sys_exit_openat", "comm", { duration = 1.5, where = "ret >= 0 && (comm == \\"workload\\" || comm == \\"no-such-comm\\")" })',
    ("%s openat 4 %s; %s openat 2 /nonexistent-%d"):format(W, path, W, math.random(1e9)))
  t.eq(rc, 0, err)
  t.eq(out, "@[workload]: 4\n")
  os.remove(path)
end)

t.test("a predicate on a user string: str(filename) == the one path", function()
  local path, other = o.unique_file("strwhere"), o.unique_file("strother")
  local rc, out, err = o.run(('count("tracepoint/syscalls/sys_enter_openat", "comm", { duration = 1.5, where = "str(filename) == \\"%s\\"" })'):format(path),
    ("%s openat 6 %s; %s openat 3 %s"):format(W, path, W, other))
  t.eq(rc, 0, err)
  t.eq(out, "@[workload]: 6\n")
  os.remove(path)
  os.remove(other)
end)

t.test("sum, max and stats of read() returns equal the bytes read", function()
  local path = o.unique_file("sum", 3 * 4096 + 100)
  local rc, out, err = o.run(('sum("tracepoint/syscalls/sys_exit_read", "ret", { by = "comm", duration = 1.5, %s })'):format(ONLY),
    ("%s read %d %s"):format(W, 3 * 4096 + 100, path))
  t.eq(rc, 0, err)
  t.eq(out:find("@sum[workload]: " .. (3 * 4096 + 100) .. "\n", 1, true) ~= nil, true, out)
  rc, out, err = o.run(('max("tracepoint/syscalls/sys_exit_read", "ret", { duration = 1.5, %s })'):format(ONLY),
    ("%s read %d %s"):format(W, 3 * 4096 + 100, path))
  t.eq(rc, 0, err)
  t.eq(out, "@max: 4096\n")
  rc, out, err = o.run(('stats("tracepoint/syscalls/sys_exit_read", "ret", { duration = 1.5, %s })'):format(ONLY),
    ("%s read %d %s"):format(W, 3 * 4096 + 100, path))
  t.eq(rc, 0, err)
  t.eq(out:match("total (%d+)"), tostring(3 * 4096 + 100), out)
  os.remove(path)
end)

t.test("lhist puts each read() size in its bucket", function()
  local path = o.unique_file("lhist", 2 * 4096 + 100)
  local rc, out, err = o.run(('lhist("tracepoint/syscalls/sys_exit_read", "ret", 0, 5000, 1000, { duration = 1.5, %s })'):format(ONLY),
    ("%s read %d %s"):format(W, 2 * 4096 + 100, path))
  t.eq(rc, 0, err)
  t.eq(out:match("%[4000, 5000%)%s+(%d+)"), "2", out)
  t.eq(out:match("%[0, 1000%)%s+(%d+)") ~= nil, true, out)
  os.remove(path)
end)

t.test("latency from sys_enter_read to sys_exit_read, by comm", function()
  local path = o.unique_file("lat", 4 * 4096)
  local rc, out, err = o.run(('latency("tracepoint/syscalls/sys_enter_read", "tracepoint/syscalls/sys_exit_read", { by = "comm", duration = 1.5, %s })'):format(ONLY),
    ("%s read %d %s"):format(W, 4 * 4096, path))
  t.eq(rc, 0, err)
  t.eq(out:find("@ns[workload]:", 1, true) ~= nil, true, out)
  local total = 0
  for n in out:gmatch("%)%s+(%d+) |") do total = total + tonumber(n) end
  t.eq(total >= 4, true, out)
  os.remove(path)
end)

t.test("__data_loc and char[] strings: sched_process_exec filename, sched_switch prev_comm", function()
  local rc, out, err = o.run(('trace("tracepoint/sched/sched_process_exec", "filename", { duration = 1.5, %s })'):format(ONLY),
    ("%s sleep 1"):format(W))
  t.eq(rc, 0, err)
  t.eq(out, W .. "\n")
  rc, out, err = o.run('count("tracepoint/sched/sched_switch", "prev_comm", { duration = 1.5, where = "prev_comm == \\"workload\\"" })',
    ("%s naps 6 10"):format(W))
  t.eq(rc, 0, err)
  local n = tonumber(out:match("@%[workload%]: (%d+)"))
  t.eq(n ~= nil and n >= 6, true, out)
end)

t.test("-f json prints one JSON document per print", function()
  local path = o.unique_file("json")
  local rc, out, err = o.run(('count("tracepoint/syscalls/sys_enter_openat", "comm", { duration = 1.5, %s })'):format(ONLY),
    ("%s openat 3 %s"):format(W, path), "-f json")
  t.eq(rc, 0, err)
  local json = require "ebpf.json"
  local doc = json.decode(o.lines(out)[#o.lines(out)])
  t.eq(doc, { name = "@", data = { workload = 3 } })
  os.remove(path)
end)

t.test("misuse: one line naming the argument, exit 2, nothing loaded", function()
  local cases = {
    { 'count("tracepoint/syscalls/sys_enter_openat", { duration = 1 })', "usage: count: argument 2: keys are a field name or a list of them" },
    { 'count("tracepoint/syscalls/sys_enter_openat", "comm", 5)', "usage: count: argument 3: options are a table" },
    { 'hist("tracepoint/syscalls/sys_exit_read", "rett")', "usage: hist: argument 2: tracepoint/syscalls/sys_exit_read has no field 'rett' (fields: " },
    { 'count("tracepoint/syscalls/sys_exit_read", nil, { where = "rett < 0" })', "usage: count: where: unknown field 'rett' at column 1 (fields: " },
    { 'count("tracepoint/syscalls/sys_exit_read", nil, { where = "1); evil(); //" })', "usage: count: where: unexpected ';' at column 3" },
    { 'trace("tracepoint/syscalls/sys_enter_openat", "%d", "str(filename)")', "usage: trace: argument 2: the format does not fit the fields" },
    { 'sum("tracepoint/syscalls/sys_enter_openat", "str(filename)")', "usage: sum: argument 2: 'str(filename)' is a string" },
    { 'count("tracepoint/syscalls/sys_enter_openat", {"str(filename)", "str(filename)", "str(filename)"})', "usage: count: argument 2: the keys take 384 bytes" },
    { 'lhist("tracepoint/syscalls/sys_exit_read", "ret", 0, 10)', "usage: lhist: argument 5: lhist(probe, value, min, max, step, opts)" },
    { 'latency("tracepoint/syscalls/sys_enter_read", { by = "comm" })', "usage: latency: argument 2: the probe must be a string" },
    { 'count(42)', "usage: count: argument 1: the probe must be a string" },
    { 'count("tracepoint/nope/nope")', "usage: count: argument 1: no tracepoint nope/nope" },
    { 'count("tracepoint/syscalls/sys_enter_openat", nil, { durtion = 1 })', "usage: count: argument 3: unknown option 'durtion'" },
  }
  for _, case in ipairs(cases) do
    local rc, out, err = o.run(case[1])
    t.eq(rc, 2, case[1] .. ": " .. err)
    t.eq(out, "")
    t.eq(err:find(case[2], 1, true) ~= nil, true, case[1] .. " said: " .. err)
    t.eq(err:find("traceback", 1, true), nil, err)
    t.eq(select(2, err:gsub("\n", "")), 1, "one line: " .. err)
  end
  t.eq(c.kernel_has_program("oneliner"), false)
end)

t.done()
