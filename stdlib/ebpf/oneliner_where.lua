-- ebpf.oneliner_where: the `where = "pid == 123 && ret < 0"` filter of the
-- one-liners. A small recursive-descent parser turns the text into an AST,
-- which is validated against the probe's fields and compiled to C from the
-- AST alone: the C holds only field expressions the probe gives, integers
-- printed by us and string literals as byte comparisons, never the user's
-- text, so no input can inject code.
--
--   local W = require "ebpf.oneliner_where"
--   local ast = W.parse("pid == 1 && !(ret < 0)")     -- raises "where: ... at column N"
--   local c = W.compile(ast, lookup, names)  -- {prelude = C statements, cond = C expression}
--
-- Grammar:
--   expr    := and ('||' and)*
--   and     := unary ('&&' unary)*
--   unary   := '!' unary | compare
--   compare := operand (('=='|'!='|'<'|'<='|'>'|'>=') operand)?
--   operand := '(' expr ')' | INT | '-' INT | STRING | IDENT | ('str'|'kstr') '(' IDENT ')'
--   IDENT   := NAME (('->' | '.') NAME)*      (a path: next->comm, see ebpf.oneliner_paths)

local W = {}

local MAX_INT = 2 ^ 53

local function fail(message, col) error(("where: %s at column %d"):format(message, col), 0) end

function W.tokenize(text)
  if type(text) ~= "string" then error(("where: must be a string, not a %s"):format(type(text)), 0) end
  local tokens, i = {}, 1
  while i <= #text do
    local c = text:sub(i, i)
    if c:match("%s") then
      i = i + 1
    elseif c:match("[%a_]") then
      -- A field may be a path through structs: next->comm, curtask->mm->total_vm.
      local word = text:match("^[%w_]+", i)
      while true do
        local more = text:match("^%->[%a_][%w_]*", i + #word) or text:match("^%.[%a_][%w_]*", i + #word)
        if not more then break end
        word = word .. more
      end
      tokens[#tokens + 1] = { t = "ident", v = word, col = i }
      i = i + #word
    elseif c:match("%d") then
      local num = text:match("^0[xX]%x+", i) or text:match("^%d+", i)
      if text:sub(i + #num):match("^[%w_]") then fail(("bad number '%s'"):format(text:match("^[%w_]+", i)), i) end
      local value = tonumber(num)
      if value >= MAX_INT then fail(("number %s is too large"):format(num), i) end
      tokens[#tokens + 1] = { t = "int", v = value, col = i }
      i = i + #num
    elseif c == '"' or c == "'" then
      local j = text:find(c, i + 1, true)
      if not j then fail("unterminated string", i) end
      local s = text:sub(i + 1, j - 1)
      if s:find("[%z\1-\31\127-\255\\]") then fail("strings hold printable ASCII only, without backslashes", i) end
      tokens[#tokens + 1] = { t = "str", v = s, col = i }
      i = j + 1
    else
      local op = text:match("^[=!<>]=", i) or text:match("^&&", i) or text:match("^||", i) or text:match("^[<>!()%-]", i)
      if not op then fail(("unexpected '%s'"):format(c), i) end
      tokens[#tokens + 1] = { t = "op", v = op, col = i }
      i = i + #op
    end
  end
  tokens[#tokens + 1] = { t = "end", v = "end of expression", col = #text + 1 }
  return tokens
end

local RELATIONS = { ["=="] = true, ["!="] = true, ["<"] = true, ["<="] = true, [">"] = true, [">="] = true }

function W.parse(text)
  local tokens, pos = W.tokenize(text), 1
  local function peek() return tokens[pos] end
  local function take() pos = pos + 1; return tokens[pos - 1] end
  local function is_op(v) return tokens[pos].t == "op" and tokens[pos].v == v end
  local function expect(v)
    if not is_op(v) then fail(("expected '%s' but found '%s'"):format(v, tostring(peek().v)), peek().col) end
    return take()
  end
  local expr
  local function operand()
    local tok = take()
    if tok.t == "op" and tok.v == "(" then
      local e = expr()
      expect(")")
      return e
    elseif tok.t == "int" then
      return { node = "int", value = tok.v, col = tok.col }
    elseif tok.t == "op" and tok.v == "-" and peek().t == "int" then
      return { node = "int", value = -take().v, col = tok.col }
    elseif tok.t == "str" then
      return { node = "str", value = tok.v, col = tok.col }
    elseif tok.t == "ident" then
      if (tok.v == "str" or tok.v == "kstr") and is_op("(") then
        take()
        local inner = take()
        if inner.t ~= "ident" then fail(("%s() takes a field name"):format(tok.v), inner.col) end
        expect(")")
        return { node = "field", name = ("%s(%s)"):format(tok.v, inner.v), col = tok.col }
      end
      return { node = "field", name = tok.v, col = tok.col }
    end
    fail(("expected a field, number or string but found '%s'"):format(tostring(tok.v)), tok.col)
  end
  local function compare()
    local left = operand()
    if peek().t == "op" and RELATIONS[peek().v] then
      local op = take()
      return { node = "cmp", op = op.v, left = left, right = operand(), col = op.col }
    end
    return left
  end
  local function unary()
    if is_op("!") then
      local tok = take()
      return { node = "not", arg = unary(), col = tok.col }
    end
    return compare()
  end
  local function chain(sub, op, node)
    return function()
      local left = sub()
      while is_op(op) do
        local tok = take()
        left = { node = node, left = left, right = sub(), col = tok.col }
      end
      return left
    end
  end
  local conj = chain(unary, "&&", "and")
  expr = chain(conj, "||", "or")
  local ast = expr()
  if peek().t ~= "end" then fail(("unexpected '%s'"):format(tostring(peek().v)), peek().col) end
  return ast
end

-- Integers are printed by us as decimal C literals.
local function int_literal(v) return ("(%.0fLL)"):format(v) end

-- Compiles an AST. `lookup(name)` returns a field descriptor (see
-- ebpf.oneliner_fields) or nil and maybe why; `names` lists the valid ones for messages.
-- Returns the statements to run first (reading strings into stack buffers)
-- and the condition, as C.
function W.compile(ast, lookup, names)
  local prelude, buffers = {}, 0
  local function field(n)
    local d, why = lookup(n.name)
    if not d then fail(why or ("unknown field '%s'"):format(n.name), n.col) end
    if d.kind == "stack" then fail(("'%s' is a stack: a key or a traced field, not part of a predicate"):format(n.name), n.col) end
    return d
  end
  local function number(n)
    if n.node == "int" then return int_literal(n.value) end
    if n.node == "field" then
      local d = field(n)
      if d.kind ~= "num" then fail(("'%s' is a string; compare it with == or != to a quoted string"):format(n.name), n.col) end
      return "(" .. d.expr .. ")"
    end
    return nil
  end
  local function string_compare(fnode, lit, op, col)
    local d = field(fnode)
    if d.kind ~= "str" then fail(("'%s' is a number, not a string"):format(fnode.name), fnode.col) end
    if op ~= "==" and op ~= "!=" then fail("strings compare with == and != only", col) end
    -- Read one byte more than the literal, so that a longer string differs
    -- at the position of the literal's terminating NUL.
    local size = math.min(#lit.value + 2, d.size)
    buffers = buffers + 1
    local buf = ("where_s%d"):format(buffers)
    prelude[#prelude + 1] = ("char %s[%d] = {};"):format(buf, math.max(size, 2))
    prelude[#prelude + 1] = d.fill(buf)
    local parts = {}
    if #lit.value + 1 > d.size then
      parts[1] = "0"
    else
      for i = 1, #lit.value do parts[#parts + 1] = ("%s[%d] == %d"):format(buf, i - 1, lit.value:byte(i)) end
      parts[#parts + 1] = ("%s[%d] == 0"):format(buf, #lit.value)
    end
    local eq = "(" .. table.concat(parts, " && ") .. ")"
    return op == "==" and eq or "!" .. eq
  end
  local gen
  function gen(n)
    if n.node == "and" then return ("(%s && %s)"):format(gen(n.left), gen(n.right)) end
    if n.node == "or" then return ("(%s || %s)"):format(gen(n.left), gen(n.right)) end
    if n.node == "not" then return ("!%s"):format(gen(n.arg)) end
    if n.node == "cmp" then
      local l, r = n.left, n.right
      if l.node == "str" or r.node == "str" then
        if l.node == "str" then l, r = r, l end
        if l.node ~= "field" then fail("a string compares with a string field", l.col) end
        if r.node ~= "str" then fail("a string compares with a quoted string", r.col) end
        return string_compare(l, r, n.op, n.col)
      end
      local a, b = number(l), number(r)
      if not a then fail("expected a number", l.col) end
      if not b then fail("expected a number", r.col) end
      return ("(%s %s %s)"):format(a, n.op, b)
    end
    if n.node == "field" or n.node == "int" then
      local e = number(n)
      return ("(%s != 0)"):format(e)
    end
    fail("a string alone is not a condition", n.col)
  end
  local ok, cond = pcall(gen, ast)
  if not ok then
    local message = tostring(cond)
    if message:match("unknown field") and names then message = message .. (" (fields: %s)"):format(table.concat(names, ", ")) end
    error(message, 0)
  end
  return { prelude = prelude, cond = cond }
end

return W
