-- Bounded series for the agent: turns a collector's rows into metric families
-- (the shape ebpf.core.metrics_publish takes), with three limits on
-- cardinality that a long-running exporter needs:
--
--   * label dropping: drop = { pid = true } aggregates by the remaining labels
--     (values summed);
--   * a per-metric series limit: past it, a new label set is folded into one
--     overflow series whose label values are "__overflow__" (labels with a
--     fixed value, like state="on", keep it), and counted in `dropped`;
--   * a TTL: a row whose value has not changed for `ttl` seconds stops
--     counting, and an output series with nothing left in it disappears once
--     it has been unchanged for `ttl` seconds.
--
-- Counters stay monotonic through all three: when a row that was summed into
-- an output series goes away (its process exited and the BPF side evicted
-- it, or it went stale), its last value moves into that series' `retired`
-- base, so the aggregate never goes down. A row is identified by its full
-- label set before dropping; an output series by its label set after.
local M = {}

local OVERFLOW = "__overflow__"
local SEP = "\0"

local Family = {}
Family.__index = Family

-- decls: the collector's metric declarations sharing one name (several when
-- const_labels tell fields of one row apart). opts: { drop = set, limit = n, ttl = s }.
function M.family(decls, opts)
  local first = decls[1]
  local labels, kept, const = first.labels or {}, {}, {}
  for _, d in ipairs(decls) do
    for k in pairs(d.const_labels or {}) do const[k] = true end
  end
  for _, l in ipairs(labels) do
    if not opts.drop[l] then kept[#kept + 1] = l end
  end
  return setmetatable({
    name = first.name, help = first.help, type = first.type, decls = decls,
    labels = labels, kept = kept, const = const, scale = first.scale,
    limit = opts.limit, ttl = opts.ttl, drop = opts.drop,
    rows = {},     -- full key -> { out = out key|nil, value =, changed =, active = bool }
    series = {},   -- out key -> { values = {...}, retired = n, value =, changed =, overflow = bool }
    live = 0,      -- output series other than overflow ones
    dropped = 0,   -- label sets folded into overflow, ever
  }, Family)
end

local function matches(row, want)
  if not want then return row.hist == nil end
  for k, v in pairs(want) do
    if row[k] ~= v then return false end
  end
  return true
end

-- The row's full label values go into one reused buffer, and its key is
-- their concatenation: per row per interval that is one string, no tables
-- (a collection of 10k rows runs this 10k times per metric).
local buf = {}
local function fill(self, decl, row)
  local const = decl.const_labels
  local labels = self.labels
  for i = 1, #labels do
    local l = labels[i]
    local v = const and const[l]
    if v == nil then v = row[l] end
    buf[i] = v == nil and "" or tostring(v)
  end
  return table.concat(buf, SEP, 1, #labels)
end

-- The kept label values of the row last filled.
local function kept_of(self)
  local kept, j = {}, 0
  for i, l in ipairs(self.labels) do
    if not self.drop[l] then j = j + 1; kept[j] = buf[i] end
  end
  return kept
end

function Family:_assign(kept_values)
  local key = table.concat(kept_values, SEP)
  if self.series[key] then return key end
  if self.live < self.limit - 1 then
    self.series[key] = { values = kept_values, retired = 0, value = 0, changed = nil }
    self.live = self.live + 1
    return key
  end
  -- Past the limit: one overflow series per combination of fixed-value labels.
  local values = {}
  for i, l in ipairs(self.kept) do values[i] = self.const[l] and kept_values[i] or OVERFLOW end
  local okey = table.concat(values, SEP)
  if not self.series[okey] then
    self.series[okey] = { values = values, retired = 0, value = 0, overflow = true }
  end
  self.dropped = self.dropped + 1
  return okey
end

-- Updates the family from this interval's rows at time `now` (seconds).
function Family:update(rows, now)
  if self.type == "histogram" then return self:_update_histogram(rows) end
  local counter = self.type == "counter"
  local seen, sums = {}, {}
  for _, decl in ipairs(self.decls) do
    local field = decl.value
    for _, row in ipairs(rows) do
      local v = matches(row, decl.row) and tonumber(row[field])
      if v then
        local fkey = fill(self, decl, row)
        seen[fkey] = true
        local r = self.rows[fkey]
        if not r then
          r = { value = v, changed = now, active = true }
          self.rows[fkey] = r
        elseif v ~= r.value then
          if not r.active and r.out and self.series[r.out] and counter then
            -- Back from stale: its old value is in `retired`; take it out again.
            local s = self.series[r.out]
            s.retired = s.retired - r.value
          end
          r.value, r.changed, r.active = v, now, true
        elseif r.active and now - r.changed > self.ttl then
          r.active = false
          if counter and r.out and self.series[r.out] then
            local s = self.series[r.out]
            s.retired = s.retired + r.value
          end
        end
        if r.active then
          if not r.out or not self.series[r.out] then r.out = self:_assign(kept_of(self)) end
          sums[r.out] = (sums[r.out] or 0) + v
        end
      end
    end
  end
  -- Rows that went away (evicted in BPF): a counter keeps what they counted.
  for fkey, r in pairs(self.rows) do
    if not seen[fkey] then
      if counter and r.active and r.out and self.series[r.out] then
        local s = self.series[r.out]
        s.retired = s.retired + r.value
      end
      self.rows[fkey] = nil
    end
  end
  for key, s in pairs(self.series) do
    local v = (sums[key] or 0) + (counter and s.retired or 0)
    if s.changed == nil or v ~= s.value then
      s.value, s.changed = v, now
    elseif not sums[key] and now - s.changed > self.ttl then
      self.series[key] = nil
      if not s.overflow then self.live = self.live - 1 end
      for _, r in pairs(self.rows) do
        if r.out == key then r.out = nil end
      end
    end
  end
end

-- Histograms: rows carrying buckets {min=, max=, count=} (ebpf.hist's JSON
-- shape, bounds inclusive), scaled to base units; label sets summed.
function Family:_update_histogram(rows)
  local merged = {}
  for _, decl in ipairs(self.decls) do
    for _, row in ipairs(rows) do
      local buckets = matches(row, decl.row) and row[decl.value]
      if type(buckets) == "table" then
        fill(self, decl, row)
        local kept = kept_of(self)
        local key = table.concat(kept, SEP)
        local m = merged[key] or { values = kept, counts = {}, sum = 0, count = 0 }
        merged[key] = m
        local scale = decl.scale or 1
        for _, b in ipairs(buckets) do
          -- Rounded to 12 digits so that 15 us * 1e-6 prints as 1.5e-05, not 1.4999999999999999e-05.
          local upper = b.max and tonumber(("%.12g"):format(b.max * scale)) or math.huge
          m.counts[upper] = (m.counts[upper] or 0) + b.count
          m.count = m.count + b.count
          -- The map holds counts per bucket only, so the sum is estimated at
          -- each bucket's midpoint (its lower bound for the open last bucket).
          local lo = (b.min or 0) * scale
          local mid = b.max and (lo + b.max * scale) / 2 or lo
          m.sum = m.sum + b.count * mid
        end
      end
    end
  end
  self.histograms = merged
end

-- The family in metrics_publish's shape.
function Family:export()
  local samples = {}
  if self.type == "histogram" then
    for _, m in pairs(self.histograms or {}) do
      local uppers = {}
      for upper in pairs(m.counts) do uppers[#uppers + 1] = upper end
      table.sort(uppers)
      local buckets, cumulative = {}, 0
      for i, upper in ipairs(uppers) do
        cumulative = cumulative + m.counts[upper]
        buckets[i] = { upper, cumulative }
      end
      local s = { buckets = buckets, sum = m.sum, count = m.count }
      for i, v in ipairs(m.values) do s[i] = v end
      samples[#samples + 1] = s
    end
  else
    for _, s in pairs(self.series) do
      local sample = { value = s.value }
      for i, v in ipairs(s.values) do sample[i] = v end
      samples[#samples + 1] = sample
    end
  end
  return { name = self.name, help = self.help, type = self.type, labels = self.kept, samples = samples }
end

function Family:series_count()
  local n = 0
  for _ in pairs(self.series) do n = n + 1 end
  return self.type == "histogram" and 1 or n
end

-- All the families of one collector definition, grouped by metric name.
-- opts: { drop = { "pid", ... } or set, limit = n, ttl = seconds }.
function M.families(def, opts)
  local drop = {}
  for k, v in pairs(opts.drop or {}) do
    if type(k) == "number" then drop[v] = true else drop[k] = v and true or nil end
  end
  local order, by_name = {}, {}
  for _, decl in ipairs(def.metrics or {}) do
    if not by_name[decl.name] then
      by_name[decl.name] = {}
      order[#order + 1] = decl.name
    end
    table.insert(by_name[decl.name], decl)
  end
  local out = {}
  for _, name in ipairs(order) do
    local f = M.family(by_name[name], { drop = drop, limit = opts.limit or 10000, ttl = opts.ttl or 300 })
    out[#out + 1] = f
  end
  return out
end

M.OVERFLOW = OVERFLOW
return M
