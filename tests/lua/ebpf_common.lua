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

-- The standard output of a shell command.
function M.sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close()
  return out
end

-- True when a BPF program with this name is loaded in the kernel.
function M.kernel_has_program(name)
  return M.sh("bpftool prog show 2>/dev/null"):find("name " .. name:sub(1, 15) .. "%s") ~= nil
end

-- Writes `text` to a file called `name` in a directory named for the
-- content, and returns its path. A source's path is part of the object
-- cache's key of what it compiles (line info names it), so the same text
-- compiles once, and the kernel matrix's guests find the objects the host's
-- run left in the test cache. Readable by all (wrappers may run ebpfrun as
-- another user).
function M.content_file(text, name)
  local tmp = os.tmpname()
  os.remove(tmp)
  local f = assert(io.open(tmp, "w"))
  f:write(text)
  f:close()
  local digest = assert(M.sh("md5sum " .. tmp):match("^(%x+)"), "md5sum failed")
  local dir = "/tmp/ebpfrun-content-" .. digest
  os.execute("mkdir -p " .. dir)
  local path = dir .. "/" .. name
  assert(os.rename(tmp, path))
  return path
end

-- A script text's content_file.
function M.script_file(text) return M.content_file(text, "script.lua") end

-- Removes a file content_file wrote, and its directory.
function M.remove_content_file(path)
  os.remove(path)
  os.remove((path:gsub("/[^/]*$", "")))
end

-- Runs ebpfrun on a script text; returns exit code, stdout, stderr, and the
-- script's path (gone by then). `wrapper` (optional) is a command ebpfrun
-- runs under, e.g. "setpriv ...".
function M.run_script(text, args, wrapper)
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p " .. dir)
  local path = M.script_file(text)
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
  M.remove_content_file(path)
  return rc, out, err, path
end

return M
