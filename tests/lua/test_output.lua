-- Tests for ebpf.output: the same calls give aligned text or JSON lines, JSON
-- lines are flushed one by one, and notes stay off stdout in JSON mode.
local t = require "harness"
local output = require "ebpf.output"
local hist = require "ebpf.hist"
local json = require "ebpf.json"
local ffi = require "ffi"

local COLUMNS = { { "PID", key = "pid", align = "right", width = 7 }, { "COMM", key = "comm", width = 16 },
                  { "BYTES", key = "bytes", format = "bytes" } }

local function printer(is_json, columns)
  local out, err = t.buffer(), t.buffer()
  return output.new({ json = is_json, columns = columns or COLUMNS, stream = out, err_stream = err }), out, err
end

ffi.cdef [[ struct test_output_event { unsigned int pid; char comm[16]; unsigned long long bytes; }; ]]

t.test("text rows have fixed, aligned columns", function()
  local o, out = printer(false)
  o:header()
  o:row({ pid = 1, comm = "systemd", bytes = 1536 })
  o:row({ pid = 123456, comm = "a-command-name-longer-than-16", bytes = 5 * 1048576 })
  o:row({ pid = 42, bytes = 7 }) -- a missing value leaves its cell empty
  t.eq(out:text(), table.concat({
    "    PID  COMM                   BYTES",
    "      1  systemd              1.5 KiB",
    " 123456  a-command-name-longer-than-16     5.0 MiB",
    "     42                           7 B", "" }, "\n"))
end)

t.test("JSON rows carry the raw values, one object per line, flushed each", function()
  local o, out = printer(true)
  o:header()
  local e = ffi.new("struct test_output_event")
  e.pid, e.bytes = 7, 1536
  ffi.copy(e.comm, "bash")
  o:row({ pid = e.pid, comm = e.comm, bytes = e.bytes, ignored = "x" })
  o:row({ pid = 8, comm = "a\nb" })
  t.eq(out:text(), '{"bytes":1536,"comm":"bash","pid":7}\n{"bytes":null,"comm":"a\\nb","pid":8}\n')
  t.eq(out.flushes, 2)
end)

t.test("text mode does not flush per line unless asked", function()
  local o, out = printer(false)
  o:row({ pid = 1, comm = "x", bytes = 1 })
  t.eq(out.flushes, 0)
  local buf = t.buffer()
  local f = output.new({ columns = COLUMNS, stream = buf, flush = true })
  f:row({ pid = 1, comm = "x", bytes = 1 })
  t.eq(buf.flushes, 1)
end)

t.test("events: every field in JSON, columns or key=value in text", function()
  local o, out = printer(true)
  o:event({ pid = 1, comm = "sh", extra = { 1, 2 } })
  t.eq(out:text(), '{"comm":"sh","extra":[1,2],"pid":1}\n')
  o, out = printer(false)
  o:event({ pid = 1, comm = "sh", bytes = 2048, extra = true })
  t.eq(out:text(), "      1  sh                   2.0 KiB\n")
  o, out = printer(false, {})
  o:event({ pid = 1, comm = "sh", ret = -2, path = "/etc/pass wd" })
  t.eq(out:text(), "comm=sh path=/etc/pass wd pid=1 ret=-2\n")
end)

local ROWS = { { pid = 1, comm = "init", bytes = 100 }, { pid = 2, comm = "big", bytes = 3 * 1048576 },
               { pid = 3, comm = "mid", bytes = 4096 } }

t.test("summary tables, top-N", function()
  local o, out = printer(false)
  o:table(ROWS, { sort = "bytes", top = 2, title = "12:00:00 top writers" })
  -- The printer's column widths are the tables' minimum widths too.
  t.eq(out:text(), "12:00:00 top writers\n"
                .. "    PID  COMM                   BYTES\n"
                .. "      2  big                  3.0 MiB\n"
                .. "      3  mid                  4.0 KiB\n")
  o, out = printer(false, { "pid", "comm" })
  o:table(ROWS, { sort = "pid", desc = false })
  t.eq(out:text(), "   pid  comm\n     1  init\n     2  big\n     3  mid\n")
  o, out = printer(true)
  o:table(ROWS, { sort = "bytes", top = 2, title = "top" })
  t.eq(out:text(), '{"rows":[{"bytes":3145728,"comm":"big","pid":2},{"bytes":4096,"comm":"mid","pid":3}],'
                .. '"title":"top"}\n')
  o, out = printer(true)
  o:table({})
  t.eq(out:text(), '{"rows":[]}\n')
  t.eq(#ROWS, 3)
end)

t.test("histograms in text and JSON", function()
  local h = hist.from_values({ 1, 2, 3, 3 })
  local o, out = printer(false)
  o:hist("@latency_us", h)
  t.eq(out:text(), "@latency_us:\n"
    .. "[1]                    1 |@@@@@@@@@@@@@@@@@                                   |\n"
    .. "[2, 4)                 3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\n")
  o, out = printer(false)
  o:hist("usecs", { [1] = 1, [2] = 3 }, { style = "bcc", unit = "usecs" })
  t.eq(out:text(), "usecs:\n     usecs               : count     distribution\n"
    .. "         1 -> 1          : 1        |*************                           |\n"
    .. "         2 -> 3          : 3        |****************************************|\n\n")
  o, out = printer(true)
  o:hist("lat", h)
  local line = out:text()
  t.eq(line, '{"buckets":[{"count":1,"max":1,"min":1},{"count":3,"max":3,"min":2}],"hist":"lat","type":"hist"}\n')
  t.eq(json.decode(line).hist, "lat")
  t.eq(out.flushes, 1)
end)

t.test("notes go to stderr in JSON mode", function()
  local o, out, err = printer(true)
  o:note("Tracing... Hit Ctrl-C to end.")
  t.eq(out:text(), "")
  t.eq(err:text(), "Tracing... Hit Ctrl-C to end.\n")
  o, out, err = printer(false)
  o:note("Tracing... Hit Ctrl-C to end.")
  t.eq(out:text(), "Tracing... Hit Ctrl-C to end.\n")
  t.eq(err:text(), "")
end)

t.test("a real pipe sees each JSON line before the writer ends", function()
  -- The writer prints one event, then waits until the reader has seen it (the
  -- reader creates a file), then prints the next. Without a flush per line the
  -- first event would sit in stdio's pipe buffer and the writer would time out.
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir " .. dir) == 0 or true)
  local writer = dir .. "/w.lua"
  local f = assert(io.open(writer, "w"))
  f:write([[
local out = require("ebpf.output").new{ json = true }
out:event({ n = 1 })
local seen = false
for _ = 1, 500 do
  local g = io.open("]] .. dir .. [[/seen") if g then g:close(); seen = true; break end
  os.execute("sleep 0.01")
end
out:event({ n = 2, seen = seen })
]])
  f:close()
  local p = assert(io.popen((arg[-1] or "luajit") .. " " .. writer .. " | (read -r first; echo \"$first\"; "
    .. "touch " .. dir .. "/seen; cat)"))
  local text = p:read("*a")
  p:close()
  os.execute("rm -rf " .. dir)
  t.eq(text, '{"n":1}\n{"n":2,"seen":true}\n')
end)

t.done()
