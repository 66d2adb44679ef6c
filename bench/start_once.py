"""Starts of a tracer, each measured from its exec until its attachments
stop changing, then stopped with SIGINT (bench/compare.sh's start table).

    python3 bench/start_once.py [--repeat N] [--fresh-cache] COMMAND...

Prints the medians of "start_s cpu_s peak_rss_mib" over N starts (default
1), each column's own, or "-" when the tracer never attached. --fresh-cache
gives every start an empty cache directory of its own (XDG_CACHE_HOME).

The tracer's open descriptors are polled every 5 ms from this process: the
start is when the number of its BPF links and perf events last changed,
once it has not changed for a second. A shell loop doing the same (ls and
grep of /proc/PID/fd every 50 ms) took tens of milliseconds a poll itself,
which put a floor of about half a second under every tool's start. CPU is the
tracer's user + system time from wait4, peak RSS its maxrss.
"""
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time

POLL_S = 0.005
STABLE_S = 1.0
TIMEOUT_S = 30.0


def tree(pid):
    """pid and its descendants."""
    out = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                for child in f.read().split():
                    out += tree(int(child))
    except OSError:
        pass
    return out


def attachments(pid):
    """BPF links and perf events held by the tree's descriptors."""
    count = 0
    for p in tree(pid):
        try:
            fds = os.listdir(f"/proc/{p}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{p}/fd/{fd}")
            except OSError:
                continue
            if "bpf_link" in target or "perf_event" in target:
                count += 1
    return count


def start_once(command, env):
    """(start_s, cpu_s, rss_mib) of one start, or None."""
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.setpgrp()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        try:
            os.execvpe(command[0], command, env)
        finally:
            os._exit(127)
    try:
        os.setpgid(pid, pid)  # as the child does, whichever runs first
    except OSError:
        pass  # the child has exec'd already, in its own group
    last, changed_at = 0, t0
    while time.monotonic() - t0 < TIMEOUT_S:
        time.sleep(POLL_S)
        now = time.monotonic()
        count = attachments(pid)
        if count != last:
            last, changed_at = count, now
        elif count > 0 and now - changed_at >= STABLE_S:
            break
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return None  # it exited on its own: it did not stay attached
    try:
        os.killpg(pid, signal.SIGINT)
    except ProcessLookupError:
        pass
    _, _, usage = os.wait4(pid, 0)
    if last <= 0:
        return None
    return (changed_at - t0, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def main():
    args = sys.argv[1:]
    repeat, fresh = 1, False
    while args and args[0].startswith("--"):
        if args[0] == "--repeat" and len(args) > 1:
            repeat, args = int(args[1]), args[2:]
        elif args[0] == "--fresh-cache":
            fresh, args = True, args[1:]
        else:
            sys.exit("usage: start_once.py [--repeat N] [--fresh-cache] COMMAND...")
    if not args:
        sys.exit("usage: start_once.py [--repeat N] [--fresh-cache] COMMAND...")
    runs = []
    for _ in range(repeat):
        env = dict(os.environ)
        if fresh:
            env["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="ebpfrun-start-cache.")
        try:
            result = start_once(args, env)
        finally:
            if fresh:
                shutil.rmtree(env["XDG_CACHE_HOME"], ignore_errors=True)
        if result:
            runs.append(result)
    if not runs:
        print("-")
        return
    medians = [statistics.median(run[i] for run in runs) for i in range(3)]
    print("%.3f %.4f %.1f" % tuple(medians))


if __name__ == "__main__":
    main()
