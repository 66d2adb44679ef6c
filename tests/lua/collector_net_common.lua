-- Helpers for the networking ground-truth tests (collector_network.lua,
-- collector_tcpstate.lua, collector_tcptools.lua): free ports, listeners
-- started outside the traced command, pid files.
local ffi = require "ffi"
local cc = require "collector_common"
local M = {}

ffi.cdef [[
struct net_test_sockaddr_in { uint16_t family; uint16_t port; uint32_t addr; uint8_t zero[8]; };
int net_test_socket(int domain, int type, int protocol) asm("socket");
int net_test_bind(int fd, const void *addr, unsigned int len) asm("bind");
int net_test_getsockname(int fd, void *addr, unsigned int *len) asm("getsockname");
int net_test_close(int fd) asm("close");
int net_test_usleep(unsigned int usec) asm("usleep");
]]

-- A port that is free on 127.0.0.1 for TCP and UDP right now: the kernel
-- picks one for a TCP socket, and it is checked for UDP too.
function M.free_port()
  for _ = 1, 20 do
    local fd = ffi.C.net_test_socket(2, 1, 0)
    local addr = ffi.new("struct net_test_sockaddr_in", { family = 2, addr = 0x0100007f })
    local len = ffi.new("unsigned int[1]", ffi.sizeof(addr))
    assert(ffi.C.net_test_bind(fd, addr, len[0]) == 0, "bind failed")
    ffi.C.net_test_getsockname(fd, addr, len)
    ffi.C.net_test_close(fd)
    local udp = ffi.C.net_test_socket(2, 2, 0)
    local ok = ffi.C.net_test_bind(udp, addr, len[0]) == 0
    ffi.C.net_test_close(udp)
    if ok then return bit.bor(bit.rshift(addr.port, 8), bit.lshift(bit.band(addr.port, 0xff), 8)) end
  end
  error("no free port found")
end

function M.sleep(seconds) ffi.C.net_test_usleep(math.floor(seconds * 1e6)) end

-- True when something listens on TCP `port` (IPv4 or IPv6), per /proc/net.
local function listening(port)
  local pattern = (":%04X "):format(port)
  for _, file in ipairs { "/proc/net/tcp", "/proc/net/tcp6" } do
    local f = io.open(file)
    if f then
      for line in f:lines() do
        -- Fields: sl local_address rem_address st ...; 0A is LISTEN.
        local lo, st = line:match("^%s*%d+: (%x+:%x+) %x+:%x+ (%x%x)")
        if lo and st == "0A" and (lo .. " "):find(pattern, 1, true) then f:close(); return true end
      end
      f:close()
    end
  end
  return false
end

-- Starts `workload MODE PORT K` (listen or listen6) outside any traced
-- command and waits until it listens. Returns its pid and a function that
-- waits for it to exit.
function M.start_listener(mode, port, k)
  local p = assert(io.popen(("%s %s %d %d"):format(cc.workload, mode, port, k)))
  local pid = tonumber(p:read("*l"))
  for _ = 1, 500 do
    if listening(port) then break end
    M.sleep(0.01)
  end
  assert(listening(port), "the listener did not start on port " .. port)
  return pid, function() p:read("*a"); p:close() end
end

-- A fresh temporary file name for a pid file; read_pid reads its first line.
function M.pid_file() return os.tmpname() end

function M.read_pid(file)
  local f = io.open(file)
  local pid = f and tonumber(f:read("*l"))
  if f then f:close() end
  os.remove(file)
  return pid
end

-- Runs ebpfrun on a script without -c (for --pid filters): returns the JSON
-- objects it printed and its stderr.
function M.run_plain(script, args)
  local err_file = os.tmpname()
  local p = io.popen(("%s %s/scripts/%s --json %s 2>%s"):format(cc.ebpfrun, cc.source, script, args, err_file))
  local json = require "ebpf.json"
  local lines = {}
  for line in p:lines() do
    local ok, value = pcall(json.decode, line)
    if ok and type(value) == "table" then lines[#lines + 1] = value end
  end
  p:close()
  local f = io.open(err_file)
  local err = f and f:read("*a") or ""
  if f then f:close() end
  os.remove(err_file)
  return lines, err
end

-- Events (JSON objects without a collector field) matching all of `where`.
function M.events(lines, where)
  local out = {}
  for _, e in ipairs(lines) do
    local match = e.collector == nil
    for k, v in pairs(where or {}) do if e[k] ~= v then match = false end end
    if match then out[#out + 1] = e end
  end
  return out
end

return M
