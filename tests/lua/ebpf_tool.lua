-- Tests for ebpf.tool, the runner of the event-stream tools, on the real
-- kernel: tool.stream compiles a source from the bpf directory with the
-- caller's filter, delivers every ring-buffer record to on_event, calls
-- finish with the number of records the BPF side could not store and reports
-- them, and returns 1 with the reason on stderr when the source does not
-- compile. tool.address and tool.monotonic_to_wall are checked against
-- values known independently.
local t = require "harness"
local c = require "ebpf_common"
local ffi = require "ffi"
c.require_root()
local tool = require "ebpf.tool"

ffi.cdef [[
int setenv(const char *name, const char *value, int overwrite);
struct ebpf_tool_test_timespec { long sec; long nsec; };
int ebpf_tool_test_clock_gettime(int clock, struct ebpf_tool_test_timespec *ts) asm("clock_gettime");
]]

-- One BPF source in a directory of its own, found by tool.stream through
-- EBPFRUN_BPF_DIR as the shipped tools find theirs in bpf/. On the first
-- syscall of this process after attach it emits BURST records of PAD bytes
-- at once into a 4 KiB ring, so which of them fit is known exactly: nothing
-- reads the ring while one program run is reserving.
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir) == 0)
local source = assert(io.open(dir .. "/tool_test.bpf.c", "w"))
source:write [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "ebpfrun_events.h"

struct tool_test_event { __u32 seq; __u32 pid; char pad[PAD]; };
EBPFRUN_RINGBUF_WITH_DROPS(events, 4096);
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u32); } tool_test_done SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int tool_test_emit(void *ctx)
{
    /*FILTER*/
    __u32 zero = 0;
    __u32 *done = bpf_map_lookup_elem(&tool_test_done, &zero);
    if (!done || *done)
        return 0;
    *done = 1;
    for (__u32 i = 0; i < BURST; i++) {
        struct tool_test_event *e = EBPFRUN_RESERVE(events, sizeof(*e));
        if (!e)
            continue;
        e->seq = i;
        e->pid = bpf_get_current_pid_tgid() >> 32;
        bpf_ringbuf_submit(e, 0);
    }
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
]]
source:close()
ffi.C.setenv("EBPFRUN_BPF_DIR", dir, 1)

-- Runs tool.stream with stderr captured; returns the exit code, what finish
-- saw, the events, and stderr's text.
local function stream(defines, extra)
  local events, finished = {}, nil
  local spec = {
    name = "tooltest", source = "tool_test.bpf.c", defines = defines, filter = { pid = c.pid() },
    type = "struct tool_test_event", json = true, duration = 0.5,
    columns = { { "SEQ", key = "seq" } },
    on_event = function(e) events[#events + 1] = { seq = e.seq, pid = e.pid } end,
    finish = function(_, lost) finished = lost end,
  }
  for k, v in pairs(extra or {}) do spec[k] = v end
  local err, saved = t.buffer(), io.stderr
  io.stderr = err
  local ok, code = pcall(tool.stream, spec)
  io.stderr = saved
  if not ok then error(code, 0) end
  return code, finished, events, err:text()
end

t.test("stream: every record reaches on_event, in order, and finish sees no loss", function()
  local code, lost, events, err = stream { "PAD=8", "BURST=5" }
  t.eq(code, 0, err)
  t.eq(lost, 0)
  t.eq(#events, 5)
  for i, e in ipairs(events) do
    t.eq(e.seq, i - 1, "sequence")
    t.eq(e.pid, c.pid(), "only this process (the filter)")
  end
  t.eq(err, "", "nothing on stderr")
  t.ok(not c.kernel_has_program("tool_test_emit"), "the object is closed after the run")
end)

t.test("stream: records the full ring refused are counted and reported once", function()
  -- 2000-byte records take 2016 bytes of ring with their header: 2 fit in 4096.
  local code, lost, events, err = stream { "PAD=2000", "BURST=5" }
  t.eq(code, 0, err)
  t.eq(#events, 2)
  t.eq(lost, 3)
  t.eq(err, "tooltest: 3 events were dropped because the ring buffer was full\n")
end)

t.test("stream: drop_format changes the report", function()
  local _, _, _, err = stream({ "PAD=2000", "BURST=4" }, { drop_format = "%s lost %d" })
  t.eq(err, "tooltest lost 2\n")
end)

t.test("stream: a source that does not compile returns 1 with the reason", function()
  local code, lost, events, err = stream({ "PAD=8" }, {})
  t.eq(code, 1)
  t.eq(lost, nil, "finish is not called")
  t.eq(#events, 0)
  t.ok(err:find("^tooltest: "), err)
  t.ok(err:find("BURST", 1, true), "the compiler names the undefined macro: " .. err)
end)

t.test("address: IPv4 and IPv6 in inet_ntop's form, nil for other families", function()
  t.eq(tool.address(2, ffi.new("uint8_t[4]", { 127, 0, 0, 1 })), "127.0.0.1")
  t.eq(tool.address(2, ffi.new("uint8_t[4]", { 10, 1, 2, 254 })), "10.1.2.254")
  local v6 = ffi.new("uint8_t[16]")
  v6[15] = 1
  t.eq(tool.address(10, v6), "::1")
  v6[0], v6[1] = 0xfe, 0x80
  t.eq(tool.address(10, v6), "fe80::1")
  t.eq(tool.address(99, v6), nil)
end)

t.test("monotonic_to_wall: a monotonic time now is the wall clock now", function()
  local ts = ffi.new("struct ebpf_tool_test_timespec")
  ffi.C.ebpf_tool_test_clock_gettime(1, ts)
  local ns = ffi.cast("uint64_t", ts.sec) * 1000000000ULL + ts.nsec
  local wall = tool.monotonic_to_wall(ns)
  t.ok(math.abs(wall - os.time()) <= 2, ("%f vs %d"):format(wall, os.time()))
  t.ok(math.abs(tool.monotonic_to_wall(ns + 5000000000ULL) - wall - 5) < 1e-3, "offsets are kept")
end)

os.execute("rm -rf " .. dir)
t.done()
