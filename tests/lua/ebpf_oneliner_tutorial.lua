-- Runs every ebpfrun command of the side-by-side table in docs/one-liners.md
-- (bpftrace's tutorial lessons) briefly, with a workload whose effects are
-- known, and checks what it prints. The table is the data: a lesson with a
-- command but no check here (or the reverse) fails, so the doc and the test
-- cannot drift apart.
local t = require "harness"
local c = require "ebpf_common"
local o = require "oneliner_common"
c.require_root()
math.randomseed(os.time() + c.pid())

local W = o.workload()
local doc = assert(io.open((os.getenv("EBPFRUN_SOURCE_DIR") or ".") .. "/docs/one-liners.md")):read("*a")
local table_text = assert(doc:match("## bpftrace's tutorial, side by side(.*)$"))

local lessons = {}
for line in table_text:gmatch("[^\n]+") do
  local n, rest = line:match("^| (%d+) |(.*)$")
  if n then lessons[#lessons + 1] = { n = tonumber(n), command = rest:match("`(ebpfrun [^`]+)`%s*|%s*$") } end
end
t.test("the table lists the twelve lessons", function() t.eq(#lessons, 12) end)

local function count_lines(out, want)
  local n = 0
  for _, l in ipairs(o.lines(out)) do if l == want then n = n + 1 end end
  return n
end

-- lesson -> function(code) running the lesson's Lua code (or nil for the
-- non -e commands) with a workload and checking the output.
local CHECKS = {
  [1] = function(_, command)
    local p = io.popen(command:gsub("^ebpfrun", o.bin()) .. " 2>&1")
    local out = p:read("*a")
    p:close()
    t.eq(out:find("sys_enter_openat", 1, true) ~= nil, true, out)
  end,
  [2] = function(code)
    local rc, out, err = o.run(code)
    t.eq(rc, 0, err)
    t.eq(out, "hello world\n")
  end,
  [3] = function(code)
    local path = o.unique_file("tut3")
    local rc, out, err = o.run(code, ("%s openat 3 %s"):format(W, path))
    t.eq(rc, 0, err)
    t.eq(count_lines(out, "workload " .. path), 3, out)
    os.remove(path)
  end,
  [4] = function(code)
    local path = o.unique_file("tut4")
    local rc, out, err = o.run(code, ("%s openat 50 %s"):format(W, path))
    t.eq(rc, 0, err)
    local n = tonumber(out:match("@%[workload%]: (%d+)"))
    t.eq(n ~= nil and n >= 50, true, out)
    os.remove(path)
  end,
  [5] = function(code)
    -- The PID of the predicate is a process started before the one-liner,
    -- which execs the workload once the one-liner is attached.
    local path = o.unique_file("tut5", 8192)
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. dir)
    os.execute(("sh -c 'echo $$ > %s/pid; i=0; while [ ! -e %s/go ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; exec %s read 8192 %s' >/dev/null &")
      :format(dir, dir, W, path))
    local pid
    for _ = 1, 200 do
      local f = io.open(dir .. "/pid")
      pid = f and tonumber(f:read("*a"))
      if f then f:close() end
      if pid then break end
      os.execute("sleep 0.05")
    end
    assert(pid, "the workload's shell did not start")
    local with_pid = code:gsub("pid == %d+", "pid == " .. pid)
    local rc, out, err = o.run(with_pid, ("touch %s/go; sleep 0.5"):format(dir))
    t.eq(rc, 0, err)
    t.eq(out:match("%[4K, 8K%)%s+(%d+) |"), "2", out)
    -- Only that process: its two reads and nothing else.
    local total = 0
    for n in out:gmatch("%)%s+(%d+) |") do total = total + tonumber(n) end
    t.eq(total, 2, out)
    os.execute("rm -rf " .. dir)
    os.remove(path)
  end,
  [6] = function(code)
    local path = o.unique_file("tut6", 100)
    local rc, out, err = o.run(code, ("%s read 100 %s"):format(W, path))
    t.eq(rc, 0, err)
    t.eq(out:match("%[0, 200%)%s+(%d+) |") ~= nil, true, out)
    os.remove(path)
  end,
  [7] = function(code)
    local path = o.unique_file("tut7", 8192)
    local rc, out, err = o.run(code, ("%s read 8192 %s"):format(W, path))
    t.eq(rc, 0, err)
    t.eq(out:find("@ns[workload]:", 1, true) ~= nil, true, out)
    os.remove(path)
  end,
  [8] = function(code)
    local rc, out, err = o.run(code, ("%s naps 3 10"):format(W))
    t.eq(rc, 0, err)
    local n = tonumber(out:match("@%[tracepoint/sched/sched_switch%]: (%d+)\n"))
    t.eq(n ~= nil and n >= 3, true, out)
    -- Every line is one sched tracepoint.
    for _, l in ipairs(o.lines(out)) do t.ok(l:match("^@%[tracepoint/sched/[%w_]+%]: %d+$"), l) end
  end,
  [9] = function(code)
    -- Every CPU is sampled: some samples land in the kernel (the workload's
    -- reads, if nothing else), and each prints as its frames.
    local path = o.unique_file("tut9", 1048576)
    local rc, out, err = o.run(code, ("%s read %d %s"):format(W, 1048576, path))
    t.eq(rc, 0, err)
    t.ok(out:find("@%[\n    [%w_.]+%+%d+\n"), out)
    os.remove(path)
  end,
  [10] = function(code)
    -- The workload's sleeps: schedule() under the sleep path.
    local rc, out, err = o.run(code, ("%s naps 5 10"):format(W))
    t.eq(rc, 0, err)
    local found = false
    for key in out:gmatch("@%[(.-)%]: %d+\n") do
      if key:find("\n    schedule%+") and key:find("\n    do_nanosleep%+") then found = true end
    end
    t.ok(found, out)
  end,
  [11] = function(code)
    local path = o.unique_file("tut11")
    local rc, out, err = o.run(code, ("dd if=/dev/zero of=%s bs=64k count=4 oflag=direct,sync 2>/dev/null"):format(path))
    t.eq(rc, 0, err)
    t.eq(out:find("@bytes:", 1, true) ~= nil, true, out)
    os.remove(path)
  end,
  [12] = function(code)
    -- The exec'd file's name through bprm->file->f_path.dentry->d_name, of
    -- a copy of the workload with a name of its own (other test runs exec
    -- the workload at the same time).
    local dir = ("/tmp/ebpfrun-tut12-%d"):format(c.pid())
    local name = ("tw%06d"):format(math.random(0, 999999))
    os.execute(("mkdir -p %s && cp %s %s/%s"):format(dir, W, dir, name))
    local rc, out, err = o.run(code, ("%s/%s sleep 1"):format(dir, name))
    os.execute("rm -rf " .. dir)
    t.eq(rc, 0, err)
    t.eq(count_lines(out, name .. " " .. name), 1, out)
  end,
}

for _, lesson in ipairs(lessons) do
  t.test(("lesson %d: %s"):format(lesson.n, lesson.command or "(no ebpfrun equivalent yet)"), function()
    local check = CHECKS[lesson.n]
    if not lesson.command then
      t.eq(check, nil, "a check for a lesson without a command")
      return
    end
    assert(check, "no check for this lesson's command")
    local code = lesson.command:match("^ebpfrun %-e '(.*)'$")
    if code then code = "require('ebpf.oneliner').duration = 1.5; " .. code end
    check(code, lesson.command)
  end)
end

t.done()
