-- One-liners: ad-hoc questions about one probe, without writing BPF C.
--
--   count(probe, by, opts)             events per key (by: nil, "comm", or {"comm", "ret"};
--                                      "kstack"/"ustack" key by stack, ebpf.oneliner_stacks)
--   sum / min / max / avg / stats(probe, value, opts)     of a numeric field, opts.by keys
--   hist(probe, value, opts)           power-of-two histogram (per opts.by key)
--   lhist(probe, value, min, max, step, opts)             linear histogram
--   latency(probe_a, probe_b, opts)    time from a to b on the same thread, histogram
--   trace(probe, "%s opened %s", "comm", "str(filename)", opts)   one line per event
--   trace(probe, "comm", "str(filename)")                 fields, space separated
--
-- Probes: tracepoint/CAT/NAME (a glob such as "tracepoint/syscalls/sys_enter_open*"
-- attaches to every match, up to 512, and the "probe" key names the one that
-- fired), raw_tp/NAME, tp_btf/NAME, uprobe/PATH:SYM (SYM may be a glob too),
-- perf_event, ...
-- opts: by (keys), where ("pid == 1 && ret < 0", see ebpf.oneliner_where),
-- interval, duration, reset, format ("text" or "json"; -f json sets it).
-- Fields come from the probe (ebpf.oneliner_fields): numbers, char[] and
-- __data_loc strings, str(ptr) user strings, comm/pid/tid/uid/cpu/ns/probe,
-- and struct members through pointers: "next->comm", "curtask->real_parent->tgid"
-- (ebpf.oneliner_paths).
-- Each helper generates BPF C (ebpf.oneliner_codegen), compiles it, attaches
-- it and prints (the common count/sum/hist forms at tracepoints instead load
-- the prebuilt generic program, ebpf.oneliner_prebuilt, with the same output) like bpftrace on Ctrl-C (or every `interval` seconds); the
-- object is closed however the run ends, so a one-liner never leaves a probe
-- attached. Misuse raises "usage: NAME: argument N: ..." (exit 2 under -e).
local ebpf = require "ebpf"
local ffi = require "ffi"
local F = require "ebpf.oneliner_fields"
local W = require "ebpf.oneliner_where"
local C = require "ebpf.oneliner_codegen"
local S = require "ebpf.oneliner_stacks"
local P = require "ebpf.oneliner_prebuilt"
require "ebpf.oneliner_paths"

local M = {}

local OPTIONS = { by = true, where = true, interval = true, duration = true, reset = true, format = true }

local function check_opts(fn, argn, opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then F.usage(fn, argn, ("options are a table such as { duration = 5 }, not a %s"):format(type(opts))) end
  for k, v in pairs(opts) do
    if not OPTIONS[k] then
      F.usage(fn, argn, ("unknown option '%s' (by, where, interval, duration, reset, format)"):format(tostring(k)))
    end
    if (k == "interval" or k == "duration") and (type(v) ~= "number" or v <= 0) then
      F.usage(fn, argn, ("%s is a positive number of seconds"):format(k))
    end
    if k == "format" and v ~= "text" and v ~= "json" then F.usage(fn, argn, "format is \"text\" or \"json\"") end
  end
  return opts
end

local function is_list(t)
  if type(t) ~= "table" then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

-- The syscall key reads the syscall number and prints its name.
local function syscall_key(info)
  local expr
  if info.kind == "raw_tracepoint" then expr = "(__s64)((__u64 *)ctx)[1]"
  elseif info.kind == "tracepoint" and (info.category == "raw_syscalls" or info.category == "syscalls") then
    expr = "(__s64)*(__s32 *)((char *)ctx + 8)"
  else return nil, "the key \"syscall\" needs a syscall tracepoint (raw_syscalls/sys_enter or syscalls/*)" end
  local ok, fmt = pcall(require, "ebpf.format")
  return { kind = "num", expr = expr, signed = true,
           show = function(v) return ok and fmt.syscall_name and fmt.syscall_name(tonumber(v)) or tonumber(v) end }
end
F.extra.syscall = syscall_key

-- Keys from `by`: nil, one name, or a list of names.
local function resolve_keys(fn, argn, info, by)
  if by == nil then return {}, {} end
  local names = by
  if type(by) == "string" then names = { by }
  elseif not is_list(by) or #by == 0 then
    F.usage(fn, argn, "keys are a field name or a list of them, such as \"comm\" or {\"comm\", \"ret\"}; options go in the last argument")
  end
  local keys, bytes = {}, 0
  for i, name in ipairs(names) do
    keys[i] = F.resolve(info, name, fn, argn)
    bytes = bytes + (keys[i].kind == "str" and keys[i].size or 8)
  end
  -- The key is built on the BPF stack, which holds 512 bytes in all.
  if bytes > 320 then F.usage(fn, argn, ("the keys take %d bytes, more than the 320 a one-liner allows (fewer strings)"):format(bytes)) end
  return keys, names
end

local function compile_where(fn, info, where)
  if where == nil then return nil end
  local ok, ast = pcall(W.parse, where)
  if not ok then F.usage(fn, nil, ast) end
  local function lookup(name) return F.lookup(info, name) end
  local compiled_ok, compiled = pcall(W.compile, ast, lookup, F.names(info))
  if not compiled_ok then F.usage(fn, nil, compiled) end
  return compiled
end

local function json_mode(opts) return (opts.format or ebpf.options.format) == "json" end

-- Compiles, lets `setup` open readers, attaches program → probe pairs and
-- runs the loop with run_opts(obj).
-- The (program, probe) pairs of a probe: one per match of a wildcard.
local function points(program, info) return F.attach_points(info, program) end

-- `source` is the generated C, or ebpf.compile's arguments (a prebuilt plan).
local function start(source, attach, run_opts, setup)
  local obj, err = ebpf.compile(type(source) == "table" and source or { text = source })
  if not obj then
    -- Kernels that refuse fentry/fexit (this project's reference host does)
    -- refuse the load, before any attach could name the probe.
    for _, a in ipairs(attach) do
      local kind, func = a[2]:match("^(%a+)/(.+)$")
      if (kind == "fentry" or kind == "fexit") and type(err) == "table" and err.kind == "permission" then
        error(("cannot load %s: this kernel refuses fentry/fexit programs (see `ebpfrun doctor`); "
          .. "kprobe/%s or a tracepoint may work instead (%s)"):format(a[2], func, tostring(err)), 0)
      end
    end
    error(err, 0)
  end
  local ok, failure = pcall(function()
    if setup then setup(obj) end
    for _, a in ipairs(attach) do
      local link, aerr = obj:attach(a[1], a[2])
      if not link then error(aerr, 0) end
    end
    local probes = {}
    for i, a in ipairs(attach) do
      if i <= 4 then probes[i] = a[2] end
    end
    if #attach > 4 then probes[5] = ("and %d more"):format(#attach - 4) end
    io.stderr:write(("Attaching %d probe%s... (%s) Ctrl-C to stop\n"):format(#attach, #attach > 1 and "s" or "",
      table.concat(probes, ", ")))
    local opts = run_opts(obj)
    local finish = opts.finish
    opts.finish = function(reason)
      if reason == "signal" or reason == "stopped" then print() end
      if finish then finish(reason) end
    end
    ebpf.run(opts)
  end)
  obj:close()
  if not ok then error(failure, 0) end
end

-- With a user stack key, a function that has the symbolizer open the files
-- of each new process in the aggregate map while it still runs (the stacks
-- are symbolized when they are printed, maybe after the process exited).
local function stack_warmer(obj, keys)
  local fields = {}
  for i, d in ipairs(keys or {}) do if d.pid_of then fields[#fields + 1] = { "k" .. i, d.pid_of } end end
  if #fields == 0 then return nil end
  local seen = {}
  return function()
    for k in obj:map("aggregate"):pairs() do
      for _, f in ipairs(fields) do
        local pid = f[2](k[f[1]])
        if pid and not seen[pid] then
          seen[pid] = true
          ebpf.symbolize({ 0 }, pid)
        end
      end
    end
  end
end

local WARM_EVERY = 0.1

local function periodic(opts, show, keys)
  return function(obj)
    local every, duration = opts.interval or M.interval, opts.duration or M.duration
    local warm = stack_warmer(obj, keys)
    if not warm then
      return { every = every, duration = duration, tick = function() show(obj) end, finish = function() show(obj) end }
    end
    local since = 0
    return { every = WARM_EVERY, duration = duration, finish = function() show(obj) end, tick = function()
      warm()
      since = since + WARM_EVERY
      if every and since >= every - 1e-6 then
        since = 0
        show(obj)
      end
    end }
  end
end

-- A stack key starts a new line, so the comma before it ends its line.
local function key_text(key)
  local text = ""
  for i, v in ipairs(key) do
    local part = tostring(v)
    if i > 1 then text = text .. (part:sub(1, 1) == "\n" and "," or ", ") end
    text = text .. part
  end
  return text
end

-- Reads the aggregate map into rows {key = {values}, count, sum, min, max,
-- bucket}. Rows whose keys print the same are merged: two user stack ids of
-- one program in two processes are one stack to the reader. `fields` names
-- the key member of each key (the generic program's); k1, k2, ... otherwise.
local function read_rows(obj, keys, bucketed, fields)
  local rows, seen = {}, {}
  for k, v in obj:map("aggregate"):pairs() do
    local key = {}
    for i, d in ipairs(keys) do key[i] = F.show(d, k[fields and fields[i] or "k" .. i], obj) end
    local row = { key = key, bucket = bucketed and tonumber(k.bucket), count = tonumber(v.count),
                  sum = tonumber(v.sum), min = tonumber(v.min), max = tonumber(v.max) }
    local id = key_text(key) .. "\0" .. tostring(row.bucket)
    local old = seen[id]
    if old then
      old.count, old.sum = old.count + row.count, old.sum + row.sum
      old.min, old.max = math.min(old.min, row.min), math.max(old.max, row.max)
    else
      seen[id] = row
      rows[#rows + 1] = row
    end
  end
  return rows
end

local function has_stack(keys)
  for _, d in ipairs(keys) do if d.kind == "stack" then return true end end
  return false
end

-- A key's value in JSON: a stack is its list of frames.
local function json_value(v)
  if S.is_stack(v) then return v:json() end
  return v
end

-- JSON keyed by stacks is a list of {keys = {name = value}, value = ...}:
-- a stack is a list of frames, which cannot be an object key.
local function json_entry(names, key, value)
  local json = require "ebpf.json"
  local k = json.object {}
  for i, name in ipairs(names) do k[name] = json_value(key[i]) end
  return json.object { keys = k, value = value }
end

local function emit_json(name, value)
  local json = require "ebpf.json"
  print(json.encode(json.object { name = name, data = value }))
end

local STATS = {
  count = function(r) return r.count end, sum = function(r) return r.sum end, min = function(r) return r.min end,
  max = function(r) return r.max end, avg = function(r) return math.floor(r.sum / r.count) end,
}

-- count/sum/min/max/avg/stats share one program; `what` picks the column.
local function aggregate(fn, what, probe, value, opts, value_argn)
  local info = F.probe(probe, fn, 1)
  opts = check_opts(fn, value_argn + 1, opts)
  local vd
  if what ~= "count" then
    vd = F.resolve(info, value, fn, value_argn)
    if vd.kind ~= "num" then F.usage(fn, value_argn, ("'%s' is a string; %s needs a number"):format(value, fn)) end
  end
  local keys, names
  if what == "count" and value ~= nil then keys, names = resolve_keys(fn, value_argn, info, value)
  else keys, names = resolve_keys(fn, value_argn + 1, info, opts.by) end
  local where = compile_where(fn, info, opts.where)
  local plan = P.plan(info, names, what ~= "count" and value or nil, nil, opts, F.extra)
  local fields = plan and plan.fields
  local label = what == "count" and "@" or ("@" .. what)
  local function show(obj)
    local rows = read_rows(obj, keys, nil, fields)
    local metric = STATS[what] or STATS.count
    table.sort(rows, function(a, b) return metric(a) < metric(b) end)
    if json_mode(opts) then
      local out = has_stack(keys) and require("ebpf.json").array {} or {}
      for _, r in ipairs(rows) do
        local entry = what == "stats" and { count = r.count, average = math.floor(r.sum / r.count), total = r.sum } or metric(r)
        if #names == 0 then out = entry
        elseif has_stack(keys) then out[#out + 1] = json_entry(names, r.key, entry)
        else out[key_text(r.key)] = entry end
      end
      emit_json(label, out)
    else
      for _, r in ipairs(rows) do
        local shown = what == "stats" and ("count %d, average %d, total %d"):format(r.count, math.floor(r.sum / r.count), r.sum)
          or ("%d"):format(metric(r))
        if #names > 0 then print(("%s[%s]: %s"):format(label, key_text(r.key), shown)) else print(("%s: %s"):format(label, shown)) end
      end
    end
    if opts.reset then obj:map("aggregate"):clear() end
  end
  if plan then return start(plan.compile, plan.attach, periodic(opts, show, keys)) end
  start(C.aggregate(info, keys, vd, nil, where), points("oneliner", info), periodic(opts, show, keys))
end

function M.count(probe, by, opts) return aggregate("count", "count", probe, by, opts, 2) end
for _, what in ipairs({ "sum", "min", "max", "avg", "stats" }) do
  M[what] = function(probe, value, opts) return aggregate(what, what, probe, value, opts, 2) end
end

-- Prints histograms grouped by key.
local function show_hists(opts, label, keys, names, render, fields)
  return function(obj)
    local groups, order, key_of = {}, {}, {}
    for _, r in ipairs(read_rows(obj, keys, true, fields)) do
      local k = key_text(r.key)
      if not groups[k] then groups[k] = {}; order[#order + 1] = k; key_of[k] = r.key end
      groups[k][r.bucket] = (groups[k][r.bucket] or 0) + r.count
    end
    table.sort(order)
    local out = has_stack(keys) and require("ebpf.json").array {} or {}
    for _, k in ipairs(order) do
      local h = render(groups[k])
      if json_mode(opts) then
        if #names == 0 then out = h:to_json_table()
        elseif has_stack(keys) then out[#out + 1] = json_entry(names, key_of[k], h:to_json_table())
        else out[k] = h:to_json_table() end
      else
        print(#names > 0 and ("%s[%s]:"):format(label, k) or (label .. ":"))
        io.write(h:format())
        print()
      end
    end
    if json_mode(opts) then emit_json(label, out) end
    if opts.reset then obj:map("aggregate"):clear() end
  end
end

local function numeric(fn, info, value, argn)
  local vd = F.resolve(info, value, fn, argn)
  if vd.kind ~= "num" then F.usage(fn, argn, ("'%s' is a string; %s needs a number"):format(value, fn)) end
  return vd
end

function M.hist(probe, value, opts)
  local info = F.probe(probe, "hist", 1)
  local vd = numeric("hist", info, value, 2)
  opts = check_opts("hist", 3, opts)
  local keys, names = resolve_keys("hist", 3, info, opts.by)
  local where = compile_where("hist", info, opts.where)
  local hist = require "ebpf.hist"
  local plan = P.plan(info, names, value, "log2", opts, F.extra)
  local show = show_hists(opts, "@" .. value, keys, names, hist.hist, plan and plan.fields)
  if plan then return start(plan.compile, plan.attach, periodic(opts, show, keys)) end
  start(C.aggregate(info, keys, vd, "log2", where), points("oneliner", info), periodic(opts, show, keys))
end

function M.lhist(probe, value, min, max, step, opts)
  local info = F.probe(probe, "lhist", 1)
  local vd = numeric("lhist", info, value, 2)
  local bounds = { min, max, step }
  for i = 1, 3 do
    local n = bounds[i]
    if type(n) ~= "number" or n % 1 ~= 0 or math.abs(n) >= 2 ^ 53 then
      F.usage("lhist", i + 2, "lhist(probe, value, min, max, step, opts): min, max and step are integers")
    end
  end
  if step <= 0 or max <= min or (max - min) / step > 1000 then
    F.usage("lhist", 5, "needs min < max, step > 0 and at most 1000 buckets")
  end
  opts = check_opts("lhist", 6, opts)
  local keys, names = resolve_keys("lhist", 6, info, opts.by)
  local source = C.aggregate(info, keys, vd, { min = min, max = max, step = step }, compile_where("lhist", info, opts.where))
  local hist = require "ebpf.hist"
  start(source, points("oneliner", info), periodic(opts, show_hists(opts, "@" .. value, keys, names,
    function(counts) return hist.lhist(min, max, step, counts) end), keys))
end

function M.latency(probe_a, probe_b, opts)
  local info_a = F.probe(probe_a, "latency", 1)
  local info_b = F.probe(probe_b, "latency", 2)
  opts = check_opts("latency", 3, opts)
  local keys, names = resolve_keys("latency", 3, info_b, opts.by)
  local source = C.latency(info_a, info_b, keys, compile_where("latency", info_a, opts.where))
  local hist = require "ebpf.hist"
  local attach = points("oneliner_start", info_a)
  for _, p in ipairs(points("oneliner", info_b)) do attach[#attach + 1] = p end
  start(source, attach,
    periodic(opts, show_hists(opts, "@ns", keys, names, hist.hist), keys))
end

-- trace(probe, [fmt,] field..., [opts]) and the older trace(probe, fmt, {fields}, opts).
function M.trace(probe, ...)
  local info = F.probe(probe, "trace", 1)
  local args, n = { ... }, select("#", ...)
  local fmt, specs, opts
  if type(args[2]) == "table" and is_list(args[2]) and type(args[1]) == "string" then
    fmt, specs, opts = args[1], args[2], check_opts("trace", 4, args[3])
    if n > 3 then F.usage("trace", 5, "trace(probe, fmt, {fields}, opts) takes nothing after opts") end
  else
    specs = {}
    for i = 1, n do
      local a = args[i]
      if type(a) == "table" and i == n then opts = check_opts("trace", i + 1, a)
      elseif type(a) ~= "string" then
        F.usage("trace", i + 1, ("expected a format or a field name (a string), not a %s"):format(type(a)))
      elseif i == 1 and a:find("%", 1, true) then fmt = a
      else specs[#specs + 1] = a end
    end
    opts = opts or {}
  end
  local ds = {}
  for i, s in ipairs(specs) do ds[i] = F.resolve(info, s, "trace", i + 2) end
  if fmt then
    local probe_values = {}
    for i, d in ipairs(ds) do probe_values[i] = d.kind == "num" and 1 or "x" end
    local ok, why = pcall(string.format, fmt, unpack(probe_values))
    if not ok then F.usage("trace", 2, ("the format does not fit the fields: %s"):format(why)) end
  end
  local source = C.events(info, ds, compile_where("trace", info, opts.where))
  local json = json_mode(opts)
  start(source, points("oneliner", info), function() return { duration = opts.duration or M.duration } end, function(obj)
    local reader = assert(obj:ringbuf("events", "struct oneliner_event"))
    reader:on(function(e)
      local values = {}
      for i, d in ipairs(ds) do values[i] = F.show(d, e["f" .. i], obj) end
      if json then
        local j = require "ebpf.json"
        local o = {}
        for i, s in ipairs(specs) do o[s] = json_value(values[i]) end
        print(j.encode(j.object(o)))
      elseif fmt then
        for i, d in ipairs(ds) do if d.kind == "stack" then values[i] = tostring(values[i]) end end
        print(fmt:format(unpack(values, 1, #ds)))
      else
        local text = ""
        for i = 1, #ds do
          local part = tostring(values[i])
          text = text .. ((i == 1 or part:sub(1, 1) == "\n") and "" or " ") .. part
        end
        print(text)
      end
    end)
  end)
end

return M
