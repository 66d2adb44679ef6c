-- Loads every BPF object in a directory (tests/vm/compile-shipped.sh wrote
-- them, on another kernel) with ebpf.load, without compiling anything, and
-- attaches each of their tracepoint, raw tracepoint and tp_btf programs,
-- then closes them: CO-RE objects compiled against one kernel's BTF must
-- relocate, load and attach on another unchanged. Programs that need a
-- target given at attach time (uprobes, cgroups, sockets, perf events) are
-- loaded but not attached. Exits 1 naming each object or program that fails.
--
--   ebpfrun tests/vm/load-objects.lua DIR
local ebpf = require "ebpf"
local dir = ...
if not dir then io.stderr:write("usage: ebpfrun load-objects.lua DIR\n"); os.exit(2) end

local ATTACHED_KINDS = { "^tracepoint/", "^tp/", "^raw_tp/", "^raw_tracepoint/", "^tp_btf/" }
local function attachable(section)
  for _, p in ipairs(ATTACHED_KINDS) do if section:match(p) then return true end end
  return false
end

-- The programs a shipped script loads as optional (def.optional of
-- scripts/NAME.lua for bpf/NAME.bpf.c): a kernel may refuse those, and the
-- script then runs another program of the object (sockredirect's redir_msg
-- needs bpf_get_current_comm in sk_msg, which 6.12 refuses), or skips them
-- when they do not attach (netsubsys's programs on sock_send_length, which
-- 6.1 does not have): here too.
local scripts = os.getenv("EBPFRUN_SOURCE_DIR") or (debug.getinfo(1, "S").source:match("^@(.*)/tests/vm/") or ".")
local function optional_of(name)
  -- Only scripts that declare optional programs are run (as a library): the
  -- others may parse the command line or start at once.
  local path = ("%s/scripts/%s.lua"):format(scripts, name)
  local f = io.open(path)
  local text = f and f:read("*a") or ""
  if f then f:close() end
  if not text:find("optional = {", 1, true) then return nil end
  local chunk = loadfile(path)
  if not chunk then return nil end
  EBPFRUN_COLLECTOR_LIBRARY = true
  local ok, def = pcall(chunk)
  EBPFRUN_COLLECTOR_LIBRARY = nil
  return ok and type(def) == "table" and def.optional or nil
end

local files = {}
local ls = assert(io.popen("ls " .. dir .. "/*.o 2>/dev/null"))
for path in ls:lines() do files[#files + 1] = path end
ls:close()

local failures, objects, links = 0, 0, 0
for _, path in ipairs(files) do
  local optional = optional_of(path:match("([^/]+)%.o$"))
  local obj, err = ebpf.load(path, { optional = optional })
  if not obj then
    print(("FAIL: %s does not load: %s"):format(path, tostring(err)))
    failures = failures + 1
  else
    objects = objects + 1
    for _, prog in ipairs(obj:info().programs) do
      if prog.loaded ~= false and attachable(prog.section) then
        local link, aerr = obj:attach(prog.name)
        local skipped = false
        for _, name in ipairs(optional or {}) do skipped = skipped or name == prog.name end
        if link then links = links + 1
        elseif skipped then
          print(("note: %s: optional program %s (%s) does not attach: %s"):format(path, prog.name, prog.section,
                                                                                   tostring(aerr)))
        else
          print(("FAIL: %s: program %s (%s) does not attach: %s"):format(path, prog.name, prog.section, tostring(aerr)))
          failures = failures + 1
        end
      end
    end
    obj:close()
  end
end
print(("loaded %d of %d objects from %s, attached %d programs, %d failures"):format(objects, #files, dir, links, failures))
if #files == 0 or failures > 0 then os.exit(1) end
