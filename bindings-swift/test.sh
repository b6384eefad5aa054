#!/usr/bin/env bash
# Tests the Swift binding: generates the Swift code from the Rust library (generate.sh), runs
# `swift test` (XCTest: the shared wire vectors, a Swift agent among real native agents, the
# event stream's lifetime, config errors) in the Debian trixie chroot of swift.sh, and builds
# the static library for the Apple targets (build-apple.sh; nothing can link it here).
#   bash bindings-swift/test.sh
# A toolchain that cannot be had (swift.sh exits 77: not root, no Debian mirror) is a loud
# SKIPPED line, not a failure; a failing test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
bindings-swift/generate.sh
cargo build -q -p rumor-node --locked   # the native agents the tests start (target/debug/rumor)
status=0
RUMOR_BIN="$PWD/target/debug/rumor" bash bindings-swift/swift.sh test bindings-swift || status=$?
if [ "$status" = 77 ]; then
  echo "SKIPPED: swift tests — the Swift toolchain could not be installed (see above)"
elif [ "$status" != 0 ]; then
  echo "swift tests failed" >&2
  exit "$status"
fi
bindings-swift/build-apple.sh
echo "swift binding: $((SECONDS - t0)) s"
