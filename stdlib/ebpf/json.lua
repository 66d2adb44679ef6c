-- ebpf.json: compact, deterministic JSON for event streams and summaries.
--
-- Scripts print events as JSON lines that other programs consume, so the output
-- must be valid JSON whatever bytes the kernel hands us (task names and paths are
-- arbitrary bytes), and it must be deterministic so that tests and diffs are
-- stable: object keys are sorted.
--
--   json.encode(value) -> string       json.decode(text) -> value
--   json.null                          a value that encodes as null (decode returns it)
--   json.array(t) / json.object(t)     mark a table, mainly so that an empty one
--                                      encodes as [] or {} as intended
--
-- Pure Lua plus LuaJIT's ffi, which is only used to recognise cdata values
-- (64-bit integers and char arrays read from BPF maps and ring buffers).

local ffi = require "ffi"

local json = {}

-- A unique sentinel for JSON null, because Lua tables cannot hold nil values.
json.null = setmetatable({}, { __tostring = function() return "json.null" end })

-- Tables are marked through their metatable's __jsontype field rather than a
-- registry, so that other modules (ebpf.hist) can mark tables without requiring
-- this one, and so that marks travel with the table.
local array_mt = { __jsontype = "array" }
local object_mt = { __jsontype = "object" }

function json.array(t) return setmetatable(t or {}, array_mt) end
function json.object(t) return setmetatable(t or {}, object_mt) end

local MAX_EXACT = 2 ^ 53

-- Numbers: integers print without a fraction, other values with the shortest of
-- %.14g / %.17g that reads back exactly; NaN and infinities have no JSON form.
local function encode_number(x)
  if x ~= x or x == math.huge or x == -math.huge then return "null" end
  if x == math.floor(x) and math.abs(x) < MAX_EXACT then
    return string.format("%.0f", x == 0 and 0 or x) -- "0", never "-0"
  end
  local s = string.format("%.14g", x)
  if tonumber(s) ~= x then s = string.format("%.17g", x) end
  return s
end

local short_escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                        ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }

local function escape_byte(c)
  return short_escapes[c] or string.format("\\u%04x", c:byte())
end

-- Length of the valid UTF-8 sequence starting at byte i, or nil when the bytes
-- there are not valid UTF-8 (stray continuation bytes, overlong forms, UTF-16
-- surrogates, code points above U+10FFFF, truncated sequences).
local function utf8_len(s, i)
  local c = s:byte(i)
  local n, lo, hi
  if c >= 0xC2 and c <= 0xDF then n = 2
  elseif c >= 0xE0 and c <= 0xEF then
    n = 3
    if c == 0xE0 then lo = 0xA0 elseif c == 0xED then hi = 0x9F end
  elseif c >= 0xF0 and c <= 0xF4 then
    n = 4
    if c == 0xF0 then lo = 0x90 elseif c == 0xF4 then hi = 0x8F end
  else
    return nil
  end
  for k = 1, n - 1 do
    local b = s:byte(i + k)
    if not b or b < 0x80 or b > 0xBF then return nil end
    if k == 1 and ((lo and b < lo) or (hi and b > hi)) then return nil end
  end
  return n
end

-- Strings: valid UTF-8 passes through unchanged; control characters, quotes and
-- backslashes are escaped; each byte that is not part of valid UTF-8 becomes
-- \u00XX of that byte, so the output is always valid JSON and no byte is lost
-- silently (a reader sees the Latin-1 character with the byte's value).
local function encode_string(s)
  if not s:find('[%z\1-\31"\\\127-\255]') then return '"' .. s .. '"' end
  local out, i, len = {}, 1, #s
  while i <= len do
    local j = s:find('[%z\1-\31"\\\127-\255]', i)
    if not j then out[#out + 1] = s:sub(i); break end
    if j > i then out[#out + 1] = s:sub(i, j - 1) end
    local c = s:byte(j)
    if c < 0x80 then
      out[#out + 1] = escape_byte(s:sub(j, j))
      i = j + 1
    else
      local n = utf8_len(s, j)
      if n then out[#out + 1] = s:sub(j, j + n - 1); i = j + n
      else out[#out + 1] = string.format("\\u%04x", c); i = j + 1 end
    end
  end
  return '"' .. table.concat(out) .. '"'
end

-- The element type of a plain char array ("char [16]", "const char (&)[16]"),
-- which is how BTF-typed fields such as comm arrive; other cdata yields nil.
local function char_array_size(ct)
  local t = tostring(ct):match("^ctype<(.*)>$") or ""
  t = t:gsub("^const ", "")
  local n = t:match("^char %(&%)%[(%d+)%]$") or t:match("^char %[(%d+)%]$")
  return n and tonumber(n)
end

local int64_t, uint64_t = ffi.typeof("int64_t"), ffi.typeof("uint64_t")

-- cdata: 64-bit integers become numbers when a double holds them exactly and
-- decimal strings otherwise (a consumer then still sees every digit); char arrays
-- become strings cut at the first NUL; anything else (structs, pointers) is
-- refused, because guessing a layout here would hide mistakes: the bindings turn
-- BTF-typed structs into tables first. (A NULL pointer equals nil in LuaJIT and
-- so encodes as null.)
local function encode_cdata(v)
  if ffi.istype(int64_t, v) or ffi.istype(uint64_t, v) then
    -- (Comparing a uint64_t with a negative number would convert the number to
    -- a huge unsigned one, hence the separate test.)
    if v <= MAX_EXACT and (ffi.istype(uint64_t, v) or v >= -MAX_EXACT) then
      return encode_number(tonumber(v))
    end
    return '"' .. tostring(v):gsub("U?LL$", "") .. '"'
  end
  local ct = ffi.typeof(v)
  local n = char_array_size(ct)
  if n then
    local s = ffi.string(v, n)
    return encode_string(s:match("^[^%z]*"))
  end
  local desc = tostring(ct):match("^ctype<(.*)>$") or tostring(ct)
  if not desc:find("[%[%*&]") and not desc:find("^struct") and not desc:find("^union") then
    if desc == "bool" then return tonumber(v) ~= 0 and "true" or "false" end
    local x = tonumber(v)
    if x then return encode_number(x) end
  end
  error(string.format("json.encode: cannot encode cdata of type '%s'; convert it to a Lua "
    .. "table or string first (event fields from the bindings are already converted)", desc), 0)
end

local encode_value

local function is_array(t)
  local mt = getmetatable(t)
  local kind = mt and mt.__jsontype
  if kind == "array" then return true elseif kind == "object" then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  if n == 0 then return false end -- like lua-cjson: an unmarked empty table is {}
  for i = 1, n do if t[i] == nil then return false end end
  return true
end

local function encode_table(t, stack)
  if stack[t] then error("json.encode: cannot encode a table that contains itself", 0) end
  stack[t] = true
  local out = {}
  if is_array(t) then
    local n = #t
    for i = 1, n do out[i] = encode_value(t[i], stack) end
    stack[t] = nil
    return "[" .. table.concat(out, ",") .. "]"
  end
  local keys = {}
  for k in pairs(t) do
    local kt = type(k)
    if kt == "number" then keys[#keys + 1] = { encode_number(k), k }
    elseif kt == "string" then keys[#keys + 1] = { k, k }
    else
      error("json.encode: object keys must be strings or numbers, got a " .. kt, 0)
    end
  end
  table.sort(keys, function(a, b) return a[1] < b[1] end)
  for i, k in ipairs(keys) do
    out[i] = encode_string(k[1]) .. ":" .. encode_value(t[k[2]], stack)
  end
  stack[t] = nil
  return "{" .. table.concat(out, ",") .. "}"
end

encode_value = function(v, stack)
  local tv = type(v)
  if v == nil or v == json.null then return "null"
  elseif tv == "boolean" then return v and "true" or "false"
  elseif tv == "number" then return encode_number(v)
  elseif tv == "string" then return encode_string(v)
  elseif tv == "table" then return encode_table(v, stack)
  elseif tv == "cdata" then return encode_cdata(v)
  end
  error("json.encode: cannot encode a value of type " .. tv, 0)
end

-- Encodes a Lua value as compact JSON text (no spaces, no newline).
function json.encode(value)
  return encode_value(value, {})
end

-- Decoding. Small and strict: it is used for configuration and in tests, where a
-- clear error with a position beats leniency.

local function decode_error(text, pos, what)
  error(string.format("json.decode: %s at position %d", what, pos), 0)
end

local function skip_ws(text, pos)
  return text:find("[^ \t\r\n]", pos) or #text + 1
end

local function utf8_char(cp)
  if cp < 0x80 then return string.char(cp)
  elseif cp < 0x800 then
    return string.char(0xC0 + math.floor(cp / 0x40), 0x80 + cp % 0x40)
  elseif cp < 0x10000 then
    return string.char(0xE0 + math.floor(cp / 0x1000), 0x80 + math.floor(cp / 0x40) % 0x40,
                       0x80 + cp % 0x40)
  end
  return string.char(0xF0 + math.floor(cp / 0x40000), 0x80 + math.floor(cp / 0x1000) % 0x40,
                     0x80 + math.floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
end

local unescapes = { ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f',
                    n = '\n', r = '\r', t = '\t' }

local function decode_string(text, pos)
  local out, i = {}, pos + 1
  while true do
    local j = text:find('["\\%z\1-\31]', i)
    if not j then decode_error(text, pos, "unterminated string") end
    out[#out + 1] = text:sub(i, j - 1)
    local c = text:sub(j, j)
    if c == '"' then return table.concat(out), j + 1 end
    if c ~= "\\" then decode_error(text, j, "control character in string") end
    local e = text:sub(j + 1, j + 1)
    if e == "u" then
      local hex = text:match("^%x%x%x%x", j + 2)
      if not hex then decode_error(text, j, "bad \\u escape") end
      local cp = tonumber(hex, 16)
      i = j + 6
      if cp >= 0xD800 and cp <= 0xDBFF then
        local lo = text:match("^\\u(%x%x%x%x)", i)
        lo = lo and tonumber(lo, 16)
        if lo and lo >= 0xDC00 and lo <= 0xDFFF then
          cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
          i = i + 6
        end
      end
      out[#out + 1] = utf8_char(cp)
    elseif unescapes[e] then
      out[#out + 1] = unescapes[e]
      i = j + 2
    else
      decode_error(text, j, "bad escape")
    end
  end
end

local decode_value

local function decode_container(text, pos, close, element)
  local result, n = {}, 0
  pos = skip_ws(text, pos + 1)
  if text:sub(pos, pos) == close then return result, pos + 1 end
  while true do
    n = n + 1
    pos = element(result, n, pos)
    pos = skip_ws(text, pos)
    local c = text:sub(pos, pos)
    if c == close then return result, pos + 1 end
    if c ~= "," then decode_error(text, pos, "expected ',' or '" .. close .. "'") end
    pos = skip_ws(text, pos + 1)
  end
end

decode_value = function(text, pos)
  pos = skip_ws(text, pos)
  local c = text:sub(pos, pos)
  if c == "{" then
    local obj, p = decode_container(text, pos, "}", function(res, _, at)
      if text:sub(at, at) ~= '"' then decode_error(text, at, "expected a string key") end
      local key, after = decode_string(text, at)
      after = skip_ws(text, after)
      if text:sub(after, after) ~= ":" then decode_error(text, after, "expected ':'") end
      res[key], after = decode_value(text, after + 1)
      return after
    end)
    return json.object(obj), p
  elseif c == "[" then
    local arr, p = decode_container(text, pos, "]", function(res, n, at)
      res[n], at = decode_value(text, at)
      return at
    end)
    return json.array(arr), p
  elseif c == '"' then return decode_string(text, pos)
  elseif text:find("^true", pos) then return true, pos + 4
  elseif text:find("^false", pos) then return false, pos + 5
  elseif text:find("^null", pos) then return json.null, pos + 4
  end
  local num = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
  if num and num ~= "" and num ~= "-" and tonumber(num) then
    return tonumber(num), pos + #num
  end
  decode_error(text, pos, pos > #text and "unexpected end of text" or "unexpected character")
end

-- Decodes JSON text. null becomes json.null; arrays and objects come back marked
-- (json.array / json.object) so that re-encoding keeps their kind. Raises an
-- error naming the position on malformed input.
function json.decode(text)
  assert(type(text) == "string", "json.decode: expected a string")
  local value, pos = decode_value(text, 1)
  pos = skip_ws(text, pos)
  if pos <= #text then decode_error(text, pos, "trailing characters") end
  return value
end

return json
