-- stackcount: count the stacks that reach a probe.
--   ebpfrun scripts/stackcount.lua PROBE [--stacks both|kernel|user] [--top N] [--folded] [--svg FILE] [--pid N] ...
-- PROBE is any one-liner probe (tracepoint/CAT/NAME, raw_tp/NAME, tp_btf/NAME,
-- uprobe/PATH:SYMBOL, perf_event/...; see docs/one-liners.md). Each hit
-- counts once per (process, comm, kernel stack id, user stack id) in BPF;
-- at the end the stacks are symbolized in the host and printed as the top
-- stacks by count, or with --folded as `comm;outermost;...;innermost count`
-- lines. Like profile.lua, user stacks follow frame pointers.
local ebpf = require "ebpf"
local args = require "ebpf.args"
local F = require "ebpf.oneliner_fields"
local report = require "ebpf.stackreport"
local ffi = require "ffi"

local spec = {
  name = "stackcount",
  description = "Count the kernel and user stacks that reach a probe; print the top stacks or folded stacks.",
  options = {
    { "--stacks", default = "both", choices = { "both", "kernel", "user" }, metavar = "WHICH",
      help = "which stacks to take: both, kernel or user" },
    { "--top", type = "int", default = 10, metavar = "N", help = "stacks to show in the table" },
    { "--folded", type = "flag", help = "print folded stacks (comm;frame;...;frame count) instead of the table" },
    { "--svg", type = "string", metavar = "FILE", help = "also write an interactive SVG flame graph to FILE" },
  },
  positional = { { "PROBE", help = "where to count stacks: tracepoint/CAT/NAME, raw_tp/NAME, uprobe/PATH:SYMBOL, ..." } },
  standard = { "pid", "tid", "comm", "uid", "cgroup", "json", "interval", "duration" },
  epilog = "Example: stackcount.lua tracepoint/syscalls/sys_enter_openat --comm bash --duration 5",
}
local opts = args.parse(arg, spec)
if opts.top < 1 then
  io.stderr:write("stackcount: error: --top must be at least 1\n")
  os.exit(2)
end
local ok, info = pcall(F.probe, opts.probe, "stackcount", 1)
if not ok then
  io.stderr:write("stackcount: error: ", tostring(info):gsub("^usage: stackcount: argument 1: ", ""), "\n")
  os.exit(2)
end

-- The section comes from F.probe, which accepts only known probe kinds and
-- builds it from them; the probe text itself is the attach spec.
local source = ([[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "ebpfrun_stacks.h"
char LICENSE[] SEC("license") = "GPL";
struct stackcount_key {
    __u32 pid;
    __s32 kernel_stack;
    __s32 user_stack;
    char comm[16];
};
EBPFRUN_STACK_MAP(stackcount_stacks, 16384);
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, struct stackcount_key);
    __type(value, __u64);
} stackcount_counts SEC(".maps");
SEC("%s")
int stackcount(void *ctx)
{
    /*FILTER*/
    struct stackcount_key key = {};
    key.pid = bpf_get_current_pid_tgid() >> 32;
    bpf_get_current_comm(key.comm, sizeof(key.comm));
    key.kernel_stack = %s;
    key.user_stack = %s;
    __u64 one = 1;
    __u64 *count = bpf_map_lookup_elem(&stackcount_counts, &key);
    if (count)
        __sync_fetch_and_add(count, 1);
    else
        bpf_map_update_elem(&stackcount_counts, &key, &one, BPF_NOEXIST);
    return 0;
}
]]):format(info.section, opts.stacks ~= "user" and "EBPFRUN_KSTACK(ctx, stackcount_stacks)" or "-1",
  opts.stacks ~= "kernel" and "EBPFRUN_USTACK(ctx, stackcount_stacks)" or "-1")

local obj, err = ebpf.compile { text = source, filter = opts.filter }
if not obj then
  io.stderr:write("stackcount: ", tostring(err), "\n")
  os.exit(1)
end
local link
link, err = obj:attach("stackcount", opts.probe)
if not link then
  io.stderr:write("stackcount: ", tostring(err), "\n")
  obj:close()
  os.exit(1)
end
local counts = assert(obj:map("stackcount_counts"))
local function hits()
  local n = 0
  for _, count in counts:pairs() do n = n + count end
  return n
end
io.stderr:write("stackcount: counting stacks at ", opts.probe, "; Ctrl-C to stop\n")
report.run(opts, counts, function() io.stderr:write("stackcount: ", tostring(hits()), " hits\n") end)

local r = report.new { tool = "stackcount", unit = "count", title = "stackcount: " .. opts.probe }
local stacks, without_kernel = 0, 0
for key, count in counts:pairs() do
  local user, kernel
  if key.user_stack >= 0 then user = obj:stack("stackcount_stacks", key.user_stack, key.pid) end
  if key.kernel_stack >= 0 then kernel = obj:stack("stackcount_stacks", key.kernel_stack) end
  stacks = stacks + 1
  if not kernel then without_kernel = without_kernel + 1 end
  r:add(ffi.string(key.comm), user, kernel, tonumber(count))
end
obj:close()
-- Older kernels (Debian's 6.1 among them) run syscall tracepoint programs
-- with the syscall's user-mode registers, so the kernel unwinder has nothing
-- to walk; say so, rather than print stacks that silently lack their kernel half.
if opts.stacks ~= "user" and stacks > 0 and without_kernel == stacks and opts.probe:match("^tracepoint/syscalls/") then
  io.stderr:write("stackcount: note: this kernel gives no kernel stacks at ", opts.probe,
    " (its syscall tracepoints run with the user-mode registers); raw_tp/sys_enter has them\n")
end
local printed
printed, err = r:print(opts)
if not printed then
  io.stderr:write("stackcount: ", err, "\n")
  os.exit(1)
end
