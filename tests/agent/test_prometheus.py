"""A real Prometheus scrapes the agent every second while the ground-truth
workload makes exactly N openat calls, writes exactly B bytes and makes
exactly K TCP connects; Prometheus' HTTP API must then hold N, B and K for
that process's series. Also: promtool check metrics on the live bodies."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from agent_support import Agent, check, fail, require_root, wait_for, workload, parse

N, B, K = 37, 3 * 4096 + 100, 5

require_root()
tmp = tempfile.mkdtemp(prefix="ebpfrun-agent-prom-")
agent = Agent("""
return {
  interval = 1,
  collectors = {
    syscalls = { filter = { comm = { "workload" } } },
    fileio = { filter = { comm = "workload" } },
    tcpstate = { filter = { comm = "workload" } },
    opens_events = { script = "%s", filter = { comm = "workload" } },
  },
  labels = { drop = {} },  -- a series per process, so that each workload process is found by pid
}
""" % os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "opens_events.lua"), args=["--bpf-stats"],
              workdir=tmp)
prometheus = None
try:
    # promtool lints a live body in both formats.
    for accept in (None, "application/openmetrics-text; version=1.0.0"):
        status, headers, body = agent.get("/metrics", accept)
        check(status == 200, f"/metrics 200 ({accept or 'text'})")
        if accept is None:
            lint = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True)
            check(lint.returncode == 0 and lint.stdout.strip() == "" and lint.stderr.strip() == "",
                  f"promtool check metrics reports nothing: {lint.stdout}{lint.stderr}")
        else:
            check(headers["Content-Type"].startswith("application/openmetrics-text"), "OpenMetrics content type")
            check(body.endswith("# EOF\n"), "OpenMetrics body ends with # EOF")
            check("# TYPE ebpfrun_syscalls counter\n" in body, "OpenMetrics counter family without _total")
            check("# TYPE ebpfrun_syscalls_total" not in body, "no _total in OpenMetrics TYPE lines")

    # A real Prometheus, 1 s scrape interval, on a free port.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        prom_port = s.getsockname()[1]
    config = os.path.join(tmp, "prometheus.yml")
    with open(config, "w") as f:
        f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: ebpfrun
    static_configs:
      - targets: ["127.0.0.1:{agent.port}"]
""")
    prom_log = open(os.path.join(tmp, "prometheus.log"), "w")
    prometheus = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp}/data",
                                   f"--web.listen-address=127.0.0.1:{prom_port}"],
                                  stdout=prom_log, stderr=subprocess.STDOUT)

    def query(expr):
        url = f"http://127.0.0.1:{prom_port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                data = json.load(r)
        except OSError:
            return None
        return [float(x["value"][1]) for x in data.get("data", {}).get("result", [])]

    wait_for(lambda: query('up{job="ebpfrun"}') == [1.0], 60, "Prometheus to scrape the agent")

    # A listener for the connects, accepting in a thread.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]

    def accept_all():
        for _ in range(K):
            c, _ = listener.accept()
            c.close()

    acceptor = threading.Thread(target=accept_all, daemon=True)
    acceptor.start()

    path = os.path.join(tmp, "file")
    open(path, "w").close()
    pid_open = workload("openat", N, path, linger_ms=3000)
    pid_write = workload("write", B, os.path.join(tmp, "written"), linger_ms=3000)
    pid_connect = workload("connect", port, K, linger_ms=3000)

    def exactly(expr, want):
        got = query(expr)
        return got == [float(want)] or got

    for expr, want, what in [
        (f'ebpfrun_syscalls_total{{pid="{pid_open}",syscall="openat"}}', N, f"N={N} openat calls"),
        # The workload also writes its pid line ("PID\n") to stdout.
        (f'ebpfrun_fileio_bytes_total{{pid="{pid_write}",op="write"}}', B + len(str(pid_write)) + 1,
         f"B={B} bytes written (+ the pid line)"),
        (f'ebpfrun_tcp_state_transitions_total{{pid="{pid_connect}",from="CLOSE",to="SYN_SENT"}}', K,
         f"K={K} connects"),
        (f'ebpfrun_tcp_state_transitions_total{{pid="{pid_connect}",from="SYN_SENT",to="ESTABLISHED"}}', K,
         f"K={K} established"),
    ]:
        result = wait_for(lambda: exactly(expr, want) is True, 30, f"Prometheus to hold {what}: {expr}")
        check(result is True, f"Prometheus holds {what}")
    check(query('ebpfrun_collector_up{collector="syscalls"}') == [1.0], "ebpfrun_collector_up is 1")
    # The custom collector: N events through its ring buffer, counted by the reader too.
    expr = f'ebpfrun_test_open_events_total{{pid="{pid_open}"}}'
    check(wait_for(lambda: exactly(expr, N) is True, 30, expr), f"custom collector: N={N} ring-buffer events")
    received = query('ebpfrun_events_received_total{collector="opens_events",reader="events"}')
    check(received and received[0] >= N, f"ebpfrun_events_received_total counts them ({received})")
    check(query('ebpfrun_events_dropped_total{collector="opens_events"}') == [0.0], "no event dropped")
    runs = query('sum(ebpfrun_program_run_count_total{collector="syscalls"})')
    check(runs and runs[0] > 0, f"--bpf-stats: program run counts exported ({runs})")
    # The other endpoints.
    status, _, body = agent.get("/-/healthy")
    check(status == 200, "/-/healthy 200")
    status, _, body = agent.get("/-/ready")
    check(status == 200 and "ready" in body, "/-/ready 200 with every collector up")
    status, _, body = agent.get("/")
    check(status == 200 and all(n in body for n in ("syscalls", "fileio", "tcpstate", "opens_events", "/metrics")),
          "index page lists the collectors and links")
finally:
    if prometheus:
        prometheus.terminate()
        prometheus.wait(30)
    code = agent.stop()
    if code != 0:
        fail(f"agent exit code {code} after SIGTERM:\n{agent.text()}")
shutil.rmtree(tmp, ignore_errors=True)
print("PASS")
