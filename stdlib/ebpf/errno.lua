-- ebpf.errno: names and descriptions of errno values and signals.
--
-- Kernel probes see raw numbers (a syscall returning -2, a signal 9), and people
-- read names (ENOENT, SIGKILL). The errno table is parsed at first use from the
-- installed UAPI headers (asm-generic/errno-base.h and errno.h), whose comments
-- also give the descriptions, so it matches the kernel ABI rather than a libc;
-- when the headers are missing, a built-in table of the common values is used.
-- The kernel-internal codes that leak out of BPF and other kernel interfaces
-- (524 ENOTSUPP, 512 ERESTARTSYS) are not in any UAPI header and are built in.
--
--   errno.name(n)  -> "ENOENT" (n may be negative, as syscalls return it), nil if unknown
--   errno.text(n)  -> "No such file or directory", nil if unknown
--   errno.nr(name) -> 2
--   errno.signal_name(n) -> "SIGKILL", "SIGRT_3"; errno.signal_nr(name) -> 9

local errno = {}

local HEADERS = { "/usr/include/asm-generic/errno-base.h", "/usr/include/asm-generic/errno.h" }

-- Used only without headers; the tests check each entry against the headers.
local COMMON = [[
1 EPERM Operation not permitted
2 ENOENT No such file or directory
3 ESRCH No such process
4 EINTR Interrupted system call
5 EIO I/O error
6 ENXIO No such device or address
7 E2BIG Argument list too long
8 ENOEXEC Exec format error
9 EBADF Bad file number
10 ECHILD No child processes
11 EAGAIN Try again
12 ENOMEM Out of memory
13 EACCES Permission denied
14 EFAULT Bad address
16 EBUSY Device or resource busy
17 EEXIST File exists
19 ENODEV No such device
20 ENOTDIR Not a directory
21 EISDIR Is a directory
22 EINVAL Invalid argument
24 EMFILE Too many open files
28 ENOSPC No space left on device
32 EPIPE Broken pipe
34 ERANGE Math result not representable
36 ENAMETOOLONG File name too long
38 ENOSYS Invalid system call number
39 ENOTEMPTY Directory not empty
40 ELOOP Too many symbolic links encountered
61 ENODATA No data available
75 EOVERFLOW Value too large for defined data type
95 EOPNOTSUPP Operation not supported on transport endpoint
98 EADDRINUSE Address already in use
104 ECONNRESET Connection reset by peer
110 ETIMEDOUT Connection timed out
111 ECONNREFUSED Connection refused
113 EHOSTUNREACH No route to host
115 EINPROGRESS Operation now in progress
]]

-- include/linux/errno.h: codes the kernel uses internally that still reach users.
local KERNEL_INTERNAL = {
  [512] = "ERESTARTSYS", [513] = "ERESTARTNOINTR", [514] = "ERESTARTNOHAND",
  [515] = "ENOIOCTLCMD", [516] = "ERESTART_RESTARTBLOCK", [517] = "EPROBE_DEFER",
  [518] = "EOPENSTALE", [519] = "ENOPARAM", [521] = "EBADHANDLE", [522] = "ENOTSYNC",
  [523] = "EBADCOOKIE", [524] = "ENOTSUPP", [525] = "ETOOSMALL", [526] = "ESERVERFAULT",
  [527] = "EBADTYPE", [528] = "EJUKEBOX", [529] = "EIOCBQUEUED", [530] = "ERECALLCONFLICT",
}

local by_nr, by_name
local headers = HEADERS

-- Forgets the parsed table; opts.headers replaces the header list ({} forces the
-- built-in table). Tests use this.
function errno.reset(opts)
  headers = (opts and opts.headers) or HEADERS
  by_nr, by_name = nil, nil
end

local function define(nr, name, text)
  if not by_nr[nr] then by_nr[nr] = { name = name, text = text } end
  if not by_name[name] then by_name[name] = nr end
end

local function load()
  if by_nr then return end
  by_nr, by_name = {}, {}
  local aliases = {}
  for _, path in ipairs(headers) do
    local f = io.open(path, "r")
    if f then
      for line in f:lines() do
        local name, value, text = line:match("^#define%s+(E[%w_]+)%s+([%w_]+)%s*/%*%s*(.-)%s*%*/")
        if not name then name, value = line:match("^#define%s+(E[%w_]+)%s+([%w_]+)%s*$") end
        if name then
          local nr = tonumber(value)
          if nr then define(nr, name, text) else aliases[#aliases + 1] = { name, value } end
        end
      end
      f:close()
    end
  end
  if next(by_nr) == nil then
    for nr, name, text in COMMON:gmatch("(%d+) (E[%w_]+) ([^\n]+)") do define(tonumber(nr), name, text) end
  end
  -- Aliases (EWOULDBLOCK -> EAGAIN) resolve by name only; a number keeps its first name.
  for _, a in ipairs(aliases) do
    if by_name[a[2]] and not by_name[a[1]] then by_name[a[1]] = by_name[a[2]] end
  end
  for nr, name in pairs(KERNEL_INTERNAL) do define(nr, name, "Kernel-internal error " .. name) end
end

local function lookup(n)
  n = tonumber(n)
  if not n then return nil end
  load()
  return by_nr[math.abs(n)]
end

function errno.name(n)
  local e = lookup(n)
  return e and e.name
end

function errno.text(n)
  local e = lookup(n)
  return e and e.text
end

function errno.nr(name)
  load()
  return by_name[name]
end

-- Signals: the generic Linux numbering, which x86 and arm64 share. 32..64 are
-- real-time signals. They are named SIGRT_<n - 32> as strace names them, because
-- "SIGRTMIN" is ambiguous: the kernel's is 32, while glibc's (and kill -l's) is 34.
local SIGNALS = { "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS",
  "SIGFPE", "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM",
  "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG",
  "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS" }
local SIGNAL_ALIASES = { SIGIOT = 6, SIGPOLL = 29, SIGCLD = 17 }

function errno.signal_name(n)
  n = tonumber(n)
  if not n then return nil end
  if SIGNALS[n] then return SIGNALS[n] end
  if n >= 32 and n <= 64 then return "SIGRT_" .. (n - 32) end
  return nil
end

function errno.signal_nr(name)
  if type(name) ~= "string" then return nil end
  name = name:upper()
  if not name:find("^SIG") then name = "SIG" .. name end
  for i, s in ipairs(SIGNALS) do if s == name then return i end end
  if SIGNAL_ALIASES[name] then return SIGNAL_ALIASES[name] end
  if name == "SIGRTMIN" then return 32 end
  if name == "SIGRTMAX" then return 64 end
  local off = tonumber(name:match("^SIGRT_(%d+)$"))
  if off and off <= 32 then return 32 + off end
  return nil
end

return errno
