-- One-liners reading kernel struct members through pointers (CO-RE reads,
-- ebpf.oneliner_paths) and wildcard tracepoint probes with the "probe" key,
-- on the real kernel through `ebpfrun -e`, against the static `workload`
-- binary (comm "workload") whose effects are known exactly.
local t = require "harness"
local c = require "ebpf_common"
local o = require "oneliner_common"
c.require_root()
math.randomseed(os.time() + c.pid())

-- Other test runs use the workload binary at the same time, so the tests
-- here run a copy with a name (and so a comm) of their own.
local DIR = ("/tmp/ebpfrun-paths-%d"):format(c.pid())
local NAME = ("wl%06d"):format(math.random(0, 999999))
local W = DIR .. "/" .. NAME
os.execute(("mkdir -p %s && cp %s %s"):format(DIR, o.workload(), W))
local ONLY = ('comm == \\"%s\\"'):format(NAME)

local function count_of(out, key)
  return tonumber(out:match("@%[" .. key:gsub("%p", "%%%0") .. "%]: (%d+)\n"))
end

for _, kind in ipairs({ "tp_btf", "raw_tp" }) do
  t.test(kind .. "/sched_switch keyed by next->comm: the workload is switched in once per nap at least", function()
    local rc, out, err = o.run(('count("%s/sched_switch", "next->comm", { duration = 1.5, where = "next->%s" })'):format(kind, ONLY),
      ("%s naps 5 10"):format(W))
    t.eq(rc, 0, err)
    local n = count_of(out, NAME)
    t.ok(n and n >= 5, out)
    -- The predicate on the path kept every other task out.
    t.eq(#o.lines(out), 1, out)
  end)
end

t.test("prev->comm and prev->pid with a predicate on prev_state: the naps are voluntary switches of the workload", function()
  local rc, out, err = o.run(('count("tp_btf/sched_switch", {"str(prev->comm)", "prev->tgid"}, { duration = 1.5, where = "prev->%s && prev_state != 0" })'):format(ONLY),
    ("%s naps 4 10 >%s.pid"):format(W, "/tmp/ebpfrun-paths-" .. c.pid()))
  t.eq(rc, 0, err)
  local pidfile = "/tmp/ebpfrun-paths-" .. c.pid() .. ".pid"
  local f = io.open(pidfile)
  local pid = f and tonumber(f:read("*l"))
  if f then f:close() end
  os.remove(pidfile)
  t.ok(pid, "the workload printed no pid")
  local n = count_of(out, ("%s, %d"):format(NAME, pid or 0))
  t.ok(n and n >= 4, out)
  t.eq(#o.lines(out), 1, out)
end)

t.test("an event defined from a class (sched_wakeup): p->comm and p->pid of the woken workload", function()
  local rc, out, err = o.run(('count("tp_btf/sched_wakeup", {"p->comm", "p->tgid"}, { duration = 1.5, where = "p->%s" })'):format(ONLY),
    ("%s naps 5 10 >%s.pid"):format(W, DIR .. "/wake"))
  t.eq(rc, 0, err)
  local f = io.open(DIR .. "/wake.pid")
  local pid = f and tonumber(f:read("*l"))
  if f then f:close() end
  local n = count_of(out, ("%s, %d"):format(NAME, pid or 0))
  t.ok(n and n >= 5, out)
  t.eq(#o.lines(out), 1, out)
end)

t.test("curtask->tgid is the pid and curtask->real_parent->tgid the workload's parent", function()
  local path = o.unique_file("curtask")
  local parent = "/tmp/ebpfrun-paths-parent-" .. c.pid()
  -- sh forks the workload (a command list is not exec'd) and writes its own pid.
  local rc, out, err = o.run(('trace("tracepoint/syscalls/sys_enter_openat", "pid", "curtask->tgid", "curtask->real_parent->tgid", "str(curtask->comm)", { duration = 1.5, where = "%s" })'):format(ONLY),
    ("sh -c '%s openat 2 %s; echo $$ >%s'"):format(W, path, parent))
  t.eq(rc, 0, err)
  local f = io.open(parent)
  local ppid = f and tonumber(f:read("*l"))
  if f then f:close() end
  os.remove(parent)
  os.remove(path)
  t.ok(ppid, "no parent pid")
  local lines = o.lines(out)
  t.eq(#lines, 2, out)
  for _, l in ipairs(lines) do
    local pid, tgid, pp, comm = l:match("^(%d+) (%d+) (%d+) (%S+)$")
    t.ok(pid, l)
    t.eq(tgid, pid, l)
    t.eq(tonumber(pp), ppid, l)
    t.eq(comm, NAME, l)
  end
end)

t.test("a path through pointers and embedded structs: the exec'd file's name", function()
  local rc, out, err = o.run(('trace("tp_btf/sched_process_exec", "str(bprm->file->f_path.dentry->d_name.name)", "p->pid", "old_pid", { duration = 1.5, where = "%s" })'):format(ONLY),
    ("%s sleep 1"):format(W))
  t.eq(rc, 0, err)
  local lines = o.lines(out)
  t.eq(#lines, 1, out)
  local name, pid, old = (lines[1] or ""):match("^(%S+) (%d+) (%d+)$")
  t.eq(name, NAME, out)
  t.eq(pid, old, out)
end)

-- Usage errors: one line naming the struct and its members, exit 2, no
-- compiler output.
local function usage_error(code)
  local rc, out, err = o.run(code)
  t.eq(rc, 2, err)
  t.eq(out, "")
  t.ok(err:find("error: usage: ", 1, true), err)
  t.eq(#o.lines(err), 1, err)
  return err
end

t.test("a misspelt member names the struct and the nearest members", function()
  local err = usage_error('count("tp_btf/sched_switch", "next->comx")')
  t.ok(err:find("struct task_struct has no member 'comx'", 1, true), err)
  t.ok(err:find("nearest: comm", 1, true), err)
  err = usage_error('count("tp_btf/sched_switch", "curtask->real_parent->tgidd")')
  t.ok(err:find("has no member 'tgidd'", 1, true) and err:find("tgid", 1, true), err)
end)

t.test("wrong steps and roots are explained", function()
  local err = usage_error('count("tp_btf/sched_switch", "prev_state->x")')
  t.ok(err:find("'prev_state' is unsigned int, not a pointer to a struct", 1, true), err)
  err = usage_error('count("tp_btf/sched_switch", "next.comm")')
  t.ok(err:find("use '->comm'", 1, true), err)
  err = usage_error('count("tp_btf/sched_switch", "nxt->comm")')
  t.ok(err:find("a path starts at curtask or prev or next", 1, true), err)
  err = usage_error('count("tp_btf/sched_switch", "next->se")')
  t.ok(err:find("is struct sched_entity: name one of its members", 1, true), err)
  err = usage_error('count("tp_btf/sched_switch", "comm", { where = "next->pidd == 1" })')
  t.ok(err:find("has no member 'pidd'", 1, true), err)
end)

t.test("a wildcard tracepoint counts per probe: openat only, the exact number", function()
  local path = o.unique_file("wild")
  local rc, out, err = o.run(('count("tracepoint/syscalls/sys_enter_open*", "probe", { duration = 1.5, where = "%s" })'):format(ONLY),
    ("%s openat 7 %s"):format(W, path))
  os.remove(path)
  t.eq(rc, 0, err)
  t.eq(out, "@[tracepoint/syscalls/sys_enter_openat]: 7\n")
  t.ok(err:find("Attaching 6 probes...", 1, true), err)
end)

t.test("a wildcard reads the fields its matches share, by probe", function()
  local path = o.unique_file("wildf", 5000)
  local rc, out, err = o.run(('sum("tracepoint/syscalls/sys_exit_*read*", "ret", { by = {"probe", "comm"}, duration = 1.5, where = "%s" })'):format(ONLY),
    ("%s read 5000 %s"):format(W, path))
  os.remove(path)
  t.eq(rc, 0, err)
  t.ok(out:find(("@sum[tracepoint/syscalls/sys_exit_read, %s]: 5000\n"):format(NAME), 1, true), out)
end)

t.test("a wildcard uprobe: every matching function of the binary, counted per function", function()
  local target = assert(os.getenv("EBPFRUN_STACKS_TARGET"), "EBPFRUN_STACKS_TARGET is not set")
  local rc, out, err = o.run(('count("uprobe/%s:open_*", "probe", { duration = 1.5 })'):format(target),
    ("%s opens 4"):format(target))
  t.eq(rc, 0, err)
  t.eq(count_of(out, ("uprobe/%s:open_here"):format(target)), 4, out)
  t.eq(count_of(out, ("uprobe/%s:open_outer"):format(target)), 1, out)
  t.eq(#o.lines(out), 2, out)
  local e = usage_error(('count("uprobe/%s:no_such_fn*")'):format(target))
  t.ok(e:find("no function matches", 1, true), e)
end)

t.test("wildcard errors: no match, too many, a field the matches do not share", function()
  local err = usage_error('count("tracepoint/syscalls/sys_enter_nosuch*")')
  t.ok(err:find("no tracepoint matches 'syscalls/sys_enter_nosuch*'", 1, true), err)
  -- The ftrace category's record formats are not attachable tracepoints.
  err = usage_error('count("tracepoint/ftrace/*")')
  t.ok(err:find("no tracepoint matches 'ftrace/*'", 1, true), err)
  err = usage_error('count("tracepoint/*/*")')
  t.ok(err:find("more than the 512 a one-liner attaches to", 1, true), err)
  err = usage_error('count("tracepoint/syscalls/sys_enter_open*", "str(filename)")')
  t.ok(err:find("not at the same place in every match", 1, true), err)
end)

os.execute("rm -rf " .. DIR)
t.done()
