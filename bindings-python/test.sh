#!/usr/bin/env bash
# Tests the Python binding as a user gets it: a venv, `pip install ./bindings-python` (a PEP 517
# build through maturin), then pytest against real native `rumor agent` processes, mypy --strict
# on the examples and mypy.stubtest of the hand-written stubs against the installed module.
#
#   bash bindings-python/test.sh [PYTEST ARGS...]     (from the repo root or anywhere)
#
# Environment: RUMOR_PY_VENV (the venv, default target/python-venv, reused when present),
# RUMOR_BIN (a `rumor` binary to test against instead of building one),
# RUMOR_TEST_TIMEOUT_SCALE (stretches every deadline of the tests on a slow machine).
#
# Without `python3 -m venv` or without access to the package index this prints
# `SKIPPED: python binding tests — <reason>` and exits 0; any failure exits non-zero.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

VENV=${RUMOR_PY_VENV:-target/python-venv}
PIP_CACHE="$HOME/.cache/rumor/pip"
export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ in the source tree
export PIP_DISABLE_PIP_VERSION_CHECK=1

step() { printf '\n::: %s\n' "$*"; }
skip() { echo "SKIPPED: python binding tests — $*"; exit 0; }

# ---- the venv
step "python venv at $VENV"
command -v python3 >/dev/null 2>&1 || skip "python3 is not installed"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  echo "reusing $VENV ($("$VENV/bin/python" --version 2>&1))"
else
  if [ -e "$VENV" ]; then
    # Only ever delete a broken venv, never a directory someone pointed RUMOR_PY_VENV at.
    [ -f "$VENV/pyvenv.cfg" ] || { echo "FAILED: $VENV exists and is not a venv" >&2; exit 1; }
    rm -rf "$VENV"
  fi
  mkdir -p "$(dirname "$VENV")"
  if ! out=$(python3 -m venv "$VENV" 2>&1); then
    rm -rf "$VENV"
    skip "python3 -m venv is unavailable ($(tail -n 1 <<<"$out"))"
  fi
fi
VENV=$(cd "$VENV" && pwd)
PY="$VENV/bin/python"
pip_() { "$PY" -m pip --cache-dir "$PIP_CACHE" "$@"; }

# Whether pip's package index answers at all: a failed install is then the code's fault.
index_reachable() {
  local index=${PIP_INDEX_URL:-$("$PY" -m pip config get global.index-url 2>/dev/null || true)}
  INDEX=${index:-https://pypi.org/simple} "$PY" - <<'EOF' >/dev/null 2>&1
import os, sys, urllib.request
index = os.environ["INDEX"].rstrip("/") + "/pip/"
try:
    urllib.request.urlopen(index, timeout=15).read(1)
except Exception:
    sys.exit(1)
EOF
}

# ---- test tools
step "pip install maturin pytest mypy"
if ! pip_ install -q 'maturin>=1.9,<2.0' pytest mypy; then
  index_reachable || skip "pip cannot reach the package index"
  echo "FAILED: pip could not install the test tools" >&2
  exit 1
fi

# ---- the package, built as a user builds it
step "pip install ./bindings-python (PEP 517 build with maturin)"
if ! pip_ install --force-reinstall --no-deps ./bindings-python; then
  index_reachable || skip "pip cannot reach the package index (the isolated build needs maturin)"
  echo "FAILED: pip install ./bindings-python" >&2
  exit 1
fi
# Run from elsewhere than bindings-python/python, whose `rumor` has no native module.
(cd "$VENV" && "$PY" -c 'import rumor; print("rumor", rumor.__version__, "from", rumor.__file__)')

# ---- the native agent the tests talk to
if [ -n "${RUMOR_BIN:-}" ]; then
  step "native rumor binary: $RUMOR_BIN (from RUMOR_BIN)"
  [ -x "$RUMOR_BIN" ] || { echo "FAILED: RUMOR_BIN=$RUMOR_BIN is not an executable" >&2; exit 1; }
else
  step "cargo build -p rumor-node --locked"
  cargo build -p rumor-node --locked
  target_dir=${CARGO_TARGET_DIR:-target}
  case "$target_dir" in /*) ;; *) target_dir="$ROOT/$target_dir" ;; esac
  RUMOR_BIN="$target_dir/debug/rumor"
fi
export RUMOR_BIN

failed=()

# ---- pytest
step "pytest bindings-python/tests"
if ! "$PY" -m pytest -q bindings-python/tests "$@"; then
  failed+=("pytest")
fi

# ---- mypy --strict on the examples
step "mypy --strict bindings-python/examples"
MYPY_CACHE="$VENV/mypy-cache"
if [ -n "$(find bindings-python/examples -name '*.py' -print -quit 2>/dev/null)" ]; then
  if ! "$PY" -m mypy --strict --cache-dir "$MYPY_CACHE" bindings-python/examples; then
    failed+=("mypy --strict examples")
  fi
else
  echo "no examples yet (bindings-python/examples has no .py): mypy skipped"
fi

# ---- stubtest: the hand-written stubs against the installed module
step "python -m mypy.stubtest rumor"
# From inside the venv: no `rumor` directory there shadows the installed package.
if ! (cd "$VENV" && "$PY" -m mypy.stubtest rumor --mypy-config-file /dev/null \
        --allowlist "$ROOT/bindings-python/tests/stubtest-allowlist.txt"); then
  failed+=("stubtest")
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "FAILED: python binding tests — ${failed[*]}" >&2
  exit 1
fi
echo
echo "python binding tests passed"
