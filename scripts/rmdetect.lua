-- rmdetect: who deletes which files and directories. Every unlink(),
-- unlinkat() and rmdir() with the process, the path as it was passed, the
-- absolute path it resolves to, and the outcome.
--   ebpfrun scripts/rmdetect.lua [--pid N] [--comm X] [--uid N] [--json] [--duration S]
--   ebpfrun -c 'make clean' scripts/rmdetect.lua
--
-- Text: one line per call,
--   TIME        PID  COMM              CALL      RET     PATH                  RESOLVED
--   12:00:01   4242  workload          unlink    0       victim                /tmp/xyz/victim
--   12:00:01   4243  rm                unlinkat  ENOENT  gone                  /tmp/xyz/gone
-- JSON (--json): time (ISO 8601), pid, tid, uid, comm, call ("unlink",
-- "unlinkat" or "rmdir"), dir (true when a directory was removed: rmdir or
-- unlinkat with AT_REMOVEDIR), dirfd (unlinkat's, else null), path (as
-- passed), resolved (absolute, or null when it could not be resolved), ret (0
-- or -errno), error (errno name or null).
--
-- How a relative path is resolved: the BPF side reads the caller's working
-- directory (or the directory open as unlinkat's dirfd) from the kernel's
-- dentries at the time of the call, so it is the real directory, free of
-- symbolic links; the path is appended and "." and ".." are folded
-- lexically. The result is relative to the caller's root (a chrooted process
-- sees its own "/"). Directories nested more than 40 levels deep, or names
-- beyond 4 KiB, leave it unresolved.
local args = require "ebpf.args"
local format = require "ebpf.format"
local json = require "ebpf.json"
local tool = require "ebpf.tool"
local ffi = require "ffi"
local bit = require "bit"

-- Constants of bpf/rmdetect.bpf.c.
local CALLS = { [0] = "unlink", [1] = "unlinkat", [2] = "rmdir" }
local RM_DIR_RESOLVED = 1
local AT_FDCWD, AT_REMOVEDIR = -100, 0x200

local M = {}

-- Folds "." and ".." of an absolute path ("/.." stays "/").
function M.normalize(path)
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." then
      parts[#parts] = nil
    elseif part ~= "." then
      parts[#parts + 1] = part
    end
  end
  return "/" .. table.concat(parts, "/")
end

-- The directory recorded by the BPF side: names innermost first.
function M.directory(ptr, size)
  local names = {}
  local bytes = ffi.string(ptr, size)
  for name in bytes:gmatch("([^%z]*)%z") do table.insert(names, 1, name) end
  return "/" .. table.concat(names, "/")
end

function M.decode(e)
  local path = ffi.string(e.path)
  local resolved = json.null
  if path:sub(1, 1) == "/" then
    resolved = M.normalize(path)
  elseif bit.band(e.dir_flags, RM_DIR_RESOLVED) ~= 0 then
    local dir = M.directory(e.dir, math.min(e.dir_size, ffi.sizeof(e.dir)))
    resolved = M.normalize(dir .. "/" .. path)
  end
  local ret = e.ret
  return {
    time = format.timestamp(format.now(), "iso"),
    pid = e.pid, tid = e.tid, uid = e.uid,
    comm = ffi.string(e.comm),
    call = CALLS[e.call] or tostring(e.call),
    dir = bit.band(e.flags, AT_REMOVEDIR) ~= 0,
    dirfd = (e.call == 1 and e.dirfd ~= AT_FDCWD) and e.dirfd or json.null,
    path = path,
    resolved = resolved,
    ret = ret,
    error = ret < 0 and (format.errno_name(ret) or tostring(-ret)) or json.null,
  }
end

M.columns = {
  { "TIME", key = "clock", width = 8 },
  { "PID", key = "pid", align = "right", width = 7 },
  { "COMM", key = "comm", width = 16 },
  { "CALL", key = "call", width = 8 },
  { "RET", key = "ret", width = 7, format = function(v, row) return v == 0 and "0" or row.error end },
  { "PATH", key = "path", width = 20 },
  { "RESOLVED", key = "resolved", format = function(v) return v == json.null and "?" or v end },
}

function M.main(argv)
  local opts = args.parse(argv, {
    name = "rmdetect",
    description = "Trace file and directory deletions (unlink, unlinkat, rmdir): who, which path as "
      .. "passed and resolved, and whether it worked.",
    options = { { "-x", "--fails", type = "flag", help = "show only deletions that failed" } },
    standard = { "pid", "tid", "comm", "uid", "cgroup", "json", "interval", "duration" },
    epilog = "Examples:\n  ebpfrun scripts/rmdetect.lua --comm rm\n  ebpfrun -c 'make clean' scripts/rmdetect.lua --json",
  })
  return tool.stream {
    name = "rmdetect", source = "rmdetect.bpf.c", filter = opts.filter, type = "struct rm_event",
    columns = M.columns, json = opts.json, duration = opts.duration, interval = opts.interval, drop_note = true,
    on_event = function(e, out)
      if opts.fails and e.ret == 0 then return end
      local row = M.decode(e)
      if out.json then return out:event(row) end
      row.clock = format.timestamp(nil, "time")
      out:row(row)
    end,
  }
end

if not EBPFRUN_COLLECTOR_LIBRARY then os.exit(M.main(arg)) end
return M
