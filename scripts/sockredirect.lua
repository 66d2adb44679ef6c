-- sockredirect: local TCP connections skip the TCP/IP stack. The data one
-- end sends goes straight into the other end's receive queue (sockops +
-- sk_msg programs and a sockhash, see bpf/sockredirect.bpf.c), for the
-- processes of one cgroup v2. A status view shows each connection end with
-- what it sent by the fast path and what went the normal way. Everything is
-- detached when the script ends (Ctrl-C, --duration); connections then go on
-- over the normal path.
--   ebpfrun scripts/sockredirect.lua --cgroup-path /sys/fs/cgroup/unified/app [--interval S] [--json]
--   ebpfrun scripts/sockredirect.lua --all
--
-- Which connections: established TCP connections (IPv4 and IPv6) whose two
-- ends are on this host (a loopback address, or the same address at both
-- ends) and whose sockets belong to processes of the cgroup (a socket
-- belongs to the cgroup of the process that created it; an accepted one to
-- its listener's). Both ends must be in the cgroup for data to be
-- redirected. The filters (--pid, --comm, -c ...) narrow which senders'
-- messages are redirected.
--
-- Where: --cgroup-path DIR names a cgroup v2 directory; --all takes the root
-- of the cgroup v2 hierarchy, so every local connection on the machine. One
-- of them is required: redirecting is a change to how the machine's traffic
-- flows, so it is never done by default. When cgroup v2 is mounted nowhere
-- (/sys/fs/cgroup may be cgroup v1), --all mounts it privately just long
-- enough to attach and unmounts it at once (the attachment holds the cgroup).
--
-- Text: every --interval, the connection ends that sent something since the
-- last one (counts for the interval), and the totals at the end:
--   LOCAL                  REMOTE                     PID  COMM       STATE   REDIR MSGS  REDIR BYTES  PASSED MSGS  PASSED BYTES
--   127.0.0.1:51234        127.0.0.1:8080            4242  client     open            74   292.9 KiB            0           0 B
-- JSON (--json): one object per connection end and interval, cumulative:
-- local, remote, local_port, remote_port, pid, comm, state ("open" or
-- "closed"), redirected_msgs, redirected_bytes, passed_msgs, passed_bytes,
-- collector = "sockredirect", and final = true on the rows printed at exit.
local ebpf = require "ebpf"
local collector = require "ebpf.collector"
local ffi = require "ffi"

ffi.cdef [[
int ebpfrun_sockredirect_mount(const char *source, const char *target, const char *type, unsigned long flags,
                               const void *data) asm("mount");
int ebpfrun_sockredirect_umount2(const char *target, int flags) asm("umount2");
char *ebpfrun_sockredirect_mkdtemp(char *template) asm("mkdtemp");
int ebpfrun_sockredirect_rmdir(const char *path) asm("rmdir");
]]
pcall(ffi.cdef, "char *strerror(int errnum);")
local MNT_DETACH = 2

local M = {}

-- An existing cgroup v2 mount point, or nil.
function M.cgroup2_mount()
  local f = io.open("/proc/self/mounts")
  if not f then return nil end
  for line in f:lines() do
    local dir, fstype = line:match("^%S+ (%S+) (%S+)")
    if fstype == "cgroup2" then
      f:close()
      return (dir:gsub("\\040", " "))
    end
  end
  f:close()
end

-- Calls attach(path) with the root of the cgroup v2 hierarchy, mounting it
-- privately for the duration of the call when it is mounted nowhere.
local function with_cgroup2_root(attach)
  local root = M.cgroup2_mount()
  if root then return attach(root) end
  local template = ffi.new("char[?]", 40, "/tmp/ebpfrun-sockredirect-XXXXXX")
  if ffi.C.ebpfrun_sockredirect_mkdtemp(template) == nil then
    return nil, "cannot create a directory to mount cgroup v2 on: " .. ffi.string(ffi.C.strerror(ffi.errno()))
  end
  local dir = ffi.string(template)
  if ffi.C.ebpfrun_sockredirect_mount("none", dir, "cgroup2", 0, nil) ~= 0 then
    local err = ffi.string(ffi.C.strerror(ffi.errno()))
    ffi.C.ebpfrun_sockredirect_rmdir(dir)
    return nil, "cgroup v2 is not mounted and mounting it failed: " .. err .. " (run as root, or give --cgroup-path)"
  end
  local ok, err = attach(dir)
  ffi.C.ebpfrun_sockredirect_umount2(dir, MNT_DETACH)
  ffi.C.ebpfrun_sockredirect_rmdir(dir)
  return ok, err
end

local function ip_text(words, family)
  local b = ffi.cast("const uint8_t *", words)
  if family == 2 then return ("%d.%d.%d.%d"):format(b[0], b[1], b[2], b[3]) end
  local groups = {}
  for i = 0, 7 do groups[i + 1] = ("%x"):format(b[2 * i] * 256 + b[2 * i + 1]) end
  -- Enough for the status view; zero runs are shortened the simple way.
  local text = table.concat(groups, ":"):gsub("^0:0:0:0:0:0:0:", "::"):gsub("^0:0:0:0:0:ffff:", "::ffff:")
  return text
end

local function endpoint(words, port, family)
  local ip = ip_text(words, family)
  return (family == 10 and "[" .. ip .. "]" or ip) .. ":" .. port
end

-- The comm of a pid where the sk_msg program could not record it: /proc's
-- while the process runs, else the one redir_exit recorded as it exited.
local function sender_comm(state, pid)
  if pid == 0 then return "" end
  local f = io.open(("/proc/%d/comm"):format(pid))
  if f then
    local comm = f:read("*l") or ""
    f:close()
    return comm
  end
  local exited = state.obj:map("sender_comm"):lookup(pid)
  return exited and ffi.string(exited) or ""
end

local labels = { "local", "remote" }
local def = {
  name = "sockredirect",
  description = "Redirect local TCP connections of a cgroup v2 past the TCP/IP stack (sockops + sk_msg), "
    .. "and show what took the fast path.",
  source = "sockredirect.bpf.c",
  -- redir_msg where sk_msg programs may read the comm, else redir_msg_nocomm
  -- (see start); with --comm both read it, and the older kernels refuse both.
  optional = { "redir_msg", "redir_msg_nocomm" },
  options = {
    { "--cgroup-path", type = "string", metavar = "DIR",
      help = "cgroup v2 directory whose processes' local TCP connections are redirected" },
    { "--all", type = "flag",
      help = "redirect every local TCP connection on the machine (the cgroup v2 root)" },
  },
  metrics = {
    { name = "ebpfrun_sockredirect_redirected_messages_total", type = "counter", labels = labels,
      value = "redirected_msgs", help = "sendmsg() calls whose data went straight to the peer socket." },
    { name = "ebpfrun_sockredirect_redirected_bytes_total", type = "counter", labels = labels,
      value = "redirected_bytes", help = "Bytes that went straight to the peer socket." },
    { name = "ebpfrun_sockredirect_passed_messages_total", type = "counter", labels = labels,
      value = "passed_msgs", help = "sendmsg() calls on tracked sockets that went through the TCP/IP stack." },
    { name = "ebpfrun_sockredirect_passed_bytes_total", type = "counter", labels = labels,
      value = "passed_bytes", help = "Bytes on tracked sockets that went through the TCP/IP stack." },
  },
  key = { "local", "remote" },
  sort = "redirected_bytes",
  columns = {
    { "LOCAL", key = "local", width = 21 }, { "REMOTE", key = "remote", width = 21 },
    { "PID", key = "pid", align = "right", width = 7 }, { "COMM", key = "comm", width = 16 },
    { "STATE", key = "state", width = 6 },
    { "REDIR MSGS", key = "redirected_msgs", align = "right" },
    { "REDIR BYTES", key = "redirected_bytes", format = "bytes" },
    { "PASSED MSGS", key = "passed_msgs", align = "right" },
    { "PASSED BYTES", key = "passed_bytes", format = "bytes" },
  },
  -- The sk_msg program goes on the sockhash before sock_ops can put sockets
  -- in it: a socket takes the map's programs when it is added.
  start = function(state)
    local opts = state.opts
    if not opts.cgroup_path and not opts.all then
      return false, "give --cgroup-path DIR (a cgroup v2 directory) or --all (every local connection); "
        .. "sockredirect changes how traffic flows, so it never picks a cgroup by itself"
    end
    -- redir_msg is refused where sk_msg programs may not read the comm
    -- (6.1 and 6.12); redir_msg_nocomm then runs instead.
    local loaded = {}
    for _, prog in ipairs(state.obj:info().programs) do loaded[prog.name] = prog.loaded end
    if not loaded.redir_msg and not loaded.redir_msg_nocomm then
      if opts.filter and opts.filter.comm then
        return false, "--comm cannot be used on this kernel: its sk_msg programs may not read the sender's comm "
          .. "(bpf_get_current_comm; newer kernels allow it); narrow the senders with --pid, --uid or -c instead"
      end
      return false, "this kernel refused both sk_msg programs: " .. table.concat(state.obj:notes(), "; ")
    end
    state.comm_from_proc = not loaded.redir_msg
    local ok, err = state.obj:attach(state.comm_from_proc and "redir_msg_nocomm" or "redir_msg", "sk_msg/sock_hash")
    if not ok then return false, err end
    local where
    local function attach(path)
      where = path
      return state.obj:attach("redir_sockops", "cgroup/sock_ops:" .. path)
    end
    if opts.cgroup_path then ok, err = attach(opts.cgroup_path) else ok, err = with_cgroup2_root(attach) end
    if not ok then return false, err end
    io.stderr:write(("sockredirect: redirecting local TCP connections of cgroup %s\n"):format(
      opts.cgroup_path and where or "/ (all)"))
    io.stderr:flush()
  end,
  collect = function(state)
    local rows = {}
    for k, v in state.obj:map("conn_stats"):pairs() do
      rows[#rows + 1] = {
        ["local"] = endpoint(k.local_ip, k.local_port, k.family),
        remote = endpoint(k.remote_ip, k.remote_port, k.family),
        local_port = k.local_port, remote_port = k.remote_port,
        pid = v.pid, comm = state.comm_from_proc and sender_comm(state, v.pid) or ffi.string(v.comm), state = v.open == 1 and "open" or "closed",
        redirected_msgs = tonumber(v.redirected_msgs), redirected_bytes = tonumber(v.redirected_bytes),
        passed_msgs = tonumber(v.passed_msgs), passed_bytes = tonumber(v.passed_bytes),
      }
    end
    return rows
  end,
}
if not EBPFRUN_COLLECTOR_LIBRARY then collector.main(def, arg) end
return def
