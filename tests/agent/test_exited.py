"""Exited processes' rows are deleted from the BPF maps once their final
values are read (stdlib/ebpf/exited.lua), and the counters keep every call
they made: five processes of N openat calls each exit; the syscalls map ends
up empty (the agent is filtered to their name), the exported counter stays
exactly 5N through later collections, and a sixth process adds exactly N.
tcpstate's rows live in array slots (bpf/tcpstate.bpf.c), freed by zeroing:
a listener and a client of K connections hold slots while they linger, none
once they exited, and the counter stays exactly K.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

from agent_support import WORKLOAD, Agent, check, fail, programs_of, require_root, value, wait_for

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


# tcpstate: the slots of transition_slots that hold a pid, read with bpftool
# from the map the agent's programs use (map names are cut to 15 characters).
K = 5


def bpftool(*args):
    out = subprocess.run(["bpftool", "-j"] + list(args), capture_output=True, text=True, check=True).stdout
    return json.loads(out or "null")


def slot_map_id(agent_pid):
    for prog in programs_of(agent_pid):
        for map_id in bpftool("prog", "show", "id", str(prog)).get("map_ids", []):
            if bpftool("map", "show", "id", str(map_id)).get("name") == "transition_slot":
                return map_id
    return None


def slot_pids(map_id):
    pids = set()
    for entry in bpftool("map", "dump", "id", str(map_id)) or []:
        raw = bytes(int(b, 16) for b in entry["value"][:4])
        pid = int.from_bytes(raw, "little")
        if pid:
            pids.add(pid)
    return pids


def transitions(samples):
    return value(samples, "ebpfrun_tcp_state_transitions_total", comm=COMM, **{"from": "SYN_SENT"},
                 to="ESTABLISHED")


agent = Agent('return { interval = 0.5, collectors = { tcpstate = { filter = { comm = "%s" } } } }' % COMM,
              workdir=tmp)
try:
    map_id = wait_for(lambda: slot_map_id(agent.proc.pid), 20, "the agent's transition_slots map")
    with socket.socket() as probe:  # a free port: the kernel's pick, released for the listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "WORKLOAD_LINGER_MS": "3000"}
    listener = subprocess.Popen([binary, "listen", str(port), str(K)], stdout=subprocess.PIPE, text=True, env=env)
    wait_for(lambda: subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout,
             10, f"the listener on port {port}")
    client = subprocess.Popen([binary, "connect", str(port), str(K)], stdout=subprocess.PIPE, text=True, env=env)
    pids = {int(listener.stdout.readline()), int(client.stdout.readline())}
    wait_for(lambda: transitions(agent.metrics()) == K, 20, f"{K} connections counted")
    held = slot_pids(map_id)
    check(pids <= held, f"the lingering processes {sorted(pids)} hold slots ({sorted(held)})")
    for proc in (listener, client):
        proc.wait(30)
        if proc.returncode != 0:
            fail(f"workload exited with {proc.returncode}")
    wait_for(lambda: not (pids & slot_pids(map_id)), 20, "the exited processes' slots freed")
    check(True, "no slot holds an exited process")
    time.sleep(2)  # four more collections with the slots free
    got = transitions(agent.metrics())
    check(got == K, f"the counter still reads exactly {K} after the slots are freed (got {got})")
finally:
    agent.stop()
