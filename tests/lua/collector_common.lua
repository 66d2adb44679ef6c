-- Helpers for the collectors' ground-truth tests (tests/lua/collector_*.lua):
-- run a shipped script under ebpfrun with -c WORKLOAD and --json, and read
-- back its final rows.
local json = require "ebpf.json"
local M = {}

M.source = assert(os.getenv("EBPFRUN_SOURCE_DIR"), "EBPFRUN_SOURCE_DIR is not set")
M.workload = assert(os.getenv("EBPFRUN_WORKLOAD"), "EBPFRUN_WORKLOAD is not set")
M.ebpfrun = assert(os.getenv("EBPFRUN_BIN"), "EBPFRUN_BIN is not set")

-- Runs a shell command line whose stderr goes to a file; returns the decoded
-- JSON lines of its stdout, its stderr and its exit code.
function M.capture(command_line)
  local err_file = os.tmpname()
  local p = io.popen(("%s 2>%s; echo \"exit=$?\""):format(command_line, err_file))
  local lines, code = {}, nil
  for line in p:lines() do
    local exit = line:match("^exit=(%d+)$")
    if exit then
      code = tonumber(exit)
    else
      local ok, value = pcall(json.decode, line)
      if ok and type(value) == "table" then lines[#lines + 1] = value end
    end
  end
  p:close()
  local f = io.open(err_file)
  local err = f and f:read("*a") or ""
  if f then f:close() end
  os.remove(err_file)
  return lines, err, code
end

-- Runs `ebpfrun [global] -c COMMAND scripts/SCRIPT --json [args]`; returns
-- the decoded JSON lines, stderr and the exit code.
function M.run(script, command, args, global)
  local path = script:find("/", 1, true) and script or (M.source .. "/scripts/" .. script)
  return M.capture(("%s %s -c %q %s --json %s"):format(M.ebpfrun, global or "", command, path, args or ""))
end

-- The final (cumulative) rows of one collector matching all fields of `where`
-- (its map figures, the {"collector":..,"maps":[..]} row, left out).
function M.final_rows(lines, collector, where)
  local out = {}
  for _, row in ipairs(lines) do
    if row.final and row.collector == collector and not row.maps then
      local match = true
      for k, v in pairs(where or {}) do if row[k] ~= v then match = false end end
      if match then out[#out + 1] = row end
    end
  end
  return out
end

-- Runs `ebpfrun scripts/SCRIPT --json --pid PID --duration 1` and returns
-- its final rows for which keep(row) is true (default: all).
function M.final_rows_for_pid(script, pid, keep)
  local p = io.popen(("%s %s/scripts/%s --json --pid %d --duration 1 2>/dev/null"):format(M.ebpfrun, M.source,
    script, pid))
  local rows = {}
  for line in p:lines() do
    local ok, row = pcall(json.decode, line)
    if ok and type(row) == "table" and row.final and not row.maps and (not keep or keep(row)) then
      rows[#rows + 1] = row
    end
  end
  p:close()
  return rows
end

-- A value for a test message.
function M.describe(value)
  if type(value) ~= "table" then return tostring(value) end
  return json.encode(value)
end

-- The --help text of scripts/SCRIPT.
function M.help(script)
  local p = io.popen(M.ebpfrun .. " " .. M.source .. "/scripts/" .. script .. " --help")
  local text = p:read("*a")
  p:close()
  return text
end

return M
