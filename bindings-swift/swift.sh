#!/usr/bin/env bash
# The Swift toolchain for Rumor's Swift binding: Debian trixie's `swiftlang` (Swift 6.0.3) in a
# chroot, because nothing packages Swift for the Debian 12 that our machines and CI run.
#
#   bash bindings-swift/swift.sh ensure                  build or restore the chroot (idempotent)
#   bash bindings-swift/swift.sh run CMD [ARGS...]       run CMD inside it
#   bash bindings-swift/swift.sh test PKGDIR [ARGS...]   `swift test` of a package (ARGS passed on)
#   bash bindings-swift/swift.sh shell                   an interactive shell inside
#
# The repository root, /tmp, /proc, /sys and /dev are mounted inside at the same paths as outside,
# so paths in generated files and `-L`/`-rpath` flags agree, host binaries (target/debug/rumor)
# run inside, and the chroot shares the host's network, loopback included. `run` keeps the
# current directory when it lies inside the repository or /tmp, else it starts at the repo root.
# It all happens in private mount and PID namespaces (unshare): no mount is visible outside or
# outlives the script, even when it is killed, and processes the command leaves behind are
# killed when it ends. A trap unmounts everything anyway.
#
# Environment:
#   RUMOR_SWIFT_CHROOT   the chroot (default ~/.cache/rumor/swift-chroot; never inside the repo)
#   RUMOR_CACHE          holds the tarball swift-chroot-trixie.tar.zst (default ~/.cache/rumor)
#   RUMOR_DEBIAN_MIRROR  default http://deb.debian.org/debian
#   RUMOR_SWIFT_BIND     more host directories, colon-separated, mounted at the same paths
# Inside, the environment is reset: HOME=/root, a standard PATH, LANG=C.UTF-8, plus the host's
# RUMOR_*, CI, TERM, NO_COLOR, RUST_LOG and RUST_BACKTRACE.
#
# Exits 77 after printing `SKIPPED: swift — <reason>` when the toolchain cannot be had (not root,
# no chroot, the Debian mirror unreachable); callers turn 77 into a loud skip. Otherwise `run`,
# `test` and `shell` exit with the command's status. Progress and timings go to stderr.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
SELF="$REPO/bindings-swift/swift.sh"
CACHE=${RUMOR_CACHE:-$HOME/.cache/rumor}
CH=${RUMOR_SWIFT_CHROOT:-$HOME/.cache/rumor/swift-chroot}
TARBALL="$CACHE/swift-chroot-trixie.tar.zst"
MIRROR=${RUMOR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=trixie
# A file only this script puts at the root of a chroot it made; nothing without it is ever deleted.
# It holds RECIPE: a chroot or tarball made by another recipe is rebuilt, so change RECIPE
# whenever the packages below change.
MARKER=.rumor-swift-chroot
RECIPE="rumor swift chroot 1: debootstrap minbase $SUITE + swiftlang ca-certificates with recommends"
CHROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

say() { printf '::: %s\n' "$*" >&2; }
die() { printf 'swift.sh: %s\n' "$*" >&2; exit 1; }
skip() { printf 'SKIPPED: swift — %s\n' "$*" >&2; exit 77; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$SELF" >&2
  exit 2
}

# ---- checks that need nothing mounted

[ $# -ge 1 ] || usage
case $1 in ensure | run | test | shell | __ns) ;; -h | --help | help) usage ;; *) usage ;; esac
[ "$(id -u)" = 0 ] || skip "not running as root (chroot and mount need it)"
{ command -v chroot && command -v mount && command -v findmnt; } >/dev/null ||
  skip "no chroot, mount or findmnt command"
case $CH in
  /?*) ;;
  *) die "RUMOR_SWIFT_CHROOT must be an absolute path other than /: '$CH'" ;;
esac
CH=${CH%/}
case "$CH/" in
  "$REPO"/* | /tmp/*) die "RUMOR_SWIFT_CHROOT ($CH) must lie outside the repository and /tmp" ;;
esac
case "$REPO/" in "$CH"/*) die "RUMOR_SWIFT_CHROOT ($CH) must not contain the repository" ;; esac

# Re-run in a private mount namespace and a new PID namespace, with this script as its init:
# - every mount below exists only for this process tree and disappears with it, even after a
#   `kill -9`, and an `rm -rf` of the chroot from outside never walks into the repository or /tmp
#   through a bind mount;
# - when this script ends, the kernel kills whatever the command left behind (a `rumor agent`
#   that a crashed test never stopped), so no stray process keeps ports or the chroot busy.
# The network namespace stays the host's. Without unshare, the EXIT trap alone cleans up.
if [ "$1" != __ns ]; then
  if command -v unshare >/dev/null; then
    for ns in "--mount --propagation private --pid --fork --kill-child" "--mount --propagation private"; do
      # shellcheck disable=SC2086 # $ns is a list of options
      unshare $ns true 2>/dev/null && exec unshare $ns -- bash "$SELF" __ns "$@"
    done
  fi
  say "unshare is unavailable: mounts are visible host-wide until this script exits"
else
  shift
fi

# ---- mounts

MOUNTED=()
mnt() { # mnt TARGET MOUNT-ARGS...: mounts and remembers TARGET for unmount_all
  local target=$1
  shift
  mount "$@" "$target"
  MOUNTED+=("$target")
}
mounts_under() { # prints the mount points at or under $1 in this mount namespace
  findmnt -rn -o TARGET | awk -v d="$1" '$0 == d || index($0, d "/") == 1'
}
unmount_all() {
  local i
  for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
    umount -R "${MOUNTED[i]}" 2>/dev/null || umount -R -l "${MOUNTED[i]}" 2>/dev/null ||
      printf 'swift.sh: could not unmount %s\n' "${MOUNTED[i]}" >&2
  done
  MOUNTED=()
}
cleanup() {
  unmount_all
  local left
  left=$( { mounts_under "$CH"; mounts_under "$CH.partial"; } || true)
  [ -z "$left" ] || printf 'swift.sh: still mounted:\n%s\n' "$left" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mount_proc() { # mount_proc ROOT: swift cannot find libswiftCore.so without /proc
  mountpoint -q "$1/proc" || mnt "$1/proc" -t proc proc
}
mount_same_path() { # mount_same_path DIR: binds host DIR at the same path inside the chroot
  local dir=$1
  mountpoint -q "$CH$dir" 2>/dev/null && return 0
  mkdir -p "$CH$dir"
  mnt "$CH$dir" --rbind "$dir"
}

# Deletes a tree this script made, and only after checking nothing is mounted inside it.
safe_rm_tree() {
  local dir=$1
  [ -e "$dir" ] || return 0
  [ -f "$dir/$MARKER" ] ||
    die "$dir exists but was not made by this script (no $MARKER): remove or move it yourself"
  unmount_all
  [ -z "$(mounts_under "$dir")" ] || die "refusing to delete $dir: something is mounted inside it"
  rm -rf --one-file-system "$dir"
}

# ---- the chroot

chroot_env() { # the environment of every command run inside
  local v
  CHROOT_ENV=(HOME=/root "PATH=$CHROOT_PATH" LANG=C.UTF-8 debian_chroot=swift-trixie)
  for v in $(compgen -e); do
    case $v in RUMOR_* | CI | TERM | NO_COLOR | RUST_LOG | RUST_BACKTRACE) CHROOT_ENV+=("$v=${!v}") ;; esac
  done
}
in_root() { # in_root ROOT CMD...: runs CMD inside ROOT with the reset environment
  local root=$1
  shift
  chroot "$root" /usr/bin/env -i "${CHROOT_ENV[@]}" "$@" 9>&-
}
swift_works() { # swift_works ROOT
  [ -x "$1/usr/bin/env" ] && [ "$(cat "$1/$MARKER" 2>/dev/null)" = "$RECIPE" ] || return 1
  mount_proc "$1"
  in_root "$1" swift --version >/dev/null 2>&1
}

mirror_reachable() {
  if command -v curl >/dev/null; then
    curl -fsS --max-time 30 -o /dev/null "$MIRROR/dists/$SUITE/Release" 2>/dev/null
  elif command -v wget >/dev/null; then
    wget -q -T 30 -O /dev/null "$MIRROR/dists/$SUITE/Release"
  else
    return 0 # cannot tell: let debootstrap try
  fi
}

restore_chroot() {
  command -v zstd >/dev/null || { say "no zstd on this machine: building instead of restoring"; return 1; }
  local t0 part="$CH.partial"
  t0=$(now)
  safe_rm_tree "$part"
  mkdir -p "$part"
  : >"$part/$MARKER"
  if zstd -dc -T0 "$TARBALL" | tar -C "$part" --numeric-owner -xf - && swift_works "$part"; then
    unmount_all
    mv "$part" "$CH"
    say "restored $CH from $TARBALL in $(since "$t0")"
    return 0
  fi
  say "the tarball $TARBALL is unusable or of another recipe: deleting it, building instead"
  rm -f "$TARBALL"
  safe_rm_tree "$part"
  return 1
}

build_chroot() {
  local t0 t_all part="$CH.partial" log="$CACHE/swift-chroot-build.log"
  t_all=$(now)
  mirror_reachable || skip "cannot reach the Debian mirror $MIRROR to build the chroot"
  mkdir -p "$CACHE"
  : >"$log"

  if ! command -v debootstrap >/dev/null || ! command -v zstd >/dev/null; then
    command -v apt-get >/dev/null || skip "debootstrap or zstd is missing and there is no apt-get"
    t0=$(now)
    say "apt-get install debootstrap zstd (host)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap zstd >>"$log" 2>&1; then
      DEBIAN_FRONTEND=noninteractive apt-get update >>"$log" 2>&1 || true
      DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap zstd >>"$log" 2>&1 || {
        tail -n 20 "$log" >&2
        mirror_reachable || skip "apt-get cannot reach the Debian mirror"
        die "apt-get install debootstrap zstd failed (log: $log)"
      }
    fi
    say "host packages: $(since "$t0")"
  fi

  safe_rm_tree "$part"
  mkdir -p "$part"
  : >"$part/$MARKER"
  t0=$(now)
  say "debootstrap --variant=minbase $SUITE $part $MIRROR"
  if ! debootstrap --variant=minbase "$SUITE" "$part" "$MIRROR" >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    unmount_all
    mirror_reachable || skip "debootstrap cannot reach the Debian mirror $MIRROR"
    die "debootstrap failed (log: $log; the half-made tree is at $part)"
  fi
  printf '%s\n' "$RECIPE" >"$part/$MARKER"
  unmount_all # debootstrap's own /proc and /sys mounts, if it left any
  say "debootstrap: $(since "$t0")"

  t0=$(now)
  say "apt-get install swiftlang (in the chroot)"
  mount_proc "$part"
  # Not --no-install-recommends: it leaves out gcc's libc6-dev, and without it swiftc cannot link
  # anything, Package.swift included ("cannot find Scrt1.o"). Recommends add only 12 small packages.
  if ! in_root "$part" /bin/sh -c 'export DEBIAN_FRONTEND=noninteractive
      apt-get update &&
      apt-get install -y swiftlang ca-certificates &&
      apt-get clean && rm -rf /var/lib/apt/lists/*' >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    mirror_reachable || skip "apt-get in the chroot cannot reach the Debian mirror $MIRROR"
    die "apt-get install swiftlang failed in the chroot (log: $log)"
  fi
  say "swiftlang: $(since "$t0")"
  swift_works "$part" || die "swift --version does not run in the new chroot $part"
  unmount_all
  mv "$part" "$CH"
  say "built $CH in $(since "$t_all") ($(du -sh --one-file-system "$CH" | cut -f1))"

  # The cache only speeds up the next machine state; failing to write it is not an error.
  t0=$(now)
  if tar -C "$CH" --numeric-owner --one-file-system -cf - . | zstd -3 -T0 -q >"$TARBALL.tmp.$$" &&
    mv "$TARBALL.tmp.$$" "$TARBALL"; then
    say "saved $TARBALL ($(du -h "$TARBALL" | cut -f1)) in $(since "$t0")"
  else
    rm -f "$TARBALL.tmp.$$"
    say "could not save $TARBALL: continuing without a cache"
  fi
}

# Leaves the chroot usable and this process holding a shared lock on it, which keeps any other
# invocation from rebuilding it underneath us; the lock is dropped when this process ends.
ensure() {
  local t0
  t0=$(now)
  mkdir -p "$(dirname "$CH")"
  exec 9>>"$CH.lock"
  flock -s 9
  if swift_works "$CH"; then
    say "swift chroot ready at $CH (checked in $(since "$t0"))"
    return 0
  fi
  unmount_all
  flock -u 9
  flock -x 9 # waits until no other invocation is using the chroot
  if ! swift_works "$CH"; then
    unmount_all
    if [ -e "$CH" ]; then
      say "$CH does not run swift or was made by another recipe: replacing it"
      safe_rm_tree "$CH"
    fi
    { [ -f "$TARBALL" ] && restore_chroot; } || build_chroot
    swift_works "$CH" || die "swift does not run in $CH"
  fi
  flock -s 9
  say "swift chroot ready at $CH ($(in_root "$CH" swift --version 2>&1 | head -n 1); $(since "$t0"))"
}

# Mounts what commands inside need, and prints the directory to start them in.
enter() {
  local dir extra
  mount_proc "$CH"
  mount_same_path /sys
  mount_same_path /dev
  mount_same_path /tmp
  mount_same_path "$REPO"
  if [ -n "${RUMOR_SWIFT_BIND:-}" ]; then
    IFS=: read -r -a extra <<<"$RUMOR_SWIFT_BIND"
    for dir in "${extra[@]}"; do
      [ -n "$dir" ] || continue
      dir=$(cd "$dir" && pwd -P) || die "RUMOR_SWIFT_BIND: no directory $dir"
      mount_same_path "$dir"
    done
  fi
}
start_dir() {
  local here
  here=$(pwd -P)
  case "$here/" in
    "$REPO"/* | /tmp/*) printf '%s' "$here" ;;
    *) printf '%s' "$REPO" ;;
  esac
}
run_inside() { # run_inside DIR CMD...: the command's status
  local dir=$1 rc=0
  shift
  # shellcheck disable=SC2016 # expanded by the shell inside
  in_root "$CH" /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$dir" "$@" || rc=$?
  return "$rc"
}

# ---- commands

chroot_env
cmd=$1
shift
case $cmd in
  ensure)
    [ $# -eq 0 ] || usage
    ensure
    ;;
  run)
    [ $# -ge 1 ] || usage
    ensure
    enter
    rc=0
    run_inside "$(start_dir)" "$@" || rc=$?
    exit "$rc"
    ;;
  test)
    [ $# -ge 1 ] || usage
    pkg=$1
    shift
    case $pkg in
      /*) ;;
      *) if [ -d "$REPO/$pkg" ]; then pkg="$REPO/$pkg"; else pkg="$(pwd -P)/$pkg"; fi ;;
    esac
    [ -f "$pkg/Package.swift" ] || die "no Package.swift in $pkg"
    pkg=$(cd "$pkg" && pwd -P)
    # Build products go to target/swift-build/<the package's path>, never into the package.
    case "$pkg/" in
      "$REPO"/*) rel=${pkg#"$REPO"/} ;;
      *) rel=${pkg#/} ;;
    esac
    [ "$pkg" != "$REPO" ] || rel=root
    scratch="$REPO/target/swift-build/${rel//\//-}"
    ensure
    enter
    case "$pkg/" in "$REPO"/* | /tmp/*) ;; *) mount_same_path "$pkg" ;; esac
    mkdir -p "$scratch"
    say "swift test --package-path $pkg --scratch-path $scratch $*"
    t0=$(now)
    rc=0
    run_inside "$pkg" swift test --package-path "$pkg" --scratch-path "$scratch" "$@" || rc=$?
    say "swift test: exit $rc after $(since "$t0")"
    exit "$rc"
    ;;
  shell)
    [ $# -eq 0 ] || usage
    ensure
    enter
    say "a shell in the Swift chroot; the repository is at $REPO; exit to leave"
    trap : INT # Ctrl-C belongs to the shell inside
    rc=0
    run_inside "$(start_dir)" /bin/bash -i || rc=$?
    exit "$rc"
    ;;
esac
