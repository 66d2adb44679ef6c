-- ebpf.oneliner_prebuilt: the one-liners that need no compile. The generic
-- one-liner program (bpf/oneliner_generic.bpf.c) is a shipped source, so the
-- build prebuilds it like the collectors' (runtime/build/prebuilt.cpp); a
-- one-liner it serves loads that object with its choices written into the
-- object's `const volatile` globals, and starts without loading LLVM even
-- with an empty cache (-v says "prebuilt object ...").
--
--   local P = require "ebpf.oneliner_prebuilt"
--   local plan = P.plan(info, names, value, bucket, opts, F.extra)   -- nil: generate C
--   plan.compile   ebpf.compile's arguments ({file =, globals =})
--   plan.fields    the map key's member for each key, in the order of names
--   plan.attach    the (program, probe) pairs, one per tracepoint matched
--
-- It serves count(), and sum/min/max/avg/stats/hist of a builtin number
-- (pid, tid, uid, cpu) or an integer field of the record, at classic
-- tracepoints (wildcards too), keyed by any of comm, pid, tid, uid and cpu
-- and at most one integer field ("syscall" is one), with a `where` of up to
-- four comparisons joined by && (where_globals below). -p/-c
-- filters are the object's full-form /*FILTER*/. Anything else, or
-- EBPFRUN_ONELINER_PREBUILT=0, generates and compiles C as before. Where the object is not there (a build
-- without kernel BTF) or may not be used (--no-cache, --btf, -I), the
-- generic source is compiled instead, once, and cached like any other.
local ffi = require "ffi"
local bit = require "bit"
local W = require "ebpf.oneliner_where"

local M = {}

M.FILE = "oneliner_generic.bpf.c"
M.PROGRAM = "oneliner_generic"

-- The key bits and value numbers of bpf/oneliner_generic.bpf.c.
local KEY_BITS = { comm = 1, pid = 2, tid = 4, uid = 8, cpu = 16 }
local VALUES = { pid = 1, tid = 2, uid = 3, cpu = 4 }
local KEY_FIELD, VALUE_FIELD = 32, 5
local SIZES = { [1] = true, [2] = true, [4] = true, [8] = true }
-- The names ebpf.oneliner_fields resolves to builtins before record fields.
local BUILTIN_NAMES = { comm = true, pid = true, tid = true, uid = true, cpu = true, ns = true }

-- The integer record field `name` reads ({offset, size, signed}), or nil:
-- what ebpf.oneliner_fields' lookup reads for it, and the syscall key's
-- number (oneliner.lua reads it as a signed 32-bit value at offset 8).
local function record_field(info, name, extra)
  if name == "syscall" and extra.syscall and (info.category == "syscalls" or info.category == "raw_syscalls") then
    return { offset = 8, size = 4, signed = true }
  end
  if type(name) ~= "string" or extra[name] or BUILTIN_NAMES[name] then return nil end
  local f = info.fields and info.fields[name]
  if not (f and f.kind == "int" and SIZES[f.size]) then return nil end
  return { offset = f.offset, size = f.size, signed = f.signed }
end

-- The `where` filters the program serves: up to four comparisons joined by
-- &&, each of a builtin number or an integer field with an integer, or of
-- comm with a string of at most 15 characters (either side, `!` in front,
-- or a bare number, as `x != 0`). Returns its terms as the program's globals
-- (oneliner_where<i>_*), or nil when the filter is anything else.
local MAX_TERMS = 4
local OPS = { ["=="] = 1, ["!="] = 2, ["<"] = 3, ["<="] = 4, [">"] = 5, [">="] = 6 }
local MIRRORED = { ["=="] = "==", ["!="] = "!=", ["<"] = ">", ["<="] = ">=", [">"] = "<", [">="] = "<=" }
local NEGATED = { ["=="] = "!=", ["!="] = "==", ["<"] = ">=", ["<="] = ">", [">"] = "<=", [">="] = "<" }

local function where_globals(ast, info, extra)
  local terms = {}
  local function operand(node)
    if node.node ~= "field" then return nil end
    if VALUES[node.name] and not extra[node.name] then return { operand = VALUES[node.name] } end
    local field = record_field(info, node.name, extra)
    if not field then return nil end
    return { operand = VALUE_FIELD, offset = field.offset, size = field.size, signed = field.signed and 1 or 0 }
  end
  local function term(node, negated)
    if node.node == "and" and not negated then return term(node.left) and term(node.right) end
    if node.node == "not" then return term(node.arg, not negated) end
    local op, left, right = node.op, node.left, node.right
    if node.node == "field" then op, left, right = "!=", node, { node = "int", value = 0 } end
    if not OPS[op] or #terms == MAX_TERMS then return false end
    if negated then op = NEGATED[op] end
    if left.node == "int" or left.node == "str" then left, right, op = right, left, MIRRORED[op] end
    if right.node == "str" then
      if left.node ~= "field" or left.name ~= "comm" or extra.comm or #right.value > 15 then return false end
      if op ~= "==" and op ~= "!=" then return false end
      terms[#terms + 1] = { operand = 6, op = OPS[op], comm = right.value }
      return true
    end
    local o = right.node == "int" and operand(left)
    if not o then return false end
    o.op, o.value = OPS[op], right.value
    terms[#terms + 1] = o
    return true
  end
  if not term(ast) then return nil end
  local globals = {}
  for i, t in ipairs(terms) do
    local prefix = ("oneliner_where%d_"):format(i - 1)
    globals[prefix .. "operand"], globals[prefix .. "op"] = t.operand, t.op
    globals[prefix .. "offset"], globals[prefix .. "size"] = t.offset or 0, t.size or 0
    globals[prefix .. "signed"], globals[prefix .. "value"] = t.signed or 0, t.value or 0
    globals[prefix .. "comm"] = t.comm or ""
  end
  return globals
end

pcall(ffi.cdef, "ssize_t readlink(const char *path, char *buf, size_t size);")

local function executable_dir()
  local buf = ffi.new("char[4096]")
  local n = tonumber(ffi.C.readlink("/proc/self/exe", buf, 4095))
  if n <= 0 then return nil end
  return ffi.string(buf, n):match("^(.*)/[^/]*$")
end

local function readable(path)
  local f = io.open(path)
  if not f then return false end
  f:close()
  return true
end

-- The generic source, as the collectors find theirs: $EBPFRUN_BPF_DIR, else
-- beside the executable (an installed PREFIX/bin/../share/ebpfrun/bpf, or
-- the source tree's bpf/ above its build directory). nil when it is nowhere.
function M.source()
  local dirs = {}
  local env = os.getenv("EBPFRUN_BPF_DIR")
  if env and env ~= "" then dirs[1] = env end
  local exe = executable_dir()
  if exe then
    dirs[#dirs + 1] = exe .. "/../share/ebpfrun/bpf"
    dirs[#dirs + 1] = exe .. "/../bpf"
  end
  for _, dir in ipairs(dirs) do
    if readable(dir .. "/" .. M.FILE) then return dir .. "/" .. M.FILE end
  end
  return nil
end

-- names: the key names (already resolved, so valid); value: the value's
-- name or nil (count); bucket: nil, "log2" or a linear bucket table.
function M.plan(info, names, value, bucket, opts, extra)
  if os.getenv("EBPFRUN_ONELINER_PREBUILT") == "0" then return nil end
  if info.kind ~= "tracepoint" then return nil end
  if bucket ~= nil and bucket ~= "log2" then return nil end
  local globals = { oneliner_value = 0, oneliner_log2 = bucket and 1 or 0 }
  if opts.where ~= nil then
    -- Parsed and checked already (oneliner.lua), so it parses.
    local terms = where_globals(W.parse(opts.where), info, extra)
    if not terms then return nil end
    for name, v in pairs(terms) do globals[name] = v end
  end
  if value ~= nil then
    local field = record_field(info, value, extra)
    if VALUES[value] and not extra[value] then globals.oneliner_value = VALUES[value]
    elseif field then
      globals.oneliner_value = VALUE_FIELD
      globals.oneliner_value_field_offset, globals.oneliner_value_field_size = field.offset, field.size
      globals.oneliner_value_field_signed = field.signed and 1 or 0
    else return nil end
  end
  local mask, fields, key_field = 0, {}, nil
  for i, name in ipairs(names) do
    local field = record_field(info, name, extra)
    -- A name an extension took over is not the builtin any more.
    if KEY_BITS[name] and not extra[name] then
      mask = bit.bor(mask, KEY_BITS[name])
      fields[i] = name
    elseif field and (key_field == nil or key_field == name) then
      key_field = name
      mask = bit.bor(mask, KEY_FIELD)
      globals.oneliner_key_field_offset, globals.oneliner_key_field_size = field.offset, field.size
      globals.oneliner_key_field_signed = field.signed and 1 or 0
      fields[i] = "field"
    else return nil end
  end
  globals.oneliner_keys = mask
  local file = M.source()
  if not file then return nil end
  local attach = {}
  for i, probe in ipairs(info.matches or { info.probe }) do attach[i] = { M.PROGRAM, probe } end
  return {
    compile = { file = file, globals = globals },
    fields = fields,
    attach = attach,
  }
end

return M
