-- kprobe/kretprobe one-liners with the function's arguments typed by the
-- kernel's BTF (ebpf.oneliner_functions): BPF_KPROBE() / BPF_KRETPROBE()
-- programs, struct paths from kprobe arguments, the untyped arg0 .. arg5 kept
-- for kprobe/FUNC+OFF and functions BTF does not describe, and the messages
-- for what a kprobe cannot read. The generated C is compiled (not loaded) on
-- any kernel with BTF. Then the kprobe forms of bpftrace's tutorial lessons
-- 6, 7 and 12, as docs/one-liners.md lists them, run with a workload whose
-- effect is checked: where the kernel has no kprobes (this project's
-- reference host) they must fail with the clear reason and are skipped,
-- unless EBPFRUN_EXPECT_KPROBES is set (the kernel matrix,
-- tests/vm/guest-suite.sh), where that is a failure.
local t = require "harness"
local c = require "ebpf_common"
local o = require "oneliner_common"
c.require_root()
math.randomseed(os.time() + c.pid())

local F = require "ebpf.oneliner_fields"
local C = require "ebpf.oneliner_codegen"
require "ebpf.oneliner_paths"
local W = o.workload()

local function has(text, part) return text:find(part, 1, true) ~= nil end

local function compiles(source)
  local rc, out, size = o.compile_only(source)
  t.eq(rc, 0, out .. "\n" .. source)
  t.eq(size > 0, true, "object written")
end

local VFS_READ = "BPF_KPROBE(oneliner, struct file *a_file, char *a_buf, size_t a_count, loff_t *a_pos)"

t.test("kprobe/FUNC is a BPF_KPROBE() with the function's typed arguments, by name and as argN", function()
  local info = F.probe("kprobe/vfs_read", "count", 1)
  t.eq(info.section, "kprobe/vfs_read")
  local names = table.concat(F.names(info), ",")
  t.eq(names:find("^file,str%(buf%),count,pos,arg0%.%.arg3,comm") ~= nil, true, names)
  t.eq(has(names, "arg0..arg5"), false, names)
  local sources = {
    C.aggregate(info, { F.resolve(info, "comm", "count", 2), F.resolve(info, "count", "count", 2) }, nil, nil, nil),
    C.aggregate(info, {}, F.resolve(info, "arg2", "hist", 2), "log2", nil),
    C.events(info, { F.resolve(info, "str(buf)", "trace", 2), F.resolve(info, "file", "trace", 3), F.resolve(info, "pos", "trace", 4) }, nil),
  }
  for _, source in ipairs(sources) do
    t.eq(has(source, VFS_READ), true, source)
    compiles(source)
  end
  t.eq(has(sources[2], "__s64 v = (__s64)a_count;"), true, sources[2])
end)

t.test("a struct path from a kprobe argument is CO-RE reads of the typed argument (lesson 12)", function()
  local info = F.probe("kprobe/vfs_open", "trace", 1)
  local source = C.events(info, { F.resolve(info, "comm", "trace", 2), F.resolve(info, "str(path->dentry->d_name.name)", "trace", 3) }, nil)
  t.eq(source:find("int BPF_KPROBE%(oneliner, const struct path %*a_path, struct file %*a_file%)") ~= nil, true, source)
  t.eq(has(source, "BPF_CORE_READ(((struct path *)a_path), dentry, d_name.name)"), true, source)
  compiles(source)
  local ok, err = pcall(F.resolve, info, "path->dentryy", "trace", 2)
  t.eq(ok, false)
  t.eq(has(tostring(err), "struct path has no member 'dentryy'"), true, tostring(err))
end)

t.test("kretprobe/FUNC is a BPF_KRETPROBE() with ret typed by the function's return type", function()
  local info = F.probe("kretprobe/vfs_read", "lhist", 1)
  local names = table.concat(F.names(info), ",")
  t.eq(names:find("^ret,comm") ~= nil, true, names)
  local source = C.aggregate(info, {}, F.resolve(info, "ret", "lhist", 2), { min = 0, max = 2000, step = 200 }, nil)
  t.eq(has(source, "int BPF_KRETPROBE(oneliner, ssize_t a_ret)"), true, source)
  t.eq(has(source, "__s64 v = (__s64)a_ret;"), true, source)
  compiles(source)
  -- bpftrace's name for it still works.
  t.eq(F.resolve(info, "retval", "lhist", 2).expr, "(__s64)a_ret")
  -- A kretprobe and a kprobe together: latency (lesson 7).
  local entry = F.probe("kprobe/vfs_read", "latency", 1)
  source = C.latency(entry, info, { F.resolve(info, "comm", "latency", 3) }, nil)
  t.eq(has(source, "int " .. VFS_READ:gsub("oneliner", "oneliner_start")), true, source)
  t.eq(has(source, "int BPF_KRETPROBE(oneliner, ssize_t a_ret)"), true, source)
  compiles(source)
end)

t.test("kprobe/FUNC+OFF and functions BTF does not describe keep the untyped arg0 .. arg5", function()
  for _, probe in ipairs({ "kprobe/vfs_read+0x4", "kprobe/no_such_function_in_btf" }) do
    local info = F.probe(probe, "count", 1)
    t.eq(info.arg_list, nil, probe)
    local names = table.concat(F.names(info), ",")
    t.eq(has(names, "arg0..arg5"), true, names)
    local source = C.aggregate(info, { F.resolve(info, "arg2", "count", 2) }, nil, nil, nil)
    t.eq(has(source, "int oneliner(void *ctx)"), true, source)
    t.eq(has(source, "PT_REGS_PARM3((struct pt_regs *)ctx)"), true, source)
    compiles(source)
  end
  local info = F.probe("kretprobe/no_such_function_in_btf", "hist", 1)
  local source = C.aggregate(info, {}, F.resolve(info, "ret", "hist", 2), "log2", nil)
  t.eq(has(source, "PT_REGS_RC((struct pt_regs *)ctx)"), true, source)
  compiles(source)
end)

-- A function with more arguments than BPF_KPROBE() reads, and one with a
-- struct passed by value (kuid_t), from this kernel's BTF.
local core = require "ebpf.core"

t.test("arguments a kprobe cannot read are refused with the reason, the others stay typed", function()
  local mmap = assert(core.kernel_function("do_mmap", F.ARG_PREFIX))
  t.eq(#mmap.params > F.KPROBE_MAX_ARGS, true, "do_mmap has more than five arguments")
  local info = F.probe("kprobe/do_mmap", "count", 1)
  local sixth = mmap.params[F.KPROBE_MAX_ARGS + 1].name
  local ok, err = pcall(F.resolve, info, sixth, "count", 2)
  t.eq(ok, false)
  t.eq(has(tostring(err), ("'%s' (arg5 of do_mmap) is past the 5 arguments a kprobe program reads (BPF_KPROBE); fentry/do_mmap sees them all"):format(sixth)), true, tostring(err))
  ok, err = pcall(F.resolve, info, "arg5", "count", 2)
  t.eq(has(tostring(err), "is past the 5 arguments"), true, tostring(err))
  local source = C.aggregate(info, { F.resolve(info, "arg4", "count", 2) }, nil, nil, nil)
  t.eq(source:find("int BPF_KPROBE%(oneliner, [^)]*" .. F.ARG_PREFIX .. mmap.params[5].name .. "%)") ~= nil, true, source)
  compiles(source)

  info = F.probe("kprobe/from_kuid", "count", 1)
  t.eq(info.declared, 1)
  t.eq(table.concat(F.names(info), ","):find("^targ,arg0,comm") ~= nil, true, table.concat(F.names(info), ","))
  ok, err = pcall(F.resolve, info, "kuid", "count", 2)
  t.eq(has(tostring(err), "'kuid' (arg1 of from_kuid) is not in a register a kprobe program can read: 'kuid' is passed by value (kuid_t); fentry/from_kuid sees it"), true, tostring(err))
  source = C.aggregate(info, { F.resolve(info, "targ", "count", 2) }, nil, nil, nil)
  t.eq(has(source, "int BPF_KPROBE(oneliner, struct user_namespace *a_targ)"), true, source)
  compiles(source)
end)

t.test("a name the function does not have is a usage error listing its typed fields", function()
  local cases = {
    { 'count("kprobe/vfs_read", "bytes")', "usage: count: argument 2: kprobe/vfs_read has no field 'bytes' (fields: file, str(buf), count, pos, arg0..arg3, comm, " },
    { 'hist("kretprobe/vfs_read", "count")', "usage: hist: argument 2: kretprobe/vfs_read has no field 'count' (fields: ret, comm, " },
    { 'trace("kprobe/vfs_read", "str(count)")', "usage: trace: argument 3: str() reads a pointer, and 'count' is size_t" },
    { 'trace("kprobe/vfs_open", "path->x")', "usage: trace: argument 3: path->x: struct path has no member 'x' (members: mnt, dentry)" },
    { 'trace("kprobe/vfs_read", "count->x")', "'count' is size_t, not a pointer to a struct" },
    { 'hist("kretprobe/fput", "ret")', "usage: hist: argument 2: fput returns void: there is no 'ret'" },
  }
  o.check_usage_errors(t, cases)
end)

t.test("the REPL's :fields and completion list a kprobe's typed arguments", function()
  local repl = require "ebpf.repl"
  local lines = {}
  local saved = print
  print = function(...) lines[#lines + 1] = table.concat({ ... }, "\t") end
  local ok, err = pcall(repl.command, "fields kprobe/vfs_read")
  pcall(repl.command, "fields kretprobe/vfs_read")
  print = saved
  assert(ok, err)
  local text = table.concat(lines, "\n")
  t.eq(text:find("\nfile +struct file %* +file%->MEMBER, or arg0\n") ~= nil, true, text)
  t.eq(text:find("\nbuf +char %* +str%(buf%) or str%(arg1%)\n") ~= nil, true, text)
  t.eq(text:find("\ncount +size_t +count or arg2\n") ~= nil, true, text)
  t.eq(text:find("\nret +ssize_t +ret\n") ~= nil, true, text)
  local names = table.concat(repl.field_names("kprobe/vfs_read", ""), ",")
  t.eq(names:find("^file,str%(buf%),count,pos,arg0,arg1,arg2,arg3,comm") ~= nil, true, names)
  local steps = table.concat(repl.field_names("kprobe/vfs_open", "str(path->d"), ",")
  t.eq(has(steps, "str(path->dentry"), true, steps)
end)

-- The kprobe forms of the tutorial's kprobe lessons, from docs/one-liners.md.
local doc = assert(io.open((os.getenv("EBPFRUN_SOURCE_DIR") or ".") .. "/docs/one-liners.md")):read("*a")
local forms = {}
for line in assert(doc:match("## bpftrace's tutorial, side by side(.*)$")):gmatch("[^\n]+") do
  local n = line:match("^| (%d+) |")
  local command = n and line:match("kprobe form[^`|]*`(ebpfrun [^`]+)`")
  if command then forms[#forms + 1] = { n = tonumber(n), command = command } end
end
t.test("the tutorial table gives kprobe forms of lessons 6, 7 and 12", function()
  local ns = {}
  for i, f in ipairs(forms) do ns[i] = f.n end
  t.eq(ns, { 6, 7, 12 })
end)

-- A copy of the workload with a name of its own: other tests run the
-- workload at the same time. Returns its path and name, and a cleanup.
local function own_workload()
  local dir = ("/tmp/ebpfrun-kprobes-%d-%d"):format(c.pid(), math.random(1e9))
  local name = ("kw%06d"):format(math.random(0, 999999))
  os.execute(("mkdir -p %s && cp %s %s/%s"):format(dir, W, dir, name))
  return dir .. "/" .. name, name, function() os.execute("rm -rf " .. dir) end
end

-- The counts of the histogram printed under `label`.
local function hist_total(out, label)
  local body = out:match("\n?" .. label:gsub("%p", "%%%0") .. "\n(.-)\n\n") or out:match(label:gsub("%p", "%%%0") .. "\n(.*)$")
  if not body then return nil end
  local total = 0
  for n in body:gmatch("%)%s+(%d+) |") do total = total + tonumber(n) end
  return total
end

local CHECKS = {
  [6] = function(code)
    -- Five reads of 1500 bytes each (five processes: few enough to run
    -- within the one-liner's duration in a TCG guest) land in [1400, 1600).
    local path = o.unique_file("kp6", 1500)
    local rc, out, err = o.run(code, ("for i in 1 2 3 4 5; do %s read 1500 %s; done"):format(W, path))
    os.remove(path)
    t.eq(rc, 0, err)
    local n = tonumber(out:match("%[1400, 1600%)%s+(%d+) |"))
    t.eq(n ~= nil and n >= 5, true, out)
  end,
  [7] = function(code)
    -- Ten reads of 4096 bytes by the copy: ten latencies under its name.
    local bin, name, cleanup = own_workload()
    local path = o.unique_file("kp7", 40960)
    local rc, out, err = o.run(code, ("%s read 40960 %s"):format(bin, path))
    os.remove(path)
    cleanup()
    t.eq(rc, 0, err)
    t.eq(hist_total(out, ("@ns[%s]:"):format(name)), 10, out)
  end,
  [12] = function(code)
    -- Three openat()s of a known file by the copy: three lines with its
    -- name and the file's, through path->dentry->d_name.name; six where
    -- /tmp is on overlayfs (the kernel matrix's guests), which opens the
    -- file it stacks on with vfs_open() too.
    local bin, name, cleanup = own_workload()
    local path = o.unique_file("kp12")
    local rc, out, err = o.run(code, ("%s openat 3 %s"):format(bin, path))
    os.remove(path)
    cleanup()
    t.eq(rc, 0, err)
    local want, n = name .. " " .. path:match("[^/]+$"), 0
    for _, l in ipairs(o.lines(out)) do if l == want then n = n + 1 end end
    t.eq(n == 3 or n == 6, true, ("%d lines of '%s'\n%s"):format(n, want, out))
  end,
}

for _, form in ipairs(forms) do
  t.test(("lesson %d, kprobe form: %s"):format(form.n, form.command), function()
    local code = assert(form.command:match("^ebpfrun %-e '(.*)'$"), form.command)
    code = "require('ebpf.oneliner').duration = 3; " .. code
    local probe = code:match('"(k%a*probe/[%w_]+)"')
    if not os.getenv("EBPFRUN_EXPECT_KPROBES") then
      -- The reference host has no kprobes: the one-liner must say so, and
      -- leave nothing loaded.
      local rc, out, err = o.run(code)
      if rc ~= 0 then
        t.eq(rc, 1, err)
        t.eq(out, "")
        t.eq(has(err, ("cannot attach %s: kprobes are not available on this kernel"):format(probe)), true, err)
        t.eq(c.kernel_has_program("oneliner"), false)
        print("skip    (this kernel has no kprobes; the kernel matrix runs it)")
        return
      end
    end
    CHECKS[form.n](code)
    t.eq(c.kernel_has_program("oneliner"), false)
  end)
end

t.done()
