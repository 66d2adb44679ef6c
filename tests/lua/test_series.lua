-- Tests for ebpf.series (the agent's bounded series): label dropping with
-- summed counters, the series limit with its overflow series and dropped
-- count, the TTL, and counters that stay monotonic when rows go away.
local t = require "harness"
local series = require "ebpf.series"

local def = {
  metrics = {
    { name = "x_total", type = "counter", labels = { "pid", "comm" }, value = "n", help = "h" },
    { name = "cpu_seconds_total", type = "counter", labels = { "pid", "comm", "state" },
      const_labels = { state = "on" }, value = "on", help = "h" },
    { name = "cpu_seconds_total", type = "counter", labels = { "pid", "comm", "state" },
      const_labels = { state = "off" }, value = "off", help = "h" },
    { name = "lat_seconds", type = "histogram", labels = {}, row = { hist = "lat" }, value = "buckets", scale = 1e-6,
      help = "h" },
  },
}

local function values(family)
  local out = {}
  for _, s in ipairs(family:export().samples) do
    local key = {}
    for i = 1, #s do key[i] = s[i] end
    out[table.concat(key, ",")] = s.value
  end
  return out
end

t.test("rows become series; const labels tell fields of one row apart", function()
  local fams = series.families(def, {})
  t.eq(#fams, 3)
  local rows = { { pid = 1, comm = "a", n = 3, on = 1.5, off = 2 } }
  for _, f in ipairs(fams) do f:update(rows, 0) end
  t.eq(values(fams[1]), { ["1,a"] = 3 })
  t.eq(values(fams[2]), { ["1,a,on"] = 1.5, ["1,a,off"] = 2 })
  t.eq(fams[2]:export().labels, { "pid", "comm", "state" })
end)

t.test("dropping pid sums by comm, and the sum never goes down when a process goes", function()
  local f = series.families(def, { drop = { "pid" } })[1]
  f:update({ { pid = 1, comm = "a", n = 3 }, { pid = 2, comm = "a", n = 4 }, { pid = 3, comm = "b", n = 1 } }, 0)
  t.eq(f:export().labels, { "comm" })
  t.eq(values(f), { a = 7, b = 1 })
  f:update({ { pid = 2, comm = "a", n = 5 }, { pid = 3, comm = "b", n = 1 } }, 1) -- pid 1 evicted
  t.eq(values(f), { a = 8, b = 1 })
end)

t.test("past the limit, new label sets fold into __overflow__ and are counted", function()
  local f = series.families(def, { limit = 3 })[1]
  local rows = {}
  for pid = 1, 6 do rows[#rows + 1] = { pid = pid, comm = "p" .. pid, n = 10 } end
  f:update(rows, 0)
  local v = values(f)
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  t.eq(n, 3, "series within the limit, overflow included")
  t.eq(v["__overflow__,__overflow__"], 40)
  t.eq(f.dropped, 4)
  f:update(rows, 1)
  t.eq(f.dropped, 4, "a folded label set is counted once")
end)

t.test("overflow keeps fixed-value labels", function()
  local f = series.families(def, { limit = 2 })[2]
  f:update({ { pid = 1, comm = "a", on = 1, off = 1 }, { pid = 2, comm = "b", on = 2, off = 3 } }, 0)
  local v = values(f)
  t.eq(v["__overflow__,__overflow__,off"] ~= nil or v["__overflow__,__overflow__,on"] ~= nil, true)
end)

t.test("a series unchanged for the TTL disappears; a changing one stays", function()
  local f = series.families(def, { ttl = 5 })[1]
  f:update({ { pid = 1, comm = "a", n = 1 }, { pid = 2, comm = "b", n = 1 } }, 0)
  f:update({ { pid = 1, comm = "a", n = 1 }, { pid = 2, comm = "b", n = 2 } }, 3)
  f:update({ { pid = 1, comm = "a", n = 1 }, { pid = 2, comm = "b", n = 3 } }, 6)
  f:update({ { pid = 1, comm = "a", n = 1 }, { pid = 2, comm = "b", n = 4 } }, 7)
  t.eq(values(f), { ["2,b"] = 4 })
  -- Back to life: the series returns with its full count.
  f:update({ { pid = 1, comm = "a", n = 9 }, { pid = 2, comm = "b", n = 4 } }, 8)
  t.eq(values(f)["1,a"], 9)
end)

t.test("histogram: cumulative buckets in base units", function()
  local f = series.families(def, {})[3]
  f:update({ { hist = "lat", buckets = { { min = 0, max = 0, count = 1 }, { min = 1, max = 1, count = 2 },
                                         { min = 2, max = 3, count = 4 } } } }, 0)
  local s = f:export().samples[1]
  t.eq(s.buckets, { { 0, 1 }, { 1e-6, 3 }, { 3e-6, 7 } })
  t.eq(s.count, 7)
end)

t.done()
