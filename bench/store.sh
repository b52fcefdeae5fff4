#!/usr/bin/env bash
# Memory of the server per live object (root): `kubicle up --no-pods` (release build), then
# the server's RSS (VmRSS of the process) idle, after `kubectl create` of 10,000 small
# ConfigMaps, after `kubectl delete` of all of them (memory returned), and after creating
# them again (memory reused: no growth past the first peak). Each run starts a fresh cluster
# in a network and mount namespace of its own with a new data dir; RUNS runs (default 3),
# medians reported. The store's file sizes under rewrites: `cargo bench -p apiserver --bench store`.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
OBJECTS=${OBJECTS:-10000}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

if [ -n "${KUBICLE_BENCH_ONE_RUN:-}" ]; then
  # One run, inside the namespaces.
  ip link set lo up
  work=$(mktemp -d /tmp/kubicle-bench-store.XXXXXX)
  target/release/kubicle up --no-pods --data-dir "$work/data" --cluster-name "bench$$" \
    --listen 127.0.0.1:0 >"$work/out" 2>"$work/log" &
  pid=$!
  trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
  until grep -q "https://" "$work/out" 2>/dev/null; do sleep 0.01; done
  export KUBECONFIG="$work/data/kubeconfig" KUBECACHEDIR="$work/kube-cache"
  python3 - "$OBJECTS" >"$work/list.json" <<'EOF2'
import json, sys
n = int(sys.argv[1])
items = [{"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": f"cm-{i}", "namespace": "default", "labels": {"app": "bench"}},
          "data": {"key": f"value-{i:06d}-" + "x" * 200}} for i in range(n)]
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
EOF2
  sleep 2
  idle=$(rss_kib "$pid")
  kubectl create --validate=false -f "$work/list.json" >/dev/null
  sleep 3
  full=$(rss_kib "$pid")
  kubectl delete configmaps -n default -l app=bench --wait=false >/dev/null
  sleep 3
  deleted=$(rss_kib "$pid")
  kubectl create --validate=false -f "$work/list.json" >/dev/null
  sleep 3
  again=$(rss_kib "$pid")
  echo "$idle $full $deleted $again"
  exit 0
fi

cargo build --release --bin kubicle
runs=()
for _ in $(seq "$RUNS"); do
  runs+=("$(unshare --net --mount --propagation private -- env KUBICLE_BENCH_ONE_RUN=1 OBJECTS="$OBJECTS" bash "$0")")
done
runs_file="${TMPDIR:-/tmp}/kubicle-bench-store-runs.$$"
printf '%s\n' "${runs[@]}" >"$runs_file"
python3 - "$runs_file" "$OBJECTS" <<'EOF2'
import statistics, sys
runs = [[int(x) / 1024 for x in line.split()] for line in open(sys.argv[1]) if line.strip()]
n = sys.argv[2]
def show(i):
    xs = [r[i] for r in runs]
    each = ", ".join(f"{x:.1f}" for x in xs)
    return f"median {statistics.median(xs):6.1f} MiB (runs: {each})"
print(f"server RSS (kubicle up --no-pods, {len(runs)} runs):")
print(f"  idle:                             {show(0)}")
print(f"  with {n} small ConfigMaps:     {show(1)}")
print(f"  after deleting them all:          {show(2)}")
print(f"  after creating {n} again:      {show(3)}")
EOF2
rm -f "$runs_file"
