-- Tests for ebpf.json: exact encodings, escaping of arbitrary bytes, cdata
-- values as they come from BPF maps, and decoding round trips.
local t = require "harness"
local json = require "ebpf.json"
local ffi = require "ffi"

local enc = json.encode

t.test("scalars", function()
  t.eq(enc(nil), "null")
  t.eq(enc(json.null), "null")
  t.eq(enc(true), "true")
  t.eq(enc(false), "false")
  t.eq(enc(0), "0")
  t.eq(enc(-0.0), "0")
  t.eq(enc(42), "42")
  t.eq(enc(-7), "-7")
  t.eq(enc(2 ^ 53), "9007199254740992")
  t.eq(enc(1.5), "1.5")
  t.eq(enc(0.1), "0.1")
  t.eq(enc(1 / 3), "0.33333333333333331")
  t.eq(enc(1e300), "1e+300")
  t.eq(enc(0 / 0), "null")
  t.eq(enc(math.huge), "null")
  t.eq(enc(-math.huge), "null")
end)

t.test("string escaping", function()
  t.eq(enc("\n\t\"\\\1"), [["\n\t\"\\\u0001"]])
  t.eq(enc("plain"), '"plain"')
  t.eq(enc(""), '""')
  t.eq(enc("\0a\31\127"), [["\u0000a\u001f\u007f"]])
  t.eq(enc("\b\f\r/"), [["\b\f\r/"]])
end)

t.test("valid UTF-8 passes through", function()
  t.eq(enc("héllo €𝄞"), '"héllo €𝄞"')
end)

t.test("invalid UTF-8 bytes are escaped one by one", function()
  t.eq(enc("a\255b"), [["a\u00ffb"]])
  t.eq(enc("\192\128"), [["\u00c0\u0080"]])         -- overlong NUL
  t.eq(enc("\237\160\128"), [["\u00ed\u00a0\u0080"]]) -- UTF-16 surrogate
  t.eq(enc("\244\144\128\128"), [["\u00f4\u0090\u0080\u0080"]]) -- above U+10FFFF
  t.eq(enc("\226\130"), [["\u00e2\u0082"]])          -- truncated sequence
  t.eq(enc("\226\130x"), [["\u00e2\u0082x"]])
  t.eq(enc("é\128"), [["é\u0080"]])                  -- stray continuation byte
end)

t.test("arrays and objects", function()
  t.eq(enc({ 1, 2, 3 }), "[1,2,3]")
  t.eq(enc({ "a", { true } }), '["a",[true]]')
  t.eq(enc({ b = 1, a = 2, c = { z = 0, y = "s" } }), '{"a":2,"b":1,"c":{"y":"s","z":0}}')
  t.eq(enc({ [1] = "x", [3] = "z" }), '{"1":"x","3":"z"}') -- a hole makes an object
  t.eq(enc({ 1, 2, n = 3 }), '{"1":1,"2":2,"n":3}')
  t.eq(enc({ [2] = "b", [10] = "j", [1] = "a" }), '{"1":"a","10":"j","2":"b"}')
  t.eq(enc({ [1.5] = true }), '{"1.5":true}')
  t.eq(enc({}), "{}")
  t.eq(enc(json.array()), "[]")
  t.eq(enc(json.object({ 1, 2 })), '{"1":1,"2":2}')
  t.eq(enc({ a = json.null }), '{"a":null}')
  t.eq(enc({ ["k\n"] = 1 }), '{"k\\n":1}')
end)

t.test("refuses what JSON cannot hold", function()
  local cyc = {}
  cyc.self = cyc
  t.raises(function() enc(cyc) end, "contains itself")
  t.raises(function() enc({ [true] = 1 }) end, "keys must be strings or numbers")
  t.raises(function() enc(print) end, "cannot encode a value of type function")
end)

t.test("64-bit integer cdata", function()
  t.eq(enc(ffi.new("uint64_t", 12345)), "12345")
  t.eq(enc(ffi.new("int64_t", -5)), "-5")
  t.eq(enc(ffi.new("uint64_t", 2 ^ 53)), "9007199254740992")
  t.eq(enc(ffi.new("uint64_t", 2 ^ 53) + 1), '"9007199254740993"')
  t.eq(enc(0xffffffffffffffffULL), '"18446744073709551615"')
  t.eq(enc(-0x7fffffffffffffffLL - 1), '"-9223372036854775808"')
  t.eq(enc({ n = 7ULL }), '{"n":7}')
end)

ffi.cdef [[ struct test_json_event { unsigned int pid; char comm[16]; unsigned char addr[4]; }; ]]

t.test("char arrays become strings, structs are refused", function()
  local e = ffi.new("struct test_json_event")
  e.pid = 42
  ffi.copy(e.comm, "bash")
  t.eq(enc(e.comm), '"bash"')
  t.eq(enc({ comm = e.comm, pid = e.pid }), '{"comm":"bash","pid":42}')
  local full = ffi.new("char[4]", { 65, 66, 67, 68 }) -- no NUL: must not read past the end
  t.eq(enc(full), '"ABCD"')
  t.eq(enc(ffi.new("const char[3]", "\255a")), [["\u00ffa"]])
  t.eq(enc(ffi.new("int", 3)), "3")
  t.eq(enc(ffi.new("double", 2.5)), "2.5")
  t.eq(enc(ffi.new("bool", true)), "true")
  t.raises(function() enc(e) end, "cannot encode cdata of type 'struct test_json_event'")
  t.raises(function() enc(e.addr) end, "cannot encode cdata of type 'unsigned char")
  local x = ffi.new("int[1]")
  t.raises(function() enc(ffi.cast("int *", x)) end, "cannot encode cdata of type 'int %*'")
  t.eq(enc(ffi.cast("int *", nil)), "null") -- LuaJIT: a NULL pointer == nil
end)

t.test("decode", function()
  t.eq(json.decode('{"a":[1,2.5,-3e2],"b":"x\\ny","c":null,"d":true,"e":false}'),
       { a = { 1, 2.5, -300 }, b = "x\ny", c = json.null, d = true, e = false })
  t.eq(json.decode(' [ ] '), {})
  t.eq(json.decode('"\\u00e9\\ud834\\udd1e\\/"'), "é𝄞/")
  t.eq(json.decode("0"), 0)
end)

t.test("decode errors name the position", function()
  t.raises(function() json.decode('{"a":1,}') end, "expected a string key at position 8")
  t.raises(function() json.decode('[1 2]') end, "expected ',' or ']' at position 4")
  t.raises(function() json.decode('"abc') end, "unterminated string at position 1")
  t.raises(function() json.decode('1 x') end, "trailing characters at position 3")
  t.raises(function() json.decode('') end, "unexpected end of text at position 1")
  t.raises(function() json.decode('nul') end, "unexpected character at position 1")
end)

t.test("round trips keep arrays and objects apart", function()
  local text = '{"a":[],"b":{},"c":[{"x":"\\u0001"}],"d":"\\u00ff"}'
  t.eq(enc(json.decode(text)), '{"a":[],"b":{},"c":[{"x":"\\u0001"}],"d":"ÿ"}')
  local value = { name = "a\255b", list = { 1, 2, 3 }, nested = { deep = { "é" } } }
  t.eq(json.decode(enc(value)), { name = "aÿb", list = { 1, 2, 3 }, nested = { deep = { "é" } } })
end)

t.done()
