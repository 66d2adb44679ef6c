-- execsnoop: every exec on the system (or of the traced processes) with its
-- full argv and its outcome, failed execs included, like BCC's execsnoop.
--   ebpfrun scripts/execsnoop.lua [--fails] [--pid N] [--comm X] [--uid N] [--json] [--duration S]
--   ebpfrun -c 'make -j2' scripts/execsnoop.lua
--
-- Text: one line per exec,
--   TIME      UID  PCOMM             PID     PPID  RET     ARGS
--   12:00:01    0  echo             4242     4241  0       /bin/echo hello 'two words' x
--   12:00:01    0  sh               4241     4240  ENOENT  /nonexistent/cmd
-- ARGS is argv quoted as a shell would need it; "..." at its end means argv
-- was cut: a successful exec's argv is read from the new process (its first
-- 2560 bytes), a failed one's from the caller (20 arguments of up to 127
-- bytes; empty when the caller's pages were not mapped in, which a BPF
-- tracepoint program cannot fix).
-- JSON (--json): one object per exec with time (ISO 8601), pid, tid, ppid,
-- uid, comm, ret (0 or -errno), error (the errno name or null), filename (the
-- path given to exec), argv (a list of strings), truncated (bool), at
-- (true for execveat).
--
-- The filters match the process as it is after the exec: --comm X shows the
-- execs that started X (and X's own failed execs, which keep its name).
local args = require "ebpf.args"
local format = require "ebpf.format"
local json = require "ebpf.json"
local tool = require "ebpf.tool"
local ffi = require "ffi"
local bit = require "bit"

-- Flag bits of struct exec_event (bpf/execsnoop.bpf.c).
local ARGS_TRUNCATED, ARG_CUT, EXEC_AT = 1, 2, 4

local M = {}

-- Splits the packed argv (NUL-terminated strings back to back). A last
-- string without its NUL was cut by the size limit; it is kept as it is.
function M.split_args(ptr, size)
  local argv, pos = {}, 0
  local bytes = ffi.string(ptr, size)
  while pos < #bytes do
    local nul = bytes:find("\0", pos + 1, true) or #bytes + 1
    argv[#argv + 1] = bytes:sub(pos + 1, nul - 1)
    pos = nul
  end
  return argv
end

-- One argument as a POSIX shell would need it typed: bare when it holds only
-- safe characters, otherwise in single quotes.
function M.shell_quote(s)
  if s ~= "" and not s:find("[^%w%-%./_=:,+@%%]") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- The event as a Lua table (the JSON form).
function M.decode(e)
  local flags = e.flags
  local ret = e.ret
  local argv = M.split_args(e.args, math.min(e.args_size, ffi.sizeof(e.args)))
  return {
    time = format.timestamp(format.now(), "iso"),
    pid = e.pid, tid = e.tid, ppid = e.ppid, uid = e.uid,
    comm = ffi.string(e.comm),
    ret = ret,
    error = ret < 0 and (format.errno_name(ret) or tostring(-ret)) or json.null,
    filename = ffi.string(e.filename),
    argv = json.array(argv),
    truncated = bit.band(flags, ARGS_TRUNCATED + ARG_CUT) ~= 0,
    at = bit.band(flags, EXEC_AT) ~= 0,
  }
end

local function args_text(row)
  local parts = {}
  for i, a in ipairs(row.argv) do parts[i] = M.shell_quote(a) end
  -- A failed exec may have no argv at all; the path tells what was tried.
  if #parts == 0 then parts[1] = M.shell_quote(row.filename) end
  local text = table.concat(parts, " ")
  if row.truncated then text = text .. " ..." end
  return text
end

-- One program for the exits of execve() and execveat() (bpf/execsnoop.bpf.c).
M.ALSO_ATTACH = { execsnoop_exit = { "tracepoint/syscalls/sys_exit_execveat" } }

M.columns = {
  { "TIME", key = "clock", width = 8 },
  { "UID", key = "uid", align = "right", width = 5 },
  { "PCOMM", key = "comm", width = 16 },
  { "PID", key = "pid", align = "right", width = 7 },
  { "PPID", key = "ppid", align = "right", width = 7 },
  { "RET", key = "ret", width = 7, format = function(v, row) return v == 0 and "0" or row.error end },
  { "ARGS", key = "argv", format = function(_, row) return args_text(row) end },
}

function M.main(argv)
  local opts = args.parse(argv, {
    name = "execsnoop",
    description = "Trace exec() calls: every new program with its pid, parent, user, return code and full argv.",
    options = { { "-x", "--fails", type = "flag", help = "show only failed execs" } },
    standard = { "pid", "tid", "comm", "uid", "cgroup", "json", "interval", "duration" },
    epilog = "Examples:\n  ebpfrun scripts/execsnoop.lua --fails\n  ebpfrun -c 'make' scripts/execsnoop.lua --json",
  })
  return tool.stream {
    name = "execsnoop", source = "execsnoop.bpf.c", filter = opts.filter, type = "struct exec_event",
    also_attach = M.ALSO_ATTACH,
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
