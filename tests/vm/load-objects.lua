-- Loads every BPF object in a directory (tests/vm/compile-shipped.sh wrote
-- them, on another kernel) with ebpf.load, without compiling anything, and
-- attaches each of their tracepoint, raw tracepoint and tp_btf programs,
-- then closes them: CO-RE objects compiled against one kernel's BTF must
-- relocate, load and attach on another unchanged. Programs that need a
-- target given at attach time (uprobes, cgroups, sockets, perf events) are
-- loaded but not attached. An object whose script declares attach paths
-- (stdlib/ebpf/collector.lua: scripts/network.lua; ebpf.tool's PATHS:
-- tcplife for tcpaccept/tcpclose) is loaded once per path,
-- the other paths' programs switched off as the script does, and that
-- path's fentry/fexit programs are attached too: one path that loads and
-- attaches is enough, except that with EBPFRUN_EXPECT_FENTRY=1 (the kernel
-- matrix's guests) the fentry path must. Exits 1 naming each object or
-- program that fails.
--
--   ebpfrun tests/vm/load-objects.lua DIR
local ebpf = require "ebpf"
local dir = ...
if not dir then io.stderr:write("usage: ebpfrun load-objects.lua DIR\n"); os.exit(2) end

local ATTACHED_KINDS = { "^tracepoint/", "^tp/", "^raw_tp/", "^raw_tracepoint/", "^tp_btf/" }
local TRACING_KINDS = { "^fentry/", "^fexit/" }
local function attachable(section, tracing)
  for _, p in ipairs(ATTACHED_KINDS) do if section:match(p) then return true end end
  if tracing then
    for _, p in ipairs(TRACING_KINDS) do if section:match(p) then return true end end
  end
  return false
end
local expect_fentry = os.getenv("EBPFRUN_EXPECT_FENTRY") == "1"

-- The definition of a shipped script that declares optional programs or
-- attach paths (scripts/NAME.lua for bpf/NAME.bpf.c): a kernel may refuse
-- optional programs, and the script then runs another program of the object
-- (sockredirect's redir_msg needs bpf_get_current_comm in sk_msg, which 6.12
-- refuses), or skips them when they do not attach (netsubsys's programs on
-- sock_send_length, which 6.1 does not have): here too.
local scripts = os.getenv("EBPFRUN_SOURCE_DIR") or (debug.getinfo(1, "S").source:match("^@(.*)/tests/vm/") or ".")
local function definition_of(name)
  -- Only scripts that declare optional programs are run (as a library): the
  -- others may parse the command line or start at once.
  local path = ("%s/scripts/%s.lua"):format(scripts, name)
  local f = io.open(path)
  local text = f and f:read("*a") or ""
  if f then f:close() end
  if not text:find("optional = {", 1, true) and not text:find("paths = {", 1, true) then return nil end
  local chunk = loadfile(path)
  if not chunk then return nil end
  EBPFRUN_COLLECTOR_LIBRARY = true
  local ok, def = pcall(chunk)
  EBPFRUN_COLLECTOR_LIBRARY = nil
  return ok and type(def) == "table" and def or nil
end

-- Loads the object (with one path's programs, when path is given), attaches
-- what can be attached here and closes it. Returns the number of programs
-- attached, or nil and the failures' lines.
local function load_and_attach(path, def, paths)
  local obj, err = ebpf.load(path, { optional = def and def.optional,
                                     autoload = paths and require("ebpf.attach_paths").autoload_for(def, {}, paths) or nil })
  if not obj then return nil, { ("%s does not load: %s"):format(path, tostring(err)) } end
  local attached, failed = 0, {}
  for _, prog in ipairs(obj:info().programs) do
    if prog.loaded ~= false and attachable(prog.section, paths ~= nil) then
      local link, aerr = obj:attach(prog.name)
      local optional = false
      for _, name in ipairs(def and def.optional or {}) do optional = optional or name == prog.name end
      if link then attached = attached + 1
      elseif optional then
        print(("note: %s: optional program %s (%s) does not attach: %s"):format(path, prog.name, prog.section,
                                                                                 tostring(aerr)))
      else failed[#failed + 1] = ("%s: program %s (%s) does not attach: %s"):format(path, prog.name, prog.section,
                                                                                  tostring(aerr)) end
    end
  end
  obj:close()
  if #failed > 0 then return nil, failed end
  return attached
end

-- The shared tool sources' paths (ebpf.tool's PATHS), for objects that no
-- script of their own name defines.
local tool_paths = require("ebpf.tool").PATHS

local files = {}
local ls = assert(io.popen("ls " .. dir .. "/*.o 2>/dev/null"))
for path in ls:lines() do files[#files + 1] = path end
ls:close()

local failures, objects, links = 0, 0, 0
local function fail(lines)
  for _, line in ipairs(lines) do print("FAIL: " .. line) end
  failures = failures + #lines
end
for _, path in ipairs(files) do
  local name = path:match("([^/]+)%.o$")
  local def = definition_of(name)
  if not def and tool_paths[name .. ".bpf.c"] then def = { paths = tool_paths[name .. ".bpf.c"] } end
  if def and def.paths then
    -- One path that works is enough (this kernel may lack the other's
    -- attach points), but the guests must take the fentry path.
    local worked, why = 0, {}
    for _, p in ipairs(def.paths) do
      local n, lines = load_and_attach(path, def, p)
      if n then
        worked, links = worked + 1, links + n
        print(("%s: path %s loads and attaches %d programs"):format(path, p.name, n))
      else
        for _, line in ipairs(lines) do why[#why + 1] = ("path %s: %s"):format(p.name, line) end
        if expect_fentry and p.name == "fentry" then fail(lines) end
      end
    end
    if worked > 0 then
      objects = objects + 1
      for _, line in ipairs(why) do print("note: " .. line) end
    else
      fail(why)
    end
  else
    local n, lines = load_and_attach(path, def, nil)
    if n then objects, links = objects + 1, links + n else fail(lines) end
  end
end
print(("loaded %d of %d objects from %s, attached %d programs, %d failures"):format(objects, #files, dir, links, failures))
if #files == 0 or failures > 0 then os.exit(1) end
