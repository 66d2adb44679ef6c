-- ebpf.hist: power-of-two and linear histograms, printed the way bpftrace prints
-- them (or the way BCC does), so that output can be compared side by side with
-- the reference tools people already read.
--
--   local hist = require "ebpf.hist"
--   local h = hist.hist(counts)                 -- counts: {bucket index -> count}
--   local l = hist.lhist(0, 100, 10, counts)    -- linear buckets of 10 from 0 to 100
--   local v = hist.from_values({3, 5, 700})     -- bucket raw values in Lua
--   io.write(h:format())                        -- or hist.format(h, {style = "bcc"})
--   json.encode(h:to_json_table())
--
-- Log2 bucket scheme (hist.log2_bucket, shared with BPF-side code generators):
--   value < 0            -> index -1   printed "(..., 0)"
--   value == 0           -> index 0    printed "[0]"
--   value >= 1           -> index floor(log2(value)) + 1, i.e. the value's bit
--                           length: 1 -> 1 "[1]", 2..3 -> 2 "[2, 4)", 4..7 -> 3 ...
-- The buckets and their labels are exactly bpftrace's. bpftrace's own map index
-- is ours plus one, because it keeps index 0 for negative values; we use the bit
-- length instead because BPF programs record unsigned values (latencies, sizes),
-- where it is a single `64 - clz(v)` and index 0 stays the natural home of zero.
-- For v >= 1 the index also equals BCC's bpf_log2l(v), so BCC-style maps read
-- correctly (BCC puts 0 in index 1 with 1; we keep it apart in index 0).
--
-- Linear scheme (hist.linear_bucket): index 0 holds values below min, index
-- 1 + floor((v - min) / step) the regular buckets, and index n + 1 (n = number
-- of regular buckets) values >= max, as bpftrace's lhist does.

local ffi = require "ffi"
local bit = require "bit"

local hist = {}

local H = {}
H.__index = H

local int64_t, uint64_t = ffi.typeof("int64_t"), ffi.typeof("uint64_t")

local function num(x)
  if type(x) == "cdata" then return tonumber(x) end
  return x
end

-- Returns the log2 bucket index of v (see the scheme above). Non-integers are
-- floored first, as BPF code only ever sees integers.
function hist.log2_bucket(v)
  if type(v) == "cdata" and (ffi.istype(int64_t, v) or ffi.istype(uint64_t, v)) then
    -- 64-bit values above 2^53 do not fit a double exactly, so count bits here.
    if v < 0 then return -1 end
    local n = 0
    while v ~= 0 do v = bit.rshift(v, 1); n = n + 1 end
    return n
  end
  v = math.floor(num(v))
  if v < 0 then return -1 elseif v == 0 then return 0 end
  local _, e = math.frexp(v)
  return e
end

-- Returns the linear bucket index of v for lhist(min, max, step).
function hist.linear_bucket(v, min, max, step)
  v = num(v)
  if v < min then return 0 end
  if v >= max then return (max - min) / step + 1 end
  return 1 + math.floor((v - min) / step)
end

-- Builds a log2 histogram from {bucket index -> count} (indices and counts may be
-- cdata integers, as read from a BPF map).
function hist.hist(counts)
  local h = setmetatable({ kind = "log2", counts = {} }, H)
  for k, c in pairs(counts or {}) do h:add_bucket(num(k), num(c)) end
  return h
end

-- Builds a linear histogram with buckets [min, min+step), ... up to max.
function hist.lhist(min, max, step, counts)
  assert(type(min) == "number" and type(max) == "number" and type(step) == "number",
         "hist.lhist: min, max and step must be numbers")
  if step < 1 or step ~= math.floor(step) then error("hist.lhist: step must be an integer >= 1", 2) end
  if min >= max then error("hist.lhist: min must be less than max", 2) end
  if (max - min) % step ~= 0 then
    -- bpftrace accepts this and then mislabels the last bucket; refuse instead.
    error("hist.lhist: max - min must be a multiple of step", 2)
  end
  local h = setmetatable({ kind = "linear", min = min, max = max, step = step,
                           nbuckets = (max - min) / step, counts = {} }, H)
  for k, c in pairs(counts or {}) do h:add_bucket(num(k), num(c)) end
  return h
end

hist.log2, hist.linear = hist.hist, hist.lhist

-- Buckets a list of raw values in Lua. With lin = {min=, max=, step=} the result
-- is linear, otherwise log2.
function hist.from_values(values, lin)
  local h = lin and hist.lhist(lin.min, lin.max, lin.step) or hist.hist()
  for _, v in ipairs(values) do h:add(v) end
  return h
end

-- Adds n (default 1) to the bucket that value falls into.
function H:add(value, n)
  local idx
  if self.kind == "log2" then idx = hist.log2_bucket(value)
  else idx = hist.linear_bucket(value, self.min, self.max, self.step) end
  self.counts[idx] = (self.counts[idx] or 0) + (n or 1)
  return self
end

-- Adds n to the bucket with the given index.
function H:add_bucket(index, n)
  if index ~= math.floor(index) then error("hist: bucket index must be an integer", 2) end
  self.counts[index] = (self.counts[index] or 0) + (n or 1)
  return self
end

function H:total()
  local t = 0
  for _, c in pairs(self.counts) do t = t + c end
  return t
end

-- bpftrace's compact power-of-two labels: 1K, 2M, 4G, 8T.
local function power_label(power)
  local suffix = ""
  for _, s in ipairs({ { 40, "T" }, { 30, "G" }, { 20, "M" }, { 10, "K" } }) do
    if power >= s[1] then power = power - s[1]; suffix = s[2]; break end
  end
  return string.format("%.0f%s", 2 ^ power, suffix)
end

-- bpftrace's linear labels: exact multiples of 1M and 1K are abbreviated.
local function linear_label(n)
  if n == 0 then return "0" end
  if n % 1048576 == 0 then return string.format("%.0fM", n / 1048576) end
  if n % 1024 == 0 then return string.format("%.0fK", n / 1024) end
  return string.format("%.0f", n)
end

-- The inclusive value range of a bucket (nil for an open end), and its label.
function H:bucket(index)
  if self.kind == "log2" then
    if index < 0 then return nil, -1, "(..., 0)" end
    if index == 0 then return 0, 0, "[0]" end
    if index == 1 then return 1, 1, "[1]" end
    return 2 ^ (index - 1), 2 ^ index - 1,
           "[" .. power_label(index - 1) .. ", " .. power_label(index) .. ")"
  end
  if index <= 0 then return nil, self.min - 1, "(..., " .. linear_label(self.min) .. ")" end
  if index > self.nbuckets then return self.max, nil, "[" .. linear_label(self.max) .. ", ...)" end
  local lo = self.min + (index - 1) * self.step
  return lo, lo + self.step - 1, "[" .. linear_label(lo) .. ", " .. linear_label(lo + self.step) .. ")"
end

-- The buckets from the first to the last non-empty one (empty buckets in between
-- are kept, leading and trailing ones are trimmed, as bpftrace does), each as
-- {index=, min=, max=, label=, count=}.
function H:rows()
  local first, last
  for idx, c in pairs(self.counts) do
    if c > 0 then
      if not first or idx < first then first = idx end
      if not last or idx > last then last = idx end
    end
  end
  local rows = {}
  if not first then return rows end
  if self.kind == "linear" then
    first, last = math.max(first, 0), math.min(last, self.nbuckets + 1)
  end
  for idx = first, last do
    local lo, hi, label = self:bucket(idx)
    rows[#rows + 1] = { index = idx, min = lo, max = hi, label = label, count = self.counts[idx] or 0 }
  end
  return rows
end

-- bpftrace computes bar lengths in single precision; doing the same keeps our
-- bars identical to its bars even where a double would round the other way.
local fbuf = ffi.new("float[1]")
local function f32(x) fbuf[0] = x; return fbuf[0] end

local BAR = 52

local function format_bpftrace(rows, maxc)
  local out = {}
  for _, r in ipairs(rows) do
    local bar = math.floor(f32(f32(f32(r.count) / f32(maxc)) * BAR))
    out[#out + 1] = string.format("%-16s%8.0f |%s%s|\n", r.label, r.count,
                                  string.rep("@", bar), string.rep(" ", BAR - bar))
  end
  return table.concat(out)
end

-- BCC's layout (print_log2_hist / print_linear_hist): 40 stars, or 20 with wide
-- columns when values go past 2^32.
local function format_bcc(h, rows, maxc, unit)
  local out, stars, low_w = {}, 40, 10
  local last = rows[#rows].index
  local linear = h.kind == "linear"
  if not linear and last > 32 then stars, low_w = 20, 20 end
  if linear then
    out[1] = string.format("     %-13s : count     distribution\n", unit)
  elseif low_w == 10 then
    out[1] = string.format("     %-19s : count     distribution\n", unit)
  else
    out[1] = string.format("               %-29s : count     distribution\n", unit)
  end
  for _, r in ipairs(rows) do
    local n = math.min(stars, math.floor(stars * r.count / maxc))
    local bar = string.rep("*", n) .. string.rep(" ", stars - n)
    local left
    if linear then
      local label = r.min and string.format("%.0f", r.min) or ("< " .. linear_label(h.min))
      if r.max == nil then label = ">= " .. linear_label(h.max) end
      left = string.format("        %-10s", label)
    else
      local lo = r.min and string.format("%.0f", r.min) or "-inf"
      left = string.format("%" .. low_w .. "s -> %-" .. low_w .. "s", lo, string.format("%.0f", r.max))
    end
    out[#out + 1] = string.format("%s : %-8.0f |%s|\n", left, r.count, bar)
  end
  return table.concat(out)
end

-- Formats the histogram as text, one line per bucket, each ending in "\n"; an
-- empty histogram formats as "". opts.style is "bpftrace" (default) or "bcc";
-- opts.unit names the values in BCC's header (default "value").
function H:format(opts)
  opts = opts or {}
  local rows = self:rows()
  if #rows == 0 then return "" end
  local maxc = 0
  for _, r in ipairs(rows) do if r.count > maxc then maxc = r.count end end
  local style = opts.style or "bpftrace"
  if style == "bcc" then return format_bcc(self, rows, maxc, opts.unit or "value") end
  if style ~= "bpftrace" then error("hist.format: unknown style '" .. tostring(style) .. "'", 2) end
  return format_bpftrace(rows, maxc)
end

H.__tostring = function(h) return h:format() end

local array_mt = { __jsontype = "array" }

-- A table for ebpf.json in bpftrace's JSON shape: {type="hist"|"lhist",
-- buckets={{min=, max=, count=}, ...}} with inclusive bounds; an open end has no
-- min (below zero / below min) or no max (at or above max).
function H:to_json_table()
  local buckets = setmetatable({}, array_mt)
  for _, r in ipairs(self:rows()) do
    buckets[#buckets + 1] = { min = r.min, max = r.max, count = r.count }
  end
  return { type = self.kind == "log2" and "hist" or "lhist", buckets = buckets }
end

local function as_hist(h)
  if getmetatable(h) == H then return h end
  return hist.hist(h)
end

-- Module-level forms that also accept a plain {index -> count} table (log2).
function hist.format(h, opts) return as_hist(h):format(opts) end
function hist.to_json_table(h) return as_hist(h):to_json_table() end
function hist.is_hist(h) return getmetatable(h) == H end

return hist
