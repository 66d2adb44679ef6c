-- ebpf.oneliner_stacks: the "kstack" and "ustack" keys of the one-liners
-- (bpftrace's @[kstack] = count() and @[ustack]), and stack values that
-- print as frames.
--
--   count("tracepoint/syscalls/sys_enter_openat", "kstack")
--   count("tracepoint/sched/sched_switch", {"comm", "ustack"})
--   trace("tracepoint/syscalls/sys_enter_openat", "comm", "ustack")
--
-- Requiring this module registers both names in F.extra (see
-- ebpf.oneliner_fields). In BPF each key is a __s64 taken with
-- bpf_get_stackid() into the stack-trace map `oneliner_stacks`: a kernel
-- stack is its id alone, so the same kernel path of different processes is
-- one key, as in bpftrace; a user stack also carries the process id in its
-- upper 32 bits, because user addresses mean something only in their
-- process (and the host needs the pid to symbolize them). A negative value
-- is the error bpf_get_stackid returned (-EFAULT: no such stack here, a
-- kernel thread's user stack for one).
--
--   S.value(frames | nil, note)   a stack value (below) from frames
--   S.frame_text(frame)           "do_sys_openat2+5", "leaf [inlined]"
--
-- A user stack descriptor also has pid_of(value), the process a key value
-- belongs to. A stack value has .frames (innermost first, as obj:stack returns them)
-- and .note (why there are no frames); tostring gives bpftrace's layout,
-- one frame per line indented, so that "@[%s]: %d" prints as bpftrace does;
-- :json() gives the list of frame texts.
local F = require "ebpf.oneliner_fields"

local S = {}

S.MAP = "oneliner_stacks"
local DECL = '#include "ebpfrun_stacks.h"\nEBPFRUN_STACK_MAP(oneliner_stacks, 16384);'

function S.frame_text(f)
  if f.inlined then return f.symbol .. " [inlined]" end
  if f.offset and f.offset > 0 and f.symbol:sub(1, 1) ~= "[" then return ("%s+%d"):format(f.symbol, f.offset) end
  return f.symbol
end

local Stack = {}
Stack.__index = Stack

function Stack.__tostring(s)
  if #s.frames == 0 then return s.note or "[empty stack]" end
  local lines = {}
  for i, f in ipairs(s.frames) do lines[i] = "    " .. S.frame_text(f) end
  return "\n" .. table.concat(lines, "\n") .. "\n"
end

function Stack:json()
  local json = require "ebpf.json"
  local list = json.array {}
  for i, f in ipairs(self.frames) do list[i] = S.frame_text(f) end
  if #list == 0 and self.note then list[1] = self.note end
  return list
end

function S.value(frames, note) return setmetatable({ frames = frames or {}, note = note }, Stack) end
function S.is_stack(v) return getmetatable(v) == Stack end

-- bpf_get_stackid's errors that mean "no stack of this kind here" rather
-- than a failure (EFAULT: user mode for a kernel stack, a kernel thread for
-- a user stack).
local EFAULT = 14

local function descriptor(user)
  local what = user and "user" or "kernel"
  local expr = user
      and "({ long id = EBPFRUN_USTACK(ctx, oneliner_stacks); id < 0 ? (__s64)id : (__s64)(((bpf_get_current_pid_tgid() >> 32) << 32) | (__u32)id); })"
    or "(__s64)EBPFRUN_KSTACK(ctx, oneliner_stacks)"
  return {
    kind = "stack",
    decl = DECL,
    -- The process of a user stack key (for ebpf.oneliner's symbolizer warm-up).
    pid_of = user and function(value)
      local v = tonumber(value)
      return v >= 0 and math.floor(v / 2 ^ 32) or nil
    end or nil,
    fill = function(dst) return ("%s = %s;"):format(dst, expr) end,
    show = function(value, obj)
      local v = tonumber(value)
      if v < 0 then
        return S.value(nil, v == -EFAULT and ("[no %s stack]"):format(what) or ("[no %s stack: error %d]"):format(what, -v))
      end
      local id, pid = v % 2 ^ 32, nil
      if user then pid = math.floor(v / 2 ^ 32) end
      local frames, err = obj:stack(S.MAP, id, pid)
      if not frames then return S.value(nil, ("[%s stack lost: %s]"):format(what, tostring(err))) end
      if not user then
        -- Leave out the tracing machinery a raw or BTF tracepoint's stack starts in.
        local tracing_frame = require("ebpf.stackreport").tracing_frame
        while frames[1] and tracing_frame(frames[1].symbol) do table.remove(frames, 1) end
      end
      return S.value(frames)
    end,
  }
end

-- Every probe kind a one-liner attaches to passes a context that
-- bpf_get_stackid accepts.
F.extra.kstack = function() return descriptor(false) end
F.extra.ustack = function() return descriptor(true) end

return S
