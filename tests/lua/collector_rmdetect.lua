-- rmdetect against ground truth: deletions by relative path from a known
-- working directory, through unlinkat's dirfd (rm -r), across a mount point,
-- and failing ones; each must show the path as passed and the absolute path
-- it resolves to, and nothing of other processes.
local t = require "harness"
local c = require "ebpf_common"
local cc = require "collector_common"
c.require_root()

-- Its output without the trailing newline.
local function sh(cmd) return (c.sh(cmd):gsub("%s+$", "")) end

-- A fresh directory, by its real path (the BPF side reports real paths).
local function tempdir()
  return sh("readlink -f \"$(mktemp -d)\"")
end

local function deletions(lines, where)
  local out = {}
  for _, e in ipairs(lines) do
    if type(e) == "table" and e.call then
      local match = true
      for k, v in pairs(where or {}) do if e[k] ~= v then match = false end end
      if match then out[#out + 1] = e end
    end
  end
  return out
end

t.test("a relative unlink is resolved against the working directory", function()
  local dir = tempdir()
  local pidfile = os.tmpname()
  local lines, err = cc.run("rmdetect.lua", ("cd %s && %s unlink victim >%s"):format(dir, cc.workload, pidfile))
  local rows = deletions(lines, { comm = "workload" })
  t.eq(#rows, 1, err)
  t.eq(rows[1].call, "unlink")
  t.eq(rows[1].path, "victim")
  t.eq(rows[1].resolved, dir .. "/victim")
  t.eq(rows[1].ret, 0)
  t.eq(rows[1].dir, false)
  -- The workload printed its pid first.
  local f = io.open(pidfile)
  t.eq(rows[1].pid, tonumber(f:read("*l")))
  f:close()
  os.remove(pidfile)
  os.execute("rm -rf " .. dir)
end)

t.test("rmdir of a temporary directory, relative and absolute", function()
  local dir = tempdir()
  local lines, err = cc.run("rmdetect.lua", ("cd %s && mkdir sub other && rmdir sub && rmdir %s/other && rmdir %s"):format(
    dir, dir, dir))
  local rows = deletions(lines, { comm = "rmdir" })
  t.eq(#rows, 3, err)
  t.eq(rows[1].call, "rmdir")
  t.eq(rows[1].path, "sub")
  t.eq(rows[1].resolved, dir .. "/sub")
  t.eq(rows[1].dir, true)
  t.eq(rows[1].ret, 0)
  t.eq(rows[2].path, dir .. "/other")
  t.eq(rows[2].resolved, dir .. "/other")
  t.eq(rows[3].resolved, dir)
  t.eq(rows[3].ret, 0)
  t.eq(sh("test -e " .. dir .. " && echo exists"), "")
end)

t.test("unlinkat relative to a directory fd (rm -r) and '..' in paths", function()
  local dir = tempdir()
  os.execute(("mkdir -p %s/tree/deep && touch %s/tree/deep/f %s/g"):format(dir, dir, dir))
  local lines, err = cc.run("rmdetect.lua", ("cd %s/tree && rm -r deep ../g"):format(dir))
  local rows = deletions(lines, { comm = "rm" })
  local by_resolved = {}
  for _, r in ipairs(rows) do by_resolved[r.resolved] = r end
  t.eq(#rows, 3, err)
  local f = by_resolved[dir .. "/tree/deep/f"]
  t.ok(f, "no event for deep/f: " .. err)
  t.eq(f.call, "unlinkat")
  t.eq(f.path, "f")               -- as passed: relative to the dirfd of deep/
  t.ok(f.dirfd ~= nil and f.dirfd >= 0)
  t.eq(f.dir, false)
  local deep = by_resolved[dir .. "/tree/deep"]
  t.ok(deep, "no event for deep")
  t.eq(deep.dir, true)
  local g = by_resolved[dir .. "/g"]
  t.ok(g, "no event for ../g")
  t.eq(g.path, "../g")
  os.execute("rm -rf " .. dir)
end)

t.test("paths in another mount and failed deletions", function()
  local lines, err = cc.run("rmdetect.lua", ("cd /dev/shm && %s unlink rmdetect-test.%d; rmdir /nonexistent/dir; "
    .. "cd / && rmdir nonexistent-dir"):format(cc.workload, os.time()))
  local w = deletions(lines, { comm = "workload" })
  t.eq(#w, 1, err)
  t.eq(w[1].resolved, "/dev/shm/" .. w[1].path)
  local failed = deletions(lines, { comm = "rmdir" })
  t.eq(#failed, 2, err)
  t.eq(failed[1].ret, -2)
  t.eq(failed[1].error, "ENOENT")
  t.eq(failed[1].resolved, "/nonexistent/dir")
  t.eq(failed[2].path, "nonexistent-dir")
  t.eq(failed[2].resolved, "/nonexistent-dir")
end)

t.test("with -c, deletions of other processes never appear; --comm narrows", function()
  local outside = tempdir()
  local stop = outside .. "/running"
  os.execute(("touch %s; (while [ -e %s ]; do touch %s/x; rm -f %s/x; done) >/dev/null 2>&1 &"):format(
    stop, stop, outside, outside))
  local dir = tempdir()
  local lines, err = cc.run("rmdetect.lua", ("cd %s && sleep 0.3 && %s unlink a && sleep 0.3"):format(
    dir, cc.workload))
  local all = deletions(lines)
  t.eq(#all, 1, err)
  t.eq(all[1].comm, "workload")
  lines = cc.run("rmdetect.lua", ("cd %s && %s unlink b && touch c && rm c"):format(dir, cc.workload),
    "--comm workload")
  all = deletions(lines)
  t.eq(#all, 1)
  t.eq(all[1].path, "b")
  os.remove(stop)
  os.execute("sleep 0.1; rm -rf " .. outside .. " " .. dir)
end)

t.test("--help describes the tool", function()
  local text = sh(cc.ebpfrun .. " " .. cc.source .. "/scripts/rmdetect.lua --help")
  t.ok(text:find("deletions"), text)
  t.ok(text:find("%-%-comm") and text:find("%-%-json"), text)
end)

t.done()
