"""SIGHUP: a collector added starts, one removed is detached (its programs
gone from the kernel), an untouched one keeps its counters, a broken
configuration is refused and the old one stays; systemd hears READY=1 and
RELOADING=1 (NOTIFY_SOCKET); SIGTERM leaves none of the agent's programs."""
import os
import signal
import socket
import tempfile
import time

from agent_support import (Agent, check, existing_programs, fail, programs_of, require_root, select, value, wait_for,
                           workload)

require_root()
tmp = tempfile.mkdtemp(prefix="ebpfrun-agent-reload-")
notify_path = os.path.join(tmp, "notify.sock")
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify.bind(notify_path)
notify.settimeout(0.2)
messages = []


def heard(text):
    while True:
        try:
            messages.append(notify.recv(4096).decode())
        except socket.timeout:
            break
    return any(text in m for m in messages) or None


SYSCALLS = 'syscalls = { filter = { comm = "workload" } }'
BROKEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "broken_tracepoint.lua")
agent = Agent(f"return {{ interval = 0.5, collectors = {{ {SYSCALLS}, broken = {{ script = '{BROKEN}' }} }} }}",
              env={"NOTIFY_SOCKET": notify_path}, workdir=tmp)
try:
    wait_for(lambda: heard("READY=1"), 10, "READY=1 on NOTIFY_SOCKET")
    check(True, "sd_notify READY=1 after start")
    # A collector that cannot attach is disabled with its reason; the others run.
    status, _, body = agent.get("/-/ready")
    check(status == 503 and "collector broken is down: attach:" in body, f"/-/ready 503 with the reason: {body!r}")
    down = select(agent.metrics(), "ebpfrun_collector_up", collector="broken")
    check(len(down) == 1 and down[0][1] == 0 and "attach:" in down[0][0]["reason"],
          f"ebpfrun_collector_up{{collector=broken,reason}} 0: {down}")
    check(value(agent.metrics(), "ebpfrun_collector_up", collector="syscalls") == 1, "syscalls still up")
    check(agent.text().count("collector broken disabled") == 1, "the failure is logged once")
    with open(f"/proc/{agent.proc.pid}/status") as f:
        caps = {l.split(":")[0]: int(l.split()[1], 16) for l in f if l.startswith("Cap")}
    kept = (1 << 2) | (1 << 38) | (1 << 39)  # CAP_DAC_READ_SEARCH, CAP_PERFMON, CAP_BPF
    check(caps["CapEff"] == kept and caps["CapPrm"] == kept and caps["CapBnd"] == kept,
          f"capabilities dropped to CAP_BPF+CAP_PERFMON+CAP_DAC_READ_SEARCH once attached ({caps})")
    syscalls_progs = programs_of(agent.proc.pid)
    check(len(syscalls_progs) > 0, f"syscalls loaded {len(syscalls_progs)} program(s)")
    workload("openat", 11, "/dev/null", linger_ms=1500)
    before = wait_for(lambda: value(agent.metrics(), "ebpfrun_syscalls_total", syscall="openat"), 10,
                      "openat counted")

    # Add memory: it starts; syscalls is untouched and keeps its counters.
    messages.clear()
    agent.write_config(f"return {{ interval = 0.5, collectors = {{ {SYSCALLS}, memory = true }} }}")
    agent.signal(signal.SIGHUP)
    wait_for(lambda: value(agent.metrics(), "ebpfrun_collector_up", collector="memory") == 1, 60, "memory up")
    check(True, "added collector started")
    check(agent.get("/-/ready")[0] == 200, "/-/ready 200 once the broken collector is removed")
    both = programs_of(agent.proc.pid)
    check(syscalls_progs < both, "syscalls kept its programs; memory added its own")
    after = value(agent.metrics(), "ebpfrun_syscalls_total", syscall="openat")
    check(after is not None and after >= before, f"untouched collector kept its counters ({before} -> {after})")
    check(heard("RELOADING=1") and heard("READY=1"), "sd_notify RELOADING=1 then READY=1")

    # Remove syscalls: its programs leave the kernel.
    agent.write_config("return { interval = 0.5, collectors = { memory = true } }")
    agent.signal(signal.SIGHUP)
    wait_for(lambda: not select(agent.metrics(), "ebpfrun_collector_up", collector="syscalls") or None, 30,
             "syscalls gone")
    held = programs_of(agent.proc.pid)
    check(not (syscalls_progs & held), "removed collector's programs are detached and unloaded")
    # The kernel frees a program after its last reference goes, after an RCU
    # grace period (longer for BTF-typed tracing programs): a few seconds at most.
    wait_for(lambda: not (syscalls_progs & existing_programs()), 20, "the removed programs gone from the kernel")
    check(True, "and gone from the kernel")
    check(not select(agent.metrics(), "ebpfrun_syscalls_total"), "its series are gone")

    # A broken configuration is refused; the old one stays.
    agent.write_config("return { interval = 0.5, collectors = { memory = true, nosuch = true }")
    agent.signal(signal.SIGHUP)
    wait_for(lambda: "reload refused" in agent.text() or None, 10, "the refusal in the log")
    check("the previous configuration stays in force" in agent.text(), "refusal says the old configuration stays")
    check(programs_of(agent.proc.pid) == held, "nothing loaded or unloaded by the refused reload")
    check(value(agent.metrics(), "ebpfrun_collector_up", collector="memory") == 1, "memory still up")
    agent.write_config("return { collectors = { memory = true, nosuch = true } }")
    agent.signal(signal.SIGHUP)
    wait_for(lambda: "unknown collector" in agent.text() or None, 10, "unknown collector refused")
    check(programs_of(agent.proc.pid) == held, "an unknown collector is refused too")
finally:
    ids = programs_of(agent.proc.pid) if agent.proc.poll() is None else set()
    code = agent.stop()
if code != 0:
    fail(f"agent exit code {code}:\n{agent.text()}")
# Freed by the kernel once the last reference is gone, after a grace period.
wait_for(lambda: not (ids & existing_programs()), 20, "the agent's programs gone from the kernel after SIGTERM")
check(True, "SIGTERM: none of the agent's programs is left in the kernel")
print("PASS")
