-- ebpf.format: turning the raw numbers a probe reports into text people read.
--
--   format.bytes(n)                 "0 B", "512 B", "1.5 KiB", "3.2 MiB"
--   format.duration(ns)             "850 ns", "12.3 us", "4.56 ms", "1.20 s"
--   format.timestamp(sec, style)    "time": local "HH:MM:SS"; "iso": UTC
--                                   "2024-05-01T12:00:00.123Z"; sec defaults to now
--   format.number(n, decimals)      "1,234,567"
--   format.value(v)                 any cell value (numbers, int64 and char-array
--                                   cdata, strings) as one line of text
--   format.comm_of(pid)             the command name of a live process, nil when gone
--   format.forget_pid(pid)          drop a cached name (on exit or exec events)
--   format.syscall_name(nr) / syscall_nr(name) / syscall_available(name)
--   format.errno_name(n) / errno_text(n) / errno_nr(name)
--   format.signal_name(n) / signal_nr(name)
--   format.table(rows, columns, opts)  an aligned text table (see below)
--
-- Syscalls are resolved by ebpf.syscalls (header numbers, tracefs confirmation;
-- it explains why), errnos and signals by ebpf.errno.

local ffi = require "ffi"
local syscalls = require "ebpf.syscalls"
local errno = require "ebpf.errno"

local format = {}

local int64_t, uint64_t = ffi.typeof("int64_t"), ffi.typeof("uint64_t")

local function is_int64(v)
  return type(v) == "cdata" and (ffi.istype(int64_t, v) or ffi.istype(uint64_t, v))
end

local function num(v)
  if type(v) == "cdata" then return tonumber(v) end
  return v
end

local BYTE_UNITS = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" }

-- Binary units with one decimal, switching unit before "1024.0 KiB" could show.
function format.bytes(n)
  n = num(n)
  local sign = n < 0 and "-" or ""
  n = math.abs(n)
  if n < 1024 then return string.format("%s%.0f B", sign, n) end
  local i = 1
  n = n / 1024
  while n >= 1023.95 and i < #BYTE_UNITS do n = n / 1024; i = i + 1 end
  return string.format("%s%.1f %s", sign, n, BYTE_UNITS[i])
end

-- Three significant digits in the largest unit that keeps the value below 1000,
-- so columns of durations stay narrow and comparable.
function format.duration(ns)
  ns = num(ns)
  local sign = ns < 0 and "-" or ""
  ns = math.abs(ns)
  if ns < 999.5 then return string.format("%s%.0f ns", sign, ns) end
  local units = { { 1e3, "us" }, { 1e6, "ms" }, { 1e9, "s" } }
  for i, u in ipairs(units) do
    local v = ns / u[1]
    if v < 999.5 or i == #units then
      local fmt = v < 9.995 and "%s%.2f %s" or (v < 99.95 and "%s%.1f %s" or "%s%.0f %s")
      return string.format(fmt, sign, v, u[2])
    end
  end
end

-- Wall-clock time with sub-second precision; os.time() only has seconds.
local have_clock = pcall(ffi.cdef, [[
  typedef struct { long sec; long nsec; } ebpf_format_timespec;
  int clock_gettime(int clk, ebpf_format_timespec *ts);
]])

local function now()
  if have_clock then
    local ts = ffi.new("ebpf_format_timespec")
    local ok, rc = pcall(ffi.C.clock_gettime, 0, ts) -- CLOCK_REALTIME
    if ok and rc == 0 then return tonumber(ts.sec) + tonumber(ts.nsec) / 1e9 end
  end
  return os.time()
end
format.now = now

-- Seconds since the epoch (a float) as text: style "time" (default) is local
-- HH:MM:SS as event tools print it; "iso" is ISO 8601 in UTC with milliseconds,
-- which sorts and parses unambiguously in logs.
function format.timestamp(sec, style)
  sec = num(sec) or now()
  local whole = math.floor(sec)
  style = style or "time"
  if style == "time" then return os.date("%H:%M:%S", whole) end
  if style == "iso" then
    local ms = math.floor((sec - whole) * 1000)
    return os.date("!%Y-%m-%dT%H:%M:%S", whole) .. string.format(".%03dZ", ms)
  end
  error("format.timestamp: unknown style '" .. tostring(style) .. "' (use \"time\" or \"iso\")", 2)
end

-- Thousands separators; decimals (optional) fixes the digits after the point.
function format.number(n, decimals)
  local s
  if is_int64(n) then
    s = tostring(n):gsub("U?LL$", "")
  else
    n = num(n)
    if n ~= n or n == math.huge or n == -math.huge then return tostring(n) end
    if decimals then s = string.format("%." .. decimals .. "f", n)
    elseif n == math.floor(n) then s = string.format("%.0f", n)
    else s = string.format("%.2f", n) end
  end
  local sign, int, rest = s:match("^(-?)(%d+)(.*)$")
  int = int:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
  return sign .. int .. rest
end

-- The text of a char array cdata up to its first NUL, or nil for other values.
local function char_array_text(v)
  local t = (tostring(ffi.typeof(v)):match("^ctype<(.*)>$") or ""):gsub("^const ", "")
  local n = t:match("^char %(&%)%[(%d+)%]$") or t:match("^char %[(%d+)%]$")
  return n and ffi.string(v, tonumber(n)):match("^[^%z]*")
end

-- One cell of text: integers without a fraction, other numbers with two
-- decimals, 64-bit cdata without the LL suffix, control characters shown as '?'
-- so that a strange task name cannot break a table's layout.
function format.value(v)
  local tv = type(v)
  if v == nil then return "" end
  if tv == "number" then
    if v == math.floor(v) and math.abs(v) < 2 ^ 63 then return string.format("%.0f", v) end
    return string.format("%.2f", v)
  end
  if tv == "cdata" then
    if is_int64(v) then return (tostring(v):gsub("U?LL$", "")) end
    local s = char_array_text(v)
    if s then return (s:gsub("[%z\1-\31\127]", "?")) end
    local x = tonumber(v)
    if x then return format.value(x) end
  end
  return (tostring(v):gsub("[%z\1-\31\127]", "?"))
end

-- Process names, cached because a busy tracer asks for the same few pids again
-- and again. The cache holds two generations of at most COMM_CACHE entries each,
-- so its size is bounded and recently used names survive a turnover. Misses are
-- not cached: a pid that is gone now may be reused by the next process.
local COMM_CACHE = 1024
local comm_new, comm_old, comm_count = {}, {}, 0

function format.comm_of(pid)
  pid = tonumber(pid)
  if not pid or pid < 0 or pid ~= math.floor(pid) then return nil end
  local c = comm_new[pid]
  if c then return c end
  c = comm_old[pid]
  if not c then
    local f = io.open(string.format("/proc/%d/comm", pid), "r")
    if not f then return nil end
    c = f:read("*l")
    f:close()
    if not c then return nil end
  end
  if comm_count >= COMM_CACHE then comm_old, comm_new, comm_count = comm_new, {}, 0 end
  comm_new[pid], comm_count = c, comm_count + 1
  return c
end

-- Changes the per-generation cache size (and empties the cache); for tests.
function format._set_comm_cache_size(n)
  COMM_CACHE, comm_new, comm_old, comm_count = n, {}, {}, 0
end

function format.forget_pid(pid)
  pid = tonumber(pid)
  comm_new[pid], comm_old[pid] = nil, nil
end

format.syscall_name, format.syscall_nr = syscalls.name, syscalls.nr
format.syscall_available = syscalls.available
format.errno_name, format.errno_text, format.errno_nr = errno.name, errno.text, errno.nr
format.signal_name, format.signal_nr = errno.signal_name, errno.signal_nr

-- Named formatters for table and output columns (column.format = "bytes").
format.formatters = {
  -- Column formatters are called as f(value, row): adapt the ones whose second
  -- parameter means something else.
  bytes = format.bytes, duration = format.duration, number = function(v) return format.number(v) end,
  timestamp = function(v) return format.timestamp(v) end, syscall = syscalls.name, errno = errno.name,
  signal = errno.signal_name, value = format.value,
}
-- Formatters whose output is a quantity, so their columns align right.
format.numeric_formatters = { bytes = true, duration = true, number = true }

-- Display width in characters: UTF-8 continuation bytes take no column.
function format.width(s)
  local _, n = s:gsub("[^\128-\191]", "")
  return n
end

-- Cuts s to at most w characters, ending in "…" when something was cut.
function format.truncate(s, w)
  if format.width(s) <= w then return s end
  if w < 1 then return "" end
  local count = 0
  for i = 1, #s do
    local b = s:byte(i)
    if b < 0x80 or b >= 0xC0 then
      count = count + 1
      if count == w then return s:sub(1, i - 1) .. "…" end
    end
  end
  return s
end

function format.pad(s, w, align)
  local gap = w - format.width(s)
  if gap <= 0 then return s end
  if align == "right" then return string.rep(" ", gap) .. s end
  return s .. string.rep(" ", gap)
end

-- Normalises a column spec: "pid" or {"PID", key="pid", format="bytes"|fn,
-- align="left"|"right", width=min, max_width=max}.
function format.column(col)
  if type(col) == "string" then col = { col, key = col } end
  local c = { title = col[1] or col.title or tostring(col.key), key = col.key,
              format = col.format, align = col.align, width = col.width,
              max_width = col.max_width }
  if c.key == nil then c.key = c.title:lower() end
  if type(c.format) == "string" then
    local name = c.format
    c.format = format.formatters[name]
    if not c.format then error("format: unknown column format '" .. name .. "'", 3) end
    if not c.align and format.numeric_formatters[name] then c.align = "right" end
  end
  return c
end

local function is_number(v)
  return type(v) == "number" or (type(v) == "cdata" and tonumber(v) ~= nil)
end

-- A sort key: numbers compare as numbers, strings as strings, numbers before
-- strings, and a missing value below everything.
local function sort_key(v)
  v = num(v)
  if v == nil then return 0, -math.huge end
  if type(v) == "number" then return 1, v end
  return 2, tostring(v)
end

-- The rows a table shows: sorted by opts.sort (a key, largest first unless
-- opts.desc == false, or a comparator) and cut to opts.top. Ties keep their
-- input order, so equal counts do not shuffle between intervals. rows is not
-- changed.
function format.select_rows(rows, opts)
  opts = opts or {}
  local list, pos = {}, {}
  for i, r in ipairs(rows) do list[i] = r; pos[r] = pos[r] or i end
  if opts.sort then
    local before = opts.sort
    if type(before) ~= "function" then
      local key, desc = opts.sort, opts.desc ~= false
      before = function(a, b)
        local ka, va = sort_key(a[key])
        local kb, vb = sort_key(b[key])
        if ka ~= kb then va, vb = ka, kb end
        if desc then return va > vb end
        return va < vb
      end
    end
    table.sort(list, function(a, b)
      if before(a, b) then return true end
      if before(b, a) then return false end
      return pos[a] < pos[b]
    end)
  end
  if opts.top then for i = #list, opts.top + 1, -1 do list[i] = nil end end
  return list
end

-- An aligned text table: a header row, then one line per row (each line ends
-- in "\n"). Columns holding only numbers align right, others left; a column's
-- max_width truncates long cells. opts: sort = key or comparator, desc (default
-- true: top-N means largest first), top = N rows, header = false to omit it,
-- sep = column separator (two spaces). Without columns, the first row's keys
-- (sorted) become the columns.
function format.table(rows, columns, opts)
  opts = opts or {}
  if not columns then
    columns = {}
    for k in pairs(rows[1] or {}) do columns[#columns + 1] = tostring(k) end
    table.sort(columns)
  end
  local cols = {}
  for i, c in ipairs(columns) do cols[i] = format.column(c) end
  local list = format.select_rows(rows, opts)
  local cells, widths = {}, {}
  for j, c in ipairs(cols) do
    local numeric, any = true, false
    local title_w = opts.header == false and 0 or format.width(c.title)
    if c.max_width then title_w = math.min(title_w, c.max_width) end
    widths[j] = math.max(c.width or 0, title_w)
    for i, r in ipairs(list) do
      local v = r[c.key]
      if v ~= nil then any = true; numeric = numeric and is_number(v) end
      local s = c.format and v ~= nil and c.format(v, r) or format.value(v)
      if c.max_width then s = format.truncate(s, c.max_width) end
      cells[i] = cells[i] or {}
      cells[i][j] = s
      widths[j] = math.max(widths[j], format.width(s))
    end
    c.align = c.align or ((numeric and any) and "right" or "left")
  end
  local sep, out = opts.sep or "  ", {}
  local function line(values)
    local parts = {}
    for j, c in ipairs(cols) do
      local s = values[j]
      if j < #cols or c.align == "right" then s = format.pad(s, widths[j], c.align) end
      parts[j] = s
    end
    out[#out + 1] = table.concat(parts, sep) .. "\n"
  end
  if opts.header ~= false then
    local titles = {}
    for j, c in ipairs(cols) do titles[j] = c.max_width and format.truncate(c.title, c.max_width) or c.title end
    line(titles)
  end
  for i = 1, #list do line(cells[i]) end
  return table.concat(out)
end

return format
