-- Stack keys of the one-liners ("kstack", "ustack") on the real kernel: the
-- stacks target (tests/data/stacks/target.c, built with frame pointers)
-- opens /dev/null from open_here() <- open_outer() <- main() and sleeps in
-- nap_here() <- nap_outer(), then lingers (so that its mappings are there
-- when the one-liner symbolizes at its end); the one-liners must count those exact user
-- paths, the kernel paths of the syscall entry and of a sleep, print them
-- as bpftrace does and give JSON frame lists.
local t = require "harness"
local c = require "ebpf_common"
local o = require "oneliner_common"
c.require_root()

local TARGET = assert(os.getenv("EBPFRUN_STACKS_TARGET"), "EBPFRUN_STACKS_TARGET is not set")
local ONLY = 'where = "comm == \\"stacks_target_d\\""'
local OPENAT = "tracepoint/syscalls/sys_enter_openat"

-- The "@[...]: N" entries of a text output: {key = text inside the brackets, count}.
local function entries(out)
  local list = {}
  for key, n in out:gmatch("@%[(.-)%]: (%d+)\n") do list[#list + 1] = { key = key, count = tonumber(n) } end
  return list
end

-- The frames (symbol names without offsets) of a printed stack.
local function frames(key)
  local list = {}
  for line in key:gmatch("\n    ([^\n]+)") do list[#list + 1] = line:gsub("%+%d+$", "") end
  return list
end

local function find_entry(out, pred)
  for _, e in ipairs(entries(out)) do if pred(e) then return e end end
  return nil
end

local function starts_with(list, prefix)
  for i, v in ipairs(prefix) do if list[i] ~= v then return false end end
  return true
end

t.test("count by ustack: the user path of the opens, five times", function()
  local rc, out, err = o.run(('count("%s", "ustack", { duration = 1.5, %s })'):format(OPENAT, ONLY), TARGET .. " opens 5 3000 & true")
  t.eq(rc, 0, err)
  local e = find_entry(out, function(e) return starts_with(frames(e.key), { "open_here", "open_outer", "main" }) end)
  t.ok(e, "no stack open_here <- open_outer <- main in:\n" .. out)
  t.eq(e and e.count, 5, out)
  -- bpftrace's layout: the key opens a line, one indented frame per line.
  t.ok(out:find("@%[\n    open_here%+%d+\n    open_outer%+%d+\n    main%+%d+\n"), out)
end)

t.test("a process that exited long before the end still has its user stack symbolized", function()
  local rc, out, err = o.run(('count("%s", "ustack", { duration = 2, %s })'):format(OPENAT, ONLY), TARGET .. " opens 4 200 & true")
  t.eq(rc, 0, err)
  local e = find_entry(out, function(e) return starts_with(frames(e.key), { "open_here", "open_outer", "main" }) end)
  t.ok(e, "no stack open_here <- open_outer <- main in:\n" .. out)
  t.eq(e and e.count, 4, out)
end)

t.test("count by kstack: the kernel path of the syscall entry", function()
  local rc, out, err = o.run(('count("%s", "kstack", { duration = 1.5, %s })'):format(OPENAT, ONLY), TARGET .. " opens 5 3000 & true")
  t.eq(rc, 0, err)
  -- The syscall entry tracepoint fires in the entry path, before the
  -- dispatch to __x64_sys_openat.
  local e = find_entry(out, function(e)
    local f = table.concat(frames(e.key), " ")
    return f:find("do_syscall_64", 1, true) and f:find("entry_SYSCALL_64", 1, true)
  end)
  -- Kernels before 6.12 (Debian's 6.1, in the kernel matrix) run syscall
  -- tracepoint programs with the user-mode registers: no kernel stack there,
  -- and the key must say so (README, "The kernel matrix").
  local release = io.open("/proc/sys/kernel/osrelease"):read("*l")
  local major, minor = release:match("^(%d+)%.(%d+)")
  if not e and (tonumber(major) * 1000 + tonumber(minor)) < 6012 then
    e = find_entry(out, function(e) return e.key == "[no kernel stack]" end)
    t.ok(e, "neither a kernel stack with do_syscall_64 nor [no kernel stack] on " .. release .. " in:\n" .. out)
    t.ok(e and e.count >= 5, out)
    return
  end
  t.ok(e, "no kernel stack with do_syscall_64 in:\n" .. out)
  t.ok(e and e.count >= 5, out)
  -- The perf handler the tracepoint runs the program from is left out.
  t.ok(e and not frames(e.key)[1]:match("^perf_"), out)
end)

t.test("count by comm and ustack, and the kernel stacks of a sleep at sched_switch", function()
  local rc, out, err = o.run(('count("%s", {"comm", "ustack"}, { duration = 1.5, %s })'):format(OPENAT, ONLY), TARGET .. " opens 3 3000 & true")
  t.eq(rc, 0, err)
  local e = find_entry(out, function(e) return e.key:match("^stacks_target_d,\n    open_here%+") end)
  t.ok(e, out)
  t.eq(e and e.count, 3, out)
  rc, out, err = o.run(('count("tracepoint/sched/sched_switch", {"kstack", "ustack"}, { duration = 1.5, %s })'):format(ONLY),
    TARGET .. " naps 4 20 3000 & true")
  t.eq(rc, 0, err)
  e = find_entry(out, function(e)
    local f = frames(e.key)
    local text = table.concat(f, " ")
    return text:find("do_nanosleep", 1, true) and text:find(" schedule ", 1, true) and text:find("nap_here nap_outer main", 1, true)
  end)
  t.ok(e, "no stack schedule..do_nanosleep..nap_here..nap_outer..main in:\n" .. out)
  t.ok(e and e.count >= 4, out)
end)

t.test("a raw tracepoint's kernel stack starts at the traced code, not in the BPF machinery", function()
  local rc, out, err = o.run(('count("raw_tp/sched_switch", "kstack", { duration = 1.5, %s })'):format(ONLY), TARGET .. " naps 3 20")
  t.eq(rc, 0, err)
  local e = find_entry(out, function(e) return table.concat(frames(e.key), " "):find("schedule do_nanosleep", 1, true) end)
  t.ok(e, out)
  local first = e and frames(e.key)[1] or ""
  t.ok(not first:match("^bpf_") and not first:match("^__traceiter_"), out)
end)

t.test("JSON: stack keys are frame lists", function()
  local rc, out, err = o.run(('count("%s", {"comm", "ustack"}, { duration = 1.5, %s })'):format(OPENAT, ONLY), TARGET .. " opens 2 3000 & true", "-f json")
  t.eq(rc, 0, err)
  local json = require "ebpf.json"
  local doc = json.decode(out)
  t.eq(doc.name, "@")
  local found
  for _, entry in ipairs(doc.data) do
    local u = entry.keys.ustack
    if u[1] and u[1]:match("^open_here%+%d+$") and u[2]:match("^open_outer%+") then found = entry end
  end
  t.ok(found, out)
  t.eq(found and found.keys.comm, "stacks_target_d")
  t.eq(found and found.value, 2)
end)

t.test("trace prints a user stack per event", function()
  local rc, out, err = o.run(('trace("%s", "comm", "ustack", { duration = 1.5, %s })'):format(OPENAT, ONLY), TARGET .. " opens 3 3000 & true")
  t.eq(rc, 0, err)
  local n = 0
  for _ in out:gmatch("stacks_target_d\n    open_here%+%d+\n    open_outer%+%d+\n") do n = n + 1 end
  t.eq(n, 3, out)
end)

-- Not about stacks, but about the same target: the arguments of a raw or
-- BTF tracepoint by their names in the kernel's BTF.
t.test("raw_tp and tp_btf arguments by name: prev_state of the sleeps at sched_switch", function()
  for _, probe in ipairs({ "raw_tp/sched_switch", "tp_btf/sched_switch" }) do
    -- Switched out asleep (a non-zero state: TASK_INTERRUPTIBLE, with
    -- TASK_FREEZABLE on newer kernels): the four sleeps, and its exit; in
    -- the kernel matrix's guests also the page-ins of its binary over 9p
    -- (TASK_UNINTERRUPTIBLE), 14 in one run.
    local rc, out, err = o.run(('count("%s", "comm", { duration = 1.5, where = "prev_state > 0 && %s" })'):format(probe,
      'comm == \\"stacks_target_d\\"'), TARGET .. " naps 4 20")
    t.eq(rc, 0, err)
    local n = tonumber(out:match("@%[stacks_target_d%]: (%d+)"))
    t.ok(n and n >= 4 and n <= 30, probe .. ": " .. out)
  end
  local rc, _, err = o.run('count("raw_tp/sched_switch", "nosuch")')
  t.eq(rc, 2, err)
  t.ok(err:find("prev_state", 1, true), err)
end)

t.test("a stack in a predicate is a usage error", function()
  local rc, _, err = o.run(('count("%s", nil, { where = "kstack == 1" })'):format(OPENAT))
  t.eq(rc, 2, err)
  t.ok(err:find("'kstack' is a stack", 1, true), err)
end)

t.done()
