-- The one-liner predicate parser and compiler, and the tracepoint format
-- parser, under plain LuaJIT: what the C may contain, and where errors point.
local t = require "harness"
local W = require "ebpf.oneliner_where"
local F = require "ebpf.oneliner_fields"

local FIELDS = {
  ret = { kind = "num", expr = "(__s64)RET_EXPR", signed = true },
  pid = { kind = "num", expr = "(__s64)PID_EXPR", signed = true },
  comm = { kind = "str", size = 16, fill = function(dst) return ("COMM_FILL(%s);"):format(dst) end },
}
local function lookup(name) return FIELDS[name] end
local NAMES = { "comm", "pid", "ret" }

local function compile(text) return W.compile(W.parse(text), lookup, NAMES) end
local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return e
end

t.test("precedence: && binds tighter than ||, ! applies to one operand", function()
  local ast = W.parse("pid == 1 || ret < 0 && !ret")
  t.eq(ast.node, "or")
  t.eq(ast.right.node, "and")
  t.eq(ast.right.right.node, "not")
  t.eq(compile("pid == 1 || ret < 0 && !ret").cond,
    "((((__s64)PID_EXPR) == (1LL)) || ((((__s64)RET_EXPR) < (0LL)) && !(((__s64)RET_EXPR) != 0)))")
end)

t.test("parentheses, negative and hex literals", function()
  t.eq(compile("(pid >= 0x10) && ret != -2").cond, "((((__s64)PID_EXPR) >= (16LL)) && (((__s64)RET_EXPR) != (-2LL)))")
end)

t.test("strings compare byte by byte, reading one byte past the literal", function()
  local c = compile("comm == 'ab'")
  t.eq(c.prelude, { "char where_s1[4] = {};", "COMM_FILL(where_s1);" })
  t.eq(c.cond, "(where_s1[0] == 97 && where_s1[1] == 98 && where_s1[2] == 0)")
  t.eq(compile('comm != "x"').cond, "!(where_s1[0] == 120 && where_s1[1] == 0)")
  -- Longer than the field can hold: never equal.
  t.eq(compile("comm == '0123456789abcdefXYZ'").cond, "(0)")
end)

t.test("errors point at the column", function()
  t.eq(err_of(compile, "rett < 0"), "where: unknown field 'rett' at column 1 (fields: comm, pid, ret)")
  t.eq(err_of(compile, "pid == 1 && "), "where: expected a field, number or string but found 'end of expression' at column 13")
  t.eq(err_of(compile, "pid = 1"), "where: unexpected '=' at column 5")
  t.eq(err_of(compile, "(pid == 1"), "where: expected ')' but found 'end of expression' at column 10")
  t.eq(err_of(compile, "comm < 'a'"), "where: strings compare with == and != only at column 6")
  t.eq(err_of(compile, "ret == 'a'"), "where: 'ret' is a number, not a string at column 1")
  t.eq(err_of(compile, "comm > 3"), "where: 'comm' is a string; compare it with == or != to a quoted string at column 1")
  t.eq(err_of(compile, "99999999999999999999 > 1"), "where: number 99999999999999999999 is too large at column 1")
  t.eq(err_of(compile, "'abc"), "where: unterminated string at column 1")
end)

-- Hostile inputs either fail to parse or become C made only of our pieces.
local HOSTILE = {
  "1); evil(); //", "pid == 1); bpf_probe_write_user(0,0,0); //", "pid == 1 /* */", "comm == 'a\\'); x(); //'",
  "comm == \"\\\"\"", "pid == 1;", "pid == 1 # 2", "pid == `x`", "ret == 1e9", "ret == 0x", "pid\n== 1 || evil",
  "__builtin_trap()", "comm == '\1'", "(((((", "))", "!", "&&", "pid == 12abc", "ret == 1.5", "comm == '%s%n'",
}
t.test("hostile inputs never reach the C", function()
  local accepted = 0
  for _, text in ipairs(HOSTILE) do
    local ok, c = pcall(compile, text)
    if ok then
      accepted = accepted + 1
      -- Only our expressions, numbers, operators and buffer names.
      local rest = (c.cond .. table.concat(c.prelude, " ")):gsub("%(__s64%)[A-Z_]+", ""):gsub("where_s%d+", "")
        :gsub("COMM_FILL", ""):gsub("char", "")
      t.eq(rest:match("^[%d%s%(%)%[%]=!<>&|%-%+;{}LL]*$") ~= nil, true, "unexpected C for " .. text .. ": " .. rest)
      t.eq(c.cond:find("evil", 1, true), nil, text)
    else
      t.eq(tostring(c):match("^where: ") ~= nil, true, "message of " .. text .. ": " .. tostring(c))
    end
  end
  t.eq(accepted, 1, "only comm == '%s%n' is valid")
end)

t.test("random byte strings never crash the parser", function()
  math.randomseed(11)
  local alphabet = "pidretcomm =!<>&|()'\"-0123456789x;/*\\"
  for _ = 1, 2000 do
    local n, chars = math.random(0, 20), {}
    for i = 1, n do local k = math.random(#alphabet); chars[i] = alphabet:sub(k, k) end
    local ok, e = pcall(compile, table.concat(chars))
    if not ok then t.eq(type(e) == "string" and e:match("^where: ") ~= nil, true, tostring(e)) end
  end
end)

t.test("format lines: integers, char[], __data_loc, pointers", function()
  local fmt = [[
name: x
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:int __syscall_nr;	offset:8;	size:4;	signed:1;
	field:const char * filename;	offset:24;	size:8;	signed:0;
	field:char comm[16];	offset:8;	size:16;	signed:0;
	field:__data_loc char[] name;	offset:40;	size:4;	signed:0;
	field:long ret;	offset:16;	size:8;	signed:1;
]]
  local f = F.parse_format(fmt)
  t.eq(f.filename.kind, "pointer")
  t.eq(f.comm.kind, "chars")
  t.eq(f.name.kind, "data_loc")
  t.eq(f.ret.kind, "int")
  t.eq(f.ret.signed, true)
  local info = { kind = "tracepoint", probe = "tracepoint/x/y", fields = f }
  t.eq(F.lookup(info, "ret").expr, "(__s64)*(__s64 *)((char *)ctx + 16)")
  t.eq(F.lookup(info, "str(filename)").fill("b"),
    "bpf_probe_read_user_str(b, sizeof(b), (const void *)*(__u64 *)((char *)ctx + 24));")
  t.eq(F.lookup(info, "name").fill("b"),
    "bpf_probe_read_kernel_str(b, sizeof(b), (char *)ctx + (*(__u32 *)((char *)ctx + 40) & 0xffff));")
  t.eq(F.lookup(info, "nope"), nil)
  t.eq(select(2, F.lookup(info, "str(ret; x)")), "'str(ret; x)' is not a field name")
  local ok, e = pcall(F.resolve, info, "nope", "trace", 3)
  t.eq(ok, false)
  t.eq(e, "usage: trace: argument 3: tracepoint/x/y has no field 'nope' (fields: __syscall_nr, comm, name, ret, str(filename), pid, tid, uid, cpu, ns, probe, kstack, ustack)")
end)

t.test("stack keys: kstack is a stack id, ustack also carries the pid; neither goes in a predicate", function()
  local S = require "ebpf.oneliner_stacks"
  local info = { kind = "tracepoint", probe = "tracepoint/x/y", fields = {} }
  local k, u = F.lookup(info, "kstack"), F.lookup(info, "ustack")
  t.eq(k.kind, "stack")
  t.eq(k.fill("key.k1"), "key.k1 = (__s64)EBPFRUN_KSTACK(ctx, oneliner_stacks);")
  t.ok(u.fill("key.k1"):find("EBPFRUN_USTACK(ctx, oneliner_stacks)", 1, true), u.fill("key.k1"))
  t.ok(k.decl:find("EBPFRUN_STACK_MAP(oneliner_stacks", 1, true), k.decl)
  t.eq(u.pid_of(1234 * 2 ^ 32 + 7), 1234)
  t.eq(u.pid_of(-14), nil)
  t.eq(k.pid_of, nil)
  -- A failed stack id prints why there are no frames.
  t.eq(tostring(k.show(-14)), "[no kernel stack]")
  t.eq(tostring(u.show(-12)), "[no user stack: error 12]")
  local frames = { { symbol = "leaf", offset = 5 }, { symbol = "leaf_inline", offset = 0, inlined = true }, { symbol = "main", offset = 0 } }
  t.eq(tostring(S.value(frames)), "\n    leaf+5\n    leaf_inline [inlined]\n    main\n")
  t.eq(S.value(frames):json(), { "leaf+5", "leaf_inline [inlined]", "main" })
  local function stack_lookup(name) return F.lookup(info, name) end
  t.eq(err_of(function() return W.compile(W.parse("kstack == 1"), stack_lookup, NAMES) end),
    "where: 'kstack' is a stack: a key or a traced field, not part of a predicate at column 1")
end)

t.test("a path through structs is one field name, with lookup's reason on failure", function()
  local toks = W.tokenize("next->comm == 'x' && curtask->se.vruntime > 1")
  t.eq(toks[1].v, "next->comm")
  t.eq(toks[5].v, "curtask->se.vruntime")
  local seen = {}
  local function path_lookup(name)
    seen[#seen + 1] = name
    if name == "next->pid" then return { kind = "num", expr = "(__s64)NEXT_PID", signed = true } end
    return nil, ("%s: struct task_struct has no member 'pidd'"):format(name)
  end
  t.eq(W.compile(W.parse("next->pid == 3"), path_lookup, NAMES).cond, "(((__s64)NEXT_PID) == (3LL))")
  local e = err_of(function() return W.compile(W.parse("next->pidd == 3"), path_lookup, NAMES) end)
  t.eq(e, "where: next->pidd: struct task_struct has no member 'pidd' at column 1")
  -- A dangling arrow is not part of the name.
  t.eq(err_of(W.parse, "next-> == 1"), "where: unexpected '-' at column 5")
end)

t.done()
