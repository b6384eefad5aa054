#!/usr/bin/env bash
# The browser visualizer (/ui/) against real `rumor agent` processes, in Debian's headless
# Chromium driven by npm playwright-core (no browser download).
#
#   bash tests/browser/run.sh [e2e|bench] [ARGS...]
#
#   e2e    (default) the end-to-end scenarios of e2e.mjs (simulate, live; ARGS picks some);
#          exits non-zero when one fails.
#   bench  the figures of bench.mjs (simulator speed in the browser and native, frame rate,
#          module size); a benchmark, not a test.
#
# Needs node (>= 20) with npm and /usr/bin/chromium; without them, or when npm cannot install
# playwright-core, prints `SKIPPED: browser end-to-end tests — <reason>` and exits 0. Builds
# target/debug/rumor for e2e, target/release/rumor for bench. The npm cache lives in
# ~/.cache/rumor/npm. Artifacts (screenshots, console logs, agent logs, bench.json) go to
# ${CARGO_TARGET_DIR:-target}/browser-artifacts/ (RUMOR_BROWSER_ARTIFACTS overrides).
# RUMOR_TEST_TIMEOUT_SCALE=3 stretches every deadline on a slow machine.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MODE=${1:-e2e}
[ $# -gt 0 ] && shift
case "$MODE" in
  e2e) SCRIPT=e2e.mjs; WHAT="browser end-to-end tests" ;;
  bench) SCRIPT=bench.mjs; WHAT="browser benchmark" ;;
  *) echo "usage: $0 [e2e|bench] [ARGS...]" >&2; exit 2 ;;
esac
skip() { echo "SKIPPED: $WHAT — $*"; exit 0; }

command -v node >/dev/null || skip "node is not installed"
command -v npm >/dev/null || skip "npm is not installed"
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 20 ] || skip "node $(node --version) is older than 20 (playwright-core 1.65 needs 20)"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || skip "$CHROMIUM is not installed (apt-get install chromium)"

cd "$HERE"
NPM_CACHE="$HOME/.cache/rumor/npm"
mkdir -p "$NPM_CACHE"
if ! npm ci --cache "$NPM_CACHE" --prefer-offline --no-audit --no-fund --loglevel=error; then
  skip "npm ci could not install playwright-core (registry unreachable and not cached in $NPM_CACHE?)"
fi

cd "$ROOT"
# The tests drive agents at the `local` preset: the debug build (which scripts/test.sh has
# already built) is fast enough. The benchmark compares with native speed: release.
if [ "$MODE" = bench ]; then PROFILE=release; else PROFILE=debug; fi
cargo build -p rumor-node --locked $([ "$PROFILE" = release ] && echo --release)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
export RUMOR_BIN="$TARGET_DIR/$PROFILE/rumor"
export RUMOR_BROWSER_ARTIFACTS=${RUMOR_BROWSER_ARTIFACTS:-$TARGET_DIR/browser-artifacts}
export CHROMIUM
mkdir -p "$RUMOR_BROWSER_ARTIFACTS"
echo "$WHAT: $RUMOR_BIN, $("$CHROMIUM" --version 2>/dev/null || echo chromium), node $(node --version); artifacts in $RUMOR_BROWSER_ARTIFACTS"

# node kills every agent and browser it started, also on failure, timeout and SIGINT/SIGTERM.
status=0
node "$HERE/$SCRIPT" "$@" || status=$?
echo "artifacts: $RUMOR_BROWSER_ARTIFACTS"
exit "$status"
