#!/usr/bin/env bash
# Service proxy benchmark (root): proxyd/benches/proxy.rs in a network namespace of its own,
# so all of its traffic (bulk, short connections, 10 vs 10,000 Services) stays on that
# namespace's loopback. Figures are medians of PROXYD_BENCH_RUNS runs (default 5), as ratios
# against connecting straight to the backend, with HAProxy measured beside proxyd as the
# reference userspace proxy when it is installed (`scripts/setup --bench`).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p proxyd --bench proxy --no-run
exec unshare --net -- sh -c 'ip link set lo up && exec cargo bench -p proxyd --bench proxy'
