"""Shared helpers of the agent tests: start `ebpfrun agent` with a config,
scrape it, parse the exposition text, wait for conditions, and find the BPF
programs a process holds (bpftool). Every test is a script run by ctest;
exit code 77 means skipped (not root), and under CI=true that is a failure.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

EBPFRUN = os.environ.get("EBPFRUN_BIN", "ebpfrun")
WORKLOAD = os.environ.get("EBPFRUN_WORKLOAD", "workload")
SKIP = 77


def require_root():
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            print("FAIL: agent tests need root, and CI=true forbids skipping")
            sys.exit(1)
        print("SKIP: agent tests need root (they load BPF programs)")
        sys.exit(SKIP)


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print("ok:", message)


def wait_for(predicate, timeout, what, interval=0.2):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    fail(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


class Agent:
    """An `ebpfrun agent` process on a free port (--listen 127.0.0.1:0)."""

    def __init__(self, config_text=None, args=(), env=None, workdir=None):
        self.dir = workdir or tempfile.mkdtemp(prefix="ebpfrun-agent-test-")
        self.config = None
        if config_text is not None:
            self.config = os.path.join(self.dir, "agent.lua")
            with open(self.config, "w") as f:
                f.write(config_text)
        self.log_path = os.path.join(self.dir, "agent.log")
        self.log = open(self.log_path, "w")
        cmd = [EBPFRUN, "agent"] + ([self.config] if self.config else []) + ["--listen", "127.0.0.1:0"] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        self.port = None
        match = wait_for(self._serving, 120, "the agent to serve")
        self.port = int(match)

    def _serving(self):
        if self.proc.poll() is not None:
            fail(f"agent exited with {self.proc.returncode}:\n{self.text()}")
        m = re.search(r"serving http://127\.0\.0\.1:(\d+)/metrics", self.text())
        return m and m.group(1)

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def write_config(self, text):
        with open(self.config, "w") as f:
            f.write(text)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path, accept=None, timeout=10):
        request = urllib.request.Request(self.url(path), headers={"Accept": accept} if accept else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def metrics(self):
        status, _, body = self.get("/metrics")
        if status != 200:
            fail(f"/metrics answered {status}")
        return parse(body)

    def signal(self, signo):
        self.proc.send_signal(signo)

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                fail("agent did not stop within 30 s of SIGTERM")
        self.log.close()
        return self.proc.returncode


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(body):
    """Samples of an exposition body: [(name, {labels}, value)]; raises on a bad line."""
    samples = []
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise ValueError(f"unparseable line: {line!r}")
        labels = dict(LABEL.findall(m.group(3) or ""))
        samples.append((m.group(1), labels, float(m.group(4))))
    return samples


def select(samples, name, **labels):
    return [(l, v) for n, l, v in samples if n == name and all(l.get(k) == str(v2) for k, v2 in labels.items())]


def value(samples, name, **labels):
    found = select(samples, name, **labels)
    return sum(v for _, v in found) if found else None


def programs_of(pid):
    """Ids of the BPF programs process `pid` holds open (the prog_id line of
    each fd's fdinfo: Debian's bpftool has no pids column)."""
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def existing_programs():
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True).stdout
    return {p["id"] for p in json.loads(out or "[]")}


def workload(*args, linger_ms=0):
    """Runs the static workload; returns its pid."""
    env = {**os.environ, "WORKLOAD_LINGER_MS": str(linger_ms)}
    r = subprocess.run([WORKLOAD] + [str(a) for a in args], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        fail(f"workload {args} failed: {r.stderr}")
    return int(r.stdout.split()[0])
