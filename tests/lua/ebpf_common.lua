-- Shared helpers for the ebpf_*.lua tests, which run under `ebpfrun` on the
-- real kernel: privilege gating, raw syscalls, and kernel leak checks.
local ffi = require "ffi"
local M = {}

ffi.cdef [[
long syscall(long number, ...);
int getpid(void);
unsigned int geteuid(void);
]]

M.SYS_getppid, M.SYS_getpgid = 110, 121

function M.pid() return ffi.C.getpid() end
function M.getpgid(n) return ffi.C.syscall(M.SYS_getpgid, ffi.cast("long", n)) end
function M.getppid() return ffi.C.syscall(M.SYS_getppid) end

-- Privileged tests need root; under CI=true missing root is a failure.
function M.require_root()
  if ffi.C.geteuid() == 0 then return true end
  if os.getenv("CI") == "true" then error("these tests need root and CI=true forbids skipping them") end
  print("skipped: these tests need root (CAP_BPF, CAP_PERFMON)")
  print("0 passed, 0 failed")
  os.exit(0)
end

-- True when a BPF program with this name is loaded in the kernel.
-- The standard output of a shell command.
function M.sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close()
  return out
end

function M.kernel_has_program(name)
  return M.sh("bpftool prog show 2>/dev/null"):find("name " .. name:sub(1, 15) .. "%s") ~= nil
end

-- Runs ebpfrun on a script text; returns exit code, stdout, stderr. `wrapper`
-- (optional) is a command ebpfrun runs under, e.g. "setpriv ...".
function M.run_script(text, args, wrapper)
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p " .. dir)
  local path = dir .. "/script.lua"
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  local cmd = ("%s %s %s %s >%s/out 2>%s/err; echo $? >%s/rc"):format(wrapper or "", os.getenv("EBPFRUN_BIN") or "ebpfrun",
    path, args or "", dir, dir, dir)
  os.execute(cmd)
  local function slurp(name)
    local h = io.open(dir .. "/" .. name)
    local s = h and h:read("*a") or ""
    if h then h:close() end
    return s
  end
  local rc, out, err = tonumber(slurp("rc")), slurp("out"), slurp("err")
  os.execute("rm -rf " .. dir)
  return rc, out, err, path
end

return M
