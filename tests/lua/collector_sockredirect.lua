-- sockredirect against ground truth: an echo server and a client run inside a
-- fresh cgroup v2 while sockredirect is attached to it. The client checks that
-- every byte comes back intact; the counters must show that each of its
-- 4 KiB writes, and the server's echo of it, took the fast path. A pair
-- outside the cgroup must not be touched. Afterwards no program, attachment,
-- cgroup or mount of ours may be left.
local t = require "harness"
local c = require "ebpf_common"
local cc = require "collector_common"
local json = require "ebpf.json"
c.require_root()

math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)

-- Its output without the trailing newline.
local function sh(cmd) return (c.sh(cmd):gsub("%s+$", "")) end

local function read_file(path)
  local f = io.open(path)
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end

local function our_programs()
  return tonumber(sh("bpftool prog show | grep -cE 'name redir_'"))
end

-- A private cgroup2 mount with one cgroup in it, for the test's processes.
local mount_dir = sh("mktemp -d /tmp/sockredirect-test-XXXXXX")
assert(os.execute("mount -t cgroup2 none " .. mount_dir) == 0, "cannot mount cgroup2")
local cgroup = mount_dir .. "/test"
assert(os.execute("mkdir " .. cgroup) == 0)
local programs_before = our_programs()

-- Starts sockredirect in the background; returns a handle once it has
-- attached (it says so on stderr).
local function start(args)
  local h = { out = os.tmpname(), err = os.tmpname(), pidfile = os.tmpname() }
  os.execute(("sh -c 'echo $$ >%s; exec %s %s/scripts/sockredirect.lua --json --interval 0.5 %s >%s 2>%s' &"):format(
    h.pidfile, cc.ebpfrun, cc.source, args, h.out, h.err))
  for _ = 1, 600 do
    local err = read_file(h.err)
    if err:find("redirecting") or err:find("error") or err:find("disabled") then break end
    os.execute("sleep 0.05")
  end
  h.pid = tonumber(read_file(h.pidfile))
  return h
end

-- Stops it with SIGINT (as Ctrl-C would) and returns its final rows.
local function stop(h)
  os.execute(("kill -INT %d"):format(h.pid))
  for _ = 1, 200 do
    if not io.open("/proc/" .. h.pid .. "/stat") then break end
    os.execute("sleep 0.05")
  end
  local rows = {}
  for line in read_file(h.out):gmatch("[^\n]+") do
    local ok, v = pcall(json.decode, line)
    if ok and type(v) == "table" and v.final then rows[#rows + 1] = v end
  end
  local err = read_file(h.err)
  os.remove(h.out); os.remove(h.err); os.remove(h.pidfile)
  return rows, err
end

-- Runs the echo pair, in the cgroup or not; returns the client's exit code.
local function echo_pair(port, bytes, in_cgroup)
  local enter = in_cgroup and ("echo $$ >%s/cgroup.procs && "):format(cgroup) or ""
  os.execute(("sh -c '%sexec %s listen %d 1' >/dev/null &"):format(enter, cc.workload, port))
  return os.execute(("sh -c '%sexec %s send %d %d' >/dev/null"):format(enter, cc.workload, port, bytes))
end

local function row(rows, field, value)
  for _, r in ipairs(rows) do if r[field] == value then return r end end
end

t.test("local TCP in the cgroup takes the fast path, data intact", function()
  local h = start("--cgroup-path " .. cgroup)
  local inside, outside = 42000 + math.random(0, 999), 43000 + math.random(0, 999)
  local bytes = 300000
  local rc_in = echo_pair(inside, bytes, true)
  local rc_out = echo_pair(outside, 50000, false)
  local rows, err = stop(h)
  t.eq(rc_in, 0, "the client saw different data, or failed: " .. err)
  t.eq(rc_out, 0)
  local client = row(rows, "remote_port", inside)
  local server = row(rows, "local_port", inside)
  t.ok(client and server, "no counters for the connection: " .. err)
  -- 300000 bytes in 4 KiB writes: 73 full ones and one of 992 bytes. The
  -- client's connect() returns when the SYN-ACK arrives; the server's end is
  -- established (and enters the sockhash) when the client's ACK has gone
  -- through loopback, which a slow machine (the kernel matrix's TCG guests)
  -- may leave queued. So the first write, and only it, may go the normal way.
  t.eq(client.redirected_msgs + client.passed_msgs, 74, err)
  t.eq(client.redirected_bytes + client.passed_bytes, bytes)
  t.ok(client.passed_msgs == 0 or (client.passed_msgs == 1 and client.passed_bytes == 4096),
    ("only the first write may go the normal way: %d messages, %d bytes did"):format(client.passed_msgs,
      client.passed_bytes))
  t.eq(server.redirected_bytes, bytes)
  t.eq(server.passed_bytes, 0)
  t.eq(client.comm, "workload")
  t.eq(client.state, "closed")
  t.eq(server.state, "closed")
  t.eq(client["local"], "127.0.0.1:" .. server.remote_port)
  -- The pair outside the cgroup was never in the sockhash.
  t.eq(row(rows, "remote_port", outside), nil)
  t.eq(row(rows, "local_port", outside), nil)
end)

-- Runs the echo pair under a filter no sender passes; its messages must all
-- go the normal way.
local function filtered_out(filter)
  local h = start("--cgroup-path " .. cgroup .. " " .. filter)
  local port = 44000 + math.random(0, 999)
  local rc = echo_pair(port, 40960, true)
  local rows, err = stop(h)
  t.eq(rc, 0, err)
  local client = row(rows, "remote_port", port)
  t.ok(client, "no counters for the connection: " .. err)
  t.eq(client.redirected_msgs, 0)
  t.eq(client.passed_msgs, 10)
  t.eq(client.passed_bytes, 40960)
  t.eq(client.comm, "workload")
end

t.test("senders that do not pass the filter go the normal way", function()
  filtered_out("--uid 4242")
end)

-- Whether this kernel lets sk_msg programs read the comm (6.18 does; 6.1
-- and 6.12 do not), asked of the verifier directly.
local function sk_msg_may_read_comm()
  local ebpf = require "ebpf"
  local obj, err = ebpf.compile { text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
SEC("sk_msg")
int comm_probe(struct sk_msg_md *msg)
{
    char comm[16];
    bpf_get_current_comm(comm, sizeof(comm));
    return SK_PASS;
}
char LICENSE[] SEC("license") = "GPL";
]] }
  if obj then obj:close(); return true end
  assert(err.kind == "verifier" and tostring(err):find("bpf_get_current_comm", 1, true), tostring(err))
  return false
end

t.test("--comm filters where sk_msg programs may read the comm, else it is refused clearly", function()
  if sk_msg_may_read_comm() then
    filtered_out("--comm nobody-else")
    return
  end
  local err = os.tmpname()
  local code = os.execute(("%s %s/scripts/sockredirect.lua --cgroup-path %s --comm nobody-else --duration 1 2>%s"):format(
    cc.ebpfrun, cc.source, cgroup, err))
  local text = read_file(err)
  os.remove(err)
  t.ok(code ~= 0, text)
  t.ok(text:find("--comm cannot be used on this kernel", 1, true), text)
  t.ok(text:find("--uid", 1, true), text)
  t.eq(our_programs(), programs_before)
end)

t.test("without --cgroup-path or --all it refuses to run", function()
  local err = os.tmpname()
  local code = os.execute(("%s %s/scripts/sockredirect.lua --duration 1 2>%s"):format(cc.ebpfrun, cc.source, err))
  local text = read_file(err)
  os.remove(err)
  t.ok(code ~= 0)
  t.ok(text:find("%-%-cgroup%-path") and text:find("%-%-all"), text)
end)

t.test("nothing is left: programs, attachments, cgroup, mount", function()
  t.eq(our_programs(), programs_before)
  t.eq(sh("bpftool cgroup show " .. cgroup), "")
  t.eq(os.execute("rmdir " .. cgroup), 0)
  t.eq(os.execute("umount " .. mount_dir), 0)
  t.eq(os.execute("rmdir " .. mount_dir), 0)
  t.eq(sh("grep -c " .. mount_dir .. " /proc/self/mounts"), "0")
end)

t.done()
