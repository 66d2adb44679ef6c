-- The agent's configuration: a Lua file returning a table (so it can
-- compute), merged with command-line flags, checked completely before
-- anything is loaded. Every problem is one line; load() returns them all.
--
--   return {
--     listen = "127.0.0.1:9435",          -- ADDR:PORT of /metrics
--     interval = 5,                       -- seconds between collections (default 5)
--     collectors = {                      -- default: the six shipped collectors
--       syscalls = { filter = { comm = { "nginx" } }, interval = 10, labels = { drop = { "pid" } } },
--       network = true,                   -- on, with the global settings
--       scheduler = false,                -- off
--       mine = { script = "/etc/ebpfrun/mine.lua" },   -- a collector script of your own
--     },
--     filter = { uid = 1000 },            -- applied to every collector
--     limits = { series_per_metric = 10000, series_ttl = 300 },
--     labels = { drop = { "pid" } },      -- aggregate by the remaining labels (the default;
--                                         -- { drop = {} } keeps a series per process)
--     bpf_stats = false,                  -- per-program run counters (costs every BPF program)
--   }
local M = {}

M.DEFAULT_COLLECTORS = { "syscalls", "network", "fileio", "scheduler", "memory", "tcpstate" }
-- Labels dropped unless the configuration says otherwise: a pid label makes
-- every process a new series, and on a node where processes come and go that
-- is the unbounded cardinality every eBPF exporter is blamed for. Aggregated by
-- comm (and the collectors' other labels), the series count follows the set
-- of programs, not of processes.
M.DEFAULTS = { listen = "127.0.0.1:9435", interval = 5, series_per_metric = 10000, series_ttl = 300,
               drop = { "pid" } }

local TOP_KEYS = { listen = true, interval = true, collectors = true, filter = true, limits = true,
                   labels = true, bpf_stats = true }
local COLLECTOR_KEYS = { enabled = true, filter = true, interval = true, labels = true, script = true, options = true }
local LIMIT_KEYS = { series_per_metric = true, series_ttl = true }
local LABEL_KEYS = { drop = true }
local FILTER_FIELDS = { pid = true, tid = true, comm = true, uid = true, cgroup = true, comm_prefix = true }

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  return keys
end

local function known_list(set)
  return table.concat(sorted_keys(set), ", ")
end

-- Reads the file; returns the table or nil and one line.
function M.read(path)
  local chunk, err = loadfile(path)
  if not chunk then return nil, (tostring(err):gsub("\n.*", "")) end
  local env = setmetatable({}, { __index = _G })
  setfenv(chunk, env)
  local ok, value = pcall(chunk)
  if not ok then return nil, ("%s: %s"):format(path, (tostring(value):gsub("\n.*", ""))) end
  if type(value) ~= "table" then
    return nil, ("%s: the file must return a table (it returned %s)"):format(path, type(value))
  end
  return value
end

local function check_filter(filter, where, problems, check)
  if type(filter) ~= "table" then
    problems[#problems + 1] = ("%s: filter must be a table like { comm = { \"nginx\" } }"):format(where)
    return
  end
  for field, values in pairs(filter) do
    if not FILTER_FIELDS[field] then
      problems[#problems + 1] = ("%s: unknown filter field '%s' (known: %s)"):format(where, tostring(field),
                                                                                     known_list(FILTER_FIELDS))
    else
      local list = type(values) == "table" and values or { values }
      for _, v in ipairs(list) do
        if type(v) ~= "string" and type(v) ~= "number" then
          problems[#problems + 1] = ("%s: filter %s takes numbers or strings"):format(where, field)
        else
          local ok, err = check(field, tostring(v))
          if not ok then problems[#problems + 1] = ("%s: %s"):format(where, err) end
        end
      end
    end
  end
end

local function check_drop(labels, where, problems)
  if type(labels) ~= "table" then
    problems[#problems + 1] = ("%s: labels must be a table like { drop = { \"pid\" } }"):format(where)
    return {}
  end
  for k in pairs(labels) do
    if not LABEL_KEYS[k] then
      problems[#problems + 1] = ("%s: unknown key '%s' (known: drop)"):format(where, tostring(k))
    end
  end
  local drop = labels.drop or {}
  if type(drop) ~= "table" then
    problems[#problems + 1] = ("%s.drop must be a list of label names"):format(where)
    return {}
  end
  for _, l in ipairs(drop) do
    if type(l) ~= "string" then problems[#problems + 1] = ("%s.drop: label names are strings"):format(where) end
  end
  return drop
end

local function positive(v, where, problems)
  if type(v) ~= "number" or v <= 0 then
    problems[#problems + 1] = ("%s must be a positive number of seconds (got %s)"):format(where, tostring(v))
    return nil
  end
  return v
end

-- Checks a raw config table (from a file, flags already merged) and returns
-- the normalized form { listen, interval, limit, ttl, drop, bpf_stats,
-- collectors = { {name, script, filter, interval, drop, options}, ... } } and
-- the list of problems. `check_filter(field, value)` is the runtime's own
-- filter parser; `resolve(name)` finds a shipped collector's script path.
function M.normalize(raw, check, resolve)
  local problems = {}
  for k in pairs(raw) do
    if not TOP_KEYS[k] then
      problems[#problems + 1] = ("unknown key '%s' (known: %s)"):format(tostring(k), known_list(TOP_KEYS))
    end
  end
  local cfg = { listen = raw.listen or M.DEFAULTS.listen, bpf_stats = raw.bpf_stats == true }
  if type(cfg.listen) ~= "string" or not cfg.listen:match("^%[?[%w%.:]*%]?:%d+$") then
    problems[#problems + 1] = ("listen must be \"ADDR:PORT\" (got %s)"):format(tostring(cfg.listen))
  end
  if raw.bpf_stats ~= nil and type(raw.bpf_stats) ~= "boolean" then
    problems[#problems + 1] = "bpf_stats must be true or false"
  end
  cfg.interval = raw.interval == nil and M.DEFAULTS.interval or positive(raw.interval, "interval", problems)
  local limits = raw.limits or {}
  if type(limits) ~= "table" then
    problems[#problems + 1] = "limits must be a table like { series_per_metric = 10000, series_ttl = 300 }"
    limits = {}
  end
  for k in pairs(limits) do
    if not LIMIT_KEYS[k] then
      problems[#problems + 1] = ("limits: unknown key '%s' (known: %s)"):format(tostring(k), known_list(LIMIT_KEYS))
    end
  end
  cfg.limit = limits.series_per_metric or M.DEFAULTS.series_per_metric
  if type(cfg.limit) ~= "number" or cfg.limit < 2 or cfg.limit % 1 ~= 0 then
    problems[#problems + 1] = ("limits.series_per_metric must be an integer >= 2 (got %s)"):format(tostring(cfg.limit))
  end
  cfg.ttl = limits.series_ttl == nil and M.DEFAULTS.series_ttl or positive(limits.series_ttl, "limits.series_ttl", problems)
  local labels = raw.labels or {}
  if type(labels) == "table" and labels.drop == nil then
    local copy = { drop = M.DEFAULTS.drop }
    for k, v in pairs(labels) do copy[k] = v end
    labels = copy
  end
  cfg.drop = check_drop(labels, "labels", problems)
  local global_filter = raw.filter or {}
  check_filter(global_filter, "filter", problems, check)

  local collectors = raw.collectors
  if collectors == nil then
    collectors = {}
    for _, name in ipairs(M.DEFAULT_COLLECTORS) do collectors[name] = true end
  end
  cfg.collectors = {}
  if type(collectors) ~= "table" then
    problems[#problems + 1] = "collectors must be a table like { syscalls = true, memory = false }"
    collectors = {}
  end
  for _, name in ipairs(sorted_keys(collectors)) do
    local spec = collectors[name]
    local where = "collectors." .. name
    if type(spec) == "boolean" then spec = { enabled = spec } end
    if type(spec) ~= "table" then
      problems[#problems + 1] = ("%s must be true, false or a table"):format(where)
    elseif spec.enabled ~= false then
      for k in pairs(spec) do
        if not COLLECTOR_KEYS[k] then
          problems[#problems + 1] = ("%s: unknown key '%s' (known: %s)"):format(where, tostring(k),
                                                                                  known_list(COLLECTOR_KEYS))
        end
      end
      local script = spec.script
      if script ~= nil and type(script) ~= "string" then
        problems[#problems + 1] = ("%s.script must be a path"):format(where)
        script = nil
      end
      if not script then
        local path, err = resolve(name)
        if not path then problems[#problems + 1] = ("%s: %s"):format(where, err) end
        script = path
      end
      local filter = {}
      for k, v in pairs(global_filter) do filter[k] = v end
      if spec.filter ~= nil then
        check_filter(spec.filter, where, problems, check)
        if type(spec.filter) == "table" then
          for k, v in pairs(spec.filter) do filter[k] = v end
        end
      end
      local drop = {}
      for _, l in ipairs(cfg.drop) do drop[#drop + 1] = l end
      if spec.labels ~= nil then
        for _, l in ipairs(check_drop(spec.labels, where .. ".labels", problems)) do drop[#drop + 1] = l end
      end
      local interval = spec.interval == nil and (cfg.interval or M.DEFAULTS.interval)
                       or positive(spec.interval, where .. ".interval", problems)
      if spec.options ~= nil and type(spec.options) ~= "table" then
        problems[#problems + 1] = ("%s.options must be a table of the collector's flags"):format(where)
      end
      cfg.collectors[#cfg.collectors + 1] = { name = name, script = script, filter = filter, drop = drop,
                                              interval = interval, options = spec.options or {} }
    end
  end
  return cfg, problems
end

-- A canonical text of a value, to tell whether a collector's settings changed.
function M.fingerprint(v)
  if type(v) ~= "table" then return type(v) == "string" and ("%q"):format(v) or tostring(v) end
  local parts = {}
  for _, k in ipairs(sorted_keys(v)) do
    local key = tonumber(k) and v[tonumber(k)] ~= nil and tonumber(k) or k
    parts[#parts + 1] = tostring(k) .. "=" .. M.fingerprint(v[key])
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

return M
