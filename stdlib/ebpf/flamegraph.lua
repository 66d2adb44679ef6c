-- ebpf.flamegraph: an interactive SVG flame graph from folded stacks
-- ({ ["a;b;c"] = count, ... }), drawn by our own code: one rectangle per
-- frame, its width the share of samples, the root at the bottom. The SVG
-- carries a small script: hover shows a frame's samples (also in <title> for
-- viewers without scripts), click zooms into a frame, a search box highlights
-- matching frames and shows their share. Plain SVG + JavaScript, no
-- external files.
local M = {}

local WIDTH, ROW, TOP, BOTTOM = 1200, 16, 40, 20

local function escape(s)
  return (s:gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&apos;" }))
end

-- A tree of { name, count, children = {name → node}, order = {names} }.
local function build(folded)
  local root = { name = "all", count = 0, children = {}, order = {} }
  local lines = {}
  for stack in pairs(folded) do lines[#lines + 1] = stack end
  table.sort(lines)
  for _, stack in ipairs(lines) do
    local count = folded[stack]
    root.count = root.count + count
    local node = root
    for frame in stack:gmatch("[^;]+") do
      local child = node.children[frame]
      if not child then
        child = { name = frame, count = 0, children = {}, order = {} }
        node.children[frame] = child
        node.order[#node.order + 1] = frame
      end
      child.count = child.count + count
      node = child
    end
  end
  return root
end

-- A stable warm colour per name, as flame graphs use.
local function colour(name)
  local h = 0
  for i = 1, #name do h = (h * 31 + name:byte(i)) % 65536 end
  return string.format("rgb(%d,%d,%d)", 205 + h % 50, 80 + math.floor(h / 50) % 120, 40 + math.floor(h / 6000) % 50)
end

local SCRIPT = [[
var svg = document.documentElement, frames = [].slice.call(document.querySelectorAll("g.f")),
    W = +svg.getAttribute("width"), info = document.getElementById("info"), total = +svg.getAttribute("data-total");
function dims(g) { return { x: +g.getAttribute("data-x"), w: +g.getAttribute("data-w") }; }
function layout(zx, zw) {
  frames.forEach(function (g) {
    var d = dims(g), r = g.querySelector("rect"), t = g.querySelector("text");
    var x = (d.x - zx) / zw * (W - 20) + 10, w = d.w / zw * (W - 20);
    var hidden = d.x + d.w <= zx || d.x >= zx + zw;
    g.style.display = hidden ? "none" : "";
    r.setAttribute("x", x); r.setAttribute("width", Math.max(w - 0.5, 0));
    t.setAttribute("x", x + 3);
    var name = g.getAttribute("data-name"), chars = Math.floor((w - 6) / 7);
    t.textContent = chars < 3 ? "" : (name.length <= chars ? name : name.slice(0, chars - 2) + "..");
  });
}
frames.forEach(function (g) {
  g.addEventListener("click", function () { var d = dims(g); layout(d.x, d.w); });
  g.addEventListener("mouseover", function () {
    var n = +g.getAttribute("data-count");
    info.textContent = g.getAttribute("data-name") + " (" + n + " samples, " + (100 * n / total).toFixed(2) + "%)";
  });
});
document.getElementById("reset").addEventListener("click", function () { layout(0, 1); });
document.getElementById("search").addEventListener("click", function () {
  var term = prompt("Search (regular expression)"); if (term === null) return;
  var re = new RegExp(term), matched = 0;
  frames.forEach(function (g) {
    var hit = term !== "" && re.test(g.getAttribute("data-name"));
    g.querySelector("rect").setAttribute("fill", hit ? "rgb(230,0,230)" : g.getAttribute("data-fill"));
  });
  info.textContent = term === "" ? "" : "search: " + term;
});
layout(0, 1);
]]

-- The SVG text for folded stacks; opts.title names the graph.
function M.svg(folded, opts)
  opts = opts or {}
  local root = build(folded)
  local depth = 0
  local rects = {}
  local function walk(node, x, level)
    if level > depth then depth = level end
    if level > 0 then rects[#rects + 1] = { node = node, x = x, level = level } end
    local offset = x
    for _, name in ipairs(node.order) do
      local child = node.children[name]
      walk(child, offset, level + 1)
      offset = offset + child.count / math.max(root.count, 1)
    end
  end
  walk(root, 0, 0)
  local height = TOP + depth * ROW + BOTTOM
  local out = {}
  out[#out + 1] = string.format('<?xml version="1.0" standalone="no"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
    .. 'width="%d" height="%d" viewBox="0 0 %d %d" data-total="%d" font-family="monospace" font-size="12">',
    WIDTH, height, WIDTH, height, root.count)
  out[#out + 1] = string.format('<rect width="100%%" height="100%%" fill="rgb(250,250,240)"/>'
    .. '<text x="%d" y="20" text-anchor="middle" font-size="16">%s</text>'
    .. '<text id="reset" x="10" y="20" style="cursor:pointer">Reset zoom</text>'
    .. '<text id="search" x="%d" y="20" text-anchor="end" style="cursor:pointer">Search</text>'
    .. '<text id="info" x="10" y="%d"></text>', WIDTH / 2, escape(opts.title or "Flame graph"), WIDTH - 10, height - 5)
  for _, r in ipairs(rects) do
    local node = r.node
    local w = node.count / math.max(root.count, 1)
    local y = height - BOTTOM - r.level * ROW
    local fill = colour(node.name)
    out[#out + 1] = string.format('<g class="f" data-name="%s" data-count="%d" data-x="%.8f" data-w="%.8f" data-fill="%s">'
      .. '<title>%s (%d samples, %.2f%%)</title><rect y="%d" height="%d" fill="%s" rx="2"/>'
      .. '<text y="%d"></text></g>', escape(node.name), node.count, r.x, w, fill, escape(node.name), node.count,
      100 * w, y, ROW - 1, fill, y + ROW - 4)
  end
  out[#out + 1] = "<script><![CDATA[" .. SCRIPT .. "]]></script></svg>\n"
  return table.concat(out, "\n")
end

return M
