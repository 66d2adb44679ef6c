"""bench/agent.sh's measurement: see that script for what it does."""
import http.client
import os
import re
import shutil
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
# The workload runs under a name of its own, and the agent is filtered to that
# name: tests elsewhere on the machine run the same binary as "workload".
COMM = "agentbench_wl"
shutil.copy(WORKLOAD, os.path.join(tmp, COMM))
WORKLOAD = os.path.join(tmp, COMM)


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


def start_agent(port, extra=()):
    log = open(os.path.join(tmp, f"agent-{port}.log"), "w")
    # Filtered to the workload's processes, so that the series count is the
    # bench's own and not that of whatever else runs on the machine.
    proc = subprocess.Popen([EBPFRUN, "agent", "--listen", f"127.0.0.1:{port}", "--interval", "5",
                             "--comm", COMM, "--scripts-dir", SCRIPTS, *extra],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit("agent exited:\n" + open(log.name).read())
        if "serving" in open(log.name).read():
            return proc
        time.sleep(0.2)
    sys.exit("agent did not start serving within 120 s")


def stop_process(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()


def latency(port):
    """p50 and p99 over SCRAPES sequential scrapes on one keep-alive
    connection (as Prometheus scrapes), and the series count served."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    times, body = [], b""
    for _ in range(SCRAPES):
        started = time.perf_counter()
        conn.request("GET", "/metrics")
        body = conn.getresponse().read()
        times.append((time.perf_counter() - started) * 1000)
    conn.close()
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.99) - 1)], series(body)


def grow_series(port, target):
    """Short-lived processes, each a new pid with its own rows (about 50
    series each), until the agent serves `target` series; batches sized to
    get there in a few collections, well inside the series TTL."""
    while True:
        missing = target - series(scrape(port)[1])
        if missing <= 0:
            return
        batch = max(1, min(100, missing // 50 + 1))
        procs = [subprocess.Popen([WORKLOAD, "sleep", "0"], stdout=subprocess.DEVNULL) for _ in range(batch)]
        for pr in procs:
            pr.wait()
        time.sleep(5.5)  # one collection interval: let the agent publish them


agent_port, node_port = free_port(), free_port()
node = subprocess.Popen(["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{node_port}"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
agent = None
try:
    # Phase 1: the default configuration (series aggregated by comm) under the
    # standard workload: CPU and RSS over DURATION, both scraped every 5 s.
    agent = start_agent(agent_port)
    time.sleep(1)
    worker = threading.Thread(target=standard_workload, daemon=True)
    worker.start()
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
    standard = latency(agent_port)
    node_latency = latency(node_port)
    stop.set()
    worker.join()
    a1 = agent.pid
    stop_process(agent)

    # Phase 2: a series per process (--drop-labels ''), grown by short-lived
    # processes to about 1k and then 10k series; latency and RSS at each.
    agent = start_agent(agent_port, ["--drop-labels", ""])
    grow_series(agent_port, 1000)
    at_1k = latency(agent_port)
    rss_1k = rss_mib(agent.pid)
    grow_series(agent_port, 10000)
    at_10k = latency(agent_port)
    rss_10k = rss_mib(agent.pid)

    n = node.pid
    load = os.getloadavg()[0]
    print(f"\nbench/agent: {DURATION:.0f} s, scraped every 5 s, standard workload; latency over {SCRAPES} "
          f"keep-alive scrapes; load average {load:.2f} on {os.cpu_count()} CPUs\n")
    print("| measure | ebpfrun agent | prometheus-node-exporter |")
    print("|---|---:|---:|")
    print(f"| CPU % of one core over {DURATION:.0f} s, standard workload | {cpu[a1]:.2f} | {cpu[n]:.2f} |")
    print(f"| peak RSS MiB, standard workload | {peak[a1]:.1f} | {peak[n]:.1f} |")
    print(f"| /metrics p50 / p99 ms, standard workload ({standard[2]} / {node_latency[2]} series) | "
          f"{standard[0]:.2f} / {standard[1]:.2f} | {node_latency[0]:.2f} / {node_latency[1]:.2f} |")
    print(f"| /metrics p50 / p99 ms, {at_1k[2]} series (a series per pid) | {at_1k[0]:.2f} / {at_1k[1]:.2f} | — |")
    print(f"| RSS MiB at {at_1k[2]} series | {rss_1k:.1f} | — |")
    print(f"| /metrics p50 / p99 ms, {at_10k[2]} series (a series per pid) | {at_10k[0]:.2f} / {at_10k[1]:.2f} | — |")
    print(f"| RSS MiB at {at_10k[2]} series | {rss_10k:.1f} | — |")
    print("\nTargets: scrape p99 <= 10 ms at 10k series; agent RSS <= 40 MiB; agent CPU <= 1 % at a 5 s interval.")
finally:
    stop.set()
    for p in (agent, node):
        if p is not None:
            stop_process(p)
