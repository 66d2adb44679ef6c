-- A log2 histogram of malloc() request sizes in libc, via a uprobe.
--   ebpfrun examples/malloc_sizes.lua [--pid N] [--duration S]
local ebpf = require "ebpf"
local args = require "ebpf.args"
local hist = require "ebpf.hist"

local opts = args.parse(arg, { name = "malloc_sizes", description = "Histogram of libc malloc() sizes.",
                               standard = { "pid", "comm", "duration" } })

local obj = assert(ebpf.compile { filter = opts.filter, text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* Bucket i counts sizes in [2^(i-1), 2^i); bucket 0 counts zero. */
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 65); __type(key, __u32); __type(value, __u64); } sizes SEC(".maps");

SEC("uprobe")
int BPF_KPROBE(on_malloc, size_t size)
{
    /*FILTER*/
    __u32 bucket = 0;
    while (size && bucket < 64) { bucket++; size >>= 1; }
    __u64 *n = bpf_map_lookup_elem(&sizes, &bucket);
    if (n) __sync_fetch_and_add(n, 1);
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
]] })
-- "libc" is resolved like the dynamic linker would; --pid scopes the uprobe too.
assert(obj:attach("on_malloc", "uprobe/libc:malloc", { pid = opts.pid and opts.pid[1] }))
ebpf.run { duration = opts.duration }

local counts = {}
for bucket, n in obj:map("sizes"):pairs() do if n > 0 then counts[bucket] = n end end
print("@bytes:")
io.write(hist.render_log2 and hist.render_log2(counts) or hist.format(counts))
