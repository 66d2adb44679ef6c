-- Attach alternatives and optional programs on the real kernel: a program
-- names several attach points and the first that loads and attaches wins
-- (link:attached_as() says which); a program this kernel refuses can be
-- switched off (autoload) or marked optional. Ground truth: the workload's
-- openat() calls, counted per pid by whichever attach point won.
--
-- On a kernel with kprobes (the Debian guests of tests/vm) the kprobe
-- alternative wins; on one without (the reference host) the tracepoint does.
local t = require "harness"
local c = require "ebpf_common"
local ebpf = require "ebpf"
c.require_root()

local workload = assert(os.getenv("EBPFRUN_WORKLOAD"), "EBPFRUN_WORKLOAD is not set")
local f = io.open("/sys/bus/event_source/devices/kprobe/type")
local has_kprobes = f ~= nil
if f then f:close() end

-- Counts each process's calls wherever it is attached: the program reads
-- nothing from its context, so one body serves kprobes, tracepoints and fentry.
-- A per-process call counter every test program here shares.
local COUNTER_PRELUDE = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, __u32);
    __type(value, __u64);
} alt_counts SEC(".maps");

static __always_inline int count_call(void)
{
    __u32 pid = bpf_get_current_pid_tgid() >> 32;
    __u64 one = 1, *v = bpf_map_lookup_elem(&alt_counts, &pid);
    if (v)
        __sync_fetch_and_add(v, 1);
    else
        bpf_map_update_elem(&alt_counts, &pid, &one, BPF_NOEXIST);
    return 0;
}

]]
local COUNTER = COUNTER_PRELUDE .. [[
SEC("kprobe/do_sys_openat2")
int alt_open(void *ctx) { return count_call(); }
char LICENSE[] SEC("license") = "GPL";
]]

-- Runs `workload openat n PATH` and returns its pid.
local function openat_workload(n)
  local path = os.tmpname()
  local p = assert(io.popen(("%s openat %d %s"):format(workload, n, path)))
  local pid = tonumber(p:read("*l"))
  p:read("*a")
  p:close()
  os.remove(path)
  return assert(pid, "the workload printed no pid")
end

local function counted(obj, pid) return obj:map("alt_counts"):lookup(pid) end

local OPEN_ALTERNATIVES = { "kprobe/do_sys_openat2", "tracepoint/syscalls/sys_enter_openat" }
local expected_winner = has_kprobes and OPEN_ALTERNATIVES[1] or OPEN_ALTERNATIVES[2]

t.test("the first alternative that loads and attaches wins, and sees the workload's openat() calls", function()
  local obj = assert(ebpf.compile { text = COUNTER })
  local link, err = obj:attach("alt_open", OPEN_ALTERNATIVES)
  t.ok(link, tostring(err))
  t.eq(link:attached_as(), expected_winner)
  t.eq(link:info().spec, expected_winner)
  local pid = openat_workload(7)
  t.eq(counted(obj, pid), 7)
  local notes = table.concat(obj:notes(), "\n")
  t.ok(notes:find("program 'alt_open' attached as " .. expected_winner, 1, true), notes)
  if not has_kprobes then
    -- Why the kprobe lost is kept with the choice.
    t.ok(notes:find("not as kprobe/do_sys_openat2: cannot attach kprobe/do_sys_openat2: kprobes are not available",
      1, true), notes)
  end
  link:detach()
  local after = openat_workload(3)
  t.eq(counted(obj, after), nil)
  obj:close()
  t.ok(not c.kernel_has_program("alt_open"), "alt_open is gone after close")
end)

t.test("-v and --stats show which alternative was chosen", function()
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p " .. dir)
  local script = c.script_file(
    ("local ebpf = require 'ebpf'\nlocal obj = assert(ebpf.compile { text = [==[%s]==] })\n"):format(COUNTER)
      .. ("assert(obj:attach('alt_open', { %q, %q }))\n"):format(OPEN_ALTERNATIVES[1], OPEN_ALTERNATIVES[2])
      .. "ebpf.run { duration = 0.2 }\n")
  local cmd = ("%s -v --stats %s >%s/out 2>%s/err; echo $? >%s/rc"):format(
    os.getenv("EBPFRUN_BIN") or "ebpfrun", script, dir, dir, dir)
  os.execute(cmd)
  local function slurp(name)
    local h = assert(io.open(dir .. "/" .. name))
    local text = h:read("*a")
    h:close()
    return text
  end
  local rc, err = tonumber(slurp("rc")), slurp("err")
  os.execute("rm -rf " .. dir)
  c.remove_content_file(script)
  t.eq(rc, 0, err)
  -- -v: the debug line; --stats: the notes after the table, and in the table
  -- the program that ran (on a kernel without kprobes, the copy loaded as a
  -- tracepoint program).
  t.ok(err:find("debug: program 'alt_open' attached as " .. expected_winner, 1, true), err)
  t.ok(err:find("notes:\n  program 'alt_open' attached as " .. expected_winner, 1, true), err)
  local ran_as = has_kprobes and "kprobe" or "tracepoint"
  t.ok(err:find("%d%s+" .. ran_as .. "%s+alt_open%s"), err)
end)

t.test("attach_all takes alternatives per program, from ebpf.compile or from attach_all", function()
  for _, where in ipairs({ "compile", "attach_all" }) do
    local alternatives = { alt_open = OPEN_ALTERNATIVES }
    local obj = assert(ebpf.compile { text = COUNTER, alternatives = where == "compile" and alternatives or nil })
    local links, err = obj:attach_all(where == "attach_all" and { alternatives = alternatives } or nil)
    t.ok(links, tostring(err))
    t.eq(#links, 1)
    t.eq(links[1]:attached_as(), expected_winner)
    local pid = openat_workload(5)
    t.eq(counted(obj, pid), 5, where)
    obj:close()
  end
end)

t.test("when every alternative fails, one error names each with its reason and nothing stays attached", function()
  local obj = assert(ebpf.compile { text = COUNTER })
  local link, err = obj:attach("alt_open", {
    "kprobe/ebpfrun_no_such_function",
    "tracepoint/syscalls/sys_enter_ebpfrun_no_such",
    "fentry/ebpfrun_no_such_function",
  })
  t.eq(link, nil)
  t.eq(err.kind, "not_supported")
  local text = tostring(err)
  t.ok(text:find("cannot attach program 'alt_open'", 1, true), text)
  t.ok(text:find("none of its 3 attach points works on this kernel", 1, true), text)
  t.ok(text:find("\n  kprobe/ebpfrun_no_such_function: cannot attach kprobe/ebpfrun_no_such_function: ", 1, true), text)
  t.ok(text:find("\n  tracepoint/syscalls/sys_enter_ebpfrun_no_such: cannot attach ", 1, true), text)
  t.ok(text:find("\n  fentry/ebpfrun_no_such_function: program 'alt_open' does not load as a tracing program here: ",
    1, true), text)
  t.eq(obj:info().attachments, 0)
  obj:close()
end)

t.test("a program declared SEC(\"fentry/...\") cannot become a kprobe or tracepoint, and is told why", function()
  local FENTRY = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
SEC("fentry/do_sys_openat2")
int alt_fentry_only(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
]]
  -- Named in alternatives, it is optional at load: a kernel that refuses
  -- fentry still loads the object.
  local obj = assert(ebpf.compile { text = FENTRY, alternatives = { alt_fentry_only = { "tracepoint/syscalls/sys_enter_openat" } } })
  local links, err = obj:attach_all()
  t.eq(links, nil)
  local text = tostring(err)
  t.ok(text:find("\n  tracepoint/syscalls/sys_enter_openat: program 'alt_fentry_only' is declared " ..
    "SEC(\"fentry/do_sys_openat2\"), which binds it to a kernel function when it is loaded", 1, true), text)
  obj:close()
end)

-- One program at two tracepoints whose records have the same layout, loaded
-- once: the workload's openat() calls are seen at the entry and at the exit.
local AT_ENTRY = COUNTER_PRELUDE .. [[
SEC("tracepoint/syscalls/sys_enter_openat")
int alt_both(void *ctx) { return count_call(); }
char LICENSE[] SEC("license") = "GPL";
]]

t.test("also_attach attaches one program at further points, from ebpf.compile or from attach_all", function()
  for _, where in ipairs({ "compile", "attach_all" }) do
    local also = { alt_both = { "tracepoint/syscalls/sys_exit_openat" } }
    local obj = assert(ebpf.compile { text = AT_ENTRY, also_attach = where == "compile" and also or nil })
    local links, err = obj:attach_all(where == "attach_all" and { also_attach = also } or nil)
    t.ok(links, tostring(err))
    t.eq(#links, 2)
    t.eq(#obj:info().programs, 1)
    local pid = openat_workload(5)
    t.eq(counted(obj, pid), 10, where)
    obj:close()
  end
  t.raises(function() ebpf.compile { text = AT_ENTRY, also_attach = "x" } end, "'also_attach' must be a table")
  local obj = assert(ebpf.compile { text = AT_ENTRY })
  t.raises(function() obj:attach_all { also_attach = 3 } end, "'also_attach' must be a table")
  local links, err = obj:attach_all { also_attach = { alt_nope = { "tracepoint/syscalls/sys_exit_openat" } } }
  t.eq(links, nil)
  t.ok(tostring(err):find("also_attach name program 'alt_nope'", 1, true), tostring(err))
  obj:close()
end)

t.test("a malformed alternative or a wrong argument is a script error", function()
  local obj = assert(ebpf.compile { text = COUNTER })
  local link, err = obj:attach("alt_open", { "tracepoint/syscalls/sys_enter_openat", "kprobe" })
  t.eq(link, nil)
  t.eq(err.kind, "invalid_argument")
  t.ok(tostring(err):find('malformed attach spec "kprobe"', 1, true), tostring(err))
  t.raises(function() obj:attach("alt_open", { "tracepoint/syscalls/sys_enter_openat", 42 }) end, "not a string")
  t.raises(function() obj:attach("alt_open", 42) end, "spec must be a string or a list")
  local none, nerr = obj:attach("alt_open", {})
  t.eq(none, nil)
  t.ok(tostring(nerr):find("list of attach points is empty", 1, true), tostring(nerr))
  local links, aerr = obj:attach_all { alternatives = { alt_nope = OPEN_ALTERNATIVES } }
  t.eq(links, nil)
  t.ok(tostring(aerr):find("alternatives name program 'alt_nope'", 1, true), tostring(aerr))
  obj:close()
end)

-- libbpf-tools style: syncsnoop attaches every sync-like syscall's tracepoint,
-- and x86 has no sys_enter_sync_file_range2 (libbpf-tools' own loader switches
-- that program off there).
local SYNC = COUNTER_PRELUDE .. [[
SEC("tracepoint/syscalls/sys_enter_openat")
int alt_sync_openat(void *ctx) { return count_call(); }

SEC("tracepoint/syscalls/sys_enter_sync_file_range2")
int alt_sync_range2(void *ctx) { return count_call(); }
char LICENSE[] SEC("license") = "GPL";
]]

local has_range2 = io.open("/sys/kernel/tracing/events/syscalls/sys_enter_sync_file_range2/id") ~= nil

t.test("a program on a missing tracepoint fails attach_all, unless switched off or optional", function()
  if has_range2 then
    print("  (this kernel has sys_enter_sync_file_range2; only the switches are checked)")
  end
  local obj = assert(ebpf.compile { text = SYNC })
  local links, err = obj:attach_all()
  if not has_range2 then
    t.eq(links, nil)
    t.ok(tostring(err):find("sys_enter_sync_file_range2", 1, true), tostring(err))
  end
  obj:close()

  -- Switched off: never loaded, passed over by attach_all, the other counts.
  obj = assert(ebpf.compile { text = SYNC, autoload = { alt_sync_range2 = false } })
  local loaded = {}
  for _, p in ipairs(obj:info().programs) do loaded[p.name] = p.loaded end
  t.eq(loaded.alt_sync_range2, false)
  t.eq(loaded.alt_sync_openat, true)
  links, err = obj:attach_all()
  t.ok(links, tostring(err))
  t.eq(#links, 1)
  t.eq(links[1]:attached_as(), "tracepoint/syscalls/sys_enter_openat")
  local pid = openat_workload(4)
  t.eq(counted(obj, pid), 4)
  t.ok(not c.kernel_has_program("alt_sync_range2"), "a program switched off is not in the kernel")
  obj:close()

  -- Optional: loaded, its attach fails with a note, the others run.
  obj = assert(ebpf.compile { text = SYNC, optional = { "alt_sync_range2" } })
  links, err = obj:attach_all()
  t.ok(links, tostring(err))
  t.eq(#links, has_range2 and 2 or 1)
  pid = openat_workload(3)
  t.eq(counted(obj, pid), 3)
  if not has_range2 then
    local notes = table.concat(obj:notes(), "\n")
    t.ok(notes:find("optional program 'alt_sync_range2' of .- was not attached: .*sys_enter_sync_file_range2"), notes)
  end
  obj:close()
end)

t.test("an optional program the kernel refuses at load is skipped; a required one fails the load", function()
  -- A verifier rejection stands in for any refusal at load.
  local REFUSED = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } alt_m SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getppid")
int alt_refused(void *ctx)
{
    __u32 k = 0;
    __u64 *v = bpf_map_lookup_elem(&alt_m, &k);
    return *v == 1;
}
SEC("tracepoint/syscalls/sys_enter_getppid")
int alt_fine(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
]]
  local obj, err = ebpf.compile { text = REFUSED }
  t.eq(obj, nil)
  t.eq(err.kind, "verifier")
  obj, err = ebpf.compile { text = REFUSED, optional = { "alt_refused" } }
  t.ok(obj, tostring(err))
  local loaded = {}
  for _, p in ipairs(obj:info().programs) do loaded[p.name] = p.loaded end
  t.eq(loaded.alt_refused, false)
  t.eq(loaded.alt_fine, true)
  local notes = table.concat(obj:notes(), "\n")
  t.ok(notes:find("optional program 'alt_refused' of .- was not loaded: the verifier rejected program 'alt_refused'"),
    notes)
  local links, aerr = obj:attach_all()
  t.ok(links, tostring(aerr))
  t.eq(#links, 1)
  obj:close()
  -- Unknown names are refused rather than ignored.
  local bad, berr = ebpf.compile { text = REFUSED, autoload = { alt_nope = false } }
  t.eq(bad, nil)
  t.eq(berr.kind, "invalid_argument")
  t.ok(tostring(berr):find("autoload names program 'alt_nope'", 1, true), tostring(berr))
  t.raises(function() ebpf.compile { text = REFUSED, autoload = { alt_fine = "no" } } end, "autoload")
  t.raises(function() ebpf.compile { text = REFUSED, optional = "alt_fine" } end, "optional")
end)

-- A libbpf-tools style object: typed kprobe and fentry programs, attached by
-- attach_all. The guests (tests/vm) set EBPFRUN_EXPECT_KPROBES and
-- EBPFRUN_EXPECT_FENTRY: there both must attach and count; here they fail
-- with the clear messages.
local TOOLS_STYLE = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, __u64);
    __type(value, __u64);
} alt_tool_counts SEC(".maps");

static __always_inline int count_kind(__u64 kind)
{
    __u64 key = (bpf_get_current_pid_tgid() >> 32) | (kind << 32);
    __u64 one = 1, *v = bpf_map_lookup_elem(&alt_tool_counts, &key);
    if (v)
        __sync_fetch_and_add(v, 1);
    else
        bpf_map_update_elem(&alt_tool_counts, &key, &one, BPF_NOEXIST);
    return 0;
}

SEC("kprobe/do_sys_openat2")
int BPF_KPROBE(alt_tool_kprobe, int dfd, const char *filename)
{
    return count_kind(1);
}

SEC("fentry/do_sys_openat2")
int BPF_PROG(alt_tool_fentry, int dfd, const char *filename)
{
    return count_kind(2);
}
char LICENSE[] SEC("license") = "GPL";
]]

t.test("libbpf-tools style kprobe and fentry programs run under attach_all where the kernel has them", function()
  local want_kprobes = os.getenv("EBPFRUN_EXPECT_KPROBES") == "1"
  local want_fentry = os.getenv("EBPFRUN_EXPECT_FENTRY") == "1"
  -- fentry may be refused at load: optional, so that the kprobe half is
  -- still checked on such a kernel.
  local obj, err = ebpf.compile { text = TOOLS_STYLE, optional = { "alt_tool_fentry" } }
  t.ok(obj, tostring(err))
  local links, aerr = obj:attach_all()
  if want_kprobes or has_kprobes then
    t.ok(links or not want_fentry, tostring(aerr))
  else
    t.eq(links, nil)
    t.ok(tostring(aerr):find("cannot attach kprobe/do_sys_openat2: kprobes are not available on this kernel", 1, true),
      tostring(aerr))
  end
  if links then
    local pid = openat_workload(6)
    local counts = obj:map("alt_tool_counts")
    t.eq(counts:lookup(pid + 2 ^ 32), 6, "kprobe count")
    if want_fentry then t.eq(counts:lookup(pid + 2 * 2 ^ 32), 6, "fentry count") end
  end
  if want_kprobes then t.ok(links, "kprobes expected to work here: " .. tostring(aerr)) end
  obj:close()
end)

t.done()
