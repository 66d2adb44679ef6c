-- Runs `ebpfrun -e CODE` with a workload started once the one-liner has
-- attached (its "Attaching" line on stderr), for the one-liner tests.
local M = {}

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
M.quote = sh_quote

function M.bin() return os.getenv("EBPFRUN_BIN") or "ebpfrun" end
function M.workload() return os.getenv("EBPFRUN_WORKLOAD") or "workload" end

-- Returns exit code, stdout, stderr. `workload` is a shell command (or nil);
-- `args` extra ebpfrun options placed before -e.
function M.run(code, workload, args)
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p " .. dir)
  local script = ([[
%s %s -e %s >%s/out 2>%s/err &
pid=$!
i=0
while ! grep -q Attaching %s/err 2>/dev/null && kill -0 $pid 2>/dev/null && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
%s
wait $pid
echo $? >%s/rc
]]):format(M.bin(), args or "", sh_quote(code), dir, dir, dir, workload and ("{ " .. workload .. "; } >/dev/null") or ":", dir)
  os.execute("sh -c " .. sh_quote(script))
  local function slurp(name)
    local h = io.open(dir .. "/" .. name)
    local s = h and h:read("*a") or ""
    if h then h:close() end
    return s
  end
  local rc, out, err = tonumber(slurp("rc")), slurp("out"), slurp("err")
  os.execute("rm -rf " .. dir)
  return rc, out, err
end

-- A unique path (under /tmp) that exists.
function M.unique_file(tag, bytes)
  local path = ("/tmp/ebpfrun-oneliner-%s-%d-%d"):format(tag, os.time(), math.random(1e9))
  local f = assert(io.open(path, "w"))
  f:write(string.rep("x", bytes or 1))
  f:close()
  return path
end

-- Compiles BPF C with `ebpfrun compile` (no load): exit status, diagnostics
-- and the size of the object written. The source is a content_file
-- (ebpf_common.lua), so the same source compiles once.
function M.compile_only(source)
  local common = require "ebpf_common"
  local src = common.content_file(source, "source.bpf.c")
  local obj = src:gsub("%.bpf%.c$", ".o")
  local p = io.popen(("%s compile %s -o %s 2>&1; echo rc=$?"):format(M.bin(), src, obj))
  local out = p:read("*a")
  p:close()
  local size = 0
  local h = io.open(obj, "rb")
  if h then size = h:seek("end"); h:close() end
  os.remove(obj)
  common.remove_content_file(src)
  return tonumber(out:match("rc=(%d+)%s*$")), out, size
end

function M.lines(text)
  local out = {}
  for l in text:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

-- Runs each { one-liner, expected part of stderr } and checks that it is a
-- usage error: exit 2, nothing on stdout, the part in what it said.
function M.check_usage_errors(t, cases)
  for _, case in ipairs(cases) do
    local rc, out, err = M.run(case[1])
    t.eq(rc, 2, case[1] .. ": " .. err)
    t.eq(out, "")
    t.eq(err:find(case[2], 1, true) ~= nil, true, case[1] .. " said: " .. err)
  end
end

return M
