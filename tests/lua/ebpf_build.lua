-- The build pipeline from Lua: an unmodified libbpf-style program whose event
-- type is defined in its own header (compiled with includes = {dir}) delivers
-- typed events; inline asm compiles and loads.
local t = require "harness"
local c = require "ebpf_common"
local ebpf = require "ebpf"
local ffi = require "ffi"
c.require_root()

local data = os.getenv("EBPFRUN_SOURCE_DIR") .. "/tests/data/headerevent"

t.test("a ring-buffer event type from the program's own header is typed from BTF", function()
  local obj, err = ebpf.compile { file = data .. "/headerevent.bpf.c", includes = { data }, filter = { pid = c.pid() } }
  t.ok(obj, err)
  t.ok(obj:attach_all())
  local reader, rerr = obj:ringbuf("events", "struct event")
  t.ok(reader, rerr)
  local seen, bad = 0, nil
  reader:on(function(e)
    seen = seen + 1
    if e.pid ~= c.pid() or tonumber(e.arg) ~= 4242 or ffi.string(e.comm) ~= "ebpfrun" then
      bad = ("pid %d arg %d comm %s"):format(e.pid, tonumber(e.arg), ffi.string(e.comm))
    end
    if seen == 3 then ebpf.stop() end
  end)
  for _ = 1, 3 do c.getpgid(4242) end
  t.eq(ebpf.run { duration = 10 }, "stopped")
  t.eq(seen, 3)
  t.eq(bad, nil)
  -- The header's enum is there too, by name.
  local values = assert(obj:enum_values("enum headerevent_kind"))
  t.eq(#values, 2)
  obj:close()
end)

t.test("inline asm compiles and loads", function()
  local obj, err = ebpf.compile { text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
SEC("tracepoint/syscalls/sys_enter_getpgid")
int asm_lua(void *ctx)
{
    __u64 x = 0, y = bpf_get_current_pid_tgid();
    asm volatile("%0 = %1" : "=r"(x) : "r"(y));
    asm volatile("" : "=r"(y) : "0"(x));
    return y == 0;
}
char LICENSE[] SEC("license") = "GPL";
]] }
  t.ok(obj, err)
  t.eq(#obj:info().programs, 1)
  obj:close()
  t.ok(not c.kernel_has_program("asm_lua"))
end)

t.test("a binary file is refused without echoing its bytes", function()
  local obj, err = ebpf.compile { file = os.getenv("EBPFRUN_BIN") }
  t.eq(obj, nil)
  t.ok(err:find("is not BPF C source: it contains binary data", 1, true), err)
  t.ok(not err:find("ELF", 1, true), err)
end)

t.done()
