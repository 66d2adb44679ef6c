-- `ebpfrun agent`: the collectors as an always-on Prometheus exporter.
--
-- This is the agent's single Lua thread. It checks the configuration
-- (agent_config), loads each collector (a collector script's definition, as
-- the CLI tools use), reads each one's maps on its own interval, bounds the
-- series (ebpf.series) and publishes one snapshot per collector to the C++
-- store that the HTTP threads render from; it never runs on an HTTP thread,
-- and a scrape never waits for it. SIGHUP re-reads the configuration;
-- SIGINT/SIGTERM end the run and everything is detached.
--
-- The C++ side (cli/agent_command.cpp) calls main(args, host) with the flags
-- and a `host` table: listen(addr), notify(state), drop_privileges(),
-- enable_bpf_stats().
local ebpf = require "ebpf"
local core = require "ebpf.core"
local config = require "ebpf.agent_config"
local series = require "ebpf.series"
local exited = require "ebpf.exited"
local self_metrics = require "ebpf.agent_self"
local collector = require "ebpf.collector"
local ffi = require "ffi"

local M = {}

local SIGHUP = 1
local SELF = "ebpfrun" -- the snapshot of collection-side self-monitoring

ffi.cdef [[
struct ebpfrun_timespec { long tv_sec; long tv_nsec; };
int ebpfrun_clock_gettime(int clock, struct ebpfrun_timespec *ts) asm("clock_gettime");
]]
local ts = ffi.new("struct ebpfrun_timespec")
local function clock(id)
  ffi.C.ebpfrun_clock_gettime(id, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end
local function monotonic() return clock(1) end
local function wall() return clock(0) end

local function log(fmt, ...)
  io.stderr:write("ebpfrun agent: ", fmt:format(...), "\n")
  io.stderr:flush()
end

local function first_line(text) return (tostring(text):match("^[^\n]*")) end

---------------------------------------------------------------------------
-- Configuration: file + flags

local function resolver(scripts_dir)
  return function(name)
    if not name:match("^[%w_]+$") then return nil, "not a collector name" end
    local path = scripts_dir .. "/" .. name .. ".lua"
    local f = io.open(path, "r")
    if not f then
      return nil, ("unknown collector (known: %s)"):format(table.concat(config.DEFAULT_COLLECTORS, ", "))
    end
    f:close()
    return path
  end
end

-- Loads a collector script's definition (nothing is compiled or attached).
local function load_definition(path)
  EBPFRUN_COLLECTOR_LIBRARY = true
  local ok, def = pcall(dofile, path)
  EBPFRUN_COLLECTOR_LIBRARY = nil
  if not ok then return nil, first_line(def) end
  if type(def) ~= "table" or type(def.collect) ~= "function" then
    return nil, ("%s does not return a collector definition"):format(path)
  end
  return def
end

-- The raw table: the file's (if any), then the flags on top.
local function raw_config(args)
  local raw = {}
  if args.config then
    local value, err = config.read(args.config)
    if not value then return nil, { err } end
    raw = value
  end
  if args.listen then raw.listen = args.listen end
  if args.interval then raw.interval = args.interval end
  if args.bpf_stats then raw.bpf_stats = true end
  if args.drop_labels then
    local drop = {}
    for name in args.drop_labels:gmatch("[^,%s]+") do drop[#drop + 1] = name end
    raw.labels = type(raw.labels) == "table" and raw.labels or {}
    raw.labels.drop = drop
  end
  if args.filter and next(args.filter) then
    raw.filter = type(raw.filter) == "table" and raw.filter or {}
    for k, v in pairs(args.filter) do raw.filter[k] = v end
  end
  if args.collectors then
    local from_file = type(raw.collectors) == "table" and raw.collectors or {}
    local chosen = {}
    for name in args.collectors:gmatch("[^,%s]+") do
      local spec = from_file[name]
      chosen[name] = type(spec) == "table" and spec or true
    end
    raw.collectors = chosen
  end
  return raw
end

-- The checked configuration with every collector's definition, or nil and
-- the problems (one line each).
local function load_config(args)
  local raw, problems = raw_config(args)
  if not raw then return nil, problems end
  local cfg
  cfg, problems = config.normalize(raw, core.check_filter, resolver(args.scripts_dir))
  for _, c in ipairs(cfg.collectors) do
    if c.script then
      local def, err = load_definition(c.script)
      if not def then
        problems[#problems + 1] = ("collectors.%s: %s"):format(c.name, err)
      else
        c.def = def
      end
    end
  end
  if #cfg.collectors == 0 and #problems == 0 then problems[#problems + 1] = "no collector is enabled" end
  if #problems > 0 then return nil, problems end
  return cfg
end

-- Prometheus naming problems of every metric the configuration would serve.
local function lint(cfg)
  local problems, seen = {}, {}
  for _, c in ipairs(cfg.collectors) do
    for _, m in ipairs(c.def.metrics or {}) do
      if not seen[m.name] then
        seen[m.name] = true
        for _, p in ipairs(core.lint_metric(m.name, m.type or "", m.help or "", m.labels or {})) do
          problems[#problems + 1] = ("collectors.%s: %s"):format(c.name, p)
        end
      end
    end
  end
  return problems
end

---------------------------------------------------------------------------
-- Collectors

local Agent = {}
Agent.__index = Agent

function Agent:state_of(c)
  core.collector_state { name = c.name, up = c.up, reason = c.reason or "", interval = c.interval,
                         collect_seconds = c.collect_seconds or 0, last_success = c.last_success or 0 }
end

-- Compiles, loads and attaches one collector; on failure it stays in the
-- list, disabled with its reason.
function Agent:open(c)
  local def = c.def
  local opts = { filter = c.filter, json = true, top = 0 }
  for k, v in pairs(c.options or {}) do opts[k] = v end
  local started = monotonic()
  local source = def.source
  if source and not source:find("/", 1, true) then
    source = (c.script:match("^(.*)/[^/]*$") or ".") .. "/../bpf/" .. source
  end
  -- One attach path at a time, for the collectors that have several
  -- (collector.lua): fentry where the kernel allows it, else tracepoints.
  local state, err = collector.load_with(def, opts, { file = source, text = def.text, filter = c.filter,
                                                      defines = def.defines and def.defines(opts) or nil,
                                                      optional = def.optional, also_attach = def.also_attach })
  local obj = state and state.obj
  local stage = "compile"
  if obj then
    stage = "attach"
    local ok, aerr = collector.attach_programs(state)
    if not ok then obj, err = nil, aerr else obj = state.obj end
  end
  if obj then
    if def.start then
      local ok, result, serr = pcall(def.start, state)
      if not ok or result == false then
        stage = "start"
        obj:close()
        obj, err = nil, ok and serr or result
      end
    end
  end
  c.load_seconds = monotonic() - started
  if not obj then
    c.up, c.reason, c.state = false, ("%s: %s"):format(stage, first_line(err)), nil
    self.attach_failures[c.name .. "\0" .. stage] = (self.attach_failures[c.name .. "\0" .. stage] or 0) + 1
    log("collector %s disabled: %s", c.name, c.reason)
  else
    c.up, c.reason, c.state = true, nil, state
    c.families = series.families(def, { drop = c.drop, limit = self.cfg.limit, ttl = self.cfg.ttl })
    log("collector %s attached (%.0f ms)%s", c.name, c.load_seconds * 1000,
        state.path and (", attach path " .. collector.path_text(state)) or "")
  end
  c.next_due = monotonic()
  self:state_of(c)
end

function Agent:close(c)
  if c.state then c.state.obj:close() end
  c.state = nil
  core.metrics_remove(c.name)
end

function Agent:collect(c, now)
  local started = monotonic()
  local ok, rows = pcall(c.def.collect, c.state)
  if not ok or type(rows) ~= "table" then
    c.up, c.reason = false, "collect: " .. first_line(ok and "collect returned no rows" or rows)
    if not c.logged_failure then log("collector %s: %s", c.name, c.reason) end
    c.logged_failure = true
  else
    local families = {}
    for i, f in ipairs(c.families) do
      f:update(rows, now)
      families[i] = f:export()
    end
    core.metrics_publish(c.name, families)
    if c.def.per_process then
      if not c.exited or c.exited.obj ~= c.state.obj then c.exited = exited.tracker(c.state.obj, c.def.per_process) end
      c.exited:collected(rows)
    end
    c.up, c.reason, c.logged_failure = true, nil, nil
    c.last_success = wall()
    local stats = core.object_stats(c.state.obj.raw)
    c.maps, c.programs = stats.maps, stats.programs
    c.full_logged = c.full_logged or {}
    for _, m in ipairs(c.maps) do
      if m.entries and m.type:find("hash", 1, true) and m.entries >= m.max_entries and not c.full_logged[m.name] then
        c.full_logged[m.name] = true
        log("collector %s: map %s is full (%d entries): new keys are not recorded; narrow the collector with a "
            .. "filter (comm, pid, cgroup) or raise the map's max_entries in its BPF source", c.name, m.name,
            m.max_entries)
      end
    end
  end
  c.collect_seconds = monotonic() - started
  self:state_of(c)
end

-- Collection-side self-monitoring, one snapshot of its own (ebpf.agent_self).
function Agent:publish_self() core.metrics_publish(SELF, self_metrics.families(self)) end

function Agent:tick()
  local now = monotonic()
  local any = false
  for _, c in ipairs(self.collectors) do
    if c.state and now >= c.next_due then
      -- Due times advance by whole intervals, so a slow round does not drift.
      repeat c.next_due = c.next_due + c.interval until c.next_due > now
      self:collect(c, now)
      any = true
    end
  end
  if any then
    self:publish_self()
    -- Each collection leaves its rows and exported tables behind: collect
    -- them now, while the loop is idle, rather than let the heap grow to
    -- twice its live size before the collector catches up. Then the C++
    -- heap gives back what the replaced snapshots held.
    collectgarbage("step", 0)
    if self.host.release_memory then self.host.release_memory() end
  end
end

function Agent:start(cfg)
  self.cfg = cfg
  self.collectors = {}
  for _, c in ipairs(cfg.collectors) do
    self.collectors[#self.collectors + 1] = c
    self:open(c)
  end
  for _, c in ipairs(self.collectors) do
    if c.state then self:collect(c, monotonic()) end
  end
  self:publish_self()
end

-- SIGHUP: the new configuration replaces the old one only if it is valid.
-- Collectors whose settings did not change keep running (and their counts);
-- others are closed and/or opened; one that had failed is tried again.
function Agent:reload()
  self.host.notify("RELOADING=1")
  local cfg, problems = load_config(self.args)
  if not cfg then
    for _, p in ipairs(problems) do log("reload refused: %s", p) end
    log("reload refused: the previous configuration stays in force")
    self.host.notify("READY=1\nSTATUS=reload refused: " .. problems[1])
    return
  end
  if cfg.listen ~= self.cfg.listen and not self.args.listen then
    log("listen changed to %s: the new address takes effect on restart", cfg.listen)
  end
  local global_changed = cfg.limit ~= self.cfg.limit or cfg.ttl ~= self.cfg.ttl
  local old = {}
  for _, c in ipairs(self.collectors) do old[c.name] = c end
  local next_list = {}
  for _, c in ipairs(cfg.collectors) do
    local before = old[c.name]
    old[c.name] = nil
    local same = before and before.state and
                 config.fingerprint { before.script, before.filter, before.options } ==
                 config.fingerprint { c.script, c.filter, c.options }
    if same then
      -- Untouched: keep the loaded object; new interval and label rules apply.
      before.interval = c.interval
      if global_changed or config.fingerprint(before.drop) ~= config.fingerprint(c.drop) then
        before.drop = c.drop
        before.families = series.families(before.def, { drop = c.drop, limit = cfg.limit, ttl = cfg.ttl })
      end
      next_list[#next_list + 1] = before
    else
      if before then
        self:close(before)
        log("collector %s changed: reloading", c.name)
      else
        log("collector %s added", c.name)
      end
      next_list[#next_list + 1] = c
    end
  end
  for name, c in pairs(old) do
    self:close(c)
    log("collector %s removed", name)
  end
  local previous = self.cfg
  self.cfg = cfg
  cfg.bpf_stats = previous.bpf_stats -- the stats fd is taken at start only
  self.collectors = next_list
  -- New and changed collectors (a failed one counts as changed: it is tried again).
  for _, c in ipairs(next_list) do
    if c.up == nil then self:open(c) end
  end
  for _, c in ipairs(next_list) do
    if c.state then self:collect(c, monotonic()) end
  end
  self:publish_self()
  log("configuration reloaded: %d collector(s)", #next_list)
  self.host.notify("READY=1\nSTATUS=" .. self:status_text())
end

function Agent:status_text()
  local up, down = 0, 0
  for _, c in ipairs(self.collectors) do
    if c.state then up = up + 1 else down = down + 1 end
  end
  return ("%d collector(s) up, %d disabled"):format(up, down)
end

function Agent:min_interval()
  local m = math.huge
  for _, c in ipairs(self.cfg.collectors) do m = math.min(m, c.interval) end
  return m == math.huge and 1 or m
end

---------------------------------------------------------------------------
-- Entry points

-- `ebpfrun agent --check`: the configuration, every collector and every
-- metric name; one line per problem; nothing is loaded.
function M.check(args)
  local cfg, problems = load_config(args)
  if cfg then problems = lint(cfg) end
  for _, p in ipairs(problems) do io.stderr:write(args.config or "flags", ": ", p, "\n") end
  if #problems > 0 then return 1 end
  local names = {}
  for _, c in ipairs(cfg.collectors) do names[#names + 1] = c.name end
  io.stdout:write(("%s: ok (%s; listen %s)\n"):format(args.config or "flags", table.concat(names, ", "), cfg.listen))
  return 0
end

function M.main(args, host)
  -- The event loop first: from here on SIGHUP/SIGTERM wait for it instead of
  -- killing the agent while its collectors load.
  assert(core.set_tick(0))
  collectgarbage("setpause", 120)
  local cfg, problems = load_config(args)
  if not cfg then
    for _, p in ipairs(problems) do io.stderr:write("ebpfrun agent: ", args.config and (args.config .. ": ") or "", p, "\n") end
    return 1
  end
  local bound, err = host.listen(cfg.listen)
  if not bound then
    io.stderr:write("ebpfrun agent: ", err, "\n")
    return 1
  end
  if cfg.bpf_stats then
    local enabled, serr = host.enable_bpf_stats()
    if not enabled then
      io.stderr:write("ebpfrun agent: --bpf-stats: ", serr, "\n")
      return 1
    end
  end
  local agent = setmetatable({ args = args, host = host, attach_failures = {} }, Agent)
  agent:start(cfg)
  core.agent_started(true)
  local dropped, derr = host.drop_privileges()
  if not dropped then log("could not drop capabilities: %s", derr) end
  log("serving http://%s/metrics; %s", bound, agent:status_text())
  host.notify("READY=1\nSTATUS=" .. agent:status_text())

  local reason = ebpf.run {
    every = math.max(0.05, math.min(1, agent:min_interval())),
    tick = function() agent:tick() end,
    signal = function(signo)
      if signo ~= SIGHUP then return false end
      local rok, rerr = xpcall(function() agent:reload() end, debug.traceback)
      if not rok then log("reload failed: %s", rerr) end
      return true
    end,
  }
  host.notify("STOPPING=1")
  for _, c in ipairs(agent.collectors) do agent:close(c) end
  ebpf.close_all()
  log("stopped (%s); everything detached", reason)
  return 0
end

return M
