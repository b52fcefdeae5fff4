#!/usr/bin/env bash
# The data path under an API flood (issue 12, item 5): p50/p99 of a DNS query to the cluster
# DNS and of an HTTP GET through a ClusterIP (proxyd's listener to a pod), from the node, with
# the API idle and while 4 clients keep POSTing 200 KB bodies of nested `[` (target: p99 <= 2x
# idle). Root: the cluster runs pods, in a network and mount namespace of its own.
#   sudo bench/flood-data.sh              # builds and uses target/release/kubicle
#   KUBICLE=target/debug/kubicle N=300 sudo -E bench/flood-data.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/flood-posters.sh
N=${N:-500}
if [ -z "${KUBICLE_BENCH_IN_NETNS:-}" ]; then
  if [ -z "${KUBICLE:-}" ]; then
    cargo build --release --bin kubicle
    export KUBICLE=target/release/kubicle
  fi
  exec unshare --net --mount --propagation private -- env KUBICLE_BENCH_IN_NETNS=1 "$0" "$@"
fi
ip link set lo up
work=$(mktemp -d /tmp/kubicle-bench-flood-data.XXXXXX)
pids=()
cleanup() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$KUBICLE" reset --yes --data-dir "$work/data" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

taskset -c 0 "$KUBICLE" up --data-dir "$work/data" --cluster-name "fd$$" --listen 127.0.0.1:0 \
  >"$work/out" 2>"$work/log" &
pids+=("$!")
until grep -q "api server ready" "$work/out" 2>/dev/null; do sleep 0.05; done
addr=$(sed -n 's|.*ready at https://\([^ ]*\) .*|\1|p' "$work/out")
ca="$work/data/pki/ca.crt"
token=$(sed -n 's/^ *token: *//p' "$work/data/kubeconfig" | tr -d '"')
export KUBECONFIG="$work/data/kubeconfig" KUBECACHEDIR="$work/kube-cache"
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  containers: [{name: c, image: kubicle/host, command: [python3, -m, http.server, "8080", --bind, 0.0.0.0]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
YAML
kubectl wait --for=condition=Ready pod/web --timeout=60s >/dev/null
vip=$(kubectl get service web -o jsonpath='{.spec.clusterIP}')
until curl -fs -o /dev/null "http://$vip/"; do sleep 0.1; done

# Per sample: one DNS query (UDP) and one HTTP GET on a new connection, in ms.
sample() {
  taskset -c 0 python3 - "$vip" "$N" >"$work/$1" <<'PY'
import socket, struct, sys, time
vip, n = sys.argv[1], int(sys.argv[2])
name = b"".join(bytes([len(p)]) + p for p in b"web.default.svc.cluster.local".split(b".")) + b"\0"
query = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)
for _ in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
    t = time.perf_counter(); s.sendto(query, ("10.96.0.10", 53)); s.recv(512)
    dns = (time.perf_counter() - t) * 1e3; s.close()
    t = time.perf_counter()
    c = socket.create_connection((vip, 80), timeout=5)
    c.sendall(b"GET / HTTP/1.0\r\n\r\n")
    while c.recv(65536): pass
    http = (time.perf_counter() - t) * 1e3; c.close()
    print(f"{dns:.3f} {http:.3f}")
PY
}

sample idle
start_posters
sample nested

python3 - "$work" <<'PY'
import statistics, sys
work = sys.argv[1]
def stats(name, col):
    xs = sorted(float(l.split()[col]) for l in open(f"{work}/{name}") if l.strip())
    return statistics.median(xs), xs[min(len(xs) - 1, int(len(xs) * 0.99))]
for col, what in [(0, "DNS query (UDP) to the cluster DNS"), (1, "HTTP GET through a ClusterIP")]:
    idle = stats("idle", col)
    print(f"{what}, ms")
    for name, label in [("idle", "idle"), ("nested", "4 clients posting nested bodies")]:
        med, p99 = stats(name, col)
        print(f"  {label:34} median {med:7.2f}  p99 {p99:7.2f}  p99/idle {p99 / idle[1]:5.2f}")
PY
