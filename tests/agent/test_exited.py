"""Exited processes' rows are deleted from the BPF maps once their final
values are read (stdlib/ebpf/exited.lua), and the counters keep every call
they made: five processes of N openat calls each exit; the syscalls map ends
up empty (the agent is filtered to their name), the exported counter stays
exactly 5N through later collections, and a sixth process adds exactly N.
"""
import os
import shutil
import subprocess
import tempfile
import time

from agent_support import WORKLOAD, Agent, check, fail, require_root, value, wait_for

N, PROCESSES = 17, 5
COMM = "wl_exited"

require_root()
tmp = tempfile.mkdtemp(prefix="ebpfrun-agent-exited-")
path = os.path.join(tmp, "file")
open(path, "w").close()
binary = os.path.join(tmp, COMM)  # a name of its own: other tests run "workload"
shutil.copy(WORKLOAD, binary)


def run_workload():
    r = subprocess.run([binary, "openat", str(N), path], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"workload failed: {r.stderr}")


def opens(samples):
    return value(samples, "ebpfrun_syscalls_total", comm=COMM, syscall="openat")


def entries(samples):
    return value(samples, "ebpfrun_map_entries", collector="syscalls", map="syscall_stats")


agent = Agent('return { interval = 0.5, collectors = { syscalls = { filter = { comm = "%s" } } } }' % COMM,
              workdir=tmp)
try:
    for _ in range(PROCESSES):
        run_workload()
    total = PROCESSES * N
    wait_for(lambda: opens(agent.metrics()) == total, 20, f"{total} openat calls counted")
    check(True, f"{PROCESSES} exited processes' {total} openat calls are counted")
    wait_for(lambda: entries(agent.metrics()) == 0, 20, "the exited processes' rows deleted from syscall_stats")
    check(True, "the syscalls map holds no row of the exited processes")
    maps = {l.get("map") for n, l, _ in agent.metrics() if n == "ebpfrun_map_entries"}
    check("syscall_stats" in maps and not any(m.endswith("_inserts") for m in maps),
          f"map fill is exported for the maps, not their insert-counter companions ({sorted(maps)})")
    time.sleep(2)  # four more collections with the rows gone
    samples = agent.metrics()
    check(opens(samples) == total, f"the counter still reads exactly {total} after the rows are gone "
          f"(got {opens(samples)})")
    run_workload()
    wait_for(lambda: opens(agent.metrics()) == total + N, 20, f"{total + N} after one more process")
    check(True, f"one more process adds exactly {N}")
finally:
    agent.stop()
