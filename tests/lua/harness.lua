-- A tiny test harness for the Lua standard library, runnable under plain luajit.
--
--   local t = require "harness"
--   t.test("name", function() t.eq(actual, expected, "what") end)
--   t.done()   -- prints "N passed, N failed" last and exits non-zero on failure
--
-- t.eq compares deeply and, on a mismatch, says where: the first differing line
-- of two texts, or the path to the first differing field of two tables.

local t = { passed = 0, failed = 0 }

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

-- Returns nil when a and b are deeply equal, else a description of where not.
local function diff(a, b, path)
  if a == b then return nil end
  if type(a) ~= type(b) then
    return string.format("%s: expected %s (%s), got %s (%s)", path, show(b), type(b), show(a), type(a))
  end
  if type(a) == "string" and (a:find("\n") or b:find("\n")) then
    local la, lb = {}, {}
    for l in (a .. "\n"):gmatch("([^\n]*)\n") do la[#la + 1] = l end
    for l in (b .. "\n"):gmatch("([^\n]*)\n") do lb[#lb + 1] = l end
    for i = 1, math.max(#la, #lb) do
      if la[i] ~= lb[i] then
        return string.format("%s: texts differ at line %d\n  expected: %s\n  actual:   %s\n"
          .. "--- expected text ---\n%s\n--- actual text ---\n%s", path, i,
          show(lb[i]), show(la[i]), b, a)
      end
    end
    return path .. ": texts differ in their final newline"
  end
  if type(a) ~= "table" then
    return string.format("%s: expected %s, got %s", path, show(b), show(a))
  end
  local keys = {}
  for k in pairs(b) do keys[#keys + 1] = k end
  for k in pairs(a) do if b[k] == nil then keys[#keys + 1] = k end end
  table.sort(keys, function(x, y) return tostring(x) < tostring(y) end)
  for _, k in ipairs(keys) do
    local sub = path .. (type(k) == "string" and ("." .. k) or ("[" .. tostring(k) .. "]"))
    if a[k] == nil then return sub .. ": missing (expected " .. show(b[k]) .. ")" end
    if b[k] == nil then return sub .. ": unexpected " .. show(a[k]) end
    local d = diff(a[k], b[k], sub)
    if d then return d end
  end
  return nil
end

function t.eq(actual, expected, msg)
  local d = diff(actual, expected, "value")
  if d then error((msg and (msg .. ": ") or "") .. d, 2) end
end

function t.ok(cond, msg)
  if not cond then error("expected a true condition" .. (msg and (": " .. msg) or ""), 2) end
end

-- Calls fn, which must raise an error whose message matches the Lua pattern;
-- returns the message.
function t.raises(fn, pattern)
  local ok, err = pcall(fn)
  if ok then error("expected an error matching '" .. tostring(pattern) .. "', but none was raised", 2) end
  local text = type(err) == "table" and (err.message or tostring(err)) or tostring(err)
  if pattern and not text:find(pattern) then
    error("error '" .. text .. "' does not match '" .. pattern .. "'", 2)
  end
  return text
end

-- A stand-in for a file handle that keeps what is written; :text() returns it.
function t.buffer()
  local parts = {}
  local b = { flushes = 0 }
  function b:write(...)
    for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
    return self
  end
  function b:flush() self.flushes = self.flushes + 1 end
  function b:text() return table.concat(parts) end
  function b:clear() parts = {} end
  return b
end

function t.test(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  if ok then
    t.passed = t.passed + 1
    print("ok      " .. name)
  else
    t.failed = t.failed + 1
    print("FAILED  " .. name .. "\n" .. tostring(err):gsub("\n", "\n    "))
  end
end

function t.done()
  print(string.format("%d passed, %d failed", t.passed, t.failed))
  io.stdout:flush()
  os.exit(t.failed > 0 and 1 or 0)
end

return t
