#!/usr/bin/env bash
# Service proxy benchmark (root): proxyd/benches/proxy.rs in a network namespace of its own,
# so all of its traffic (bulk, short connections, 10 vs 10,000 Services) stays on that
# namespace's loopback. Figures are medians of PROXYD_BENCH_RUNS runs (default 5), as ratios
# against connecting straight to the backend, for proxyd's userspace data path, for
# `--proxy-mode nftables`'s kernel data path (netd's table, PROXYD_BENCH_KERNEL=1: it makes a
# bridge, hence the namespace), and for HAProxy, a mature userspace proxy, when it is
# installed (`scripts/setup --bench`).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p proxyd --bench proxy --no-run
exec unshare --net -- sh -c 'ip link set lo up && PROXYD_BENCH_KERNEL=1 exec cargo bench -p proxyd --bench proxy'
