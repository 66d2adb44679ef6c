-- The `ebpf` module: compile/load BPF C, attach, typed maps and event streams,
-- and the event loop. The C core (`ebpf.core`) works in raw bytes and never
-- calls back into Lua; this layer gives those bytes C types declared from the
-- object's BTF with LuaJIT's FFI, so scripts never write mirror structs.
local core = require "ebpf.core"
local ffi = require "ffi"

local M = { options = core.options, version = core.options.version, symbolize = core.symbolize,
            tracepoint_args = core.tracepoint_args, struct_members = core.struct_members,
            tracepoints = core.tracepoints, function_symbols = core.function_symbols,
            kernel_enum_values = core.kernel_enum_values }

ffi.cdef [[
struct ebpfrun_batch_entry { uint32_t reader; int32_t cpu; uint32_t offset; uint32_t size; };
]]
local entry_ptr = ffi.typeof("const struct ebpfrun_batch_entry *")
local byte_ptr = ffi.typeof("const uint8_t *")

local BPF_ANY, BPF_NOEXIST, BPF_EXIST = 0, 1, 2
local update_flags = { any = BPF_ANY, noexist = BPF_NOEXIST, exist = BPF_EXIST }

-- Every open object, so that a failing handler can detach everything.
local objects = setmetatable({}, { __mode = "k" })
-- Readers by id, for dispatching events of a batch.
local readers = {}

local function declare(cdef, type_name)
  if cdef and cdef ~= "" then ffi.cdef(cdef) end
  return ffi.typeof(type_name)
end

-- Integer, enum and bool types come back as Lua numbers / booleans; structs,
-- unions and arrays as cdata.
local function is_scalar(ctype)
  local s = tostring(ctype)
  return not (s:find("struct", 1, true) or s:find("union", 1, true) or s:find("[", 1, true) or s:find("*", 1, true))
end

-- Where inline C text sits in the calling script, so that compile errors point
-- at the Lua file's lines.
local function inline_origin(text, level)
  local info = debug.getinfo(level, "S")
  if not info or info.source:sub(1, 1) ~= "@" then return nil end
  local path = info.source:sub(2)
  local file = io.open(path, "rb")
  if not file then return path end
  local source = file:read("*a")
  file:close()
  local start = source:find(text, 1, true)
  if not start then return path end
  local line = 1
  for _ in source:sub(1, start - 1):gmatch("\n") do line = line + 1 end
  return path, line
end

---------------------------------------------------------------------------
-- Maps

local Map = {}
Map.__index = Map

local function wrap_map(raw)
  local info = raw:info()
  local self = setmetatable({ raw = raw, name = info.name, per_cpu = info.per_cpu, cpus = info.cpus }, Map)
  self.key_size, self.value_size = info.key_size, info.value_size
  self.key_type = info.key and declare(info.key.cdef, info.key.type) or ffi.typeof("uint8_t[$]", info.key_size)
  self.value_type = info.value and declare(info.value.cdef, info.value.type)
    or ffi.typeof("uint8_t[$]", info.value_size)
  self.key_scalar, self.value_scalar = is_scalar(self.key_type), is_scalar(self.value_type)
  self.stride = math.floor((info.value_size + 7) / 8) * 8
  self.info_table = info
  return self
end

local array_of = setmetatable({}, { __mode = "k" })
local function to_bytes(ctype, size, value, what)
  if type(value) == "string" and #value == size then return value end
  -- A one-element array makes scalars addressable and initializes aggregates
  -- from tables or cdata alike.
  local array = array_of[ctype]
  if not array then array = ffi.typeof("$[1]", ctype); array_of[ctype] = array end
  local ok, cdata = pcall(ffi.new, array, { value })
  if not ok then error(("cannot convert %s to %s: %s"):format(what, tostring(ctype), cdata), 3) end
  return ffi.string(cdata, size)
end

-- Scalars are read through a one-element array (a scalar cdata is not
-- addressable); aggregates are copied into a fresh cdata the caller owns.
local scalar_boxes = setmetatable({}, { __mode = "k" })
local function from_bytes(ctype, scalar, bytes, offset)
  local src = ffi.cast(byte_ptr, bytes) + (offset or 0)
  if scalar then
    local box = scalar_boxes[ctype]
    if not box then box = ffi.new(ffi.typeof("$[1]", ctype)); scalar_boxes[ctype] = box end
    ffi.copy(box, src, ffi.sizeof(ctype))
    local v = box[0]
    return tonumber(v) or v
  end
  local value = ffi.new(ctype)
  ffi.copy(value, src, ffi.sizeof(ctype))
  return value
end

function Map:_value(bytes)
  if not self.per_cpu then return from_bytes(self.value_type, self.value_scalar, bytes) end
  local values = {}
  for cpu = 0, self.cpus - 1 do
    values[cpu + 1] = from_bytes(self.value_type, self.value_scalar, bytes, cpu * self.stride)
  end
  return values
end

function Map:_value_bytes(value)
  if not self.per_cpu then return to_bytes(self.value_type, self.value_size, value, "value") end
  local parts = {}
  for cpu = 1, self.cpus do
    local v = type(value) == "table" and value[cpu] or value
    parts[cpu] = to_bytes(self.value_type, self.value_size, v, "value") .. string.rep("\0", self.stride - self.value_size)
  end
  return table.concat(parts)
end

function Map:lookup(key)
  local bytes, err = self.raw:lookup(to_bytes(self.key_type, self.key_size, key, "key"))
  if bytes == nil then return nil, err end
  return self:_value(bytes)
end

-- Sum over CPUs for per-CPU maps of numbers.
function Map:lookup_sum(key)
  local v, err = self:lookup(key)
  if type(v) ~= "table" then return v, err end
  local sum = 0
  for _, x in ipairs(v) do sum = sum + x end
  return sum
end

function Map:update(key, value, flags)
  local f = type(flags) == "string" and update_flags[flags] or flags or BPF_ANY
  if f == nil then error("update flags must be 'any', 'noexist' or 'exist'", 2) end
  return self.raw:update(to_bytes(self.key_type, self.key_size, key, "key"), self:_value_bytes(value), f)
end

function Map:delete(key)
  return self.raw:delete(to_bytes(self.key_type, self.key_size, key, "key"))
end

function Map:clear() return self.raw:clear() end
function Map:info() return self.info_table end

-- Iterates typed (key, value) pairs from one consistent batch read.
-- and_delete = true reads and resets (hash maps: removes; arrays: zeroes).
function Map:pairs(and_delete)
  local keys, values = self.raw:entries(and_delete)
  if not keys then error(tostring(values), 2) end
  local i = 0
  return function()
    i = i + 1
    if keys[i] == nil then return nil end
    return from_bytes(self.key_type, self.key_scalar, keys[i]), self:_value(values[i])
  end
end

---------------------------------------------------------------------------
-- Readers (ring buffers and perf buffers)

local Reader = {}
Reader.__index = Reader

function Reader:on(handler)
  if type(handler) ~= "function" then error("reader:on takes a function", 2) end
  self.handler = handler
  return self
end

function Reader:stats() return core.reader_stats(self.id) end

---------------------------------------------------------------------------
-- Objects

local Object = {}
Object.__index = Object

-- obj.globals.name reads a global variable of the object (its .rodata,
-- .data or .bss), and obj.globals.name = v writes a .data/.bss one, shared
-- with the running programs. Unknown names, wrong types and writes to const
-- globals raise.
local function globals_of(raw)
  return setmetatable({}, {
    __index = function(_, name) return raw:global_get(name) end,
    __newindex = function(_, name, value) raw:global_set(name, value) end,
  })
end

local function wrap_object(raw)
  local self = setmetatable({ raw = raw, links = {}, globals = globals_of(raw) }, Object)
  objects[self] = true
  return self
end

-- obj:attach(program, spec [, opts]): spec is one attach point
-- ("kprobe/vfs_read") or a list of them in order of preference
-- ({"fentry/vfs_read", "kprobe/vfs_read", "tracepoint/syscalls/sys_enter_read"}):
-- the first that loads and attaches wins, link:attached_as() says which.
function Object:attach(program, spec, opts)
  if type(program) ~= "string" then error("obj:attach(program_name, spec) needs a program name", 2) end
  if spec ~= nil and type(spec) ~= "string" and type(spec) ~= "table" then
    error("obj:attach: spec must be a string or a list of strings", 2)
  end
  local pid = type(opts) == "table" and opts.pid or nil
  local link, err = self.raw:attach(program, spec, pid)
  if not link then return nil, err end
  self.links[#self.links + 1] = link
  return link
end

-- Two tables of program name -> value merged, `over` winning.
local function merged(base, over)
  local out = {}
  for k, v in pairs(base or {}) do out[k] = v end
  for k, v in pairs(over or {}) do out[k] = v end
  return out
end

local function name_list(set)
  local out = {}
  for name in pairs(set) do out[#out + 1] = name end
  table.sort(out)
  return out
end

-- obj:attach_all{ pid = n, alternatives = { prog = {spec, ...} }, optional = {"prog", ...},
-- also_attach = { prog = {spec, ...} } }: these add to those given to ebpf.compile.
function Object:attach_all(opts)
  if opts ~= nil and type(opts) ~= "table" then error("obj:attach_all takes an options table", 2) end
  opts = opts or {}
  local optional = {}
  for _, list in ipairs({ self.optional or {}, opts.optional or {} }) do
    if type(list) ~= "table" then error("attach_all: 'optional' must be a list of program names", 2) end
    for _, name in ipairs(list) do optional[name] = true end
  end
  for _, field in ipairs({ "alternatives", "also_attach" }) do
    if opts[field] ~= nil and type(opts[field]) ~= "table" then
      error(("attach_all: '%s' must be a table of program name = { spec, ... }"):format(field), 2)
    end
  end
  local links, err = self.raw:attach_all(opts.pid, merged(self.alternatives, opts.alternatives), name_list(optional),
                                         merged(self.also_attach, opts.also_attach))
  if not links then return nil, err end
  for _, link in ipairs(links) do self.links[#self.links + 1] = link end
  return links
end

-- What happened on the way: optional programs skipped, which alternative each
-- program was attached as.
function Object:notes() return self.raw:info().notes end

function Object:map(name)
  local raw, err = self.raw:map(name)
  if not raw then return nil, err end
  return wrap_map(raw)
end

local function open_reader(self, name, kind, type_name, opts)
  if type(name) ~= "string" then error("reader needs a map name", 3) end
  local id, err = self.raw:reader(name, kind, type(opts) == "table" and opts.pages or nil)
  if not id then return nil, err end
  local ptrtype = byte_ptr
  if type_name then
    local cdef, tname = self.raw:declare_type(type_name)
    if not cdef then return nil, tname end
    ptrtype = ffi.typeof("const $ *", declare(cdef, tname))
  end
  local reader = setmetatable({ id = id, name = name, kind = kind, ptrtype = ptrtype, object = self }, Reader)
  readers[id] = reader
  return reader
end

function Object:ringbuf(name, type_name, opts) return open_reader(self, name, "ringbuf", type_name, opts) end
function Object:perfbuf(name, type_name, opts) return open_reader(self, name, "perfbuf", type_name, opts) end

-- A C type of this object, declared to FFI, e.g. obj:type("struct event").
function Object:type(type_name)
  local cdef, tname = self.raw:declare_type(type_name)
  if not cdef then return nil, tname end
  return declare(cdef, tname)
end

-- The constants of an enum in this object's BTF, in declaration order:
-- obj:enum_values("enum skb_drop_reason") → { {name = "SKB_DROP_REASON_NOT_SPECIFIED",
-- value = 2}, ... }, or nil, err. A kernel enum is there when the BPF C uses it
-- in a type of its own (e.g. an event struct member), so names come from the
-- running kernel. Values are Lua numbers (exact up to 2^53).
function Object:enum_values(type_name) return self.raw:enum_values(type_name) end

function Object:info() return self.raw:info() end

-- Stacks (bindings/symbols_binding.cpp): the frames of stack `id` in the
-- stack-trace map `map` (a name or a Map), user frames of `pid` when given,
-- else kernel frames. ebpf.symbolize(addrs [, pid]) does the same for an
-- array of addresses (numbers, uint64_t cdata or hex strings).
function Object:stack(map, id, pid)
  if type(map) == "table" then map = map.name end
  return self.raw:stack(map, id, pid)
end

function Object:close()
  objects[self] = nil
  self.raw:close()
end

-- The load options of ebpf.compile / ebpf.load: autoload = { prog = false }
-- switches loading off; optional = { "prog" } lets the object load and attach
-- without programs this kernel refuses; a program named in alternatives =
-- { prog = { spec, ... } } is optional at load (its alternatives load their
-- own copies) and attach_all attaches it at the first alternative that works;
-- attach_all also attaches a program named in also_attach = { prog = { spec,
-- ... } } at each of those points.
local function load_args(opts, args)
  for _, field in ipairs({ "alternatives", "also_attach" }) do
    if opts[field] ~= nil and type(opts[field]) ~= "table" then
      error(("ebpf.compile: '%s' must be a table of program name = { spec, ... }"):format(field), 3)
    end
  end
  if opts.optional ~= nil and type(opts.optional) ~= "table" then
    error("ebpf.compile: 'optional' must be a list of program names", 3)
  end
  local load_optional = {}
  for _, name in ipairs(opts.optional or {}) do load_optional[name] = true end
  for name in pairs(opts.alternatives or {}) do load_optional[name] = true end
  args.autoload, args.optional = opts.autoload, name_list(load_optional)
  return args
end

local function wrap_loaded(raw, opts)
  local obj = wrap_object(raw)
  obj.alternatives, obj.optional, obj.also_attach = opts.alternatives, opts.optional, opts.also_attach
  return obj
end

function M.compile(opts)
  if type(opts) ~= "table" then error("ebpf.compile takes a table: { text = ... } or { file = ... }", 2) end
  local args = load_args(opts, { text = opts.text, file = opts.file, filter = opts.filter, defines = opts.defines,
                                 includes = opts.includes, globals = opts.globals })
  if opts.text then args.name, args.line = inline_origin(opts.text, 3) end
  local raw, err = core.compile(args)
  if not raw then return nil, err end
  return wrap_loaded(raw, opts)
end

-- ebpf.load(path [, { globals = ..., autoload = ..., optional = ..., alternatives = ..., also_attach = ... }])
function M.load(path, opts)
  if opts ~= nil and type(opts) ~= "table" then error("ebpf.load(path [, opts]): the options must be a table", 2) end
  opts = opts or {}
  local raw, err = core.load(path, load_args(opts, { globals = opts.globals }))
  if not raw then return nil, err end
  return wrap_loaded(raw, opts)
end

---------------------------------------------------------------------------
-- The event loop

local function dispatch(batch)
  local n, data, entries = batch:view()
  local base, index = ffi.cast(byte_ptr, data), ffi.cast(entry_ptr, entries)
  for i = 0, n - 1 do
    local e = index[i]
    local reader = readers[e.reader]
    local handler = reader and reader.handler
    if handler then handler(ffi.cast(reader.ptrtype, base + e.offset), e.size) end
  end
  return n
end

-- A ring buffer wakes its reader (an interrupt on the producing CPU, then a
-- wakeup of ours) for every record that lands in an empty buffer. A reader
-- that drains the buffer as soon as it is woken therefore costs a fast
-- producer one wakeup every few events: measured with bench/events.sh, 200k
-- wakeups/s tripled the traced process's run time. So after a round that
-- drained the buffers (its last batch was not full), the loop waits `coalesce`
-- seconds before polling again: records pile up meanwhile and one wakeup
-- carries them all. Events are delivered late by at most that much.
local FULL_BATCH = 1024 -- BatchLimits::max_events in runtime/events/batch.h
local DEFAULT_COALESCE = 0.001
ffi.cdef [[ int ebpfrun_usleep(unsigned int usec) asm("usleep"); ]]

-- Detaches and unloads everything the script loaded.
function M.close_all()
  for obj in pairs(objects) do objects[obj] = nil end
  readers = {}
  core.close_all()
end

function M.stop() core.stop() end

-- The open objects (for the REPL's :probes and :maps).
function M._objects() return objects end
-- The open readers by id (the agent exports their counters).
function M._readers() return readers end

-- ebpf.run{ duration = secs, every = secs, tick = fn, finish = fn, coalesce = secs, signal = fn }:
-- delivers events to reader handlers until the duration passes, Ctrl-C /
-- SIGTERM, or ebpf.stop(); signal(signo), when given, sees each signal first and
-- keeps the run going by returning true (the agent's SIGHUP). coalesce (default 0.001, 0 turns it off) bounds how
-- late events may be delivered so that wakeups are shared (see above). Returns
-- the reason: "duration", "signal", "stopped". Links are detached on the way
-- out (maps stay readable); an error in a handler detaches and unloads
-- everything and is raised with its traceback.
function M.run(opts)
  opts = opts or {}
  if opts.every then assert(core.set_tick(math.floor(opts.every * 1000))) end
  if opts.duration then assert(core.set_deadline(math.floor(opts.duration * 1000))) end
  local coalesce_us = math.floor((opts.coalesce or DEFAULT_COALESCE) * 1e6)
  local reason, drained
  while not reason do
    if drained and coalesce_us > 0 then ffi.C.ebpfrun_usleep(coalesce_us) end
    drained = false
    local events, ticks, deadline, signal, stopped = core.poll(1000)
    if events == nil then error(tostring(ticks), 2) end
    if events then
      local batch = core.take_batch()
      while batch do
        local ok, n = xpcall(dispatch, debug.traceback, batch)
        batch:release()
        if not ok then
          M.close_all()
          error("error in an event handler (everything was detached): " .. tostring(n), 0)
        end
        drained = n < FULL_BATCH
        batch = core.take_batch()
      end
    end
    if ticks > 0 and opts.tick then
      local ok, err = xpcall(opts.tick, debug.traceback)
      if not ok then
        M.close_all()
        error("error in the tick function (everything was detached): " .. tostring(err), 0)
      end
    end
    if deadline then reason = "duration"
    elseif signal ~= 0 and not (opts.signal and opts.signal(signal)) then reason = "signal"
    elseif stopped then reason = "stopped" end
  end
  core.set_tick(0)
  -- A deadline this run did not reach must not end the next run.
  if opts.duration then core.set_deadline(0) end
  if opts.finish then opts.finish(reason) end
  for obj in pairs(objects) do
    for _, link in ipairs(obj.links) do link:detach() end
  end
  return reason
end

return M
