-- Count system calls per process, printing the top 10 every second.
--   ebpfrun examples/syscalls_by_process.lua [--duration 5]
local ebpf = require "ebpf"
local ffi = require "ffi"
local args = require "ebpf.args"

local opts = args.parse(arg, { name = "syscalls_by_process", description = "System calls per process, top 10 per second.",
                               standard = { "pid", "comm", "duration", "interval" } })

-- The BPF side: one hash map keyed by comm, bumped on every syscall entry.
-- /*FILTER*/ is where --pid / --comm become C (generated, never pasted text).
local obj = assert(ebpf.compile { filter = opts.filter, text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct comm_key { char comm[16]; };
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096); __type(key, struct comm_key); __type(value, __u64); } calls SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int count_syscall(void *ctx)
{
    /*FILTER*/
    struct comm_key key = {};
    bpf_get_current_comm(key.comm, sizeof(key.comm));
    __u64 one = 1, *n = bpf_map_lookup_elem(&calls, &key);
    if (n) __sync_fetch_and_add(n, 1);
    else bpf_map_update_elem(&calls, &key, &one, BPF_NOEXIST);
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
]] })
assert(obj:attach_all())
local calls = assert(obj:map("calls"))

ebpf.run {
  every = opts.interval or 1,
  duration = opts.duration,
  tick = function()
    -- pairs(true) reads and clears in one pass: each interval starts from zero.
    local rows = {}
    for key, n in calls:pairs(true) do rows[#rows + 1] = { ffi.string(key.comm), n } end
    table.sort(rows, function(a, b) return a[2] > b[2] end)
    print(os.date("%H:%M:%S"))
    for i = 1, math.min(10, #rows) do print(("  %-16s %8d"):format(rows[i][1], rows[i][2])) end
  end,
}
