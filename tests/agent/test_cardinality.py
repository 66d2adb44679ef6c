"""3,000 short-lived processes against a series limit of 200 and a TTL of
3 s: the series count never passes the limit, new label sets fold into the
__overflow__ series and ebpfrun_series_dropped_total moves, and the exited
processes' series are gone once the TTL has passed."""
import subprocess
import threading
import time

from agent_support import WORKLOAD, Agent, check, fail, require_root, select, value, wait_for

LIMIT, TTL, PROCESSES = 200, 3, 3000
METRIC = "ebpfrun_syscalls_total"

require_root()
agent = Agent(f"""
return {{
  interval = 0.5,
  collectors = {{ syscalls = {{ filter = {{ comm = "workload" }} }} }},
  limits = {{ series_per_metric = {LIMIT}, series_ttl = {TTL} }},
  labels = {{ drop = {{}} }},  -- a series per process: the cardinality under test
}}
""")
try:
    peak = {"series": 0, "overflow": False}
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            samples = agent.metrics()
            peak["series"] = max(peak["series"], len(select(samples, METRIC)))
            if select(samples, METRIC, pid="__overflow__", comm="__overflow__", syscall="__overflow__"):
                peak["overflow"] = True
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    # 3,000 processes, 8 at a time, each a few system calls and gone.
    started = time.time()
    running = []
    for i in range(PROCESSES):
        running.append(subprocess.Popen([WORKLOAD, "sleep", "0"], stdout=subprocess.DEVNULL))
        if len(running) >= 8:
            running.pop(0).wait()
    for p in running:
        p.wait()
    print(f"{PROCESSES} processes in {time.time() - started:.1f} s")
    time.sleep(1.5)
    samples = agent.metrics()
    stop.set()
    watcher.join()
    check(peak["series"] <= LIMIT, f"series of {METRIC} stayed within the limit (peak {peak['series']} <= {LIMIT})")
    dropped = value(samples, "ebpfrun_series_dropped_total", metric=METRIC) or 0
    check(dropped > 0, f"ebpfrun_series_dropped_total moved ({dropped:.0f} label sets folded)")
    check(peak["overflow"], "the __overflow__ series appeared")
    check(value(samples, "ebpfrun_series", collector="syscalls", metric=METRIC) <= LIMIT, "ebpfrun_series within limit")

    def gone():
        left = [l for l, _ in select(agent.metrics(), METRIC) if l.get("comm") == "workload"]
        return not left or None

    wait_for(gone, TTL * 4 + 5, "the exited processes' series to go after the TTL")
    check(True, "exited processes' series are gone after the TTL")
finally:
    code = agent.stop()
if code != 0:
    fail(f"agent exit code {code}:\n{agent.text()}")
print("PASS")
