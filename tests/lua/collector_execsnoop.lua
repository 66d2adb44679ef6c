-- execsnoop against ground truth: a shell runs /bin/echo with known argv and
-- then a command that does not exist; execsnoop must show both execs exactly,
-- with their parents, and nothing of other processes.
local t = require "harness"
local c = require "ebpf_common"
local cc = require "collector_common"
c.require_root()

local function execs(lines)
  local out = {}
  for _, e in ipairs(lines) do if e.argv then out[#out + 1] = e end end
  return out
end

local function where(list, pred)
  local out = {}
  for _, e in ipairs(list) do if pred(e) then out[#out + 1] = e end end
  return out
end

local function same_list(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

local function uid()
  local p = io.popen("id -u")
  local v = tonumber(p:read("*l"))
  p:close()
  return v
end

t.test("argv, return codes and parents of a shell's execs", function()
  local script = [[/bin/echo hello "two words" x; /nonexistent/cmd]]
  local lines, err = cc.run("execsnoop.lua", "sh -c '" .. script .. "'")
  local all = execs(lines)
  local inner = where(all, function(e) return e.argv[1] == "sh" and e.argv[3] == script end)
  t.eq(#inner, 1, err)
  local echo = where(all, function(e) return e.filename == "/bin/echo" end)
  t.eq(#echo, 1, err)
  local e = echo[1]
  t.ok(same_list(e.argv, { "/bin/echo", "hello", "two words", "x" }), "argv " .. table.concat(e.argv, "|"))
  t.eq(e.ret, 0)
  t.eq(e.comm, "echo")
  t.eq(e.ppid, inner[1].pid)
  t.eq(e.uid, uid())
  t.eq(e.truncated, false)

  local failed = where(all, function(x) return x.ret ~= 0 end)
  t.eq(#failed, 1, err)
  local f = failed[1]
  t.eq(f.filename, "/nonexistent/cmd")
  t.ok(same_list(f.argv, { "/nonexistent/cmd" }), "argv " .. table.concat(f.argv, "|"))
  t.eq(f.ret, -2)
  t.eq(f.error, "ENOENT")
  t.eq(f.comm, "sh") -- a failed exec keeps the caller's name
  t.eq(f.ppid, inner[1].pid)
end)

-- execveat() has an exit tracepoint of its own; execsnoop's exit program is
-- attached there as well as at execve's (scripts/execsnoop.lua's
-- also_attach), so these execs are reported like the others.
t.test("execveat(): successful and failed execs, flagged as such", function()
  local lines, err = cc.run("execsnoop.lua", ("%s execveat /bin/echo via execveat; %s execveat /nonexistent/at"):format(
    cc.workload, cc.workload))
  local at = where(execs(lines), function(e) return e.at end)
  t.eq(#at, 2, err)
  local ok = where(at, function(e) return e.filename == "/bin/echo" end)[1]
  t.ok(ok and same_list(ok.argv, { "/bin/echo", "via", "execveat" }), err)
  t.eq(ok and ok.ret, 0)
  local failed = where(at, function(e) return e.filename == "/nonexistent/at" end)[1]
  t.eq(failed and failed.ret, -2, err)
end)

t.test("with -c, execs of other processes never appear", function()
  -- A loop outside the traced command execs /bin/true all along.
  local stop = os.tmpname()
  os.execute(("(while [ -e %s ]; do /bin/true; done) >/dev/null 2>&1 &"):format(stop))
  local lines, err = cc.run("execsnoop.lua", "sleep 0.3; /bin/echo inside; sleep 0.3")
  os.remove(stop)
  local all = execs(lines)
  t.ok(#all >= 3, err) -- sh, sleep, echo, sleep
  for _, e in ipairs(all) do
    t.ok(e.comm == "sh" or e.comm == "sleep" or e.comm == "echo", "unexpected exec of " .. e.comm)
  end
  t.eq(#where(all, function(e) return e.comm == "echo" end), 1)
end)

t.test("--fails shows only failed execs, --comm only the named program", function()
  local lines = cc.run("execsnoop.lua", "/bin/echo a; /nonexistent/a; /nonexistent/b", "--fails")
  local all = execs(lines)
  t.eq(#all, 2)
  for _, e in ipairs(all) do t.eq(e.error, "ENOENT") end
  lines = cc.run("execsnoop.lua", "/bin/echo a; /bin/true; /bin/echo b", "--comm echo")
  all = execs(lines)
  t.eq(#all, 2)
  t.eq(all[1].argv[2], "a")
  t.eq(all[2].argv[2], "b")
end)

t.test("an exec from a second thread is reported under the process id", function()
  local lines, err = cc.run("execsnoop.lua", cc.workload .. " thread_exec /bin/echo from thread")
  local echo = where(execs(lines), function(e) return e.comm == "echo" end)
  t.eq(#echo, 1, err)
  t.ok(same_list(echo[1].argv, { "/bin/echo", "from", "thread" }))
  t.eq(echo[1].ret, 0)
  -- The exec'ing thread took over the process id (de_thread).
  local workload = where(execs(lines), function(e) return e.comm == "workload" end)
  t.eq(#workload, 1)
  t.eq(echo[1].pid, workload[1].pid)
  t.eq(echo[1].tid, workload[1].pid)
end)

t.test("text output has the BCC-like columns and quotes arguments", function()
  local cmd = ("%s -c %q %s/scripts/execsnoop.lua 2>/dev/null"):format(cc.ebpfrun,
    [[/bin/echo 'a b' c >/dev/null]], cc.source)
  local p = io.popen(cmd)
  local text = p:read("*a")
  p:close()
  t.ok(text:find("PCOMM%s+PID%s+PPID%s+RET%s+ARGS"), text)
  t.ok(text:find("echo%s+%d+%s+%d+%s+0%s+/bin/echo 'a b' c\n"), text)
end)

t.test("--help describes the tool", function()
  local text = cc.help("execsnoop.lua")
  t.ok(text:find("Trace exec"), text)
  t.ok(text:find("%-%-fails") and text:find("%-%-json"), text)
end)

t.done()
