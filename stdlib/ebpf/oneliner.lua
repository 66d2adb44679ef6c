-- One-liner helpers: count(probe, by), hist(probe, expr), trace(probe, fmt,
-- fields). Each generates BPF C for one common question, compiles it, attaches
-- it to `probe` (any attach spec: tracepoint/…, raw_tp/…, uprobe/PATH:SYM, …),
-- and prints like bpftrace on Ctrl-C (or every `interval` seconds). The
-- generated C never contains user text other than validated identifiers and
-- numbers: field names are checked against the tracepoint's format.
local ebpf = require "ebpf"
local ffi = require "ffi"

local M = {}

local function tracefs_dir()
  for _, dir in ipairs({ "/sys/kernel/tracing", "/sys/kernel/debug/tracing" }) do
    local f = io.open(dir .. "/events/header_page")
    if f then f:close(); return dir end
  end
  return "/sys/kernel/tracing"
end

-- Fields of a tracepoint from tracefs: name → {offset, size, signed, type}.
local function tracepoint_fields(category, name)
  local f = io.open(("%s/events/%s/%s/format"):format(tracefs_dir(), category, name))
  if not f then return nil end
  local fields = {}
  for line in f:lines() do
    local decl, offset, size, signed = line:match("field:([^;]+);%s*offset:(%d+);%s*size:(%d+);%s*signed:(%d)")
    if decl and not decl:match("^%s*__data_loc") then
      local fname = decl:match("([%w_]+)%s*%[?[%d]*%]?%s*$")
      if fname then
        fields[fname] = { offset = tonumber(offset), size = tonumber(size), signed = signed == "1", type = decl }
      end
    end
  end
  f:close()
  return fields
end

-- Program section and context access for a spec.
local function probe_kind(probe)
  if type(probe) ~= "string" then error("the probe must be a string such as \"tracepoint/sched/sched_switch\"", 3) end
  local kind, rest = probe:match("^([%w_]+)/(.+)$")
  if not kind then kind, rest = probe, "" end
  local aliases = { tp = "tracepoint", raw_tp = "raw_tracepoint" }
  kind = aliases[kind] or kind
  local section = ({ tracepoint = "tracepoint/" .. rest, raw_tracepoint = "raw_tp/" .. rest, tp_btf = "tp_btf/" .. rest,
                     uprobe = "uprobe", uretprobe = "uretprobe", usdt = "usdt", kprobe = "kprobe/" .. rest,
                     kretprobe = "kretprobe/" .. rest, perf_event = "perf_event" })[kind]
  if not section then error(("unsupported probe '%s'"):format(probe), 3) end
  local info = { kind = kind, section = section }
  if kind == "tracepoint" then
    info.category, info.name = rest:match("^([%w_]+)/([%w_]+)$")
    info.fields = info.category and tracepoint_fields(info.category, info.name)
  end
  return info
end

-- A C expression (as __u64) for a field name, or raises with the valid names.
local function value_expr(info, field)
  if type(field) ~= "string" or not field:match("^[%w_]+$") then error("field names are identifiers", 3) end
  if field == "pid" then return "(bpf_get_current_pid_tgid() >> 32)" end
  if field == "tid" then return "(__u32)bpf_get_current_pid_tgid()" end
  if field == "uid" then return "(__u32)bpf_get_current_uid_gid()" end
  if field == "cpu" then return "bpf_get_smp_processor_id()" end
  if field == "ns" then return "bpf_ktime_get_ns()" end
  if info.kind == "tracepoint" and info.fields then
    local f = info.fields[field]
    if f and f.size <= 8 then
      local ctype = ({ [1] = "8", [2] = "16", [4] = "32", [8] = "64" })[f.size]
      return ("(__u64)*(%s%s *)((char *)ctx + %d)"):format(f.signed and "__s" or "__u", ctype, f.offset)
    end
    local names = {}
    for n, fi in pairs(info.fields) do if not n:match("^common_") and fi.size <= 8 then names[#names + 1] = n end end
    table.sort(names)
    error(("tracepoint %s/%s has no numeric field '%s'; it has: %s, and pid, tid, uid, cpu, ns"):format(
      info.category, info.name, field, table.concat(names, ", ")), 3)
  end
  local arg = field:match("^arg(%d)$")
  if arg and (info.kind == "uprobe" or info.kind == "kprobe" or info.kind == "usdt") then
    return ("(__u64)PT_REGS_PARM%d((struct pt_regs *)ctx)"):format(tonumber(arg) + 1)
  end
  if field == "retval" and (info.kind == "uretprobe" or info.kind == "kretprobe") then
    return "(__u64)PT_REGS_RC((struct pt_regs *)ctx)"
  end
  if arg and info.kind == "raw_tracepoint" then return ("((__u64 *)ctx)[%d]"):format(tonumber(arg)) end
  error(("unknown field '%s' for %s probes (pid, tid, uid, cpu, ns, arg0..arg5, retval)"):format(field, info.kind), 3)
end

local HEADER = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
char LICENSE[] SEC("license") = "GPL";
]]

-- Compiles `source`, lets `setup` open what the run reads (a ring buffer),
-- attaches the program and runs the event loop with run_opts. The object is
-- closed however the run ends (Ctrl-C, duration, an error, a REPL interrupt),
-- so that a one-liner never leaves a probe attached.
local function start(source, probe, run_opts, setup)
  local obj, err = ebpf.compile { text = source }
  if not obj then error(err, 0) end
  local ok, failure = pcall(function()
    if setup then setup(obj) end
    local link, aerr = obj:attach("oneliner", probe)
    if not link then error(aerr, 0) end
    io.stderr:write(("Attaching 1 probe... (%s) Ctrl-C to stop\n"):format(probe))
    local opts = run_opts(obj)
    local finish = opts.finish
    -- Like bpftrace: after the terminal's "^C", the results start on a new line.
    opts.finish = function(reason)
      if reason == "signal" or reason == "stopped" then print() end
      if finish then finish(reason) end
    end
    ebpf.run(opts)
  end)
  obj:close()
  if not ok then error(failure, 0) end
end

-- opts.interval prints every that many seconds; opts.duration (or
-- M.duration) ends the run after that many seconds instead of at Ctrl-C.
-- `show(obj)` prints at every interval and once at the end.
local function periodic(opts, show)
  return function(obj)
    return { every = opts.interval or M.interval, duration = opts.duration or M.duration,
             tick = function() show(obj) end, finish = function() show(obj) end }
  end
end

local function sorted_counts(map, key_of)
  local rows = {}
  for k, v in map:pairs() do rows[#rows + 1] = { key = key_of(k), count = v } end
  table.sort(rows, function(a, b) return a.count < b.count end)
  return rows
end

-- count(probe, by): events per comm | pid | syscall | nothing (total).
function M.count(probe, by, opts)
  local info = probe_kind(probe)
  opts = opts or {}
  local key_type, key_expr = "__u32", "0"
  if by == "comm" then
    key_type = "struct { char comm[16]; }"
  elseif by == "pid" then
    key_expr = "bpf_get_current_pid_tgid() >> 32"
  elseif by == "syscall" then
    if info.kind == "raw_tracepoint" then key_expr = "(__u32)((__u64 *)ctx)[1]"
    elseif info.kind == "tracepoint" and (info.category == "raw_syscalls" or info.category == "syscalls") then
      key_expr = "*(__u32 *)((char *)ctx + 8)"
    else error("count by syscall needs a syscall tracepoint (raw_syscalls/sys_enter or syscalls/*)", 2) end
  elseif by ~= nil then
    error("count(probe, by): by is \"comm\", \"pid\", \"syscall\" or nil", 2)
  end
  local source = HEADER .. ([[
typedef %s oneliner_key_t;
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 10240); __type(key, oneliner_key_t); __type(value, __u64); } counts SEC(".maps");
SEC("%s")
int oneliner(void *ctx)
{
    /*FILTER*/
    oneliner_key_t key;
    __builtin_memset(&key, 0, sizeof(key));
    %s
    __u64 one = 1, *v = bpf_map_lookup_elem(&counts, &key);
    if (v) __sync_fetch_and_add(v, 1); else bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
    return 0;
}
]]):format(key_type, info.section, by == "comm" and "bpf_get_current_comm(key.comm, sizeof(key.comm));"
           or ("key = %s;"):format(key_expr))
  local format_ok, fmt = pcall(require, "ebpf.format")
  local function key_of(k)
    if by == "comm" then return ffi.string(k.comm) end
    if by == "syscall" and format_ok and fmt.syscall_name then return fmt.syscall_name(k) end
    return k
  end
  local function show(obj)
    local rows = sorted_counts(obj:map("counts"), key_of)
    for _, r in ipairs(rows) do
      if by then print(("@[%s]: %d"):format(tostring(r.key), r.count)) else print(("@: %d"):format(r.count)) end
    end
    if opts.reset then obj:map("counts"):clear() end
  end
  start(source, probe, periodic(opts, show))
end

-- hist(probe, expr): log2 histogram of a numeric field.
function M.hist(probe, expr, opts)
  local info = probe_kind(probe)
  local source = HEADER .. ([[
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 65); __type(key, __u32); __type(value, __u64); } buckets SEC(".maps");
SEC("%s")
int oneliner(void *ctx)
{
    /*FILTER*/
    __u64 v = %s;
    __u32 b = 0;
    while (v) { b++; v >>= 1; if (b >= 64) break; }
    __u64 *c = bpf_map_lookup_elem(&buckets, &b);
    if (c) __sync_fetch_and_add(c, 1);
    return 0;
}
]]):format(info.section, value_expr(info, expr))
  local hist = require "ebpf.hist"
  local function show(obj)
    local counts = {}
    for k, v in obj:map("buckets"):pairs() do if v > 0 then counts[k] = v end end
    print(("@%s:"):format(expr))
    io.write(hist.render_log2 and hist.render_log2(counts) or hist.format(counts))
  end
  start(source, probe, periodic(opts or {}, show))
end

-- trace(probe, fmt, fields): prints one line per event with string.format(fmt, ...).
-- Fields: comm, and numeric fields as for hist().
function M.trace(probe, fmt, fields, opts)
  local info = probe_kind(probe)
  fields = fields or {}
  local members, assigns = { "char comm[16];" }, { "bpf_get_current_comm(e->comm, sizeof(e->comm));" }
  for i, f in ipairs(fields) do
    if f ~= "comm" then
      members[#members + 1] = ("__u64 f%d;"):format(i)
      assigns[#assigns + 1] = ("e->f%d = %s;"):format(i, value_expr(info, f))
    end
  end
  local source = HEADER .. ([[
struct event { %s };
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 22); } events SEC(".maps");
SEC("%s")
int oneliner(void *ctx)
{
    /*FILTER*/
    struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) return 0;
    %s
    bpf_ringbuf_submit(e, 0);
    return 0;
}
]]):format(table.concat(members, " "), info.section, table.concat(assigns, "\n    "))
  local duration = (opts or {}).duration or M.duration
  start(source, probe, function() return { duration = duration } end, function(obj)
    local reader = assert(obj:ringbuf("events", "struct event"))
    reader:on(function(e)
      local values = {}
      for i, f in ipairs(fields) do
        if f == "comm" then values[i] = ffi.string(e.comm) else values[i] = tonumber(e["f" .. i]) end
      end
      print(fmt:format(unpack(values)))
    end)
  end)
end

return M
