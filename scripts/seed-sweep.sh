#!/usr/bin/env bash
# Runs many short seeded simulator scenarios and checks the protocol's invariants (no false
# Failed without loss or stalls, converged views, every broadcast delivered). A failure prints
# its seed and the one-line command that replays it.
#
#   scripts/seed-sweep.sh [COUNT] [FIRST_SEED]     (default: 500 scenarios from seed 1)
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-500}"
first="${2:-1}"
cargo run --release --locked -q -p rumor-sim --example sweep -- "$count" "$first"
