-- ebpf.repl: the Lua half of the interactive REPL (`ebpfrun` with no script).
--
--   repl.values(...)     returns its arguments unchanged (see below)
--   repl.print(...)      shows values the way the REPL echoes an expression
--   repl.pretty(v)       one value as text: strings quoted, tables expanded
--   repl.command(line)   runs a `:` command typed at the prompt ("help",
--                        "probes", "fields PROBE", "maps", "detach");
--                        `:quit` stays in C++ because it ends the read loop,
--                        and `:probes PATTERN` because listing probes is
--                        the C++ of `ebpfrun -l`
--   repl.field_names(probe, text)  the fields a one-liner can read at probe
--                        (for completion; inside a path such as "next->co",
--                        the members of the struct reached), or an empty list
--   repl.help            the text `:help` prints
--
-- The C++ side (cli/repl.cpp) reads lines, handles Ctrl-C and
-- evaluates chunks; this module holds what walks Lua values, because that is
-- shorter and safer to write in Lua than through the C API.

local ebpf = require "ebpf"

local repl = {}

repl.help = [=[ebpfrun REPL: Lua (LuaJIT) with the ebpf module loaded as `ebpf`.
  count("tracepoint/syscalls/sys_enter_openat", "comm")   one-liner: counts until Ctrl-C
  count(probe, {"comm", "ret"}, { where = "ret < 0" })   several keys, a predicate
  count(probe, {"comm", "ustack"})                        keyed by user stack ("kstack": kernel stack)
  sum / min / max / avg / stats(probe, field, { by = "comm" }), hist(probe, field),
  lhist(probe, field, min, max, step), latency(probe_a, probe_b, { by = "comm" })
  trace(probe, "%s opened %s", "comm", "str(filename)")  one line per event
  obj = ebpf.compile{ text = [[ ... ]] }; obj:attach_all(); ebpf.run{ duration = 5 }
  An expression shows its value; an unfinished statement continues on the next line.
  Tab completes Lua names, probe names inside a string, and a one-liner's fields after its probe.
Commands:
  :help      this text
  :probes    what is attached
  :probes PATTERN   list probes like ebpfrun -l ('syscalls:*open*', 'uprobe/PATH:GLOB')
  :fields PROBE     the fields a one-liner can use at PROBE, with their types
  :maps      the maps of the open objects
  :detach    detach and unload everything
  :quit      leave (also Ctrl-D)
Ctrl-C stops a running ebpf.run (and detaches what it attached); at the prompt it clears the line.]=]

-- Table keys are shown sorted so that the same table always prints the same
-- way: numbers first (in order), then strings, then everything else by name.
local function key_order(a, b)
  local ta, tb = type(a), type(b)
  if ta == tb and (ta == "number" or ta == "string") then return a < b end
  if ta == "number" then return true elseif tb == "number" then return false end
  return tostring(a) < tostring(b)
end

-- A table is expanded one key per line, unless it has its own __tostring (the
-- object knows better how to show itself) or is already being shown further
-- up (a cycle would never end). Only the first 100 entries are listed, so a
-- large map copied into a table does not flood the terminal.
local function pretty(v, indent, seen)
  local t = type(v)
  if t == "string" then return string.format("%q", v) end
  local mt = (t == "table" or t == "cdata") and getmetatable(v)
  if t ~= "table" or seen[v] or (type(mt) == "table" and mt.__tostring) then
    local ok, s = pcall(tostring, v)
    return ok and s or "<" .. t .. ">"
  end
  seen[v] = true
  local parts, inner, n = {}, indent .. "  ", #v
  for i = 1, n do parts[#parts + 1] = inner .. pretty(v[i], inner, seen) end
  local keys = {}
  for k in pairs(v) do
    if not (type(k) == "number" and k >= 1 and k <= n and k % 1 == 0) then keys[#keys + 1] = k end
  end
  table.sort(keys, key_order)
  for _, k in ipairs(keys) do
    if #parts >= 100 then parts[#parts + 1] = inner .. "..."; break end
    local key = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or "[" .. pretty(k, inner, seen) .. "]"
    parts[#parts + 1] = inner .. key .. " = " .. pretty(v[k], inner, seen)
  end
  seen[v] = nil
  if #parts == 0 then return "{}" end
  return "{\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "}"
end

function repl.pretty(v) return pretty(v, "", {}) end

-- The REPL runs an expression as `return repl.values(<expression>)`: a plain
-- `return f()` would be a tail call, and an error inside f would then lose
-- the frame of the typed chunk from its traceback.
function repl.values(...) return ... end

function repl.print(...)
  local out = {}
  for i = 1, select("#", ...) do out[i] = pretty((select(i, ...)), "", {}) end
  print(table.concat(out, "\t"))
end

local function show_probes()
  local any = false
  for obj in pairs(ebpf._objects()) do
    for _, link in ipairs(obj.links) do
      local info = link:info()
      if info.attached then
        print(string.format("%-48s link id %-6d (object %s)", info.spec, info.id, obj:info().name))
        any = true
      end
    end
  end
  if not any then print("nothing attached") end
end

local function show_maps()
  local any = false
  for obj in pairs(ebpf._objects()) do
    for _, m in ipairs(obj:info().maps) do
      print(string.format("%-24s %-14s max %d entries (object %s)", m.name, m.type, m.max_entries, obj:info().name))
      any = true
    end
  end
  if not any then print("no maps") end
end

-- The declared type of a tracefs format field without its name.
local function field_type(f)
  local decl = f.type:gsub("^%s+", ""):gsub("%s+$", "")
  local array = decl:match("%[%d*%]$")
  decl = decl:gsub("%s*%[%d*%]$", ""):gsub("[%w_]+$", ""):gsub("%s+$", "")
  return decl .. (array or "")
end

local BUILTIN_FIELDS = {
  { "comm", "char[16]", "the task's command name" }, { "pid", "s64", "process id" }, { "tid", "s64", "thread id" },
  { "uid", "s64", "user id" }, { "cpu", "s64", "CPU number" }, { "ns", "s64", "bpf_ktime_get_ns()" },
  { "probe", "string", "the probe that fired (for wildcards)" },
  { "curtask->...", "struct task_struct *", "the current task's members (curtask->real_parent->tgid)" },
  { "kstack", "stack", "kernel stack (a key, or traced)" }, { "ustack", "stack", "user stack (a key, or traced)" },
}

local function show_fields(probe)
  if probe == "" then print("usage: :fields PROBE (such as :fields tracepoint/syscalls/sys_enter_openat)"); return end
  local F = require "ebpf.oneliner_fields"
  local ok, info = pcall(F.probe, probe, "fields", nil)
  if not ok then print((tostring(info):gsub("^usage: fields: ", ""))); return end
  local args, err
  if info.kind == "raw_tracepoint" or info.kind == "tp_btf" then
    -- The tracepoint's own arguments, named and typed by the kernel's BTF.
    args, err = ebpf.tracepoint_args(info.section:match("/(.*)$"))
    if not args then print(tostring(err)); return end
  end
  print(string.format("%-22s %-26s %s", "FIELD", "TYPE", "USE AS"))
  local list = {}
  for _, f in pairs(info.fields or {}) do
    if not f.name:match("^common_") then list[#list + 1] = f end
  end
  table.sort(list, function(a, b) return a.offset < b.offset end)
  for _, f in ipairs(list) do
    local use = f.name
    if f.kind == "pointer" and f.type:match("char") then use = "str(" .. f.name .. ")"
    elseif f.kind == "other" then use = "(not readable by one-liners)" end
    print(string.format("%-22s %-26s %s", f.name, field_type(f), use))
  end
  if args then
    for i, a in ipairs(args) do
      local use = i <= 6 and (a.name .. " or arg" .. (i - 1)) or "(past arg5)"
      if i <= 6 and a.type:match("char %*$") then use = ("str(%s) or str(arg%d)"):format(a.name, i - 1) end
      if i <= 6 and a.type:match("struct [%w_]+ %*$") then use = ("%s->MEMBER, or arg%d"):format(a.name, i - 1) end
      print(string.format("%-22s %-26s %s", a.name, a.type, use))
    end
  elseif info.arg_list then
    -- fentry/fexit and kprobe/kretprobe on a function the kernel's BTF describes.
    local function ctype(a) return (a.decl:gsub("%s*" .. F.ARG_PREFIX .. a.name .. "$", "")) end
    for i, a in ipairs(info.arg_list) do
      local use = ("%s or arg%d"):format(a.name, i - 1)
      if a.char_pointer then use = ("str(%s) or str(arg%d)"):format(a.name, i - 1)
      elseif ctype(a):match("struct [%w_]+ %*$") then use = ("%s->MEMBER, or arg%d"):format(a.name, i - 1) end
      if F.unreachable(info, i) then use = "(not readable by a kprobe: use fentry)" end
      print(string.format("%-22s %-26s %s", a.name, ctype(a), use))
    end
    if info.args.ret then print(string.format("%-22s %-26s %s", "ret", ctype(info.args.ret), "ret")) end
  elseif not info.fields then
    local args = ({ uprobe = true, kprobe = true, usdt = true })[info.kind]
    if args then print(string.format("%-22s %-26s %s", "arg0 .. arg5", "u64", "arg0, str(arg1), ...")) end
    if info.kind == "uretprobe" or info.kind == "kretprobe" then print(string.format("%-22s %-26s %s", "retval", "s64", "retval")) end
  end
  print("built in, at every probe:")
  for _, b in ipairs(BUILTIN_FIELDS) do print(string.format("%-22s %-26s %s", b[1], b[2], b[3])) end
end

function repl.field_names(probe, text)
  local F = require "ebpf.oneliner_fields"
  local ok, info = pcall(F.probe, probe, "fields", nil)
  if not ok then return {} end
  -- Inside a path ("next->co", "str(bprm->file->f_pa"): the members of the
  -- struct reached so far.
  if type(text) == "string" then
    local lead, path = text:match("^(k?str%()(.*)$")
    if not lead then lead, path = "", text end
    -- The path before its last "->" or ".", whichever comes later.
    local head, sep = path:match("^(.*)%->[%w_]*$"), "->"
    local dot_head = path:match("^(.*)%.[%w_]*$")
    if dot_head and (not head or #dot_head > #head) then head, sep = dot_head, "." end
    if head and head ~= "" then
      local out = {}
      for i, p in ipairs(require("ebpf.oneliner_paths").next_steps(info, head, sep)) do out[i] = lead .. p end
      return out
    end
  end
  local out = {}
  for _, n in ipairs(F.names(info)) do
    if n:match("^arg0%.%.arg%d+$") then
      for i = 0, tonumber(n:match("(%d+)$")) do out[#out + 1] = "arg" .. i end
    elseif n:match("%->%.%.%.$") then
      out[#out + 1] = n:sub(1, -4)
    else
      out[#out + 1] = n
    end
  end
  return out
end

function repl.command(line)
  local name, rest = line:match("^(%S*)%s*(.-)%s*$")
  if name == "fields" then
    show_fields(rest)
  elseif rest ~= "" then
    print("unknown command :" .. line .. " (try :help)")
  elseif name == "help" or name == "h" then
    print(repl.help)
  elseif name == "probes" then
    show_probes()
  elseif name == "maps" then
    show_maps()
  elseif name == "detach" then
    ebpf.close_all()
    print("detached and unloaded everything")
  else
    print("unknown command :" .. name .. " (try :help)")
  end
end

return repl
