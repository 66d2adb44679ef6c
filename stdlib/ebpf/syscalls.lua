-- ebpf.syscalls: system call numbers and names for the running machine.
--
-- Why not read the kernel's table: this kernel exposes none. x86 has had no
-- sys_call_table symbol since Linux 6.9 (dispatch is a switch in x64_sys_call),
-- and neither BTF nor /proc lists numbers. So the numbers come from the installed
-- UAPI header (asm/unistd_64.h, `#define __NR_openat 257`), which is the ABI and
-- never renumbers, and tracefs (events/syscalls/sys_enter_<name>) confirms which
-- of those calls the running kernel actually has. A header older than the kernel
-- lacks the newest calls, so a short list of x86-64 numbers newer than Debian 12's
-- header is built in (each was checked against this 6.18 kernel's tracepoints), as
-- is a list of common calls for machines with no header installed.
--
--   syscalls.name(nr)          -> "openat"; "syscall_<nr>" when unknown
--   syscalls.nr(name)          -> 257 or nil ("syscall_<nr>" is accepted too)
--   syscalls.available(name)   -> true / false per tracefs, nil when tracefs is
--                                 not mounted (so nothing can be said)
--   syscalls.tracepoint(name)  -> "syscalls/sys_enter_newstat" for "stat"
--   syscalls.list()            -> {{nr=, name=, available=}, ...} sorted by nr
--   syscalls.reset(opts)       -> forget the tables; opts.header (a path, or
--                                 false for none) and opts.tracefs override the
--                                 paths (tests use this)

local syscalls = {}

local X86_64_HEADERS = { "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
                         "/usr/include/asm/unistd_64.h" }
local TRACEFS_DIRS = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" }

-- x86-64 calls newer than Linux 6.1's header (Debian 12), in ABI order.
local NEWER_X86_64 = {
  [335] = "uretprobe", [336] = "uprobe", [451] = "cachestat", [452] = "fchmodat2",
  [453] = "map_shadow_stack", [454] = "futex_wake", [455] = "futex_wait",
  [456] = "futex_requeue", [457] = "statmount", [458] = "listmount",
  [459] = "lsm_get_self_attr", [460] = "lsm_set_self_attr", [461] = "lsm_list_modules",
  [462] = "mseal", [463] = "setxattrat", [464] = "getxattrat", [465] = "listxattrat",
  [466] = "removexattrat", [467] = "open_tree_attr", [468] = "file_getattr",
  [469] = "file_setattr",
}

-- Common x86-64 calls, used only when no header can be read (the tests check
-- every entry against the header).
local COMMON_X86_64 = [[
0 read 1 write 2 open 3 close 4 stat 5 fstat 6 lstat 7 poll 8 lseek 9 mmap 10 mprotect
11 munmap 12 brk 13 rt_sigaction 14 rt_sigprocmask 15 rt_sigreturn 16 ioctl 17 pread64
18 pwrite64 19 readv 20 writev 21 access 22 pipe 23 select 24 sched_yield 25 mremap
28 madvise 32 dup 33 dup2 35 nanosleep 39 getpid 40 sendfile 41 socket 42 connect
43 accept 44 sendto 45 recvfrom 46 sendmsg 47 recvmsg 48 shutdown 49 bind 50 listen
56 clone 57 fork 58 vfork 59 execve 60 exit 61 wait4 62 kill 63 uname 72 fcntl 74 fsync
78 getdents 79 getcwd 80 chdir 82 rename 83 mkdir 84 rmdir 87 unlink 89 readlink
90 chmod 92 chown 102 getuid 104 getgid 110 getppid 186 gettid 202 futex 217 getdents64
228 clock_gettime 230 clock_nanosleep 231 exit_group 232 epoll_wait 233 epoll_ctl
257 openat 262 newfstatat 263 unlinkat 270 pselect6 271 ppoll 281 epoll_pwait
288 accept4 290 eventfd2 291 epoll_create1 292 dup3 293 pipe2 302 prlimit64
318 getrandom 319 memfd_create 321 bpf 322 execveat 332 statx 334 rseq
425 io_uring_setup 426 io_uring_enter 435 clone3 437 openat2 439 faccessat2
]]

-- Calls whose tracepoint is named after the kernel's function rather than the
-- ABI name (SYSCALL_DEFINE(newstat) serves __NR_stat, and so on).
local TRACEPOINT_NAMES = { stat = "newstat", fstat = "newfstat", lstat = "newlstat",
                           uname = "newuname", sendfile = "sendfile64", umount2 = "umount" }

local config = {}
local by_nr, by_name, tracefs_events

local function read_file(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return text
end

local function add(nr, name)
  if by_nr[nr] == nil then by_nr[nr] = name end
  if by_name[name] == nil then by_name[name] = nr end
end

local function load()
  if by_nr then return end
  by_nr, by_name = {}, {}
  local x86_64 = jit and jit.arch == "x64"
  local headers = x86_64 and X86_64_HEADERS or {}
  if config.header ~= nil then headers = config.header and { config.header } or {} end
  local found = false
  for _, path in ipairs(headers) do
    local text = read_file(path)
    if text then
      for name, nr in text:gmatch("#define%s+__NR_([%w_]+)%s+(%d+)") do
        add(tonumber(nr), name)
        found = true
      end
      if found then break end
    end
  end
  if x86_64 then
    for nr, name in pairs(NEWER_X86_64) do add(nr, name) end
    if not found then
      for nr, name in COMMON_X86_64:gmatch("(%d+)%s+([%w_]+)") do add(tonumber(nr), name) end
    end
  end
end

-- The directory of syscall tracepoints, or false when tracefs is not mounted.
local function events_dir()
  if tracefs_events ~= nil then return tracefs_events end
  tracefs_events = false
  local dirs = config.tracefs and { config.tracefs } or TRACEFS_DIRS
  for _, dir in ipairs(dirs) do
    local d = dir .. "/events/syscalls"
    local f = io.open(d .. "/enable", "r")
    if f then f:close(); tracefs_events = d; break end
  end
  return tracefs_events
end

function syscalls.name(nr)
  nr = tonumber(nr)
  load()
  return by_nr[nr] or ("syscall_" .. string.format("%.0f", nr))
end

function syscalls.nr(name)
  load()
  local nr = by_name[name]
  if nr then return nr end
  nr = type(name) == "string" and name:match("^syscall_(%d+)$")
  return nr and tonumber(nr)
end

-- The tracepoint for a call's entry ("sys_enter") or exit ("sys_exit").
function syscalls.tracepoint(name, which)
  return "syscalls/" .. (which or "sys_enter") .. "_" .. (TRACEPOINT_NAMES[name] or name)
end

-- Whether the running kernel has the call (it has a tracepoint for it). Calls
-- that a kernel configuration leaves out (init_module without modules) or that
-- exist only for other architectures (set_thread_area) come out false.
function syscalls.available(name)
  local dir = events_dir()
  if not dir then return nil end
  local f = io.open(dir .. "/sys_enter_" .. (TRACEPOINT_NAMES[name] or name) .. "/format", "r")
  if f then f:close(); return true end
  return false
end

function syscalls.list()
  load()
  local out = {}
  for nr, name in pairs(by_nr) do
    out[#out + 1] = { nr = nr, name = name, available = syscalls.available(name) }
  end
  table.sort(out, function(a, b) return a.nr < b.nr end)
  return out
end

function syscalls.reset(opts)
  config = opts or {}
  by_nr, by_name, tracefs_events = nil, nil, nil
end

return syscalls
