#!/usr/bin/env bash
# /readyz under a flood (issue 12): p50/p99 of `curl https://.../readyz` (a new TLS connection
# each time, as kubectl makes) with the API idle, while 5,000 idle connections are held, and
# while 4 clients keep POSTing 200 KB bodies of nested `[` (target: p99 <= 2x idle).
# No root needed: the cluster runs with --no-pods on 127.0.0.1.
#   bench/flood.sh                    # builds and uses target/release/kubicle
#   KUBICLE=target/debug/kubicle N=200 bench/flood.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/flood-posters.sh
N=${N:-300}
if [ -z "${KUBICLE:-}" ]; then
  cargo build --release --bin kubicle
  KUBICLE=target/release/kubicle
fi
work=$(mktemp -d /tmp/kubicle-bench-flood.XXXXXX)
pids=()
cleanup() {
  # The posting loops first, then the server.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

taskset -c 0 "$KUBICLE" up --no-pods --data-dir "$work/data" --cluster-name "flood$$" \
  --listen 127.0.0.1:0 >"$work/out" 2>"$work/log" &
server=$!
pids+=("$server")
until grep -q "api server ready" "$work/out" 2>/dev/null; do sleep 0.05; done
addr=$(sed -n 's|.*ready at https://\([^ ]*\) .*|\1|p' "$work/out")
ca="$work/data/pki/ca.crt"
token=$(sed -n 's/^ *token: *//p' "$work/data/kubeconfig" | tr -d '"')

# Samples of /readyz's total time, in ms, one per line.
sample() {
  taskset -pc 0 $$ >/dev/null
  for _ in $(seq "$N"); do
    curl -sS -o /dev/null --cacert "$ca" -w '%{time_total}\n' "https://$addr/readyz"
  done | awk '{ printf "%.3f\n", $1 * 1000 }' >"$work/$1"
}

sample idle

python3 - "${addr%:*}" "${addr##*:}" 5000 >"$work/held" <<'PY' &
import socket, sys, time
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
held = [socket.create_connection((host, port)) for _ in range(count)]
print(len(held), flush=True)
time.sleep(3600)
PY
holder=$!
pids+=("$holder")
until [ -s "$work/held" ]; do sleep 0.1; done
sample idle5000
kill "$holder"

start_posters
sample nested
rejected=$(grep -c "exceeded max depth" "$work/log" || true)

python3 - "$work" <<'PY'
import statistics, sys
work = sys.argv[1]
def stats(name):
    xs = sorted(float(x) for x in open(f"{work}/{name}") if x.strip())
    return statistics.median(xs), xs[min(len(xs) - 1, int(len(xs) * 0.99))]
idle = stats("idle")
print(f"/readyz over a new TLS connection, ms ({len(open(f'{work}/idle').readlines())} samples each)")
for name, label in [("idle", "idle"), ("idle5000", "5,000 idle connections held"),
                    ("nested", "4 clients posting nested bodies")]:
    med, p99 = stats(name)
    print(f"  {label:34} median {med:7.2f}  p99 {p99:7.2f}  p99/idle {p99 / idle[1]:5.2f}")
PY
