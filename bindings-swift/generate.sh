#!/usr/bin/env bash
# Builds the rumor-swift library for this machine and generates its Swift bindings with the
# in-tree uniffi-bindgen (library mode) into the package's generated targets:
#   Sources/RumorFFI/rumor_swift.swift          the generated Swift (never edited by hand)
#   Sources/rumor_swiftFFI/{rumor_swiftFFI.h,module.modulemap}   its C header, a system library
# Both are build products (.gitignore). The Swift package links target/debug/librumor_swift.so
# (RUMOR_SWIFT_LIB_DIR overrides the directory).
#   bindings-swift/generate.sh [debug|release]
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${1:-debug}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build -p rumor-swift -p uniffi-bindgen --locked $([ "$PROFILE" = release ] && echo --release)
LIB="$TARGET_DIR/$PROFILE/librumor_swift.so"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
"$TARGET_DIR/$PROFILE/uniffi-bindgen" generate --library "$LIB" --language swift --out-dir "$OUT" \
  2> >(grep -v "Unable to auto-format" >&2)
PKG=bindings-swift
mkdir -p "$PKG/Sources/RumorFFI" "$PKG/Sources/rumor_swiftFFI"
cp "$OUT/rumor_swift.swift" "$PKG/Sources/RumorFFI/rumor_swift.swift"
cp "$OUT/rumor_swiftFFI.h" "$PKG/Sources/rumor_swiftFFI/rumor_swiftFFI.h"
cp "$OUT/rumor_swiftFFI.modulemap" "$PKG/Sources/rumor_swiftFFI/module.modulemap"
echo "generated Swift bindings from $LIB"
