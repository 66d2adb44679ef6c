"""20 clients scrape /metrics in parallel for 10 s while collectors run:
every response is complete (ends with a full line, carries the families of
every source) and parses; none fails; the agent's RSS stays bounded."""
import threading
import time
import urllib.request

from agent_support import Agent, check, fail, parse, require_root

CLIENTS, SECONDS = 20, 10

require_root()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# System-wide collectors, with a series limit that keeps each body a few
# thousand lines (the clients parse every line).
agent = Agent("""return { interval = 0.5, collectors = { syscalls = true, scheduler = true, memory = true },
                         limits = { series_per_metric = 300 } }""")
try:
    time.sleep(1.5)
    rss_before = rss_kib(agent.proc.pid)
    results = {"ok": 0, "errors": []}
    lock = threading.Lock()
    deadline = time.time() + SECONDS

    def client(i):
        accept = "application/openmetrics-text" if i % 2 else None
        while time.time() < deadline:
            try:
                status, headers, body = agent.get("/metrics", accept)
                if status != 200:
                    raise ValueError(f"status {status}")
                if len(body.encode()) != int(headers["Content-Length"]):
                    raise ValueError("body shorter than Content-Length")
                if not body.endswith("\n") or (accept and not body.endswith("# EOF\n")):
                    raise ValueError("truncated body")
                samples = parse(body)
                names = {n for n, _, _ in samples}
                for needed in ("ebpfrun_build_info", "ebpfrun_syscalls_total", "ebpfrun_context_switches_total",
                               "ebpfrun_series_dropped_total", "process_resident_memory_bytes"):
                    if needed not in names:
                        raise ValueError(f"{needed} missing")
                with lock:
                    results["ok"] += 1
            except Exception as e:  # noqa: BLE001 - every failure is reported
                with lock:
                    results["errors"].append(f"client {i}: {e}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rss_after = rss_kib(agent.proc.pid)
    check(not results["errors"], f"no failed scrape ({results['errors'][:3]})")
    check(results["ok"] >= CLIENTS * 5, f"{results['ok']} complete, parseable responses from {CLIENTS} clients")
    check(rss_after < rss_before + 64 * 1024, f"RSS bounded: {rss_before} KiB before, {rss_after} KiB after")
    print(f"agent RSS {rss_after / 1024:.1f} MiB after {results['ok']} scrapes")
finally:
    code = agent.stop()
if code != 0:
    fail(f"agent exit code {code}:\n{agent.text()}")
print("PASS")
