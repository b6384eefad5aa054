#!/usr/bin/env bash
# Builds the Debian package of `rumor` with cargo-deb: target/debian/rumor_<version>-1_<arch>.deb
# (the binary, the systemd unit, /etc/rumor/rumor.toml as a conffile, the man page and the
# bash, zsh and fish completions), then checks what it holds.
#
# cargo-deb is installed into ~/.cache/rumor/tools (RUMOR_TOOLS) when missing; if that fails the
# step prints a loud SKIPPED line and exits 0. RUMOR_DEB_PROFILE=dev packages a debug build
# (quick, for trying the packaging; the default is release).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
TOOLS=${RUMOR_TOOLS:-$HOME/.cache/rumor/tools}
PROFILE=${RUMOR_DEB_PROFILE:-release}
export PATH="$TOOLS/bin:$PATH"

if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
  echo "deb: installing cargo-deb $CARGO_DEB_VERSION into $TOOLS (a few minutes, once)"
  if ! cargo install --locked --quiet cargo-deb --version "$CARGO_DEB_VERSION" --root "$TOOLS"; then
    echo "SKIPPED: deb package — cargo-deb $CARGO_DEB_VERSION could not be installed" >&2
    exit 0
  fi
fi
if ! command -v dpkg-deb >/dev/null; then
  echo "SKIPPED: deb package — dpkg-deb is not installed (not a Debian system)" >&2
  exit 0
fi

cargo build --locked -p rumor-node --profile "$PROFILE"
dir=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
bin="target/$dir/rumor"
mkdir -p target/deb-assets
"$bin" man > target/deb-assets/rumor.1
"$bin" completions bash > target/deb-assets/rumor.bash
"$bin" completions zsh > target/deb-assets/_rumor
"$bin" completions fish > target/deb-assets/rumor.fish

rm -f target/debian/rumor_*.deb
cargo deb --locked -p rumor-node --no-build --profile "$PROFILE" --no-strip
deb=$(ls target/debian/rumor_*.deb)

# The package holds what the unit and the docs promise, and its metadata is sound.
contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/rumor ./lib/systemd/system/rumor.service ./etc/rumor/rumor.toml \
         ./usr/share/man/man1/rumor.1.gz ./usr/share/bash-completion/completions/rumor \
         ./usr/share/zsh/vendor-completions/_rumor ./usr/share/fish/vendor_completions.d/rumor.fish; do
  if ! grep -q " $f\$" <<<"$contents"; then
    echo "FAILED: $deb lacks $f" >&2
    echo "$contents" >&2
    exit 1
  fi
done
dpkg-deb -f "$deb" Package Version Architecture Depends
control=$(dpkg-deb --ctrl-tarfile "$deb" | tar -t)
for f in ./conffiles ./postinst ./postrm; do
  grep -qx "$f" <<<"$control" || { echo "FAILED: no $f in $deb's control archive" >&2; exit 1; }
done

# The packaged binary runs, and the packaged configuration is one it accepts.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp"
"$tmp/usr/bin/rumor" --version
if "$tmp/usr/bin/rumor" agent --config "$tmp/etc/rumor/rumor.toml" --name deb-check --bind 127.0.0.1:0 \
     --http off --preset nonsense 2>"$tmp/err"; then
  echo "FAILED: the packaged agent accepted a bad preset" >&2
  exit 1
fi
# Only the deliberately bad preset may be refused: the file itself parsed and checked.
grep -q "invalid config field \`preset\`" "$tmp/err" || { cat "$tmp/err" >&2; echo "FAILED: /etc/rumor/rumor.toml is refused" >&2; exit 1; }
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify --man=no "$tmp/lib/systemd/system/rumor.service" 2>&1 | grep -v "rumor.*not found\|Failed to prepare\|is not executable" || true
fi
echo "deb: $deb ($(du -h "$deb" | cut -f1)) holds the binary, unit, configuration, man page and completions"
