-- ebpf.oneliner_paths: struct members through pointers in one-liners, as in
-- bpftrace's args->file->f_path.dentry->d_name.name or curtask->mm:
--
--   count("tp_btf/sched_switch", "str(next->comm)")
--   trace("tp_btf/sched_process_exec", "curtask->real_parent->tgid", "bprm->filename")
--   count("raw_tp/sched_switch", "comm", { where = "prev->pid == 1" })
--
-- A path starts at a raw_tp/tp_btf argument that points to a kernel struct
-- (typed by the kernel's BTF, ebpf.tracepoint_args), at a fentry/fexit or
-- kprobe argument of such a type, or such a return value of fexit or
-- kretprobe (ebpf.oneliner_functions), or at `curtask` (the
-- current task_struct, at any probe), and goes on with `->member` through a
-- pointer and `.member` into an embedded struct or union, as in C. Every step
-- is checked against the kernel's BTF (ebpf.struct_members) before any C is
-- written, so a wrong name is one message naming the struct and its nearest
-- members, never a compiler error. The C reads with BPF_CORE_READ (CO-RE
-- relocated, through bpf_probe_read_kernel), which every probe kind allows.
--
-- What the path ends at decides the value: an integer, enum or bool is a
-- number (a bitfield too); a pointer is a number (its address) or, as
-- str(path), the kernel string it points to; a char array is a string. A
-- struct, union or other array is an error listing its members.
--
-- Requiring this module sets F.path (see ebpf.oneliner_fields), which
-- F.lookup calls for names that contain "->" or ".".
local edit_distance = require("ebpf.args").edit_distance
local F = require "ebpf.oneliner_fields"

local P = {}

-- BPF_CORE_READ takes at most nine accessors.
P.MAX_HOPS = 8

local function kernel_api()
  local ok, ebpf = pcall(require, "ebpf")
  if ok and type(ebpf) == "table" and ebpf.struct_members then return ebpf end
  return nil
end

-- The members of a kernel struct, cached per name.
local cache = {}
function P.members(target)
  if cache[target] then return cache[target] end
  local api = kernel_api()
  if not api then return nil, "the kernel's BTF is not available here" end
  local list, err = api.struct_members(target)
  if not list then return nil, tostring(err) end
  local by_name = {}
  for _, m in ipairs(list) do by_name[m.name] = m end
  cache[target] = { list = list, by_name = by_name }
  return cache[target]
end

-- The shared edit distance, bounded for long names (a quadratic table per pair).
local function distance(a, b)
  if #a > 40 or #b > 40 then return math.abs(#a - #b) + 40 end
  return edit_distance(a, b)
end

-- All the members of a small struct, or the nearest names of a big one.
function P.suggest(members, wanted)
  local names = {}
  for i, m in ipairs(members.list) do names[i] = m.name end
  if #names <= 24 or not wanted then
    if #names > 24 then
      local first = {}
      for i = 1, 24 do first[i] = names[i] end
      return ("members: %s, ... (%d in all)"):format(table.concat(first, ", "), #names)
    end
    return "members: " .. table.concat(names, ", ")
  end
  local scored = {}
  for _, n in ipairs(names) do
    local d = distance(n, wanted)
    if n:find(wanted, 1, true) or wanted:find(n, 1, true) then d = math.min(d, 1) end
    scored[#scored + 1] = { n = n, d = d }
  end
  table.sort(scored, function(a, b) return a.d < b.d or (a.d == b.d and a.n < b.n) end)
  local near = {}
  for i = 1, math.min(8, #scored) do near[i] = scored[i].n end
  return ("nearest: %s (%d members in all)"):format(table.concat(near, ", "), #names)
end

-- "struct task_struct" from a C spelling such as "const struct task_struct *".
local function pointee(ctype)
  local what = ctype:gsub("^const%s+", ""):match("^((%a+)%s+[%w_]+)%s*%*$")
  if what and (what:match("^struct ") or what:match("^union ")) then return what end
  return nil
end

-- The root of a path: {expr = C pointer expression, target = struct name}.
local function root(info, name)
  if name == "curtask" then
    return { expr = "((struct task_struct *)bpf_get_current_task())", target = "struct task_struct" }
  end
  -- fentry/fexit and kprobe/kretprobe: the function's typed arguments,
  -- declared by BPF_PROG() or BPF_KPROBE(), and the typed return value.
  local typed = {}
  for i, a in ipairs(info.arg_list or {}) do typed[i] = a end
  if info.args and info.args.ret then typed[#typed + 1] = info.args.ret end
  for i, a in ipairs(typed) do
    if a.name == name or (a.name ~= "ret" and ("arg" .. (i - 1)) == name) then
      local why = info.arg_list[i] and F.unreachable(info, i)
      if why then return nil, why end
      local var = F.ARG_PREFIX .. a.name
      local ctype = a.decl:gsub("%s*" .. var .. "$", "")
      local target = pointee(ctype)
      if not target then return nil, ("'%s' is %s, not a pointer to a struct: no '->' after it"):format(name, ctype) end
      return { expr = ("((%s *)%s)"):format(target, var), target = target }
    end
  end
  local args = F.tracepoint_args(info)
  for i, a in ipairs(args) do
    if a.name == name or ("arg" .. (i - 1)) == name then
      if i > 6 then return nil, ("'%s' is past the sixth argument, which one-liners cannot read"):format(name) end
      local target = pointee(a.type)
      if not target then return nil, ("'%s' is %s, not a pointer to a struct: no '->' after it"):format(name, a.type) end
      return { expr = ("((%s *)((__u64 *)ctx)[%d])"):format(target, i - 1), target = target }
    end
  end
  local roots = { "curtask" }
  for _, a in ipairs(args) do
    if pointee(a.type) then roots[#roots + 1] = a.name end
  end
  for i, a in ipairs(typed) do
    if pointee((a.decl:gsub("%s*" .. F.ARG_PREFIX .. a.name .. "$", ""))) and not (info.arg_list[i] and F.unreachable(info, i)) then
      roots[#roots + 1] = a.name
    end
  end
  return nil, ("a path starts at %s, not '%s'"):format(table.concat(roots, " or "), name)
end

-- Splits "a->b.c->d" into the root and steps {sep, name}; nil if malformed.
function P.split(path)
  local first, rest = path:match("^([%a_][%w_]*)(.*)$")
  if not first then return nil end
  local steps = {}
  while rest ~= "" do
    local sep, name, after = rest:match("^(%->)([%a_][%w_]*)(.*)$")
    if not sep then sep, name, after = rest:match("^(%.)([%a_][%w_]*)(.*)$") end
    if not sep then return nil end
    steps[#steps + 1] = { sep = sep, name = name }
    rest = after
  end
  if #steps == 0 then return nil end
  return first, steps
end

-- Follows the steps of a path from its root, checking each against BTF:
-- returns the root {expr, target}, the BPF_CORE_READ accessors (one per
-- pointer hop, such as "f_path.dentry") and the member the path ends at; or
-- nil and why.
function P.walk(info, path, first, steps)
  local start, why = root(info, first)
  if not start then return nil, path .. ": " .. why end
  -- groups: BPF_CORE_READ accessors, one per pointer hop ("f_path.dentry").
  local groups, walked = {}, first
  local cur = { kind = "pointer", target = start.target, type = start.target .. " *", name = first }
  for _, step in ipairs(steps) do
    if step.sep == "->" then
      if cur.kind ~= "pointer" then
        return nil, ("%s: '%s' is %s, not a pointer: use '.%s'"):format(path, walked, cur.type, step.name)
      end
      groups[#groups + 1] = step.name
    else
      if cur.kind == "pointer" then
        return nil, ("%s: '%s' is a pointer (%s): use '->%s'"):format(path, walked, cur.type, step.name)
      end
      if cur.kind ~= "struct" and cur.kind ~= "union" then
        return nil, ("%s: '%s' is %s, which has no members"):format(path, walked, cur.type)
      end
      groups[#groups] = groups[#groups] .. "." .. step.name
    end
    if cur.target == "" or cur.target == "char" or cur.target == nil then
      return nil, ("%s: '%s' is %s, which has no members a path can name"):format(path, walked, cur.type)
    end
    local members, err = P.members(cur.target)
    if not members then return nil, ("%s: %s"):format(path, err) end
    local m = members.by_name[step.name]
    if not m then
      return nil, ("%s: %s has no member '%s' (%s)"):format(path, cur.target, step.name, P.suggest(members, step.name))
    end
    if #groups > P.MAX_HOPS then return nil, ("%s: more than %d pointers in one path"):format(path, P.MAX_HOPS) end
    walked = walked .. step.sep .. step.name
    cur = m
  end
  return start, groups, cur
end

-- Returns a descriptor for `path` (reader "str"/"kstr" or nil), or nil and why.
function P.lookup(info, path, reader)
  local first, steps = P.split(path)
  if not first then return nil, ("'%s' is not a path such as next->comm or curtask->real_parent->tgid"):format(path) end
  local start, groups, cur = P.walk(info, path, first, steps)
  if not start then return nil, groups end
  local walked = path
  local last = groups[#groups]
  local function read_all() return ("BPF_CORE_READ(%s, %s)"):format(start.expr, table.concat(groups, ", ")) end
  -- The struct that holds the last member (as a pointer expression).
  local function holder()
    if #groups == 1 then return start.expr end
    return ("BPF_CORE_READ(%s, %s)"):format(start.expr, table.concat(groups, ", ", 1, #groups - 1))
  end
  if cur.kind == "array" and cur.target == "char" then
    return { kind = "str", size = math.min(math.max(cur.size, 2), F.STR_SIZE), fill = function(dst)
      return ("bpf_probe_read_kernel_str(%s, sizeof(%s), &(%s)->%s);"):format(dst, dst, holder(), last)
    end }
  end
  if reader then
    if cur.kind ~= "pointer" then return nil, ("%s: str() reads a pointer, and '%s' is %s"):format(path, walked, cur.type) end
    -- The pointer is in kernel memory, and so, in practice, is its string.
    return { kind = "str", size = F.STR_SIZE, fill = function(dst)
      return ("bpf_probe_read_kernel_str(%s, sizeof(%s), (const void *)%s);"):format(dst, dst, read_all())
    end }
  end
  if cur.kind == "int" then
    if cur.bits and cur.bits > 0 then
      return { kind = "num", signed = cur.signed, expr = ("(__s64)BPF_CORE_READ_BITFIELD_PROBED(%s, %s)"):format(holder(), last) }
    end
    return { kind = "num", signed = cur.signed, expr = ("(__s64)%s"):format(read_all()) }
  end
  if cur.kind == "pointer" then return { kind = "num", signed = false, expr = ("(__s64)(unsigned long)%s"):format(read_all()) } end
  if (cur.kind == "struct" or cur.kind == "union") and cur.target ~= "" then
    local members = P.members(cur.target)
    local hint = members and P.suggest(members) or ""
    return nil, ("%s is %s: name one of its members with '.' (%s)"):format(path, cur.type, hint)
  end
  return nil, ("%s is %s, neither a number nor a string"):format(path, cur.type)
end

-- For completion: the paths one step longer than `head` ("next" or
-- "next->se") through `sep` ("->" or "."), or {}.
function P.next_steps(info, head, sep)
  local first, rest = head:match("^([%a_][%w_]*)(.*)$")
  if not first then return {} end
  local steps = {}
  if rest ~= "" then
    local _, parsed = P.split(head)
    if not parsed then return {} end
    steps = parsed
  end
  local ok, start, _, cur = pcall(P.walk, info, head, first, steps)
  if not ok or not start then return {} end
  if sep == "->" and cur.kind ~= "pointer" then return {} end
  if sep == "." and cur.kind ~= "struct" and cur.kind ~= "union" then return {} end
  if not cur.target or cur.target == "" or cur.target == "char" then return {} end
  local members = P.members(cur.target)
  if not members then return {} end
  local out = {}
  for i, m in ipairs(members.list) do out[i] = head .. sep .. m.name end
  return out
end

F.path = P.lookup

return P
