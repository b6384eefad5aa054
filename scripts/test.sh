#!/usr/bin/env bash
# Runs every test of the project. Installs what it needs (Rust targets); safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n::: %s\n' "$*"; }

step "rust targets for the no_std builds"
NO_STD_TARGETS=(thumbv7em-none-eabihf wasm32-unknown-unknown)
installed=$(rustup target list --installed)
for t in "${NO_STD_TARGETS[@]}"; do
  if ! grep -qx "$t" <<<"$installed"; then
    rustup target add "$t" || echo "SKIPPED: no_std build for $t — rustup could not install the target"
  fi
done

step "format"
cargo fmt --all -- --check

step "rumor-agent stays embeddable: no HTTP, CLI, mDNS, simulator, allocator or metrics crates"
# Python (pyo3) and Swift (uniffi) packages embed rumor-agent; these belong to the `rumor` binary.
FORBIDDEN='axum|hyper|tower|reqwest|clap|mdns-sd|rumor-sim|jemalloc|tikv|prometheus-client|tracing-subscriber'
tree=$(cargo tree -p rumor-agent -e normal --prefix none --locked)
if found=$(grep -E "^($FORBIDDEN)([-_a-z]*)? v" <<<"$tree"); then
  echo "FAILED: rumor-agent depends on crates only the rumor binary may use:" >&2
  sort -u <<<"$found" >&2
  exit 1
fi
echo "rumor-agent: $(sort -u <<<"$tree" | wc -l) crates, none of: ${FORBIDDEN//|/, }"

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "promtool for the metrics test (from Debian's prometheus package)"
# native-node/tests/operator.rs pipes /metrics through `promtool check metrics`; without it the
# test prints its own SKIPPED line. Only the promtool binary is taken from the package (no
# Prometheus server is installed or started), cached in ~/.cache/rumor/tools.
TOOLS=${RUMOR_TOOLS:-$HOME/.cache/rumor/tools}
export PATH="$TOOLS/bin:$PATH"
if ! command -v promtool >/dev/null; then
  tmp=$(mktemp -d)
  if command -v apt-get >/dev/null && { [ "$(id -u)" != 0 ] || apt-get update -qq; } \
     && (cd "$tmp" && apt-get download -qq prometheus) && dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x" \
     && mkdir -p "$TOOLS/bin" && cp "$tmp/x/usr/bin/promtool" "$TOOLS/bin/"; then
    echo "promtool: taken from $(basename "$tmp"/prometheus_*.deb)"
  else
    echo "SKIPPED: promtool check metrics — could not get promtool from Debian's prometheus package"
  fi
  rm -rf "$tmp"
fi
if command -v promtool >/dev/null; then promtool --version 2>&1 | head -1; fi

step "tests (unit, property, vectors, simulator scenarios, doctests)"
cargo test --workspace --locked

step "rumor-core alone, as the bindings build it: without the simulator's \`prefetch\` feature, with \`serde\` (the JSON shape bindings see)"
cargo test -p rumor-core --features serde --locked

step "simulator seed sweep (1000 seeded fault scenarios, release)"
scripts/seed-sweep.sh 1000

step "flood: mutated, replayed and random datagrams at an encrypted agent from a second address and a member's own (~40 s)"
# Loopback only (127.0.0.11-13 and .99); prints SKIPPED itself where those cannot be bound.
bash tests/flood/run.sh
step "Debian package (cargo deb: binary, systemd unit, config, man page, completions)"
# Installs cargo-deb into ~/.cache/rumor/tools when missing; prints SKIPPED itself if it cannot.
bash deploy/deb.sh

step "network namespaces: 20 agents, 10 % loss, partition and heal, crash, leave, mDNS (~3 min)"
if [ "$(id -u)" = 0 ]; then
  bash tests/netns/run.sh
else
  echo "SKIPPED: netns — not running as root"
fi

step "rumor-core is no_std + alloc"
for t in "${NO_STD_TARGETS[@]}"; do
  if rustup target list --installed | grep -qx "$t"; then
    cargo build -p rumor-core --no-default-features --locked --target "$t"
    cargo build -p rumor-core --no-default-features --features serde --locked --target "$t"
  fi
done
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  cargo build -p rumor-sim --locked --target wasm32-unknown-unknown
fi

step "wasm binding in headless Chromium (rumor-wasm: the committed module matches its sources, wasm-bindgen-test)"
# Installs what it needs: Debian's chromium and chromium-driver (as root), the wasm32 target and
# wasm-bindgen-cli of Cargo.lock's wasm-bindgen version (bindings-wasm/build.sh, into
# ~/.cache/rumor/tools). A missing prerequisite skips the step loudly instead of failing.
wasm_browser_tests() {
  local t0=$SECONDS skip=
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    if [ "$(id -u)" != 0 ]; then
      skip="chromium is not installed and this is not root"
    elif ! { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null ||
             { apt-get update -q >/dev/null &&
               DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; }; }; then
      skip="apt-get could not install chromium and chromium-driver"
    fi
  fi
  # --check rebuilds the module elsewhere and compares it with the committed
  # bindings-wasm/ui/pkg/, which the `rumor` binary serves at /ui/.
  if [ -z "$skip" ] && ! bindings-wasm/build.sh --check; then
    # With the target and the tool in place, a failed build or a stale ui/pkg/ is the code's
    # fault: fail.
    if rustup target list --installed | grep -qx wasm32-unknown-unknown &&
       [ -x "${RUMOR_TOOLS:-$HOME/.cache/rumor/tools}/bin/wasm-bindgen" ]; then
      echo "bindings-wasm/build.sh failed with its prerequisites installed" >&2
      return 1
    fi
    skip="bindings-wasm/build.sh failed (wasm32 target or wasm-bindgen-cli could not be installed)"
  fi
  if [ -n "$skip" ]; then
    echo "SKIPPED: wasm browser tests — $skip" >&2
    return 0
  fi
  # The runner (.cargo/config.toml) comes from the same wasm-bindgen-cli install; release, as
  # the 2000-node simulator test needs an optimised build.
  PATH="${RUMOR_TOOLS:-$HOME/.cache/rumor/tools}/bin:$PATH" CHROMEDRIVER=/usr/bin/chromedriver \
    cargo test -p rumor-wasm --target wasm32-unknown-unknown --release --locked
  # The generated module itself, through its JavaScript names (needs Node.js 19 or later).
  if command -v node >/dev/null; then
    node bindings-wasm/smoke.mjs
  else
    echo "SKIPPED: the generated module's smoke test (bindings-wasm/smoke.mjs) — no node"
  fi
  echo "wasm binding in headless Chromium: $((SECONDS - t0)) s"
}
wasm_browser_tests

step "the visualizer end to end (tests/browser: Playwright in headless Chromium, real agents)"
# Chromium comes from the step above; playwright-core from npm (cached in ~/.cache/rumor/npm).
# Prints SKIPPED itself when node, npm or chromium is missing.
bash tests/browser/run.sh e2e

step "the Python package (bindings-python: pip install, pytest against real agents, mypy --strict, stubtest)"
# A venv in target/python-venv, pip's cache in ~/.cache/rumor/pip; prints SKIPPED itself when
# python3 -m venv or the package index is missing.
bash bindings-python/test.sh

step "the Swift package (bindings-swift: uniffi bindings, swift test in a Debian trixie chroot, Apple static libraries)"
# The chroot is built (or restored from ~/.cache/rumor/swift-chroot-trixie.tar.zst) by
# bindings-swift/swift.sh; without root or the Debian mirror the step prints SKIPPED.
bash bindings-swift/test.sh

step "fuzz targets compile"
if [ -f fuzz/Cargo.toml ]; then
  RUSTC_BOOTSTRAP=1 cargo check --manifest-path fuzz/Cargo.toml --bins
fi

step "benchmarks compile"
cargo bench -p rumor-core --no-run --locked   # the only crate with criterion benches

echo
echo "all tests passed"
