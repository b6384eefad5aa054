#!/usr/bin/env bash
# Builds rumor-wasm as an ES module with TypeScript declarations into bindings-wasm/ui/pkg/
# (rumor_wasm.js, rumor_wasm.d.ts, rumor_wasm_bg.wasm), the visualizer's copy, which is
# committed and built into the `rumor` binary, and prints the .wasm size, raw and gzipped.
#   bindings-wasm/build.sh           rebuild bindings-wasm/ui/pkg/
#   bindings-wasm/build.sh --check   build elsewhere and fail if ui/pkg/ differs (CI)
# Installs what it needs: the wasm32 target, and wasm-bindgen-cli of exactly the wasm-bindgen
# version in Cargo.lock into ~/.cache/rumor/tools (RUMOR_TOOLS overrides). The build is
# reproducible (same toolchain, any checkout path), which is what makes --check meaningful.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=${RUMOR_TOOLS:-$HOME/.cache/rumor/tools}
COMMITTED=bindings-wasm/ui/pkg
OUT=$COMMITTED
check=
case "${1:-}" in
  --check) check=1; OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT ;;
  "") ;;
  *) echo "usage: bindings-wasm/build.sh [--check]" >&2; exit 2 ;;
esac
WASM=target/wasm32-unknown-unknown/release/rumor_wasm.wasm

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

# The CLI must speak the same schema as the wasm-bindgen crate linked into the module.
version=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ -z "$version" ]; then
  echo "build.sh: no wasm-bindgen in Cargo.lock" >&2
  exit 1
fi
if [ "$("$TOOLS/bin/wasm-bindgen" --version 2>/dev/null | awk '{print $2}')" != "$version" ]; then
  echo "installing wasm-bindgen-cli $version into $TOOLS (about 2 minutes, once)"
  # Not --locked: the CLI's own lockfile pins a crate version the registry no longer serves
  # (/work/shared/TOOLCHAINS.md).
  cargo install -q --root "$TOOLS" wasm-bindgen-cli --version "$version"
fi

cargo build -p rumor-wasm --target wasm32-unknown-unknown --release --locked
"$TOOLS/bin/wasm-bindgen" --target web --out-dir "$OUT" "$WASM"

module=$OUT/rumor_wasm_bg.wasm
raw=$(wc -c < "$module")
gz=$(gzip -9 -c "$module" | wc -c)
printf 'rumor-wasm: %s  %d bytes raw, %d bytes gzipped (-9)\n' "$module" "$raw" "$gz"

if [ -n "$check" ]; then
  if ! diff -r "$OUT" "$COMMITTED" >/dev/null; then
    diff -rq "$OUT" "$COMMITTED" >&2 || true
    echo "bindings-wasm/ui/pkg/ does not match the sources: run bindings-wasm/build.sh and commit it" >&2
    exit 1
  fi
  echo "bindings-wasm/ui/pkg/ matches the sources"
fi
