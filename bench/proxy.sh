#!/usr/bin/env bash
# Service proxy benchmark (root): proxyd/benches/proxy.rs in a network namespace of its own,
# so all of its traffic (bulk, short connections, 10 vs 10,000 Services) stays on that
# namespace's loopback. Figures are medians of PROXYD_BENCH_RUNS runs (default 5), as ratios
# against connecting straight to the backend, with two references measured beside proxyd when
# their tools are installed (`scripts/setup --bench`): HAProxy, a mature userspace proxy, and
# the kernel's own NAT (an nftables DNAT from 10.99.0.1 to the backend), what a kernel data
# path would give.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p proxyd --bench proxy --no-run
exec unshare --net -- bash -c '
  set -euo pipefail
  ip link set lo up
  if command -v nft >/dev/null 2>&1; then
    ip addr add 10.99.0.1/32 dev lo
    nft -f - <<"NFT"
table ip kernel-reference {
  chain output {
    type nat hook output priority -100; policy accept;
    ip daddr 10.99.0.1 dnat to 127.0.0.1
  }
}
NFT
    export PROXYD_BENCH_KERNEL_VIP=10.99.0.1
  fi
  exec cargo bench -p proxyd --bench proxy'
