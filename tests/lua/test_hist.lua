-- Tests for ebpf.hist. The expected texts were printed by bpftrace 0.17 on this
-- machine for the same values (`bpftrace -e 'BEGIN { @a = hist(0); ... }'`), so
-- these tests pin our output to the reference tool byte for byte.
local t = require "harness"
local hist = require "ebpf.hist"
local json = require "ebpf.json"
local ffi = require "ffi"

-- bpftrace: @a = hist(v) for v in 0 1 2 3 5 5 1500 2000000
local BPFTRACE_LOG2 = [[
[0]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[1]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[2, 4)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[4, 8)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[8, 16)                0 |                                                    |
[16, 32)               0 |                                                    |
[32, 64)               0 |                                                    |
[64, 128)              0 |                                                    |
[128, 256)             0 |                                                    |
[256, 512)             0 |                                                    |
[512, 1K)              0 |                                                    |
[1K, 2K)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[2K, 4K)               0 |                                                    |
[4K, 8K)               0 |                                                    |
[8K, 16K)              0 |                                                    |
[16K, 32K)             0 |                                                    |
[32K, 64K)             0 |                                                    |
[64K, 128K)            0 |                                                    |
[128K, 256K)           0 |                                                    |
[256K, 512K)           0 |                                                    |
[512K, 1M)             0 |                                                    |
[1M, 2M)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
]]

-- bpftrace: @b = lhist(v, 0, 100, 10) for v in 7 33 150 -5
local BPFTRACE_LINEAR = [[
(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[0, 10)                1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[10, 20)               0 |                                                    |
[20, 30)               0 |                                                    |
[30, 40)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[40, 50)               0 |                                                    |
[50, 60)               0 |                                                    |
[60, 70)               0 |                                                    |
[70, 80)               0 |                                                    |
[80, 90)               0 |                                                    |
[90, 100)              0 |                                                    |
[100, ...)             1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
]]

t.test("log2 buckets follow the documented scheme", function()
  local cases = { { -5, -1 }, { -1, -1 }, { 0, 0 }, { 0.9, 0 }, { 1, 1 }, { 2, 2 }, { 3, 2 },
                  { 4, 3 }, { 7, 3 }, { 7.9, 3 }, { 8, 4 }, { 1023, 10 }, { 1024, 11 },
                  { 2 ^ 32 - 1, 32 }, { 2 ^ 32, 33 }, { 2 ^ 53, 54 }, { 2 ^ 63, 64 } }
  for _, c in ipairs(cases) do t.eq(hist.log2_bucket(c[1]), c[2], "log2_bucket(" .. c[1] .. ")") end
  -- 64-bit cdata, including values a double cannot hold exactly.
  t.eq(hist.log2_bucket(0xffffffffffffffffULL), 64)
  t.eq(hist.log2_bucket(0x8000000000000000ULL), 64)
  t.eq(hist.log2_bucket(0x7fffffffffffffffULL), 63)
  t.eq(hist.log2_bucket(ffi.new("uint64_t", 0)), 0)
  t.eq(hist.log2_bucket(ffi.new("int64_t", -4)), -1)
  t.eq(hist.log2_bucket(ffi.new("uint32_t", 5)), 3)
end)

t.test("every bucket's range holds exactly the values that map to it", function()
  local h = hist.hist()
  for idx = 0, 40 do
    local lo, hi = h:bucket(idx)
    t.eq(hist.log2_bucket(lo), idx, "lower bound of bucket " .. idx)
    t.eq(hist.log2_bucket(hi), idx, "upper bound of bucket " .. idx)
    t.eq(hist.log2_bucket(hi + 1), idx + 1, "value after bucket " .. idx)
  end
end)

t.test("log2 text matches bpftrace", function()
  local h = hist.from_values({ 0, 1, 2, 3, 5, 5, 1500, 2000000 })
  t.eq(h:format(), BPFTRACE_LOG2)
  t.eq(tostring(h), BPFTRACE_LOG2)
  t.eq(h:total(), 8)
end)

t.test("a BPF map's {index -> count} gives the same text", function()
  -- As read from a map: u32 keys and u64 counts arrive as cdata.
  local counts = { [ffi.new("uint32_t", 0)] = 1ULL, [1] = 1ULL, [2] = 2, [3] = 2, [11] = 1, [21] = 1 }
  t.eq(hist.format(counts), BPFTRACE_LOG2)
end)

t.test("bars are computed in single precision like bpftrace", function()
  -- bpftrace prints 30 '@' here; double precision would give 29 (15/26*52).
  local h = hist.hist({ [1] = 15, [2] = 26 })
  t.eq(h:format(), "[1]                   15 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@                      |\n"
                .. "[2, 4)                26 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n")
end)

t.test("leading and trailing empty buckets are trimmed", function()
  local h = hist.hist({ [3] = 0, [5] = 4, [6] = 0, [7] = 2, [9] = 0 })
  t.eq(h:format(), "[16, 32)               4 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n"
                .. "[32, 64)               0 |                                                    |\n"
                .. "[64, 128)              2 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n")
  t.eq(hist.hist({}):format(), "")
  t.eq(hist.hist({ [4] = 0 }):format(), "")
end)

t.test("negative values and large labels", function()
  local h = hist.from_values({ -3, 2 ^ 40 + 5, 2 ^ 40 })
  local text = h:format()
  t.eq(text:match("^[^\n]*"), "(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |")
  t.eq(text:match("[^\n]*\n$"), "[1T, 2T)               2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n")
  t.ok(text:find("[512M, 1G)", 1, true), "the G suffix is used")
  local _, lines = text:gsub("\n", "")
  t.eq(lines, 43, "(..., 0), [0], [1] and 40 power-of-two buckets")
end)

t.test("linear text matches bpftrace", function()
  local h = hist.from_values({ 7, 33, 150, -5 }, { min = 0, max = 100, step = 10 })
  t.eq(h:format(), BPFTRACE_LINEAR)
  -- bpftrace: lhist(2048, 1024, 4096, 1024) and lhist(3145728, 1048576, 4194304, 1048576)
  t.eq(hist.from_values({ 2048 }, { min = 1024, max = 4096, step = 1024 }):format(),
       "[2K, 3K)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n")
  t.eq(hist.lhist(1048576, 4194304, 1048576, { [3] = 1 }):format(),
       "[3M, 4M)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n")
end)

t.test("linear buckets", function()
  t.eq(hist.linear_bucket(-1, 0, 100, 10), 0)
  t.eq(hist.linear_bucket(0, 0, 100, 10), 1)
  t.eq(hist.linear_bucket(9, 0, 100, 10), 1)
  t.eq(hist.linear_bucket(10, 0, 100, 10), 2)
  t.eq(hist.linear_bucket(99, 0, 100, 10), 10)
  t.eq(hist.linear_bucket(100, 0, 100, 10), 11)
  t.eq(hist.linear_bucket(5000, 0, 100, 10), 11)
  t.eq(hist.linear_bucket(15, 10, 30, 5), 2)
  t.raises(function() hist.lhist(0, 25, 10) end, "max %- min must be a multiple of step")
  t.raises(function() hist.lhist(10, 10, 1) end, "min must be less than max")
  t.raises(function() hist.lhist(0, 10, 0) end, "step must be an integer >= 1")
end)

t.test("BCC style", function()
  local h = hist.from_values({ 0, 1, 5, 5, 6, 1500 })
  t.eq(h:format({ style = "bcc", unit = "usecs" }), table.concat({
    "     usecs               : count     distribution",
    "         0 -> 0          : 1        |*************                           |",
    "         1 -> 1          : 1        |*************                           |",
    "         2 -> 3          : 0        |                                        |",
    "         4 -> 7          : 3        |****************************************|",
    "         8 -> 15         : 0        |                                        |",
    "        16 -> 31         : 0        |                                        |",
    "        32 -> 63         : 0        |                                        |",
    "        64 -> 127        : 0        |                                        |",
    "       128 -> 255        : 0        |                                        |",
    "       256 -> 511        : 0        |                                        |",
    "       512 -> 1023       : 0        |                                        |",
    "      1024 -> 2047       : 1        |*************                           |", "" }, "\n"))
  local l = hist.from_values({ 3, 12, 12, 25 }, { min = 0, max = 20, step = 10 })
  t.eq(l:format({ style = "bcc" }), table.concat({
    "     value         : count     distribution",
    "        0          : 1        |********************                    |",
    "        10         : 2        |****************************************|",
    "        >= 20      : 1        |********************                    |", "" }, "\n"))
  -- Past 2^32 BCC switches to wide columns and 20 stars.
  local wide = hist.from_values({ 2 ^ 40 }):format({ style = "bcc" })
  t.eq(wide, "               value                         : count     distribution\n"
          .. "       1099511627776 -> 2199023255551        : 1        |********************|\n")
  t.raises(function() h:format({ style = "ascii" }) end, "unknown style 'ascii'")
end)

t.test("JSON form matches bpftrace's shape", function()
  -- bpftrace -f json: @a = hist(v) for v in 0 -1 5 1500
  t.eq(json.encode(hist.from_values({ 0, -1, 5, 1500 }):to_json_table()),
    '{"buckets":[{"count":1,"max":-1},{"count":1,"max":0,"min":0},{"count":0,"max":1,"min":1},'
    .. '{"count":0,"max":3,"min":2},{"count":1,"max":7,"min":4},{"count":0,"max":15,"min":8},'
    .. '{"count":0,"max":31,"min":16},{"count":0,"max":63,"min":32},{"count":0,"max":127,"min":64},'
    .. '{"count":0,"max":255,"min":128},{"count":0,"max":511,"min":256},'
    .. '{"count":0,"max":1023,"min":512},{"count":1,"max":2047,"min":1024}],"type":"hist"}')
  t.eq(hist.to_json_table(hist.from_values({ 7, -3, 150 }, { min = 0, max = 30, step = 10 })), {
    type = "lhist",
    buckets = { { max = -1, count = 1 }, { min = 0, max = 9, count = 1 }, { min = 10, max = 19, count = 0 },
                { min = 20, max = 29, count = 0 }, { min = 30, count = 1 } } })
  t.eq(json.encode(hist.to_json_table({})), '{"buckets":[],"type":"hist"}')
end)

t.test("add and add_bucket accumulate", function()
  local h = hist.hist()
  h:add(5):add(6, 3):add_bucket(0, 2)
  t.eq(h.counts, { [0] = 2, [3] = 4 })
  t.raises(function() h:add_bucket(1.5) end, "bucket index must be an integer")
end)

t.done()
