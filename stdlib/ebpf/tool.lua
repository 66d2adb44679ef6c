-- ebpf.tool: the runner shared by the event-stream tools (execsnoop, rmdetect,
-- tcpconnect, tcpaccept, tcpclose, netsubsys), so that each script only says
-- what its events mean and every tool fails, prints and reports lost events
-- the same way.
--
--   local tool = require "ebpf.tool"
--   os.exit(tool.stream {
--     name = "tcpconnect",                 -- prefix of every message
--     source = "tcplife.bpf.c",            -- a file in bpf/ (see collector.bpf_path)
--     defines = { "TCP_EVENTS=1" },        -- optional -D for the compiler
--     filter = opts.filter,                -- the standard --pid/--comm/... filter
--     ring = "events",                     -- the ring buffer map (default "events")
--     type = "struct tcp_event",           -- the C type of one record
--     columns = { ... },                   -- ebpf.output columns
--     json = opts.json,                    -- --json (ebpf.options.format also counts)
--     flush = true,                        -- flush text lines too (see ebpf.output)
--     duration = opts.duration,
--     banner = "Tracing... Hit Ctrl-C to end.",       -- optional note before the header
--     paths = { {name = "fentry", programs = {...}}, ... },  -- optional: attach paths (ebpf.collector),
--                                          -- e.g. M.PATHS["tcplife.bpf.c"]
--     attach_path = opts.attach_path,      -- --attach-path (nil: auto)
--     optional = { "prog" },               -- programs the kernel may lack (ebpf.compile's optional)
--     also_attach = { prog = { "spec" } }, -- further points of a program (ebpf.compile's also_attach)
--     loaded = function(obj) end,          -- optional: after compile, before attach
--     on_event = function(e, out) end,     -- one ring buffer record
--     finish = function(out, lost) end,    -- optional: after the run, before the lost-events report
--   })
--
-- Records that the BPF side could not store because the ring was full are
-- reported once at the end. The message and where it goes are options only
-- because the tools already print them differently and their users may match
-- on the text: drop_format (a format of name and count; the default says why
-- the events were lost) and drop_note (true: through out:note, i.e. stdout in
-- text mode; false: always stderr).
--
-- tool.address(family, bytes) and tool.monotonic_to_wall(ns) turn the raw
-- address and timestamp fields that BPF records carry into what people read.
local ebpf = require "ebpf"
local collector = require "ebpf.collector"
local format = require "ebpf.format"
local output = require "ebpf.output"
local ffi = require "ffi"

local M = {}

-- The attach paths of the shared tool sources, by file: the programs each
-- path loads, for the tools compiled with those programs (tcpaccept and
-- tcpclose; tcpconnect's TCP_EVENTS leaves them out). tests/vm/
-- load-objects.lua loads the compiled objects the same way. tcplife.bpf.c:
-- accepts (which make the accepting process a
-- connection's owner) from fexit on inet_csk_accept where the kernel allows
-- fentry, else from the accept syscalls' exit tracepoints.
M.PATHS = {
  ["tcplife.bpf.c"] = { { name = "fentry", programs = { "tcplife_fexit_accept" } },
                        { name = "tracepoint", programs = { "tcplife_accept" } } },
}

-- Further attach points of the shared tool sources' programs, by file, for
-- the tools compiled with those programs: one program for the exits of
-- accept4() and accept() (bpf/tcplife.bpf.c).
M.ALSO_ATTACH = {
  ["tcplife.bpf.c"] = { tcplife_accept = { "tracepoint/syscalls/sys_exit_accept" } },
}

local DEFAULT_DROP_FORMAT = "%s: %d events were dropped because the ring buffer was full"

-- Runs one tool to the end and returns its exit code: 1 when the program
-- does not compile or attach (the reason goes to stderr), else 0. A script
-- passes it to os.exit, or returns it from its main when it is a library.
function M.stream(spec)
  local name = spec.name
  local out = output.new { json = spec.json or ebpf.options.format == "json", flush = spec.flush,
                           columns = spec.columns }
  -- bpf_path resolves against the calling script, skipping this stdlib file,
  -- so the source is found beside the tool as it was before the tool used this.
  -- A tool with attach paths loads one at a time, as a collector does.
  local bad = spec.paths and not spec.attach_path and collector.attach_path_env_error()
  if bad then
    io.stderr:write(name, ": error: ", bad, "\n")
    return 2
  end
  local state, err = collector.load_with({ name = name, paths = spec.paths },
                                         { attach_path = spec.attach_path },
                                         { file = collector.bpf_path(spec.source), filter = spec.filter,
                                           defines = spec.defines, optional = spec.optional,
                                           also_attach = spec.also_attach })
  if not state then
    io.stderr:write(name, ": ", tostring(err), "\n")
    return 1
  end
  if spec.loaded then spec.loaded(state.obj) end
  local ok, aerr = collector.attach_programs(state, spec.loaded and function(s) spec.loaded(s.obj) end)
  if not ok then
    io.stderr:write(name, ": ", tostring(aerr), "\n")
    return 1
  end
  local obj = state.obj
  local events = assert(obj:ringbuf(spec.ring or "events", spec.type))
  events:on(function(e) return spec.on_event(e, out) end)
  if spec.banner then out:note(spec.banner) end
  out:header()
  -- An event stream has no table to refresh, so --interval gives a status
  -- line on stderr (events so far, and drops, which are never hidden).
  local tick
  if spec.interval then
    tick = function()
      local s = events:stats()
      io.stderr:write(("%s: %d events, %d dropped\n"):format(name, s.received, s.dropped + s.lost))
    end
  end
  ebpf.run { duration = spec.duration, every = spec.interval, tick = tick }
  -- A ring buffer counts refused reservations in `dropped`; `lost` belongs to
  -- perf buffers and is added so that the count stays right for either kind.
  local stats = events:stats()
  local lost = stats.dropped + stats.lost
  if spec.finish then spec.finish(out, lost) end
  if ebpf.options.stats then collector.print_paths({ state }) end
  if lost > 0 then
    local message = (spec.drop_format or DEFAULT_DROP_FORMAT):format(name, lost)
    if spec.drop_note then out:note(message) else io.stderr:write(message, "\n") end
  end
  obj:close()
  return 0
end

-- The C library functions are declared under names of this module's own, with
-- asm() for the real symbol, so that they cannot clash with a cdef that a
-- script or another module makes for the same function.
ffi.cdef [[
struct ebpfrun_tool_timespec { long sec; long nsec; };
int ebpfrun_tool_clock_gettime(int clock, struct ebpfrun_tool_timespec *ts) asm("clock_gettime");
const char *ebpfrun_tool_inet_ntop(int af, const void *src, char *dst, unsigned int size) asm("inet_ntop");
]]

local CLOCK_MONOTONIC = 1
-- INET6_ADDRSTRLEN is 46; one buffer is reused because callers take a Lua copy.
local address_text = ffi.new("char[64]")

-- An AF_INET or AF_INET6 address (4 or 16 bytes in network order) as text,
-- in inet_ntop's form ("10.0.0.1", "::1"). nil for another family.
function M.address(family, bytes)
  local text = ffi.C.ebpfrun_tool_inet_ntop(family, bytes, address_text, ffi.sizeof(address_text))
  if text == nil then return nil end
  return ffi.string(text)
end

-- Wall clock minus CLOCK_MONOTONIC, taken once: BPF timestamps come from
-- bpf_ktime_get_ns() (monotonic), and one offset keeps the events of a run in
-- the order the kernel saw them even if the wall clock is stepped meanwhile.
local clock_offset
local function offset()
  if not clock_offset then
    local ts = ffi.new("struct ebpfrun_tool_timespec")
    ffi.C.ebpfrun_tool_clock_gettime(CLOCK_MONOTONIC, ts)
    clock_offset = format.now() - (tonumber(ts.sec) + tonumber(ts.nsec) / 1e9)
  end
  return clock_offset
end

-- A CLOCK_MONOTONIC time in nanoseconds (a number or a uint64 cdata) as
-- wall-clock seconds since the epoch, as format.timestamp takes them.
function M.monotonic_to_wall(ns)
  return offset() + tonumber(ns) / 1e9
end

-- Takes the offset now, when the module is loaded at a tool's start, as the
-- tools did before they used this module.
offset()

return M
