#!/usr/bin/env bash
# Pod start benchmark (root): builds the kubicle binary that containers' init runs from, then
# runs podd/benches/pods.rs, which works in a network and mount namespace of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin kubicle
KUBICLE_BIN="$PWD/target/release/kubicle" cargo bench -p podd --bench pods
