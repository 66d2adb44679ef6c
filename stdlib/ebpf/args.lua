-- ebpf.args: command-line options declared by a script.
--
-- Every tool needs the same handful of options (--pid, --comm, --json, ...), and
-- people expect them to behave alike everywhere; scripts therefore name the
-- standard options they accept and declare only their own.
--
--   local opts = args.parse(arg, {
--     name = "execsnoop", description = "Trace new processes.",
--     options = { {"--pid", type="int", help="..."},
--                 {"-x", "--exclude", type="string", multiple=true},
--                 {"--top", type="int", default=10}, {"--verbose", type="flag"} },
--     standard = {"pid", "comm", "json", "interval"},
--     positional = { {"PATTERN", optional=true, help="..."} },
--     epilog = "Examples: ...",
--   })
--
-- Option fields: the names ("-x", "--exclude"), type = "string" (default) |
-- "int" | "number" | "flag", multiple (collect a list; "int" lists also accept
-- "1,2,3" as pgrep -d, prints), default, help, metavar, required, choices,
-- min / max / positive (numeric bounds, checked as usage errors).
-- Results are keyed by the long name without dashes, '-' becoming '_'
-- (opts.exclude); lists default to {} and flags to false. opts.filter holds the
-- standard filters that were given, ready for the /*FILTER*/ template:
-- {pid={1234}, comm={"bash"}, cgroup={"/sys/fs/cgroup/x"}}.
--
-- On a usage error the usage line and "name: error: <what>" go to stderr and
-- args.exit(2) is called; --help prints the help to stdout and calls
-- args.exit(0). Tests replace args.exit, args.stdout and args.stderr.

local help_text = require "ebpf.args_help"

local args = {}

function args.exit(code) os.exit(code) end
args.stdout, args.stderr = nil, nil -- nil means io.stdout / io.stderr at call time

-- The kernel keeps at most TASK_COMM_LEN - 1 = 15 bytes of a command name.
local function check_comm(v)
  if #v == 0 then return "a command name cannot be empty" end
  if #v > 15 then
    return string.format("'%s' is %d bytes long, but the kernel keeps at most 15 bytes of a "
      .. "command name (use the first 15)", v, #v)
  end
end

-- A cgroup v2 id (the directory's inode number) or a directory path; ids that a
-- double cannot hold exactly stay strings.
local function convert_cgroup(v)
  if v:find("^%d+$") then
    local n = tonumber(v)
    return n <= 2 ^ 53 and n or v
  end
  if v:sub(1, 1) == "/" then return v end
  return nil, string.format("'%s' is neither a cgroup v2 directory path (starting with '/') "
    .. "nor a numeric cgroup id", v)
end

-- The largest pid (and tid) this kernel hands out; a larger one can never
-- match, so it is a usage error rather than a filter that silently shows nothing.
local function pid_max()
  local f = io.open("/proc/sys/kernel/pid_max")
  local n = f and tonumber(f:read("*l"))
  if f then f:close() end
  return n or 4194304 -- PID_MAX_LIMIT
end
local PID_MAX = pid_max()

local STANDARD = {
  pid = { "--pid", type = "int", multiple = true, metavar = "PID", min = 0, max = PID_MAX, filter = true,
          help = "trace only this process id (repeat the option or give 1,2,3 for several)" },
  tid = { "--tid", type = "int", multiple = true, metavar = "TID", min = 0, max = PID_MAX, filter = true,
          help = "trace only this thread id (repeatable)" },
  comm = { "--comm", type = "string", multiple = true, metavar = "NAME", filter = true,
           check = check_comm, help = "trace only tasks with this command name (repeatable)" },
  uid = { "--uid", type = "int", multiple = true, metavar = "UID", min = 0, filter = true,
          help = "trace only tasks of this user id (repeatable)" },
  cgroup = { "--cgroup", type = "string", multiple = true, metavar = "PATH|ID", filter = true,
             convert = convert_cgroup, help = "trace only tasks in this cgroup v2 (directory or id)" },
  json = { "--json", type = "flag", help = "print one JSON object per line instead of text" },
  interval = { "--interval", type = "number", metavar = "SECS", positive = true,
               help = "print a summary every SECS seconds" },
  duration = { "--duration", type = "number", metavar = "SECS", positive = true,
               help = "stop after SECS seconds" },
}
local STANDARD_ORDER = { "pid", "tid", "comm", "uid", "cgroup", "json", "interval", "duration" }
local TYPES = { string = true, int = true, number = true, flag = true }

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- Turns a declared option into {names=, dest=, display=, ...}; spec mistakes are
-- the script author's, so they raise Lua errors rather than usage errors.
local function normalize(o)
  local n = copy(o)
  n.names = {}
  for _, name in ipairs(o) do
    if type(name) ~= "string" or not name:find("^%-%-?[%w][%w_-]*$") then
      error("args: bad option name '" .. tostring(name) .. "' (use \"-x\" or \"--name\")", 0)
    end
    n.names[#n.names + 1] = name
  end
  if #n.names == 0 then error("args: an option needs a name such as \"--top\"", 0) end
  local long = n.names[#n.names]
  n.dest = n.dest or long:gsub("^%-%-?", ""):gsub("-", "_")
  n.display = long
  n.type = n.type or "string"
  if not TYPES[n.type] then error("args: option " .. long .. " has unknown type '" .. n.type .. "'", 0) end
  n.metavar = n.metavar or n.dest:upper()
  return n
end

local function out(stream) return stream or io.stdout end

local function fail(state, message)
  local err = args.stderr or io.stderr
  err:write(help_text.usage(state.prog, state.options, state.positional), "\n",
            state.prog, ": error: ", message, "\n")
  args.exit(2)
  error({ args_exit = 2, message = message }, 0)
end

-- Edit distance, for "did you mean" hints on misspelt options (and, through
-- args.edit_distance, on misspelt struct members in one-liner paths).
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

args.edit_distance = distance

local function convert(state, o, raw)
  local label = "option '" .. o.display .. "'"
  local values = { raw }
  if o.type == "int" and o.multiple and raw:find(",") then
    values = {}
    for part in (raw .. ","):gmatch("([^,]*),") do values[#values + 1] = part end
  end
  local results = {}
  for _, v in ipairs(values) do
    local x, msg
    if o.type == "int" then
      x = v:find("^[+-]?%d+$") and tonumber(v)
      if not x or math.abs(x) > 2 ^ 53 then fail(state, label .. " expects an integer, got '" .. v .. "'") end
    elseif o.type == "number" then
      x = tonumber(v)
      if not x or x ~= x or math.abs(x) == math.huge then
        fail(state, label .. " expects a number, got '" .. v .. "'")
      end
    else
      x = v
    end
    if o.min and x < o.min then fail(state, label .. " must be at least " .. o.min .. ", got '" .. v .. "'") end
    if o.max and x > o.max then fail(state, label .. " must be at most " .. o.max .. ", got '" .. v .. "'") end
    if o.positive and x <= 0 then fail(state, label .. " must be greater than 0, got '" .. v .. "'") end
    if o.choices then
      local ok = false
      for _, c in ipairs(o.choices) do if c == x then ok = true end end
      if not ok then
        fail(state, label .. " must be one of " .. table.concat(o.choices, ", ") .. "; got '" .. v .. "'")
      end
    end
    if o.convert then x, msg = o.convert(x) end
    if o.check then msg = o.check(x) end
    if msg then fail(state, label .. ": " .. msg) end
    results[#results + 1] = x
  end
  return results
end

local function build(spec)
  local options, by_name = {}, {}
  local help = normalize({ "-h", "--help", type = "flag", help = "show this help and exit" })
  help.is_help = true
  local list = { help }
  for _, o in ipairs(spec.options or {}) do list[#list + 1] = normalize(o) end
  local wanted = {}
  for _, s in ipairs(spec.standard or {}) do
    if not STANDARD[s] then
      error("args: unknown standard option '" .. tostring(s) .. "' (known: "
        .. table.concat(STANDARD_ORDER, ", ") .. ")", 0)
    end
    wanted[s] = true
  end
  for _, s in ipairs(STANDARD_ORDER) do
    if wanted[s] then list[#list + 1] = normalize(STANDARD[s]); list[#list].standard = s end
  end
  for _, o in ipairs(list) do
    for _, name in ipairs(o.names) do
      if by_name[name] then error("args: option " .. name .. " is declared twice", 0) end
      by_name[name] = o
    end
    if o.dest == "filter" then error("args: 'filter' is reserved for opts.filter; name the option differently", 0) end
    options[#options + 1] = o
  end
  local positional = {}
  for _, p in ipairs(spec.positional or {}) do
    local q = copy(p)
    q.name = p[1] or p.name
    q.dest = q.dest or q.name:lower():gsub("-", "_")
    positional[#positional + 1] = q
  end
  return options, by_name, positional
end

local function program_name(argv, spec)
  if spec.name then return spec.name end
  local base = argv and type(argv[0]) == "string" and argv[0]:match("([^/]+)$")
  return base and base:gsub("%.lua$", "") or "script"
end

-- The usage line, wrapped at 79 columns under the program name (spec.name,
-- else the script's file name from argv[0], else "script").
function args.usage(spec, argv)
  local options, _, positional = build(spec)
  return help_text.usage(program_name(argv, spec), options, positional)
end

-- The full --help text.
function args.help(spec, argv)
  local options, _, positional = build(spec)
  return help_text.help(program_name(argv, spec), spec, options, positional)
end

-- Looks like a value rather than an option: "-5" or "-0.5" for a numeric option.
local function is_option_like(s, o)
  if s:sub(1, 1) ~= "-" or s == "-" then return false end
  if (o.type == "int" or o.type == "number") and tonumber(s) then return false end
  return true
end

local function parse(argv, spec)
  local options, by_name, positional = build(spec)
  local state = { prog = program_name(argv, spec), options = options, positional = positional }
  local result, given, rest = {}, {}, {}
  for _, o in ipairs(options) do
    if o.is_help then -- --help never reaches the result: it exits
    elseif o.multiple then result[o.dest] = {}
    elseif o.type == "flag" then result[o.dest] = false
    else result[o.dest] = o.default end
  end
  local i, only_positional = 1, false
  while argv[i] ~= nil do
    local a = tostring(argv[i])
    i = i + 1
    if only_positional or a == "-" or a:sub(1, 1) ~= "-" then
      rest[#rest + 1] = a
    elseif a == "--" then
      only_positional = true
    else
      local name, inline = a:match("^(%-%-[^=]+)=(.*)$")
      if not name then
        if a:sub(1, 2) == "--" then name = a
        else name = a:sub(1, 2); inline = #a > 2 and a:sub(3):gsub("^=", "") or nil end
      end
      local o = by_name[name]
      if not o then
        local best, best_d
        for known in pairs(by_name) do
          -- Only long names: every short name is one edit away from another.
          local d = (name:find("^%-%-") and known:find("^%-%-")) and distance(name, known) or 99
          if d <= 2 and (not best_d or d < best_d or (d == best_d and known < best)) then best, best_d = known, d end
        end
        fail(state, "unrecognized option '" .. name .. "'" .. (best and " (did you mean '" .. best .. "'?)" or ""))
      end
      if o.is_help then
        out(args.stdout):write(help_text.help(state.prog, spec, options, positional))
        args.exit(0)
        error({ args_exit = 0 }, 0)
      elseif o.type == "flag" then
        if inline then fail(state, "option '" .. o.display .. "' does not take a value") end
        result[o.dest] = true
      else
        local raw = inline
        if raw == nil then
          raw = argv[i] ~= nil and tostring(argv[i]) or nil
          if raw == nil or is_option_like(raw, o) then
            fail(state, "option '" .. o.display .. "' needs a value (" .. o.metavar .. ")")
          end
          i = i + 1
        end
        local values = convert(state, o, raw)
        if o.multiple then
          for _, v in ipairs(values) do table.insert(result[o.dest], v) end
        else
          result[o.dest] = values[1]
        end
      end
      given[o] = true
    end
  end
  local k = 1
  for _, p in ipairs(positional) do
    if p.multiple then
      result[p.dest] = {}
      while k <= #rest do table.insert(result[p.dest], rest[k]); k = k + 1 end
      if #result[p.dest] == 0 and not p.optional then fail(state, "missing argument " .. p.name) end
    elseif rest[k] ~= nil then
      result[p.dest] = rest[k]; k = k + 1
    elseif not p.optional then
      fail(state, "missing argument " .. p.name)
    end
  end
  if rest[k] ~= nil then fail(state, "unexpected argument '" .. rest[k] .. "'") end
  for _, o in ipairs(options) do
    if o.required and not given[o] then fail(state, "option '" .. o.display .. "' is required") end
  end
  result.filter = {}
  for _, o in ipairs(options) do
    if o.filter and #result[o.dest] > 0 then result.filter[o.standard] = result[o.dest] end
  end
  return result
end

-- Parses argv (a script's `arg`) against spec. Returns the options table; on a
-- usage error or --help it calls args.exit and, should that return, returns nil
-- plus the error message (nil for --help).
function args.parse(argv, spec)
  assert(type(spec) == "table", "args.parse: expected a spec table")
  local valid, spec_err = pcall(build, spec)
  if not valid then error(spec_err, 2) end
  local ok, res = pcall(parse, argv or {}, spec)
  if ok then return res end
  if type(res) == "table" and res.args_exit then return nil, res.message end
  error(res, 0)
end

return args
