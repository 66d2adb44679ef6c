-- fileio: bytes, calls, errors and time of reads and writes per process, and
-- with --per-file per file (path) as well.
--   ebpfrun scripts/fileio.lua [--per-file] [--pid N] [--comm X] [--interval S] [--duration S] [--json] [--top N]
-- Counted: read, pread64, readv, preadv, preadv2 (op "read") and write,
-- pwrite64, writev, pwritev, pwritev2 (op "write") on any fd: files, pipes,
-- sockets and terminals alike. The filters select the calling task, which is
-- the task the I/O belongs to. Memory-mapped I/O, sendfile, splice and
-- io_uring do not go through these calls and are not counted.
--
-- File paths are resolved in BPF from the fd at the time of the call (see
-- bpf/fileio.bpf.c for why not from /proc/PID/fd): a path is the one the
-- file was opened under, "pipe:[INODE]", "socket:[INODE]" or
-- "anon_inode:[eventfd]" as /proc/PID/fd shows them; paths deeper than 16
-- levels start with ".../".
local collector = require "ebpf.collector"
local format = require "ebpf.format"
local ffi = require "ffi"
local bit = require "bit"

local OPS = { [0] = "read", [1] = "write" }
local S_IFMT, S_IFIFO, S_IFSOCK = 0xF000, 0x1000, 0xC000

local labels = { "pid", "comm", "op", "file" }

local function seconds(v) return format.duration(v * 1e9) end

local function file_key(f)
  return ("%d:%s:%s"):format(f.dev, tostring(tonumber(f.ino)), ffi.string(f.name, 16))
end

-- The path of one struct file_path record, named as /proc/PID/fd/N would.
local function path_text(p, ino)
  local depth = math.min(tonumber(p.depth), 16)
  if p.pseudo ~= 0 then
    local name = depth > 0 and ffi.string(p.parts[0]) or ""
    local kind = bit.band(p.mode, S_IFMT)
    if kind == S_IFIFO then return ("pipe:[%d]"):format(ino) end
    if kind == S_IFSOCK then return ("socket:[%d]"):format(ino) end
    if name:sub(1, 1) == "[" then return "anon_inode:" .. name end
    return name
  end
  local parts = {}
  for i = depth - 1, 0, -1 do parts[#parts + 1] = ffi.string(p.parts[i]) end
  return (p.truncated ~= 0 and "..." or "") .. "/" .. table.concat(parts, "/")
end

local function row_of(pid, op, v)
  local ops, ns = tonumber(v.ops), tonumber(v.total_ns)
  return { pid = pid, comm = ffi.string(v.comm), op = OPS[op] or tostring(op), bytes = tonumber(v.bytes),
           ops = ops, errors = tonumber(v.errors), seconds = ns / 1e9, avg_ns = ops > 0 and ns / ops or 0 }
end

local def = {
  name = "fileio",
  description = "Reads and writes per process (and per file with --per-file): bytes, calls, errors and time.",
  source = collector.bpf_path("fileio.bpf.c"),
  options = {
    { "--per-file", type = "flag",
      help = "one row per process, operation and file (paths resolved in BPF from the fd)" },
  },
  defines = function(opts) return opts.per_file and { "PER_FILE=1" } or nil end,
  -- The file label is only present with --per-file; without it each series is
  -- a process's total, with it the totals are the sum over its files.
  -- Maps keyed by process (a pid or a struct with a pid field): the agent
  -- deletes an exited process's rows once it has read their final values.
  per_process = { "io_stats", "file_io_stats" },
  metrics = {
    { name = "ebpfrun_fileio_bytes_total", type = "counter", labels = labels, value = "bytes",
      help = "Bytes read or written by read/write-family system calls." },
    { name = "ebpfrun_fileio_ops_total", type = "counter", labels = labels, value = "ops",
      help = "Read/write-family system calls completed." },
    { name = "ebpfrun_fileio_errors_total", type = "counter", labels = labels, value = "errors",
      help = "Read/write-family system calls that returned an error." },
    { name = "ebpfrun_fileio_seconds_total", type = "counter", labels = labels, value = "seconds",
      help = "Time spent in read/write-family system calls." },
  },
  key = { "pid", "op", "file" },
  sort = "bytes",
  columns = {
    { "PID", key = "pid", align = "right" }, { "COMM", key = "comm", width = 15 }, { "OP", key = "op" },
    { "BYTES", key = "bytes", format = "bytes" }, { "OPS", key = "ops", align = "right" },
    { "ERRORS", key = "errors", align = "right" }, { "TIME", key = "seconds", format = seconds, align = "right" },
    { "AVG", key = "avg_ns", format = "duration", align = "right" }, { "FILE", key = "file" },
  },
  -- Without --per-file there is no FILE column: this run gets its own view of
  -- the definition with the column left out.
  start = function(state)
    if state.opts.per_file then return end
    local columns = {}
    for _, col in ipairs(state.def.columns) do
      if col.key ~= "file" then columns[#columns + 1] = col end
    end
    state.def = setmetatable({ columns = columns }, { __index = state.def })
  end,
  collect = function(state)
    local rows = {}
    if not state.opts.per_file then
      for key, v in state.obj:map("io_stats"):pairs() do rows[#rows + 1] = row_of(key.pid, key.op, v) end
      return rows
    end
    local paths = {}
    for f, p in state.obj:map("file_paths"):pairs() do paths[file_key(f)] = path_text(p, tonumber(f.ino)) end
    for key, v in state.obj:map("file_io_stats"):pairs() do
      local row = row_of(key.pid, key.op, v)
      -- A path evicted from the (LRU) path map is shown by device and inode.
      row.file = paths[file_key(key.file)]
        or ("inode %d:%d"):format(key.file.dev, tonumber(key.file.ino))
      rows[#rows + 1] = row
    end
    return rows
  end,
}

if not EBPFRUN_COLLECTOR_LIBRARY then collector.main(def, arg) end
return def
