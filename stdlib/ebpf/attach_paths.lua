-- Attach paths: a collector or tool whose object holds one set of programs
-- per way of reaching the same data (fentry/fexit where the kernel allows
-- them, tracepoints elsewhere) declares them as def.paths = { {name =,
-- programs = {...} or function(opts)}, ... } and loads one path at a time,
-- the other paths' programs switched off (ebpf.compile's autoload), so that
-- nothing is counted twice. The first path whose programs load and attach
-- wins; -v, --stats and the agent say which and why the others did not.
local ebpf = require "ebpf"

local P = {}

-- What --attach-path and $EBPFRUN_ATTACH_PATH take.
P.NAMES = { "auto", "fentry", "tracepoint" }

-- nil, or the message for a $EBPFRUN_ATTACH_PATH that names no path (the
-- scripts print it and exit 2, as for a bad flag).
function P.env_error()
  local wanted = os.getenv("EBPFRUN_ATTACH_PATH")
  if not wanted or wanted == "" then return nil end
  for _, name in ipairs(P.NAMES) do
    if name == wanted then return nil end
  end
  return ("EBPFRUN_ATTACH_PATH must be one of %s; got '%s'"):format(table.concat(P.NAMES, ", "), wanted)
end

-- The attach paths this run may take, in order: all of def.paths, or the
-- one --attach-path / $EBPFRUN_ATTACH_PATH names ("auto": all). A collector
-- without paths has one, unnamed (false).
function P.candidates(def, opts)
  if not def.paths then return { false } end
  local wanted = opts.attach_path or os.getenv("EBPFRUN_ATTACH_PATH")
  if not wanted or wanted == "" or wanted == "auto" then return def.paths end
  local bad = not opts.attach_path and P.env_error()
  if bad then error(bad, 0) end
  for _, p in ipairs(def.paths) do
    if p.name == wanted then return { p } end
  end
  -- A collector without that path takes its own, in its order: never all
  -- programs at once, which would count twice.
  return def.paths
end

-- The --attach-path flag (ebpf.args), for the scripts with paths.
function P.option()
  return { "--attach-path", type = "string", choices = P.NAMES, metavar = "PATH",
           help = "auto (default; also $EBPFRUN_ATTACH_PATH): fentry/fexit where the kernel allows them, else "
             .. "tracepoints; fentry or tracepoint: only that path" }
end

function P.programs(path, opts)
  local programs = path.programs
  if type(programs) == "function" then programs = programs(opts) end
  return programs or {}
end

-- ebpf.compile's autoload for one path: every other path's programs off.
function P.autoload_for(def, opts, chosen)
  if not chosen then return nil end
  local off = {}
  for _, p in ipairs(def.paths) do
    if p ~= chosen then
      for _, name in ipairs(P.programs(p, opts)) do off[name] = false end
    end
  end
  return off
end

-- Loads the first of state.candidates, from index i on, whose programs load.
-- Failures are kept in state.path_failures; a source that does not compile
-- is a defect and no other path is tried.
function P.load(state, i)
  local def, opts = state.def, state.opts
  local err
  for k = i, #state.candidates do
    local path = state.candidates[k]
    local args = {}
    for key, v in pairs(state.compile_args) do args[key] = v end
    args.autoload = P.autoload_for(def, opts, path)
    local obj
    obj, err = ebpf.compile(args)
    if obj then
      state.obj, state.path_index, state.path = obj, k, path and path.name or nil
      return state
    end
    if path then state.path_failures[#state.path_failures + 1] = { path = path.name, err = err } end
    if type(err) == "table" and err.kind == "compile" then break end
  end
  return nil, err
end

local function first_line(text)
  return (tostring(text):match("^[^\n]*"))
end

-- "fentry", or "tracepoint (fentry: why not)" for -v and --stats.
function P.text(state)
  if not state.path then return nil end
  local why = {}
  for _, f in ipairs(state.path_failures) do why[#why + 1] = f.path .. ": " .. first_line(f.err) end
  if #why == 0 then return state.path end
  return ("%s (%s)"):format(state.path, table.concat(why, "; "))
end

-- Attaches a loaded collector's programs: a path whose programs do not all
-- attach gives way to the next one. Returns true, or nil and a reason (the
-- object is closed then).
-- reloaded(state), when given, runs on each object loaded for a later path
-- (what a tool does between load and attach).
function P.attach(state, reloaded)
  local ok, aerr = state.obj:attach_all()
  while not ok and state.path and state.path_index < #state.candidates do
    state.obj:close()
    state.path_failures[#state.path_failures + 1] = { path = state.path, err = aerr }
    local loaded, lerr = P.load(state, state.path_index + 1)
    if not loaded then return nil, lerr end
    if reloaded then reloaded(state) end
    ok, aerr = state.obj:attach_all()
  end
  if not ok then state.obj:close(); return nil, aerr end
  if state.path and ebpf.options.verbose then
    io.stderr:write(("debug: %s: attach path %s\n"):format(state.def.name, P.text(state)))
  end
  return true
end

return P
