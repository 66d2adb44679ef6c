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
--     optional = { "prog" },                    -- programs the kernel may refuse (ebpf.compile's optional)
--     also_attach = { prog = { "spec" } },      -- further points of a program (ebpf.compile's also_attach)
--     paths = { { name = "fentry", programs = { "p1", ... } },       -- optional: attach paths, preferred first
--               { name = "tracepoint", programs = function(opts) return { ... } end } },
--     metrics = { { name = "ebpfrun_syscalls_total", type = "counter", help = "...",
--                   labels = { "pid", "comm", "syscall" }, value = "count" } },
--     key = { "pid", "syscall" },               -- fields that identify a row
--     columns = { {"PID", key = "pid"}, {"COUNT", key = "count"} },  -- text table (ebpf.output columns),
--                                               -- or function(opts) returning them (nil: no table)
--     sort = "count",                           -- rows sorted by this field, descending
--     start = function(ctx) end,                -- optional: after attach (ctx.obj, ctx.opts)
--     collect = function(ctx) return rows end,  -- rows: { {pid = 1, comm = "x", count = 3}, ... }
--     footer = function(ctx, final) return text end, -- optional: printed under the text table
--   }
-- Counter fields are shown per interval in text mode (the change since the
-- previous interval) and cumulatively in JSON and at the end.
--
-- ebpfrun's own process is left out of every collector's figures (an
-- exclude_pid filter), unless --include-self is given; all collectors are
-- compiled before any is attached, so that the compiler's child process,
-- which lives only while compiling, is never traced either.
--
-- Attach paths: a collector can count the same events from different attach
-- points, e.g. fexit on the kernel functions where the kernel allows it and
-- tracepoints everywhere. A typed fentry/fexit body differs from a
-- tracepoint body, so each path has programs of its own in the one source:
-- `paths` lists them, preferred first, and programs in no path are common to
-- all. Only one path's programs are loaded (the others are switched off with
-- ebpf.compile's autoload), so nothing is counted twice; when a path's
-- programs do not load or attach, the object is closed and the next path is
-- loaded (the compile is a cache hit). --attach-path NAME (or
-- $EBPFRUN_ATTACH_PATH) takes one path only, without falling back. The path
-- taken is state.path; -v says it in a debug line, with why the preferred
-- ones failed, and --stats in its table.
--
-- Map pressure: maps declared with EBPFRUN_COUNTED_MAP (bpf/ebpfrun_maps.h)
-- count their inserts and failed inserts. M.map_stats(state) returns, per
-- such map, its entries, max_entries, failed inserts and (LRU maps) evicted
-- entries; a map that is full is reported once on stderr, each JSON
-- interval has a {"collector":..,"maps":[..]} row, and --stats prints a
-- table at the end. --max-entries N sizes the per-process maps.
local ebpf = require "ebpf"
local args = require "ebpf.args"
local attach_paths = require "ebpf.attach_paths"
local output = require "ebpf.output"
local json = require "ebpf.json"
local ffi = require "ffi"

-- pcall: a script may have declared it already.
pcall(ffi.cdef, "int getpid(void);")

local M = {}

-- The per-process maps' size when --max-entries is not given (the default of
-- EBPFRUN_MAP_SIZE in the collectors' BPF sources).
M.DEFAULT_MAX_ENTRIES = 16384

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

-- The filter a collector is compiled with: the standard filters given, and
-- (unless opts.include_self) ebpfrun's own process left out.
local function filter_of(opts)
  local filter = {}
  for k, v in pairs(opts.filter or {}) do filter[k] = v end
  if not opts.include_self then filter.exclude_pid = ffi.C.getpid() end
  return filter
end

local function defines_of(def, opts)
  local defines = {}
  for _, d in ipairs(def.defines and def.defines(opts) or {}) do defines[#defines + 1] = d end
  if opts.max_entries then defines[#defines + 1] = "EBPFRUN_MAP_ENTRIES=" .. math.floor(opts.max_entries) end
  return defines
end

-- Attach paths (ebpf.attach_paths), as the scripts, tools and agent use them.
M.ATTACH_PATHS = attach_paths.NAMES
M.attach_path_env_error = attach_paths.env_error
M.attach_path_option = attach_paths.option
M.path_text = attach_paths.text
M.attach_programs = attach_paths.attach

-- Compiles and loads one collector, attaching nothing yet. Returns a state
-- table, or nil and a one-line reason.
function M.load(def, opts)
  local source = def.source and (def.source:find("/", 1, true) and def.source or M.bpf_path(def.source))
  return M.load_with(def, opts, { file = source, text = def.text, filter = filter_of(opts),
                                  defines = defines_of(def, opts), optional = def.optional,
                                  also_attach = def.also_attach })
end

-- M.load with the given ebpf.compile arguments (the agent compiles its own
-- way), one attach path at a time.
function M.load_with(def, opts, compile_args)
  local state = { def = def, opts = opts, counters = counter_fields(def), reported = {},
                  candidates = attach_paths.candidates(def, opts), path_failures = {}, compile_args = compile_args }
  return attach_paths.load(state, 1)
end

-- Attaches a loaded collector and runs its start hook. Returns the state, or
-- nil and a reason (the object is closed then).
function M.attach(state)
  local ok, aerr = M.attach_programs(state)
  if not ok then return nil, aerr end
  if state.def.start then
    local started, serr = state.def.start(state)
    if started == false then state.obj:close(); return nil, serr end
  end
  return state
end

-- Compiles, loads and attaches one collector. Returns a state table, or nil
-- and the error (an ebpf error object: err.kind says why, tostring(err) the
-- whole message).
function M.open(def, opts)
  local state, err = M.load(def, opts)
  if not state then return nil, err end
  return M.attach(state)
end

-- Map pressure of one running collector: for every map declared with
-- EBPFRUN_COUNTED_MAP, in the object's order,
--   { map = "syscall_stats", type = "lru_hash", entries = 12, max_entries = 16384,
--     inserted = 40, failed_inserts = 0, evicted = 28 }
-- inserted and failed_inserts are the BPF side's counts since load; evicted
-- (LRU maps only, which never refuse an insert but drop their least recently
-- used entry) is inserted minus the entries present, as the collectors never
-- delete from their LRU maps. This is what an exporter serves as
-- ebpfrun_map_entries, ebpfrun_map_max_entries and the failure counters.
function M.map_stats(state)
  if not state.counted_maps then
    state.counted_maps = {}
    for _, m in ipairs(state.obj:info().maps) do
      -- Kernel map names are cut at 15 bytes; the object knows the full ones.
      local counters = not m.name:find("_inserts$") and state.obj:map(m.name .. "_inserts")
      if counters then
        state.counted_maps[#state.counted_maps + 1] = { name = m.name, type = m.type, max_entries = m.max_entries,
                                                        lru = tostring(m.type):find("lru") ~= nil,
                                                        map = state.obj:map(m.name), counters = counters }
      end
    end
  end
  local out = {}
  for _, m in ipairs(state.counted_maps) do
    -- The counters first: entries inserted after they are read only make
    -- `evicted` smaller for one interval, never larger than the truth.
    local inserted, failed = m.counters:lookup_sum(0) or 0, m.counters:lookup_sum(1) or 0
    local keys = m.map.raw:entries()
    local entries = type(keys) == "table" and #keys or 0
    out[#out + 1] = { map = m.name, type = m.type, entries = entries, max_entries = m.max_entries,
                      inserted = inserted, failed_inserts = failed,
                      evicted = m.lru and math.max(0, inserted - entries) or 0 }
  end
  return out
end

-- Reports each full map once on stderr, naming the map and what to change.
local function report_full_maps(state, stats)
  for _, m in ipairs(stats) do
    if not state.reported[m.map] and (m.failed_inserts > 0 or m.evicted > 0) then
      state.reported[m.map] = true
      local size = state.opts.max_entries or M.DEFAULT_MAX_ENTRIES
      local advice = m.max_entries == size
        and ("; raise its size with --max-entries N (now %d)"):format(size)
        or "; its size is the max_entries in the collector's BPF source"
      if m.failed_inserts > 0 then
        io.stderr:write(("ebpfrun: %s: map %s is full (%d of %d entries): %d inserts failed, so what they stood "
          .. "for was not counted%s\n"):format(state.def.name, m.map, m.entries, m.max_entries, m.failed_inserts, advice))
      else
        -- An LRU hash starts evicting a little before its last slot is taken.
        io.stderr:write(("ebpfrun: %s: map %s is full (%d entries): %d of the least recently updated entries "
          .. "(usually of exited processes) were evicted to make room%s\n")
          :format(state.def.name, m.map, m.max_entries, m.evicted, advice))
      end
    end
  end
end

-- --stats: the attach path of every collector (and tool) that has several.
function M.print_paths(states)
  local paths = {}
  for _, s in ipairs(states) do
    if s.path then paths[#paths + 1] = { collector = s.def.name, path = M.path_text(s) } end
  end
  if #paths == 0 then return end
  io.stderr:write("attach paths:\n")
  output.new { stream = io.stderr }:table(paths, { columns = {
    { "COLLECTOR", key = "collector" }, { "PATH", key = "path" } } })
end

-- --stats: every collector's maps, at the end of the run.
local function print_map_table(states)
  local rows = {}
  for _, s in ipairs(states) do
    for _, m in ipairs(M.map_stats(s)) do
      m.collector = s.def.name
      rows[#rows + 1] = m
    end
  end
  M.print_paths(states)
  if #rows == 0 then return end
  local out = output.new { stream = io.stderr }
  io.stderr:write("maps:\n")
  out:table(rows, { columns = {
    { "COLLECTOR", key = "collector" }, { "MAP", key = "map" }, { "TYPE", key = "type" },
    { "ENTRIES", key = "entries", align = "right" }, { "MAX", key = "max_entries", align = "right" },
    { "INSERTED", key = "inserted", align = "right" }, { "FAILED", key = "failed_inserts", align = "right" },
    { "EVICTED", key = "evicted", align = "right" } } })
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
  io.stderr:write(("ebpfrun: %s disabled: %s%s\n"):format(name, (tostring(err):match("^[^\n]*")),
                                                          because and (" [" .. because .. "]") or ""))
  -- One collector alone, or a defect in it: the rest of its error too (the
  -- first line is already out), so that nothing is printed twice.
  if alone or DEFECT[kind] then
    local rest = tostring(err):match("^[^\n]*\n(.*)$")
    if rest and rest ~= "" then io.stderr:write(rest, rest:sub(-1) == "\n" and "" or "\n") end
  end
end

local function print_interval(state, out, final)
  local rows = state.def.collect(state)
  local now = os.date("%H:%M:%S")
  local maps = M.map_stats(state)
  report_full_maps(state, maps)
  if out.json then
    for _, row in ipairs(sort_rows(state.def, rows)) do
      row.collector = state.def.name
      row.final = final or nil
      out:event(row)
    end
    if #maps > 0 then out:event { collector = state.def.name, maps = maps, final = final or nil } end
    return
  end
  local shown = final and rows or deltas(state, rows)
  sort_rows(state.def, shown)
  local top = state.opts.top or 10
  io.write(("%s %s%s\n"):format(now, state.def.name, final and " (totals)" or ""))
  local limited = {}
  for i = 1, math.min(top, #shown) do limited[i] = shown[i] end
  local columns = state.def.columns
  if type(columns) == "function" then columns = columns(state.opts) end
  if columns then
    out:table(limited, { columns = columns })
    io.write("\n")
  end
  if state.def.footer then
    local text = state.def.footer(state, final)
    if text and text ~= "" then io.write(text, "\n") end
  end
  io.stdout:flush()
end

-- Parses the command line for one or more collectors (their options merged).
local function parse(defs, argv, name, description)
  local options = {
    { "--top", type = "int", default = 10, positive = true, help = "rows per interval table" },
    { "--include-self", type = "flag", help = "also count ebpfrun's own process (left out by default)" },
    { "--max-entries", type = "int", min = 1, metavar = "N",
      help = ("entries of each per-process map (default %d); a full map evicts its least recently updated entries")
        :format(M.DEFAULT_MAX_ENTRIES) },
  }
  local seen = { ["--top"] = true, ["--include-self"] = true, ["--max-entries"] = true }
  for _, def in ipairs(defs) do
    if def.paths and not seen["--attach-path"] then
      seen["--attach-path"] = true
      options[#options + 1] = M.attach_path_option()
    end
  end
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
  local opts = args.parse(argv, { name = name, description = description, options = options, standard = STANDARD })
  local bad = not opts.attach_path and seen["--attach-path"] and M.attach_path_env_error()
  if bad then
    io.stderr:write(name, ": error: ", bad, "\n")
    os.exit(2)
  end
  return opts
end

-- Runs collectors until --duration, Ctrl-C or SIGTERM; returns the exit code.
function M.run(defs, opts)
  local out = output.new { json = opts.json or ebpf.options.format == "json" }
  local loaded, enabled, wanted, unwanted = {}, {}, {}, {}
  for _, n in ipairs(opts.enable or {}) do wanted[n] = true end
  for _, n in ipairs(opts.disable or {}) do unwanted[n] = true end
  local function disable(def, err) report_disabled(def.name, err, #defs == 1) end
  -- Every collector is compiled before any is attached: the compiler runs in
  -- a child process, which would otherwise be traced by the collectors
  -- already attached.
  for _, def in ipairs(defs) do
    if (next(wanted) == nil or wanted[def.name]) and not unwanted[def.name] then
      local state, err = M.load(def, opts)
      if state then loaded[#loaded + 1] = state else disable(def, err) end
    end
  end
  for _, state in ipairs(loaded) do
    local attached, err = M.attach(state)
    if attached then enabled[#enabled + 1] = attached else disable(state.def, err) end
  end
  if #enabled == 0 then return 1 end
  ebpf.run {
    every = opts.interval or 1,
    duration = opts.duration,
    tick = function() for _, s in ipairs(enabled) do print_interval(s, out, false) end end,
    finish = function()
      for _, s in ipairs(enabled) do print_interval(s, out, true) end
      if ebpf.options.stats then print_map_table(enabled) end
    end,
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
