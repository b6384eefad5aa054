#!/usr/bin/env bash
# Builds rumor-swift as a static library for each Apple target (what an XCFramework holds) and
# prints each one's size. No Apple tools are needed to compile a staticlib, so this runs on
# Linux too (CI checks it); nothing here can link or run it. Plain `cargo build` would try to
# link the cdylib with Apple's linker, hence `cargo rustc --crate-type staticlib`.
#   bindings-swift/build-apple.sh [--xcframework]
# --xcframework (on a Mac with Xcode) also assembles target/Rumor.xcframework from the three
# libraries and the generated header: `xcodebuild -create-xcframework`.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGETS=(aarch64-apple-ios aarch64-apple-ios-sim aarch64-apple-darwin)
installed=$(rustup target list --installed)
TARGET_DIR=${CARGO_TARGET_DIR:-target}
built=()
for t in "${TARGETS[@]}"; do
  if grep -qx "$t" <<<"$installed" || rustup target add "$t" >/dev/null 2>&1; then
    cargo rustc -q -p rumor-swift --lib --release --locked --target "$t" --crate-type staticlib
  elif rustup component add rust-src >/dev/null 2>&1; then
    # rustup's mirror here serves no prebuilt standard library for some targets
    # (aarch64-apple-ios-sim): build it from source (-Zbuild-std, which a stable toolchain
    # allows with RUSTC_BOOTSTRAP=1; a few minutes).
    echo "building the standard library for $t from source (rustup has none for it here)"
    RUSTC_BOOTSTRAP=1 cargo rustc -q -p rumor-swift --lib --release --locked --target "$t" \
      --crate-type staticlib -Zbuild-std=std
  else
    echo "SKIPPED: rumor-swift for $t — rustup cannot install its standard library or rust-src here"
    continue
  fi
  built+=("$t")
  lib="$TARGET_DIR/$t/release/librumor_swift.a"
  printf '%-22s %s  %d bytes\n' "$t" "$lib" "$(wc -c < "$lib")"
done
[ ${#built[@]} -gt 0 ] || { echo "build-apple.sh: no Apple target could be built" >&2; exit 1; }
if [ "${1:-}" = --xcframework ]; then
  command -v xcodebuild >/dev/null || { echo "--xcframework needs Xcode (xcodebuild): run it on a Mac" >&2; exit 1; }
  [ ${#built[@]} -eq ${#TARGETS[@]} ] || { echo "--xcframework needs all of ${TARGETS[*]}" >&2; exit 1; }
  bindings-swift/generate.sh release
  headers=$(mktemp -d)
  cp bindings-swift/Sources/rumor_swiftFFI/rumor_swiftFFI.h bindings-swift/Sources/rumor_swiftFFI/module.modulemap "$headers/"
  rm -rf "$TARGET_DIR/Rumor.xcframework"
  args=()
  for t in "${TARGETS[@]}"; do args+=(-library "$TARGET_DIR/$t/release/librumor_swift.a" -headers "$headers"); done
  xcodebuild -create-xcframework "${args[@]}" -output "$TARGET_DIR/Rumor.xcframework"
  echo "built $TARGET_DIR/Rumor.xcframework"
fi
