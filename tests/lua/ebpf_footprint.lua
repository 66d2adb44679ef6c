-- What an ebpfrun process maps: a script, a tool or a one-liner never maps
-- the agent's HTTP transport or OpenSSL (cpp-httplib links it; only
-- `ebpfrun agent` loads libebpfrun-http.so), nor the compiler library when
-- nothing is compiled. Each would add megabytes of resident memory to every
-- tool. The agent side (the module is loaded and serves) is covered by the
-- agent_* tests.
local t = require "harness"

local function mapped(pattern)
  local f = assert(io.open("/proc/self/maps"))
  local text = f:read("*a")
  f:close()
  local found = {}
  for path in text:gmatch("(/[^\n]+)\n") do
    if path:find(pattern) and not found[path] then found[path] = true end
  end
  local list = {}
  for path in pairs(found) do list[#list + 1] = path end
  table.sort(list)
  return list
end

t.test("a script maps neither OpenSSL nor the HTTP transport nor the compiler", function()
  t.eq(mapped("libssl"), {})
  t.eq(mapped("libcrypto"), {})
  t.eq(mapped("httplib"), {})
  t.eq(mapped("libebpfrun%-http"), {})
  t.eq(mapped("libebpfrun%-clang"), {})
  t.eq(mapped("libLLVM"), {})
  -- The check itself sees what is mapped: the Lua runtime is.
  t.ok(#mapped("libluajit") == 1, "libluajit is mapped")
end)

-- The stdlib is embedded as bytecode (no parsing at start) with its debug
-- information: errors and tracebacks still name the file and line.
t.test("stdlib errors name stdlib/<file>:<line>", function()
  local format = require "ebpf.format"
  local info = debug.getinfo(format.bytes, "S")
  t.eq(info.source, "@stdlib/ebpf/format.lua")
  t.ok(info.linedefined > 1, "the function knows its line")
  local ok, err = pcall(format.bytes, {})
  t.ok(not ok and tostring(err):match("^stdlib/ebpf/format%.lua:%d+: ") ~= nil, tostring(err))
end)

-- CO-RE objects relocate against a small cut of the kernel BTF, cached per
-- object BTF and kernel BTF (runtime/loader/core_btf.h): libbpf reading the
-- whole 5.5 MB kernel BTF twice over was most of a tool's peak memory.
local ebpfrun = assert(os.getenv("EBPFRUN_BIN"), "EBPFRUN_BIN is not set")
local source = assert(os.getenv("EBPFRUN_SOURCE_DIR"), "EBPFRUN_SOURCE_DIR is not set")

-- Runs a shipped script for a moment with -v and a cache of its own; its
-- debug output and whether it exited 0.
local function run_verbose(cache, script, extra, env)
  local err = os.tmpname()
  local p = io.popen(("XDG_CACHE_HOME=%s %s %s -v %s %s/scripts/%s --duration 1 >/dev/null 2>%s; echo $?"):format(
    cache, env or "", ebpfrun, extra or "", source, script, err))
  local status = p:read("*a")
  p:close()
  local f = assert(io.open(err))
  local text = f:read("*a")
  f:close()
  os.remove(err)
  return text, tonumber(status) == 0
end

local function listing(dir, suffix)
  local p = io.popen(("ls %s 2>/dev/null"):format(dir))
  local out = {}
  for name in p:lines() do
    if name:sub(-#suffix) == suffix then out[#out + 1] = name end
  end
  p:close()
  return out
end

local function fresh_cache()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir) == 0)
  return dir
end

local kernel_btf_loads = "loading kernel BTF '/sys/kernel/btf/vmlinux'"

-- Runs `script` twice with one cache. The first run must say `made` and
-- leave one file ending in `suffix`; neither run may have libbpf read the
-- kernel BTF (the loader reads it once into a buffer of its own, raw_btf.h,
-- where libbpf would hold it twice), and the second relocates against the
-- cut. Returns the files.
local function run_twice(cache, script, made, suffix)
  local first, ok1 = run_verbose(cache, script)
  t.ok(ok1, "first run exits 0:\n" .. first)
  t.ok(first:find(made) ~= nil, first)
  t.ok(first:find(kernel_btf_loads, 1, true) == nil, "not even the first run has libbpf read the kernel BTF")
  local files = listing(cache .. "/ebpfrun/core-btf", suffix)
  t.eq(#files, 1)
  local second, ok2 = run_verbose(cache, script)
  t.ok(ok2, "second run exits 0:\n" .. second)
  t.ok(second:find("CO-RE relocations against " .. cache .. "/ebpfrun/core-btf/", 1, true) ~= nil,
       "the second run relocates against the cut:\n" .. second)
  t.ok(second:find(kernel_btf_loads, 1, true) == nil, "the second run never reads the whole kernel BTF:\n" .. second)
  return files
end

t.test("a CO-RE tool cuts the kernel BTF once, then relocates against the cut", function()
  local cache = fresh_cache()
  run_twice(cache, "execsnoop.lua", "cached a %d+%-byte kernel BTF subset", ".btf")
  t.eq(#listing(cache .. "/ebpfrun/core-btf", ".btf"), 1)
  os.execute("rm -rf " .. cache)
end)

-- Should a cached cut ever fail to relocate an object (here: replaced by a
-- valid BTF holding one int and none of the kernel's structs), the load is
-- done once more against the whole kernel BTF instead of failing.
t.test("a load that fails against the cut is retried against the whole kernel BTF", function()
  local cache = fresh_cache()
  local _, ok1 = run_verbose(cache, "execsnoop.lua")
  t.ok(ok1, "first run exits 0")
  local cut = listing(cache .. "/ebpfrun/core-btf", ".btf")
  t.eq(#cut, 1)
  -- A raw BTF: header (magic, version 1, 24-byte header, 16 bytes of types at
  -- 0, 5 bytes of strings at 16), one 32-bit int named "int".
  local function u32(v) return string.char(v % 256, math.floor(v / 256) % 256, math.floor(v / 65536) % 256, math.floor(v / 16777216) % 256) end
  local raw = string.char(0x9f, 0xeb, 1, 0) .. u32(24) .. u32(0) .. u32(16) .. u32(16) .. u32(5)
    .. u32(1) .. u32(0x01000000) .. u32(4) .. u32(32) .. "\0int\0"
  local f = assert(io.open(cache .. "/ebpfrun/core-btf/" .. cut[1], "wb"))
  f:write(raw)
  f:close()
  local text, ok2 = run_verbose(cache, "execsnoop.lua")
  t.ok(ok2, "the run with a wrong cut exits 0:\n" .. text)
  t.ok(text:find("once more against the whole kernel BTF", 1, true) ~= nil, text)
  os.execute("rm -rf " .. cache)
end)

-- tp_btf programs are bound by the loader with the kernel's tracepoint type
-- ids, learnt once per kernel BTF and cached (runtime/loader/internal/
-- tp_btf_targets.h), where libbpf would read the whole kernel BTF at every
-- load; their objects' CO-RE relocations take a cut like any other's.
t.test("a tp_btf tool learns the kernel's tracepoints once, then never reads the whole kernel BTF", function()
  local cache = fresh_cache()
  local targets = run_twice(cache, "scheduler.lua", "cached the kernel's %d+ tp_btf targets", ".tp_btf")
  -- A damaged file is learnt again, not trusted.
  local f = assert(io.open(cache .. "/ebpfrun/core-btf/" .. targets[1], "wb"))
  f:write("ebpfrun tp_btf targets 1\nsched_switch not-a-number\n")
  f:close()
  local third, ok3 = run_verbose(cache, "scheduler.lua")
  t.ok(ok3, "the run with a damaged file exits 0:\n" .. third)
  t.ok(third:find("cached the kernel's %d+ tp_btf targets") ~= nil, third)
  os.execute("rm -rf " .. cache)
end)

-- The kernel BTF's identity keys the cuts; hashing its 5.5 MB on every start
-- cost more than the rest of a cached load, so it is remembered for the boot
-- (runtime/btf/btf_identity.h).
local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return text
end

local function write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

t.test("the kernel BTF's identity is remembered for the boot, not read again", function()
  local cache = fresh_cache()
  local first, ok1 = run_verbose(cache, "execsnoop.lua")
  t.ok(ok1, "first run exits 0:\n" .. first)
  local memo_path = cache .. "/ebpfrun/core-btf/kernel-btf.identity"
  local memo = read_file(memo_path)
  t.ok(memo ~= nil, "the identity is remembered in " .. memo_path)
  local boot = read_file("/proc/sys/kernel/random/boot_id"):gsub("%s+$", "")
  local size = tonumber(io.popen("stat -c %s /sys/kernel/btf/vmlinux"):read("*l"))
  local hash = memo and memo:match("^ebpfrun kernel btf identity 1\nboot " .. boot:gsub("%-", "%%-") .. "\nsize "
    .. size .. "\nhash (%x+)\n$")
  t.ok(hash ~= nil and #hash == 16, "it names this boot, the BTF's size and its hash:\n" .. tostring(memo))
  -- Believed without reading the BTF: an identity with another hash sends the
  -- run to cut the BTF again, under that other key.
  write_file(memo_path, (memo:gsub("hash %x+", "hash 0123456789abcdef")))
  local second, ok2 = run_verbose(cache, "execsnoop.lua")
  t.ok(ok2, "second run exits 0:\n" .. second)
  t.ok(second:find("cached a %d+%-byte kernel BTF subset") ~= nil, "the remembered identity was used:\n" .. second)
  t.eq(#listing(cache .. "/ebpfrun/core-btf", ".btf"), 2)
  -- One of another boot is not: the BTF is hashed again, finds the first
  -- cut, and this boot's identity replaces it.
  write_file(memo_path, (memo:gsub("boot [%x%-]+", "boot 00000000-0000-0000-0000-000000000000")))
  local third, ok3 = run_verbose(cache, "execsnoop.lua")
  t.ok(ok3, "third run exits 0:\n" .. third)
  t.ok(third:find("cached a %d+%-byte kernel BTF subset") == nil, "another boot's identity is not used:\n" .. third)
  t.ok(third:find("CO-RE relocations against " .. cache .. "/ebpfrun/core-btf/", 1, true) ~= nil, third)
  t.eq(read_file(memo_path), memo)
  os.execute("rm -rf " .. cache)
  -- A run that compiles hashes the BTF for the object cache first, and
  -- remembers it where the loader looks, for the starts after it.
  local compiled = fresh_cache()
  local text, ok = run_verbose(compiled, "execsnoop.lua", nil, "EBPFRUN_PREBUILT_DIR=/nonexistent")
  t.ok(ok, "the compiling run exits 0:\n" .. text)
  t.eq(read_file(compiled .. "/ebpfrun/core-btf/kernel-btf.identity"), memo)
  os.execute("rm -rf " .. compiled)
end)

t.test("--no-cache and BTF-typed programs keep the whole kernel BTF", function()
  local cache = fresh_cache()
  local text, ok = run_verbose(cache, "execsnoop.lua", "--no-cache")
  t.ok(ok, "--no-cache run exits 0:\n" .. text)
  t.ok(text:find("CO-RE relocations against", 1, true) == nil, "--no-cache takes no cut")
  t.ok(text:find(kernel_btf_loads, 1, true) ~= nil, "--no-cache reads the whole kernel BTF")
  t.eq(listing(cache .. "/ebpfrun/core-btf", ".btf"), {})
  t.eq(listing(cache .. "/ebpfrun/core-btf", ".identity"), {})
  -- network's object has CO-RE relocations and fexit programs: libbpf needs
  -- the whole BTF for their attach targets anyway (unlike tp_btf targets,
  -- fexit targets are not bound by the loader), so no cut is made.
  text, ok = run_verbose(cache, "network.lua")
  t.ok(ok, "network run exits 0:\n" .. text)
  t.ok(text:find("found %d+ CO%-RE relocations") ~= nil, "network's object has CO-RE relocations")
  t.ok(text:find("CO-RE relocations against", 1, true) == nil, "objects with fexit programs take no cut")
  t.eq(listing(cache .. "/ebpfrun/core-btf", ".btf"), {})
  os.execute("rm -rf " .. cache)
end)

t.done()
