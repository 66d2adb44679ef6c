-- Every shipped BPF program (bpf/*.bpf.c, compiled with the defines the
-- scripts use) loads under a verified-instruction budget. The verifier's
-- count (bpf_prog_info.verified_insns) is deterministic for a given kernel
-- and object, unlike load time, so it is what the test checks; the load time
-- is printed for the record only. A budget is the count measured on Linux
-- 6.18 with headroom (about 1.5x): a change that makes the verifier walk far
-- more (an argv loop that it has to unroll state by state, say) fails here.
-- EBPF_BUDGETS_REPORT=1 prints the measured counts of every program.
-- Where the build made prebuilt objects, these are what load (the full
-- filter form, whose mask tests add some 35 verified instructions to a
-- program with /*FILTER*/); EBPFRUN_PREBUILT_DIR=/nonexistent measures the
-- runtime compile's fitted form instead.
local t = require "harness"
local c = require "ebpf_common"
local attach_paths = require "ebpf.attach_paths"
local ebpf = require "ebpf"
local ffi = require "ffi"
c.require_root()

local source = assert(os.getenv("EBPFRUN_SOURCE_DIR"), "EBPFRUN_SOURCE_DIR is not set") .. "/bpf/"

ffi.cdef [[
struct ebpf_budgets_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clock, struct ebpf_budgets_timespec *ts);
]]
local function now()
  local ts = ffi.new("struct ebpf_budgets_timespec")
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

-- Objects as the scripts compile them (the defines of scripts/*.lua), and
-- each program's budget of verified instructions.
-- The attach paths of the sources that have them, as the scripts declare
-- them: { {name =, programs = {...} or function(opts)}, ... }.
local function script_paths(name)
  EBPFRUN_COLLECTOR_LIBRARY = true
  local def = assert(loadfile(os.getenv("EBPFRUN_SOURCE_DIR") .. "/scripts/" .. name .. ".lua"))()
  EBPFRUN_COLLECTOR_LIBRARY = nil
  return assert(def.paths, name .. ".lua declares no attach paths")
end
local NETWORK_PATHS = script_paths("network")
local TCPLIFE_PATHS = require("ebpf.tool").PATHS["tcplife.bpf.c"]

local BUDGETS = {
  { file = "execsnoop.bpf.c", programs = {
    execsnoop_enter = 400, execsnoop_enter_at = 400, execsnoop_exit = 200,
    execsnoop_exec = 200,
  } },
  { file = "syscalls.bpf.c", programs = {
    syscalls_enter = 100, syscalls_exit = 200,
  } },
  { file = "syscalls.bpf.c", defines = { "COUNT_ONLY=1" }, programs = { syscalls_exit = 200 } },
  { file = "fileio.bpf.c", programs = {
    fileio_enter_read = 100, fileio_exit_read = 200, fileio_enter_pread64 = 100, fileio_exit_pread64 = 200,
    fileio_enter_readv = 100, fileio_exit_readv = 200, fileio_enter_preadv = 100, fileio_exit_preadv = 200,
    fileio_enter_preadv2 = 100, fileio_exit_preadv2 = 200, fileio_enter_write = 100, fileio_exit_write = 200,
    fileio_enter_pwrite64 = 100, fileio_exit_pwrite64 = 200, fileio_enter_writev = 100,
    fileio_exit_writev = 200, fileio_enter_pwritev = 100, fileio_exit_pwritev = 200,
    fileio_enter_pwritev2 = 100, fileio_exit_pwritev2 = 200,
  } },
  { file = "fileio.bpf.c", defines = { "PER_FILE=1" }, programs = {
    fileio_enter_read = 100, fileio_exit_read = 26000, fileio_enter_pread64 = 100,
    fileio_exit_pread64 = 26000, fileio_enter_readv = 100, fileio_exit_readv = 26000,
    fileio_enter_preadv = 100, fileio_exit_preadv = 26000, fileio_enter_preadv2 = 100,
    fileio_exit_preadv2 = 26000, fileio_enter_write = 100, fileio_exit_write = 26000,
    fileio_enter_pwrite64 = 100, fileio_exit_pwrite64 = 26000, fileio_enter_writev = 100,
    fileio_exit_writev = 26000, fileio_enter_pwritev = 100, fileio_exit_pwritev = 26000,
    fileio_enter_pwritev2 = 100, fileio_exit_pwritev2 = 26000,
  } },
  { file = "memory.bpf.c", programs = {
    memory_fault_user = 200, memory_fault_kernel = 200, memory_rss = 400, memory_oom_victim = 200,
  } },
  { file = "netsubsys.bpf.c", programs = {
    netsubsys_state = 200, netsubsys_send = 100, netsubsys_recv = 100, netsubsys_destroy = 100,
    netsubsys_drop = 600, netsubsys_retransmit = 300, netsubsys_reset_sent = 500,
    netsubsys_reset_received = 300,
  } },
  -- Attach paths (scripts/network.lua): each path is loaded on its own, with
  -- the other path's programs switched off, as the collector does.
  { file = "network.bpf.c", paths = NETWORK_PATHS, programs = {
    network_send = 300, network_receive = 300, network_state = 150, network_retransmit = 300,
    network_fexit_inet_sendmsg = 1000, network_fexit_inet6_sendmsg = 1000, network_fexit_inet_recvmsg = 1000,
    network_fexit_inet6_recvmsg = 1000,
  } },
  { file = "network.bpf.c", defines = { "PER_ADDRESS=1" }, paths = NETWORK_PATHS, programs = {
    network_fexit_inet_sendmsg = 1000, network_fexit_inet6_sendmsg = 1000, network_fexit_inet_recvmsg = 1000,
    network_fexit_inet6_recvmsg = 1000,
    network_enter_sendto = 100, network_enter_recvfrom = 100, network_enter_sendmsg = 200,
    network_enter_recvmsg = 200, network_exit_sendto = 100, network_exit_sendmsg = 100,
    network_exit_recvfrom = 400, network_exit_recvmsg = 400, network_thread_exit = 100, network_send = 1100,
    network_receive = 600, network_state = 150, network_retransmit = 400,
  } },
  -- The generic one-liner (its choices are globals written before the load):
  -- a plain count, and every key with a value and its log2 bucket.
  { file = "oneliner_generic.bpf.c", programs = {
    oneliner_generic = 200,
  } },
  { file = "oneliner_generic.bpf.c", label = "oneliner_generic.bpf.c, every key, hist",
    globals = { oneliner_keys = 63, oneliner_key_field_offset = 8, oneliner_key_field_size = 4,
                oneliner_key_field_signed = 1, oneliner_value = 5, oneliner_value_field_offset = 16,
                oneliner_value_field_size = 8, oneliner_value_field_signed = 1, oneliner_log2 = 1 }, programs = {
    oneliner_generic = 900,
  } },
  { file = "offcputime.bpf.c", defines = { "OFFCPU_MIN_NS=1000ULL" }, programs = {
    offcpu_switch = 200,
  } },
  { file = "offcputime.bpf.c", defines = { "OFFCPU_MIN_NS=1000ULL", "OFFCPU_WAKEUP=1" }, programs = {
    offcpu_switch = 300, offcpu_waking = 100,
  } },
  { file = "profile.bpf.c", programs = {
    profile_sample = 100,
  } },
  { file = "rmdetect.bpf.c", programs = {
    rmdetect_unlink = 900, rmdetect_unlinkat = 1000, rmdetect_rmdir = 900, rmdetect_unlink_exit = 100,
    rmdetect_unlinkat_exit = 100, rmdetect_rmdir_exit = 100,
  } },
  { file = "scheduler.bpf.c", programs = {
    scheduler_switch = 13000, scheduler_wakeup = 100, scheduler_wakeup_new = 100, scheduler_exit = 6200,
  } },
  { file = "scheduler.bpf.c", defines = { "RUNQ_ONLY=1" }, programs = {
    scheduler_switch = 2000, scheduler_wakeup = 100, scheduler_wakeup_new = 100,
  } },
  -- redir_msg is refused where sk_msg programs may not read the comm (6.1, 6.12).
  { file = "sockredirect.bpf.c", optional = { "redir_msg" }, programs = {
    redir_sockops = 500, redir_msg = 300, redir_msg_nocomm = 350, redir_exit = 50,
  } },
  -- tcp_owner.h: an owner record is in an array slot or in the hash, and
  -- the verifier walks what follows once for each (tcpstate's rows again).
  { file = "tcplife.bpf.c", defines = { "TCP_EVENTS=1" }, programs = {
    tcplife_state = 2200,
  } },
  { file = "tcplife.bpf.c", defines = { "TCP_EVENTS=2" }, paths = TCPLIFE_PATHS, programs = {
    tcplife_state = 1700, tcplife_accept = 800, tcplife_fexit_accept = 1500,
  } },
  { file = "tcplife.bpf.c", defines = { "TCP_EVENTS=4" }, paths = TCPLIFE_PATHS, programs = {
    tcplife_state = 2300, tcplife_accept = 550, tcplife_fexit_accept = 1500,
  } },
  { file = "tcpstate.bpf.c", programs = {
    tcpstate_transition = 3600, tcpstate_accept = 550,
  } },
}

-- verified_insns of a loaded program, from bpf(BPF_OBJ_GET_INFO_BY_FD) on
-- an fd got by id (bpftool before 7.2 does not print the count). Offsets are
-- those of the UAPI struct bpf_prog_info, which only ever grows.
local SYS_bpf, BPF_PROG_GET_FD_BY_ID, BPF_OBJ_GET_INFO_BY_FD = 321, 13, 15
local VERIFIED_INSNS_OFFSET, PROG_INFO_SIZE = 216, 232
ffi.cdef [[
struct ebpf_budgets_by_id { uint32_t prog_id, next_id, open_flags; };
struct ebpf_budgets_info_attr { uint32_t bpf_fd, info_len; uint64_t info; };
int close(int fd);
]]
local function verified_insns(id)
  local by_id = ffi.new("struct ebpf_budgets_by_id", { prog_id = id })
  local fd = tonumber(ffi.C.syscall(SYS_bpf, ffi.cast("long", BPF_PROG_GET_FD_BY_ID), by_id, ffi.cast("long", ffi.sizeof(by_id))))
  if fd < 0 then return nil end
  local info = ffi.new("uint8_t[?]", PROG_INFO_SIZE)
  local attr = ffi.new("struct ebpf_budgets_info_attr", { bpf_fd = fd, info_len = PROG_INFO_SIZE,
                                                          info = ffi.cast("uint64_t", ffi.cast("uintptr_t", info)) })
  local rc = ffi.C.syscall(SYS_bpf, ffi.cast("long", BPF_OBJ_GET_INFO_BY_FD), attr, ffi.cast("long", ffi.sizeof(attr)))
  ffi.C.close(fd)
  if rc ~= 0 or attr.info_len < VERIFIED_INSNS_OFFSET + 4 then return nil end
  return tonumber(ffi.cast("uint32_t *", info + VERIFIED_INSNS_OFFSET)[0])
end

local report = os.getenv("EBPF_BUDGETS_REPORT") == "1"

-- A case's loads: one, or one per attach path with the other paths' programs
-- switched off (autoload). Where the kernel lacks a path's attach points (this
-- host refuses fentry; 6.1 has no sock_send_length) that path's load fails,
-- which is a note, as long as some path loads: the guests of the kernel
-- matrix, where fentry must work (EBPFRUN_EXPECT_FENTRY=1), load both.
local function loads_of(case)
  if not case.paths then return { { name = nil, autoload = nil } } end
  local opts = { per_address = case.defines and case.defines[1] == "PER_ADDRESS=1" }
  local loads = {}
  for _, chosen in ipairs(case.paths) do
    loads[#loads + 1] = { name = chosen.name, autoload = attach_paths.autoload_for(case, opts, chosen) }
  end
  return loads
end

local function check_load(case, label, load)
  local started = now()
  local obj, err = ebpf.compile { file = source .. case.file, defines = case.defines,
                                  filter = { exclude_pid = c.pid() }, optional = case.optional,
                                  autoload = load.autoload, globals = case.globals }
  if not obj and load.name then return nil, ("path %s: %s"):format(load.name, tostring(err)) end
  t.ok(obj, tostring(err))
  local elapsed = now() - started
  local counts = {}
  for _, p in ipairs(obj:info().programs) do
    counts[p.name] = p.loaded ~= false and verified_insns(p.id) or nil
    if report and p.loaded ~= false then print(("  %-28s %-26s verified_insns %7s  budget %7s"):format(label, p.name,
      tostring(counts[p.name]), tostring(case.programs[p.name]))) end
  end
  if report then print(("  %-28s compile + load %.3f s%s"):format(label, elapsed, load.name and (" (path " .. load.name .. ")") or "")) end
  local skipped = {}
  for _, name in ipairs(case.optional or {}) do skipped[name] = true end
  local seen = {}
  for _, p in ipairs(obj:info().programs) do
    local count, budget = counts[p.name], case.programs[p.name]
    t.ok(budget, "program " .. p.name .. " has no budget in tests/lua/ebpf_budgets.lua")
    seen[p.name] = true
    if p.loaded ~= false then
      t.ok(count and count > 0, "no verified_insns for " .. p.name)
      if budget and count then t.ok(count <= budget, ("%s: %d verified instructions, budget %d"):format(p.name, count, budget)) end
    else
      t.ok(skipped[p.name] or (load.autoload and load.autoload[p.name] == false), p.name .. " did not load")
    end
  end
  for name in pairs(case.programs) do t.ok(seen[name], "budgeted program " .. name .. " not in the object") end
  obj:close()
  return true
end

for _, case in ipairs(BUDGETS) do
  local label = case.label or (case.file .. (case.defines and (" " .. table.concat(case.defines, " ")) or ""))
  t.test(label .. ": every program within its verified-instruction budget", function()
    local loaded, notes = 0, {}
    for _, load in ipairs(loads_of(case)) do
      local ok, why = check_load(case, label, load)
      if ok then loaded = loaded + 1 else notes[#notes + 1] = why end
    end
    for _, note in ipairs(notes) do
      print(("note: %s: %s"):format(label, note))
      if os.getenv("EBPFRUN_EXPECT_FENTRY") == "1" and note:find("^path fentry:") then t.ok(false, note) end
    end
    t.ok(loaded > 0, "no attach path loads: " .. table.concat(notes, "; "))
  end)
end

t.done()
