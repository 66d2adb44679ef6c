-- bench/events/consumer.lua — the ebpfrun side of bench/events.sh.
--
-- Usage: ebpfrun bench/events/consumer.lua PID EXPECTED [RINGBUF_MIB] [DONE_FILE] [COALESCE]
--
-- Traces syscalls/sys_enter_getppid of process PID into a ring buffer (two
-- fields per event: pid and a timestamp), reads both fields of every event in
-- the Lua handler, and stops once EXPECTED events were handled, or once
-- DONE_FILE exists (the producer has exited) and no event came for 300 ms.
-- COALESCE is ebpf.run's `coalesce` (seconds; default: ebpf.run's default).
-- Prints one line:
--   handled=<n> received=<n> lost=<n> dropped=<n> last_ns=<realtime ns>
--   pid_ok=<0|1> span_ns=<last minus first event timestamp> rss_kib=<n>
-- where last_ns is the CLOCK_REALTIME time the last event was handled and
-- rss_kib the resident set at the end (VmRSS; /usr/bin/time gives the peak).
local ebpf = require "ebpf"
local ffi = require "ffi"

local pid = tonumber(arg[1])
local expected = tonumber(arg[2])
local mib = tonumber(arg[3]) or 256
local done_file = arg[4]
local coalesce = tonumber(arg[5])
if not pid or not expected then
  error("usage: consumer.lua PID EXPECTED [RINGBUF_MIB] [DONE_FILE] [COALESCE]", 0)
end

ffi.cdef [[
struct ebpfrun_bench_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clock, struct ebpfrun_bench_timespec *ts);
]]
local ts = ffi.new("struct ebpfrun_bench_timespec")
local function now_ns()
  ffi.C.clock_gettime(0, ts) -- CLOCK_REALTIME, as the producer's own times
  return tonumber(ts.tv_sec) * 1e9 + tonumber(ts.tv_nsec)
end

local obj = assert(ebpf.compile { text = ([[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "ebpfrun_events.h"
char LICENSE[] SEC("license") = "GPL";

struct event { __u32 pid; __u64 ns; };
EBPFRUN_RINGBUF_WITH_DROPS(events, %d);

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
    /*FILTER*/
    struct event *e = EBPFRUN_RESERVE(events, sizeof(*e));
    if (!e)
        return 0;
    e->pid = bpf_get_current_pid_tgid() >> 32;
    e->ns = bpf_ktime_get_ns();
    bpf_ringbuf_submit(e, 0);
    return 0;
}
]]):format(mib * 1024 * 1024), filter = { pid = pid } })
assert(obj:attach_all())
local events = assert(obj:ringbuf("events", "struct event"))

local handled, pid_sum, first_ns, last_ns, done_at = 0, 0, nil, 0, nil
events:on(function(e)
  handled = handled + 1
  pid_sum = pid_sum + e.pid
  local ns = tonumber(e.ns)
  first_ns = first_ns or ns
  last_ns = ns
  if handled == expected then
    done_at = now_ns()
    ebpf.stop()
  end
end)

-- The fallback when events are missing: stop 300 ms after the producer exited
-- and the count stopped moving; the last moving tick is then the end time.
local last_count, last_move, quiet_ticks = 0, now_ns(), 0
local function tick()
  if handled ~= last_count then
    last_count, last_move, quiet_ticks = handled, now_ns(), 0
    return
  end
  local f = done_file and io.open(done_file)
  if f then
    f:close()
    quiet_ticks = quiet_ticks + 1
    if quiet_ticks >= 30 then ebpf.stop() end
  end
end

ebpf.run { every = 0.01, tick = tick, coalesce = coalesce }
local stats = events:stats()
local rss_kib = 0
local status = io.open("/proc/self/status")
if status then
  rss_kib = tonumber(status:read("*a"):match("VmRSS:%s*(%d+)")) or 0
  status:close()
end
print(("handled=%d received=%d lost=%d dropped=%d last_ns=%.0f pid_ok=%d span_ns=%.0f rss_kib=%d"):format(
  handled, stats.received, stats.lost, stats.dropped, done_at or last_move,
  (pid_sum == handled * pid) and 1 or 0, first_ns and (last_ns - first_ns) or 0, rss_kib))
obj:close()
