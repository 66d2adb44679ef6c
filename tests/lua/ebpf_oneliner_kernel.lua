-- One-liners on kernel functions: fentry/fexit with the function's arguments
-- by name from BTF (and fexit's `ret`), kprobe/kretprobe with arg0..argN and
-- `ret`. The generated BPF_PROG() programs are compiled (not loaded) on any
-- kernel with BTF; where the kernel has fentry / kprobes they must count the
-- workload's read()s through vfs_read exactly, and where it refuses them
-- (this project's reference host) the one-liner fails with the clear reason.
-- EBPFRUN_EXPECT_FENTRY / EBPFRUN_EXPECT_KPROBES (set by the kernel matrix,
-- tests/vm/guest-suite.sh) make "refused" a failure.
local t = require "harness"
local c = require "ebpf_common"
local o = require "oneliner_common"
c.require_root()
math.randomseed(os.time() + c.pid())

local F = require "ebpf.oneliner_fields"
local C = require "ebpf.oneliner_codegen"
require "ebpf.oneliner_paths"  -- struct paths from typed arguments
local W = o.workload()

local compile_only = o.compile_only

t.test("fentry/fexit one-liners are BPF_PROG() programs with the function's typed arguments, and compile", function()
  local entry, exit = F.probe("fentry/vfs_read", "count", 1), F.probe("fexit/vfs_read", "hist", 1)
  t.eq(entry.section, "fentry/vfs_read")
  local names = table.concat(F.names(entry), ",")
  t.eq(names:find("^file,str%(buf%),count,pos,arg0%.%.arg3,comm") ~= nil, true, names)
  t.eq(table.concat(F.names(exit), ","):find("pos,ret,arg0..arg3", 1, true) ~= nil, true, table.concat(F.names(exit), ","))
  local sources = {
    C.aggregate(entry, { F.resolve(entry, "comm", "count", 2) }, nil, nil, nil),
    C.aggregate(exit, {}, F.resolve(exit, "ret", "hist", 2), "log2", nil),
    C.aggregate(entry, { F.resolve(entry, "count", "count", 2), F.resolve(entry, "file", "count", 2) }, nil, nil, nil),
    C.events(entry, { F.resolve(entry, "str(buf)", "trace", 2), F.resolve(entry, "arg2", "trace", 3) }, nil),
    C.latency(entry, exit, { F.resolve(exit, "ret", "latency", 3) }, nil),
  }
  for i, source in ipairs(sources) do
    t.eq(source:find("BPF_PROG(oneliner, struct file *a_file, char *a_buf, size_t a_count, loff_t *a_pos", 1, true) ~= nil,
      true, source)
    local rc, out, size = compile_only(source)
    t.eq(rc, 0, ("source %d: %s\n%s"):format(i, out, source))
    t.eq(size > 0, true, "object written")
  end
  t.eq(sources[2]:find("loff_t *a_pos, ssize_t a_ret)", 1, true) ~= nil, true, sources[2])
end)

t.test("a path from a fentry argument through kernel structs compiles to CO-RE reads of the typed argument", function()
  local entry = F.probe("fentry/vfs_read", "count", 1)
  local d = F.resolve(entry, "str(file->f_path.dentry->d_name.name)", "count", 2)
  local n = F.resolve(entry, "file->f_inode->i_ino", "count", 2)
  local source = C.aggregate(entry, { d, n }, nil, nil, nil)
  t.eq(source:find("BPF_CORE_READ(((struct file *)a_file), f_path.dentry, d_name.name)", 1, true) ~= nil, true, source)
  local rc, out = compile_only(source)
  t.eq(rc, 0, out .. "\n" .. source)
  local ok, err = pcall(F.resolve, entry, "count->x", "count", 2)
  t.eq(ok, false)
  t.eq(tostring(err):find("'count' is size_t, not a pointer to a struct", 1, true) ~= nil, true, tostring(err))
  ok, err = pcall(F.resolve, entry, "file->f_pathh", "count", 2)
  t.eq(tostring(err):find("struct file has no member 'f_pathh'", 1, true) ~= nil, true, tostring(err))
end)

t.test("a name the function does not have, or a function not in BTF, is a usage error listing what there is", function()
  local cases = {
    { 'count("fentry/vfs_read", "bytes")', "usage: count: argument 2: fentry/vfs_read has no field 'bytes' (fields: file, str(buf), count, pos, arg0..arg3, comm" },
    { 'hist("fentry/vfs_read", "ret")', "usage: hist: argument 2: fentry/vfs_read has no field 'ret'" },
    { 'trace("fexit/vfs_read", "str(count)")', "usage: trace: argument 3: str() reads a pointer, and 'count' is size_t" },
    { 'count("fentry/no_such_function_at_all")', "the kernel's BTF has no function 'no_such_function_at_all'" },
  }
  o.check_usage_errors(t, cases)
end)

-- Runs a one-liner around `workload read 40960 FILE`: ten read()s of 4096
-- bytes, each one call of vfs_read.
local function around_reads(code)
  local path = o.unique_file("vfsread", 40960)
  local rc, out, err = o.run(code, ("%s read 40960 %s"):format(W, path))
  os.remove(path)
  return rc, out, err
end

local ONLY = 'comm == \\"workload\\"'

-- Each one-liner with what it must print where the kernel runs it. Where the
-- kernel refuses the probe type (this project's reference host), each must
-- fail with the reason instead; running every one there also leaves their
-- objects in the test cache, which the kernel matrix's guests then load
-- instead of compiling them under emulation.
local function check_each(cases, refused, expect_env)
  for i, case in ipairs(cases) do
    local rc, out, err = around_reads(case[1])
    if rc ~= 0 and not os.getenv(expect_env) then
      t.eq(rc, 1, err)
      local probe = case[1]:match('"(%a+/vfs_read)"')
      t.eq(err:find(refused:format(probe), 1, true) ~= nil, true, err)
      t.eq(i == 1 or cases.refused, true, "the first one-liner ran, this one was refused: " .. err)
      cases.refused = true
    else
      t.eq(rc, 0, err)
      t.eq(not cases.refused, true, "the first one-liner was refused, this one ran")
      case[2](out)
    end
    t.eq(c.kernel_has_program("oneliner"), false)
  end
  if cases.refused then print("skip    (refused on this kernel, as expected here; the kernel matrix runs them)") end
end

t.test("fentry and fexit on vfs_read count the workload's reads, or say the kernel refuses fentry", function()
  check_each({
    { ('count("fentry/vfs_read", "comm", { duration = 2, where = "%s && count == 4096" })'):format(ONLY),
      function(out) t.eq(out, "@[workload]: 10\n") end },
    { ('hist("fexit/vfs_read", "ret", { duration = 2, where = "%s" })'):format(ONLY),
      function(out) t.eq(out:find("@ret:\n[4K, 8K)              10 |", 1, true) ~= nil, true, out) end },
    { ('sum("fexit/vfs_read", "ret", { duration = 2, where = "%s && file != 0" })'):format(ONLY),
      function(out) t.eq(out, "@sum: 40960\n") end },
    -- The file's name through file->f_path.dentry->d_name.name (CO-RE reads).
    { ('count("fentry/vfs_read", "str(file->f_path.dentry->d_name.name)", { duration = 2, where = "%s && count == 4096" })'):format(ONLY),
      function(out) t.eq(out:match("^@%[ebpfrun%-oneliner%-vfsread%-[%d%-]+%]: 10\n$") ~= nil, true, out) end },
  }, "cannot load %s: this kernel refuses fentry/fexit programs", "EBPFRUN_EXPECT_FENTRY")
end)

t.test("kprobe and kretprobe on vfs_read read arg2 and ret, or say the kernel has no kprobes", function()
  check_each({
    { ('count("kprobe/vfs_read", "arg2", { duration = 2, where = "%s" })'):format(ONLY),
      function(out) t.eq(out, "@[4096]: 10\n") end },
    { ('sum("kretprobe/vfs_read", "ret", { duration = 2, where = "%s" })'):format(ONLY),
      function(out) t.eq(out, "@sum: 40960\n") end },
  }, "cannot attach %s: kprobes are not available on this kernel", "EBPFRUN_EXPECT_KPROBES")
end)

t.done()
