#!/usr/bin/env bash
# Floods a real encrypted `rumor agent` on loopback with mutated, replayed and random datagrams
# from a second address and from a member's own address, for FLOOD_SECS (20) seconds at
# FLOOD_PPS (8000) datagrams a second at FLOOD_MEMBERS (3) agents, and checks that the agent stays up, that no member ever
# leaves `alive` in any view, that its resident memory stays flat and that every datagram is
# counted under a drop reason (native-node/examples/flood.rs). About 40 s in all; no root needed
# (Linux routes all of 127.0.0.0/8 to loopback). RUMOR_BIN runs another `rumor` binary against
# the same flood (to measure an older build).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q -p rumor-node --bin rumor --example flood --locked
status=0
target/debug/examples/flood --rumor "${RUMOR_BIN:-target/debug/rumor}" \
  --secs "${FLOOD_SECS:-20}" --pps "${FLOOD_PPS:-8000}" --members "${FLOOD_MEMBERS:-3}" || status=$?
if [ "$status" = 77 ]; then
  exit 0   # the program printed SKIPPED: and why
fi
exit "$status"
