-- ebpf.args_help: the usage line and --help text of ebpf.args, kept apart from
-- the parser so that each stays small. Options arrive normalised by ebpf.args
-- ({names=, type=, metavar=, help=, default=, required=}), positionals as
-- {name=, help=, optional=, multiple=}. Layout follows Python's argparse, which
-- most people have read before: options in one column, help text wrapped at 79
-- columns beside them, or below when the option is too wide.

local help = {}

-- The usage line, wrapped at 79 columns under the program name.
function help.usage(prog, options, positional)
  local parts = {}
  for _, o in ipairs(options) do
    local s = o.names[1]
    if o.type ~= "flag" then s = s .. " " .. o.metavar end
    parts[#parts + 1] = o.required and s or "[" .. s .. "]"
  end
  for _, p in ipairs(positional) do
    local s = p.name .. (p.multiple and " ..." or "")
    parts[#parts + 1] = p.optional and "[" .. s .. "]" or s
  end
  local lead = "usage: " .. prog
  local lines, line = {}, lead
  for _, s in ipairs(parts) do
    if #line + 1 + #s > 79 and line ~= lead and #line > #lead then
      lines[#lines + 1] = line
      line = string.rep(" ", #lead)
    end
    line = line .. " " .. s
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n")
end

local function wrap(text, indent, width)
  local lines, line = {}, ""
  for word in text:gmatch("%S+") do
    if #line > 0 and indent + #line + 1 + #word > width then
      lines[#lines + 1] = line
      line = word
    else
      line = #line > 0 and (line .. " " .. word) or word
    end
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n" .. string.rep(" ", indent))
end

local function help_entry(left, text)
  local col = 24
  if text == "" then return "  " .. left end
  if #left + 2 > col - 2 then
    return "  " .. left .. "\n" .. string.rep(" ", col) .. wrap(text, col, 79)
  end
  return "  " .. left .. string.rep(" ", col - 2 - #left) .. wrap(text, col, 79)
end

-- The full --help text.
function help.help(prog, spec, options, positional)
  local out_lines = { help.usage(prog, options, positional), "" }
  if spec.description then out_lines[#out_lines + 1] = wrap(spec.description, 0, 79); out_lines[#out_lines + 1] = "" end
  if #positional > 0 then
    out_lines[#out_lines + 1] = "positional arguments:"
    for _, p in ipairs(positional) do out_lines[#out_lines + 1] = help_entry(p.name, p.help or "") end
    out_lines[#out_lines + 1] = ""
  end
  out_lines[#out_lines + 1] = "options:"
  for _, o in ipairs(options) do
    local left = table.concat(o.names, ", ") .. (o.type ~= "flag" and " " .. o.metavar or "")
    local text = o.help or ""
    if o.default ~= nil and o.type ~= "flag" then
      text = text .. (text ~= "" and " " or "") .. "(default: " .. tostring(o.default) .. ")"
    end
    out_lines[#out_lines + 1] = help_entry(left, text)
  end
  if spec.epilog then out_lines[#out_lines + 1] = ""; out_lines[#out_lines + 1] = spec.epilog end
  return table.concat(out_lines, "\n") .. "\n"
end

return help
