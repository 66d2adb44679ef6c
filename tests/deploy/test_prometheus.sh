#!/usr/bin/env bash
# The Prometheus files in deploy/prometheus/ pass Debian's promtool: the scrape
# configurations (`promtool check config`, which also checks the rule file they
# load), the alerting rules (`promtool check rules`) and the rules' unit tests
# (`promtool test rules`: input series -> exactly the expected alerts).
#
# Debian's Prometheus is built without Kubernetes service discovery, so its
# promtool refuses `kubernetes_sd_configs`. The Kubernetes example is therefore
# checked in two parts: its discovery block structurally (role: pod, the
# namespace of the DaemonSet), and everything else (relabeling, rule files) by
# promtool with that block replaced by a static target.
# Usage: test_prometheus.sh SOURCE_DIR PYTHON3
set -uo pipefail
SRC=$1
PYTHON=$2
dir=$SRC/deploy/prometheus
failed=0
command -v promtool >/dev/null || { echo "FAILED: promtool is missing (./setup.sh deps installs prometheus)"; exit 1; }

run() {  # name, command...
  local name=$1
  shift
  if out=$("$@" 2>&1); then
    echo "ok      $name"
  else
    echo "FAILED  $name"
    echo "$out" | sed 's/^/    /'
    failed=1
  fi
}

run "promtool check config prometheus.yml" promtool check config "$dir/prometheus.yml"
run "promtool check rules ebpfrun-alerts.yml" promtool check rules "$dir/ebpfrun-alerts.yml"
run "promtool test rules ebpfrun-alerts.test.yml" bash -c "cd '$dir' && promtool test rules ebpfrun-alerts.test.yml"

# Every alert the issue asks for exists, and every one has a unit test.
for alert in EbpfrunAgentDown EbpfrunCollectorDown EbpfrunEventsLost EbpfrunEventsDropped EbpfrunMapNearlyFull EbpfrunSeriesDropped; do
  grep -q "alert: $alert\$" "$dir/ebpfrun-alerts.yml" || { echo "FAILED  alert $alert is missing"; failed=1; }
  grep -q "alertname: $alert\$" "$dir/ebpfrun-alerts.test.yml" || { echo "FAILED  alert $alert has no unit test"; failed=1; }
done

work=$(mktemp -d "/tmp/ebpfrun-deploy-prom.$$.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$dir/ebpfrun-alerts.yml" "$work/"
if "$PYTHON" - "$dir/prometheus-kubernetes.yml" "$work/static.yml" <<'EOF'; then
import sys, yaml
src, dst = sys.argv[1], sys.argv[2]
cfg = yaml.safe_load(open(src))
jobs = cfg["scrape_configs"]
assert len(jobs) == 1 and jobs[0]["job_name"] == "ebpfrun", "one job named ebpfrun (the alerts match job=\"ebpfrun\")"
sd = jobs[0].pop("kubernetes_sd_configs")
assert len(sd) == 1 and sd[0]["role"] == "pod", "pod discovery"
assert sd[0]["namespaces"]["names"] == ["ebpfrun"], "the DaemonSet's namespace"
keep = {tuple(r["source_labels"]): r for r in jobs[0]["relabel_configs"] if r.get("action") == "keep"}
assert keep[("__meta_kubernetes_pod_label_app_kubernetes_io_name",)]["regex"] == "ebpfrun-agent", "keeps the DaemonSet's pods"
assert keep[("__meta_kubernetes_pod_container_port_name",)]["regex"] == "metrics", "keeps the metrics port"
jobs[0]["static_configs"] = [{"targets": ["127.0.0.1:9435"]}]
yaml.safe_dump(cfg, open(dst, "w"))
EOF
  echo "ok      prometheus-kubernetes.yml: pod discovery of the DaemonSet's metrics port"
  run "promtool check config prometheus-kubernetes.yml (discovery replaced by a static target)" promtool check config "$work/static.yml"
else
  echo "FAILED  prometheus-kubernetes.yml structure"
  failed=1
fi
exit "$failed"
