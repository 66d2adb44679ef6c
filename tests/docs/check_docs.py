#!/usr/bin/env python3
"""The docs and the --help texts say the same thing.

Usage: check_docs.py EBPFRUN SOURCE_DIR

- For every scripts/*.lua, `ebpfrun SCRIPT --help` is run and the flags it
  prints are compared with docs/collectors.md: the script's own section
  ("### NAME.lua") plus the "## Standard flags" section must list exactly the
  flags the help prints, and every standard flag must be in every script's
  help.
- `ebpfrun --help` and `ebpfrun SUB --help` for each subcommand named in
  cli/main.cpp are compared with the "## `ebpfrun`" and "## `ebpfrun SUB`"
  sections of docs/cli.md.

Flags are read from the first column of the docs' tables (rows starting with
"| `-") and from the left column of the help's option lines, so the wording
may differ but the set of flags may not: adding a flag without documenting
it, or documenting one that does not exist, fails with a message naming it.
"""
import glob
import os
import re
import subprocess
import sys

FLAG = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


def help_flags(text):
    """Flags in the option lines of a --help text (ebpf.args or CLI11 layout)."""
    flags = set()
    for line in text.splitlines():
        m = re.match(r"^\s+(-\S.*)$", line)
        if not m:
            continue
        left = re.split(r"\s{2,}", m.group(1))[0]
        flags.update(FLAG.findall(left))
    return flags


def doc_sections(path, heading):
    """{section title: set of flags in its tables} for headings matching the regex."""
    sections, current = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                m = re.match(heading, line.rstrip("\n"))
                current = m.group(1) if m else None
                if current is not None:
                    if current in sections:
                        raise SystemExit(f"{path}: section '{current}' appears twice")
                    sections[current] = set()
                continue
            if current is not None and line.startswith("| `-"):
                first_cell = line.split("|")[1]
                sections[current].update(FLAG.findall(first_cell))
    return sections


def run_help(argv, env):
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout


def compare(what, help_set, doc_set, problems):
    for flag in sorted(help_set - doc_set):
        problems.append(f"{what}: --help prints {flag}, the docs do not list it")
    for flag in sorted(doc_set - help_set):
        problems.append(f"{what}: the docs list {flag}, --help does not print it")


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    ebpfrun, source = sys.argv[1], sys.argv[2]
    env = dict(os.environ)
    problems = []

    collectors_md = os.path.join(source, "docs", "collectors.md")
    scripts = doc_sections(collectors_md, r"^### (\S+\.lua)$")
    standard = doc_sections(collectors_md, r"^## (Standard flags)$").get("Standard flags")
    if not standard:
        problems.append(f"{collectors_md}: no '## Standard flags' table")
        standard = set()
    shipped = sorted(glob.glob(os.path.join(source, "scripts", "*.lua")))
    names = {os.path.basename(p) for p in shipped}
    for name in sorted(set(scripts) - names):
        problems.append(f"{collectors_md}: section '{name}' has no scripts/{name}")
    # A script's --help runs after ebpfrun's preflight, which refuses to start
    # without CAP_BPF; the CLI's own --help texts need no privilege.
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            problems.append("the scripts' --help needs root (ebpfrun's preflight) and CI=true forbids skipping")
        else:
            print("skipped: the scripts' --help texts need root (ebpfrun's preflight); checking the CLI only")
        shipped = []
    for path in shipped:
        name = os.path.basename(path)
        if name not in scripts:
            problems.append(f"{collectors_md}: scripts/{name} has no '### {name}' section")
            continue
        printed = help_flags(run_help([ebpfrun, path, "--help"], env))
        for flag in sorted(standard - printed):
            problems.append(f"scripts/{name}: standard flag {flag} is documented for every script "
                            "but its --help does not print it")
        compare(f"scripts/{name} (docs/collectors.md)", printed, scripts[name] | (standard & printed), problems)

    cli_md = os.path.join(source, "docs", "cli.md")
    commands = doc_sections(cli_md, r"^## `(ebpfrun(?: \w+)?)`$")
    with open(os.path.join(source, "cli", "main.cpp"), encoding="utf-8") as f:
        listed = re.search(r"kSubcommands\[\]\s*=\s*\{([^}]*)\}", f.read())
    subcommands = re.findall(r'"(\w+)"', listed.group(1)) if listed else []
    if not subcommands:
        problems.append("cli/main.cpp: cannot find the kSubcommands list")
    for command in ["ebpfrun"] + [f"ebpfrun {s}" for s in subcommands]:
        if command not in commands:
            problems.append(f"{cli_md}: no '## `{command}`' section")
            continue
        argv = [ebpfrun] + command.split()[1:] + ["--help"]
        compare(f"{command} (docs/cli.md)", help_flags(run_help(argv, env)), commands[command], problems)
    for command in sorted(set(commands) - {"ebpfrun"} - {f"ebpfrun {s}" for s in subcommands}):
        problems.append(f"{cli_md}: section '{command}' is not a subcommand of cli/main.cpp")

    checked = len(shipped) + 1 + len(subcommands)
    if problems:
        print("\n".join(problems))
        print(f"FAILED: {len(problems)} difference(s) between --help and docs/")
        return 1
    print(f"ok: the flags of {checked} --help texts match docs/collectors.md and docs/cli.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
