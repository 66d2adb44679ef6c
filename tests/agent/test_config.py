"""Bad configurations: one clear line each, exit 1, nothing loaded (the
command returns before any compile). --check: 0 on a good file, 1 with one
line per problem, including Prometheus naming problems of a collector's
metrics."""
import os
import subprocess
import tempfile

from agent_support import EBPFRUN, check, require_root

tmp = tempfile.mkdtemp(prefix="ebpfrun-agent-config-")


def write(name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run(*args, timeout=60):
    return subprocess.run([EBPFRUN, "agent", *args], capture_output=True, text=True, timeout=timeout)


bad_metric = write("badmetric.lua", """
return { name = "badmetric", source = "x.bpf.c", collect = function() return {} end,
  metrics = { { name = "ebpfrun_opens", type = "counter", help = "h", labels = { "pid" }, value = "n" },
              { name = "ebpfrun_latencyMs", type = "gauge", help = "", labels = { "__pid" }, value = "n" } } }
""")

cases = [
    ("syntax error", "return { interval = 5", "'}' expected"),
    ("unknown collector", "return { collectors = { nosuch = true } }", "collectors.nosuch: unknown collector"),
    ("unknown key", "return { intervall = 5 }", "unknown key 'intervall'"),
    ("unknown collector key", "return { collectors = { syscalls = { filtr = {} } } }", "unknown key 'filtr'"),
    ("bad filter field", "return { collectors = { syscalls = { filter = { command = 'x' } } } }",
     "unknown filter field 'command'"),
    ("bad filter value", "return { filter = { comm = 'a_name_longer_than_15' } }", "comm"),
    ("bad pid", "return { filter = { pid = 'abc' } }", "pid"),
    ("bad interval", "return { interval = -1 }", "interval must be a positive number"),
    ("bad limit", "return { limits = { series_per_metric = 0 } }", "series_per_metric"),
    ("not a table", "return 42", "must return a table"),
    ("runtime error", "error('boom')", "boom"),
]
for what, text, expected in cases:
    path = write(what.replace(" ", "_") + ".lua", text)
    for mode in (["--check"], []):
        r = run(path, *mode)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        label = f"{what} ({'--check' if mode else 'run'})"
        check(r.returncode == 1, f"{label}: exit 1 (got {r.returncode}: {r.stderr.strip()})")
        check(len(lines) == 1 and expected in lines[0], f"{label}: one line naming the problem: {lines}")
        check("attached" not in r.stderr and "serving" not in r.stderr, f"{label}: nothing loaded or served")

good = write("good.lua", """
local wanted = { "syscalls", "network" }          -- the config can compute
local collectors = {}
for _, name in ipairs(wanted) do collectors[name] = { filter = { comm = { "nginx" } } } end
collectors.scheduler = false
return { listen = "127.0.0.1:9435", interval = 5, collectors = collectors,
         limits = { series_per_metric = 10000, series_ttl = 300 }, labels = { drop = { "pid" } } }
""")
r = run(good, "--check")
check(r.returncode == 0 and "ok (network, syscalls" in r.stdout, f"--check on a good file: {r.stdout}{r.stderr}")
r = run("--check")
check(r.returncode == 0, f"--check without a file checks the six shipped collectors: {r.stdout}{r.stderr}")

custom = write("custom.lua", f"return {{ collectors = {{ mine = {{ script = '{bad_metric}' }} }} }}")
r = run(custom, "--check")
lines = r.stderr.splitlines()
check(r.returncode == 1, "--check fails on badly named metrics")
for expected in ('ebpfrun_opens: counter metrics should have "_total" suffix', "ebpfrun_latencyMs: no help text",
                 "snake_case", "__pid"):
    check(any(expected in l for l in lines), f"--check names: {expected}")

r = run("--check", "--collectors", "syscalls,nosuch")
check(r.returncode == 1 and "collectors.nosuch: unknown collector" in r.stderr, "--collectors with an unknown name")
r = run("--check", "--comm", "a_name_longer_than_15")
check(r.returncode == 1 and "comm" in r.stderr, "--comm too long is refused")
r = run(os.path.join(tmp, "missing.lua"))
check(r.returncode == 1 and "does not exist" in r.stderr, "a missing file")
# A missing capability is named (as root, drop to an unprivileged uid first).
if os.geteuid() == 0:
    scripts = os.environ.get("EBPFRUN_SCRIPTS_DIR", "")
    for caps, missing in (([], "CAP_BPF"), (["--inh-caps=+bpf", "--ambient-caps=+bpf"], "CAP_PERFMON")):
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *caps, EBPFRUN, "agent",
                            "--listen", "127.0.0.1:0", "--scripts-dir", scripts], capture_output=True, text=True,
                           timeout=60)
        lines = r.stderr.strip().splitlines()
        check(r.returncode == 1 and len(lines) == 1 and f"needs {missing}" in lines[0],
              f"without {missing}: exit 1, one line naming it: {lines}")
print("PASS")
