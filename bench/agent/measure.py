"""bench/agent.sh's measurement: see that script for what it does."""
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

EBPFRUN, WORKLOAD, SCRIPTS = sys.argv[1:4]
DURATION = float(os.environ.get("DURATION", "60"))
SCRAPES = int(os.environ.get("SCRAPES", "300"))
TICK = os.sysconf("SC_CLK_TCK")
tmp = tempfile.mkdtemp(prefix="ebpfrun-bench-agent-")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def scrape(port):
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        body = r.read()
    return time.perf_counter() - started, body


def series(body):
    return sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))


# The standard workload: opens, writes, connects and short processes, in a loop.
stop = threading.Event()


def standard_workload():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]

    def accept():
        while not stop.is_set():
            try:
                listener.settimeout(0.5)
                c, _ = listener.accept()
                c.close()
            except OSError:
                pass

    threading.Thread(target=accept, daemon=True).start()
    path = os.path.join(tmp, "file")
    open(path, "w").close()
    while not stop.is_set():
        for args in (["openat", "2000", path], ["write", str(1 << 20), path], ["connect", str(port), "20"],
                     ["faults", "256"], ["naps", "10", "1"]):
            subprocess.run([WORKLOAD, *args], stdout=subprocess.DEVNULL)
        time.sleep(0.2)


agent_port, node_port = free_port(), free_port()
log = open(os.path.join(tmp, "agent.log"), "w")
# Filtered to the workload's processes, so that the series count is the
# bench's own and not that of whatever else runs on the machine (a shared
# build machine easily has 100k+ series system-wide).
agent = subprocess.Popen([EBPFRUN, "agent", "--listen", f"127.0.0.1:{agent_port}", "--interval", "5",
                          "--comm", "workload", "--scripts-dir", SCRIPTS], stdout=log, stderr=subprocess.STDOUT)
node = subprocess.Popen(["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{node_port}"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    deadline = time.time() + 120
    while time.time() < deadline:
        if agent.poll() is not None:
            sys.exit("agent exited:\n" + open(log.name).read())
        if "serving" in open(log.name).read():
            break
        time.sleep(0.2)
    time.sleep(1)
    worker = threading.Thread(target=standard_workload, daemon=True)
    worker.start()

    # CPU and RSS over DURATION, both scraped every 5 s.
    cpu0 = {p.pid: cpu_seconds(p.pid) for p in (agent, node)}
    peak = {agent.pid: 0.0, node.pid: 0.0}
    start = time.time()
    while time.time() - start < DURATION:
        for p, port in ((agent, agent_port), (node, node_port)):
            scrape(port)
            peak[p.pid] = max(peak[p.pid], rss_mib(p.pid))
        time.sleep(5)
    wall = time.time() - start
    cpu = {pid: 100 * (cpu_seconds(pid) - c) / wall for pid, c in cpu0.items()}

    def latency(port):
        times = []
        body = b""
        for _ in range(SCRAPES):
            t, body = scrape(port)
            times.append(t * 1000)
        times.sort()
        return statistics.median(times), times[int(len(times) * 0.99) - 1], series(body)

    low = {p.pid: latency(port) for p, port in ((agent, agent_port), (node, node_port))}
    # About 10k series: short-lived processes, each a new pid with its own rows.
    target = 10000
    spawned = 0
    while series(scrape(agent_port)[1]) < target and spawned < 20000:
        procs = [subprocess.Popen([WORKLOAD, "sleep", "0"], stdout=subprocess.DEVNULL) for _ in range(50)]
        for pr in procs:
            pr.wait()
        spawned += 50
        if spawned % 500 == 0:
            time.sleep(5.5)  # let a collection publish them
    time.sleep(5.5)
    high = latency(agent_port)
    peak[agent.pid] = max(peak[agent.pid], rss_mib(agent.pid))
    stop.set()

    a, n = agent.pid, node.pid
    print(f"\nbench/agent: {DURATION:.0f} s, scraped every 5 s, standard workload; latency over {SCRAPES} scrapes\n")
    print("| measure | ebpfrun agent | prometheus-node-exporter |")
    print("|---|---:|---:|")
    print(f"| CPU % of one core over {DURATION:.0f} s | {cpu[a]:.2f} | {cpu[n]:.2f} |")
    print(f"| peak RSS MiB | {peak[a]:.1f} | {peak[n]:.1f} |")
    print(f"| /metrics p50 ms ({low[a][2]} / {low[n][2]} series) | {low[a][0]:.2f} | {low[n][0]:.2f} |")
    print(f"| /metrics p99 ms ({low[a][2]} / {low[n][2]} series) | {low[a][1]:.2f} | {low[n][1]:.2f} |")
    print(f"| /metrics p50 ms ({high[2]} series) | {high[0]:.2f} | — |")
    print(f"| /metrics p99 ms ({high[2]} series) | {high[1]:.2f} | — |")
    print("\nTargets: scrape p99 <= 10 ms at 10k series; agent RSS <= 40 MiB; agent CPU <= 1 % at a 5 s interval.")
finally:
    stop.set()
    for p in (agent, node):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
