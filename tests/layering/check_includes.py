#!/usr/bin/env python3
"""Checks the project's layering against the dependency graph CMake declares.

Usage: check_includes.py SOURCE_DIR LAYERS_TXT

LAYERS_TXT has one line per runtime component, "name:dep1,dep2" (written by
runtime/CMakeLists.txt). The rules:
  - runtime/<c>/ includes only runtime headers of <c> and of the components
    it depends on (transitively), and never bindings/ or cli/;
  - a header under runtime/<c>/internal/ is included only from runtime/<c>/;
  - bindings/ never includes cli/.
Prints one line per violation and exits 1 if there is any.
"""
import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def closure(graph, name, seen=None):
    seen = set() if seen is None else seen
    for dep in graph.get(name, ()):
        if dep not in seen:
            seen.add(dep)
            closure(graph, dep, seen)
    return seen


def main():
    root = pathlib.Path(sys.argv[1])
    graph = {}
    for line in pathlib.Path(sys.argv[2]).read_text().splitlines():
        if ":" in line:
            name, deps = line.split(":", 1)
            graph[name] = [d for d in deps.split(",") if d]
    components = set(graph)
    problems = []
    for path in sorted(root.glob("runtime/**/*")) + sorted(root.glob("bindings/**/*")):
        if path.suffix not in (".h", ".cpp") or not path.is_file():
            continue
        rel = path.relative_to(root)
        layer = rel.parts[0]
        owner = rel.parts[1] if layer == "runtime" else None
        for included in INCLUDE.findall(path.read_text(errors="replace")):
            first = included.split("/")[0]
            if first == "cli" or (layer == "runtime" and first == "bindings"):
                problems.append(f"{rel}: includes {included}, a layer above {layer}/")
                continue
            if first not in components:
                continue
            if "/internal/" in included and first != owner:
                problems.append(f"{rel}: includes {included}, internal to runtime/{first}/")
            if layer == "runtime" and owner in components and first != owner and first not in closure(graph, owner):
                problems.append(
                    f"{rel}: includes {included}, but runtime/{owner} does not depend on {first} "
                    f"(declare it in runtime/CMakeLists.txt if it should)")
    for p in problems:
        print(p)
    if not components:
        print("no components found in", sys.argv[2])
        return 1
    print(f"layering: {len(components)} components, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
