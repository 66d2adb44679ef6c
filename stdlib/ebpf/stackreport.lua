-- ebpf.stackreport: what the stack tools (stackcount, offcputime) print,
-- from stacks counted in BPF and symbolized in the host.
--
--   local report = require "ebpf.stackreport"
--   local r = report.new { tool = "offcputime", unit = "us", title = "off-CPU time" }
--   r:add(comm, user_frames, kernel_frames, value, waker)   -- frames from obj:stack, innermost first (or nil);
--                                  waker (offcputime --wakeup): nil or {comm, user, kernel} of the waking task
--   r:print(opts)   -- opts: top, folded, json, svg (the tools' flags)
--
-- Stacks whose frames print the same are merged (the same code in two
-- processes has two user stack ids). Outputs:
--   - a table of the top N stacks by value: value and comm, then the frames,
--     innermost first, kernel above user, indented (BCC's layout);
--   - folded: `comm;outermost;...;innermost VALUE` lines (user frames, then
--     kernel frames: the kernel ran last), the format flame graph tools read;
--     with a waker, the line goes on with `--`, the waker's frames innermost
--     first (kernel, then user) and its comm, as BCC's offwaketime folds;
--   - JSON: one object per stack ({comm, kernel = [...], user = [...], value
--     named by the unit}) or, folded, per line ({stack, value});
--   - --svg FILE: an interactive flame graph (ebpf.flamegraph) of the folded
--     stacks.
--
--   report.run(opts, counts, status)   runs the event loop for a stack tool
--   report.tracing_frame(symbol)        true for the innermost frames a raw
--                                       tracepoint's kernel stack starts with
--
-- User stacks are symbolized at the end, when a short-lived process may be
-- gone; run() therefore looks at the counts map every 100 ms and has the
-- symbolizer open the files of each new process while it still runs (the
-- symbolizer keeps the 64 most recent), and calls status() every
-- opts.interval seconds.
local ebpf = require "ebpf"
local json = require "ebpf.json"

local M = {}

local WARM_EVERY = 0.1

-- counts: a map whose keys have a `pid` and a `user_stack` id.
function M.run(opts, counts, status)
  local seen, since_status = {}, 0
  local function warm()
    for key in counts:pairs() do
      local pid = tonumber(key.pid)
      if key.user_stack >= 0 and not seen[pid] then
        seen[pid] = true
        ebpf.symbolize({ 0 }, pid)
      end
    end
  end
  ebpf.run { duration = opts.duration, every = WARM_EVERY, tick = function()
    warm()
    since_status = since_status + WARM_EVERY
    if opts.interval and since_status >= opts.interval - 1e-6 then
      since_status = 0
      status()
    end
  end }
end

local Report = {}
Report.__index = Report

function M.new(spec)
  return setmetatable({ tool = spec.tool, unit = spec.unit or "count", title = spec.title or spec.tool,
                        stacks = {}, order = {} }, Report)
end

local function names(frames, skip)
  local out = {}
  for _, f in ipairs(frames or {}) do
    if not (skip and #out == 0 and skip(f.symbol)) then out[#out + 1] = f.symbol end
  end
  return out
end

-- A kernel stack taken in a tracepoint program starts inside the tracing
-- machinery (the BPF program, bpf_trace_run<N>, the perf handler of a
-- classic tracepoint, the tracepoint's iterator); those innermost frames say
-- nothing about the traced code.
local MACHINERY = { "^bpf_prog_", "^bpf_trace_run%d", "^__traceiter_", "^__bpf_trace_", "^perf_trace_", "^perf_syscall_",
                    "^trace_call_bpf", "^perf_tp_event" }

function M.tracing_frame(symbol)
  for _, p in ipairs(MACHINERY) do if symbol:match(p) then return true end end
  return false
end

function Report:add(comm, user, kernel, value, waker)
  local u, k = names(user), names(kernel, M.tracing_frame)
  local path = { comm }
  for i = #u, 1, -1 do path[#path + 1] = u[i] end
  for i = #k, 1, -1 do path[#path + 1] = k[i] end
  local w
  if waker then
    w = { comm = waker.comm, user = names(waker.user), kernel = names(waker.kernel, M.tracing_frame) }
    path[#path + 1] = "--"
    for _, f in ipairs(w.kernel) do path[#path + 1] = f end
    for _, f in ipairs(w.user) do path[#path + 1] = f end
    path[#path + 1] = w.comm
  end
  local folded = table.concat(path, ";")
  local s = self.stacks[folded]
  if not s then
    s = { comm = comm, user = u, kernel = k, waker = w, folded = folded, value = 0 }
    self.stacks[folded] = s
    self.order[#self.order + 1] = s
  end
  s.value = s.value + value
end

-- All stacks, the largest value first (ties by folded text, for stable output).
function Report:sorted()
  local list = {}
  for i, s in ipairs(self.order) do list[i] = s end
  table.sort(list, function(a, b) return a.value > b.value or (a.value == b.value and a.folded < b.folded) end)
  return list
end

function Report:write_svg(path)
  local flamegraph = require "ebpf.flamegraph"
  local folded = {}
  for line, s in pairs(self.stacks) do folded[line] = s.value end
  local file, err = io.open(path, "w")
  if not file then return nil, ("cannot write %s: %s"):format(path, tostring(err)) end
  file:write(flamegraph.svg(folded, { title = self.title }))
  file:close()
  return true
end

function Report:print(opts)
  if opts.svg then
    local ok, err = self:write_svg(opts.svg)
    if not ok then return nil, err end
  end
  local list = self:sorted()
  if opts.folded then
    table.sort(list, function(a, b) return a.folded < b.folded end)
    for _, s in ipairs(list) do
      if opts.json then print(json.encode { stack = s.folded, [self.unit] = s.value })
      else print(s.folded .. " " .. s.value) end
    end
    return true
  end
  local top = math.min(opts.top or #list, #list)
  for i = 1, top do
    local s = list[i]
    if opts.json then
      local o = json.object { comm = s.comm, kernel = json.array(s.kernel), user = json.array(s.user), [self.unit] = s.value }
      if s.waker then
        o.waker = json.object { comm = s.waker.comm, kernel = json.array(s.waker.kernel), user = json.array(s.waker.user) }
      end
      print(json.encode(o))
    else
      print(("%12d %s  %s"):format(s.value, self.unit, s.comm))
      for _, f in ipairs(s.kernel) do print("               " .. f) end
      if #s.kernel > 0 and #s.user > 0 then print("               --") end
      for _, f in ipairs(s.user) do print("               " .. f) end
      if s.waker then
        -- The waker below the sleeper, innermost first, as BCC's offwaketime.
        print("               -- woken by " .. s.waker.comm)
        for _, f in ipairs(s.waker.kernel) do print("               " .. f) end
        if #s.waker.kernel > 0 and #s.waker.user > 0 then print("               --") end
        for _, f in ipairs(s.waker.user) do print("               " .. f) end
      end
      print()
    end
  end
  if not opts.json and #list > top then
    print(("(%d more stacks; --top N shows more, --folded all)"):format(#list - top))
  end
  return true
end

return M
