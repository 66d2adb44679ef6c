-- ebpf.output: one printer for a tool's results that honours --json, so a script
-- writes its output once and gets both aligned text for people and JSON lines
-- for programs.
--
--   local out = output.new{ json = opts.json, columns = {
--     {"PID", key="pid", align="right", width=7}, {"COMM", key="comm", width=16},
--     {"BYTES", key="bytes", format="bytes"} } }
--   out:header()                -- text: the column titles; JSON: nothing
--   out:row(e)                  -- text: one aligned line; JSON: {"bytes":..,"comm":..,"pid":..}
--   out:event(e)                -- JSON: every field of e; text: like row (or k=v pairs)
--   out:table(rows, {sort="bytes", top=10, title="..."})   -- interval summaries
--   out:hist("latency_us", h)   -- text histogram, or {"hist":"latency_us","buckets":[...]}
--   out:note("Tracing... Hit Ctrl-C to end.")  -- stdout in text mode, stderr in JSON mode
--
-- Columns: title, key (default: the title in lower case), format (a name from
-- ebpf.format.formatters or a function(value, row)), align ("left"/"right";
-- numeric formats default to right, everything else to left), width (fixed text
-- width; default the title's width, at least 6, 10 for bytes, 7 for durations;
-- a longer value pushes the rest of its line right rather than being cut),
-- max_width (cut longer values).
-- Text cells are formatted; JSON carries the raw values (numbers stay numbers).
-- JSON mode flushes after every line so that a reader on a pipe sees each event
-- as it happens; opts.flush = true does the same in text mode.

local format = require "ebpf.format"
local json = require "ebpf.json"
local hist = require "ebpf.hist"

local output = {}

local O = {}
O.__index = O

local MIN_WIDTH = 6
-- The widest text the numeric formats produce ("1023.9 KiB", "9.99 ms"), so that
-- their columns line up without a width in the spec.
local FORMAT_WIDTH = { bytes = 10, duration = 7 }

local function columns_of(specs)
  local cols = {}
  for i, c in ipairs(specs or {}) do
    local col = format.column(c)
    local fw = type(c) == "table" and FORMAT_WIDTH[c.format] or 0
    col.width = col.width or math.max(format.width(col.title), MIN_WIDTH, fw)
    col.json_key = type(col.key) == "string" and col.key or col.title:lower()
    cols[i] = col
  end
  return cols
end

-- opts: json (bool), columns, stream (default io.stdout), err_stream (default
-- io.stderr, for notes in JSON mode), flush (bool), sep
-- (column separator, two spaces), hist_style ("bpftrace" or "bcc").
function output.new(opts)
  opts = opts or {}
  local self = setmetatable({
    json = opts.json and true or false,
    stream = opts.stream or io.stdout,
    err_stream = opts.err_stream or io.stderr,
    sep = opts.sep or "  ",
    hist_style = opts.hist_style,
    columns = columns_of(opts.columns),
  }, O)
  self.flush_lines = self.json or opts.flush == true
  return self
end

function O:write_line(text)
  self.stream:write(text, "\n")
  if self.flush_lines then self.stream:flush() end
end

local function cell_text(col, v, row)
  local s = (col.format and v ~= nil) and col.format(v, row) or format.value(v)
  if col.max_width then s = format.truncate(s, col.max_width) end
  return s
end

local function text_line(self, cells)
  local parts, n = {}, #self.columns
  for j, col in ipairs(self.columns) do
    local s = cells[j]
    if j < n or col.align == "right" then s = format.pad(s, col.width, col.align) end
    parts[j] = s
  end
  return table.concat(parts, self.sep)
end

-- The column titles, aligned as the rows will be. Nothing in JSON mode.
function O:header()
  if self.json or #self.columns == 0 then return end
  local titles = {}
  for j, col in ipairs(self.columns) do
    titles[j] = col.max_width and format.truncate(col.title, col.max_width) or col.title
  end
  self:write_line(text_line(self, titles))
end

-- The raw values of a row's columns, as a JSON object; a missing value is null
-- so that every line carries the same keys.
local function json_row(self, row)
  local obj = {}
  for _, col in ipairs(self.columns) do
    local v = row[col.key]
    if v == nil then v = json.null end
    obj[col.json_key] = v
  end
  return obj
end

function O:row(row)
  if self.json then return self:write_line(json.encode(json_row(self, row))) end
  local cells = {}
  for j, col in ipairs(self.columns) do cells[j] = cell_text(col, row[col.key], row) end
  self:write_line(text_line(self, cells))
end

-- A whole event: in JSON every field (not only the columns), in text the
-- columns, or "key=value" pairs in key order when no columns were declared.
function O:event(e)
  if self.json then return self:write_line(json.encode(e)) end
  if #self.columns > 0 then return self:row(e) end
  local keys = {}
  for k in pairs(e) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for i, k in ipairs(keys) do keys[i] = tostring(k) .. "=" .. format.value(e[k]) end
  self:write_line(table.concat(keys, " "))
end

-- A summary table, e.g. once per --interval. opts: sort, desc, top (as in
-- ebpf.format.table), columns (default: the printer's), title (a text line
-- above the table; a "title" field in JSON). JSON mode prints one line:
-- {"rows":[...], "title":...}.
function O:table(rows, opts)
  opts = opts or {}
  if self.json then
    local cols = opts.columns and columns_of(opts.columns) or self.columns
    local list = format.select_rows(rows, opts)
    local out = json.array({})
    for i, r in ipairs(list) do
      out[i] = (#cols > 0) and json_row({ columns = cols }, r) or r
    end
    return self:write_line(json.encode({ title = opts.title, rows = out }))
  end
  local specs = opts.columns
  if not specs and #self.columns > 0 then
    -- The printer's columns, widths included, so tables line up with rows.
    specs = {}
    for i, c in ipairs(self.columns) do
      specs[i] = { c.title, key = c.key, format = c.format, align = c.align, width = c.width,
                   max_width = c.max_width }
    end
  end
  local text = format.table(rows, specs, { sort = opts.sort, desc = opts.desc, top = opts.top,
                                           sep = self.sep, header = opts.header })
  if opts.title then self:write_line(opts.title) end
  if text ~= "" then
    self.stream:write(text)
    if self.flush_lines then self.stream:flush() end
  end
end

-- A histogram (an ebpf.hist object or a plain {log2 index -> count} table).
-- Text: "name:" then the bars and a blank line, as bpftrace prints maps.
function O:hist(name, h, opts)
  opts = opts or {}
  if not hist.is_hist(h) then h = hist.hist(h) end
  if self.json then
    local t = h:to_json_table()
    t.hist = name
    return self:write_line(json.encode(t))
  end
  self.stream:write(name, ":\n", h:format({ style = opts.style or self.hist_style, unit = opts.unit }), "\n")
  if self.flush_lines then self.stream:flush() end
end

-- A message for people (start-up notes, warnings): it goes to stderr in JSON
-- mode so that stdout stays a clean stream of JSON lines.
function O:note(text)
  if self.json then
    self.err_stream:write(text, "\n")
    self.err_stream:flush()
  else
    self:write_line(text)
  end
end

function O:flush() self.stream:flush() end

return output
