-- ebpf.oneliner_functions: the arguments of a kernel function at a one-liner's
-- probe, typed by the kernel's BTF (core.kernel_function): fentry/fexit
-- declare them with BPF_PROG(), kprobe/kretprobe with BPF_KPROBE() and
-- BPF_KRETPROBE(). A probe's info then holds
--   info.func       the function's name
--   info.arg_list   its parameters in order ({name, decl, pointer, char_pointer, signed, integer})
--   info.args       the same by name, and "ret" (fexit, kretprobe) unless it returns void
--   info.declared   how many of arg_list the program declares (and can read)
-- Loaded by ebpf.oneliner_fields, whose F it extends.
local F = require "ebpf.oneliner_fields"

-- fentry/fexit see the function's arguments (and fexit its return value)
-- typed, as BPF_PROG() declares them: their names and C declarations come
-- from the kernel's BTF (core.kernel_function). Declared names get the prefix
-- "a_" so that no argument shadows a variable of the generated program.
F.ARG_PREFIX = "a_"
function F.function_args(info, func, fn, argn)
  if not func:match("^[%a_][%w_.]*$") then F.usage(fn, argn, ("'%s' is not a kernel function name"):format(func)) end
  local proto, err = require("ebpf.core").kernel_function(func, F.ARG_PREFIX)
  if not proto then F.usage(fn, argn, tostring(err)) end
  F.set_args(info, proto)
  -- BPF_PROG() names the context as a u64 array of at most 12 values.
  if #proto.params + (info.kind == "fexit" and 1 or 0) > 12 then
    F.usage(fn, argn, ("%s has %d arguments, more than the 12 fentry/fexit programs can declare"):format(func, #proto.params))
  end
end

function F.set_args(info, proto)
  info.func, info.args, info.arg_list = proto.name, {}, {}
  if info.kind ~= "kretprobe" then
    for i, a in ipairs(proto.params) do
      info.arg_list[i] = a
      info.args[a.name] = a
    end
  end
  info.declared = #info.arg_list
  if (info.kind == "fexit" or info.kind == "kretprobe") and proto.ret then info.args.ret = proto.ret end
end

-- BPF_KPROBE() of the libbpf this compiles with reads at most this many
-- arguments (PT_REGS_PARM1 .. PT_REGS_PARM5).
F.KPROBE_MAX_ARGS = 5

-- kprobe/FUNC sees FUNC's arguments typed as fentry does, declared by
-- BPF_KPROBE() from the registers that carry them, and kretprobe/FUNC its
-- `ret` (BPF_KRETPROBE()). Only the first KPROBE_MAX_ARGS are declared, and
-- none from a struct or union passed by value on: such a value takes
-- registers of its own, so the ones after it are not where BPF_KPROBE()
-- looks. A function the kernel's BTF does not describe (or a probe at an
-- offset, kprobe/FUNC+OFF) keeps the untyped arg0 .. arg5 and ret.
function F.kprobe_args(info, func)
  local ok, core = pcall(require, "ebpf.core")
  local proto = ok and type(core) == "table" and core.kernel_function and core.kernel_function(func, F.ARG_PREFIX)
  if not proto then return end
  F.set_args(info, proto)
  for i, a in ipairs(info.arg_list) do
    if i > F.KPROBE_MAX_ARGS or not (a.pointer or a.integer) then
      info.declared = i - 1
      break
    end
  end
end

-- Why argument `i` of a typed probe cannot be read, or nil when it can.
function F.unreachable(info, i)
  if i <= info.declared then return nil end
  local a = info.arg_list[i]
  local where = ("'%s' (arg%d of %s)"):format(a.name, i - 1, info.func)
  if info.declared == F.KPROBE_MAX_ARGS then
    return ("%s is past the %d arguments a kprobe program reads (BPF_KPROBE); fentry/%s sees them all"):format(
      where, F.KPROBE_MAX_ARGS, info.func)
  end
  local by_value = info.arg_list[info.declared + 1]
  return ("%s is not in a register a kprobe program can read: '%s' is passed by value (%s); fentry/%s sees it"):format(
    where, by_value.name, by_value.decl:gsub("%s*" .. F.ARG_PREFIX .. by_value.name .. "$", ""), info.func)
end

-- The C line that opens program `name` of probe `info`: a BPF_PROG() with the
-- function's typed arguments for fentry/fexit, BPF_KPROBE() or
-- BPF_KRETPROBE() for typed kprobes, a plain context otherwise.
function F.signature(info, name)
  if not info.arg_list then return ("int %s(void *ctx)"):format(name) end
  local decls = { name }
  for i = 1, info.declared do decls[#decls + 1] = info.arg_list[i].decl end
  if (info.kind == "fexit" or info.kind == "kretprobe") and info.args.ret then decls[#decls + 1] = info.args.ret.decl end
  local macro = ({ kprobe = "BPF_KPROBE", kretprobe = "BPF_KRETPROBE" })[info.kind] or "BPF_PROG"
  return ("int %s(%s)"):format(macro, table.concat(decls, ", "))
end

-- A typed argument (or the "ret" of fexit and kretprobe) of a probe on a
-- kernel function, by name or as argN.
function F.typed_arg(info, name, reader, read)
  if name == "retval" and info.kind == "kretprobe" then name = "ret" end
  local a = info.args[name]
  local n = name:match("^arg(%d+)$")
  if not a and n then a = info.arg_list[tonumber(n) + 1] end
  if not a then
    if name == "ret" and (info.kind == "fexit" or info.kind == "kretprobe") then
      return nil, ("%s returns void: there is no 'ret'"):format(info.func)
    end
    return nil
  end
  for i, b in ipairs(info.arg_list) do
    if b == a then
      local why = F.unreachable(info, i)
      if why then return nil, why end
    end
  end
  local var = F.ARG_PREFIX .. a.name
  if reader then
    if not a.pointer then
      return nil, ("str() reads a pointer, and '%s' is %s"):format(name, (a.decl:gsub("%s*" .. var .. "$", "")))
    end
    return { kind = "str", size = F.STR_SIZE, fill = function(dst)
      return ("%s(%s, sizeof(%s), (const void *)%s);"):format(read, dst, dst, var)
    end }
  end
  if a.integer then return { kind = "num", expr = ("(__s64)%s"):format(var), signed = a.signed } end
  if a.pointer then return { kind = "num", expr = ("(__s64)(unsigned long)%s"):format(var), signed = false } end
  return nil, ("argument '%s' (%s) is neither a number nor a pointer"):format(name, a.decl)
end

return F
