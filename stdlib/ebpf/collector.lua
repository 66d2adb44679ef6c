-- Collectors: a Lua table describes one (its BPF source, options, metrics and
-- how to read its maps into rows); this module turns it into a CLI tool with
-- interval summary tables or JSON lines, and runs several together, each of
-- which can be switched off by name. A collector that cannot load (missing
-- tracepoint, verifier refusal) is disabled with a one-line reason while the
-- others keep running. The metric declarations are what an exporter serves.
--
-- A definition:
--   { name = "syscalls", description = "...", source = "syscalls.bpf.c",
--     options = { {"--top", type = "int", default = 10, help = "..."} },   -- extra flags
--     defines = function(opts) return { "PER_PATH=1" } end,                 -- optional -D
--     metrics = { { name = "ebpfrun_syscalls_total", type = "counter", help = "...",
--                   labels = { "pid", "comm", "syscall" }, value = "count" } },
--     key = { "pid", "syscall" },               -- fields that identify a row
--     columns = { {"PID", key = "pid"}, {"COUNT", key = "count"} },  -- text table (ebpf.output columns)
--     sort = "count",                           -- rows sorted by this field, descending
--     start = function(ctx) end,                -- optional: after attach (ctx.obj, ctx.opts)
--     collect = function(ctx) return rows end,  -- rows: { {pid = 1, comm = "x", count = 3}, ... }
--   }
-- Counter fields are shown per interval in text mode (the change since the
-- previous interval) and cumulatively in JSON and at the end.
local ebpf = require "ebpf"
local args = require "ebpf.args"
local output = require "ebpf.output"
local json = require "ebpf.json"

local M = {}

local STANDARD = { "pid", "tid", "comm", "uid", "cgroup", "json", "interval", "duration" }

-- Where the collectors' BPF sources are: $EBPFRUN_BPF_DIR, else bpf/ beside
-- the scripts/ directory of the Lua file that calls this (the source tree and
-- the installed share/ebpfrun layout alike). Call it while the definition is
-- built (`source = collector.bpf_path("x.bpf.c")`) so that a collector loaded
-- by another script (scripts/collectors.lua) still finds its own source.
function M.bpf_path(file)
  local dir = os.getenv("EBPFRUN_BPF_DIR")
  if dir and dir ~= "" then return dir .. "/" .. file end
  for level = 2, 10 do
    local info = debug.getinfo(level, "S")
    if not info then break end
    local src = info.source
    if src:sub(1, 1) == "@" and not src:find("^@stdlib/") then
      local script_dir = src:sub(2):match("^(.*)/[^/]*$") or "."
      return script_dir .. "/../bpf/" .. file
    end
  end
  return "bpf/" .. file
end

local function counter_fields(def)
  local fields = {}
  for _, m in ipairs(def.metrics or {}) do
    if m.type == "counter" and m.value then fields[m.value] = true end
  end
  return fields
end

local function row_key(def, row)
  local parts = {}
  for i, k in ipairs(def.key or {}) do parts[i] = tostring(row[k]) end
  return table.concat(parts, "\0")
end

-- Per-interval view: counters minus their value at the previous interval.
local function deltas(state, rows)
  local previous, out = state.previous or {}, {}
  local now = {}
  for _, row in ipairs(rows) do
    local key = row_key(state.def, row)
    now[key] = row
    local before = previous[key]
    local d = {}
    for k, v in pairs(row) do d[k] = v end
    local changed = not before
    for field in pairs(state.counters) do
      if before and type(row[field]) == "number" then
        d[field] = row[field] - (before[field] or 0)
        if d[field] ~= 0 then changed = true end
      elseif row[field] and row[field] ~= 0 then
        changed = true
      end
    end
    if changed then out[#out + 1] = d end
  end
  state.previous = now
  return out
end

local function sort_rows(def, rows)
  local field = def.sort
  if field then
    table.sort(rows, function(a, b) return (tonumber(a[field]) or 0) > (tonumber(b[field]) or 0) end)
  end
  return rows
end

-- Compiles, loads and attaches one collector. Returns a state table, or nil
-- and the error (an ebpf error object: err.kind says why, tostring(err) the
-- whole message).
function M.open(def, opts)
  local source = def.source and (def.source:find("/", 1, true) and def.source or M.bpf_path(def.source))
  local obj, err = ebpf.compile { file = source, text = def.text, filter = opts.filter,
                                  defines = def.defines and def.defines(opts) or nil }
  if not obj then return nil, err end
  local ok, aerr = obj:attach_all()
  if not ok then obj:close(); return nil, aerr end
  local state = { def = def, obj = obj, opts = opts, counters = counter_fields(def) }
  if def.start then
    local started, serr = def.start(state)
    if started == false then obj:close(); return nil, serr end
  end
  return state
end

local function first_line(text)
  return (tostring(text):match("^[^\n]*"))
end

-- Why a collector is disabled, decided by the error's kind (never its text):
-- what this machine lacks or forbids is said in one line; a collector that
-- does not compile or that the verifier refuses is a defect, so its whole
-- report follows even when several collectors run.
local DISABLED_BECAUSE = {
  not_supported = "not supported by this kernel",
  not_found = "a probe point or file it needs is missing",
  permission = "not enough privileges",
  verifier = "rejected by the kernel's verifier",
  compile = "its BPF C does not compile",
}
local DEFECT = { verifier = true, compile = true, internal = true }

local function report_disabled(name, err, alone)
  local kind = type(err) == "table" and err.kind or nil
  local because = DISABLED_BECAUSE[kind]
  io.stderr:write(("ebpfrun: %s disabled: %s%s\n"):format(name, first_line(err),
                                                          because and (" [" .. because .. "]") or ""))
  if alone or DEFECT[kind] then io.stderr:write(tostring(err), "\n") end
end

local function print_interval(state, out, final)
  local rows = state.def.collect(state)
  local now = os.date("%H:%M:%S")
  if out.json then
    for _, row in ipairs(sort_rows(state.def, rows)) do
      row.collector = state.def.name
      row.final = final or nil
      out:event(row)
    end
    return
  end
  local shown = final and rows or deltas(state, rows)
  sort_rows(state.def, shown)
  local top = state.opts.top or 10
  io.write(("%s %s%s\n"):format(now, state.def.name, final and " (totals)" or ""))
  local limited = {}
  for i = 1, math.min(top, #shown) do limited[i] = shown[i] end
  out:table(limited, { columns = state.def.columns })
  io.write("\n")
  io.stdout:flush()
end

-- Parses the command line for one or more collectors (their options merged).
local function parse(defs, argv, name, description)
  local options = { { "--top", type = "int", default = 10, help = "rows per interval table" } }
  local seen = { ["--top"] = true }
  for _, def in ipairs(defs) do
    for _, o in ipairs(def.options or {}) do
      local flag = o[#o] or o[1]
      if not seen[flag] then seen[flag] = true; options[#options + 1] = o end
    end
  end
  if #defs > 1 then
    options[#options + 1] = { "--enable", type = "string", multiple = true, metavar = "NAME",
                              help = "run only these collectors" }
    options[#options + 1] = { "--disable", type = "string", multiple = true, metavar = "NAME",
                              help = "do not run these collectors" }
  end
  return args.parse(argv, { name = name, description = description, options = options, standard = STANDARD })
end

-- Runs collectors until --duration, Ctrl-C or SIGTERM; returns the exit code.
function M.run(defs, opts)
  local out = output.new { json = opts.json or ebpf.options.format == "json" }
  local enabled, wanted, unwanted = {}, {}, {}
  for _, n in ipairs(opts.enable or {}) do wanted[n] = true end
  for _, n in ipairs(opts.disable or {}) do unwanted[n] = true end
  for _, def in ipairs(defs) do
    if (next(wanted) == nil or wanted[def.name]) and not unwanted[def.name] then
      local state, err = M.open(def, opts)
      if state then
        enabled[#enabled + 1] = state
      else
        report_disabled(def.name, err, #defs == 1)
      end
    end
  end
  if #enabled == 0 then return 1 end
  ebpf.run {
    every = opts.interval or 1,
    duration = opts.duration,
    tick = function() for _, s in ipairs(enabled) do print_interval(s, out, false) end end,
    finish = function() for _, s in ipairs(enabled) do print_interval(s, out, true) end end,
  }
  for _, s in ipairs(enabled) do s.obj:close() end
  return 0
end

-- The whole CLI of a single-collector script: parse `argv`, run, exit.
function M.main(def, argv)
  local opts = parse({ def }, argv, def.name, def.description)
  os.exit(M.run({ def }, opts))
end

-- Several collectors in one run (scripts/collectors.lua).
function M.main_many(defs, argv, name, description)
  local opts = parse(defs, argv, name, description)
  os.exit(M.run(defs, opts))
end

-- Metric declarations of a collector, for an exporter or documentation.
function M.metrics(def) return def.metrics or {} end

M.json = json
return M
