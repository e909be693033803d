#!/usr/bin/env bash
# Set up everything on a fresh machine and run the whole test suite (the README's test command).
# Creates .venv (if missing) with ftstudio and its test extra, an overlay venv with the Olive stack
# for the `--recipe olive` export test, then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${FTSTUDIO_VENV:-.venv}"
OLIVE_VENV="${FTSTUDIO_OLIVE_VENV:-.venv-olive}"
# Every install below (and the project venvs the e2e tests build with pip) takes the locked versions:
# constraints/*.txt agree with scaffolds/pins.py (scripts/lock.py check), so no upstream release
# changes what the suite runs on. `python scripts/lock.py bump` moves them on purpose.
export PIP_CONSTRAINT="$PWD/constraints/test.txt $PWD/constraints/olive.txt"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
# torch is pinned (torch==2.13.0) in the test extra: pip takes the CPU wheel, never a CUDA build.
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'

# Olive's pins (scaffolds/pins.py) clash with nothing but weigh 400 MB, so they live in an overlay venv
# that sees the main venv's packages through a .pth file. FTSTUDIO_SKIP_OLIVE=1 skips it (the test then skips).
if [ "${FTSTUDIO_SKIP_OLIVE:-0}" != "1" ]; then
  if [ ! -x "$OLIVE_VENV/bin/python" ]; then
    "$PYTHON" -m venv "$OLIVE_VENV"
  fi
  site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  osite=$("$OLIVE_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$site" > "$osite/ftstudio-main-venv.pth"
  "$OLIVE_VENV/bin/python" -m pip install -q --disable-pip-version-check \
    $("$VENV/bin/python" -c 'from scaffolds.pins import OLIVE, pin; print(" ".join(pin(n) for n in OLIVE))')
  export FTSTUDIO_OLIVE_PYTHON="$PWD/$OLIVE_VENV/bin/python"
  case "$OLIVE_VENV" in /*) export FTSTUDIO_OLIVE_PYTHON="$OLIVE_VENV/bin/python" ;; esac
fi
exec "$VENV/bin/python" -m pytest -q "$@"
