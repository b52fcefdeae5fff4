#!/usr/bin/env bash
# Cluster DNS benchmark (root; needs dnsperf and dnsmasq: `scripts/setup --bench`). Everything runs in a network namespace of its own, on its loopback:
#   - kubicle up --no-pods --dns-listen 127.0.0.1:5300, pinned to core 0, with N Services;
#   - dnsmasq on 127.0.0.1:5301, pinned to core 0, serving the same names as static records;
#   - dnsperf on core 1 asks both the same query file (the N service names, A records).
# Per server: the QPS of RUNS full-load runs (dnsperf -q 256 in flight), their median, and
# p50/p99 latency from a run held at LATENCY_QPS queries/s (dnsperf -v, one line per query).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}
RUNS=${RUNS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
LATENCY_QPS=${LATENCY_QPS:-20000}

if [ -z "${KUBICLE_BENCH_IN_NETNS:-}" ]; then
  cargo build --release --bin kubicle
  exec unshare --net -- env KUBICLE_BENCH_IN_NETNS=1 "$0" "$@"
fi

ip link set lo up
work=$(mktemp -d /tmp/kubicle-bench-dns.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

taskset -c 0 target/release/kubicle up --no-pods --data-dir "$work/data" \
  --listen 127.0.0.1:0 --dns-listen 127.0.0.1:5300 >"$work/ready" 2>"$work/kubicle.log" &
pids+=($!)
for _ in $(seq 200); do grep -q "api server ready" "$work/ready" 2>/dev/null && break; sleep 0.05; done
export KUBECONFIG="$work/data/kubeconfig" KUBECACHEDIR="$work/kube-cache"

python3 - "$N" >"$work/services.yaml" <<'EOF'
import sys
for i in range(int(sys.argv[1])):
    print(f"---\napiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i}}}\n"
          f"spec: {{selector: {{app: a{i}}}, ports: [{{port: 80}}]}}")
EOF
kubectl create -f "$work/services.yaml" >/dev/null
kubectl get services -n default -o jsonpath='{range .items[*]}{.metadata.name} {.spec.clusterIP}{"\n"}{end}' \
  | grep '^svc-' >"$work/ips"
awk '{print $1 ".default.svc.cluster.local A"}' "$work/ips" >"$work/queries"
awk '{print "host-record=" $1 ".default.svc.cluster.local," $2}' "$work/ips" >"$work/dnsmasq.conf"
last=$(tail -1 "$work/ips")
for _ in $(seq 100); do
  [ "$(dig +short -p 5300 @127.0.0.1 "${last%% *}.default.svc.cluster.local")" = "${last##* }" ] && break
  sleep 0.05
done

taskset -c 0 dnsmasq --keep-in-foreground --no-resolv --no-hosts --port 5301 \
  --listen-address 127.0.0.1 --bind-interfaces --pid-file= --user=root \
  --conf-file="$work/dnsmasq.conf" 2>"$work/dnsmasq.log" &
pids+=($!)
sleep 0.3

measure() {
  local name=$1 port=$2
  local runs=()
  for _ in $(seq "$RUNS"); do
    qps=$(taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries" -l "$SECONDS_PER_RUN" \
      -q 256 -c 4 -T 1 2>&1 | awk '/Queries per second/ {print $4}')
    runs+=("$qps")
  done
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries" -l 5 -Q "$LATENCY_QPS" -v \
    >"$work/latency-$name" 2>&1
  python3 - "$name" "$work/latency-$name" "${runs[@]}" <<'EOF'
import statistics, sys
name, path, runs = sys.argv[1], sys.argv[2], [float(r) for r in sys.argv[3:]]
lat = sorted(float(l.split()[-1]) for l in open(path) if l.startswith("> "))
codes = {}
for l in open(path):
    if l.startswith("> "):
        codes[l.split()[1]] = codes.get(l.split()[1], 0) + 1
pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1e3
print(f"  {name}: median {statistics.median(runs):,.0f} QPS on one core "
      f"(runs: {', '.join(f'{r:,.0f}' for r in runs)}); "
      f"at {len(lat) / 5:,.0f} QPS: p50 {pct(0.5):.3f} ms, p99 {pct(0.99):.3f} ms; rcodes {codes}")
EOF
}

echo "DNS benchmark: $N ClusterIP services, A queries over UDP, dnsperf on core 1, server on core 0"
measure dnsd 5300
measure dnsmasq 5301
