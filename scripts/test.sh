#!/usr/bin/env bash
# Set up everything on a fresh machine and run the whole test suite (the README's test command).
# Creates .venv (if missing) with ftstudio and its test extra, an overlay venv with the Olive stack
# for the `--recipe olive` export test, then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# torch is pinned (torch==2.13.0) in the test extra: pip takes the CPU wheel, never a CUDA build.
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

# Olive's pins (scaffolds/pins.py) clash with nothing but weigh 400 MB, so they live in an overlay venv
# that sees .venv's packages through a .pth file. FTSTUDIO_SKIP_OLIVE=1 skips it (the test then skips).
if [ "${FTSTUDIO_SKIP_OLIVE:-0}" != "1" ]; then
  if [ ! -x .venv-olive/bin/python ]; then
    "$PYTHON" -m venv .venv-olive
  fi
  site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  osite=$(.venv-olive/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$site" > "$osite/ftstudio-main-venv.pth"
  .venv-olive/bin/python -m pip install -q --disable-pip-version-check \
    $(.venv/bin/python -c 'from scaffolds.pins import OLIVE, pin; print(" ".join(pin(n) for n in OLIVE))')
  export FTSTUDIO_OLIVE_PYTHON="$PWD/.venv-olive/bin/python"
fi
exec .venv/bin/python -m pytest -q "$@"
