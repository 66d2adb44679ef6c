-- profile: on-CPU sampling with user and kernel stacks.
--   ebpfrun scripts/profile.lua [-F HZ] [--duration S] [--pid N] [--comm X] [--top N] [--folded] [--json]
-- Every CPU is sampled at HZ by a perf_event program (bpf/profile.bpf.c) that
-- counts samples per process and stack pair; at the end the stacks are
-- symbolized in the host (ebpf.symbolize: kallsyms, and ELF/DWARF through
-- /proc/PID/root) and printed as the top functions by samples, or with
-- --folded as `comm;outermost;...;innermost count` lines, the format
-- flame graph tools read. The user stack follows frame pointers, so code
-- built without them shows only its innermost frame.
local ebpf = require "ebpf"
local args = require "ebpf.args"
local collector = require "ebpf.collector"
local ffi = require "ffi"

local spec = {
  name = "profile",
  description = "Sample on-CPU stacks at a fixed rate on every CPU; print the top functions or folded stacks.",
  options = {
    { "-F", "--frequency", type = "int", default = 49, metavar = "HZ", help = "samples per second per CPU" },
    { "--top", type = "int", default = 10, metavar = "N", help = "functions to show in the table" },
    { "--folded", type = "flag", help = "print folded stacks (comm;frame;...;frame count) instead of the table" },
    { "--svg", type = "string", metavar = "FILE", help = "also write an interactive SVG flame graph to FILE" },
  },
  standard = { "pid", "tid", "comm", "uid", "cgroup", "json", "interval", "duration" },
}
local opts = args.parse(arg, spec)
if opts.frequency < 1 or opts.frequency > 10000 then
  io.stderr:write("profile: error: --frequency must be between 1 and 10000\n")
  os.exit(2)
end
if opts.top < 1 then
  io.stderr:write("profile: error: --top must be at least 1\n")
  os.exit(2)
end

local obj, err = ebpf.compile { file = collector.bpf_path("profile.bpf.c"), filter = opts.filter }
if not obj then
  io.stderr:write("profile: ", tostring(err), "\n")
  os.exit(1)
end
local link
link, err = obj:attach("profile_sample", "perf_event/cpu-clock:freq=" .. opts.frequency)
if not link then
  io.stderr:write("profile: ", tostring(err), "\n")
  obj:close()
  os.exit(1)
end
local counts = assert(obj:map("profile_counts"))
local function samples()
  local n = 0
  for _, count in counts:pairs() do n = n + count end
  return n
end
ebpf.run { duration = opts.duration, every = opts.interval,
           tick = opts.interval and function() io.stderr:write("profile: ", samples(), " samples\n") end }

-- Frames outermost first, as folded stacks and flame graphs want them.
local function outer_first(frames, into)
  for i = #frames, 1, -1 do into[#into + 1] = frames[i].symbol end
end

local json = require "ebpf.json"
local stacks = {}
local leaf_counts, total = {}, 0
for key, count in counts:pairs() do
  local comm = ffi.string(key.comm)
  local path = { comm }
  local user, kernel
  if key.user_stack >= 0 then user = obj:stack("profile_stacks", key.user_stack, key.pid) end
  if key.kernel_stack >= 0 then kernel = obj:stack("profile_stacks", key.kernel_stack) end
  if user then outer_first(user, path) end
  if kernel then outer_first(kernel, path) end
  local line = table.concat(path, ";")
  stacks[line] = (stacks[line] or 0) + count
  local leaf = path[#path]
  leaf_counts[leaf] = (leaf_counts[leaf] or 0) + count
  total = total + count
end
obj:close()

if opts.svg then
  local flamegraph = require "ebpf.flamegraph"
  local file, open_err = io.open(opts.svg, "w")
  if not file then
    io.stderr:write("profile: cannot write ", opts.svg, ": ", tostring(open_err), "\n")
    os.exit(1)
  end
  file:write(flamegraph.svg(stacks, { title = "profile: on-CPU samples" }))
  file:close()
end

if opts.folded then
  local lines = {}
  for line, count in pairs(stacks) do lines[#lines + 1] = line .. " " .. count end
  table.sort(lines)
  for _, line in ipairs(lines) do
    if opts.json then
      local stack, count = line:match("^(.*) (%d+)$")
      print(json.encode { stack = stack, samples = tonumber(count) })
    else
      print(line)
    end
  end
  os.exit(0)
end

local rows = {}
for name, count in pairs(leaf_counts) do rows[#rows + 1] = { name = name, count = count } end
table.sort(rows, function(a, b) return a.count > b.count or (a.count == b.count and a.name < b.name) end)
if opts.json then
  for i = 1, math.min(opts.top, #rows) do
    print(json.encode { ["function"] = rows[i].name, samples = rows[i].count,
                        percent = 100 * rows[i].count / total })
  end
  os.exit(0)
end
print(string.format("%-48s %10s %7s", "FUNCTION", "SAMPLES", "%"))
for i = 1, math.min(opts.top, #rows) do
  print(string.format("%-48s %10d %6.1f%%", rows[i].name, rows[i].count, 100 * rows[i].count / total))
end
