#!/usr/bin/env bash
# Packing on/off training throughput on the GPU (benchmarks/packing.py --device cuda, JSON on stdout):
# the one-command device check, run from anywhere in the repository. Uses the first of $PYTHON,
# .venv/bin/python, python3 whose torch sees a GPU; installs nothing beyond `pip install -e .[test]`,
# and that only when no interpreter has the training stack.
set -euo pipefail
cd "$(dirname "$0")/.."
has_gpu_stack() { "$1" -c "import torch, transformers, trl, peft, datasets, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; }
PY=""
for candidate in ${PYTHON:-} .venv/bin/python python3; do
    if command -v "$candidate" >/dev/null && has_gpu_stack "$candidate"; then PY=$candidate; break; fi
done
if [ -z "$PY" ]; then
    PY=python3
    "$PY" -m pip install -q -e ".[test]"
    has_gpu_stack "$PY" || { echo "gpu_packing.sh: $PY has no torch that sees a GPU" >&2; exit 2; }
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "$PY" benchmarks/packing.py --device cuda --json "$@"
