"""Label dropping by default: with no `labels` setting the agent drops `pid`
and aggregates by the remaining labels, so three processes of one name make
one series whose value is the sum of their calls (exactly), and it keeps that
sum after they exit. `--drop-labels ''` on the command line brings the pid
label back, one series per process.
"""
import os
import shutil
import subprocess
import tempfile

from agent_support import WORKLOAD, Agent, check, fail, require_root, select, value, wait_for

N, PROCESSES = 23, 3

require_root()
tmp = tempfile.mkdtemp(prefix="ebpfrun-agent-labels-")
path = os.path.join(tmp, "file")
open(path, "w").close()
# The workload under a name of its own: other tests' workloads may run at the
# same time, and this test counts everything of one comm.
COMM = "wl_labels"
binary = os.path.join(tmp, COMM)
shutil.copy(WORKLOAD, binary)
CONFIG = 'return { interval = 0.5, collectors = { syscalls = { filter = { comm = "%s" } } } }' % COMM


def workload(*args):
    r = subprocess.run([binary] + [str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"workload {args} failed: {r.stderr}")
    return int(r.stdout.split()[0])


agent = Agent(CONFIG, workdir=tmp)
try:
    pids = [workload("openat", N, path) for _ in range(PROCESSES)]
    total = PROCESSES * N

    def summed():
        v = value(agent.metrics(), "ebpfrun_syscalls_total", comm=COMM, syscall="openat")
        return v if v == total else None

    wait_for(summed, 20, f"ebpfrun_syscalls_total{{comm=\"{COMM}\",syscall=\"openat\"}} == {total}")
    samples = agent.metrics()
    openat = select(samples, "ebpfrun_syscalls_total", syscall="openat", comm=COMM)
    check(len(openat) == 1, f"one series for the {PROCESSES} processes named {COMM} (got {len(openat)})")
    with_pid = [l for n, l, _ in samples if n.startswith("ebpfrun_syscall") and "pid" in l]
    check(not with_pid, "no syscalls series carries a pid label by default")
    check(value(samples, "ebpfrun_syscalls_total", comm=COMM, syscall="openat") == total,
          f"the series is the exact sum of the {PROCESSES} processes' {N} openat calls each")
finally:
    agent.stop()

agent = Agent(CONFIG, args=["--drop-labels", ""], workdir=tmp)
try:
    pid = workload("openat", N, path)
    wait_for(lambda: value(agent.metrics(), "ebpfrun_syscalls_total", pid=pid, syscall="openat") == N, 20,
             f"a series for pid {pid} with --drop-labels ''")
    check(True, f"--drop-labels '' keeps the pid label: pid {pid} has its own series with its {N} openat calls")
finally:
    agent.stop()
