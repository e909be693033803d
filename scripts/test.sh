#!/usr/bin/env bash
# Set up everything on a fresh machine and run the whole test suite (the README's test command).
# Creates .venv (if missing) with ftstudio and its test extra, then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# torch is pinned (torch==2.13.0) in the test extra: pip takes the CPU wheel, never a CUDA build.
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
exec .venv/bin/python -m pytest -q "$@"
