-- ebpf.oneliner_fields: what a one-liner can read at a probe, as C.
--
--   local F = require "ebpf.oneliner_fields"
--   local info = F.probe("tracepoint/syscalls/sys_enter_openat", "trace", 1)
--   local d = F.resolve(info, "str(filename)", "trace", 3)
--   F.usage(fn, argn, message)      raises a one-liner usage error
--
-- A descriptor says how to get one value: numbers are {kind = "num", expr =
-- C expression of type __s64/__u64, signed}, strings {kind = "str", size,
-- fill = function(dst) -> C statements that write a NUL-terminated string
-- into the char array `dst`}. Everything in the C comes from the probe's
-- format file or from this file, never from the user's text: names are looked
-- up, offsets are numbers.
--
-- Paths through kernel structs ("next->comm", "curtask->real_parent->tgid")
-- plug in the same way through F.path(info, path, reader) (ebpf.oneliner_paths).
--
-- Extra key kinds (stack ids from the stacks work, say) plug in through
-- F.extra[name] = function(info) return descriptor end; a descriptor of a
-- new kind also gives `member(name)` (its C member declaration), `fill(dst)`,
-- `show(value, obj)` (the Lua value of one key; obj is the loaded object, to
-- look up a stack map) and optionally `decl` (C placed before the program,
-- such as a BPF_MAP_TYPE_STACK_TRACE map), which the code generator and
-- printers use instead of the built-in "num"/"str" handling.

local F = { extra = {} }

-- The one-liner helpers (globals under -e and in the REPL), for completion.
F.HELPERS = { "count", "sum", "min", "max", "avg", "stats", "hist", "lhist", "latency", "trace" }

-- Usage errors start with "usage: " so that `ebpfrun -e` can tell them from
-- runtime failures (exit 2, one line) while the REPL shows them as they are.
function F.usage(fn, argn, message)
  if argn then error(("usage: %s: argument %d: %s"):format(fn, argn, message), 0) end
  error(("usage: %s: %s"):format(fn, message), 0)
end

local function tracefs_dir()
  for _, dir in ipairs({ "/sys/kernel/tracing", "/sys/kernel/debug/tracing" }) do
    local f = io.open(dir .. "/events/header_page")
    if f then f:close(); return dir end
  end
  return "/sys/kernel/tracing"
end

-- Parses one "field:" line of a tracepoint format file; exported for tests.
function F.parse_field(line)
  local decl, offset, size, signed = line:match("field:([^;]+);%s*offset:(%d+);%s*size:(%d+);%s*signed:(%d)")
  if not decl then return nil end
  local data_loc = decl:match("^%s*__data_loc") ~= nil
  local name, count = decl:match("([%w_]+)%s*%[(%d*)%]%s*$")
  if not name then name = decl:match("([%w_]+)%s*$") end
  if not name then return nil end
  local field = { name = name, offset = tonumber(offset), size = tonumber(size), signed = signed == "1", type = decl }
  if data_loc then
    field.kind = "data_loc"
  elseif count and decl:match("char%s") then
    field.kind = "chars"
  elseif decl:match("%*") then
    field.kind = "pointer"
  elseif field.size <= 8 and not count then
    field.kind = "int"
  else
    field.kind = "other"
  end
  return field
end

function F.parse_format(text)
  local fields = {}
  for line in text:gmatch("[^\n]+") do
    local field = F.parse_field(line)
    if field then fields[field.name] = field end
  end
  return fields
end

local SECTIONS = {
  tracepoint = "tracepoint/", raw_tracepoint = "raw_tp/", tp_btf = "tp_btf/", kprobe = "kprobe/",
  kretprobe = "kretprobe/", fentry = "fentry/", fexit = "fexit/", uprobe = "uprobe", uretprobe = "uretprobe", usdt = "usdt", perf_event = "perf_event",
}

-- The program section and the fields of a probe spec.
function F.probe(probe, fn, argn)
  if type(probe) ~= "string" then
    F.usage(fn, argn, ("the probe must be a string such as \"tracepoint/sched/sched_switch\", not a %s"):format(type(probe)))
  end
  local kind, rest = probe:match("^([%w_]+)/(.+)$")
  if not kind then kind, rest = probe, "" end
  kind = ({ tp = "tracepoint", raw_tp = "raw_tracepoint" })[kind] or kind
  local prefix = SECTIONS[kind]
  if not prefix then F.usage(fn, argn, ("unsupported probe '%s' (tracepoint/CAT/NAME, raw_tp/NAME, uprobe/PATH:SYM, ...)"):format(probe)) end
  local info = { kind = kind, probe = probe, section = prefix:sub(-1) == "/" and prefix .. rest or prefix }
  if kind == "tracepoint" and rest:find("[%*%?%[]") then return F.wildcard(info, rest, fn, argn) end
  if (kind == "uprobe" or kind == "uretprobe") and (rest:match(":([^:]*)$") or ""):find("[%*%?%[]") then
    return F.uprobe_wildcard(info, kind, rest, fn, argn)
  end
  if kind == "tracepoint" then
    info.category, info.name = rest:match("^([%w_]+)/([%w_]+)$")
    if not info.category then F.usage(fn, argn, ("tracepoint '%s' is not CATEGORY/NAME"):format(rest)) end
    local f = io.open(("%s/events/%s/%s/format"):format(tracefs_dir(), info.category, info.name))
    if not f then F.usage(fn, argn, ("no tracepoint %s/%s (see ebpfrun -l '%s:*')"):format(info.category, info.name, info.category)) end
    info.fields = F.parse_format(f:read("*a"))
    f:close()
  elseif kind == "fentry" or kind == "fexit" then
    F.function_args(info, rest, fn, argn)
  elseif (kind == "kprobe" or kind == "kretprobe") and rest:match("^[%a_][%w_.]*$") then
    F.kprobe_args(info, rest)
  end
  return info
end

-- A wildcard probe attaches one program to every tracepoint that matches.
F.MAX_MATCHES = 512

local function read_file(path)
  local f = io.open(path)
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return text
end

local function check_matches(fn, argn, pattern, count, what)
  if count == 0 then F.usage(fn, argn, ("no %s matches '%s' (list them with ebpfrun -l '%s')"):format(what, pattern, pattern)) end
  if count > F.MAX_MATCHES then
    F.usage(fn, argn, ("'%s' matches %d %ss, more than the %d a one-liner attaches to; narrow the pattern"):format(
      pattern, count, what, F.MAX_MATCHES))
  end
end

-- "tracepoint/syscalls/sys_enter_open*": info.matches lists the probes. The
-- fields are those all the matches have at the same place, so that one
-- program body reads them right at each.
function F.wildcard(info, glob, fn, argn)
  local ok, ebpf = pcall(require, "ebpf")
  if not ok or type(ebpf) ~= "table" or not ebpf.tracepoints then F.usage(fn, argn, "wildcard probes need ebpfrun") end
  local found, err = ebpf.tracepoints(glob)
  if not found then F.usage(fn, argn, tostring(err)) end
  -- The ftrace category holds the tracer's own record formats (function,
  -- bprint, ...), which no BPF program can attach to.
  local names = {}
  for _, name in ipairs(found) do
    if not name:match("^ftrace/") then names[#names + 1] = name end
  end
  check_matches(fn, argn, glob, #names, "tracepoint")
  local dir = tracefs_dir()
  info.matches, info.wildcard = {}, glob
  local common
  for i, name in ipairs(names) do
    info.matches[i] = "tracepoint/" .. name
    local format = read_file(("%s/events/%s/format"):format(dir, name))
    if not format then F.usage(fn, argn, ("cannot read tracepoint %s in %s"):format(name, dir)) end
    local fields = F.parse_format(format)
    if not common then
      common = fields
    else
      for n, f in pairs(common) do
        local g = fields[n]
        if not g or g.offset ~= f.offset or g.size ~= f.size or g.type ~= f.type then common[n] = nil end
      end
    end
  end
  info.category, info.name = names[1]:match("^([^/]+)/(.+)$")
  info.section = info.matches[1]
  info.sections = info.matches
  info.fields = common
  return info
end

-- "uprobe/libc:str*": a uprobe on every function of the binary whose name
-- matches (the symbols `ebpfrun -l uprobe/PATH:GLOB` lists). Their fields are
-- arg0 .. arg5, the same at each.
function F.uprobe_wildcard(info, kind, rest, fn, argn)
  local binary, glob = rest:match("^(.*):([^:]+)$")
  local ok, ebpf = pcall(require, "ebpf")
  if not ok or type(ebpf) ~= "table" or not ebpf.function_symbols then F.usage(fn, argn, "wildcard probes need ebpfrun") end
  local path, symbols = ebpf.function_symbols(binary, glob)
  if not path then F.usage(fn, argn, tostring(symbols)) end
  check_matches(fn, argn, ("%s/%s"):format(kind, rest), #symbols, "function")
  info.matches, info.sections, info.wildcard = {}, {}, rest
  for i, sym in ipairs(symbols) do
    info.matches[i] = ("%s/%s:%s"):format(kind, path, sym)
    info.sections[i] = info.section
  end
  return info
end

-- The (program, probe) pairs to attach: a wildcard's entry points
-- (PROGRAM_0, PROGRAM_1, ...) each to its match, or the program to the probe.
function F.attach_points(info, program)
  if not info.matches then return { { program, info.probe } } end
  local out = {}
  for i, m in ipairs(info.matches) do out[i] = { ("%s_%d"):format(program, i - 1), m } end
  return out
end

-- The "probe" key: which probe fired (bpftrace's `probe`). A wildcard's
-- program is one body with an entry point per match, which passes the
-- match's index as `oneliner_probe` (ebpf.oneliner_codegen's fan_out).
F.extra.probe = function(info)
  if not info.matches then
    return { kind = "num", expr = "0", signed = false, show = function() return info.probe end }
  end
  return { kind = "num", expr = "(__s64)oneliner_probe", signed = false, show = function(v)
    return info.matches[tonumber(v) + 1] or ("probe " .. tostring(tonumber(v)))
  end }
end

local BUILTINS = {
  pid = "(__s64)(bpf_get_current_pid_tgid() >> 32)",
  tid = "(__s64)(__u32)bpf_get_current_pid_tgid()",
  uid = "(__s64)(__u32)bpf_get_current_uid_gid()",
  cpu = "(__s64)bpf_get_smp_processor_id()",
  ns = "(__s64)bpf_ktime_get_ns()",
}
F.STR_SIZE = 128

-- The probe kinds whose arguments are arg0 .. arg5.
local ARG_KINDS = { uprobe = true, kprobe = true, usdt = true, raw_tracepoint = true, tp_btf = true }

-- The arguments of a raw or BTF tracepoint by name, from the kernel's BTF
-- (ebpf.tracepoint_args; {} where that is not available, such as under
-- plain LuaJIT): { {name =, type =}, ... }, cached in info.tp_args (info.args
-- is fentry/fexit's typed arguments).
function F.tracepoint_args(info)
  if info.kind ~= "raw_tracepoint" and info.kind ~= "tp_btf" then return {} end
  if not info.tp_args then
    local ok, ebpf = pcall(require, "ebpf")
    local args = ok and type(ebpf) == "table" and ebpf.tracepoint_args and ebpf.tracepoint_args(info.section:match("/(.*)$"))
    info.tp_args = args or {}
  end
  return info.tp_args
end

-- The names a probe offers, for error messages and completion.
function F.names(info)
  local names = {}
  for i, a in ipairs(F.tracepoint_args(info)) do
    if i <= 6 then names[#names + 1] = a.type:match("char %*$") and ("str(" .. a.name .. ")") or a.name end
  end
  for n, f in pairs(info.fields or {}) do
    if not n:match("^common_") then
      names[#names + 1] = (f.kind == "pointer" and f.type:match("char")) and ("str(" .. n .. ")") or n
    end
  end
  table.sort(names)
  for _, b in ipairs({ "comm", "pid", "tid", "uid", "cpu", "ns", "probe", "kstack", "ustack" }) do
    if not (info.fields and info.fields[b]) then names[#names + 1] = b end
  end
  if info.arg_list then
    -- Typed arguments (fentry/fexit, kprobe/kretprobe with BTF) come first.
    local args = {}
    for i = 1, info.declared do
      local a = info.arg_list[i]
      args[#args + 1] = a.char_pointer and ("str(" .. a.name .. ")") or a.name
    end
    if info.args.ret then args[#args + 1] = "ret" end
    if info.declared == 1 then args[#args + 1] = "arg0" end
    if info.declared > 1 then args[#args + 1] = ("arg0..arg%d"):format(info.declared - 1) end
    for i = #args, 1, -1 do table.insert(names, 1, args[i]) end
  else
    if ARG_KINDS[info.kind] then names[#names + 1] = "arg0..arg5" end
    if info.kind == "uretprobe" or info.kind == "kretprobe" then names[#names + 1] = "ret" end
  end
  if F.path then
    for i, a in ipairs(F.tracepoint_args(info)) do
      if i <= 6 and a.type:match("^[%w ]*struct [%w_]+ %*$") then names[#names + 1] = a.name .. "->..." end
    end
    names[#names + 1] = "curtask->..."
  end
  return names
end

local function at(offset, ctype) return ("*(%s *)((char *)ctx + %d)"):format(ctype, offset) end

local function int_expr(f)
  local bits = ({ [1] = "8", [2] = "16", [4] = "32", [8] = "64" })[f.size]
  return ("(__s64)%s"):format(at(f.offset, (f.signed and "__s" or "__u") .. bits))
end

local function arg_expr(info, n)
  -- Raw and BTF tracepoint programs get the arguments as an array of u64.
  if info.kind == "raw_tracepoint" or info.kind == "tp_btf" then return ("(__s64)((__u64 *)ctx)[%d]"):format(n) end
  return ("(__s64)PT_REGS_PARM%d((struct pt_regs *)ctx)"):format(n + 1)
end

-- Returns a descriptor for `spec`, or nil and why.
function F.lookup(info, spec)
  if type(spec) ~= "string" then return nil, ("a field is a string such as \"comm\" or \"str(filename)\", not a %s"):format(type(spec)) end
  if F.extra[spec] then return F.extra[spec](info) end
  if spec == "comm" then
    return { kind = "str", size = 16, fill = function(dst) return ("bpf_get_current_comm(%s, sizeof(%s));"):format(dst, dst) end }
  end
  if BUILTINS[spec] then return { kind = "num", expr = BUILTINS[spec], signed = true } end
  local reader, inner = spec:match("^(k?str)%(%s*([%w_%.%->]+)%s*%)$")
  local name = inner or spec
  -- Struct members through pointers ("next->comm"), when ebpf.oneliner_paths is loaded.
  if F.path and (name:find("->", 1, true) or name:find(".", 1, true)) then return F.path(info, name, reader) end
  if not name:match("^[%a_][%w_]*$") then return nil, ("'%s' is not a field name"):format(spec) end
  local read = reader == "kstr" and "bpf_probe_read_kernel_str" or "bpf_probe_read_user_str"
  if info.fields then
    local f = info.fields[name]
    if not f then return nil end
    if reader then
      if f.kind ~= "pointer" and not (f.kind == "int" and f.size == 8) then
        return nil, ("str() reads a pointer, and '%s' is %s"):format(name, f.type)
      end
      return { kind = "str", size = F.STR_SIZE, fill = function(dst)
        return ("%s(%s, sizeof(%s), (const void *)%s);"):format(read, dst, dst, at(f.offset, "__u64"))
      end }
    end
    if f.kind == "int" then return { kind = "num", expr = int_expr(f), signed = f.signed } end
    if f.kind == "chars" then
      return { kind = "str", size = f.size, fill = function(dst)
        return ("bpf_probe_read_kernel_str(%s, sizeof(%s), (char *)ctx + %d);"):format(dst, dst, f.offset)
      end }
    end
    if f.kind == "data_loc" then
      -- The low 16 bits of a __data_loc word are the offset of the string
      -- from the start of the record, the high 16 its length.
      return { kind = "str", size = F.STR_SIZE, fill = function(dst)
        return ("bpf_probe_read_kernel_str(%s, sizeof(%s), (char *)ctx + (%s & 0xffff));"):format(dst, dst, at(f.offset, "__u32"))
      end }
    end
    if f.kind == "pointer" then return { kind = "num", expr = ("(__s64)%s"):format(at(f.offset, "__u64")), signed = false } end
    return nil, ("field '%s' (%s) is neither a number nor a string"):format(name, f.type)
  end
  if info.args then return F.typed_arg(info, name, reader, read) end
  local arg = name:match("^arg(%d)$")
  if arg and tonumber(arg) <= 5 and ARG_KINDS[info.kind] then
    if reader then
      return { kind = "str", size = F.STR_SIZE, fill = function(dst)
        return ("%s(%s, sizeof(%s), (const void *)%s);"):format(read, dst, dst, arg_expr(info, tonumber(arg)))
      end }
    end
    return { kind = "num", expr = arg_expr(info, tonumber(arg)), signed = true }
  end
  -- A raw or BTF tracepoint's argument by its name: the slot of the same
  -- index (the kernel widens every argument to u64, signed ones with their sign).
  for i, a in ipairs(F.tracepoint_args(info)) do
    if a.name == name and i <= 6 then
      local expr = arg_expr(info, i - 1)
      if reader then
        return { kind = "str", size = F.STR_SIZE, fill = function(dst)
          return ("%s(%s, sizeof(%s), (const void *)%s);"):format(read, dst, dst, expr)
        end }
      end
      return { kind = "num", expr = expr, signed = not (a.type:match("%*$") or a.type:match("unsigned")) }
    end
  end
  if (name == "ret" or name == "retval") and (info.kind == "uretprobe" or info.kind == "kretprobe") then
    return { kind = "num", expr = "(__s64)PT_REGS_RC((struct pt_regs *)ctx)", signed = true }
  end
  return nil
end

-- Like lookup, but raises a usage error naming the argument and the fields.
function F.resolve(info, spec, fn, argn)
  local d, why = F.lookup(info, spec)
  if d then return d end
  if why then F.usage(fn, argn, why) end
  if info.wildcard then
    F.usage(fn, argn, ("field '%s' is not at the same place in every match of '%s' (fields: %s)"):format(
      tostring(spec), info.wildcard, table.concat(F.names(info), ", ")))
  end
  F.usage(fn, argn, ("%s has no field '%s' (fields: %s)"):format(info.probe, tostring(spec), table.concat(F.names(info), ", ")))
end

-- C declaration of a member holding a descriptor's value.
function F.member(d, name)
  if d.member then return d.member(name) end
  if d.kind == "str" then return ("char %s[%d];"):format(name, d.size) end
  return ("__s64 %s;"):format(name)
end

-- C statements that store a descriptor's value into `dst`.
function F.fill(d, dst)
  if d.kind == "num" then return ("%s = %s;"):format(dst, d.expr) end
  return d.fill(dst)
end

-- The Lua value of a member read back from a map or ring buffer.
function F.show(d, value, obj)
  if d.show then return d.show(value, obj) end
  if d.kind == "str" then return require("ffi").string(value) end
  local n = tonumber(value)
  if not d.signed and n < 0 then n = n + 2 ^ 64 end
  return n
end

-- Arguments of kernel functions (fentry/fexit, kprobe/kretprobe), typed by
-- the kernel's BTF: ebpf.oneliner_functions adds F.function_args,
-- F.kprobe_args, F.signature and F.typed_arg.
package.loaded["ebpf.oneliner_fields"] = F
require "ebpf.oneliner_functions"

return F
