#!/usr/bin/env python3
"""Structural checks of deploy/kubernetes/daemonset.yaml (no kubectl here).

Parses every document as YAML and checks what the deployment promises: the
agent container drops every capability and adds back exactly the measured set
(the same set as the systemd unit's AmbientCapabilities=), is not privileged,
cannot escalate, has a read-only root file system; the pod shares the host's
pid namespace; the kernel interfaces are mounted read-only from the host; the
cache is an emptyDir; the probes hit /-/ready and /-/healthy on the metrics
port; resources are set; the agent listens on 0.0.0.0 only through an
explicit --listen; the config comes from the ConfigMap and is valid Lua.

Usage: check_kubernetes.py DAEMONSET_YAML UNIT_TEMPLATE
Exit 0 when every check holds, 1 with one line per failed check.
"""
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

failures = []


def check(cond, what):
    print(("ok      " if cond else "FAILED  ") + what)
    if not cond:
        failures.append(what)


def unit_capabilities(path):
    caps = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"^(AmbientCapabilities|CapabilityBoundingSet)=(.*)$", line.strip())
            if m:
                caps[m.group(1)] = {c.removeprefix("CAP_") for c in m.group(2).split()}
    return caps


def main():
    daemonset_path, unit_path = sys.argv[1], sys.argv[2]
    with open(daemonset_path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    by_kind = {d["kind"]: d for d in docs}
    check(set(by_kind) == {"Namespace", "ConfigMap", "DaemonSet"}, "documents: Namespace, ConfigMap, DaemonSet")
    ds = by_kind["DaemonSet"]
    check(ds["apiVersion"] == "apps/v1", "DaemonSet apiVersion apps/v1")
    spec = ds["spec"]["template"]["spec"]
    labels = ds["spec"]["template"]["metadata"]["labels"]
    check(ds["spec"]["selector"]["matchLabels"].items() <= labels.items(), "selector matches the pod labels")
    check(spec.get("hostPID") is True, "hostPID: true (pids mean the node's)")
    check(not spec.get("hostNetwork"), "no hostNetwork")
    check(spec.get("automountServiceAccountToken") is False, "no service account token")

    containers = spec["containers"]
    check(len(containers) == 1, "one container")
    c = containers[0]
    sc = c.get("securityContext", {})
    caps = sc.get("capabilities", {})
    unit = unit_capabilities(unit_path)
    measured = unit.get("AmbientCapabilities", set())
    check(measured == {"BPF", "PERFMON", "DAC_READ_SEARCH"}, f"unit AmbientCapabilities is the measured set: {sorted(measured)}")
    check(unit.get("CapabilityBoundingSet") == measured, "unit CapabilityBoundingSet equals AmbientCapabilities")
    check(caps.get("drop") == ["ALL"], "capabilities: drop ALL")
    check(set(caps.get("add", [])) == measured and len(caps.get("add", [])) == len(measured),
          f"capabilities: add exactly the measured set {sorted(measured)}")
    check(sc.get("privileged") in (None, False), "not privileged")
    check(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation: false")
    check(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem: true")
    check(sc.get("seccompProfile", {}).get("type") in ("RuntimeDefault", "Localhost"), "a seccomp profile")

    args = c.get("args", [])
    check(args[:1] == ["agent"], "runs `ebpfrun agent`")
    listen = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--listen"]
    check(len(listen) == 1 and listen[0].startswith("0.0.0.0:"), "listens on 0.0.0.0 through an explicit --listen")
    port = int(listen[0].rsplit(":", 1)[1]) if listen else None
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    check(ports.get("metrics") == port, "container port `metrics` is the --listen port")

    for probe, path in (("readinessProbe", "/-/ready"), ("livenessProbe", "/-/healthy")):
        get = c.get(probe, {}).get("httpGet", {})
        check(get.get("path") == path and get.get("port") in ("metrics", port), f"{probe} on {path}")

    res = c.get("resources", {})
    for kind in ("requests", "limits"):
        check({"cpu", "memory"} <= set(res.get(kind, {})), f"resources.{kind}: cpu and memory")

    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    for host_path in ("/sys/kernel/btf", "/sys/fs/bpf", "/sys/kernel/tracing", "/sys/fs/cgroup"):
        m = mounts.get(host_path)
        v = volumes.get(m["name"]) if m else None
        check(m is not None and m.get("readOnly") is True and v is not None
              and v.get("hostPath", {}).get("path") == host_path, f"{host_path}: host path mounted read-only")
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    cache = mounts.get(env.get("XDG_CACHE_HOME", ""))
    check(cache is not None and "emptyDir" in volumes.get(cache["name"], {}),
          "the compile cache (XDG_CACHE_HOME) is an emptyDir")
    config_path = args[1] if len(args) > 1 else ""
    config_mount = next((m for p, m in mounts.items() if config_path.startswith(p + "/")), None)
    config_volume = volumes.get(config_mount["name"], {}) if config_mount else {}
    cm = by_kind["ConfigMap"]
    check(config_volume.get("configMap", {}).get("name") == cm["metadata"]["name"]
          and config_path.rsplit("/", 1)[1] in cm["data"], "the config file comes from the ConfigMap")
    check(cm["metadata"]["namespace"] == ds["metadata"]["namespace"] == by_kind["Namespace"]["metadata"]["name"],
          "one namespace for all")

    luajit = shutil.which("luajit")
    if luajit:
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as f:
            f.write(cm["data"][config_path.rsplit("/", 1)[1]])
            f.flush()
            r = subprocess.run([luajit, "-e", f"local t = dofile('{f.name}') assert(type(t) == 'table' "
                                "and type(t.collectors) == 'table' and t.listen == nil)"],
                               capture_output=True, text=True)
        check(r.returncode == 0, "the ConfigMap's config is Lua returning a table (listen left to --listen) "
              + r.stderr.strip())
    else:
        check(False, "luajit is missing (./setup.sh deps installs luajit2)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
